//! Test execution end to end: the real binary, a real MCP client, the real cargo on the
//! fixture crate in tests/fixtures/testrun/cargo.

use std::time::Duration;

use crate::common::*;
use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressToken, ReadResourceRequestParams,
    RequestMetaObject,
};
use serde_json::{Value, json};

/// The cargo fixture, with a suite that builds into its own target dir (no lock shared
/// with the build running these tests).
fn cargo_workspace() -> Workspace {
    let ws = Workspace::from_fixture("testrun/cargo");
    ws.write(
        "apex.toml",
        "[tests.suites.unit]\ncommand = \"cargo test\"\nformat = \"libtest\"\nenv = { CARGO_TARGET_DIR = \"target\" }\n\n[tests.suites.broken]\ncommand = \"no-such-runner-xyz --all\"\n",
    );
    ws
}

fn counts(v: &Value) -> (u64, u64, u64, u64) {
    let c = &v["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or(99);
    (n("passed"), n("failed"), n("skipped"), n("errored"))
}

async fn call_with_progress(
    client: &Client,
    tool: &str,
    args: Value,
) -> rmcp::model::CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::Number(7),
    )));
    client.call_tool(params).await.expect("tools/call")
}

#[tokio::test]
async fn run_tests_streams_each_test_as_progress_in_both_generations() {
    let ws = cargo_workspace();
    for generation in BOTH {
        let handler = TestClient::default();
        let received = handler.received.clone();
        let client = stdio_client_with(handler, ws.path(), generation, &[]).await;
        let result = call_with_progress(&client, "run_tests", json!({"suite": "unit"})).await;
        let v = ok_json(&result);
        assert_eq!(counts(&v), (3, 2, 1, 0), "{v}");
        assert_eq!(v["status"], "failed");
        let failures = v["failures"].as_array().unwrap();
        let wrong = failures
            .iter()
            .find(|f| f["name"] == "tests::wrong_sum_fails")
            .expect("wrong_sum_fails among failures");
        assert_eq!(
            wrong["message"],
            "assertion `left == right` failed: two plus two is not five\n  left: 4\n right: 5"
        );
        assert_eq!(wrong["location"], "src/lib.rs:24");
        let panic = failures
            .iter()
            .find(|f| f["name"] == "tests::panics_on_purpose")
            .unwrap();
        assert_eq!(panic["message"], "boom: the fixture panicked on purpose");
        let text = text(&result);
        assert!(text.starts_with("FAILED tests::"), "{text}");
        assert!(text.contains("3 passed, 2 failed, 1 skipped"), "{text}");

        let progress = received.lock().unwrap().progress.clone();
        let messages: Vec<String> = progress
            .iter()
            .map(|p| p.message.clone().unwrap_or_default())
            .collect();
        assert!(messages[0].starts_with("suite_started"), "{messages:?}");
        assert_eq!(
            messages
                .iter()
                .filter(|m| m.starts_with("test_finished: ") && m.contains(" tests::"))
                .count(),
            6,
            "{messages:?}"
        );
        assert!(messages.contains(&"test_finished: failed tests::wrong_sum_fails".to_string()));
        assert_eq!(messages.last().unwrap(), "suite_finished: failed");
        assert!(progress.windows(2).all(|w| w[0].progress < w[1].progress));
        client.cancel().await.unwrap();
    }
}

/// Processes whose command line contains `needle` and `dir`.
fn processes_with(needle: &str, dir: &std::path::Path) -> Vec<String> {
    let dir = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains(needle) && cwd.display().to_string().starts_with(&dir)).then_some(cmd)
        })
        .collect()
}

#[tokio::test]
async fn background_run_is_followed_and_cancelled_with_its_process_group() {
    let ws = cargo_workspace();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    // Build first so that the hang starts promptly.
    let warm = ok_json(
        &call(
            &client,
            "run_tests",
            json!({"suite": "unit", "max_tokens": 200}),
        )
        .await,
    );
    assert_eq!(counts(&warm), (3, 2, 1, 0));

    let started = ok_json(
        &call(
            &client,
            "run_tests",
            json!({"suite": "unit", "filter": "hang_forever", "background": true}),
        )
        .await,
    );
    assert_eq!(started["status"], "running");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let running = ok_json(&call(&client, "get_test_run", json!({"run_id": run_id})).await);
    assert_eq!(running["status"], "running");
    // Wait until the test binary is actually hanging.
    let root = ws.path().canonicalize().unwrap();
    eventually(Duration::from_secs(60), || {
        (!processes_with("hang_forever", &root).is_empty()).then_some(())
    })
    .await
    .expect("the hanging test started");

    let cancelled = ok_json(&call(&client, "cancel_run", json!({"run_id": run_id})).await);
    assert_eq!(cancelled["status"], "cancelling");
    let last = wait_for(
        Duration::from_secs(60),
        "the cancelled test run to end",
        || async {
            let got = ok_json(&call(&client, "get_test_run", json!({"run_id": run_id})).await);
            if got["status"] == "running" {
                Err(got["status"].clone())
            } else {
                Ok(got)
            }
        },
    )
    .await;
    assert_eq!(last["status"], "cancelled", "{last}");
    assert!(
        processes_with("hang_forever", &root).is_empty(),
        "the test process outlived the cancelled run"
    );

    // The resource has every result; list_test_runs shows both runs, newest first.
    let res = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "apex://test-runs/{}",
            warm["run_id"].as_str().unwrap()
        )))
        .await
        .expect("resources/read");
    let body = match &res.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["results"].as_array().unwrap().len(), 6);
    let list = ok_json(&call(&client, "list_test_runs", json!({})).await);
    let runs = list["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run_id"], run_id.as_str());
    // The log is served in pages when asked.
    let with_log = ok_json(
        &call(
            &client,
            "get_test_run",
            json!({"run_id": warm["run_id"], "include_log": true}),
        )
        .await,
    );
    assert!(
        with_log["log"]["text"]
            .as_str()
            .unwrap()
            .contains("test result: FAILED. 3 passed; 2 failed; 1 ignored")
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_and_names_the_field() {
    let ws = cargo_workspace();
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    for (args, needles) in [
        (
            json!({"path": "../.."}),
            vec!["`path`", "outside the workspace root"],
        ),
        (
            json!({"filter": "--exec=rm"}),
            vec!["`filter`", "starts with `-`"],
        ),
        (
            json!({"framework": "maven"}),
            vec!["`framework`", "cargo, pytest, go"],
        ),
        (json!({"suite": "nope"}), vec!["`suite`", "unit"]),
        (json!({"suite": "broken"}), vec!["no-such-runner-xyz"]),
        (json!({"timeout_s": 0}), vec!["`timeout_s`"]),
        (json!({"command": "rm -rf /"}), vec!["command"]),
    ] {
        let r = call(&client, "run_tests", args).await;
        assert_tool_error(&r, &needles);
    }
    let r = call(&client, "get_test_run", json!({"run_id": "test-nope"})).await;
    assert_tool_error(&r, &["`run_id`", "list_test_runs"]);
    client.cancel().await.unwrap();
}

#[test]
fn cli_test_prints_the_summary_and_fails_when_tests_fail() {
    let ws = cargo_workspace();
    let out = std::process::Command::new(bin())
        .args(["test", "--suite", "unit", "--json", "--quiet", "--root"])
        .arg(ws.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(counts(&v), (3, 2, 1, 0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tests did not pass"), "{err}");
}
