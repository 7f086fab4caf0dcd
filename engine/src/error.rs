//! The public error type.
//!
//! Every fallible call of the engine returns [`Result`]. An [`Error`] carries a fieldless
//! [`ErrorKind`] (which the C ABI maps one to one onto its status codes) and a message; a
//! corruption also names the file and byte offset where it was found.

use std::fmt;
use std::path::PathBuf;

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, without the details. Stable: the C ABI maps each onto a status code.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A caller passed an argument the engine cannot accept (an empty key, a non-finite
    /// value, a bad option, a range whose start is after its end, ...).
    InvalidArgument,
    /// The named point, file or object does not exist.
    NotFound,
    /// The named point or object exists already with different settings.
    AlreadyExists,
    /// Stored bytes failed a check: a checksum, a magic number, a length, a codec.
    Corruption,
    /// The operating system reported an I/O error.
    Io,
    /// Another process holds the database's lock file.
    Locked,
    /// A previous write or fsync failed; the database accepts no more writes (reopen it to
    /// recover).
    Poisoned,
    /// The database has been closed.
    Closed,
    /// The file was written by a newer, unknown format version.
    UnsupportedVersion,
    /// A storage limit was reached (a byte cap, or a full disk).
    StorageFull,
    /// The request was made against a state that has changed since: e.g. a unit catalog
    /// update whose base version is not the current version. Fetch the current state and
    /// retry.
    Conflict,
}

impl ErrorKind {
    /// A short lowercase name, e.g. `"corruption"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Corruption => "corruption",
            ErrorKind::Io => "i/o error",
            ErrorKind::Locked => "locked",
            ErrorKind::Poisoned => "poisoned",
            ErrorKind::Closed => "closed",
            ErrorKind::UnsupportedVersion => "unsupported version",
            ErrorKind::StorageFull => "storage full",
            ErrorKind::Conflict => "conflict",
        }
    }
}

/// An error of the engine: a kind, a message, and for corruption the place where it was found.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A caller's argument was rejected.
    InvalidArgument(String),
    /// Something named does not exist.
    NotFound(String),
    /// Something named exists already with other settings.
    AlreadyExists(String),
    /// Stored bytes are damaged. `file` and `offset` say where, when known.
    Corruption {
        /// The file in which the damage was found, if known.
        file: Option<PathBuf>,
        /// The byte offset in that file, if known.
        offset: Option<u64>,
        /// What check failed.
        msg: String,
    },
    /// An I/O error from the operating system, with what the engine was doing.
    Io {
        /// What the engine was doing, e.g. `"write wal-000001.log"`.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process holds the lock on this database directory.
    Locked(PathBuf),
    /// A previous write or fsync failed (the message says which); no more writes are
    /// accepted.
    Poisoned(String),
    /// The database has been closed.
    Closed,
    /// A file of an unknown (newer) format version.
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found.
        version: u32,
    },
    /// A storage limit was reached.
    StorageFull(String),
    /// The request was made against a state that has changed since (the message says
    /// which).
    Conflict(String),
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::Corruption { .. } => ErrorKind::Corruption,
            Error::Io { source, .. } if is_storage_full(source) => ErrorKind::StorageFull,
            Error::Io { .. } => ErrorKind::Io,
            Error::Locked(_) => ErrorKind::Locked,
            Error::Poisoned(_) => ErrorKind::Poisoned,
            Error::Closed => ErrorKind::Closed,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::StorageFull(_) => ErrorKind::StorageFull,
            Error::Conflict(_) => ErrorKind::Conflict,
        }
    }

    /// A corruption found while decoding, before the file and offset are known.
    pub fn corrupt(msg: impl Into<String>) -> Error {
        Error::Corruption {
            file: None,
            offset: None,
            msg: msg.into(),
        }
    }

    /// A corruption found in `file` at a known byte `offset` (0 included).
    pub fn corrupt_at(msg: impl Into<String>, file: &std::path::Path, offset: u64) -> Error {
        Error::Corruption {
            file: Some(file.to_path_buf()),
            offset: Some(offset),
            msg: msg.into(),
        }
    }

    /// An invalid argument.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }

    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Attaches a file (and a base offset, added to any offset already present) to a
    /// corruption error, and the file to an unsupported version found by a decoder that
    /// did not know it; other errors pass through unchanged. An offset the decoder did not
    /// know stays unknown with a base of 0 (the whole file was being decoded); with another
    /// base (the start of the record or block being decoded) it becomes that base.
    pub fn in_file(self, path: &std::path::Path, base_offset: u64) -> Error {
        match self {
            Error::Corruption { file, offset, msg } => Error::Corruption {
                file: file.or_else(|| Some(path.to_path_buf())),
                offset: match (offset, base_offset) {
                    (Some(o), b) => Some(o + b),
                    (None, 0) => None,
                    (None, b) => Some(b),
                },
                msg,
            },
            Error::UnsupportedVersion { file, version } if file.as_os_str().is_empty() => {
                Error::UnsupportedVersion {
                    file: path.to_path_buf(),
                    version,
                }
            }
            other => other,
        }
    }
}

fn is_storage_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::AlreadyExists(m) => write!(f, "already exists: {m}"),
            Error::Corruption { file, offset, msg } => {
                write!(f, "corruption")?;
                if let Some(file) = file {
                    write!(f, " in {}", file.display())?;
                }
                if let Some(offset) = offset {
                    write!(f, " at offset {offset}")?;
                }
                write!(f, ": {msg}")
            }
            Error::Io { context, source } => write!(f, "i/o error ({context}): {source}"),
            Error::Locked(p) => write!(f, "database {} is locked by another process", p.display()),
            Error::Poisoned(m) => write!(
                f,
                "database refuses writes after a failed write or fsync ({m}); reopen it to recover"
            ),
            Error::Closed => write!(f, "database is closed"),
            Error::UnsupportedVersion { file, version } => write!(
                f,
                "{} has format version {version}, which this build does not read",
                file.display()
            ),
            Error::StorageFull(m) => write!(f, "storage full: {m}"),
            Error::Conflict(m) => write!(f, "conflict: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_names_file_and_offset() {
        let e = Error::corrupt("bad crc").in_file(std::path::Path::new("wal-1.log"), 42);
        assert_eq!(e.kind(), ErrorKind::Corruption);
        let s = e.to_string();
        assert!(
            s.contains("wal-1.log") && s.contains("42") && s.contains("bad crc"),
            "{s}"
        );
    }

    #[test]
    fn an_unknown_offset_stays_unknown() {
        let p = std::path::Path::new("catalog-1.cat");
        let e = Error::corrupt("point without a key").in_file(p, 0);
        assert!(matches!(e, Error::Corruption { offset: None, .. }));
        assert!(!e.to_string().contains("offset"), "{e}");
        // Within a record found at a known offset: that offset.
        let e = Error::corrupt("bad field").in_file(p, 100);
        assert!(matches!(
            e,
            Error::Corruption {
                offset: Some(100),
                ..
            }
        ));
        // A known offset inside the record, added to it.
        let e = Error::Corruption {
            file: None,
            offset: Some(3),
            msg: "x".into(),
        }
        .in_file(p, 100);
        assert!(matches!(
            e,
            Error::Corruption {
                offset: Some(103),
                ..
            }
        ));
    }

    #[test]
    fn enospc_is_storage_full() {
        let e = Error::io("write", std::io::Error::from_raw_os_error(28));
        assert_eq!(e.kind(), ErrorKind::StorageFull);
    }
}
