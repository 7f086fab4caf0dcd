//! Upload cursors: reading every change in order (late samples, corrections, deletes),
//! acknowledging, resuming after a reopen and after a power loss, and keeping WAL files
//! alive until every cursor has acknowledged them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use meterdb::io::{MemStorage, Storage};
use meterdb::{
    change_seq, Change, ChangeKind, CursorStart, Db, Durability, ErrorKind, Options, Tier,
    WriteBatch,
};

mod support;

const T0: i64 = 1_767_196_800_000; // 2026-01-01T00:00:00+08:00 is T0 - 8 h; any round time
const IV: i64 = 900_000;
const DIR: &str = "/db";

fn opts(s: &MemStorage) -> Options {
    Options {
        wal_file_bytes: 4096,
        ..support::mem_opts(s)
    }
}

fn open(s: &MemStorage) -> Db {
    Db::open(DIR, opts(s)).unwrap()
}

fn wal_files(s: &MemStorage) -> usize {
    s.list(&Path::new(DIR).join("wal")).unwrap().len()
}

/// Reads everything the cursor has, in batches of `n`.
fn drain(db: &Db, name: &str, n: usize) -> Vec<Change> {
    let mut all = Vec::new();
    loop {
        let v = db.cursor_read(name, n).unwrap();
        if v.is_empty() {
            return all;
        }
        assert!(v.len() <= n);
        all.extend(v);
    }
}

fn samples(v: &[Change]) -> Vec<(u32, i64, f64)> {
    v.iter()
        .filter(|c| c.kind == ChangeKind::Sample)
        .map(|c| (c.point, c.ts, c.value))
        .collect()
}

#[test]
fn reads_every_change_in_order_with_corrections_late_samples_and_deletes() {
    let s = MemStorage::new();
    let db = open(&s);
    let a = db.ensure_point("a").unwrap();
    let b = db.ensure_point("b").unwrap();
    db.create_cursor("prov", CursorStart::Now).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(a, T0, 1.0);
    batch.put(b, T0, 2.0);
    db.write(&batch).unwrap();
    db.put(a, T0 + IV, 3.0).unwrap();
    db.put(a, T0 - IV, 0.5).unwrap(); // late
    db.put(a, T0, 1.5).unwrap(); // correction of a sample already written
    db.delete_range(b, T0, T0 + 1).unwrap();

    let first = db.cursor_read("prov", 3).unwrap();
    assert_eq!(first.len(), 3);
    db.cursor_ack("prov", first[2].id).unwrap();
    // A correction after the first batch was sent is sent again.
    db.put(a, T0, 1.75).unwrap();
    let rest = drain(&db, "prov", 2);
    let all: Vec<Change> = first.iter().chain(rest.iter()).copied().collect();
    assert_eq!(
        samples(&all),
        vec![
            (a, T0, 1.0),
            (b, T0, 2.0),
            (a, T0 + IV, 3.0),
            (a, T0 - IV, 0.5),
            (a, T0, 1.5),
            (a, T0, 1.75)
        ]
    );
    let del: Vec<_> = all
        .iter()
        .filter(|c| matches!(c.kind, ChangeKind::Delete { .. }))
        .collect();
    assert_eq!(del.len(), 1);
    assert_eq!((del[0].point, del[0].ts), (b, T0));
    assert_eq!(del[0].kind, ChangeKind::Delete { to: T0 + 1 });
    // Ids increase strictly; the two samples of one batch share a seq.
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(change_seq(all[0].id), change_seq(all[1].id));
    assert!(db.cursor_read("prov", 10).unwrap().is_empty());
}

#[test]
fn ack_rules() {
    let s = MemStorage::new();
    let db = open(&s);
    let a = db.ensure_point("a").unwrap();
    db.create_cursor("c", CursorStart::Now).unwrap();
    assert_eq!(
        db.create_cursor("c", CursorStart::Now).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        db.create_cursor("../x", CursorStart::Now)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    for i in 0..4 {
        db.put(a, T0 + i * IV, i as f64).unwrap();
    }
    let v = db.cursor_read("c", 2).unwrap();
    // Not read yet.
    assert_eq!(
        db.cursor_ack("c", v[1].id + (1 << 22)).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    db.cursor_ack("c", v[1].id).unwrap();
    db.cursor_ack("c", v[1].id).unwrap(); // again: no-op
    assert_eq!(
        db.cursor_ack("c", v[0].id).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.cursor_ack("nope", 1).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Rewind: what was read and not acknowledged is read again.
    let w = db.cursor_read("c", 10).unwrap();
    assert_eq!(w.len(), 2);
    db.cursor_rewind("c").unwrap();
    assert_eq!(db.cursor_read("c", 10).unwrap(), w);
    let info = db.cursors();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].name, "c");
    // Acknowledging the last change read moves past the rest of its WAL record.
    assert!(info[0].acked > v[1].id && info[0].acked <= w[0].id);
    db.drop_cursor("c").unwrap();
    assert!(db.cursors().is_empty());
    assert_eq!(db.drop_cursor("c").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn resumes_at_last_ack_after_reopen_and_flush() {
    let s = MemStorage::new();
    let db = open(&s);
    let a = db.ensure_point("a").unwrap();
    db.create_cursor("c", CursorStart::Beginning).unwrap();
    for i in 0..100 {
        db.put(a, T0 + i * IV, i as f64).unwrap();
    }
    let v = db.cursor_read("c", 40).unwrap();
    db.cursor_ack("c", v[29].id).unwrap(); // 30 acknowledged, 10 read and not
    db.flush().unwrap();
    db.close().unwrap();

    let db = open(&s);
    let rest = drain(&db, "c", 7);
    assert_eq!(rest.len(), 70);
    assert_eq!(
        rest[0].id, v[30].id,
        "resumes after the last acknowledgement"
    );
    let vals: Vec<f64> = rest.iter().map(|c| c.value).collect();
    assert_eq!(vals, (30..100).map(|i| i as f64).collect::<Vec<_>>());
}

#[test]
fn resumes_after_power_loss() {
    let s = MemStorage::new();
    let o = Options {
        durability: Durability::Sync,
        ..opts(&s)
    };
    let db = Db::open(DIR, o).unwrap();
    let a = db.ensure_point("a").unwrap();
    db.create_cursor("c", CursorStart::Now).unwrap();
    for i in 0..50 {
        db.put(a, T0 + i * IV, i as f64).unwrap();
    }
    let v = db.cursor_read("c", 20).unwrap();
    db.cursor_ack("c", v[19].id).unwrap();
    let unacked = db.cursor_read("c", 5).unwrap();
    let crashed = s.crash();
    drop(db);

    let db = open(&crashed);
    let after = drain(&db, "c", 1000);
    assert_eq!(after.len(), 30);
    assert_eq!(after[..5], unacked[..], "same ids and values again");
    assert_eq!(after[0].value, 20.0);
    assert_eq!(after[29].value, 49.0);
}

#[test]
fn slow_cursor_keeps_wal_files_until_both_acked() {
    let s = MemStorage::new();
    let db = open(&s);
    let a = db.ensure_point("a").unwrap();
    db.create_cursor("fast", CursorStart::Now).unwrap();
    db.create_cursor("slow", CursorStart::Now).unwrap();
    // 4096-byte WAL files: many files.
    for i in 0..1000 {
        db.put(a, T0 + i * IV, i as f64).unwrap();
    }
    let before = wal_files(&s);
    assert!(before > 5, "{before} wal files");
    let fast = drain(&db, "fast", 1000);
    assert_eq!(fast.len(), 1000);
    db.cursor_ack("fast", fast[999].id).unwrap();
    let slow = db.cursor_read("slow", 250).unwrap();
    db.cursor_ack("slow", slow[249].id).unwrap();
    db.flush().unwrap();
    let mid = wal_files(&s);
    assert!(mid > 3 && mid < before, "{before} -> {mid}");
    // The slow cursor still reads everything it has not acknowledged, after a reopen too.
    db.close().unwrap();
    let db = open(&s);
    let rest = drain(&db, "slow", 33);
    assert_eq!(rest.len(), 750);
    assert_eq!(rest[0].value, 250.0);
    db.cursor_ack("slow", rest[749].id).unwrap();
    let mut left = s.list(&Path::new(DIR).join("wal")).unwrap();
    left.sort();
    assert!(
        left.len() <= 2,
        "wal files left: {left:?} {:?}",
        db.cursors()
    );
    // Reads of the data stay right.
    assert_eq!(db.read_range(a, T0, T0 + 1000 * IV).unwrap().len(), 1000);
}

#[test]
fn without_cursors_flush_removes_wal_files_as_before() {
    let s = MemStorage::new();
    let db = open(&s);
    let a = db.ensure_point("a").unwrap();
    for i in 0..400 {
        db.put(a, T0 + i * IV, i as f64).unwrap();
    }
    db.flush().unwrap();
    assert!(wal_files(&s) <= 1);
}

#[test]
fn many_writers_one_reader_sees_each_change_once() {
    let s = MemStorage::new();
    let db = Arc::new(open(&s));
    let pts: Vec<u32> = (0..4)
        .map(|i| db.ensure_point(&format!("p{i}")).unwrap())
        .collect();
    db.create_cursor("c", CursorStart::Now).unwrap();
    let hs: Vec<_> = pts
        .iter()
        .map(|&p| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..300 {
                    db.put(p, T0 + i * IV, i as f64).unwrap();
                    if i % 100 == 99 {
                        db.flush().unwrap();
                    }
                }
            })
        })
        .collect();
    let mut got = Vec::new();
    let mut done = false;
    while !done {
        done = hs.iter().all(|h| h.is_finished());
        let v = db.cursor_read("c", 64).unwrap();
        if let Some(l) = v.last() {
            db.cursor_ack("c", l.id).unwrap();
        }
        got.extend(v);
    }
    for h in hs {
        h.join().unwrap();
    }
    got.extend(drain(&db, "c", 64));
    assert_eq!(got.len(), 1200);
    let mut per: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for c in &got {
        per.entry(c.point).or_default().push(c.value);
    }
    for p in pts {
        assert_eq!(per[&p], (0..300).map(|i| i as f64).collect::<Vec<_>>());
    }
}

#[test]
fn buckets_are_read_once_closed() {
    let s = MemStorage::new();
    let db = Db::open(
        DIR,
        Options {
            tz_offset_min: Some(0),
            ..opts(&s)
        },
    )
    .unwrap();
    let a = db.ensure_point("a").unwrap();
    let b = db.ensure_point("b").unwrap();
    db.create_cursor("c", CursorStart::Beginning).unwrap();
    let day = 86_400_000;
    let d0 = T0 - T0.rem_euclid(day);
    for i in 0..(3 * 96) {
        db.put(a, d0 + i * IV, 1.0).unwrap();
        db.put(b, d0 + i * IV, 2.0).unwrap();
    }
    // Newest sample is in day 3: days 1 and 2 are closed.
    let v = db.cursor_read_buckets("c", Tier::Day, 3, None).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!((v[0].point, v[0].row.bucket.start), (a, d0));
    assert_eq!((v[1].point, v[1].row.bucket.start), (b, d0));
    assert_eq!((v[2].point, v[2].row.bucket.start), (a, d0 + day));
    assert_eq!(v[0].row.bucket.count, 96);
    assert_eq!(v[1].row.bucket.sum, 192.0);
    db.cursor_ack_buckets("c", Tier::Day, d0 + day, a).unwrap();
    let w = db.cursor_read_buckets("c", Tier::Day, 10, None).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].point, w[0].row.bucket.start), (b, d0 + day));
    // A watermark given explicitly closes day 3.
    let x = db
        .cursor_read_buckets("c", Tier::Day, 10, Some(d0 + 3 * day))
        .unwrap();
    assert_eq!(x.len(), 2);
    // After a reopen the unacknowledged buckets come again.
    db.close().unwrap();
    let db = open(&s);
    let y = db
        .cursor_read_buckets("c", Tier::Day, 10, Some(d0 + 3 * day))
        .unwrap();
    assert_eq!(y.len(), 3);
    assert_eq!(y[0], w[0]);
}

#[test]
fn real_files_reader_follows_writer_without_sync_mode() {
    // Durability::None: the WAL's buffered writer spills partial records to the file; a
    // cursor read syncs first and never returns a torn record.
    let tmp = tempfile::tempdir().unwrap();
    let o = Options {
        durability: Durability::None,
        wal_file_bytes: 256 * 1024,
        ..Options::default()
    };
    let db = Arc::new(Db::open(tmp.path(), o.clone()).unwrap());
    let a = db.ensure_point("a").unwrap();
    db.create_cursor("c", CursorStart::Now).unwrap();
    let w = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..20_000 {
                db.put(a, T0 + i * 1000, i as f64).unwrap();
            }
        })
    };
    let mut got: Vec<f64> = Vec::new();
    while !w.is_finished() || got.len() < 20_000 {
        let v = db.cursor_read("c", 3000).unwrap();
        if let Some(l) = v.last() {
            db.cursor_ack("c", l.id).unwrap();
        }
        got.extend(v.iter().map(|c| c.value));
        if w.is_finished() && v.is_empty() {
            break;
        }
    }
    w.join().unwrap();
    assert_eq!(got, (0..20_000).map(|i| i as f64).collect::<Vec<_>>());
    drop(db);
    let db = Db::open(tmp.path(), o).unwrap();
    assert!(db.cursor_read("c", 10).unwrap().is_empty());
}

#[test]
fn damaged_cursor_file_is_an_error_not_a_panic() {
    let s = MemStorage::new();
    let db = open(&s);
    db.create_cursor("c", CursorStart::Now).unwrap();
    let p = Path::new(DIR).join("cursors").join("c.cur");
    let good = s.read(&p).unwrap().to_vec();
    let mut bad = good.clone();
    bad[20] ^= 1;
    s.put(&p, bad);
    assert_eq!(
        db.verify().unwrap().len(),
        1,
        "verify sees a damaged cursor file"
    );
    s.put(&p, good.clone());
    assert!(db.verify().unwrap().is_empty());
    drop(db);
    for i in 0..good.len() {
        for cut in [false, true] {
            let mut bad = good.clone();
            if cut {
                bad.truncate(i);
            } else {
                bad[i] ^= 0x10;
            }
            s.put(&p, bad);
            match Db::open(DIR, opts(&s)) {
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::Corruption | ErrorKind::UnsupportedVersion
                    ),
                    "byte {i}: {e}"
                ),
                Ok(_) => panic!("byte {i} (cut {cut}): damage not seen"),
            }
        }
    }
    s.put(&p, good);
    let db = open(&s);
    assert_eq!(db.cursors().len(), 1);
}

/// Figures: `cargo test -p meterdb --test forward_cursor -- --ignored --nocapture`.
#[test]
#[ignore]
fn figures() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(
        tmp.path(),
        Options {
            durability: Durability::None,
            ..Options::default()
        },
    )
    .unwrap();
    let pts: Vec<u32> = (0..100)
        .map(|i| db.ensure_point(&format!("m{i}")).unwrap())
        .collect();
    db.create_cursor("c", CursorStart::Now).unwrap();
    let n = 2_000_000i64;
    let t = std::time::Instant::now();
    let mut b = WriteBatch::new();
    for i in 0..n {
        b.put(pts[(i % 100) as usize], T0 + (i / 100) * IV, i as f64);
        if b.len() == 1000 {
            db.write(&b).unwrap();
            b.clear();
        }
    }
    let w = t.elapsed();
    let t = std::time::Instant::now();
    let mut got = 0;
    let mut acks = std::time::Duration::ZERO;
    let mut n_acks = 0;
    loop {
        let v = db.cursor_read("c", 10_000).unwrap();
        let Some(l) = v.last() else { break };
        let ta = std::time::Instant::now();
        db.cursor_ack("c", l.id).unwrap();
        acks += ta.elapsed();
        n_acks += 1;
        got += v.len();
    }
    let r = t.elapsed();
    assert_eq!(got as i64, n);
    let reads = r - acks;
    println!(
        "write {n} samples in batches of 1000: {w:?}; cursor reads in batches of 10000: \
         {reads:?} ({:.1} M changes/s); {n_acks} acks: {acks:?} ({:?} each)",
        n as f64 / reads.as_secs_f64() / 1e6,
        acks / n_acks
    );
}
