//! The public database handle: open, define points, write, read, flush, compact.
//!
//! The only module that starts threads: a background thread flushes and compacts, and in
//! [`Durability::Interval`] mode a second one syncs the WAL on its interval.

mod app_files;
mod backup;
mod batch;
pub(crate) mod bundle;
mod flush;
pub(crate) mod forward;
mod nearest;
mod options;
mod retention;
mod rollup;
mod tiers_file;
pub(crate) mod uploads;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex, RwLock};

pub use app_files::AppFiles;
pub use backup::BackupReport;
pub use batch::WriteBatch;
pub use bundle::{BundlePoint, BundleReport};
pub use forward::{
    change_id, change_seq, BucketChange, Change, ChangeKind, CursorInfo, CursorStart,
};
pub use options::{Durability, Options};
pub use retention::{Retention, RetentionReport, TierLimit};
pub use rollup::SumRow;
pub use uploads::{OutcomeFilter, UploadOutcome, UploadRecord};

use crate::catalog::{Catalog, PointFilter, PointId, PointMeta};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::io::{FileStorage, LockGuard, Storage};
use crate::manifest::Manifest;
use crate::memtable::Memtable;
use crate::query::{RangeIter, Snapshot, Version};
use crate::sample::{check_ts, Columns, Sample, Timestamp, MAX_TIMESTAMP};
use crate::segment::{self, Segment};
use crate::wal::{Wal, WalOptions};

const LOCK_FILE: &str = "LOCK";
const WAL_DIR: &str = "wal";

/// An open database. `Send + Sync`: share it between threads with an `Arc` (or by
/// reference); reads never block writes for long, and readers see consistent snapshots.
///
/// Dropping it stops its threads and syncs the WAL; [`Db::close`] does the same and
/// reports errors.
#[derive(Debug)]
pub struct Db {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug)]
struct State {
    mem: Memtable,
    /// Frozen memtables being flushed, oldest first, with the last WAL seq they contain.
    frozen: Vec<(Arc<Memtable>, u64)>,
    version: Arc<Version>,
}

#[derive(Debug)]
struct Files {
    manifest: Manifest,
    /// The catalog's [`Catalog::changes`] when the catalog file named by the manifest was
    /// written (a metadata update changes them as a new point does).
    catalog_changes_written: u64,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    opts: Options,
    _lock: Box<dyn LockGuard>,
    wal: Mutex<Wal>,
    state: RwLock<State>,
    catalog: RwLock<Catalog>,
    files: Mutex<Files>,
    flush_mu: Mutex<()>,
    compact_mu: Mutex<()>,
    /// Background work requests; `None` when there is no background thread.
    bg: Mutex<Option<crossbeam_channel::Sender<flush::Job>>>,
    /// Signalled after every flush, for writers waiting on a full memtable.
    flushed: Condvar,
    flushed_mu: Mutex<()>,
    poison: Mutex<Option<String>>,
    closed: AtomicBool,
    /// The time zone of the rollup tiers, minutes east of UTC.
    tz: i32,
    /// Upload cursors. Lock order: `cursors`, then `wal`.
    cursors: Mutex<forward::Cursors>,
    /// The newest sample time written or found at open (`i64::MIN`: none).
    max_ts: AtomicI64,
    /// The upload log, opened when first used.
    uploads: Mutex<Option<uploads::UploadLog>>,
    /// Set by retention when the raw byte cap cannot be met: writes are refused.
    full: AtomicBool,
    /// The lock of the application files ([`Db::app_files`]): before every other lock.
    app_files: Mutex<()>,
}

/// Figures about a database's storage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbStats {
    /// Points defined.
    pub points: usize,
    /// Samples in segment files (after compaction, exact; before, a repeated timestamp in
    /// two segments counts twice).
    pub segment_samples: u64,
    /// Samples buffered in memtables.
    pub memtable_samples: u64,
    /// Segment files.
    pub segment_files: usize,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of WAL files.
    pub wal_bytes: u64,
    /// Rollup files of each stored tier (index `tier - 1`: minute, hour, day, month, year).
    pub tier_files: [usize; 5],
    /// Bytes of the rollup files of each tier.
    pub tier_bytes: [u64; 5],
    /// Buckets stored in the rollup files of each tier (before compaction, a bucket
    /// rewritten by a later flush counts again).
    pub tier_buckets: [u64; 5],
    /// Per point, from its segment blocks.
    pub per_point: Vec<PointStats>,
}

impl DbStats {
    /// Bytes of every rollup file.
    pub fn rollup_bytes(&self) -> u64 {
        self.tier_bytes.iter().sum()
    }
}

/// Storage figures of one point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointStats {
    /// The point.
    pub id: PointId,
    /// Its key.
    pub key: String,
    /// Samples in segment files.
    pub samples: u64,
    /// Bytes of its column blocks (timestamps, values, quality).
    pub bytes: u64,
    /// Bytes of its timestamp columns.
    pub ts_bytes: u64,
    /// Bytes of its value columns.
    pub value_bytes: u64,
    /// Codecs of its timestamp columns, with the number of blocks using each.
    pub ts_codecs: Vec<(String, usize)>,
    /// Codecs of its value columns, with the number of blocks using each.
    pub value_codecs: Vec<(String, usize)>,
}

fn count_codec(list: &mut Vec<(String, usize)>, c: Codec) {
    let name = c.to_string();
    match list.iter_mut().find(|x| x.0 == name) {
        Some(x) => x.1 += 1,
        None => list.push((name, 1)),
    }
}

impl Db {
    /// Opens (or creates) the database in `dir`, recovering from the WAL.
    ///
    /// Errors: [`Error::Locked`] when another process has it open; a corruption error
    /// naming the file and offset when stored data is damaged beyond a torn WAL tail.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let storage: Arc<dyn Storage> = opts
            .storage
            .clone()
            .unwrap_or_else(|| Arc::new(FileStorage));
        let manifest = Manifest::load(&*storage, &dir).or_else(|e| match e {
            Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            e => Err(e),
        })?;
        if manifest.is_none() && !opts.create_if_missing && !storage.exists(&dir.join(WAL_DIR)) {
            return Err(Error::NotFound(format!("no database in {}", dir.display())));
        }
        storage
            .create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let lock = storage
            .try_lock(&dir.join(LOCK_FILE))
            .map_err(|e| Error::io(format!("lock {}", dir.display()), e))?
            .ok_or_else(|| Error::Locked(dir.clone()))?;
        // Load the manifest again now that the lock is held.
        let manifest = match manifest {
            Some(_) => Manifest::load(&*storage, &dir)?,
            None => Manifest::load(&*storage, &dir)?,
        };
        let fresh = manifest.is_none();
        let manifest = manifest.unwrap_or(Manifest {
            next_file_no: 1,
            tz_offset_min: opts.tz_offset_min.unwrap_or(options::DEFAULT_TZ_OFFSET_MIN),
            ..Default::default()
        });
        if let Some(tz) = opts.tz_offset_min {
            if tz != manifest.tz_offset_min {
                return Err(Error::invalid(format!(
                    "database {} keeps its rollups in UTC{}; it cannot be opened with UTC{}",
                    dir.display(),
                    crate::time::format_offset(manifest.tz_offset_min),
                    crate::time::format_offset(tz)
                )));
            }
        }
        let tz = manifest.tz_offset_min;
        // The raw partition width is the one the database's segments were written with: the
        // default adopts it, another width is refused (partitions must not overlap).
        let mut opts = opts;
        if let Some(s) = manifest.segments.iter().find(|s| s.kind == 0) {
            let width = s.part_end - s.part_start;
            if opts.partition_ms != width {
                if opts.partition_ms != options::DEFAULT_PARTITION_MS {
                    return Err(Error::invalid(format!(
                        "database {} has raw partitions of {width} ms; it cannot be opened \
                         with partition_ms {}",
                        dir.display(),
                        opts.partition_ms
                    )));
                }
                opts.partition_ms = width;
            }
        }

        let mut catalog = if manifest.catalog_file_no != 0 {
            let path = dir.join(catalog_file_name(manifest.catalog_file_no));
            let bytes = storage
                .read(&path)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            Catalog::decode_file(&bytes).map_err(|e| e.in_file(&path, 0))?
        } else {
            Catalog::default()
        };
        let catalog_changes_written = catalog.changes();

        let mut segments = Vec::with_capacity(manifest.segments.len());
        for id in &manifest.segments {
            let path = dir.join(segment::file_name(id));
            let seg = Segment::open(&*storage, &path)?;
            if seg.id != *id {
                return Err(Error::Corruption {
                    file: Some(path),
                    offset: Some(0),
                    msg: format!(
                        "segment header {:?} differs from the manifest's {:?}",
                        seg.id, id
                    ),
                });
            }
            segments.push(Arc::new(seg));
        }

        let cursors = forward::Cursors::load(&*storage, &dir)?;
        let mut max_ts = i64::MIN;
        for seg in segments.iter().filter(|s| s.id.kind == segment::KIND_RAW) {
            for b in seg.blocks() {
                max_ts = max_ts.max(b.stats.max_ts);
            }
        }
        // Replay the WAL into a fresh memtable.
        let mut mem = Memtable::new();
        let wal_dir = dir.join(WAL_DIR);
        let wal = Wal::open(
            storage.clone(),
            &wal_dir,
            WalOptions {
                max_file_bytes: opts.wal_file_bytes,
            },
            manifest.flushed_seq,
            &mut |_seq, payload| apply_record(payload, &mut catalog, &mut mem, &mut max_ts),
        )?;

        let inner = Arc::new(Inner {
            dir: dir.clone(),
            storage: storage.clone(),
            opts: opts.clone(),
            _lock: lock,
            wal: Mutex::new(wal),
            state: RwLock::new(State {
                mem,
                frozen: Vec::new(),
                version: Arc::new(Version::new(segments)),
            }),
            catalog: RwLock::new(catalog),
            files: Mutex::new(Files {
                manifest,
                catalog_changes_written,
            }),
            flush_mu: Mutex::new(()),
            compact_mu: Mutex::new(()),
            bg: Mutex::new(None),
            flushed: Condvar::new(),
            flushed_mu: Mutex::new(()),
            poison: Mutex::new(None),
            closed: AtomicBool::new(false),
            tz,
            cursors: Mutex::new(cursors),
            max_ts: AtomicI64::new(max_ts),
            uploads: Mutex::new(None),
            full: AtomicBool::new(false),
            app_files: Mutex::new(()),
        });
        if fresh {
            let files = inner.files.lock();
            files.manifest.store(&*storage, &dir)?;
        }
        inner.remove_orphans()?;
        let stored_tiers = tiers_file::load(&*storage, &dir)?;
        let db = Db {
            inner,
            threads: Mutex::new(Vec::new()),
        };
        db.start_threads();
        match stored_tiers {
            Some(t) if t == db.inner.opts.tiers => {}
            Some(_) => db.rederive_default_tiers()?,
            None => tiers_file::store(&*storage, &dir, db.inner.opts.tiers)?,
        }
        Ok(db)
    }

    /// At an open with another default tier set than the rollup files were derived with:
    /// every point that follows the default has its tiers derived again from the raw
    /// samples (a flush, before `open` returns), then the new set is stored. A crash before
    /// the set is stored does the same at the next open.
    fn rederive_default_tiers(&self) -> Result<()> {
        let inner = &self.inner;
        {
            let cat = inner.catalog.read();
            let mut st = inner.state.write();
            for (id, _) in cat.iter().filter(|(_, m)| m.tiers.is_none()) {
                st.mem.touch(
                    id,
                    crate::sample::MIN_TIMESTAMP,
                    crate::sample::MAX_TIMESTAMP + 1,
                );
            }
        }
        self.flush()?;
        tiers_file::store(&*inner.storage, &inner.dir, inner.opts.tiers)
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// The options it was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// Defines a point, or updates the metadata of the point with that key; returns its id.
    ///
    /// Meter replacements are history, recorded by [`Db::replace_meter`]: metadata that
    /// names none keeps those recorded (metadata that names some replaces them). A change
    /// of the kind, rollover or register derives the point's buckets again, and a change of
    /// its replacements the buckets around them.
    pub fn define_point(&self, meta: PointMeta) -> Result<PointId> {
        meta.validate()?;
        let inner = &self.inner;
        let mut wal = inner.writable_wal()?;
        let mut cat = inner.catalog.write();
        let (id, seq) = inner.define_locked(&mut wal, &mut cat, meta)?;
        drop(cat);
        if let Some(seq) = seq {
            inner.after_write(wal, seq)?;
        }
        Ok(id)
    }

    /// Defines or updates many points at once, atomically and durably: every metadata is
    /// checked first (nothing changes if one is invalid), then every WAL record is appended
    /// and every catalog entry set under one hold of the catalog lock, so other threads
    /// see all of them or none, and the WAL is synced once before it returns, whatever the
    /// durability mode. Each point is handled as [`Db::define_point`] handles it; returns
    /// their ids, in order. A key given twice is defined twice (the second wins).
    ///
    /// An I/O error appending or syncing poisons the database. After a crash the points of
    /// a call that returned are all there; of one that did not, the first ones may be (a
    /// torn WAL tail drops whole records, the last ones): callers that need all or none
    /// record their own commit point and define again after it (as the energy layer's
    /// unit catalog does).
    pub fn define_points(&self, metas: &[PointMeta]) -> Result<Vec<PointId>> {
        for m in metas {
            m.validate()?;
        }
        let inner = &self.inner;
        let mut wal = inner.writable_wal()?;
        let mut cat = inner.catalog.write();
        let mut ids = Vec::with_capacity(metas.len());
        let mut last = None;
        for meta in metas {
            let (id, seq) = inner.define_locked(&mut wal, &mut cat, meta.clone())?;
            ids.push(id);
            last = seq.or(last);
        }
        drop(cat);
        if let Some(seq) = last {
            inner.sync_to(&mut wal, seq)?;
            inner.after_write(wal, seq)?;
        }
        Ok(ids)
    }

    /// Records that the meter of counter `point` was replaced at `ts`: the old meter's
    /// register read `old_final` for the last time, the new one started at `new_initial`.
    /// The consumption between the last reading before `ts` and the first at or after it is
    /// then `(old_final - before) + (after - new_initial)` (see [`crate::rollup::Rules`]);
    /// without a recorded replacement a fall to near zero is taken as one. Durable like a
    /// write (through the WAL, then the catalog), exported in bundles, and recorded late
    /// as well as on time: the buckets it changes are derived again. A replacement already
    /// recorded at `ts` is replaced.
    pub fn replace_meter(
        &self,
        point: PointId,
        ts: Timestamp,
        old_final: f64,
        new_initial: f64,
    ) -> Result<()> {
        check_ts(ts)?;
        if !old_final.is_finite() || !new_initial.is_finite() {
            return Err(Error::invalid(format!(
                "meter replacement readings {old_final} and {new_initial} must be finite"
            )));
        }
        self.update_point(point, |m| {
            if m.kind != crate::PointKind::Counter {
                return Err(Error::invalid(format!(
                    "point {} is a gauge: only a counter's meter can be replaced",
                    m.key
                )));
            }
            let r = crate::catalog::Replacement {
                ts,
                old_final,
                new_initial,
            };
            *m = std::mem::take(m).with_replacement(r);
            Ok(())
        })
    }

    /// Removes the meter replacement recorded at `ts` for `point` (`NotFound` when there is
    /// none); the buckets around it are derived again.
    pub fn forget_meter_replacement(&self, point: PointId, ts: Timestamp) -> Result<()> {
        self.update_point(point, |m| {
            let n = m.replacements.len();
            m.replacements.retain(|r| r.ts != ts);
            if m.replacements.len() == n {
                return Err(Error::NotFound(format!(
                    "point {} has no meter replacement at {ts}",
                    m.key
                )));
            }
            Ok(())
        })
    }

    /// Changes a point's metadata under the catalog lock (so that concurrent changes are
    /// not lost), replacements included as `f` leaves them.
    fn update_point(
        &self,
        point: PointId,
        f: impl FnOnce(&mut PointMeta) -> Result<()>,
    ) -> Result<()> {
        self.check_point(point)?;
        let inner = &self.inner;
        let mut wal = inner.writable_wal()?;
        let mut cat = inner.catalog.write();
        let mut meta = cat.get(point).cloned().ok_or_else(|| undefined(point))?;
        f(&mut meta)?;
        meta.validate()?;
        if cat.get(point) == Some(&meta) {
            return Ok(());
        }
        let seq = inner.append(&mut wal, &batch::encode_define(point, &meta))?;
        inner.set_point(&mut cat, point, meta)?;
        drop(cat);
        inner.after_write(wal, seq)
    }

    /// The id of a key, defining it as a gauge with default metadata if missing.
    pub fn ensure_point(&self, key: &str) -> Result<PointId> {
        if let Some(id) = self.point_id(key) {
            return Ok(id);
        }
        self.define_point(PointMeta::new(key, Default::default()))
    }

    /// The id of a key.
    pub fn point_id(&self, key: &str) -> Option<PointId> {
        self.inner.catalog.read().id(key)
    }

    /// The metadata of a point.
    pub fn point(&self, id: PointId) -> Option<PointMeta> {
        self.inner.catalog.read().get(id).cloned()
    }

    /// Every point whose metadata passes `filter`, in id order.
    pub fn points(&self, filter: &PointFilter) -> Vec<(PointId, PointMeta)> {
        self.inner
            .catalog
            .read()
            .iter()
            .filter(|(_, m)| filter.matches(m))
            .map(|(i, m)| (i, m.clone()))
            .collect()
    }

    /// Writes one sample (valid quality).
    pub fn put(&self, point: PointId, ts: Timestamp, value: f64) -> Result<()> {
        let mut b = WriteBatch::with_capacity(1);
        b.put(point, ts, value);
        self.write(&b)
    }

    /// Writes a batch atomically: every sample is checked first (known point, finite value,
    /// timestamp within years 1000..=9999) and either all are applied or none. A sample with
    /// the timestamp of an existing one replaces it. Returns once durable as the database's
    /// [`Durability`] says.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        self.check_full()?;
        batch.validate(inner.catalog.read().len())?;
        let mut payload = Vec::new();
        batch::encode_samples(batch, &mut payload);
        inner.wait_for_room();
        if let Some(&m) = batch.ts.iter().max() {
            inner.max_ts.fetch_max(m, Ordering::AcqRel);
        }
        let mut wal = inner.writable_wal()?;
        let seq = inner.append(&mut wal, &payload)?;
        {
            let mut st = inner.state.write();
            for i in 0..batch.len() {
                st.mem.insert(
                    batch.points[i],
                    batch.ts[i],
                    batch.values[i],
                    batch.quality[i],
                );
            }
        }
        inner.after_write(wal, seq)
    }

    /// Deletes a point's samples with `from <= ts < to`.
    pub fn delete_range(&self, point: PointId, from: Timestamp, to: Timestamp) -> Result<()> {
        let inner = &self.inner;
        if point as usize >= inner.catalog.read().len() {
            return Err(undefined(point));
        }
        if from >= to {
            return Err(Error::invalid(format!("empty delete range [{from}, {to})")));
        }
        let mut wal = inner.writable_wal()?;
        let seq = inner.append(&mut wal, &batch::encode_delete(point, from, to))?;
        inner.state.write().mem.delete(point, from, to);
        inner.after_write(wal, seq)
    }

    /// Refuses a closed database or a point that is not defined (reads go on after a
    /// failed write: a poisoned database is not refused here).
    fn check_point(&self, point: PointId) -> Result<()> {
        self.inner.check_not_closed()?;
        if point as usize >= self.inner.catalog.read().len() {
            return Err(undefined(point));
        }
        Ok(())
    }

    fn snapshot(
        &self,
        point: PointId,
        from: Timestamp,
        to: Timestamp,
    ) -> (Snapshot, (Columns, Vec<crate::memtable::Tombstone>)) {
        let st = self.inner.state.read();
        let active = st.mem.read(point, from, to);
        let snap = Snapshot {
            version: st.version.clone(),
            frozen: st.frozen.iter().map(|f| f.0.clone()).collect(),
        };
        (snap, active)
    }

    /// A point's samples with `from <= ts < to`, in time order, as columns.
    pub fn read_range(&self, point: PointId, from: Timestamp, to: Timestamp) -> Result<Columns> {
        self.check_point(point)?;
        if from >= to {
            return Ok(Columns::default());
        }
        let (snap, active) = self.snapshot(point, from, to);
        snap.read(point, from, to, Some(&active))
    }

    /// Iterates a point's samples with `from <= ts < to` in time order, from a snapshot taken
    /// now: later writes, flushes and compactions do not change what it returns.
    pub fn range(&self, point: PointId, from: Timestamp, to: Timestamp) -> Result<RangeIter> {
        self.check_point(point)?;
        let to = if from >= to { from } else { to };
        let (snap, active) = self.snapshot(point, from, to);
        Ok(RangeIter::new(
            snap,
            point,
            from,
            to,
            active,
            self.inner.opts.partition_ms,
        ))
    }

    /// The sample with the greatest timestamp of a point, if any.
    pub fn latest(&self, point: PointId) -> Result<Option<Sample>> {
        self.check_point(point)?;
        let (snap, active) = self.snapshot(point, i64::MIN, i64::MAX);
        let look = nearest::Look {
            before: true,
            valid_only: false,
        };
        self.nearest(&snap, &active, point, MAX_TIMESTAMP + 1, look)
    }

    /// Writes the memtable to segment files now (with the rollup tiers it changes) and
    /// waits until it is done; then compacts the partitions that have reached
    /// `compaction_trigger` files.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.flush()?;
        self.inner.compact_all(self.inner.opts.compaction_trigger)?;
        self.inner.apply_retention().map(|_| ())
    }

    /// Merges every time partition that has more than one segment file (or deletes to
    /// apply) into one file, and waits until it is done.
    pub fn compact(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.compact_all(2)
    }

    /// Makes every write so far durable (syncs the WAL), whatever the durability mode.
    pub fn sync(&self) -> Result<()> {
        let mut wal = self.inner.writable_wal()?;
        let last = wal.last_seq();
        self.inner.sync_to(&mut wal, last)
    }

    /// Storage figures, per point and overall.
    pub fn stats(&self) -> Result<DbStats> {
        let inner = &self.inner;
        let (version, memtable_samples) = {
            let st = inner.state.read();
            let frozen: usize = st.frozen.iter().map(|f| f.0.sample_count()).sum();
            (st.version.clone(), (st.mem.sample_count() + frozen) as u64)
        };
        let cat = inner.catalog.read().clone();
        let mut per: Vec<PointStats> = cat
            .iter()
            .map(|(id, m)| PointStats {
                id,
                key: m.key.clone(),
                ..Default::default()
            })
            .collect();
        let mut s = DbStats {
            points: cat.len(),
            memtable_samples,
            segment_files: version.segments.len(),
            wal_bytes: inner.wal.lock().size_bytes(),
            ..Default::default()
        };
        for seg in &version.segments {
            s.segment_bytes += seg.size();
            for b in seg.blocks() {
                let Some(p) = per.get_mut(b.point as usize) else {
                    continue;
                };
                p.samples += u64::from(b.stats.count);
                p.bytes += b.len();
                p.ts_bytes += u64::from(b.cols[0]);
                p.value_bytes += u64::from(b.cols[1]);
                let (tc, vc) = seg.codecs(&b)?;
                count_codec(&mut p.ts_codecs, tc);
                count_codec(&mut p.value_codecs, vc);
                s.segment_samples += u64::from(b.stats.count);
            }
            seg.release_pages();
        }
        for (i, files) in version.tiers.iter().enumerate() {
            s.tier_files[i] = files.len();
            for f in files {
                s.tier_bytes[i] += f.size();
                s.tier_buckets[i] += f.blocks().map(|b| u64::from(b.stats.count)).sum::<u64>();
            }
        }
        s.per_point = per;
        Ok(s)
    }

    /// Checks every live file of the storage core: every checksum of the raw segments and
    /// rollup files (hour, day, month, year), each block decoded as a read would decode it;
    /// the catalog, manifest, cursors, upload log and tiers file. Returns the problems found
    /// (empty when all is well). The WAL is checked when the database opens. Application
    /// files are not: their layers check them; `Db::verify` (the energy layer) runs this
    /// and checks the unit catalog.
    pub fn verify_storage(&self) -> Result<Vec<Error>> {
        let inner = &self.inner;
        let version = inner.state.read().version.clone();
        let mut problems = Vec::new();
        for seg in version.all() {
            // Re-read from storage so that damage since opening is seen too.
            let s = match Segment::open(&*inner.storage, &seg.path) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            if let Err(e) = s.verify() {
                problems.push(e);
                continue;
            }
            if s.id.kind != 0 {
                // A rollup block decoded whole: counts, offsets and references checked.
                let mut rows = Vec::new();
                for b in s.blocks() {
                    rows.clear();
                    if let Err(e) =
                        crate::rollup::decode_block(&s, &b, i64::MIN, i64::MAX, &mut rows)
                    {
                        problems.push(e);
                        break;
                    }
                }
                s.release_pages();
            }
        }
        if let Err(e) = Manifest::load(&*inner.storage, &inner.dir) {
            problems.push(e);
        }
        if let Err(e) = forward::Cursors::load_checked(&*inner.storage, &inner.dir) {
            problems.push(e);
        }
        inner.verify_upload_log(&mut problems);
        if let Err(e) = tiers_file::load(&*inner.storage, &inner.dir) {
            problems.push(e);
        }
        let cat_no = inner.files.lock().manifest.catalog_file_no;
        if cat_no != 0 {
            let path = inner.dir.join(catalog_file_name(cat_no));
            match inner.storage.read(&path) {
                Ok(b) => {
                    if let Err(e) = Catalog::decode_file(&b) {
                        problems.push(e.in_file(&path, 0));
                    }
                }
                Err(e) => problems.push(Error::io(format!("read {}", path.display()), e)),
            }
        }
        Ok(problems)
    }

    /// Stops the background threads, syncs the WAL and closes the database.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        *self.inner.bg.lock() = None; // disconnects the channel: threads exit
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        let mut wal = self.inner.wal.lock();
        if self.inner.poison.lock().is_some() {
            return Ok(());
        }
        let last = wal.last_seq();
        if wal.synced_seq() < last {
            wal.sync()?;
        }
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The error for a point id that is not defined.
fn undefined(point: PointId) -> Error {
    Error::NotFound(format!("point id {point} is not defined"))
}

/// The spans whose buckets a change of a point's metadata from `old` to `new` changes:
/// every bucket when the kind, rollover, register, tiers or collection interval (which
/// decides the tiers stored) change, the buckets around each
/// replacement added, removed or changed otherwise (the one pair of readings around a
/// replacement lies in the buckets that hold its time, or across their boundaries, where
/// queries compute it).
pub(crate) fn rederive_spans(old: Option<&PointMeta>, new: &PointMeta) -> Vec<(i64, i64)> {
    let Some(old) = old else {
        return Vec::new();
    };
    if old.kind != new.kind
        || old.rollover != new.rollover
        || old.register != new.register
        || old.tiers != new.tiers
        || old.interval_ms != new.interval_ms
    {
        return vec![(
            crate::sample::MIN_TIMESTAMP,
            crate::sample::MAX_TIMESTAMP + 1,
        )];
    }
    let mut out = Vec::new();
    for r in old.replacements.iter().chain(&new.replacements) {
        let in_old = old.replacements.contains(r);
        let in_new = new.replacements.contains(r);
        if in_old != in_new {
            out.push((r.ts, r.ts + 1));
        }
    }
    out
}

/// File name of a catalog file.
pub(crate) fn catalog_file_name(file_no: u64) -> String {
    format!("catalog-{file_no:010}.cat")
}

/// Applies one WAL record during recovery.
fn apply_record(
    payload: &[u8],
    catalog: &mut Catalog,
    mem: &mut Memtable,
    max_ts: &mut i64,
) -> Result<()> {
    match batch::decode(payload, catalog)? {
        batch::Record::Samples(v) => {
            for i in 0..v.n {
                mem.insert(v.point(i), v.ts(i), v.value(i), v.quality[i]);
                *max_ts = (*max_ts).max(v.ts(i));
            }
        }
        batch::Record::Define(id, meta) => {
            for (f, t) in rederive_spans(catalog.get(id), &meta) {
                mem.touch(id, f, t);
            }
            catalog.set(id, meta)?
        }
        batch::Record::Delete(id, f, t) => mem.delete(id, f, t),
    }
    Ok(())
}

impl Inner {
    /// The newest sample time written (or found at open), if any.
    fn max_ts_seen(&self) -> Option<Timestamp> {
        match self.max_ts.load(Ordering::Acquire) {
            i64::MIN => None,
            t => Some(t),
        }
    }

    /// Refuses a closed database.
    fn check_not_closed(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        self.check_not_closed()?;
        if let Some(m) = self.poison.lock().as_ref() {
            return Err(Error::Poisoned(m.clone()));
        }
        Ok(())
    }

    /// Locks the WAL for a write, refusing when closed or poisoned.
    fn writable_wal(&self) -> Result<parking_lot::MutexGuard<'_, Wal>> {
        self.check_open()?;
        Ok(self.wal.lock())
    }

    fn poison_with(&self, e: &Error) {
        let mut p = self.poison.lock();
        if p.is_none() {
            *p = Some(e.to_string());
        }
    }

    /// Defines or updates a point under the WAL and catalog locks: its id, and the WAL
    /// sequence number of the record written (`None` when the metadata was current).
    /// Replacements recorded are kept when `meta` names none.
    pub(super) fn define_locked(
        &self,
        wal: &mut Wal,
        cat: &mut Catalog,
        mut meta: PointMeta,
    ) -> Result<(PointId, Option<u64>)> {
        let id = match cat.id(&meta.key) {
            Some(id) => {
                let cur = cat.get(id).ok_or_else(|| undefined(id))?;
                if meta.replacements.is_empty() {
                    meta.replacements = cur.replacements.clone();
                }
                if *cur == meta {
                    return Ok((id, None));
                }
                id
            }
            None => cat.len() as PointId,
        };
        let seq = self.append(wal, &batch::encode_define(id, &meta))?;
        self.set_point(cat, id, meta)?;
        Ok((id, Some(seq)))
    }

    /// Sets a point's metadata in the catalog, marking the spans whose buckets the change
    /// alters to be derived again.
    fn set_point(&self, cat: &mut Catalog, id: PointId, meta: PointMeta) -> Result<()> {
        let spans = rederive_spans(cat.get(id), &meta);
        cat.set(id, meta)?;
        if !spans.is_empty() {
            let mut st = self.state.write();
            for (f, t) in spans {
                st.mem.touch(id, f, t);
            }
        }
        Ok(())
    }

    fn append(&self, wal: &mut Wal, payload: &[u8]) -> Result<u64> {
        wal.append(payload).inspect_err(|e| self.poison_with(e))
    }

    fn sync_to(&self, wal: &mut Wal, seq: u64) -> Result<()> {
        if wal.synced_seq() >= seq {
            return Ok(());
        }
        wal.sync().inspect_err(|e| self.poison_with(e))
    }

    /// After a record is appended and applied: sync as the durability mode says (group
    /// commit: whoever syncs covers every record appended before), then ask for a flush
    /// when the memtable is full.
    fn after_write(&self, wal: parking_lot::MutexGuard<'_, Wal>, seq: u64) -> Result<()> {
        drop(wal);
        if self.opts.durability == Durability::Sync {
            let mut wal = self.wal.lock();
            self.sync_to(&mut wal, seq)?;
        }
        if self.state.read().mem.approx_bytes() >= self.opts.memtable_bytes {
            if let Some(tx) = self.bg.lock().as_ref() {
                let _ = tx.try_send(flush::Job::Flush);
            }
        }
        Ok(())
    }

    /// Blocks a writer while the memtable is full and the flush that will take it has not
    /// yet begun (the flush before it still running, or the flush thread compacting), so
    /// that unflushed data stays within about twice `memtable_bytes`: the memtable being
    /// filled and the one being flushed.
    fn wait_for_room(&self) {
        if self.bg.lock().is_none() {
            return;
        }
        let limit = self.opts.memtable_bytes;
        let mut g = self.flushed_mu.lock();
        loop {
            if self.state.read().mem.approx_bytes() < limit
                || self.closed.load(Ordering::Acquire)
                || self.poison.lock().is_some()
            {
                return;
            }
            if let Some(tx) = self.bg.lock().as_ref() {
                let _ = tx.try_send(flush::Job::Flush);
            }
            self.flushed
                .wait_for(&mut g, std::time::Duration::from_millis(100));
        }
    }

    /// Removes files of ours that the manifest does not name (left by a crash during a
    /// flush or compaction).
    fn remove_orphans(&self) -> Result<()> {
        let files = self.files.lock();
        let m = &files.manifest;
        let mut live: std::collections::HashSet<String> =
            m.segments.iter().map(segment::file_name).collect();
        if m.catalog_file_no != 0 {
            live.insert(catalog_file_name(m.catalog_file_no));
        }
        let names = self
            .storage
            .list(&self.dir)
            .map_err(|e| Error::io(format!("list {}", self.dir.display()), e))?;
        for n in names {
            let ours = segment::is_segment_file_name(&n)
                || (n.starts_with("catalog-") && n.ends_with(".cat"))
                || n == "MANIFEST.tmp"
                || app_files::is_app_tmp_name(&n);
            if ours && !live.contains(&n) {
                let p = self.dir.join(&n);
                self.storage
                    .remove(&p)
                    .map_err(|e| Error::io(format!("remove orphan {}", p.display()), e))?;
            }
        }
        Ok(())
    }
}

/// Checks a `[from, to)` range given by a caller.
pub fn check_range(from: Timestamp, to: Timestamp) -> Result<()> {
    check_ts(from)?;
    check_ts(to)?;
    if from > to {
        return Err(Error::invalid(format!(
            "range start {from} is after its end {to}"
        )));
    }
    Ok(())
}
