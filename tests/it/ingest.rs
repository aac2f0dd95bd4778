//! The log formats end to end: every fixture of tests/fixtures/ingest/ through the CLI
//! (`netra-apex ingest`) and through MCP (`ingest_logs`), and OTLP/HTTP spans posted to the
//! running server's `/v1/traces` — by hand (protobuf, JSON, gzip, a broken body) and by the
//! OpenTelemetry Python SDK's own exporter.

use std::path::{Path, PathBuf};

use crate::common::*;
use apex_core::pricing::PriceCatalog;
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest")
}

fn price(model: &str, input: u64, output: u64, cache_read: u64, cache_write: u64) -> f64 {
    PriceCatalog::builtin()
        .cost(model, input, output, cache_read, cache_write)
        .unwrap()
}

fn batch(model: &str, input: f64, output: f64) -> f64 {
    let p = PriceCatalog::builtin().get(model).unwrap();
    (input * p.batch_input + output * p.batch_output) / 1e6
}

fn custom_columns() -> Value {
    json!({"timestamp": "ts", "model": "llm_model", "provider": "vendor", "input_tokens": "tokens_in",
           "output_tokens": "tokens_out", "latency_ms": "elapsed_ms", "cost_usd": "usd",
           "tenant": "team", "feature": "app"})
}

/// (fixture, columns, records, rejected, spend) — the README's table, spend from the catalog
/// where the export gives none.
fn expectations() -> Vec<(&'static str, Option<Value>, u64, u64, f64)> {
    let otlp = price("gpt-4o", 1200, 300, 1000, 0)
        + price("claude-sonnet-4-5", 2000, 500, 0, 0)
        + 0.00123
        + price("gpt-4o-mini", 100, 0, 0, 0);
    vec![
        ("otlp-genai.json", None, 6, 1, otlp),
        ("otlp-genai.pb", None, 6, 1, otlp),
        ("litellm-spend-logs.json", None, 4, 0, 0.03352),
        ("litellm-spend-logs.csv", None, 2, 0, 0.0335),
        ("langfuse-observations.json", None, 3, 0, 0.0054075),
        (
            "openai-usage-completions.json",
            None,
            3,
            0,
            price("gpt-4o", 100_000, 10_000, 20_000, 0)
                + price("gpt-4o-mini", 500_000, 50_000, 0, 0)
                + batch("gpt-4o-mini", 1_000_000.0, 100_000.0),
        ),
        ("openai-costs.json", None, 3, 0, 0.60),
        (
            "anthropic-usage-messages.json",
            None,
            3,
            0,
            price("claude-sonnet-4-5", 3200, 500, 200, 1500)
                + batch("claude-haiku-4-5", 100_000.0, 20_000.0)
                + price("claude-haiku-4-5", 10_000, 2000, 0, 0),
        ),
        ("anthropic-cost-report.json", None, 3, 0, 4.7428912),
        (
            "custom-export.csv",
            Some(custom_columns()),
            3,
            0,
            0.007 + price("gpt-4o-mini", 10_000, 1000, 0, 0),
        ),
        ("quality.jsonl", None, 8, 2, 0.51169),
    ]
}

fn fixture_workspace() -> Workspace {
    let ws = Workspace::new();
    let dst = ws.path().join("logs");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
    }
    ws
}

fn dataset_name(fixture: &str) -> String {
    fixture.replace('.', "-")
}

/// Spend as stored: rounded to micro-dollars.
fn usd(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[test]
fn every_fixture_ingests_through_the_cli_with_its_count_and_spend() {
    let ws = fixture_workspace();
    for (fixture, columns, records, rejected, spend) in expectations() {
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("--root")
            .arg(ws.path())
            .arg("ingest")
            .arg(format!("logs/{fixture}"))
            .arg("--dataset")
            .arg(dataset_name(fixture));
        if let Some(c) = &columns {
            cmd.arg("--columns").arg(c.to_string());
        }
        let out = cmd.output().expect("run netra-apex ingest");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{fixture}: {stdout}\n{stderr}");
        let want = format!("dataset {}: {records} accepted", dataset_name(fixture));
        assert!(
            stdout.contains(&want),
            "{fixture}: wanted `{want}` in {stdout}"
        );
        assert!(
            stdout.contains(&format!("{rejected} rejected, "))
                && stdout.contains(&format!("model calls, spend ${spend:.2}")),
            "{fixture}: {stdout}"
        );
        // Each rejection is printed with its line.
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("line ")).count() as u64,
            rejected,
            "{fixture}: {stderr}"
        );
    }
    // A header map naming a column the file lacks is refused, naming it.
    let out = std::process::Command::new(bin())
        .arg("--root")
        .arg(ws.path())
        .args([
            "ingest",
            "logs/custom-export.csv",
            "--dataset",
            "bad",
            "--columns",
        ])
        .arg(r#"{"timestamp": "when"}"#)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("`when` (for timestamp)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn every_fixture_ingests_through_mcp_and_the_dataset_agrees() {
    let ws = fixture_workspace();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    for (fixture, columns, records, rejected, spend) in expectations() {
        let mut args = json!({"path": format!("logs/{fixture}"), "dataset": dataset_name(fixture)});
        if let Some(c) = columns {
            args["columns"] = c;
        }
        let r = ok_json(&call(&client, "ingest_logs", args).await);
        assert_eq!(
            (r["accepted"].as_u64(), r["rejected"].as_u64()),
            (Some(records), Some(rejected)),
            "{fixture}: {r}"
        );
        let got = r["spend_usd"].as_f64().unwrap();
        assert!(
            (got - usd(spend)).abs() < 2e-6,
            "{fixture}: {got} vs {spend}"
        );
        // Every rejection keeps its line and reason.
        for x in r["rejections"].as_array().unwrap() {
            assert!(x["line"].as_u64().unwrap() > 0 && !x["reason"].as_str().unwrap().is_empty());
        }
        let d = ok_json(
            &call(
                &client,
                "describe_dataset",
                json!({"dataset": dataset_name(fixture)}),
            )
            .await,
        );
        assert_eq!(d["record_count"].as_u64(), Some(records), "{fixture}: {d}");
        assert_eq!(
            d["ingest"]["rejected"].as_u64(),
            Some(rejected),
            "{fixture}: {d}"
        );
    }
    // describe_dataset says what was flagged and what is a bucket.
    let d = call(
        &client,
        "describe_dataset",
        json!({"dataset": "quality-jsonl"}),
    )
    .await;
    assert!(
        text(&d).contains(
            "data quality (records kept and flagged): ancient_timestamp 1, cost_mismatch 1"
        ),
        "{}",
        text(&d)
    );
    let d = call(
        &client,
        "describe_dataset",
        json!({"dataset": "openai-usage-completions-json"}),
    )
    .await;
    assert!(
        text(&d).contains("3 records are aggregated usage buckets for 740 calls"),
        "{}",
        text(&d)
    );
    // A bucket counts as the calls it stands for, in every figure.
    assert_eq!(ok_json(&d)["overview"]["model_calls"], 740, "{}", text(&d));
    // Buckets carry their weight and say what they are; flags are a column a query reads.
    let q = ok_json(
        &call(
            &client,
            "query_data",
            json!({"sql": "SELECT SUM(weight) AS calls, SUM(CASE WHEN aggregated THEN 1 ELSE 0 END) AS buckets FROM workload_records WHERE dataset = 'openai-usage-completions-json'"}),
        )
        .await,
    );
    assert_eq!(q["rows"][0], json!([740, 3]), "{q}");
    let q = ok_json(
        &call(
            &client,
            "query_data",
            json!({"sql": "SELECT event_id, quality_flags FROM workload_records WHERE dataset = 'quality-jsonl' AND quality_flags IS NOT NULL ORDER BY event_id"}),
        )
        .await,
    );
    let flagged: Vec<(String, String)> = q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        flagged,
        [
            ("q2", "invalid_tokens"),
            ("q3", "invalid_tokens"),
            ("q4", "cost_mismatch"),
            ("q5", "future_timestamp"),
            ("q6", "ancient_timestamp"),
            ("q7", "unknown_model,unpriced"),
            ("q8", "unknown_model"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // The ingest summary names what was flagged, and the format list is in the error.
    let r = call(
        &client,
        "ingest_logs",
        json!({"path": "logs/quality.jsonl", "dataset": "q", "format": "xml"}),
    )
    .await;
    assert_tool_error(&r, &["format", "otlp-proto", "anthropic-usage"]);
    // A format named that the file is not in says so, and how to choose another.
    let r = call(
        &client,
        "ingest_logs",
        json!({"path": "logs/quality.jsonl", "dataset": "q", "format": "parquet"}),
    )
    .await;
    assert_tool_error(
        &r,
        &[
            "quality.jsonl is not a readable Parquet file",
            "format auto",
            "jsonl",
        ],
    );
    let r = call(
        &client,
        "ingest_logs",
        json!({"path": "logs/custom-export.csv", "dataset": "q", "columns": {"price": "usd"}}),
    )
    .await;
    assert_tool_error(&r, &["columns", "price", "not a workload field"]);
    client.cancel().await.ok();
}

fn base(url: &str) -> String {
    url.trim_end_matches("/mcp").to_string()
}

async fn record_count(client: &Client, dataset: &str) -> Option<u64> {
    let r = call(client, "describe_dataset", json!({"dataset": dataset})).await;
    if r.is_error == Some(true) {
        return None;
    }
    ok_json(&r)["record_count"].as_u64()
}

#[tokio::test]
async fn otlp_http_receiver_appends_spans_and_refuses_bad_bodies_without_losing_any() {
    let ws = Workspace::new();
    let server = http_server(ws.path(), &[]).await;
    let traces = format!("{}/v1/traces", base(&server.url));
    let http = reqwest::Client::new();
    let pb = std::fs::read(fixtures().join("otlp-genai.pb")).unwrap();
    let js = std::fs::read(fixtures().join("otlp-genai.json")).unwrap();

    // Protobuf into the default dataset.
    let res = http
        .post(&traces)
        .header("content-type", "application/x-protobuf")
        .body(pb.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/x-protobuf"
    );
    // One span had no model: a partial success names it (field 1 = partial_success).
    let body = res.bytes().await.unwrap();
    assert!(!body.is_empty() && String::from_utf8_lossy(&body).contains("`model` is missing"));

    // JSON, gzip-compressed, into a dataset named by the query, then by the header.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &js).unwrap();
    let gz = gz.finish().unwrap();
    for (url, header) in [
        (format!("{traces}?dataset=prod"), None),
        (traces.clone(), Some("prod")),
    ] {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gz.clone());
        if let Some(h) = header {
            req = req.header("x-apex-dataset", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["partialSuccess"]["rejectedSpans"], "1", "{v}");
    }

    // A protobuf body that does not parse: 400 with the reason, nothing stored or lost.
    let res = http
        .post(&traces)
        .header("content-type", "application/x-protobuf")
        .header("x-apex-dataset", "prod")
        .body(vec![0x0a, 0xff, 0xff, 0xff, 0x0f])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = String::from_utf8_lossy(&res.bytes().await.unwrap()).to_string();
    assert!(
        body.contains("not an OTLP ExportTraceServiceRequest"),
        "{body}"
    );
    // Other refusals: a content type, an encoding, a dataset name, a foreign Host.
    for (ct, ce, ds, host, status) in [
        ("text/plain", None, None, None, 415),
        ("application/json", Some("br"), None, None, 415),
        ("application/json", None, Some("bad name!"), None, 400),
        ("application/json", None, None, Some("evil.example"), 403),
    ] {
        let mut req = http
            .post(&traces)
            .header("content-type", ct)
            .body(js.clone());
        if let Some(ce) = ce {
            req = req.header("content-encoding", ce);
        }
        if let Some(ds) = ds {
            req = req.header("x-apex-dataset", ds);
        }
        if let Some(h) = host {
            req = req.header("host", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "{ct} {ce:?} {ds:?} {host:?}");
    }

    let client = http_client(&server.url, Generation::Handshake).await;
    assert_eq!(record_count(&client, "otlp").await, Some(6));
    assert_eq!(record_count(&client, "prod").await, Some(12));
    let d = ok_json(&call(&client, "list_datasets", json!({})).await);
    let prod = d["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "prod")
        .unwrap()
        .clone();
    assert_eq!(prod["source"], "otlp-http");
    assert_eq!(prod["summary"]["records"], 12);
    assert_eq!(prod["summary"]["rejected"], 2);
}

#[tokio::test]
async fn otlp_receiver_needs_the_bearer_token_like_mcp() {
    let ws = Workspace::new();
    let server = http_server(ws.path(), &["--token", "s3cret"]).await;
    let traces = format!("{}/v1/traces", base(&server.url));
    let js = std::fs::read(fixtures().join("otlp-genai.json")).unwrap();
    let http = reqwest::Client::new();
    let res = http
        .post(&traces)
        .header("content-type", "application/json")
        .body(js.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(&traces)
        .header("content-type", "application/json")
        .header("authorization", "Bearer s3cret")
        .body(js)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The Python interpreter with the OpenTelemetry SDK and its OTLP/HTTP exporter, if any.
fn python_with_otel() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/clients/.venv/bin/python");
    [venv, PathBuf::from("python3")].into_iter().find(|py| {
        std::process::Command::new(py)
            .args([
                "-c",
                "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[tokio::test]
async fn an_opentelemetry_sdk_exporter_sends_spans_that_appear_in_the_dataset() {
    let Some(python) = python_with_otel() else {
        println!(
            "SKIPPED an_opentelemetry_sdk_exporter_sends_spans_that_appear_in_the_dataset: \
             opentelemetry-sdk / opentelemetry-exporter-otlp-proto-http not installed \
             (pip install -r tools/clients/requirements.txt)"
        );
        return;
    };
    let ws = Workspace::new();
    let server = http_server(ws.path(), &[]).await;
    let traces = format!("{}/v1/traces", base(&server.url));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/clients/otlp_export.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&traces)
        .arg("from-sdk")
        .arg("4")
        .output()
        .await
        .expect("run otlp_export.py");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The exporter's export returned success: the server answered 200 after its commit.
    let client = http_client(&server.url, Generation::Handshake).await;
    assert_eq!(record_count(&client, "from-sdk").await, Some(4));
    let q = ok_json(
        &call(
            &client,
            "query_data",
            json!({"sql": "SELECT operation, model, COUNT(*) AS n, SUM(input_tokens) AS input FROM workload_records WHERE dataset = 'from-sdk' GROUP BY 1, 2 ORDER BY 1"}),
        )
        .await,
    );
    assert_eq!(
        q["rows"],
        json!([["chat", "gpt-4o-mini", 3, 3003], ["invoke_agent", "", 1, 0]]),
        "{q}"
    );
}

#[tokio::test]
async fn a_parquet_file_synth_wrote_ingests_to_the_same_records_and_spend() {
    let ws = Workspace::new();
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    let made = ok_json(
        &call(
            &client,
            "generate_synthetic_data",
            json!({"profile": "ecommerce", "count": 3000, "seed": 5, "format": "parquet", "output": "out/s.parquet"}),
        )
        .await,
    );
    // Detected by its content: the format is not named.
    let r = ok_json(
        &call(
            &client,
            "ingest_logs",
            json!({"path": "out/s.parquet", "dataset": "back"}),
        )
        .await,
    );
    assert_eq!(r["format"], "parquet", "{r}");
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(3000), Some(0)),
        "{r}"
    );
    let spend = made["summary"]["spend_usd"].as_f64().unwrap();
    assert!(
        (r["spend_usd"].as_f64().unwrap() - spend).abs() < 1e-6,
        "{r} vs {spend}"
    );
    // The records are the same ones, field for field where a query reads them.
    let q = ok_json(
        &call(
            &client,
            "query_data",
            json!({"sql": "SELECT MIN(timestamp), MAX(timestamp), SUM(input_tokens), COUNT(DISTINCT span_id) FROM workload_records WHERE dataset = 'back'"}),
        )
        .await,
    );
    let range = &made["summary"]["time_range"];
    assert_eq!(q["rows"][0][3], 3000, "{q}");
    assert!(
        q["rows"][0][0]
            .as_str()
            .unwrap()
            .starts_with(&range["start"].as_str().unwrap()[..19]),
        "{q} vs {range}"
    );
    client.cancel().await.unwrap();
}
