//! What one engine's child process does: every workload at its tiers, the queries, and the
//! checks against the reference; plus the crash writer and the recovering reader.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::engines::{self, Engine, Res, Tier};
use crate::measure::{self, median_of, Span};
use crate::reference::{self, day_bounds, month_bounds, DAY_MS};
use crate::results::{Check, EngineReport, Ingest, Query};
use crate::workload::{self, Arrival, Scale, Workload};

/// Samples per acknowledged batch, at every tier.
pub const BATCH: usize = 1_000;

/// Runs engine `name` through every workload; a failing step is recorded and the rest go on.
pub fn engine(name: &str, scale: &Scale, work: &Path, data: &Path) -> EngineReport {
    let (config, tiers) = engines::describe(name);
    let mut rep = EngineReport {
        engine: name.to_string(),
        config,
        tiers: tiers.to_vec(),
        ..Default::default()
    };
    let step =
        |rep: &mut EngineReport, what: &str, f: &mut dyn FnMut(&mut EngineReport) -> Res<()>| {
            let t = Instant::now();
            if let Err(e) = f(rep) {
                eprintln!("[{name}] {what}: FAILED: {e}");
                rep.errors.push(format!("{what}: {e}"));
            } else {
                eprintln!("[{name}] {what}: {:.1} s", t.elapsed().as_secs_f64());
            }
        };

    let w1 = workload::w1(scale);
    for tier in [Tier::T0, Tier::T1, Tier::T2] {
        if !engines::supports(name, tier) {
            continue;
        }
        step(&mut rep, &format!("W1 {}", tier.name()), &mut |rep| {
            let n = if tier == Tier::T2 {
                scale.t2_samples.min(w1.arrivals.len())
            } else {
                w1.arrivals.len()
            };
            let dir = work.join(format!("{name}-W1-{}", tier.name()));
            let (mut e, ing) = ingest(name, &dir, tier, &w1, &w1.arrivals[..n], n as u64)?;
            rep.ingest.push(ing);
            if tier == Tier::T1 {
                queries(&mut *e, &w1, scale, rep, true)?;
                if let Some(pb) = e.point_bytes()? {
                    rep.point_bytes = pb
                        .into_iter()
                        .enumerate()
                        .map(|(i, b)| (w1.points[i].meta.key.clone(), b.0, b.1, b.2, b.3))
                        .collect();
                }
                let peak =
                    measure::peak_rss().saturating_sub(rep.ingest.last().map_or(0, |i| i.rss_base));
                if let Some(last) = rep.ingest.last_mut() {
                    last.rss_peak_delta = last.rss_peak_delta.max(peak);
                }
            }
            e.close()?;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        });
    }
    drop(w1);

    let w2 = workload::w2(scale);
    step(&mut rep, "W2 T1", &mut |rep| {
        let dir = work.join(format!("{name}-W2-T1"));
        let n = w2.samples() as u64;
        let (mut e, ing) = ingest(name, &dir, Tier::T1, &w2, &w2.arrivals, n)?;
        rep.ingest.push(ing);
        latest_all(&mut *e, &w2, scale, rep)?;
        e.close()?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    });
    drop(w2);

    // W4: the province-day at a large province's size, for memory and bytes on disk only.
    let w4 = workload::w4(scale);
    step(&mut rep, "W4 T1", &mut |rep| {
        let dir = work.join(format!("{name}-W4-T1"));
        let n = w4.samples() as u64;
        let (e, ing) = ingest(name, &dir, Tier::T1, &w4, &w4.arrivals, n)?;
        rep.ingest.push(ing);
        e.close()?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    });
    drop(w4);

    let w3 = workload::w3(scale);
    step(&mut rep, "W3 T1", &mut |rep| {
        let dir = work.join(format!("{name}-W3-T1"));
        let n = w3.samples() as u64;
        let (mut e, ing) = ingest(name, &dir, Tier::T1, &w3, &w3.arrivals, n)?;
        rep.ingest.push(ing);
        queries(&mut *e, &w3, scale, rep, false)?;
        raw_check(&mut *e, &w3, rep)?;
        e.close()?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    });
    drop(w3);

    step(&mut rep, "R T1", &mut |rep| {
        let Some(r) = workload::real(data)? else {
            return Ok(()); // the parent reports the skip
        };
        let dir = work.join(format!("{name}-R-T1"));
        let n = r.samples() as u64;
        let (mut e, ing) = ingest(name, &dir, Tier::T1, &r, &r.arrivals, n)?;
        rep.ingest.push(ing);
        real_checks(&mut *e, &r, rep)?;
        latest_all(&mut *e, &r, scale, rep)?;
        e.close()?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    });
    rep
}

/// Opens a fresh engine, writes `arrivals` in batches, settles; measures it all.
fn ingest(
    name: &str,
    dir: &Path,
    tier: Tier,
    w: &Workload,
    arrivals: &[Arrival],
    stored: u64,
) -> Res<(Box<dyn Engine>, Ingest)> {
    let _ = std::fs::remove_dir_all(dir);
    measure::reset_peak_rss();
    let rss_base = measure::rss();
    let mut e = engines::open(name, dir, tier, &w.points)?;
    let srv0 = e.server_figures();
    let span = Span::start();
    for b in arrivals.chunks(BATCH) {
        e.write(b)?;
    }
    let wall = span.wall();
    let t = Instant::now();
    e.settle()?;
    let settle_s = t.elapsed().as_secs_f64();
    let (mut written, mut cpu) = (span.written(), span.cpu());
    let mut srv_rss = 0;
    if let (Some(a), Some(b)) = (srv0, e.server_figures()) {
        cpu += b.0 - a.0;
        written += b.1.saturating_sub(a.1);
        srv_rss = b.2;
    }
    let disk = measure::dir_bytes(dir);
    let n = arrivals.len() as u64;
    Ok((
        e,
        Ingest {
            workload: w.name.to_string(),
            tier: tier.name().to_string(),
            samples: n,
            stored,
            points: w.points.len() as u64,
            wall_s: wall,
            samples_per_s: n as f64 / wall.max(1e-9),
            cpu_s_per_m: cpu / (n as f64 / 1e6).max(1e-12),
            settle_s,
            disk_bytes: disk,
            bytes_per_sample: disk as f64 / stored.max(1) as f64,
            written_bytes: written,
            write_amp: written as f64 / (n * 16).max(1) as f64,
            rss_base,
            rss_peak_delta: measure::peak_rss().saturating_sub(rss_base) + srv_rss,
        },
    ))
}

fn check_series(workload: &str, query: &str, got: &[Vec<f64>], want: &[Vec<f64>]) -> Check {
    let mut c = Check {
        workload: workload.to_string(),
        query: query.to_string(),
        ..Default::default()
    };
    for (i, w) in want.iter().enumerate() {
        let g = got.get(i).map_or(&[][..], |g| &g[..]);
        c.buckets += w.len() as u64;
        let wrong = reference::wrong_buckets(g, w);
        if wrong > 0 && c.detail.is_empty() {
            let k = (0..w.len())
                .find(|&k| g.get(k).is_none_or(|x| !reference::same(*x, w[k])))
                .unwrap_or(0);
            c.detail = format!(
                "series {i} bucket {k}: got {:?}, want {:?}",
                g.get(k),
                w.get(k)
            );
        }
        c.wrong += wrong as u64;
    }
    c.wrong += got.len().saturating_sub(want.len()) as u64;
    c.pass = c.wrong == 0;
    c
}

fn reference_consumption(w: &Workload, points: &[u32], bounds: &[i64]) -> Vec<Vec<f64>> {
    let (from, to) = (bounds[0], bounds[bounds.len() - 1]);
    points
        .iter()
        .map(|&p| reference::consumption(reference::window(&w.truth[p as usize], from, to), bounds))
        .collect()
}

/// Q1-Q5 on a plant workload, each timed and checked.
fn queries(
    e: &mut dyn Engine,
    w: &Workload,
    scale: &Scale,
    rep: &mut EngineReport,
    time_q1: bool,
) -> Res<()> {
    let wl = w.name;
    let q = |rep: &mut EngineReport, name: &str, ms: (f64, usize), rows: usize| {
        rep.queries.push(Query {
            workload: wl.to_string(),
            query: name.to_string(),
            median_ms: ms.0 * 1e3,
            reps: ms.1,
            rows: rows as u64,
        })
    };
    let days = ((w.end - w.start) / DAY_MS) as usize;
    let months = month_bounds(w.start, w.end);

    if time_q1 {
        // Q1: one point's raw samples for a day (mid-window) and for a month.
        let p = 0u32;
        let day = w.start + (days as i64 / 2) * DAY_MS;
        let mi = (months.len() - 1) / 2;
        for (name, from, to) in [
            ("Q1-day", day, day + DAY_MS),
            ("Q1-month", months[mi], months[mi + 1]),
        ] {
            let (t, reps, got) = median_of(scale.query_reps, scale.query_budget_s, || {
                e.read_range(p, from, to)
            })?;
            q(rep, name, (t, reps), got.len());
            let s = &w.truth[p as usize];
            let want: Vec<(i64, f64)> =
                s[s.partition_point(|x| x.0 < from)..s.partition_point(|x| x.0 < to)].to_vec();
            let wrong = if got == want {
                0
            } else {
                got.len().abs_diff(want.len()).max(1)
            };
            rep.checks.push(Check {
                workload: wl.to_string(),
                query: name.to_string(),
                buckets: want.len() as u64,
                wrong: wrong as u64,
                pass: wrong == 0,
                detail: if wrong == 0 {
                    String::new()
                } else {
                    format!("{} samples, want {}", got.len(), want.len())
                },
            });
        }
        latest_all(e, w, scale, rep)?;
    }

    let counters = w.counters();
    if counters.is_empty() {
        return Ok(());
    }
    let daily = day_bounds(w.start, days);
    // Q3: one point's daily consumption over the window.
    let p3 = [counters[0]];
    let (t, reps, got) = median_of(scale.query_reps, scale.query_budget_s, || {
        e.consumption(&p3, &daily)
    })?;
    q(rep, "Q3", (t, reps), got.iter().map(Vec::len).sum());
    rep.checks.push(check_series(
        wl,
        "Q3",
        &got,
        &reference_consumption(w, &p3, &daily),
    ));

    // Q4: daily consumption of every counter point (up to 500), summed.
    let p4: Vec<u32> = counters.iter().copied().take(500).collect();
    let (t, reps, got) = median_of(scale.query_reps, scale.query_budget_s, || {
        e.consumption_sum(&p4, &daily)
    })?;
    q(rep, "Q4", (t, reps), got.len());
    let per = reference_consumption(w, &p4, &daily);
    let mut want = vec![0.0; daily.len() - 1];
    for c in &per {
        for (s, x) in want.iter_mut().zip(c) {
            *s += x;
        }
    }
    rep.checks.push(check_series(wl, "Q4", &[got], &[want]));

    // Q5: monthly consumption of every counter point in standard coal.
    let coefs: Vec<f64> = counters
        .iter()
        .map(|&p| w.points[p as usize].coef)
        .collect();
    let (t, reps, got) = median_of(scale.query_reps, scale.query_budget_s, || {
        e.consumption_scaled(&counters, &coefs, &months)
    })?;
    q(rep, "Q5", (t, reps), got.iter().map(Vec::len).sum());
    let mut want = reference_consumption(w, &counters, &months);
    for (row, k) in want.iter_mut().zip(&coefs) {
        row.iter_mut().for_each(|x| *x *= k);
    }
    rep.checks.push(check_series(wl, "Q5", &got, &want));
    Ok(())
}

/// Q2: the latest sample of every point, timed and checked.
fn latest_all(e: &mut dyn Engine, w: &Workload, scale: &Scale, rep: &mut EngineReport) -> Res<()> {
    let n = w.points.len() as u32;
    let (t, reps, got) = median_of(scale.query_reps, scale.query_budget_s, || e.latest_all(n))?;
    rep.queries.push(Query {
        workload: w.name.to_string(),
        query: "Q2".into(),
        median_ms: t * 1e3,
        reps,
        rows: got.iter().flatten().count() as u64,
    });
    let mut c = Check {
        workload: w.name.to_string(),
        query: "Q2".into(),
        buckets: n as u64,
        ..Default::default()
    };
    for (p, g) in got.iter().enumerate() {
        let want = w.truth[p].last().copied();
        let ok = match (g, want) {
            (Some(a), Some(b)) => a.0 == b.0 && reference::same(a.1, b.1),
            (None, None) => true,
            _ => false,
        };
        if !ok {
            if c.detail.is_empty() {
                c.detail = format!("point {p}: got {g:?}, want {want:?}");
            }
            c.wrong += 1;
        }
    }
    c.pass = c.wrong == 0;
    rep.checks.push(c);
    Ok(())
}

/// Every stored sample against the truth: a sample missing, extra or with another value is
/// wrong.
fn raw_check(e: &mut dyn Engine, w: &Workload, rep: &mut EngineReport) -> Res<()> {
    let mut c = Check {
        workload: w.name.to_string(),
        query: "raw samples".into(),
        ..Default::default()
    };
    for (p, want) in w.truth.iter().enumerate() {
        let got = e.read_range(
            p as u32,
            meterdb::sample::MIN_TIMESTAMP,
            meterdb::sample::MAX_TIMESTAMP,
        )?;
        c.buckets += want.len() as u64;
        let (mut i, mut j, mut wrong) = (0, 0, 0u64);
        while i < got.len() || j < want.len() {
            match (got.get(i), want.get(j)) {
                (Some(g), Some(x)) if g.0 == x.0 => {
                    if !reference::same(g.1, x.1) {
                        wrong += 1;
                    }
                    i += 1;
                    j += 1;
                }
                (Some(g), Some(x)) if g.0 < x.0 => {
                    wrong += 1;
                    i += 1;
                }
                (Some(_), None) => {
                    wrong += 1;
                    i += 1;
                }
                _ => {
                    wrong += 1;
                    j += 1;
                }
            }
        }
        if wrong > 0 && c.detail.is_empty() {
            c.detail = format!(
                "point {p}: {} samples read, {} stored, {wrong} differ",
                got.len(),
                want.len()
            );
        }
        c.wrong += wrong;
    }
    c.pass = c.wrong == 0;
    rep.checks.push(c);
    Ok(())
}

/// Q3 on every counter of the real data, each over the days its data covers.
fn real_checks(e: &mut dyn Engine, w: &Workload, rep: &mut EngineReport) -> Res<()> {
    let mut got = Vec::new();
    let mut want = Vec::new();
    for p in w.counters() {
        let s = &w.truth[p as usize];
        let (Some(first), Some(last)) = (s.first(), s.last()) else {
            continue;
        };
        let from = reference::day_floor(first.0);
        let days = ((reference::day_floor(last.0) + DAY_MS - from) / DAY_MS) as usize;
        let b = day_bounds(from, days);
        got.extend(e.consumption(&[p], &b)?);
        want.extend(reference_consumption(w, &[p], &b));
    }
    rep.checks.push(check_series(w.name, "Q3", &got, &want));
    Ok(())
}

/// The crash writer: W1 at T1, reporting acknowledged samples on stdout until killed.
pub fn crash_writer(name: &str, scale: &Scale, dir: &Path) -> Res<()> {
    let w = workload::w1(scale);
    let _ = std::fs::remove_dir_all(dir);
    let mut e = engines::open(name, dir, Tier::T1, &w.points)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "total {}", w.arrivals.len())?;
    out.flush()?;
    let mut acked = 0usize;
    for b in w.arrivals.chunks(BATCH) {
        e.write(b)?;
        acked += b.len();
        writeln!(out, "acked {acked}")?;
        out.flush()?;
    }
    e.close()?;
    Ok(())
}

/// The recovering reader: reopens, times it, counts what is readable. Prints JSON.
pub fn recover(name: &str, scale: &Scale, dir: &Path) -> Res<()> {
    let w = workload::w1(scale);
    let t = Instant::now();
    let mut e = engines::open(name, dir, Tier::T1, &w.points)?;
    let reopen_s = t.elapsed().as_secs_f64();
    let mut recovered = 0u64;
    for p in 0..w.points.len() as u32 {
        recovered += e.read_range(p, w.start - DAY_MS, w.end + DAY_MS)?.len() as u64;
    }
    e.close()?;
    println!(
        "{}",
        serde_json::json!({ "reopen_s": reopen_s, "recovered": recovered })
    );
    Ok(())
}
