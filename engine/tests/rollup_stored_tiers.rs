//! Which tiers are stored: a tier whose buckets summarise fewer than 24 readings at the
//! point's collection interval is computed from the raw samples when read (the hour for
//! 15-minute readings, and for a point whose interval is not declared), a year is merged from
//! the stored months when read, and the answers are the same; a change of the interval
//! derives the tiers again.

use std::path::Path;

use meterdb::io::{MemStorage, Storage};
use meterdb::{Db, PointKind, PointMeta, Tier, TierSet, WriteBatch};

mod support;
use support::{assert_rows_match, mem_opts, reference};

/// 2026-03-01T00:00:00+08:00.
const T0: i64 = 1_772_294_400_000;
const TZ: i32 = 480;

fn hour_files(s: &MemStorage) -> usize {
    s.list(Path::new("/db"))
        .unwrap()
        .iter()
        .filter(|n| n.starts_with("hour-"))
        .count()
}

/// Writes `samples` to each of `points` in one batch, then flushes.
fn write_and_flush(db: &Db, points: &[u32], samples: &[(i64, f64)]) {
    let mut b = WriteBatch::new();
    for &(t, v) in samples {
        for &p in points {
            b.put(p, t, v);
        }
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
}

#[test]
fn the_hour_of_15_minute_readings_is_computed_when_read() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    let meta = PointMeta::new("kwh", PointKind::Counter).with_interval_ms(900_000);
    let id = db.define_point(meta.clone()).unwrap();
    let samples: Vec<(i64, f64)> = (0..5 * 96)
        .map(|i| (T0 + i * 900_000, 100.0 + i as f64 * 0.25))
        .collect();
    write_and_flush(&db, &[id], &samples);
    assert_eq!(hour_files(&s), 0, "no hour files for 15-minute readings");
    let check = |db: &Db, meta: &PointMeta| {
        for tier in [Tier::Hour, Tier::Day, Tier::Month, Tier::Year] {
            let got = db.rollup(id, tier, T0 - 86_400_000, T0 + 10 * 86_400_000);
            let want = reference(&samples, meta, tier, TZ);
            assert_rows_match(&got.unwrap(), &want, &format!("{tier:?}"));
        }
    };
    check(&db, &meta);
    // Declared as read every minute: the hour is worth storing, derived again at once.
    let every_minute = meta.clone().with_interval_ms(60_000);
    db.define_point(every_minute.clone()).unwrap();
    db.flush().unwrap();
    assert!(
        hour_files(&s) > 0,
        "hour files once the interval is a minute"
    );
    check(&db, &every_minute);
}

#[test]
fn the_hour_of_a_point_of_unknown_interval_is_computed_when_read() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    let meta = PointMeta::new("kwh", PointKind::Counter);
    let id = db.define_point(meta.clone()).unwrap();
    // Half-hourly, with a gap and a repeat: the kind of series a CSV import brings with no
    // declared interval.
    let samples: Vec<(i64, f64)> = (0..3 * 48)
        .filter(|i| !(40..50).contains(i))
        .map(|i| (T0 + i * 1_800_000, 500.0 + i as f64 * 0.5))
        .collect();
    write_and_flush(&db, &[id], &samples);
    let names = s.list(Path::new("/db")).unwrap();
    assert_eq!(hour_files(&s), 0, "no hour files at an unknown interval");
    for tier in ["day-", "month-"] {
        assert!(
            names.iter().any(|n| n.starts_with(tier)),
            "{tier} files are stored: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("year-")),
        "years merged from months"
    );
    for tier in [Tier::Hour, Tier::Day, Tier::Month, Tier::Year] {
        let got = db.rollup(id, tier, T0 - 86_400_000, T0 + 10 * 86_400_000);
        let want = reference(&samples, &meta, tier, TZ);
        assert_rows_match(&got.unwrap(), &want, &format!("{tier:?}"));
    }
}

#[test]
fn a_year_is_merged_from_the_stored_months_and_stored_without_them() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    let meta = PointMeta::new("kwh", PointKind::Counter).with_interval_ms(3_600_000);
    let no_month = PointMeta::new("kwh-dy", PointKind::Counter)
        .with_interval_ms(3_600_000)
        .with_tiers(TierSet::NONE.with(Tier::Day).with(Tier::Year));
    let a = db.define_point(meta.clone()).unwrap();
    let b = db.define_point(no_month.clone()).unwrap();
    // Hourly readings over a new year (in the database's zone), then a late correction
    // and a reading left unflushed: the year is merged from months stored and fresh.
    let mut samples: Vec<(i64, f64)> = (0..60 * 24)
        .map(|i| {
            (
                T0 - 40 * 86_400_000 + i * 3_600_000,
                1000.0 + i as f64 * 1.5,
            )
        })
        .collect();
    write_and_flush(&db, &[a, b], &samples);
    let names = s.list(Path::new("/db")).unwrap();
    let years = names.iter().filter(|n| n.starts_with("year-")).count();
    assert_eq!(
        years, 1,
        "only the point without months stores its years: {names:?}"
    );
    samples[100].1 += 0.25;
    db.put(a, samples[100].0, samples[100].1).unwrap();
    db.put(b, samples[100].0, samples[100].1).unwrap();
    for (id, meta) in [(a, &meta), (b, &no_month)] {
        for tier in [Tier::Month, Tier::Year] {
            if tier == Tier::Month && id == b {
                continue;
            }
            let got = db.rollup(id, tier, T0 - 400 * 86_400_000, T0 + 400 * 86_400_000);
            let want = reference(&samples, meta, tier, TZ);
            assert_rows_match(&got.unwrap(), &want, &format!("{} {tier:?}", meta.key));
        }
    }
    let sum = db
        .rollup_sum(
            &[a, b],
            Tier::Year,
            T0 - 400 * 86_400_000,
            T0 + 400 * 86_400_000,
        )
        .unwrap();
    let ya = db
        .rollup(a, Tier::Year, T0 - 400 * 86_400_000, T0 + 400 * 86_400_000)
        .unwrap();
    assert_eq!(sum.len(), ya.len());
    for (s, r) in sum.iter().zip(&ya) {
        assert_eq!(s.start, r.bucket.start);
        assert_eq!(s.count, 2 * r.bucket.count);
    }
}
