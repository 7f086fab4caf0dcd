//! Regression (found by the `import_row` fuzz target): `parse_timestamp` and
//! `parse_offset` sliced their text at byte offsets and panicked when a multi-byte UTF-8
//! character straddled one, e.g. the timestamp `2026-02-29T00:00:0ǥӱaN`. `meterdb import`
//! parses every row's timestamp with it, so one such row crashed the import instead of
//! being rejected; `--tz` went through `parse_offset`. Both now refuse non-ASCII text.

use meterdb::time::{parse_offset, parse_timestamp};
use meterdb::ErrorKind;

#[test]
fn non_ascii_timestamps_and_offsets_are_refused_not_panicked_on() {
    for s in [
        "2026-02-29T00:00:0ǥӱaN",
        "2026-02-29T00:00:00ǥ",
        "2026-02-29T00:00:00+0é0",
        "２０２６-01-01T00:00:00Z",
        "2026-01-01T00:00:00.5é",
        "é026-01-01T00:00:00Z",
    ] {
        let e = parse_timestamp(s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{s}");
    }
    for s in ["+0é0", "+é", "-0é:0", "+08：00", "é"] {
        assert_eq!(
            parse_offset(s).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{s}"
        );
    }
    // ASCII text still parses.
    assert_eq!(parse_offset("+08:00").unwrap(), 480);
    assert_eq!(
        parse_timestamp("2026-01-01T08:00:00+08:00").unwrap(),
        1_767_225_600_000
    );
}

/// `meterdb import` rejects such a row and imports the others.
#[cfg(feature = "cli")]
#[test]
fn import_rejects_a_non_ascii_timestamp_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "point,ts,value\np,2026-01-01T00:00:00Z,1\np,2026-02-29T00:00:0ǥӱaN,2\n",
    )
    .unwrap();
    let db = dir.path().join("db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meterdb"))
        .arg("import")
        .arg("--db")
        .arg(&db)
        .arg(&csv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rejected"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("samples written  1"), "{stdout}");
}
