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
use crate::db::{Db, Durability, Options, WriteBatch};
use crate::io::MemStorage;
use crate::manifest::Manifest;
use crate::rollup;
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
            if let Ok(c) = seg.decode(m) {
                assert_eq!(c.len(), m.stats.count as usize);
                assert!(c
                    .ts
                    .iter()
                    .all(|&t| t >= m.stats.min_ts && t <= m.stats.max_ts));
            }
            let _ = seg.codecs(m);
        } else {
            let mut rows = Vec::new();
            if rollup::decode_block(seg, m, i64::MIN, i64::MAX, &mut rows).is_ok() {
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
    use crate::unit::{UnitCatalog, UnitCatalogUpdate};
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
    let mut columns = Vec::with_capacity(rollup::COLUMNS);
    for i in 0..rollup::COLUMNS {
        let want = usize::from(u16_at(data, 3 + 2 * i));
        let len = if i + 1 == rollup::COLUMNS {
            data.len() - at
        } else {
            want.min(data.len() - at)
        };
        columns.push(data[at..at + len].to_vec());
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
    let block = EncodedBlock {
        point: 0,
        columns,
        stats: BlockStats {
            count,
            min_ts: part_start,
            max_ts: part_end - 1,
            min: 0.0,
            max: 0.0,
            sum: 0.0,
            first: 0.0,
            last: 0.0,
        },
    };
    let bytes = segment::encode_blocks(&id, &[block], &[]);
    let seg = Segment::from_bytes(Bytes::from(bytes), Path::new("fuzz-rollup.seg"))
        .expect("a well-formed rollup segment");
    let m = seg.blocks()[0].clone();
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
