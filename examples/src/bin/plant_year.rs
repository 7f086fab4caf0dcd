//! The main job: a simulated plant's meters for a year, stored in MeterDB, read back
//! exactly, with storage statistics.
//!
//! ```text
//! cargo run --release -p meterdb-examples --bin plant-year -- [--points 500] [--days 365] [--db DIR]
//!     [--tiers all|none|hour,day,month,year]
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use meterdb::{Db, Durability, Options, PointKind, PointMeta, Tier, TierSet, WriteBatch};
use meterdb_examples::sim;

const INTERVAL_MS: i64 = 900_000;
const START: i64 = 1_767_196_800_000; // 2026-01-01T00:00:00+08:00

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The real meters of `../shared/data/uk-meters.csv.gz` (when present): stored, read back
/// exactly (the last value of a repeated timestamp), with each register's consumption.
fn shared_data(dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::BufRead;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/uk-meters.csv.gz"
    );
    let Ok(f) = std::fs::File::open(path) else {
        println!("\n../shared/data not found: the real meter data is skipped");
        return Ok(());
    };
    println!("\nreal meters: {path}");
    let _ = std::fs::remove_dir_all(dir);
    let db = Db::open(dir, Options::default().durability(Durability::None))?;
    let mut last: BTreeMap<(u32, i64), f64> = BTreeMap::new();
    let mut batch = WriteBatch::new();
    for line in std::io::BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .skip(1)
    {
        let line = line?;
        let mut it = line.split(',');
        let (Some(p), Some(t), Some(v)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("bad line {line:?}").into());
        };
        let id = match db.point_id(p) {
            Some(id) => id,
            None => {
                let kind = if p.contains("register") {
                    PointKind::Counter
                } else {
                    PointKind::Gauge
                };
                db.define_point(PointMeta::new(p, kind).with_unit("kWh"))?
            }
        };
        let (ts, v) = (meterdb::time::parse_timestamp(t)?, v.parse::<f64>()?);
        batch.put(id, ts, v);
        last.insert((id, ts), v);
    }
    db.write(&batch)?;
    db.flush()?;
    db.compact()?;
    db.sync()?;
    let st = db.stats()?;
    for p in &st.per_point {
        let got = db.read_range(p.id, i64::MIN, i64::MAX)?;
        let want: Vec<(i64, f64)> = last
            .range((p.id, i64::MIN)..=(p.id, i64::MAX))
            .map(|(k, v)| (k.1, *v))
            .collect();
        let exact = got.len() == want.len()
            && got
                .ts
                .iter()
                .zip(&got.values)
                .zip(&want)
                .all(|((&t, &v), &(wt, wv))| t == wt && v.to_bits() == wv.to_bits());
        if !exact {
            return Err(format!("{} did not read back exactly", p.key).into());
        }
        let meta = db.point(p.id).ok_or("point vanished")?;
        let consumption = if meta.kind == PointKind::Counter {
            let months = db.rollup(p.id, Tier::Month, i64::MIN / 4, i64::MAX / 4)?;
            let total: f64 = months.iter().filter_map(|r| r.consumption).sum();
            format!("{total:>12.3} kWh over {} months", months.len())
        } else {
            String::new()
        };
        println!(
            "  {:<42} {:>6} samples exact, {:.3} B/sample, {} / {}  {consumption}",
            p.key,
            got.len(),
            p.bytes as f64 / p.samples.max(1) as f64,
            p.ts_codecs.first().map_or("-", |c| c.0.as_str()),
            p.value_codecs.first().map_or("-", |c| c.0.as_str()),
        );
    }
    println!(
        "  all: {} samples, {} bytes of segment files, {:.3} bytes/sample",
        st.segment_samples,
        st.segment_bytes,
        st.segment_bytes as f64 / st.segment_samples.max(1) as f64
    );
    db.close()?;
    let whole = tree_bytes(std::path::Path::new(dir));
    println!(
        "  the whole directory: {whole} bytes, {:.3} bytes/sample (segments, rollup files of \
         every tier, catalog, manifest)",
        whole as f64 / st.segment_samples.max(1) as f64
    );
    Ok(())
}

/// Bytes of every file under `dir`.
fn tree_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => tree_bytes(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "plant-year [--points N] [--days D] [--db DIR] [--tiers all|none|minute,hour,...]"
        );
        return Ok(());
    }
    let points: usize = arg(&args, "--points").map_or(Ok(500), |s| s.parse())?;
    let days: usize = arg(&args, "--days").map_or(Ok(365), |s| s.parse())?;
    let dir = arg(&args, "--db").unwrap_or_else(|| "target/plant-year.mdb".to_string());
    let tiers = match arg(&args, "--tiers").as_deref() {
        None | Some("all") => TierSet::ALL,
        Some("none") => TierSet::NONE,
        Some(list) => list
            .split(',')
            .map(Tier::parse)
            .try_fold(TierSet::NONE, |s, t| t.map(|t| s.with(t)))?,
    };
    let _ = std::fs::remove_dir_all(&dir);

    let n = days * 96;
    println!("simulating {points} meters at 15 minutes for {days} days ...");
    let meters = sim::plant(points, 2026);
    let series: Vec<Vec<(i64, f64)>> = meters
        .iter()
        .map(|m| m.samples(START, INTERVAL_MS, n))
        .collect();
    let total: usize = series.iter().map(Vec::len).sum();

    let opts = Options {
        tiers,
        ..Options::default().durability(Durability::Interval(Duration::from_secs(1)))
    };
    let db = Db::open(&dir, opts)?;
    let ids: Vec<u32> = meters
        .iter()
        .map(|m| db.define_point(m.meta.clone()))
        .collect::<Result<_, _>>()?;

    // Ingest as a gateway would: one day of every meter per batch.
    let t0 = Instant::now();
    let mut cursors = vec![0usize; points];
    let mut batch = WriteBatch::with_capacity(points * 96);
    for day in 0..days {
        let end = START + (day as i64 + 1) * 86_400_000;
        batch.clear();
        for (p, s) in series.iter().enumerate() {
            while cursors[p] < s.len() && s[cursors[p]].0 < end {
                let (ts, v) = s[cursors[p]];
                batch.put(ids[p], ts, v);
                cursors[p] += 1;
            }
        }
        db.write(&batch)?;
    }
    let ingest = t0.elapsed();
    let t1 = Instant::now();
    db.flush()?;
    db.compact()?;
    let settle = t1.elapsed();

    // Read every point back and compare with what was written.
    let t2 = Instant::now();
    let mut read = 0usize;
    for (p, s) in series.iter().enumerate() {
        let got = db.read_range(ids[p], i64::MIN, i64::MAX)?;
        read += got.len();
        let same = got.len() == s.len()
            && got
                .ts
                .iter()
                .zip(&got.values)
                .zip(s)
                .all(|((&t, &v), &(et, ev))| t == et && v.to_bits() == ev.to_bits());
        if !same {
            return Err(format!("point {} did not read back exactly", meters[p].meta.key).into());
        }
    }
    let scan = t2.elapsed();
    let t3 = Instant::now();
    for &id in &ids {
        db.latest(id)?;
    }
    let latest = t3.elapsed();

    let st = db.stats()?;
    let mut codecs: BTreeMap<String, usize> = BTreeMap::new();
    for p in &st.per_point {
        for (c, k) in p.ts_codecs.iter().chain(&p.value_codecs) {
            *codecs.entry(c.clone()).or_default() += k;
        }
    }
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!("samples written      {total}");
    println!(
        "ingest               {:.2} s, {:.0} samples/s (WAL synced every second)",
        ingest.as_secs_f64(),
        rate(total, ingest)
    );
    println!("flush + compaction   {:.2} s", settle.as_secs_f64());
    println!(
        "read back exactly    {read} samples in {:.3} s, {:.0} samples/s",
        scan.as_secs_f64(),
        rate(read, scan)
    );
    println!(
        "latest of each point {:.1} µs per point",
        latest.as_secs_f64() * 1e6 / points as f64
    );
    println!("segment files        {}", st.segment_files);
    println!("bytes on disk        {} (segments)", st.segment_bytes);
    println!(
        "bytes per sample     {:.3}",
        st.segment_bytes as f64 / total.max(1) as f64
    );
    println!(
        "codecs (blocks)      {}",
        codecs
            .iter()
            .map(|(c, k)| format!("{c}: {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    db.close()?;
    let whole = tree_bytes(std::path::Path::new(&dir));
    println!(
        "whole directory      {whole} bytes, {:.3} bytes/sample (segments {}, rollup files of \
         every tier {}, the rest {})",
        whole as f64 / total.max(1) as f64,
        st.segment_bytes,
        st.rollup_bytes(),
        whole.saturating_sub(st.segment_bytes + st.rollup_bytes())
    );
    println!("database left in {dir}");
    shared_data(&format!("{dir}-shared"))?;
    Ok(())
}
