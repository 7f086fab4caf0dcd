//! A configuration change picked up by a running gateway: the operator adds a second
//! production unit's seven data items while the gateway collects; the gateway downloads the
//! new version, applies it with `apply_unit_catalog`, collects the new items from then on,
//! and the platform accepts them (no record refused). `gateway uploads` shows the attempts.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::industry::{uscc_with_check, Industry};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::parse_date;
use meterdb_examples::server::serve;

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");

#[test]
fn a_running_gateway_follows_a_new_configuration() {
    let dir = std::env::temp_dir().join(format!("meterdb-cfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ent = uscc_with_check("91350100MA2CF0001").unwrap();
    let p = Arc::new(
        Platform::open(&Config {
            data: dir.join("prov"),
            role: Role::Provincial,
            no_store: false,
            outbound: None,
        })
        .unwrap(),
    );
    let info = EnterpriseInfo {
        enterprise_code: ent.clone(),
        name: "steel works".into(),
        region_code: "350100".into(),
        industry: "steel".into(),
        industry_code: Industry::Steel.classification().into(),
    };
    let enroll = p
        .registry()
        .add_unit(info, standard_config(Industry::Steel, 7, 60_000))
        .unwrap();
    let running = serve(p.clone(), "127.0.0.1:0", 2).unwrap();
    let url = format!("http://{}", running.addr);
    let gw = Command::new(GATEWAY)
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
        .args(["--platform", &url, "--config-every-s", "1", "--seed", "3"])
        .args(["--start", "2026-01-01", "--days", "1", "--speed", "7200"])
        .env("METERDB_ENROLLMENT_CODE", &enroll)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A few simulated hours in, the operator configures a second production unit.
    std::thread::sleep(Duration::from_millis(2500));
    let v = p
        .registry()
        .set_config(&ent, standard_config(Industry::Steel, 14, 60_000))
        .unwrap();
    assert_eq!(v, 2);
    let t0 = Instant::now();
    let out = gw.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}(waited {:.1} s)", t0.elapsed().as_secs_f64());
    assert!(
        stdout.contains("configuration version 1 applied: 7 data items"),
        "{stdout}"
    );
    assert!(
        stdout.contains("configuration version 2 applied: 14 data items"),
        "{stdout}"
    );

    let start = parse_date("2026-01-01").unwrap();
    let end = start + 86_400_000;
    let db = p.db().unwrap();
    for (i, item) in standard_config(Industry::Steel, 14, 60_000)
        .iter()
        .enumerate()
    {
        let id = db
            .point_id(&format!("{ent}/{}", item.data_code))
            .unwrap_or_else(|| panic!("no data of {}", item.data_code));
        let c = db.read_range(id, start, end).unwrap();
        let first = c.ts[0];
        if i < 7 {
            assert_eq!(first, start, "{}: collected from the start", item.name);
        } else {
            assert!(
                first > start + 3_600_000,
                "{}: collected only after the change ({})",
                item.name,
                meterdb_examples::records::format_datetime(first)
            );
        }
        assert_eq!(*c.ts.last().unwrap(), end - 60_000, "{}", item.name);
    }
    // Nothing the gateway sent was refused.
    let caller = p
        .registry()
        .add_credential("operator", "op")
        .map(|t| p.authenticate(Some(&format!("Bearer {t}"))).unwrap())
        .unwrap();
    let ups = p
        .uploads(&caller, &ent, Some("2025-01-01"), Some("2034-01-01"))
        .unwrap();
    let ups = ups["uploads"].as_array().unwrap();
    assert!(ups.len() > 10, "{} uploads", ups.len());
    assert!(ups.iter().all(|u| u["rejected"] == 0), "{ups:?}");
    running.stop();

    // The gateway's side: every attempt, with its outcome.
    let out = Command::new(GATEWAY)
        .args(["uploads", "--db"])
        .arg(dir.join("gw"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let oks = text.lines().filter(|l| l.contains("\tok\t")).count();
    assert_eq!(oks, ups.len(), "{text}");
    assert!(text.contains(&url), "the platform is named: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}
