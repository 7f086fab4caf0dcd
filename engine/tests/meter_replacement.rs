//! Meter replacements and register settings as durable metadata: through the WAL, the
//! catalog file, power losses, bundles, and metadata updates that do not name them.

use std::path::Path;

use meterdb::io::MemStorage;
use meterdb::{Db, ErrorKind, PointKind, PointMeta, Register, Replacement, Tier, WriteBatch};

mod support;
use support::mem_opts;

const H: i64 = 3_600_000;
/// 2026-01-01T00:00:00+08:00.
const T0: i64 = 1_767_196_800_000;

/// A register read hourly for a day, replaced at 12:00 (old meter at 1000 + 2/h, the new
/// one from 5 + 2/h).
fn write_day(db: &Db, id: u32) {
    let mut b = WriteBatch::new();
    for h in 0..24 {
        let v = if h < 12 {
            1000.0 + 2.0 * h as f64
        } else {
            5.0 + 2.0 * (h - 12) as f64
        };
        b.put(id, T0 + h * H, v);
    }
    b.put(id, T0 + 24 * H, 5.0 + 24.0);
    db.write(&b).unwrap();
}

fn day_consumption(db: &Db, id: u32) -> f64 {
    let rows = db.rollup(id, Tier::Day, T0, T0 + 24 * H).unwrap();
    assert_eq!(rows.len(), 1);
    rows[0].consumption.unwrap()
}

#[test]
fn a_replacement_is_durable_through_power_loss_flush_and_reopen() {
    let mut s = MemStorage::new();
    let db = Db::open(Path::new("/db"), mem_opts(&s)).unwrap();
    let id = db
        .define_point(PointMeta::new("kwh", PointKind::Counter))
        .unwrap();
    write_day(&db, id);
    // Unrecorded: 1022 -> 5 is a fall to under 10%, a new meter from zero (+5).
    assert_eq!(day_consumption(&db, id), 22.0 + 5.0 + 24.0);
    // Recorded (old meter's last reading 1023, the new one's first 4.5): the pair 11:00 ->
    // 12:00 counts 1 + 0.5.
    db.replace_meter(id, T0 + 12 * H - 1, 1023.0, 4.5).unwrap();
    assert_eq!(day_consumption(&db, id), 22.0 + 1.5 + 24.0);
    // Survives a power loss (the WAL), a flush, and a reopen (the catalog file).
    let crashed = s.crash();
    drop(db);
    s = crashed;
    let db = Db::open(Path::new("/db"), mem_opts(&s)).unwrap();
    assert_eq!(day_consumption(&db, id), 47.5);
    db.flush().unwrap();
    db.close().unwrap();
    let db = Db::open(Path::new("/db"), mem_opts(&s)).unwrap();
    assert_eq!(
        db.point(id).unwrap().replacements,
        vec![Replacement {
            ts: T0 + 12 * H - 1,
            old_final: 1023.0,
            new_initial: 4.5
        }]
    );
    assert_eq!(day_consumption(&db, id), 47.5);
    // A metadata update that names no replacement keeps it; forgetting it derives the
    // buckets again, also once flushed.
    db.define_point(PointMeta::new("kwh", PointKind::Counter).with_unit("kWh"))
        .unwrap();
    assert_eq!(db.point(id).unwrap().replacements.len(), 1);
    db.forget_meter_replacement(id, T0 + 12 * H - 1).unwrap();
    assert_eq!(day_consumption(&db, id), 51.0);
    db.flush().unwrap();
    assert_eq!(day_consumption(&db, id), 51.0);
    assert_eq!(
        db.forget_meter_replacement(id, T0).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn bad_replacements_are_refused_and_change_nothing() {
    let s = MemStorage::new();
    let db = Db::open(Path::new("/db"), mem_opts(&s)).unwrap();
    let g = db
        .define_point(PointMeta::new("kw", PointKind::Gauge))
        .unwrap();
    let c = db
        .define_point(PointMeta::new("kwh", PointKind::Counter))
        .unwrap();
    let kind = |r: meterdb::Result<()>| r.unwrap_err().kind();
    assert_eq!(
        kind(db.replace_meter(g, T0, 1.0, 0.0)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(db.replace_meter(c, T0, f64::NAN, 0.0)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(db.replace_meter(c, i64::MAX, 1.0, 0.0)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(db.replace_meter(99, T0, 1.0, 0.0)),
        ErrorKind::NotFound
    );
    assert!(db.point(c).unwrap().replacements.is_empty());
    // A second replacement at the same time replaces the first.
    db.replace_meter(c, T0, 1.0, 0.0).unwrap();
    db.replace_meter(c, T0, 2.0, 0.5).unwrap();
    assert_eq!(db.point(c).unwrap().replacements.len(), 1);
    assert_eq!(db.point(c).unwrap().replacements[0].old_final, 2.0);
}

#[test]
fn metadata_updates_survive_a_flush_that_drops_the_wal() {
    // A metadata update of an existing point (the number of points unchanged) is written to
    // the catalog file by the next flush, before the WAL holding it is dropped.
    let s = MemStorage::new();
    let db = Db::open(Path::new("/db"), mem_opts(&s)).unwrap();
    let id = db
        .define_point(PointMeta::new("kwh", PointKind::Counter))
        .unwrap();
    db.put(id, T0, 1.0).unwrap();
    db.flush().unwrap();
    db.define_point(
        PointMeta::new("kwh", PointKind::Counter)
            .with_register(Register::Net)
            .with_rollover(99_999.0),
    )
    .unwrap();
    db.put(id, T0 + H, 2.0).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let db = Db::open(Path::new("/db"), mem_opts(&s)).unwrap();
    let m = db.point(id).unwrap();
    assert_eq!((m.register, m.rollover), (Register::Net, Some(99_999.0)));
}

#[test]
fn bundles_carry_replacements_and_registers() {
    let s = MemStorage::new();
    let db = Db::open(Path::new("/a"), mem_opts(&s)).unwrap();
    let id = db
        .define_point(PointMeta::new("kwh", PointKind::Counter).with_register(Register::Net))
        .unwrap();
    write_day(&db, id);
    db.replace_meter(id, T0 + 12 * H - 1, 1023.0, 4.5).unwrap();
    db.export_bundle("/a.bundle", None, T0, T0 + 25 * H)
        .unwrap();
    let other = Db::open(Path::new("/b"), mem_opts(&s)).unwrap();
    other.import_bundle("/a.bundle").unwrap();
    let id2 = other.point_id("kwh").unwrap();
    let m = other.point(id2).unwrap();
    assert_eq!(m.register, Register::Net);
    assert_eq!(m.replacements, db.point(id).unwrap().replacements);
    assert_eq!(day_consumption(&other, id2), day_consumption(&db, id));
}
