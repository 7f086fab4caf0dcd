//! The provincial platform (and, with [`Role::National`], the national one): the services
//! of the `/api/v1/` contract as plain methods (the HTTP layer is [`crate::server`]). It
//! registers devices, serves the dictionaries, the units' basic information and collection
//! configurations, checks every uploaded record (against the unit's configuration too),
//! stores the good ones in MeterDB, keeps a log of what it received per unit, answers
//! history queries from the engine's rollup tiers, forwards statistics to the national
//! platform through its own cursor, and keeps an access log of every request.
//!
//! Storage: one point per enterprise and data code, `{enterprise}/{dataCode}`, holding the
//! real-time samples (defined from the unit's configuration: unit, precision, interval,
//! multiplier, standard-coal coefficients); received statistics go to
//! `{enterprise}/{dataCode}/d` (day), `/m`, `/y`, one sample per bucket at its start. A
//! sender's highest change id stored is kept in the point `_hwm/{credential id}` (per device
//! epoch: `_hwm/{device id}@{epoch}` from a device's second epoch on), written in
//! the same atomic batch as the records, so that a record sent again (at-least-once) is
//! recognised and dropped even after a restart.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use meterdb::{CoalUnit, Db, ErrorKind, Options, PointFilter, PointId, Tier, WriteBatch};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api::{dictionaries, ConfigItem, RegisterAnswer, RegisterRequest, UnitConfig};
use crate::industry::{check_uscc, DataCode, Industry, Measure, Quantity};
use crate::outbound::{parse_key, stored_revision, Outbound, OutboundConfig, MAX_OUTBOUND_BATCH};
use crate::records::{
    check, format_datetime, format_stat_date, parse_date, parse_stat_date, quality_of, Record,
    STAT_DAY, STAT_MONTH, STAT_REALTIME,
};
use crate::registry::{Caller, Registry};
use crate::upload::now_ms;

/// Which platform this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts each unit's records from its own registered devices only, for the data items
    /// of its collection configuration.
    Provincial,
    /// Accepts records of any enterprise from the national link's credentials (a province).
    National,
}

impl Role {
    /// `provincial` or `national`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Provincial => "provincial",
            Role::National => "national",
        }
    }
}

/// How a platform is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the database, the registry and the logs.
    pub data: PathBuf,
    /// Provincial or national.
    pub role: Role,
    /// Parse and check uploads, but store nothing (the intake benchmark's baseline).
    pub no_store: bool,
    /// Keep the outbound queue for the national platform (read by the front-end through
    /// `/api/v1/outbound`), with its cap.
    pub outbound: Option<OutboundConfig>,
}

/// Largest body of `POST /api/v1/data`.
pub const MAX_BODY: usize = 64 << 20;
/// Largest body of any other request.
pub const MAX_SMALL_BODY: usize = 16 << 10;
/// Most records in one request.
pub const MAX_RECORDS: usize = 100_000;
/// How far ahead of a sender's last accepted change id an id may be (2^48: a gateway writing
/// a batch a second for 2,000 years, at 2^22 ids a batch, stays under it).
pub const MAX_ID_AHEAD: u64 = 1 << 48;
/// Change ids are kept as doubles (`_hwm/`): exact below 2^53; larger ones are refused.
pub const MAX_ID: u64 = 1 << 53;
/// Largest record (its JSON text); a record of the contract is about 250 bytes.
pub const MAX_RECORD_BYTES: usize = 4096;
/// Most rejected records listed in an answer (`rejectedCount` has them all).
pub const MAX_REJECTED_LISTED: usize = 1000;
/// Most buckets in one history answer.
pub const MAX_HISTORY_ROWS: i64 = 50_000;
/// How far a record's `uploadDate` may be from the platform's clock by default, either way
/// (24 h): the time of the upload, not of the reading, so late data is still taken; a
/// captured request replayed a day later is not. `serve --upload-date-window-s`.
pub const UPLOAD_WINDOW_MS: i64 = 24 * 3_600_000;
/// Most upload entries in one answer.
pub const MAX_UPLOAD_ROWS: usize = 10_000;

/// An answer that is not a success: HTTP status and what was wrong, for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// What was wrong with the request (never a server path).
    pub message: String,
}

/// The platforms' directories opened in this process: an answer that would name one is
/// answered as a failure of the platform instead ([`ApiError::scrubbed`]).
static PRIVATE_DIRS: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl ApiError {
    /// This error as told to a client: one whose message names a platform's directory
    /// (a file's path in an I/O error) becomes 503 "the request failed on the platform";
    /// the message goes to stderr.
    pub fn scrubbed(self) -> ApiError {
        let dirs = lock(&PRIVATE_DIRS);
        if dirs.iter().any(|d| self.message.contains(d.as_str())) {
            eprintln!("provincial: {} (not told to the client)", self.message);
            return ApiError::new(503, "the request failed on the platform; retry later");
        }
        self
    }

    /// An error answer.
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// The JSON body of the answer.
    pub fn body(&self) -> Value {
        json!({"ok": false, "error": self.message})
    }
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(400, m)
}

fn forbidden(m: impl Into<String>) -> ApiError {
    ApiError::new(403, m)
}

/// A server-side failure: the detail goes to the server's log, the client is told to retry.
/// The records of an intake body: a JSON array read element by element, each kept as its
/// raw text (no tree is built); more than [`MAX_RECORDS`] stops the reading at once (413),
/// so a body of millions of tiny items costs no more than [`MAX_RECORDS`] of them.
fn records_of(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    use serde::de::{Deserializer as _, Error as _, SeqAccess, Visitor};
    struct Items;
    impl<'de> Visitor<'de> for Items {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some(r) = seq.next_element::<&'de RawValue>()? {
                if v.len() == MAX_RECORDS {
                    return Err(A::Error::custom(TOO_MANY));
                }
                v.push(r);
            }
            Ok(v)
        }
    }
    const TOO_MANY: &str = "too many records";
    let mut de = serde_json::Deserializer::from_slice(body);
    let r = de.deserialize_seq(Items).and_then(|v| de.end().map(|()| v));
    r.map_err(|e| {
        if e.to_string().starts_with(TOO_MANY) {
            ApiError::new(
                413,
                format!("more than {MAX_RECORDS} records; at most {MAX_RECORDS} in one request"),
            )
        } else {
            bad(format!("the body must be a JSON array of records: {e}"))
        }
    })
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    eprintln!("provincial: {what}: {e}");
    ApiError::new(503, format!("{what} failed on the platform; retry later"))
}

/// What an intake request did, for the access log and the unit's upload log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Records in the request.
    pub records: usize,
    /// Records stored.
    pub accepted: usize,
    /// Records refused.
    pub rejected: usize,
    /// Records already stored (by change id).
    pub duplicates: usize,
    /// Statistics older than the stored revision.
    pub superseded: usize,
}

/// A platform.
#[derive(Debug)]
pub struct Platform {
    db: Option<Db>,
    role: Role,
    data: PathBuf,
    registry: Registry,
    log: crate::audit::AuditLog,
    /// Per sender: the highest change id stored, behind its own lock (a sender's requests
    /// are applied one at a time).
    hwm: Mutex<HashMap<String, Arc<Mutex<u64>>>>,
    outbound: Option<Outbound>,
    /// Records whose `uploadDate` is further than this from the server's clock are refused
    /// (0: not checked).
    upload_window_ms: std::sync::atomic::AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn private_append(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// A time of a query: `yyyy-MM-dd` or `yyyy-MM-dd HH:mm:ss` (+08:00).
fn parse_time(what: &str, s: &str) -> Result<i64, ApiError> {
    if s.len() == 10 {
        parse_date(s)
    } else {
        parse_stat_date(STAT_REALTIME, s)
    }
    .map_err(|e| {
        bad(format!(
            "{what}: {e} (give yyyy-MM-dd or yyyy-MM-dd HH:mm:ss)"
        ))
    })
}

/// `[from, to)` of a query, both required, `to` after `from`, at most `max_days` apart.
fn time_range(from: Option<&str>, to: Option<&str>, max_days: i64) -> Result<(i64, i64), ApiError> {
    let (Some(f), Some(t)) = (from, to) else {
        return Err(bad(
            "give from= and to= (yyyy-MM-dd or yyyy-MM-dd HH:mm:ss; to exclusive)",
        ));
    };
    let (f, t) = (parse_time("from", f)?, parse_time("to", t)?);
    if t <= f || t - f > max_days * 86_400_000 {
        return Err(bad(format!(
            "`to` must be after `from`, at most {max_days} days later"
        )));
    }
    Ok((f, t))
}

impl Platform {
    /// Opens the platform's database, registry and access log in `cfg.data`.
    pub fn open(cfg: &Config) -> Result<Platform, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.data)
            .map_err(|e| format!("{}: {e}", cfg.data.display()))?;
        // The directory holds the registry (hashed secrets) and the audit log: the owner's.
        std::fs::set_permissions(&cfg.data, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", cfg.data.display()))?;
        let registry = Registry::open(&cfg.data)?;
        {
            let mut dirs = lock(&PRIVATE_DIRS);
            for d in [Some(cfg.data.clone()), cfg.data.canonicalize().ok()]
                .into_iter()
                .flatten()
            {
                let d = d.to_string_lossy().to_string();
                if d.len() > 1 && !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
        }
        std::fs::create_dir_all(cfg.data.join("intake"))
            .map_err(|e| format!("{}: {e}", cfg.data.join("intake").display()))?;
        let log = crate::audit::AuditLog::open(&cfg.data, crate::audit::ROTATE_BYTES)
            .map_err(|e| format!("access log: {e}"))?;
        let mut opts = Options::default();
        if let Some(o) = &cfg.outbound {
            opts.wal_file_bytes = o.wal_file_bytes();
        }
        let db = if cfg.no_store {
            None
        } else {
            Some(Db::open(cfg.data.join("db"), opts).map_err(|e| e.to_string())?)
        };
        let outbound = match (&db, cfg.outbound) {
            (Some(db), Some(o)) => Some(
                Outbound::open(db, &cfg.data.join("db"), o)
                    .map_err(|e| format!("the national cursor: {e}"))?,
            ),
            _ => None,
        };
        let mut hwm = HashMap::new();
        if let Some(db) = &db {
            let f = PointFilter {
                key_prefix: Some("_hwm/".into()),
                ..Default::default()
            };
            for (id, m) in db.points(&f) {
                if let Some(s) = db.latest(id).map_err(|e| e.to_string())? {
                    hwm.insert(m.key[5..].to_string(), Arc::new(Mutex::new(s.value as u64)));
                }
            }
        }
        Ok(Platform {
            db,
            role: cfg.role,
            data: cfg.data.clone(),
            registry,
            log,
            hwm: Mutex::new(hwm),
            upload_window_ms: std::sync::atomic::AtomicI64::new(UPLOAD_WINDOW_MS),
            outbound,
        })
    }

    /// The database (`None` with `no_store`).
    pub fn db(&self) -> Option<&Db> {
        self.db.as_ref()
    }

    /// The registry (units, devices, credentials).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Provincial or national.
    pub fn role(&self) -> Role {
        self.role
    }

    fn store(&self) -> Result<&Db, ApiError> {
        self.db
            .as_ref()
            .ok_or_else(|| ApiError::new(503, "this platform stores nothing (--no-store)"))
    }

    /// Who an `Authorization` header belongs to (401 when it names no valid credential).
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        self.registry
            .authenticate(header)
            .map_err(|e| ApiError::new(401, e.0))
    }

    /// Refuses records whose `uploadDate` is more than `ms` from the server's clock (the
    /// default [`UPLOAD_WINDOW_MS`]; 0: not checked, for loading archives of old requests).
    pub fn set_upload_window(&self, ms: i64) {
        self.upload_window_ms
            .store(ms.max(0), std::sync::atomic::Ordering::Relaxed);
    }

    /// Rotates the access log at `bytes` from now on.
    pub fn set_audit_rotation(&self, bytes: u64) {
        self.log.set_rotation(bytes);
    }

    /// Appends a line to the access (audit) log, hash-chained, and syncs it.
    pub fn log_access(&self, line: &Value) -> Result<(), String> {
        let m = line.as_object().cloned().unwrap_or_default();
        self.log.append(m).map_err(|e| format!("access log: {e}"))
    }

    fn unit_for(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<Arc<crate::registry::Unit>, ApiError> {
        if let Err(e) = check_uscc(code) {
            return Err(bad(format!("enterprise code {code:?}: {e}")));
        }
        if !caller.may_read(code) {
            return Err(forbidden(format!(
                "{} may not read unit {code}",
                caller.who()
            )));
        }
        self.registry
            .unit(code)
            .map_err(|e| internal("reading the registry", e))?
            .ok_or_else(|| ApiError::new(404, format!("no unit {code} is registered")))
    }

    /// Function 1: registers a device with the enrollment code the caller authenticated with.
    pub fn register_device(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<RegisterAnswer, ApiError> {
        let Caller::Enrollment { enterprise, id } = caller else {
            return Err(forbidden(
                "register a device with an enrollment code as the bearer token",
            ));
        };
        let req: RegisterRequest = serde_json::from_slice(body)
            .map_err(|e| bad(format!("the body is not a registration: {e}")))?;
        if &req.enterprise_code != enterprise {
            return Err(forbidden(format!(
                "the enrollment code is not one of unit {}",
                req.enterprise_code
            )));
        }
        self.registry
            .register_device(
                enterprise,
                id,
                &req.serial,
                req.kind.as_deref().unwrap_or("gateway"),
                req.name.as_deref().unwrap_or(""),
            )
            .map_err(bad)
    }

    /// `POST /api/v1/devices/epoch`: the calling device restarts its change ids (it lost its
    /// database); it is issued a new epoch ([`Registry::new_epoch`]), kept in the registry.
    pub fn new_epoch(&self, caller: &Caller) -> Result<Value, ApiError> {
        let Caller::Device {
            enterprise, device, ..
        } = caller
        else {
            return Err(forbidden("a new epoch is asked for by a registered device"));
        };
        let epoch = self
            .registry
            .new_epoch(enterprise, device)
            .map_err(|e| internal("writing the registry", e))?;
        Ok(json!({"ok": true, "deviceId": device, "epoch": epoch}))
    }

    /// Function 2: the dictionaries (any authenticated caller).
    pub fn dictionaries(&self, caller: &Caller, have: Option<u64>) -> Result<Value, ApiError> {
        match caller {
            Caller::Anonymous | Caller::Enrollment { .. } => {
                Err(ApiError::new(401, "authenticate with a bearer token"))
            }
            _ => Ok(dictionaries(have)),
        }
    }

    /// Function 3: a unit's basic information.
    pub fn unit_info(&self, caller: &Caller, code: &str) -> Result<Value, ApiError> {
        let u = self.unit_for(caller, code)?;
        serde_json::to_value(u.info()).map_err(|e| internal("encoding", e))
    }

    /// Function 5: a unit's collection configuration; `have` the version the caller holds.
    pub fn unit_config(
        &self,
        caller: &Caller,
        code: &str,
        have: Option<u64>,
    ) -> Result<UnitConfig, ApiError> {
        let u = self.unit_for(caller, code)?;
        let changed = have != Some(u.config_version());
        Ok(UnitConfig {
            enterprise_code: code.to_string(),
            version: u.config_version(),
            changed,
            items: if changed {
                u.config_items().to_vec()
            } else {
                Vec::new()
            },
        })
    }

    /// Every registered unit (operators and the national link).
    pub fn units(&self, caller: &Caller) -> Result<Value, ApiError> {
        if !matches!(caller, Caller::Operator { .. } | Caller::National { .. }) {
            return Err(forbidden(
                "only operators and the national platform list the units",
            ));
        }
        let mut out = Vec::new();
        for code in self
            .registry
            .unit_codes()
            .map_err(|e| internal("reading the registry", e))?
        {
            if let Some(u) = self
                .registry
                .unit(&code)
                .map_err(|e| internal("reading the registry", e))?
            {
                out.push(json!({
                    "enterpriseCode": code,
                    "name": u.enterprise().name,
                    "industry": u.enterprise().industry,
                    "devices": u.info().devices.len(),
                    "configVersion": u.config_version(),
                    "items": u.config_items().len(),
                }));
            }
        }
        Ok(json!({"units": out}))
    }

    /// Function 6: what the platform received from unit `code` in `[from, to)`, per request.
    pub fn uploads(
        &self,
        caller: &Caller,
        code: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.unit_for(caller, code)?;
        let (from, to) = time_range(from, to, 3660)?;
        let path = self.data.join("intake").join(format!("{code}.jsonl"));
        let f = match File::open(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(internal("reading the upload log", e)),
        };
        let mut rows = Vec::new();
        let mut truncated = false;
        for line in f.into_iter().flat_map(|f| BufReader::new(f).lines()) {
            let line = line.map_err(|e| internal("reading the upload log", e))?;
            let Ok(mut v) = serde_json::from_str::<Value>(&line) else {
                continue; // a torn last line after a crash
            };
            let t = v["t"].as_i64().unwrap_or(0);
            if t < from || t >= to {
                continue;
            }
            if rows.len() == MAX_UPLOAD_ROWS {
                truncated = true;
                break;
            }
            v["receivedAt"] = format_datetime(t).into();
            rows.push(v);
        }
        Ok(json!({"enterpriseCode": code, "uploads": rows, "truncated": truncated}))
    }

    /// Function 4: checks and stores the records of `POST /api/v1/data`. A device sends its
    /// own unit's records for the data items of the unit's configuration; on a national
    /// platform the national link sends any unit's records.
    pub fn ingest(&self, caller: &Caller, body: &[u8]) -> Result<(Value, Outcome), ApiError> {
        self.ingest_epoch(caller, None, body)
    }

    /// [`Platform::ingest`] of a request that names the device epoch its change ids belong
    /// to (`X-Meterdb-Epoch`): an epoch other than the device's current one is refused
    /// (409), so a request of before the device restarted its ids is not applied. Without
    /// one, the device's current epoch. Change ids are compared with the highest stored of
    /// the same (device, epoch).
    pub fn ingest_epoch(
        &self,
        caller: &Caller,
        epoch: Option<u64>,
        body: &[u8],
    ) -> Result<(Value, Outcome), ApiError> {
        if let (
            Some(e),
            Caller::Device {
                device, epoch: now, ..
            },
        ) = (epoch, caller)
        {
            if e != *now {
                return Err(ApiError::new(
                    409,
                    format!(
                        "epoch {e} is not device {device}'s current epoch {now}: its change \
                         ids were restarted since; send with epoch {now}"
                    ),
                ));
            }
        }
        let unit = match (self.role, caller) {
            (Role::Provincial, Caller::Device { enterprise, .. }) => Some(
                self.registry
                    .unit(enterprise)
                    .map_err(|e| internal("reading the registry", e))?
                    .ok_or_else(|| forbidden(format!("unit {enterprise} is not registered")))?,
            ),
            (Role::National, Caller::National { .. }) => None,
            (Role::Provincial, _) => {
                return Err(forbidden(
                    "data is uploaded by a registered device of the unit",
                ))
            }
            (Role::National, _) => {
                return Err(forbidden(
                    "the national platform takes data from a province's credentials",
                ))
            }
        };
        let who = caller.who();
        // The duplicate mark's key: per (device, epoch); epoch 1 keeps the device's id alone
        // (the key of before epochs, so that marks already stored stay in force).
        let mark = match caller {
            Caller::Device { device, epoch, .. } if *epoch > 1 => format!("{device}@{epoch}"),
            _ => who.clone(),
        };
        let items = records_of(body)?;
        let mut out = Outcome {
            records: items.len(),
            ..Outcome::default()
        };
        let hwm = lock(&self.hwm).entry(mark.clone()).or_default().clone();
        let mut hwm = lock(&hwm);
        let mut rejected = Vec::new();
        let mut reject = |i: usize, code: Option<&Value>, field: &str, reason: String| {
            out.rejected += 1;
            if rejected.len() < MAX_REJECTED_LISTED {
                let code = code.filter(|c| c.as_str().is_some_and(|s| s.len() <= 64));
                rejected
                    .push(json!({"index": i, "dataCode": code, "field": field, "reason": reason}));
            }
        };
        let mut good = Vec::with_capacity(items.len());
        let mut top = *hwm;
        let (mut first_id, mut last_id) = (u64::MAX, 0u64);
        for (i, raw) in items.iter().enumerate() {
            if raw.get().len() > MAX_RECORD_BYTES {
                reject(
                    i,
                    None,
                    "record",
                    format!(
                        "{} bytes; a record has at most {MAX_RECORD_BYTES}",
                        raw.get().len()
                    ),
                );
                continue;
            }
            // One record at a time, at most MAX_RECORD_BYTES of it (nesting is bounded by
            // serde_json's recursion limit): never a tree of the whole body.
            let item: Value = match serde_json::from_str(raw.get()) {
                Ok(v) => v,
                Err(e) => {
                    reject(i, None, "record", format!("not JSON: {e}"));
                    continue;
                }
            };
            let c = match check(&item) {
                Ok(c) => c,
                Err(e) => {
                    reject(i, item.get("dataCode"), e.field, e.reason);
                    continue;
                }
            };
            let window = self
                .upload_window_ms
                .load(std::sync::atomic::Ordering::Relaxed);
            if window > 0 && (c.upload_ts - now_ms()).abs() > window {
                reject(
                    i,
                    item.get("dataCode"),
                    "uploadDate",
                    format!(
                        "{} is more than {} s from the platform's clock ({})",
                        crate::records::format_datetime(c.upload_ts),
                        window / 1000,
                        crate::records::format_datetime(now_ms())
                    ),
                );
                continue;
            }
            if let Some(u) = &unit {
                let ent = &u.enterprise().enterprise_code;
                if &c.record.enterprise != ent {
                    reject(
                        i,
                        item.get("dataCode"),
                        "enterpriseCode",
                        format!("{} is not the device's unit {ent}", c.record.enterprise),
                    );
                    continue;
                }
                if u.item(&c.record.data_code).is_none() {
                    reject(
                        i,
                        item.get("dataCode"),
                        "dataCode",
                        format!(
                            "{} is not in the collection configuration of unit {ent} (version {})",
                            c.record.data_code,
                            u.config_version()
                        ),
                    );
                    continue;
                }
            }
            match c.record.id {
                Some(id) if id <= *hwm && *hwm > 0 => out.duplicates += 1,
                // A forged or broken id far ahead would make every later record of the
                // sender a "duplicate": refused, not trusted.
                Some(id) if id >= MAX_ID || id > hwm.saturating_add(MAX_ID_AHEAD) => reject(
                    i,
                    item.get("dataCode"),
                    "id",
                    format!(
                        "change id {id} is more than 2^48 ahead of the last accepted ({}) \
                         or not below 2^53",
                        *hwm
                    ),
                ),
                _ => {
                    if let Some(id) = c.record.id {
                        top = top.max(id);
                        first_id = first_id.min(id);
                        last_id = last_id.max(id);
                    }
                    good.push(c);
                }
            }
        }
        if let Some(db) = &self.db {
            let mut batch = WriteBatch::with_capacity(good.len() + 1);
            // (revision, uploadDate) stored by this request, per (revision point, period).
            let mut revs: HashMap<(PointId, i64), (u64, i64)> = HashMap::new();
            let mut last_key = String::new();
            let mut last_pid = 0;
            for c in &good {
                let key = point_key(&c.record);
                if key != last_key {
                    let item = unit.as_ref().and_then(|u| u.item(&c.record.data_code));
                    last_pid = self
                        .point_for(db, &key, &c.code, item, c.record.stat_type)
                        .map_err(|e| internal("storing the records", e))?;
                    last_key = key;
                }
                let r = &c.record;
                if r.stat_type != STAT_REALTIME {
                    // The statistic of the highest (revision, uploadDate) is kept: an older
                    // one arriving later (a replayed request, a late resend) is not stored.
                    // Statistics without a revision are ordered by their uploadDate alone.
                    let ensure = |k: &str| {
                        db.point_id(k)
                            .map(Ok)
                            .unwrap_or_else(|| db.ensure_point(k))
                            .map_err(|e| internal("storing the records", e))
                    };
                    let rid = ensure(&format!("_rev/{last_key}"))?;
                    let uid = ensure(&format!("_upd/{last_key}"))?;
                    let stored = match revs.get(&(rid, r.stat_ts)) {
                        Some(&x) => Some(x),
                        None => {
                            let rev = stored_revision(db, rid, r.stat_ts)
                                .map_err(|e| internal("storing the records", e))?;
                            let upd = db
                                .read_range(uid, r.stat_ts, r.stat_ts + 1)
                                .map_err(|e| internal("storing the records", e))?
                                .values
                                .first()
                                .map_or(i64::MIN, |&v| v as i64);
                            rev.map(|x| (x.0, upd))
                        }
                    };
                    let version = (r.revision.unwrap_or(0), c.upload_ts);
                    if stored.is_some_and(|s| version < s) {
                        out.superseded += 1;
                        continue;
                    }
                    revs.insert((rid, r.stat_ts), version);
                    let rev = version.0;
                    let corrected = r.corrected || stored.is_some();
                    // Before the statistic, so that a forwarder reads it first.
                    batch.put(uid, r.stat_ts, c.upload_ts as f64);
                    batch.put(rid, r.stat_ts, (rev * 2 + u64::from(corrected)) as f64);
                }
                batch.put_with_quality(
                    last_pid,
                    r.stat_ts,
                    r.value,
                    quality_of(r.valid, r.input_type),
                );
            }
            if top > *hwm {
                let key = format!("_hwm/{mark}");
                let id = db
                    .point_id(&key)
                    .map(Ok)
                    .unwrap_or_else(|| db.ensure_point(&key))
                    .map_err(|e| internal("storing the records", e))?;
                batch.put(id, 0, top as f64);
            }
            db.write(&batch)
                .map_err(|e| internal("storing the records", e))?;
            if let Some(o) = &self.outbound {
                if let Err(e) = o.enforce_cap(db) {
                    eprintln!("provincial: the national backlog's cap: {e}");
                }
            }
        }
        *hwm = top;
        out.accepted = good.len() - out.superseded;
        let now = now_ms();
        let log_code = match &unit {
            Some(u) => u.enterprise().enterprise_code.clone(),
            None => who.clone(),
        };
        let mut entry = json!({
            "t": now,
            "device": who,
            "epoch": match caller {
                Caller::Device { epoch, .. } => Some(*epoch),
                _ => None,
            },
            "records": out.records,
            "accepted": out.accepted,
            "rejected": out.rejected,
            "duplicates": out.duplicates,
            "superseded": out.superseded,
        });
        if last_id > 0 {
            entry["firstId"] = first_id.into();
            entry["lastId"] = last_id.into();
        }
        self.append_upload_log(&log_code, &entry)?;
        Ok((
            json!({
                "ok": true,
                "accepted": out.accepted,
                "duplicates": out.duplicates,
                "superseded": out.superseded,
                "rejected": rejected,
                "rejectedCount": out.rejected,
                "serverTime": now,
            }),
            out,
        ))
    }

    /// Appends `entry` to unit `code`'s upload log (function 6) and syncs it.
    pub(crate) fn append_upload_log(&self, code: &str, entry: &Value) -> Result<(), ApiError> {
        let path = self.data.join("intake").join(format!("{code}.jsonl"));
        private_append(&path)
            .and_then(|mut f| {
                writeln!(f, "{entry}")?;
                f.sync_data()
            })
            .map_err(|e| internal("the upload log", e))
    }

    /// The platform's directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data
    }

    /// The point of `key` (`{enterprise}/{dataCode}`, `/d`...), defined from the unit's
    /// configuration item when it is new.
    pub(crate) fn point_for(
        &self,
        db: &Db,
        key: &str,
        code: &DataCode,
        item: Option<&ConfigItem>,
        stat_type: u8,
    ) -> meterdb::Result<PointId> {
        if let Some(id) = db.point_id(key) {
            return Ok(id);
        }
        let meta = if stat_type != STAT_REALTIME {
            // A received statistic is a value per bucket, not a register.
            meterdb::PointMeta::new(key, meterdb::PointKind::Gauge)
                .with_unit(code.energy.unit)
                .with_energy_type(code.energy.code)
                .with_tag("stat", stat_type.to_string())
        } else if let Some(cfg) = item.and_then(|i| i.to_collection_config().ok()) {
            let mut m = cfg.to_point_meta(None);
            m.key = key.to_string();
            m
        } else {
            code.meta(key.to_string())
        };
        match db.define_point(meta) {
            Ok(id) => Ok(id),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => db.point_id(key).ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// History: the buckets of one data item of a unit at a granularity, from the engine's
    /// rollup tiers, with their quality counts.
    pub fn history(&self, caller: &Caller, q: &HashMap<String, String>) -> Result<Value, ApiError> {
        let get = |k: &str| q.get(k).map(String::as_str);
        let ent = get("enterpriseCode").ok_or_else(|| bad("enterpriseCode= is required"))?;
        if let Err(e) = check_uscc(ent) {
            return Err(bad(format!("enterprise code {ent:?}: {e}")));
        }
        if !caller.may_read(ent) {
            return Err(forbidden(format!(
                "{} may not read unit {ent}",
                caller.who()
            )));
        }
        let code = get("dataCode").ok_or_else(|| bad("dataCode= is required"))?;
        DataCode::parse(code).map_err(|e| bad(format!("dataCode: {e}")))?;
        let g = get("granularity")
            .ok_or_else(|| bad("granularity= is required (minute, hour, day, month or year)"))?;
        let tier = Tier::parse(g).map_err(|_| {
            bad(format!(
                "granularity {g:?} is not minute, hour, day, month or year"
            ))
        })?;
        let (from, to) = time_range(get("from"), get("to"), 3660 * 10)?;
        let bucket_ms: i64 = match tier {
            Tier::Minute => 60_000,
            Tier::Hour => 3_600_000,
            Tier::Day => 86_400_000,
            Tier::Month => 28 * 86_400_000,
            _ => 365 * 86_400_000,
        };
        if (to - from) / bucket_ms > MAX_HISTORY_ROWS {
            return Err(bad(format!("more than {MAX_HISTORY_ROWS} buckets: narrow from/to or take a coarser granularity")));
        }
        let db = self.store()?;
        let key = format!("{ent}/{code}");
        let id = db
            .point_id(&key)
            .ok_or_else(|| ApiError::new(404, format!("no data of {code} for unit {ent}")))?;
        let meta = db.point(id);
        let rows = db
            .rollup(id, tier, from, to)
            .map_err(|e| internal("reading the tiers", e))?;
        let fmt = |ts: i64| format_datetime(ts);
        let rows: Vec<Value> = rows
            .iter()
            .map(|r| {
                let b = &r.bucket;
                let some = b.count > 0;
                json!({
                    "start": fmt(b.start),
                    "end": fmt(r.end),
                    "count": b.count,
                    "mean": r.mean,
                    "min": some.then_some(b.min),
                    "max": some.then_some(b.max),
                    "first": some.then_some(b.first),
                    "last": some.then_some(b.last),
                    "sum": some.then_some(b.sum),
                    "consumption": r.consumption,
                    "expected": r.expected,
                    "completeness": r.completeness,
                    "invalid": b.invalid,
                    "manual": b.manual,
                    "estimated": b.estimated,
                    "backward": b.backward,
                })
            })
            .collect();
        Ok(json!({
            "enterpriseCode": ent,
            "dataCode": code,
            "granularity": tier.as_str(),
            "unit": meta.map(|m| m.unit),
            "rows": rows,
        }))
    }

    /// Per day of `[from, to)`: unit `ent`'s consumption in kgce with the previous day's
    /// and the year before's (同比), in total and per energy type.
    pub fn daily(
        &self,
        caller: &Caller,
        ent: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Value, ApiError> {
        if let Err(e) = check_uscc(ent) {
            return Err(bad(format!("enterprise code {ent:?}: {e}")));
        }
        if !caller.may_read(ent) {
            return Err(forbidden(format!(
                "{} may not read unit {ent}",
                caller.who()
            )));
        }
        let db = self.store()?;
        let (from, to) = time_range(from, to, 400)?;
        let pts = self.consumption_points(db, ent);
        if pts.is_empty() {
            return Err(ApiError::new(404, format!("no consumption data of {ent}")));
        }
        let mut groups: Vec<(String, Vec<PointId>)> = Vec::new();
        for (e, id) in &pts {
            match groups.last_mut() {
                Some(g) if &g.0 == e => g.1.push(*id),
                _ => groups.push((e.clone(), vec![*id])),
            }
        }
        let all: Vec<PointId> = pts.iter().map(|p| p.1).collect();
        let total = db
            .compare(&all, Tier::Day, from, to, Some(CoalUnit::Kgce))
            .map_err(|e| internal("reading the tiers", e))?;
        let mut by_energy = Vec::new();
        for (e, ids) in &groups {
            let rows = db
                .compare(ids, Tier::Day, from, to, Some(CoalUnit::Kgce))
                .map_err(|e| internal("reading the tiers", e))?;
            by_energy.push((e, rows));
        }
        let days: Vec<Value> = total
            .iter()
            .filter(|r| r.start < to)
            .map(|r| {
                let energies: Vec<Value> = by_energy
                    .iter()
                    .filter_map(|(e, rows)| {
                        let x = rows.iter().find(|x| x.start == r.start)?;
                        Some(json!({
                            "energyType": e,
                            "name": crate::industry::energy_type(e).map(|t| t.name),
                            "kgce": x.value,
                            "yearAgoKgce": x.year_ago,
                            "yoyPct": x.year_change_pct,
                        }))
                    })
                    .collect();
                json!({
                    "date": format_stat_date(STAT_DAY, r.start),
                    "kgce": r.value,
                    "yearAgoKgce": r.year_ago,
                    "yoyPct": r.year_change_pct,
                    "previousDayKgce": r.previous,
                    "byEnergy": energies,
                })
            })
            .collect();
        Ok(json!({"enterpriseCode": ent, "unit": "kgce", "days": days}))
    }

    /// Industry indicators of unit `ent` per day of `[from, to)` and over the whole range,
    /// from the day tier: each indicator of the unit's sub-scope
    /// ([`crate::industry::Industry::indicators`]) is Σ numerator terms / Σ denominator terms
    /// over the unit's real-time points; a day counts only when every term has a
    /// consumption that day.
    pub fn indicators(
        &self,
        caller: &Caller,
        ent: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Value, ApiError> {
        let u = self.unit_for(caller, ent)?;
        let db = self.store()?;
        let (from, to) = time_range(from, to, 400)?;
        let industry = &u.enterprise().industry;
        let ind = Industry::parse(industry).map_err(|e| internal("the unit's industry", e))?;
        // The unit's real-time points stored, by sequence in their production unit.
        let mut by_seq: HashMap<u16, Vec<PointId>> = HashMap::new();
        for item in u.config_items() {
            let Ok(code) = DataCode::parse(&item.data_code) else {
                continue;
            };
            if ind.meter_index(&code).is_none() {
                continue;
            }
            if let Some(id) = db.point_id(&format!("{ent}/{}", item.data_code)) {
                by_seq.entry(code.seq()).or_default().push(id);
            }
        }
        let mut out = Vec::new();
        for def in ind.indicators() {
            let terms = def.numerator.len() + def.denominator.len();
            // Per day: (numerator, denominator, terms with a value).
            let mut days: std::collections::BTreeMap<i64, (f64, f64, usize)> = Default::default();
            let mut missing = Vec::new();
            for (side, list) in [(0, def.numerator), (1, def.denominator)] {
                for t in list {
                    let Some(ids) = by_seq.get(&t.seq) else {
                        missing.push(t.seq);
                        continue;
                    };
                    let rows = match t.quantity {
                        Quantity::Amount => db.rollup_sum(ids, Tier::Day, from, to),
                        Quantity::Kgce => db.coal_sum(ids, Tier::Day, from, to, CoalUnit::Kgce),
                    }
                    .map_err(|e| internal("reading the tiers", e))?;
                    for r in rows.iter().filter(|r| r.start >= from && r.start < to) {
                        if let Some(c) = r.consumption {
                            let d = days.entry(r.start).or_default();
                            if side == 0 {
                                d.0 += t.factor * c;
                            } else {
                                d.1 += t.factor * c;
                            }
                            d.2 += 1;
                        }
                    }
                }
            }
            let (mut num, mut den) = (0.0, 0.0);
            let rows: Vec<Value> = days
                .iter()
                .map(|(&start, &(n, d, k))| {
                    let whole = k == terms && d != 0.0;
                    if whole {
                        num += n;
                        den += d;
                    }
                    json!({
                        "date": format_stat_date(STAT_DAY, start),
                        "value": whole.then(|| n / d),
                        "numerator": (k == terms).then_some(n),
                        "denominator": (k == terms).then_some(d),
                    })
                })
                .collect();
            out.push(json!({
                "code": def.code,
                "name": def.name,
                "unit": def.unit,
                "value": (den != 0.0).then(|| num / den),
                "numerator": num,
                "denominator": den,
                "days": rows,
                "missingSeqs": missing,
            }));
        }
        Ok(json!({
            "enterpriseCode": ent,
            "industry": ind.sector(),
            "scope": ind.as_str(),
            "scopeName": ind.scope_name(),
            "from": format_stat_date(STAT_DAY, from),
            "to": format_stat_date(STAT_DAY, to),
            "indicators": out,
        }))
    }

    /// Units ranked by consumption in tce over `[from, to)` (operators and the national link).
    pub fn ranking(
        &self,
        caller: &Caller,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Value, ApiError> {
        if !matches!(caller, Caller::Operator { .. } | Caller::National { .. }) {
            return Err(forbidden(
                "only operators and the national platform read the ranking",
            ));
        }
        let db = self.store()?;
        let (from, to) = time_range(from, to, 400)?;
        let mut ents: Vec<String> = db
            .points(&PointFilter::default())
            .iter()
            .filter_map(|(_, m)| parse_key(&m.key).map(|k| k.0.to_string()))
            .collect();
        ents.sort();
        ents.dedup();
        let mut rows = Vec::new();
        for e in ents {
            let ids: Vec<PointId> = self
                .consumption_points(db, &e)
                .into_iter()
                .map(|p| p.1)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let r = db
                .coal_sum(&ids, Tier::Day, from, to, CoalUnit::Tce)
                .map_err(|e| internal("reading the tiers", e))?;
            rows.push((e, r.iter().filter_map(|x| x.consumption).sum::<f64>()));
        }
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let list: Vec<Value> = rows
            .iter()
            .enumerate()
            .map(|(i, (e, t))| json!({"rank": i + 1, "enterpriseCode": e, "tce": t}))
            .collect();
        Ok(
            json!({"from": format_stat_date(STAT_DAY, from), "to": format_stat_date(STAT_DAY, to), "unit": "tce", "ranking": list}),
        )
    }

    /// The platform's state (anyone), with the national backlog when there is an outbound
    /// queue.
    pub fn health(&self) -> Value {
        let mut v = json!({"ok": true, "role": self.role.as_str(), "serverTime": now_ms()});
        if let (Some(db), Some(o)) = (&self.db, &self.outbound) {
            v["national"] = o.health(db);
        }
        v
    }

    /// The outbound queue, if this platform keeps one.
    pub fn outbound(&self) -> Option<&Outbound> {
        self.outbound.as_ref()
    }

    fn outbound_for(&self, caller: &Caller) -> Result<(&Db, &Outbound), ApiError> {
        if !matches!(caller, Caller::Frontend { .. }) {
            return Err(forbidden("only the front-end reads the outbound queue"));
        }
        match (&self.db, &self.outbound) {
            (Some(db), Some(o)) => Ok((db, o)),
            _ => Err(ApiError::new(
                404,
                "this platform keeps no outbound queue (serve --outbound)",
            )),
        }
    }

    /// `GET /api/v1/outbound?max=N`: the next batch for the national platform (the front-end
    /// only): `{"records": [...], "firstId", "lastId", "changes", "again"}`; `lastId` null
    /// when there is nothing to deliver.
    pub fn outbound_batch(&self, caller: &Caller, max: Option<&str>) -> Result<Value, ApiError> {
        let (db, o) = self.outbound_for(caller)?;
        let max = match max {
            None => 5000,
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|&m| (1..=MAX_OUTBOUND_BATCH).contains(&m))
                .ok_or_else(|| bad(format!("max={m}: give 1..={MAX_OUTBOUND_BATCH}")))?,
        };
        let b = o
            .next_batch(db, max)
            .map_err(|e| internal("reading the outbound queue", e))?;
        let now = now_ms();
        let records: Vec<Value> = b.records.iter().map(|r| r.to_json(now)).collect();
        Ok(json!({
            "records": records,
            "firstId": b.ids.map(|i| i.0),
            "lastId": b.ids.map(|i| i.1),
            "changes": b.changes,
            "again": b.again,
        }))
    }

    /// `POST /api/v1/outbound/ack` with `{"lastId": N}`: the front-end delivered the batch.
    pub fn outbound_ack(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let (db, o) = self.outbound_for(caller)?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Ack {
            last_id: u64,
        }
        let a: Ack = serde_json::from_slice(body)
            .map_err(|e| bad(format!("the body must be {{\"lastId\": N}}: {e}")))?;
        let fresh = o.ack(db, a.last_id).map_err(|e| ApiError::new(409, e))?;
        Ok(json!({"ok": true, "acknowledged": fresh}))
    }

    /// The consumption registers of a unit, by energy type.
    fn consumption_points(&self, db: &Db, ent: &str) -> Vec<(String, PointId)> {
        let f = PointFilter {
            key_prefix: Some(format!("{ent}/")),
            ..Default::default()
        };
        let mut out: Vec<(String, PointId)> = db
            .points(&f)
            .into_iter()
            .filter_map(|(id, m)| {
                let (_, code, st) = parse_key(&m.key)?;
                let c = DataCode::parse(code).ok()?;
                (st == STAT_REALTIME
                    && c.measure == Measure::Consumption
                    && c.energy.kgce_per_unit > 0.0)
                    .then(|| (c.energy.code.to_string(), id))
            })
            .collect();
        out.sort();
        out
    }
}

fn point_key(r: &Record) -> String {
    match r.stat_type {
        STAT_REALTIME => format!("{}/{}", r.enterprise, r.data_code),
        STAT_DAY => format!("{}/{}/d", r.enterprise, r.data_code),
        STAT_MONTH => format!("{}/{}/m", r.enterprise, r.data_code),
        _ => format!("{}/{}/y", r.enterprise, r.data_code),
    }
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn an_error_naming_the_platforms_directory_is_not_told_to_the_client() {
        let d = tempfile::tempdir().unwrap();
        let _p = Platform::open(&Config {
            data: d.path().join("p"),
            role: Role::Provincial,
            no_store: true,
            outbound: None,
        })
        .unwrap();
        let path = d.path().join("p/registry/units/X.json");
        let e = ApiError::new(400, format!("writing {}: disk full", path.display())).scrubbed();
        assert_eq!(e.status, 503);
        assert!(!e.message.contains(d.path().to_str().unwrap()));
        let ok = ApiError::new(400, "dataCode: not 16 digits").scrubbed();
        assert_eq!(ok.status, 400);
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use crate::api::{standard_config, EnterpriseInfo};
    use crate::industry::uscc_with_check;
    use crate::records::to_body;

    /// The `uploadDate` window is on by default (24 h either way) and configurable: a
    /// request uploaded 25 hours ago is refused, one of 23 hours ago (late data) is taken;
    /// 0 turns the check off.
    #[test]
    fn the_upload_date_window_is_on_by_default() {
        let d = tempfile::tempdir().unwrap();
        let p = Platform::open(&Config {
            data: d.path().join("p"),
            role: Role::Provincial,
            no_store: false,
            outbound: None,
        })
        .unwrap();
        let ent = uscc_with_check("91350100MA2WD0001").unwrap();
        let items = standard_config(Industry::Steel, 7, 60_000);
        p.registry()
            .add_unit(
                EnterpriseInfo {
                    enterprise_code: ent.clone(),
                    name: "plant".into(),
                    region_code: "350100".into(),
                    industry: "steel".into(),
                    industry_code: Industry::Steel.classification().into(),
                },
                items.clone(),
            )
            .unwrap();
        let token = p.registry().enroll_and_register(&ent, "SN").unwrap().token;
        let caller = p.authenticate(Some(&format!("Bearer {token}"))).unwrap();
        let rec = |i: i64| Record {
            enterprise: ent.clone(),
            data_code: items[0].data_code.clone(),
            value: i as f64,
            input_type: 1,
            stat_type: STAT_REALTIME,
            stat_ts: parse_date("2026-01-01").unwrap() + i * 60_000,
            valid: true,
            id: Some(i as u64 + 1),
            revision: None,
            corrected: false,
        };
        let hour = 3_600_000;
        let send = |i: i64, upload: i64| {
            let (v, _) = p
                .ingest(&caller, to_body(&[rec(i)], upload).as_bytes())
                .unwrap();
            v
        };
        let v = send(0, now_ms() - 25 * hour);
        assert_eq!(v["accepted"], 0, "{v}");
        assert_eq!(v["rejected"][0]["field"], "uploadDate", "{v}");
        let v = send(0, now_ms() + 25 * hour);
        assert_eq!(v["rejected"][0]["field"], "uploadDate", "{v}");
        assert_eq!(send(1, now_ms() - 23 * hour)["accepted"], 1);
        p.set_upload_window(0);
        assert_eq!(send(2, now_ms() - 25 * hour)["accepted"], 1);
    }
}
