//! Buckets: the aggregates of one calendar bucket, how finer buckets combine into coarser
//! ones, and the consumption of a counter.

use std::borrow::Cow;

use crate::catalog::{PointMeta, Register, Replacement};
use crate::codec::POW10;
use crate::sample::{Columns, Quality, Timestamp};

use super::Tier;

/// A register falling to at most this fraction of a positive reading, with no replacement
/// recorded and no rollover, is taken as a new meter counting from zero (see [`Rules`]).
pub const REPLACEMENT_FRACTION: f64 = 0.1;

/// How the increase of a counter between two consecutive valid readings `a` (at `ta`) and
/// `b` (at `tb`) is counted. The rules, in order:
///
/// 1. **Recorded replacement** ([`crate::Db::replace_meter`]): for each replacement with
///    `ta < ts <= tb`, the old meter's part up to its final reading and the new meter's part
///    from its initial reading, each counted by the rules below:
///    `(old_final - a) + (b - new_initial)`.
/// 2. **Rise** (`b >= a`): `b - a`. (For a net register with a rollover maximum `m`, a rise
///    of at least `m / 2` is a wrap backwards past zero: `b - a - m`, a backward step.)
/// 3. **Rollover**: with a rollover maximum `m` configured, a fall of at least `m / 2` from a
///    reading `a <= m` wraps past it: `(m - a) + b`.
/// 4. **Replacement inferred**: with none recorded, a fall from a positive reading to
///    `0 <= b <= REPLACEMENT_FRACTION * a` (10%) is a new meter counting from zero: `b`.
/// 5. **Backward step**: any other fall. An import register (the default) adds nothing; a
///    net register ([`Register::Net`]) adds the signed change `b - a`. Either way the
///    bucket that holds both readings counts it in [`Bucket::backward`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules<'a> {
    /// The rollover maximum.
    pub rollover: Option<f64>,
    /// Whether the register is net (bidirectional).
    pub net: bool,
    /// Recorded replacements, sorted by time.
    pub replacements: &'a [Replacement],
}

/// One step of a register between two readings: its increase, and whether it was a
/// backward step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The increase counted.
    pub inc: f64,
    /// Whether the register stepped backward (rule 5 of [`Rules`]).
    pub backward: bool,
}

impl<'a> Rules<'a> {
    /// The rules of an import register with no rollover and no replacement.
    pub const IMPORT: Rules<'static> = Rules {
        rollover: None,
        net: false,
        replacements: &[],
    };

    /// The rules of a point.
    pub fn of(meta: &'a PointMeta) -> Rules<'a> {
        Rules {
            rollover: meta.rollover,
            net: meta.register == Register::Net,
            replacements: &meta.replacements,
        }
    }

    /// Import rules with a rollover maximum.
    pub fn rollover(m: Option<f64>) -> Rules<'static> {
        Rules {
            rollover: m,
            ..Rules::IMPORT
        }
    }

    /// The step from reading `a` at `ta` to the next valid reading `b` at `tb > ta`.
    #[inline]
    pub fn step(&self, ta: Timestamp, a: f64, tb: Timestamp, b: f64) -> Step {
        if b >= a && self.replacements.is_empty() && !self.net {
            return Step {
                inc: b - a,
                backward: false,
            };
        }
        self.step_slow(ta, a, tb, b)
    }

    #[inline(never)]
    fn step_slow(&self, ta: Timestamp, a: f64, tb: Timestamp, b: f64) -> Step {
        let r = self.replacements;
        let i = r.partition_point(|x| x.ts <= ta);
        if i < r.len() && r[i].ts <= tb {
            let mut out = Step {
                inc: 0.0,
                backward: false,
            };
            let mut x = a;
            for rep in r[i..].iter().take_while(|x| x.ts <= tb) {
                let s = self.plain(x, rep.old_final);
                out.inc += s.inc;
                out.backward |= s.backward;
                x = rep.new_initial;
            }
            let s = self.plain(x, b);
            out.inc += s.inc;
            out.backward |= s.backward;
            return out;
        }
        self.plain(a, b)
    }

    /// Rules 2 to 5.
    #[inline]
    fn plain(&self, a: f64, b: f64) -> Step {
        let step = |inc, backward| Step { inc, backward };
        if b >= a {
            return match self.rollover {
                Some(m) if self.net && b - a >= m / 2.0 => step(b - a - m, true),
                _ => step(b - a, false),
            };
        }
        match self.rollover {
            Some(m) if a <= m && a - b >= m / 2.0 => return step((m - a) + b, false),
            _ => {}
        }
        if a > 0.0 && b >= 0.0 && b <= REPLACEMENT_FRACTION * a {
            return step(b, false);
        }
        step(if self.net { b - a } else { 0.0 }, true)
    }

    /// The largest magnitude a step can add beyond the readings' own: the rollover
    /// maximum and the recorded replacements' readings (for the error bound of sums).
    fn extra_scale(&self) -> f64 {
        let r = self.rollover.map_or(0.0, f64::abs);
        self.replacements
            .iter()
            .fold(r, |m, x| m + x.old_final.abs() + x.new_initial.abs())
    }
}

/// The aggregates of the valid samples of one point with `start <= ts < end`, and counts
/// of the samples' qualities.
///
/// Invalid samples (quality bit 0 clear) enter nothing but [`Bucket::invalid`]: count, sum,
/// extremes, first, last and increase are those of the valid samples alone. `inc` is the
/// increase of a counter from the bucket's first valid sample to its last, summed pair by
/// pair by the point's [`Rules`] (rollover, replacements, backward steps).
/// A bucket with `count == 0` and `invalid == 0` is stored only to mark that an earlier
/// stored bucket is gone; one with `count == 0` and `invalid > 0` held only invalid samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Start of the bucket (ms, UTC).
    pub start: Timestamp,
    /// Samples in the bucket.
    pub count: u64,
    /// Sum of their values.
    pub sum: f64,
    /// Smallest value, and when it was first reached.
    pub min: f64,
    /// See `min`.
    pub min_ts: Timestamp,
    /// Largest value, and when it was first reached.
    pub max: f64,
    /// See `max`.
    pub max_ts: Timestamp,
    /// The first sample.
    pub first: f64,
    /// See `first`.
    pub first_ts: Timestamp,
    /// The last sample.
    pub last: f64,
    /// See `last`.
    pub last_ts: Timestamp,
    /// Increase of a counter from the first sample to the last (see above).
    pub inc: f64,
    /// Invalid samples in the bucket (not counted in `count`).
    pub invalid: u64,
    /// Valid samples entered by hand (quality bit 1), counted in `count`.
    pub manual: u64,
    /// Valid estimated samples (quality bit 2), counted in `count`.
    pub estimated: u64,
    /// Backward steps of a counter between two valid readings of the bucket (rule 5 of
    /// [`Rules`]).
    pub backward: u64,
}

/// The increase of an import counter with rollover maximum `rollover` and no recorded
/// replacement from reading `a` to the next reading `b` ([`Rules::step`]).
#[inline]
pub fn inc(a: f64, b: f64, rollover: Option<f64>) -> f64 {
    Rules::rollover(rollover).step(0, a, 1, b).inc
}

impl Bucket {
    /// Whether this is the marker of a deleted bucket (no sample at all, valid or not).
    #[inline]
    pub fn is_marker(&self) -> bool {
        self.count == 0 && self.invalid == 0
    }

    /// A marker that the stored bucket at `start` no longer exists.
    pub fn deleted(start: Timestamp) -> Bucket {
        Bucket {
            start,
            count: 0,
            sum: 0.0,
            min: 0.0,
            min_ts: start,
            max: 0.0,
            max_ts: start,
            first: 0.0,
            first_ts: start,
            last: 0.0,
            last_ts: start,
            inc: 0.0,
            invalid: 0,
            manual: 0,
            estimated: 0,
            backward: 0,
        }
    }

    /// The bucket of samples `c[range]` (sorted, non-empty), their qualities counted.
    pub fn of_samples(
        start: Timestamp,
        c: &Columns,
        r: std::ops::Range<usize>,
        rules: &Rules<'_>,
    ) -> Bucket {
        let mut out = Vec::with_capacity(1);
        let mut scratch = (Vec::new(), Vec::new());
        let q = c.quality.get(r.clone()).unwrap_or(&[]);
        push_bucket(
            &mut out,
            start,
            &c.ts[r.clone()],
            &c.values[r],
            q,
            rules,
            &mut scratch,
        );
        out[0]
    }

    /// The bucket of the valid samples `(ts[k], vs[k])` (sorted, non-empty, of equal
    /// lengths).
    #[inline]
    fn of_slices(start: Timestamp, ts: &[Timestamp], vs: &[f64], rules: &Rules<'_>) -> Bucket {
        let n = ts.len().min(vs.len());
        let (ts, vs) = (&ts[..n], &vs[..n]);
        let (t0, v0) = (ts[0], vs[0]);
        let mut b = Bucket {
            start,
            count: n as u64,
            sum: 0.0 + v0, // as a sum from zero (`-0.0` sums to `+0.0`)
            min: v0,
            min_ts: t0,
            max: v0,
            max_ts: t0,
            first: v0,
            first_ts: t0,
            last: vs[n - 1],
            last_ts: ts[n - 1],
            inc: 0.0,
            invalid: 0,
            manual: 0,
            estimated: 0,
            backward: 0,
        };
        let (mut pt, mut prev) = (t0, v0);
        for (&t, &v) in ts[1..].iter().zip(&vs[1..]) {
            b.sum += v;
            // Selects, not branches: noisy readings make new extremes unpredictable.
            let (lo, hi) = (v < b.min, v > b.max);
            b.min = if lo { v } else { b.min };
            b.min_ts = if lo { t } else { b.min_ts };
            b.max = if hi { v } else { b.max };
            b.max_ts = if hi { t } else { b.max_ts };
            let s = rules.step(pt, prev, t, v);
            b.inc += s.inc;
            b.backward += s.backward as u64;
            (pt, prev) = (t, v);
        }
        b.settle_in_place(rules);
        b
    }

    /// Combines consecutive finer buckets (sorted by start, non-empty or holding invalid
    /// samples only) into the bucket that starts at `start`.
    pub fn combine(start: Timestamp, parts: &[Bucket], rules: &Rules<'_>) -> Bucket {
        let mut b = Bucket::deleted(start);
        for p in parts {
            b.add_part(p, rules);
        }
        b.settle(rules)
    }

    /// The bucket with `sum` and `inc` rounded to the decimals they stand for (see
    /// [`snap`]), each with the largest error that adding up `count` readings (of at most
    /// the bucket's largest magnitude) in `f64` can make. Buckets are settled whenever they
    /// are made, from samples or from finer buckets, so that every way of computing a bucket
    /// gives the same bits when the readings are decimals.
    fn settle(mut self, rules: &Rules<'_>) -> Bucket {
        self.settle_in_place(rules);
        self
    }

    /// [`Bucket::settle`] in place.
    #[inline]
    fn settle_in_place(&mut self, rules: &Rules<'_>) {
        // One sample: its sum is its value (`0.0 + v`) and its increase zero, as they are.
        if self.count <= 1 {
            return;
        }
        let n = self.count as f64;
        // Values are never NaN: plain comparisons, not `f64::max`.
        let larger = |a: f64, b: f64| if a > b { a } else { b };
        let m = larger(self.min.abs(), self.max.abs());
        // Worst-case errors against the exact decimal: each reading is within U*m of its
        // decimal, and n - 1 additions of running totals of at most n*m add at most U*n*m
        // apiece: 2*n^2*U*m covers both. An increase is a sum of n terms each below 2*m + r
        // (r the rollover maximum) whose readings are within U*m: 8*(n+1)^2*U*(m+r). The
        // moves allowed are a few times the errors of n roundings of the result's size.
        const U: f64 = f64::EPSILON / 2.0;
        let tol = |x: f64, r: f64| 4.0 * (n + 1.0) * U * (larger(x.abs(), m) + r);
        self.sum = snap(self.sum, 2.0 * n * n * U * m, tol(self.sum, 0.0));
        let r = if rules.replacements.is_empty() {
            rules.rollover.map_or(0.0, f64::abs)
        } else {
            rules.extra_scale()
        };
        let err = 8.0 * (n + 1.0) * (n + 1.0) * U * (m + r);
        self.inc = snap(self.inc, err, tol(self.inc, r));
    }

    /// Adds `p`, the next part after this bucket's last one (in time order): counts and
    /// sums, extremes, the increase across the boundary between them and `p`'s own. A part
    /// of invalid samples only adds its quality counts.
    #[inline]
    fn add_part(&mut self, p: &Bucket, rules: &Rules<'_>) {
        self.invalid += p.invalid;
        self.manual += p.manual;
        self.estimated += p.estimated;
        self.backward += p.backward;
        if p.count == 0 {
            return;
        }
        if self.count == 0 {
            // The first part with samples: its aggregates, with the sums as sums from zero
            // (so that the float operations are those of adding every part).
            self.count = p.count;
            self.sum = 0.0;
            self.sum += p.sum;
            (self.min, self.min_ts, self.max, self.max_ts) = (p.min, p.min_ts, p.max, p.max_ts);
            (self.first, self.first_ts, self.last, self.last_ts) =
                (p.first, p.first_ts, p.last, p.last_ts);
            self.inc = 0.0;
            self.inc += p.inc;
            return;
        }
        self.count += p.count;
        self.sum += p.sum;
        if p.min < self.min {
            self.min = p.min;
            self.min_ts = p.min_ts;
        }
        if p.max > self.max {
            self.max = p.max;
            self.max_ts = p.max_ts;
        }
        let s = rules.step(self.last_ts, self.last, p.first_ts, p.first);
        self.inc += s.inc;
        self.backward += s.backward as u64;
        self.inc += p.inc;
        self.last = p.last;
        self.last_ts = p.last_ts;
    }
}

/// Appends the bucket at `start` of the samples `(ts, vs, q)` (sorted, non-empty; `q` empty
/// when every sample is valid and plain): the valid samples' aggregates and the quality
/// counts, or a bucket of invalid samples only.
fn push_bucket(
    out: &mut Vec<Bucket>,
    start: Timestamp,
    ts: &[Timestamp],
    vs: &[f64],
    q: &[u8],
    rules: &Rules<'_>,
    scratch: &mut (Vec<Timestamp>, Vec<f64>),
) {
    const PLAIN: u8 = Quality::VALID_BIT;
    const MASK: u8 = Quality::VALID_BIT | Quality::MANUAL_BIT | Quality::ESTIMATED_BIT;
    if q.len() != ts.len() || q.iter().all(|&x| x & MASK == PLAIN) {
        out.push(Bucket::of_slices(start, ts, vs, rules));
        return;
    }
    let (vt, vv) = scratch;
    vt.clear();
    vv.clear();
    let (mut invalid, mut manual, mut estimated) = (0u64, 0u64, 0u64);
    for ((&t, &v), &x) in ts.iter().zip(vs).zip(q) {
        let x = Quality(x);
        if !x.is_valid() {
            invalid += 1;
            continue;
        }
        manual += x.is_manual() as u64;
        estimated += x.is_estimated() as u64;
        vt.push(t);
        vv.push(v);
    }
    let mut b = if vt.is_empty() {
        Bucket::deleted(start)
    } else {
        Bucket::of_slices(start, vt, vv, rules)
    };
    b.invalid = invalid;
    b.manual = manual;
    b.estimated = estimated;
    out.push(b);
}

/// Buckets of `tier` from sorted samples (their qualities counted, invalid ones left out of
/// the aggregates).
pub fn buckets_of_samples(tier: Tier, tz: i32, c: &Columns, rules: &Rules<'_>) -> Vec<Bucket> {
    // At most one bucket per sample, and for the fixed-length tiers at most one per bucket
    // length of the span.
    let cap = match (tier.fixed_len(), c.ts.first(), c.ts.last()) {
        (Some(len), Some(&a), Some(&b)) => c.len().min(((b - a) / len) as usize + 2),
        _ => 0,
    };
    let mut out = Vec::with_capacity(cap);
    let n = c.ts.len().min(c.values.len());
    let (ts, vs) = (&c.ts[..n], &c.values[..n]);
    // Qualities are looked at only when some sample is not a plain valid one.
    const MASK: u8 = Quality::VALID_BIT | Quality::MANUAL_BIT | Quality::ESTIMATED_BIT;
    let q: &[u8] = match c.quality.get(..n) {
        Some(q) if !q.iter().all(|&x| x & MASK == Quality::VALID_BIT) => q,
        _ => &[],
    };
    let mut scratch = (Vec::new(), Vec::new());
    let fixed = tier.fixed_len();
    let mut i = 0;
    // The end of the last bucket: with buckets of one length, the next sample (after it, the
    // samples being sorted) is often in the bucket that starts there.
    let mut prev_end = None;
    while i < n {
        let start = match (fixed, prev_end) {
            (Some(len), Some(e)) if ts[i] - e < len => e,
            _ => tier.bucket_start(ts[i], tz),
        };
        let end = tier.bucket_end(start, tz);
        prev_end = Some(end);
        // Buckets hold a few samples each: a forward scan beats a binary search.
        let j = i + 1 + ts[i + 1..].iter().take_while(|&&t| t < end).count();
        if q.is_empty() {
            out.push(Bucket::of_slices(start, &ts[i..j], &vs[i..j], rules));
        } else {
            push_bucket(
                &mut out,
                start,
                &ts[i..j],
                &vs[i..j],
                &q[i..j],
                rules,
                &mut scratch,
            );
        }
        i = j;
    }
    out
}

/// Buckets of `tier` from sorted, non-empty finer buckets given as consecutive runs (the
/// runs joined are sorted): [`buckets_of_buckets`] of the runs joined, without joining
/// them. Each bucket is combined exactly as [`Bucket::combine`] combines its parts.
pub fn buckets_of_bucket_runs(
    tier: Tier,
    tz: i32,
    runs: &[&[Bucket]],
    rules: &Rules<'_>,
) -> Vec<Bucket> {
    let mut out = Vec::new();
    // The bucket being combined and its end.
    let mut cur: Option<(Bucket, Timestamp)> = None;
    for p in runs.iter().flat_map(|r| r.iter()) {
        if let Some((b, end)) = &mut cur {
            if p.start < *end {
                b.add_part(p, rules);
                continue;
            }
        }
        out.extend(cur.take().map(|(b, _)| b.settle(rules)));
        let start = tier.bucket_start(p.start, tz);
        cur = Some((
            Bucket::combine(start, std::slice::from_ref(p), rules),
            tier.bucket_end(start, tz),
        ));
    }
    out.extend(cur.map(|(b, _)| b.settle(rules)));
    out
}

/// Buckets of `tier` from sorted, non-empty finer buckets.
pub fn buckets_of_buckets(tier: Tier, tz: i32, rows: &[Bucket], rules: &Rules<'_>) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let start = tier.bucket_start(rows[i].start, tz);
        let end = tier.bucket_end(start, tz);
        let mut j = i + 1;
        while j < rows.len() && rows[j].start < end {
            j += 1;
        }
        out.push(Bucket::combine(start, &rows[i..j], rules));
        i = j;
    }
    out
}

/// A bucket as a query returns it: the stored aggregates and what is derived from them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketRow {
    /// The aggregates (`count` 0 for a bucket with no samples inside an outage, returned for
    /// counters because its consumption is known).
    pub bucket: Bucket,
    /// End of the bucket (exclusive).
    pub end: Timestamp,
    /// `sum / count`, when there are samples.
    pub mean: Option<f64>,
    /// For counters: the increase of the register over `[start, end)`, the register being
    /// interpolated linearly to each boundary between the last sample before it and the first
    /// after it, multiplied by the point's multiplier. `None` for gauges.
    pub consumption: Option<f64>,
    /// Samples expected at the point's collection interval, when it is known.
    pub expected: Option<f64>,
    /// `count / expected`, when the interval is known.
    pub completeness: Option<f64>,
}

/// The samples on either side of a query's range: the last before its start and the first
/// at or after its end.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Neighbours {
    /// The last sample before the range, `(ts, value)`.
    pub before: Option<(Timestamp, f64)>,
    /// The first sample at or after the range's end.
    pub after: Option<(Timestamp, f64)>,
}

/// Turns a point's buckets (sorted, inside `[from, to)`, with samples or with invalid samples
/// only) into rows with consumption (when `counter`), expected counts and completeness. For a
/// counter, buckets with no valid sample that lie inside an outage (between two valid
/// samples) are returned too, with `count == 0` and their share of the increase across the
/// outage; a bucket of invalid samples only is returned with its `invalid` count, and with
/// that share when it lies inside such an outage (else no consumption).
#[allow(clippy::too_many_arguments)]
pub fn consumption_rows(
    tier: Tier,
    tz: i32,
    from: Timestamp,
    to: Timestamp,
    rows: &[Bucket],
    nb: Neighbours,
    counter: bool,
    rules: Rules<'_>,
    multiplier: f64,
    interval_ms: Option<i64>,
) -> Vec<BucketRow> {
    let (valid, invalid_only): (Cow<'_, [Bucket]>, Vec<Bucket>) =
        if rows.iter().all(|b| b.count > 0) {
            (Cow::Borrowed(rows), Vec::new())
        } else {
            let (v, i): (Vec<Bucket>, Vec<Bucket>) = rows.iter().partition(|b| b.count > 0);
            (
                Cow::Owned(v),
                i.into_iter().filter(|b| b.invalid > 0).collect(),
            )
        };
    let rows = &valid[..];
    let mut out = Vec::with_capacity(rows.len() + invalid_only.len());
    let walk = Walk {
        tier,
        tz,
        from,
        to,
        nb,
        counter,
        rules,
    };
    let row = |b: Bucket, consumption: Option<f64>| {
        let end = tier.bucket_end(b.start, tz);
        let expected = interval_ms.map(|iv| (end - b.start) as f64 / iv as f64);
        BucketRow {
            bucket: b,
            end,
            mean: (b.count > 0).then(|| b.sum / b.count as f64),
            consumption: consumption.map(|c| c * multiplier),
            expected,
            completeness: expected.map(|e| b.count as f64 / e),
        }
    };
    walk.each(rows, |k, start, consumption| {
        let b = k.map_or_else(|| Bucket::deleted(start), |k| rows[k]);
        out.push(row(b, consumption));
    });
    if !invalid_only.is_empty() {
        let mut extra = Vec::new();
        for b in invalid_only {
            match out.binary_search_by_key(&b.start, |r| r.bucket.start) {
                Ok(i) => out[i].bucket.invalid += b.invalid,
                Err(_) => extra.push(row(b, None)),
            }
        }
        out.extend(extra);
        out.sort_by_key(|r| r.bucket.start);
    }
    out
}

/// The walk behind [`consumption_rows`]: the same rows and consumption handed to a sink one
/// by one, so that a query summing many points never builds a row vector per point.
#[derive(Clone, Copy, Debug)]
pub struct Walk<'a> {
    /// The tier of the buckets.
    pub tier: Tier,
    /// The database's offset, minutes east of UTC.
    pub tz: i32,
    /// Start of the range (a bucket start).
    pub from: Timestamp,
    /// End of the range (a bucket end).
    pub to: Timestamp,
    /// The samples on either side of the range.
    pub nb: Neighbours,
    /// Whether the point is a counter (else no consumption and no outage rows).
    pub counter: bool,
    /// The counter's register rules.
    pub rules: Rules<'a>,
}

/// Buckets as a [`Walk`] reads them: sorted, non-empty, one point's.
pub trait WalkRows {
    /// Number of buckets.
    fn len(&self) -> usize;
    /// Whether there is none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Start of bucket `k`.
    fn start(&self, k: usize) -> Timestamp;
    /// First sample of bucket `k`, `(ts, value)`.
    fn first(&self, k: usize) -> (Timestamp, f64);
    /// Last sample of bucket `k`.
    fn last(&self, k: usize) -> (Timestamp, f64);
    /// Increase from the first sample to the last.
    fn inc(&self, k: usize) -> f64;
}

impl WalkRows for [Bucket] {
    fn len(&self) -> usize {
        <[Bucket]>::len(self)
    }
    #[inline]
    fn start(&self, k: usize) -> Timestamp {
        self[k].start
    }
    #[inline]
    fn first(&self, k: usize) -> (Timestamp, f64) {
        (self[k].first_ts, self[k].first)
    }
    #[inline]
    fn last(&self, k: usize) -> (Timestamp, f64) {
        (self[k].last_ts, self[k].last)
    }
    #[inline]
    fn inc(&self, k: usize) -> f64 {
        self[k].inc
    }
}

/// `x`, a value computed in `f64` within `err` of an exact decimal (a sum of decimal
/// readings), as the `f64` nearest that decimal. With `p` the finest power of ten (up to the
/// decimal codec's 10^9) at which decimals lie at least `4 * err` apart, there is at most one
/// decimal of `p` within `err` of `x`; `x` becomes it (`round(x * p) / p`) only when it is
/// also within `tol` of `x`, `tol` being of the size of `x`'s rounding errors (a few `n u |x|`),
/// far below `err`, which bounds them in the worst case. Otherwise (more decimals than `p`
/// allows, or not a decimal at all) `x` is returned as it is. So 0.1 + 0.2 is kept as 0.3,
/// sums come out the same in any order of addition, and they store as decimals; a value is
/// never moved by more than `tol`, and a decimal with more digits than `p` (114969.489 at
/// `p` = 100) is never mistaken for one with fewer.
#[inline]
fn snap(x: f64, err: f64, tol: f64) -> f64 {
    // At a coarser power the decimal within `err` (if any) would be the same one.
    let Some(&p) = POW10.iter().rev().find(|&&p| 4.0 * err * p <= 1.0) else {
        return x;
    };
    let y = x * p;
    // 2^51: far from where integers stop being exact.
    if y.is_nan() || y.abs() >= 2_251_799_813_685_248.0 {
        return x;
    }
    // `y` to a nearest integer (ties either way: a tie is never within `tol`), without the
    // libm call of `round`: adding 1.5 * 2^52 leaves no fraction bits for |y| < 2^51.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let r = ((y + MAGIC) - MAGIC).copysign(y); // the sign of a zero kept, as `round` does
                                               // `y` carries one rounding of its own.
    let bound = if tol < err { tol } else { err }; // never NaN: no `f64::min`
    if (y - r).abs() <= bound * p + y.abs() * f64::EPSILON {
        r / p
    } else {
        x
    }
}

/// The share of the increase between samples `a` and `b` that falls in `[s, e)`, the
/// register interpolated linearly between them.
#[inline]
fn share(a: (i64, f64), b: (i64, f64), s: i64, e: i64, rules: &Rules<'_>) -> f64 {
    let lo = s.max(a.0);
    let hi = e.min(b.0);
    if hi <= lo || b.0 <= a.0 {
        0.0
    } else if lo == a.0 && hi == b.0 {
        // All of it (the usual pair: a bucket's last sample and the next one's first, at
        // its start): exactly the increase, without a division.
        rules.step(a.0, a.1, b.0, b.1).inc
    } else {
        rules.step(a.0, a.1, b.0, b.1).inc * (hi - lo) as f64 / (b.0 - a.0) as f64
    }
}

impl Walk<'_> {
    /// Calls `sink(start, consumption)` for the empty buckets in `[lo, hi)` (`lo` a bucket
    /// start) that lie between samples `a` and `b`.
    fn gap(
        &self,
        a: (i64, f64),
        b: (i64, f64),
        lo: i64,
        hi: i64,
        sink: &mut dyn FnMut(Timestamp, f64),
    ) {
        let (tier, tz) = (self.tier, self.tz);
        // The end of the bucket holding `a` is a bucket start.
        let mut s = tier.bucket_end(tier.bucket_start(a.0, tz), tz).max(lo);
        while s < hi && s < b.0 {
            let e = tier.bucket_end(s, tz);
            if e > b.0 {
                break; // the bucket holding b is not empty
            }
            sink(s, share(a, b, s, e, &self.rules));
            s = e;
        }
    }

    /// [`Walk::each`] for a counter whose buckets are consecutive (each starts where the one
    /// before ends), the common case, without a call per bucket: the consumption of bucket
    /// `k` (before the multiplier) is written to `cons[k]`, computed exactly as `each`
    /// computes it, and `gap(start, consumption)` is called for the empty buckets inside an
    /// outage before the first bucket or after the last. Returns `false`, having done
    /// nothing, when the point is not a counter or its buckets are not consecutive.
    pub fn each_consecutive(
        &self,
        rows: &super::SumRows,
        cons: &mut Vec<f64>,
        mut gap: impl FnMut(Timestamp, f64),
    ) -> bool {
        let (tier, tz, rules) = (self.tier, self.tz, &self.rules);
        let n = rows.start.len();
        if !self.counter || n == 0 {
            return false;
        }
        let st = &rows.start[..n];
        let col = |c: usize| &rows.cols[c][..n];
        let (fv, fo) = (col(super::S_FIRST), col(super::S_FIRST_OFF));
        let (lv, lo) = (col(super::S_LAST), col(super::S_LAST_OFF));
        let inc = col(super::S_INC);
        // Offsets are checked whole and in range when decoded.
        let ft = |k: usize| st[k] + fo[k] as i64;
        let lt = |k: usize| st[k] + lo[k] as i64;
        let consecutive = match tier.fixed_len() {
            Some(len) => st.windows(2).all(|w| w[1].wrapping_sub(w[0]) == len),
            None => st.windows(2).all(|w| w[1] == tier.bucket_end(w[0], tz)),
        };
        if !consecutive {
            return false;
        }
        cons.clear();
        cons.reserve(n);
        if let Some(a) = self.nb.before {
            self.gap(a, (ft(0), fv[0]), self.from, st[0], &mut gap);
        }
        // Bucket k: its increase, the share of the pair (last of k-1, first of k) inside it
        // and that of the pair (last of k, first of k+1), the ends from the neighbours.
        let one =
            |k: usize, left: Option<(i64, f64)>, right: Option<(i64, f64)>, end: i64| -> f64 {
                let mut c = inc[k];
                if let Some(a) = left {
                    c += share(a, (ft(k), fv[k]), st[k], end, rules);
                }
                if let Some(r) = right {
                    c += share((lt(k), lv[k]), r, st[k], end, rules);
                }
                c
            };
        if n == 1 {
            cons.push(one(
                0,
                self.nb.before,
                self.nb.after,
                tier.bucket_end(st[0], tz),
            ));
        } else {
            cons.push(one(0, self.nb.before, Some((ft(1), fv[1])), st[1]));
            // (As bits, so that the test is one vectorized pass.)
            if fo[1..].iter().fold(0u64, |a, &x| a | x.to_bits()) == 0 {
                // Every bucket after the first starts with a sample on its boundary (regular
                // readings): the pair before a bucket's first sample ends at its start and
                // gives it nothing, and the pair after its last sample lies wholly inside
                // it. The same additions as below, without the shares' arithmetic.
                let mid = (&inc[1..n - 1], &lv[1..n - 1], &fv[2..n]);
                let times = (&lo[1..n - 1], &st[1..n - 1], &st[2..n]);
                let steps = mid.0.iter().zip(mid.1).zip(mid.2);
                let at = times.0.iter().zip(times.1).zip(times.2);
                cons.extend(steps.zip(at).map(|(((&i, &l), &f), ((&lof, &s), &s2))| {
                    let mut c = i;
                    c += 0.0;
                    c += rules.step(s + lof as i64, l, s2, f).inc;
                    c
                }));
            } else {
                // The previous bucket's last sample and this one's first carried along.
                let mut left = (lt(0), lv[0]);
                let mut first = (ft(1), fv[1]);
                for k in 1..n - 1 {
                    let next = (ft(k + 1), fv[k + 1]);
                    let last = (lt(k), lv[k]);
                    let mut c = inc[k];
                    c += share(left, first, st[k], st[k + 1], rules);
                    c += share(last, next, st[k], st[k + 1], rules);
                    cons.push(c);
                    left = last;
                    first = next;
                }
            }
            let left = (lt(n - 2), lv[n - 2]);
            let k = n - 1;
            let end = tier.bucket_end(st[k], tz);
            cons.push(one(k, Some(left), self.nb.after, end));
        }
        if let Some(b) = self.nb.after {
            self.gap((lt(n - 1), lv[n - 1]), b, self.from, self.to, &mut gap);
        }
        true
    }

    /// Calls `sink(Some(k), start, consumption)` for each bucket `k` of `rows` (sorted,
    /// non-empty, inside the range) and, for a counter, `sink(None, start, consumption)`
    /// for each empty bucket inside an outage, in time order. The consumption is before
    /// the point's multiplier; `None` for a gauge.
    pub fn each<R: WalkRows + ?Sized>(
        &self,
        rows: &R,
        mut sink: impl FnMut(Option<usize>, Timestamp, Option<f64>),
    ) {
        let (tier, tz, rules) = (self.tier, self.tz, &self.rules);
        let n = rows.len();
        if !self.counter {
            for k in 0..n {
                sink(Some(k), rows.start(k), None);
            }
            return;
        }
        let share = |a, b, s, e| share(a, b, s, e, rules);
        let gap = |sink: &mut dyn FnMut(Option<usize>, Timestamp, Option<f64>),
                   a: (i64, f64),
                   b: (i64, f64),
                   lo: i64,
                   hi: i64| {
            self.gap(a, b, lo, hi, &mut |s, c| sink(None, s, Some(c)));
        };
        let mut left = self.nb.before;
        // End of the bucket holding `left`, once `left` is a bucket's last sample: when it
        // is the next bucket's start there is no gap to look for.
        let mut left_end = None;
        for k in 0..n {
            let start = rows.start(k);
            let end = tier.bucket_end(start, tz);
            let first = rows.first(k);
            if let Some(a) = left {
                if left_end != Some(start) {
                    gap(&mut sink, a, first, self.from, start);
                }
            }
            let right = if k + 1 < n {
                Some(rows.first(k + 1))
            } else {
                self.nb.after
            };
            let last = rows.last(k);
            let mut c = rows.inc(k);
            if let Some(a) = left {
                c += share(a, first, start, end);
            }
            if let Some(r) = right {
                c += share(last, r, start, end);
            }
            sink(Some(k), start, Some(c));
            left = Some(last);
            left_end = Some(end);
        }
        if let (Some(a), Some(b)) = (left, self.nb.after) {
            gap(&mut sink, a, b, self.from, self.to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn cols(v: &[(i64, f64)]) -> Columns {
        let mut c = Columns::default();
        for &(t, x) in v {
            c.push(t, x, 1);
        }
        c
    }

    #[test]
    fn sums_of_decimals_are_the_decimals() {
        // Hour buckets of 15-minute readings with two decimals: every sum and increase is
        // the f64 nearest its decimal, and a day made of the hours equals the day made of
        // the samples bit for bit.
        let mut c = Columns::default();
        let mut v = 123_456.78f64;
        for k in 0..96 * 3 {
            v = ((v + 0.01 * ((k * 7919) % 1000) as f64) * 100.0).round() / 100.0;
            c.push(k as i64 * H / 4, v, 1);
        }
        let hours = buckets_of_samples(Tier::Hour, 0, &c, &Rules::IMPORT);
        for b in &hours {
            let i = (b.start / (H / 4)) as usize;
            let cents: i64 = (i..i + 4)
                .map(|j| (c.values[j] * 100.0).round() as i64)
                .sum();
            assert_eq!(b.sum, cents as f64 / 100.0);
            let first = (c.values[i] * 100.0).round() as i64;
            let last = (c.values[i + 3] * 100.0).round() as i64;
            assert_eq!(b.inc, (last - first) as f64 / 100.0);
        }
        let days = buckets_of_buckets(Tier::Day, 0, &hours, &Rules::IMPORT);
        let runs: Vec<&[Bucket]> = hours.chunks(5).collect();
        assert_eq!(days, buckets_of_samples(Tier::Day, 0, &c, &Rules::IMPORT));
        assert_eq!(
            days,
            buckets_of_bucket_runs(Tier::Day, 0, &runs, &Rules::IMPORT)
        );
        assert_eq!(snap(0.1 + 0.2, 4.0 * f64::EPSILON, 4.0 * f64::EPSILON), 0.3);
    }

    #[test]
    fn snap_moves_a_value_only_within_its_error() {
        // Not a decimal: unchanged.
        let third = 1.0 / 3.0;
        assert_eq!(snap(third, 1e-15, 1e-15), third);
        assert_eq!(snap(1_234.567_890_123_4, 1e-12, 1e-12), 1_234.567_890_123_4);
        // More decimals than the worst-case error lets apart: unchanged, however loose that
        // bound (the month that once became 114969.49).
        assert_eq!(snap(1.03, 0.01, 1e-15), 1.03);
        assert_eq!(snap(1.000_001, 0.01, 1e-15), 1.000_001);
        let month = 114_969.488_999_999_97;
        assert_eq!(snap(month, 1.6e-3, 1.6e-5), month);
        assert_eq!(snap(114_969.489_000_000_01, 1e-6, 1e-9), 114_969.489);
        // Moved, never by more than the tolerance.
        for &(x, e, t) in &[
            (0.30000000000000004, 1e-15, 1e-15),
            (99.99000000001, 1e-9, 1e-10),
            (5.0, 0.1, 0.01),
            (7.000_000_1, 0.001, 1e-12),
        ] {
            let y = snap(x, e, t);
            assert!((y - x).abs() <= t, "{x} -> {y}");
        }
        assert_eq!(snap(99.99000000001, 1e-9, 1e-10), 99.99);
        assert_eq!(snap(7.000_000_1, 0.001, 1e-12), 7.000_000_1);
        // Zero error, huge values, signs and non-finite values.
        assert_eq!(snap(0.5, 0.0, 0.0), 0.5);
        assert_eq!(snap(-0.0, 0.0, 0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(snap(-2.0000000000000004, 1e-15, 1e-15), -2.0);
        assert_eq!(snap(1e300, 1e284, 1e284), 1e300);
        assert!(snap(f64::NAN, 1.0, 1.0).is_nan());
        assert_eq!(snap(f64::INFINITY, 0.0, 0.0), f64::INFINITY);
    }

    #[test]
    fn increase_handles_resets_and_rollover() {
        assert_eq!(inc(10.0, 12.5, None), 2.5);
        assert_eq!(inc(1000.0, 3.0, None), 3.0);
        assert_eq!(inc(9990.0, 5.0, Some(10_000.0)), 15.0);
        // Falls that are neither: backward steps, nothing for an import register.
        assert_eq!(inc(1000.0, 998.4, None), 0.0);
        assert_eq!(inc(9990.0, 6000.0, Some(10_000.0)), 0.0);
    }

    #[test]
    fn rules_tell_falls_apart() {
        let step = |r: &Rules<'_>, a: f64, b: f64| {
            let s = r.step(0, a, 10, b);
            (s.inc, s.backward)
        };
        let import = Rules::IMPORT;
        let net = Rules {
            net: true,
            ..Rules::IMPORT
        };
        let wrap = Rules::rollover(Some(100_000.0));
        let net_wrap = Rules { net: true, ..wrap };
        // A rise, and a backward step of 1.6 on a register of tens of thousands.
        assert_eq!(step(&import, 50_000.0, 50_002.5), (2.5, false));
        assert_eq!(step(&import, 50_000.0, 49_998.4), (0.0, true));
        assert_eq!(step(&net, 50_000.0, 49_998.5), (-1.5, true));
        // A fall to near zero is a new meter (from zero), for net registers too.
        assert_eq!(step(&import, 50_000.0, 12.0), (12.0, false));
        assert_eq!(step(&net, 50_000.0, 12.0), (12.0, false));
        assert_eq!(step(&import, 0.0, -1.0), (0.0, true));
        // A rollover: a fall of at least half the range; a smaller fall is a backward step.
        assert_eq!(step(&wrap, 99_990.0, 10.0), (20.0, false));
        assert_eq!(step(&wrap, 60_000.0, 50_000.0), (0.0, true));
        // A net register running backwards past zero wraps the other way.
        assert_eq!(step(&net_wrap, 10.0, 99_990.0), (-20.0, true));
        // Recorded replacements between the readings (a < ts <= b), chained.
        let reps = [
            Replacement {
                ts: 5,
                old_final: 50_003.0,
                new_initial: 2.0,
            },
            Replacement {
                ts: 8,
                old_final: 4.0,
                new_initial: 0.0,
            },
        ];
        let rec = Rules {
            replacements: &reps,
            ..Rules::IMPORT
        };
        assert_eq!(rec.step(0, 50_000.0, 10, 1.5).inc, 3.0 + 2.0 + 1.5);
        assert_eq!(rec.step(0, 50_000.0, 6, 3.0).inc, 3.0 + 1.0);
        assert_eq!(rec.step(5, 3.0, 7, 3.5).inc, 0.5);
        assert_eq!(rec.step(8, 0.5, 9, 0.75).inc, 0.25);
    }

    #[test]
    fn invalid_samples_enter_nothing_but_their_count() {
        // The example: a garbage reading flagged invalid in the middle of a day.
        let mut c = Columns::default();
        for (h, v, q) in [
            (0, 100.0, 1),
            (6, 106.0, 1),
            (12, 999_999.0, 0),
            (18, 118.0, 3),
            (24, 124.0, 5),
        ] {
            c.push(h * H, v, q);
        }
        let days = buckets_of_samples(Tier::Day, 0, &c, &Rules::IMPORT);
        let d = days[0];
        assert_eq!((d.count, d.invalid, d.manual, d.estimated), (3, 1, 1, 0));
        assert_eq!((d.max, d.last, d.inc, d.sum), (118.0, 118.0, 18.0, 324.0));
        assert_eq!((days[1].count, days[1].estimated), (1, 1));
        let rows = consumption_rows(
            Tier::Day,
            0,
            0,
            48 * H,
            &days,
            Neighbours::default(),
            true,
            Rules::IMPORT,
            1.0,
            Some(6 * H),
        );
        assert_eq!(rows[0].consumption, Some(24.0));
        assert_eq!(rows[0].completeness, Some(0.75));
        // A day of invalid readings only: reported with its count, and its share of the
        // consumption across it.
        let mut c = Columns::default();
        for (h, v, q) in [(0, 100.0, 1), (30, 5.0, 0), (48, 124.0, 1)] {
            c.push(h * H, v, q);
        }
        let days = buckets_of_samples(Tier::Day, 0, &c, &Rules::IMPORT);
        assert_eq!(days[1].count, 0);
        assert_eq!(days[1].invalid, 1);
        assert!(!days[1].is_marker());
        let rows = consumption_rows(
            Tier::Day,
            0,
            0,
            72 * H,
            &days,
            Neighbours::default(),
            true,
            Rules::IMPORT,
            1.0,
            None,
        );
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.bucket.count, r.bucket.invalid, r.consumption))
            .collect();
        assert_eq!(
            got,
            vec![(1, 0, Some(12.0)), (0, 1, Some(12.0)), (1, 0, Some(0.0))]
        );
    }

    #[test]
    fn coarser_buckets_equal_buckets_of_samples() {
        let c = cols(&[
            (0, 5.0),
            (H / 2, 7.0),
            (H, 0.5),
            (3 * H, 4.0),
            (3 * H + 10, 2.0),
        ]);
        let hours = buckets_of_samples(Tier::Hour, 0, &c, &Rules::IMPORT);
        assert_eq!(hours.len(), 3);
        let day = buckets_of_buckets(Tier::Day, 0, &hours, &Rules::IMPORT);
        let direct = buckets_of_samples(Tier::Day, 0, &c, &Rules::IMPORT);
        assert_eq!(day, direct);
        assert_eq!(day[0].count, 5);
        // 5->7, a fall to 0.5 (under 10% of 7: a new meter from zero), 0.5->4, a fall to 2
        // (a backward step: nothing, counted).
        assert_eq!(day[0].inc, 2.0 + 0.5 + 3.5);
        assert_eq!(day[0].backward, 1);
        assert_eq!((day[0].min, day[0].min_ts), (0.5, H));
        assert_eq!((day[0].max, day[0].max_ts), (7.0, H / 2));
    }

    #[test]
    fn consumption_interpolates_at_boundaries_and_across_gaps() {
        // A register read at 00:30 (100), 02:30 (120), and, after an outage, 05:30 (150).
        let c = cols(&[(H / 2, 100.0), (5 * H / 2, 120.0), (11 * H / 2, 150.0)]);
        let rows = buckets_of_samples(Tier::Hour, 0, &c, &Rules::IMPORT);
        let out = consumption_rows(
            Tier::Hour,
            0,
            0,
            6 * H,
            &rows,
            Neighbours::default(),
            true,
            Rules::IMPORT,
            1.0,
            Some(H),
        );
        let got: Vec<(i64, u64, f64)> = out
            .iter()
            .map(|r| (r.bucket.start / H, r.bucket.count, r.consumption.unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 1, 5.0),
                (1, 0, 10.0),
                (2, 1, 10.0),
                (3, 0, 10.0),
                (4, 0, 10.0),
                (5, 1, 5.0)
            ]
        );
        let total: f64 = got.iter().map(|x| x.2).sum();
        assert_eq!(total, 50.0);
        assert_eq!(out[0].completeness, Some(1.0));
        // The same over two days in one bucket, with neighbours outside the range.
        let nb = Neighbours {
            before: Some((-H, 90.0)),
            after: Some((7 * H, 160.0)),
        };
        let out = consumption_rows(
            Tier::Day,
            0,
            0,
            24 * H,
            &buckets_of_samples(Tier::Day, 0, &c, &Rules::IMPORT),
            nb,
            true,
            Rules::IMPORT,
            2.0,
            None,
        );
        assert_eq!(out.len(), 1);
        // 90 at -1h .. 100 at 0.5h: 2/3 of 10 inside; then 50; then 150 .. 160 at 7h: all 10.
        let want = (10.0 * (H / 2) as f64 / (3 * H / 2) as f64 + 50.0 + 10.0) * 2.0;
        assert!((out[0].consumption.unwrap() - want).abs() < 1e-9);
    }
}
