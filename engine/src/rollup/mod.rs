//! The minute, hour, day, month and year forms of every point.
//!
//! A [`Bucket`] summarizes the samples with `start <= ts < end` of one calendar bucket in the
//! database's time zone (a fixed UTC offset). Buckets are derived from raw samples for the
//! finest tier a point keeps and from the next finer tier for every coarser one, and stored
//! in segment files of their own kind (one column per field). See `docs/format/rollup.md`.

mod bucket;

pub use crate::tier::{Tier, TierSet};
pub use bucket::{
    buckets_of_bucket_runs, buckets_of_buckets, buckets_of_samples, consumption_rows, inc, Bucket,
    BucketRow, Neighbours, Rules, Step, Walk, WalkRows, REPLACEMENT_FRACTION,
};

use crate::catalog::PointId;
use crate::codec::{self, CodecOptions};
use crate::error::{Error, Result};
use crate::segment::{BlockMeta, BlockStats, EncodedBlock, Segment};

/// Number of columns of a rollup block.
pub const COLUMNS: usize = 16;

/// Number of columns of a rollup block written before the quality counts were added (read
/// with every count zero).
pub const COLUMNS_V1: usize = 12;

/// First byte of a rollup column that repeats an earlier column of its block (the second
/// byte is that column's index). No codec tag has this value.
const SAME_AS: u8 = 0xFF;

/// Whether `a` and `b` hold the same bits, compared a chunk at a time without an early exit
/// inside a chunk (so that the comparison vectorizes).
fn bits_equal(a: &[f64], b: &[f64]) -> bool {
    const CHUNK: usize = 32;
    a.len() == b.len()
        && a.chunks(CHUNK).zip(b.chunks(CHUNK)).all(|(x, y)| {
            x.iter()
                .zip(y)
                .fold(true, |eq, (x, y)| eq & (x.to_bits() == y.to_bits()))
        })
}

/// The columns of a block being encoded or decoded, kept per thread from block to block.
#[derive(Default)]
struct Scratch {
    cols: [Vec<f64>; COLUMNS - 1],
    starts: Vec<i64>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Runs `f` with this thread's scratch, or with a new one where it is in use (only a panic
/// inside an earlier use, or a nested one, could leave it so).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Encodes one point's buckets (sorted by start, no repeats) as a block of a rollup file:
/// start, count, sum, min, min offset, max, max offset, first, first offset, last, last
/// offset, increase, invalid, manual, estimated, backward. Offsets are milliseconds from
/// the bucket's start.
pub fn encode_block(point: PointId, rows: &[Bucket], opts: &CodecOptions) -> EncodedBlock {
    with_scratch(|s| encode_block_with(point, rows, opts, s))
}

fn encode_block_with(
    point: PointId,
    rows: &[Bucket],
    opts: &CodecOptions,
    scratch: &mut Scratch,
) -> EncodedBlock {
    let n = rows.len();
    // Column by column, one pass each (a pass per field is cheaper than pushing every
    // bucket's fields onto eleven vectors at once), into buffers kept from block to block.
    let cols = &mut scratch.cols;
    // A closure per field (not a table of function pointers): each pass is inlined.
    macro_rules! fill {
        ($($i:literal => $f:expr),* $(,)?) => {$(
            cols[$i].clear();
            cols[$i].extend(rows.iter().map($f));
        )*};
    }
    fill!(
        0 => |b: &Bucket| b.count as f64,
        1 => |b: &Bucket| b.sum,
        2 => |b: &Bucket| b.min,
        3 => |b: &Bucket| (b.min_ts - b.start) as f64,
        4 => |b: &Bucket| b.max,
        5 => |b: &Bucket| (b.max_ts - b.start) as f64,
        6 => |b: &Bucket| b.first,
        7 => |b: &Bucket| (b.first_ts - b.start) as f64,
        8 => |b: &Bucket| b.last,
        9 => |b: &Bucket| (b.last_ts - b.start) as f64,
        10 => |b: &Bucket| b.inc,
        11 => |b: &Bucket| b.invalid as f64,
        12 => |b: &Bucket| b.manual as f64,
        13 => |b: &Bucket| b.estimated as f64,
        14 => |b: &Bucket| b.backward as f64,
    );
    let starts = &mut scratch.starts;
    starts.clear();
    starts.extend(rows.iter().map(|b| b.start));
    let mut block = EncodedBlock::with_capacity(point, COLUMNS, 8 * n + 64);
    block.push_column(|out| codec::encode_timestamps(starts, opts, out));
    // Rollup columns are small and often equal (a bucket of one sample has sum, min, max,
    // first and last alike): a column equal to an earlier one is stored as a reference, and
    // zstd is not tried.
    let mut opts = opts.clone();
    opts.zstd_level = None;
    for (i, c) in cols.iter().enumerate() {
        // Columns that differ almost always differ in their first value: only those that
        // agree there are compared whole.
        let same = (0..i).find(|&j| {
            cols[j].first().map(|x| x.to_bits()) == c.first().map(|x| x.to_bits())
                && bits_equal(&cols[j], c)
        });
        block.push_column(|out| match same {
            Some(j) => out.extend_from_slice(&[SAME_AS, j as u8 + 1]),
            None => {
                // Rollup columns are derived data, rewritten as data arrives: their decimal
                // form is chosen on the first frame (see `Effort`).
                codec::encode_values_with(c, &opts, codec::Effort::FirstFrame, out);
            }
        });
    }
    // Only the count and the time range are stored for a rollup block.
    let stats = BlockStats {
        count: n as u32,
        min_ts: starts.first().copied().unwrap_or(0),
        max_ts: starts.last().copied().unwrap_or(0),
        first: 0.0,
        last: 0.0,
    };
    block.stats = stats;
    block
}

/// A rollup block's columns (checksum checked) and its bucket starts decoded into `starts`;
/// `None` when no bucket of the block can lie in `[from, to)`.
fn block_columns<'a>(
    seg: &'a Segment,
    m: &BlockMeta,
    from: i64,
    to: i64,
    starts: &mut Vec<i64>,
) -> Result<Option<Vec<&'a [u8]>>> {
    if m.stats.max_ts < from || m.stats.min_ts >= to {
        return Ok(None);
    }
    let cols = seg.columns(m)?;
    if cols.len() != COLUMNS && cols.len() != COLUMNS_V1 {
        return Err(seg.block_error(
            m,
            Error::corrupt(format!("rollup block has {} columns", cols.len())),
        ));
    }
    let n = m.stats.count as usize;
    codec::decode_timestamps(cols[0], n, starts).map_err(|e| seg.block_error(m, e))?;
    if starts.len() != n {
        return Err(seg.block_error(m, Error::corrupt("rollup start column length differs")));
    }
    Ok(Some(cols))
}

/// Decodes a rollup block, appending the buckets with `from <= start < to` to `out`.
pub fn decode_block(
    seg: &Segment,
    m: &BlockMeta,
    from: i64,
    to: i64,
    out: &mut Vec<Bucket>,
) -> Result<()> {
    with_scratch(|s| decode_block_with(seg, m, from, to, out, s))
}

fn decode_block_with(
    seg: &Segment,
    m: &BlockMeta,
    from: i64,
    to: i64,
    out: &mut Vec<Bucket>,
    scratch: &mut Scratch,
) -> Result<()> {
    let Scratch { cols: f, starts } = scratch;
    starts.clear();
    let Some(cols) = block_columns(seg, m, from, to, starts)? else {
        return Ok(());
    };
    let n = m.stats.count as usize;
    let err = |e| seg.block_error(m, e);
    // Which decoded column holds each value column (references followed); the quality
    // counts of a block written without them are a column of zeros.
    let mut src = [0usize; COLUMNS - 1];
    if cols.len() == COLUMNS_V1 {
        f[COLUMNS_V1 - 1].clear();
        f[COLUMNS_V1 - 1].resize(n, 0.0);
        src[COLUMNS_V1 - 1..].fill(COLUMNS_V1 - 1);
    }
    for (i, c) in cols[1..].iter().enumerate() {
        if let [SAME_AS, j] = c[..] {
            // A reference to an earlier value column (1-based among all columns).
            let j = usize::from(j);
            if j == 0 || j > i {
                return Err(err(Error::corrupt(format!(
                    "rollup column {} refers to column {j}",
                    i + 1
                ))));
            }
            src[i] = src[j - 1];
            continue;
        }
        src[i] = i;
        let v = &mut f[i];
        v.clear();
        codec::decode_values(c, n, v).map_err(err)?;
        if v.len() != n {
            return Err(err(Error::corrupt("rollup column length differs")));
        }
    }
    let col = |i: usize| &f[src[i]][..n];
    let lo = starts.partition_point(|&s| s < from);
    let hi = starts.partition_point(|&s| s < to);
    let off = |x: f64| -> Result<i64> {
        if x.fract() != 0.0 || !(0.0..=4.0e11).contains(&x) {
            return Err(err(Error::corrupt(format!(
                "rollup offset {x} out of range"
            ))));
        }
        Ok(x as i64)
    };
    let (count, sum, min, min_off, max, max_off) = (col(0), col(1), col(2), col(3), col(4), col(5));
    let (first, first_off, last, last_off, inc) = (col(6), col(7), col(8), col(9), col(10));
    let (invalid, manual, estimated, backward) = (col(11), col(12), col(13), col(14));
    let whole = |x: f64| -> Result<u64> {
        if x.fract() != 0.0 || !(0.0..=9.0e15).contains(&x) {
            return Err(err(Error::corrupt(format!("rollup count {x}"))));
        }
        Ok(x as u64)
    };
    out.reserve(hi.saturating_sub(lo));
    for i in lo..hi {
        let s = starts[i];
        let c = count[i];
        if c.fract() != 0.0 || c < 0.0 {
            return Err(err(Error::corrupt(format!("rollup count {c}"))));
        }
        out.push(Bucket {
            start: s,
            count: c as u64,
            sum: sum[i],
            min: min[i],
            min_ts: s + off(min_off[i])?,
            max: max[i],
            max_ts: s + off(max_off[i])?,
            first: first[i],
            first_ts: s + off(first_off[i])?,
            last: last[i],
            last_ts: s + off(last_off[i])?,
            inc: inc[i],
            invalid: whole(invalid[i])?,
            manual: whole(manual[i])?,
            estimated: whole(estimated[i])?,
            backward: whole(backward[i])?,
        });
    }
    Ok(())
}

/// Value columns (0-based after the start column) that a sum of buckets reads: count, sum,
/// first, first offset, last, last offset, increase, and the quality counts (invalid,
/// manual, estimated, backward). Min and max are not decoded.
const SUM_COLUMNS: [usize; 11] = [0, 1, 6, 7, 8, 9, 10, 11, 12, 13, 14];

/// The buckets of one point decoded column by column for a sum over many points: only the
/// columns a sum needs, decoded straight into buffers that are reused from point to point
/// (no per-bucket structure, no copy of a block that lies wholly in the range, no
/// allocation once warm). Markers of deleted buckets (`count == 0`) are left out, and so
/// are buckets of invalid samples only, whose quality counts are kept aside.
#[derive(Debug, Default)]
pub struct SumRows {
    /// Bucket starts.
    start: Vec<i64>,
    /// The value columns of [`SUM_COLUMNS`], in that order: count, sum, first, first offset,
    /// last, last offset, increase (offsets in ms from the bucket's start, checked whole),
    /// invalid, manual, estimated, backward.
    cols: [Vec<f64>; SUM_COLUMNS.len()],
    /// Buckets of invalid samples only: start and invalid count.
    invalid_only: Vec<(i64, u64)>,
    tmp_starts: Vec<i64>,
}

/// Indexes into [`SumRows::cols`].
const S_COUNT: usize = 0;
const S_SUM: usize = 1;
const S_FIRST: usize = 2;
const S_FIRST_OFF: usize = 3;
const S_LAST: usize = 4;
const S_LAST_OFF: usize = 5;
const S_INC: usize = 6;
const S_INVALID: usize = 7;

impl WalkRows for SumRows {
    fn len(&self) -> usize {
        self.start.len()
    }
    #[inline]
    fn start(&self, k: usize) -> i64 {
        self.start[k]
    }
    #[inline]
    fn first(&self, k: usize) -> (i64, f64) {
        (
            self.start[k] + self.cols[S_FIRST_OFF][k] as i64,
            self.cols[S_FIRST][k],
        )
    }
    #[inline]
    fn last(&self, k: usize) -> (i64, f64) {
        (
            self.start[k] + self.cols[S_LAST_OFF][k] as i64,
            self.cols[S_LAST][k],
        )
    }
    #[inline]
    fn inc(&self, k: usize) -> f64 {
        self.cols[S_INC][k]
    }
}

impl SumRows {
    /// Empties the buckets (keeping the buffers).
    pub fn clear(&mut self) {
        self.start.clear();
        for c in &mut self.cols {
            c.clear();
        }
        self.invalid_only.clear();
    }

    /// The quality counts per bucket: invalid, manual, estimated, backward (whole, checked
    /// when decoded).
    pub fn quality_counts(&self) -> [&[f64]; 4] {
        [
            &self.cols[S_INVALID],
            &self.cols[S_INVALID + 1],
            &self.cols[S_INVALID + 2],
            &self.cols[S_INVALID + 3],
        ]
    }

    /// Buckets of invalid samples only (left out of the rows): start and invalid count.
    pub fn invalid_only(&self) -> &[(i64, u64)] {
        &self.invalid_only
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// Bucket starts.
    pub fn starts(&self) -> &[i64] {
        &self.start
    }

    /// Samples in bucket `k`.
    #[inline]
    pub fn count(&self, k: usize) -> u64 {
        // Checked whole and non-negative when decoded: one conversion, not a saturating one.
        self.cols[S_COUNT][k] as i64 as u64
    }

    /// Samples per bucket (whole, checked when decoded).
    pub fn counts(&self) -> &[f64] {
        &self.cols[S_COUNT]
    }

    /// Sums of the values per bucket.
    pub fn sums(&self) -> &[f64] {
        &self.cols[S_SUM]
    }

    /// Sum of the values of bucket `k`.
    #[inline]
    pub fn sum(&self, k: usize) -> f64 {
        self.cols[S_SUM][k]
    }

    /// Appends the buckets of a rollup block with `from <= start < to`, checked as
    /// [`decode_block`] checks them.
    pub fn append_block(&mut self, seg: &Segment, m: &BlockMeta, from: i64, to: i64) -> Result<()> {
        self.tmp_starts.clear();
        let Some(cols) = block_columns(seg, m, from, to, &mut self.tmp_starts)? else {
            return Ok(());
        };
        let n = m.stats.count as usize;
        let err = |e| seg.block_error(m, e);
        // Which column's bytes hold each value column (references followed).
        let mut src = [0usize; COLUMNS - 1];
        for (i, c) in cols[1..].iter().enumerate() {
            src[i] = match c[..] {
                [SAME_AS, j] => {
                    let j = usize::from(j);
                    if j == 0 || j > i {
                        return Err(err(Error::corrupt(format!(
                            "rollup column {} refers to column {j}",
                            i + 1
                        ))));
                    }
                    src[j - 1]
                }
                _ => i,
            };
        }
        let lo = self.tmp_starts.partition_point(|&s| s < from);
        let hi = self.tmp_starts.partition_point(|&s| s < to);
        let base = self.start.len();
        // Each needed column decoded once, straight into its buffer (a column that repeats
        // another is copied from the first buffer that holds it), then cut to [lo, hi).
        let mut constant = [false; SUM_COLUMNS.len()];
        for (d, &w) in SUM_COLUMNS.iter().enumerate() {
            if w + 1 >= cols.len() {
                // A block written without the quality counts: zeros.
                let v = &mut self.cols[d];
                v.resize(base + (hi - lo), 0.0);
                constant[d] = true;
                continue;
            }
            let s = src[w];
            if let Some(e) = (0..d).find(|&e| src[SUM_COLUMNS[e]] == s) {
                let (done, rest) = self.cols.split_at_mut(d);
                rest[0].extend_from_slice(&done[e][base..]);
                constant[d] = constant[e];
                continue;
            }
            let bytes = cols[s + 1];
            constant[d] = codec::peek_codec(bytes).map_err(err)?.kind == codec::CodecKind::Constant;
            let v = &mut self.cols[d];
            codec::decode_values(bytes, n, v).map_err(err)?;
            if v.len() != base + n {
                return Err(err(Error::corrupt("rollup column length differs")));
            }
            if hi < n {
                v.truncate(base + hi);
            }
            if lo > 0 {
                v.drain(base..base + lo);
            }
        }
        self.start.extend_from_slice(&self.tmp_starts[lo..hi]);
        let new = |c: &Vec<f64>| c.len() - base;
        debug_assert!(self.cols.iter().all(|c| new(c) == hi - lo));
        // Checks, column by column (`x as i64` round-trips exactly when `x` is whole).
        // A constant column (the counts and offsets of regular data) is checked once.
        let checked = |d: usize| -> &[f64] {
            let c = &self.cols[d][base..];
            if constant[d] {
                &c[..c.len().min(1)]
            } else {
                c
            }
        };
        let counts = [
            S_COUNT,
            S_INVALID,
            S_INVALID + 1,
            S_INVALID + 2,
            S_INVALID + 3,
        ];
        for d in counts {
            if let Some(&c) = checked(d)
                .iter()
                .find(|&&c| !((0.0..=9.0e15).contains(&c) && c == (c as i64) as f64))
            {
                return Err(err(Error::corrupt(format!("rollup count {c}"))));
            }
        }
        let bad_off = |x: f64| !((0.0..=4.0e11).contains(&x) && x == (x as i64) as f64);
        if let Some(&x) = checked(S_FIRST_OFF)
            .iter()
            .chain(checked(S_LAST_OFF))
            .find(|&&x| bad_off(x))
        {
            return Err(err(Error::corrupt(format!(
                "rollup offset {x} out of range"
            ))));
        }
        if checked(S_COUNT).contains(&0.0) {
            // Markers of deleted buckets and buckets of invalid samples only: left out, the
            // invalid counts of the latter kept aside.
            let keep: Vec<bool> = self.cols[S_COUNT][base..]
                .iter()
                .map(|&c| c != 0.0)
                .collect();
            for (k, &kept) in keep.iter().enumerate() {
                let invalid = self.cols[S_INVALID][base + k];
                if !kept && invalid > 0.0 {
                    self.invalid_only
                        .push((self.start[base + k], invalid as u64));
                }
            }
            let retain = |v: &mut Vec<f64>| {
                let mut k = 0;
                v.retain(|_| {
                    k += 1;
                    k <= base || keep[k - 1 - base]
                });
            };
            for c in &mut self.cols {
                retain(c);
            }
            let mut k = 0;
            self.start.retain(|_| {
                k += 1;
                k <= base || keep[k - 1 - base]
            });
        }
        Ok(())
    }
}

/// Overlays `newer` buckets (sorted by start) on `acc` (sorted): a newer bucket replaces the
/// one with the same start (markers of deleted buckets included).
pub fn overlay_buckets(acc: &mut Vec<Bucket>, newer: Vec<Bucket>) {
    if newer.is_empty() {
        return;
    }
    if acc.last().is_none_or(|l| l.start < newer[0].start) {
        acc.extend(newer);
        return;
    }
    let mut out = Vec::with_capacity(acc.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < acc.len() && j < newer.len() {
        if acc[i].start < newer[j].start {
            out.push(acc[i]);
            i += 1;
        } else {
            if acc[i].start == newer[j].start {
                i += 1;
            }
            out.push(newer[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&acc[i..]);
    out.extend_from_slice(&newer[j..]);
    *acc = out;
}
