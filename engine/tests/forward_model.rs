//! A model test of upload cursors: random writes, deletes, flushes, reads, acks, rewinds,
//! reopens and power losses; what a receiver that drops duplicate ids ends up with must be
//! exactly every change written, in write order, and a change read twice must be the same.

use std::collections::BTreeMap;
use std::sync::Arc;

use meterdb::io::MemStorage;
use meterdb::{Change, ChangeKind, CursorStart, Db, Durability, Options, WriteBatch};

mod support;
use support::Rng;

const T0: i64 = 1_767_196_800_000;

fn opts(s: &MemStorage) -> Options {
    Options {
        storage: Some(Arc::new(s.clone())),
        background: false,
        durability: Durability::Sync,
        wal_file_bytes: 2048,
        memtable_bytes: 8192,
        ..Options::default()
    }
}

type Key = (u32, i64, u64, bool, i64); // point, ts, value bits, is delete, delete end

fn key(c: &Change) -> Key {
    match c.kind {
        ChangeKind::Sample => (c.point, c.ts, c.value.to_bits(), false, 0),
        ChangeKind::Delete { to } => (c.point, c.ts, 0, true, to),
    }
}

#[test]
fn cursor_model() {
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut s = MemStorage::new();
        let mut db = Db::open("/db", opts(&s)).unwrap();
        for p in 0..3 {
            db.ensure_point(&format!("p{p}")).unwrap();
        }
        db.create_cursor("c", CursorStart::Now).unwrap();
        let mut written: Vec<Key> = Vec::new();
        let mut seen: BTreeMap<u64, Key> = BTreeMap::new();
        let mut order: Vec<u64> = Vec::new();
        let mut value = 0.0;
        for _ in 0..400 {
            match rng.below(100) {
                0..=39 => {
                    let mut b = WriteBatch::new();
                    for _ in 0..=rng.below(5) {
                        let p = rng.below(3) as u32;
                        let ts = T0 + rng.below(50) as i64 * 60_000;
                        value += 1.0;
                        b.put(p, ts, value);
                        written.push((p, ts, f64::to_bits(value), false, 0));
                    }
                    db.write(&b).unwrap();
                }
                40..=44 => {
                    let p = rng.below(3) as u32;
                    let f = T0 + rng.below(50) as i64 * 60_000;
                    let t = f + 1 + rng.below(600_000) as i64;
                    db.delete_range(p, f, t).unwrap();
                    written.push((p, f, 0, true, t));
                }
                45..=49 => db.flush().unwrap(),
                50..=84 => {
                    let v = db.cursor_read("c", 1 + rng.below(20) as usize).unwrap();
                    for c in &v {
                        match seen.get(&c.id) {
                            Some(k) => assert_eq!(*k, key(c), "seed {seed}: id {} changed", c.id),
                            None => {
                                if let Some(&last) = order.last() {
                                    assert!(c.id > last, "seed {seed}: ids go back");
                                }
                                seen.insert(c.id, key(c));
                                order.push(c.id);
                            }
                        }
                    }
                    if let Some(l) = v.last() {
                        if rng.below(10) < 7 {
                            db.cursor_ack("c", l.id).unwrap();
                        }
                    }
                }
                85..=89 => db.cursor_rewind("c").unwrap(),
                90..=94 => {
                    db.close().unwrap();
                    db = Db::open("/db", opts(&s)).unwrap();
                }
                _ => {
                    s = s.crash();
                    drop(db);
                    db = Db::open("/db", opts(&s)).unwrap();
                }
            }
        }
        loop {
            let v = db.cursor_read("c", 50).unwrap();
            let Some(l) = v.last() else { break };
            for c in &v {
                if let Some(k) = seen.get(&c.id) {
                    assert_eq!(*k, key(c));
                } else {
                    seen.insert(c.id, key(c));
                    order.push(c.id);
                }
            }
            db.cursor_ack("c", l.id).unwrap();
        }
        let got: Vec<Key> = order.iter().map(|id| seen[id]).collect();
        assert_eq!(got, written, "seed {seed}");
    }
}
