//! Online backup: a consistent copy of the database while writes go on.

use std::path::Path;

use super::forward::CURSOR_DIR;
use super::uploads::UPLOAD_DIR;
use super::{catalog_file_name, Db, WAL_DIR};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::segment;
use crate::wal;

/// What [`Db::backup`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupReport {
    /// Immutable files (segments, rollups, catalog) hard-linked (or copied where the file
    /// system cannot link).
    pub linked_files: usize,
    /// Their bytes.
    pub linked_bytes: u64,
    /// Files copied: WAL files, cursor files, the upload log, the application files (the
    /// unit catalog).
    pub copied_files: usize,
    /// Their bytes.
    pub copied_bytes: u64,
    /// Every write acknowledged before the backup started has a WAL seq up to this one and
    /// is in the copy.
    pub wal_seq: u64,
}

impl Db {
    /// Copies the database to `to_dir` (created; it must not hold a database) while writes
    /// go on: the copy holds every write acknowledged before this call and opens with
    /// [`Db::open`] like the original.
    ///
    /// How: flushes and compactions wait while it runs (so no file it copies is replaced),
    /// and cursor calls, upload records and the application files ([`Db::app_files`]) wait
    /// too; writes continue. The WAL is synced
    /// and moved to a new file; the immutable segment, rollup and catalog files named by
    /// the manifest are hard-linked ([`crate::io::Storage::hard_link`]: copied where links
    /// are not possible); the closed WAL files, the cursor files and the upload log are
    /// copied, and so are the application files (with the WAL copied under their lock, an
    /// application's files and the point definitions it made agree in the copy as they did
    /// in the original); the manifest is written last, so a copy cut short by a crash has no
    /// manifest and does not open as a database with missing data.
    pub fn backup(&self, to_dir: impl AsRef<Path>) -> Result<BackupReport> {
        let inner = &self.inner;
        inner.check_open()?;
        let to = to_dir.as_ref();
        let st = &*inner.storage;
        let io = |what: &str, p: &Path| {
            let ctx = format!("{what} {}", p.display());
            move |e| Error::io(ctx, e)
        };
        if st.exists(&to.join(manifest::FILE)) {
            return Err(Error::AlreadyExists(format!(
                "{} holds a database already",
                to.display()
            )));
        }
        for d in [to.to_path_buf(), to.join(WAL_DIR), to.join(CURSOR_DIR)] {
            st.create_dir_all(&d).map_err(io("create", &d))?;
        }
        // Lock order: the application files first (see `Db::app_files`).
        let app_files = self.app_files();
        let _flush = inner.flush_mu.lock();
        let _compact = inner.compact_mu.lock();
        let cursors = inner.cursors.lock();
        let uploads = inner.uploads.lock();
        let mut rep = BackupReport::default();

        // Every acknowledged write into closed (immutable) WAL files.
        let last = {
            let mut wal = inner.writable_wal()?;
            let last = wal.last_seq();
            inner.sync_to(&mut wal, last)?;
            wal.rotate().inspect_err(|e| inner.poison_with(e))?
        };
        rep.wal_seq = last;
        let m: Manifest = inner.files.lock().manifest.clone();

        // Immutable files: link.
        let mut immutable: Vec<String> = m.segments.iter().map(segment::file_name).collect();
        if m.catalog_file_no != 0 {
            immutable.push(catalog_file_name(m.catalog_file_no));
        }
        for name in &immutable {
            let (from, dst) = (inner.dir.join(name), to.join(name));
            st.hard_link(&from, &dst).map_err(io("link", &from))?;
            rep.linked_files += 1;
            rep.linked_bytes += st.file_size(&dst).unwrap_or(0);
        }

        // Copies: WAL files up to `last`, cursor files, the upload log.
        let mut copy_dir = |sub: &str, keep: &dyn Fn(&str) -> bool| -> Result<()> {
            let (src, dst) = (inner.dir.join(sub), to.join(sub));
            let names = match st.list(&src) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(Error::io(format!("list {}", src.display()), e)),
            };
            st.create_dir_all(&dst).map_err(io("create", &dst))?;
            for n in names.iter().filter(|n| keep(n)) {
                let (f, t) = (src.join(n), dst.join(n));
                st.copy_file(&f, &t).map_err(io("copy", &f))?;
                rep.copied_files += 1;
                rep.copied_bytes += st.file_size(&t).unwrap_or(0);
            }
            st.sync_dir(&dst).map_err(io("sync", &dst))
        };
        copy_dir(WAL_DIR, &|n| {
            wal::parse_file_name(n).is_some_and(|f| f <= last)
        })?;
        copy_dir(CURSOR_DIR, &|n| n.ends_with(".cur"))?;
        if uploads.is_some() || st.exists(&inner.dir.join(UPLOAD_DIR)) {
            copy_dir(UPLOAD_DIR, &|n| wal::parse_file_name(n).is_some())?;
        }
        drop(uploads);
        drop(cursors);
        // The application files (replaced, never rewritten in place: copied). Their lock
        // has been held since before the WAL was copied, so no application changed them,
        // or the points with them, in between.
        for name in app_files.list()? {
            let (f, t) = (inner.dir.join(&name), to.join(&name));
            st.copy_file(&f, &t).map_err(io("copy", &f))?;
            rep.copied_files += 1;
            rep.copied_bytes += st.file_size(&t).unwrap_or(0);
        }
        drop(app_files);

        // The default tier set the rollup files were derived with.
        {
            let name = super::tiers_file::FILE;
            let (f, t) = (inner.dir.join(name), to.join(name));
            if st.exists(&f) {
                st.copy_file(&f, &t).map_err(io("copy", &f))?;
                rep.copied_files += 1;
                rep.copied_bytes += st.file_size(&t).unwrap_or(0);
            }
        }

        // The manifest last: the commit point of the copy.
        st.sync_dir(to).map_err(io("sync", to))?;
        m.store(st, to)?;
        Ok(rep)
    }
}
