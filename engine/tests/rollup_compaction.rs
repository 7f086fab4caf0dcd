//! Compaction of rollup partitions that grow by small flushes: the small newer files of a
//! partition are merged without its big old one (keeping the markers of buckets that a
//! delete emptied, which hide the old file's buckets), and an explicit compaction merges
//! everything and drops the markers. The tiers equal a recomputation from the raw samples
//! throughout.

use std::collections::BTreeMap;

use meterdb::{Db, Durability, Options, PointKind, PointMeta, Tier, WriteBatch};

mod support;
use support::{assert_rows_match, reference, samples_of};

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00+08:00.
const Y0: i64 = 1_767_196_800_000;
const TZ: i32 = 480;
const STEP: i64 = 900_000;

type Model = BTreeMap<(u32, i64), f64>;

fn metas() -> Vec<PointMeta> {
    (0..4)
        .map(|p| {
            let kind = if p % 2 == 0 {
                PointKind::Counter
            } else {
                PointKind::Gauge
            };
            // Declared as read every minute, so that the hour tier is stored (at the 15
            // minutes the samples actually come, it would be computed from the raw samples).
            PointMeta::new(format!("p{p}"), kind).with_interval_ms(60_000)
        })
        .collect()
}

/// Rollup files of a tier's partitions in the database directory.
fn files_of(dir: &std::path::Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(prefix)
        })
        .count()
}

/// A new database (flushes and compactions only when asked) with the points of [`metas`].
fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: false,
        tz_offset_min: Some(TZ),
        ..Options::default().durability(Durability::None)
    };
    let db = Db::open(dir.path(), opts).unwrap();
    for m in metas() {
        db.define_point(m).unwrap();
    }
    (dir, db)
}

fn write(db: &Db, model: &mut Model, from: i64, to: i64) {
    let mut b = WriteBatch::new();
    let mut t = from;
    while t < to {
        for p in 0..4u32 {
            // Registers rising with time, gauges that wander: noisy decimal readings (a
            // function of the time, so that a rewrite is a correction to the same value).
            let h = (t as u64 ^ u64::from(p)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54;
            let v = if p % 2 == 0 {
                (((t - Y0) / STEP) * 100 + h as i64 % 90) as f64 / 100.0
            } else {
                h as f64 / 10.0
            };
            b.put(p, t, v);
            model.insert((p, t), v);
        }
        t += STEP;
    }
    db.write(&b).unwrap();
}

fn delete(db: &Db, model: &mut Model, from: i64, to: i64) {
    for p in 0..4u32 {
        db.delete_range(p, from, to).unwrap();
        model.retain(|&(q, t), _| q != p || t < from || t >= to);
    }
}

fn check(db: &Db, model: &Model) {
    for (p, meta) in metas().iter().enumerate() {
        let p = p as u32;
        let samples = samples_of(model, p);
        for tier in [Tier::Hour, Tier::Day, Tier::Month, Tier::Year] {
            let got = db.rollup(p, tier, Y0 - 400 * DAY, Y0 + 800 * DAY).unwrap();
            let want = reference(&samples, meta, tier, TZ);
            assert_rows_match(&got, &want, &format!("point {p} at {tier:?}"));
        }
    }
}

#[test]
fn small_files_merge_without_the_big_one_and_deletes_stay_hidden() {
    let (dir, db) = open();
    let mut model = Model::new();

    // Ten months, compacted: one big file per rollup partition.
    write(&db, &mut model, Y0, Y0 + 300 * DAY);
    db.flush().unwrap();
    db.compact().unwrap();
    assert_eq!(files_of(dir.path(), "day-"), 1);
    check(&db, &model);

    let mut partial = false;
    // Small flushes: a day each, late corrections inside the big file's range, and deletes
    // that empty whole days and hours the big file holds.
    for k in 0..9i64 {
        let day = Y0 + (300 + k) * DAY;
        write(&db, &mut model, day, day + DAY);
        write(
            &db,
            &mut model,
            Y0 + (10 + k) * DAY,
            Y0 + (10 + k) * DAY + 3 * STEP,
        );
        if k % 3 == 1 {
            let from = Y0 + (100 + 10 * k) * DAY;
            delete(&db, &mut model, from, from + 2 * DAY);
        }
        db.flush().unwrap();
        check(&db, &model);
        // January's hours (named by the partition's UTC start): the big file stays while
        // the small ones (an hour's correction each) are merged among themselves.
        let jan = files_of(dir.path(), "hour-20251231-");
        assert!(
            (2..=4).contains(&jan),
            "{jan} files of January's hours after flush {k}"
        );
        partial |= k >= 3 && jan < k as usize + 2;
    }
    assert!(partial, "January's small hour files were never merged");

    // An explicit compaction merges everything, markers of emptied buckets dropped.
    db.compact().unwrap();
    assert_eq!(files_of(dir.path(), "day-"), 1);
    assert_eq!(files_of(dir.path(), "hour-20251231-"), 1);
    check(&db, &model);
    drop(db);
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    check(&db, &model);
}

#[test]
fn a_flush_drops_the_rollup_files_it_supersedes() {
    let (dir, db) = open();
    let mut model = Model::new();
    // A day in hourly flushes: each rewrites the current day and month of every point, so the files of the flush before are wholly superseded and dropped.
    let day = Y0 + 40 * DAY;
    for h in 0..24 {
        let from = day + h * 3_600_000;
        write(&db, &mut model, from, from + 3_600_000);
        db.flush().unwrap();
        for tier in ["day-", "month-"] {
            assert_eq!(files_of(dir.path(), tier), 1, "{tier} files after hour {h}");
        }
        // (Years are merged from the months when read.)
        assert_eq!(files_of(dir.path(), "year-"), 0);
        if h % 6 == 5 {
            check(&db, &model);
        }
    }
    // A late correction in another month and a delete that empties an hour: the day and
    // month of the correction go to partitions of their own or beside the current ones,
    // and nothing that is still needed is dropped.
    write(&db, &mut model, Y0 + 3 * DAY, Y0 + 3 * DAY + 2 * STEP);
    delete(&db, &mut model, day + 5 * 3_600_000, day + 6 * 3_600_000);
    db.flush().unwrap();
    check(&db, &model);
    write(&db, &mut model, day + DAY, day + DAY + 3_600_000);
    db.flush().unwrap();
    check(&db, &model);
    // New rows that span an older file's buckets but skip one of them do not supersede it:
    // days d1 and d1 + 5 in one file, then d1 corrected and d1 + 10 written (more than a
    // week apart, so not recomputed as one span with the days between).
    let d1 = Y0 + 400 * DAY;
    write(&db, &mut model, d1, d1 + DAY);
    write(&db, &mut model, d1 + 5 * DAY, d1 + 6 * DAY);
    db.flush().unwrap();
    write(&db, &mut model, d1, d1 + STEP);
    write(&db, &mut model, d1 + 10 * DAY, d1 + 10 * DAY + STEP);
    db.flush().unwrap();
    check(&db, &model);
    drop(db);
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    check(&db, &model);
}
