//! Decimal-scaled integers: values with a fixed number of decimals, stored as integers.
//!
//! A column has scale `s` (0..=9) when every value `v` equals, bit for bit,
//! `(i as f64) / 10^s` for an integer `|i| < 2^53`. IEEE division is correctly rounded, so
//! the decoder rebuilds exactly the double the encoder was given (a meter reading parsed from
//! `"1234.567"` is the double nearest 1234567/1000, which is what the division yields). `-0.0`
//! never qualifies (it would come back as `+0.0`), nor do NaN and infinities.
//!
//! The integers are stored either as deltas (`i[k] - i[k-1]`, best for registers and noisy
//! gauges) or as delta-of-deltas (best for smooth ramps); the encoder sizes both analytically
//! and keeps the smaller. The stream is cut into frames of 128, each stored as a frame
//! reference `ref:ivarint` (the frame's minimum) and a [`super::bits`] frame of the unsigned
//! offsets `x - ref`.
//!
//! Body, delta form: `i0:ivarint`, then frames over the `count - 1` deltas.
//! Body, delta-of-delta form: `i0:ivarint`, if `count >= 2` `d1:ivarint`, then frames over the
//! `count - 2` delta-of-deltas.

use crate::error::Result;
use crate::format::{put_ivarint, zigzag, Reader};

use super::bits::{choose_width, read_frame, varint_len, write_frame, FRAME};
use super::rle::expect_end;

/// Powers of ten by scale; all exact in `f64`.
pub const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Largest scale tried.
pub const MAX_SCALE: u8 = 9;

/// `2^53`: integers must stay strictly below it in magnitude.
const LIMIT: f64 = 9_007_199_254_740_992.0;

/// `y` rounded half away from zero, for `|y| < 2^53`, without a libm call.
#[inline(always)]
fn round_int(y: f64) -> i64 {
    let t = y as i64;
    let f = y - t as f64; // exact
    t + i64::from(f >= 0.5) - i64::from(f <= -0.5)
}

/// Whether `v` is exactly `i / p` for an integer `|i| < 2^53`.
#[inline(always)]
fn fits(v: f64, p: f64) -> bool {
    let y = v * p;
    y.abs() < LIMIT && ((round_int(y) as f64) / p).to_bits() == v.to_bits()
}

/// The smallest scale at which every value is a decimal, if any.
pub fn find_scale(vals: &[f64]) -> Option<u8> {
    let mut s = 0usize;
    // Values before `raised_at` were checked at a smaller scale only.
    let mut raised_at = 0;
    for (k, &v) in vals.iter().enumerate() {
        while !fits(v, POW10[s]) {
            s += 1;
            if s > MAX_SCALE as usize {
                return None;
            }
            raised_at = k;
        }
    }
    // Fitting at a scale almost always implies fitting at a larger one, but not at the edges
    // of the 2^53 range: check the early values again, raising further if needed.
    loop {
        let p = POW10[s];
        if vals[..raised_at].iter().all(|&v| fits(v, p)) {
            return Some(s as u8);
        }
        s += 1;
        if s > MAX_SCALE as usize {
            return None;
        }
        raised_at = vals.len();
    }
}

/// A decided decimal encoding: the scale, the integers, the form, and the body's size.
#[derive(Debug)]
pub struct Plan {
    /// Decimal digits.
    pub scale: u8,
    /// Delta-of-delta form rather than delta form.
    pub dod: bool,
    /// Bytes of the body.
    pub size: usize,
    /// The stream that gets framed: deltas or delta-of-deltas.
    stream: Vec<i64>,
    /// The varint header: `i0` and, for the delta-of-delta form, `d1`.
    head: Vec<i64>,
}

/// Decides whether and how `vals` (non-empty) encode as decimals, computing sizes without
/// encoding.
pub fn plan(vals: &[f64]) -> Option<Plan> {
    let scale = find_scale(vals)?;
    let p = POW10[scale as usize];
    let ints: Vec<i64> = vals.iter().map(|&v| round_int(v * p)).collect();
    // |i| < 2^53, so deltas and delta-of-deltas cannot overflow.
    let deltas: Vec<i64> = ints.windows(2).map(|w| w[1] - w[0]).collect();
    let dods: Vec<i64> = deltas.windows(2).map(|w| w[1] - w[0]).collect();
    let head_len = |h: &[i64]| h.iter().map(|&x| varint_len(zigzag(x))).sum::<usize>();
    let delta_size = head_len(&ints[..1]) + stream_size(&deltas);
    let dod_head: Vec<i64> = ints[..1].iter().chain(deltas.first()).copied().collect();
    let dod_size = head_len(&dod_head) + stream_size(&dods);
    Some(if dod_size < delta_size {
        Plan {
            scale,
            dod: true,
            size: dod_size,
            stream: dods,
            head: dod_head,
        }
    } else {
        Plan {
            scale,
            dod: false,
            size: delta_size,
            stream: deltas,
            head: vec![ints[0]],
        }
    })
}

/// A frame's reference (its minimum) and its offsets from it.
fn offsets(frame: &[i64], off: &mut [u64; FRAME]) -> i64 {
    let min = frame.iter().copied().min().unwrap_or(0);
    for (o, &x) in off.iter_mut().zip(frame) {
        *o = x.wrapping_sub(min) as u64;
    }
    min
}

fn stream_size(stream: &[i64]) -> usize {
    let mut off = [0u64; FRAME];
    stream
        .chunks(FRAME)
        .map(|f| {
            let min = offsets(f, &mut off);
            varint_len(zigzag(min)) + choose_width(&off[..f.len()]).1
        })
        .sum()
}

/// Appends the body that `plan` describes.
pub fn write(plan: &Plan, out: &mut Vec<u8>) {
    for &h in &plan.head {
        put_ivarint(out, h);
    }
    let mut off = [0u64; FRAME];
    for f in plan.stream.chunks(FRAME) {
        let min = offsets(f, &mut off);
        put_ivarint(out, min);
        let off = &off[..f.len()];
        write_frame(off, choose_width(off).0, out);
    }
}

/// Decodes a decimal body of exactly `count` values at `scale` (checked `<= 9` by the caller).
pub fn decode(body: &[u8], count: usize, scale: u8, dod: bool, out: &mut Vec<f64>) -> Result<()> {
    let p = POW10[usize::from(scale.min(MAX_SCALE))];
    let mut r = Reader::new(body);
    if count == 0 {
        return expect_end(&r);
    }
    let mut x = r.ivarint("first integer")?;
    out.push(x as f64 / p);
    let mut left = count - 1;
    let mut d = 0i64;
    if dod && left > 0 {
        d = r.ivarint("first delta")?;
        x = x.wrapping_add(d);
        out.push(x as f64 / p);
        left -= 1;
    }
    // Each frame takes at least a reference and a header byte.
    if r.remaining() / 2 < left.div_ceil(FRAME) {
        return Err(r.corrupt_here(format!("{left} values cannot fit in the column")));
    }
    out.reserve(left);
    let mut off = [0u64; FRAME];
    let mut ints = [0i64; FRAME];
    while left > 0 {
        let n = left.min(FRAME);
        let reference = r.ivarint("frame reference")?;
        read_frame(&mut r, n, &mut off)?;
        if dod {
            for (i, &o) in ints.iter_mut().zip(&off[..n]) {
                d = d.wrapping_add(reference.wrapping_add(o as i64));
                x = x.wrapping_add(d);
                *i = x;
            }
        } else {
            for (i, &o) in ints.iter_mut().zip(&off[..n]) {
                x = x.wrapping_add(reference.wrapping_add(o as i64));
                *i = x;
            }
        }
        out.extend(ints[..n].iter().map(|&i| i as f64 / p));
        left -= n;
    }
    expect_end(&r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(vals: &[f64]) -> Plan {
        let plan = plan(vals).expect("decimal");
        let mut out = Vec::new();
        write(&plan, &mut out);
        assert_eq!(out.len(), plan.size, "analytic size");
        let mut back = Vec::new();
        decode(&out, vals.len(), plan.scale, plan.dod, &mut back).unwrap();
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(vals));
        plan
    }

    #[test]
    fn finds_the_smallest_scale() {
        assert_eq!(find_scale(&[1.0, 2.0, -7.0]), Some(0));
        assert_eq!(find_scale(&[1.5, 2.25]), Some(2));
        assert_eq!(find_scale(&[0.1, 0.2, 0.3]), Some(1));
        assert_eq!(find_scale(&[1234.567, 0.001]), Some(3));
        assert_eq!(find_scale(&[1e-9, 3.0]), Some(9));
        assert_eq!(find_scale(&[1e-10]), None);
        assert_eq!(find_scale(&[std::f64::consts::PI]), None);
        assert_eq!(find_scale(&[-0.0]), None);
        assert_eq!(find_scale(&[f64::NAN]), None);
        assert_eq!(find_scale(&[f64::INFINITY]), None);
        assert_eq!(find_scale(&[f64::MIN_POSITIVE]), None);
        assert_eq!(find_scale(&[9_007_199_254_740_991.0]), Some(0));
        assert_eq!(find_scale(&[9_007_199_254_740_992.0]), None);
        // (2^53 - 1) / 1000 is also the double nearest 9007199254740.99: scale 2 suffices.
        assert_eq!(find_scale(&[9_007_199_254_740_991.0 / 1000.0]), Some(2));
    }

    #[test]
    fn register_and_ramp_round_trip() {
        let mut milli = 1_000_000i64;
        let mut rng = 0u64;
        let reg: Vec<f64> = (0..1000)
            .map(|_| {
                rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
                milli +=
                    ((rng ^ (rng >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40) as i64 % 5001;
                milli as f64 / 1000.0
            })
            .collect();
        let p = round_trip(&reg);
        assert_eq!(p.scale, 3);
        assert!(!p.dod);
        let ramp: Vec<f64> = (0..1000).map(|i| (i * i) as f64 / 100.0).collect();
        let p = round_trip(&ramp);
        assert!(p.dod);
        round_trip(&[1.5]);
        round_trip(&[1.5, -2.5]);
        round_trip(&[-9_007_199_254_740_991.0, 9_007_199_254_740_991.0, 0.0]);
    }
}
