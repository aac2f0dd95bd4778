//! Synthetic data end to end: the real binary (CLI and MCP over stdio) generating every
//! format, read back with the parquet, csv and serde crates; determinism across thread
//! counts; realized statistics against the profile; progress; cancellation; bad input.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressToken, ReadResourceRequestParams,
    RequestMetaObject,
};
use serde_json::{Value, json};

/// The shared record schema, as a reader outside this crate would declare it.
#[derive(Debug, serde::Deserialize, PartialEq)]
struct Record {
    event_id: String,
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    timestamp: String,
    tenant: String,
    feature: String,
    workload_type: String,
    operation: String,
    provider: String,
    model: String,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    reasoning_tokens: u64,
    latency_ms: f64,
    ttft_ms: Option<f64>,
    status: String,
    error_type: Option<String>,
    finish_reason: Option<String>,
    prompt_hash: Option<String>,
    cost_usd: f64,
}

fn cli(root: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(bin())
        .arg("--root")
        .arg(root)
        .arg("synth")
        .args(args)
        .output()
        .expect("run netra-apex synth");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn hash_file(p: &Path) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&std::fs::read(p).unwrap())
}

fn read_jsonl(p: &Path) -> Vec<Record> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn same_seed_same_bytes_with_one_and_two_threads() {
    let ws = Workspace::new();
    for (threads, out) in [("1", "t1.jsonl"), ("2", "t2.jsonl")] {
        cli(
            ws.path(),
            &[
                "--profile",
                "gaming",
                "--count",
                "50000",
                "--seed",
                "1234",
                "--format",
                "jsonl",
                "--output",
                out,
                "--threads",
                threads,
            ],
        );
    }
    let (a, b) = (
        hash_file(&ws.path().join("t1.jsonl")),
        hash_file(&ws.path().join("t2.jsonl")),
    );
    assert_eq!(a, b);
    for (threads, out) in [("1", "t1.parquet"), ("2", "t2.parquet")] {
        cli(
            ws.path(),
            &[
                "--profile",
                "gaming",
                "--count",
                "50000",
                "--seed",
                "1234",
                "--format",
                "parquet",
                "--output",
                out,
                "--threads",
                threads,
            ],
        );
    }
    assert_eq!(
        hash_file(&ws.path().join("t1.parquet")),
        hash_file(&ws.path().join("t2.parquet"))
    );
    cli(
        ws.path(),
        &[
            "--profile",
            "gaming",
            "--count",
            "50000",
            "--seed",
            "1235",
            "--format",
            "jsonl",
            "--output",
            "t3.jsonl",
        ],
    );
    assert_ne!(hash_file(&ws.path().join("t3.jsonl")), a);
}

#[test]
fn every_format_reads_back_with_the_same_records() {
    let ws = Workspace::new();
    let base = [
        "--profile",
        "coding_assistant",
        "--count",
        "20000",
        "--seed",
        "99",
    ];
    for (format, out) in [
        ("jsonl", "d.jsonl"),
        ("csv", "d.csv"),
        ("parquet", "d.parquet"),
        ("otlp-json", "d.otlp.jsonl"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--format", format, "--output", out]);
        cli(ws.path(), &args);
    }
    let jsonl = read_jsonl(&ws.path().join("d.jsonl"));
    assert_eq!(jsonl.len(), 20_000);

    let mut reader = csv::Reader::from_path(ws.path().join("d.csv")).unwrap();
    let from_csv: Vec<Record> = reader.deserialize().map(|r| r.unwrap()).collect();
    assert_eq!(from_csv, jsonl, "csv and jsonl carry the same records");

    use arrow::array::{Array, AsArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(ws.path().join("d.parquet")).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
        let cost = batch
            .column_by_name("cost_usd")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        let input = batch
            .column_by_name("input_tokens")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        let parent = batch.column_by_name("parent_span_id").unwrap();
        let ts = batch
            .column_by_name("timestamp")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        for i in 0..batch.num_rows() {
            let j = &jsonl[rows + i];
            assert_eq!(ids.value(i), j.event_id);
            assert_eq!(cost.value(i), j.cost_usd);
            assert_eq!(input.value(i) as u64, j.input_tokens);
            assert_eq!(parent.is_null(i), j.parent_span_id.is_none());
            let t = chrono::DateTime::from_timestamp_millis(ts.value(i)).unwrap();
            assert_eq!(
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                j.timestamp
            );
        }
        rows += batch.num_rows();
    }
    assert_eq!(rows, 20_000);

    let otlp = std::fs::read_to_string(ws.path().join("d.otlp.jsonl")).unwrap();
    let mut spans = Vec::new();
    for line in otlp.lines() {
        let req: Value = serde_json::from_str(line).unwrap();
        spans.extend(
            req["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
    }
    assert_eq!(spans.len(), 20_000);
    for (s, j) in spans.iter().zip(&jsonl).step_by(97) {
        assert_eq!(s["traceId"], j.trace_id.as_str());
        assert_eq!(s["spanId"], j.span_id.as_str());
        let attrs: HashMap<&str, &Value> = s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["key"].as_str().unwrap(), &a["value"]))
            .collect();
        assert_eq!(
            attrs["gen_ai.operation.name"]["stringValue"],
            j.operation.as_str()
        );
        assert_eq!(
            attrs["gen_ai.request.model"]["stringValue"],
            j.model.as_str()
        );
        if j.operation == "chat" {
            assert_eq!(
                attrs["gen_ai.usage.input_tokens"]["intValue"],
                j.input_tokens.to_string().as_str()
            );
        }
    }
}

/// Regression (100M-record run): the Parquet writer keeps every row group's metadata until
/// the footer, so RSS grew with the file (37 MB to 135 MB over 100M records). Per row group
/// it must keep no page indexes and statistics only for `timestamp` (what a time filter
/// prunes row groups by). Ids are written without a dictionary.
#[test]
fn parquet_keeps_little_metadata_per_row_group() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let ws = Workspace::new();
    cli(
        ws.path(),
        &[
            "--profile",
            "ecommerce",
            "--count",
            "100000",
            "--seed",
            "5",
            "--format",
            "parquet",
            "--output",
            "m.parquet",
        ],
    );
    let file = std::fs::File::open(ws.path().join("m.parquet")).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 100_000);
    assert_eq!(meta.num_row_groups(), 2, "64K-row groups");
    assert_eq!(meta.row_group(0).num_rows(), 65_536);
    assert!(meta.column_index().is_none() && meta.offset_index().is_none());
    for rg in meta.row_groups() {
        for col in rg.columns() {
            let name = col.column_path().string();
            let id = [
                "event_id",
                "trace_id",
                "span_id",
                "parent_span_id",
                "prompt_hash",
            ]
            .contains(&name.as_str());
            // Only the time has statistics: what a time filter prunes row groups by.
            assert_eq!(
                col.statistics().is_some(),
                name == "timestamp",
                "statistics of {name}"
            );
            assert!(col.column_index_offset().is_none() && col.offset_index_offset().is_none());
            // Random ids are written plain, without a dictionary; the other strings keep one.
            let dict = col.dictionary_page_offset().is_some();
            if id || ["tenant", "feature", "model"].contains(&name.as_str()) {
                assert_eq!(dict, !id, "dictionary of {name}");
            }
        }
    }
}

#[test]
fn realized_statistics_are_within_tolerance_of_the_profile() {
    let ws = Workspace::new();
    let out = cli(
        ws.path(),
        &[
            "--profile",
            "ecommerce",
            "--count",
            "100000",
            "--seed",
            "5",
            "--format",
            "jsonl",
            "--output",
            "e.jsonl",
            "--json",
        ],
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["quality"]["passed"], true, "{:#}", result["quality"]);
    let recs = read_jsonl(&ws.path().join("e.jsonl"));
    let roots: Vec<&Record> = recs.iter().filter(|r| r.parent_span_id.is_none()).collect();
    let share = |f: &dyn Fn(&Record) -> bool| {
        roots.iter().filter(|r| f(r)).count() as f64 / roots.len() as f64
    };
    // Profile: gpt-4o-mini 0.40, simple_chat 0.45, failed_request 0.05 (per request).
    assert!((share(&|r| r.model == "gpt-4o-mini") - 0.40).abs() < 0.01);
    assert!((share(&|r| r.workload_type == "simple_chat") - 0.45).abs() < 0.01);
    assert!((share(&|r| r.workload_type == "failed_request") - 0.05).abs() < 0.005);
    // simple_chat input tokens: log-normal with mean 500.
    let fresh: Vec<f64> = recs
        .iter()
        .filter(|r| r.workload_type == "simple_chat")
        .map(|r| r.input_tokens as f64)
        .collect();
    let mean = fresh.iter().sum::<f64>() / fresh.len() as f64;
    assert!((mean - 500.0).abs() < 25.0, "{mean}");
    // Peak hours 10, 14, 19, 20 carry more traffic than 03:00.
    let hour = |h: &str| roots.iter().filter(|r| &r.timestamp[11..13] == h).count();
    assert!(hour("19") > 2 * hour("03"), "{} {}", hour("19"), hour("03"));
    // Cost is the catalog's price of the tokens.
    let spend: f64 = recs.iter().map(|r| r.cost_usd).sum();
    assert!((spend - result["summary"]["spend_usd"].as_f64().unwrap()).abs() < 1e-6);
}

async fn call_with_progress(client: &Client, args: Value) -> rmcp::model::CallToolResult {
    let mut params = CallToolRequestParams::new("generate_synthetic_data")
        .with_arguments(args.as_object().cloned().unwrap());
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::Number(77),
    )));
    client.call_tool(params).await.unwrap()
}

#[tokio::test]
async fn the_tool_registers_a_dataset_and_streams_progress() {
    let ws = Workspace::new();
    for generation in BOTH {
        let handler = TestClient::default();
        let received = handler.received.clone();
        let client = stdio_client_with(handler, ws.path(), generation, &[]).await;
        let result = call_with_progress(
            &client,
            json!({"profile": "financial", "count": 60000, "seed": 8, "dataset": "fin"}),
        )
        .await;
        let v = ok_json(&result);
        assert_eq!(v["dataset"], "fin");
        assert_eq!(v["records"], 60000);
        assert_eq!(v["seed"], 8);
        assert!(v["records_per_sec"].as_f64().unwrap() > 0.0);
        assert_eq!(v["quality"]["passed"], true);
        assert!(v["quality"]["model_mix"]["p_value"].as_f64().is_some());
        let progress = received.lock().unwrap().progress.clone();
        assert!(progress.len() >= 3, "{progress:?}");
        assert!(progress.windows(2).all(|w| w[0].progress < w[1].progress));
        let messages: Vec<String> = progress.iter().filter_map(|p| p.message.clone()).collect();
        assert!(
            messages.first().unwrap().starts_with("generation_started"),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("batch_written: ") && m.contains("/60000")),
            "{messages:?}"
        );
        assert!(
            messages.last().unwrap().starts_with("generation_finished"),
            "{messages:?}"
        );
        let q = ok_json(
            &call(
                &client,
                "query_data",
                json!({"sql": "SELECT COUNT(*) AS n FROM workload_records WHERE dataset = 'fin'"}),
            )
            .await,
        );
        assert_eq!(q["rows"][0][0], 60000, "{q}");
        client.cancel().await.unwrap();
    }
    let conn = rusqlite::Connection::open(ws.path().join(".netra-apex/apex.db")).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT record_count FROM datasets WHERE name = 'fin'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 60000);
    let parts = parquet_files(&ws.path().join(".netra-apex/datasets/dataset=fin"));
    assert!(
        parts.iter().all(|p| p.to_string_lossy().contains("/day=")),
        "{parts:?}"
    );
    assert!(!parts.is_empty());
}

/// Every Parquet file under `dir`, recursively.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn the_tool_and_the_cli_write_the_same_bytes() {
    let ws = Workspace::new();
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    let v = ok_json(&call(&client, "generate_synthetic_data", json!({"profile": "healthcare", "count": 30000, "seed": 4, "format": "jsonl", "output": "mcp.jsonl"})).await);
    assert_eq!(v["path"], "mcp.jsonl");
    client.cancel().await.unwrap();
    cli(
        ws.path(),
        &[
            "--profile",
            "healthcare",
            "--count",
            "30000",
            "--seed",
            "4",
            "--format",
            "jsonl",
            "--output",
            "cli.jsonl",
        ],
    );
    assert_eq!(
        hash_file(&ws.path().join("mcp.jsonl")),
        hash_file(&ws.path().join("cli.jsonl"))
    );
}

#[tokio::test]
async fn cancelling_mid_way_leaves_nothing_registered() {
    let ws = Workspace::new();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let db = ws.path().join(".netra-apex/apex.db");
    // A write's parts are staged under the datasets dir until they are committed.
    let staging = ws.path().join(".netra-apex/datasets/.staging");
    let call = {
        let args = json!({"profile": "gaming", "count": 20000000u64, "seed": 1, "dataset": "big"});
        let params = CallToolRequestParams::new("generate_synthetic_data")
            .with_arguments(args.as_object().cloned().unwrap());
        let peer = client.peer().clone();
        tokio::spawn(async move { peer.call_tool(params).await })
    };
    // Find the run in the store, wait until parts are being staged, then cancel it.
    let datasets_dir = ws.path().join(".netra-apex/datasets");
    let run_id = eventually(Duration::from_secs(30), || {
        let conn = rusqlite::Connection::open(&db).ok()?;
        let id: String = conn
            .query_row(
                "SELECT id FROM runs WHERE kind = 'generation' AND status = 'running'",
                [],
                |r| r.get(0),
            )
            .ok()?;
        (!parquet_files(&staging).is_empty()).then_some(id)
    })
    .await
    .expect("a generation in progress");
    let v = ok_json(&crate::common::call(&client, "cancel_run", json!({"run_id": run_id})).await);
    assert_eq!(v["status"], "cancelling");
    let result = call.await.unwrap().unwrap();
    assert_tool_error(&result, &["cancelled", "nothing was written or registered"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let datasets: i64 = conn
        .query_row("SELECT count(*) FROM datasets", [], |r| r.get(0))
        .unwrap();
    let rows = parquet_files(&datasets_dir).len();
    let status: String = conn
        .query_row("SELECT status FROM runs WHERE id = ?1", [&run_id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!((datasets, rows, status.as_str()), (0, 0, "cancelled"));
    // The staged parts went with the cancelled run: their space is given back.
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name())).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging files left: {left:?}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_an_error_naming_the_field() {
    let ws = Workspace::new();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"profile": "retail"}),
            vec![
                "retail",
                "ecommerce",
                "financial",
                "healthcare",
                "gaming",
                "research",
                "coding_assistant",
                "customer_support",
            ],
        ),
        (
            json!({"profile": "ecommerce", "count": 0}),
            vec!["count", "1 to 10000000000"],
        ),
        (
            json!({"profile": "ecommerce", "count": 20000000000u64}),
            vec!["count"],
        ),
        (
            json!({"profile": "ecommerce", "days": -1}),
            vec!["days", "1 to 3660"],
        ),
        (
            json!({"profile": "ecommerce", "format": "xlsx"}),
            vec!["format", "dataset, jsonl, csv, parquet, otlp-json"],
        ),
        (
            json!({"profile": "ecommerce", "format": "jsonl", "output": "../escape.jsonl"}),
            vec!["output", "outside"],
        ),
        (
            json!({"profile": "ecommerce", "overrides": {"volume": {"weeks": 2}}}),
            vec!["volume.weeks", "days"],
        ),
        (
            json!({"profile": "ecommerce", "colour": "red"}),
            vec!["colour"],
        ),
    ];
    for (args, needles) in cases {
        let result = crate::common::call(&client, "generate_synthetic_data", args).await;
        assert_tool_error(&result, &needles);
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn profiles_and_pricing_are_listed_and_readable() {
    let ws = Workspace::new();
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    let v = ok_json(&call(&client, "list_workload_profiles", json!({})).await);
    let names: Vec<&str> = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7);
    let gaming = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "gaming")
        .unwrap();
    assert_eq!(
        (
            gaming["records"].as_u64(),
            gaming["days"].as_u64(),
            gaming["weekend_factor"].as_f64()
        ),
        (Some(100000), Some(7), Some(2.0))
    );
    let read = |uri: &'static str| {
        let client = &client;
        async move {
            let r = client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
                .unwrap();
            serde_json::to_value(&r.contents[0]).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let toml = read("apex://profiles/research").await;
    assert!(
        toml.contains("records = 5000") && toml.contains("days = 180"),
        "{toml}"
    );
    let pricing: Value = serde_json::from_str(&read("apex://pricing").await).unwrap();
    let models = pricing["models"].as_array().unwrap();
    assert!(
        models
            .iter()
            .any(|m| m["model"] == "claude-sonnet-4-5" && m["cache_write"].as_f64() == Some(3.75))
    );
    assert!(models.iter().all(
        |m| m["source"].as_str().is_some_and(|s| s.contains("http")) && m["as_of"].is_string()
    ));
    // Each price says whether it was confirmed on the vendor's page; an unconfirmed one says why.
    assert!(models.iter().all(|m| m["verified"] == true
        || (m["verified"] == false && m["note"].as_str().is_some_and(|n| !n.is_empty()))));
    let all: Value = serde_json::from_str(&read("apex://profiles").await).unwrap();
    assert_eq!(all["profiles"].as_array().unwrap().len(), 7);
    let listed = client.list_all_resources().await.unwrap();
    assert!(listed.iter().any(|r| r.uri == "apex://pricing"));
    client.cancel().await.unwrap();
}

/// No trace is cut at a chunk boundary (generation works in chunks of 2,048 records): in a
/// file of ~100 chunks of long agent traces, every child's parent is an agent root of the same
/// trace, every agent root has children, and every trace ends with a final model call (or a
/// failed one), never with a call that asked for tools that did not run.
#[test]
fn no_trace_is_cut_at_a_chunk_boundary() {
    let ws = Workspace::new();
    cli(
        ws.path(),
        &[
            "--profile",
            "coding_assistant",
            "--count",
            "200000",
            "--seed",
            "11",
            "--format",
            "jsonl",
            "--output",
            "t.jsonl",
            "--overrides",
            r#"{"workloads": {"simple_chat": 0.1, "rag": 0.0, "tool_use": 0.3, "multi_turn_tool_use": 0.6, "failed_request": 0.0}, "agent": {"min_turns": 10, "max_turns": 50, "max_tools_per_turn": 10}}"#,
        ],
    );
    let recs = read_jsonl(&ws.path().join("t.jsonl"));
    assert_eq!(recs.len(), 200_000);
    let spans: HashMap<(&str, &str), &Record> = recs
        .iter()
        .map(|r| ((r.trace_id.as_str(), r.span_id.as_str()), r))
        .collect();
    let mut children: HashMap<(&str, &str), Vec<&Record>> = HashMap::new();
    for r in &recs {
        if let Some(parent) = &r.parent_span_id {
            let p = spans
                .get(&(r.trace_id.as_str(), parent.as_str()))
                .unwrap_or_else(|| panic!("orphan: {r:?}"));
            assert_eq!(p.operation, "invoke_agent", "{r:?}");
            children
                .entry((r.trace_id.as_str(), parent.as_str()))
                .or_default()
                .push(r);
        }
    }
    let mut agents = 0;
    for r in recs.iter().filter(|r| r.operation == "invoke_agent") {
        agents += 1;
        let kids = children
            .get(&(r.trace_id.as_str(), r.span_id.as_str()))
            .unwrap_or_else(|| panic!("agent root without children: {r:?}"));
        let last = kids[kids.len() - 1];
        assert_eq!(
            last.operation, "chat",
            "trace ends without a final call: {r:?}"
        );
        assert!(
            last.status == "error" || last.finish_reason.as_deref() != Some("tool_calls"),
            "trace ends asking for tools: {last:?}"
        );
        for w in kids.windows(2) {
            if w[0].operation == "chat" && w[0].finish_reason.as_deref() == Some("tool_calls") {
                assert_eq!(w[1].operation, "execute_tool", "{:?}", w[0]);
            }
        }
    }
    // Long traces: most of the ~98 chunk ends fall inside one.
    assert!(agents > 500, "{agents}");
}
