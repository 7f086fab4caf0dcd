//! Memory set by the options (docs/architecture.md, "Memory"): with 200,000 points, the peak
//! of what the engine allocates while readings arrive interval by interval, are flushed and
//! compacted stays under twice `memtable_bytes` plus a per-point overhead, measured here by
//! a counting allocator (this test binary's own global allocator). The catalog's resident
//! cost per point is measured too. Both limits are written in docs/architecture.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use meterdb::{Db, Durability, Options, PointKind, PointMeta, WriteBatch};

struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is passed to the system allocator unchanged; the counters only add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = NOW.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                NOW.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const POINTS: usize = 200_000;
const INTERVALS: i64 = 8;
const MEMTABLE: usize = 32 << 20;
/// 2026-03-01T00:00:00+08:00.
const DAY0: i64 = 1_772_294_400_000;
const INTERVAL: i64 = 900_000;

/// Catalog bytes per defined point (key, metadata, lookup), at most.
const CATALOG_PER_POINT: usize = 600;
/// What a flush and a compaction hold per point beyond the memtables, at most: the new
/// files' indexes until they are finished, the open segments' block positions, the
/// memtables' per-point records and the split of a flush by partition.
const FLUSH_PER_POINT: usize = 1_000;
/// Threads, buffers and queues that do not grow with the points.
const FIXED: usize = 32 << 20;

#[test]
fn peak_allocation_is_the_budget_plus_a_per_point_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .durability(Durability::None)
        .memtable_bytes(MEMTABLE);
    let db = Db::open(dir.path(), opts).unwrap();
    let before = NOW.load(Ordering::Relaxed);
    let metas: Vec<PointMeta> = (0..POINTS)
        .map(|p| {
            PointMeta::new(
                format!("91350100MA{p:08}X/0101000000{p:06}"),
                PointKind::Counter,
            )
            .with_unit("kWh")
            .with_interval_ms(INTERVAL)
        })
        .collect();
    let ids = db.define_points(&metas).unwrap();
    drop(metas);
    let defined = NOW.load(Ordering::Relaxed);
    let catalog = defined.saturating_sub(before);
    PEAK.store(defined, Ordering::Relaxed);

    let mut batch = WriteBatch::with_capacity(POINTS);
    for i in 0..INTERVALS {
        batch.clear();
        for (p, &id) in ids.iter().enumerate() {
            let step = ((p as u64 * 2_654_435_761 + i as u64 * 40_503) % 997) as f64 / 100.0;
            batch.put(id, DAY0 + i * INTERVAL, 1000.0 + p as f64 + i as f64 * step);
        }
        db.write(&batch).unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - defined;
    // The batch and the ids are the test's own.
    let test_own = POINTS * (4 + 8 + 8 + 4 + 1) + ids.capacity() * 4;
    let limit = 2 * MEMTABLE + POINTS * FLUSH_PER_POINT + FIXED + test_own;
    println!(
        "catalog {} B/point; peak above the catalog {} MiB ({} B/point beyond 2 x {} MiB), \
         limit {} MiB",
        catalog / POINTS,
        peak >> 20,
        peak.saturating_sub(2 * MEMTABLE) / POINTS,
        MEMTABLE >> 20,
        limit >> 20
    );
    assert!(
        catalog <= POINTS * CATALOG_PER_POINT,
        "catalog {catalog} B for {POINTS} points"
    );
    assert!(
        peak <= limit,
        "peak {peak} B above the catalog, limit {limit} B"
    );
    db.close().unwrap();
}
