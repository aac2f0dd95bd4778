//! Load generator for `tools/bench/load.sh`: N concurrent MCP clients over streamable HTTP
//! calling search_code, context_save and context_get for a fixed time, loopback only.
//!
//! Usage: load URL [--clients 50] [--seconds 60] [--pid SERVER_PID]
//! Prints requests/s, p50/p99 latency per tool, errors, and the server's RSS idle, once every
//! client is working (after a sixth of the run), and at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Clone, Default)]
struct Quiet;
impl ClientHandler for Quiet {}

const QUERIES: &[&str] = &[
    "EventSink",
    "Workspace",
    "resolve",
    "RunLog",
    "emit",
    "Store",
    "migrate",
    "serve",
    "progress",
    "token",
    "fn main",
    "ApexServer",
    "datasets",
    "schema",
    "HttpOptions",
];

/// How long one call may take before it counts as lost.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn rss_kb(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().ok_or_else(|| {
        anyhow::anyhow!("usage: load URL [--clients N] [--seconds S] [--pid PID]")
    })?;
    if !(url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
        anyhow::bail!("load runs on loopback only");
    }
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let clients = flag("--clients", 50).min(200) as usize;
    let seconds = flag("--seconds", 60).min(600);
    let pid = args
        .iter()
        .position(|a| a == "--pid")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());

    // Warm up: the first search builds the index; that is not what is measured.
    {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.clone()),
        );
        let client = Quiet.serve(transport).await?;
        client
            .call_tool(
                CallToolRequestParams::new("search_code").with_arguments(
                    json!({"query": "warmup"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
            )
            .await?;
        client.cancel().await?;
    }
    let before = rss_kb(pid);
    // Memory once every client is connected and working: growth from here to the end is what
    // a leak would show (growth before it is sessions, caches and the bundles being created).
    let steady = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs((seconds / 6).max(1))).await;
        rss_kb(pid)
    });
    let latencies: Arc<Mutex<BTreeMap<&'static str, Vec<f64>>>> = Arc::default();
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = url.clone();
        let latencies = latencies.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let transport = StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url),
            );
            let client = match Quiet.serve(transport).await {
                Ok(c) => c,
                Err(e) => {
                    *errors.lock().await.entry(format!("connect: {e}")).or_default() += 1;
                    return;
                }
            };
            let mut i = c;
            while Instant::now() < deadline {
                i += 1;
                let (tool, args): (&'static str, Value) = match i % 4 {
                    0 | 1 => ("search_code", json!({"query": QUERIES[i % QUERIES.len()], "limit": 10})),
                    2 => ("context_save", json!({"name": format!("load-{}", c % 10), "description": "load test",
                        "items": [{"path": "Cargo.toml", "start_line": 1, "end_line": 5}], "notes": format!("round {i}")})),
                    _ => ("context_get", json!({"name": format!("load-{}", c % 10), "max_tokens": 500})),
                };
                let t0 = Instant::now();
                // A response that never comes is an error, not a hung benchmark.
                let call = client.call_tool(
                    CallToolRequestParams::new(tool).with_arguments(args.as_object().cloned().unwrap_or_default()),
                );
                let Ok(r) = tokio::time::timeout(CALL_TIMEOUT, call).await else {
                    *errors.lock().await.entry(format!("{tool}: no response in {} s", CALL_TIMEOUT.as_secs())).or_default() += 1;
                    continue;
                };
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                match r {
                    // context_get before the first save of that name is a legitimate isError
                    Ok(res) if res.is_error == Some(true) && tool != "context_get" => {
                        *errors.lock().await.entry(format!("{tool}: isError")).or_default() += 1;
                    }
                    Ok(_) => latencies.lock().await.entry(tool).or_default().push(ms),
                    Err(e) => *errors.lock().await.entry(format!("{tool}: {e}")).or_default() += 1,
                }
            }
            let _ = tokio::time::timeout(CALL_TIMEOUT, client.cancel()).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let after = rss_kb(pid);
    let steady = steady.await.ok().flatten();
    let lat = latencies.lock().await;
    let total: usize = lat.values().map(Vec::len).sum();
    println!("load: {clients} clients for {seconds} s against {url}");
    println!(
        "  requests: {total} ok, {:.0} req/s",
        total as f64 / seconds as f64
    );
    for (tool, v) in lat.iter() {
        let mut v = v.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {tool:<13} n={:<7} p50 {:>7.2} ms  p99 {:>7.2} ms",
            v.len(),
            pct(&v, 50.0),
            pct(&v, 99.0)
        );
    }
    let errs = errors.lock().await;
    let nerr: u64 = errs.values().sum();
    println!("  errors: {nerr}");
    for (k, n) in errs.iter() {
        println!("    {n} x {k}");
    }
    if let (Some(b), Some(s), Some(a)) = (before, steady, after) {
        let mb = |kb: u64| kb as f64 / 1024.0;
        let pct = |from: u64| (a as f64 - from as f64) * 100.0 / from as f64;
        println!(
            "  server RSS: {:.1} MB idle, {:.1} MB at {} s under load, {:.1} MB at the end",
            mb(b),
            mb(s),
            (seconds / 6).max(1),
            mb(a)
        );
        println!(
            "  growth under load: {:+.1}% (from idle: {:+.1}%)",
            pct(s),
            pct(b)
        );
    }
    Ok(())
}
