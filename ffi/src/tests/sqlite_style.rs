//! The C ABI in the sqlite3.h tradition (issue 16): streaming results (`meterdb_result`)
//! equal to the whole results, a row limit, the 5.26 million minute buckets between two
//! counter readings ten years apart and a wild timestamp without building the result, the
//! whole-result functions refusing more than `MDB_MAX_RESULT_ROWS`, the metadata builder,
//! `meterdb_db_put_value`, and paths that cannot be a database refused creating nothing.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::ptr;

use super::abi::{fails, ok, TestDb};
use super::rollup::read_all;
use crate::meterdb_status::*;
use crate::meterdb_tier::*;
use crate::*;

/// Midnight of 2024-01-01 in +08:00.
const T0: i64 = 1_704_038_400_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn counter(t: &TestDb, key: &str, interval: i64) -> u32 {
    let k = CString::new(key).unwrap();
    let mut m = ptr::null_mut();
    let mut id = 0;
    // SAFETY: valid strings and out-pointers; the builder is freed once.
    unsafe {
        ok(meterdb_point_meta_new(
            k.as_ptr(),
            meterdb_point_kind::MDB_KIND_COUNTER as i32,
            &mut m,
        ));
        ok(meterdb_point_meta_set_interval_ms(m, interval));
        ok(meterdb_db_define_point_meta(t.db, m, &mut id));
        meterdb_point_meta_free(m);
    }
    id
}

/// Every row of a streaming rollup, through `_step` + `_bucket` and `_fetch` (both checked).
fn stream_rollup(
    t: &TestDb,
    p: u32,
    tier: meterdb_tier,
    from: i64,
    to: i64,
) -> Vec<meterdb_bucket_row_v2> {
    let mut out = Vec::new();
    // SAFETY: live handle, valid out-pointers; each result freed once.
    unsafe {
        let mut r = ptr::null_mut();
        ok(meterdb_db_query_rollup(
            t.db,
            p,
            tier as i32,
            from,
            to,
            0,
            &mut r,
        ));
        assert_eq!(
            meterdb_result_kind(r),
            meterdb_row_kind::MDB_ROW_BUCKET as u32
        );
        loop {
            match meterdb_result_step(r) {
                MDB_ROW => {
                    let mut row = meterdb_bucket_row_v2::default();
                    ok(meterdb_result_bucket(r, &mut row));
                    out.push(row);
                }
                MDB_DONE => break,
                s => panic!("step: {s:?} {}", super::abi::last_error()),
            }
        }
        assert_eq!(meterdb_result_step(r), MDB_DONE);
        meterdb_result_free(r);
        ok(meterdb_db_query_rollup(
            t.db,
            p,
            tier as i32,
            from,
            to,
            0,
            &mut r,
        ));
        let mut fetched = Vec::new();
        let mut buf = vec![meterdb_bucket_row_v2::default(); 7];
        loop {
            let mut n = 0;
            ok(meterdb_result_fetch(
                r,
                buf.as_mut_ptr().cast(),
                size_of::<meterdb_bucket_row_v2>(),
                buf.len(),
                &mut n,
            ));
            fetched.extend_from_slice(&buf[..n]);
            if n < buf.len() {
                break;
            }
        }
        meterdb_result_free(r);
        assert_eq!(format!("{fetched:?}"), format!("{out:?}"));
    }
    out
}

/// The whole result of `meterdb_db_rollup`, `_v2` rows.
fn whole_rollup(
    t: &TestDb,
    p: u32,
    tier: meterdb_tier,
    from: i64,
    to: i64,
) -> Result<Vec<meterdb_bucket_row_v2>, meterdb_status> {
    // SAFETY: live handle, valid out-pointers; the result freed once.
    unsafe {
        let mut h = ptr::null_mut();
        let st = meterdb_db_rollup(t.db, p, tier as i32, from, to, &mut h);
        if st != MDB_OK {
            assert!(h.is_null());
            return Err(st);
        }
        let rows = read_all(
            h,
            meterdb_rollup_count,
            meterdb_rollup_row_v2,
            meterdb_rollup_rows_v2,
        );
        meterdb_rollup_free(h);
        Ok(rows)
    }
}

#[test]
fn streaming_rollups_and_sums_equal_the_whole_results() {
    let t = TestDb::new();
    let c = counter(&t, "c", HOUR);
    let g = t.define("g");
    // Ten weeks of hourly readings with a two-week outage, an invalid reading, a fall (a new
    // meter) and a gauge.
    let mut v = 100.0;
    for h in 0..(70 * 24) {
        let ts = T0 + h * HOUR;
        if (20 * 24..34 * 24).contains(&h) {
            continue;
        }
        v += 1.5;
        if h == 50 * 24 {
            v = 3.0;
        }
        let q = if h == 10 * 24 + 5 {
            0
        } else {
            MDB_QUALITY_VALID
        };
        // SAFETY: live handle.
        unsafe {
            ok(meterdb_db_put(t.db, c, ts, v, q));
            ok(meterdb_db_put_value(t.db, g, ts, (h % 24) as f64));
        }
    }
    for flush in [false, true] {
        if flush {
            // SAFETY: live handle.
            ok(unsafe { meterdb_db_flush(t.db) });
        }
        for tier in [
            MDB_TIER_MINUTE,
            MDB_TIER_HOUR,
            MDB_TIER_DAY,
            MDB_TIER_MONTH,
            MDB_TIER_YEAR,
        ] {
            for p in [c, g] {
                for (from, to) in [
                    (i64::MIN, i64::MAX),
                    (T0 + 5 * HOUR + 7, T0 + 40 * DAY),
                    (T0 + 25 * DAY, T0 + 26 * DAY),
                ] {
                    let s = stream_rollup(&t, p, tier, from, to);
                    let w = whole_rollup(&t, p, tier, from, to).unwrap();
                    assert_eq!(
                        format!("{s:?}"),
                        format!("{w:?}"),
                        "tier {tier:?} point {p} {from}..{to}"
                    );
                    if tier == MDB_TIER_DAY && p == c && from == i64::MIN {
                        assert_eq!(w.len(), 70, "days with outage buckets");
                        assert_eq!(w[10].invalid, 1);
                    }
                }
            }
        }
        // Sums: streaming equals whole.
        let pts = [c, g, c];
        for tier in [MDB_TIER_MINUTE, MDB_TIER_HOUR, MDB_TIER_DAY] {
            // SAFETY: live handle, valid arrays and out-pointers; results freed once.
            unsafe {
                let mut h = ptr::null_mut();
                ok(meterdb_db_rollup_sum(
                    t.db,
                    pts.as_ptr(),
                    3,
                    tier as i32,
                    i64::MIN,
                    i64::MAX,
                    &mut h,
                ));
                let whole = read_all(
                    h,
                    meterdb_rollup_sum_count,
                    meterdb_rollup_sum_row_v2,
                    meterdb_rollup_sum_rows_v2,
                );
                meterdb_rollup_sum_free(h);
                let mut r = ptr::null_mut();
                ok(meterdb_db_query_rollup_sum(
                    t.db,
                    pts.as_ptr(),
                    3,
                    tier as i32,
                    i64::MIN,
                    i64::MAX,
                    -1,
                    0,
                    &mut r,
                ));
                let mut streamed = Vec::new();
                while meterdb_result_step(r) == MDB_ROW {
                    let mut row = meterdb_sum_row_v2::default();
                    ok(meterdb_result_sum(r, &mut row));
                    streamed.push(row);
                }
                meterdb_result_free(r);
                assert_eq!(
                    format!("{streamed:?}"),
                    format!("{whole:?}"),
                    "sum tier {tier:?}"
                );
                assert!(!whole.is_empty());
            }
        }
    }
}

#[test]
fn ten_years_of_minutes_and_a_wild_timestamp_stream_in_bounded_memory() {
    let t = TestDb::new();
    let c = counter(&t, "c", 0);
    let ten_years = 3_652 * DAY;
    // SAFETY: live handle.
    unsafe {
        ok(meterdb_db_put_value(t.db, c, T0, 100.0));
        ok(meterdb_db_put_value(t.db, c, T0 + ten_years, 5_360_000.0));
    }
    // The whole result would be 5.26 million rows: refused, not built.
    assert_eq!(
        whole_rollup(&t, c, MDB_TIER_MINUTE, i64::MIN, i64::MAX).unwrap_err(),
        MDB_LIMIT
    );
    assert!(super::abi::last_error().contains("MDB_MAX_RESULT_ROWS"));
    // Streaming with a limit: the first rows, then MDB_LIMIT.
    // SAFETY: live handle, valid out-pointers; the result freed once.
    unsafe {
        let mut r = ptr::null_mut();
        ok(meterdb_db_query_rollup(
            t.db,
            c,
            MDB_TIER_MINUTE as i32,
            i64::MIN,
            i64::MAX,
            3000,
            &mut r,
        ));
        let mut row = meterdb_bucket_row_v2::default();
        fails(
            meterdb_result_bucket(r, &mut row),
            MDB_INVALID_ARGUMENT,
            "meterdb_result_step first",
        );
        let mut n = 0u64;
        let mut cons = 0.0;
        loop {
            match meterdb_result_step(r) {
                MDB_ROW => {
                    ok(meterdb_result_bucket(r, &mut row));
                    cons += row.consumption;
                    n += 1;
                }
                s => {
                    assert_eq!(s, MDB_LIMIT);
                    assert!(super::abi::last_error().contains("more than 3000 rows"));
                    break;
                }
            }
        }
        assert_eq!(n, 3000);
        assert_eq!(row.start, T0 + 2999 * 60_000);
        // Interpolated across the outage: about 1.02 kWh a minute.
        assert!((cons / 3000.0 - (5_360_000.0 - 100.0) / (ten_years / 60_000) as f64).abs() < 1e-6);
        assert_eq!(meterdb_result_step(r), MDB_DONE);
        fails(
            meterdb_result_bucket(r, &mut row),
            MDB_INVALID_ARGUMENT,
            "no current row",
        );
        let mut s = meterdb_sample::default();
        fails(
            meterdb_result_sample(r, &mut s),
            MDB_INVALID_ARGUMENT,
            "not MDB_ROW_SAMPLE",
        );
        meterdb_result_free(r);

        // A wild timestamp: a reading in year 9999 and one in 1000 on a gauge; the minute rollup
        // of everything streams its two rows without walking the empty billions of minutes
        // between them one by one.
        let g = t.define("g");
        ok(meterdb_db_put_value(t.db, g, -30_000_000_000_000, 1.0));
        ok(meterdb_db_put_value(t.db, g, 253_402_000_000_000, 2.0));
        let start = std::time::Instant::now();
        ok(meterdb_db_query_rollup(
            t.db,
            g,
            MDB_TIER_MINUTE as i32,
            i64::MIN,
            i64::MAX,
            10,
            &mut r,
        ));
        let mut rows = Vec::new();
        while meterdb_result_step(r) == MDB_ROW {
            ok(meterdb_result_bucket(r, &mut row));
            rows.push((row.start, row.sum));
        }
        meterdb_result_free(r);
        assert_eq!(
            rows,
            [
                (-30_000_000_000_000, 1.0),
                (253_402_000_000_000 - 253_402_000_000_000 % 60_000, 2.0)
            ]
        );
        assert!(start.elapsed().as_secs() < 30);
        // Raw reads stream too, with a limit.
        ok(meterdb_db_query_range(
            t.db,
            g,
            i64::MIN,
            i64::MAX,
            1,
            &mut r,
        ));
        assert_eq!(meterdb_result_step(r), MDB_ROW);
        ok(meterdb_result_sample(r, &mut s));
        assert_eq!(
            (s.ts, s.value, s.quality),
            (-30_000_000_000_000, 1.0, MDB_QUALITY_VALID)
        );
        fails(meterdb_result_step(r), MDB_LIMIT, "more than 1 rows");
        meterdb_result_free(r);
    }
}

#[test]
fn a_result_outlives_its_database_handle_and_misuse_is_a_status() {
    let t = TestDb::new();
    let g = t.define("g");
    let name = CString::new("up").unwrap();
    // SAFETY: live handles, valid out-pointers; every result freed once; NULLs on purpose.
    unsafe {
        for i in 0..10 {
            ok(meterdb_db_put_value(t.db, g, T0 + i * HOUR, i as f64));
        }
        ok(meterdb_db_upload_cursor_create(t.db, name.as_ptr(), 0, 0));
        let mut ch = ptr::null_mut();
        ok(meterdb_db_query_changes(t.db, name.as_ptr(), 0, &mut ch));
        let mut rows = vec![meterdb_change::default(); 16];
        let mut n = 0;
        fails(
            meterdb_result_fetch(ch, rows.as_mut_ptr().cast(), 8, 16, &mut n),
            MDB_INVALID_ARGUMENT,
            "row_size 8",
        );
        ok(meterdb_result_fetch(
            ch,
            rows.as_mut_ptr().cast(),
            size_of::<meterdb_change>(),
            16,
            &mut n,
        ));
        assert_eq!(n, 10);
        assert_eq!((rows[9].ts, rows[9].value), (T0 + 9 * HOUR, 9.0));
        meterdb_result_free(ch);
        let bad = CString::new("nobody").unwrap();
        fails(
            meterdb_db_query_changes(t.db, bad.as_ptr(), 0, &mut ch),
            MDB_NOT_FOUND,
            "nobody",
        );
        assert!(ch.is_null());
        fails(
            meterdb_db_query_rollup(t.db, 99, MDB_TIER_DAY as i32, 0, 1, 0, &mut ch),
            MDB_NOT_FOUND,
            "99",
        );
        fails(
            meterdb_db_query_rollup(t.db, g, 9, 0, 1, 0, &mut ch),
            MDB_INVALID_ARGUMENT,
            "tier 9",
        );
        fails(
            meterdb_db_query_rollup(t.db, g, 3, 5, 1, 0, &mut ch),
            MDB_INVALID_ARGUMENT,
            "after its end",
        );
        fails(
            meterdb_db_query_range(ptr::null(), g, 0, 1, 0, &mut ch),
            MDB_NULL_ARGUMENT,
            "db",
        );
        fails(
            meterdb_result_step(ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "result",
        );
        assert_eq!(meterdb_result_kind(ptr::null()), 0);
        meterdb_result_free(ptr::null_mut());

        // A rollup result asks the database for each window: after close, MDB_CLOSED.
        let mut r = ptr::null_mut();
        ok(meterdb_db_query_rollup(
            t.db,
            g,
            MDB_TIER_HOUR as i32,
            i64::MIN,
            i64::MAX,
            0,
            &mut r,
        ));
        let mut raw = ptr::null_mut();
        ok(meterdb_db_query_range(
            t.db,
            g,
            i64::MIN,
            i64::MAX,
            0,
            &mut raw,
        ));
        ok(meterdb_db_close(t.db));
        fails(meterdb_result_step(r), MDB_CLOSED, "closed");
        assert_eq!(meterdb_result_step(r), MDB_DONE);
        meterdb_result_free(r);
        // A raw read holds its snapshot.
        let mut k = 0;
        while meterdb_result_step(raw) == MDB_ROW {
            k += 1;
        }
        assert_eq!(k, 10);
        let mut read = 0;
        ok(meterdb_result_rows_read(raw, &mut read));
        assert_eq!(read, 10);
        meterdb_result_free(raw);
    }
}

#[test]
fn the_metadata_builder_quality_default_and_kind_changes() {
    let t = TestDb::new();
    let key = CString::new("m").unwrap();
    let unit = CString::new("kWh").unwrap();
    // SAFETY: live handles, valid strings and out-pointers; builders and infos freed once.
    unsafe {
        let mut m = ptr::null_mut();
        ok(meterdb_point_meta_new(key.as_ptr(), 1, &mut m));
        ok(meterdb_point_meta_set_unit(m, unit.as_ptr()));
        ok(meterdb_point_meta_set_interval_ms(m, 900_000));
        ok(meterdb_point_meta_set_multiplier(m, 40.0));
        ok(meterdb_point_meta_set_precision(m, 2));
        ok(meterdb_point_meta_set_register(
            m,
            meterdb_register::MDB_REGISTER_NET as i32,
        ));
        ok(meterdb_point_meta_set_rollover(m, 1e6));
        ok(meterdb_point_meta_add_tag(
            m,
            c"site".as_ptr(),
            c"north".as_ptr(),
        ));
        ok(meterdb_point_meta_add_coal(m, T0, 0.1229));
        ok(meterdb_point_meta_set_tiers(m, MDB_TIERS_DEFAULT));
        fails(
            meterdb_point_meta_set_interval_ms(m, -5),
            MDB_INVALID_ARGUMENT,
            "negative",
        );
        fails(
            meterdb_point_meta_set_multiplier(m, 0.0),
            MDB_INVALID_ARGUMENT,
            "non-zero",
        );
        fails(
            meterdb_point_meta_set_multiplier(m, f64::NAN),
            MDB_INVALID_ARGUMENT,
            "non-zero",
        );
        fails(
            meterdb_point_meta_set_precision(m, 40),
            MDB_INVALID_ARGUMENT,
            "precision 40",
        );
        fails(
            meterdb_point_meta_set_register(m, 7),
            MDB_INVALID_ARGUMENT,
            "register 7",
        );
        fails(
            meterdb_point_meta_set_unit(ptr::null_mut(), unit.as_ptr()),
            MDB_NULL_ARGUMENT,
            "meta",
        );
        let mut id = u32::MAX;
        ok(meterdb_db_define_point_meta(t.db, m, &mut id));
        let mut info = ptr::null_mut();
        ok(meterdb_db_point_info_v2(t.db, id, &mut info));
        let i = &*info;
        assert_eq!(
            (
                i.base.kind,
                i.base.interval_ms,
                i.base.multiplier,
                i.base.precision
            ),
            (1, 900_000, 40.0, 2)
        );
        assert_eq!((i.rollover, i.n_coal, i.base.n_tags), (1e6, 1, 1));
        meterdb_point_info_v2_free(info);
        let mut reg = -1;
        ok(meterdb_db_point_register(t.db, id, &mut reg));
        assert_eq!(reg, meterdb_register::MDB_REGISTER_NET as i32);
        meterdb_point_meta_free(m);

        // Defined again as a gauge: refused unless asked, by every define function.
        ok(meterdb_point_meta_new(key.as_ptr(), 0, &mut m));
        fails(
            meterdb_point_meta_set_register(m, 1),
            MDB_INVALID_ARGUMENT,
            "only a counter",
        );
        let mut id2 = u32::MAX;
        fails(
            meterdb_db_define_point_meta(t.db, m, &mut id2),
            MDB_ALREADY_EXISTS,
            "is a counter (MDB_KIND_COUNTER)",
        );
        fails(
            meterdb_db_define_point(
                t.db,
                key.as_ptr(),
                0,
                ptr::null(),
                -1,
                ptr::null(),
                0,
                1.0,
                ptr::null(),
                ptr::null(),
                0,
                &mut id2,
            ),
            MDB_ALREADY_EXISTS,
            "meterdb_point_meta_set_allow_kind_change",
        );
        ok(meterdb_point_meta_set_allow_kind_change(m, 1));
        ok(meterdb_db_define_point_meta(t.db, m, &mut id2));
        assert_eq!(id2, id);
        meterdb_point_meta_free(m);
        meterdb_point_meta_free(ptr::null_mut());
        fails(
            meterdb_point_meta_new(key.as_ptr(), 5, &mut m),
            MDB_INVALID_ARGUMENT,
            "point kind 5",
        );
        assert!(m.is_null());

        // A put without quality stores a valid reading.
        ok(meterdb_db_put_value(t.db, id, T0, 5.0));
        let (mut ts, mut v, mut q, mut found) = (0i64, 0f64, 0u8, 0i32);
        ok(meterdb_db_latest(
            t.db, id, &mut ts, &mut v, &mut q, &mut found,
        ));
        assert_eq!((found, ts, v, q), (1, T0, 5.0, MDB_QUALITY_VALID));
        fails(
            meterdb_db_put_value(t.db, id, T0, f64::NAN),
            MDB_INVALID_ARGUMENT,
            "",
        );
    }
}

#[test]
fn an_empty_path_or_a_file_is_refused_creating_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"not a database").unwrap();
    let f = CString::new(file.to_str().unwrap()).unwrap();
    let before: Vec<_> = std::fs::read_dir(".")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // SAFETY: valid strings and out-pointers.
    unsafe {
        let mut db = std::ptr::dangling_mut::<meterdb_db>();
        fails(
            meterdb_db_open(c"".as_ptr(), ptr::null(), &mut db),
            MDB_INVALID_ARGUMENT,
            "path is empty",
        );
        assert!(db.is_null());
        fails(
            meterdb_db_open(f.as_ptr(), ptr::null(), &mut db),
            MDB_INVALID_ARGUMENT,
            "is not a directory",
        );
        assert!(db.is_null());
    }
    let after: Vec<_> = std::fs::read_dir(".")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    for name in ["LOCK", "MANIFEST", "wal"] {
        assert!(!std::path::Path::new(name).exists(), "{name} was created");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"not a database");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
