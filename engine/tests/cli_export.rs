#![cfg(feature = "cli")]
//! `meterdb export`: Parquet files from the command line, its summary and its errors; and a
//! clear error from a `meterdb` built without the `parquet` feature.

mod common;

use common::{meterdb, ok, s, write_file};

#[cfg(feature = "parquet")]
#[test]
fn export_writes_partitions_and_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut csv = String::from("point,ts,value\n");
    for i in 0..96 * 3 {
        let ts = 1_763_913_600_000i64 + i * 900_000; // from 2025-11-24T00:00+08:00
        csv.push_str(&format!("m/kwh,{ts},{}\n", 100.0 + i as f64 / 4.0));
        csv.push_str(&format!("m/kw,{ts},{}\n", i % 5));
    }
    let input = write_file(dir.path(), "in.csv", &csv);
    ok(["import", "--db", s(&db), "--kind", "counter", s(&input)]);
    let out = dir.path().join("out");
    let r = ok([
        "export",
        "--db",
        s(&db),
        "--tier",
        "raw",
        "--out",
        s(&out),
        "--point",
        "m/kwh",
    ]);
    assert!(r.stdout.contains("tier             raw\n"), "{}", r.stdout);
    assert!(r.stdout.contains("points           1\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("partitions       3 written, 0 removed\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("files            3\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("rows             {}\n", 96 * 3)),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rows/s)"), "{}", r.stdout);
    for d in ["2025-11-24", "2025-11-25", "2025-11-26"] {
        assert!(out
            .join(format!("tier=raw/date={d}/part-0.parquet"))
            .is_file());
    }

    // A day's buckets of every point, one directory for the month; a range in RFC 3339.
    let r = ok([
        "export",
        "--db",
        s(&db),
        "--tier",
        "day",
        "--out",
        s(&out),
        "--from",
        "2025-11-25T00:00:00+08:00",
        "--to",
        "2025-11-26T00:00:00+08:00",
    ]);
    assert!(r.stdout.contains("points           2\n"), "{}", r.stdout);
    assert!(r.stdout.contains("rows             6\n"), "{}", r.stdout);
    assert!(out
        .join("tier=day/date=2025-11-01/part-0.parquet")
        .is_file());

    // Errors: a bad tier is a usage error (2); an unknown point fails (1).
    let r = meterdb(["export", "--db", s(&db), "--tier", "week", "--out", s(&out)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("raw, minute, hour, day, month, year"),
        "{}",
        r.stderr
    );
    let r = meterdb([
        "export",
        "--db",
        s(&db),
        "--tier",
        "raw",
        "--out",
        s(&out),
        "--point",
        "nope",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}

#[cfg(not(feature = "parquet"))]
#[test]
fn export_without_the_feature_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = meterdb([
        "export",
        "--db",
        s(dir.path()),
        "--tier",
        "raw",
        "--out",
        s(&dir.path().join("out")),
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("--features cli,parquet"), "{}", r.stderr);
    let _ = write_file;
    let _ = ok::<[&str; 0], &str>;
}
