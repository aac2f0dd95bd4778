//! `netra-apex serve`: MCP on stdio (what Claude Desktop launches) or streamable HTTP.

use std::net::SocketAddr;

use super::{Place, init_logging};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:8765).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Bearer token clients must send; required when ADDR is not loopback.
    #[arg(long, env = "NETRA_APEX_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Extra Host header values to accept (DNS-rebinding protection), repeatable.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// Extra browser Origins to accept, e.g. https://ide.example.com, repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Requests one HTTP client may have in flight at once; more get 429.
    #[arg(long, value_name = "N", default_value_t = apex_mcp::http::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// HTTP sessions open at once; one more initialize gets 503.
    #[arg(long, value_name = "N", default_value_t = apex_mcp::http::DEFAULT_MAX_SESSIONS)]
    max_sessions: usize,
    /// Seconds after which an HTTP session that sent nothing is closed and freed.
    #[arg(long, value_name = "SECS", default_value_t = apex_mcp::http::DEFAULT_SESSION_IDLE.as_secs())]
    session_idle_timeout: u64,
    #[command(flatten)]
    prices: super::PricesArg,
}

pub fn run(
    at: &Place<'_>,
    runtime: &tokio::runtime::Runtime,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let prices = args.prices.load()?;
    let state = apex_mcp::AppState::open_with_prices(at.root, at.data_dir, prices)?;
    let _guard = init_logging(Some(&state.workspace.data_dir().join("logs")));
    for problem in state.degraded() {
        tracing::warn!("{problem}");
    }
    // Cleaning up after an earlier server needs writes; a read-only or full disk postpones it.
    if let Err(e) = state.recover() {
        tracing::warn!("cleanup after an earlier server skipped: {e}");
    }
    // Keep the index fresh while serving (from when it opens); the server works without it.
    state.search.start_watching();
    runtime.block_on(async move {
        match args.http {
            Some(addr) => {
                let opts = apex_mcp::http::HttpOptions {
                    addr,
                    token: args.token,
                    allowed_hosts: args.allow_hosts,
                    allowed_origins: args.allow_origins,
                    max_in_flight: args.max_in_flight,
                    max_sessions: args.max_sessions,
                    session_idle: std::time::Duration::from_secs(args.session_idle_timeout),
                };
                apex_mcp::http::serve_http(state, opts).await
            }
            None => apex_mcp::serve_stdio(state).await,
        }
    })
}
