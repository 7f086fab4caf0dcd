//! The unit catalog at one version, a dictionary update, and the pure step that applies
//! an update to a catalog ([`UnitCatalog::apply`]): nothing here reads or writes a file.

use std::collections::BTreeMap;

use crate::{Error, Result, Timestamp};

use super::records::{CollectionConfig, Device, Enterprise, HISTORY_KEEP, MAX_RECORDS};

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
