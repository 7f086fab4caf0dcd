//! The provincial platform's server (or, with `--role national`, the national one).
//!
//! ```text
//! provincial serve --data DIR [--listen 127.0.0.1:8080] [--threads 4] [--role provincial|national]
//!                  [--no-store] [--national URL --national-token T --province-code CODE]
//! provincial token add --data DIR --enterprise CODE [--token TOKEN]
//! ```
//!
//! `serve` prints `listening on ADDR` once it accepts requests (with `--listen
//! 127.0.0.1:0` the port is chosen by the system). `token add` registers a sender's token
//! (a new random one is printed when `--token` is not given); only a salted hash is kept.
//! Endpoints: see examples/README.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meterdb_examples::industry::check_uscc;
use meterdb_examples::provincial::{add_token, random_token, serve, Config, Platform, Role};
use meterdb_examples::upload::Destination;

fn usage(msg: &str) -> ! {
    eprintln!("provincial: {msg}");
    eprintln!(
        "usage: provincial serve --data DIR [--listen ADDR] [--threads N] [--role provincial|national] \
         [--no-store] [--national URL --national-token T --province-code CODE]\n       \
         provincial token add --data DIR --enterprise CODE [--token TOKEN]"
    );
    std::process::exit(64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = match args.first().map(String::as_str) {
        Some("serve") => ("serve", &args[1..]),
        Some("token") if args.get(1).map(String::as_str) == Some("add") => ("token", &args[2..]),
        Some("--add-token") => ("token", &args[1..]),
        _ => usage("give a mode: serve, or token add"),
    };
    let mut data = None;
    let mut listen = "127.0.0.1:8080".to_string();
    let mut threads = 4usize;
    let mut role = Role::Provincial;
    let mut no_store = false;
    let (mut national, mut national_token, mut province) = (None, None, None);
    let (mut enterprise, mut token) = (None, None);
    let mut it = rest.iter();
    while let Some(k) = it.next() {
        if k == "--no-store" {
            no_store = true;
            continue;
        }
        let v = it
            .next()
            .cloned()
            .unwrap_or_else(|| usage(&format!("{k} needs a value")));
        match k.as_str() {
            "--data" => data = Some(PathBuf::from(v)),
            "--listen" => listen = v,
            "--threads" => threads = v.parse().unwrap_or_else(|_| usage("--threads: a number")),
            "--role" => {
                role = match v.as_str() {
                    "provincial" => Role::Provincial,
                    "national" => Role::National,
                    _ => usage("--role: provincial or national"),
                }
            }
            "--national" => national = Some(v),
            "--national-token" => national_token = Some(v),
            "--province-code" => province = Some(v),
            "--enterprise" => enterprise = Some(v),
            "--token" => token = Some(v),
            _ => usage(&format!("unknown option {k}")),
        }
    }
    let data = data.unwrap_or_else(|| usage("--data DIR is required"));
    if mode == "token" {
        let code = enterprise.unwrap_or_else(|| usage("--enterprise CODE is required"));
        if role == Role::Provincial && code.len() == 18 {
            if let Err(e) = check_uscc(&code) {
                usage(&format!("--enterprise {code:?}: {e}"));
            }
        }
        let (token, printed) = match token {
            Some(t) => (t, false),
            None => (random_token().unwrap_or_else(|e| usage(&e)), true),
        };
        if let Err(e) = add_token(&data, &code, &token) {
            usage(&e);
        }
        if printed {
            println!("token for {code}: {token}  (stored hashed; it is not shown again)");
        } else {
            println!("token for {code} registered (stored hashed)");
        }
        return;
    }
    let national = match (national, national_token, province) {
        (Some(u), Some(t), Some(p)) => Some((u, t, p)),
        (None, None, None) => None,
        _ => usage("--national, --national-token and --province-code go together"),
    };
    let cfg = Config {
        data,
        role,
        no_store,
        national: national.clone(),
    };
    let platform = match Platform::open(&cfg) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("provincial: {e}");
            std::process::exit(1);
        }
    };
    let running = match serve(platform.clone(), &listen, threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("provincial: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", running.addr);
    if let (Some((url, token, code)), Some(db)) = (national, platform.db()) {
        let mut dest = match Destination::open(db, &url, &token, &code) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("provincial: national cursor: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "forwarding day statistics to {url} (cursor {})",
            dest.cursor
        );
        // Runs until the process is stopped; the cursor makes a restart resume.
        platform.forward_loop(&mut dest, Duration::from_millis(200));
    }
    // Serve until killed (every stored write is durable when acknowledged).
    loop {
        std::thread::park();
    }
}
