//! The bindings' shared scenario, through the exported C functions: every point of
//! `../shared/data/uk-meters.csv.gz` written in batches of 1000 rows, read back exactly (for a
//! repeated timestamp the last value in file order wins), latest values; again after a flush,
//! a compaction and a reopen; and "query day consumption" (the registers' day consumption
//! against their interval series; day and month rollups equal to the engine's). The C, Java
//! and Python tests run the same scenarios.

#![allow(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::ptr;

use crate::*;

fn shared_data() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/uk-meters.csv.gz"
    ));
    p.exists().then_some(p)
}

/// Rows in file order: (point, ts ms, value).
fn load(path: &PathBuf) -> Vec<(String, i64, f64)> {
    let f = std::fs::File::open(path).unwrap();
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut rows = Vec::new();
    for line in r.lines().skip(1) {
        let line = line.unwrap();
        let mut it = line.split(',');
        let (p, t, v) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let ts = engine::time::parse_timestamp(t).unwrap();
        rows.push((p.to_string(), ts, v.parse::<f64>().unwrap()));
    }
    rows
}

fn check(st: meterdb_status, what: &str) {
    if st != meterdb_status::MDB_OK {
        // SAFETY: the last error is a valid NUL-terminated string on this thread.
        let msg = unsafe { CStr::from_ptr(meterdb_last_error()) };
        panic!("{what}: {st:?}: {}", msg.to_string_lossy());
    }
}

/// Reads every point back through a cursor and compares with what was written.
fn verify_all(
    db: *const meterdb_db,
    ids: &[(String, u32)],
    want: &HashMap<u32, BTreeMap<i64, f64>>,
) {
    let cap = 1000;
    let (mut ts, mut vs, mut qs) = (vec![0i64; cap], vec![0f64; cap], vec![0u8; cap]);
    for (key, id) in ids {
        let expected = &want[id];
        let mut cur = ptr::null_mut();
        // SAFETY: `db` is live; the arrays hold `cap` elements; `cur` is freed below.
        unsafe {
            check(
                meterdb_db_range(db, *id, i64::MIN, i64::MAX, &mut cur),
                "range",
            );
            let mut got = Vec::new();
            loop {
                let mut n = 0;
                check(
                    meterdb_cursor_next(
                        cur,
                        ts.as_mut_ptr(),
                        vs.as_mut_ptr(),
                        qs.as_mut_ptr(),
                        cap,
                        &mut n,
                    ),
                    "cursor_next",
                );
                for i in 0..n {
                    assert_eq!(qs[i], MDB_QUALITY_VALID);
                    got.push((ts[i], vs[i]));
                }
                if n < cap {
                    break;
                }
            }
            meterdb_cursor_free(cur);
            assert_eq!(got.len(), expected.len(), "{key}: sample count");
            for ((t, v), (et, ev)) in got.iter().zip(expected) {
                assert_eq!((*t, v.to_bits()), (*et, ev.to_bits()), "{key}");
            }
            let (mut lt, mut lv, mut lq, mut found) = (0i64, 0f64, 0u8, 0i32);
            check(
                meterdb_db_latest(db, *id, &mut lt, &mut lv, &mut lq, &mut found),
                "latest",
            );
            let (et, ev) = expected.iter().next_back().unwrap();
            assert_eq!(
                (found, lt, lv.to_bits(), lq),
                (1, *et, ev.to_bits(), MDB_QUALITY_VALID),
                "{key}: latest"
            );
        }
    }
}

#[test]
fn shared_data_round_trip_through_the_c_abi() {
    let Some(path) = shared_data() else {
        eprintln!("skipping: ../shared/data not found");
        return;
    };
    let rows = load(&path);
    assert!(rows.len() > 200_000);
    let dir = tempfile::tempdir().unwrap();
    let cdir = CString::new(dir.path().to_str().unwrap()).unwrap();

    // SAFETY: every pointer passed is live and sized as each call requires; handles are
    // freed once, at the end.
    unsafe {
        let mut opts = ptr::null_mut();
        check(meterdb_options_new(&mut opts), "options_new");
        check(
            meterdb_options_set_durability(opts, meterdb_durability::MDB_DURABILITY_NONE as i32),
            "durability",
        );
        let mut db = ptr::null_mut();
        check(meterdb_db_open(cdir.as_ptr(), opts, &mut db), "open");

        // Points in order of first appearance, with metadata.
        let mut ids: Vec<(String, u32)> = Vec::new();
        let mut by_key = HashMap::new();
        for (key, _, _) in &rows {
            if by_key.contains_key(key) {
                continue;
            }
            let ck = CString::new(key.as_str()).unwrap();
            let counter = key.contains("register");
            let unit = CString::new(if key.starts_with("taylor") {
                "MW"
            } else {
                "kWh"
            })
            .unwrap();
            let (tk, tv) = (c"source".as_ptr(), c"uk".as_ptr());
            let mut id = 0;
            check(
                meterdb_db_define_point(
                    db,
                    ck.as_ptr(),
                    if counter { 1 } else { 0 },
                    unit.as_ptr(),
                    3,
                    ptr::null(),
                    0,
                    1.0,
                    &tk,
                    &tv,
                    1,
                    &mut id,
                ),
                "define_point",
            );
            by_key.insert(key.clone(), id);
            ids.push((key.clone(), id));
        }
        assert_eq!(ids.len(), 9);

        // Batches of 1000 rows in file order, mixing points at the boundaries.
        let mut want: HashMap<u32, BTreeMap<i64, f64>> = HashMap::new();
        for chunk in rows.chunks(1000) {
            let points: Vec<u32> = chunk.iter().map(|r| by_key[&r.0]).collect();
            let ts: Vec<i64> = chunk.iter().map(|r| r.1).collect();
            let vs: Vec<f64> = chunk.iter().map(|r| r.2).collect();
            check(
                meterdb_db_write(
                    db,
                    points.as_ptr(),
                    ts.as_ptr(),
                    vs.as_ptr(),
                    ptr::null(),
                    chunk.len(),
                ),
                "write",
            );
            for (i, &p) in points.iter().enumerate() {
                want.entry(p).or_default().insert(ts[i], vs[i]);
            }
        }
        let distinct: usize = want.values().map(BTreeMap::len).sum();
        assert!(distinct < rows.len(), "the data has repeated timestamps");

        verify_all(db, &ids, &want);
        check(meterdb_db_flush(db), "flush");
        check(meterdb_db_compact(db), "compact");
        verify_all(db, &ids, &want);
        let mut st = meterdb_stats::default();
        check(meterdb_db_stats(db, &mut st), "stats");
        assert_eq!(st.points, 9);
        assert_eq!(st.segment_samples, distinct as u64);
        check(meterdb_db_close(db), "close");
        meterdb_db_free(db);

        let mut db = ptr::null_mut();
        check(meterdb_db_open(cdir.as_ptr(), opts, &mut db), "reopen");
        meterdb_options_free(opts);
        for (key, id) in &ids {
            let ck = CString::new(key.as_str()).unwrap();
            let mut got = u32::MAX;
            check(meterdb_db_point_id(db, ck.as_ptr(), &mut got), "point_id");
            assert_eq!(got, *id);
        }
        verify_all(db, &ids, &want);
        let mut problems = usize::MAX;
        check(
            meterdb_db_verify(db, &mut problems, ptr::null_mut(), 0, ptr::null_mut()),
            "verify",
        );
        assert_eq!(problems, 0);
        check(meterdb_db_close(db), "close");
        meterdb_db_free(db);
    }
}

/// A point's buckets at a tier over all time, through `meterdb_db_rollup` and one bulk
/// `meterdb_rollup_rows`.
fn abi_rollup(db: *const meterdb_db, point: u32, tier: meterdb_tier) -> Vec<meterdb_bucket_row> {
    // SAFETY: `db` is live; the buffer holds `n` rows; the result is freed here.
    unsafe {
        let mut r = ptr::null_mut();
        check(
            meterdb_db_rollup(db, point, tier as i32, i64::MIN, i64::MAX, &mut r),
            "rollup",
        );
        let mut n = 0;
        check(meterdb_rollup_count(r, &mut n), "rollup_count");
        let mut rows = vec![meterdb_bucket_row::default(); n];
        let mut got = 0;
        check(
            meterdb_rollup_rows(r, 0, rows.as_mut_ptr(), n, &mut got),
            "rollup_rows",
        );
        assert_eq!(got, n);
        meterdb_rollup_free(r);
        rows
    }
}

/// The bindings' shared "query day consumption": the `*register*` points (cumulative
/// registers, defined as counters) are the running totals of their interval series over every
/// row, so a day (in the database's default +08:00 zone) with a register sample exactly at both
/// boundaries consumed the sum of the interval rows stamped after its start and up to and
/// including its end. And the day and month rollups of every point through the ABI equal the
/// engine's own `Db::rollup` answers, before and after a flush.
#[test]
fn shared_data_day_consumption_through_the_c_abi() {
    let Some(path) = shared_data() else {
        eprintln!("skipping: ../shared/data not found");
        return;
    };
    let rows = load(&path);
    let dir = tempfile::tempdir().unwrap();
    let cdir = CString::new(dir.path().to_str().unwrap()).unwrap();
    // SAFETY: every pointer passed is live and sized as each call requires; the handles are
    // freed once, at the end.
    unsafe {
        let mut opts = ptr::null_mut();
        check(meterdb_options_new(&mut opts), "options_new");
        check(
            meterdb_options_set_durability(opts, meterdb_durability::MDB_DURABILITY_NONE as i32),
            "durability",
        );
        let mut db = ptr::null_mut();
        check(meterdb_db_open(cdir.as_ptr(), opts, &mut db), "open");
        meterdb_options_free(opts);
        let mut tz = 0;
        check(meterdb_db_tz_offset_min(db, &mut tz), "tz");
        assert_eq!(tz, 480);
        let mut ids: BTreeMap<String, u32> = BTreeMap::new();
        for (key, _, _) in &rows {
            if ids.contains_key(key) {
                continue;
            }
            let ck = CString::new(key.as_str()).unwrap();
            let kind = if key.contains("register") { 1 } else { 0 };
            let mut id = 0;
            check(
                meterdb_db_define_point(
                    db,
                    ck.as_ptr(),
                    kind,
                    c"kWh".as_ptr(),
                    3,
                    ptr::null(),
                    0,
                    1.0,
                    ptr::null(),
                    ptr::null(),
                    0,
                    &mut id,
                ),
                "define_point",
            );
            ids.insert(key.clone(), id);
        }
        for chunk in rows.chunks(1000) {
            let points: Vec<u32> = chunk.iter().map(|r| ids[&r.0]).collect();
            let ts: Vec<i64> = chunk.iter().map(|r| r.1).collect();
            let vs: Vec<f64> = chunk.iter().map(|r| r.2).collect();
            check(
                meterdb_db_write(
                    db,
                    points.as_ptr(),
                    ts.as_ptr(),
                    vs.as_ptr(),
                    ptr::null(),
                    chunk.len(),
                ),
                "write",
            );
        }

        // The day and month rollups equal the engine's, from the memtable and from segments.
        let handle = &*db;
        for round in 0..2 {
            for (key, &id) in &ids {
                for tier in [meterdb_tier::MDB_TIER_DAY, meterdb_tier::MDB_TIER_MONTH] {
                    let got = abi_rollup(db, id, tier);
                    let want = handle
                        .with(|d| {
                            let t = engine::Tier::from_kind(tier as u8).unwrap();
                            Ok(d.rollup(id, t, i64::MIN, i64::MAX)?)
                        })
                        .unwrap();
                    assert!(!got.is_empty(), "{key}");
                    assert_eq!(got.len(), want.len(), "{key} {tier:?}");
                    for (g, w) in got.iter().zip(&want) {
                        // Debug text: exact, NaN of absent figures included.
                        let w = meterdb_bucket_row::from(w);
                        assert_eq!(format!("{g:?}"), format!("{w:?}"), "{key} {tier:?}");
                    }
                }
            }
            if round == 0 {
                check(meterdb_db_flush(db), "flush");
                check(meterdb_db_compact(db), "compact");
            }
        }

        // Day consumption of the registers against their interval series.
        let mut checked = 0;
        for (key, &id) in ids.iter().filter(|(k, _)| k.contains("register")) {
            // uk-electricity-sample-0-register-kwh <- uk-electricity-hdd-only-hourly-sample-0
            let interval = key
                .replace("-register-kwh", "")
                .replace("-sample-", "-hdd-only-hourly-sample-");
            assert!(ids.contains_key(&interval), "{interval}");
            let reg_ts: std::collections::HashSet<i64> =
                rows.iter().filter(|r| &r.0 == key).map(|r| r.1).collect();
            let mut series: Vec<(i64, f64)> = rows
                .iter()
                .filter(|r| r.0 == interval)
                .map(|r| (r.1, r.2))
                .collect();
            series.sort_by_key(|r| r.0); // stable: repeated timestamps keep their order
            let mut days = 0;
            for r in abi_rollup(db, id, meterdb_tier::MDB_TIER_DAY) {
                if !(reg_ts.contains(&r.start) && reg_ts.contains(&r.end)) {
                    continue;
                }
                let lo = series.partition_point(|x| x.0 <= r.start);
                let hi = series.partition_point(|x| x.0 <= r.end);
                let want: f64 = series[lo..hi].iter().map(|x| x.1).sum();
                assert_eq!(r.has_consumption, 1);
                assert!(
                    (r.consumption - want).abs() <= 0.0011,
                    "{key} day from {}: {} vs {want}",
                    r.start,
                    r.consumption
                );
                days += 1;
            }
            assert!(days > 100, "{key}: only {days} days checked");
            checked += days;
        }
        assert!(checked > 1000, "only {checked} days checked");
        eprintln!("register day consumption checked on {checked} days");
        check(meterdb_db_close(db), "close");
        meterdb_db_free(db);
    }
}
