//! Encode and decode speed of the column codecs on typical meter data, 100,000 samples each.
//!
//! `cargo bench -p meterdb-benches --bench codec -- --warm-up-time 1 --measurement-time 3`
//! Prints the codec chosen and its bytes per sample before measuring.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meterdb::codec::{self, CodecOptions};

const N: usize = 100_000;

/// A deterministic pseudo-random stream (splitmix64).
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (s ^ (s >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A regular 15-minute series.
fn timestamps() -> Vec<i64> {
    (0..N as i64)
        .map(|i| 1_700_000_000_000 + i * 900_000)
        .collect()
}

/// A monotone kWh register with 3 decimals: random increments of 0..=5000 thousandths.
fn register() -> Vec<f64> {
    let mut next = rng(1);
    let mut milli = 52_345_678i64;
    (0..N)
        .map(|_| {
            milli += (next() % 5001) as i64;
            milli as f64 / 1000.0
        })
        .collect()
}

/// Interval consumptions with 3 decimals: random 0..=5 kWh per interval.
fn interval() -> Vec<f64> {
    let mut next = rng(3);
    (0..N).map(|_| (next() % 5001) as f64 / 1000.0).collect()
}

/// A noisy kW gauge with 2 decimals.
fn gauge() -> Vec<f64> {
    let mut next = rng(2);
    (0..N)
        .map(|i| {
            let kw = 40.0 + 15.0 * (i as f64 / 96.0).sin() + (next() % 1000) as f64 / 100.0;
            (kw * 100.0).round() / 100.0
        })
        .collect()
}

/// Full-precision floats: not decimals.
fn sine() -> Vec<f64> {
    (0..N).map(|i| (i as f64 * 0.001).sin() * 100.0).collect()
}

fn bench_timestamps(c: &mut Criterion) {
    let ts = timestamps();
    let opts = CodecOptions::default();
    let mut col = Vec::new();
    let chosen = codec::encode_timestamps(&ts, &opts, &mut col);
    println!(
        "timestamps-15min: {chosen}, {:.4} bytes/sample",
        col.len() as f64 / N as f64
    );
    let mut g = c.benchmark_group("timestamps-15min");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(col.len() * 2);
        b.iter(|| {
            out.clear();
            codec::encode_timestamps(black_box(&ts), &opts, &mut out)
        })
    });
    g.bench_function("decode", |b| {
        let mut out = Vec::with_capacity(N);
        b.iter(|| {
            out.clear();
            codec::decode_timestamps(black_box(&col), N, &mut out).unwrap()
        })
    });
    g.finish();
}

fn bench_values(c: &mut Criterion) {
    for (name, vals) in [
        ("register-3dp", register()),
        ("gauge-2dp", gauge()),
        ("interval-3dp", interval()),
        ("sine-full", sine()),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(N as u64));
        for (label, opts) in [
            ("zstd3", CodecOptions::default()),
            ("nozstd", CodecOptions { zstd_level: None }),
        ] {
            let mut col = Vec::new();
            let chosen = codec::encode_values(&vals, &opts, &mut col);
            println!(
                "{name} ({label}): {chosen}, {:.4} bytes/sample",
                col.len() as f64 / N as f64
            );
            g.bench_function(BenchmarkId::new("encode", label), |b| {
                let mut out = Vec::with_capacity(N * 9);
                b.iter(|| {
                    out.clear();
                    codec::encode_values(black_box(&vals), &opts, &mut out)
                })
            });
            g.bench_function(BenchmarkId::new("decode", label), |b| {
                let mut out = Vec::with_capacity(N);
                b.iter(|| {
                    out.clear();
                    codec::decode_values(black_box(&col), N, &mut out).unwrap()
                })
            });
        }
        g.finish();
    }
}

/// A range scan decodes a block's timestamps and values together: 15-minute timestamps with a
/// 3-decimal register, the engine's common case.
fn bench_scan(c: &mut Criterion) {
    let opts = CodecOptions::default();
    let (mut ts_col, mut val_col) = (Vec::new(), Vec::new());
    codec::encode_timestamps(&timestamps(), &opts, &mut ts_col);
    codec::encode_values(&register(), &opts, &mut val_col);
    let mut g = c.benchmark_group("scan-ts+register");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("decode", |b| {
        let (mut ts, mut vals) = (Vec::with_capacity(N), Vec::with_capacity(N));
        b.iter(|| {
            ts.clear();
            vals.clear();
            codec::decode_timestamps(black_box(&ts_col), N, &mut ts).unwrap();
            codec::decode_values(black_box(&val_col), N, &mut vals).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_timestamps, bench_values, bench_scan);
criterion_main!(benches);
