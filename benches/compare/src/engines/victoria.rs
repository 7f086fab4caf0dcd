//! VictoriaMetrics (single-node server from Debian, `apt-get install victoria-metrics`) over
//! HTTP on 127.0.0.1 only, one server process per run, started and stopped by the harness.
//! Optional: skipped with a message when the binary is absent.
//!
//! Samples go to `/api/v1/import` (JSON lines, one per point per batch); raw reads come
//! from `/api/v1/export`; Q2 is one `last_over_time` / `tlast_over_time` query for every
//! point. MetricsQL's `increase()` handles counter resets but neither UTC+8 calendar days
//! nor interpolation at bucket boundaries, so Q3-Q5 use raw exports plus the shared
//! definition.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Engine, Res, Tier};
use crate::http;
use crate::measure;
use crate::workload::{Arrival, Point};

const BIN: &str = "victoria-metrics";

/// The server binary, if installed.
pub fn binary() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(BIN))
            .find(|p| p.is_file())
    })
}

pub fn describe() -> (String, [String; 3]) {
    (
        "VictoriaMetrics single-node server (Debian package), `-retentionPeriod=100y`, otherwise defaults (no deduplication), listening on 127.0.0.1 only; metric `energy` with label `point`; one `/api/v1/import` request per 1,000 samples; settle = `/internal/force_flush` then a graceful restart (SIGTERM writes in-memory parts to disk; no forced merge, which this version cannot survive a stop during); Q2 one `last_over_time`/`tlast_over_time` query; Q3-Q5 from `/api/v1/export` plus the shared definition. CPU, bytes written and peak RSS are the harness's plus the server process's".into(),
        [
            "n/a (no setting: it always buffers about a second in memory)".into(),
            "default: ingested data is buffered in memory and written to disk about every second, without fsync per write".into(),
            "n/a (no fsync-per-write setting)".into(),
        ],
    )
}

pub struct Victoria {
    child: Child,
    reaped: bool,
    /// CPU seconds, bytes written and peak RSS of server processes already stopped.
    spent: (f64, u64, u64),
    dir: PathBuf,
    addr: String,
    keys: Vec<String>,
    index: HashMap<String, u32>,
}

impl std::fmt::Debug for Victoria {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Victoria")
            .field("addr", &self.addr)
            .finish()
    }
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn start(dir: &Path, addr: &str) -> Res<Child> {
    let bin = binary().ok_or("victoria-metrics is not installed")?;
    // The server's log goes nowhere, or to the file named by $MC_VM_LOG.
    let log = match std::env::var_os("MC_VM_LOG") {
        Some(p) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => Stdio::null(),
    };
    Ok(Command::new(bin)
        .arg(format!("-storageDataPath={}", dir.join("data").display()))
        .arg(format!("-httpListenAddr={addr}"))
        .arg("-retentionPeriod=100y")
        .arg("-loggerLevel=INFO")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

impl Victoria {
    pub fn open(dir: &Path, tier: Tier, points: &[Point]) -> Res<Victoria> {
        if tier != Tier::T1 {
            return Err(format!("VictoriaMetrics has no setting for tier {}", tier.name()).into());
        }
        let port = free_port()?;
        let mut vm = Victoria {
            child: start(dir, &format!("127.0.0.1:{port}"))?,
            reaped: false,
            spent: (0.0, 0, 0),
            dir: dir.to_path_buf(),
            addr: format!("127.0.0.1:{port}"),
            keys: points.iter().map(|p| p.meta.key.clone()).collect(),
            index: points
                .iter()
                .enumerate()
                .map(|(i, p)| (p.meta.key.clone(), i as u32))
                .collect(),
        };
        vm.wait_ready()?;
        Ok(vm)
    }

    fn wait_ready(&mut self) -> Res<()> {
        let t = Instant::now();
        loop {
            if let Ok((200, _)) = http::request(&self.addr, "GET", "/health", b"") {
                return Ok(());
            }
            if let Some(st) = self.child.try_wait()? {
                self.reaped = true;
                return Err(format!("victoria-metrics exited: {st}").into());
            }
            if t.elapsed() > Duration::from_secs(60) {
                self.stop();
                return Err("victoria-metrics did not answer /health within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: SIGTERM (it writes what it buffers and exits), SIGKILL after 60 s;
    /// adds what the process spent (from wait4's rusage) to `spent`.
    fn stop(&mut self) {
        if self.reaped {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill only sends a signal, to our own child, not yet reaped (so its pid
        // cannot have been reused).
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let t = Instant::now();
        loop {
            let mut status = 0;
            let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
            // SAFETY: wait4 writes a status and a complete rusage through valid pointers;
            // a zeroed rusage is a valid value whatever it does.
            #[allow(unsafe_code)]
            let (r, ru) = unsafe {
                let r = libc::wait4(pid, &mut status, libc::WNOHANG, ru.as_mut_ptr());
                (r, ru.assume_init())
            };
            if r == pid || r < 0 {
                if r == pid {
                    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
                    self.spent.0 += tv(ru.ru_utime) + tv(ru.ru_stime);
                    self.spent.1 += ru.ru_oublock as u64 * 512;
                    self.spent.2 = self.spent.2.max(ru.ru_maxrss as u64 * 1024);
                }
                self.reaped = true;
                return;
            }
            if t.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn selector(&self, p: u32) -> String {
        format!("energy{{point=\"{}\"}}", self.keys[p as usize])
    }

    /// Every exported sample of the selector within `[from, to)`, in time order.
    fn export(&self, sel: &str, from: i64, to: i64) -> Res<Vec<(u32, i64, f64)>> {
        let path = format!(
            "/api/v1/export?match[]={}&start={}&end={}",
            http::encode(sel),
            secs(from.max(0)),
            secs((to - 1).max(0))
        );
        let body = http::ok(&self.addr, "GET", &path, b"")?;
        let mut out = Vec::new();
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line)?;
            let key = v["metric"]["point"].as_str().unwrap_or("");
            let p = *self.index.get(key).ok_or("export of an unknown point")?;
            let ts = v["timestamps"]
                .as_array()
                .ok_or("export without timestamps")?;
            let vals = v["values"].as_array().ok_or("export without values")?;
            for (t, x) in ts.iter().zip(vals) {
                let t = t.as_i64().ok_or("bad timestamp")?;
                if t >= from && t < to {
                    out.push((p, t, x.as_f64().ok_or("bad value")?));
                }
            }
        }
        out.sort_by_key(|x| (x.0, x.1));
        Ok(out)
    }

    fn instant(&self, query: &str) -> Res<HashMap<u32, f64>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let path = format!("/api/v1/query?query={}&time={now}", http::encode(query));
        let body = http::ok(&self.addr, "GET", &path, b"")?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let mut out = HashMap::new();
        for r in v["data"]["result"]
            .as_array()
            .ok_or("query without result")?
        {
            let key = r["metric"]["point"].as_str().unwrap_or("");
            if let (Some(&p), Some(x)) = (
                self.index.get(key),
                r["value"][1].as_str().and_then(|s| s.parse::<f64>().ok()),
            ) {
                out.insert(p, x);
            }
        }
        Ok(out)
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Engine for Victoria {
    fn write(&mut self, batch: &[Arrival]) -> Res<()> {
        let mut order: Vec<u32> = Vec::new();
        let mut by: HashMap<u32, (Vec<i64>, Vec<f64>)> = HashMap::new();
        for a in batch {
            let e = by.entry(a.point).or_insert_with(|| {
                order.push(a.point);
                Default::default()
            });
            e.0.push(a.ts);
            e.1.push(a.value);
        }
        let mut body = Vec::with_capacity(batch.len() * 32);
        for p in order {
            let (ts, vs) = &by[&p];
            serde_json::to_writer(
                &mut body,
                &serde_json::json!({
                    "metric": { "__name__": "energy", "point": self.keys[p as usize] },
                    "values": vs,
                    "timestamps": ts,
                }),
            )?;
            body.push(b'\n');
        }
        http::ok(&self.addr, "POST", "/api/v1/import", &body)?;
        Ok(())
    }

    fn settle(&mut self) -> Res<()> {
        http::ok(&self.addr, "GET", "/internal/force_flush", b"")?;
        // No /internal/force_merge: it runs in the background, and a stop during it makes
        // this version panic and lose the unflushed parts.
        // A graceful stop writes every in-memory part to disk; then start again for queries.
        self.stop();
        self.child = start(&self.dir, &self.addr)?;
        self.reaped = false;
        self.wait_ready()
    }

    fn read_range(&mut self, p: u32, from: i64, to: i64) -> Res<Vec<(i64, f64)>> {
        Ok(self
            .export(&self.selector(p), from, to)?
            .into_iter()
            .map(|x| (x.1, x.2))
            .collect())
    }

    fn latest(&mut self, p: u32) -> Res<Option<(i64, f64)>> {
        Ok(self.latest_all(p + 1)?.swap_remove(p as usize))
    }

    fn latest_all(&mut self, n: u32) -> Res<Vec<Option<(i64, f64)>>> {
        let v = self.instant("last_over_time(energy[20000d])")?;
        let t = self.instant("tlast_over_time(energy[20000d])")?;
        Ok((0..n)
            .map(|p| match (t.get(&p), v.get(&p)) {
                (Some(t), Some(v)) => Some(((t * 1000.0).round() as i64, *v)),
                _ => None,
            })
            .collect())
    }

    fn server_figures(&self) -> Option<(f64, u64, u64)> {
        let (mut cpu, mut written, mut rss) = self.spent;
        if !self.reaped {
            let pid = self.child.id();
            cpu += measure::proc_cpu_seconds(pid);
            written += measure::proc_write_bytes(pid);
            rss = rss.max(measure::proc_peak_rss(pid));
        }
        Some((cpu, written, rss))
    }

    fn close(mut self: Box<Self>) -> Res<()> {
        let _ = http::request(&self.addr, "GET", "/internal/force_flush", b"");
        self.stop();
        Ok(())
    }
}
