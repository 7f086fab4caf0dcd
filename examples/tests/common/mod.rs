//! What the examples' end-to-end tests share: starting the `provincial` server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use meterdb_examples::industry::Plant;
use meterdb_examples::records::{Record, STAT_REALTIME};
use serde_json::Value;

/// The `provincial` binary of this build.
pub const PROVINCIAL: &str = env!("CARGO_BIN_EXE_provincial");

/// Starts `provincial serve --data DATA --listen LISTEN --threads 2 EXTRA...` and waits for
/// its `listening on ADDR` line: the process and the address it listens on (the rest of its
/// output is drained on a thread).
pub fn spawn_server(data: &Path, listen: &str, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(PROVINCIAL)
        .arg("serve")
        .arg("--insecure-http")
        .arg("--data")
        .arg(data)
        .args(["--listen", listen, "--threads", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, addr)
}

/// (status, JSON body) of a request.
pub fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let mut r = ureq::request(method, url);
    if let Some(t) = token {
        r = r.set("Authorization", &format!("Bearer {t}"));
    }
    let res = match body {
        Some(b) => r.set("Content-Type", "application/json").send_string(b),
        None => r.call(),
    };
    let (status, resp) = match res {
        Ok(resp) => (resp.status(), resp),
        Err(ureq::Error::Status(s, resp)) => (s, resp),
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let text = resp.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {url}: not JSON: {text}")),
    )
}

/// The plant's real-time records of ticks `[from, to)`, with change ids from `id0 + 1`.
pub fn realtime(p: &Plant, from: i64, to: i64, id0: u64) -> Vec<Record> {
    let mut id = id0;
    let mut out = Vec::new();
    for (m, s) in p.meters.iter().zip(p.samples(from, to)) {
        for (ts, v) in s {
            id += 1;
            out.push(Record {
                enterprise: p.enterprise.clone(),
                data_code: m.code.text(),
                value: v,
                input_type: 1,
                stat_type: STAT_REALTIME,
                stat_ts: ts,
                valid: true,
                id: Some(id),
                revision: None,
                corrected: false,
            });
        }
    }
    out
}

/// A storing provincial platform in `data`.
pub fn open_platform(data: &Path) -> std::sync::Arc<meterdb_examples::provincial::Platform> {
    use meterdb_examples::provincial::{Config, Platform, Role};
    std::sync::Arc::new(
        Platform::open(&Config {
            data: data.to_path_buf(),
            role: Role::Provincial,
            no_store: false,
            outbound: None,
        })
        .unwrap(),
    )
}

/// Registers a steel unit whose credit code is `prefix` and its check character, with
/// `items`: its credit code and enrollment code.
pub fn add_steel_unit(
    p: &meterdb_examples::provincial::Platform,
    prefix: &str,
    name: &str,
    items: Vec<meterdb_examples::api::ConfigItem>,
) -> (String, String) {
    use meterdb_examples::industry::{uscc_with_check, Industry};
    let ent = uscc_with_check(prefix).unwrap();
    let enroll = p
        .registry()
        .add_unit(
            meterdb_examples::api::EnterpriseInfo {
                enterprise_code: ent.clone(),
                name: name.into(),
                region_code: "350100".into(),
                industry: "steel".into(),
                industry_code: Industry::Steel.classification().into(),
            },
            items,
        )
        .unwrap();
    (ent, enroll)
}
