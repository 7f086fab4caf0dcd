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
mod replace;
mod rollup;
mod stats;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use meterdb::{Db, Durability, Options, PointKind, Register, Timestamp};

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
    /// `point,bucket_start,count,sum,min,max,first,last,mean,consumption,invalid,manual,estimated,backward`
    ///
    /// bucket_start is RFC 3339 with the database's offset; consumption is empty for gauges.
    /// Invalid readings (quality bit 0 clear) enter no figure: count, sum, min, max, first,
    /// last, mean and consumption are those of the valid readings, and `invalid` counts the
    /// others. `manual` and `estimated` count the valid readings entered by hand (quality
    /// bit 1) and estimated (quality bit 2); `backward` counts a counter's backward steps
    /// (falls that are neither a rollover nor a meter replacement). A counter's buckets
    /// inside an outage have count 0 and their share of the consumption.
    Rollup(RollupArgs),
    /// Record that a counter's meter was replaced at a time (or, with --forget, remove that
    /// record): the old meter's register read --old-final last, the new one started at
    /// --new-initial. The buckets it changes are derived again.
    ReplaceMeter(ReplaceMeterArgs),
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
    #[arg(long, value_parser = names(PointKind::ALL.map(PointKind::as_str), PointKind::parse))]
    kind: Option<PointKind>,
    /// CSV of point metadata, defined before the data is read: header
    /// `point,kind[,unit,precision,energy_type,interval_ms,multiplier,register,rollover]`
    /// (register: import or net, for counters; rollover: the reading after which a counter's
    /// register wraps to zero). It is checked whole first: any bad row stops the command
    /// before anything is written.
    #[arg(long, value_name = "FILE.csv")]
    meta: Option<PathBuf>,
    /// Register of the counters this import defines (from the data, and in --meta rows
    /// without a register): import (the default: a backward step adds nothing) or net (a
    /// bidirectional register: consumption is the signed change). A counter defined again
    /// without one keeps its register.
    #[arg(long, value_parser = names(Register::ALL.map(Register::as_str), Register::parse))]
    register: Option<Register>,
    /// Time zone of the rollup buckets (e.g. +08:00) when the import creates the database;
    /// an existing database keeps its own (a different value is an error). Default +08:00.
    #[arg(long, value_parser = parse_tz_arg, allow_hyphen_values = true)]
    tz: Option<i32>,
    /// Input files; a name ending in `.gz` is read as gzip.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// An argument that takes one of the engine's names of an enum (`code_enum!`), listed in
/// `--help`, parsed by the engine.
fn names<T: Clone + Send + Sync + 'static, const N: usize>(
    names: [&'static str; N],
    parse: fn(&str) -> meterdb::Result<T>,
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(names).try_map(move |s: String| parse(&s))
}

#[derive(Debug, clap::Args)]
struct ReplaceMeterArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
    /// Key of the counter.
    #[arg(long)]
    point: String,
    /// When the new meter took over (RFC 3339 or epoch ms): readings before it are the old
    /// meter's, readings at or after it the new one's.
    #[arg(long, value_parser = parse_ts_arg)]
    ts: Timestamp,
    /// The old meter's last reading.
    #[arg(long, required_unless_present = "forget", allow_hyphen_values = true)]
    old_final: Option<f64>,
    /// The new meter's first reading.
    #[arg(long, required_unless_present = "forget", allow_hyphen_values = true)]
    new_initial: Option<f64>,
    /// Remove the replacement recorded at --ts instead.
    #[arg(long, conflicts_with_all = ["old_final", "new_initial"])]
    forget: bool,
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
        Command::ReplaceMeter(a) => replace::run(a),
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
