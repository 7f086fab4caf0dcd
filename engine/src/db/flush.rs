//! Flushing memtables to segment files, compacting partitions, and the background threads.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::rollup::RollupFiles;
use super::{catalog_file_name, Db, Durability, Inner};
use crate::catalog::PointId;
use crate::compaction::{merge_partition, merge_rollup_partition, rollup_merge_from};
use crate::error::{Error, Result};
use crate::memtable::{sort_last_wins, Memtable, Tombstone};
use crate::query::Version;
use crate::sample::{Columns, Timestamp};
use crate::segment::{self, encode_raw_block, EncodedBlock, Segment, SegmentId, SegmentWriter};

/// Work for the background thread.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Job {
    Flush,
}

/// Rollup blocks a flush's computing thread may have ready before the writing thread takes
/// them (a few hundred bytes each).
const ROLLUP_QUEUE: usize = 16 * 1024;

/// One partition's share of a flush: each point's samples (borrowed from the frozen
/// memtable when they are sorted and all in this partition, the usual case) and tombstones.
type PartitionData<'a> = BTreeMap<PointId, (Cow<'a, Columns>, Vec<Tombstone>)>;

impl Db {
    pub(super) fn start_threads(&self) {
        let inner = &self.inner;
        let mut threads = self.threads.lock();
        if inner.opts.background {
            let (tx, rx) = crossbeam_channel::bounded::<Job>(4);
            *inner.bg.lock() = Some(tx);
            let weak = Arc::downgrade(inner);
            threads.push(
                std::thread::Builder::new()
                    .name("meterdb-flush".into())
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            let Some(inner) = weak.upgrade() else { return };
                            match job {
                                Job::Flush => {
                                    // Errors poison the database; writers see them.
                                    let _ = inner
                                        .flush()
                                        .and_then(|_| {
                                            inner.compact_all(inner.opts.compaction_trigger)
                                        })
                                        .and_then(|_| inner.apply_retention());
                                }
                            }
                        }
                    })
                    .expect("spawning the flush thread"),
            );
        }
        if let Durability::Interval(every) = inner.opts.durability {
            let weak = Arc::downgrade(inner);
            threads.push(
                std::thread::Builder::new()
                    .name("meterdb-sync".into())
                    .spawn(move || loop {
                        std::thread::sleep(every.min(Duration::from_millis(50)));
                        let Some(inner) = weak.upgrade() else { return };
                        if inner.closed.load(Ordering::Acquire) {
                            return;
                        }
                        let mut wal = inner.wal.lock();
                        if inner.poison.lock().is_some() {
                            return;
                        }
                        let last = wal.last_seq();
                        if wal.synced_seq() < last {
                            let _ = inner.sync_to(&mut wal, last);
                        }
                        drop(wal);
                        drop(inner);
                        std::thread::sleep(every.saturating_sub(Duration::from_millis(50)));
                    })
                    .expect("spawning the sync thread"),
            );
        }
    }
}

impl Inner {
    fn io_err(&self, what: String) -> impl FnOnce(std::io::Error) -> Error {
        move |e| Error::io(what, e)
    }

    /// Writes a segment file durably, one block at a time as `blocks` yields them (in
    /// point order), with `tombs`, and opens it.
    pub(super) fn write_blocks(
        &self,
        id: &SegmentId,
        blocks: impl IntoIterator<Item = Result<EncodedBlock>>,
        tombs: &[(PointId, Tombstone)],
    ) -> Result<Arc<Segment>> {
        let mut w = SegmentWriter::create(&*self.storage, &self.dir, id)?;
        for b in blocks {
            w.add(&b?)?;
        }
        w.finish(tombs)?;
        Ok(Arc::new(Segment::open(
            &*self.storage,
            &self.dir.join(segment::file_name(id)),
        )?))
    }

    pub(super) fn alloc_file_no(&self) -> u64 {
        let mut f = self.files.lock();
        let n = f.manifest.next_file_no;
        f.manifest.next_file_no += 1;
        n
    }

    /// Freezes the memtable and writes it to segment files, one per time partition it
    /// touches; then records them in the manifest and drops the obsolete WAL files.
    pub(super) fn flush(self: &Arc<Self>) -> Result<()> {
        let _one = self.flush_mu.lock();
        self.check_open()?;
        self.flush_held()
    }

    /// A flush, the flush lock held: an error poisons the database; waiting writers are
    /// woken either way.
    fn flush_held(self: &Arc<Self>) -> Result<()> {
        let r = self.flush_locked();
        if let Err(e) = &r {
            self.poison_with(e);
        }
        let _g = self.flushed_mu.lock();
        self.flushed.notify_all();
        r
    }

    fn flush_locked(self: &Arc<Self>) -> Result<()> {
        // 1. Freeze: the WAL moves to a new file so the old ones can go once flushed.
        let (frozen, last_seq, catalog) = {
            let mut wal = self.wal.lock();
            let catalog_changed =
                self.catalog.read().changes() != self.files.lock().catalog_changes_written;
            let mut st = self.state.write();
            if st.mem.is_empty() && !catalog_changed {
                return Ok(());
            }
            let last_seq = wal.last_seq();
            wal.rotate()?;
            let slots = st.mem.point_slots();
            let m = Arc::new(std::mem::replace(&mut st.mem, Memtable::with_points(slots)));
            st.frozen.push((m.clone(), last_seq));
            // The catalog as of the freeze: every point the frozen data refers to.
            (m, last_seq, Arc::new(self.catalog.read().clone()))
        };
        {
            // Writers waiting for room (`Inner::wait_for_room`) have it now.
            let _g = self.flushed_mu.lock();
            self.flushed.notify_all();
        }

        // 2. Split each point's samples and tombstones by partition.
        let p = self.opts.partition_ms;
        let version = self.state.read().version.clone();
        let existing: Vec<(Timestamp, Timestamp)> = version.partitions();
        let mut parts: BTreeMap<Timestamp, PartitionData<'_>> = BTreeMap::new();
        split_by_partition(&frozen, p, &existing, &mut parts);

        // 3. Write the segment files and compute the rollup tiers of every point the flush
        //    touches: side by side on two threads when `flush_threads` allows (they share no
        //    work: the rollups read the raw data as it will be from the current files and
        //    the frozen memtable); then write the rollup files and, if points were defined,
        //    the catalog file.
        // The raw files are numbered first, so that the numbers, and the order of the file
        // operations (raw files, then rollup files, all on this thread), do not depend on
        // how the two threads are scheduled.
        let raw_nos: Vec<u64> = parts.keys().map(|_| self.alloc_file_no()).collect();
        let write_raw = || -> Result<Vec<Arc<Segment>>> {
            let mut out = Vec::with_capacity(parts.len());
            for ((start, points), &file_no) in parts.iter().zip(&raw_nos) {
                let id = SegmentId {
                    kind: segment::KIND_RAW,
                    file_no,
                    generation: file_no,
                    part_start: *start,
                    part_end: start.saturating_add(p),
                };
                // Each point's block is encoded and written in turn.
                let blocks = points
                    .iter()
                    .filter(|(_, (cols, _))| !cols.is_empty())
                    .map(|(pt, (cols, _))| Ok(encode_raw_block(*pt, cols, &self.opts.codec)));
                let tombs: Vec<(PointId, Tombstone)> = points
                    .iter()
                    .flat_map(|(pt, (_, t))| t.iter().map(move |t| (*pt, *t)))
                    .collect();
                out.push(self.write_blocks(&id, blocks, &tombs)?);
            }
            Ok(out)
        };
        let job = self.flush_rollups(frozen.clone(), version.clone(), catalog.clone());
        // The rollup files are written on this thread, after the raw ones, as the blocks
        // arrive; with two threads they are computed on the other one and arrive through a
        // bounded queue, so a flush holds a queue of blocks, not every point's.
        let mut files = RollupFiles::new(self, &version);
        let mut helper = None;
        if self.opts.flush_threads > 1 {
            // A thread of its own (not a scoped one, which would register the calling thread
            // with the standard library, a C program's main thread included), given what it
            // reads; if none can be had, the work is done here after the raw segments.
            let (tx, rx) = crossbeam_channel::bounded(ROLLUP_QUEUE);
            let mine = job.clone();
            let spawned = std::thread::Builder::new()
                .name("meterdb-rollup".into())
                .spawn(move || {
                    mine.compute(&mut |ti, p, b| {
                        // The receiver is gone only when this flush failed already.
                        tx.send((ti, p, b))
                            .map_err(|_| Error::invalid("flush abandoned"))
                    })
                });
            if let Ok(h) = spawned {
                helper = Some((h, rx));
            }
        }
        let raw = write_raw();
        let rolled = match helper {
            Some((h, rx)) => {
                let mut written = Ok(());
                if raw.is_ok() {
                    for (ti, p, b) in rx.iter() {
                        written = files.add(ti, p, b);
                        if written.is_err() {
                            break;
                        }
                    }
                }
                drop(rx);
                match h.join() {
                    // An error of the writing comes first: the computing's is then
                    // "abandoned".
                    Ok(computed) => written.and(computed),
                    // A bug: the panic goes on where it would have without the thread.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            None if raw.is_ok() => job.compute(&mut |ti, p, b| files.add(ti, p, b)),
            None => Ok(()),
        };
        // The rollups read the files of every touched partition through their mappings:
        // their pages go back now rather than at the end of the next compaction.
        for s in version.all() {
            s.release_pages();
        }
        drop(parts);
        let mut new_segments = raw?;
        rolled?;
        let (rollup_files, superseded) = files.finish()?;
        new_segments.extend(rollup_files);
        let new_catalog = if catalog.changes() != self.files.lock().catalog_changes_written {
            let file_no = self.alloc_file_no();
            let path = self.dir.join(catalog_file_name(file_no));
            let mut f = self
                .storage
                .create(&path)
                .map_err(self.io_err(format!("create {}", path.display())))?;
            f.write_all(&catalog.encode_file())
                .map_err(self.io_err(format!("write {}", path.display())))?;
            f.sync()
                .map_err(self.io_err(format!("sync {}", path.display())))?;
            Some((file_no, catalog.changes()))
        } else {
            None
        };
        self.storage
            .sync_dir(&self.dir)
            .map_err(self.io_err(format!("sync {}", self.dir.display())))?;
        // Statistics cursors: buckets read before and changed by this flush's data are
        // marked for delivery again, durably, before the flush (and so the dropping of its
        // WAL files) is committed.
        self.mark_changed_buckets(&frozen, last_seq)?;

        // 4. Install: manifest first (the commit point), then the in-memory version. Rollup
        //    files the new ones supersede leave the list (a compaction may have merged some
        //    of them meanwhile: its output stays, older than the new files).
        let (old_catalog, dropped) = {
            let mut files = self.files.lock();
            let (mut all, dropped): (Vec<Arc<Segment>>, Vec<Arc<Segment>>) = self
                .state
                .read()
                .version
                .all()
                .cloned()
                .partition(|s| !superseded.contains(&s.id.file_no));
            all.extend(new_segments);
            let mut m = files.manifest.clone();
            m.segments = all.iter().map(|s| s.id).collect();
            m.flushed_seq = last_seq;
            let old = m.catalog_file_no;
            if let Some((no, n)) = new_catalog {
                m.catalog_file_no = no;
                files.catalog_changes_written = n;
            }
            m.store(&*self.storage, &self.dir)?;
            files.manifest = m;
            let mut st = self.state.write();
            st.version = Arc::new(Version::new(all));
            st.frozen.retain(|f| !Arc::ptr_eq(&f.0, &frozen));
            ((new_catalog.is_some() && old != 0).then_some(old), dropped)
        };
        if let Some(old) = old_catalog {
            let _ = self.storage.remove(&self.dir.join(catalog_file_name(old)));
        }
        for s in dropped {
            // Readers holding the old version keep their mapping (or copy) of the file.
            let _ = self.storage.remove(&s.path);
        }
        self.remove_obsolete_wal(last_seq)?;
        Ok(())
    }

    /// A flush first, between the partitions of a compaction, when the memtable is full (and
    /// no flush, backup or compaction holds the flush lock): writers wait for a full memtable
    /// to be taken, and a long compaction must not keep them waiting. Never waits for the
    /// flush lock (the lock order is flush, then compaction).
    fn flush_if_full(self: &Arc<Self>) -> Result<()> {
        if self.state.read().mem.approx_bytes() < self.opts.memtable_bytes {
            return Ok(());
        }
        let Some(_one) = self.flush_mu.try_lock() else {
            return Ok(());
        };
        self.flush_held()
    }

    /// Compacts every partition with at least `min_segments` segment files, or with
    /// tombstones to apply.
    pub(super) fn compact_all(self: &Arc<Self>, min_segments: usize) -> Result<()> {
        let _one = self.compact_mu.lock();
        self.check_open()?;
        let version = self.state.read().version.clone();
        let mut by_part: BTreeMap<(u8, Timestamp), Vec<Arc<Segment>>> = BTreeMap::new();
        for s in version.all() {
            by_part
                .entry((s.id.kind, s.id.part_start))
                .or_default()
                .push(s.clone());
        }
        for ((kind, _), mut inputs) in by_part {
            self.flush_if_full()?;
            let tombs = inputs.iter().any(|s| s.has_tombstones());
            let explicit = min_segments <= 2;
            if inputs.len() >= min_segments || (explicit && tombs) {
                // A rollup partition's small newer files are merged without its big old one,
                // except when asked to compact (see `rollup_merge_from`).
                let mut whole = true;
                if kind != segment::KIND_RAW && !explicit {
                    inputs.sort_by_key(|s| s.id.generation);
                    let sizes: Vec<u64> = inputs.iter().map(|s| s.size()).collect();
                    let from = rollup_merge_from(&sizes);
                    inputs.drain(..from);
                    whole = from == 0;
                }
                if let Err(e) = self.compact_partition(&inputs, whole) {
                    self.poison_with(&e);
                    return Err(e);
                }
            }
        }
        // The flush and compactions before this read segments through their mappings.
        let version = self.state.read().version.clone();
        for s in version.all() {
            s.release_pages();
        }
        Ok(())
    }

    /// Merges `inputs`, files of one partition: all of them (`whole`), or, for a rollup
    /// partition, its newest files.
    fn compact_partition(&self, inputs: &[Arc<Segment>], whole: bool) -> Result<()> {
        let generation = inputs.iter().map(|s| s.id.generation).max().unwrap_or(0);
        let first = inputs[0].id;
        let id = SegmentId {
            file_no: 0,
            generation,
            ..first
        };
        // Both kinds stream one point at a time into the new file.
        let blocks: Box<dyn Iterator<Item = Result<EncodedBlock>>> =
            if first.kind != segment::KIND_RAW {
                Box::new(merge_rollup_partition(inputs, whole, &self.opts.codec))
            } else {
                Box::new(merge_partition(inputs, &self.opts.codec))
            };
        let mut blocks = blocks.peekable();
        let output = match blocks.peek() {
            // Everything was deleted: no file.
            None => None,
            Some(_) => {
                let id = SegmentId {
                    file_no: self.alloc_file_no(),
                    ..id
                };
                Some(self.write_blocks(&id, blocks, &[])?)
            }
        };
        if output.is_some() {
            self.storage
                .sync_dir(&self.dir)
                .map_err(self.io_err(format!("sync {}", self.dir.display())))?;
        }
        {
            let mut files = self.files.lock();
            let cur = self.state.read().version.clone();
            let mut segs: Vec<Arc<Segment>> = cur
                .all()
                .filter(|s| !inputs.iter().any(|i| i.id.file_no == s.id.file_no))
                .cloned()
                .collect();
            segs.extend(output);
            let mut m = files.manifest.clone();
            m.segments = segs.iter().map(|s| s.id).collect();
            m.store(&*self.storage, &self.dir)?;
            files.manifest = m;
            self.state.write().version = Arc::new(Version::new(segs));
        }
        for s in inputs {
            // Readers holding the old version keep their mapping (or copy) of the file; the
            // pages this merge read go back now, not when the last holder lets go.
            s.release_pages();
            let _ = self.storage.remove(&s.path);
        }
        Ok(())
    }
}

/// Splits a frozen memtable into partitions. Tombstones are clipped to the partitions that
/// can hold older data: those with segments (`existing`) and those this flush writes.
fn split_by_partition<'a>(
    mem: &'a Memtable,
    p: i64,
    existing: &[(Timestamp, Timestamp)],
    parts: &mut BTreeMap<Timestamp, PartitionData<'a>>,
) {
    for (point, cols, tombs) in mem.iter_points() {
        let cols: Cow<'a, Columns> = if cols.1 {
            Cow::Borrowed(cols.0)
        } else {
            Cow::Owned(sort_last_wins(cols.0))
        };
        let part_of = |t: Timestamp| t.div_euclid(p) * p;
        match (cols.ts.first(), cols.ts.last()) {
            (Some(&first), Some(&last)) if part_of(first) == part_of(last) => {
                // All in one partition: no copy.
                parts
                    .entry(part_of(first))
                    .or_default()
                    .insert(point, (cols, Vec::new()));
            }
            _ => {
                let mut i = 0;
                while i < cols.len() {
                    let start = part_of(cols.ts[i]);
                    let end = start.saturating_add(p);
                    let j = i + cols.ts[i..].partition_point(|&t| t < end);
                    let mut c = Columns::with_capacity(j - i);
                    c.extend_from(&cols, i..j);
                    parts
                        .entry(start)
                        .or_default()
                        .insert(point, (Cow::Owned(c), Vec::new()));
                    i = j;
                }
            }
        }
        if tombs.is_empty() {
            continue;
        }
        let mut targets: Vec<(Timestamp, Timestamp)> = existing.to_vec();
        targets.extend(parts.keys().map(|&s| (s, s.saturating_add(p))));
        targets.sort_unstable();
        targets.dedup();
        for &(f, t) in tombs {
            for &(s, e) in &targets {
                let (cf, ct) = (f.max(s), t.min(e));
                if cf < ct {
                    parts
                        .entry(s)
                        .or_default()
                        .entry(point)
                        .or_default()
                        .1
                        .push((cf, ct));
                }
            }
        }
    }
}
