//! Status codes, and the constants the header exports as macros and enums.

use engine::ErrorKind;

/// Major version of this library (also the value of `meterdb_version_number() / 1000000`).
pub const MDB_VERSION_MAJOR: u32 = 0;
/// Minor version of this library.
pub const MDB_VERSION_MINOR: u32 = 1;
/// Patch version of this library.
pub const MDB_VERSION_PATCH: u32 = 0;

/// Quality bit: the reading is valid. The default quality of a sample is `MDB_QUALITY_VALID`.
pub const MDB_QUALITY_VALID: u8 = 1;
/// Quality bit: the value was entered by hand rather than collected.
pub const MDB_QUALITY_MANUAL: u8 = 2;
/// Quality bit: the value was estimated (the national record's inputType 3) rather than read.
/// A valid estimated reading has the quality `MDB_QUALITY_VALID | MDB_QUALITY_ESTIMATED` (5).
/// A reading without `MDB_QUALITY_VALID` (quality 0, or only other bits) is invalid: it is
/// stored and read back as written, but enters no rollup figure, only the buckets' `invalid`
/// counts (`meterdb_bucket_row_v2`).
pub const MDB_QUALITY_ESTIMATED: u8 = 4;

/// The most rows a function that builds a whole result in memory (`meterdb_db_rollup`,
/// `meterdb_db_rollup_sum`, `meterdb_db_coal_sum`, `meterdb_db_compare`) returns; a larger
/// result gives `MDB_LIMIT` without being built. The streaming queries
/// (`meterdb_db_query_rollup`, ...) have no such cap: they step through any result in
/// bounded memory.
pub const MDB_MAX_RESULT_ROWS: usize = 1 << 20;

/// Longest point key, in bytes of UTF-8 (not counting the terminating NUL).
pub const MDB_MAX_KEY_LEN: usize = 255;

/// A set of rollup tiers is a bit mask: tier `t` (a `meterdb_tier`) is bit `1 << (t - 1)`.
/// This one holds all five tiers (the default of `meterdb_options_set_tiers`).
pub const MDB_TIERS_ALL: i32 = 0x1F;
/// In `meterdb_db_define_point_v2`: the point keeps the database's default tiers (set by
/// `meterdb_options_set_tiers` when the database is opened).
pub const MDB_TIERS_DEFAULT: i32 = -1;

/// What a call returned. The values are fixed: a value, once released, never changes
/// meaning; new codes are added at the end of their group.
///
/// Codes 1 to 11 map one to one onto the engine's error kinds; codes from 100 on are
/// the ABI's own.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum meterdb_status {
    /// Success.
    MDB_OK = 0,
    /// An argument was rejected: an empty or overlong key, a NaN or infinite value, a
    /// timestamp outside years 1000..=9999, a bad option, a zero capacity, ...
    MDB_INVALID_ARGUMENT = 1,
    /// The named point, file or object does not exist.
    MDB_NOT_FOUND = 2,
    /// The named object exists already with other settings.
    MDB_ALREADY_EXISTS = 3,
    /// Stored bytes failed a check (checksum, magic, length, codec); the message names the
    /// file and offset.
    MDB_CORRUPTION = 4,
    /// The operating system reported an I/O error.
    MDB_IO = 5,
    /// Another process holds the database's lock file.
    MDB_LOCKED = 6,
    /// A previous fsync failed; the database accepts no more writes (reopen it to recover).
    MDB_POISONED = 7,
    /// The database handle has been closed (by `meterdb_db_close`).
    MDB_CLOSED = 8,
    /// A file was written by a newer, unknown format version.
    MDB_UNSUPPORTED_VERSION = 9,
    /// A storage limit was reached (a byte cap, or a full disk).
    MDB_STORAGE_FULL = 10,
    /// The call was made against a state that has changed since: a unit catalog update
    /// whose base version is not the current version (`meterdb_db_apply_unit_catalog`).
    MDB_CONFLICT = 11,
    /// A required pointer argument was NULL.
    MDB_NULL_ARGUMENT = 100,
    /// A string argument was not valid UTF-8.
    MDB_INVALID_UTF8 = 101,
    /// A caller's buffer was too small; the call says through an out-parameter how much
    /// room it needs.
    MDB_BUFFER_TOO_SMALL = 102,
    /// A bug inside the library panicked; the panic was caught at the boundary. The handle
    /// used may be in an inconsistent state: close it and reopen the database.
    MDB_PANIC = 103,
    /// The engine reported an error of a kind this version of the ABI does not know.
    MDB_INTERNAL = 104,
    /// The library was built without what the call needs (e.g. `meterdb_export` without the
    /// cargo feature `parquet`).
    MDB_UNSUPPORTED = 105,
    /// A result has more rows than the caller's row limit (`meterdb_result_step`), or than
    /// `MDB_MAX_RESULT_ROWS` for the functions that build a whole result (`meterdb_db_rollup`,
    /// `_rollup_sum`, `_coal_sum`, `_compare`): narrow the range, or step through it with
    /// `meterdb_db_query_rollup` and the other streaming queries.
    MDB_LIMIT = 106,
    /// Memory for a result could not be allocated: the call failed and nothing was kept (the
    /// library never aborts the process for a result's memory).
    MDB_NO_MEMORY = 107,
    /// `meterdb_result_step`: a row is ready (read it with `meterdb_result_sample`,
    /// `_bucket`, `_sum`, `_change` or `_bucket_change`). Not an error.
    MDB_ROW = 200,
    /// `meterdb_result_step`: the result has no more rows. Not an error.
    MDB_DONE = 201,
}

impl meterdb_status {
    /// The status of an engine error kind.
    pub fn from_kind(kind: ErrorKind) -> meterdb_status {
        use meterdb_status::*;
        match kind {
            ErrorKind::InvalidArgument => MDB_INVALID_ARGUMENT,
            ErrorKind::NotFound => MDB_NOT_FOUND,
            ErrorKind::AlreadyExists => MDB_ALREADY_EXISTS,
            ErrorKind::Corruption => MDB_CORRUPTION,
            ErrorKind::Io => MDB_IO,
            ErrorKind::Locked => MDB_LOCKED,
            ErrorKind::Poisoned => MDB_POISONED,
            ErrorKind::Closed => MDB_CLOSED,
            ErrorKind::UnsupportedVersion => MDB_UNSUPPORTED_VERSION,
            ErrorKind::StorageFull => MDB_STORAGE_FULL,
            ErrorKind::Conflict => MDB_CONFLICT,
            _ => MDB_INTERNAL,
        }
    }

    /// Every status, in order of value.
    pub(crate) const ALL: [meterdb_status; 22] = {
        use meterdb_status::*;
        [
            MDB_OK,
            MDB_INVALID_ARGUMENT,
            MDB_NOT_FOUND,
            MDB_ALREADY_EXISTS,
            MDB_CORRUPTION,
            MDB_IO,
            MDB_LOCKED,
            MDB_POISONED,
            MDB_CLOSED,
            MDB_UNSUPPORTED_VERSION,
            MDB_STORAGE_FULL,
            MDB_CONFLICT,
            MDB_NULL_ARGUMENT,
            MDB_INVALID_UTF8,
            MDB_BUFFER_TOO_SMALL,
            MDB_PANIC,
            MDB_INTERNAL,
            MDB_UNSUPPORTED,
            MDB_LIMIT,
            MDB_NO_MEMORY,
            MDB_ROW,
            MDB_DONE,
        ]
    };

    /// The C name, NUL-terminated, e.g. `"MDB_NOT_FOUND\0"`.
    pub fn name(self) -> &'static str {
        use meterdb_status::*;
        match self {
            MDB_OK => "MDB_OK\0",
            MDB_INVALID_ARGUMENT => "MDB_INVALID_ARGUMENT\0",
            MDB_NOT_FOUND => "MDB_NOT_FOUND\0",
            MDB_ALREADY_EXISTS => "MDB_ALREADY_EXISTS\0",
            MDB_CORRUPTION => "MDB_CORRUPTION\0",
            MDB_IO => "MDB_IO\0",
            MDB_LOCKED => "MDB_LOCKED\0",
            MDB_POISONED => "MDB_POISONED\0",
            MDB_CLOSED => "MDB_CLOSED\0",
            MDB_UNSUPPORTED_VERSION => "MDB_UNSUPPORTED_VERSION\0",
            MDB_STORAGE_FULL => "MDB_STORAGE_FULL\0",
            MDB_CONFLICT => "MDB_CONFLICT\0",
            MDB_NULL_ARGUMENT => "MDB_NULL_ARGUMENT\0",
            MDB_INVALID_UTF8 => "MDB_INVALID_UTF8\0",
            MDB_BUFFER_TOO_SMALL => "MDB_BUFFER_TOO_SMALL\0",
            MDB_PANIC => "MDB_PANIC\0",
            MDB_INTERNAL => "MDB_INTERNAL\0",
            MDB_UNSUPPORTED => "MDB_UNSUPPORTED\0",
            MDB_LIMIT => "MDB_LIMIT\0",
            MDB_NO_MEMORY => "MDB_NO_MEMORY\0",
            MDB_ROW => "MDB_ROW\0",
            MDB_DONE => "MDB_DONE\0",
        }
    }
}

/// Durability modes, for `meterdb_options_set_durability` (which takes an `int32_t` so
/// that no out-of-range enum value can reach the library).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_durability {
    /// The WAL is synced before a write returns (the default): a returned write survives a
    /// power loss.
    MDB_DURABILITY_SYNC = 0,
    /// A background thread syncs the WAL every `meterdb_options_set_sync_interval_ms`
    /// milliseconds (default 1000); a power loss can lose that last interval.
    MDB_DURABILITY_INTERVAL = 1,
    /// The engine never syncs the WAL except on flush and close; the OS decides.
    MDB_DURABILITY_NONE = 2,
}

/// Point kinds, for `meterdb_db_define_point` and `meterdb_db_list_points` (which take an
/// `int32_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_point_kind {
    /// In a filter: any kind.
    MDB_KIND_ANY = -1,
    /// An instantaneous reading (kW, temperature, flow rate).
    MDB_KIND_GAUGE = 0,
    /// A cumulative register (kWh, m³): consumption is its increase.
    MDB_KIND_COUNTER = 1,
}

/// How a counter's register is read where it falls between two valid readings by a step that
/// is neither a rollover, nor a recorded meter replacement (`meterdb_db_replace_meter`), nor a
/// fall to near zero (10% of the previous reading or less, taken as a replacement): for
/// `meterdb_db_set_point_register` and `meterdb_db_point_register` (which take an `int32_t`).
/// Either way the bucket counts the step in its `backward`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_register {
    /// An import register (the default): it only counts up, so a backward step adds nothing to
    /// consumption.
    MDB_REGISTER_IMPORT = 0,
    /// A net (bidirectional) register: consumption is the signed change, a backward step
    /// subtracting what the register fell by.
    MDB_REGISTER_NET = 1,
}

/// Rollup tiers, for the `tier` arguments of the rollup queries (which take an `int32_t`).
/// Buckets are calendar buckets in the database's time zone (`meterdb_db_tz_offset_min`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_tier {
    /// Calendar minutes.
    MDB_TIER_MINUTE = 1,
    /// Calendar hours.
    MDB_TIER_HOUR = 2,
    /// Calendar days.
    MDB_TIER_DAY = 3,
    /// Calendar months.
    MDB_TIER_MONTH = 4,
    /// Calendar years.
    MDB_TIER_YEAR = 5,
}

/// Units of standard coal, for `meterdb_db_coal_sum` and `meterdb_db_compare` (which take an
/// `int32_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_coal_unit {
    /// In `meterdb_db_compare`: compare consumption in the points' own units.
    MDB_COAL_NONE = -1,
    /// Kilograms of standard coal equivalent (kgce).
    MDB_COAL_KGCE = 0,
    /// Tonnes of standard coal equivalent (tce).
    MDB_COAL_TCE = 1,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_the_package() {
        assert_eq!(
            MDB_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            MDB_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            MDB_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }

    #[test]
    fn names_match_values() {
        for (i, s) in meterdb_status::ALL.iter().enumerate() {
            let name = s.name();
            assert!(name.starts_with("MDB_") && name.ends_with('\0'));
            if i > 0 {
                assert!(*s as i32 > meterdb_status::ALL[i - 1] as i32);
            }
        }
        assert_eq!(meterdb_status::MDB_CLOSED as i32, 8);
        assert_eq!(meterdb_status::MDB_NULL_ARGUMENT as i32, 100);
        assert_eq!(MDB_MAX_KEY_LEN, engine::catalog::MAX_KEY_LEN);
        assert_eq!(MDB_TIERS_ALL as u8, engine::TierSet::ALL.0);
        for t in engine::Tier::ALL {
            assert_eq!(engine::Tier::from_kind(t as u8), Some(t));
        }
        assert_eq!(
            meterdb_tier::MDB_TIER_MINUTE as u8,
            engine::Tier::Minute as u8
        );
        assert_eq!(meterdb_tier::MDB_TIER_YEAR as u8, engine::Tier::Year as u8);
    }

    /// The C constants of the enums are the engine's codes (`code_enum!`), which the
    /// conversions (`kind_from`, `register_from`, `tier_from`, `coal_from`) use.
    #[test]
    fn c_constants_are_the_engine_codes() {
        use engine::{CoalUnit, PointKind, Register, Tier};
        let kinds = [
            (meterdb_point_kind::MDB_KIND_GAUGE, PointKind::Gauge),
            (meterdb_point_kind::MDB_KIND_COUNTER, PointKind::Counter),
        ];
        assert_eq!(kinds.len(), PointKind::ALL.len());
        for (c, k) in kinds {
            assert_eq!(c as i32, i32::from(k.code()));
        }
        let registers = [
            (meterdb_register::MDB_REGISTER_IMPORT, Register::Import),
            (meterdb_register::MDB_REGISTER_NET, Register::Net),
        ];
        assert_eq!(registers.len(), Register::ALL.len());
        for (c, r) in registers {
            assert_eq!(c as i32, i32::from(r.code()));
        }
        let tiers = [
            (meterdb_tier::MDB_TIER_MINUTE, Tier::Minute),
            (meterdb_tier::MDB_TIER_HOUR, Tier::Hour),
            (meterdb_tier::MDB_TIER_DAY, Tier::Day),
            (meterdb_tier::MDB_TIER_MONTH, Tier::Month),
            (meterdb_tier::MDB_TIER_YEAR, Tier::Year),
        ];
        assert_eq!(tiers.len(), Tier::ALL.len());
        for (c, t) in tiers {
            assert_eq!(c as i32, i32::from(t.code()));
        }
        let units = [
            (meterdb_coal_unit::MDB_COAL_KGCE, CoalUnit::Kgce),
            (meterdb_coal_unit::MDB_COAL_TCE, CoalUnit::Tce),
        ];
        assert_eq!(units.len(), CoalUnit::ALL.len());
        for (c, u) in units {
            assert_eq!(c as i32, i32::from(u.code()));
        }
    }
}
