//! Meter truth on the shared real meter data: flagged garbage readings, registers that run
//! backwards, rollovers and meter replacements (recorded or not) injected into the real
//! series must leave the day buckets as the clean data gives them.
//!
//! `flagged_garbage_leaves_every_day_bucket_as_without_it` prints the share of equal day
//! buckets (the figure of issue 15): run it with `--nocapture` to see it.

use std::collections::BTreeMap;

use meterdb::{BucketRow, Db, Durability, Options, PointKind, PointMeta, Register, Tier};
use meterdb::{Quality, WriteBatch};

mod support;
use support::{close, shared_rows, Rng};

/// The shared data per point: samples in time order (a repeated timestamp: the last wins).
fn series() -> Option<BTreeMap<String, Vec<(i64, f64)>>> {
    let rows = shared_rows()?;
    let mut by: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (p, t, v) in rows {
        by.entry(p).or_default().insert(t, v);
    }
    Some(
        by.into_iter()
            .map(|(p, s)| (p, s.into_iter().collect()))
            .collect(),
    )
}

fn kind_of(key: &str) -> PointKind {
    if key.contains("register") {
        PointKind::Counter
    } else {
        PointKind::Gauge
    }
}

/// A database holding `data` (point key to samples with quality), each point defined by
/// `meta`, flushed when `flush`.
fn load(
    data: &BTreeMap<String, Vec<(i64, f64, u8)>>,
    meta: impl Fn(&str) -> PointMeta,
    flush: bool,
) -> (tempfile::TempDir, Db, BTreeMap<String, u32>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let mut ids = BTreeMap::new();
    for (key, samples) in data {
        let id = db.define_point(meta(key)).unwrap();
        ids.insert(key.clone(), id);
        let mut b = WriteBatch::new();
        for &(t, v, q) in samples {
            b.put_with_quality(id, t, v, q);
        }
        db.write(&b).unwrap();
    }
    if flush {
        db.flush().unwrap();
    }
    (dir, db, ids)
}

fn days(db: &Db, id: u32) -> Vec<BucketRow> {
    db.rollup(id, Tier::Day, i64::MIN / 4, i64::MAX / 4)
        .unwrap()
}

/// Whether two day rows are the same bucket, the quality counts aside.
fn same_bucket(a: &BucketRow, b: &BucketRow) -> bool {
    let (x, y) = (&a.bucket, &b.bucket);
    let opt = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        (None, None) => true,
        _ => false,
    };
    x.start == y.start
        && x.count == y.count
        && close(x.sum, y.sum)
        && (x.count == 0
            || (x.min, x.min_ts, x.max, x.max_ts, x.first, x.last)
                == (y.min, y.min_ts, y.max, y.max_ts, y.first, y.last))
        && opt(a.consumption, b.consumption)
        && opt(a.completeness, b.completeness)
        && opt(a.mean, b.mean)
}

#[test]
fn flagged_garbage_leaves_every_day_bucket_as_without_it() {
    let Some(series) = series() else { return };
    // 1% of readings replaced by flagged garbage (huge, negative or zero values, quality 0),
    // against the same data with those readings missing.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut garbage: BTreeMap<String, Vec<(i64, f64, u8)>> = BTreeMap::new();
    let mut without: BTreeMap<String, Vec<(i64, f64, u8)>> = BTreeMap::new();
    let mut injected = 0u64;
    for (key, s) in &series {
        let (g, w) = (
            garbage.entry(key.clone()).or_default(),
            without.entry(key.clone()).or_default(),
        );
        for &(t, v) in s {
            if rng.chance(0.01) {
                let junk = match rng.next() % 3 {
                    0 => 999_999.0,
                    1 => -v - 12_345.6,
                    _ => 0.0,
                };
                g.push((t, junk, Quality::INVALID.0));
                injected += 1;
            } else {
                g.push((t, v, Quality::GOOD.0));
                w.push((t, v, Quality::GOOD.0));
            }
        }
    }
    let meta = |k: &str| PointMeta::new(k, kind_of(k)).with_interval_ms(3_600_000);
    let (mut equal, mut total, mut invalid_seen) = (0usize, 0usize, 0u64);
    for flush in [false, true] {
        let (_d1, a, ids) = load(&garbage, meta, flush);
        let (_d2, b, _) = load(&without, meta, flush);
        for (key, &id) in &ids {
            let (ga, wb) = (days(&a, id), days(&b, id));
            // Days of garbage only appear with their invalid count and nothing else.
            let mut wi = wb.iter().peekable();
            for g in &ga {
                if flush {
                    invalid_seen += g.bucket.invalid;
                }
                match wi.peek() {
                    Some(w) if w.bucket.start == g.bucket.start => {
                        total += 1;
                        if same_bucket(g, w) {
                            equal += 1;
                        } else {
                            eprintln!("{key}: day differs:\n  got  {g:?}\n  want {w:?}");
                        }
                        wi.next();
                    }
                    _ => {
                        assert_eq!(g.bucket.count, 0, "{key}: a day only the garbage has");
                        assert!(g.bucket.invalid > 0);
                    }
                }
            }
            assert!(wi.next().is_none(), "{key}: a day is missing");
        }
    }
    println!(
        "flagged garbage: {injected} of {} readings; day buckets equal to those without it: \
         {equal} of {total} ({:.2}%)",
        series.values().map(Vec::len).sum::<usize>(),
        100.0 * equal as f64 / total as f64
    );
    assert_eq!(invalid_seen, injected, "every garbage reading counted once");
    assert_eq!(equal, total, "every day bucket equals the clean data's");
}

/// The register points' day consumption on clean data.
fn clean_consumption(series: &BTreeMap<String, Vec<(i64, f64)>>) -> BTreeMap<String, Vec<f64>> {
    let data = series
        .iter()
        .filter(|(k, _)| kind_of(k) == PointKind::Counter)
        .map(|(k, s)| (k.clone(), s.iter().map(|&(t, v)| (t, v, 1u8)).collect()))
        .collect();
    let (_d, db, ids) = load(&data, |k| PointMeta::new(k, PointKind::Counter), true);
    ids.iter()
        .map(|(k, &id)| {
            let c = days(&db, id)
                .iter()
                .map(|r| r.consumption.unwrap())
                .collect();
            (k.clone(), c)
        })
        .collect()
}

fn assert_days(got: &[BucketRow], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: days");
    for (g, &w) in got.iter().zip(want) {
        let c = g.consumption.unwrap();
        assert!(
            (c - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{what}: day {} consumed {c}, the clean register {w}",
            g.bucket.start
        );
    }
}

#[test]
fn registers_falling_back_rolling_over_and_replaced_keep_their_consumption() {
    let Some(series) = series() else { return };
    let want = clean_consumption(&series);
    let registers: Vec<(&String, &Vec<(i64, f64)>)> = series
        .iter()
        .filter(|(k, _)| kind_of(k) == PointKind::Counter)
        .collect();

    // 1. A net register whose readings fall back a little at night (00:00 to 06:00 UTC+8)
    //    and return: as a net register the signed changes add up to the clean figures; as
    //    an import register the falls add nothing and are counted.
    let jitter = |s: &[(i64, f64)]| -> Vec<(i64, f64, u8)> {
        let mut out = Vec::new();
        for (i, &(t, v)) in s.iter().enumerate() {
            let hour = (t / 3_600_000 + 8).rem_euclid(24);
            // Every other night reading 0.3 below its level (a backward step, then back).
            let dip = if hour < 6 && i % 2 == 1 { 0.3 } else { 0.0 };
            out.push((t, v - dip, 1));
        }
        out
    };
    let data: BTreeMap<String, Vec<(i64, f64, u8)>> = registers
        .iter()
        .map(|(k, s)| ((*k).clone(), jitter(s)))
        .collect();
    let (_d, net, ids) = load(
        &data,
        |k| PointMeta::new(k, PointKind::Counter).with_register(Register::Net),
        true,
    );
    let (_d2, import, _) = load(&data, |k| PointMeta::new(k, PointKind::Counter), true);
    for (key, &id) in &ids {
        let days_net = days(&net, id);
        // Days whose boundaries fall on a dipped reading differ by the dip (the register
        // really read that): compare the whole span, and each day within the dip.
        let total: f64 = days_net.iter().map(|r| r.consumption.unwrap()).sum();
        let clean: f64 = want[key].iter().sum();
        assert!(
            (total - clean).abs() < 0.31,
            "{key}: net total {total} vs {clean}"
        );
        for (g, &w) in days_net.iter().zip(&want[key]) {
            assert!(
                (g.consumption.unwrap() - w).abs() <= 0.3 + 1e-6,
                "{key} net day"
            );
        }
        let days_import = days(&import, id);
        let backward: u64 = days_import.iter().map(|r| r.bucket.backward).sum();
        assert!(backward > 0, "{key}: backward steps counted");
        for (g, &w) in days_import.iter().zip(&want[key]) {
            // An import register never loses consumption and gains at most the dips.
            let c = g.consumption.unwrap();
            let dips = g.bucket.backward as f64 * 0.3;
            assert!(
                c >= w - 0.3 - 1e-6 && c <= w + dips + 0.3 + 1e-6,
                "{key} import day"
            );
            // Never the 40 to 90 times the change of counting a fall from zero.
            assert!(c <= 2.0 * w + 10.0, "{key}: {c} against {w}");
        }
    }

    // 2. A rollover: the register wraps at 10,000 kWh.
    let m = 10_000.0;
    let data: BTreeMap<String, Vec<(i64, f64, u8)>> = registers
        .iter()
        .map(|(k, s)| {
            let w = s.iter().map(|&(t, v)| (t, v % m, 1)).collect();
            ((*k).clone(), w)
        })
        .collect();
    let (_d, db, ids) = load(
        &data,
        |k| PointMeta::new(k, PointKind::Counter).with_rollover(m),
        true,
    );
    for (key, &id) in &ids {
        assert_days(&days(&db, id), &want[key], &format!("{key} rolling over"));
    }

    // 3. Meter replacements in the middle of each series: the new meter starts at 7.5,
    //    recorded before the data, recorded after it (late), and not recorded (a fall to
    //    near zero: the new meter counts from zero, losing only its initial 7.5).
    for how in ["on time", "late", "inferred"] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
        for (key, s) in &registers {
            let id = db
                .define_point(PointMeta::new((*key).clone(), PointKind::Counter))
                .unwrap();
            let cut = s.len() / 2;
            let (t_swap, base) = (s[cut].0, s[cut - 1].1);
            if how == "on time" {
                db.replace_meter(id, t_swap, base, 7.5).unwrap();
            }
            let mut b = WriteBatch::new();
            for (i, &(t, v)) in s.iter().enumerate() {
                let v = if i >= cut { v - base + 7.5 } else { v };
                b.put(id, t, v);
            }
            db.write(&b).unwrap();
            db.flush().unwrap();
            if how == "late" {
                db.replace_meter(id, t_swap, base, 7.5).unwrap();
            }
            let got = days(&db, id);
            let what = format!("{key} replaced {how}");
            if how == "inferred" {
                // The new meter's reading counts from zero: 7.5 too much in all, on the day
                // or two the pair of readings around the swap spans; every other day exact.
                let want = &want[key.as_str()];
                assert_eq!(got.len(), want.len(), "{what}");
                let total: f64 = got.iter().map(|r| r.consumption.unwrap()).sum();
                let clean: f64 = want.iter().sum();
                assert!(
                    (total - clean - 7.5).abs() < 1e-6 * clean.max(1.0),
                    "{what}"
                );
                let differ = got
                    .iter()
                    .zip(want)
                    .filter(|(g, w)| (g.consumption.unwrap() - *w).abs() > 1e-6)
                    .count();
                assert!((1..=2).contains(&differ), "{what}: {differ} days differ");
            } else {
                assert_days(&got, &want[key.as_str()], &what);
                db.flush().unwrap();
                db.compact().unwrap();
                assert_days(&days(&db, id), &want[key.as_str()], &what);
            }
        }
        // Replacements survive a reopen (the catalog file written by the flush).
        if how != "inferred" {
            drop(db);
            let db = Db::open(dir.path(), Options::default()).unwrap();
            for (key, _) in &registers {
                let id = db.point_id(key).unwrap();
                assert_eq!(db.point(id).unwrap().replacements.len(), 1, "{key} {how}");
                assert_days(
                    &days(&db, id),
                    &want[key.as_str()],
                    &format!("{key} reopened"),
                );
            }
        }
    }
}
