//! TLS: the platform serves HTTPS with a certificate from files (a CA made for the test);
//! the gateway registers and uploads over it trusting that CA (`--ca-file`); a client that
//! does not trust the CA, a plain-HTTP request to the TLS port and garbage bytes are refused
//! without harm; plain HTTP needs `--insecure-http` on every program.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use meterdb_examples::api::standard_config;
use meterdb_examples::client::Client;
use meterdb_examples::industry::Industry;
use meterdb_examples::server::{serve_with, ServeOptions};
use meterdb_examples::tls::{self, DevCa};

const PROVINCIAL: &str = env!("CARGO_BIN_EXE_provincial");
const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meterdb-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn the_gateway_uploads_over_tls_and_bad_clients_are_refused() {
    let dir = tmp("flow");
    let ca = DevCa::generate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    ca.write(&dir.join("tls")).unwrap();
    let t = dir.join("tls");
    let p = common::open_platform(&dir.join("prov"));
    let (ent, enroll) = common::add_steel_unit(
        &p,
        "91350100MA2TL0001",
        "tls plant",
        standard_config(Industry::Steel, 7, 900_000),
    );
    let operator = p.registry().add_credential("operator", "alice").unwrap();
    let cfg = tls::server_config(&t.join("server.pem"), &t.join("server.key")).unwrap();
    let running = serve_with(p.clone(), &ServeOptions::tls("127.0.0.1:0", 2, cfg)).unwrap();
    let url = format!("https://127.0.0.1:{}", running.addr.port());

    // A client trusting the CA reads; one that does not (public roots only) cannot connect.
    let trusted = tls::client_config(&t.join("ca.pem")).unwrap();
    let c = Client::with_tls(&url, Some(&trusted));
    let d = c.dictionaries(&operator, None).unwrap();
    assert_eq!(d["changed"], true);
    let e = Client::new(&url).dictionaries(&operator, None).unwrap_err();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("issuer"),
        "{e}"
    );
    // Another CA's certificate for the same names: refused too.
    let other = DevCa::generate(&["127.0.0.1".into()]).unwrap();
    other.write(&dir.join("other")).unwrap();
    let wrong = tls::client_config(&dir.join("other/ca.pem")).unwrap();
    assert!(Client::with_tls(&url, Some(&wrong))
        .dictionaries(&operator, None)
        .is_err());

    // Plain HTTP to the TLS port, and garbage: the connection is closed, nothing answers
    // in clear text, and the server goes on.
    for junk in [
        &b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0, 0, 0][..],
        &[0u8; 4096][..],
    ] {
        let mut s = TcpStream::connect(running.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(junk);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(
            !String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"),
            "answered in clear text"
        );
    }
    assert!(c.dictionaries(&operator, None).is_ok());

    // The gateway: http:// refused without --insecure-http; https:// with the CA works.
    let gw = |platform: &str, extra: &[&str]| {
        Command::new(GATEWAY)
            .args(["run", "--industry", "steel", "--enterprise", &ent, "--db"])
            .arg(dir.join("gw"))
            .args(["--platform", platform])
            .args(extra)
            .args(["--start", "2026-01-01", "--days", "1", "--speed", "max"])
            .args(["--interval-s", "900", "--drain-timeout-s", "30"])
            .env("METERDB_ENROLLMENT_CODE", &enroll)
            .output()
            .unwrap()
    };
    let plain = format!("http://127.0.0.1:{}", running.addr.port());
    let out = gw(&plain, &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--insecure-http"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca_file = t.join("ca.pem");
    let out = gw(&url, &["--ca-file", ca_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = c
        .get(
            &format!("/api/v1/units/{ent}/uploads?from=2025-01-01&to=2030-01-01"),
            &operator,
        )
        .unwrap();
    let accepted: u64 = v["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["accepted"].as_u64().unwrap())
        .sum();
    // 7 points every 15 minutes for a day, less the simulated gaps, plus the day statistics.
    assert!(accepted > 500, "{v}");
    running.stop();

    // The server binary: neither TLS files nor --insecure-http is an error; a key file
    // others can read is refused.
    let out = Command::new(PROVINCIAL)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("prov2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert"));
    let made = Command::new(PROVINCIAL)
        .args(["tls", "dev-ca", "--out"])
        .arg(dir.join("made"))
        .output()
        .unwrap();
    assert!(made.status.success());
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("made/server.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(PROVINCIAL)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("prov2"))
        .arg("--tls-cert")
        .arg(dir.join("made/server.pem"))
        .arg("--tls-key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable by others"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
