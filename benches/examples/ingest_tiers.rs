//! Ingest with rollup tiers against ingest without them, in one process: the workload of the
//! `ingest_and_flush` group of `benches/rollup.rs` (1,000 registers, 3,000 readings each at
//! 15 minutes, written as one batch, then flushed), with one database per tier set, run in
//! turns (round `k` of every set, then round `k + 1`) so that the machine's load falls on all
//! of them alike. Prints each set's median wall time per round and mean CPU time per round
//! (every thread of the process), each with its rate against the first set.
//!
//! `cargo run --release -p meterdb-benches --example ingest_tiers -- [rounds] [sets...]`
//! where a set is `none`, `all`, or tiers joined by `+` (`hour+day+month+year`); the default
//! is `none all`. Each round writes the next month of data, so later rounds also find the
//! earlier months on disk, as a running database does. The readings rise by 1.25 a reading,
//! as in the criterion bench, or, with `INGEST_TIERS_NOISY=1`, by a varying amount (2
//! decimals), as real registers do. `INGEST_TIERS_FLUSH_THREADS=1` sets
//! `Options::flush_threads` (default: 2 on a machine with two cores or more);
//! `INGEST_TIERS_ROUNDS=1` prints every round's time, `INGEST_TIERS_FILES=1` the files.

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

/// CPU time this process has used (user and system, every thread, those ended included),
/// from `/proc/self/stat` in clock ticks (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name (which is in parentheses): utime and stime are
            // the 12th and 13th.
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        });
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks.unwrap_or(0) * 10)
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
    let noisy = std::env::var_os("INGEST_TIERS_NOISY").is_some();
    let mut sets = Vec::new();
    for name in &names {
        let tiers = parse_set(name)?;
        let dir = tempfile::tempdir()?;
        let opts = Options {
            tiers,
            background: false,
            flush_threads: std::env::var("INGEST_TIERS_FLUSH_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(Options::default().flush_threads),
            ..Options::default().durability(Durability::Interval(Duration::from_secs(1)))
        };
        let db = Db::open(dir.path(), opts)?;
        let ids: Vec<PointId> = (0..POINTS)
            .map(|p| db.define_point(PointMeta::new(format!("p{p}"), PointKind::Counter)))
            .collect::<Result<_, _>>()?;
        sets.push((name.clone(), dir, db, ids, Vec::new(), Vec::new()));
    }
    // Every set writes the same readings.
    let mut reading = vec![100_000i64; POINTS];
    let mut values = vec![0.0f64; POINTS * READINGS as usize];
    for round in 0..rounds {
        for i in 0..READINGS {
            let k = round * READINGS + i;
            for (p, r) in reading.iter_mut().enumerate() {
                values[i as usize * POINTS + p] = if noisy {
                    // A register rising by 0.00 to 10.23 a reading (a hash of the point and
                    // reading), in hundredths.
                    let h = ((p as u64) << 32 ^ k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    *r += (h >> 54) as i64;
                    *r as f64 / 100.0
                } else {
                    1000.0 + k as f64 * 1.25
                };
            }
        }
        for (_, _, db, ids, times, cpu) in &mut sets {
            let mut batch = WriteBatch::with_capacity(POINTS * READINGS as usize);
            for i in 0..READINGS {
                let k = round * READINGS + i;
                for (p, &id) in ids.iter().enumerate() {
                    batch.put(id, Y0 + k * INTERVAL, values[i as usize * POINTS + p]);
                }
            }
            let (t0, c0) = (Instant::now(), process_cpu());
            db.write(&batch)?;
            db.flush()?;
            times.push(t0.elapsed());
            cpu.push(process_cpu() - c0);
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
    if std::env::var_os("INGEST_TIERS_FILES").is_some() {
        for (name, dir, _, _, _, _) in &sets {
            let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
            for e in std::fs::read_dir(dir.path())? {
                let e = e?;
                let n = e.file_name().to_string_lossy().into_owned();
                let kind = n.split(['-', '.']).next().unwrap_or("").to_string();
                let x = by.entry(kind).or_default();
                x.0 += 1;
                x.1 += e.metadata()?.len();
            }
            println!("{name}: {by:?}");
        }
    }
    let samples = (POINTS as i64 * READINGS) as f64;
    let mut base = None;
    println!("set\twall ms (median)\tM samples/s\trate vs first\tCPU ms (mean)\tCPU rate vs first");
    for (name, _, _, _, times, cpu) in &mut sets {
        // The first round of each set writes into an empty database: left out. CPU time is
        // counted in clock ticks (10 ms): a mean over the rounds, not a median.
        let m = median(&mut times[1..]);
        let c = cpu[1..].iter().sum::<Duration>() / (cpu.len() - 1).max(1) as u32;
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
