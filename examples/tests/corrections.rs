//! Corrected statistics and input types, end to end: a gateway's day statistic corrected by
//! late data reaches the provincial and the national platform with the corrected value; a
//! platform keeps the statistic of the highest revision whatever the order of requests; the
//! quality of `valid` and `inputType` is stored and forwarded as received.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meterdb::{Db, Options, Quality, Tier, TierSet};
use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::frontend::{self, FrontendConfig};
use meterdb_examples::industry::{
    energy_type, uscc_with_check, DataCode, Industry, Measure, Plant,
};
use meterdb_examples::outbound::OutboundConfig;
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{parse_date, to_body, Record, STAT_DAY, STAT_REALTIME};
use meterdb_examples::registry::Registry;
use meterdb_examples::server::serve;

mod common;
use common::{spawn_server, PROVINCIAL};

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");
const PROVINCE: &str = "PROVINCE35";

/// Registers a steel works of 7 points at the platform in `data`; its enrollment code.
fn add_unit(data: &Path, ent: &str) -> String {
    let info = EnterpriseInfo {
        enterprise_code: ent.into(),
        name: "steel works".into(),
        region_code: "350100".into(),
        industry: "steel".into(),
        industry_code: Industry::Steel.classification().into(),
    };
    Registry::open(data)
        .unwrap()
        .add_unit(info, standard_config(Industry::Steel, 7, 60_000))
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meterdb-corr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn post(p: &Platform, token: &str, recs: &[Record]) -> serde_json::Value {
    let caller = p.authenticate(Some(&format!("Bearer {token}"))).unwrap();
    let (v, _) = p
        .ingest(
            &caller,
            to_body(recs, meterdb_examples::upload::now_ms()).as_bytes(),
        )
        .unwrap();
    v
}

fn values(db: &Db, key: &str) -> Vec<(i64, f64, u8)> {
    let id = db.point_id(key).unwrap_or_else(|| panic!("no point {key}"));
    let c = db.read_range(id, i64::MIN / 4, i64::MAX / 4).unwrap();
    (0..c.len())
        .map(|i| (c.ts[i], c.values[i], c.quality[i]))
        .collect()
}

#[test]
fn newest_revision_wins_whatever_the_order_and_input_types_are_kept_and_forwarded() {
    let dir = tmp("order");
    let ent = uscc_with_check("91350100MA2C00001").unwrap();
    let (dp, dn) = (dir.join("prov"), dir.join("nat"));
    add_unit(&dp, &ent);
    let province_token = Registry::open(&dn)
        .unwrap()
        .add_credential("national", PROVINCE)
        .unwrap();
    let frontend_token = Registry::open(&dp)
        .unwrap()
        .add_credential("frontend", "fe1")
        .unwrap();
    let cfg = |d: &Path, role| Config {
        data: d.to_path_buf(),
        role,
        no_store: false,
        outbound: (role == Role::Provincial).then_some(OutboundConfig {
            cap_bytes: 64 << 20,
        }),
    };
    let nat = Arc::new(Platform::open(&cfg(&dn, Role::National)).unwrap());
    let running = serve(nat.clone(), "127.0.0.1:0", 2).unwrap();
    let prov = Arc::new(Platform::open(&cfg(&dp, Role::Provincial)).unwrap());
    let prov_running = serve(prov.clone(), "127.0.0.1:0", 2).unwrap();
    let token = prov
        .registry()
        .enroll_and_register(&ent, "SN-1")
        .unwrap()
        .token;

    let day = parse_date("2026-01-01").unwrap();
    // An electricity consumption register of the configuration.
    let code = DataCode::new(energy_type("3300").unwrap(), Measure::Consumption, 1, 4).text();
    let stat = |value: f64, revision: u64, corrected: bool| {
        day_stat(&ent, &code, day, value, Some(revision), corrected)
    };
    // The first statistic, its correction, then the first again (a late retry).
    assert_eq!(
        post(&prov, &token, &[stat(100.0, 10, false)])["accepted"],
        1
    );
    assert_eq!(post(&prov, &token, &[stat(120.0, 15, true)])["accepted"], 1);
    let r = post(&prov, &token, &[stat(100.0, 10, false)]);
    assert_eq!(
        (r["accepted"].as_u64(), r["superseded"].as_u64()),
        (Some(0), Some(1))
    );
    // In one request, the older after the newer: the newer stays.
    let r = post(
        &prov,
        &token,
        &[stat(130.0, 20, true), stat(125.0, 18, true)],
    );
    assert_eq!(r["superseded"], 1);
    let db = prov.db().unwrap();
    let key = format!("{ent}/{code}/d");
    assert_eq!(values(db, &key), [(day, 130.0, Quality::GOOD.0)]);

    // Real-time records keep their input type and validity.
    let rt = |ts: i64, value: f64, input_type: u8, valid: bool, id: u64| Record {
        enterprise: ent.clone(),
        data_code: code.clone(),
        value,
        input_type,
        stat_type: STAT_REALTIME,
        stat_ts: ts,
        valid,
        id: Some(id),
        revision: None,
        corrected: false,
    };
    post(
        &prov,
        &token,
        &[
            rt(day, 1.0, 1, true, 1),
            rt(day + 60_000, 2.0, 2, true, 2),
            rt(day + 120_000, 3.0, 3, true, 3),
            rt(day + 180_000, 4.0, 3, false, 4),
        ],
    );
    let qs: Vec<u8> = values(db, &format!("{ent}/{code}"))
        .iter()
        .map(|x| x.2)
        .collect();
    assert_eq!(
        qs,
        [
            Quality::GOOD.0,
            Quality::MANUAL.0,
            Quality::ESTIMATED.0,
            Quality::ESTIMATED_BIT
        ]
    );

    // Forwarding through the front-end: the national platform gets the newest statistic,
    // with its revision.
    let fe = FrontendConfig::new(
        &format!("http://{}", prov_running.addr),
        &frontend_token,
        &format!("http://{}", running.addr),
        &province_token,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let fwd = {
        let stop = stop.clone();
        std::thread::spawn(move || frontend::run(&fe, &stop, false, &mut |_| {}))
    };
    let ndb = nat.db().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let nkey = format!("_rev/{key}");
    while ndb.point_id(&nkey).is_none_or(|id| {
        ndb.read_range(id, day, day + 1)
            .unwrap()
            .values
            .first()
            .is_none_or(|&v| (v as u64) >> 1 != 20)
    }) {
        assert!(
            Instant::now() < deadline,
            "the national platform got revision 20"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    let st = fwd.join().unwrap();
    assert_eq!(st.national_failures, 0, "{st:?}");
    prov_running.stop();
    assert_eq!(values(ndb, &key), [(day, 130.0, Quality::GOOD.0)]);
    // An older revision sent to the national platform directly is ignored there too.
    let r = post(&nat, &province_token, &[stat(120.0, 15, true)]);
    assert_eq!(r["superseded"], 1);
    assert_eq!(values(ndb, &key), [(day, 130.0, Quality::GOOD.0)]);
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

struct Server {
    child: Child,
}

fn start(data: &Path, extra: &[&str]) -> (Server, String) {
    let (child, addr) = spawn_server(data, "127.0.0.1:0", extra);
    (Server { child }, addr)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_gateway(dir: &Path, ent: &str, url: &str) {
    let out = Command::new(GATEWAY)
        .args([
            "run",
            "--insecure-http",
            "--industry",
            "steel",
            "--enterprise",
            ent,
            "--db",
        ])
        .arg(dir.join("gw"))
        .args(["--interval-s", "60"])
        .args(["--start", "2026-01-01", "--days", "1", "--speed", "max"])
        .args(["--seed", "42", "--drain-timeout-s", "40", "--platform", url])
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
}

/// Whether the platform at `url` has delivered everything to the national platform.
fn national_backlog_empty(url: &str) -> bool {
    ureq::get(&format!("{url}/api/v1/health"))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["national"]["empty"] == true)
}

/// Records accepted by a server so far, from its access log.
fn accepted(data: &Path) -> u64 {
    std::fs::read_to_string(data.join("access.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["accepted"].as_u64())
        .sum()
}

#[test]
fn a_day_statistic_corrected_by_late_data_reaches_the_national_platform() {
    let dir = tmp("e2e");
    let ent = uscc_with_check("91350100MA2C00002").unwrap();
    let (dp, dn) = (dir.join("prov"), dir.join("nat"));
    std::fs::write(dir.join("enroll"), add_unit(&dp, &ent)).unwrap();
    let nat_token = dir.join("national.token");
    std::fs::write(
        &nat_token,
        Registry::open(&dn)
            .unwrap()
            .add_credential("national", PROVINCE)
            .unwrap(),
    )
    .unwrap();
    let fe_token = dir.join("frontend.token");
    std::fs::write(
        &fe_token,
        Registry::open(&dp)
            .unwrap()
            .add_credential("frontend", "fe1")
            .unwrap(),
    )
    .unwrap();
    let (national, nat_addr) = start(&dn, &["--role", "national"]);
    let nat_url = format!("http://{nat_addr}");
    let (prov, prov_addr) = start(&dp, &["--outbound"]);
    let url = format!("http://{prov_addr}");
    let frontend = Server {
        child: Command::new(PROVINCIAL)
            .args([
                "frontend",
                "--insecure-http",
                "--platform",
                &url,
                "--token-file",
            ])
            .arg(&fe_token)
            .args(["--national", &nat_url, "--national-token-file"])
            .arg(&nat_token)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    };
    run_gateway(&dir, &ent, &url);

    // Late data on the gateway: a gauge's reading at noon of the day already sent.
    let start_ts = parse_date("2026-01-01").unwrap();
    let end_ts = start_ts + 86_400_000;
    let plant = Plant::new(Industry::Steel, &ent, 42, 7, start_ts, 60_000, 1);
    let gauge = plant
        .meters
        .iter()
        .find(|m| m.code.measure == Measure::Instant)
        .unwrap();
    let code = gauge.code.text();
    let (before, after) = {
        // The gateway's tiers (day only): the database keeps what it was written with.
        let o = Options {
            tiers: TierSet::NONE.with(Tier::Day),
            ..Options::default()
        };
        let gdb = Db::open(dir.join("gw"), o).unwrap();
        let id = gdb.point_id(&code).unwrap();
        let day = |db: &Db| {
            let r = db.rollup(id, Tier::Day, start_ts, end_ts).unwrap();
            (r[0].mean.unwrap() * 1000.0).round() / 1000.0
        };
        let before = day(&gdb);
        let c = gdb.read_range(id, start_ts, end_ts).unwrap();
        let i = c.len() / 2;
        gdb.put(id, c.ts[i], c.values[i] + 100_000.0).unwrap();
        let after = day(&gdb);
        gdb.close().unwrap();
        (before, after)
    };
    assert_ne!(before, after);
    run_gateway(&dir, &ent, &url);

    // The front-end delivers every day statistic, then the replacement.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !national_backlog_empty(&url) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(accepted(&dn) > plant.meters.len() as u64);
    drop(frontend);
    drop(prov);
    drop(national);
    let key = format!("{ent}/{code}/d");
    for (name, d) in [("provincial", &dp), ("national", &dn)] {
        let db = Db::open(d.join("db"), Options::default()).unwrap();
        let v = values(&db, &key);
        assert_eq!(v.len(), 1, "{name}: one statistic for the day");
        assert_eq!(v[0].1, after, "{name}: the corrected value (was {before})");
        let rid = db.point_id(&format!("_rev/{key}")).unwrap();
        let rev = db.read_range(rid, start_ts, start_ts + 1).unwrap().values[0] as u64;
        assert_eq!(rev & 1, 1, "{name}: marked corrected");
        db.close().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A day statistic carries no change id: a replayed request of before a correction must not
/// roll the corrected value back. Without a revision (a sender that does not number its
/// statistics), the later `uploadDate` wins; with one, the higher revision.
#[test]
fn a_replayed_statistic_does_not_roll_back_a_correction() {
    use meterdb_examples::upload::now_ms;
    let dir = tmp("replay");
    let ent = uscc_with_check("91350100MA2C00002").unwrap();
    let dp = dir.join("prov");
    add_unit(&dp, &ent);
    let prov = Platform::open(&Config {
        data: dp.clone(),
        role: Role::Provincial,
        no_store: false,
        outbound: None,
    })
    .unwrap();
    let token = prov
        .registry()
        .enroll_and_register(&ent, "SN-1")
        .unwrap()
        .token;
    let caller = prov.authenticate(Some(&format!("Bearer {token}"))).unwrap();
    let day = parse_date("2026-01-01").unwrap();
    let code = DataCode::new(energy_type("3300").unwrap(), Measure::Consumption, 1, 4).text();
    let stat = |value: f64, corrected: bool| day_stat(&ent, &code, day, value, None, corrected);
    let send = |body: &str| prov.ingest(&caller, body.as_bytes()).unwrap().0;
    let now = now_ms();
    // The first value, sent two minutes ago; its correction a minute later.
    let first = to_body(&[stat(100.0, false)], now - 120_000);
    assert_eq!(send(&first)["accepted"], 1);
    let fix = to_body(&[stat(90.0, true)], now - 60_000);
    assert_eq!(send(&fix)["accepted"], 1);
    // The first request captured and replayed: not stored, counted as superseded.
    let v = send(&first);
    assert_eq!(
        (v["accepted"].clone(), v["superseded"].clone()),
        (0.into(), 1.into()),
        "{v}"
    );
    let db = prov.db().unwrap();
    let key = format!("{ent}/{code}/d");
    assert_eq!(
        values(db, &key).iter().map(|x| x.1).collect::<Vec<_>>(),
        [90.0]
    );
    // The correction sent again (the same uploadDate) is taken as it is: same value.
    assert_eq!(send(&fix)["accepted"], 1);
    // A newer upload of the same revision replaces it; an older revision never does, even
    // sent later.
    let mut newer = stat(95.0, true);
    newer.revision = Some(1);
    assert_eq!(send(&to_body(&[newer], now))["accepted"], 1);
    let v = send(&to_body(&[stat(80.0, true)], now + 1000));
    assert_eq!(v["superseded"], 1, "{v}");
    assert_eq!(
        values(db, &key).iter().map(|x| x.1).collect::<Vec<_>>(),
        [95.0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A measured day statistic of `code` for `day`.
fn day_stat(
    ent: &str,
    code: &str,
    day: i64,
    value: f64,
    revision: Option<u64>,
    corrected: bool,
) -> Record {
    Record {
        enterprise: ent.to_string(),
        data_code: code.to_string(),
        value,
        input_type: 1,
        stat_type: STAT_DAY,
        stat_ts: day,
        valid: true,
        id: None,
        revision,
        corrected,
    }
}
