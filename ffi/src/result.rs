//! `meterdb_result`: one streaming result handle for every query that can be large, in the
//! sqlite3 tradition: a query function makes the handle, `meterdb_result_step` moves to the
//! next row (`MDB_ROW`, `MDB_DONE`, or an error), a typed reader copies the current row, and
//! `meterdb_result_free` frees it. Rows are produced a bounded chunk at a time (rollups and
//! sums a window of at most `WINDOW` buckets, cursor reads `CURSOR_CHUNK` changes, raw reads a
//! partition's samples), so a result of millions of rows never exists in memory at once, and
//! a row limit stops a result that grows past what the caller expects with `MDB_LIMIT`.

use std::collections::VecDeque;
use std::ffi::{c_char, c_void};

use engine::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use engine::{CoalUnit, Db, RangeIter, Tier};

use crate::args::{handle, handle_mut, out, out_slice, slice, string};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, SharedDb};
use crate::forward::meterdb_bucket_change_v2;
use crate::handles::{self, give};
use crate::meterdb_change;
use crate::rollup::{check_range, coal_from, meterdb_bucket_row_v2, meterdb_sum_row_v2, tier_from};
use crate::status::meterdb_status;

/// Buckets per engine call of a streaming rollup or sum (and of the whole-result functions,
/// which are built through the same windows).
pub(crate) const WINDOW: i64 = 1024;
/// Changes per engine call of a streaming cursor read.
const CURSOR_CHUNK: usize = 4096;

/// The kind of rows a `meterdb_result` holds, from `meterdb_result_kind`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_row_kind {
    /// Raw samples (`meterdb_db_query_range`): read with `meterdb_result_sample`.
    MDB_ROW_SAMPLE = 1,
    /// A point's buckets (`meterdb_db_query_rollup`): `meterdb_result_bucket`.
    MDB_ROW_BUCKET = 2,
    /// Buckets of several points summed (`meterdb_db_query_rollup_sum`, `_coal_sum`):
    /// `meterdb_result_sum`.
    MDB_ROW_SUM = 3,
    /// Changes of an upload cursor (`meterdb_db_query_changes`): `meterdb_result_change`.
    MDB_ROW_CHANGE = 4,
    /// Statistics buckets of an upload cursor (`meterdb_db_query_bucket_changes`):
    /// `meterdb_result_bucket_change`.
    MDB_ROW_BUCKET_CHANGE = 5,
}

/// One raw sample, from `meterdb_result_sample` / `meterdb_result_fetch`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_sample {
    /// Milliseconds since the Unix epoch, UTC.
    pub ts: i64,
    /// The value.
    pub value: f64,
    /// The quality byte (`MDB_QUALITY_VALID` for a good reading).
    pub quality: u8,
}

#[derive(Clone, Copy, Debug)]
enum Row {
    Sample(meterdb_sample),
    Bucket(meterdb_bucket_row_v2),
    Sum(meterdb_sum_row_v2),
    Change(meterdb_change),
    BucketChange(meterdb_bucket_change_v2),
}

/// Where the rows come from.
enum Source {
    Range(RangeIter),
    Rollup {
        point: u32,
        tier: Tier,
        window: Window,
    },
    Sum {
        points: Vec<u32>,
        tier: Tier,
        coal: Option<CoalUnit>,
        window: Window,
    },
    Changes {
        name: String,
        left: usize,
    },
    BucketChanges {
        name: String,
        tier: Tier,
        left: usize,
        watermark: Option<i64>,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Range(_) => "Range",
            Source::Rollup { .. } => "Rollup",
            Source::Sum { .. } => "Sum",
            Source::Changes { .. } => "Changes",
            Source::BucketChanges { .. } => "BucketChanges",
        })
    }
}

/// The part of a bucket query's range not produced yet: bucket starts in `[pos, to)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pos: i64,
    to: i64,
    tz: i32,
}

impl Window {
    /// The range `[from, to)` of a bucket query, clamped to the timestamps the engine keeps,
    /// `from` moved back to the start of its bucket (as the whole-result functions do).
    pub(crate) fn new(tier: Tier, from: i64, to: i64, tz: i32) -> Window {
        let from = from.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
        let to = to.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP + 1);
        let pos = if from < to {
            tier.bucket_start(from, tz)
        } else {
            to
        };
        Window { pos, to, tz }
    }

    /// The next window `[a, b)` of at most `WINDOW` buckets (None: the range is done), and
    /// moves past it.
    fn next(&mut self, tier: Tier) -> Option<(i64, i64)> {
        if self.pos >= self.to {
            return None;
        }
        let a = self.pos;
        let b = tier.shift(a, WINDOW, self.tz).min(self.to);
        self.pos = b;
        Some((a, b))
    }

    /// After a window without rows: skips to the bucket of the first sample at or after the
    /// window's end of any of `points` (nothing can come before it: a bucket row has a sample
    /// in it, or lies between two valid readings of a counter, and the window had none).
    fn skip_to_data(&mut self, d: &Db, points: &[u32], tier: Tier) -> FfiResult {
        let mut next: Option<i64> = None;
        for &p in points {
            if let Some(t) = first_sample_at_or_after(d, p, self.pos, self.to)? {
                next = Some(next.map_or(t, |n: i64| n.min(t)));
            }
        }
        self.pos = match next {
            Some(t) => tier.bucket_start(t, self.tz).max(self.pos),
            None => self.to,
        };
        Ok(())
    }
}

/// The timestamp of point `p`'s first sample in `[from, to)`.
fn first_sample_at_or_after(d: &Db, p: u32, from: i64, to: i64) -> FfiResult<Option<i64>> {
    if from >= to {
        return Ok(None);
    }
    let mut it = d.range(p, from, to)?;
    while let Some(c) = it.next_chunk() {
        if let Some(&t) = c?.ts.first() {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Appends to `buf` with a fallible reservation: a failure is `MDB_NO_MEMORY`, never an abort.
fn push_all<T>(buf: &mut VecDeque<T>, rows: impl ExactSizeIterator<Item = T>) -> FfiResult {
    buf.try_reserve(rows.len()).map_err(|_| {
        Failure::new(
            meterdb_status::MDB_NO_MEMORY,
            format!("out of memory for {} result rows", rows.len()),
        )
    })?;
    buf.extend(rows);
    Ok(())
}

/// The next chunk of rows of a bucket query: the engine's answer for the next non-empty
/// window. `query` answers one window `[a, b)`.
pub(crate) fn next_bucket_chunk<R>(
    d: &Db,
    points: &[u32],
    tier: Tier,
    window: &mut Window,
    mut query: impl FnMut(&Db, i64, i64) -> FfiResult<Vec<R>>,
) -> FfiResult<Vec<R>> {
    while let Some((a, b)) = window.next(tier) {
        let rows = query(d, a, b)?;
        if !rows.is_empty() {
            return Ok(rows);
        }
        window.skip_to_data(d, points, tier)?;
    }
    Ok(Vec::new())
}

/// A streaming result. Made by the `meterdb_db_query_*` functions, freed by
/// `meterdb_result_free`.
///
/// Not thread-safe: use a result from one thread at a time (it may move between threads).
///
/// Lifetime: a result may outlive its database handle. Raw reads (`meterdb_db_query_range`)
/// read from a snapshot taken when the query was made and keep working after the handle is
/// closed; the other queries ask the database for each chunk of rows as they step, and return
/// `MDB_CLOSED` from `meterdb_result_step` once the handle is closed or freed. Each chunk is
/// consistent in itself; a write made while stepping through a rollup may show in the rows
/// not produced yet.
#[derive(Debug)]
pub struct meterdb_result {
    db: SharedDb,
    source: Source,
    kind: meterdb_row_kind,
    buf: VecDeque<Row>,
    current: Option<Row>,
    /// Rows stepped to so far.
    rows: u64,
    /// Most rows to step to (0: no limit).
    limit: u64,
    done: bool,
}

impl meterdb_result {
    fn new(db: SharedDb, source: Source, kind: meterdb_row_kind, limit: u64) -> Self {
        meterdb_result {
            db,
            source,
            kind,
            buf: VecDeque::new(),
            current: None,
            rows: 0,
            limit,
            done: false,
        }
    }

    /// Fills the buffer with the next chunk; false at the end.
    fn refill(&mut self) -> FfiResult<bool> {
        while self.buf.is_empty() {
            if self.done {
                return Ok(false);
            }
            let source = &mut self.source;
            let buf = &mut self.buf;
            let more = match source {
                Source::Range(it) => match it.next_chunk() {
                    None => false,
                    Some(c) => {
                        let c = c?;
                        let n = c.len();
                        push_all(
                            buf,
                            (0..n).map(|i| {
                                Row::Sample(meterdb_sample {
                                    ts: c.ts[i],
                                    value: c.values[i],
                                    quality: c.quality[i],
                                })
                            }),
                        )?;
                        true
                    }
                },
                Source::Rollup {
                    point,
                    tier,
                    window,
                } => {
                    let (p, t) = (*point, *tier);
                    let rows = self.db.with(|d| {
                        next_bucket_chunk(d, &[p], t, window, |d: &Db, a: i64, b: i64| {
                            Ok(d.rollup(p, t, a, b)?)
                        })
                    })?;
                    let more = !rows.is_empty();
                    push_all(
                        buf,
                        rows.iter()
                            .map(|r| Row::Bucket(meterdb_bucket_row_v2::from(r))),
                    )?;
                    more
                }
                Source::Sum {
                    points,
                    tier,
                    coal,
                    window,
                } => {
                    let (t, coal) = (*tier, *coal);
                    let rows = self.db.with(|d| {
                        next_bucket_chunk(d, points, t, window, |d: &Db, a: i64, b: i64| {
                            Ok(match coal {
                                None => d.rollup_sum(points, t, a, b)?,
                                Some(u) => d.coal_sum(points, t, a, b, u)?,
                            })
                        })
                    })?;
                    let more = !rows.is_empty();
                    push_all(
                        buf,
                        rows.iter().map(|r| Row::Sum(meterdb_sum_row_v2::from(r))),
                    )?;
                    more
                }
                Source::Changes { name, left } => {
                    if *left == 0 {
                        false
                    } else {
                        let v = self
                            .db
                            .with(|d| Ok(d.cursor_read(name, (*left).min(CURSOR_CHUNK))?))?;
                        *left -= v.len();
                        push_all(buf, v.iter().map(|c| Row::Change(meterdb_change::from(c))))?;
                        !v.is_empty()
                    }
                }
                Source::BucketChanges {
                    name,
                    tier,
                    left,
                    watermark,
                } => {
                    if *left == 0 {
                        false
                    } else {
                        let v = self.db.with(|d| {
                            Ok(d.cursor_read_buckets(
                                name,
                                *tier,
                                (*left).min(CURSOR_CHUNK),
                                *watermark,
                            )?)
                        })?;
                        *left -= v.len();
                        push_all(
                            buf,
                            v.iter()
                                .map(|b| Row::BucketChange(meterdb_bucket_change_v2::from(b))),
                        )?;
                        !v.is_empty()
                    }
                }
            };
            if !more {
                self.done = true;
            }
        }
        Ok(true)
    }

    /// Moves to the next row: `MDB_ROW`, `MDB_DONE`, or a failure.
    fn step(&mut self) -> FfiResult<bool> {
        self.current = None;
        let r = (|| {
            if !self.refill()? {
                return Ok(false);
            }
            if self.limit > 0 && self.rows >= self.limit {
                return Err(Failure::new(
                    meterdb_status::MDB_LIMIT,
                    format!(
                        "the result has more than {} rows (its row limit): narrow the range \
                         or raise the limit",
                        self.limit
                    ),
                ));
            }
            self.current = self.buf.pop_front();
            self.rows += 1;
            Ok(true)
        })();
        if r.is_err() {
            // A failed result stays failed: no row after an error.
            self.done = true;
            self.buf.clear();
        }
        r
    }
}

/// The body of the `meterdb_db_query_*` functions: `*out_result` is a new result of rows of
/// `kind` from the source `source` opens (checking the query's arguments), or NULL.
///
/// # Safety
/// `db` is NULL or a live handle; `out_result` is NULL or writable for one pointer.
unsafe fn open(
    db: *const meterdb_db,
    out_result: *mut *mut meterdb_result,
    kind: meterdb_row_kind,
    limit: u64,
    source: impl FnOnce(&SharedDb) -> FfiResult<Source>,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_result` is NULL or writable (caller's promise).
        let o = unsafe { out(out_result, "out_result") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        let r = unsafe { handle(db, "db") }.and_then(|h| {
            let shared = h.shared();
            let source = source(&shared)?;
            Ok(meterdb_result::new(shared, source, kind, limit))
        });
        give(o, r)
    }
}

/// An upload cursor's name, checked to be a cursor of the database.
fn cursor_name(name: &str, shared: &SharedDb) -> FfiResult<String> {
    shared.with(|d| known_cursor(d, name))?;
    Ok(name.to_string())
}

/// The most rows a cursor query returns (`max` 0: no limit).
fn max_rows(max: u64) -> usize {
    if max == 0 {
        usize::MAX
    } else {
        usize::try_from(max).unwrap_or(usize::MAX)
    }
}

/// Checks a point is defined (the streaming queries say so when they are made, not at the
/// first step).
fn check_point(d: &Db, point: u32) -> FfiResult {
    if d.point(point).is_none() {
        return Err(Failure::new(
            meterdb_status::MDB_NOT_FOUND,
            format!("point id {point} is not defined"),
        ));
    }
    Ok(())
}

/// Streams point `point`'s samples with `from <= ts < to` in time order, from a snapshot taken
/// now (an empty result when `from >= to`; `INT64_MIN` and `INT64_MAX` for all). `limit` is
/// the most rows the caller accepts (0: no limit): stepping past it gives `MDB_LIMIT`.
///
/// On success `*out_result` is a new result of kind `MDB_ROW_SAMPLE` (step through it with
/// `meterdb_result_step`, read rows with `meterdb_result_sample` or `meterdb_result_fetch`,
/// free it with `meterdb_result_free`); on failure it is set to NULL. An undefined point gives
/// `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `out_result` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_query_range(
    db: *const meterdb_db,
    point: u32,
    from: i64,
    to: i64,
    limit: u64,
    out_result: *mut *mut meterdb_result,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe {
        open(
            db,
            out_result,
            meterdb_row_kind::MDB_ROW_SAMPLE,
            limit,
            |shared| {
                Ok(Source::Range(
                    shared.with(|d| Ok(d.range(point, from, to)?))?,
                ))
            },
        )
    }
}

/// Streams the buckets of point `point` at tier `tier` whose start lies in `[from, to)`, as
/// `meterdb_db_rollup` answers, a window of at most 1024 buckets at a time: any range, e.g. the
/// minute buckets between two counter readings ten years apart (5.26 million rows), in bounded
/// memory. `limit` is the most rows the caller accepts (0: no limit): stepping past it gives
/// `MDB_LIMIT`.
///
/// On success `*out_result` is a new result of kind `MDB_ROW_BUCKET` (read rows with
/// `meterdb_result_bucket` or `meterdb_result_fetch`); on failure it is set to NULL. Errors
/// when made: as `meterdb_db_rollup`'s (bad tier, `from > to`, undefined point, a tier the
/// point does not keep).
///
/// # Safety
/// `db` is NULL or a live handle; `out_result` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_query_rollup(
    db: *const meterdb_db,
    point: u32,
    tier: i32,
    from: i64,
    to: i64,
    limit: u64,
    out_result: *mut *mut meterdb_result,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe {
        open(
            db,
            out_result,
            meterdb_row_kind::MDB_ROW_BUCKET,
            limit,
            |shared| {
                let tier = tier_from(tier)?;
                check_range(from, to)?;
                let window = shared.with(|d| {
                    check_point(d, point)?;
                    // Refuses a tier the point does not keep now, not at the first step.
                    d.rollup(point, tier, from, from)?;
                    Ok(Window::new(tier, from, to, d.tz_offset_min()))
                })?;
                Ok(Source::Rollup {
                    point,
                    tier,
                    window,
                })
            },
        )
    }
}

/// The streaming form of `meterdb_db_rollup_sum` (`coal_unit` `MDB_COAL_NONE`) and
/// `meterdb_db_coal_sum` (`MDB_COAL_KGCE`, `MDB_COAL_TCE`): the buckets of `n_points` points
/// at tier `tier` summed, a window of at most 1024 buckets at a time. `limit` as for
/// `meterdb_db_query_rollup`.
///
/// On success `*out_result` is a new result of kind `MDB_ROW_SUM` (read rows with
/// `meterdb_result_sum` or `meterdb_result_fetch`); on failure it is set to NULL.
///
/// # Safety
/// `db` is NULL or a live handle; `points` is NULL or readable for `n_points` ids;
/// `out_result` is NULL or writable for one pointer.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature
pub unsafe extern "C" fn meterdb_db_query_rollup_sum(
    db: *const meterdb_db,
    points: *const u32,
    n_points: usize,
    tier: i32,
    from: i64,
    to: i64,
    coal_unit: i32,
    limit: u64,
    out_result: *mut *mut meterdb_result,
) -> meterdb_status {
    // SAFETY: as this function's (`points` is read in the closure, during the call).
    unsafe {
        open(
            db,
            out_result,
            meterdb_row_kind::MDB_ROW_SUM,
            limit,
            |shared| {
                let points = slice(points, n_points, "points")?.to_vec();
                let tier = tier_from(tier)?;
                let coal = coal_from(coal_unit, true)?;
                check_range(from, to)?;
                let window = shared.with(|d| {
                    for &p in &points {
                        check_point(d, p)?;
                    }
                    d.rollup_sum(&points, tier, from, from)?;
                    Ok(Window::new(tier, from, to, d.tz_offset_min()))
                })?;
                Ok(Source::Sum {
                    points,
                    tier,
                    coal,
                    window,
                })
            },
        )
    }
}

/// Streams up to `max` changes of upload cursor `name` (0: every change written so far), as
/// `meterdb_db_upload_cursor_read` reads them, 4096 at a time. The cursor's read position moves
/// past each chunk as it is fetched: a result freed before its end leaves changes read but not
/// stepped through (acknowledge the last change handled, then `meterdb_db_upload_cursor_rewind`
/// to read the rest again).
///
/// On success `*out_result` is a new result of kind `MDB_ROW_CHANGE` (read rows with
/// `meterdb_result_change` or `meterdb_result_fetch`); on failure it is set to NULL. An unknown
/// cursor gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string; `out_result` is
/// NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_query_changes(
    db: *const meterdb_db,
    name: *const c_char,
    max: u64,
    out_result: *mut *mut meterdb_result,
) -> meterdb_status {
    // SAFETY: as this function's (`name` is read in the closure, during the call).
    unsafe {
        open(
            db,
            out_result,
            meterdb_row_kind::MDB_ROW_CHANGE,
            0,
            |shared| {
                let name = cursor_name(string(name, "name")?, shared)?;
                Ok(Source::Changes {
                    name,
                    left: max_rows(max),
                })
            },
        )
    }
}

/// Streams up to `max` closed statistics buckets of tier `tier` of upload cursor `name` (0: all
/// closed ones), as `meterdb_db_upload_cursor_read_buckets` reads them (`has_watermark`,
/// `watermark` alike), 4096 at a time; the read position moves as for
/// `meterdb_db_query_changes`.
///
/// On success `*out_result` is a new result of kind `MDB_ROW_BUCKET_CHANGE` (read rows with
/// `meterdb_result_bucket_change` or `meterdb_result_fetch`); on failure it is set to NULL.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string; `out_result` is
/// NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_query_bucket_changes(
    db: *const meterdb_db,
    name: *const c_char,
    tier: i32,
    max: u64,
    has_watermark: i32,
    watermark: i64,
    out_result: *mut *mut meterdb_result,
) -> meterdb_status {
    // SAFETY: as this function's (`name` is read in the closure, during the call).
    unsafe {
        open(
            db,
            out_result,
            meterdb_row_kind::MDB_ROW_BUCKET_CHANGE,
            0,
            |shared| {
                let name = string(name, "name")?;
                let tier = tier_from(tier)?;
                let name = cursor_name(name, shared)?;
                let watermark = (has_watermark != 0).then_some(watermark);
                Ok(Source::BucketChanges {
                    name,
                    tier,
                    left: max_rows(max),
                    watermark,
                })
            },
        )
    }
}

/// `MDB_NOT_FOUND` unless the database has an upload cursor named `name`.
pub(crate) fn known_cursor(d: &Db, name: &str) -> FfiResult {
    if d.cursors().iter().any(|c| c.name == name) {
        Ok(())
    } else {
        Err(Failure::new(
            meterdb_status::MDB_NOT_FOUND,
            format!("no upload cursor is named {name:?}"),
        ))
    }
}

/// Moves a result to its next row. Returns `MDB_ROW` when there is one (read it with the
/// reader of the result's kind), `MDB_DONE` at the end (and on every later call), or an error:
/// `MDB_LIMIT` when the result has more rows than its limit, `MDB_CLOSED` when the database
/// handle was closed, `MDB_NO_MEMORY`, `MDB_CORRUPTION`, ... After an error the result has no
/// current row and steps to `MDB_DONE`.
///
/// # Safety
/// `result` is NULL or a live result not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_step(result: *mut meterdb_result) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        let r = unsafe { handle_mut(result, "result") }?;
        match r.step()? {
            true => Err(Failure::new(meterdb_status::MDB_ROW, "")),
            false => Err(Failure::new(meterdb_status::MDB_DONE, "")),
        }
    }
}

/// The kind of a result's rows (a `meterdb_row_kind`), or 0 when `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_kind(result: *const meterdb_result) -> u32 {
    boundary! {
        // SAFETY: as this function's.
        unsafe { handle(result, "result") }.map_or(0, |r| r.kind as u32)
    }
}

/// Writes the number of rows stepped to so far (the current one included) to `*n_out`.
///
/// # Safety
/// `result` is NULL or a live result; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_rows_read(
    result: *const meterdb_result,
    n_out: *mut u64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe {
            let r = handle(result, "result")?;
            out(n_out, "n_out")?.set(r.rows);
        }
        Ok(())
    }
}

/// A row struct of one kind of result: which kind, and how to take it out of a [`Row`].
trait KindRow: Copy {
    const KIND: meterdb_row_kind;
    fn pick(row: Row) -> Option<Self>;
}

macro_rules! kind_row {
    ($($t:ty => $kind:ident, $variant:ident;)*) => {$(
        impl KindRow for $t {
            const KIND: meterdb_row_kind = meterdb_row_kind::$kind;
            fn pick(row: Row) -> Option<Self> {
                match row {
                    Row::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    )*};
}

kind_row! {
    meterdb_sample => MDB_ROW_SAMPLE, Sample;
    meterdb_bucket_row_v2 => MDB_ROW_BUCKET, Bucket;
    meterdb_sum_row_v2 => MDB_ROW_SUM, Sum;
    meterdb_change => MDB_ROW_CHANGE, Change;
    meterdb_bucket_change_v2 => MDB_ROW_BUCKET_CHANGE, BucketChange;
}

/// The body of the `meterdb_result_<kind>` functions: copies the current row to `*out_row`,
/// checked against the kind asked for.
///
/// # Safety
/// `result` is NULL or a live result; `out_row` is NULL or writable.
unsafe fn current_row<T: KindRow>(
    result: *const meterdb_result,
    out_row: *mut T,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        let (r, o) = unsafe { (handle(result, "result")?, out(out_row, "out_row")?) };
        if r.kind != T::KIND {
            return Err(Failure::invalid(format!(
                "the result holds rows of kind {:?}, not {:?}",
                r.kind,
                T::KIND
            )));
        }
        o.set(r.current.and_then(T::pick).ok_or_else(|| {
            Failure::invalid("the result has no current row: call meterdb_result_step first")
        })?);
        Ok(())
    }
}

/// Copies the current row of a `MDB_ROW_SAMPLE` result into `*out_row`. Another kind, or no
/// current row (before the first step, after `MDB_DONE` or an error), gives
/// `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `result` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_sample(
    result: *const meterdb_result,
    out_row: *mut meterdb_sample,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { current_row(result, out_row) }
}

/// Copies the current row of a `MDB_ROW_BUCKET` result into `*out_row`, as
/// `meterdb_result_sample` does.
///
/// # Safety
/// `result` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_bucket(
    result: *const meterdb_result,
    out_row: *mut meterdb_bucket_row_v2,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { current_row(result, out_row) }
}

/// Copies the current row of a `MDB_ROW_SUM` result into `*out_row`, as
/// `meterdb_result_sample` does.
///
/// # Safety
/// `result` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_sum(
    result: *const meterdb_result,
    out_row: *mut meterdb_sum_row_v2,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { current_row(result, out_row) }
}

/// Copies the current row of a `MDB_ROW_CHANGE` result into `*out_row`, as
/// `meterdb_result_sample` does.
///
/// # Safety
/// `result` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_change(
    result: *const meterdb_result,
    out_row: *mut meterdb_change,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { current_row(result, out_row) }
}

/// Copies the current row of a `MDB_ROW_BUCKET_CHANGE` result into `*out_row`, as
/// `meterdb_result_sample` does.
///
/// # Safety
/// `result` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_bucket_change(
    result: *const meterdb_result,
    out_row: *mut meterdb_bucket_change_v2,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { current_row(result, out_row) }
}

/// The size in bytes of one row of a kind (the struct `meterdb_result_fetch` writes).
fn row_size_of(kind: meterdb_row_kind) -> usize {
    use meterdb_row_kind::*;
    match kind {
        MDB_ROW_SAMPLE => size_of::<meterdb_sample>(),
        MDB_ROW_BUCKET => size_of::<meterdb_bucket_row_v2>(),
        MDB_ROW_SUM => size_of::<meterdb_sum_row_v2>(),
        MDB_ROW_CHANGE => size_of::<meterdb_change>(),
        MDB_ROW_BUCKET_CHANGE => size_of::<meterdb_bucket_change_v2>(),
    }
}

/// Steps `r` through up to `cap` rows into `rows`: how many, and the error that stopped it.
///
/// # Safety
/// `rows` is NULL or writable for `cap` `T`s.
unsafe fn fetch_into<T: KindRow>(
    r: &mut meterdb_result,
    rows: *mut T,
    cap: usize,
) -> (usize, FfiResult) {
    // SAFETY: as this function's.
    let mut dst = match unsafe { out_slice(rows, cap, "rows", false) } {
        Ok(d) => d,
        Err(e) => return (0, Err(e)),
    };
    let mut n = 0;
    while n < cap {
        match r.step() {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return (n, Err(e)),
        }
        if let Some(x) = r.current.and_then(T::pick) {
            dst.write_at(n, &[x]);
            n += 1;
        }
    }
    (n, Ok(()))
}

/// Steps through up to `cap` rows and copies them into the caller's array `rows` (of the
/// struct of the result's kind: `meterdb_sample`, `meterdb_bucket_row_v2`,
/// `meterdb_sum_row_v2`, `meterdb_change` or `meterdb_bucket_change_v2`; `row_size` must be
/// its `sizeof`, else `MDB_INVALID_ARGUMENT`), and their number to `*n_out`. Returns `MDB_OK`;
/// fewer than `cap` rows (down to 0) means the result is done. An error while stepping (e.g.
/// `MDB_LIMIT`) is returned with the rows before it copied and counted in `*n_out`. The bulk
/// form of `meterdb_result_step` (for bindings); the current row is the last one copied.
///
/// # Safety
/// `result` is NULL or a live result not used by another thread during the call; `rows` is
/// NULL or writable for `cap` rows of `row_size` bytes; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_fetch(
    result: *mut meterdb_result,
    rows: *mut c_void,
    row_size: usize,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        let r = unsafe { handle_mut(result, "result") }?;
        // SAFETY: as this function's.
        let n_out = unsafe { out(n_out, "n_out") }?;
        let want = row_size_of(r.kind);
        if row_size != want {
            n_out.set(0);
            return Err(Failure::invalid(format!(
                "row_size {row_size} is not the size of a {:?} row ({want})", r.kind
            )));
        }
        use meterdb_row_kind::*;
        // SAFETY: `rows` is NULL or writable for `cap` rows of the kind's struct (checked
        // size; caller's promise), and aligned as `out_slice` checks.
        let (n, res) = unsafe {
            match r.kind {
                MDB_ROW_SAMPLE => fetch_into::<meterdb_sample>(r, rows.cast(), cap),
                MDB_ROW_BUCKET => fetch_into::<meterdb_bucket_row_v2>(r, rows.cast(), cap),
                MDB_ROW_SUM => fetch_into::<meterdb_sum_row_v2>(r, rows.cast(), cap),
                MDB_ROW_CHANGE => fetch_into::<meterdb_change>(r, rows.cast(), cap),
                MDB_ROW_BUCKET_CHANGE => fetch_into::<meterdb_bucket_change_v2>(r, rows.cast(), cap),
            }
        };
        n_out.set(n);
        res
    }
}

/// Frees a result. NULL is allowed and does nothing.
///
/// # Safety
/// `result` is NULL or a result from a `meterdb_db_query_*` function not yet freed, not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_result_free(result: *mut meterdb_result) {
    // SAFETY: as this function's.
    unsafe { handles::free(result) }
}
