//! The one run driver as a user meets it: a CLI run is recorded like a server run and reads
//! back through `apex://runs/{id}`; `ingest_logs` is a run that streams progress and stops
//! on `cancel_run`.

// Logging notifications are deprecated in 2026-07-28; handshake-era clients still use them.
#![allow(deprecated)]

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use rmcp::model::{
    LoggingLevel, ReadResourceRequestParams, ResourceContents, SetLevelRequestParams,
};
use serde_json::{Value, json};

async fn read_json(client: &Client, uri: &str) -> Value {
    let res = client
        .read_resource(ReadResourceRequestParams::new(uri.to_string()))
        .await
        .unwrap_or_else(|e| panic!("resources/read {uri}: {e}"));
    match &res.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => {
            serde_json::from_str(text).expect("resource JSON")
        }
        other => panic!("{uri}: {other:?}"),
    }
}

/// `netra-apex ARGS...` in `root`; stdout, stderr and whether it succeeded.
fn cli(root: &std::path::Path, args: &[&str]) -> (String, String, bool) {
    let out = std::process::Command::new(bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run netra-apex");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// The run id a CLI command printed as `run <id>` (or `(run <id>)`).
fn printed_run_id(text: &str) -> String {
    text.split_whitespace()
        .skip_while(|w| !w.trim_start_matches('(').eq("run"))
        .nth(1)
        .map(|w| w.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no run id in {text:?}"))
}

#[tokio::test]
async fn cli_runs_are_recorded_and_read_back_through_the_server() {
    let ws = Workspace::new();
    let (_out, err, ok) = cli(
        ws.path(),
        &[
            "synth",
            "--count",
            "3000",
            "--seed",
            "7",
            "--format",
            "jsonl",
            "--output",
            "logs/w.jsonl",
        ],
    );
    assert!(ok, "synth failed: {err}");
    let gen_id = printed_run_id(&err);
    assert!(gen_id.starts_with("gen-"), "{gen_id}");
    let (out, err, ok) = cli(ws.path(), &["ingest", "logs/w.jsonl", "--dataset", "w"]);
    assert!(ok, "ingest failed: {err}");
    let ingest_id = printed_run_id(&out);
    assert!(ingest_id.starts_with("ingest-"), "{ingest_id}");

    let client = stdio_client(ws.path(), Generation::Stateless).await;
    let run = read_json(&client, &format!("apex://runs/{gen_id}")).await;
    assert_eq!(
        (run["kind"].as_str(), run["status"].as_str()),
        (Some("generation"), Some("completed")),
        "{run}"
    );
    assert_eq!(run["result"]["records"], 3000, "{run}");
    let events = read_json(&client, &format!("apex://runs/{gen_id}/events")).await;
    let names: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"generation_started"), "{names:?}");
    assert_eq!(names.last(), Some(&"generation_finished"), "{names:?}");

    let run = read_json(&client, &format!("apex://runs/{ingest_id}")).await;
    assert_eq!(
        (run["kind"].as_str(), run["status"].as_str()),
        (Some("ingest"), Some("completed")),
        "{run}"
    );
    assert_eq!(run["result"]["accepted"], 3000, "{run}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn ingest_logs_streams_progress_and_stops_on_cancel_run() {
    let ws = Workspace::new();
    let (_out, err, ok) = cli(
        ws.path(),
        &[
            "synth",
            "--count",
            "400000",
            "--seed",
            "3",
            "--format",
            "jsonl",
            "--output",
            "logs/big.jsonl",
        ],
    );
    assert!(ok, "synth failed: {err}");
    let handler = TestClient::default();
    let received = handler.received.clone();
    let client = Arc::new(stdio_client_with(handler, ws.path(), Generation::Handshake, &[]).await);
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Info))
        .await
        .expect("logging/setLevel");
    let ingest = {
        let client = client.clone();
        tokio::spawn(async move {
            call(
                &client,
                "ingest_logs",
                json!({"path": "logs/big.jsonl", "dataset": "big"}),
            )
            .await
        })
    };
    // The run's first event carries its id (logging notifications hold the whole event).
    let run_id = eventually(Duration::from_secs(60), || {
        let got = received.lock().unwrap();
        got.logs.iter().find_map(|l| {
            (l.data["event"] == "ingest_started")
                .then(|| l.data["run_id"].as_str().map(String::from))?
        })
    })
    .await
    .expect("ingest_started was logged with its run id");
    let cancelled = ok_json(&call(&client, "cancel_run", json!({"run_id": run_id})).await);
    assert_eq!(cancelled["kind"], "ingest", "{cancelled}");
    let answer = ingest.await.expect("the ingest call ended");
    let run = read_json(&client, &format!("apex://runs/{run_id}")).await;
    if answer.is_error == Some(true) {
        assert!(text(&answer).contains("cancel"), "{}", text(&answer));
        assert_eq!(run["status"], "cancelled", "{run}");
        // Nothing half-ingested is registered.
        let listed = ok_json(&call(&client, "list_datasets", json!({})).await);
        assert!(
            !listed.to_string().contains("\"big\""),
            "a cancelled ingest left a dataset: {listed}"
        );
    } else {
        // The whole file was read before the cancellation arrived: then it must be complete.
        assert_eq!(ok_json(&answer)["accepted"], 400000, "{}", text(&answer));
        assert_eq!(run["status"], "completed", "{run}");
    }
    let progress: Vec<String> = received
        .lock()
        .unwrap()
        .progress
        .iter()
        .filter_map(|p| p.message.clone())
        .collect();
    assert!(
        progress
            .first()
            .is_some_and(|m| m.starts_with("ingest_started")),
        "{progress:?}"
    );
}
