//! Storage statistics: totals in a caller's struct, per-point figures through a report
//! handle read by index.

use std::ffi::{c_char, CString};

use engine::DbStats;

use crate::args::{handle, out};
use crate::db::{meterdb_db, with_db};
use crate::handles::{self, give, Rows};
use crate::status::meterdb_status;

/// Storage totals of a database, filled by `meterdb_db_stats` into the caller's struct.
///
/// A later version that reports more adds a `meterdb_db_stats_v2` with a larger struct; this
/// one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct meterdb_stats {
    /// Points defined.
    pub points: u64,
    /// Samples in segment files (before compaction a repeated timestamp in two segments
    /// counts twice; after, exact).
    pub segment_samples: u64,
    /// Samples buffered in memory, not yet flushed to segment files.
    pub memtable_samples: u64,
    /// Segment files.
    pub segment_files: u64,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of write-ahead log files.
    pub wal_bytes: u64,
}

impl From<&DbStats> for meterdb_stats {
    fn from(s: &DbStats) -> Self {
        meterdb_stats {
            points: s.points as u64,
            segment_samples: s.segment_samples,
            memtable_samples: s.memtable_samples,
            segment_files: s.segment_files as u64,
            segment_bytes: s.segment_bytes,
            wal_bytes: s.wal_bytes,
        }
    }
}

/// Storage figures of one point, filled by `meterdb_stats_report_point`. The strings belong
/// to the report and live until it is freed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct meterdb_point_stats {
    /// The point's id.
    pub id: u32,
    /// Its key.
    pub key: *const c_char,
    /// Samples in segment files.
    pub samples: u64,
    /// Bytes of its column blocks (timestamps, values, quality).
    pub bytes: u64,
    /// Bytes of its timestamp columns.
    pub ts_bytes: u64,
    /// Bytes of its value columns.
    pub value_bytes: u64,
    /// Codecs of its timestamp columns with their block counts, e.g. `"delta:3,raw:1"`
    /// (`""` when it has no segment data).
    pub ts_codecs: *const c_char,
    /// Codecs of its value columns, in the same form.
    pub value_codecs: *const c_char,
}

/// A snapshot of a database's storage statistics, per point and overall, made by
/// `meterdb_db_stats_report` and freed by `meterdb_stats_report_free`. It does not depend on
/// the database handle (it may outlive it). Immutable: may be read from several threads at
/// once.
#[derive(Debug)]
pub struct meterdb_stats_report {
    totals: meterdb_stats,
    /// Owns the strings `points[i].key`, `.ts_codecs` and `.value_codecs` point into (moving
    /// a `CString` keeps its bytes).
    _strings: Vec<[CString; 3]>,
    points: Vec<meterdb_point_stats>,
}

impl meterdb_stats_report {
    fn new(s: &DbStats) -> Self {
        let strings: Vec<[CString; 3]> = s
            .per_point
            .iter()
            .map(|p| [text(&p.key), codecs(&p.ts_codecs), codecs(&p.value_codecs)])
            .collect();
        let points = s
            .per_point
            .iter()
            .zip(&strings)
            .map(|(p, [key, ts_codecs, value_codecs])| meterdb_point_stats {
                id: p.id,
                key: key.as_ptr(),
                samples: p.samples,
                bytes: p.bytes,
                ts_bytes: p.ts_bytes,
                value_bytes: p.value_bytes,
                ts_codecs: ts_codecs.as_ptr(),
                value_codecs: value_codecs.as_ptr(),
            })
            .collect();
        meterdb_stats_report {
            totals: meterdb_stats::from(s),
            _strings: strings,
            points,
        }
    }
}

impl Rows for meterdb_stats_report {
    const WHAT: &'static str = "report";
    const NOUN: &'static str = "points";
    const OF: &'static str = "report's ";
    const OUT: &'static str = "out_stats";
    type Row = meterdb_point_stats;
    fn rows(&self) -> &[meterdb_point_stats] {
        &self.points
    }
}

fn text(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

fn codecs(list: &[(String, usize)]) -> CString {
    text(
        &list
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Fills `*out_stats` with the database's storage totals.
///
/// # Safety
/// `db` is NULL or a live handle; `out_stats` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_stats(
    db: *const meterdb_db,
    out_stats: *mut meterdb_stats,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let o = out(out_stats, "out_stats")?;
            o.set(meterdb_stats::from(&d.stats()?));
            Ok(())
        }) }
    }
}

/// Makes a statistics report (totals and per point): on success `*out_report` is a new
/// report (free it with `meterdb_stats_report_free`); on failure it is set to NULL.
///
/// # Safety
/// `db` is NULL or a live handle; `out_report` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_stats_report(
    db: *const meterdb_db,
    out_report: *mut *mut meterdb_stats_report,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_report` is NULL or writable (caller's promise).
        let o = unsafe { out(out_report, "out_report") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        let r = unsafe { with_db(db, |d| Ok(meterdb_stats_report::new(&d.stats()?))) };
        give(o, r)
    }
}

/// Copies a report's totals into `*out_stats`.
///
/// # Safety
/// `report` is NULL or a live report; `out_stats` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_stats_report_totals(
    report: *const meterdb_stats_report,
    out_stats: *mut meterdb_stats,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { out(out_stats, "out_stats")?.set(handle(report, "report")?.totals) };
        Ok(())
    }
}

/// Writes the number of points in a report to `*n_out` (indexes run from 0 to `*n_out - 1`).
///
/// # Safety
/// `report` is NULL or a live report; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_stats_report_point_count(
    report: *const meterdb_stats_report,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(report, n_out) }
}

/// Fills `*out_stats` with the figures of the report's `index`-th point (points are in id
/// order). An index past the end gives `MDB_INVALID_ARGUMENT`. The strings in `*out_stats`
/// belong to the report.
///
/// # Safety
/// `report` is NULL or a live report; `out_stats` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_stats_report_point(
    report: *const meterdb_stats_report,
    index: usize,
    out_stats: *mut meterdb_point_stats,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(report, index, out_stats) }
}

/// Frees a statistics report. NULL is allowed and does nothing.
///
/// # Safety
/// `report` is NULL or a report from `meterdb_db_stats_report` not yet freed, not used after
/// (nor the strings it handed out).
#[no_mangle]
pub unsafe extern "C" fn meterdb_stats_report_free(report: *mut meterdb_stats_report) {
    // SAFETY: as this function's.
    unsafe { handles::free(report) }
}
