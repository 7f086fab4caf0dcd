//! The [`Wal`] handle: append, sync, rotate, remove obsolete files. Opening and recovery
//! are in `recovery.rs`.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::record::{encode_file_header, encode_record_header, MAX_PAYLOAD, RECORD_HEADER_LEN};
use super::{file_name, WalOptions};
use crate::error::{Error, Result};
use crate::io::{Storage, WriteFile};

/// A file of the log that is no longer appended to.
#[derive(Debug)]
pub(super) struct ClosedFile {
    pub(super) path: PathBuf,
    /// Seq of its first record (or of the record it would have held first).
    pub(super) first_seq: u64,
    /// Seq of its last record; `None` when it holds none.
    pub(super) last_seq: Option<u64>,
    pub(super) size: u64,
}

/// An open write-ahead log: one directory of files, appended to at the end of the newest.
///
/// Not internally synchronized: the caller wraps it in a mutex. Dropping it does not sync.
/// See the [module documentation](super) for the durability and poisoning rules.
#[derive(Debug)]
pub struct Wal {
    pub(super) storage: Arc<dyn Storage>,
    pub(super) dir: PathBuf,
    pub(super) opts: WalOptions,
    /// Older files, oldest first.
    pub(super) closed: VecDeque<ClosedFile>,
    /// The file appended to.
    pub(super) file: Box<dyn WriteFile>,
    pub(super) path: PathBuf,
    /// Seq that the current file's first record has (or will have).
    pub(super) first_seq: u64,
    pub(super) last_seq: u64,
    pub(super) synced_seq: u64,
    /// A file was created whose directory entry has not been synced yet.
    pub(super) dir_dirty: bool,
    /// Set by the first failed write or sync: what failed.
    pub(super) poisoned: Option<String>,
}

impl Wal {
    /// Appends one record holding `payload` and returns its seq (the previous one plus 1).
    ///
    /// The record is buffered, not durable until [`Wal::sync`]. When it would make the
    /// current file larger than [`WalOptions::max_file_bytes`], the current file is first
    /// synced and closed and a new one started (so this call may fsync).
    ///
    /// Errors: `InvalidArgument` for a payload over [`MAX_PAYLOAD`] (nothing is written);
    /// `Poisoned` if this or an earlier write or sync failed.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.check_poisoned()?;
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::invalid(format!(
                "wal record of {} bytes exceeds the maximum of {MAX_PAYLOAD}",
                payload.len()
            )));
        }
        let seq = next(self.last_seq)?;
        let size = (RECORD_HEADER_LEN + payload.len()) as u64;
        if self.has_records() && self.file.len().saturating_add(size) > self.opts.max_file_bytes {
            self.roll()?;
        }
        let header = encode_record_header(seq, payload);
        let written = self
            .file
            .write_all(&header)
            .and_then(|()| self.file.write_all(payload));
        if let Err(e) = written {
            return Err(self.poison(format!("write to {}", self.path.display()), e));
        }
        self.last_seq = seq;
        Ok(seq)
    }

    /// Makes every appended record durable: fdatasync of the current file and, when a file
    /// was created since the last sync, of the directory. (Files closed since then were
    /// synced when they were closed.) Returns at once when there is nothing to sync.
    ///
    /// A failure poisons the log; the fsync is never retried (see the module docs).
    pub fn sync(&mut self) -> Result<()> {
        self.check_poisoned()?;
        if self.synced_seq == self.last_seq && !self.dir_dirty {
            return Ok(());
        }
        if let Err(e) = self.file.sync() {
            return Err(self.poison(format!("fsync of {}", self.path.display()), e));
        }
        self.sync_dir_if_dirty()?;
        self.synced_seq = self.last_seq;
        Ok(())
    }

    /// Seq of the last appended record, or the `start_after` given to [`Wal::open`] (or
    /// the last replayed seq, if larger) when none has been appended since.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Seq of the last record known durable: everything up to it survives a crash.
    pub fn synced_seq(&self) -> u64 {
        self.synced_seq
    }

    /// Syncs and closes the current file and starts a new one, so that later records go
    /// to a new file. Returns the seq of the last record in the closed files (which is
    /// [`Wal::last_seq`]). When the current file holds no record yet, nothing is done.
    ///
    /// A failure poisons the log.
    pub fn rotate(&mut self) -> Result<u64> {
        self.check_poisoned()?;
        if self.has_records() {
            self.roll()?;
        }
        Ok(self.last_seq)
    }

    /// Deletes the closed files all of whose records have seq <= `seq` (their data is now
    /// in segment files), oldest first. Never deletes the current file.
    ///
    /// The caller must pass a `start_after` of at least `seq` to later opens: a log whose
    /// oldest remaining record is above `start_after + 1` is reported as missing files.
    /// Works on a poisoned log too (deleting loses nothing); a failed deletion returns an
    /// I/O error and keeps the file in the log, to be tried again by a later call.
    pub fn remove_obsolete(&mut self, seq: u64) -> Result<()> {
        while let Some(f) = self.closed.front() {
            let last = f.last_seq.unwrap_or(f.first_seq.saturating_sub(1));
            if last > seq {
                break;
            }
            match self.storage.remove(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("remove {}", f.path.display()), e)),
            }
            self.closed.pop_front();
        }
        Ok(())
    }

    /// Total bytes in the log's files, including appended bytes not yet synced.
    pub fn size_bytes(&self) -> u64 {
        self.closed.iter().map(|f| f.size).sum::<u64>() + self.file.len()
    }

    /// Whether the current file holds a record.
    fn has_records(&self) -> bool {
        self.last_seq >= self.first_seq
    }

    fn check_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            Some(what) => Err(Error::Poisoned(what.clone())),
            None => Ok(()),
        }
    }

    /// Records the first failure; every later write or sync refuses with its message. The
    /// failing call itself returns the I/O error (so that a full disk reads as
    /// `StorageFull`), later calls `Poisoned`.
    fn poison(&mut self, what: String, e: io::Error) -> Error {
        self.poisoned = Some(format!("{what} failed: {e}"));
        Error::io(what, e)
    }

    fn sync_dir_if_dirty(&mut self) -> Result<()> {
        if self.dir_dirty {
            if let Err(e) = self.storage.sync_dir(&self.dir) {
                return Err(self.poison(format!("fsync of directory {}", self.dir.display()), e));
            }
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Closes the current file, synced, and starts the next one. The current file's data
    /// and directory entry are made durable *before* the next file is created, so that
    /// after a crash a torn record can only be in the last file.
    fn roll(&mut self) -> Result<()> {
        let first_seq = next(self.last_seq)?;
        if let Err(e) = self.file.sync() {
            return Err(self.poison(format!("fsync of {}", self.path.display()), e));
        }
        self.sync_dir_if_dirty()?;
        self.synced_seq = self.last_seq;
        let path = self.dir.join(file_name(first_seq));
        let file = match create_file(&*self.storage, &path, first_seq) {
            Ok(f) => f,
            Err(e) => return Err(self.poison(format!("create {}", path.display()), e)),
        };
        self.dir_dirty = true;
        let old_file = std::mem::replace(&mut self.file, file);
        let old_path = std::mem::replace(&mut self.path, path);
        let old_first = std::mem::replace(&mut self.first_seq, first_seq);
        self.closed.push_back(ClosedFile {
            path: old_path,
            first_seq: old_first,
            last_seq: (self.last_seq >= old_first).then_some(self.last_seq),
            size: old_file.len(),
        });
        Ok(())
    }
}

/// `seq + 1`, or an error once the 64-bit seq space is used up.
pub(super) fn next(seq: u64) -> Result<u64> {
    seq.checked_add(1)
        .ok_or_else(|| Error::invalid("wal sequence numbers exhausted"))
}

/// Creates a new WAL file holding only its header (written, not synced). Refuses to
/// replace an existing file.
pub(super) fn create_file(
    storage: &dyn Storage,
    path: &std::path::Path,
    first_seq: u64,
) -> io::Result<Box<dyn WriteFile>> {
    if storage.exists(path) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists already", path.display()),
        ));
    }
    let mut f = storage.create(path)?;
    f.write_all(&encode_file_header(first_seq))?;
    Ok(f)
}
