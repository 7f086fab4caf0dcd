//! End to end: a gateway uploads to two provincial servers; server 1 is stopped for a while
//! and restarted, the gateway is killed with SIGKILL and restarted, server 2 is down for
//! longer than server 1. At the end both servers hold exactly the samples the gateway
//! collected (per point, every timestamp and value, recomputed from the simulator's seed),
//! the day statistics of every point, and server 1 has forwarded them to a national
//! server; the gateway's upload log shows the failures of both destinations.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use meterdb::{Db, Options, OutcomeFilter, PointFilter, Tier, UploadOutcome};
use meterdb_examples::industry::{uscc_with_check, Industry, Measure, Plant};
use meterdb_examples::records::parse_date;
use meterdb_examples::upload::cursor_name;

mod common;
use common::{spawn_server, PROVINCIAL};

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");
const PROVINCE: &str = "PROVINCE35";

struct Server {
    child: Child,
    addr: String,
}

/// Registers the unit at a platform (`provincial unit add`); its enrollment code goes to
/// `enroll`.
fn register(data: &Path, code: &str, enroll: &Path) {
    let st = Command::new(PROVINCIAL)
        .args(["unit", "add", "--data"])
        .arg(data)
        .args([
            "--enterprise",
            code,
            "--name",
            "e2e steel works",
            "--industry",
            "steel",
        ])
        .args(["--points", "7", "--interval-s", "60", "--enrollment-out"])
        .arg(enroll)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "unit add");
}

/// A national-link credential at the national platform; its token goes to `out`.
fn national_credential(data: &Path, out: &Path) {
    let st = Command::new(PROVINCIAL)
        .args(["credential", "add", "--data"])
        .arg(data)
        .args(["--kind", "national", "--name", PROVINCE, "--token-out"])
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "credential add");
}

/// Starts a server on `listen` and waits for its `listening on ADDR` line.
fn start(data: &Path, listen: &str, extra: &[&str]) -> Server {
    let (child, addr) = spawn_server(data, listen, extra);
    Server { child, addr }
}

fn kill(s: &mut Server) {
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
}

fn gateway(dir: &Path, ent: &str, urls: &[String], log: &Path) -> Child {
    let mut c = Command::new(GATEWAY);
    c.args([
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
    .args(["--start", "2026-01-01", "--days", "1", "--speed", "10800"])
    .args([
        "--seed",
        "42",
        "--retry-ms",
        "250",
        "--drain-timeout-s",
        "40",
    ]);
    for (i, u) in urls.iter().enumerate() {
        c.args(["--platform", u]);
        c.arg("--enrollment-file")
            .arg(dir.join(format!("enroll{i}")));
    }
    c.stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
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

fn sleep_until(t0: Instant, secs: f64) {
    if let Some(d) = Duration::from_secs_f64(secs).checked_sub(t0.elapsed()) {
        std::thread::sleep(d);
    }
}

#[test]
fn gateway_survives_outages_and_a_kill_and_both_servers_get_exactly_its_samples() {
    let dir: PathBuf = std::env::temp_dir().join(format!("meterdb-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ent = uscc_with_check("91350100MA2GTL001").unwrap();
    let (d1, d2, dn) = (dir.join("s1"), dir.join("s2"), dir.join("national"));
    register(&d1, &ent, &dir.join("enroll0"));
    register(&d2, &ent, &dir.join("enroll1"));
    let nat_token = dir.join("national.token");
    national_credential(&dn, &nat_token);
    let fe_token = dir.join("frontend.token");
    let st = Command::new(PROVINCIAL)
        .args(["credential", "add", "--data"])
        .arg(&d1)
        .args(["--kind", "frontend", "--name", "fe1", "--token-out"])
        .arg(&fe_token)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "credential add --kind frontend");

    let mut national = start(&dn, "127.0.0.1:0", &["--role", "national"]);
    let nat_url = format!("http://{}", national.addr);
    let nat_token = nat_token.to_string_lossy().into_owned();
    let fwd = ["--outbound"];
    let mut s1 = start(&d1, "127.0.0.1:0", &fwd);
    let s1_url = format!("http://{}", s1.addr);
    let mut frontend = Command::new(PROVINCIAL)
        .args([
            "frontend",
            "--insecure-http",
            "--platform",
            &s1_url,
            "--token-file",
        ])
        .arg(&fe_token)
        .args(["--national", &nat_url, "--national-token-file", &nat_token])
        .args(["--backoff-max-ms", "1000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut s2 = start(&d2, "127.0.0.1:0", &[]);
    let urls = vec![format!("http://{}", s1.addr), format!("http://{}", s2.addr)];

    let t0 = Instant::now();
    let mut gw = gateway(&dir, &ent, &urls, &dir.join("gw1.out"));
    sleep_until(t0, 1.5);
    kill(&mut s1);
    sleep_until(t0, 2.5);
    kill(&mut s2);
    sleep_until(t0, 3.5);
    gw.kill().unwrap(); // SIGKILL
    gw.wait().unwrap();
    let first_run = std::fs::read_to_string(dir.join("gw1.out")).unwrap();
    assert!(
        !first_run.contains("collected"),
        "the gateway was killed before it finished: {first_run}"
    );
    sleep_until(t0, 4.0);
    let mut gw = gateway(&dir, &ent, &urls, &dir.join("gw2.out"));
    sleep_until(t0, 5.0);
    s1 = start(&d1, &s1.addr, &fwd); // down 3.5 s
    sleep_until(t0, 8.5);
    s2 = start(&d2, &s2.addr, &[]); // down 6 s
    let st = gw.wait().unwrap();
    let second_run = std::fs::read_to_string(dir.join("gw2.out")).unwrap();
    assert!(st.success(), "gateway exit {st:?}: {second_run}");
    assert!(second_run.contains("resuming at"), "{second_run}");
    eprintln!(
        "wall time of the gateway: {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // What the gateway collected, recomputed from the seed.
    let start_ts = parse_date("2026-01-01").unwrap();
    let end_ts = start_ts + 86_400_000;
    let plant = Plant::new(Industry::Steel, &ent, 42, 7, start_ts, 60_000, 1);
    let want = plant.samples(start_ts, end_ts);
    assert!(want.iter().any(|s| s.len() < 1440), "the run has gaps");
    let replaced = plant
        .meters
        .iter()
        .position(|m| m.replaced_at.is_some())
        .unwrap();
    assert!(
        want[replaced]
            .windows(2)
            .any(|w| w[1].1 < 100.0 && w[0].1 > 1000.0),
        "the run has a meter replacement"
    );

    // The gateway's own database.
    let gdb = Db::open(dir.join("gw"), Options::default()).unwrap();
    let mut days = Vec::new();
    for (m, w) in plant.meters.iter().zip(&want) {
        let id = gdb.point_id(&m.code.text()).unwrap();
        let got = gdb.read_range(id, i64::MIN / 4, i64::MAX / 4).unwrap();
        let got: Vec<(i64, f64)> = got
            .ts
            .iter()
            .copied()
            .zip(got.values.iter().copied())
            .collect();
        assert_eq!(&got, w, "gateway {}", m.name);
        let row = gdb.rollup(id, Tier::Day, start_ts, end_ts).unwrap();
        let v = if m.code.measure == Measure::Instant {
            row[0].mean
        } else {
            row[0].consumption
        };
        days.push((m.code.text(), (v.unwrap() * 1000.0).round() / 1000.0));
    }
    // Its upload log: failures of both destinations, the second's lasting longer.
    let recs = gdb
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::Failed)
        .unwrap();
    let last_failure = |url: &str| {
        let c = cursor_name(&format!("{url}/api/v1/data"));
        recs.iter()
            .filter(|r| r.cursor == c || r.cursor.starts_with(&format!("{c}:")))
            .map(|r| r.at)
            .max()
    };
    let (f1, f2) = (last_failure(&urls[0]), last_failure(&urls[1]));
    eprintln!(
        "{} failed attempts logged; {} successful; second run: {}",
        recs.len(),
        gdb.upload_records(i64::MIN, i64::MAX, OutcomeFilter::Ok)
            .unwrap()
            .len(),
        second_run.trim()
    );
    assert!(
        f1.is_some() && f2.is_some(),
        "failures recorded for both: {f1:?} {f2:?}"
    );
    assert!(f2 > f1, "server 2 was down longer");
    assert!(recs
        .iter()
        .all(|r| matches!(&r.outcome, UploadOutcome::Failed(m) if !m.is_empty())));
    let ok = gdb
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::Ok)
        .unwrap();
    assert!(ok.iter().any(|r| r.platform_time.is_some()));
    drop(gdb);

    // The front-end delivers server 1's data to the national server.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !national_backlog_empty(&s1_url) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(accepted(&dn) >= days.len() as u64);
    frontend.kill().unwrap();
    frontend.wait().unwrap();
    kill(&mut s1);
    kill(&mut s2);
    kill(&mut national);

    for (name, d) in [("server 1", &d1), ("server 2", &d2)] {
        let db = Db::open(d.join("db"), Options::default()).unwrap();
        let f = PointFilter {
            key_prefix: Some(format!("{ent}/")),
            ..Default::default()
        };
        let keys: Vec<String> = db.points(&f).into_iter().map(|p| p.1.key).collect();
        assert_eq!(
            keys.len(),
            2 * plant.meters.len(),
            "{name}: points {keys:?}"
        );
        for ((m, w), (code, day)) in plant.meters.iter().zip(&want).zip(&days) {
            let id = db.point_id(&format!("{ent}/{}", m.code.text())).unwrap();
            let got = db.read_range(id, i64::MIN / 4, i64::MAX / 4).unwrap();
            assert!(
                got.quality.iter().all(|&q| q == meterdb::Quality::GOOD.0),
                "{name}: valid"
            );
            let got: Vec<(i64, f64)> = got
                .ts
                .iter()
                .copied()
                .zip(got.values.iter().copied())
                .collect();
            assert_eq!(got.len(), w.len(), "{name} {}: count", m.name);
            assert_eq!(&got, w, "{name} {}", m.name);
            let did = db.point_id(&format!("{ent}/{code}/d")).unwrap();
            let got = db.read_range(did, i64::MIN / 4, i64::MAX / 4).unwrap();
            assert_eq!(
                (got.ts.as_slice(), got.values.as_slice()),
                (&[start_ts][..], &[*day][..]),
                "{name} {code}: day"
            );
        }
        db.close().unwrap();
        let log = std::fs::read_to_string(d.join("access.log")).unwrap();
        // Every request the gateway made is known by its credential: the enrollment code
        // once, the device's token after (the front-end, the health checks and the
        // administrative lines aside).
        assert!(
            log.lines()
                .filter(|l| !l.contains("/api/v1/outbound") && !l.contains("/api/v1/health"))
                // Administrative commands (unit add, credential add) are logged too.
                .filter(|l| !l.contains(r#""admin":"#))
                .all(|l| l.contains(&format!("\"who\":\"{ent}-"))
                    || l.contains(&format!("\"who\":\"enroll-{ent}-"))),
            "{name}: access log"
        );
        assert!(log
            .lines()
            .filter(|l| l.contains("/api/v1/outbound"))
            .all(|l| l.contains("\"who\":\"frontend-fe1\"")));
        // The gateway follows the first platform's configuration.
        assert_eq!(
            log.lines()
                .any(|l| l.contains("/api/v1/units/") && l.contains("/config")),
            name == "server 1",
            "{name}: configuration downloaded"
        );
    }
    let ndb = Db::open(dn.join("db"), Options::default()).unwrap();
    for (code, day) in &days {
        let id = ndb.point_id(&format!("{ent}/{code}/d")).unwrap();
        let got = ndb.read_range(id, i64::MIN / 4, i64::MAX / 4).unwrap();
        assert_eq!(got.values, vec![*day], "national {code}");
    }
    drop(ndb);
    let _ = std::fs::remove_dir_all(&dir);
}
