//! Ingest with rollup tiers against ingest without them, in one process: the workload of the
//! `ingest_and_flush` group of `benches/rollup.rs` (1,000 registers, 3,000 readings each at
//! 15 minutes, written as one batch, then flushed), with one database per tier set, run in
//! turns (round `k` of every set, then round `k + 1`) so that the machine's load falls on all
//! of them alike. Prints each set's median time per round and its rate against no tiers.
//!
//! `cargo run --release -p meterdb-benches --example ingest_tiers -- [rounds] [sets...]`
//! where a set is `none`, `all`, or tiers joined by `+` (`hour+day+month+year`); the default
//! is `none all`. Each round writes the next month of data, so later rounds also find the
//! earlier months on disk, as a running database does.

use std::time::{Duration, Instant};

use meterdb::{Db, Durability, Options, PointId, PointKind, PointMeta, Tier, TierSet, WriteBatch};

/// 2025-01-01T00:00:00+08:00.
const Y0: i64 = 1_735_660_800_000;
const POINTS: usize = 1000;
const READINGS: i64 = 3000;
const INTERVAL: i64 = 900_000;

fn parse_set(s: &str) -> Result<TierSet, String> {
    match s {
        "none" => return Ok(TierSet::NONE),
        "all" => return Ok(TierSet::ALL),
        _ => {}
    }
    let mut set = TierSet::NONE;
    for t in s.split('+') {
        let tier = match t {
            "minute" => Tier::Minute,
            "hour" => Tier::Hour,
            "day" => Tier::Day,
            "month" => Tier::Month,
            "year" => Tier::Year,
            _ => return Err(format!("unknown tier {t:?} in {s:?}")),
        };
        set = set.with(tier);
    }
    Ok(set)
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (Linux; zero elsewhere).
/// The flush runs on the calling thread (`background: false`), so a round's CPU time is the
/// write and the flush, without the time spent waiting for the disk.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: i64 = args.next().map_or(Ok(12), |a| a.parse())?;
    let mut names: Vec<String> = args.collect();
    if names.is_empty() {
        names = vec!["none".into(), "all".into()];
    }
    let mut sets = Vec::new();
    for name in &names {
        let tiers = parse_set(name)?;
        let dir = tempfile::tempdir()?;
        let opts = Options {
            tiers,
            background: false,
            ..Options::default().durability(Durability::Interval(Duration::from_secs(1)))
        };
        let db = Db::open(dir.path(), opts)?;
        let ids: Vec<PointId> = (0..POINTS)
            .map(|p| db.define_point(PointMeta::new(format!("p{p}"), PointKind::Counter)))
            .collect::<Result<_, _>>()?;
        sets.push((name.clone(), dir, db, ids, Vec::new(), Vec::new()));
    }
    for round in 0..rounds {
        for (_, _, db, ids, times, cpu) in &mut sets {
            let mut batch = WriteBatch::with_capacity(POINTS * READINGS as usize);
            for i in 0..READINGS {
                let k = round * READINGS + i;
                for &id in ids.iter() {
                    batch.put(id, Y0 + k * INTERVAL, 1000.0 + k as f64 * 1.25);
                }
            }
            let (t0, c0) = (Instant::now(), thread_cpu());
            db.write(&batch)?;
            db.flush()?;
            times.push(t0.elapsed());
            cpu.push(thread_cpu() - c0);
        }
    }
    if std::env::var_os("INGEST_TIERS_ROUNDS").is_some() {
        for (name, _, _, _, times, _) in &sets {
            let ms: Vec<String> = times
                .iter()
                .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
                .collect();
            println!("{name}: {}", ms.join(" "));
        }
    }
    let samples = (POINTS as i64 * READINGS) as f64;
    let mut base = None;
    println!("set\twall ms\tM samples/s\trate vs first\tCPU ms\tCPU rate vs first");
    for (name, _, _, _, times, cpu) in &mut sets {
        // The first round of each set writes into an empty database: left out.
        let m = median(&mut times[1..]);
        let c = median(&mut cpu[1..]);
        let (bm, bc) = *base.get_or_insert((m, c));
        println!(
            "{name}\t{:.1}\t{:.2}\t{:.3}\t{:.1}\t{:.3}",
            m.as_secs_f64() * 1e3,
            samples / m.as_secs_f64() / 1e6,
            bm.as_secs_f64() / m.as_secs_f64(),
            c.as_secs_f64() * 1e3,
            bc.as_secs_f64() / c.as_secs_f64()
        );
    }
    Ok(())
}
