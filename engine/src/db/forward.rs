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
//! `docs/format/cursor.md`), replaced atomically. The read position is kept in memory only: after
//! a reopen or a crash, reading resumes at the acknowledged position (at-least-once).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{batch, Db, Inner, State};
use crate::catalog::PointId;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, put_i64, put_u32, put_u64, put_uvarint, Reader};
use crate::io::Storage;
use crate::memtable::Memtable;
use crate::query::Snapshot;
use crate::rollup::{BucketRow, Tier};
use crate::sample::{Columns, Quality, Timestamp, MAX_TIMESTAMP, MIN_TIMESTAMP};
use crate::wal::{self, record::Decoded};

/// Where the WAL record with seq `.2` starts: (file first seq, byte offset, seq).
type Hint = Option<(u64, usize, u64)>;

/// Bits of a change id that hold the change's index within its WAL record.
pub const CHANGE_INDEX_BITS: u32 = 22;

/// The directory of cursor files, inside the database directory.
pub(crate) const CURSOR_DIR: &str = "cursors";
const CURSOR_MAGIC: &[u8; 8] = b"MDBCUR\0\0";
/// Cursor files without buckets to deliver again are written in version 1 (as before);
/// with some, in version 2, which adds them after the acknowledged positions.
const CURSOR_VERSION: u32 = 1;
const CURSOR_VERSION_REDELIVER: u32 = 2;

/// A statistics bucket in cursor order: (bucket start, point).
type BucketKey = (Timestamp, PointId);

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
    /// The database's revision when the bucket was read: the WAL's last durable seq. It
    /// never decreases, across reopens too, and a bucket delivered again because its data
    /// changed always has a higher revision than any earlier delivery of it (the change
    /// itself has a higher seq). Two deliveries with no write between them have the same
    /// revision (and the same figures). A receiver keeps, per bucket, the figures of the
    /// highest revision it has seen.
    pub revision: u64,
    /// Whether this is a delivery again of a bucket already sent, whose figures changed
    /// since (late data, a correction, a delete, an invalidated reading, a meter
    /// replacement recorded late).
    pub corrected: bool,
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
    /// Per tier (durable): buckets below the read position whose raw data changed after
    /// they were read, to deliver again, each with the WAL seq of the flush that found the
    /// change (a later change marks the bucket again with a higher seq).
    redeliver: BTreeMap<u8, BTreeMap<BucketKey, u64>>,
    /// Per tier (in memory): what reads returned and is not acknowledged yet, in read order.
    log: BTreeMap<u8, Vec<ReadEntry>>,
    /// Per tier (in memory): while a read computes its buckets, the position below which a
    /// flush also marks changed buckets (the read may deliver up to there).
    inflight: BTreeMap<u8, BucketKey>,
}

/// What one read of a statistics tier returned, for acknowledgements.
#[derive(Clone, Debug, PartialEq)]
enum ReadEntry {
    /// A bucket delivered again, with the mark (seq) it was delivered for.
    Again(BucketKey, u64),
    /// The new buckets from the first position to the second (exclusive).
    New(BucketKey, BucketKey),
}

impl CursorState {
    /// The position below which a flush marks a changed bucket of tier `t` for delivery
    /// again, if the cursor reads that tier.
    fn mark_bound(&self, t: u8) -> Option<BucketKey> {
        let read = self.read_buckets.get(&t).copied();
        match (read, self.inflight.get(&t).copied()) {
            (Some(r), Some(i)) => Some(r.max(i)),
            (r, i) => r.or(i),
        }
    }
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
    let again = st.redeliver.values().any(|m| !m.is_empty());
    put_u32(
        &mut out,
        if again {
            CURSOR_VERSION_REDELIVER
        } else {
            CURSOR_VERSION
        },
    );
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
    if again {
        let tiers: Vec<_> = st.redeliver.iter().filter(|(_, m)| !m.is_empty()).collect();
        put_uvarint(&mut out, tiers.len() as u64);
        for (&tier, marks) in tiers {
            out.push(tier);
            put_uvarint(&mut out, marks.len() as u64);
            for (&(ts, point), &seq) in marks {
                put_i64(&mut out, ts);
                put_u32(&mut out, point);
                put_uvarint(&mut out, seq);
            }
        }
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
    if version != CURSOR_VERSION && version != CURSOR_VERSION_REDELIVER {
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
        let mut redeliver: BTreeMap<u8, BTreeMap<BucketKey, u64>> = BTreeMap::new();
        if version == CURSOR_VERSION_REDELIVER {
            let n = r.len(16, "redelivery tier count")?;
            for _ in 0..n {
                let tier = r.u8("tier")?;
                Tier::from_kind(tier)
                    .ok_or_else(|| r.corrupt_here(format!("unknown tier {tier}")))?;
                // At least 13 bytes an entry.
                let m = r.len(r.remaining() / 13 + 1, "redelivery count")?;
                let marks = redeliver.entry(tier).or_default();
                for _ in 0..m {
                    let key = (r.i64("bucket start")?, r.u32("bucket point")?);
                    marks.insert(key, r.uvarint("mark seq")?);
                }
            }
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
                redeliver,
                log: BTreeMap::new(),
                inflight: BTreeMap::new(),
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
            redeliver: BTreeMap::new(),
            log: BTreeMap::new(),
            inflight: BTreeMap::new(),
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
        c.log.clear();
        Ok(())
    }

    /// Reads up to `max` closed statistics buckets of `tier`, of every point: first the
    /// buckets to deliver again, then new ones.
    ///
    /// - **New buckets** follow the cursor's position for that tier, ordered by (bucket
    ///   start, point). A bucket is closed when its end is at or before `watermark`, or,
    ///   when `None`, the newest sample time the database has seen. Buckets without samples
    ///   are skipped. The position starts at the bucket open when the cursor was created
    ///   ([`CursorStart::Now`]) or at the oldest data (`Beginning`).
    /// - **Buckets delivered again** (`corrected`, before the new ones, ordered by (start,
    ///   point)): buckets below the position whose raw data changed after they were read:
    ///   late samples, corrections, deletes, readings rewritten as invalid, meter
    ///   replacements recorded late (for a counter, a change also reaches the buckets of the
    ///   nearest valid readings on either side, whose consumption it interpolates). Each is
    ///   computed again when read; one that no longer has samples is dropped. A change is
    ///   found when its data is flushed (and a read that has something to deliver flushes
    ///   unflushed data first, so changes written before it come at once); the buckets to
    ///   deliver again are kept in the cursor file, so that a change acknowledged by a
    ///   write is delivered again after a crash too, and memory grows with the number of
    ///   changed buckets only. A bucket read again and not acknowledged is not returned by
    ///   the next reads, unless it changes again or the cursor is rewound (or the database
    ///   reopened).
    ///
    /// Every bucket carries the read's `revision` (see [`BucketChange::revision`]). Buckets
    /// are computed by [`Db::rollup`].
    pub fn cursor_read_buckets(
        &self,
        name: &str,
        tier: Tier,
        max: usize,
        watermark: Option<Timestamp>,
    ) -> Result<Vec<BucketChange>> {
        let inner = &self.inner;
        inner.check_open()?;
        let t = tier as u8;
        let tz = inner.tz;
        // The position; marks at or past it are moot (those buckets come as new ones, with
        // the data as it is then).
        let (pos, pending) = {
            let mut cursors = inner.cursors.lock();
            let c = cursors
                .map
                .get_mut(name)
                .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
            let origin = c.bucket_origin;
            let pos = *c
                .read_buckets
                .entry(t)
                .or_insert((tier.bucket_start(origin, tz), 0));
            let pending = match c.redeliver.get_mut(&t) {
                Some(m) => {
                    m.retain(|k, _| *k < pos);
                    !m.is_empty()
                }
                None => false,
            };
            (pos, pending)
        };
        let wm = watermark
            .or_else(|| inner.max_ts_seen())
            .map(|w| w.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP));
        let from = pos.0.max(MIN_TIMESTAMP);
        let new_possible = wm.is_some_and(|w| from < w && tier.bucket_end(from, tz) <= w);
        if max == 0 {
            return Ok(Vec::new());
        }
        // Data written before this read and not flushed yet would be found changed when it
        // is flushed, after this read has delivered it: flush it first when there is
        // something to deliver (or when it changes buckets already read).
        let unflushed = {
            let st = inner.state.read();
            !st.mem.is_empty() || !st.frozen.is_empty()
        };
        if unflushed && inner.poison.lock().is_none() {
            let deliver = new_possible
                || pending
                || !inner.changed_buckets(&[(t, pos)], None, true)?.is_empty();
            if deliver {
                inner.flush()?;
            }
        }
        // Only durable data is delivered; the revision is the WAL's durable seq.
        let revision = {
            let mut wal = inner.wal.lock();
            let last = wal.last_seq();
            if wal.synced_seq() < last && inner.poison.lock().is_none() {
                inner.sync_to(&mut wal, last)?;
            }
            wal.synced_seq()
        };
        // While the buckets are computed, a flush marks what changes below the watermark.
        let again: Vec<(BucketKey, u64)> = {
            let mut cursors = inner.cursors.lock();
            let c = cursors
                .map
                .get_mut(name)
                .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
            c.inflight.insert(t, (wm.unwrap_or(from), 0).max(pos));
            let log = c.log.get(&t);
            let in_flight =
                |k: &BucketKey, m: u64| log.is_some_and(|l| l.contains(&ReadEntry::Again(*k, m)));
            c.redeliver.get(&t).map_or_else(Vec::new, |m| {
                m.iter()
                    .filter(|(k, &s)| **k < pos && !in_flight(k, s))
                    .take(max)
                    .map(|(&k, &s)| (k, s))
                    .collect()
            })
        };
        let computed = self.compute_buckets(tier, max, pos, wm, &again, revision);
        let mut cursors = inner.cursors.lock();
        let Some(c) = cursors.map.get_mut(name) else {
            return Err(Error::NotFound(format!("no cursor {name:?}")));
        };
        c.inflight.remove(&t);
        let (out, gone) = computed?;
        // Buckets to deliver again that no longer exist are dropped (unless marked again).
        if let Some(m) = c.redeliver.get_mut(&t) {
            for (k, s) in &gone {
                if m.get(k) == Some(s) {
                    m.remove(k);
                }
            }
        }
        let log = c.log.entry(t).or_default();
        let mut next = pos;
        for b in &out {
            let k = (b.row.bucket.start, b.point);
            if b.corrected {
                let s = again.iter().find(|x| x.0 == k).map_or(0, |x| x.1);
                log.push(ReadEntry::Again(k, s));
            } else {
                next = (k.0, k.1.saturating_add(1));
            }
        }
        if next != pos {
            log.push(ReadEntry::New(pos, next));
            c.read_buckets.insert(t, next);
        }
        Ok(out)
    }

    /// The buckets of a read: `again` computed again (those gone are returned apart), then
    /// new closed buckets from `pos`, at most `max` in all.
    #[allow(clippy::type_complexity)]
    fn compute_buckets(
        &self,
        tier: Tier,
        max: usize,
        pos: BucketKey,
        wm: Option<Timestamp>,
        again: &[(BucketKey, u64)],
        revision: u64,
    ) -> Result<(Vec<BucketChange>, Vec<(BucketKey, u64)>)> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for &((start, p), s) in again {
            let row = match self.rollup(p, tier, start, start.saturating_add(1)) {
                Ok(rows) => rows
                    .into_iter()
                    .find(|r| r.bucket.start == start && r.bucket.count > 0),
                // A point that no longer keeps the tier.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::NotFound) => {
                    None
                }
                Err(e) => return Err(e),
            };
            match row {
                Some(row) => out.push(BucketChange {
                    point: p,
                    row,
                    revision,
                    corrected: true,
                }),
                None => gone.push(((start, p), s)),
            }
        }
        let Some(wm) = wm else {
            return Ok((out, gone));
        };
        let from = pos.0.max(MIN_TIMESTAMP);
        if from >= wm || out.len() >= max {
            return Ok((out, gone));
        }
        let npoints = self.inner.catalog.read().len() as PointId;
        let mut all = Vec::new();
        for p in 0..npoints {
            for row in self.rollup(p, tier, from, wm)? {
                if row.end > wm || row.bucket.count == 0 {
                    continue;
                }
                if (row.bucket.start, p) < pos {
                    continue;
                }
                all.push(BucketChange {
                    point: p,
                    row,
                    revision,
                    corrected: false,
                });
            }
        }
        all.sort_by_key(|b| (b.row.bucket.start, b.point));
        all.truncate(max - out.len());
        out.extend(all);
        Ok((out, gone))
    }

    /// Acknowledges, durably, the bucket of `tier` of `point` starting at `start` and
    /// everything read before it, in the order reads returned them (see
    /// [`Db::cursor_read_buckets`]): acknowledging a new bucket acknowledges the new buckets
    /// before it and every bucket delivered again by the same read or an earlier one;
    /// acknowledging a bucket delivered again acknowledges the buckets before it in its
    /// read (and earlier reads), not the new ones after it. A bucket delivered again whose
    /// data changed again after that read stays to be delivered again. Errors
    /// (`InvalidArgument`): a bucket not read, or one below the acknowledged position that
    /// was not delivered again; acknowledging the last acknowledged new bucket again is a
    /// no-op.
    pub fn cursor_ack_buckets(
        &self,
        name: &str,
        tier: Tier,
        start: Timestamp,
        point: PointId,
    ) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let t = tier as u8;
        let mut cursors = inner.cursors.lock();
        let c = cursors
            .map
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("no cursor {name:?}")))?;
        let k = (start, point);
        let after = (start, point.saturating_add(1));
        let log = c.log.get(&t).map_or(&[][..], |l| &l[..]);
        let Some(i) = log.iter().position(|e| match *e {
            ReadEntry::Again(x, _) => x == k,
            ReadEntry::New(f, u) => f <= k && k < u,
        }) else {
            let acked = c.acked_buckets.get(&t).copied();
            if acked == Some(after) {
                return Ok(());
            }
            if acked.is_some_and(|a| after < a) {
                return Err(Error::invalid(format!(
                    "cursor {name:?}: bucket ({start}, point {point}) is below the acknowledged position"
                )));
            }
            return Err(Error::invalid(format!(
                "cursor {name:?}: bucket ({start}, point {point}) of {tier:?} has not been read"
            )));
        };
        let mut st = c.clone();
        let marks = st.redeliver.entry(t).or_default();
        let mut rest: Vec<ReadEntry> = log[i + 1..].to_vec();
        for (j, e) in log[..=i].iter().enumerate() {
            match *e {
                ReadEntry::Again(x, s) => {
                    if marks.get(&x) == Some(&s) {
                        marks.remove(&x);
                    }
                }
                ReadEntry::New(_, u) => {
                    let to = if j == i { after } else { u };
                    st.acked_buckets.insert(t, to);
                    if to < u {
                        rest.insert(0, ReadEntry::New(to, u));
                    }
                }
            }
        }
        if marks.is_empty() {
            st.redeliver.remove(&t);
        }
        st.log.insert(t, rest);
        inner.store_cursor(name, &st)?;
        *c = st;
        Ok(())
    }
}

impl Inner {
    /// The flush hook: marks, in every cursor reading statistics, the buckets below its
    /// position whose data `frozen` (flushed up to WAL seq `seq`) changes, and stores the
    /// cursors that got new marks. Runs before the flush is committed (its WAL files are
    /// still needed), so that a crash before the marks are durable replays the changes.
    pub(super) fn mark_changed_buckets(&self, frozen: &Memtable, seq: u64) -> Result<()> {
        let mut cursors = self.cursors.lock();
        // Per tier, the highest position of any cursor.
        let mut bounds: BTreeMap<u8, BucketKey> = BTreeMap::new();
        for c in cursors.map.values() {
            for &t in c.read_buckets.keys().chain(c.inflight.keys()) {
                if let Some(b) = c.mark_bound(t) {
                    let e = bounds.entry(t).or_insert(b);
                    *e = (*e).max(b);
                }
            }
        }
        if bounds.is_empty() {
            return Ok(());
        }
        let bounds: Vec<(u8, BucketKey)> = bounds.into_iter().collect();
        let marks = self.changed_buckets(&bounds, Some(frozen), false)?;
        if marks.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = cursors.map.keys().cloned().collect();
        for name in names {
            let c = cursors.map.get_mut(&name).expect("a cursor listed");
            let mut st = c.clone();
            let mut changed = false;
            for &(t, k) in &marks {
                if st.mark_bound(t).is_some_and(|b| k < b) {
                    st.redeliver.entry(t).or_default().insert(k, seq);
                    changed = true;
                }
            }
            if changed {
                self.store_cursor(&name, &st)?;
                *c = st;
            }
        }
        Ok(())
    }

    /// The buckets (tier, (start, point)) below the tier's bound in `bounds` whose data the
    /// memtable `only` changes (or, with `None`, any unflushed memtable): each bucket a
    /// changed span overlaps and, for a counter, the buckets of the nearest valid readings
    /// before and after the span, whose interpolation to the bucket boundaries the change
    /// moves. With `first`, stops at the first one.
    fn changed_buckets(
        &self,
        bounds: &[(u8, BucketKey)],
        only: Option<&Memtable>,
        first: bool,
    ) -> Result<Vec<(u8, BucketKey)>> {
        let tz = self.tz;
        let bounds: Vec<(Tier, BucketKey)> = bounds
            .iter()
            .filter_map(|&(t, b)| Some((Tier::from_kind(t)?, b)))
            .collect();
        let Some(top) = bounds.iter().map(|b| b.1 .0).max() else {
            return Ok(Vec::new());
        };
        let counters: Vec<bool> = {
            let cat = self.catalog.read();
            (0..cat.len() as PointId)
                .map(|p| {
                    cat.get(p)
                        .is_some_and(|m| m.kind == crate::PointKind::Counter)
                })
                .collect()
        };
        let st = self.state.read();
        let snap = Snapshot {
            version: st.version.clone(),
            frozen: st.frozen.iter().map(|f| f.0.clone()).collect(),
        };
        let mems: Vec<&Memtable> = match only {
            Some(m) => vec![m],
            None => std::iter::once(&st.mem)
                .chain(st.frozen.iter().map(|f| &*f.0))
                .collect(),
        };
        let read = |p: PointId, f: Timestamp, to: Timestamp| -> Result<Columns> {
            read_now(&st, &snap, p, f, to)
        };
        let mut out = Vec::new();
        let mut spans = Vec::new();
        for mem in mems {
            for (point, _, _) in mem.iter_points() {
                spans.clear();
                mem.touched(point, &mut spans);
                spans.sort_unstable();
                // Only spans that start before a bucket that can be below a bound matter.
                if spans
                    .first()
                    .is_none_or(|s| s.0 >= top.saturating_add(MAX_BUCKET_MS))
                {
                    continue;
                }
                let counter = counters.get(point as usize).copied().unwrap_or(false);
                let spans = merged(&spans);
                for &(tier, bound) in &bounds {
                    for &(a, b) in &spans {
                        let (a, b) = (a.max(MIN_TIMESTAMP), b.min(MAX_TIMESTAMP + 1));
                        if a >= b {
                            continue;
                        }
                        let below = |s: Timestamp| (s, point) < bound;
                        let lo = tier.bucket_start(a, tz);
                        let hi = tier.bucket_start(b - 1, tz);
                        let mut s = lo;
                        while s <= hi && below(s) {
                            out.push((tier as u8, (s, point)));
                            s = tier.bucket_end(s, tz);
                        }
                        if counter {
                            // The nearest valid reading before the span, when it is in an
                            // earlier bucket below the bound.
                            if below(tier.shift(lo, -1, tz)) && !any_valid(&read(point, lo, a)?) {
                                if let Some(x) = walk(&read, tier, tz, point, lo, true, bound.0)? {
                                    out.push((tier as u8, (x, point)));
                                }
                            }
                            // The nearest valid reading after it.
                            let end = tier.bucket_end(hi, tz);
                            if below(end) && !any_valid(&read(point, b, end)?) {
                                let limit = tier.bucket_end(bound.0, tz);
                                if let Some(x) = walk(&read, tier, tz, point, end, false, limit)? {
                                    if below(x) {
                                        out.push((tier as u8, (x, point)));
                                    }
                                }
                            }
                        }
                        if first && !out.is_empty() {
                            return Ok(out);
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// The longest bucket of a tier (a year), for a quick bound check.
const MAX_BUCKET_MS: i64 = 366 * 86_400_000;

/// How far [`walk`] looks for a neighbouring valid reading: 2^10 - 1 buckets.
const WALK_STEPS: u32 = 10;

/// A point's data in `[from, to)` as of now: segments, frozen memtables, the active one.
fn read_now(
    st: &State,
    snap: &Snapshot,
    point: PointId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Columns> {
    if from >= to {
        return Ok(Columns::default());
    }
    let active = st.mem.read(point, from, to);
    snap.read(point, from, to, Some(&active))
}

fn any_valid(c: &Columns) -> bool {
    c.quality.iter().any(|&q| Quality(q).is_valid())
}

/// The bucket start of the nearest valid reading before `at` (`back`) or at or after it,
/// looking in windows of 1, 2, 4, ... buckets; forward, only below `limit`.
fn walk(
    read: &dyn Fn(PointId, Timestamp, Timestamp) -> Result<Columns>,
    tier: Tier,
    tz: i32,
    point: PointId,
    at: Timestamp,
    back: bool,
    limit: Timestamp,
) -> Result<Option<Timestamp>> {
    let mut edge = at;
    for step in 0..WALK_STEPS {
        let n = 1i64 << step;
        let (f, t) = if back {
            let f = tier.shift(edge, -n, tz).max(MIN_TIMESTAMP);
            (f, edge)
        } else {
            if edge >= limit {
                return Ok(None);
            }
            (
                edge,
                tier.shift(edge, n, tz).min(limit).min(MAX_TIMESTAMP + 1),
            )
        };
        if f >= t {
            return Ok(None);
        }
        let c = read(point, f, t)?;
        let ok = |i: &usize| Quality(c.quality[*i]).is_valid();
        let hit = if back {
            (0..c.len()).rev().find(ok)
        } else {
            (0..c.len()).find(ok)
        };
        if let Some(i) = hit {
            return Ok(Some(tier.bucket_start(c.ts[i], tz)));
        }
        edge = if back { f } else { t };
        if back && f == MIN_TIMESTAMP {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Sorted spans merged where they overlap or touch.
fn merged(spans: &[(Timestamp, Timestamp)]) -> Vec<(Timestamp, Timestamp)> {
    let mut out: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(spans.len());
    for &(a, b) in spans {
        match out.last_mut() {
            Some(l) if a <= l.1 => l.1 = l.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}
