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

/// Synthetic meter data for the codec benchmarks: deterministic, so every run measures the same
/// bytes.
pub mod data {
    /// A deterministic pseudo-random stream (splitmix64).
    pub fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (s ^ (s >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    /// A regular 15-minute series of `n` timestamps (ms).
    pub fn timestamps(n: usize) -> Vec<i64> {
        (0..n as i64)
            .map(|i| 1_700_000_000_000 + i * 900_000)
            .collect()
    }

    /// A monotone kWh register with 3 decimals: random increments of 0..=5000 thousandths.
    pub fn register(n: usize) -> Vec<f64> {
        let mut next = rng(1);
        let mut milli = 52_345_678i64;
        (0..n)
            .map(|_| {
                milli += (next() % 5001) as i64;
                milli as f64 / 1000.0
            })
            .collect()
    }

    /// A noisy kW gauge with 2 decimals: a daily-ish swing plus up to 10 kW of noise.
    pub fn gauge(n: usize) -> Vec<f64> {
        let mut next = rng(2);
        (0..n)
            .map(|i| {
                let kw = 40.0 + 15.0 * (i as f64 / 96.0).sin() + (next() % 1000) as f64 / 100.0;
                (kw * 100.0).round() / 100.0
            })
            .collect()
    }

    /// Interval consumptions with 3 decimals: random 0..=5 kWh per interval.
    pub fn interval(n: usize) -> Vec<f64> {
        let mut next = rng(3);
        (0..n).map(|_| (next() % 5001) as f64 / 1000.0).collect()
    }

    /// Full-precision floats, not decimals: a slow sine.
    pub fn sine(n: usize) -> Vec<f64> {
        (0..n).map(|i| (i as f64 * 0.001).sin() * 100.0).collect()
    }
}
