//! Disk faults as a user's machine has them, through the real binary: a data dir on a small
//! tmpfs filled by generation, an index dir without write permission, a power-cut-proof
//! save path (strace), and writes failing at random (libfiu). The server must start
//! whatever state its disk is in, say each problem once with what to do, give back the
//! space a failed write took, and recover by itself.
//!
//! Needs root for `mount -t tmpfs` and to run the server as another user (a permission is
//! no obstacle to root); `strace` and `fiu-run` (Debian `strace`, `fiu-utils`). A test
//! whose tool or privilege is missing prints `SKIPPED <test>: <why>` and returns.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

/// Generous bound for "this will happen"; reaching it fails the test.
const WAIT: Duration = Duration::from_secs(120);

/// Poll an async check until it holds or [`WAIT`] passes.
async fn until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_async(WAIT, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
    .is_some()
}

fn skipped(test: &str, why: &str) {
    println!("SKIPPED {test}: {why}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn has_tool(name: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A small tmpfs mounted on a temp dir, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes in use on the file system.
    fn used(&self) -> u64 {
        let c = std::ffi::CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: statvfs writes into the zeroed struct we own.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0, "statvfs");
        (st.f_blocks - st.f_bfree) * st.f_frsize
    }

    /// Fill what is left with a file of the user's, as another program would.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![7u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        let small = [7u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// How to start `serve --http`.
#[derive(Default)]
struct Serve<'a> {
    data_dir: Option<&'a Path>,
    /// Run as this uid/gid (root only).
    user: Option<u32>,
}

/// Start `serve --http` and connect; stderr lines are collected in the returned log.
async fn serve(root: &Path, how: Serve<'_>) -> (HttpServer, Client, Arc<Mutex<Vec<String>>>) {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg("serve").arg("--root").arg(root);
    if let Some(d) = how.data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    cmd.arg("--http")
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(id) = how.user {
        cmd.uid(id).gid(id);
    }
    let mut child = cmd.spawn().expect("spawn netra-apex serve --http");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = log.clone();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.trim().to_string();
            }
            seen.lock().unwrap().push(line);
        }
        panic!("server exited before listening: {:?}", seen.lock().unwrap());
    })
    .await
    .expect("server did not start listening");
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.lock().unwrap().push(line);
        }
    });
    let server = HttpServer { child, url };
    let client = http_client(&server.url, Generation::Handshake).await;
    (server, client, log)
}

async fn stop(mut server: HttpServer) {
    let _ = server.child.start_kill();
    let _ = server.child.wait().await;
}

/// `needle` occurs exactly once in `text`: an error said once, not repeated by a wrapper.
fn once(text: &str, needle: &str) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "`{needle}` should be said exactly once in: {text}"
    );
}

fn names_of(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no `{list}` in {v}"))
        .iter()
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every tool that needs no new space answers; returns the dataset names.
async fn reads_work(client: &Client, bundle: Option<&str>) -> Vec<String> {
    let datasets = names_of(
        &ok_json(&call(client, "list_datasets", json!({})).await),
        "datasets",
    );
    for d in &datasets {
        let v = ok_json(&call(client, "describe_dataset", json!({"dataset": d})).await);
        assert!(v.is_object(), "{v}");
    }
    let v = ok_json(
        &call(
            client,
            "query_data",
            json!({"sql": "SELECT COUNT(*) FROM workload_records"}),
        )
        .await,
    );
    assert!(v["rows"][0][0].as_i64().is_some(), "{v}");
    let profiles = ok_json(&call(client, "list_workload_profiles", json!({})).await);
    assert!(profiles.to_string().contains("ecommerce"), "{profiles}");
    let agents = call(client, "list_agents", json!({})).await;
    assert!(text(&agents).contains("optimization"), "{}", text(&agents));
    let list = ok_json(&call(client, "context_list", json!({})).await);
    if let Some(name) = bundle {
        assert!(
            names_of(&list, "bundles").contains(&name.to_string()),
            "{list}"
        );
        let got = ok_json(&call(client, "context_get", json!({"name": name})).await);
        assert_eq!(got["name"], name, "{got}");
    }
    ok_json(&call(client, "list_test_runs", json!({})).await);
    let pricing = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "apex://pricing",
        ))
        .await
        .expect("read apex://pricing");
    assert!(!pricing.contents.is_empty());
    datasets
}

// ------------------------------------------------------------------ full disk

#[tokio::test]
async fn full_disk_gives_space_back_starts_degraded_and_recovers_by_itself() {
    const TEST: &str = "full_disk_gives_space_back_starts_degraded_and_recovers_by_itself";
    let Some(fs) = Tmpfs::mount("8m") else {
        return skipped(TEST, "cannot mount a tmpfs (needs root or CAP_SYS_ADMIN)");
    };
    let ws = Workspace::new();
    ws.write("src/lib.rs", "pub fn durable_marker() -> u32 {\n    7\n}\n");
    let data = fs.path().join("data");
    let cli = |args: &[&str]| {
        std::process::Command::new(bin())
            .arg("--root")
            .arg(ws.path())
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .expect("run netra-apex")
    };

    // A fresh data dir, as in the report: a small dataset, then one too big for the disk.
    let out = cli(&[
        "synth",
        "--count",
        "500",
        "--seed",
        "1",
        "--dataset",
        "small",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = fs.used();
    let out = cli(&[
        "synth", "--format", "sqlite", "--count", "2000000", "--seed", "2",
    ]);
    assert!(!out.status.success(), "2M records cannot fit in 8 MB");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("netra-apex: "))
        .unwrap_or_else(|| panic!("no error line in: {stderr}"));
    assert!(error.contains("disk is full"), "{error}");
    assert!(
        error.contains(&data.display().to_string()),
        "names the path: {error}"
    );
    assert!(error.contains("free space"), "says what to do: {error}");
    once(error, "disk is full");
    // The space the failed dataset took is given back.
    let after = fs.used();
    assert!(
        after <= before + (256 << 10),
        "the failed generation left {} kB behind ({before} -> {after} bytes)",
        (after.saturating_sub(before)) >> 10
    );

    // Something else fills the disk. The server starts anyway.
    let filler = fs.fill();
    let (server, client, log) = serve(
        ws.path(),
        Serve {
            data_dir: Some(&data),
            ..Default::default()
        },
    )
    .await;
    let index_dir = data.join("index").display().to_string();
    let status = call(&client, "index_status", json!({})).await;
    let t = text(&status);
    assert_ne!(status.is_error, Some(true), "index_status answers: {t}");
    assert!(t.starts_with("index unavailable: disk full"), "{t}");
    assert!(t.contains(&index_dir) && t.contains("free space"), "{t}");
    once(&t, "No space left on device");
    let v = status.structured_content.clone().unwrap_or(Value::Null);
    assert_eq!(v["available"], false, "{v}");
    let r = call(&client, "search_code", json!({"query": "durable_marker"})).await;
    assert_tool_error(
        &r,
        &["index unavailable: disk full", &index_dir, "free space"],
    );
    // Every capability that needs no new space works.
    assert_eq!(reads_work(&client, None).await, vec!["small".to_string()]);
    // Writes say why they fail, once, with what to do.
    let r = call(
        &client,
        "context_save",
        json!({"name": "full", "notes": "x"}),
    )
    .await;
    assert_tool_error(&r, &["disk is full", "apex.db", "free space"]);
    once(&text(&r), "disk is full");
    // The server said what is wrong at start, once.
    let said = log.lock().unwrap().join("\n");
    once(&said, "index unavailable: disk full");

    // Space returns: search and writes come back without a restart.
    std::fs::remove_file(&filler).unwrap();
    let back = until(|| async {
        let r = call(&client, "index_status", json!({})).await;
        !text(&r).starts_with("index unavailable")
    })
    .await;
    assert!(back, "the index did not come back within {WAIT:?}");
    let hits = call(&client, "search_code", json!({"query": "durable_marker"})).await;
    assert!(text(&hits).contains("src/lib.rs"), "{}", text(&hits));
    let saved = ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "after", "notes": "saved once space returned",
                   "items": [{"path": "src/lib.rs", "symbol": "durable_marker"}]}),
        )
        .await,
    );
    assert_eq!(saved["version"], 1);

    // The server's own generations that do not fit: a clear error, and the space back.
    let before = fs.used();
    let r = call(
        &client,
        "generate_synthetic_data",
        json!({"profile": "gaming", "count": 2_000_000, "seed": 3, "dataset": "huge"}),
    )
    .await;
    assert_tool_error(
        &r,
        &["disk is full", &data.display().to_string(), "free space"],
    );
    once(&text(&r), "disk is full");
    let r = call(
        &client,
        "generate_synthetic_data",
        json!({"profile": "gaming", "count": 2_000_000, "seed": 4, "format": "jsonl"}),
    )
    .await;
    assert_tool_error(&r, &["disk is full", "gaming-4.jsonl", "free space"]);
    once(&text(&r), "disk is full");
    let after = fs.used();
    assert!(
        after <= before + (512 << 10),
        "failed generations left {} kB behind",
        after.saturating_sub(before) >> 10
    );
    let synth_dir = data.join("synth");
    let left: Vec<_> = std::fs::read_dir(&synth_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "no temp files left in {}: {left:?}",
        synth_dir.display()
    );
    stop(server).await;

    // After a restart everything acknowledged is there.
    let (_server, client, _log) = serve(
        ws.path(),
        Serve {
            data_dir: Some(&data),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        reads_work(&client, Some("after")).await,
        vec!["small".to_string()]
    );
}

// ------------------------------------------------------------------ permissions

/// `chown -R uid:uid dir`.
fn chown_tree(dir: &Path, uid: u32) {
    let ok = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown -R {}", dir.display());
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test]
async fn index_dir_without_write_permission_starts_degraded_and_recovers_by_itself() {
    const TEST: &str = "index_dir_without_write_permission_starts_degraded_and_recovers_by_itself";
    // Root ignores permissions: the server runs as `nobody` then. Another user runs as itself.
    const NOBODY: u32 = 65534;
    let user = is_root().then_some(NOBODY);
    let ws = Workspace::new();
    ws.write("src/lib.rs", "pub fn perm_marker() -> u32 {\n    1\n}\n");
    if user.is_some() {
        chmod(ws.path(), 0o755);
        chown_tree(ws.path(), NOBODY);
    }
    let how = || Serve {
        data_dir: None,
        user,
    };
    let (server, client, _log) = serve(ws.path(), how()).await;
    let hits = call(&client, "search_code", json!({"query": "perm_marker"})).await;
    assert!(text(&hits).contains("src/lib.rs"), "{}", text(&hits));
    stop(server).await;
    let index = ws.path().join(".netra-apex/index");
    if user.is_none() && std::fs::metadata(&index).is_err() {
        return skipped(TEST, "no index dir was built");
    }

    // No write permission: the index answers from what it holds and says it is read-only.
    chmod(&index, 0o555);
    let (server, client, log) = serve(ws.path(), how()).await;
    let dir = index.display().to_string();
    let status = call(&client, "index_status", json!({})).await;
    let t = text(&status);
    assert!(
        t.starts_with("index read-only: permission denied") && t.contains(&dir),
        "{t}"
    );
    assert!(t.contains("write permission"), "says what to do: {t}");
    let hits = call(&client, "search_code", json!({"query": "perm_marker"})).await;
    assert!(text(&hits).contains("src/lib.rs"), "{}", text(&hits));
    let r = call(&client, "reindex", json!({})).await;
    assert_tool_error(&r, &["index read-only: permission denied", &dir]);
    reads_work(&client, None).await;
    ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "perm", "notes": "works"}),
        )
        .await,
    );
    once(&log.lock().unwrap().join("\n"), "index read-only");
    // Permission back: updates resume without a restart.
    chmod(&index, 0o755);
    let back = until(|| async {
        let r = call(&client, "index_status", json!({})).await;
        !text(&r).contains("read-only")
    })
    .await;
    assert!(back, "the index stayed read-only");
    ok_json(&call(&client, "reindex", json!({})).await);
    stop(server).await;

    // Not even readable: unavailable, the rest works, and it comes back.
    chmod(&index, 0o000);
    let (_server, client, _log) = serve(ws.path(), how()).await;
    let r = call(&client, "search_code", json!({"query": "perm_marker"})).await;
    assert_tool_error(
        &r,
        &["index unavailable: permission denied", &dir, "permission"],
    );
    reads_work(&client, Some("perm")).await;
    chmod(&index, 0o755);
    let back = until(|| async {
        let r = call(&client, "search_code", json!({"query": "perm_marker"})).await;
        text(&r).contains("src/lib.rs")
    })
    .await;
    assert!(back, "search did not come back");
}

// ------------------------------------------------------------------ power loss (strace)

/// The lines of an strace log (`-f -o FILE`): each line's pid and text. A call another
/// thread interrupted (`<unfinished ...>`) is joined with its `<... resumed>` line, so every
/// call reads as one line with its result.
fn trace_lines(path: &Path) -> Vec<String> {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in raw.lines() {
        let (pid, text) = match line.split_once(' ') {
            Some((pid, rest)) if pid.bytes().all(|b| b.is_ascii_digit()) => {
                (pid, rest.trim_start())
            }
            _ => ("", line),
        };
        if let Some(call) = text.strip_suffix(" <unfinished ...>") {
            open.insert(pid.to_string(), out.len());
            out.push(call.to_string());
        } else if text.starts_with("<... ") {
            let rest = text.split_once("resumed>").map_or("", |x| x.1);
            if let Some(i) = open.remove(pid) {
                out[i].push_str(rest);
            }
        } else {
            out.push(text.to_string());
        }
    }
    out
}
/// The index of the first line at or after `from` that satisfies `f`.
fn find_from(lines: &[String], from: usize, what: &str, f: impl Fn(&str) -> bool) -> usize {
    lines
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, l)| f(l))
        .map(|(i, _)| i)
        .unwrap_or_else(|| {
            panic!(
                "no {what} after line {from} in the trace:\n{}",
                lines[from.min(lines.len())..].join("\n")
            )
        })
}

/// A write of the server's answers to stdout that holds `needle`.
fn is_answer(line: &str, needle: &str) -> bool {
    line.starts_with("write(1<") && line.contains(needle)
}

/// A completed fsync or fdatasync of a file whose path ends with `path_end`.
fn is_sync_of(line: &str, path_end: &str) -> bool {
    (line.starts_with("fsync(") || line.starts_with("fdatasync("))
        && line.contains(&format!("{path_end}>"))
        && line.ends_with("= 0")
}

const TRACED: &str = "trace=fsync,fdatasync,rename,renameat,renameat2,write";

#[tokio::test]
async fn save_path_syncs_before_the_answer_strace() {
    const TEST: &str = "save_path_syncs_before_the_answer_strace";
    if !has_tool("strace") {
        return skipped(TEST, "strace not installed");
    }
    let ws = Workspace::new();
    ws.write("src/lib.rs", "pub fn traced() -> u32 {\n    3\n}\n");
    let logs = tempfile::tempdir().expect("tempdir");
    let trace = logs.path().join("serve.trace");
    let mut cmd = tokio::process::Command::new("strace");
    cmd.args(["-f", "-y", "-s", "512", "-e", TRACED, "-o"])
        .arg(&trace)
        .arg(bin())
        .arg("serve")
        .arg("--root")
        .arg(ws.path())
        .env("RUST_LOG", "warn");
    let transport = rmcp::transport::TokioChildProcess::new(cmd).expect("spawn strace");
    let client = rmcp::ClientServiceExt::serve_with_lifecycle(
        TestClient::default(),
        transport,
        rmcp::ClientLifecycleMode::Initialize,
    )
    .await
    .expect("connect over stdio");

    // A call that writes nothing marks where the save's window starts.
    call(&client, "list_workload_profiles", json!({})).await;
    let saved = ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "traced-save", "notes": "must survive a power cut"}),
        )
        .await,
    );
    assert_eq!(saved["version"], 1);
    let out = ws.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let generated = ok_json(
        &call(
            &client,
            "generate_synthetic_data",
            json!({"profile": "research", "count": 2000, "seed": 5, "format": "jsonl", "output": "out/traced.jsonl"}),
        )
        .await,
    );
    assert_eq!(generated["records"], 2000);
    client.cancel().await.expect("close the session");
    let exited = eventually(WAIT, || {
        std::fs::read_to_string(&trace)
            .is_ok_and(|t| t.contains("+++ exited with"))
            .then_some(())
    })
    .await;
    assert!(exited.is_some(), "the traced server did not exit");
    let lines = trace_lines(&trace);

    // The save: its commit is synced (the write-ahead log) before its answer is written.
    let profiles = find_from(&lines, 0, "profiles answer", |l| is_answer(l, "ecommerce"));
    let answer = find_from(&lines, profiles + 1, "save answer", |l| {
        is_answer(l, "Saved context `traced-save`")
    });
    let synced = lines[profiles..answer]
        .iter()
        .any(|l| is_sync_of(l, "apex.db-wal"));
    assert!(
        synced,
        "no fsync/fdatasync of apex.db-wal between the request and the answer:\n{}",
        lines[profiles..=answer].join("\n")
    );

    // The file output: data synced, renamed, directory synced, then the answer.
    let out = out.canonicalize().unwrap().display().to_string();
    let tmp_prefix = format!("{out}/.traced.jsonl.");
    let file_sync = find_from(&lines, answer + 1, "fsync of the temp output", |l| {
        is_sync_of(l, "") && l.contains(&tmp_prefix)
    });
    let rename = find_from(&lines, file_sync + 1, "rename into place", |l| {
        l.starts_with("rename")
            && l.contains(&tmp_prefix)
            && l.contains(&format!("\"{out}/traced.jsonl\""))
    });
    let dir_sync = find_from(&lines, rename + 1, "fsync of the output directory", |l| {
        is_sync_of(l, &out)
    });
    find_from(&lines, dir_sync + 1, "generation answer", |l| {
        is_answer(l, "out/traced.jsonl")
    });

    // The CLI's file output (context export) goes the same way.
    let exported = ws.path().join("exported.json");
    let cli_trace = logs.path().join("export.trace");
    let status = std::process::Command::new("strace")
        .args(["-f", "-y", "-s", "256", "-e", TRACED, "-o"])
        .arg(&cli_trace)
        .arg(bin())
        .arg("--root")
        .arg(ws.path())
        .args(["context", "export", "traced-save", "--out"])
        .arg(&exported)
        .status()
        .expect("strace netra-apex context export");
    assert!(status.success());
    let lines = trace_lines(&cli_trace);
    let root = ws.path().canonicalize().unwrap().display().to_string();
    let tmp_prefix = format!("{root}/.exported.json.");
    let file_sync = find_from(&lines, 0, "fsync of the temp export", |l| {
        is_sync_of(l, "") && l.contains(&tmp_prefix)
    });
    let rename = find_from(&lines, file_sync + 1, "rename of the export", |l| {
        l.starts_with("rename") && l.contains(&tmp_prefix)
    });
    find_from(&lines, rename + 1, "fsync of the export's directory", |l| {
        is_sync_of(l, &root)
    });
    let body = std::fs::read_to_string(&exported).unwrap();
    assert!(body.contains("must survive a power cut"), "{body}");
}

// ------------------------------------------------------------------ random faults (libfiu)

/// Start `serve --http` under `fiu-run` with every POSIX I/O call failing at random; `None`
/// when the faults kill it before it listens (that round is lost, not the test).
async fn serve_under_fiu(root: &Path, probability: f64) -> Option<HttpServer> {
    let mut child = tokio::process::Command::new("fiu-run")
        .arg("-x")
        .arg("-c")
        .arg(format!(
            "enable_random name=posix/io/*,probability={probability}"
        ))
        .arg(bin())
        .arg("serve")
        .arg("--root")
        .arg(root)
        .arg("--http")
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fiu-run");
    let stderr = child.stderr.take()?;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return Some(rest.trim().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(HttpServer { child, url })
}

#[tokio::test]
async fn random_io_failures_lose_no_acknowledged_save_libfiu() {
    const TEST: &str = "random_io_failures_lose_no_acknowledged_save_libfiu";
    if !has_tool("fiu-run") {
        return skipped(TEST, "fiu-run not installed (Debian fiu-utils)");
    }
    const ROUNDS: usize = 12;
    const SAVES_PER_ROUND: usize = 60;
    let probability: f64 = std::env::var("APEX_FIU_PROBABILITY")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.003);
    let ws = Workspace::new();
    ws.write("src/lib.rs", "pub fn fiu_marker() -> u32 {\n    5\n}\n");
    let mut acked: Vec<(String, u64, String)> = Vec::new();
    let (mut refused, mut lost_rounds) = (0usize, 0usize);
    for round in 0..ROUNDS {
        let Some(server) = serve_under_fiu(ws.path(), probability).await else {
            lost_rounds += 1;
            continue;
        };
        let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                server.url.clone(),
            ),
        );
        let connected = tokio::time::timeout(
            Duration::from_secs(30),
            rmcp::ClientServiceExt::serve_with_lifecycle(
                TestClient::default(),
                transport,
                rmcp::ClientLifecycleMode::Initialize,
            ),
        )
        .await;
        let Ok(Ok(client)) = connected else {
            lost_rounds += 1;
            stop(server).await;
            continue;
        };
        for i in 0..SAVES_PER_ROUND {
            let name = format!("b{}", i % 7);
            let marker = format!("round {round} save {i}");
            let args = json!({
                "name": name,
                "notes": format!("# {marker}\n{}", "payload line\n".repeat(50)),
                "items": [{"path": "src/lib.rs", "start_line": 1, "end_line": 3}]
            });
            match tokio::time::timeout(
                Duration::from_secs(30),
                try_call(&client, "context_save", args),
            )
            .await
            {
                Ok(Ok(r)) if r.is_error != Some(true) => {
                    let version = r
                        .structured_content
                        .as_ref()
                        .and_then(|v| v["version"].as_u64());
                    acked.push((
                        name,
                        version.expect("an acknowledged save has a version"),
                        marker,
                    ));
                }
                Ok(Ok(_)) => refused += 1,
                // The transport itself failed (a socket read or write was failed): next round.
                _ => break,
            }
        }
        stop(server).await;
    }
    println!(
        "{TEST}: probability {probability}: {} saves acknowledged, {refused} refused with an error, {lost_rounds} of {ROUNDS} rounds lost at start",
        acked.len()
    );
    assert!(
        acked.len() >= 20,
        "too few saves got through to prove anything: {}",
        acked.len()
    );
    assert!(
        refused + lost_rounds > 0,
        "no fault was injected: raise APEX_FIU_PROBABILITY"
    );

    // Without faults: the store opens and every acknowledged save is there, as acknowledged.
    let (_server, client, _log) = serve(ws.path(), Serve::default()).await;
    assert_saves_kept(&client, &acked).await;
    // And it still takes writes.
    ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "after-faults", "notes": "ok"}),
        )
        .await,
    );
}
