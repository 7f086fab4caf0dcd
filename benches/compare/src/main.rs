//! The comparison harness: MeterDB and the engines a storage developer would otherwise embed,
//! on the same meter workloads, in one run, reported as ratios to MeterDB.
//!
//! ```text
//! cargo run --release -p meterdb-compare -- --scale smoke|full [--check] [--engines a,b] [--out DIR]
//! ```
//!
//! The parent process runs each engine in a child process of this same binary (hidden flag
//! `--only ENGINE`), so that peak memory is per engine and one engine's threads and caches
//! cannot slow another; then a crash writer per engine is killed with SIGKILL mid-ingest and
//! a recovering reader times the reopen; then the codec baselines. It writes `report.md`,
//! `report.json` and `ratios.svg` to `target/compare/` (under `$CARGO_TARGET_DIR` when set).
//! With `--check` it exits non-zero when MeterDB fails a correctness check (Q6).

mod codecs;
mod engines;
mod http;
mod measure;
mod reference;
mod report;
mod results;
mod run;
mod workload;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use engines::{Res, ENGINES};
use results::{EngineReport, Recovery, Report, WorkloadInfo};
use workload::Scale;

struct Args {
    scale: Scale,
    check: bool,
    engines: Vec<String>,
    out: PathBuf,
    data: PathBuf,
    only: Option<String>,
    crash: Option<String>,
    recover: Option<String>,
    dir: Option<PathBuf>,
    result: Option<PathBuf>,
}

fn default_out() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("compare"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/compare"),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        scale: Scale::parse("smoke").ok_or("no smoke scale")?,
        check: false,
        engines: ENGINES.iter().map(|s| s.to_string()).collect(),
        out: default_out(),
        data: workload::real_data_path(),
        only: None,
        crash: None,
        recover: None,
        dir: None,
        result: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--scale" => {
                let v = val()?;
                a.scale = Scale::parse(&v).ok_or(format!("unknown scale {v:?}: smoke or full"))?;
            }
            "--check" => a.check = true,
            "--engines" => a.engines = val()?.split(',').map(str::to_string).collect(),
            "--out" => a.out = PathBuf::from(val()?),
            "--data" => a.data = PathBuf::from(val()?),
            "--only" => a.only = Some(val()?),
            "--crash-writer" => a.crash = Some(val()?),
            "--recover" => a.recover = Some(val()?),
            "--dir" => a.dir = Some(PathBuf::from(val()?)),
            "--result" => a.result = Some(PathBuf::from(val()?)),
            "-h" | "--help" => {
                println!("meterdb-compare --scale smoke|full [--check] [--engines meterdb,sqlite,redb,tsink] [--out DIR] [--data CSV.GZ]");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?} (try --help)")),
        }
    }
    if let Some(bad) = a.engines.iter().find(|e| !ENGINES.contains(&e.as_str())) {
        return Err(format!(
            "unknown engine {bad:?}: one of {}",
            ENGINES.join(",")
        ));
    }
    if a.engines.first().map(String::as_str) != Some("meterdb") {
        a.engines.retain(|e| e != "meterdb");
        a.engines.insert(0, "meterdb".into()); // every ratio is to MeterDB of the same run
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("meterdb-compare: {e}");
            return ExitCode::from(2);
        }
    };
    match real_main(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meterdb-compare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(a: &Args) -> Res<ExitCode> {
    // Hidden child roles.
    if let Some(name) = &a.only {
        let work = a.dir.clone().ok_or("--only needs --dir")?;
        let rep = run::engine(name, &a.scale, &work, &a.data);
        let out = a.result.clone().ok_or("--only needs --result")?;
        std::fs::write(out, serde_json::to_vec(&rep)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &a.crash {
        run::crash_writer(name, &a.scale, a.dir.as_deref().ok_or("needs --dir")?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &a.recover {
        run::recover(name, &a.scale, a.dir.as_deref().ok_or("needs --dir")?)?;
        return Ok(ExitCode::SUCCESS);
    }

    let t0 = Instant::now();
    let work = a.out.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let exe = std::env::current_exe()?;
    let mut report = Report {
        scale: a.scale.name.to_string(),
        command: format!(
            "cargo run --release -p meterdb-compare -- --scale {}{}",
            a.scale.name,
            if a.check { " --check" } else { "" }
        ),
        machine: machine(),
        commit: git_commit(),
        date: meterdb::time::format_rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as i64
                / 1000
                * 1000,
            0,
        ),
        ..Default::default()
    };
    let mut names = Vec::new();
    for name in &a.engines {
        match engines::available(name) {
            Ok(()) => names.push(name.clone()),
            Err(why) => {
                eprintln!("meterdb-compare: {why}");
                report.skipped.push(why);
            }
        }
    }
    eprintln!(
        "meterdb-compare: scale {}, engines {}",
        a.scale.name,
        names.join(",")
    );

    // Workload descriptions (and the codec baselines on W1 and R).
    let w1 = workload::w1(&a.scale);
    let w2 = workload::w2(&a.scale);
    let w3 = workload::w3(&a.scale);
    let r = workload::real(&a.data)?;
    if r.is_none() {
        let msg = format!("R (real data) skipped: {} is absent", a.data.display());
        eprintln!("meterdb-compare: {msg}");
        report.skipped.push(msg);
    }
    for w in [Some(&w1), Some(&w2), Some(&w3), r.as_ref()]
        .into_iter()
        .flatten()
    {
        report.workloads.push(WorkloadInfo {
            name: w.name.to_string(),
            about: w.about.clone(),
            points: w.points.len() as u64,
            arrivals: w.arrivals.len() as u64,
            samples: w.samples() as u64,
        });
    }
    {
        // W4 described without generating it here (a million points' day): run.rs makes it.
        let n = a.scale.w4_points as u64;
        report.workloads.push(WorkloadInfo {
            name: "W4".to_string(),
            about: format!(
                "province-day: {n} points x 1 day at 15 min, interval by interval (memory and bytes only)"
            ),
            points: n,
            arrivals: n * 96,
            samples: n * 96,
        });
    }
    drop((w2, w3));
    let t = Instant::now();
    report.codecs = codecs::run(&w1)?;
    if let Some(r) = &r {
        report.codecs.extend(codecs::run(r)?);
    }
    eprintln!("[codecs] pco, tsz: {:.1} s", t.elapsed().as_secs_f64());
    drop((w1, r));

    for name in &names {
        let result = work.join(format!("{name}.json"));
        let t = Instant::now();
        let status = Command::new(&exe)
            .args(["--only", name, "--scale", a.scale.name, "--dir"])
            .arg(&work)
            .arg("--result")
            .arg(&result)
            .arg("--data")
            .arg(&a.data)
            .status()?;
        let mut rep: EngineReport = match std::fs::read(&result) {
            Ok(b) if status.success() => serde_json::from_slice(&b)?,
            _ => EngineReport {
                engine: name.clone(),
                errors: vec![format!("child process failed: {status}")],
                ..Default::default()
            },
        };
        eprintln!("[{name}] all workloads: {:.1} s", t.elapsed().as_secs_f64());
        if !engines::is_server(name) {
            let dir = work.join(format!("{name}-crash"));
            rep.recovery = Some(crash_and_recover(&exe, name, a, &dir));
        }
        report.engines.push(rep);
    }
    let _ = std::fs::remove_dir_all(&work);
    report.run_s = t0.elapsed().as_secs_f64();

    std::fs::create_dir_all(&a.out)?;
    report::write(&report, &a.out)?;
    eprintln!(
        "meterdb-compare: wrote {} (run {:.0} s)",
        a.out.join("report.md").display(),
        report.run_s
    );
    print!("{}", report::summary(&report));

    let failed: Vec<String> = report
        .engines
        .iter()
        .filter(|e| e.engine == "meterdb")
        .flat_map(|e| {
            e.checks
                .iter()
                .filter(|c| !c.pass)
                .map(|c| {
                    format!(
                        "{} {}: {} wrong of {} ({})",
                        c.workload, c.query, c.wrong, c.buckets, c.detail
                    )
                })
                .chain(e.errors.iter().cloned())
        })
        .collect();
    if a.check {
        // A plain closing line for CI: MeterDB's checks (and failed steps count as failed).
        let checks = report
            .engines
            .iter()
            .filter(|e| e.engine == "meterdb")
            .map(|e| e.checks.len())
            .sum::<usize>();
        println!(
            "compare: {} passed, {} failed",
            checks.saturating_sub(failed.len()),
            failed.len()
        );
    }
    if a.check && !failed.is_empty() {
        eprintln!("meterdb-compare --check: MeterDB failed:");
        for f in &failed {
            eprintln!("  {f}");
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the crash writer, kills it with SIGKILL once half of W1 is acknowledged, then
/// times the reopen in a fresh process.
fn crash_and_recover(exe: &Path, name: &str, a: &Args, dir: &Path) -> Recovery {
    let mut rec = Recovery::default();
    let res: Res<()> = (|| {
        let t = Instant::now();
        let mut child = Command::new(exe)
            .args(["--crash-writer", name, "--scale", a.scale.name, "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut total = u64::MAX;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(n) = line.strip_prefix("total ") {
                total = n.parse()?;
            } else if let Some(n) = line.strip_prefix("acked ") {
                rec.acked = n.parse()?;
                if rec.acked >= total / 2 {
                    child.kill()?; // SIGKILL
                    rec.killed_after_s = t.elapsed().as_secs_f64();
                    break;
                }
            }
        }
        let _ = child.wait()?;
        if rec.killed_after_s == 0.0 {
            return Err("the writer finished before it could be killed".into());
        }
        std::thread::sleep(Duration::from_millis(100));
        let out = Command::new(exe)
            .args(["--recover", name, "--scale", a.scale.name, "--dir"])
            .arg(dir)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "reopen failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        rec.reopen_s = v["reopen_s"].as_f64().unwrap_or(f64::NAN);
        rec.recovered = v["recovered"].as_u64().unwrap_or(0);
        Ok(())
    })();
    if let Err(e) = res {
        rec.error = Some(e.to_string());
    }
    eprintln!(
        "[{name}] crash: killed after {} acked, reopen {:.3} s, {} recovered{}",
        rec.acked,
        rec.reopen_s,
        rec.recovered,
        rec.error
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(dir);
    rec
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "nproc {nproc}, CPU {model}, memory {:.1} GiB, Linux {}",
        mem_kb as f64 / 1048576.0,
        kernel.trim()
    )
}

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
