//! Every rollup tier against a recomputation from the raw samples, after random writes
//! (valid, invalid, manual and estimated readings), late and corrected samples, deletes,
//! meter replacements recorded on time and late, flushes, compactions, reopens and power
//! losses. The random registers fall in every way the rules tell apart: rollovers,
//! falls to near zero, small and large backward steps.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use meterdb::io::MemStorage;
use meterdb::{
    BucketRow, CoalUnit, Db, Durability, Options, PointKind, PointMeta, Register, Replacement,
    SumRow, Tier, TierSet, WriteBatch,
};
use proptest::prelude::*;

mod support;
use support::{assert_rows_match_q, reference_q};

const DAY: i64 = 86_400_000;
/// 2026-01-20T00:00:00+08:00: the samples cross a month boundary.
const T0: i64 = 1_768_838_400_000;
const TZ: i32 = 480;

#[derive(Debug, Clone)]
enum Op {
    Batch(Vec<(u32, i64, f64, u8)>),
    Delete(u32, i64, i64),
    Replace(u32, i64, f64, f64),
    Flush,
    Compact,
    Reopen,
    Crash,
}

/// Points: 0 a counter with all tiers, 1 a counter with a rollover and only hour, day and
/// year, 2 a gauge with all tiers, 3 a net register with a rollover.
fn metas() -> Vec<PointMeta> {
    vec![
        PointMeta::new("c0", PointKind::Counter)
            .with_interval_ms(900_000)
            .with_multiplier(2.0)
            .with_coal_coefficient(T0 + 10 * DAY, 0.1229),
        PointMeta::new("c1", PointKind::Counter)
            .with_rollover(100_000.0)
            .with_tiers(
                TierSet::NONE
                    .with(Tier::Hour)
                    .with(Tier::Day)
                    .with(Tier::Year),
            ),
        PointMeta::new("g2", PointKind::Gauge),
        PointMeta::new("n3", PointKind::Counter)
            .with_register(Register::Net)
            .with_rollover(100_000.0)
            .with_interval_ms(900_000),
    ]
}

const POINTS: u32 = 4;

/// A reading's value: mostly a register creeping up by small steps from a level, with
/// small falls (jitter), falls to near zero, and wild values.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => (0i64..1000).prop_map(|x| 50_000.0 + x as f64 / 10.0),
        1 => (0i64..1000).prop_map(|x| x as f64 / 100.0),
        2 => (0i64..100_000_000).prop_map(|v| v as f64 / 1000.0),
    ]
}

/// A quality byte: mostly valid, some invalid, manual, estimated, or with reserved bits.
fn quality() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => Just(1u8),
        2 => Just(0u8),
        1 => Just(3u8),
        1 => Just(5u8),
        1 => Just(0x86u8),
        1 => Just(0x09u8),
    ]
}

fn ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        (0i64..30 * 96).prop_map(|i| T0 + i * 900_000),
        (0i64..30 * DAY).prop_map(|x| T0 + x),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let sample = (0u32..POINTS, ts(), value(), quality());
    prop_oneof![
        10 => prop::collection::vec(sample, 1..80).prop_map(Op::Batch),
        2 => (0u32..POINTS, ts(), 1i64..3 * DAY).prop_map(|(p, f, l)| Op::Delete(p, f, f + l)),
        2 => (prop_oneof![Just(0u32), Just(1), Just(3)], ts(), value(), value())
            .prop_map(|(p, t, o, n)| Op::Replace(p, t, o, n)),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn open(storage: &MemStorage) -> Db {
    let opts = Options {
        durability: Durability::Sync,
        memtable_bytes: 8 * 1024,
        background: false,
        tz_offset_min: Some(TZ),
        storage: Some(Arc::new(storage.clone())),
        ..Options::default()
    };
    let db = Db::open(Path::new("/db"), opts).expect("open");
    for (i, m) in metas().into_iter().enumerate() {
        assert_eq!(db.define_point(m).unwrap(), i as u32);
    }
    db
}

/// The samples, and the replacements recorded per point.
#[derive(Default)]
struct Model {
    samples: BTreeMap<(u32, i64), (f64, u8)>,
    replacements: BTreeMap<u32, Vec<Replacement>>,
}

impl Model {
    /// The metadata of a point with the replacements recorded.
    fn meta(&self, p: u32) -> PointMeta {
        let mut m = metas()[p as usize].clone();
        for r in self.replacements.get(&p).into_iter().flatten() {
            m = m.with_replacement(*r);
        }
        m
    }

    fn samples(&self, p: u32) -> Vec<(i64, f64, u8)> {
        self.samples
            .range((p, i64::MIN)..=(p, i64::MAX))
            .map(|(&(_, t), &(v, q))| (t, v, q))
            .collect()
    }
}

fn check(db: &Db, model: &Model) {
    for p in 0..POINTS {
        let meta = &model.meta(p);
        assert_eq!(db.point(p).unwrap(), *meta, "metadata of point {p}");
        let samples = model.samples(p);
        // The whole range, and a part of it (whose counters' consumption needs the samples
        // on either side).
        let ranges = [
            (T0 - 400 * DAY, T0 + 400 * DAY),
            (T0 + 5 * DAY, T0 + 20 * DAY),
        ];
        for (tier, (from, to)) in Tier::ALL.into_iter().flat_map(|t| ranges.map(|r| (t, r))) {
            let keeps = meta.tiers.unwrap_or(TierSet::ALL).contains(tier);
            let got = db.rollup(p, tier, from, to);
            if !keeps {
                assert!(got.is_err(), "point {p} does not keep {tier:?}");
                continue;
            }
            let got: Vec<BucketRow> = got.unwrap();
            let (a, e) = (tier.bucket_start(from, TZ), to);
            let want: Vec<_> = reference_q(&samples, meta, tier, TZ)
                .into_iter()
                .filter(|r| r.0 .0 >= a && r.0 .0 < e)
                .collect();
            assert_rows_match_q(&got, &want, &format!("point {p} at {tier:?}"));
        }
    }
}

/// The summed queries against the points' own rows added up in the same order: equal to
/// the last bit, whether a point's rows come from the stored columns or from a recomputation
/// of unflushed data.
fn check_sums(db: &Db) {
    let ids = [0u32, 1, 2, 3];
    let ranges = [
        (T0 - 400 * DAY, T0 + 400 * DAY),
        (T0 + 5 * DAY, T0 + 20 * DAY),
    ];
    for tier in [Tier::Hour, Tier::Day, Tier::Year] {
        for (from, to) in ranges {
            for coal in [None, Some(CoalUnit::Kgce), Some(CoalUnit::Tce)] {
                let mut want: BTreeMap<i64, SumRow> = BTreeMap::new();
                for &p in &ids {
                    let meta = &metas()[p as usize];
                    if !meta.tiers.unwrap_or(TierSet::ALL).contains(tier) {
                        continue;
                    }
                    for r in db.rollup(p, tier, from, to).unwrap() {
                        let e = want.entry(r.bucket.start).or_insert(SumRow {
                            start: r.bucket.start,
                            end: r.end,
                            count: 0,
                            sum: 0.0,
                            consumption: None,
                            points: 0,
                            invalid: 0,
                            manual: 0,
                            estimated: 0,
                            backward: 0,
                        });
                        e.count += r.bucket.count;
                        e.sum += r.bucket.sum;
                        e.points += 1;
                        e.invalid += r.bucket.invalid;
                        e.manual += r.bucket.manual;
                        e.estimated += r.bucket.estimated;
                        e.backward += r.bucket.backward;
                        let c = match coal {
                            None => r.consumption,
                            Some(u) => {
                                let div = if u == CoalUnit::Tce { 1000.0 } else { 1.0 };
                                match (r.consumption, meta.coal_at(r.bucket.start)) {
                                    (Some(c), Some(k)) => Some(c * k / div),
                                    _ => None,
                                }
                            }
                        };
                        if let Some(c) = c {
                            e.consumption = Some(e.consumption.unwrap_or(0.0) + c);
                        }
                    }
                }
                let ids: Vec<u32> = ids
                    .iter()
                    .copied()
                    .filter(|&p| {
                        metas()[p as usize]
                            .tiers
                            .unwrap_or(TierSet::ALL)
                            .contains(tier)
                    })
                    .collect();
                let got = match coal {
                    None => db.rollup_sum(&ids, tier, from, to).unwrap(),
                    Some(u) => db.coal_sum(&ids, tier, from, to, u).unwrap(),
                };
                let want: Vec<SumRow> = want.into_values().collect();
                assert_eq!(got, want, "{tier:?} {from}..{to} {coal:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn tiers_equal_recomputation_from_raw(ops in prop::collection::vec(op(), 1..25)) {
        let mut storage = MemStorage::new();
        let mut db = open(&storage);
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Batch(samples) => {
                    let mut b = WriteBatch::new();
                    for &(p, t, v, q) in &samples {
                        b.put_with_quality(p, t, v, q);
                        model.samples.insert((p, t), (v, q));
                    }
                    db.write(&b).unwrap();
                }
                Op::Delete(p, f, t) => {
                    db.delete_range(p, f, t).unwrap();
                    let keys: Vec<_> =
                        model.samples.range((p, f)..(p, t)).map(|(k, _)| *k).collect();
                    for k in keys {
                        model.samples.remove(&k);
                    }
                }
                Op::Replace(p, t, old_final, new_initial) => {
                    db.replace_meter(p, t, old_final, new_initial).unwrap();
                    let reps = model.replacements.entry(p).or_default();
                    reps.retain(|r| r.ts != t);
                    reps.push(Replacement { ts: t, old_final, new_initial });
                    reps.sort_by_key(|r| r.ts);
                }
                Op::Flush => db.flush().unwrap(),
                Op::Compact => db.compact().unwrap(),
                Op::Reopen => {
                    db.close().unwrap();
                    db = open(&storage);
                }
                Op::Crash => {
                    let crashed = storage.crash();
                    drop(db);
                    storage = crashed;
                    db = open(&storage);
                }
            }
            check(&db, &model);
            check_sums(&db);
        }
        // And once more with everything flushed and compacted.
        db.flush().unwrap();
        db.compact().unwrap();
        check(&db, &model);
        check_sums(&db);
    }
}
