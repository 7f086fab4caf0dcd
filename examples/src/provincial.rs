//! The provincial platform (and, with [`Role::National`], the national one): receives the
//! gateways' uploads over HTTP, checks every record, stores the good ones in MeterDB,
//! answers queries, forwards the day statistics to the national platform through its own
//! cursor, and writes an access log of every request.
//!
//! Storage: one point per enterprise and data code, `{enterprise}/{dataCode}`, holding the
//! real-time samples; received statistics go to `{enterprise}/{dataCode}/d` (day), `/m`,
//! `/y`, one sample per bucket at its start. A sender's highest change id stored is kept in
//! the point `_hwm/{sender}`, written in the same atomic batch as the records, so that a
//! record sent again (at-least-once) is recognised and dropped even after a restart.
//!
//! Tokens: `{data}/tokens` holds one line per sender: code, a random salt and
//! SHA-256(salt || token), in hex. The token itself is never stored.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use meterdb::{
    Change, ChangeKind, CoalUnit, Db, ErrorKind, Options, PointFilter, PointId, Tier, WriteBatch,
};
use parking_lot_shim::{Mutex, RwLock};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::industry::{check_uscc, DataCode, Measure};
use crate::records::{
    check, format_stat_date, input_type_of, parse_date, quality_of, Record, STAT_DAY, STAT_MONTH,
    STAT_REALTIME,
};
use crate::upload::{now_ms, Destination};

/// `std::sync` locks that ignore poisoning (a panicking request thread must not take the
/// whole platform down with it).
mod parking_lot_shim {
    /// A mutex.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub fn new(t: T) -> Self {
            Mutex(std::sync::Mutex::new(t))
        }
        pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
    /// A read-write lock.
    #[derive(Debug, Default)]
    pub struct RwLock<T>(std::sync::RwLock<T>);
    impl<T> RwLock<T> {
        pub fn new(t: T) -> Self {
            RwLock(std::sync::RwLock::new(t))
        }
        pub fn read(&self) -> std::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(|e| e.into_inner())
        }
        pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(|e| e.into_inner())
        }
    }
}

/// Which platform this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts each enterprise's own records only (the record's `enterpriseCode` must be
    /// the authenticated sender's).
    Provincial,
    /// Accepts records of any enterprise from an authenticated sender (a province).
    National,
}

/// How a platform is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the database, the token file and the access log.
    pub data: PathBuf,
    /// Provincial or national.
    pub role: Role,
    /// Parse and check uploads, but store nothing (the intake benchmark's baseline).
    pub no_store: bool,
    /// Where to forward day statistics: (URL, token, this platform's sender code).
    pub national: Option<(String, String, String)>,
}

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 << 20;

/// A reply: HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Value,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply { status, body }
}

fn error(status: u16, msg: impl Into<String>) -> Reply {
    reply(status, json!({"ok": false, "error": msg.into()}))
}

/// The salted token hashes of `{data}/tokens`.
#[derive(Debug, Default)]
struct Tokens(HashMap<String, ([u8; 16], [u8; 32])>);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn token_hash(salt: &[u8; 16], token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(token.as_bytes());
    h.finalize().into()
}

impl Tokens {
    fn load(path: &Path) -> std::io::Result<Tokens> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut map = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            match (
                f.as_slice(),
                f.get(1).and_then(|s| unhex(s)),
                f.get(2).and_then(|s| unhex(s)),
            ) {
                ([code, _, _], Some(salt), Some(hash)) => {
                    map.insert(code.to_string(), (salt, hash));
                }
                _ => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: line {} is not `code salt hash`", path.display(), n + 1),
                    ))
                }
            }
        }
        Ok(Tokens(map))
    }

    fn verify(&self, code: &str, token: &str) -> bool {
        let Some((salt, want)) = self.0.get(code) else {
            return false;
        };
        let got = token_hash(salt, token);
        // Constant time in the token.
        got.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
    }
}

/// Registers (or replaces) the token of `code` in `{data}/tokens`: stored as a random salt
/// and SHA-256(salt || token), never the token itself. The file is replaced atomically.
pub fn add_token(data: &Path, code: &str, token: &str) -> Result<(), String> {
    if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("sender code {code:?}: 1..=64 letters or digits"));
    }
    if token.len() < 16 {
        return Err("a token must have at least 16 characters".into());
    }
    std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let path = data.join("tokens");
    let mut t = Tokens::load(&path).map_err(|e| e.to_string())?;
    let mut salt = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    t.0.insert(code.to_string(), (salt, token_hash(&salt, token)));
    let mut codes: Vec<_> = t.0.iter().collect();
    codes.sort_by(|a, b| a.0.cmp(b.0));
    let text: String = codes
        .iter()
        .map(|(c, (s, h))| format!("{c} {} {}\n", hex(s), hex(h)))
        .collect();
    let tmp = data.join("tokens.tmp");
    (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(data)?.sync_all()
    })()
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// A random token (32 hex digits).
pub fn random_token() -> Result<String, String> {
    let mut b = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(hex(&b))
}

/// What a request did, for the access log.
#[derive(Debug, Default)]
struct Outcome {
    who: Option<String>,
    records: usize,
    accepted: usize,
    rejected: usize,
    duplicates: usize,
    superseded: usize,
}

/// A platform.
#[derive(Debug)]
pub struct Platform {
    db: Option<Db>,
    role: Role,
    tokens: RwLock<Tokens>,
    token_path: PathBuf,
    log: Mutex<File>,
    /// Per sender: the highest change id stored, behind its own lock (a sender's requests
    /// are applied one at a time).
    hwm: Mutex<HashMap<String, Arc<Mutex<u64>>>>,
    stop: AtomicBool,
}

/// The key suffix of a statistic type.
fn suffix(stat_type: u8) -> &'static str {
    match stat_type {
        STAT_DAY => "d",
        STAT_MONTH => "m",
        _ => "y",
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

/// (enterprise, data code, stat type) of a point key.
fn parse_key(key: &str) -> Option<(&str, &str, u8)> {
    let mut it = key.split('/');
    let (e, c) = (it.next()?, it.next()?);
    let st = match it.next() {
        None => STAT_REALTIME,
        Some("d") => STAT_DAY,
        Some("m") => STAT_MONTH,
        Some("y") => crate::records::STAT_YEAR,
        Some(_) => return None,
    };
    (e.len() == 18 && it.next().is_none()).then_some((e, c, st))
}

/// The revision stored for the statistic at `ts` in its revision point `_rev/{key}`, and
/// whether it replaced an earlier one (the sample's value is `revision * 2 + corrected`).
fn stored_revision(db: &Db, rid: PointId, ts: i64) -> meterdb::Result<Option<(u64, bool)>> {
    let c = db.read_range(rid, ts, ts + 1)?;
    Ok(c.values.first().map(|&v| {
        let v = v as u64;
        (v >> 1, v & 1 == 1)
    }))
}

/// What a point of the platform's database holds, for forwarding.
#[derive(Clone, Debug)]
enum Held {
    /// Samples or a statistic of (enterprise, data code, stat type).
    Data(String, String, u8),
    /// The revisions of the statistic point.
    Revisions(PointId),
    /// Bookkeeping.
    Other,
}

impl Platform {
    /// Opens the platform's database, token file and access log in `cfg.data`.
    pub fn open(cfg: &Config) -> Result<Platform, String> {
        std::fs::create_dir_all(&cfg.data).map_err(|e| format!("{}: {e}", cfg.data.display()))?;
        let token_path = cfg.data.join("tokens");
        let tokens = Tokens::load(&token_path).map_err(|e| e.to_string())?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.data.join("access.log"))
            .map_err(|e| format!("access log: {e}"))?;
        let db = if cfg.no_store {
            None
        } else {
            Some(Db::open(cfg.data.join("db"), Options::default()).map_err(|e| e.to_string())?)
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
            tokens: RwLock::new(tokens),
            token_path,
            log: Mutex::new(log),
            hwm: Mutex::new(hwm),
            stop: AtomicBool::new(false),
        })
    }

    /// The database (`None` with `no_store`).
    pub fn db(&self) -> Option<&Db> {
        self.db.as_ref()
    }

    fn authenticate(&self, auth: Option<&str>, sender: Option<&str>) -> Result<String, Reply> {
        let (Some(auth), Some(sender)) = (auth, sender) else {
            return Err(error(
                401,
                "authenticate with `Authorization: Bearer TOKEN` and `X-Enterprise-Code: CODE`",
            ));
        };
        let Some(token) = auth.strip_prefix("Bearer ") else {
            return Err(error(
                401,
                "the Authorization header must be `Bearer TOKEN`",
            ));
        };
        if self.tokens.read().verify(sender, token) {
            return Ok(sender.to_string());
        }
        // A token registered since start-up: read the file again once.
        if let Ok(t) = Tokens::load(&self.token_path) {
            let ok = t.verify(sender, token);
            *self.tokens.write() = t;
            if ok {
                return Ok(sender.to_string());
            }
        }
        Err(error(
            401,
            format!("unknown sender or wrong token for {sender:?}"),
        ))
    }

    /// Handles one request and writes it to the access log.
    pub fn handle(
        &self,
        method: &str,
        url: &str,
        auth: Option<&str>,
        sender: Option<&str>,
        body: &[u8],
        remote: &str,
    ) -> Reply {
        let mut out = Outcome::default();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let r = match (method, path) {
            ("POST", "/api/upload") => match self.authenticate(auth, sender) {
                Ok(who) => {
                    out.who = Some(who.clone());
                    self.upload(&who, body, &mut out)
                }
                Err(r) => {
                    out.who = sender.map(|s| format!("{s}?"));
                    r
                }
            },
            ("GET", "/api/health") => reply(200, json!({"ok": true, "serverTime": now_ms()})),
            ("GET", "/api/units") => self.units(),
            ("GET", "/api/ranking") => self.ranking(query),
            ("GET", p) => match p
                .strip_prefix("/api/units/")
                .and_then(|x| x.strip_suffix("/daily"))
            {
                Some(code) => self.daily(code, query),
                None => error(404, format!("no endpoint {method} {path}")),
            },
            _ => error(404, format!("no endpoint {method} {path}")),
        };
        let line = json!({
            "t": now_ms(),
            "remote": remote,
            "who": out.who.as_deref().unwrap_or("-"),
            "method": method,
            "path": path,
            "status": r.status,
            "records": out.records,
            "accepted": out.accepted,
            "rejected": out.rejected,
            "duplicates": out.duplicates,
            "superseded": out.superseded,
        });
        let mut f = self.log.lock();
        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.sync_data()) {
            eprintln!("access log: {e}");
            // A request that cannot be logged is not served.
            return error(503, format!("access log: {e}"));
        }
        r
    }

    fn point_for(
        &self,
        db: &Db,
        key: &str,
        code: &DataCode,
        stat_type: u8,
    ) -> meterdb::Result<PointId> {
        if let Some(id) = db.point_id(key) {
            return Ok(id);
        }
        let mut meta = code.meta(key.to_string());
        if stat_type != STAT_REALTIME {
            // A received statistic is a value per bucket, not a register.
            meta = meterdb::PointMeta::new(key, meterdb::PointKind::Gauge)
                .with_unit(code.energy.unit)
                .with_energy_type(code.energy.code)
                .with_tag("stat", stat_type.to_string());
        }
        match db.define_point(meta) {
            Ok(id) => Ok(id),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => db.point_id(key).ok_or(e),
            Err(e) => Err(e),
        }
    }

    fn upload(&self, who: &str, body: &[u8], out: &mut Outcome) -> Reply {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return error(400, format!("the body is not JSON: {e}")),
        };
        let Value::Array(items) = v else {
            return error(400, "the body must be a JSON array of records");
        };
        out.records = items.len();
        let hwm = self.hwm.lock().entry(who.to_string()).or_default().clone();
        let mut hwm = hwm.lock();
        let mut rejected = Vec::new();
        let mut good = Vec::with_capacity(items.len());
        let mut top = *hwm;
        let mut duplicates = 0;
        let mut superseded = 0;
        for (i, item) in items.iter().enumerate() {
            match check(item) {
                Err(e) => rejected.push(json!({
                    "index": i,
                    "dataCode": item.get("dataCode"),
                    "field": e.field,
                    "reason": e.reason,
                })),
                Ok(c) if self.role == Role::Provincial && c.record.enterprise != who => {
                    rejected.push(json!({
                        "index": i,
                        "dataCode": item.get("dataCode"),
                        "field": "enterpriseCode",
                        "reason": format!("{} is not the authenticated enterprise {who}", c.record.enterprise),
                    }))
                }
                Ok(c) => match c.record.id {
                    Some(id) if id <= *hwm && *hwm > 0 => duplicates += 1,
                    _ => {
                        top = top.max(c.record.id.unwrap_or(0));
                        good.push(c);
                    }
                },
            }
        }
        if let Some(db) = &self.db {
            let mut batch = WriteBatch::with_capacity(good.len() + 1);
            // Revisions stored by this request, per (revision point, period).
            let mut revs: HashMap<(PointId, i64), u64> = HashMap::new();
            let mut last_key = String::new();
            let mut last_id = 0;
            for c in &good {
                let key = point_key(&c.record);
                if key != last_key {
                    last_id = match self.point_for(db, &key, &c.code, c.record.stat_type) {
                        Ok(id) => id,
                        Err(e) => return error(503, format!("storing {key}: {e}")),
                    };
                    last_key = key;
                }
                let r = &c.record;
                if r.stat_type != STAT_REALTIME {
                    // The statistic of the highest revision is kept: an older one arriving
                    // later is not stored.
                    let rkey = format!("_rev/{last_key}");
                    let rid = match db
                        .point_id(&rkey)
                        .map(Ok)
                        .unwrap_or_else(|| db.ensure_point(&rkey))
                    {
                        Ok(id) => id,
                        Err(e) => return error(503, format!("storing {rkey}: {e}")),
                    };
                    let stored = match revs.get(&(rid, r.stat_ts)) {
                        Some(&x) => Some(x),
                        None => match stored_revision(db, rid, r.stat_ts) {
                            Ok(x) => x.map(|x| x.0),
                            Err(e) => return error(503, format!("reading {rkey}: {e}")),
                        },
                    };
                    let rev = r.revision.unwrap_or(0);
                    if stored.is_some_and(|s| rev < s) {
                        superseded += 1;
                        continue;
                    }
                    revs.insert((rid, r.stat_ts), rev);
                    let corrected = r.corrected || stored.is_some();
                    // Before the statistic, so that a forwarder reads it first.
                    batch.put(rid, r.stat_ts, (rev * 2 + u64::from(corrected)) as f64);
                }
                batch.put_with_quality(
                    last_id,
                    r.stat_ts,
                    r.value,
                    quality_of(r.valid, r.input_type),
                );
            }
            if top > *hwm {
                let key = format!("_hwm/{who}");
                let id = match db
                    .point_id(&key)
                    .map(Ok)
                    .unwrap_or_else(|| db.ensure_point(&key))
                {
                    Ok(id) => id,
                    Err(e) => return error(503, format!("storing {key}: {e}")),
                };
                batch.put(id, 0, top as f64);
            }
            if let Err(e) = db.write(&batch) {
                return error(503, format!("storing the records: {e}"));
            }
        }
        *hwm = top;
        out.accepted = good.len() - superseded;
        out.rejected = rejected.len();
        out.duplicates = duplicates;
        out.superseded = superseded;
        reply(
            200,
            json!({
                "ok": true,
                "accepted": good.len() - superseded,
                "duplicates": duplicates,
                "superseded": superseded,
                "rejected": rejected,
                "serverTime": now_ms(),
            }),
        )
    }

    fn units(&self) -> Reply {
        let Some(db) = &self.db else {
            return error(503, "this platform stores nothing (--no-store)");
        };
        let mut units: HashMap<&str, usize> = HashMap::new();
        let pts = db.points(&PointFilter::default());
        for (_, m) in &pts {
            if let Some((e, _, STAT_REALTIME)) = parse_key(&m.key) {
                *units.entry(e).or_default() += 1;
            }
        }
        let mut list: Vec<_> = units.into_iter().collect();
        list.sort();
        reply(
            200,
            json!({"units": list.iter().map(|(e, n)| json!({"enterpriseCode": e, "points": n})).collect::<Vec<_>>()}),
        )
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

    fn range(query: &str) -> Result<(i64, i64), Reply> {
        let mut from = None;
        let mut to = None;
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("from", v)) => from = Some(v),
                Some(("to", v)) => to = Some(v),
                _ => {}
            }
        }
        let (Some(f), Some(t)) = (from, to) else {
            return Err(error(
                400,
                "give from=yyyy-MM-dd&to=yyyy-MM-dd (to exclusive)",
            ));
        };
        let f = parse_date(f).map_err(|e| error(400, format!("from: {e}")))?;
        let t = parse_date(t).map_err(|e| error(400, format!("to: {e}")))?;
        if t <= f || t - f > 400 * 86_400_000 {
            return Err(error(
                400,
                "`to` must be after `from`, at most 400 days later",
            ));
        }
        Ok((f, t))
    }

    fn daily(&self, ent: &str, query: &str) -> Reply {
        let Some(db) = &self.db else {
            return error(503, "this platform stores nothing (--no-store)");
        };
        if let Err(e) = check_uscc(ent) {
            return error(400, format!("enterprise code {ent:?}: {e}"));
        }
        let (from, to) = match Self::range(query) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let pts = self.consumption_points(db, ent);
        if pts.is_empty() {
            return error(404, format!("no consumption data of {ent}"));
        }
        let mut groups: Vec<(String, Vec<PointId>)> = Vec::new();
        for (e, id) in &pts {
            match groups.last_mut() {
                Some(g) if &g.0 == e => g.1.push(*id),
                _ => groups.push((e.clone(), vec![*id])),
            }
        }
        let all: Vec<PointId> = pts.iter().map(|p| p.1).collect();
        let total = match db.compare(&all, Tier::Day, from, to, Some(CoalUnit::Kgce)) {
            Ok(t) => t,
            Err(e) => return error(500, e.to_string()),
        };
        let mut by_energy = Vec::new();
        for (e, ids) in &groups {
            match db.compare(ids, Tier::Day, from, to, Some(CoalUnit::Kgce)) {
                Ok(rows) => by_energy.push((e, rows)),
                Err(e) => return error(500, e.to_string()),
            }
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
        reply(
            200,
            json!({"enterpriseCode": ent, "unit": "kgce", "days": days}),
        )
    }

    fn ranking(&self, query: &str) -> Reply {
        let Some(db) = &self.db else {
            return error(503, "this platform stores nothing (--no-store)");
        };
        let (from, to) = match Self::range(query) {
            Ok(r) => r,
            Err(r) => return r,
        };
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
            match db.coal_sum(&ids, Tier::Day, from, to, CoalUnit::Tce) {
                Ok(r) => {
                    let t: f64 = r.iter().filter_map(|x| x.consumption).sum();
                    rows.push((e, t));
                }
                Err(e) => return error(500, e.to_string()),
            }
        }
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let list: Vec<Value> = rows
            .iter()
            .enumerate()
            .map(|(i, (e, t))| json!({"rank": i + 1, "enterpriseCode": e, "tce": t}))
            .collect();
        reply(
            200,
            json!({"from": format_stat_date(STAT_DAY, from), "to": format_stat_date(STAT_DAY, to), "unit": "tce", "ranking": list}),
        )
    }

    /// Forwards the received statistics (day, month, year) to the national platform through
    /// the cursor of `dest`, until [`Platform::stop`]; returns when stopped.
    pub fn forward_loop(&self, dest: &mut Destination, every: Duration) {
        let Some(db) = &self.db else { return };
        let mut held: Vec<Option<Held>> = Vec::new();
        // Revisions read from the change stream (each is written just before its statistic,
        // in the same batch), per (statistic point, period).
        let mut revs: HashMap<(PointId, i64), f64> = HashMap::new();
        while !self.stop.load(Ordering::Acquire) {
            let mut map = |c: &Change| -> Option<Record> {
                if c.kind != ChangeKind::Sample {
                    return None;
                }
                let i = c.point as usize;
                if held.len() <= i {
                    held.resize(i + 1, None);
                }
                if held[i].is_none() {
                    let m = db.point(c.point)?;
                    held[i] = Some(match m.key.strip_prefix("_rev/") {
                        Some(k) => db.point_id(k).map_or(Held::Other, Held::Revisions),
                        None => parse_key(&m.key).map_or(Held::Other, |(e, d, s)| {
                            Held::Data(e.to_string(), d.to_string(), s)
                        }),
                    });
                }
                let (e, d, s) = match held[i].as_ref()? {
                    Held::Revisions(p) => {
                        revs.insert((*p, c.ts), c.value);
                        return None;
                    }
                    Held::Other => return None,
                    Held::Data(e, d, s) => (e, d, *s),
                };
                if s == STAT_REALTIME {
                    return None;
                }
                let rev = revs.remove(&(c.point, c.ts)).map(|v| v as u64).or_else(|| {
                    let rid = db.point_id(&format!("_rev/{e}/{d}/{}", suffix(s)))?;
                    stored_revision(db, rid, c.ts)
                        .ok()?
                        .map(|(r, k)| r * 2 + u64::from(k))
                });
                Some(Record {
                    enterprise: e.clone(),
                    data_code: d.clone(),
                    value: c.value,
                    input_type: input_type_of(c.quality),
                    stat_type: s,
                    stat_ts: c.ts,
                    valid: meterdb::Quality(c.quality).is_valid(),
                    id: Some(c.id),
                    revision: rev.map(|r| r >> 1),
                    corrected: rev.is_some_and(|r| r & 1 == 1),
                })
            };
            if let Err(e) = dest.send_changes(db, now_ms(), &mut map) {
                eprintln!("forwarding: {e}");
            }
            std::thread::sleep(every);
        }
    }

    /// Asks [`Platform::forward_loop`] to return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A running HTTP server.
pub struct Running {
    server: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish()
    }
}

impl Running {
    /// Stops accepting requests and waits for the worker threads.
    pub fn stop(self) {
        for _ in &self.threads {
            self.server.unblock();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn header<'a>(req: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Serves `platform` on `addr` with `threads` worker threads.
pub fn serve(platform: Arc<Platform>, addr: &str, threads: usize) -> Result<Running, String> {
    let server =
        Arc::new(tiny_http::Server::http(addr).map_err(|e| format!("listen on {addr}: {e}"))?);
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| "not an IP listener".to_string())?;
    let threads = (0..threads.max(1))
        .map(|_| {
            let (server, platform) = (server.clone(), platform.clone());
            std::thread::spawn(move || {
                while let Ok(mut req) = server.recv() {
                    let remote = req.remote_addr().map(|a| a.to_string()).unwrap_or_default();
                    let mut body = Vec::new();
                    let too_big = req.body_length().is_some_and(|n| n > MAX_BODY);
                    let r = if too_big
                        || req
                            .as_reader()
                            .take(MAX_BODY as u64 + 1)
                            .read_to_end(&mut body)
                            .is_err()
                        || body.len() > MAX_BODY
                    {
                        error(413, format!("the body must be at most {MAX_BODY} bytes"))
                    } else {
                        platform.handle(
                            &req.method().to_string(),
                            req.url(),
                            header(&req, "Authorization"),
                            header(&req, "X-Enterprise-Code"),
                            &body,
                            &remote,
                        )
                    };
                    let resp = tiny_http::Response::from_string(r.body.to_string())
                        .with_status_code(r.status)
                        .with_header(
                            tiny_http::Header::from_bytes(
                                &b"Content-Type"[..],
                                &b"application/json"[..],
                            )
                            .expect("a valid header"),
                        );
                    let _ = req.respond(resp);
                }
            })
        })
        .collect();
    Ok(Running {
        server,
        threads,
        addr: local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::industry::{uscc_with_check, Industry, Plant};

    const TOKEN: &str = "unit-test-token-0123456789";

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("meterdb-prov-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn cfg(dir: &Path) -> Config {
        Config {
            data: dir.to_path_buf(),
            role: Role::Provincial,
            no_store: false,
            national: None,
        }
    }

    /// Real-time records of a plant's days `[from, from + days)`, ids from `id0`.
    fn records(p: &Plant, from: i64, days: i64, id0: u64) -> Vec<Record> {
        let mut id = id0;
        let mut out = Vec::new();
        for (m, s) in p
            .meters
            .iter()
            .zip(p.samples(from, from + days * 86_400_000))
        {
            for (ts, v) in s {
                id += 1;
                out.push(Record {
                    enterprise: p.enterprise.clone(),
                    data_code: m.code.text(),
                    value: v,
                    input_type: 1,
                    stat_type: STAT_REALTIME,
                    stat_ts: ts,
                    valid: true,
                    id: Some(id),
                    revision: None,
                    corrected: false,
                });
            }
        }
        out
    }

    fn post(p: &Platform, ent: &str, token: &str, body: &str) -> Reply {
        p.handle(
            "POST",
            "/api/upload",
            Some(&format!("Bearer {token}")),
            Some(ent),
            body.as_bytes(),
            "test",
        )
    }

    #[test]
    fn tokens_are_hashed_duplicates_dropped_after_restart_and_bad_records_named() {
        let dir = tmp("dup");
        let ent = uscc_with_check("91350100MA2D00001").unwrap();
        add_token(&dir, &ent, TOKEN).unwrap();
        let file = std::fs::read_to_string(dir.join("tokens")).unwrap();
        assert!(!file.contains(TOKEN) && file.starts_with(&ent));
        let start = parse_date("2026-01-01").unwrap();
        let plant = Plant::new(Industry::Power, &ent, 3, 7, start, 900_000, 1);
        let recs = records(&plant, start, 1, 0);
        let body = crate::records::to_body(&recs, start);
        {
            let p = Platform::open(&cfg(&dir)).unwrap();
            assert_eq!(post(&p, &ent, "wrong-token-0123456789", &body).status, 401);
            assert_eq!(post(&p, &ent, TOKEN, "{\"a\":1}").status, 400);
            let r = post(&p, &ent, TOKEN, &body);
            assert_eq!(r.body["accepted"], recs.len());
        }
        // After a restart, the same records are duplicates; a bad one is named.
        let p = Platform::open(&cfg(&dir)).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v[3]["statDate"] = "2026-01-01 25:00:00".into();
        let r = post(&p, &ent, TOKEN, &v.to_string());
        assert_eq!(r.status, 200);
        assert_eq!(r.body["accepted"], 0);
        assert_eq!(r.body["duplicates"], recs.len() - 1);
        assert_eq!(r.body["rejected"][0]["index"], 3);
        assert_eq!(r.body["rejected"][0]["field"], "statDate");
        // Another enterprise's record, with this enterprise's token: refused.
        let other = uscc_with_check("91350100MA2D00002").unwrap();
        let mut r0 = recs[0].clone();
        r0.enterprise = other;
        r0.id = Some(1 << 40);
        let r = post(&p, &ent, TOKEN, &crate::records::to_body(&[r0], start));
        assert_eq!(r.body["rejected"][0]["field"], "enterpriseCode");
        let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
        assert_eq!(log.lines().count(), 5, "one line per request");
        assert!(log.lines().next().unwrap().contains("\"status\":401"));
        drop(p);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn daily_consumption_with_year_over_year_and_ranking() {
        let dir = tmp("yoy");
        let a = uscc_with_check("91350100MA2Y00001").unwrap();
        let b = uscc_with_check("91350100MA2Y00002").unwrap();
        add_token(&dir, &a, TOKEN).unwrap();
        add_token(&dir, &b, TOKEN).unwrap();
        let p = Platform::open(&cfg(&dir)).unwrap();
        let last_year = parse_date("2025-01-01").unwrap();
        let this_year = parse_date("2026-01-01").unwrap();
        let small = Plant::new(Industry::Power, &a, 1, 7, last_year, 900_000, 400);
        let big = Plant::new(Industry::Steel, &b, 2, 21, this_year, 900_000, 3);
        let body = |p: &Plant, from: i64, id0: u64| {
            crate::records::to_body(&records(p, from, 3, id0), from)
        };
        assert_eq!(post(&p, &a, TOKEN, &body(&small, last_year, 0)).status, 200);
        assert_eq!(
            post(&p, &a, TOKEN, &body(&small, this_year, 1 << 30)).status,
            200
        );
        assert_eq!(post(&p, &b, TOKEN, &body(&big, this_year, 0)).status, 200);
        let r = p.handle(
            "GET",
            &format!("/api/units/{a}/daily?from=2026-01-01&to=2026-01-03"),
            None,
            None,
            b"",
            "t",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let days = r.body["days"].as_array().unwrap();
        assert_eq!(days.len(), 2);
        for d in days {
            let (now, then) = (
                d["kgce"].as_f64().unwrap(),
                d["yearAgoKgce"].as_f64().unwrap(),
            );
            assert!(now > 0.0 && then > 0.0);
            let pct = d["yoyPct"].as_f64().unwrap();
            assert!(((now - then) / then * 100.0 - pct).abs() < 1e-9);
            let sum: f64 = d["byEnergy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kgce"].as_f64().unwrap())
                .sum();
            assert!((sum - now).abs() < 1e-6 * now);
        }
        let r = p.handle(
            "GET",
            "/api/ranking?from=2026-01-01&to=2026-01-03",
            None,
            None,
            b"",
            "t",
        );
        let rk = r.body["ranking"].as_array().unwrap();
        assert_eq!(rk.len(), 2);
        assert_eq!(
            rk[0]["enterpriseCode"],
            b.as_str(),
            "the steel works consumes more"
        );
        assert!(rk[0]["tce"].as_f64() > rk[1]["tce"].as_f64());
        let r = p.handle(
            "GET",
            "/api/ranking?from=2026-01-03&to=2026-01-01",
            None,
            None,
            b"",
            "t",
        );
        assert_eq!(r.status, 400);
        let r = p.handle(
            "GET",
            "/api/units/123/daily?from=2026-01-01&to=2026-01-03",
            None,
            None,
            b"",
            "t",
        );
        assert_eq!(r.status, 400);
        // Paths that only look like a query: answered, never a panic.
        for path in [
            "/api/units/daily",
            "/api/units//daily",
            "/api/unitsdaily",
            "/x",
        ] {
            let r = p.handle("GET", path, None, None, b"", "t");
            assert!(r.status == 404 || r.status == 400, "{path}: {}", r.status);
        }
        drop(p);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
