//! Tokens: they expire, they can be revoked (`provincial token revoke`, taking effect on a
//! running server at the next request), the answer to a wrong, expired or revoked one is 401
//! before any of the body is read, and `provincial token list` shows every credential's
//! state without a secret.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::call;
use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::industry::{uscc_with_check, Industry};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::server::serve;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meterdb-tokens-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn info(ent: &str) -> EnterpriseInfo {
    EnterpriseInfo {
        enterprise_code: ent.into(),
        name: format!("plant {ent}"),
        region_code: "350100".into(),
        industry: "steel".into(),
        industry_code: Industry::Steel.classification().into(),
    }
}

#[test]
fn tokens_expire_are_revoked_and_are_checked_before_the_body() {
    let dir = tmp("flow");
    let p = Arc::new(
        Platform::open(&Config {
            data: dir.clone(),
            role: Role::Provincial,
            no_store: false,
            outbound: None,
        })
        .unwrap(),
    );
    let ent = uscc_with_check("91350100MA2TK0001").unwrap();
    let reg = p.registry();
    reg.add_unit(info(&ent), standard_config(Industry::Steel, 7, 900_000))
        .unwrap();
    let dev = reg.enroll_and_register(&ent, "SN-1").unwrap();
    // A device whose token lasts one second, an operator whose token lasts one second.
    let short = reg.issue_enrollment_with(&ent, 1000).unwrap();
    let short_id = short.split('.').next().unwrap().to_string();
    let short_dev = reg
        .register_device(&ent, &short_id, "SN-2", "gateway", "")
        .unwrap();
    let short_op = reg.add_credential_valid("operator", "temp", 1000).unwrap();
    let op = reg.add_credential("operator", "alice").unwrap();
    let unused = reg.issue_enrollment(&ent).unwrap();
    let running = serve(p.clone(), "127.0.0.1:0", 2).unwrap();
    let base = format!("http://{}", running.addr);
    let unit_url = format!("{base}/api/v1/units/{ent}");

    for t in [&dev.token, &short_dev.token, &short_op, &op] {
        let (s, v) = call("GET", &unit_url, Some(t), None);
        assert_eq!(s, 200, "{v}");
    }
    // A wrong secret, a made-up id, a short secret: 401, the same answer for all.
    let wrong = format!("{}.{}", dev.device_id, "0".repeat(32));
    for t in [
        wrong.as_str(),
        "operator-mallory.00000000000000000000000000000000",
        "x.y",
    ] {
        let (s, v) = call("GET", &unit_url, Some(t), None);
        assert_eq!(s, 401, "{t}: {v}");
    }

    // Expiry.
    std::thread::sleep(Duration::from_millis(1100));
    for t in [&short_dev.token, &short_op] {
        let (s, v) = call("GET", &unit_url, Some(t), None);
        assert_eq!(s, 401, "{v}");
        assert_eq!(v["error"], "the token has expired");
    }

    // Revocation with the command while the server runs: the next request is refused.
    let revoke = |id: &str| {
        let out = Command::new(common::PROVINCIAL)
            .args(["token", "revoke", "--data"])
            .arg(&dir)
            .args(["--id", id])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(revoke(&dev.device_id).contains("revoked"));
    assert!(revoke(&dev.device_id).contains("revoked already"));
    revoke("operator-alice");
    revoke(unused.split('.').next().unwrap());
    for t in [&dev.token, &op] {
        let (s, v) = call("GET", &unit_url, Some(t), None);
        assert_eq!(s, 401, "{v}");
        assert_eq!(v["error"], "the token was revoked");
    }
    let reg_body = format!(r#"{{"enterpriseCode":"{ent}","serial":"SN-3"}}"#);
    let (s, v) = call(
        "POST",
        &format!("{base}/api/v1/devices"),
        Some(&unused),
        Some(&reg_body),
    );
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "the enrollment code was revoked");

    // The list: every credential with its state, no secret.
    let out = Command::new(common::PROVINCIAL)
        .args(["token", "list", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        list.contains(&format!("{}\tdevice", dev.device_id)),
        "{list}"
    );
    assert!(list.contains("operator-alice\toperator"), "{list}");
    assert!(
        list.contains("\trevoked") && list.contains("\texpired"),
        "{list}"
    );
    for secret in [&dev.token, &op, &short_op, &unused] {
        assert!(!list.contains(secret.split('.').nth(1).unwrap()));
    }
    // Secrets are not kept: no token appears in the registry's files.
    for f in walk(&dir.join("registry")) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for secret in [&dev.token, &op, &short_op, &unused] {
            assert!(!text.contains(secret.split('.').nth(1).unwrap()), "{f:?}");
        }
    }

    // Before the body: headers announcing 50 MiB with a revoked token are answered 401
    // without a byte of the body sent.
    let mut s = TcpStream::connect(running.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /api/v1/data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n",
        dev.token
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    running.stop();

    // The audit log: the requests (with the reason of each refusal) and the revocations, in
    // one hash chain; files 0600 in a 0700 directory; `audit verify` finds an edited line.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("access.log")), 0o600);
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
    assert!(log.contains(r#""admin":"token revoke""#), "{log}");
    assert!(log.contains(r#""error":"the token was revoked""#), "{log}");
    assert!(
        log.contains(&format!(r#""who":"{}"#, dev.device_id)),
        "{log}"
    );
    let verify = || {
        Command::new(common::PROVINCIAL)
            .args(["audit", "verify", "--data"])
            .arg(&dir)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit log verified"));
    let edited = log.replacen(r#""status":401"#, r#""status":200"#, 1);
    std::fs::write(dir.join("access.log"), edited).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chain is broken"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk(d: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
