//! The MCP face: one [`server::ApexServer`] per client session over a shared
//! [`state::AppState`], one tools file per capability under `tools/`, resources, prompts,
//! progress forwarding and the HTTP transport. It parses, validates, calls one library
//! function and renders; logic that grows here belongs in the capability's library.

pub mod completion;
pub mod elicit;
pub mod http;
pub mod otlp;
pub mod progress;
pub mod prompts;
pub mod reply;
pub mod resources;
pub mod served_index;
pub mod server;
pub mod state;
pub mod stdio;
pub mod tasks;
pub mod tools;
pub mod uris;

pub use server::ApexServer;
pub use state::AppState;

use std::sync::Arc;

use rmcp::ServiceExt;

/// Serve one client on stdin/stdout until it disconnects.
pub async fn serve_stdio(state: Arc<AppState>) -> anyhow::Result<()> {
    // Malformed lines and requests over 4 MiB get JSON-RPC errors; the session goes on.
    let (input, output, pump) = stdio::filtered_stdio(http::MAX_BODY_BYTES);
    state.watch_store();
    let service = ApexServer::new(state.clone())
        .serve((input, output))
        .await?;
    service.waiting().await?;
    // Let the last responses reach stdout before the process exits.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), pump).await;
    state.shut_down();
    Ok(())
}
