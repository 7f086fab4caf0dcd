//! `Db::verify` against damage in every kind of file: a byte flipped anywhere in a raw
//! segment, a rollup file of each tier, the catalog, the manifest, the cursor file, the unit
//! catalog or the upload log is reported by `verify` or refused by `Db::open`, never
//! passed over. (The WAL is checked when the database opens: damage at its tail reads as an
//! interrupted write, by design; it is not part of this test, nor is the marker of the unit
//! catalog version applied, whose damage only makes the next open apply it again.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meterdb::io::{MemStorage, Storage};
use meterdb::unit::credit_code_check_char;
use meterdb::{
    CollectionConfig, CursorStart, DataItemCode, Db, Enterprise, OutcomeFilter, PointKind,
    PointMeta, Tier, TierSet, UnitCatalogUpdate, UploadOutcome, UploadRecord, WriteBatch,
};

mod support;
use support::mem_opts;

/// 2026-01-01T00:00:00+08:00.
const T0: i64 = 1_767_196_800_000;

fn unit_catalog() -> UnitCatalogUpdate {
    let prefix = "91350100MA2XY7K3P";
    let code = format!("{prefix}{}", credit_code_check_char(prefix).unwrap());
    let mut c = CollectionConfig::new(
        "steel/main-kwh",
        DataItemCode::parse("0100400120030001").unwrap(),
        PointKind::Counter,
    );
    c.unit = "kWh".into();
    c.interval_ms = Some(900_000);
    UnitCatalogUpdate::full(
        0,
        1,
        Enterprise {
            credit_code: code,
            name: "示范钢铁".into(),
            region_code: "350100".into(),
            industry: "C3110".into(),
            address: "福州".into(),
        },
        Vec::new(),
        vec![c],
    )
}

/// A closed database with a file of every kind: raw segments, hour to year rollup files, a
/// catalog, a manifest, a cursor file, a unit catalog and an upload log.
fn build() -> MemStorage {
    let s = MemStorage::new();
    let db = Db::open(Path::new("/db"), mem_opts(&s)).unwrap();
    let c = db
        .define_point(PointMeta::new("kwh", PointKind::Counter).with_interval_ms(900_000))
        .unwrap();
    let g = db
        // Declared as read every minute, so that its hour tier is stored (an hour file).
        .define_point(PointMeta::new("kw", PointKind::Gauge).with_interval_ms(60_000))
        .unwrap();
    // Keeps the day and the year but not the month: its years are stored (a year file).
    let y = db
        .define_point(
            PointMeta::new("kwh-dy", PointKind::Counter)
                .with_interval_ms(900_000)
                .with_tiers(TierSet::NONE.with(Tier::Day).with(Tier::Year)),
        )
        .unwrap();
    let mut b = WriteBatch::new();
    for i in 0..40 * 96i64 {
        b.put(y, T0 + i * 900_000, 50.0 + i as f64 * 0.5);
        let t = T0 + i * 900_000;
        b.put_with_quality(
            c,
            t,
            1000.0 + i as f64 * 1.25,
            if i % 50 == 0 { 0 } else { 1 },
        );
        b.put(g, t, (i % 17) as f64 * 0.5);
    }
    db.write(&b).unwrap();
    db.create_cursor("up", CursorStart::Beginning).unwrap();
    db.apply_unit_catalog(&unit_catalog()).unwrap();
    db.flush().unwrap();
    db.record_upload(&UploadRecord {
        cursor: "up".into(),
        first_id: 1,
        last_id: 2,
        samples: 2,
        outcome: UploadOutcome::Ok,
        platform_time: Some(T0),
        at: T0,
    })
    .unwrap();
    db.record_upload(&UploadRecord {
        cursor: "up".into(),
        first_id: 3,
        last_id: 4,
        samples: 2,
        outcome: UploadOutcome::Failed("timeout".into()),
        platform_time: None,
        at: T0 + 1,
    })
    .unwrap();
    db.close().unwrap();
    s
}

/// Every file of the database: its directory, cursors and upload log.
fn files(s: &MemStorage) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["/db", "/db/cursors", "/db/uploads"] {
        for n in s.list(Path::new(dir)).unwrap_or_default() {
            out.push(Path::new(dir).join(n));
        }
    }
    out
}

fn kind_of(p: &Path) -> Option<&'static str> {
    let name = p.file_name()?.to_str()?;
    let dir = p.parent()?.file_name()?.to_str()?;
    Some(match () {
        _ if dir == "wal" => return None,
        _ if dir == "uploads" => "upload log",
        _ if dir == "cursors" => "cursors",
        _ if name.starts_with("seg-") => "raw segment",
        _ if name.starts_with("hour-") => "hour rollup",
        _ if name.starts_with("day-") => "day rollup",
        _ if name.starts_with("month-") => "month rollup",
        _ if name.starts_with("year-") => "year rollup",
        _ if name.starts_with("catalog-") => "catalog",
        _ if name == "MANIFEST" => "manifest",
        // The marker of the unit catalog version applied to the points: damage there only
        // makes the next open apply the catalog's configs again (idempotent).
        _ if name == "UNITCAT.applied" => return None,
        _ if name.starts_with("UNITCAT") => "unit catalog",
        _ if name == "TIERS" => "tiers",
        _ if name == "LOCK" => return None,
        _ => "other",
    })
}

/// Whether damage in the copy `s` is seen: the database refuses to open, `verify` reports a
/// problem, or (the upload log being read on demand) reading the upload records fails.
fn seen(s: &MemStorage) -> bool {
    let db = match Db::open(Path::new("/db"), mem_opts(s)) {
        Ok(db) => db,
        Err(_) => return true,
    };
    let problems = db.verify().unwrap();
    !problems.is_empty()
        || db
            .upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
            .is_err()
}

#[test]
fn verify_sees_a_flipped_byte_in_every_kind_of_file() {
    let base = build();
    let all = files(&base);
    let mut tried: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut missed = Vec::new();
    for path in &all {
        let Some(kind) = kind_of(path) else { continue };
        let bytes = base.read(path).unwrap();
        // Every byte of small files, about 400 spread over larger ones.
        let step = (bytes.len() / 400).max(1);
        for at in (0..bytes.len()).step_by(step) {
            let copy = base.crash();
            let mut b = bytes.to_vec();
            b[at] ^= 0x20;
            copy.put(path, b);
            let e = tried.entry(kind).or_default();
            e.0 += 1;
            if seen(&copy) {
                e.1 += 1;
            } else {
                missed.push(format!("{} at {at}", path.display()));
            }
        }
    }
    for (kind, (n, ok)) in &tried {
        println!("{kind}: {ok} of {n} flips reported");
    }
    for k in [
        "raw segment",
        "hour rollup",
        "day rollup",
        "month rollup",
        "year rollup",
        "catalog",
        "manifest",
        "cursors",
        "unit catalog",
        "upload log",
        "tiers",
    ] {
        assert!(tried.contains_key(k), "no {k} file was made: {all:?}");
    }
    assert!(missed.is_empty(), "flips not reported: {missed:?}");
}
