//! Bundles: export, damage one byte anywhere -> refused as corruption with nothing applied;
//! the undamaged bundle imported twice gives the same data as once; cursor bundles carry
//! corrections and deletes in order.

use std::path::Path;

use meterdb::io::{MemStorage, Storage};
use meterdb::{Columns, CursorStart, Db, ErrorKind, PointKind, PointMeta, WriteBatch};

mod support;
use support::mem_opts;

const T0: i64 = 1_767_196_800_000;
const IV: i64 = 900_000;

fn all(db: &Db) -> Vec<(String, Columns)> {
    db.points(&Default::default())
        .into_iter()
        .map(|(id, m)| {
            (
                m.key,
                db.read_range(id, i64::MIN / 4, i64::MAX / 4).unwrap(),
            )
        })
        .collect()
}

fn source(s: &MemStorage) -> Db {
    let db = Db::open("/src", mem_opts(s)).unwrap();
    let a = db
        .define_point(PointMeta::new("plant/kwh", PointKind::Counter).with_unit("kWh"))
        .unwrap();
    let b = db.ensure_point("plant/kw").unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..500 {
        batch.put(a, T0 + i * IV, 1000.0 + i as f64 * 0.25);
        batch.put_with_quality(b, T0 + i * IV, (i % 17) as f64, (i % 3) as u8);
    }
    db.write(&batch).unwrap();
    db.flush().unwrap();
    db
}

#[test]
fn damaged_bundles_are_refused_and_change_nothing() {
    let s = MemStorage::new();
    let src = source(&s);
    let rep = src
        .export_bundle("/b.bundle", None, T0, T0 + 400 * IV)
        .unwrap();
    assert_eq!(rep.samples, 800);
    assert_eq!(rep.points.len(), 2);
    let good = s.read(Path::new("/b.bundle")).unwrap().to_vec();
    assert_eq!(rep.bytes, good.len() as u64);

    let dst = Db::open("/dst", mem_opts(&s)).unwrap();
    let n = good.len();
    // Header, manifest, data (start, middle, end), trailer, and a sweep.
    let mut positions = vec![
        0,
        7,
        8,
        12,
        16,
        19,
        20,
        21,
        29,
        40,
        60,
        n / 2,
        n - 40,
        n - 29,
        n - 28,
        n - 21,
        n - 13,
        n - 5,
        n - 1,
    ];
    positions.extend((0..n).step_by(97));
    for &pos in &positions {
        for flip in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[pos] ^= flip;
            s.put(Path::new("/bad.bundle"), bad);
            let e = dst.import_bundle("/bad.bundle").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corruption, "byte {pos}: {e}");
        }
    }
    // Cut short too.
    for cut in [0, 10, 20, n / 2, n - 1] {
        s.put(Path::new("/bad.bundle"), good[..cut].to_vec());
        assert_eq!(
            dst.import_bundle("/bad.bundle").unwrap_err().kind(),
            ErrorKind::Corruption
        );
    }
    assert!(
        dst.points(&Default::default()).is_empty(),
        "nothing applied"
    );

    // The undamaged bundle: twice gives what once gives.
    dst.import_bundle("/b.bundle").unwrap();
    let once = all(&dst);
    assert_eq!(once.len(), 2);
    assert_eq!(once[0].1.len(), 400);
    assert_eq!(dst.point(0).unwrap().unit, "kWh");
    let want: Vec<(String, Columns)> = all(&src)
        .into_iter()
        .map(|(k, c)| {
            let r = c.range_of(T0, T0 + 400 * IV);
            let mut x = Columns::with_capacity(r.len());
            x.extend_from(&c, r);
            (k, x)
        })
        .collect();
    assert_eq!(once, want);
    dst.import_bundle("/b.bundle").unwrap();
    assert_eq!(all(&dst), once);
    // Durable: after a reopen too.
    drop(dst);
    let dst = Db::open("/dst", mem_opts(&s)).unwrap();
    assert_eq!(all(&dst), once);
}

#[test]
fn cursor_bundle_carries_corrections_and_deletes_in_order() {
    let s = MemStorage::new();
    let src = Db::open("/src", mem_opts(&s)).unwrap();
    let a = src.ensure_point("a").unwrap();
    src.create_cursor("usb", CursorStart::Now).unwrap();
    for i in 0..10 {
        src.put(a, T0 + i * IV, i as f64).unwrap();
    }
    src.put(a, T0, 100.0).unwrap(); // correction
    src.delete_range(a, T0 + 5 * IV, T0 + 7 * IV).unwrap();
    src.put(a, T0 + 6 * IV, 66.0).unwrap(); // written again after the delete
    let rep = src.export_cursor_bundle("/c.bundle", "usb").unwrap();
    assert_eq!((rep.samples, rep.deletes), (12, 1));
    assert!(src.cursor_read("usb", 10).unwrap().is_empty());
    src.cursor_ack("usb", rep.ids.1).unwrap();

    let dst = Db::open("/dst", mem_opts(&s)).unwrap();
    let b = dst.ensure_point("other").unwrap();
    dst.put(b, T0, 1.0).unwrap();
    dst.import_bundle("/c.bundle").unwrap();
    dst.import_bundle("/c.bundle").unwrap();
    let got = dst
        .read_range(dst.point_id("a").unwrap(), T0, T0 + 10 * IV)
        .unwrap();
    assert_eq!(got, src.read_range(a, T0, T0 + 10 * IV).unwrap());
    assert_eq!(got.len(), 9);
    assert_eq!(got.values[0], 100.0);
    // An empty cursor bundle is valid and imports nothing.
    let rep = src.export_cursor_bundle("/e.bundle", "usb").unwrap();
    assert_eq!(rep.samples + rep.deletes, 0);
    assert_eq!(dst.verify_bundle("/e.bundle").unwrap(), rep);
    dst.import_bundle("/e.bundle").unwrap();
}
