//! A province-day through the library: `points` counter registers read every 15 minutes,
//! the readings arriving interval by interval (one batch per interval, every point once),
//! with default options; then a flush (the time printed ends there) and a compaction. Prints the peak RSS (VmHWM), the time, and the whole
//! directory's bytes per reading with the raw segments, each tier's rollup files and the
//! rest (the figures of issue 17).
//!
//! `cargo run --release -p meterdb-benches --example province_day -- [points] [intervals]`
//! (defaults 200000 and 96). `PROVINCE_DAY_MEMTABLE_MIB` sets `Options::memtable_bytes`.

use std::time::Instant;

use meterdb::{Db, Durability, Options, PointKind, PointMeta, WriteBatch};

/// 2026-03-01T00:00:00+08:00.
const DAY0: i64 = 1_772_294_400_000;
const INTERVAL: i64 = 900_000;

/// A process status field in kB (`VmHWM`, `VmRSS`), 0 where there is none.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let points: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let intervals: i64 = args.next().map_or(Ok(96), |a| a.parse())?;
    // Peak anonymous and file-backed (mapped segment files) RSS, sampled.
    let peaks = std::sync::Arc::new([
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    ]);
    {
        let peaks = peaks.clone();
        std::thread::spawn(move || loop {
            for (i, f) in ["RssAnon:", "RssFile:"].iter().enumerate() {
                peaks[i].fetch_max(status_kb(f), std::sync::atomic::Ordering::Relaxed);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        });
    }
    let dir = tempfile::tempdir()?;
    let mut opts = Options::default().durability(Durability::None);
    if let Ok(m) = std::env::var("PROVINCE_DAY_MEMTABLE_MIB") {
        opts.memtable_bytes = m.parse::<usize>()? << 20;
    }
    let start = Instant::now();
    let db = Db::open(dir.path(), opts)?;
    let ids: Vec<u32> = (0..points)
        .map(|p| {
            db.define_point(
                PointMeta::new(
                    format!("91350100MA{p:08}X/0101000000{p:06}"),
                    PointKind::Counter,
                )
                .with_unit("kWh")
                .with_interval_ms(INTERVAL),
            )
        })
        .collect::<Result<_, _>>()?;
    let defined = status_kb("VmRSS:");
    let mut batch = WriteBatch::with_capacity(points);
    for i in 0..intervals {
        batch.clear();
        for (p, &id) in ids.iter().enumerate() {
            // A register rising by a varying amount, in hundredths.
            let step = ((p as u64 * 2_654_435_761 + i as u64 * 40_503) % 997) as f64 / 100.0;
            batch.put(id, DAY0 + i * INTERVAL, 1000.0 + p as f64 + i as f64 * step);
        }
        db.write(&batch)?;
    }
    db.flush()?;
    let secs = start.elapsed().as_secs_f64();
    // The directory settled, as `meterdb import` leaves it: each partition's files merged.
    db.compact()?;
    let stats = db.stats()?;
    db.close()?;
    let readings = points as u64 * intervals as u64;
    let total = dir_bytes(dir.path());
    let per = |b: u64| b as f64 / readings as f64;
    println!("points {points}, readings {readings}, {secs:.1} s");
    println!(
        "peak RSS {:.0} MiB (sampled: anonymous {:.0} MiB, mapped files {:.0} MiB; after \
         defining the points {:.0} MiB)",
        status_kb("VmHWM:") as f64 / 1024.0,
        peaks[0].load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
        peaks[1].load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
        defined as f64 / 1024.0
    );
    println!(
        "directory {total} bytes, {:.2} B/reading: raw segments {:.2}, rollup files {:.2} \
         (hour {:.2}, day {:.2}, month {:.2}, year {:.2}), other {:.2}",
        per(total),
        per(stats.segment_bytes),
        per(stats.rollup_bytes()),
        per(stats.tier_bytes[1]),
        per(stats.tier_bytes[2]),
        per(stats.tier_bytes[3]),
        per(stats.tier_bytes[4]),
        per(total.saturating_sub(stats.segment_bytes + stats.rollup_bytes())),
    );
    Ok(())
}
