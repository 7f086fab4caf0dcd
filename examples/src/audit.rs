//! The platform's audit log: `DIR/access.log`, one JSON object a line (every request, with
//! who, what, the query, the answer and, for an error, what was wrong; every administrative
//! command), **hash-chained**: each line carries `"prev"`, the hash of the line before it, and
//! a line's hash is SHA-256(hash of the line before ‖ the line's text). Deleting, changing or
//! inserting a line breaks the chain at the next line; [`verify`] (`provincial audit verify`)
//! walks it. The first line of all follows the hash of 32 zero bytes.
//!
//! Rotation: when `access.log` reaches the rotation size, it is renamed `access.log.N` (N one
//! more than the highest there) and a new `access.log` continues the chain (its first line's
//! `prev` is the last hash of the file before), so the chain runs through every file in
//! order. Files are created 0600; the server makes `DIR` 0700.
//!
//! Writers: the server and the `provincial` command (administrative actions) at the same
//! time: each append takes an exclusive `flock` of `access.log`, finds the last hash (kept in
//! memory while the file is unchanged, else read from the file's last line), appends, and
//! `fdatasync`s before the answer is sent.
//!
//! What the chain cannot show by itself: lines removed from the end (the last hash is then
//! an earlier one). `audit verify` prints the last hash and the line count; a deployment
//! copies them off the machine (e.g. daily) to compare.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The current file's name.
pub const LOG: &str = "access.log";
/// Rotation size by default.
pub const ROTATE_BYTES: u64 = 64 << 20;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn chain(prev: &[u8; 32], line: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(line.as_bytes());
    h.finalize().into()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let v = crate::registry::unhex(s)?;
    v.try_into().ok()
}

/// The hash after `line` (whose `prev` says what came before it).
fn hash_of_line(line: &str) -> Result<[u8; 32], String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let prev = v["prev"]
        .as_str()
        .and_then(unhex32)
        .ok_or("no \"prev\" hash")?;
    Ok(chain(&prev, line))
}

/// The last line of a file (without its newline), if any.
fn last_line(f: &mut File) -> std::io::Result<Option<String>> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let mut back = 4096u64;
    loop {
        let from = len.saturating_sub(back);
        f.seek(SeekFrom::Start(from))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        let text = String::from_utf8_lossy(&buf);
        let t = text.trim_end_matches('\n');
        if let Some((_, last)) = t.rsplit_once('\n') {
            return Ok(Some(last.to_string()));
        }
        if from == 0 {
            return Ok(Some(t.to_string()));
        }
        back *= 4;
    }
}

/// The rotated files of `dir`, oldest first: (N, path).
fn rotated(dir: &Path) -> Result<Vec<(u64, PathBuf)>, String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(n) = name
            .strip_prefix("access.log.")
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// (inode, size) of the file after an append, and the chain's last hash then.
type Tail = ((u64, u64), [u8; 32]);

/// The hash-chained audit log of a platform directory.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    rotate_bytes: std::sync::atomic::AtomicU64,
    /// (inode, size) of `access.log` after our last append, and the last hash.
    last: Mutex<Option<Tail>>,
}

impl AuditLog {
    /// The log of `dir`, rotated at `rotate_bytes`.
    pub fn open(dir: &Path, rotate_bytes: u64) -> Result<AuditLog, String> {
        let l = AuditLog {
            dir: dir.to_path_buf(),
            rotate_bytes: std::sync::atomic::AtomicU64::new(rotate_bytes.max(4096)),
            last: Mutex::new(None),
        };
        l.file()
            .map_err(|e| format!("{}: {e}", l.path().display()))?;
        Ok(l)
    }

    /// Rotates at `bytes` (at least 4 KiB) from now on.
    pub fn set_rotation(&self, bytes: u64) {
        self.rotate_bytes
            .store(bytes.max(4096), std::sync::atomic::Ordering::Relaxed);
    }

    fn path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    fn file(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(self.path())
    }

    /// The last hash of the chain, read from the files.
    fn last_hash_on_disk(&self, f: &mut File) -> Result<[u8; 32], String> {
        if let Some(l) = last_line(f).map_err(|e| e.to_string())? {
            return hash_of_line(&l).map_err(|e| format!("the last line of {LOG}: {e}"));
        }
        if let Some((_, p)) = rotated(&self.dir)?.pop() {
            let mut rf = File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            if let Some(l) = last_line(&mut rf).map_err(|e| e.to_string())? {
                return hash_of_line(&l)
                    .map_err(|e| format!("the last line of {}: {e}", p.display()));
            }
        }
        Ok([0u8; 32])
    }

    /// Appends `event` (with `"prev"` added) and syncs it.
    pub fn append(&self, mut event: Map<String, Value>) -> Result<(), String> {
        let mut cache = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.path();
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut f = self.file().map_err(err)?;
        f.lock().map_err(err)?;
        let r = (|| {
            let m = f.metadata().map_err(err)?;
            let id = (m.ino(), m.size());
            let prev = match *cache {
                Some((cid, h)) if cid == id => h,
                _ => self.last_hash_on_disk(&mut f)?,
            };
            if m.size() >= self.rotate_bytes.load(std::sync::atomic::Ordering::Relaxed) {
                // Under the lock: the file is renamed and a new one continues the chain.
                let n = rotated(&self.dir)?.last().map_or(1, |(n, _)| n + 1);
                let to = self.dir.join(format!("{LOG}.{n}"));
                std::fs::rename(&path, &to).map_err(err)?;
                let _ = f.unlock();
                f = self.file().map_err(err)?;
                f.lock().map_err(err)?;
            }
            event.insert("prev".into(), Value::String(hex(&prev)));
            let line = Value::Object(event).to_string();
            f.write_all(format!("{line}\n").as_bytes()).map_err(err)?;
            f.sync_data().map_err(err)?;
            let m = f.metadata().map_err(err)?;
            *cache = Some(((m.ino(), m.size()), chain(&prev, &line)));
            Ok(())
        })();
        let _ = f.unlock();
        r
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Files walked, oldest first.
    pub files: Vec<PathBuf>,
    /// Lines walked.
    pub lines: u64,
    /// The hash after the last line (keep it elsewhere to detect lines removed at the end).
    pub last_hash: String,
    /// The chain does not start at the beginning (older rotated files were removed).
    pub starts_after: Option<String>,
}

/// Walks the chain through every file of `dir`: the first break is an error naming the
/// file and line (a line before it was deleted, changed or inserted, or the line itself is
/// not what was written).
pub fn verify(dir: &Path) -> Result<Verified, String> {
    let mut files: Vec<PathBuf> = rotated(dir)?.into_iter().map(|(_, p)| p).collect();
    if dir.join(LOG).exists() {
        files.push(dir.join(LOG));
    }
    let mut h: Option<[u8; 32]> = None;
    let mut lines = 0;
    let mut starts_after = None;
    for p in &files {
        let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| format!("{}: {e}", p.display()))?;
            let at = || format!("{} line {}", p.display(), i + 1);
            let v: Value =
                serde_json::from_str(&line).map_err(|e| format!("{}: not JSON: {e}", at()))?;
            let prev = v["prev"]
                .as_str()
                .and_then(unhex32)
                .ok_or_else(|| format!("{}: no \"prev\" hash", at()))?;
            match h {
                None if prev != [0u8; 32] => starts_after = Some(hex(&prev)),
                Some(want) if want != prev => {
                    return Err(format!(
                        "{}: the chain is broken: a line before it was deleted, changed or \
                         inserted (or this file follows another than the one before it)",
                        at()
                    ))
                }
                _ => {}
            }
            h = Some(chain(&prev, &line));
            lines += 1;
        }
    }
    Ok(Verified {
        files,
        lines,
        last_hash: hex(&h.unwrap_or([0u8; 32])),
        starts_after,
    })
}

/// The operating-system user running this process, for administrative lines.
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(i: u64) -> Map<String, Value> {
        json!({"t": i, "what": "x".repeat(100)})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn the_chain_shows_deleted_and_changed_lines_and_survives_rotation() {
        let d = tempfile::tempdir().unwrap();
        let log = AuditLog::open(d.path(), 4096).unwrap();
        for i in 0..100 {
            log.append(ev(i)).unwrap();
        }
        // A second writer (another process, as the provincial command) continues the chain.
        let other = AuditLog::open(d.path(), 4096).unwrap();
        other.append(ev(100)).unwrap();
        log.append(ev(101)).unwrap();
        let v = verify(d.path()).unwrap();
        assert_eq!(v.lines, 102);
        assert!(v.files.len() > 2, "rotated: {:?}", v.files);
        assert_eq!(v.starts_after, None);
        use std::os::unix::fs::PermissionsExt;
        for f in &v.files {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f:?}");
        }
        // Change one line of the current file: the next line's check fails.
        let cur = d.path().join(LOG);
        let text = std::fs::read_to_string(&cur).unwrap();
        let changed = text.replacen("\"t\":100", "\"t\":999", 1);
        assert_ne!(changed, text);
        std::fs::write(&cur, &changed).unwrap();
        let e = verify(d.path()).unwrap_err();
        assert!(e.contains("chain is broken"), "{e}");
        std::fs::write(&cur, &text).unwrap();
        verify(d.path()).unwrap();
        // Delete a line of a rotated file.
        let first = &v.files[0];
        let t = std::fs::read_to_string(first).unwrap();
        let mut ls: Vec<&str> = t.lines().collect();
        ls.remove(3);
        std::fs::write(first, ls.join("\n") + "\n").unwrap();
        let e = verify(d.path()).unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        // Remove the oldest file: the chain starts after it (said, not an error).
        std::fs::remove_file(first).unwrap();
        let v2 = verify(d.path()).unwrap();
        assert!(v2.starts_after.is_some());
        assert_eq!(v2.last_hash, v.last_hash);
    }
}
