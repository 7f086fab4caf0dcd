//! The records of a unit catalog, one each: the enterprise, a terminal device, a point's
//! collection configuration (with its standard-coal coefficients), and their checks.

use crate::catalog::validate_key;
use crate::{Error, PointKind, PointMeta, Result, Timestamp};

use super::codes::{validate_credit_code, DataItemCode};

/// Longest text field of a record (names, models, addresses), in bytes.
pub const MAX_TEXT_LEN: usize = 512;
/// Most devices or configs in one catalog.
pub const MAX_RECORDS: usize = 1 << 20;
/// Entries of version history kept (the oldest are dropped beyond it).
pub const HISTORY_KEEP: usize = 256;
/// Most standard-coal coefficients of one config.
pub const MAX_COAL: usize = 64;

pub(super) fn check_text(what: &str, s: &str, required: bool) -> Result<()> {
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

pub(super) fn check_id(what: &str, s: &str) -> Result<()> {
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

crate::code_enum! {
    /// What a terminal device is (codes: the device records of `UNITCAT`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub enum DeviceKind {
        /// A gateway (the unit's side of the link to the platform).
        #[default]
        Gateway = 0 => "gateway",
        /// A data collector (concentrator).
        Collector = 1 => "collector",
        /// A meter.
        Meter = 2 => "meter",
    }
}

impl DeviceKind {
    /// Parses `"gateway"`, `"collector"` or `"meter"` (case-insensitive).
    pub fn parse(s: &str) -> Result<DeviceKind> {
        DeviceKind::from_name(s).ok_or_else(|| {
            Error::invalid(format!(
                "device kind {s:?} is not gateway, collector or meter"
            ))
        })
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
