#![cfg(feature = "parquet")]
//! Parquet export: the shared real meter data exported raw and as day buckets and read back
//! with the `parquet` crate (every sample and every bucket equal to the engine's own answer),
//! DuckDB's day consumption over the raw files against the day tier, re-export
//! idempotency, atomic replacement and crash leftovers, and the Arrow batch iterator.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use meterdb::export::arrow_array::cast::AsArray;
use meterdb::export::arrow_array::types::{
    Float64Type, Int32Type, TimestampMillisecondType, UInt64Type, UInt8Type,
};
use meterdb::export::arrow_array::RecordBatch;
use meterdb::export::arrow_schema::{DataType, TimeUnit};
use meterdb::export::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use meterdb::export::{export, ExportOptions, ExportSummary, Selection, Source};
use meterdb::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use meterdb::{
    BucketRow, Db, Durability, Options, PointFilter, PointId, PointKind, PointMeta, Tier,
    WriteBatch,
};

mod support;

use support::duckdb::python_with_duckdb;
use support::{close, shared_rows};

const DAY: i64 = 86_400_000;
const ALL: (i64, i64) = (MIN_TIMESTAMP, MAX_TIMESTAMP + 1);

fn opts() -> Options {
    Options {
        tz_offset_min: Some(480),
        ..Options::default().durability(Durability::None)
    }
}

/// The shared data in a new database: registers as counters, the rest as gauges; the last
/// value wins for a repeated (point, ts).
fn shared_db(dir: &Path) -> Option<Db> {
    let rows = shared_rows()?;
    let db = Db::open(dir, opts()).unwrap();
    let mut ids: BTreeMap<String, PointId> = BTreeMap::new();
    let mut b = WriteBatch::new();
    for (i, (p, t, v)) in rows.iter().enumerate() {
        // Some readings invalid, manual or estimated, so that the tiers' quality counts
        // are exported too.
        let q = match i % 97 {
            0 => meterdb::Quality::INVALID,
            1 => meterdb::Quality::MANUAL,
            2 => meterdb::Quality::ESTIMATED,
            _ => meterdb::Quality::GOOD,
        };
        let id = *ids.entry(p.clone()).or_insert_with(|| {
            let kind = if p.contains("register") {
                PointKind::Counter
            } else {
                PointKind::Gauge
            };
            db.define_point(
                PointMeta::new(p.clone(), kind)
                    .with_unit("kWh")
                    .with_tag("source", "shared"),
            )
            .unwrap()
        });
        b.put_with_quality(id, *t, *v, q.0);
        if b.len() == 50_000 {
            db.write(&b).unwrap();
            b.clear();
        }
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
    Some(db)
}

fn run_export(db: &Db, source: Source, range: (i64, i64), out: &Path) -> ExportSummary {
    export(
        db,
        &Selection::Filter(PointFilter::default()),
        source,
        range.0,
        range.1,
        out,
        &ExportOptions::default(),
        &mut |_| {},
    )
    .unwrap()
}

/// Every Parquet file under `dir`, sorted, with its partition directory's name.
fn parquet_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(name.starts_with("date="), "unexpected entry {name}");
        for f in std::fs::read_dir(e.path()).unwrap() {
            let f = f.unwrap().path();
            assert_eq!(f.extension().unwrap(), "parquet");
            v.push((name.clone(), f));
        }
    }
    v.sort();
    v
}

fn read_batches(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn keys(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let d = b.column_by_name(col).unwrap().as_dictionary::<Int32Type>();
    let values = d.values().as_string::<i32>();
    d.keys()
        .iter()
        .map(|k| k.map(|k| values.value(k as usize).to_string()))
        .collect()
}

fn f64s(b: &RecordBatch, col: &str) -> Vec<Option<f64>> {
    b.column_by_name(col)
        .unwrap()
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

fn times(b: &RecordBatch, col: &str) -> Vec<Option<i64>> {
    b.column_by_name(col)
        .unwrap()
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect()
}

/// `date=YYYY-MM-DD` of a timestamp in +08:00.
fn local_date(ts: i64) -> (i64, u32, u32) {
    meterdb::time::civil_from_days((ts + 480 * 60_000).div_euclid(DAY))
}

fn date_name((y, m, d): (i64, u32, u32)) -> String {
    format!("date={y:04}-{m:02}-{d:02}")
}

#[test]
fn shared_data_raw_and_day_buckets_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = shared_db(&dir.path().join("db")) else {
        println!("skipping: ../shared/data not found");
        return;
    };
    let out = dir.path().join("out");

    // Raw: every sample, in its local day's directory.
    let sum = run_export(&db, Source::Raw, ALL, &out);
    let files = parquet_files(&out.join("tier=raw"));
    assert_eq!(sum.files, files.len() as u64);
    assert_eq!(
        sum.bytes,
        files
            .iter()
            .map(|f| std::fs::metadata(&f.1).unwrap().len())
            .sum::<u64>()
    );
    let mut got: BTreeMap<String, Vec<(i64, f64, u8)>> = BTreeMap::new();
    for (part, f) in &files {
        for b in read_batches(f) {
            let s = b.schema();
            assert_eq!(
                s.field_with_name("ts").unwrap().data_type(),
                &DataType::Timestamp(TimeUnit::Millisecond, Some("+08:00".into()))
            );
            assert_eq!(
                s.field_with_name("quality").unwrap().data_type(),
                &DataType::UInt8
            );
            assert!(matches!(
                s.field_with_name("point").unwrap().data_type(),
                DataType::Dictionary(..)
            ));
            let (pts, ts, vs) = (keys(&b, "point"), times(&b, "ts"), f64s(&b, "value"));
            let q = b
                .column_by_name("quality")
                .unwrap()
                .as_primitive::<UInt8Type>();
            let kinds = keys(&b, "kind");
            let tags = keys(&b, "tags");
            for i in 0..b.num_rows() {
                let (p, t) = (pts[i].clone().unwrap(), ts[i].unwrap());
                assert_eq!(&date_name(local_date(t)), part);
                let want_kind = if p.contains("register") {
                    "counter"
                } else {
                    "gauge"
                };
                assert_eq!(kinds[i].as_deref(), Some(want_kind));
                assert_eq!(tags[i].as_deref(), Some(r#"{"source":"shared"}"#));
                got.entry(p)
                    .or_default()
                    .push((t, vs[i].unwrap(), q.value(i)));
            }
        }
    }
    let all = db.points(&PointFilter::default());
    assert_eq!(got.len(), all.len());
    let mut n = 0;
    for (id, meta) in &all {
        let c = db.read_range(*id, ALL.0, ALL.1).unwrap();
        let want: Vec<(i64, f64, u8)> = c.iter().map(|s| (s.ts, s.value, s.quality.0)).collect();
        let g = &got[&meta.key];
        assert_eq!(g.len(), want.len(), "{}", meta.key);
        for (a, b) in g.iter().zip(&want) {
            assert_eq!(
                (a.0, a.1.to_bits(), a.2),
                (b.0, b.1.to_bits(), b.2),
                "{}",
                meta.key
            );
        }
        n += want.len();
    }
    assert_eq!(sum.rows, n as u64);
    println!(
        "raw: {n} samples in {} files, {} bytes",
        sum.files, sum.bytes
    );

    // Day buckets: every field of every row, one directory per month.
    let sum = run_export(&db, Source::Tier(Tier::Day), ALL, &out);
    let mut got: BTreeMap<String, Vec<BucketRow>> = BTreeMap::new();
    let mut rows = 0;
    for (part, f) in parquet_files(&out.join("tier=day")) {
        for b in read_batches(&f) {
            let pts = keys(&b, "point");
            let cols: Vec<Vec<Option<i64>>> =
                ["start", "end", "min_ts", "max_ts", "first_ts", "last_ts"]
                    .iter()
                    .map(|c| times(&b, c))
                    .collect();
            let fl: Vec<Vec<Option<f64>>> = [
                "sum",
                "min",
                "max",
                "first",
                "last",
                "mean",
                "consumption",
                "expected",
                "completeness",
            ]
            .iter()
            .map(|c| f64s(&b, c))
            .collect();
            let count = b
                .column_by_name("count")
                .unwrap()
                .as_primitive::<UInt64Type>();
            let quality: Vec<_> = ["invalid", "manual", "estimated", "backward"]
                .iter()
                .map(|c| b.column_by_name(c).unwrap().as_primitive::<UInt64Type>())
                .collect();
            for i in 0..b.num_rows() {
                let start = cols[0][i].unwrap();
                let (y, m, _) = local_date(start);
                assert_eq!(part, date_name((y, m, 1)));
                let mut r = BucketRow {
                    bucket: meterdb::rollup::Bucket::deleted(start),
                    end: cols[1][i].unwrap(),
                    mean: fl[5][i],
                    consumption: fl[6][i],
                    expected: fl[7][i],
                    completeness: fl[8][i],
                };
                let bk = &mut r.bucket;
                bk.count = count.value(i);
                bk.sum = fl[0][i].unwrap();
                (bk.invalid, bk.manual, bk.estimated, bk.backward) = (
                    quality[0].value(i),
                    quality[1].value(i),
                    quality[2].value(i),
                    quality[3].value(i),
                );
                if bk.count > 0 {
                    (bk.min, bk.max, bk.first, bk.last) = (
                        fl[1][i].unwrap(),
                        fl[2][i].unwrap(),
                        fl[3][i].unwrap(),
                        fl[4][i].unwrap(),
                    );
                    (bk.min_ts, bk.max_ts, bk.first_ts, bk.last_ts) = (
                        cols[2][i].unwrap(),
                        cols[3][i].unwrap(),
                        cols[4][i].unwrap(),
                        cols[5][i].unwrap(),
                    );
                } else {
                    assert!(fl[1][i].is_none() && cols[2][i].is_none());
                }
                got.entry(pts[i].clone().unwrap()).or_default().push(r);
                rows += 1;
            }
        }
    }
    assert_eq!(sum.rows, rows);
    for (id, meta) in &all {
        let want = db.rollup(*id, Tier::Day, ALL.0, ALL.1).unwrap();
        let g = &got[&meta.key];
        assert_eq!(g.len(), want.len(), "{}", meta.key);
        for (a, w) in g.iter().zip(&want) {
            let (ab, wb) = (&a.bucket, &w.bucket);
            assert_eq!(
                (ab.start, a.end, ab.count, ab.sum.to_bits()),
                (wb.start, w.end, wb.count, wb.sum.to_bits()),
                "{}",
                meta.key
            );
            if wb.count > 0 {
                assert_eq!(
                    (
                        ab.min,
                        ab.min_ts,
                        ab.max,
                        ab.max_ts,
                        ab.first,
                        ab.first_ts,
                        ab.last,
                        ab.last_ts
                    ),
                    (
                        wb.min,
                        wb.min_ts,
                        wb.max,
                        wb.max_ts,
                        wb.first,
                        wb.first_ts,
                        wb.last,
                        wb.last_ts
                    ),
                    "{} {}",
                    meta.key,
                    wb.start
                );
            }
            assert_eq!(
                (a.mean, a.consumption, a.expected, a.completeness),
                (w.mean, w.consumption, w.expected, w.completeness),
                "{} {}",
                meta.key,
                wb.start
            );
            assert_eq!(
                (ab.invalid, ab.manual, ab.estimated, ab.backward),
                (wb.invalid, wb.manual, wb.estimated, wb.backward),
                "{} {}",
                meta.key,
                wb.start
            );
        }
    }
    db.close().unwrap();
}

/// DuckDB's day consumption of each register, over the raw export: for a day with valid
/// register samples exactly at its start (local midnight) and at its end (the next
/// midnight), the value at the end minus the value at the start. It must equal the day
/// tier's consumption.
const DUCKDB_DAYS: &str = r#"
import sys, duckdb
out, off = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
files = f"{out}/tier=raw/date=*/*.parquet"
total, tz = con.execute(f"SELECT count(*), any_value(typeof(ts)) FROM read_parquet('{files}', hive_partitioning = true)").fetchone()
print(f"total,{total},{tz}")
rows = con.execute(f"""
WITH s AS (
  SELECT point::VARCHAR AS point, epoch_ms(ts) AS t, value
  FROM read_parquet('{files}', hive_partitioning = true)
  WHERE kind = 'counter' AND quality % 2 = 1),
edges AS (
  SELECT point, t AS day_start, value AS v0, NULL::DOUBLE AS v1 FROM s
  WHERE (t + {off}) % 86400000 = 0
  UNION ALL
  SELECT point, t - 86400000 AS day_start, NULL::DOUBLE AS v0, value AS v1 FROM s
  WHERE (t + {off}) % 86400000 = 0)
SELECT point, day_start, max(v1) - max(v0) AS consumption
FROM edges GROUP BY point, day_start
HAVING count(v0) = 1 AND count(v1) = 1
ORDER BY point, day_start
""").fetchall()
for p, d, c in rows:
    print(f"{p},{d},{c!r}")
"#;

#[test]
fn duckdb_day_consumption_over_raw_export_equals_day_tier() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = shared_db(&dir.path().join("db")) else {
        println!("skipping: ../shared/data not found");
        return;
    };
    let out = dir.path().join("out");
    let sum = run_export(&db, Source::Raw, ALL, &out);
    let off = (db.tz_offset_min() as i64 * 60_000).to_string();
    let Some(text) = python_with_duckdb(DUCKDB_DAYS, &[out.to_str().unwrap(), &off]) else {
        return;
    };
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(head[0], "total");
    assert_eq!(head[1].parse::<u64>().unwrap(), sum.rows);
    assert_eq!(head[2], "TIMESTAMP WITH TIME ZONE");
    let mut days: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        days.entry(f[0].to_string())
            .or_default()
            .push((f[1].parse().unwrap(), f[2].parse().unwrap()));
    }
    let mut compared = 0;
    for (key, ds) in &days {
        let id = db.point_id(key).unwrap();
        let rows = db.rollup(id, Tier::Day, ALL.0, ALL.1).unwrap();
        let by_start: BTreeMap<i64, &BucketRow> =
            rows.iter().map(|r| (r.bucket.start, r)).collect();
        for &(d, c) in ds {
            let r = by_start[&d];
            let want = r.consumption.unwrap();
            assert!(close(c, want), "{key} day {d}: duckdb {c}, meterdb {want}");
            compared += 1;
        }
    }
    // Four registers, hourly or half-hourly for years: most days have both boundaries.
    assert_eq!(days.len(), 4, "{days:?}");
    assert!(compared > 2_000, "only {compared} days compared");
    println!("duckdb: {compared} register days agree with the day tier");
    db.close().unwrap();
}

/// Path -> bytes of every file under `dir`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                m.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    m
}

/// A small database: two points with 15-minute samples over four days from
/// 2026-11-23T00:00+08:00.
fn small_db(dir: &Path) -> (Db, Vec<PointId>, i64) {
    let db = Db::open(dir, opts()).unwrap();
    let t0 = meterdb::time::parse_timestamp("2026-11-23T00:00:00+08:00").unwrap();
    let a = db
        .define_point(PointMeta::new("plant/a-kwh", PointKind::Counter).with_unit("kWh"))
        .unwrap();
    let b = db
        .define_point(
            PointMeta::new("plant/b-kw", PointKind::Gauge)
                .with_unit("kW")
                .with_precision(1)
                .with_interval_ms(900_000),
        )
        .unwrap();
    let mut wb = WriteBatch::new();
    for i in 0..4 * 96 {
        let t = t0 + i * 900_000;
        wb.put(a, t, 1000.0 + i as f64 * 0.25);
        wb.put_with_quality(b, t, (i % 7) as f64 * 1.5, if i % 11 == 0 { 3 } else { 1 });
    }
    db.write(&wb).unwrap();
    (db, vec![a, b], t0)
}

#[test]
fn reexport_is_idempotent_and_replaces_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (db, ids, t0) = small_db(&dir.path().join("db"));
    let out = dir.path().join("out");
    let raw = out.join("tier=raw");
    let s1 = run_export(&db, Source::Raw, ALL, &out);
    assert_eq!((s1.rows, s1.partitions, s1.files), (2 * 4 * 96, 4, 4));
    let before = snapshot(&out);
    assert_eq!(before.len(), 4);

    // The same export again: byte for byte the same files.
    let s2 = run_export(&db, Source::Raw, ALL, &out);
    assert_eq!(s1, s2);
    assert_eq!(snapshot(&out), before);
    db.flush().unwrap();
    db.compact().unwrap();
    run_export(&db, Source::Raw, ALL, &out);
    assert_eq!(snapshot(&out), before, "flushing changes no exported byte");

    // A correction in the second day, exported with a range inside that day: only that
    // day's directory changes (the range is widened to the whole day).
    let day2 = t0 + DAY;
    db.put(ids[0], day2 + 3_600_000, 5.0).unwrap();
    let s = run_export(&db, Source::Raw, (day2 + 1, day2 + 2), &out);
    assert_eq!((s.partitions, s.rows), (1, 2 * 96));
    let after = snapshot(&out);
    for (p, bytes) in &after {
        let changed = before[p] != *bytes;
        assert_eq!(
            changed,
            p.starts_with("tier=raw/date=2026-11-24"),
            "{}",
            p.display()
        );
    }

    // Deleting the third day's data and re-exporting it removes its directory.
    let day3 = t0 + 2 * DAY;
    for &id in &ids {
        db.delete_range(id, day3, day3 + DAY).unwrap();
    }
    let s = run_export(&db, Source::Raw, (day3, day3 + DAY), &out);
    assert_eq!((s.partitions, s.removed), (0, 1));
    assert!(!raw.join("date=2026-11-25").exists());
    assert!(raw.join("date=2026-11-26").exists());

    // What a crash between the two renames leaves: the live directory moved aside, and a
    // half-written temporary directory. The next export puts the old copy back first.
    let live = raw.join("date=2026-11-26");
    std::fs::rename(&live, raw.join(".date=2026-11-26.old")).unwrap();
    std::fs::create_dir(raw.join(".date=2026-11-23.tmp")).unwrap();
    std::fs::write(
        raw.join(".date=2026-11-23.tmp/part-0.parquet"),
        b"PAR1 torn",
    )
    .unwrap();
    let s = run_export(&db, Source::Raw, (t0, t0 + 1), &out);
    assert_eq!(s.partitions, 1);
    let names: Vec<String> = std::fs::read_dir(&raw)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        names,
        ["date=2026-11-23", "date=2026-11-24", "date=2026-11-26"]
    );
    assert_eq!(
        snapshot(&raw.join("date=2026-11-26")),
        snapshot(&{
            let d = dir.path().join("again");
            run_export(&db, Source::Raw, ALL, &d);
            d.join("tier=raw/date=2026-11-26")
        })
    );
    db.close().unwrap();
}

#[test]
fn tiers_partition_by_day_month_and_year() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _, _) = small_db(&dir.path().join("db"));
    let out = dir.path().join("out");
    for (tier, dirs) in [
        (
            Tier::Minute,
            vec![
                "date=2026-11-23",
                "date=2026-11-24",
                "date=2026-11-25",
                "date=2026-11-26",
            ],
        ),
        (
            Tier::Hour,
            vec![
                "date=2026-11-23",
                "date=2026-11-24",
                "date=2026-11-25",
                "date=2026-11-26",
            ],
        ),
        (Tier::Day, vec!["date=2026-11-01"]),
        (Tier::Month, vec!["date=2026-01-01"]),
        (Tier::Year, vec!["date=2026-01-01"]),
    ] {
        let s = run_export(&db, Source::Tier(tier), ALL, &out);
        let files = parquet_files(&out.join(format!("tier={}", tier.as_str())));
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, dirs, "{tier:?}");
        let mut rows = 0;
        for (_, f) in &files {
            for b in read_batches(f) {
                rows += b.num_rows() as u64;
            }
        }
        assert_eq!(rows, s.rows);
        let want: usize = db
            .points(&PointFilter::default())
            .iter()
            .map(|(id, _)| db.rollup(*id, tier, ALL.0, ALL.1).unwrap().len())
            .sum();
        assert_eq!(rows, want as u64, "{tier:?}");
    }
    // A coarser partition unit on request; never one finer than the tier.
    let yearly = ExportOptions {
        partition: Some(Tier::Year),
        ..ExportOptions::default()
    };
    let s = export(
        &db,
        &Selection::Filter(PointFilter::default()),
        Source::Raw,
        ALL.0,
        ALL.1,
        &dir.path().join("y"),
        &yearly,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((s.partitions, s.rows), (1, 2 * 4 * 96));
    assert!(dir
        .path()
        .join("y/tier=raw/date=2026-01-01/part-0.parquet")
        .is_file());
    for (tier, unit) in [(Tier::Hour, Tier::Hour), (Tier::Month, Tier::Day)] {
        let e = export(
            &db,
            &Selection::Filter(PointFilter::default()),
            Source::Tier(tier),
            ALL.0,
            ALL.1,
            &dir.path().join("bad"),
            &ExportOptions {
                partition: Some(unit),
                ..ExportOptions::default()
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(e.kind(), meterdb::ErrorKind::InvalidArgument, "{e}");
    }

    // A key list selects points; an unknown key is an error.
    let s = export(
        &db,
        &Selection::Keys(vec!["plant/b-kw".into()]),
        Source::Raw,
        ALL.0,
        ALL.1,
        &dir.path().join("b"),
        &ExportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((s.points, s.rows), (1, 4 * 96));
    let e = export(
        &db,
        &Selection::Keys(vec!["nope".into()]),
        Source::Raw,
        ALL.0,
        ALL.1,
        &dir.path().join("c"),
        &ExportOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(e.kind(), meterdb::ErrorKind::NotFound);
    db.close().unwrap();
}

#[test]
fn record_batches_cover_the_range_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (db, ids, t0) = small_db(&dir.path().join("db"));
    db.flush().unwrap();
    db.put(ids[1], t0 + 5, 42.0).unwrap(); // one sample still in the memtable
    let (from, to) = (t0 + 3_600_000, t0 + 3 * DAY);
    for batch_rows in [1, 7, 100, 1 << 16] {
        let mut got: Vec<(String, i64, f64, u8)> = Vec::new();
        let it = db.record_batches(&ids, from, to, batch_rows).unwrap();
        let schema = it.schema();
        for b in it {
            let b = b.unwrap();
            assert_eq!(b.schema(), schema);
            assert!(b.num_rows() >= 1 && b.num_rows() <= batch_rows);
            let (p, t, v) = (keys(&b, "point"), times(&b, "ts"), f64s(&b, "value"));
            let q = b
                .column_by_name("quality")
                .unwrap()
                .as_primitive::<UInt8Type>();
            for i in 0..b.num_rows() {
                got.push((
                    p[i].clone().unwrap(),
                    t[i].unwrap(),
                    v[i].unwrap(),
                    q.value(i),
                ));
            }
        }
        let mut want = Vec::new();
        for &id in &ids {
            let key = db.point(id).unwrap().key;
            for s in db.read_range(id, from, to).unwrap().iter() {
                want.push((key.clone(), s.ts, s.value, s.quality.0));
            }
        }
        assert_eq!(got, want, "batch_rows {batch_rows}");
    }
    assert!(db.record_batches(&ids, 0, 1, 0).is_err());
    let none = db.record_batches(&ids, to, from, 10).unwrap().count();
    assert_eq!(none, 0);

    // An owned handle: the iterator moves to another thread.
    let db = std::sync::Arc::new(db);
    let it = meterdb::export::record_batches(db.clone(), &ids, from, to, 1000).unwrap();
    let rows = std::thread::spawn(move || it.map(|b| b.unwrap().num_rows()).sum::<usize>())
        .join()
        .unwrap();
    let want: usize = ids
        .iter()
        .map(|&id| db.read_range(id, from, to).unwrap().len())
        .sum();
    assert_eq!(rows, want);
}
