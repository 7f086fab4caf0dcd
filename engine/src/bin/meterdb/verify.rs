//! `meterdb verify`: every checksum of every live file.

use crate::out::{CliError, Stdout};
use crate::VerifyArgs;

pub fn run(a: VerifyArgs) -> Result<(), CliError> {
    // Opening checks the WAL, the manifest and every segment's header and index; a failure
    // there is damage too, reported with its message.
    let db = crate::open_existing(&a.db)?;
    let problems = db
        .verify()
        .map_err(|e| CliError::fail(format!("verify: {e}")))?;
    let mut out = Stdout::new();
    if !problems.is_empty() {
        for p in &problems {
            out.line(&format!("damaged: {p}"))?;
        }
        out.flush()?;
        let n = problems.len();
        return Err(CliError::fail(format!(
            "{n} problem{} found in {}",
            if n == 1 { "" } else { "s" },
            a.db.display()
        )));
    }
    let stats = db
        .stats()
        .map_err(|e| CliError::fail(format!("stats: {e}")))?;
    db.close()
        .map_err(|e| CliError::fail(format!("close: {e}")))?;
    out.line(&format!(
        "ok: {} segment files, {} points",
        stats.segment_files, stats.points
    ))?;
    out.flush()
}
