//! The same codec work as `codec.rs`, timed as the minimum of many runs rather than by
//! criterion's statistics: on a shared machine the minimum is the least disturbed estimate.
//!
//! `cargo bench -p meterdb-benches --bench codec_min`

use std::hint::black_box;
use std::time::Instant;

use meterdb::codec::{self, CodecOptions};
use meterdb_benches::data::{gauge, interval, register, sine, timestamps};

const N: usize = 100_000;
const RUNS: usize = 300;

/// Millions of samples per second of the fastest of `RUNS` runs of `f`.
fn best_rate(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    N as f64 / best / 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let opts = CodecOptions::default();
    let ts = timestamps(N);
    let mut ts_col = Vec::new();
    let c = codec::encode_timestamps(&ts, &opts, &mut ts_col);
    let mut out_ts = Vec::with_capacity(N);
    let mut col = Vec::with_capacity(N * 9);
    let dec = best_rate(|| {
        out_ts.clear();
        codec::decode_timestamps(black_box(&ts_col), N, &mut out_ts).unwrap();
    });
    let enc = best_rate(|| {
        col.clear();
        codec::encode_timestamps(black_box(&ts), &opts, &mut col);
    });
    println!(
        "{:<16} {:<20} {:>7.4} B/sample  decode {dec:>6.0} M/s  encode {enc:>5.0} M/s",
        "timestamps-15min",
        c.to_string(),
        ts_col.len() as f64 / N as f64
    );
    for (name, vals) in [
        ("register-3dp", register(N)),
        ("gauge-2dp", gauge(N)),
        ("interval-3dp", interval(N)),
        ("sine-full", sine(N)),
    ] {
        let mut vcol = Vec::new();
        let c = codec::encode_values(&vals, &opts, &mut vcol);
        let mut out = Vec::with_capacity(N);
        let dec = best_rate(|| {
            out.clear();
            codec::decode_values(black_box(&vcol), N, &mut out).unwrap();
        });
        let enc = best_rate(|| {
            col.clear();
            codec::encode_values(black_box(&vals), &opts, &mut col);
        });
        println!(
            "{name:<16} {:<20} {:>7.4} B/sample  decode {dec:>6.0} M/s  encode {enc:>5.0} M/s",
            c.to_string(),
            vcol.len() as f64 / N as f64
        );
        if name == "register-3dp" {
            let scan = best_rate(|| {
                out_ts.clear();
                out.clear();
                codec::decode_timestamps(black_box(&ts_col), N, &mut out_ts).unwrap();
                codec::decode_values(black_box(&vcol), N, &mut out).unwrap();
            });
            println!(
                "{:<16} timestamps + values: decode {scan:.0} M samples/s",
                "scan"
            );
        }
    }
}
