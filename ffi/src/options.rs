//! `meterdb_options`: how a database is opened.

use std::time::Duration;

use engine::{Durability, Options, TierSet};

use crate::args::{handle_mut, out};
use crate::boundary::{Failure, FfiResult};
use crate::handles;
use crate::status::{meterdb_durability, meterdb_status};

/// Options for `meterdb_db_open`, built with the `meterdb_options_set_*` functions.
///
/// Created by `meterdb_options_new`, freed by `meterdb_options_free`. `meterdb_db_open`
/// copies what it needs, so the options may be freed (or reused for another open) right after.
/// Not thread-safe: do not use one from two threads at once; it may move between threads.
#[derive(Debug)]
pub struct meterdb_options {
    opts: Options,
    mode: meterdb_durability,
    interval_ms: u64,
}

impl meterdb_options {
    /// The engine options these describe.
    pub(crate) fn to_options(&self) -> Options {
        let durability = match self.mode {
            meterdb_durability::MDB_DURABILITY_SYNC => Durability::Sync,
            meterdb_durability::MDB_DURABILITY_NONE => Durability::None,
            meterdb_durability::MDB_DURABILITY_INTERVAL => {
                Durability::Interval(Duration::from_millis(self.interval_ms))
            }
        };
        self.opts.clone().durability(durability)
    }
}

impl Default for meterdb_options {
    fn default() -> Self {
        meterdb_options {
            opts: Options::default(),
            mode: meterdb_durability::MDB_DURABILITY_SYNC,
            interval_ms: 1000,
        }
    }
}

/// Creates options with every setting at its default: durability `MDB_DURABILITY_SYNC`,
/// sync interval 1000 ms, memtable 64 MiB, partitions of 7 days, compaction after 4 segment
/// files, background thread on, create the database if missing, the time zone the database
/// was created with (+08:00 for a new one), every rollup tier kept.
///
/// On success `*out_opts` is a new handle, to be freed with `meterdb_options_free`.
///
/// # Safety
/// `out_opts` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_new(
    out_opts: *mut *mut meterdb_options,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_opts` is NULL or writable (caller's promise).
        let o = unsafe { out(out_opts, "out_opts") }?;
        o.set(Box::into_raw(Box::default()));
        Ok(())
    }
}

/// Frees options. NULL is allowed and does nothing.
///
/// # Safety
/// `opts` is NULL or a handle from `meterdb_options_new` not yet freed; it must not be used
/// after this call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_free(opts: *mut meterdb_options) {
    // SAFETY: as this function's.
    unsafe { handles::free(opts) }
}

/// Applies `f` to the options behind `opts`.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread.
unsafe fn with_opts(
    opts: *mut meterdb_options,
    f: impl FnOnce(&mut meterdb_options) -> FfiResult,
) -> FfiResult {
    // SAFETY: as this function's.
    f(unsafe { handle_mut(opts, "opts") }?)
}

/// Sets the durability mode: one of `meterdb_durability` (`MDB_DURABILITY_SYNC`,
/// `MDB_DURABILITY_INTERVAL`, `MDB_DURABILITY_NONE`). Another value gives
/// `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_durability(
    opts: *mut meterdb_options,
    mode: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.mode = match mode {
                0 => meterdb_durability::MDB_DURABILITY_SYNC,
                1 => meterdb_durability::MDB_DURABILITY_INTERVAL,
                2 => meterdb_durability::MDB_DURABILITY_NONE,
                m => return Err(Failure::invalid(format!("durability mode {m} is not one of 0 (sync), 1 (interval), 2 (none)"))),
            };
            Ok(())
        }) }
    }
}

/// Sets the interval of the background WAL sync used with `MDB_DURABILITY_INTERVAL`, in
/// milliseconds (default 1000). Zero gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_sync_interval_ms(
    opts: *mut meterdb_options,
    interval_ms: u64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            if interval_ms == 0 {
                return Err(Failure::invalid("a sync interval of 0 ms: use MDB_DURABILITY_SYNC"));
            }
            o.interval_ms = interval_ms;
            Ok(())
        }) }
    }
}

/// Sets the memtable size, in bytes, at which memory is flushed to segment files (default
/// 64 MiB, at least 4096: checked when the database is opened).
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_memtable_bytes(
    opts: *mut meterdb_options,
    bytes: usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.memtable_bytes = bytes;
            Ok(())
        }) }
    }
}

/// Turns the background flush and compaction thread on (non-zero, the default) or off
/// (0: they run only in `meterdb_db_flush` and `meterdb_db_compact`).
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_background(
    opts: *mut meterdb_options,
    on: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.background = on != 0;
            Ok(())
        }) }
    }
}

/// Sets the width of a time partition of segment files, in milliseconds (default 7 days;
/// 1 minute to 366 days, checked when the database is opened). Fixed when the database is
/// created.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_partition_ms(
    opts: *mut meterdb_options,
    partition_ms: i64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.partition_ms = partition_ms;
            Ok(())
        }) }
    }
}

/// Sets how many segment files a partition may have before the background thread
/// compacts it (default 4, at least 2: checked when the database is opened).
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_compaction_trigger(
    opts: *mut meterdb_options,
    files: usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.compaction_trigger = files;
            Ok(())
        }) }
    }
}

/// Sets how many threads a flush uses (at least 1: checked when the database is opened).
/// With 2, the rollup tiers are computed and written on a second thread while the raw
/// segment files are written; with 1, one after the other. The default is 2 on a machine
/// with two cores or more, else 1; the files written are the same either way.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_flush_threads(
    opts: *mut meterdb_options,
    threads: usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.flush_threads = threads;
            Ok(())
        }) }
    }
}

/// Whether `meterdb_db_open` creates a database where there is none (non-zero, the default)
/// or fails with `MDB_NOT_FOUND` (0).
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_create_if_missing(
    opts: *mut meterdb_options,
    create: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.create_if_missing = create != 0;
            Ok(())
        }) }
    }
}

/// Sets the time zone of the rollup tiers' calendar buckets (days, months, years), as a fixed
/// offset in minutes east of UTC (480 for +08:00; -18:00 to +18:00, checked when the database
/// is opened). Fixed when the database is created: without this call a new database uses
/// +08:00 and an existing one the zone it was created with; a different zone for an existing
/// database makes `meterdb_db_open` fail with `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_tz_offset_min(
    opts: *mut meterdb_options,
    minutes: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.tz_offset_min = Some(minutes);
            Ok(())
        }) }
    }
}

/// Sets the rollup tiers a point keeps unless its definition says otherwise
/// (`meterdb_db_define_point_v2`): a mask of tiers, bit `1 << (t - 1)` for tier `t` of
/// `meterdb_tier`, from 0 (none) to `MDB_TIERS_ALL` (the default). Another value gives
/// `MDB_INVALID_ARGUMENT`. A query of a tier a point does not keep fails with
/// `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_tiers(
    opts: *mut meterdb_options,
    tiers: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.tiers = tier_mask(tiers)?;
            Ok(())
        }) }
    }
}

/// A mask of tiers from C (0 to `MDB_TIERS_ALL`).
pub(crate) fn tier_mask(tiers: i32) -> FfiResult<TierSet> {
    match u8::try_from(tiers) {
        Ok(m) if m <= TierSet::ALL.0 => Ok(TierSet(m)),
        _ => Err(Failure::invalid(format!(
            "tier mask {tiers} is not a set of tiers (0 to MDB_TIERS_ALL, {})",
            TierSet::ALL.0
        ))),
    }
}

/// Sets the retention limits of raw samples (`tier` 0) or of a rollup tier (`tier` a
/// `meterdb_tier`, 1 to 5): partitions that end more than `max_age_ms` before the newest
/// sample time are dropped, and the oldest partitions while the tier's files take more than
/// `max_bytes` (for raw samples the write-ahead log counts too). A negative value means no
/// limit of that kind; the default is no limit at all. Raw data an upload cursor has not acknowledged is never dropped by age; a
/// raw byte cap that could only be met by dropping it makes writes fail with
/// `MDB_STORAGE_FULL` (see `meterdb_options_set_retention_drop_unacked`). Limits apply at each
/// flush and in `meterdb_db_apply_retention`. Another `tier` gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_retention(
    opts: *mut meterdb_options,
    tier: i32,
    max_age_ms: i64,
    max_bytes: i64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            let limit = engine::TierLimit {
                max_age_ms: (max_age_ms >= 0).then_some(max_age_ms),
                max_bytes: u64::try_from(max_bytes).ok(),
            };
            let r = &mut o.opts.retention;
            if tier == 0 {
                r.raw = limit;
                return Ok(());
            }
            let t = u8::try_from(tier).ok().and_then(engine::Tier::from_kind).ok_or_else(|| {
                Failure::invalid(format!(
                    "tier {tier} is not one of 0 (raw samples), 1 (MDB_TIER_MINUTE), 2 (hour), \
                     3 (day), 4 (month), 5 (year)"
                ))
            })?;
            r.tiers.retain(|x| x.0 != t);
            r.tiers.push((t, limit));
            Ok(())
        }) }
    }
}

/// What happens when the raw byte cap of `meterdb_options_set_retention` could only be met by
/// dropping changes an upload cursor has not acknowledged: 0 (the default) refuses writes with
/// `MDB_STORAGE_FULL` until the cursors acknowledge; non-zero drops the oldest such changes
/// (moving those cursors forward) and records each drop in the upload log.
///
/// # Safety
/// `opts` is NULL or a live handle used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_options_set_retention_drop_unacked(
    opts: *mut meterdb_options,
    drop_unacked: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_opts(opts, |o| {
            o.opts.retention.drop_unacked = drop_unacked != 0;
            Ok(())
        }) }
    }
}
