//! Industry indicators over HTTP (`GET /api/v1/units/{code}/indicators`): a simulated unit
//! of every sub-scope uploads two days of readings, and the platform's indicators (from its
//! day tier) equal what this test computes from the simulated meters' readings at the day
//! boundaries; a thermal power plant's supply coal rate is worked out by hand.

mod common;

use std::sync::Arc;

use common::{call, realtime};
use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::industry::{
    uscc_with_check, IndicatorDef, Measure, Plant, Quantity, Term, INDUSTRIES,
};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{parse_date, to_body};
use meterdb_examples::server::serve;
use serde_json::Value;

const INTERVAL: i64 = 900_000;
const DAY: i64 = 86_400_000;

/// A register's increase over `[a, b)` from the readings at `a` and `b` (both must exist).
fn increase(p: &Plant, seq: u16, a: i64, b: i64) -> Option<f64> {
    let m = p.meters.iter().find(|m| m.code.seq() == seq)?;
    Some(m.value(p.start, p.interval_ms, b)? - m.value(p.start, p.interval_ms, a)?)
}

/// Σ of `terms` over day `[a, a + DAY)`, from the readings.
fn side(p: &Plant, terms: &[Term], a: i64) -> Option<f64> {
    let mut s = 0.0;
    for t in terms {
        let m = p.meters.iter().find(|m| m.code.seq() == t.seq)?;
        let q = increase(p, t.seq, a, a + DAY)?;
        s += t.factor
            * match t.quantity {
                Quantity::Amount => q,
                Quantity::Kgce => q * m.code.energy.kgce_per_unit,
            };
    }
    Some(s)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_sub_scope_has_its_indicators_from_the_day_tier() {
    let dir = tempfile::tempdir().unwrap();
    let p = Arc::new(
        Platform::open(&Config {
            data: dir.path().join("prov"),
            role: Role::Provincial,
            no_store: false,
            outbound: None,
        })
        .unwrap(),
    );
    let running = serve(p.clone(), "127.0.0.1:0", 2).unwrap();
    let base = format!("http://{}", running.addr);
    let op = p.registry().add_credential("operator", "alice").unwrap();
    let start = parse_date("2026-03-01").unwrap();
    let mut devices = Vec::new();
    for (n, ind) in INDUSTRIES.iter().enumerate() {
        let ent = uscc_with_check(&format!("91350100MA2PX00{n:02}")).unwrap();
        let info = EnterpriseInfo {
            enterprise_code: ent.clone(),
            name: ind.scope_name().into(),
            region_code: "350100".into(),
            industry: ind.as_str().into(),
            industry_code: ind.classification().into(),
        };
        let items = standard_config(*ind, ind.points_per_unit(), INTERVAL);
        p.registry().add_unit(info, items).unwrap();
        let dev = p.registry().enroll_and_register(&ent, "SIM").unwrap();
        // Ten days, so that the register replaced 40% of the way through is replaced after
        // the two days uploaded; the readings at 2026-03-03 00:00 close the second day.
        let plant = Plant::new(
            *ind,
            &ent,
            11 + n as u64,
            ind.points_per_unit(),
            start,
            INTERVAL,
            10,
        );
        let recs = realtime(&plant, start, start + 2 * DAY + INTERVAL, 0);
        let (st, v) = call(
            "POST",
            &format!("{base}/api/v1/data"),
            Some(&dev.token),
            Some(&to_body(&recs, meterdb_examples::upload::now_ms())),
        );
        assert_eq!((st, v["rejectedCount"].as_u64()), (200, Some(0)), "{v}");
        devices.push((ind, ent, plant, dev.token));
    }

    let url = |ent: &str, q: &str| format!("{base}/api/v1/units/{ent}/indicators{q}");
    let range = "?from=2026-03-01&to=2026-03-03";
    let mut checked_days = 0;
    for (ind, ent, plant, _) in &devices {
        let (st, v) = call("GET", &url(ent, range), Some(&op), None);
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["scope"], ind.as_str());
        assert_eq!(v["industry"], ind.sector());
        let got = v["indicators"].as_array().unwrap();
        assert_eq!(got.len(), ind.indicators().len(), "{v}");
        for (def, g) in ind.indicators().iter().zip(got) {
            let IndicatorDef {
                code,
                numerator,
                denominator,
                ..
            } = def;
            assert_eq!(g["code"], *code);
            assert_eq!(g["missingSeqs"], Value::Array(vec![]), "{g}");
            let days = g["days"].as_array().unwrap();
            assert_eq!(days.len(), 2, "{g}");
            let (mut num, mut den, mut whole) = (0.0, 0.0, true);
            for (i, d) in days.iter().enumerate() {
                let a = start + i as i64 * DAY;
                // A register without a reading at a boundary (a gap) is interpolated by the
                // engine: those days are not checked against the readings.
                match (side(plant, numerator, a), side(plant, denominator, a)) {
                    (Some(n), Some(dn)) => {
                        let value = d["value"].as_f64().unwrap();
                        assert!(
                            close(value, n / dn),
                            "{} {code} day {i}: {value} vs {}",
                            ind.as_str(),
                            n / dn
                        );
                        num += n;
                        den += dn;
                        checked_days += 1;
                    }
                    _ => whole = false,
                }
            }
            let value = g["value"].as_f64().unwrap();
            assert!(value.is_finite() && value != 0.0, "{g}");
            eprintln!("{:<20} {code:<28} {value:10.2} {}", ind.as_str(), def.unit);
            if whole {
                assert!(
                    close(value, num / den),
                    "{} {code}: {value} vs {}",
                    ind.as_str(),
                    num / den
                );
            }
        }
    }
    assert!(checked_days >= 2 * 9, "{checked_days} days checked");

    // The thermal power plant by hand: standard coal (coal feed x 714.3 kgce/t, in grams)
    // per kWh supplied (generator output less auxiliary power), over both days.
    let (_, ent, plant, token) = &devices[0];
    assert_eq!(plant.meters[0].code.measure, Measure::Production);
    let r = |seq: u16| increase(plant, seq, start, start + 2 * DAY).unwrap();
    let want = r(3) * 714.3 * 1000.0 / (r(1) - r(2));
    let (_, v) = call("GET", &url(ent, range), Some(&op), None);
    let got = v["indicators"][0]["value"].as_f64().unwrap();
    assert_eq!(v["indicators"][0]["unit"], "gce/kWh");
    assert!(close(got, want), "{got} vs {want}");
    assert!((200.0..500.0).contains(&got), "{got} gce/kWh");
    let aux = v["indicators"][1]["value"].as_f64().unwrap();
    assert!(close(aux, 100.0 * r(2) / r(1)), "{aux}");
    // The device of the unit reads it too; another unit's device may not, nor anyone
    // without a token (as for the other unit endpoints).
    assert_eq!(call("GET", &url(ent, range), Some(token), None).0, 200);
    let (st, v) = call("GET", &url(ent, range), Some(&devices[1].3), None);
    assert_eq!(st, 403, "{v}");
    let (st, v) = call("GET", &url(ent, range), None, None);
    assert!(
        st == 403 && v["error"].as_str().unwrap().contains("may not read"),
        "{v}"
    );
    assert_eq!(call("GET", &url(ent, range), Some("x.y"), None).0, 401);
    // Bad input gets a clear answer.
    let (st, v) = call(
        "GET",
        &url(ent, "?from=2026-03-03&to=2026-03-01"),
        Some(&op),
        None,
    );
    assert_eq!(st, 400, "{v}");
    let (st, v) = call(
        "GET",
        &url(ent, "?from=yesterday&to=2026-03-01"),
        Some(&op),
        None,
    );
    assert!(
        st == 400 && v["error"].as_str().unwrap().contains("from"),
        "{v}"
    );
    let (st, _) = call("GET", &url("91350100MA2PX0099", range), Some(&op), None);
    assert_eq!(st, 400);
    running.stop();
}
