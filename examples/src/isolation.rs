//! The isolation gateway path (隔离网关): data crosses from the plant's network to the
//! platform's one way, as files.
//!
//! - **Sending side** ([`Sender`], on the gateway): every cursor bundle
//!   ([`Db::export_cursor_bundle`] of the cursor [`SENDER_CURSOR`]) is sealed in an
//!   envelope authenticated with HMAC-SHA256 under a key both sides hold (on top of the
//!   bundle's own checksums), and written atomically (a hidden temporary file, synced,
//!   renamed) into the outbound directory as `{enterprise}-{firstId}-{lastId}.mdbi`. The
//!   gateway keeps the data (its cursor is not acknowledged) until an acknowledgement comes
//!   back; a bundle not acknowledged within [`Sender::resend_after`] is written again (with
//!   everything not acknowledged since).
//! - **Receiving side** ([`Receiver`], on the platform): every `*.mdbi` file of the inbound
//!   directory is checked before anything is applied: the envelope's HMAC, its unit, the
//!   bundle's checksums and manifest ([`Db::verify_bundle`]), and every point of the bundle
//!   against the unit's collection configuration and the platform's own definitions (the
//!   platform owns its points' metadata: a bundle never changes it, and a bundle whose points
//!   are not the unit's configured items, or are described differently, is refused). A file
//!   that fails is moved to `quarantine/` beside a `.reason` text file, and nothing is
//!   stored. A good bundle is applied with [`Db::import_bundle_mapped`] into the platform's
//!   points `{enterprise}/{dataCode}`, the highest change id imported is kept per gateway
//!   database (`_hwm/isolation-{enterprise}-{streamId}`; change ids count within a database,
//!   and a reinstalled gateway draws a new stream id), so a bundle delivered again is
//!   recognised and only acknowledged again, and the import is logged in the unit's upload log (function 6).
//! - **Acknowledgement** goes back the other way as a file, `{bundle}.ack`, sealed with the
//!   same key (an unauthenticated file could otherwise make the gateway drop data).
//!
//! Envelope (both kinds): `magic (8 bytes: MDBISOB1 a bundle, MDBISOA1 an ack) | header
//! length (u32 LE) | header (JSON) | HMAC-SHA256(key, magic | length | header | payload)
//! (32 bytes) | payload (the bundle file, byte for byte; empty for an ack)`.
//!
//! The key: a file of at least 32 random bytes in hex (64 hex digits), mode 0600;
//! [`Key::generate`] (`provincial isolation keygen --out FILE`) writes one.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use meterdb::{BundlePoint, Db, PointId, PointMeta};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use crate::industry::{check_uscc, DataCode};
use crate::provincial::Platform;
use crate::records::STAT_REALTIME;
use crate::registry::random_bytes;
use crate::upload::now_ms;

/// The cursor the sending side exports bundles from.
pub const SENDER_CURSOR: &str = "isolation";
/// Fewest key bytes.
pub const KEY_MIN_BYTES: usize = 32;
/// Magic of a bundle envelope.
pub const BUNDLE_MAGIC: &[u8; 8] = b"MDBISOB1";
/// Magic of an acknowledgement.
pub const ACK_MAGIC: &[u8; 8] = b"MDBISOA1";
/// Extension of a bundle envelope.
pub const BUNDLE_EXT: &str = "mdbi";
const MAC_LEN: usize = 32;
const MAX_HEADER: usize = 64 << 10;

/// What went wrong on either side (a refused bundle is not an error: it is quarantined).
#[derive(Debug)]
pub enum IsolationError {
    /// The key file is missing, readable by others, too short or not hex.
    Key(String),
    /// A file or directory could not be read or written.
    Io(String),
    /// The database failed.
    Db(meterdb::Error),
    /// The platform is not set up for the link (no storage, unit not registered...).
    Platform(String),
}

impl fmt::Display for IsolationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsolationError::Key(m) => write!(f, "isolation key: {m}"),
            IsolationError::Io(m) => f.write_str(m),
            IsolationError::Db(e) => write!(f, "database: {e}"),
            IsolationError::Platform(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for IsolationError {}

impl From<meterdb::Error> for IsolationError {
    fn from(e: meterdb::Error) -> Self {
        IsolationError::Db(e)
    }
}

type Result<T> = std::result::Result<T, IsolationError>;

fn io(what: &str, path: &Path, e: std::io::Error) -> IsolationError {
    IsolationError::Io(format!("{what} {}: {e}", path.display()))
}

/// The key both sides hold.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A key of these bytes (at least [`KEY_MIN_BYTES`]).
    pub fn from_bytes(b: &[u8]) -> Result<Key> {
        if b.len() < KEY_MIN_BYTES {
            return Err(IsolationError::Key(format!(
                "{} bytes; at least {KEY_MIN_BYTES} are needed",
                b.len()
            )));
        }
        Ok(Key(b.to_vec()))
    }

    /// Reads a key file: hex text of at least [`KEY_MIN_BYTES`] bytes, readable by its owner
    /// only (mode 0600 or 0400).
    pub fn load(path: &Path) -> Result<Key> {
        let how = "create one with `provincial isolation keygen --out FILE` (or `umask 077; \
                   openssl rand -hex 32 > FILE`) and copy it to the other side";
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IsolationError::Key(format!(
                    "{} does not exist: {how}",
                    path.display()
                )))
            }
            Err(e) => return Err(IsolationError::Key(format!("{}: {e}", path.display()))),
        };
        if !meta.is_file() {
            return Err(IsolationError::Key(format!(
                "{} is not a file",
                path.display()
            )));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(IsolationError::Key(format!(
                "{} has mode {mode:o}: others may read it; chmod 600 it",
                path.display()
            )));
        }
        let text = fs::read_to_string(path)
            .map_err(|e| IsolationError::Key(format!("{}: {e}", path.display())))?;
        let hex = text.trim();
        let bytes = crate::registry::unhex(hex).ok_or_else(|| {
            IsolationError::Key(format!(
                "{} is not hex text (an even number of 0-9 a-f): {how}",
                path.display()
            ))
        })?;
        if bytes.len() < KEY_MIN_BYTES {
            return Err(IsolationError::Key(format!(
                "{} holds {} bytes; at least {KEY_MIN_BYTES} are needed: {how}",
                path.display(),
                bytes.len()
            )));
        }
        Ok(Key(bytes))
    }

    /// Writes a new key of 32 random bytes (hex) to `path`, a new file of mode 0600.
    pub fn generate(path: &Path) -> Result<()> {
        let b: [u8; 32] = random_bytes().map_err(IsolationError::Key)?;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io("creating", path, e))?;
        writeln!(f, "{hex}")
            .and_then(|_| f.sync_all())
            .map_err(|e| io("writing", path, e))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length: this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }
}

/// The header of a bundle envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleHeader {
    /// The unit whose gateway wrote it.
    pub enterprise_code: String,
    /// The gateway database's stream: 32 hex digits drawn when its sender was first opened
    /// (change ids count within a database: a reinstalled gateway starts a new stream).
    pub stream_id: String,
    /// The first change id in the bundle.
    pub first_id: u64,
    /// The last (acknowledge this one).
    pub last_id: u64,
    /// Samples in the bundle.
    pub samples: u64,
    /// Deletes in the bundle.
    pub deletes: u64,
    /// Bytes of the bundle file (the payload).
    pub bundle_bytes: u64,
    /// When it was written (ms, the gateway's clock).
    pub created_ms: i64,
}

/// The header of an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckHeader {
    /// The unit.
    pub enterprise_code: String,
    /// The bundle's stream (the gateway database it came from).
    pub stream_id: String,
    /// The bundle's file name.
    pub bundle: String,
    /// Everything up to this change id is stored on the platform.
    pub last_id: u64,
    /// `imported`, or `duplicate` (stored before).
    pub outcome: String,
    /// When (ms, the platform's clock).
    pub created_ms: i64,
}

/// Seals `payload` with `header` under `key`.
pub fn seal<H: Serialize>(key: &Key, magic: &[u8; 8], header: &H, payload: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap_or_default();
    let mut out = Vec::with_capacity(8 + 4 + h.len() + MAC_LEN + payload.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
    let mut m = key.mac();
    m.update(&out);
    m.update(payload);
    out.extend_from_slice(&m.finalize().into_bytes());
    out.extend_from_slice(payload);
    out
}

/// Opens an envelope: its header and payload once the HMAC is right; else what is wrong.
pub fn unseal<'a, H: DeserializeOwned>(
    key: &Key,
    magic: &[u8; 8],
    bytes: &'a [u8],
) -> std::result::Result<(H, &'a [u8]), String> {
    if bytes.len() < 12 + MAC_LEN {
        return Err(format!("{} bytes: too short for an envelope", bytes.len()));
    }
    if &bytes[..8] != magic {
        return Err(format!(
            "not an envelope of this kind (magic {:?}, expected {:?})",
            String::from_utf8_lossy(&bytes[..8]),
            String::from_utf8_lossy(magic)
        ));
    }
    let hlen = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    if hlen > MAX_HEADER || 12 + hlen + MAC_LEN > bytes.len() {
        return Err(format!("header length {hlen} runs past the file"));
    }
    let head = &bytes[..12 + hlen];
    let tag = &bytes[12 + hlen..12 + hlen + MAC_LEN];
    let payload = &bytes[12 + hlen + MAC_LEN..];
    let mut m = key.mac();
    m.update(head);
    m.update(payload);
    m.verify_slice(tag).map_err(|_| {
        "HMAC-SHA256 mismatch: the file was changed, or sealed with another key".to_string()
    })?;
    let h = serde_json::from_slice(&head[12..]).map_err(|e| format!("header: {e}"))?;
    Ok((h, payload))
}

/// Writes `bytes` to `dir/name` atomically: a hidden temporary file beside it, synced,
/// renamed into place, the directory synced.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })()
    .map_err(|e| io("writing", &path, e))
}

fn create_dir(d: &Path) -> Result<()> {
    fs::create_dir_all(d).map_err(|e| io("creating", d, e))
}

/// The files of `dir` whose names end with `.ext`, hidden (temporary) ones left out, in name
/// order.
pub fn ready_files(dir: &Path, ext: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| io("reading", dir, e))? {
        let e = e.map_err(|e| io("reading", dir, e))?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if !name.starts_with('.')
            && name.ends_with(&format!(".{ext}"))
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Moves `dir/name` into `qdir` beside `name.reason` (the reason, with the time).
fn quarantine_file(dir: &Path, qdir: &Path, name: &str, reason: &str) -> Result<()> {
    create_dir(qdir)?;
    let mut target = name.to_string();
    if qdir.join(&target).exists() {
        target = format!("{name}.{}", now_ms());
    }
    let from = dir.join(name);
    fs::rename(&from, qdir.join(&target)).map_err(|e| io("quarantining", &from, e))?;
    let text = format!(
        "{} {name}\n{reason}\n",
        crate::records::format_datetime(now_ms())
    );
    write_atomic(qdir, &format!("{target}.reason"), text.as_bytes())
}

/// What a [`Sender::step`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SenderStep {
    /// Acknowledgements applied.
    pub acks: usize,
    /// The bundle written, if any.
    pub written: Option<String>,
    /// Bundles written and not acknowledged yet.
    pub pending: usize,
    /// Whether everything was written again (an acknowledgement was overdue).
    pub resent: bool,
}

impl SenderStep {
    /// Nothing left to send and nothing waiting for its acknowledgement.
    pub fn drained(&self) -> bool {
        self.written.is_none() && self.pending == 0
    }
}

/// The sending side, on the gateway.
#[derive(Debug)]
pub struct Sender {
    enterprise: String,
    stream: String,
    outbound: PathBuf,
    acks: PathBuf,
    key: Key,
    /// Write everything not acknowledged again when the oldest bundle out has waited this
    /// long (default 10 minutes).
    pub resend_after: Duration,
    pending: Vec<(String, u64, Instant)>,
    /// Bundles written.
    pub bundles: u64,
    /// Acknowledgements refused (moved to `ACKS/rejected/` with the reason).
    pub bad_acks: u64,
}

impl Sender {
    /// The sender of unit `enterprise`'s data from `db`, creating its cursor (from the
    /// beginning) and the directories if needed.
    pub fn open(
        db: &Db,
        enterprise: &str,
        outbound: &Path,
        acks: &Path,
        key: Key,
    ) -> Result<Sender> {
        check_uscc(enterprise)
            .map_err(|e| IsolationError::Platform(format!("enterprise {enterprise:?}: {e}")))?;
        if !db.cursors().iter().any(|c| c.name == SENDER_CURSOR) {
            db.create_cursor(SENDER_CURSOR, meterdb::CursorStart::Beginning)?;
        }
        create_dir(outbound)?;
        create_dir(acks)?;
        Ok(Sender {
            enterprise: enterprise.to_string(),
            stream: stream_id(db)?,
            outbound: outbound.to_path_buf(),
            acks: acks.to_path_buf(),
            key,
            resend_after: Duration::from_secs(600),
            pending: Vec::new(),
            bundles: 0,
            bad_acks: 0,
        })
    }

    /// Reads the acknowledgements that arrived, writes again what waited too long, and
    /// writes a bundle of what is new.
    pub fn step(&mut self, db: &Db) -> Result<SenderStep> {
        let acks = self.read_acks(db)?;
        let resent = self
            .pending
            .first()
            .is_some_and(|p| p.2.elapsed() >= self.resend_after);
        if resent {
            self.forget_pending(db)?;
        }
        let written = self.export(db)?;
        Ok(SenderStep {
            acks,
            written,
            pending: self.pending.len(),
            resent,
        })
    }

    /// Rewinds the cursor and takes back the bundles not copied yet: what they held is
    /// written again by the next export.
    fn forget_pending(&mut self, db: &Db) -> Result<()> {
        db.cursor_rewind(SENDER_CURSOR)?;
        for (name, ..) in self.pending.drain(..) {
            let p = self.outbound.join(&name);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", &p, e)),
            }
        }
        Ok(())
    }

    /// Applies every acknowledgement in the ack directory (a file that is not one, under
    /// this key and unit, is moved to `rejected/` with the reason). Returns how many.
    pub fn read_acks(&mut self, db: &Db) -> Result<usize> {
        let mut n = 0;
        for name in ready_files(&self.acks, "ack")? {
            let path = self.acks.join(&name);
            let bytes = fs::read(&path).map_err(|e| io("reading", &path, e))?;
            let refused = match unseal::<AckHeader>(&self.key, ACK_MAGIC, &bytes) {
                Err(e) => Some(format!("not authenticated: {e}")),
                Ok((h, _)) if h.enterprise_code != self.enterprise => Some(format!(
                    "an acknowledgement for unit {}, not {}",
                    h.enterprise_code, self.enterprise
                )),
                Ok((h, _)) if h.stream_id != self.stream => Some(format!(
                    "an acknowledgement of stream {}, not this database's {}",
                    h.stream_id, self.stream
                )),
                Ok((h, _)) => self.ack_to(db, h.last_id)?,
            };
            match refused {
                Some(reason) => {
                    self.bad_acks += 1;
                    eprintln!("isolation: acknowledgement {name} refused: {reason}");
                    quarantine_file(&self.acks, &self.acks.join("rejected"), &name, &reason)?;
                }
                None => {
                    fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Acknowledges the cursor up to `last`; `Some(reason)` when that cannot be.
    fn ack_to(&mut self, db: &Db, last: u64) -> Result<Option<String>> {
        let info = |db: &Db| db.cursors().into_iter().find(|c| c.name == SENDER_CURSOR);
        let Some(c) = info(db) else {
            return Err(IsolationError::Platform(format!(
                "the cursor {SENDER_CURSOR} is gone"
            )));
        };
        if last < c.acked {
            return Ok(None); // acknowledged before
        }
        if last < c.read {
            db.cursor_ack(SENDER_CURSOR, last)?;
            self.pending.retain(|p| p.1 > last);
            return Ok(None);
        }
        // Written before a restart: read up to it (the read position starts at the
        // acknowledgement after a restart), acknowledge, and start again from there.
        while info(db).is_some_and(|c| c.read <= last) {
            if db.cursor_read(SENDER_CURSOR, 65_536)?.is_empty() {
                break;
            }
        }
        if info(db).is_some_and(|c| c.read <= last) {
            db.cursor_rewind(SENDER_CURSOR)?;
            return Ok(Some(format!(
                "acknowledges change {last}, which this gateway has not written"
            )));
        }
        db.cursor_ack(SENDER_CURSOR, last)?;
        self.forget_pending(db)?;
        Ok(None)
    }

    /// Writes a bundle of every change not read yet, sealed, into the outbound directory;
    /// its name, or `None` when there was nothing new.
    pub fn export(&mut self, db: &Db) -> Result<Option<String>> {
        let raw = self
            .outbound
            .join(format!(".export-{}.mdbb", std::process::id()));
        let rep = db.export_cursor_bundle(&raw, SENDER_CURSOR)?;
        let remove_raw = || fs::remove_file(&raw).map_err(|e| io("removing", &raw, e));
        if rep.ids == (0, 0) {
            remove_raw()?;
            return Ok(None);
        }
        let bytes = fs::read(&raw).map_err(|e| io("reading", &raw, e))?;
        let h = BundleHeader {
            enterprise_code: self.enterprise.clone(),
            stream_id: self.stream.clone(),
            first_id: rep.ids.0,
            last_id: rep.ids.1,
            samples: rep.samples,
            deletes: rep.deletes,
            bundle_bytes: bytes.len() as u64,
            created_ms: now_ms(),
        };
        let name = format!(
            "{}-{:020}-{:020}.{BUNDLE_EXT}",
            self.enterprise, rep.ids.0, rep.ids.1
        );
        write_atomic(
            &self.outbound,
            &name,
            &seal(&self.key, BUNDLE_MAGIC, &h, &bytes),
        )?;
        remove_raw()?;
        self.pending.push((name.clone(), rep.ids.1, Instant::now()));
        self.bundles += 1;
        Ok(Some(name))
    }

    /// Bundles written and not acknowledged.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// What the receiving side did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Verified and stored.
    Imported {
        /// File name.
        bundle: String,
        /// Samples stored.
        samples: u64,
        /// Deletes applied.
        deletes: u64,
        /// Its last change id (acknowledged).
        last_id: u64,
    },
    /// Stored before (its last change id is not above the highest imported): acknowledged
    /// again, nothing stored.
    Duplicate {
        /// File name.
        bundle: String,
        /// Its last change id.
        last_id: u64,
    },
    /// Moved to `quarantine/` with the reason; nothing stored.
    Quarantined {
        /// File name.
        bundle: String,
        /// Why.
        reason: String,
    },
}

/// The receiving side, on the platform: one isolation link, carrying one unit's data.
#[derive(Debug)]
pub struct Receiver {
    enterprise: String,
    inbound: PathBuf,
    acks: PathBuf,
    quarantine: PathBuf,
    staging: PathBuf,
    key: Key,
}

/// The platform's point of the highest change id imported over unit `ent`'s link.
fn hwm_key(ent: &str, stream: &str) -> String {
    format!("_hwm/isolation-{ent}-{stream}")
}

/// The gateway database's points whose key holds its stream id.
const STREAM_PREFIX: &str = "_isolation/stream/";

/// The stream id of `db` (drawn and kept in a point's key the first time).
fn stream_id(db: &Db) -> Result<String> {
    let f = meterdb::PointFilter {
        key_prefix: Some(STREAM_PREFIX.into()),
        ..Default::default()
    };
    if let Some((_, m)) = db.points(&f).first() {
        return Ok(m.key[STREAM_PREFIX.len()..].to_string());
    }
    let b: [u8; 16] = random_bytes().map_err(IsolationError::Io)?;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    db.define_point(PointMeta::new(
        format!("{STREAM_PREFIX}{hex}"),
        meterdb::PointKind::Gauge,
    ))?;
    Ok(hex)
}

/// What matters of a point's definition: kind, unit, energy type, multiplier.
fn describe(m: &PointMeta) -> String {
    format!(
        "a {} in {:?} (energy type {:?}, multiplier {})",
        m.kind.as_str(),
        m.unit,
        m.energy_type,
        m.multiplier
    )
}

fn same_meaning(a: &PointMeta, b: &PointMeta) -> bool {
    a.kind == b.kind
        && a.unit == b.unit
        && a.energy_type == b.energy_type
        && a.multiplier == b.multiplier
}

impl Receiver {
    /// The receiver of unit `enterprise`'s bundles from `inbound` into `platform`, writing
    /// acknowledgements to `acks`; refused files go to `inbound/quarantine/`.
    pub fn new(
        platform: &Platform,
        enterprise: &str,
        inbound: &Path,
        acks: &Path,
        key: Key,
    ) -> Result<Receiver> {
        check_uscc(enterprise)
            .map_err(|e| IsolationError::Platform(format!("enterprise {enterprise:?}: {e}")))?;
        if platform.db().is_none() {
            return Err(IsolationError::Platform(
                "this platform stores nothing (--no-store)".into(),
            ));
        }
        match platform.registry().unit(enterprise) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(IsolationError::Platform(format!(
                    "unit {enterprise} is not registered (provincial unit add)"
                )))
            }
            Err(e) => return Err(IsolationError::Platform(e)),
        }
        let staging = platform.data_dir().join("isolation-staging");
        for d in [inbound, acks, &staging] {
            create_dir(d)?;
        }
        Ok(Receiver {
            enterprise: enterprise.to_string(),
            inbound: inbound.to_path_buf(),
            acks: acks.to_path_buf(),
            quarantine: inbound.join("quarantine"),
            staging,
            key,
        })
    }

    /// The quarantine directory.
    pub fn quarantine_dir(&self) -> &Path {
        &self.quarantine
    }

    /// Handles every bundle in the inbound directory, in name order. A failure that is not
    /// the bundle's fault (the platform's storage) stops here and leaves the file for the
    /// next poll.
    pub fn poll(&self, platform: &Platform) -> Result<Vec<Received>> {
        let mut out = Vec::new();
        for name in ready_files(&self.inbound, BUNDLE_EXT)? {
            out.push(self.receive(platform, &name)?);
        }
        Ok(out)
    }

    /// Polls every `every` until `stop` is set, printing a line per file.
    pub fn watch(&self, platform: &Platform, every: Duration, stop: &AtomicBool) -> Result<()> {
        while !stop.load(Ordering::Relaxed) {
            match self.poll(platform) {
                Ok(v) => {
                    for r in v {
                        println!("isolation: {r:?}");
                    }
                }
                Err(e) => eprintln!("isolation: {e}; trying again"),
            }
            std::thread::sleep(every);
        }
        Ok(())
    }

    fn quarantine(&self, platform: &Platform, name: &str, reason: String) -> Result<Received> {
        eprintln!("isolation: {name} quarantined: {reason}");
        quarantine_file(&self.inbound, &self.quarantine, name, &reason)?;
        let entry = json!({
            "t": now_ms(), "device": "isolation", "bundle": name, "records": 0, "accepted": 0,
            "rejected": 0, "duplicates": 0, "superseded": 0, "quarantined": reason,
        });
        platform
            .append_upload_log(&self.enterprise, &entry)
            .map_err(|e| IsolationError::Platform(e.message))?;
        Ok(Received::Quarantined {
            bundle: name.to_string(),
            reason,
        })
    }

    fn ack(&self, name: &str, stream: &str, last_id: u64, outcome: &str) -> Result<()> {
        let h = AckHeader {
            enterprise_code: self.enterprise.clone(),
            stream_id: stream.to_string(),
            bundle: name.to_string(),
            last_id,
            outcome: outcome.into(),
            created_ms: now_ms(),
        };
        write_atomic(
            &self.acks,
            &format!("{name}.ack"),
            &seal(&self.key, ACK_MAGIC, &h, &[]),
        )
    }

    /// Why the bundle's points may not be imported into unit `ent` (empty: they may).
    fn check_points(
        &self,
        db: &Db,
        unit: &crate::registry::Unit,
        points: &[BundlePoint],
    ) -> Vec<String> {
        let ent = &self.enterprise;
        let mut why = Vec::new();
        for p in points {
            let key = &p.meta.key;
            if let Err(e) = DataCode::parse(key) {
                why.push(format!(
                    "point {key:?}: not a data code of the unit ({e}); only the unit's own configured data items are imported"
                ));
                continue;
            }
            let Some(item) = unit.item(key) else {
                why.push(format!(
                    "point {key}: not in the collection configuration of unit {ent} (version {})",
                    unit.config_version()
                ));
                continue;
            };
            match item.to_collection_config() {
                Ok(c) => {
                    let want = c.to_point_meta(None);
                    if !same_meaning(&p.meta, &want) {
                        why.push(format!(
                            "point {key}: the bundle defines {}, the unit's configuration {}",
                            describe(&p.meta),
                            describe(&want)
                        ));
                        continue;
                    }
                }
                Err(e) => why.push(format!("point {key}: its configuration item: {e}")),
            }
            let local = format!("{ent}/{key}");
            if let Some(have) = db.point_id(&local).and_then(|id| db.point(id)) {
                if !same_meaning(&p.meta, &have) {
                    why.push(format!(
                        "point {local} is {} on the platform; the bundle's {} would change it",
                        describe(&have),
                        describe(&p.meta)
                    ));
                }
            }
        }
        why
    }

    /// Checks and applies one file of the inbound directory.
    pub fn receive(&self, platform: &Platform, name: &str) -> Result<Received> {
        let path = self.inbound.join(name);
        let bytes = fs::read(&path).map_err(|e| io("reading", &path, e))?;
        let (h, payload) = match unseal::<BundleHeader>(&self.key, BUNDLE_MAGIC, &bytes) {
            Ok(x) => x,
            Err(e) => return self.quarantine(platform, name, format!("not authenticated: {e}")),
        };
        if h.enterprise_code != self.enterprise {
            return self.quarantine(
                platform,
                name,
                format!(
                    "a bundle of unit {}; this link carries unit {}",
                    h.enterprise_code, self.enterprise
                ),
            );
        }
        if h.bundle_bytes != payload.len() as u64 || h.first_id > h.last_id {
            return self.quarantine(
                platform,
                name,
                "the envelope's header does not describe its bundle".into(),
            );
        }
        let Some(db) = platform.db() else {
            return Err(IsolationError::Platform(
                "this platform stores nothing".into(),
            ));
        };
        let unit = match platform.registry().unit(&self.enterprise) {
            Ok(Some(u)) => u,
            Ok(None) => {
                return Err(IsolationError::Platform(format!(
                    "unit {} is not registered",
                    self.enterprise
                )))
            }
            Err(e) => return Err(IsolationError::Platform(e)),
        };
        if h.stream_id.is_empty()
            || h.stream_id.len() > 64
            || !h.stream_id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return self.quarantine(
                platform,
                name,
                format!("stream id {:?} is not 1 to 64 hex digits", h.stream_id),
            );
        }
        let hwm_key = hwm_key(&self.enterprise, &h.stream_id);
        let hwm = match db.point_id(&hwm_key) {
            Some(id) => db.latest(id)?.map_or(0, |s| s.value as u64),
            None => 0,
        };
        if h.last_id <= hwm {
            self.ack(name, &h.stream_id, h.last_id, "duplicate")?;
            fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
            return Ok(Received::Duplicate {
                bundle: name.to_string(),
                last_id: h.last_id,
            });
        }
        let staged = self.staging.join(format!("{name}.mdbb"));
        fs::write(&staged, payload).map_err(|e| io("writing", &staged, e))?;
        let result = self.apply(platform, db, &unit, name, &h, &staged);
        let _ = fs::remove_file(&staged);
        let r = match result? {
            Err(reason) => return self.quarantine(platform, name, reason),
            Ok(r) => r,
        };
        self.ack(name, &h.stream_id, h.last_id, "imported")?;
        fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
        Ok(r)
    }

    /// Verifies the staged bundle and its points, then imports it. `Ok(Err(reason))`: refused.
    fn apply(
        &self,
        platform: &Platform,
        db: &Db,
        unit: &crate::registry::Unit,
        name: &str,
        h: &BundleHeader,
        staged: &Path,
    ) -> Result<std::result::Result<Received, String>> {
        let rep = match db.verify_bundle(staged) {
            Ok(r) => r,
            Err(e) => return Ok(Err(format!("the bundle does not verify: {e}"))),
        };
        if rep.ids != (h.first_id, h.last_id) || rep.samples != h.samples {
            return Ok(Err(format!(
                "the bundle holds changes {:?} and {} samples; its envelope says {:?} and {}",
                rep.ids,
                rep.samples,
                (h.first_id, h.last_id),
                h.samples
            )));
        }
        let why = self.check_points(db, unit, &rep.points);
        if !why.is_empty() {
            return Ok(Err(why.join("\n")));
        }
        let ent = &self.enterprise;
        let rep = db.import_bundle_mapped(staged, &mut |p| -> meterdb::Result<PointId> {
            let code = DataCode::parse(&p.meta.key).map_err(meterdb::Error::invalid)?;
            platform.point_for(
                db,
                &format!("{ent}/{}", p.meta.key),
                &code,
                unit.item(&p.meta.key),
                STAT_REALTIME,
            )
        })?;
        let hk = hwm_key(ent, &h.stream_id);
        let hid = match db.point_id(&hk) {
            Some(id) => id,
            None => db.ensure_point(&hk)?,
        };
        db.put(hid, 0, h.last_id as f64)?;
        let entry = json!({
            "t": now_ms(), "device": "isolation", "bundle": name,
            "records": rep.samples + rep.deletes, "accepted": rep.samples, "deletes": rep.deletes,
            "rejected": 0, "duplicates": 0, "superseded": 0,
            "firstId": h.first_id, "lastId": h.last_id,
        });
        platform
            .append_upload_log(ent, &entry)
            .map_err(|e| IsolationError::Platform(e.message))?;
        Ok(Ok(Received::Imported {
            bundle: name.to_string(),
            samples: rep.samples,
            deletes: rep.deletes,
            last_id: h.last_id,
        }))
    }
}
