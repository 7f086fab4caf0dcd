//! The Rust baseline of the bindings' batch-write benchmark (`bindings/bench.sh`): batches of
//! 1000 samples (10 points x 100 timestamps) written with `Db::write`, durability `None`.
//! Each repeat opens a fresh database and times each of `batches` batches; prints the median
//! time of a batch over all repeats (robust to other work on the machine) and the mean. The C,
//! Java and Python programs run the same workload through the C ABI.
//!
//! `cargo run --release -p meterdb-benches --example bench_write -- [batches] [repeats]`

use std::time::Instant;

use meterdb::{Db, Durability, Options, WriteBatch};

const BATCH: usize = 1000;
const POINTS: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let repeats: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let total = batches * BATCH;
    let (mut points, mut ts, mut values) = (
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
    );
    for b in 0..batches {
        for i in 0..BATCH {
            points.push((i % POINTS) as u32);
            ts.push(1_700_000_000_000 + ((b * (BATCH / POINTS) + i / POINTS) as i64) * 60_000);
            values.push(b as f64 + i as f64 * 0.001);
        }
    }
    let mut per_batch = Vec::new();
    for r in 0..repeats {
        let dir =
            std::env::temp_dir().join(format!("meterdb-bench-rust-{}-{r}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = Options::default()
            .durability(Durability::None)
            .memtable_bytes(1 << 30);
        let db = Db::open(&dir, opts)?;
        for p in 0..POINTS {
            db.ensure_point(&format!("bench/p{p}"))?;
        }
        let mut batch = WriteBatch::with_capacity(BATCH);
        for b in 0..batches {
            let k = b * BATCH..(b + 1) * BATCH;
            let t0 = Instant::now();
            batch.clear();
            batch.extend_from_slices(&points[k.clone()], &ts[k.clone()], &values[k], None)?;
            db.write(&batch)?;
            per_batch.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        db.close()?;
        std::fs::remove_dir_all(&dir)?;
    }
    let mean = per_batch.iter().sum::<f64>() / per_batch.len() as f64;
    per_batch.sort_by(f64::total_cmp);
    println!(
        "RESULT rust batch_write_1000 median_us={:.2} mean_us={mean:.2} repeats={repeats} batches={batches}",
        per_batch[per_batch.len() / 2],
    );
    Ok(())
}
