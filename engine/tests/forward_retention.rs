//! Retention: whole partitions dropped by age and by bytes, per tier; raw data an upload
//! cursor has not acknowledged is never dropped by age, and a byte cap that would need it
//! refuses writes (StorageFull) unless dropping unacknowledged data is allowed (recorded).

use std::sync::Arc;

use meterdb::io::MemStorage;
use meterdb::{
    CursorStart, Db, ErrorKind, Options, OutcomeFilter, Retention, Tier, TierLimit, WriteBatch,
};

const DAY: i64 = 86_400_000;
const D0: i64 = 1_767_225_600_000; // a UTC midnight
const IV: i64 = 900_000;

fn opts(s: &MemStorage, r: Retention) -> Options {
    Options {
        storage: Some(Arc::new(s.clone())),
        background: false,
        partition_ms: DAY,
        tz_offset_min: Some(0),
        retention: r,
        ..Options::default()
    }
}

fn write_days(db: &Db, p: u32, days: std::ops::Range<i64>) {
    for d in days {
        let mut b = WriteBatch::new();
        for i in 0..96 {
            b.put(p, D0 + d * DAY + i * IV, (d * 96 + i) as f64);
        }
        db.write(&b).unwrap();
    }
}

fn days_present(db: &Db, p: u32) -> Vec<i64> {
    let c = db.read_range(p, D0 - 100 * DAY, D0 + 100 * DAY).unwrap();
    let mut d: Vec<i64> = c.ts.iter().map(|t| (t - D0).div_euclid(DAY)).collect();
    d.dedup();
    d
}

#[test]
fn age_drops_old_partitions_per_tier() {
    let s = MemStorage::new();
    let r = Retention {
        raw: TierLimit {
            max_age_ms: Some(3 * DAY),
            max_bytes: None,
        },
        tiers: vec![(
            Tier::Hour,
            TierLimit {
                max_age_ms: Some(100 * DAY),
                max_bytes: None,
            },
        )],
        drop_unacked: false,
    };
    let db = Db::open("/db", opts(&s, r)).unwrap();
    // Declared as read every minute, so that its hour tier is stored (and kept longer).
    let p = db
        .define_point(
            meterdb::PointMeta::new("p", meterdb::PointKind::Gauge).with_interval_ms(60_000),
        )
        .unwrap();
    write_days(&db, p, 0..10);
    db.flush().unwrap();
    // Newest sample is in day 9: partitions ending at or before day 6 (days 0..=5) go.
    assert_eq!(days_present(&db, p), vec![6, 7, 8, 9]);
    // The hour tier keeps its own (longer) history.
    let hours = db.rollup(p, Tier::Hour, D0, D0 + 10 * DAY).unwrap();
    assert_eq!(hours.len(), 240);
    // Reopen: still so.
    drop(db);
    let db = Db::open("/db", opts(&s, Retention::default())).unwrap();
    assert_eq!(days_present(&db, p), vec![6, 7, 8, 9]);
}

#[test]
fn unacked_raw_data_is_never_dropped_by_age() {
    let s = MemStorage::new();
    let r = Retention {
        raw: TierLimit {
            max_age_ms: Some(3 * DAY),
            max_bytes: None,
        },
        ..Retention::default()
    };
    let db = Db::open("/db", opts(&s, r)).unwrap();
    let p = db.ensure_point("p").unwrap();
    db.create_cursor("prov", CursorStart::Now).unwrap();
    write_days(&db, p, 0..10);
    db.flush().unwrap();
    assert_eq!(days_present(&db, p), (0..10).collect::<Vec<_>>());
    // Acknowledge days 0..5 (5 records of 96 changes): those may go now.
    let v = db.cursor_read("prov", 5 * 96).unwrap();
    db.cursor_ack("prov", v.last().unwrap().id).unwrap();
    let rep = db.apply_retention().unwrap();
    assert_eq!(rep.dropped.len(), 5, "{rep:?}");
    assert_eq!(days_present(&db, p), vec![5, 6, 7, 8, 9]);
}

#[test]
fn byte_cap_refuses_writes_unless_unacked_may_go() {
    for allow in [false, true] {
        let s = MemStorage::new();
        let r = Retention {
            raw: TierLimit {
                max_age_ms: None,
                max_bytes: Some(8_000),
            },
            drop_unacked: allow,
            ..Retention::default()
        };
        let db = Db::open("/db", opts(&s, r)).unwrap();
        let p = db.ensure_point("p").unwrap();
        db.create_cursor("prov", CursorStart::Now).unwrap();
        write_days(&db, p, 0..10); // about 20 kB of WAL, all unacknowledged
        db.flush().unwrap();
        let rep = db.apply_retention().unwrap();
        if !allow {
            assert!(rep.full, "{rep:?}");
            let e = db.put(p, D0 + 10 * DAY, 1.0).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::StorageFull);
            // Nothing was lost: the cursor still reads every change.
            let mut n = 0;
            let mut last = 0;
            loop {
                let v = db.cursor_read("prov", 500).unwrap();
                let Some(l) = v.last() else { break };
                n += v.len();
                last = l.id;
            }
            assert_eq!(n, 960);
            // Acknowledging makes room: writes go on.
            db.cursor_ack("prov", last).unwrap();
            db.put(p, D0 + 10 * DAY, 1.0).unwrap();
        } else {
            // The flush applied retention already and moved the cursor forward.
            assert!(!rep.full, "{rep:?}");
            db.put(p, D0 + 10 * DAY, 1.0).unwrap();
            let recs = db
                .upload_records(i64::MIN, i64::MAX, OutcomeFilter::Failed)
                .unwrap();
            assert_eq!(recs.len(), 1);
            assert_eq!(recs[0].cursor, "prov");
            // The cursor moved past the dropped changes.
            assert_eq!(db.cursor_read("prov", 10).unwrap().len(), 1);
        }
        let st = db.stats().unwrap();
        assert!(
            st.segment_bytes + st.wal_bytes <= 8_000 + 4_000,
            "{} + {}",
            st.segment_bytes,
            st.wal_bytes
        );
    }
}
