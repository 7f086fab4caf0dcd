//! Regression (found while writing `docs/robustness.md`): a catalog file of an unknown
//! format version was reported as `Corruption`, although `docs/format.md` says that every
//! reader refuses a version it does not know with `UnsupportedVersion` (as the manifest,
//! segment and WAL readers do). A newer catalog must not read as damage.

use std::path::Path;
use std::sync::Arc;

use meterdb::io::{MemStorage, Storage};
use meterdb::{Db, ErrorKind, Options};

#[test]
fn catalog_of_a_newer_version_is_unsupported_version_naming_the_file() {
    let s = MemStorage::new();
    let opts = || Options {
        storage: Some(Arc::new(s.clone())),
        background: false,
        ..Options::default()
    };
    {
        let db = Db::open("/db", opts()).unwrap();
        db.ensure_point("a").unwrap();
        db.flush().unwrap();
    }
    let name = s
        .list(Path::new("/db"))
        .unwrap()
        .into_iter()
        .find(|n| n.starts_with("catalog-"))
        .unwrap();
    let path = Path::new("/db").join(&name);
    let mut bytes = s.read(&path).unwrap().to_vec();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    s.put(&path, bytes);
    let e = Db::open("/db", opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedVersion, "{e}");
    assert!(e.to_string().contains(&name), "{e}");
    assert!(e.to_string().contains("version 2"), "{e}");
}
