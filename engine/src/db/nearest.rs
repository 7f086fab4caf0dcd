//! The nearest sample of a point to a time, the one implementation behind [`Db::latest`]
//! (the newest sample, of any quality) and the samples on either side of a rollup query's
//! range (the valid readings a counter's consumption interpolates between).

use std::sync::Arc;

use super::Db;
use crate::catalog::PointId;
use crate::error::Result;
use crate::memtable::Tombstone;
use crate::query::Snapshot;
use crate::sample::{Columns, Quality, Sample, Timestamp};
use crate::segment::{BlockMeta, Segment};

/// Which side of a time to look on, and which samples count.
#[derive(Clone, Copy, Debug)]
pub(super) struct Look {
    /// The last sample before the time (else the first at or after it).
    pub before: bool,
    /// Valid samples only (quality bit 0 set).
    pub valid_only: bool,
}

/// The last (`before`) or first sample of `c` that counts.
fn end_of(c: &Columns, look: Look) -> Option<Sample> {
    let ok =
        |i: &usize| !look.valid_only || c.quality.get(*i).is_none_or(|&q| Quality(q).is_valid());
    let i = if look.before {
        (0..c.len()).rev().find(ok)
    } else {
        (0..c.len()).find(ok)
    };
    i.map(|i| c.get(i))
}

/// The quality byte of the last (`before`) or first sample of a raw block, read from its
/// quality column alone.
fn end_quality(seg: &Segment, b: &BlockMeta, before: bool) -> Result<Option<u8>> {
    let cols = seg.columns(b)?;
    let Some(q) = cols.get(2) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    crate::codec::decode_quality(q, b.stats.count as usize, &mut out)
        .map_err(|e| seg.block_error(b, e))?;
    Ok(if before { out.last() } else { out.first() }.copied())
}

impl Db {
    /// The nearest sample of `point` to `t` as `look` says, as of `snap` with `active` (the
    /// active memtable's samples of the point, and its tombstones) laid over it. Walks the
    /// partitions that hold data of the point away from `t`, one at a time: a partition held
    /// by one segment (no tombstones, nothing in memory) reads that block alone, and answers
    /// from the block's statistics and quality column when the block lies wholly on the far
    /// side of `t`; any other partition is merged as a range read merges it.
    pub(super) fn nearest(
        &self,
        snap: &Snapshot,
        active: &(Columns, Vec<Tombstone>),
        point: PointId,
        t: Timestamp,
        look: Look,
    ) -> Result<Option<Sample>> {
        let p = self.inner.opts.partition_ms;
        let part_of = |x: Timestamp| x.div_euclid(p) * p;
        // What memory holds of the point: frozen memtables' samples and tombstones, and the
        // active one's. A tombstone in memory may hide data of any partition.
        let mut starts: Vec<Timestamp> = Vec::new();
        let mut mem_tombs = !active.1.is_empty();
        let mut add = |ts: &[Timestamp]| {
            let mut last = None;
            for &x in ts {
                let q = part_of(x);
                if last != Some(q) {
                    starts.push(q);
                    last = Some(q);
                }
            }
        };
        for m in &snap.frozen {
            let (c, tombs) = m.read(point, Timestamp::MIN, Timestamp::MAX);
            add(&c.ts);
            mem_tombs |= !tombs.is_empty();
        }
        add(&active.0.ts);
        starts.sort_unstable();
        starts.dedup();
        let mem = starts.clone();
        // And the partitions of segments that hold data of the point.
        let segs = &snap.version.segments;
        let holds = |s: &Arc<Segment>| s.has_block(point) || s.tombstones(point).next().is_some();
        starts.extend(segs.iter().filter(|s| holds(s)).map(|s| s.id.part_start));
        starts.sort_unstable();
        starts.dedup();
        // Nearest first, on the side looked.
        if look.before {
            starts.retain(|&s| s < t);
            starts.reverse();
        } else {
            starts.retain(|&s| s.saturating_add(p) > t);
        }
        for s in starts {
            let (f, e) = if look.before {
                (s, s.saturating_add(p).min(t))
            } else {
                (s.max(t), s.saturating_add(p))
            };
            if f >= e {
                continue;
            }
            let a = segs.partition_point(|x| x.id.part_start < s);
            let b = segs.partition_point(|x| x.id.part_start <= s);
            let group = &segs[a..b];
            let in_mem = mem_tombs || mem.binary_search(&s).is_ok();
            let found = match (group, in_mem) {
                ([seg], false) if seg.tombstones(point).next().is_none() => {
                    let Some(b) = seg.block(point) else {
                        continue;
                    };
                    self.nearest_in_block(seg, &b, (f, e), t, look)?
                }
                _ => {
                    let r = active.0.range_of(f, e);
                    let mut part = Columns::with_capacity(r.len());
                    part.extend_from(&active.0, r);
                    let cols = snap.read(point, f, e, Some(&(part, active.1.clone())))?;
                    end_of(&cols, look)
                }
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// [`Db::nearest`] in a partition held by one block alone: from its statistics and
    /// quality column when it lies wholly on the far side of `t`, else decoded.
    fn nearest_in_block(
        &self,
        seg: &Segment,
        b: &BlockMeta,
        (f, e): (Timestamp, Timestamp),
        t: Timestamp,
        look: Look,
    ) -> Result<Option<Sample>> {
        let st = &b.stats;
        let outside = (look.before && st.max_ts < t) || (!look.before && st.min_ts >= t);
        if outside {
            if let Some(q) = end_quality(seg, b, look.before)? {
                if !look.valid_only || Quality(q).is_valid() {
                    let (ts, value) = if look.before {
                        (st.max_ts, st.last)
                    } else {
                        (st.min_ts, st.first)
                    };
                    return Ok(Some(Sample {
                        ts,
                        value,
                        quality: Quality(q),
                    }));
                }
            }
        }
        let mut c = Columns::default();
        seg.read(b, f, e, &mut c)?;
        Ok(end_of(&c, look))
    }
}
