//! Outcomes, stderr messages and a stdout that treats a closed pipe as the end.

use std::io::{self, BufWriter, Write};

use meterdb::Error;

/// Why a command stopped early.
#[derive(Debug)]
pub enum CliError {
    /// Print this, exit 1.
    Fail(String),
    /// Exit 1; the reasons have been printed already.
    Failed,
    /// Print this, exit 2.
    Usage(String),
    /// The reader of stdout went away: stop quietly, exit 0.
    BrokenPipe,
}

impl CliError {
    pub fn fail(m: impl Into<String>) -> CliError {
        CliError::Fail(m.into())
    }
}

/// Prints `meterdb: <message>` on stderr. A failure to write to stderr is ignored: there is
/// nowhere left to report it.
pub fn warn(msg: &str) {
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "meterdb: {msg}");
}

/// An engine error's message without the kind prefix where the kind adds nothing
/// (`bad timestamp "x": ...` rather than `invalid argument: bad timestamp "x": ...`).
pub fn engine_msg(e: &Error) -> String {
    match e {
        Error::InvalidArgument(m) => m.clone(),
        e => e.to_string(),
    }
}

/// Buffered stdout (flushed on drop as well, errors ignored there) whose write errors become [`CliError`]s: `BrokenPipe` when the reader
/// has gone, a failure otherwise.
#[derive(Debug)]
pub struct Stdout {
    w: BufWriter<io::StdoutLock<'static>>,
}

impl Stdout {
    pub fn new() -> Stdout {
        Stdout {
            w: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        }
    }

    pub fn write(&mut self, s: &str) -> Result<(), CliError> {
        self.w.write_all(s.as_bytes()).map_err(stdout_err)
    }

    pub fn line(&mut self, s: &str) -> Result<(), CliError> {
        self.write(s)?;
        self.write("\n")
    }

    pub fn flush(&mut self) -> Result<(), CliError> {
        self.w.flush().map_err(stdout_err)
    }
}

fn stdout_err(e: io::Error) -> CliError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CliError::BrokenPipe
    } else {
        CliError::fail(format!("write to stdout: {e}"))
    }
}
