//! The upload log: a durable, append-only record of upload attempts (which cursor, which
//! change ids, how many samples, success or the failure message, the platform's time).
//!
//! It is a [`Wal`] of its own in `uploads/` (same files, framing and checksums as the
//! write-ahead log; each record's payload is one encoded [`UploadRecord`]), synced on every
//! append. Whole files are deleted once they hold only records beyond the retention
//! limits ([`super::Options::upload_records_keep`] and
//! [`super::Options::upload_records_max_age_ms`]).

use std::collections::VecDeque;

use super::{Db, Inner};
use crate::error::{Error, Result};
use crate::format::{put_i64, put_u64, put_uvarint, Reader};
use crate::sample::Timestamp;
use crate::wal::{self, Wal, WalOptions};

/// The directory of the upload log, inside the database directory.
pub(crate) const UPLOAD_DIR: &str = "uploads";
const RECORD_VERSION: u8 = 1;
/// Files of the upload log are small, so that retention frees space in small steps.
const UPLOAD_FILE_BYTES: u64 = 256 * 1024;

/// How an upload attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadOutcome {
    /// The platform accepted it.
    Ok,
    /// It failed; the message says why.
    Failed(String),
}

/// Which records [`Db::upload_records`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeFilter {
    /// Every record.
    All,
    /// Successful uploads.
    Ok,
    /// Failed uploads.
    Failed,
}

/// One upload attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadRecord {
    /// The cursor whose changes were sent.
    pub cursor: String,
    /// Id of the first change sent.
    pub first_id: u64,
    /// Id of the last change sent.
    pub last_id: u64,
    /// Samples sent.
    pub samples: u64,
    /// Success or failure.
    pub outcome: UploadOutcome,
    /// The time the platform reported, if it did.
    pub platform_time: Option<Timestamp>,
    /// When the attempt was made (ms, UTC).
    pub at: Timestamp,
}

impl UploadRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.cursor.len());
        out.push(RECORD_VERSION);
        put_uvarint(&mut out, self.cursor.len() as u64);
        out.extend_from_slice(self.cursor.as_bytes());
        put_u64(&mut out, self.first_id);
        put_u64(&mut out, self.last_id);
        put_u64(&mut out, self.samples);
        match &self.outcome {
            UploadOutcome::Ok => out.push(0),
            UploadOutcome::Failed(m) => {
                out.push(1);
                put_uvarint(&mut out, m.len() as u64);
                out.extend_from_slice(m.as_bytes());
            }
        }
        match self.platform_time {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                put_i64(&mut out, t);
            }
        }
        put_i64(&mut out, self.at);
        out
    }

    pub(crate) fn decode(buf: &[u8]) -> Result<UploadRecord> {
        let mut r = Reader::new(buf);
        let v = r.u8("upload record version")?;
        if v != RECORD_VERSION {
            return Err(Error::corrupt(format!("unknown upload record version {v}")));
        }
        let cursor = r.str(1 << 16, "cursor name")?.to_string();
        let first_id = r.u64("first id")?;
        let last_id = r.u64("last id")?;
        let samples = r.u64("samples")?;
        let outcome = match r.u8("outcome")? {
            0 => UploadOutcome::Ok,
            1 => UploadOutcome::Failed(r.str(1 << 20, "failure message")?.to_string()),
            t => return Err(r.corrupt_here(format!("unknown outcome {t}"))),
        };
        let platform_time = match r.u8("platform time flag")? {
            0 => None,
            1 => Some(r.i64("platform time")?),
            t => return Err(r.corrupt_here(format!("bad platform time flag {t}"))),
        };
        let at = r.i64("at")?;
        if !r.is_empty() {
            return Err(r.corrupt_here("trailing bytes in upload record"));
        }
        Ok(UploadRecord {
            cursor,
            first_id,
            last_id,
            samples,
            outcome,
            platform_time,
            at,
        })
    }
}

/// The open upload log, with the (seq, at) of every record kept, for retention.
#[derive(Debug)]
pub(crate) struct UploadLog {
    wal: Wal,
    kept: VecDeque<(u64, Timestamp)>,
}

impl UploadLog {
    /// Drops the records beyond the retention limits: by count, and by age relative to the
    /// newest record's `at`. They are no longer returned; their files are deleted once every
    /// record in them is dropped.
    fn retain(&mut self, opts: &super::Options) -> Result<()> {
        let mut drop_to = 0;
        let keep = opts.upload_records_keep.max(1);
        if self.kept.len() > keep {
            drop_to = self.kept[self.kept.len() - keep - 1].0;
        }
        if let Some(age) = opts.upload_records_max_age_ms {
            let newest = self.kept.iter().map(|k| k.1).max().unwrap_or(i64::MIN);
            let cutoff = newest.saturating_sub(age);
            let old = self.kept.iter().take_while(|k| k.1 < cutoff).count();
            if old > 0 {
                drop_to = drop_to.max(self.kept[old - 1].0);
            }
        }
        if drop_to > 0 {
            self.wal.remove_obsolete(drop_to)?;
            while self.kept.front().is_some_and(|k| k.0 <= drop_to) {
                self.kept.pop_front();
            }
        }
        Ok(())
    }
}

impl Inner {
    pub(super) fn record_upload_inner(&self, rec: &UploadRecord) -> Result<()> {
        let mut slot = self.uploads.lock();
        let log = self.upload_log(&mut slot)?;
        let seq = log.wal.append(&rec.encode())?;
        log.wal.sync()?;
        log.kept.push_back((seq, rec.at));
        log.retain(&self.opts)
    }

    fn upload_log<'a>(&self, slot: &'a mut Option<UploadLog>) -> Result<&'a mut UploadLog> {
        if slot.is_none() {
            let dir = self.dir.join(UPLOAD_DIR);
            // Retention deletes the oldest files: start after whatever the first one follows.
            let first = match self.storage.list(&dir) {
                Ok(names) => names.iter().filter_map(|n| wal::parse_file_name(n)).min(),
                Err(_) => None,
            };
            let mut kept = VecDeque::new();
            let wal = Wal::open(
                self.storage.clone(),
                &dir,
                WalOptions {
                    max_file_bytes: UPLOAD_FILE_BYTES,
                },
                first.map_or(0, |f| f.saturating_sub(1)),
                &mut |seq, payload| {
                    kept.push_back((seq, UploadRecord::decode(payload)?.at));
                    Ok(())
                },
            )?;
            let mut log = UploadLog { wal, kept };
            log.retain(&self.opts)?;
            *slot = Some(log);
        }
        Ok(slot.as_mut().expect("opened above"))
    }
}

impl Inner {
    /// Checks every file of the upload log (for [`Db::verify`]): checksums, framing, and
    /// every record decoded. A damaged record at the end of the newest file is reported
    /// too: an append interrupted by a crash looks the same, and the next use of the log
    /// drops it.
    pub(super) fn verify_upload_log(&self, problems: &mut Vec<Error>) {
        let dir = self.dir.join(UPLOAD_DIR);
        let Ok(names) = self.storage.list(&dir) else {
            return; // no upload log
        };
        let mut files: Vec<u64> = names
            .iter()
            .filter_map(|n| wal::parse_file_name(n))
            .collect();
        files.sort_unstable();
        for (i, &f) in files.iter().enumerate() {
            let path = dir.join(wal::file_name(f));
            let bytes = match self.storage.read(&path) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(Error::io(format!("read {}", path.display()), e));
                    continue;
                }
            };
            let scan = wal::scan(&bytes);
            match &scan.end {
                wal::ScanEnd::Corrupt { offset, reason } => {
                    problems.push(Error::corrupt_at(reason.clone(), &path, *offset));
                    continue;
                }
                wal::ScanEnd::Torn { offset, reason } => {
                    let what = if i + 1 < files.len() {
                        "a damaged record before the newest file"
                    } else {
                        "a damaged or interrupted last record (dropped at the next use of \
                         the log)"
                    };
                    problems.push(Error::corrupt_at(
                        format!("upload log: {what}: {reason}"),
                        &path,
                        *offset,
                    ));
                }
                _ => {}
            }
            for r in &scan.records {
                if let Err(e) = UploadRecord::decode(r.payload) {
                    problems.push(e.in_file(&path, r.offset));
                    break;
                }
            }
        }
    }
}

impl Db {
    /// Appends a record of an upload attempt to the upload log, durably (fsynced), then
    /// drops the oldest records beyond the retention limits (whole files at a time, so a
    /// few more than the limit may stay on disk, but are not returned).
    pub fn record_upload(&self, rec: &UploadRecord) -> Result<()> {
        self.inner.check_open()?;
        self.inner.record_upload_inner(rec)
    }

    /// The upload records with `from <= at < to` whose outcome passes `filter`, oldest
    /// first (in the order they were recorded).
    pub fn upload_records(
        &self,
        from: Timestamp,
        to: Timestamp,
        filter: OutcomeFilter,
    ) -> Result<Vec<UploadRecord>> {
        let inner = &self.inner;
        inner.check_open()?;
        let mut slot = inner.uploads.lock();
        let log = inner.upload_log(&mut slot)?;
        let oldest = log.kept.front().map_or(u64::MAX, |k| k.0);
        let dir = inner.dir.join(UPLOAD_DIR);
        let mut files: Vec<u64> = inner
            .storage
            .list(&dir)
            .map_err(|e| Error::io(format!("list {}", dir.display()), e))?
            .iter()
            .filter_map(|n| wal::parse_file_name(n))
            .collect();
        files.sort_unstable();
        let mut out = Vec::new();
        for f in files {
            let path = dir.join(wal::file_name(f));
            let bytes = inner
                .storage
                .read(&path)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            let scan = wal::scan(&bytes);
            if let wal::ScanEnd::Corrupt { offset, reason } = &scan.end {
                return Err(Error::corrupt_at(reason.clone(), &path, *offset));
            }
            for r in &scan.records {
                if r.seq < oldest {
                    continue;
                }
                let rec =
                    UploadRecord::decode(r.payload).map_err(|e| e.in_file(&path, r.offset))?;
                let pass = match filter {
                    OutcomeFilter::All => true,
                    OutcomeFilter::Ok => rec.outcome == UploadOutcome::Ok,
                    OutcomeFilter::Failed => rec.outcome != UploadOutcome::Ok,
                };
                if pass && rec.at >= from && rec.at < to {
                    out.push(rec);
                }
            }
        }
        Ok(out)
    }
}
