//! Application files: small files that a layer above the storage core (the energy layer's
//! unit catalog, for one) keeps in the database directory, read and replaced atomically
//! through [`Storage`], copied by [`Db::backup`], left alone by everything else.
//!
//! The core does not know what they hold: it only guarantees that a replace is atomic (a
//! reader, or a database reopened after a crash, finds the old bytes or the new ones), that
//! every access goes through one lock per database ([`Db::app_files`]), so that a layer can
//! read, decide and write without another thread in between, and that a backup copies them
//! while no one holds that lock.
//!
//! # Names
//!
//! 1 to 64 bytes of ASCII letters, digits, `.`, `_` and `-`, starting with an upper-case
//! letter, not ending in `.tmp` (the temporary file of a replace, removed at open), and none
//! of the core's own top-level names (`LOCK`, `MANIFEST`, `TIERS`). The core's other files
//! start with a lower-case letter (`catalog-…`, `seg-…`, `hour-…`) or are directories.

use std::path::PathBuf;

use parking_lot::MutexGuard;

use super::Db;
use crate::error::{Error, Result};

/// Top-level names the storage core uses itself.
const RESERVED: &[&str] = &["LOCK", "MANIFEST", "TIERS"];
const TMP_SUFFIX: &str = ".tmp";

/// Whether `name` is a valid application-file name (see the module docs).
pub(super) fn is_app_file_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        && !name.ends_with(TMP_SUFFIX)
        && !RESERVED.contains(&name)
}

/// Whether `name` is the temporary file of an application file's replace.
pub(super) fn is_app_tmp_name(name: &str) -> bool {
    name.strip_suffix(TMP_SUFFIX).is_some_and(is_app_file_name)
}

fn check_name(name: &str) -> Result<()> {
    if is_app_file_name(name) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{name:?} is not an application file name: 1 to 64 bytes of A-Z a-z 0-9 . _ -, \
         starting with an upper-case letter, not ending in .tmp, and not LOCK, MANIFEST \
         or TIERS"
    )))
}

/// The application files of a database, locked: while this guard lives, no other thread
/// reads or replaces an application file, and no backup runs (see [`Db::app_files`]).
#[derive(Debug)]
pub struct AppFiles<'a> {
    db: &'a Db,
    _lock: MutexGuard<'a, ()>,
}

impl Db {
    /// Locks the database's application files (see the `AppFiles` methods) until the guard
    /// is dropped. Hold it across a read-modify-write, and across the point definitions
    /// that go with it, so that other threads and [`Db::backup`] see all of it or none.
    ///
    /// The lock comes before every other lock of the database (a backup takes it first).
    /// A second call on the same thread while a guard lives deadlocks.
    pub fn app_files(&self) -> AppFiles<'_> {
        AppFiles {
            db: self,
            _lock: self.inner.app_files.lock(),
        }
    }
}

impl AppFiles<'_> {
    /// The path of application file `name` (checked).
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.db.inner.dir.join(name))
    }

    /// The bytes of application file `name`, or `None` when there is none.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name)?;
        let st = &*self.db.inner.storage;
        if !st.exists(&path) {
            return Ok(None);
        }
        st.read(&path)
            .map(|b| Some(b.to_vec()))
            .map_err(|e| Error::io(format!("read {}", path.display()), e))
    }

    /// Replaces application file `name` with `bytes`, atomically: `name.tmp` is written and
    /// synced, renamed over `name`, and the directory is synced. An error before the rename
    /// leaves the old file; when the directory sync fails the rename may or may not survive
    /// a power loss, so the database is poisoned (reopening it shows the old or the new
    /// file). Refused on a closed or poisoned database.
    pub fn replace(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path(name)?;
        let inner = &self.db.inner;
        inner.check_open()?;
        let st = &*inner.storage;
        let mut tmp = path.clone().into_os_string();
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        let io = |what: &str, p: &std::path::Path| {
            let ctx = format!("{what} {}", p.display());
            move |e| Error::io(ctx, e)
        };
        let mut f = st.create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync().map_err(io("sync", &tmp))?;
        drop(f);
        st.rename(&tmp, &path).map_err(io("rename", &tmp))?;
        if let Err(e) = st.sync_dir(&inner.dir) {
            let e = Error::io(format!("sync {}", inner.dir.display()), e);
            inner.poison_with(&e);
            return Err(e);
        }
        Ok(())
    }

    /// The names of the application files there are, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let inner = &self.db.inner;
        let mut names: Vec<String> = inner
            .storage
            .list(&inner.dir)
            .map_err(|e| Error::io(format!("list {}", inner.dir.display()), e))?
            .into_iter()
            .filter(|n| is_app_file_name(n))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["UNITCAT", "UNITCAT.applied", "A", "X-1_b.c"] {
            assert!(is_app_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            "unitcat",
            "1ABC",
            "UNITCAT.tmp",
            "LOCK",
            "MANIFEST",
            "TIERS",
            "A/B",
            "A B",
            "Ä",
            &"A".repeat(65),
        ] {
            assert!(!is_app_file_name(bad), "{bad}");
        }
        assert!(is_app_tmp_name("UNITCAT.applied.tmp"));
        assert!(!is_app_tmp_name("MANIFEST.tmp"));
    }
}
