//! `meterdb_db`: opening and closing a database, writes, deletes, `latest`, flush, compact,
//! sync and verify.

use std::ffi::c_char;
use std::sync::{Arc, PoisonError, RwLock};

use engine::{Db, Options, WriteBatch};

use crate::args::{copy_str, handle, out, out_opt, slice, string};
use crate::boundary::{Failure, FfiResult};
use crate::options::meterdb_options;
use crate::status::meterdb_status;

/// An open database.
///
/// Thread-safe: one handle may be used from any number of threads at once (writes from
/// several threads share fsyncs; reads see consistent snapshots).
///
/// Lifetime: `meterdb_db_open` creates it; `meterdb_db_close` closes the database (stops
/// its threads, syncs the WAL, releases the directory's lock) but keeps the handle, so every
/// later call on it returns `MDB_CLOSED` instead of misbehaving; `meterdb_db_free` closes
/// it if still open and frees the handle, after which the pointer must not be used at all.
/// Cursors (`meterdb_cursor`) and stats reports hold what they need and may outlive the
/// handle. Close waits for calls in flight on other threads to return.
#[derive(Debug)]
pub struct meterdb_db {
    /// Shared with the streaming results (`meterdb_result`), which may outlive the handle:
    /// closing or freeing the handle takes the `Db` out, and they then answer `MDB_CLOSED`.
    db: Arc<RwLock<Option<Db>>>,
}

/// The database behind a handle, as a streaming result keeps it.
#[derive(Clone, Debug)]
pub(crate) struct SharedDb(Arc<RwLock<Option<Db>>>);

impl SharedDb {
    /// Runs `f` on the open database, or fails with `MDB_CLOSED`.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Db) -> FfiResult<T>) -> FfiResult<T> {
        let g = self.0.read().unwrap_or_else(PoisonError::into_inner);
        match g.as_ref() {
            Some(db) => f(db),
            None => Err(Failure::closed("the database handle")),
        }
    }
}

impl meterdb_db {
    /// The database, shared with a streaming result.
    pub(crate) fn shared(&self) -> SharedDb {
        SharedDb(Arc::clone(&self.db))
    }

    /// Runs `f` on the open database, or fails with `MDB_CLOSED`. Holds a read lock, so
    /// `close` waits until `f` returns.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Db) -> FfiResult<T>) -> FfiResult<T> {
        let g = self.db.read().unwrap_or_else(PoisonError::into_inner);
        match g.as_ref() {
            Some(db) => f(db),
            None => Err(Failure::closed("the database handle")),
        }
    }
}

/// Runs `f` on the database behind a handle pointer.
///
/// # Safety
/// `db` is NULL or a live handle from `meterdb_db_open`.
pub(crate) unsafe fn with_db<T>(
    db: *const meterdb_db,
    f: impl FnOnce(&Db) -> FfiResult<T>,
) -> FfiResult<T> {
    // SAFETY: as this function's.
    unsafe { handle(db, "db") }?.with(f)
}

/// Refuses a path that cannot be a database directory before anything is created: an empty
/// one (which would create the database's files in the current directory), and one that
/// exists and is not a directory.
fn check_open_path(path: &str) -> FfiResult {
    if path.is_empty() {
        return Err(Failure::invalid(
            "path is empty: give the directory of the database (it is created if missing)",
        ));
    }
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => Err(Failure::invalid(format!(
            "path {path:?} exists and is not a directory: a database is a directory"
        ))),
        _ => Ok(()),
    }
}

/// Opens (or creates) the database in directory `path`, recovering from its write-ahead log.
/// An empty path, or one that exists and is not a directory, gives `MDB_INVALID_ARGUMENT`
/// and creates nothing.
///
/// `opts` may be NULL for the defaults; it is only read during the call. On success `*out_db`
/// is a new handle (free it with `meterdb_db_free`); on failure `*out_db` is set to NULL.
/// Errors: `MDB_LOCKED` when another process has the database open, `MDB_CORRUPTION` (the
/// message names the file and offset) when stored data is damaged, `MDB_INVALID_ARGUMENT`
/// for a bad option, `MDB_NOT_FOUND` when there is no database and `create_if_missing` is off.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `opts` is NULL or a live options handle not used
/// by another thread during the call; `out_db` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_open(
    path: *const c_char,
    opts: *const meterdb_options,
    out_db: *mut *mut meterdb_db,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_db` is NULL or writable (caller's promise).
        let o = unsafe { out(out_db, "out_db") }?;
        // SAFETY: `path` is NULL or NUL-terminated (caller's promise).
        let path = match unsafe { string(path, "path") } {
            Ok(p) => p,
            Err(e) => { o.set(std::ptr::null_mut()); return Err(e); }
        };
        let options = if opts.is_null() {
            Options::default()
        } else {
            // SAFETY: non-NULL, live per the caller's promise.
            unsafe { handle(opts, "opts") }?.to_options()
        };
        if let Err(e) = check_open_path(path) {
            o.set(std::ptr::null_mut());
            return Err(e);
        }
        match Db::open(path, options) {
            Ok(db) => {
                o.set(Box::into_raw(Box::new(meterdb_db { db: Arc::new(RwLock::new(Some(db))) })));
                Ok(())
            }
            Err(e) => {
                o.set(std::ptr::null_mut());
                Err(e.into())
            }
        }
    }
}

/// Closes the database: stops its background threads, syncs the WAL and releases the
/// directory's lock. The handle stays allocated (free it with `meterdb_db_free`); any call on
/// it afterwards, including a second close, returns `MDB_CLOSED`. NULL is allowed and
/// returns `MDB_OK`.
///
/// Waits for calls in flight on other threads to return. Returns an error when the final
/// sync fails; the database is closed all the same.
///
/// # Safety
/// `db` is NULL or a handle from `meterdb_db_open` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_close(db: *mut meterdb_db) -> meterdb_status {
    boundary! {
        if db.is_null() {
            return Ok(());
        }
        // SAFETY: non-NULL and live per the caller's promise.
        let h = unsafe { handle(db, "db") }?;
        let taken = h.db.write().unwrap_or_else(PoisonError::into_inner).take();
        match taken {
            Some(d) => d.close().map_err(Failure::from),
            None => Err(Failure::closed("the database handle")),
        }
    }
}

/// Closes the database if it is still open (ignoring errors: call `meterdb_db_close` first
/// to see them) and frees the handle. NULL is allowed and does nothing.
///
/// # Safety
/// `db` is NULL or a handle from `meterdb_db_open` not yet freed; no other thread may be
/// using it, and it must not be used after this call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_free(db: *mut meterdb_db) {
    boundary! {
        if !db.is_null() {
            // SAFETY: made by `Box::into_raw` in `meterdb_db_open` and not yet freed; no other
            // thread uses it (caller's promise).
            let h = unsafe { Box::from_raw(db) };
            // Dropping the `Db` closes it, also while streaming results still share the lock
            // (they answer MDB_CLOSED from then on).
            let taken = h.db.write().unwrap_or_else(PoisonError::into_inner).take();
            drop(taken);
        }
    }
}

/// Writes one sample of a point: timestamp `ts` in milliseconds since the Unix epoch (UTC,
/// years 1000 to 9999), a finite `value` (NaN and infinities give `MDB_INVALID_ARGUMENT`) and a
/// quality byte (`MDB_QUALITY_VALID` for a good reading). A sample with the timestamp of an
/// existing one replaces it. Returns once durable as the database's durability mode says.
/// An undefined point gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_put(
    db: *const meterdb_db,
    point: u32,
    ts: i64,
    value: f64,
    quality: u8,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let mut b = WriteBatch::with_capacity(1);
            b.put_with_quality(point, ts, value, quality);
            Ok(d.write(&b)?)
        }) }
    }
}

/// Writes one valid sample of a point: `meterdb_db_put` with the quality `MDB_QUALITY_VALID`,
/// the quality of a reading collected as usual. (With `meterdb_db_put`, a quality of 0 stores
/// an invalid reading.)
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_put_value(
    db: *const meterdb_db,
    point: u32,
    ts: i64,
    value: f64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let mut b = WriteBatch::with_capacity(1);
            b.put(point, ts, value);
            Ok(d.write(&b)?)
        }) }
    }
}

/// Writes `n` samples of any points atomically, from parallel arrays: `points[i]`, `ts[i]`,
/// `values[i]` and `quality[i]` (quality may be NULL: every sample then has
/// `MDB_QUALITY_VALID`). Every sample is checked first (defined point, finite value,
/// timestamp in range): either all are written or, on an error, none. Within the batch and
/// across batches, the last sample written for a point and timestamp wins.
///
/// `n` may be 0 (nothing is written; the arrays may then be NULL).
///
/// # Safety
/// `db` is NULL or a live handle; each array is NULL or readable for `n` elements.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_write(
    db: *const meterdb_db,
    points: *const u32,
    ts: *const i64,
    values: *const f64,
    quality: *const u8,
    n: usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| write_columns(d, n, Some(points), 0, ts, values, quality)) }
    }
}

/// The body of `meterdb_db_write` and `meterdb_db_write_point`: one batch of `n` samples
/// from the caller's parallel arrays, of the points in `points`, or all of point `point` when
/// `points` is `None`; `quality` NULL: all valid. The arrays are checked first, in argument
/// order.
///
/// # Safety
/// Each array is NULL or readable for `n` elements.
unsafe fn write_columns(
    d: &Db,
    n: usize,
    points: Option<*const u32>,
    point: u32,
    ts: *const i64,
    values: *const f64,
    quality: *const u8,
) -> FfiResult {
    // SAFETY: as this function's.
    let (many, ts, values) = unsafe {
        let many = match points {
            Some(p) => Some(slice(p, n, "points")?),
            None => None,
        };
        (many, slice(ts, n, "ts")?, slice(values, n, "values")?)
    };
    let quality = if quality.is_null() {
        None
    } else {
        // SAFETY: as this function's.
        Some(unsafe { slice(quality, n, "quality") }?)
    };
    let one;
    let points = match many {
        Some(p) => p,
        None => {
            one = vec![point; n];
            &one
        }
    };
    let mut b = WriteBatch::with_capacity(n);
    b.extend_from_slices(points, ts, values, quality)?;
    Ok(d.write(&b)?)
}

/// Writes `n` samples of one point atomically, from parallel arrays `ts`, `values` and
/// `quality` (NULL: all `MDB_QUALITY_VALID`). Otherwise as `meterdb_db_write`.
///
/// # Safety
/// `db` is NULL or a live handle; each array is NULL or readable for `n` elements.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_write_point(
    db: *const meterdb_db,
    point: u32,
    ts: *const i64,
    values: *const f64,
    quality: *const u8,
    n: usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| write_columns(d, n, None, point, ts, values, quality)) }
    }
}

/// Deletes a point's samples with `from <= ts < to`. An empty range (`from >= to`) gives
/// `MDB_INVALID_ARGUMENT`; an undefined point `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_delete_range(
    db: *const meterdb_db,
    point: u32,
    from: i64,
    to: i64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.delete_range(point, from, to)?)) }
    }
}

/// The sample of a point with the greatest timestamp. When the point has one, `*found` is 1
/// and `*ts`, `*value` and `*quality` (which may be NULL) receive it; when it has none,
/// `*found` is 0 and the others are left alone. An undefined point gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `ts`, `value`, `found` are NULL or writable; `quality` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_latest(
    db: *const meterdb_db,
    point: u32,
    ts: *mut i64,
    value: *mut f64,
    quality: *mut u8,
    found: *mut i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let (ts, value) = (out(ts, "ts")?, out(value, "value")?);
            let quality = out_opt(quality, "quality")?;
            let found = out(found, "found")?;
            match d.latest(point)? {
                Some(s) => {
                    ts.set(s.ts);
                    value.set(s.value);
                    if let Some(q) = quality {
                        q.set(s.quality.0);
                    }
                    found.set(1);
                }
                None => found.set(0),
            }
            Ok(())
        }) }
    }
}

/// Writes the memtable to segment files now and waits until it is done.
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_flush(db: *const meterdb_db) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.flush()?)) }
    }
}

/// Merges every time partition that has more than one segment file (or deletes to apply)
/// into one file, and waits until it is done.
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_compact(db: *const meterdb_db) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.compact()?)) }
    }
}

/// Makes every write so far durable (syncs the WAL), whatever the durability mode.
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_sync(db: *const meterdb_db) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.sync()?)) }
    }
}

/// Checks every checksum of every live file (segments, catalog, manifest). `*n_problems`
/// receives the number of problems found (0 when all is well). When `buf` is not NULL, the
/// problems' messages, one per line, are copied into it as by `snprintf` (at most `cap - 1`
/// bytes and a NUL) and `*msg_len` (if not NULL) receives the whole text's length: a value
/// `>= cap` means the text was cut. Problems found are not an error: the call returns
/// `MDB_OK`; an error (e.g. `MDB_CLOSED`) means the check could not run.
///
/// # Safety
/// `db` is NULL or a live handle; `n_problems` is NULL or writable; `buf` is NULL or
/// writable for `cap` bytes; `msg_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_verify(
    db: *const meterdb_db,
    n_problems: *mut usize,
    buf: *mut c_char,
    cap: usize,
    msg_len: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let n_out = out(n_problems, "n_problems")?;
            let len_out = out_opt(msg_len, "msg_len")?;
            let problems = d.verify()?;
            let text = problems.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
            n_out.set(problems.len());
            let len = copy_str(buf, cap, text.as_bytes());
            if let Some(l) = len_out {
                l.set(len);
            }
            Ok(())
        }) }
    }
}
