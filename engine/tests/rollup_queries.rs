//! Rollup queries over several points: sums, standard coal, period comparisons, selection by
//! metadata, and the time zone fixed at creation.

use meterdb::{
    CoalUnit, Db, Durability, ErrorKind, Options, PointFilter, PointKind, PointMeta, Tier, TierSet,
    WriteBatch,
};

const DAY: i64 = 86_400_000;
/// 2025-01-01T00:00:00+08:00.
const Y0: i64 = 1_735_660_800_000;

/// Two registers rising by `rate` per day (read at every day's start for two years), and a
/// gauge.
fn setup() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let a = db
        .define_point(
            PointMeta::new("E1-elec", PointKind::Counter)
                .with_energy_type("01")
                .with_interval_ms(DAY)
                .with_coal_coefficient(i64::MIN / 4, 0.1229)
                .with_coal_coefficient(Y0 + 366 * DAY, 0.2),
        )
        .unwrap();
    let b = db
        .define_point(
            PointMeta::new("E1-gas", PointKind::Counter)
                .with_energy_type("02")
                .with_multiplier(10.0),
        )
        .unwrap();
    let g = db
        .define_point(PointMeta::new("E2-kw", PointKind::Gauge))
        .unwrap();
    let mut w = WriteBatch::new();
    for d in 0..=731 {
        let t = Y0 + d * DAY;
        // Point a doubles its daily consumption in the second year.
        let ra = if d <= 365 {
            d as f64 * 10.0
        } else {
            3650.0 + (d - 365) as f64 * 20.0
        };
        w.put(a, t, ra);
        w.put(b, t, d as f64 * 2.0);
        w.put(g, t + 3_600_000, 5.0 + (d % 2) as f64);
    }
    db.write(&w).unwrap();
    (dir, db)
}

#[test]
fn sums_coal_and_comparisons() {
    let (_dir, db) = setup();
    db.flush().unwrap();
    let year2 = (Y0 + 365 * DAY, Y0 + 730 * DAY);
    let ids = db.points(&PointFilter {
        key_prefix: Some("E1-".into()),
        ..Default::default()
    });
    let ids: Vec<u32> = ids.into_iter().map(|(i, _)| i).collect();
    assert_eq!(ids, vec![0, 1]);

    // Summed: a consumes 20 a day in year 2, b consumes 2 x multiplier 10 = 20.
    let sum = db.rollup_sum(&ids, Tier::Day, year2.0, year2.1).unwrap();
    assert_eq!(sum.len(), 365);
    assert!(sum
        .iter()
        .all(|r| r.points == 2 && (r.consumption.unwrap() - 40.0).abs() < 1e-9));
    let months = db.rollup_sum(&ids, Tier::Month, year2.0, year2.1).unwrap();
    assert_eq!(months.len(), 12);
    let total: f64 = months.iter().map(|r| r.consumption.unwrap()).sum();
    assert!((total - 365.0 * 40.0).abs() < 1e-6, "{total}");

    // Standard coal: a's coefficient changes on day 366; b has none.
    let coal = db
        .coal_sum(
            &[0, 1],
            Tier::Day,
            Y0 + 364 * DAY,
            Y0 + 368 * DAY,
            CoalUnit::Kgce,
        )
        .unwrap();
    let got: Vec<f64> = coal.iter().map(|r| r.consumption.unwrap()).collect();
    let want = [10.0 * 0.1229, 20.0 * 0.1229, 20.0 * 0.2, 20.0 * 0.2];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{got:?}");
    }
    let tce = db
        .coal_sum(
            &[0],
            Tier::Day,
            Y0 + 366 * DAY,
            Y0 + 367 * DAY,
            CoalUnit::Tce,
        )
        .unwrap();
    assert!((tce[0].consumption.unwrap() - 0.004).abs() < 1e-12);

    // 同比 and 环比 on point a's months: year 2 doubles year 1.
    let cmp = db
        .compare(&[0], Tier::Month, year2.0, year2.1, None)
        .unwrap();
    assert_eq!(cmp.len(), 12);
    let feb = &cmp[1];
    assert!((feb.value.unwrap() - 28.0 * 20.0).abs() < 1e-6);
    assert!(
        (feb.year_ago.unwrap() - 28.0 * 10.0).abs() < 1e-6,
        "{feb:?}"
    ); // February 2025
    let mar = &cmp[2];
    assert!((mar.previous.unwrap() - 28.0 * 20.0).abs() < 1e-6);
    assert!(
        (mar.year_change_pct.unwrap() - 100.0).abs() < 1e-6,
        "{mar:?}"
    );
    // A gauge compares means.
    let cmp = db
        .compare(&[2], Tier::Day, year2.0, year2.0 + 3 * DAY, None)
        .unwrap();
    assert_eq!(cmp.len(), 3);
    assert!(cmp
        .iter()
        .all(|c| c.value.is_some() && c.previous.is_some()));
}

/// `compare` in standard coal, flushed and unflushed: its values are exactly `coal_sum`'s
/// consumption of the same buckets, one period and one year earlier included.
#[test]
fn coal_comparisons_are_the_coal_sums() {
    let (_dir, db) = setup();
    for flushed in [false, true] {
        if flushed {
            db.flush().unwrap();
        }
        for (tier, from, to) in [
            (Tier::Day, Y0 + 364 * DAY, Y0 + 368 * DAY),
            (Tier::Day, Y0 + 700 * DAY, Y0 + 731 * DAY),
            (Tier::Month, Y0 + 365 * DAY, Y0 + 730 * DAY),
        ] {
            for unit in [CoalUnit::Kgce, CoalUnit::Tce] {
                let cmp = db.compare(&[0, 1], tier, from, to, Some(unit)).unwrap();
                let sums = db
                    .coal_sum(&[0, 1], tier, Y0 - 400 * DAY, Y0 + 800 * DAY, unit)
                    .unwrap();
                let at = |s: i64| {
                    sums.iter()
                        .find(|r| r.start == s)
                        .and_then(|r| r.consumption)
                        .map(f64::to_bits)
                };
                assert!(!cmp.is_empty());
                for c in &cmp {
                    assert_eq!(c.value.map(f64::to_bits), at(c.start), "{tier:?} {c:?}");
                    let prev = tier.shift(c.start, -1, db.tz_offset_min());
                    assert_eq!(c.previous.map(f64::to_bits), at(prev), "{c:?}");
                    let year = tier.year_earlier(c.start, db.tz_offset_min());
                    assert_eq!(c.year_ago.map(f64::to_bits), at(year), "{c:?}");
                }
                // Without a unit: the plain consumption, which coal changes.
                let plain = db.compare(&[0, 1], tier, from, to, None).unwrap();
                assert_eq!(plain.len(), cmp.len());
                assert_ne!(plain[0].value, cmp[0].value);
            }
        }
    }
}

#[test]
fn unkept_tiers_and_time_zones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(
            dir.path(),
            Options {
                tz_offset_min: Some(0),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(db.tz_offset_min(), 0);
        let p = db
            .define_point(
                PointMeta::new("x", PointKind::Counter).with_tiers(TierSet::NONE.with(Tier::Day)),
            )
            .unwrap();
        db.put(p, 1000, 1.0).unwrap();
        let e = db.rollup(p, Tier::Hour, 0, DAY).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(db.rollup(p, Tier::Day, 0, DAY).unwrap().len(), 1);
    }
    // Reopening keeps the zone; asking for another is an error.
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.tz_offset_min(), 0);
    drop(db);
    let e = Db::open(
        dir.path(),
        Options {
            tz_offset_min: Some(480),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("+00:00"), "{e}");
}

/// The sum over regular readings (a sample on every bucket boundary, the fast walk) gives
/// each bucket the very bits that the points' own buckets sum to, with noisy rates, meter
/// replacements, a rollover and a multiplier; and the same once a point's readings are off
/// the boundaries.
#[test]
fn sum_of_regular_registers_equals_the_points_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let h = 3_600_000;
    let metas = [
        PointMeta::new("a", PointKind::Counter).with_interval_ms(h),
        PointMeta::new("b", PointKind::Counter)
            .with_interval_ms(h)
            .with_multiplier(40.0),
        PointMeta::new("c", PointKind::Counter)
            .with_interval_ms(h)
            .with_rollover(10_000.0),
        // Read 7 minutes after each hour: no sample on the day boundaries.
        PointMeta::new("d", PointKind::Counter).with_interval_ms(h),
    ];
    let ids: Vec<_> = metas
        .into_iter()
        .map(|m| db.define_point(m).unwrap())
        .collect();
    let mut w = WriteBatch::new();
    let mut x: u64 = 7;
    let mut r = [100.0f64, 5.0, 9_000.0, 1.0];
    for k in 0..24 * 40 {
        for (p, &id) in ids.iter().enumerate() {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            r[p] = ((r[p] + u * 9.0) * 1000.0).round() / 1000.0;
            if p == 2 && r[p] >= 10_000.0 {
                r[p] = ((r[p] - 10_000.0) * 1000.0).round() / 1000.0;
            }
            if p == 0 && k % 200 == 199 {
                r[p] = 0.5; // replaced
            }
            let off = if p == 3 { 7 * 60_000 } else { 0 };
            w.put(id, Y0 - 2 * DAY + k * h + off, r[p]);
        }
    }
    db.write(&w).unwrap();
    db.flush().unwrap();
    for (from, to) in [(Y0, Y0 + 30 * DAY), (Y0 - 5 * DAY, Y0 + 60 * DAY)] {
        for set in [&ids[..3], &ids[..]] {
            let got = db.rollup_sum(set, Tier::Day, from, to).unwrap();
            let mut want: Vec<(i64, u64, f64, Option<f64>)> = Vec::new();
            for &p in set {
                for (i, r) in db
                    .rollup(p, Tier::Day, from, to)
                    .unwrap()
                    .iter()
                    .enumerate()
                {
                    if want.len() <= i {
                        want.push((r.bucket.start, 0, 0.0, None));
                    }
                    let e = &mut want[i];
                    assert_eq!(e.0, r.bucket.start);
                    e.1 += r.bucket.count;
                    e.2 += r.bucket.sum;
                    if let Some(c) = r.consumption {
                        e.3 = Some(e.3.unwrap_or(0.0) + c);
                    }
                }
            }
            let got: Vec<_> = got
                .iter()
                .map(|s| (s.start, s.count, s.sum, s.consumption))
                .collect();
            assert_eq!(got, want, "{from}..{to} {}", set.len());
        }
    }
}
