//! `provincial history export`: a platform holding two days of a steel works' readings (and
//! one day statistic the unit reported) writes the table `bv_infodb_energydata_province`;
//! DuckDB (through python3) reads the Parquet file: its row counts per granularity and a
//! day's consumption and kgce equal what `Db::rollup` says; the CSV file, read in Rust,
//! holds the same rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use meterdb::{Db, Options, PointKind, Tier};
use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::history::{schema, TABLE};
use meterdb_examples::industry::{uscc_with_check, Industry, Measure, Plant};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{parse_date, to_body, Record, STAT_DAY, STAT_REALTIME};

// The engine tests' DuckDB runner, shared by path.
#[path = "../../engine/tests/support/duckdb.rs"]
mod duckdb;
use duckdb::python_with_duckdb;

const PROVINCIAL: &str = env!("CARGO_BIN_EXE_provincial");
const DAY: i64 = 86_400_000;
const INTERVAL: i64 = 900_000;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meterdb-hist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn record(ent: &str, code: &str, ts: i64, value: f64, stat_type: u8, id: u64) -> Record {
    Record {
        enterprise: ent.into(),
        data_code: code.into(),
        value,
        input_type: 1,
        stat_type,
        stat_ts: ts,
        valid: true,
        id: Some(id),
        revision: None,
        corrected: false,
    }
}

/// Stores two days of a 7-point steel works at 15-minute collection, and a day statistic of
/// its first consumption register; the plant and that register's code.
fn platform_with_a_unit(data: &Path, day0: i64) -> (String, String) {
    let p = Platform::open(&Config {
        data: data.to_path_buf(),
        role: Role::Provincial,
        no_store: false,
        outbound: None,
    })
    .unwrap();
    let ent = uscc_with_check("91350100MA2H00001").unwrap();
    p.registry()
        .add_unit(
            EnterpriseInfo {
                enterprise_code: ent.clone(),
                name: "steel works".into(),
                region_code: "350100".into(),
                industry: "steel".into(),
                industry_code: Industry::Steel.classification().into(),
            },
            standard_config(Industry::Steel, 7, INTERVAL),
        )
        .unwrap();
    let token = p
        .registry()
        .enroll_and_register(&ent, "SN-1")
        .unwrap()
        .token;
    let caller = p.authenticate(Some(&format!("Bearer {token}"))).unwrap();
    let plant = Plant::new(Industry::Steel, &ent, 7, 7, day0, INTERVAL, 2);
    let mut recs = Vec::new();
    let mut id = 0;
    for (m, s) in plant
        .meters
        .iter()
        .zip(plant.samples(day0, day0 + 2 * DAY + 1))
    {
        for (ts, v) in s {
            id += 1;
            recs.push(record(&ent, &m.code.text(), ts, v, STAT_REALTIME, id));
        }
    }
    let register = plant
        .meters
        .iter()
        .find(|m| m.code.measure == Measure::Consumption)
        .unwrap()
        .code
        .text();
    id += 1;
    recs.push(record(&ent, &register, day0, 1234.5, STAT_DAY, id));
    for chunk in recs.chunks(2000) {
        let (v, _) = p
            .ingest(
                &caller,
                to_body(chunk, meterdb_examples::upload::now_ms()).as_bytes(),
            )
            .unwrap();
        assert_eq!(v["accepted"].as_u64(), Some(chunk.len() as u64), "{v}");
    }
    (ent, register)
}

const DUCKDB: &str = r#"
import sys, duckdb
path, ent, code = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
t = f"read_parquet('{path}')"
print("type," + con.execute(f"SELECT any_value(typeof(period_start)) FROM {t}").fetchone()[0])
for g, d, n in con.execute(f"SELECT granularity, data_type, count(*) FROM {t} GROUP BY ALL ORDER BY ALL").fetchall():
    print(f"rows,{g},{d},{n}")
for d, c, k, v in con.execute(f"""
  SELECT data_type, consumption, kgce, value FROM {t}
  WHERE enterprise_code = '{ent}' AND data_code = '{code}' AND granularity = 'day'
    AND period_start = TIMESTAMPTZ '2026-01-01 00:00:00+08:00'
  ORDER BY data_type""").fetchall():
    print(f"day,{d},{c!r},{k!r},{v!r}")
"#;

#[test]
fn the_history_table_as_parquet_read_by_duckdb_and_as_csv() {
    let dir = tmp("export");
    let data = dir.join("platform");
    let day0 = parse_date("2026-01-01").unwrap();
    let (ent, register) = platform_with_a_unit(&data, day0);

    // The platform is closed (its database is opened by one process at a time).
    let out = dir.join("out");
    let o = Command::new(PROVINCIAL)
        .args(["history", "export", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .arg("--csv")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains(TABLE), "{stdout}");

    // What the engine says: rows per (granularity, data type), and the register's first day.
    let db = Db::open(data.join("db"), Options::default()).unwrap();
    let (a, b) = (day0 - 400 * DAY, day0 + 400 * DAY);
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut collected_points = 0;
    for (id, m) in db.points(&Default::default()) {
        if m.key.starts_with('_') {
            continue;
        }
        let reported = m.key.ends_with("/d");
        collected_points += usize::from(!reported);
        for tier in [Tier::Hour, Tier::Day, Tier::Month, Tier::Year] {
            if reported && tier != Tier::Day {
                continue;
            }
            let n = db.rollup(id, tier, a, b).unwrap().len() as u64;
            let dt = if reported { "reported" } else { "collected" };
            *expected
                .entry((tier.as_str().to_string(), dt.to_string()))
                .or_default() += n;
        }
    }
    assert_eq!(collected_points, 7);
    // Two days of hours, and the readings at the third day's midnight.
    let hours = expected[&("hour".into(), "collected".into())];
    assert!((7 * 48..=7 * 49).contains(&hours), "{hours} hour rows");
    assert_eq!(expected[&("day".into(), "reported".into())], 1);
    let total: u64 = expected.values().sum();
    let reg_id = db.point_id(&format!("{ent}/{register}")).unwrap();
    let meta = db.point(reg_id).unwrap();
    assert_eq!(meta.kind, PointKind::Counter);
    let day = db.rollup(reg_id, Tier::Day, day0, day0 + DAY).unwrap();
    let consumption = day[0].consumption.unwrap();
    assert!(consumption > 0.0);
    let coal = meta.coal_at(day0).expect("a standard-coal coefficient");
    let kgce = consumption * coal;

    // DuckDB reads the Parquet file.
    let parquet = out.join(format!("{TABLE}.parquet"));
    if let Some(text) = python_with_duckdb(DUCKDB, &[parquet.to_str().unwrap(), &ent, &register]) {
        let mut got: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut day_rows = Vec::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split(',').collect();
            match f[0] {
                "type" => assert_eq!(f[1], "TIMESTAMP WITH TIME ZONE"),
                "rows" => {
                    got.insert((f[1].into(), f[2].into()), f[3].parse().unwrap());
                }
                "day" => day_rows.push(f[1..].iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                _ => panic!("unexpected line {l}"),
            }
        }
        assert_eq!(got, expected);
        assert_eq!(day_rows.len(), 2, "{day_rows:?}");
        // Collected: the day tier's consumption, and kgce with the coefficient in force.
        assert_eq!(day_rows[0][0], "collected");
        assert_eq!(day_rows[0][1].parse::<f64>().unwrap(), consumption);
        assert_eq!(day_rows[0][2].parse::<f64>().unwrap(), kgce);
        assert_eq!(day_rows[0][3].parse::<f64>().unwrap(), consumption);
        // Reported: the unit's own statistic.
        assert_eq!(day_rows[1][0], "reported");
        assert_eq!(day_rows[1][1].parse::<f64>().unwrap(), 1234.5);
        println!("DuckDB: {total} rows, day consumption {consumption} ({kgce} kgce)");
    }

    // The CSV file, read in Rust: the same columns and rows.
    let csv = std::fs::read_to_string(out.join(format!("{TABLE}.csv"))).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let sch = schema("+08:00");
    let names: Vec<&str> = sch.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(head, names);
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, total);
    assert!(rows.iter().all(|r| r.len() == head.len()));
    let mut csv_counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r[col("enterprise_code")], ent);
        assert_eq!(r[col("data_code")].len(), 16);
        *csv_counts
            .entry((
                r[col("granularity")].to_string(),
                r[col("data_type")].to_string(),
            ))
            .or_default() += 1;
    }
    assert_eq!(csv_counts, expected);
    // Every collected hour, read a day at a time by the export, equals the hours of one
    // query over the whole range (consumption across the days' edges too).
    let mut hours: BTreeMap<&str, Vec<(u64, Option<f64>)>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r[col("granularity")] == "hour" && r[col("data_type")] == "collected")
    {
        let v = r[col("value")];
        hours
            .entry(r[col("data_code")])
            .or_default()
            .push((r[col("count")].parse().unwrap(), v.parse().ok()));
    }
    assert_eq!(hours.len(), 7);
    for (code, got) in &hours {
        let id = db.point_id(&format!("{ent}/{code}")).unwrap();
        let m = db.point(id).unwrap();
        let want: Vec<(u64, Option<f64>)> = db
            .rollup(id, Tier::Hour, a, b)
            .unwrap()
            .iter()
            .map(|r| {
                let v = if m.kind == PointKind::Counter {
                    r.consumption
                } else {
                    r.mean
                };
                (r.bucket.count, v)
            })
            .collect();
        assert_eq!(got, &want, "{code}");
    }
    let r = rows
        .iter()
        .find(|r| {
            r[col("data_code")] == register
                && r[col("granularity")] == "day"
                && r[col("data_type")] == "collected"
                && r[col("period_start")] == "2026-01-01T00:00:00+08:00"
        })
        .expect("the register's first day");
    assert_eq!(r[col("period_end")], "2026-01-02T00:00:00+08:00");
    assert_eq!(r[col("consumption")].parse::<f64>().unwrap(), consumption);
    assert_eq!(r[col("kgce")].parse::<f64>().unwrap(), kgce);
    assert_eq!(r[col("count")].parse::<u64>().unwrap(), day[0].bucket.count);
    for q in ["invalid", "manual", "estimated", "backward"] {
        assert!(r[col(q)].parse::<u64>().is_ok());
    }

    // --granularity minute: one row per minute bucket with samples (15-minute collection).
    drop(db);
    let out2 = dir.join("out-minute");
    let o = Command::new(PROVINCIAL)
        .args(["history", "export", "--granularity", "minute", "--from"])
        .args(["2026-01-01", "--to", "2026-01-02", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out2)
        .arg("--csv")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out2.join(format!("{TABLE}.csv"))).unwrap();
    let n = csv.lines().count() - 1;
    assert!(n >= 7 * 96, "{n} minute rows");
    assert!(csv
        .lines()
        .skip(1)
        .all(|l| l.contains(",minute,2026-01-01T")));

    // --from: periods starting on or after it only (January's month and year rows start
    // before 2026-01-02, so they are left out).
    let out3 = dir.join("out-from");
    let o = Command::new(PROVINCIAL)
        .args([
            "history",
            "export",
            "--from",
            "2026-01-02",
            "--csv",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&out3)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out3.join(format!("{TABLE}.csv"))).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r[col("period_start")] >= "2026-01-02" && r[col("granularity")] != "month"));
    assert_eq!(
        rows.iter()
            .filter(|r| r[col("granularity")] == "day")
            .count(),
        7 * 2,
        "the 2nd and the 3rd's midnight readings"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
