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

/// Decodes a rollup block, appending the buckets with `from <= start < to` to `out`.
pub fn decode_block(
    seg: &Segment,
    m: &BlockMeta,
    from: i64,
    to: i64,
    out: &mut Vec<Bucket>,
) -> Result<()> {
    if m.stats.max_ts < from || m.stats.min_ts >= to {
        return Ok(());
    }
    let cols = seg.columns(m)?;
    if cols.len() != COLUMNS {
        return Err(seg.block_error(
            m,
            Error::corrupt(format!("rollup block has {} columns", cols.len())),
        ));
    }
    let n = m.stats.count as usize;
    let err = |e| seg.block_error(m, e);
    let mut starts = Vec::with_capacity(n);
    codec::decode_timestamps(cols[0], n, &mut starts).map_err(err)?;
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
    if starts.len() != n {
        return Err(err(Error::corrupt("rollup start column length differs")));
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
