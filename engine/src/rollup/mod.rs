//! The minute, hour, day, month and year forms of every point.
//!
//! A [`Bucket`] summarizes the samples with `start <= ts < end` of one calendar bucket in the
//! database's time zone (a fixed UTC offset). Buckets are derived from raw samples for the
//! finest tier a point keeps and from the next finer tier for every coarser one, and stored
//! in segment files of their own kind (one column per field). See `docs/format.md`.

mod bucket;
mod tier;

pub use bucket::{
    buckets_of_buckets, buckets_of_samples, consumption_rows, inc, Bucket, BucketRow, Neighbours,
    Walk, WalkRows,
};
pub use tier::{Tier, TierSet};

use crate::catalog::PointId;
use crate::codec::{self, CodecOptions};
use crate::error::{Error, Result};
use crate::segment::{BlockMeta, BlockStats, EncodedBlock, Segment};

/// Number of columns of a rollup block.
pub const COLUMNS: usize = 12;

/// First byte of a rollup column that repeats an earlier column of its block (the second
/// byte is that column's index). No codec tag has this value.
const SAME_AS: u8 = 0xFF;

fn bits_equal(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Encodes one point's buckets (sorted by start, no repeats) as a block of a rollup file:
/// start, count, sum, min, min offset, max, max offset, first, first offset, last, last
/// offset, increase. Offsets are milliseconds from the bucket's start.
pub fn encode_block(point: PointId, rows: &[Bucket], opts: &CodecOptions) -> EncodedBlock {
    let n = rows.len();
    let mut cols: Vec<Vec<f64>> = (0..COLUMNS - 1).map(|_| Vec::with_capacity(n)).collect();
    let starts: Vec<i64> = rows.iter().map(|b| b.start).collect();
    for b in rows {
        let f = [
            b.count as f64,
            b.sum,
            b.min,
            (b.min_ts - b.start) as f64,
            b.max,
            (b.max_ts - b.start) as f64,
            b.first,
            (b.first_ts - b.start) as f64,
            b.last,
            (b.last_ts - b.start) as f64,
            b.inc,
        ];
        for (c, v) in cols.iter_mut().zip(f) {
            c.push(v);
        }
    }
    let mut columns = Vec::with_capacity(COLUMNS);
    let mut ts = Vec::new();
    codec::encode_timestamps(&starts, opts, &mut ts);
    columns.push(ts);
    // Rollup columns are small and often equal (a bucket of one sample has sum, min, max,
    // first and last alike): a column equal to an earlier one is stored as a reference, and
    // zstd is not tried.
    let mut opts = opts.clone();
    opts.zstd_level = None;
    for (i, c) in cols.iter().enumerate() {
        let same = (0..i).find(|&j| bits_equal(&cols[j], c));
        let mut out = Vec::new();
        match same {
            Some(j) => out.extend_from_slice(&[SAME_AS, j as u8 + 1]),
            None => {
                codec::encode_values(c, &opts, &mut out);
            }
        }
        columns.push(out);
    }
    let sum: f64 = rows.iter().map(|b| b.sum).sum();
    let stats = BlockStats {
        count: n as u32,
        min_ts: starts.first().copied().unwrap_or(0),
        max_ts: starts.last().copied().unwrap_or(0),
        min: rows.iter().map(|b| b.min).fold(f64::INFINITY, f64::min),
        max: rows.iter().map(|b| b.max).fold(f64::NEG_INFINITY, f64::max),
        sum,
        first: rows.first().map_or(0.0, |b| b.first),
        last: rows.last().map_or(0.0, |b| b.last),
    };
    EncodedBlock {
        point,
        columns,
        stats,
    }
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
    if cols.len() != COLUMNS {
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
    let mut starts = Vec::new();
    let Some(cols) = block_columns(seg, m, from, to, &mut starts)? else {
        return Ok(());
    };
    let n = m.stats.count as usize;
    let err = |e| seg.block_error(m, e);
    let mut f: Vec<Vec<f64>> = Vec::with_capacity(COLUMNS - 1);
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
            let v = f[j - 1].clone();
            f.push(v);
            continue;
        }
        let mut v = Vec::with_capacity(n);
        codec::decode_values(c, n, &mut v).map_err(err)?;
        if v.len() != n {
            return Err(err(Error::corrupt("rollup column length differs")));
        }
        f.push(v);
    }
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
    for i in lo..hi {
        let s = starts[i];
        let count = f[0][i];
        if count.fract() != 0.0 || count < 0.0 {
            return Err(err(Error::corrupt(format!("rollup count {count}"))));
        }
        out.push(Bucket {
            start: s,
            count: count as u64,
            sum: f[1][i],
            min: f[2][i],
            min_ts: s + off(f[3][i])?,
            max: f[4][i],
            max_ts: s + off(f[5][i])?,
            first: f[6][i],
            first_ts: s + off(f[7][i])?,
            last: f[8][i],
            last_ts: s + off(f[9][i])?,
            inc: f[10][i],
        });
    }
    Ok(())
}

/// Value columns (0-based after the start column) that a sum of buckets reads: count, sum,
/// first, first offset, last, last offset, increase. Min and max are not decoded.
const SUM_COLUMNS: [usize; 7] = [0, 1, 6, 7, 8, 9, 10];

/// The buckets of one point decoded column by column for a sum over many points: only the
/// columns a sum needs, appended block after block into buffers that are reused from point
/// to point (no per-bucket structure, no allocation once warm). Markers of deleted buckets
/// (`count == 0`) are left out.
#[derive(Debug, Default)]
pub struct SumRows {
    /// Bucket starts.
    pub start: Vec<i64>,
    /// Samples per bucket.
    pub count: Vec<u64>,
    /// Sum of the values.
    pub sum: Vec<f64>,
    /// First sample's value.
    pub first: Vec<f64>,
    /// First sample's time.
    pub first_ts: Vec<i64>,
    /// Last sample's value.
    pub last: Vec<f64>,
    /// Last sample's time.
    pub last_ts: Vec<i64>,
    /// Increase from first to last.
    pub inc: Vec<f64>,
    tmp_starts: Vec<i64>,
    tmp: [Vec<f64>; COLUMNS - 1],
}

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
        (self.first_ts[k], self.first[k])
    }
    #[inline]
    fn last(&self, k: usize) -> (i64, f64) {
        (self.last_ts[k], self.last[k])
    }
    #[inline]
    fn inc(&self, k: usize) -> f64 {
        self.inc[k]
    }
}

impl SumRows {
    /// Empties the buckets (keeping the buffers).
    pub fn clear(&mut self) {
        self.start.clear();
        self.count.clear();
        self.sum.clear();
        self.first.clear();
        self.first_ts.clear();
        self.last.clear();
        self.last_ts.clear();
        self.inc.clear();
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
        let mut decoded = [false; COLUMNS - 1];
        let mut constant = [false; COLUMNS - 1];
        for &w in &SUM_COLUMNS {
            let s = src[w];
            if decoded[s] {
                continue;
            }
            constant[s] =
                codec::peek_codec(cols[s + 1]).map_err(err)?.kind == codec::CodecKind::Constant;
            let v = &mut self.tmp[s];
            v.clear();
            codec::decode_values(cols[s + 1], n, v).map_err(err)?;
            if v.len() != n {
                return Err(err(Error::corrupt("rollup column length differs")));
            }
            decoded[s] = true;
        }
        let lo = self.tmp_starts.partition_point(|&s| s < from);
        let hi = self.tmp_starts.partition_point(|&s| s < to);
        let col = |w: usize| &self.tmp[src[w]][lo..hi];
        let (count, sum, first, first_off) = (col(0), col(1), col(6), col(7));
        let (last, last_off, inc) = (col(8), col(9), col(10));
        let starts = &self.tmp_starts[lo..hi];
        // Checks first, column by column (`x as i64` round-trips exactly when `x` is whole).
        if let Some(&c) = count
            .iter()
            .find(|&&c| !(c >= 0.0 && c == (c as i64) as f64))
        {
            return Err(err(Error::corrupt(format!("rollup count {c}"))));
        }
        let bad_off = |x: f64| !((0.0..=4.0e11).contains(&x) && x == (x as i64) as f64);
        // A constant column (the usual offsets of regular data) is checked once.
        let checked = |w: usize, c: &'_ [f64]| -> usize {
            if constant[src[w]] {
                c.len().min(1)
            } else {
                c.len()
            }
        };
        let (nf, nl) = (checked(7, first_off), checked(9, last_off));
        if let Some(&x) = first_off[..nf]
            .iter()
            .chain(&last_off[..nl])
            .find(|&&x| bad_off(x))
        {
            return Err(err(Error::corrupt(format!(
                "rollup offset {x} out of range"
            ))));
        }
        if !count.contains(&0.0) {
            self.start.extend_from_slice(starts);
            self.count.extend(count.iter().map(|&c| c as u64));
            self.sum.extend_from_slice(sum);
            self.first.extend_from_slice(first);
            self.first_ts
                .extend(starts.iter().zip(first_off).map(|(&s, &o)| s + o as i64));
            self.last.extend_from_slice(last);
            self.last_ts
                .extend(starts.iter().zip(last_off).map(|(&s, &o)| s + o as i64));
            self.inc.extend_from_slice(inc);
            return Ok(());
        }
        for (k, &s) in starts.iter().enumerate() {
            if count[k] == 0.0 {
                continue; // a marker of a deleted bucket
            }
            self.start.push(s);
            self.count.push(count[k] as u64);
            self.sum.push(sum[k]);
            self.first.push(first[k]);
            self.first_ts.push(s + first_off[k] as i64);
            self.last.push(last[k]);
            self.last_ts.push(s + last_off[k] as i64);
            self.inc.push(inc[k]);
        }
        Ok(())
    }
}
