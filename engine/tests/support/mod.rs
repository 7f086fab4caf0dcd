//! What several engine tests share: a straightforward recomputation of rollup buckets
//! from raw samples, float comparison, and the shared real meter data.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use meterdb::rollup::inc;
use meterdb::{BucketRow, PointKind, PointMeta, Tier};

/// Whether two sums agree to a millionth (relative, or absolute near zero).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// start, count, sum, min, max, first, last, consumption.
pub type RefRow = (i64, u64, f64, f64, f64, f64, f64, Option<f64>);

/// The rows a straightforward recomputation from raw samples (sorted by time) gives.
pub fn reference(samples: &[(i64, f64)], meta: &PointMeta, tier: Tier, tz: i32) -> Vec<RefRow> {
    let counter = meta.kind == PointKind::Counter;
    let mut by: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for &(t, v) in samples {
        by.entry(tier.bucket_start(t, tz)).or_default().push((t, v));
    }
    let mut starts: Vec<i64> = by.keys().copied().collect();
    if counter && !samples.is_empty() {
        // Every bucket from the first sample's to the last's.
        starts.clear();
        let mut s = tier.bucket_start(samples[0].0, tz);
        let last = tier.bucket_start(samples[samples.len() - 1].0, tz);
        while s <= last {
            starts.push(s);
            s = tier.bucket_end(s, tz);
        }
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
            let consumption = counter.then(|| {
                let mut c = 0.0;
                // Only the windows that overlap the bucket (the samples are sorted): the
                // same sum as over every window, without a pass over all of them per bucket.
                let lo = samples.partition_point(|x| x.0 <= s).saturating_sub(1);
                let hi = (samples.partition_point(|x| x.0 < e) + 1).min(samples.len());
                for w in samples[lo..hi].windows(2) {
                    let ((t0, v0), (t1, v1)) = (w[0], w[1]);
                    let lo = s.max(t0);
                    let hi = e.min(t1);
                    if hi > lo {
                        c += inc(v0, v1, meta.rollover) * (hi - lo) as f64 / (t1 - t0) as f64;
                    }
                }
                c * meta.multiplier
            });
            (s, count, sum, min, max, first, last, consumption)
        })
        .collect()
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
