//! The front-end's delivery rate: the time a backlog of one day of a 500-point unit (1-minute
//! collection: 720,000 real-time records, and its 500 day statistics) takes to drain from
//! the provincial platform to the national one, both served over HTTP on loopback in this
//! process, the front-end's loop on a thread of its own.
//!
//! ```text
//! frontend-bench [--points 500] [--minutes 1440] [--batch 5000] [--runs 1]
//! ```

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::frontend::{self, FrontendConfig};
use meterdb_examples::industry::{uscc_with_check, Industry};
use meterdb_examples::outbound::OutboundConfig;
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{parse_date, to_body, Record, STAT_DAY, STAT_REALTIME};
use meterdb_examples::registry::Registry;
use meterdb_examples::server::serve;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 500)]
    points: usize,
    #[arg(long, default_value_t = 1440)]
    minutes: i64,
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

fn main() {
    let a = Args::parse();
    for run in 0..a.runs {
        let dir =
            std::env::temp_dir().join(format!("meterdb-fe-bench-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (dp, dn) = (dir.join("prov"), dir.join("nat"));
        let ent = uscc_with_check("91350100MA2BENCH0").unwrap();
        let items = standard_config(Industry::Power, a.points, 60_000);
        let reg = Registry::open(&dp).unwrap();
        reg.add_unit(
            EnterpriseInfo {
                enterprise_code: ent.clone(),
                name: "bench".into(),
                region_code: "350100".into(),
                industry: "power".into(),
                industry_code: Industry::Power.classification().into(),
            },
            items.clone(),
        )
        .unwrap();
        let device = reg.enroll_and_register(&ent, "SN-B").unwrap().token;
        let fe_token = reg.add_credential("frontend", "fe1").unwrap();
        let nat_token = Registry::open(&dn)
            .unwrap()
            .add_credential("national", "PROVINCE35")
            .unwrap();
        let prov = Arc::new(
            Platform::open(&Config {
                data: dp.clone(),
                role: Role::Provincial,
                no_store: false,
                outbound: Some(OutboundConfig { cap_bytes: 4 << 30 }),
            })
            .unwrap(),
        );
        let caller = prov
            .authenticate(Some(&format!("Bearer {device}")))
            .unwrap();
        // The backlog: one day, written while no front-end runs.
        let t0 = parse_date("2026-01-01").unwrap();
        let (mut id, mut recs, mut total) = (0u64, Vec::with_capacity(5000), 0u64);
        let t = Instant::now();
        for m in 0..a.minutes {
            for (p, it) in items.iter().enumerate() {
                id += 1;
                recs.push(Record {
                    enterprise: ent.clone(),
                    data_code: it.data_code.clone(),
                    value: (m * (p as i64 + 1)) as f64 * 0.25,
                    input_type: 1,
                    stat_type: STAT_REALTIME,
                    stat_ts: t0 + m * 60_000,
                    valid: true,
                    id: Some(id),
                    revision: None,
                    corrected: false,
                });
                if recs.len() == 5000 {
                    prov.ingest(
                        &caller,
                        to_body(&recs, meterdb_examples::upload::now_ms()).as_bytes(),
                    )
                    .unwrap();
                    total += recs.len() as u64;
                    recs.clear();
                }
            }
        }
        for (p, it) in items.iter().enumerate() {
            recs.push(Record {
                enterprise: ent.clone(),
                data_code: it.data_code.clone(),
                value: p as f64,
                input_type: 1,
                stat_type: STAT_DAY,
                stat_ts: t0,
                valid: true,
                id: None,
                revision: Some(1),
                corrected: false,
            });
        }
        prov.ingest(
            &caller,
            to_body(&recs, meterdb_examples::upload::now_ms()).as_bytes(),
        )
        .unwrap();
        total += recs.len() as u64;
        let intake = t.elapsed();
        let h = prov.health()["national"].clone();
        let nat = Arc::new(
            Platform::open(&Config {
                data: dn.clone(),
                role: Role::National,
                no_store: false,
                outbound: None,
            })
            .unwrap(),
        );
        let nat_run = serve(nat, "127.0.0.1:0", 2).unwrap();
        let prov_run = serve(prov.clone(), "127.0.0.1:0", 2).unwrap();
        let mut fe = FrontendConfig::new(
            &format!("http://{}", prov_run.addr),
            &fe_token,
            &format!("http://{}", nat_run.addr),
            &nat_token,
        );
        fe.batch = a.batch;
        let t = Instant::now();
        let st = frontend::run(&fe, &AtomicBool::new(false), true, &mut |l| {
            eprintln!("{l}")
        });
        let drain = t.elapsed().as_secs_f64();
        assert_eq!(st.delivered, total, "{st:?}");
        println!(
            "run {run}: backlog {total} records ({} points x {} minutes + {} day statistics; WAL {} MiB), \
             written in {:.1} s; drained in {drain:.1} s: {:.0} records/s ({} batches, {} failures)",
            a.points,
            a.minutes,
            a.points,
            h["walBytes"].as_u64().unwrap_or(0) >> 20,
            intake.as_secs_f64(),
            total as f64 / drain,
            st.batches,
            st.national_failures + st.platform_failures,
        );
        prov_run.stop();
        nat_run.stop();
        drop(prov);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
