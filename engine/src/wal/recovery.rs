//! Opening the log: replay, torn-tail repair, and the checks that tell a torn tail from
//! corruption.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::{ScanEnd, Scanner};
use super::writer::{create_file, next, ClosedFile, Wal};
use super::{file_name, parse_file_name, WalOptions};
use crate::error::{Error, Result};
use crate::io::{Storage, WriteFile};

/// Offset of the first-seq field in the file header, named by errors about a file's place
/// in the sequence.
const FIRST_SEQ_OFFSET: u64 = 12;

/// The newest file, as recovery left it.
struct Tail {
    path: PathBuf,
    first_seq: u64,
    last_seq: Option<u64>,
    size: u64,
}

impl Wal {
    /// Opens the log in `dir`, creating the directory and a first file as needed, and
    /// replays every valid record with seq > `start_after`, in seq order, by calling
    /// `replay(seq, payload)` (records with seq <= `start_after` are durable elsewhere and
    /// skipped). The next appended record gets seq `max(last valid seq, start_after) + 1`.
    ///
    /// Recovery rules:
    /// - A damaged or partial record at the end of the *last* file, with no valid record of
    ///   that file's sequence after it, is a torn tail (an append cut short by a crash): it
    ///   is dropped and the file truncated after the last good record (a last file whose
    ///   header is torn holds no record and is deleted).
    /// - Any other damage returns `Err(Error::Corruption)` naming the file and the byte
    ///   offset: a damaged record with a valid one after it, damage in a file that is not
    ///   the last, a record whose seq does not follow its predecessor's, or files missing
    ///   from the sequence (a gap that reaches above `start_after`).
    /// - A file of an unknown format version returns `Err(Error::UnsupportedVersion)`.
    /// - An error from `replay` is returned as is.
    ///
    /// On error, `replay` may already have been called for the records before the failure.
    /// Before returning `Ok`, the last file and the directory are synced, so every replayed
    /// record is durable and [`Wal::synced_seq`] equals [`Wal::last_seq`].
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        opts: WalOptions,
        start_after: u64,
        replay: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<Wal> {
        if opts.max_file_bytes == 0 {
            return Err(Error::invalid("wal max_file_bytes must be positive"));
        }
        let io_err = |what: &str, p: &Path| {
            let ctx = format!("{what} {}", p.display());
            move |e| Error::io(ctx, e)
        };
        storage
            .create_dir_all(dir)
            .map_err(io_err("create wal directory", dir))?;
        let mut files: Vec<(u64, String)> = storage
            .list(dir)
            .map_err(io_err("list wal directory", dir))?
            .into_iter()
            .filter_map(|name| Some((parse_file_name(&name)?, name)))
            .collect();
        files.sort();
        let fresh = files.is_empty();

        let mut closed = VecDeque::new();
        let mut tail: Option<Tail> = None;
        // The seq the next record must have; `None` before the first file.
        let mut expect: Option<u64> = None;
        let mut last_valid: Option<u64> = None;
        let count = files.len();
        for (i, (first_seq, name)) in files.into_iter().enumerate() {
            let path = dir.join(&name);
            let is_last = i + 1 == count;
            check_place(first_seq, expect, start_after)
                .map_err(|e| e.in_file(&path, FIRST_SEQ_OFFSET))?;

            let bytes = storage.read(&path).map_err(io_err("read", &path))?;
            let file_len = bytes.len() as u64;
            let mut scanner = Scanner::with_first_seq(&bytes, first_seq);
            if let Some(h) = scanner.header_first_seq() {
                if h != first_seq {
                    return Err(Error::corrupt(format!(
                        "file header says first seq {h}, its name says {first_seq}"
                    ))
                    .in_file(&path, FIRST_SEQ_OFFSET));
                }
            }
            let mut file_last = None;
            for rec in scanner.by_ref() {
                if rec.seq > start_after {
                    replay(rec.seq, rec.payload)?;
                }
                file_last = Some(rec.seq);
            }
            let end = scanner.end().cloned().unwrap_or(ScanEnd::Clean);
            let valid_len = scanner.valid_len();
            let header_ok = scanner.header_first_seq().is_some();
            // Release the bytes (possibly a memory map) before the file is cut or appended to.
            drop(scanner);
            drop(bytes);

            let mut size = file_len;
            match end {
                ScanEnd::Clean => {}
                ScanEnd::UnsupportedVersion(version) => {
                    return Err(Error::UnsupportedVersion {
                        file: path,
                        version,
                    })
                }
                ScanEnd::Corrupt { offset, reason } => {
                    return Err(Error::corrupt_at(reason, &path, offset))
                }
                ScanEnd::Torn { offset, reason } if !is_last => {
                    return Err(Error::corrupt_at(
                        format!("{reason} (a later wal file exists, so this is no torn tail)"),
                        &path,
                        offset,
                    ))
                }
                ScanEnd::Torn { .. } if !header_ok => {
                    // A file created just before a crash: no record made it to disk.
                    storage
                        .remove(&path)
                        .map_err(io_err("remove torn", &path))?;
                    continue;
                }
                ScanEnd::Torn { .. } => {
                    storage
                        .truncate(&path, valid_len)
                        .map_err(io_err("truncate torn tail of", &path))?;
                    size = valid_len;
                }
            }
            if let Some(l) = file_last {
                last_valid = Some(l);
            }
            expect = Some(match file_last {
                Some(l) if !is_last => next(l).map_err(|_| {
                    Error::corrupt("a wal file follows a record with the largest seq")
                        .in_file(&path, 0)
                })?,
                Some(l) => l.saturating_add(1),
                None => first_seq,
            });
            if is_last {
                tail = Some(Tail {
                    path,
                    first_seq,
                    last_seq: file_last,
                    size,
                });
            } else {
                closed.push_back(ClosedFile {
                    path,
                    first_seq,
                    last_seq: file_last,
                    size,
                });
            }
        }

        let last_seq = last_valid.unwrap_or(0).max(start_after);
        let next_seq = next(last_seq)?;
        let poisoned = |what: &str, p: &Path| {
            let what = format!("{what} {}", p.display());
            move |e: std::io::Error| {
                Error::Poisoned(format!("{what} failed while opening the wal: {e}"))
            }
        };
        // Continue in the last file when the next record follows on in it; else start a new
        // file (after making the last one durable: a later file proves earlier ones whole).
        let (file, path, first_seq): (Box<dyn WriteFile>, PathBuf, u64) = match tail {
            Some(t)
                if t.last_seq.map_or(t.first_seq, |l| l + 1) == next_seq
                    && t.size < opts.max_file_bytes =>
            {
                let mut f = storage
                    .open_append(&t.path)
                    .map_err(io_err("open", &t.path))?;
                f.sync().map_err(poisoned("fsync of", &t.path))?;
                (f, t.path, t.first_seq)
            }
            other => {
                if let Some(t) = other {
                    let mut f = storage
                        .open_append(&t.path)
                        .map_err(io_err("open", &t.path))?;
                    f.sync().map_err(poisoned("fsync of", &t.path))?;
                    closed.push_back(ClosedFile {
                        path: t.path,
                        first_seq: t.first_seq,
                        last_seq: t.last_seq,
                        size: f.len(),
                    });
                }
                let path = dir.join(file_name(next_seq));
                let mut f =
                    create_file(&*storage, &path, next_seq).map_err(poisoned("create", &path))?;
                f.sync().map_err(poisoned("fsync of", &path))?;
                (f, path, next_seq)
            }
        };
        // Make the directory's entries durable: files created or removed here or before a
        // crash; for a new log, also the directory's own entry in its parent.
        storage
            .sync_dir(dir)
            .map_err(poisoned("fsync of directory", dir))?;
        if fresh {
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            storage
                .sync_dir(parent)
                .map_err(poisoned("fsync of directory", parent))?;
        }
        Ok(Wal {
            storage,
            dir: dir.to_path_buf(),
            opts,
            closed,
            file,
            path,
            first_seq,
            last_seq,
            synced_seq: last_seq,
            dir_dirty: false,
            poisoned: None,
        })
    }
}

/// Checks that a file starting at seq `first` may follow the files before it, whose
/// records end just before `expect` (`None`: no file before it). A gap is allowed only
/// where every missing seq is <= `start_after`, i.e. durable elsewhere, as after
/// [`Wal::remove_obsolete`].
fn check_place(first: u64, expect: Option<u64>, start_after: u64) -> Result<()> {
    let may_start_by = start_after.saturating_add(1);
    match expect {
        None if first > may_start_by => Err(Error::corrupt(format!(
            "the log starts at seq {first}, but seqs {may_start_by}..={} are not durable \
             elsewhere (start_after {start_after}): wal files are missing",
            first - 1
        ))),
        Some(e) if first < e => Err(Error::corrupt(format!(
            "file starts at seq {first}, but the previous file ends at seq {}",
            e - 1
        ))),
        Some(e) if first > e && first > may_start_by => Err(Error::corrupt(format!(
            "seqs {e}..={} are missing before this file (start_after {start_after})",
            first - 1
        ))),
        _ => Ok(()),
    }
}
