//! Device epochs (issue 19): a gateway rebuilt with a new database but its old credentials
//! restarts its change ids; it asks for a new epoch first, and the platform, which keeps the
//! duplicate mark per (device, epoch), stores its new data instead of dropping it with a 200
//! answer. A request naming an earlier epoch is refused (409).

mod common;

use std::path::Path;
use std::process::Command;

use meterdb_examples::api::standard_config;
use meterdb_examples::client::{Client, Credentials};
use meterdb_examples::industry::Industry;
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::server::serve;
use serde_json::Value;

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");

/// Runs the gateway over one simulated day from `start` with database `db` and the
/// credentials in `creds`; its standard output.
fn gateway(url: &str, ent: &str, enroll: &str, db: &Path, creds: &Path, start: &str) -> String {
    let out = Command::new(GATEWAY)
        .args(["run", "--industry", "steel", "--enterprise", ent, "--db"])
        .arg(db)
        .arg("--credentials")
        .arg(creds)
        .args(["--platform", url, "--insecure-http"])
        .args(["--start", start, "--days", "1", "--speed", "max"])
        .args(["--interval-s", "900", "--drain-timeout-s", "30"])
        .env("METERDB_ENROLLMENT_CODE", enroll)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// (accepted, duplicates) of the platform's upload-log entries of `epoch`.
fn received(c: &Client, operator: &str, ent: &str, epoch: u64) -> (u64, u64) {
    let v: Value = c
        .get(
            &format!("/api/v1/units/{ent}/uploads?from=2025-01-01&to=2030-01-01"),
            operator,
        )
        .unwrap();
    v["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["epoch"] == epoch)
        .fold((0, 0), |(a, d), u| {
            (
                a + u["accepted"].as_u64().unwrap(),
                d + u["duplicates"].as_u64().unwrap(),
            )
        })
}

#[test]
fn a_rebuilt_gateway_gets_a_new_epoch_and_its_restarted_ids_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::open_platform(&dir.path().join("prov"));
    let (ent, enroll) = common::add_steel_unit(
        &p,
        "91350100MA2EP0001",
        "epoch plant",
        standard_config(Industry::Steel, 7, 900_000),
    );
    let operator = p.registry().add_credential("operator", "alice").unwrap();
    let running = serve(p.clone(), "127.0.0.1:0", 2).unwrap();
    let url = format!("http://{}", running.addr);
    let c = Client::new(&url);
    let creds = dir.path().join("creds");

    // The first life: registered in epoch 1, a day uploaded.
    gateway(
        &url,
        &ent,
        &enroll,
        &dir.path().join("gw1"),
        &creds,
        "2026-01-01",
    );
    let saved = Credentials::load(&creds, &url).unwrap().unwrap();
    assert_eq!(saved.epoch, Some(1));
    let (first, dups) = received(&c, &operator, &ent, 1);
    assert!(first > 500, "{first}");
    assert_eq!(dups, 0);
    // Its health: everything acknowledged, nothing rejected (exit status 0).
    let out = Command::new(GATEWAY)
        .args(["health", "--db"])
        .arg(dir.path().join("gw1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h["ok"], true, "{h}");
    assert_eq!(h["rejectedKept"], 0, "{h}");
    let st = &h["status"]["platforms"][0];
    assert_eq!(st["epoch"], 1, "{h}");
    assert!(st["lastError"].is_null(), "{h}");
    assert_eq!(st["acknowledged"].as_u64(), Some(first), "{h}");

    // Rebuilt: a new database (its change ids start again at 1), the same credentials.
    let out = gateway(
        &url,
        &ent,
        &enroll,
        &dir.path().join("gw2"),
        &creds,
        "2026-01-02",
    );
    assert!(out.contains("is in epoch 2"), "{out}");
    assert_eq!(
        Credentials::load(&creds, &url).unwrap().unwrap().epoch,
        Some(2)
    );
    let (second, dups) = received(&c, &operator, &ent, 2);
    // The second day's data is stored, none of it taken for a duplicate of the first.
    assert!(second > 500, "{second}");
    assert_eq!(dups, 0, "restarted ids were dropped as duplicates");
    let v: Value = c
        .get(
            &format!(
                "/api/v1/history?enterpriseCode={ent}&dataCode={}&granularity=day\
                 &from=2026-01-01&to=2026-01-03",
                standard_config(Industry::Steel, 7, 900_000)[0].data_code
            ),
            &operator,
        )
        .unwrap();
    let counts: Vec<u64> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .collect();
    assert!(counts.len() == 2 && counts.iter().all(|&n| n > 0), "{v}");

    // A request of the first life (epoch 1) is refused now, before its records are looked
    // at; a header that is not a number is a bad request; only a device gets an epoch.
    let post = |epoch: &str| match ureq::post(&format!("{url}/api/v1/data"))
        .set("Authorization", &format!("Bearer {}", saved.token))
        .set("X-Meterdb-Epoch", epoch)
        .send_string("[]")
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(post("1"), 409);
    assert_eq!(post("x"), 400);
    assert_eq!(post("2"), 200);
    let e = c.new_epoch(&operator).unwrap_err();
    assert!(e.starts_with("http 403"), "{e}");
    // The epoch is kept in the registry: a reopened platform knows it.
    drop(running);
    drop(p);
    let again = Platform::open(&Config {
        data: dir.path().join("prov"),
        role: Role::Provincial,
        no_store: true,
        outbound: None,
    })
    .unwrap();
    let caller = again
        .authenticate(Some(&format!("Bearer {}", saved.token)))
        .unwrap();
    assert!(
        matches!(
            caller,
            meterdb_examples::registry::Caller::Device { epoch: 2, .. }
        ),
        "{caller:?}"
    );
}
