//! The unit catalog of a database: stored in `UNITCAT`, applied atomically, and applied to
//! the point catalog (see [`crate::unit`] for the types and the file encoding).
//!
//! # How an update is applied, and what a crash leaves
//!
//! 1. The new catalog is computed and checked in memory ([`UnitCatalog::apply`]), with the
//!    point metadata every config gives; nothing is written if anything is refused.
//! 2. **Commit point:** the encoded catalog is written to `UNITCAT.tmp`, synced, renamed
//!    over `UNITCAT`, and the directory is synced.
//! 3. The configs are applied to the point catalog: one WAL define record per point whose
//!    metadata changes (all under the catalog lock, so other threads see all or none), and
//!    the WAL is synced whatever the durability mode.
//! 4. `UNITCAT.applied` (the version whose configs are in the point catalog) is replaced.
//!
//! A crash before step 2's rename leaves the old `UNITCAT`, and the point catalog was not
//! touched: the old version. A crash after it leaves the new `UNITCAT`, and when the
//! database opens and `UNITCAT.applied` does not name that version, step 3 is done again
//! (it is idempotent) before `Db::open` returns: the new version. Either way a reader never
//! sees configs of one version with point metadata of another.

use std::path::{Path, PathBuf};

use super::{Db, Inner};
use crate::catalog::{PointId, PointMeta};
use crate::error::{Error, Result};
use crate::format::{self, put_u32, put_u64};
use crate::io::Storage;
use crate::unit::{AppliedVersion, UnitCatalog, UnitCatalogUpdate};

/// The unit catalog file, in the database directory.
pub(crate) const UNIT_FILE: &str = "UNITCAT";
/// The marker of the version applied to the point catalog.
pub(crate) const UNIT_APPLIED_FILE: &str = "UNITCAT.applied";
const APPLIED_MAGIC: &[u8; 8] = b"MDBUNAPL";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn tmp_of(path: &Path) -> PathBuf {
    let mut t = path.as_os_str().to_owned();
    t.push(".tmp");
    PathBuf::from(t)
}

/// Loads `UNITCAT` of `dir` (None when there is none), removing temporary files left by a
/// crash when `clean`.
pub(crate) fn load(storage: &dyn Storage, dir: &Path, clean: bool) -> Result<Option<UnitCatalog>> {
    let path = dir.join(UNIT_FILE);
    if clean {
        for t in [tmp_of(&path), tmp_of(&dir.join(UNIT_APPLIED_FILE))] {
            if storage.exists(&t) {
                storage
                    .remove(&t)
                    .map_err(|e| Error::io(format!("remove {}", t.display()), e))?;
            }
        }
    }
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = storage
        .read(&path)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    UnitCatalog::decode_file(&bytes)
        .map(Some)
        .map_err(|e| e.in_file(&path, 0))
}

/// The version the marker names, or None when it is missing or damaged (then the configs
/// are applied again, which is harmless).
fn applied_version(storage: &dyn Storage, dir: &Path) -> Option<u64> {
    let b = storage.read(&dir.join(UNIT_APPLIED_FILE)).ok()?;
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

impl Inner {
    /// Defines or updates many points at once: every WAL record is appended and every
    /// catalog entry set under one hold of the catalog lock, so other threads see all or
    /// none. Returns the last WAL seq appended, if any.
    pub(super) fn define_many(&self, metas: Vec<PointMeta>) -> Result<(Vec<PointId>, Option<u64>)> {
        for m in &metas {
            m.validate()?;
        }
        let mut wal = self.writable_wal()?;
        let mut cat = self.catalog.write();
        let mut ids = Vec::with_capacity(metas.len());
        let mut last = None;
        for meta in metas {
            let (id, seq) = self.define_locked(&mut wal, &mut cat, meta)?;
            ids.push(id);
            last = seq.or(last);
        }
        drop(cat);
        if let Some(seq) = last {
            self.after_write(wal, seq)?;
        }
        Ok((ids, last))
    }

    /// The point metadata the configs of `cat` give, on top of the current metadata.
    fn unit_point_metas(&self, cat: &UnitCatalog) -> Result<Vec<PointMeta>> {
        let points = self.catalog.read();
        cat.configs
            .values()
            .map(|c| {
                let cur = points.id(&c.point_key).and_then(|id| points.get(id));
                let m = c.to_point_meta(cur);
                m.validate().map(|()| m)
            })
            .collect()
    }

    /// Steps 3 and 4 of an apply (see the module docs): the configs into the point catalog,
    /// the WAL synced, the marker written (a failure to write the marker is ignored: the
    /// configs are then applied again at the next open).
    fn apply_unit_points(&self, cat: &UnitCatalog, metas: Vec<PointMeta>) -> Result<()> {
        let (_, last) = self.define_many(metas)?;
        if let Some(seq) = last {
            let mut wal = self.wal.lock();
            self.sync_to(&mut wal, seq)?;
        }
        let _ = super::forward::replace_file(
            &*self.storage,
            &self.dir.join(UNIT_APPLIED_FILE),
            &applied_marker(cat.version),
        );
        Ok(())
    }

    /// At open: finishes an apply that a crash interrupted after its commit point.
    pub(super) fn reconcile_unit(&self) -> Result<()> {
        let slot = self.unit.lock();
        let Some(cat) = slot.as_ref() else {
            return Ok(());
        };
        if applied_version(&*self.storage, &self.dir) == Some(cat.version) {
            return Ok(());
        }
        let metas = self
            .unit_point_metas(cat)
            .map_err(|e| Error::corrupt(format!("unit catalog config: {e}")))?;
        self.apply_unit_points(cat, metas)
    }
}

impl Db {
    /// The current unit catalog (a copy), or `None` when no update has been applied.
    pub fn unit_catalog(&self) -> Option<UnitCatalog> {
        self.inner.unit.lock().clone()
    }

    /// The current unit catalog version (0: none applied).
    pub fn unit_catalog_version(&self) -> u64 {
        self.inner.unit.lock().as_ref().map_or(0, |c| c.version)
    }

    /// The versions applied, oldest first (the last [`crate::unit::HISTORY_KEEP`]).
    pub fn unit_catalog_history(&self) -> Vec<AppliedVersion> {
        self.inner
            .unit
            .lock()
            .as_ref()
            .map_or_else(Vec::new, |c| c.history.clone())
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
    /// invalid. An I/O error before the commit point changes nothing; one after it poisons
    /// the database, and reopening it finishes the update (see the module docs of
    /// `db/unit.rs`). After a crash, the old or the new version is visible, never a mix.
    ///
    /// A config removed from the catalog leaves its point and the point's metadata as they
    /// are (point ids are never reused).
    pub fn apply_unit_catalog(&self, update: &UnitCatalogUpdate) -> Result<AppliedVersion> {
        let inner = &self.inner;
        inner.check_open()?;
        let mut slot = inner.unit.lock();
        let next = UnitCatalog::apply(slot.as_ref(), update, now_ms())?;
        let metas = inner.unit_point_metas(&next)?;
        let bytes = next.encode_file();

        // Step 2, the commit point.
        let st = &*inner.storage;
        let path = inner.dir.join(UNIT_FILE);
        let tmp = tmp_of(&path);
        let io = |what: &str, p: &Path| {
            let ctx = format!("{what} {}", p.display());
            move |e| Error::io(ctx, e)
        };
        let mut f = st.create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&bytes).map_err(io("write", &tmp))?;
        f.sync().map_err(io("sync", &tmp))?;
        drop(f);
        st.rename(&tmp, &path).map_err(io("rename", &tmp))?;
        if let Err(e) = st.sync_dir(&inner.dir) {
            // The rename may or may not survive a power loss: the state on disk is
            // uncertain until the database is reopened.
            let e = Error::io(format!("sync {}", inner.dir.display()), e);
            inner.poison_with(&e);
            return Err(e);
        }
        let entry = next
            .history
            .last()
            .cloned()
            .expect("apply records the new version");
        *slot = Some(next);
        let cat = slot.as_ref().expect("just set");
        inner.apply_unit_points(cat, metas)?;
        Ok(entry)
    }
}
