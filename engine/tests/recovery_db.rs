//! Recovery at the database level: reopening, the lock, a failed fsync, damaged files, and
//! never panicking on cut or flipped files.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use meterdb::io::{LockGuard, MemStorage, Storage, WriteFile};
use meterdb::{Db, Durability, ErrorKind, Options, PointKind, PointMeta, WriteBatch};

mod support;
use support::mem_opts;

const T0: i64 = 1_767_196_800_000;
const IV: i64 = 900_000;

fn fill(db: &Db, points: u32, n: i64, base: f64) {
    for p in 0..points {
        let id = db.ensure_point(&format!("p{p}")).unwrap();
        let mut b = WriteBatch::new();
        for i in 0..n {
            b.put(id, T0 + i * IV, base + p as f64 + i as f64 * 0.125);
        }
        db.write(&b).unwrap();
    }
}

fn all(db: &Db, p: u32) -> Vec<(i64, u64)> {
    let c = db.read_range(p, i64::MIN, i64::MAX).unwrap();
    c.ts.iter()
        .zip(&c.values)
        .map(|(&t, v)| (t, v.to_bits()))
        .collect()
}

#[test]
fn second_open_of_a_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked);
    assert!(err.to_string().contains("locked"), "{err}");
    drop(db);
    Db::open(dir.path(), Options::default()).unwrap();
}

#[test]
fn reopen_on_real_files_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        fill(&db, 3, 500, 10.0);
        db.flush().unwrap();
        fill(&db, 3, 700, 20.0); // corrections of flushed data, plus new data, in the WAL only
        db.delete_range(1, T0, T0 + 10 * IV).unwrap();
        before = (0..3).map(|p| all(&db, p)).collect::<Vec<_>>();
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let after = (0..3).map(|p| all(&db, p)).collect::<Vec<_>>();
    assert_eq!(before, after);
    assert_eq!(after[1].len(), 690);
    db.compact().unwrap();
    assert_eq!(before, (0..3).map(|p| all(&db, p)).collect::<Vec<_>>());
    assert!(db.verify().unwrap().is_empty());
}

#[test]
fn bad_input_is_refused_and_nothing_is_applied() {
    let s = MemStorage::new();
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    let id = db
        .define_point(PointMeta::new("a", PointKind::Counter))
        .unwrap();
    let mut b = WriteBatch::new();
    b.put(id, T0, 1.0);
    b.put(id, T0 + IV, f64::NAN);
    assert_eq!(db.write(&b).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let mut b = WriteBatch::new();
    b.put(id, T0, f64::INFINITY);
    assert_eq!(db.write(&b).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let mut b = WriteBatch::new();
    b.put(id + 1, T0, 1.0);
    assert_eq!(db.write(&b).unwrap_err().kind(), ErrorKind::NotFound);
    let mut b = WriteBatch::new();
    b.put(id, i64::MAX, 1.0);
    assert_eq!(db.write(&b).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(all(&db, id).is_empty());
    assert_eq!(
        db.define_point(PointMeta::new("", PointKind::Gauge))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.define_point(PointMeta::new("x".repeat(256), PointKind::Gauge))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.delete_range(id, 5, 5).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        db.read_range(99, 0, 1).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// A storage that forwards to `MemStorage` and fails every sync once told to.
#[derive(Debug, Clone)]
struct FailingSync {
    inner: MemStorage,
    fail: Arc<AtomicBool>,
    syncs_after_failure: Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Debug)]
struct FailingFile {
    inner: Box<dyn WriteFile>,
    fail: Arc<AtomicBool>,
    syncs_after_failure: Arc<std::sync::atomic::AtomicUsize>,
}

impl WriteFile for FailingFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            self.syncs_after_failure.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::other("injected fsync failure (EIO)"));
        }
        self.inner.sync()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl FailingSync {
    fn wrap(&self, f: Box<dyn WriteFile>) -> Box<dyn WriteFile> {
        Box::new(FailingFile {
            inner: f,
            fail: self.fail.clone(),
            syncs_after_failure: self.syncs_after_failure.clone(),
        })
    }
}

impl Storage for FailingSync {
    fn create_dir_all(&self, d: &Path) -> io::Result<()> {
        self.inner.create_dir_all(d)
    }
    fn list(&self, d: &Path) -> io::Result<Vec<String>> {
        self.inner.list(d)
    }
    fn exists(&self, p: &Path) -> bool {
        self.inner.exists(p)
    }
    fn create(&self, p: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(self.wrap(self.inner.create(p)?))
    }
    fn open_append(&self, p: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(self.wrap(self.inner.open_append(p)?))
    }
    fn read(&self, p: &Path) -> io::Result<Bytes> {
        self.inner.read(p)
    }
    fn file_size(&self, p: &Path) -> io::Result<u64> {
        self.inner.file_size(p)
    }
    fn rename(&self, a: &Path, b: &Path) -> io::Result<()> {
        self.inner.rename(a, b)
    }
    fn remove(&self, p: &Path) -> io::Result<()> {
        self.inner.remove(p)
    }
    fn truncate(&self, p: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(p, len)
    }
    fn sync_dir(&self, d: &Path) -> io::Result<()> {
        self.inner.sync_dir(d)
    }
    fn try_lock(&self, p: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(p)
    }
}

#[test]
fn failed_fsync_poisons_and_is_never_retried() {
    let mem = MemStorage::new();
    let fs = FailingSync {
        inner: mem.clone(),
        fail: Arc::new(AtomicBool::new(false)),
        syncs_after_failure: Arc::new(0.into()),
    };
    let opts = Options {
        storage: Some(Arc::new(fs.clone())),
        background: false,
        durability: Durability::Sync,
        ..Options::default()
    };
    let db = Db::open("/db", opts).unwrap();
    fill(&db, 2, 100, 1.0);
    let good = all(&db, 0);
    fs.fail.store(true, Ordering::SeqCst);
    let mut b = WriteBatch::new();
    b.put(0, T0 + 1000 * IV, 5.0);
    let e = db.write(&b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    let after_first = fs.syncs_after_failure.load(Ordering::SeqCst);
    assert_eq!(after_first, 1);
    // Every later write is refused without touching fsync again.
    for _ in 0..3 {
        let e = db.write(&b).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
    }
    assert_eq!(db.flush().unwrap_err().kind(), ErrorKind::Poisoned);
    assert_eq!(fs.syncs_after_failure.load(Ordering::SeqCst), after_first);
    // Reads still work.
    assert_eq!(all(&db, 0).len(), good.len() + 1);
    drop(db);
    // After a power loss, what was acknowledged is there; the failed write was not.
    let crashed = mem.crash();
    let db = Db::open("/db", mem_opts(&crashed)).unwrap();
    assert_eq!(all(&db, 0), good);
}

#[test]
fn damaged_segment_block_is_reported_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        fill(&db, 2, 300, 1.0);
        db.flush().unwrap();
    }
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("seg-"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[60] ^= 0x40; // inside the first block
    std::fs::write(&seg, &bytes).unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let e = db.read_range(0, i64::MIN, i64::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    let msg = e.to_string();
    assert!(
        msg.contains(seg.file_name().unwrap().to_str().unwrap()) && msg.contains("offset"),
        "{msg}"
    );
    let problems = db.verify().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
}

/// Cuts and flips every file of a small database at every offset: opening and reading must
/// return an error or data that was written (a torn WAL tail may drop the newest records),
/// never panic and never invent a sample.
#[test]
fn cut_or_flipped_files_never_panic_or_invent_data() {
    let s = MemStorage::new();
    let written: Vec<Vec<(i64, u64)>>;
    {
        let db = Db::open("/db", mem_opts(&s)).unwrap();
        fill(&db, 2, 40, 1.0);
        db.flush().unwrap();
        fill(&db, 2, 10, 100.0); // in the WAL only
        written = (0..2).map(|p| all(&db, p)).collect();
    }
    let mut history: Vec<std::collections::HashSet<(i64, u64)>> = vec![Default::default(); 2];
    for p in 0..2u32 {
        for i in 0..40 {
            history[p as usize].insert((
                T0 + i * IV,
                (1.0 + p as f64 + i as f64 * 0.125f64).to_bits(),
            ));
        }
        for i in 0..10 {
            history[p as usize].insert((
                T0 + i * IV,
                (100.0 + p as f64 + i as f64 * 0.125f64).to_bits(),
            ));
        }
    }
    let mut files = vec![];
    for d in ["/db", "/db/wal"] {
        for n in s.list(Path::new(d)).unwrap() {
            if n != "LOCK" {
                files.push(Path::new(d).join(n));
            }
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    let mut opened = 0;
    for f in &files {
        let orig = s.read(f).unwrap().to_vec();
        let mut variants: Vec<Vec<u8>> = (0..orig.len()).map(|i| orig[..i].to_vec()).collect();
        for i in 0..orig.len() {
            let mut v = orig.clone();
            v[i] ^= 1 << (i % 8);
            variants.push(v);
        }
        for v in variants {
            let copy = s.crash();
            copy.put(f, v);
            let Ok(db) = Db::open("/db", mem_opts(&copy)) else {
                continue;
            };
            opened += 1;
            for p in 0..2u32 {
                let Ok(c) = db.read_range(p, i64::MIN, i64::MAX) else {
                    continue;
                };
                for (t, v) in c.ts.iter().zip(&c.values) {
                    assert!(
                        history[p as usize].contains(&(*t, v.to_bits())),
                        "{f:?}: invented sample ({t}, {v}) of point {p}"
                    );
                }
            }
        }
    }
    assert!(opened > 0);
    let db = Db::open("/db", mem_opts(&s)).unwrap();
    assert_eq!((0..2).map(|p| all(&db, p)).collect::<Vec<_>>(), written);
}
