//! Retention: dropping whole segment partitions by age and by bytes, per tier, without
//! dropping what an upload cursor still has to send.
//!
//! Ages are measured from the newest sample time the database has seen (not the wall
//! clock: a gateway's clock may be wrong, and this keeps tests deterministic). A raw
//! partition that holds a change some cursor has not acknowledged (a sample, or a
//! delete's range, in the WAL after the slowest cursor's position) is never dropped by
//! age. The raw byte cap counts raw segment bytes and WAL bytes (the WAL holds what
//! cursors have not acknowledged): when dropping every partition it may drop does not bring
//! the total under the cap, either the slowest cursors are moved forward (their
//! unacknowledged changes dropped, with a record in the upload log), when
//! [`Retention::drop_unacked`] allows it, or writes are refused with
//! [`Error::StorageFull`] until acknowledgements or a smaller backlog make room.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::forward::change_id;
use super::{Db, Inner, UploadOutcome, UploadRecord};
use crate::error::{Error, Result};
use crate::query::Version;
use crate::rollup::Tier;
use crate::sample::Timestamp;
use crate::segment::{Segment, KIND_RAW};

/// Limits of one tier (raw data or a rollup tier).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierLimit {
    /// Drop partitions that end this long (ms) before the newest sample time.
    pub max_age_ms: Option<i64>,
    /// Drop the oldest partitions while the tier's files take more than this many bytes.
    pub max_bytes: Option<u64>,
}

/// Retention settings ([`super::Options::retention`]). Default: keep everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples (the raw byte cap counts the WAL too).
    pub raw: TierLimit,
    /// Rollup tiers.
    pub tiers: Vec<(Tier, TierLimit)>,
    /// When the raw byte cap cannot be met otherwise, drop the oldest changes cursors have
    /// not acknowledged (moving those cursors forward, recorded in the upload log) rather
    /// than refusing writes with `StorageFull`. Default false.
    pub drop_unacked: bool,
}

impl Retention {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.raw != TierLimit::default() || self.tiers.iter().any(|t| t.1 != TierLimit::default())
    }
}

/// What [`Db::apply_retention`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Partitions dropped: (kind: 0 raw, else the tier number, partition start).
    pub dropped: Vec<(u8, Timestamp)>,
    /// Bytes of the files dropped.
    pub dropped_bytes: u64,
    /// Cursors moved forward past changes they had not acknowledged.
    pub forced_cursors: Vec<String>,
    /// Whether writes are refused (`StorageFull`) until room is made.
    pub full: bool,
}

impl Inner {
    /// Partition starts (raw) holding a change some cursor has not acknowledged.
    fn unacked_partitions(&self) -> Result<BTreeSet<Timestamp>> {
        let Some(from) = self.cursors.lock().min_acked() else {
            return Ok(BTreeSet::new());
        };
        let upto = self.wal.lock().last_seq();
        let p = self.opts.partition_ms;
        let (changes, _, _) = self.read_changes(from, None, upto, usize::MAX)?;
        let mut set = BTreeSet::new();
        for c in changes {
            match c.kind {
                super::ChangeKind::Sample => {
                    set.insert(c.ts.div_euclid(p) * p);
                }
                super::ChangeKind::Delete { to } => {
                    let mut s = c.ts.div_euclid(p) * p;
                    while s < to {
                        set.insert(s);
                        s = s.saturating_add(p);
                    }
                }
            }
        }
        Ok(set)
    }

    /// Removes these files from the manifest and the version, then deletes them.
    fn drop_segments(&self, gone: &[Arc<Segment>]) -> Result<()> {
        if gone.is_empty() {
            return Ok(());
        }
        {
            let mut files = self.files.lock();
            let cur = self.state.read().version.clone();
            let segs: Vec<Arc<Segment>> = cur
                .all()
                .filter(|s| !gone.iter().any(|g| g.id.file_no == s.id.file_no))
                .cloned()
                .collect();
            let mut m = files.manifest.clone();
            m.segments = segs.iter().map(|s| s.id).collect();
            m.store(&*self.storage, &self.dir)?;
            files.manifest = m;
            self.state.write().version = Arc::new(Version::new(segs));
        }
        for s in gone {
            let _ = self.storage.remove(&s.path);
        }
        Ok(())
    }

    pub(super) fn apply_retention(&self) -> Result<RetentionReport> {
        let r = &self.opts.retention;
        let mut rep = RetentionReport::default();
        if !r.is_set() {
            return Ok(rep);
        }
        let _one = self.compact_mu.lock();
        let Some(now) = self.max_ts_seen() else {
            return Ok(rep);
        };
        let version = self.state.read().version.clone();
        // Partitions of one kind, oldest first, with their files and bytes.
        let parts = |kind: u8| -> Vec<(Timestamp, Timestamp, Vec<Arc<Segment>>, u64)> {
            let mut v: Vec<(Timestamp, Timestamp, Vec<Arc<Segment>>, u64)> = Vec::new();
            for s in version.all().filter(|s| s.id.kind == kind) {
                match v.iter_mut().find(|x| x.0 == s.id.part_start) {
                    Some(x) => {
                        x.3 += s.size();
                        x.2.push(s.clone());
                    }
                    None => v.push((s.id.part_start, s.id.part_end, vec![s.clone()], s.size())),
                }
            }
            v.sort_by_key(|x| x.0);
            v
        };
        let mut gone: Vec<Arc<Segment>> = Vec::new();
        let mut take = |kind: u8,
                        lim: &TierLimit,
                        keep: &BTreeSet<Timestamp>,
                        extra: u64,
                        rep: &mut RetentionReport|
         -> u64 {
            let ps = parts(kind);
            let mut total: u64 = ps.iter().map(|x| x.3).sum::<u64>() + extra;
            for (start, end, segs, bytes) in ps {
                if keep.contains(&start) {
                    continue;
                }
                let old = lim.max_age_ms.is_some_and(|a| end <= now.saturating_sub(a));
                let over = lim.max_bytes.is_some_and(|b| total > b);
                if old || over {
                    total -= bytes;
                    rep.dropped.push((kind, start));
                    rep.dropped_bytes += bytes;
                    gone.extend(segs);
                }
            }
            total
        };
        for (tier, lim) in &r.tiers {
            take(*tier as u8, lim, &BTreeSet::new(), 0, &mut rep);
        }
        if r.raw != TierLimit::default() {
            let keep = self.unacked_partitions()?;
            let wal_bytes = self.wal.lock().size_bytes();
            let total = take(KIND_RAW, &r.raw, &keep, wal_bytes, &mut rep);
            let over = r.raw.max_bytes.is_some_and(|b| total > b);
            if over && r.drop_unacked {
                rep.forced_cursors = self.force_cursors(now)?;
            } else if over {
                rep.full = true;
            }
        }
        self.drop_segments(&gone)?;
        self.full.store(rep.full, Ordering::Release);
        Ok(rep)
    }

    /// Moves every cursor that is behind to the end of the WAL, recording what it skipped
    /// in the upload log, and deletes the WAL files no longer needed.
    fn force_cursors(&self, now: Timestamp) -> Result<Vec<String>> {
        let last = self.wal.lock().last_seq();
        let end = change_id(last + 1, 0);
        let forced = self.force_all_cursors(end)?;
        let flushed = self.files.lock().manifest.flushed_seq;
        self.remove_obsolete_wal(flushed)?;
        for (name, from) in &forced {
            let rec = UploadRecord {
                cursor: name.clone(),
                first_id: *from,
                last_id: end - 1,
                samples: 0,
                outcome: UploadOutcome::Failed(
                    "retention: byte cap reached; unacknowledged changes dropped".into(),
                ),
                platform_time: None,
                at: now,
            };
            self.record_upload_inner(&rec)?;
        }
        Ok(forced.into_iter().map(|f| f.0).collect())
    }
}

impl Db {
    /// Applies the retention limits of [`super::Options::retention`] now (a flush does it
    /// too): drops whole partitions as the module documentation says.
    pub fn apply_retention(&self) -> Result<RetentionReport> {
        self.inner.check_open()?;
        self.inner.apply_retention()
    }

    pub(super) fn check_full(&self) -> Result<()> {
        if self.inner.full.load(Ordering::Acquire) {
            return Err(Error::StorageFull(
                "the raw byte cap is reached and upload cursors have not acknowledged the \
                 oldest data: acknowledge, or allow retention to drop unacknowledged data"
                    .into(),
            ));
        }
        Ok(())
    }
}
