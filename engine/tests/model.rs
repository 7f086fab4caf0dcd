//! The engine against a `BTreeMap` model: random writes, corrections, deletes, flushes,
//! compactions, reopens and simulated power losses must leave both in exact agreement.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use meterdb::io::MemStorage;
use meterdb::{Db, Durability, Options, PointKind, PointMeta, WriteBatch};
use proptest::prelude::*;

const POINTS: u32 = 3;
const DAY: i64 = 86_400_000;

#[derive(Debug, Clone)]
enum Op {
    Put(u32, i64, f64, u8),
    Batch(Vec<(u32, i64, f64)>),
    Delete(u32, i64, i64),
    Flush,
    Compact,
    Reopen,
    Crash,
}

fn ts() -> impl Strategy<Value = i64> {
    // A few partitions' worth, on a 15-minute grid with some jitter, so that repeats happen.
    prop_oneof![(0i64..3000).prop_map(|i| i * 900_000), (0i64..30 * DAY),]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0i64..1_000_000).prop_map(|i| i as f64 / 1000.0),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        Just(0.0),
        Just(-0.0),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..POINTS, ts(), value(), 0u8..4).prop_map(|(p, t, v, q)| Op::Put(p, t, v, q)),
        4 => prop::collection::vec((0..POINTS, ts(), value()), 1..200).prop_map(Op::Batch),
        1 => (0..POINTS, ts(), 1i64..5 * DAY).prop_map(|(p, f, l)| Op::Delete(p, f, f + l)),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

type Model = BTreeMap<(u32, i64), (u64, u8)>;

fn open(storage: &MemStorage) -> Db {
    let opts = Options {
        durability: Durability::Sync,
        partition_ms: 7 * DAY,
        memtable_bytes: 16 * 1024,
        background: false,
        storage: Some(Arc::new(storage.clone())),
        ..Options::default()
    };
    let db = Db::open(Path::new("/db"), opts).expect("open");
    for p in 0..POINTS {
        let id = db
            .define_point(PointMeta::new(format!("p{p}"), PointKind::Counter))
            .unwrap();
        assert_eq!(id, p);
    }
    db
}

fn check(db: &Db, model: &Model) {
    for p in 0..POINTS {
        let got = db.read_range(p, i64::MIN, i64::MAX).unwrap();
        let want: Vec<(i64, u64, u8)> = model
            .range((p, i64::MIN)..=(p, i64::MAX))
            .map(|(&(_, t), &(v, q))| (t, v, q))
            .collect();
        let got_v: Vec<(i64, u64, u8)> = (0..got.len())
            .map(|i| (got.ts[i], got.values[i].to_bits(), got.quality[i]))
            .collect();
        assert_eq!(got_v, want, "point {p}");
        let it: Vec<(i64, u64, u8)> = db
            .range(p, i64::MIN, i64::MAX)
            .unwrap()
            .map(|s| s.unwrap())
            .map(|s| (s.ts, s.value.to_bits(), s.quality.0))
            .collect();
        assert_eq!(it, want, "iterator of point {p}");
        let latest = db
            .latest(p)
            .unwrap()
            .map(|s| (s.ts, s.value.to_bits(), s.quality.0));
        assert_eq!(latest, want.last().copied(), "latest of point {p}");
        // A sub-range.
        let (f, t) = (2 * DAY, 9 * DAY);
        let sub = db.read_range(p, f, t).unwrap();
        let want_sub: Vec<i64> = want
            .iter()
            .map(|x| x.0)
            .filter(|&x| x >= f && x < t)
            .collect();
        assert_eq!(sub.ts, want_sub);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn engine_agrees_with_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut storage = MemStorage::new();
        let mut db = open(&storage);
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Put(p, t, v, q) => {
                    let mut b = WriteBatch::new();
                    b.put_with_quality(p, t, v, q);
                    db.write(&b).unwrap();
                    model.insert((p, t), (v.to_bits(), q));
                }
                Op::Batch(samples) => {
                    let mut b = WriteBatch::new();
                    for &(p, t, v) in &samples {
                        b.put(p, t, v);
                        model.insert((p, t), (v.to_bits(), 1));
                    }
                    db.write(&b).unwrap();
                }
                Op::Delete(p, f, t) => {
                    db.delete_range(p, f, t).unwrap();
                    let keys: Vec<_> = model.range((p, f)..(p, t)).map(|(k, _)| *k).collect();
                    for k in keys {
                        model.remove(&k);
                    }
                }
                Op::Flush => db.flush().unwrap(),
                Op::Compact => db.compact().unwrap(),
                Op::Reopen => {
                    db.close().unwrap();
                    db = open(&storage);
                }
                Op::Crash => {
                    // Power loss: only synced bytes survive; every write was acknowledged
                    // after a sync, so nothing may be lost.
                    let crashed = storage.crash();
                    drop(db);
                    storage = crashed;
                    db = open(&storage);
                }
            }
            check(&db, &model);
        }
    }
}
