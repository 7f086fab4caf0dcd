//! A fault-injecting in-memory file system, for crash and error tests.
//!
//! [`FaultStorage`] keeps, for every file, what was written (the page cache: what reads see)
//! apart from what is on the simulated disk (what survives a power loss), and, for every
//! directory, the entries made durable by [`Storage::sync_dir`] apart from the creations,
//! renames and removals made since. Everything random is drawn from one seeded generator,
//! so a run is replayed exactly by its seed (as long as one thread drives the storage).
//!
//! # The model (Linux, ext4 with `data=ordered`, as the engine relies on it)
//!
//! - **File data.** Each `write_all` is one write, appended at the end of the file.
//!   `WriteFile::sync` (fdatasync) copies every write since the last sync to the disk and
//!   sets the file's size on disk. [`Storage::truncate`] cuts the file and makes the whole
//!   file durable (as `set_len` + `fsync`).
//! - **Directories.** `create`, `rename` and `remove` change what `list`, `exists` and
//!   `read` see at once, and are logged per directory. `sync_dir` makes the directory's
//!   logged operations durable. A rename within one directory is atomic (one logged
//!   operation); a rename across directories is refused (`Unsupported`: the engine never
//!   does one). Directories themselves always exist (`create_dir_all` does nothing), and
//!   locks are not files.
//! - **Power loss** ([`FaultStorage::power_loss`]) keeps, for each directory, its durable
//!   entries plus a random prefix of its later operations (a journaling file system commits
//!   metadata in order; a prefix of length 0 is the strict POSIX reading); and for each file
//!   that is still named, its disk content plus a random in-order prefix of its unsynced
//!   writes: the last write of the prefix torn at a 512-byte sector boundary (an
//!   uncommitted sector is all or nothing), and the rest of that write's sector possibly
//!   filled with zeros or garbage (a size update that reached the disk before the data).
//!   A file removed, but whose removal was not durable, comes back with its disk content.
//! - **A failed fsync** (injected: [`FaultKind::SyncEio`]) returns EIO and, as Linux does,
//!   forgets the dirty pages: the writes since the last sync never reach the disk, reads
//!   still see them, and the next fsync succeeds without writing them. A later successful
//!   fsync that extends the file leaves zeros where the forgotten writes were.
//! - **A failed write**: [`FaultKind::WriteEnospc`] writes a random prefix of the buffer
//!   (possibly none) and fails with ENOSPC; [`FaultKind::WriteEio`] writes nothing and fails
//!   with EIO; [`FaultKind::ShortWrite`] writes a random proper prefix and fails with
//!   `WriteZero`, as `write_all` does after a short write.
//! - **A failed directory sync** ([`FaultKind::DirSyncEio`]) returns EIO and makes nothing
//!   durable (the logged operations stay pending).
//! - **A failed read** ([`FaultKind::ReadEio`]): `read` or `list` returns EIO.
//! - **A power cut** ([`FaultStorage::cut_power_after`]): the power goes at the start of the
//!   n-th mutating operation (write, sync, create, open for append, rename, remove,
//!   truncate, directory sync). The disk image is taken at that instant, as
//!   [`FaultStorage::power_loss`] would, and every later operation fails with EIO, so
//!   whatever the engine was doing (a write, a flush, a compaction, its own recovery) stops
//!   there. [`FaultStorage::power_loss`] then returns that image.
//!
//! - **A read-only file system** ([`FaultStorage::set_read_only`]): every mutating
//!   operation, and taking a lock (which opens the lock file for writing), fails with
//!   EROFS until it is switched off.
//!
//! Faults are armed one at a time with [`FaultStorage::arm`]: the fault fires on the n-th
//! later operation of its kind, once.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{LockGuard, Storage, WriteFile};

/// Sector size: a write torn by a power loss keeps whole sectors only.
pub const SECTOR: u64 = 512;

/// A small deterministic random generator (SplitMix64), for fault schedules and test
/// workloads that must replay from a seed.
#[derive(Clone, Debug)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo.wrapping_add(self.below(hi.wrapping_sub(lo) as u64) as i64)
        }
    }
    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    /// Random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next_u64() as u8;
        }
    }
}

/// A fault that [`FaultStorage::arm`] can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// `write_all` writes a random prefix (maybe empty) and fails with ENOSPC.
    WriteEnospc,
    /// `write_all` writes nothing and fails with EIO.
    WriteEio,
    /// `write_all` writes a random proper prefix and fails with `WriteZero`.
    ShortWrite,
    /// A file's fsync fails with EIO and forgets the file's dirty pages.
    SyncEio,
    /// A directory's fsync fails with EIO; nothing of it becomes durable.
    DirSyncEio,
    /// `read` or `list` fails with EIO.
    ReadEio,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::WriteEnospc,
        FaultKind::WriteEio,
        FaultKind::ShortWrite,
        FaultKind::SyncEio,
        FaultKind::DirSyncEio,
        FaultKind::ReadEio,
    ];

    /// A short name, e.g. `"sync-eio"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::WriteEnospc => "write-enospc",
            FaultKind::WriteEio => "write-eio",
            FaultKind::ShortWrite => "short-write",
            FaultKind::SyncEio => "sync-eio",
            FaultKind::DirSyncEio => "dir-sync-eio",
            FaultKind::ReadEio => "read-eio",
        }
    }

    /// Whether this fault can make data that reads still show never reach the disk (a
    /// failed fsync forgets dirty pages). After such a fault only a power loss tells what
    /// the files really hold.
    pub fn loses_cached_data(self) -> bool {
        self == FaultKind::SyncEio
    }

    fn class(self) -> OpClass {
        match self {
            FaultKind::WriteEnospc | FaultKind::WriteEio | FaultKind::ShortWrite => OpClass::Write,
            FaultKind::SyncEio => OpClass::Sync,
            FaultKind::DirSyncEio => OpClass::DirSync,
            FaultKind::ReadEio => OpClass::Read,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpClass {
    Write,
    Sync,
    DirSync,
    Read,
    Other,
}

/// What a [`FaultStorage`] (and the images taken from it) did so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Mutating operations (writes, syncs, creations, renames, removals, truncations,
    /// directory syncs).
    pub ops: u64,
    /// Faults injected, by kind.
    pub injected: BTreeMap<FaultKind, u64>,
    /// Power losses simulated (images taken).
    pub power_losses: u64,
    /// Of those, how many were a cut in the middle of an operation sequence.
    pub power_cuts: u64,
    /// Unsynced writes that survived a power loss whole.
    pub writes_kept: u64,
    /// Unsynced writes lost to a power loss.
    pub writes_lost: u64,
    /// Writes kept torn at a sector boundary.
    pub torn_writes: u64,
    /// Torn writes followed by zeros.
    pub zero_tails: u64,
    /// Torn writes followed by garbage.
    pub garbage_tails: u64,
    /// Directory operations that a power loss kept although not synced.
    pub dir_ops_kept: u64,
    /// Directory operations that a power loss undid.
    pub dir_ops_lost: u64,
}

impl FaultStats {
    /// Adds another storage's figures to these.
    pub fn add(&mut self, o: &FaultStats) {
        self.ops += o.ops;
        for (k, v) in &o.injected {
            *self.injected.entry(*k).or_default() += v;
        }
        self.power_losses += o.power_losses;
        self.power_cuts += o.power_cuts;
        self.writes_kept += o.writes_kept;
        self.writes_lost += o.writes_lost;
        self.torn_writes += o.torn_writes;
        self.zero_tails += o.zero_tails;
        self.garbage_tails += o.garbage_tails;
        self.dir_ops_kept += o.dir_ops_kept;
        self.dir_ops_lost += o.dir_ops_lost;
    }
}

/// One file: the page cache (`data`), the disk, and the writes not yet on the disk.
#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    disk: Vec<u8>,
    /// Byte ranges of `data` written since the last sync, in the order written.
    dirty: Vec<(usize, usize)>,
}

type InodeRef = Arc<Mutex<Inode>>;

#[derive(Debug, Clone)]
enum DirOp {
    Link(String, InodeRef),
    Unlink(String),
    Rename(String, String),
}

#[derive(Debug, Default)]
struct Dir {
    durable: BTreeMap<String, InodeRef>,
    pending: Vec<DirOp>,
}

fn apply(names: &mut BTreeMap<String, InodeRef>, op: &DirOp) {
    match op {
        DirOp::Link(n, i) => {
            names.insert(n.clone(), i.clone());
        }
        DirOp::Unlink(n) => {
            names.remove(n);
        }
        DirOp::Rename(a, b) => {
            if let Some(i) = names.remove(a) {
                names.insert(b.clone(), i);
            }
        }
    }
}

#[derive(Debug)]
struct State {
    rng: SimRng,
    /// What the running system sees.
    files: BTreeMap<PathBuf, InodeRef>,
    dirs: BTreeMap<PathBuf, Dir>,
    locks: BTreeMap<PathBuf, ()>,
    /// Armed faults: fire on the n-th (1-based) later operation of their class.
    armed: Vec<(FaultKind, u64)>,
    /// Power goes at the start of this mutating operation (1-based count from arming).
    cut_in: Option<u64>,
    /// The image taken when the power went.
    dead: Option<Box<Image>>,
    /// Every mutation fails with EROFS.
    read_only: bool,
    stats: FaultStats,
}

/// What survives: every directory's entries and every named file's bytes.
#[derive(Debug)]
struct Image {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

/// An in-memory file system that simulates power loss and injects I/O errors; see the
/// [module documentation](self) for the model. Clones share the same file system.
#[derive(Clone, Debug)]
pub struct FaultStorage {
    st: Arc<Mutex<State>>,
}

fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    Ok((dir, name.to_string()))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

/// EIO, as the kernel reports it (the engine adds what it was doing).
fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

fn powered_off() -> io::Error {
    io::Error::other("the power is off (simulated power cut): Input/output error")
}

impl State {
    /// Counts a mutating operation; takes the image and fails when the power goes now.
    fn tick(&mut self) -> io::Result<()> {
        if self.dead.is_some() {
            return Err(powered_off());
        }
        if self.read_only {
            return Err(io::Error::from_raw_os_error(30));
        }
        self.stats.ops += 1;
        if let Some(n) = self.cut_in.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.cut_in = None;
                let img = self.image();
                self.stats.power_cuts += 1;
                self.dead = Some(Box::new(img));
                return Err(powered_off());
            }
        }
        Ok(())
    }

    fn alive(&self) -> io::Result<()> {
        if self.dead.is_some() {
            Err(powered_off())
        } else {
            Ok(())
        }
    }

    /// The armed fault of this class that fires now, if any.
    fn fire(&mut self, class: OpClass) -> Option<FaultKind> {
        if class == OpClass::Other {
            return None;
        }
        let mut fired = None;
        for a in &mut self.armed {
            if a.0.class() == class && a.1 > 0 {
                a.1 -= 1;
                if a.1 == 0 && fired.is_none() {
                    fired = Some(a.0);
                }
            }
        }
        self.armed.retain(|a| a.1 > 0);
        if let Some(k) = fired {
            *self.stats.injected.entry(k).or_default() += 1;
        }
        fired
    }

    fn dir(&mut self, d: &Path) -> &mut Dir {
        self.dirs.entry(d.to_path_buf()).or_default()
    }

    /// What a power loss now leaves: see the module documentation.
    fn image(&mut self) -> Image {
        self.stats.power_losses += 1;
        let mut files = BTreeMap::new();
        let mut done: HashMap<*const Mutex<Inode>, Vec<u8>> = HashMap::new();
        let dirs: Vec<PathBuf> = self.dirs.keys().cloned().collect();
        for d in dirs {
            let dir = &self.dirs[&d];
            let mut names = dir.durable.clone();
            let pending = dir.pending.clone();
            let keep = self.rng.below(pending.len() as u64 + 1) as usize;
            for op in &pending[..keep] {
                apply(&mut names, op);
            }
            self.stats.dir_ops_kept += keep as u64;
            self.stats.dir_ops_lost += (pending.len() - keep) as u64;
            for (n, ino) in names {
                let key = Arc::as_ptr(&ino);
                let bytes = match done.get(&key) {
                    Some(b) => b.clone(),
                    None => {
                        let b = self.file_image(&ino.lock());
                        done.insert(key, b.clone());
                        b
                    }
                };
                files.insert(d.join(n), bytes);
            }
        }
        Image { files }
    }

    /// A file's disk content plus a random in-order prefix of its unsynced writes, the last
    /// one torn at a sector boundary and maybe followed by zeros or garbage.
    fn file_image(&mut self, f: &Inode) -> Vec<u8> {
        let mut out = f.disk.clone();
        let n = f.dirty.len();
        if n == 0 {
            return out;
        }
        let keep = self.rng.below(n as u64 + 1) as usize;
        let put = |out: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            if out.len() < at + bytes.len() {
                out.resize(at + bytes.len(), 0);
            }
            out[at..at + bytes.len()].copy_from_slice(bytes);
        };
        for &(a, b) in &f.dirty[..keep] {
            put(&mut out, a, &f.data[a..b]);
        }
        self.stats.writes_kept += keep as u64;
        self.stats.writes_lost += (n - keep) as u64;
        if keep < n {
            let (a, b) = f.dirty[keep];
            // Sector boundaries strictly inside the write: a torn write keeps whole sectors.
            let first = (a as u64 / SECTOR + 1) * SECTOR;
            let mut cut = a;
            if (first as usize) < b && self.rng.chance(1, 2) {
                let last = (b as u64 - 1) / SECTOR * SECTOR;
                let k = self.rng.below((last - first) / SECTOR + 1);
                cut = (first + k * SECTOR) as usize;
                put(&mut out, a, &f.data[a..cut]);
                self.stats.torn_writes += 1;
            }
            // The rest of the cut's sector, within the write: zeros or garbage, or nothing.
            let end = (((cut as u64 / SECTOR) + 1) * SECTOR).min(b as u64) as usize;
            if end > cut && cut == out.len() {
                match self.rng.below(3) {
                    0 => {
                        put(&mut out, cut, &vec![0; end - cut]);
                        self.stats.zero_tails += 1;
                    }
                    1 => {
                        let mut g = vec![0; end - cut];
                        self.rng.fill(&mut g);
                        put(&mut out, cut, &g);
                        self.stats.garbage_tails += 1;
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

impl FaultStorage {
    /// An empty file system whose random choices follow `seed`.
    pub fn new(seed: u64) -> Self {
        FaultStorage {
            st: Arc::new(Mutex::new(State {
                rng: SimRng::new(seed),
                files: BTreeMap::new(),
                dirs: BTreeMap::new(),
                locks: BTreeMap::new(),
                armed: Vec::new(),
                cut_in: None,
                dead: None,
                read_only: false,
                stats: FaultStats::default(),
            })),
        }
    }

    /// Arms `kind` to fire once, on the `nth` (1 = next) later operation it applies to:
    /// writes for the write faults, file syncs for [`FaultKind::SyncEio`], directory syncs
    /// for [`FaultKind::DirSyncEio`], reads and listings for [`FaultKind::ReadEio`].
    pub fn arm(&self, kind: FaultKind, nth: u64) {
        self.st.lock().armed.push((kind, nth.max(1)));
    }

    /// Disarms every fault and the power cut.
    pub fn disarm(&self) {
        let mut st = self.st.lock();
        st.armed.clear();
        st.cut_in = None;
    }

    /// Makes the file system read-only (every mutation and lock fails with EROFS), or
    /// writable again.
    pub fn set_read_only(&self, on: bool) {
        self.st.lock().read_only = on;
    }

    /// Whether an armed fault has not fired yet.
    pub fn armed(&self) -> bool {
        !self.st.lock().armed.is_empty()
    }

    /// Cuts the power at the start of the `nth` (1 = next) later mutating operation.
    pub fn cut_power_after(&self, nth: u64) {
        self.st.lock().cut_in = Some(nth.max(1));
    }

    /// Whether the power has been cut.
    pub fn is_powered_off(&self) -> bool {
        self.st.lock().dead.is_some()
    }

    /// Mutating operations so far.
    pub fn ops(&self) -> u64 {
        self.st.lock().stats.ops
    }

    /// What this storage did so far.
    pub fn stats(&self) -> FaultStats {
        self.st.lock().stats.clone()
    }

    /// A power loss: a new file system holding what survives (see the module
    /// documentation) — the image taken when the power was cut, or one taken now. Its
    /// random choices continue this one's sequence; its statistics start with these. This
    /// storage is left as it was (handles into it keep working on it).
    pub fn power_loss(&self) -> FaultStorage {
        let mut st = self.st.lock();
        let img = match st.dead.take() {
            Some(img) => {
                st.dead = Some(Box::new(Image {
                    files: img.files.clone(),
                }));
                *img
            }
            None => st.image(),
        };
        let mut dirs: BTreeMap<PathBuf, Dir> = BTreeMap::new();
        let mut files = BTreeMap::new();
        for (p, bytes) in img.files {
            let ino = Arc::new(Mutex::new(Inode {
                disk: bytes.clone(),
                data: bytes,
                dirty: Vec::new(),
            }));
            if let Ok((d, n)) = split(&p) {
                dirs.entry(d).or_default().durable.insert(n, ino.clone());
            }
            files.insert(p, ino);
        }
        // Keep every directory known, even an empty one.
        for d in st.dirs.keys() {
            dirs.entry(d.clone()).or_default();
        }
        let seed = st.rng.next_u64();
        FaultStorage {
            st: Arc::new(Mutex::new(State {
                rng: SimRng::new(seed),
                files,
                dirs,
                locks: BTreeMap::new(),
                armed: Vec::new(),
                cut_in: None,
                dead: None,
                read_only: false,
                stats: st.stats.clone(),
            })),
        }
    }

    /// The bytes a read of `path` sees now, if it exists (even with the power off).
    pub fn peek(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.st.lock();
        st.files.get(path).map(|f| f.lock().data.clone())
    }

    /// Replaces a file's content, written and synced, its directory entry durable: for
    /// tests that damage files.
    pub fn put(&self, path: &Path, data: Vec<u8>) {
        let mut st = self.st.lock();
        let Ok((d, n)) = split(path) else { return };
        let ino = Arc::new(Mutex::new(Inode {
            disk: data.clone(),
            data,
            dirty: Vec::new(),
        }));
        st.files.insert(path.to_path_buf(), ino.clone());
        let dir = st.dir(&d);
        dir.pending.push(DirOp::Link(n.clone(), ino.clone()));
        let pending = std::mem::take(&mut dir.pending);
        for op in &pending {
            apply(&mut dir.durable, op);
        }
    }

    fn get(&self, path: &Path) -> io::Result<InodeRef> {
        self.st
            .lock()
            .files
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))
    }

    fn writer(&self, ino: InodeRef) -> Box<dyn WriteFile> {
        Box::new(FaultFile {
            st: self.st.clone(),
            ino,
        })
    }
}

/// A file of a [`FaultStorage`] open for appending.
#[derive(Debug)]
struct FaultFile {
    st: Arc<Mutex<State>>,
    ino: InodeRef,
}

impl WriteFile for FaultFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut st = self.st.lock();
        st.tick()?;
        let (take, err) = match st.fire(OpClass::Write) {
            None => (buf.len(), None),
            Some(FaultKind::WriteEio) => (0, Some(eio())),
            Some(FaultKind::WriteEnospc) => (
                st.rng.below(buf.len() as u64 + 1) as usize,
                Some(io::Error::from_raw_os_error(28)),
            ),
            Some(_) => (
                st.rng.below(buf.len() as u64) as usize,
                Some(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "failed to write whole buffer (short write, injected)",
                )),
            ),
        };
        drop(st);
        if take > 0 {
            let mut f = self.ino.lock();
            let a = f.data.len();
            f.data.extend_from_slice(&buf[..take]);
            f.dirty.push((a, a + take));
        }
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.st.lock();
        st.tick()?;
        let fail = st.fire(OpClass::Sync).is_some();
        drop(st);
        let mut f = self.ino.lock();
        if fail {
            // Linux: the dirty pages are marked clean, their data never reaches the disk.
            f.dirty.clear();
            return Err(eio());
        }
        let f = &mut *f;
        f.disk.resize(f.data.len(), 0);
        for (a, b) in f.dirty.drain(..) {
            let b = b.min(f.data.len());
            if a < b {
                f.disk[a..b].copy_from_slice(&f.data[a..b]);
            }
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.ino.lock().data.len() as u64
    }
}

#[derive(Debug)]
struct FaultLock {
    st: Arc<Mutex<State>>,
    path: PathBuf,
}
impl LockGuard for FaultLock {}
impl Drop for FaultLock {
    fn drop(&mut self) {
        self.st.lock().locks.remove(&self.path);
    }
}

impl Storage for FaultStorage {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.st.lock().alive()
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut st = self.st.lock();
        st.alive()?;
        if st.fire(OpClass::Read).is_some() {
            return Err(eio());
        }
        Ok(st
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        self.st.lock().files.contains_key(path)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let (d, n) = split(path)?;
        let mut st = self.st.lock();
        st.tick()?;
        let ino: InodeRef = Arc::default();
        st.files.insert(path.to_path_buf(), ino.clone());
        st.dir(&d).pending.push(DirOp::Link(n, ino.clone()));
        drop(st);
        Ok(self.writer(ino))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        self.st.lock().tick()?;
        let ino = self.get(path)?;
        Ok(self.writer(ino))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let mut st = self.st.lock();
        st.alive()?;
        if st.fire(OpClass::Read).is_some() {
            return Err(eio());
        }
        let ino = st.files.get(path).cloned().ok_or_else(|| not_found(path))?;
        drop(st);
        let data = ino.lock().data.clone();
        Ok(Bytes::from(data))
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.st.lock().alive()?;
        Ok(self.get(path)?.lock().data.len() as u64)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (fd, fnm) = split(from)?;
        let (td, tnm) = split(to)?;
        if fd != td {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "FaultStorage renames only within one directory",
            ));
        }
        let mut st = self.st.lock();
        st.tick()?;
        let ino = st.files.remove(from).ok_or_else(|| not_found(from))?;
        st.files.insert(to.to_path_buf(), ino);
        st.dir(&fd).pending.push(DirOp::Rename(fnm, tnm));
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let (d, n) = split(path)?;
        let mut st = self.st.lock();
        st.tick()?;
        st.files.remove(path).ok_or_else(|| not_found(path))?;
        st.dir(&d).pending.push(DirOp::Unlink(n));
        Ok(())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.st.lock();
        st.tick()?;
        let ino = st.files.get(path).cloned().ok_or_else(|| not_found(path))?;
        drop(st);
        let mut f = ino.lock();
        f.data.truncate(len as usize);
        f.disk = f.data.clone();
        f.dirty.clear();
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.st.lock();
        st.tick()?;
        if st.fire(OpClass::DirSync).is_some() {
            return Err(eio());
        }
        let d = st.dir(dir);
        let pending = std::mem::take(&mut d.pending);
        for op in &pending {
            apply(&mut d.durable, op);
        }
        Ok(())
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        let mut st = self.st.lock();
        st.alive()?;
        if st.read_only {
            return Err(io::Error::from_raw_os_error(30));
        }
        if st.locks.contains_key(path) {
            return Ok(None);
        }
        st.locks.insert(path.to_path_buf(), ());
        Ok(Some(Box::new(FaultLock {
            st: self.st.clone(),
            path: path.to_path_buf(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(s: &FaultStorage, p: &str, chunks: &[&[u8]], sync_after: usize) {
        let mut f = s.create(Path::new(p)).unwrap();
        for (i, c) in chunks.iter().enumerate() {
            f.write_all(c).unwrap();
            if i + 1 == sync_after {
                f.sync().unwrap();
            }
        }
    }

    #[test]
    fn synced_data_and_synced_entries_survive() {
        for seed in 0..200 {
            let s = FaultStorage::new(seed);
            write(&s, "/d/a", &[b"hello", b" world"], 1);
            s.sync_dir(Path::new("/d")).unwrap();
            let after = s.power_loss();
            let got = after.peek(Path::new("/d/a")).unwrap();
            // The unsynced write is short (inside one sector): all or nothing, maybe zeros
            // or garbage in its place.
            assert!(got.starts_with(b"hello"), "{got:?}");
            assert!(got.len() == 5 || got.len() == 11, "{got:?}");
        }
    }

    #[test]
    fn unsynced_entries_may_vanish_or_survive() {
        let (mut gone, mut kept) = (0, 0);
        for seed in 0..200 {
            let s = FaultStorage::new(seed);
            write(&s, "/d/a", &[b"x"], 1);
            match s.power_loss().peek(Path::new("/d/a")) {
                None => gone += 1,
                Some(b) => {
                    assert_eq!(b, b"x");
                    kept += 1
                }
            }
        }
        assert!(gone > 0 && kept > 0);
    }

    #[test]
    fn torn_writes_keep_whole_sectors_in_order() {
        let big: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8 + 1).collect();
        let mut torn = 0;
        for seed in 0..500 {
            let s = FaultStorage::new(seed);
            write(&s, "/d/a", &[b"head", &big[..1000], &big[1000..]], 1);
            s.sync_dir(Path::new("/d")).unwrap();
            let got = s.power_loss().peek(Path::new("/d/a")).unwrap();
            let mut want = b"head".to_vec();
            want.extend_from_slice(&big);
            // A prefix of the writes, exact up to a sector boundary or a write's end...
            let good = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
            assert!(good >= 4);
            let ends = [4usize, 1004, 4004];
            let b = (0..=good)
                .rev()
                .find(|&x| ends.contains(&x) || x % 512 == 0)
                .unwrap();
            // ...and after it at most the rest of one sector, never past the data.
            assert!(got.len() <= want.len());
            assert!(
                got.len() <= (b / 512 + 1) * 512,
                "seed {seed}: {b} {}",
                got.len()
            );
            if b % 512 == 0 && !ends.contains(&b) && b > 4 {
                torn += 1;
            }
        }
        assert!(torn > 0);
    }

    #[test]
    fn failed_fsync_forgets_the_dirty_pages() {
        let s = FaultStorage::new(1);
        let p = Path::new("/d/a");
        let mut f = s.create(p).unwrap();
        s.sync_dir(Path::new("/d")).unwrap();
        f.write_all(b"one").unwrap();
        f.sync().unwrap();
        f.write_all(b"two").unwrap();
        s.arm(FaultKind::SyncEio, 1);
        assert!(f.sync().is_err());
        // Reads still see the data, the next fsync succeeds, but the disk never gets it.
        assert_eq!(s.peek(p).unwrap(), b"onetwo");
        f.sync().unwrap();
        f.write_all(b"three").unwrap();
        f.sync().unwrap();
        for _ in 0..20 {
            assert_eq!(s.power_loss().peek(p).unwrap(), b"one\0\0\0three");
        }
        assert_eq!(s.stats().injected[&FaultKind::SyncEio], 1);
    }

    #[test]
    fn write_faults_and_power_cut() {
        let s = FaultStorage::new(7);
        let p = Path::new("/d/a");
        let mut f = s.create(p).unwrap();
        s.arm(FaultKind::WriteEio, 2);
        f.write_all(b"ok").unwrap();
        assert!(f.write_all(b"lost").is_err());
        assert_eq!(s.peek(p).unwrap(), b"ok");
        s.arm(FaultKind::WriteEnospc, 1);
        let e = f.write_all(b"full").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        s.arm(FaultKind::ShortWrite, 1);
        let e = f.write_all(b"short").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WriteZero);
        let before = s.peek(p).unwrap();
        assert!(before.starts_with(b"ok") && before.len() < 2 + 4 + 5);
        f.sync().unwrap();
        s.sync_dir(Path::new("/d")).unwrap();
        s.cut_power_after(2);
        f.write_all(b"x").unwrap();
        assert!(f.write_all(b"y").is_err());
        assert!(s.is_powered_off());
        assert!(s.read(p).is_err());
        let after = s.power_loss();
        let got = after.peek(p).unwrap();
        assert!(
            got == before || got == [&before[..], b"x"].concat(),
            "{got:?}"
        );
        after.read(p).unwrap();
    }

    #[test]
    fn rename_is_atomic_and_removal_may_be_undone() {
        for seed in 0..100 {
            let s = FaultStorage::new(seed);
            write(&s, "/d/M", &[b"old"], 1);
            s.sync_dir(Path::new("/d")).unwrap();
            write(&s, "/d/M.tmp", &[b"new"], 1);
            s.rename(Path::new("/d/M.tmp"), Path::new("/d/M")).unwrap();
            let a = s.power_loss();
            let m = a
                .peek(Path::new("/d/M"))
                .expect("the manifest never vanishes");
            let t = a.peek(Path::new("/d/M.tmp"));
            // Either the rename happened (no tmp left) or not (old content).
            match (&m[..], t) {
                (b"new", None) | (b"old", None) | (b"old", Some(_)) => {}
                other => panic!("seed {seed}: {other:?}"),
            }
        }
    }
}
