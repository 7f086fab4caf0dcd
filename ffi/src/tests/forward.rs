//! Store-and-forward and export through the C ABI: upload cursors (read, ack, reopen and
//! resume, rewind, start positions, buckets), the upload log, backup, bundles (round trip,
//! damaged bundle refused with nothing applied, idempotent import), retention, Parquet export
//! (or `MDB_UNSUPPORTED` without the feature), and the misuse of every new function.

#![allow(unsafe_code)]

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use super::abi::{fails, last_error, ok, TestDb};
use super::rollup::{null_handle_refused, read_all};
use crate::meterdb_change_kind::*;
use crate::meterdb_cursor_start::*;
use crate::meterdb_status::*;
use crate::meterdb_upload_outcome::*;
use crate::*;

/// Midnight of 2024-01-01 in +08:00, the database's default zone.
const T0: i64 = 1_704_038_400_000;
const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn open(path: &CStr, opts: *const meterdb_options) -> *mut meterdb_db {
    let mut db = ptr::null_mut();
    // SAFETY: valid path, options NULL or live, valid out-pointer.
    ok(unsafe { meterdb_db_open(path.as_ptr(), opts, &mut db) });
    db
}

fn put(db: *const meterdb_db, point: u32, ts: i64, v: f64) {
    // SAFETY: live handle.
    ok(unsafe { meterdb_db_put(db, point, ts, v, MDB_QUALITY_VALID) });
}

/// Every sample of a point: (ts, value, quality).
fn samples(db: *const meterdb_db, point: u32) -> Vec<(i64, f64, u8)> {
    let mut c = ptr::null_mut();
    // SAFETY: live handle; valid out-pointers and arrays of 64.
    unsafe {
        ok(meterdb_db_range(db, point, i64::MIN, i64::MAX, &mut c));
        let mut out = Vec::new();
        let (mut ts, mut v, mut q) = ([0i64; 64], [0f64; 64], [0u8; 64]);
        loop {
            let mut n = 0;
            ok(meterdb_cursor_next(
                c,
                ts.as_mut_ptr(),
                v.as_mut_ptr(),
                q.as_mut_ptr(),
                64,
                &mut n,
            ));
            if n == 0 {
                break;
            }
            out.extend((0..n).map(|i| (ts[i], v[i], q[i])));
        }
        meterdb_cursor_free(c);
        out
    }
}

/// Reads up to `max` changes of cursor `name`.
fn read(db: *const meterdb_db, name: &str, max: usize) -> Vec<meterdb_change> {
    let n = cstr(name);
    let mut h = ptr::null_mut();
    // SAFETY: live handle, valid string and out-pointers; `rows` has room for `count`.
    unsafe {
        ok(meterdb_db_upload_cursor_read(db, n.as_ptr(), max, &mut h));
        let rows = read_all(
            h,
            meterdb_changes_count,
            meterdb_changes_row,
            meterdb_changes_rows,
        );
        meterdb_changes_free(h);
        rows
    }
}

fn ack(db: *const meterdb_db, name: &str, id: u64) -> meterdb_status {
    let n = cstr(name);
    // SAFETY: live handle, valid string.
    unsafe { meterdb_db_upload_cursor_ack(db, n.as_ptr(), id) }
}

fn create(db: *const meterdb_db, name: &str, start: i32, from_id: u64) -> meterdb_status {
    let n = cstr(name);
    // SAFETY: live handle, valid string.
    unsafe { meterdb_db_upload_cursor_create(db, n.as_ptr(), start, from_id) }
}

struct CursorRow {
    name: String,
    acked: u64,
    read: u64,
    pending: u64,
}

fn list(db: *const meterdb_db) -> Vec<CursorRow> {
    let mut h = ptr::null_mut();
    // SAFETY: live handle and list, valid out-pointers; names live until the list is freed.
    unsafe {
        ok(meterdb_db_upload_cursor_list(db, &mut h));
        let mut n = 0;
        ok(meterdb_upload_cursor_list_count(h, &mut n));
        let mut out = Vec::new();
        for i in 0..n {
            let mut info = std::mem::zeroed::<meterdb_upload_cursor_info>();
            ok(meterdb_upload_cursor_list_row(h, i, &mut info));
            out.push(CursorRow {
                name: CStr::from_ptr(info.name).to_str().unwrap().to_string(),
                acked: info.acked,
                read: info.read,
                pending: info.pending_records,
            });
        }
        let mut info = std::mem::zeroed::<meterdb_upload_cursor_info>();
        fails(
            meterdb_upload_cursor_list_row(h, n, &mut info),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        meterdb_upload_cursor_list_free(h);
        out
    }
}

#[test]
fn a_cursor_reads_acks_and_resumes_after_a_reopen() {
    let t = TestDb::new();
    let p = t.define("plant/kwh");
    let q = t.define("plant/kw");
    ok(create(t.db, "province", MDB_CURSOR_OLDEST as i32, 0));
    let mut written = Vec::new();
    for i in 0..10 {
        put(t.db, p, T0 + i * MIN, 100.0 + i as f64);
        written.push((p, T0 + i * MIN, 100.0 + i as f64));
    }
    // A correction of a sample already written is a change too, and so is a delete.
    put(t.db, p, T0, 99.5);
    written.push((p, T0, 99.5));
    put(t.db, q, T0, 7.0);
    written.push((q, T0, 7.0));
    // SAFETY: live handle.
    ok(unsafe { meterdb_db_delete_range(t.db, q, T0 + MIN, T0 + 2 * MIN) });

    // Read in batches of 4; acknowledge the first 8 changes only.
    let mut got = Vec::new();
    loop {
        let v = read(t.db, "province", 4);
        assert!(v.len() <= 4);
        if v.is_empty() {
            break;
        }
        got.extend(v);
    }
    assert_eq!(got.len(), written.len() + 1);
    for (c, w) in got.iter().zip(&written) {
        assert_eq!(
            (c.point, c.ts, c.value, c.kind),
            (w.0, w.1, w.2, MDB_CHANGE_PUT as u8)
        );
        assert_eq!(c.quality, MDB_QUALITY_VALID);
    }
    let del = got.last().unwrap();
    assert_eq!(del.kind, MDB_CHANGE_DELETE as u8);
    assert_eq!(
        (del.point, del.ts, del.delete_to),
        (q, T0 + MIN, T0 + 2 * MIN)
    );
    assert!(got.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    ok(ack(t.db, "province", got[7].id));
    // Stale: below the acknowledged position; not read yet: beyond the read position.
    fails(
        ack(t.db, "province", got[3].id),
        MDB_INVALID_ARGUMENT,
        "below",
    );
    fails(
        ack(t.db, "province", del.id + (1 << 30)),
        MDB_INVALID_ARGUMENT,
        "has not been read",
    );
    // Acknowledging the same id again is a no-op.
    ok(ack(t.db, "province", got[7].id));
    let l = list(t.db);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].name, "province");
    assert_eq!(l[0].acked, got[7].id + 1);
    assert!(l[0].read > got.last().unwrap().id);
    assert!(l[0].pending > 0);

    // Reopen: the cursor resumes right after its acknowledgement, with the same ids.
    // SAFETY: live handle, closed once.
    ok(unsafe { meterdb_db_close(t.db) });
    let db2 = open(&t.path, ptr::null());
    let again = read(db2, "province", 1000);
    assert_eq!(again, got[8..].to_vec());
    ok(ack(db2, "province", again.last().unwrap().id));
    assert!(read(db2, "province", 1000).is_empty());

    // Rewind: what was read and not acknowledged comes again.
    put(db2, p, T0 + 100 * MIN, 1.0);
    let a = read(db2, "province", 10);
    assert_eq!(a.len(), 1);
    let n = cstr("province");
    // SAFETY: live handle, valid string.
    ok(unsafe { meterdb_db_upload_cursor_rewind(db2, n.as_ptr()) });
    assert_eq!(read(db2, "province", 10), a);
    // SAFETY: live handle, freed once.
    unsafe { meterdb_db_free(db2) };
}

#[test]
fn cursors_start_oldest_now_or_at_an_id_and_can_be_dropped() {
    let t = TestDb::new();
    let p = t.define("m");
    ok(create(t.db, "all", MDB_CURSOR_OLDEST as i32, 0));
    for i in 0..6 {
        put(t.db, p, T0 + i * MIN, i as f64);
    }
    let all = read(t.db, "all", 100);
    assert_eq!(all.len(), 6);
    ok(create(t.db, "now", MDB_CURSOR_NOW as i32, 0));
    assert!(read(t.db, "now", 100).is_empty());
    ok(create(t.db, "from", MDB_CURSOR_FROM_ID as i32, all[3].id));
    assert_eq!(read(t.db, "from", 100), all[3..].to_vec());
    ok(create(t.db, "from0", MDB_CURSOR_FROM_ID as i32, 0));
    assert_eq!(read(t.db, "from0", 100), all);
    put(t.db, p, T0 + 10 * MIN, 10.0);
    let now = read(t.db, "now", 100);
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].ts, T0 + 10 * MIN);
    // An id beyond the next change is refused, and leaves no cursor behind.
    fails(
        create(
            t.db,
            "future",
            MDB_CURSOR_FROM_ID as i32,
            now[0].id + (5 << 22),
        ),
        MDB_INVALID_ARGUMENT,
        "has not been written yet",
    );
    let names: Vec<String> = list(t.db).into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["all", "from", "from0", "now"]);

    fails(create(t.db, "all", 0, 0), MDB_ALREADY_EXISTS, "exists");
    fails(create(t.db, "bad name!", 0, 0), MDB_INVALID_ARGUMENT, "");
    fails(
        create(t.db, "x", 7, 0),
        MDB_INVALID_ARGUMENT,
        "MDB_CURSOR_OLDEST",
    );
    let n = cstr("from0");
    // SAFETY: live handle, valid strings.
    unsafe {
        ok(meterdb_db_upload_cursor_drop(t.db, n.as_ptr()));
        fails(
            meterdb_db_upload_cursor_drop(t.db, n.as_ptr()),
            MDB_NOT_FOUND,
            "from0",
        );
    }
    assert_eq!(list(t.db).len(), 3);
}

#[test]
fn a_cursor_reads_and_acknowledges_closed_day_buckets() {
    let t = TestDb::new();
    let a = t.define("a");
    let b = t.define("b");
    ok(create(t.db, "daily", MDB_CURSOR_OLDEST as i32, 0));
    for d in 0..3 {
        for h in 0..24 {
            put(t.db, a, T0 + d * DAY + h * 3_600_000, 1.0);
            put(t.db, b, T0 + d * DAY + h * 3_600_000, 2.0);
        }
    }
    let name = cstr("daily");
    let day = meterdb_tier::MDB_TIER_DAY as i32;
    let read_buckets = |max: usize, wm: Option<i64>| -> Vec<meterdb_bucket_change> {
        let mut h = ptr::null_mut();
        // SAFETY: live handle, valid string and out-pointers.
        unsafe {
            ok(meterdb_db_upload_cursor_read_buckets(
                t.db,
                name.as_ptr(),
                day,
                max,
                i32::from(wm.is_some()),
                wm.unwrap_or(0),
                &mut h,
            ));
            let rows = read_all(
                h,
                meterdb_bucket_changes_count,
                meterdb_bucket_changes_row,
                meterdb_bucket_changes_rows,
            );
            meterdb_bucket_changes_free(h);
            rows
        }
    };
    // Days 0 and 1 are closed (the newest sample is on day 2): 2 days x 2 points.
    let first = read_buckets(3, None);
    assert_eq!(first.len(), 3);
    assert_eq!((first[0].point, first[0].row.start), (a, T0));
    assert_eq!((first[1].point, first[1].row.start), (b, T0));
    assert_eq!((first[2].point, first[2].row.start), (a, T0 + DAY));
    assert_eq!(first[0].row.count, 24);
    assert_eq!(first[1].row.sum, 48.0);
    // SAFETY: live handle, valid string.
    unsafe {
        ok(meterdb_db_upload_cursor_ack_buckets(
            t.db,
            name.as_ptr(),
            day,
            first[2].row.start,
            first[2].point,
        ));
        fails(
            meterdb_db_upload_cursor_ack_buckets(t.db, name.as_ptr(), day, T0 + 9 * DAY, a),
            MDB_INVALID_ARGUMENT,
            "has not been read",
        );
        fails(
            meterdb_db_upload_cursor_ack_buckets(t.db, name.as_ptr(), 9, T0, a),
            MDB_INVALID_ARGUMENT,
            "tier 9",
        );
    }
    let rest = read_buckets(100, None);
    assert_eq!(rest.len(), 1);
    assert_eq!((rest[0].point, rest[0].row.start), (b, T0 + DAY));
    // With a watermark past day 2, day 2 closes too.
    let more = read_buckets(100, Some(T0 + 3 * DAY));
    assert_eq!(more.len(), 2);
    // The acknowledged position is in the list.
    let mut h = ptr::null_mut();
    // SAFETY: live handle and list, valid out-pointers.
    unsafe {
        ok(meterdb_db_upload_cursor_list(t.db, &mut h));
        let (mut start, mut point, mut found) = (0i64, 0u32, -1i32);
        ok(meterdb_upload_cursor_list_bucket_position(
            h, 0, day, &mut start, &mut point, &mut found,
        ));
        assert_eq!((found, start, point), (1, T0 + DAY, a + 1));
        ok(meterdb_upload_cursor_list_bucket_position(
            h,
            0,
            meterdb_tier::MDB_TIER_MONTH as i32,
            &mut start,
            &mut point,
            &mut found,
        ));
        assert_eq!(found, 0);
        fails(
            meterdb_upload_cursor_list_bucket_position(
                h, 1, day, &mut start, &mut point, &mut found,
            ),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        meterdb_upload_cursor_list_free(h);
    }
}

/// Records of the upload log: (cursor, message, first, last, samples, platform time, at, ok).
type Rec = (String, String, u64, u64, u64, Option<i64>, i64, bool);

fn records(db: *const meterdb_db, from: i64, to: i64, outcome: i32) -> Vec<Rec> {
    let mut h = ptr::null_mut();
    // SAFETY: live handle and result, valid out-pointers; strings live until the free.
    unsafe {
        ok(meterdb_db_upload_records(db, from, to, outcome, &mut h));
        let mut n = 0;
        ok(meterdb_upload_records_count(h, &mut n));
        let mut out = Vec::new();
        for i in 0..n {
            let mut r = std::mem::zeroed::<meterdb_upload_record>();
            ok(meterdb_upload_records_row(h, i, &mut r));
            out.push((
                CStr::from_ptr(r.cursor).to_str().unwrap().to_string(),
                CStr::from_ptr(r.message).to_str().unwrap().to_string(),
                r.first_id,
                r.last_id,
                r.samples,
                (r.has_platform_time == 1).then_some(r.platform_time),
                r.at,
                r.outcome == MDB_UPLOAD_OK as i32,
            ));
        }
        meterdb_upload_records_free(h);
        out
    }
}

#[test]
fn upload_attempts_are_recorded_and_queried_by_time_and_outcome() {
    let t = TestDb::new();
    let c = cstr("province");
    let msg = cstr("HTTP 503 from the platform");
    // SAFETY: live handle, valid strings.
    unsafe {
        // The engine would record an attempt of a cursor it does not have; the ABI refuses it.
        fails(
            meterdb_db_record_upload(t.db, c.as_ptr(), 1, 9, 9, 0, ptr::null(), 0, 0, T0),
            MDB_NOT_FOUND,
            "no upload cursor is named \"province\"",
        );
        ok(create(t.db, "province", MDB_CURSOR_NOW as i32, 0));
        ok(meterdb_db_record_upload(
            t.db,
            c.as_ptr(),
            1,
            9,
            9,
            1,
            msg.as_ptr(),
            0,
            0,
            T0,
        ));
        ok(meterdb_db_record_upload(
            t.db,
            c.as_ptr(),
            1,
            9,
            9,
            0,
            ptr::null(),
            1,
            T0 + 5,
            T0 + MIN,
        ));
        fails(
            meterdb_db_record_upload(t.db, c.as_ptr(), 1, 9, 9, 1, ptr::null(), 0, 0, T0),
            MDB_NULL_ARGUMENT,
            "message",
        );
        fails(
            meterdb_db_record_upload(t.db, c.as_ptr(), 1, 9, 9, 4, ptr::null(), 0, 0, T0),
            MDB_INVALID_ARGUMENT,
            "outcome 4",
        );
    }
    let all = records(t.db, i64::MIN, i64::MAX, MDB_UPLOADS_ALL as i32);
    assert_eq!(
        all,
        vec![
            (
                "province".into(),
                "HTTP 503 from the platform".into(),
                1,
                9,
                9,
                None,
                T0,
                false
            ),
            (
                "province".into(),
                "".into(),
                1,
                9,
                9,
                Some(T0 + 5),
                T0 + MIN,
                true
            ),
        ]
    );
    assert_eq!(
        records(t.db, i64::MIN, i64::MAX, MDB_UPLOAD_FAILED as i32),
        all[..1]
    );
    assert_eq!(
        records(t.db, i64::MIN, i64::MAX, MDB_UPLOAD_OK as i32),
        all[1..]
    );
    assert_eq!(records(t.db, T0 + 1, i64::MAX, -1), all[1..]);
    assert!(records(t.db, T0 + 2 * MIN, i64::MAX, -1).is_empty());
    let mut h = ptr::null_mut();
    // SAFETY: live handle, valid out-pointer.
    unsafe {
        fails(
            meterdb_db_upload_records(t.db, 0, 0, 3, &mut h),
            MDB_INVALID_ARGUMENT,
            "outcome 3",
        );
        assert!(h.is_null());
        fails(
            meterdb_db_upload_records(t.db, 5, 4, -1, &mut h),
            MDB_INVALID_ARGUMENT,
            "after its end",
        );
        let mut r = std::mem::zeroed::<meterdb_upload_record>();
        ok(meterdb_db_upload_records(t.db, 0, 1, -1, &mut h));
        fails(
            meterdb_upload_records_row(h, 0, &mut r),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        meterdb_upload_records_free(h);
    }
}

#[test]
fn a_backup_opens_as_a_database_with_its_cursors() {
    let t = TestDb::new();
    let p = t.define("m");
    ok(create(t.db, "c", 0, 0));
    for i in 0..50 {
        put(t.db, p, T0 + i * MIN, i as f64);
    }
    // SAFETY: live handle.
    ok(unsafe { meterdb_db_flush(t.db) });
    for i in 50..60 {
        put(t.db, p, T0 + i * MIN, i as f64);
    }
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("copy");
    let to_c = cstr(to.to_str().unwrap());
    let mut rep = meterdb_backup_report::default();
    // SAFETY: live handle, valid string and out-pointer.
    unsafe {
        ok(meterdb_db_backup(t.db, to_c.as_ptr(), &mut rep));
        assert!(rep.linked_files + rep.copied_files > 0, "{rep:?}");
        assert!(rep.wal_seq > 0);
        // Into a directory that holds a database already: refused.
        assert_ne!(
            meterdb_db_backup(t.db, to_c.as_ptr(), ptr::null_mut()),
            MDB_OK
        );
    }
    let copy = open(&to_c, ptr::null());
    assert_eq!(samples(copy, p), samples(t.db, p));
    assert_eq!(samples(copy, p).len(), 60);
    assert_eq!(list(copy).len(), 1);
    assert_eq!(read(copy, "c", 1000).len(), 60);
    // SAFETY: live handle, freed once.
    unsafe { meterdb_db_free(copy) };
}

struct Bundle {
    totals: meterdb_bundle_totals,
    points: Vec<(String, u64, u64, i64, i64)>,
}

/// Reads a bundle report and frees it.
fn bundle(rep: *mut meterdb_bundle_report) -> Bundle {
    // SAFETY: a live report; strings live until it is freed.
    unsafe {
        let mut totals = meterdb_bundle_totals::default();
        ok(meterdb_bundle_report_totals(rep, &mut totals));
        let mut points = Vec::new();
        for i in 0..totals.points as usize {
            let mut p = std::mem::zeroed::<meterdb_bundle_point>();
            ok(meterdb_bundle_report_point(rep, i, &mut p));
            points.push((
                CStr::from_ptr(p.key).to_str().unwrap().to_string(),
                p.samples,
                p.deletes,
                p.min_ts,
                p.max_ts,
            ));
        }
        let mut p = std::mem::zeroed::<meterdb_bundle_point>();
        fails(
            meterdb_bundle_report_point(rep, totals.points as usize, &mut p),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        meterdb_bundle_report_free(rep);
        Bundle { totals, points }
    }
}

fn point_id(db: *const meterdb_db, key: &str) -> Option<u32> {
    let k = cstr(key);
    let mut id = 0;
    // SAFETY: live handle, valid string and out-pointer.
    match unsafe { meterdb_db_point_id(db, k.as_ptr(), &mut id) } {
        MDB_OK => Some(id),
        _ => None,
    }
}

#[test]
fn bundles_round_trip_and_a_damaged_one_is_refused_with_nothing_applied() {
    let src = TestDb::new();
    let a = src.define("plant/a");
    let b = src.define("plant/b");
    for i in 0..100 {
        put(src.db, a, T0 + i * MIN, i as f64);
        put(src.db, b, T0 + i * MIN, 2.0 * i as f64);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("range.mdbb");
    let path_c = cstr(path.to_str().unwrap());
    let mut rep = ptr::null_mut();
    // SAFETY: live handle, valid string, one-point array, valid out-pointer.
    let r = unsafe {
        ok(meterdb_db_export_bundle(
            src.db,
            path_c.as_ptr(),
            [a].as_ptr(),
            1,
            T0 + 10 * MIN,
            T0 + 20 * MIN,
            &mut rep,
        ));
        bundle(rep)
    };
    assert_eq!(r.totals.points, 1);
    assert_eq!(r.totals.samples, 10);
    assert_eq!((r.totals.first_id, r.totals.last_id), (0, 0));
    assert_eq!(r.totals.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(
        r.points,
        vec![("plant/a".to_string(), 10, 0, T0 + 10 * MIN, T0 + 19 * MIN)]
    );
    // Every point (NULL), the whole range.
    let all_path = cstr(dir.path().join("all.mdbb").to_str().unwrap());
    // SAFETY: as above.
    let all = unsafe {
        ok(meterdb_db_export_bundle(
            src.db,
            all_path.as_ptr(),
            ptr::null(),
            0,
            i64::MIN,
            i64::MAX,
            &mut rep,
        ));
        bundle(rep)
    };
    assert_eq!((all.totals.points, all.totals.samples), (2, 200));

    // Verify, then import into another database twice: the same data as once.
    let dst = TestDb::new();
    // SAFETY: live handles, valid strings and out-pointers.
    unsafe {
        ok(meterdb_db_verify_bundle(
            dst.db,
            all_path.as_ptr(),
            &mut rep,
        ));
        assert_eq!(bundle(rep).totals.samples, 200);
        ok(meterdb_db_import_bundle(
            dst.db,
            all_path.as_ptr(),
            &mut rep,
        ));
        assert_eq!(bundle(rep).totals.samples, 200);
        let a2 = point_id(dst.db, "plant/a").unwrap();
        let once = samples(dst.db, a2);
        ok(meterdb_db_import_bundle(
            dst.db,
            all_path.as_ptr(),
            ptr::null_mut(),
        ));
        assert_eq!(samples(dst.db, a2), once);
        assert_eq!(once, samples(src.db, a));
        let b2 = point_id(dst.db, "plant/b").unwrap();
        assert_eq!(samples(dst.db, b2), samples(src.db, b));
    }

    // One byte damaged: verify and import refuse it; nothing is applied.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = dir.path().join("bad.mdbb");
    std::fs::write(&bad, &bytes).unwrap();
    let bad_c = cstr(bad.to_str().unwrap());
    let empty = TestDb::new();
    // SAFETY: live handle, valid strings and out-pointers.
    unsafe {
        rep = ptr::NonNull::dangling().as_ptr();
        fails(
            meterdb_db_verify_bundle(empty.db, bad_c.as_ptr(), &mut rep),
            MDB_CORRUPTION,
            "bad.mdbb",
        );
        assert!(rep.is_null());
        fails(
            meterdb_db_import_bundle(empty.db, bad_c.as_ptr(), &mut rep),
            MDB_CORRUPTION,
            "bad.mdbb",
        );
        assert!(point_id(empty.db, "plant/a").is_none(), "nothing applied");
        let mut stats = meterdb_stats::default();
        ok(meterdb_db_stats(empty.db, &mut stats));
        assert_eq!(stats.points, 0);
        assert_eq!(stats.memtable_samples + stats.segment_samples, 0);
        let missing = cstr(dir.path().join("none.mdbb").to_str().unwrap());
        fails(
            meterdb_db_import_bundle(empty.db, missing.as_ptr(), ptr::null_mut()),
            MDB_IO,
            "none.mdbb",
        );
        // Points NULL with a count, an unknown point, from > to.
        fails(
            meterdb_db_export_bundle(src.db, path_c.as_ptr(), ptr::null(), 2, 0, 1, &mut rep),
            MDB_NULL_ARGUMENT,
            "points",
        );
        fails(
            meterdb_db_export_bundle(src.db, path_c.as_ptr(), [77].as_ptr(), 1, 0, 1, &mut rep),
            MDB_NOT_FOUND,
            "77",
        );
        assert!(rep.is_null());
        fails(
            meterdb_db_export_bundle(src.db, path_c.as_ptr(), [a].as_ptr(), 1, 5, 1, &mut rep),
            MDB_INVALID_ARGUMENT,
            "",
        );
    }
}

#[test]
fn a_cursor_bundle_holds_the_pending_changes_and_their_ids() {
    let src = TestDb::new();
    let a = src.define("a");
    ok(create(src.db, "gate", 0, 0));
    for i in 0..20 {
        put(src.db, a, T0 + i * MIN, i as f64);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = cstr(dir.path().join("c.mdbb").to_str().unwrap());
    let cur = cstr("gate");
    let mut rep = ptr::null_mut();
    // SAFETY: live handle, valid strings and out-pointer.
    let r = unsafe {
        ok(meterdb_db_export_cursor_bundle(
            src.db,
            path.as_ptr(),
            cur.as_ptr(),
            &mut rep,
        ));
        bundle(rep)
    };
    assert_eq!(r.totals.samples, 20);
    assert!(r.totals.first_id > 0 && r.totals.last_id > r.totals.first_id);
    // The read position moved past them; acknowledging the last id empties the backlog.
    assert!(read(src.db, "gate", 100).is_empty());
    ok(ack(src.db, "gate", r.totals.last_id));
    let dst = TestDb::new();
    // SAFETY: live handle, valid strings.
    unsafe {
        ok(meterdb_db_import_bundle(
            dst.db,
            path.as_ptr(),
            ptr::null_mut(),
        ));
        let unknown = cstr("nobody");
        fails(
            meterdb_db_export_cursor_bundle(src.db, path.as_ptr(), unknown.as_ptr(), &mut rep),
            MDB_NOT_FOUND,
            "nobody",
        );
    }
    assert_eq!(
        samples(dst.db, point_id(dst.db, "a").unwrap()),
        samples(src.db, a)
    );
}

#[test]
fn retention_set_in_the_options_drops_old_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let path = cstr(dir.path().to_str().unwrap());
    // SAFETY: valid handles and out-pointers throughout.
    unsafe {
        let mut o = ptr::null_mut();
        ok(meterdb_options_new(&mut o));
        ok(meterdb_options_set_partition_ms(o, DAY));
        ok(meterdb_options_set_background(o, 0));
        let db = open(&path, o);
        let mut id = 0;
        ok(meterdb_db_ensure_point(db, c"m".as_ptr(), &mut id));
        for d in 0..10 {
            put(db, id, T0 + d * DAY + 1000, d as f64);
        }
        ok(meterdb_db_flush(db));
        ok(meterdb_db_close(db));
        meterdb_db_free(db);

        // Reopen with 3 days of raw samples kept, and limits on a tier.
        ok(meterdb_options_set_retention(o, 0, 3 * DAY, -1));
        ok(meterdb_options_set_retention(
            o,
            meterdb_tier::MDB_TIER_DAY as i32,
            -1,
            1 << 30,
        ));
        ok(meterdb_options_set_retention_drop_unacked(o, 1));
        fails(
            meterdb_options_set_retention(o, 6, 1, 1),
            MDB_INVALID_ARGUMENT,
            "tier 6",
        );
        fails(
            meterdb_options_set_retention(ptr::null_mut(), 0, 1, 1),
            MDB_NULL_ARGUMENT,
            "opts",
        );
        fails(
            meterdb_options_set_retention_drop_unacked(ptr::null_mut(), 1),
            MDB_NULL_ARGUMENT,
            "opts",
        );
        let db = open(&path, o);
        meterdb_options_free(o);
        let mut rep = ptr::null_mut();
        ok(meterdb_db_apply_retention(db, &mut rep));
        let mut tot = meterdb_retention_totals::default();
        ok(meterdb_retention_report_totals(rep, &mut tot));
        assert!(tot.dropped_partitions >= 6, "{tot:?}");
        assert!(tot.dropped_bytes > 0);
        assert_eq!((tot.forced_cursors, tot.full), (0, 0));
        let (mut tier, mut start) = (-1, 0);
        ok(meterdb_retention_report_dropped(
            rep, 0, &mut tier, &mut start,
        ));
        assert_eq!(tier, 0);
        assert!(start <= T0 + DAY, "{start}");
        fails(
            meterdb_retention_report_dropped(rep, 1000, &mut tier, &mut start),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        assert_eq!(
            CStr::from_ptr(meterdb_retention_report_forced_cursor(rep, 0)).to_bytes(),
            b""
        );
        assert_eq!(
            CStr::from_ptr(meterdb_retention_report_forced_cursor(ptr::null(), 0)).to_bytes(),
            b""
        );
        meterdb_retention_report_free(rep);
        let kept = samples(db, id);
        assert!(kept.len() <= 4 && !kept.is_empty(), "{kept:?}");
        assert_eq!(kept.last().unwrap().0, T0 + 9 * DAY + 1000);
        // Nothing left to drop: a report of nothing, and NULL is fine for the report.
        ok(meterdb_db_apply_retention(db, ptr::null_mut()));
        meterdb_db_free(db);
    }
}

#[test]
fn export_writes_parquet_or_says_it_is_unsupported() {
    let t = TestDb::new();
    let a = t.define("plant/a");
    let _b = t.define("plant/b");
    for i in 0..30 {
        put(t.db, a, T0 + i * 3_600_000, i as f64);
    }
    let dir = tempfile::tempdir().unwrap();
    let out_c = cstr(dir.path().to_str().unwrap());
    let key = cstr("plant/a");
    let keys = [key.as_ptr()];
    let mut s = meterdb_export_summary::default();
    // SAFETY: live handle, valid strings, a one-key array, valid out-pointer.
    let st = unsafe {
        meterdb_export(
            t.db,
            out_c.as_ptr(),
            MDB_EXPORT_RAW,
            T0,
            T0 + 2 * DAY,
            keys.as_ptr(),
            1,
            &mut s,
        )
    };
    if cfg!(feature = "parquet") {
        ok(st);
        assert_eq!(meterdb_has_parquet(), 1);
        assert_eq!((s.rows, s.points), (30, 1));
        assert!(s.files >= 2 && s.bytes > 0 && s.partitions >= 2, "{s:?}");
        assert!(dir.path().join("tier=raw").is_dir());
        // A tier, every point (NULL keys).
        // SAFETY: as above.
        unsafe {
            ok(meterdb_export(
                t.db,
                out_c.as_ptr(),
                meterdb_tier::MDB_TIER_DAY as i32,
                T0,
                T0 + 2 * DAY,
                ptr::null(),
                0,
                &mut s,
            ));
        }
        assert_eq!((s.rows, s.points), (2, 2));
        assert!(dir.path().join("tier=day").is_dir());
        // Misuse: an unknown key, a bad tier, an empty range.
        let unknown = cstr("nope");
        // SAFETY: as above.
        unsafe {
            fails(
                meterdb_export(
                    t.db,
                    out_c.as_ptr(),
                    0,
                    T0,
                    T0 + DAY,
                    [unknown.as_ptr()].as_ptr(),
                    1,
                    &mut s,
                ),
                MDB_NOT_FOUND,
                "nope",
            );
            fails(
                meterdb_export(
                    t.db,
                    out_c.as_ptr(),
                    9,
                    T0,
                    T0 + DAY,
                    ptr::null(),
                    0,
                    &mut s,
                ),
                MDB_INVALID_ARGUMENT,
                "MDB_EXPORT_RAW",
            );
            fails(
                meterdb_export(t.db, out_c.as_ptr(), 0, T0, T0, ptr::null(), 0, &mut s),
                MDB_INVALID_ARGUMENT,
                "empty range",
            );
        }
    } else {
        fails(st, MDB_UNSUPPORTED, "--features parquet");
        assert_eq!(meterdb_has_parquet(), 0);
    }
    // Checked whatever the build: NULL keys with a count, a NULL key, bad UTF-8.
    let bad = b"pl\xffnt\0";
    // SAFETY: as above; `bad` is NUL-terminated.
    unsafe {
        fails(
            meterdb_export(
                t.db,
                out_c.as_ptr(),
                0,
                T0,
                T0 + DAY,
                ptr::null(),
                1,
                &mut s,
            ),
            MDB_NULL_ARGUMENT,
            "keys",
        );
        fails(
            meterdb_export(
                t.db,
                out_c.as_ptr(),
                0,
                T0,
                T0 + DAY,
                [ptr::null()].as_ptr(),
                1,
                &mut s,
            ),
            MDB_NULL_ARGUMENT,
            "keys[0]",
        );
        fails(
            meterdb_export(
                t.db,
                out_c.as_ptr(),
                0,
                T0,
                T0 + DAY,
                [bad.as_ptr().cast::<c_char>()].as_ptr(),
                1,
                &mut s,
            ),
            MDB_INVALID_UTF8,
            "keys[0]",
        );
        fails(
            meterdb_export(t.db, ptr::null(), 0, T0, T0 + DAY, ptr::null(), 0, &mut s),
            MDB_NULL_ARGUMENT,
            "out_dir",
        );
    }
}

/// Calls every store-and-forward function (and the Parquet export) with `db`: each fails with
/// `status` and a message holding `msg`, and sets the result handle it was given to NULL.
///
/// # Safety
/// `db` is NULL or a live handle (closed, for `MDB_CLOSED`); `name` and `file` are
/// NUL-terminated.
unsafe fn every_forward_call_fails(
    db: *const meterdb_db,
    status: meterdb_status,
    msg: &str,
    name: &CStr,
    file: &CStr,
) {
    let mut ch = ptr::NonNull::dangling().as_ptr();
    let mut bk = ptr::NonNull::dangling().as_ptr();
    let mut ls = ptr::NonNull::dangling().as_ptr();
    let mut rec = ptr::NonNull::dangling().as_ptr();
    let mut rep = ptr::NonNull::dangling().as_ptr();
    // SAFETY: as this function's; the out-pointers are writable.
    unsafe {
        fails(
            meterdb_db_upload_cursor_create(db, name.as_ptr(), 0, 0),
            status,
            msg,
        );
        fails(
            meterdb_db_upload_cursor_drop(db, name.as_ptr()),
            status,
            msg,
        );
        fails(meterdb_db_upload_cursor_list(db, &mut ls), status, msg);
        fails(
            meterdb_db_upload_cursor_read(db, name.as_ptr(), 1, &mut ch),
            status,
            msg,
        );
        fails(
            meterdb_db_upload_cursor_ack(db, name.as_ptr(), 0),
            status,
            msg,
        );
        fails(
            meterdb_db_upload_cursor_rewind(db, name.as_ptr()),
            status,
            msg,
        );
        fails(
            meterdb_db_upload_cursor_read_buckets(db, name.as_ptr(), 3, 1, 0, 0, &mut bk),
            status,
            msg,
        );
        fails(
            meterdb_db_upload_cursor_ack_buckets(db, name.as_ptr(), 3, 0, 0),
            status,
            msg,
        );
        fails(
            meterdb_db_record_upload(db, name.as_ptr(), 0, 0, 0, 0, ptr::null(), 0, 0, 0),
            status,
            msg,
        );
        fails(
            meterdb_db_upload_records(db, 0, 1, -1, &mut rec),
            status,
            msg,
        );
        fails(
            meterdb_db_backup(db, file.as_ptr(), ptr::null_mut()),
            status,
            msg,
        );
        fails(
            meterdb_db_export_bundle(db, file.as_ptr(), ptr::null(), 0, 0, 1, &mut rep),
            status,
            msg,
        );
        fails(
            meterdb_db_export_cursor_bundle(db, file.as_ptr(), name.as_ptr(), &mut rep),
            status,
            msg,
        );
        fails(
            meterdb_db_verify_bundle(db, file.as_ptr(), &mut rep),
            status,
            msg,
        );
        fails(
            meterdb_db_import_bundle(db, file.as_ptr(), &mut rep),
            status,
            msg,
        );
        fails(meterdb_db_apply_retention(db, ptr::null_mut()), status, msg);
        fails(
            meterdb_export(db, file.as_ptr(), 0, 0, 1, ptr::null(), 0, ptr::null_mut()),
            status,
            msg,
        );
    }
    assert!(ch.is_null() && bk.is_null() && ls.is_null() && rec.is_null() && rep.is_null());
}

#[test]
fn misuse_of_the_forward_functions() {
    let t = TestDb::new();
    let p = t.define("m");
    put(t.db, p, T0, 1.0);
    let name = cstr("c");
    let bad = c"c\xff".as_ptr();
    let unknown = cstr("unknown");
    let dir = tempfile::tempdir().unwrap();
    let file = cstr(dir.path().join("b").to_str().unwrap());
    // SAFETY: every pointer is NULL, a live handle, a NUL-terminated string or writable.
    unsafe {
        let mut ch = ptr::null_mut();
        let mut bk = ptr::null_mut();
        let mut ls = ptr::null_mut();
        let mut rep = ptr::null_mut();
        let mut n = 0usize;
        // NULL handles.
        every_forward_call_fails(ptr::null(), MDB_NULL_ARGUMENT, "db", &name, &file);
        // NULL result handles and out-pointers.
        null_handle_refused(
            "changes",
            meterdb_changes_count,
            meterdb_changes_row,
            meterdb_changes_rows,
            meterdb_changes_free,
        );
        null_handle_refused(
            "buckets",
            meterdb_bucket_changes_count,
            meterdb_bucket_changes_row,
            meterdb_bucket_changes_rows,
            meterdb_bucket_changes_free,
        );
        fails(
            meterdb_upload_cursor_list_count(ptr::null(), &mut n),
            MDB_NULL_ARGUMENT,
            "list",
        );
        fails(
            meterdb_upload_records_count(ptr::null(), &mut n),
            MDB_NULL_ARGUMENT,
            "records",
        );
        fails(
            meterdb_bundle_report_totals(ptr::null(), &mut meterdb_bundle_totals::default()),
            MDB_NULL_ARGUMENT,
            "report",
        );
        fails(
            meterdb_retention_report_totals(ptr::null(), &mut meterdb_retention_totals::default()),
            MDB_NULL_ARGUMENT,
            "report",
        );
        fails(
            meterdb_db_upload_cursor_list(t.db, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_list",
        );
        fails(
            meterdb_db_upload_cursor_read(t.db, name.as_ptr(), 1, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_changes",
        );
        fails(
            meterdb_db_upload_records(t.db, 0, 1, -1, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_records",
        );
        // Every _free takes NULL.
        meterdb_upload_cursor_list_free(ptr::null_mut());
        meterdb_upload_records_free(ptr::null_mut());
        meterdb_bundle_report_free(ptr::null_mut());
        meterdb_retention_report_free(ptr::null_mut());
        // NULL and bad UTF-8 names and paths.
        fails(
            meterdb_db_upload_cursor_create(t.db, ptr::null(), 0, 0),
            MDB_NULL_ARGUMENT,
            "name",
        );
        fails(
            meterdb_db_upload_cursor_create(t.db, bad, 0, 0),
            MDB_INVALID_UTF8,
            "name",
        );
        fails(
            meterdb_db_upload_cursor_read(t.db, bad, 1, &mut ch),
            MDB_INVALID_UTF8,
            "name",
        );
        fails(
            meterdb_db_upload_cursor_ack(t.db, bad, 1),
            MDB_INVALID_UTF8,
            "name",
        );
        fails(
            meterdb_db_record_upload(t.db, bad, 0, 0, 0, 0, ptr::null(), 0, 0, 0),
            MDB_INVALID_UTF8,
            "cursor",
        );
        fails(
            meterdb_db_backup(t.db, bad, ptr::null_mut()),
            MDB_INVALID_UTF8,
            "dir",
        );
        fails(
            meterdb_db_export_bundle(t.db, bad, ptr::null(), 0, 0, 1, &mut rep),
            MDB_INVALID_UTF8,
            "path",
        );
        fails(
            meterdb_db_import_bundle(t.db, ptr::null(), &mut rep),
            MDB_NULL_ARGUMENT,
            "path",
        );
        // Unknown cursors.
        fails(
            meterdb_db_upload_cursor_read(t.db, unknown.as_ptr(), 1, &mut ch),
            MDB_NOT_FOUND,
            "unknown",
        );
        assert!(ch.is_null());
        fails(
            meterdb_db_upload_cursor_ack(t.db, unknown.as_ptr(), 1),
            MDB_NOT_FOUND,
            "unknown",
        );
        fails(
            meterdb_db_upload_cursor_rewind(t.db, unknown.as_ptr()),
            MDB_NOT_FOUND,
            "unknown",
        );
        fails(
            meterdb_db_upload_cursor_read_buckets(t.db, unknown.as_ptr(), 3, 1, 0, 0, &mut bk),
            MDB_NOT_FOUND,
            "unknown",
        );
        fails(
            meterdb_db_upload_cursor_ack_buckets(t.db, unknown.as_ptr(), 3, 0, 0),
            MDB_NOT_FOUND,
            "unknown",
        );
        // Zero batch sizes and bad tiers.
        ok(meterdb_db_upload_cursor_create(t.db, name.as_ptr(), 0, 0));
        fails(
            meterdb_db_upload_cursor_read(t.db, name.as_ptr(), 0, &mut ch),
            MDB_INVALID_ARGUMENT,
            "max is 0",
        );
        fails(
            meterdb_db_upload_cursor_read_buckets(t.db, name.as_ptr(), 3, 0, 0, 0, &mut bk),
            MDB_INVALID_ARGUMENT,
            "max is 0",
        );
        fails(
            meterdb_db_upload_cursor_read_buckets(t.db, name.as_ptr(), 0, 1, 0, 0, &mut bk),
            MDB_INVALID_ARGUMENT,
            "tier 0",
        );
        assert!(bk.is_null());
        // Rows past the end of a result, a bulk copy from past the end.
        ok(meterdb_db_upload_cursor_read(
            t.db,
            name.as_ptr(),
            10,
            &mut ch,
        ));
        ok(meterdb_changes_count(ch, &mut n));
        assert_eq!(n, 1);
        let mut row = meterdb_change::default();
        fails(
            meterdb_changes_row(ch, 1, &mut row),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        fails(
            meterdb_changes_rows(ch, 2, &mut row, 1, &mut n),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        fails(
            meterdb_changes_row(ch, 0, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_row",
        );
        ok(meterdb_changes_rows(ch, 0, ptr::null_mut(), 0, &mut n));
        assert_eq!(n, 0);
        meterdb_changes_free(ch);

        // A closed handle: MDB_CLOSED everywhere; results made before stay readable.
        ok(meterdb_db_upload_cursor_list(t.db, &mut ls));
        ok(meterdb_db_close(t.db));
        every_forward_call_fails(t.db, MDB_CLOSED, "closed", &name, &file);
        ok(meterdb_upload_cursor_list_count(ls, &mut n));
        assert_eq!(n, 1);
        meterdb_upload_cursor_list_free(ls);
    }
    assert!(last_error().contains("closed") || last_error().is_empty());
}

/// Reads day buckets of cursor `name` with the `_v2` readers (and checks `_row_v2` and the
/// first version agree on the shared fields).
fn read_buckets_v2(db: *const meterdb_db, name: &str, wm: i64) -> Vec<meterdb_bucket_change_v2> {
    let n = cstr(name);
    let mut h = ptr::null_mut();
    // SAFETY: live handle, valid string and out-pointers; arrays of the counted length.
    unsafe {
        ok(meterdb_db_upload_cursor_read_buckets(
            db,
            n.as_ptr(),
            meterdb_tier::MDB_TIER_DAY as i32,
            100,
            1,
            wm,
            &mut h,
        ));
        let rows = read_all(
            h,
            meterdb_bucket_changes_count,
            meterdb_bucket_changes_row_v2,
            meterdb_bucket_changes_rows_v2,
        );
        let count = rows.len();
        for (i, r) in rows.iter().enumerate() {
            let mut v1 = meterdb_bucket_change::default();
            ok(meterdb_bucket_changes_row(h, i, &mut v1));
            assert_eq!(
                (v1.point, v1.row.start, v1.row.count),
                (r.point, r.row.start, r.row.count)
            );
        }
        let mut one = meterdb_bucket_change_v2::default();
        fails(
            meterdb_bucket_changes_row_v2(h, count, &mut one),
            MDB_INVALID_ARGUMENT,
            "past the",
        );
        fails(
            meterdb_bucket_changes_row_v2(h, 0, ptr::null_mut()),
            MDB_NULL_ARGUMENT,
            "out_row",
        );
        meterdb_bucket_changes_free(h);
        rows
    }
}

#[test]
fn bucket_changes_v2_carry_quality_counts_revision_and_corrections() {
    let t = TestDb::new();
    let g = t.define("g");
    ok(create(t.db, "stats", MDB_CURSOR_OLDEST as i32, 0));
    // Day 0: 24 hourly readings, one invalid, two manual, one estimated.
    let quality = |h: i64| match h {
        3 => 0,
        5 | 6 => MDB_QUALITY_VALID | MDB_QUALITY_MANUAL,
        7 => MDB_QUALITY_VALID | MDB_QUALITY_ESTIMATED,
        _ => MDB_QUALITY_VALID,
    };
    for h in 0..24 {
        // SAFETY: live handle.
        ok(unsafe { meterdb_db_put(t.db, g, T0 + h * 3_600_000, 2.0, quality(h)) });
    }
    put(t.db, g, T0 + DAY + 3_600_000, 2.0);
    let v = read_buckets_v2(t.db, "stats", T0 + DAY);
    assert_eq!(v.len(), 1);
    let b = v[0];
    assert_eq!((b.point, b.row.start, b.corrected), (g, T0, 0));
    assert_eq!(
        (b.row.count, b.row.invalid, b.row.manual, b.row.estimated),
        (23, 1, 2, 1)
    );
    assert_eq!(b.row.sum, 46.0);
    assert!(b.revision > 0);
    let n = cstr("stats");
    // SAFETY: live handle, valid string.
    ok(unsafe {
        meterdb_db_upload_cursor_ack_buckets(
            t.db,
            n.as_ptr(),
            meterdb_tier::MDB_TIER_DAY as i32,
            T0,
            g,
        )
    });
    assert!(read_buckets_v2(t.db, "stats", T0 + DAY).is_empty());
    // A correction of day 0 after it was acknowledged: delivered again, corrected, with a
    // higher revision and the new figures.
    put(t.db, g, T0 + 3 * 3_600_000, 10.0);
    let again = read_buckets_v2(t.db, "stats", T0 + DAY);
    assert_eq!(again.len(), 1);
    let c = again[0];
    assert_eq!((c.point, c.row.start, c.corrected), (g, T0, 1));
    assert!(c.revision > b.revision, "{} > {}", c.revision, b.revision);
    assert_eq!((c.row.count, c.row.invalid), (24, 0));
    assert_eq!(c.row.sum, 56.0);
}
