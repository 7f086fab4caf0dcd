//! Decimal-scaled integers: values with a fixed number of decimals, stored as integers.
//!
//! A column has scale `s` (0..=9) when every value `v` equals, bit for bit,
//! `(i as f64) / 10^s` for an integer `|i| < 2^53`. IEEE division is correctly rounded, so
//! the decoder rebuilds exactly the double the encoder was given (a meter reading parsed from
//! `"1234.567"` is the double nearest 1234567/1000, which is what the division yields). `-0.0`
//! never qualifies (it would come back as `+0.0`), nor do NaN and infinities.
//!
//! The integers are stored as they are (bounded, unordered series such as interval
//! consumptions), as deltas (`i[k] - i[k-1]`: registers, noisy gauges) or as delta-of-deltas
//! (smooth ramps); the encoder sizes the three analytically and keeps the smallest. The stream
//! is cut into frames of 128, each stored as a frame reference `ref:ivarint` (the frame's
//! minimum) and a [`super::bits`] frame of the unsigned offsets `x - ref`.
//!
//! Body, plain form: frames over the `count` integers.
//! Body, delta form: `i0:ivarint`, then frames over the `count - 1` deltas.
//! Body, delta-of-delta form: `i0:ivarint`, if `count >= 2` `d1:ivarint`, then frames over the
//! `count - 2` delta-of-deltas.

use crate::error::Result;
use crate::format::{put_ivarint, zigzag, Reader};

use super::bits::{choose_width_of, read_frame, varint_len, write_frame, FRAME};
use super::rle::expect_end;

/// Powers of ten by scale; all exact in `f64`.
pub const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Largest scale tried.
pub const MAX_SCALE: u8 = 9;

/// `2^53`: integers must stay strictly below it in magnitude.
const LIMIT: f64 = 9_007_199_254_740_992.0;

/// `2^51`: below it, [`MAGIC`] rounds exactly.
const FAST_LIMIT: f64 = 2_251_799_813_685_248.0;

/// `1.5 * 2^52`: `(y + MAGIC) - MAGIC` is `y` rounded to an integer for `|y| < 2^51`, and the
/// bits of `y + MAGIC` minus those of `MAGIC` are that integer. Vectorizes, unlike `round`.
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// Values checked together on the fast path before falling back to the exact one.
const CHUNK: usize = 64;

/// `y` rounded half away from zero, for `|y| < 2^53`, without a libm call.
#[inline(always)]
fn round_int(y: f64) -> i64 {
    let t = y as i64;
    let f = y - t as f64; // exact
                          // Wrapping: callers may pass out-of-range `y` and discard the result.
    t.wrapping_add(i64::from(f >= 0.5))
        .wrapping_sub(i64::from(f <= -0.5))
}

/// The integer `i` with `v == i / p` bit for bit and `|i| < 2^53`, if there is one.
#[inline]
fn exact_int(v: f64, p: f64) -> Option<i64> {
    let y = v * p;
    let i = round_int(y); // saturates harmlessly on NaN and infinities
    (y.abs() < LIMIT && ((i as f64) / p).to_bits() == v.to_bits()).then_some(i)
}

/// Appends the integers of `vals` at scale factor `p` to `ints`; false (with `ints` holding a
/// prefix) if some value is not a decimal at that scale.
///
/// The fast path handles a chunk branch-free when all its integers are below 2^51; a chunk
/// that fails it is redone value by value with the exact check, which also covers 2^51..2^53
/// (and rejects `-0.0`, which the fast path rounds to `+0.0` and so never matches).
fn to_ints(vals: &[f64], p: f64, ints: &mut Vec<i64>) -> bool {
    ints.reserve(vals.len());
    let magic_bits = MAGIC.to_bits() as i64;
    for chunk in vals.chunks(CHUNK) {
        let start = ints.len();
        let mut ok = true;
        ints.extend(chunk.iter().map(|&v| {
            let y = v * p;
            let m = y + MAGIC;
            ok &= (y.abs() < FAST_LIMIT) & (((m - MAGIC) / p).to_bits() == v.to_bits());
            (m.to_bits() as i64).wrapping_sub(magic_bits)
        }));
        if !ok {
            ints.truncate(start);
            for &v in chunk {
                match exact_int(v, p) {
                    Some(i) => ints.push(i),
                    None => return false,
                }
            }
        }
    }
    true
}

/// The smallest scale at which every value is a decimal, with the integers.
fn find_scale(vals: &[f64]) -> Option<(u8, Vec<i64>)> {
    // A lower bound from the first values, so most columns need a single full pass.
    let mut s = 0usize;
    for &v in vals.iter().take(CHUNK) {
        while exact_int(v, POW10[s]).is_none() {
            s += 1;
            if s > MAX_SCALE as usize {
                return None;
            }
        }
    }
    let mut ints = Vec::new();
    loop {
        ints.clear();
        if to_ints(vals, POW10[s], &mut ints) {
            return Some((s as u8, ints));
        }
        s += 1;
        if s > MAX_SCALE as usize {
            return None;
        }
    }
}

/// How the integers are stored: as they are, as deltas, or as delta-of-deltas. Each form is
/// cut into frames of reference; the encoder sizes all three and keeps the smallest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The integers themselves (bounded, unordered series: interval consumptions).
    Plain,
    /// `i[k] - i[k-1]` (registers, noisy gauges).
    Delta,
    /// `(i[k] - i[k-1]) - (i[k-1] - i[k-2])` (smooth ramps).
    DeltaOfDelta,
}

impl Form {
    /// Number of leading values stored as varints before the frames: `i0`, then `d1`.
    fn head_len(self) -> usize {
        match self {
            Form::Plain => 0,
            Form::Delta => 1,
            Form::DeltaOfDelta => 2,
        }
    }
}

/// The size of one form, and each of its frames' width and reference (minimum).
#[derive(Debug)]
struct Measured {
    size: usize,
    frames: Vec<(u8, i64)>,
}

/// A decided decimal encoding: the scale, the integers, the form, and the body's size.
#[derive(Debug)]
pub struct Plan {
    /// Decimal digits.
    pub scale: u8,
    /// How the integers are stored.
    pub form: Form,
    /// Bytes of the body.
    pub size: usize,
    ints: Vec<i64>,
    frames: Vec<(u8, i64)>,
}

/// How much of the data the forms are compared on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// Every form sized over every value: the smallest form always wins.
    Full,
    /// The forms compared on the first frame only, the winner then sized over every value:
    /// about half the sizing work on long columns, at the price of a worse form where the
    /// data changes character after its first frame (for derived data such as rollups).
    FirstFrame,
}

/// Decides whether and how `vals` (non-empty) encode as decimals, computing sizes without
/// encoding.
pub fn plan(vals: &[f64], effort: Effort) -> Option<Plan> {
    let (scale, ints) = find_scale(vals)?;
    let probe = match effort {
        Effort::Full => &ints[..],
        // The head values and one frame.
        Effort::FirstFrame => &ints[..ints.len().min(FRAME + 2)],
    };
    let mut best: Option<(Form, Measured)> = None;
    // On ties the earlier form wins: deltas before plain values before delta-of-deltas.
    for form in [Form::Delta, Form::Plain, Form::DeltaOfDelta] {
        let m = measure(probe, form);
        if best.as_ref().is_none_or(|(_, b)| m.size < b.size) {
            best = Some((form, m));
        }
    }
    let (form, mut m) = best?;
    if probe.len() < ints.len() {
        m = measure(&ints, form);
    }
    Some(Plan {
        scale,
        form,
        size: m.size,
        ints,
        frames: m.frames,
    })
}

/// The varint head of a form: `i0` for deltas, `i0, d1` for delta-of-deltas.
fn head(ints: &[i64], form: Form) -> impl Iterator<Item = i64> + '_ {
    let i0 = ints.first().copied();
    let d1 = ints.get(1).map(|&i1| i1 - ints[0]);
    let n = form.head_len();
    i0.into_iter().chain(d1).take(n)
}

/// Calls `f` with each frame of the stream of `form` over `ints`. `|i| < 2^53`, so
/// differences cannot overflow.
fn for_each_frame(ints: &[i64], form: Form, mut f: impl FnMut(&[i64])) {
    let mut buf = [0i64; FRAME];
    let k = form.head_len();
    let n = ints.len().saturating_sub(k);
    for lo in (0..n).step_by(FRAME) {
        let hi = (lo + FRAME).min(n);
        let src = &ints[lo..hi + k];
        match form {
            Form::Plain => f(src),
            Form::Delta => {
                for (b, w) in buf.iter_mut().zip(src.windows(2)) {
                    *b = w[1] - w[0];
                }
                f(&buf[..hi - lo]);
            }
            Form::DeltaOfDelta => {
                for (b, w) in buf.iter_mut().zip(src.windows(3)) {
                    *b = (w[2] - w[1]) - (w[1] - w[0]);
                }
                f(&buf[..hi - lo]);
            }
        }
    }
}

/// Sizes one form without encoding it.
fn measure(ints: &[i64], form: Form) -> Measured {
    let mut size: usize = head(ints, form).map(|x| varint_len(zigzag(x))).sum();
    let mut frames = Vec::with_capacity(ints.len() / FRAME + 1);
    for_each_frame(ints, form, |frame| {
        let (min, max) = frame
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let (w, cost) = choose_width_of(frame, min, max);
        size += varint_len(zigzag(min)) + cost;
        frames.push((w as u8, min));
    });
    Measured { size, frames }
}

/// Appends the body that `plan` describes.
pub fn write(plan: &Plan, out: &mut Vec<u8>) {
    for h in head(&plan.ints, plan.form) {
        put_ivarint(out, h);
    }
    let mut off = [0u64; FRAME];
    let mut frames = plan.frames.iter();
    for_each_frame(&plan.ints, plan.form, |frame| {
        // Each frame's width and reference, as sizing found them.
        let (w, min) = frames.next().copied().unwrap_or((64, 0));
        for (o, &x) in off.iter_mut().zip(frame) {
            *o = x.wrapping_sub(min) as u64;
        }
        put_ivarint(out, min);
        write_frame(&off[..frame.len()], u32::from(w), out);
    });
}

/// Decodes a decimal body of exactly `count` values at `scale` (checked `<= 9` by the caller).
pub fn decode(body: &[u8], count: usize, scale: u8, form: Form, out: &mut Vec<f64>) -> Result<()> {
    let p = POW10[usize::from(scale.min(MAX_SCALE))];
    let mut r = Reader::new(body);
    // The head: i0, then d1; `x` is the last integer, `d` the last delta.
    let (mut x, mut d) = (0i64, 0i64);
    let k = form.head_len().min(count);
    for j in 0..k {
        if j == 0 {
            x = r.ivarint("first integer")?;
        } else {
            d = r.ivarint("first delta")?;
            x = x.wrapping_add(d);
        }
        out.push(x as f64 / p);
    }
    let mut left = count - k;
    // Each frame takes at least a reference and a header byte.
    if r.remaining() / 2 < left.div_ceil(FRAME) {
        return Err(r.corrupt_here(format!("{left} values cannot fit in the column")));
    }
    out.reserve(left);
    // The offsets of a frame, turned into its integers in place (as `u64` bits).
    let mut off = [0u64; FRAME];
    while left > 0 {
        let n = left.min(FRAME);
        let reference = r.ivarint("frame reference")?;
        read_frame(&mut r, n, &mut off)?;
        let ints = &mut off[..n];
        match form {
            Form::Plain => {
                for o in ints.iter_mut() {
                    *o = reference.wrapping_add(*o as i64) as u64;
                }
            }
            Form::Delta => {
                for o in ints.iter_mut() {
                    x = x.wrapping_add(reference.wrapping_add(*o as i64));
                    *o = x as u64;
                }
            }
            Form::DeltaOfDelta => {
                for o in ints.iter_mut() {
                    d = d.wrapping_add(reference.wrapping_add(*o as i64));
                    x = x.wrapping_add(d);
                    *o = x as u64;
                }
            }
        }
        if scale == 0 {
            out.extend(ints.iter().map(|&i| i as i64 as f64)); // no division by 1
        } else {
            out.extend(ints.iter().map(|&i| i as i64 as f64 / p));
        }
        left -= n;
    }
    expect_end(&r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full plan, after checking that both efforts round-trip at their analytic size
    /// and that the quick one is never smaller.
    fn round_trip(vals: &[f64]) -> Plan {
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let plans = [Effort::FirstFrame, Effort::Full].map(|e| plan(vals, e).expect("decimal"));
        for p in &plans {
            let mut out = Vec::new();
            write(p, &mut out);
            assert_eq!(out.len(), p.size, "analytic size");
            let mut back = Vec::new();
            decode(&out, vals.len(), p.scale, p.form, &mut back).unwrap();
            assert_eq!(bits(&back), bits(vals));
        }
        let [quick, full] = plans;
        assert!(quick.size >= full.size && quick.scale == full.scale);
        full
    }

    fn scale(vals: &[f64]) -> Option<u8> {
        let found = find_scale(vals);
        if let Some((s, ints)) = &found {
            let p = POW10[*s as usize];
            for (&i, &v) in ints.iter().zip(vals) {
                assert_eq!((i as f64 / p).to_bits(), v.to_bits());
            }
        }
        found.map(|f| f.0)
    }

    #[test]
    fn finds_the_smallest_scale() {
        assert_eq!(scale(&[1.0, 2.0, -7.0]), Some(0));
        assert_eq!(scale(&[1.5, 2.25]), Some(2));
        assert_eq!(scale(&[0.1, 0.2, 0.3]), Some(1));
        assert_eq!(scale(&[1234.567, 0.001]), Some(3));
        assert_eq!(scale(&[1e-9, 3.0]), Some(9));
        assert_eq!(scale(&[1e-10]), None);
        assert_eq!(scale(&[std::f64::consts::PI]), None);
        assert_eq!(scale(&[-0.0]), None);
        assert_eq!(scale(&[f64::NAN]), None);
        assert_eq!(scale(&[f64::INFINITY]), None);
        assert_eq!(scale(&[f64::MIN_POSITIVE]), None);
        assert_eq!(scale(&[9_007_199_254_740_991.0]), Some(0));
        assert_eq!(scale(&[9_007_199_254_740_992.0]), None);
        // Beyond the fast path's 2^51, and mixed with values on it.
        let big: Vec<f64> = (0..200)
            .map(|i| (1i64 << 52) as f64 + f64::from(i))
            .collect();
        assert_eq!(scale(&big), Some(0));
        let big: Vec<f64> = (0..200).map(|i| ((1i64 << 52) + i) as f64 / 1e3).collect();
        assert!(scale(&big).is_some());
        assert_eq!(scale(&[1.0, 2.0, -0.0, 3.0]), None);
        let mut late = vec![5.0; 1000];
        late[999] = 0.25;
        assert_eq!(scale(&late), Some(2));
        // (2^53 - 1) / 1000 is also the double nearest 9007199254740.99: scale 2 suffices.
        assert_eq!(scale(&[9_007_199_254_740_991.0 / 1000.0]), Some(2));
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
        assert_eq!(p.form, Form::Delta);
        let ramp: Vec<f64> = (0..1000).map(|i| (i * i) as f64 / 100.0).collect();
        let p = round_trip(&ramp);
        assert_eq!(p.form, Form::DeltaOfDelta);
        // Bounded, unordered values: stored as they are.
        let interval: Vec<f64> = (0..1000u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50) as f64 / 1000.0)
            .collect();
        let p = round_trip(&interval);
        assert_eq!((p.form, p.scale), (Form::Plain, 3));
        round_trip(&[1.5]);
        round_trip(&[1.5, -2.5]);
        round_trip(&[-9_007_199_254_740_991.0, 9_007_199_254_740_991.0, 0.0]);
    }
}
