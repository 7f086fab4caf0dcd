//! MeterDB through its public Rust API.

use std::path::Path;
use std::time::Duration;

use meterdb::{Db, Durability, Options, PointId, Tier as RollupTier, WriteBatch};

use super::{Engine, PointBytes, Res, Tier};
use crate::workload::{Arrival, Point};

/// Where MeterDB's consumption answers (Q3-Q5) come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumptionSource {
    /// Raw range reads plus the shared reference definition (`reference::consumption`).
    RawRange,
    /// The engine's precomputed rollups: Q3 from `Db::rollup` at the day tier, Q4 from
    /// `Db::rollup_sum`, Q5 from the month tier per point times the harness's coefficient.
    /// A bucket that is not a calendar month of the database's zone but starts and ends on
    /// its midnights (the clipped first or last month of a window) is the sum of its days.
    /// A query with a bucket that is not whole days of the database's zone falls back to
    /// `RawRange`. The default.
    Rollup,
}

/// Environment variable that selects the source: `raw-range` or `rollup` (the default), so
/// that a run can reproduce the figures of either.
pub const SOURCE_VAR: &str = "MC_METERDB_CONSUMPTION";

/// The source this process uses.
pub fn source() -> ConsumptionSource {
    match std::env::var(SOURCE_VAR).as_deref() {
        Ok("raw-range") => ConsumptionSource::RawRange,
        _ => ConsumptionSource::Rollup,
    }
}

#[derive(Debug)]
pub struct MeterDb {
    db: Option<Db>,
    ids: Vec<PointId>,
    batch: WriteBatch,
    source: ConsumptionSource,
}

pub fn describe() -> (String, [String; 3]) {
    let q = match source() {
        ConsumptionSource::Rollup => "Q3-Q5 from the precomputed rollups (`Options::default()` keeps every tier, calendar buckets of +08:00): Q3 `rollup(Tier::Day)`, Q4 `rollup_sum(Tier::Day)`, Q5 `rollup(Tier::Month)` per point times the coefficient (a clipped month as the sum of its days)",
        ConsumptionSource::RawRange => "Q3-Q5 from raw `read_range` plus the harness's reference formula (`MC_METERDB_CONSUMPTION=raw-range`)",
    };
    (
        format!("public Rust API, `Options::default()` (64 MiB memtable, 7-day partitions, background flush and compaction) but for durability; one `WriteBatch` per 1,000 samples; settle = `flush()` + `compact()`; {q}"),
        [
            "`Durability::None`".into(),
            "`Durability::Interval(1 s)`".into(),
            "`Durability::Sync` (fsync per batch)".into(),
        ],
    )
}

impl MeterDb {
    pub fn open(dir: &Path, tier: Tier, points: &[Point]) -> Res<MeterDb> {
        let durability = match tier {
            Tier::T0 => Durability::None,
            Tier::T1 => Durability::Interval(Duration::from_secs(1)),
            Tier::T2 => Durability::Sync,
        };
        let db = Db::open(dir, Options::default().durability(durability))?;
        let ids = points
            .iter()
            .map(|p| db.define_point(p.meta.clone()))
            .collect::<Result<_, _>>()?;
        Ok(MeterDb {
            db: Some(db),
            ids,
            batch: WriteBatch::with_capacity(1_000),
            source: source(),
        })
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("open until closed")
    }

    /// The runs of consecutive buckets of `bounds` that one rollup call each answers:
    /// `(tier, k0, k1)` for buckets `k0..k1`. A bucket is taken from the month tier when it
    /// is a calendar month of the database's zone, else from the day tier when it starts and
    /// ends on that zone's midnights; `None` (answer from raw reads) when some bucket does
    /// neither, since a rollup bucket cannot be split.
    fn tier_runs(&self, bounds: &[i64]) -> Option<Vec<(RollupTier, usize, usize)>> {
        let tz = self.db().tz_offset_min();
        let mut runs: Vec<(RollupTier, usize, usize)> = Vec::new();
        for (k, b) in bounds.windows(2).enumerate() {
            let (b0, b1) = (b[0], b[1]);
            let whole = |t: RollupTier| t.bucket_start(b0, tz) == b0 && t.bucket_end(b0, tz) == b1;
            let midnight = |x: i64| RollupTier::Day.bucket_start(x, tz) == x;
            let tier = if whole(RollupTier::Month) {
                RollupTier::Month
            } else if b1 > b0 && midnight(b0) && midnight(b1) {
                RollupTier::Day
            } else {
                return None;
            };
            match runs.last_mut() {
                Some(r) if r.0 == tier && r.2 == k => r.2 = k + 1,
                _ => runs.push((tier, k, k + 1)),
            }
        }
        Some(runs)
    }

    /// The rollup calls that answer a consumption query over `bounds`; `None` when it is to
    /// be answered from raw reads: the source is `RawRange`, or the bounds are not whole
    /// days of the database's zone (the fallback).
    fn rollup_runs(&self, bounds: &[i64]) -> Option<Vec<(RollupTier, usize, usize)>> {
        match self.source {
            ConsumptionSource::Rollup => self.tier_runs(bounds),
            ConsumptionSource::RawRange => None,
        }
    }

    /// The bucket of `bounds` holding a rollup row that starts at `start`.
    fn bucket_of(bounds: &[i64], start: i64) -> Option<usize> {
        bounds
            .partition_point(|&b| b <= start)
            .checked_sub(1)
            .filter(|&k| k + 1 < bounds.len())
    }

    /// Consumption of one point per bucket from its rollup rows. A bucket with no row (before
    /// the first sample or after the last) consumed nothing, as in the reference. The rows'
    /// consumption includes the point's multiplier, 1 for every workload point.
    fn rollup_consumption(
        &self,
        p: u32,
        bounds: &[i64],
        runs: &[(RollupTier, usize, usize)],
    ) -> Res<Vec<f64>> {
        let mut out = vec![0.0; bounds.len() - 1];
        for &(tier, k0, k1) in runs {
            let rows = self
                .db()
                .rollup(self.ids[p as usize], tier, bounds[k0], bounds[k1])?;
            for r in rows {
                if let Some(k) = Self::bucket_of(bounds, r.bucket.start) {
                    out[k] += r.consumption.unwrap_or(0.0);
                }
            }
        }
        Ok(out)
    }
}

impl Engine for MeterDb {
    fn write(&mut self, batch: &[Arrival]) -> Res<()> {
        self.batch.clear();
        for a in batch {
            self.batch.put(self.ids[a.point as usize], a.ts, a.value);
        }
        self.db().write(&self.batch)?;
        Ok(())
    }

    fn settle(&mut self) -> Res<()> {
        self.db().flush()?;
        self.db().compact()?;
        Ok(())
    }

    fn read_range(&mut self, p: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        let c = self.db().read_range(self.ids[p as usize], from, to)?;
        Ok(c.ts.into_iter().zip(c.values).collect())
    }

    fn latest(&mut self, p: u32) -> Res<Option<(i64, f64)>> {
        Ok(self
            .db()
            .latest(self.ids[p as usize])?
            .map(|s| (s.ts, s.value)))
    }

    fn consumption(&mut self, points: &[u32], bounds: &[i64]) -> Res<Vec<Vec<f64>>> {
        if let Some(runs) = self.rollup_runs(bounds) {
            return points
                .iter()
                .map(|&p| self.rollup_consumption(p, bounds, &runs))
                .collect();
        }
        let (from, to) = (bounds[0], bounds[bounds.len() - 1]);
        points
            .iter()
            .map(|&p| {
                let w = self.consumption_window(p, from, to)?;
                Ok(crate::reference::consumption(&w, bounds))
            })
            .collect()
    }

    fn consumption_sum(&mut self, points: &[u32], bounds: &[i64]) -> Res<Vec<f64>> {
        let Some(runs) = self.rollup_runs(bounds) else {
            // The trait's default: per point as `consumption` answers, summed.
            let mut sum = vec![0.0; bounds.len() - 1];
            for c in self.consumption(points, bounds)? {
                for (s, x) in sum.iter_mut().zip(c) {
                    *s += x;
                }
            }
            return Ok(sum);
        };
        let ids: Vec<PointId> = points.iter().map(|&p| self.ids[p as usize]).collect();
        let mut sum = vec![0.0; bounds.len() - 1];
        for (tier, k0, k1) in runs {
            for r in self.db().rollup_sum(&ids, tier, bounds[k0], bounds[k1])? {
                if let Some(k) = Self::bucket_of(bounds, r.start) {
                    sum[k] += r.consumption.unwrap_or(0.0);
                }
            }
        }
        Ok(sum)
    }

    fn point_bytes(&mut self) -> Res<Option<Vec<PointBytes>>> {
        let st = self.db().stats()?;
        let mut out = vec![(0, 0, 0, 0); self.ids.len()];
        for (i, id) in self.ids.iter().enumerate() {
            if let Some(s) = st
                .per_point
                .get(*id as usize)
                .filter(|s| s.id == *id)
                .or_else(|| st.per_point.iter().find(|s| s.id == *id))
            {
                out[i] = (s.samples, s.bytes, s.ts_bytes, s.value_bytes);
            }
        }
        Ok(Some(out))
    }

    fn close(mut self: Box<Self>) -> Res<()> {
        if let Some(db) = self.db.take() {
            db.close()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{self, day_bounds, month_bounds, wrong_buckets, DAY_MS};
    use crate::workload::{self, Scale, YEAR_START};

    /// The rollup answers equal the reference on W3's dirty data (late, corrected, replaced,
    /// interrupted) over whole and clipped months, a window reaching past the data on both
    /// sides, and bounds off the zone's midnights (the raw fallback).
    #[test]
    fn rollup_answers_equal_the_reference() {
        let scale = Scale {
            plant_days: 75,
            ..Scale::parse("smoke").expect("smoke scale")
        };
        let w = workload::w3(&scale);
        let dir = std::env::temp_dir().join(format!("mc-meterdb-rollup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut e = MeterDb::open(&dir, Tier::T0, &w.points).expect("open");
        e.source = ConsumptionSource::Rollup;
        for b in w.arrivals.chunks(1_000) {
            e.write(b).expect("write");
        }
        e.settle().expect("settle");
        let counters = w.counters();
        let hour = 3_600_000;
        let cases = [
            (
                "months from a month before the data",
                month_bounds(YEAR_START - 31 * DAY_MS, w.end),
                Some(RollupTier::Month),
            ),
            (
                "clipped months",
                month_bounds(YEAR_START + 10 * DAY_MS, w.end),
                Some(RollupTier::Month),
            ),
            (
                "days past the end",
                day_bounds(YEAR_START + 60 * DAY_MS, 30),
                Some(RollupTier::Day),
            ),
            ("days off midnight", day_bounds(YEAR_START + hour, 20), None),
        ];
        for (what, bounds, tier) in cases {
            let runs = e.tier_runs(&bounds);
            assert_eq!(
                runs.as_ref()
                    .map(|r| r.iter().any(|x| x.0 == RollupTier::Month)),
                tier.map(|t| t == RollupTier::Month),
                "{what}: {runs:?}"
            );
            let got = e.consumption(&counters, &bounds).expect("consumption");
            let want: Vec<Vec<f64>> = counters
                .iter()
                .map(|&p| {
                    let s = reference::window(
                        &w.truth[p as usize],
                        bounds[0],
                        bounds[bounds.len() - 1],
                    );
                    reference::consumption(s, &bounds)
                })
                .collect();
            for (p, (g, x)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    wrong_buckets(g, x),
                    0,
                    "{what}, counter {p}: {g:?} vs {x:?}"
                );
            }
            let sum = e.consumption_sum(&counters, &bounds).expect("sum");
            let mut want_sum = vec![0.0; bounds.len() - 1];
            for row in &want {
                for (s, x) in want_sum.iter_mut().zip(row) {
                    *s += x;
                }
            }
            assert_eq!(
                wrong_buckets(&sum, &want_sum),
                0,
                "{what}: {sum:?} vs {want_sum:?}"
            );
        }
        Box::new(e).close().expect("close");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
