//! Export to Apache Parquet files and Arrow record batches (cargo feature `parquet`).
//!
//! [`export`] writes raw samples or the buckets of a rollup tier, for a set of points and a
//! time range, as Parquet files partitioned Hive-style under an output directory:
//!
//! ```text
//! OUT/tier=raw/date=2026-11-24/part-0.parquet
//! OUT/tier=hour/date=2026-11-24/part-0.parquet
//! OUT/tier=day/date=2026-11-01/part-0.parquet     (one directory per month)
//! OUT/tier=month/date=2026-01-01/part-0.parquet   (one directory per year)
//! ```
//!
//! Partitions: raw samples and minute and hour buckets by calendar day, day buckets by
//! calendar month, month and year buckets by calendar year, always in the database's time
//! zone; `date=` is the first day of the partition, so DuckDB and Spark read it as a `DATE`
//! whatever the tier ([`ExportOptions::partition`] chooses a coarser unit). A partition of
//! more than [`ExportOptions::file_rows`] rows is split
//! into `part-0.parquet`, `part-1.parquet`, ...
//!
//! Columns, in this order (see [`raw_schema`] and [`rollup_schema`]):
//!
//! - `point`, `kind`, `unit`, `energy_type`, `tags`: dictionary-encoded strings (`tags` as a
//!   JSON object, null when the point has none; `energy_type` null when empty); `precision`
//!   (UInt8, nullable), `interval_ms` (Int64, nullable), `multiplier` (Float64). Parquet
//!   dictionary-encodes these numeric columns on disk too: they repeat for every row of a
//!   point.
//! - raw: `ts` (timestamp, ms, annotated with the database's zone, e.g. `+08:00`), `value`
//!   (Float64), `quality` (UInt8).
//! - tiers: `start`, `end` (timestamps as above), `count` (UInt64), `sum`, then `min`,
//!   `min_ts`, `max`, `max_ts`, `first`, `first_ts`, `last`, `last_ts` (null for a counter's
//!   bucket with no sample inside an outage), `mean`, `consumption` (null for gauges),
//!   `expected`, `completeness` (null when the point's interval is unknown): exactly what
//!   [`Db::rollup`] returns.
//!
//! Rows are sorted by point key, then time. Files are compressed with zstd, in row groups of
//! [`ExportOptions::row_group_rows`] rows, with the time column delta-encoded. The same data
//! exported twice gives byte-identical files.
//!
//! # Replacing partitions
//!
//! The requested range is widened to whole partitions: an export always writes complete
//! partition directories, and re-exporting a range replaces every partition directory it
//! covers, removing those that no longer hold any data. Each partition is written into
//! `.date=...tmp` beside its final directory, synced, and then swapped in with two renames
//! (`date=X` to `.date=X.old`, `.date=X.tmp` to `date=X`) and a sync of the tier directory,
//! after which the old copy is deleted. A reader that lists `date=*` sees the old partition or
//! the new one, never a half-written file. A crash between the two renames leaves the
//! partition missing, its previous copy kept as `.date=X.old`; the next export into the same
//! tier directory puts that copy back (or removes it when the new one is in place) before it
//! starts, and removes any `.tmp` left over (a removal of an emptied partition interrupted
//! the same way is undone, until that range is exported again). Names starting with `.` are
//! skipped by Spark, and not matched by a `date=*` glob. Run one export at a time into a
//! given output directory: two at once may trip over each other's temporary directories.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, UInt64Array, UInt8Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::catalog::{PointFilter, PointId, PointMeta};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::query::RangeIter;
use crate::rollup::{BucketRow, Tier};
use crate::sample::{Columns, Timestamp, MAX_TIMESTAMP, MIN_TIMESTAMP};
use crate::time::{civil_from_days, format_offset};

/// The Arrow and Parquet crates this module is built on, for callers who need their types.
pub use arrow_array;
pub use arrow_schema;
pub use parquet;

const DAY: i64 = 86_400_000;

/// What to export: raw samples or the buckets of one rollup tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Samples as written: `ts`, `value`, `quality`.
    Raw,
    /// Buckets of a tier, as [`Db::rollup`] returns them.
    Tier(Tier),
}

impl Source {
    /// `"raw"`, `"minute"`, ..., `"year"`: the value of the `tier=` directory.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Raw => "raw",
            Source::Tier(t) => t.as_str(),
        }
    }

    /// Parses `raw` or a tier name.
    pub fn parse(s: &str) -> Result<Source> {
        if s.eq_ignore_ascii_case("raw") {
            return Ok(Source::Raw);
        }
        Tier::parse(s).map(Source::Tier).map_err(|_| {
            Error::invalid(format!(
                "tier {s:?} is not one of raw, minute, hour, day, month, year"
            ))
        })
    }

    /// The calendar unit of one partition directory: a day for raw samples and minute and
    /// hour buckets, a month for day buckets, a year for month and year buckets.
    pub fn partition_unit(self) -> Tier {
        match self {
            Source::Raw | Source::Tier(Tier::Minute) | Source::Tier(Tier::Hour) => Tier::Day,
            Source::Tier(Tier::Day) => Tier::Month,
            Source::Tier(Tier::Month) | Source::Tier(Tier::Year) => Tier::Year,
        }
    }
}

/// The points to export.
#[derive(Clone, Debug)]
pub enum Selection {
    /// These keys; an unknown key is an error.
    Keys(Vec<String>),
    /// Every point the filter matches (`PointFilter::default()`: all points).
    Filter(PointFilter),
}

impl Selection {
    /// The selected points, sorted by key, without repeats.
    pub fn resolve(&self, db: &Db) -> Result<Vec<(PointId, PointMeta)>> {
        let mut v = match self {
            Selection::Keys(keys) => keys
                .iter()
                .map(|k| {
                    let id = db
                        .point_id(k)
                        .ok_or_else(|| Error::NotFound(format!("point {k:?}")))?;
                    let meta = db
                        .point(id)
                        .ok_or_else(|| Error::NotFound(format!("point {k:?}")))?;
                    Ok((id, meta))
                })
                .collect::<Result<Vec<_>>>()?,
            Selection::Filter(f) => db.points(f),
        };
        v.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        v.dedup_by(|a, b| a.0 == b.0);
        Ok(v)
    }
}

/// Settings of an export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Rows per Parquet row group (default 1,048,576).
    pub row_group_rows: usize,
    /// Rows per file before a partition is split into another `part-N.parquet` (default
    /// 16,777,216).
    pub file_rows: usize,
    /// Rows per Arrow batch handed to the Parquet writer (default 65,536).
    pub batch_rows: usize,
    /// zstd level, 1..=22 (default 3).
    pub zstd_level: i32,
    /// The calendar unit of a partition directory: `Tier::Day`, `Month` or `Year`, not finer
    /// than the tier exported; `None` (the default) for [`Source::partition_unit`]. A coarser
    /// one suits small data sets, whose daily files would be mostly footer. Keep to one unit per
    /// output directory: directory names of different units would mix.
    pub partition: Option<Tier>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            row_group_rows: 1 << 20,
            file_rows: 1 << 24,
            batch_rows: 1 << 16,
            zstd_level: 3,
            partition: None,
        }
    }
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows written.
    pub rows: u64,
    /// Parquet files written.
    pub files: u64,
    /// Bytes of the files written.
    pub bytes: u64,
    /// Partition directories written.
    pub partitions: u64,
    /// Partition directories removed because the range no longer holds data there.
    pub removed: u64,
    /// Points selected.
    pub points: usize,
}

/// Progress of an export, reported after each partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportProgress {
    /// Partitions done, with or without data.
    pub partitions_done: u64,
    /// Partitions to look at.
    pub partitions_total: u64,
    /// Rows written so far.
    pub rows: u64,
}

fn ts_type(tz: i32) -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(format_offset(tz).into()))
}

fn dict_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn meta_fields() -> Vec<Field> {
    vec![
        Field::new("point", dict_type(), false),
        Field::new("kind", dict_type(), false),
        Field::new("unit", dict_type(), false),
        Field::new("energy_type", dict_type(), true),
        Field::new("precision", DataType::UInt8, true),
        Field::new("interval_ms", DataType::Int64, true),
        Field::new("multiplier", DataType::Float64, false),
        Field::new("tags", dict_type(), true),
    ]
}

/// The schema of raw samples, timestamps in the zone `tz_offset_min` minutes east of UTC.
pub fn raw_schema(tz_offset_min: i32) -> SchemaRef {
    let mut f = meta_fields();
    f.push(Field::new("ts", ts_type(tz_offset_min), false));
    f.push(Field::new("value", DataType::Float64, false));
    f.push(Field::new("quality", DataType::UInt8, false));
    Arc::new(Schema::new(f))
}

/// The schema of rollup buckets, timestamps in the zone `tz_offset_min` minutes east of UTC.
pub fn rollup_schema(tz_offset_min: i32) -> SchemaRef {
    let ts = ts_type(tz_offset_min);
    let f64n = |n: &str| Field::new(n, DataType::Float64, true);
    let tsn = |n: &str| Field::new(n, ts.clone(), true);
    let mut f = meta_fields();
    f.extend([
        Field::new("start", ts.clone(), false),
        Field::new("end", ts.clone(), false),
        Field::new("count", DataType::UInt64, false),
        Field::new("sum", DataType::Float64, false),
        f64n("min"),
        tsn("min_ts"),
        f64n("max"),
        tsn("max_ts"),
        f64n("first"),
        tsn("first_ts"),
        f64n("last"),
        tsn("last_ts"),
        f64n("mean"),
        f64n("consumption"),
        f64n("expected"),
        f64n("completeness"),
        Field::new("invalid", DataType::UInt64, false),
        Field::new("manual", DataType::UInt64, false),
        Field::new("estimated", DataType::UInt64, false),
        Field::new("backward", DataType::UInt64, false),
    ]);
    Arc::new(Schema::new(f))
}

/// A JSON object of the tags, `None` when there are none.
fn tags_json(tags: &BTreeMap<String, String>) -> Option<String> {
    if tags.is_empty() {
        return None;
    }
    fn esc(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    let mut s = String::from("{");
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        esc(&mut s, k);
        s.push(':');
        esc(&mut s, v);
    }
    s.push('}');
    Some(s)
}

/// A point's metadata as the strings of its columns.
#[derive(Debug)]
struct MetaCols {
    meta: PointMeta,
    kind: &'static str,
    energy_type: Option<String>,
    tags: Option<String>,
}

impl MetaCols {
    fn new(meta: PointMeta) -> MetaCols {
        MetaCols {
            kind: meta.kind.as_str(),
            energy_type: (!meta.energy_type.is_empty()).then(|| meta.energy_type.clone()),
            tags: tags_json(&meta.tags),
            meta,
        }
    }
}

/// The metadata columns of rows that belong to runs of points: `runs` holds
/// `(index into metas, row count)`.
fn meta_arrays(metas: &[Arc<MetaCols>], runs: &[(usize, usize)]) -> Vec<ArrayRef> {
    // One dictionary entry per point of the batch (in run order), keys repeating it.
    let used: Vec<&MetaCols> = runs.iter().map(|&(i, _)| &*metas[i]).collect();
    let keys = |present: &dyn Fn(&MetaCols) -> bool| -> Int32Array {
        runs.iter()
            .enumerate()
            .flat_map(|(j, &(i, n))| {
                let k = present(&metas[i]).then_some(j as i32);
                std::iter::repeat_n(k, n)
            })
            .collect()
    };
    let dict = |f: &dyn Fn(&MetaCols) -> Option<&str>| -> ArrayRef {
        let values = StringArray::from_iter_values(used.iter().map(|m| f(m).unwrap_or("")));
        let k = keys(&|m: &MetaCols| f(m).is_some());
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(k, Arc::new(values))
                .expect("dictionary keys are in bounds"),
        )
    };
    let total: usize = runs.iter().map(|&(_, n)| n).sum();
    let mut precision = Vec::with_capacity(total);
    let mut interval = Vec::with_capacity(total);
    let mut multiplier = Vec::with_capacity(total);
    for &(i, n) in runs {
        let m = &metas[i].meta;
        precision.extend(std::iter::repeat_n(m.precision, n));
        interval.extend(std::iter::repeat_n(m.interval_ms, n));
        multiplier.extend(std::iter::repeat_n(m.multiplier, n));
    }
    vec![
        dict(&|m| Some(m.meta.key.as_str())),
        dict(&|m| Some(m.kind)),
        dict(&|m| Some(m.meta.unit.as_str())),
        dict(&|m| m.energy_type.as_deref()),
        Arc::new(UInt8Array::from(precision)),
        Arc::new(Int64Array::from(interval)),
        Arc::new(Float64Array::from(multiplier)),
        dict(&|m| m.tags.as_deref()),
    ]
}

/// Rows gathered for one record batch: runs of points and their columns.
#[derive(Debug)]
struct RawRows {
    runs: Vec<(usize, usize)>,
    cols: Columns,
}

impl RawRows {
    fn new(cap: usize) -> RawRows {
        RawRows {
            runs: Vec::new(),
            cols: Columns::with_capacity(cap),
        }
    }

    fn len(&self) -> usize {
        self.cols.len()
    }

    fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }

    fn push(&mut self, meta: usize, c: &Columns, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        match self.runs.last_mut() {
            Some((m, n)) if *m == meta => *n += range.len(),
            _ => self.runs.push((meta, range.len())),
        }
        self.cols.extend_from(c, range);
    }

    fn take(&mut self, schema: &SchemaRef, metas: &[Arc<MetaCols>], tz: i32) -> RecordBatch {
        let c = std::mem::take(&mut self.cols);
        let mut arrays = meta_arrays(metas, &self.runs);
        self.runs.clear();
        arrays.push(Arc::new(
            TimestampMillisecondArray::from(c.ts).with_timezone(format_offset(tz)),
        ));
        arrays.push(Arc::new(Float64Array::from(c.values)));
        arrays.push(Arc::new(UInt8Array::from(c.quality)));
        RecordBatch::try_new(schema.clone(), arrays).expect("columns match the raw schema")
    }
}

/// Rows of buckets gathered for one record batch.
#[derive(Debug, Default)]
struct BucketRows {
    runs: Vec<(usize, usize)>,
    rows: Vec<BucketRow>,
}

impl BucketRows {
    fn push(&mut self, meta: usize, rows: &[BucketRow]) {
        if rows.is_empty() {
            return;
        }
        match self.runs.last_mut() {
            Some((m, n)) if *m == meta => *n += rows.len(),
            _ => self.runs.push((meta, rows.len())),
        }
        self.rows.extend_from_slice(rows);
    }

    fn take(&mut self, schema: &SchemaRef, metas: &[Arc<MetaCols>], tz: i32) -> RecordBatch {
        let rows = std::mem::take(&mut self.rows);
        let mut a = meta_arrays(metas, &self.runs);
        self.runs.clear();
        let zone = format_offset(tz);
        let ts = |f: &dyn Fn(&BucketRow) -> Option<Timestamp>| -> ArrayRef {
            Arc::new(
                rows.iter()
                    .map(f)
                    .collect::<TimestampMillisecondArray>()
                    .with_timezone(zone.clone()),
            )
        };
        let f64s = |f: &dyn Fn(&BucketRow) -> Option<f64>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<Float64Array>())
        };
        let some = |r: &BucketRow| r.bucket.count > 0;
        a.push(ts(&|r| Some(r.bucket.start)));
        a.push(ts(&|r| Some(r.end)));
        a.push(Arc::new(
            rows.iter().map(|r| r.bucket.count).collect::<UInt64Array>(),
        ));
        a.push(f64s(&|r| Some(r.bucket.sum)));
        a.push(f64s(&|r| some(r).then_some(r.bucket.min)));
        a.push(ts(&|r| some(r).then_some(r.bucket.min_ts)));
        a.push(f64s(&|r| some(r).then_some(r.bucket.max)));
        a.push(ts(&|r| some(r).then_some(r.bucket.max_ts)));
        a.push(f64s(&|r| some(r).then_some(r.bucket.first)));
        a.push(ts(&|r| some(r).then_some(r.bucket.first_ts)));
        a.push(f64s(&|r| some(r).then_some(r.bucket.last)));
        a.push(ts(&|r| some(r).then_some(r.bucket.last_ts)));
        a.push(f64s(&|r| r.mean));
        a.push(f64s(&|r| r.consumption));
        a.push(f64s(&|r| r.expected));
        a.push(f64s(&|r| r.completeness));
        let u64s = |f: &dyn Fn(&BucketRow) -> u64| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<UInt64Array>())
        };
        a.push(u64s(&|r| r.bucket.invalid));
        a.push(u64s(&|r| r.bucket.manual));
        a.push(u64s(&|r| r.bucket.estimated));
        a.push(u64s(&|r| r.bucket.backward));
        RecordBatch::try_new(schema.clone(), a).expect("columns match the rollup schema")
    }
}

/// An iterator of Arrow record batches over the raw samples of several points in a range:
/// each point's samples in time order, the points one after another in the order given, at
/// most `batch_rows` rows per batch (a batch may hold several points). Columns as
/// [`raw_schema`]. Each point is read from a snapshot taken when the iterator reaches it.
///
/// `D` is how the database is held: `&Db` from [`Db::record_batches`], or an owned handle
/// such as `Arc<Db>` from [`record_batches`] for an iterator that must not borrow (one
/// handed to another thread, or across the C ABI as an Arrow stream).
#[derive(Debug)]
pub struct RecordBatches<D: Deref<Target = Db>> {
    db: D,
    ids: Vec<PointId>,
    metas: Vec<Arc<MetaCols>>,
    next_point: usize,
    iter: Option<RangeIter>,
    from: Timestamp,
    to: Timestamp,
    batch_rows: usize,
    pending: Option<Columns>,
    pending_pos: usize,
    rows: RawRows,
    schema: SchemaRef,
    tz: i32,
    done: bool,
}

impl<D: Deref<Target = Db>> RecordBatches<D> {
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn step(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(c) = &self.pending {
                let cur = self.next_point - 1;
                let room = self.batch_rows - self.rows.len();
                let end = (self.pending_pos + room).min(c.len());
                self.rows.push(cur, c, self.pending_pos..end);
                self.pending_pos = end;
                if end == c.len() {
                    self.pending = None;
                }
                if self.rows.len() >= self.batch_rows {
                    return Ok(Some(self.rows.take(&self.schema, &self.metas, self.tz)));
                }
                continue;
            }
            if let Some(it) = &mut self.iter {
                match it.next_chunk() {
                    Some(c) => {
                        self.pending = Some(c?);
                        self.pending_pos = 0;
                        continue;
                    }
                    None => self.iter = None,
                }
            }
            if self.next_point < self.ids.len() {
                let id = self.ids[self.next_point];
                self.next_point += 1;
                self.iter = Some(self.db.range(id, self.from, self.to)?);
                continue;
            }
            self.done = true;
            return Ok(
                (!self.rows.is_empty()).then(|| self.rows.take(&self.schema, &self.metas, self.tz))
            );
        }
    }
}

impl<D: Deref<Target = Db>> Iterator for RecordBatches<D> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(b) => b.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Db {
    /// The raw samples of `points` with `from <= ts < to` as Arrow record batches of at most
    /// `batch_rows` rows: see [`RecordBatches`].
    pub fn record_batches(
        &self,
        points: &[PointId],
        from: Timestamp,
        to: Timestamp,
        batch_rows: usize,
    ) -> Result<RecordBatches<&Db>> {
        record_batches(self, points, from, to, batch_rows)
    }
}

/// [`Db::record_batches`] with the database held by `db`, e.g. an `Arc<Db>`.
pub fn record_batches<D: Deref<Target = Db>>(
    db: D,
    points: &[PointId],
    from: Timestamp,
    to: Timestamp,
    batch_rows: usize,
) -> Result<RecordBatches<D>> {
    if batch_rows == 0 {
        return Err(Error::invalid("batch_rows must be at least 1"));
    }
    let metas = points
        .iter()
        .map(|&id| {
            db.point(id)
                .map(|m| Arc::new(MetaCols::new(m)))
                .ok_or_else(|| Error::NotFound(format!("point {id}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let tz = db.tz_offset_min();
    Ok(RecordBatches {
        db,
        ids: points.to_vec(),
        metas,
        next_point: 0,
        iter: None,
        from,
        to: to.max(from),
        batch_rows,
        pending: None,
        pending_pos: 0,
        rows: RawRows::new(batch_rows.min(1 << 20)),
        schema: raw_schema(tz),
        tz,
        done: false,
    })
}

/// The name of the partition directory starting at `start`: `date=YYYY-MM-DD`.
fn partition_name(start: Timestamp, tz: i32) -> String {
    let (y, m, d) = civil_from_days((start + i64::from(tz) * 60_000).div_euclid(DAY));
    format!("date={y:04}-{m:02}-{d:02}")
}

fn io_err(ctx: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let ctx = ctx.into();
    move |e| Error::io(ctx, e)
}

fn pq_err(ctx: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> Error + '_ {
    move |e| match e {
        parquet::errors::ParquetError::External(x) => {
            Error::io(format!("write {}", ctx.display()), io::Error::other(x))
        }
        e => Error::io(format!("write {}", ctx.display()), io::Error::other(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("sync {}", dir.display())))
}

/// Puts back or removes what a crash left in a tier directory (see the module's doc).
fn recover_tier_dir(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("list {}", dir.display()), e)),
    };
    let mut changed = false;
    for e in entries {
        let e = e.map_err(io_err(format!("list {}", dir.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if let Some(part) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".old")) {
            let live = dir.join(part);
            if live.exists() {
                fs::remove_dir_all(&path).map_err(io_err(format!("remove {}", path.display())))?;
            } else {
                fs::rename(&path, &live).map_err(io_err(format!("restore {}", live.display())))?;
            }
            changed = true;
        } else if name.starts_with(".date=") && name.ends_with(".tmp") {
            fs::remove_dir_all(&path).map_err(io_err(format!("remove {}", path.display())))?;
            changed = true;
        }
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Swaps the written `.NAME.tmp` in as `NAME` (see the module's doc).
fn swap_in(dir: &Path, name: &str) -> Result<()> {
    let live = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let old = dir.join(format!(".{name}.old"));
    let had = live.exists();
    if had {
        fs::rename(&live, &old).map_err(io_err(format!("rename {}", live.display())))?;
    }
    fs::rename(&tmp, &live).map_err(io_err(format!("rename {}", tmp.display())))?;
    sync_dir(dir)?;
    if had {
        fs::remove_dir_all(&old).map_err(io_err(format!("remove {}", old.display())))?;
    }
    Ok(())
}

/// Removes a partition that no longer holds data, by the same renames.
fn remove_partition(dir: &Path, name: &str) -> Result<()> {
    let live = dir.join(name);
    let old = dir.join(format!(".{name}.old"));
    fs::rename(&live, &old).map_err(io_err(format!("rename {}", live.display())))?;
    sync_dir(dir)?;
    fs::remove_dir_all(&old).map_err(io_err(format!("remove {}", old.display())))
}

/// Writes one partition's files into its temporary directory.
#[derive(Debug)]
struct PartWriter<'o> {
    tmp: PathBuf,
    schema: SchemaRef,
    props: WriterProperties,
    opts: &'o ExportOptions,
    writer: Option<(ArrowWriter<BufWriter<File>>, PathBuf)>,
    file_rows: usize,
    files: u64,
    bytes: u64,
    rows: u64,
}

impl<'o> PartWriter<'o> {
    fn new(
        tmp: PathBuf,
        schema: SchemaRef,
        props: WriterProperties,
        opts: &'o ExportOptions,
    ) -> Self {
        PartWriter {
            tmp,
            schema,
            props,
            opts,
            writer: None,
            file_rows: 0,
            files: 0,
            bytes: 0,
            rows: 0,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut at = 0;
        while at < batch.num_rows() {
            if self.writer.is_some() && self.file_rows >= self.opts.file_rows {
                self.finish_file()?;
            }
            if self.writer.is_none() {
                if self.files == 0 {
                    if self.tmp.exists() {
                        fs::remove_dir_all(&self.tmp)
                            .map_err(io_err(format!("remove {}", self.tmp.display())))?;
                    }
                    fs::create_dir_all(&self.tmp)
                        .map_err(io_err(format!("create {}", self.tmp.display())))?;
                }
                let path = self.tmp.join(format!("part-{}.parquet", self.files));
                let f =
                    File::create(&path).map_err(io_err(format!("create {}", path.display())))?;
                let w = ArrowWriter::try_new(
                    BufWriter::with_capacity(1 << 20, f),
                    self.schema.clone(),
                    Some(self.props.clone()),
                )
                .map_err(pq_err(&path))?;
                self.writer = Some((w, path));
                self.file_rows = 0;
            }
            let n = (batch.num_rows() - at).min(self.opts.file_rows - self.file_rows);
            let (w, path) = self.writer.as_mut().expect("opened above");
            w.write(&batch.slice(at, n)).map_err(pq_err(path))?;
            self.file_rows += n;
            self.rows += n as u64;
            at += n;
        }
        Ok(())
    }

    fn finish_file(&mut self) -> Result<()> {
        if let Some((w, path)) = self.writer.take() {
            let buf = w.into_inner().map_err(pq_err(&path))?;
            let f = buf
                .into_inner()
                .map_err(|e| Error::io(format!("write {}", path.display()), e.into_error()))?;
            f.sync_all()
                .map_err(io_err(format!("sync {}", path.display())))?;
            self.bytes += f
                .metadata()
                .map_err(io_err(format!("stat {}", path.display())))?
                .len();
            self.files += 1;
        }
        Ok(())
    }

    /// Closes the last file and syncs the directory; false when nothing was written.
    fn finish(mut self) -> Result<(bool, u64, u64, u64)> {
        self.finish_file()?;
        if self.files == 0 {
            return Ok((false, 0, 0, 0));
        }
        sync_dir(&self.tmp)?;
        Ok((true, self.files, self.bytes, self.rows))
    }
}

fn writer_props(opts: &ExportOptions, source: Source, tz: i32) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(opts.zstd_level)
        .map_err(|e| Error::invalid(format!("zstd level {}: {e}", opts.zstd_level)))?;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("meterdb.tier".into(), source.as_str().to_string()),
            KeyValue::new("meterdb.tz".into(), format_offset(tz)),
        ]));
    let times: &[&str] = match source {
        Source::Raw => &["ts"],
        Source::Tier(_) => &["start", "end", "min_ts", "max_ts", "first_ts", "last_ts"],
    };
    for c in times {
        let p = ColumnPath::from(*c);
        b = b
            .set_column_dictionary_enabled(p.clone(), false)
            .set_column_encoding(p, Encoding::DELTA_BINARY_PACKED);
    }
    Ok(b.build())
}

/// Exports the samples (`Source::Raw`) or buckets of `points` in `[from, to)` to Parquet
/// files under `out` (see the module's doc for the layout, the columns and how partitions
/// are replaced). The range is widened to whole partitions. `progress` is called after each
/// partition.
#[allow(clippy::too_many_arguments)]
pub fn export(
    db: &Db,
    points: &Selection,
    source: Source,
    from: Timestamp,
    to: Timestamp,
    out: &Path,
    opts: &ExportOptions,
    progress: &mut dyn FnMut(ExportProgress),
) -> Result<ExportSummary> {
    if from >= to {
        return Err(Error::invalid(format!(
            "empty range: from {from} is not before to {to}"
        )));
    }
    if opts.batch_rows == 0 || opts.file_rows == 0 {
        return Err(Error::invalid(
            "batch_rows and file_rows must be at least 1",
        ));
    }
    let tz = db.tz_offset_min();
    let unit = opts.partition.unwrap_or(source.partition_unit());
    let finest = match source {
        Source::Raw => Tier::Day,
        Source::Tier(t) => t.max(Tier::Day),
    };
    if unit < finest {
        return Err(Error::invalid(format!(
            "{} partitions cannot hold {} buckets: use {} or coarser",
            unit.as_str(),
            source.as_str(),
            finest.as_str()
        )));
    }
    let from = from.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
    let to = to.clamp(MIN_TIMESTAMP + 1, MAX_TIMESTAMP + 1);
    // The range widened to whole partitions.
    let (wa, we) = (
        unit.bucket_start(from, tz),
        unit.bucket_end(unit.bucket_start(to - 1, tz), tz),
    );
    let selected = points.resolve(db)?;
    let metas: Vec<Arc<MetaCols>> = selected
        .iter()
        .map(|(_, m)| Arc::new(MetaCols::new(m.clone())))
        .collect();
    // Each point's extent of data in the widened range, to skip partitions without any.
    let mut extents = Vec::with_capacity(selected.len());
    for (id, _) in &selected {
        let first = db.range(*id, wa, we)?.next().transpose()?.map(|s| s.ts);
        let last = db.latest(*id)?.map(|s| s.ts);
        extents.push(match (first, last) {
            (Some(f), Some(l)) => Some((f, l.min(we - 1))),
            _ => None,
        });
    }
    let mut starts: Vec<Timestamp> = Vec::new();
    if let (Some(lo), Some(hi)) = (
        extents.iter().flatten().map(|e| e.0).min(),
        extents.iter().flatten().map(|e| e.1).max(),
    ) {
        let mut p = unit.bucket_start(lo, tz);
        while p <= hi {
            starts.push(p);
            p = unit.bucket_end(p, tz);
        }
    }

    let dir = out.join(format!("tier={}", source.as_str()));
    recover_tier_dir(&dir)?;
    fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
    // Existing partitions in the widened range: replaced or removed.
    let mut stale = std::collections::BTreeSet::new();
    let (first_name, end_name) = (partition_name(wa, tz), partition_name(we, tz));
    for e in fs::read_dir(&dir).map_err(io_err(format!("list {}", dir.display())))? {
        let e = e.map_err(io_err(format!("list {}", dir.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        // `date=YYYY-MM-DD` names sort as their dates (years 1000..=9999).
        if name.starts_with("date=")
            && name.len() == 15
            && name >= first_name
            && (name < end_name || we > MAX_TIMESTAMP)
        {
            stale.insert(name);
        }
    }

    let props = writer_props(opts, source, tz)?;
    let schema = match source {
        Source::Raw => raw_schema(tz),
        Source::Tier(_) => rollup_schema(tz),
    };
    let mut sum = ExportSummary {
        points: selected.len(),
        ..ExportSummary::default()
    };
    let total = starts.len() as u64;
    for (k, &p) in starts.iter().enumerate() {
        let pe = unit.bucket_end(p, tz);
        let name = partition_name(p, tz);
        let mut w = PartWriter::new(
            dir.join(format!(".{name}.tmp")),
            schema.clone(),
            props.clone(),
            opts,
        );
        match source {
            Source::Raw => {
                let mut rows = RawRows::new(opts.batch_rows.min(1 << 20));
                for (i, (id, _)) in selected.iter().enumerate() {
                    if !matches!(extents[i], Some((f, l)) if f < pe && l >= p) {
                        continue;
                    }
                    let c = db.read_range(*id, p, pe)?;
                    let mut at = 0;
                    while at < c.len() {
                        let n = (c.len() - at).min(opts.batch_rows - rows.len());
                        rows.push(i, &c, at..at + n);
                        at += n;
                        if rows.len() >= opts.batch_rows {
                            w.write(&rows.take(&schema, &metas, tz))?;
                        }
                    }
                }
                if !rows.is_empty() {
                    w.write(&rows.take(&schema, &metas, tz))?;
                }
            }
            Source::Tier(tier) => {
                let mut rows = BucketRows::default();
                for (i, (id, _)) in selected.iter().enumerate() {
                    // Partitions are whole buckets, and a counter's buckets inside an
                    // outage lie between two samples: inside the extent.
                    if !matches!(extents[i], Some((f, l)) if f < pe && l >= p) {
                        continue;
                    }
                    let r = db.rollup(*id, tier, p, pe)?;
                    let mut at = 0;
                    while at < r.len() {
                        let n = (r.len() - at).min(opts.batch_rows - rows.rows.len());
                        rows.push(i, &r[at..at + n]);
                        at += n;
                        if rows.rows.len() >= opts.batch_rows {
                            w.write(&rows.take(&schema, &metas, tz))?;
                        }
                    }
                }
                if !rows.rows.is_empty() {
                    w.write(&rows.take(&schema, &metas, tz))?;
                }
            }
        }
        let (wrote, files, bytes, n) = w.finish()?;
        if wrote {
            swap_in(&dir, &name)?;
            stale.remove(&name);
            sum.partitions += 1;
            sum.files += files;
            sum.bytes += bytes;
            sum.rows += n;
        }
        progress(ExportProgress {
            partitions_done: k as u64 + 1,
            partitions_total: total,
            rows: sum.rows,
        });
    }
    for name in stale {
        remove_partition(&dir, &name)?;
        sum.removed += 1;
    }
    Ok(sum)
}
