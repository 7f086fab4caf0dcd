//! Regression (found while building statistics redelivery): a database written with one
//! default tier set (`Options::tiers`) and opened with another combined coarser buckets from
//! finer ones that had never been stored: after a write, a day's mean came from the one
//! hour just recomputed. Opening with another set now derives the tiers again, and a point
//! whose own tiers change does the same.

use std::path::Path;
use std::sync::Arc;

use meterdb::io::MemStorage;
use meterdb::{Db, Durability, Options, PointKind, PointMeta, Tier, TierSet, WriteBatch};

mod support;
use support::{assert_rows_match, reference};

/// 2026-03-01T00:00:00+08:00.
const T0: i64 = 1_772_294_400_000;
const TZ: i32 = 480;

fn open(s: &MemStorage, tiers: TierSet) -> Db {
    let opts = Options {
        durability: Durability::Sync,
        background: false,
        tiers,
        storage: Some(Arc::new(s.clone())),
        ..Options::default()
    };
    Db::open(Path::new("/db"), opts).unwrap()
}

fn samples(days: i64) -> Vec<(i64, f64)> {
    (0..days * 96)
        .map(|i| (T0 + i * 900_000, 1000.0 + i as f64 * 0.75 + (i % 7) as f64))
        .collect()
}

fn check(db: &Db, id: u32, meta: &PointMeta, s: &[(i64, f64)], tiers: &[Tier]) {
    for &t in tiers {
        let got = db.rollup(id, t, T0 - 400 * 86_400_000, T0 + 400 * 86_400_000);
        let want = reference(s, meta, t, TZ);
        assert_rows_match(&got.unwrap(), &want, &format!("{t:?}"));
    }
}

#[test]
fn opening_with_another_tier_set_derives_the_tiers_again() {
    let s = MemStorage::new();
    let meta = PointMeta::new("kwh", PointKind::Counter);
    let day_only = TierSet::NONE.with(Tier::Day);
    let mut data = samples(5);
    {
        let db = open(&s, day_only);
        let id = db.define_point(meta.clone()).unwrap();
        let mut b = WriteBatch::new();
        for &(t, v) in &data {
            b.put(id, t, v);
        }
        db.write(&b).unwrap();
        db.flush().unwrap();
        db.close().unwrap();
    }
    // Reopened with every tier: the hours of the old data exist, and a new write leaves
    // every tier equal to a recomputation from the raw samples.
    let db = open(&s, TierSet::ALL);
    check(&db, 0, &meta, &data, &[Tier::Hour, Tier::Day, Tier::Month]);
    let t = T0 + 2 * 86_400_000 + 3_600_000;
    db.put(0, t, 2345.5).unwrap();
    let i = data.iter().position(|x| x.0 == t).unwrap();
    data[i].1 = 2345.5;
    db.flush().unwrap();
    check(
        &db,
        0,
        &meta,
        &data,
        &[Tier::Hour, Tier::Day, Tier::Month, Tier::Year],
    );
    db.close().unwrap();
    // And back to the day tier alone, then all again: still exact.
    let db = open(&s, day_only);
    check(&db, 0, &meta, &data, &[Tier::Day]);
    db.close().unwrap();
    let db = open(&s, TierSet::ALL);
    check(&db, 0, &meta, &data, &[Tier::Hour, Tier::Day, Tier::Year]);

    // A point's own tiers changed by its metadata: the same.
    let id = db
        .define_point(PointMeta::new("gas", PointKind::Counter).with_tiers(day_only))
        .unwrap();
    let mut b = WriteBatch::new();
    for &(t, v) in &data {
        b.put(id, t, v);
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
    let all = PointMeta::new("gas", PointKind::Counter).with_tiers(TierSet::ALL);
    db.define_point(all.clone()).unwrap();
    db.put(id, t, 2345.5).unwrap();
    db.flush().unwrap();
    check(&db, id, &all, &data, &[Tier::Hour, Tier::Day, Tier::Month]);
}
