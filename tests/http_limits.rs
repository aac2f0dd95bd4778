//! The per-client concurrency limit of `serve --http --max-in-flight N`, over raw HTTP so the
//! test controls exactly which requests are in flight at once.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PROTOCOL: &str = "2025-11-25";

/// A raw streamable-HTTP MCP session: its session id, after the initialize handshake.
struct RawSession {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl RawSession {
    async fn open(url: &str) -> Self {
        let http = reqwest::Client::new();
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "http-limits-test", "version": "0"}
            }
        });
        let resp = http
            .post(url)
            .header("Accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .expect("POST initialize");
        assert_eq!(resp.status(), StatusCode::OK, "initialize");
        let id = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("initialize answers with an Mcp-Session-Id")
            .to_string();
        let body = resp.text().await.expect("initialize body");
        assert!(body.contains("serverInfo"), "{body}");
        let session = Self {
            http,
            url: url.to_string(),
            id,
        };
        let resp = session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert!(resp.status().is_success(), "initialized: {}", resp.status());
        session
    }

    /// POST one message in this session; returns as soon as the response headers arrive
    /// (a tool call's answer then streams as SSE in the body).
    async fn post(&self, message: &Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Mcp-Session-Id", &self.id)
            .header("Mcp-Protocol-Version", PROTOCOL)
            .json(message)
            .send()
            .await
            .expect("POST")
    }

    async fn query(&self, id: u64, sql: &str, timeout_ms: u64) -> reqwest::Response {
        self.post(&json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "query_data", "arguments": {"sql": sql, "timeout_ms": timeout_ms}}
        }))
        .await
    }
}

/// Counts forever; stopped by query_data's own time bound.
const RUNAWAY: &str =
    "WITH RECURSIVE c AS (SELECT 1 AS i UNION ALL SELECT i + 1 FROM c) SELECT COUNT(*) FROM c";

#[tokio::test]
async fn a_client_over_its_in_flight_limit_gets_429_and_others_are_not_affected() {
    let ws = Workspace::new();
    let server = http_server(ws.path(), &["--max-in-flight", "1"]).await;
    let a = RawSession::open(&server.url).await;
    let b = RawSession::open(&server.url).await;

    // A's slow call is in flight once its response headers are here: the answer streams
    // in the body, and the slot is held until the body ends.
    let slow = a.query(1, RUNAWAY, 15_000).await;
    assert_eq!(slow.status(), StatusCode::OK);

    // A second request from A is refused while the first is in flight...
    let refused = a.query(2, "SELECT 1 AS one", 1_000).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let why = refused.text().await.expect("429 body");
    assert!(
        why.contains("at most 1") && why.contains("--max-in-flight"),
        "429 body should say the limit and the option: {why}"
    );

    // ...while B, another session, is served meanwhile.
    let other = b.query(3, "SELECT 41 + 1 AS answer", 1_000).await;
    assert_eq!(other.status(), StatusCode::OK);
    let body = other.text().await.expect("B's answer");
    assert!(body.contains("42"), "{body}");

    // A's slow call ends (stopped by its time bound); its slot is free again.
    let body = slow.text().await.expect("A's slow answer");
    assert!(body.contains("ran longer than"), "{body}");
    let again = a.query(4, "SELECT 7 AS seven", 1_000).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.text().await.expect("A's answer").contains('7'));
}

#[tokio::test]
async fn max_in_flight_zero_is_refused_at_start() {
    let ws = Workspace::new();
    let out = std::process::Command::new(bin())
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--max-in-flight",
            "0",
            "--root",
        ])
        .arg(ws.path())
        .output()
        .expect("run netra-apex");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-in-flight"), "{err}");
}

#[tokio::test]
async fn a_deleted_session_answers_204_and_is_gone() {
    let ws = Workspace::new();
    let server = http_server(ws.path(), &[]).await;
    let a = RawSession::open(&server.url).await;
    let b = RawSession::open(&server.url).await;

    let resp = a
        .http
        .delete(&a.url)
        .header("Mcp-Session-Id", &a.id)
        .header("Mcp-Protocol-Version", PROTOCOL)
        .send()
        .await
        .expect("DELETE");
    // Not 202: the session is closed when the answer is sent, and clients expect 200 or 204.
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.text().await.expect("body").is_empty());

    // The session is gone; the other one is not.
    let gone = a.query(1, "SELECT 1 AS one", 1_000).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let other = b.query(2, "SELECT 41 + 1 AS answer", 1_000).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert!(other.text().await.expect("B's answer").contains("42"));
}
