//! The gateway's peak RSS with 2,000 points collected every minute for a simulated week,
//! uploading to an in-process receiver (which checks the records and stores nothing).
//!
//! ```text
//! cargo build --release -p meterdb-examples
//! target/release/rss-bench [--runs 3] [--points 2000] [--days 7] [--memtable-mib 4] [--batch 5000]
//!     [--keep-days 0] [--dir DIR]
//! ```
//!
//! Runs the `gateway` binary next to this one (`--speed max --rss-report`) `--runs` times,
//! each with a fresh database, and prints each run's VmHWM and the median.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use meterdb_examples::api::{standard_config, EnterpriseInfo};
use meterdb_examples::industry::{uscc_with_check, Industry};
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::server::serve;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = arg(&args, "--runs", "3").parse()?;
    let points = arg(&args, "--points", "2000");
    let days = arg(&args, "--days", "7");
    let memtable = arg(&args, "--memtable-mib", "4");
    let batch = arg(&args, "--batch", "5000");
    let keep = arg(&args, "--keep-days", "0");
    let gateway = std::env::current_exe()?.with_file_name("gateway");
    if !gateway.exists() {
        return Err(format!("{} not found: build the gateway bin too", gateway.display()).into());
    }
    let dir: PathBuf = PathBuf::from(arg(
        &args,
        "--dir",
        &std::env::temp_dir()
            .join("meterdb-rss-bench")
            .to_string_lossy(),
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let ent = uscc_with_check("91350100MA2R00001")?;
    let sink = Arc::new(Platform::open(&Config {
        data: dir.join("sink"),
        role: Role::Provincial,
        no_store: true,
        outbound: None,
    })?);
    let info = EnterpriseInfo {
        enterprise_code: ent.clone(),
        name: "rss-bench plant".into(),
        region_code: "350100".into(),
        industry: "power".into(),
        industry_code: Industry::Power.classification().into(),
    };
    sink.registry().add_unit(
        info,
        standard_config(Industry::Power, points.parse()?, 60_000),
    )?;
    let server = serve(sink.clone(), "127.0.0.1:0", 2)?;
    let url = format!("http://{}", server.addr);
    let mut peaks = Vec::new();
    for r in 0..runs {
        let db = dir.join(format!("gw{r}"));
        let enroll = dir.join(format!("enroll{r}"));
        std::fs::write(&enroll, sink.registry().issue_enrollment(&ent)?)?;
        let t0 = Instant::now();
        let out = Command::new(&gateway)
            .args([
                "run",
                "--insecure-http",
                "--industry",
                "power",
                "--enterprise",
                &ent,
                "--db",
            ])
            .arg(&db)
            .args(["--platform", &url, "--enrollment-file"])
            .arg(&enroll)
            .args(["--interval-s", "60", "--days", &days, "--speed", "max"])
            .args([
                "--memtable-mib",
                &memtable,
                "--batch",
                &batch,
                "--rss-report",
            ])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "gateway failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let line = text
            .lines()
            .find(|l| l.starts_with("peak RSS"))
            .ok_or("no peak RSS line")?;
        let mib: f64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|x| x.parse().ok())
            .ok_or("bad peak RSS line")?;
        println!("run {r}: {line} ({:.0} s)", t0.elapsed().as_secs_f64());
        if let Some(l) = text.lines().find(|l| l.starts_with("collected")) {
            println!("        {l}");
        }
        peaks.push(mib);
        let _ = std::fs::remove_dir_all(&db);
        let mut creds = db.into_os_string();
        creds.push(".credentials");
        let _ = std::fs::remove_dir_all(creds);
    }
    server.stop();
    peaks.sort_by(f64::total_cmp);
    println!(
        "median peak RSS of the gateway over {runs} runs: {:.1} MiB ({points} points, 1-minute collection, {days} simulated days, memtable {memtable} MiB, batch {batch}, keep-days {keep})",
        peaks[peaks.len() / 2]
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
