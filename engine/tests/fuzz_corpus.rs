//! The fuzz targets' seed corpora (`fuzz/corpus/<target>/`), replayed as ordinary tests
//! through the same functions the targets call (`meterdb::fuzzing`), so that every input
//! that once found a bug stays a regression test.
//!
//! The seeds are files of a small real database built from `../shared/data/uk-meters.csv.gz`
//! (WAL files, raw and rollup segments, the manifest and the catalog) and inputs derived
//! from them. To write them again:
//!
//! ```text
//! MDB_WRITE_CORPUS=1 cargo test -p meterdb --test fuzz_corpus write_seed_corpora -- --ignored
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use meterdb::fuzzing::TARGETS;
use meterdb::io::{MemStorage, SimRng, Storage};
use meterdb::segment::{Segment, KIND_RAW};
use meterdb::{Db, Durability, Options, WriteBatch};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn seed_corpora_replay_without_failures() {
    let mut total = 0;
    for (name, target) in TARGETS {
        let dir = corpus_dir().join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds for {name}");
        for f in &files {
            let data = std::fs::read(f).unwrap();
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "fuzz target {name} fails on {}", f.display());
        }
        // And the inputs every decoder must shrug off.
        for data in [vec![], vec![0; 4096], vec![0xFF; 4096], vec![0x80; 100]] {
            target(&data);
        }
        println!("{name}: {} seeds", files.len());
        total += files.len();
    }
    println!("{total} corpus files replayed");
}

/// The first `rows` rows of the shared data per point, for the first `points` points, as
/// raw CSV text fields (point, ts, value).
fn shared_text(points: usize, rows: usize) -> Option<Vec<(String, String, String)>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/uk-meters.csv.gz");
    let f = std::fs::File::open(&path).ok()?;
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for line in r.lines().skip(1) {
        let line = line.unwrap();
        let mut it = line.split(',');
        let (p, t, v) = (it.next()?, it.next()?, it.next()?);
        let n = per.len();
        let c = per.entry(p.to_string()).or_insert(0);
        if *c >= rows || (*c == 0 && n >= points) {
            if per.len() >= points && per.values().all(|&c| c >= rows) {
                break;
            }
            continue;
        }
        *c += 1;
        out.push((p.to_string(), t.to_string(), v.to_string()));
    }
    Some(out)
}

fn save(target: &str, data: &[u8], written: &mut usize) {
    let dir = corpus_dir().join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("{:08x}-{}", crc32fast::hash(data), data.len());
    std::fs::write(dir.join(name), data).unwrap();
    *written += data.len();
}

fn u16le(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v.min(u16::MAX as usize) as u16).to_le_bytes());
}

/// Writes the seed corpora from a small real database (see the module docs).
#[test]
#[ignore = "writes fuzz/corpus; run with MDB_WRITE_CORPUS=1"]
fn write_seed_corpora() {
    if std::env::var("MDB_WRITE_CORPUS").is_err() {
        return;
    }
    let rows = shared_text(3, 400).expect("../shared/data/uk-meters.csv.gz");
    let s = MemStorage::new();
    let opts = Options {
        durability: Durability::Sync,
        background: false,
        wal_file_bytes: 4096,
        storage: Some(Arc::new(s.clone())),
        ..Options::default()
    };
    let db = Db::open("/db", opts).unwrap();
    let mut ids = BTreeMap::new();
    let parsed: Vec<(u32, i64, f64)> = rows
        .iter()
        .map(|(p, t, v)| {
            let n = ids.len();
            let id = *ids.entry(p.clone()).or_insert_with(|| {
                let id = db.ensure_point(p).unwrap();
                assert_eq!(id as usize, n);
                id
            });
            (
                id,
                meterdb::time::parse_timestamp(t).unwrap(),
                v.parse().unwrap(),
            )
        })
        .collect();
    let third = parsed.len() / 3;
    let write = |part: &[(u32, i64, f64)]| {
        for chunk in part.chunks(40) {
            let mut b = WriteBatch::new();
            for &(p, t, v) in chunk {
                b.put(p, t, v);
            }
            db.write(&b).unwrap();
        }
    };
    write(&parsed[..third]);
    db.flush().unwrap();
    write(&parsed[third..2 * third]);
    let (p, t, _) = parsed[third + 5];
    db.delete_range(p, t, t + 3 * 3_600_000).unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    // Corrections and new data left in the WAL only.
    write(&parsed[2 * third..]);
    let mut corr = WriteBatch::new();
    for &(p, t, v) in &parsed[..10] {
        corr.put(p, t, v + 0.5);
    }
    db.write(&corr).unwrap();

    let mut written = 0;
    let list = |d: &str| {
        let mut v = s.list(Path::new(d)).unwrap();
        v.sort();
        v.into_iter()
            .map(|n| (n.clone(), s.read(&Path::new(d).join(n)).unwrap().to_vec()))
            .collect::<Vec<_>>()
    };
    let top = list("/db");
    let wal = list("/db/wal");
    // WAL files, and their records' payloads framed for wal_replay.
    for (_, bytes) in wal.iter().take(4) {
        save("wal_scan", bytes, &mut written);
    }
    for (k, (_, bytes)) in wal.iter().take(3).enumerate() {
        let scan = meterdb::wal::scan(bytes);
        let mut out = vec![k as u8];
        for r in scan.records.iter().take(30) {
            u16le(&mut out, r.payload.len());
            out.extend_from_slice(r.payload);
        }
        save("wal_replay", &out, &mut written);
    }
    for (n, bytes) in &top {
        if n == "MANIFEST" {
            save("manifest", bytes, &mut written);
        } else if n.starts_with("catalog-") {
            save("catalog", bytes, &mut written);
        }
    }
    // Segments: the smaller raw and rollup files whole, and their blocks' columns.
    let mut segs: Vec<&(String, Vec<u8>)> =
        top.iter().filter(|(n, _)| n.ends_with(".seg")).collect();
    segs.sort_by_key(|(_, b)| b.len());
    let mut kinds_saved = BTreeMap::new();
    for (n, bytes) in segs {
        let seg = Segment::from_bytes(Bytes::from(bytes.clone()), Path::new(n)).unwrap();
        let saved = kinds_saved.entry(seg.id.kind).or_insert(0);
        if *saved < 2 && bytes.len() <= 24 * 1024 {
            save("segment", bytes, &mut written);
            *saved += 1;
        }
        for m in seg.blocks().take(2) {
            let cols = seg.columns(&m).unwrap();
            let count = m.stats.count as usize;
            if seg.id.kind == KIND_RAW {
                for (k, c) in cols.iter().enumerate() {
                    let mut out = vec![k as u8];
                    u16le(&mut out, count);
                    out.extend_from_slice(c);
                    save("codec", &out, &mut written);
                }
            } else {
                let mut out = vec![seg.id.kind - 1];
                u16le(&mut out, count);
                for c in &cols {
                    u16le(&mut out, c.len());
                }
                for c in &cols {
                    out.extend_from_slice(c);
                }
                save("rollup_block", &out, &mut written);
                let mut v = vec![1u8];
                u16le(&mut v, count);
                v.extend_from_slice(cols[2]);
                save("codec", &v, &mut written);
            }
        }
    }
    // CSV fields as `meterdb import` reads them, and a few awkward ones.
    let mut text = String::new();
    for (_, t, v) in rows.iter().step_by(7).take(60) {
        text.push_str(&format!("{t},{v}\n"));
    }
    save("import_row", text.as_bytes(), &mut written);
    let odd = "2026-11-24 16:00:00.5+08:00,1e3,192\n1767225600000,-0.0,\n\
               2026-02-29T00:00:00Z,NaN,1\n9999-12-31T23:59:59.999Z,1.7976931348623157e308,255\n\
               0999-12-31T23:59:59Z, 12 ,256\n2026-01-01T00:00:00.0001Z,inf\n";
    save("import_row", odd.as_bytes(), &mut written);
    // The stateful target: operation bytes from the data's values.
    for k in 0..4u64 {
        let mut rng = SimRng::new(k);
        let n = 40 + rng.below(200) as usize;
        let bytes: Vec<u8> = parsed
            .iter()
            .skip(k as usize * 50)
            .take(n)
            .map(|&(_, _, v)| (v * 1000.0) as i64 as u8 ^ rng.next_u64() as u8)
            .collect();
        save("db_model", &bytes, &mut written);
    }
    println!(
        "wrote {written} bytes of seeds under {}",
        corpus_dir().display()
    );
}

/// Cuts a bundle file into the `tag u8 | len u16 | body` sections that the `bundle`
/// target frames again (its odd first byte).
fn bundle_sections(file: &[u8], kind: u8) -> Vec<u8> {
    let mut out = vec![1 | (kind << 1)];
    let end = file.len() - 28;
    let mut at = 20;
    while at < end {
        let len = u64::from_le_bytes(file[at + 1..at + 9].try_into().unwrap()) as usize;
        out.push(file[at]);
        u16le(&mut out, len);
        out.extend_from_slice(&file[at + 9..at + 9 + len]);
        at += 9 + len + 4;
    }
    out
}

/// Writes the seed corpora of the store-and-forward targets (`bundle`, `forward_state`)
/// from a small database of real samples: bundles (whole, and as sections), cursor files,
/// upload records and upload log files.
///
/// ```text
/// MDB_WRITE_CORPUS=1 cargo test -p meterdb --test fuzz_corpus write_forward_seed_corpora -- --ignored
/// ```
#[test]
#[ignore = "writes fuzz/corpus; run with MDB_WRITE_CORPUS=1"]
fn write_forward_seed_corpora() {
    use meterdb::{CursorStart, OutcomeFilter, Tier, UploadOutcome, UploadRecord};
    if std::env::var("MDB_WRITE_CORPUS").is_err() {
        return;
    }
    let rows = shared_text(2, 120).expect("../shared/data/uk-meters.csv.gz");
    let s = MemStorage::new();
    let opts = Options {
        durability: Durability::Sync,
        background: false,
        wal_file_bytes: 1024,
        storage: Some(Arc::new(s.clone())),
        ..Options::default()
    };
    let db = Db::open("/db", opts).unwrap();
    db.create_cursor("c", CursorStart::Beginning).unwrap();
    let mut parsed = Vec::new();
    for (p, t, v) in &rows {
        let id = db.ensure_point(p).unwrap();
        parsed.push((
            id,
            meterdb::time::parse_timestamp(t).unwrap(),
            v.parse::<f64>().unwrap(),
        ));
    }
    for chunk in parsed.chunks(30) {
        let mut b = WriteBatch::new();
        for &(p, t, v) in chunk {
            b.put_with_quality(p, t, v, (t / 900_000 % 3) as u8);
        }
        db.write(&b).unwrap();
    }
    db.flush().unwrap();
    // A correction and a delete, so that cursor bundles carry both.
    let (p, t, v) = parsed[3];
    db.put(p, t, v + 0.5).unwrap();
    db.delete_range(p, t + 900_000, t + 4 * 900_000).unwrap();
    let mut written = 0;
    let (from, to) = (parsed[0].1, parsed[0].1 + 86_400_000);
    db.export_bundle("/range.bundle", None, from, to).unwrap();
    let range = s.read(Path::new("/range.bundle")).unwrap().to_vec();
    let mut whole = vec![0u8];
    whole.extend_from_slice(&range);
    save("bundle", &whole, &mut written);
    save("bundle", &bundle_sections(&range, 0), &mut written);
    // A cursor bundle of the last changes only (so the seed stays small).
    let n = db.cursor_read("c", parsed.len() - 20).unwrap().len();
    assert!(n > 0);
    let tail = db.cursor_read("c", 8).unwrap();
    db.cursor_ack("c", tail.last().unwrap().id).unwrap();
    let rep = db.export_cursor_bundle("/cursor.bundle", "c").unwrap();
    assert!(rep.deletes == 1 && rep.samples > 0, "{rep:?}");
    let cur = s.read(Path::new("/cursor.bundle")).unwrap().to_vec();
    let mut whole = vec![2u8];
    whole.extend_from_slice(&cur);
    save("bundle", &whole, &mut written);
    save("bundle", &bundle_sections(&cur, 1), &mut written);

    // Cursor files: after a change ack, and after bucket acks of two tiers.
    let cfile = || s.read(Path::new("/db/cursors/c.cur")).unwrap().to_vec();
    let seed = |b: Vec<u8>| [vec![0u8], b].concat();
    // And the same without the checksum, which the target appends (first byte 4).
    let unsealed = |b: Vec<u8>| [vec![4u8], b[..b.len() - 4].to_vec()].concat();
    save("forward_state", &seed(cfile()), &mut written);
    save("forward_state", &unsealed(cfile()), &mut written);
    db.cursor_ack("c", rep.ids.1).unwrap();
    for tier in [Tier::Hour, Tier::Day] {
        let v = db.cursor_read_buckets("c", tier, 10, None).unwrap();
        let b = v.last().unwrap();
        db.cursor_ack_buckets("c", tier, b.row.bucket.start, b.point)
            .unwrap();
    }
    save("forward_state", &seed(cfile()), &mut written);
    save("forward_state", &unsealed(cfile()), &mut written);

    // Upload records and the upload log they make.
    for (i, &(_, t, _)) in parsed.iter().step_by(40).enumerate() {
        let rec = UploadRecord {
            cursor: "c".into(),
            first_id: meterdb::change_id(1 + i as u64 * 3, 0),
            last_id: meterdb::change_id(3 + i as u64 * 3, 7),
            samples: 30,
            outcome: if i % 2 == 0 {
                UploadOutcome::Ok
            } else {
                UploadOutcome::Failed("HTTP 503 from the provincial platform".into())
            },
            platform_time: (i % 3 != 2).then_some(t + 1500),
            at: t + 1000,
        };
        db.record_upload(&rec).unwrap();
    }
    assert!(!db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
        .unwrap()
        .is_empty());
    let names = s.list(Path::new("/db/uploads")).unwrap();
    let log = s
        .read(&Path::new("/db/uploads").join(&names[0]))
        .unwrap()
        .to_vec();
    save(
        "forward_state",
        &[vec![3u8], log.clone()].concat(),
        &mut written,
    );
    let scan = meterdb::wal::scan(&log);
    let mut framed = vec![2u8];
    for r in &scan.records {
        save(
            "forward_state",
            &[vec![1u8], r.payload.to_vec()].concat(),
            &mut written,
        );
        u16le(&mut framed, r.payload.len());
        framed.extend_from_slice(r.payload);
    }
    save("forward_state", &framed, &mut written);
    println!(
        "wrote {written} bytes of seeds under {}",
        corpus_dir().display()
    );
}

/// Writes the seeds of `unit_catalog`: the unit catalog files (after a full update and after
/// a delta) of a database whose points are those of the shared real data, and the text forms
/// of both updates. Run with
/// `MDB_WRITE_CORPUS=1 cargo test -p meterdb --test fuzz_corpus write_unit_catalog_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/unit_catalog; run with MDB_WRITE_CORPUS=1"]
fn write_unit_catalog_seeds() {
    use meterdb::unit::credit_code_check_char;
    use meterdb::{
        CoalCoefficient, CollectionConfig, DataItemCode, Device, DeviceKind, Enterprise, PointKind,
        UnitCatalogUpdate,
    };
    if std::env::var("MDB_WRITE_CORPUS").is_err() {
        return;
    }
    let rows = shared_text(9, 1).expect("../shared/data/uk-meters.csv.gz");
    let s = MemStorage::new();
    let db = Db::open(
        "/db",
        Options {
            background: false,
            storage: Some(Arc::new(s.clone())),
            ..Options::default()
        },
    )
    .unwrap();
    let prefix = "91350100MA2XY7K3P";
    let enterprise = Enterprise {
        credit_code: format!("{prefix}{}", credit_code_check_char(prefix).unwrap()),
        name: "示范能源有限公司".into(),
        region_code: "350100".into(),
        industry: "D4411".into(),
        address: "福建省福州市".into(),
    };
    let devices = vec![
        Device {
            id: "gw-1".into(),
            kind: DeviceKind::Gateway,
            name: "gateway".into(),
            model: "EMG-200".into(),
            serial: "SN0001".into(),
            installed_at: Some(1_735_660_800_000),
        },
        Device {
            id: "m-1".into(),
            kind: DeviceKind::Meter,
            ..Default::default()
        },
    ];
    let configs: Vec<CollectionConfig> = rows
        .iter()
        .enumerate()
        .map(|(i, (p, t, _))| {
            let gas = p.contains("gas");
            let code = format!(
                "{}4{:03}{}{:03}{:04}",
                if gas { "0301" } else { "0100" },
                i,
                if p.contains("register") { 5 } else { 1 },
                i,
                1 + i
            );
            let mut c = CollectionConfig::new(
                p.clone(),
                DataItemCode::parse(&code).unwrap(),
                if p.contains("register") {
                    PointKind::Counter
                } else {
                    PointKind::Gauge
                },
            );
            c.unit = if p == "taylor_ew" { "MW" } else { "kWh" }.into();
            c.precision = Some(3);
            c.interval_ms = Some(if p.contains("hourly") {
                3_600_000
            } else {
                1_800_000
            });
            c.coal = vec![CoalCoefficient {
                from: meterdb::time::parse_timestamp(t).unwrap(),
                to: None,
                kgce_per_unit: if gas { 0.1229 * 0.9 } else { 0.1229 },
            }];
            c.device = Some(if i % 2 == 0 { "m-1" } else { "gw-1" }.into());
            c
        })
        .collect();
    let v1 = UnitCatalogUpdate::full(0, 1, enterprise, devices, configs.clone());
    let mut v2 = UnitCatalogUpdate::delta(1, 2);
    let mut changed = configs[0].clone();
    changed.multiplier = 40.0;
    changed.coal[0].to = Some(changed.coal[0].from + 86_400_000 * 365);
    v2.configs = vec![changed];
    v2.remove_configs = vec![configs[1].point_key.clone()];
    v2.remove_devices = vec![];
    let mut written = 0;
    for u in [&v1, &v2] {
        db.apply_unit_catalog(u).unwrap();
        let file = s.read(Path::new("/db/UNITCAT")).unwrap();
        save("unit_catalog", &file, &mut written);
        save("unit_catalog", u.to_text().as_bytes(), &mut written);
    }
    println!("wrote {written} bytes of unit_catalog seeds");
}
