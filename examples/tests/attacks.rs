//! The attack suite (issue 19): a `provincial serve` process is attacked case by case. Each
//! case asserts the answer, that the server is still up and serves an honest client (from
//! another loopback address, 127.0.0.2, so per-address limits hit by the attacker do not
//! touch it) while or right after it runs, and that nothing stored changed (the units' upload
//! logs and a history answer are the same before and after).
//!
//! At the end: the server's peak RSS (VmHWM) and an honest client's latency with and without
//! a flood are printed (`cargo test -p meterdb-examples --test attacks -- --nocapture`).
//! Sizes are moderate; `METERDB_ATTACKS_LARGE=1` runs the largest bodies at full size
//! (30 million items, as in the issue's report).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::{realtime, spawn_server};
use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::industry::{uscc_with_check, Industry, Plant};
use meterdb_examples::records::{parse_date, to_body};
use meterdb_examples::registry::Registry;
use meterdb_examples::upload::now_ms;
use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meterdb-attacks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A connection to `addr` from `from` (a loopback address).
fn connect(from: &str, addr: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt
        .block_on(async {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.bind(format!("{from}:0").parse().unwrap())?;
            sock.connect(addr).await
        })
        .unwrap()
        .into_std()
        .unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// One request (`Connection: close`) from `from`: (status, body); status 0 when the server
/// closed the connection without an answer.
/// A `POST /api/v1/data` (the intake) from `from` with `token`.
fn post_data(from: &str, addr: SocketAddr, token: Option<&str>, body: &[u8]) -> (u16, String) {
    request(from, addr, "POST", "/api/v1/data", token, body)
}

fn request(
    from: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut s = connect(from, addr);
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes()).is_err() {
        return (0, String::new());
    }
    let _ = s.write_all(body);
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |x| x.1.to_string());
    (status, body)
}

struct Target {
    addr: SocketAddr,
    child: Child,
    dir: PathBuf,
    ent_a: String,
    ent_b: String,
    dev_a: String,
    dev_b: String,
    operator: String,
}

impl Target {
    /// The honest client: device B reads its configuration and uploads nothing.
    fn honest(&self) -> Duration {
        // An honest client keeps under its rate (20 a second here).
        std::thread::sleep(Duration::from_millis(60));
        let t0 = Instant::now();
        let (s, b) = request(
            "127.0.0.2",
            self.addr,
            "GET",
            &format!("/api/v1/units/{}/config", self.ent_b),
            Some(&self.dev_b),
            b"",
        );
        assert_eq!(s, 200, "the honest client was not served: {b}");
        t0.elapsed()
    }

    /// What is stored: the records each unit's upload log says were accepted, and a history
    /// answer of unit A's first point, read by the operator. (The upload log itself grows:
    /// refused requests are logged too.)
    fn stored(&self, code: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in [&self.ent_a, &self.ent_b] {
            let (s, b) = request(
                "127.0.0.3",
                self.addr,
                "GET",
                &format!("/api/v1/units/{e}/uploads?from=2025-01-01&to=2030-01-01"),
                Some(&self.operator),
                b"",
            );
            assert_eq!(s, 200, "{b}");
            let v: Value = serde_json::from_str(&b).unwrap();
            let accepted: u64 = v["uploads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["accepted"].as_u64().unwrap())
                .sum();
            out.push(accepted.to_string());
        }
        let (s, b) = request(
            "127.0.0.3",
            self.addr,
            "GET",
            &format!(
                "/api/v1/history?enterpriseCode={}&dataCode={code}&granularity=minute\
                 &from=2026-01-01&to=2026-01-02",
                self.ent_a
            ),
            Some(&self.operator),
            b"",
        );
        assert_eq!(s, 200, "{b}");
        out.push(b);
        out
    }

    fn vm_hwm_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    fn alive(&mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "the server died");
    }
}

/// The server process is stopped however the test ends (a failed assertion too).
impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup() -> Target {
    let dir = tmp("srv");
    let reg = Registry::open(&dir).unwrap();
    let mut ents = Vec::new();
    let mut devs = Vec::new();
    for n in ["91350100MA2AT0001", "91350100MA2AT0002"] {
        let ent = uscc_with_check(n).unwrap();
        reg.add_unit(
            EnterpriseInfo {
                enterprise_code: ent.clone(),
                name: format!("plant {ent}"),
                region_code: "350100".into(),
                industry: "steel".into(),
                industry_code: Industry::Steel.classification().into(),
            },
            standard_config(Industry::Steel, 7, 60_000),
        )
        .unwrap();
        devs.push(reg.enroll_and_register(&ent, "SN").unwrap().token);
        ents.push(ent);
    }
    let operator = reg.add_credential("operator", "alice").unwrap();
    drop(reg);
    let (child, addr) = spawn_server(
        &dir,
        "127.0.0.1:0",
        &[
            "--header-timeout-s",
            "1",
            "--rate-per-s",
            "20",
            "--rate-burst",
            "40",
            "--max-connections",
            "64",
            "--upload-date-window-s",
            "600",
        ],
    );
    Target {
        addr: addr.parse().unwrap(),
        child,
        dir,
        ent_a: ents[0].clone(),
        ent_b: ents[1].clone(),
        dev_a: devs[0].clone(),
        dev_b: devs[1].clone(),
        operator,
    }
}

#[test]
fn attacks_are_refused_and_the_server_serves_honest_clients_meanwhile() {
    let mut t = setup();
    let large = std::env::var("METERDB_ATTACKS_LARGE").is_ok();
    // Some honest data of unit A first, so that there is something to change.
    let start = parse_date("2026-01-01").unwrap();
    let plant = Plant::new(Industry::Steel, &t.ent_a, 1, 7, start, 60_000, 30);
    let honest_body = to_body(&realtime(&plant, start, start + 3_600_000, 0), now_ms());
    let (s, b) = post_data("127.0.0.1", t.addr, Some(&t.dev_a), honest_body.as_bytes());
    assert_eq!(s, 200, "{b}");
    let code = plant.meters[0].code.text();
    let before = t.stored(&code);
    assert_ne!(before[0], "0", "{before:?}");
    assert!(before[2].contains("\"count\":1"), "{before:?}");
    let quiet: Vec<Duration> = (0..20).map(|_| t.honest()).collect();
    let mut cases = 0;
    let mut refused = 0;
    let mut check = |t: &mut Target, name: &str, got: u16, want: &[u16], body: &str| {
        cases += 1;
        assert!(
            want.contains(&got),
            "{name}: answered {got}, expected one of {want:?}: {}",
            body.chars().take(300).collect::<String>()
        );
        assert!(
            !body.contains(t.dir.to_str().unwrap()) && !body.contains("/tmp"),
            "{name}: a server path in the answer: {body}"
        );
        refused += 1;
        t.alive();
        t.honest();
        eprintln!("{name}: {got} ok");
    };

    // 1. Millions of tiny items: an array of zeros (2 million; 30 million with
    //    METERDB_ATTACKS_LARGE): refused after the 100,000th, not parsed further.
    let n = if large { 30_000_000 } else { 2_000_000 };
    let mut zeros = Vec::with_capacity(2 * n + 2);
    zeros.push(b'[');
    for i in 0..n {
        if i > 0 {
            zeros.push(b',');
        }
        zeros.push(b'0');
    }
    zeros.push(b']');
    let (s, b) = post_data("127.0.0.1", t.addr, Some(&t.dev_a), &zeros);
    check(&mut t, "millions of tiny items", s, &[413], &b);
    let rss_zeros = t.vm_hwm_kib();
    drop(zeros);

    // 2. 99,999 bad items (under the record cap): every one rejected, the listed reasons
    //    capped at 1,000.
    let mut bad = String::from("[");
    for i in 0..99_999 {
        if i > 0 {
            bad.push(',');
        }
        bad.push_str("{\"x\":1}");
    }
    bad.push(']');
    let (s, b) = post_data("127.0.0.1", t.addr, Some(&t.dev_a), bad.as_bytes());
    check(&mut t, "100k bad items", s, &[200], &b);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["rejectedCount"], 99_999);
    assert_eq!(v["rejected"].as_array().unwrap().len(), 1000);
    assert_eq!(v["accepted"], 0);

    // 3. An oversized body (announced 65 MiB): 413 before it is read.
    let mut s = connect("127.0.0.1", t.addr);
    write!(
        s,
        "POST /api/v1/data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        t.dev_a,
        65 << 20
    )
    .unwrap();
    let (st, b) = read_answer(&mut s);
    check(&mut t, "oversized body", st, &[413], &b);

    // 4. Deep nesting: of the whole body, and inside a record.
    let deep = "[".repeat(200_000);
    let (s, b) = post_data("127.0.0.1", t.addr, Some(&t.dev_a), deep.as_bytes());
    check(&mut t, "deeply nested body", s, &[400], &b);
    let deep_rec = format!(
        "[{{\"enterpriseCode\":{}0{}}}]",
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let (s, b) = post_data("127.0.0.1", t.addr, Some(&t.dev_a), deep_rec.as_bytes());
    check(&mut t, "deeply nested record", s, &[200, 400], &b);
    let big_rec = format!("[{{\"dataCode\":\"{}\"}}]", "9".repeat(1 << 20));
    let (s, b) = post_data("127.0.0.1", t.addr, Some(&t.dev_a), big_rec.as_bytes());
    check(&mut t, "a 1 MiB record", s, &[200], &b);
    assert!(b.contains("a record has at most 4096"), "{b}");

    // 5. Slow clients: headers never finished, a body that stops; both are cut off by the
    //    timeouts (1 s here) while the honest client is served.
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect("127.0.0.1", t.addr);
            s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut stalled = connect("127.0.0.1", t.addr);
    write!(
        stalled,
        "POST /api/v1/data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 1000\r\nConnection: close\r\n\r\n[",
        t.dev_a
    )
    .unwrap();
    t.honest();
    for s in &mut slow {
        let (st, _) = read_answer(s);
        assert!(st == 0 || st == 408, "a slow header answered {st}");
    }
    let (st, b) = read_answer(&mut stalled);
    check(
        &mut t,
        "slow headers and a stalled body",
        st,
        &[400, 408],
        &b,
    );

    // 6. Wrong, made-up and malformed tokens: 401, then 429 for the address; the honest
    //    client (another address) is served throughout.
    let mut statuses = Vec::new();
    for i in 0..40 {
        let tok = format!("{}-0{}.{:032x}", t.ent_a, i % 9, i);
        statuses.push(request("127.0.0.1", t.addr, "GET", "/api/v1/units", Some(&tok), b"").0);
    }
    assert!(statuses[..10].iter().all(|&s| s == 401), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    check(
        &mut t,
        "token guessing",
        *statuses.last().unwrap(),
        &[429],
        "",
    );
    std::thread::sleep(Duration::from_secs(3)); // the address's bucket refills a little

    // 7. Cross-unit: device A reads B, writes B's records.
    for path in [
        format!("/api/v1/units/{}", t.ent_b),
        format!("/api/v1/units/{}/config", t.ent_b),
        format!("/api/v1/units/{}/daily?from=2026-01-01&to=2026-01-02", t.ent_b),
        format!("/api/v1/history?enterpriseCode={}&dataCode=1300400150010001&granularity=day&from=2026-01-01&to=2026-01-02", t.ent_b),
        "/api/v1/units".to_string(),
        "/api/v1/ranking?from=2026-01-01&to=2026-01-02".to_string(),
    ] {
        let (s, b) = request("127.0.0.4", t.addr, "GET", &path, Some(&t.dev_a), b"");
        check(&mut t, &format!("cross-unit read {path}"), s, &[403], &b);
    }
    let plant_b = Plant::new(Industry::Steel, &t.ent_b, 2, 7, start, 60_000, 30);
    let body_b = to_body(&realtime(&plant_b, start, start + 600_000, 0), now_ms());
    let (s, b) = post_data("127.0.0.4", t.addr, Some(&t.dev_a), body_b.as_bytes());
    check(&mut t, "cross-unit write", s, &[200], &b);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["accepted"], 0, "{v}");

    // 8. Replay of A's request: every record a duplicate, nothing stored again.
    let (s, b) = post_data("127.0.0.4", t.addr, Some(&t.dev_a), honest_body.as_bytes());
    check(&mut t, "replay", s, &[200], &b);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["accepted"], 0, "{v}");

    // 8b. Forged ids far ahead (u64::MAX, 2^53, last + 2^48 + 1): refused, and the device
    //     is not silenced: its next records, with the next ids, are stored.
    let sent = realtime(&plant, start, start + 3_600_000, 0);
    let last = sent.iter().filter_map(|r| r.id).max().unwrap();
    for forged in [u64::MAX, 1 << 53, last + (1 << 48) + 1] {
        let mut recs = realtime(&plant, start + 3_600_000, start + 3_660_000, 0);
        for r in &mut recs {
            r.id = Some(forged);
        }
        let (s, b) = post_data(
            "127.0.0.4",
            t.addr,
            Some(&t.dev_a),
            to_body(&recs, now_ms()).as_bytes(),
        );
        check(&mut t, &format!("forged id {forged}"), s, &[200], &b);
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["accepted"], 0, "{v}");
        assert_eq!(v["rejected"][0]["field"], "id", "{v}");
    }
    let next = realtime(&plant, start + 3_600_000, start + 3_660_000, last);
    let (s, b) = post_data(
        "127.0.0.4",
        t.addr,
        Some(&t.dev_a),
        to_body(&next, now_ms()).as_bytes(),
    );
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["accepted"].as_u64().unwrap(), next.len() as u64, "{v}");
    // A request of an hour ago (uploadDate outside the 10-minute window), with new ids:
    // refused, whatever its ids (a captured request replayed later).
    let later = realtime(
        &plant,
        start + 3_660_000,
        start + 3_720_000,
        last + next.len() as u64 * 4,
    );
    let (s, b) = post_data(
        "127.0.0.4",
        t.addr,
        Some(&t.dev_a),
        to_body(&later, now_ms() - 3_600_000).as_bytes(),
    );
    check(&mut t, "stale uploadDate", s, &[200], &b);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["accepted"], 0, "{v}");
    assert_eq!(v["rejected"][0]["field"], "uploadDate", "{v}");
    // What is stored now includes the honest records.
    let before = t.stored(&code);

    // 9. Path tricks in the path parameter.
    for code in [
        "..%2F..%2Fregistry%2Fcredentials",
        "%2e%2e",
        "..",
        "91350100MA2AT0001%00",
        "%F0%9F%92%A5",
        &"9".repeat(5000),
        "91350100MA2AT00012%2F..%2F..",
    ] {
        for tail in ["", "/config", "/uploads?from=2026-01-01&to=2026-01-02"] {
            let path = format!("/api/v1/units/{code}{tail}");
            let (s, b) = request("127.0.0.4", t.addr, "GET", &path, Some(&t.operator), b"");
            check(
                &mut t,
                &format!("path trick {}", &path[..path.len().min(60)]),
                s,
                &[400, 403, 404, 431],
                &b,
            );
        }
    }

    // 10. A flood of one credential (device A, 2 threads, 300 requests each): it is
    //     limited to its rate (429 beyond), the honest client's latency is measured meanwhile.
    let addr = t.addr;
    let dev_a = t.dev_a.clone();
    let flood: Vec<_> = (0..2)
        .map(|_| {
            let tok = dev_a.clone();
            std::thread::spawn(move || {
                let mut n429 = 0;
                for _ in 0..300 {
                    let (s, _) = request(
                        "127.0.0.5",
                        addr,
                        "GET",
                        "/api/v1/dictionaries?version=2",
                        Some(&tok),
                        b"",
                    );
                    if s == 429 {
                        n429 += 1;
                    }
                }
                n429
            })
        })
        .collect();
    let mut during = Vec::new();
    while !flood.iter().all(|h| h.is_finished()) && during.len() < 200 {
        during.push(t.honest());
    }
    let n429: usize = flood.into_iter().map(|h| h.join().unwrap()).sum();
    check(
        &mut t,
        "flood of one credential",
        if n429 > 0 { 429 } else { 200 },
        &[429],
        "",
    );

    let after = t.stored(&code);
    assert_eq!(before, after, "something stored changed");
    let rss = t.vm_hwm_kib();
    let ms = |v: &mut Vec<Duration>| {
        v.sort();
        (
            v[v.len() / 2].as_secs_f64() * 1e3,
            v[v.len() * 9 / 10].as_secs_f64() * 1e3,
        )
    };
    let (mut quiet, mut during) = (quiet, during);
    let (q50, q90) = ms(&mut quiet);
    let (d50, d90) = ms(&mut during);
    eprintln!(
        "attacks: {cases} cases, {refused} answered as they should; server peak RSS {:.1} MiB \
         ({:.1} MiB after the {n}-item body); honest latency median {q50:.2} ms (p90 {q90:.2}) \
         quiet, {d50:.2} ms (p90 {d90:.2}) during the flood ({} requests, {n429} of 600 flood \
         requests answered 429)",
        rss as f64 / 1024.0,
        rss_zeros as f64 / 1024.0,
        during.len()
    );
    // Bounded: the 64 MiB body limit, no tree of the body, at most 100,000 records.
    assert!(rss < 1024 * 1024, "peak RSS {rss} KiB");
    let _ = t.child.kill();
    let _ = t.child.wait();
    // Every refusal is in the audit log with its reason and the limit hit, and the chain
    // is intact.
    let log = std::fs::read_to_string(t.dir.join("access.log")).unwrap();
    for want in [
        r#""limit":"rate""#,
        r#""limit":"auth-failures""#,
        r#""limit":"body-size""#,
        r#""status":413"#,
        r#""status":408"#,
        "query",
        // The slow headers of case 5, cut off before any request was made of them.
        r#""event":"header-timeout""#,
    ] {
        assert!(log.contains(want), "no {want} in the audit log");
    }
    let out = std::process::Command::new(common::PROVINCIAL)
        .args(["audit", "verify", "--data"])
        .arg(&t.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(Path::new(&t.dir));
}

/// A `provincial serve` over TLS (a CA made for the test), with at most `max_conns` open
/// connections: the process, its address, the CA's client configuration, an operator token.
fn setup_tls(dir: &Path, max_conns: &str) -> (Child, SocketAddr, ClientTls, String) {
    let ca = meterdb_examples::tls::DevCa::generate(&["127.0.0.1".into()]).unwrap();
    ca.write(&dir.join("tls")).unwrap();
    let operator = Registry::open(&dir.join("data"))
        .unwrap()
        .add_credential("operator", "alice")
        .unwrap();
    let mut child = std::process::Command::new(common::PROVINCIAL)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--data",
        ])
        .arg(dir.join("data"))
        .arg("--tls-cert")
        .arg(dir.join("tls/server.pem"))
        .arg("--tls-key")
        .arg(dir.join("tls/server.key"))
        // Long enough that no held connection times out while a case runs.
        .args(["--max-connections", max_conns, "--header-timeout-s", "60"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let tls = meterdb_examples::tls::client_config(&dir.join("tls/ca.pem")).unwrap();
    (child, addr, tls, operator)
}

type ClientTls = std::sync::Arc<rustls::ClientConfig>;

/// The honest client over TLS, on a connection of its own (closed after the answer).
fn honest_tls(addr: SocketAddr, tls: &ClientTls, operator: &str) -> Result<(), String> {
    let c = meterdb_examples::client::Client::with_tls(&format!("https://{addr}"), Some(tls));
    let v: Value = c.get("/api/v1/dictionaries?version=0", operator)?;
    assert!(v.get("version").is_some(), "{v}");
    Ok(())
}

/// Malformed TLS and more connections than the cap, against a TLS server: each malformed
/// opening is closed without an answer in clear text; connections over the cap are closed
/// at once while those under it are held; the honest client is served after each case (and
/// while the cap is full, is either served or refused at once, never left hanging); the
/// server stays up; the failed handshakes and the refused connections are in the hash-chained
/// audit log.
#[test]
fn malformed_tls_and_the_connection_cap_are_refused_and_audited() {
    let dir = tmp("tls");
    std::fs::create_dir_all(&dir).unwrap();
    const CAP: usize = 8;
    let (child, addr, tls, operator) = setup_tls(&dir, &CAP.to_string());
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    honest_tls(addr, &tls, &operator).unwrap();

    let mut noise = vec![0u8; 1000];
    let mut x: u32 = 0x9e37_79b9;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let malformed: [(&str, Vec<u8>); 7] = [
        (
            "plain HTTP to the TLS port",
            b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "a record header announcing 64 KiB",
            vec![0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0, 0, 0],
        ),
        ("4 KiB of zeros", vec![0; 4096]),
        (
            "a ClientHello cut short",
            vec![
                0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x03, 0x03,
            ],
        ),
        (
            "an SSLv2 hello",
            vec![
                0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
            ],
        ),
        (
            "an alert before any hello",
            vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        ),
        ("random bytes", noise),
    ];
    for (name, bytes) in &malformed {
        let mut s = connect("127.0.0.1", addr);
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(!text.contains("HTTP/1.1"), "{name}: answered in clear text");
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "{name}: the server died"
        );
        honest_tls(addr, &tls, &operator).unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("malformed TLS, {name}: closed ok");
    }

    // The cap: CAP + 4 connections that say nothing. At most CAP are held (waiting for a
    // hello); the others are closed at once.
    let conns: Vec<TcpStream> = (0..CAP + 4).map(|_| connect("127.0.0.1", addr)).collect();
    let checks: Vec<_> = conns
        .iter()
        .map(|s| {
            let mut s = s.try_clone().unwrap();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                let mut b = [0u8; 16];
                match s.read(&mut b) {
                    // Closed by the server: refused.
                    Ok(0) => true,
                    Err(e) => {
                        e.kind() != std::io::ErrorKind::WouldBlock
                            && e.kind() != std::io::ErrorKind::TimedOut
                    }
                    Ok(_) => panic!("the server sent bytes to a silent connection"),
                }
            })
        })
        .collect();
    let refused = checks
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&r| r)
        .count();
    assert!(refused >= 4, "only {refused} of {} refused", CAP + 4);
    // While it is full, the honest client is refused at once or served; never left hanging
    // (its agent gives up after 10 s at most).
    let during = honest_tls(addr, &tls, &operator);
    eprintln!("the honest client while the cap is full: {during:?}");
    assert!(child.0.try_wait().unwrap().is_none(), "the server died");
    drop(conns);
    // Once they are closed, it is served again.
    let mut served = false;
    for _ in 0..100 {
        if honest_tls(addr, &tls, &operator).is_ok() {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        served,
        "the honest client was not served after the cap's connections closed"
    );

    // The audit log: the failed handshakes and the refusals, the chain intact.
    let log_has = |want: &str| {
        (0..100).any(|_| {
            let log = std::fs::read_to_string(dir.join("data/access.log")).unwrap_or_default();
            log.contains(want) || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        })
    };
    for want in [
        r#""event":"tls-handshake-failed""#,
        r#""event":"connection-refused""#,
        r#""limit":"connections""#,
    ] {
        assert!(log_has(want), "no {want} in the audit log");
    }
    let _ = child.0.kill();
    let _ = child.0.wait();
    let out = std::process::Command::new(common::PROVINCIAL)
        .args(["audit", "verify", "--data"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
