//! Streamable HTTP at `/mcp` for many clients at once, all sharing one [`AppState`].
//!
//! Loopback by default. Any other address needs a bearer token: the server refuses to start
//! without one, and requests without it get 401. Host and Origin are checked against DNS
//! rebinding; request bodies are capped at 4 MiB.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{StatusCode, header};
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
}

/// Refuse configurations that would expose the workspace without authentication.
pub fn check_options(opts: &HttpOptions) -> anyhow::Result<()> {
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
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_cancellation_token(state.shutdown.child_token());
    let factory_state = state.clone();
    let service: StreamableHttpService<ApexServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(ApexServer::new(factory_state.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        );
    let token = opts.token.clone().filter(|t| !t.is_empty()).map(Arc::new);
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let token = token.clone();
                async move { authorize(token.as_deref().map(String::as_str), req, next).await }
            },
        ))
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
    eprintln!("netra-apex: listening on http://{local}/mcp");
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
    state.shutdown.cancel();
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
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
