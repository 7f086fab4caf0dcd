//! The WAL's bytes: the file header, one record, and [`scan`], a decoder of a whole file.
//!
//! Pure: no I/O, no locks, no allocation driven by a length read from the file, and no panic
//! on any input, so a fuzz target can call [`scan`] directly. The layout is drawn in
//! `docs/format/wal.md`.

use crate::format::crc32;

/// The 8 bytes every WAL file starts with.
pub const MAGIC: [u8; 8] = *b"MDBWAL\0\0";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the file header: magic (8), version (4), first seq (8), crc (4).
pub const FILE_HEADER_LEN: usize = 24;
/// Bytes of a record's header: payload length (4), seq (8), crc (4).
pub const RECORD_HEADER_LEN: usize = 16;
/// The largest payload a record may carry (64 MiB). A length field above it is corruption,
/// never an allocation.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// The file header, encoded. `first_seq` is the seq the file's first record has (or would
/// have): the seq that was next when the file was created.
pub fn encode_file_header(first_seq: u64) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32(&[&h[0..20]]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What the first bytes of a file say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// A good version-1 header.
    Valid {
        /// The seq of the file's first record.
        first_seq: u64,
    },
    /// The magic is right but the version is one this build does not know.
    UnsupportedVersion(u32),
    /// Too short, wrong magic, bad checksum or a zero first seq.
    Damaged(&'static str),
}

/// Decodes a file header from the start of `buf`.
///
/// Every future version keeps the magic and the version in the first 12 bytes, so a newer
/// file is told from a damaged one before anything else is read. (A version of 0 is damage.)
pub fn decode_file_header(buf: &[u8]) -> Header {
    if buf.len() < MAGIC.len() {
        return Header::Damaged(if MAGIC.starts_with(buf) {
            "file header cut short"
        } else {
            "bad magic"
        });
    }
    if buf[0..8] != MAGIC {
        return Header::Damaged("bad magic");
    }
    if buf.len() < 12 {
        return Header::Damaged("file header cut short");
    }
    let version = le_u32(&buf[8..12]);
    if version != VERSION {
        if version == 0 {
            return Header::Damaged("version 0");
        }
        return Header::UnsupportedVersion(version);
    }
    if buf.len() < FILE_HEADER_LEN {
        return Header::Damaged("file header cut short");
    }
    if le_u32(&buf[20..24]) != crc32(&[&buf[0..20]]) {
        return Header::Damaged("file header checksum mismatch");
    }
    match le_u64(&buf[12..20]) {
        0 => Header::Damaged("file header names first seq 0"),
        first_seq => Header::Valid { first_seq },
    }
}

/// The record header (length, seq, crc) for `payload`. The caller writes it, then the payload.
///
/// `payload.len()` must be at most [`MAX_PAYLOAD`] (checked by the writer).
pub fn encode_record_header(seq: u64, payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let len = (payload.len() as u32).to_le_bytes();
    let seq = seq.to_le_bytes();
    let crc = crc32(&[&len, &seq, payload]);
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&len);
    h[4..12].copy_from_slice(&seq);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Appends one whole record to `out`.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    out.extend_from_slice(&encode_record_header(seq, payload));
    out.extend_from_slice(payload);
}

/// The outcome of decoding one record at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A record whose checksum holds.
    Record {
        /// Its sequence number (never 0).
        seq: u64,
        /// Its payload.
        payload: &'a [u8],
        /// Bytes it takes: header and payload.
        size: usize,
    },
    /// The buffer ends inside the record's header or payload.
    Partial(&'static str),
    /// The bytes are not a record: a length over [`MAX_PAYLOAD`], a bad checksum, seq 0.
    Bad(&'static str),
}

/// Decodes the record at the start of `buf`. Never panics.
pub fn decode_record(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < RECORD_HEADER_LEN {
        return Decoded::Partial("record header cut short");
    }
    let len = le_u32(&buf[0..4]) as usize;
    if len > MAX_PAYLOAD {
        return Decoded::Bad("record length exceeds the maximum payload");
    }
    let size = RECORD_HEADER_LEN + len;
    if buf.len() < size {
        return Decoded::Partial("record payload cut short");
    }
    let payload = &buf[RECORD_HEADER_LEN..size];
    if le_u32(&buf[12..16]) != crc32(&[&buf[0..12], payload]) {
        return Decoded::Bad("record checksum mismatch");
    }
    match le_u64(&buf[4..12]) {
        0 => Decoded::Bad("record has seq 0"),
        seq => Decoded::Record { seq, payload, size },
    }
}

/// One good record found by [`Scanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannedRecord<'a> {
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Its payload.
    pub payload: &'a [u8],
}

/// Why and where a [`Scanner`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte was decoded: the file ends right after its last record.
    Clean,
    /// The bytes from `offset` to the end are damaged or partial, and no record of this
    /// file's sequence follows them: what an interrupted append leaves. In the last file of
    /// the log this is a torn tail, cut off at recovery; in any other file it is corruption.
    Torn {
        /// Where the damage starts (the end of the last good record, or of the header).
        offset: u64,
        /// What check failed there.
        reason: String,
    },
    /// Damage that an interrupted append cannot explain: a damaged record followed by a
    /// valid one of the same sequence, or a valid record whose seq does not follow its
    /// predecessor's.
    Corrupt {
        /// Where the damaged or misplaced record starts.
        offset: u64,
        /// What check failed there.
        reason: String,
    },
    /// The file header names a format version this build does not read.
    UnsupportedVersion(u32),
}

/// What the next record's seq must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Not known (a damaged header and no hint): any seq but 0.
    Any,
    /// Exactly this seq.
    Seq(u64),
    /// The previous record had seq `u64::MAX`: nothing may follow.
    Exhausted,
}

/// Decodes a WAL file record by record: an iterator over the good records, in file order,
/// that stops at the first damage. After it returns `None`, [`Scanner::end`] says why.
///
/// Never panics and allocates nothing, whatever the bytes. The work is linear in the
/// file's size, except that a file whose header is damaged, scanned without a first-seq
/// hint, may cost more to classify (see [`Scanner::with_first_seq`]).
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
    header_seq: Option<u64>,
    expect: Expect,
    end: Option<ScanEnd>,
}

impl<'a> Scanner<'a> {
    /// A scanner over a whole WAL file (header included).
    pub fn new(file_bytes: &'a [u8]) -> Self {
        Self::start(file_bytes, None)
    }

    /// Like [`Scanner::new`], with the seq the file is known to start at (from its name).
    /// It is used only when the header itself is damaged, to tell a torn header from a
    /// damaged one cheaply.
    pub fn with_first_seq(file_bytes: &'a [u8], first_seq: u64) -> Self {
        Self::start(file_bytes, Some(first_seq))
    }

    fn start(buf: &'a [u8], hint: Option<u64>) -> Self {
        let mut s = Scanner {
            buf,
            pos: 0,
            header_seq: None,
            expect: match hint {
                Some(seq) if seq > 0 => Expect::Seq(seq),
                _ => Expect::Any,
            },
            end: None,
        };
        match decode_file_header(buf) {
            Header::Valid { first_seq } => {
                s.header_seq = Some(first_seq);
                s.expect = Expect::Seq(first_seq);
                s.pos = FILE_HEADER_LEN;
            }
            Header::UnsupportedVersion(v) => s.end = Some(ScanEnd::UnsupportedVersion(v)),
            Header::Damaged(why) => s.end = Some(s.damage(why)),
        }
        s
    }

    /// The first seq named by the file header, or `None` when the header is not valid.
    pub fn header_first_seq(&self) -> Option<u64> {
        self.header_seq
    }

    /// Bytes up to the end of the last good record (or of the header): where a torn tail is
    /// cut. 0 when the header is not valid.
    pub fn valid_len(&self) -> u64 {
        self.pos as u64
    }

    /// Why the scan stopped; `None` until the iterator has returned `None`.
    pub fn end(&self) -> Option<&ScanEnd> {
        self.end.as_ref()
    }

    /// Classifies damage found at `self.pos`: corrupt when a valid record of this file's
    /// sequence starts anywhere after it, torn otherwise.
    fn damage(&self, why: &str) -> ScanEnd {
        let at = self.pos;
        match find_record_after(self.buf, at, self.expect) {
            Some((off, seq)) => ScanEnd::Corrupt {
                offset: at as u64,
                reason: format!("{why}, but a valid record (seq {seq}) follows at offset {off}"),
            },
            None => ScanEnd::Torn {
                offset: at as u64,
                reason: why.to_string(),
            },
        }
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = ScannedRecord<'a>;

    fn next(&mut self) -> Option<ScannedRecord<'a>> {
        if self.end.is_some() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            self.end = Some(ScanEnd::Clean);
            return None;
        }
        match decode_record(rest) {
            Decoded::Record { seq, payload, size } => {
                let expected = match self.expect {
                    Expect::Any => seq,
                    Expect::Seq(e) => e,
                    Expect::Exhausted => 0,
                };
                if seq != expected {
                    let reason = if expected == 0 {
                        format!("record has seq {seq} after seq {}", u64::MAX)
                    } else {
                        format!("record has seq {seq}, expected {expected}")
                    };
                    self.end = Some(ScanEnd::Corrupt {
                        offset: self.pos as u64,
                        reason,
                    });
                    return None;
                }
                let rec = ScannedRecord {
                    offset: self.pos as u64,
                    seq,
                    payload,
                };
                self.pos += size;
                self.expect = match seq.checked_add(1) {
                    Some(n) => Expect::Seq(n),
                    None => Expect::Exhausted,
                };
                Some(rec)
            }
            Decoded::Partial(why) | Decoded::Bad(why) => {
                self.end = Some(self.damage(why));
                None
            }
        }
    }
}

/// The first offset after `from` at which a valid record starts whose seq fits `expect`:
/// with `Seq(e)`, a seq in `e ..= e + (offset - from) / 16`, since every record between
/// `from` and that offset (the damaged one included) takes at least 16 bytes. The narrow
/// seq window keeps the search linear: a checksum is computed only for candidates that pass
/// it, and random or zeroed bytes almost never do.
fn find_record_after(buf: &[u8], from: usize, expect: Expect) -> Option<(usize, u64)> {
    if expect == Expect::Exhausted {
        return None;
    }
    let last = buf.len().checked_sub(RECORD_HEADER_LEN)?;
    let mut off = from + 1;
    while off <= last {
        let h = &buf[off..];
        let len = le_u32(&h[0..4]) as usize;
        let seq = le_u64(&h[4..12]);
        let plausible = match expect {
            Expect::Seq(e) => seq >= e && seq - e <= ((off - from) / RECORD_HEADER_LEN) as u64,
            _ => seq != 0,
        };
        if plausible && len <= MAX_PAYLOAD && len <= h.len() - RECORD_HEADER_LEN {
            if let Decoded::Record { seq, .. } = decode_record(h) {
                return Some((off, seq));
            }
        }
        off += 1;
    }
    None
}

/// The result of [`scan`]: a whole file decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The first seq named by the header, `None` when the header is not valid.
    pub first_seq: Option<u64>,
    /// The good records before the first damage, in file order (seqs consecutive).
    pub records: Vec<ScannedRecord<'a>>,
    /// Bytes up to the end of the last good record (or of the header).
    pub valid_len: u64,
    /// Why and where decoding stopped.
    pub end: ScanEnd,
}

/// Decodes a whole WAL file from its bytes: the good records and where and why decoding
/// stopped. Never panics. Recovery uses the same [`Scanner`] record by record.
pub fn scan(file_bytes: &[u8]) -> Scan<'_> {
    let mut s = Scanner::new(file_bytes);
    let records: Vec<_> = s.by_ref().collect();
    Scan {
        first_seq: s.header_first_seq(),
        records,
        valid_len: s.valid_len(),
        end: s.end().cloned().unwrap_or(ScanEnd::Clean),
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(first_seq: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = encode_file_header(first_seq).to_vec();
        for (i, p) in payloads.iter().enumerate() {
            encode_record(&mut out, first_seq + i as u64, p);
        }
        out
    }

    #[test]
    fn zeros_are_never_a_record_or_a_header() {
        assert_ne!(crc32(&[&[0u8; 12]]), 0);
        assert_ne!(crc32(&[&[0u8; 20]]), 0);
        assert!(matches!(decode_record(&[0u8; 64]), Decoded::Bad(_)));
        assert!(matches!(decode_file_header(&[0u8; 64]), Header::Damaged(_)));
    }

    #[test]
    fn record_round_trip() {
        for payload in [&b""[..], b"x", &[7u8; 1000]] {
            let mut buf = Vec::new();
            encode_record(&mut buf, 42, payload);
            assert_eq!(
                decode_record(&buf),
                Decoded::Record {
                    seq: 42,
                    payload,
                    size: buf.len()
                }
            );
            for cut in 0..buf.len() {
                assert!(matches!(decode_record(&buf[..cut]), Decoded::Partial(_)));
            }
        }
    }

    #[test]
    fn oversized_length_is_bad_not_an_allocation() {
        let mut buf = vec![0u8; 32];
        buf[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode_record(&buf), Decoded::Bad(_)));
        buf[0..4].copy_from_slice(&((MAX_PAYLOAD + 1) as u32).to_le_bytes());
        assert!(matches!(decode_record(&buf), Decoded::Bad(_)));
    }

    #[test]
    fn header_versions() {
        let h = encode_file_header(7);
        assert_eq!(decode_file_header(&h), Header::Valid { first_seq: 7 });
        let mut v2 = h;
        v2[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(decode_file_header(&v2), Header::UnsupportedVersion(2));
        assert_eq!(decode_file_header(&v2[..12]), Header::UnsupportedVersion(2));
        let s = scan(&v2);
        assert_eq!(s.end, ScanEnd::UnsupportedVersion(2));
        for cut in 0..FILE_HEADER_LEN {
            assert!(matches!(decode_file_header(&h[..cut]), Header::Damaged(_)));
        }
        assert_eq!(
            decode_file_header(&encode_file_header(0)),
            Header::Damaged("file header names first seq 0")
        );
    }

    #[test]
    fn scan_clean_torn_and_corrupt() {
        let f = file(5, &[b"a", b"bb", b"ccc"]);
        let s = scan(&f);
        assert_eq!(s.end, ScanEnd::Clean);
        assert_eq!(s.first_seq, Some(5));
        let got: Vec<_> = s.records.iter().map(|r| (r.seq, r.payload)).collect();
        assert_eq!(got, vec![(5, &b"a"[..]), (6, b"bb"), (7, b"ccc")]);
        assert_eq!(s.valid_len, f.len() as u64);

        // A cut inside the last record is torn, at the end of the second.
        let second_end = s.records[2].offset;
        for cut in second_end as usize + 1..f.len() {
            let s = scan(&f[..cut]);
            assert_eq!(s.records.len(), 2);
            assert_eq!(s.valid_len, second_end);
            assert!(matches!(s.end, ScanEnd::Torn { offset, .. } if offset == second_end));
        }

        // A flipped bit in the first record, with valid ones after it, is corruption.
        let mut bad = f.clone();
        bad[FILE_HEADER_LEN + RECORD_HEADER_LEN] ^= 1;
        let s = scan(&bad);
        assert!(s.records.is_empty());
        assert!(
            matches!(&s.end, ScanEnd::Corrupt { offset, .. } if *offset == FILE_HEADER_LEN as u64),
            "{:?}",
            s.end
        );

        // Zeros appended (a preallocated or half-written tail) are torn.
        let mut zeros = f.clone();
        zeros.extend_from_slice(&[0u8; 100]);
        let s = scan(&zeros);
        assert_eq!(s.records.len(), 3);
        assert!(matches!(s.end, ScanEnd::Torn { offset, .. } if offset == f.len() as u64));
    }

    #[test]
    fn seq_must_follow() {
        let mut f = file(5, &[b"a"]);
        encode_record(&mut f, 7, b"b");
        let s = scan(&f);
        assert_eq!(s.records.len(), 1);
        assert!(matches!(&s.end, ScanEnd::Corrupt { reason, .. } if reason.contains("expected 6")));
        let mut f = file(5, &[]);
        encode_record(&mut f, 4, b"b");
        assert!(matches!(scan(&f).end, ScanEnd::Corrupt { .. }));
    }

    #[test]
    fn scan_never_panics_on_garbage() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in 0..300 {
            let mut buf = Vec::with_capacity(n);
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            let _ = scan(&buf);
            let mut with_header = encode_file_header(1).to_vec();
            with_header.extend_from_slice(&buf);
            let _ = scan(&with_header);
        }
    }
}
