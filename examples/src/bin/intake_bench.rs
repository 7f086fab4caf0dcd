//! The provincial platform's intake in records/s, with and without storing, in one process.
//!
//! ```text
//! cargo run --release -p meterdb-examples --bin intake-bench -- [--units 20] [--requests 400]
//!     [--records 500] [--runs 5] [--threads 2] [--dir /tmp/intake-bench]
//! ```
//!
//! The same HTTP requests (batches of `--records` records: 95% real-time samples, 4% day
//! statistics, 1% malformed, from `--units` simulated units) are sent to an in-process
//! server (a) storing into MeterDB and (b) with `--no-store` (parsed and checked, access log
//! written, nothing stored), and (c) handed to the request handler directly, storing, without
//! HTTP, and (d, e) as (a, b) over HTTPS (rustls with ring, a CA made for the run, the
//! server's certificate and key read from files; one kept-alive connection per client
//! thread). The modes alternate, `--runs` times each; medians are printed with their ratios:
//! storing against not storing near 1 means HTTP and JSON limit the intake, not MeterDB;
//! HTTPS against HTTP is what TLS costs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::industry::{uscc_with_check, Industry, Plant};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{parse_date, Record, STAT_DAY, STAT_REALTIME};
use meterdb_examples::server::{serve, serve_with, ServeOptions};
use meterdb_examples::tls::{self, DevCa};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{name}: {v:?} is not a number");
                std::process::exit(64)
            })
        })
        .unwrap_or(default)
}

/// Per unit: its code, industry and request bodies, in order.
fn workload(units: usize, requests: usize, per: usize) -> Vec<(String, Industry, Vec<String>)> {
    let start = parse_date("2026-01-01").unwrap_or(0);
    let per_unit = requests.div_ceil(units);
    (0..units)
        .map(|u| {
            let ent = uscc_with_check(&format!("9135010{u:010}")).expect("digits are valid");
            let ind = [Industry::Power, Industry::Steel, Industry::Petrochemical][u % 3];
            let plant = Plant::new(ind, &ent, u as u64, 14, start, 60_000, 30);
            let n_rt = per * 95 / 100;
            let n_day = per * 4 / 100;
            let n_bad = per - n_rt - n_day;
            let mut id = 0u64;
            let mut tick = start;
            let mut day = start;
            let mut bodies = Vec::with_capacity(per_unit);
            for _ in 0..per_unit {
                let mut recs = Vec::with_capacity(per);
                'fill: loop {
                    for m in &plant.meters {
                        if recs.len() == n_rt {
                            break 'fill;
                        }
                        if let Some(v) = m.value(start, 60_000, tick) {
                            id += 1;
                            recs.push(Record {
                                enterprise: ent.clone(),
                                data_code: m.code.text(),
                                value: v,
                                input_type: 1,
                                stat_type: STAT_REALTIME,
                                stat_ts: tick,
                                valid: true,
                                id: Some(id),
                                revision: None,
                                corrected: false,
                            });
                        }
                    }
                    tick += 60_000;
                }
                for i in 0..n_day {
                    let m = &plant.meters[i % plant.meters.len()];
                    recs.push(Record {
                        enterprise: ent.clone(),
                        data_code: m.code.text(),
                        value: 1000.0 + i as f64,
                        input_type: 1,
                        stat_type: STAT_DAY,
                        stat_ts: day,
                        valid: true,
                        id: None,
                        revision: None,
                        corrected: false,
                    });
                }
                day += 86_400_000;
                let mut body: Vec<serde_json::Value> = recs
                    .iter()
                    .map(|r| r.to_json(meterdb_examples::upload::now_ms()))
                    .collect();
                for (i, r) in recs.iter().take(n_bad).enumerate() {
                    let mut v = r.to_json(meterdb_examples::upload::now_ms());
                    match i % 3 {
                        0 => v["dataValue"] = "n/a".into(),
                        1 => v["statDate"] = "2026-13-01 00:00:00".into(),
                        _ => v["dataCode"] = "7777400150020001".into(),
                    }
                    v.as_object_mut().map(|o| o.remove("id"));
                    body.push(v);
                }
                bodies.push(serde_json::Value::Array(body).to_string());
            }
            (ent, ind, bodies)
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Http,
    HttpNoStore,
    Handler,
    /// HTTPS (rustls, ring; a CA made for the run), storing.
    Https,
    /// HTTPS, not storing.
    HttpsNoStore,
}

impl Mode {
    fn tls(self) -> bool {
        matches!(self, Mode::Https | Mode::HttpsNoStore)
    }
}

fn run(
    mode: Mode,
    dir: &Path,
    work: &Arc<Vec<(String, Industry, Vec<String>)>>,
    threads: usize,
) -> Result<(f64, f64, u64), String> {
    let _ = std::fs::remove_dir_all(dir);
    let p = Arc::new(Platform::open(&Config {
        data: dir.to_path_buf(),
        role: Role::Provincial,
        no_store: matches!(mode, Mode::HttpNoStore | Mode::HttpsNoStore),
        outbound: None,
    })?);
    // Every unit registered with its configuration, and one device of each.
    let mut tokens = std::collections::HashMap::new();
    for (ent, ind, _) in work.iter() {
        let info = EnterpriseInfo {
            enterprise_code: ent.clone(),
            name: format!("unit {ent}"),
            region_code: "350100".into(),
            industry: ind.as_str().into(),
            industry_code: ind.classification().into(),
        };
        p.registry()
            .add_unit(info, standard_config(*ind, 14, 60_000))?;
        let a = p.registry().enroll_and_register(ent, "BENCH")?;
        tokens.insert(ent.clone(), a.token);
    }
    let tokens = Arc::new(tokens);
    // TLS: a throw-away CA, the server's certificate and key from files, as in production.
    let client_tls = if mode.tls() {
        let d = dir.join("tls");
        DevCa::generate(&["127.0.0.1".into()])?.write(&d)?;
        Some((
            tls::server_config(&d.join("server.pem"), &d.join("server.key"))?,
            tls::client_config(&d.join("ca.pem"))?,
        ))
    } else {
        None
    };
    let server = match (&client_tls, mode) {
        (_, Mode::Handler) => None,
        (Some((s, _)), _) => Some(serve_with(
            p.clone(),
            &ServeOptions::tls("127.0.0.1:0", threads, s.clone()),
        )?),
        (None, _) => Some(serve(p.clone(), "127.0.0.1:0", threads)?),
    };
    let scheme = if mode.tls() { "https" } else { "http" };
    let url = server
        .as_ref()
        .map(|s| format!("{scheme}://127.0.0.1:{}/api/v1/data", s.addr.port()));
    let client_tls = client_tls.map(|(_, c)| c);
    let t0 = Instant::now();
    let c0 = cpu_secs();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (work, url, p, tokens) = (work.clone(), url.clone(), p.clone(), tokens.clone());
            let ctls = client_tls.clone();
            std::thread::spawn(move || -> Result<(u64, u64), String> {
                // One agent a thread: its connection (and TLS session) is kept alive.
                let agent = tls::agent(
                    ctls.as_ref(),
                    std::time::Duration::from_secs(5),
                    std::time::Duration::from_secs(120),
                );
                let (mut records, mut accepted) = (0u64, 0u64);
                for (ent, _, bodies) in work.iter().skip(t).step_by(threads) {
                    let token = &tokens[ent];
                    let caller = p
                        .authenticate(Some(&format!("Bearer {token}")))
                        .map_err(|e| e.message)?;
                    for b in bodies {
                        let v: serde_json::Value = match &url {
                            Some(u) => {
                                let r = agent
                                    .post(u)
                                    .set("Authorization", &format!("Bearer {token}"))
                                    .send_string(b)
                                    .map_err(|e| e.to_string())?;
                                serde_json::from_str(&r.into_string().map_err(|e| e.to_string())?)
                                    .map_err(|e| e.to_string())?
                            }
                            None => p.ingest(&caller, b.as_bytes()).map_err(|e| e.message)?.0,
                        };
                        accepted += v["accepted"].as_u64().unwrap_or(0);
                        records += v["accepted"].as_u64().unwrap_or(0)
                            + v["rejectedCount"].as_u64().unwrap_or(0);
                    }
                }
                Ok((records, accepted))
            })
        })
        .collect();
    let (mut records, mut accepted) = (0, 0);
    for h in handles {
        let (r, a) = h
            .join()
            .map_err(|_| "client thread panicked".to_string())??;
        records += r;
        accepted += a;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - c0;
    if let Some(s) = server {
        s.stop();
    }
    Ok((records as f64 / secs, cpu * 1e6 / records as f64, accepted))
}

/// CPU time of this process (every thread: clients and server) in seconds, from
/// /proc/self/stat (utime + stime, at the usual 100 ticks per second).
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = s.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let units = arg(&args, "--units", 20).max(1);
    let requests = arg(&args, "--requests", 400).max(1);
    let per = arg(&args, "--records", 500).max(100);
    let runs = arg(&args, "--runs", 5).max(1);
    let threads = arg(&args, "--threads", 2).max(1);
    let dir: PathBuf = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("meterdb-intake-bench"));
    let work = Arc::new(workload(units, requests, per));
    let total: usize = work.iter().map(|w| w.2.len()).sum::<usize>() * per;
    println!(
        "{units} units, {} requests of {per} records (95% real-time, 4% day, 1% malformed), {threads} client and server threads",
        work.iter().map(|w| w.2.len()).sum::<usize>()
    );
    let modes = [
        Mode::Http,
        Mode::HttpNoStore,
        Mode::Handler,
        Mode::Https,
        Mode::HttpsNoStore,
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for r in 0..runs {
        for (i, &m) in modes.iter().enumerate() {
            match run(m, &dir.join(format!("{m:?}")), &work, threads) {
                Ok((rate, cpu, accepted)) => {
                    println!(
                        "run {r} {m:?}: {rate:.0} records/s, {cpu:.2} us CPU/record ({accepted} of {total} accepted)"
                    );
                    rates[i].push(rate);
                    cpus[i].push(cpu);
                }
                Err(e) => {
                    eprintln!("intake-bench: {m:?}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    let med: Vec<f64> = rates.iter_mut().map(|v| median(v)).collect();
    let cpu: Vec<f64> = cpus.iter_mut().map(|v| median(v)).collect();
    println!("medians over {runs} runs:            records/s   CPU us/record (clients + server)");
    println!(
        "  HTTP, storing in MeterDB     {:>10.0}   {:>6.2}",
        med[0], cpu[0]
    );
    println!(
        "  HTTP, --no-store             {:>10.0}   {:>6.2}",
        med[1], cpu[1]
    );
    println!(
        "  handler only, storing        {:>10.0}   {:>6.2}",
        med[2], cpu[2]
    );
    println!(
        "  HTTPS (TLS), storing         {:>10.0}   {:>6.2}",
        med[3], cpu[3]
    );
    println!(
        "  HTTPS (TLS), --no-store      {:>10.0}   {:>6.2}",
        med[4], cpu[4]
    );
    println!(
        "ratio HTTPS / HTTP: storing {:.2}, not storing {:.2} in records/s; CPU per record {:.2} and {:.2}",
        med[3] / med[0],
        med[4] / med[1],
        cpu[3] / cpu[0],
        cpu[4] / cpu[1]
    );
    println!(
        "ratio storing / not storing over HTTP: {:.2} in records/s, {:.2} in CPU per record",
        med[0] / med[1],
        cpu[0] / cpu[1]
    );
    println!(
        "(records/s near 1.0: HTTP and JSON limit the intake; both modes fsync the access log \
         per request, storing also the WAL)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
