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
    /// The whole content of an immutable file, like [`Storage::read`], in a form whose
    /// pages a reader can hand back once it is done with them ([`FileBytes::release`]), so
    /// that a long-lived mapping does not keep every page it was ever read through resident.
    /// The default reads through [`Storage::read`]; nothing is then given back.
    fn read_pages(&self, path: &Path) -> io::Result<FileBytes> {
        self.read(path).map(FileBytes::from)
    }
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

/// [`FileBytes::release`] rounds out to this: the fault-around window of Linux (the pages
/// one fault maps, `fault_around_bytes`, 64 KiB by default). Mappings start page-aligned.
pub const RELEASE_ALIGN: usize = 64 * 1024;

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
struct MmapOwner(Arc<memmap2::Mmap>);
impl AsRef<[u8]> for MmapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Maps a whole file read-only (`MAP_SHARED`).
fn map_file(f: &File) -> io::Result<Arc<memmap2::Mmap>> {
    // SAFETY: a mapping is only valid while nobody truncates the file. Segment, rollup and
    // catalog files are immutable once written (removed, never rewritten, when unused; a
    // removed file stays valid while mapped). WAL files are read only during recovery, and
    // recovery drops the bytes of a file before it truncates that file.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(f)? };
    Ok(Arc::new(map))
}

/// The content of a file as [`Storage::read_pages`] gives it: the bytes, and for a mapped
/// file the mapping, through which the pages of a range already read can be handed back to
/// the kernel. Clones share the bytes.
#[derive(Clone)]
pub struct FileBytes {
    bytes: Bytes,
    /// The mapping `bytes` views, whole (`bytes` starts at its first byte).
    map: Option<Arc<memmap2::Mmap>>,
}

impl fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBytes")
            .field("len", &self.bytes.len())
            .field("mapped", &self.map.is_some())
            .finish()
    }
}

impl From<Bytes> for FileBytes {
    /// Bytes in memory: [`FileBytes::release`] does nothing.
    fn from(bytes: Bytes) -> Self {
        FileBytes { bytes, map: None }
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl FileBytes {
    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Whether the bytes are a memory map of the file.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Hands back to the kernel the mapped pages that hold `range`, rounded out to
    /// [`RELEASE_ALIGN`]: they leave the process's resident set, and a later read of them
    /// faults them in again from the page cache (or the file), with the same content. Does
    /// nothing for bytes in memory, or for a range outside the bytes.
    ///
    /// The rounding matters: a fault on a file mapping also maps the neighbouring pages the
    /// page cache holds (Linux's fault-around, 64 KiB by default), so releasing only the
    /// pages of a small block would leave its neighbours resident.
    pub fn release(&self, range: std::ops::Range<usize>) {
        let Some(map) = &self.map else { return };
        let end = range.end.min(map.len());
        if range.start >= end {
            return;
        }
        let start = range.start - range.start % RELEASE_ALIGN;
        let end = end
            .checked_next_multiple_of(RELEASE_ALIGN)
            .unwrap_or(end)
            .min(map.len());
        let range = start..end;
        #[cfg(unix)]
        {
            // SAFETY: MADV_DONTNEED on a read-only shared file mapping (`map_file`) only
            // drops the page table entries of the range: no memory is freed while borrowed,
            // and the next access, from any thread, reads the file's pages again through the
            // page cache. The files mapped are never written in place nor truncated while
            // mapped (see `map_file`), so what is read again is what was read before. The
            // range lies inside the mapping (clipped above), which `self` keeps alive.
            #[allow(unsafe_code)]
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    range.start,
                    end - range.start,
                )
            };
        }
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
        Ok(Bytes::from_owner(MmapOwner(map_file(&f)?)))
    }
    fn read_pages(&self, path: &Path) -> io::Result<FileBytes> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        if len < MMAP_MIN {
            return Ok(FileBytes::from(Bytes::from(fs::read(path)?)));
        }
        let map = map_file(&f)?;
        Ok(FileBytes {
            bytes: Bytes::from_owner(MmapOwner(map.clone())),
            map: Some(map),
        })
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

#[cfg(all(test, target_os = "linux"))]
mod release_tests {
    use super::*;

    /// Resident KiB of this process's mappings of `path`, from /proc/self/smaps.
    fn resident_kib(path: &Path) -> u64 {
        let smaps = fs::read_to_string("/proc/self/smaps").unwrap();
        let name = path.to_str().unwrap();
        let mut inside = false;
        let mut kib = 0;
        for line in smaps.lines() {
            if line.contains('-') && line.split_whitespace().count() >= 5 && !line.ends_with("kB") {
                inside = line.ends_with(name);
            } else if inside && line.starts_with("Rss:") {
                kib += line
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
            }
        }
        kib
    }

    #[test]
    fn released_pages_leave_the_resident_set_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..4 << 20)
            .map(|i: u32| (i * 7 + i / 4096) as u8)
            .collect();
        let mut w = FileStorage.create(&p).unwrap();
        w.write_all(&data).unwrap();
        w.sync().unwrap();
        drop(w);
        let b = FileStorage.read_pages(&p).unwrap();
        assert!(b.is_mapped());
        let sum: u64 = b.iter().map(|&x| u64::from(x)).sum();
        eprintln!("resident after reading: {} KiB", resident_kib(&p));
        assert!(resident_kib(&p) >= 3 << 10);
        b.release(0..b.len());
        eprintln!("resident after release: {} KiB", resident_kib(&p));
        assert!(resident_kib(&p) < 1 << 10);
        assert_eq!(b.iter().map(|&x| u64::from(x)).sum::<u64>(), sum);
        assert_eq!(&b[..], &data[..]);
        b.release(0..b.len());
        // Small blocks read one after another and released: fault-around maps the
        // neighbours of each; they must go too.
        let mut at = 0;
        let mut x = 0u64;
        while at < b.len() {
            let end = (at + 600).min(b.len());
            x += b[at..end].iter().map(|&v| u64::from(v)).sum::<u64>();
            b.release(at..end);
            at = end;
        }
        assert_eq!(x, sum);
        eprintln!("resident after block reads: {} KiB", resident_kib(&p));
        assert!(resident_kib(&p) <= 64);
        // Empty and out-of-range ranges are ignored.
        b.release(std::ops::Range { start: 10, end: 5 });
        b.release(b.len()..b.len() + 10);
    }
}
