//! Shared helpers of the criterion benchmarks: loading the shared real meter data.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

/// Path of `../shared/data/uk-meters.csv.gz`, if present.
pub fn shared_data() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/uk-meters.csv.gz"
    ));
    p.exists().then_some(p)
}

/// The shared data's rows as (point, ts ms, value), in file order.
pub fn load_shared() -> Option<Vec<(String, i64, f64)>> {
    let path = shared_data()?;
    let f = std::fs::File::open(path).ok()?;
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for line in r.lines().skip(1) {
        let line = line.ok()?;
        let mut it = line.split(',');
        let (p, t, v) = (it.next()?, it.next()?, it.next()?);
        let ts = meterdb::time::parse_timestamp(t).ok()?;
        out.push((p.to_string(), ts, v.parse().ok()?));
    }
    Some(out)
}
