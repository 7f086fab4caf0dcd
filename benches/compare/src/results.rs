//! What a run measures, as written to `report.json` (and passed from the per-engine child
//! processes to the parent).

use serde::{Deserialize, Serialize};

use crate::codecs::SeriesCodec;

/// One ingest of a workload at a tier.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ingest {
    /// Workload name.
    pub workload: String,
    /// Tier name.
    pub tier: String,
    /// Samples written (arrivals, corrections included).
    pub samples: u64,
    /// Distinct samples stored at the end.
    pub stored: u64,
    /// Points defined.
    pub points: u64,
    /// Wall seconds of the writes (each batch acknowledged at the tier).
    pub wall_s: f64,
    /// Samples written per wall second.
    pub samples_per_s: f64,
    /// CPU seconds (all threads) of writes plus settling, per million samples written.
    pub cpu_s_per_m: f64,
    /// Wall seconds of settling (flush, compaction, checkpoint).
    pub settle_s: f64,
    /// Bytes of every file in the engine's directory after settling.
    pub disk_bytes: u64,
    /// `disk_bytes / stored`.
    pub bytes_per_sample: f64,
    /// Bytes sent to storage during writes plus settling (/proc/self/io write_bytes).
    pub written_bytes: u64,
    /// `written_bytes` per byte of input (16 bytes per sample written: i64 ts, f64 value).
    pub write_amp: f64,
    /// Resident memory when the engine was opened (workload arrays included), bytes.
    pub rss_base: u64,
    /// Peak resident memory above `rss_base` during writes, settling and queries, bytes.
    pub rss_peak_delta: u64,
}

/// One query's latency.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Query {
    /// Workload name.
    pub workload: String,
    /// Query name (Q1-day, Q1-month, Q2, Q3, Q4, Q5).
    pub query: String,
    /// Median wall milliseconds.
    pub median_ms: f64,
    /// Runs the median is of.
    pub reps: usize,
    /// Rows, samples or buckets returned.
    pub rows: u64,
}

/// One answer checked against the harness's reference.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Check {
    /// Workload name.
    pub workload: String,
    /// Query name.
    pub query: String,
    /// Buckets (or points, or samples) compared.
    pub buckets: u64,
    /// How many differ from the reference.
    pub wrong: u64,
    /// `wrong == 0`.
    pub pass: bool,
    /// First difference, if any.
    pub detail: String,
}

/// Recovery after the writer was killed with SIGKILL mid-ingest.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recovery {
    /// Samples acknowledged (at T1) before the kill, as last reported by the writer.
    pub acked: u64,
    /// Seconds from the writer's start to the kill.
    pub killed_after_s: f64,
    /// Wall seconds to reopen.
    pub reopen_s: f64,
    /// Samples readable after reopening.
    pub recovered: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Everything measured of one engine.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EngineReport {
    /// Engine name.
    pub engine: String,
    /// How it is configured.
    pub config: String,
    /// How each tier maps onto its settings.
    pub tiers: Vec<String>,
    /// Ingests.
    pub ingest: Vec<Ingest>,
    /// Query latencies.
    pub queries: Vec<Query>,
    /// Correctness checks.
    pub checks: Vec<Check>,
    /// W1 per point (key, samples, bytes, ts bytes, value bytes), where the engine reports it.
    pub point_bytes: Vec<(String, u64, u64, u64, u64)>,
    /// Crash recovery.
    pub recovery: Option<Recovery>,
    /// Steps that failed.
    pub errors: Vec<String>,
}

/// A workload's description.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkloadInfo {
    /// Name.
    pub name: String,
    /// Description.
    pub about: String,
    /// Points.
    pub points: u64,
    /// Samples arriving.
    pub arrivals: u64,
    /// Distinct samples at the end.
    pub samples: u64,
}

/// The whole run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// `smoke` or `full`.
    pub scale: String,
    /// The command that produced it.
    pub command: String,
    /// nproc, CPU model, memory, kernel.
    pub machine: String,
    /// Git commit of the harness.
    pub commit: String,
    /// UTC time of the run.
    pub date: String,
    /// Wall seconds of the whole run.
    pub run_s: f64,
    /// Workloads.
    pub workloads: Vec<WorkloadInfo>,
    /// Engines, MeterDB first.
    pub engines: Vec<EngineReport>,
    /// Codec baselines per series.
    pub codecs: Vec<SeriesCodec>,
    /// What was skipped and why.
    pub skipped: Vec<String>,
}
