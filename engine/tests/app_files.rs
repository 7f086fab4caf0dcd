//! Application files (`Db::app_files`): names checked, atomic replace, copied by a backup,
//! a replace's leftover `.tmp` removed at open; and `Db::define_points`.

use std::path::Path;

use meterdb::io::{MemStorage, Storage};
use meterdb::{Db, Durability, ErrorKind, Options, PointKind, PointMeta};

mod support;

fn opts(s: &MemStorage) -> Options {
    Options {
        durability: Durability::None,
        ..support::mem_opts(s)
    }
}

#[test]
fn read_replace_backup_and_leftovers() {
    let s = MemStorage::new();
    let db = Db::open("/db", opts(&s)).unwrap();
    {
        let files = db.app_files();
        assert_eq!(files.read("PLAN").unwrap(), None);
        files.replace("PLAN", b"one").unwrap();
        files.replace("PLAN", b"two").unwrap();
        assert_eq!(files.read("PLAN").unwrap().as_deref(), Some(&b"two"[..]));
        for bad in ["MANIFEST", "LOCK", "TIERS", "plan", "PLAN.tmp", "A/B", ""] {
            let e = files.replace(bad, b"x").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        assert_eq!(files.list().unwrap(), ["PLAN"]);
    }
    db.backup("/copy").unwrap();
    drop(db);
    assert_eq!(&s.read(Path::new("/copy/PLAN")).unwrap()[..], b"two");
    // A replace cut short leaves its temporary file: removed at open, the file intact.
    s.put(Path::new("/db/PLAN.tmp"), b"half".to_vec());
    let db = Db::open("/db", opts(&s)).unwrap();
    assert!(!s.exists(Path::new("/db/PLAN.tmp")));
    assert_eq!(
        db.app_files().read("PLAN").unwrap().as_deref(),
        Some(&b"two"[..])
    );
}

#[test]
fn define_points_is_durable_and_checks_all_first() {
    let s = MemStorage::new();
    let db = Db::open("/db", opts(&s)).unwrap();
    let metas = [
        PointMeta::new("a", PointKind::Counter).with_unit("kWh"),
        PointMeta::new("b", PointKind::Gauge),
    ];
    let ids = db.define_points(&metas).unwrap();
    assert_eq!(ids.len(), 2);
    // One invalid metadata: nothing defined.
    let bad = [
        PointMeta::new("c", PointKind::Gauge),
        PointMeta::new("", PointKind::Gauge),
    ];
    assert!(db.define_points(&bad).is_err());
    assert_eq!(db.point_id("c"), None);
    // Durable without a sync of ours, though the durability mode is None (a crash keeps
    // only what was synced).
    let after = s.crash();
    drop(db);
    let db = Db::open("/db", opts(&after)).unwrap();
    assert_eq!(db.point_id("a"), Some(ids[0]));
    assert_eq!(db.point(ids[0]).unwrap().unit, "kWh");
    assert_eq!(db.point_id("b"), Some(ids[1]));
}
