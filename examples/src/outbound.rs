//! The platform's outbound data for the national platform, as the front-end machine
//! (前置机, [`crate::frontend`]) reads it: one durable MeterDB cursor, [`NATIONAL_CURSOR`],
//! on the platform's own database, served one batch at a time over HTTP
//! (`GET /api/v1/outbound`, `POST /api/v1/outbound/ack`).
//!
//! **Why through the platform and not from bundle files.** The database is open in one
//! process only (a second gets `ErrorKind::Locked`), so the front-end cannot open it; of the
//! two ways left, serving the cursor over HTTP keeps one copy of the backlog (the WAL the
//! cursor pins), lets the platform show it exactly in `GET /api/v1/health`, and costs no
//! files to clean up. Bundles (`Db::export_cursor_bundle`) would move the backlog to a
//! directory the front-end must import into a database of its own before it can read a
//! record of it (the engine has no reader of bundle contents): two copies, two caps, and a
//! backlog the platform no longer sees. Bundles are used where no link exists: the
//! isolation gateway ([`crate::isolation`]).
//!
//! **Protocol.** `GET` hands out the next batch of changes after the cursor as records (the
//! format of `POST /api/v1/data`: real-time samples and day, month and year statistics,
//! `inputType` and `valid` from the quality byte, statistics with their `revision` and
//! `corrected`, every record with the platform's change id as `id`), with `lastId`. The
//! front-end posts them to the national platform and then acknowledges `lastId`. A `GET`
//! while a batch is out and not acknowledged hands the same batch out again (the cursor is
//! rewound): a front-end that crashed or failed resends, and the national platform drops
//! what it has by change id. An acknowledgement of an id already acknowledged is a no-op
//! (an answer lost on the way back).
//!
//! **The cap.** While the national platform is down the cursor pins the WAL. Past
//! [`OutboundConfig::cap_bytes`] of WAL, the oldest undelivered changes are dropped for the
//! national link (the cursor is moved past them, each drop written to the upload log with
//! its id range and counted in the health answer): the province's own intake goes on. The
//! engine's `Retention::raw.max_bytes` with `drop_unacked` does the same for a gateway, but
//! it counts the raw segment files too (it would drop the platform's history first), so the
//! platform caps the WAL alone here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use meterdb::{Change, ChangeKind, CursorStart, Db, PointId, UploadOutcome, UploadRecord};
use serde_json::{json, Value};

use crate::records::{format_stat_date, input_type_of, Record, STAT_REALTIME};
use crate::upload::now_ms;

/// The cursor of the national link on the platform's database.
pub const NATIONAL_CURSOR: &str = "national";
/// Most changes in one outbound batch.
pub const MAX_OUTBOUND_BATCH: usize = 20_000;

/// How the outbound queue is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Most WAL bytes the national backlog may pin before its oldest changes are dropped.
    pub cap_bytes: u64,
}

impl OutboundConfig {
    /// WAL file size for a cap: small enough that dropping frees files at a fraction of it.
    pub fn wal_file_bytes(&self) -> u64 {
        (self.cap_bytes / 8).clamp(256 << 10, 64 << 20)
    }
}

/// What a point of the platform's database holds, for the outbound records.
#[derive(Clone, Debug)]
pub(crate) enum Held {
    /// Samples or a statistic of (enterprise, data code, stat type).
    Data(String, String, u8),
    /// The revisions of the statistic point.
    Revisions(PointId),
    /// Bookkeeping.
    Other,
}

#[derive(Debug, Default)]
struct State {
    /// (first id, last id, changes, records, wall time handed out) of the batch out.
    out: Option<(u64, u64, usize, usize, i64)>,
    /// The first change of the oldest batch not acknowledged: (id, point key, ts).
    oldest: Option<(u64, String, i64)>,
    held: Vec<Option<Held>>,
    /// Revisions read from the change stream (each is written just before its statistic,
    /// in the same batch), per (statistic point, period).
    revs: HashMap<(PointId, i64), f64>,
    delivered_records: u64,
    delivered_changes: u64,
    batches: u64,
    resent: u64,
    dropped_changes: u64,
    drops: u64,
    last_ack_at: Option<i64>,
}

/// The outbound queue of a platform.
#[derive(Debug)]
pub struct Outbound {
    cfg: OutboundConfig,
    wal_dir: PathBuf,
    st: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes of the WAL files in `dir` (the engine's `DbStats::wal_bytes` walks every segment
/// block too; this is read on every intake).
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// (enterprise, data code, stat type) of a platform point key.
pub(crate) fn parse_key(key: &str) -> Option<(&str, &str, u8)> {
    let mut it = key.split('/');
    let (e, c) = (it.next()?, it.next()?);
    let st = match it.next() {
        None => STAT_REALTIME,
        Some("d") => crate::records::STAT_DAY,
        Some("m") => crate::records::STAT_MONTH,
        Some("y") => crate::records::STAT_YEAR,
        Some(_) => return None,
    };
    (e.len() == 18 && it.next().is_none()).then_some((e, c, st))
}

/// The key suffix of a statistic type.
pub(crate) fn suffix(stat_type: u8) -> &'static str {
    match stat_type {
        crate::records::STAT_DAY => "d",
        crate::records::STAT_MONTH => "m",
        _ => "y",
    }
}

/// The revision stored for the statistic at `ts` in its revision point `_rev/{key}`, and
/// whether it replaced an earlier one (the sample's value is `revision * 2 + corrected`).
pub(crate) fn stored_revision(
    db: &Db,
    rid: PointId,
    ts: i64,
) -> meterdb::Result<Option<(u64, bool)>> {
    let c = db.read_range(rid, ts, ts + 1)?;
    Ok(c.values.first().map(|&v| {
        let v = v as u64;
        (v >> 1, v & 1 == 1)
    }))
}

impl State {
    /// The record of a change, if it is data (not bookkeeping and not a delete).
    fn record(&mut self, db: &Db, c: &Change) -> Option<Record> {
        if c.kind != ChangeKind::Sample {
            return None;
        }
        let i = c.point as usize;
        if self.held.len() <= i {
            self.held.resize(i + 1, None);
        }
        if self.held[i].is_none() {
            let m = db.point(c.point)?;
            self.held[i] = Some(match m.key.strip_prefix("_rev/") {
                Some(k) => db.point_id(k).map_or(Held::Other, Held::Revisions),
                None => parse_key(&m.key).map_or(Held::Other, |(e, d, s)| {
                    Held::Data(e.to_string(), d.to_string(), s)
                }),
            });
        }
        let (e, d, s) = match self.held[i].as_ref()? {
            Held::Revisions(p) => {
                self.revs.insert((*p, c.ts), c.value);
                return None;
            }
            Held::Other => return None,
            Held::Data(e, d, s) => (e.clone(), d.clone(), *s),
        };
        let rev = if s == STAT_REALTIME {
            None
        } else {
            self.revs
                .remove(&(c.point, c.ts))
                .map(|v| v as u64)
                .or_else(|| {
                    // Its revision was in an earlier batch: the one stored now.
                    let rid = db.point_id(&format!("_rev/{e}/{d}/{}", suffix(s)))?;
                    stored_revision(db, rid, c.ts)
                        .ok()?
                        .map(|(r, k)| r * 2 + u64::from(k))
                })
        };
        Some(Record {
            enterprise: e,
            data_code: d,
            value: c.value,
            input_type: input_type_of(c.quality),
            stat_type: s,
            stat_ts: c.ts,
            valid: meterdb::Quality(c.quality).is_valid(),
            id: Some(c.id),
            revision: rev.map(|r| r >> 1),
            corrected: rev.is_some_and(|r| r & 1 == 1),
        })
    }
}

/// A batch handed out.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The records to deliver.
    pub records: Vec<Record>,
    /// First and last change id of the batch (`None` when there is nothing to deliver).
    pub ids: Option<(u64, u64)>,
    /// Changes read (records and bookkeeping).
    pub changes: usize,
    /// Whether this batch was handed out before and not acknowledged.
    pub again: bool,
}

impl Outbound {
    /// The queue of the database at `db_dir`, creating its cursor if needed (from the oldest
    /// change the WAL holds).
    pub fn open(db: &Db, db_dir: &Path, cfg: OutboundConfig) -> meterdb::Result<Outbound> {
        if !db.cursors().iter().any(|c| c.name == NATIONAL_CURSOR) {
            db.create_cursor(NATIONAL_CURSOR, CursorStart::Beginning)?;
        }
        Ok(Outbound {
            cfg,
            wal_dir: db_dir.join("wal"),
            st: Mutex::new(State::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> OutboundConfig {
        self.cfg
    }

    /// The next batch of at most `max` changes (the batch out again if it was not
    /// acknowledged).
    pub fn next_batch(&self, db: &Db, max: usize) -> meterdb::Result<Batch> {
        let mut st = lock(&self.st);
        let again = st.out.is_some();
        if again {
            db.cursor_rewind(NATIONAL_CURSOR)?;
            st.revs.clear();
            st.out = None;
            st.resent += 1;
        }
        let changes = db.cursor_read(NATIONAL_CURSOR, max.clamp(1, MAX_OUTBOUND_BATCH))?;
        let (Some(first), Some(last)) = (changes.first(), changes.last()) else {
            st.oldest = None;
            return Ok(Batch {
                records: Vec::new(),
                ids: None,
                changes: 0,
                again,
            });
        };
        let (first_id, last_id) = (first.id, last.id);
        let oldest = db
            .point(first.point)
            .map(|m| (first_id, m.key, first.ts))
            .unwrap_or((first_id, String::new(), first.ts));
        let records: Vec<Record> = changes.iter().filter_map(|c| st.record(db, c)).collect();
        st.out = Some((first_id, last_id, changes.len(), records.len(), now_ms()));
        if st.oldest.as_ref().is_none_or(|o| o.0 > first_id) || !again {
            st.oldest = Some(oldest);
        }
        st.batches += 1;
        Ok(Batch {
            records,
            ids: Some((first_id, last_id)),
            changes: changes.len(),
            again,
        })
    }

    /// Acknowledges the batch out whose last change is `last_id` (delivered); a repeated
    /// acknowledgement of an id already acknowledged is a no-op. `Err` with a message for
    /// the client when `last_id` is not the batch out.
    pub fn ack(&self, db: &Db, last_id: u64) -> Result<bool, String> {
        let mut st = lock(&self.st);
        let acked = db
            .cursors()
            .into_iter()
            .find(|c| c.name == NATIONAL_CURSOR)
            .map(|c| c.acked)
            .unwrap_or(0);
        match st.out {
            Some((_, last, changes, records, _)) if last == last_id => {
                db.cursor_ack(NATIONAL_CURSOR, last_id)
                    .map_err(|e| format!("acknowledging: {e}"))?;
                st.out = None;
                st.oldest = None;
                st.delivered_changes += changes as u64;
                st.delivered_records += records as u64;
                st.last_ack_at = Some(now_ms());
                Ok(true)
            }
            _ if last_id < acked => Ok(false),
            _ => Err(format!(
                "change {last_id} is not the last change of the batch handed out; ask for the batch again"
            )),
        }
    }

    /// Drops the oldest undelivered changes while the WAL is over the cap (checked after
    /// every intake: a directory listing). Returns the changes dropped.
    pub fn enforce_cap(&self, db: &Db) -> meterdb::Result<u64> {
        let mut st = lock(&self.st);
        let now = now_ms();
        if dir_bytes(&self.wal_dir) <= self.cfg.cap_bytes {
            return Ok(0);
        }
        // What is not flushed pins the WAL too: flush first, then drop what is still over.
        db.flush()?;
        let mut dropped = 0u64;
        // Down to three quarters of the cap, in small steps (a WAL file is freed once every
        // change in it is acknowledged), so that not every intake drops again.
        while dir_bytes(&self.wal_dir) > self.cfg.cap_bytes / 4 * 3 {
            if st.out.take().is_some() {
                db.cursor_rewind(NATIONAL_CURSOR)?;
                st.revs.clear();
            }
            let changes = db.cursor_read(NATIONAL_CURSOR, 4096)?;
            let (Some(f), Some(l)) = (changes.first(), changes.last()) else {
                break;
            };
            let (first, last) = (f.id, l.id);
            db.cursor_ack(NATIONAL_CURSOR, last)?;
            dropped += changes.len() as u64;
            st.dropped_changes += changes.len() as u64;
            st.drops += 1;
            st.oldest = None;
            let rec = UploadRecord {
                cursor: NATIONAL_CURSOR.into(),
                first_id: first,
                last_id: last,
                samples: changes.len() as u64,
                outcome: UploadOutcome::Failed(format!(
                    "dropped for the national link: its backlog pinned more than {} bytes of WAL",
                    self.cfg.cap_bytes
                )),
                platform_time: None,
                at: now,
            };
            db.record_upload(&rec)?;
            eprintln!(
                "provincial: national backlog over {} bytes: dropped changes {first}..={last} ({})",
                self.cfg.cap_bytes,
                changes.len()
            );
        }
        Ok(dropped)
    }

    /// The backlog's state, for `GET /api/v1/health`.
    pub fn health(&self, db: &Db) -> Value {
        let mut st = lock(&self.st);
        let info = db.cursors().into_iter().find(|c| c.name == NATIONAL_CURSOR);
        let pending = info.as_ref().map_or(0, |c| c.pending_records);
        // Nothing out and nothing known: look at the first change after the cursor.
        if st.out.is_none() && st.oldest.is_none() && pending > 0 {
            if let Ok(c) = db.cursor_read(NATIONAL_CURSOR, 1) {
                if let Some(f) = c.first() {
                    let key = db.point(f.point).map(|m| m.key).unwrap_or_default();
                    st.oldest = Some((f.id, key, f.ts));
                }
                let _ = db.cursor_rewind(NATIONAL_CURSOR);
            }
        }
        let now = now_ms();
        let oldest = st.oldest.as_ref().map(|(id, key, ts)| {
            json!({"id": id, "point": key, "time": format_stat_date(STAT_REALTIME, *ts)})
        });
        let out = st.out.map(|(f, l, n, r, at)| {
            json!({"firstId": f, "lastId": l, "changes": n, "records": r, "handedOutAgoMs": now - at})
        });
        json!({
            "cursor": NATIONAL_CURSOR,
            "backlogWalRecords": pending,
            "empty": pending == 0 && st.out.is_none(),
            "oldestUndelivered": oldest,
            "batchOut": out,
            "walBytes": dir_bytes(&self.wal_dir),
            "capBytes": self.cfg.cap_bytes,
            "deliveredRecords": st.delivered_records,
            "deliveredChanges": st.delivered_changes,
            "batches": st.batches,
            "batchesResent": st.resent,
            "droppedChanges": st.dropped_changes,
            "drops": st.drops,
            "lastDeliveryAgoMs": st.last_ack_at.map(|t| now - t),
        })
    }
}
