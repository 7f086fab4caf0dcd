//! The `/api/v1/` contract over HTTP, against an in-process platform: a device registers
//! with an enrollment code and uploads; the unit's information, configuration, upload
//! records and history answer; records outside the configuration are refused with the
//! reason; every endpoint knows who calls it (401 without a valid token, 403 for another
//! unit's data, and a line in the access log per request).

use std::path::PathBuf;
use std::sync::Arc;

mod common;

use common::{call, realtime};
use meterdb_examples::api::{standard_config, EnterpriseInfo, RegisterAnswer, UnitConfig};
use meterdb_examples::industry::{uscc_with_check, DataCode, Industry, Plant};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{parse_date, to_body, Record, STAT_DAY};
use meterdb_examples::server::serve;
use serde_json::{json, Value};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meterdb-v1-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn info(ent: &str, ind: Industry) -> EnterpriseInfo {
    EnterpriseInfo {
        enterprise_code: ent.into(),
        name: format!("plant {ent}"),
        region_code: "350100".into(),
        industry: ind.as_str().into(),
        industry_code: ind.classification().into(),
    }
}

#[test]
fn a_device_registers_uploads_and_reads_its_unit_back() {
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
    let ent = uscc_with_check("91350100MA2W10001").unwrap();
    let other = uscc_with_check("91350100MA2W10002").unwrap();
    let enroll = p
        .registry()
        .add_unit(
            info(&ent, Industry::Power),
            standard_config(Industry::Power, 7, 900_000),
        )
        .unwrap();
    p.registry()
        .add_unit(
            info(&other, Industry::Steel),
            standard_config(Industry::Steel, 7, 900_000),
        )
        .unwrap();
    let other_dev = p.registry().enroll_and_register(&other, "SN-O").unwrap();
    let operator = p.registry().add_credential("operator", "alice").unwrap();
    let running = serve(p.clone(), "127.0.0.1:0", 2).unwrap();
    let base = format!("http://{}", running.addr);
    let u = |path: &str| format!("{base}{path}");

    // (1) Registration: the enrollment code is the bearer token, used once.
    let reg = json!({"enterpriseCode": ent, "serial": "SN-1", "kind": "gateway"}).to_string();
    let (s, v) = call("POST", &u("/api/v1/devices"), None, Some(&reg));
    assert_eq!(s, 403, "{v}");
    let (s, v) = call("POST", &u("/api/v1/devices"), Some(&enroll), Some(&reg));
    assert_eq!(s, 200, "{v}");
    let dev: RegisterAnswer = serde_json::from_value(v).unwrap();
    assert!(dev.device_id.starts_with(&ent));
    let secret = dev.token.rsplit_once('.').unwrap().1;
    assert_eq!(secret.len(), 32, "128 bits in hex");
    let (s, v) = call("POST", &u("/api/v1/devices"), Some(&enroll), Some(&reg));
    assert_eq!(s, 401, "an enrollment code works once: {v}");
    assert!(v["error"].as_str().unwrap().contains("used already"));
    let unit_file =
        std::fs::read_to_string(dir.join(format!("registry/units/{ent}.json"))).unwrap();
    assert!(!unit_file.contains(secret), "the token is stored hashed");
    let tok = dev.token.as_str();

    // (2) Dictionaries, versioned.
    let (s, v) = call("GET", &u("/api/v1/dictionaries"), Some(tok), None);
    assert_eq!(s, 200);
    let ver = v["version"].as_u64().unwrap();
    assert!(v["energyTypes"].as_array().unwrap().len() > 5);
    assert_eq!(v["dataItemCode"]["length"], 16);
    let (_, v) = call(
        "GET",
        &u(&format!("/api/v1/dictionaries?version={ver}")),
        Some(tok),
        None,
    );
    assert_eq!(v["changed"], false);
    assert_eq!(call("GET", &u("/api/v1/dictionaries"), None, None).0, 401);

    // (3) The unit, with its device.
    let (s, v) = call("GET", &u(&format!("/api/v1/units/{ent}")), Some(tok), None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["enterprise"]["industryCode"], "D4411");
    assert_eq!(v["devices"][0]["deviceId"], dev.device_id.as_str());
    assert_eq!(v["devices"][0]["serial"], "SN-1");
    assert_eq!(
        call(
            "GET",
            &u(&format!("/api/v1/units/{other}")),
            Some(tok),
            None
        )
        .0,
        403
    );
    assert_eq!(
        call("GET", &u(&format!("/api/v1/units/{ent}")), None, None).0,
        403
    );
    assert_eq!(
        call(
            "GET",
            &u(&format!("/api/v1/units/{ent}")),
            Some("x.y"),
            None
        )
        .0,
        401
    );
    assert_eq!(
        call(
            "GET",
            &u("/api/v1/units/..%2F..%2Fetc"),
            Some(&operator),
            None
        )
        .0,
        400
    );

    // (5) The configuration, versioned.
    let (s, v) = call(
        "GET",
        &u(&format!("/api/v1/units/{ent}/config")),
        Some(tok),
        None,
    );
    assert_eq!(s, 200);
    let cfg: UnitConfig = serde_json::from_value(v).unwrap();
    assert_eq!((cfg.version, cfg.items.len(), cfg.changed), (1, 7, true));
    let (_, v) = call(
        "GET",
        &u(&format!("/api/v1/units/{ent}/config?version=1")),
        Some(tok),
        None,
    );
    assert_eq!(
        (v["changed"].as_bool(), v["items"].as_array().map(Vec::len)),
        (Some(false), Some(0))
    );

    // (4) Data: a day of real-time records and day statistics.
    let start = parse_date("2026-01-01").unwrap();
    let plant = Plant::new(Industry::Power, &ent, 5, 7, start, 900_000, 2);
    let recs = realtime(&plant, start, start + 2 * 86_400_000, 0);
    let (s, v) = call(
        "POST",
        &u("/api/v1/data"),
        Some(tok),
        Some(&to_body(&recs, meterdb_examples::upload::now_ms())),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["accepted"], recs.len());
    assert_eq!(v["rejectedCount"], 0);
    // Sent again: duplicates, nothing stored twice.
    let (_, v) = call(
        "POST",
        &u("/api/v1/data"),
        Some(tok),
        Some(&to_body(&recs, meterdb_examples::upload::now_ms())),
    );
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(recs.len() as u64))
    );
    // Records outside the configuration, of another unit, or malformed: refused, with why.
    let mut outside = recs[0].clone();
    let m0 = &plant.meters[0].code;
    outside.data_code = DataCode::new(m0.energy, m0.measure, 2, m0.seq()).text(); // unit 2: not configured
    outside.id = Some(1 << 20);
    let mut foreign = recs[1].clone();
    foreign.enterprise = other.clone();
    foreign.id = Some((1 << 20) + 1);
    let mut old = recs[2].clone();
    old.data_code = "3300100104".into(); // a 10-digit code of before
    old.id = Some((1 << 20) + 2);
    let (s, v) = call(
        "POST",
        &u("/api/v1/data"),
        Some(tok),
        Some(&to_body(
            &[outside.clone(), foreign, old],
            meterdb_examples::upload::now_ms(),
        )),
    );
    assert_eq!(s, 200);
    assert_eq!(v["accepted"], 0);
    let rej = v["rejected"].as_array().unwrap();
    assert_eq!(rej.len(), 3);
    assert_eq!(rej[0]["field"], "dataCode");
    let why = rej[0]["reason"].as_str().unwrap();
    assert!(
        why.contains("not in the collection configuration") && why.contains("version 1"),
        "{why}"
    );
    assert_eq!(rej[1]["field"], "enterpriseCode");
    assert_eq!(rej[2]["field"], "dataCode");
    assert!(rej[2]["reason"].as_str().unwrap().contains("16"));
    // Another unit's device, an operator, nobody: refused before the body counts.
    assert_eq!(
        call(
            "POST",
            &u("/api/v1/data"),
            Some(&other_dev.token),
            Some(&to_body(&recs[..1], meterdb_examples::upload::now_ms()))
        )
        .1["rejected"][0]["field"],
        "enterpriseCode"
    );
    assert_eq!(
        call("POST", &u("/api/v1/data"), Some(&operator), Some("[]")).0,
        403
    );
    assert_eq!(call("POST", &u("/api/v1/data"), None, Some("[]")).0, 403);
    assert_eq!(
        call("POST", &u("/api/v1/data"), Some(tok), Some("{\"a\":1}")).0,
        400
    );

    // (6) What the platform received, per request.
    let (s, v) = call(
        "GET",
        &u(&format!(
            "/api/v1/units/{ent}/uploads?from=2025-01-01&to=2030-01-01"
        )),
        Some(tok),
        None,
    );
    assert_eq!(s, 200, "{v}");
    let ups = v["uploads"].as_array().unwrap();
    assert_eq!(ups.len(), 3, "{v}");
    assert_eq!(ups[0]["accepted"], recs.len());
    assert_eq!(ups[0]["device"], dev.device_id.as_str());
    assert_eq!(ups[1]["duplicates"], recs.len());
    assert_eq!(ups[2]["rejected"], 3);
    assert_eq!(
        call(
            "GET",
            &u(&format!("/api/v1/units/{ent}/uploads?from=2020-01-01")),
            Some(tok),
            None
        )
        .0,
        400
    );

    // History from the tiers, at every granularity.
    let hist = |g: &str, from: &str, to: &str| {
        call(
            "GET",
            &u(&format!("/api/v1/history?enterpriseCode={ent}&dataCode={}&granularity={g}&from={from}&to={to}", plant.meters[1].code.text())),
            Some(tok),
            None,
        )
    };
    let (s, v) = hist("day", "2026-01-01", "2026-01-03");
    assert_eq!(s, 200, "{v}");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let db = p.db().unwrap();
    let id = db
        .point_id(&format!("{ent}/{}", plant.meters[1].code.text()))
        .unwrap();
    let want = db
        .rollup(id, meterdb::Tier::Day, start, start + 2 * 86_400_000)
        .unwrap();
    for (r, w) in rows.iter().zip(&want) {
        assert_eq!(r["consumption"].as_f64(), w.consumption);
        assert_eq!(r["count"].as_u64(), Some(w.bucket.count));
        assert_eq!(r["completeness"].as_f64(), w.completeness);
        assert_eq!(r["invalid"], 0);
        assert_eq!(r["backward"].as_u64(), Some(w.bucket.backward));
    }
    assert_eq!(rows[0]["start"], "2026-01-01 00:00:00");
    assert_eq!(
        rows[0]["completeness"].as_f64(),
        Some(1.0),
        "interval from the configuration"
    );
    let (s, v) = hist("hour", "2026-01-01", "2026-01-02");
    assert_eq!((s, v["rows"].as_array().map(Vec::len)), (200, Some(24)));
    // Minute buckets of a register: one per reading (every 15 minutes), and the minutes in
    // between with their share of the consumption (count 0).
    let (s, v) = hist("minute", "2026-01-01%2000:00:00", "2026-01-01%2001:00:00");
    assert_eq!(s, 200);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.iter().filter(|r| r["count"] == 1).count(), 4);
    assert!(rows.iter().all(|r| r["consumption"].as_f64().is_some()));
    assert_eq!(hist("month", "2026-01-01", "2026-02-01").0, 200);
    assert_eq!(hist("year", "2026-01-01", "2027-01-01").0, 200);
    assert_eq!(hist("week", "2026-01-01", "2026-01-03").0, 400);
    assert_eq!(
        hist("minute", "2026-01-01", "2027-01-01").0,
        400,
        "too many buckets"
    );
    assert_eq!(hist("day", "2026-01-03", "2026-01-01").0, 400);
    let (s, _) = call(
        "GET",
        &u(&format!("/api/v1/history?enterpriseCode={ent}&dataCode={}&granularity=day&from=2026-01-01&to=2026-01-03", plant.meters[1].code.text())),
        Some(&other_dev.token),
        None,
    );
    assert_eq!(s, 403, "another unit's device reads nothing of this one");

    // Day statistics and the operator's views.
    let stat = Record {
        stat_type: STAT_DAY,
        id: None,
        revision: Some(1),
        value: 42.0,
        ..recs[0].clone()
    };
    let (_, v) = call(
        "POST",
        &u("/api/v1/data"),
        Some(tok),
        Some(&to_body(&[stat], meterdb_examples::upload::now_ms())),
    );
    assert_eq!(v["accepted"], 1);
    let (s, v) = call(
        "GET",
        &u(&format!(
            "/api/v1/units/{ent}/daily?from=2026-01-01&to=2026-01-03"
        )),
        Some(&operator),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["days"].as_array().unwrap().len(), 2);
    assert!(v["days"][0]["kgce"].as_f64().unwrap() > 0.0);
    let (s, v) = call(
        "GET",
        &u("/api/v1/ranking?from=2026-01-01&to=2026-01-03"),
        Some(&operator),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(v["ranking"][0]["enterpriseCode"], ent.as_str());
    assert_eq!(
        call(
            "GET",
            &u("/api/v1/ranking?from=2026-01-01&to=2026-01-03"),
            Some(tok),
            None
        )
        .0,
        403
    );
    let (s, v) = call("GET", &u("/api/v1/units"), Some(&operator), None);
    assert_eq!((s, v["units"].as_array().map(Vec::len)), (200, Some(2)));
    assert_eq!(call("GET", &u("/api/v1/health"), None, None).0, 200);
    assert_eq!(
        call("GET", &u("/api/upload"), None, None).0,
        404,
        "the old paths are gone"
    );
    // Over the body limit of a small endpoint: 413, logged.
    let big = "x".repeat(20_000);
    assert_eq!(
        call("POST", &u("/api/v1/devices"), Some(&enroll), Some(&big)).0,
        401
    );
    let e2 = p.registry().issue_enrollment(&ent).unwrap();
    assert_eq!(
        call("POST", &u("/api/v1/devices"), Some(&e2), Some(&big)).0,
        413
    );

    running.stop();
    // Every request is in the access log, with who called and the query.
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 40, "{} lines", lines.len());
    assert!(lines.iter().any(|l| l["status"] == 413));
    assert!(lines
        .iter()
        .any(|l| l["status"] == 401 && l["who"].as_str().unwrap().ends_with('?')));
    assert!(lines.iter().any(|l| l["who"] == dev.device_id.as_str()
        && l["query"]
            .as_str()
            .is_some_and(|q| q.contains("granularity"))));
    assert!(lines.iter().any(|l| l["who"] == "operator-alice"));
    let _ = std::fs::remove_dir_all(&dir);
}
