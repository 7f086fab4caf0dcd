//! Bundles: one self-contained, checksummed file of changes (a range of points, or what a
//! cursor has not acknowledged), to carry data where no link reaches (a USB stick, a
//! file upload). `docs/format/bundle.md` draws the bytes.
//!
//! Import verifies the whole file (every checksum, the manifest against the content) before
//! applying anything, then writes through the normal write path: durable, and idempotent
//! (equal (point, ts) replace, and deletes are applied in their place in the order).

use std::collections::HashMap;
use std::path::Path;

use super::forward::{Change, ChangeKind};
use super::{Db, WriteBatch};
use crate::catalog::{PointId, PointMeta};
use crate::error::{Error, Result};
use crate::format::{self, put_i64, put_u32, put_u64, put_uvarint, Reader};
use crate::sample::{validate, Timestamp};

const MAGIC: &[u8; 8] = b"MDBBNDL\0";
const END_MAGIC: &[u8; 8] = b"MDBBEND\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 20;
const TRAILER_LEN: usize = 8 + 8 + 8 + 4;
const SEC_MANIFEST: u8 = 1;
const SEC_DATA: u8 = 2;
/// Changes per data section.
const SECTION_CHANGES: usize = 65_536;
const KIND_RANGE: u8 = 0;
const KIND_CURSOR: u8 = 1;

/// What a bundle holds, per point.
#[derive(Clone, Debug, PartialEq)]
pub struct BundlePoint {
    /// The point's metadata (its key identifies it in the importing database).
    pub meta: PointMeta,
    /// Samples of the point in the bundle.
    pub samples: u64,
    /// Deletes of the point in the bundle.
    pub deletes: u64,
    /// Smallest timestamp (sample time or delete start), `i64::MAX` when none.
    pub min_ts: Timestamp,
    /// Largest timestamp, `i64::MIN` when none.
    pub max_ts: Timestamp,
}

/// What [`Db::export_bundle`], [`Db::export_cursor_bundle`] wrote or [`Db::import_bundle`]
/// applied.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleReport {
    /// Per point.
    pub points: Vec<BundlePoint>,
    /// All samples.
    pub samples: u64,
    /// All deletes.
    pub deletes: u64,
    /// For a cursor bundle, the ids of its first and last change (acknowledge the last
    /// once the bundle is delivered); `(0, 0)` otherwise.
    pub ids: (u64, u64),
    /// Bytes of the bundle file.
    pub bytes: u64,
}

/// One change in a bundle; `point` indexes the manifest's points.
pub(crate) struct Item {
    pub(crate) point: u32,
    pub(crate) ts: Timestamp,
    pub(crate) kind: ItemKind,
}

/// What a change in a bundle does: a sample (value, quality), or a delete up to `.0`.
pub(crate) enum ItemKind {
    Sample(f64, u8),
    Delete(Timestamp),
}

fn section(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    let start = out.len();
    out.push(tag);
    put_u64(out, body.len() as u64);
    out.extend_from_slice(body);
    let crc = format::crc32(&[&out[start..]]);
    put_u32(out, crc);
}

fn encode(
    kind: u8,
    range: (Timestamp, Timestamp),
    metas: &[PointMeta],
    items: &[Item],
    ids: (u64, u64),
) -> (Vec<u8>, BundleReport) {
    let mut points: Vec<BundlePoint> = metas
        .iter()
        .map(|m| BundlePoint {
            meta: m.clone(),
            samples: 0,
            deletes: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        })
        .collect();
    for it in items {
        let p = &mut points[it.point as usize];
        match it.kind {
            ItemKind::Sample(..) => p.samples += 1,
            ItemKind::Delete(_) => p.deletes += 1,
        }
        p.min_ts = p.min_ts.min(it.ts);
        p.max_ts = p.max_ts.max(it.ts);
    }
    let n_data = items.len().div_ceil(SECTION_CHANGES);
    let mut out = Vec::with_capacity(64 + items.len() * 20);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, VERSION);
    out.extend_from_slice(&[kind, 0, 0, 0]);
    let crc = format::crc32(&[&out]);
    put_u32(&mut out, crc);

    let mut m = Vec::new();
    put_i64(&mut m, range.0);
    put_i64(&mut m, range.1);
    put_u64(&mut m, ids.0);
    put_u64(&mut m, ids.1);
    put_uvarint(&mut m, points.len() as u64);
    for p in &points {
        p.meta.encode(&mut m);
        put_u64(&mut m, p.samples);
        put_u64(&mut m, p.deletes);
        put_i64(&mut m, p.min_ts);
        put_i64(&mut m, p.max_ts);
    }
    put_uvarint(&mut m, n_data as u64);
    put_u64(&mut m, items.len() as u64);
    section(&mut out, SEC_MANIFEST, &m);

    for chunk in items.chunks(SECTION_CHANGES) {
        let mut d = Vec::with_capacity(chunk.len() * 20);
        put_uvarint(&mut d, chunk.len() as u64);
        for it in chunk {
            match it.kind {
                ItemKind::Sample(v, q) => {
                    d.push(0);
                    put_uvarint(&mut d, u64::from(it.point));
                    put_i64(&mut d, it.ts);
                    put_u64(&mut d, v.to_bits());
                    d.push(q);
                }
                ItemKind::Delete(to) => {
                    d.push(1);
                    put_uvarint(&mut d, u64::from(it.point));
                    put_i64(&mut d, it.ts);
                    put_i64(&mut d, to);
                }
            }
        }
        section(&mut out, SEC_DATA, &d);
    }
    let n_sections = 1 + n_data as u64;
    out.extend_from_slice(END_MAGIC);
    put_u64(&mut out, n_sections);
    let total = (out.len() + 8 + 4) as u64;
    put_u64(&mut out, total);
    let crc = format::crc32(&[&out]);
    put_u32(&mut out, crc);
    let rep = BundleReport {
        samples: points.iter().map(|p| p.samples).sum(),
        deletes: points.iter().map(|p| p.deletes).sum(),
        points,
        ids,
        bytes: out.len() as u64,
    };
    (out, rep)
}

/// Parses and checks a whole bundle; nothing is applied here.
pub(crate) fn decode(buf: &[u8], path: &Path) -> Result<(BundleReport, Vec<Item>)> {
    let bad = |off: usize, msg: String| Error::Corruption {
        file: Some(path.to_path_buf()),
        offset: Some(off as u64),
        msg,
    };
    if buf.len() < HEADER_LEN + TRAILER_LEN {
        return Err(bad(0, "bundle is too short".into()));
    }
    if &buf[..8] != MAGIC {
        return Err(bad(0, "not a bundle (bad magic)".into()));
    }
    let version = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if format::crc32(&[&buf[..16]]) != le32(&buf[16..20]) {
        return Err(bad(16, "bundle header checksum mismatch".into()));
    }
    if version != VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            version,
        });
    }
    if buf[12] > KIND_CURSOR || buf[13..16] != [0, 0, 0] {
        return Err(bad(12, "bad bundle kind or reserved bytes".into()));
    }
    // The trailer: the whole file's checksum, its length and its section count.
    let t = buf.len() - TRAILER_LEN;
    if &buf[t..t + 8] != END_MAGIC {
        return Err(bad(t, "bad bundle trailer magic (file cut short?)".into()));
    }
    if format::crc32(&[&buf[..buf.len() - 4]]) != le32(&buf[buf.len() - 4..]) {
        return Err(bad(buf.len() - 4, "bundle checksum mismatch".into()));
    }
    let n_sections = le64(&buf[t + 8..t + 16]);
    if le64(&buf[t + 16..t + 24]) != buf.len() as u64 {
        return Err(bad(t + 16, "bundle length differs from its trailer".into()));
    }
    // Sections.
    let mut sections = Vec::new();
    let mut off = HEADER_LEN;
    while off < t {
        if t - off < 1 + 8 + 4 {
            return Err(bad(off, "section header cut short".into()));
        }
        let tag = buf[off];
        let len = le64(&buf[off + 1..off + 9]);
        if len > (t - off - 13) as u64 {
            return Err(bad(off + 1, "section length runs past the trailer".into()));
        }
        let end = off + 9 + len as usize;
        if format::crc32(&[&buf[off..end]]) != le32(&buf[end..end + 4]) {
            return Err(bad(off, "section checksum mismatch".into()));
        }
        sections.push((off, tag, &buf[off + 9..end]));
        off = end + 4;
    }
    if sections.len() as u64 != n_sections {
        return Err(bad(
            t + 8,
            format!("{} sections, the trailer says {n_sections}", sections.len()),
        ));
    }
    let Some(&(moff, SEC_MANIFEST, mbody)) = sections.first() else {
        return Err(bad(
            HEADER_LEN,
            "the first section is not the manifest".into(),
        ));
    };
    let in_sec = |o: usize| move |e: Error| e.in_file(path, o as u64);
    let mut r = Reader::new(mbody);
    let mut parse_manifest = || -> Result<_> {
        let _from = r.i64("from")?;
        let _to = r.i64("to")?;
        let ids = (r.u64("first id")?, r.u64("last id")?);
        let n = r.len(mbody.len(), "point count")?;
        let mut points = Vec::with_capacity(n);
        for _ in 0..n {
            let meta = PointMeta::decode(&mut r)?;
            meta.validate()
                .map_err(|e| Error::corrupt(format!("point metadata: {e}")))?;
            points.push(BundlePoint {
                meta,
                samples: r.u64("samples")?,
                deletes: r.u64("deletes")?,
                min_ts: r.i64("min ts")?,
                max_ts: r.i64("max ts")?,
            });
        }
        let n_data = r.uvarint("data sections")?;
        let total = r.u64("changes")?;
        if !r.is_empty() {
            return Err(r.corrupt_here("trailing bytes in the bundle manifest"));
        }
        Ok((ids, points, n_data, total))
    };
    let (ids, points, n_data, total) = parse_manifest().map_err(in_sec(moff))?;
    if n_data + 1 != n_sections {
        return Err(bad(
            moff,
            "manifest's data section count differs from the file's".into(),
        ));
    }
    let mut items = Vec::new();
    for &(soff, tag, body) in &sections[1..] {
        if tag != SEC_DATA {
            return Err(bad(soff, format!("unknown section tag {tag}")));
        }
        let mut r = Reader::new(body);
        let mut parse = || -> Result<()> {
            let n = r.len(body.len() / 10, "change count")?;
            for _ in 0..n {
                let k = r.u8("change kind")?;
                let p = r.uvarint("point")?;
                if p >= points.len() as u64 {
                    return Err(r.corrupt_here(format!("point index {p} not in the manifest")));
                }
                let ts = r.i64("ts")?;
                let kind = match k {
                    0 => {
                        let v = f64::from_bits(r.u64("value")?);
                        validate(ts, v).map_err(|e| Error::corrupt(format!("bad sample: {e}")))?;
                        ItemKind::Sample(v, r.u8("quality")?)
                    }
                    1 => {
                        let to = r.i64("to")?;
                        if to <= ts {
                            return Err(r.corrupt_here("empty delete range"));
                        }
                        ItemKind::Delete(to)
                    }
                    k => return Err(r.corrupt_here(format!("unknown change kind {k}"))),
                };
                items.push(Item {
                    point: p as u32,
                    ts,
                    kind,
                });
            }
            if !r.is_empty() {
                return Err(r.corrupt_here("trailing bytes in a data section"));
            }
            Ok(())
        };
        parse().map_err(in_sec(soff))?;
    }
    // The manifest against the content.
    let metas: Vec<PointMeta> = points.iter().map(|p| p.meta.clone()).collect();
    let kind = buf[12];
    let (_, mut check) = encode(kind, (0, 0), &metas, &items, ids);
    if items.len() as u64 != total || check.points != points {
        return Err(bad(
            moff,
            "the manifest's counts or ranges differ from the data".into(),
        ));
    }
    // The size of this file, not of the canonical encoding of its content: a writer may
    // have cut its data sections elsewhere or written longer varints (found by the
    // `bundle` fuzz target).
    check.bytes = buf.len() as u64;
    Ok((check, items))
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

impl Db {
    fn write_bundle_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        super::forward::replace_file(&*self.inner.storage, path, bytes)
    }

    /// Writes a bundle of the samples with `from <= ts < to` of `points` (every point when
    /// `None`), as they are now, to `path` (replaced atomically).
    pub fn export_bundle(
        &self,
        path: impl AsRef<Path>,
        points: Option<&[PointId]>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<BundleReport> {
        super::check_range(from, to)?;
        let ids: Vec<PointId> = match points {
            Some(p) => p.to_vec(),
            None => (0..self.inner.catalog.read().len() as PointId).collect(),
        };
        let mut metas = Vec::with_capacity(ids.len());
        let mut items = Vec::new();
        for (i, &p) in ids.iter().enumerate() {
            let meta = self.point(p).ok_or_else(|| super::undefined(p))?;
            metas.push(meta);
            let c = self.read_range(p, from, to)?;
            for k in 0..c.len() {
                items.push(Item {
                    point: i as u32,
                    ts: c.ts[k],
                    kind: ItemKind::Sample(c.values[k], c.quality[k]),
                });
            }
        }
        let (bytes, rep) = encode(KIND_RANGE, (from, to), &metas, &items, (0, 0));
        self.write_bundle_file(path.as_ref(), &bytes)?;
        Ok(rep)
    }

    /// Writes a bundle of every change the cursor has not read yet (as [`Db::cursor_read`]
    /// would return them, in order, deletes included) and moves the cursor's read position
    /// past them. Acknowledge `report.ids.1` with [`Db::cursor_ack`] once the bundle has
    /// been delivered; [`Db::cursor_rewind`] to make it again.
    pub fn export_cursor_bundle(
        &self,
        path: impl AsRef<Path>,
        cursor: &str,
    ) -> Result<BundleReport> {
        let mut changes: Vec<Change> = Vec::new();
        loop {
            let v = self.cursor_read(cursor, SECTION_CHANGES)?;
            if v.is_empty() {
                break;
            }
            changes.extend(v);
        }
        let mut index: HashMap<PointId, u32> = HashMap::new();
        let mut metas = Vec::new();
        let mut items = Vec::with_capacity(changes.len());
        for c in &changes {
            let i = match index.get(&c.point) {
                Some(&i) => i,
                None => {
                    let meta = self
                        .point(c.point)
                        .ok_or_else(|| super::undefined(c.point))?;
                    metas.push(meta);
                    index.insert(c.point, metas.len() as u32 - 1);
                    metas.len() as u32 - 1
                }
            };
            items.push(Item {
                point: i,
                ts: c.ts,
                kind: match c.kind {
                    ChangeKind::Sample => ItemKind::Sample(c.value, c.quality),
                    ChangeKind::Delete { to } => ItemKind::Delete(to),
                },
            });
        }
        let ids = match (changes.first(), changes.last()) {
            (Some(f), Some(l)) => (f.id, l.id),
            _ => (0, 0),
        };
        let (bytes, rep) = encode(KIND_CURSOR, (0, 0), &metas, &items, ids);
        self.write_bundle_file(path.as_ref(), &bytes)?;
        Ok(rep)
    }

    /// Checks a bundle without applying it: every checksum, and the manifest against the
    /// content. Errors: `Corruption` naming the file and offset of the first problem.
    pub fn verify_bundle(&self, path: impl AsRef<Path>) -> Result<BundleReport> {
        let path = path.as_ref();
        let bytes = self
            .inner
            .storage
            .read(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Ok(decode(&bytes, path)?.0)
    }

    /// Verifies the whole bundle (as [`Db::verify_bundle`]), then applies it through the
    /// normal write path: its points are defined by key (with the bundle's metadata), its
    /// samples written (replacing equal (point, ts)) and its deletes applied, in the
    /// bundle's order. Importing the same bundle twice gives the same data as once. A
    /// bundle that fails verification changes nothing.
    pub fn import_bundle(&self, path: impl AsRef<Path>) -> Result<BundleReport> {
        self.import_bundle_mapped(path, &mut |p| self.define_point(p.meta.clone()))
    }

    /// As [`Db::import_bundle`], except that the bundle's points are not defined from its
    /// metadata: `map` is called once per point of the bundle, in the manifest's order,
    /// after the whole bundle is verified and before any change is applied, and names the
    /// local point its changes go to (a receiver that owns its points' metadata looks them
    /// up or defines them itself). An error from `map` ends the import with no change
    /// applied (points `map` itself defined before it failed stay defined).
    pub fn import_bundle_mapped(
        &self,
        path: impl AsRef<Path>,
        map: &mut dyn FnMut(&BundlePoint) -> Result<PointId>,
    ) -> Result<BundleReport> {
        let path = path.as_ref();
        let bytes = self
            .inner
            .storage
            .read(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        let (rep, items) = decode(&bytes, path)?;
        let mut local = Vec::with_capacity(rep.points.len());
        for p in &rep.points {
            local.push(map(p)?);
        }
        let mut batch = WriteBatch::with_capacity(items.len().min(SECTION_CHANGES));
        for it in &items {
            match it.kind {
                ItemKind::Sample(v, q) => {
                    batch.put_with_quality(local[it.point as usize], it.ts, v, q);
                    if batch.len() >= SECTION_CHANGES {
                        self.write(&batch)?;
                        batch.clear();
                    }
                }
                ItemKind::Delete(to) => {
                    self.write(&batch)?;
                    batch.clear();
                    self.delete_range(local[it.point as usize], it.ts, to)?;
                }
            }
        }
        self.write(&batch)?;
        Ok(rep)
    }
}

#[cfg(test)]
mod tests {
    use crate::{CursorStart, Db, Error, Options, PointKind, PointMeta};

    #[test]
    fn import_bundle_mapped_writes_to_the_mapped_points_and_keeps_their_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let src = Db::open(dir.path().join("src"), Options::default()).unwrap();
        src.create_cursor("out", CursorStart::Beginning).unwrap();
        let a = src
            .define_point(PointMeta::new("a", PointKind::Counter).with_unit("kWh"))
            .unwrap();
        let b = src
            .define_point(PointMeta::new("b", PointKind::Gauge).with_unit("t"))
            .unwrap();
        src.put(a, 1_000, 5.0).unwrap();
        src.put(b, 1_000, 7.0).unwrap();
        src.put(a, 2_000, 6.0).unwrap();
        let file = dir.path().join("x.bundle");
        src.export_cursor_bundle(&file, "out").unwrap();

        let dst = Db::open(dir.path().join("dst"), Options::default()).unwrap();
        let pa = dst
            .define_point(PointMeta::new("unit/a", PointKind::Counter).with_unit("MWh"))
            .unwrap();
        let pb = dst
            .define_point(PointMeta::new("unit/b", PointKind::Gauge))
            .unwrap();
        // A refusal from the map applies nothing.
        let e = dst
            .import_bundle_mapped(&file, &mut |p| {
                if p.meta.key == "b" {
                    Err(Error::invalid("b is not ours"))
                } else {
                    Ok(pa)
                }
            })
            .unwrap_err();
        assert!(e.to_string().contains("b is not ours"), "{e}");
        assert!(dst.read_range(pa, 0, 10_000).unwrap().is_empty());
        let mut seen = Vec::new();
        let rep = dst
            .import_bundle_mapped(&file, &mut |p| {
                seen.push(p.meta.key.clone());
                Ok(if p.meta.key == "a" { pa } else { pb })
            })
            .unwrap();
        assert_eq!(seen, ["a", "b"]);
        assert_eq!(rep.samples, 3);
        assert_eq!(dst.read_range(pa, 0, 10_000).unwrap().values, [5.0, 6.0]);
        assert_eq!(dst.read_range(pb, 0, 10_000).unwrap().values, [7.0]);
        // The local metadata is unchanged, and no point of the bundle's keys was defined.
        assert_eq!(dst.point(pa).unwrap().unit, "MWh");
        assert_eq!(dst.point(pb).unwrap().unit, "");
        assert!(dst.point_id("a").is_none() && dst.point_id("b").is_none());
    }
}
