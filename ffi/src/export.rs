//! `meterdb_export`: raw samples or a rollup tier as Hive-partitioned Parquet files, for Spark,
//! Trino, DuckDB or DataFusion. Needs the library built with the cargo feature `parquet`
//! (`cargo build -p meterdb-ffi --features parquet`); without it `meterdb_export` returns
//! `MDB_UNSUPPORTED`, and `meterdb_has_parquet` says which build this is.

use std::ffi::c_char;

use crate::args::{out_opt, slice, string};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, with_db};
use crate::status::meterdb_status;

/// In `meterdb_export`'s `tier`: raw samples (the rollup tiers are the `meterdb_tier` values
/// 1 to 5).
pub const MDB_EXPORT_RAW: i32 = 0;

/// What `meterdb_export` wrote, filled into the caller's struct. A later version adds a
/// `_v2`; this one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct meterdb_export_summary {
    /// Rows written.
    pub rows: u64,
    /// Parquet files written.
    pub files: u64,
    /// Bytes of the files written.
    pub bytes: u64,
    /// Partition directories written.
    pub partitions: u64,
    /// Partition directories removed because the range no longer holds data there.
    pub removed: u64,
    /// Points selected.
    pub points: u64,
}

/// 1 when this library was built with Parquet export (`meterdb_export` works), else 0.
#[no_mangle]
pub extern "C" fn meterdb_has_parquet() -> u32 {
    boundary! { u32::from(cfg!(feature = "parquet")) }
}

#[cfg(feature = "parquet")]
fn run(
    d: &engine::Db,
    out_dir: &str,
    tier: i32,
    from: i64,
    to: i64,
    keys: Option<Vec<String>>,
) -> FfiResult<meterdb_export_summary> {
    use engine::export::{export, ExportOptions, Selection, Source};
    let source = if tier == MDB_EXPORT_RAW {
        Source::Raw
    } else {
        Source::Tier(crate::rollup::tier_from(tier).map_err(|_| {
            Failure::invalid(format!(
                "tier {tier} is not one of 0 (MDB_EXPORT_RAW), 1 (MDB_TIER_MINUTE), 2 (hour), \
                 3 (day), 4 (month), 5 (year)"
            ))
        })?)
    };
    let selection = match keys {
        Some(k) => Selection::Keys(k),
        None => Selection::Filter(engine::PointFilter::default()),
    };
    let s = export(
        d,
        &selection,
        source,
        from,
        to,
        std::path::Path::new(out_dir),
        &ExportOptions::default(),
        &mut |_| {},
    )?;
    Ok(meterdb_export_summary {
        rows: s.rows,
        files: s.files,
        bytes: s.bytes,
        partitions: s.partitions,
        removed: s.removed,
        points: s.points as u64,
    })
}

#[cfg(not(feature = "parquet"))]
fn run(
    _d: &engine::Db,
    _out_dir: &str,
    _tier: i32,
    _from: i64,
    _to: i64,
    _keys: Option<Vec<String>>,
) -> FfiResult<meterdb_export_summary> {
    Err(Failure::new(
        meterdb_status::MDB_UNSUPPORTED,
        "this libmeterdb was built without Parquet export: rebuild it with \
         `cargo build --release -p meterdb-ffi --features parquet`",
    ))
}

/// Exports raw samples (`tier` = `MDB_EXPORT_RAW`) or the buckets of a rollup tier (a
/// `meterdb_tier`) with `from <= t < to` to Parquet files under directory `out_dir`,
/// partitioned Hive-style (`out_dir/tier=raw/date=2026-11-24/part-0.parquet`; raw, minute and
/// hour by day, day buckets by month, month and year buckets by year, in the database's time
/// zone). The range is widened to whole partitions, and re-exporting a range replaces its
/// partitions atomically. Columns: the point's key and metadata (dictionary-encoded), then
/// `ts` (timestamp, ms, with the database's zone), `value` (double) and `quality` (uint8) for
/// raw samples, or the bucket's figures for a tier.
///
/// The points: the `n_keys` point keys in `keys`, or every point when `keys` is NULL (with
/// `n_keys` 0). `out_summary` may be NULL; else it receives what was written.
///
/// Errors: `MDB_UNSUPPORTED` when the library was built without the `parquet` feature
/// (`meterdb_has_parquet` returns 0); `MDB_INVALID_ARGUMENT` for `from >= to` or a bad tier;
/// `MDB_NOT_FOUND` for an unknown key; `MDB_IO` when the files cannot be written.
///
/// # Safety
/// `db` is NULL or a live handle; `out_dir` is NULL or a NUL-terminated string; `keys` is NULL
/// or readable for `n_keys` pointers, each NULL or a NUL-terminated string; `out_summary` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_export(
    db: *const meterdb_db,
    out_dir: *const c_char,
    tier: i32,
    from: i64,
    to: i64,
    keys: *const *const c_char,
    n_keys: usize,
    out_summary: *mut meterdb_export_summary,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let out_dir = string(out_dir, "out_dir")?;
            let o = out_opt(out_summary, "out_summary")?;
            let keys = if keys.is_null() {
                if n_keys != 0 {
                    return Err(Failure::null("keys (with n_keys > 0)"));
                }
                None
            } else {
                let ptrs = slice(keys, n_keys, "keys")?;
                let mut v = Vec::with_capacity(ptrs.len());
                for (i, &p) in ptrs.iter().enumerate() {
                    v.push(string(p, &format!("keys[{i}]"))?.to_string());
                }
                Some(v)
            };
            let s = run(d, out_dir, tier, from, to, keys)?;
            if let Some(o) = o {
                o.set(s);
            }
            Ok(())
        }) }
    }
}
