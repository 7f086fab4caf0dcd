//! The platform's HTTP server: axum on tokio (hyper underneath), the `/api/v1/` routes of
//! [`crate::provincial::Platform`].
//!
//! Connections ([`serve_with`]): HTTPS with rustls ([`crate::tls`]) or, for local tests,
//! plain HTTP; at most [`ServeOptions::max_connections`] open (one more is closed at once);
//! a TLS handshake and a request's headers must arrive within their timeouts.
//!
//! Every request goes through, outermost first:
//!
//! 1. a request timeout (408) and a cap on requests in progress (tower);
//! 2. the access log: one line per request, whatever its answer (401, 413 and 404 too),
//!    synced before the answer is sent; a request that cannot be logged is answered 503;
//! 3. authentication: the `Authorization` header is resolved to a [`Caller`] (device,
//!    operator, national link, enrollment code, or anonymous) **before the handler runs and
//!    before any of the body is read**; a header naming no valid credential is answered 401
//!    at once;
//! 4. the handler: a body limit per route (64 MiB for `POST /api/v1/data`, 16 KiB for
//!    anything else; 413 beyond it), then the platform's method on a blocking thread (a
//!    panic there is answered 500 and the server lives on), which checks what the caller
//!    may do (403).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use crate::limits::Limiter;
use crate::provincial::{ApiError, Outcome, Platform, MAX_BODY, MAX_SMALL_BODY};
use crate::registry::Caller;
use crate::upload::now_ms;

/// Longest a request may take, reading its body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Most requests in progress at once (more wait).
pub const MAX_IN_FLIGHT: usize = 256;

/// What was wrong with a refused request, for the access log.
#[derive(Clone, Debug)]
struct ErrorText(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.scrubbed();
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, Json(e.body())).into_response();
        r.extensions_mut()
            .insert(ErrorText(e.message.chars().take(300).collect()));
        r
    }
}

/// A handler's answer, with what an intake did for the access log.
struct Answer(Result<Value, ApiError>, Option<Outcome>);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut r = match self.0 {
            Ok(v) => (StatusCode::OK, Json(v)).into_response(),
            Err(e) => e.into_response(),
        };
        if let Some(o) = self.1 {
            r.extensions_mut().insert(o);
        }
        r
    }
}

/// The credential id a refused request claimed, for the access log.
#[derive(Clone, Debug)]
struct Claimed(String);

type P = Arc<Platform>;

/// Runs `f` on a blocking thread; a panic in it is answered 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(ApiError::new(500, "the request failed on the platform")))
}

fn rejected(status: StatusCode, text: String) -> ApiError {
    ApiError::new(status.as_u16(), text)
}

fn body_of(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        let text = e.body_text();
        if text.contains("timeout") {
            ApiError::new(408, "the body's next bytes did not arrive in time")
        } else {
            rejected(e.status(), text)
        }
    })
}

fn query_of(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| rejected(e.status(), e.body_text()))
}

fn path_of(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(p)| p)
        .map_err(|e| rejected(e.status(), e.body_text()))
}

fn version_of(q: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    q.get("version")
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::new(400, format!("version {v:?} is not a number")))
        })
        .transpose()
}

/// What the authentication middleware needs: the platform and the rate limits.
#[derive(Clone)]
struct Gate {
    p: P,
    limits: Arc<Limiter>,
}

/// A limit hit, for the access log.
#[derive(Clone, Debug)]
struct LimitHit(&'static str);

fn too_many(what: &'static str, wait: Duration, text: &str) -> Response {
    let mut r = ApiError::new(429, text).into_response();
    let secs = wait.as_secs().max(1).to_string();
    if let Ok(v) = header::HeaderValue::from_str(&secs) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r.extensions_mut().insert(LimitHit(what));
    r
}

async fn authenticate(
    State(g): State<Gate>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = remote.ip().to_string();
    // An address that failed to authenticate too often is not heard until its bucket
    // refills: tokens cannot be guessed at speed, and a bad token costs no registry work.
    if !g.limits.auth_failures.has(&ip) {
        return too_many(
            "auth-failures",
            Duration::from_secs(1),
            "too many failed authentications from this address; wait",
        );
    }
    let header = match req.headers().get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(s)) => Some(s.to_string()),
        Some(Err(_)) => {
            let _ = g.limits.auth_failures.take(&ip);
            return ApiError::new(401, "the Authorization header is not text").into_response();
        }
    };
    match g.p.authenticate(header.as_deref()) {
        Ok(caller) => {
            let key = match &caller {
                Caller::Anonymous => format!("anonymous {ip}"),
                c => c.who(),
            };
            if let Err(wait) = g.limits.per_credential.take(&key) {
                let mut r = too_many("rate", wait, "too many requests for this credential; wait");
                r.extensions_mut().insert(caller);
                return r;
            }
            // A body announced larger than the route takes: 413 before any of it is read.
            let max = if req.uri().path() == "/api/v1/data" {
                MAX_BODY
            } else {
                MAX_SMALL_BODY
            };
            let announced = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if announced.is_some_and(|n| n > max as u64) {
                let mut r = ApiError::new(
                    413,
                    format!("the body is larger than {max} bytes, the most this endpoint takes"),
                )
                .into_response();
                r.extensions_mut().insert(LimitHit("body-size"));
                r.extensions_mut().insert(caller);
                return r;
            }
            req.extensions_mut().insert(caller.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(caller);
            resp
        }
        Err(e) => {
            let _ = g.limits.auth_failures.take(&ip);
            let claimed = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer "))
                .and_then(|t| t.split('.').next())
                .map(|id| format!("{}?", id.chars().take(96).collect::<String>()))
                .unwrap_or_else(|| "?".into());
            let mut resp = e.into_response();
            resp.extensions_mut().insert(Claimed(claimed));
            resp
        }
    }
}

async fn access_log(
    State(p): State<P>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path: String = req.uri().path().chars().take(512).collect();
    let query: Option<String> = req.uri().query().map(|q| q.chars().take(512).collect());
    let resp = next.run(req).await;
    let who = resp
        .extensions()
        .get::<Caller>()
        .map(Caller::who)
        .or_else(|| resp.extensions().get::<Claimed>().map(|c| c.0.clone()))
        .unwrap_or_else(|| "-".into());
    let out = resp
        .extensions()
        .get::<Outcome>()
        .cloned()
        .unwrap_or_default();
    let limit = resp.extensions().get::<LimitHit>().map(|l| l.0);
    let error = resp.extensions().get::<ErrorText>().map(|e| e.0.clone());
    let line = json!({
        "t": now_ms(),
        "remote": remote.to_string(),
        "who": who,
        "method": method,
        "path": path,
        "query": query,
        "status": resp.status().as_u16(),
        "records": out.records,
        "accepted": out.accepted,
        "rejected": out.rejected,
        "duplicates": out.duplicates,
        "superseded": out.superseded,
        "limit": limit,
        "error": error,
    });
    match tokio::task::spawn_blocking(move || p.log_access(&line)).await {
        Ok(Ok(())) => resp,
        Ok(Err(e)) => {
            eprintln!("provincial: {e}");
            ApiError::new(503, "the request could not be logged; retry later").into_response()
        }
        Err(_) => {
            ApiError::new(503, "the request could not be logged; retry later").into_response()
        }
    }
}

async fn register(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let r = match body_of(b) {
        Ok(b) => blocking(move || p.register_device(&c, &b))
            .await
            .and_then(|a| serde_json::to_value(a).map_err(|e| ApiError::new(500, e.to_string()))),
        Err(e) => Err(e),
    };
    Answer(r, None)
}

async fn dicts(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let r = query_of(q)
        .and_then(|q| version_of(&q))
        .and_then(|v| p.dictionaries(&c, v));
    Answer(r, None)
}

async fn unit(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    code: Result<Path<String>, PathRejection>,
) -> Answer {
    let r = match path_of(code) {
        Ok(code) => blocking(move || p.unit_info(&c, &code)).await,
        Err(e) => Err(e),
    };
    Answer(r, None)
}

async fn config(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    code: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let r = match (path_of(code), query_of(q).and_then(|q| version_of(&q))) {
        (Ok(code), Ok(v)) => blocking(move || p.unit_config(&c, &code, v))
            .await
            .and_then(|a| serde_json::to_value(a).map_err(|e| ApiError::new(500, e.to_string()))),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    Answer(r, None)
}

/// A query of the platform over a unit's `from` and `to` (`Platform::uploads`, `daily`,
/// `indicators`).
type UnitRangeQuery =
    fn(&Platform, &Caller, &str, Option<&str>, Option<&str>) -> Result<Value, ApiError>;

/// A unit's records over `?from=&to=` (`GET .../{code}/uploads`, `.../{code}/daily`): the
/// path and query checked, then `f` on a blocking thread.
async fn unit_range(
    p: P,
    c: Caller,
    code: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    f: UnitRangeQuery,
) -> Answer {
    let r = match (path_of(code), query_of(q)) {
        (Ok(code), Ok(q)) => {
            blocking(move || {
                let (from, to) = (q.get("from"), q.get("to"));
                f(
                    &p,
                    &c,
                    &code,
                    from.map(String::as_str),
                    to.map(String::as_str),
                )
            })
            .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    Answer(r, None)
}

async fn uploads(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    code: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    unit_range(p, c, code, q, Platform::uploads).await
}

async fn daily(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    code: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    unit_range(p, c, code, q, Platform::daily).await
}

async fn indicators(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    code: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    unit_range(p, c, code, q, Platform::indicators).await
}

/// The header in which a device names the epoch of its change ids.
pub const EPOCH_HEADER: &str = "x-meterdb-epoch";

async fn new_epoch(State(p): State<P>, Extension(c): Extension<Caller>) -> Answer {
    Answer(blocking(move || p.new_epoch(&c)).await, None)
}

async fn data(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    headers: header::HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let epoch = match headers.get(EPOCH_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => match v.trim().parse::<u64>() {
            Ok(e) => Some(e),
            Err(_) => {
                let v: String = v.chars().take(40).collect();
                let e = format!("{EPOCH_HEADER}: {v:?} is not an epoch (a number)");
                return Answer(Err(ApiError::new(400, e)), None);
            }
        },
        Some(Err(_)) => {
            let e = format!("{EPOCH_HEADER}: not text");
            return Answer(Err(ApiError::new(400, e)), None);
        }
    };
    match body_of(b) {
        Ok(b) => match blocking(move || p.ingest_epoch(&c, epoch, &b)).await {
            Ok((v, o)) => Answer(Ok(v), Some(o)),
            Err(e) => Answer(Err(e), None),
        },
        Err(e) => Answer(Err(e), None),
    }
}

async fn history(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let r = match query_of(q) {
        Ok(q) => blocking(move || p.history(&c, &q)).await,
        Err(e) => Err(e),
    };
    Answer(r, None)
}

async fn ranking(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let r = match query_of(q) {
        Ok(q) => {
            blocking(move || {
                p.ranking(
                    &c,
                    q.get("from").map(String::as_str),
                    q.get("to").map(String::as_str),
                )
            })
            .await
        }
        Err(e) => Err(e),
    };
    Answer(r, None)
}

async fn units(State(p): State<P>, Extension(c): Extension<Caller>) -> Answer {
    Answer(blocking(move || p.units(&c)).await, None)
}

async fn health(State(p): State<P>) -> Answer {
    Answer(blocking(move || Ok(p.health())).await, None)
}

async fn outbound(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let r = match query_of(q) {
        Ok(q) => blocking(move || p.outbound_batch(&c, q.get("max").map(String::as_str))).await,
        Err(e) => Err(e),
    };
    Answer(r, None)
}

async fn outbound_ack(
    State(p): State<P>,
    Extension(c): Extension<Caller>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let r = match body_of(b) {
        Ok(b) => blocking(move || p.outbound_ack(&c, &b)).await,
        Err(e) => Err(e),
    };
    Answer(r, None)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        404,
        format!(
            "no endpoint {} {}",
            req.method(),
            req.uri().path().chars().take(200).collect::<String>()
        ),
    )
}

/// The routes of `platform`, with their layers and the default limits.
pub fn router(platform: P) -> Router {
    let o = ServeOptions::plain("", 1);
    router_with(
        platform,
        Arc::new(Limiter::new(o.rate_per_s, o.rate_burst)),
        &o,
    )
}

/// The answer to a panic in a handler or a layer inside the access log: 500, and the
/// server goes on.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::new(500, "the request failed on the platform").into_response()
}

/// The routes of `platform`, with their layers and `limits`.
fn router_with(platform: P, limits: Arc<Limiter>, o: &ServeOptions) -> Router {
    let gate = Gate {
        p: platform.clone(),
        limits,
    };
    Router::new()
        .route("/api/v1/devices", post(register))
        .route("/api/v1/devices/epoch", post(new_epoch))
        .route("/api/v1/dictionaries", get(dicts))
        .route("/api/v1/units", get(units))
        .route("/api/v1/units/{code}", get(unit))
        .route("/api/v1/units/{code}/config", get(config))
        .route("/api/v1/units/{code}/uploads", get(uploads))
        .route("/api/v1/units/{code}/daily", get(daily))
        .route("/api/v1/units/{code}/indicators", get(indicators))
        .route(
            "/api/v1/data",
            post(data)
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(MAX_BODY))
                // Bodies of up to 64 MiB are buffered: only so many at once.
                .layer::<_, std::convert::Infallible>(tower::limit::ConcurrencyLimitLayer::new(
                    o.data_in_flight.max(1),
                )),
        )
        .route("/api/v1/history", get(history))
        .route("/api/v1/ranking", get(ranking))
        .route("/api/v1/health", get(health))
        .route("/api/v1/outbound", get(outbound))
        .route("/api/v1/outbound/ack", post(outbound_ack))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_SMALL_BODY))
        // A body whose next bytes take longer than this: the request fails (408).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            o.body_timeout,
        ))
        .layer(middleware::from_fn_with_state(gate, authenticate))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(platform.clone(), access_log))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(platform)
}

/// A running HTTP server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops serving (requests in progress get up to a second) and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How [`serve_with`] serves.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on (port 0: any free port).
    pub addr: String,
    /// Worker threads.
    pub threads: usize,
    /// TLS ([`crate::tls::server_config`]); `None`: plain HTTP (local use only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Most open connections; one more is closed at once.
    pub max_connections: usize,
    /// Longest wait for a request's headers (from the connection's start or the previous
    /// answer on a kept-alive connection).
    pub header_timeout: Duration,
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest wait for the next bytes of a request's body.
    pub body_timeout: Duration,
    /// Requests a second per credential (anonymous callers: per remote address).
    pub rate_per_s: f64,
    /// Requests a credential may make at once above its rate.
    pub rate_burst: f64,
    /// Most `POST /api/v1/data` requests in progress at once (their bodies are buffered).
    pub data_in_flight: usize,
}

/// Most open connections by default.
pub const MAX_CONNECTIONS: usize = 512;
/// Longest wait for a request's headers by default.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest TLS handshake by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a body's next bytes by default.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests a second per credential by default.
pub const RATE_PER_S: f64 = 50.0;
/// Burst per credential by default.
pub const RATE_BURST: f64 = 200.0;
/// `POST /api/v1/data` requests in progress at once by default.
pub const DATA_IN_FLIGHT: usize = 8;

impl ServeOptions {
    /// Plain HTTP on `addr` with the default limits.
    pub fn plain(addr: &str, threads: usize) -> ServeOptions {
        ServeOptions {
            addr: addr.to_string(),
            threads,
            tls: None,
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            rate_per_s: RATE_PER_S,
            rate_burst: RATE_BURST,
            data_in_flight: DATA_IN_FLIGHT,
        }
    }

    /// HTTPS on `addr` with `tls` and the default limits.
    pub fn tls(addr: &str, threads: usize, tls: Arc<rustls::ServerConfig>) -> ServeOptions {
        ServeOptions {
            tls: Some(tls),
            ..ServeOptions::plain(addr, threads)
        }
    }
}

/// Serves `platform` over plain HTTP on `addr` with `threads` worker threads (tests and
/// benchmarks on loopback; see [`serve_with`]).
pub fn serve(platform: Arc<Platform>, addr: &str, threads: usize) -> Result<Running, String> {
    serve_with(platform, &ServeOptions::plain(addr, threads))
}

/// Connection-level events written to the access log: a connection over the cap, a
/// failed or slow TLS handshake, request headers that did not arrive in time or did not
/// parse. They come before any request (so no request line records them) and an attacker
/// makes them at will, so at most [`CONN_EVENTS_PER_S`] a second (bursts of
/// [`CONN_EVENTS_BURST`]) are written; the lines not written are counted and the count is
/// given in the next line written (`suppressed`).
struct ConnEvents {
    p: P,
    bucket: crate::limits::Buckets,
    suppressed: std::sync::atomic::AtomicU64,
}

/// Connection events written a second at most.
pub const CONN_EVENTS_PER_S: f64 = 20.0;
/// Connection events written at once at most.
pub const CONN_EVENTS_BURST: f64 = 100.0;

impl ConnEvents {
    fn new(p: P) -> ConnEvents {
        ConnEvents {
            p,
            bucket: crate::limits::Buckets::new(CONN_EVENTS_PER_S, CONN_EVENTS_BURST, 1),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Logs `event` of the connection from `remote` (`limit`: the limit it hit), on a
    /// blocking thread; counted instead when over the rate.
    fn note(&self, event: &'static str, remote: SocketAddr, limit: Option<&str>, error: String) {
        use std::sync::atomic::Ordering;
        if self.bucket.take("conn").is_err() {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let line = json!({
            "t": now_ms(),
            "remote": remote.to_string(),
            "who": "-",
            "event": event,
            "limit": limit,
            "error": error.chars().take(300).collect::<String>(),
            "suppressed": self.suppressed.swap(0, Ordering::Relaxed),
        });
        let p = self.p.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = p.log_access(&line) {
                eprintln!("provincial: {e}");
            }
        });
    }
}

/// One connection: the TLS handshake (bounded), then HTTP/1.1 with a header read timeout;
/// a failed handshake, a header timeout and headers that do not parse go to the access log.
async fn connection(
    app: Router,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    o: Arc<ServeOptions>,
    events: Arc<ConnEvents>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    // Requests begun on this connection: a header timeout after one is a kept-alive
    // connection left idle (closed, not logged), before any is a client that never finished
    // its first request's headers (logged).
    let begun = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = begun.clone();
    let svc = app.map_request(move |mut r: Request<hyper::body::Incoming>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        r.extensions_mut().insert(ConnectInfo(remote));
        r
    });
    let svc = hyper_util::service::TowerToHyperService::new(svc);
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(o.header_timeout)
        .max_buf_size(64 << 10);
    let _ = stream.set_nodelay(true);
    let served = match &o.tls {
        Some(cfg) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg.clone());
            // A failed or slow handshake (not TLS, wrong version, no common cipher,
            // garbage): the connection is closed and the event logged.
            match tokio::time::timeout(o.handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => b.serve_connection(TokioIo::new(s), svc).await,
                Ok(Err(e)) => {
                    events.note("tls-handshake-failed", remote, None, e.to_string());
                    return;
                }
                Err(_) => {
                    let e = format!("no TLS handshake within {:?}", o.handshake_timeout);
                    events.note(
                        "tls-handshake-timeout",
                        remote,
                        Some("handshake-timeout"),
                        e,
                    );
                    return;
                }
            }
        }
        None => b.serve_connection(TokioIo::new(stream), svc).await,
    };
    if let Err(e) = served {
        let first = begun.load(std::sync::atomic::Ordering::Relaxed) == 0;
        if e.is_timeout() && first {
            let e = format!("no request headers within {:?}", o.header_timeout);
            events.note("header-timeout", remote, Some("header-timeout"), e);
        } else if e.is_parse() || e.is_parse_too_large() {
            events.note("bad-request-head", remote, None, e.to_string());
        }
    }
}

/// Serves `platform` as `o` says (TLS or plain HTTP, a cap on open connections, header and
/// handshake timeouts), with `o.threads` worker threads (and up to four times as many
/// threads for the platform's blocking work: storage, fsync, files).
pub fn serve_with(platform: Arc<Platform>, o: &ServeOptions) -> Result<Running, String> {
    let addr = &o.addr;
    let threads = o.threads.max(1);
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("listen on {addr}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(4 * threads)
        .thread_name("provincial-http")
        .enable_all()
        .build()
        .map_err(|e| format!("starting the server's runtime: {e}"))?;
    let events = Arc::new(ConnEvents::new(platform.clone()));
    let app = router_with(
        platform,
        Arc::new(Limiter::new(o.rate_per_s, o.rate_burst)),
        o,
    );
    let o = Arc::new(o.clone());
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("provincial-serve".into())
        .spawn(move || {
            rt.block_on(async move {
                let l = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("provincial: listener: {e}");
                        return;
                    }
                };
                let slots = Arc::new(tokio::sync::Semaphore::new(o.max_connections.max(1)));
                loop {
                    let (stream, remote) = tokio::select! {
                        r = l.accept() => match r {
                            Ok(c) => c,
                            Err(e) => {
                                // Out of file descriptors and the like: wait a little.
                                eprintln!("provincial: accept: {e}");
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            }
                        },
                        _ = &mut rx => break,
                    };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        // Over the cap: closed at once (the client may retry).
                        drop(stream);
                        let e = format!("{} connections open, the most", o.max_connections);
                        events.note("connection-refused", remote, Some("connections"), e);
                        continue;
                    };
                    let (app, o, ev) = (app.clone(), o.clone(), events.clone());
                    tokio::spawn(async move {
                        connection(app, stream, remote, o, ev).await;
                        drop(slot);
                    });
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(|e| format!("starting the server: {e}"))?;
    Ok(Running {
        addr: local,
        stop: Some(tx),
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_and_the_router_goes_on() {
        async fn boom() -> &'static str {
            panic!("a bug in a handler")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "fine" }))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
        let req = |p: &str| {
            axum::http::Request::builder()
                .uri(p)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let r = app.clone().oneshot(req("/boom")).await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1000).await.unwrap();
        assert_eq!(
            &body[..],
            br#"{"error":"the request failed on the platform","ok":false}"#
        );
        let r = app.oneshot(req("/fine")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}
