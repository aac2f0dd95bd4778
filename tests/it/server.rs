//! The foundation, end to end: the real binary over stdio and HTTP, both protocol
//! generations, discovery, errors, resources, auth.

// Logging notifications are deprecated in 2026-07-28; handshake-era clients still use them.
#![allow(deprecated)]

use std::time::Duration;

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn stdio_lists_tools_and_prompts_in_both_generations() {
    let ws = Workspace::new();
    for generation in BOTH {
        let client = stdio_client(ws.path(), generation).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        for t in &tools {
            let d = t.description.as_deref().unwrap_or("");
            assert!(
                !d.is_empty() && d.len() < 300,
                "{}: description length {}",
                t.name,
                d.len()
            );
            // every parameter carries a one-line description
            if let Some(props) = t.input_schema.get("properties").and_then(|p| p.as_object()) {
                for (name, schema) in props {
                    assert!(
                        schema.get("description").is_some(),
                        "{}.{name} has no description",
                        t.name
                    );
                }
            }
        }
        let prompts = client.list_all_prompts().await.expect("prompts/list");
        assert!(
            prompts.iter().any(|p| p.name == "explain_code"),
            "{generation:?}"
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn unknown_tool_is_a_protocol_error() {
    let ws = Workspace::new();
    for generation in BOTH {
        let client = stdio_client(ws.path(), generation).await;
        let err = try_call(&client, "no_such_tool", json!({}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("tool not found"), "{err}");
        // and the session goes on
        client.list_all_tools().await.expect("still serving");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn prompt_reads_the_file_and_refuses_escapes() {
    let ws = Workspace::new();
    ws.write("src/lib.rs", "pub fn answer() -> u32 {\n    42\n}\n");
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let args = json!({"path": "src/lib.rs"}).as_object().cloned().unwrap();
    let prompt = client
        .get_prompt(rmcp::model::GetPromptRequestParams::new("explain_code").with_arguments(args))
        .await
        .expect("prompts/get");
    let body = serde_json::to_string(&prompt.messages).unwrap();
    assert!(body.contains("pub fn answer()"), "{body}");
    let args = json!({"path": "../../etc/passwd"})
        .as_object()
        .cloned()
        .unwrap();
    let err = client
        .get_prompt(rmcp::model::GetPromptRequestParams::new("explain_code").with_arguments(args))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("outside the workspace root"),
        "{err}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn unknown_resource_names_the_uri() {
    let ws = Workspace::new();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let err = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "apex://runs/nope",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("apex://runs/nope"), "{err}");
    let templates = client.list_all_resource_templates().await.unwrap();
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "apex://runs/{id}/events")
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn http_serves_both_generations_at_once() {
    let ws = Workspace::new();
    let server = http_server(ws.path(), &[]).await;
    let a = http_client(&server.url, Generation::Handshake).await;
    let b = http_client(&server.url, Generation::Stateless).await;
    let (ta, tb) = tokio::join!(a.list_all_tools(), b.list_all_tools());
    assert_eq!(ta.unwrap().len(), tb.unwrap().len());
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

#[tokio::test]
async fn http_with_token_refuses_requests_without_it() {
    let ws = Workspace::new();
    let server = http_server(ws.path(), &["--token", "s3cret"]).await;
    let http = reqwest::Client::new();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}});
    let resp = http
        .post(&server.url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .post(&server.url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // a hostile browser page: right token, foreign Origin
    let resp = http
        .post(&server.url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("Origin", "https://evil.example")
        .bearer_auth("s3cret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "foreign Origin must be refused");
    // DNS rebinding: a foreign Host header
    let resp = http
        .post(&server.url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("Host", "attacker.example")
        .bearer_auth("s3cret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_client_error(),
        "foreign Host must be refused, got {}",
        resp.status()
    );
}

#[tokio::test]
async fn non_loopback_without_token_refuses_to_start() {
    let ws = Workspace::new();
    let out = tokio::process::Command::new(bin())
        .args(["serve", "--http", "0.0.0.0:0", "--root"])
        .arg(ws.path())
        .env_remove("NETRA_APEX_TOKEN")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--token"), "{err}");
}

#[tokio::test]
async fn corrupt_database_is_named_and_refused() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join(".netra-apex")).unwrap();
    std::fs::write(ws.path().join(".netra-apex/apex.db"), vec![7u8; 4096]).unwrap();
    let out = tokio::process::Command::new(bin())
        .args(["serve", "--root"])
        .arg(ws.path())
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apex.db") && err.contains("damaged"), "{err}");
}

#[tokio::test]
async fn two_servers_share_one_data_dir() {
    let ws = Workspace::new();
    let a = stdio_client(ws.path(), Generation::Handshake).await;
    let b = stdio_client(ws.path(), Generation::Stateless).await;
    a.list_all_tools().await.unwrap();
    b.list_all_tools().await.unwrap();
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

/// Raw stdio: malformed JSON and an oversized request get JSON-RPC errors, and the next
/// request is still answered.
#[tokio::test]
async fn stdio_survives_garbage_and_oversized_requests() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let ws = Workspace::new();
    let mut child = tokio::process::Command::new(bin())
        .args(["serve", "--root"])
        .arg(ws.path())
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}});
    stdin
        .write_all(format!("{init}\n").as_bytes())
        .await
        .unwrap();
    let first = out.next_line().await.unwrap().unwrap();
    assert!(first.contains("\"id\":1"), "{first}");
    stdin
        .write_all(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n{this is not json\n",
        )
        .await
        .unwrap();
    let parse_err = out.next_line().await.unwrap().unwrap();
    assert!(parse_err.contains("-32700"), "{parse_err}");
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/list\",\"params\":{{\"pad\":\"{}\"}}}}\n",
        "x".repeat(5 * 1024 * 1024)
    );
    stdin.write_all(huge.as_bytes()).await.unwrap();
    let too_big = out.next_line().await.unwrap().unwrap();
    assert!(
        too_big.contains("-32600") && too_big.contains("too large"),
        "{too_big}"
    );
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n")
        .await
        .unwrap();
    let next = out.next_line().await.unwrap().unwrap();
    assert!(
        next.contains("\"id\":2") && next.contains("tools"),
        "{next}"
    );
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

#[tokio::test]
async fn prompt_paths_complete_against_the_workspace() {
    let ws = Workspace::new();
    ws.write("src/lib.rs", "");
    ws.write("src/main.rs", "");
    ws.write("scripts/x.sh", "");
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let complete = |value: &str| {
        rmcp::model::CompleteRequestParams::new(
            rmcp::model::Reference::for_prompt("explain_code"),
            rmcp::model::ArgumentInfo::new("path", value),
        )
    };
    let top = client.complete(complete("s")).await.unwrap();
    assert_eq!(top.completion.values, vec!["scripts/", "src/"]);
    let inner = client.complete(complete("src/m")).await.unwrap();
    assert_eq!(inner.completion.values, vec!["src/main.rs"]);
    let escape = client.complete(complete("../")).await.unwrap();
    assert!(escape.completion.values.is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_that_name_the_field() {
    let ws = Workspace::new();
    for generation in BOTH {
        let client = stdio_client(ws.path(), generation).await;
        let r = call(&client, "cancel_run", json!({"run_id": 5})).await;
        assert_tool_error(&r, &["`run_id`", "expected a string"]);
        let r = call(&client, "cancel_run", json!({})).await;
        assert_tool_error(&r, &["run_id"]);
        let r = call(&client, "cancel_run", json!({"run_id": "x", "bogus": 1})).await;
        assert_tool_error(&r, &["bogus"]);
        let r = call(&client, "cancel_run", json!({"run_id": "no-such-run"})).await;
        assert_tool_error(&r, &["`run_id`", "no-such-run"]);
        client.cancel().await.unwrap();
    }
}

/// A long tool with a progress token streams strictly increasing progress, sends the whole
/// event as a log message to a client that asked for logs, and stores the events so that
/// apex://runs/{id}/events replays them.
#[tokio::test]
async fn progress_logs_and_replay_through_a_real_run() {
    let ws = Workspace::new();
    for i in 0..40 {
        ws.write(
            &format!("src/m{i}.rs"),
            &format!("pub fn f{i}() -> u32 {{ {i} }}\n"),
        );
    }
    for generation in BOTH {
        let client = stdio_client(ws.path(), generation).await;
        if generation == Generation::Handshake {
            #[allow(deprecated)]
            client
                .set_level(rmcp::model::SetLevelRequestParams::new(
                    rmcp::model::LoggingLevel::Info,
                ))
                .await
                .expect("logging/setLevel");
        }
        let r = call(&client, "reindex", json!({"full": true})).await;
        let body = ok_json(&r);
        let received = client.service().received.clone();
        let progress: Vec<f64> = received
            .lock()
            .unwrap()
            .progress
            .iter()
            .map(|p| p.progress)
            .collect();
        assert!(progress.len() >= 3, "{generation:?}: progress {progress:?}");
        assert!(
            progress.windows(2).all(|w| w[0] < w[1]),
            "not strictly increasing: {progress:?}"
        );
        {
            let got = received.lock().unwrap();
            let first = got.progress[0].message.clone().unwrap_or_default();
            assert!(first.starts_with("index_started"), "{first}");
            let last = got
                .progress
                .last()
                .unwrap()
                .message
                .clone()
                .unwrap_or_default();
            assert!(last.starts_with("index_finished"), "{last}");
            if generation == Generation::Handshake {
                assert!(
                    got.logs
                        .iter()
                        .any(|l| l.data.get("event").and_then(|e| e.as_str())
                            == Some("index_finished")),
                    "no index_finished log message among {} logs",
                    got.logs.len()
                );
            }
        }
        let run_id = body
            .get("run_id")
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no run_id in {body}"))
            .to_string();
        let replay = client
            .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
                "apex://runs/{run_id}/events"
            )))
            .await
            .expect("replay");
        let text = match &replay.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("{other:?}"),
        };
        let events: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            events.len(),
            progress.len(),
            "every streamed event is stored"
        );
        assert_eq!(events[0]["event"], "index_started");
        client.cancel().await.unwrap();
        received.lock().unwrap().progress.clear();
    }
}
