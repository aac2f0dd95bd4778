//! Soak for `tools/bench/soak.sh`: N MCP clients over streamable HTTP for a fixed time,
//! loopback only, each mixing search, context saves and reads while subscribed to a bundle
//! the others save; one client runs a generation and another an ingest every two minutes.
//! Every call has a deadline: a call past it is counted as a hang, never waited for.
//!
//! Usage: soak URL --ingest PATH [--clients 50] [--seconds 600] [--pid SERVER_PID]
//!        [--max-rss-growth PCT]: fail when RSS grows more than PCT (default 10) after warm-up
//! Prints errors, hangs, p50/p99 per tool, notifications received, and the server's RSS
//! every 30 s.

// The clients speak the handshake generation (2025-11-25), whose subscriptions are
// `resources/subscribe`, deprecated in 2026-07-28.
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressNotificationParam, ProgressToken,
    RequestMetaObject, ResourceUpdatedNotificationParam, SubscribeRequestParams,
};
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Counts what the server pushes: resource updates and progress.
#[derive(Clone, Default)]
struct Counting {
    updates: Arc<AtomicU64>,
    progress: Arc<AtomicU64>,
}

impl ClientHandler for Counting {
    async fn on_resource_updated(
        &self,
        _params: ResourceUpdatedNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.updates.fetch_add(1, Ordering::Relaxed);
    }
    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
}

const QUERIES: &[&str] = &[
    "EventSink",
    "Workspace",
    "resolve",
    "RunDriver",
    "emit",
    "Store",
    "migrate",
    "serve",
    "progress",
    "fn main",
    "ApexServer",
    "datasets",
];

/// How long one call may take before it counts as a hang.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A generation or an ingest may take longer.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// Bundles the clients share (each client subscribes to one and saves another).
const BUNDLES: usize = 10;

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

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<String, u64>,
    hangs: u64,
}

type Shared = Arc<Mutex<Tally>>;

fn params(tool: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default())
}

/// One call with its deadline, tallied.
async fn timed(
    client: &rmcp::service::RunningService<RoleClient, Counting>,
    tally: &Shared,
    tool: &'static str,
    p: CallToolRequestParams,
    limit: Duration,
) {
    let t0 = Instant::now();
    let outcome = tokio::time::timeout(limit, client.call_tool(p)).await;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut t = tally.lock().await;
    match outcome {
        Err(_) => {
            t.hangs += 1;
            *t.errors
                .entry(format!("{tool}: no answer within {} s", limit.as_secs()))
                .or_default() += 1;
        }
        Ok(Ok(r)) if r.is_error == Some(true) => {
            let text: String = r
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            let short: String = text.chars().take(120).collect();
            *t.errors
                .entry(format!("{tool}: isError: {short}"))
                .or_default() += 1;
        }
        Ok(Ok(_)) => t.latencies.entry(tool).or_default().push(ms),
        Ok(Err(e)) => *t.errors.entry(format!("{tool}: {e}")).or_default() += 1,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: soak URL --ingest PATH [--clients N] [--seconds S] [--pid PID] [--max-rss-growth PCT]";
    let url = args.get(1).cloned().ok_or_else(|| anyhow::anyhow!(usage))?;
    if !(url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
        anyhow::bail!("soak runs on loopback only");
    }
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num =
        |name: &str, default: u64| value(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let clients = num("--clients", 50).clamp(2, 200) as usize;
    let seconds = num("--seconds", 600).clamp(10, 3600);
    let pid: Option<u32> = value("--pid").and_then(|v| v.parse().ok());
    // RSS after warm-up may grow at most this much by the end, or the soak fails.
    let max_growth: f64 = value("--max-rss-growth")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10.0);
    let ingest = value("--ingest").ok_or_else(|| anyhow::anyhow!(usage))?;

    let tally: Shared = Arc::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    // RSS every 30 s.
    let rss: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let sampler = {
        let rss = rss.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                if let Some(kb) = rss_kb(pid) {
                    rss.lock().await.push((started.elapsed().as_secs(), kb));
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        })
    };
    let handlers: Vec<Counting> = (0..clients).map(|_| Counting::default()).collect();
    let mut tasks = Vec::new();
    for (c, handler) in handlers.iter().cloned().enumerate() {
        let (url, tally, ingest) = (url.clone(), tally.clone(), ingest.clone());
        tasks.push(tokio::spawn(async move {
            let transport = StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url),
            );
            let client = match tokio::time::timeout(CALL_TIMEOUT, handler.serve(transport)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    *tally.lock().await.errors.entry(format!("connect: {e}")).or_default() += 1;
                    return;
                }
                Err(_) => {
                    let mut t = tally.lock().await;
                    t.hangs += 1;
                    *t.errors.entry("connect: no answer".into()).or_default() += 1;
                    return;
                }
            };
            let watched = format!("apex://contexts/soak-{}", c % BUNDLES);
            if let Err(e) = client.subscribe(SubscribeRequestParams::new(watched)).await {
                *tally.lock().await.errors.entry(format!("subscribe: {e}")).or_default() += 1;
            }
            let mut i = c;
            let mut next_run = started + Duration::from_secs(20 + c as u64 * 10);
            while Instant::now() < deadline {
                i += 1;
                // Client 0 generates and client 1 ingests, every two minutes, with progress.
                if c < 2 && Instant::now() >= next_run {
                    next_run += Duration::from_secs(120);
                    let (tool, args) = if c == 0 {
                        ("generate_synthetic_data", json!({"profile": "ecommerce", "count": 300_000, "seed": i, "dataset": "soak-gen"}))
                    } else {
                        ("ingest_logs", json!({"path": ingest, "dataset": "soak-ingest"}))
                    };
                    let mut p = params(tool, args);
                    p.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
                        NumberOrString::Number(i as i64),
                    )));
                    timed(&client, &tally, tool, p, RUN_TIMEOUT).await;
                    continue;
                }
                let bundle = format!("soak-{}", (c + 1) % BUNDLES);
                let (tool, args): (&'static str, Value) = match i % 10 {
                    0..=3 => ("search_code", json!({"query": QUERIES[i % QUERIES.len()], "limit": 10})),
                    4 | 5 => ("context_save", json!({"name": bundle, "description": "soak",
                        "items": [{"path": "Cargo.toml", "start_line": 1, "end_line": 5}],
                        "notes": format!("client {c} round {i}")})),
                    6 | 7 => ("context_get", json!({"name": bundle, "max_tokens": 500})),
                    8 => ("index_status", json!({})),
                    _ => ("list_datasets", json!({})),
                };
                // context_get before the first save of that name is a fair isError: save first.
                if tool == "context_get" && i < c + 8 {
                    continue;
                }
                timed(&client, &tally, tool, params(tool, args), CALL_TIMEOUT).await;
            }
            let _ = tokio::time::timeout(CALL_TIMEOUT, client.cancel()).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    sampler.abort();
    let end_rss = rss_kb(pid);

    let t = tally.lock().await;
    let total: usize = t.latencies.values().map(Vec::len).sum();
    println!("soak: {clients} clients for {seconds} s against {url}");
    println!(
        "  calls answered: {total} ({:.0}/s)",
        total as f64 / seconds as f64
    );
    for (tool, v) in t.latencies.iter() {
        let mut v = v.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {tool:<24} n={:<7} p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
            v.len(),
            pct(&v, 50.0),
            pct(&v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    let nerr: u64 = t.errors.values().sum();
    println!("  errors: {nerr} (calls past their deadline: {})", t.hangs);
    for (k, n) in t.errors.iter() {
        println!("    {n} x {k}");
    }
    let updates: Vec<u64> = handlers
        .iter()
        .map(|h| h.updates.load(Ordering::Relaxed))
        .collect();
    let progress: u64 = handlers
        .iter()
        .map(|h| h.progress.load(Ordering::Relaxed))
        .sum();
    println!(
        "  subscriptions: {} of {clients} clients notified, {} resource updates in all; {progress} progress notifications",
        updates.iter().filter(|&&n| n > 0).count(),
        updates.iter().sum::<u64>()
    );
    let series = rss.lock().await;
    let line: Vec<String> = series
        .iter()
        .chain(end_rss.map(|kb| (seconds, kb)).iter())
        .map(|(s, kb)| format!("{s}s {:.0}", *kb as f64 / 1024.0))
        .collect();
    println!("  server RSS (MB) over time: {}", line.join(", "));
    let mut grew = false;
    if let (Some(&(_, warm)), Some(end)) = (series.iter().find(|(s, _)| *s >= 120), end_rss) {
        let growth = (end as f64 - warm as f64) * 100.0 / warm as f64;
        println!(
            "  RSS after warm-up (120 s) {:.1} MB, at the end {:.1} MB: {growth:+.1}% (bound {max_growth}%)",
            warm as f64 / 1024.0,
            end as f64 / 1024.0,
        );
        grew = growth > max_growth;
    }
    if nerr > 0 || grew {
        std::process::exit(1);
    }
    Ok(())
}
