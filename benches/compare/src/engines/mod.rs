//! The engines under comparison, behind one small interface.
//!
//! Every engine stores `(point, ts, value)` samples, replaces a sample written again at the
//! same timestamp (if it can), and answers the queries. Consumption queries (Q3-Q5) have a
//! default answer from the engine's raw range reads plus the shared reference definition;
//! an engine with an aggregation of its own (SQLite's SQL, later MeterDB's rollups) overrides
//! them.

use std::path::Path;

use crate::reference;
use crate::workload::{Arrival, Point};

mod meterdb;
mod redb_kv;
mod sqlite;
mod tsink_db;
mod victoria;

/// A point's stored figures: (samples, bytes, timestamp bytes, value bytes).
pub type PointBytes = (u64, u64, u64, u64);

/// Errors of the harness.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A durability tier, compared like with like across engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// No sync: acknowledged writes are in the OS, never forced to disk by the engine.
    T0,
    /// Synced on an interval of at most one second.
    T1,
    /// Synced before every acknowledged batch (of 1,000 samples).
    T2,
}

impl Tier {
    /// Its short name.
    pub fn name(self) -> &'static str {
        match self {
            Tier::T0 => "T0",
            Tier::T1 => "T1",
            Tier::T2 => "T2",
        }
    }
}

/// The engines, MeterDB first; the last ones are optional servers.
pub const ENGINES: [&str; 5] = ["meterdb", "sqlite", "redb", "tsink", "victoria"];

/// Whether engine `name` can run here; the reason and how to install it when not.
pub fn available(name: &str) -> Result<(), String> {
    match name {
        "victoria" if victoria::binary().is_none() => Err(
            "VictoriaMetrics skipped: `victoria-metrics` is not on PATH (install: `apt-get install -y victoria-metrics`)".into(),
        ),
        _ => Ok(()),
    }
}

/// Whether engine `name` is a separate server process (no in-process crash test).
pub fn is_server(name: &str) -> bool {
    name == "victoria"
}

/// Whether engine `name` has a setting for `tier`.
pub fn supports(name: &str, tier: Tier) -> bool {
    !is_server(name) || tier == Tier::T1
}

/// One engine, open on a directory.
pub trait Engine {
    /// Writes (and acknowledges at the tier's durability) one batch.
    fn write(&mut self, batch: &[Arrival]) -> Res<()>;
    /// Brings the engine to rest: flushes, compacts, checkpoints, as the engine does.
    fn settle(&mut self) -> Res<()>;
    /// A point's samples with `from <= ts < to`, in time order.
    fn read_range(&mut self, p: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>>;
    /// A point's sample with the greatest timestamp.
    fn latest(&mut self, p: u32) -> Res<Option<(i64, f64)>>;

    /// Q2: the latest sample of points `0..n`.
    fn latest_all(&mut self, n: u32) -> Res<Vec<Option<(i64, f64)>>> {
        (0..n).map(|p| self.latest(p)).collect()
    }
    /// A server engine's processes so far: CPU seconds, bytes written, peak RSS bytes.
    fn server_figures(&self) -> Option<(f64, u64, u64)> {
        None
    }

    /// The last sample with `ts < t`.
    fn before(&mut self, p: u32, t: i64) -> Res<Option<(i64, f64)>> {
        for back in LOOK {
            let from = t.saturating_sub(back).max(MIN_TS);
            if let Some(&x) = self.read_range(p, from, t)?.last() {
                return Ok(Some(x));
            }
            if from == MIN_TS {
                break;
            }
        }
        Ok(None)
    }
    /// The first sample with `ts >= t`.
    fn at_or_after(&mut self, p: u32, t: i64) -> Res<Option<(i64, f64)>> {
        for ahead in LOOK {
            let to = t.saturating_add(ahead).min(MAX_TS);
            if let Some(&x) = self.read_range(p, t, to)?.first() {
                return Ok(Some(x));
            }
            if to == MAX_TS {
                break;
            }
        }
        Ok(None)
    }
    /// Samples for a consumption query over `[from, to)`: inside, plus the boundary-adjacent.
    fn consumption_window(&mut self, p: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        let mut s = Vec::new();
        s.extend(self.before(p, from)?);
        s.extend(self.read_range(p, from, to)?);
        s.extend(self.at_or_after(p, to)?);
        Ok(s)
    }
    /// Q3: consumption of each point in each bucket.
    fn consumption(&mut self, points: &[u32], bounds: &[i64]) -> Res<Vec<Vec<f64>>> {
        let (from, to) = (bounds[0], bounds[bounds.len() - 1]);
        points
            .iter()
            .map(|&p| {
                let w = self.consumption_window(p, from, to)?;
                Ok(reference::consumption(&w, bounds))
            })
            .collect()
    }
    /// Q4: consumption of the points summed, per bucket.
    fn consumption_sum(&mut self, points: &[u32], bounds: &[i64]) -> Res<Vec<f64>> {
        let mut sum = vec![0.0; bounds.len() - 1];
        for c in self.consumption(points, bounds)? {
            for (s, x) in sum.iter_mut().zip(c) {
                *s += x;
            }
        }
        Ok(sum)
    }
    /// Q5: consumption of each point in each bucket times the point's coefficient.
    fn consumption_scaled(
        &mut self,
        points: &[u32],
        coefs: &[f64],
        bounds: &[i64],
    ) -> Res<Vec<Vec<f64>>> {
        let mut c = self.consumption(points, bounds)?;
        for (row, k) in c.iter_mut().zip(coefs) {
            row.iter_mut().for_each(|x| *x *= k);
        }
        Ok(c)
    }
    /// Per point (samples, bytes, timestamp bytes, value bytes), where the engine reports it.
    fn point_bytes(&mut self) -> Res<Option<Vec<PointBytes>>> {
        Ok(None)
    }
    /// Closes the engine, making everything durable.
    fn close(self: Box<Self>) -> Res<()>;
}

const MIN_TS: i64 = ::meterdb::sample::MIN_TIMESTAMP;
const MAX_TS: i64 = ::meterdb::sample::MAX_TIMESTAMP;
/// How far a boundary-adjacent sample is looked for: a day, then further.
const LOOK: [i64; 4] = [
    reference::DAY_MS,
    8 * reference::DAY_MS,
    400 * reference::DAY_MS,
    i64::MAX,
];

/// Opens engine `name` on `dir` at `tier`, defining `points` (index = point id).
pub fn open(name: &str, dir: &Path, tier: Tier, points: &[Point]) -> Res<Box<dyn Engine>> {
    std::fs::create_dir_all(dir)?;
    Ok(match name {
        "meterdb" => Box::new(meterdb::MeterDb::open(dir, tier, points)?),
        "sqlite" => Box::new(sqlite::Sqlite::open(dir, tier)?),
        "redb" => Box::new(redb_kv::Redb::open(dir, tier)?),
        "tsink" => Box::new(tsink_db::Tsink::open(dir, tier, points)?),
        "victoria" => Box::new(victoria::Victoria::open(dir, tier, points)?),
        _ => return Err(format!("unknown engine {name:?}").into()),
    })
}

/// How engine `name` is configured, overall and at each tier, for the report.
pub fn describe(name: &str) -> (String, [String; 3]) {
    match name {
        "meterdb" => meterdb::describe(),
        "sqlite" => sqlite::describe(),
        "redb" => redb_kv::describe(),
        "tsink" => tsink_db::describe(),
        "victoria" => victoria::describe(),
        _ => (String::new(), Default::default()),
    }
}
