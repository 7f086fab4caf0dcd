//! Bit packing shared by the codecs.
//!
//! Two tools live here:
//!
//! * **Frames**: up to [`FRAME`] (128) unsigned values packed at one width `w` (0..=64),
//!   with optional *exceptions* (values too wide for `w`, stored aside as varints). The
//!   timestamp and decimal codecs cut their integer streams into such frames. Values are packed
//!   LSB-first: value `i` occupies bits `i*w .. (i+1)*w` of the frame's bytes read as one
//!   little-endian bit string. A full frame of width `w` is exactly `16 * w` bytes.
//! * **Bit streams** ([`BitWriter`], [`BitReader`]) for the Gorilla codec, same bit order.
//!
//! Decoding never panics: every frame is bounds-checked once as a whole, then unpacked from a
//! slice the compiler knows to be long enough.

use crate::error::{Error, Result};
use crate::format::{put_uvarint, Reader};

/// Values per frame.
pub const FRAME: usize = 128;

/// Extra bytes the unpacker may read past a frame's last packed byte.
const PAD: usize = 16;

/// Frame header bit: exceptions follow the packed bytes.
const HAS_EXCEPTIONS: u8 = 0x80;

/// Bytes that `n` values of `w` bits occupy.
#[inline]
pub fn packed_len(n: usize, w: u32) -> usize {
    (n * w as usize).div_ceil(8)
}

/// Bits needed to write `v` (0 for 0).
#[inline]
pub fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Length of the LEB128 varint of a value that is `bits` wide.
#[inline]
fn varint_len_bits(bits: usize) -> usize {
    bits.div_ceil(7).max(1)
}

/// Length of the LEB128 varint of `v`.
#[inline]
pub fn varint_len(v: u64) -> usize {
    varint_len_bits(bit_width(v) as usize)
}

/// Chooses the packing width of one frame and returns `(width, encoded bytes)`.
///
/// Values wider than the width become exceptions (1 byte index + a varint each, plus one count
/// byte). Starting from the widest value, each step turns the widest remaining values into
/// exceptions and narrows the width to what is left, keeping the cheapest frame; it stops once
/// more than an eighth of the frame would be exceptions (each costs at least 2 bytes, more than
/// the 16 bytes a narrower bit saves). Each step is one branch-free pass; no encoding.
pub fn choose_width(vals: &[u64]) -> (u32, usize) {
    debug_assert!(vals.len() <= FRAME);
    let widest = vals.iter().fold(0, |a, &v| a | v);
    search_width(vals.len(), widest, vals.iter().copied())
}

/// [`choose_width`] of the offsets `x - min` of `frame` (`min` and `max` its extremes),
/// computed on the fly instead of from stored offsets: the same width and cost.
pub fn choose_width_of(frame: &[i64], min: i64, max: i64) -> (u32, usize) {
    debug_assert!(frame.len() <= FRAME);
    // The widest offset is `max - min`: its width is that of all offsets or-ed together.
    let offsets = frame.iter().map(move |&x| x.wrapping_sub(min) as u64);
    search_width(frame.len(), max.wrapping_sub(min) as u64, offsets)
}

/// The search of [`choose_width`] over `n` offsets, `widest` having the width of them all.
#[inline(always)]
fn search_width(n: usize, widest: u64, offsets: impl Iterator<Item = u64> + Clone) -> (u32, usize) {
    let mut w = bit_width(widest);
    let mut best = (w, 1 + packed_len(n, w));
    let mut n_exc = 0;
    let mut exc_bytes = 1; // the exception-count byte
    while w > 0 {
        let t = w - 1;
        let mut big = 0usize;
        let mut rest = 0u64;
        for v in offsets.clone() {
            let b = u64::from(v >> t != 0);
            big += b as usize;
            rest |= v & b.wrapping_sub(1);
        }
        // The new exceptions are exactly the values `w` bits wide.
        exc_bytes += (big - n_exc) * (1 + varint_len_bits(w as usize));
        n_exc = big;
        if n_exc * 8 > n {
            break;
        }
        w = bit_width(rest);
        let cost = 1 + packed_len(n, w) + exc_bytes;
        if cost < best.1 {
            best = (w, cost);
        }
    }
    best
}

/// Appends one frame of `vals` (at most [`FRAME`]) packed at width `w` (from [`choose_width`]).
///
/// Layout: `header:u8` (width | 0x80 if exceptions), packed bytes, then if exceptions
/// `count-1:u8` and `count` pairs `(index:u8, value:uvarint)`.
pub fn write_frame(vals: &[u64], w: u32, out: &mut Vec<u8>) {
    debug_assert!(vals.len() <= FRAME && w <= 64);
    // Values wider than `w`: those with a bit set at `w` or above.
    let n_exc = if w >= 64 {
        0
    } else {
        vals.iter().map(|&v| usize::from(v >> w != 0)).sum()
    };
    if n_exc == 0 {
        out.push(w as u8);
        pack(vals, w, out);
        return;
    }
    out.push(w as u8 | HAS_EXCEPTIONS);
    let mut tmp = [0u64; FRAME];
    for (t, &v) in tmp.iter_mut().zip(vals) {
        *t = if bit_width(v) > w { 0 } else { v };
    }
    pack(&tmp[..vals.len()], w, out);
    out.push((n_exc - 1) as u8);
    for (i, &v) in vals.iter().enumerate() {
        if bit_width(v) > w {
            out.push(i as u8);
            put_uvarint(out, v);
        }
    }
}

/// Appends `vals` packed LSB-first at width `w`: exactly `packed_len(vals.len(), w)` bytes.
/// Bits of a value above `w` are ignored.
pub fn pack(vals: &[u64], w: u32, out: &mut Vec<u8>) {
    if w == 0 {
        return;
    }
    let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    let len = packed_len(vals.len(), w);
    // Whole 64-bit words into the output's spare room (one length check for the frame), the
    // partial last word cut to the bytes it needs.
    let start = out.len();
    out.resize(start + len.next_multiple_of(8), 0);
    let mut words = out[start..].chunks_exact_mut(8);
    // `acc` holds the word being filled, its low `nbits` bits written (always < 64).
    let mut acc: u64 = 0;
    let mut nbits = 0u32;
    for &v in vals {
        let v = v & mask;
        acc |= v << nbits;
        let end = nbits + w;
        if end >= 64 {
            if let Some(word) = words.next() {
                word.copy_from_slice(&acc.to_le_bytes());
            }
            // The bits of `v` that did not fit (`nbits > 0` whenever some are left).
            acc = if end > 64 { v >> (64 - nbits) } else { 0 };
            nbits = end - 64;
        } else {
            nbits = end;
        }
    }
    if let Some(word) = words.next() {
        word.copy_from_slice(&acc.to_le_bytes());
    }
    out.truncate(start + len);
}

/// Reads one frame of `n` (1..=[`FRAME`]) values into `out[..n]`; `out[n..]` is unspecified.
pub fn read_frame(r: &mut Reader<'_>, n: usize, out: &mut [u64; FRAME]) -> Result<()> {
    let h = r.u8("frame header")?;
    let w = u32::from(h & !HAS_EXCEPTIONS);
    if w > 64 {
        return Err(r.corrupt_here(format!("frame width {w} exceeds 64")));
    }
    let need = packed_len(n, w);
    let rest = r.rest();
    if rest.len() < need {
        return Err(r.corrupt_here(format!("frame of {need} bytes runs past the end")));
    }
    unpack(rest, need, w, out);
    r.take(need, "frame")?;
    if h & HAS_EXCEPTIONS != 0 {
        let m = usize::from(r.u8("exception count")?) + 1;
        for _ in 0..m {
            let i = usize::from(r.u8("exception index")?);
            if i >= n {
                return Err(r.corrupt_here(format!("exception index {i} outside frame of {n}")));
            }
            out[i] = r.uvarint("exception value")?;
        }
    }
    Ok(())
}

/// Unpacks a frame of width `w` whose packed bytes are `src[..need]` into `out`.
fn unpack(src: &[u8], need: usize, w: u32, out: &mut [u64; FRAME]) {
    if w == 0 {
        *out = [0; FRAME];
    } else if src.len() >= 16 * w as usize + PAD {
        unpack_dispatch(src, w, out);
    } else {
        // Near the end of the buffer: unpack from a zero-padded copy.
        let mut scratch = [0u8; FRAME * 8 + PAD];
        scratch[..need].copy_from_slice(&src[..need]);
        unpack_dispatch(&scratch, w, out);
    }
}

macro_rules! dispatch {
    ($w:expr, $src:expr, $out:expr; $($n:literal)*) => {
        match $w {
            $($n => unpack_w::<$n>($src, $out),)*
            _ => {}
        }
    };
}

fn unpack_dispatch(src: &[u8], w: u32, out: &mut [u64; FRAME]) {
    dispatch!(w, src, out;
        1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
        33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
        61 62 63 64);
}

/// Unpacks 128 values of the constant width `W` from `src`, which holds at least
/// `16 * W + PAD` bytes. Works in groups of 8 values (exactly `W` bytes), so every shift and
/// offset inside a group is a compile-time constant and the bounds check is one per group.
#[inline(always)]
fn unpack_w<const W: usize>(src: &[u8], out: &mut [u64; FRAME]) {
    let mask = if W == 64 { u64::MAX } else { (1u64 << W) - 1 };
    for (g, dst) in out.chunks_exact_mut(8).enumerate() {
        let grp = &src[g * W..g * W + W + PAD];
        for (j, d) in dst.iter_mut().enumerate() {
            let bit = j * W;
            let (b, sh) = (bit / 8, bit % 8);
            let v = if W <= 57 {
                le_u64(grp, b) >> sh
            } else {
                (le_u128(grp, b) >> sh) as u64
            };
            *d = v & mask;
        }
    }
}

#[inline(always)]
fn le_u64(s: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(a)
}

#[inline(always)]
fn le_u128(s: &[u8], at: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&s[at..at + 16]);
    u128::from_le_bytes(a)
}

/// Writes a stream of bit fields LSB-first straight into a byte vector.
#[derive(Debug)]
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl<'a> BitWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    /// Writes the low `k` (0..=64) bits of `v`; the bits of `v` above `k` must be zero.
    #[inline]
    pub fn write(&mut self, v: u64, k: u32) {
        debug_assert!(k <= 64 && (k == 64 || v >> k == 0));
        if k == 0 {
            return;
        }
        self.acc |= v << self.n;
        let total = self.n + k;
        if total >= 64 {
            self.out.extend_from_slice(&self.acc.to_le_bytes());
            self.acc = if self.n == 0 { 0 } else { v >> (64 - self.n) };
            self.n = total - 64;
        } else {
            self.n = total;
        }
    }

    /// Flushes the last partial byte(s) (zero-padded).
    pub fn finish(self) {
        let tail = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..tail]);
    }
}

/// Reads bit fields LSB-first from a bit position. Reading past the end yields zero bits and is
/// caught by [`BitReader::finish`], so the hot loop needs no `Result`.
#[derive(Debug)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Bits consumed so far.
    pos: u64,
}

impl<'a> BitReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// The next 121 bits or more (zeros past the end), without consuming them.
    #[inline]
    pub fn peek(&self) -> u128 {
        let byte = (self.pos >> 3) as usize;
        let raw = match self.buf.get(byte..byte + 16) {
            Some(s) => le_u128(s, 0),
            None => {
                let mut a = [0u8; 16];
                let tail = self.buf.get(byte..).unwrap_or(&[]);
                a[..tail.len()].copy_from_slice(tail);
                u128::from_le_bytes(a)
            }
        };
        raw >> (self.pos & 7)
    }

    /// Consumes `k` bits.
    #[inline]
    pub fn skip(&mut self, k: u32) {
        self.pos += u64::from(k);
    }

    /// Reads `k` (0..=64) bits.
    #[inline]
    pub fn read(&mut self, k: u32) -> u64 {
        if k == 0 {
            return 0;
        }
        let v = (self.peek() as u64) & (u64::MAX >> (64 - k.min(64)));
        self.skip(k);
        v
    }

    /// Checks that the stream was neither overrun nor followed by whole unused bytes.
    pub fn finish(&self) -> Result<()> {
        if self.pos.div_ceil(8) != self.buf.len() as u64 {
            return Err(Error::corrupt(format!(
                "bit stream of {} bytes holds {} bits",
                self.buf.len(),
                self.pos
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(vals: &[u64], w: u32) {
        let mut out = Vec::new();
        write_frame(vals, w, &mut out);
        let mut r = Reader::new(&out);
        let mut back = [0u64; FRAME];
        read_frame(&mut r, vals.len(), &mut back).unwrap();
        assert!(r.is_empty());
        assert_eq!(&back[..vals.len()], vals, "width {w}");
    }

    #[test]
    fn frames_round_trip_at_every_width() {
        for w in 0..=64u32 {
            let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            for n in [1usize, 7, 8, 9, 100, 127, 128] {
                let vals: Vec<u64> = (0..n as u64)
                    .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask)
                    .collect();
                round_trip(&vals, w);
                let (cw, cost) = choose_width(&vals);
                let mut out = Vec::new();
                write_frame(&vals, cw, &mut out);
                assert_eq!(out.len(), cost, "analytic cost, width {w} n {n}");
            }
        }
    }

    #[test]
    fn frame_bytes_match_the_format_doc() {
        let mut out = Vec::new();
        write_frame(&[3, 1, 2], 2, &mut out);
        assert_eq!(out, [0x02, 0x27]);
        out.clear();
        write_frame(&[0; 128], 0, &mut out);
        assert_eq!(out, [0x00]);
        out.clear();
        let mut vals = [1u64; 128];
        vals[5] = 1 << 21;
        write_frame(&vals, choose_width(&vals).0, &mut out);
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0xDF); // width 1, slot 5 left 0
        assert_eq!(out[2..17], [0xFF; 15]);
        assert_eq!(out[17..], [0x00, 0x05, 0x80, 0x80, 0x80, 0x01]);
    }

    #[test]
    fn width_of_a_frame_equals_width_of_its_offsets() {
        let mut x: u64 = 99;
        for n in [1usize, 2, 9, 64, 127, 128] {
            for spread in [0u32, 1, 5, 13, 30, 54] {
                let frame: Vec<i64> = (0..n)
                    .map(|i| {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let v = (x >> 10) as i64 & ((1i64 << spread) - 1).max(0);
                        // A few outliers, as exceptions would take them.
                        if i % 37 == 5 {
                            v + (1 << 50)
                        } else {
                            v - (1 << 52)
                        }
                    })
                    .collect();
                let min = *frame.iter().min().unwrap();
                let max = *frame.iter().max().unwrap();
                let off: Vec<u64> = frame.iter().map(|&v| v.wrapping_sub(min) as u64).collect();
                assert_eq!(
                    choose_width_of(&frame, min, max),
                    choose_width(&off),
                    "{n} {spread}"
                );
            }
        }
    }

    #[test]
    fn exceptions_carry_outliers() {
        let mut vals = vec![3u64; 128];
        vals[5] = 1 << 40;
        vals[127] = u64::MAX;
        let (w, cost) = choose_width(&vals);
        assert_eq!(w, 2);
        assert!(cost < 60, "{cost}");
        round_trip(&vals, w);
    }

    #[test]
    fn bit_stream_round_trips() {
        let fields: Vec<(u64, u32)> = (0..500u64)
            .map(|i| {
                let k = (i * 7 % 65) as u32;
                let v = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                (if k == 64 { v } else { v & ((1u64 << k) - 1) }, k)
            })
            .collect();
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        for &(v, k) in &fields {
            w.write(v, k);
        }
        w.finish();
        let mut r = BitReader::new(&out);
        for &(v, k) in &fields {
            assert_eq!(r.read(k), v);
        }
        r.finish().unwrap();
        let mut r = BitReader::new(&out[..out.len() - 1]);
        for &(_, k) in &fields {
            r.read(k);
        }
        assert!(r.finish().is_err());
    }
}
