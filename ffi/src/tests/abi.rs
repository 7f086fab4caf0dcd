//! The C ABI's contract, called the way C calls it: statuses and messages for misuse (NULL,
//! closed handles, bad UTF-8, non-finite values, bad lengths), metadata read-back, listing,
//! statistics, cursors that outlive their database, the per-thread last error, and sharing
//! one handle between threads.

#![allow(unsafe_code)]

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use crate::meterdb_status::*;
use crate::*;

pub(super) fn last_error() -> String {
    // SAFETY: the last error is a valid NUL-terminated string on this thread.
    unsafe { CStr::from_ptr(meterdb_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[track_caller]
pub(super) fn ok(st: meterdb_status) {
    assert_eq!(st, MDB_OK, "{}", last_error());
}

#[track_caller]
pub(super) fn fails(st: meterdb_status, want: meterdb_status, msg_part: &str) {
    assert_eq!(st, want, "{}", last_error());
    let m = last_error();
    assert!(m.contains(msg_part), "message {m:?} lacks {msg_part:?}");
}

pub(super) struct TestDb {
    _dir: tempfile::TempDir,
    pub(super) path: CString,
    pub(super) db: *mut meterdb_db,
}

impl TestDb {
    pub(super) fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = CString::new(dir.path().to_str().unwrap()).unwrap();
        let mut db = ptr::null_mut();
        // SAFETY: valid path and out-pointer; NULL options mean the defaults.
        ok(unsafe { meterdb_db_open(path.as_ptr(), ptr::null(), &mut db) });
        TestDb {
            _dir: dir,
            path,
            db,
        }
    }

    pub(super) fn define(&self, key: &str) -> u32 {
        let k = CString::new(key).unwrap();
        let mut id = 0;
        // SAFETY: live handle, valid strings and out-pointer.
        ok(unsafe {
            meterdb_db_define_point(
                self.db,
                k.as_ptr(),
                0,
                ptr::null(),
                -1,
                ptr::null(),
                0,
                1.0,
                ptr::null(),
                ptr::null(),
                0,
                &mut id,
            )
        });
        id
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // SAFETY: the handle is live (or closed, never freed) until here.
        unsafe { meterdb_db_free(self.db) };
    }
}

#[test]
fn version_and_status_names() {
    // SAFETY: static strings.
    unsafe {
        let v = CStr::from_ptr(meterdb_version()).to_str().unwrap();
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            meterdb_version_number(),
            MDB_VERSION_MAJOR * 1_000_000 + MDB_VERSION_MINOR * 1000 + MDB_VERSION_PATCH
        );
        let name = |s: i32| CStr::from_ptr(meterdb_status_name(s)).to_str().unwrap();
        assert_eq!(name(0), "MDB_OK");
        assert_eq!(name(8), "MDB_CLOSED");
        assert_eq!(name(103), "MDB_PANIC");
        assert_eq!(name(-5), "MDB_UNKNOWN_STATUS");
    }
}

#[test]
fn null_arguments_are_refused_with_a_status() {
    let t = TestDb::new();
    let id = t.define("p");
    let mut n = 0usize;
    let (mut ts, mut v) = (0i64, 0f64);
    // SAFETY: every non-NULL pointer is valid; the NULLs are the point of the test.
    unsafe {
        fails(
            meterdb_db_open(ptr::null(), ptr::null(), &mut ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "path is NULL",
        );
        fails(
            meterdb_db_open(t.path.as_ptr(), ptr::null(), ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_db",
        );
        fails(
            meterdb_db_put(ptr::null(), id, 0, 1.0, 1),
            MDB_NULL_ARGUMENT,
            "db is NULL",
        );
        fails(meterdb_db_flush(ptr::null()), MDB_NULL_ARGUMENT, "db");
        fails(meterdb_db_compact(ptr::null()), MDB_NULL_ARGUMENT, "db");
        fails(meterdb_db_sync(ptr::null()), MDB_NULL_ARGUMENT, "db");
        fails(
            meterdb_db_write(t.db, ptr::null(), ptr::null(), ptr::null(), ptr::null(), 3),
            MDB_NULL_ARGUMENT,
            "points is NULL",
        );
        fails(
            meterdb_db_latest(
                t.db,
                id,
                ptr::null_mut(),
                &mut v,
                ptr::null_mut(),
                ptr::null_mut(),
            ),
            MDB_NULL_ARGUMENT,
            "ts is NULL",
        );
        fails(
            meterdb_db_latest(t.db, id, &mut ts, &mut v, ptr::null_mut(), ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "found is NULL",
        );
        fails(
            meterdb_cursor_next(ptr::null_mut(), &mut ts, &mut v, ptr::null_mut(), 1, &mut n),
            MDB_NULL_ARGUMENT,
            "cursor is NULL",
        );
        fails(
            meterdb_db_point_id(t.db, ptr::null(), &mut 0),
            MDB_NULL_ARGUMENT,
            "key is NULL",
        );
        fails(
            meterdb_options_set_background(ptr::null_mut(), 1),
            MDB_NULL_ARGUMENT,
            "opts",
        );
        // Destructors and close accept NULL.
        ok(meterdb_db_close(ptr::null_mut()));
        meterdb_db_free(ptr::null_mut());
        meterdb_cursor_free(ptr::null_mut());
        meterdb_options_free(ptr::null_mut());
        meterdb_point_info_free(ptr::null_mut());
        meterdb_stats_report_free(ptr::null_mut());
        // n == 0 needs no arrays.
        ok(meterdb_db_write(
            t.db,
            ptr::null(),
            ptr::null(),
            ptr::null(),
            ptr::null(),
            0,
        ));
    }
}

#[test]
fn a_closed_handle_answers_closed() {
    let t = TestDb::new();
    let id = t.define("p");
    // SAFETY: the handle stays allocated until `t` drops.
    unsafe {
        ok(meterdb_db_put(t.db, id, 1_000_000, 1.5, 1));
        let mut cur = ptr::null_mut();
        ok(meterdb_db_range(t.db, id, i64::MIN, i64::MAX, &mut cur));
        ok(meterdb_db_close(t.db));
        fails(meterdb_db_close(t.db), MDB_CLOSED, "closed");
        fails(meterdb_db_put(t.db, id, 1, 1.0, 1), MDB_CLOSED, "closed");
        fails(meterdb_db_flush(t.db), MDB_CLOSED, "closed");
        let mut other = ptr::null_mut();
        fails(
            meterdb_db_range(t.db, id, 0, 1, &mut other),
            MDB_CLOSED,
            "closed",
        );
        assert!(other.is_null());
        // The cursor owns its snapshot: it still reads after the close.
        let (mut ts, mut v, mut n) = ([0i64; 4], [0f64; 4], 0usize);
        ok(meterdb_cursor_next(
            cur,
            ts.as_mut_ptr(),
            v.as_mut_ptr(),
            ptr::null_mut(),
            4,
            &mut n,
        ));
        assert_eq!((n, ts[0], v[0]), (1, 1_000_000, 1.5));
        meterdb_cursor_free(cur);
        // The directory's lock was released: it opens again.
        let mut again = ptr::null_mut();
        ok(meterdb_db_open(t.path.as_ptr(), ptr::null(), &mut again));
        let mut other = ptr::null_mut();
        fails(
            meterdb_db_open(t.path.as_ptr(), ptr::null(), &mut other),
            MDB_LOCKED,
            "locked",
        );
        assert!(other.is_null());
        meterdb_db_free(again);
    }
}

#[test]
fn bad_strings_values_and_lengths() {
    let t = TestDb::new();
    let id = t.define("p");
    let bad_utf8 = b"caf\xe9\0";
    let long = CString::new("k".repeat(256)).unwrap();
    let mut out_id = 0u32;
    // SAFETY: valid pointers throughout; strings NUL-terminated.
    unsafe {
        let define = |key: *const c_char, kind: i32, precision: i32, mult: f64| {
            let mut i = 0;
            meterdb_db_define_point(
                t.db,
                key,
                kind,
                ptr::null(),
                precision,
                ptr::null(),
                0,
                mult,
                ptr::null(),
                ptr::null(),
                0,
                &mut i,
            )
        };
        fails(
            define(bad_utf8.as_ptr().cast(), 0, -1, 1.0),
            MDB_INVALID_UTF8,
            "key is not valid UTF-8",
        );
        fails(
            define(c"".as_ptr(), 0, -1, 1.0),
            MDB_INVALID_ARGUMENT,
            "empty",
        );
        fails(
            define(long.as_ptr(), 0, -1, 1.0),
            MDB_INVALID_ARGUMENT,
            "longer than 255",
        );
        fails(
            define(c"a\tb".as_ptr(), 0, -1, 1.0),
            MDB_INVALID_ARGUMENT,
            "control",
        );
        fails(
            define(c"x".as_ptr(), 7, -1, 1.0),
            MDB_INVALID_ARGUMENT,
            "kind 7",
        );
        fails(
            define(c"x".as_ptr(), 0, -2, 1.0),
            MDB_INVALID_ARGUMENT,
            "precision -2",
        );
        fails(
            define(c"x".as_ptr(), 0, 19, 1.0),
            MDB_INVALID_ARGUMENT,
            "precision 19",
        );
        fails(
            define(c"x".as_ptr(), 0, -1, f64::NAN),
            MDB_INVALID_ARGUMENT,
            "multiplier",
        );
        fails(
            meterdb_db_point_id(t.db, bad_utf8.as_ptr().cast(), &mut out_id),
            MDB_INVALID_UTF8,
            "UTF-8",
        );
        fails(
            meterdb_db_point_id(t.db, c"nope".as_ptr(), &mut out_id),
            MDB_NOT_FOUND,
            "nope",
        );

        fails(
            meterdb_db_put(t.db, id, 0, f64::NAN, 1),
            MDB_INVALID_ARGUMENT,
            "not finite",
        );
        fails(
            meterdb_db_put(t.db, id, 0, f64::INFINITY, 1),
            MDB_INVALID_ARGUMENT,
            "not finite",
        );
        fails(
            meterdb_db_put(t.db, id, i64::MAX, 1.0, 1),
            MDB_INVALID_ARGUMENT,
            "outside",
        );
        fails(meterdb_db_put(t.db, 99, 0, 1.0, 1), MDB_NOT_FOUND, "99");
        // A batch with one bad sample writes nothing.
        let (p, ts, v) = ([id, id], [1i64, 2], [1.0, f64::NEG_INFINITY]);
        fails(
            meterdb_db_write(t.db, p.as_ptr(), ts.as_ptr(), v.as_ptr(), ptr::null(), 2),
            MDB_INVALID_ARGUMENT,
            "sample 1",
        );
        let (mut lt, mut lv, mut found) = (0i64, 0f64, 9i32);
        ok(meterdb_db_latest(
            t.db,
            id,
            &mut lt,
            &mut lv,
            ptr::null_mut(),
            &mut found,
        ));
        assert_eq!(found, 0);
        fails(
            meterdb_db_delete_range(t.db, id, 5, 5),
            MDB_INVALID_ARGUMENT,
            "empty",
        );

        let mut cur = ptr::null_mut();
        ok(meterdb_db_range(t.db, id, 0, 10, &mut cur));
        let mut n = 7usize;
        fails(
            meterdb_cursor_next(cur, &mut lt, &mut lv, ptr::null_mut(), 0, &mut n),
            MDB_INVALID_ARGUMENT,
            "cap is 0",
        );
        assert_eq!(n, 0);
        ok(meterdb_cursor_next(
            cur,
            &mut lt,
            &mut lv,
            ptr::null_mut(),
            1,
            &mut n,
        ));
        assert_eq!(n, 0);
        meterdb_cursor_free(cur);

        let mut opts = ptr::null_mut();
        ok(meterdb_options_new(&mut opts));
        fails(
            meterdb_options_set_durability(opts, 3),
            MDB_INVALID_ARGUMENT,
            "durability mode 3",
        );
        fails(
            meterdb_options_set_sync_interval_ms(opts, 0),
            MDB_INVALID_ARGUMENT,
            "0 ms",
        );
        ok(meterdb_options_set_memtable_bytes(opts, 10));
        let dir = tempfile::tempdir().unwrap();
        let p = CString::new(dir.path().to_str().unwrap()).unwrap();
        let mut db = ptr::null_mut();
        fails(
            meterdb_db_open(p.as_ptr(), opts, &mut db),
            MDB_INVALID_ARGUMENT,
            "memtable_bytes",
        );
        assert!(db.is_null());
        meterdb_options_free(opts);
    }
}

#[test]
fn metadata_round_trips_and_points_are_listed() {
    let t = TestDb::new();
    let keys = [
        c"ent-1/kwh".as_ptr(),
        c"ent-1/kw".as_ptr(),
        c"ent-2/kwh".as_ptr(),
    ];
    let tag_k = [c"site".as_ptr(), c"cabinet".as_ptr()];
    let tag_v = [c"north".as_ptr(), c"A3".as_ptr()];
    // SAFETY: valid pointers; the info and the arrays outlive their use.
    unsafe {
        let mut ids = [0u32; 3];
        for (i, k) in keys.iter().enumerate() {
            ok(meterdb_db_define_point(
                t.db,
                *k,
                if i == 1 { 0 } else { 1 },
                c"kWh".as_ptr(),
                2,
                c"0100".as_ptr(),
                900_000,
                1.5,
                tag_k.as_ptr(),
                tag_v.as_ptr(),
                2,
                &mut ids[i],
            ));
        }
        assert_eq!(ids, [0, 1, 2]);
        let mut info = ptr::null_mut();
        ok(meterdb_db_point_info(t.db, 0, &mut info));
        let i = &*info;
        let s = |p: *const c_char| CStr::from_ptr(p).to_str().unwrap().to_string();
        assert_eq!((i.id, i.kind, s(i.key)), (0, 1, "ent-1/kwh".to_string()));
        assert_eq!((s(i.unit), s(i.energy_type)), ("kWh".into(), "0100".into()));
        assert_eq!(
            (i.precision, i.interval_ms, i.multiplier),
            (2, 900_000, 1.5)
        );
        assert_eq!(i.n_tags, 2);
        // Tags come back in byte order of their names.
        assert_eq!(s(*i.tag_keys), "cabinet");
        assert_eq!(s(*i.tag_values), "A3");
        assert_eq!(s(*i.tag_keys.add(1)), "site");
        meterdb_point_info_free(info);
        // A point without tags, unit or precision (a regression: this panicked once).
        let t2 = TestDb::new();
        let bare = t2.define("bare");
        let mut info = ptr::null_mut();
        ok(meterdb_db_point_info(t2.db, bare, &mut info));
        let i = &*info;
        assert_eq!((i.n_tags, i.precision, i.interval_ms), (0, -1, 0));
        assert!(i.tag_keys.is_null() && i.tag_values.is_null());
        assert_eq!((s(i.key), s(i.unit)), ("bare".to_string(), String::new()));
        meterdb_point_info_free(info);
        let mut info = ptr::dangling_mut::<meterdb_point_info>();
        fails(
            meterdb_db_point_info(t.db, 3, &mut info),
            MDB_NOT_FOUND,
            "3",
        );
        assert!(info.is_null());

        let mut out = [0u32; 3];
        let mut n = 0;
        ok(meterdb_db_list_points(
            t.db,
            c"ent-1/".as_ptr(),
            -1,
            ptr::null(),
            out.as_mut_ptr(),
            3,
            &mut n,
        ));
        assert_eq!(&out[..n], &[0, 1]);
        ok(meterdb_db_list_points(
            t.db,
            ptr::null(),
            1,
            c"0100".as_ptr(),
            out.as_mut_ptr(),
            3,
            &mut n,
        ));
        assert_eq!(&out[..n], &[0, 2]);
        fails(
            meterdb_db_list_points(
                t.db,
                ptr::null(),
                -1,
                ptr::null(),
                out.as_mut_ptr(),
                1,
                &mut n,
            ),
            MDB_BUFFER_TOO_SMALL,
            "3 points match",
        );
        assert_eq!((n, out[0]), (3, 0));
        // Asking for the count only: MDB_OK (the count-query convention).
        n = 0;
        ok(meterdb_db_list_points(
            t.db,
            ptr::null(),
            -1,
            ptr::null(),
            ptr::null_mut(),
            0,
            &mut n,
        ));
        assert_eq!(n, 3);
        fails(
            meterdb_db_list_points(
                t.db,
                ptr::null(),
                5,
                ptr::null(),
                out.as_mut_ptr(),
                3,
                &mut n,
            ),
            MDB_INVALID_ARGUMENT,
            "kind 5",
        );
    }
}

#[test]
fn stats_report_and_verify() {
    let t = TestDb::new();
    let a = t.define("a");
    let b = t.define("b");
    // SAFETY: valid pointers; the report outlives the strings read from it.
    unsafe {
        let ts: Vec<i64> = (0..500).map(|i| 1_700_000_000_000 + i * 60_000).collect();
        let vs: Vec<f64> = (0..500).map(|i| i as f64 * 0.5).collect();
        ok(meterdb_db_write_point(
            t.db,
            a,
            ts.as_ptr(),
            vs.as_ptr(),
            ptr::null(),
            500,
        ));
        ok(meterdb_db_write_point(
            t.db,
            b,
            ts.as_ptr(),
            vs.as_ptr(),
            ptr::null(),
            100,
        ));
        ok(meterdb_db_delete_range(t.db, b, ts[0], ts[10]));
        ok(meterdb_db_flush(t.db));
        ok(meterdb_db_compact(t.db));
        let mut st = meterdb_stats::default();
        ok(meterdb_db_stats(t.db, &mut st));
        assert_eq!(
            (st.points, st.segment_samples, st.memtable_samples),
            (2, 590, 0)
        );
        let mut rep = ptr::null_mut();
        ok(meterdb_db_stats_report(t.db, &mut rep));
        let mut tot = meterdb_stats::default();
        ok(meterdb_stats_report_totals(rep, &mut tot));
        assert_eq!(tot, st);
        let mut n = 0;
        ok(meterdb_stats_report_point_count(rep, &mut n));
        assert_eq!(n, 2);
        let mut ps = std::mem::zeroed::<meterdb_point_stats>();
        ok(meterdb_stats_report_point(rep, 1, &mut ps));
        assert_eq!((ps.id, ps.samples), (b, 90));
        assert_eq!(CStr::from_ptr(ps.key).to_str().unwrap(), "b");
        assert!(!CStr::from_ptr(ps.value_codecs).to_bytes().is_empty());
        fails(
            meterdb_stats_report_point(rep, 2, &mut ps),
            MDB_INVALID_ARGUMENT,
            "index 2",
        );
        // The report outlives the database.
        ok(meterdb_db_close(t.db));
        ok(meterdb_stats_report_point(rep, 0, &mut ps));
        assert_eq!(CStr::from_ptr(ps.key).to_str().unwrap(), "a");
        meterdb_stats_report_free(rep);
        fails(meterdb_db_stats(t.db, &mut st), MDB_CLOSED, "closed");
        let mut problems = 1;
        fails(
            meterdb_db_verify(t.db, &mut problems, ptr::null_mut(), 0, ptr::null_mut()),
            MDB_CLOSED,
            "closed",
        );
    }
}

#[test]
fn last_error_is_per_thread_and_copyable() {
    let t = TestDb::new();
    // SAFETY: valid pointers; the buffer holds 8 bytes.
    unsafe {
        fails(meterdb_db_put(t.db, 42, 0, 1.0, 1), MDB_NOT_FOUND, "42");
        let main_msg = last_error();
        let addr = t.db as usize;
        std::thread::scope(|s| {
            s.spawn(move || {
                assert_eq!(last_error(), "");
                let db = addr as *const meterdb_db;
                fails(meterdb_db_put(db, 0, 0, f64::NAN, 1), MDB_NOT_FOUND, "0");
            });
        });
        assert_eq!(last_error(), main_msg);
        let mut buf = [0 as c_char; 8];
        let n = meterdb_last_error_copy(buf.as_mut_ptr(), buf.len());
        assert_eq!(n, main_msg.len());
        assert_eq!(
            CStr::from_ptr(buf.as_ptr()).to_str().unwrap(),
            &main_msg[..7]
        );
        assert_eq!(meterdb_last_error_copy(ptr::null_mut(), 0), main_msg.len());
        // A success clears it.
        ok(meterdb_db_sync(t.db));
        assert_eq!(last_error(), "");
    }
}

#[test]
fn one_handle_is_shared_between_threads_and_closed_while_they_write() {
    let t = TestDb::new();
    let ids: Vec<u32> = (0..4).map(|i| t.define(&format!("p{i}"))).collect();
    let db = t.db as usize;
    std::thread::scope(|s| {
        for &id in &ids {
            s.spawn(move || {
                let db = db as *const meterdb_db;
                let ts: Vec<i64> = (0..100).map(|i| 1_700_000_000_000 + i).collect();
                let vs = vec![1.0; 100];
                for round in 0..200i64 {
                    let shifted: Vec<i64> = ts.iter().map(|t| t + round * 100).collect();
                    // SAFETY: the handle stays allocated until `t` drops after the scope.
                    let st = unsafe {
                        meterdb_db_write_point(
                            db,
                            id,
                            shifted.as_ptr(),
                            vs.as_ptr(),
                            ptr::null(),
                            100,
                        )
                    };
                    if st == MDB_CLOSED {
                        return round;
                    }
                    assert_eq!(st, MDB_OK, "{}", last_error());
                }
                200
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        // SAFETY: the handle is live; close waits for calls in flight.
        ok(unsafe { meterdb_db_close(t.db) });
    });
}
