//! `report.md`, `report.json` and `ratios.svg` from a run's results.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::engines::Res;
use crate::results::{EngineReport, Ingest, Report};

/// Writes the three files into `dir`.
pub fn write(r: &Report, dir: &Path) -> Res<()> {
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(r)?)?;
    std::fs::write(dir.join("report.md"), markdown(r))?;
    chart(r, &dir.join("ratios.svg"))?;
    Ok(())
}

fn meterdb(r: &Report) -> Option<&EngineReport> {
    r.engines.iter().find(|e| e.engine == "meterdb")
}

fn ingest<'a>(e: &'a EngineReport, w: &str, t: &str) -> Option<&'a Ingest> {
    e.ingest.iter().find(|i| i.workload == w && i.tier == t)
}

fn query_ms(e: &EngineReport, w: &str, q: &str) -> Option<f64> {
    e.queries
        .iter()
        .find(|x| x.workload == w && x.query == q)
        .map(|x| x.median_ms)
}

/// `v (r×)` with r = v / base.
fn with_ratio(v: Option<f64>, base: Option<f64>, fmt: fn(f64) -> String) -> String {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 && v.is_finite() => format!("{} ({})", fmt(v), ratio(v / b)),
        (Some(v), _) => fmt(v),
        _ => "–".into(),
    }
}

fn ratio(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}×")
    } else if x >= 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}

fn num(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn mib(v: f64) -> String {
    format!("{:.1}", v / 1048576.0)
}

/// The markdown report.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let md = meterdb(r);
    let _ = writeln!(
        s,
        "# MeterDB compared with SQLite, redb and tsink — scale `{}`\n",
        r.scale
    );
    let _ = writeln!(
        s,
        "Run {} at commit `{}`, {:.0} s in all.  \nMachine: {}.  \nCommand: `{}`\n",
        r.date, r.commit, r.run_s, r.machine, r.command
    );
    let _ = writeln!(
        s,
        "Every ratio is *engine ÷ MeterDB* measured in the same run. For costs (time, CPU, bytes, memory) above 1× means MeterDB is better; for ingest rate (samples/s) below 1× means MeterDB is faster. MeterDB answers Q3-Q5 from its precomputed day/month rollups (its configuration below says which source a run used).\n"
    );

    let _ = writeln!(s, "## Engines and configuration\n");
    let _ = writeln!(s, "| engine | configuration | T0 (no sync) | T1 (sync ≤ 1 s) | T2 (sync per batch) |\n|---|---|---|---|---|");
    for e in &r.engines {
        let t = |i: usize| e.tiers.get(i).cloned().unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            e.engine,
            e.config,
            t(0),
            t(1),
            t(2)
        );
    }
    let _ = writeln!(s, "\nEvery engine runs in its own child process of the harness (peak RSS is per engine); batches are 1,000 samples, acknowledged at the tier's durability.\n");

    let _ = writeln!(s, "## Workloads\n\n| workload | points | samples arriving | samples stored | what |\n|---|---:|---:|---:|---|");
    for w in &r.workloads {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            w.name, w.points, w.arrivals, w.samples, w.about
        );
    }

    let _ = writeln!(s, "\n## Ingest\n");
    let _ = writeln!(s, "Samples/s over the writes (wall); CPU seconds (all threads, getrusage) of writes plus settling per million samples; bytes on disk per stored sample after settling; bytes written (/proc/self/io `write_bytes`) per byte of input (16 bytes per sample); peak RSS above the RSS at open (VmHWM, reset per run). T2 runs on the first {} samples of W1 only.\n",
        r.engines.first().and_then(|e| ingest(e, "W1", "T2")).map_or(0, |i| i.samples));
    let mut keys: Vec<(String, String)> = Vec::new();
    for e in &r.engines {
        for i in &e.ingest {
            let k = (i.workload.clone(), i.tier.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    for (w, t) in &keys {
        let _ = writeln!(s, "### {w} at {t}\n\n| engine | samples/s | CPU s / M samples | settle s | bytes/sample | written/input | peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|");
        let base = md.and_then(|m| ingest(m, w, t));
        for e in &r.engines {
            let Some(i) = ingest(e, w, t) else { continue };
            let b = |f: fn(&Ingest) -> f64| base.map(f);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                e.engine,
                with_ratio(Some(i.samples_per_s), b(|x| x.samples_per_s), num),
                with_ratio(Some(i.cpu_s_per_m), b(|x| x.cpu_s_per_m), num),
                num(i.settle_s),
                with_ratio(Some(i.bytes_per_sample), b(|x| x.bytes_per_sample), num),
                with_ratio(Some(i.write_amp), b(|x| x.write_amp), num),
                with_ratio(
                    Some(i.rss_peak_delta as f64),
                    b(|x| x.rss_peak_delta as f64),
                    mib
                ),
            );
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "## Queries\n\nMedian wall milliseconds (runs in the JSON). Q1: point 0's raw samples for a day and a calendar month; Q2: latest sample of every point; Q3: one counter's daily consumption over the window; Q4: daily consumption of every counter point (up to 500) summed into one series; Q5: monthly consumption of every counter point in kgce.\n");
    let _ = write!(s, "| workload | query |");
    for e in &r.engines {
        let _ = write!(s, " {} |", e.engine);
    }
    let _ = write!(s, "\n|---|---|");
    for _ in &r.engines {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    let mut qkeys: Vec<(String, String)> = Vec::new();
    for e in &r.engines {
        for q in &e.queries {
            let k = (q.workload.clone(), q.query.clone());
            if !qkeys.contains(&k) {
                qkeys.push(k);
            }
        }
    }
    for (w, q) in &qkeys {
        let _ = write!(s, "| {w} | {q} |");
        let base = md.and_then(|m| query_ms(m, w, q));
        for e in &r.engines {
            let _ = write!(s, " {} |", with_ratio(query_ms(e, w, q), base, ms));
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "\n## Correctness (Q6)\n\nEach engine's answers against the reference the harness computes from the generated samples (W3: late, corrected, replaced, interrupted meters; R: real registers; W1 too). Cells: wrong / compared (buckets, points or samples). Floats agree within 1e-9 relative.\n");
    let _ = write!(s, "| workload | query |");
    for e in &r.engines {
        let _ = write!(s, " {} |", e.engine);
    }
    let _ = write!(s, "\n|---|---|");
    for _ in &r.engines {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s);
    let mut ckeys: Vec<(String, String)> = Vec::new();
    for e in &r.engines {
        for c in &e.checks {
            let k = (c.workload.clone(), c.query.clone());
            if !ckeys.contains(&k) {
                ckeys.push(k);
            }
        }
    }
    for (w, q) in &ckeys {
        let _ = write!(s, "| {w} | {q} |");
        for e in &r.engines {
            let cell = match e.checks.iter().find(|c| &c.workload == w && &c.query == q) {
                Some(c) if c.pass => format!("pass (0/{})", c.buckets),
                Some(c) => format!("**FAIL** {}/{}", c.wrong, c.buckets),
                None => "–".into(),
            };
            let _ = write!(s, " {cell} |");
        }
        let _ = writeln!(s);
    }
    let fails: Vec<String> =
        r.engines
            .iter()
            .flat_map(|e| {
                e.checks.iter().filter(|c| !c.pass).map(move |c| {
                    format!("- {} {} {}: {}", e.engine, c.workload, c.query, c.detail)
                })
            })
            .collect();
    if !fails.is_empty() {
        let _ = writeln!(
            s,
            "\nFirst difference of each failure:\n\n{}",
            fails.join("\n")
        );
    }

    let _ = writeln!(s, "\n## Crash recovery\n\nA writer ingests W1 at T1 in its own process and is killed with SIGKILL once half of it is acknowledged; a new process then reopens the directory (timed) and counts the samples it can read (the writer may have gone on writing between its last report and the kill, so readable can exceed acknowledged).\n\n| engine | acknowledged before kill | killed after s | reopen s | samples readable after reopen | acknowledged but lost |\n|---|---:|---:|---:|---:|---:|");
    let base = md.and_then(|m| m.recovery.as_ref()).map(|x| x.reopen_s);
    for e in &r.engines {
        if let Some(x) = &e.recovery {
            match &x.error {
                Some(err) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.2} | error: {} | – | – |",
                        e.engine,
                        x.acked,
                        x.killed_after_s,
                        err.replace('|', "/")
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {:.2} | {} | {} | {} |",
                        e.engine,
                        x.acked,
                        x.killed_after_s,
                        with_ratio(Some(x.reopen_s), base, |v| format!("{v:.3}")),
                        x.recovered,
                        x.acked.saturating_sub(x.recovered)
                    );
                }
            }
        }
    }

    codec_section(r, &mut s);
    targets_section(r, &mut s);

    let _ = writeln!(s, "\n## Definitions\n");
    let _ = writeln!(s, "- **Daily consumption of a counter**: calendar days of UTC+8. The register is read as the running total of its increases: between consecutive samples the increase is `v1 - v0`, or `v1` when the register fell (a meter replacement counts the new reading from zero). That total is linear between samples (constant before the first and after the last), and a day's consumption is its value at the day's end boundary minus at its start boundary — the register interpolated linearly between the last sample before each boundary and the first at or after it. Equivalently each pair's increase is shared among the days it spans in proportion to time. Monthly: the same over UTC+8 calendar months (clipped to the workload's window). Implemented once (`benches/compare/src/reference.rs`) and used for the reference and by the engines without an aggregation of their own; SQLite computes it in SQL.");
    let _ = writeln!(s, "- **Standard coal**: kgce = consumption × a fixed coefficient per point: electricity 0.1229 kgce/kWh, natural gas 1.2143 kgce/m³, heat 34.12 kgce/GJ, assigned to the simulated counters in rotation (all real registers: electricity).");
    let _ = writeln!(s, "- **Tiers**: T0 never syncs (the OS writes back); T1 syncs at most 1 s after a write; T2 syncs before acknowledging each batch of 1,000 samples. By their documentation a process crash (as opposed to a power loss) loses nothing acknowledged at any tier for MeterDB, SQLite and tsink, whose logs reach the OS before a write returns; redb's non-durable commits are lost on any crash, so at T0/T1 it can lose everything since its last durable commit. The crash-recovery table shows what was measured.");
    let _ = writeln!(s, "- **Input bytes**: 16 per sample written (i64 timestamp, f64 value). **Bytes on disk**: every file in the engine's directory after settling.");

    if !r.skipped.is_empty() || r.engines.iter().any(|e| !e.errors.is_empty()) {
        let _ = writeln!(s, "\n## Skipped and failed\n");
        for k in &r.skipped {
            let _ = writeln!(s, "- {k}");
        }
        for e in &r.engines {
            for x in &e.errors {
                let _ = writeln!(s, "- {}: {}", e.engine, x);
            }
        }
    }
    s
}

fn codec_section(r: &Report, s: &mut String) {
    if r.codecs.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Codec baselines (no database)\n\nEach series compressed alone: pco 1.x (default level) on the timestamps (i64 ms) plus the values as decimal-scaled integers (`ts+int`) or as f64 (`ts+f64`); tsz 0.1 (Gorilla, timestamps in seconds, both columns in one stream). Decode: ns per sample, both columns. MeterDB: its segment bytes per point (`Db::stats()`, timestamps + values + quality) after W1 at T1, settled.\n");
    let _ = writeln!(s, "| workload | series | samples | pco ts+int B/sample | pco ts+f64 | tsz | MeterDB | pco ts+int decode ns/sample | pco ts+f64 decode | tsz decode |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut names: Vec<&str> = Vec::new();
    for c in &r.codecs {
        if !names.contains(&c.workload.as_str()) {
            names.push(&c.workload);
        }
    }
    let mdb = meterdb(r);
    for w in names {
        let cs: Vec<_> = r.codecs.iter().filter(|c| c.workload == w).collect();
        let n: usize = cs.iter().map(|c| c.samples).sum();
        let per = |f: &dyn Fn(&crate::codecs::SeriesCodec) -> f64| {
            cs.iter().map(|c| f(c)).sum::<f64>() / n.max(1) as f64
        };
        let mdb_bps = if w == "W1" {
            mdb.filter(|m| !m.point_bytes.is_empty()).map(|m| {
                let (smp, b) = m
                    .point_bytes
                    .iter()
                    .fold((0u64, 0u64), |a, x| (a.0 + x.1, a.1 + x.2));
                format!("{:.3}", b as f64 / smp.max(1) as f64)
            })
        } else {
            None
        };
        let _ = writeln!(
            s,
            "| {w} | {} | {n} | {:.3} | {:.3} | {:.3} | {} | {:.1} | {:.1} | {:.1} |",
            cs.len(),
            per(&|c| (c.pco_ts + c.pco_int) as f64),
            per(&|c| (c.pco_ts + c.pco_f64) as f64),
            per(&|c| c.tsz as f64),
            mdb_bps.unwrap_or_else(|| "–".into()),
            per(&|c| c.pco_int_decode_ns * c.samples as f64),
            per(&|c| c.pco_f64_decode_ns * c.samples as f64),
            per(&|c| c.tsz_decode_ns * c.samples as f64),
        );
    }
    if let Some(m) = mdb.filter(|m| !m.point_bytes.is_empty()) {
        let (smp, col, ts, val) = m.point_bytes.iter().fold((0u64, 0u64, 0u64, 0u64), |a, x| {
            (a.0 + x.1, a.1 + x.2, a.2 + x.3, a.3 + x.4)
        });
        if let Some(i) = ingest(m, "W1", "T1") {
            let per = |b: u64| b as f64 / smp.max(1) as f64;
            let _ = writeln!(s, "\nMeterDB's W1 directory after settling holds {:.2} B/sample; its segment columns {:.2} (timestamps {:.2}, values {:.2}, quality the rest); the remainder is mostly its rollup files (`Options::default()` keeps the hour, day, month and year tiers on disk), then the catalog, manifest and current WAL file.", i.bytes_per_sample, per(col), per(ts), per(val));
        }
    }
    if let Some(rows) = per_series(r) {
        let within = rows.iter().filter(|x| x.3 <= 1.1).count();
        let _ = writeln!(s, "\nW1 series where MeterDB's bytes are within 10% of pco ts+int: **{within} of {}**. Worst five:\n\n| series | samples | pco ts+int bytes | MeterDB bytes | ratio |\n|---|---:|---:|---:|---:|", rows.len());
        for x in rows.iter().take(5) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                x.0,
                x.4,
                x.1,
                x.2,
                ratio(x.3)
            );
        }
    }
}

/// One W1 series: key, pco bytes, MeterDB bytes, ratio, samples.
type SeriesRow = (String, usize, u64, f64, usize);

/// W1 per series, worst ratio first.
fn per_series(r: &Report) -> Option<Vec<SeriesRow>> {
    let m = meterdb(r)?;
    if m.point_bytes.is_empty() {
        return None;
    }
    let mut rows: Vec<_> = r
        .codecs
        .iter()
        .filter(|c| c.workload == "W1")
        .filter_map(|c| {
            let pb = m.point_bytes.iter().find(|p| p.0 == c.key)?;
            let pco = c.pco_ts + c.pco_int;
            Some((
                c.key.clone(),
                pco,
                pb.2,
                pb.2 as f64 / pco.max(1) as f64,
                c.samples,
            ))
        })
        .collect();
    rows.sort_by(|a, b| b.3.total_cmp(&a.3));
    Some(rows)
}

fn targets_section(r: &Report, s: &mut String) {
    let _ = writeln!(
        s,
        "\n## The issue's targets\n\n| target | measured | met |\n|---|---|---|"
    );
    let Some(m) = meterdb(r) else { return };
    let yes = |b: bool| if b { "yes" } else { "**no**" };
    if let Some(rows) = per_series(r) {
        let worst = rows.first().map_or(f64::NAN, |x| x.3);
        let _ = writeln!(s, "| bytes/sample within 10% of pco on every series (W1) | worst series {} of pco ts+int | {} |", ratio(worst), yes(worst <= 1.1));
    }
    let mrate = ingest(m, "W1", "T1").map(|i| i.samples_per_s);
    for (peer, want) in [("sqlite", 30.0), ("tsink", 3.0)] {
        let p = r
            .engines
            .iter()
            .find(|e| e.engine == peer)
            .and_then(|e| ingest(e, "W1", "T1"))
            .map(|i| i.samples_per_s);
        if let (Some(a), Some(b)) = (mrate, p) {
            let x = a / b;
            let _ = writeln!(
                s,
                "| ingest at T1 (W1) ≥ {want}× {peer} | {} | {} |",
                ratio(x),
                yes(x >= want)
            );
        }
    }
    let mq = query_ms(m, "W1", "Q4");
    let sq = r
        .engines
        .iter()
        .find(|e| e.engine == "sqlite")
        .and_then(|e| query_ms(e, "W1", "Q4"));
    if let (Some(a), Some(b)) = (mq, sq) {
        let x = b / a;
        let _ = writeln!(
            s,
            "| Q4 ≥ 100× faster than SQLite GROUP BY (W1) | {} faster | {} |",
            ratio(x),
            yes(x >= 100.0)
        );
    }
    let q6 = m
        .checks
        .iter()
        .filter(|c| c.workload == "W3")
        .all(|c| c.pass)
        && m.checks.iter().any(|c| c.workload == "W3");
    let _ = writeln!(
        s,
        "| Q6: MeterDB answers Q3-Q5 after W3 correctly | {} | {} |",
        if q6 { "all pass" } else { "failures" },
        yes(q6)
    );
}

/// The metrics of the chart: name and, per engine, the cost ratio engine ÷ MeterDB.
fn chart_metrics(r: &Report) -> Vec<(String, Vec<Option<f64>>)> {
    let Some(m) = meterdb(r) else {
        return Vec::new();
    };
    let peers: Vec<&EngineReport> = r.engines.iter().filter(|e| e.engine != "meterdb").collect();
    let mut out = Vec::new();
    let ing = |name: &str, f: fn(&Ingest) -> f64, inverse: bool| {
        let base = ingest(m, "W1", "T1").map(f);
        let v: Vec<Option<f64>> = peers
            .iter()
            .map(|e| {
                let x = ingest(e, "W1", "T1").map(f)?;
                let b = base?;
                let r = if inverse { b / x } else { x / b };
                r.is_finite().then_some(r)
            })
            .collect();
        (name.to_string(), v)
    };
    out.push(ing("ingest time", |i| i.samples_per_s, true));
    out.push(ing("CPU/sample", |i| i.cpu_s_per_m, false));
    out.push(ing("bytes/sample", |i| i.bytes_per_sample, false));
    out.push(ing("peak RSS", |i| i.rss_peak_delta as f64, false));
    for q in ["Q1-month", "Q2", "Q3", "Q4", "Q5"] {
        let base = query_ms(m, "W1", q);
        let v = peers
            .iter()
            .map(|e| Some(query_ms(e, "W1", q)? / base?).filter(|x| x.is_finite() && *x > 0.0))
            .collect();
        out.push((q.to_string(), v));
    }
    out
}

fn chart(r: &Report, path: &Path) -> Res<()> {
    let metrics = chart_metrics(r);
    let peers: Vec<&str> = r
        .engines
        .iter()
        .filter(|e| e.engine != "meterdb")
        .map(|e| e.engine.as_str())
        .collect();
    let vals: Vec<f64> = metrics
        .iter()
        .flat_map(|m| m.1.iter().flatten().copied())
        .collect();
    let lo = vals.iter().copied().fold(1.0f64, f64::min).max(1e-4) / 2.0;
    let hi = vals.iter().copied().fold(1.0f64, f64::max).min(1e6) * 2.0;
    let root = SVGBackend::new(path, (1100, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut ch = ChartBuilder::on(&root)
        .caption(
            format!(
                "W1 at T1, scale {}: cost of each engine ÷ MeterDB (above 1: MeterDB better)",
                r.scale
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(10)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..metrics.len().max(1) as f64, (lo..hi).log_scale())?;
    ch.configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc("engine ÷ MeterDB (log)")
        .draw()?;
    ch.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 1.0), (metrics.len() as f64, 1.0)],
        BLACK.stroke_width(2),
    )))?;
    let colors = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0xd6, 0x27, 0x28),
    ];
    let w = 0.8 / peers.len().max(1) as f64;
    for (pi, peer) in peers.iter().enumerate() {
        let color = colors[pi % colors.len()];
        ch.draw_series(metrics.iter().enumerate().filter_map(|(mi, (_, v))| {
            let x0 = mi as f64 + 0.1 + pi as f64 * w;
            v[pi].map(|y| Rectangle::new([(x0, 1.0), (x0 + w * 0.9, y)], color.filled()))
        }))?
        .label(*peer)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    ch.draw_series(metrics.iter().enumerate().map(|(mi, (name, _))| {
        Text::new(
            name.clone(),
            (mi as f64 + 0.1, lo * 1.15),
            ("sans-serif", 13).into_font(),
        )
    }))?;
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A few lines for the terminal.
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    let md = meterdb(r);
    let _ = writeln!(s, "W1 at T1 (ratio = engine / MeterDB):");
    for e in &r.engines {
        let base = md.and_then(|m| ingest(m, "W1", "T1"));
        if let Some(i) = ingest(e, "W1", "T1") {
            let _ = writeln!(
                s,
                "  {:8} {:>14} samples/s  {:>14} B/sample  Q4 {:>14} ms",
                e.engine,
                with_ratio(Some(i.samples_per_s), base.map(|b| b.samples_per_s), num),
                with_ratio(
                    Some(i.bytes_per_sample),
                    base.map(|b| b.bytes_per_sample),
                    num
                ),
                with_ratio(
                    query_ms(e, "W1", "Q4"),
                    md.and_then(|m| query_ms(m, "W1", "Q4")),
                    ms
                ),
            );
        }
        let bad: Vec<String> = e
            .checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| format!("{} {} ({}/{})", c.workload, c.query, c.wrong, c.buckets))
            .collect();
        if !bad.is_empty() {
            let _ = writeln!(s, "  {:8} wrong answers: {}", e.engine, bad.join(", "));
        }
        for x in &e.errors {
            let _ = writeln!(s, "  {:8} error: {x}", e.engine);
        }
    }
    s
}
