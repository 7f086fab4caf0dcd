//! MeterDB: an embeddable time-series storage engine for energy-meter data.
//!
//! Points (metered quantities) are defined with metadata, then written as samples
//! (timestamp in ms, `f64` value, quality byte), in batches, late or out of order; a second
//! sample of the same timestamp corrects the first. Every write goes to a checksummed WAL
//! first; a background thread flushes memory to immutable columnar segment files, each
//! column compressed by the codec that suits that point's data.
//!
//! ```no_run
//! use meterdb::{Db, Options, PointKind, PointMeta};
//! let db = Db::open("/tmp/plant.mdb", Options::default())?;
//! let kwh = db.define_point(PointMeta::new("plant-1/main-kwh", PointKind::Counter).with_unit("kWh"))?;
//! db.put(kwh, 1_763_971_200_000, 1234.567)?;
//! for s in db.range(kwh, 0, i64::MAX)? {
//!     let s = s?;
//!     println!("{} {}", s.ts, s.value);
//! }
//! # Ok::<(), meterdb::Error>(())
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod codec;
mod compaction;
mod db;
pub mod energy;
mod error;
#[cfg(feature = "parquet")]
pub mod export;
pub mod format;
#[doc(hidden)]
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod io;
pub mod manifest;
mod memtable;
mod query;
pub mod rollup;
pub mod sample;
pub mod segment;
mod tier;
pub mod time;
pub mod wal;

pub use catalog::{PointFilter, PointId, PointKind, PointMeta, Register, Replacement};
pub use db::{
    change_id, change_seq, AppFiles, BackupReport, BucketChange, BundlePoint, BundleReport, Change,
    ChangeKind, CursorInfo, CursorStart, Db, DbStats, Durability, Options, OutcomeFilter,
    PointStats, Retention, RetentionReport, SumRow, TierLimit, UploadOutcome, UploadRecord,
    WriteBatch,
};
/// The energy layer under its module name of before (`meterdb::unit::…` keeps compiling).
#[doc(hidden)]
pub use energy as unit;
pub use energy::{
    validate_credit_code, AppliedVersion, CoalCoefficient, CoalUnit, CollectionConfig, Comparison,
    DataItemCode, Device, DeviceKind, Enterprise, ObjectType, ProcessStage, UnitCatalog,
    UnitCatalogUpdate, UpdateMode,
};
pub use error::{Error, ErrorKind, Result};
pub use query::RangeIter;
pub use rollup::{BucketRow, Tier, TierSet};
pub use sample::{Columns, Quality, Sample, Timestamp};
