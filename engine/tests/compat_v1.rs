//! Golden files of each on-disk format version: a small database written by that version is
//! committed under `tests/fixtures/vN/` (version 1: segment files whose index entries hold
//! min, max and sum; version 2: the compact index of docs/format/segment.md), and every later
//! build must open each and read back exactly the same samples and buckets.
//!
//! To write the current version's directory (only when the format version changes, into a
//! new directory; never over an older version's): `MDB_WRITE_GOLDEN=1 cargo test -p meterdb
//! --test compat_v1`.

use std::path::{Path, PathBuf};

use meterdb::{Db, Durability, Options, PointKind, PointMeta, Tier, WriteBatch};

/// 2026-01-01T00:00:00+08:00.
const T0: i64 = 1_767_196_800_000;

fn fixture(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

/// The content: a register with 2 decimals (one correction, one deleted range, a meter
/// replacement), a noisy gauge with 1 decimal, a constant, part flushed and compacted, part
/// left in the WAL.
fn write_content(db: &Db) {
    let reg = db
        .define_point(
            PointMeta::new("91350100MA2GOLDEN1X0101000000000001", PointKind::Counter)
                .with_unit("kWh")
                .with_precision(2)
                .with_interval_ms(900_000)
                .with_coal_coefficient(0, 0.1229)
                .with_tag("workshop", "rolling"),
        )
        .unwrap();
    let gauge = db
        .define_point(PointMeta::new("gauge-kw", PointKind::Gauge).with_unit("kW"))
        .unwrap();
    let konst = db
        .define_point(PointMeta::new("const", PointKind::Gauge))
        .unwrap();
    for (part, flush) in [(0..1000i64, true), (1000..1200, false)] {
        let mut b = WriteBatch::new();
        for i in part {
            let ts = T0 + i * 900_000;
            let r = if i < 700 {
                100.0 + i as f64 * 1.25
            } else {
                (i - 700) as f64 * 1.25
            };
            b.put(reg, ts, (r * 100.0f64).round() / 100.0);
            b.put(
                gauge,
                ts,
                ((40.0 + (i % 96) as f64 * 0.7) * 10.0f64).round() / 10.0,
            );
            b.put(konst, ts, 0.4);
        }
        db.write(&b).unwrap();
        if flush {
            db.put(reg, T0 + 5 * 900_000, 106.0).unwrap(); // a correction
            db.delete_range(gauge, T0 + 10 * 900_000, T0 + 20 * 900_000)
                .unwrap();
            db.flush().unwrap();
            db.compact().unwrap();
        }
    }
}

#[test]
fn format_v1_golden_database_reads_back_exactly() {
    reads_back_exactly(1);
}

#[test]
fn format_v2_golden_database_reads_back_exactly() {
    reads_back_exactly(2);
}

/// The segment format version in the header of each segment and rollup file of `dir`.
fn segment_versions(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "seg") {
            let b = std::fs::read(&path).unwrap();
            out.push(u32::from_le_bytes(b[8..12].try_into().unwrap()));
        }
    }
    out
}

fn reads_back_exactly(version: u32) {
    let dir = fixture(version);
    if std::env::var_os("MDB_WRITE_GOLDEN").is_some() && version == meterdb::segment::VERSION {
        let _ = std::fs::remove_dir_all(&dir);
        let db = Db::open(&dir, Options::default()).unwrap();
        write_content(&db);
        db.close().unwrap();
        let _ = std::fs::remove_file(dir.join("LOCK"));
    }
    assert!(
        dir.join("MANIFEST").exists(),
        "golden database missing: {}",
        dir.display()
    );
    let versions = segment_versions(&dir);
    assert!(!versions.is_empty() && versions.iter().all(|&v| v == version));
    // Work on a copy: opening may truncate or append.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&dir, tmp.path());
    let golden = Db::open(tmp.path(), Options::default()).unwrap();
    // The same content written now, in memory, is the expected answer.
    let mem = meterdb::io::MemStorage::new();
    let fresh = Db::open(
        "/fresh",
        Options {
            storage: Some(std::sync::Arc::new(mem)),
            durability: Durability::None,
            ..Options::default()
        },
    )
    .unwrap();
    write_content(&fresh);
    for p in 0..3 {
        assert_eq!(golden.point(p), fresh.point(p));
        let g = golden.read_range(p, i64::MIN, i64::MAX).unwrap();
        let f = fresh.read_range(p, i64::MIN, i64::MAX).unwrap();
        assert_eq!(g.len(), f.len());
        assert!(g.ts == f.ts && g.quality == f.quality);
        assert!(g
            .values
            .iter()
            .zip(&f.values)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        for tier in Tier::ALL {
            let g = golden.rollup(p, tier, i64::MIN / 4, i64::MAX / 4).unwrap();
            let f = fresh.rollup(p, tier, i64::MIN / 4, i64::MAX / 4).unwrap();
            assert_eq!(g.len(), f.len(), "point {p} {tier:?}");
            for (g, f) in g.iter().zip(&f) {
                // The golden files were written before sums and increases were rounded to
                // the decimals they stand for: those (and what derives from them) agree to
                // the float error of their additions, the rest bit for bit.
                let (mut gb, mut fb) = (*g, *f);
                assert!(close(gb.bucket.sum, fb.bucket.sum), "point {p} {tier:?}");
                assert!(close(gb.bucket.inc, fb.bucket.inc), "point {p} {tier:?}");
                let both = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(a), Some(b)) => close(a, b),
                    (a, b) => a.is_none() && b.is_none(),
                };
                assert!(both(gb.mean, fb.mean), "point {p} {tier:?}");
                assert!(both(gb.consumption, fb.consumption), "point {p} {tier:?}");
                (gb.bucket.sum, gb.bucket.inc, gb.mean, gb.consumption) = (0.0, 0.0, None, None);
                (fb.bucket.sum, fb.bucket.inc, fb.mean, fb.consumption) = (0.0, 0.0, None, None);
                assert_eq!(gb, fb, "point {p} {tier:?}");
            }
        }
    }
    assert!(golden.verify().unwrap().is_empty());
}

/// Equal within 1e-12 relative (1e-12 absolute near zero).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

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
