//! Tests of the whole log: round trips, torn tails, corruption, never-panic, poisoning and
//! crashes, on [`MemStorage`] and on real files.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::record::{encode_record, scan, ScanEnd, FILE_HEADER_LEN, RECORD_HEADER_LEN};
use super::*;
use crate::error::{Error, ErrorKind, Result};
use crate::io::{FileStorage, LockGuard, MemStorage, Storage, WriteFile};

const DIR: &str = "/db/wal";

type Replayed = Vec<(u64, Vec<u8>)>;

fn opts(max_file_bytes: u64) -> WalOptions {
    WalOptions { max_file_bytes }
}

fn open(
    st: &Arc<dyn Storage>,
    dir: &Path,
    o: WalOptions,
    start_after: u64,
) -> Result<(Wal, Replayed)> {
    let mut got = Vec::new();
    let wal = Wal::open(st.clone(), dir, o, start_after, &mut |seq, p| {
        got.push((seq, p.to_vec()));
        Ok(())
    })?;
    Ok((wal, got))
}

/// A payload whose length and bytes depend on `i` (0..=199 bytes).
fn payload(i: u64) -> Vec<u8> {
    let n = (i * 37 % 200) as usize;
    (0..n).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// The WAL files in `dir`, in log order.
fn wal_files(st: &dyn Storage, dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<String> = st
        .list(dir)
        .unwrap()
        .into_iter()
        .filter(|n| parse_file_name(n).is_some())
        .collect();
    names.sort();
    names.into_iter().map(|n| dir.join(n)).collect()
}

fn snapshot(st: &MemStorage, dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    wal_files(st, dir)
        .into_iter()
        .map(|p| {
            let b = st.read(&p).unwrap().to_vec();
            (p, b)
        })
        .collect()
}

fn restore(files: &[(PathBuf, Vec<u8>)]) -> Arc<dyn Storage> {
    let st = MemStorage::new();
    for (p, b) in files {
        st.put(p, b.clone());
    }
    Arc::new(st)
}

/// Writes records 1..=n with `payload(seq)` into a fresh log, synced, in files of at most
/// `max` bytes; returns the storage.
fn build(n: u64, max: u64) -> MemStorage {
    let mem = MemStorage::new();
    let st: Arc<dyn Storage> = Arc::new(mem.clone());
    let (mut wal, got) = open(&st, Path::new(DIR), opts(max), 0).unwrap();
    assert!(got.is_empty());
    for seq in 1..=n {
        assert_eq!(wal.append(&payload(seq)).unwrap(), seq);
    }
    wal.sync().unwrap();
    mem
}

fn expected(range: std::ops::RangeInclusive<u64>) -> Replayed {
    range.map(|s| (s, payload(s))).collect()
}

fn corruption_text(r: Result<(Wal, Replayed)>) -> String {
    match r {
        Err(e @ Error::Corruption { .. }) => e.to_string(),
        Err(e) => panic!("expected corruption, got {e}"),
        Ok((_, got)) => panic!(
            "expected corruption, opened and replayed {} records",
            got.len()
        ),
    }
}

fn round_trip(st: Arc<dyn Storage>, dir: &Path) {
    let o = opts(1000);
    let (mut wal, got) = open(&st, dir, o, 0).unwrap();
    assert!(got.is_empty());
    assert_eq!((wal.last_seq(), wal.synced_seq()), (0, 0));
    for seq in 1..=150 {
        assert_eq!(wal.append(&payload(seq)).unwrap(), seq);
        if seq % 40 == 0 {
            wal.sync().unwrap();
            assert_eq!(wal.synced_seq(), seq);
        }
        if seq == 75 {
            assert_eq!(wal.rotate().unwrap(), 75);
        }
    }
    wal.sync().unwrap();
    assert_eq!((wal.last_seq(), wal.synced_seq()), (150, 150));
    let files = wal_files(&*st, dir);
    assert!(files.len() >= 5, "{files:?}");
    let on_disk: u64 = files.iter().map(|p| st.file_size(p).unwrap()).sum();
    assert_eq!(wal.size_bytes(), on_disk);
    for p in &files {
        assert!(st.file_size(p).unwrap() <= 1000, "{p:?} too large");
    }
    // The file after the explicit rotation starts at seq 76.
    assert!(files.contains(&dir.join(file_name(76))));
    drop(wal);

    let (wal, got) = open(&st, dir, o, 0).unwrap();
    assert_eq!(got, expected(1..=150));
    assert_eq!((wal.last_seq(), wal.synced_seq()), (150, 150));
    drop(wal);

    let (mut wal, got) = open(&st, dir, o, 97).unwrap();
    assert_eq!(got, expected(98..=150));
    assert_eq!(wal.append(&payload(151)).unwrap(), 151);
    wal.sync().unwrap();

    // Remove what is durable elsewhere up to 100: only files wholly <= 100 go.
    wal.remove_obsolete(100).unwrap();
    let left = wal_files(&*st, dir);
    assert!(left.len() < files.len());
    let first_left = parse_file_name(left[0].file_name().unwrap().to_str().unwrap()).unwrap();
    assert!(
        first_left <= 101,
        "removed a file holding seq 101: {left:?}"
    );
    let on_disk: u64 = left.iter().map(|p| st.file_size(p).unwrap()).sum();
    assert_eq!(wal.size_bytes(), on_disk);
    drop(wal);

    let (mut wal, got) = open(&st, dir, o, 100).unwrap();
    assert_eq!(got, expected(101..=151));
    // Everything obsolete: only the current file stays.
    wal.remove_obsolete(u64::MAX).unwrap();
    assert_eq!(wal_files(&*st, dir).len(), 1);
    drop(wal);
    let (wal, got) = open(&st, dir, o, 151).unwrap();
    assert!(got.is_empty());
    assert_eq!(wal.last_seq(), 151);
    drop(wal);
    // A log that lost files holding seqs above start_after is corruption.
    let e = corruption_text(open(&st, dir, o, 0));
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn round_trip_across_rotated_files_in_memory() {
    round_trip(Arc::new(MemStorage::new()), Path::new(DIR));
}

#[test]
fn round_trip_across_rotated_files_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    round_trip(Arc::new(FileStorage), &tmp.path().join("wal"));
}

#[test]
fn large_records_on_disk_are_replayed_from_mapped_files() {
    // Files over 64 KiB are memory-mapped by FileStorage; one gets a torn tail and is
    // truncated after the map is released.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let st: Arc<dyn Storage> = Arc::new(FileStorage);
    let big = |s: u64| vec![s as u8; 50_000];
    let o = opts(250_000);
    let (mut wal, _) = open(&st, &dir, o, 0).unwrap();
    for s in 1..=7 {
        wal.append(&big(s)).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let files = wal_files(&*st, &dir);
    assert_eq!(files.len(), 2);
    let last = files.last().unwrap();
    let len = st.file_size(last).unwrap();
    st.truncate(last, len - 10).unwrap();
    let (mut wal, got) = open(&st, &dir, o, 0).unwrap();
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|(s, p)| *p == big(*s)));
    assert_eq!(wal.append(b"after").unwrap(), 7);
    wal.sync().unwrap();
    drop(wal);
    let (_, got) = open(&st, &dir, o, 6).unwrap();
    assert_eq!(got, vec![(7, b"after".to_vec())]);
}

#[test]
fn oversized_payload_is_refused_without_poisoning() {
    let st: Arc<dyn Storage> = Arc::new(MemStorage::new());
    let (mut wal, _) = open(&st, Path::new(DIR), WalOptions::default(), 0).unwrap();
    let e = wal.append(&vec![0u8; MAX_PAYLOAD + 1]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(wal.append(b"ok").unwrap(), 1);
    wal.sync().unwrap();
}

#[test]
fn start_after_beyond_the_log_starts_a_new_file() {
    let mem = build(10, 10_000);
    let st: Arc<dyn Storage> = Arc::new(mem);
    let dir = Path::new(DIR);
    let (mut wal, got) = open(&st, dir, opts(10_000), 20).unwrap();
    assert!(got.is_empty());
    assert_eq!(wal.append(b"x").unwrap(), 21);
    wal.sync().unwrap();
    assert_eq!(
        wal_files(&*st, dir),
        vec![dir.join(file_name(1)), dir.join(file_name(21))]
    );
    drop(wal);
    // The gap 11..=20 is durable elsewhere, so it is no corruption.
    let (wal, got) = open(&st, dir, opts(10_000), 20).unwrap();
    assert_eq!(got, vec![(21, b"x".to_vec())]);
    assert_eq!(wal.last_seq(), 21);
    drop(wal);
    let e = corruption_text(open(&st, dir, opts(10_000), 15));
    assert!(e.contains(&file_name(21)) && e.contains("11..=20"), "{e}");
}

#[test]
fn torn_tail_at_every_offset() {
    let dir = Path::new(DIR);
    let o = opts(600);
    let mem = build(20, 600);
    let files = snapshot(&mem, dir);
    assert!(files.len() >= 3);
    let (last_path, last) = files.last().unwrap().clone();
    let s = scan(&last);
    assert_eq!(s.end, ScanEnd::Clean);
    let first_in_last = s.records[0].seq;
    assert!(s.records.len() >= 2);
    // Cut the last file at every offset, header included.
    for cut in 0..=last.len() {
        let mut damaged = files.clone();
        damaged.last_mut().unwrap().1.truncate(cut);
        let st = restore(&damaged);
        let (mut wal, got) = open(&st, dir, o, 0).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let whole: Vec<_> = s
            .records
            .iter()
            .filter(|r| r.offset as usize + RECORD_HEADER_LEN + r.payload.len() <= cut)
            .collect();
        let last_seq = first_in_last - 1 + whole.len() as u64;
        assert_eq!(got, expected(1..=last_seq), "cut {cut}");
        let kept = whole.last().map_or(FILE_HEADER_LEN, |r| {
            r.offset as usize + RECORD_HEADER_LEN + r.payload.len()
        });
        assert_eq!(st.file_size(&last_path).unwrap(), kept as u64, "cut {cut}");
        // Appends continue the sequence and survive a reopen.
        assert_eq!(wal.append(b"new-1").unwrap(), last_seq + 1);
        assert_eq!(wal.append(b"new-2").unwrap(), last_seq + 2);
        wal.sync().unwrap();
        drop(wal);
        let (wal, got) = open(&st, dir, o, last_seq).unwrap();
        assert_eq!(
            got,
            vec![
                (last_seq + 1, b"new-1".to_vec()),
                (last_seq + 2, b"new-2".to_vec())
            ]
        );
        assert_eq!(wal.last_seq(), last_seq + 2);
    }
}

#[test]
fn torn_tail_of_zeros_and_garbage() {
    let dir = Path::new(DIR);
    let mem = build(5, 1 << 20);
    for tail in [vec![0u8; 4096], vec![0xAB; 100], vec![1, 0, 0]] {
        let mut files = snapshot(&mem, dir);
        files[0].1.extend_from_slice(&tail);
        let st = restore(&files);
        let (_, got) = open(&st, dir, opts(1 << 20), 0).unwrap();
        assert_eq!(got, expected(1..=5));
        assert_eq!(
            st.file_size(&files[0].0).unwrap(),
            mem.file_size(&files[0].0).unwrap()
        );
    }
}

#[test]
fn torn_tail_on_real_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let st: Arc<dyn Storage> = Arc::new(FileStorage);
    let (mut wal, _) = open(&st, &dir, opts(1000), 0).unwrap();
    for seq in 1..=30 {
        wal.append(&payload(seq)).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let mut last_seq = 30;
    for _ in 0..3 {
        let last = wal_files(&*st, &dir).pop().unwrap();
        let len = st.file_size(&last).unwrap();
        st.truncate(&last, len - 3).unwrap();
        let (mut wal, got) = open(&st, &dir, opts(1000), 0).unwrap();
        last_seq -= 1;
        assert_eq!(got, expected(1..=last_seq));
        assert_eq!(wal.append(&payload(last_seq + 1)).unwrap(), last_seq + 1);
        wal.sync().unwrap();
        last_seq += 1;
    }
    let (_, got) = open(&st, &dir, opts(1000), 0).unwrap();
    assert_eq!(got, expected(1..=last_seq));
}

/// Offset of the record with `seq` in a file's bytes, and its size.
fn record_at(file: &[u8], seq: u64) -> (usize, usize) {
    let r = scan(file)
        .records
        .into_iter()
        .find(|r| r.seq == seq)
        .unwrap();
    (r.offset as usize, RECORD_HEADER_LEN + r.payload.len())
}

#[test]
fn flipped_bit_before_valid_records_is_corruption() {
    let dir = Path::new(DIR);
    let mem = build(10, 1 << 20);
    let mut files = snapshot(&mem, dir);
    assert_eq!(files.len(), 1);
    let (off, _) = record_at(&files[0].1, 3);
    // A bit in the payload, in the length, in the seq, in the crc.
    for byte in [off + RECORD_HEADER_LEN + 1, off, off + 5, off + 13] {
        let mut f = files.clone();
        f[0].1[byte] ^= 0x10;
        let e = corruption_text(open(&restore(&f), dir, opts(1 << 20), 0));
        assert!(
            e.contains(&file_name(1)) && e.contains(&format!("offset {off}")),
            "{e}"
        );
    }
    // The same flip in the last record is indistinguishable from a torn append.
    let (off, _) = record_at(&files[0].1, 10);
    files[0].1[off + RECORD_HEADER_LEN] ^= 1;
    let (_, got) = open(&restore(&files), dir, opts(1 << 20), 0).unwrap();
    assert_eq!(got, expected(1..=9));
}

#[test]
fn damage_in_a_file_that_is_not_the_last_is_corruption() {
    let dir = Path::new(DIR);
    let mem = build(20, 600);
    let files = snapshot(&mem, dir);
    assert!(files.len() >= 3);
    let (path, first) = files[0].clone();
    let s = scan(&first);
    let last_rec = *s.records.last().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap().to_string();

    // A flipped bit in its last record: no valid record follows in that file.
    let mut f = files.clone();
    f[0].1[last_rec.offset as usize + RECORD_HEADER_LEN] ^= 4;
    let e = corruption_text(open(&restore(&f), dir, opts(600), 0));
    assert!(
        e.contains(&name) && e.contains(&format!("offset {}", last_rec.offset)),
        "{e}"
    );

    // Cut inside its last record.
    let mut f = files.clone();
    f[0].1.truncate(last_rec.offset as usize + 5);
    let e = corruption_text(open(&restore(&f), dir, opts(600), 0));
    assert!(
        e.contains(&name) && e.contains(&format!("offset {}", last_rec.offset)),
        "{e}"
    );

    // Cut exactly between records: the next file's first seq no longer follows.
    let mut f = files.clone();
    f[0].1.truncate(last_rec.offset as usize);
    let e = corruption_text(open(&restore(&f), dir, opts(600), 0));
    let second = files[1]
        .0
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(e.contains(&second) && e.contains("missing"), "{e}");

    // A damaged header.
    let mut f = files.clone();
    f[1].1[0] ^= 1;
    let e = corruption_text(open(&restore(&f), dir, opts(600), 0));
    assert!(e.contains(&second) && e.contains("offset 0"), "{e}");

    // A file missing from the middle.
    let mut f = files.clone();
    f.remove(1);
    let e = corruption_text(open(&restore(&f), dir, opts(600), 0));
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn zero_filled_hole_is_corruption() {
    let dir = Path::new(DIR);
    let mem = build(10, 1 << 20);
    let files = snapshot(&mem, dir);
    let (off, size) = record_at(&files[0].1, 4);
    let (off8, _) = record_at(&files[0].1, 8);
    // One record zeroed, and a hole over several records (4..=7).
    for (start, len) in [(off, size), (off, off8 - off)] {
        let mut f = files.clone();
        f[0].1[start..start + len].fill(0);
        let e = corruption_text(open(&restore(&f), dir, opts(1 << 20), 0));
        assert!(e.contains(&format!("offset {off}")), "{e}");
    }
}

#[test]
fn record_spliced_from_elsewhere_is_corruption() {
    let dir = Path::new(DIR);
    let mem = build(10, 1 << 20);
    let files = snapshot(&mem, dir);
    let file = &files[0].1;

    // A valid record of another log (seq 33, same length as seq 5) overwriting seq 5.
    let (off5, size5) = record_at(file, 5);
    let mut foreign = Vec::new();
    encode_record(&mut foreign, 33, &payload(5));
    assert_eq!(foreign.len(), size5);
    let other = build(40, 1 << 20);
    let other_file = &snapshot(&other, dir)[0].1;
    let (o33, s33) = record_at(other_file, 33);
    let mut f = files.clone();
    f[0].1[off5..off5 + size5].copy_from_slice(&foreign);
    let e = corruption_text(open(&restore(&f), dir, opts(1 << 20), 0));
    assert!(
        e.contains(&format!("offset {off5}")) && e.contains("expected 5"),
        "{e}"
    );

    // The other log's record 33 inserted between 5 and 6.
    let mut f = files.clone();
    let (off6, _) = record_at(file, 6);
    f[0].1
        .splice(off6..off6, other_file[o33..o33 + s33].iter().copied());
    let e = corruption_text(open(&restore(&f), dir, opts(1 << 20), 0));
    assert!(
        e.contains(&format!("offset {off6}")) && e.contains("seq 33"),
        "{e}"
    );

    // A record of the same log copied to another place (a duplicate of seq 2 after 7).
    let mut f = files.clone();
    let (off2, size2) = record_at(file, 2);
    let (off8, _) = record_at(file, 8);
    let dup = file[off2..off2 + size2].to_vec();
    f[0].1.splice(off8..off8, dup);
    let e = corruption_text(open(&restore(&f), dir, opts(1 << 20), 0));
    assert!(
        e.contains(&format!("offset {off8}")) && e.contains("expected 8"),
        "{e}"
    );

    // Even at the very end of the last file a misplaced valid record is no torn tail.
    let mut f = files.clone();
    f[0].1.extend_from_slice(&other_file[o33..o33 + s33]);
    corruption_text(open(&restore(&f), dir, opts(1 << 20), 0));

    // A whole file renamed: its header's first seq disagrees with its name.
    let renamed = vec![(Path::new(DIR).join(file_name(2)), file.clone())];
    let e = corruption_text(open(&restore(&renamed), dir, opts(1 << 20), 5));
    assert!(e.contains("name says 2"), "{e}");
}

#[test]
fn unknown_version_is_reported() {
    let dir = Path::new(DIR);
    let mem = build(3, 1 << 20);
    let mut files = snapshot(&mem, dir);
    files[0].1[8..12].copy_from_slice(&2u32.to_le_bytes());
    match open(&restore(&files), dir, opts(1 << 20), 0) {
        Err(Error::UnsupportedVersion { file, version: 2 }) => assert_eq!(file, files[0].0),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened a version 2 file"),
    }
}

/// Opens damaged copies of a small log: every cut and every bit flip of each file. Each
/// open returns Ok or Err, never panics, and replays only records that were written, each
/// with its own seq, as a gap-free prefix of the log.
#[test]
fn never_panics_and_never_replays_what_was_not_written() {
    // Eight records one or two to a file, and eight records in one file.
    for max in [130, 4096] {
        damaged_copies_of_a_small_log(max);
    }
}

fn damaged_copies_of_a_small_log(max: u64) {
    let dir = Path::new(DIR);
    let mem = build(8, max);
    let files = snapshot(&mem, dir);
    let written: BTreeMap<u64, Vec<u8>> = expected(1..=8).into_iter().collect();
    let mut outcomes = BTreeMap::<&str, usize>::new();
    let mut check = |damaged: Vec<(PathBuf, Vec<u8>)>| {
        for (_, b) in &damaged {
            let _ = scan(b);
        }
        let st = restore(&damaged);
        let mut got = Vec::new();
        let r = Wal::open(st.clone(), dir, opts(max), 0, &mut |seq, p| {
            assert_eq!(
                written.get(&seq).map(|w| &w[..]),
                Some(p),
                "replayed seq {seq}"
            );
            got.push(seq);
            Ok(())
        });
        assert_eq!(got, (1..=got.len() as u64).collect::<Vec<_>>());
        let kind = match r {
            Ok(mut wal) => {
                // The repaired log stays readable and writable.
                let next = wal.append(b"z").unwrap();
                assert_eq!(next, got.len() as u64 + 1);
                wal.sync().unwrap();
                drop(wal);
                let (_, again) = open(&st, dir, opts(max), 0).unwrap();
                assert_eq!(again.len() as u64, next);
                "ok"
            }
            Err(e) if e.kind() == ErrorKind::Corruption => "corruption",
            Err(e) if e.kind() == ErrorKind::UnsupportedVersion => "version",
            Err(e) => panic!("unexpected error {e}"),
        };
        *outcomes.entry(kind).or_default() += 1;
    };
    for i in 0..files.len() {
        for cut in 0..files[i].1.len() {
            let mut f = files.clone();
            f[i].1.truncate(cut);
            check(f);
        }
        for bit in 0..files[i].1.len() * 8 {
            let mut f = files.clone();
            f[i].1[bit / 8] ^= 1 << (bit % 8);
            check(f);
        }
    }
    println!("{} files, max {max}: {outcomes:?}", files.len());
    assert!(
        outcomes["ok"] > 0 && outcomes["corruption"] > 0,
        "{outcomes:?}"
    );
}

#[test]
fn replay_error_is_returned_as_is() {
    let st: Arc<dyn Storage> = Arc::new(build(5, 1 << 20));
    let mut calls = 0;
    let r = Wal::open(st, Path::new(DIR), opts(1 << 20), 0, &mut |seq, _| {
        calls += 1;
        if seq == 3 {
            return Err(Error::invalid("replay refused seq 3"));
        }
        Ok(())
    });
    match r {
        Err(Error::InvalidArgument(m)) => assert_eq!(m, "replay refused seq 3"),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls, 3);
}

/// What the fault-injecting storage does and counts.
#[derive(Debug, Default)]
struct Faults {
    syncs: AtomicUsize,
    fail_next_sync: AtomicBool,
    fail_next_write: AtomicBool,
}

/// [`MemStorage`] whose files fail one sync or one write on demand, and count syncs.
#[derive(Debug)]
struct FaultyStorage {
    inner: MemStorage,
    faults: Arc<Faults>,
}

#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn WriteFile>,
    faults: Arc<Faults>,
}

impl WriteFile for FaultyFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.faults.fail_next_write.swap(false, Ordering::SeqCst) {
            // A short write, as when the disk fills up halfway.
            self.inner.write_all(&buf[..buf.len() / 2])?;
            return Err(io::Error::other("injected write failure"));
        }
        self.inner.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.faults.syncs.fetch_add(1, Ordering::SeqCst);
        if self.faults.fail_next_sync.swap(false, Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.inner.sync()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(FaultyFile {
            inner: self.inner.create(path)?,
            faults: self.faults.clone(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(FaultyFile {
            inner: self.inner.open_append(path)?,
            faults: self.faults.clone(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Bytes> {
        self.inner.read(path)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_size(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.inner.try_lock(path)
    }
}

fn faulty() -> (MemStorage, Arc<Faults>, Arc<dyn Storage>) {
    let mem = MemStorage::new();
    let faults = Arc::new(Faults::default());
    let st = Arc::new(FaultyStorage {
        inner: mem.clone(),
        faults: faults.clone(),
    });
    (mem, faults, st)
}

fn assert_poisoned<T: std::fmt::Debug>(r: Result<T>, what: &str) {
    match r {
        // The failing call returns the I/O error; later calls `Poisoned`.
        Err(e @ (Error::Poisoned(_) | Error::Io { .. })) => {
            assert!(e.to_string().contains(what), "{e}")
        }
        other => panic!("expected poisoned, got {other:?}"),
    }
}

#[test]
fn failed_sync_poisons_and_is_never_retried() {
    let (mem, faults, st) = faulty();
    let dir = Path::new(DIR);
    let (mut wal, _) = open(&st, dir, opts(1 << 20), 0).unwrap();
    wal.append(b"one").unwrap();
    wal.sync().unwrap();
    wal.append(b"two").unwrap();
    faults.fail_next_sync.store(true, Ordering::SeqCst);
    let syncs = faults.syncs.load(Ordering::SeqCst);
    assert_poisoned(wal.sync(), "injected fsync failure");
    assert_eq!(faults.syncs.load(Ordering::SeqCst), syncs + 1);
    assert_eq!(wal.synced_seq(), 1);
    assert_poisoned(wal.append(b"three"), "fsync of");
    assert_poisoned(wal.sync(), "injected fsync failure");
    assert_poisoned(wal.sync(), "injected fsync failure");
    assert_poisoned(wal.rotate(), "injected fsync failure");
    assert_eq!(
        faults.syncs.load(Ordering::SeqCst),
        syncs + 1,
        "fsync was retried"
    );
    assert_eq!(wal.last_seq(), 2);
    // Removing obsolete files still works; it loses nothing.
    wal.remove_obsolete(0).unwrap();
    drop(wal);
    // After a power loss only "one" is certain; reopening replays what the files hold.
    let (_, got) = open(
        &(Arc::new(mem.crash()) as Arc<dyn Storage>),
        dir,
        opts(1 << 20),
        0,
    )
    .unwrap();
    assert_eq!(got, vec![(1, b"one".to_vec())]);
}

#[test]
fn failed_sync_during_rotation_poisons() {
    let (_, faults, st) = faulty();
    let (mut wal, _) = open(&st, Path::new(DIR), opts(100), 0).unwrap();
    wal.append(&[1; 60]).unwrap();
    faults.fail_next_sync.store(true, Ordering::SeqCst);
    let syncs = faults.syncs.load(Ordering::SeqCst);
    // This append would overflow the file: the rotation's fsync fails.
    assert_poisoned(wal.append(&[2; 60]), "injected fsync failure");
    assert_poisoned(wal.append(&[3; 1]), "fsync of");
    assert_poisoned(wal.sync(), "fsync of");
    assert_eq!(faults.syncs.load(Ordering::SeqCst), syncs + 1);
    assert_eq!(wal.last_seq(), 1);
}

#[test]
fn failed_write_poisons_and_the_torn_record_is_dropped_on_reopen() {
    let (mem, faults, st) = faulty();
    let dir = Path::new(DIR);
    let (mut wal, _) = open(&st, dir, opts(1 << 20), 0).unwrap();
    wal.append(b"one").unwrap();
    wal.sync().unwrap();
    faults.fail_next_write.store(true, Ordering::SeqCst);
    assert_poisoned(wal.append(b"two"), "injected write failure");
    let syncs = faults.syncs.load(Ordering::SeqCst);
    assert_poisoned(wal.append(b"three"), "write to");
    assert_poisoned(wal.sync(), "write to");
    assert_eq!(faults.syncs.load(Ordering::SeqCst), syncs);
    drop(wal);
    let st: Arc<dyn Storage> = Arc::new(mem);
    let (mut wal, got) = open(&st, dir, opts(1 << 20), 0).unwrap();
    assert_eq!(got, vec![(1, b"one".to_vec())]);
    assert_eq!(wal.append(b"two again").unwrap(), 2);
}

#[test]
fn failed_sync_while_opening_is_poisoned() {
    let (_, faults, st) = faulty();
    faults.fail_next_sync.store(true, Ordering::SeqCst);
    assert_poisoned(
        open(&st, Path::new(DIR), opts(100), 0),
        "injected fsync failure",
    );
}

/// Tiny xorshift generator: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Random appends, syncs and rotations with power losses in between (only synced bytes
/// survive): every reopen succeeds and replays a gap-free prefix of what was appended that
/// includes everything synced.
#[test]
fn crashes_lose_only_unsynced_records() {
    let dir = Path::new(DIR);
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut mem = MemStorage::new();
        let mut appended: Replayed = Vec::new();
        let mut durable = 0u64;
        for round in 0..6 {
            let st: Arc<dyn Storage> = Arc::new(mem.clone());
            let start_after = 0;
            let (mut wal, got) = open(&st, dir, opts(300), start_after)
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: {e}"));
            assert!(
                got.len() as u64 >= durable,
                "seed {seed} round {round}: lost synced records"
            );
            assert_eq!(got[..], appended[..got.len()], "seed {seed} round {round}");
            appended.truncate(got.len());
            durable = got.len() as u64;
            assert_eq!(wal.synced_seq(), durable);
            for _ in 0..rng.next() % 40 {
                match rng.next() % 10 {
                    0..=6 => {
                        let p = payload(rng.next() % 1000);
                        let seq = wal.append(&p).unwrap();
                        appended.push((seq, p));
                    }
                    7 | 8 => {
                        wal.sync().unwrap();
                        durable = wal.synced_seq();
                    }
                    _ => {
                        wal.rotate().unwrap();
                        durable = wal.synced_seq();
                    }
                }
            }
            assert_eq!(wal.last_seq(), appended.len() as u64);
            durable = durable.max(wal.synced_seq());
            mem = mem.crash();
        }
    }
}

#[test]
fn wal_can_move_into_a_mutex_shared_between_threads() {
    fn shareable<T: Send>() {}
    shareable::<Wal>();
    shareable::<std::sync::Mutex<Wal>>();
}
