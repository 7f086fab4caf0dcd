//! The gateway of a key energy-consuming unit: registers with its platforms, downloads the
//! dictionaries and the unit's collection configuration, collects exactly the data items the
//! configuration names from its simulated meters into MeterDB, and uploads them to each
//! platform, resending until each acknowledges.
//!
//! ```text
//! gateway run --industry SCOPE --enterprise CODE --db DIR
//!         --platform URL [--platform URL]... [--ca-file FILE] [--insecure-http]
//!         [--enrollment-file FILE]... [--credentials DIR]
//!         [--isolation-out DIR --isolation-acks DIR --isolation-key-file FILE
//!          [--isolation-resend-s 600] [--config-file FILE (without --platform)]]
//!         [--serial S] [--config-every-s 60] [--interval-s 60] [--start 2026-01-01] [--days 7]
//!         [--speed max|N] [--seed N] [--memtable-mib 4] [--batch 5000] [--retry-ms 300] [--retry-max-ms 30000]
//!         [--drain-timeout-s 60] [--partition-hours 6] [--wal-mib 16] [--keep-days 0]
//!         [--tiers day[,month,...]] [--rss-report]
//! gateway uploads --db DIR [--credentials DIR] [--from yyyy-MM-dd] [--to yyyy-MM-dd] [--failed]
//! gateway uploads --db DIR --rejected
//! gateway health --db DIR
//! ```
//!
//! `gateway health` works while the gateway runs (it reads files, not the database): the
//! state the running gateway writes to `DB.status.json` after each upload pass (per platform:
//! records acknowledged, failed attempts, records rejected, the last error, the last
//! acknowledgement) and the rejected records kept in `DB.rejected/`, as JSON; exit status 0
//! when every platform's last attempt succeeded and no rejected record is kept, 2 otherwise
//! (move the files of `DB.rejected/` away once they are dealt with).
//!
//! The first start registers with every platform that has no credentials yet, with the
//! enrollment code of that platform (`--enrollment-file`, in the order of `--platform`; or
//! the environment variable `METERDB_ENROLLMENT_CODE` when there is one platform): never on
//! the command line. The device's token is kept in `--credentials DIR` (default
//! `DB.credentials`, 0700, files 0600). The first platform's configuration is applied with
//! `Db::apply_unit_catalog` at the start and every `--config-every-s` (wall time).
//!
//! The clock is simulated: collection runs from `--start` for `--days`, `--speed N` times
//! faster than real time (`max`: as fast as it can). Every collection tick is one durable
//! write batch. Every 15 simulated minutes, each platform is sent the real-time samples
//! after its cursor; once a day (when a day closes) the day statistics of every point. When
//! the simulated span is collected, the gateway keeps trying each platform until all is
//! acknowledged (or `--drain-timeout-s` passes: exit status 2). Killed at any point, it
//! resumes on restart from what it stored and from its cursors.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use meterdb::{
    ChangeKind, Db, Durability, Options, OutcomeFilter, PointId, Tier, TierSet, UploadOutcome,
    WriteBatch,
};
use meterdb_examples::api::{catalog_update, ConfigFile, RegisterRequest};
use meterdb_examples::client::{enrollment_code, Client, Credentials};
use meterdb_examples::industry::{check_uscc, DataCode, Industry, Measure, Plant};
use meterdb_examples::isolation::{Key, Sender};
use meterdb_examples::records::{
    format_datetime, input_type_of, parse_date, Record, STAT_DAY, STAT_REALTIME,
};
use meterdb_examples::upload::{cursor_name, now_ms, peak_rss_kib, Destination, Pass};

const UPLOAD_EVERY_MS: i64 = 15 * 60_000;

#[derive(Parser, Debug)]
#[command(name = "gateway", about = "The gateway of a key energy-consuming unit")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Register, download the configuration, collect and upload.
    Run(Box<RunArgs>),
    /// The upload log: every attempt to send, with its outcome.
    Uploads(UploadsArgs),
    /// The gateway's state (also while it runs): uploads per platform, the last error, the
    /// records rejected; exit status 2 when something needs a look.
    Health(HealthArgs),
}

#[derive(clap::Args, Debug)]
struct HealthArgs {
    #[arg(long)]
    db: PathBuf,
}

/// Simulated time per wall time: `None` as fast as possible.
#[derive(Clone, Copy, Debug)]
struct Speed(Option<f64>);

fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed(None));
    }
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(Speed(Some(v))),
        _ => Err("max or a positive number".into()),
    }
}

fn parse_tiers(s: &str) -> Result<TierSet, String> {
    let mut t = TierSet::NONE.with(Tier::Day);
    for x in s.split(',').filter(|x| !x.is_empty()) {
        t = t.with(Tier::parse(x).map_err(|e| e.to_string())?);
    }
    Ok(t)
}

fn parse_day(s: &str) -> Result<i64, String> {
    parse_date(s)
}

fn parse_code(s: &str) -> Result<String, String> {
    check_uscc(s)?;
    Ok(s.to_string())
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The sub-scope (power, power-supply, heat-supply, steel, ironmaking, steelmaking,
    /// coking, casting, petrochemical, oil-gas-extraction).
    #[arg(long, value_parser = Industry::parse)]
    industry: Industry,
    /// The unit's unified social credit code.
    #[arg(long, value_parser = parse_code)]
    enterprise: String,
    /// The gateway's database directory.
    #[arg(long)]
    db: PathBuf,
    /// A platform's base URL (https://host:port); the first one's configuration is followed.
    #[arg(long = "platform", required_unless_present = "isolation_out")]
    platforms: Vec<String>,
    /// The CA certificates (PEM) trusted for https:// platforms (default: the public roots).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Allow http:// platform URLs (the token and data in clear text): local tests only.
    #[arg(long)]
    insecure_http: bool,
    /// Also (or only) send everything through an isolation gateway: sealed bundles are
    /// written to this directory, carried across as files.
    #[arg(long, requires_all = ["isolation_acks", "isolation_key_file"])]
    isolation_out: Option<PathBuf>,
    /// Where the platform's acknowledgements arrive (the data is kept until they do).
    #[arg(long, requires = "isolation_out")]
    isolation_acks: Option<PathBuf>,
    /// The key shared with the platform (hex, mode 0600: `provincial isolation keygen`).
    #[arg(long, requires = "isolation_out")]
    isolation_key_file: Option<PathBuf>,
    /// Write everything not acknowledged again after this many wall seconds without an
    /// acknowledgement.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    isolation_resend_s: u64,
    /// Without a platform: the unit's information and configuration, as `provincial unit
    /// export-config` writes them (read again every --config-every-s).
    #[arg(long, required_unless_present = "platforms")]
    config_file: Option<PathBuf>,
    /// The enrollment code for a platform not registered with yet (one per --platform, in order).
    #[arg(long = "enrollment-file")]
    enrollment_files: Vec<PathBuf>,
    /// Where the device's credentials are kept (default: DB.credentials).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// The gateway's serial number (default: SIM-{enterprise}).
    #[arg(long)]
    serial: Option<String>,
    /// How often to download the configuration, in wall seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    config_every_s: u64,
    /// Collection tick, in seconds (must divide a day).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=86400))]
    interval_s: i64,
    #[arg(long, default_value = "2026-01-01", value_parser = parse_day)]
    start: i64,
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3660))]
    days: u32,
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    speed: Speed,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=4096))]
    memtable_mib: u64,
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100000))]
    batch: u64,
    /// First wait after a failed upload, in ms (wall time; doubling after each failure).
    #[arg(long, default_value_t = 300)]
    retry_ms: u64,
    /// Longest wait after failed uploads, in ms.
    #[arg(long, default_value_t = 30_000)]
    retry_max_ms: u64,
    #[arg(long, default_value_t = 60)]
    drain_timeout_s: u64,
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i64).range(1..=24 * 366))]
    partition_hours: i64,
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    wal_mib: u64,
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=36600))]
    keep_days: i64,
    /// Rollup tiers kept besides day (e.g. month,year).
    #[arg(long, default_value = "day", value_parser = parse_tiers)]
    tiers: TierSet,
    /// Print the peak RSS at the end.
    #[arg(long)]
    rss_report: bool,
}

#[derive(clap::Args, Debug)]
struct UploadsArgs {
    #[arg(long)]
    db: PathBuf,
    /// Where the device's credentials are kept (default: DB.credentials), to name platforms.
    #[arg(long)]
    credentials: Option<PathBuf>,
    #[arg(long, value_parser = parse_day)]
    from: Option<i64>,
    #[arg(long, value_parser = parse_day)]
    to: Option<i64>,
    /// Failed attempts only (records a platform rejected among them).
    #[arg(long)]
    failed: bool,
    /// The records the platforms rejected, each with its reason (from DB.rejected/).
    #[arg(long)]
    rejected: bool,
    /// The tiers the gateway was run with (opening with others would derive them again).
    #[arg(long, default_value = "day", value_parser = parse_tiers)]
    tiers: TierSet,
}

/// Where the running gateway writes its state for `gateway health`: `DB.status.json`.
fn status_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".status.json");
    PathBuf::from(s)
}

/// Writes the state of the uploads to [`status_path`] (0600, replaced atomically).
fn write_status(db: &Path, dests: &[Destination], running: bool) {
    use std::os::unix::fs::OpenOptionsExt;
    let platforms: Vec<serde_json::Value> = dests
        .iter()
        .map(|d| {
            serde_json::json!({
                "url": d.url,
                "cursor": d.cursor,
                "epoch": d.epoch,
                "acknowledged": d.acked,
                "failedAttempts": d.failures,
                "rejected": d.rejected,
                "lastError": d.last_error,
                "lastAcknowledgedAt": d.last_ok_at.map(format_datetime),
            })
        })
        .collect();
    let v = serde_json::json!({
        "updatedAt": format_datetime(now_ms()),
        "pid": std::process::id(),
        "running": running,
        "platforms": platforms,
    });
    let path = status_path(db);
    let tmp = path.with_extension("tmp");
    let r = (|| {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::Write::write_all(&mut f, v.to_string().as_bytes())?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = r {
        eprintln!("gateway: {}: {e}", path.display());
    }
}

/// `gateway health`: the state the gateway wrote and the rejected records kept; whether
/// all is well.
fn health(a: &HealthArgs) -> Res<bool> {
    let status = match std::fs::read(status_path(&a.db)) {
        Ok(b) => Some(serde_json::from_slice::<serde_json::Value>(&b)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", status_path(&a.db).display()).into()),
    };
    let mut kept = 0u64;
    let mut by_upload = serde_json::Map::new();
    let mut last: Option<serde_json::Value> = None;
    each_rejected(&a.db, |v| {
        kept += 1;
        let key = v["cursor"].as_str().unwrap_or("-").to_string();
        let n = by_upload.get(&key).and_then(|x| x.as_u64()).unwrap_or(0);
        by_upload.insert(key, (n + 1).into());
        if last
            .as_ref()
            .is_none_or(|l| l["t"].as_i64() <= v["t"].as_i64())
        {
            last = Some(v);
        }
    })?;
    let failing = status
        .iter()
        .flat_map(|s| s["platforms"].as_array().into_iter().flatten())
        .filter(|p| !p["lastError"].is_null())
        .count();
    let ok = status.is_some() && failing == 0 && kept == 0;
    let last = last.map(|v| {
        serde_json::json!({
            "time": v["t"].as_i64().map(format_datetime),
            "upload": v["cursor"],
            "field": v["field"],
            "reason": v["reason"],
            "record": v["record"],
        })
    });
    let out = serde_json::json!({
        "ok": ok,
        "status": status,
        "rejectedKept": kept,
        "rejectedByUpload": by_upload,
        "lastRejection": last,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ok)
}

/// Each rejected record kept for the database `db`, file by file in name order (a torn last
/// line, from a crash while one was appended, is skipped).
fn each_rejected(db: &Path, mut f: impl FnMut(serde_json::Value)) -> Res<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(rejected_dir(db))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(&file)?.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                f(v);
            }
        }
    }
    Ok(())
}

/// Where records the platforms rejected are kept: `DB.rejected/{cursor}.jsonl`.
fn rejected_dir(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".rejected");
    PathBuf::from(s)
}

fn credentials_dir(db: &Path, given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        let mut s = db.as_os_str().to_owned();
        s.push(".credentials");
        PathBuf::from(s)
    })
}

fn main() {
    let r = match Cli::parse().cmd {
        Cmd::Run(a) => run(&a),
        Cmd::Uploads(a) => uploads(&a),
        Cmd::Health(a) => match health(&a) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(2),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = r {
        eprintln!("gateway: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn uploads(a: &UploadsArgs) -> Res<()> {
    if a.rejected {
        let mut n = 0;
        println!("time\tupload\tfield\treason\trecord");
        each_rejected(&a.db, |v| {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                v["t"].as_i64().map(format_datetime).unwrap_or_default(),
                v["cursor"].as_str().unwrap_or("-"),
                v["field"].as_str().unwrap_or("-"),
                v["reason"].as_str().unwrap_or("-"),
                v["record"]
            );
            n += 1;
        })?;
        println!("{n} records rejected");
        return Ok(());
    }
    let opts = Options {
        tiers: a.tiers,
        ..Options::default()
    };
    let db = Db::open(&a.db, opts).map_err(|e| {
        if e.kind() == meterdb::ErrorKind::Locked {
            format!(
                "{}: the gateway is running; look again when it has stopped",
                a.db.display()
            )
        } else {
            e.to_string()
        }
    })?;
    // Cursor names back to the platforms they send to.
    let dir = credentials_dir(&a.db, a.credentials.as_deref());
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if let Ok(b) = std::fs::read(e.path()) {
            if let Ok(c) = serde_json::from_slice::<Credentials>(&b) {
                let url = Client::new(&c.platform).url("/api/v1/data");
                names.push((cursor_name(&url), c.platform));
            }
        }
    }
    let filter = if a.failed {
        OutcomeFilter::Failed
    } else {
        OutcomeFilter::All
    };
    let recs = db.upload_records(
        a.from.unwrap_or(i64::MIN / 4),
        a.to.unwrap_or(i64::MAX / 4),
        filter,
    )?;
    println!("time\tplatform\tkind\tfirst id\tlast id\trecords\toutcome\tplatform time");
    for r in &recs {
        let (cursor, kind) = r.cursor.split_once(':').unwrap_or((&r.cursor, "real-time"));
        let platform = names
            .iter()
            .find(|n| n.0 == cursor)
            .map_or(cursor, |n| n.1.as_str());
        let outcome = match &r.outcome {
            UploadOutcome::Ok => "ok".to_string(),
            UploadOutcome::Failed(m) => format!("failed: {m}"),
        };
        println!(
            "{}\t{platform}\t{kind}\t{}\t{}\t{}\t{outcome}\t{}",
            format_datetime(r.at),
            r.first_id,
            r.last_id,
            r.samples,
            r.platform_time
                .map(format_datetime)
                .unwrap_or_else(|| "-".into())
        );
    }
    println!("{} attempts", recs.len());
    db.close()?;
    Ok(())
}

/// A configured data item the gateway collects.
#[derive(Debug, Clone)]
struct Collected {
    meter: usize,
    point: PointId,
    interval_ms: i64,
}

/// What the applied configuration makes the gateway collect, and the record fields per
/// point id (data code, gauge?).
struct Collection {
    plant: Plant,
    items: Vec<Collected>,
    codes: Vec<Option<(String, bool)>>,
    version: u64,
}

fn collection(db: &Db, a: &RunArgs, industry: Industry) -> Res<Collection> {
    let cat = db
        .unit_catalog()
        .ok_or("no collection configuration applied yet")?;
    let mut found = Vec::new();
    for (key, cfg) in &cat.configs {
        let code = match DataCode::parse(key) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("gateway: configured item {key}: {e}; not collected");
                continue;
            }
        };
        let Some(meter) = industry.meter_index(&code) else {
            eprintln!("gateway: no simulated meter for configured item {key}; not collected");
            continue;
        };
        let Some(point) = db.point_id(key) else {
            continue;
        };
        let tick = a.interval_s * 1000;
        let mut interval_ms = cfg.interval_ms.unwrap_or(tick);
        if interval_ms % tick != 0 {
            eprintln!(
                "gateway: item {key}: interval {interval_ms} ms is not a multiple of the {tick} ms tick; collected every tick"
            );
            interval_ms = tick;
        }
        found.push((
            code,
            Collected {
                meter,
                point,
                interval_ms,
            },
        ));
    }
    let n = found.iter().map(|f| f.1.meter + 1).max().unwrap_or(0);
    let plant = Plant::new(
        industry,
        &a.enterprise,
        a.seed,
        n,
        a.start,
        a.interval_s * 1000,
        a.days,
    );
    let mut codes: Vec<Option<(String, bool)>> = Vec::new();
    for (code, c) in &found {
        let i = c.point as usize;
        if codes.len() <= i {
            codes.resize(i + 1, None);
        }
        codes[i] = Some((code.text(), code.measure == Measure::Instant));
    }
    Ok(Collection {
        plant,
        items: found.into_iter().map(|f| f.1).collect(),
        codes,
        version: cat.version,
    })
}

/// Downloads the configuration from `client`; applies it when it is newer than the one
/// applied. Returns whether it changed.
fn sync_config(
    db: &Db,
    client: &Client,
    creds: &Credentials,
    serial: &str,
) -> Result<bool, String> {
    let have = db.unit_catalog_version();
    let cfg = client.config(&creds.token, &creds.enterprise_code, have)?;
    if !cfg.changed || cfg.version == have {
        return Ok(false);
    }
    if cfg.version < have {
        return Err(format!(
            "the platform's configuration version {} is older than the applied {have}",
            cfg.version
        ));
    }
    let info = client.unit(&creds.token, &creds.enterprise_code)?;
    let update = catalog_update(have, &cfg, &info, &creds.device_id, serial)?;
    let n = cfg.items.len();
    db.apply_unit_catalog(&update)
        .map_err(|e| format!("applying configuration version {}: {e}", cfg.version))?;
    println!(
        "configuration version {} applied: {n} data items",
        cfg.version
    );
    Ok(true)
}

/// Applies the configuration of `file` (`provincial unit export-config`) when it is newer
/// than the one applied. Returns whether it changed.
fn config_from_file(db: &Db, file: &Path, serial: &str) -> Result<bool, String> {
    let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let f: ConfigFile =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let have = db.unit_catalog_version();
    if f.config.version <= have {
        return Ok(false);
    }
    let update = catalog_update(have, &f.config, &f.unit, "isolation", serial)?;
    db.apply_unit_catalog(&update)
        .map_err(|e| format!("applying configuration version {}: {e}", f.config.version))?;
    println!(
        "configuration version {} applied from {}: {} data items",
        f.config.version,
        file.display(),
        f.config.items.len()
    );
    Ok(true)
}

fn run(a: &RunArgs) -> Res<()> {
    if 86_400 % a.interval_s != 0 {
        return Err("--interval-s must divide a day".into());
    }
    let industry = a.industry;
    let serial = a
        .serial
        .clone()
        .unwrap_or_else(|| format!("SIM-{}", a.enterprise));
    let end = a.start + i64::from(a.days) * 86_400_000;
    let opts = Options {
        // A process crash loses nothing in this mode (every write reaches the kernel); a
        // power loss can lose the last 200 ms, which the meters still hold.
        durability: Durability::Interval(Duration::from_millis(200)),
        memtable_bytes: (a.memtable_mib as usize) << 20,
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
    // A database that does not exist yet restarts the change ids: a platform this gateway
    // is registered with already is asked for a new device epoch before the database is
    // made (a crash in between asks again at the next start).
    let fresh_db = std::fs::read_dir(&a.db).map_or(true, |mut d| d.next().is_none());
    // Registration, with every platform not registered with yet.
    let cdir = credentials_dir(&a.db, a.credentials.as_deref());
    let mut clients = Vec::new();
    let tls = meterdb_examples::tls::client_config_opt(a.ca_file.as_deref())?;
    for url in &a.platforms {
        meterdb_examples::tls::check_url("--platform", url, a.insecure_http)?;
    }
    for (i, url) in a.platforms.iter().enumerate() {
        let client = Client::with_tls(url, tls.as_ref());
        let creds = match Credentials::load(&cdir, url)? {
            Some(mut c) if c.enterprise_code == a.enterprise => {
                if fresh_db {
                    let e = client.new_epoch(&c.token).map_err(|e| {
                        format!("{url}: a new database restarts the change ids, and a new device epoch could not be had: {e}")
                    })?;
                    c.epoch = Some(e);
                    c.save(&cdir)?;
                    println!(
                        "{url}: a new database: device {} is in epoch {e}",
                        c.device_id
                    );
                }
                c
            }
            Some(c) => {
                return Err(format!(
                    "{url}: the credentials in {} are of unit {}, not {}",
                    cdir.display(),
                    c.enterprise_code,
                    a.enterprise
                )
                .into())
            }
            None => {
                let file = a.enrollment_files.get(i);
                if file.is_none() && a.platforms.len() > 1 {
                    return Err(
                        format!("{url}: not registered yet: give its --enrollment-file").into(),
                    );
                }
                let code = enrollment_code(file.map(PathBuf::as_path))?;
                let req = RegisterRequest {
                    enterprise_code: a.enterprise.clone(),
                    serial: serial.clone(),
                    kind: Some("gateway".into()),
                    name: Some("gateway".into()),
                };
                let ans = client
                    .register(&code, &req)
                    .map_err(|e| format!("registering with {url}: {e}"))?;
                let c = Credentials {
                    platform: url.clone(),
                    enterprise_code: ans.enterprise_code,
                    device_id: ans.device_id,
                    token: ans.token,
                    epoch: ans.epoch,
                };
                c.save(&cdir)?;
                println!("registered with {url} as device {}", c.device_id);
                c
            }
        };
        clients.push((client, creds));
    }
    let db = Db::open(&a.db, opts)?;
    let primary = clients.first();
    if let Some((primary, pcreds)) = primary {
        match primary.dictionaries(&pcreds.token, None) {
            Ok(d) => println!(
                "dictionaries version {} ({} energy types)",
                d["version"],
                d["energyTypes"].as_array().map_or(0, Vec::len)
            ),
            Err(e) => eprintln!("gateway: dictionaries: {e}"),
        }
    }
    let follow = |db: &Db| match (primary, &a.config_file) {
        (Some((c, creds)), _) => sync_config(db, c, creds, &serial),
        (None, Some(f)) => config_from_file(db, f, &serial),
        (None, None) => Err("give --platform or --config-file".into()),
    };
    if let Err(e) = follow(&db) {
        if db.unit_catalog().is_none() {
            return Err(format!("no collection configuration: {e}").into());
        }
        eprintln!(
            "gateway: configuration not refreshed ({e}); collecting version {}",
            db.unit_catalog_version()
        );
    }
    let mut col = collection(&db, a, industry)?;
    let mut dests = Vec::new();
    for (client, creds) in &clients {
        let url = client.url("/api/v1/data");
        let mut d = Destination::open(&db, &url, &creds.token)?;
        d.epoch = creds.epoch;
        d.set_tls(tls.as_ref());
        d.keep_rejected_in(&rejected_dir(&a.db));
        d.set_retry(
            Duration::from_millis(a.retry_ms),
            Duration::from_millis(a.retry_max_ms.max(a.retry_ms)),
        );
        d.batch = a.batch as usize;
        println!("platform {}: cursor {}", client.base, d.cursor);
        dests.push(d);
    }
    let mut sender = match (&a.isolation_out, &a.isolation_acks, &a.isolation_key_file) {
        (Some(out), Some(acks), Some(kf)) => {
            let mut s = Sender::open(&db, &a.enterprise, out, acks, Key::load(kf)?)?;
            s.resend_after = Duration::from_secs(a.isolation_resend_s);
            println!(
                "isolation: bundles to {}, acknowledgements from {}",
                out.display(),
                acks.display()
            );
            Some(s)
        }
        _ => None,
    };
    // Resume after the last tick stored (a tick is one atomic batch).
    let mut tick = a.start;
    for c in &col.items {
        if let Some(s) = db.latest(c.point)? {
            tick = tick.max(s.ts + a.interval_s * 1000);
        }
    }
    if tick > a.start {
        println!("resuming at {}", meterdb::time::format_rfc3339(tick, 480));
    }
    let wall0 = Instant::now();
    let sim0 = tick;
    let mut next_upload = (tick / UPLOAD_EVERY_MS + 1) * UPLOAD_EVERY_MS;
    let config_every = Duration::from_secs(a.config_every_s);
    let mut next_config = Instant::now() + config_every;
    let mut batch = WriteBatch::with_capacity(col.items.len());
    let mut collected = 0u64;
    while tick < end {
        if let Some(speed) = a.speed.0 {
            let due = Duration::from_secs_f64((tick - sim0) as f64 / 1000.0 / speed);
            if let Some(wait) = due.checked_sub(wall0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if Instant::now() >= next_config {
            next_config = Instant::now() + config_every;
            match follow(&db) {
                Ok(true) => col = collection(&db, a, industry)?,
                Ok(false) => {}
                Err(e) => eprintln!("gateway: configuration: {e}"),
            }
        }
        batch.clear();
        for c in &col.items {
            if (tick - a.start) % c.interval_ms != 0 {
                continue;
            }
            let m = &col.plant.meters[c.meter];
            if let Some(v) = m.value(col.plant.start, col.plant.interval_ms, tick) {
                batch.put(c.point, tick, v);
            }
        }
        db.write(&batch)?;
        collected += batch.len() as u64;
        if tick >= next_upload {
            upload(&db, &mut dests, &col.codes, &a.enterprise, tick)?;
            write_status(&a.db, &dests, true);
            if let Some(s) = &mut sender {
                if let Err(e) = s.step(&db) {
                    eprintln!("gateway: isolation: {e}");
                }
            }
            next_upload += UPLOAD_EVERY_MS;
        }
        tick += a.interval_s * 1000;
    }
    // The span is collected: send what is left, the last day's statistics too.
    let deadline = Instant::now() + Duration::from_secs(a.drain_timeout_s);
    let mut status_at = Instant::now();
    let drained = loop {
        let idle = upload(&db, &mut dests, &col.codes, &a.enterprise, end)?;
        if status_at.elapsed() >= Duration::from_secs(1) {
            write_status(&a.db, &dests, true);
            status_at = Instant::now();
        }
        let sent = match &mut sender {
            Some(s) => s.step(&db).map_or_else(
                |e| {
                    eprintln!("gateway: isolation: {e}");
                    false
                },
                |st| st.drained(),
            ),
            None => true,
        };
        if idle && sent {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    write_status(&a.db, &dests, false);
    let failures: u64 = dests.iter().map(|d| d.failures).sum();
    let acked: u64 = dests.iter().map(|d| d.acked).sum();
    let rejected: u64 = dests.iter().map(|d| d.rejected).sum();
    println!(
        "collected {collected} samples in this run ({} points, configuration version {}, {:.1} s); {acked} records acknowledged, {failures} failed attempts, {rejected} records rejected by platforms (gateway uploads --rejected)",
        col.items.len(),
        col.version,
        wall0.elapsed().as_secs_f64()
    );
    if let Some(s) = &sender {
        println!(
            "isolation: {} bundles written, {} not acknowledged, {} acknowledgements refused",
            s.bundles,
            s.pending(),
            s.bad_acks
        );
    }
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

/// One upload pass to every destination: real-time samples, then closed day statistics.
/// True when nothing is left to send.
fn upload(
    db: &Db,
    dests: &mut [Destination],
    codes: &[Option<(String, bool)>],
    ent: &str,
    sim_now: i64,
) -> meterdb::Result<bool> {
    let mut idle = true;
    for d in dests.iter_mut() {
        let mut rt = |c: &meterdb::Change| {
            if c.kind != ChangeKind::Sample {
                return None;
            }
            let (code, _) = codes.get(c.point as usize)?.as_ref()?;
            Some(Record {
                enterprise: ent.to_string(),
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
        // uploadDate is the time of the upload (the wall clock), not the simulated time of
        // the readings: platforms refuse one far from their clock.
        let p1 = d.send_changes(db, now_ms(), &mut rt)?;
        let mut day = |b: &meterdb::BucketChange| {
            let (code, gauge) = codes.get(b.point as usize)?.as_ref()?;
            let value = if *gauge {
                b.row.mean?
            } else {
                b.row.consumption?
            };
            // A day with estimated readings is estimated; else one with readings entered
            // by hand is manual.
            let bk = &b.row.bucket;
            let input_type = if bk.estimated > 0 {
                3
            } else if bk.manual > 0 {
                2
            } else {
                1
            };
            Some(Record {
                enterprise: ent.to_string(),
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
            d.send_buckets(db, Tier::Day, sim_now, now_ms(), &mut day)?
        } else {
            Pass::Backoff
        };
        idle &= p2 == Pass::Idle;
    }
    Ok(idle)
}
