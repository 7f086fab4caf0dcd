//! Which tiers are stored: a tier whose buckets summarise fewer than 24 readings at the
//! point's collection interval is computed from the raw samples when read (the hour for
//! 15-minute readings, and for a point whose interval is not declared), and its answers are
//! the same; a change of the interval derives the tiers again.

use std::path::Path;

use meterdb::io::{MemStorage, Storage};
use meterdb::{Db, PointKind, PointMeta, Tier, WriteBatch};

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

#[test]
fn the_hour_of_15_minute_readings_is_computed_when_read() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    let meta = PointMeta::new("kwh", PointKind::Counter).with_interval_ms(900_000);
    let id = db.define_point(meta.clone()).unwrap();
    let samples: Vec<(i64, f64)> = (0..5 * 96)
        .map(|i| (T0 + i * 900_000, 100.0 + i as f64 * 0.25))
        .collect();
    let mut b = WriteBatch::new();
    for &(t, v) in &samples {
        b.put(id, t, v);
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
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
    let mut b = WriteBatch::new();
    for &(t, v) in &samples {
        b.put(id, t, v);
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
    let names = s.list(Path::new("/db")).unwrap();
    assert_eq!(hour_files(&s), 0, "no hour files at an unknown interval");
    for tier in ["day-", "month-", "year-"] {
        assert!(
            names.iter().any(|n| n.starts_with(tier)),
            "{tier} files are stored: {names:?}"
        );
    }
    for tier in [Tier::Hour, Tier::Day, Tier::Month, Tier::Year] {
        let got = db.rollup(id, tier, T0 - 86_400_000, T0 + 10 * 86_400_000);
        let want = reference(&samples, &meta, tier, TZ);
        assert_rows_match(&got.unwrap(), &want, &format!("{tier:?}"));
    }
}
