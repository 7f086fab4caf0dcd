//! The `TIERS` file (docs/format/tiers.md): the database's default tier set ([`super::Options::tiers`]) that its
//! rollup files were last derived with, so that opening it with another set derives the
//! tiers again instead of combining finer buckets that were never stored.
//!
//! ```text
//! magic "MDBTIER\0" (8 B) | version u32 = 1 | tiers u8 (bit k: tier k+1) | crc32 u32
//! ```
//! (little-endian; the checksum covers the bytes before it). Written atomically (a
//! temporary file renamed over it).

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, put_u32, Reader};
use crate::io::Storage;
use crate::rollup::TierSet;

/// The file's name in the database directory.
pub(crate) const FILE: &str = "TIERS";
const MAGIC: &[u8; 8] = b"MDBTIER\0";
const VERSION: u32 = 1;

fn encode(t: TierSet) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    put_u32(&mut out, VERSION);
    out.push(t.0);
    let crc = format::crc32(&[&out]);
    put_u32(&mut out, crc);
    out
}

fn decode(buf: &[u8], path: &Path) -> Result<TierSet> {
    let e = |m: &str| Error::corrupt(m.to_string()).in_file(path, 0);
    if buf.len() != 17 {
        return Err(e("tiers file is not 17 bytes"));
    }
    let (body, crc) = buf.split_at(13);
    let mut r = Reader::new(body);
    if r.take(8, "magic")? != MAGIC {
        return Err(e("not a tiers file (bad magic)"));
    }
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            version,
        });
    }
    if format::crc32(&[body]) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(e("tiers file checksum mismatch"));
    }
    let t = r.u8("tiers")?;
    if t & !0b11111 != 0 {
        return Err(e("tiers file names an unknown tier"));
    }
    Ok(TierSet(t))
}

/// The tier set stored in `dir`, `None` when there is no file (a new database, or one
/// written before the file existed).
pub(crate) fn load(storage: &dyn Storage, dir: &Path) -> Result<Option<TierSet>> {
    let path = dir.join(FILE);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = storage
        .read(&path)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    decode(&bytes, &path).map(Some)
}

/// Stores the tier set durably.
pub(crate) fn store(storage: &dyn Storage, dir: &Path, t: TierSet) -> Result<()> {
    super::forward::replace_file(storage, &dir.join(FILE), &encode(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let p = Path::new("TIERS");
        let b = encode(TierSet::ALL);
        assert_eq!(decode(&b, p).unwrap(), TierSet::ALL);
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            assert!(decode(&d, p).is_err(), "flip at {i}");
        }
        assert!(decode(&b[..16], p).is_err());
    }
}
