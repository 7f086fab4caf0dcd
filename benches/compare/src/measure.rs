//! Process figures from the kernel: CPU time, bytes written, resident memory, disk usage.

use std::path::Path;
use std::time::Instant;

/// User plus system CPU seconds of this process, every thread included (getrusage).
pub fn cpu_seconds() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` through a valid pointer to one; a zeroed
    // `rusage` is a valid value of the type, so reading it is sound whatever the call did.
    #[allow(unsafe_code)]
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn proc_field(file: &str, name: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let rest = l.strip_prefix(name)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Bytes this process caused to be sent to storage (`write_bytes` of /proc/self/io).
pub fn write_bytes() -> u64 {
    proc_field("/proc/self/io", "write_bytes")
}

/// Peak resident set size in bytes (VmHWM).
pub fn peak_rss() -> u64 {
    proc_field("/proc/self/status", "VmHWM") * 1024
}

/// Current resident set size in bytes (VmRSS).
pub fn rss() -> u64 {
    proc_field("/proc/self/status", "VmRSS") * 1024
}

/// Resets the peak RSS to the current RSS, so that a later [`peak_rss`] is the peak of what
/// follows. Returns whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Sum of the sizes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Figures of a stretch of work: wall time, CPU time, bytes written.
#[derive(Debug)]
pub struct Span {
    t: Instant,
    cpu: f64,
    wb: u64,
}

impl Span {
    /// Starts measuring.
    pub fn start() -> Span {
        Span {
            t: Instant::now(),
            cpu: cpu_seconds(),
            wb: write_bytes(),
        }
    }
    /// Wall seconds so far.
    pub fn wall(&self) -> f64 {
        self.t.elapsed().as_secs_f64()
    }
    /// CPU seconds so far.
    pub fn cpu(&self) -> f64 {
        cpu_seconds() - self.cpu
    }
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        write_bytes().saturating_sub(self.wb)
    }
}

/// The median of repeated runs of `f`: at most `reps`, stopping once `budget_s` has passed
/// (after at least one run). Returns (median seconds, runs, the last result).
pub fn median_of<T>(
    reps: usize,
    budget_s: f64,
    mut f: impl FnMut() -> crate::engines::Res<T>,
) -> crate::engines::Res<(f64, usize, T)> {
    let t0 = Instant::now();
    let mut times = Vec::with_capacity(reps);
    let mut last;
    loop {
        let t = Instant::now();
        last = f()?;
        times.push(t.elapsed().as_secs_f64());
        if times.len() >= reps || t0.elapsed().as_secs_f64() >= budget_s {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times.len(), last))
}

/// CPU seconds (user plus system) of another process, e.g. a server engine.
pub fn proc_cpu_seconds(pid: u32) -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    #[allow(unsafe_code)]
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((u + st) / tick)
        })
        .unwrap_or(0.0)
}

/// `write_bytes` of another process.
pub fn proc_write_bytes(pid: u32) -> u64 {
    proc_field(&format!("/proc/{pid}/io"), "write_bytes")
}

/// Peak RSS (VmHWM) of another process, bytes.
pub fn proc_peak_rss(pid: u32) -> u64 {
    proc_field(&format!("/proc/{pid}/status"), "VmHWM") * 1024
}
