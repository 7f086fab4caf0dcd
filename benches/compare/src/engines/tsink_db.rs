//! tsink, an embedded time-series database: metric `energy`, one series per point (label
//! `point`), millisecond timestamps, retention long enough that nothing is dropped,
//! partitions of a day as its tuning guide recommends for coarse intervals kept a year or
//! more. Its aggregations (sum, first, last, ... on epoch-aligned buckets) have no
//! counter increase with resets nor boundary interpolation in UTC+8, so Q3-Q5 read raw
//! samples (`select`) and apply the shared definition.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tsink::{
    Aggregation, DataPoint, Label, QueryOptions, Row, Storage, StorageBuilder, TimestampPrecision,
    WalSyncMode,
};

use super::{Engine, Res, Tier};
use crate::workload::{Arrival, Point};

const METRIC: &str = "energy";

pub struct Tsink {
    st: Arc<dyn Storage>,
    dir: PathBuf,
    tier: Tier,
    labels: Vec<Vec<Label>>,
    rows: Vec<Row>,
}

impl std::fmt::Debug for Tsink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsink").field("dir", &self.dir).finish()
    }
}

pub fn describe() -> (String, [String; 3]) {
    (
        "tsink `StorageBuilder`: `TimestampPrecision::Milliseconds`, retention 100 years (not enforced), partition 24 h, default chunk 2,048 points and 8 partition heads, WAL on; metric `energy` with label `point`; one `insert_rows` per 1,000 samples; settle = `close()` and reopen (it has no public flush); Q3-Q5 from raw `select` plus the shared definition".into(),
        [
            "`WalSyncMode::Periodic(1 h)` (effectively never synced during a run)".into(),
            "`WalSyncMode::Periodic(1 s)`".into(),
            "`WalSyncMode::PerAppend` (fsync per insert)".into(),
        ],
    )
}

fn build(dir: &Path, tier: Tier) -> Res<Arc<dyn Storage>> {
    let sync = match tier {
        Tier::T0 => WalSyncMode::Periodic(Duration::from_secs(3600)),
        Tier::T1 => WalSyncMode::Periodic(Duration::from_secs(1)),
        Tier::T2 => WalSyncMode::PerAppend,
    };
    Ok(StorageBuilder::new()
        .with_data_path(dir)
        .with_timestamp_precision(TimestampPrecision::Milliseconds)
        .with_retention(Duration::from_secs(100 * 365 * 86_400))
        .with_retention_enforced(false)
        .with_partition_duration(Duration::from_secs(86_400))
        .with_wal_enabled(true)
        .with_wal_sync_mode(sync)
        .build()?)
}

fn points_of(v: Vec<DataPoint>) -> Vec<(i64, f64)> {
    v.into_iter()
        .filter_map(|d| d.value.as_f64().map(|x| (d.timestamp, x)))
        .collect()
}

impl Tsink {
    pub fn open(dir: &Path, tier: Tier, points: &[Point]) -> Res<Tsink> {
        Ok(Tsink {
            st: build(dir, tier)?,
            dir: dir.to_path_buf(),
            tier,
            labels: points
                .iter()
                .map(|p| vec![Label::new("point", p.meta.key.clone())])
                .collect(),
            rows: Vec::with_capacity(1_000),
        })
    }
}

impl Engine for Tsink {
    fn write(&mut self, batch: &[Arrival]) -> Res<()> {
        self.rows.clear();
        for a in batch {
            self.rows.push(Row::with_labels(
                METRIC,
                self.labels[a.point as usize].clone(),
                DataPoint::new(a.ts, a.value),
            ));
        }
        self.st.insert_rows(&self.rows)?;
        Ok(())
    }

    fn settle(&mut self) -> Res<()> {
        self.st.close()?;
        self.st = build(&self.dir, self.tier)?;
        Ok(())
    }

    fn read_range(&mut self, p: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        Ok(points_of(self.st.select(
            METRIC,
            &self.labels[p as usize],
            from,
            to,
        )?))
    }

    fn latest(&mut self, p: u32) -> Res<Option<(i64, f64)>> {
        let opts = QueryOptions::new(i64::MIN, i64::MAX)
            .with_labels(self.labels[p as usize].clone())
            .with_aggregation(Aggregation::Last);
        Ok(points_of(self.st.select_with_options(METRIC, opts)?).pop())
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.st.close()?;
        Ok(())
    }
}
