//! The unit catalog: the registration records of one key energy-consuming unit (the
//! enterprise, its terminal devices, and each point's collection configuration), versioned
//! so that a dictionary update downloaded from the platform is applied atomically.
//!
//! This module holds the types, their checks, the pure step that applies an update to a
//! catalog ([`UnitCatalog::apply`]), the file encoding ([`UnitCatalog::encode_file`],
//! [`UnitCatalog::decode_file`]) and a line-based text form of an update
//! ([`UnitCatalogUpdate::parse_text`]); the database side (storing it, applying the configs
//! to the point catalog, crash safety) is in `db/unit.rs` ([`crate::Db::apply_unit_catalog`]).
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

use std::collections::BTreeMap;
use std::fmt;

use crate::catalog::{validate_key, PointKind, PointMeta};
use crate::error::{Error, Result};
use crate::format::{self, put_bytes, put_f64, put_i64, put_u32, put_u64, put_uvarint, Reader};
use crate::sample::Timestamp;

// ---------------------------------------------------------------------------------------
// Unified social credit code (GB 32100-2015)

/// The 31 characters of a unified social credit code, in order of their value (0 to 30).
pub const CREDIT_CODE_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn credit_value(c: u8) -> Option<u32> {
    CREDIT_CODE_CHARSET
        .iter()
        .position(|&x| x == c)
        .map(|p| p as u32)
}

/// The check character (the 18th) of the first 17 characters of a unified social credit
/// code: `31 - (Σ value·weight mod 31)`, where 31 gives 0. Errors when a character is not in
/// the code's character set or there are not exactly 17.
pub fn credit_code_check_char(first17: &str) -> Result<char> {
    if first17.chars().count() != 17 {
        return Err(Error::invalid(format!(
            "credit code prefix {first17:?} has {} characters, not 17",
            first17.chars().count()
        )));
    }
    let mut sum = 0u32;
    for (i, c) in first17.chars().enumerate() {
        let v = char_value(c).ok_or_else(|| bad_char(first17, i, c))?;
        sum += v * CREDIT_CODE_WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Ok(CREDIT_CODE_CHARSET[check as usize] as char)
}

fn char_value(c: char) -> Option<u32> {
    u8::try_from(c).ok().and_then(credit_value)
}

fn bad_char(code: &str, i: usize, c: char) -> Error {
    let hint = if c.is_ascii_lowercase() {
        " (letters must be upper case)"
    } else {
        ""
    };
    Error::invalid(format!(
        "credit code {code:?}: character {} ({c:?}) is not allowed{hint}; a unified social \
         credit code uses 0-9 and A-H J-N P Q R T U W X Y",
        i + 1
    ))
}

/// Checks an 18-character unified social credit code (GB 32100-2015): its character set
/// (`0-9A-HJ-NPQRTUWXY`) and its check character. The error says which character is wrong,
/// or that the check character does not match.
pub fn validate_credit_code(code: &str) -> Result<()> {
    let n = code.chars().count();
    if n != 18 {
        return Err(Error::invalid(format!(
            "credit code {code:?} has {n} characters, not 18"
        )));
    }
    for (i, c) in code.chars().enumerate() {
        if char_value(c).is_none() {
            return Err(bad_char(code, i, c));
        }
    }
    let want = credit_code_check_char(&code[..17])?;
    let got = code.as_bytes()[17] as char;
    if want != got {
        return Err(Error::invalid(format!(
            "credit code {code:?}: the check character (18th) is {got:?} but the first 17 \
             characters give {want:?}"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Data-item code

/// Digit 5 of a [`DataItemCode`]: the stage of the unit's energy flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcessStage {
    /// 1: purchase and storage (购入存储).
    Purchase = 1,
    /// 2: processing and conversion (加工转换).
    Conversion = 2,
    /// 3: transport and distribution (输送分配).
    Distribution = 3,
    /// 4: end use (终端使用).
    EndUse = 4,
    /// 5: recovery and reuse (回收利用).
    Recovery = 5,
    /// 6: supplied to others (外供).
    ExternalSupply = 6,
}

impl ProcessStage {
    /// The stage of a digit.
    pub fn from_digit(d: u8) -> Option<ProcessStage> {
        use ProcessStage::*;
        Some(match d {
            1 => Purchase,
            2 => Conversion,
            3 => Distribution,
            4 => EndUse,
            5 => Recovery,
            6 => ExternalSupply,
            _ => return None,
        })
    }
    /// A short English name, e.g. `"end use"`.
    pub fn as_str(self) -> &'static str {
        use ProcessStage::*;
        match self {
            Purchase => "purchase",
            Conversion => "conversion",
            Distribution => "distribution",
            EndUse => "end use",
            Recovery => "recovery",
            ExternalSupply => "external supply",
        }
    }
}

/// Digit 9 of a [`DataItemCode`]: what the data item is collected on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// 1: the whole unit.
    Unit = 1,
    /// 2: a branch factory or workshop.
    Branch = 2,
    /// 3: a process or system.
    Process = 3,
    /// 4: a key energy-using equipment.
    Equipment = 4,
    /// 5: a metering instrument.
    Instrument = 5,
}

impl ObjectType {
    /// The object type of a digit.
    pub fn from_digit(d: u8) -> Option<ObjectType> {
        use ObjectType::*;
        Some(match d {
            1 => Unit,
            2 => Branch,
            3 => Process,
            4 => Equipment,
            5 => Instrument,
            _ => return None,
        })
    }
    /// A short English name, e.g. `"equipment"`.
    pub fn as_str(self) -> &'static str {
        use ObjectType::*;
        match self {
            Unit => "unit",
            Branch => "branch",
            Process => "process",
            Equipment => "equipment",
            Instrument => "instrument",
        }
    }
}

/// A 16-digit data-item code decoded into its fields (see the module documentation for the
/// layout, and its caveat). `Display` writes the 16 digits back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataItemCode {
    /// Digits 1-4: the energy-type code (0-9999).
    pub energy_type: u16,
    /// Digit 5: the process stage.
    pub stage: ProcessStage,
    /// Digits 6-8: the energy-using unit code (0-999).
    pub unit_code: u16,
    /// Digit 9: the collection-object type.
    pub object_type: ObjectType,
    /// Digits 10-12: the collection-object code (0-999).
    pub object_code: u16,
    /// Digits 13-16: the data-item type (0-9999).
    pub item_type: u16,
}

/// Number of digits of a [`DataItemCode`].
pub const DATA_ITEM_CODE_LEN: usize = 16;

impl DataItemCode {
    /// Parses 16 ASCII digits. Errors (`InvalidArgument`) name the position and field that
    /// is wrong.
    pub fn parse(s: &str) -> Result<DataItemCode> {
        let b = s.as_bytes();
        if b.len() != DATA_ITEM_CODE_LEN {
            return Err(Error::invalid(format!(
                "data-item code {s:?} has {} bytes, not {DATA_ITEM_CODE_LEN} digits",
                b.len()
            )));
        }
        if let Some(i) = b.iter().position(|c| !c.is_ascii_digit()) {
            return Err(Error::invalid(format!(
                "data-item code {s:?}: position {} is not a digit",
                i + 1
            )));
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0'))
        };
        let stage = ProcessStage::from_digit(b[4] - b'0').ok_or_else(|| {
            Error::invalid(format!(
                "data-item code {s:?}: process stage (digit 5) is {}, not 1-6",
                b[4] - b'0'
            ))
        })?;
        let object_type = ObjectType::from_digit(b[8] - b'0').ok_or_else(|| {
            Error::invalid(format!(
                "data-item code {s:?}: collection-object type (digit 9) is {}, not 1-5",
                b[8] - b'0'
            ))
        })?;
        Ok(DataItemCode {
            energy_type: num(0..4),
            stage,
            unit_code: num(5..8),
            object_type,
            object_code: num(9..12),
            item_type: num(12..16),
        })
    }

    /// Checks the numeric fields' ranges (a code built by hand may exceed them).
    pub fn validate(&self) -> Result<()> {
        if self.energy_type > 9999
            || self.unit_code > 999
            || self.object_code > 999
            || self.item_type > 9999
        {
            return Err(Error::invalid(format!(
                "data-item code fields out of range: {self:?}"
            )));
        }
        Ok(())
    }

    /// The energy-type field as its 4 digits, e.g. `"0100"`.
    pub fn energy_type_code(&self) -> String {
        format!("{:04}", self.energy_type)
    }
}

impl fmt::Display for DataItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{}{:03}{}{:03}{:04}",
            self.energy_type,
            self.stage as u8,
            self.unit_code,
            self.object_type as u8,
            self.object_code,
            self.item_type
        )
    }
}

impl std::str::FromStr for DataItemCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DataItemCode::parse(s)
    }
}

// ---------------------------------------------------------------------------------------
// Records

/// Longest text field of a record (names, models, addresses), in bytes.
pub const MAX_TEXT_LEN: usize = 512;
/// Most devices or configs in one catalog.
pub const MAX_RECORDS: usize = 1 << 20;
/// Entries of version history kept (the oldest are dropped beyond it).
pub const HISTORY_KEEP: usize = 256;
/// Most standard-coal coefficients of one config.
pub const MAX_COAL: usize = 64;
/// Most fields of one stored record (a config has 10 kinds, the coefficients repeated).
const MAX_FIELDS: usize = 16 + MAX_COAL;

fn check_text(what: &str, s: &str, required: bool) -> Result<()> {
    if required && s.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if s.len() > MAX_TEXT_LEN {
        return Err(Error::invalid(format!(
            "{what} has {} bytes, more than {MAX_TEXT_LEN}",
            s.len()
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} {s:?} contains a control character"
        )));
    }
    Ok(())
}

fn check_id(what: &str, s: &str) -> Result<()> {
    check_text(what, s, true)?;
    if s.len() > 64 {
        return Err(Error::invalid(format!(
            "{what} {s:?} is longer than 64 bytes"
        )));
    }
    if s == "-" || s.contains('\t') {
        return Err(Error::invalid(format!(
            "{what} {s:?}: \"-\" alone and TAB are reserved (the text form uses them)"
        )));
    }
    Ok(())
}

/// The registered enterprise (the key energy-consuming unit).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Enterprise {
    /// The 18-character unified social credit code (checked, GB 32100-2015).
    pub credit_code: String,
    /// The registered name.
    pub name: String,
    /// The 6-digit administrative division code (GB/T 2260) of its location.
    pub region_code: String,
    /// Its industry classification code (GB/T 4754, e.g. `C3110`), or empty.
    pub industry: String,
    /// Its address, or empty.
    pub address: String,
}

impl Enterprise {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        validate_credit_code(&self.credit_code)?;
        check_text("enterprise name", &self.name, true)?;
        if self.region_code.len() != 6 || !self.region_code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(format!(
                "region code {:?} is not 6 digits",
                self.region_code
            )));
        }
        if self.industry.len() > 16 || !self.industry.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::invalid(format!(
                "industry code {:?} is not up to 16 letters and digits",
                self.industry
            )));
        }
        check_text("enterprise address", &self.address, false)
    }
}

/// What a terminal device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DeviceKind {
    /// A gateway (the unit's side of the link to the platform).
    #[default]
    Gateway,
    /// A data collector (concentrator).
    Collector,
    /// A meter.
    Meter,
}

impl DeviceKind {
    /// `"gateway"`, `"collector"` or `"meter"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Gateway => "gateway",
            DeviceKind::Collector => "collector",
            DeviceKind::Meter => "meter",
        }
    }
    /// Parses `"gateway"`, `"collector"` or `"meter"` (case-insensitive).
    pub fn parse(s: &str) -> Result<DeviceKind> {
        match s.to_ascii_lowercase().as_str() {
            "gateway" => Ok(DeviceKind::Gateway),
            "collector" => Ok(DeviceKind::Collector),
            "meter" => Ok(DeviceKind::Meter),
            _ => Err(Error::invalid(format!(
                "device kind {s:?} is not gateway, collector or meter"
            ))),
        }
    }
    fn code(self) -> u8 {
        match self {
            DeviceKind::Gateway => 0,
            DeviceKind::Collector => 1,
            DeviceKind::Meter => 2,
        }
    }
    fn from_code(c: u8) -> Option<DeviceKind> {
        [
            DeviceKind::Gateway,
            DeviceKind::Collector,
            DeviceKind::Meter,
        ]
        .get(usize::from(c))
        .copied()
    }
}

/// A terminal device of the unit.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Device {
    /// Its id, unique in the catalog: 1 to 64 bytes without control characters.
    pub id: String,
    /// Gateway, collector or meter.
    pub kind: DeviceKind,
    /// Its name, or empty.
    pub name: String,
    /// Its model, or empty.
    pub model: String,
    /// Its serial number, or empty.
    pub serial: String,
    /// When it was installed (ms, UTC), if known.
    pub installed_at: Option<Timestamp>,
}

impl Device {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_id("device id", &self.id)?;
        let w = |f: &str| format!("device {}: {f}", self.id);
        check_text(&w("name"), &self.name, false)?;
        check_text(&w("model"), &self.model, false)?;
        check_text(&w("serial"), &self.serial, false)?;
        if let Some(t) = self.installed_at {
            crate::sample::check_ts(t)?;
        }
        Ok(())
    }
}

/// A standard-coal coefficient (kgce per unit of the point's consumption) valid from `from`
/// (inclusive) to `to` (exclusive; `None`: until further notice).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoalCoefficient {
    /// First instant it applies to (ms, UTC).
    pub from: Timestamp,
    /// First instant it no longer applies to, if it expires.
    pub to: Option<Timestamp>,
    /// kgce per unit.
    pub kgce_per_unit: f64,
}

/// The collection configuration of one point.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionConfig {
    /// The point's key in the database (the point is defined or updated from this config).
    pub point_key: String,
    /// Its data-item code, decoded.
    pub data_item: DataItemCode,
    /// Counter or gauge.
    pub kind: PointKind,
    /// The energy type code (e.g. the 4 digits of the data-item code's energy type).
    pub energy_type: String,
    /// Unit of the values, e.g. `kWh`.
    pub unit: String,
    /// Decimal digits of the values (0 to 18), when known.
    pub precision: Option<u8>,
    /// Collection interval in ms, when known.
    pub interval_ms: Option<i64>,
    /// Factor applied to consumption (CT × PT ratio); finite and non-zero.
    pub multiplier: f64,
    /// Standard-coal coefficients, sorted by `from`, not overlapping.
    pub coal: Vec<CoalCoefficient>,
    /// The device that collects it (an id in the catalog's devices), if any.
    pub device: Option<String>,
}

impl CollectionConfig {
    /// A config with a key, a code and a kind; unit and energy type empty (the energy type
    /// is taken from the code), multiplier 1, no coefficients and no device.
    pub fn new(point_key: impl Into<String>, data_item: DataItemCode, kind: PointKind) -> Self {
        CollectionConfig {
            point_key: point_key.into(),
            energy_type: data_item.energy_type_code(),
            data_item,
            kind,
            unit: String::new(),
            precision: None,
            interval_ms: None,
            multiplier: 1.0,
            coal: Vec::new(),
            device: None,
        }
    }

    /// The coefficient in force at `ts` (honouring `to`), if any.
    pub fn coal_at(&self, ts: Timestamp) -> Option<f64> {
        self.coal
            .iter()
            .rev()
            .find(|c| c.from <= ts)
            .filter(|c| c.to.is_none_or(|t| ts < t))
            .map(|c| c.kgce_per_unit)
    }

    /// Checks every field (not the device reference, which needs the catalog).
    pub fn validate(&self) -> Result<()> {
        validate_key(&self.point_key)?;
        let k = &self.point_key;
        self.data_item.validate()?;
        check_text(&format!("point {k}: energy type"), &self.energy_type, false)?;
        if self.energy_type.len() > 32 {
            return Err(Error::invalid(format!(
                "point {k}: energy type is longer than 32 bytes"
            )));
        }
        check_text(&format!("point {k}: unit"), &self.unit, false)?;
        if self.unit.len() > 32 {
            return Err(Error::invalid(format!(
                "point {k}: unit is longer than 32 bytes"
            )));
        }
        if self.coal.len() > MAX_COAL {
            return Err(Error::invalid(format!(
                "point {k}: {} coal coefficients, more than {MAX_COAL}",
                self.coal.len()
            )));
        }
        for (i, c) in self.coal.iter().enumerate() {
            crate::sample::check_ts(c.from)?;
            if let Some(t) = c.to {
                crate::sample::check_ts(t)?;
                if t <= c.from {
                    return Err(Error::invalid(format!(
                        "point {k}: coal coefficient {} ends ({t}) before it starts ({})",
                        i + 1,
                        c.from
                    )));
                }
            }
            if !c.kgce_per_unit.is_finite() || c.kgce_per_unit < 0.0 {
                return Err(Error::invalid(format!(
                    "point {k}: coal coefficient {} is {}, not a finite non-negative number",
                    i + 1,
                    c.kgce_per_unit
                )));
            }
            if let Some(next) = self.coal.get(i + 1) {
                if next.from <= c.from || c.to.is_some_and(|t| t > next.from) {
                    return Err(Error::invalid(format!(
                        "point {k}: coal coefficients {} and {} are out of order or overlap",
                        i + 1,
                        i + 2
                    )));
                }
            }
        }
        if let Some(d) = &self.device {
            check_id(&format!("point {k}: device id"), d)?;
        }
        // The point metadata it becomes must be valid too (precision, interval, multiplier).
        self.to_point_meta(None).validate()
    }

    /// The point metadata this config gives, on top of the point's current metadata (whose
    /// tags, rollover and tiers are kept). The point catalog keeps each coal coefficient in
    /// force until the next one's `from`: an expiry (`to`) with nothing after it is kept
    /// here only (see [`CollectionConfig::coal_at`]).
    pub fn to_point_meta(&self, current: Option<&PointMeta>) -> PointMeta {
        let mut m = current
            .cloned()
            .unwrap_or_else(|| PointMeta::new(self.point_key.clone(), self.kind));
        m.kind = self.kind;
        m.unit = self.unit.clone();
        m.precision = self.precision;
        m.energy_type = self.energy_type.clone();
        m.interval_ms = self.interval_ms;
        m.multiplier = self.multiplier;
        m.coal = self
            .coal
            .iter()
            .map(|c| (c.from, c.kgce_per_unit))
            .collect();
        m
    }
}

/// One applied version, in the catalog's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedVersion {
    /// The version it made current.
    pub version: u64,
    /// The version it was applied on.
    pub base_version: u64,
    /// When it was applied (ms, UTC, the machine's clock).
    pub applied_at: Timestamp,
    /// Whether it replaced the whole dictionary (else it was a delta).
    pub full: bool,
    /// Records it added, replaced or removed.
    pub changes: u64,
    /// Devices after it.
    pub devices: u64,
    /// Configs after it.
    pub configs: u64,
}

/// The unit catalog: the enterprise, its devices and its points' collection configs, at one
/// version, with the history of the versions applied (newest last, at most
/// [`HISTORY_KEEP`]).
#[derive(Clone, Debug, PartialEq)]
pub struct UnitCatalog {
    /// The version (greater than 0 once anything has been applied).
    pub version: u64,
    /// The enterprise.
    pub enterprise: Enterprise,
    /// Devices by id.
    pub devices: BTreeMap<String, Device>,
    /// Collection configs by point key.
    pub configs: BTreeMap<String, CollectionConfig>,
    /// The versions applied, oldest first.
    pub history: Vec<AppliedVersion>,
}

/// Whether an update replaces the whole dictionary or changes part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UpdateMode {
    /// The update is the whole new dictionary: enterprise, every device, every config.
    #[default]
    Full,
    /// The update upserts and removes records; the enterprise is replaced if given.
    Delta,
}

/// A dictionary update: the version it applies on top of, the version it makes, and its
/// records.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct UnitCatalogUpdate {
    /// The version it applies on (0 for the first). Applying it on another version is
    /// refused with [`crate::ErrorKind::Conflict`].
    pub base_version: u64,
    /// The version it makes current; greater than `base_version`.
    pub version: u64,
    /// Full or delta.
    pub mode: UpdateMode,
    /// The enterprise (required in a full update and in the first one).
    pub enterprise: Option<Enterprise>,
    /// Devices to add or replace (the whole list in a full update).
    pub devices: Vec<Device>,
    /// Configs to add or replace (the whole list in a full update).
    pub configs: Vec<CollectionConfig>,
    /// Device ids to remove (delta only).
    pub remove_devices: Vec<String>,
    /// Point keys whose config to remove (delta only). The point itself stays in the
    /// database with its metadata (point ids are never reused).
    pub remove_configs: Vec<String>,
}

impl UnitCatalogUpdate {
    /// A full update: the whole new dictionary.
    pub fn full(
        base_version: u64,
        version: u64,
        enterprise: Enterprise,
        devices: Vec<Device>,
        configs: Vec<CollectionConfig>,
    ) -> Self {
        UnitCatalogUpdate {
            base_version,
            version,
            mode: UpdateMode::Full,
            enterprise: Some(enterprise),
            devices,
            configs,
            ..Default::default()
        }
    }

    /// An empty delta update; add records with the public fields.
    pub fn delta(base_version: u64, version: u64) -> Self {
        UnitCatalogUpdate {
            base_version,
            version,
            mode: UpdateMode::Delta,
            ..Default::default()
        }
    }
}

impl UnitCatalog {
    /// Checks the whole catalog: every record, unique data-item codes, device references.
    pub fn validate(&self) -> Result<()> {
        if self.version == 0 {
            return Err(Error::invalid(
                "unit catalog version 0 is reserved for none",
            ));
        }
        self.enterprise.validate()?;
        if self.devices.len() > MAX_RECORDS || self.configs.len() > MAX_RECORDS {
            return Err(Error::invalid(format!(
                "more than {MAX_RECORDS} devices or configs"
            )));
        }
        for (id, d) in &self.devices {
            d.validate()?;
            if *id != d.id {
                return Err(Error::invalid(format!("device {:?} filed as {id:?}", d.id)));
            }
        }
        let mut codes = BTreeMap::new();
        for (k, c) in &self.configs {
            c.validate()?;
            if *k != c.point_key {
                return Err(Error::invalid(format!(
                    "config of {:?} filed as {k:?}",
                    c.point_key
                )));
            }
            if let Some(d) = &c.device {
                if !self.devices.contains_key(d) {
                    return Err(Error::invalid(format!(
                        "point {k}: device {d:?} is not in the catalog"
                    )));
                }
            }
            if let Some(other) = codes.insert(c.data_item, k) {
                return Err(Error::invalid(format!(
                    "data-item code {} is used by points {other} and {k}",
                    c.data_item
                )));
            }
        }
        if self.history.len() > HISTORY_KEEP {
            return Err(Error::invalid("history is longer than kept"));
        }
        Ok(())
    }

    /// Applies an update to `current` (None: nothing applied yet) and returns the new
    /// catalog, checked; `current` is not changed. Errors: [`crate::ErrorKind::Conflict`]
    /// when `update.base_version` is not the current version; `InvalidArgument` for a bad
    /// version number, a bad record, a removal of something absent, a device still
    /// referenced, a repeated id or code.
    pub fn apply(
        current: Option<&UnitCatalog>,
        update: &UnitCatalogUpdate,
        applied_at: Timestamp,
    ) -> Result<UnitCatalog> {
        let have = current.map_or(0, |c| c.version);
        if update.base_version != have {
            return Err(Error::Conflict(format!(
                "the update applies on unit catalog version {}, but the current version is {have}",
                update.base_version
            )));
        }
        if update.version <= update.base_version {
            return Err(Error::invalid(format!(
                "update version {} is not greater than its base version {}",
                update.version, update.base_version
            )));
        }
        let mut next = match (update.mode, current) {
            (UpdateMode::Delta, Some(c)) => c.clone(),
            (UpdateMode::Full, Some(c)) => UnitCatalog {
                devices: BTreeMap::new(),
                configs: BTreeMap::new(),
                ..c.clone()
            },
            (_, None) => UnitCatalog {
                version: 0,
                enterprise: Enterprise::default(),
                devices: BTreeMap::new(),
                configs: BTreeMap::new(),
                history: Vec::new(),
            },
        };
        match (&update.enterprise, update.mode, current) {
            (Some(e), _, _) => next.enterprise = e.clone(),
            (None, UpdateMode::Full, _) => {
                return Err(Error::invalid("a full update must give the enterprise"))
            }
            (None, UpdateMode::Delta, None) => {
                return Err(Error::invalid("the first update must give the enterprise"))
            }
            (None, UpdateMode::Delta, Some(_)) => {}
        }
        if update.mode == UpdateMode::Full
            && (!update.remove_devices.is_empty() || !update.remove_configs.is_empty())
        {
            return Err(Error::invalid(
                "a full update lists the whole dictionary; it cannot remove records",
            ));
        }
        let mut changes = 0u64;
        for id in &update.remove_devices {
            if next.devices.remove(id).is_none() {
                return Err(Error::invalid(format!(
                    "cannot remove device {id:?}: it is not in the catalog"
                )));
            }
            changes += 1;
        }
        for k in &update.remove_configs {
            if next.configs.remove(k).is_none() {
                return Err(Error::invalid(format!(
                    "cannot remove the config of point {k:?}: it is not in the catalog"
                )));
            }
            changes += 1;
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &update.devices {
            if !seen.insert(d.id.as_str()) {
                return Err(Error::invalid(format!(
                    "device {:?} is listed twice in the update",
                    d.id
                )));
            }
            next.devices.insert(d.id.clone(), d.clone());
            changes += 1;
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &update.configs {
            if !seen.insert(c.point_key.as_str()) {
                return Err(Error::invalid(format!(
                    "point {:?} is configured twice in the update",
                    c.point_key
                )));
            }
            next.configs.insert(c.point_key.clone(), c.clone());
            changes += 1;
        }
        if update.enterprise.is_some() {
            changes += 1;
        }
        next.version = update.version;
        next.history.push(AppliedVersion {
            version: update.version,
            base_version: update.base_version,
            applied_at,
            full: update.mode == UpdateMode::Full,
            changes,
            devices: next.devices.len() as u64,
            configs: next.configs.len() as u64,
        });
        if next.history.len() > HISTORY_KEEP {
            let cut = next.history.len() - HISTORY_KEEP;
            next.history.drain(..cut);
        }
        next.validate()?;
        Ok(next)
    }
}

// ---------------------------------------------------------------------------------------
// The file

/// Magic of a unit catalog file.
pub const UNIT_MAGIC: &[u8; 8] = b"MDBUNIT\0";
/// Format version of a unit catalog file.
pub const UNIT_FORMAT_VERSION: u32 = 1;
/// Bytes before the body: magic, format version, body length.
pub const UNIT_HEADER_LEN: usize = 8 + 4 + 8;

/// Writes a record as tagged fields: count, then `tag u8, len uvarint, bytes` each.
fn put_fields(out: &mut Vec<u8>, fields: &[(u8, Vec<u8>)]) {
    put_uvarint(out, fields.len() as u64);
    for (tag, body) in fields {
        out.push(*tag);
        put_bytes(out, body);
    }
}

/// Reads a record's tagged fields.
fn get_fields<'a>(r: &mut Reader<'a>, what: &str) -> Result<Vec<(u8, &'a [u8])>> {
    let n = r.len(MAX_FIELDS, what)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = r.u8(what)?;
        v.push((tag, r.bytes(1 << 16, what)?));
    }
    Ok(v)
}

fn text(b: &[u8], what: &str) -> Result<String> {
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| Error::corrupt(format!("{what} is not UTF-8")))
}

fn fixed<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N]> {
    b.try_into()
        .map_err(|_| Error::corrupt(format!("{what} has {} bytes, not {N}", b.len())))
}

fn s(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

fn i64b(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn encode_enterprise(e: &Enterprise, out: &mut Vec<u8>) {
    put_fields(
        out,
        &[
            (1, s(&e.credit_code)),
            (2, s(&e.name)),
            (3, s(&e.region_code)),
            (4, s(&e.industry)),
            (5, s(&e.address)),
        ],
    );
}

fn decode_enterprise(r: &mut Reader<'_>) -> Result<Enterprise> {
    let mut e = Enterprise::default();
    for (tag, b) in get_fields(r, "enterprise")? {
        match tag {
            1 => e.credit_code = text(b, "credit code")?,
            2 => e.name = text(b, "enterprise name")?,
            3 => e.region_code = text(b, "region code")?,
            4 => e.industry = text(b, "industry")?,
            5 => e.address = text(b, "address")?,
            _ => {} // a field of a newer version
        }
    }
    Ok(e)
}

fn encode_device(d: &Device, out: &mut Vec<u8>) {
    let mut f = vec![
        (1, s(&d.id)),
        (2, vec![d.kind.code()]),
        (3, s(&d.name)),
        (4, s(&d.model)),
        (5, s(&d.serial)),
    ];
    if let Some(t) = d.installed_at {
        f.push((6, i64b(t)));
    }
    put_fields(out, &f);
}

fn decode_device(r: &mut Reader<'_>) -> Result<Device> {
    let mut d = Device::default();
    for (tag, b) in get_fields(r, "device")? {
        match tag {
            1 => d.id = text(b, "device id")?,
            2 => {
                let [k] = fixed::<1>(b, "device kind")?;
                d.kind = DeviceKind::from_code(k)
                    .ok_or_else(|| Error::corrupt(format!("unknown device kind {k}")))?;
            }
            3 => d.name = text(b, "device name")?,
            4 => d.model = text(b, "device model")?,
            5 => d.serial = text(b, "device serial")?,
            6 => d.installed_at = Some(i64::from_le_bytes(fixed(b, "installed at")?)),
            _ => {}
        }
    }
    Ok(d)
}

fn encode_config(c: &CollectionConfig, out: &mut Vec<u8>) {
    let mut f = vec![
        (1, s(&c.point_key)),
        (2, s(&c.data_item.to_string())),
        (
            3,
            vec![match c.kind {
                PointKind::Gauge => 0,
                PointKind::Counter => 1,
            }],
        ),
        (4, s(&c.energy_type)),
        (5, s(&c.unit)),
    ];
    if let Some(p) = c.precision {
        f.push((6, vec![p]));
    }
    if let Some(i) = c.interval_ms {
        f.push((7, i64b(i)));
    }
    let mut m = Vec::new();
    put_f64(&mut m, c.multiplier);
    f.push((8, m));
    for k in &c.coal {
        let mut b = i64b(k.from);
        put_i64(&mut b, k.to.unwrap_or(i64::MIN));
        put_f64(&mut b, k.kgce_per_unit);
        f.push((9, b));
    }
    if let Some(d) = &c.device {
        f.push((10, s(d)));
    }
    put_fields(out, &f);
}

fn decode_config(r: &mut Reader<'_>) -> Result<CollectionConfig> {
    let mut key = None;
    let mut code = None;
    let mut kind = PointKind::Gauge;
    let mut c = CollectionConfig {
        point_key: String::new(),
        data_item: DataItemCode {
            energy_type: 0,
            stage: ProcessStage::Purchase,
            unit_code: 0,
            object_type: ObjectType::Unit,
            object_code: 0,
            item_type: 0,
        },
        kind,
        energy_type: String::new(),
        unit: String::new(),
        precision: None,
        interval_ms: None,
        multiplier: 1.0,
        coal: Vec::new(),
        device: None,
    };
    for (tag, b) in get_fields(r, "config")? {
        match tag {
            1 => key = Some(text(b, "point key")?),
            2 => {
                let t = text(b, "data-item code")?;
                code = Some(
                    DataItemCode::parse(&t)
                        .map_err(|e| Error::corrupt(format!("stored data-item code: {e}")))?,
                );
            }
            3 => {
                kind = match fixed::<1>(b, "point kind")? {
                    [0] => PointKind::Gauge,
                    [1] => PointKind::Counter,
                    [k] => return Err(Error::corrupt(format!("unknown point kind {k}"))),
                }
            }
            4 => c.energy_type = text(b, "energy type")?,
            5 => c.unit = text(b, "unit")?,
            6 => c.precision = Some(fixed::<1>(b, "precision")?[0]),
            7 => c.interval_ms = Some(i64::from_le_bytes(fixed(b, "interval")?)),
            8 => c.multiplier = f64::from_le_bytes(fixed(b, "multiplier")?),
            9 => {
                let v: [u8; 24] = fixed(b, "coal coefficient")?;
                let from = i64::from_le_bytes(fixed(&v[..8], "coal from")?);
                let to = i64::from_le_bytes(fixed(&v[8..16], "coal to")?);
                let k = f64::from_le_bytes(fixed(&v[16..], "coal value")?);
                c.coal.push(CoalCoefficient {
                    from,
                    to: (to != i64::MIN).then_some(to),
                    kgce_per_unit: k,
                });
            }
            10 => c.device = Some(text(b, "device id")?),
            _ => {}
        }
    }
    c.point_key = key.ok_or_else(|| Error::corrupt("config without a point key"))?;
    c.data_item = code.ok_or_else(|| Error::corrupt("config without a data-item code"))?;
    c.kind = kind;
    Ok(c)
}

fn encode_history(h: &AppliedVersion, out: &mut Vec<u8>) {
    put_u64(out, h.version);
    put_u64(out, h.base_version);
    put_i64(out, h.applied_at);
    out.push(u8::from(h.full));
    put_uvarint(out, h.changes);
    put_uvarint(out, h.devices);
    put_uvarint(out, h.configs);
}

fn decode_history(r: &mut Reader<'_>) -> Result<AppliedVersion> {
    Ok(AppliedVersion {
        version: r.u64("history version")?,
        base_version: r.u64("history base version")?,
        applied_at: r.i64("history time")?,
        full: match r.u8("history mode")? {
            0 => false,
            1 => true,
            m => return Err(r.corrupt_here(format!("unknown history mode {m}"))),
        },
        changes: r.uvarint("history changes")?,
        devices: r.uvarint("history devices")?,
        configs: r.uvarint("history configs")?,
    })
}

impl UnitCatalog {
    /// Serializes the catalog as a file: header (magic, format version, body length), body,
    /// CRC-32 of everything before it (see `docs/format/unit-catalog.md`).
    pub fn encode_file(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(256 + 96 * (self.devices.len() + self.configs.len()));
        put_u64(&mut body, self.version);
        encode_enterprise(&self.enterprise, &mut body);
        put_uvarint(&mut body, self.devices.len() as u64);
        for d in self.devices.values() {
            encode_device(d, &mut body);
        }
        put_uvarint(&mut body, self.configs.len() as u64);
        for c in self.configs.values() {
            encode_config(c, &mut body);
        }
        put_uvarint(&mut body, self.history.len() as u64);
        for h in &self.history {
            encode_history(h, &mut body);
        }
        let mut out = Vec::with_capacity(UNIT_HEADER_LEN + body.len() + 4);
        out.extend_from_slice(UNIT_MAGIC);
        put_u32(&mut out, UNIT_FORMAT_VERSION);
        put_u64(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        let crc = format::crc32(&[&out]);
        put_u32(&mut out, crc);
        out
    }

    /// Parses a unit catalog file, and checks what it holds as [`UnitCatalog::validate`]
    /// does. Any damage (truncation, a flipped bit, a wrong length) is a corruption error
    /// (with the offset where it was found), never a panic; a newer format version is
    /// [`Error::UnsupportedVersion`].
    pub fn decode_file(buf: &[u8]) -> Result<UnitCatalog> {
        if buf.len() < UNIT_HEADER_LEN + 4 {
            return Err(Error::corrupt(format!(
                "unit catalog file of {} bytes is too short",
                buf.len()
            )));
        }
        let mut r = Reader::new(buf);
        if r.take(8, "magic")? != UNIT_MAGIC {
            return Err(Error::corrupt("not a unit catalog file (bad magic)"));
        }
        let version = r.u32("format version")?;
        let len = r.u64("body length")?;
        if version != UNIT_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: std::path::PathBuf::new(),
                version,
            });
        }
        let want = (buf.len() - UNIT_HEADER_LEN - 4) as u64;
        if len != want {
            return Err(Error::Corruption {
                file: None,
                offset: Some(12),
                msg: format!("body length {len} does not match the file ({want} bytes)"),
            });
        }
        let (all, crc) = buf.split_at(buf.len() - 4);
        if format::crc32(&[all]) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(Error::Corruption {
                file: None,
                offset: Some(all.len() as u64),
                msg: "unit catalog checksum mismatch".into(),
            });
        }
        let body = &all[UNIT_HEADER_LEN..];
        let mut r = Reader::new(body);
        let at = |e: Error| match e {
            Error::Corruption { file, offset, msg } => Error::Corruption {
                file,
                offset: Some(offset.unwrap_or(0) + UNIT_HEADER_LEN as u64),
                msg,
            },
            e => e,
        };
        let parse = |r: &mut Reader<'_>| -> Result<UnitCatalog> {
            let version = r.u64("catalog version")?;
            let enterprise = decode_enterprise(r)?;
            let n = r.len(body.len(), "device count")?;
            let mut devices = BTreeMap::new();
            for _ in 0..n {
                let d = decode_device(r)?;
                if devices.insert(d.id.clone(), d).is_some() {
                    return Err(r.corrupt_here("a device id is stored twice"));
                }
            }
            let n = r.len(body.len(), "config count")?;
            let mut configs = BTreeMap::new();
            for _ in 0..n {
                let c = decode_config(r)?;
                if configs.insert(c.point_key.clone(), c).is_some() {
                    return Err(r.corrupt_here("a point's config is stored twice"));
                }
            }
            let n = r.len(HISTORY_KEEP, "history length")?;
            let mut history = Vec::with_capacity(n);
            for _ in 0..n {
                history.push(decode_history(r)?);
            }
            if !r.is_empty() {
                return Err(r.corrupt_here("trailing bytes after the unit catalog"));
            }
            Ok(UnitCatalog {
                version,
                enterprise,
                devices,
                configs,
                history,
            })
        };
        let c = parse(&mut r).map_err(at)?;
        c.validate()
            .map_err(|e| Error::corrupt(format!("stored unit catalog is invalid: {e}")))?;
        Ok(c)
    }
}

// ---------------------------------------------------------------------------------------
// The text form of an update

/// First line of the text form.
pub const TEXT_HEADER: &str = "meterdb-unit-catalog 1";

fn opt_field(s: &str) -> Option<&str> {
    if s.is_empty() || s == "-" {
        None
    } else {
        Some(s)
    }
}

impl UnitCatalogUpdate {
    /// Parses the text form of an update: UTF-8 lines, fields separated by TAB, `#` starts a
    /// comment line, blank lines are skipped; `-` or an empty field is "none".
    ///
    /// ```text
    /// meterdb-unit-catalog 1
    /// base        <version it applies on, 0 for the first>
    /// version     <version it makes>
    /// mode        full | delta
    /// enterprise  <credit code> <name> <region code> <industry> <address>
    /// device      <id> <gateway|collector|meter> <name> <model> <serial> <installed at>
    /// config      <point key> <data-item code> <counter|gauge> <energy type> <unit>
    ///             <precision> <interval ms> <multiplier> <device id> <coal>
    /// remove-device  <id>
    /// remove-config  <point key>
    /// ```
    ///
    /// (each line is one line; the keyword and every field are separated by one TAB).
    /// Times are ms since the epoch or RFC 3339. `<coal>` is a comma-separated list of
    /// `from/to/kgce` (`to` is `-` when open), e.g. `2025-01-01T00:00:00+08:00/-/0.1229`.
    /// An empty `<energy type>` takes the data-item code's. Errors name the line.
    pub fn parse_text(src: &str) -> Result<UnitCatalogUpdate> {
        let mut u = UnitCatalogUpdate {
            mode: UpdateMode::Delta,
            ..Default::default()
        };
        let (mut have_header, mut have_base, mut have_version, mut have_mode) =
            (false, false, false, false);
        for (no, line) in src.lines().enumerate() {
            let no = no + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let err = |m: String| Error::invalid(format!("unit catalog text, line {no}: {m}"));
            if !have_header {
                if line.trim() != TEXT_HEADER {
                    return Err(err(format!("expected the header {TEXT_HEADER:?}")));
                }
                have_header = true;
                continue;
            }
            let mut f: Vec<&str> = line.split('\t').collect();
            if f.len() == 1 {
                f = line.split_whitespace().collect();
            }
            let want = |n: usize| -> Result<()> {
                if f.len() != n {
                    return Err(err(format!(
                        "{}: expected {} fields after the keyword, found {}",
                        f[0],
                        n - 1,
                        f.len() - 1
                    )));
                }
                Ok(())
            };
            let num = |s: &str, what: &str| -> Result<u64> {
                s.parse::<u64>()
                    .map_err(|_| err(format!("{what} {s:?} is not a whole number")))
            };
            let ts = |s: &str| -> Result<Timestamp> {
                crate::time::parse_timestamp(s).map_err(|e| err(e.to_string()))
            };
            match f[0] {
                "base" => {
                    want(2)?;
                    u.base_version = num(f[1], "base version")?;
                    have_base = true;
                }
                "version" => {
                    want(2)?;
                    u.version = num(f[1], "version")?;
                    have_version = true;
                }
                "mode" => {
                    want(2)?;
                    u.mode = match f[1] {
                        "full" => UpdateMode::Full,
                        "delta" => UpdateMode::Delta,
                        m => return Err(err(format!("mode {m:?} is neither full nor delta"))),
                    };
                    have_mode = true;
                }
                "enterprise" => {
                    want(6)?;
                    if u.enterprise.is_some() {
                        return Err(err("a second enterprise line".into()));
                    }
                    u.enterprise = Some(Enterprise {
                        credit_code: f[1].into(),
                        name: f[2].into(),
                        region_code: f[3].into(),
                        industry: opt_field(f[4]).unwrap_or("").into(),
                        address: opt_field(f[5]).unwrap_or("").into(),
                    });
                }
                "device" => {
                    want(7)?;
                    u.devices.push(Device {
                        id: f[1].into(),
                        kind: DeviceKind::parse(f[2]).map_err(|e| err(e.to_string()))?,
                        name: opt_field(f[3]).unwrap_or("").into(),
                        model: opt_field(f[4]).unwrap_or("").into(),
                        serial: opt_field(f[5]).unwrap_or("").into(),
                        installed_at: opt_field(f[6]).map(ts).transpose()?,
                    });
                }
                "config" => {
                    want(11)?;
                    let code = DataItemCode::parse(f[2]).map_err(|e| err(e.to_string()))?;
                    let kind = PointKind::parse(f[3]).map_err(|e| err(e.to_string()))?;
                    let precision = opt_field(f[6])
                        .map(|p| {
                            p.parse::<u8>()
                                .map_err(|_| err(format!("precision {p:?} is not 0-255")))
                        })
                        .transpose()?;
                    let interval_ms = opt_field(f[7])
                        .map(|p| {
                            p.parse::<i64>()
                                .map_err(|_| err(format!("interval {p:?} is not a number")))
                        })
                        .transpose()?;
                    let multiplier = match opt_field(f[8]) {
                        None => 1.0,
                        Some(m) => m
                            .parse::<f64>()
                            .map_err(|_| err(format!("multiplier {m:?} is not a number")))?,
                    };
                    let mut coal = Vec::new();
                    if let Some(list) = opt_field(f[10]) {
                        for item in list.split(',') {
                            let p: Vec<&str> = item.split('/').collect();
                            if p.len() != 3 {
                                return Err(err(format!(
                                    "coal coefficient {item:?} is not from/to/kgce"
                                )));
                            }
                            coal.push(CoalCoefficient {
                                from: ts(p[0])?,
                                to: opt_field(p[1]).map(ts).transpose()?,
                                kgce_per_unit: p[2].parse::<f64>().map_err(|_| {
                                    err(format!("coal coefficient {:?} is not a number", p[2]))
                                })?,
                            });
                        }
                    }
                    u.configs.push(CollectionConfig {
                        point_key: f[1].into(),
                        data_item: code,
                        kind,
                        energy_type: opt_field(f[4])
                            .map_or_else(|| code.energy_type_code(), str::to_string),
                        unit: opt_field(f[5]).unwrap_or("").into(),
                        precision,
                        interval_ms,
                        multiplier,
                        coal,
                        device: opt_field(f[9]).map(str::to_string),
                    });
                }
                "remove-device" => {
                    want(2)?;
                    u.remove_devices.push(f[1].into());
                }
                "remove-config" => {
                    want(2)?;
                    u.remove_configs.push(f[1].into());
                }
                k => return Err(err(format!("unknown keyword {k:?}"))),
            }
        }
        if !have_header {
            return Err(Error::invalid(format!(
                "unit catalog text is empty (it starts with {TEXT_HEADER:?})"
            )));
        }
        for (have, what) in [
            (have_base, "base"),
            (have_version, "version"),
            (have_mode, "mode"),
        ] {
            if !have {
                return Err(Error::invalid(format!(
                    "unit catalog text has no {what} line"
                )));
            }
        }
        Ok(u)
    }

    /// Writes the update in the text form [`UnitCatalogUpdate::parse_text`] reads (times as
    /// ms). Text fields must not hold TAB or newlines (record checks refuse them anyway).
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let o = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let on = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let mut t = String::new();
        let _ = writeln!(t, "{TEXT_HEADER}");
        let _ = writeln!(t, "base\t{}", self.base_version);
        let _ = writeln!(t, "version\t{}", self.version);
        let mode = match self.mode {
            UpdateMode::Full => "full",
            UpdateMode::Delta => "delta",
        };
        let _ = writeln!(t, "mode\t{mode}");
        if let Some(e) = &self.enterprise {
            let _ = writeln!(
                t,
                "enterprise\t{}\t{}\t{}\t{}\t{}",
                e.credit_code,
                e.name,
                e.region_code,
                o(&e.industry),
                o(&e.address)
            );
        }
        for d in &self.devices {
            let _ = writeln!(
                t,
                "device\t{}\t{}\t{}\t{}\t{}\t{}",
                d.id,
                d.kind.as_str(),
                o(&d.name),
                o(&d.model),
                o(&d.serial),
                on(d.installed_at.map(|v| v.to_string()))
            );
        }
        for c in &self.configs {
            let coal: Vec<String> = c
                .coal
                .iter()
                .map(|k| {
                    format!(
                        "{}/{}/{}",
                        k.from,
                        on(k.to.map(|v| v.to_string())),
                        k.kgce_per_unit
                    )
                })
                .collect();
            let _ = writeln!(
                t,
                "config\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                c.point_key,
                c.data_item,
                c.kind.as_str(),
                o(&c.energy_type),
                o(&c.unit),
                on(c.precision.map(|v| v.to_string())),
                on(c.interval_ms.map(|v| v.to_string())),
                c.multiplier,
                on(c.device.clone()),
                if coal.is_empty() {
                    "-".into()
                } else {
                    coal.join(",")
                }
            );
        }
        for d in &self.remove_devices {
            let _ = writeln!(t, "remove-device\t{d}");
        }
        for k in &self.remove_configs {
            let _ = writeln!(t, "remove-config\t{k}");
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_character_matches_the_standard_weights() {
        // The check character makes Σ value·weight (all 18, the 18th weighing 1) ≡ 0 mod 31.
        for prefix in [
            "91350100M000100Y4",
            "91110000600001760",
            "12100000400000624",
        ] {
            let c = credit_code_check_char(prefix).unwrap();
            let code = format!("{prefix}{c}");
            validate_credit_code(&code).unwrap();
            let mut sum = 0;
            for (i, b) in code.bytes().enumerate() {
                let w = if i < 17 { CREDIT_CODE_WEIGHTS[i] } else { 1 };
                sum += credit_value(b).unwrap() * w;
            }
            assert_eq!(sum % 31, 0, "{code}");
        }
    }

    #[test]
    fn data_item_code_round_trips() {
        let c = DataItemCode::parse("0100400120030001").unwrap();
        assert_eq!(c.energy_type, 100);
        assert_eq!(c.stage, ProcessStage::EndUse);
        assert_eq!(c.unit_code, 1);
        assert_eq!(c.object_type, ObjectType::Branch);
        assert_eq!(c.object_code, 3);
        assert_eq!(c.item_type, 1);
        assert_eq!(c.to_string(), "0100400120030001");
    }
}
