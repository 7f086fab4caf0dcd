//! The downsampled queries of the C ABI: every answer equals the engine's own on the same
//! database, the optional figures come as value + flag, the point metadata of the tiers
//! round-trips, and misuse (NULL, a closed handle, a bad tier or unit, `from > to`, an
//! unknown point, a tier the point does not keep) gets its status and message.

#![allow(unsafe_code)]

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use super::abi::{fails, ok, TestDb};
use crate::meterdb_status::*;
use crate::*;

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn ts(s: &str) -> i64 {
    engine::time::parse_timestamp(s).unwrap()
}

/// Midnight of 2024-01-01 in +08:00, the database's default zone.
fn t0() -> i64 {
    ts("2024-01-01T00:00:00+08:00")
}

/// Defines a point with `meterdb_db_define_point_v2`.
#[allow(clippy::too_many_arguments)]
fn define_v2(
    t: &TestDb,
    key: &str,
    kind: i32,
    interval_ms: i64,
    multiplier: f64,
    rollover: f64,
    coal: &[(i64, f64)],
    tiers: i32,
) -> Result<u32, meterdb_status> {
    let k = CString::new(key).unwrap();
    let from: Vec<i64> = coal.iter().map(|c| c.0).collect();
    let kgce: Vec<f64> = coal.iter().map(|c| c.1).collect();
    let mut id = u32::MAX;
    // SAFETY: live handle; valid strings; arrays of `coal.len()` elements.
    let st = unsafe {
        meterdb_db_define_point_v2(
            t.db,
            k.as_ptr(),
            kind,
            c"kWh".as_ptr(),
            3,
            ptr::null(),
            interval_ms,
            multiplier,
            ptr::null(),
            ptr::null(),
            0,
            rollover,
            if coal.is_empty() {
                ptr::null()
            } else {
                from.as_ptr()
            },
            if coal.is_empty() {
                ptr::null()
            } else {
                kgce.as_ptr()
            },
            coal.len(),
            tiers,
            &mut id,
        )
    };
    if st == MDB_OK {
        Ok(id)
    } else {
        Err(st)
    }
}

/// Every row of a result handle, read in bulk in chunks of 7 and checked against the
/// one-by-one getter.
///
/// # Safety
/// `h` is a live result handle of the functions given.
pub(super) unsafe fn read_all<H, T: Copy + Default + std::fmt::Debug>(
    h: *const H,
    count: unsafe extern "C" fn(*const H, *mut usize) -> meterdb_status,
    row: unsafe extern "C" fn(*const H, usize, *mut T) -> meterdb_status,
    rows: unsafe extern "C" fn(*const H, usize, *mut T, usize, *mut usize) -> meterdb_status,
) -> Vec<T> {
    // SAFETY: as this function's; the buffers are Rust arrays of the sizes passed.
    unsafe {
        let mut n = usize::MAX;
        ok(count(h, &mut n));
        let mut out = Vec::with_capacity(n);
        let mut buf = [T::default(); 7];
        loop {
            let mut k = usize::MAX;
            ok(rows(h, out.len(), buf.as_mut_ptr(), buf.len(), &mut k));
            out.extend_from_slice(&buf[..k]);
            if k < buf.len() {
                break;
            }
        }
        assert_eq!(out.len(), n);
        for (i, r) in out.iter().enumerate() {
            let mut one = T::default();
            ok(row(h, i, &mut one));
            assert_eq!(format!("{one:?}"), format!("{r:?}"));
        }
        out
    }
}

/// A NULL result handle: `count`, `row` and `rows` give `MDB_NULL_ARGUMENT` with the message
/// "`what` is NULL", and `free` accepts it.
///
/// # Safety
/// The functions are the exported readers of one result handle type.
pub(super) unsafe fn null_handle_refused<H, T: Copy + Default>(
    what: &str,
    count: unsafe extern "C" fn(*const H, *mut usize) -> meterdb_status,
    row: unsafe extern "C" fn(*const H, usize, *mut T) -> meterdb_status,
    rows: unsafe extern "C" fn(*const H, usize, *mut T, usize, *mut usize) -> meterdb_status,
    free: unsafe extern "C" fn(*mut H),
) {
    let msg = format!("{what} is NULL");
    let (mut n, mut one) = (0usize, T::default());
    // SAFETY: as this function's; the out-pointers are Rust locals.
    unsafe {
        fails(count(ptr::null(), &mut n), MDB_NULL_ARGUMENT, &msg);
        fails(row(ptr::null(), 0, &mut one), MDB_NULL_ARGUMENT, &msg);
        fails(
            rows(ptr::null(), 0, ptr::null_mut(), 0, &mut n),
            MDB_NULL_ARGUMENT,
            &msg,
        );
        free(ptr::null_mut());
    }
}

/// Each of the four bucket queries (`meterdb_db_rollup`, `_rollup_sum`, `_coal_sum` in kgce,
/// `_compare` in the points' units) of point `p` at `tier` over `[from, to)` fails with
/// `status` and a message holding `msg`, and sets its result to NULL.
///
/// # Safety
/// `db` is a live handle (possibly closed).
unsafe fn every_query_fails(
    db: *const meterdb_db,
    p: u32,
    tier: i32,
    from: i64,
    to: i64,
    status: meterdb_status,
    msg: &str,
) {
    let mut r = ptr::dangling_mut::<meterdb_rollup>();
    let mut s = ptr::dangling_mut::<meterdb_rollup_sum>();
    let mut s2 = ptr::dangling_mut::<meterdb_rollup_sum>();
    let mut c = ptr::dangling_mut::<meterdb_comparison>();
    // SAFETY: as this function's; the out-pointers are Rust locals.
    unsafe {
        fails(
            meterdb_db_rollup(db, p, tier, from, to, &mut r),
            status,
            msg,
        );
        fails(
            meterdb_db_rollup_sum(db, &p, 1, tier, from, to, &mut s),
            status,
            msg,
        );
        fails(
            meterdb_db_coal_sum(db, &p, 1, tier, from, to, 0, &mut s2),
            status,
            msg,
        );
        fails(
            meterdb_db_compare(db, &p, 1, tier, from, to, -1, &mut c),
            status,
            msg,
        );
    }
    assert!(r.is_null() && s.is_null() && s2.is_null() && c.is_null());
}

fn rollup(
    t: &TestDb,
    point: u32,
    tier: meterdb_tier,
    from: i64,
    to: i64,
) -> Vec<meterdb_bucket_row> {
    let mut r = ptr::null_mut();
    // SAFETY: live handle; the result is freed here.
    unsafe {
        ok(meterdb_db_rollup(
            t.db,
            point,
            tier as i32,
            from,
            to,
            &mut r,
        ));
        let rows = read_all(
            r,
            meterdb_rollup_count,
            meterdb_rollup_row,
            meterdb_rollup_rows,
        );
        meterdb_rollup_free(r);
        rows
    }
}

fn sums(
    t: &TestDb,
    points: &[u32],
    tier: meterdb_tier,
    from: i64,
    to: i64,
    coal: Option<meterdb_coal_unit>,
) -> Vec<meterdb_sum_row> {
    let mut r = ptr::null_mut();
    // SAFETY: live handle; `points` holds `points.len()` ids; the result is freed here.
    unsafe {
        let st = match coal {
            None => meterdb_db_rollup_sum(
                t.db,
                points.as_ptr(),
                points.len(),
                tier as i32,
                from,
                to,
                &mut r,
            ),
            Some(u) => meterdb_db_coal_sum(
                t.db,
                points.as_ptr(),
                points.len(),
                tier as i32,
                from,
                to,
                u as i32,
                &mut r,
            ),
        };
        ok(st);
        let rows = read_all(
            r,
            meterdb_rollup_sum_count,
            meterdb_rollup_sum_row,
            meterdb_rollup_sum_rows,
        );
        meterdb_rollup_sum_free(r);
        rows
    }
}

fn compare(
    t: &TestDb,
    points: &[u32],
    tier: meterdb_tier,
    from: i64,
    to: i64,
    coal: meterdb_coal_unit,
) -> Vec<meterdb_compare_row> {
    let mut r = ptr::null_mut();
    // SAFETY: live handle; `points` holds `points.len()` ids; the result is freed here.
    unsafe {
        ok(meterdb_db_compare(
            t.db,
            points.as_ptr(),
            points.len(),
            tier as i32,
            from,
            to,
            coal as i32,
            &mut r,
        ));
        let rows = read_all(
            r,
            meterdb_comparison_count,
            meterdb_comparison_row,
            meterdb_comparison_rows,
        );
        meterdb_comparison_free(r);
        rows
    }
}

fn engine_tier(t: meterdb_tier) -> engine::Tier {
    engine::Tier::from_kind(t as u8).unwrap()
}

/// Rows compared by their debug text: exact, NaN included.
#[track_caller]
fn same<A: std::fmt::Debug, B: std::fmt::Debug>(got: &[A], want: &[B]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(format!("{g:?}"), format!("{w:?}"));
    }
}

/// A counter read every 15 minutes for 40 days from 2024-01-01 (+08:00), rolling over at
/// 10000, with a 6-hour outage on day 3; a week of it a year earlier; and an hourly gauge.
fn fill(t: &TestDb, counter: u32, gauge: u32) {
    let mut pts = Vec::new();
    let mut tss = Vec::new();
    let mut vals = Vec::new();
    let mut reading = 9_000.0f64;
    for i in 0..40 * 96i64 {
        let at = t0() + i * 15 * MIN;
        reading += 1.25 + (i % 7) as f64 * 0.5;
        if reading >= 10_000.0 {
            reading -= 10_000.0;
        }
        if (2 * DAY + 5 * 3_600_000..2 * DAY + 11 * 3_600_000).contains(&(at - t0())) {
            continue;
        }
        pts.push(counter);
        tss.push(at);
        vals.push((reading * 1000.0).round() / 1000.0);
    }
    let year_ago = ts("2023-01-01T00:00:00+08:00");
    for i in 0..7 * 96i64 {
        pts.push(counter);
        tss.push(year_ago + i * 15 * MIN);
        vals.push(100.0 + i as f64);
    }
    for h in 0..40 * 24i64 {
        pts.push(gauge);
        tss.push(t0() + h * 3_600_000);
        vals.push(50.0 + (h % 24) as f64);
    }
    // SAFETY: live handle; parallel arrays of equal length.
    ok(unsafe {
        meterdb_db_write(
            t.db,
            pts.as_ptr(),
            tss.as_ptr(),
            vals.as_ptr(),
            ptr::null(),
            pts.len(),
        )
    });
}

#[test]
fn rollup_answers_equal_the_engines() {
    let t = TestDb::new();
    let coal = [(t0() + 10 * DAY, 0.2), (ts("2020-01-01T00:00:00Z"), 0.1229)];
    let mask = 1 << (meterdb_tier::MDB_TIER_DAY as i32 - 1)
        | 1 << (meterdb_tier::MDB_TIER_MONTH as i32 - 1);
    let counter = define_v2(&t, "kwh", 1, 15 * MIN, 2.0, 10_000.0, &coal, mask).unwrap();
    let gauge = define_v2(
        &t,
        "kw",
        0,
        3_600_000,
        1.0,
        f64::NAN,
        &[],
        MDB_TIERS_DEFAULT,
    )
    .unwrap();
    fill(&t, counter, gauge);
    let mut tz = 0;
    // SAFETY: live handle, writable out-pointer.
    ok(unsafe { meterdb_db_tz_offset_min(t.db, &mut tz) });
    assert_eq!(tz, 480);

    // SAFETY: the handle is live while `t` is.
    let h = unsafe { &*t.db };
    let (from, to) = (t0() - 400 * DAY, t0() + 60 * DAY);
    for flushed in [false, true] {
        for (point, tier) in [
            (counter, meterdb_tier::MDB_TIER_DAY),
            (counter, meterdb_tier::MDB_TIER_MONTH),
            (gauge, meterdb_tier::MDB_TIER_HOUR),
            (gauge, meterdb_tier::MDB_TIER_DAY),
            (gauge, meterdb_tier::MDB_TIER_YEAR),
        ] {
            let got = rollup(&t, point, tier, from, to);
            let want: Vec<meterdb_bucket_row> = h
                .with(|d| Ok(d.rollup(point, engine_tier(tier), from, to)?))
                .unwrap()
                .iter()
                .map(meterdb_bucket_row::from)
                .collect();
            assert!(!got.is_empty());
            same(&got, &want);
        }
        let both = [counter, gauge];
        let day = meterdb_tier::MDB_TIER_DAY;
        let got = sums(&t, &both, day, from, to, None);
        let want = h
            .with(|d| Ok(d.rollup_sum(&both, engine::Tier::Day, from, to)?))
            .unwrap();
        same(
            &got,
            &want.iter().map(meterdb_sum_row::from).collect::<Vec<_>>(),
        );
        for (unit, eunit) in [
            (meterdb_coal_unit::MDB_COAL_KGCE, engine::CoalUnit::Kgce),
            (meterdb_coal_unit::MDB_COAL_TCE, engine::CoalUnit::Tce),
        ] {
            let got = sums(&t, &both, day, from, to, Some(unit));
            let want = h
                .with(|d| Ok(d.coal_sum(&both, engine::Tier::Day, from, to, eunit)?))
                .unwrap();
            same(
                &got,
                &want.iter().map(meterdb_sum_row::from).collect::<Vec<_>>(),
            );
            let cmp = compare(&t, &[counter], day, t0(), to, unit);
            let want = h
                .with(|d| Ok(d.compare(&[counter], engine::Tier::Day, t0(), to, Some(eunit))?))
                .unwrap();
            same(
                &cmp,
                &want
                    .iter()
                    .map(meterdb_compare_row::from)
                    .collect::<Vec<_>>(),
            );
        }
        let cmp = compare(
            &t,
            &[gauge],
            day,
            t0(),
            to,
            meterdb_coal_unit::MDB_COAL_NONE,
        );
        let want = h
            .with(|d| Ok(d.compare(&[gauge], engine::Tier::Day, t0(), to, None)?))
            .unwrap();
        same(
            &cmp,
            &want
                .iter()
                .map(meterdb_compare_row::from)
                .collect::<Vec<_>>(),
        );
        if !flushed {
            // SAFETY: live handle.
            ok(unsafe { meterdb_db_flush(t.db) });
        }
    }

    // What the rows say, checked on a few figures.
    let days = rollup(
        &t,
        counter,
        meterdb_tier::MDB_TIER_DAY,
        t0(),
        t0() + 40 * DAY,
    );
    assert_eq!(days.len(), 40);
    let d0 = days[0];
    assert_eq!((d0.start, d0.end, d0.count), (t0(), t0() + DAY, 96));
    assert_eq!(
        (d0.has_mean, d0.has_consumption, d0.has_expected),
        (1, 1, 1)
    );
    assert_eq!((d0.expected, d0.completeness), (96.0, 1.0));
    assert_eq!(days[2].count, 96 - 24); // the outage
    let gdays = rollup(&t, gauge, meterdb_tier::MDB_TIER_DAY, t0(), t0() + DAY);
    assert_eq!(gdays.len(), 1);
    assert_eq!((gdays[0].has_consumption, gdays[0].mean), (0, 50.0 + 11.5));
    assert!(gdays[0].consumption.is_nan());
    // Standard coal: the coefficient in force at each day's start, kgce and tce.
    let kg = sums(
        &t,
        &[counter],
        meterdb_tier::MDB_TIER_DAY,
        t0(),
        t0() + 40 * DAY,
        Some(meterdb_coal_unit::MDB_COAL_KGCE),
    );
    let tce = sums(
        &t,
        &[counter],
        meterdb_tier::MDB_TIER_DAY,
        t0(),
        t0() + 40 * DAY,
        Some(meterdb_coal_unit::MDB_COAL_TCE),
    );
    for ((k, c), d) in kg.iter().zip(&tce).zip(&days) {
        let coef = if d.start >= t0() + 10 * DAY {
            0.2
        } else {
            0.1229
        };
        assert!((k.consumption - d.consumption * coef).abs() < 1e-9);
        assert!((c.consumption * 1000.0 - k.consumption).abs() < 1e-9);
        assert_eq!((k.points, k.has_consumption), (1, 1));
    }
    // Comparisons: the day before, and the same day a year earlier when there was data.
    let cmp = compare(
        &t,
        &[counter],
        meterdb_tier::MDB_TIER_DAY,
        t0(),
        t0() + 40 * DAY,
        meterdb_coal_unit::MDB_COAL_NONE,
    );
    assert_eq!(cmp.len(), 40);
    assert_eq!((cmp[5].has_value, cmp[5].has_previous), (1, 1));
    assert_eq!(cmp[5].previous.to_bits(), days[4].consumption.to_bits());
    assert_eq!(cmp[3].has_year_ago, 1);
    // The gauge had no data a year earlier, nor the day before its first.
    let gcmp = compare(
        &t,
        &[gauge],
        meterdb_tier::MDB_TIER_DAY,
        t0(),
        t0() + 40 * DAY,
        meterdb_coal_unit::MDB_COAL_NONE,
    );
    assert_eq!(
        (
            gcmp[0].has_value,
            gcmp[0].has_previous,
            gcmp[0].has_previous_change_pct
        ),
        (1, 0, 0)
    );
    assert_eq!(
        (gcmp[1].has_previous, gcmp[1].previous_change_pct),
        (1, 0.0)
    );
    assert_eq!(
        (gcmp[20].has_year_ago, gcmp[20].has_year_change_pct),
        (0, 0)
    );
    assert!(gcmp[20].year_ago.is_nan() && gcmp[20].year_change_pct.is_nan());
    // A range of equal ends is empty; the whole time line is fine.
    assert!(rollup(&t, counter, meterdb_tier::MDB_TIER_DAY, t0(), t0()).is_empty());
    for tier in [
        meterdb_tier::MDB_TIER_MINUTE,
        meterdb_tier::MDB_TIER_HOUR,
        meterdb_tier::MDB_TIER_DAY,
        meterdb_tier::MDB_TIER_MONTH,
        meterdb_tier::MDB_TIER_YEAR,
    ] {
        let all = rollup(&t, gauge, tier, i64::MIN, i64::MAX);
        assert!(!all.is_empty());
        assert!(!sums(&t, &[gauge], tier, i64::MIN, i64::MAX, None).is_empty());
        compare(
            &t,
            &[gauge],
            tier,
            i64::MIN,
            i64::MAX,
            meterdb_coal_unit::MDB_COAL_NONE,
        );
    }
    // No points: an empty series.
    assert!(sums(&t, &[], meterdb_tier::MDB_TIER_DAY, t0(), t0() + DAY, None).is_empty());
}

#[test]
fn a_result_outlives_its_database() {
    let t = TestDb::new();
    let p = t.define("p");
    // SAFETY: live handle until freed; the results are freed at the end.
    unsafe {
        ok(meterdb_db_put(t.db, p, t0() + 1000, 4.0, 1));
        let (mut r, mut s, mut c) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        ok(meterdb_db_rollup(t.db, p, 3, t0(), t0() + DAY, &mut r));
        ok(meterdb_db_rollup_sum(
            t.db,
            &p,
            1,
            3,
            t0(),
            t0() + DAY,
            &mut s,
        ));
        ok(meterdb_db_compare(
            t.db,
            &p,
            1,
            3,
            t0(),
            t0() + DAY,
            -1,
            &mut c,
        ));
        ok(meterdb_db_close(t.db));
        let mut row = meterdb_bucket_row::default();
        ok(meterdb_rollup_row(r, 0, &mut row));
        assert_eq!((row.count, row.sum, row.first_ts), (1, 4.0, t0() + 1000));
        let mut srow = meterdb_sum_row::default();
        ok(meterdb_rollup_sum_row(s, 0, &mut srow));
        assert_eq!((srow.count, srow.points, srow.has_consumption), (1, 1, 0));
        let mut crow = meterdb_compare_row::default();
        ok(meterdb_comparison_row(c, 0, &mut crow));
        assert_eq!((crow.has_value, crow.value, crow.has_previous), (1, 4.0, 0));
        meterdb_rollup_free(r);
        meterdb_rollup_sum_free(s);
        meterdb_comparison_free(c);
    }
}

#[test]
fn misuse_of_the_rollup_functions() {
    let t = TestDb::new();
    let p = t.define("p");
    let day_only = define_v2(&t, "d", 1, 0, 1.0, f64::NAN, &[], 1 << 2).unwrap();
    let (d, e) = (t0(), t0() + DAY);
    let mut n = 0usize;
    // SAFETY: every non-NULL pointer is valid; the NULLs are the point of the test.
    unsafe {
        ok(meterdb_db_put(t.db, p, d, 1.0, 1));
        // NULL database and out-pointers; the out-handle is set to NULL on failure.
        let mut r = ptr::dangling_mut::<meterdb_rollup>();
        fails(
            meterdb_db_rollup(ptr::null(), p, 3, d, e, &mut r),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        assert!(r.is_null());
        fails(
            meterdb_db_rollup(t.db, p, 3, d, e, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_rollup is NULL",
        );
        let mut s = ptr::dangling_mut::<meterdb_rollup_sum>();
        fails(
            meterdb_db_rollup_sum(ptr::null(), &p, 1, 3, d, e, &mut s),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        assert!(s.is_null());
        fails(
            meterdb_db_rollup_sum(t.db, &p, 1, 3, d, e, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_sum is NULL",
        );
        fails(
            meterdb_db_rollup_sum(t.db, ptr::null(), 1, 3, d, e, &mut s),
            MDB_NULL_ARGUMENT,
            "points is NULL",
        );
        fails(
            meterdb_db_coal_sum(ptr::null(), &p, 1, 3, d, e, 0, &mut s),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        fails(
            meterdb_db_coal_sum(t.db, &p, 1, 3, d, e, 0, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_sum is NULL",
        );
        fails(
            meterdb_db_coal_sum(t.db, ptr::null(), 2, 3, d, e, 0, &mut s),
            MDB_NULL_ARGUMENT,
            "points is NULL",
        );
        let mut c = ptr::dangling_mut::<meterdb_comparison>();
        fails(
            meterdb_db_compare(ptr::null(), &p, 1, 3, d, e, -1, &mut c),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        assert!(c.is_null());
        fails(
            meterdb_db_compare(t.db, &p, 1, 3, d, e, -1, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_comparison is NULL",
        );
        fails(
            meterdb_db_compare(t.db, ptr::null(), 1, 3, d, e, -1, &mut c),
            MDB_NULL_ARGUMENT,
            "points is NULL",
        );
        let mut tz = 0;
        fails(
            meterdb_db_tz_offset_min(ptr::null(), &mut tz),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        fails(
            meterdb_db_tz_offset_min(t.db, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_minutes is NULL",
        );
        // NULL result handles.
        null_handle_refused(
            "rollup",
            meterdb_rollup_count,
            meterdb_rollup_row,
            meterdb_rollup_rows,
            meterdb_rollup_free,
        );
        null_handle_refused(
            "sum",
            meterdb_rollup_sum_count,
            meterdb_rollup_sum_row,
            meterdb_rollup_sum_rows,
            meterdb_rollup_sum_free,
        );
        null_handle_refused(
            "comparison",
            meterdb_comparison_count,
            meterdb_comparison_row,
            meterdb_comparison_rows,
            meterdb_comparison_free,
        );

        // Bad tiers, units and ranges; unknown points; a tier the point does not keep.
        for tier in [0, 6, -1, 259] {
            let msg = format!("tier {tier} is not one of");
            every_query_fails(t.db, p, tier, d, e, MDB_INVALID_ARGUMENT, &msg);
        }
        fails(
            meterdb_db_coal_sum(t.db, &p, 1, 3, d, e, -1, &mut s),
            MDB_INVALID_ARGUMENT,
            "coal unit -1",
        );
        fails(
            meterdb_db_coal_sum(t.db, &p, 1, 3, d, e, 2, &mut s),
            MDB_INVALID_ARGUMENT,
            "coal unit 2",
        );
        fails(
            meterdb_db_compare(t.db, &p, 1, 3, d, e, 2, &mut c),
            MDB_INVALID_ARGUMENT,
            "coal unit 2",
        );
        every_query_fails(t.db, p, 3, e, d, MDB_INVALID_ARGUMENT, "is after its end");
        fails(
            meterdb_db_rollup(t.db, 77, 3, d, e, &mut r),
            MDB_NOT_FOUND,
            "point id 77",
        );
        let two = [p, 77];
        fails(
            meterdb_db_rollup_sum(t.db, two.as_ptr(), 2, 3, d, e, &mut s),
            MDB_NOT_FOUND,
            "77",
        );
        fails(
            meterdb_db_coal_sum(t.db, two.as_ptr(), 2, 3, d, e, 0, &mut s),
            MDB_NOT_FOUND,
            "77",
        );
        fails(
            meterdb_db_compare(t.db, two.as_ptr(), 2, 3, d, e, -1, &mut c),
            MDB_NOT_FOUND,
            "77",
        );
        fails(
            meterdb_db_rollup(t.db, day_only, 2, d, e, &mut r),
            MDB_INVALID_ARGUMENT,
            "does not keep the hour tier",
        );
        let both = [p, day_only];
        fails(
            meterdb_db_rollup_sum(t.db, both.as_ptr(), 2, 4, d, e, &mut s),
            MDB_INVALID_ARGUMENT,
            "does not keep the month tier",
        );
        fails(
            meterdb_db_compare(t.db, both.as_ptr(), 2, 5, d, e, -1, &mut c),
            MDB_INVALID_ARGUMENT,
            "does not keep the year tier",
        );
        assert!(r.is_null() && s.is_null() && c.is_null());

        // Indexes and buffers of the result handles.
        ok(meterdb_db_rollup(t.db, p, 3, d, e, &mut r));
        fails(
            meterdb_rollup_count(r, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "n_out is NULL",
        );
        fails(
            meterdb_rollup_row(r, 0, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_row is NULL",
        );
        fails(
            meterdb_rollup_row(r, 1, &mut meterdb_bucket_row::default()),
            MDB_INVALID_ARGUMENT,
            "index 1 is past the 1 rows",
        );
        fails(
            meterdb_rollup_row(r, usize::MAX, &mut meterdb_bucket_row::default()),
            MDB_INVALID_ARGUMENT,
            "past",
        );
        fails(
            meterdb_rollup_rows(r, 0, ptr::null_mut(), 4, &mut n),
            MDB_NULL_ARGUMENT,
            "out_rows is NULL",
        );
        let mut buf = [meterdb_bucket_row::default(); 2];
        fails(
            meterdb_rollup_rows(r, 0, buf.as_mut_ptr(), 2, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "n_out is NULL",
        );
        n = 9;
        fails(
            meterdb_rollup_rows(r, 2, buf.as_mut_ptr(), 2, &mut n),
            MDB_INVALID_ARGUMENT,
            "first row 2 is past the 1 rows",
        );
        assert_eq!(n, 0);
        ok(meterdb_rollup_rows(r, 1, buf.as_mut_ptr(), 2, &mut n));
        assert_eq!(n, 0);
        ok(meterdb_rollup_rows(r, 0, ptr::null_mut(), 0, &mut n));
        assert_eq!(n, 0);
        fails(
            meterdb_rollup_rows(r, 0, buf.as_mut_ptr(), usize::MAX, &mut n),
            MDB_INVALID_ARGUMENT,
            "larger than any array",
        );
        meterdb_rollup_free(r);
        ok(meterdb_db_rollup_sum(t.db, &p, 1, 3, d, e, &mut s));
        fails(
            meterdb_rollup_sum_row(s, 1, &mut meterdb_sum_row::default()),
            MDB_INVALID_ARGUMENT,
            "past",
        );
        fails(
            meterdb_rollup_sum_rows(s, 3, ptr::null_mut(), 0, &mut n),
            MDB_INVALID_ARGUMENT,
            "past",
        );
        meterdb_rollup_sum_free(s);
        ok(meterdb_db_compare(t.db, &p, 1, 3, d, e, -1, &mut c));
        fails(
            meterdb_comparison_row(c, 1, &mut meterdb_compare_row::default()),
            MDB_INVALID_ARGUMENT,
            "past",
        );
        fails(
            meterdb_comparison_count(c, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "n_out is NULL",
        );
        meterdb_comparison_free(c);

        // A closed handle.
        ok(meterdb_db_close(t.db));
        every_query_fails(t.db, p, 3, d, e, MDB_CLOSED, "closed");
        fails(
            meterdb_db_tz_offset_min(t.db, &mut tz),
            MDB_CLOSED,
            "closed",
        );
        // Closed beats a bad tier: the handle is checked first.
        fails(
            meterdb_db_rollup(t.db, p, 9, d, e, &mut r),
            MDB_CLOSED,
            "closed",
        );
    }
}

#[test]
fn point_metadata_of_the_tiers_round_trips() {
    let t = TestDb::new();
    let coal = [(5_000_000_000_000, 0.3), (1_000_000_000_000, 0.1229)];
    let id = define_v2(&t, "k", 1, 900_000, 1.5, 99_999.0, &coal, 0b01100).unwrap();
    let plain = define_v2(&t, "g", 0, 0, 1.0, f64::NAN, &[], MDB_TIERS_DEFAULT).unwrap();
    // SAFETY: live handle; the infos are freed here.
    unsafe {
        let mut info = ptr::null_mut();
        ok(meterdb_db_point_info_v2(t.db, id, &mut info));
        let i = &*info;
        assert_eq!(CStr::from_ptr(i.base.key).to_str().unwrap(), "k");
        assert_eq!(
            (
                i.base.id,
                i.base.kind,
                i.base.interval_ms,
                i.base.multiplier
            ),
            (id, 1, 900_000, 1.5)
        );
        assert_eq!((i.rollover, i.tiers, i.n_coal), (99_999.0, 0b01100, 2));
        let from = std::slice::from_raw_parts(i.coal_from, 2);
        let kgce = std::slice::from_raw_parts(i.coal_kgce, 2);
        assert_eq!(
            (from, kgce),
            (
                &[1_000_000_000_000, 5_000_000_000_000][..],
                &[0.1229, 0.3][..]
            )
        );
        meterdb_point_info_v2_free(info);
        ok(meterdb_db_point_info_v2(t.db, plain, &mut info));
        let i = &*info;
        assert!(i.rollover.is_nan());
        assert_eq!((i.tiers, i.n_coal), (MDB_TIERS_DEFAULT, 0));
        assert!(i.coal_from.is_null() && i.coal_kgce.is_null());
        meterdb_point_info_v2_free(info);
        // The v1 reader sees the same point.
        let mut v1 = ptr::null_mut();
        ok(meterdb_db_point_info(t.db, id, &mut v1));
        assert_eq!((*v1).multiplier, 1.5);
        meterdb_point_info_free(v1);
        let mut info = ptr::dangling_mut::<meterdb_point_info_v2>();
        fails(
            meterdb_db_point_info_v2(t.db, 77, &mut info),
            MDB_NOT_FOUND,
            "77",
        );
        assert!(info.is_null());
        fails(
            meterdb_db_point_info_v2(ptr::null(), id, &mut info),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        fails(
            meterdb_db_point_info_v2(t.db, id, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_info is NULL",
        );
        meterdb_point_info_v2_free(ptr::null_mut());
    }

    // Bad metadata of the tiers.
    for (rollover, coal, tiers, want) in [
        (-5.0, &[][..], -1, "rollover -5"),
        (f64::INFINITY, &[][..], -1, "rollover inf"),
        (0.0, &[][..], -1, "rollover 0"),
        (f64::NAN, &[(0, -1.0)][..], -1, "coal coefficients"),
        (f64::NAN, &[(0, f64::NAN)][..], -1, "coal coefficients"),
        (f64::NAN, &[(7, 1.0), (7, 2.0)][..], -1, "distinct dates"),
        (f64::NAN, &[][..], 32, "tier mask 32"),
        (f64::NAN, &[][..], -2, "tier mask -2"),
    ] {
        assert_eq!(
            define_v2(&t, "bad", 1, 0, 1.0, rollover, coal, tiers),
            Err(MDB_INVALID_ARGUMENT)
        );
        assert!(
            super::abi::last_error().contains(want),
            "{}",
            super::abi::last_error()
        );
    }
    let k = c"bad".as_ptr();
    let from = [0i64];
    let mut id = 0;
    // SAFETY: every non-NULL pointer is valid; the NULLs are the point of the test.
    unsafe {
        let v2 = |db: *const meterdb_db,
                  key: *const c_char,
                  f: *const i64,
                  g: *const f64,
                  n: usize,
                  out: *mut u32| {
            meterdb_db_define_point_v2(
                db,
                key,
                1,
                ptr::null(),
                -1,
                ptr::null(),
                0,
                1.0,
                ptr::null(),
                ptr::null(),
                0,
                f64::NAN,
                f,
                g,
                n,
                -1,
                out,
            )
        };
        fails(
            v2(ptr::null(), k, ptr::null(), ptr::null(), 0, &mut id),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        fails(
            v2(t.db, ptr::null(), ptr::null(), ptr::null(), 0, &mut id),
            MDB_NULL_ARGUMENT,
            "key is NULL",
        );
        fails(
            v2(t.db, k, ptr::null(), ptr::null(), 0, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "id_out is NULL",
        );
        fails(
            v2(t.db, k, from.as_ptr(), ptr::null(), 1, &mut id),
            MDB_NULL_ARGUMENT,
            "coal_kgce is NULL",
        );
        fails(
            v2(t.db, k, ptr::null(), [1.0].as_ptr(), 1, &mut id),
            MDB_NULL_ARGUMENT,
            "coal_from is NULL",
        );
        fails(
            v2(
                t.db,
                c"caf\xe9".as_ptr(),
                ptr::null(),
                ptr::null(),
                0,
                &mut id,
            ),
            MDB_INVALID_UTF8,
            "key is not valid UTF-8",
        );
        ok(meterdb_db_close(t.db));
        fails(
            v2(t.db, k, ptr::null(), ptr::null(), 0, &mut id),
            MDB_CLOSED,
            "closed",
        );
        let mut info = ptr::dangling_mut::<meterdb_point_info_v2>();
        fails(
            meterdb_db_point_info_v2(t.db, 0, &mut info),
            MDB_CLOSED,
            "closed",
        );
        assert!(info.is_null());
    }
}

#[test]
fn options_of_the_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().to_str().unwrap()).unwrap();
    // SAFETY: valid handles and pointers; each handle is freed once.
    unsafe {
        fails(
            meterdb_options_set_tz_offset_min(ptr::null_mut(), 0),
            MDB_NULL_ARGUMENT,
            "opts is NULL",
        );
        fails(
            meterdb_options_set_tiers(ptr::null_mut(), 0),
            MDB_NULL_ARGUMENT,
            "opts is NULL",
        );
        let mut o = ptr::null_mut();
        ok(meterdb_options_new(&mut o));
        for bad in [32, -1, 256] {
            fails(
                meterdb_options_set_tiers(o, bad),
                MDB_INVALID_ARGUMENT,
                &format!("tier mask {bad}"),
            );
        }
        // A zone out of range is refused when opening.
        ok(meterdb_options_set_tz_offset_min(o, 19 * 60));
        let mut db = ptr::dangling_mut::<meterdb_db>();
        fails(
            meterdb_db_open(path.as_ptr(), o, &mut db),
            MDB_INVALID_ARGUMENT,
            "time zone offset",
        );
        assert!(db.is_null());
        // UTC, and only days kept by default.
        ok(meterdb_options_set_tz_offset_min(o, 0));
        ok(meterdb_options_set_tiers(o, 1 << 2));
        ok(meterdb_db_open(path.as_ptr(), o, &mut db));
        let mut tz = -1;
        ok(meterdb_db_tz_offset_min(db, &mut tz));
        assert_eq!(tz, 0);
        let mut id = 0;
        ok(meterdb_db_ensure_point(db, c"p".as_ptr(), &mut id));
        ok(meterdb_db_put(db, id, 1_000 * DAY + 5, 3.0, 1));
        let mut r = ptr::null_mut();
        ok(meterdb_db_rollup(db, id, 3, 0, i64::MAX, &mut r));
        let mut row = meterdb_bucket_row::default();
        ok(meterdb_rollup_row(r, 0, &mut row));
        assert_eq!((row.start, row.end), (1_000 * DAY, 1_001 * DAY)); // UTC midnight
        meterdb_rollup_free(r);
        fails(
            meterdb_db_rollup(db, id, 2, 0, i64::MAX, &mut r),
            MDB_INVALID_ARGUMENT,
            "does not keep the hour tier",
        );
        meterdb_db_free(db);
        // The zone is fixed at creation: another one is refused, none keeps it.
        ok(meterdb_options_set_tz_offset_min(o, 480));
        fails(
            meterdb_db_open(path.as_ptr(), o, &mut db),
            MDB_INVALID_ARGUMENT,
            "cannot be opened with UTC+08:00",
        );
        meterdb_options_free(o);
        ok(meterdb_db_open(path.as_ptr(), ptr::null(), &mut db));
        ok(meterdb_db_tz_offset_min(db, &mut tz));
        assert_eq!(tz, 0);
        meterdb_db_free(db);
    }
}
