//! The platform's registry: its units (enterprise, collection configuration, devices,
//! enrollment codes) and the credentials of operators and of the national link, and who a
//! bearer token belongs to.
//!
//! Everything lives in `{data}/registry/` (created 0700; every file 0600):
//! `units/{enterpriseCode}.json` per unit and `credentials.json`. A change (by the
//! `provincial` command or by the running server, e.g. a device registering) takes the
//! exclusive lock of `registry.lock`, reads the file, changes it, writes it to a temporary
//! file, syncs it and renames it over the old one; so the command and a running server can
//! change the registry at the same time. The server reads a file again when its identity
//! (inode, size, modification time) changed, else it answers from memory.
//!
//! Tokens and enrollment codes are `{credential id}.{secret}`: the id says whose it is
//! (`{enterpriseCode}-{n}` a device, `enroll-{enterpriseCode}-{n}` an enrollment code,
//! `operator-{name}`, `national-{name}`), the secret is 128 random bits in hex. Only a
//! random salt and SHA-256(salt ‖ secret) are stored; a secret is shown once.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::{ConfigItem, DeviceInfo, EnterpriseInfo, RegisterAnswer, UnitInfo};
use crate::industry::{check_uscc, DataCode};
use crate::records::format_datetime;
use crate::upload::now_ms;

/// How long an enrollment code can be used after it was issued.
pub const ENROLLMENT_VALID_MS: i64 = 7 * 86_400_000;
/// How long a device's token, or an operator's, national or front-end credential, is valid
/// by default (`--token-expires`, `--expires`).
pub const TOKEN_VALID_MS: i64 = 365 * 86_400_000;

/// Who is calling: resolved from the `Authorization` header before a handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credential (only `GET /api/v1/health` accepts it).
    Anonymous,
    /// An unused enrollment code of a unit (only `POST /api/v1/devices` accepts it).
    Enrollment {
        /// The unit.
        enterprise: String,
        /// The code's id.
        id: String,
    },
    /// A registered device of a unit.
    Device {
        /// The unit.
        enterprise: String,
        /// The device's id.
        device: String,
        /// Its current epoch: the scope of its change ids ([`Registry::new_epoch`]).
        epoch: u64,
    },
    /// An operator of the platform (reads the whole province).
    Operator {
        /// The operator's name.
        name: String,
    },
    /// The national link: on a national platform a province (its front-end) sending; on a
    /// provincial one the national platform reading.
    National {
        /// The province's (or national platform's) name.
        name: String,
    },
    /// The province's front-end machine (前置机): reads the platform's outbound data for the
    /// national platform and acknowledges what it delivered (`/api/v1/outbound`), nothing
    /// else.
    Frontend {
        /// The front-end's name.
        name: String,
    },
}

impl Caller {
    /// The credential id, for logs (`-` for none).
    pub fn who(&self) -> String {
        match self {
            Caller::Anonymous => "-".into(),
            Caller::Enrollment { id, .. } => id.clone(),
            Caller::Device { device, .. } => device.clone(),
            Caller::Operator { name } => format!("operator-{name}"),
            Caller::National { name } => format!("national-{name}"),
            Caller::Frontend { name } => format!("frontend-{name}"),
        }
    }
    /// Whether the caller may read unit `code`'s data: its own device, an operator, the
    /// national link.
    pub fn may_read(&self, code: &str) -> bool {
        match self {
            Caller::Device { enterprise, .. } => enterprise == code,
            Caller::Operator { .. } | Caller::National { .. } => true,
            _ => false,
        }
    }
}

/// The kinds of credential that are not a unit's: operators, the national link, the
/// front-end.
pub const CREDENTIAL_KINDS: [&str; 3] = ["operator", "national", "frontend"];

/// Why a token was refused (answered 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError(pub String);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// `n` random bytes from the system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(b)
}

/// A stored secret: salt and SHA-256(salt ‖ secret), in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Hashed {
    salt: String,
    hash: String,
}

impl Hashed {
    /// A new secret (128 bits, hex) and its stored form.
    fn new() -> Result<(String, Hashed), String> {
        let secret = hex(&random_bytes::<16>()?);
        let salt = random_bytes::<16>()?;
        let hash = hex(&Self::digest(&salt, &secret));
        Ok((
            secret,
            Hashed {
                salt: hex(&salt),
                hash,
            },
        ))
    }
    fn digest(salt: &[u8], secret: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(secret.as_bytes());
        h.finalize().into()
    }
    fn verify(&self, secret: &str) -> bool {
        let (Some(salt), Some(want)) = (unhex(&self.salt), unhex(&self.hash)) else {
            return false;
        };
        let got = Self::digest(&salt, secret);
        // Constant time in the secret.
        want.len() == 32 && got.iter().zip(&want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
    }
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceRecord {
    id: String,
    kind: String,
    serial: String,
    name: String,
    registered_at: i64,
    token: Hashed,
    revoked: bool,
    /// When the token stops working (absent in files of before: never).
    #[serde(default)]
    expires_at: Option<i64>,
    /// The scope of the device's change ids: 1 at registration, one more each time the
    /// device restarts its ids ([`Registry::new_epoch`]); absent in files of before: 1.
    #[serde(default = "first_epoch")]
    epoch: u64,
}

fn first_epoch() -> u64 {
    1
}

/// An enrollment code issued for a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Enrollment {
    id: String,
    code: Hashed,
    issued_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    used_by: Option<String>,
    /// How long the token of the device registering with it is valid (absent: the default).
    #[serde(default)]
    token_valid_ms: Option<i64>,
    /// Withdrawn by an operator before use.
    #[serde(default)]
    revoked: bool,
}

/// The collection configuration as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredConfig {
    version: u64,
    items: Vec<ConfigItem>,
}

/// One unit's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnitFile {
    enterprise: EnterpriseInfo,
    config: StoredConfig,
    devices: Vec<DeviceRecord>,
    enrollments: Vec<Enrollment>,
    /// Devices and enrollment codes are numbered from 1.
    next_number: u32,
}

/// A unit as the server holds it.
#[derive(Debug)]
pub struct Unit {
    file: UnitFile,
    /// The data codes of its configuration, to the item's index.
    codes: HashMap<String, usize>,
}

impl Unit {
    fn new(file: UnitFile) -> Unit {
        let codes = file
            .config
            .items
            .iter()
            .enumerate()
            .map(|(i, c)| (c.data_code.clone(), i))
            .collect();
        Unit { file, codes }
    }
    /// The enterprise.
    pub fn enterprise(&self) -> &EnterpriseInfo {
        &self.file.enterprise
    }
    /// The configuration's version.
    pub fn config_version(&self) -> u64 {
        self.file.config.version
    }
    /// The configuration's items.
    pub fn config_items(&self) -> &[ConfigItem] {
        &self.file.config.items
    }
    /// The configured item of a data code.
    pub fn item(&self, data_code: &str) -> Option<&ConfigItem> {
        self.codes
            .get(data_code)
            .map(|&i| &self.file.config.items[i])
    }
    /// The unit's basic information (function 3).
    pub fn info(&self) -> UnitInfo {
        UnitInfo {
            enterprise: self.file.enterprise.clone(),
            devices: self
                .file
                .devices
                .iter()
                .map(|d| DeviceInfo {
                    device_id: d.id.clone(),
                    kind: d.kind.clone(),
                    serial: d.serial.clone(),
                    name: d.name.clone(),
                    registered_at: format_datetime(d.registered_at),
                    revoked: d.revoked,
                })
                .collect(),
            config_version: self.file.config.version,
        }
    }
}

/// An operator's or the national link's credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credential {
    kind: String,
    name: String,
    token: Hashed,
    created_at: i64,
    revoked: bool,
    /// When the token stops working (absent in files of before: never).
    #[serde(default)]
    expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct CredentialsFile {
    credentials: Vec<Credential>,
}

/// What identifies a version of a file: inode, size, modification time.
type FileId = (u64, u64, i64, i64);

fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.ino(), m.size(), m.mtime(), m.mtime_nsec()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` atomically, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let dir = path.parent().unwrap_or(Path::new("."));
    (|| {
        let _ = std::fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })()
    .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn private_dir(path: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The registry of a platform.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    units: Mutex<HashMap<String, (FileId, Arc<Unit>)>>,
    creds: Mutex<Option<(FileId, Arc<CredentialsFile>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A credential name: 1 to 48 letters, digits, `_` or `-`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 48
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "name {name:?}: 1 to 48 letters, digits, '_' or '-'"
        ));
    }
    Ok(())
}

impl Registry {
    /// The registry of the platform whose data directory is `data`.
    pub fn open(data: &Path) -> Result<Registry, String> {
        let dir = data.join("registry");
        private_dir(&dir.join("units"))?;
        Ok(Registry {
            dir,
            units: Mutex::new(HashMap::new()),
            creds: Mutex::new(None),
        })
    }

    fn unit_path(&self, code: &str) -> PathBuf {
        self.dir.join("units").join(format!("{code}.json"))
    }

    /// Runs `f` holding the registry's exclusive lock (across processes).
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let path = self.dir.join("registry.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("locking {}: {e}", path.display()))?;
        let r = f();
        let _ = file.unlock();
        r
    }

    fn read_unit(&self, code: &str) -> Result<Option<UnitFile>, String> {
        let path = self.unit_path(code);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn write_unit(&self, u: &UnitFile) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(u).map_err(|e| e.to_string())?;
        write_private(&self.unit_path(&u.enterprise.enterprise_code), &text)
    }

    /// Changes unit `code` under the lock.
    fn change_unit<T>(
        &self,
        code: &str,
        f: impl FnOnce(&mut UnitFile) -> Result<T, String>,
    ) -> Result<T, String> {
        check_uscc(code).map_err(|e| format!("enterprise code {code:?}: {e}"))?;
        self.locked(|| {
            let mut u = self
                .read_unit(code)?
                .ok_or_else(|| format!("no unit {code} is registered"))?;
            let t = f(&mut u)?;
            self.write_unit(&u)?;
            Ok(t)
        })
    }

    fn new_enrollment(u: &mut UnitFile) -> Result<String, String> {
        Self::new_enrollment_for(u, None)
    }

    fn new_enrollment_for(u: &mut UnitFile, token_valid_ms: Option<i64>) -> Result<String, String> {
        let id = format!("enroll-{}-{}", u.enterprise.enterprise_code, u.next_number);
        u.next_number += 1;
        let (secret, code) = Hashed::new()?;
        let now = now_ms();
        u.enrollments.push(Enrollment {
            id: id.clone(),
            code,
            issued_at: now,
            expires_at: now + ENROLLMENT_VALID_MS,
            used_at: None,
            used_by: None,
            token_valid_ms,
            revoked: false,
        });
        Ok(format!("{id}.{secret}"))
    }

    /// Registers a unit with its configuration (version 1) and returns its first
    /// enrollment code (shown once).
    pub fn add_unit(
        &self,
        enterprise: EnterpriseInfo,
        items: Vec<ConfigItem>,
    ) -> Result<String, String> {
        self.add_unit_with(enterprise, items, None)
    }

    /// [`Registry::add_unit`], the token of the device registering with the code valid for
    /// `token_valid_ms` (`None`: [`TOKEN_VALID_MS`]).
    pub fn add_unit_with(
        &self,
        enterprise: EnterpriseInfo,
        items: Vec<ConfigItem>,
        token_valid_ms: Option<i64>,
    ) -> Result<String, String> {
        let code = enterprise.enterprise_code.clone();
        check_uscc(&code).map_err(|e| format!("enterprise code {code:?}: {e}"))?;
        if enterprise.name.trim().is_empty() || enterprise.name.len() > 200 {
            return Err("the unit's name must have 1 to 200 bytes".into());
        }
        if enterprise.region_code.len() != 6
            || !enterprise.region_code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!(
                "region code {:?} is not 6 digits",
                enterprise.region_code
            ));
        }
        check_items(&items)?;
        self.locked(|| {
            if self.read_unit(&code)?.is_some() {
                return Err(format!("unit {code} is already registered"));
            }
            let mut u = UnitFile {
                enterprise,
                config: StoredConfig { version: 1, items },
                devices: Vec::new(),
                enrollments: Vec::new(),
                next_number: 1,
            };
            let secret = Self::new_enrollment_for(&mut u, token_valid_ms)?;
            self.write_unit(&u)?;
            Ok(secret)
        })
    }

    /// Issues another enrollment code for unit `code` (shown once).
    pub fn issue_enrollment(&self, code: &str) -> Result<String, String> {
        self.change_unit(code, Self::new_enrollment)
    }

    /// Issues another enrollment code for unit `code` whose device's token will be valid
    /// for `token_valid_ms` (shown once).
    pub fn issue_enrollment_with(&self, code: &str, token_valid_ms: i64) -> Result<String, String> {
        if token_valid_ms <= 0 {
            return Err("a token must be valid for some time".into());
        }
        self.change_unit(code, |u| Self::new_enrollment_for(u, Some(token_valid_ms)))
    }

    /// Replaces unit `code`'s configuration; returns the new version.
    pub fn set_config(&self, code: &str, items: Vec<ConfigItem>) -> Result<u64, String> {
        check_items(&items)?;
        self.change_unit(code, |u| {
            u.config.version += 1;
            u.config.items = items;
            Ok(u.config.version)
        })
    }

    /// Registers a device with enrollment code `enrollment` of unit `code` (the code is used
    /// up); returns the device's id and token (shown once).
    pub fn register_device(
        &self,
        code: &str,
        enrollment: &str,
        serial: &str,
        kind: &str,
        name: &str,
    ) -> Result<RegisterAnswer, String> {
        for (what, v) in [("serial", serial), ("name", name)] {
            if v.len() > 128 || v.chars().any(char::is_control) {
                return Err(format!(
                    "{what}: at most 128 bytes without control characters"
                ));
            }
        }
        if serial.is_empty() {
            return Err("serial: required".into());
        }
        let kind = meterdb::DeviceKind::parse(kind)
            .map_err(|e| e.to_string())?
            .as_str();
        self.change_unit(code, |u| {
            let now = now_ms();
            let e = u
                .enrollments
                .iter_mut()
                .find(|e| e.id == enrollment)
                .ok_or_else(|| "unknown enrollment code".to_string())?;
            if e.used_at.is_some() {
                return Err("the enrollment code was used already".into());
            }
            if e.revoked {
                return Err("the enrollment code was revoked".into());
            }
            if now >= e.expires_at {
                return Err("the enrollment code has expired".into());
            }
            let valid = e.token_valid_ms.unwrap_or(TOKEN_VALID_MS);
            let id = format!("{code}-{:02}", u.next_number);
            u.next_number += 1;
            e.used_at = Some(now);
            e.used_by = Some(id.clone());
            let (secret, token) = Hashed::new()?;
            u.devices.push(DeviceRecord {
                id: id.clone(),
                kind: kind.into(),
                serial: serial.into(),
                name: name.into(),
                registered_at: now,
                token,
                revoked: false,
                expires_at: Some(now.saturating_add(valid)),
                epoch: first_epoch(),
            });
            Ok(RegisterAnswer {
                ok: true,
                enterprise_code: code.into(),
                token: format!("{id}.{secret}"),
                device_id: id,
                epoch: Some(first_epoch()),
            })
        })
    }

    /// Issues device `device` of unit `code` a new epoch (its current one plus one) and
    /// returns it: a device that lost its database (rebuilt, restored without its data)
    /// restarts its change ids, and the platform keeps the ids already stored per
    /// (device, epoch), so the restarted ids are new data, not duplicates. Requests that
    /// name an earlier epoch are refused from then on.
    pub fn new_epoch(&self, code: &str, device: &str) -> Result<u64, String> {
        self.change_unit(code, |u| {
            let d = u
                .devices
                .iter_mut()
                .find(|d| d.id == device)
                .ok_or_else(|| format!("no device {device} in unit {code}"))?;
            if d.revoked {
                return Err(format!("device {device} was revoked"));
            }
            d.epoch = d.epoch.saturating_add(1);
            Ok(d.epoch)
        })
    }

    /// For tests and benchmarks: what an operator issuing an enrollment code for unit `code`
    /// and a device registering with it do, in one step.
    pub fn enroll_and_register(&self, code: &str, serial: &str) -> Result<RegisterAnswer, String> {
        let secret = self.issue_enrollment(code)?;
        let id = secret.split('.').next().unwrap_or_default().to_string();
        self.register_device(code, &id, serial, "gateway", "")
    }

    /// Adds an operator's (`kind` `operator`), the national link's (`national`) or the
    /// front-end's (`frontend`) credential and returns its token (shown once). A name
    /// already used is refused.
    pub fn add_credential(&self, kind: &str, name: &str) -> Result<String, String> {
        self.add_credential_valid(kind, name, TOKEN_VALID_MS)
    }

    /// [`Registry::add_credential`] with a token valid for `valid_ms`.
    pub fn add_credential_valid(
        &self,
        kind: &str,
        name: &str,
        valid_ms: i64,
    ) -> Result<String, String> {
        if valid_ms <= 0 {
            return Err("a token must be valid for some time".into());
        }
        if !CREDENTIAL_KINDS.contains(&kind) {
            return Err(format!(
                "kind {kind:?} is not operator, national or frontend"
            ));
        }
        check_name(name)?;
        let path = self.dir.join("credentials.json");
        self.locked(|| {
            let mut f: CredentialsFile = match std::fs::read(&path) {
                Ok(b) => {
                    serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display()))?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => CredentialsFile::default(),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            };
            if f.credentials
                .iter()
                .any(|c| c.kind == kind && c.name == name)
            {
                return Err(format!("a {kind} credential named {name:?} exists already"));
            }
            let (secret, token) = Hashed::new()?;
            f.credentials.push(Credential {
                kind: kind.into(),
                name: name.into(),
                token,
                created_at: now_ms(),
                revoked: false,
                expires_at: Some(now_ms().saturating_add(valid_ms)),
            });
            let text = serde_json::to_vec_pretty(&f).map_err(|e| e.to_string())?;
            write_private(&path, &text)?;
            Ok(format!("{kind}-{name}.{secret}"))
        })
    }

    /// Unit `code` as last written (read again when its file changed).
    pub fn unit(&self, code: &str) -> Result<Option<Arc<Unit>>, String> {
        if check_uscc(code).is_err() {
            return Ok(None);
        }
        let path = self.unit_path(code);
        let Some(id) = file_id(&path).map_err(|e| format!("{}: {e}", path.display()))? else {
            lock(&self.units).remove(code);
            return Ok(None);
        };
        if let Some((fid, u)) = lock(&self.units).get(code) {
            if *fid == id {
                return Ok(Some(u.clone()));
            }
        }
        let Some(file) = self.read_unit(code)? else {
            return Ok(None);
        };
        // The identity read before the contents: a change in between is seen next time.
        let u = Arc::new(Unit::new(file));
        lock(&self.units).insert(code.to_string(), (id, u.clone()));
        Ok(Some(u))
    }

    /// The codes of every registered unit, sorted.
    pub fn unit_codes(&self) -> Result<Vec<String>, String> {
        let dir = self.dir.join("units");
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                let c = n.strip_suffix(".json")?;
                check_uscc(c).is_ok().then(|| c.to_string())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn credentials(&self) -> Result<Arc<CredentialsFile>, String> {
        let path = self.dir.join("credentials.json");
        let id = file_id(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .unwrap_or_default();
        let mut slot = lock(&self.creds);
        if let Some((fid, c)) = slot.as_ref() {
            if *fid == id {
                return Ok(c.clone());
            }
        }
        let f = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CredentialsFile::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let c = Arc::new(f);
        *slot = Some((id, c.clone()));
        Ok(c)
    }

    /// Who an `Authorization` header belongs to: `None` is [`Caller::Anonymous`], else it
    /// must be `Bearer {id}.{secret}` of a known, unrevoked, unexpired credential.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let Some(h) = header else {
            return Ok(Caller::Anonymous);
        };
        let bad = |m: &str| AuthError(m.to_string());
        let token = h
            .strip_prefix("Bearer ")
            .ok_or_else(|| bad("the Authorization header must be `Bearer TOKEN`"))?
            .trim();
        let (id, secret) = token
            .rsplit_once('.')
            .filter(|(i, s)| i.len() <= 96 && s.len() == 32)
            .ok_or_else(|| bad("a token is `ID.SECRET` (the form it was issued in)"))?;
        let unknown = || bad("unknown or wrong token");
        let internal = |e: String| {
            eprintln!("registry: {e}");
            bad("credentials could not be checked")
        };
        if let Some(rest) = id.strip_prefix("enroll-") {
            let ent = rest.get(..18).ok_or_else(unknown)?;
            let u = self.unit(ent).map_err(internal)?.ok_or_else(unknown)?;
            let e = u
                .file
                .enrollments
                .iter()
                .find(|e| e.id == id)
                .ok_or_else(unknown)?;
            if !e.code.verify(secret) {
                return Err(unknown());
            }
            if e.used_at.is_some() {
                return Err(bad("the enrollment code was used already"));
            }
            if e.revoked {
                return Err(bad("the enrollment code was revoked"));
            }
            if now_ms() >= e.expires_at {
                return Err(bad("the enrollment code has expired"));
            }
            return Ok(Caller::Enrollment {
                enterprise: ent.to_string(),
                id: id.to_string(),
            });
        }
        for kind in CREDENTIAL_KINDS {
            if let Some(name) = id.strip_prefix(kind).and_then(|r| r.strip_prefix('-')) {
                let creds = self.credentials().map_err(internal)?;
                let c = creds
                    .credentials
                    .iter()
                    .find(|c| c.kind == kind && c.name == name)
                    .ok_or_else(unknown)?;
                if !c.token.verify(secret) {
                    return Err(unknown());
                }
                live(c.revoked, c.expires_at)?;
                return Ok(match kind {
                    "operator" => Caller::Operator { name: name.into() },
                    "national" => Caller::National { name: name.into() },
                    _ => Caller::Frontend { name: name.into() },
                });
            }
        }
        let ent = id.get(..18).ok_or_else(unknown)?;
        let u = self.unit(ent).map_err(internal)?.ok_or_else(unknown)?;
        let d = u
            .file
            .devices
            .iter()
            .find(|d| d.id == id)
            .ok_or_else(unknown)?;
        if !d.token.verify(secret) {
            return Err(unknown());
        }
        live(d.revoked, d.expires_at)?;
        Ok(Caller::Device {
            enterprise: ent.to_string(),
            device: id.to_string(),
            epoch: d.epoch,
        })
    }
}

/// A token whose secret matched: refused when revoked or expired (said only to a caller that
/// holds the secret).
fn live(revoked: bool, expires_at: Option<i64>) -> Result<(), AuthError> {
    if revoked {
        return Err(AuthError("the token was revoked".into()));
    }
    if expires_at.is_some_and(|x| now_ms() >= x) {
        return Err(AuthError("the token has expired".into()));
    }
    Ok(())
}

/// One credential, for `provincial token list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The credential's id (the part of a token before the `.`).
    pub id: String,
    /// `device`, `enrollment`, `operator`, `national` or `frontend`.
    pub kind: String,
    /// Issued (ms since the epoch).
    pub created_at: i64,
    /// Stops working (ms since the epoch), if ever.
    pub expires_at: Option<i64>,
    /// Revoked (or, for an enrollment code, used).
    pub revoked: bool,
    /// For an enrollment code: used by this device.
    pub used_by: Option<String>,
}

impl Registry {
    /// Every credential: devices and enrollment codes of every unit, then operators, the
    /// national link and front-ends.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, String> {
        let mut out = Vec::new();
        for code in self.unit_codes()? {
            let Some(u) = self.read_unit(&code)? else {
                continue;
            };
            for d in &u.devices {
                out.push(TokenInfo {
                    id: d.id.clone(),
                    kind: "device".into(),
                    created_at: d.registered_at,
                    expires_at: d.expires_at,
                    revoked: d.revoked,
                    used_by: None,
                });
            }
            for e in &u.enrollments {
                out.push(TokenInfo {
                    id: e.id.clone(),
                    kind: "enrollment".into(),
                    created_at: e.issued_at,
                    expires_at: Some(e.expires_at),
                    revoked: e.revoked,
                    used_by: e.used_by.clone(),
                });
            }
        }
        for c in &self.credentials()?.credentials {
            out.push(TokenInfo {
                id: format!("{}-{}", c.kind, c.name),
                kind: c.kind.clone(),
                created_at: c.created_at,
                expires_at: c.expires_at,
                revoked: c.revoked,
                used_by: None,
            });
        }
        Ok(out)
    }

    /// Revokes the credential `id` (a device `{enterpriseCode}-{nn}`, an enrollment code
    /// `enroll-{enterpriseCode}-{n}`, `operator-{name}`, `national-{name}`,
    /// `frontend-{name}`): it is refused from the next request on, by a running server too.
    /// Returns false when it was revoked already.
    pub fn revoke(&self, id: &str) -> Result<bool, String> {
        let id = id.split('.').next().unwrap_or_default();
        for kind in CREDENTIAL_KINDS {
            if let Some(name) = id.strip_prefix(kind).and_then(|r| r.strip_prefix('-')) {
                let path = self.dir.join("credentials.json");
                return self.locked(|| {
                    let b = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    let mut f: CredentialsFile = serde_json::from_slice(&b)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let c = f
                        .credentials
                        .iter_mut()
                        .find(|c| c.kind == kind && c.name == name)
                        .ok_or_else(|| format!("no credential {id}"))?;
                    let was = c.revoked;
                    c.revoked = true;
                    let text = serde_json::to_vec_pretty(&f).map_err(|e| e.to_string())?;
                    write_private(&path, &text)?;
                    Ok(!was)
                });
            }
        }
        let (ent, enrollment) = match id.strip_prefix("enroll-") {
            Some(rest) => (rest.get(..18), true),
            None => (id.get(..18), false),
        };
        let ent = ent.ok_or_else(|| format!("no credential {id}"))?;
        self.change_unit(ent, |u| {
            let flag = if enrollment {
                u.enrollments
                    .iter_mut()
                    .find(|e| e.id == id)
                    .map(|e| &mut e.revoked)
            } else {
                u.devices
                    .iter_mut()
                    .find(|d| d.id == id)
                    .map(|d| &mut d.revoked)
            };
            let flag = flag.ok_or_else(|| format!("no credential {id}"))?;
            let was = *flag;
            *flag = true;
            Ok(!was)
        })
    }
}

/// Checks a configuration: every item valid, codes decodable and not repeated.
pub fn check_items(items: &[ConfigItem]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for it in items {
        DataCode::parse(&it.data_code).map_err(|e| format!("config item: {e}"))?;
        it.to_collection_config()?;
        if !seen.insert(&it.data_code) {
            return Err(format!("data code {} is configured twice", it.data_code));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::standard_config;
    use crate::industry::{uscc_with_check, Industry};

    #[test]
    fn units_devices_and_credentials() {
        let dir = std::env::temp_dir().join(format!("meterdb-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = Registry::open(&dir).unwrap();
        let ent = uscc_with_check("91350100MA2RG0001").unwrap();
        let info = EnterpriseInfo {
            enterprise_code: ent.clone(),
            name: "Plant".into(),
            region_code: "350100".into(),
            industry: "power".into(),
            industry_code: "D4411".into(),
        };
        let code = r
            .add_unit(info.clone(), standard_config(Industry::Power, 7, 60_000))
            .unwrap();
        assert!(r.add_unit(info, vec![]).unwrap_err().contains("already"));
        let meta = std::fs::metadata(r.unit_path(&ent)).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(r.unit_path(&ent)).unwrap();
        let secret = code.rsplit_once('.').unwrap().1;
        assert!(!text.contains(secret), "only a hash is stored");
        let caller = r.authenticate(Some(&format!("Bearer {code}"))).unwrap();
        let Caller::Enrollment { id, .. } = caller else {
            panic!("{caller:?}")
        };
        let a = r
            .register_device(&ent, &id, "SN-1", "gateway", "gw")
            .unwrap();
        assert_eq!(a.device_id, format!("{ent}-02"));
        assert!(r
            .register_device(&ent, &id, "SN-2", "gateway", "gw")
            .unwrap_err()
            .contains("used already"));
        assert!(r
            .authenticate(Some(&format!("Bearer {code}")))
            .unwrap_err()
            .0
            .contains("used already"));
        assert_eq!(
            r.authenticate(Some(&format!("Bearer {}", a.token)))
                .unwrap(),
            Caller::Device {
                enterprise: ent.clone(),
                device: a.device_id.clone(),
                epoch: 1,
            }
        );
        // A new epoch is kept in the registry and named by the next authentication.
        assert_eq!(r.new_epoch(&ent, &a.device_id).unwrap(), 2);
        let again = Registry::open(&dir).unwrap();
        assert!(matches!(
            again
                .authenticate(Some(&format!("Bearer {}", a.token)))
                .unwrap(),
            Caller::Device { epoch: 2, .. }
        ));
        let mut wrong = a.token.clone();
        wrong.pop();
        wrong.push('x');
        assert!(r.authenticate(Some(&format!("Bearer {wrong}"))).is_err());
        assert!(r.authenticate(Some("Basic abc")).is_err());
        assert!(r.authenticate(Some("Bearer nothing")).is_err());
        assert_eq!(r.authenticate(None).unwrap(), Caller::Anonymous);
        let op = r.add_credential("operator", "alice").unwrap();
        assert!(r.add_credential("operator", "alice").is_err());
        assert!(r.add_credential("root", "x").is_err());
        assert_eq!(
            r.authenticate(Some(&format!("Bearer {op}"))).unwrap(),
            Caller::Operator {
                name: "alice".into()
            }
        );
        // A configuration change is seen by the same registry (the file changed).
        assert_eq!(r.unit(&ent).unwrap().unwrap().config_version(), 1);
        let v = r
            .set_config(&ent, standard_config(Industry::Power, 3, 60_000))
            .unwrap();
        assert_eq!(v, 2);
        let u = r.unit(&ent).unwrap().unwrap();
        assert_eq!((u.config_version(), u.config_items().len()), (2, 3));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
