//! What has been written and not yet flushed to segment files.
//!
//! The active memtable takes writes in arrival order (appends are O(1); out-of-order and
//! repeated timestamps mark a point unsorted and are resolved, last write winning, when it is
//! read or frozen). Range deletes remove matching samples at once and are remembered as
//! tombstones, which hide older data in frozen memtables and segments.

use crate::catalog::PointId;
use crate::sample::{Columns, Timestamp};

pub use crate::sample::Tombstone;

/// One point's buffered writes. Every point id up to the highest written has one, so it is
/// kept small (88 bytes): deletes and touched spans, which few points have, live apart.
#[derive(Debug, Default, Clone)]
struct PointBuf {
    cols: Columns,
    sorted: bool,
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Default, Clone)]
struct Extra {
    tombstones: Vec<Tombstone>,
    /// Spans whose buckets must be derived again although no sample in them changed (a
    /// change of the point's register rules, such as a meter replacement recorded late).
    touches: Vec<(Timestamp, Timestamp)>,
}

impl PointBuf {
    fn tombstones(&self) -> &[Tombstone] {
        self.extra.as_ref().map_or(&[], |e| &e.tombstones)
    }

    fn touches(&self) -> &[(Timestamp, Timestamp)] {
        self.extra.as_ref().map_or(&[], |e| &e.touches)
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    fn is_empty(&self) -> bool {
        self.cols.is_empty() && self.extra.is_none()
    }
}

/// Sorts columns by timestamp; of samples with equal timestamps the one appended last wins.
pub fn sort_last_wins(c: &Columns) -> Columns {
    let mut idx: Vec<u32> = (0..c.len() as u32).collect();
    // Stable sort keeps arrival order among equal timestamps.
    idx.sort_by_key(|&i| c.ts[i as usize]);
    let mut out = Columns::with_capacity(c.len());
    for (k, &i) in idx.iter().enumerate() {
        let i = i as usize;
        if let Some(&next) = idx.get(k + 1) {
            if c.ts[next as usize] == c.ts[i] {
                continue; // a later write of the same timestamp follows
            }
        }
        out.push(c.ts[i], c.values[i], c.quality[i]);
    }
    out
}

/// The mutable in-memory table.
#[derive(Debug, Default)]
pub struct Memtable {
    points: Vec<PointBuf>,
    samples: usize,
    /// Bytes the points' sample columns have allocated (their capacity, not their length).
    column_bytes: usize,
    tombstones: usize,
    touches: usize,
}

/// Bytes a point's columns have allocated.
fn capacity_bytes(c: &Columns) -> usize {
    c.ts.capacity() * 8 + c.values.capacity() * 8 + c.quality.capacity()
}

/// Room a point's full columns grow by: half their length (at least 4 samples), so that
/// what is allocated stays within 1.5 times what is stored, where doubling would allow 2
/// (with 200,000 points the memtable's slack was as big as its samples).
fn growth(len: usize) -> usize {
    (len / 2).max(4)
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Memory the memtable holds: what its points' columns have allocated, their per-point
    /// records (one per point id up to the highest written), tombstones and touched spans.
    pub fn approx_bytes(&self) -> usize {
        self.column_bytes
            + (self.tombstones + self.touches) * 24
            + self.points.capacity() * std::mem::size_of::<PointBuf>()
    }

    /// Samples buffered (including superseded ones not yet resolved).
    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.samples == 0 && self.tombstones == 0 && self.touches == 0
    }

    /// An empty memtable with room for the records of points `0..points`.
    pub fn with_points(points: usize) -> Self {
        Memtable {
            points: Vec::with_capacity(points),
            ..Self::default()
        }
    }

    /// Point records the memtable holds (one per id up to the highest written).
    pub fn point_slots(&self) -> usize {
        self.points.len()
    }

    fn buf(&mut self, id: PointId) -> &mut PointBuf {
        let i = id as usize;
        if i >= self.points.len() {
            if i >= self.points.capacity() {
                // By a quarter: the records of 200,000 points are 17 MB.
                let more = (i + 1 - self.points.len())
                    .max(self.points.len() / 4)
                    .max(64);
                self.points.reserve_exact(more);
            }
            self.points.resize_with(i + 1, || PointBuf {
                sorted: true,
                ..Default::default()
            });
        }
        &mut self.points[i]
    }

    /// Adds one sample.
    #[inline]
    pub fn insert(&mut self, id: PointId, ts: Timestamp, value: f64, quality: u8) {
        let b = self.buf(id);
        if let Some(&last) = b.cols.ts.last() {
            if ts <= last {
                b.sorted = false;
            }
        }
        let mut grown = 0;
        if b.cols.ts.len() == b.cols.ts.capacity() {
            let before = capacity_bytes(&b.cols);
            let more = growth(b.cols.len());
            b.cols.ts.reserve_exact(more);
            b.cols.values.reserve_exact(more);
            b.cols.quality.reserve_exact(more);
            grown = capacity_bytes(&b.cols) - before;
        }
        b.cols.push(ts, value, quality);
        self.samples += 1;
        self.column_bytes += grown;
    }

    /// Deletes `[from, to)` of a point: removes what is buffered and remembers a tombstone.
    pub fn delete(&mut self, id: PointId, from: Timestamp, to: Timestamp) {
        let b = self.buf(id);
        let before = b.cols.len();
        let allocated = capacity_bytes(&b.cols);
        let keep: Vec<bool> = b.cols.ts.iter().map(|&t| t < from || t >= to).collect();
        if keep.iter().any(|k| !k) {
            let mut out = Columns::with_capacity(before);
            for (i, &k) in keep.iter().enumerate() {
                if k {
                    out.push(b.cols.ts[i], b.cols.values[i], b.cols.quality[i]);
                }
            }
            b.cols = out;
        }
        let removed = before - b.cols.len();
        let now = capacity_bytes(&b.cols);
        b.extra().tombstones.push((from, to));
        self.samples -= removed;
        self.column_bytes = self.column_bytes - allocated + now;
        self.tombstones += 1;
    }

    /// Marks `[from, to)` of a point for its buckets to be derived again at the next flush
    /// (and by queries until then), although no sample changed there.
    pub fn touch(&mut self, id: PointId, from: Timestamp, to: Timestamp) {
        self.buf(id).extra().touches.push((from, to));
        self.touches += 1;
    }

    /// The point's buffered samples in `[from, to)`, sorted, last write winning, with the
    /// point's tombstones.
    pub fn read(&self, id: PointId, from: Timestamp, to: Timestamp) -> (Columns, Vec<Tombstone>) {
        let Some(b) = self.points.get(id as usize) else {
            return (Columns::default(), Vec::new());
        };
        let tombs: Vec<Tombstone> = b
            .tombstones()
            .iter()
            .copied()
            .filter(|&(f, t)| f < to && t > from)
            .collect();
        if b.sorted {
            let r = b.cols.range_of(from, to);
            let mut out = Columns::with_capacity(r.len());
            out.extend_from(&b.cols, r);
            return (out, tombs);
        }
        let mut sub = Columns::default();
        for i in 0..b.cols.len() {
            let t = b.cols.ts[i];
            if t >= from && t < to {
                sub.push(t, b.cols.values[i], b.cols.quality[i]);
            }
        }
        (sort_last_wins(&sub), tombs)
    }

    /// Every point with samples, tombstones or touched spans: its columns (in arrival
    /// order), whether they are already sorted without repeats, and its tombstones.
    pub fn iter_points(&self) -> impl Iterator<Item = (PointId, (&Columns, bool), &[Tombstone])> {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_empty())
            .map(|(i, b)| (i as PointId, (&b.cols, b.sorted), b.tombstones()))
    }

    /// Whether the point has buffered samples, deletes or touched spans.
    pub fn has(&self, id: PointId) -> bool {
        self.points.get(id as usize).is_some_and(|b| !b.is_empty())
    }

    /// Appends the minute-aligned spans `[start, end)` that the point's buffered samples and
    /// deletes touch, covering more minutes where that saves work (runs of samples less than
    /// an hour apart give one span), not sorted or merged overall.
    pub fn touched(&self, id: PointId, out: &mut Vec<(Timestamp, Timestamp)>) {
        const M: i64 = 60_000;
        let Some(b) = self.points.get(id as usize) else {
            return;
        };
        // Runs of samples less than an hour apart give one span (callers recompute whole
        // buckets, so the minutes between cost nothing worth a division per sample); a run's
        // ends are rounded to minutes once.
        const GAP: i64 = 3_600_000;
        let close = |out: &mut Vec<(Timestamp, Timestamp)>, (a, b): (Timestamp, Timestamp)| {
            out.push((a.div_euclid(M) * M, (b.div_euclid(M) + 1) * M));
        };
        let ts = &b.cols.ts[..];
        if b.sorted {
            // In time order (strictly increasing), a run ends where two neighbours are more
            // than an hour apart: one comparison per sample.
            let mut i = 0;
            while i < ts.len() {
                let len = ts[i..]
                    .windows(2)
                    .position(|w| w[1] - w[0] > GAP)
                    .map_or(ts.len() - i, |k| k + 1);
                close(out, (ts[i], ts[i + len - 1]));
                i += len;
            }
        } else {
            // Mostly in time order: a sample at most an hour after the current run's last
            // and not before its first extends it.
            let mut run: Option<(Timestamp, Timestamp)> = None;
            for &t in ts {
                match &mut run {
                    Some((a, l)) if t >= *a && t <= l.saturating_add(GAP) => *l = (*l).max(t),
                    _ => {
                        if let Some(r) = run.take() {
                            close(out, r);
                        }
                        run = Some((t, t));
                    }
                }
            }
            if let Some(r) = run {
                close(out, r);
            }
        }
        let (lo, hi) = (
            crate::sample::MIN_TIMESTAMP,
            crate::sample::MAX_TIMESTAMP + 1,
        );
        for &(f, t) in b.tombstones().iter().chain(b.touches()) {
            let (f, t) = (f.clamp(lo, hi), t.clamp(lo, hi));
            let a = f.div_euclid(M) * M;
            let e = t.saturating_add(M - 1).div_euclid(M) * M;
            out.push((a, e.max(a + M)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_write_wins_and_deletes_apply() {
        let mut m = Memtable::new();
        m.insert(0, 10, 1.0, 1);
        m.insert(0, 20, 2.0, 1);
        m.insert(0, 10, 1.5, 3); // correction
        m.insert(0, 5, 0.5, 1); // late
        let (c, _) = m.read(0, i64::MIN, i64::MAX);
        assert_eq!(c.ts, vec![5, 10, 20]);
        assert_eq!(c.values, vec![0.5, 1.5, 2.0]);
        assert_eq!(c.quality, vec![1, 3, 1]);
        m.delete(0, 10, 20);
        m.insert(0, 12, 9.0, 1);
        let (c, t) = m.read(0, 0, 100);
        assert_eq!(c.ts, vec![5, 12, 20]);
        assert_eq!(t, vec![(10, 20)]);
        let (c, _) = m.read(0, 6, 20);
        assert_eq!(c.ts, vec![12]);
        assert!(!m.has(7));
    }

    #[test]
    fn touched_spans_alike_in_order_and_out_of_order() {
        // Gaps below, at and above an hour, and minutes not on a boundary.
        let ts = [
            61_000, 120_000, 3_720_000, 7_320_000, 7_320_001, 20_000_000, 20_000_500, 99_999_999,
        ];
        let mut m = Memtable::new();
        for &t in &ts {
            m.insert(0, t, 1.0, 1);
        }
        let mut sorted = Vec::new();
        m.touched(0, &mut sorted);
        m.points[0].sorted = false; // the general path, on the same samples
        let mut general = Vec::new();
        m.touched(0, &mut general);
        assert_eq!(sorted, general);
        assert_eq!(
            sorted,
            vec![
                (60_000, 7_380_000),
                (19_980_000, 20_040_000),
                (99_960_000, 100_020_000)
            ]
        );
    }
}
