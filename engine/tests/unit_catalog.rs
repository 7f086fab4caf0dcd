//! The unit catalog: credit codes, data-item codes, applying updates (full and delta), a
//! stale base version, invalid updates, reopening, power losses in the middle of an apply,
//! damaged files, and the encoding's round trip (proptest).

use std::path::Path;
use std::sync::Arc;

use meterdb::io::{FaultStorage, MemStorage, Storage};
use meterdb::unit::{credit_code_check_char, validate_credit_code, UNIT_HEADER_LEN};
use meterdb::{
    CoalCoefficient, CoalUnit, CollectionConfig, DataItemCode, Db, Device, DeviceKind, Durability,
    Enterprise, ErrorKind, ObjectType, Options, PointKind, ProcessStage, Tier, UnitCatalog,
    UnitCatalogUpdate, UpdateMode, WriteBatch,
};
use proptest::prelude::*;

mod support;

const DAY: i64 = 86_400_000;
/// 2025-01-01T00:00:00+08:00.
const Y2025: i64 = 1_735_660_800_000;

/// A valid credit code: the 17 characters given and their check character.
fn code(prefix17: &str) -> String {
    format!("{prefix17}{}", credit_code_check_char(prefix17).unwrap())
}

fn enterprise() -> Enterprise {
    Enterprise {
        credit_code: code("91350100MA2XY7K3P"),
        name: "福州示范钢铁有限公司".into(),
        region_code: "350100".into(),
        industry: "C3110".into(),
        address: "福建省福州市".into(),
    }
}

fn device(id: &str, kind: DeviceKind) -> Device {
    Device {
        id: id.into(),
        kind,
        name: format!("{id} name"),
        model: "DTSD1352".into(),
        serial: format!("SN-{id}"),
        installed_at: Some(Y2025 - 30 * DAY),
    }
}

fn config(key: &str, item: &str, device: Option<&str>) -> CollectionConfig {
    let mut c = CollectionConfig::new(key, DataItemCode::parse(item).unwrap(), PointKind::Counter);
    c.unit = "kWh".into();
    c.precision = Some(2);
    c.interval_ms = Some(900_000);
    c.multiplier = 40.0;
    c.coal = vec![
        CoalCoefficient {
            from: Y2025,
            to: Some(Y2025 + 365 * DAY),
            kgce_per_unit: 0.1229,
        },
        CoalCoefficient {
            from: Y2025 + 365 * DAY,
            to: None,
            kgce_per_unit: 0.1300,
        },
    ];
    c.device = device.map(str::to_string);
    c
}

fn v1() -> UnitCatalogUpdate {
    UnitCatalogUpdate::full(
        0,
        1,
        enterprise(),
        vec![
            device("gw-1", DeviceKind::Gateway),
            device("m-1", DeviceKind::Meter),
        ],
        vec![
            config("steel/main-kwh", "0100400120030001", Some("m-1")),
            config("steel/furnace-kwh", "0100400140120001", Some("m-1")),
        ],
    )
}

/// A delta on v1: the main meter's multiplier changes, a gas point is added, the furnace's
/// config is removed.
fn v2() -> UnitCatalogUpdate {
    let mut u = UnitCatalogUpdate::delta(1, 2);
    let mut main = config("steel/main-kwh", "0100400120030001", Some("m-1"));
    main.multiplier = 80.0;
    let mut gas = config("steel/bf-gas", "0301200220050002", Some("gw-1"));
    gas.unit = "m3".into();
    gas.energy_type = "0301".into();
    gas.kind = PointKind::Gauge;
    u.configs = vec![main, gas];
    u.remove_configs = vec!["steel/furnace-kwh".into()];
    u
}

fn mem_opts(s: &MemStorage) -> Options {
    Options {
        durability: Durability::Sync,
        background: false,
        storage: Some(Arc::new(s.clone())),
        ..Options::default()
    }
}

fn fault_opts(s: &FaultStorage, durability: Durability) -> Options {
    Options {
        durability,
        background: false,
        storage: Some(Arc::new(s.clone())),
        ..Options::default()
    }
}

/// Every configured point's metadata follows its config.
fn assert_points_follow(db: &Db) {
    let cat = db.unit_catalog().expect("a unit catalog");
    for c in cat.configs.values() {
        let id = db
            .point_id(&c.point_key)
            .unwrap_or_else(|| panic!("point {} is not defined", c.point_key));
        let m = db.point(id).unwrap();
        assert_eq!(m.kind, c.kind, "{}", c.point_key);
        assert_eq!(m.unit, c.unit);
        assert_eq!(m.precision, c.precision);
        assert_eq!(m.energy_type, c.energy_type);
        assert_eq!(m.interval_ms, c.interval_ms);
        assert_eq!(m.multiplier, c.multiplier);
        let coal: Vec<(i64, f64)> = c.coal.iter().map(|k| (k.from, k.kgce_per_unit)).collect();
        assert_eq!(m.coal, coal);
    }
}

#[test]
fn credit_codes_are_checked() {
    // Codes in the real format, their check characters computed here.
    for p in [
        "91350100MA2XY7K3P",
        "91110000600001760",
        "12100000400000624",
        "52310000MJ4973281",
    ] {
        let c = code(p);
        validate_credit_code(&c).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
    let good = code("91350100MA2XY7K3P");
    // Every other check character is refused, and says so.
    for ch in meterdb::unit::CREDIT_CODE_CHARSET
        .iter()
        .map(|&b| b as char)
    {
        if good.ends_with(ch) {
            continue;
        }
        let bad = format!("{}{ch}", &good[..17]);
        let e = validate_credit_code(&bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("check character"), "{e}");
    }
    // A character outside the set: named with its position.
    let e = validate_credit_code(&format!("91350100MA2XI7K3P{}", &good[17..])).unwrap_err();
    assert!(
        e.to_string().contains("character 13") && e.to_string().contains("'I'"),
        "{e}"
    );
    let e = validate_credit_code(&good.to_lowercase()).unwrap_err();
    assert!(e.to_string().contains("upper case"), "{e}");
    for bad in [
        "",
        "91350100MA2XY7K3",
        "91350100MA2XY7K3PXX",
        "９1350100MA2XY7K3PX",
    ] {
        let e = validate_credit_code(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
    }
    // Swapping two characters is caught by the check character.
    let mut swapped: Vec<char> = good.chars().collect();
    swapped.swap(9, 10);
    let swapped: String = swapped.into_iter().collect();
    if swapped != good {
        assert!(validate_credit_code(&swapped).is_err());
    }
}

#[test]
fn data_item_codes_parse_format_and_refuse() {
    let c = DataItemCode::parse("0301200220050002").unwrap();
    assert_eq!(
        c,
        DataItemCode {
            energy_type: 301,
            stage: ProcessStage::Conversion,
            unit_code: 2,
            object_type: ObjectType::Branch,
            object_code: 5,
            item_type: 2,
        }
    );
    assert_eq!(c.to_string(), "0301200220050002");
    assert_eq!(c.energy_type_code(), "0301");
    let cases = [
        ("", "16 digits"),
        ("010040012003000", "16 digits"),
        ("01004001200300011", "16 digits"),
        ("01004001200300a1", "position 15"),
        ("0100000120030001", "process stage"),
        ("0100700120030001", "process stage"),
        ("0100400100030001", "collection-object type"),
        ("0100400160030001", "collection-object type"),
        ("０100400120030001", "16 digits"),
    ];
    for (s, want) in cases {
        let e = DataItemCode::parse(s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains(want), "{s}: {e}");
    }
}

#[test]
fn apply_then_reopen_then_delta() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options {
        durability: Durability::None,
        background: false,
        ..Options::default()
    };
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(db.unit_catalog_version(), 0);
        assert!(db.unit_catalog().is_none());
        let h = db.apply_unit_catalog(&v1()).unwrap();
        assert_eq!((h.version, h.base_version, h.full), (1, 0, true));
        assert_eq!((h.devices, h.configs, h.changes), (2, 2, 5));
        assert_points_follow(&db);
        // A point's other metadata (tags) survives the catalog.
        let id = db.point_id("steel/main-kwh").unwrap();
        let tagged = db.point(id).unwrap().with_tag("workshop", "rolling");
        db.define_point(tagged).unwrap();
    }
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.unit_catalog_version(), 1);
    assert_points_follow(&db);
    let h = db.apply_unit_catalog(&v2()).unwrap();
    assert_eq!((h.version, h.full, h.changes, h.configs), (2, false, 3, 2));
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    let cat = db.unit_catalog().unwrap();
    assert_eq!(cat.version, 2);
    assert_eq!(cat.enterprise, enterprise());
    assert!(cat.configs.contains_key("steel/bf-gas"));
    assert!(!cat.configs.contains_key("steel/furnace-kwh"));
    assert_points_follow(&db);
    let main = db.point(db.point_id("steel/main-kwh").unwrap()).unwrap();
    assert_eq!(main.multiplier, 80.0);
    assert_eq!(
        main.tags.get("workshop").map(String::as_str),
        Some("rolling")
    );
    // The removed config's point stays, with its last metadata.
    let furnace = db.point(db.point_id("steel/furnace-kwh").unwrap()).unwrap();
    assert_eq!(furnace.multiplier, 40.0);
    let hist = db.unit_catalog_history();
    assert_eq!(
        hist.iter().map(|h| h.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(hist[0].applied_at <= hist[1].applied_at);
    assert!(db.verify().unwrap().is_empty());
    // A coefficient with an end date: in force before it, not after (in the unit catalog).
    let c = &cat.configs["steel/main-kwh"];
    assert_eq!(c.coal_at(Y2025 - 1), None);
    assert_eq!(c.coal_at(Y2025), Some(0.1229));
    assert_eq!(c.coal_at(Y2025 + 365 * DAY), Some(0.13));
}

#[test]
fn a_stale_base_version_is_a_conflict() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    db.apply_unit_catalog(&v1()).unwrap();
    let before = s.read(Path::new("/db/UNITCAT")).unwrap();
    // Applying v1 again (base 0), or a delta on a version that does not exist.
    for u in [v1(), UnitCatalogUpdate::delta(5, 6)] {
        let e = db.apply_unit_catalog(&u).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        assert!(e.to_string().contains("current version is 1"), "{e}");
    }
    db.apply_unit_catalog(&v2()).unwrap();
    // v2 again: its base (1) is now stale.
    let e = db.apply_unit_catalog(&v2()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_ne!(s.read(Path::new("/db/UNITCAT")).unwrap(), before);
    assert_eq!(db.unit_catalog_version(), 2);
}

#[test]
fn an_invalid_update_changes_nothing() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    db.apply_unit_catalog(&v1()).unwrap();
    let file = s.read(Path::new("/db/UNITCAT")).unwrap();
    let cat = db.unit_catalog().unwrap();
    let points = db.points(&Default::default());

    let mut bad_code = v2();
    bad_code.enterprise = Some(Enterprise {
        credit_code: "91350100MA2XY7K3PA".into(),
        ..enterprise()
    });
    let mut dangling = v2();
    dangling.configs[1].device = Some("nope".into());
    let mut dup_code = v2();
    dup_code.configs[1].data_item = dup_code.configs[0].data_item;
    let mut remove_absent = v2();
    remove_absent.remove_configs.push("no/such".into());
    let mut referenced = v2();
    referenced.remove_devices.push("m-1".into());
    let mut bad_meta = v2();
    bad_meta.configs[0].multiplier = 0.0;
    let mut bad_coal = v2();
    bad_coal.configs[0].coal[0].to = Some(Y2025 + 400 * DAY); // overlaps the next
    let mut not_newer = v2();
    not_newer.version = 1;
    let mut full_without_enterprise = v1();
    full_without_enterprise.base_version = 1;
    full_without_enterprise.version = 2;
    full_without_enterprise.enterprise = None;
    let mut many_coal = v2();
    many_coal.configs[0].coal = (0..65)
        .map(|i| CoalCoefficient {
            from: Y2025 + i * DAY,
            to: None,
            kgce_per_unit: 0.1,
        })
        .collect();
    let mut twice = v2();
    twice.configs.push(twice.configs[0].clone());
    let mut bad_region = v2();
    bad_region.enterprise = Some(Enterprise {
        region_code: "35010".into(),
        ..enterprise()
    });
    let cases = [
        (bad_code, "check character"),
        (dangling, "device \"nope\""),
        (dup_code, "used by points"),
        (remove_absent, "no/such"),
        (referenced, "device \"m-1\" is not in the catalog"),
        (bad_meta, "multiplier"),
        (bad_coal, "overlap"),
        (not_newer, "not greater"),
        (full_without_enterprise, "enterprise"),
        (twice, "twice"),
        (many_coal, "more than 64"),
        (bad_region, "region code"),
    ];
    for (u, want) in cases {
        let e = db.apply_unit_catalog(&u).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains(want), "wanted {want:?} in: {e}");
        assert_eq!(db.unit_catalog().as_ref(), Some(&cat));
        assert_eq!(s.read(Path::new("/db/UNITCAT")).unwrap(), file);
        assert_eq!(db.points(&Default::default()), points);
    }
    // And the valid one still applies.
    db.apply_unit_catalog(&v2()).unwrap();
}

/// A power cut at every mutating operation of an apply (v1 to v2), with and without WAL
/// syncs of ordinary writes: after the power loss the database opens at version 1 with
/// v1's point metadata, or at version 2 with v2's, never a mix.
#[test]
fn power_loss_during_apply_shows_old_or_new() {
    let mut seen = [0usize; 3];
    for durability in [Durability::Sync, Durability::None] {
        // Count the operations of a whole apply first.
        let probe = FaultStorage::new(1);
        let db = Db::open("/db", fault_opts(&probe, durability)).unwrap();
        db.apply_unit_catalog(&v1()).unwrap();
        let before = probe.ops();
        db.apply_unit_catalog(&v2()).unwrap();
        let ops = probe.ops() - before;
        drop(db);
        assert!(ops >= 5, "an apply takes {ops} operations");
        for cut in 1..=ops + 1 {
            for seed in 0..4u64 {
                let fs = FaultStorage::new(seed * 1000 + cut);
                let db = Db::open("/db", fault_opts(&fs, durability)).unwrap();
                db.apply_unit_catalog(&v1()).unwrap();
                db.sync().unwrap();
                fs.cut_power_after(cut);
                let r = db.apply_unit_catalog(&v2());
                drop(db);
                let after = fs.power_loss();
                let db = Db::open("/db", fault_opts(&after, durability))
                    .unwrap_or_else(|e| panic!("cut {cut} seed {seed}: open: {e}"));
                let v = db.unit_catalog_version();
                assert!(v == 1 || v == 2, "cut {cut}: version {v}");
                if r.is_ok() && cut > ops {
                    assert_eq!(v, 2, "an acknowledged apply is durable");
                }
                seen[v as usize] += 1;
                assert_points_follow(&db);
                let main = db.point(db.point_id("steel/main-kwh").unwrap()).unwrap();
                assert_eq!(main.multiplier, if v == 1 { 40.0 } else { 80.0 });
                assert_eq!(db.point_id("steel/bf-gas").is_some(), v == 2, "cut {cut}");
                assert!(db.verify().unwrap().is_empty());
                // It opens the same way a second time (the reconcile was durable).
                drop(db);
                let db = Db::open("/db", fault_opts(&after.power_loss(), durability)).unwrap();
                assert_eq!(db.unit_catalog_version(), v);
                assert_points_follow(&db);
            }
        }
    }
    println!(
        "power cuts: opened at version 1 {} times, at version 2 {} times",
        seen[1], seen[2]
    );
    assert!(seen[1] > 0 && seen[2] > 0, "both outcomes occur: {seen:?}");
}

/// A crash between the commit point and the point definitions (simulated by removing the
/// marker and the WAL records' effect: a database whose UNITCAT is newer than its marker)
/// is finished by the first use of the unit catalog after open, before it returns.
#[test]
fn open_finishes_an_interrupted_apply() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    db.apply_unit_catalog(&v1()).unwrap();
    drop(db);
    // Write v2's catalog file by hand, as step 2 of an apply would, and nothing else.
    let next = UnitCatalog::apply(
        Some(&UnitCatalog::decode_file(&s.read(Path::new("/db/UNITCAT")).unwrap()).unwrap()),
        &v2(),
        Y2025,
    )
    .unwrap();
    s.put(Path::new("/db/UNITCAT"), next.encode_file());
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    // The storage core alone does not know the energy layer: v2's points come with its
    // first call.
    assert!(db.point_id("steel/bf-gas").is_none());
    assert_eq!(db.unit_catalog_version(), 2);
    assert_points_follow(&db);
    assert!(db.point_id("steel/bf-gas").is_some());
}

#[test]
fn every_cut_and_bit_flip_of_the_file_is_an_error() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    db.apply_unit_catalog(&v1()).unwrap();
    db.apply_unit_catalog(&v2()).unwrap();
    drop(db);
    let file = s.read(Path::new("/db/UNITCAT")).unwrap().to_vec();
    let good = UnitCatalog::decode_file(&file).unwrap();
    for i in 0..file.len() {
        let e = UnitCatalog::decode_file(&file[..i]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corruption, "cut at {i}: {e}");
        for bit in 0..8 {
            let mut g = file.clone();
            g[i] ^= 1 << bit;
            match UnitCatalog::decode_file(&g) {
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::Corruption | ErrorKind::UnsupportedVersion
                    ),
                    "flip {i}.{bit}: {e}"
                ),
                Ok(c) => panic!("flip at {i}.{bit} decoded as {c:?} (was {good:?})"),
            }
        }
    }
    // A huge body length, and a body with a valid checksum but nonsense inside.
    let mut huge = file.clone();
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(UnitCatalog::decode_file(&huge).is_err());
    let mut forged = file[..UNIT_HEADER_LEN].to_vec();
    let body = vec![0xFF; 64];
    forged[12..20].copy_from_slice(&(body.len() as u64).to_le_bytes());
    forged.extend_from_slice(&body);
    let crc = crc32fast::hash(&forged);
    forged.extend_from_slice(&crc.to_le_bytes());
    let e = UnitCatalog::decode_file(&forged).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    // A database whose UNITCAT is damaged opens (its points and samples are the storage
    // core's), shows no unit catalog, and `verify` and an apply report a corruption error
    // naming the file.
    let mut g = file.clone();
    let mid = g.len() / 2;
    g[mid] ^= 0x40;
    s.put(Path::new("/db/UNITCAT"), g);
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    assert!(db.point_id("steel/main-kwh").is_some());
    assert_eq!(db.unit_catalog(), None);
    assert_eq!(db.unit_catalog_version(), 0);
    let problems = db.verify().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    for e in [&problems[0], &db.apply_unit_catalog(&v1()).unwrap_err()] {
        assert_eq!(e.kind(), ErrorKind::Corruption);
        assert!(e.to_string().contains("UNITCAT"), "{e}");
    }
}

#[test]
fn the_text_form_round_trips_and_names_bad_lines() {
    for u in [v1(), v2()] {
        let t = u.to_text();
        assert_eq!(UnitCatalogUpdate::parse_text(&t).unwrap(), u, "{t}");
    }
    let t = "# a dictionary update\nmeterdb-unit-catalog 1\nbase 0\nversion 1\nmode full\n\
             enterprise\t91350100MA2XY7K3PX\tX\t350100\t-\t-\n";
    // The text parses (it is well formed); applying it checks the records.
    let u = UnitCatalogUpdate::parse_text(t).unwrap();
    let e = UnitCatalog::apply(None, &u, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("check character"), "{e}");
    let ok = format!(
        "meterdb-unit-catalog 1\nbase\t0\nversion\t1\nmode\tfull\n\
         enterprise\t{}\tACME\t350100\tC3110\t-\n\
         device\tm-1\tmeter\t-\t-\t-\t2025-01-01T00:00:00+08:00\n\
         config\tp1\t0100400120030001\tcounter\t\tkWh\t2\t900000\t40\tm-1\t\
         2025-01-01T00:00:00+08:00/-/0.1229\n",
        code("91350100MA2XY7K3P")
    );
    let u = UnitCatalogUpdate::parse_text(&ok).unwrap();
    assert_eq!(u.mode, UpdateMode::Full);
    assert_eq!(u.devices[0].installed_at, Some(Y2025));
    assert_eq!(u.configs[0].energy_type, "0100");
    assert_eq!(u.configs[0].coal[0].from, Y2025);
    let cases = [
        ("", "empty"),
        ("hello\n", "line 1"),
        ("meterdb-unit-catalog 1\nbase\tx\n", "line 2"),
        (
            "meterdb-unit-catalog 1\nversion\t1\nmode\tfull\n",
            "no base",
        ),
        (
            "meterdb-unit-catalog 1\nbase\t0\nversion\t1\nmode\tsome\n",
            "line 4",
        ),
        (
            "meterdb-unit-catalog 1\nconfig\tp\t1\n",
            "expected 10 fields",
        ),
        ("meterdb-unit-catalog 1\nfrobnicate\t1\n", "unknown keyword"),
        (
            "meterdb-unit-catalog 1\nconfig\tp\t0100400120030001\tcounter\t-\t-\t-\t-\t-\t-\t1/2\n",
            "from/to/kgce",
        ),
    ];
    for (t, want) in cases {
        let e = UnitCatalogUpdate::parse_text(t).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains(want), "{t:?}: {e}");
    }
}

/// The real meter data configured through the unit catalog: its coefficients are the ones
/// the coal sums use.
#[test]
fn configures_the_shared_real_points() {
    let Some(rows) = support::shared_rows() else {
        return;
    };
    let s = MemStorage::new();
    let db = Db::open(
        "/db",
        Options {
            durability: Durability::None,
            background: false,
            tz_offset_min: Some(0),
            storage: Some(Arc::new(s.clone())),
            ..Options::default()
        },
    )
    .unwrap();
    let key = "uk-electricity-sample-0-register-kwh";
    let mine: Vec<(i64, f64)> = rows
        .iter()
        .filter(|r| r.0 == key)
        .map(|r| (r.1, r.2))
        .collect();
    assert!(mine.len() > 1000, "the shared data has the register {key}");
    let mut c = config(key, "0100400120030001", None);
    c.multiplier = 1.0;
    // In force from before the first sample: every year bucket (its start) has it.
    c.coal = vec![CoalCoefficient {
        from: 0,
        to: None,
        kgce_per_unit: 0.1229,
    }];
    let u = UnitCatalogUpdate::full(0, 1, enterprise(), vec![], vec![c]);
    db.apply_unit_catalog(&u).unwrap();
    let id = db.point_id(key).unwrap();
    let mut b = WriteBatch::new();
    for &(t, v) in &mine {
        b.put(id, t, v);
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
    let (from, to) = (mine[0].0, mine[mine.len() - 1].0 + 1);
    let plain = db.rollup_sum(&[id], Tier::Year, from, to).unwrap();
    let coal = db
        .coal_sum(&[id], Tier::Year, from, to, CoalUnit::Kgce)
        .unwrap();
    assert_eq!(plain.len(), coal.len());
    for (p, c) in plain.iter().zip(&coal) {
        let (p, c) = (p.consumption.unwrap(), c.consumption.unwrap());
        assert!(p > 0.0);
        assert!(support::close(c, p * 0.1229), "{c} vs {p} x 0.1229");
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _./\u{4e00}-\u{4e10}]{0,24}"
}

fn arb_code() -> impl Strategy<Value = DataItemCode> {
    (
        0u16..=9999,
        1u8..=6,
        0u16..=999,
        1u8..=5,
        0u16..=999,
        0u16..=9999,
    )
        .prop_map(|(e, s, u, o, oc, it)| DataItemCode {
            energy_type: e,
            stage: ProcessStage::from_digit(s).unwrap(),
            unit_code: u,
            object_type: ObjectType::from_digit(o).unwrap(),
            object_code: oc,
            item_type: it,
        })
}

fn arb_device() -> impl Strategy<Value = Device> {
    (
        "[a-z0-9][a-z0-9-]{0,11}",
        0u8..3,
        arb_text(),
        arb_text(),
        arb_text(),
        proptest::option::of(Y2025 - 1000 * DAY..Y2025 + 1000 * DAY),
    )
        .prop_map(|(id, k, name, model, serial, installed_at)| Device {
            id,
            kind: [
                DeviceKind::Gateway,
                DeviceKind::Collector,
                DeviceKind::Meter,
            ][k as usize],
            name,
            model,
            serial,
            installed_at,
        })
}

fn arb_config(devices: Vec<String>) -> impl Strategy<Value = CollectionConfig> {
    (
        "[a-z0-9/_-]{1,20}",
        arb_code(),
        any::<bool>(),
        "[0-9]{1,4}",
        "[a-zA-Z0-9³]{0,5}",
        proptest::option::of(0u8..=18),
        proptest::option::of(1i64..86_400_000),
        prop_oneof![Just(1.0), 0.001f64..1e6],
        proptest::collection::vec((1i64..100 * DAY, any::<bool>(), 0.0f64..10.0), 0..4),
        proptest::option::of(proptest::sample::select(if devices.is_empty() {
            vec![String::new()]
        } else {
            devices.clone()
        })),
    )
        .prop_map(
            move |(k, code, counter, et, unit, precision, interval, mult, coal, dev)| {
                let mut from = Y2025;
                let coal = coal
                    .into_iter()
                    .map(|(step, open, kgce)| {
                        from += step;
                        let to = (!open).then_some(from + step / 2 + 1);
                        let c = CoalCoefficient {
                            from,
                            to,
                            kgce_per_unit: kgce,
                        };
                        from += step;
                        c
                    })
                    .collect();
                CollectionConfig {
                    point_key: k,
                    data_item: code,
                    kind: if counter {
                        PointKind::Counter
                    } else {
                        PointKind::Gauge
                    },
                    energy_type: et,
                    unit,
                    precision,
                    interval_ms: interval,
                    multiplier: mult,
                    coal,
                    device: dev.filter(|d| !d.is_empty() && !devices.is_empty()),
                }
            },
        )
}

fn arb_update() -> impl Strategy<Value = UnitCatalogUpdate> {
    proptest::collection::vec(arb_device(), 0..5)
        .prop_flat_map(|mut devices| {
            devices.sort_by(|a, b| a.id.cmp(&b.id));
            devices.dedup_by(|a, b| a.id == b.id);
            let ids: Vec<String> = devices.iter().map(|d| d.id.clone()).collect();
            (
                Just(devices),
                proptest::collection::vec(arb_config(ids), 0..6),
                1u64..1000,
                "[0-9A-HJ-NPQRTUWXY]{17}",
                arb_text(),
            )
        })
        .prop_map(|(devices, mut configs, version, prefix, addr)| {
            configs.sort_by(|a, b| a.point_key.cmp(&b.point_key));
            configs.dedup_by(|a, b| a.point_key == b.point_key);
            let mut codes = std::collections::BTreeSet::new();
            configs.retain(|c| codes.insert(c.data_item));
            UnitCatalogUpdate::full(
                0,
                version,
                Enterprise {
                    credit_code: code(&prefix),
                    name: "单位".into(),
                    region_code: "110105".into(),
                    industry: String::new(),
                    address: addr,
                },
                devices,
                configs,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any valid catalog: encode, decode, equal; re-encoding gives the same bytes; the text
    /// form of its update parses back to the same update.
    #[test]
    fn encoding_round_trips(u in arb_update(), at in 0i64..4_000_000_000_000) {
        let cat = UnitCatalog::apply(None, &u, at).unwrap();
        let f = cat.encode_file();
        let back = UnitCatalog::decode_file(&f).unwrap();
        prop_assert_eq!(&back, &cat);
        prop_assert_eq!(back.encode_file(), f);
        prop_assert_eq!(UnitCatalogUpdate::parse_text(&u.to_text()).unwrap(), u);
    }

    /// Random damage to a valid file: an error, never a panic, never a different catalog
    /// accepted silently.
    #[test]
    fn damaged_files_are_refused(u in arb_update(), pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let f = UnitCatalog::apply(None, &u, 0).unwrap().encode_file();
        let mut g = f.clone();
        let i = pos.index(g.len());
        g[i] ^= x;
        prop_assert!(UnitCatalog::decode_file(&g).is_err());
    }
}

/// An online backup carries the unit catalog, and the copy's points follow it.
#[test]
fn a_backup_carries_the_unit_catalog() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    db.apply_unit_catalog(&v1()).unwrap();
    db.apply_unit_catalog(&v2()).unwrap();
    db.backup("/copy").unwrap();
    drop(db);
    let copy = Db::open("/copy", mem_opts(&s)).unwrap();
    assert_eq!(copy.unit_catalog_version(), 2);
    assert_eq!(copy.unit_catalog_history().len(), 2);
    assert_points_follow(&copy);
}

/// A config with the most coefficients allowed stores and reopens.
#[test]
fn the_most_coefficients_round_trip() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    let mut u = v1();
    u.configs[0].coal = (0..meterdb::unit::MAX_COAL as i64)
        .map(|i| CoalCoefficient {
            from: Y2025 + i * DAY,
            to: Some(Y2025 + i * DAY + DAY / 2),
            kgce_per_unit: 0.1 + i as f64 / 1000.0,
        })
        .collect();
    db.apply_unit_catalog(&u).unwrap();
    drop(db);
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    let cat = db.unit_catalog().unwrap();
    assert_eq!(cat.configs["steel/main-kwh"].coal, u.configs[0].coal);
    assert_points_follow(&db);
}

/// Figures, not a test of speed: the median time of applying a full update of 2,000 configs
/// (every point's metadata changes) and of a one-config delta on top of it, on the real file
/// system with `Durability::Sync`, and the size of `UNITCAT`. Run with
/// `cargo test --release -p meterdb --test unit_catalog apply_figures -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures; run by hand"]
fn apply_figures() {
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            durability: Durability::Sync,
            background: false,
            ..Options::default()
        },
    )
    .unwrap();
    let full = |base: u64, mult: f64| {
        let devices: Vec<Device> = (0..200)
            .map(|i| device(&format!("m-{i}"), DeviceKind::Meter))
            .collect();
        let configs: Vec<CollectionConfig> = (0..2000)
            .map(|i| {
                let mut c = config(
                    &format!("plant/p{i:04}"),
                    &format!("01004{:03}4{:03}0001", i / 1000, i % 1000),
                    Some(&format!("m-{}", i % 200)),
                );
                c.multiplier = mult;
                c
            })
            .collect();
        UnitCatalogUpdate::full(base, base + 1, enterprise(), devices, configs)
    };
    let (mut t_full, mut t_delta) = (Vec::new(), Vec::new());
    let mut v = 0;
    for round in 0..7 {
        let u = full(v, 1.0 + round as f64);
        let t = Instant::now();
        db.apply_unit_catalog(&u).unwrap();
        t_full.push(t.elapsed().as_secs_f64() * 1e3);
        v += 1;
        let mut d = UnitCatalogUpdate::delta(v, v + 1);
        let mut c = config("plant/p0007", "0100400040070001", Some("m-7"));
        c.multiplier = 100.0 + round as f64;
        d.configs = vec![c];
        let t = Instant::now();
        db.apply_unit_catalog(&d).unwrap();
        t_delta.push(t.elapsed().as_secs_f64() * 1e3);
        v += 1;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (f, d) = (median(&mut t_full), median(&mut t_delta));
    let size = std::fs::metadata(dir.path().join("UNITCAT")).unwrap().len();
    println!(
        "full update of 2000 configs: median {f:.2} ms; one-config delta: median {d:.2} ms \
         (ratio full/delta {:.1}); UNITCAT {size} bytes",
        f / d
    );
}
