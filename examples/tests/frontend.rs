//! The front-end machine (前置机) between the provincial and the national platform.
//!
//! - `national_outage_everything_arrives_once`: three processes (national platform,
//!   provincial platform with its outbound queue, `provincial frontend`) and a gateway; the
//!   national platform is killed for a few seconds while data keeps arriving and comes back
//!   on the same address. At the end the national platform holds exactly what the provincial
//!   one holds (real-time samples and statistics, value and quality byte: valid, manual,
//!   estimated; statistics with their revision), every record was accepted there once (the
//!   sum of `accepted` in its access log is the number of records), the front-end backed off
//!   (growing waits, capped), and the health answer showed the backlog during the outage.
//! - `a_national_outage_pins_no_more_wal_than_the_cap`: the oldest undelivered changes are
//!   dropped for the national link past the cap; the WAL stays under it; what is left is
//!   delivered.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meterdb::{Db, Options, OutcomeFilter, PointFilter, UploadOutcome};
use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::frontend::{self, FrontendConfig};
use meterdb_examples::industry::{uscc_with_check, Industry};
use meterdb_examples::outbound::{OutboundConfig, NATIONAL_CURSOR};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{parse_date, to_body, Record, STAT_DAY, STAT_REALTIME};
use meterdb_examples::registry::Registry;
use meterdb_examples::server::serve;

mod common;
use common::{spawn_server, PROVINCIAL};

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meterdb-fe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path, listen: &str, extra: &[&str]) -> (Proc, String) {
    let (child, addr) = spawn_server(data, listen, extra);
    (Proc(child), addr)
}

fn get_json(url: &str, token: Option<&str>) -> serde_json::Value {
    let mut r = ureq::get(url);
    if let Some(t) = token {
        r = r.set("Authorization", &format!("Bearer {t}"));
    }
    let text = r.call().unwrap().into_string().unwrap();
    serde_json::from_str(&text).unwrap()
}

fn health(url: &str) -> serde_json::Value {
    get_json(&format!("{url}/api/v1/health"), None)["national"].clone()
}

fn add_unit(data: &Path, ent: &str, industry: Industry) -> String {
    let info = EnterpriseInfo {
        enterprise_code: ent.into(),
        name: "unit".into(),
        region_code: "350100".into(),
        industry: industry.as_str().into(),
        industry_code: industry.classification().into(),
    };
    Registry::open(data)
        .unwrap()
        .add_unit(info, standard_config(industry, 7, 60_000))
        .unwrap()
}

/// (ts, value bits, quality) of a point's samples.
type Series = Vec<(i64, u64, u8)>;

/// Every (key, ts, value, quality) of the data and revision points of a platform database.
fn contents(dir: &Path) -> Vec<(String, Series)> {
    let db = Db::open(dir, Options::default()).unwrap();
    let mut out = Vec::new();
    for (id, m) in db.points(&PointFilter::default()) {
        // Each platform's own bookkeeping: the senders' marks, and when each statistic
        // reached it (`_upd/`: the front-end forwards later than the gateway sent).
        if m.key.starts_with("_hwm/") || m.key.starts_with("_upd/") {
            continue;
        }
        let c = db.read_range(id, i64::MIN / 4, i64::MAX / 4).unwrap();
        let v = (0..c.len())
            .map(|i| (c.ts[i], c.values[i].to_bits(), c.quality[i]))
            .collect();
        out.push((m.key, v));
    }
    db.close().unwrap();
    out.sort();
    out
}

fn accepted(data: &Path) -> (u64, u64) {
    let log = std::fs::read_to_string(data.join("access.log")).unwrap_or_default();
    let vals: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        vals.iter().filter_map(|v| v["accepted"].as_u64()).sum(),
        vals.iter().filter_map(|v| v["duplicates"].as_u64()).sum(),
    )
}

#[test]
fn national_outage_everything_arrives_once() {
    let dir = tmp("outage");
    let (dp, dn) = (dir.join("prov"), dir.join("nat"));
    let ent = uscc_with_check("91350100MA2FE0001").unwrap();
    let ent2 = uscc_with_check("91350100MA2FE0002").unwrap();
    std::fs::write(dir.join("enroll"), add_unit(&dp, &ent, Industry::Steel)).unwrap();
    add_unit(&dp, &ent2, Industry::Power);
    let reg = Registry::open(&dp).unwrap();
    let fe_token = reg.add_credential("frontend", "fe1").unwrap();
    let device2 = reg.enroll_and_register(&ent2, "SN-2").unwrap().token;
    std::fs::write(dir.join("fe.token"), &fe_token).unwrap();
    std::fs::write(
        dir.join("nat.token"),
        Registry::open(&dn)
            .unwrap()
            .add_credential("national", "PROVINCE35")
            .unwrap(),
    )
    .unwrap();

    let (national, nat_addr) = start(&dn, "127.0.0.1:0", &["--role", "national"]);
    let (prov, prov_addr) = start(&dp, "127.0.0.1:0", &["--outbound"]);
    let url = format!("http://{prov_addr}");
    let fe_out = Arc::new(Mutex::new(String::new()));
    let mut fe = Command::new(PROVINCIAL)
        .args([
            "frontend",
            "--insecure-http",
            "--platform",
            &url,
            "--token-file",
        ])
        .arg(dir.join("fe.token"))
        .args(["--national", &format!("http://{nat_addr}")])
        .arg("--national-token-file")
        .arg(dir.join("nat.token"))
        .args(["--batch", "2000", "--backoff-min-ms", "50"])
        .args(["--backoff-max-ms", "800", "--poll-ms", "50"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let out = BufReader::new(fe.stdout.take().unwrap());
        let fe_out = fe_out.clone();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                let mut s = fe_out.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
    }
    let fe = Proc(fe);

    let gateway = |days: &str| {
        let out = Command::new(GATEWAY)
            .args([
                "run",
                "--insecure-http",
                "--industry",
                "steel",
                "--enterprise",
                &ent,
                "--db",
            ])
            .arg(dir.join("gw"))
            .args([
                "--interval-s",
                "60",
                "--start",
                "2026-01-01",
                "--days",
                days,
            ])
            .args(["--speed", "max", "--seed", "7", "--drain-timeout-s", "40"])
            .args(["--platform", &url])
            .env(
                "METERDB_ENROLLMENT_CODE",
                std::fs::read_to_string(dir.join("enroll")).unwrap(),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gateway: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Records of every quality and a corrected statistic, from a second unit's device.
    let post = |recs: &[Record]| {
        let r = ureq::post(&format!("{url}/api/v1/data"))
            .set("Authorization", &format!("Bearer {device2}"))
            .send_string(&to_body(recs, meterdb_examples::upload::now_ms()))
            .unwrap()
            .into_string()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["rejectedCount"], 0, "{v}");
    };
    let code2 = standard_config(Industry::Power, 7, 60_000)[0]
        .data_code
        .clone();
    let day = parse_date("2026-01-01").unwrap();
    let rec = |i: i64, valid: bool, input_type: u8| Record {
        enterprise: ent2.clone(),
        data_code: code2.clone(),
        value: 1000.0 + i as f64 * 1.25,
        input_type,
        stat_type: STAT_REALTIME,
        stat_ts: day + i * 60_000,
        valid,
        id: Some(i as u64 + 1),
        revision: None,
        corrected: false,
    };
    let stat = |value: f64, revision: u64| Record {
        stat_type: STAT_DAY,
        stat_ts: day,
        value,
        id: None,
        revision: Some(revision),
        ..rec(0, true, 1)
    };

    // Before the outage.
    gateway("1");
    post(&[
        rec(0, true, 1),
        rec(1, true, 2),
        rec(2, true, 3),
        stat(50.0, 3),
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while health(&url)["empty"] != true {
        assert!(Instant::now() < deadline, "delivered before the outage");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The outage: the national platform is killed; data keeps arriving.
    drop(national);
    let t_down = Instant::now();
    gateway("2");
    post(&[
        rec(3, false, 1),
        rec(4, false, 3),
        rec(5, true, 2),
        stat(75.5, 9),
    ]);
    std::thread::sleep(Duration::from_secs(3));
    let h = health(&url);
    assert_eq!(h["empty"], false, "{h}");
    assert!(h["backlogWalRecords"].as_u64().unwrap() > 0, "{h}");
    assert!(h["oldestUndelivered"]["id"].as_u64().is_some(), "{h}");
    assert!(h["oldestUndelivered"]["time"].as_str().is_some(), "{h}");
    let (national, _) = start(&dn, &nat_addr, &["--role", "national"]);
    let t_up = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while health(&url)["empty"] != true {
        assert!(Instant::now() < deadline, "delivered after the outage");
        std::thread::sleep(Duration::from_millis(50));
    }
    let drained = t_up.elapsed();
    let h = health(&url);
    drop(fe);
    drop(national);
    drop(prov);
    let log = fe_out.lock().unwrap().clone();
    eprintln!(
        "outage {:.1} s; drained {:.2} s after the national platform came back; {h}",
        (t_up - t_down).as_secs_f64(),
        drained.as_secs_f64()
    );

    // Backoff: the waits grew and stayed under the cap (800 ms and 20 % jitter).
    let waits: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("next attempt in ").nth(1))
        .filter_map(|w| w.trim_end_matches(" ms").parse().ok())
        .collect();
    assert!(waits.len() >= 4, "{log}");
    assert!(waits.iter().all(|&w| w <= 800), "{waits:?}");
    assert!(*waits.iter().max().unwrap() >= 500, "{waits:?}");
    assert!(waits[0] < 100 && waits[1] > waits[0], "{waits:?}");
    assert!(log.contains("reachable again"), "{log}");
    assert_eq!(h["droppedChanges"], 0);

    // Everything arrived, once.
    let (p, n) = (contents(&dp.join("db")), contents(&dn.join("db")));
    let records: usize = p
        .iter()
        .filter(|(k, _)| !k.starts_with("_rev/"))
        .map(|(_, v)| v.len())
        .sum();
    assert!(records > 2 * 7 * 1300, "{records} records");
    assert_eq!(p.len(), n.len());
    for (a, b) in p.iter().zip(&n) {
        assert_eq!(a, b, "{}", a.0);
    }
    let (acc, dup) = accepted(&dn);
    let (prov_acc, _) = accepted(&dp);
    eprintln!(
        "national: {acc} accepted, {dup} duplicates dropped; provincial: {prov_acc} accepted, {records} stored"
    );
    assert_eq!(
        acc, prov_acc,
        "each record the province accepted, accepted once"
    );
    // The qualities and the newest statistic, as sent.
    let k = format!("{ent2}/{code2}");
    let q: Vec<u8> = n
        .iter()
        .find(|x| x.0 == k)
        .unwrap()
        .1
        .iter()
        .map(|x| x.2)
        .collect();
    assert_eq!(q, [1, 3, 5, 0, 4, 3]);
    let s = &n.iter().find(|x| x.0 == format!("{k}/d")).unwrap().1;
    assert_eq!(s, &[(day, 75.5f64.to_bits(), 1)]);
    let r = &n.iter().find(|x| x.0 == format!("_rev/{k}/d")).unwrap().1;
    assert_eq!(
        r[0].1,
        f64::to_bits(9.0 * 2.0 + 1.0),
        "revision 9, corrected"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_national_outage_pins_no_more_wal_than_the_cap() {
    let dir = tmp("cap");
    let (dp, dn) = (dir.join("prov"), dir.join("nat"));
    let ent = uscc_with_check("91350100MA2FE0003").unwrap();
    add_unit(&dp, &ent, Industry::Steel);
    let reg = Registry::open(&dp).unwrap();
    let fe_token = reg.add_credential("frontend", "fe1").unwrap();
    let device = reg.enroll_and_register(&ent, "SN-3").unwrap().token;
    let nat_token = Registry::open(&dn)
        .unwrap()
        .add_credential("national", "PROVINCE35")
        .unwrap();
    let cap = OutboundConfig { cap_bytes: 1 << 20 };
    let prov = Arc::new(
        Platform::open(&Config {
            data: dp.clone(),
            role: Role::Provincial,
            no_store: false,
            outbound: Some(cap),
        })
        .unwrap(),
    );
    let caller = prov
        .authenticate(Some(&format!("Bearer {device}")))
        .unwrap();
    let codes: Vec<String> = standard_config(Industry::Steel, 7, 60_000)
        .into_iter()
        .map(|i| i.data_code)
        .collect();
    let t0 = parse_date("2026-01-01").unwrap();
    // 60 requests of 7 points x 500 minutes, the national platform not there.
    let mut id = 0u64;
    let mut max_wal = 0;
    for r in 0..60i64 {
        let mut recs = Vec::new();
        for m in 0..500i64 {
            for c in &codes {
                id += 1;
                recs.push(Record {
                    enterprise: ent.clone(),
                    data_code: c.clone(),
                    value: (r * 500 + m) as f64,
                    input_type: 1,
                    stat_type: STAT_REALTIME,
                    stat_ts: t0 + (r * 500 + m) * 60_000,
                    valid: true,
                    id: Some(id),
                    revision: None,
                    corrected: false,
                });
            }
        }
        let (v, _) = prov
            .ingest(
                &caller,
                to_body(&recs, meterdb_examples::upload::now_ms()).as_bytes(),
            )
            .unwrap();
        assert_eq!(v["accepted"], 3500);
        let wal = prov.health()["national"]["walBytes"].as_u64().unwrap();
        max_wal = max_wal.max(wal);
        assert!(wal <= cap.cap_bytes + cap.wal_file_bytes(), "{wal}");
    }
    let h = prov.health()["national"].clone();
    eprintln!(
        "max WAL {max_wal} bytes under a cap of {}; {h}",
        cap.cap_bytes
    );
    let dropped = h["droppedChanges"].as_u64().unwrap();
    assert!(dropped > 0 && h["drops"].as_u64().unwrap() > 0, "{h}");
    let db = prov.db().unwrap();
    let logged: u64 = db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::Failed)
        .unwrap()
        .iter()
        .filter(|r| r.cursor == NATIONAL_CURSOR)
        .inspect(|r| {
            assert!(matches!(&r.outcome, UploadOutcome::Failed(m) if m.contains("dropped")))
        })
        .map(|r| r.samples)
        .sum();
    assert_eq!(logged, dropped, "every drop in the upload log");

    // The national platform comes: what was not dropped is delivered.
    let nat = Arc::new(
        Platform::open(&Config {
            data: dn.clone(),
            role: Role::National,
            no_store: false,
            outbound: None,
        })
        .unwrap(),
    );
    let nat_run = serve(nat.clone(), "127.0.0.1:0", 2).unwrap();
    let prov_run = serve(prov.clone(), "127.0.0.1:0", 2).unwrap();
    let fe = FrontendConfig::new(
        &format!("http://{}", prov_run.addr),
        &fe_token,
        &format!("http://{}", nat_run.addr),
        &nat_token,
    );
    let st = frontend::run(&fe, &AtomicBool::new(false), true, &mut |_| {});
    assert_eq!(st.national_failures, 0);
    let total = id;
    // Per point, the national platform has the newest samples: a tail of the province's.
    let ndb = nat.db().unwrap();
    let mut got = 0;
    for c in &codes {
        let key = format!("{ent}/{c}");
        let p = db
            .read_range(db.point_id(&key).unwrap(), i64::MIN / 4, i64::MAX / 4)
            .unwrap();
        let n = ndb
            .read_range(ndb.point_id(&key).unwrap(), i64::MIN / 4, i64::MAX / 4)
            .unwrap();
        assert!(!n.is_empty() && n.len() < p.len());
        assert_eq!(n.ts, p.ts[p.len() - n.len()..], "{key}");
        assert_eq!(n.values, p.values[p.len() - n.len()..], "{key}");
        got += n.len() as u64;
    }
    eprintln!("{total} records, {dropped} changes dropped, {got} delivered: {st:?}");
    assert_eq!(got, st.delivered);
    assert!(got + dropped >= total, "nothing lost but what was dropped");
    prov_run.stop();
    nat_run.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
