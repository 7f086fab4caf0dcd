//! Gorilla-style XOR coding of doubles that are not fixed-precision decimals.
//!
//! Body: one bit stream (LSB-first, see [`super::bits`]), zero-padded to a whole byte:
//!
//! * the first value's 64 bits;
//! * for each further value, `x = bits ^ previous bits`:
//!   * `x == 0`: the bit `0`;
//!   * `x` fits the current window (at least as many leading and trailing zeros): the bits
//!     `1, 0`, then the window's `len` meaningful bits of `x` (the encoder does this only when
//!     it is no dearer than opening a new window);
//!   * otherwise the bits `1, 1`, then `lead:6` (leading zeros, 0..=63), `len-1:6`
//!     (meaningful bits, 1..=64), then the `len` meaningful bits; this becomes the window.
//!
//! The window starts as `lead = 0, len = 64`. Multi-bit fields are written least significant
//! bit first.

use crate::error::{Error, Result};

use super::bits::{BitReader, BitWriter};

/// Appends the Gorilla body of `vals` (non-empty).
pub fn encode(vals: &[f64], out: &mut Vec<u8>) {
    let Some(first) = vals.first() else { return };
    let mut w = BitWriter::new(out);
    let mut prev = first.to_bits();
    w.write(prev, 64);
    let (mut lead, mut len) = (0u32, 64u32);
    for v in &vals[1..] {
        let bits = v.to_bits();
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.write(0, 1);
            continue;
        }
        let (l, t) = (x.leading_zeros(), x.trailing_zeros());
        let trail = 64 - lead - len;
        // Reuse the window when x fits in it and that is no dearer than a new window
        // (12 header bits + the meaningful bits); a window only ever grows stale otherwise.
        if l >= lead && t >= trail && len <= 12 + 64 - l - t {
            w.write(0b01, 2);
            w.write(x >> trail, len);
        } else {
            lead = l;
            len = 64 - l - t;
            w.write(0b11 | u64::from(lead) << 2 | u64::from(len - 1) << 8, 14);
            w.write(x >> t, len);
        }
    }
    w.finish();
}

/// Decodes a Gorilla body of exactly `count` values.
pub fn decode(body: &[u8], count: usize, out: &mut Vec<f64>) -> Result<()> {
    if count == 0 {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupt("bytes in an empty gorilla column"))
        };
    }
    // 64 bits for the first value and at least one bit per further value.
    if (body.len() as u64).saturating_mul(8) < (count as u64).saturating_add(63) {
        return Err(Error::corrupt(format!(
            "gorilla column of {} bytes cannot hold {count} values",
            body.len()
        )));
    }
    out.reserve(count);
    let mut r = BitReader::new(body);
    let mut prev = r.read(64);
    out.push(f64::from_bits(prev));
    let (mut lead, mut len) = (0u32, 64u32);
    for _ in 1..count {
        // One peek (121 bits or more) covers the control bits, a new window's header (14
        // bits in all) and the window's meaningful bits (at most 64).
        let w = r.peek();
        if w & 1 == 0 {
            r.skip(1);
        } else {
            let head = if w & 2 == 0 {
                2
            } else {
                lead = (w >> 2) as u32 & 63;
                len = ((w >> 8) as u32 & 63) + 1;
                if lead + len > 64 {
                    return Err(Error::corrupt(format!(
                        "gorilla window of {lead} leading and {len} meaningful bits"
                    )));
                }
                14
            };
            // `len` is 1..=64.
            let x = (w >> head) as u64 & (u64::MAX >> (64 - len));
            r.skip(head + len);
            prev ^= x << (64 - lead - len);
        }
        out.push(f64::from_bits(prev));
    }
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(vals: &[f64]) -> usize {
        let mut out = Vec::new();
        encode(vals, &mut out);
        let mut back = Vec::new();
        decode(&out, vals.len(), &mut back).unwrap();
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(vals));
        out.len()
    }

    #[test]
    fn smooth_floats_shrink() {
        let sin: Vec<f64> = (0..10_000)
            .map(|i| (i as f64 * 0.001).sin() * 100.0)
            .collect();
        let bytes = round_trip(&sin);
        assert!(bytes < sin.len() * 8, "{bytes}");
    }

    #[test]
    fn edge_values_round_trip() {
        round_trip(&[0.0]);
        round_trip(&[
            -0.0,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
        ]);
        round_trip(&[
            f64::NAN,
            f64::from_bits(0x7ff0_dead_beef_0001),
            f64::INFINITY,
        ]);
        round_trip(&[
            1.0,
            1.0,
            1.0,
            2.0,
            f64::from_bits(1),
            f64::from_bits(u64::MAX),
        ]);
    }
}
