//! Keeping the rollup tiers exact, and querying them.
//!
//! A flush recomputes, for every point it touches, the buckets of every tier that hold a
//! changed minute: the finest tier the point keeps from its raw samples, each coarser tier
//! from the next finer one (stored buckets overlaid with the ones just recomputed). The new
//! buckets, and markers for stored buckets that no longer have samples, are written as
//! rollup files in the same manifest update as the raw segments, so the tiers always match
//! the raw data on disk. A query reads the stored buckets and recomputes, the same way, the
//! buckets that data still in the memtables touches: its answer always equals a
//! recomputation from the raw samples.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::nearest::Look;
use super::{undefined, Db, Inner};
use crate::catalog::{PointId, PointMeta};
use crate::error::{Error, Result};
use crate::memtable::Memtable;
use crate::query::{overlapping_in, Snapshot, Version};
use crate::rollup::{
    self, buckets_of_bucket_runs, buckets_of_samples, consumption_rows, overlay_buckets, Bucket,
    BucketRow, Neighbours, Rules, Tier, TierSet,
};

use crate::sample::{Columns, Timestamp, Tombstone, MAX_TIMESTAMP, MIN_TIMESTAMP};
use crate::segment::{self, EncodedBlock, Segment, SegmentId, SegmentWriter};

/// Sorted, merged spans `[start, end)`.
type Spans = Vec<(Timestamp, Timestamp)>;

/// Sorts and merges overlapping or touching spans.
pub(crate) fn merge_spans(v: Spans) -> Spans {
    coalesce(v, 0)
}

/// Spans closer than this are recomputed as one: reading the data between them costs less
/// than reading (and decoding) the same blocks once per span.
const COALESCE_MS: i64 = 7 * 86_400_000;

/// Sorts spans and merges those less than `gap` apart.
fn coalesce(mut v: Spans, gap: i64) -> Spans {
    v.sort_unstable();
    let mut out: Spans = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(l) if a <= l.1.saturating_add(gap) => l.1 = l.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Widens spans to whole buckets of `tier` and merges those less than a week apart.
fn align(spans: &[(Timestamp, Timestamp)], tier: Tier, tz: i32) -> Spans {
    let lo = MIN_TIMESTAMP;
    let hi = MAX_TIMESTAMP;
    coalesce(
        spans
            .iter()
            .map(|&(a, b)| {
                let a = tier.bucket_start(a.clamp(lo, hi), tz);
                let last = tier.bucket_start((b - 1).clamp(lo, hi), tz);
                (a, tier.bucket_end(last, tz))
            })
            .collect(),
        COALESCE_MS,
    )
}

/// The stored buckets of a point at a tier with `from <= start < to` (newest file wins for a
/// start; markers of deleted buckets are kept when `keep_deleted`).
pub(crate) fn stored_rows(
    version: &Version,
    tier: Tier,
    point: PointId,
    from: Timestamp,
    to: Timestamp,
    keep_deleted: bool,
) -> Result<Vec<Bucket>> {
    let mut acc: Vec<Bucket> = Vec::new();
    let mut part: Option<Timestamp> = None;
    let mut part_acc: Vec<Bucket> = Vec::new();
    for seg in overlapping_in(version.tier(tier), from, to) {
        if part != Some(seg.id.part_start) {
            acc.append(&mut part_acc);
            part = Some(seg.id.part_start);
        }
        if let Some(b) = seg.block(point) {
            let mut rows = Vec::new();
            rollup::decode_block(seg, &b, from, to, &mut rows)?;
            if part_acc.is_empty() {
                part_acc = rows;
            } else {
                overlay_buckets(&mut part_acc, rows);
            }
        }
    }
    acc.append(&mut part_acc);
    if !keep_deleted {
        acc.retain(|b| !b.is_marker());
    }
    Ok(acc)
}

/// Replaces the rows of `base` inside each span by that span's fresh rows.
fn replace_spans(
    base: Vec<Bucket>,
    fresh: &[((Timestamp, Timestamp), Vec<Bucket>)],
) -> Vec<Bucket> {
    if fresh.is_empty() {
        return base;
    }
    let mut out = Vec::with_capacity(base.len());
    let mut i = 0;
    for b in base {
        while i < fresh.len() && fresh[i].0 .1 <= b.start {
            i += 1;
        }
        if i < fresh.len() && fresh[i].0 .0 <= b.start {
            continue; // inside a recomputed span
        }
        out.push(b);
    }
    for (_, rows) in fresh {
        out.extend_from_slice(rows);
    }
    out.sort_by_key(|b| b.start);
    out
}

/// Recomputes a point's buckets at every tier it keeps up to `upto`, over the buckets that
/// the minute spans `dirty` touch: from `raw` for the finest tier, from the finer tier
/// (stored buckets of `version` overlaid with those just recomputed) for coarser ones.
/// Returns, per tier, the recomputed spans with their non-empty buckets.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn refresh<'r>(
    version: &Version,
    tiers: TierSet,
    tz: i32,
    point: PointId,
    rules: &Rules<'_>,
    dirty: &[(Timestamp, Timestamp)],
    upto: Tier,
    raw: &mut dyn FnMut(Timestamp, Timestamp) -> Result<Cow<'r, Columns>>,
) -> Result<Vec<(Tier, Vec<((Timestamp, Timestamp), Vec<Bucket>)>)>> {
    let mut out: Vec<(Tier, Vec<((Timestamp, Timestamp), Vec<Bucket>)>)> = Vec::new();
    // Each tier's spans are the finer tier's widened: few calendar computations per point.
    let mut spans = coalesce(dirty.to_vec(), COALESCE_MS);
    for tier in tiers.iter().filter(|t| *t <= upto) {
        spans = align(&spans, tier, tz);
        let mut fresh = Vec::with_capacity(spans.len());
        for &(a, b) in &spans {
            let rows = match out.last() {
                None => buckets_of_samples(tier, tz, &*raw(a, b)?, rules),
                Some((finer, finer_fresh)) => {
                    // The finer tier's rows in [a, b): stored rows outside the spans just
                    // recomputed, merged with those spans' rows (both sorted, the spans
                    // disjoint), without copying the spans.
                    let stored = stored_rows(version, *finer, point, a, b, false)?;
                    // The rows of sorted `rows` inside [a, b).
                    let inside = |rows: &'_ [Bucket]| {
                        let i = rows.partition_point(|r| r.start < a);
                        let j = rows.partition_point(|r| r.start < b).max(i);
                        (i, j)
                    };
                    let mut runs: Vec<&[Bucket]> = Vec::new();
                    let mut si = 0;
                    for ((fa, fb), rows) in finer_fresh.iter().filter(|(s, _)| s.0 < b && s.1 > a) {
                        let sj = si + stored[si..].partition_point(|r| r.start < *fa);
                        let (i, j) = inside(&stored[si..sj]);
                        runs.push(&stored[si..sj][i..j]);
                        // Stored rows in the span are replaced by the span's fresh rows.
                        si = sj + stored[sj..].partition_point(|r| r.start < *fb);
                        let (i, j) = inside(rows);
                        runs.push(&rows[i..j]);
                    }
                    let (i, j) = inside(&stored[si..]);
                    runs.push(&stored[si..][i..j]);
                    buckets_of_bucket_runs(tier, tz, &runs, rules)
                }
            };
            fresh.push(((a, b), rows));
        }
        out.push((tier, fresh));
    }
    Ok(out)
}

/// The samples of a point's copy of the active memtable in `[f, t)`, with its tombstones.
fn active_range(
    active: &(Columns, Vec<Tombstone>),
    f: Timestamp,
    t: Timestamp,
) -> (Columns, Vec<Tombstone>) {
    let r = active.0.range_of(f, t);
    let mut c = Columns::with_capacity(r.len());
    c.extend_from(&active.0, r);
    (c, active.1.clone())
}

/// Most buckets [`Db::rollup_sum`] accumulates densely (about ten years of hours); a longer
/// range is summed sparsely.
const MAX_SUM_SLOTS: usize = 100_000;

impl Inner {
    /// The tiers a point keeps.
    pub(super) fn tiers_of(&self, meta: &PointMeta) -> TierSet {
        meta.tiers.unwrap_or(self.opts.tiers)
    }

    /// The tiers of a point that are stored in rollup files (see [`stored_tiers_of`]).
    pub(super) fn stored_tiers(&self, meta: &PointMeta) -> TierSet {
        stored_tiers_of(meta, self.opts.tiers)
    }

    /// The rollup work of a flush of `frozen`, given the version before the flush and the
    /// catalog as of the freeze; [`FlushRollups::compute`] may run on any thread.
    pub(super) fn flush_rollups(
        &self,
        frozen: Arc<Memtable>,
        version: Arc<Version>,
        catalog: Arc<crate::catalog::Catalog>,
    ) -> FlushRollups {
        FlushRollups {
            frozen,
            version,
            catalog,
            tz: self.tz,
            tiers: self.opts.tiers,
            codec: self.opts.codec.clone(),
        }
    }
}

/// The rollup files of a flush, one per tier partition, written as their blocks arrive (in
/// point order within each file, the order [`FlushRollups::compute`] gives them), numbered
/// when their first block arrives: the order of the file operations follows the order of
/// the blocks, whichever thread computed them. Only the files' indexes stay in memory.
///
/// It also finds the files of the version before that the new ones supersede: files of the
/// same partition each of whose blocks a new block covers with a bucket (or a marker) at
/// every start from its first to its last, so that no query can read anything of them any
/// more (the usual case for the day, month and year tiers when flushes are frequent: each
/// rewrites the current day, month and year of every point). The caller drops those from
/// the manifest in the same replacement that installs the new files.
pub(super) struct RollupFiles<'a> {
    inner: &'a Inner,
    version: &'a Version,
    /// In the order they were begun.
    files: Vec<RollupFile>,
    by_part: BTreeMap<(usize, Timestamp), usize>,
}

struct RollupFile {
    id: SegmentId,
    writer: SegmentWriter,
    /// Files of the partition before the flush, with how many of their blocks new blocks
    /// cover.
    older: Vec<(Arc<Segment>, usize)>,
}

impl<'a> RollupFiles<'a> {
    pub(super) fn new(inner: &'a Inner, version: &'a Version) -> Self {
        RollupFiles {
            inner,
            version,
            files: Vec::new(),
            by_part: BTreeMap::new(),
        }
    }

    /// Writes a block of tier `ti + 1`'s partition `(ps, pe)`.
    pub(super) fn add(
        &mut self,
        ti: usize,
        (ps, pe): (Timestamp, Timestamp),
        b: NewBlock,
    ) -> Result<()> {
        let k = match self.by_part.get(&(ti, ps)) {
            Some(&k) => k,
            None => {
                let file_no = self.inner.alloc_file_no();
                let id = SegmentId {
                    kind: ti as u8 + 1,
                    file_no,
                    generation: file_no,
                    part_start: ps,
                    part_end: pe,
                };
                let older = Tier::from_kind(ti as u8 + 1)
                    .map_or(&[][..], |t| self.version.tier(t))
                    .iter()
                    .filter(|f| f.id.part_start == ps && !f.has_tombstones())
                    .map(|f| (f.clone(), 0))
                    .collect();
                let writer = SegmentWriter::create(&*self.inner.storage, &self.inner.dir, &id)?;
                self.files.push(RollupFile { id, writer, older });
                self.by_part.insert((ti, ps), self.files.len() - 1);
                self.files.len() - 1
            }
        };
        let f = &mut self.files[k];
        let st = &b.block.stats;
        for (old, covered) in &mut f.older {
            if let Some(m) = old.block(b.block.point) {
                if b.consecutive && st.min_ts <= m.stats.min_ts && m.stats.max_ts <= st.max_ts {
                    *covered += 1;
                }
            }
        }
        f.writer.add(&b.block)
    }

    /// Finishes and opens the files; returns them and the file numbers they supersede.
    pub(super) fn finish(self) -> Result<(Vec<Arc<Segment>>, Vec<u64>)> {
        let mut out = Vec::with_capacity(self.files.len());
        let mut superseded = Vec::new();
        for f in self.files {
            f.writer.finish(&[])?;
            out.push(Arc::new(Segment::open(
                &*self.inner.storage,
                &self.inner.dir.join(segment::file_name(&f.id)),
            )?));
            superseded.extend(
                f.older
                    .iter()
                    .filter(|(old, covered)| *covered == old.block_count())
                    .map(|(old, _)| old.id.file_no),
            );
        }
        Ok((out, superseded))
    }
}

/// Readings a bucket of a tier must summarise, at the point's collection interval, for the
/// tier to be stored. A stored bucket is a row of 16 columns: at 15-minute readings an hour
/// row (4 readings) made the hour files 2.6 times the size of the raw segments they
/// summarise, and 6.2 of the 16.4 bytes per reading of a province-day (200,000 points,
/// `benches/examples/province_day.rs`). At 24 readings a row costs well under half of what
/// the readings themselves cost, and computing the bucket from the raw samples when read
/// (decoded at hundreds of millions of samples a second) is what the row would save.
pub(crate) const MIN_READINGS_PER_STORED_BUCKET: i64 = 24;

/// The tiers of a point that are stored in rollup files: every tier it keeps (its own, or
/// `default`) whose buckets summarise at least [`MIN_READINGS_PER_STORED_BUCKET`] readings
/// at the point's collection interval; when the interval is not known, the day, month and
/// year (meters are read every 1 to 60 minutes, so an hour summarises a handful of readings
/// and a day at least 24). The others are computed from the raw samples when read: the minute
/// always (a minute bucket would repeat a sample), the hour for readings every 5 minutes or
/// less often or at an unknown interval, the day for daily readings. The year is never
/// stored beside the month: a year bucket would summarise only 12 month rows, so it is merged
/// from them when read (the same merge a flush would have stored). The finest stored tier is
/// computed from the raw samples at a flush, each coarser one from the next finer stored
/// tier.
fn stored_tiers_of(meta: &PointMeta, default: TierSet) -> TierSet {
    let kept = meta.tiers.unwrap_or(default);
    let mut out = TierSet::NONE;
    for t in kept.iter().filter(|&t| t != Tier::Minute) {
        // A year is 12 month rows: merged from the stored months when read.
        let derived = t == Tier::Year && out.contains(Tier::Month);
        if tier_pays(t, meta.interval_ms) && !derived {
            out = out.with(t);
        }
    }
    out
}

/// Whether buckets of `tier` summarise enough readings at `interval_ms` to be stored.
fn tier_pays(tier: Tier, interval_ms: Option<i64>) -> bool {
    const DAY: i64 = 86_400_000;
    let iv = interval_or_zero(interval_ms);
    if iv <= 0 {
        // Not declared: a meter is read every 1 to 60 minutes, so an hour bucket summarises
        // 1 to 60 readings, mostly a handful; a day at least 24.
        return tier != Tier::Hour;
    }
    let len = match tier {
        Tier::Month => 28 * DAY,
        Tier::Year => 365 * DAY,
        t => t.fixed_len().unwrap_or(DAY),
    };
    len / iv >= MIN_READINGS_PER_STORED_BUCKET
}

/// The interval, or 0 when unknown, computed out of line: the payload of a `None` is
/// uninitialized memory, and an inlined test could be scheduled on it before the test of
/// the discriminant (a conditional jump on undefined bits, which valgrind reports).
#[inline(never)]
fn interval_or_zero(interval_ms: Option<i64>) -> i64 {
    interval_ms.unwrap_or(0)
}

/// A flush's new rollup block of one point, tier and partition.
pub(super) struct NewBlock {
    block: EncodedBlock,
    /// Whether its rows are consecutive buckets: one (or a marker) at every start from the
    /// first to the last.
    consecutive: bool,
}

/// Points a flush's rollups compute between two hand-backs of the mapped pages they read.
const RELEASE_EVERY: usize = 4096;

/// The rollup work of a flush, owning what it reads so that it can run on a thread of its
/// own beside the writing of the raw segments.
#[derive(Clone)]
pub(super) struct FlushRollups {
    frozen: Arc<Memtable>,
    /// The version before the flush: the raw data as it will be is its segments' with
    /// `frozen` laid over them, whether or not the flush's raw segments are written yet.
    pub(super) version: Arc<Version>,
    catalog: Arc<crate::catalog::Catalog>,
    tz: i32,
    /// The tiers of points whose metadata names none.
    tiers: TierSet,
    codec: crate::codec::CodecOptions,
}

impl FlushRollups {
    /// Computes the new rollup blocks of every tier of every point the flush touches and
    /// hands each to `emit` with its tier (index `tier - 1`) and partition, point by point
    /// in increasing order; stops at the first error, `emit`'s included.
    pub(super) fn compute(
        &self,
        emit: &mut dyn FnMut(usize, (Timestamp, Timestamp), NewBlock) -> Result<()>,
    ) -> Result<()> {
        let (frozen, version, catalog, tz) = (&self.frozen, &self.version, &self.catalog, self.tz);
        let snap = Snapshot {
            version: version.clone(),
            frozen: vec![frozen.clone()],
        };
        for (n, (point, (cols, sorted), tombstones)) in frozen.iter_points().enumerate() {
            if n % RELEASE_EVERY == RELEASE_EVERY - 1 {
                // The files' pages read for the points so far go back (each point's data is
                // read once), so that a flush of many points does not map every page.
                for s in version.all() {
                    s.release_pages();
                }
            }
            let Some(meta) = catalog.get(point) else {
                continue;
            };
            let tiers = stored_tiers_of(meta, self.tiers);
            if tiers == TierSet::NONE {
                continue;
            }
            let mut dirty = Vec::new();
            frozen.touched(point, &mut dirty);
            let dirty = merge_spans(dirty);
            // This point's new rows: each recomputed span's, and by tier and partition the
            // pieces of them (span, rows i..j) that the partition holds, in time order.
            let mut owned: Vec<Vec<Bucket>> = Vec::new();
            type Pieces = Vec<(usize, usize, usize)>;
            let mut mine: [BTreeMap<(Timestamp, Timestamp), Pieces>; 5] = Default::default();
            // The raw samples of a span: when no segment holds any of the point's data
            // there, they are exactly the frozen samples (sorted, unique, nothing deleted),
            // taken as they are; otherwise the segments' with the frozen ones laid over them.
            let mut raw = |a: Timestamp, b: Timestamp| {
                let older = version.overlapping(a, b).any(|s| {
                    s.block(point)
                        .is_some_and(|m| m.stats.min_ts < b && m.stats.max_ts >= a)
                        || s.tombstones(point).next().is_some()
                });
                if sorted && tombstones.is_empty() && !older {
                    let r = cols.range_of(a, b);
                    if r.len() == cols.len() {
                        return Ok(Cow::Borrowed(cols));
                    }
                    let mut c = Columns::with_capacity(r.len());
                    c.extend_from(cols, r);
                    return Ok(Cow::Owned(c));
                }
                snap.read(point, a, b, None).map(Cow::Owned)
            };
            let fresh = refresh(
                version,
                tiers,
                tz,
                point,
                &Rules::of(meta),
                &dirty,
                Tier::Year,
                &mut raw,
            )?;
            for (tier, spans) in fresh {
                for ((a, b), rows) in spans {
                    // Stored buckets in the span that are gone get a deletion marker. (Only a
                    // delete can empty a bucket: a write adds or replaces samples.)
                    let stored = if tombstones.is_empty() {
                        Vec::new()
                    } else {
                        stored_rows(version, tier, point, a, b, false)?
                    };
                    let mut all = rows;
                    if !stored.is_empty() {
                        let mut gone = Vec::new();
                        let mut i = 0;
                        for s in &stored {
                            while i < all.len() && all[i].start < s.start {
                                i += 1;
                            }
                            if all.get(i).is_none_or(|r| r.start != s.start) {
                                gone.push(Bucket::deleted(s.start));
                            }
                        }
                        all.extend(gone);
                        all.sort_by_key(|r| r.start);
                    }
                    // Hand the rows to their partitions: runs of one partition each, left in
                    // place (a flush's hours usually straddle two months).
                    let tier_parts = &mut mine[tier as usize - 1];
                    let k = owned.len();
                    let mut i = 0;
                    while i < all.len() {
                        let p = tier.partition_of(all[i].start, tz);
                        let j = i + all[i..].partition_point(|r| r.start < p.1);
                        tier_parts.entry(p).or_default().push((k, i, j));
                        i = j;
                    }
                    owned.push(all);
                }
            }
            // The point's rows encoded at once, while they are in cache: a flush holds
            // encoded blocks, not every point's buckets.
            let mut joined = Vec::new();
            for (ti, tier_parts) in mine.iter().enumerate() {
                let Some(tier) = Tier::from_kind(ti as u8 + 1) else {
                    continue;
                };
                for (&p, pieces) in tier_parts {
                    let rows: &[Bucket] = match pieces[..] {
                        [(k, i, j)] => &owned[k][i..j],
                        _ => {
                            joined.clear();
                            for &(k, i, j) in pieces {
                                joined.extend_from_slice(&owned[k][i..j]);
                            }
                            &joined
                        }
                    };
                    if rows.is_empty() {
                        continue;
                    }
                    let block = rollup::encode_block(point, rows, &self.codec);
                    let consecutive = rows
                        .windows(2)
                        .all(|w| w[1].start == tier.bucket_end(w[0].start, tz));
                    emit(ti, p, NewBlock { block, consecutive })?;
                }
            }
        }
        Ok(())
    }
}

/// One bucket of several points summed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SumRow {
    /// Start of the bucket.
    pub start: Timestamp,
    /// End of the bucket (exclusive).
    pub end: Timestamp,
    /// Samples of all points in the bucket.
    pub count: u64,
    /// Sum of all their values.
    pub sum: f64,
    /// Sum of the counters' consumption (multiplied by each point's multiplier, and
    /// converted when a conversion is given: [`Db::rollup_sum_converted`]); `None` when no
    /// point had any.
    pub consumption: Option<f64>,
    /// Points that contributed a bucket.
    pub points: u32,
    /// Invalid samples of all points in the bucket (not in `count`).
    pub invalid: u64,
    /// Valid samples entered by hand, of all points.
    pub manual: u64,
    /// Valid estimated samples, of all points.
    pub estimated: u64,
    /// Backward steps of the counters' registers inside their buckets.
    pub backward: u64,
}

impl SumRow {
    /// An empty row for the bucket `[start, end)`.
    fn empty(start: Timestamp, end: Timestamp) -> SumRow {
        SumRow {
            start,
            end,
            count: 0,
            sum: 0.0,
            consumption: None,
            points: 0,
            invalid: 0,
            manual: 0,
            estimated: 0,
            backward: 0,
        }
    }

    /// Adds one point's bucket.
    #[inline]
    fn add(&mut self, count: u64, sum: f64, cons: Option<f64>) {
        self.count += count;
        self.sum += sum;
        self.points += 1;
        if let Some(c) = cons {
            self.consumption = Some(self.consumption.unwrap_or(0.0) + c);
        }
    }

    /// Adds the quality counts of one point's bucket.
    #[inline]
    fn add_quality(&mut self, b: &Bucket) {
        self.invalid += b.invalid;
        self.manual += b.manual;
        self.estimated += b.estimated;
        self.backward += b.backward;
    }
}

/// What a sum needs of a point's metadata.
struct SumMeta {
    kind: crate::PointKind,
    multiplier: f64,
    /// Whether the tier summed is stored for the point (else computed when read).
    stored: bool,
    /// Its register rules (rollover, register, replacements; no key, tags or coefficients).
    rules: PointMeta,
}

/// The conversion of a sum ([`Db::rollup_sum_converted`]): the point's index in the
/// points summed, the bucket's start, its consumption (multiplier applied).
type Convert<'a> = Option<&'a dyn Fn(usize, Timestamp, f64) -> Option<f64>>;

/// A consumption of point `i` at `start` (multiplier applied) through `convert`.
#[inline]
fn converted(convert: Convert<'_>, i: usize, start: Timestamp, c: Option<f64>) -> Option<f64> {
    match convert {
        None => c,
        Some(f) => c.and_then(|c| f(i, start, c)),
    }
}

impl SumMeta {
    /// A bucket's consumption (before the multiplier) as [`Db::rollup`] gives it (times the
    /// multiplier), then converted.
    fn convert(&self, i: usize, start: Timestamp, c: Option<f64>, f: Convert<'_>) -> Option<f64> {
        converted(f, i, start, c.map(|c| c * self.multiplier))
    }
}

/// One point's part of a sum over stored buckets: the tier, the range `(a, e, to)` (whole
/// buckets from `a` to `e`, rows starting before `to`), the conversion with the point's
/// index, and the metadata.
#[derive(Clone, Copy)]
struct StoredSum<'a> {
    tier: Tier,
    tz: i32,
    range: (Timestamp, Timestamp, Timestamp),
    convert: Convert<'a>,
    index: usize,
    meta: &'a SumMeta,
}

/// The accumulators of a sum: one row per bucket of the range, and the sample counts of
/// consecutive runs summed as floats (whole and far below 2^53) and added at the end, so
/// that no float-to-integer conversion is made per bucket.
struct Slots {
    rows: Vec<SumRow>,
    counts: Vec<f64>,
}

impl Slots {
    /// A row per bucket of `tier` from `a` to `to`, `None` when there are more than
    /// [`MAX_SUM_SLOTS`] (the range is then summed sparsely).
    fn new(tier: Tier, tz: i32, a: Timestamp, to: Timestamp) -> Option<Slots> {
        let mut rows = Vec::new();
        let mut s = a;
        while s < to {
            if rows.len() >= MAX_SUM_SLOTS {
                return None;
            }
            let end = tier.bucket_end(s, tz);
            rows.push(SumRow::empty(s, end));
            s = end;
        }
        let counts = vec![0.0; rows.len()];
        Some(Slots { rows, counts })
    }

    /// Adds one point's bucket at `start` (its rows come in time order: `at` moves forward
    /// to its slot).
    fn add(
        &mut self,
        at: &mut usize,
        start: Timestamp,
        count: u64,
        sum: f64,
        cons: Option<f64>,
        quality: Option<&Bucket>,
    ) {
        while *at < self.rows.len() && self.rows[*at].start < start {
            *at += 1;
        }
        if let Some(e) = self.rows.get_mut(*at).filter(|e| e.start == start) {
            e.add(count, sum, cons);
            if let Some(b) = quality {
                e.add_quality(b);
            }
        }
    }

    /// The rows that some point contributed to.
    fn finish(mut self) -> Vec<SumRow> {
        for (e, &n) in self.rows.iter_mut().zip(&self.counts) {
            e.count += n as u64;
        }
        self.rows.retain(|r| r.points > 0);
        self.rows
    }
}

/// A query's rows: the point's buckets in `[a, e)` (whole buckets) with their consumption
/// and completeness, those starting before `to`.
fn rows_of(
    tier: Tier,
    tz: i32,
    (a, e, to): (Timestamp, Timestamp, Timestamp),
    inside: &[Bucket],
    nb: Neighbours,
    meta: &PointMeta,
) -> Vec<BucketRow> {
    let mut out = consumption_rows(
        tier,
        tz,
        a,
        e,
        inside,
        nb,
        meta.kind == crate::PointKind::Counter,
        Rules::of(meta),
        meta.multiplier,
        meta.interval_ms,
    );
    out.retain(|r| r.bucket.start < to);
    out
}

impl Db {
    /// The database's time zone, in minutes east of UTC.
    pub fn tz_offset_min(&self) -> i32 {
        self.inner.tz
    }

    /// A point's buckets at `tier` whose start lies in `[from, to)` (`from` is moved back to
    /// the start of its bucket), in time order. Always equal to a recomputation from the raw
    /// samples, including data not yet flushed.
    pub fn rollup(
        &self,
        point: PointId,
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<BucketRow>> {
        self.check_point(point)?;
        let meta = self
            .point(point)
            .ok_or_else(|| Error::NotFound(format!("point {point}")))?;
        let inner = &self.inner;
        let tiers = inner.tiers_of(&meta);
        if !tiers.contains(tier) {
            return Err(Error::invalid(format!(
                "point {} does not keep the {} tier",
                meta.key,
                tier.as_str()
            )));
        }
        let tiers = inner.stored_tiers(&meta);
        let tz = inner.tz;
        let from = from.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
        let to = to.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP + 1);
        if from >= to {
            return Ok(Vec::new());
        }
        // The tier whose stored rows are read: the tier itself, or the month for a year
        // merged from its months.
        let src = if tiers.contains(tier) {
            tier
        } else if tier == Tier::Year && tiers.contains(Tier::Month) {
            Tier::Month
        } else {
            return self.rollup_from_raw(point, &meta, tier, from, to);
        };
        let a = tier.bucket_start(from, tz);
        let e = tier.bucket_end(tier.bucket_start(to - 1, tz), tz);
        // One bucket more on each side, for the counters' neighbouring samples.
        let (xa, xe) = (
            tier.shift(a, -1, tz).max(MIN_TIMESTAMP),
            tier.bucket_end(e, tz).min(MAX_TIMESTAMP),
        );

        // The snapshot, the spans that memory changed and the active memtable's samples over
        // them, all under one lock: a flush that freezes the active memtable in between
        // would otherwise take its samples out of both the snapshot and the copy.
        let (snap, dirty, no_memtable_data, active) = {
            let st = inner.state.read();
            let mut dirty = Vec::new();
            st.mem.touched(point, &mut dirty);
            for f in &st.frozen {
                f.0.touched(point, &mut dirty);
            }
            let snap = Snapshot {
                version: st.version.clone(),
                frozen: st.frozen.iter().map(|f| f.0.clone()).collect(),
            };
            // With no unflushed data of the point, the counters' neighbouring samples come
            // from raw block statistics, and only the range itself is read.
            let no_memtable_data = dirty.is_empty();
            // Only the dirty minutes inside the range (widened by a bucket each side) matter.
            dirty.retain(|&(s, t)| s < xe && t > xa);
            for d in &mut dirty {
                *d = (d.0.max(xa), d.1.min(xe));
            }
            let dirty = merge_spans(dirty);
            // (All of it: the counters' neighbouring samples may lie outside the spans.)
            let active = if no_memtable_data {
                Default::default()
            } else {
                st.mem.read(point, MIN_TIMESTAMP, MAX_TIMESTAMP + 1)
            };
            (snap, dirty, no_memtable_data, active)
        };
        let (ra, re) = if no_memtable_data { (a, e) } else { (xa, xe) };
        let mut rows = stored_rows(&snap.version, src, point, ra, re, false)?;
        if !dirty.is_empty() {
            let mut raw = |f: Timestamp, t: Timestamp| {
                snap.read(point, f, t, Some(&active_range(&active, f, t)))
                    .map(Cow::Owned)
            };
            let fresh = refresh(
                &snap.version,
                tiers,
                tz,
                point,
                &Rules::of(&meta),
                &dirty,
                tier,
                &mut raw,
            )?;
            if let Some((_, spans)) = fresh.into_iter().find(|(t, _)| *t == src) {
                rows = replace_spans(rows, &spans);
            }
            rows.retain(|r| !r.is_marker() && r.start >= xa && r.start < xe);
        }
        if src != tier {
            rows = buckets_of_bucket_runs(tier, tz, &[&rows], &Rules::of(&meta));
        }
        let inside: Vec<Bucket> = rows
            .iter()
            .copied()
            .filter(|r| r.start >= a && r.start < e)
            .collect();
        let counter = meta.kind == crate::PointKind::Counter;
        let mut nb = Neighbours::default();
        if counter {
            let near = |before: bool, t: Timestamp| {
                if no_memtable_data {
                    self.neighbour_flushed(&snap, point, t, before)
                } else {
                    self.raw_neighbour(&snap, &active, point, t, before)
                }
            };
            // (Buckets of invalid samples only hold no reading to interpolate from.)
            nb.before = match rows.iter().rev().find(|r| r.start < a && r.count > 0) {
                Some(r) => Some((r.last_ts, r.last)),
                None => near(true, a)?,
            };
            nb.after = match rows.iter().find(|r| r.start >= e && r.count > 0) {
                Some(r) => Some((r.first_ts, r.first)),
                None => near(false, e)?,
            };
        }
        Ok(rows_of(tier, tz, (a, e, to), &inside, nb, &meta))
    }

    /// A tier that is not stored (the minute), computed from the raw samples of the range
    /// and the samples on either side of it.
    fn rollup_from_raw(
        &self,
        point: PointId,
        meta: &PointMeta,
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<BucketRow>> {
        let tz = self.inner.tz;
        let a = tier.bucket_start(from, tz);
        let e = tier.bucket_end(tier.bucket_start(to - 1, tz), tz);
        // The snapshot and all of the point's active memtable (the counters' neighbouring
        // samples may lie outside the range) under one lock.
        let (snap, active) = {
            let st = self.inner.state.read();
            let snap = Snapshot {
                version: st.version.clone(),
                frozen: st.frozen.iter().map(|f| f.0.clone()).collect(),
            };
            (snap, st.mem.read(point, MIN_TIMESTAMP, MAX_TIMESTAMP + 1))
        };
        let cols = snap.read(point, a, e, Some(&active_range(&active, a, e)))?;
        let inside = buckets_of_samples(tier, tz, &cols, &Rules::of(meta));
        let counter = meta.kind == crate::PointKind::Counter;
        let mut nb = Neighbours::default();
        if counter {
            nb.before = self.raw_neighbour(&snap, &active, point, a, true)?;
            nb.after = self.raw_neighbour(&snap, &active, point, e, false)?;
        }
        Ok(rows_of(tier, tz, (a, e, to), &inside, nb, meta))
    }

    /// The last valid raw sample before `t` (`before`) or the first at or after `t`, the
    /// active memtable included (`active`: the point's samples and tombstones in it, taken
    /// under the lock that took `snap`; see [`Db::nearest`]).
    fn raw_neighbour(
        &self,
        snap: &Snapshot,
        active: &(Columns, Vec<Tombstone>),
        point: PointId,
        t: Timestamp,
        before: bool,
    ) -> Result<Option<(Timestamp, f64)>> {
        let side = if before {
            active_range(active, MIN_TIMESTAMP, t)
        } else {
            active_range(active, t, MAX_TIMESTAMP + 1)
        };
        let look = Look {
            before,
            valid_only: true,
        };
        Ok(self
            .nearest(snap, &side, point, t, look)?
            .map(|x| (x.ts, x.value)))
    }

    /// The last valid flushed sample before `t` (`before`) or the first at or after `t`,
    /// for a point with nothing in memory (see [`Db::nearest`]).
    fn neighbour_flushed(
        &self,
        snap: &Snapshot,
        point: PointId,
        t: Timestamp,
        before: bool,
    ) -> Result<Option<(Timestamp, f64)>> {
        let look = Look {
            before,
            valid_only: true,
        };
        let none = (Columns::default(), Vec::new());
        Ok(self
            .nearest(snap, &none, point, t, look)?
            .map(|x| (x.ts, x.value)))
    }

    /// The buckets of several points at `tier`, each point's as [`Db::rollup`] gives them.
    pub fn rollup_many(
        &self,
        points: &[PointId],
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(PointId, Vec<BucketRow>)>> {
        points
            .iter()
            .map(|&p| Ok((p, self.rollup(p, tier, from, to)?)))
            .collect()
    }

    /// The buckets of several points summed into one series (consumption summed over the
    /// counters; count and sum over all).
    pub fn rollup_sum(
        &self,
        points: &[PointId],
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<SumRow>> {
        self.sum_with(points, tier, from, to, None)
    }

    /// [`Db::rollup_sum`] with each point's consumption converted before it is summed:
    /// `convert(i, start, c)` is given the index in `points` of the point, the bucket's start
    /// and the point's consumption in that bucket (multiplied by its multiplier, as
    /// [`Db::rollup`] gives it), and returns what to add to the bucket's consumption, or
    /// `None` to add nothing. Counts, sums and quality counts are those of
    /// [`Db::rollup_sum`]. A layer above converts with it to its own units (the energy
    /// layer's standard coal, [`Db::coal_sum`]) at the speed of the plain sum.
    pub fn rollup_sum_converted(
        &self,
        points: &[PointId],
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
        convert: &dyn Fn(usize, Timestamp, f64) -> Option<f64>,
    ) -> Result<Vec<SumRow>> {
        self.sum_with(points, tier, from, to, Some(convert))
    }

    fn sum_with(
        &self,
        points: &[PointId],
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
        convert: Convert<'_>,
    ) -> Result<Vec<SumRow>> {
        let tz = self.inner.tz;
        self.inner.check_not_closed()?;
        let metas = self.sum_metas(points, tier)?;
        let from = from.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
        let to = to.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP + 1);
        if from >= to {
            return Ok(Vec::new());
        }
        let a = tier.bucket_start(from, tz);
        let e = tier.bucket_end(tier.bucket_start(to - 1, tz), tz);
        let Some(mut slots) = Slots::new(tier, tz, a, to) else {
            return self.sum_sparse(points, tier, from, to, convert);
        };
        // One snapshot for the points without unflushed data: their stored buckets are
        // exactly the answer, read column by column without building rows.
        let (snap, in_memory) = {
            let st = self.inner.state.read();
            let in_memory: Vec<bool> = points
                .iter()
                .map(|&p| st.mem.has(p) || st.frozen.iter().any(|f| f.0.has(p)))
                .collect();
            let snap = Snapshot {
                version: st.version.clone(),
                frozen: Vec::new(),
            };
            (snap, in_memory)
        };
        let mut rows = rollup::SumRows::default();
        let mut cons_buf: Vec<f64> = Vec::new();
        for (i, &p) in points.iter().enumerate() {
            let meta = &metas[i];
            // (Buckets of invalid samples only take the general path: they join the empty
            // buckets of an outage as `rollup` returns them.)
            let fast = !in_memory[i]
                && meta.stored
                && self.sum_rows_of(&snap.version, p, tier, a, e, &mut rows)?
                && rows.invalid_only().is_empty();
            if fast {
                let range = (a, e, to);
                let sum = StoredSum {
                    tier,
                    tz,
                    range,
                    convert,
                    index: i,
                    meta,
                };
                self.sum_stored(&snap, p, &sum, &rows, &mut slots, &mut cons_buf)?;
                continue;
            }
            let mut at = 0usize;
            for r in self.rollup(p, tier, from, to)? {
                let b = &r.bucket;
                let cons = converted(convert, i, b.start, r.consumption);
                slots.add(&mut at, b.start, b.count, b.sum, cons, Some(b));
            }
        }
        Ok(slots.finish())
    }

    /// What [`Db::sum_with`] needs of each point's metadata, taken under one lock without
    /// cloning keys and tags; `InvalidArgument` for a point that does not keep `tier`.
    fn sum_metas(&self, points: &[PointId], tier: Tier) -> Result<Vec<SumMeta>> {
        let catalog = self.inner.catalog.read();
        points
            .iter()
            .map(|&p| {
                let meta = catalog.get(p).ok_or_else(|| undefined(p))?;
                if !self.inner.tiers_of(meta).contains(tier) {
                    return Err(Error::invalid(format!(
                        "point {} does not keep the {} tier",
                        meta.key,
                        tier.as_str()
                    )));
                }
                let mut rules = PointMeta::new(String::new(), meta.kind);
                rules.rollover = meta.rollover;
                rules.register = meta.register;
                rules.replacements = meta.replacements.clone();
                Ok(SumMeta {
                    kind: meta.kind,
                    multiplier: meta.multiplier,
                    stored: self.inner.stored_tiers(meta).contains(tier),
                    rules,
                })
            })
            .collect()
    }

    /// Adds one point's stored buckets (`rows`, decoded column by column) to the slots,
    /// with the consumption [`Db::rollup`] would compute, converted, without building rows.
    fn sum_stored(
        &self,
        snap: &Snapshot,
        p: PointId,
        sum: &StoredSum<'_>,
        rows: &rollup::SumRows,
        slots: &mut Slots,
        cons_buf: &mut Vec<f64>,
    ) -> Result<()> {
        let StoredSum {
            tier,
            tz,
            convert: f,
            index,
            meta,
            ..
        } = *sum;
        let (a, e, to) = sum.range;
        let mut at = 0usize;
        // The quality counts of bucket k, as a bucket.
        let qc = rows.quality_counts();
        let quality_of = |k: usize| {
            let mut b = Bucket::deleted(0);
            b.invalid = qc[0][k] as u64;
            b.manual = qc[1][k] as u64;
            b.estimated = qc[2][k] as u64;
            b.backward = qc[3][k] as u64;
            b
        };
        let any_quality = qc.iter().any(|c| c.iter().any(|&x| x != 0.0));
        let counter = meta.kind == crate::PointKind::Counter;
        let mut nb = Neighbours::default();
        if counter {
            nb.before = self.neighbour_flushed(snap, p, a, true)?;
            nb.after = self.neighbour_flushed(snap, p, e, false)?;
        }
        let walk = rollup::Walk {
            tier,
            tz,
            from: a,
            to: e,
            nb,
            counter,
            rules: Rules::of(&meta.rules),
        };
        let convert = |start: Timestamp, c: Option<f64>| meta.convert(index, start, c, f);
        // Consecutive buckets (the usual case): their slots are consecutive too, found
        // once; the empty buckets of outages on either side go through `add`.
        let st = rows.starts();
        let n = st.len();
        let j0 = slots
            .rows
            .partition_point(|r| r.start < st.first().copied().unwrap_or(0));
        let m = n.min(slots.rows.len() - j0);
        let aligned =
            m > 0 && slots.rows[j0].start == st[0] && slots.rows[j0 + m - 1].start == st[m - 1];
        if aligned {
            let mut gaps = Vec::new();
            if walk.each_consecutive(rows, cons_buf, |s, c| gaps.push((s, c))) {
                for (start, c) in gaps.iter().filter(|g| g.0 < st[0]) {
                    slots.add(&mut at, *start, 0, 0.0, convert(*start, Some(*c)), None);
                }
                let (cs, ss) = (rows.counts(), rows.sums());
                let Slots { rows: sr, counts } = &mut *slots;
                let acc = sr[j0..j0 + m].iter_mut().zip(&mut counts[j0..j0 + m]);
                for (k, (e, n)) in acc.enumerate() {
                    let c = convert(e.start, Some(cons_buf[k]));
                    *n += cs[k];
                    e.add(0, ss[k], c);
                    if any_quality {
                        e.add_quality(&quality_of(k));
                    }
                }
                for (start, c) in gaps.iter().filter(|g| g.0 > st[0]) {
                    slots.add(&mut at, *start, 0, 0.0, convert(*start, Some(*c)), None);
                }
                return Ok(());
            }
        }
        walk.each(rows, |k, start, c| {
            if start >= to {
                return;
            }
            let cons = convert(start, c);
            match k {
                Some(k) => {
                    let q = quality_of(k);
                    slots.add(&mut at, start, rows.count(k), rows.sum(k), cons, Some(&q));
                }
                None => slots.add(&mut at, start, 0, 0.0, cons, None),
            }
        });
        Ok(())
    }

    /// The stored buckets of a point at a tier with `from <= start < to`, into `rows`, when
    /// each partition holds them in one file (no overlay needed); `false` otherwise.
    fn sum_rows_of(
        &self,
        version: &Version,
        point: PointId,
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
        rows: &mut rollup::SumRows,
    ) -> Result<bool> {
        rows.clear();
        let mut last_part = None;
        for seg in overlapping_in(version.tier(tier), from, to) {
            let Some(b) = seg.block(point) else {
                continue;
            };
            if last_part == Some(seg.id.part_start) {
                return Ok(false);
            }
            last_part = Some(seg.id.part_start);
            rows.append_block(seg, &b, from, to)?;
        }
        Ok(true)
    }

    /// [`Db::rollup_sum`] for a range with too many buckets to hold one accumulator each:
    /// the rows of every point merged into a sorted list.
    fn sum_sparse(
        &self,
        points: &[PointId],
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
        convert: Convert<'_>,
    ) -> Result<Vec<SumRow>> {
        let mut acc: Vec<SumRow> = Vec::new();
        for (pi, &p) in points.iter().enumerate() {
            let rows = self.rollup(p, tier, from, to)?;
            let add = |e: &mut SumRow, r: &BucketRow| {
                let cons = converted(convert, pi, r.bucket.start, r.consumption);
                e.add(r.bucket.count, r.bucket.sum, cons);
                e.add_quality(&r.bucket);
            };
            let new_row = |r: &BucketRow| SumRow::empty(r.bucket.start, r.end);
            let mut i = 0;
            let mut extra = Vec::new();
            for r in &rows {
                while i < acc.len() && acc[i].start < r.bucket.start {
                    i += 1;
                }
                if i < acc.len() && acc[i].start == r.bucket.start {
                    add(&mut acc[i], r);
                } else {
                    let mut e = new_row(r);
                    add(&mut e, r);
                    extra.push(e);
                }
            }
            if !extra.is_empty() {
                acc.extend(extra);
                acc.sort_by_key(|e| e.start);
            }
        }
        Ok(acc)
    }
}
