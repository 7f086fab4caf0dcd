//! Downsampled queries: a point's calendar buckets at a tier (`meterdb_db_rollup`), several
//! points summed (`meterdb_db_rollup_sum`), their consumption as standard coal
//! (`meterdb_db_coal_sum`), and period comparisons (`meterdb_db_compare`). Like the statistics
//! report, each answer is a result handle, read by index (`_row`) or in bulk into a caller's
//! array (`_rows`), and freed with its own `_free`.

use engine::{BucketRow, CoalUnit, Comparison, SumRow, Tier};

use crate::args::{out, slice};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, with_db};
use crate::handles::{self, answer, Rows, RowsV2};
use crate::result::{next_bucket_chunk, Window};
use crate::status::meterdb_status;
use crate::status::MDB_MAX_RESULT_ROWS;

/// One bucket of a point, filled by `meterdb_rollup_row` / `meterdb_rollup_rows`.
///
/// The aggregates cover the point's samples with `start <= ts < end`. A bucket with
/// `count == 0` is one with no sample that lies inside an outage of a counter (between two
/// samples): it is returned for its share of the consumption across the outage; its `sum`,
/// `min`, `max`, `first`, `last` and `inc` are 0 and their timestamps are `start`.
///
/// The optional figures have a flag each: when the flag is 0 the figure is absent and its
/// value is NaN. Invalid readings (quality without `MDB_QUALITY_VALID`) enter no figure;
/// `meterdb_bucket_row_v2` (`meterdb_rollup_row_v2`) also counts them, and the manual and
/// estimated readings and backward steps of the register.
///
/// A later version that reports more adds a `_v2` with a larger struct; this one never
/// changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_bucket_row {
    /// Start of the bucket (ms since the epoch, UTC; a calendar boundary in the database's
    /// time zone).
    pub start: i64,
    /// End of the bucket (exclusive).
    pub end: i64,
    /// Samples in the bucket.
    pub count: u64,
    /// Sum of their values.
    pub sum: f64,
    /// The smallest value ...
    pub min: f64,
    /// ... and when it was first reached.
    pub min_ts: i64,
    /// The largest value ...
    pub max: f64,
    /// ... and when it was first reached.
    pub max_ts: i64,
    /// The first sample's value ...
    pub first: f64,
    /// ... and timestamp.
    pub first_ts: i64,
    /// The last sample's value ...
    pub last: f64,
    /// ... and timestamp.
    pub last_ts: i64,
    /// The increase of a counter from the bucket's first sample to its last, pair by pair (a
    /// drop counts the new reading from zero, or up to the rollover maximum and on from zero).
    pub inc: f64,
    /// `sum / count` (present when `count > 0`).
    pub mean: f64,
    /// For a counter: the increase of its register over `[start, end)`, the register being
    /// interpolated linearly to each boundary between the last sample before it and the first
    /// after it, times the point's multiplier. Absent for gauges.
    pub consumption: f64,
    /// Samples expected at the point's collection interval (present when the interval is
    /// known).
    pub expected: f64,
    /// `count / expected` (present when the interval is known).
    pub completeness: f64,
    /// 1 when `mean` is present, else 0.
    pub has_mean: u8,
    /// 1 when `consumption` is present, else 0.
    pub has_consumption: u8,
    /// 1 when `expected` is present, else 0.
    pub has_expected: u8,
    /// 1 when `completeness` is present, else 0.
    pub has_completeness: u8,
}

/// One bucket of several points summed, filled by `meterdb_rollup_sum_row` /
/// `meterdb_rollup_sum_rows`. A later version that reports more adds a `_v2`; this one never
/// changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_sum_row {
    /// Start of the bucket.
    pub start: i64,
    /// End of the bucket (exclusive).
    pub end: i64,
    /// Samples of all the points in the bucket.
    pub count: u64,
    /// Sum of all their values.
    pub sum: f64,
    /// Sum of the counters' consumption (each times its multiplier; for
    /// `meterdb_db_coal_sum`, times its standard-coal coefficient in force at the bucket's
    /// start, in the unit asked for). NaN when absent.
    pub consumption: f64,
    /// Points that contributed a bucket.
    pub points: u32,
    /// 1 when some point had consumption in the bucket (`consumption` is present), else 0.
    pub has_consumption: u8,
}

/// One bucket of a point with its quality counts, filled by `meterdb_rollup_row_v2` /
/// `meterdb_rollup_rows_v2`: the fields of `meterdb_bucket_row`, in the same order and at the
/// same offsets, then four counts.
///
/// Invalid readings (quality without `MDB_QUALITY_VALID`) enter no figure of the bucket: its
/// `count`, sums, extremes, first, last, mean and consumption are those of the valid readings
/// alone, the consumption interpolated across an invalid reading as across a missing one. A
/// bucket can hold only invalid readings: then `count` is 0, `invalid` is not, and `mean` and
/// `consumption` are absent (unless the bucket lies inside an outage of a counter).
/// `completeness` counts valid readings only. A later version that reports more adds a `_v3`;
/// this one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_bucket_row_v2 {
    /// Start of the bucket (ms since the epoch, UTC; a calendar boundary in the database's
    /// time zone).
    pub start: i64,
    /// End of the bucket (exclusive).
    pub end: i64,
    /// Valid samples in the bucket.
    pub count: u64,
    /// Sum of their values.
    pub sum: f64,
    /// The smallest value ...
    pub min: f64,
    /// ... and when it was first reached.
    pub min_ts: i64,
    /// The largest value ...
    pub max: f64,
    /// ... and when it was first reached.
    pub max_ts: i64,
    /// The first valid sample's value ...
    pub first: f64,
    /// ... and timestamp.
    pub first_ts: i64,
    /// The last valid sample's value ...
    pub last: f64,
    /// ... and timestamp.
    pub last_ts: i64,
    /// The increase of a counter from the bucket's first valid sample to its last, step by
    /// step under the register rules (see `meterdb_bucket_row_v2.backward`).
    pub inc: f64,
    /// `sum / count` (present when `count > 0`).
    pub mean: f64,
    /// For a counter: the increase of its register over `[start, end)`, interpolated to each
    /// boundary, times the point's multiplier. Absent for gauges.
    pub consumption: f64,
    /// Samples expected at the point's collection interval (present when the interval is
    /// known).
    pub expected: f64,
    /// `count / expected` (present when the interval is known).
    pub completeness: f64,
    /// 1 when `mean` is present, else 0.
    pub has_mean: u8,
    /// 1 when `consumption` is present, else 0.
    pub has_consumption: u8,
    /// 1 when `expected` is present, else 0.
    pub has_expected: u8,
    /// 1 when `completeness` is present, else 0.
    pub has_completeness: u8,
    /// Invalid readings in the bucket (not counted in `count`, in no figure).
    pub invalid: u64,
    /// Valid readings entered by hand (`MDB_QUALITY_MANUAL`) the bucket used.
    pub manual: u64,
    /// Valid estimated readings (`MDB_QUALITY_ESTIMATED`) the bucket used.
    pub estimated: u64,
    /// Backward steps of a counter's register between two valid readings inside the bucket:
    /// a fall that is neither a rollover, nor a recorded meter replacement, nor a fall to near
    /// zero (an inferred replacement). An import register (the default) adds 0 for it, a net
    /// register (`MDB_REGISTER_NET`) the signed change.
    pub backward: u64,
}

/// One bucket of several points summed with their quality counts, filled by
/// `meterdb_rollup_sum_row_v2` / `meterdb_rollup_sum_rows_v2`: the fields of
/// `meterdb_sum_row`, in the same order and at the same offsets, then four counts summed over
/// the points. A later version that reports more adds a `_v3`; this one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_sum_row_v2 {
    /// Start of the bucket.
    pub start: i64,
    /// End of the bucket (exclusive).
    pub end: i64,
    /// Valid samples of all the points in the bucket.
    pub count: u64,
    /// Sum of all their values.
    pub sum: f64,
    /// Sum of the counters' consumption (as in `meterdb_sum_row`). NaN when absent.
    pub consumption: f64,
    /// Points that contributed a bucket.
    pub points: u32,
    /// 1 when some point had consumption in the bucket (`consumption` is present), else 0.
    pub has_consumption: u8,
    /// Invalid readings of all the points in the bucket (not in `count`).
    pub invalid: u64,
    /// Valid readings entered by hand, of all the points.
    pub manual: u64,
    /// Valid estimated readings, of all the points.
    pub estimated: u64,
    /// Backward steps of the counters' registers inside their buckets.
    pub backward: u64,
}

/// One bucket of several points' summed series with the bucket before it (环比) and the same
/// bucket a year earlier (同比), filled by `meterdb_comparison_row` /
/// `meterdb_comparison_rows`. Each figure has a flag: when it is 0 the figure is absent and
/// its value is NaN. A later version that reports more adds a `_v2`; this one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_compare_row {
    /// Start of the bucket.
    pub start: i64,
    /// The bucket's value: the summed consumption when any of the points is a counter, else
    /// the summed mean.
    pub value: f64,
    /// The previous bucket's value.
    pub previous: f64,
    /// Change from the previous bucket, in percent (absent when either is absent or the
    /// previous is 0).
    pub previous_change_pct: f64,
    /// The value of the same bucket a year earlier.
    pub year_ago: f64,
    /// Change from a year earlier, in percent.
    pub year_change_pct: f64,
    /// 1 when `value` is present, else 0.
    pub has_value: u8,
    /// 1 when `previous` is present, else 0.
    pub has_previous: u8,
    /// 1 when `previous_change_pct` is present, else 0.
    pub has_previous_change_pct: u8,
    /// 1 when `year_ago` is present, else 0.
    pub has_year_ago: u8,
    /// 1 when `year_change_pct` is present, else 0.
    pub has_year_change_pct: u8,
}

/// An optional figure as a value (NaN when absent) and a flag.
fn opt(v: Option<f64>) -> (f64, u8) {
    match v {
        Some(x) => (x, 1),
        None => (f64::NAN, 0),
    }
}

impl From<&BucketRow> for meterdb_bucket_row {
    fn from(r: &BucketRow) -> Self {
        let b = &r.bucket;
        let (mean, has_mean) = opt(r.mean);
        let (consumption, has_consumption) = opt(r.consumption);
        let (expected, has_expected) = opt(r.expected);
        let (completeness, has_completeness) = opt(r.completeness);
        meterdb_bucket_row {
            start: b.start,
            end: r.end,
            count: b.count,
            sum: b.sum,
            min: b.min,
            min_ts: b.min_ts,
            max: b.max,
            max_ts: b.max_ts,
            first: b.first,
            first_ts: b.first_ts,
            last: b.last,
            last_ts: b.last_ts,
            inc: b.inc,
            mean,
            consumption,
            expected,
            completeness,
            has_mean,
            has_consumption,
            has_expected,
            has_completeness,
        }
    }
}

impl From<&SumRow> for meterdb_sum_row {
    fn from(r: &SumRow) -> Self {
        let (consumption, has_consumption) = opt(r.consumption);
        meterdb_sum_row {
            start: r.start,
            end: r.end,
            count: r.count,
            sum: r.sum,
            consumption,
            points: r.points,
            has_consumption,
        }
    }
}

impl From<&BucketRow> for meterdb_bucket_row_v2 {
    fn from(r: &BucketRow) -> Self {
        let v1 = meterdb_bucket_row::from(r);
        let b = &r.bucket;
        meterdb_bucket_row_v2 {
            start: v1.start,
            end: v1.end,
            count: v1.count,
            sum: v1.sum,
            min: v1.min,
            min_ts: v1.min_ts,
            max: v1.max,
            max_ts: v1.max_ts,
            first: v1.first,
            first_ts: v1.first_ts,
            last: v1.last,
            last_ts: v1.last_ts,
            inc: v1.inc,
            mean: v1.mean,
            consumption: v1.consumption,
            expected: v1.expected,
            completeness: v1.completeness,
            has_mean: v1.has_mean,
            has_consumption: v1.has_consumption,
            has_expected: v1.has_expected,
            has_completeness: v1.has_completeness,
            invalid: b.invalid,
            manual: b.manual,
            estimated: b.estimated,
            backward: b.backward,
        }
    }
}

impl From<&SumRow> for meterdb_sum_row_v2 {
    fn from(r: &SumRow) -> Self {
        let v1 = meterdb_sum_row::from(r);
        meterdb_sum_row_v2 {
            start: v1.start,
            end: v1.end,
            count: v1.count,
            sum: v1.sum,
            consumption: v1.consumption,
            points: v1.points,
            has_consumption: v1.has_consumption,
            invalid: r.invalid,
            manual: r.manual,
            estimated: r.estimated,
            backward: r.backward,
        }
    }
}

impl From<&Comparison> for meterdb_compare_row {
    fn from(c: &Comparison) -> Self {
        let (value, has_value) = opt(c.value);
        let (previous, has_previous) = opt(c.previous);
        let (previous_change_pct, has_previous_change_pct) = opt(c.previous_change_pct);
        let (year_ago, has_year_ago) = opt(c.year_ago);
        let (year_change_pct, has_year_change_pct) = opt(c.year_change_pct);
        meterdb_compare_row {
            start: c.start,
            value,
            previous,
            previous_change_pct,
            year_ago,
            year_change_pct,
            has_value,
            has_previous,
            has_previous_change_pct,
            has_year_ago,
            has_year_change_pct,
        }
    }
}

/// The buckets of one point at one tier, made by `meterdb_db_rollup` and freed by
/// `meterdb_rollup_free`. It holds its rows: it does not depend on the database handle (it
/// may outlive it) and does not change. Immutable: may be read from several threads at once.
#[derive(Debug)]
pub struct meterdb_rollup {
    rows: Vec<meterdb_bucket_row>,
    rows_v2: Vec<meterdb_bucket_row_v2>,
}

impl meterdb_rollup {
    fn new(rows_v2: Vec<meterdb_bucket_row_v2>) -> FfiResult<Self> {
        Ok(meterdb_rollup {
            rows: first_versions(&rows_v2, |r| meterdb_bucket_row {
                start: r.start,
                end: r.end,
                count: r.count,
                sum: r.sum,
                min: r.min,
                min_ts: r.min_ts,
                max: r.max,
                max_ts: r.max_ts,
                first: r.first,
                first_ts: r.first_ts,
                last: r.last,
                last_ts: r.last_ts,
                inc: r.inc,
                mean: r.mean,
                consumption: r.consumption,
                expected: r.expected,
                completeness: r.completeness,
                has_mean: r.has_mean,
                has_consumption: r.has_consumption,
                has_expected: r.has_expected,
                has_completeness: r.has_completeness,
            })?,
            rows_v2,
        })
    }
}

/// The first-version rows of `_v2` rows, allocated fallibly.
fn first_versions<A, B>(rows: &[A], f: impl Fn(&A) -> B) -> FfiResult<Vec<B>> {
    let mut v = Vec::new();
    v.try_reserve_exact(rows.len())
        .map_err(|_| no_memory(rows.len()))?;
    v.extend(rows.iter().map(f));
    Ok(v)
}

fn no_memory(n: usize) -> Failure {
    Failure::new(
        meterdb_status::MDB_NO_MEMORY,
        format!("out of memory for a result of {n} rows"),
    )
}

/// A whole result built through the streaming windows (`crate::result::WINDOW` buckets per
/// engine call), converted chunk by chunk and allocated fallibly; more than
/// `MDB_MAX_RESULT_ROWS` rows give `MDB_LIMIT` (the result is not built further).
fn whole<R, T>(
    d: &engine::Db,
    points: &[u32],
    tier: Tier,
    from: i64,
    to: i64,
    mut query: impl FnMut(&engine::Db, i64, i64) -> FfiResult<Vec<R>>,
    convert: impl Fn(&R) -> T,
) -> FfiResult<Vec<T>> {
    // The errors of the whole range (an undefined point, a tier not kept) come first.
    query(d, from, from)?;
    let mut window = Window::new(tier, from, to, d.tz_offset_min());
    let mut all: Vec<T> = Vec::new();
    loop {
        let rows = next_bucket_chunk(d, points, tier, &mut window, &mut query)?;
        if rows.is_empty() {
            return Ok(all);
        }
        if all.len() + rows.len() > MDB_MAX_RESULT_ROWS {
            return Err(Failure::new(
                meterdb_status::MDB_LIMIT,
                format!(
                    "the result has more than MDB_MAX_RESULT_ROWS ({MDB_MAX_RESULT_ROWS}) rows: \
                     narrow the range, or step through it with the meterdb_db_query_ functions"
                ),
            ));
        }
        all.try_reserve(rows.len())
            .map_err(|_| no_memory(all.len() + rows.len()))?;
        all.extend(rows.iter().map(&convert));
    }
}

/// The buckets of several points summed, made by `meterdb_db_rollup_sum` or
/// `meterdb_db_coal_sum` and freed by `meterdb_rollup_sum_free`. Like `meterdb_rollup`: it may
/// outlive the database handle; immutable, may be read from several threads at once.
#[derive(Debug)]
pub struct meterdb_rollup_sum {
    rows: Vec<meterdb_sum_row>,
    rows_v2: Vec<meterdb_sum_row_v2>,
}

impl meterdb_rollup_sum {
    fn new(rows_v2: Vec<meterdb_sum_row_v2>) -> FfiResult<Self> {
        Ok(meterdb_rollup_sum {
            rows: first_versions(&rows_v2, |r| meterdb_sum_row {
                start: r.start,
                end: r.end,
                count: r.count,
                sum: r.sum,
                consumption: r.consumption,
                points: r.points,
                has_consumption: r.has_consumption,
            })?,
            rows_v2,
        })
    }
}

/// Period comparisons, made by `meterdb_db_compare` and freed by `meterdb_comparison_free`.
/// Like `meterdb_rollup`: it may outlive the database handle; immutable, may be read from
/// several threads at once.
#[derive(Debug)]
pub struct meterdb_comparison {
    rows: Vec<meterdb_compare_row>,
}

impl Rows for meterdb_rollup {
    const WHAT: &'static str = "rollup";
    type Row = meterdb_bucket_row;
    fn rows(&self) -> &[meterdb_bucket_row] {
        &self.rows
    }
}

impl RowsV2 for meterdb_rollup {
    type RowV2 = meterdb_bucket_row_v2;
    fn rows_v2(&self) -> &[meterdb_bucket_row_v2] {
        &self.rows_v2
    }
}

impl Rows for meterdb_rollup_sum {
    const WHAT: &'static str = "sum";
    type Row = meterdb_sum_row;
    fn rows(&self) -> &[meterdb_sum_row] {
        &self.rows
    }
}

impl RowsV2 for meterdb_rollup_sum {
    type RowV2 = meterdb_sum_row_v2;
    fn rows_v2(&self) -> &[meterdb_sum_row_v2] {
        &self.rows_v2
    }
}

impl Rows for meterdb_comparison {
    const WHAT: &'static str = "comparison";
    type Row = meterdb_compare_row;
    fn rows(&self) -> &[meterdb_compare_row] {
        &self.rows
    }
}

/// A tier number from C.
pub(crate) fn tier_from(tier: i32) -> FfiResult<Tier> {
    u8::try_from(tier)
        .ok()
        .and_then(Tier::from_kind)
        .ok_or_else(|| {
            Failure::invalid(format!(
                "tier {tier} is not one of 1 (MDB_TIER_MINUTE), 2 (hour), 3 (day), 4 (month), \
                 5 (year)"
            ))
        })
}

/// A unit of standard coal from C; `MDB_COAL_NONE` (-1) only when `none_ok`.
pub(crate) fn coal_from(unit: i32, none_ok: bool) -> FfiResult<Option<CoalUnit>> {
    match u8::try_from(unit).ok().and_then(CoalUnit::from_code) {
        _ if unit == -1 && none_ok => Ok(None),
        Some(u) => Ok(Some(u)),
        None => Err(Failure::invalid(format!(
            "coal unit {unit} is not one of {}0 (MDB_COAL_KGCE), 1 (MDB_COAL_TCE)",
            if none_ok { "-1 (MDB_COAL_NONE), " } else { "" }
        ))),
    }
}

/// The query range: `from <= to` (equal: an empty answer).
pub(crate) fn check_range(from: i64, to: i64) -> FfiResult<()> {
    if from > to {
        return Err(Failure::invalid(format!(
            "the range's start {from} is after its end {to}"
        )));
    }
    Ok(())
}

/// The database's time zone, in minutes east of UTC (480 for +08:00), to `*out_minutes`: the
/// calendar of every tier's buckets.
///
/// # Safety
/// `db` is NULL or a live handle; `out_minutes` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_tz_offset_min(
    db: *const meterdb_db,
    out_minutes: *mut i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            out(out_minutes, "out_minutes")?.set(d.tz_offset_min());
            Ok(())
        }) }
    }
}

/// The buckets of point `point` at tier `tier` (a `meterdb_tier`) whose start lies in
/// `[from, to)`, in time order; `from` is moved back to the start of its bucket, so the bucket
/// holding `from` is included. Always equal to a recomputation from the raw samples, including
/// data not yet flushed. For a counter, buckets with no sample inside an outage come too (see
/// `meterdb_bucket_row`).
///
/// On success `*out_rollup` is a new result (read it with `meterdb_rollup_count` and
/// `meterdb_rollup_row` / `meterdb_rollup_rows`, or with the quality counts
/// `meterdb_rollup_row_v2` / `meterdb_rollup_rows_v2`, free it with `meterdb_rollup_free`); on
/// failure it is set to NULL. `from == to` gives an empty result (pass `INT64_MIN` and
/// `INT64_MAX` for everything). Errors: `MDB_INVALID_ARGUMENT` for a tier number other than 1
/// to 5, for `from > to`, and for a tier the point does not keep; `MDB_NOT_FOUND` for an
/// undefined point.
///
/// # Safety
/// `db` is NULL or a live handle; `out_rollup` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_rollup(
    db: *const meterdb_db,
    point: u32,
    tier: i32,
    from: i64,
    to: i64,
    out_rollup: *mut *mut meterdb_rollup,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_rollup` is NULL or writable (caller's promise).
        let o = unsafe { out(out_rollup, "out_rollup") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        unsafe { answer(o, db, |d| {
            let tier = tier_from(tier)?;
            check_range(from, to)?;
            let rows = whole(d, &[point], tier, from, to,
                |d: &engine::Db, a: i64, b: i64| Ok(d.rollup(point, tier, a, b)?), |r: &BucketRow| meterdb_bucket_row_v2::from(r))?;
            meterdb_rollup::new(rows)
        }) }
    }
}

/// Writes the number of rows of a rollup result to `*n_out` (indexes run from 0 to
/// `*n_out - 1`).
///
/// # Safety
/// `rollup` is NULL or a live result; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_count(
    rollup: *const meterdb_rollup,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(rollup, n_out) }
}

/// Copies row `index` of a rollup result (rows are in time order) into `*out_row`. An index
/// past the end gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `rollup` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_row(
    rollup: *const meterdb_rollup,
    index: usize,
    out_row: *mut meterdb_bucket_row,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(rollup, index, out_row) }
}

/// Copies rows `first`, `first + 1`, ... of a rollup result into the caller's array, up to
/// `cap` of them, and their number to `*n_out` (fewer than `cap` when the result ends first).
/// `first` equal to the count copies nothing; past it gives `MDB_INVALID_ARGUMENT`.
/// `out_rows` may be NULL when `cap` is 0.
///
/// # Safety
/// `rollup` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows; `n_out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_rows(
    rollup: *const meterdb_rollup,
    first: usize,
    out_rows: *mut meterdb_bucket_row,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows(rollup, first, out_rows, cap, n_out) }
}

/// Copies row `index` of a rollup result into `*out_row` with its quality counts (invalid,
/// manual and estimated readings, backward steps), as `meterdb_rollup_row` does. Any
/// `meterdb_rollup` may be read with either function.
///
/// # Safety
/// `rollup` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_row_v2(
    rollup: *const meterdb_rollup,
    index: usize,
    out_row: *mut meterdb_bucket_row_v2,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row_v2(rollup, index, out_row) }
}

/// Copies rows `first`, `first + 1`, ... of a rollup result with their quality counts into
/// the caller's array, as `meterdb_rollup_rows` does.
///
/// # Safety
/// `rollup` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows; `n_out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_rows_v2(
    rollup: *const meterdb_rollup,
    first: usize,
    out_rows: *mut meterdb_bucket_row_v2,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows_v2(rollup, first, out_rows, cap, n_out) }
}

/// Frees a rollup result. NULL is allowed and does nothing.
///
/// # Safety
/// `rollup` is NULL or a result from `meterdb_db_rollup` not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_free(rollup: *mut meterdb_rollup) {
    // SAFETY: as this function's.
    unsafe { handles::free(rollup) }
}

/// The buckets of `n_points` points at tier `tier` summed into one series: per bucket start in
/// `[from, to)` (as `meterdb_db_rollup`), the samples' count and sum over all the points and
/// the counters' consumption summed (each times its multiplier). A repeated point counts
/// repeatedly. `points` may be NULL when `n_points` is 0 (an empty result).
///
/// On success `*out_sum` is a new result (read it with `meterdb_rollup_sum_count` and
/// `meterdb_rollup_sum_row` / `_rows`, or `_row_v2` / `_rows_v2` with the quality counts, free
/// it with `meterdb_rollup_sum_free`); on failure it
/// is set to NULL. Errors as `meterdb_db_rollup`'s, for any of the points.
///
/// # Safety
/// `db` is NULL or a live handle; `points` is NULL or readable for `n_points` ids; `out_sum`
/// is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_rollup_sum(
    db: *const meterdb_db,
    points: *const u32,
    n_points: usize,
    tier: i32,
    from: i64,
    to: i64,
    out_sum: *mut *mut meterdb_rollup_sum,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_sum` is NULL or writable (caller's promise).
        let o = unsafe { out(out_sum, "out_sum") }?;
        // SAFETY: `db` is NULL or live, `points` NULL or readable (caller's promise).
        unsafe { answer(o, db, |d| {
            let points = slice(points, n_points, "points")?;
            let tier = tier_from(tier)?;
            check_range(from, to)?;
            let rows = whole(d, points, tier, from, to,
                |d: &engine::Db, a: i64, b: i64| Ok(d.rollup_sum(points, tier, a, b)?), |r: &SumRow| meterdb_sum_row_v2::from(r))?;
            meterdb_rollup_sum::new(rows)
        }) }
    }
}

/// The consumption of `n_points` points converted to standard coal, summed into one series:
/// as `meterdb_db_rollup_sum`, with each counter's consumption in a bucket multiplied by the
/// point's standard-coal coefficient in force at the bucket's start
/// (`meterdb_db_define_point_v2`), in kilograms (`MDB_COAL_KGCE`) or tonnes (`MDB_COAL_TCE`)
/// of standard coal. A point without a coefficient for a bucket adds nothing to that bucket's
/// consumption (`has_consumption` stays 0 when no point does). Another `unit` gives
/// `MDB_INVALID_ARGUMENT`. Freed with `meterdb_rollup_sum_free`.
///
/// # Safety
/// As `meterdb_db_rollup_sum`'s.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_coal_sum(
    db: *const meterdb_db,
    points: *const u32,
    n_points: usize,
    tier: i32,
    from: i64,
    to: i64,
    unit: i32,
    out_sum: *mut *mut meterdb_rollup_sum,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_sum` is NULL or writable (caller's promise).
        let o = unsafe { out(out_sum, "out_sum") }?;
        // SAFETY: `db` is NULL or live, `points` NULL or readable (caller's promise).
        unsafe { answer(o, db, |d| {
            let points = slice(points, n_points, "points")?;
            let tier = tier_from(tier)?;
            let unit = coal_from(unit, false)?.expect("MDB_COAL_NONE refused");
            check_range(from, to)?;
            let rows = whole(d, points, tier, from, to,
                |d: &engine::Db, a: i64, b: i64| Ok(d.coal_sum(points, tier, a, b, unit)?), |r: &SumRow| meterdb_sum_row_v2::from(r))?;
            meterdb_rollup_sum::new(rows)
        }) }
    }
}

/// Writes the number of rows of a summed result to `*n_out`.
///
/// # Safety
/// `sum` is NULL or a live result; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_sum_count(
    sum: *const meterdb_rollup_sum,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(sum, n_out) }
}

/// Copies row `index` of a summed result (rows are in time order) into `*out_row`. An index
/// past the end gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `sum` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_sum_row(
    sum: *const meterdb_rollup_sum,
    index: usize,
    out_row: *mut meterdb_sum_row,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(sum, index, out_row) }
}

/// Copies rows `first`, `first + 1`, ... of a summed result into the caller's array, as
/// `meterdb_rollup_rows` does.
///
/// # Safety
/// `sum` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows; `n_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_sum_rows(
    sum: *const meterdb_rollup_sum,
    first: usize,
    out_rows: *mut meterdb_sum_row,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows(sum, first, out_rows, cap, n_out) }
}

/// Copies row `index` of a summed result into `*out_row` with its quality counts summed over
/// the points, as `meterdb_rollup_sum_row` does. Any `meterdb_rollup_sum` may be read with
/// either function.
///
/// # Safety
/// `sum` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_sum_row_v2(
    sum: *const meterdb_rollup_sum,
    index: usize,
    out_row: *mut meterdb_sum_row_v2,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row_v2(sum, index, out_row) }
}

/// Copies rows `first`, `first + 1`, ... of a summed result with their quality counts into
/// the caller's array, as `meterdb_rollup_rows` does.
///
/// # Safety
/// `sum` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows; `n_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_sum_rows_v2(
    sum: *const meterdb_rollup_sum,
    first: usize,
    out_rows: *mut meterdb_sum_row_v2,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows_v2(sum, first, out_rows, cap, n_out) }
}

/// Frees a summed result. NULL is allowed and does nothing.
///
/// # Safety
/// `sum` is NULL or a result from `meterdb_db_rollup_sum` or `meterdb_db_coal_sum` not yet
/// freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_rollup_sum_free(sum: *mut meterdb_rollup_sum) {
    // SAFETY: as this function's.
    unsafe { handles::free(sum) }
}

/// Each bucket (start in `[from, to)`, as `meterdb_db_rollup`) of the summed series of
/// `n_points` points with the bucket before it (环比, month on month for months) and the same
/// bucket one year earlier (同比), and the changes in percent. The value compared is the summed
/// consumption when any of the points is a counter (in standard coal when `coal_unit` is
/// `MDB_COAL_KGCE` or `MDB_COAL_TCE`; `MDB_COAL_NONE` for the points' own units), else the
/// summed mean.
///
/// On success `*out_comparison` is a new result (read it with `meterdb_comparison_count` and
/// `meterdb_comparison_row` / `_rows`, free it with `meterdb_comparison_free`); on failure it
/// is set to NULL. Errors as `meterdb_db_rollup_sum`'s, and `MDB_INVALID_ARGUMENT` for an
/// unknown `coal_unit`.
///
/// # Safety
/// `db` is NULL or a live handle; `points` is NULL or readable for `n_points` ids;
/// `out_comparison` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_compare(
    db: *const meterdb_db,
    points: *const u32,
    n_points: usize,
    tier: i32,
    from: i64,
    to: i64,
    coal_unit: i32,
    out_comparison: *mut *mut meterdb_comparison,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_comparison` is NULL or writable (caller's promise).
        let o = unsafe { out(out_comparison, "out_comparison") }?;
        // SAFETY: `db` is NULL or live, `points` NULL or readable (caller's promise).
        unsafe { answer(o, db, |d| {
            let points = slice(points, n_points, "points")?;
            let tier = tier_from(tier)?;
            let unit = coal_from(coal_unit, true)?;
            check_range(from, to)?;
            let rows = whole(d, points, tier, from, to,
                |d: &engine::Db, a: i64, b: i64| Ok(d.compare(points, tier, a, b, unit)?), |r: &Comparison| meterdb_compare_row::from(r))?;
            Ok(meterdb_comparison { rows })
        }) }
    }
}

/// Writes the number of rows of a comparison result to `*n_out`.
///
/// # Safety
/// `comparison` is NULL or a live result; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_comparison_count(
    comparison: *const meterdb_comparison,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(comparison, n_out) }
}

/// Copies row `index` of a comparison result (rows are in time order) into `*out_row`. An
/// index past the end gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `comparison` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_comparison_row(
    comparison: *const meterdb_comparison,
    index: usize,
    out_row: *mut meterdb_compare_row,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(comparison, index, out_row) }
}

/// Copies rows `first`, `first + 1`, ... of a comparison result into the caller's array, as
/// `meterdb_rollup_rows` does.
///
/// # Safety
/// `comparison` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows;
/// `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_comparison_rows(
    comparison: *const meterdb_comparison,
    first: usize,
    out_rows: *mut meterdb_compare_row,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows(comparison, first, out_rows, cap, n_out) }
}

/// Frees a comparison result. NULL is allowed and does nothing.
///
/// # Safety
/// `comparison` is NULL or a result from `meterdb_db_compare` not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_comparison_free(comparison: *mut meterdb_comparison) {
    // SAFETY: as this function's.
    unsafe { handles::free(comparison) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    /// The layouts the Java and Python bindings read by offset (64-bit platforms).
    #[test]
    fn row_layouts_are_fixed() {
        assert_eq!(size_of::<meterdb_bucket_row>(), 144);
        assert_eq!(size_of::<meterdb_sum_row>(), 48);
        assert_eq!(size_of::<meterdb_compare_row>(), 56);
        assert_eq!(align_of::<meterdb_bucket_row>(), 8);
        assert_eq!(std::mem::offset_of!(meterdb_bucket_row, has_mean), 136);
        assert_eq!(std::mem::offset_of!(meterdb_sum_row, points), 40);
        assert_eq!(std::mem::offset_of!(meterdb_compare_row, has_value), 48);
        // The _v2 rows begin with the fields of the first version, at the same offsets.
        assert_eq!(size_of::<meterdb_bucket_row_v2>(), 176);
        assert_eq!(std::mem::offset_of!(meterdb_bucket_row_v2, has_mean), 136);
        assert_eq!(std::mem::offset_of!(meterdb_bucket_row_v2, invalid), 144);
        assert_eq!(std::mem::offset_of!(meterdb_bucket_row_v2, backward), 168);
        assert_eq!(size_of::<meterdb_sum_row_v2>(), 80);
        assert_eq!(std::mem::offset_of!(meterdb_sum_row_v2, points), 40);
        assert_eq!(
            std::mem::offset_of!(meterdb_sum_row_v2, has_consumption),
            44
        );
        assert_eq!(std::mem::offset_of!(meterdb_sum_row_v2, invalid), 48);
        assert_eq!(std::mem::offset_of!(meterdb_sum_row_v2, backward), 72);
    }

    #[test]
    fn tiers_and_units_from_c() {
        assert_eq!(tier_from(1).unwrap(), Tier::Minute);
        assert_eq!(tier_from(5).unwrap(), Tier::Year);
        for bad in [0, 6, -1, 256 + 3, i32::MIN] {
            assert!(tier_from(bad).unwrap_err().msg.contains("is not one of"));
        }
        assert_eq!(coal_from(-1, true).unwrap(), None);
        assert!(coal_from(-1, false).is_err());
        assert_eq!(coal_from(1, false).unwrap(), Some(CoalUnit::Tce));
        assert!(coal_from(2, true).is_err());
        assert!(check_range(5, 4).is_err() && check_range(4, 4).is_ok());
    }
}
