//! The provincial history service's table `bv_infodb_energydata_province`: one row per point,
//! data type, granularity and period, read from the engine's rollup tiers ([`Db::rollup`])
//! and written as one Parquet file (and, on request, a CSV file of the same rows) with
//! `provincial history export`. The columns are documented in examples/README.md
//! ("The history table").
//!
//! Rows: the collected (real-time) points of every unit at each chosen granularity
//! (`data_type` `collected`), and the statistics units reported (`{enterprise}/{code}/d`,
//! `/m`, `/y`) at their own granularity only (`data_type` `reported`). The platform's own
//! points (`_hwm/...`, `_rev/...`) are left out. Rows are sorted by enterprise, data code,
//! data type, granularity (minute to year) and period start.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use meterdb::export::arrow_array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use meterdb::export::arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use meterdb::export::parquet::arrow::ArrowWriter;
use meterdb::export::parquet::basic::{Compression, ZstdLevel};
use meterdb::export::parquet::file::properties::WriterProperties;
use meterdb::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use meterdb::time::{civil_from_days, format_offset};
use meterdb::{Db, PointFilter, PointKind, Tier};

use crate::industry::{DataCode, Measure};
use crate::outbound::parse_key;
use crate::records::{STAT_DAY, STAT_MONTH, STAT_REALTIME};

/// The table's name, and the files' stem (`{TABLE}.parquet`, `{TABLE}.csv`).
pub const TABLE: &str = "bv_infodb_energydata_province";

/// Rows per Arrow batch (and Parquet row group at most).
const BATCH_ROWS: usize = 65_536;

const DAY: i64 = 86_400_000;

/// What to export.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// Granularities of the collected points (minute rows can be huge: the default is hour,
    /// day, month and year). Reported statistics are exported at their own granularity when
    /// it is among these.
    pub granularities: Vec<Tier>,
    /// Periods starting at or after this time (ms), when given.
    pub from: Option<i64>,
    /// Periods starting before this time (ms), when given.
    pub to: Option<i64>,
    /// Write `{TABLE}.csv` beside the Parquet file.
    pub csv: bool,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            granularities: vec![Tier::Hour, Tier::Day, Tier::Month, Tier::Year],
            from: None,
            to: None,
            csv: false,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct HistorySummary {
    /// The Parquet file.
    pub parquet: PathBuf,
    /// The CSV file, when asked for.
    pub csv: Option<PathBuf>,
    /// Rows per granularity, minute to year.
    pub rows: Vec<(Tier, u64)>,
    /// Points read.
    pub points: usize,
}

impl HistorySummary {
    /// All rows.
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|r| r.1).sum()
    }
}

/// The table's Arrow schema; `tz` is the database's zone (`+08:00` for the platform).
pub fn schema(tz: &str) -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some(tz.into()));
    let f64n = |n: &str| Field::new(n, DataType::Float64, true);
    let u64c = |n: &str| Field::new(n, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        Field::new("enterprise_code", DataType::Utf8, false),
        Field::new("data_code", DataType::Utf8, false),
        Field::new("energy_type", DataType::Utf8, true),
        Field::new("unit", DataType::Utf8, true),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("granularity", DataType::Utf8, false),
        Field::new("period_start", ts(), false),
        Field::new("period_end", ts(), false),
        f64n("value"),
        f64n("consumption"),
        f64n("min"),
        f64n("max"),
        u64c("count"),
        f64n("completeness"),
        f64n("kgce"),
        u64c("invalid"),
        u64c("manual"),
        u64c("estimated"),
        u64c("backward"),
    ]))
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
struct Row<'a> {
    enterprise: &'a str,
    code: &'a str,
    energy_type: Option<&'a str>,
    unit: Option<&'a str>,
    data_type: &'static str,
    granularity: &'static str,
    start: i64,
    end: i64,
    value: Option<f64>,
    consumption: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    count: u64,
    completeness: Option<f64>,
    kgce: Option<f64>,
    quality: [u64; 4],
}

#[derive(Default)]
struct Columns {
    enterprise: Vec<String>,
    code: Vec<String>,
    energy_type: Vec<Option<String>>,
    unit: Vec<Option<String>>,
    data_type: Vec<&'static str>,
    granularity: Vec<&'static str>,
    start: Vec<i64>,
    end: Vec<i64>,
    f: [Vec<Option<f64>>; 6],
    count: Vec<u64>,
    quality: [Vec<u64>; 4],
}

struct Writer {
    schema: SchemaRef,
    parquet: ArrowWriter<File>,
    csv: Option<BufWriter<File>>,
    cols: Columns,
    tz_ms: i64,
    tz: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// RFC 3339 text of `ts` in the zone `tz_ms` from UTC (`2026-01-01T00:00:00+08:00`).
pub fn rfc3339(ts: i64, tz_ms: i64, tz: &str) -> String {
    let l = ts + tz_ms;
    let (y, m, d) = civil_from_days(l.div_euclid(86_400_000));
    let s = l.rem_euclid(86_400_000) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{tz}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Writer {
    fn push(&mut self, r: &Row<'_>) -> Result<(), String> {
        if let Some(w) = &mut self.csv {
            let o = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            let s = |v: Option<&str>| v.map(csv_text).unwrap_or_default();
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_text(r.enterprise),
                csv_text(r.code),
                s(r.energy_type),
                s(r.unit),
                r.data_type,
                r.granularity,
                rfc3339(r.start, self.tz_ms, &self.tz),
                rfc3339(r.end, self.tz_ms, &self.tz),
                o(r.value),
                o(r.consumption),
                o(r.min),
                o(r.max),
                r.count,
                o(r.completeness),
                o(r.kgce),
                r.quality[0],
                r.quality[1],
                r.quality[2],
                r.quality[3],
            )
            .map_err(|e| err("writing the CSV file", e))?;
        }
        let c = &mut self.cols;
        c.enterprise.push(r.enterprise.to_string());
        c.code.push(r.code.to_string());
        c.energy_type.push(r.energy_type.map(str::to_string));
        c.unit.push(r.unit.map(str::to_string));
        c.data_type.push(r.data_type);
        c.granularity.push(r.granularity);
        c.start.push(r.start);
        c.end.push(r.end);
        for (v, x) in
            c.f.iter_mut()
                .zip([r.value, r.consumption, r.min, r.max, r.completeness, r.kgce])
        {
            v.push(x);
        }
        c.count.push(r.count);
        for (v, x) in c.quality.iter_mut().zip(r.quality) {
            v.push(x);
        }
        if c.start.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        let c = std::mem::take(&mut self.cols);
        if c.start.is_empty() {
            return Ok(());
        }
        let ts = |v: Vec<i64>| -> ArrayRef {
            Arc::new(TimestampMillisecondArray::from(v).with_timezone(self.tz.as_str()))
        };
        let [value, consumption, min, max, completeness, kgce] = c.f;
        let [invalid, manual, estimated, backward] = c.quality;
        let f = |v: Vec<Option<f64>>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
        let u = |v: Vec<u64>| -> ArrayRef { Arc::new(UInt64Array::from(v)) };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(c.enterprise)),
            Arc::new(StringArray::from(c.code)),
            Arc::new(StringArray::from(c.energy_type)),
            Arc::new(StringArray::from(c.unit)),
            Arc::new(StringArray::from(c.data_type)),
            Arc::new(StringArray::from(c.granularity)),
            ts(c.start),
            ts(c.end),
            f(value),
            f(consumption),
            f(min),
            f(max),
            u(c.count),
            f(completeness),
            f(kgce),
            u(invalid),
            u(manual),
            u(estimated),
            u(backward),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| err("building a batch", e))?;
        self.parquet
            .write(&batch)
            .map_err(|e| err("writing the Parquet file", e))
    }
}

/// The statistic type a granularity's reported statistics are stored under.
fn reported_tier(stat_type: u8) -> Tier {
    match stat_type {
        STAT_DAY => Tier::Day,
        STAT_MONTH => Tier::Month,
        _ => Tier::Year,
    }
}

/// Writes the table from the platform's database `db` into the directory `out`
/// (`{TABLE}.parquet`, and `{TABLE}.csv` with `opts.csv`). Each file is written beside its
/// final name and renamed into place once complete.
pub fn export_history(
    db: &Db,
    out: &Path,
    opts: &HistoryOptions,
) -> Result<HistorySummary, String> {
    let mut tiers = opts.granularities.clone();
    tiers.sort_by_key(|t| *t as u8);
    tiers.dedup();
    if tiers.is_empty() {
        return Err("no granularity to export".into());
    }
    std::fs::create_dir_all(out).map_err(|e| err(&out.display().to_string(), e))?;
    let tz_min = db.tz_offset_min();
    let tz = format_offset(tz_min);
    let schema = schema(&tz);
    let final_pq = out.join(format!("{TABLE}.parquet"));
    let tmp_pq = out.join(format!(".{TABLE}.parquet.tmp"));
    let final_csv = out.join(format!("{TABLE}.csv"));
    let tmp_csv = out.join(format!(".{TABLE}.csv.tmp"));
    let file = File::create(&tmp_pq).map_err(|e| err(&tmp_pq.display().to_string(), e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(BATCH_ROWS))
        .build();
    let parquet = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .map_err(|e| err("starting the Parquet file", e))?;
    let csv = if opts.csv {
        let f = File::create(&tmp_csv).map_err(|e| err(&tmp_csv.display().to_string(), e))?;
        let mut w = BufWriter::new(f);
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        writeln!(w, "{}", names.join(",")).map_err(|e| err("writing the CSV file", e))?;
        Some(w)
    } else {
        None
    };
    let mut w = Writer {
        schema,
        parquet,
        csv,
        cols: Columns::default(),
        tz_ms: i64::from(tz_min) * 60_000,
        tz,
    };

    // Points sorted by (enterprise, code, collected before reported).
    let mut points: Vec<_> = db
        .points(&PointFilter::default())
        .into_iter()
        .filter_map(|(id, m)| {
            let (e, c, st) = parse_key(&m.key)?;
            Some(((e.to_string(), c.to_string(), st), id, m))
        })
        .collect();
    points.sort_by(|a, b| a.0.cmp(&b.0));
    let mut counts = vec![0u64; tiers.len()];
    let from = opts.from.unwrap_or(MIN_TIMESTAMP);
    let to = opts.to.unwrap_or(MAX_TIMESTAMP + 1);
    for ((ent, code, st), id, meta) in &points {
        // The point's extent, from its year buckets (cheap), bounds the finer queries.
        let years = db
            .rollup(*id, Tier::Year, from, to)
            .map_err(|e| err(&meta.key, e))?;
        let (Some(first), Some(last)) = (years.first(), years.last()) else {
            continue;
        };
        let (a, b) = (from.max(first.bucket.start), to.min(last.end));
        let dc = DataCode::parse(code).ok();
        let energy_type = (!meta.energy_type.is_empty()).then_some(meta.energy_type.as_str());
        let unit = (!meta.unit.is_empty()).then_some(meta.unit.as_str());
        for (i, &tier) in tiers.iter().enumerate() {
            if *st != STAT_REALTIME && reported_tier(*st) != tier {
                continue;
            }
            // Minutes and hours a day at a time (a point's rows of one query are held in
            // memory); coarser ones in one query.
            let mut w0 = a;
            while w0 < b {
                let w1 = if matches!(tier, Tier::Minute | Tier::Hour) {
                    let l = w0 + w.tz_ms;
                    (l.div_euclid(DAY) + 1) * DAY - w.tz_ms
                } else {
                    b
                }
                .min(b);
                let rows = db
                    .rollup(*id, tier, w0, w1)
                    .map_err(|e| err(&meta.key, e))?;
                // (`Db::rollup` moves `from` back to its bucket's start: a month or year that
                // starts before `from` is left out here, and no bucket is read twice.)
                for r in rows.iter().filter(|r| r.bucket.start >= w0) {
                    let bk = &r.bucket;
                    let some = bk.count > 0;
                    let (value, consumption, kgce) = if *st != STAT_REALTIME {
                        // A reported statistic: the value of its one sample per bucket.
                        let c = dc
                            .as_ref()
                            .filter(|d| d.measure == Measure::Consumption)
                            .and(r.mean);
                        let coal = dc.as_ref().map(|d| d.energy.kgce_per_unit);
                        let k = c.zip(coal.filter(|k| *k > 0.0)).map(|(c, k)| c * k);
                        (r.mean, c, k)
                    } else if meta.kind == PointKind::Counter {
                        let k = r
                            .consumption
                            .zip(meta.coal_at(bk.start))
                            .map(|(c, k)| c * k);
                        (r.consumption, r.consumption, k)
                    } else {
                        (r.mean, None, None)
                    };
                    w.push(&Row {
                        enterprise: ent,
                        code,
                        energy_type,
                        unit,
                        data_type: if *st == STAT_REALTIME {
                            "collected"
                        } else {
                            "reported"
                        },
                        granularity: tier.as_str(),
                        start: bk.start,
                        end: r.end,
                        value,
                        consumption,
                        min: some.then_some(bk.min),
                        max: some.then_some(bk.max),
                        count: bk.count,
                        completeness: r.completeness,
                        kgce,
                        quality: [bk.invalid, bk.manual, bk.estimated, bk.backward],
                    })?;
                    counts[i] += 1;
                }
                w0 = w1;
            }
        }
    }
    w.flush()?;
    let file = w
        .parquet
        .into_inner()
        .map_err(|e| err("finishing the Parquet file", e))?;
    file.sync_all()
        .map_err(|e| err("syncing the Parquet file", e))?;
    std::fs::rename(&tmp_pq, &final_pq).map_err(|e| err(&final_pq.display().to_string(), e))?;
    let csv = match w.csv {
        Some(c) => {
            let f = c
                .into_inner()
                .map_err(|e| err("writing the CSV file", e.error()))?;
            f.sync_all().map_err(|e| err("syncing the CSV file", e))?;
            std::fs::rename(&tmp_csv, &final_csv)
                .map_err(|e| err(&final_csv.display().to_string(), e))?;
            Some(final_csv)
        }
        None => None,
    };
    Ok(HistorySummary {
        parquet: final_pq,
        csv,
        rows: tiers.into_iter().zip(counts).collect(),
        points: points.len(),
    })
}
