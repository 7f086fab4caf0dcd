//! DuckDB for tests that read Parquet files with it: engine/tests/export_parquet.rs and
//! examples/tests/history_export.rs (which includes this file by path).

use std::path::Path;
use std::process::Command;

/// Runs `script` with a Python that can import duckdb, installing it from PyPI into a
/// directory of the build's temporary folder when needed; `None` when that cannot be done.
pub fn python_with_duckdb(script: &str, args: &[&str]) -> Option<String> {
    let site = Path::new(env!("CARGO_TARGET_TMPDIR")).join("duckdb-site");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = || {
        Command::new(&python)
            .args(["-c", "import duckdb"])
            .env("PYTHONPATH", &site)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !importable() {
        let r = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(&site)
            .arg("duckdb")
            .output();
        match r {
            Ok(o) if o.status.success() && importable() => {}
            Ok(o) => {
                println!(
                    "skipping the DuckDB check: cannot install duckdb with pip: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                return None;
            }
            Err(e) => {
                println!("skipping the DuckDB check: cannot run {python}: {e}");
                return None;
            }
        }
    }
    let o = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", &site)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "duckdb script failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(String::from_utf8(o.stdout).unwrap())
}
