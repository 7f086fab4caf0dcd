//! Meter truth through the C ABI: invalid readings excluded from every bucket figure and
//! counted (with the manual and estimated ones) in the `_v2` rows, a recorded meter
//! replacement changing consumption (and forgotten again), a net register giving the signed
//! change where an import register counts a backward step as nothing, and misuse of the new
//! calls.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::ptr;

use super::abi::{fails, ok, TestDb};
use super::rollup::read_all;
use crate::meterdb_point_kind::MDB_KIND_COUNTER;
use crate::meterdb_register::*;
use crate::meterdb_status::*;
use crate::meterdb_tier::MDB_TIER_DAY;
use crate::*;

const H6: i64 = 6 * 3_600_000;
const DAY: i64 = 86_400_000;

/// 2026-01-01T00:00:00+08:00, midnight in the database's default zone.
fn d0() -> i64 {
    engine::time::parse_timestamp("2026-01-01T00:00:00+08:00").unwrap()
}

/// Defines a counter with `meterdb_db_define_point_v2` (no rollover, default tiers).
fn counter(t: &TestDb, key: &str) -> u32 {
    let k = CString::new(key).unwrap();
    let mut id = u32::MAX;
    // SAFETY: live handle; valid strings; no arrays.
    ok(unsafe {
        meterdb_db_define_point_v2(
            t.db,
            k.as_ptr(),
            MDB_KIND_COUNTER as i32,
            c"kWh".as_ptr(),
            2,
            ptr::null(),
            H6,
            1.0,
            ptr::null(),
            ptr::null(),
            0,
            f64::NAN,
            ptr::null(),
            ptr::null(),
            0,
            MDB_TIERS_DEFAULT,
            &mut id,
        )
    });
    id
}

/// Writes readings every 6 hours from `d0()` with their qualities.
fn write(t: &TestDb, point: u32, readings: &[(f64, u8)]) {
    let ts: Vec<i64> = (0..readings.len() as i64).map(|i| d0() + i * H6).collect();
    let v: Vec<f64> = readings.iter().map(|r| r.0).collect();
    let q: Vec<u8> = readings.iter().map(|r| r.1).collect();
    // SAFETY: live handle; three arrays of `readings.len()` elements.
    ok(unsafe {
        meterdb_db_write_point(t.db, point, ts.as_ptr(), v.as_ptr(), q.as_ptr(), ts.len())
    });
}

/// The day buckets of `point` from `d0()` for two days, read with the `_v2` readers, each
/// checked to begin with the row the first-version readers give.
fn days(t: &TestDb, point: u32) -> Vec<meterdb_bucket_row_v2> {
    let mut r = ptr::null_mut();
    // SAFETY: live handle; the result is freed here.
    unsafe {
        ok(meterdb_db_rollup(
            t.db,
            point,
            MDB_TIER_DAY as i32,
            d0(),
            d0() + 2 * DAY,
            &mut r,
        ));
        let v2 = read_all(
            r,
            meterdb_rollup_count,
            meterdb_rollup_row_v2,
            meterdb_rollup_rows_v2,
        );
        let v1 = read_all(
            r,
            meterdb_rollup_count,
            meterdb_rollup_row,
            meterdb_rollup_rows,
        );
        meterdb_rollup_free(r);
        assert_eq!(v1.len(), v2.len());
        for (a, b) in v1.iter().zip(&v2) {
            let prefix = meterdb_bucket_row {
                start: b.start,
                end: b.end,
                count: b.count,
                sum: b.sum,
                min: b.min,
                min_ts: b.min_ts,
                max: b.max,
                max_ts: b.max_ts,
                first: b.first,
                first_ts: b.first_ts,
                last: b.last,
                last_ts: b.last_ts,
                inc: b.inc,
                mean: b.mean,
                consumption: b.consumption,
                expected: b.expected,
                completeness: b.completeness,
                has_mean: b.has_mean,
                has_consumption: b.has_consumption,
                has_expected: b.has_expected,
                has_completeness: b.has_completeness,
            };
            assert_eq!(format!("{a:?}"), format!("{prefix:?}"));
        }
        v2
    }
}

fn day_sums(t: &TestDb, points: &[u32]) -> Vec<meterdb_sum_row_v2> {
    let mut s = ptr::null_mut();
    // SAFETY: live handle; `points` holds `points.len()` ids; the result is freed here.
    unsafe {
        ok(meterdb_db_rollup_sum(
            t.db,
            points.as_ptr(),
            points.len(),
            MDB_TIER_DAY as i32,
            d0(),
            d0() + 2 * DAY,
            &mut s,
        ));
        let v2 = read_all(
            s,
            meterdb_rollup_sum_count,
            meterdb_rollup_sum_row_v2,
            meterdb_rollup_sum_rows_v2,
        );
        let v1 = read_all(
            s,
            meterdb_rollup_sum_count,
            meterdb_rollup_sum_row,
            meterdb_rollup_sum_rows,
        );
        meterdb_rollup_sum_free(s);
        for (a, b) in v1.iter().zip(&v2) {
            assert_eq!(
                (a.start, a.end, a.count, a.points, a.has_consumption),
                (b.start, b.end, b.count, b.points, b.has_consumption)
            );
            assert_eq!(
                (a.sum.to_bits(), a.consumption.to_bits()),
                (b.sum.to_bits(), b.consumption.to_bits())
            );
        }
        v2
    }
}

fn flush(t: &TestDb) {
    // SAFETY: live handle.
    ok(unsafe { meterdb_db_flush(t.db) });
}

#[test]
fn invalid_readings_are_excluded_and_counted() {
    let t = TestDb::new();
    let m = counter(&t, "m");
    let clean = counter(&t, "clean");
    let valid = MDB_QUALITY_VALID;
    // The issue's day, with the 06:00 reading entered by hand and the 18:00 one estimated.
    write(
        &t,
        m,
        &[
            (100.0, valid),
            (106.0, valid | MDB_QUALITY_MANUAL),
            (999_999.0, 0),
            (118.0, valid | MDB_QUALITY_ESTIMATED),
            (124.0, valid),
        ],
    );
    // The same data without the invalid reading.
    write(&t, clean, &[(100.0, 1), (106.0, 1)]);
    let ts = [d0() + 3 * H6, d0() + 4 * H6];
    // SAFETY: live handle; arrays of 2.
    ok(unsafe {
        meterdb_db_write_point(
            t.db,
            clean,
            ts.as_ptr(),
            [118.0, 124.0].as_ptr(),
            ptr::null(),
            2,
        )
    });
    for flushed in [false, true] {
        if flushed {
            flush(&t);
        }
        let rows = days(&t, m);
        assert_eq!(rows.len(), 2, "flushed {flushed}");
        let d = rows[0];
        assert_eq!((d.start, d.end), (d0(), d0() + DAY));
        assert_eq!(d.count, 3, "the three valid readings of the day");
        assert_eq!(d.max, 118.0);
        assert_eq!(d.max_ts, d0() + 3 * H6);
        assert_eq!(d.sum, 100.0 + 106.0 + 118.0);
        assert_eq!(d.has_consumption, 1);
        assert_eq!(d.consumption, 24.0);
        assert_eq!((d.invalid, d.manual, d.estimated, d.backward), (1, 1, 1, 0));
        assert_eq!(d.completeness, 3.0 / 4.0, "valid readings only");
        // Every figure equals the clean point's.
        let c = days(&t, clean)[0];
        assert_eq!(
            format!(
                "{:?}",
                meterdb_bucket_row_v2 {
                    invalid: 0,
                    manual: 0,
                    estimated: 0,
                    ..d
                }
            ),
            format!("{c:?}")
        );
        let next = rows[1];
        assert_eq!(
            (next.count, next.invalid, next.manual, next.estimated),
            (1, 0, 0, 0)
        );

        // Summed: the counts of both points.
        let s = day_sums(&t, &[m, clean]);
        assert_eq!(s[0].count, 6);
        assert_eq!(s[0].consumption, 48.0);
        assert_eq!(
            (s[0].invalid, s[0].manual, s[0].estimated, s[0].backward),
            (1, 1, 1, 0)
        );
        assert_eq!(s[0].points, 2);
    }

    // A bucket of invalid readings only: count 0, the invalid ones counted, no mean.
    let g = t.define("g");
    let at = [d0() + 5 * DAY];
    // SAFETY: live handle; arrays of 1.
    ok(unsafe { meterdb_db_write_point(t.db, g, at.as_ptr(), [5.0].as_ptr(), [0u8].as_ptr(), 1) });
    let mut r = ptr::null_mut();
    // SAFETY: live handle; the result is freed here.
    unsafe {
        ok(meterdb_db_rollup(
            t.db,
            g,
            MDB_TIER_DAY as i32,
            at[0],
            at[0] + DAY,
            &mut r,
        ));
        let rows = read_all(
            r,
            meterdb_rollup_count,
            meterdb_rollup_row_v2,
            meterdb_rollup_rows_v2,
        );
        meterdb_rollup_free(r);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].count, rows[0].invalid, rows[0].has_mean),
            (0, 1, 0)
        );
        assert!(rows[0].mean.is_nan());
    }
}

#[test]
fn a_recorded_replacement_changes_consumption() {
    let t = TestDb::new();
    let p = counter(&t, "r");
    // The meter is replaced at 18:00: the old one read 1060 last, the new one started at 2.
    write(
        &t,
        p,
        &[(1000.0, 1), (1040.0, 1), (1050.0, 1), (5.0, 1), (20.0, 1)],
    );
    // Without a record, the fall to 5 (under 10% of 1050) is an inferred replacement from 0.
    assert_eq!(days(&t, p)[0].consumption, 50.0 + 5.0 + 15.0);
    let at = d0() + 3 * H6;
    // SAFETY: live handle.
    ok(unsafe { meterdb_db_replace_meter(t.db, p, at, 1060.0, 2.0) });
    let d = days(&t, p)[0];
    assert_eq!(d.consumption, 50.0 + (1060.0 - 1050.0) + (5.0 - 2.0) + 15.0);
    assert_eq!(d.backward, 0);

    // Read back, kept across a define, a flush and a reopen.
    let read_back = |t: &TestDb| {
        let (mut ts, mut old, mut new, mut n) = ([0i64; 2], [0f64; 2], [0f64; 2], usize::MAX);
        // SAFETY: live handle; arrays of 2.
        ok(unsafe {
            meterdb_db_meter_replacements(
                t.db,
                p,
                ts.as_mut_ptr(),
                old.as_mut_ptr(),
                new.as_mut_ptr(),
                2,
                &mut n,
            )
        });
        assert_eq!(n, 1);
        assert_eq!((ts[0], old[0], new[0]), (at, 1060.0, 2.0));
        // Too small an array: the count, and MDB_BUFFER_TOO_SMALL.
        let mut n = 0;
        // SAFETY: live handle; NULL arrays with cap 0.
        fails(
            unsafe {
                meterdb_db_meter_replacements(
                    t.db,
                    p,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    0,
                    &mut n,
                )
            },
            MDB_BUFFER_TOO_SMALL,
            "1 meter replacements",
        );
        assert_eq!(n, 1);
    };
    read_back(&t);
    assert_eq!(counter(&t, "r"), p);
    flush(&t);
    read_back(&t);
    let mut t = t;
    // SAFETY: the handle is live; closed and freed here, then the directory opened again.
    unsafe {
        ok(meterdb_db_close(t.db));
        meterdb_db_free(t.db);
        t.db = ptr::null_mut();
        ok(meterdb_db_open(t.path.as_ptr(), ptr::null(), &mut t.db));
    }
    read_back(&t);
    assert_eq!(days(&t, p)[0].consumption, 78.0);

    // Forgotten: back to the inferred replacement; a second time: not found.
    // SAFETY: live handle.
    unsafe {
        ok(meterdb_db_forget_meter_replacement(t.db, p, at));
        assert_eq!(days(&t, p)[0].consumption, 70.0);
        fails(
            meterdb_db_forget_meter_replacement(t.db, p, at),
            MDB_NOT_FOUND,
            "no meter replacement",
        );
        // Misuse: a gauge, a non-finite reading, an undefined point, a closed handle.
        let g = t.define("gauge");
        fails(
            meterdb_db_replace_meter(t.db, g, at, 1.0, 0.0),
            MDB_INVALID_ARGUMENT,
            "gauge",
        );
        fails(
            meterdb_db_replace_meter(t.db, p, at, f64::NAN, 0.0),
            MDB_INVALID_ARGUMENT,
            "finite",
        );
        fails(
            meterdb_db_replace_meter(t.db, 999, at, 1.0, 0.0),
            MDB_NOT_FOUND,
            "",
        );
        fails(
            meterdb_db_replace_meter(ptr::null(), p, at, 1.0, 0.0),
            MDB_NULL_ARGUMENT,
            "db",
        );
        fails(
            meterdb_db_meter_replacements(
                t.db,
                999,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                &mut 0,
            ),
            MDB_NOT_FOUND,
            "not defined",
        );
        ok(meterdb_db_close(t.db));
        fails(
            meterdb_db_replace_meter(t.db, p, at, 1.0, 0.0),
            MDB_CLOSED,
            "closed",
        );
        fails(
            meterdb_db_forget_meter_replacement(t.db, p, at),
            MDB_CLOSED,
            "closed",
        );
    }
}

#[test]
fn a_net_register_gives_the_signed_change() {
    let t = TestDb::new();
    let p = counter(&t, "pv");
    // A fall of 2 at 12:00: neither a rollover nor near zero, so a backward step.
    write(
        &t,
        p,
        &[(100.0, 1), (105.0, 1), (103.0, 1), (104.0, 1), (106.0, 1)],
    );
    let mut reg = -1;
    // SAFETY: live handle, valid out-pointer.
    ok(unsafe { meterdb_db_point_register(t.db, p, &mut reg) });
    assert_eq!(reg, MDB_REGISTER_IMPORT as i32);
    let d = days(&t, p)[0];
    assert_eq!((d.consumption, d.backward), (5.0 + 0.0 + 1.0 + 2.0, 1));

    // SAFETY: live handle.
    ok(unsafe { meterdb_db_set_point_register(t.db, p, MDB_REGISTER_NET as i32) });
    for flushed in [false, true] {
        if flushed {
            flush(&t);
        }
        let d = days(&t, p)[0];
        assert_eq!(d.consumption, 6.0, "the signed change 106 - 100");
        assert_eq!(d.backward, 1);
        let s = day_sums(&t, &[p]);
        assert_eq!((s[0].consumption, s[0].backward), (6.0, 1));
    }
    // Defining the point again keeps the register.
    assert_eq!(counter(&t, "pv"), p);
    // SAFETY: live handle, valid out-pointer.
    ok(unsafe { meterdb_db_point_register(t.db, p, &mut reg) });
    assert_eq!(reg, MDB_REGISTER_NET as i32);
    assert_eq!(days(&t, p)[0].consumption, 6.0);

    // Back to import.
    // SAFETY: live handle.
    ok(unsafe { meterdb_db_set_point_register(t.db, p, MDB_REGISTER_IMPORT as i32) });
    assert_eq!(days(&t, p)[0].consumption, 8.0);

    // Misuse.
    let g = t.define("gauge");
    // SAFETY: live or NULL handle; NULL or valid out-pointers.
    unsafe {
        fails(
            meterdb_db_set_point_register(t.db, g, 1),
            MDB_INVALID_ARGUMENT,
            "only a counter",
        );
        fails(
            meterdb_db_set_point_register(t.db, p, 2),
            MDB_INVALID_ARGUMENT,
            "MDB_REGISTER_NET",
        );
        fails(
            meterdb_db_set_point_register(t.db, 999, 1),
            MDB_NOT_FOUND,
            "not defined",
        );
        fails(
            meterdb_db_point_register(t.db, p, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_register",
        );
        fails(
            meterdb_db_set_point_register(ptr::null(), p, 1),
            MDB_NULL_ARGUMENT,
            "db",
        );
    }
}

#[test]
fn v2_readers_refuse_misuse() {
    let t = TestDb::new();
    let p = counter(&t, "m");
    write(&t, p, &[(1.0, 1), (2.0, 1)]);
    let mut r = ptr::null_mut();
    let mut s = ptr::null_mut();
    let mut row = meterdb_bucket_row_v2::default();
    let mut srow = meterdb_sum_row_v2::default();
    let mut n = 0;
    // SAFETY: live handles or NULL; out-pointers valid or NULL as each case says.
    unsafe {
        ok(meterdb_db_rollup(t.db, p, 3, i64::MIN, i64::MAX, &mut r));
        ok(meterdb_db_rollup_sum(
            t.db,
            &p,
            1,
            3,
            i64::MIN,
            i64::MAX,
            &mut s,
        ));
        fails(
            meterdb_rollup_row_v2(r, 1, &mut row),
            MDB_INVALID_ARGUMENT,
            "past the 1 rows",
        );
        fails(
            meterdb_rollup_row_v2(ptr::null(), 0, &mut row),
            MDB_NULL_ARGUMENT,
            "rollup",
        );
        fails(
            meterdb_rollup_row_v2(r, 0, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_row",
        );
        fails(
            meterdb_rollup_rows_v2(r, 2, &mut row, 1, &mut n),
            MDB_INVALID_ARGUMENT,
            "past",
        );
        ok(meterdb_rollup_rows_v2(r, 1, ptr::null_mut(), 0, &mut n));
        assert_eq!(n, 0);
        fails(
            meterdb_rollup_sum_row_v2(s, 1, &mut srow),
            MDB_INVALID_ARGUMENT,
            "past the 1 rows",
        );
        fails(
            meterdb_rollup_sum_row_v2(ptr::null(), 0, &mut srow),
            MDB_NULL_ARGUMENT,
            "sum",
        );
        fails(
            meterdb_rollup_sum_rows_v2(s, 0, ptr::null_mut(), 1, &mut n),
            MDB_NULL_ARGUMENT,
            "out_rows",
        );
        ok(meterdb_rollup_sum_rows_v2(s, 0, &mut srow, 1, &mut n));
        assert_eq!((n, srow.count, srow.points), (1, 2, 1));
        meterdb_rollup_free(r);
        meterdb_rollup_sum_free(s);
    }
}
