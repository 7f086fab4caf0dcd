#![cfg(feature = "cli")]
//! `meterdb rollup` and `meterdb import --tz`.

mod common;
use common::*;

const CSV: &str = "point,ts,value\n\
m,2026-01-01T00:00:00+08:00,100\n\
m,2026-01-01T12:00:00+08:00,110.5\n\
m,2026-01-03T00:00:00+08:00,130\n\
g,2026-01-01T06:00:00+08:00,4.5\n";

#[test]
fn day_and_month_buckets_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "a.csv", CSV);
    let db = dir.path().join("db");
    let meta = write_file(dir.path(), "meta.csv", "point,kind\nm,counter\ng,gauge\n");
    ok(["import", "--db", s(&db), "--meta", s(&meta), s(&f)]);
    let r = ok(["rollup", "--db", s(&db), "--point", "m", "--tier", "day"]);
    assert_eq!(
        r.stdout,
        "point,bucket_start,count,sum,min,max,first,last,mean,consumption,\
         invalid,manual,estimated,backward\n\
         m,2026-01-01T00:00:00+08:00,2,210.5,100,110.5,100,110.5,105.25,17,0,0,0,0\n\
         m,2026-01-02T00:00:00+08:00,0,0,,,,,,13,0,0,0,0\n\
         m,2026-01-03T00:00:00+08:00,1,130,130,130,130,130,130,0,0,0,0,0\n"
    );
    let r = ok([
        "rollup",
        "--db",
        s(&db),
        "--point",
        "m",
        "--tier",
        "month",
        "--tz",
        "+08:00",
    ]);
    assert!(
        r.stdout
            .ends_with("m,2026-01-01T00:00:00+08:00,3,340.5,100,130,100,130,113.5,30,0,0,0,0\n"),
        "{}",
        r.stdout
    );
    let r = ok([
        "rollup",
        "--db",
        s(&db),
        "--point",
        "g",
        "--tier",
        "hour",
        "--from",
        "2026-01-01T06:30:00+08:00",
    ]);
    assert_eq!(
        r.stdout.lines().nth(1),
        Some("g,2026-01-01T06:00:00+08:00,1,4.5,4.5,4.5,4.5,4.5,4.5,,0,0,0,0")
    );
    let r = meterdb([
        "rollup",
        "--db",
        s(&db),
        "--point",
        "m",
        "--tier",
        "day",
        "--tz",
        "Z",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("UTC+08:00"), "{}", r.stderr);
    let r = meterdb(["rollup", "--db", s(&db), "--point", "m", "--tier", "week"]);
    assert_eq!(r.code, 2);
}

#[test]
fn import_sets_the_time_zone_of_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "a.csv", CSV);
    let db = dir.path().join("db");
    ok([
        "import",
        "--db",
        s(&db),
        "--kind",
        "counter",
        "--tz",
        "+00:00",
        s(&f),
    ]);
    let r = ok(["rollup", "--db", s(&db), "--point", "m", "--tier", "day"]);
    assert!(
        r.stdout.contains("m,2025-12-31T00:00:00Z,1,100,"),
        "{}",
        r.stdout
    );
    let r = meterdb(["import", "--db", s(&db), "--tz", "+08:00", s(&f)]);
    assert_eq!(r.code, 1, "{r:?}");
}
