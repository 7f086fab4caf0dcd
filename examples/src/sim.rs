//! Simulated energy meters, generated from a seed: the same bytes on every run.
//!
//! A plant has cumulative registers (kWh, m³, GJ: 2 or 3 decimals, only rising, with the odd
//! meter replacement that drops the reading to near zero), instantaneous gauges (kW, flow,
//! temperature: noisy around a daily pattern), a few constant points and a few with gaps.

use meterdb::{PointKind, PointMeta};

/// A small, fast, deterministic random number generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A uniform integer in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// What kind of series a simulated meter produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// A cumulative register with `decimals` digits, rising by about `rate` per interval.
    Register { decimals: u32, rate: f64 },
    /// A gauge with `decimals` digits around `level`, with a daily cycle and noise.
    Gauge { decimals: u32, level: f64 },
    /// Always the same reading.
    Constant(f64),
}

/// One simulated meter.
#[derive(Debug, Clone)]
pub struct Meter {
    /// Its metadata.
    pub meta: PointMeta,
    /// Its series.
    pub shape: Shape,
    /// Whether it has outages (missing intervals, up to two days).
    pub gappy: bool,
    seed: u64,
}

fn round_to(v: f64, decimals: u32) -> f64 {
    // Text round trip: the value a meter reports as decimal text.
    format!("{:.*}", decimals as usize, v).parse().unwrap_or(v)
}

impl Meter {
    /// The meter's samples at `interval_ms` from `start` for `n` intervals.
    pub fn samples(&self, start: i64, interval_ms: i64, n: usize) -> Vec<(i64, f64)> {
        let mut rng = Rng::new(self.seed);
        let mut out = Vec::with_capacity(n);
        let mut reading = 10_000.0 + rng.unit() * 90_000.0;
        let mut gap_left = 0usize;
        let per_day = (86_400_000 / interval_ms).max(1) as usize;
        let replace_at = if matches!(self.shape, Shape::Register { .. }) && rng.below(8) == 0 {
            Some(rng.below(n as u64) as usize)
        } else {
            None
        };
        for i in 0..n {
            let ts = start + i as i64 * interval_ms;
            let v = match self.shape {
                Shape::Register { decimals, rate } => {
                    if Some(i) == replace_at {
                        reading = rng.unit() * 5.0; // a new meter starts near zero
                    }
                    let hour = (i % per_day) as f64 / per_day as f64;
                    let load = 0.6 + 0.4 * (std::f64::consts::TAU * hour).sin().abs();
                    reading += rate * load * (0.8 + 0.4 * rng.unit());
                    reading = round_to(reading, decimals);
                    reading
                }
                Shape::Gauge { decimals, level } => {
                    let hour = (i % per_day) as f64 / per_day as f64;
                    let cycle = 1.0 + 0.3 * (std::f64::consts::TAU * hour).sin();
                    round_to(level * cycle + level * 0.05 * (rng.unit() - 0.5), decimals)
                }
                Shape::Constant(c) => c,
            };
            if self.gappy {
                if gap_left > 0 {
                    gap_left -= 1;
                    continue;
                }
                if rng.below(per_day as u64 * 20) == 0 {
                    gap_left = rng.below(per_day as u64 * 2) as usize;
                    continue;
                }
            }
            out.push((ts, v));
        }
        out
    }
}

/// The meters of a plant: `n` points, about 60% registers, 30% gauges, the rest constant;
/// one in twenty has outages.
pub fn plant(n: usize, seed: u64) -> Vec<Meter> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let r = rng.below(100);
            let (kind, shape, unit) = if r < 60 {
                let decimals = 2 + (rng.below(2) as u32);
                let rate = [0.5, 5.0, 50.0, 500.0][rng.below(4) as usize];
                (
                    PointKind::Counter,
                    Shape::Register { decimals, rate },
                    "kWh",
                )
            } else if r < 92 {
                let decimals = 1 + (rng.below(2) as u32);
                let level = [3.5, 40.0, 250.0, 1800.0][rng.below(4) as usize];
                (PointKind::Gauge, Shape::Gauge { decimals, level }, "kW")
            } else {
                (
                    PointKind::Gauge,
                    Shape::Constant((rng.below(100) as f64) / 10.0),
                    "MPa",
                )
            };
            let decimals = match shape {
                Shape::Register { decimals, .. } | Shape::Gauge { decimals, .. } => decimals,
                Shape::Constant(_) => 1,
            };
            Meter {
                meta: PointMeta::new(format!("91350100MA2PLANT01X{:016}", 100_000 + i), kind)
                    .with_unit(unit)
                    .with_precision(decimals as u8)
                    .with_interval_ms(900_000),
                shape,
                gappy: rng.below(20) == 0,
                seed: rng.next_u64(),
            }
        })
        .collect()
}
