//! The agents' MCP face: `list_agents`, `run_agent`, `get_agent_run`, the prompts
//! `optimization_request`, `model_selection`, `prompt_optimization`, and the narrator that
//! lends the client's LLM (sampling) to the reporting and triage agents.
//!
//! Sampling: a 2025-11-25 client that declared it gets `sampling/createMessage` requests
//! during the run; a 2026-07-28 client gets an `InputRequiredResult` first (the prompts of a
//! dry run) and the run happens on the retried call with its answers. Anyone else gets the
//! deterministic narrator. Numbers never come from the LLM (see `agents::narrator`).

#![allow(deprecated)] // sampling is deprecated in 2026-07-28; 2025-11-25 clients use it

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::tool::InputResponses;
use rmcp::handler::server::wrapper::Parameters as PromptParameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, CreateMessageRequest, CreateMessageRequestParams,
    CreateMessageResult, InputRequest, InputRequiredResult, PromptMessage, ReadResourceResult,
    ResourceTemplate, Role, SamplingMessage,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, Peer, RoleServer, prompt, prompt_router, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Parameters, bad_field, fail, ok};
use crate::progress::ProgressTarget;
use crate::resources::{internal, not_found, text};
use crate::server::ApexServer;
use crate::state::AppState;
use crate::uris;
use apex_agents::charts::{ChartError, Charts};
use apex_agents::narrator::{
    CapturingNarrator, ClassifyPrompt, DeterministicNarrator, Narration, Narrator,
    PreparedNarrator, SummaryPrompt,
};
use apex_agents::report::StoredReport;
use apex_agents::requests::RunAgentArgs;
use apex_agents::{self as agents, AgentError, pipeline};
use apex_core::events::NullSink;
use apex_core::run::RunKind;
use apex_store::runs;

/// Arguments of `get_agent_run`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetAgentRunArgs {
    /// The run_id returned by run_agent.
    pub run_id: String,
    /// Return only events with seq greater than this (default 0: all).
    #[serde(default)]
    pub after_seq: u64,
}

/// The client's LLM through `sampling/createMessage` (2025-11-25 sessions).
struct SamplingNarrator {
    peer: Peer<RoleServer>,
    handle: tokio::runtime::Handle,
}

impl SamplingNarrator {
    fn ask(&self, system: &str, user: &str, max_tokens: u32) -> Option<Narration> {
        let params =
            CreateMessageRequestParams::new(vec![SamplingMessage::user_text(user)], max_tokens)
                .with_system_prompt(system);
        let answer = self.handle.block_on(async {
            tokio::time::timeout(Duration::from_secs(120), self.peer.create_message(params)).await
        });
        match answer {
            Ok(Ok(result)) => narration(&result),
            Ok(Err(e)) => {
                tracing::info!(error = %e, "sampling failed; using the deterministic narrator");
                None
            }
            Err(_) => {
                tracing::info!("sampling timed out; using the deterministic narrator");
                None
            }
        }
    }
}

fn narration(result: &CreateMessageResult) -> Option<Narration> {
    let text = result.message.content.first()?.as_text()?.text.clone();
    Some(Narration {
        text,
        model: result.model.clone(),
    })
}

impl Narrator for SamplingNarrator {
    fn name(&self) -> String {
        "client sampling".into()
    }

    fn classify(&self, p: &ClassifyPrompt) -> Option<Narration> {
        self.ask(&p.system, &p.user, p.max_tokens)
    }

    fn executive_summary(&self, p: &SummaryPrompt) -> Option<Narration> {
        self.ask(&p.system, &p.user, p.max_tokens)
    }
}

fn sampling_request(system: &str, user: &str, max_tokens: u32) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(
        CreateMessageRequestParams::new(vec![SamplingMessage::user_text(user)], max_tokens)
            .with_system_prompt(system),
    ))
}

fn agent_error(e: AgentError) -> CallToolResult {
    match &e {
        AgentError::UnknownAgent { .. } => bad_field("agent", e),
        AgentError::UnknownDataset { .. } | AgentError::DatasetRequired { .. } => {
            bad_field("dataset", e)
        }
        _ => fail(e),
    }
}

/// What a finished agent run answers: the markdown report as text, and the run's summary.
fn agent_answer(run_id: &str, outcome: &Result<agents::Report, AgentError>) -> (String, Value) {
    match outcome {
        Ok(report) => {
            let result = pipeline::run_result(report);
            let resources = report_resources(run_id, result.get("report"));
            let text = format!(
                "{}{}",
                result
                    .get("markdown")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                resources_line(&resources)
            );
            (
                text,
                json!({"run_id": run_id, "status": "completed", "report": result.get("report"),
                       "resources": resources, "error": null}),
            )
        }
        Err(e) => {
            let status = if matches!(e, AgentError::Cancelled) {
                "cancelled"
            } else {
                "failed"
            };
            (
                format!("Agent run {run_id} {status}: {e}"),
                json!({"run_id": run_id, "status": status, "report": null, "error": e.to_string()}),
            )
        }
    }
}

/// The resources a finished report is read through: its HTML page and its charts (`null`
/// while there is no report).
fn report_resources(run_id: &str, report: Option<&Value>) -> Value {
    let Some(charts) = report
        .filter(|r| r.is_object())
        .and_then(|r| Charts::from_report_json(r).ok())
    else {
        return Value::Null;
    };
    let charts: Vec<String> = charts
        .available()
        .iter()
        .map(|k| uris::run_chart_uri(run_id, k.name()))
        .collect();
    json!({"html": uris::run_report_html_uri(run_id), "charts": charts})
}

fn resources_line(resources: &Value) -> String {
    let Some(html) = resources.get("html").and_then(Value::as_str) else {
        return String::new();
    };
    let charts: Vec<&str> = resources["charts"]
        .as_array()
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if charts.is_empty() {
        format!("\nReport as HTML: {html}\n")
    } else {
        format!(
            "\nReport as HTML with its charts: {html}; charts: {}\n",
            charts.join(", ")
        )
    }
}

/// Resource templates of agent reports.
pub fn report_templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("apex://runs/{id}/report.html", "run-report-html")
            .with_description("A finished agent run's report as one HTML page, its charts inline")
            .with_mime_type("text/html"),
        ResourceTemplate::new("apex://runs/{id}/charts/{name}.svg", "run-chart")
            .with_description(
                "A chart of a finished agent run's report: daily-spend, spend-by-model or savings-by-recommendation",
            )
            .with_mime_type("image/svg+xml"),
    ]
}

/// Read `apex://runs/{id}/report.html` or `apex://runs/{id}/charts/{name}.svg` (`part` is
/// what follows the id), drawn from the run's stored report.
pub fn read_run_report(
    state: &AppState,
    uri: &str,
    id: &str,
    part: &str,
) -> Result<ReadResourceResult, McpError> {
    let missing =
        |why: String| McpError::resource_not_found(format!("no resource at `{uri}`: {why}"), None);
    let run = runs::get_run(&state.store, id)
        .map_err(internal)?
        .ok_or_else(|| missing(format!("there is no run `{id}`")))?;
    if run.kind != "agent" {
        return Err(missing(format!(
            "run {id} is not an agent run (its kind is {}); reports and charts belong to agent runs",
            run.kind
        )));
    }
    let stored = match &run.result {
        Some(r) => StoredReport::from_run_result(r).map_err(internal)?,
        None => None,
    };
    let Some(stored) = stored else {
        return Err(missing(format!(
            "agent run {id} is {} and has no report{}",
            run.status,
            if run.status == "running" {
                " yet; read it again when the run has finished"
            } else {
                ""
            }
        )));
    };
    if part == "report.html" {
        return Ok(text(uri, stored.html().map_err(internal)?, "text/html"));
    }
    let Some(name) = part.strip_prefix("charts/") else {
        return Err(not_found(uri));
    };
    match stored.charts.svg_named(name) {
        Ok(svg) => Ok(text(uri, svg, "image/svg+xml")),
        Err(e @ ChartError::NotAvailable { .. }) => Err(missing(e.to_string())),
        Err(e) => Err(internal(e)),
    }
}

#[tool_router(router = agents_router, vis = "pub(crate)")]
impl ApexServer {
    /// List the analysis agents and their inputs.
    #[tool(
        description = "List the analysis agents (supervisor, triage, data, optimization, actions, reporting) with their inputs and the stages each runs."
    )]
    async fn list_agents(&self) -> Result<CallToolResult, McpError> {
        let agents = agents::list_agents();
        let text = agents
            .iter()
            .map(|a| format!("- {}: {}", a.name, a.description))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(ok(text, &json!({"agents": agents})))
    }

    /// Run an agent over a workload dataset and return its report.
    #[tool(
        description = "Run an analysis agent (default supervisor) over a workload dataset: spend breakdown, priced savings recommendations, action plan, markdown report. Streams the seven agent events as progress. background=true returns a run_id at once."
    )]
    async fn run_agent(
        &self,
        Parameters(args): Parameters<RunAgentArgs>,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let req = match args.to_request() {
            Ok(r) => r,
            Err(e) => return Ok(agent_error(e).into()),
        };
        if let Err(e) = pipeline::validate(&self.state.store, &req) {
            return Ok(agent_error(e).into());
        }
        let stateless = ctx.protocol_version().is_some_and(|v| !v.has_initialize());
        let can_sample = ctx
            .client_capabilities()
            .is_some_and(|c| c.sampling.is_some());
        let narrator: Arc<dyn Narrator> = match (can_sample, stateless) {
            (false, _) => Arc::new(DeterministicNarrator),
            (true, false) => Arc::new(SamplingNarrator {
                peer: ctx.peer.clone(),
                handle: tokio::runtime::Handle::current(),
            }),
            (true, true) => match responses {
                Some(answers) => {
                    let read = |key: &str| {
                        answers
                            .get(key)
                            .and_then(|v| {
                                serde_json::from_value::<CreateMessageResult>(v.clone()).ok()
                            })
                            .and_then(|r| narration(&r))
                    };
                    Arc::new(PreparedNarrator {
                        classification: read("classify"),
                        summary: read("summary"),
                    })
                }
                None => {
                    // A dry run tells which prompts this run will want answered.
                    let store = self.state.store.clone();
                    let prices = self.state.prices.clone();
                    let dry = req.clone();
                    let captured = tokio::task::spawn_blocking(move || {
                        let capture = CapturingNarrator::default();
                        agents::run_agent(
                            &store,
                            &prices,
                            &dry,
                            &capture,
                            &NullSink,
                            &CancellationToken::new(),
                        )
                        .map(|_| capture)
                    })
                    .await
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                    let capture = match captured {
                        Ok(c) => c,
                        Err(e) => return Ok(agent_error(e).into()),
                    };
                    let mut requests = BTreeMap::new();
                    if let Some(p) = capture.classify.lock().ok().and_then(|c| c.clone()) {
                        requests.insert(
                            "classify".to_string(),
                            sampling_request(&p.system, &p.user, p.max_tokens),
                        );
                    }
                    if let Some(p) = capture.summary.lock().ok().and_then(|c| c.clone()) {
                        requests.insert(
                            "summary".to_string(),
                            sampling_request(&p.system, &p.user, p.max_tokens),
                        );
                    }
                    if !requests.is_empty() {
                        return Ok(InputRequiredResult::from_input_requests(requests).into());
                    }
                    Arc::new(DeterministicNarrator)
                }
            },
        };
        let params = req.params();
        let target = if args.background {
            ProgressTarget::silent(&ctx.peer)
        } else {
            self.progress_target(&ctx.peer, &ctx.meta)
        };
        let run = match self.begin_run(RunKind::Agent, params, target) {
            Ok(r) => r,
            Err(refused) => return Ok(refused.into()),
        };
        let store = self.state.store.clone();
        let prices = self.state.prices.clone();
        let work = move |sink: &dyn apex_core::events::EventSink, cancel: &CancellationToken| {
            agents::run_agent(&store, &prices, &req, narrator.as_ref(), sink, cancel)
        };
        if args.background {
            let run_id = run.id().to_string();
            self.spawn_blocking(run, work);
            return Ok(ok(
                format!("Agent run {run_id} started in the background; follow it with get_agent_run or apex://runs/{run_id}/events."),
                &json!({"run_id": run_id, "status": "running", "report": null}),
            )
            .into());
        }
        let (run_id, outcome) = self.run_blocking(run, &ctx.ct, work).await?;
        let (text, structured) = agent_answer(&run_id, &outcome);
        let mut result = ok(text, &structured);
        if outcome.is_err() {
            result.is_error = Some(true);
        }
        Ok(result.into())
    }

    /// Read an agent run: status, events so far, report.
    #[tool(
        description = "Read an agent run by run_id: status, its events so far (after after_seq), and the report once finished. Works after the server restarts."
    )]
    async fn get_agent_run(
        &self,
        Parameters(args): Parameters<GetAgentRunArgs>,
    ) -> Result<CallToolResult, McpError> {
        let store = &self.state.store;
        let run = runs::get_run(store, &args.run_id)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let Some(run) = run.filter(|r| r.kind == "agent") else {
            let recent: Vec<String> = runs::list_runs(store, Some("agent"), 10)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.id)
                .collect();
            return Ok(bad_field(
                "run_id",
                format!(
                    "no agent run `{}`; recent agent runs: {}",
                    args.run_id,
                    if recent.is_empty() {
                        "none".to_string()
                    } else {
                        recent.join(", ")
                    }
                ),
            ));
        };
        let events = runs::events(store, &run.id, args.after_seq)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let report = run.result.as_ref().and_then(|r| r.get("report")).cloned();
        let markdown = run
            .result
            .as_ref()
            .and_then(|r| r.get("markdown"))
            .and_then(Value::as_str)
            .map(String::from);
        let resources = report_resources(&run.id, report.as_ref());
        let text = match &markdown {
            Some(md) => format!("{md}{}", resources_line(&resources)),
            None => format!(
                "Agent run {} is {} ({} events so far).",
                run.id,
                run.status,
                events.len()
            ),
        };
        Ok(ok(
            text,
            &json!({"run_id": run.id, "status": run.status, "created_at": run.created_at,
                    "finished_at": run.finished_at, "params": run.params, "events": events,
                    "report": report, "resources": resources,
                    "error": run.result.as_ref().and_then(|r| r.get("error"))}),
        ))
    }
}

/// Arguments of `optimization_request`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct OptimizationRequestArgs {
    /// The workload dataset to analyse.
    pub dataset: Option<String>,
    /// The goal in the user's words, e.g. "cut spend 30% without hurting quality".
    pub goal: Option<String>,
}

/// Arguments of `model_selection`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ModelSelectionArgs {
    /// The workload dataset to analyse.
    pub dataset: Option<String>,
    /// The use case, e.g. "customer support chat" or "nightly document summaries".
    pub use_case: Option<String>,
}

/// Arguments of `prompt_optimization`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PromptOptimizationArgs {
    /// The workload dataset to analyse.
    pub dataset: Option<String>,
    /// The feature whose prompts to optimize (see describe_dataset); default all.
    pub feature: Option<String>,
}

fn dataset_phrase(d: &Option<String>) -> String {
    match d.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => format!("dataset `{d}`"),
        None => "the dataset to pick with list_datasets (or ingest one with ingest_logs)".into(),
    }
}

#[prompt_router(router = "agents_prompts", vis = "pub(crate)")]
impl ApexServer {
    /// Ask for a cost-optimization report with priced recommendations.
    #[prompt(
        name = "optimization_request",
        description = "Ask for a cost-optimization report on a workload dataset, with priced savings and an action plan."
    )]
    async fn optimization_request(
        &self,
        PromptParameters(args): PromptParameters<OptimizationRequestArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        let goal = args
            .goal
            .unwrap_or_else(|| "reduce our LLM spend without hurting quality".into());
        Ok(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Goal: {goal}.\nRun the supervisor agent (run_agent with agent=supervisor, request=the goal) on {}. \
                 Then present the executive summary, the three largest recommendations with their current cost, projected cost and savings, \
                 and the action plan. Quote figures exactly as the report gives them; every figure has a SQL query in the report JSON \
                 that query_data can run if I ask where a number comes from.",
                dataset_phrase(&args.dataset)
            ),
        )])
    }

    /// Ask which models fit a workload, from its data.
    #[prompt(
        name = "model_selection",
        description = "Ask which models fit a workload: compare spend, latency and failure rates per model and price right-sizing from the catalog."
    )]
    async fn model_selection(
        &self,
        PromptParameters(args): PromptParameters<ModelSelectionArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        let use_case = args
            .use_case
            .unwrap_or_else(|| "our current workload".into());
        Ok(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Which models should we use for {use_case}? Run run_agent (agent=supervisor, request=\"model selection for {use_case}\") on {}. \
                 Compare the models in the report's cost breakdown (spend, share, failures) and latency percentiles per model, \
                 read the right_sizing recommendation if present, and the prices at apex://pricing. \
                 Recommend a model per feature, with the savings the report computed.",
                dataset_phrase(&args.dataset)
            ),
        )])
    }

    /// Ask how to make prompts cheaper: caching, duplicates, output length.
    #[prompt(
        name = "prompt_optimization",
        description = "Ask how to make prompts cheaper: prompt caching of shared prefixes, response caching of repeats, output-token caps."
    )]
    async fn prompt_optimization(
        &self,
        PromptParameters(args): PromptParameters<PromptOptimizationArgs>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        let scope = match args.feature.as_deref().filter(|f| !f.is_empty()) {
            Some(f) => format!("the `{f}` feature"),
            None => "every feature".into(),
        };
        Ok(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "How can we make the prompts of {scope} cheaper? Run run_agent (agent=optimization, request=\"prompt optimization\") on {}. \
                 Focus on the prompt_caching, response_caching and output_caps recommendations (those absent were not found in the data), \
                 and use query_data on workload_records to show the input and output token distribution of {scope}.",
                dataset_phrase(&args.dataset)
            ),
        )])
    }
}
