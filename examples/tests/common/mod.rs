//! What the examples' end-to-end tests share: starting the `provincial` server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The `provincial` binary of this build.
pub const PROVINCIAL: &str = env!("CARGO_BIN_EXE_provincial");

/// Starts `provincial serve --data DATA --listen LISTEN --threads 2 EXTRA...` and waits for
/// its `listening on ADDR` line: the process and the address it listens on (the rest of its
/// output is drained on a thread).
pub fn spawn_server(data: &Path, listen: &str, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(PROVINCIAL)
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--listen", listen, "--threads", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, addr)
}
