//! Golden files of the file kinds `compat_v1` does not cover: cursor files (versions 1 and
//! 2), the unit catalog and its marker, the upload log, bundles (range and cursor), the
//! `TIERS` file, and rollup files of 16 columns with non-zero quality counts. A database
//! written by this version is committed under `tests/fixtures/v1-files/db/` with two bundles
//! beside it, and every later build must read each file back exactly as stated here.
//!
//! To regenerate (only when a format version changes, into a new directory):
//! `MDB_WRITE_GOLDEN=1 cargo test -p meterdb --test compat_v1_files`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use meterdb::io::{MemStorage, Storage};
use meterdb::segment::Segment;
use meterdb::{
    CoalCoefficient, CollectionConfig, CursorStart, DataItemCode, Db, Device, DeviceKind,
    Durability, Enterprise, Options, OutcomeFilter, PointKind, PointMeta, Quality, Tier, TierSet,
    UnitCatalogUpdate, UpdateMode, UploadOutcome, UploadRecord, WriteBatch,
};

/// 2026-01-01T00:00:00+08:00.
const T0: i64 = 1_767_196_800_000;
const MIN15: i64 = 900_000;
const DAY: i64 = 86_400_000;
/// When the golden unit catalog was applied (the machine's clock then).
const GOLDEN_APPLIED_AT: i64 = 1_796_661_680_182;

fn fixture() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-files");
    static WRITE: Once = Once::new();
    WRITE.call_once(|| {
        if std::env::var_os("MDB_WRITE_GOLDEN").is_some() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let db = Db::open(dir.join("db"), Options::default()).unwrap();
            write_content(&db, &dir);
            db.close().unwrap();
            let _ = std::fs::remove_file(dir.join("db/LOCK"));
        }
    });
    assert!(
        dir.join("db/MANIFEST").exists(),
        "golden files missing: {}",
        dir.display()
    );
    dir
}

fn unit_update() -> UnitCatalogUpdate {
    let mut c = CollectionConfig::new(
        "unit-kwh",
        DataItemCode::parse("0100101020010001").unwrap(),
        PointKind::Counter,
    );
    c.energy_type = "0100".into();
    c.unit = "kWh".into();
    c.precision = Some(2);
    c.interval_ms = Some(MIN15);
    c.multiplier = 40.0;
    c.coal = vec![CoalCoefficient {
        from: T0,
        to: Some(T0 + 365 * DAY),
        kgce_per_unit: 0.1229,
    }];
    c.device = Some("gw-1".into());
    UnitCatalogUpdate {
        base_version: 0,
        version: 3,
        mode: UpdateMode::Full,
        enterprise: Some(Enterprise {
            credit_code: format!(
                "91350100MA2GXLD01{}",
                meterdb::unit::credit_code_check_char("91350100MA2GXLD01").unwrap()
            ),
            name: "福州示范钢铁有限公司".into(),
            region_code: "350100".into(),
            industry: "C3110".into(),
            address: "福建省福州市".into(),
        }),
        devices: vec![Device {
            id: "gw-1".into(),
            kind: DeviceKind::Gateway,
            name: "gateway".into(),
            model: "G1".into(),
            serial: "SN-1".into(),
            installed_at: Some(T0 - 30 * DAY),
        }],
        configs: vec![c],
        ..Default::default()
    }
}

fn upload_records() -> Vec<UploadRecord> {
    vec![
        UploadRecord {
            cursor: "platform-v1".into(),
            first_id: 2 << 22,
            last_id: (2 << 22) + 99,
            samples: 100,
            outcome: UploadOutcome::Ok,
            platform_time: Some(T0 + 3 * DAY + 1_000),
            at: T0 + 3 * DAY,
        },
        UploadRecord {
            cursor: "platform-v2".into(),
            first_id: 2 << 22,
            last_id: (2 << 22) + 9,
            samples: 10,
            outcome: UploadOutcome::Failed("HTTP 503 服务不可用".into()),
            platform_time: None,
            at: T0 + 3 * DAY + 60_000,
        },
    ]
}

/// The content: a register with invalid, manual and estimated readings and backward steps
/// (so its rollup files hold 16 columns with non-zero counts), a gauge, three cursors, a
/// unit catalog, two upload records and two bundles (`bundle-range.mdbb`,
/// `bundle-cursor.mdbb` in `out`).
fn write_content(db: &Db, out: &Path) {
    for c in ["platform-v1", "platform-v2", "usb"] {
        db.create_cursor(c, CursorStart::Beginning).unwrap();
    }
    let reg = db
        .define_point(
            PointMeta::new("91350100MA2GOLDEN1X0101000000000002", PointKind::Counter)
                .with_unit("kWh")
                .with_precision(2)
                .with_interval_ms(MIN15),
        )
        .unwrap();
    let gauge = db
        .define_point(
            PointMeta::new("gauge-kw", PointKind::Gauge)
                .with_unit("kW")
                .with_precision(1),
        )
        .unwrap();
    let mut b = WriteBatch::new();
    for i in 0..3 * 96i64 {
        let ts = T0 + i * MIN15;
        // A backward step every 50 readings (the register reads 2 kWh less, 0.75 below the reading before).
        let r = 1000.0 + i as f64 * 1.25 - if i % 50 == 49 { 2.0 } else { 0.0 };
        let q = match i {
            _ if i % 23 == 7 => Quality::INVALID,
            _ if i % 17 == 3 => Quality::MANUAL,
            _ if i % 10 == 5 => Quality::ESTIMATED,
            _ => Quality::GOOD,
        };
        b.put_with_quality(reg, ts, (r * 100.0f64).round() / 100.0, q.0);
        b.put(
            gauge,
            ts,
            ((40.0 + (i % 96) as f64 * 0.7) * 10.0f64).round() / 10.0,
        );
    }
    db.write(&b).unwrap();
    db.delete_range(gauge, T0 + 10 * MIN15, T0 + 12 * MIN15)
        .unwrap();
    db.flush().unwrap();

    // Cursor v2 reads and acknowledges changes and the closed day buckets...
    let read = db.cursor_read("platform-v2", 100).unwrap();
    db.cursor_ack("platform-v2", read[99].id).unwrap();
    let days = db
        .cursor_read_buckets("platform-v2", Tier::Day, 10, Some(T0 + 3 * DAY))
        .unwrap();
    let last = days.last().unwrap();
    db.cursor_ack_buckets("platform-v2", Tier::Day, last.row.bucket.start, last.point)
        .unwrap();
    // ... then late data changes two of those days: v2 has buckets to deliver again.
    let mut b = WriteBatch::new();
    b.put(reg, T0 + 5 * MIN15 + 60_000, 1006.5);
    b.put(gauge, T0 + DAY + 3 * MIN15 + 60_000, 41.2);
    db.write(&b).unwrap();
    db.flush().unwrap();
    // Cursor v1 reads after that: nothing to deliver again.
    let read = db.cursor_read("platform-v1", 100).unwrap();
    db.cursor_ack("platform-v1", read[99].id).unwrap();
    let days = db
        .cursor_read_buckets("platform-v1", Tier::Day, 10, Some(T0 + 3 * DAY))
        .unwrap();
    let last = days.last().unwrap();
    db.cursor_ack_buckets("platform-v1", Tier::Day, last.row.bucket.start, last.point)
        .unwrap();

    db.apply_unit_catalog(&unit_update()).unwrap();
    for r in upload_records() {
        db.record_upload(&r).unwrap();
    }
    db.export_bundle(
        out.join("bundle-range.mdbb"),
        Some(&[reg, gauge]),
        T0,
        T0 + DAY,
    )
    .unwrap();
    db.export_cursor_bundle(out.join("bundle-cursor.mdbb"), "usb")
        .unwrap();
}

/// A copy of the golden files to open (opening may truncate or append), and the same
/// content written now in memory: the expected answer.
struct Pair {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    golden: Db,
    fresh: Db,
    mem: MemStorage,
}

fn pair() -> Pair {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), tmp.path());
    let dir = tmp.path().to_path_buf();
    let golden = Db::open(dir.join("db"), Options::default()).unwrap();
    let mem = MemStorage::new();
    let fresh = Db::open(
        "/fresh/db",
        Options {
            storage: Some(Arc::new(mem.clone())),
            durability: Durability::None,
            ..Options::default()
        },
    )
    .unwrap();
    write_content(&fresh, Path::new("/fresh"));
    Pair {
        _tmp: tmp,
        dir,
        golden,
        fresh,
        mem,
    }
}

fn cursor_file_version(dir: &Path, name: &str) -> u32 {
    let b = std::fs::read(dir.join(format!("db/cursors/{name}.cur"))).unwrap();
    assert_eq!(&b[..8], b"MDBCUR\0\0");
    u32::from_le_bytes(b[8..12].try_into().unwrap())
}

#[test]
fn cursor_file_version_1_reads_back() {
    let p = pair();
    assert_eq!(cursor_file_version(&p.dir, "platform-v1"), 1);
    let info = |db: &Db| {
        db.cursors()
            .into_iter()
            .find(|c| c.name == "platform-v1")
            .unwrap()
    };
    let g = info(&p.golden);
    // Acknowledged up to the 100th change of WAL record 3 (the samples), and past the third
    // day bucket of point 1 (the last of the three closed days).
    assert_eq!(g.acked, (3 << 22) + 100);
    assert_eq!(g.buckets, vec![(Tier::Day, T0 + 2 * DAY, 2)]);
    assert_eq!(g, info(&p.fresh));
    let again = |db: &Db| {
        db.cursor_read_buckets("platform-v1", Tier::Day, 10, Some(T0 + 3 * DAY))
            .unwrap()
    };
    let g = again(&p.golden);
    assert!(g.iter().all(|b| !b.corrected), "{g:?}");
    assert_eq!(g, again(&p.fresh));
    let changes = |db: &Db| db.cursor_read("platform-v1", 1000).unwrap();
    assert_eq!(changes(&p.golden), changes(&p.fresh));
}

#[test]
fn cursor_file_version_2_reads_back() {
    let p = pair();
    assert_eq!(cursor_file_version(&p.dir, "platform-v2"), 2);
    let info = |db: &Db| {
        db.cursors()
            .into_iter()
            .find(|c| c.name == "platform-v2")
            .unwrap()
    };
    let g = info(&p.golden);
    assert_eq!(g.acked, (3 << 22) + 100);
    assert_eq!(g.buckets, vec![(Tier::Day, T0 + 2 * DAY, 2)]);
    assert_eq!(g, info(&p.fresh));
    // The buckets to deliver again: the first day of the register, the second of the gauge.
    let read = |db: &Db| {
        db.cursor_read_buckets("platform-v2", Tier::Day, 10, Some(T0 + 3 * DAY))
            .unwrap()
    };
    let g = read(&p.golden);
    let again: Vec<(i64, u32)> = g
        .iter()
        .filter(|b| b.corrected)
        .map(|b| (b.row.bucket.start, b.point))
        .collect();
    assert_eq!(again, vec![(T0, 0), (T0 + DAY, 1)]);
    let f = read(&p.fresh);
    assert_eq!(g.len(), f.len());
    for (g, f) in g.iter().zip(&f) {
        // The revision is the WAL's last durable seq when read: the same content gives the
        // same, but compare the figures whatever it is.
        assert_eq!((g.point, g.row, g.corrected), (f.point, f.row, f.corrected));
    }
}

#[test]
fn unit_catalog_and_marker_read_back() {
    let p = pair();
    let g = p.golden.unit_catalog().unwrap();
    let mut f = p.fresh.unit_catalog().unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.history.len(), 1);
    assert_eq!(g.history[0].applied_at, GOLDEN_APPLIED_AT);
    f.history[0].applied_at = GOLDEN_APPLIED_AT;
    assert_eq!(g, f);
    assert_eq!(
        g.configs["unit-kwh"].coal,
        vec![CoalCoefficient {
            from: T0,
            to: Some(T0 + 365 * DAY),
            kgce_per_unit: 0.1229
        }]
    );
    // The marker: a database holding the golden UNITCAT and no points defines the
    // configured point at the first unit-catalog call after open unless the marker names
    // UNITCAT's version.
    let defines = |marker: bool| {
        let d = tempfile::tempdir().unwrap();
        drop(Db::open(d.path(), Options::default()).unwrap());
        std::fs::copy(p.dir.join("db/UNITCAT"), d.path().join("UNITCAT")).unwrap();
        if marker {
            std::fs::copy(
                p.dir.join("db/UNITCAT.applied"),
                d.path().join("UNITCAT.applied"),
            )
            .unwrap();
        }
        let db = Db::open(d.path(), Options::default()).unwrap();
        assert_eq!(db.unit_catalog_version(), 3);
        db.point_id("unit-kwh").is_some()
    };
    assert!(defines(false));
    assert!(!defines(true), "the marker names version 3");
}

#[test]
fn upload_log_reads_back() {
    let p = pair();
    let all = |db: &Db| {
        db.upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
            .unwrap()
    };
    assert_eq!(all(&p.golden), upload_records());
    assert_eq!(all(&p.golden), all(&p.fresh));
    let failed = p
        .golden
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::Failed)
        .unwrap();
    assert_eq!(failed, upload_records()[1..]);
}

#[test]
fn bundles_read_back() {
    let p = pair();
    for (name, samples, deletes) in [
        ("bundle-range.mdbb", 2 * 96 - 2 + 1, 0),
        ("bundle-cursor.mdbb", 2 * 3 * 96 + 2, 1),
    ] {
        let g = p.golden.verify_bundle(p.dir.join(name)).unwrap();
        let f = p
            .fresh
            .verify_bundle(Path::new("/fresh").join(name))
            .unwrap();
        assert_eq!(g, f, "{name}");
        assert_eq!((g.samples, g.deletes), (samples, deletes), "{name}");
        // Byte for byte what this build writes.
        let bytes = std::fs::read(p.dir.join(name)).unwrap();
        let now = p.mem.read(&Path::new("/fresh").join(name)).unwrap();
        assert!(
            bytes == now[..],
            "{name} differs from what this build writes"
        );
        // Imported into an empty database: the exporting database's data of the range.
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        let rep = db.import_bundle(p.dir.join(name)).unwrap();
        assert_eq!(rep, g);
        for bp in &g.points {
            let here = db.point_id(&bp.meta.key).unwrap();
            let there = p.golden.point_id(&bp.meta.key).unwrap();
            let (from, to) = if name == "bundle-range.mdbb" {
                (T0, T0 + DAY)
            } else {
                (i64::MIN, i64::MAX)
            };
            let a = db.read_range(here, from, to).unwrap();
            let b = p.golden.read_range(there, from, to).unwrap();
            assert_eq!(a.len(), b.len(), "{name} {}", bp.meta.key);
            assert!(a.ts == b.ts && a.quality == b.quality);
            assert!(a
                .values
                .iter()
                .zip(&b.values)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}

#[test]
fn tiers_file_reads_back() {
    let dir = fixture();
    let golden = std::fs::read(dir.join("db/TIERS")).unwrap();
    assert_eq!(golden.len(), 17);
    for (set, same) in [(TierSet::ALL, true), (TierSet(0b00110), false)] {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&dir, tmp.path());
        let db = Db::open(
            tmp.path().join("db"),
            Options {
                tiers: set,
                ..Options::default()
            },
        )
        .unwrap();
        drop(db);
        let now = std::fs::read(tmp.path().join("db/TIERS")).unwrap();
        // Opened with the set the file holds, nothing is derived again nor stored.
        assert_eq!(now == golden, same, "{set:?}");
    }
}

#[test]
fn rollup_files_of_16_columns_read_back() {
    let p = pair();
    // Every stored rollup block has the 16 columns.
    let mut files = 0;
    for e in std::fs::read_dir(p.dir.join("db")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if ["hour-", "day-", "month-", "year-"]
            .iter()
            .any(|k| name.starts_with(k))
        {
            let seg =
                Segment::open(&meterdb::io::FileStorage, &p.dir.join("db").join(&name)).unwrap();
            seg.verify().unwrap();
            assert!(seg.blocks().all(|b| b.cols.len() == 16), "{name}");
            files += 1;
        }
    }
    assert!(files >= 4, "{files} rollup files");
    for point in 0..2 {
        for tier in Tier::ALL {
            let g = p
                .golden
                .rollup(point, tier, i64::MIN / 4, i64::MAX / 4)
                .unwrap();
            let f = p
                .fresh
                .rollup(point, tier, i64::MIN / 4, i64::MAX / 4)
                .unwrap();
            assert_eq!(g, f, "point {point} {tier:?}");
        }
    }
    // The register's three days, with their quality counts.
    let days = p.golden.rollup(0, Tier::Day, T0, T0 + 3 * DAY).unwrap();
    let counts: Vec<[u64; 5]> = days
        .iter()
        .map(|r| {
            let b = &r.bucket;
            [b.count, b.invalid, b.manual, b.estimated, b.backward]
        })
        .collect();
    assert_eq!(counts, EXPECTED_DAY_COUNTS);
    assert!(p.golden.verify().unwrap().is_empty());
}

/// count, invalid, manual, estimated, backward of the register's three days.
const EXPECTED_DAY_COUNTS: [[u64; 5]; 3] = [[93, 4, 6, 10, 1], [91, 5, 5, 7, 1], [92, 4, 5, 9, 2]];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
