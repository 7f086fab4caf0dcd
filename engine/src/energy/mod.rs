//! The energy layer: the unit catalog of a key energy-consuming unit (the enterprise, its
//! terminal devices, and each point's collection configuration), versioned so that a
//! dictionary update downloaded from the platform is applied atomically; the codes it
//! uses; and its storage in a database.
//!
//! It sits above the storage core and uses only the core's public API, the API a separate
//! crate would see: the items the crate root re-exports and the public modules
//! (`engine/tests/layers.rs` enforces it). One job per file:
//!
//! | file | job |
//! |---|---|
//! | `codes.rs` | the unified social credit code (GB 32100-2015) and [`DataItemCode`] |
//! | `records.rs` | the records: [`Enterprise`], [`Device`], [`CollectionConfig`] (with its [`CoalCoefficient`]s), their checks |
//! | `catalog.rs` | [`UnitCatalog`] at one version, [`UnitCatalogUpdate`], the pure step [`UnitCatalog::apply`] |
//! | `encoding.rs` | the bytes of `UNITCAT` ([`UnitCatalog::encode_file`], [`UnitCatalog::decode_file`]) |
//! | `text.rs` | the TAB-separated text form of an update ([`UnitCatalogUpdate::parse_text`]) |
//! | `apply.rs` | storing and applying to a [`crate::Db`] ([`crate::Db::apply_unit_catalog`]), crash safety, [`crate::Db::verify`] |
//! | `coal.rs` | standard coal: [`CoalUnit`] and [`crate::Db::coal_sum`] (each point's coefficient in force at each bucket's start) |
//! | `compare.rs` | period comparisons (同比, 环比): [`Comparison`] and [`crate::Db::compare`] |
//!
//! # The data-item code layout MeterDB assumes
//!
//! [`DataItemCode`] is a fixed 16-digit code, modelled on the data-item code of the national
//! online energy-monitoring platform:
//!
//! ```text
//! digits  1-4   energy-type code                 e.g. 0100
//! digit   5     process stage                    1 purchase/storage, 2 processing/conversion,
//!                                                3 transport/distribution, 4 end use,
//!                                                5 recovery, 6 external supply
//! digits  6-8   energy-using unit code           000-999 (a branch or workshop of the unit)
//! digit   9     collection-object type           1 whole unit, 2 branch/workshop,
//!                                                3 process/system, 4 key equipment,
//!                                                5 metering instrument
//! digits 10-12  collection-object code           000-999
//! digits 13-16  data-item type                   0000-9999
//! ```
//!
//! This is the layout MeterDB assumes; it has **not** been checked against the applicable
//! text of the platform's specification (GB/T 37947 and the NHJC data-item coding rules):
//! verify it against that text before relying on the decoded fields. [`DataItemCode::parse`]
//! and its `Display` are the single place to change if the real layout differs.

mod apply;
mod catalog;
mod coal;
mod codes;
mod compare;
mod encoding;
mod records;
mod text;

pub use apply::{UNIT_APPLIED_FILE, UNIT_FILE};
pub use catalog::{AppliedVersion, UnitCatalog, UnitCatalogUpdate, UpdateMode};
pub use coal::CoalUnit;
pub use codes::{
    credit_code_check_char, validate_credit_code, DataItemCode, ObjectType, ProcessStage,
    CREDIT_CODE_CHARSET, DATA_ITEM_CODE_LEN,
};
pub use compare::Comparison;
pub use encoding::{UNIT_FORMAT_VERSION, UNIT_HEADER_LEN, UNIT_MAGIC};
pub use records::{
    CoalCoefficient, CollectionConfig, Device, DeviceKind, Enterprise, HISTORY_KEEP, MAX_COAL,
    MAX_RECORDS, MAX_TEXT_LEN,
};
pub use text::TEXT_HEADER;
