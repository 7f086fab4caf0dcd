//! Readers, writers, flushes and compactions at once: every read, and every rollup query,
//! sees a consistent snapshot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use meterdb::{Db, Durability, Options, WriteBatch};

mod support;

const T0: i64 = 1_767_196_800_000;
const IV: i64 = 60_000;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn db_is_send_and_sync() {
    assert_send_sync::<Db>();
}

/// One writer thread per point, appending its samples in time order (sample i: ts
/// `T0 + i * IV`, value i), `batch` per write, until `deadline` or `max` samples; each returns
/// how many it wrote.
fn spawn_writers(
    db: &Arc<Db>,
    points: &[u32],
    deadline: Instant,
    batch: usize,
    max: i64,
) -> Vec<JoinHandle<i64>> {
    points
        .iter()
        .map(|&p| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut i = 0i64;
                while Instant::now() < deadline && i < max {
                    let mut b = WriteBatch::new();
                    for _ in 0..batch {
                        b.put(p, T0 + i * IV, i as f64);
                        i += 1;
                    }
                    db.write(&b).unwrap();
                }
                i
            })
        })
        .collect()
}

#[test]
fn readers_see_prefixes_while_writers_flush_and_compact() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        durability: Durability::None,
        memtable_bytes: 64 * 1024, // flush often
        partition_ms: 86_400_000,
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path(), opts).unwrap());
    let points: Vec<u32> = (0..4)
        .map(|p| db.ensure_point(&format!("p{p}")).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(2);

    // Each writer appends one point's samples in time order: value = index.
    let writers = spawn_writers(&db, &points, deadline, 50, i64::MAX);
    let compactor = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                db.flush().unwrap();
                db.compact().unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (db, stop) = (db.clone(), stop.clone());
            let points = points.clone();
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let p = points[(checks as usize + r) % points.len()];
                    // A snapshot holds a prefix of the point's writes: 0, 1, 2, ... with
                    // no gap, no repeat, and the value equal to the index.
                    let c = db.read_range(p, i64::MIN, i64::MAX).unwrap();
                    for (k, (&t, &v)) in c.ts.iter().zip(&c.values).enumerate() {
                        assert_eq!(t, T0 + k as i64 * IV);
                        assert_eq!(v, k as f64);
                    }
                    let it: Vec<_> = db
                        .range(p, i64::MIN, i64::MAX)
                        .unwrap()
                        .map(|s| s.unwrap())
                        .collect();
                    for (k, s) in it.iter().enumerate() {
                        assert_eq!((s.ts, s.value), (T0 + k as i64 * IV, k as f64));
                    }
                    if let Some(l) = db.latest(p).unwrap() {
                        assert_eq!(l.ts, T0 + l.value as i64 * IV);
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let counts: Vec<i64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    compactor.join().unwrap();
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checks > 0);
    for (&p, &n) in points.iter().zip(&counts) {
        assert_eq!(
            db.read_range(p, i64::MIN, i64::MAX).unwrap().len() as i64,
            n
        );
    }
}

/// Rollup queries while writers append and another thread flushes and compacts: every
/// answer is the rollup of one consistent prefix of the writes, i.e. equal to a
/// recomputation from raw samples `0..n` for the `n` its counts add up to.
///
/// Retention (dropping whole old partitions) does not exist yet; when it does, a thread
/// dropping the oldest partitions belongs here, with the check relaxed to a window of
/// the writes (`n0..n`).
#[test]
fn rollup_queries_see_consistent_prefixes_during_flush_and_compaction() {
    use meterdb::{PointKind, PointMeta, Tier};
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        durability: Durability::None,
        memtable_bytes: 16 * 1024,
        partition_ms: 86_400_000,
        tz_offset_min: Some(0),
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path(), opts).unwrap());
    let metas = [
        PointMeta::new("g", PointKind::Gauge),
        PointMeta::new("c", PointKind::Counter),
    ];
    let points: Vec<u32> = metas
        .iter()
        .map(|m| db.define_point(m.clone()).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);
    // Sample i of each point: ts T0 + i minutes, value i (a counter that only rises); at
    // most 40 days of minutes, so that each check stays cheap.
    let writers = spawn_writers(&db, &points, deadline, 30, 57_600);
    let compactor = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                db.flush().unwrap();
                if rounds.is_multiple_of(3) {
                    db.compact().unwrap();
                }
                rounds += 1;
                std::thread::sleep(Duration::from_millis(15));
            }
            rounds
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (db, stop) = (db.clone(), stop.clone());
            let points = points.clone();
            let metas = metas.clone();
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = (checks as usize + r) % points.len();
                    let tier = [Tier::Hour, Tier::Day, Tier::Minute][checks as usize % 3];
                    let rows = db
                        .rollup(points[k], tier, T0 - 86_400_000, T0 + 400 * 86_400_000)
                        .unwrap();
                    let n: u64 = rows.iter().map(|x| x.bucket.count).sum();
                    let raw: Vec<(i64, f64)> =
                        (0..n as i64).map(|i| (T0 + i * IV, i as f64)).collect();
                    let want = support::reference(&raw, &metas[k], tier, 0);
                    assert_eq!(rows.len(), want.len(), "{tier:?} rows of a prefix of {n}");
                    for (g, w) in rows.iter().zip(&want) {
                        let b = &g.bucket;
                        assert_eq!((b.start, b.count), (w.0, w.1), "{tier:?} prefix {n}");
                        assert!(support::close(b.sum, w.2), "{tier:?} prefix {n}");
                        if b.count > 0 {
                            assert_eq!((b.min, b.max, b.first, b.last), (w.3, w.4, w.5, w.6));
                        }
                        match (g.consumption, w.7) {
                            (Some(a), Some(c)) => assert!(support::close(a, c), "{g:?} {w:?}"),
                            (None, None) => {}
                            other => panic!("consumption {other:?}"),
                        }
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let counts: Vec<i64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let rounds = compactor.join().unwrap();
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    println!("{checks} rollup snapshots checked during {rounds} flushes; {counts:?} samples");
    assert!(checks > 0 && rounds > 0);
}
