//! Immutable columnar segment files: one per flush (or compaction) and time partition.
//!
//! A segment holds, for each point with data in its partition, one block of three columns
//! (timestamps, values, quality), each encoded by the codec chosen for that point's data, and
//! an index with each block's checksum and summary statistics, so that queries can answer
//! from the statistics without decoding. Tombstones (deleted ranges) recorded in a segment
//! hide data of older segments of the same partition. The byte layout is in `docs/format/segment.md`.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::catalog::PointId;
use crate::codec::{self, Codec, CodecOptions};
use crate::error::{Error, Result};
use crate::format::{self, put_f64, put_i64, put_u32, put_u64, put_uvarint, Reader};
use crate::io::{FileBytes, Storage};
use crate::memtable::Tombstone;
use crate::sample::{Columns, Timestamp};

const MAGIC: &[u8; 8] = b"MDBSEG\0\0";
const FOOTER_MAGIC: &[u8; 8] = b"MDBSEGFT";
/// Format version of segment files written by this build. Version 1 files are read too:
/// their index entries also hold a block's min, max and sum, and 8-byte times.
pub const VERSION: u32 = 2;
/// The oldest version read.
pub const MIN_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8 + 8 + 8 + 4;
const FOOTER_LEN: usize = 8 + 8 + 4 + 4 + 8;
/// Most samples in one block (a partition of one point).
pub const MAX_BLOCK_SAMPLES: usize = 1 << 26;

/// Summary of one block: its count and time range, and for raw data its first and last
/// values (what a query needs to skip a block, or to answer the latest sample, without
/// decoding it).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockStats {
    /// Samples (rows) in the block.
    pub count: u32,
    /// Smallest timestamp.
    pub min_ts: Timestamp,
    /// Largest timestamp.
    pub max_ts: Timestamp,
    /// Value at `min_ts` (raw blocks; 0 in the rollup blocks of version 2 files).
    pub first: f64,
    /// Value at `max_ts` (raw blocks; 0 in the rollup blocks of version 2 files).
    pub last: f64,
}

impl BlockStats {
    /// Statistics of sorted, non-empty columns.
    pub fn of(c: &Columns) -> BlockStats {
        BlockStats {
            count: c.len() as u32,
            min_ts: c.ts[0],
            max_ts: c.ts[c.len() - 1],
            first: c.values[0],
            last: c.values[c.len() - 1],
        }
    }
}

/// Where a block lies in its file, and its statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockMeta {
    /// The point.
    pub point: PointId,
    /// Offset of the block's first byte in the file.
    pub offset: u64,
    /// Length of each column, in order (raw data: timestamps, values, quality).
    pub cols: Vec<u32>,
    /// CRC-32 of the file id, point, offset and the columns.
    pub crc: u32,
    /// Summary statistics.
    pub stats: BlockStats,
}

impl BlockMeta {
    /// Bytes of all columns.
    pub fn len(&self) -> u64 {
        self.cols.iter().map(|&c| u64::from(c)).sum()
    }
    /// Whether the block has no bytes (never the case for a stored block).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most columns in one block.
pub const MAX_COLUMNS: usize = 32;

/// What a segment file holds: raw samples (other kinds are rollup tiers 1 ..= 5).
pub const KIND_RAW: u8 = 0;

/// Identity of a segment file, as the manifest records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentId {
    /// [`KIND_RAW`] for raw samples, or a rollup tier's number (1 minute ..= 5 year).
    pub kind: u8,
    /// Unique file number (also in the file name).
    pub file_no: u64,
    /// Order of precedence: data of a higher generation replaces data of a lower one.
    pub generation: u64,
    /// First millisecond of the time partition.
    pub part_start: Timestamp,
    /// End (exclusive) of the time partition.
    pub part_end: Timestamp,
}

/// Names of the kinds of segment file, used as file name prefixes.
const KIND_NAMES: [&str; 6] = ["seg", "minute", "hour", "day", "month", "year"];

/// File name of a segment: kind, partition start (UTC date) and file number, e.g.
/// `seg-20261123-0000000012.seg` for raw data, `day-20240101-0000000013.seg` for a tier.
pub fn file_name(id: &SegmentId) -> String {
    let days = id.part_start.div_euclid(86_400_000);
    let (y, m, d) = crate::time::civil_from_days(days);
    let kind = KIND_NAMES
        .get(id.kind as usize)
        .copied()
        .unwrap_or("unknown");
    format!("{kind}-{y:04}{m:02}{d:02}-{:010}.seg", id.file_no)
}

/// Whether a file name is one that [`file_name`] makes.
pub fn is_segment_file_name(name: &str) -> bool {
    name.ends_with(".seg")
        && KIND_NAMES
            .iter()
            .any(|k| name.starts_with(&format!("{k}-")))
}

fn block_crc(file_no: u64, point: PointId, offset: u64, cols: &[u8]) -> u32 {
    format::crc32(&[
        &file_no.to_le_bytes(),
        &point.to_le_bytes(),
        &offset.to_le_bytes(),
        cols,
    ])
}

/// One point's input to [`encode`]: sorted columns and tombstones.
#[derive(Debug)]
pub struct PointData<'a> {
    /// The point.
    pub point: PointId,
    /// Sorted samples, no repeated timestamps, all inside the partition.
    pub cols: &'a Columns,
    /// Deleted ranges that hide older segments' data, clipped to the partition.
    pub tombstones: &'a [Tombstone],
}

/// One block ready to be written: its encoded columns and statistics.
#[derive(Debug)]
pub struct EncodedBlock {
    /// The point.
    pub point: PointId,
    /// The encoded columns one after the other, each self-describing (codec tag first).
    pub bytes: Vec<u8>,
    /// Length of each column in `bytes`, in order.
    pub lens: Vec<u32>,
    /// Statistics of the block (for raw data, of its samples).
    pub stats: BlockStats,
}

impl EncodedBlock {
    /// A block of no columns yet, with room for `columns` columns of about `bytes` bytes.
    pub fn with_capacity(point: PointId, columns: usize, bytes: usize) -> EncodedBlock {
        EncodedBlock {
            point,
            bytes: Vec::with_capacity(bytes),
            lens: Vec::with_capacity(columns),
            stats: BlockStats::default(),
        }
    }

    /// Appends a column written by `write` (which appends its bytes to the vector it is
    /// given).
    pub fn push_column<R>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let start = self.bytes.len();
        let r = write(&mut self.bytes);
        self.lens.push((self.bytes.len() - start) as u32);
        r
    }
}

/// Encodes the raw samples of one point as a block: timestamps, values, quality.
pub fn encode_raw_block(point: PointId, cols: &Columns, opts: &CodecOptions) -> EncodedBlock {
    let mut b = EncodedBlock::with_capacity(point, 3, 2 * cols.len() + 32);
    b.push_column(|out| codec::encode_timestamps(&cols.ts, opts, out));
    b.push_column(|out| codec::encode_values(&cols.values, opts, out));
    b.push_column(|out| codec::encode_quality(&cols.quality, opts, out));
    b.stats = BlockStats::of(cols);
    b
}

/// Encodes a raw segment file. Points must come in increasing id order.
pub fn encode(id: &SegmentId, points: &[PointData<'_>], opts: &CodecOptions) -> Vec<u8> {
    let blocks: Vec<EncodedBlock> = points
        .iter()
        .filter(|p| !p.cols.is_empty())
        .map(|p| encode_raw_block(p.point, p.cols, opts))
        .collect();
    let tombs: Vec<(PointId, Tombstone)> = points
        .iter()
        .flat_map(|p| p.tombstones.iter().map(move |t| (p.point, *t)))
        .collect();
    encode_blocks(id, &blocks, &tombs)
}

/// Encodes a segment file of any kind from encoded blocks (in increasing point order) and
/// tombstones, in memory (see [`SegmentWriter`] for writing one block at a time to a file).
pub fn encode_blocks(
    id: &SegmentId,
    blocks: &[EncodedBlock],
    tombs: &[(PointId, Tombstone)],
) -> Vec<u8> {
    let mut w = SegmentWriter::in_memory(id, 64 * blocks.len());
    for b in blocks {
        w.push(b);
    }
    w.finish_in_memory(tombs)
}

/// Bytes a [`SegmentWriter`] gathers before it writes them to its file.
const WRITE_CHUNK: usize = 1 << 20;

/// Writes a segment file one block at a time: the blocks' bodies go to the file as they
/// come (through a 1 MiB buffer), and only the index (about 70 bytes a block) stays in
/// memory until [`SegmentWriter::finish`] appends it and the footer. So a flush or a
/// compaction holds one block of output, not a whole file.
#[derive(Debug)]
pub struct SegmentWriter {
    id: SegmentId,
    /// `None` when the file is built in memory.
    file: Option<(Box<dyn crate::io::WriteFile>, PathBuf)>,
    /// Bytes not yet written to the file (all of them in memory).
    buf: Vec<u8>,
    /// Bytes already written to the file.
    written: u64,
    /// The index entries so far.
    index: Vec<u8>,
    blocks: u64,
    last_point: Option<PointId>,
}

impl SegmentWriter {
    fn new(
        id: &SegmentId,
        file: Option<(Box<dyn crate::io::WriteFile>, PathBuf)>,
        cap: usize,
    ) -> Self {
        let mut out = Vec::with_capacity(cap.max(HEADER_LEN));
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, VERSION);
        put_u32(&mut out, u32::from(id.kind)); // flags: low byte = kind
        put_u64(&mut out, id.file_no);
        put_u64(&mut out, id.generation);
        put_i64(&mut out, id.part_start);
        put_i64(&mut out, id.part_end);
        let crc = format::crc32(&[&out]);
        put_u32(&mut out, crc);
        debug_assert_eq!(out.len(), HEADER_LEN);
        SegmentWriter {
            id: *id,
            file,
            buf: out,
            written: 0,
            index: Vec::new(),
            blocks: 0,
            last_point: None,
        }
    }

    /// A writer of a new file `dir/file_name(id)`.
    pub fn create(storage: &dyn Storage, dir: &Path, id: &SegmentId) -> Result<SegmentWriter> {
        let path = dir.join(file_name(id));
        let f = storage
            .create(&path)
            .map_err(|e| Error::io(format!("write segment {}", path.display()), e))?;
        Ok(SegmentWriter::new(
            id,
            Some((f, path)),
            WRITE_CHUNK + WRITE_CHUNK / 4,
        ))
    }

    fn in_memory(id: &SegmentId, cap: usize) -> SegmentWriter {
        SegmentWriter::new(id, None, cap)
    }

    /// Blocks added so far.
    pub fn block_count(&self) -> u64 {
        self.blocks
    }

    /// Appends a block. Blocks must come in increasing point order, one per point.
    pub fn add(&mut self, b: &EncodedBlock) -> Result<()> {
        self.push(b);
        if self.buf.len() >= WRITE_CHUNK {
            self.write_out()?;
        }
        Ok(())
    }

    fn push(&mut self, b: &EncodedBlock) {
        debug_assert!(self.last_point.is_none_or(|p| p < b.point));
        self.last_point = Some(b.point);
        let offset = self.written + self.buf.len() as u64;
        self.buf.extend_from_slice(&b.bytes);
        let crc = block_crc(self.id.file_no, b.point, offset, &b.bytes);
        let out = &mut self.index;
        put_uvarint(out, u64::from(b.point));
        put_uvarint(out, offset);
        put_uvarint(out, b.lens.len() as u64);
        for &c in &b.lens {
            put_uvarint(out, u64::from(c));
        }
        put_u32(out, crc);
        let s = &b.stats;
        put_uvarint(out, u64::from(s.count));
        // Version 2: times as offsets (a block lies in its partition), the first and last
        // values of raw blocks only.
        put_uvarint(out, s.min_ts.abs_diff(self.id.part_start));
        put_uvarint(out, s.max_ts.abs_diff(s.min_ts));
        if self.id.kind == KIND_RAW {
            put_f64(out, s.first);
            put_f64(out, s.last);
        }
        self.blocks += 1;
    }

    fn write_out(&mut self) -> Result<()> {
        if let Some((f, path)) = &mut self.file {
            f.write_all(&self.buf)
                .map_err(|e| Error::io(format!("write segment {}", path.display()), e))?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// The index (block count, entries, tombstones) and the footer, after the blocks.
    fn put_tail(&mut self, tombs: &[(PointId, Tombstone)]) {
        let index_offset = self.written + self.buf.len() as u64;
        let mut head = Vec::with_capacity(10);
        put_uvarint(&mut head, self.blocks);
        let mut tail = Vec::with_capacity(10 + tombs.len() * 24);
        put_uvarint(&mut tail, tombs.len() as u64);
        for &(p, (f, t)) in tombs {
            put_uvarint(&mut tail, u64::from(p));
            put_i64(&mut tail, f);
            put_i64(&mut tail, t);
        }
        let index_len = (head.len() + self.index.len() + tail.len()) as u64;
        let index_crc = format::crc32(&[&head, &self.index, &tail]);
        let out = &mut self.buf;
        out.extend_from_slice(&head);
        out.extend_from_slice(&self.index);
        out.extend_from_slice(&tail);
        put_u64(out, index_offset);
        put_u64(out, index_len);
        put_u32(out, index_crc);
        put_u32(out, VERSION);
        out.extend_from_slice(FOOTER_MAGIC);
        self.index = Vec::new();
    }

    fn finish_in_memory(mut self, tombs: &[(PointId, Tombstone)]) -> Vec<u8> {
        self.put_tail(tombs);
        std::mem::take(&mut self.buf)
    }

    /// Appends the index and footer, syncs the file and returns its size. (A writer
    /// dropped unfinished leaves a file that does not open as a segment.)
    pub fn finish(mut self, tombs: &[(PointId, Tombstone)]) -> Result<u64> {
        self.put_tail(tombs);
        self.write_out()?;
        if let Some((f, path)) = &mut self.file {
            f.sync()
                .map_err(|e| Error::io(format!("write segment {}", path.display()), e))?;
        }
        Ok(self.written + self.buf.len() as u64)
    }
}

/// An open segment file: its bytes (memory-mapped for the file backend) and parsed index.
///
/// Pages of a mapped segment that reads touch stay in the process's resident set until they
/// are handed back ([`Segment::release_pages`]): the index's once parsed, all of them after a
/// whole-file check, and the database hands back every live segment's after each round of
/// background flushing and compaction (a block read itself does not, to keep reads cheap).
/// A later read faults them in again from the page cache.
#[derive(Debug)]
pub struct Segment {
    /// Identity, from the file's header.
    pub id: SegmentId,
    /// Path of the file.
    pub path: PathBuf,
    data: FileBytes,
    /// What decoding an index entry needs.
    index: IndexContext,
    /// Each block's point and the position of its entry in the index, in point order.
    entries: Vec<IndexEntry>,
    /// Tombstones in increasing point order.
    tombstones: Vec<(PointId, Tombstone)>,
}

/// A block's point and where its entry starts in the index.
#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    point: PointId,
    at: u32,
}

/// What decoding and checking one index entry needs.
#[derive(Clone, Copy, Debug)]
struct IndexContext {
    version: u32,
    kind: u8,
    part_start: Timestamp,
    part_end: Timestamp,
    /// Where the index starts in the file (the end of the data area).
    index_offset: u64,
}

impl IndexContext {
    fn at(&self, r: &Reader<'_>, msg: String) -> Error {
        Error::Corruption {
            file: None,
            offset: Some(self.index_offset + r.pos() as u64),
            msg,
        }
    }

    /// Reads and checks one block's index entry.
    fn entry(&self, r: &mut Reader<'_>) -> Result<BlockMeta> {
        let point = r.uvarint("point")?;
        let point = PointId::try_from(point)
            .map_err(|_| self.at(r, format!("point id {point} out of range")))?;
        let offset = r.uvarint("block offset")?;
        let ncols = r.len(MAX_COLUMNS, "column count")?;
        if ncols == 0 || (self.kind == KIND_RAW && ncols != 3) {
            return Err(self.at(r, format!("block with {ncols} columns")));
        }
        let mut cols = Vec::with_capacity(ncols);
        for _ in 0..ncols {
            let l = r.uvarint("column length")?;
            cols.push(
                u32::try_from(l).map_err(|_| self.at(r, "column length out of range".into()))?,
            );
        }
        let crc = r.u32("block crc")?;
        let count = r.uvarint("count")?;
        if count == 0 || count > MAX_BLOCK_SAMPLES as u64 {
            return Err(self.at(r, format!("block sample count {count} out of range")));
        }
        let stats = if self.version == 1 {
            let (min_ts, max_ts) = (r.i64("min ts")?, r.i64("max ts")?);
            // min, max and sum: read by no query.
            for what in ["min", "max", "sum"] {
                r.f64(what)?;
            }
            BlockStats {
                count: count as u32,
                min_ts,
                max_ts,
                first: r.f64("first")?,
                last: r.f64("last")?,
            }
        } else {
            let ts = |r: &mut Reader<'_>, base: Timestamp, what: &str| {
                let d = r.uvarint(what)?;
                i64::try_from(d)
                    .ok()
                    .and_then(|d| base.checked_add(d))
                    .ok_or_else(|| self.at(r, format!("{what} {d} out of range")))
            };
            let min_ts = ts(r, self.part_start, "min ts offset")?;
            let max_ts = ts(r, min_ts, "max ts offset")?;
            let (first, last) = if self.kind == KIND_RAW {
                (r.f64("first")?, r.f64("last")?)
            } else {
                (0.0, 0.0)
            };
            BlockStats {
                count: count as u32,
                min_ts,
                max_ts,
                first,
                last,
            }
        };
        let m = BlockMeta {
            point,
            offset,
            cols,
            crc,
            stats,
        };
        let end = offset.checked_add(m.len());
        if offset < HEADER_LEN as u64 || end.is_none_or(|e| e > self.index_offset) {
            return Err(self.at(
                r,
                format!("block of point {point} lies outside the data area"),
            ));
        }
        if stats.min_ts > stats.max_ts
            || stats.min_ts < self.part_start
            || stats.max_ts >= self.part_end
        {
            return Err(self.at(
                r,
                format!("block of point {point} has an impossible time range"),
            ));
        }
        Ok(m)
    }
}

impl Segment {
    /// Opens and checks a segment file's header, footer and index (blocks are checked when
    /// read, or all at once by [`Segment::verify`]).
    pub fn open(storage: &dyn Storage, path: &Path) -> Result<Segment> {
        let data = storage
            .read_pages(path)
            .map_err(|e| Error::io(format!("read segment {}", path.display()), e))?;
        let seg = Segment::from_file_bytes(data, path).map_err(|e| e.in_file(path, 0))?;
        // The index is parsed into memory; nothing else has been read yet.
        seg.release_pages();
        Ok(seg)
    }

    /// Parses a segment from its bytes. Errors carry offsets from the start of the file.
    pub fn from_bytes(data: Bytes, path: &Path) -> Result<Segment> {
        Segment::from_file_bytes(FileBytes::from(data), path)
    }

    fn from_file_bytes(data: FileBytes, path: &Path) -> Result<Segment> {
        let buf = &data[..];
        if buf.len() < HEADER_LEN + FOOTER_LEN {
            return Err(Error::corrupt(format!(
                "segment of {} bytes is shorter than header and footer",
                buf.len()
            )));
        }
        let mut r = Reader::new(buf);
        if r.take(8, "magic")? != MAGIC {
            return Err(Error::corrupt("not a segment file (bad magic)"));
        }
        let version = r.u32("version")?;
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                version,
            });
        }
        let flags = r.u32("flags")?;
        let kind = (flags & 0xff) as u8;
        if flags >> 8 != 0 || kind as usize >= KIND_NAMES.len() {
            return Err(Error::corrupt(format!("segment flags {flags:#x} unknown")));
        }
        let file_no = r.u64("file number")?;
        let generation = r.u64("generation")?;
        let part_start = r.i64("partition start")?;
        let part_end = r.i64("partition end")?;
        let crc = r.u32("header crc")?;
        if format::crc32(&[&buf[..HEADER_LEN - 4]]) != crc {
            return Err(Error::Corruption {
                file: None,
                offset: Some(0),
                msg: "segment header checksum mismatch".into(),
            });
        }
        if part_start >= part_end {
            return Err(Error::corrupt("segment partition is empty"));
        }
        let foot_at = buf.len() - FOOTER_LEN;
        let mut f = Reader::new(&buf[foot_at..]);
        let index_offset = f.u64("index offset")?;
        let index_len = f.u64("index length")?;
        let index_crc = f.u32("index crc")?;
        let version2 = f.u32("footer version")?;
        if f.take(8, "footer magic")? != FOOTER_MAGIC || version2 != version {
            return Err(Error::Corruption {
                file: None,
                offset: Some(foot_at as u64),
                msg: "segment footer missing or damaged (bad magic)".into(),
            });
        }
        let index_end = index_offset.checked_add(index_len);
        if index_offset < HEADER_LEN as u64 || index_end != Some(foot_at as u64) {
            return Err(Error::Corruption {
                file: None,
                offset: Some(foot_at as u64),
                msg: format!(
                    "segment footer points at index {index_offset}+{index_len}, outside the file"
                ),
            });
        }
        let index = &buf[index_offset as usize..foot_at];
        if format::crc32(&[index]) != index_crc {
            return Err(Error::Corruption {
                file: None,
                offset: Some(index_offset),
                msg: "segment index checksum mismatch".into(),
            });
        }
        let mut r = Reader::new(index);
        let n = r.len(index.len(), "block count")?;
        // Every entry is checked here, once; only its point and position are kept, and the
        // entry is decoded again when its block is wanted. A parsed entry costs about 200
        // bytes of memory, a kept position 8: with 200,000 points and a few files per tier
        // the parsed index was most of a province platform's memory.
        let mut entries = Vec::with_capacity(n);
        let mut prev: Option<PointId> = None;
        let ctx = IndexContext {
            version,
            kind,
            part_start,
            part_end,
            index_offset,
        };
        for _ in 0..n {
            let at = u32::try_from(r.pos())
                .map_err(|_| ctx.at(&r, "segment index larger than 4 GiB".into()))?;
            let m = ctx.entry(&mut r)?;
            if prev.is_some_and(|p| p >= m.point) {
                return Err(ctx.at(&r, "segment index is not in point order".into()));
            }
            prev = Some(m.point);
            entries.push(IndexEntry { point: m.point, at });
        }
        let at = |r: &Reader<'_>, msg: String| ctx.at(r, msg);
        let nt = r.len(index.len(), "tombstone count")?;
        let mut tombstones = Vec::with_capacity(nt);
        for _ in 0..nt {
            let p = r.uvarint("tombstone point")?;
            let p =
                PointId::try_from(p).map_err(|_| at(&r, "tombstone point out of range".into()))?;
            let f = r.i64("tombstone from")?;
            let t = r.i64("tombstone to")?;
            tombstones.push((p, (f, t)));
        }
        if !r.is_empty() {
            return Err(at(&r, "trailing bytes in segment index".into()));
        }
        tombstones.sort_by_key(|x| x.0);
        Ok(Segment {
            id: SegmentId {
                kind,
                file_no,
                generation,
                part_start,
                part_end,
            },
            path: path.to_path_buf(),
            data,
            index: ctx,
            entries,
            tombstones,
        })
    }

    /// Size of the file in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// Every block, in increasing point order (each decoded from the index when reached).
    pub fn blocks(&self) -> impl ExactSizeIterator<Item = BlockMeta> + '_ {
        self.entries.iter().map(|e| self.entry(e))
    }

    /// The points that have a block here, in increasing order.
    pub fn points(&self) -> impl ExactSizeIterator<Item = PointId> + '_ {
        self.entries.iter().map(|e| e.point)
    }

    /// Number of blocks.
    pub fn block_count(&self) -> usize {
        self.entries.len()
    }

    /// The block of a point, if it has one here.
    pub fn block(&self, point: PointId) -> Option<BlockMeta> {
        self.find(point).map(|e| self.entry(e))
    }

    /// Whether a point has a block here (without decoding its index entry).
    pub fn has_block(&self, point: PointId) -> bool {
        self.find(point).is_some()
    }

    fn find(&self, point: PointId) -> Option<&IndexEntry> {
        // Blocks are sorted by point, one each: when every point up to this one has a block
        // (the usual case), this one's is at its id, found without a search.
        match self.entries.get(point as usize) {
            Some(e) if e.point == point => Some(e),
            _ => {
                let i = self
                    .entries
                    .binary_search_by_key(&point, |e| e.point)
                    .ok()?;
                Some(&self.entries[i])
            }
        }
    }

    /// Decodes an index entry that [`Segment::open`] checked.
    fn entry(&self, e: &IndexEntry) -> BlockMeta {
        let start = self.index.index_offset as usize + e.at as usize;
        let mut r = Reader::new(&self.data[start..]);
        match self.index.entry(&mut r) {
            Ok(m) => m,
            // The bytes are those checked at open (an immutable file, mapped or copied).
            Err(err) => unreachable!("segment index entry checked at open: {err}"),
        }
    }

    /// Tombstones of a point recorded in this segment.
    pub fn tombstones(&self, point: PointId) -> impl Iterator<Item = Tombstone> + '_ {
        let start = self.tombstones.partition_point(|x| x.0 < point);
        self.tombstones[start..]
            .iter()
            .take_while(move |x| x.0 == point)
            .map(|x| x.1)
    }

    /// Whether any tombstones are recorded here.
    pub fn has_tombstones(&self) -> bool {
        !self.tombstones.is_empty()
    }

    /// All tombstones.
    pub fn all_tombstones(&self) -> &[(PointId, Tombstone)] {
        &self.tombstones
    }

    fn corrupt_at(&self, offset: u64, msg: String) -> Error {
        Error::Corruption {
            file: Some(self.path.clone()),
            offset: Some(offset),
            msg,
        }
    }

    /// Checks a block's checksum and returns its columns' bytes.
    pub fn columns(&self, m: &BlockMeta) -> Result<Vec<&[u8]>> {
        let start = m.offset as usize;
        let end = start + m.len() as usize;
        let bytes = &self.data[start..end];
        if block_crc(self.id.file_no, m.point, m.offset, bytes) != m.crc {
            return Err(self.corrupt_at(
                m.offset,
                format!("block of point {} fails its checksum", m.point),
            ));
        }
        let mut out = Vec::with_capacity(m.cols.len());
        let mut at = 0usize;
        for &c in &m.cols {
            out.push(&bytes[at..at + c as usize]);
            at += c as usize;
        }
        Ok(out)
    }

    /// A corruption error for a block, from a decoding error.
    pub fn block_error(&self, m: &BlockMeta, e: Error) -> Error {
        match e {
            Error::Corruption { msg, .. } => {
                self.corrupt_at(m.offset, format!("block of point {}: {msg}", m.point))
            }
            e => e,
        }
    }

    fn block_bytes(&self, m: &BlockMeta) -> Result<(&[u8], &[u8], &[u8])> {
        match self.columns(m)?[..] {
            [ts, vals, q] => Ok((ts, vals, q)),
            _ => Err(self.corrupt_at(m.offset, "raw block without three columns".into())),
        }
    }

    /// Appends the block's samples with `from <= ts < to` to `out`, decoding only when the
    /// block overlaps the range.
    pub fn read(
        &self,
        m: &BlockMeta,
        from: Timestamp,
        to: Timestamp,
        out: &mut Columns,
    ) -> Result<()> {
        if m.stats.max_ts < from || m.stats.min_ts >= to {
            return Ok(());
        }
        let (tsb, vb, qb) = self.block_bytes(m)?;
        let n = m.stats.count as usize;
        let err = |e: Error| self.block_error(m, e);
        if m.stats.min_ts >= from && m.stats.max_ts < to {
            // The whole block: decode straight into the output.
            let base = out.len();
            codec::decode_timestamps(tsb, n, &mut out.ts).map_err(err)?;
            codec::decode_values(vb, n, &mut out.values).map_err(err)?;
            codec::decode_quality(qb, n, &mut out.quality).map_err(err)?;
            return self.check_decoded(m, out, base);
        }
        let mut tmp = Columns::with_capacity(n);
        codec::decode_timestamps(tsb, n, &mut tmp.ts).map_err(err)?;
        codec::decode_values(vb, n, &mut tmp.values).map_err(err)?;
        codec::decode_quality(qb, n, &mut tmp.quality).map_err(err)?;
        self.check_decoded(m, &tmp, 0)?;
        let r = tmp.range_of(from, to);
        out.extend_from(&tmp, r);
        Ok(())
    }

    /// Hands back every mapped page of the file (see [`FileBytes::release`]): for when no
    /// read of it is under way that would soon touch them again. A no-op in memory.
    pub fn release_pages(&self) {
        self.data.release(0..self.data.len());
    }

    fn check_decoded(&self, m: &BlockMeta, c: &Columns, base: usize) -> Result<()> {
        let n = m.stats.count as usize;
        let ok = c.ts.len() == base + n
            && c.values.len() == base + n
            && c.quality.len() == base + n
            && c.ts[base] == m.stats.min_ts
            && c.ts[base + n - 1] == m.stats.max_ts;
        if !ok {
            return Err(self.corrupt_at(
                m.offset,
                format!("block of point {} does not match its index entry", m.point),
            ));
        }
        Ok(())
    }

    /// Decodes a whole block.
    pub fn decode(&self, m: &BlockMeta) -> Result<Columns> {
        let mut c = Columns::with_capacity(m.stats.count as usize);
        self.read(m, m.stats.min_ts, m.stats.max_ts.saturating_add(1), &mut c)?;
        Ok(c)
    }

    /// The codecs of a block's timestamp and value columns.
    pub fn codecs(&self, m: &BlockMeta) -> Result<(Codec, Codec)> {
        let (ts, vals, _) = self.block_bytes(m)?;
        Ok((codec::peek_codec(ts)?, codec::peek_codec(vals)?))
    }

    /// Checks every block: checksum, decoding, order and statistics.
    pub fn verify(&self) -> Result<()> {
        let r = self.verify_blocks();
        self.release_pages();
        r
    }

    fn verify_blocks(&self) -> Result<()> {
        if self.id.kind != KIND_RAW {
            for m in self.blocks() {
                self.columns(&m)?;
            }
            return Ok(());
        }
        for m in self.blocks() {
            let c = self.decode(&m)?;
            if c.ts.windows(2).any(|w| w[0] >= w[1]) {
                return Err(self.corrupt_at(
                    m.offset,
                    format!("block of point {} is not in time order", m.point),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(n: usize, start: i64) -> Columns {
        let mut c = Columns::default();
        for i in 0..n {
            c.push(start + i as i64 * 900_000, 1000.0 + i as f64 * 0.25, 1);
        }
        c
    }

    fn sample_segment() -> (SegmentId, Vec<u8>) {
        let id = SegmentId {
            kind: KIND_RAW,
            file_no: 7,
            generation: 7,
            part_start: 0,
            part_end: 7 * 86_400_000,
        };
        let a = cols(100, 0);
        let b = cols(3, 5_000);
        let t = [(0, 50)];
        let bytes = encode(
            &id,
            &[
                PointData {
                    point: 1,
                    cols: &a,
                    tombstones: &[],
                },
                PointData {
                    point: 4,
                    cols: &b,
                    tombstones: &t,
                },
            ],
            &CodecOptions::default(),
        );
        (id, bytes)
    }

    #[test]
    fn round_trip_with_stats_and_ranges() {
        let (id, bytes) = sample_segment();
        let s = Segment::from_bytes(Bytes::from(bytes), Path::new("x.seg")).unwrap();
        assert_eq!(s.id, id);
        let m = s.block(1).unwrap().clone();
        assert_eq!(m.stats.count, 100);
        assert_eq!(s.decode(&m).unwrap(), cols(100, 0));
        let mut out = Columns::default();
        s.read(&m, 900_000, 3 * 900_000, &mut out).unwrap();
        assert_eq!(out.ts, vec![900_000, 1_800_000]);
        assert!(s.block(2).is_none());
        assert_eq!(s.tombstones(4).collect::<Vec<_>>(), vec![(0, 50)]);
        s.verify().unwrap();
    }

    #[test]
    fn damage_is_detected_never_panics() {
        let (_, bytes) = sample_segment();
        for cut in 0..bytes.len() {
            let r = Segment::from_bytes(Bytes::from(bytes[..cut].to_vec()), Path::new("x"));
            assert!(r.is_err(), "cut at {cut} accepted");
        }
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                if let Ok(s) = Segment::from_bytes(Bytes::from(b), Path::new("x")) {
                    assert!(s.verify().is_err(), "flip at {i} not detected");
                }
            }
        }
    }
}
