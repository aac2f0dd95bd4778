//! Streamable HTTP at `/mcp` for many clients at once, all sharing one [`AppState`].
//!
//! Loopback by default. Any other address needs a bearer token: the server refuses to start
//! without one, and requests without it get 401. Host and Origin are checked against DNS
//! rebinding; request bodies are capped at 4 MiB.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};

use super::server::ApexServer;
use super::state::AppState;

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Requests one client may have in flight at once (SSE streams excluded). A client is its
/// `Mcp-Session-Id` when it has one, else its IP address.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// HTTP sessions open at once (2025-11-25 clients; 2026-07-28 requests need none). One more
/// `initialize` gets 503 until a session closes or expires.
pub const DEFAULT_MAX_SESSIONS: usize = 256;

/// A session that sends nothing for this long is closed and its memory freed; its client
/// gets 404 and initializes again, as the protocol says.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(300);

/// How `serve --http` was asked to run.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    pub token: Option<String>,
    /// Extra host names (or host:port) accepted in the Host header, e.g. a LAN name.
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins accepted, e.g. `https://ide.example.com`.
    pub allowed_origins: Vec<String>,
    /// Requests one client may have in flight; more get 429.
    pub max_in_flight: usize,
    /// Sessions open at once; more get 503.
    pub max_sessions: usize,
    /// Idle time after which a session is closed.
    pub session_idle: Duration,
}

/// Refuse configurations that would expose the workspace without authentication.
pub fn check_options(opts: &HttpOptions) -> anyhow::Result<()> {
    if opts.max_sessions == 0 {
        anyhow::bail!(
            "--max-sessions 0 would refuse every client; give at least 1 (default {DEFAULT_MAX_SESSIONS})"
        );
    }
    if opts.session_idle.is_zero() {
        anyhow::bail!(
            "--session-idle-timeout 0 would close every session at once; give at least 1 second (default {})",
            DEFAULT_SESSION_IDLE.as_secs()
        );
    }
    if opts.max_in_flight == 0 {
        anyhow::bail!(
            "--max-in-flight 0 would refuse every request; give at least 1 (default {DEFAULT_MAX_IN_FLIGHT})"
        );
    }
    if !opts.addr.ip().is_loopback() && opts.token.as_deref().is_none_or(str::is_empty) {
        anyhow::bail!(
            "refusing to serve on {}: it is not a loopback address, so clients must authenticate; \
             pass --token TOKEN (or NETRA_APEX_TOKEN) and give clients `Authorization: Bearer TOKEN`, \
             or bind 127.0.0.1",
            opts.addr
        );
    }
    Ok(())
}

/// Build the axum router serving `/mcp`.
pub fn router(state: Arc<AppState>, opts: &HttpOptions) -> axum::Router {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !opts.addr.ip().is_unspecified() {
        hosts.push(opts.addr.ip().to_string());
    }
    hosts.extend(opts.allowed_hosts.iter().cloned());
    let mut origins: Vec<String> = vec![
        "http://localhost:*".into(),
        "http://127.0.0.1:*".into(),
        "http://[::1]:*".into(),
    ];
    origins.extend(opts.allowed_origins.iter().cloned());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts.clone())
        .with_allowed_origins(origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_cancellation_token(state.shutdown.child_token());
    let factory_state = state.clone();
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(opts.session_idle);
    let sessions = Arc::new(SessionCap {
        manager: Arc::new(manager),
        max: opts.max_sessions,
        starting: Mutex::new(0),
    });
    let service: StreamableHttpService<ApexServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(ApexServer::new(factory_state.clone())),
            sessions.manager.clone(),
            config,
        );
    let token = opts.token.clone().filter(|t| !t.is_empty()).map(Arc::new);
    let limiter = Arc::new(InFlight::new(opts.max_in_flight));
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let sessions = sessions.clone();
                async move { sessions.admit(req, next).await }
            },
        ))
        // After the session cap, which is for MCP sessions only: layers wrap the routes added before them.
        .merge(super::otlp::routes(state.clone(), hosts, origins))
        .layer(axum::middleware::from_fn(session_closed))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let limiter = limiter.clone();
                async move { limit_in_flight(&limiter, req, next).await }
            },
        ))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let token = token.clone();
                async move { authorize(token.as_deref().map(String::as_str), req, next).await }
            },
        ))
}

/// The cap on open sessions: an `initialize` (a POST without `Mcp-Session-Id` whose body is
/// an `initialize` request) is admitted only while the sessions open, plus those being
/// initialized, are fewer than `max`. Sessions leave rmcp's table when their client deletes
/// them or when they have been idle for the configured time.
struct SessionCap {
    manager: Arc<LocalSessionManager>,
    max: usize,
    /// Initializations admitted and not yet answered (not yet in the table).
    starting: Mutex<usize>,
}

impl SessionCap {
    async fn admit(&self, req: Request, next: Next) -> Response {
        if req.method() != Method::POST || req.headers().contains_key("mcp-session-id") {
            return next.run(req).await;
        }
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body over {MAX_BODY_BYTES} bytes"),
                )
                    .into_response();
            }
        };
        let req = Request::from_parts(parts, Body::from(bytes.clone()));
        if !is_initialize(&bytes) {
            return next.run(req).await;
        }
        let open = self.manager.sessions.read().await.len();
        {
            let mut starting = self.starting.lock().unwrap_or_else(|p| p.into_inner());
            if open + *starting >= self.max {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "5")],
                    format!(
                        "too many sessions: {open} are open, the most this server keeps (serve --max-sessions {}); \
                         close one (DELETE /mcp with its Mcp-Session-Id) or retry when an idle one expires",
                        self.max
                    ),
                )
                    .into_response();
            }
            *starting += 1;
        }
        let response = next.run(req).await;
        let mut starting = self.starting.lock().unwrap_or_else(|p| p.into_inner());
        *starting = starting.saturating_sub(1);
        response
    }
}

/// Whether a JSON-RPC body is an `initialize` request (or a batch holding one).
fn is_initialize(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Message {
        method: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body {
        One(Message),
        Batch(Vec<Message>),
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body::One(m)) => m.method.as_deref() == Some("initialize"),
        Ok(Body::Batch(ms)) => ms.iter().any(|m| m.method.as_deref() == Some("initialize")),
        Err(_) => false,
    }
}

/// rmcp closes a session on `DELETE /mcp` and then answers 202 Accepted, which says the
/// work is still pending; it is done. Clients read it as a failure (the Python SDK logs
/// "Session termination failed: 202", expecting 200 or 204), so the answer is 204 No Content.
async fn session_closed(req: Request, next: Next) -> Response {
    let is_delete = req.method() == Method::DELETE;
    let mut res = next.run(req).await;
    if is_delete && res.status() == StatusCode::ACCEPTED {
        *res.status_mut() = StatusCode::NO_CONTENT;
        *res.body_mut() = Body::empty();
    }
    res
}

async fn authorize(token: Option<&str>, req: Request, next: Next) -> Response {
    if let Some(expected) = token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "missing or wrong bearer token: send `Authorization: Bearer <token>` as given to `serve --token`",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Requests in flight per client. A request counts from its arrival until its response
/// body (an SSE stream for a tool call) has been sent or dropped.
#[derive(Debug)]
struct InFlight {
    max: usize,
    counts: Mutex<HashMap<String, usize>>,
}

impl InFlight {
    fn new(max: usize) -> Self {
        Self {
            max,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Take a slot for `client`, or None when it already has `max` requests in flight.
    fn acquire(self: &Arc<Self>, client: String) -> Option<InFlightGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(client.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            limiter: self.clone(),
            client,
        })
    }
}

/// Releases its client's slot when dropped.
struct InFlightGuard {
    limiter: Arc<InFlight>,
    client: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// Who a request comes from: its `Mcp-Session-Id` when it has one, else its IP address.
fn client_of(req: &Request) -> String {
    if let Some(id) = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        return format!("session:{id}");
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "ip:unknown".to_string(),
    }
}

/// Answer 429 to a client that already has `max_in_flight` requests in flight. GET (the
/// long-lived SSE stream a session may hold open) is not counted.
async fn limit_in_flight(limiter: &Arc<InFlight>, req: Request, next: Next) -> Response {
    if req.method() == Method::GET {
        return next.run(req).await;
    }
    let client = client_of(&req);
    let Some(guard) = limiter.acquire(client) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            format!(
                "too many requests in flight: this client (its Mcp-Session-Id, else its IP address) \
                 may have at most {} at once (serve --max-in-flight); wait for a response and retry",
                limiter.max
            ),
        )
            .into_response();
    };
    let response = next.run(req).await;
    // Hold the slot until the body has been streamed (or the client went away).
    let (parts, body) = response.into_parts();
    let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _held = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serve until the process is interrupted. Prints the URL on stderr once listening.
pub async fn serve_http(state: Arc<AppState>, opts: HttpOptions) -> anyhow::Result<()> {
    check_options(&opts)?;
    let listener = tokio::net::TcpListener::bind(opts.addr).await?;
    let local = listener.local_addr()?;
    let app = router(state.clone(), &opts);
    state.watch_store();
    eprintln!("netra-apex: listening on http://{local}/mcp");
    eprintln!("netra-apex: OTLP/HTTP traces accepted at http://{local}/v1/traces");
    tracing::info!(%local, "serving streamable HTTP at /mcp");
    let shutdown = state.shutdown.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = shutdown.cancelled() => {}
        }
    })
    .await?;
    state.shut_down();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(addr: &str, token: Option<&str>) -> HttpOptions {
        HttpOptions {
            addr: addr.parse().unwrap(),
            token: token.map(str::to_string),
            allowed_hosts: vec![],
            allowed_origins: vec![],
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle: DEFAULT_SESSION_IDLE,
        }
    }

    #[test]
    fn non_loopback_needs_a_token() {
        assert!(check_options(&opts("127.0.0.1:0", None)).is_ok());
        assert!(check_options(&opts("[::1]:0", None)).is_ok());
        let err = check_options(&opts("0.0.0.0:8765", None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--token"), "{err}");
        assert!(check_options(&opts("0.0.0.0:8765", Some(""))).is_err());
        assert!(check_options(&opts("0.0.0.0:8765", Some("s3cret"))).is_ok());
        let mut zero = opts("127.0.0.1:0", None);
        zero.max_in_flight = 0;
        let err = check_options(&zero).unwrap_err().to_string();
        assert!(err.contains("--max-in-flight"), "{err}");
        let mut zero = opts("127.0.0.1:0", None);
        zero.max_sessions = 0;
        let err = check_options(&zero).unwrap_err().to_string();
        assert!(err.contains("--max-sessions"), "{err}");
        let mut zero = opts("127.0.0.1:0", None);
        zero.session_idle = Duration::ZERO;
        let err = check_options(&zero).unwrap_err().to_string();
        assert!(err.contains("--session-idle-timeout"), "{err}");
    }

    #[test]
    fn initialize_requests_are_told_apart() {
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#
        ));
        assert!(is_initialize(
            br#"[{"jsonrpc":"2.0","id":0,"method":"initialize"}]"#
        ));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
        ));
        assert!(!is_initialize(b"not json"));
    }

    #[test]
    fn in_flight_slots_are_per_client_and_released_on_drop() {
        let limiter = Arc::new(InFlight::new(2));
        let a1 = limiter.acquire("a".into()).unwrap();
        let _a2 = limiter.acquire("a".into()).unwrap();
        assert!(limiter.acquire("a".into()).is_none());
        let _b1 = limiter.acquire("b".into()).unwrap();
        drop(a1);
        assert!(limiter.acquire("a".into()).is_some());
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
