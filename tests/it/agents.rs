//! Agents and data tools end to end: the real binary, a real rmcp client, the hand-made
//! dataset of tests/fixtures/agents/ (totals known by construction, see make_workload.py).

use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

const EVENTS: [&str; 4] = [
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "partial_result",
];

fn fixture_workspace() -> Workspace {
    let ws = Workspace::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents/workload.jsonl");
    ws.write(
        "logs/workload.jsonl",
        &std::fs::read_to_string(src).unwrap(),
    );
    ws
}

async fn ingest(client: &Client) -> Value {
    ok_json(
        &call(
            client,
            "ingest_logs",
            json!({"path": "logs/workload.jsonl", "dataset": "fixture"}),
        )
        .await,
    )
}

#[tokio::test]
async fn supervisor_report_has_the_known_figures_and_streams_every_event_in_order() {
    let ws = fixture_workspace();
    for generation in BOTH {
        let handler = TestClient::default();
        let received = handler.received.clone();
        let client = stdio_client_with(handler, ws.path(), generation, &[]).await;
        let ing = ingest(&client).await;
        assert_eq!(
            (ing["accepted"].as_u64(), ing["rejected"].as_u64()),
            (Some(155), Some(0))
        );
        // The ingest is a run of its own: it streamed its start and end, and is recorded.
        let ingest_progress: Vec<String> = received
            .lock()
            .unwrap()
            .progress
            .iter()
            .map(|p| p.message.clone().unwrap_or_default())
            .collect();
        assert!(
            ingest_progress
                .first()
                .is_some_and(|m| m.starts_with("ingest_started"))
                && ingest_progress
                    .last()
                    .is_some_and(|m| m.starts_with("ingest_finished")),
            "{ingest_progress:?}"
        );
        let ingest_run = ing["run_id"]
            .as_str()
            .expect("ingest_logs answers its run_id");
        assert!(ingest_run.starts_with("ingest-"), "{ingest_run}");
        let before = ingest_progress.len();

        let result = call(
            &client,
            "run_agent",
            json!({"agent": "supervisor", "request": "cut our LLM spend", "dataset": "fixture"}),
        )
        .await;
        let out = ok_json(&result);
        assert_eq!(out["status"], "completed");
        let report = &out["report"];
        assert_eq!(report["narrator"], "deterministic", "{generation:?}");
        assert_eq!(report["cost_analysis"]["overview"]["spend_usd"], 3.63);
        assert_eq!(report["cost_analysis"]["duplicates"]["repeats"], 9);
        let kinds: Vec<&str> = report["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        for k in [
            "prompt_caching",
            "right_sizing",
            "retry_waste",
            "response_caching",
            "batch_api",
        ] {
            assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
        }
        assert!(!kinds.contains(&"output_caps"), "{kinds:?}");
        assert!(text(&result).contains("## Action plan"));

        // Progress: one notification per event, strictly increasing, in the contract's order.
        let progress = received.lock().unwrap().progress[before..].to_vec();
        let seqs: Vec<f64> = progress.iter().map(|p| p.progress).collect();
        assert_eq!(
            seqs,
            (1..=23).map(f64::from).collect::<Vec<_>>(),
            "{generation:?}"
        );
        assert!(progress.iter().all(|p| p.total == Some(23.0)));
        let names: Vec<String> = progress
            .iter()
            .map(|p| {
                p.message
                    .clone()
                    .unwrap_or_default()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut want = vec!["agent_started".to_string()];
        for _ in 0..5 {
            want.extend(EVENTS.iter().map(|s| s.to_string()));
        }
        want.extend(["final_report".to_string(), "agent_completed".to_string()]);
        assert_eq!(names, want);

        // The stored log replays the same events, with the DESIGN.md fields.
        let run_id = out["run_id"].as_str().unwrap().to_string();
        let res = client
            .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
                "apex://runs/{run_id}/events"
            )))
            .await
            .unwrap();
        let body = match &res.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("{other:?}"),
        };
        let events: Vec<Value> = serde_json::from_str(&body).unwrap();
        let stored: Vec<&str> = events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(stored, want.iter().map(String::as_str).collect::<Vec<_>>());
        let fin = events
            .iter()
            .find(|e| e["event"] == "final_report")
            .unwrap();
        for k in [
            "agent",
            "report",
            "executive_summary",
            "cost_analysis",
            "recommendations",
            "action_plan",
            "total_duration_ms",
            "narrator",
        ] {
            assert!(fin["data"].get(k).is_some(), "final_report lacks {k}");
        }
        let got = ok_json(
            &call(
                &client,
                "get_agent_run",
                json!({"run_id": run_id, "after_seq": 20}),
            )
            .await,
        );
        assert_eq!(got["status"], "completed");
        assert_eq!(got["events"].as_array().unwrap().len(), 3);
        assert_eq!(
            got["report"]["cost_analysis"]["overview"]["model_calls"],
            150
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn runs_survive_a_restart_and_background_runs_finish() {
    let ws = fixture_workspace();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    ingest(&client).await;
    let out = ok_json(
        &call(
            &client,
            "run_agent",
            json!({"agent": "optimization", "dataset": "fixture", "background": true}),
        )
        .await,
    );
    assert_eq!(out["status"], "running");
    let run_id = out["run_id"].as_str().unwrap().to_string();
    let done = wait_for(
        Duration::from_secs(60),
        "the background agent run to end",
        || async {
            let got = ok_json(&call(&client, "get_agent_run", json!({"run_id": run_id})).await);
            if got["status"] == "running" {
                Err(got["status"].clone())
            } else {
                Ok(got)
            }
        },
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    client.cancel().await.unwrap();
    // a new server process reads the same run
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    let got = ok_json(&call(&client, "get_agent_run", json!({"run_id": run_id})).await);
    assert_eq!(
        got["report"]["recommendations"].as_array().unwrap().len(),
        5
    );
    assert_eq!(got["events"].as_array().unwrap().len(), 3 + 4 * 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_with_what_exists() {
    let ws = fixture_workspace();
    ws.write("logs/messy.jsonl", "{\"timestamp\":\"2026-01-01T00:00:00Z\",\"model\":\"gpt-4o\",\"input_tokens\":100,\"output_tokens\":10,\"latency_ms\":5}\nnot json\n{\"timestamp\":\"yesterday\",\"model\":\"gpt-4o\",\"input_tokens\":1,\"output_tokens\":1,\"latency_ms\":1}\n{\"timestamp\":\"2026-01-01T00:00:00Z\",\"model\":\"mystery-model\",\"provider\":\"x\",\"input_tokens\":1,\"output_tokens\":1,\"latency_ms\":1}\n");
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    ingest(&client).await;
    assert_tool_error(
        &call(
            &client,
            "run_agent",
            json!({"agent": "wizard", "dataset": "fixture"}),
        )
        .await,
        &["agent", "supervisor", "reporting"],
    );
    assert_tool_error(
        &call(
            &client,
            "run_agent",
            json!({"agent": "data", "dataset": "nope"}),
        )
        .await,
        &["dataset", "nope", "fixture"],
    );
    assert_tool_error(
        &call(&client, "describe_dataset", json!({"dataset": "nope"})).await,
        &["fixture"],
    );
    assert_tool_error(
        &call(&client, "get_agent_run", json!({"run_id": "agent-x"})).await,
        &["run_id", "agent-x"],
    );
    // query_data: one SELECT only
    assert_tool_error(
        &call(
            &client,
            "query_data",
            json!({"sql": "DELETE FROM workload_records"}),
        )
        .await,
        &["sql", "SELECT"],
    );
    assert_tool_error(
        &call(&client, "query_data", json!({"sql": "SELECT 1; SELECT 2"})).await,
        &["more than one statement"],
    );
    let q = ok_json(&call(&client, "query_data", json!({"sql": "SELECT model, COUNT(*) AS n FROM workload_records WHERE dataset = 'fixture' GROUP BY model ORDER BY n DESC", "limit": 2})).await);
    assert_eq!(
        q["rows"],
        json!([["gpt-4o", 73], ["claude-sonnet-4-5", 47]])
    );
    assert_eq!(q["truncated"], true);
    // malformed lines are counted and named; the missing cost is priced from the catalog;
    // an unknown model is kept and flagged (unknown_model, unpriced), not rejected
    let m = ok_json(
        &call(
            &client,
            "ingest_logs",
            json!({"path": "logs/messy.jsonl", "dataset": "messy"}),
        )
        .await,
    );
    assert_eq!(
        (m["accepted"].as_u64(), m["rejected"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(m["quality"]["unknown_model"]["examples"][0]["line"], 4);
    assert_eq!(m["quality"]["unpriced"]["count"], 1);
    let lines: Vec<u64> = m["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![2, 3]);
    assert_eq!(m["filled"]["cost_usd"], 1);
    assert_eq!(m["spend_usd"], 0.00035); // gpt-4o: 100 in at $2.50 + 10 out at $10 per million
    assert_tool_error(
        &call(
            &client,
            "ingest_logs",
            json!({"path": "../outside.jsonl", "dataset": "x"}),
        )
        .await,
        &["path"],
    );
    // an empty dataset: a report that says there is nothing to analyse
    ws.write("logs/empty.jsonl", "");
    ok_json(
        &call(
            &client,
            "ingest_logs",
            json!({"path": "logs/empty.jsonl", "dataset": "empty"}),
        )
        .await,
    );
    let r = call(&client, "run_agent", json!({"dataset": "empty"})).await;
    let out = ok_json(&r);
    assert_eq!(out["report"]["pipeline"], json!(["triage", "reporting"]));
    assert!(text(&r).contains("nothing to analyse"), "{}", text(&r));
    let listed = ok_json(&call(&client, "list_datasets", json!({})).await);
    assert_eq!(listed["datasets"].as_array().unwrap().len(), 3);
    let agents = ok_json(&call(&client, "list_agents", json!({})).await);
    assert_eq!(agents["agents"].as_array().unwrap().len(), 6);
    client.cancel().await.unwrap();
}

/// `SELECT SUM(weight), SUM(cost_usd)` of `from` (a table or view) for one dataset,
/// through query_data: (count, spend in cents).
async fn count_and_cents(client: &Client, from: &str, dataset: &str) -> (u64, i64) {
    let q = ok_json(
        &call(
            client,
            "query_data",
            json!({"sql": format!("SELECT SUM(weight) AS n, SUM(cost_usd) AS spend FROM {from} WHERE dataset = '{dataset}'")}),
        )
        .await,
    );
    let row = &q["rows"][0];
    (
        row[0].as_u64().unwrap(),
        (row[1].as_f64().unwrap() * 100.0).round() as i64,
    )
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) * 100.0).round() as i64
}

/// Every dollar is counted once, and the four places that total a dataset agree to the cent:
/// the ingest's answer, describe_dataset, query_data's `model_calls` view and the report (and
/// the report's own overview query, run through query_data). Fixtures and their totals:
/// tests/fixtures/agents/make_accounting.py.
#[tokio::test]
async fn spend_on_agent_spans_is_counted_once_and_every_total_agrees() {
    let ws = Workspace::new();
    for f in ["agent_spans.jsonl", "rollups.jsonl"] {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/agents")
            .join(f);
        ws.write(&format!("logs/{f}"), &std::fs::read_to_string(src).unwrap());
    }
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    // (file, dataset, model calls, counted cents, rollups, rollup cents, recorded cents)
    let cases = [
        ("agent_spans.jsonl", "agents", 240, 2358, 0, 0, 2358),
        ("rollups.jsonl", "rollups", 69, 500, 20, 300, 800),
    ];
    for (file, dataset, calls, spend, rollups, rollup_spend, recorded) in cases {
        let ing = ok_json(
            &call(
                &client,
                "ingest_logs",
                json!({"path": format!("logs/{file}"), "dataset": dataset}),
            )
            .await,
        );
        assert_eq!(ing["model_calls"], calls, "{dataset}: {ing}");
        assert_eq!(cents(&ing["spend_usd"]), spend, "{dataset}");
        assert_eq!(ing["rollup_records"], rollups, "{dataset}");
        assert_eq!(cents(&ing["rollup_spend_usd"]), rollup_spend, "{dataset}");
        assert_eq!(cents(&ing["recorded_spend_usd"]), recorded, "{dataset}");

        let described = call(&client, "describe_dataset", json!({"dataset": dataset})).await;
        let d = ok_json(&described);
        assert_eq!(d["overview"]["model_calls"], calls, "{dataset}: {d}");
        assert_eq!(cents(&d["overview"]["spend_usd"]), spend, "{dataset}");
        assert_eq!(d["overview"]["rollup_records"], rollups, "{dataset}");

        assert_eq!(
            count_and_cents(&client, "model_calls", dataset).await,
            (calls, spend),
            "{dataset}: query_data over model_calls"
        );
        assert_eq!(
            count_and_cents(&client, "workload_records", dataset)
                .await
                .1,
            recorded,
            "{dataset}: every span's cost, rollups included"
        );

        let out = ok_json(
            &call(
                &client,
                "run_agent",
                json!({"agent": "supervisor", "request": "cut our LLM spend", "dataset": dataset}),
            )
            .await,
        );
        let overview = &out["report"]["cost_analysis"]["overview"];
        assert_eq!(overview["model_calls"], calls, "{dataset}: {overview}");
        assert_eq!(cents(&overview["spend_usd"]), spend, "{dataset}");
        // The report's overview query reproduces its figures through query_data.
        let q = ok_json(
            &call(
                &client,
                "query_data",
                json!({"sql": overview["sql"].as_str().unwrap()}),
            )
            .await,
        );
        let cols: Vec<&str> = q["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let at = |name: &str| &q["rows"][0][cols.iter().position(|c| *c == name).unwrap()];
        assert_eq!(at("model_calls"), &json!(calls), "{dataset}: {q}");
        assert_eq!(cents(at("spend_usd")), spend, "{dataset}");
    }

    // The 240 agent spans are the whole workload: a full report, with totals by model.
    let d = ok_json(&call(&client, "describe_dataset", json!({"dataset": "agents"})).await);
    assert_eq!(d["by_model"]["rows"].as_array().unwrap().len(), 3, "{d}");
    // The rollups say what was left out and why, and the spend no provider can be credited with.
    let described = call(&client, "describe_dataset", json!({"dataset": "rollups"})).await;
    let d = ok_json(&described);
    assert_eq!(d["overview"]["other_records"], 20, "{d}");
    assert_eq!(d["overview"]["unattributed_calls"], 4, "{d}");
    assert_eq!(cents(&d["overview"]["unattributed_spend_usd"]), 100);
    let text = crate::common::text(&described);
    for want in [
        "20 spans were left out as rollups",
        "$3.00",
        "names no model or provider",
    ] {
        assert!(
            text.contains(want),
            "describe_dataset lacks {want:?}: {text}"
        );
    }
    let out = ok_json(
        &call(
            &client,
            "run_agent",
            json!({"agent": "supervisor", "request": "cut our LLM spend", "dataset": "rollups"}),
        )
        .await,
    );
    let markdown = out["report"]["markdown"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + &out["report"]["notes"].to_string();
    for want in ["left out as rollups", "names no model or provider"] {
        assert!(
            markdown.contains(want),
            "the report lacks {want:?}: {markdown}"
        );
    }
    client.cancel().await.unwrap();
}

/// A report's figures without what names its dataset (its name and the SQL).
fn figures_of(cost_analysis: &Value) -> Value {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| k.as_str() != "sql")
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let mut v = strip(cost_analysis);
    if let Some(m) = v.as_object_mut() {
        for k in ["dataset", "figures_sql"] {
            m.remove(k);
        }
    }
    v
}

fn cli(root: &std::path::Path, args: &[&str]) -> String {
    cli_env(root, args, &[])
}

fn cli_env(root: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(bin())
        .args(args)
        .arg("--root")
        .arg(root)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "netra-apex {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The same synthetic records twice: as synth's Parquet file `out/calls.parquet` (as a
/// pipeline would write them) and as our own dataset `own`.
fn synth_both(ws: &Workspace, count: &str, seed: &str, days: &str) {
    let same = ["--count", count, "--seed", seed, "--days", days];
    let parquet = [
        "synth",
        "--format",
        "parquet",
        "--output",
        "out/calls.parquet",
    ];
    cli(ws.path(), &[&parquet[..], &same[..]].concat());
    let dataset = ["synth", "--format", "dataset", "--dataset", "own"];
    cli(ws.path(), &[&dataset[..], &same[..]].concat());
}

/// Parquet a pipeline already wrote (synth's own `--format parquet`, moved out of the
/// workspace) is attached and analysed in place: every figure of the report equals the same
/// records' report as a dataset of our own, and the files are never written.
#[tokio::test]
async fn parquet_where_it_lies_is_analysed_in_place_like_our_own_dataset() {
    let ws = Workspace::new();
    let pipeline = tempfile::tempdir().unwrap();
    synth_both(&ws, "20000", "7", "9");
    let dir = pipeline.path().join("logs");
    std::fs::create_dir_all(dir.join("_temporary")).unwrap();
    std::fs::rename(
        ws.path().join("out/calls.parquet"),
        dir.join("calls.parquet"),
    )
    .unwrap();
    std::fs::write(dir.join("_SUCCESS"), "").unwrap();
    let attached = cli(
        ws.path(),
        &["datasets", "attach", "pipeline", dir.to_str().unwrap()],
    );
    assert!(
        attached.contains("20000 records") && attached.contains("1 file(s)"),
        "{attached}"
    );
    let listed = cli(ws.path(), &["datasets", "list"]);
    assert!(
        listed.contains("pipeline") && listed.contains("external"),
        "{listed}"
    );

    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let mut reports = Vec::new();
    for dataset in ["own", "pipeline"] {
        let d = ok_json(&call(&client, "describe_dataset", json!({"dataset": dataset})).await);
        assert_eq!(d["overview"]["records"], 20000, "{dataset}: {d}");
        let out = ok_json(
            &call(
                &client,
                "run_agent",
                json!({"agent": "supervisor", "request": "cut our LLM spend", "dataset": dataset}),
            )
            .await,
        );
        reports.push(figures_of(&out["report"]["cost_analysis"]));
    }
    let keys: Vec<&String> = reports[0].as_object().unwrap().keys().collect();
    for key in [
        "overview",
        "breakdowns",
        "percentiles",
        "duplicates",
        "failures",
    ] {
        assert!(keys.contains(&&key.to_string()), "{key} not in {keys:?}");
    }
    assert!(reports[0]["overview"]["model_calls"].as_u64() > Some(10_000));
    assert_eq!(
        reports[0], reports[1],
        "the attached files' figures differ from the same records as a dataset"
    );
    // Read-only: an ingest into it is refused by name, and detaching keeps the files.
    ws.write("logs/more.jsonl", "");
    let refused = call(
        &client,
        "ingest_logs",
        json!({"path": "logs/more.jsonl", "dataset": "pipeline"}),
    )
    .await;
    assert_tool_error(&refused, &["pipeline", "attached from", "read-only"]);
    client.cancel().await.unwrap();
    let detached = cli(ws.path(), &["datasets", "delete", "pipeline"]);
    assert!(detached.contains("detached"), "{detached}");
    assert!(dir.join("calls.parquet").exists());
}

/// The clients' venv Python when it has moto's S3 server and boto3 (CI installs them).
fn moto_python() -> Option<std::path::PathBuf> {
    let venv =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/clients/.venv/bin/python");
    [venv, std::path::PathBuf::from("python3")]
        .into_iter()
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import moto.server, boto3"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// A moto S3 server on loopback; killed on drop.
struct S3Server {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn s3_server(python: &std::path::Path) -> S3Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let up = eventually_async(Duration::from_secs(60), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(
        up.is_some(),
        "moto's S3 server did not start on port {port}"
    );
    server
}

/// An object-store URL is attached and analysed like a directory: synth's Parquet uploaded
/// to an S3-compatible server (moto, on loopback), attached as `s3://…`, credentials and
/// endpoint from the environment as object_store documents them; junk objects skipped.
#[tokio::test]
async fn an_s3_url_is_attached_and_analysed_through_object_store() {
    let python = moto_python();
    if !apex_testkit::tool_available(
        "an_s3_url_is_attached_and_analysed_through_object_store",
        python.is_some(),
        "moto's S3 server (python: pip install 'moto[server]', in tools/clients/requirements.txt) is not installed",
    ) {
        return;
    }
    let python = python.unwrap();
    let s3 = s3_server(&python).await;
    let ws = Workspace::new();
    synth_both(&ws, "5000", "11", "3");
    let upload = std::process::Command::new(&python)
        .args([
            "-c",
            "import boto3, sys\n\
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\n\
s3.create_bucket(Bucket='llm')\n\
s3.upload_file(sys.argv[2], 'llm', 'calls/dt=2026-01-01/part-0.parquet')\n\
s3.put_object(Bucket='llm', Key='calls/_SUCCESS', Body=b'')\n\
s3.put_object(Bucket='llm', Key='calls/broken.parquet', Body=b'not parquet')\n",
            &s3.endpoint,
            ws.path().join("out/calls.parquet").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        upload.status.success(),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );
    let env = [
        ("AWS_ENDPOINT", s3.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let attached = cli_env(
        ws.path(),
        &["datasets", "attach", "lake", "s3://llm/calls/"],
        &env,
    );
    assert!(
        attached.contains("5000 records") && attached.contains("1 file(s), 1 skipped"),
        "{attached}"
    );

    let client = stdio_client_env(
        TestClient::default(),
        ws.path(),
        Generation::Stateless,
        &[],
        &env,
    )
    .await;
    let lake = ok_json(&call(&client, "describe_dataset", json!({"dataset": "lake"})).await);
    let own = ok_json(&call(&client, "describe_dataset", json!({"dataset": "own"})).await);
    assert_eq!(lake["overview"]["records"], 5000, "{lake}");
    assert_eq!(
        figures_of(&lake["overview"]),
        figures_of(&own["overview"]),
        "the S3 files' figures differ from the same records as a dataset"
    );
    assert!(
        lake.to_string().contains("s3://llm/calls/broken.parquet"),
        "the broken object is named: {lake}"
    );
    let q = ok_json(
        &call(
            &client,
            "query_data",
            json!({"sql": "SELECT day, COUNT(*) AS n FROM workload_records WHERE dataset = 'lake' GROUP BY day ORDER BY day"}),
        )
        .await,
    );
    assert_eq!(q["rows"].as_array().map(Vec::len), Some(3), "{q}");
    client.cancel().await.unwrap();
}
