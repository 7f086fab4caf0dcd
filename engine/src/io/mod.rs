//! The only place that touches files, mmap and fsync.
//!
//! All file I/O of the engine goes through the [`Storage`] trait so that tests can run the
//! engine on an in-memory file system ([`MemStorage`]), or on one that simulates power loss
//! and injects I/O errors ([`FaultStorage`], in [`fault`]). [`FileStorage`] is the real
//! backend: plain files, `mmap` for reading immutable files, and `fsync` for durability.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

pub mod fault;

pub use fault::{FaultKind, FaultStats, FaultStorage, SimRng};

/// A file system as the engine sees it. Paths are absolute or relative to the process's
/// working directory for [`FileStorage`], and plain keys for [`MemStorage`].
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the files directly inside `dir` (not directories), in any order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether a file exists.
    fn exists(&self, path: &Path) -> bool;
    /// Creates (or truncates) a file for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// The whole content of a file. Large immutable files are memory-mapped.
    fn read(&self, path: &Path) -> io::Result<Bytes>;
    /// Size of a file in bytes.
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Cuts a file to `len` bytes (and makes that durable).
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing). `Ok(None)` when another
    /// holder has it. The lock is released when the returned guard is dropped.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>>;
    /// Makes `to` name the same (immutable) file as `from`: a hard link where the file
    /// system allows, else a synced copy ([`Storage::copy_file`]). `to` must not exist.
    /// The default copies.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.copy_file(from, to)
    }
    /// Copies `from` to a new file `to` and syncs it.
    fn copy_file(&self, from: &Path, to: &Path) -> io::Result<()> {
        let bytes = self.read(from)?;
        let mut f = self.create(to)?;
        f.write_all(&bytes)?;
        f.sync()
    }
}

/// A file open for writing at its end.
pub trait WriteFile: Send + fmt::Debug {
    /// Appends all of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Flushes what was written to stable storage (fdatasync).
    fn sync(&mut self) -> io::Result<()>;
    /// Bytes in the file, including what was appended.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Holds a lock until dropped.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// Files smaller than this are read into memory rather than mapped.
const MMAP_MIN: u64 = 64 * 1024;

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileStorage;

#[derive(Debug)]
struct RealFile {
    /// Unbuffered: an acknowledged WAL append must reach the kernel before the call returns,
    /// so that a process crash (SIGKILL) loses nothing in any durability mode.
    file: File,
    len: u64,
}

impl WriteFile for RealFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn len(&self) -> u64 {
        self.len
    }
}

#[derive(Debug)]
struct FileLock(#[allow(dead_code)] File);
impl LockGuard for FileLock {}

/// Keeps a memory map alive behind a `Bytes`.
struct MmapOwner(memmap2::Mmap);
impl AsRef<[u8]> for MmapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Storage for FileStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            if e.file_type()?.is_file() {
                if let Some(n) = e.file_name().to_str() {
                    out.push(n.to_string());
                }
            }
        }
        Ok(out)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(RealFile { file: f, len: 0 }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let f = OpenOptions::new().append(true).open(path)?;
        let len = f.metadata()?.len();
        Ok(Box::new(RealFile { file: f, len }))
    }
    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        if len < MMAP_MIN {
            return Ok(Bytes::from(fs::read(path)?));
        }
        // SAFETY: a mapping is only valid while nobody truncates the file. Segment, rollup
        // and catalog files are immutable once written (removed, never rewritten, when
        // unused; a removed file stays valid while mapped). WAL files are read only during
        // recovery, and recovery drops the bytes of a file before it truncates that file.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&f)? };
        Ok(Bytes::from_owner(MmapOwner(map)))
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        match fs::hard_link(from, to) {
            Ok(()) => Ok(()),
            // Another file system, or one without links: copy.
            Err(e)
                if e.kind() != io::ErrorKind::NotFound
                    && e.kind() != io::ErrorKind::AlreadyExists =>
            {
                self.copy_file(from, to)
            }
            Err(e) => Err(e),
        }
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Box::new(FileLock(f)))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// One file of [`MemStorage`]: what was written, and what of it was synced.
#[derive(Debug, Default, Clone)]
struct MemFile {
    data: Vec<u8>,
    synced: Vec<u8>,
}

/// An in-memory file system for tests. It remembers, per file, what was written and what
/// was synced, so [`MemStorage::crash`] can simulate a power loss that keeps only synced
/// data. (Directory operations are taken as durable at once.)
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    inner: Arc<Mutex<MemInner>>,
}

#[derive(Debug, Default)]
struct MemInner {
    files: BTreeMap<PathBuf, Arc<Mutex<MemFile>>>,
    locks: BTreeMap<PathBuf, ()>,
}

#[derive(Debug)]
struct MemWriter {
    file: Arc<Mutex<MemFile>>,
}

impl WriteFile for MemWriter {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.lock().data.extend_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut f = self.file.lock();
        f.synced = f.data.clone();
        Ok(())
    }
    fn len(&self) -> u64 {
        self.file.lock().data.len() as u64
    }
}

#[derive(Debug)]
struct MemLock {
    storage: Arc<Mutex<MemInner>>,
    path: PathBuf,
}
impl LockGuard for MemLock {}
impl Drop for MemLock {
    fn drop(&mut self) {
        self.storage.lock().locks.remove(&self.path);
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl MemStorage {
    /// An empty in-memory file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new file system holding what would survive a power loss now: each file's synced
    /// bytes. Locks are not carried over.
    pub fn crash(&self) -> MemStorage {
        let inner = self.inner.lock();
        let files = inner
            .files
            .iter()
            .map(|(p, f)| {
                let f = f.lock();
                let copy = MemFile {
                    data: f.synced.clone(),
                    synced: f.synced.clone(),
                };
                (p.clone(), Arc::new(Mutex::new(copy)))
            })
            .collect();
        MemStorage {
            inner: Arc::new(Mutex::new(MemInner {
                files,
                locks: BTreeMap::new(),
            })),
        }
    }

    /// Overwrites a file's content (written and synced), for tests that damage files.
    pub fn put(&self, path: &Path, data: Vec<u8>) {
        let f = MemFile {
            synced: data.clone(),
            data,
        };
        self.inner
            .lock()
            .files
            .insert(path.to_path_buf(), Arc::new(Mutex::new(f)));
    }

    fn get(&self, path: &Path) -> io::Result<Arc<Mutex<MemFile>>> {
        self.inner
            .lock()
            .files
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))
    }
}

impl Storage for MemStorage {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let inner = self.inner.lock();
        Ok(inner
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.lock().files.contains_key(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let file = Arc::new(Mutex::new(MemFile::default()));
        self.inner
            .lock()
            .files
            .insert(path.to_path_buf(), file.clone());
        Ok(Box::new(MemWriter { file }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(MemWriter {
            file: self.get(path)?,
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Bytes> {
        Ok(Bytes::from(self.get(path)?.lock().data.clone()))
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(self.get(path)?.lock().data.len() as u64)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut inner = self.inner.lock();
        let f = inner.files.remove(from).ok_or_else(|| not_found(from))?;
        inner.files.insert(to.to_path_buf(), f);
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner
            .lock()
            .files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = self.get(path)?;
        let mut f = f.lock();
        f.data.truncate(len as usize);
        f.synced = f.data.clone();
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        let mut inner = self.inner.lock();
        if inner.locks.contains_key(path) {
            return Ok(None);
        }
        inner.locks.insert(path.to_path_buf(), ());
        Ok(Some(Box::new(MemLock {
            storage: self.inner.clone(),
            path: path.to_path_buf(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_crash_keeps_only_synced_bytes() {
        let s = MemStorage::new();
        let p = Path::new("/db/a");
        let mut w = s.create(p).unwrap();
        w.write_all(b"hello").unwrap();
        w.sync().unwrap();
        w.write_all(b" world").unwrap();
        assert_eq!(&s.read(p).unwrap()[..], b"hello world");
        let after = s.crash();
        assert_eq!(&after.read(p).unwrap()[..], b"hello");
    }

    #[test]
    fn locks_are_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("LOCK");
        let fs = FileStorage;
        let g = fs.try_lock(&p).unwrap();
        assert!(g.is_some());
        assert!(fs.try_lock(&p).unwrap().is_none());
        drop(g);
        assert!(fs.try_lock(&p).unwrap().is_some());
        let m = MemStorage::new();
        let g = m.try_lock(&p).unwrap();
        assert!(m.try_lock(&p).unwrap().is_none());
        drop(g);
        assert!(m.try_lock(&p).unwrap().is_some());
    }

    #[test]
    fn file_storage_reads_small_and_mapped_files() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FileStorage;
        for n in [0usize, 10, 200_000] {
            let p = dir.path().join(format!("f{n}"));
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut w = fs.create(&p).unwrap();
            w.write_all(&data).unwrap();
            w.sync().unwrap();
            drop(w);
            assert_eq!(&fs.read(&p).unwrap()[..], &data[..]);
            assert_eq!(fs.file_size(&p).unwrap(), n as u64);
        }
    }
}
