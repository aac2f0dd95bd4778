//! Test harness: start the real `netra-apex` binary and talk to it through rmcp's client,
//! over stdio (child process) or streamable HTTP, in either protocol generation.
//!
//! Every integration test file does `mod common;` and uses these helpers; nothing here
//! mocks the transport, the store or the index.
#![allow(dead_code)]
// Logging notifications are deprecated in 2026-07-28; handshake-era clients still get them.
#![allow(deprecated)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, LoggingMessageNotificationParam,
    ProgressNotificationParam, ProtocolVersion, ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

/// Which protocol generation a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// 2025-11-25: `initialize` handshake, sessions.
    Handshake,
    /// 2026-07-28: `server/discover`, stateless requests with per-request metadata.
    Stateless,
}

pub const BOTH: [Generation; 2] = [Generation::Handshake, Generation::Stateless];

/// What the client has received besides responses.
#[derive(Debug, Default)]
pub struct Received {
    pub progress: Vec<ProgressNotificationParam>,
    pub logs: Vec<LoggingMessageNotificationParam>,
    pub resource_updates: Vec<String>,
    pub list_changed: usize,
}

/// A client handler that records every notification.
#[derive(Clone, Default)]
pub struct TestClient {
    pub received: Arc<Mutex<Received>>,
}

impl ClientHandler for TestClient {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.received.lock().unwrap().progress.push(params);
    }
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.received.lock().unwrap().logs.push(params);
    }
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.received
            .lock()
            .unwrap()
            .resource_updates
            .push(params.uri);
    }
    async fn on_resource_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.received.lock().unwrap().list_changed += 1;
    }
}

pub type Client = RunningService<RoleClient, TestClient>;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netra-apex"))
}

fn lifecycle(generation: Generation) -> ClientLifecycleMode {
    match generation {
        Generation::Handshake => ClientLifecycleMode::Initialize,
        Generation::Stateless => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    }
}

/// Start `netra-apex serve --root ROOT` on stdio and connect.
pub async fn stdio_client(root: &Path, generation: Generation) -> Client {
    stdio_client_with(TestClient::default(), root, generation, &[]).await
}

/// Like [`stdio_client`] with a handler of the caller's and extra `serve` arguments.
pub async fn stdio_client_with(
    handler: TestClient,
    root: &Path,
    generation: Generation,
    extra: &[&str],
) -> Client {
    stdio_client_env(handler, root, generation, extra, &[]).await
}

/// Like [`stdio_client_with`], the server started with `env` added to its environment.
pub async fn stdio_client_env(
    handler: TestClient,
    root: &Path,
    generation: Generation,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Client {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg("serve").arg("--root").arg(root).args(extra);
    cmd.env("RUST_LOG", "warn");
    cmd.envs(env.iter().copied());
    let transport = TokioChildProcess::new(cmd).expect("spawn netra-apex");
    handler
        .serve_with_lifecycle(transport, lifecycle(generation))
        .await
        .expect("connect over stdio")
}

/// A running `netra-apex serve --http` process; killed on drop.
pub struct HttpServer {
    pub child: tokio::process::Child,
    pub url: String,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Start `netra-apex serve --http 127.0.0.1:0 --root ROOT` and wait for its URL.
pub async fn http_server(root: &Path, extra: &[&str]) -> HttpServer {
    let mut child = tokio::process::Command::new(bin())
        .arg("serve")
        .arg("--root")
        .arg(root)
        .arg("--http")
        .arg("127.0.0.1:0")
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn netra-apex serve --http");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server did not start listening within 30 s");
    // Keep draining stderr so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    HttpServer { child, url }
}

/// Connect to an HTTP server.
pub async fn http_client(url: &str, generation: Generation) -> Client {
    http_client_with(TestClient::default(), url, generation).await
}

pub async fn http_client_with(handler: TestClient, url: &str, generation: Generation) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string()),
    );
    handler
        .serve_with_lifecycle(transport, lifecycle(generation))
        .await
        .expect("connect over HTTP")
}

/// Call a tool with JSON arguments. Panics on a protocol error; tool errors come back as
/// `isError` results.
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    try_call(client, tool, args).await.expect("tools/call")
}

pub async fn try_call(
    client: &Client,
    tool: &str,
    args: Value,
) -> Result<CallToolResult, rmcp::ServiceError> {
    let args = args.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
}

/// The text content of a result, joined.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The structured content of a successful result; panics with the text on an error result.
pub fn ok_json(result: &CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "tool failed: {}", text(result));
    result.structured_content.clone().unwrap_or(Value::Null)
}

/// Assert an error result whose text contains every needle.
pub fn assert_tool_error(result: &CallToolResult, needles: &[&str]) {
    let t = text(result);
    assert_eq!(
        result.is_error,
        Some(true),
        "expected an error result, got: {t}"
    );
    for n in needles {
        assert!(t.contains(n), "error text {t:?} should mention {n:?}");
    }
}

/// A temporary workspace; write files into it with [`Workspace::write`].
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A workspace holding a copy of `tests/fixtures/<name>`.
    pub fn from_fixture(name: &str) -> Self {
        let ws = Self::new();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        copy_dir(&src, ws.path());
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
}

pub fn copy_dir(src: &Path, dst: &Path) {
    apex_testkit::copy_tree(src, dst, &[]).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
}

/// Poll async `f` every 100 ms until it answers `Ok(value)`; after `timeout`, fail naming
/// `what` was awaited and the last thing seen (`Err(seen)`). The one way tests wait for
/// something that happens in another process: a bound on failure, never a timed assertion.
pub async fn wait_for<T, S, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    S: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, S>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                panic!("waited {timeout:?} for {what}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Poll `f` every 50 ms until it returns Some or `timeout` passes.
pub async fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Like [`eventually`] for a check that must await (a tool call, an HTTP request): poll it
/// every 200 ms until it returns Some or `timeout` passes.
pub async fn eventually_async<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every acknowledged context save, `(name, version, marker)`, reads back as acknowledged:
/// its notes start with `# marker`. Returns each version as read, for further checks.
pub async fn assert_saves_kept(client: &Client, acked: &[(String, u64, String)]) -> Vec<Value> {
    let mut got = Vec::with_capacity(acked.len());
    for (name, version, marker) in acked {
        let v = ok_json(
            &call(
                client,
                "context_get",
                json!({"name": name, "version": version}),
            )
            .await,
        );
        let notes = v["notes"].as_str().unwrap_or_default();
        assert!(
            notes.starts_with(&format!("# {marker}\n")),
            "{name} v{version} was acknowledged as `{marker}`, found {:?}",
            notes.lines().next()
        );
        got.push(v);
    }
    got
}
