#![cfg(feature = "cli")]
//! The shared real-world meter data through `meterdb import` and back out through
//! `meterdb query`: every sample exactly, the last value winning for a repeated timestamp.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use common::{ok, s};
use meterdb::time::parse_timestamp;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/uk-meters.csv.gz"
);

/// point -> ts -> value, the last row of a repeated (point, ts) winning; and the row count.
fn expected(path: &Path) -> (BTreeMap<String, BTreeMap<i64, f64>>, usize) {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (p, t, v) = (col("point"), col("ts"), col("value"));
    let mut map: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    let mut rows = 0;
    for r in rdr.records() {
        let r = r.unwrap();
        let ts = parse_timestamp(&r[t]).unwrap();
        let value: f64 = r[v].parse().unwrap();
        map.entry(r[p].to_string()).or_default().insert(ts, value);
        rows += 1;
    }
    (map, rows)
}

#[test]
fn uk_meters_round_trip_exactly() {
    let data = Path::new(DATA);
    if !data.exists() {
        println!("skipping: ../shared/data not found");
        return;
    }
    let (want, rows) = expected(data);
    let distinct: usize = want.values().map(BTreeMap::len).sum();
    assert_eq!(rows, 214_072);
    // The README's correction case: samples 1 and 2 repeat 15 and 24 timestamps (and so do
    // the register series derived from them).
    let repeats = |k: &str| rows_of(data, k) - want[k].len();
    assert_eq!(repeats("uk-electricity-hdd-only-hourly-sample-1"), 15);
    assert_eq!(repeats("uk-electricity-hdd-only-hourly-sample-2"), 24);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let r = ok(["import", "--db", s(&db), DATA]);
    assert!(
        r.stdout.contains(&format!("rows read        {rows}\n")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rejected rows    0\n"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("points           {} new, {0} total", want.len())),
        "{}",
        r.stdout
    );

    let mut checked = 0;
    for (point, samples) in &want {
        let out = ok(["query", "--db", s(&db), "--point", point]).stdout;
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("point,ts,value"));
        let mut n = 0;
        for ((&ts, &value), line) in samples.iter().zip(lines.by_ref()) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{line}");
            assert_eq!(f[0], point, "{line}");
            assert!(f[1].ends_with('Z'), "{line}");
            assert_eq!(parse_timestamp(f[1]).unwrap(), ts, "{point}: {line}");
            let got: f64 = f[2].parse().unwrap();
            assert_eq!(got.to_bits(), value.to_bits(), "{point}: {line}");
            n += 1;
        }
        assert_eq!(n, samples.len(), "{point}: too few rows");
        assert_eq!(lines.next(), None, "{point}: too many rows");
        checked += n;
    }
    assert_eq!(checked, distinct);
}

/// Rows of one point in the file, repeats included.
fn rows_of(path: &Path, point: &str) -> usize {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let prefix = format!("{point},");
    text.lines().filter(|l| l.starts_with(&prefix)).count()
}
