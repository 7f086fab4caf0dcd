//! Statistics cursors deliver a closed bucket again when its data changes after it was read
//! (late samples, corrections, deletes, readings rewritten as invalid, meter replacements
//! recorded late): with `corrected`, the new figures and a higher revision; unflushed, across
//! a flush and across close and reopen; not again once acknowledged; never for data that
//! only follows the buckets read.

use meterdb::io::MemStorage;
use meterdb::{
    BucketChange, CursorStart, Db, Options, PointId, PointKind, PointMeta, Quality, Tier,
    WriteBatch,
};

mod support;

const DAY: i64 = 86_400_000;
const D0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const IV: i64 = 900_000;
const DIR: &str = "/db";

fn opts(s: &MemStorage) -> Options {
    Options {
        wal_file_bytes: 4096,
        tz_offset_min: Some(0),
        ..support::mem_opts(s)
    }
}

fn open(s: &MemStorage) -> Db {
    Db::open(DIR, opts(s)).unwrap()
}

/// A counter `m` rising 1 per 15 minutes and a gauge `g` at 2.0, days `[0, days)`.
fn setup(s: &MemStorage, days: i64) -> (Db, PointId, PointId) {
    let db = open(s);
    let m = db
        .define_point(PointMeta::new("m", PointKind::Counter).with_interval_ms(IV))
        .unwrap();
    let g = db
        .define_point(PointMeta::new("g", PointKind::Gauge).with_interval_ms(IV))
        .unwrap();
    db.create_cursor("c", CursorStart::Beginning).unwrap();
    for i in 0..days * 96 {
        db.put(m, D0 + i * IV, i as f64).unwrap();
        db.put(g, D0 + i * IV, 2.0).unwrap();
    }
    (db, m, g)
}

fn read(db: &Db, wm: i64) -> Vec<BucketChange> {
    db.cursor_read_buckets("c", Tier::Day, 100, Some(wm))
        .unwrap()
}

fn ack_all(db: &Db, v: &[BucketChange]) {
    let l = v.last().unwrap();
    db.cursor_ack_buckets("c", Tier::Day, l.row.bucket.start, l.point)
        .unwrap();
}

fn keys(v: &[BucketChange]) -> Vec<(i64, PointId, bool)> {
    v.iter()
        .map(|b| ((b.row.bucket.start - D0) / DAY, b.point, b.corrected))
        .collect()
}

/// Each bucket as `Db::rollup` gives it now.
fn assert_current(db: &Db, v: &[BucketChange]) {
    for b in v {
        let s = b.row.bucket.start;
        let now = db.rollup(b.point, Tier::Day, s, s + 1).unwrap();
        assert_eq!(now[0], b.row, "bucket {s} of point {}", b.point);
    }
}

/// Days 0 and 1 read and acknowledged (watermark: the start of day 2).
fn first_read(db: &Db) -> u64 {
    let v = read(db, D0 + 2 * DAY);
    assert_eq!(
        keys(&v),
        [(0, 0, false), (0, 1, false), (1, 0, false), (1, 1, false)]
    );
    assert!(v.iter().all(|b| b.revision == v[0].revision));
    ack_all(db, &v);
    assert!(read(db, D0 + 2 * DAY).is_empty());
    v[0].revision
}

#[test]
fn a_correction_a_late_sample_an_invalid_reading_and_a_replacement_come_again() {
    for flush in [false, true] {
        let s = MemStorage::new();
        let (db, m, g) = setup(&s, 3);
        let mut rev = first_read(&db);
        let mut check = |db: &Db, want: &[(i64, PointId, bool)], what: &str| {
            if flush {
                db.flush().unwrap();
            }
            let v = read(db, D0 + 2 * DAY);
            assert_eq!(keys(&v), want, "{what} (flush {flush})");
            assert!(v[0].revision > rev, "{what}: revision grows");
            rev = v[0].revision;
            assert_current(db, &v);
            ack_all(db, &v);
            assert!(read(db, D0 + 2 * DAY).is_empty(), "{what}: not again");
            v
        };

        // A correction of a gauge's reading of day 0.
        db.put(g, D0 + 10 * IV, 50.0).unwrap();
        let v = check(&db, &[(0, g, true)], "correction");
        assert_eq!(v[0].row.bucket.max, 50.0);
        assert_eq!(v[0].row.bucket.sum, 95.0 * 2.0 + 50.0);

        // A late sample between two readings of day 1.
        db.put(g, D0 + DAY + 7 * 60_000, 8.0).unwrap();
        let v = check(&db, &[(1, g, true)], "late sample");
        assert_eq!(v[0].row.bucket.count, 97);

        // A counter reading of day 1 rewritten as invalid.
        let mut b = WriteBatch::new();
        b.put_with_quality(m, D0 + DAY + 40 * IV, 1e9, Quality::INVALID.0);
        db.write(&b).unwrap();
        let v = check(&db, &[(1, m, true)], "invalid reading");
        assert_eq!((v[0].row.bucket.count, v[0].row.bucket.invalid), (95, 1));
        assert_eq!(v[0].row.bucket.max, 191.0);

        // A meter replacement inside day 1, recorded late.
        db.replace_meter(m, D0 + DAY + 50 * IV + 60_000, 146.5, 0.0)
            .unwrap();
        let v = check(&db, &[(1, m, true)], "replacement");
        assert!(v[0].row.consumption.is_some());

        // A delete of part of day 0 of the gauge.
        db.delete_range(g, D0, D0 + 4 * IV).unwrap();
        let v = check(&db, &[(0, g, true)], "delete");
        assert_eq!(v[0].row.bucket.count, 92);
    }
}

#[test]
fn data_that_only_follows_the_buckets_read_sends_nothing_again() {
    let s = MemStorage::new();
    let (db, m, g) = setup(&s, 2);
    // Day 2's first readings, then day 0 and 1 are read.
    db.put(m, D0 + 2 * DAY, 192.0).unwrap();
    db.put(g, D0 + 2 * DAY, 2.0).unwrap();
    first_read(&db);
    for i in 1..96 {
        db.put(m, D0 + 2 * DAY + i * IV, 192.0 + i as f64).unwrap();
        db.put(g, D0 + 2 * DAY + i * IV, 2.0).unwrap();
        if i % 30 == 0 {
            db.flush().unwrap();
        }
    }
    db.flush().unwrap();
    let v = read(&db, D0 + 3 * DAY);
    assert_eq!(keys(&v), [(2, m, false), (2, g, false)]);
    ack_all(&db, &v);
    db.close().unwrap();
    let db = open(&s);
    assert!(read(&db, D0 + 3 * DAY).is_empty());
}

#[test]
fn corrections_survive_close_and_reopen_until_acknowledged() {
    for flush in [false, true] {
        let s = MemStorage::new();
        let (db, _m, g) = setup(&s, 3);
        let rev = first_read(&db);
        db.put(g, D0 + 3 * IV, 9.0).unwrap();
        if flush {
            db.flush().unwrap();
        }
        db.close().unwrap();
        let db = open(&s);
        let v = read(&db, D0 + 2 * DAY);
        assert_eq!(keys(&v), [(0, g, true)], "flush {flush}");
        assert!(v[0].revision > rev);
        assert_eq!(v[0].row.bucket.max, 9.0);
        // Read, not acknowledged: comes again after a reopen, with the same revision.
        db.close().unwrap();
        let db = open(&s);
        let w = read(&db, D0 + 2 * DAY);
        assert_eq!(w, v);
        ack_all(&db, &w);
        db.close().unwrap();
        let db = open(&s);
        assert!(read(&db, D0 + 2 * DAY).is_empty());
        // The revision never goes back across a reopen.
        let x = read(&db, D0 + 3 * DAY);
        assert_eq!(keys(&x), [(2, 0, false), (2, 1, false)]);
        assert!(x[0].revision >= v[0].revision);
    }
}

#[test]
fn a_late_reading_in_an_outage_corrects_the_consumption_on_either_side() {
    let s = MemStorage::new();
    let db = open(&s);
    let m = db
        .define_point(PointMeta::new("m", PointKind::Counter).with_interval_ms(IV))
        .unwrap();
    db.create_cursor("c", CursorStart::Beginning).unwrap();
    // Day 0 until noon, nothing on days 1 and 2, day 3 whole.
    for i in (0..48).chain(3 * 96..4 * 96) {
        db.put(m, D0 + i * IV, i as f64).unwrap();
    }
    let v = read(&db, D0 + 4 * DAY);
    assert_eq!(keys(&v), [(0, m, false), (3, m, false)]);
    ack_all(&db, &v);
    db.flush().unwrap();
    // A reading of day 1 arrives late: day 0's end, day 1 and day 3's start change.
    db.put(m, D0 + DAY + 60 * IV, 156.0).unwrap();
    let v = read(&db, D0 + 4 * DAY);
    assert_eq!(keys(&v), [(0, m, true), (1, m, true), (3, m, true)]);
    assert_current(&db, &v);
}

#[test]
fn acknowledging_a_bucket_covers_what_was_read_before_it() {
    let s = MemStorage::new();
    let (db, _m, g) = setup(&s, 4);
    first_read(&db);
    db.put(g, D0 + IV, 3.0).unwrap();
    db.put(g, D0 + DAY + IV, 3.0).unwrap();
    let v = read(&db, D0 + 3 * DAY);
    assert_eq!(
        keys(&v),
        [(0, g, true), (1, g, true), (2, 0, false), (2, 1, false)]
    );
    // Acknowledging the first correction: the second and the new day are still owed.
    db.cursor_ack_buckets("c", Tier::Day, D0, g).unwrap();
    assert!(read(&db, D0 + 3 * DAY).is_empty(), "read, not acknowledged");
    db.cursor_rewind("c").unwrap();
    let w = read(&db, D0 + 3 * DAY);
    assert_eq!(keys(&w), [(1, g, true), (2, 0, false), (2, 1, false)]);
    // A bucket corrected again after it was read stays owed after its acknowledgement.
    db.put(g, D0 + DAY + 2 * IV, 4.0).unwrap();
    db.flush().unwrap();
    ack_all(&db, &w);
    let x = read(&db, D0 + 3 * DAY);
    assert_eq!(keys(&x), [(1, g, true)]);
    assert_eq!(x[0].row.bucket.max, 4.0);
    db.cursor_ack_buckets("c", Tier::Day, D0 + DAY, g).unwrap();
    // Acknowledging it again is refused as unknown; the new buckets' last again is a no-op.
    assert!(db.cursor_ack_buckets("c", Tier::Day, D0 + DAY, g).is_err());
    db.cursor_ack_buckets("c", Tier::Day, D0 + 2 * DAY, 1)
        .unwrap();
    assert!(read(&db, D0 + 3 * DAY).is_empty());
}
