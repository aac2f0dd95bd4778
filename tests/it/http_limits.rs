//! The per-client concurrency limit of `serve --http --max-in-flight N`, over raw HTTP so the
//! test controls exactly which requests are in flight at once.

use crate::common::*;
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

// ------------------------------------------------------------------ sessions

/// POST an `initialize` without a session; the raw response.
async fn initialize(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "http-limits-test", "version": "0"}}
        }))
        .send()
        .await
        .expect("POST initialize")
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn sessions_are_capped_and_idle_ones_expire_and_are_freed() {
    const MAX: usize = 4;
    let ws = Workspace::new();
    let server = http_server(
        ws.path(),
        &["--max-sessions", "4", "--session-idle-timeout", "2"],
    )
    .await;
    let pid = server.child.id().expect("pid");
    let mut open: Vec<RawSession> = Vec::new();
    for _ in 0..MAX {
        open.push(RawSession::open(&server.url).await);
    }
    // One more is refused, saying why and what to do.
    let refused = initialize(&server.url).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let why = refused.text().await.expect("503 body");
    assert!(
        why.contains("too many sessions") && why.contains("--max-sessions 4"),
        "{why}"
    );
    // Requests of open sessions, and sessionless (2026-07-28) clients, are still served.
    let ok = open[0].query(1, "SELECT 6 * 7 AS answer", 1_000).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.expect("answer").contains("42"));
    let stateless = http_client(&server.url, Generation::Stateless).await;
    ok_json(&call(&stateless, "list_workload_profiles", json!({})).await);

    // Idle sessions expire: their ids are gone and their slots free again.
    let freed = eventually_async(Duration::from_secs(60), || async {
        (initialize(&server.url).await.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(freed.is_some(), "no session expired within 60 s");
    let gone = open[1].query(2, "SELECT 1 AS one", 1_000).await;
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "an expired session is gone"
    );

    // Memory is given back: cycles of sessions opened and left to expire do not grow it.
    let mut after_first = 0;
    for cycle in 0..8 {
        let opened = std::sync::atomic::AtomicUsize::new(0);
        let filled = eventually_async(Duration::from_secs(60), || async {
            while opened.load(std::sync::atomic::Ordering::SeqCst) < MAX {
                let r = initialize(&server.url).await;
                if r.status() != StatusCode::OK {
                    return None;
                }
                opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = r.text().await;
            }
            Some(())
        })
        .await;
        assert!(filled.is_some(), "cycle {cycle}: sessions did not expire");
        if cycle == 0 {
            after_first = rss_kb(pid);
        }
    }
    let last = rss_kb(pid);
    println!(
        "server RSS after the first cycle of {MAX} sessions {after_first} kB, after 8 cycles {last} kB"
    );
    assert!(
        last < after_first + 8 * 1024,
        "RSS grew from {after_first} kB to {last} kB over 8 cycles of expired sessions"
    );
}

#[tokio::test]
async fn session_limits_of_zero_are_refused_at_start() {
    let ws = Workspace::new();
    for (flag, value) in [("--max-sessions", "0"), ("--session-idle-timeout", "0")] {
        let out = std::process::Command::new(bin())
            .args(["serve", "--http", "127.0.0.1:0", flag, value, "--root"])
            .arg(ws.path())
            .output()
            .expect("run netra-apex");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{err}");
    }
}

// ------------------------------------------------------------------ progress to a stalled client

/// Prints `running N tests`, N libtest lines and the summary: N `test_finished` events.
const FLOOD: &str = r#"import sys
n = int(sys.argv[1])
out = sys.stdout
out.write(f"running {n} tests\n")
for i in range(n):
    out.write(f"test flood::t{i:06} ... ok\n")
out.write(f"\ntest result: ok. {n} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n")
"#;

/// Events the flood produces (the issue's figure).
const FLOOD_TESTS: u64 = 100_000;

fn flood_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write("flood.py", FLOOD);
    ws.write(
        "apex.toml",
        &format!(
            "[tests.suites.flood]\ncommand = [\"python3\", \"flood.py\", \"{FLOOD_TESTS}\"]\nformat = \"libtest\"\n"
        ),
    );
    ws
}

/// Sample a process's RSS every 100 ms until `stop`; the peak in kB.
fn peak_rss(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut peak = 0;
        while !stop.load(Ordering::SeqCst) {
            peak = peak.max(rss_kb(pid));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak.max(rss_kb(pid))
    })
}

/// The newest test run's status, as another client sees it.
async fn newest_test_run(client: &Client) -> Option<(String, String)> {
    let v = ok_json(&call(client, "list_test_runs", json!({"limit": 1})).await);
    let run = v["runs"].get(0)?;
    Some((
        run["run_id"].as_str().or(run["id"].as_str())?.to_string(),
        run["status"].as_str()?.to_string(),
    ))
}

/// Run the flood with a progress token, the client either reading every notification or
/// never reading its stream; returns the server's peak RSS (kB) and its RSS before.
async fn flood_run(stalled: bool) -> (u64, u64) {
    let ws = flood_workspace();
    let server = http_server(ws.path(), &[]).await;
    let pid = server.child.id().expect("pid");
    let other = http_client(&server.url, Generation::Handshake).await;
    // Warm up the paths the run takes, so the baseline is not the cold server.
    ok_json(&call(&other, "list_test_runs", json!({})).await);
    let before = rss_kb(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = peak_rss(pid, stop.clone());
    let call_args = json!({"name": "run_tests", "arguments": {"suite": "flood"}, "_meta": {"progressToken": 7}});
    if stalled {
        let stalled = RawSession::open(&server.url).await;
        // The answer streams in this response's body, which is never read.
        let stream = stalled
            .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call_args}))
            .await;
        assert_eq!(stream.status(), StatusCode::OK);
        // Meanwhile other clients are served: saves and reads answer while the run goes on.
        let mut i = 0;
        let finished = eventually_async(Duration::from_secs(1800), || {
            i += 1;
            let other = &other;
            async move {
                let saved = ok_json(
                    &call(
                        other,
                        "context_save",
                        json!({"name": format!("during-{i}"), "notes": "x"}),
                    )
                    .await,
                );
                assert_eq!(saved["version"], 1);
                let (_, status) = newest_test_run(other).await?;
                (status != "running").then_some(status)
            }
        })
        .await;
        assert_eq!(
            finished.as_deref(),
            Some("passed"),
            "the flood run did not finish"
        );
        drop(stream);
    } else {
        let handler = TestClient::default();
        let reader = http_client_with(handler.clone(), &server.url, Generation::Handshake).await;
        let mut params = rmcp::model::CallToolRequestParams::new("run_tests").with_arguments(
            json!({"suite": "flood"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        params.meta = Some(rmcp::model::RequestMetaObject::with_progress_token(
            rmcp::model::ProgressToken(rmcp::model::NumberOrString::Number(7)),
        ));
        let r = reader.call_tool(params).await.expect("run_tests");
        assert_ne!(r.is_error, Some(true), "{}", text(&r));
        let got = handler.received.lock().unwrap().progress.len();
        println!("reading client received {got} progress notifications");
    }
    stop.store(true, Ordering::SeqCst);
    let peak = sampler.await.expect("sampler");
    // The server is whole afterwards.
    ok_json(
        &call(
            &other,
            "context_save",
            json!({"name": "after", "notes": "y"}),
        )
        .await,
    );
    (peak, before)
}

#[tokio::test]
async fn a_client_that_never_reads_its_progress_leaves_memory_bounded_and_others_served() {
    // The same 100,000-event run twice, at once, on two servers: one client reads every
    // progress notification, the other never reads its stream. The stalled client's
    // notifications are coalesced (PROGRESS_QUEUE), not buffered: its server's peak RSS
    // stays within 16 MB of the reading one's (unbounded, 100,000 queued notifications
    // would take over 25 MB more).
    let (stalled, reading) = tokio::join!(flood_run(true), flood_run(false));
    println!(
        "peak RSS: stalled client {} kB (from {} kB), reading client {} kB (from {} kB)",
        stalled.0, stalled.1, reading.0, reading.1
    );
    let grew_stalled = stalled.0.saturating_sub(stalled.1);
    let grew_reading = reading.0.saturating_sub(reading.1);
    assert!(
        grew_stalled <= grew_reading + 16 * 1024,
        "a stalled client made the server grow by {grew_stalled} kB, a reading one by {grew_reading} kB"
    );
}

// ------------------------------------------------------------------ concurrent runs

#[tokio::test]
async fn runs_over_the_configured_limit_are_refused_as_busy_naming_the_running_ones() {
    let ws = Workspace::new();
    ws.write(
        "apex.toml",
        "[runs]\nmax_concurrent = 1\n\n[tests.suites.slow]\ncommand = [\"python3\", \"-c\", \"import time; time.sleep(600)\"]\n",
    );
    let server = http_server(ws.path(), &[]).await;
    let client = http_client(&server.url, Generation::Handshake).await;
    let started = ok_json(
        &call(
            &client,
            "run_tests",
            json!({"suite": "slow", "background": true}),
        )
        .await,
    );
    let run_id = started["run_id"].as_str().expect("run_id").to_string();
    // Any other long run is refused while it runs, naming it.
    for (tool, args) in [
        ("run_tests", json!({"suite": "slow", "background": true})),
        (
            "generate_synthetic_data",
            json!({"profile": "ecommerce", "count": 100, "seed": 1}),
        ),
    ] {
        let r = call(&client, tool, args).await;
        assert_tool_error(&r, &["busy: 1 runs are in progress", &run_id, "cancel_run"]);
    }
    // Another client is told the same.
    let other = http_client(&server.url, Generation::Stateless).await;
    let r = call(
        &other,
        "generate_synthetic_data",
        json!({"profile": "ecommerce", "count": 100, "seed": 1}),
    )
    .await;
    assert_tool_error(&r, &["busy", &run_id]);
    ok_json(&call(&client, "cancel_run", json!({"run_id": run_id})).await);
    let freed = eventually_async(Duration::from_secs(60), || async {
        let r = call(
            &other,
            "generate_synthetic_data",
            json!({"profile": "ecommerce", "count": 100, "seed": 1}),
        )
        .await;
        (r.is_error != Some(true)).then_some(())
    })
    .await;
    assert!(freed.is_some(), "the slot was not freed after cancel_run");
}
