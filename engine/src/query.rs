//! Range reads: merging segments and memtables into one exact, sorted answer.
//!
//! Sources are ranked by age: segments by generation, then frozen memtables, then the active
//! memtable. Of two samples with the same timestamp the newer source's wins (a correction),
//! and a source's tombstones hide the samples of every older source.

use std::sync::Arc;

use crate::catalog::PointId;
use crate::error::Result;
use crate::memtable::{Memtable, Tombstone};
use crate::sample::{Columns, Sample, Timestamp};
use crate::segment::Segment;

/// The live segment files at one moment. Immutable; replaced as a whole.
#[derive(Debug, Default, Clone)]
pub struct Version {
    /// Raw segments, sorted by (partition start, generation).
    pub segments: Vec<Arc<Segment>>,
    /// Rollup files of each tier (index: tier number - 1), sorted the same way.
    pub tiers: [Vec<Arc<Segment>>; 5],
}

/// Segments of `list` (sorted by partition) whose partition overlaps `[from, to)`.
pub fn overlapping_in(
    list: &[Arc<Segment>],
    from: Timestamp,
    to: Timestamp,
) -> impl Iterator<Item = &Arc<Segment>> {
    let start = list.partition_point(|s| s.id.part_end <= from);
    list[start..]
        .iter()
        .take_while(move |s| s.id.part_start < to)
        .filter(move |s| s.id.part_end > from)
}

impl Version {
    /// A version of these segments of every kind (sorted here).
    pub fn new(all: Vec<Arc<Segment>>) -> Version {
        let mut v = Version::default();
        for s in all {
            match crate::rollup::Tier::from_kind(s.id.kind) {
                Some(t) => v.tiers[t as usize - 1].push(s),
                None => v.segments.push(s),
            }
        }
        v.segments
            .sort_by_key(|s| (s.id.part_start, s.id.generation));
        for t in &mut v.tiers {
            t.sort_by_key(|s| (s.id.part_start, s.id.generation));
        }
        v
    }

    /// Every segment of every kind.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Segment>> {
        self.segments.iter().chain(self.tiers.iter().flatten())
    }

    /// The rollup files of a tier.
    pub fn tier(&self, t: crate::rollup::Tier) -> &[Arc<Segment>] {
        &self.tiers[t as usize - 1]
    }

    /// Raw segments whose partition overlaps `[from, to)`, in partition then generation order.
    pub fn overlapping(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = &Arc<Segment>> {
        overlapping_in(&self.segments, from, to)
    }

    /// Start of every partition present, sorted, without repeats.
    pub fn partitions(&self) -> Vec<(Timestamp, Timestamp)> {
        let mut v: Vec<_> = self
            .segments
            .iter()
            .map(|s| (s.id.part_start, s.id.part_end))
            .collect();
        v.dedup();
        v
    }
}

pub use crate::sample::overlay;

/// A consistent view for reads: the segments, frozen memtables and a copy of the active
/// memtable's part that a read needs, all as of one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Live segments.
    pub version: Arc<Version>,
    /// Frozen memtables, oldest first.
    pub frozen: Vec<Arc<Memtable>>,
}

impl Snapshot {
    /// Merges one point's data in `[from, to)` from every segment and frozen memtable, then
    /// overlays `active` (the active memtable's samples and tombstones in that range).
    pub fn read(
        &self,
        point: PointId,
        from: Timestamp,
        to: Timestamp,
        active: Option<&(Columns, Vec<Tombstone>)>,
    ) -> Result<Columns> {
        let mut acc = Columns::default();
        // Partitions do not overlap in time: merge each partition's segments by generation,
        // then append partitions in order. A partition with one segment and no tombstones
        // (the usual case once compacted) decodes straight into the answer.
        let segs: Vec<&Arc<Segment>> = self.version.overlapping(from, to).collect();
        let mut i = 0;
        while i < segs.len() {
            let part = segs[i].id.part_start;
            let j = i + segs[i..]
                .iter()
                .take_while(|s| s.id.part_start == part)
                .count();
            if j == i + 1 && !segs[i].has_tombstones() {
                if let Some(b) = segs[i].block(point) {
                    segs[i].read(&b, from, to, &mut acc)?;
                }
                i = j;
                continue;
            }
            let mut part_acc = Columns::default();
            for seg in &segs[i..j] {
                let tombs: Vec<Tombstone> = seg.tombstones(point).collect();
                let mut cols = Columns::default();
                if let Some(b) = seg.block(point) {
                    seg.read(&b, from, to, &mut cols)?;
                }
                if part_acc.is_empty() && tombs.is_empty() {
                    part_acc = cols;
                } else {
                    overlay(&mut part_acc, cols, &tombs);
                }
            }
            acc.extend_from(&part_acc, 0..part_acc.len());
            i = j;
        }
        for m in &self.frozen {
            let (cols, tombs) = m.read(point, from, to);
            overlay(&mut acc, cols, &tombs);
        }
        if let Some((cols, tombs)) = active {
            overlay(&mut acc, cols.clone(), tombs);
        }
        Ok(acc)
    }
}

/// Iterates one point's samples over a range in time order, one partition at a time, from
/// a snapshot taken when it was created.
#[derive(Debug)]
pub struct RangeIter {
    snap: Snapshot,
    point: PointId,
    active: (Columns, Vec<Tombstone>),
    windows: Vec<(Timestamp, Timestamp)>,
    next_window: usize,
    buf: Columns,
    pos: usize,
}

impl RangeIter {
    pub(crate) fn new(
        snap: Snapshot,
        point: PointId,
        from: Timestamp,
        to: Timestamp,
        active: (Columns, Vec<Tombstone>),
        partition_ms: i64,
    ) -> RangeIter {
        // Windows: the partitions that have segments in range, plus the partitions of the
        // memtables' samples, so that a sparse range never walks empty partitions.
        let mut starts: Vec<Timestamp> = snap
            .version
            .overlapping(from, to)
            .map(|s| s.id.part_start)
            .collect();
        let part_of = |t: Timestamp| t.div_euclid(partition_ms) * partition_ms;
        let mut add_cols = |c: &Columns| {
            let mut last = None;
            for &t in &c.ts {
                let p = part_of(t);
                if last != Some(p) {
                    starts.push(p);
                    last = Some(p);
                }
            }
        };
        for m in &snap.frozen {
            add_cols(&m.read(point, from, to).0);
        }
        add_cols(&active.0);
        starts.sort_unstable();
        starts.dedup();
        let windows = starts
            .into_iter()
            .map(|p| (p.max(from), p.saturating_add(partition_ms).min(to)))
            .collect();
        RangeIter {
            snap,
            point,
            active,
            windows,
            next_window: 0,
            buf: Columns::default(),
            pos: 0,
        }
    }

    /// Fills the buffer with the next window's samples; false when done.
    fn refill(&mut self) -> Result<bool> {
        while self.next_window < self.windows.len() {
            let (f, t) = self.windows[self.next_window];
            self.next_window += 1;
            let r = self.active.0.range_of(f, t);
            let mut part = Columns::with_capacity(r.len());
            part.extend_from(&self.active.0, r);
            let tombs: Vec<Tombstone> = self
                .active
                .1
                .iter()
                .copied()
                .filter(|&(a, b)| a < t && b > f)
                .collect();
            self.buf = self.snap.read(self.point, f, t, Some(&(part, tombs)))?;
            self.pos = 0;
            if !self.buf.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next batch of samples (one partition's worth), or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Result<Columns>> {
        if self.pos < self.buf.len() {
            let mut c = std::mem::take(&mut self.buf);
            if self.pos > 0 {
                let mut rest = Columns::with_capacity(c.len() - self.pos);
                rest.extend_from(&c, self.pos..c.len());
                c = rest;
            }
            self.pos = 0;
            return Some(Ok(c));
        }
        match self.refill() {
            Ok(true) => {
                self.pos = self.buf.len();
                Some(Ok(std::mem::take(&mut self.buf)))
            }
            Ok(false) => None,
            Err(e) => {
                self.next_window = self.windows.len();
                Some(Err(e))
            }
        }
    }
}

impl Iterator for RangeIter {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Result<Sample>> {
        if self.pos >= self.buf.len() {
            match self.refill() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.next_window = self.windows.len();
                    return Some(Err(e));
                }
            }
        }
        let s = self.buf.get(self.pos);
        self.pos += 1;
        Some(Ok(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: &[(i64, f64)]) -> Columns {
        let mut c = Columns::default();
        for &(t, x) in v {
            c.push(t, x, 1);
        }
        c
    }

    #[test]
    fn overlay_newer_wins_and_tombstones_hide_older() {
        let mut acc = c(&[(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0)]);
        overlay(&mut acc, c(&[(2, 20.0), (4, 40.0)]), &[(3, 4)]);
        assert_eq!(acc, c(&[(1, 1.0), (2, 20.0), (4, 40.0), (5, 5.0)]));
        overlay(&mut acc, c(&[(9, 9.0)]), &[]);
        assert_eq!(acc.ts, vec![1, 2, 4, 5, 9]);
        overlay(&mut acc, Columns::default(), &[(i64::MIN, i64::MAX)]);
        assert!(acc.is_empty());
    }
}
