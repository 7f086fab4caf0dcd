//! `meterdb`: import, query, inspect and check a MeterDB database from the command line.
//!
//! Exit codes: 0 success, 1 failure or damage found, 2 usage error. Errors go to stderr as
//! `meterdb: <message>`. A closed stdout (`meterdb query ... | head`) ends the command
//! quietly with exit code 0.

#[cfg(feature = "parquet")]
mod export;
mod import;
mod out;
mod query;
mod rollup;
mod stats;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use meterdb::{Db, Durability, Options, PointKind, Timestamp};

use crate::out::CliError;

/// Command-line tool of MeterDB, a time-series storage engine for energy-meter data.
#[derive(Debug, Parser)]
#[command(
    name = "meterdb",
    version,
    after_help = "Exit codes: 0 success, 1 failure or damage found, 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import CSV files (`point,ts,value[,quality]`, plain or .gz) into a database.
    ///
    /// Columns are found by header name, in any order (other columns are refused); fields
    /// are trimmed of surrounding spaces; `ts` is RFC 3339 or integer epoch milliseconds;
    /// `quality` is 0..=255, empty meaning 1 (valid). Unknown points are created on first
    /// sight. A repeated point and timestamp keeps the last value read. Rows that cannot be read
    /// (wrong field count, bad timestamp, non-numeric or non-finite value, empty or overlong
    /// key) are skipped and reported with file, line and reason; they do not stop the import
    /// and do not change the exit code (0). Exit code 1 means an input or database error.
    ///
    /// The import is durable when the command returns: the data is flushed to segment
    /// files, compacted, and the WAL synced.
    Import(ImportArgs),
    /// Print a point's samples as CSV `point,ts,value` (ts in RFC 3339 UTC).
    Query(QueryArgs),
    /// Print a point's buckets at a tier as CSV
    /// `point,bucket_start,count,sum,min,max,first,last,mean,consumption` (bucket_start in
    /// RFC 3339 with the database's offset; consumption empty for gauges; a counter's buckets
    /// inside an outage have count 0 and their share of the consumption).
    Rollup(RollupArgs),
    /// Show storage figures: points, samples, bytes on disk, codecs per point.
    Stats(StatsArgs),
    /// Check every checksum of every file; exit 1 when damage is found.
    Verify(VerifyArgs),
    /// Export raw samples or a tier's buckets as Parquet files, partitioned Hive-style:
    /// `OUT/tier=raw/date=2026-11-24/part-0.parquet`.
    ///
    /// One directory per day for raw, minute and hour; per month for day buckets; per year
    /// for month and year buckets (dates in the database's time zone). The range is widened
    /// to whole partitions, and each partition directory it covers is replaced atomically
    /// (removed when it no longer holds data). Prints rows, files, bytes and rows/s.
    #[cfg(feature = "parquet")]
    Export(ExportArgs),
    /// Not in this build: it was built without the `parquet` feature.
    #[cfg(not(feature = "parquet"))]
    #[command(hide = true)]
    Export(NoExportArgs),
}

#[cfg(feature = "parquet")]
#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
    /// raw, minute, hour, day, month or year.
    #[arg(long, value_parser = parse_source_arg)]
    tier: meterdb::export::Source,
    /// Start of the range (RFC 3339 or epoch ms), moved back to its partition's start;
    /// default: the earliest.
    #[arg(long, value_parser = parse_ts_arg)]
    from: Option<Timestamp>,
    /// End of the range, excluded, moved forward to its partition's end; default: none.
    #[arg(long, value_parser = parse_ts_arg)]
    to: Option<Timestamp>,
    /// Output directory (created if missing); files go under `OUT/tier=TIER/`.
    #[arg(long)]
    out: PathBuf,
    /// A point key to export (repeat for several); default: every point.
    #[arg(long, value_name = "KEY")]
    point: Vec<String>,
    /// Export every point whose key starts with this.
    #[arg(long)]
    prefix: Option<String>,
    /// Rows per Parquet row group.
    #[arg(long, default_value_t = 1 << 20)]
    row_group_rows: usize,
    /// zstd compression level (1..=22).
    #[arg(long, default_value_t = 3)]
    zstd_level: i32,
    /// One partition directory per day, month or year (not finer than the tier); default:
    /// day for raw, minute and hour, month for day, year for month and year.
    #[arg(long, value_parser = parse_tier_arg)]
    partition: Option<meterdb::Tier>,
}

#[cfg(feature = "parquet")]
fn parse_source_arg(s: &str) -> Result<meterdb::export::Source, String> {
    meterdb::export::Source::parse(s).map_err(|e| out::engine_msg(&e))
}

#[cfg(not(feature = "parquet"))]
#[derive(Debug, clap::Args)]
struct NoExportArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// Database directory (created if missing).
    #[arg(long)]
    db: PathBuf,
    /// Kind of every point this import creates from the data (existing points keep theirs;
    /// without it, new points are gauges).
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// CSV of point metadata, defined before the data is read: header
    /// `point,kind[,unit,precision,energy_type,interval_ms,multiplier]`. It is checked
    /// whole first: any bad row stops the command before anything is written.
    #[arg(long, value_name = "FILE.csv")]
    meta: Option<PathBuf>,
    /// Time zone of the rollup buckets (e.g. +08:00) when the import creates the database;
    /// an existing database keeps its own (a different value is an error). Default +08:00.
    #[arg(long, value_parser = parse_tz_arg, allow_hyphen_values = true)]
    tz: Option<i32>,
    /// Input files; a name ending in `.gz` is read as gzip.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Counter,
    Gauge,
}

impl From<KindArg> for PointKind {
    fn from(k: KindArg) -> PointKind {
        match k {
            KindArg::Counter => PointKind::Counter,
            KindArg::Gauge => PointKind::Gauge,
        }
    }
}

#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
    /// Point key.
    #[arg(long)]
    point: String,
    /// First timestamp included (RFC 3339 or epoch ms); default: the earliest.
    #[arg(long, value_parser = parse_ts_arg)]
    from: Option<Timestamp>,
    /// First timestamp excluded (RFC 3339 or epoch ms); default: none.
    #[arg(long, value_parser = parse_ts_arg)]
    to: Option<Timestamp>,
}

#[derive(Debug, clap::Args)]
struct RollupArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
    /// Point key.
    #[arg(long)]
    point: String,
    /// minute, hour, day, month or year.
    #[arg(long, value_parser = parse_tier_arg)]
    tier: meterdb::Tier,
    /// First bucket: the one holding this time (RFC 3339 or epoch ms); default: the earliest.
    #[arg(long, value_parser = parse_ts_arg)]
    from: Option<Timestamp>,
    /// Buckets starting before this time; default: all.
    #[arg(long, value_parser = parse_ts_arg)]
    to: Option<Timestamp>,
    /// The database's time zone, e.g. +08:00; an error if the database keeps another.
    #[arg(long, value_parser = parse_tz_arg, allow_hyphen_values = true)]
    tz: Option<i32>,
}

fn parse_tier_arg(s: &str) -> Result<meterdb::Tier, String> {
    meterdb::Tier::parse(s).map_err(|e| out::engine_msg(&e))
}

fn parse_tz_arg(s: &str) -> Result<i32, String> {
    meterdb::time::parse_offset(s).map_err(|e| out::engine_msg(&e))
}

#[derive(Debug, clap::Args)]
struct StatsArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
}

fn parse_ts_arg(s: &str) -> Result<Timestamp, String> {
    meterdb::time::parse_timestamp(s).map_err(|e| out::engine_msg(&e))
}

/// Opens an existing database for a command that only reads: no background thread, and
/// no database is created where there is none. (Opening replays the WAL into memory.)
fn open_existing(dir: &std::path::Path) -> Result<Db, CliError> {
    let opts = Options {
        background: false,
        create_if_missing: false,
        durability: Durability::None,
        ..Options::default()
    };
    Db::open(dir, opts).map_err(|e| CliError::fail(format!("open {}: {e}", dir.display())))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Import(a) => import::run(a),
        Command::Query(a) => query::run(a),
        Command::Rollup(a) => rollup::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Verify(a) => verify::run(a),
        #[cfg(feature = "parquet")]
        Command::Export(a) => export::run(a),
        #[cfg(not(feature = "parquet"))]
        Command::Export(_) => Err(CliError::fail(
            "this meterdb was built without Parquet export: rebuild it with \
             `cargo build --features cli,parquet`",
        )),
    };
    match r {
        Ok(()) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(CliError::Failed) => ExitCode::from(1),
        Err(CliError::Fail(m)) => {
            out::warn(&m);
            ExitCode::from(1)
        }
        Err(CliError::Usage(m)) => {
            out::warn(&m);
            ExitCode::from(2)
        }
    }
}
