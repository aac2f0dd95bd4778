//! Faults: the real server killed with SIGKILL in the middle of indexing, generation, ingest
//! and context saves, then restarted on the same data dir; and a full disk (RLIMIT_FSIZE,
//! with SIGXFSZ ignored so writes fail with EFBIG). Every check goes through MCP.
//!
//! The kill moment is chosen by waiting for the run's own progress notifications (or, for
//! ingest, which has none, for its transaction to spill into the WAL), never by sleeping.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, NumberOrString, ProgressToken, RequestMetaObject,
};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

/// Generous bound for "this will happen"; reaching it fails the test, it never passes it.
const WAIT: Duration = Duration::from_secs(120);

/// Start `serve --http` on `root`, optionally with a file size limit, and connect a client.
async fn start(root: &Path, fsize_limit: Option<u64>) -> (HttpServer, Client, TestClient) {
    let server = spawn_server(root, fsize_limit).await;
    let handler = TestClient::default();
    let client = http_client_with(handler.clone(), &server.url, Generation::Handshake).await;
    (server, client, handler)
}

async fn spawn_server(root: &Path, fsize_limit: Option<u64>) -> HttpServer {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg("serve")
        .arg("--root")
        .arg(root)
        .arg("--http")
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(bytes) = fsize_limit {
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // A write past the limit then fails with EFBIG instead of killing the process,
                // as a full disk fails with ENOSPC.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn netra-apex serve --http");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.trim().to_string();
            }
            eprintln!("server: {line}");
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server did not start listening");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    HttpServer { child, url }
}

/// SIGKILL the server and reap it.
async fn kill9(mut server: HttpServer) {
    server.child.start_kill().expect("SIGKILL");
    let status = server
        .child
        .wait()
        .await
        .expect("wait for the killed server");
    assert!(!status.success(), "the server was killed, not finished");
}

/// The call is still running: kill the server under it. (Its client would wait on a dead
/// server forever; the call is dropped.)
async fn cut<T>(server: HttpServer, call: tokio::task::JoinHandle<T>, seen: &str) {
    assert!(
        !call.is_finished(),
        "the call finished before the kill (after {seen}): make the work bigger"
    );
    kill9(server).await;
    call.abort();
}

/// Call a tool with a progress token, in the background.
fn spawn_call(
    client: &Arc<Client>,
    tool: &str,
    args: Value,
    token: i64,
) -> tokio::task::JoinHandle<Result<CallToolResult, rmcp::ServiceError>> {
    let client = client.clone();
    let mut params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::Number(token),
    )));
    tokio::spawn(async move { client.call_tool(params).await })
}

/// Wait until a progress notification's message starts with `prefix` and reports `done`
/// below its `total` (the work is under way, not finished). Returns that message.
async fn wait_progress(handler: &TestClient, prefix: &str) -> String {
    let received = handler.received.clone();
    eventually(WAIT, || {
        let got = received.lock().unwrap();
        got.progress.iter().find_map(|p| {
            let m = p.message.clone().unwrap_or_default();
            let counts = m.strip_prefix(prefix)?.trim_start_matches(':').trim();
            let (done, total) = counts.split_once('/')?;
            let done: u64 = done.trim().parse().ok()?;
            let total: u64 = total.split_whitespace().next()?.parse().ok()?;
            (done > 0 && done < total).then_some(m)
        })
    })
    .await
    .unwrap_or_else(|| panic!("no `{prefix}` progress under way within {WAIT:?}"))
}

fn structured(r: &CallToolResult) -> Value {
    ok_json(r)
}

async fn dataset_names(client: &Client) -> Vec<(String, u64)> {
    let v = structured(&call(client, "list_datasets", json!({})).await);
    let list = v
        .get("datasets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| panic!("no datasets array in {v}"));
    list.iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or_default().to_string(),
                d["record_count"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// One number from `query_data`.
async fn scalar(client: &Client, sql: &str) -> i64 {
    let v = structured(&call(client, "query_data", json!({"sql": sql})).await);
    v["rows"][0][0]
        .as_i64()
        .unwrap_or_else(|| panic!("{sql}: {v}"))
}

/// Staged part files of unfinished dataset writes left in the data dir.
fn staged_parts(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(".netra-apex/datasets/.staging")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every registered dataset holds exactly the records it claims.
async fn assert_datasets_whole(client: &Client) {
    for (name, count) in dataset_names(client).await {
        let n = scalar(
            client,
            &format!("SELECT COUNT(*) FROM workload_records WHERE dataset = '{name}'"),
        )
        .await;
        assert_eq!(n as u64, count, "dataset {name} claims {count} records");
    }
}

async fn generate(client: &Client, args: Value) -> Value {
    structured(&call(client, "generate_synthetic_data", args).await)
}

// ------------------------------------------------------------------ kill -9

#[tokio::test]
async fn kill_during_reindex_then_restart_repairs_a_searchable_index() {
    let ws = Workspace::new();
    const FILES: usize = 9000;
    for i in 0..FILES {
        ws.write(
            &format!("src/m{}/f{i}.rs", i % 30),
            &format!(
                "/// module {i}\npub fn fault_marker_{i}(x: u64) -> u64 {{\n    let y = x * {i};\n    y + 1\n}}\n\npub struct Holder{i} {{ pub v: u64 }}\n"
            ),
        );
    }
    let (server, client, handler) = start(ws.path(), None).await;
    let client = Arc::new(client);
    let call = spawn_call(&client, "reindex", json!({"full": true}), 1);
    let seen = wait_progress(&handler, "files_indexed").await;
    cut(server, call, &seen).await;

    let (_server, client, _h) = start(ws.path(), None).await;
    // The store opens and the index answers (possibly partial) without an error.
    let status = structured(&crate::common::call(&client, "index_status", json!({})).await);
    let before = status["files"].as_u64().expect("index_status counts files");
    assert!(before <= FILES as u64, "{status}");
    // An incremental update repairs it: every file is there and searchable.
    let report = structured(&crate::common::call(&client, "reindex", json!({})).await);
    if report["status"] != "up_to_date" {
        let touched =
            report["added"].as_u64().unwrap_or(0) + report["updated"].as_u64().unwrap_or(0);
        assert!(
            touched <= FILES as u64
                && report["run_id"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("index-")),
            "{report}"
        );
    }
    let status = structured(&crate::common::call(&client, "index_status", json!({})).await);
    assert_eq!(status["files"].as_u64(), Some(FILES as u64), "{status}");
    for i in [0, FILES / 2, FILES - 1] {
        let hits = crate::common::call(
            &client,
            "search_code",
            json!({"query": format!("fault_marker_{i}")}),
        )
        .await;
        let t = text(&hits);
        assert!(
            t.contains(&format!("f{i}.rs")),
            "fault_marker_{i} not found after restart: {t}"
        );
    }
}

#[tokio::test]
async fn kill_during_generation_to_a_dataset_leaves_no_half_dataset() {
    let ws = Workspace::new();
    let (server, client, handler) = start(ws.path(), None).await;
    let kept = generate(
        &client,
        json!({"profile": "ecommerce", "count": 3000, "seed": 1, "dataset": "kept"}),
    )
    .await;
    assert_eq!(kept["records"], 3000);
    let client = Arc::new(client);
    let call = spawn_call(
        &client,
        "generate_synthetic_data",
        json!({"profile": "ecommerce", "count": 3_000_000, "seed": 2, "dataset": "cut"}),
        2,
    );
    let seen = wait_progress(&handler, "batch_written").await;
    cut(server, call, &seen).await;

    let (_server, client, _h) = start(ws.path(), None).await;
    let names = dataset_names(&client).await;
    assert_eq!(
        names,
        vec![("kept".to_string(), 3000)],
        "only whole datasets"
    );
    assert_datasets_whole(&client).await;
    assert_eq!(
        staged_parts(ws.path()),
        Vec::<std::path::PathBuf>::new(),
        "the killed generation's staged parts are cleaned at start"
    );
    // The name is free for a new, complete generation.
    let again = generate(
        &client,
        json!({"profile": "ecommerce", "count": 2000, "seed": 2, "dataset": "cut"}),
    )
    .await;
    assert_eq!(again["records"], 2000);
    assert_datasets_whole(&client).await;
}

#[tokio::test]
async fn kill_during_generation_to_a_file_leaves_no_half_file() {
    let ws = Workspace::new();
    let (server, client, handler) = start(ws.path(), None).await;
    let client = Arc::new(client);
    let call = spawn_call(
        &client,
        "generate_synthetic_data",
        json!({"profile": "gaming", "count": 4_000_000, "seed": 3, "format": "jsonl", "output": "out/cut.jsonl"}),
        3,
    );
    let seen = wait_progress(&handler, "batch_written").await;
    let killed = server.child.id().expect("the server's pid");
    cut(server, call, &seen).await;
    assert!(
        !ws.path().join("out/cut.jsonl").exists(),
        "no half file at the output path"
    );

    let (_server, client, _h) = start(ws.path(), None).await;
    assert!(dataset_names(&client).await.is_empty(), "no dataset");
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(ws.path().join("out"))
            .expect("out/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // What the kill left is a hidden temp file named with the killed writer's pid, never
    // indexed or served as output.
    let leftovers = files();
    let prefix = format!(".cut.jsonl.{killed}-");
    assert!(
        !leftovers.is_empty()
            && leftovers
                .iter()
                .all(|n| n.starts_with(&prefix) && n.ends_with(".tmp")),
        "{leftovers:?}"
    );
    // The same output is written whole by a new run, which first removes the temp of the
    // writer that is no longer running.
    let done = generate(
        &client,
        json!({"profile": "gaming", "count": 5000, "seed": 3, "format": "jsonl", "output": "out/cut.jsonl"}),
    )
    .await;
    assert_eq!(done["records"], 5000);
    let body = std::fs::read_to_string(ws.path().join("out/cut.jsonl")).expect("output");
    assert_eq!(body.lines().count(), 5000);
    assert_eq!(
        files(),
        vec!["cut.jsonl".to_string()],
        "the abandoned temp is gone"
    );
}

#[tokio::test]
async fn kill_during_ingest_leaves_no_half_dataset() {
    let ws = Workspace::new();
    let (server, client, _h) = start(ws.path(), None).await;
    // Logs to ingest: a big JSONL file, and a small one ingested whole first.
    generate(
        &client,
        json!({"profile": "research", "count": 400_000, "seed": 4, "format": "jsonl", "output": "logs/big.jsonl"}),
    )
    .await;
    generate(
        &client,
        json!({"profile": "research", "count": 1500, "seed": 5, "format": "jsonl", "output": "logs/small.jsonl"}),
    )
    .await;
    let small = structured(
        &call(
            &client,
            "ingest_logs",
            json!({"path": "logs/small.jsonl", "dataset": "small"}),
        )
        .await,
    );
    assert_eq!(small["accepted"], 1500);
    drop(client);
    kill9(server).await;

    // Replace `small` with the big file, and kill the server while its parts are staged.
    let (server, client, _h) = start(ws.path(), None).await;
    let client = Arc::new(client);
    let call = spawn_call(
        &client,
        "ingest_logs",
        json!({"path": "logs/big.jsonl", "dataset": "small"}),
        4,
    );
    let staged = eventually(WAIT, || {
        let bytes: u64 = staged_parts(ws.path())
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        (bytes > (1 << 20) && !call.is_finished()).then_some(())
    })
    .await;
    assert!(
        staged.is_some(),
        "the ingest staged no part data while running (finished: {})",
        call.is_finished()
    );
    cut(server, call, "staged parts").await;

    let (_server, client, _h) = start(ws.path(), None).await;
    assert_eq!(
        dataset_names(&client).await,
        vec![("small".to_string(), 1500)],
        "the dataset is as it was before the killed ingest"
    );
    assert_datasets_whole(&client).await;
    assert!(
        staged_parts(ws.path()).is_empty(),
        "staged parts are cleaned at start"
    );
}

#[tokio::test]
async fn kill_with_context_saves_in_flight_loses_no_acknowledged_save() {
    let ws = Workspace::new();
    ws.write(
        "src/lib.rs",
        "pub fn alpha() -> u32 {\n    1\n}\n\npub fn beta() -> u32 {\n    2\n}\n",
    );
    let (server, client, _h) = start(ws.path(), None).await;
    drop(client);
    // Several clients saving at once; each acknowledged save is recorded with its version.
    let acked: Arc<Mutex<Vec<(String, u64, String)>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..4 {
        let client = http_client(&server.url, Generation::Handshake).await;
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..1000 {
                let name = format!("b{}", (c * 7 + j) % 12);
                let marker = format!("save c{c} j{j}");
                let args = json!({
                    "name": name,
                    "description": "fault test",
                    "notes": format!("# {marker}\n{}", "filler line\n".repeat(200)),
                    "tags": ["fault"],
                    "items": [
                        {"path": "src/lib.rs", "start_line": 1, "end_line": 3, "note": "alpha"},
                        {"path": "src/lib.rs", "start_line": 5, "end_line": 7, "note": "beta"},
                        {"path": "src/lib.rs", "symbol": "beta"}
                    ]
                });
                match try_call(&client, "context_save", args).await {
                    Ok(r) if r.is_error != Some(true) => {
                        let v = r.structured_content.clone().unwrap_or(Value::Null);
                        let version = v["version"].as_u64().expect("version");
                        acked.lock().unwrap().push((name, version, marker));
                    }
                    _ => return,
                }
            }
        }));
    }
    eventually(WAIT, || (acked.lock().unwrap().len() >= 60).then_some(()))
        .await
        .expect("60 saves acknowledged");
    assert!(
        tasks.iter().any(|t| !t.is_finished()),
        "saves were still in flight at the kill"
    );
    kill9(server).await;
    // Their clients would wait on the dead server forever: stop them.
    for t in &tasks {
        t.abort();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() < 4000, "the kill cut the saves short");

    let (_server, client, _h) = start(ws.path(), None).await;
    for (got, (name, ..)) in assert_saves_kept(&client, &acked).await.iter().zip(&acked) {
        assert_eq!(got["items"].as_array().map(Vec::len), Some(3), "{name}");
    }
    // Every listed bundle is whole: its newest version loads with all its items and notes.
    let list = structured(&call(&client, "context_list", json!({})).await);
    let bundles = list["bundles"].as_array().cloned().unwrap_or_default();
    assert!(!bundles.is_empty());
    for b in &bundles {
        let name = b["name"].as_str().expect("name");
        assert_eq!(b["items"], 3, "{b}");
        let got = structured(&call(&client, "context_get", json!({"name": name})).await);
        assert_eq!(got["version"], b["version"], "{name}");
        assert_eq!(got["items"].as_array().map(Vec::len), Some(3), "{name}");
        assert!(
            got["notes"]
                .as_str()
                .unwrap_or_default()
                .starts_with("# save c")
        );
    }
}

// ------------------------------------------------------------------ full disk

/// Lines of an isError result, checked to name the cause plainly.
fn assert_disk_error(r: &CallToolResult, what: &str, names: &str) {
    let t = text(r);
    assert_eq!(r.is_error, Some(true), "{what}: expected isError, got: {t}");
    assert!(
        t.contains("disk is full or a file size limit was reached"),
        "{what}: error should say the disk is full: {t}"
    );
    assert!(t.contains(names), "{what}: error should name {names}: {t}");
}

#[tokio::test]
async fn full_disk_gives_clear_errors_and_keeps_prior_data() {
    let ws = Workspace::new();
    ws.write("src/lib.rs", "pub fn alpha() -> u32 {\n    1\n}\n");
    // Prior data, written without a limit.
    let (server, client, _h) = start(ws.path(), None).await;
    generate(
        &client,
        json!({"profile": "research", "count": 100_000, "seed": 6, "format": "jsonl", "output": "logs/big.jsonl"}),
    )
    .await;
    generate(
        &client,
        json!({"profile": "ecommerce", "count": 800, "seed": 7, "dataset": "before"}),
    )
    .await;
    let saved = structured(
        &call(
            &client,
            "context_save",
            json!({"name": "before", "notes": "kept", "items": [{"path": "src/lib.rs", "start_line": 1, "end_line": 3}]}),
        )
        .await,
    );
    assert_eq!(saved["version"], 1);
    drop(client);
    kill9(server).await;

    // The same data dir with every file capped at 12 MB: a full disk for big writes.
    let (server, client, _h) = start(ws.path(), Some(12 << 20)).await;
    let r = call(
        &client,
        "generate_synthetic_data",
        json!({"profile": "gaming", "count": 1_000_000, "seed": 8, "format": "jsonl", "output": "out/huge.jsonl"}),
    )
    .await;
    assert_disk_error(&r, "generation to a file", "out/huge.jsonl");
    assert!(!ws.path().join("out/huge.jsonl").exists());
    let r = call(
        &client,
        "generate_synthetic_data",
        // one day: its Parquet part outgrows the cap
        json!({"profile": "gaming", "count": 1_000_000, "seed": 9, "dataset": "huge",
               "overrides": {"volume": {"days": 1}}}),
    )
    .await;
    assert_disk_error(&r, "generation to a dataset", "huge");
    // 100,000 records make Parquet parts well under the cap: the ingest either completes
    // whole or fails plainly, never half.
    let r = call(
        &client,
        "ingest_logs",
        json!({"path": "logs/big.jsonl", "dataset": "ingested"}),
    )
    .await;
    let ingested = if r.is_error == Some(true) {
        assert_disk_error(&r, "ingest", "ingested");
        None
    } else {
        Some(("ingested".to_string(), 100_000))
    };
    // Context saves until the store cannot grow: the failing one is a clear isError and
    // every one acknowledged before it survives.
    let mut acked = Vec::new();
    let mut failure = None;
    for i in 0..400 {
        let r = call(
            &client,
            "context_save",
            json!({"name": format!("c{i}"), "notes": format!("# {i}\n{}", "x".repeat(200_000)),
                   "items": [{"path": "src/lib.rs", "start_line": 1, "end_line": 1}]}),
        )
        .await;
        if r.is_error == Some(true) {
            failure = Some(r);
            break;
        }
        acked.push(format!("c{i}"));
    }
    let failure = failure.expect("the store hit the size limit within 400 saves of 200 kB");
    assert_disk_error(&failure, "context_save", "apex.db");
    // The server still answers.
    assert!(
        dataset_names(&client)
            .await
            .iter()
            .all(|(n, _)| n == "before" || n == "ingested")
    );
    drop(client);
    kill9(server).await;

    // Without the limit: the store opens and the prior and acknowledged data are intact.
    let (_server, client, _h) = start(ws.path(), None).await;
    let mut want = vec![("before".to_string(), 800)];
    want.extend(ingested);
    assert_eq!(dataset_names(&client).await, want);
    assert_datasets_whole(&client).await;
    assert!(staged_parts(ws.path()).is_empty());
    let got = structured(&call(&client, "context_get", json!({"name": "before"})).await);
    assert_eq!(got["notes"], "kept");
    for name in &acked {
        let got = structured(&call(&client, "context_get", json!({"name": name})).await);
        assert_eq!(got["items"].as_array().map(Vec::len), Some(1), "{name}");
    }
    // And it can write again.
    let again = generate(
        &client,
        json!({"profile": "ecommerce", "count": 500, "seed": 10, "dataset": "after"}),
    )
    .await;
    assert_eq!(again["records"], 500);
}
