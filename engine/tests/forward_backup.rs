//! Online backup: a copy taken while writers and flushes run holds every write
//! acknowledged before the backup call, and opens as a database; cursors and the upload
//! log come along.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use meterdb::io::MemStorage;
use meterdb::{
    CursorStart, Db, Durability, ErrorKind, Options, OutcomeFilter, UploadOutcome, UploadRecord,
};

const T0: i64 = 1_767_196_800_000;
const IV: i64 = 60_000;

#[test]
fn backup_under_concurrent_writes_has_every_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let opts = Options {
        durability: Durability::Sync,
        memtable_bytes: 64 * 1024,
        wal_file_bytes: 64 * 1024,
        ..Options::default()
    };
    let db = Arc::new(Db::open(&src, opts.clone()).unwrap());
    let writers = 3;
    let pts: Vec<u32> = (0..writers)
        .map(|i| db.ensure_point(&format!("w{i}")).unwrap())
        .collect();
    db.create_cursor("prov", CursorStart::Beginning).unwrap();
    let done: Vec<Arc<AtomicI64>> = (0..writers).map(|_| Arc::new(AtomicI64::new(0))).collect();
    let stop = Arc::new(AtomicI64::new(0));
    let hs: Vec<_> = (0..writers)
        .map(|w| {
            let (db, done, stop, p) = (db.clone(), done[w].clone(), stop.clone(), pts[w]);
            std::thread::spawn(move || {
                let mut i = 0;
                while stop.load(Ordering::Acquire) == 0 || i < 1500 {
                    db.put(p, T0 + i * IV, i as f64).unwrap();
                    i += 1;
                    done.store(i, Ordering::Release); // samples 0..i acknowledged
                }
            })
        })
        .collect();
    // Let some data reach segment files first.
    while done
        .iter()
        .map(|d| d.load(Ordering::Acquire))
        .min()
        .unwrap()
        < 500
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    db.flush().unwrap();
    while done
        .iter()
        .map(|d| d.load(Ordering::Acquire))
        .min()
        .unwrap()
        < 1000
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before: Vec<i64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();
    let dst = tmp.path().join("copy");
    let rep = db.backup(&dst).unwrap();
    stop.store(1, Ordering::Release);
    for h in hs {
        h.join().unwrap();
    }
    assert!(rep.linked_files > 0, "{rep:?}");
    assert!(rep.copied_files > 0, "{rep:?}");
    assert_eq!(
        db.backup(&dst).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );

    let copy = Db::open(&dst, opts.clone()).unwrap();
    for w in 0..writers {
        let cols = copy.read_range(pts[w], T0, i64::MAX / 2).unwrap();
        assert!(
            cols.len() as i64 >= before[w],
            "writer {w}: {} samples in the copy, {} acknowledged before",
            cols.len(),
            before[w]
        );
        for (k, (&ts, &v)) in cols.ts.iter().zip(&cols.values).enumerate() {
            assert_eq!((ts, v), (T0 + k as i64 * IV, k as f64));
        }
    }
    // The cursor came along and reads the acknowledged writes from the copy's WAL.
    assert_eq!(copy.cursors().len(), 1);
    let mut n = 0usize;
    loop {
        let v = copy.cursor_read("prov", 5000).unwrap();
        if v.is_empty() {
            break;
        }
        n += v.len();
    }
    assert!(n as i64 >= before.iter().sum::<i64>(), "{n}");
    assert!(copy.verify().unwrap().is_empty());
    // The copy is a database of its own: writing to it leaves the original alone.
    copy.put(pts[0], T0 - IV, -1.0).unwrap();
    copy.flush().unwrap();
    copy.compact().unwrap();
    drop(copy);
    assert!(db.read_range(pts[0], T0 - IV, T0).unwrap().is_empty());
    assert!(db.verify().unwrap().is_empty());
}

#[test]
fn backup_on_mem_storage_copies_cursors_and_upload_log() {
    let s = MemStorage::new();
    let opts = Options {
        storage: Some(Arc::new(s.clone())),
        background: false,
        ..Options::default()
    };
    let db = Db::open("/db", opts.clone()).unwrap();
    let a = db.ensure_point("a").unwrap();
    db.create_cursor("c", CursorStart::Now).unwrap();
    for i in 0..100 {
        db.put(a, T0 + i * IV, i as f64).unwrap();
    }
    db.flush().unwrap();
    for i in 100..150 {
        db.put(a, T0 + i * IV, i as f64).unwrap();
    }
    let v = db.cursor_read("c", 30).unwrap();
    db.cursor_ack("c", v[29].id).unwrap();
    db.record_upload(&UploadRecord {
        cursor: "c".into(),
        first_id: v[0].id,
        last_id: v[29].id,
        samples: 30,
        outcome: UploadOutcome::Ok,
        platform_time: None,
        at: T0,
    })
    .unwrap();
    db.backup("/copy").unwrap();
    db.put(a, T0 + 150 * IV, 150.0).unwrap(); // after the backup: not in the copy
    let copy = Db::open("/copy", opts).unwrap();
    assert_eq!(copy.read_range(a, T0, i64::MAX / 2).unwrap().len(), 150);
    let rest = copy.cursor_read("c", 1000).unwrap();
    assert_eq!(rest.len(), 120);
    assert_eq!(rest[0].value, 30.0);
    assert_eq!(
        copy.upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
            .unwrap()
            .len(),
        1
    );
}
