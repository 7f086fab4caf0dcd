//! Rollup queries against the same answers computed from raw samples with the engine's own
//! range reads, and ingest (write + flush) with and without the five tiers. For the ingest
//! ratio with the sets run in turns, and its CPU time, see `examples/ingest_tiers.rs`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use meterdb::rollup::{buckets_of_samples, consumption_rows, Neighbours, Rules};
use meterdb::{Db, Durability, Options, PointId, PointKind, PointMeta, Tier, TierSet, WriteBatch};
use meterdb_examples::sim::Rng;

/// 2025-01-01T00:00:00+08:00.
const Y0: i64 = 1_735_660_800_000;
const DAY: i64 = 86_400_000;
const TZ: i32 = 480;

/// `points` registers read every `interval` for `days` days from `start`.
fn build(
    points: usize,
    days: i64,
    interval: i64,
    start: i64,
) -> (tempfile::TempDir, Db, Vec<PointId>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let ids: Vec<PointId> = (0..points)
        .map(|p| {
            db.define_point(
                PointMeta::new(format!("p{p}"), PointKind::Counter).with_interval_ms(interval),
            )
            .unwrap()
        })
        .collect();
    let n = days * DAY / interval;
    let mut rng = Rng::new(1);
    let mut reading = vec![1000.0f64; points];
    let per_batch = (200_000 / points as i64).max(1);
    let mut i = 0;
    while i < n {
        let mut b = WriteBatch::with_capacity(points * per_batch as usize);
        for k in i..(i + per_batch).min(n) {
            for (p, &id) in ids.iter().enumerate() {
                reading[p] = ((reading[p] + rng.unit() * 10.0) * 100.0).round() / 100.0;
                b.put(id, start + k * interval, reading[p]);
            }
        }
        db.write(&b).unwrap();
        i += per_batch;
    }
    db.flush().unwrap();
    db.compact().unwrap();
    (dir, db, ids)
}

/// A point's consumption per bucket computed from its raw samples.
fn from_raw(db: &Db, id: PointId, tier: Tier, from: i64, to: i64) -> Vec<f64> {
    let cols = db.read_range(id, from - DAY, to + DAY).unwrap();
    let buckets: Vec<_> = buckets_of_samples(tier, TZ, &cols, &Rules::IMPORT)
        .into_iter()
        .filter(|b| b.start >= from && b.start < to)
        .collect();
    let before = cols
        .ts
        .iter()
        .rposition(|&t| t < from)
        .map(|i| (cols.ts[i], cols.values[i]));
    let after = cols
        .ts
        .iter()
        .position(|&t| t >= to)
        .map(|i| (cols.ts[i], cols.values[i]));
    consumption_rows(
        tier,
        TZ,
        from,
        to,
        &buckets,
        Neighbours { before, after },
        true,
        Rules::IMPORT,
        1.0,
        None,
    )
    .iter()
    .map(|r| r.consumption.unwrap())
    .collect()
}

/// Whether a filter on the command line names only the other group (its setup takes long):
/// `cargo bench --bench rollup -- ingest_and_flush` builds no query database.
fn other_group_only(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    !filters.is_empty()
        && filters.iter().all(|f| {
            ["rollup/", "ingest_and_flush"]
                .iter()
                .any(|g| *g != group && f.starts_with(g))
        })
}

fn queries(c: &mut Criterion) {
    if other_group_only("rollup/") {
        return;
    }
    let year = (Y0, Tier::Year.bucket_end(Y0, TZ));
    let (_d1, db, ids) = build(1000, 366, 3_600_000, Y0 - DAY);
    let mut g = c.benchmark_group("rollup");
    g.throughput(Throughput::Elements(365));
    g.bench_function("one_point_365_days", |b| {
        b.iter(|| db.rollup(ids[7], Tier::Day, year.0, year.1).unwrap())
    });
    g.bench_function("one_point_365_days_from_raw", |b| {
        b.iter(|| from_raw(&db, ids[7], Tier::Day, year.0, year.1))
    });
    g.throughput(Throughput::Elements(365 * 1000));
    g.bench_function("sum_1000_points_365_days", |b| {
        b.iter(|| {
            let rows = db.rollup_sum(&ids, Tier::Day, year.0, year.1).unwrap();
            assert_eq!(rows.len(), 365);
        })
    });
    g.bench_function("sum_1000_points_365_days_from_raw", |b| {
        b.iter(|| {
            let mut sum = vec![0.0; 365];
            for &id in &ids {
                for (s, v) in sum
                    .iter_mut()
                    .zip(from_raw(&db, id, Tier::Day, year.0, year.1))
                {
                    *s += v;
                }
            }
            sum
        })
    });
    drop(db);

    let ten = (Y0, Tier::Year.shift(Y0, 10, TZ));
    let (_d2, db, ids) = build(1000, 3660, DAY, Y0 - DAY);
    g.throughput(Throughput::Elements(120 * 1000));
    g.bench_function("months_10_years_1000_points", |b| {
        b.iter(|| db.rollup_many(&ids, Tier::Month, ten.0, ten.1).unwrap())
    });
    // Years are merged from the stored months when read (no year files).
    g.throughput(Throughput::Elements(10 * 1000));
    g.bench_function("years_10_years_1000_points_summed", |b| {
        b.iter(|| {
            let rows = db.rollup_sum(&ids, Tier::Year, ten.0, ten.1).unwrap();
            assert_eq!(rows.len(), 10);
        })
    });
    g.throughput(Throughput::Elements(120 * 1000));
    g.bench_function("months_10_years_1000_points_from_raw", |b| {
        b.iter(|| {
            ids.iter()
                .map(|&id| from_raw(&db, id, Tier::Month, ten.0, ten.1))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

fn ingest(c: &mut Criterion) {
    if other_group_only("ingest_and_flush") {
        return;
    }
    let mut g = c.benchmark_group("ingest_and_flush");
    let points = 1000usize;
    let intervals = 3000i64;
    g.throughput(Throughput::Elements(points as u64 * intervals as u64));
    let four = TierSet::NONE
        .with(Tier::Hour)
        .with(Tier::Day)
        .with(Tier::Month)
        .with(Tier::Year);
    // The default flush threads (2 on a machine with two cores or more: rollups computed
    // beside the raw segments), and one thread (the same work one after the other).
    let threads = Options::default().flush_threads;
    for (name, tiers, flush_threads) in [
        ("no_tiers", TierSet::NONE, threads),
        ("five_tiers", TierSet::ALL, threads),
        ("hour_to_year", four, threads),
        ("five_tiers_one_flush_thread", TierSet::ALL, 1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            tiers,
            background: false,
            flush_threads,
            ..Options::default().durability(Durability::Interval(Duration::from_secs(1)))
        };
        let db = Db::open(dir.path(), opts).unwrap();
        let ids: Vec<PointId> = (0..points)
            .map(|p| {
                db.define_point(PointMeta::new(format!("p{p}"), PointKind::Counter))
                    .unwrap()
            })
            .collect();
        let mut round = 0i64;
        g.bench_function(format!("batch_3000000_then_flush_{name}"), |b| {
            b.iter_batched(
                || {
                    let mut batch = WriteBatch::with_capacity(points * intervals as usize);
                    for i in 0..intervals {
                        let k = round * intervals + i;
                        for &id in &ids {
                            batch.put(id, Y0 + k * 900_000, 1000.0 + k as f64 * 1.25);
                        }
                    }
                    round += 1;
                    batch
                },
                |batch| {
                    db.write(&batch).unwrap();
                    db.flush().unwrap();
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = queries, ingest
}
criterion_main!(benches);
