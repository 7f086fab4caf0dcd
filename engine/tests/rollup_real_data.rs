//! The shared real meter data: day and month forms of every point against a recomputation
//! from the raw samples, and the registers' day consumption against their interval series.

use std::collections::BTreeMap;

use meterdb::{Db, Durability, Options, PointKind, PointMeta, Tier, WriteBatch};

mod support;
use support::{close, reference, shared_rows};

const TZ: i32 = 480;

#[test]
fn day_and_month_forms_of_the_shared_data_are_exact() {
    let Some(rows) = shared_rows() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let mut ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut metas: BTreeMap<u32, PointMeta> = BTreeMap::new();
    let mut b = WriteBatch::new();
    for (p, t, v) in &rows {
        let id = *ids.entry(p.clone()).or_insert_with(|| {
            // The cumulative registers are counters; the interval series are gauges.
            let kind = if p.contains("register") {
                PointKind::Counter
            } else {
                PointKind::Gauge
            };
            let m = PointMeta::new(p.clone(), kind);
            let id = db.define_point(m.clone()).unwrap();
            metas.insert(id, m);
            id
        });
        b.put(id, *t, *v);
        if b.len() == 10_000 {
            db.write(&b).unwrap();
            b.clear();
        }
    }
    db.write(&b).unwrap();
    // Half the checks before the flush (answered from the memtable), half after.
    let check = |db: &Db| {
        for (key, &id) in &ids {
            // Last value wins for a repeated timestamp.
            let mut raw: BTreeMap<i64, f64> = BTreeMap::new();
            for (p, t, v) in &rows {
                if p == key {
                    raw.insert(*t, *v);
                }
            }
            let samples: Vec<(i64, f64)> = raw.into_iter().collect();
            for tier in [Tier::Day, Tier::Month] {
                let got = db.rollup(id, tier, i64::MIN / 4, i64::MAX / 4).unwrap();
                let want = reference(&samples, &metas[&id], tier, TZ);
                assert_eq!(got.len(), want.len(), "{key} {tier:?}");
                for (g, w) in got.iter().zip(&want) {
                    let bk = &g.bucket;
                    assert_eq!((bk.start, bk.count), (w.0, w.1), "{key} {tier:?}");
                    assert!(close(bk.sum, w.2), "{key} {tier:?} {}", bk.start);
                    if bk.count > 0 {
                        assert_eq!((bk.min, bk.max, bk.first, bk.last), (w.3, w.4, w.5, w.6));
                    }
                    match (g.consumption, w.7) {
                        (Some(a), Some(b)) => {
                            assert!(close(a, b), "{key} {tier:?} {}: {a} vs {b}", bk.start)
                        }
                        (None, None) => {}
                        _ => panic!("{key}: consumption presence differs"),
                    }
                }
            }
        }
    };
    check(&db);
    db.flush().unwrap();
    db.compact().unwrap();
    check(&db);

    // Each register is the running total of its interval series (over every row, repeats
    // included): a day with a register sample exactly at both boundaries consumed the sum of
    // the interval rows stamped after its start and up to and including its end.
    let mut checked_days = 0;
    for (key, &id) in &ids {
        if !key.contains("register") {
            continue;
        }
        // uk-electricity-sample-0-register-kwh <- uk-electricity-hdd-only-hourly-sample-0
        let interval = key
            .replace("-register-kwh", "")
            .replace("-sample-", "-hdd-only-hourly-sample-");
        assert!(
            ids.contains_key(&interval),
            "no interval series {interval} for {key}"
        );
        let reg_ts: std::collections::HashSet<i64> =
            rows.iter().filter(|r| &r.0 == key).map(|r| r.1).collect();
        let intervals: Vec<(i64, f64)> = rows
            .iter()
            .filter(|r| r.0 == interval)
            .map(|r| (r.1, r.2))
            .collect();
        for r in db
            .rollup(id, Tier::Day, i64::MIN / 4, i64::MAX / 4)
            .unwrap()
        {
            let (s, e) = (r.bucket.start, r.end);
            if !(reg_ts.contains(&s) && reg_ts.contains(&e)) {
                continue;
            }
            let want: f64 = intervals
                .iter()
                .filter(|x| x.0 > s && x.0 <= e)
                .map(|x| x.1)
                .sum();
            let got = r.consumption.unwrap();
            // The register is the running total rounded to 3 decimals (the gas series has 4):
            // each boundary reading may be off by half a thousandth.
            assert!(
                (got - want).abs() <= 0.0010001,
                "{key} day {s}: {got} vs {want}"
            );
            checked_days += 1;
        }
    }
    assert!(checked_days > 1000, "only {checked_days} days checked");
    eprintln!("register consumption checked on {checked_days} days");
}
