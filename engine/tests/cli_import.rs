#![cfg(feature = "cli")]
//! `meterdb import` and `meterdb query`: bad rows, corrections, output format, ranges, gzip,
//! point kinds and metadata, exit codes.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::{meterdb, ok, query, s, write_file, write_gz};
use meterdb::{Db, Options, PointKind};

/// Columns in another order than `point,ts,value`; one bad row of each kind.
const WITH_BAD_ROWS: &str = "\
ts,value,point
2024-01-01T00:00:00Z,0.1,a
2024-01-01T00:15:00Z,NaN,a
yesterday,1,a
1704068100000,inf,a
2024-01-01T00:30:00Z,2
2024-01-01T00:45:00Z,3,
2024-01-01T01:00:00Z,abc,a
2024-01-01T00:00:00Z,1234.567,b
2023-12-31T23:30:00Z,-0,a
2024-01-01T00:00:00Z,0.2,a
1704070800000,0.30000000000000004,a
2024-01-01T01:00:00Z,1e300,b
";

#[test]
fn bad_rows_are_reported_by_line_and_the_good_ones_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let csv = write_file(dir.path(), "in.csv", WITH_BAD_ROWS);
    let r = ok(["import", "--db", s(&db), s(&csv)]);

    for (line, reason) in [
        (3, "value \"NaN\" is not finite"),
        (4, "bad timestamp \"yesterday\""),
        (5, "value \"inf\" is not finite"),
        (6, "expected 3 fields, found 2"),
        (7, "point key is empty"),
        (8, "value \"abc\" is not a number"),
    ] {
        let want = format!("meterdb: rejected {}:{line}: {reason}", csv.display());
        assert!(
            r.stderr.contains(&want),
            "missing {want:?} in\n{}",
            r.stderr
        );
    }
    assert_eq!(r.stderr.lines().count(), 6, "{}", r.stderr);
    assert!(r.stdout.contains("rows read        12"), "{}", r.stdout);
    assert!(r.stdout.contains("samples written  6"), "{}", r.stdout);
    assert!(r.stdout.contains("rejected rows    6"), "{}", r.stdout);
    assert!(
        r.stdout.contains("points           2 new, 2 total"),
        "{}",
        r.stdout
    );

    // The correction of a/00:00 (0.1, then 0.2) keeps the last; output format exact.
    assert_eq!(
        query(&db, "a", &[]),
        [
            "point,ts,value",
            "a,2023-12-31T23:30:00Z,-0",
            "a,2024-01-01T00:00:00Z,0.2",
            "a,2024-01-01T01:00:00Z,0.30000000000000004",
        ]
    );
    assert_eq!(
        query(&db, "b", &[]),
        [
            "point,ts,value",
            "b,2024-01-01T00:00:00Z,1234.567",
            "b,2024-01-01T01:00:00Z,1e300",
        ]
    );
}

#[test]
fn a_later_import_corrects_an_earlier_one_and_quality_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let first = write_file(
        dir.path(),
        "1.csv",
        "point,ts,value\nm,1704067200000,1\nm,1704068100000,2\n",
    );
    let second = write_file(
        dir.path(),
        "2.csv",
        "quality, value ,point,ts\n3,20,m,2024-01-01T00:15:00Z\n,30,m,2024-01-01T00:30:00Z\n",
    );
    ok(["import", "--db", s(&db), s(&first)]);
    ok(["import", "--db", s(&db), s(&second)]);
    assert_eq!(
        query(&db, "m", &[]),
        [
            "point,ts,value",
            "m,2024-01-01T00:00:00Z,1",
            "m,2024-01-01T00:15:00Z,20",
            "m,2024-01-01T00:30:00Z,30",
        ]
    );
    let d = Db::open(&db, Options::default()).unwrap();
    let id = d.point_id("m").unwrap();
    let q: Vec<u8> = d
        .range(id, 0, i64::MAX)
        .unwrap()
        .map(|s| s.unwrap().quality.0)
        .collect();
    assert_eq!(q, [1, 3, 1]);
}

#[test]
fn from_is_inclusive_and_to_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut text = String::from("point,ts,value\n");
    for i in 0..8 {
        text.push_str(&format!("p,2024-03-01T0{i}:00:00Z,{i}\n"));
    }
    let csv = write_file(dir.path(), "in.csv", &text);
    ok(["import", "--db", s(&db), s(&csv)]);
    let rows = |extra: &[&str]| query(&db, "p", extra)[1..].to_vec();
    assert_eq!(
        rows(&[
            "--from",
            "2024-03-01T02:00:00Z",
            "--to",
            "2024-03-01T04:00:00Z"
        ]),
        ["p,2024-03-01T02:00:00Z,2", "p,2024-03-01T03:00:00Z,3"]
    );
    // Epoch ms and an offset mean the same instants.
    assert_eq!(
        rows(&[
            "--from",
            "1709258400000",
            "--to",
            "2024-03-01T05:00:00+01:00"
        ]),
        ["p,2024-03-01T02:00:00Z,2", "p,2024-03-01T03:00:00Z,3"]
    );
    assert_eq!(rows(&["--from", "2024-03-01T06:00:00Z"]).len(), 2);
    assert_eq!(rows(&["--to", "2024-03-01T01:00:00Z"]).len(), 1);
    assert!(rows(&[
        "--from",
        "2024-03-01T02:00:00Z",
        "--to",
        "2024-03-01T02:00:00Z"
    ])
    .is_empty());

    let r = meterdb([
        "query",
        "--db",
        s(&db),
        "--point",
        "p",
        "--from",
        "2024-03-02T00:00:00Z",
        "--to",
        "2024-03-01T00:00:00Z",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = meterdb(["query", "--db", s(&db), "--point", "p", "--from", "noon"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("bad timestamp"), "{r:?}");
}

#[test]
fn unknown_point_and_missing_database_fail_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let csv = write_file(dir.path(), "in.csv", "point,ts,value\nx,0,1\n");
    ok(["import", "--db", s(&db), s(&csv)]);
    let r = meterdb(["query", "--db", s(&db), "--point", "nope"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.starts_with("meterdb: unknown point \"nope\""),
        "{r:?}"
    );
    assert!(r.stdout.is_empty());

    let none = dir.path().join("none");
    let r = meterdb(["query", "--db", s(&none), "--point", "x"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("meterdb: open "), "{r:?}");
    assert!(!none.exists(), "a query created a database");
}

#[test]
fn input_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    // A missing file stops the command before the database is created.
    let missing = dir.path().join("missing.csv");
    let r = meterdb(["import", "--db", s(&db), s(&missing)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("missing.csv"), "{r:?}");
    assert!(!db.exists());

    // A file without the needed header fails; the good file beside it is imported.
    let bad = write_file(dir.path(), "bad.csv", "point,time,value\nx,0,1\n");
    let good = write_file(dir.path(), "good.csv", "point,ts,value\nx,0,1\n");
    let r = meterdb(["import", "--db", s(&db), s(&bad), s(&good)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("bad.csv: header"), "{r:?}");
    assert_eq!(query(&db, "x", &[]).len(), 2);

    // A damaged gzip stream is an input error too.
    let gz = write_file(dir.path(), "broken.csv.gz", "this is not gzip");
    let r = meterdb(["import", "--db", s(&db), s(&gz)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("broken.csv.gz"), "{r:?}");

    // No file at all is a usage error.
    assert_eq!(meterdb(["import", "--db", s(&db)]).code, 2);
}

#[test]
fn gzip_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut text = String::from("point,ts,value\n");
    for i in 0..25_000 {
        text.push_str(&format!(
            "g,{},{}.5\n",
            1_704_067_200_000i64 + i * 900_000,
            i
        ));
    }
    let gz = write_gz(dir.path(), "in.csv.gz", &text);
    let r = ok(["import", "--db", s(&db), s(&gz)]);
    assert!(r.stdout.contains("samples written  25000"), "{}", r.stdout);
    let rows = query(&db, "g", &[]);
    assert_eq!(rows.len(), 25_001);
    assert_eq!(rows[1], "g,2024-01-01T00:00:00Z,0.5");
    assert_eq!(rows[25_000], "g,2024-09-17T09:45:00Z,24999.5");
}

#[test]
fn kind_applies_to_new_points_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let a = write_file(dir.path(), "a.csv", "point,ts,value\nold,0,1\n");
    let b = write_file(dir.path(), "b.csv", "point,ts,value\nold,1,2\nnew,1,2\n");
    ok(["import", "--db", s(&db), s(&a)]);
    let r = ok(["import", "--db", s(&db), "--kind", "counter", s(&b)]);
    assert!(
        r.stdout.contains("points           1 new, 2 total"),
        "{}",
        r.stdout
    );
    let d = Db::open(&db, Options::default()).unwrap();
    let kind = |k: &str| d.point(d.point_id(k).unwrap()).unwrap().kind;
    assert_eq!(kind("old"), PointKind::Gauge);
    assert_eq!(kind("new"), PointKind::Counter);
    drop(d);
    assert_eq!(
        meterdb(["import", "--db", s(&db), "--kind", "volts", s(&b)]).code,
        2
    );
}

#[test]
fn meta_defines_points_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let meta = write_file(
        dir.path(),
        "meta.csv",
        "point,kind,unit,precision,energy_type,interval_ms,multiplier\n\
         main-kwh,counter,kWh,3,0100,900000,40\n\
         temp,gauge,degC,,,,\n",
    );
    let data = write_file(
        dir.path(),
        "d.csv",
        "point,ts,value\nmain-kwh,0,10.5\nother,0,1\n",
    );
    let r = ok(["import", "--db", s(&db), "--meta", s(&meta), s(&data)]);
    assert!(
        r.stdout.contains("points           3 new, 3 total"),
        "{}",
        r.stdout
    );
    let d = Db::open(&db, Options::default()).unwrap();
    let m = d.point(d.point_id("main-kwh").unwrap()).unwrap();
    assert_eq!(m.kind, PointKind::Counter);
    assert_eq!(m.unit, "kWh");
    assert_eq!(m.precision, Some(3));
    assert_eq!(m.energy_type, "0100");
    assert_eq!(m.interval_ms, Some(900_000));
    assert_eq!(m.multiplier, 40.0);
    let t = d.point(d.point_id("temp").unwrap()).unwrap();
    assert_eq!(
        (t.kind, t.unit.as_str(), t.precision),
        (PointKind::Gauge, "degC", None)
    );
    drop(d);

    // A bad metadata row stops everything before the database is touched.
    let other = dir.path().join("db2");
    let bad = write_file(
        dir.path(),
        "bad.csv",
        "kind,point\ncounter,ok\nmeter,x\ngauge,ok\n",
    );
    let r = meterdb(["import", "--db", s(&other), "--meta", s(&bad), s(&data)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("bad.csv:3: point kind \"meter\""),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("bad.csv:4: point \"ok\" is defined on line 2 too"),
        "{r:?}"
    );
    assert!(!other.exists());
}

#[test]
fn many_bad_rows_show_the_first_20_then_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut text = String::from("point,ts,value\n");
    for i in 0..50 {
        text.push_str(&format!("p,{i},x\n"));
    }
    text.push_str("p,0,1\n");
    let csv = write_file(dir.path(), "in.csv", &text);
    let r = ok(["import", "--db", s(&db), s(&csv)]);
    assert_eq!(
        r.stderr.matches("meterdb: rejected ").count(),
        20,
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("in.csv:21:") && !r.stderr.contains("in.csv:22:"));
    assert!(
        r.stderr.contains("30 more rejected rows not shown"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("rejected rows    50"), "{}", r.stdout);
    assert_eq!(
        query(&db, "p", &[]),
        ["point,ts,value", "p,1970-01-01T00:00:00Z,1"]
    );
}

#[test]
fn keys_that_need_quoting_are_quoted_and_overlong_ones_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let long = "k".repeat(256);
    let text = format!("point,ts,value\n\"plant 1, \"\"main\"\"\",0,1\n{long},0,1\n");
    let csv = write_file(dir.path(), "in.csv", &text);
    let r = ok(["import", "--db", s(&db), s(&csv)]);
    assert!(
        r.stderr
            .contains("in.csv:3: point key of 256 bytes is longer than 255"),
        "{}",
        r.stderr
    );
    assert_eq!(
        query(&db, "plant 1, \"main\"", &[]),
        [
            "point,ts,value",
            "\"plant 1, \"\"main\"\"\",1970-01-01T00:00:00Z,1"
        ]
    );
}

#[test]
fn a_closed_pipe_ends_query_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut text = String::from("point,ts,value\n");
    for i in 0..50_000 {
        text.push_str(&format!("p,{},{}\n", i * 1000, i));
    }
    let csv = write_file(dir.path(), "in.csv", &text);
    ok(["import", "--db", s(&db), s(&csv)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterdb"))
        .args(["query", "--db", s(&db), "--point", "p"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first[..15], b"point,ts,value\n");
    drop(child.stdout.take()); // like `| head`: the reader goes away
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_register_imported_as_a_gauge_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut text = String::from("point,ts,value\n");
    for i in 0..50 {
        // A rising register, a noisy gauge, and a register by name.
        text.push_str(&format!(
            "plant-main-kwh,{},{}\n",
            i * 900_000,
            1000 + 3 * i
        ));
        text.push_str(&format!("load-kw,{},{}\n", i * 900_000, 40 + (i * 7) % 11));
        text.push_str(&format!("gas-register,{},{}\n", i * 900_000, 7));
    }
    let csv = write_file(dir.path(), "in.csv", &text);
    let r = ok(["import", "--db", s(&db), s(&csv)]);
    assert!(
        r.stderr
            .contains("\"plant-main-kwh\" looks like a cumulative register")
            && r.stderr.contains("rise in 100% of 49 steps"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\"gas-register\" looks like"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("load-kw"), "{}", r.stderr);
    assert!(r.stderr.contains("--kind counter"), "{}", r.stderr);
    // Imported with --kind counter: no hint.
    let db2 = dir.path().join("db2");
    let r = ok(["import", "--db", s(&db2), "--kind", "counter", s(&csv)]);
    assert!(!r.stderr.contains("looks like"), "{}", r.stderr);
}
