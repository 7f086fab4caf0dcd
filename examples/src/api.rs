//! The `/api/v1/` contract between a gateway (or the front-end) and a platform: the JSON
//! bodies of requests and answers, shared by the server and its clients. Fields may be
//! added to these types later, never changed or removed (examples/README.md shows each
//! request and answer).

use meterdb::{CoalCoefficient, CollectionConfig, DataItemCode, PointKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::industry::{
    energy_type, DataCode, Industry, Measure, Plant, COAL_VALID_FROM, ENERGY_TYPES, INDUSTRIES,
    ITEM_TYPES,
};
use crate::records::{format_stat_date, parse_date, STAT_DAY};

/// The version of the dictionaries this build serves (`GET /api/v1/dictionaries`).
pub const DICTIONARY_VERSION: u64 = 2;

/// The dictionaries (basic information, function 2): energy types with their units and
/// standard-coal coefficients, the data-item code layout and item types, statistic types,
/// input types and industries. `have`: the version the client holds; when it is the
/// current one, the answer is `{"version": N, "changed": false}` only.
pub fn dictionaries(have: Option<u64>) -> Value {
    if have == Some(DICTIONARY_VERSION) {
        return json!({"version": DICTIONARY_VERSION, "changed": false});
    }
    let mut units: Vec<&str> = ENERGY_TYPES
        .iter()
        .map(|e| e.unit)
        .filter(|u| !u.is_empty())
        .collect();
    units.sort_unstable();
    units.dedup();
    let industries: Vec<Value> = INDUSTRIES
        .iter()
        .map(|i| {
            json!({"code": i.as_str(), "classification": i.classification(), "industry": i.sector(),
                   "scope": i.scope_name(), "pointsPerUnit": i.points_per_unit(),
                   "indicators": i.indicators().iter().map(|d| json!({"code": d.code, "name": d.name, "unit": d.unit})).collect::<Vec<_>>()})
        })
        .collect();
    json!({
        "version": DICTIONARY_VERSION,
        "changed": true,
        "energyTypes": ENERGY_TYPES.iter().map(|e| json!({
            "code": e.code, "name": e.name, "unit": e.unit,
            "kgcePerUnit": e.kgce_per_unit, "coalValidFrom": format_stat_date(STAT_DAY, COAL_VALID_FROM),
        })).collect::<Vec<_>>(),
        "units": units,
        "dataItemCode": {
            "length": 16,
            "fields": [
                {"digits": "1-4", "name": "energyType", "values": "energyTypes"},
                {"digits": "5", "name": "processStage", "values": {"1": "purchase and storage", "2": "processing and conversion", "3": "transport and distribution", "4": "end use", "5": "recovery", "6": "external supply"}},
                {"digits": "6-8", "name": "energyUsingUnit", "values": "000-999 (production unit)"},
                {"digits": "9", "name": "objectType", "values": {"1": "whole unit", "2": "branch or workshop", "3": "process or system", "4": "key equipment", "5": "metering instrument"}},
                {"digits": "10-12", "name": "objectCode", "values": "000-999"},
                {"digits": "13-16", "name": "itemType", "values": "itemTypes"},
            ],
            "example": DataCode::new(energy_type("3300").unwrap_or(&ENERGY_TYPES[0]), Measure::Consumption, 1, 2).text(),
        },
        "itemTypes": ITEM_TYPES.iter().map(|(c, n, s)| json!({"code": format!("{c:04}"), "name": n, "statistic": s})).collect::<Vec<_>>(),
        "statTypes": [
            {"code": 0, "name": "real-time", "statDate": "yyyy-MM-dd HH:mm:ss"},
            {"code": 1, "name": "day", "statDate": "yyyy-MM-dd"},
            {"code": 2, "name": "month", "statDate": "yyyy-MM"},
            {"code": 3, "name": "year", "statDate": "yyyy"},
        ],
        "inputTypes": [
            {"code": 1, "name": "collected automatically"},
            {"code": 2, "name": "entered by hand"},
            {"code": 3, "name": "estimated"},
        ],
        "industries": industries,
    })
}

/// A standard-coal coefficient of a configured point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coal {
    /// First day it applies to, `yyyy-MM-dd` (+08:00).
    pub from: String,
    /// First day it no longer applies to, if it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// kgce per unit of the point's consumption.
    pub kgce_per_unit: f64,
}

/// One data item a unit must report (function 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigItem {
    /// The 16-digit data-item code.
    pub data_code: String,
    /// What it measures, in words.
    pub name: String,
    /// `counter` or `gauge`.
    pub kind: String,
    /// The energy type code (digits 1-4 of the code).
    pub energy_type: String,
    /// Unit of the values.
    pub unit: String,
    /// Decimal digits of the values.
    pub precision: Option<u8>,
    /// Collection interval (ms).
    pub interval_ms: i64,
    /// Factor applied to consumption (CT × PT ratio).
    pub multiplier: f64,
    /// Standard-coal coefficients, by date.
    pub coal: Vec<Coal>,
}

impl ConfigItem {
    /// The engine's collection config of this item (point key = the data code).
    pub fn to_collection_config(&self) -> Result<CollectionConfig, String> {
        let w = |e: String| format!("config item {}: {e}", self.data_code);
        let code = DataItemCode::parse(&self.data_code).map_err(|e| w(e.to_string()))?;
        // The engine's names, exactly (no case folding, unlike `PointKind::parse`).
        let Some(kind) = PointKind::ALL.into_iter().find(|k| k.as_str() == self.kind) else {
            return Err(w(format!("kind {:?} is not counter or gauge", self.kind)));
        };
        let mut c = CollectionConfig::new(self.data_code.clone(), code, kind);
        c.energy_type = self.energy_type.clone();
        c.unit = self.unit.clone();
        c.precision = self.precision;
        c.interval_ms = Some(self.interval_ms);
        c.multiplier = self.multiplier;
        for k in &self.coal {
            c.coal.push(CoalCoefficient {
                from: parse_date(&k.from).map_err(w)?,
                to: k.to.as_deref().map(parse_date).transpose().map_err(w)?,
                kgce_per_unit: k.kgce_per_unit,
            });
        }
        c.validate().map_err(|e| w(e.to_string()))?;
        Ok(c)
    }
}

/// The collection configuration of a unit (function 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitConfig {
    /// The unit.
    pub enterprise_code: String,
    /// Its version: every change makes a higher one.
    pub version: u64,
    /// False when the client already has this version (then `items` is empty).
    pub changed: bool,
    /// What the unit must report.
    #[serde(default)]
    pub items: Vec<ConfigItem>,
}

/// The configuration of a simulated unit of `industry` with `points` points (production
/// units repeat the industry's points) collected every `interval_ms`.
pub fn standard_config(industry: Industry, points: usize, interval_ms: i64) -> Vec<ConfigItem> {
    let plant = Plant::new(industry, "", 1, points, 0, interval_ms, 1);
    plant
        .meters
        .iter()
        .map(|m| {
            let c = &m.code;
            let coal =
                (c.measure == Measure::Consumption && c.energy.kgce_per_unit > 0.0).then(|| Coal {
                    from: format_stat_date(STAT_DAY, COAL_VALID_FROM),
                    to: None,
                    kgce_per_unit: c.energy.kgce_per_unit,
                });
            ConfigItem {
                data_code: c.text(),
                name: m.name.clone(),
                kind: c.measure.kind().as_str().into(),
                energy_type: c.energy.code.into(),
                unit: c.energy.unit.into(),
                precision: Some(m.decimals as u8),
                interval_ms,
                multiplier: 1.0,
                coal: coal.into_iter().collect(),
            }
        })
        .collect()
}

/// The engine's catalog update that makes a gateway's database follow `cfg` (version
/// `cfg.version` on top of the applied `have`): the enterprise of `info`, the gateway itself
/// as device `device_id` (serial `serial`), one collection config per item (point key = the
/// data code). Apply it with `Db::apply_unit_catalog`.
pub fn catalog_update(
    have: u64,
    cfg: &UnitConfig,
    info: &UnitInfo,
    device_id: &str,
    serial: &str,
) -> Result<meterdb::UnitCatalogUpdate, String> {
    let enterprise = meterdb::Enterprise {
        credit_code: info.enterprise.enterprise_code.clone(),
        name: info.enterprise.name.clone(),
        region_code: info.enterprise.region_code.clone(),
        industry: info.enterprise.industry_code.clone(),
        address: String::new(),
    };
    let device = meterdb::Device {
        id: device_id.to_string(),
        kind: meterdb::DeviceKind::Gateway,
        name: "gateway".into(),
        model: "meterdb-examples".into(),
        serial: serial.into(),
        installed_at: None,
    };
    let configs = cfg
        .items
        .iter()
        .map(ConfigItem::to_collection_config)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(meterdb::UnitCatalogUpdate::full(
        have,
        cfg.version,
        enterprise,
        vec![device],
        configs,
    ))
}

/// A unit's information and configuration in one file, for a gateway that reaches no
/// platform (the isolation path): `provincial unit export-config` writes it, `gateway run
/// --config-file` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigFile {
    /// Function 3's answer.
    pub unit: UnitInfo,
    /// Function 5's answer.
    pub config: UnitConfig,
}

/// The enterprise of a unit (function 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseInfo {
    /// Unified social credit code.
    pub enterprise_code: String,
    /// Registered name.
    pub name: String,
    /// Administrative division (GB/T 2260, 6 digits).
    pub region_code: String,
    /// `power`, `steel` or `petrochemical`.
    pub industry: String,
    /// Classification (GB/T 4754).
    pub industry_code: String,
}

/// A terminal device of a unit, as the platform shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// Its id (`{enterpriseCode}-{n}`).
    pub device_id: String,
    /// `gateway`, `collector` or `meter`.
    pub kind: String,
    /// Its serial number.
    pub serial: String,
    /// Its name.
    pub name: String,
    /// When it registered (`yyyy-MM-dd HH:mm:ss`, +08:00).
    pub registered_at: String,
    /// Whether its token was revoked.
    pub revoked: bool,
}

/// A unit's basic information (function 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitInfo {
    /// The enterprise.
    pub enterprise: EnterpriseInfo,
    /// Its devices.
    pub devices: Vec<DeviceInfo>,
    /// The version of its collection configuration.
    pub config_version: u64,
}

/// The body of `POST /api/v1/devices` (the enrollment code is the request's bearer token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// The unit's code (it must be the one the enrollment code was issued for).
    pub enterprise_code: String,
    /// The device's serial number.
    pub serial: String,
    /// `gateway` (default), `collector` or `meter`.
    #[serde(default)]
    pub kind: Option<String>,
    /// A name for it.
    #[serde(default)]
    pub name: Option<String>,
}

/// The answer to a registration: the device's id and its token, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterAnswer {
    /// `true`.
    pub ok: bool,
    /// The unit.
    pub enterprise_code: String,
    /// The device's id.
    pub device_id: String,
    /// Its bearer token (128 random bits; the platform keeps only a salted hash).
    pub token: String,
    /// Its epoch, the scope of its change ids (absent from platforms of before).
    #[serde(default)]
    pub epoch: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_configs_become_engine_configs() {
        for ind in [Industry::Power, Industry::Steel, Industry::Petrochemical] {
            let items = standard_config(ind, 14, 60_000);
            assert_eq!(items.len(), 14);
            for it in &items {
                let c = it.to_collection_config().unwrap();
                assert_eq!(c.point_key, it.data_code);
                let code = DataCode::parse(&it.data_code).unwrap();
                assert!(ind.meter_index(&code).is_some());
                let back: ConfigItem =
                    serde_json::from_str(&serde_json::to_string(it).unwrap()).unwrap();
                assert_eq!(&back, it);
            }
        }
        let mut bad = standard_config(Industry::Power, 1, 60_000).remove(0);
        bad.kind = "meter".into();
        assert!(bad.to_collection_config().unwrap_err().contains("kind"));
        bad.kind = "counter".into();
        bad.data_code = "33001".into();
        assert!(bad.to_collection_config().unwrap_err().contains("16"));
        assert_eq!(dictionaries(Some(DICTIONARY_VERSION))["changed"], false);
        let d = dictionaries(None);
        assert_eq!(d["dataItemCode"]["example"], "3300400150020001");
        assert_eq!(
            d["energyTypes"].as_array().unwrap().len(),
            ENERGY_TYPES.len()
        );
    }
}
