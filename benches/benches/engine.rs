//! Whole-engine benchmarks: ingest, range-scan decode, latest value.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use meterdb::{Db, Durability, Options, WriteBatch};
use meterdb_examples::sim;

const START: i64 = 1_767_196_800_000;
const IV: i64 = 900_000;

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    for &(points, intervals) in &[(100usize, 10usize), (1000, 100)] {
        let n = points * intervals;
        g.throughput(Throughput::Elements(n as u64));
        let dir = tempfile::tempdir().unwrap();
        // The raw write path (WAL synced every second, background flushes); the rollup
        // tiers' cost is measured by the `rollup` bench.
        let opts = Options {
            tiers: meterdb::TierSet::NONE,
            ..Options::default().durability(Durability::Interval(Duration::from_secs(1)))
        };
        let db = Db::open(dir.path(), opts).unwrap();
        let ids: Vec<u32> = (0..points)
            .map(|p| db.ensure_point(&format!("p{p}")).unwrap())
            .collect();
        let mut round = 0i64;
        g.bench_function(format!("batch_{n}"), |b| {
            b.iter_batched(
                || {
                    let mut batch = WriteBatch::with_capacity(n);
                    for i in 0..intervals as i64 {
                        let ts = START + (round * intervals as i64 + i) * IV;
                        for &id in &ids {
                            batch.put(id, ts, 1000.0 + (ts % 7919) as f64 * 0.001);
                        }
                    }
                    round += 1;
                    batch
                },
                |batch| db.write(&batch).unwrap(),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn scan_and_latest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let meters = sim::plant(50, 7);
    let mut ids = Vec::new();
    let mut total = 0;
    for m in &meters {
        let id = db.define_point(m.meta.clone()).unwrap();
        let s = m.samples(START, IV, 365 * 96);
        let mut b = WriteBatch::with_capacity(s.len());
        for &(t, v) in &s {
            b.put(id, t, v);
        }
        total += s.len();
        db.write(&b).unwrap();
        ids.push(id);
    }
    db.flush().unwrap();
    db.compact().unwrap();

    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(total as u64));
    g.bench_function("year_of_50_points", |b| {
        b.iter(|| {
            let mut n = 0;
            for &id in &ids {
                n += db.read_range(id, i64::MIN, i64::MAX).unwrap().len();
            }
            assert_eq!(n, total);
        })
    });
    g.throughput(Throughput::Elements(total as u64));
    g.bench_function("year_of_50_points_iterator", |b| {
        b.iter(|| {
            let mut n = 0;
            for &id in &ids {
                for s in db.range(id, i64::MIN, i64::MAX).unwrap() {
                    std::hint::black_box(s.unwrap());
                    n += 1;
                }
            }
            assert_eq!(n, total);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("latest");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_point", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ids.len();
            db.latest(ids[i]).unwrap().unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = ingest, scan_and_latest
}
criterion_main!(benches);
