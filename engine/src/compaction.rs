//! Compaction: merges the segments of one time partition into one, applying corrections
//! (the newest sample of a timestamp wins) and deletes (tombstones hide older samples and are
//! then dropped, since no older data of the partition remains).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::PointId;
use crate::error::Result;
use crate::query::overlay;
use crate::sample::Columns;
use crate::segment::Segment;

/// Merges `inputs` (all of one partition, any order) into each point's final samples.
/// Points left with no samples are omitted.
pub fn merge_partition(inputs: &[Arc<Segment>]) -> Result<BTreeMap<PointId, Columns>> {
    let mut inputs: Vec<&Arc<Segment>> = inputs.iter().collect();
    inputs.sort_by_key(|s| s.id.generation);
    let mut acc: BTreeMap<PointId, Columns> = BTreeMap::new();
    for seg in inputs {
        // Tombstones first: they hide older segments' data of their point.
        let mut tomb_points: Vec<PointId> = seg.all_tombstones().iter().map(|x| x.0).collect();
        tomb_points.dedup();
        for p in tomb_points {
            if let Some(c) = acc.get_mut(&p) {
                let t: Vec<_> = seg.tombstones(p).collect();
                overlay(c, Columns::default(), &t);
            }
        }
        for b in seg.blocks() {
            let cols = seg.decode(b)?;
            match acc.get_mut(&b.point) {
                Some(c) => overlay(c, cols, &[]),
                None => {
                    acc.insert(b.point, cols);
                }
            }
        }
    }
    acc.retain(|_, c| !c.is_empty());
    Ok(acc)
}
