//! Delta-of-delta timestamps, bit-packed in frames.
//!
//! Body: `t0:ivarint`, then if `count >= 2` the first delta `t1 - t0:ivarint`, then the
//! `count - 2` delta-of-deltas, zigzag-mapped, in frames of 128 (see [`super::bits`]). All
//! arithmetic wraps, so any `i64` sequence round-trips (an increasing series never wraps).
//!
//! A regular series has only zero delta-of-deltas: each frame is then the single byte `0x00`,
//! 1/128 byte per sample, and decodes as an arithmetic progression. A gap or a jitter costs
//! two small exceptions in its frame, not a wider frame.

use crate::error::Result;
use crate::format::{put_ivarint, unzigzag, zigzag, Reader};

use super::bits::{choose_width, read_frame, write_frame, FRAME};
use super::rle::expect_end;

/// Appends the delta-of-delta body of `ts`.
pub fn encode(ts: &[i64], out: &mut Vec<u8>) {
    let Some(&t0) = ts.first() else { return };
    put_ivarint(out, t0);
    let Some(&t1) = ts.get(1) else { return };
    let mut delta = t1.wrapping_sub(t0);
    put_ivarint(out, delta);
    let mut prev = t1;
    let mut zz = [0u64; FRAME];
    for chunk in ts[2..].chunks(FRAME) {
        let mut any = 0u64;
        for (z, &t) in zz.iter_mut().zip(chunk) {
            let d = t.wrapping_sub(prev);
            *z = zigzag(d.wrapping_sub(delta));
            any |= *z;
            delta = d;
            prev = t;
        }
        if any == 0 {
            out.push(0); // width 0, no exceptions: every delta-of-delta is zero
        } else {
            let zz = &zz[..chunk.len()];
            write_frame(zz, choose_width(zz).0, out);
        }
    }
}

/// Decodes a delta-of-delta body of exactly `count` timestamps.
pub fn decode(body: &[u8], count: usize, out: &mut Vec<i64>) -> Result<()> {
    let mut r = Reader::new(body);
    if count == 0 {
        return expect_end(&r);
    }
    let mut t = r.ivarint("first timestamp")?;
    out.push(t);
    if count == 1 {
        return expect_end(&r);
    }
    let mut delta = r.ivarint("first delta")?;
    t = t.wrapping_add(delta);
    out.push(t);
    let mut left = count - 2;
    // Every frame takes at least its header byte: reject a count the body cannot hold before
    // reserving room for it.
    if r.remaining() < left.div_ceil(FRAME) {
        return Err(r.corrupt_here(format!("{left} timestamps cannot fit in the column")));
    }
    out.reserve(left);
    let mut zz = [0u64; FRAME];
    while left > 0 {
        let n = left.min(FRAME);
        if r.rest().first() == Some(&0) {
            // All delta-of-deltas zero: an arithmetic progression.
            r.u8("frame header")?;
            let base = t;
            out.extend((1..=n as i64).map(|k| base.wrapping_add(delta.wrapping_mul(k))));
            t = base.wrapping_add(delta.wrapping_mul(n as i64));
        } else {
            read_frame(&mut r, n, &mut zz)?;
            out.extend(zz[..n].iter().map(|&z| {
                delta = delta.wrapping_add(unzigzag(z));
                t = t.wrapping_add(delta);
                t
            }));
        }
        left -= n;
    }
    expect_end(&r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ts: &[i64]) -> usize {
        let mut out = Vec::new();
        encode(ts, &mut out);
        let mut back = Vec::new();
        decode(&out, ts.len(), &mut back).unwrap();
        assert_eq!(back, ts);
        out.len()
    }

    #[test]
    fn regular_series_costs_a_byte_per_frame() {
        let ts: Vec<i64> = (0..100_000)
            .map(|i| 1_700_000_000_000 + i * 900_000)
            .collect();
        let bytes = round_trip(&ts);
        assert!(bytes < 100_000 / 128 + 16, "{bytes}");
    }

    #[test]
    fn gaps_and_jitter_round_trip_cheaply() {
        let mut ts: Vec<i64> = (0..10_000)
            .map(|i| i * 60_000 + (i * 7919 % 5) - 2)
            .collect();
        ts.retain(|t| (t / 60_000) % 997 != 3); // a few missing minutes
        let bytes = round_trip(&ts);
        // Jitter of +-2 ms on every sample: about 4 bits a sample.
        assert!(bytes * 8 < ts.len() * 5, "{bytes} bytes for {}", ts.len());
    }

    #[test]
    fn a_missing_interval_costs_a_few_bytes() {
        let mut ts: Vec<i64> = (0..10_000)
            .map(|i| 1_700_000_000_000 + i * 60_000)
            .collect();
        for k in (1..10).rev() {
            ts.remove(k * 997);
        }
        let bytes = round_trip(&ts);
        assert!(bytes < 10_000 / 128 + 16 + 9 * 12, "{bytes}");
    }

    #[test]
    fn extremes_round_trip() {
        round_trip(&[]);
        round_trip(&[i64::MIN]);
        round_trip(&[i64::MIN, i64::MAX]);
        round_trip(&[i64::MIN, -1, 0, 1, i64::MAX]);
        round_trip(&[i64::MAX, i64::MIN, i64::MAX, 0]);
        let wide: Vec<i64> = (0..300)
            .map(|i| if i % 2 == 0 { i64::MIN } else { i64::MAX })
            .collect();
        round_trip(&wide);
    }
}
