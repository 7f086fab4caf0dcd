//! The unit catalog of a database: stored in the application file `UNITCAT`, applied
//! atomically, and applied to the point catalog, through the storage core's public API
//! only ([`Db::app_files`], [`Db::define_points`], [`Db::point`]).
//!
//! # How an update is applied, and what a crash leaves
//!
//! Everything below happens while the application files are locked ([`Db::app_files`]), so
//! two updates, or an update and a backup, never interleave.
//!
//! 1. The new catalog is computed and checked in memory ([`UnitCatalog::apply`]), with the
//!    point metadata every config gives; nothing is written if anything is refused.
//! 2. **Commit point:** the encoded catalog replaces `UNITCAT` atomically
//!    ([`AppFiles::replace`]: `UNITCAT.tmp` written and synced, renamed, directory synced).
//! 3. The configs are applied to the point catalog: [`Db::define_points`] (one WAL define
//!    record per point whose metadata changes, all under the catalog lock, so other threads
//!    see all or none; the WAL synced whatever the durability mode).
//! 4. `UNITCAT.applied` (the version whose configs are in the point catalog) is replaced.
//!
//! A crash before step 2's rename leaves the old `UNITCAT`, and the point catalog was not
//! touched: the old version. A crash after it leaves the new `UNITCAT`, and the marker does
//! not name that version: the first call of this layer after the database opens (any of
//! the `unit_catalog` methods) does step 3 again (it is idempotent) and
//! writes the marker before it returns anything: the new version. Either way a reader of
//! the unit catalog never sees configs of one version with point metadata of another.

use crate::format::{self, put_u32, put_u64};
use crate::{AppFiles, Db, Error, PointMeta, Result};

use super::catalog::{AppliedVersion, UnitCatalog, UnitCatalogUpdate};

/// The unit catalog file, an application file of the database directory.
pub const UNIT_FILE: &str = "UNITCAT";
/// The marker of the version applied to the point catalog.
pub const UNIT_APPLIED_FILE: &str = "UNITCAT.applied";
const APPLIED_MAGIC: &[u8; 8] = b"MDBUNAPL";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reads and decodes `UNITCAT` (None when there is none); errors name the file.
fn load(files: &AppFiles<'_>) -> Result<Option<UnitCatalog>> {
    let Some(bytes) = files.read(UNIT_FILE)? else {
        return Ok(None);
    };
    UnitCatalog::decode_file(&bytes)
        .map(Some)
        .map_err(|e| e.in_file(&files.path(UNIT_FILE).unwrap_or_default(), 0))
}

/// The version the marker names, or None when it is missing or damaged (then the configs
/// are applied again, which is harmless).
fn applied_version(files: &AppFiles<'_>) -> Option<u64> {
    let b = files.read(UNIT_APPLIED_FILE).ok()??;
    if b.len() != 20 || &b[..8] != APPLIED_MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(b[16..20].try_into().ok()?);
    if format::crc32(&[&b[..16]]) != crc {
        return None;
    }
    Some(u64::from_le_bytes(b[8..16].try_into().ok()?))
}

fn applied_marker(version: u64) -> Vec<u8> {
    let mut b = APPLIED_MAGIC.to_vec();
    put_u64(&mut b, version);
    let crc = format::crc32(&[&b]);
    put_u32(&mut b, crc);
    b
}

impl Db {
    /// The point metadata the configs of `cat` give, on top of the current metadata.
    fn unit_point_metas(&self, cat: &UnitCatalog) -> Result<Vec<PointMeta>> {
        cat.configs
            .values()
            .map(|c| {
                let cur = self.point_id(&c.point_key).and_then(|id| self.point(id));
                let m = c.to_point_meta(cur.as_ref());
                m.validate().map(|()| m)
            })
            .collect()
    }

    /// Steps 3 and 4 of an apply (see the module docs): the configs into the point catalog
    /// (durably), the marker written (a failure to write the marker is ignored: the configs
    /// are then applied again at the next first use).
    fn apply_unit_points(
        &self,
        files: &AppFiles<'_>,
        cat: &UnitCatalog,
        metas: &[PointMeta],
    ) -> Result<()> {
        self.define_points(metas)?;
        let _ = files.replace(UNIT_APPLIED_FILE, &applied_marker(cat.version));
        Ok(())
    }

    /// The stored unit catalog, with an apply that a crash interrupted after its commit
    /// point finished first.
    fn current_unit_catalog(&self, files: &AppFiles<'_>) -> Result<Option<UnitCatalog>> {
        let Some(cat) = load(files)? else {
            return Ok(None);
        };
        if applied_version(files) != Some(cat.version) {
            let metas = self
                .unit_point_metas(&cat)
                .map_err(|e| Error::corrupt(format!("unit catalog config: {e}")))?;
            self.apply_unit_points(files, &cat, &metas)?;
        }
        Ok(Some(cat))
    }

    /// The current unit catalog (a copy), or `None` when no update has been applied, or when
    /// the stored catalog cannot be read ([`Db::verify`] and [`Db::apply_unit_catalog`]
    /// report why).
    pub fn unit_catalog(&self) -> Option<UnitCatalog> {
        self.current_unit_catalog(&self.app_files()).ok().flatten()
    }

    /// The current unit catalog version (0: none applied, or unreadable as for
    /// [`Db::unit_catalog`]).
    pub fn unit_catalog_version(&self) -> u64 {
        self.unit_catalog().map_or(0, |c| c.version)
    }

    /// The versions applied, oldest first (the last [`super::HISTORY_KEEP`]).
    pub fn unit_catalog_history(&self) -> Vec<AppliedVersion> {
        self.unit_catalog().map_or_else(Vec::new, |c| c.history)
    }

    /// Applies a dictionary update atomically, and applies its configs to the point
    /// catalog: every configured point is defined (or its metadata updated: kind, unit,
    /// precision, energy type, interval, multiplier, coal coefficients; its tags, rollover
    /// and tiers are kept). Returns the history entry of the new version.
    ///
    /// Errors, with nothing changed: [`crate::ErrorKind::Conflict`] when the update's base
    /// version is not the current version (another update came first: read the current
    /// version and fetch the matching update); `InvalidArgument` for any invalid record or
    /// inconsistency (see [`UnitCatalog::apply`]), or a config whose point metadata is
    /// invalid; a corruption error naming `UNITCAT` when the stored catalog is damaged. An
    /// I/O error before the commit point changes nothing; one after it may poison the
    /// database, and the first use after reopening it finishes the update (see the module
    /// docs of `energy/apply.rs`). After a crash, the old or the new version is visible,
    /// never a mix.
    ///
    /// A config removed from the catalog leaves its point and the point's metadata as they
    /// are (point ids are never reused).
    pub fn apply_unit_catalog(&self, update: &UnitCatalogUpdate) -> Result<AppliedVersion> {
        let files = self.app_files();
        let current = self.current_unit_catalog(&files)?;
        let next = UnitCatalog::apply(current.as_ref(), update, now_ms())?;
        let metas = self.unit_point_metas(&next)?;
        // Step 2, the commit point.
        files.replace(UNIT_FILE, &next.encode_file())?;
        self.apply_unit_points(&files, &next, &metas)?;
        Ok(next
            .history
            .last()
            .cloned()
            .expect("apply records the new version"))
    }

    /// Checks every live file: those of the storage core ([`Db::verify_storage`]: segments,
    /// rollup files, catalog, manifest, cursors, upload log, tiers file) and the unit
    /// catalog. Returns the problems found (empty when all is well). The WAL is checked
    /// when the database opens; the marker `UNITCAT.applied` needs no check (a damaged one
    /// only makes the configs be applied again).
    pub fn verify(&self) -> Result<Vec<Error>> {
        let mut problems = self.verify_storage()?;
        if let Err(e) = load(&self.app_files()) {
            problems.push(e);
        }
        Ok(problems)
    }
}
