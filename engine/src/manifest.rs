//! The manifest: the atomic list of live files.
//!
//! `MANIFEST` names every live segment file, the catalog file, the WAL sequence number up
//! to which everything is in those files, and the next file number. It is replaced
//! atomically: written to `MANIFEST.tmp`, synced, renamed over `MANIFEST`, and the directory
//! synced.

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, put_i64, put_u32, put_u64, put_uvarint, Reader};
use crate::io::Storage;
use crate::segment::SegmentId;

const MAGIC: &[u8; 8] = b"MDBMAN\0\0";
/// Format version of the manifest written by this build.
pub const VERSION: u32 = 1;
/// Name of the manifest file.
pub const FILE: &str = "MANIFEST";
const TMP: &str = "MANIFEST.tmp";

/// The content of the manifest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    /// The next unused file number.
    pub next_file_no: u64,
    /// Every WAL record with a sequence number up to this one is in the files listed.
    pub flushed_seq: u64,
    /// File number of the catalog file, 0 when no point has been flushed yet.
    pub catalog_file_no: u64,
    /// The database's time zone, minutes east of UTC (rollup buckets follow it).
    pub tz_offset_min: i32,
    /// Live segment files.
    pub segments: Vec<SegmentId>,
}

impl Manifest {
    /// Serializes the manifest.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.segments.len() * 32);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, VERSION);
        put_u64(&mut out, self.next_file_no);
        put_u64(&mut out, self.flushed_seq);
        put_u64(&mut out, self.catalog_file_no);
        put_u32(&mut out, self.tz_offset_min as u32);
        put_uvarint(&mut out, self.segments.len() as u64);
        for s in &self.segments {
            out.push(s.kind);
            put_u64(&mut out, s.file_no);
            put_u64(&mut out, s.generation);
            put_i64(&mut out, s.part_start);
            put_i64(&mut out, s.part_end);
        }
        let crc = format::crc32(&[&out]);
        put_u32(&mut out, crc);
        out
    }

    /// Parses a manifest.
    pub fn decode(buf: &[u8], path: &Path) -> Result<Manifest> {
        if buf.len() < 8 + 4 + 24 + 1 + 4 {
            return Err(Error::corrupt("manifest is too short"));
        }
        let (body, crc) = buf.split_at(buf.len() - 4);
        let mut r = Reader::new(body);
        if r.take(8, "magic")? != MAGIC {
            return Err(Error::corrupt("not a manifest (bad magic)"));
        }
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                version,
            });
        }
        if format::crc32(&[body]) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(Error::Corruption {
                file: None,
                offset: Some(body.len() as u64),
                msg: "manifest checksum mismatch".into(),
            });
        }
        let mut m = Manifest {
            next_file_no: r.u64("next file number")?,
            flushed_seq: r.u64("flushed seq")?,
            catalog_file_no: r.u64("catalog file")?,
            tz_offset_min: r.u32("time zone")? as i32,
            segments: Vec::new(),
        };
        if m.tz_offset_min.abs() > 18 * 60 {
            return Err(r.corrupt_here(format!("time zone offset {} minutes", m.tz_offset_min)));
        }
        let n = r.len(body.len() / 33, "segment count")?;
        for _ in 0..n {
            let s = SegmentId {
                kind: r.u8("segment kind")?,
                file_no: r.u64("file number")?,
                generation: r.u64("generation")?,
                part_start: r.i64("partition start")?,
                part_end: r.i64("partition end")?,
            };
            if s.file_no >= m.next_file_no || s.part_start >= s.part_end {
                return Err(r.corrupt_here(format!("impossible segment entry {s:?}")));
            }
            m.segments.push(s);
        }
        if !r.is_empty() {
            return Err(r.corrupt_here("trailing bytes in the manifest"));
        }
        Ok(m)
    }

    /// Reads the manifest of a database directory; `Ok(None)` when there is none.
    pub fn load(storage: &dyn Storage, dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(FILE);
        if !storage.exists(&path) {
            return Ok(None);
        }
        let bytes = storage
            .read(&path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Manifest::decode(&bytes, &path)
            .map(Some)
            .map_err(|e| e.in_file(&path, 0))
    }

    /// Replaces the manifest of `dir` atomically and durably.
    pub fn store(&self, storage: &dyn Storage, dir: &Path) -> Result<()> {
        let tmp = dir.join(TMP);
        let path = dir.join(FILE);
        let ctx = |what: &str| format!("{what} {}", path.display());
        let mut f = storage
            .create(&tmp)
            .map_err(|e| Error::io(ctx("write"), e))?;
        f.write_all(&self.encode())
            .map_err(|e| Error::io(ctx("write"), e))?;
        f.sync().map_err(|e| Error::io(ctx("sync"), e))?;
        drop(f);
        storage
            .rename(&tmp, &path)
            .map_err(|e| Error::io(ctx("rename over"), e))?;
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io(ctx("sync directory of"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemStorage;

    #[test]
    fn round_trip_and_damage() {
        let m = Manifest {
            next_file_no: 10,
            flushed_seq: 99,
            catalog_file_no: 3,
            tz_offset_min: 480,
            segments: vec![SegmentId {
                kind: 0,
                file_no: 4,
                generation: 4,
                part_start: 0,
                part_end: 100,
            }],
        };
        let s = MemStorage::new();
        let dir = Path::new("/db");
        assert_eq!(Manifest::load(&s, dir).unwrap(), None);
        m.store(&s, dir).unwrap();
        assert_eq!(Manifest::load(&s, dir).unwrap(), Some(m.clone()));
        let b = m.encode();
        for i in 0..b.len() {
            assert!(Manifest::decode(&b[..i], dir).is_err());
            let mut c = b.clone();
            c[i] ^= 4;
            assert!(Manifest::decode(&c, dir).is_err(), "flip at {i}");
        }
    }
}
