//! The isolation path end to end, in process: a gateway's database and sender write sealed
//! bundles to one directory, a copier (standing in for the isolation device) moves them to
//! the platform's inbound directory and the acknowledgements back, and the platform's
//! receiver imports them. Everything arrives once; a tampered bundle, one sealed with
//! another key, one of another unit and one whose points the unit does not own are
//! quarantined with the reason and change nothing; a bundle delivered again is harmless; a
//! reinstalled gateway's bundles (change ids counting again) are not taken for old ones.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meterdb::{Db, Options, PointFilter, PointKind, PointMeta, WriteBatch};
use meterdb_examples::api::{catalog_update, standard_config, EnterpriseInfo, UnitConfig};
use meterdb_examples::industry::{uscc_with_check, Industry, Plant};
use meterdb_examples::isolation::{
    seal, unseal, BundleHeader, IsolationError, Key, Received, Receiver, Sender, BUNDLE_MAGIC,
    SENDER_CURSOR,
};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::parse_date;

const INTERVAL: i64 = 900_000;

/// The isolation device: moves every finished file of `from` to `to` (hidden temporary
/// files are not finished), writing each under a hidden name first. Returns the names.
fn copier(from: &Path, to: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(from)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let n = e.file_name().into_string().unwrap();
            (e.file_type().unwrap().is_file() && !n.starts_with('.')).then_some(n)
        })
        .collect();
    names.sort();
    for n in &names {
        let tmp = to.join(format!(".{n}.copy"));
        fs::copy(from.join(n), &tmp).unwrap();
        fs::rename(&tmp, to.join(n)).unwrap();
        fs::remove_file(from.join(n)).unwrap();
    }
    names
}

/// Every point of the platform with its metadata and samples.
type Snapshot = Vec<(PointMeta, Vec<i64>, Vec<f64>)>;

fn snapshot(p: &Platform) -> Snapshot {
    let db = p.db().unwrap();
    db.points(&PointFilter::default())
        .into_iter()
        .map(|(id, m)| {
            let c = db.read_range(id, 0, 4_000_000_000_000).unwrap();
            (m, c.ts, c.values)
        })
        .collect()
}

/// Writes the plant's samples of ticks `[from, to)` to the gateway's points.
fn collect(gw: &Db, plant: &Plant, from: i64, to: i64) -> u64 {
    let mut n = 0;
    for (m, s) in plant.meters.iter().zip(plant.samples(from, to)) {
        let id = gw.point_id(&m.code.text()).unwrap();
        let mut b = WriteBatch::with_capacity(s.len());
        for (ts, v) in s {
            b.put(id, ts, v);
            n += 1;
        }
        gw.write(&b).unwrap();
    }
    n
}

fn imported(r: &[Received]) -> u64 {
    r.iter()
        .map(|x| match x {
            Received::Imported { samples, .. } => *samples,
            _ => 0,
        })
        .sum()
}

fn quarantined(r: &[Received]) -> Vec<String> {
    r.iter()
        .filter_map(|x| match x {
            Received::Quarantined { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

struct Dirs {
    out: PathBuf,
    inbound: PathBuf,
    ack_out: PathBuf,
    ack_in: PathBuf,
}

#[test]
fn keys_are_refused_when_missing_short_or_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("key");
    let e = Key::load(&k).unwrap_err();
    assert!(matches!(e, IsolationError::Key(_)), "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    Key::generate(&k).unwrap();
    assert_eq!(
        fs::metadata(&k).unwrap().permissions().mode() & 0o777,
        0o600
    );
    Key::load(&k).unwrap();
    assert!(
        Key::generate(&k).is_err(),
        "an existing key is not replaced"
    );
    fs::set_permissions(&k, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Key::load(&k).unwrap_err().to_string().contains("chmod 600"));
    let short = dir.path().join("short");
    fs::write(&short, "00112233445566778899aabbccddeeff\n").unwrap();
    fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).unwrap();
    let e = Key::load(&short).unwrap_err().to_string();
    assert!(e.contains("16 bytes") && e.contains("at least 32"), "{e}");
    fs::write(
        &short,
        "not hex at all, not hex at all, not hex at all, not hex at all!",
    )
    .unwrap();
    assert!(Key::load(&short).unwrap_err().to_string().contains("hex"));
}

#[test]
fn a_gateway_and_the_platform_through_two_directories() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let d = Dirs {
        out: root.join("gw-outbound"),
        inbound: root.join("prov-inbound"),
        ack_out: root.join("prov-acks"),
        ack_in: root.join("gw-acks"),
    };
    let key_file = root.join("isolation.key");
    Key::generate(&key_file).unwrap();
    let key = Key::load(&key_file).unwrap();

    // The platform, with the unit registered.
    let ent = uscc_with_check("91350100MA2GW0001").unwrap();
    let p = Platform::open(&Config {
        data: root.join("prov"),
        role: Role::Provincial,
        no_store: false,
        outbound: None,
    })
    .unwrap();
    let info = EnterpriseInfo {
        enterprise_code: ent.clone(),
        name: "steel works".into(),
        region_code: "350100".into(),
        industry: "steel".into(),
        industry_code: Industry::Steel.classification().into(),
    };
    p.registry()
        .add_unit(info, standard_config(Industry::Steel, 7, INTERVAL))
        .unwrap();
    let unit = p.registry().unit(&ent).unwrap().unwrap();

    // The gateway follows the unit's configuration (carried over by hand in this mode).
    let gw = Db::open(root.join("gw"), Options::default()).unwrap();
    let cfg = UnitConfig {
        enterprise_code: ent.clone(),
        version: unit.config_version(),
        changed: true,
        items: unit.config_items().to_vec(),
    };
    gw.apply_unit_catalog(&catalog_update(0, &cfg, &unit.info(), "GW-1", "SIM-1").unwrap())
        .unwrap();
    let start = parse_date("2026-03-01").unwrap();
    let plant = Plant::new(Industry::Steel, &ent, 5, 7, start, INTERVAL, 3);
    let day = 86_400_000;

    let mut sender = Sender::open(&gw, &ent, &d.out, &d.ack_in, key.clone()).unwrap();
    let receiver = Receiver::new(&p, &ent, &d.inbound, &d.ack_out, key.clone()).unwrap();
    let acked = |gw: &Db| {
        gw.cursors()
            .into_iter()
            .find(|c| c.name == SENDER_CURSOR)
            .unwrap()
            .acked
    };

    // Day 1: one bundle; the gateway keeps it until the acknowledgement comes back.
    let mut written = collect(&gw, &plant, start, start + day);
    let a0 = acked(&gw);
    let s = sender.step(&gw).unwrap();
    let first = s.written.clone().unwrap();
    assert_eq!(s.pending, 1);
    assert_eq!(sender.step(&gw).unwrap().written, None, "nothing new");
    assert_eq!(acked(&gw), a0, "not acknowledged before the ack file");
    assert_eq!(copier(&d.out, &d.inbound), std::slice::from_ref(&first));
    let first_bytes = fs::read(d.inbound.join(&first)).unwrap();
    let r = receiver.poll(&p).unwrap();
    assert_eq!(imported(&r), written, "{r:?}");
    assert_eq!(copier(&d.ack_out, &d.ack_in), [format!("{first}.ack")]);
    let s = sender.step(&gw).unwrap();
    assert_eq!((s.acks, s.pending), (1, 0));
    assert!(acked(&gw) > a0);

    // Day 2 in two bundles out at once.
    let day1 = written;
    written += collect(&gw, &plant, start + day, start + day + day / 2);
    assert!(sender.step(&gw).unwrap().written.is_some());
    written += collect(&gw, &plant, start + day + day / 2, start + 2 * day);
    assert_eq!(sender.step(&gw).unwrap().pending, 2);
    assert_eq!(copier(&d.out, &d.inbound).len(), 2);
    let r = receiver.poll(&p).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(imported(&r), written - day1);
    copier(&d.ack_out, &d.ack_in);
    assert_eq!(sender.step(&gw).unwrap().pending, 0);
    let before = snapshot(&p);

    // The first bundle delivered again: acknowledged again, nothing stored.
    fs::write(d.inbound.join(&first), &first_bytes).unwrap();
    let r = receiver.poll(&p).unwrap();
    assert!(
        matches!(&r[..], [Received::Duplicate { bundle, .. }] if *bundle == first),
        "{r:?}"
    );
    assert_eq!(snapshot(&p), before);
    copier(&d.ack_out, &d.ack_in);
    let s = sender.step(&gw).unwrap();
    assert_eq!((s.acks, s.pending, s.written.clone()), (1, 0, None));

    // Day 3's bundle is tampered with on the way: quarantined with the reason.
    written += collect(&gw, &plant, start + 2 * day, start + 3 * day);
    let third = sender.step(&gw).unwrap().written.unwrap();
    copier(&d.out, &d.inbound);
    let mut b = fs::read(d.inbound.join(&third)).unwrap();
    let n = b.len();
    b[n - 100] ^= 0x01;
    fs::write(d.inbound.join(&third), &b).unwrap();
    let r = receiver.poll(&p).unwrap();
    let why = quarantined(&r);
    assert_eq!(why.len(), 1, "{r:?}");
    assert!(why[0].contains("HMAC"), "{why:?}");
    let q = receiver.quarantine_dir();
    assert!(q.join(&third).exists());
    let reason = fs::read_to_string(q.join(format!("{third}.reason"))).unwrap();
    assert!(reason.contains("HMAC-SHA256 mismatch"), "{reason}");
    assert_eq!(snapshot(&p), before, "nothing stored changed");
    assert!(fs::read_dir(&d.ack_out).unwrap().next().is_none(), "no ack");

    // A copy sealed with another key: quarantined too.
    let (h, payload) = unseal::<BundleHeader>(&key, BUNDLE_MAGIC, &first_bytes).unwrap();
    let other = Key::from_bytes(&[7u8; 32]).unwrap();
    let forged = format!("{ent}-99999999999999999998-99999999999999999999.mdbi");
    let mut h2 = h.clone();
    h2.last_id = u64::MAX;
    fs::write(
        d.inbound.join(&forged),
        seal(&other, BUNDLE_MAGIC, &h2, payload),
    )
    .unwrap();
    // One of another unit, under the right key.
    let mut h3 = h.clone();
    h3.enterprise_code = uscc_with_check("91350100MA2GW0002").unwrap();
    let foreign = format!("{}-1-2.mdbi", h3.enterprise_code);
    fs::write(
        d.inbound.join(&foreign),
        seal(&key, BUNDLE_MAGIC, &h3, payload),
    )
    .unwrap();
    // One whose points the unit does not own: an item outside its configuration and a
    // configured item described differently (the platform's metadata is not changed).
    let rogue = Db::open(root.join("rogue"), Options::default()).unwrap();
    rogue
        .create_cursor("x", meterdb::CursorStart::Beginning)
        .unwrap();
    let elec = &plant.meters[3].code; // electricity, a configured counter in kWh
    let a = rogue
        .define_point(elec.meta(elec.text()).with_unit("MWh"))
        .unwrap();
    let outside = "3300400950040001"; // production unit 9: not configured
    let b2 = rogue
        .define_point(PointMeta::new(outside, PointKind::Counter).with_unit("kWh"))
        .unwrap();
    let other_unit = format!("{}/{}", h3.enterprise_code, elec.text());
    let c = rogue
        .define_point(PointMeta::new(other_unit.clone(), PointKind::Counter))
        .unwrap();
    for id in [a, b2, c] {
        rogue.put(id, start + 3 * day, 1e9).unwrap();
    }
    // More changes than the gateway wrote: the bundle's ids are above what was imported.
    for i in 0..300 {
        rogue.put(a, start + 3 * day + i * 1000, 1e9).unwrap();
    }
    let raw = root.join("rogue.mdbb");
    let rep = rogue.export_cursor_bundle(&raw, "x").unwrap();
    let bytes = fs::read(&raw).unwrap();
    let hr = BundleHeader {
        enterprise_code: ent.clone(),
        stream_id: h.stream_id.clone(),
        first_id: rep.ids.0,
        last_id: u64::MAX >> 12,
        samples: rep.samples,
        deletes: 0,
        bundle_bytes: bytes.len() as u64,
        created_ms: 0,
    };
    // The envelope's ids must match the bundle's: a first try with a wrong last id...
    let rogue_name = format!("{ent}-rogue.mdbi");
    fs::write(
        d.inbound.join(&rogue_name),
        seal(&key, BUNDLE_MAGIC, &hr, &bytes),
    )
    .unwrap();
    let r = receiver.poll(&p).unwrap();
    let why = quarantined(&r);
    assert_eq!(why.len(), 3, "{r:?}");
    assert!(why.iter().any(|w| w.contains("this link carries unit")));
    assert_eq!(why.iter().filter(|w| w.contains("HMAC")).count(), 1);
    assert!(
        why.iter().any(|w| w.contains("its envelope says")),
        "{why:?}"
    );
    // ... and with the right ids: refused for its points.
    let hr = BundleHeader {
        last_id: rep.ids.1,
        ..hr
    };
    fs::write(
        d.inbound.join(&rogue_name),
        seal(&key, BUNDLE_MAGIC, &hr, &bytes),
    )
    .unwrap();
    let r = receiver.poll(&p).unwrap();
    let why = quarantined(&r);
    assert_eq!(why.len(), 1, "{r:?}");
    assert!(
        why[0].contains(&format!(
            "point {outside}: not in the collection configuration of unit {ent}"
        )),
        "{}",
        why[0]
    );
    assert!(why[0].contains("\"MWh\""), "{}", why[0]);
    assert!(why[0].contains(&format!("{other_unit:?}: not a data code")));
    assert_eq!(snapshot(&p), before, "nothing stored changed");
    assert!(fs::read_dir(&d.ack_out).unwrap().next().is_none(), "no ack");
    let log = fs::read_to_string(root.join(format!("prov/intake/{ent}.jsonl"))).unwrap();
    assert_eq!(log.matches("\"quarantined\"").count(), 5);

    // The gateway still holds day 3: written again once its acknowledgement is overdue.
    sender.resend_after = std::time::Duration::ZERO;
    let s = sender.step(&gw).unwrap();
    assert!(s.resent && s.written.is_some(), "{s:?}");
    sender.resend_after = std::time::Duration::from_secs(600);
    copier(&d.out, &d.inbound);
    let r = receiver.poll(&p).unwrap();
    assert!(matches!(&r[..], [Received::Imported { .. }]), "{r:?}");
    copier(&d.ack_out, &d.ack_in);
    let s = sender.step(&gw).unwrap();
    assert!(s.drained(), "{s:?}");

    // The gateway reinstalled (a new database: its change ids start again): a new stream,
    // whose bundles are not taken for ones delivered before.
    let gw2 = Db::open(root.join("gw2"), Options::default()).unwrap();
    gw2.apply_unit_catalog(&catalog_update(0, &cfg, &unit.info(), "GW-2", "SIM-2").unwrap())
        .unwrap();
    written += collect(&gw2, &plant, start + 3 * day, start + 4 * day);
    let mut sender2 = Sender::open(&gw2, &ent, &d.out, &d.ack_in, key.clone()).unwrap();
    let name2 = sender2.step(&gw2).unwrap().written.unwrap();
    assert!(
        name2 <= first,
        "its ids are not above the first stream's: {name2}"
    );
    copier(&d.out, &d.inbound);
    let r = receiver.poll(&p).unwrap();
    assert!(matches!(&r[..], [Received::Imported { .. }]), "{r:?}");
    copier(&d.ack_out, &d.ack_in);
    assert!(sender2.step(&gw2).unwrap().drained());

    // Everything arrived exactly once: the platform holds what the gateways collected.
    let db = p.db().unwrap();
    let all = plant.samples(start, start + 4 * day);
    let mut stored = 0;
    for (m, s) in plant.meters.iter().zip(&all) {
        let id = db.point_id(&format!("{ent}/{}", m.code.text())).unwrap();
        let c = db.read_range(id, start, start + 4 * day).unwrap();
        let want: (Vec<i64>, Vec<f64>) = s.iter().copied().unzip();
        assert_eq!((c.ts, c.values), want, "{}", m.name);
        stored += s.len() as u64;
        // The platform's own definition, from the configuration.
        let meta = db.point(id).unwrap();
        let item = unit.item(&m.code.text()).unwrap();
        assert_eq!(meta.unit, item.unit);
    }
    assert_eq!(stored, written);
    assert!(db.point_id(outside).is_none());
    assert!(db.point_id(&format!("{ent}/{outside}")).is_none());
    assert!(db.point_id(&other_unit).is_none());
    let log = fs::read_to_string(root.join(format!("prov/intake/{ent}.jsonl"))).unwrap();
    let accepted: u64 = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["accepted"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(accepted, written, "every sample imported once");
}

/// The binaries: `provincial serve --isolation-*` imports what `gateway run --isolation-out`
/// writes, a copier thread carrying the files both ways; the gateway ends once everything is
/// acknowledged, and the platform holds exactly what it collected.
#[test]
fn the_binaries_through_two_directories() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let d = Dirs {
        out: root.join("out"),
        inbound: root.join("in"),
        ack_out: root.join("acks-out"),
        ack_in: root.join("acks-in"),
    };
    for dir in [&d.out, &d.inbound, &d.ack_out, &d.ack_in] {
        fs::create_dir_all(dir).unwrap();
    }
    let ent = uscc_with_check("91350100MA2GW0003").unwrap();
    let prov = root.join("prov");
    let reg = meterdb_examples::registry::Registry::open(&prov).unwrap();
    reg.add_unit(
        EnterpriseInfo {
            enterprise_code: ent.clone(),
            name: "coking plant".into(),
            region_code: "350100".into(),
            industry: Industry::Coking.as_str().into(),
            industry_code: Industry::Coking.classification().into(),
        },
        standard_config(Industry::Coking, 6, INTERVAL),
    )
    .unwrap();
    drop(reg);
    let key = root.join("iso.key");
    let cfg = root.join("unit.json");
    for args in [
        vec!["isolation", "keygen", "--out", key.to_str().unwrap()],
        vec![
            "unit",
            "export-config",
            "--data",
            prov.to_str().unwrap(),
            "--enterprise",
            &ent,
            "--out",
            cfg.to_str().unwrap(),
        ],
    ] {
        let st = Command::new(common::PROVINCIAL)
            .args(&args)
            .status()
            .unwrap();
        assert!(st.success(), "{args:?}");
    }
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (mut server, _) = common::spawn_server(
        &prov,
        "127.0.0.1:0",
        &[
            "--isolation-enterprise",
            &ent,
            "--isolation-inbound",
            &s(&d.inbound),
            "--isolation-ack-out",
            &s(&d.ack_out),
            "--isolation-key-file",
            &s(&key),
            "--isolation-poll-ms",
            "100",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let device = {
        let (stop, out, inbound, ack_out, ack_in) = (
            stop.clone(),
            d.out.clone(),
            d.inbound.clone(),
            d.ack_out.clone(),
            d.ack_in.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                copier(&out, &inbound);
                copier(&ack_out, &ack_in);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args([
            "run",
            "--insecure-http",
            "--industry",
            "coking",
            "--enterprise",
            &ent,
            "--db",
        ])
        .arg(root.join("gw"))
        .arg("--config-file")
        .arg(&cfg)
        .args([
            "--isolation-out",
            &s(&d.out),
            "--isolation-acks",
            &s(&d.ack_in),
        ])
        .args(["--isolation-key-file", &s(&key)])
        .args([
            "--start",
            "2026-03-01",
            "--days",
            "1",
            "--interval-s",
            "900",
        ])
        .args(["--drain-timeout-s", "60"])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    device.join().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("0 not acknowledged, 0 acknowledgements refused"),
        "{stdout}"
    );
    let p = Platform::open(&Config {
        data: prov,
        role: Role::Provincial,
        no_store: false,
        outbound: None,
    })
    .unwrap();
    let db = p.db().unwrap();
    let start = parse_date("2026-03-01").unwrap();
    let plant = Plant::new(Industry::Coking, &ent, 1, 6, start, INTERVAL, 1);
    for (m, want) in plant
        .meters
        .iter()
        .zip(plant.samples(start, start + 86_400_000))
    {
        let id = db.point_id(&format!("{ent}/{}", m.code.text())).unwrap();
        let c = db.read_range(id, start, start + 86_400_000).unwrap();
        let want: (Vec<i64>, Vec<f64>) = want.into_iter().unzip();
        assert_eq!((c.ts, c.values), want, "{}", m.name);
    }
    assert!(
        fs::read_dir(d.inbound.join("quarantine")).is_err(),
        "nothing quarantined"
    );
}
