//! What several engine tests share: a straightforward recomputation of rollup buckets
//! from raw samples, float comparison, and the shared real meter data.
#![allow(dead_code)]

pub mod duckdb;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use meterdb::io::MemStorage;
use meterdb::{BucketRow, Options, PointKind, PointMeta, Register, Tier};

/// Options for a database in `s` (in memory): synced writes, no background threads.
pub fn mem_opts(s: &MemStorage) -> Options {
    Options {
        storage: Some(std::sync::Arc::new(s.clone())),
        background: false,
        ..Options::default()
    }
}

/// A deterministic pseudo-random sequence (xorshift), so that failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1e6 < p
    }
}

/// Whether two sums agree to a millionth (relative, or absolute near zero).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// start, count, sum, min, max, first, last, consumption.
pub type RefRow = (i64, u64, f64, f64, f64, f64, f64, Option<f64>);

/// A bucket's quality counts: invalid, manual, estimated, backward.
pub type QualityCounts = [u64; 4];

/// The rows a straightforward recomputation from raw samples (sorted by time, all valid)
/// gives.
pub fn reference(samples: &[(i64, f64)], meta: &PointMeta, tier: Tier, tz: i32) -> Vec<RefRow> {
    let q: Vec<(i64, f64, u8)> = samples.iter().map(|&(t, v)| (t, v, 1)).collect();
    reference_q(&q, meta, tier, tz)
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// The step of a counter from reading `a` to the next valid reading `b` by the documented
/// rules (`meterdb::rollup::Rules`), written out plainly: its increase and whether it is a
/// backward step.
pub fn step(meta: &PointMeta, (ta, a): (i64, f64), (tb, b): (i64, f64)) -> (f64, bool) {
    let net = meta.register == Register::Net;
    let plain = |a: f64, b: f64| -> (f64, bool) {
        if b >= a {
            match meta.rollover {
                Some(m) if net && b - a >= m / 2.0 => (b - a - m, true),
                _ => (b - a, false),
            }
        } else if meta.rollover.is_some_and(|m| a <= m && a - b >= m / 2.0) {
            (meta.rollover.unwrap() - a + b, false)
        } else if a > 0.0 && b >= 0.0 && b <= 0.1 * a {
            (b, false)
        } else if net {
            (b - a, true)
        } else {
            (0.0, true)
        }
    };
    let reps: Vec<_> = meta
        .replacements
        .iter()
        .filter(|r| ta < r.ts && r.ts <= tb)
        .collect();
    let mut x = a;
    let (mut inc, mut back) = (0.0, false);
    for r in reps {
        let (i, bk) = plain(x, r.old_final);
        inc += i;
        back |= bk;
        x = r.new_initial;
    }
    let (i, bk) = plain(x, b);
    (inc + i, back || bk)
}

/// The rows and quality counts a straightforward recomputation from raw samples `(ts,
/// value, quality)` (sorted by time) gives: invalid samples (bit 0 clear) are counted and
/// left out of everything else; a counter's consumption interpolates between consecutive
/// valid samples.
pub fn reference_q(
    samples: &[(i64, f64, u8)],
    meta: &PointMeta,
    tier: Tier,
    tz: i32,
) -> Vec<(RefRow, QualityCounts)> {
    let counter = meta.kind == PointKind::Counter;
    let valid: Vec<(i64, f64)> = samples
        .iter()
        .filter(|x| x.2 & 1 == 1)
        .map(|x| (x.0, x.1))
        .collect();
    let mut by: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    let mut quality: BTreeMap<i64, QualityCounts> = BTreeMap::new();
    for &(t, v, q) in samples {
        let s = tier.bucket_start(t, tz);
        let qc = quality.entry(s).or_default();
        if q & 1 == 0 {
            qc[0] += 1;
            continue;
        }
        qc[1] += u64::from(q & 2 != 0);
        qc[2] += u64::from(q & 4 != 0);
        by.entry(s).or_default().push((t, v));
    }
    for w in valid.windows(2) {
        let s = tier.bucket_start(w[0].0, tz);
        if tier.bucket_start(w[1].0, tz) == s && step(meta, w[0], w[1]).1 {
            quality.entry(s).or_default()[3] += 1;
        }
    }
    // Buckets with any sample, valid or not; for a counter also every bucket from the first
    // valid sample's to the last's.
    let mut starts: Vec<i64> = quality.keys().copied().collect();
    let span = match (valid.first(), valid.last()) {
        (Some(f), Some(l)) if counter => {
            Some((tier.bucket_start(f.0, tz), tier.bucket_start(l.0, tz)))
        }
        _ => None,
    };
    if let Some((first, last)) = span {
        let mut s = first;
        while s <= last {
            starts.push(s);
            s = tier.bucket_end(s, tz);
        }
        starts.sort_unstable();
        starts.dedup();
    }
    starts
        .into_iter()
        .map(|s| {
            let e = tier.bucket_end(s, tz);
            let in_b = by.get(&s).cloned().unwrap_or_default();
            let count = in_b.len() as u64;
            let sum: f64 = in_b.iter().map(|x| x.1).sum();
            let min = in_b.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
            let max = in_b.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
            let first = in_b.first().map_or(0.0, |x| x.1);
            let last = in_b.last().map_or(0.0, |x| x.1);
            let inside = span.is_some_and(|(f, l)| f <= s && s <= l);
            let consumption = inside.then(|| {
                let mut c = 0.0;
                // Only the windows that overlap the bucket (the samples are sorted): the
                // same sum as over every window, without a pass over all of them per bucket.
                let lo = valid.partition_point(|x| x.0 <= s).saturating_sub(1);
                let hi = (valid.partition_point(|x| x.0 < e) + 1).min(valid.len());
                for w in valid[lo..hi].windows(2) {
                    let ((t0, _), (t1, _)) = (w[0], w[1]);
                    let lo = s.max(t0);
                    let hi = e.min(t1);
                    if hi > lo {
                        c += step(meta, w[0], w[1]).0 * (hi - lo) as f64 / (t1 - t0) as f64;
                    }
                }
                c * meta.multiplier
            });
            let qc = quality.get(&s).copied().unwrap_or_default();
            ((s, count, sum, min, max, first, last, consumption), qc)
        })
        .collect()
}

/// [`assert_rows_match`] and the quality counts of every row.
pub fn assert_rows_match_q(got: &[BucketRow], want: &[(RefRow, QualityCounts)], what: &str) {
    let rows: Vec<RefRow> = want.iter().map(|w| w.0).collect();
    assert_rows_match(got, &rows, what);
    for (g, w) in got.iter().zip(want) {
        let b = &g.bucket;
        assert_eq!(
            [b.invalid, b.manual, b.estimated, b.backward],
            w.1,
            "quality counts of {what} bucket {}: got {g:?}",
            b.start
        );
    }
}

/// The samples of point `p` in a model of the database (point and time to value), in time
/// order.
pub fn samples_of(model: &BTreeMap<(u32, i64), f64>, p: u32) -> Vec<(i64, f64)> {
    model
        .range((p, i64::MIN)..=(p, i64::MAX))
        .map(|(&(_, t), &v)| (t, v))
        .collect()
}

/// Asserts that a tier's rows as a query returns them (`got`) are those of the
/// recomputation (`want`, sorted, limited to the same range): the same bucket starts, and per
/// bucket the same count, sum and consumption (to a millionth) and extremes, first and last.
/// `what` names the point and tier in the messages.
pub fn assert_rows_match(got: &[BucketRow], want: &[RefRow], what: &str) {
    assert_eq!(
        got.iter().map(|r| r.bucket.start).collect::<Vec<_>>(),
        want.iter().map(|r| r.0).collect::<Vec<_>>(),
        "bucket starts of {what}"
    );
    for (g, w) in got.iter().zip(want) {
        let b = &g.bucket;
        let ctx = format!("{what} bucket {}: got {g:?}, want {w:?}", b.start);
        assert_eq!(b.count, w.1, "{ctx}");
        assert!(close(b.sum, w.2), "{ctx}");
        if b.count > 0 {
            assert_eq!(
                (b.min, b.max, b.first, b.last),
                (w.3, w.4, w.5, w.6),
                "{ctx}"
            );
        }
        match (g.consumption, w.7) {
            (Some(a), Some(b)) => assert!(close(a, b), "{ctx}"),
            (None, None) => {}
            _ => panic!("consumption presence differs: {ctx}"),
        }
    }
}

/// The rows of `../shared/data/uk-meters.csv.gz` as (point, ts ms, value) in file order, or
/// `None` (after printing why) when the shared data is not there.
pub fn shared_rows() -> Option<Vec<(String, i64, f64)>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/uk-meters.csv.gz"
    );
    let Ok(f) = std::fs::File::open(path) else {
        eprintln!("skipping: ../shared/data not found ({path})");
        return None;
    };
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for line in r.lines().skip(1) {
        let line = line.expect("reading the shared data");
        let mut it = line.split(',');
        let (p, t, v) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let ts = meterdb::time::parse_timestamp(t).expect("a timestamp");
        out.push((p.to_string(), ts, v.parse().expect("a number")));
    }
    Some(out)
}
