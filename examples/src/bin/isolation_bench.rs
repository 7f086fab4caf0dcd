//! The isolation path's rate: a gateway's backlog of one day of a 500-point unit (1-minute
//! collection: 720,000 samples) sealed into a bundle by the sending side, moved, and
//! verified and imported by the platform's receiving side, in one process.
//!
//! ```text
//! isolation-bench [--points 500] [--minutes 1440] [--runs 1]
//! ```

use std::time::Instant;

use clap::Parser;
use meterdb::{Db, Options, WriteBatch};
use meterdb_examples::api::{catalog_update, standard_config, EnterpriseInfo, UnitConfig};
use meterdb_examples::industry::{uscc_with_check, Industry, Plant};
use meterdb_examples::isolation::{Key, Received, Receiver, Sender};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::parse_date;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 500)]
    points: usize,
    #[arg(long, default_value_t = 1440)]
    minutes: i64,
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(a: &Args, run: usize) -> Res<()> {
    let dir = std::env::temp_dir().join(format!("meterdb-iso-bench-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ent = uscc_with_check("91350100MA2BENCH0")?;
    let items = standard_config(Industry::Power, a.points, 60_000);
    let p = Platform::open(&Config {
        data: dir.join("prov"),
        role: Role::Provincial,
        no_store: false,
        outbound: None,
    })?;
    p.registry().add_unit(
        EnterpriseInfo {
            enterprise_code: ent.clone(),
            name: "bench".into(),
            region_code: "350100".into(),
            industry: "power".into(),
            industry_code: Industry::Power.classification().into(),
        },
        items.clone(),
    )?;
    let unit = p.registry().unit(&ent)?.ok_or("unit")?;
    let gw = Db::open(dir.join("gw"), Options::default())?;
    let cfg = UnitConfig {
        enterprise_code: ent.clone(),
        version: unit.config_version(),
        changed: true,
        items,
    };
    gw.apply_unit_catalog(&catalog_update(0, &cfg, &unit.info(), "GW", "SN")?)?;
    let start = parse_date("2026-01-01")?;
    let plant = Plant::new(Industry::Power, &ent, 1, a.points, start, 60_000, 10);
    let ids: Vec<_> = plant
        .meters
        .iter()
        .map(|m| gw.point_id(&m.code.text()).ok_or("point"))
        .collect::<Result<_, _>>()?;
    let mut samples = 0u64;
    let mut b = WriteBatch::with_capacity(a.points);
    for m in 0..a.minutes {
        let ts = start + m * 60_000;
        b.clear();
        for (meter, &id) in plant.meters.iter().zip(&ids) {
            if let Some(v) = meter.value(start, 60_000, ts) {
                b.put(id, ts, v);
            }
        }
        gw.write(&b)?;
        samples += b.len() as u64;
    }
    let key = Key::from_bytes(&[0x5a; 32])?;
    let (out, inbound, acks_out, acks_in) = (
        dir.join("out"),
        dir.join("in"),
        dir.join("acks-out"),
        dir.join("acks-in"),
    );
    let mut sender = Sender::open(&gw, &ent, &out, &acks_in, key.clone())?;
    let receiver = Receiver::new(&p, &ent, &inbound, &acks_out, key)?;
    let t0 = Instant::now();
    let name = sender.export(&gw)?.ok_or("nothing exported")?;
    let t_export = t0.elapsed();
    let bytes = std::fs::metadata(out.join(&name))?.len();
    std::fs::rename(out.join(&name), inbound.join(&name))?;
    let t1 = Instant::now();
    let r = receiver.poll(&p)?;
    let t_import = t1.elapsed();
    let imported: u64 = r
        .iter()
        .map(|x| match x {
            Received::Imported { samples, .. } => *samples,
            _ => 0,
        })
        .sum();
    for f in std::fs::read_dir(&acks_out)? {
        let f = f?;
        std::fs::rename(f.path(), acks_in.join(f.file_name()))?;
    }
    let st = sender.step(&gw)?;
    let total = t0.elapsed();
    println!(
        "run {run}: {samples} samples of {} points; bundle {:.1} MiB; seal and write {:.2} s, \
         verify and import {:.2} s ({:.0} samples/s), total with the acknowledgement {:.2} s; \
         imported {imported}, drained {}",
        a.points,
        bytes as f64 / (1 << 20) as f64,
        t_export.as_secs_f64(),
        t_import.as_secs_f64(),
        imported as f64 / t_import.as_secs_f64(),
        total.as_secs_f64(),
        st.drained()
    );
    drop(p);
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    let a = Args::parse();
    for r in 0..a.runs {
        if let Err(e) = run(&a, r) {
            eprintln!("isolation-bench: {e}");
            std::process::exit(1);
        }
    }
}
