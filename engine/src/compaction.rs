//! Compaction: merges the segments of one time partition into one, applying corrections
//! (the newest sample of a timestamp wins) and deletes (tombstones hide older samples and are
//! then dropped, since no older data of the partition remains).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::catalog::PointId;
use crate::codec::CodecOptions;
use crate::error::Result;
use crate::query::overlay;
use crate::rollup::Bucket;
use crate::sample::Columns;
use crate::segment::{encode_raw_block, EncodedBlock, Segment};

/// Merges `inputs` (all of one partition, any order) into each point's final samples,
/// encoded as blocks in point order. One point is decoded at a time, so the memory a
/// compaction needs is one point's samples plus the encoded output, not the whole partition
/// decoded. Points left with no samples are omitted.
pub fn merge_partition(inputs: &[Arc<Segment>], opts: &CodecOptions) -> Result<Vec<EncodedBlock>> {
    let mut inputs: Vec<&Arc<Segment>> = inputs.iter().collect();
    inputs.sort_by_key(|s| s.id.generation);
    let points: BTreeSet<PointId> = inputs
        .iter()
        .flat_map(|s| s.blocks().iter().map(|b| b.point))
        .collect();
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let mut acc: Option<Columns> = None;
        for seg in &inputs {
            // Tombstones first: they hide older segments' data of their point.
            if let Some(c) = acc.as_mut() {
                let t: Vec<_> = seg.tombstones(p).collect();
                if !t.is_empty() {
                    overlay(c, Columns::default(), &t);
                }
            }
            if let Some(b) = seg.block(p) {
                let cols = seg.decode(b)?;
                match acc.as_mut() {
                    Some(c) => overlay(c, cols, &[]),
                    None => acc = Some(cols),
                }
            }
        }
        if let Some(c) = acc.filter(|c| !c.is_empty()) {
            out.push(encode_raw_block(p, &c, opts));
        }
    }
    Ok(out)
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

/// Merges the rollup files of one tier partition into each point's final buckets, dropping
/// the markers of deleted buckets.
pub fn merge_rollup_partition(inputs: &[Arc<Segment>]) -> Result<BTreeMap<PointId, Vec<Bucket>>> {
    let mut inputs: Vec<&Arc<Segment>> = inputs.iter().collect();
    inputs.sort_by_key(|s| s.id.generation);
    let mut acc: BTreeMap<PointId, Vec<Bucket>> = BTreeMap::new();
    for seg in inputs {
        for b in seg.blocks() {
            let mut rows = Vec::new();
            crate::rollup::decode_block(seg, b, i64::MIN, i64::MAX, &mut rows)?;
            overlay_buckets(acc.entry(b.point).or_default(), rows);
        }
    }
    for rows in acc.values_mut() {
        rows.retain(|b| b.count > 0);
    }
    acc.retain(|_, rows| !rows.is_empty());
    Ok(acc)
}
