//! redb, the embedded KV store: key `point_id ++ ts` big-endian (the timestamp's sign bit
//! flipped so that order is time order), value the f64's 8 bytes. Q3-Q5 by range scans.

use std::path::Path;
use std::time::Instant;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use super::{Engine, Res, Tier};
use crate::workload::Arrival;

const TABLE: TableDefinition<'_, [u8; 12], f64> = TableDefinition::new("samples");

fn key(p: u32, ts: i64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&p.to_be_bytes());
    k[4..].copy_from_slice(&((ts as u64) ^ (1 << 63)).to_be_bytes());
    k
}

fn ts_of(k: &[u8; 12]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[4..]);
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

pub struct Redb {
    db: Database,
    tier: Tier,
    last_sync: Instant,
}

impl std::fmt::Debug for Redb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redb").field("tier", &self.tier).finish()
    }
}

pub fn describe() -> (String, [String; 3]) {
    (
        "redb, default `Builder` (1 GiB cache, no quick-repair), one table `[u8; 12] -> f64` (key `point_id ++ ts` big-endian), one write transaction per 1,000 samples; settle = a durable commit then `Database::compact()`; Q3-Q5 by range scans plus the shared definition".into(),
        [
            "`Durability::None` on every commit".into(),
            "`Durability::None`, and `Immediate` on the first commit after 1 s since the last durable one (a process crash can lose up to 1 s)".into(),
            "`Durability::Immediate` on every commit".into(),
        ],
    )
}

impl Redb {
    pub fn open(dir: &Path, tier: Tier) -> Res<Redb> {
        let db = Database::create(dir.join("meter.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(Redb {
            db,
            tier,
            last_sync: Instant::now(),
        })
    }

    fn scan(&self, p: u32, from: i64, to: i64, rev: bool, limit: usize) -> Res<Vec<(i64, f64)>> {
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(TABLE)?;
        let range = t.range(key(p, from)..key(p, to))?;
        let mut out = Vec::new();
        let mut push = |r: Result<
            (redb::AccessGuard<'_, [u8; 12]>, redb::AccessGuard<'_, f64>),
            redb::StorageError,
        >|
         -> Res<()> {
            let (k, v) = r?;
            out.push((ts_of(&k.value()), v.value()));
            Ok(())
        };
        if rev {
            for r in range.rev().take(limit) {
                push(r)?;
            }
        } else {
            for r in range.take(limit) {
                push(r)?;
            }
        }
        Ok(out)
    }
}

impl Engine for Redb {
    fn write(&mut self, batch: &[Arrival]) -> Res<()> {
        let mut tx = self.db.begin_write()?;
        let durable = match self.tier {
            Tier::T0 => false,
            Tier::T1 => self.last_sync.elapsed().as_secs_f64() >= 1.0,
            Tier::T2 => true,
        };
        tx.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        {
            let mut t = tx.open_table(TABLE)?;
            for a in batch {
                t.insert(key(a.point, a.ts), a.value)?;
            }
        }
        tx.commit()?;
        if durable {
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    fn settle(&mut self) -> Res<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        tx.commit()?;
        while self.db.compact()? {}
        Ok(())
    }

    fn read_range(&mut self, p: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        self.scan(p, from, to, false, usize::MAX)
    }

    fn before(&mut self, p: u32, t: i64) -> Res<Option<(i64, f64)>> {
        Ok(self.scan(p, i64::MIN, t, true, 1)?.pop())
    }

    fn at_or_after(&mut self, p: u32, t: i64) -> Res<Option<(i64, f64)>> {
        Ok(self.scan(p, t, i64::MAX, false, 1)?.pop())
    }

    fn latest(&mut self, p: u32) -> Res<Option<(i64, f64)>> {
        // Every key of the point: up to and including i64::MAX.
        let rtx = self.db.begin_read()?;
        let t = rtx.open_table(TABLE)?;
        let mut range = t.range(key(p, i64::MIN)..=key(p, i64::MAX))?;
        Ok(match range.next_back() {
            Some(r) => {
                let (k, v) = r?;
                Some((ts_of(&k.value()), v.value()))
            }
            None => None,
        })
    }

    fn close(self: Box<Self>) -> Res<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        tx.commit()?;
        Ok(())
    }
}
