//! The raw partition width is fixed when a database is created: reopening with the default
//! adopts it (so partitions never overlap and newer samples keep winning), and reopening with
//! another width is refused.

use meterdb::{Db, ErrorKind, Options, PointKind, PointMeta};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_767_196_800_000; // 2026-01-01T00:00:00+08:00

#[test]
fn reopening_adopts_the_stored_width_or_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let one_day = Options {
        partition_ms: DAY,
        ..Options::default()
    };
    {
        let db = Db::open(dir.path(), one_day.clone()).unwrap();
        let p = db
            .define_point(PointMeta::new("p", PointKind::Gauge))
            .unwrap();
        for d in 0..10 {
            db.put(p, T0 + d * DAY, d as f64).unwrap();
        }
        db.flush().unwrap();
    }
    {
        // The default width adopts the stored one: a correction of a flushed sample wins.
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let p = db.point_id("p").unwrap();
        db.put(p, T0 + 3 * DAY, 30.0).unwrap();
        db.flush().unwrap();
        db.compact().unwrap();
        let c = db.read_range(p, T0, T0 + 10 * DAY).unwrap();
        assert_eq!(c.len(), 10);
        assert_eq!(c.values[3], 30.0);
    }
    let two_days = Options {
        partition_ms: 2 * DAY,
        ..Options::default()
    };
    let Err(err) = Db::open(dir.path(), two_days) else {
        panic!("a database of 1-day partitions opened with 2-day partitions");
    };
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("86400000"), "{err}");
    // The original width still opens, and the data is intact.
    let db = Db::open(dir.path(), one_day).unwrap();
    let p = db.point_id("p").unwrap();
    let c = db.read_range(p, T0, T0 + 10 * DAY).unwrap();
    assert_eq!(c.values[3], 30.0);
}
