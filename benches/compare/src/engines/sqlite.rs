//! SQLite (bundled) in WAL mode: one `WITHOUT ROWID` table keyed by (point, ts), batches in
//! transactions, `INSERT OR REPLACE` so that a correction replaces. Q3-Q5 in SQL: window
//! functions pair consecutive samples, a bucket table apportions each pair's increase.

use std::path::Path;
use std::time::Instant;

use rusqlite::{params, Connection};

use super::{Engine, Res, Tier};
use crate::workload::Arrival;

#[derive(Debug)]
pub struct Sqlite {
    conn: Connection,
    tier: Tier,
    last_sync: Instant,
}

pub fn describe() -> (String, [String; 3]) {
    (
        "rusqlite (bundled SQLite), `journal_mode=WAL`, table `samples(point_id INTEGER, ts INTEGER, value REAL, PRIMARY KEY(point_id, ts)) WITHOUT ROWID`, one transaction of `INSERT OR REPLACE` per 1,000 samples (prepared, cached statement), default page size, `cache_size=-65536` (64 MiB, MeterDB's memtable budget; the default 2 MiB makes interval-major ingest miss the cache on every row), automatic checkpoints; settle = `wal_checkpoint(TRUNCATE)`; Q3-Q5 as one SQL statement each (LAG window + bucket join + GROUP BY)".into(),
        [
            "`synchronous=OFF`".into(),
            "`synchronous=NORMAL` (WAL synced at checkpoints) plus a `wal_checkpoint(PASSIVE)` at least every 1 s".into(),
            "`synchronous=FULL` (WAL fsync per commit)".into(),
        ],
    )
}

/// Pairs of consecutive samples of the points in `qpoints` that a consumption query over the
/// buckets in `buckets` needs, with each pair's increase (a fall restarts from zero) and the
/// first bucket it may touch.
const PAIRS: &str = "
WITH lim AS (SELECT MIN(start) AS lo, MAX(end) AS hi FROM buckets),
bounds AS (
  SELECT q.point_id AS pid, q.coef AS coef,
    COALESCE((SELECT MAX(s.ts) FROM samples s WHERE s.point_id = q.point_id AND s.ts < lim.lo), lim.lo) AS t_lo,
    COALESCE((SELECT MIN(s.ts) FROM samples s WHERE s.point_id = q.point_id AND s.ts >= lim.hi), lim.hi) AS t_hi
  FROM qpoints q, lim
),
pairs AS (
  SELECT b.pid AS pid, b.coef AS coef,
    LAG(s.ts) OVER w AS t0, LAG(s.value) OVER w AS v0, s.ts AS t1, s.value AS v1
  FROM bounds b JOIN samples s ON s.point_id = b.pid AND s.ts BETWEEN b.t_lo AND b.t_hi
  WINDOW w AS (PARTITION BY s.point_id ORDER BY s.ts)
),
incs AS (
  SELECT pid, coef, t0, t1, CASE WHEN v1 >= v0 THEN v1 - v0 ELSE v1 END AS inc,
    COALESCE((SELECT start FROM buckets WHERE start <= t0 ORDER BY start DESC LIMIT 1),
             (SELECT lo FROM lim)) AS b_first
  FROM pairs WHERE t0 IS NOT NULL
)";

const SHARE: &str = "i.inc * (MIN(i.t1, b.end) - MAX(i.t0, b.start)) / (i.t1 - i.t0)";
const JOIN: &str =
    "FROM incs i JOIN buckets b ON b.start >= i.b_first AND b.start < i.t1 AND b.end > i.t0";

impl Sqlite {
    pub fn open(dir: &Path, tier: Tier) -> Res<Sqlite> {
        let conn = Connection::open(dir.join("meter.sqlite"))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("SQLite refused WAL mode: {mode}").into());
        }
        let sync = match tier {
            Tier::T0 => "OFF",
            Tier::T1 => "NORMAL",
            Tier::T2 => "FULL",
        };
        // A 64 MiB page cache, MeterDB's memtable budget: SQLite's default 2 MiB turns an
        // interval-major ingest into a page-cache miss per row once the table outgrows it.
        conn.execute_batch(&format!(
            "PRAGMA synchronous={sync};
             PRAGMA cache_size=-65536;
             CREATE TABLE IF NOT EXISTS samples(point_id INTEGER, ts INTEGER, value REAL,
                 PRIMARY KEY(point_id, ts)) WITHOUT ROWID;
             CREATE TEMP TABLE buckets(start INTEGER PRIMARY KEY, end INTEGER NOT NULL, idx INTEGER NOT NULL);
             CREATE TEMP TABLE qpoints(point_id INTEGER PRIMARY KEY, coef REAL NOT NULL);"
        ))?;
        Ok(Sqlite {
            conn,
            tier,
            last_sync: Instant::now(),
        })
    }

    /// Fills the temporary query tables: the points (with coefficients) and the buckets.
    fn prepare(&mut self, points: &[u32], coefs: Option<&[f64]>, bounds: &[i64]) -> Res<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM buckets", [])?;
        tx.execute("DELETE FROM qpoints", [])?;
        {
            let mut st = tx.prepare("INSERT INTO buckets VALUES (?1, ?2, ?3)")?;
            for (k, w) in bounds.windows(2).enumerate() {
                st.execute(params![w[0], w[1], k as i64])?;
            }
            let mut st = tx.prepare("INSERT INTO qpoints VALUES (?1, ?2)")?;
            for (i, &p) in points.iter().enumerate() {
                st.execute(params![p, coefs.map_or(1.0, |c| c[i])])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn grouped(
        &mut self,
        points: &[u32],
        coefs: Option<&[f64]>,
        bounds: &[i64],
    ) -> Res<Vec<Vec<f64>>> {
        self.prepare(points, coefs, bounds)?;
        let sql = format!(
            "{PAIRS} SELECT i.pid, b.idx, SUM({SHARE} * i.coef) {JOIN} GROUP BY i.pid, b.idx"
        );
        let pos: std::collections::HashMap<u32, usize> =
            points.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        let mut out = vec![vec![0.0; bounds.len() - 1]; points.len()];
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let (p, k, v): (u32, i64, f64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            out[pos[&p]][k as usize] = v;
        }
        Ok(out)
    }
}

impl Engine for Sqlite {
    fn write(&mut self, batch: &[Arrival]) -> Res<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO samples(point_id, ts, value) VALUES (?1, ?2, ?3)",
            )?;
            for a in batch {
                st.execute(params![a.point, a.ts, a.value])?;
            }
        }
        tx.commit()?;
        if self.tier == Tier::T1 && self.last_sync.elapsed().as_secs_f64() >= 1.0 {
            self.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    fn settle(&mut self) -> Res<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn read_range(&mut self, p: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT ts, value FROM samples WHERE point_id = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts",
        )?;
        let rows = st.query_map(params![p, from, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest(&mut self, p: u32) -> Res<Option<(i64, f64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT ts, value FROM samples WHERE point_id = ?1 ORDER BY ts DESC LIMIT 1",
        )?;
        let mut rows = st.query_map(params![p], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.next().transpose()?)
    }

    fn consumption(&mut self, points: &[u32], bounds: &[i64]) -> Res<Vec<Vec<f64>>> {
        self.grouped(points, None, bounds)
    }

    fn consumption_sum(&mut self, points: &[u32], bounds: &[i64]) -> Res<Vec<f64>> {
        self.prepare(points, None, bounds)?;
        let sql = format!("{PAIRS} SELECT b.idx, SUM({SHARE}) {JOIN} GROUP BY b.idx");
        let mut out = vec![0.0; bounds.len() - 1];
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let (k, v): (i64, f64) = (r.get(0)?, r.get(1)?);
            out[k as usize] = v;
        }
        Ok(out)
    }

    fn consumption_scaled(
        &mut self,
        points: &[u32],
        coefs: &[f64],
        bounds: &[i64],
    ) -> Res<Vec<Vec<f64>>> {
        self.grouped(points, Some(coefs), bounds)
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}
