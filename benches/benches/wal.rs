//! WAL append throughput: 16 KiB payloads appended to real files in a temporary directory.
//!
//! One iteration appends 1 MiB (64 records of 16 KiB):
//! - `no_sync`: default options (64 MiB files), never `sync`; each rotation still
//!   fdatasyncs the closed file, as the WAL always does before starting the next one.
//! - `no_sync_no_rotation`: one huge file, so no fsync at all in the timed loop: the cost
//!   of encoding, checksumming and writing into the page cache.
//! - `sync_every_1MiB`: `sync` (fdatasync) after every 1 MiB.
//!
//! Closed files are deleted between samples (untimed) to bound the disk space used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meterdb::io::{FileStorage, Storage};
use meterdb::wal::{Wal, WalOptions};

const PAYLOAD: usize = 16 * 1024;
const PER_ITER: usize = 64; // 1 MiB

fn payload() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..PAYLOAD)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn wal_append(c: &mut Criterion) {
    let payload = payload();
    let mut g = c.benchmark_group("wal_append_16KiB");
    g.throughput(Throughput::Bytes((PAYLOAD * PER_ITER) as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));
    let cases = [
        ("no_sync", WalOptions::default(), false),
        (
            "no_sync_no_rotation",
            WalOptions {
                max_file_bytes: 1 << 40,
            },
            false,
        ),
        ("sync_every_1MiB", WalOptions::default(), true),
    ];
    for (name, opts, sync) in cases {
        let tmp = tempfile::tempdir().expect("temp dir");
        let storage: Arc<dyn Storage> = Arc::new(FileStorage);
        let mut wal = Wal::open(
            storage,
            &tmp.path().join("wal"),
            opts,
            0,
            &mut |_, _| Ok(()),
        )
        .expect("open wal");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..PER_ITER {
                        wal.append(&payload).expect("append");
                    }
                    if sync {
                        wal.sync().expect("sync");
                    }
                }
                let elapsed = start.elapsed();
                // Untimed: keep the disk use bounded.
                if opts.max_file_bytes > 1 << 30 {
                    wal.rotate().expect("rotate");
                }
                wal.remove_obsolete(wal.last_seq()).expect("remove");
                elapsed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, wal_append);
criterion_main!(benches);
