//! Options of a database.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::CodecOptions;
use crate::error::{Error, Result};
use crate::io::Storage;
use crate::rollup::TierSet;

/// When a write is acknowledged relative to its fsync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The WAL is synced before a write returns (concurrent writers share one fsync:
    /// group commit). A returned write survives a power loss. The default.
    Sync,
    /// A background thread syncs the WAL at this interval; a power loss can lose the writes
    /// of the last interval (a process crash loses nothing).
    Interval(Duration),
    /// The WAL is never synced by the engine (only on close and flush); the OS decides.
    None,
}

/// How a database is opened. `Options::default()` suits a gateway or a server.
#[derive(Clone, Debug)]
pub struct Options {
    /// When writes are acknowledged. Default [`Durability::Sync`].
    pub durability: Durability,
    /// Flush the memtable to segment files once it holds this many bytes (what its columns
    /// have allocated, per-point records included). Default 64 MiB. A writer waits while the
    /// memtable is full and the flush before has not yet taken it, so unflushed data holds
    /// at most about twice this (the memtable being filled and the one being flushed). Keep
    /// it well above 88 bytes (a point's record) times the points written between flushes.
    pub memtable_bytes: usize,
    /// Width of a time partition of segment files, in milliseconds. Default 7 days.
    /// Fixed when the database is created (stored in its segments): reopening with the
    /// default adopts the stored width; another width is refused with `InvalidArgument`.
    pub partition_ms: i64,
    /// Compact a partition in the background once it has this many segment files. Default 4.
    pub compaction_trigger: usize,
    /// Codec settings (e.g. whether to try zstd).
    pub codec: CodecOptions,
    /// Start a new WAL file after this many bytes. Default 64 MiB.
    pub wal_file_bytes: u64,
    /// Run flushes and compactions on a background thread. Default true; when false they
    /// run only on [`crate::Db::flush`] and [`crate::Db::compact`] (and the memtable grows).
    pub background: bool,
    /// Threads a flush uses: with 2 or more, the rollup tiers are computed and written on
    /// a second thread while the raw segment files are written (the two share no work), so
    /// a flush takes about as long as the longer of the two instead of both; with 1 they
    /// run one after the other on the flushing thread. Default: 2 when the machine has more
    /// than one core, else 1. Both give the same files.
    pub flush_threads: usize,
    /// Create the database when the directory holds none. Default true.
    pub create_if_missing: bool,
    /// The file system to use; `None` means the real one.
    pub storage: Option<Arc<dyn Storage>>,
    /// The time zone of the rollup tiers' calendar buckets, minutes east of UTC. Fixed
    /// when the database is created: `None` means +08:00 for a new database and whatever
    /// an existing one was created with; a different value for an existing one is an error.
    pub tz_offset_min: Option<i32>,
    /// The rollup tiers a point keeps unless its metadata says otherwise. Default: all five.
    pub tiers: TierSet,
    /// The upload log keeps at most this many records (the newest). Default 100 000.
    pub upload_records_keep: usize,
    /// The upload log drops records older than this (ms) relative to its newest record's
    /// time. Default `None`: no age limit.
    pub upload_records_max_age_ms: Option<i64>,
    /// Retention limits by age and bytes, per tier. Default: keep everything.
    pub retention: super::retention::Retention,
}

/// The default time zone: UTC+8 (China Standard Time).
pub const DEFAULT_TZ_OFFSET_MIN: i32 = 480;

/// The default width of a raw partition: 7 days.
pub const DEFAULT_PARTITION_MS: i64 = 7 * 86_400_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Sync,
            memtable_bytes: 64 << 20,
            partition_ms: DEFAULT_PARTITION_MS,
            compaction_trigger: 4,
            codec: CodecOptions::default(),
            wal_file_bytes: 64 << 20,
            background: true,
            flush_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
            create_if_missing: true,
            storage: None,
            tz_offset_min: None,
            tiers: TierSet::ALL,
            upload_records_keep: 100_000,
            upload_records_max_age_ms: None,
            retention: Default::default(),
        }
    }
}

impl Options {
    /// Sets the durability mode.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Uses this file system (e.g. [`crate::io::MemStorage`] in tests).
    pub fn storage(mut self, s: Arc<dyn Storage>) -> Self {
        self.storage = Some(s);
        self
    }
    /// Turns the background thread on or off.
    pub fn background(mut self, on: bool) -> Self {
        self.background = on;
        self
    }
    /// Sets the memtable size that triggers a flush.
    pub fn memtable_bytes(mut self, n: usize) -> Self {
        self.memtable_bytes = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.partition_ms < 60_000 || self.partition_ms > 366 * 86_400_000 {
            return Err(Error::invalid(format!(
                "partition_ms {} is outside 1 minute ..= 366 days",
                self.partition_ms
            )));
        }
        if let Some(tz) = self.tz_offset_min {
            if tz.abs() > 18 * 60 {
                return Err(Error::invalid(format!(
                    "time zone offset {tz} minutes is outside -18:00..=+18:00"
                )));
            }
        }
        if self.compaction_trigger < 2 {
            return Err(Error::invalid("compaction_trigger must be at least 2"));
        }
        if self.flush_threads == 0 {
            return Err(Error::invalid("flush_threads must be at least 1"));
        }
        if self.memtable_bytes < 4096 {
            return Err(Error::invalid("memtable_bytes must be at least 4096"));
        }
        if let Durability::Interval(d) = self.durability {
            if d.is_zero() {
                return Err(Error::invalid(
                    "a sync interval of zero: use Durability::Sync",
                ));
            }
        }
        Ok(())
    }
}
