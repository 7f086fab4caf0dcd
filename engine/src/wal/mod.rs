//! The write-ahead log: every write is appended here, and made durable by [`Wal::sync`],
//! before it is applied to the memtable; after a crash, [`Wal::open`] replays what the
//! segment files do not hold yet.
//!
//! The log is a directory of files `wal-<first seq, 20 digits>.log`, each a 24-byte header
//! and then records `len | seq | crc | payload` with consecutive seqs (`docs/format/wal.md`
//! draws the bytes). A file is closed when it would grow past
//! [`WalOptions::max_file_bytes`] or on [`Wal::rotate`]; whole files are deleted by
//! [`Wal::remove_obsolete`] once their records are in segment files.
//!
//! # Durability and poisoning
//!
//! [`Wal::append`] only buffers; a record is durable once [`Wal::sync`] has returned `Ok`
//! (see [`Wal::synced_seq`]). A file is synced (and, when new, its directory entry) before
//! the next file is created, so a later file existing proves every earlier one complete:
//! only the last file can end in a torn record.
//!
//! After any failed write or fsync the [`Wal`] is *poisoned*: that call returns the I/O
//! error, and every later [`Wal::append`], [`Wal::sync`] and [`Wal::rotate`] returns
//! [`Error::Poisoned`]. It never
//! retries an fsync: after a failed fsync Linux may have dropped the dirty pages and marked
//! them clean, so a retry that succeeds would report data durable that is not. The way
//! out is to drop the `Wal` and open the log again, which replays only what is in the files.
//!
//! [`Error::Poisoned`]: crate::Error::Poisoned

pub mod record;
mod recovery;
mod writer;

#[cfg(test)]
mod tests;

pub use record::{
    scan, Scan, ScanEnd, ScannedRecord, Scanner, FILE_HEADER_LEN, MAX_PAYLOAD, RECORD_HEADER_LEN,
};
pub use writer::Wal;

/// Settings of a [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A file is closed and a new one started when appending a record would make it larger
    /// than this (a single larger record still gets a file of its own). Default 64 MiB.
    pub max_file_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            max_file_bytes: 64 << 20,
        }
    }
}

const FILE_PREFIX: &str = "wal-";
const FILE_SUFFIX: &str = ".log";

/// The name of the WAL file whose first record has seq `first_seq`, e.g.
/// `wal-00000000000000000001.log`: zero-padded, so names sort in log order.
pub fn file_name(first_seq: u64) -> String {
    format!("{FILE_PREFIX}{first_seq:020}{FILE_SUFFIX}")
}

/// The first seq named by a WAL file name, or `None` for any other name.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(FILE_PREFIX)?.strip_suffix(FILE_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
