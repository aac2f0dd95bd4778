//! Long runs as MCP tasks (the `io.modelcontextprotocol/tasks` extension), and elicitation,
//! end to end: the real binary and rmcp's client declaring (or not) the extension, in both
//! protocol generations.
//!
//! Runs that must be seen in progress wait on something the test controls: a test suite
//! that waits for a file, or an agent run that waits for the client's LLM.

#![allow(deprecated)] // sampling is deprecated in 2026-07-28; 2025-11-25 clients use it

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ClientCapabilities,
    ClientConfig, CreateMessageRequestParams, CreateMessageResult, CreateTaskResult,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability,
    FormElicitationCapability, GetTaskParams, GetTaskResult, Implementation,
    ReadResourceRequestParams, ResourceContents, SamplingCapability, SamplingMessage, TaskPayload,
    TaskStatus, UpdateTaskParams,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, RoleClient};
use serde_json::{Value, json};

const LLM_TEXT: &str =
    "Spend is concentrated on a few models; caching and right-sizing are the quick wins.";
const LLM_MODEL: &str = "rmcp-test-llm";

/// A client that declares what the test asks for: the Tasks extension, sampling (it answers
/// with [`LLM_TEXT`]), elicitation (it answers with `elicit`).
#[derive(Clone, Default)]
struct Asker {
    tasks: bool,
    sampling: bool,
    elicit: Option<(ElicitationAction, Value)>,
    /// The elicitation messages it was shown.
    asked: Arc<Mutex<Vec<String>>>,
}

impl Asker {
    fn tasks() -> Self {
        Self {
            tasks: true,
            ..Self::default()
        }
    }

    fn tasks_and_sampling() -> Self {
        Self {
            tasks: true,
            sampling: true,
            ..Self::default()
        }
    }

    fn answering(action: ElicitationAction, content: Value) -> Self {
        Self {
            elicit: Some((action, content)),
            ..Self::default()
        }
    }
}

impl ClientHandler for Asker {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        if self.tasks {
            caps = ClientCapabilities::builder().enable_tasks().build();
        }
        if self.sampling {
            caps.sampling = Some(SamplingCapability::default());
        }
        if self.elicit.is_some() {
            caps.elicitation =
                Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()));
        }
        ClientConfig::new(caps, Implementation::new("tasks-test", "1.0.0"))
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _cx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(llm_answer())
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _cx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked.lock().unwrap().push(message.clone());
        }
        let (action, content) = self
            .elicit
            .clone()
            .unwrap_or((ElicitationAction::Decline, Value::Null));
        let mut r = ElicitResult::new(action.clone());
        if action == ElicitationAction::Accept {
            r = r.with_content(content);
        }
        Ok(r)
    }
}

fn llm_answer() -> CreateMessageResult {
    CreateMessageResult::new(
        SamplingMessage::assistant_text(LLM_TEXT),
        LLM_MODEL.to_string(),
    )
}

type AskerClient = RunningService<RoleClient, Asker>;

fn lifecycle(generation: Generation) -> ClientLifecycleMode {
    match generation {
        Generation::Handshake => ClientLifecycleMode::Initialize,
        Generation::Stateless => ClientLifecycleMode::Discover {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
        },
    }
}

async fn connect(handler: Asker, root: &std::path::Path, generation: Generation) -> AskerClient {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg("serve").arg("--root").arg(root);
    cmd.env("RUST_LOG", "warn");
    let transport = TokioChildProcess::new(cmd).expect("spawn netra-apex");
    handler
        .serve_with_lifecycle(transport, lifecycle(generation))
        .await
        .expect("connect over stdio")
}

async fn connect_http(handler: Asker, url: &str, generation: Generation) -> AskerClient {
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string()),
    );
    handler
        .serve_with_lifecycle(transport, lifecycle(generation))
        .await
        .expect("connect over HTTP")
}

/// A workspace with a few source files, the agents' workload log, and test suites: `pass`
/// passes at once; `gated` reports two passed tests, then waits until the file `release`
/// exists.
fn workspace(extra_config: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 { a + b }\n",
    );
    ws.write("src/util.py", "def double(x):\n    return 2 * x\n");
    let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents/workload.jsonl");
    ws.write(
        "logs/workload.jsonl",
        &std::fs::read_to_string(log).unwrap(),
    );
    ws.write(
        "apex.toml",
        &format!(
            "[tests.suites.pass]\ncommand = [\"sh\", \"-c\", \"exit 0\"]\nformat = \"plain\"\n\n\
             [tests.suites.gated]\ncommand = [\"sh\", \"-c\", \"{GATED}\"]\nformat = \"libtest\"\n\n{extra_config}"
        ),
    );
    ws
}

/// The `gated` suite's script: libtest-shaped lines, so that its run has events to report
/// while it waits.
const GATED: &str = "echo 'test first ... ok'; echo 'test second ... ok'; \
    while [ ! -f release ]; do sleep 0.05; done; echo 'test third ... ok'; \
    echo 'test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s'";

/// One call of every long tool, in an order where each finds what it needs.
fn long_calls() -> Vec<(&'static str, Value)> {
    vec![
        ("reindex", json!({"full": true})),
        (
            "generate_synthetic_data",
            json!({"profile": "ecommerce", "count": 3000, "seed": 7, "format": "jsonl", "output": "out/gen.jsonl"}),
        ),
        (
            "ingest_logs",
            json!({"path": "logs/workload.jsonl", "dataset": "fixture"}),
        ),
        ("run_tests", json!({"suite": "pass"})),
        (
            "run_agent",
            json!({"agent": "supervisor", "request": "cut our LLM spend", "dataset": "fixture"}),
        ),
    ]
}

fn params(tool: &str, args: &Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default())
}

/// A tools/call that must answer with a task.
async fn start_task(client: &AskerClient, tool: &str, args: Value) -> CreateTaskResult {
    match client.call_tool_once(params(tool, &args)).await {
        Ok(CallToolResponse::Task(t)) => t,
        other => panic!("{tool} should answer with a task, got {other:?}"),
    }
}

async fn get(client: &AskerClient, task_id: &str) -> GetTaskResult {
    client
        .get_task(GetTaskParams::new(task_id))
        .await
        .unwrap_or_else(|e| panic!("tasks/get {task_id}: {e}"))
}

/// Poll `tasks/get` until `done` holds, failing with every state seen.
async fn poll_until(
    client: &AskerClient,
    task_id: &str,
    done: impl Fn(&GetTaskResult) -> bool,
) -> Vec<GetTaskResult> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let t = get(client, task_id).await;
        let stop = done(&t);
        seen.push(t);
        if stop {
            return seen;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut states: Vec<String> = seen
                .iter()
                .map(|t| format!("{:?} {:?}", t.task.status(), t.task.task.status_message))
                .collect();
            states.dedup();
            panic!("task {task_id} never reached the awaited state; seen: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_terminal(client: &AskerClient, task_id: &str) -> Vec<GetTaskResult> {
    poll_until(client, task_id, |t| t.task.status().is_terminal()).await
}

/// The call result a completed task carries.
fn completed_result(t: &GetTaskResult) -> CallToolResult {
    match &t.task.payload {
        TaskPayload::Completed { result } => {
            serde_json::from_value(Value::Object(result.clone())).expect("a CallToolResult")
        }
        other => panic!("expected a completed task, got {other:?}"),
    }
}

fn message(t: &GetTaskResult) -> String {
    t.task.task.status_message.clone().unwrap_or_default()
}

/// A result's structured content without what differs between two runs of the same call:
/// run ids, timings, timestamps and the workspace's own path.
fn normalized(result: &CallToolResult, root: &std::path::Path) -> Value {
    const VOLATILE: &[&str] = &[
        "run_id",
        "elapsed_ms",
        "duration_ms",
        "records_per_sec",
        "mb_per_s",
        "text_mb_per_s",
        "text_ms",
        "symbols_ms",
        "total_duration_ms",
        "execution_time_ms",
        "started_at",
        "finished_at",
        "created_at",
        "generated_at",
        "last_update",
        "ts",
        "markdown",
        "report_markdown",
    ];
    fn walk(v: &Value, root: &str) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), walk(v, root)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| walk(v, root)).collect()),
            Value::String(s) => Value::String(run_uri_normalized(&s.replace(root, "<root>"))),
            other => other.clone(),
        }
    }
    let root = root.canonicalize().unwrap().display().to_string();
    walk(
        result.structured_content.as_ref().unwrap_or(&Value::Null),
        &root,
    )
}

/// `apex://runs/{id}/...` with the run id (which differs between the two calls) left out.
fn run_uri_normalized(s: &str) -> String {
    match s.strip_prefix("apex://runs/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("apex://runs/<run>/{tail}"),
            None => "apex://runs/<run>".to_string(),
        },
        None => s.to_string(),
    }
}

async fn read_json(client: &AskerClient, uri: &str) -> Value {
    let res = client
        .read_resource(ReadResourceRequestParams::new(uri.to_string()))
        .await
        .unwrap_or_else(|e| panic!("read {uri}: {e}"));
    match &res.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => serde_json::from_str(text).unwrap(),
        other => panic!("{other:?}"),
    }
}

async fn tool(client: &AskerClient, name: &str, args: Value) -> CallToolResult {
    match client.call_tool_once(params(name, &args)).await {
        Ok(CallToolResponse::Complete(r)) => r,
        other => panic!("{name} should answer at once, got {other:?}"),
    }
}

#[tokio::test]
async fn each_long_tool_answers_a_task_that_completes_with_the_plain_calls_result() {
    for generation in BOTH {
        let (task_ws, plain_ws) = (workspace(""), workspace(""));
        let tasks = connect(Asker::tasks(), task_ws.path(), generation).await;
        let plain = stdio_client(plain_ws.path(), generation).await;
        let listed = tasks.list_all_tools().await.unwrap();
        for (name, args) in long_calls() {
            let expected = call(&plain, name, args.clone()).await;
            assert_ne!(expected.is_error, Some(true), "{name}: {}", text(&expected));

            let created = start_task(&tasks, name, args.clone()).await;
            assert_eq!(created.task.status, TaskStatus::Working, "{name}");
            assert_eq!(created.task.ttl_ms, Some(3_600_000), "{name}");
            assert_eq!(created.task.poll_interval_ms, Some(500), "{name}");
            let task_id = created.task.task_id.clone();
            let seen = until_terminal(&tasks, &task_id).await;
            let last = seen.last().unwrap();
            assert_eq!(
                last.task.status(),
                TaskStatus::Completed,
                "{name} {generation:?}"
            );
            let result = completed_result(last);
            assert_eq!(result.is_error, expected.is_error, "{name}");
            assert_eq!(
                normalized(&result, task_ws.path()),
                normalized(&expected, plain_ws.path()),
                "{name} {generation:?}: the task's result is the plain call's"
            );
            // The task id names the run: the resource answers for it with the run.
            let run = read_json(&tasks, &format!("apex://runs/{task_id}")).await;
            assert!(
                ["completed", "passed"].contains(&run["status"].as_str().unwrap()),
                "{name}: {run}"
            );
            assert!(
                message(last).contains(run["id"].as_str().unwrap()),
                "{name}: the status message names the run: {}",
                message(last)
            );
            // The tool definition says it may answer with a task.
            let def = listed.iter().find(|t| t.name == name).unwrap();
            assert_eq!(
                def.meta
                    .as_ref()
                    .and_then(|m| m.0.get("ai.netra/taskSupport")),
                Some(&json!("optional")),
                "{name}"
            );
        }
        // get_agent_run takes the task id of an agent run.
        let created = start_task(&tasks, "run_agent", json!({"dataset": "fixture"})).await;
        until_terminal(&tasks, &created.task.task_id).await;
        let got = tool(
            &tasks,
            "get_agent_run",
            json!({"run_id": created.task.task_id}),
        )
        .await;
        let got = ok_json(&got);
        assert_eq!(got["status"], "completed");
        assert!(
            got["run_id"].as_str().unwrap().starts_with("agent-"),
            "{got}"
        );
        tasks.cancel().await.unwrap();
        plain.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_task_reports_its_runs_latest_event_while_working() {
    for generation in BOTH {
        let ws = workspace("");
        let client = connect(Asker::tasks(), ws.path(), generation).await;
        let created = start_task(&client, "run_tests", json!({"suite": "gated"})).await;
        let task_id = created.task.task_id.clone();
        let seen = poll_until(&client, &task_id, |t| {
            t.task.status() == TaskStatus::Working && message(t).contains("test_finished")
        })
        .await;
        let working = seen.last().unwrap();
        let run_id = read_json(&client, &format!("apex://runs/{task_id}")).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message(working).starts_with(&format!("run {run_id}: test_finished")),
            "{}",
            message(working)
        );
        ws.write("release", "");
        let done = until_terminal(&client, &task_id).await;
        let result = completed_result(done.last().unwrap());
        let v = ok_json(&result);
        assert_eq!(v["status"], "passed", "{v}");
        // get_test_run takes the task id too.
        let got = ok_json(&tool(&client, "get_test_run", json!({"run_id": task_id})).await);
        assert_eq!(got["status"], "passed");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn tasks_cancel_and_cancel_run_are_one_operation() {
    for generation in BOTH {
        let ws = workspace("");
        let client = connect(Asker::tasks_and_sampling(), ws.path(), generation).await;
        let working = |t: &GetTaskResult| {
            t.task.status() == TaskStatus::Working && message(t).contains("test_finished")
        };

        // tasks/cancel stops the run: the task is cancelled and so is the run.
        let a = start_task(&client, "run_tests", json!({"suite": "gated"})).await;
        poll_until(&client, &a.task.task_id, working).await;
        client
            .cancel_task(CancelTaskParams::new(a.task.task_id.clone()))
            .await
            .unwrap();
        let seen = until_terminal(&client, &a.task.task_id).await;
        assert_eq!(seen.last().unwrap().task.status(), TaskStatus::Cancelled);
        let run = read_json(&client, &format!("apex://runs/{}", a.task.task_id)).await;
        assert_eq!(run["status"], "cancelled", "{run}");
        let again = ok_json(&tool(&client, "cancel_run", json!({"run_id": a.task.task_id})).await);
        assert_eq!(again["status"], "cancelled", "{again}");

        // cancel_run by run id stops the task's run: tasks/get says cancelled.
        let b = start_task(&client, "run_tests", json!({"suite": "gated"})).await;
        poll_until(&client, &b.task.task_id, working).await;
        let run_id = read_json(&client, &format!("apex://runs/{}", b.task.task_id)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let c = ok_json(&tool(&client, "cancel_run", json!({"run_id": run_id})).await);
        assert_eq!(c["status"], "cancelling", "{c}");
        let seen = until_terminal(&client, &b.task.task_id).await;
        assert_eq!(seen.last().unwrap().task.status(), TaskStatus::Cancelled);

        // An agent run waiting on the client's LLM: tasks/cancel ends it, get_agent_run
        // agrees.
        ingest_as_task(&client, "fixture").await;
        let c = start_task(
            &client,
            "run_agent",
            json!({"request": "cut our LLM spend", "dataset": "fixture"}),
        )
        .await;
        poll_until(&client, &c.task.task_id, |t| {
            t.task.status() == TaskStatus::InputRequired
        })
        .await;
        client
            .cancel_task(CancelTaskParams::new(c.task.task_id.clone()))
            .await
            .unwrap();
        let seen = until_terminal(&client, &c.task.task_id).await;
        assert_eq!(seen.last().unwrap().task.status(), TaskStatus::Cancelled);
        let got = ok_json(&tool(&client, "get_agent_run", json!({"run_id": c.task.task_id})).await);
        assert_eq!(got["status"], "cancelled", "{got}");
        client.cancel().await.unwrap();
    }
}

/// Ingest the fixture workload as dataset `name` through a task, to its end.
async fn ingest_as_task(client: &AskerClient, name: &str) {
    let t = start_task(
        client,
        "ingest_logs",
        json!({"path": "logs/workload.jsonl", "dataset": name}),
    )
    .await;
    let seen = until_terminal(client, &t.task.task_id).await;
    let v = ok_json(&completed_result(seen.last().unwrap()));
    assert_eq!(v["accepted"], 155, "{v}");
}

#[tokio::test]
async fn the_reporting_agent_asks_the_clients_llm_inside_the_task() {
    for generation in BOTH {
        let ws = workspace("");
        let client = connect(Asker::tasks_and_sampling(), ws.path(), generation).await;
        ingest_as_task(&client, "fixture").await;
        let t = start_task(
            &client,
            "run_agent",
            json!({"request": "cut our LLM spend", "dataset": "fixture"}),
        )
        .await;
        let task_id = t.task.task_id.clone();
        let seen = poll_until(&client, &task_id, |t| {
            t.task.status() == TaskStatus::InputRequired
        })
        .await;
        let waiting = seen.last().unwrap();
        let TaskPayload::InputRequired { input_requests } = &waiting.task.payload else {
            panic!("{:?}", waiting.task.payload);
        };
        let summary = input_requests
            .get("summary")
            .expect("the summary is asked for");
        let asked = serde_json::to_value(summary).unwrap();
        assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
        assert!(
            asked["params"]["messages"][0]["content"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("Facts"),
            "{asked}"
        );
        assert!(
            message(waiting).contains("tasks/update"),
            "{}",
            message(waiting)
        );
        // The client's LLM answers through tasks/update.
        let answer = serde_json::to_value(llm_answer()).unwrap();
        client
            .update_task(UpdateTaskParams::new(
                task_id.clone(),
                [("summary".to_string(), answer)].into_iter().collect(),
            ))
            .await
            .unwrap();
        let done = until_terminal(&client, &task_id).await;
        let out = ok_json(&completed_result(done.last().unwrap()));
        assert_eq!(out["report"]["narrator"], LLM_MODEL, "{generation:?}");
        assert_eq!(out["report"]["executive_summary"], LLM_TEXT);
        // The figures are the deterministic ones.
        assert_eq!(
            out["report"]["cost_analysis"]["overview"]["spend_usd"],
            3.63
        );
        let got = ok_json(&tool(&client, "get_agent_run", json!({"run_id": task_id})).await);
        assert_eq!(got["report"]["narrator"], LLM_MODEL);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_finished_task_answers_after_a_restart() {
    let ws = workspace("");
    let client = connect(Asker::tasks(), ws.path(), Generation::Handshake).await;
    ingest_as_task(&client, "fixture").await;
    let t = start_task(&client, "run_agent", json!({"dataset": "fixture"})).await;
    let before = until_terminal(&client, &t.task.task_id).await;
    let before = completed_result(before.last().unwrap());
    client.cancel().await.unwrap();

    for generation in BOTH {
        let client = connect(Asker::tasks(), ws.path(), generation).await;
        let after = get(&client, &t.task.task_id).await;
        assert_eq!(after.task.status(), TaskStatus::Completed, "{generation:?}");
        assert_eq!(
            completed_result(&after).structured_content,
            before.structured_content
        );
        assert_eq!(after.task.task.ttl_ms, Some(3_600_000));
        let got = ok_json(&tool(&client, "get_agent_run", json!({"run_id": t.task.task_id})).await);
        assert_eq!(got["status"], "completed");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_task_past_its_time_to_live_says_where_its_run_is() {
    // ttl_s = 0: a task expires as soon as it finishes.
    let ws = workspace(
        "[tasks]
ttl_s = 0
",
    );
    let client = connect(Asker::tasks(), ws.path(), Generation::Stateless).await;
    let t = start_task(
        &client,
        "ingest_logs",
        json!({"path": "logs/workload.jsonl", "dataset": "fixture"}),
    )
    .await;
    assert_eq!(t.task.ttl_ms, Some(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let error = loop {
        match client
            .get_task(GetTaskParams::new(t.task.task_id.clone()))
            .await
        {
            Err(e) => break e.to_string(),
            Ok(r) => {
                assert!(
                    !r.task.status().is_terminal(),
                    "an expired task answered {r:?}"
                );
                assert!(tokio::time::Instant::now() < deadline, "never expired");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let run = read_json(&client, &format!("apex://runs/{}", t.task.task_id)).await;
    let run_id = run["id"].as_str().unwrap();
    assert_eq!(run["status"], "completed");
    for needle in ["expired", run_id, &format!("apex://runs/{run_id}")] {
        assert!(error.contains(needle), "{error:?} should name {needle:?}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_task_whose_server_died_mid_run_says_so_after_the_restart() {
    let ws = workspace("");
    let server = http_server(ws.path(), &[]).await;
    let client = connect_http(Asker::tasks(), &server.url, Generation::Stateless).await;
    let t = start_task(&client, "run_tests", json!({"suite": "gated"})).await;
    poll_until(&client, &t.task.task_id, |t| {
        message(t).contains("test_finished")
    })
    .await;
    // SIGKILL: the server gets no chance to record anything.
    drop(server);
    let _ = client.cancel().await;
    ws.write("release", "");

    let client = connect(Asker::tasks(), ws.path(), Generation::Handshake).await;
    let after = get(&client, &t.task.task_id).await;
    assert_eq!(after.task.status(), TaskStatus::Failed, "{after:?}");
    let TaskPayload::Failed { error } = &after.task.payload else {
        unreachable!()
    };
    let text = error["message"].as_str().unwrap_or_default();
    assert!(
        text.contains("server stopped")
            && text.contains("interrupted")
            && text.contains("apex://runs/"),
        "{text}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn clients_without_the_extension_get_ordinary_results() {
    for generation in BOTH {
        let ws = workspace("");
        let handler = TestClient::default();
        let received = handler.received.clone();
        let client = stdio_client_with(handler, ws.path(), generation, &[]).await;
        // An ordinary result, with progress notifications when asked for.
        let mut p = CallToolRequestParams::new("ingest_logs").with_arguments(
            json!({"path": "logs/workload.jsonl", "dataset": "fixture"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        p.meta = Some(rmcp::model::RequestMetaObject::with_progress_token(
            rmcp::model::ProgressToken(rmcp::model::NumberOrString::Number(1)),
        ));
        let r = client.call_tool(p).await.expect("an ordinary result");
        assert_eq!(ok_json(&r)["accepted"], 155);
        assert!(!received.lock().unwrap().progress.is_empty());
        // background: true answers with a run id to follow.
        let bg = ok_json(
            &call(
                &client,
                "run_agent",
                json!({"dataset": "fixture", "background": true}),
            )
            .await,
        );
        assert_eq!(bg["status"], "running");
        // tasks/* are refused to a client that did not declare the extension.
        let err = client
            .get_task(GetTaskParams::new("anything"))
            .await
            .expect_err("tasks/get without the extension");
        assert!(
            err.to_string().contains("-32021")
                || err.to_string().to_lowercase().contains("capabilit"),
            "{err}"
        );
        client.cancel().await.unwrap();
    }
}

/// Two datasets, so that run_agent without one has a choice to ask about.
async fn two_datasets(ws: &Workspace) {
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    for name in ["alpha", "beta"] {
        ok_json(
            &call(
                &client,
                "ingest_logs",
                json!({"path": "logs/workload.jsonl", "dataset": name}),
            )
            .await,
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn run_agent_without_a_dataset_asks_which_one() {
    let ws = workspace("");
    two_datasets(&ws).await;
    for generation in BOTH {
        // Accept: the run analyses the chosen dataset.
        let asker = Asker::answering(ElicitationAction::Accept, json!({"dataset": "beta"}));
        let asked = asker.asked.clone();
        let client = connect(asker, ws.path(), generation).await;
        let r = client
            .call_tool(params("run_agent", &json!({"agent": "data"})))
            .await
            .expect("run_agent");
        let out = ok_json(&r);
        let run =
            ok_json(&call_plain(&client, "get_agent_run", json!({"run_id": out["run_id"]})).await);
        assert_eq!(run["params"]["dataset"], "beta", "{generation:?}: {run}");
        let asked = asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(asked[0].contains("alpha, beta"), "{asked:?}");
        client.cancel().await.unwrap();

        // Decline: as without elicitation, an error listing the choices.
        let client = connect(
            Asker::answering(ElicitationAction::Decline, Value::Null),
            ws.path(),
            generation,
        )
        .await;
        let r = client
            .call_tool(params("run_agent", &json!({"agent": "data"})))
            .await
            .expect("run_agent");
        assert_tool_error(&r, &["dataset", "alpha", "beta"]);
        client.cancel().await.unwrap();

        // Cancel: nothing runs.
        let client = connect(
            Asker::answering(ElicitationAction::Cancel, Value::Null),
            ws.path(),
            generation,
        )
        .await;
        let r = client
            .call_tool(params("run_agent", &json!({"agent": "data"})))
            .await
            .expect("run_agent");
        assert_tool_error(&r, &["cancelled", "no run was started"]);
        client.cancel().await.unwrap();

        // No elicitation: the error listing the choices, as always.
        let client = stdio_client(ws.path(), generation).await;
        let r = call(&client, "run_agent", json!({"agent": "data"})).await;
        assert_tool_error(&r, &["dataset", "alpha", "beta"]);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_task_client_is_asked_before_its_task_starts() {
    let ws = workspace("");
    two_datasets(&ws).await;
    for generation in BOTH {
        let mut asker = Asker::answering(ElicitationAction::Accept, json!({"dataset": "alpha"}));
        asker.tasks = true;
        let client = connect(asker, ws.path(), generation).await;
        // The 2026-07-28 question comes back as input_required before any task exists.
        let mut p = params("run_agent", &json!({"agent": "data"}));
        let created = loop {
            match client.call_tool_once(p.clone()).await.expect("run_agent") {
                CallToolResponse::Task(t) => break t,
                CallToolResponse::InputRequired(q) => {
                    assert_eq!(generation, Generation::Stateless);
                    let requests = q.input_requests.expect("a question");
                    assert!(requests.contains_key("dataset"), "{requests:?}");
                    let answer = ElicitResult::new(ElicitationAction::Accept)
                        .with_content(json!({"dataset": "alpha"}));
                    p.input_responses = Some(
                        [("dataset".to_string(), serde_json::to_value(answer).unwrap())]
                            .into_iter()
                            .collect(),
                    );
                    p.request_state = q.request_state;
                }
                other => panic!("{other:?}"),
            }
        };
        let done = until_terminal(&client, &created.task.task_id).await;
        let out = ok_json(&completed_result(done.last().unwrap()));
        let run = ok_json(&tool(&client, "get_agent_run", json!({"run_id": out["run_id"]})).await);
        assert_eq!(run["params"]["dataset"], "alpha", "{run}");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_large_reindex_asks_first() {
    // confirm_reindex_over = 0: every whole-workspace reindex asks.
    let ws = workspace(
        "[search]
confirm_reindex_over = 0
",
    );
    for generation in BOTH {
        let client = connect(
            Asker::answering(ElicitationAction::Accept, json!({"start": true})),
            ws.path(),
            generation,
        )
        .await;
        let r = client
            .call_tool(params("reindex", &json!({"full": true})))
            .await
            .expect("reindex");
        let v = ok_json(&r);
        assert!(v["run_id"].as_str().unwrap().starts_with("index-"), "{v}");
        assert!(v["scanned"].as_u64().unwrap() >= 2, "{v}");
        client.cancel().await.unwrap();

        let client = connect(
            Asker::answering(ElicitationAction::Decline, Value::Null),
            ws.path(),
            generation,
        )
        .await;
        let r = client
            .call_tool(params("reindex", &json!({"full": true})))
            .await
            .expect("reindex");
        let v = ok_json(&r);
        assert_eq!(v["status"], "not_started", "{v}");
        assert!(text(&r).contains("declined"), "{}", text(&r));
        client.cancel().await.unwrap();

        // Without elicitation the reindex just starts.
        let client = stdio_client(ws.path(), generation).await;
        let v = ok_json(&call(&client, "reindex", json!({"full": true})).await);
        assert!(v["run_id"].as_str().unwrap().starts_with("index-"), "{v}");
        client.cancel().await.unwrap();
    }
}

/// A call that must answer at once, through the MRTR-driving helper.
async fn call_plain(client: &AskerClient, name: &str, args: Value) -> CallToolResult {
    client
        .call_tool(params(name, &args))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}
