//! MeterDB through its public Rust API.

use std::path::Path;
use std::time::Duration;

use meterdb::{Db, Durability, Options, PointId, WriteBatch};

use super::{Engine, PointBytes, Res, Tier};
use crate::workload::{Arrival, Point};

/// Where MeterDB's consumption answers (Q3-Q5) come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumptionSource {
    /// Raw range reads plus the shared reference definition: all the engine offers today.
    /// When the precomputed day/month rollups land, add a `Rollup` variant that asks the
    /// engine's rollup query instead and make it the default; nothing else in the harness
    /// changes.
    RawRange,
}

#[derive(Debug)]
pub struct MeterDb {
    db: Option<Db>,
    ids: Vec<PointId>,
    batch: WriteBatch,
    source: ConsumptionSource,
}

pub fn describe() -> (String, [String; 3]) {
    (
        "public Rust API, `Options::default()` (64 MiB memtable, 7-day partitions, background flush and compaction) but for durability; one `WriteBatch` per 1,000 samples; settle = `flush()` + `compact()`; Q3-Q5 from raw `read_range` (rollups not landed yet)".into(),
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
            source: ConsumptionSource::RawRange,
        })
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("open until closed")
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
        match self.source {
            ConsumptionSource::RawRange => {
                let (from, to) = (bounds[0], bounds[bounds.len() - 1]);
                points
                    .iter()
                    .map(|&p| {
                        let w = self.consumption_window(p, from, to)?;
                        Ok(crate::reference::consumption(&w, bounds))
                    })
                    .collect()
            }
        }
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
