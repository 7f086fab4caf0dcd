//! Encode and decode speed of the column codecs on typical meter data, 100,000 samples each.
//!
//! `cargo bench -p meterdb-benches --bench codec -- --warm-up-time 1 --measurement-time 3`
//! Prints the codec chosen and its bytes per sample before measuring.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meterdb::codec::{self, CodecOptions};
use meterdb_benches::data::{gauge, interval, register, sine, timestamps};

const N: usize = 100_000;

fn bench_timestamps(c: &mut Criterion) {
    let ts = timestamps(N);
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
        ("register-3dp", register(N)),
        ("gauge-2dp", gauge(N)),
        ("interval-3dp", interval(N)),
        ("sine-full", sine(N)),
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
    codec::encode_timestamps(&timestamps(N), &opts, &mut ts_col);
    codec::encode_values(&register(N), &opts, &mut val_col);
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
