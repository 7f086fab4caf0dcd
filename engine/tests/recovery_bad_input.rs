//! The bad-input catalogue of `docs/robustness.md`, for the classes that no other test
//! shows: zero-filled and 0xFF regions in every file, a wrong magic or version in every
//! kind of file, lengths past the end and a missing footer, a block from another file,
//! WAL records with non-finite values or timestamps out of range, EIO on read, ENOSPC on
//! write, and a read-only directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use meterdb::io::{FaultKind, FaultStorage, MemStorage, Storage};
use meterdb::segment::Segment;
use meterdb::{Db, ErrorKind, Options, WriteBatch};

const T0: i64 = 1_767_196_800_000;
const IV: i64 = 900_000;

fn opts(s: Arc<dyn Storage>) -> Options {
    Options {
        storage: Some(s),
        background: false,
        ..Options::default()
    }
}

fn mem(s: &MemStorage) -> Options {
    opts(Arc::new(s.clone()))
}

/// A small database: two points, flushed data, rollups, a delete, and data in the WAL only.
/// Returns every (point, ts, value bits) ever written.
fn build(s: &MemStorage) -> HashSet<(u32, i64, u64)> {
    let db = Db::open("/db", mem(s)).unwrap();
    let mut written = HashSet::new();
    for (round, base) in [(0, 1.0), (1, 100.0)] {
        for p in 0..2u32 {
            let id = db.ensure_point(&format!("p{p}")).unwrap();
            let mut b = WriteBatch::new();
            for i in 0..40 {
                let v = base + f64::from(p) + i as f64 * 0.125;
                b.put(id, T0 + i * IV, v);
                written.insert((id, T0 + i * IV, v.to_bits()));
            }
            db.write(&b).unwrap();
        }
        if round == 0 {
            db.delete_range(1, T0, T0 + 5 * IV).unwrap();
            db.flush().unwrap();
        }
    }
    written
}

fn files(s: &dyn Storage) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in ["/db", "/db/wal"] {
        for n in s.list(Path::new(d)).unwrap() {
            out.push(Path::new(d).join(n));
        }
    }
    out.sort();
    out
}

/// Opens and reads everything; every sample must be one that was written.
fn open_and_check(s: &MemStorage, written: &HashSet<(u32, i64, u64)>, what: &str) -> bool {
    let Ok(db) = Db::open("/db", mem(s)) else {
        return false;
    };
    for p in 0..2u32 {
        let Ok(c) = db.read_range(p, i64::MIN, i64::MAX) else {
            continue;
        };
        for (t, v) in c.ts.iter().zip(&c.values) {
            assert!(
                written.contains(&(p, *t, v.to_bits())),
                "{what}: invented sample ({t}, {v}) of point {p}"
            );
        }
        let _ = db.rollup(p, meterdb::Tier::Hour, i64::MIN / 2, i64::MAX / 2);
    }
    let _ = db.verify();
    true
}

#[test]
fn zero_and_ff_regions_never_panic_or_invent_data() {
    let s = MemStorage::new();
    let written = build(&s);
    let mut opened = 0;
    let mut tried = 0;
    for f in files(&s) {
        let orig = s.read(&f).unwrap().to_vec();
        for fill in [0x00u8, 0xFF] {
            for len in [1usize, 8, 64, 512] {
                for at in (0..orig.len()).step_by(5) {
                    let mut v = orig.clone();
                    let end = (at + len).min(v.len());
                    v[at..end].fill(fill);
                    if v == orig {
                        continue;
                    }
                    let copy = s.crash();
                    copy.put(&f, v);
                    tried += 1;
                    let what = format!("{} bytes of {fill:#04x} at {at} of {}", len, f.display());
                    if open_and_check(&copy, &written, &what) {
                        opened += 1;
                    }
                }
            }
        }
    }
    println!("{tried} damaged copies, {opened} opened");
    assert!(tried > 1000 && opened > 0);
}

fn damage(s: &MemStorage, pick: impl Fn(&str) -> bool, edit: impl Fn(&mut Vec<u8>)) -> String {
    let f = files(s)
        .into_iter()
        .find(|p| pick(p.file_name().unwrap().to_str().unwrap()))
        .unwrap();
    let mut b = s.read(&f).unwrap().to_vec();
    edit(&mut b);
    s.put(&f, b);
    f.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn wrong_magic_or_version_in_every_kind_of_file() {
    type Pick = fn(&str) -> bool;
    let kinds: [(&str, Pick); 5] = [
        ("manifest", |n| n == "MANIFEST"),
        ("catalog", |n| n.starts_with("catalog-")),
        ("raw segment", |n| n.starts_with("seg-")),
        ("rollup segment", |n| n.starts_with("day-")),
        ("wal", |n| n.starts_with("wal-")),
    ];
    for (kind, pick) in kinds {
        let s = MemStorage::new();
        build(&s);
        let name = damage(&s, pick, |b| b[0] ^= 0x20);
        let e = Db::open("/db", mem(&s)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corruption, "{kind} magic: {e}");
        assert!(e.to_string().contains(&name), "{kind}: {e}");

        let s = MemStorage::new();
        build(&s);
        let name = damage(&s, pick, |b| b[8..12].copy_from_slice(&7u32.to_le_bytes()));
        let e = Db::open("/db", mem(&s)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::UnsupportedVersion,
            "{kind} version: {e}"
        );
        assert!(e.to_string().contains(&name), "{kind}: {e}");
    }
}

#[test]
fn segment_lengths_past_the_end_and_a_missing_footer() {
    let s = MemStorage::new();
    build(&s);
    let seg = files(&s)
        .into_iter()
        .find(|p| p.to_str().unwrap().contains("/seg-"))
        .unwrap();
    let orig = s.read(&seg).unwrap().to_vec();
    let n = orig.len();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("missing footer", orig[..n - 32].to_vec(), "footer"),
        (
            "index offset past the end",
            {
                let mut b = orig.clone();
                b[n - 32..n - 24].copy_from_slice(&(n as u64 * 2).to_le_bytes());
                b
            },
            "outside the file",
        ),
        (
            "index length past the end",
            {
                let mut b = orig.clone();
                b[n - 24..n - 16].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            "outside the file",
        ),
        ("cut in the middle", orig[..n / 2].to_vec(), ""),
    ];
    for (what, bytes, msg) in cases {
        let e = Segment::from_bytes(Bytes::from(bytes.clone()), &seg).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corruption, "{what}: {e}");
        assert!(e.to_string().contains(msg), "{what}: {e}");
        let copy = s.crash();
        copy.put(&seg, bytes);
        let e = Db::open("/db", mem(&copy)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corruption, "{what}: {e}");
        assert!(e.to_string().contains("seg-"), "{what}: {e}");
    }
}

#[test]
fn a_block_or_file_from_another_file_is_refused() {
    let s = MemStorage::new();
    build(&s);
    let segs: Vec<PathBuf> = files(&s)
        .into_iter()
        .filter(|p| p.to_str().unwrap().contains("/seg-"))
        .collect();
    let orig = s.read(&segs[0]).unwrap().to_vec();
    // Same bytes, another file number in the header (its checksum made right): every block
    // checksum covers the file number, so the blocks read as from another file.
    let mut other = orig.clone();
    let no = u64::from_le_bytes(other[16..24].try_into().unwrap()) + 1000;
    other[16..24].copy_from_slice(&no.to_le_bytes());
    let crc = crc32fast::hash(&other[..48]);
    other[48..52].copy_from_slice(&crc.to_le_bytes());
    let seg = Segment::from_bytes(Bytes::from(other.clone()), &segs[0]).unwrap();
    let e = seg.verify().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    assert!(e.to_string().contains("checksum"), "{e}");
    // And in a database: the manifest names one file, the header says another.
    let copy = s.crash();
    copy.put(&segs[0], other);
    let e = Db::open("/db", mem(&copy)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert!(e.to_string().contains("differs from the manifest"), "{e}");
    // A whole file copied over another's name.
    if segs.len() > 1 {
        let copy = s.crash();
        copy.put(&segs[1], orig);
        let e = Db::open("/db", mem(&copy)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    }
}

/// A WAL record whose checksum holds but whose samples the engine would never have
/// written: replay checks them like a write does and reports corruption.
#[test]
fn wal_records_with_non_finite_values_or_timestamps_out_of_range_are_corruption() {
    for (what, ts, v) in [
        ("NaN", T0, f64::NAN),
        ("infinity", T0, f64::INFINITY),
        ("ts past 9999", i64::MAX, 1.0),
        ("ts before 1000", i64::MIN, 1.0),
    ] {
        let s = MemStorage::new();
        build(&s);
        let wal = files(&s)
            .into_iter()
            .rfind(|p| p.to_str().unwrap().contains("/wal-"))
            .unwrap();
        let mut bytes = s.read(&wal).unwrap().to_vec();
        let last = meterdb::wal::scan(&bytes).records.last().unwrap().seq;
        // samples: 0x01 | n uvarint | point u32 x n | ts i64 x n | value bits x n | q x n
        let mut payload = vec![0x01, 1];
        payload.extend_from_slice(&0u32.to_le_bytes());
        payload.extend_from_slice(&ts.to_le_bytes());
        payload.extend_from_slice(&v.to_bits().to_le_bytes());
        payload.push(1);
        meterdb::wal::record::encode_record(&mut bytes, last + 1, &payload);
        s.put(&wal, bytes);
        let e = Db::open("/db", mem(&s)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corruption, "{what}: {e}");
    }
}

#[test]
fn eio_on_read_fails_the_open_and_enospc_poisons_writes() {
    let f = FaultStorage::new(1);
    {
        let db = Db::open("/db", opts(Arc::new(f.clone()))).unwrap();
        let id = db.ensure_point("a").unwrap();
        db.put(id, T0, 1.0).unwrap();
        db.flush().unwrap();
        db.put(id, T0 + IV, 2.0).unwrap();
    }
    for nth in 1..6 {
        f.arm(FaultKind::ReadEio, nth);
        let r = Db::open("/db", opts(Arc::new(f.clone())));
        let fired = !f.armed();
        f.disarm();
        match r {
            Err(e) => {
                assert!(fired, "{e}");
                assert_eq!(e.kind(), ErrorKind::Io, "read {nth}: {e}");
                assert!(e.to_string().contains("os error 5"), "{e}");
            }
            Ok(_) => assert!(!fired, "read {nth} failed but the open succeeded"),
        }
    }
    let db = Db::open("/db", opts(Arc::new(f.clone()))).unwrap();
    f.arm(FaultKind::WriteEnospc, 1);
    let e = db.put(0, T0 + 2 * IV, 3.0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StorageFull, "{e}");
    let e = db.put(0, T0 + 3 * IV, 4.0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Poisoned, "{e}");
    assert_eq!(db.read_range(0, i64::MIN, i64::MAX).unwrap().len(), 2);
    drop(db);
    // Reopened: the full disk's partial record was a torn tail, dropped.
    let db = Db::open("/db", opts(Arc::new(f.clone()))).unwrap();
    assert_eq!(
        db.read_range(0, i64::MIN, i64::MAX).unwrap().ts,
        [T0, T0 + IV]
    );
}

#[test]
fn a_read_only_directory_fails_the_open_with_an_io_error() {
    // Simulated: every mutation and the lock fail with EROFS.
    let f = FaultStorage::new(2);
    {
        let db = Db::open("/db", opts(Arc::new(f.clone()))).unwrap();
        db.ensure_point("a").unwrap();
    }
    f.set_read_only(true);
    let e = Db::open("/db", opts(Arc::new(f.clone()))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("os error 30"), "{e}");
    f.set_read_only(false);
    assert!(Db::open("/db", opts(Arc::new(f.clone()))).is_ok());

    // Real files: a directory without write permission (not enforced for root, which
    // this test then says and skips).
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Db::open(&path, Options::default()).unwrap();
        let id = db.ensure_point("a").unwrap();
        db.put(id, T0, 1.0).unwrap();
    }
    let lock = path.join("LOCK");
    let _ = std::fs::remove_file(&lock);
    let set = |mode| {
        for d in [path.clone(), path.join("wal")] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    set(0o555);
    let probe = path.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        let _ = std::fs::remove_file(&probe);
        set(0o755);
        println!("skipped the real read-only directory: permissions are not enforced (root)");
        return;
    }
    let r = Db::open(&path, Options::default());
    set(0o755);
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
}
