#![cfg(feature = "cli")]
//! Meter truth through the tool: the quality columns of `meterdb rollup` (the issue's
//! reproduction: an invalid garbage reading leaves the day's figures alone), `import
//! --register` and the `register` and `rollover` columns of `--meta`, and `meterdb
//! replace-meter` (and `--forget`).

use std::path::Path;

mod common;
use common::*;

/// The reproduction of issue 15: a counter with one invalid reading of 999999.
const ISSUE: &str = "point,ts,value,quality\n\
m,2026-01-01T00:00:00+08:00,100,1\n\
m,2026-01-01T06:00:00+08:00,106,1\n\
m,2026-01-01T12:00:00+08:00,999999,0\n\
m,2026-01-01T18:00:00+08:00,118,1\n\
m,2026-01-02T00:00:00+08:00,124,1\n";

const HEADER: &str =
    "point,bucket_start,count,sum,min,max,first,last,mean,consumption,invalid,manual,estimated,backward";

/// The day rows of `point`, split into fields (header checked).
fn days(db: &std::path::Path, point: &str) -> Vec<Vec<String>> {
    let r = ok(["rollup", "--db", s(db), "--point", point, "--tier", "day"]);
    let mut lines = r.stdout.lines();
    assert_eq!(lines.next(), Some(HEADER));
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Field `name` of a row.
fn col<'a>(row: &'a [String], name: &str) -> &'a str {
    let i = HEADER.split(',').position(|h| h == name).unwrap();
    &row[i]
}

#[test]
fn an_invalid_reading_enters_no_figure_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "a.csv", ISSUE);
    let db = dir.path().join("db");
    ok(["import", "--db", s(&db), "--kind", "counter", s(&f)]);
    let r = ok(["rollup", "--db", s(&db), "--point", "m", "--tier", "day"]);
    // 2026-01-01 holds the readings of 00:00, 06:00, 12:00 (invalid) and 18:00: three valid
    // ones. The day ends at the 2026-01-02T00:00 reading, so its consumption is 124 - 100.
    assert_eq!(
        r.stdout,
        format!(
            "{HEADER}\n\
             m,2026-01-01T00:00:00+08:00,3,324,100,118,100,118,108,24,1,0,0,0\n\
             m,2026-01-02T00:00:00+08:00,1,124,124,124,124,124,124,0,0,0,0,0\n"
        )
    );
    // The raw read keeps the invalid reading as written.
    let q = ok(["query", "--db", s(&db), "--point", "m"]);
    assert!(q.stdout.contains(",999999"), "{}", q.stdout);
    // The month: the same figures, the invalid reading counted once.
    let r = ok(["rollup", "--db", s(&db), "--point", "m", "--tier", "month"]);
    assert_eq!(
        r.stdout.lines().nth(1),
        Some("m,2026-01-01T00:00:00+08:00,4,448,100,124,100,124,112,24,1,0,0,0")
    );
}

#[test]
fn manual_and_estimated_readings_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "point,ts,value,quality\n\
               m,2026-01-01T00:00:00+08:00,100,1\n\
               m,2026-01-01T06:00:00+08:00,106,3\n\
               m,2026-01-01T12:00:00+08:00,112,5\n\
               m,2026-01-01T18:00:00+08:00,7,0\n\
               m,2026-01-02T00:00:00+08:00,124,1\n";
    let f = write_file(dir.path(), "a.csv", csv);
    let db = dir.path().join("db");
    ok(["import", "--db", s(&db), "--kind", "counter", s(&f)]);
    let d = &days(&db, "m")[0];
    assert_eq!(
        [
            col(d, "count"),
            col(d, "invalid"),
            col(d, "manual"),
            col(d, "estimated")
        ],
        ["3", "1", "1", "1"]
    );
    // The invalid 7 is not read as a meter replacement.
    assert_eq!(col(d, "consumption"), "24");
    assert_eq!(col(d, "min"), "100");
}

/// A register that falls by 2 at 12:00 (a backward step: not near zero, no rollover).
const NET: &str = "point,ts,value\n\
pv,2026-01-01T00:00:00+08:00,100\n\
pv,2026-01-01T06:00:00+08:00,105\n\
pv,2026-01-01T12:00:00+08:00,103\n\
pv,2026-01-01T18:00:00+08:00,104\n\
pv,2026-01-02T00:00:00+08:00,106\n";

#[test]
fn register_import_and_net() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "a.csv", NET);
    // Import (the default): the step adds nothing and is counted.
    let db = dir.path().join("import");
    ok(["import", "--db", s(&db), "--kind", "counter", s(&f)]);
    let d = &days(&db, "pv")[0];
    assert_eq!([col(d, "consumption"), col(d, "backward")], ["8", "1"]);
    // Net: the signed change.
    let db = dir.path().join("net");
    ok([
        "import",
        "--db",
        s(&db),
        "--kind",
        "counter",
        "--register",
        "net",
        s(&f),
    ]);
    let d = &days(&db, "pv")[0];
    assert_eq!([col(d, "consumption"), col(d, "backward")], ["6", "1"]);
    // A second import without --register keeps the point's register.
    ok(["import", "--db", s(&db), "--kind", "counter", s(&f)]);
    assert_eq!(col(&days(&db, "pv")[0], "consumption"), "6");
    let r = meterdb(["import", "--db", s(&db), "--register", "both", s(&f)]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn meta_register_and_rollover_columns() {
    let dir = tempfile::tempdir().unwrap();
    let data = format!(
        "{NET}\
         w,2026-01-01T00:00:00+08:00,9990\n\
         w,2026-01-01T12:00:00+08:00,9998\n\
         w,2026-01-02T00:00:00+08:00,6\n"
    );
    let f = write_file(dir.path(), "a.csv", &data);
    let meta = write_file(
        dir.path(),
        "meta.csv",
        "point,kind,unit,register,rollover\npv,counter,kWh,net,\nw,counter,kWh,,10000\n",
    );
    let db = dir.path().join("db");
    ok(["import", "--db", s(&db), "--meta", s(&meta), s(&f)]);
    assert_eq!(col(&days(&db, "pv")[0], "consumption"), "6");
    // 9990 -> 9998 -> (wraps past 10000) 6: 8 + 2 + 6.
    let d = &days(&db, "w")[0];
    assert_eq!([col(d, "consumption"), col(d, "backward")], ["16", "0"]);
    {
        let d = meterdb::Db::open(&db, meterdb::Options::default()).unwrap();
        let pv = d.point(d.point_id("pv").unwrap()).unwrap();
        assert_eq!(pv.register, meterdb::Register::Net);
        let w = d.point(d.point_id("w").unwrap()).unwrap();
        assert_eq!(
            (w.register, w.rollover),
            (meterdb::Register::Import, Some(10000.0))
        );
        d.close().unwrap();
    }
    // Bad cells stop the command before anything is written.
    for (row, why) in [
        ("x,counter,kWh,both,", "neither import nor net"),
        ("x,gauge,kW,net,", "only counters"),
        ("x,counter,kWh,,lots", "not a number"),
    ] {
        let bad = write_file(
            dir.path(),
            "bad.csv",
            &format!("point,kind,unit,register,rollover\n{row}\n"),
        );
        let other = dir.path().join("other");
        let r = meterdb(["import", "--db", s(&other), "--meta", s(&bad), s(&f)]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(r.stderr.contains(why), "{}", r.stderr);
        assert!(!other.exists());
    }
}

#[test]
fn replace_meter_records_and_forgets() {
    let dir = tempfile::tempdir().unwrap();
    // The meter is replaced at 18:00: the old one read 1060 last, the new one began at 2.
    let csv = "point,ts,value\n\
               r,2026-01-01T00:00:00+08:00,1000\n\
               r,2026-01-01T06:00:00+08:00,1040\n\
               r,2026-01-01T12:00:00+08:00,1050\n\
               r,2026-01-01T18:00:00+08:00,5\n\
               r,2026-01-02T00:00:00+08:00,20\n\
               g,2026-01-01T00:00:00+08:00,1\n";
    let f = write_file(dir.path(), "a.csv", csv);
    let db = dir.path().join("db");
    let meta = write_file(dir.path(), "m.csv", "point,kind\nr,counter\ng,gauge\n");
    ok(["import", "--db", s(&db), "--meta", s(&meta), s(&f)]);
    // Without a record the fall to 5 is an inferred replacement, counted from zero.
    assert_eq!(col(&days(&db, "r")[0], "consumption"), "70");
    let at = "2026-01-01T18:00:00+08:00";
    let r = ok([
        "replace-meter",
        "--db",
        s(&db),
        "--point",
        "r",
        "--ts",
        at,
        "--old-final",
        "1060",
        "--new-initial",
        "2",
    ]);
    assert!(
        r.stdout
            .contains("meter replaced at 2026-01-01T18:00:00+08:00"),
        "{}",
        r.stdout
    );
    // 50 + (1060 - 1050) + (5 - 2) + 15.
    assert_eq!(col(&days(&db, "r")[0], "consumption"), "78");
    // Epoch milliseconds work as well; forgetting it restores the inferred replacement.
    let ms = meterdb::time::parse_timestamp(at).unwrap().to_string();
    ok([
        "replace-meter",
        "--db",
        s(&db),
        "--point",
        "r",
        "--ts",
        &ms,
        "--forget",
    ]);
    assert_eq!(col(&days(&db, "r")[0], "consumption"), "70");

    // Errors: (database, point, timestamp, what follows, exit code, message).
    let missing = dir.path().join("none");
    let record: &[&str] = &["--old-final", "1", "--new-initial", "0"];
    type Case<'a> = (&'a Path, &'a str, &'a str, &'a [&'a str], i32, &'a str);
    let cases: [Case<'_>; 6] = [
        (&db, "r", at, &["--forget"], 1, "no meter replacement"),
        (&db, "g", at, record, 1, "gauge"),
        (&db, "nope", at, record, 1, "unknown point"),
        (&db, "r", at, &[], 2, ""),
        (&db, "r", "yesterday", record, 2, ""),
        (&missing, "r", at, record, 1, ""),
    ];
    for (db, point, ts, rest, code, msg) in cases {
        let mut args = vec!["replace-meter", "--db", s(db), "--point", point, "--ts", ts];
        args.extend_from_slice(rest);
        let r = meterdb(&args);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        assert!(r.stderr.contains(msg), "{args:?}: {}", r.stderr);
    }
    assert!(!missing.exists());
}
