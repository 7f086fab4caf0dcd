//! Helpers of the `cli_*` tests: run the `meterdb` binary and look at what it printed.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `meterdb` with these arguments.
pub fn meterdb<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_meterdb"))
        .args(args)
        .output()
        .expect("running meterdb");
    Run {
        code: out.status.code().expect("meterdb was killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `meterdb` and insists on exit code 0.
pub fn ok<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let r = meterdb(args);
    assert_eq!(r.code, 0, "meterdb failed: {r:#?}");
    r
}

/// A path as text (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Writes `text` gzip-compressed to `dir/name` and returns the path.
pub fn write_gz(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    p
}

/// `meterdb query` output of one point as its lines, header included.
pub fn query(db: &Path, point: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["query", "--db", s(db), "--point", point];
    args.extend_from_slice(extra);
    ok(args).stdout.lines().map(str::to_string).collect()
}

/// The segment files of a database, sorted.
pub fn segment_files(db: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("seg-") && n.ends_with(".seg")
        })
        .collect();
    v.sort();
    v
}
