//! A gateway's side of the `/api/v1/` contract: registering with a platform, keeping the
//! device's credentials (a file readable by the owner only), and downloading the
//! dictionaries, the unit's information and its collection configuration.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::{RegisterAnswer, RegisterRequest, UnitConfig, UnitInfo};

/// The environment variable a gateway reads its enrollment code from (when no file is
/// given).
pub const ENROLLMENT_ENV: &str = "METERDB_ENROLLMENT_CODE";

/// What a gateway keeps of its registration with one platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// The platform's base URL (`http://host:port`).
    pub platform: String,
    /// The unit.
    pub enterprise_code: String,
    /// The device's id.
    pub device_id: String,
    /// Its bearer token.
    pub token: String,
    /// Its device epoch (the scope of its change ids), when the platform issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// The credentials file of `platform` in `dir`: `platform-{hash of the URL}.json`.
pub fn credentials_path(dir: &Path, platform: &str) -> PathBuf {
    dir.join(format!(
        "platform-{}.json",
        &crate::upload::cursor_name(platform)[3..]
    ))
}

impl Credentials {
    /// Loads the credentials of `platform` from `dir`, if it registered; refuses a file
    /// others can read.
    pub fn load(dir: &Path, platform: &str) -> Result<Option<Credentials>, String> {
        let path = credentials_path(dir, platform);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{}: readable by others (mode {:o}); it holds a token: chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            ));
        }
        let b = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Stores them in `dir` (created 0700), in a file created 0600.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = credentials_path(dir, &self.platform);
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        (|| {
            let _ = std::fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        })()
        .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Reads an enrollment code from `file` or, without one, from [`ENROLLMENT_ENV`].
pub fn enrollment_code(file: Option<&Path>) -> Result<String, String> {
    let code = match file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?,
        None => std::env::var(ENROLLMENT_ENV).map_err(|_| {
            format!("not registered yet: give --enrollment-file FILE or set {ENROLLMENT_ENV}")
        })?,
    };
    let code = code.trim().to_string();
    if code.is_empty() || code.len() > 200 || !code.is_ascii() {
        return Err(
            "the enrollment code is empty or not what `provincial unit add` printed".into(),
        );
    }
    Ok(code)
}

/// A client of one platform.
#[derive(Debug)]
pub struct Client {
    /// Base URL.
    pub base: String,
    agent: ureq::Agent,
}

fn answer<T: DeserializeOwned>(r: Result<ureq::Response, ureq::Error>) -> Result<T, String> {
    match r {
        Ok(resp) => {
            let text = resp
                .into_string()
                .map_err(|e| format!("reading the answer: {e}"))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("the answer is not what was expected: {e}"))
        }
        Err(ureq::Error::Status(code, resp)) => {
            let text = resp.into_string().unwrap_or_default();
            let msg = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(200).collect());
            Err(format!("http {code}: {msg}"))
        }
        Err(e) => Err(e.to_string()),
    }
}

impl Client {
    /// A client of the platform at `base` (`https://host:port`, or `http://` for a local
    /// test), trusting the public roots for HTTPS.
    pub fn new(base: &str) -> Client {
        Client::with_tls(base, None)
    }

    /// A client of the platform at `base` trusting the CAs of `tls`
    /// ([`crate::tls::client_config`]) for HTTPS.
    pub fn with_tls(base: &str, tls: Option<&std::sync::Arc<rustls::ClientConfig>>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: crate::tls::agent(tls, Duration::from_millis(1000), Duration::from_secs(10)),
        }
    }

    /// The URL of `path` (`/api/v1/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Function 1: registers this device with an enrollment code.
    pub fn register(
        &self,
        enrollment: &str,
        req: &RegisterRequest,
    ) -> Result<RegisterAnswer, String> {
        answer(
            self.agent
                .post(&self.url("/api/v1/devices"))
                .set("Authorization", &format!("Bearer {enrollment}"))
                .set("Content-Type", "application/json")
                .send_string(&serde_json::to_string(req).map_err(|e| e.to_string())?),
        )
    }

    /// Asks for a new device epoch (`POST /api/v1/devices/epoch`): this device restarts its
    /// change ids (its database is new).
    pub fn new_epoch(&self, token: &str) -> Result<u64, String> {
        let v: serde_json::Value = answer(
            self.agent
                .post(&self.url("/api/v1/devices/epoch"))
                .set("Authorization", &format!("Bearer {token}"))
                .send_string(""),
        )?;
        v["epoch"]
            .as_u64()
            .ok_or_else(|| format!("the answer names no epoch: {v}"))
    }

    /// GET of `path` with a token.
    pub fn get<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<T, String> {
        answer(
            self.agent
                .get(&self.url(path))
                .set("Authorization", &format!("Bearer {token}"))
                .call(),
        )
    }

    /// Function 2: the dictionaries, unless `have` is the current version.
    pub fn dictionaries(
        &self,
        token: &str,
        have: Option<u64>,
    ) -> Result<serde_json::Value, String> {
        let q = have.map(|v| format!("?version={v}")).unwrap_or_default();
        self.get(&format!("/api/v1/dictionaries{q}"), token)
    }

    /// Function 3: the unit's basic information.
    pub fn unit(&self, token: &str, code: &str) -> Result<UnitInfo, String> {
        self.get(&format!("/api/v1/units/{code}"), token)
    }

    /// Function 5: the unit's collection configuration, unless `have` is the current version.
    pub fn config(&self, token: &str, code: &str, have: u64) -> Result<UnitConfig, String> {
        self.get(
            &format!("/api/v1/units/{code}/config?version={have}"),
            token,
        )
    }
}
