//! Temporary minimal WAL with the final API (replaced by the real module).
#![allow(missing_docs)]
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{self, Reader};
use crate::io::{Storage, WriteFile};

#[derive(Clone, Debug)]
pub struct WalOptions {
    pub max_file_bytes: u64,
}
impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            max_file_bytes: 64 << 20,
        }
    }
}

#[derive(Debug)]
pub struct Wal {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    file: Box<dyn WriteFile>,
    last: u64,
    synced: u64,
    poisoned: bool,
}

impl Wal {
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        _opts: WalOptions,
        start_after: u64,
        replay: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<Wal> {
        storage
            .create_dir_all(dir)
            .map_err(|e| Error::io("mkdir", e))?;
        let p = dir.join("wal.log");
        let mut last = start_after;
        if storage.exists(&p) {
            let b = storage.read(&p).map_err(|e| Error::io("read", e))?;
            let mut r = Reader::new(&b);
            while !r.is_empty() {
                let Ok(len) = r.u32("len") else { break };
                let Ok(seq) = r.u64("seq") else { break };
                let Ok(crc) = r.u32("crc") else { break };
                let Ok(payload) = r.take(len as usize, "p") else {
                    break;
                };
                if format::crc32(&[&len.to_le_bytes(), &seq.to_le_bytes(), payload]) != crc {
                    break;
                }
                if seq > start_after {
                    replay(seq, payload)?;
                    last = seq;
                }
            }
        }
        let file = if storage.exists(&p) {
            storage.open_append(&p)
        } else {
            storage.create(&p)
        };
        let mut w = Wal {
            file: file.map_err(|e| Error::io("c", e))?,
            storage,
            dir: dir.to_path_buf(),
            last,
            synced: last,
            poisoned: false,
        };
        w.file.sync().map_err(|e| Error::io("s", e))?;
        Ok(w)
    }
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        if self.poisoned {
            return Err(Error::Poisoned("wal".into()));
        }
        self.last += 1;
        let len = payload.len() as u32;
        let crc = format::crc32(&[&len.to_le_bytes(), &self.last.to_le_bytes(), payload]);
        let mut b = Vec::with_capacity(16 + payload.len());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&self.last.to_le_bytes());
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(payload);
        self.file.write_all(&b).map_err(|e| {
            self.poisoned = true;
            Error::io("w", e)
        })?;
        Ok(self.last)
    }
    pub fn sync(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned("wal".into()));
        }
        self.file.sync().map_err(|e| {
            self.poisoned = true;
            Error::io("s", e)
        })?;
        self.synced = self.last;
        Ok(())
    }
    pub fn last_seq(&self) -> u64 {
        self.last
    }
    pub fn synced_seq(&self) -> u64 {
        self.synced
    }
    pub fn rotate(&mut self) -> Result<u64> {
        Ok(self.last)
    }
    pub fn remove_obsolete(&mut self, _seq: u64) -> Result<()> {
        let _ = (&self.storage, &self.dir);
        Ok(())
    }
    pub fn size_bytes(&self) -> u64 {
        self.file.len()
    }
}
