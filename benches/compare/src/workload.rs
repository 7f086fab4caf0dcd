//! The workloads, generated from fixed seeds (the same bytes on every run) or read from the
//! shared real data. Each is a list of arrivals (in the order an engine receives them) and the
//! truth the harness checks answers against: per point, the final sample of every timestamp.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use meterdb::time::days_from_civil;
use meterdb::{PointKind, PointMeta};
use meterdb_examples::sim::{self, Rng};

use crate::reference::DAY_MS;

/// Sampling interval of the simulated meters.
pub const INTERVAL_MS: i64 = 900_000;
/// 2025-01-01T00:00:00+08:00: where W1 and W3 start (a year in the past, so that servers
/// that refuse future timestamps take all of it).
pub const YEAR_START: i64 = 1_735_660_800_000;

/// Standard-coal coefficients, by energy type: (name, unit, kgce per unit).
pub const ENERGY: [(&str, &str, f64); 3] = [
    ("electricity", "kWh", 0.1229),
    ("natural gas", "m3", 1.2143),
    ("heat", "GJ", 34.12),
];

/// How big every workload is.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// `smoke` or `full`.
    pub name: &'static str,
    /// W1/W3 points.
    pub plant_points: usize,
    /// W1/W3 days.
    pub plant_days: usize,
    /// W2 points.
    pub province_points: usize,
    /// W4 points (a large province: 1,000,000 at full scale).
    pub w4_points: usize,
    /// Samples written at tier T2 (sync per batch).
    pub t2_samples: usize,
    /// Query repetitions (at most) and time budget per query.
    pub query_reps: usize,
    /// Seconds a query is repeated for at most (at least once).
    pub query_budget_s: f64,
}

impl Scale {
    /// The scale named `s`.
    pub fn parse(s: &str) -> Option<Scale> {
        match s {
            "smoke" => Some(Scale {
                name: "smoke",
                plant_points: 20,
                plant_days: 30,
                province_points: 2_000,
                w4_points: 10_000,
                t2_samples: 20_000,
                query_reps: 5,
                query_budget_s: 0.5,
            }),
            "full" => Some(Scale {
                name: "full",
                plant_points: 500,
                plant_days: 365,
                province_points: 200_000,
                w4_points: 1_000_000,
                t2_samples: 200_000,
                query_reps: 7,
                query_budget_s: 5.0,
            }),
            _ => None,
        }
    }
}

/// One point of a workload.
#[derive(Clone, Debug)]
pub struct Point {
    /// Its metadata (key, kind, precision).
    pub meta: PointMeta,
    /// kgce per unit of consumption.
    pub coef: f64,
}

impl Point {
    /// Whether its daily consumption is meaningful.
    pub fn is_counter(&self) -> bool {
        self.meta.kind == PointKind::Counter
    }
}

/// One sample as it arrives: point index, timestamp (ms), value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    /// Index into [`Workload::points`].
    pub point: u32,
    /// Milliseconds since the epoch.
    pub ts: i64,
    /// The value.
    pub value: f64,
}

/// A workload: what arrives, in order, and what must be stored at the end.
#[derive(Clone, Debug)]
pub struct Workload {
    /// `W1`, `W2`, `W3`, `W4` or `R`.
    pub name: &'static str,
    /// One line about it.
    pub about: String,
    /// The points.
    pub points: Vec<Point>,
    /// Samples in arrival order (a correction arrives after the value it corrects).
    pub arrivals: Vec<Arrival>,
    /// Per point, the final samples in time order (last arrival of a timestamp wins).
    pub truth: Vec<Vec<(i64, f64)>>,
    /// Start of the query window (a UTC+8 midnight).
    pub start: i64,
    /// End of the query window (exclusive, a UTC+8 midnight).
    pub end: i64,
}

impl Workload {
    /// Indices of the counter points.
    pub fn counters(&self) -> Vec<u32> {
        (0..self.points.len() as u32)
            .filter(|&p| self.points[p as usize].is_counter())
            .collect()
    }
    /// Samples in the truth.
    pub fn samples(&self) -> usize {
        self.truth.iter().map(Vec::len).sum()
    }
}

fn round_to(v: f64, decimals: u32) -> f64 {
    // The value a meter reports as decimal text, as the simulator does.
    format!("{:.*}", decimals as usize, v).parse().unwrap_or(v)
}

fn points_of(meters: &[sim::Meter]) -> Vec<Point> {
    let mut counters = 0usize;
    meters
        .iter()
        .map(|m| {
            let coef = if m.meta.kind == PointKind::Counter {
                counters += 1;
                ENERGY[(counters - 1) % ENERGY.len()].2
            } else {
                0.0
            };
            Point {
                meta: m.meta.clone(),
                coef,
            }
        })
        .collect()
}

/// Interval-major arrival order (every point's sample of an interval, then the next) of
/// series on the common grid `start + i * INTERVAL_MS`.
fn interval_major(series: &[Vec<(i64, f64)>], start: i64, n: usize) -> Vec<Arrival> {
    let total = series.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total);
    let mut cur = vec![0usize; series.len()];
    for i in 0..n {
        let ts = start + i as i64 * INTERVAL_MS;
        for (p, s) in series.iter().enumerate() {
            if let Some(&(t, v)) = s.get(cur[p]) {
                if t == ts {
                    out.push(Arrival {
                        point: p as u32,
                        ts,
                        value: v,
                    });
                    cur[p] += 1;
                }
            }
        }
    }
    out
}

fn plant_series(scale: &Scale) -> (Vec<sim::Meter>, Vec<Vec<(i64, f64)>>) {
    let meters = sim::plant(scale.plant_points, 2026);
    let n = scale.plant_days * 96;
    let series = meters
        .iter()
        .map(|m| m.samples(YEAR_START, INTERVAL_MS, n))
        .collect();
    (meters, series)
}

/// W1 plant-year: a plant's meters at 15 minutes, arriving interval by interval.
pub fn w1(scale: &Scale) -> Workload {
    let (meters, series) = plant_series(scale);
    let n = scale.plant_days * 96;
    Workload {
        name: "W1",
        about: format!(
            "plant-year: {} points x {} days at 15 min (registers with 2-3 decimals, noisy gauges, constants, gaps), interval by interval",
            scale.plant_points, scale.plant_days
        ),
        points: points_of(&meters),
        arrivals: interval_major(&series, YEAR_START, n),
        truth: series,
        start: YEAR_START,
        end: YEAR_START + scale.plant_days as i64 * DAY_MS,
    }
}

/// W2 province-day: many points for one day, arriving interval by interval.
pub fn w2(scale: &Scale) -> Workload {
    province_day("W2", scale.province_points, 2027)
}

/// W4 large province-day: W2 at 1,000,000 points (full scale), for memory and bytes at the
/// size of a province with a few thousand units of hundreds of data items.
pub fn w4(scale: &Scale) -> Workload {
    province_day("W4", scale.w4_points, 2029)
}

/// `points` meters (simulated with `seed`) for one day at 15 minutes, interval by interval.
fn province_day(name: &'static str, points: usize, seed: u64) -> Workload {
    let start = (days_from_civil(2026, 6, 15) * DAY_MS) - 8 * 3_600_000;
    let meters = sim::plant(points, seed);
    let series: Vec<Vec<(i64, f64)>> = meters
        .iter()
        .map(|m| m.samples(start, INTERVAL_MS, 96))
        .collect();
    Workload {
        name,
        about: format!("province-day: {points} points x 1 day at 15 min, interval by interval"),
        points: points_of(&meters),
        arrivals: interval_major(&series, start, 96),
        truth: series,
        start,
        end: start + DAY_MS,
    }
}

/// W3 dirty: W1's meters with 2% of samples up to three days late, 0.5% first sent with a
/// wrong value and corrected later, extra meter replacements and outages of up to two days.
pub fn w3(scale: &Scale) -> Workload {
    let (meters, mut series) = plant_series(scale);
    let n = scale.plant_days * 96;
    let mut rng = Rng::new(3003);
    let mut replaced = 0;
    let mut outages = 0;
    for (p, s) in series.iter_mut().enumerate() {
        let meta = &meters[p].meta;
        // Meter replacement: from sample k on, the register restarts near zero.
        if meta.kind == PointKind::Counter && !s.is_empty() && rng.below(10) == 0 {
            let k = rng.below(s.len() as u64) as usize;
            let dec = u32::from(meta.precision.unwrap_or(3));
            let offset = s[k].1 - rng.unit() * 3.0;
            for x in &mut s[k..] {
                x.1 = round_to(x.1 - offset, dec);
            }
            replaced += 1;
        }
        // An outage of up to two days: those samples never arrive.
        if !s.is_empty() && rng.below(8) == 0 {
            let len = 1 + rng.below(192) as i64;
            let from = s[rng.below(s.len() as u64) as usize].0;
            let to = from + len * INTERVAL_MS;
            s.retain(|x| x.0 < from || x.0 >= to);
            outages += 1;
        }
    }
    // Arrival keys: the interval a sample arrives in.
    let mut keyed: Vec<(usize, Arrival)> = Vec::with_capacity(n * series.len() / 96 * 97);
    let mut late = 0usize;
    let mut corrected = 0usize;
    for a in interval_major(&series, YEAR_START, n) {
        let slot = ((a.ts - YEAR_START) / INTERVAL_MS) as usize;
        let r = rng.unit();
        if r < 0.02 {
            keyed.push((slot + 1 + rng.below(288) as usize, a));
            late += 1;
        } else if r < 0.025 {
            let dec = u32::from(meters[a.point as usize].meta.precision.unwrap_or(3));
            let wrong = round_to(a.value * (1.01 + 0.1 * rng.unit()) + 1.0, dec);
            keyed.push((slot, Arrival { value: wrong, ..a }));
            keyed.push((slot + 1 + rng.below(96) as usize, a));
            corrected += 1;
        } else {
            keyed.push((slot, a));
        }
    }
    keyed.sort_by_key(|k| k.0); // stable: a correction stays after what it corrects
    Workload {
        name: "W3",
        about: format!(
            "dirty: W1's {} points x {} days with {late} samples up to 3 days late, {corrected} sent wrong then corrected, {replaced} extra meter replacements, {outages} extra outages of up to 2 days",
            scale.plant_points, scale.plant_days
        ),
        points: points_of(&meters),
        arrivals: keyed.into_iter().map(|k| k.1).collect(),
        truth: series,
        start: YEAR_START,
        end: YEAR_START + scale.plant_days as i64 * DAY_MS,
    }
}

/// Path of the shared real data, relative to the repository root.
pub fn real_data_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/uk-meters.csv.gz")
}

/// R: every point of the shared real data, in file order. `None` when the file is absent.
pub fn real(path: &Path) -> Result<Option<Workload>, Box<dyn std::error::Error + Send + Sync>> {
    if !path.exists() {
        return Ok(None);
    }
    let r = BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(path)?));
    let mut keys: Vec<String> = Vec::new();
    let mut decimals: Vec<u32> = Vec::new();
    let mut arrivals = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        if i == 0 {
            continue;
        }
        let mut it = line.split(',');
        let (Some(p), Some(t), Some(v)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("line {}: expected point,ts,value", i + 1).into());
        };
        let idx = match keys.iter().position(|k| k == p) {
            Some(x) => x,
            None => {
                keys.push(p.to_string());
                decimals.push(0);
                keys.len() - 1
            }
        };
        let dec = v.split_once('.').map_or(0, |(_, f)| f.len() as u32);
        decimals[idx] = decimals[idx].max(dec);
        arrivals.push(Arrival {
            point: idx as u32,
            ts: meterdb::time::parse_timestamp(t)?,
            value: v.parse()?,
        });
    }
    let mut truth: Vec<Vec<(i64, f64)>> = vec![Vec::new(); keys.len()];
    for a in &arrivals {
        truth[a.point as usize].push((a.ts, a.value));
    }
    for s in &mut truth {
        // Stable sort, then keep the last arrival of each timestamp.
        s.sort_by_key(|x| x.0);
        let mut out: Vec<(i64, f64)> = Vec::with_capacity(s.len());
        for &x in s.iter() {
            match out.last_mut() {
                Some(l) if l.0 == x.0 => *l = x,
                _ => out.push(x),
            }
        }
        *s = out;
    }
    let points = keys
        .iter()
        .zip(&decimals)
        .map(|(k, &d)| {
            let counter = k.contains("register");
            let kind = if counter {
                PointKind::Counter
            } else {
                PointKind::Gauge
            };
            Point {
                meta: PointMeta::new(k.clone(), kind)
                    .with_unit(if k.starts_with("taylor") { "MW" } else { "kWh" })
                    .with_precision(d.min(9) as u8),
                coef: if counter { ENERGY[0].2 } else { 0.0 },
            }
        })
        .collect();
    let start = truth
        .iter()
        .filter_map(|s| s.first())
        .map(|x| crate::reference::day_floor(x.0))
        .min()
        .unwrap_or(0);
    let end = truth
        .iter()
        .filter_map(|s| s.last())
        .map(|x| crate::reference::day_floor(x.0) + DAY_MS)
        .max()
        .unwrap_or(0);
    Ok(Some(Workload {
        name: "R",
        about: format!(
            "real: {} points, {} rows of {} (UK smart meters, registers derived by running sums, England and Wales demand)",
            keys.len(),
            arrivals.len(),
            path.file_name().and_then(|f| f.to_str()).unwrap_or("?")
        ),
        points,
        arrivals,
        truth,
        start,
        end,
    }))
}
