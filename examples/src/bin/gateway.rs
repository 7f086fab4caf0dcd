//! The gateway of a key energy-consuming unit: collects its simulated meters into MeterDB
//! and uploads them to one or more platforms, resending until each acknowledges.
//!
//! ```text
//! gateway --industry power|steel|petrochemical --enterprise CODE --db DIR
//!         [--endpoint URL]... [--token TOKEN] [--points N] [--interval-s 60]
//!         [--start 2026-01-01] [--days 7] [--speed max|N] [--seed N]
//!         [--memtable-mib 4] [--batch 5000] [--retry-ms 300] [--drain-timeout-s 60]
//!         [--partition-hours 6] [--wal-mib 16] [--keep-days 0] [--tiers day[,month,...]] [--rss-report]
//! ```
//!
//! The clock is simulated: collection runs from `--start` for `--days`, `--speed N` times
//! faster than real time (`max`: as fast as it can). Every collection tick is one durable
//! write batch. Every 15 simulated minutes, each destination is sent the real-time samples
//! after its cursor; once a day (when a day closes) the day statistics of every point. When
//! the simulated span is collected, the gateway keeps trying each destination until all is
//! acknowledged (or `--drain-timeout-s` passes: exit status 2). Killed at any point, it
//! resumes on restart from what it stored and from its cursors.

use std::time::{Duration, Instant};

use meterdb::{ChangeKind, Db, Durability, Options, Tier, TierSet, WriteBatch};
use meterdb_examples::industry::{check_uscc, Industry, Measure, Plant};
use meterdb_examples::records::{input_type_of, parse_date, Record, STAT_DAY, STAT_REALTIME};
use meterdb_examples::upload::{peak_rss_kib, Destination, Pass};

const UPLOAD_EVERY_MS: i64 = 15 * 60_000;

struct Args {
    industry: Industry,
    enterprise: String,
    db: String,
    endpoints: Vec<String>,
    token: String,
    points: usize,
    interval_ms: i64,
    start: i64,
    days: u32,
    speed: Option<f64>,
    seed: u64,
    memtable_mib: usize,
    batch: usize,
    retry_ms: u64,
    drain_timeout_s: u64,
    rss_report: bool,
    partition_hours: i64,
    tiers: TierSet,
    wal_mib: u64,
    keep_days: i64,
}

fn usage(msg: &str) -> ! {
    eprintln!("gateway: {msg}");
    eprintln!(
        "usage: gateway --industry power|steel|petrochemical --enterprise CODE --db DIR \
         [--endpoint URL]... [--token T] [--points N] [--interval-s S] [--start yyyy-MM-dd] \
         [--days N] [--speed max|N] [--seed N] [--memtable-mib N] [--batch N] [--retry-ms N] \
         [--drain-timeout-s N] [--partition-hours N] [--wal-mib N] [--keep-days N] [--tiers day,month,...] [--rss-report]"
    );
    std::process::exit(64)
}

fn parse_args() -> Args {
    let mut a = Args {
        industry: Industry::Power,
        enterprise: String::new(),
        db: String::new(),
        endpoints: Vec::new(),
        token: String::new(),
        points: 0,
        interval_ms: 60_000,
        start: parse_date("2026-01-01").unwrap_or(0),
        days: 7,
        speed: None,
        seed: 1,
        memtable_mib: 4,
        batch: 5000,
        retry_ms: 300,
        drain_timeout_s: 60,
        rss_report: false,
        partition_hours: 6,
        wal_mib: 16,
        keep_days: 0,
        tiers: TierSet::NONE.with(Tier::Day),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--rss-report" {
            a.rss_report = true;
            continue;
        }
        let v = it
            .next()
            .unwrap_or_else(|| usage(&format!("{k} needs a value")));
        let n = |v: &str| -> u64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{k}: {v:?} is not a number")))
        };
        match k.as_str() {
            "--industry" => a.industry = Industry::parse(&v).unwrap_or_else(|e| usage(&e)),
            "--enterprise" => a.enterprise = v,
            "--db" => a.db = v,
            "--endpoint" => a.endpoints.push(v),
            "--token" => a.token = v,
            "--points" => a.points = n(&v) as usize,
            "--interval-s" => a.interval_ms = n(&v) as i64 * 1000,
            "--start" => a.start = parse_date(&v).unwrap_or_else(|e| usage(&e)),
            "--days" => a.days = n(&v) as u32,
            "--speed" => {
                a.speed = if v == "max" {
                    None
                } else {
                    Some(
                        v.parse()
                            .unwrap_or_else(|_| usage("--speed: max or a number")),
                    )
                }
            }
            "--seed" => a.seed = n(&v),
            "--memtable-mib" => a.memtable_mib = n(&v) as usize,
            "--batch" => a.batch = n(&v) as usize,
            "--retry-ms" => a.retry_ms = n(&v),
            "--drain-timeout-s" => a.drain_timeout_s = n(&v),
            "--partition-hours" => a.partition_hours = n(&v) as i64,
            "--wal-mib" => a.wal_mib = n(&v),
            "--keep-days" => a.keep_days = n(&v) as i64,
            "--tiers" => {
                let mut t = TierSet::NONE.with(Tier::Day);
                for x in v.split(',').filter(|x| !x.is_empty()) {
                    t = t.with(Tier::parse(x).unwrap_or_else(|e| usage(&e.to_string())));
                }
                a.tiers = t;
            }
            _ => usage(&format!("unknown option {k}")),
        }
    }
    if let Err(e) = check_uscc(&a.enterprise) {
        usage(&format!("--enterprise {:?}: {e}", a.enterprise));
    }
    if a.db.is_empty() {
        usage("--db DIR is required");
    }
    if a.interval_ms <= 0 || 86_400_000 % a.interval_ms != 0 {
        usage("--interval-s must divide a day");
    }
    if a.days == 0 || a.batch == 0 || a.memtable_mib == 0 || a.wal_mib == 0 {
        usage("--days, --batch, --memtable-mib and --wal-mib must be positive");
    }
    a
}

fn main() {
    let a = parse_args();
    if let Err(e) = run(&a) {
        eprintln!("gateway: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let points = if a.points == 0 { 7 } else { a.points };
    let plant = Plant::new(
        a.industry,
        &a.enterprise,
        a.seed,
        points,
        a.start,
        a.interval_ms,
        a.days,
    );
    let end = a.start + i64::from(a.days) * 86_400_000;
    let opts = Options {
        // A process crash loses nothing in this mode (every write reaches the kernel); a
        // power loss can lose the last 200 ms, which the meters still hold.
        durability: Durability::Interval(Duration::from_millis(200)),
        memtable_bytes: a.memtable_mib << 20,
        // A cursor reads WAL files through mmap: their pages count in the RSS.
        wal_file_bytes: a.wal_mib << 20,
        // Small partitions: a compaction decodes at most one partition of raw data (6 h of
        // 2,000 points at 1 minute is 720,000 samples, about 12 MiB of columns).
        partition_ms: a.partition_hours * 3_600_000,
        // The day tier feeds the statistics cursor; the others are optional.
        tiers: a.tiers,
        // `--keep-days`: raw data older than this (in simulated time) is dropped once every
        // destination has acknowledged it (never before); the day statistics are kept.
        retention: meterdb::Retention {
            raw: meterdb::TierLimit {
                max_age_ms: (a.keep_days > 0).then_some(a.keep_days * 86_400_000),
                max_bytes: None,
            },
            ..Default::default()
        },
        ..Options::default()
    };
    let db = Db::open(&a.db, opts)?;
    let mut ids = Vec::with_capacity(plant.meters.len());
    for m in &plant.meters {
        let key = m.code.text();
        let id = match db.point_id(&key) {
            Some(id) => id,
            None => db.define_point(
                m.code
                    .meta(key)
                    .with_precision(m.decimals as u8)
                    .with_interval_ms(a.interval_ms)
                    .with_tag("name", m.name.clone()),
            )?,
        };
        ids.push(id);
    }
    // Point id -> (data code, gauge?), for the records.
    let mut codes: Vec<Option<(String, bool)>> = Vec::new();
    for (m, &id) in plant.meters.iter().zip(&ids) {
        let i = id as usize;
        if codes.len() <= i {
            codes.resize(i + 1, None);
        }
        codes[i] = Some((m.code.text(), m.code.measure == Measure::Instant));
    }
    let mut dests = Vec::new();
    for url in &a.endpoints {
        let mut d = Destination::open(&db, url, &a.token, &a.enterprise)?;
        d.retry = Duration::from_millis(a.retry_ms);
        d.batch = a.batch;
        println!("endpoint {url}: cursor {}", d.cursor);
        dests.push(d);
    }
    // Resume after the last tick stored (a tick is one atomic batch).
    let mut tick = a.start;
    for &id in &ids {
        if let Some(s) = db.latest(id)? {
            tick = tick.max(s.ts + a.interval_ms);
        }
    }
    if tick > a.start {
        println!("resuming at {}", meterdb::time::format_rfc3339(tick, 480));
    }
    let wall0 = Instant::now();
    let sim0 = tick;
    let mut next_upload = (tick / UPLOAD_EVERY_MS + 1) * UPLOAD_EVERY_MS;
    let mut batch = WriteBatch::with_capacity(ids.len());
    let mut collected = 0u64;
    let ent = a.enterprise.clone();
    let upload = |db: &Db, dests: &mut Vec<Destination>, sim_now: i64| -> meterdb::Result<bool> {
        let mut idle = true;
        for d in dests.iter_mut() {
            let mut rt = |c: &meterdb::Change| {
                if c.kind != ChangeKind::Sample {
                    return None;
                }
                let (code, _) = codes.get(c.point as usize)?.as_ref()?;
                Some(Record {
                    enterprise: ent.clone(),
                    data_code: code.clone(),
                    value: c.value,
                    input_type: input_type_of(c.quality),
                    stat_type: STAT_REALTIME,
                    stat_ts: c.ts,
                    valid: meterdb::Quality(c.quality).is_valid(),
                    id: Some(c.id),
                    revision: None,
                    corrected: false,
                })
            };
            let p1 = d.send_changes(db, sim_now, &mut rt)?;
            let mut day = |b: &meterdb::BucketChange| {
                let (code, gauge) = codes.get(b.point as usize)?.as_ref()?;
                let value = if *gauge {
                    b.row.mean?
                } else {
                    b.row.consumption?
                };
                // A day with estimated readings is estimated; else one with readings
                // entered by hand is manual.
                let bk = &b.row.bucket;
                let input_type = if bk.estimated > 0 {
                    3
                } else if bk.manual > 0 {
                    2
                } else {
                    1
                };
                Some(Record {
                    enterprise: ent.clone(),
                    data_code: code.clone(),
                    value: (value * 1000.0).round() / 1000.0,
                    input_type,
                    stat_type: STAT_DAY,
                    stat_ts: b.row.bucket.start,
                    valid: true,
                    id: None,
                    revision: Some(b.revision),
                    corrected: b.corrected,
                })
            };
            let p2 = if p1 == Pass::Idle {
                d.send_buckets(db, Tier::Day, sim_now, sim_now, &mut day)?
            } else {
                Pass::Backoff
            };
            idle &= p2 == Pass::Idle;
        }
        Ok(idle)
    };
    while tick < end {
        if let Some(speed) = a.speed {
            let due = Duration::from_secs_f64((tick - sim0) as f64 / 1000.0 / speed);
            if let Some(wait) = due.checked_sub(wall0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        batch.clear();
        for (m, &id) in plant.meters.iter().zip(&ids) {
            if let Some(v) = m.value(plant.start, plant.interval_ms, tick) {
                batch.put(id, tick, v);
            }
        }
        db.write(&batch)?;
        collected += batch.len() as u64;
        if tick >= next_upload {
            upload(&db, &mut dests, tick)?;
            next_upload += UPLOAD_EVERY_MS;
        }
        tick += a.interval_ms;
    }
    // The span is collected: send what is left, the last day's statistics too.
    let deadline = Instant::now() + Duration::from_secs(a.drain_timeout_s);
    let drained = loop {
        if upload(&db, &mut dests, end)? {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let failures: u64 = dests.iter().map(|d| d.failures).sum();
    let acked: u64 = dests.iter().map(|d| d.acked).sum();
    println!(
        "collected {collected} samples in this run ({} points, {:.1} s); {acked} records acknowledged, {failures} failed attempts",
        ids.len(),
        wall0.elapsed().as_secs_f64()
    );
    if a.rss_report {
        // Read the peak before anything else runs (`stats` reads every segment's index).
        let peak = peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
        let st = db.stats()?;
        println!(
            "peak RSS {peak:.1} MiB (VmHWM); memtable limit {} MiB, batch {} records, partitions {} h, tiers {:?}; db {} samples",
            a.memtable_mib,
            a.batch,
            a.partition_hours,
            a.tiers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            st.segment_samples + st.memtable_samples
        );
    }
    db.close()?;
    if !drained {
        eprintln!("gateway: not everything was acknowledged within --drain-timeout-s");
        std::process::exit(2);
    }
    Ok(())
}
