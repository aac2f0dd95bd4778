//! Context sharing end to end: the real binary, real rmcp clients over HTTP and stdio, both
//! protocol generations; anchoring against real edits; versions; export/import through the
//! CLI; redaction; concurrent saves.

use std::time::Duration;

use crate::common::*;
use rmcp::model::{
    GetPromptRequestParams, ReadResourceRequestParams, ServerNotification, SubscribeRequestParams,
    SubscriptionFilter,
};
use serde_json::{Value, json};

const LOGIN: &str =
    "fn helper() {}\n\nfn login(user: &str) -> bool {\n    check(user)\n}\n\nfn logout() {}\n";

fn item(path: &str, start: u32, end: u32) -> Value {
    json!({"path": path, "start_line": start, "end_line": end})
}

/// What one subscriber has heard, whichever generation it speaks.
enum Watch {
    /// 2025-11-25: `resources/subscribe`; notifications arrive through the handler.
    Legacy(TestClient),
    /// 2026-07-28: one `subscriptions/listen` stream.
    Listen {
        sub: Box<rmcp::service::Subscription>,
        updates: Vec<String>,
        list_changed: usize,
    },
}

impl Watch {
    async fn start(
        client: &Client,
        handler: &TestClient,
        generation: Generation,
        uris: &[String],
    ) -> Self {
        match generation {
            Generation::Handshake => {
                for uri in uris {
                    #[allow(deprecated)]
                    client
                        .subscribe(SubscribeRequestParams::new(uri.clone()))
                        .await
                        .expect("resources/subscribe");
                }
                Watch::Legacy(handler.clone())
            }
            Generation::Stateless => {
                let filter = SubscriptionFilter::builder()
                    .resources_list_changed()
                    .resource_subscriptions(uris.iter().cloned())
                    .build();
                let sub = client
                    .peer()
                    .listen(filter)
                    .await
                    .expect("subscriptions/listen");
                assert_eq!(
                    sub.acknowledged().resource_subscriptions.as_deref(),
                    Some(uris),
                    "the server accepts the bundle URIs"
                );
                // No wait here: the server opens its bus receiver before acknowledging, so a
                // save made right after the ack must still arrive.
                Watch::Listen {
                    sub: Box::new(sub),
                    updates: Vec::new(),
                    list_changed: 0,
                }
            }
        }
    }

    /// Wait until `uri` has been reported updated `times` times in all and a list change
    /// seen; false on timeout.
    async fn heard(&mut self, uri: &str, times: usize) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        match self {
            Watch::Legacy(h) => eventually(Duration::from_secs(10), || {
                let r = h.received.lock().unwrap();
                let n = r.resource_updates.iter().filter(|u| *u == uri).count();
                (n >= times && r.list_changed >= times).then_some(())
            })
            .await
            .is_some(),
            Watch::Listen {
                sub,
                updates,
                list_changed,
            } => loop {
                let n = updates.iter().filter(|u| *u == uri).count();
                if n >= times && *list_changed >= times {
                    return true;
                }
                let next = tokio::time::timeout_at(deadline, sub.next()).await;
                match next {
                    Ok(Ok(Some(ServerNotification::ResourceUpdatedNotification(u)))) => {
                        updates.push(u.params.uri)
                    }
                    Ok(Ok(Some(ServerNotification::ResourceListChangedNotification(_)))) => {
                        *list_changed += 1
                    }
                    Ok(Ok(Some(_))) => {}
                    _ => return false,
                }
            },
        }
    }
}

#[tokio::test]
async fn a_subscriber_over_http_hears_another_clients_save_and_delete() {
    let ws = Workspace::new();
    ws.write("src/login.rs", LOGIN);
    let server = http_server(ws.path(), &[]).await;
    for generation in BOTH {
        let name = format!("shared-{generation:?}").to_lowercase();
        let uri = format!("apex://contexts/{name}");
        let handler = TestClient::default();
        let listener = http_client_with(handler.clone(), &server.url, generation).await;
        let saver = http_client(&server.url, generation).await;
        let mut watch =
            Watch::start(&listener, &handler, generation, std::slice::from_ref(&uri)).await;

        let saved = ok_json(
            &call(
                &saver,
                "context_save",
                json!({"name": name, "description": "login", "items": [item("src/login.rs", 3, 5)], "notes": "start here"}),
            )
            .await,
        );
        assert_eq!(saved["version"], 1);
        assert!(
            watch.heard(&uri, 1).await,
            "{generation:?}: no update for {uri}"
        );

        // The subscriber reads what the other client saved, at once.
        let read = listener
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await
            .expect("resources/read");
        let body = serde_json::to_string(&read).unwrap();
        assert!(
            body.contains("fn login(user: &str)") && body.contains("start here"),
            "{body}"
        );
        let list = listener.list_all_resources().await.expect("resources/list");
        assert!(
            list.iter().any(|r| r.uri == uri),
            "{generation:?}: {list:?}"
        );

        ok_json(&call(&saver, "context_save", json!({"name": name, "notes": "v2"})).await);
        assert!(
            watch.heard(&uri, 2).await,
            "{generation:?}: no update for version 2"
        );
        ok_json(&call(&saver, "context_delete", json!({"name": name})).await);
        assert!(
            watch.heard(&uri, 3).await,
            "{generation:?}: no update for the delete"
        );

        saver.cancel().await.unwrap();
        drop(watch);
        listener.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_save_by_another_server_process_reaches_this_servers_subscribers() {
    let ws = Workspace::new();
    ws.write("src/login.rs", LOGIN);
    let server = http_server(ws.path(), &[]).await;
    for generation in BOTH {
        let name = format!("elsewhere-{generation:?}").to_lowercase();
        let uri = format!("apex://contexts/{name}");
        let handler = TestClient::default();
        let listener = http_client_with(handler.clone(), &server.url, generation).await;
        let mut watch =
            Watch::start(&listener, &handler, generation, std::slice::from_ref(&uri)).await;

        // Another process on the same workspace and data dir: a stdio server.
        let other = stdio_client(ws.path(), generation).await;
        ok_json(
            &call(
                &other,
                "context_save",
                json!({"name": name, "items": [item("src/login.rs", 3, 5)], "notes": "from elsewhere"}),
            )
            .await,
        );
        assert!(
            watch.heard(&uri, 1).await,
            "{generation:?}: a save by another process was not announced"
        );
        let read = listener
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await
            .expect("resources/read");
        assert!(
            serde_json::to_string(&read)
                .unwrap()
                .contains("from elsewhere")
        );

        ok_json(&call(&other, "context_delete", json!({"name": name})).await);
        assert!(
            watch.heard(&uri, 2).await,
            "{generation:?}: a delete by another process was not announced"
        );
        other.cancel().await.unwrap();
        drop(watch);
        listener.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn stdio_clients_are_notified_of_their_saves_in_both_generations() {
    let ws = Workspace::new();
    ws.write("src/login.rs", LOGIN);
    for generation in BOTH {
        let handler = TestClient::default();
        let client = stdio_client_with(handler.clone(), ws.path(), generation, &[]).await;
        let uri = "apex://contexts/mine".to_string();
        let mut watch = Watch::start(
            &client,
            &handler,
            generation,
            &[uri.clone(), "apex://contexts".into()],
        )
        .await;
        ok_json(
            &call(
                &client,
                "context_save",
                json!({"name": "mine", "items": [item("src/login.rs", 1, 1)]}),
            )
            .await,
        );
        assert!(watch.heard(&uri, 1).await, "{generation:?}");
        assert!(
            watch.heard("apex://contexts", 1).await,
            "{generation:?}: the list resource"
        );
        drop(watch);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn get_reports_every_status_as_the_code_changes() {
    let ws = Workspace::new();
    for f in ["fresh", "moved", "stale", "gone"] {
        ws.write(&format!("src/{f}.rs"), LOGIN);
    }
    ws.write(
        "src/store.rs",
        "pub struct Store;\n\nimpl Store {\n    pub fn open() -> Store {\n        Store\n    }\n}\n",
    );
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let items: Vec<Value> = ["fresh", "moved", "stale", "gone"]
        .iter()
        .map(|f| json!({"path": format!("src/{f}.rs"), "start_line": 3, "end_line": 5, "note": format!("the {f} one")}))
        .chain([json!({"path": "src/store.rs", "symbol": "Store::open"})])
        .collect();
    let saved = ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "flow", "items": items}),
        )
        .await,
    );
    assert_eq!(
        saved["anchors"][4]["symbol"],
        json!({"path": "Store::open", "kind": "method"})
    );
    assert_eq!(saved["anchors"][4]["start_line"], 4);

    ws.write("src/moved.rs", &format!("use a;\nuse b;\n{LOGIN}"));
    ws.write(
        "src/stale.rs",
        &LOGIN.replace("check(user)", "check(user) || admin(user)"),
    );
    std::fs::remove_file(ws.path().join("src/gone.rs")).unwrap();
    ws.write(
        "src/store.rs",
        "pub struct Store;\n\nimpl Store {\n    const N: u8 = 1;\n\n    pub fn open() -> Store {\n        Store\n    }\n}\n",
    );

    let got = call(&client, "context_get", json!({"name": "flow"})).await;
    let v = ok_json(&got);
    let statuses: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["fresh", "moved", "stale", "missing", "moved"],
        "{}",
        text(&got)
    );
    assert_eq!(
        (
            v["items"][1]["start_line"].as_u64(),
            v["items"][1]["end_line"].as_u64()
        ),
        (Some(5), Some(7))
    );
    assert!(
        v["items"][2]["diff"]
            .as_str()
            .unwrap()
            .contains("+    check(user) || admin(user)")
    );
    assert!(
        v["items"][2]["text"]
            .as_str()
            .unwrap()
            .contains("admin(user)")
    );
    assert!(
        v["items"][3]["reason"]
            .as_str()
            .unwrap()
            .contains("no longer exists")
    );
    assert_eq!(v["items"][4]["start_line"], 6);
    assert_eq!(
        v["counts"],
        json!({"fresh": 1, "moved": 2, "stale": 1, "missing": 1})
    );
    let t = text(&got);
    assert!(
        t.contains("> the stale one") && t.contains("```diff"),
        "{t}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn versions_budgets_bad_input_and_the_prompt() {
    let ws = Workspace::new();
    ws.write("src/login.rs", LOGIN);
    let body: String = (0..60).map(|i| format!("let v{i} = {i};\n")).collect();
    ws.write("src/big.rs", &body);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.rs"), "x\n").unwrap();
    let client = stdio_client(ws.path(), Generation::Stateless).await;

    ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "flow", "items": [item("src/login.rs", 1, 1)], "tags": ["auth"]}),
        )
        .await,
    );
    let two = ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "flow", "items": [item("src/login.rs", 3, 5)], "tags": ["auth"]}),
        )
        .await,
    );
    assert_eq!(two["version"], 2);
    let v1 = ok_json(
        &call(
            &client,
            "context_get",
            json!({"name": "flow", "version": 1}),
        )
        .await,
    );
    assert_eq!(
        (v1["version"].as_u64(), v1["latest_version"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(v1["items"][0]["text"], "fn helper() {}");
    assert_tool_error(
        &call(
            &client,
            "context_get",
            json!({"name": "flow", "version": 9}),
        )
        .await,
        &["versions 1 to 2"],
    );

    let items: Vec<Value> = (0..10)
        .map(|k| item("src/big.rs", k * 6 + 1, k * 6 + 6))
        .collect();
    ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "big", "items": items}),
        )
        .await,
    );
    let cut = call(
        &client,
        "context_get",
        json!({"name": "big", "max_tokens": 250}),
    )
    .await;
    let v = ok_json(&cut);
    let shown = v["items"].as_array().unwrap().len();
    let left = v["omitted"].as_array().unwrap().len();
    assert!(
        shown > 0 && left > 0 && shown + left == 10,
        "{}",
        text(&cut)
    );
    assert!(v["tokens"].as_u64().unwrap() <= 250);
    assert_eq!(v["omitted"][0]["index"], shown as u64 + 1);
    assert!(text(&cut).contains("did not fit the budget of 250 tokens"));

    let list = ok_json(&call(&client, "context_list", json!({"tag": "auth"})).await);
    assert_eq!(list["bundles"].as_array().unwrap().len(), 1);
    assert_eq!(list["bundles"][0]["name"], "flow");

    assert_tool_error(
        &call(&client, "context_get", json!({"name": "flwo"})).await,
        &["no context bundle named `flwo`", "`flow`"],
    );
    assert_tool_error(
        &call(&client, "context_delete", json!({"name": "bgi"})).await,
        &["`big`"],
    );
    let abs = outside.path().join("x.rs").display().to_string();
    assert_tool_error(
        &call(
            &client,
            "context_save",
            json!({"name": "x", "items": [item(&abs, 1, 1)]}),
        )
        .await,
        &["items[0].path", "outside the workspace root"],
    );
    assert_tool_error(
        &call(
            &client,
            "context_save",
            json!({"name": "x", "items": [item("../../etc/passwd", 1, 1)]}),
        )
        .await,
        &["items[0].path"],
    );
    assert_tool_error(
        &call(
            &client,
            "context_save",
            json!({"name": "No Caps", "notes": "n"}),
        )
        .await,
        &["name", "lowercase"],
    );

    let names = client
        .complete(rmcp::model::CompleteRequestParams::new(
            rmcp::model::Reference::for_prompt("use_context"),
            rmcp::model::ArgumentInfo::new("name", "fl"),
        ))
        .await
        .expect("completion/complete");
    assert_eq!(names.completion.values, vec!["flow"]);
    let args = json!({"name": "flow", "task": "add 2FA"})
        .as_object()
        .cloned()
        .unwrap();
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("use_context").with_arguments(args))
        .await
        .expect("prompts/get use_context");
    let body = serde_json::to_string(&prompt.messages).unwrap();
    assert!(
        body.contains("fn login(user: &str)") && body.contains("add 2FA"),
        "{body}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn secrets_are_redacted_on_save_and_never_shown() {
    let ws = Workspace::new();
    let key = format!("AKIA{}", "Z3".repeat(8));
    let gh = format!("ghp_{}", "a1B2".repeat(9));
    ws.write(
        "src/cfg.py",
        &format!("REGION = 'eu'\nTOKEN = '{gh}'\nDB_PASSWORD = \"s3cr3t-pass\"\n"),
    );
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let res = call(
        &client,
        "context_save",
        json!({"name": "cfg", "items": [item("src/cfg.py", 1, 3)], "notes": format!("deploy with {key}")}),
    )
    .await;
    let out = ok_json(&res);
    let all = format!("{}{}", text(&res), out);
    assert!(
        !all.contains(&key) && !all.contains(&gh) && !all.contains("s3cr3t-pass"),
        "{all}"
    );
    let kinds: Vec<(String, u64)> = out["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("aws_access_key_id".into(), 1),
            ("github_token".into(), 1),
            ("password".into(), 1)
        ]
    );
    assert!(
        text(&res).contains("Redacted 1 aws_access_key_id (notes)"),
        "{}",
        text(&res)
    );
    let got = call(&client, "context_get", json!({"name": "cfg"})).await;
    let shown = format!("{}{}", text(&got), ok_json(&got));
    assert!(
        !shown.contains(&key) && !shown.contains(&gh) && !shown.contains("s3cr3t-pass"),
        "{shown}"
    );
    assert_eq!(ok_json(&got)["items"][0]["status"], "fresh");
    client.cancel().await.unwrap();
}

fn cli(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run netra-apex")
}

#[tokio::test]
async fn export_and_import_round_trip_through_the_cli() {
    let a = Workspace::new();
    a.write("src/login.rs", LOGIN);
    let client = stdio_client(a.path(), Generation::Handshake).await;
    ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "flow", "description": "login", "tags": ["auth"], "notes": "# Plan\n1. read", "items": [{"path": "src/login.rs", "start_line": 3, "end_line": 5, "note": "entry"}]}),
        )
        .await,
    );
    client.cancel().await.unwrap();

    let file = a.path().join("flow.context.json");
    let out = cli(
        a.path(),
        &["context", "export", "flow", "--out", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json_text = std::fs::read_to_string(&file).unwrap();
    assert!(
        json_text.starts_with("{\n  \"format\": \"netra-apex/context\""),
        "{json_text}"
    );
    let stdout = cli(a.path(), &["context", "export", "flow"]);
    assert_eq!(
        String::from_utf8_lossy(&stdout.stdout),
        json_text,
        "stdout and file agree"
    );

    // Another machine: the same code, a fresh data dir.
    let b = Workspace::new();
    b.write("src/login.rs", LOGIN);
    let out = cli(b.path(), &["context", "import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported context `flow` as version 1"));
    let out = cli(b.path(), &["context", "import", file.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("as version 2"),
        "import lands as a new version"
    );

    let client = stdio_client(b.path(), Generation::Stateless).await;
    let v = ok_json(&call(&client, "context_get", json!({"name": "flow"})).await);
    assert_eq!(v["version"], 2);
    assert_eq!(v["items"][0]["status"], "fresh");
    assert_eq!(v["items"][0]["note"], "entry");
    assert_eq!(v["notes"], "# Plan\n1. read");
    assert_eq!(v["tags"], json!(["auth"]));
    client.cancel().await.unwrap();

    let bad = b.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": \"other\"}").unwrap();
    let out = cli(b.path(), &["context", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("file.format"));
    let out = cli(b.path(), &["context", "export", "flwo"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `flow`"));
}

async fn save_many(client: &Client, who: &str) -> Vec<u64> {
    let mut versions = Vec::new();
    for j in 0..10 {
        let r = call(
            client,
            "context_save",
            json!({"name": "race", "notes": format!("{who}-{j}"), "items": [item("src/login.rs", 1, 1)]}),
        )
        .await;
        versions.push(ok_json(&r)["version"].as_u64().unwrap());
    }
    versions
}

#[tokio::test]
async fn two_http_clients_saving_one_name_at_once_both_land() {
    let ws = Workspace::new();
    ws.write("src/login.rs", LOGIN);
    let server = http_server(ws.path(), &[]).await;
    let a = http_client(&server.url, Generation::Handshake).await;
    let b = http_client(&server.url, Generation::Stateless).await;
    let (va, vb) = tokio::join!(save_many(&a, "a"), save_many(&b, "b"));
    let mut all: Vec<u64> = va.into_iter().chain(vb).collect();
    all.sort();
    assert_eq!(
        all,
        (1..=20).collect::<Vec<_>>(),
        "every save got its own version"
    );
    let mut notes = Vec::new();
    for v in 1..=20 {
        let got = ok_json(&call(&a, "context_get", json!({"name": "race", "version": v})).await);
        notes.push(got["notes"].as_str().unwrap().to_string());
    }
    notes.sort();
    notes.dedup();
    assert_eq!(notes.len(), 20, "no save lost: {notes:?}");
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

#[tokio::test]
async fn symbols_without_a_path_are_found_through_the_index_even_after_moving_files() {
    let ws = Workspace::new();
    let store_rs = "pub struct Store;\n\nimpl Store {\n    pub fn open() -> Store {\n        Store\n    }\n}\n";
    ws.write("src/store.rs", store_rs);
    ws.write("src/main.rs", "fn main() {}\n");
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    ok_json(&call(&client, "reindex", json!({})).await);
    let saved = ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "s", "items": [{"symbol": "Store::open", "note": "entry"}]}),
        )
        .await,
    );
    assert_eq!(saved["anchors"][0]["path"], "src/store.rs");
    assert_eq!(
        saved["anchors"][0]["symbol"],
        json!({"path": "Store::open", "kind": "method"})
    );
    assert_tool_error(
        &call(
            &client,
            "context_save",
            json!({"name": "s", "items": [{"symbol": "Nope::open"}]}),
        )
        .await,
        &["items[0].symbol", "no symbol `Nope::open`"],
    );

    // The code moves to another file, unchanged.
    ws.write("src/db/store.rs", &format!("// moved\n{store_rs}"));
    std::fs::remove_file(ws.path().join("src/store.rs")).unwrap();
    ok_json(&call(&client, "reindex", json!({})).await);
    let got = call(&client, "context_get", json!({"name": "s"})).await;
    let v = ok_json(&got);
    assert_eq!(v["items"][0]["status"], "moved", "{}", text(&got));
    assert_eq!(v["items"][0]["path"], "src/db/store.rs");
    assert_eq!(v["items"][0]["start_line"], 5);
    assert_eq!(v["items"][0]["saved_path"], "src/store.rs");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn symbols_are_named_as_python_and_javascript_write_them() {
    let ws = Workspace::new();
    ws.write(
        "tornado/httpclient.py",
        "class HTTPClient:\n    def fetch(self, url):\n        pass\n\n\nclass AsyncHTTPClient:\n    def fetch(self, url):\n        pass\n",
    );
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    ok_json(&call(&client, "reindex", json!({})).await);
    // Dotted, with the module path and the class part for part (`AsyncHTTPClient` is not
    // `HTTPClient`, whose name it ends with), with a path and without one.
    let saved = ok_json(
        &call(
            &client,
            "context_save",
            json!({"name": "fetch", "items": [
                {"path": "tornado/httpclient.py", "symbol": "tornado.httpclient.AsyncHTTPClient.fetch"},
                {"symbol": "httpclient.HTTPClient.fetch"},
                {"path": "tornado/httpclient.py", "symbol": "def fetch"}
            ]}),
        )
        .await,
    );
    let anchors: Vec<(&Value, &Value)> = saved["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (&a["symbol"]["path"], &a["start_line"]))
        .collect();
    assert_eq!(
        anchors,
        [
            (&json!("AsyncHTTPClient::fetch"), &json!(7)),
            (&json!("HTTPClient::fetch"), &json!(2)),
            (&json!("HTTPClient::fetch"), &json!(2)),
        ],
        "{saved}"
    );
    // A name two classes define, without a path or a class, is refused with both places.
    assert_tool_error(
        &call(
            &client,
            "context_save",
            json!({"name": "fetch2", "items": [{"symbol": "fetch"}]}),
        )
        .await,
        &["items[0].symbol", "defined in 2 places"],
    );
    assert_tool_error(
        &call(
            &client,
            "context_save",
            json!({"name": "fetch3", "items": [{"path": "tornado/httpclient.py", "symbol": "Client.fetch"}]}),
        )
        .await,
        &["items[0].symbol", "no symbol `Client.fetch`"],
    );
    client.cancel().await.unwrap();
}
