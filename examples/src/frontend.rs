//! The front-end machine (前置机): a process of its own between the provincial platform and
//! the national one (`provincial frontend`). It takes the platform's outbound data one batch
//! at a time (`GET /api/v1/outbound`, [`crate::outbound`]), posts the records unchanged to
//! the national platform's `POST /api/v1/data`, and acknowledges the batch to the platform
//! (`POST /api/v1/outbound/ack`) only after a 2xx answer. Any failure (either side) waits
//! with exponential backoff, doubling from [`FrontendConfig::backoff_min`] up to
//! [`FrontendConfig::backoff_max`] with ±20 % jitter, and starts again from the batch the
//! platform still has out. It keeps no state of its own: the backlog and the delivery
//! position are the platform's cursor, durable there; the national platform drops what it
//! already stored by change id, so a batch resent after a lost answer is stored once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::sim::Rng;

/// How a front-end runs.
#[derive(Debug, Clone)]
pub struct FrontendConfig {
    /// The provincial platform's base URL.
    pub platform: String,
    /// The front-end's token at the platform (a `frontend` credential).
    pub platform_token: String,
    /// The national platform's base URL.
    pub national: String,
    /// The province's token at the national platform (a `national` credential there).
    pub national_token: String,
    /// Changes per batch.
    pub batch: usize,
    /// First wait after a failure.
    pub backoff_min: Duration,
    /// Longest wait after failures.
    pub backoff_max: Duration,
    /// Wait when there is nothing to deliver.
    pub poll: Duration,
    /// The CAs trusted for an `https://` platform URL (`None`: the public roots).
    pub platform_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The CAs trusted for an `https://` national URL (`None`: the public roots).
    pub national_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl FrontendConfig {
    /// A configuration with the default batch (5,000), backoff (100 ms to 30 s) and poll
    /// (200 ms).
    pub fn new(platform: &str, platform_token: &str, national: &str, national_token: &str) -> Self {
        FrontendConfig {
            platform: platform.trim_end_matches('/').to_string(),
            platform_token: platform_token.to_string(),
            national: national.trim_end_matches('/').to_string(),
            national_token: national_token.to_string(),
            batch: 5000,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            poll: Duration::from_millis(200),
            platform_tls: None,
            national_tls: None,
        }
    }
}

/// What a front-end did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FrontendStats {
    /// Records the national platform answered 2xx for.
    pub delivered: u64,
    /// Of them, the ones it refused (listed in its answer's `rejectedCount`).
    pub rejected: u64,
    /// Batches acknowledged to the platform.
    pub batches: u64,
    /// Failed attempts at the national platform.
    pub national_failures: u64,
    /// Failed requests to the provincial platform.
    pub platform_failures: u64,
    /// The longest wait after a failure, in ms.
    pub longest_wait_ms: u64,
}

/// Exponential backoff with a cap and jitter.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    rng: Rng,
}

impl Backoff {
    /// Starting at `min`, doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
            rng: Rng::new(u64::from(std::process::id()) ^ crate::upload::now_ms() as u64),
        }
    }

    /// The wait after one more failure: the current step with ±20 % jitter (never above
    /// the cap); the step doubles.
    pub fn fail(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let j = 0.8 + 0.4 * self.rng.unit();
        base.mul_f64(j).min(self.max)
    }

    /// After a success: back to the first step.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutBatch<'a> {
    #[serde(borrow)]
    records: &'a RawValue,
    last_id: Option<u64>,
}

fn http_error(e: ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, resp) => {
            let text = resp.into_string().unwrap_or_default();
            format!(
                "http {code}: {}",
                text.chars().take(200).collect::<String>()
            )
        }
        e => e.to_string(),
    }
}

/// Sleeps `d` in steps, returning early when `stop` is set.
fn nap(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs a front-end until `stop` is set (or, with `until_empty`, until the platform has
/// nothing left to deliver). `say` gets a line for every change of state (an outage
/// starting and ending, each wait).
pub fn run(
    cfg: &FrontendConfig,
    stop: &AtomicBool,
    until_empty: bool,
    say: &mut dyn FnMut(&str),
) -> FrontendStats {
    let (connect, total) = (Duration::from_millis(1000), Duration::from_secs(30));
    // One agent per side: each trusts its own CAs.
    let agent = crate::tls::agent(cfg.platform_tls.as_ref(), connect, total);
    let nagent = crate::tls::agent(cfg.national_tls.as_ref(), connect, total);
    let out_url = format!("{}/api/v1/outbound?max={}", cfg.platform, cfg.batch.max(1));
    let ack_url = format!("{}/api/v1/outbound/ack", cfg.platform);
    let data_url = format!("{}/api/v1/data", cfg.national);
    let pbearer = format!("Bearer {}", cfg.platform_token);
    let nbearer = format!("Bearer {}", cfg.national_token);
    let mut st = FrontendStats::default();
    let mut backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
    let mut down_since: Option<Instant> = None;
    let wait = |st: &mut FrontendStats,
                b: &mut Backoff,
                say: &mut dyn FnMut(&str),
                what: &str,
                e: &str| {
        let d = b.fail();
        st.longest_wait_ms = st.longest_wait_ms.max(d.as_millis() as u64);
        say(&format!(
            "{what}: {e}; next attempt in {} ms",
            d.as_millis()
        ));
        nap(d, stop);
    };
    while !stop.load(Ordering::Acquire) {
        let text = match agent
            .get(&out_url)
            .set("Authorization", &pbearer)
            .call()
            .map_err(http_error)
            .and_then(|r| r.into_string().map_err(|e| e.to_string()))
        {
            Ok(t) => t,
            Err(e) => {
                st.platform_failures += 1;
                wait(&mut st, &mut backoff, say, "platform", &e);
                continue;
            }
        };
        let batch: OutBatch<'_> = match serde_json::from_str(&text) {
            Ok(b) => b,
            Err(e) => {
                st.platform_failures += 1;
                wait(
                    &mut st,
                    &mut backoff,
                    say,
                    "platform",
                    &format!("bad answer: {e}"),
                );
                continue;
            }
        };
        let Some(last_id) = batch.last_id else {
            backoff.reset();
            if until_empty {
                break;
            }
            nap(cfg.poll, stop);
            continue;
        };
        let body = batch.records.get();
        // "[]" when the batch holds bookkeeping only: nothing to post, acknowledge it.
        if body.trim() != "[]" {
            match nagent
                .post(&data_url)
                .set("Authorization", &nbearer)
                .set("Content-Type", "application/json")
                .send_string(body)
                .map_err(http_error)
                .and_then(|r| r.into_string().map_err(|e| e.to_string()))
            {
                Ok(answer) => {
                    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
                    st.delivered += v["accepted"].as_u64().unwrap_or(0)
                        + v["duplicates"].as_u64().unwrap_or(0)
                        + v["superseded"].as_u64().unwrap_or(0);
                    st.rejected += v["rejectedCount"].as_u64().unwrap_or(0);
                    if let Some(t) = down_since.take() {
                        say(&format!(
                            "national platform reachable again after {:.1} s",
                            t.elapsed().as_secs_f64()
                        ));
                    }
                }
                Err(e) => {
                    st.national_failures += 1;
                    down_since.get_or_insert_with(Instant::now);
                    wait(&mut st, &mut backoff, say, "national platform", &e);
                    continue;
                }
            }
        }
        // Delivered: acknowledge, until the platform has it (a repeat is a no-op there).
        loop {
            let r = agent
                .post(&ack_url)
                .set("Authorization", &pbearer)
                .set("Content-Type", "application/json")
                .send_string(&format!("{{\"lastId\":{last_id}}}"));
            match r {
                Ok(_) => {
                    st.batches += 1;
                    backoff.reset();
                    break;
                }
                Err(ureq::Error::Status(409, _)) => break, // the platform handed it out again
                Err(e) => {
                    st.platform_failures += 1;
                    wait(
                        &mut st,
                        &mut backoff,
                        say,
                        "platform (acknowledging)",
                        &http_error(e),
                    );
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                }
            }
        }
    }
    st
}
