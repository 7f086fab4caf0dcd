//! Constant and run-length columns, and the raw fallback, for values (`f64`, by bits),
//! timestamps (`i64`, raw only) and quality bytes (`u8`).
//!
//! * constant body: the one value (8 bytes for `f64`, 1 for `u8`);
//! * run-length body: runs of `(value, run:uvarint)` with `run >= 1`, the runs summing to the
//!   column's count;
//! * raw body: every value, little-endian (8 bytes each for `f64` and `i64`, 1 for `u8`).

use crate::error::Result;
use crate::format::{put_uvarint, Reader};

use super::bits::varint_len;

/// A value that run-length coding stores whole: compared and written by its bits.
pub trait RunValue: Copy {
    /// Bytes of one stored value.
    const SIZE: usize;
    /// Whether two values have the same bits.
    fn same(self, other: Self) -> bool;
    /// Appends the value's bytes.
    fn put(self, out: &mut Vec<u8>);
    /// Reads one value.
    fn get(r: &mut Reader<'_>) -> Result<Self>;
}

impl RunValue for f64 {
    const SIZE: usize = 8;
    #[inline]
    fn same(self, other: Self) -> bool {
        self.to_bits() == other.to_bits()
    }
    #[inline]
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
    #[inline]
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.f64("value")
    }
}

impl RunValue for i64 {
    const SIZE: usize = 8;
    #[inline]
    fn same(self, other: Self) -> bool {
        self == other
    }
    #[inline]
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.i64("value")
    }
}

impl RunValue for u8 {
    const SIZE: usize = 1;
    #[inline]
    fn same(self, other: Self) -> bool {
        self == other
    }
    #[inline]
    fn put(self, out: &mut Vec<u8>) {
        out.push(self);
    }
    #[inline]
    fn get(r: &mut Reader<'_>) -> Result<Self> {
        r.u8("value")
    }
}

/// Iterates over the runs of equal bits in `vals` as `(value, length)`.
fn runs<T: RunValue>(vals: &[T]) -> impl Iterator<Item = (T, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let v = *vals.get(i)?;
        let len = vals[i..].iter().take_while(|&&x| x.same(v)).count();
        i += len;
        Some((v, len))
    })
}

/// Number of runs in `vals` (branch-free, vectorizable).
#[cfg(test)]
pub fn count_runs<T: RunValue>(vals: &[T]) -> usize {
    let changes = vals.windows(2).filter(|w| !w[0].same(w[1])).count();
    changes + usize::from(!vals.is_empty())
}

/// Whether `vals` has at least `limit` runs: [`count_runs`] a chunk at a time, stopping as
/// soon as the count reaches the limit.
pub fn runs_reach<T: RunValue>(vals: &[T], limit: usize) -> bool {
    const CHUNK: usize = 256;
    let mut runs = usize::from(!vals.is_empty());
    let mut start = 0;
    while runs < limit && start + 1 < vals.len() {
        let end = (start + CHUNK).min(vals.len() - 1);
        // Changes between neighbours (k, k + 1) for k in start..end.
        runs += vals[start..=end]
            .windows(2)
            .filter(|w| !w[0].same(w[1]))
            .count();
        start = end;
    }
    runs >= limit
}

/// Number of runs in `vals` and the size of their run-length body, without encoding.
pub fn measure<T: RunValue>(vals: &[T]) -> (usize, usize) {
    runs(vals).fold((0, 0), |(n, bytes), (_, len)| {
        (n + 1, bytes + T::SIZE + varint_len(len as u64))
    })
}

/// Appends the run-length body of `vals`.
pub fn encode<T: RunValue>(vals: &[T], out: &mut Vec<u8>) {
    for (v, len) in runs(vals) {
        v.put(out);
        put_uvarint(out, len as u64);
    }
}

/// Decodes a run-length body of exactly `count` values.
pub fn decode<T: RunValue>(body: &[u8], count: usize, out: &mut Vec<T>) -> Result<()> {
    let mut r = Reader::new(body);
    let mut left = count;
    while left > 0 {
        let v = T::get(&mut r)?;
        let len = r.uvarint("run length")?;
        if len == 0 || len > left as u64 {
            return Err(r.corrupt_here(format!("run of {len} with {left} values left")));
        }
        out.extend(std::iter::repeat_n(v, len as usize));
        left -= len as usize;
    }
    expect_end(&r)
}

/// Decodes a constant body: one value repeated `count` times.
pub fn decode_constant<T: RunValue>(body: &[u8], count: usize, out: &mut Vec<T>) -> Result<()> {
    let mut r = Reader::new(body);
    let v = T::get(&mut r)?;
    expect_end(&r)?;
    out.extend(std::iter::repeat_n(v, count));
    Ok(())
}

/// Appends the raw body of `vals`.
pub fn encode_raw<T: RunValue>(vals: &[T], out: &mut Vec<u8>) {
    out.reserve(vals.len() * T::SIZE);
    for &v in vals {
        v.put(out);
    }
}

/// Decodes a raw body of exactly `count` values.
pub fn decode_raw<T: RunValue>(body: &[u8], count: usize, out: &mut Vec<T>) -> Result<()> {
    if Some(body.len()) != count.checked_mul(T::SIZE) {
        return Err(crate::Error::corrupt(format!(
            "raw column of {} bytes for {count} values",
            body.len()
        )));
    }
    let mut r = Reader::new(body);
    out.reserve(count);
    for _ in 0..count {
        out.push(T::get(&mut r)?);
    }
    Ok(())
}

/// Fails unless every byte of the body was used.
pub fn expect_end(r: &Reader<'_>) -> Result<()> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(r.corrupt_here(format!("{} unused bytes after the column", r.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_and_measure() {
        let q: Vec<u8> = [0u8; 300]
            .iter()
            .chain(&[7u8; 2])
            .chain(&[0u8; 1])
            .copied()
            .collect();
        let (n, bytes) = measure(&q);
        let mut out = Vec::new();
        encode(&q, &mut out);
        assert_eq!((n, bytes), (3, out.len()));
        let mut back: Vec<u8> = Vec::new();
        decode(&out, q.len(), &mut back).unwrap();
        assert_eq!(back, q);
        assert!(decode::<u8>(&out, q.len() - 1, &mut Vec::new()).is_err());
        assert!(decode::<u8>(&out, q.len() + 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn runs_compare_bits() {
        let v = [0.0, -0.0, -0.0, f64::NAN];
        assert_eq!(measure(&v).0, 3);
        let mut out = Vec::new();
        encode(&v, &mut out);
        let mut back = Vec::new();
        decode(&out, 4, &mut back).unwrap();
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&v));
    }

    #[test]
    fn runs_reach_agrees_with_count_runs() {
        let mut x = 7u64;
        for n in [0usize, 1, 2, 255, 256, 257, 1000] {
            for spread in [1u64, 2, 50] {
                let v: Vec<i64> = (0..n)
                    .map(|_| {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        // Mostly long runs for small spreads.
                        ((x >> 60) / (16 / spread.min(16)) % spread) as i64
                    })
                    .collect();
                let runs = count_runs(&v);
                for limit in [0, 1, 2, runs.saturating_sub(1), runs, runs + 1, n + 5] {
                    assert_eq!(runs_reach(&v, limit), runs >= limit, "n {n} limit {limit}");
                }
            }
        }
    }
}
