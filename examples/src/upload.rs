//! Resend until acknowledged: one destination with its own durable MeterDB cursor.
//!
//! Each upload reads a batch from the cursor, posts it, and acknowledges the cursor only
//! after a 2xx answer; on any failure the cursor is rewound to its last acknowledgement and
//! the destination is left alone for a while (in wall time: exponential backoff with a cap
//! and jitter, [`crate::frontend::Backoff`], from [`Destination::set_retry`]'s first wait,
//! doubling after each failure up to its cap, back to the first after a success). Every
//! attempt, good or bad, is
//! written to the database's upload log with [`Db::record_upload`]. After a crash the
//! cursor resumes at its last acknowledgement: at-least-once, with the change id in every
//! real-time record so that the receiver drops what it already has.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meterdb::{BucketChange, Change, CursorStart, Db, Tier, UploadOutcome, UploadRecord};

use crate::frontend::Backoff;
use crate::records::{to_body, Record};

/// Wall-clock time in ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A cursor name for a URL: `up-` and a hash of it (names are file names).
pub fn cursor_name(url: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("up-{h:016x}")
}

/// One destination.
#[derive(Debug)]
pub struct Destination {
    /// The URL records are POSTed to.
    pub url: String,
    /// Bearer token.
    pub token: String,
    /// The cursor.
    pub cursor: String,
    /// How long to leave the destination alone after failures.
    backoff: Backoff,
    /// The wait after the last failure.
    pub last_wait: Duration,
    /// Records per request.
    pub batch: usize,
    agent: ureq::Agent,
    next_try: Option<Instant>,
    /// Failed attempts in this process.
    pub failures: u64,
    /// Records acknowledged in this process.
    pub acked: u64,
    /// Records the platform rejected (in 2xx answers) in this process.
    pub rejected: u64,
    /// Where rejected records are kept ([`Destination::keep_rejected_in`]).
    rejected_dir: Option<std::path::PathBuf>,
    /// The device epoch named in every request (`X-Meterdb-Epoch`), if the platform issued
    /// one.
    pub epoch: Option<u64>,
    /// Why the last attempt failed, if it did (`None` after a success).
    pub last_error: Option<String>,
    /// When (wall clock, ms) the platform last acknowledged a request in this process.
    pub last_ok_at: Option<i64>,
}

/// What a 2xx answer said.
#[derive(Debug, Clone, Default)]
pub struct Posted {
    /// The platform's time.
    pub server_time: Option<i64>,
    /// Records it rejected (all of them; `rejected` lists at most 1,000).
    pub rejected_count: u64,
    /// The rejections listed: `{"index","dataCode","field","reason"}`.
    pub rejected: Vec<serde_json::Value>,
}

/// What an upload pass ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Nothing is left to send.
    Idle,
    /// An attempt failed, or the destination is waiting after a failure.
    Backoff,
}

impl Destination {
    /// A destination, creating its cursor (from the database's first change) if needed.
    pub fn open(db: &Db, url: &str, token: &str) -> meterdb::Result<Destination> {
        let cursor = cursor_name(url);
        if !db.cursors().iter().any(|c| c.name == cursor) {
            db.create_cursor(&cursor, CursorStart::Beginning)?;
        }
        Ok(Destination {
            url: url.to_string(),
            token: token.to_string(),
            cursor,
            backoff: Backoff::new(Duration::from_millis(300), Duration::from_secs(30)),
            last_wait: Duration::ZERO,
            batch: 5000,
            agent: crate::tls::agent(None, Duration::from_millis(1000), Duration::from_secs(10)),
            next_try: None,
            failures: 0,
            acked: 0,
            rejected: 0,
            rejected_dir: None,
            epoch: None,
            last_error: None,
            last_ok_at: None,
        })
    }

    /// Trusts the CAs of `tls` ([`crate::tls::client_config`]) for an `https://` URL.
    pub fn set_tls(&mut self, tls: Option<&std::sync::Arc<rustls::ClientConfig>>) {
        self.agent = crate::tls::agent(tls, Duration::from_millis(1000), Duration::from_secs(10));
    }

    /// After a failure, wait `first` (±20 %), doubling after each further failure up to
    /// `cap` (defaults: 300 ms and 30 s).
    pub fn set_retry(&mut self, first: Duration, cap: Duration) {
        self.backoff = Backoff::new(first, cap);
    }

    /// Keeps the records a platform rejects in `dir/{cursor}.jsonl` (directory 0700, file
    /// 0600): one line per record, `{"t","cursor","field","reason","record"}`.
    pub fn keep_rejected_in(&mut self, dir: &std::path::Path) {
        self.rejected_dir = Some(dir.to_path_buf());
    }

    /// A 2xx answer listed rejected records: kept, logged (a second upload-log entry under
    /// `{cursor}{what}:rejected`, outcome failed with the first reason) and counted.
    fn rejections(&mut self, db: &Db, what: &str, records: &[Record], upload_ts: i64, p: &Posted) {
        if p.rejected_count == 0 {
            return;
        }
        self.rejected += p.rejected_count;
        let first = p.rejected.first().map_or(String::new(), |r| {
            format!(
                "; first: {} {}: {}",
                r["dataCode"].as_str().unwrap_or("-"),
                r["field"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap_or("-")
            )
        });
        let msg = format!(
            "{} records rejected by the platform{first}",
            p.rejected_count
        );
        eprintln!("{}: {msg}", self.url);
        log(
            db,
            format!("{}{what}:rejected", self.cursor),
            0,
            0,
            p.rejected_count as usize,
            UploadOutcome::Failed(msg),
            p.server_time,
        );
        if let Some(dir) = &self.rejected_dir {
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
            let path = dir.join(format!("{}.jsonl", self.cursor));
            let mut out = String::new();
            for r in &p.rejected {
                let rec = r["index"]
                    .as_u64()
                    .and_then(|i| records.get(i as usize))
                    .map(|x| x.to_json(upload_ts));
                out.push_str(
                    &serde_json::json!({"t": now_ms(), "cursor": format!("{}{what}", self.cursor),
                        "field": r["field"], "reason": r["reason"], "record": rec})
                    .to_string(),
                );
                out.push('\n');
            }
            let w = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .mode(0o600)
                        .open(&path)
                })
                .and_then(|mut f| {
                    std::io::Write::write_all(&mut f, out.as_bytes()).and_then(|()| f.sync_data())
                });
            if let Err(e) = w {
                eprintln!("{}: keeping rejected records: {e}", path.display());
            }
        }
    }

    /// Posts a body; what the platform said on a 2xx answer.
    pub fn post(&self, body: &str) -> Result<Posted, String> {
        let mut req = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .set("Authorization", &format!("Bearer {}", self.token));
        if let Some(e) = self.epoch {
            req = req.set("X-Meterdb-Epoch", &e.to_string());
        }
        let r = req.send_string(body);
        match r {
            Ok(resp) => {
                let text = resp
                    .into_string()
                    .map_err(|e| format!("reading answer: {e}"))?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| format!("answer is not JSON: {e}"))?;
                Ok(Posted {
                    server_time: v["serverTime"].as_i64(),
                    rejected_count: v["rejectedCount"].as_u64().unwrap_or(0),
                    rejected: v["rejected"].as_array().cloned().unwrap_or_default(),
                })
            }
            Err(ureq::Error::Status(code, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                Err(format!(
                    "http {code}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn waiting(&self) -> bool {
        self.next_try.is_some_and(|t| Instant::now() < t)
    }

    fn failed(&mut self, db: &Db, what: &str, first: u64, last: u64, n: usize, e: String) -> Pass {
        self.failures += 1;
        self.last_error = Some(e.chars().take(300).collect());
        self.last_wait = self.backoff.fail();
        self.next_try = Some(Instant::now() + self.last_wait);
        log(
            db,
            format!("{}{what}", self.cursor),
            first,
            last,
            n,
            UploadOutcome::Failed(e),
            None,
        );
        // Everything not acknowledged is read again next time.
        if let Err(e) = db.cursor_rewind(&self.cursor) {
            eprintln!("rewind {}: {e}", self.cursor);
        }
        Pass::Backoff
    }

    /// Sends every change after the cursor that `map` turns into a record, in batches,
    /// acknowledging each batch after a 2xx answer. Changes `map` skips are acknowledged
    /// with the batch (or alone when a batch has no record).
    pub fn send_changes(
        &mut self,
        db: &Db,
        upload_ts: i64,
        map: &mut dyn FnMut(&Change) -> Option<Record>,
    ) -> meterdb::Result<Pass> {
        if self.waiting() {
            return Ok(Pass::Backoff);
        }
        loop {
            let changes = db.cursor_read(&self.cursor, self.batch)?;
            let Some(last) = changes.last() else {
                return Ok(Pass::Idle);
            };
            let (first_id, last_id) = (changes[0].id, last.id);
            let records: Vec<Record> = changes.iter().filter_map(&mut *map).collect();
            if records.is_empty() {
                db.cursor_ack(&self.cursor, last_id)?;
                continue;
            }
            match self.post(&to_body(&records, upload_ts)) {
                Ok(p) => {
                    self.backoff.reset();
                    (self.last_error, self.last_ok_at) = (None, Some(now_ms()));
                    db.cursor_ack(&self.cursor, last_id)?;
                    self.acked += records.len() as u64;
                    log(
                        db,
                        self.cursor.clone(),
                        first_id,
                        last_id,
                        records.len(),
                        UploadOutcome::Ok,
                        p.server_time,
                    );
                    self.rejections(db, "", &records, upload_ts, &p);
                }
                Err(e) => {
                    return Ok(self.failed(db, "", first_id, last_id, records.len(), e));
                }
            }
        }
    }

    /// Sends the closed buckets of `tier` (closed at `watermark`), in batches, acknowledging
    /// each batch after a 2xx answer.
    pub fn send_buckets(
        &mut self,
        db: &Db,
        tier: Tier,
        watermark: i64,
        upload_ts: i64,
        map: &mut dyn FnMut(&BucketChange) -> Option<Record>,
    ) -> meterdb::Result<Pass> {
        if self.waiting() {
            return Ok(Pass::Backoff);
        }
        loop {
            let rows = db.cursor_read_buckets(&self.cursor, tier, self.batch, Some(watermark))?;
            let Some(last) = rows.last() else {
                return Ok(Pass::Idle);
            };
            let (ls, lp) = (last.row.bucket.start, last.point);
            let records: Vec<Record> = rows.iter().filter_map(&mut *map).collect();
            let what = format!(":{}", tier.as_str());
            if !records.is_empty() {
                match self.post(&to_body(&records, upload_ts)) {
                    Ok(p) => {
                        self.backoff.reset();
                        (self.last_error, self.last_ok_at) = (None, Some(now_ms()));
                        self.acked += records.len() as u64;
                        log(
                            db,
                            format!("{}{what}", self.cursor),
                            0,
                            0,
                            records.len(),
                            UploadOutcome::Ok,
                            p.server_time,
                        );
                        self.rejections(db, &what, &records, upload_ts, &p);
                    }
                    Err(e) => return Ok(self.failed(db, &what, 0, 0, records.len(), e)),
                }
            }
            db.cursor_ack_buckets(&self.cursor, tier, ls, lp)?;
        }
    }
}

fn log(
    db: &Db,
    cursor: String,
    first_id: u64,
    last_id: u64,
    n: usize,
    outcome: UploadOutcome,
    platform_time: Option<i64>,
) {
    let rec = UploadRecord {
        cursor,
        first_id,
        last_id,
        samples: n as u64,
        outcome,
        platform_time,
        at: now_ms(),
    };
    if let Err(e) = db.record_upload(&rec) {
        eprintln!("upload log: {e}");
    }
}

/// Peak resident set size of this process in KiB (`VmHWM` of /proc/self/status).
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_destination_backs_off_exponentially_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), meterdb::Options::default()).unwrap();
        let p = db.ensure_point("p").unwrap();
        db.put(p, 1000, 1.0).unwrap();
        // Nothing listens on port 1: every attempt fails at once.
        let mut d = Destination::open(&db, "http://127.0.0.1:1/api/v1/data", "t").unwrap();
        let (first, cap) = (Duration::from_millis(10), Duration::from_millis(80));
        d.set_retry(first, cap);
        let mut map = |c: &Change| {
            Some(Record {
                enterprise: "x".into(),
                data_code: "y".into(),
                value: c.value,
                input_type: 1,
                stat_type: 0,
                stat_ts: c.ts,
                valid: true,
                id: Some(c.id),
                revision: None,
                corrected: false,
            })
        };
        let mut waits = Vec::new();
        while waits.len() < 7 {
            match d.send_changes(&db, 0, &mut map).unwrap() {
                Pass::Backoff if d.failures as usize > waits.len() => waits.push(d.last_wait),
                Pass::Backoff => std::thread::sleep(Duration::from_millis(2)),
                Pass::Idle => panic!("nothing was acknowledged"),
            }
        }
        // 10, 20, 40, 80, 80, ... ms, each within ±20 % and never above the cap.
        for (i, w) in waits.iter().enumerate() {
            let step = (first * 2u32.pow(i as u32)).min(cap);
            assert!(
                *w >= step.mul_f64(0.8) && *w <= step.mul_f64(1.2).min(cap),
                "wait {i}: {w:?}, step {step:?} ({waits:?})"
            );
        }
        assert_eq!(d.acked, 0);
    }
}
