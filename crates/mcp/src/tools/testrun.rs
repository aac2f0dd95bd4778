//! The test tools: `run_tests`, `get_test_run`, `list_test_runs`, and the
//! `apex://test-runs/{id}` resource. Thin: parse, call [`apex_testrun`], render.

use std::sync::Arc;

use rmcp::model::{CallToolResponse, CallToolResult, ReadResourceResult};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Parameters, bad_field, fail, ok};
use crate::progress::{Answer, LongCall};
use crate::reply;
use crate::server::ApexServer;
use crate::state::AppState;
use apex_core::events::EventSink;
use apex_core::run::RunKind;
use apex_testrun::{self as testrun, TestRequest, report};

/// Arguments of `get_test_run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetTestRunArgs {
    /// The run, as returned by run_tests or list_test_runs.
    pub run_id: String,
    /// Rough token budget of the answer (default 4000): failures first, then counts.
    pub max_tokens: Option<usize>,
    /// Add one page of the full console log to the answer.
    pub include_log: Option<bool>,
    /// Which console log page to add (0-based, 400 lines each); implies include_log.
    pub log_page: Option<usize>,
}

/// Arguments of `list_test_runs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTestRunsArgs {
    /// Only runs in this directory, relative to the root (`.` for the root).
    pub path: Option<String>,
    /// How many runs, newest first (default 20, at most 200).
    pub limit: Option<usize>,
}

#[tool_router(router = testrun_router, vis = "pub(crate)")]
impl ApexServer {
    /// Run the workspace's tests and answer with structured results.
    #[tool(
        description = "Run tests (cargo, pytest, go, jest, vitest or an apex.toml suite) and get counts and failures with messages and file:line. Streams per-test progress. background=true returns a run_id at once.",
        meta = crate::tasks::task_support()
    )]
    async fn run_tests(
        &self,
        Parameters(req): Parameters<TestRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if req.max_tokens == Some(0) {
            return Ok(bad_field("max_tokens", "0 leaves no room; give 100 or more").into());
        }
        let (max_tokens, log_page) = (req.max_tokens, req.log_page_wanted());
        let plan = match testrun::prepare(&self.state.workspace, &req) {
            Ok(p) => p,
            Err(e) => return Ok(fail(e).into()),
        };
        let call = LongCall::new("run_tests", &ctx, req.background.unwrap_or(false));
        let background = call.answer == Answer::Background;
        let params = json!({
            "path": plan.rel_path, "framework": plan.label(), "filter": plan.filter,
            "suite": plan.suite, "timeout_s": plan.timeout.as_secs(), "background": background,
        });
        let run = match self.begin_call_run(RunKind::Test, params.clone(), &call) {
            Ok(r) => r,
            Err(refused) => return Ok(refused.into()),
        };
        let run_id = run.id().to_string();
        if let Err(e) = testrun::register(&self.state.workspace, &self.state.store, &run_id, &plan)
        {
            run.run.fail(&e);
            return Ok(fail(e).into());
        }
        let state = self.state.clone();
        let work = move |sink: Arc<dyn EventSink>, cancel: CancellationToken| async move {
            testrun::execute(
                &state.workspace,
                &state.store,
                &run_id,
                &plan,
                sink.as_ref(),
                &cancel,
            )
            .await
        };
        if background {
            let run_id = run.id().to_string();
            self.spawn_async(run, work);
            return Ok(ok(
                format!(
                    "Started test run {run_id} in the background ({} in {}). Follow it with get_test_run or apex://test-runs/{run_id}; cancel_run stops it.",
                    params["framework"].as_str().unwrap_or(""),
                    params["path"].as_str().unwrap_or(".")
                ),
                &json!({"run_id": run_id, "status": "running", "background": true}),
            )
            .into());
        }
        let state = self.state.clone();
        Ok(self
            .answer_async(run, &call, work, move |run_id, done| match done {
                Ok(_) => render_run(&state, run_id, max_tokens, log_page),
                Err(e) => fail(e),
            })
            .await)
    }

    /// A stored test run: status, counts, failures first.
    #[tool(
        description = "A test run by run_id: status (running while in progress), counts, failures with messages and file:line, flaky tests; optionally one page of the console log."
    )]
    async fn get_test_run(
        &self,
        Parameters(args): Parameters<GetTestRunArgs>,
    ) -> Result<CallToolResult, McpError> {
        // A task id names its run.
        let run_id = crate::tasks::run_id_of(&self.state, &args.run_id);
        match testrun::get_test_run(&self.state.store, &run_id) {
            Ok(Some(_)) => Ok(render_run(
                &self.state,
                &run_id,
                args.max_tokens,
                testrun::log_page_wanted(args.include_log, args.log_page),
            )),
            Ok(None) => Ok(bad_field(
                "run_id",
                format!(
                    "no test run `{}`; list_test_runs shows the known ids",
                    args.run_id
                ),
            )),
            Err(e) => Ok(fail(e)),
        }
    }

    /// The newest test runs.
    #[tool(
        description = "The newest test runs, newest first: run_id, status, counts, framework, path, commit and when."
    )]
    async fn list_test_runs(
        &self,
        Parameters(args): Parameters<ListTestRunsArgs>,
    ) -> Result<CallToolResult, McpError> {
        let limit = args.limit.unwrap_or(20);
        if !(1..=200).contains(&limit) {
            return Ok(bad_field(
                "limit",
                format!("{limit} is out of range; give 1 to 200"),
            ));
        }
        let runs = match testrun::list_test_runs(&self.state.store, args.path.as_deref(), limit) {
            Ok(r) => r,
            Err(e) => return Ok(fail(e)),
        };
        let rows: Vec<Value> = runs
            .iter()
            .map(|r| {
                json!({
                    "run_id": r.id, "status": r.status, "path": r.path, "framework": r.framework,
                    "suite": r.suite, "filter": r.filter, "counts": r.counts,
                    "started_at": r.started_at, "duration_ms": r.duration_ms,
                    "commit": r.commit, "dirty": r.dirty,
                })
            })
            .collect();
        let text = if runs.is_empty() {
            "No test runs yet; run_tests starts one.".to_string()
        } else {
            runs.iter()
                .map(|r| {
                    format!(
                        "{} {} {} in {}: {} passed, {} failed, {} skipped, {} errored ({})",
                        r.id,
                        r.status,
                        r.framework,
                        r.path,
                        r.counts.passed,
                        r.counts.failed,
                        r.counts.skipped,
                        r.counts.errored,
                        r.started_at
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(ok(text, &json!({"runs": rows})))
    }
}

/// The budgeted answer for a stored run, with a log page when asked.
fn render_run(
    state: &AppState,
    run_id: &str,
    max_tokens: Option<usize>,
    log_page: Option<usize>,
) -> CallToolResult {
    let outcome = match testrun::get_test_run(&state.store, run_id) {
        Ok(Some(o)) => o,
        Ok(None) => return fail(format!("test run {run_id} was not stored")),
        Err(e) => return fail(e),
    };
    let summary = report::summarize(&outcome, max_tokens.unwrap_or(report::DEFAULT_MAX_TOKENS));
    let mut text = report::render_text(&summary);
    let mut structured = serde_json::to_value(&summary).unwrap_or(Value::Null);
    if let Some(page) = log_page {
        match testrun::read_log(&state.store, run_id, page) {
            Ok(page) => {
                text.push_str(&format!(
                    "\n\nconsole log, page {} of {} ({} lines):\n{}",
                    page.page, page.pages, page.total_lines, page.text
                ));
                structured["log"] = serde_json::to_value(&page).unwrap_or(Value::Null);
            }
            Err(e) => return fail(e),
        }
    }
    ok(text, &structured)
}

/// `apex://test-runs/{id}`: the run with every result.
pub fn read_test_run(
    state: &AppState,
    uri: &str,
    id: &str,
) -> Result<ReadResourceResult, McpError> {
    let id = crate::tasks::run_id_of(state, id);
    match testrun::get_test_run(&state.store, &id) {
        Ok(Some(o)) => reply::json(uri, &o),
        Ok(None) => Err(reply::not_found(uri)),
        Err(e) => Err(reply::internal(e)),
    }
}
