//! Byte-level building blocks of every file: little-endian integers, LEB128 varints, zigzag,
//! CRC-32 checksums, and a decoding cursor that never panics.
//!
//! Takes no locks and does no I/O, so it can be fuzzed alone.

use crate::error::{Error, Result};

/// CRC-32 (IEEE) of `parts`, concatenated.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Zigzag-maps a signed integer so that small magnitudes become small unsigned numbers.
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends an unsigned LEB128 varint.
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a zigzag LEB128 varint.
#[inline]
pub fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v))
}

/// Appends a little-endian u32.
#[inline]
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian u64.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian i64.
#[inline]
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends an f64 by its bits, little-endian.
#[inline]
pub fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Appends a length-prefixed (uvarint) byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Writes a record of tagged fields: their count, then `tag u8, length uvarint, bytes` each.
/// Point metadata (catalog, WAL define records, bundles) and the unit catalog's records are
/// written this way; a reader skips the tags it does not know, so fields can be added.
pub fn put_fields(out: &mut Vec<u8>, fields: &[(u8, Vec<u8>)]) {
    put_uvarint(out, fields.len() as u64);
    for (tag, body) in fields {
        out.push(*tag);
        put_bytes(out, body);
    }
}

/// Reads a record that [`put_fields`] wrote: at most `max` fields of at most 64 KiB each,
/// as (tag, bytes) in the order written. `what` names the record in errors.
pub fn get_fields<'a>(r: &mut Reader<'a>, max: usize, what: &str) -> Result<Vec<(u8, &'a [u8])>> {
    let n = r.len(max, what)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = r.u8(what)?;
        v.push((tag, r.bytes(1 << 16, what)?));
    }
    Ok(v)
}

/// A cursor over untrusted bytes. Every read checks bounds and returns a corruption error
/// (with the offset from the start of the buffer) instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Current offset from the start of the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn err(&self, what: &str) -> Error {
        Error::Corruption {
            file: None,
            offset: Some(self.pos as u64),
            msg: format!("{what} runs past the end ({} bytes left)", self.remaining()),
        }
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian i64.
    pub fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// Reads an f64 from its little-endian bits.
    pub fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    pub fn uvarint(&mut self, what: &str) -> Result<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8(what)?;
            if shift == 63 && b > 1 {
                return Err(self.corrupt_here(format!("{what}: varint overflows 64 bits")));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.corrupt_here(format!("{what}: varint longer than 10 bytes")));
            }
        }
    }

    /// Reads a zigzag varint.
    pub fn ivarint(&mut self, what: &str) -> Result<i64> {
        Ok(unzigzag(self.uvarint(what)?))
    }

    /// Reads a varint that must fit in `usize` and be at most `max`.
    pub fn len(&mut self, max: usize, what: &str) -> Result<usize> {
        let v = self.uvarint(what)?;
        if v > max as u64 {
            return Err(self.corrupt_here(format!("{what}: length {v} exceeds limit {max}")));
        }
        Ok(v as usize)
    }

    /// Reads a length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize, what: &str) -> Result<&'a [u8]> {
        let n = self.len(max, what)?;
        self.take(n, what)
    }

    /// Reads a length-prefixed UTF-8 string of at most `max` bytes.
    pub fn str(&mut self, max: usize, what: &str) -> Result<&'a str> {
        let b = self.bytes(max, what)?;
        std::str::from_utf8(b).map_err(|_| self.corrupt_here(format!("{what}: not UTF-8")))
    }

    /// A corruption error at the current offset.
    pub fn corrupt_here(&self, msg: impl Into<String>) -> Error {
        Error::Corruption {
            file: None,
            offset: Some(self.pos as u64),
            msg: msg.into(),
        }
    }
}

/// Defines a fieldless enum together with each value's code (its discriminant, the byte a
/// file stores and the number the C ABI uses) and its name (the text forms), written once:
///
/// ```
/// meterdb::code_enum! {
///     /// A season.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq)]
///     pub enum Season {
///         /// Winter.
///         Winter = 0 => "winter",
///         /// Summer.
///         Summer = 1 => "summer",
///     }
/// }
/// assert_eq!(Season::from_code(1), Some(Season::Summer));
/// assert_eq!(Season::from_name("WINTER"), Some(Season::Winter));
/// assert_eq!((Season::Summer.code(), Season::Summer.as_str()), (1, "summer"));
/// assert_eq!(Season::ALL, [Season::Winter, Season::Summer]);
/// ```
///
/// `ALL`, `code`, `from_code`, `as_str` and `from_name` (ASCII case-insensitive) all come
/// from the one list, so a code or a name cannot differ between a file format, a text form
/// and the C ABI, and a value without a code does not compile (a code given twice is an
/// unreachable pattern, which the workspace's `clippy -D warnings` refuses).
#[macro_export]
#[doc(hidden)]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $var:ident = $code:literal => $text:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $var = $code, )+
        }

        impl $name {
            /// Every value, in the order of their codes.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$var),+];

            /// Its code: the byte stored in files, the number of the C ABI.
            pub const fn code(self) -> u8 {
                match self {
                    $( $name::$var => $code, )+
                }
            }

            /// The value of a code.
            pub const fn from_code(code: u8) -> Option<$name> {
                match code {
                    $( $code => Some($name::$var), )+
                    _ => None,
                }
            }

            /// Its name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$var => $text, )+
                }
            }

            /// The value of a name (ASCII case-insensitive).
            pub fn from_name(name: &str) -> Option<$name> {
                match name {
                    $( n if n.eq_ignore_ascii_case($text) => Some($name::$var), )+
                    _ => None,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let vals = [
            0u64,
            1,
            127,
            128,
            300,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut out = Vec::new();
        for &v in &vals {
            put_uvarint(&mut out, v);
        }
        let mut r = Reader::new(&out);
        for &v in &vals {
            assert_eq!(r.uvarint("v").unwrap(), v);
        }
        assert!(r.is_empty());
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -300] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn reader_never_panics_on_short_or_overlong_input() {
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.uvarint("x").is_err());
        let mut r = Reader::new(&[0x80]);
        assert!(r.uvarint("x").is_err());
        let mut r = Reader::new(&[1, 2]);
        assert!(r.u32("x").is_err());
        let mut r = Reader::new(&[5, b'a']);
        assert!(r.bytes(100, "x").is_err());
        let mut r = Reader::new(&[200, 1]);
        assert!(r.bytes(10, "x").is_err());
    }
}
