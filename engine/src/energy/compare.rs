//! Period comparisons: each bucket of a summed series with the bucket one period earlier
//! (环比) and the same bucket one year earlier (同比), built on [`Db::rollup_sum`] and
//! [`Db::coal_sum`].

use std::collections::BTreeMap;

use crate::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use crate::{Db, PointId, PointKind, Result, SumRow, Tier, Timestamp};

use super::CoalUnit;

/// A bucket with the same bucket one period earlier (环比) and one year earlier (同比).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Start of the bucket.
    pub start: Timestamp,
    /// The bucket's value: summed consumption for counters, else summed mean.
    pub value: Option<f64>,
    /// The previous bucket's value.
    pub previous: Option<f64>,
    /// Change from the previous bucket, in percent.
    pub previous_change_pct: Option<f64>,
    /// The value of the same bucket a year earlier.
    pub year_ago: Option<f64>,
    /// Change from a year earlier, in percent.
    pub year_change_pct: Option<f64>,
}

/// The change from `then` to `now` in percent (`None` without both, or from zero).
fn pct(now: Option<f64>, then: Option<f64>) -> Option<f64> {
    match (now, then) {
        (Some(n), Some(t)) if t != 0.0 => Some((n - t) / t.abs() * 100.0),
        _ => None,
    }
}

impl Db {
    /// Each bucket of the points' summed series with the bucket one period earlier (环比) and
    /// the same bucket one year earlier (同比), and the changes in percent. The value
    /// compared is the summed consumption when any point is a counter, else the summed mean.
    pub fn compare(
        &self,
        points: &[PointId],
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
        coal: Option<CoalUnit>,
    ) -> Result<Vec<Comparison>> {
        let tz = self.tz_offset_min();
        let counters = points
            .iter()
            .any(|&p| self.point(p).is_some_and(|m| m.kind == PointKind::Counter));
        let value = |r: &SumRow| {
            if counters {
                r.consumption
            } else {
                (r.count > 0).then(|| r.sum / r.count as f64)
            }
        };
        let sum = |from: Timestamp, to: Timestamp| match coal {
            None => self.rollup_sum(points, tier, from, to),
            Some(unit) => self.coal_sum(points, tier, from, to, unit),
        };
        let a = tier.bucket_start(from.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP), tz);
        let prev_from = tier.shift(a, -1, tz);
        let year_from = tier.year_earlier(a, tz);
        let year_to = tier.year_earlier(to.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP), tz);
        let now = sum(prev_from, to)?;
        let then = sum(year_from, year_to.max(year_from + 1))?;
        let by_start: BTreeMap<Timestamp, Option<f64>> =
            now.iter().map(|r| (r.start, value(r))).collect();
        let then: BTreeMap<Timestamp, Option<f64>> =
            then.iter().map(|r| (r.start, value(r))).collect();
        Ok(now
            .iter()
            .filter(|r| r.start >= a)
            .map(|r| {
                let v = value(r);
                let previous = by_start
                    .get(&tier.shift(r.start, -1, tz))
                    .copied()
                    .flatten();
                let year_ago = then.get(&tier.year_earlier(r.start, tz)).copied().flatten();
                Comparison {
                    start: r.start,
                    value: v,
                    previous,
                    previous_change_pct: pct(v, previous),
                    year_ago,
                    year_change_pct: pct(v, year_ago),
                }
            })
            .collect())
    }
}
