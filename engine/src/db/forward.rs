//! Upload cursors (store and forward, 断点续传): named, durable read positions in the stream
//! of changes, one per destination.
//!
//! The WAL already holds every change in the order it was written, so a cursor is a
//! position in the WAL: WAL files are kept until every cursor has acknowledged them (a
//! flush deletes only files below `min(flushed seq, every cursor's acknowledged seq)`),
//! and a cursor reads by decoding WAL files from its position. A change's id is
//! `seq << 22 | index`, the WAL record's seq and the change's index within the record (a
//! record holds at most `MAX_PAYLOAD / 21 < 2^22` samples), so ids increase in write
//! order and stay the same when a change is read again after a crash: a receiver drops
//! ids it has seen.
//!
//! Each cursor's acknowledged position lives in `cursors/<name>.cur` (format in
//! `docs/format.md`), replaced atomically. The read position is kept in memory only: after
//! a reopen or a crash, reading resumes at the acknowledged position (at-least-once).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{batch, Db, Inner};
use crate::catalog::PointId;
use crate::error::{Error, Result};
use crate::format::{self, put_i64, put_u32, put_u64, put_uvarint, Reader};
use crate::io::Storage;
use crate::rollup::{BucketRow, Tier};
use crate::sample::{Timestamp, MAX_TIMESTAMP, MIN_TIMESTAMP};
use crate::wal::{self, record::Decoded};

/// Where the WAL record with seq `.2` starts: (file first seq, byte offset, seq).
type Hint = Option<(u64, usize, u64)>;

/// Bits of a change id that hold the change's index within its WAL record.
pub const CHANGE_INDEX_BITS: u32 = 22;

/// The directory of cursor files, inside the database directory.
pub(crate) const CURSOR_DIR: &str = "cursors";
const CURSOR_MAGIC: &[u8; 8] = b"MDBCUR\0\0";
const CURSOR_VERSION: u32 = 1;

/// The id of the change at `index` of the WAL record `seq`.
pub fn change_id(seq: u64, index: u32) -> u64 {
    (seq << CHANGE_INDEX_BITS) | u64::from(index)
}

/// The WAL seq of a change id.
pub fn change_seq(id: u64) -> u64 {
    id >> CHANGE_INDEX_BITS
}

/// Where a new cursor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorStart {
    /// With the next change written (and, for statistics, the bucket being filled now).
    Now,
    /// With the oldest change the WAL still holds (every change, for a database that had a
    /// cursor from its start), and the oldest bucket.
    Beginning,
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChangeKind {
    /// A sample was written (a new one, a late one, or a correction of one sent before).
    Sample,
    /// The point's samples with `ts <= t < to` were deleted (`ts` is the range's start).
    Delete {
        /// End of the deleted range (exclusive).
        to: Timestamp,
    },
}

/// One change read by a cursor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// Stable id, increasing in write order (`seq << 22 | index`).
    pub id: u64,
    /// The point.
    pub point: PointId,
    /// The sample's timestamp, or the start of a deleted range.
    pub ts: Timestamp,
    /// The sample's value (0 for a delete).
    pub value: f64,
    /// The sample's quality byte (0 for a delete).
    pub quality: u8,
    /// Sample or delete.
    pub kind: ChangeKind,
}

/// One closed statistics bucket read by a cursor.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketChange {
    /// The point.
    pub point: PointId,
    /// The bucket (its start is `row.bucket.start`).
    pub row: BucketRow,
}

/// A cursor as [`Db::cursors`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct CursorInfo {
    /// Its name.
    pub name: String,
    /// Id of the first change not acknowledged: everything below it is acknowledged.
    pub acked: u64,
    /// Id of the first change not read since the database opened (or the last rewind).
    pub read: u64,
    /// WAL records written and not yet acknowledged by this cursor (an upper bound on the
    /// backlog, counted in records).
    pub pending_records: u64,
    /// Per statistics tier read by this cursor: the first bucket not acknowledged, as
    /// (bucket start, point).
    pub buckets: Vec<(Tier, Timestamp, PointId)>,
}

/// A cursor's state; `acked*` are durable, `read*` are in memory only.
#[derive(Clone, Debug)]
pub(crate) struct CursorState {
    acked: u64,
    read: u64,
    /// The last change returned by a read (acknowledging it moves `acked` to `read`, past
    /// the rest of its WAL record).
    last_read: Option<u64>,
    hint: Hint,
    /// Per tier: (bucket start, point) of the first bucket not acknowledged / not read.
    acked_buckets: BTreeMap<u8, (Timestamp, PointId)>,
    read_buckets: BTreeMap<u8, (Timestamp, PointId)>,
    /// Where a tier starts when the cursor first reads it.
    bucket_origin: Timestamp,
}

/// Every cursor of a database.
#[derive(Debug, Default)]
pub(crate) struct Cursors {
    map: BTreeMap<String, CursorState>,
}

impl Cursors {
    /// The lowest acknowledged position (change id) of any cursor.
    pub(crate) fn min_acked(&self) -> Option<u64> {
        self.map.values().map(|c| c.acked).min()
    }

    /// The lowest WAL seq some cursor still needs, if any cursor exists.
    pub(crate) fn min_needed_seq(&self) -> Option<u64> {
        self.map.values().map(|c| change_seq(c.acked)).min()
    }

    /// Reads and checks the cursor files of `dir` without changing anything.
    pub(crate) fn load_checked(storage: &dyn Storage, dir: &Path) -> Result<Cursors> {
        Self::load_inner(storage, dir, false)
    }

    /// Loads the cursor files of `dir` (the database directory), removing left-over
    /// temporary files.
    pub(crate) fn load(storage: &dyn Storage, dir: &Path) -> Result<Cursors> {
        Self::load_inner(storage, dir, true)
    }

    fn load_inner(storage: &dyn Storage, dir: &Path, clean: bool) -> Result<Cursors> {
        let cdir = dir.join(CURSOR_DIR);
        let names = match storage.list(&cdir) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(format!("list {}", cdir.display()), e)),
        };
        let mut map = BTreeMap::new();
        for n in names {
            let path = cdir.join(&n);
            if n.ends_with(".tmp") {
                if !clean {
                    continue;
                }
                storage
                    .remove(&path)
                    .map_err(|e| Error::io(format!("remove {}", path.display()), e))?;
                continue;
            }
            let Some(stem) = n.strip_suffix(".cur") else {
                continue;
            };
            let bytes = storage
                .read(&path)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            let (name, st) = decode_cursor(&bytes, &path)?;
            if name != stem {
                return Err(Error::Corruption {
                    file: Some(path),
                    offset: Some(12),
                    msg: format!("cursor file names cursor {name:?}"),
                });
            }
            map.insert(name, st);
        }
        if clean && !map.is_empty() {
            // Make the entries seen here durable (as the WAL's recovery does for its
            // directory): a cursor file whose rename was never synced (the directory fsync
            // failed, then the process restarted) must not vanish at a later power loss
            // after the database has reported it.
            for d in [&cdir, dir] {
                storage
                    .sync_dir(d)
                    .map_err(|e| Error::io(format!("sync {}", d.display()), e))?;
            }
        }
        Ok(Cursors { map })
    }
}

/// Checks a cursor name: 1..=64 bytes of `A-Z a-z 0-9 _ - .`, not starting with a dot
/// (it is a file name).
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "cursor name {name:?}: use 1..=64 characters of A-Z a-z 0-9 _ - . (not starting with .)"
        )))
    }
}

pub(crate) fn encode_cursor(name: &str, st: &CursorState) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(CURSOR_MAGIC);
    put_u32(&mut out, CURSOR_VERSION);
    put_uvarint(&mut out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    put_u64(&mut out, st.acked);
    put_i64(&mut out, st.bucket_origin);
    put_uvarint(&mut out, st.acked_buckets.len() as u64);
    for (&tier, &(ts, point)) in &st.acked_buckets {
        out.push(tier);
        put_i64(&mut out, ts);
        put_u32(&mut out, point);
    }
    let crc = format::crc32(&[&out]);
    put_u32(&mut out, crc);
    out
}

pub(crate) fn decode_cursor(buf: &[u8], path: &Path) -> Result<(String, CursorState)> {
    let at = |off: usize, msg: String| Error::Corruption {
        file: Some(path.to_path_buf()),
        offset: Some(off as u64),
        msg,
    };
    if buf.len() < 16 {
        return Err(at(0, "cursor file is too short".into()));
    }
    let (body, crc) = buf.split_at(buf.len() - 4);
    if body[..8] != CURSOR_MAGIC[..] {
        return Err(at(0, "not a cursor file (bad magic)".into()));
    }
    let mut r = Reader::new(&body[8..]);
    let version = r.u32("version").map_err(|e| e.in_file(path, 8))?;
    if version != CURSOR_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            version,
        });
    }
    if format::crc32(&[body]) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(at(body.len(), "cursor file checksum mismatch".into()));
    }
    let parse = |r: &mut Reader<'_>| -> Result<(String, CursorState)> {
        let name = r.str(64, "cursor name")?.to_string();
        let acked = r.u64("acked id")?;
        let bucket_origin = r.i64("bucket origin")?;
        let n = r.len(16, "tier count")?;
        let mut acked_buckets = BTreeMap::new();
        for _ in 0..n {
            let tier = r.u8("tier")?;
            Tier::from_kind(tier).ok_or_else(|| r.corrupt_here(format!("unknown tier {tier}")))?;
            acked_buckets.insert(tier, (r.i64("bucket start")?, r.u32("bucket point")?));
        }
        if !r.is_empty() {
            return Err(r.corrupt_here("trailing bytes in cursor file"));
        }
        Ok((
            name,
            CursorState {
                acked,
                read: acked,
                last_read: None,
                hint: None,
                read_buckets: acked_buckets.clone(),
                acked_buckets,
                bucket_origin,
            },
        ))
    };
    parse(&mut r).map_err(|e| e.in_file(path, 0))
}

/// Replaces a file atomically: `path.tmp` written and synced, renamed over `path`, and the
/// directory synced.
pub(crate) fn replace_file(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |what: &str, p: &Path| {
        let ctx = format!("{what} {}", p.display());
        move |e| Error::io(ctx, e)
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = storage.create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    f.sync().map_err(io("sync", &tmp))?;
    drop(f);
    storage.rename(&tmp, path).map_err(io("rename", &tmp))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    storage.sync_dir(dir).map_err(io("sync", dir))
}

impl Inner {
    /// Moves every cursor whose acknowledged position is below `end` to `end`, durably;
    /// returns each one moved with its old position.
    pub(super) fn force_all_cursors(&self, end: u64) -> Result<Vec<(String, u64)>> {
        let mut cursors = self.cursors.lock();
        let mut out = Vec::new();
        for (name, c) in cursors.map.iter_mut() {
            if c.acked >= end {
                continue;
            }
            let mut st = c.clone();
            st.acked = end;
            st.read = st.read.max(end);
            st.hint = None;
            self.store_cursor(name, &st)?;
            out.push((name.clone(), c.acked));
            *c = st;
        }
        Ok(out)
    }

    fn cursor_path(&self, name: &str) -> PathBuf {
        self.dir.join(CURSOR_DIR).join(format!("{name}.cur"))
    }

    fn store_cursor(&self, name: &str, st: &CursorState) -> Result<()> {
        replace_file(
            &*self.storage,
            &self.cursor_path(name),
            &encode_cursor(name, st),
        )
    }

    /// Deletes the WAL files that neither recovery (`flushed_seq`) nor any cursor needs.
    pub(super) fn remove_obsolete_wal(&self, flushed_seq: u64) -> Result<()> {
        let cursors = self.cursors.lock();
        let keep_from = cursors
            .min_needed_seq()
            .map_or(flushed_seq, |s| s.saturating_sub(1).min(flushed_seq));
        self.wal.lock().remove_obsolete(keep_from)
    }

    /// Reads the changes with `id >= from`, up to the WAL record `upto_seq`, at most `max`.
    /// Returns them and the id of the first change not returned, and a hint for next time.
    pub(super) fn read_changes(
        &self,
        from: u64,
        hint: Hint,
        upto_seq: u64,
        max: usize,
    ) -> Result<(Vec<Change>, u64, Hint)> {
        let wal_dir = self.dir.join(super::WAL_DIR);
        let mut files: Vec<u64> = self
            .storage
            .list(&wal_dir)
            .map_err(|e| Error::io(format!("list {}", wal_dir.display()), e))?
            .iter()
            .filter_map(|n| wal::parse_file_name(n))
            .collect();
        files.sort_unstable();
        let from_seq = change_seq(from);
        // The file holding `from_seq`: the last one starting at or before it.
        let start = files.partition_point(|&f| f <= from_seq).saturating_sub(1);
        let catalog = self.catalog.read();
        let mut out = Vec::new();
        let mut next = from;
        let mut end_hint = None;
        for (fi, &first) in files.iter().enumerate().skip(start) {
            if first > upto_seq {
                break;
            }
            let path = wal_dir.join(wal::file_name(first));
            let bytes = self
                .storage
                .read(&path)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            let mut off = wal::FILE_HEADER_LEN;
            let mut expect = first;
            if let Some((hf, ho, hs)) = hint {
                if hf == first && hs <= from_seq && ho <= bytes.len() {
                    off = ho;
                    expect = hs;
                }
            }
            let is_last = fi + 1 == files.len();
            loop {
                if off >= bytes.len() {
                    break;
                }
                let (seq, payload, size) = match wal::record::decode_record(&bytes[off..]) {
                    Decoded::Record { seq, payload, size } => (seq, payload, size),
                    // The end of what the writer has put in the file so far.
                    Decoded::Partial(_) if is_last => break,
                    Decoded::Bad(_) if is_last => break,
                    Decoded::Partial(m) | Decoded::Bad(m) => {
                        return Err(Error::corrupt(m).in_file(&path, off as u64))
                    }
                };
                if seq != expect {
                    return Err(Error::corrupt(format!(
                        "wal record has seq {seq}, expected {expect}"
                    ))
                    .in_file(&path, off as u64));
                }
                if seq > upto_seq {
                    return Ok((
                        out,
                        next.max(change_id(upto_seq + 1, 0)),
                        hint_of(first, off, seq),
                    ));
                }
                if seq >= from_seq {
                    let rec = batch::decode(payload, &catalog)
                        .map_err(|e| e.in_file(&path, off as u64))?;
                    match rec {
                        batch::Record::Samples(v) => {
                            for i in 0..v.n {
                                let id = change_id(seq, i as u32);
                                if id < from {
                                    continue;
                                }
                                if out.len() == max {
                                    return Ok((out, id, hint_of(first, off, seq)));
                                }
                                out.push(Change {
                                    id,
                                    point: v.point(i),
                                    ts: v.ts(i),
                                    value: v.value(i),
                                    quality: v.quality[i],
                                    kind: ChangeKind::Sample,
                                });
                            }
                        }
                        batch::Record::Delete(point, f, t) => {
                            let id = change_id(seq, 0);
                            if id >= from {
                                if out.len() == max {
                                    return Ok((out, id, hint_of(first, off, seq)));
                                }
                                out.push(Change {
                                    id,
                                    point,
                                    ts: f,
                                    value: 0.0,
                                    quality: 0,
                                    kind: ChangeKind::Delete { to: t },
                                });
                            }
                        }
                        batch::Record::Define(..) => {}
                    }
                    next = change_id(seq + 1, 0);
                }
                off += size;
                expect = seq + 1;
                end_hint = hint_of(first, off, expect);
            }
        }
        Ok((
            out,
            next.max(change_id(upto_seq + 1, 0)).max(from),
            end_hint,
        ))
    }
}

fn hint_of(first: u64, off: usize, seq: u64) -> Hint {
    Some((first, off, seq))
}

impl Db {
    /// Creates a durable cursor named `name` (one per destination: 1..=64 characters of
    /// `A-Z a-z 0-9 _ - .`). Errors with `AlreadyExists` when it exists.
    ///
    /// [`CursorStart::Beginning`] starts at the oldest change still in the WAL: every change
    /// when the database has had a cursor since it was created; otherwise the WAL holds only
    /// what is not flushed yet (use a bundle of the older range to send history).
    pub fn create_cursor(&self, name: &str, start: CursorStart) -> Result<()> {
        check_name(name)?;
        let inner = &self.inner;
        inner.check_open()?;
        let mut cursors = inner.cursors.lock();
        if cursors.map.contains_key(name) {
            return Err(Error::AlreadyExists(format!("cursor {name:?} exists")));
        }
        let (acked, bucket_origin) = match start {
            CursorStart::Now => {
                // Sync first (as `cursor_read` does): a position past writes a power loss
                // can take back would skip the writes that reuse their seqs after it.
                let mut wal = inner.wal.lock();
                let last = wal.last_seq();
                if wal.synced_seq() < last {
                    inner.sync_to(&mut wal, last)?;
                }
                (
                    change_id(last + 1, 0),
                    inner.max_ts_seen().unwrap_or(MIN_TIMESTAMP),
                )
            }
            CursorStart::Beginning => (change_id(1, 0), MIN_TIMESTAMP),
        };
        let cdir = inner.dir.join(CURSOR_DIR);
        if !inner.storage.exists(&cdir) {
            inner
                .storage
                .create_dir_all(&cdir)
                .and_then(|()| inner.storage.sync_dir(&inner.dir))
                .map_err(|e| Error::io(format!("create {}", cdir.display()), e))?;
        }
        let st = CursorState {
            acked,
            read: acked,
            last_read: None,
            hint: None,
            acked_buckets: BTreeMap::new(),
            read_buckets: BTreeMap::new(),
            bucket_origin,
        };
        inner.store_cursor(name, &st)?;
        cursors.map.insert(name.to_string(), st);
        Ok(())
    }

    /// Removes a cursor (its file too); the WAL files only it kept are deleted by the next
    /// flush.
    pub fn drop_cursor(&self, name: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let mut cursors = inner.cursors.lock();
        if !cursors.map.contains_key(name) {
            return Err(Error::NotFound(format!("no cursor {name:?}")));
        }
        let path = inner.cursor_path(name);
        inner
            .storage
            .remove(&path)
            .map_err(|e| Error::io(format!("remove {}", path.display()), e))?;
        let dir = inner.dir.join(CURSOR_DIR);
        inner
            .storage
            .sync_dir(&dir)
            .map_err(|e| Error::io(format!("sync {}", dir.display()), e))?;
        cursors.map.remove(name);
        drop(cursors);
        let flushed = inner.files.lock().manifest.flushed_seq;
        inner.remove_obsolete_wal(flushed)
    }

    /// Every cursor, by name.
    pub fn cursors(&self) -> Vec<CursorInfo> {
        let inner = &self.inner;
        let cursors = inner.cursors.lock();
        let last = inner.wal.lock().last_seq();
        cursors
            .map
            .iter()
            .map(|(name, c)| CursorInfo {
                name: name.clone(),
                acked: c.acked,
                read: c.read,
                pending_records: (last + 1).saturating_sub(change_seq(c.acked)),
                buckets: c
                    .acked_buckets
                    .iter()
                    .filter_map(|(&t, &(ts, p))| Some((Tier::from_kind(t)?, ts, p)))
                    .collect(),
            })
            .collect()
    }

    /// Reads up to `max_changes` changes after the cursor's read position, in write order:
    /// samples (new, late, and corrections of samples sent before) and deletes. The read
    /// position moves past them (in memory); [`Db::cursor_ack`] makes progress durable.
    ///
    /// Only durable changes are returned: the WAL is synced first if it holds writes not
    /// yet synced (in `Durability::Interval` or `None` mode), so nothing is forwarded that
    /// a power loss could take back.
    pub fn cursor_read(&self, name: &str, max_changes: usize) -> Result<Vec<Change>> {
        let inner = &self.inner;
        inner.check_open()?;
        let mut cursors = inner.cursors.lock();
        let c = cursors
            .map
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
        let upto = {
            let mut wal = inner.wal.lock();
            let last = wal.last_seq();
            if wal.synced_seq() < last && inner.poison.lock().is_none() {
                inner.sync_to(&mut wal, last)?;
            }
            wal.synced_seq()
        };
        if max_changes == 0 || change_seq(c.read) > upto {
            return Ok(Vec::new());
        }
        let (out, next, hint) = inner.read_changes(c.read, c.hint, upto, max_changes)?;
        c.read = next;
        c.hint = hint;
        if let Some(l) = out.last() {
            c.last_read = Some(l.id);
        }
        Ok(out)
    }

    /// Acknowledges every change with id <= `up_to_id` (the last change the destination
    /// has stored), durably. Errors (`InvalidArgument`): an id not read yet, or one below
    /// an earlier acknowledgement. Acknowledging the last acknowledged id again is a no-op.
    pub fn cursor_ack(&self, name: &str, up_to_id: u64) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let mut cursors = inner.cursors.lock();
        let c = cursors
            .map
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
        let new = up_to_id
            .checked_add(1)
            .ok_or_else(|| Error::invalid("change id out of range"))?;
        // The last change read: everything up to the read position is acknowledged (so a
        // WAL record whose every change is acknowledged is no longer needed).
        let new = if c.last_read == Some(up_to_id) {
            c.read
        } else {
            new
        };
        if new > c.read {
            return Err(Error::invalid(format!(
                "cursor {name:?}: change {up_to_id} has not been read (read up to {})",
                c.read.saturating_sub(1)
            )));
        }
        if new < c.acked {
            return Err(Error::invalid(format!(
                "cursor {name:?}: change {up_to_id} is below the acknowledged position {}",
                c.acked.saturating_sub(1)
            )));
        }
        if new == c.acked {
            return Ok(());
        }
        let mut st = c.clone();
        st.acked = new;
        inner.store_cursor(name, &st)?;
        c.acked = new;
        drop(cursors);
        let flushed = inner.files.lock().manifest.flushed_seq;
        inner.remove_obsolete_wal(flushed)?;
        if inner.full.load(std::sync::atomic::Ordering::Acquire) {
            inner.apply_retention()?;
        }
        Ok(())
    }

    /// Moves the cursor's read position back to its acknowledged position (and its
    /// statistics positions too), so the next reads send again what was not acknowledged,
    /// e.g. after a failed upload.
    pub fn cursor_rewind(&self, name: &str) -> Result<()> {
        let mut cursors = self.inner.cursors.lock();
        let c = cursors
            .map
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
        c.read = c.acked;
        c.last_read = None;
        c.hint = None;
        c.read_buckets = c.acked_buckets.clone();
        Ok(())
    }

    /// Reads up to `max` closed statistics buckets of `tier`, of every point, after the
    /// cursor's position for that tier, ordered by (bucket start, point). A bucket is
    /// closed when its end is at or before `watermark`, or, when `None`, the newest sample
    /// time the database has seen. Buckets are computed by [`Db::rollup`] when read, and
    /// each is sent once: a late sample that changes a bucket already acknowledged is not
    /// sent again here (it is in the raw changes of [`Db::cursor_read`]). Buckets without
    /// samples are skipped. The position starts at the bucket open when the cursor was
    /// created ([`CursorStart::Now`]) or at the oldest data (`Beginning`).
    pub fn cursor_read_buckets(
        &self,
        name: &str,
        tier: Tier,
        max: usize,
        watermark: Option<Timestamp>,
    ) -> Result<Vec<BucketChange>> {
        let inner = &self.inner;
        inner.check_open()?;
        let (pos, _origin) = {
            let mut cursors = inner.cursors.lock();
            let c = cursors
                .map
                .get_mut(name)
                .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
            let origin = c.bucket_origin;
            let pos = *c
                .read_buckets
                .entry(tier as u8)
                .or_insert((tier.bucket_start(origin, inner.tz), 0));
            (pos, origin)
        };
        let Some(wm) = watermark.or_else(|| inner.max_ts_seen()) else {
            return Ok(Vec::new());
        };
        let wm = wm.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
        let from = pos.0.max(MIN_TIMESTAMP);
        if from >= wm {
            return Ok(Vec::new());
        }
        let npoints = inner.catalog.read().len() as PointId;
        let mut all = Vec::new();
        for p in 0..npoints {
            for row in self.rollup(p, tier, from, wm)? {
                if row.end > wm || row.bucket.count == 0 {
                    continue;
                }
                if (row.bucket.start, p) < pos {
                    continue;
                }
                all.push(BucketChange { point: p, row });
            }
        }
        all.sort_by_key(|b| (b.row.bucket.start, b.point));
        all.truncate(max);
        let mut cursors = inner.cursors.lock();
        if let Some(c) = cursors.map.get_mut(name) {
            let next = match all.last() {
                Some(b) => (b.row.bucket.start, b.point.saturating_add(1)),
                None => pos,
            };
            c.read_buckets.insert(tier as u8, next);
        }
        Ok(all)
    }

    /// Acknowledges, durably, every bucket of `tier` up to and including the bucket of
    /// `point` starting at `start` (in the order of [`Db::cursor_read_buckets`]).
    pub fn cursor_ack_buckets(
        &self,
        name: &str,
        tier: Tier,
        start: Timestamp,
        point: PointId,
    ) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let mut cursors = inner.cursors.lock();
        let c = cursors
            .map
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
        let new = (start, point.saturating_add(1));
        let read = c.read_buckets.get(&(tier as u8)).copied();
        if read.is_none_or(|r| new > r) {
            return Err(Error::invalid(format!(
                "cursor {name:?}: bucket ({start}, point {point}) of {tier:?} has not been read"
            )));
        }
        if let Some(&a) = c.acked_buckets.get(&(tier as u8)) {
            if new < a {
                return Err(Error::invalid(format!(
                    "cursor {name:?}: bucket ({start}, point {point}) is below the acknowledged position"
                )));
            }
        }
        let mut st = c.clone();
        st.acked_buckets.insert(tier as u8, new);
        inner.store_cursor(name, &st)?;
        c.acked_buckets = st.acked_buckets;
        Ok(())
    }
}
