//! A cursor created with `CursorStart::Now` while the WAL held writes not yet synced
//! (`Durability::None` or `Interval`) started after them; a power loss took them back, the
//! next writes reused their seqs, below the cursor's durable position, and the cursor never
//! delivered those writes, acknowledged as they were. Found by `crash_power_loss.rs`
//! (seed 2747987437744027328). `create_cursor` now syncs the WAL first, as `cursor_read`
//! does, so its position is never past what a power loss can take back.

use meterdb::io::MemStorage;
use meterdb::{CursorStart, Db, Durability, Options};

mod support;

fn opts(s: &MemStorage) -> Options {
    Options {
        durability: Durability::None,
        ..support::mem_opts(s)
    }
}

#[test]
fn a_cursor_created_now_delivers_writes_made_after_a_power_loss() {
    let s = MemStorage::new();
    let db = Db::open("/db", opts(&s)).unwrap();
    let p = db.ensure_point("p").unwrap();
    db.sync().unwrap();
    // Written, not synced: a power loss may take it back.
    db.put(p, 1_767_225_600_000, 1.0).unwrap();
    db.create_cursor("c", CursorStart::Now).unwrap();
    let s = s.crash();
    drop(db);
    let db = Db::open("/db", opts(&s)).unwrap();
    // Written after the cursor was created, and acknowledged.
    db.put(p, 1_767_225_900_000, 2.0).unwrap();
    db.sync().unwrap();
    let got: Vec<f64> = db
        .cursor_read("c", 10)
        .unwrap()
        .iter()
        .map(|c| c.value)
        .collect();
    assert_eq!(
        got,
        vec![2.0],
        "the write after the cursor's creation is delivered"
    );
}
