#![cfg(feature = "cli")]
//! `meterdb verify`: a good database passes; one flipped byte in a segment file is found and
//! the file named; the read-only commands change no data file.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{meterdb, ok, s, segment_files, write_file};

/// A database of two points with a few hundred samples, in one segment file.
fn small_db(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    let mut text = String::from("point,ts,value\n");
    for i in 0..300 {
        text.push_str(&format!(
            "a,{},{}.25\nb,{},{}\n",
            i * 60_000,
            i,
            i * 60_000,
            i * 7
        ));
    }
    let csv = write_file(dir, "in.csv", &text);
    ok(["import", "--db", s(&db), s(&csv)]);
    db
}

#[test]
fn a_good_database_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let r = ok(["verify", "--db", s(&db)]);
    assert_eq!(r.stdout, "ok: 1 segment files, 2 points\n");
}

#[test]
fn a_flipped_byte_in_a_segment_is_found_and_named() {
    for place in ["middle", "header", "last"] {
        let dir = tempfile::tempdir().unwrap();
        let db = small_db(dir.path());
        let segs = segment_files(&db);
        assert_eq!(segs.len(), 1);
        let seg = &segs[0];
        let mut bytes = std::fs::read(seg).unwrap();
        let at = match place {
            "middle" => bytes.len() / 2,
            "header" => 20,
            _ => bytes.len() - 1,
        };
        bytes[at] ^= 0x04;
        std::fs::write(seg, &bytes).unwrap();
        let r = meterdb(["verify", "--db", s(&db)]);
        assert_eq!(r.code, 1, "{place}: {r:?}");
        let name = seg.file_name().unwrap().to_str().unwrap();
        assert!(
            r.stdout.contains(name) || r.stderr.contains(name),
            "{place}: {name} not named: {r:?}"
        );
        assert!(!r.stdout.starts_with("ok"), "{place}: {r:?}");
    }
}

#[test]
fn verify_of_no_database_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none");
    let r = meterdb(["verify", "--db", s(&none)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("meterdb: open"), "{r:?}");
    assert!(!none.exists());
}

/// Every file outside the WAL directory (the lock file aside), with its bytes.
fn data_files(db: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(db)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file() && e.file_name() != "LOCK")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn query_stats_and_verify_write_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let before = data_files(&db);
    assert!(before.keys().any(|k| k.ends_with(".seg")));
    ok(["query", "--db", s(&db), "--point", "a"]);
    ok(["stats", "--db", s(&db)]);
    ok(["stats", "--db", s(&db), "--json"]);
    ok(["verify", "--db", s(&db)]);
    assert!(
        before == data_files(&db),
        "a read-only command changed a data file"
    );
}
