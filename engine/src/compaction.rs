//! Compaction: merges the segments of one time partition into one, applying corrections
//! (the newest sample of a timestamp wins) and deletes (tombstones hide older samples and are
//! then dropped, since no older data of the partition remains).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::catalog::PointId;
use crate::codec::CodecOptions;
use crate::error::Result;
use crate::rollup::Bucket;
use crate::sample::{overlay, Columns};
use crate::segment::{encode_raw_block, EncodedBlock, Segment};

/// Merges `inputs` (all of one partition, any order) into each point's final samples,
/// encoded as blocks, yielded in point order. One point is decoded and encoded at a time, so
/// a compaction needs one point's samples and block, not the partition, when the blocks are
/// written as they come ([`crate::segment::SegmentWriter`]). Points left with no samples are
/// omitted.
pub fn merge_partition<'a>(
    inputs: &'a [Arc<Segment>],
    opts: &'a CodecOptions,
) -> impl Iterator<Item = Result<EncodedBlock>> + 'a {
    each_point(inputs, move |inputs, p| merge_point(inputs, p, opts))
}

/// `merge` of each point that has a block in `inputs` (given to it oldest
/// first), in increasing point order, skipping the points it returns `None` for. The pages
/// read through the inputs' mappings are handed back every [`RELEASE_EVERY`] points: each is
/// read once.
fn each_point<'a>(
    inputs: &'a [Arc<Segment>],
    merge: impl Fn(&[&Arc<Segment>], PointId) -> Result<Option<EncodedBlock>> + 'a,
) -> impl Iterator<Item = Result<EncodedBlock>> + 'a {
    let mut inputs: Vec<&Arc<Segment>> = inputs.iter().collect();
    inputs.sort_by_key(|s| s.id.generation);
    let points: BTreeSet<PointId> = inputs.iter().flat_map(|s| s.points()).collect();
    points
        .into_iter()
        .enumerate()
        .map(move |(n, p)| {
            if n % RELEASE_EVERY == RELEASE_EVERY - 1 {
                for s in &inputs {
                    s.release_pages();
                }
            }
            merge(&inputs, p)
        })
        .filter_map(Result::transpose)
}

/// Points a compaction merges between two hand-backs of the mapped pages it read.
const RELEASE_EVERY: usize = 4096;

/// One point's final samples in `inputs` (oldest first), encoded; `None` if it has none.
fn merge_point(
    inputs: &[&Arc<Segment>],
    p: PointId,
    opts: &CodecOptions,
) -> Result<Option<EncodedBlock>> {
    let mut acc: Option<Columns> = None;
    for seg in inputs {
        // Tombstones first: they hide older segments' data of their point.
        if let Some(c) = acc.as_mut() {
            let t: Vec<_> = seg.tombstones(p).collect();
            if !t.is_empty() {
                overlay(c, Columns::default(), &t);
            }
        }
        if let Some(b) = seg.block(p) {
            let cols = seg.decode(&b)?;
            match acc.as_mut() {
                Some(c) => overlay(c, cols, &[]),
                None => acc = Some(cols),
            }
        }
    }
    Ok(acc
        .filter(|c| !c.is_empty())
        .map(|c| encode_raw_block(p, &c, opts)))
}

pub use crate::rollup::overlay_buckets;

/// Merges the rollup files of one tier partition into each point's final buckets, encoded as
/// blocks, yielded in point order: one point's buckets are decoded and encoded at a time, as
/// [`merge_partition`] does for raw data. With `whole` (the inputs are every file of the
/// partition) the markers of deleted buckets are dropped; otherwise they are kept, since they
/// hide buckets of the older files that remain. Points left with no buckets are omitted.
pub fn merge_rollup_partition<'a>(
    inputs: &'a [Arc<Segment>],
    whole: bool,
    opts: &'a CodecOptions,
) -> impl Iterator<Item = Result<EncodedBlock>> + 'a {
    each_point(inputs, move |inputs, p| {
        let mut acc: Vec<Bucket> = Vec::new();
        for seg in inputs {
            if let Some(b) = seg.block(p) {
                let mut rows = Vec::new();
                crate::rollup::decode_block(seg, &b, i64::MIN, i64::MAX, &mut rows)?;
                overlay_buckets(&mut acc, rows);
            }
        }
        if whole {
            acc.retain(|b| !b.is_marker());
        }
        Ok((!acc.is_empty()).then(|| crate::rollup::encode_block(p, &acc, opts)))
    })
}

/// Which files of a rollup partition (sizes in bytes, oldest first) a compaction merges: the
/// index of the oldest one merged, the newer ones all merged with it. A file more than
/// [`SIZE_RATIO`] times the size of all newer files together is left as it is, so that a
/// partition that grows by small flushes (a year of days, a century of months) is not
/// rewritten whole every few flushes: the small files are merged among themselves until
/// they add up to a fair share of the big one. Each byte is then rewritten a few times over
/// the partition's life, not once per compaction.
pub fn rollup_merge_from(sizes: &[u64]) -> usize {
    let mut newer: u64 = sizes.iter().sum();
    for (i, &s) in sizes.iter().enumerate() {
        newer -= s;
        if i + 2 >= sizes.len() || s <= SIZE_RATIO * newer {
            return i;
        }
    }
    0
}

/// See [`rollup_merge_from`].
pub const SIZE_RATIO: u64 = 4;

#[cfg(test)]
mod tests {
    use super::rollup_merge_from;

    #[test]
    fn small_newer_files_are_merged_without_the_big_one() {
        // Newer files of similar size: all merged.
        assert_eq!(rollup_merge_from(&[100, 90, 80, 70]), 0);
        // A big base and small newer files: the base stays.
        assert_eq!(rollup_merge_from(&[1000, 10, 10, 10]), 1);
        // Two levels: the base and a middle file stay.
        assert_eq!(rollup_merge_from(&[1000, 100, 2, 1]), 2);
        // Once the newer files add up to a quarter of the base, everything is merged.
        assert_eq!(rollup_merge_from(&[100, 10, 10, 5]), 0);
        // At least two files are always merged.
        assert_eq!(rollup_merge_from(&[1000, 100, 10, 1]), 2);
        assert_eq!(rollup_merge_from(&[5, 1]), 0);
    }
}
