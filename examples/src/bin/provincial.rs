//! The provincial platform's server (or, with `--role national`, the national one), and its
//! administration: units, enrollment codes, configurations, credentials.
//!
//! ```text
//! provincial serve --data DIR (--tls-cert FILE --tls-key FILE | --insecure-http)
//!                  [--listen 127.0.0.1:8080] [--threads 4] [--role provincial|national]
//!                  [--max-connections 512] [--header-timeout-s 10] [--rate-per-s 50]
//!                  [--rate-burst 200] [--data-in-flight 8] [--audit-rotate-mib 64]
//!                  [--upload-date-window-s 86400]
//!                  [--no-store] [--outbound [--outbound-cap-mib 1024]]
//!                  [--isolation-enterprise CODE --isolation-inbound DIR --isolation-ack-out DIR
//!                   --isolation-key-file FILE [--isolation-poll-ms 1000]]
//! provincial frontend --platform URL --token-file FILE --national URL --national-token-file FILE
//!                  [--ca-file FILE] [--national-ca-file FILE] [--insecure-http] [--batch 5000] [--backoff-min-ms 100] [--backoff-max-ms 30000] [--poll-ms 200]
//! provincial unit add --data DIR --enterprise CODE --name NAME --industry SCOPE
//!                  [--region 350100] [--points N] [--interval-s 60] [--enrollment-out FILE]
//!                  [--token-expires 365d]
//! provincial unit enroll --data DIR --enterprise CODE [--enrollment-out FILE] [--token-expires 365d]
//! provincial unit config --data DIR --enterprise CODE [--points N] [--interval-s S]
//! provincial unit export-config --data DIR --enterprise CODE --out FILE
//! provincial credential add --data DIR --kind operator|national|frontend --name NAME [--token-out FILE]
//!                  [--expires 365d]
//! provincial audit verify --data DIR
//! provincial token list --data DIR
//! provincial token revoke --data DIR --id ID
//! provincial history export --data DIR --out OUT [--from yyyy-MM-dd] [--to yyyy-MM-dd]
//!                  [--granularity hour,day,month,year] [--csv]
//! provincial tls dev-ca --out DIR [--name localhost --name 127.0.0.1]
//! provincial isolation keygen --out FILE
//! provincial isolation import --data DIR --isolation-enterprise CODE --isolation-inbound DIR
//!                  --isolation-ack-out DIR --isolation-key-file FILE [--watch] [--isolation-poll-ms 1000]
//! ```
//!
//! `serve` prints `listening on ADDR` once it accepts requests (with `--listen
//! 127.0.0.1:0` the port is chosen by the system). Secrets (enrollment codes, tokens) are
//! printed once, or written to a new file readable by the owner only with `--*-out`; only
//! salted hashes are kept. Endpoints: see examples/README.md.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use meterdb::{Db, Options, Tier};
use meterdb_examples::api::{standard_config, ConfigFile, EnterpriseInfo, UnitConfig};
use meterdb_examples::audit::{self, AuditLog};
use meterdb_examples::frontend::{self, FrontendConfig};
use meterdb_examples::history::{export_history, HistoryOptions, TABLE};
use meterdb_examples::industry::Industry;
use meterdb_examples::isolation::{write_atomic, Key, Receiver};
use meterdb_examples::outbound::OutboundConfig;
use meterdb_examples::provincial::{Config, Platform, Role};
use meterdb_examples::records::{format_datetime, parse_date};
use meterdb_examples::registry::Registry;
use meterdb_examples::server::{serve_with, ServeOptions};
use meterdb_examples::tls::{self, DevCa};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "provincial",
    about = "The provincial (or national) energy-monitoring platform"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve the /api/v1/ contract over HTTP.
    Serve(ServeArgs),
    /// Register and change units.
    #[command(subcommand)]
    Unit(UnitCmd),
    /// Operators', the national link's and the front-end's credentials.
    #[command(subcommand)]
    Credential(CredCmd),
    /// The front-end machine (前置机): delivers the platform's outbound data to the national
    /// platform, with exponential backoff.
    Frontend(FrontendArgs),
    /// The history table bv_infodb_energydata_province (Parquet, and CSV on request).
    #[command(subcommand)]
    History(HistoryCmd),
    /// The isolation gateway path (隔离网关): a unit's bundles arrive one way as files.
    #[command(subcommand)]
    Isolation(IsolationCmd),
    /// Certificates for local tests.
    #[command(subcommand)]
    Tls(TlsCmd),
    /// Every credential (devices, enrollment codes, operators, national, front-ends):
    /// list, revoke.
    #[command(subcommand)]
    Token(TokenCmd),
    /// The hash-chained audit log (DIR/access.log and its rotated files).
    #[command(subcommand)]
    Audit(AuditCmd),
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Walk the chain through every file: exit 0 and the last hash when intact, exit 2 and
    /// the first broken line when a line was deleted, changed or inserted.
    Verify {
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// List every credential: id, kind, issued, expires, state (never a secret).
    List {
        #[arg(long)]
        data: PathBuf,
    },
    /// Revoke a credential by its id (the part of the token before the '.'): refused from
    /// the next request on, by a running server too.
    Revoke {
        #[arg(long)]
        data: PathBuf,
        /// e.g. 91350100MA2PLNT01W-02, enroll-91350100MA2PLNT01W-3, operator-alice.
        #[arg(long)]
        id: String,
    },
}

/// A validity: `N` followed by `d` (days), `h` (hours), `m` (minutes) or `s` (seconds).
fn parse_validity(s: &str) -> Result<i64, String> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?}: a number followed by d, h, m or s (e.g. 90d)"))?;
    let ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1000,
        _ => {
            return Err(format!(
                "{s:?}: a number followed by d, h, m or s (e.g. 90d)"
            ))
        }
    };
    if n <= 0 || n > 3660 * 86_400_000 / ms {
        return Err(format!("{s:?}: from 1 s to 3660 days"));
    }
    Ok(n * ms)
}

#[derive(Subcommand, Debug)]
enum TlsCmd {
    /// Make a throw-away CA and a server certificate it signed, for tests and trials on one
    /// machine: OUT/ca.pem (give it to the clients' --ca-file), OUT/server.pem and
    /// OUT/server.key (0600; give them to serve --tls-cert/--tls-key). OUT is created 0700
    /// and must not hold them yet. A real deployment uses certificates of its own PKI.
    DevCa {
        #[arg(long)]
        out: PathBuf,
        /// The server's names (DNS names or IP addresses), repeated.
        #[arg(long = "name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        names: Vec<String>,
    },
}

/// One isolation link: the unit it carries, its directories and its key (all four, or none
/// for `serve`).
#[derive(clap::Args, Debug)]
struct LinkArgs {
    /// The unit whose gateway writes the bundles.
    #[arg(long = "isolation-enterprise")]
    enterprise: Option<String>,
    /// Where the bundles arrive (refused ones go to its quarantine/ directory).
    #[arg(long = "isolation-inbound")]
    inbound: Option<PathBuf>,
    /// Where acknowledgements are written (carried back to the gateway).
    #[arg(long = "isolation-ack-out")]
    ack_out: Option<PathBuf>,
    /// The key shared with the gateway (hex, mode 0600).
    #[arg(long = "isolation-key-file")]
    key_file: Option<PathBuf>,
    /// How often to look at the inbound directory, in ms.
    #[arg(long = "isolation-poll-ms", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    poll_ms: u64,
}

impl LinkArgs {
    fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }

    /// The receiving side of the link; `None` when no --isolation-* option is given.
    fn receiver(&self, platform: &Platform) -> Option<Receiver> {
        match (
            &self.enterprise,
            &self.inbound,
            &self.ack_out,
            &self.key_file,
        ) {
            (None, None, None, None) => None,
            (Some(ent), Some(inbound), Some(acks), Some(kf)) => {
                let key = Key::load(kf).unwrap_or_else(|e| fail(e));
                Some(Receiver::new(platform, ent, inbound, acks, key).unwrap_or_else(|e| fail(e)))
            }
            _ => fail(
                "an isolation link needs --isolation-enterprise, --isolation-inbound, \
                 --isolation-ack-out and --isolation-key-file",
            ),
        }
    }
}

#[derive(Subcommand, Debug)]
enum IsolationCmd {
    /// Write a new key (32 random bytes, hex) to a new file of mode 0600; copy it to the
    /// gateway by hand.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Import the bundles waiting in the inbound directory, with the server stopped (a
    /// running server imports them itself with `serve --isolation-...`).
    Import {
        /// The platform's directory (as given to `serve --data`).
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
        /// Keep watching the inbound directory (until killed).
        #[arg(long)]
        watch: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GranularityArg {
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

#[derive(Subcommand, Debug)]
enum HistoryCmd {
    /// Write OUT/bv_infodb_energydata_province.parquet (and .csv with --csv) from the
    /// platform's database: one row per point, data type, granularity and period.
    Export {
        /// The platform's directory (as given to `serve --data`), with the server stopped
        /// (the database is opened by one process at a time).
        #[arg(long)]
        data: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// First day (yyyy-MM-dd, +08:00): periods starting on or after it.
        #[arg(long)]
        from: Option<String>,
        /// Day after the last (yyyy-MM-dd, +08:00, exclusive): periods starting before it.
        #[arg(long)]
        to: Option<String>,
        /// Granularities, comma-separated (minute rows can be huge: not by default).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "hour,day,month,year"
        )]
        granularity: Vec<GranularityArg>,
        /// Also write the rows as CSV.
        #[arg(long)]
        csv: bool,
    },
}

#[derive(clap::Args, Debug)]
struct FrontendArgs {
    /// The provincial platform's base URL (http://host:port).
    #[arg(long)]
    platform: String,
    /// The file holding the front-end's token at the platform (`credential add --kind frontend`).
    #[arg(long)]
    token_file: PathBuf,
    /// The national platform's base URL.
    #[arg(long)]
    national: String,
    /// The file holding the province's token at the national platform.
    #[arg(long)]
    national_token_file: PathBuf,
    /// The CA certificates (PEM) trusted for an https:// --platform (default: public roots).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The CA certificates (PEM) trusted for an https:// --national (default: public roots).
    #[arg(long)]
    national_ca_file: Option<PathBuf>,
    /// Allow http:// URLs (tokens and data in clear text): local tests only.
    #[arg(long)]
    insecure_http: bool,
    /// Changes per batch.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=20000))]
    batch: u32,
    /// First wait after a failure, in ms (doubling after each failure).
    #[arg(long, default_value_t = 100)]
    backoff_min_ms: u64,
    /// Longest wait after failures, in ms.
    #[arg(long, default_value_t = 30_000)]
    backoff_max_ms: u64,
    /// Wait when there is nothing to deliver, in ms.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    Provincial,
    National,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Directory of the database, registry and logs.
    #[arg(long)]
    data: PathBuf,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Worker threads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    #[arg(long, value_enum, default_value = "provincial")]
    role: RoleArg,
    /// Check uploads but store nothing (the intake benchmark's baseline).
    #[arg(long)]
    no_store: bool,
    /// Keep an outbound queue for the national platform, read by the front-end
    /// (`provincial frontend`) through /api/v1/outbound.
    #[arg(long)]
    outbound: bool,
    /// Most MiB of WAL the national backlog may pin; past it the oldest undelivered changes
    /// are dropped for the national link (logged, counted in /api/v1/health).
    #[arg(long, default_value_t = 1024, requires = "outbound", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    outbound_cap_mib: u64,
    /// Import a unit's bundles arriving through an isolation gateway (all four
    /// --isolation-* options together).
    #[command(flatten)]
    isolation: LinkArgs,
    /// The server's certificate chain (PEM, server certificate first): serve HTTPS.
    #[arg(long, requires = "tls_key", conflicts_with = "insecure_http")]
    tls_cert: Option<PathBuf>,
    /// The server's private key (PEM, mode 0600).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP (tokens and data in clear text): local tests only.
    #[arg(long)]
    insecure_http: bool,
    /// Most open connections (more are closed at once).
    #[arg(long, default_value_t = meterdb_examples::server::MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_connections: u32,
    /// Longest wait for a request's headers, for a TLS handshake, and for a body's next
    /// bytes, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_s: u64,
    /// Requests a second per credential (anonymous callers: per address); 429 beyond.
    #[arg(long, default_value_t = meterdb_examples::server::RATE_PER_S)]
    rate_per_s: f64,
    /// Requests a credential may make at once above its rate.
    #[arg(long, default_value_t = meterdb_examples::server::RATE_BURST)]
    rate_burst: f64,
    /// Refuse records whose uploadDate is more than this many seconds from the server's
    /// clock, either way (the upload's time, not the reading's: late data is still taken;
    /// 0: not checked, only for loading archived requests).
    #[arg(long, default_value_t = meterdb_examples::provincial::UPLOAD_WINDOW_MS / 1000, value_parser = clap::value_parser!(i64).range(0..=31_622_400))]
    upload_date_window_s: i64,
    /// Rotate the access log at this size (the chain goes on in the next file).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    audit_rotate_mib: u64,
    /// Most POST /api/v1/data requests in progress at once (more wait).
    #[arg(long, default_value_t = meterdb_examples::server::DATA_IN_FLIGHT as u32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    data_in_flight: u32,
}

#[derive(Subcommand, Debug)]
enum UnitCmd {
    /// Register a unit with its industry's standard configuration; prints its enrollment code.
    Add {
        #[arg(long)]
        data: PathBuf,
        /// Unified social credit code.
        #[arg(long)]
        enterprise: String,
        #[arg(long)]
        name: String,
        /// The sub-scope: power (thermal generation), power-supply, heat-supply, steel
        /// (integrated works), ironmaking, steelmaking, coking, casting, petrochemical
        /// (refining), oil-gas-extraction.
        #[arg(long, value_parser = Industry::parse)]
        industry: Industry,
        /// Administrative division (6 digits).
        #[arg(long, default_value = "350100")]
        region: String,
        /// Data items to configure (production units repeat the industry's points; default:
        /// one production unit's).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=9990))]
        points: Option<u16>,
        /// Collection interval of every item, in seconds.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86400))]
        interval_s: u32,
        /// Write the enrollment code to this new file (0600) instead of printing it.
        #[arg(long)]
        enrollment_out: Option<PathBuf>,
        /// How long the token of the device registering with the code is valid.
        #[arg(long, default_value = "365d", value_parser = parse_validity)]
        token_expires: i64,
    },
    /// Issue another enrollment code for a unit.
    Enroll {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        enterprise: String,
        #[arg(long)]
        enrollment_out: Option<PathBuf>,
        /// How long the token of the device registering with the code is valid.
        #[arg(long, default_value = "365d", value_parser = parse_validity)]
        token_expires: i64,
    },
    /// Write the unit's information and configuration to a file, for a gateway behind an
    /// isolation gateway (`gateway run --config-file`).
    ExportConfig {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        enterprise: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace a unit's configuration with its industry's standard one of N items (a new version).
    Config {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        enterprise: String,
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=9990))]
        points: u16,
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86400))]
        interval_s: u32,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum KindArg {
    Operator,
    National,
    Frontend,
}

#[derive(Subcommand, Debug)]
enum CredCmd {
    /// Add a credential; prints its token once.
    Add {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_enum)]
        kind: KindArg,
        /// operator's name, the province's code (national link), or the front-end's name.
        #[arg(long)]
        name: String,
        /// Write the token to this new file (0600) instead of printing it.
        #[arg(long)]
        token_out: Option<PathBuf>,
        /// How long the token is valid (N followed by d, h, m or s).
        #[arg(long, default_value = "365d", value_parser = parse_validity)]
        expires: i64,
    },
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("provincial: {msg}");
    std::process::exit(1)
}

/// Writes an administrative action to the platform's audit log (hash-chained, shared with a
/// running server); a failure to log stops the command.
fn admin(data: &Path, action: &str, detail: serde_json::Value) {
    let mut m = serde_json::Map::new();
    m.insert("t".into(), json!(meterdb_examples::upload::now_ms()));
    m.insert("admin".into(), json!(action));
    m.insert("by".into(), json!(audit::os_user()));
    if let serde_json::Value::Object(d) = detail {
        m.extend(d);
    }
    AuditLog::open(data, audit::ROTATE_BYTES)
        .and_then(|l| l.append(m))
        .unwrap_or_else(|e| fail(format!("audit log: {e}")));
}

/// Prints a secret, or writes it to a new file readable by the owner only.
fn reveal(what: &str, secret: &str, out: Option<&Path>) {
    match out {
        Some(p) => {
            let r = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
                .and_then(|mut f| writeln!(f, "{secret}").and_then(|_| f.sync_all()));
            if let Err(e) = r {
                fail(format!("{}: {e}", p.display()));
            }
            println!(
                "{what} written to {} (stored hashed; it is not shown again)",
                p.display()
            );
        }
        None => println!("{what}: {secret}  (stored hashed; it is not shown again)"),
    }
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(a) => run_serve(a),
        Cmd::Frontend(a) => run_frontend(a),
        Cmd::Token(TokenCmd::List { data }) => {
            let reg = Registry::open(&data).unwrap_or_else(|e| fail(e));
            println!("id\tkind\tissued\texpires\tstate");
            let now = meterdb_examples::upload::now_ms();
            for t in reg.tokens().unwrap_or_else(|e| fail(e)) {
                let state = match (&t.used_by, t.revoked, t.expires_at) {
                    (_, true, _) => "revoked".to_string(),
                    (Some(d), _, _) => format!("used by {d}"),
                    (_, _, Some(x)) if now >= x => "expired".to_string(),
                    _ => "valid".to_string(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{state}",
                    t.id,
                    t.kind,
                    format_datetime(t.created_at),
                    t.expires_at.map_or("never".into(), format_datetime)
                );
            }
        }
        Cmd::Token(TokenCmd::Revoke { data, id }) => {
            let reg = Registry::open(&data).unwrap_or_else(|e| fail(e));
            let id = id.split('.').next().unwrap_or_default().to_string();
            let r = reg.revoke(&id);
            admin(
                &data,
                "token revoke",
                json!({"id": id, "outcome": match &r { Ok(true) => "revoked".to_string(),
                    Ok(false) => "revoked already".into(), Err(e) => e.clone() }}),
            );
            match r.unwrap_or_else(|e| fail(e)) {
                true => println!("{id} revoked"),
                false => println!("{id} was revoked already"),
            }
        }
        Cmd::Audit(AuditCmd::Verify { data }) => match audit::verify(&data) {
            Ok(v) => {
                println!(
                    "audit log verified: {} lines in {} files; last hash {}",
                    v.lines,
                    v.files.len(),
                    v.last_hash
                );
                if let Some(h) = v.starts_after {
                    println!("(the chain starts after hash {h}: older rotated files were removed)");
                }
            }
            Err(e) => {
                eprintln!("provincial: audit log NOT intact: {e}");
                std::process::exit(2)
            }
        },
        Cmd::Tls(TlsCmd::DevCa { out, names }) => {
            let ca = DevCa::generate(&names).unwrap_or_else(|e| fail(e));
            ca.write(&out).unwrap_or_else(|e| fail(e));
            println!(
                "{0}/ca.pem (clients: --ca-file), {0}/server.pem and {0}/server.key (serve \
                 --tls-cert/--tls-key) for {1}",
                out.display(),
                names.join(", ")
            );
        }
        Cmd::Isolation(IsolationCmd::Keygen { out }) => {
            Key::generate(&out).unwrap_or_else(|e| fail(e));
            println!("key written to {} (mode 0600)", out.display());
        }
        Cmd::Isolation(IsolationCmd::Import { data, link, watch }) => {
            let platform = Platform::open(&Config {
                data,
                role: Role::Provincial,
                no_store: false,
                outbound: None,
            })
            .unwrap_or_else(|e| fail(e));
            let rx = link.receiver(&platform).unwrap_or_else(|| {
                fail("give --isolation-enterprise, --isolation-inbound, --isolation-ack-out and --isolation-key-file")
            });
            if watch {
                let stop = AtomicBool::new(false);
                rx.watch(&platform, link.poll(), &stop)
                    .unwrap_or_else(|e| fail(e));
            }
            let done = rx.poll(&platform).unwrap_or_else(|e| fail(e));
            for r in &done {
                println!("{r:?}");
            }
            println!("{} bundles handled", done.len());
            // Dropping the platform closes its database (every import is durable already).
            drop(platform);
        }
        Cmd::History(HistoryCmd::Export {
            data,
            out,
            from,
            to,
            granularity,
            csv,
        }) => run_history_export(&data, &out, from, to, granularity, csv),
        Cmd::Unit(UnitCmd::Add {
            data,
            enterprise,
            name,
            industry,
            region,
            points,
            interval_s,
            enrollment_out,
            token_expires,
        }) => {
            let reg = Registry::open(&data).unwrap_or_else(|e| fail(e));
            let ind = industry;
            let points = points.map_or(ind.points_per_unit(), usize::from);
            let info = EnterpriseInfo {
                enterprise_code: enterprise.clone(),
                name,
                region_code: region,
                industry: ind.as_str().into(),
                industry_code: ind.classification().into(),
            };
            let items = standard_config(ind, points, i64::from(interval_s) * 1000);
            let code = reg
                .add_unit_with(info, items, Some(token_expires))
                .unwrap_or_else(|e| fail(e));
            admin(
                &data,
                "unit add",
                json!({"enterprise": enterprise, "points": points,
                       "enrollment": code.split('.').next()}),
            );
            println!("unit {enterprise} registered: {points} data items, configuration version 1");
            reveal("enrollment code", &code, enrollment_out.as_deref());
        }
        Cmd::Unit(UnitCmd::ExportConfig {
            data,
            enterprise,
            out,
        }) => {
            let reg = Registry::open(&data).unwrap_or_else(|e| fail(e));
            let u = reg
                .unit(&enterprise)
                .unwrap_or_else(|e| fail(e))
                .unwrap_or_else(|| fail(format!("no unit {enterprise} is registered")));
            let f = ConfigFile {
                unit: u.info(),
                config: UnitConfig {
                    enterprise_code: enterprise.clone(),
                    version: u.config_version(),
                    changed: true,
                    items: u.config_items().to_vec(),
                },
            };
            let text = serde_json::to_vec_pretty(&f).unwrap_or_else(|e| fail(e));
            let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("config");
            let dir = match out.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            write_atomic(dir, name, &text).unwrap_or_else(|e| fail(e));
            println!(
                "unit {enterprise}: configuration version {} written to {}",
                f.config.version,
                out.display()
            );
        }
        Cmd::Unit(UnitCmd::Enroll {
            data,
            enterprise,
            enrollment_out,
            token_expires,
        }) => {
            let reg = Registry::open(&data).unwrap_or_else(|e| fail(e));
            let code = reg
                .issue_enrollment_with(&enterprise, token_expires)
                .unwrap_or_else(|e| fail(e));
            admin(
                &data,
                "unit enroll",
                json!({"enterprise": enterprise, "enrollment": code.split('.').next(),
                       "tokenValidMs": token_expires}),
            );
            reveal("enrollment code", &code, enrollment_out.as_deref());
        }
        Cmd::Unit(UnitCmd::Config {
            data,
            enterprise,
            points,
            interval_s,
        }) => {
            let reg = Registry::open(&data).unwrap_or_else(|e| fail(e));
            let u = reg
                .unit(&enterprise)
                .unwrap_or_else(|e| fail(e))
                .unwrap_or_else(|| fail(format!("no unit {enterprise} is registered")));
            let ind = Industry::parse(&u.enterprise().industry).unwrap_or_else(|e| fail(e));
            let items = standard_config(ind, points.into(), i64::from(interval_s) * 1000);
            let v = reg
                .set_config(&enterprise, items)
                .unwrap_or_else(|e| fail(e));
            admin(
                &data,
                "unit config",
                json!({"enterprise": enterprise, "version": v, "points": points}),
            );
            println!("unit {enterprise}: configuration version {v}, {points} data items");
        }
        Cmd::Credential(CredCmd::Add {
            data,
            kind,
            name,
            token_out,
            expires,
        }) => {
            let reg = Registry::open(&data).unwrap_or_else(|e| fail(e));
            let kind = match kind {
                KindArg::Operator => "operator",
                KindArg::National => "national",
                KindArg::Frontend => "frontend",
            };
            let token = reg
                .add_credential_valid(kind, &name, expires)
                .unwrap_or_else(|e| fail(e));
            admin(
                &data,
                "credential add",
                json!({"id": format!("{kind}-{name}"), "validMs": expires}),
            );
            reveal(
                &format!("{kind} token for {name}"),
                &token,
                token_out.as_deref(),
            );
        }
    }
}

fn run_history_export(
    data: &Path,
    out: &Path,
    from: Option<String>,
    to: Option<String>,
    granularity: Vec<GranularityArg>,
    csv: bool,
) {
    let day = |what: &str, s: Option<String>| {
        s.map(|s| parse_date(&s).unwrap_or_else(|e| fail(format!("--{what} {s:?}: {e}"))))
    };
    let opts = HistoryOptions {
        granularities: granularity
            .into_iter()
            .map(|g| match g {
                GranularityArg::Minute => Tier::Minute,
                GranularityArg::Hour => Tier::Hour,
                GranularityArg::Day => Tier::Day,
                GranularityArg::Month => Tier::Month,
                GranularityArg::Year => Tier::Year,
            })
            .collect(),
        from: day("from", from),
        to: day("to", to),
        csv,
    };
    if let (Some(f), Some(t)) = (opts.from, opts.to) {
        if t <= f {
            fail("--to must be after --from");
        }
    }
    // The platform's directory holds the database in `db/` (not created here: a mistyped
    // --data is an error, not an empty table).
    if !data.join("db").is_dir() {
        fail(format!(
            "{}: no platform database here (expected {})",
            data.display(),
            data.join("db").display()
        ));
    }
    let db = Db::open(data.join("db"), Options::default()).unwrap_or_else(|e| fail(e));
    let s = export_history(&db, out, &opts).unwrap_or_else(|e| fail(e));
    let per: Vec<String> = s
        .rows
        .iter()
        .map(|(t, n)| format!("{} {n}", t.as_str()))
        .collect();
    println!(
        "{TABLE}: {} rows from {} points ({}) in {}",
        s.total(),
        s.points,
        per.join(", "),
        s.parquet.display()
    );
    if let Some(c) = &s.csv {
        println!("CSV: {}", c.display());
    }
}

fn read_token(f: &Path) -> String {
    let t = std::fs::read_to_string(f).unwrap_or_else(|e| fail(format!("{}: {e}", f.display())));
    t.trim().to_string()
}

fn run_frontend(a: FrontendArgs) {
    tls::check_url("--platform", &a.platform, a.insecure_http).unwrap_or_else(|e| fail(e));
    tls::check_url("--national", &a.national, a.insecure_http).unwrap_or_else(|e| fail(e));
    let mut cfg = FrontendConfig::new(
        &a.platform,
        &read_token(&a.token_file),
        &a.national,
        &read_token(&a.national_token_file),
    );
    cfg.batch = a.batch as usize;
    cfg.backoff_min = Duration::from_millis(a.backoff_min_ms.max(1));
    cfg.backoff_max = Duration::from_millis(a.backoff_max_ms.max(a.backoff_min_ms.max(1)));
    cfg.poll = Duration::from_millis(a.poll_ms.max(1));
    cfg.platform_tls = tls::client_config_opt(a.ca_file.as_deref()).unwrap_or_else(|e| fail(e));
    cfg.national_tls =
        tls::client_config_opt(a.national_ca_file.as_deref()).unwrap_or_else(|e| fail(e));
    println!(
        "front-end: from {} to {} (backoff {} ms to {} ms)",
        cfg.platform,
        cfg.national,
        cfg.backoff_min.as_millis(),
        cfg.backoff_max.as_millis()
    );
    let stop = AtomicBool::new(false);
    // Runs until the process is stopped: the platform's cursor makes a restart resume.
    let st = frontend::run(&cfg, &stop, false, &mut |line| println!("{line}"));
    println!("{st:?}");
}

fn run_serve(a: ServeArgs) {
    let cfg = Config {
        data: a.data,
        role: match a.role {
            RoleArg::Provincial => Role::Provincial,
            RoleArg::National => Role::National,
        },
        no_store: a.no_store,
        outbound: a.outbound.then_some(OutboundConfig {
            cap_bytes: a.outbound_cap_mib << 20,
        }),
    };
    if a.tls_cert.is_none() && !a.insecure_http {
        fail(
            "give --tls-cert FILE --tls-key FILE (HTTPS), or --insecure-http for plain HTTP \
             on a local test (tokens and data would travel in clear text)",
        );
    }
    let platform = Arc::new(Platform::open(&cfg).unwrap_or_else(|e| fail(e)));
    platform.set_audit_rotation(a.audit_rotate_mib << 20);
    platform.set_upload_window(a.upload_date_window_s * 1000);
    if let Some(rx) = a.isolation.receiver(&platform) {
        let (p, every) = (platform.clone(), a.isolation.poll());
        std::thread::Builder::new()
            .name("isolation".into())
            .spawn(move || {
                let stop = AtomicBool::new(false);
                if let Err(e) = rx.watch(&p, every, &stop) {
                    eprintln!("provincial: isolation: {e}");
                }
            })
            .unwrap_or_else(|e| fail(e));
    }
    let mut o = ServeOptions::plain(&a.listen, a.threads.into());
    o.tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(tls::server_config(c, k).unwrap_or_else(|e| fail(e))),
        _ if a.insecure_http => None,
        _ => fail(
            "give --tls-cert FILE --tls-key FILE (HTTPS), or --insecure-http for plain HTTP \
             on a local test (tokens and data would travel in clear text)",
        ),
    };
    o.max_connections = a.max_connections as usize;
    o.header_timeout = Duration::from_secs(a.header_timeout_s);
    o.handshake_timeout = o.header_timeout;
    o.body_timeout = o.header_timeout;
    if !(a.rate_per_s > 0.0 && a.rate_burst >= 1.0) {
        fail("--rate-per-s must be above 0 and --rate-burst at least 1");
    }
    o.rate_per_s = a.rate_per_s;
    o.rate_burst = a.rate_burst;
    o.data_in_flight = a.data_in_flight as usize;
    let running = serve_with(platform.clone(), &o).unwrap_or_else(|e| fail(e));
    println!("listening on {}", running.addr);
    // Serve until killed (every stored write is durable when acknowledged).
    loop {
        std::thread::park();
    }
}
