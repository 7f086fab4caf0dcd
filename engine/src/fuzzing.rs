//! The bodies of the fuzz targets in `fuzz/`, one function per decoder of untrusted bytes,
//! so that the seed corpora replay as ordinary tests (`engine/tests/fuzz_corpus.rs`).
//!
//! Each function takes arbitrary bytes and panics only on a bug: a decoder that panics, a
//! decoded value that breaks an invariant the decoder promises, or a round trip that does
//! not give back what was decoded. Errors returned for bad bytes are the expected outcome.
//! Not part of the stable API.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::catalog::{Catalog, PointKind, PointMeta};
use crate::codec::{self, CodecOptions};
use crate::db::bundle::{self as bundle_file, ItemKind};
use crate::db::forward::{decode_cursor, encode_cursor};
use crate::db::{ChangeKind, CursorStart, OutcomeFilter, UploadOutcome, UploadRecord};
use crate::db::{Db, Durability, Options, WriteBatch};
use crate::io::MemStorage;
use crate::manifest::Manifest;
use crate::rollup::{self, Tier};
use crate::sample::{parse_quality, parse_value, MAX_TIMESTAMP, MIN_TIMESTAMP};
use crate::segment::{self, BlockStats, EncodedBlock, Segment, SegmentId, KIND_RAW};
use crate::time::{format_rfc3339, format_value, parse_timestamp};
use crate::wal::{self, ScanEnd};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name: the name of the target in `fuzz/` and of its corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("wal_scan", wal_scan),
    ("wal_replay", wal_replay),
    ("segment", segment),
    ("codec", codec_columns),
    ("manifest", manifest),
    ("catalog", catalog),
    ("rollup_block", rollup_block),
    ("import_row", import_row),
    ("db_model", db_model),
    ("bundle", bundle),
    ("forward_state", forward_state),
    ("unit_catalog", unit_catalog),
];

/// A little-endian `u16` at `at`, or 0 past the end.
fn u16_at(d: &[u8], at: usize) -> u16 {
    match d.get(at..at + 2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// `wal::scan` over a whole file: the records it returns are consecutive, lie inside the
/// file, and end where `valid_len` says; recovery's `Scanner` agrees with it.
pub fn wal_scan(data: &[u8]) {
    let s = wal::scan(data);
    assert!(s.valid_len <= data.len() as u64);
    let mut end = if s.first_seq.is_some() {
        wal::FILE_HEADER_LEN as u64
    } else {
        0
    };
    for w in s.records.windows(2) {
        assert_eq!(w[0].seq + 1, w[1].seq);
    }
    for r in &s.records {
        assert_eq!(r.offset, end, "records are contiguous");
        end = r.offset + (wal::RECORD_HEADER_LEN + r.payload.len()) as u64;
    }
    assert_eq!(end, s.valid_len);
    if let (Some(f), Some(r)) = (s.first_seq, s.records.first()) {
        assert_eq!(f, r.seq);
    }
    if s.end == ScanEnd::Clean {
        assert_eq!(s.valid_len, data.len() as u64);
    }
    // The scanner recovery uses, with the file name's hint, finds the same records.
    let hint = s.first_seq.unwrap_or(1);
    let mut sc = wal::Scanner::with_first_seq(data, hint);
    let n = sc.by_ref().count();
    if s.first_seq.is_some() {
        assert_eq!(n, s.records.len());
        assert_eq!(sc.valid_len(), s.valid_len);
    }
}

/// A database whose WAL holds the given payloads as records with correct checksums (so
/// the payload decoder, not the checksum, meets the bytes), then maybe a raw tail. The
/// input is `n_files u8`, then `len u16 | payload` items; the last item's remaining bytes
/// are appended raw. Opening must return a database or an error, never panic; an open
/// database reads, and reopens to the same content.
pub fn wal_replay(data: &[u8]) {
    let s = MemStorage::new();
    let dir = Path::new("/db");
    let wal_dir = dir.join("wal");
    let files = 1 + usize::from(data.first().copied().unwrap_or(0) % 3);
    let mut payloads: Vec<&[u8]> = Vec::new();
    let mut at = 1;
    let mut tail: &[u8] = &[];
    while at < data.len() {
        let len = usize::from(u16_at(data, at));
        at += 2;
        if at + len > data.len() {
            tail = data.get(at..).unwrap_or(&[]);
            break;
        }
        payloads.push(&data[at..at + len]);
        at += len;
    }
    let per = payloads.len().div_ceil(files).max(1);
    let mut seq = 1u64;
    let chunks: Vec<&[&[u8]]> = payloads.chunks(per).collect();
    let nchunks = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut f = wal::record::encode_file_header(seq).to_vec();
        let first = seq;
        for p in chunk {
            wal::record::encode_record(&mut f, seq, p);
            seq += 1;
        }
        if i + 1 == nchunks {
            f.extend_from_slice(tail);
        }
        s.put(&wal_dir.join(wal::file_name(first)), f);
    }
    if nchunks == 0 {
        let mut f = wal::record::encode_file_header(1).to_vec();
        f.extend_from_slice(tail);
        s.put(&wal_dir.join(wal::file_name(1)), f);
    }
    let opts = || Options {
        storage: Some(Arc::new(s.clone())),
        background: false,
        ..Options::default()
    };
    let Ok(db) = Db::open(dir, opts()) else {
        return;
    };
    let points = db.points(&Default::default());
    let mut before = Vec::new();
    for (id, _) in &points {
        before.push(db.read_range(*id, i64::MIN, i64::MAX).ok());
    }
    drop(db);
    let db = Db::open(dir, opts()).expect("a database that opened opens again");
    assert_eq!(db.points(&Default::default()), points);
    for ((id, _), b) in points.iter().zip(before) {
        if let Some(b) = b {
            assert_eq!(db.read_range(*id, i64::MIN, i64::MAX).ok(), Some(b));
        }
    }
}

/// Every block of a segment that opened: decoding returns data inside the block's
/// statistics or an error; never a panic.
fn check_segment(seg: &Segment) {
    let _ = seg.verify();
    for m in seg.blocks() {
        if seg.id.kind == KIND_RAW {
            if let Ok(c) = seg.decode(&m) {
                assert_eq!(c.len(), m.stats.count as usize);
                assert!(c
                    .ts
                    .iter()
                    .all(|&t| t >= m.stats.min_ts && t <= m.stats.max_ts));
            }
            let _ = seg.codecs(&m);
        } else {
            let mut rows = Vec::new();
            if rollup::decode_block(seg, &m, i64::MIN, i64::MAX, &mut rows).is_ok() {
                assert!(rows.len() <= m.stats.count as usize);
            }
        }
    }
}

/// `Segment::from_bytes` and `verify` on arbitrary bytes.
pub fn segment(data: &[u8]) {
    let path = Path::new("fuzz.seg");
    if let Ok(seg) = Segment::from_bytes(Bytes::copy_from_slice(data), path) {
        assert!(seg.id.part_start < seg.id.part_end);
        check_segment(&seg);
    }
}

/// One column decoder: `kind u8` (0 timestamps, 1 values, 2 quality, by its value mod 3),
/// `count u16`, then the column's bytes. What decodes has `count` items and, encoded
/// again and decoded, gives the same items.
pub fn codec_columns(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let count = usize::from(u16_at(data, 1));
    let col = &data[3..];
    let opts = CodecOptions::default();
    match data[0] % 3 {
        0 => {
            let mut out = Vec::new();
            if codec::decode_timestamps(col, count, &mut out).is_ok() {
                assert_eq!(out.len(), count);
                let mut enc = Vec::new();
                codec::encode_timestamps(&out, &opts, &mut enc);
                let mut back = Vec::new();
                codec::decode_timestamps(&enc, count, &mut back).expect("re-encoded timestamps");
                assert_eq!(back, out);
            }
        }
        1 => {
            let mut out = Vec::new();
            if codec::decode_values(col, count, &mut out).is_ok() {
                assert_eq!(out.len(), count);
                let mut enc = Vec::new();
                codec::encode_values(&out, &opts, &mut enc);
                let mut back = Vec::new();
                codec::decode_values(&enc, count, &mut back).expect("re-encoded values");
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&back), bits(&out));
            }
        }
        _ => {
            let mut out = Vec::new();
            if codec::decode_quality(col, count, &mut out).is_ok() {
                assert_eq!(out.len(), count);
                let mut enc = Vec::new();
                codec::encode_quality(&out, &opts, &mut enc);
                let mut back = Vec::new();
                codec::decode_quality(&enc, count, &mut back).expect("re-encoded quality");
                assert_eq!(back, out);
            }
        }
    }
    let _ = codec::peek_codec(col);
}

/// `Manifest::decode`: what decodes encodes to the same bytes.
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::decode(data, Path::new("MANIFEST")) {
        assert_eq!(m.encode(), data);
    }
}

/// `Catalog::decode_file`: what decodes encodes to a file that decodes to the same.
pub fn catalog(data: &[u8]) {
    if let Ok(c) = Catalog::decode_file(data) {
        let again = Catalog::decode_file(&c.encode_file()).expect("re-encoded catalog");
        assert_eq!(again.len(), c.len());
        for (id, m) in c.iter() {
            assert_eq!(again.get(id), Some(m));
            assert_eq!(again.id(&m.key), Some(id));
        }
    }
}

/// A unit catalog file: a catalog that decodes re-encodes to one that decodes equal. And,
/// when the bytes are UTF-8, the text form of an update: one that parses writes back to
/// text that parses; when it also applies (every record valid), the text round trip gives
/// the same update and the catalog's file round trip the same catalog.
pub fn unit_catalog(data: &[u8]) {
    use crate::energy::{UnitCatalog, UnitCatalogUpdate};
    if let Ok(c) = UnitCatalog::decode_file(data) {
        let again = UnitCatalog::decode_file(&c.encode_file()).expect("re-encoded unit catalog");
        assert_eq!(again, c);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(u) = UnitCatalogUpdate::parse_text(text) {
            let back =
                UnitCatalogUpdate::parse_text(&u.to_text()).expect("text written from an update");
            if let Ok(cat) = UnitCatalog::apply(None, &u, 0) {
                assert_eq!(back, u);
                let f = cat.encode_file();
                assert_eq!(UnitCatalog::decode_file(&f).expect("encoded catalog"), cat);
            }
        }
    }
}

/// A rollup block's columns inside a well-formed rollup segment (checksums right), so the
/// column decoders meet the bytes: `kind u8` (tier 1..=5), `count u16`, twelve column
/// lengths `u16`, then the columns' bytes (the last takes what is left).
pub fn rollup_block(data: &[u8]) {
    if data.len() < 3 + 2 * rollup::COLUMNS {
        return;
    }
    let kind = 1 + data[0] % 5;
    let count = u32::from(u16_at(data, 1)).max(1);
    let mut at = 3 + 2 * rollup::COLUMNS;
    let mut block = EncodedBlock::with_capacity(0, rollup::COLUMNS, data.len());
    for i in 0..rollup::COLUMNS {
        let want = usize::from(u16_at(data, 3 + 2 * i));
        let len = if i + 1 == rollup::COLUMNS {
            data.len() - at
        } else {
            want.min(data.len() - at)
        };
        block.push_column(|out| out.extend_from_slice(&data[at..at + len]));
        at += len;
    }
    let (part_start, part_end) = (0, 1i64 << 40);
    let id = SegmentId {
        kind,
        file_no: 3,
        generation: 3,
        part_start,
        part_end,
    };
    block.stats = BlockStats {
        count,
        min_ts: part_start,
        max_ts: part_end - 1,
        first: 0.0,
        last: 0.0,
    };
    let bytes = segment::encode_blocks(&id, &[block], &[]);
    let seg = Segment::from_bytes(Bytes::from(bytes), Path::new("fuzz-rollup.seg"))
        .expect("a well-formed rollup segment");
    let Some(m) = seg.blocks().next() else {
        unreachable!("the segment was built with one block")
    };
    let mut rows = Vec::new();
    if rollup::decode_block(&seg, &m, i64::MIN, i64::MAX, &mut rows).is_ok() {
        assert!(rows.len() <= count as usize);
        for r in &rows {
            assert!(r.min_ts >= r.start && r.max_ts >= r.start);
        }
    }
    check_segment(&seg);
}

/// What `meterdb import` does with each field of a CSV row: lines of `ts,value[,quality]`.
/// A parsed timestamp is in range and its RFC 3339 text parses back to it; a parsed value
/// is finite and its shortest text parses back to the same bits.
pub fn import_row(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let mut f = line.split(',');
        if let Some(t) = f.next() {
            if let Ok(ts) = parse_timestamp(t) {
                assert!((MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&ts));
                for off in [0, 480, -330] {
                    let s = format_rfc3339(ts, off);
                    assert_eq!(parse_timestamp(&s).ok(), Some(ts), "{s}");
                }
            }
        }
        if let Some(v) = f.next() {
            if let Ok(x) = parse_value(v) {
                assert!(x.is_finite());
                let s = format_value(x);
                assert_eq!(
                    parse_value(&s).ok().map(f64::to_bits),
                    Some(x.to_bits()),
                    "{s}"
                );
            }
        }
        if let Some(q) = f.next() {
            let _ = parse_quality(q);
        }
    }
}

/// The public API driven by the bytes, against a `BTreeMap` model: writes (new samples
/// and corrections), deletes, flushes, compactions, reopens and power losses (on
/// `MemStorage`, which keeps synced bytes) must leave both in agreement.
pub fn db_model(data: &[u8]) {
    const POINTS: u32 = 2;
    const DAY: i64 = 86_400_000;
    let t0 = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    let mut storage = MemStorage::new();
    let open = |s: &MemStorage| {
        let db = Db::open(
            "/db",
            Options {
                durability: Durability::Sync,
                partition_ms: DAY,
                background: false,
                wal_file_bytes: 2048,
                storage: Some(Arc::new(s.clone())),
                ..Options::default()
            },
        )
        .expect("open");
        for p in 0..POINTS {
            let kind = if p == 0 {
                PointKind::Counter
            } else {
                PointKind::Gauge
            };
            assert_eq!(
                db.define_point(PointMeta::new(format!("p{p}"), kind))
                    .expect("define"),
                p
            );
        }
        db
    };
    let mut db = open(&storage);
    let mut model: BTreeMap<(u32, i64), u64> = BTreeMap::new();
    let mut i = 0;
    let mut byte = || {
        let b = data.get(i).copied();
        i += 1;
        b
    };
    let mut ops = 0;
    while let Some(op) = byte() {
        ops += 1;
        if ops > 200 {
            break;
        }
        let a = byte().unwrap_or(0);
        let b = byte().unwrap_or(0);
        let p = u32::from(a & 1);
        // A 15-minute grid over four days, so that samples repeat and cross partitions.
        let ts = t0 + i64::from(u16::from_le_bytes([a >> 1, b]) % 384) * 900_000;
        match op % 16 {
            0..=8 => {
                let n = 1 + usize::from(op >> 4);
                let mut batch = WriteBatch::new();
                for k in 0..n {
                    let t = ts + k as i64 * 900_000;
                    let v = f64::from(b) * 0.5 + k as f64;
                    batch.put(p, t, v);
                    model.insert((p, t), v.to_bits());
                }
                db.write(&batch).expect("write");
            }
            9 | 10 => {
                let to = ts + 1 + i64::from(op >> 4) * 3_600_000;
                db.delete_range(p, ts, to).expect("delete");
                let keys: Vec<_> = model.range((p, ts)..(p, to)).map(|(k, _)| *k).collect();
                for k in keys {
                    model.remove(&k);
                }
            }
            11 => db.flush().expect("flush"),
            12 => db.compact().expect("compact"),
            13 => {
                db.close().expect("close");
                db = open(&storage);
            }
            14 => {
                let crashed = storage.crash();
                drop(db);
                storage = crashed;
                db = open(&storage);
            }
            _ => {
                let v = db.verify().expect("verify");
                assert!(v.is_empty(), "{v:?}");
            }
        }
        for p in 0..POINTS {
            let c = db.read_range(p, i64::MIN, i64::MAX).expect("read");
            let got: Vec<(i64, u64)> =
                c.ts.iter()
                    .zip(&c.values)
                    .map(|(&t, v)| (t, v.to_bits()))
                    .collect();
            let want: Vec<(i64, u64)> = model
                .range((p, i64::MIN)..=(p, i64::MAX))
                .map(|(&(_, t), &v)| (t, v))
                .collect();
            assert_eq!(got, want, "point {p} after op {ops}");
        }
    }
}

/// A small database on `MemStorage` for the store-and-forward targets: two points with a
/// few samples (some flushed, a delete, some only in the WAL) and a cursor `c` that has
/// read and acknowledged part of them.
fn forward_db(s: &MemStorage) -> Db {
    let db = Db::open("/db", forward_options(s)).expect("open");
    let a = db
        .define_point(PointMeta::new("p0", PointKind::Counter).with_unit("kWh"))
        .expect("define");
    let b = db.ensure_point("p1").expect("define");
    db.create_cursor("c", CursorStart::Beginning)
        .expect("cursor");
    let t0 = 1_767_225_600_000i64;
    for k in 0..4i64 {
        let mut batch = WriteBatch::new();
        for i in 0..6 {
            let t = t0 + (k * 6 + i) * 900_000;
            batch.put(a, t, (k * 6 + i) as f64 * 1.5);
            batch.put_with_quality(b, t, -(i as f64), (i % 3) as u8);
        }
        db.write(&batch).expect("write");
        if k == 1 {
            db.flush().expect("flush");
            db.delete_range(b, t0, t0 + 3 * 900_000).expect("delete");
        }
    }
    let read = db.cursor_read("c", 10).expect("read");
    db.cursor_ack("c", read.last().expect("changes").id)
        .expect("ack");
    db
}

fn forward_options(s: &MemStorage) -> Options {
    Options {
        durability: Durability::Sync,
        background: false,
        wal_file_bytes: 1024,
        storage: Some(Arc::new(s.clone())),
        ..Options::default()
    }
}

/// Every point's metadata and samples (value bits and quality), by key.
type DbContent = BTreeMap<String, (PointMeta, BTreeMap<i64, (u64, u8)>)>;

fn content(db: &Db) -> DbContent {
    db.points(&Default::default())
        .into_iter()
        .map(|(id, meta)| {
            let c = db.read_range(id, i64::MIN, i64::MAX).expect("read");
            let samples = (0..c.len())
                .map(|i| (c.ts[i], (c.values[i].to_bits(), c.quality[i])))
                .collect();
            (meta.key.clone(), (meta, samples))
        })
        .collect()
}

/// The bundle the fuzz input stands for. First byte even: the rest is the file. Odd: the
/// rest is sections, `tag u8 | len u16 | body`, framed with a correct header (kind: bit
/// 1 of the first byte), section checksums and trailer, so that the manifest and data
/// decoders meet the bytes.
fn bundle_bytes(data: &[u8]) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    if mode & 1 == 0 {
        return rest.to_vec();
    }
    let crc = |b: &[u8]| crate::format::crc32(&[b]).to_le_bytes();
    let mut out = b"MDBBNDL\0".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&[(mode >> 1) & 1, 0, 0, 0]);
    let c = crc(&out);
    out.extend_from_slice(&c);
    let mut at = 0;
    let mut n = 0u64;
    while at < rest.len() {
        let tag = rest[at];
        let len = usize::from(u16_at(rest, at + 1)).min(rest.len().saturating_sub(at + 3));
        let body = rest.get(at + 3..at + 3 + len).unwrap_or(&[]);
        let start = out.len();
        out.push(tag);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(body);
        let c = crc(&out[start..]);
        out.extend_from_slice(&c);
        n += 1;
        at += 3 + len;
    }
    out.extend_from_slice(b"MDBBEND\0");
    out.extend_from_slice(&n.to_le_bytes());
    let total = (out.len() + 12) as u64;
    out.extend_from_slice(&total.to_le_bytes());
    let c = crc(&out);
    out.extend_from_slice(&c);
    out
}

/// A bundle file (see [`bundle_bytes`]) verified and imported into a database on
/// `MemStorage`. `verify_bundle` and `import_bundle` agree; a refused bundle changes
/// nothing; an accepted one changes exactly what its changes say, in order (checked
/// against a model), reports its own size, survives a reopen, and importing it again
/// changes nothing.
pub fn bundle(data: &[u8]) {
    let file = bundle_bytes(data);
    let s = MemStorage::new();
    let path = Path::new("/in.bundle");
    s.put(path, file.clone());
    let db = forward_db(&s);
    let before = content(&db);
    let verified = db.verify_bundle(path);
    let imported = db.import_bundle(path);
    let (rep, items) = match bundle_file::decode(&file, path) {
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    crate::ErrorKind::Corruption | crate::ErrorKind::UnsupportedVersion
                ),
                "{e}"
            );
            assert_eq!(verified.map_err(|e| e.kind()), Err(e.kind()));
            assert_eq!(imported.map_err(|e| e.kind()), Err(e.kind()));
            assert!(
                content(&db) == before,
                "a refused bundle changed the database"
            );
            return;
        }
        Ok(x) => x,
    };
    assert_eq!(verified.as_ref().ok(), Some(&rep));
    assert_eq!(imported.as_ref().ok(), Some(&rep), "{imported:?}");
    assert_eq!(rep.bytes, file.len() as u64);
    // The model: the bundle's changes applied in order, by key.
    let mut want = before;
    for p in &rep.points {
        let e = want
            .entry(p.meta.key.clone())
            .or_insert_with(|| (p.meta.clone(), BTreeMap::new()));
        e.0 = p.meta.clone();
    }
    for it in &items {
        let key = &rep.points[it.point as usize].meta.key;
        let m = &mut want.get_mut(key).expect("defined above").1;
        match it.kind {
            ItemKind::Sample(v, q) => {
                m.insert(it.ts, (v.to_bits(), q));
            }
            ItemKind::Delete(to) => {
                let gone: Vec<i64> = m.range(it.ts..to).map(|(&t, _)| t).collect();
                for t in gone {
                    m.remove(&t);
                }
            }
        }
    }
    assert!(content(&db) == want, "the import differs from its changes");
    db.import_bundle(path).expect("a second import");
    assert!(content(&db) == want, "a second import changed the database");
    drop(db);
    let db = Db::open("/db", forward_options(&s)).expect("reopen after an import");
    assert!(content(&db) == want, "the import differs after a reopen");
}

/// The store-and-forward state files. First byte, mod 5: 0, the rest is a cursor file; 1,
/// an upload record (the payload of one upload log record); 2, upload log records, `len
/// u16 | payload` items framed with correct checksums, then a raw tail; 3, a whole upload
/// log file; 4, a cursor file without its checksum, which is appended (so the decoder
/// meets the fields). Decoding never panics, what decodes round-trips, and a database whose cursor
/// or upload log file is replaced by the bytes opens to an error or a consistent state:
/// a cursor reads changes in order from its acknowledged position and acknowledges, and
/// both survive a reopen.
pub fn forward_state(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => cursor_file(rest),
        4 => {
            let mut f = rest.to_vec();
            let crc = crate::format::crc32(&[rest]);
            f.extend_from_slice(&crc.to_le_bytes());
            cursor_file(&f)
        }
        1 => {
            if let Ok(r) = UploadRecord::decode(rest) {
                assert_eq!(UploadRecord::decode(&r.encode()).ok(), Some(r));
            }
        }
        _ => upload_log(mode % 5 == 2, rest),
    }
}

fn cursor_file(bytes: &[u8]) {
    let path = Path::new("/db/cursors/c.cur");
    let decoded = decode_cursor(bytes, path);
    if let Ok((name, st)) = &decoded {
        let enc = encode_cursor(name, st);
        let (name2, st2) = decode_cursor(&enc, path).expect("a re-encoded cursor file");
        assert_eq!(&name2, name);
        assert_eq!(encode_cursor(&name2, &st2), enc);
    }
    let s = MemStorage::new();
    drop(forward_db(&s));
    s.put(path, bytes.to_vec());
    let db = match Db::open("/db", forward_options(&s)) {
        Ok(db) => db,
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    crate::ErrorKind::Corruption | crate::ErrorKind::UnsupportedVersion
                ),
                "{e}"
            );
            return;
        }
    };
    let (_, st) = decoded.expect("the database opened with this cursor file");
    let _ = st;
    let info = db.cursors();
    assert_eq!(info.len(), 1);
    let acked = info[0].acked;
    // Read everything from the acknowledged position: ids increase, start there, and name
    // defined points.
    let npoints = db.points(&Default::default()).len() as u32;
    let mut last = None::<u64>;
    for _ in 0..100 {
        let v = db.cursor_read("c", 7).expect("cursor read");
        if v.is_empty() {
            break;
        }
        for c in &v {
            assert!(c.id >= acked && last.is_none_or(|l| c.id > l), "{c:?}");
            assert!(c.point < npoints);
            if let ChangeKind::Delete { to } = c.kind {
                assert!(to > c.ts);
            }
            last = Some(c.id);
        }
    }
    if let Some(l) = last {
        db.cursor_ack("c", l).expect("ack of the last change read");
    }
    let acked = db.cursors()[0].acked;
    for tier in Tier::ALL {
        let v = db
            .cursor_read_buckets("c", tier, 5, None)
            .expect("bucket read");
        if let Some(b) = v.last() {
            db.cursor_ack_buckets("c", tier, b.row.bucket.start, b.point)
                .expect("bucket ack");
        }
    }
    let buckets = db.cursors()[0].buckets.clone();
    db.flush().expect("flush");
    db.put(0, 1_767_225_600_000, 1.0).expect("write");
    drop(db);
    let db = Db::open("/db", forward_options(&s)).expect("reopen");
    let info = db.cursors();
    assert_eq!(info[0].acked, acked);
    assert_eq!(info[0].buckets, buckets);
    let v = db.cursor_read("c", 1000).expect("read after reopen");
    assert!(v.iter().all(|c| c.id >= acked));
    assert!(db.verify().expect("verify").is_empty());
}

fn upload_log(framed: bool, bytes: &[u8]) {
    let dir = Path::new("/db/uploads");
    let file = if framed {
        let mut f = wal::record::encode_file_header(1).to_vec();
        let mut at = 0;
        let mut seq = 1;
        while at < bytes.len() {
            let len = usize::from(u16_at(bytes, at));
            if at + 2 + len > bytes.len() {
                f.extend_from_slice(&bytes[at..]);
                break;
            }
            wal::record::encode_record(&mut f, seq, &bytes[at + 2..at + 2 + len]);
            seq += 1;
            at += 2 + len;
        }
        f
    } else {
        bytes.to_vec()
    };
    let s = MemStorage::new();
    drop(forward_db(&s));
    s.put(&dir.join(wal::file_name(1)), file);
    let db = Db::open("/db", forward_options(&s)).expect("the upload log is opened when used");
    let all = |db: &Db| db.upload_records(i64::MIN, i64::MAX, OutcomeFilter::All);
    let first = match all(&db) {
        Ok(v) => v,
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    crate::ErrorKind::Corruption | crate::ErrorKind::UnsupportedVersion
                ),
                "{e}"
            );
            // Still an error, not a panic, when recording.
            assert!(db.record_upload(&new_record()).is_err());
            return;
        }
    };
    for r in &first {
        assert_eq!(UploadRecord::decode(&r.encode()).as_ref().ok(), Some(r));
    }
    let ok = db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::Ok)
        .expect("filtered");
    assert!(ok.iter().all(|r| r.outcome == UploadOutcome::Ok));
    db.record_upload(&new_record()).expect("record an upload");
    let mut want = first;
    want.push(new_record());
    assert_eq!(all(&db).expect("records"), want);
    drop(db);
    let db = Db::open("/db", forward_options(&s)).expect("reopen");
    assert_eq!(all(&db).expect("records after reopen"), want);
}

fn new_record() -> UploadRecord {
    UploadRecord {
        cursor: "c".into(),
        first_id: 1 << 22,
        last_id: 5 << 22,
        samples: 12,
        outcome: UploadOutcome::Failed("timeout".into()),
        platform_time: Some(1_767_225_600_000),
        at: 1_767_225_700_000,
    }
}
