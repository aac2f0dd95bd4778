//! The data tools' MCP face: `ingest_logs`, `list_datasets`, `describe_dataset`,
//! `query_data`, and the `apex://datasets/{name}` resource. Each handler validates, calls one
//! `agents` library function on a blocking thread and renders its result.

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, CallToolResult, ReadResourceResult, Resource, ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Parameters, bad_field, fail, ok};
use crate::progress::LongCall;
use crate::reply;
use crate::server::ApexServer;
use crate::state::AppState;
use apex_agents::data as agent_data;
use apex_agents::ingest::{self, IngestRequest};
use apex_agents::requests::IngestLogsArgs;
use apex_agents::{AgentError, dataset_names};
use apex_core::run::RunKind;
use apex_store::datasets;

/// Arguments of `describe_dataset`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeDatasetArgs {
    /// The dataset to describe (see list_datasets).
    pub dataset: String,
}

/// Arguments of `query_data`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryDataArgs {
    /// One read-only SELECT (or WITH ... SELECT) over workload_records, model_calls and datasets.
    pub sql: String,
    /// Most rows to return: 1 to 10000, default 100.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Longest the query may run, in ms: 1 to 30000, default 5000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Arguments of `list_datasets` (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDatasetsArgs {}

fn agent_fail(e: AgentError) -> CallToolResult {
    let text = e.to_string();
    match text.split_once(':') {
        Some((field, rest))
            if matches!(
                field,
                "dataset" | "path" | "format" | "columns" | "sql" | "limit" | "timeout_ms"
            ) =>
        {
            bad_field(field, rest.trim())
        }
        _ => fail(text),
    }
}

/// What `ingest_logs` answers when its run ended well.
fn render_ingest(run_id: &str, report: &ingest::IngestReport) -> CallToolResult {
    let p = &report.parsed;
    let mut text = format!(
        "Dataset {}: {} records accepted, {} rejected ({}), {} model calls, spend ${:.2}, {} to {}.",
        report.dataset,
        p.accepted,
        p.rejected,
        p.format.name(),
        report.model_calls,
        p.spend_usd,
        p.first.as_deref().unwrap_or("-"),
        p.last.as_deref().unwrap_or("-")
    );
    if let Some(e) = &report.counting_error {
        text.push_str(&format!("\nNote: {e}."));
    }
    if report.rollup_records > 0 {
        text.push_str(&format!(
            "\n{} spans are rollups: a child span in the same trace carries their usage (${:.2}), counted once, in the children (${:.2} recorded in all).",
            report.rollup_records, report.rollup_spend_usd, report.recorded_spend_usd
        ));
    }
    if p.aggregated > 0 {
        text.push_str(&format!(
            "\n{} records are aggregated usage buckets standing for {} calls (per-call figures such as duplicate prompts and latency cannot be computed from them).",
            p.aggregated, p.calls
        ));
    }
    for r in p.rejections.iter().take(20) {
        text.push_str(&format!(
            "\n  line {}{}: {}",
            r.line,
            r.span.map(|s| format!(" item {s}")).unwrap_or_default(),
            r.reason
        ));
    }
    if p.rejected > 20 {
        text.push_str(&format!(
            "\n  ... {} more in structuredContent.rejections",
            p.rejected - 20
        ));
    }
    if p.flagged > 0 {
        let flags: Vec<String> = p
            .quality
            .iter()
            .map(|(k, v)| format!("{k} {}", v.count))
            .collect();
        text.push_str(&format!(
            "\nKept but flagged (quality_flags column): {} records — {}.",
            p.flagged,
            flags.join(", ")
        ));
    }
    if !p.skipped.is_empty() {
        let skipped: Vec<String> = p.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        text.push_str(&format!(
            "\nSkipped (not model work): {}.",
            skipped.join(", ")
        ));
    }
    if !p.filled.is_empty() {
        let filled: Vec<String> = p.filled.iter().map(|(k, v)| format!("{k} {v}")).collect();
        text.push_str(&format!("\nFilled in: {}.", filled.join(", ")));
    }
    let mut structured = serde_json::to_value(report).unwrap_or_default();
    structured["run_id"] = json!(run_id);
    ok(text, &structured)
}

fn internal(e: impl std::fmt::Display) -> McpError {
    McpError::internal_error(e.to_string(), None)
}

#[tool_router(router = data_router, vis = "pub(crate)")]
impl ApexServer {
    /// Load workload logs into a dataset.
    #[tool(
        description = "Load LLM logs into a dataset: OTLP traces (JSON/protobuf), LiteLLM spend logs, Langfuse observations, OpenAI/Anthropic usage and cost reports, JSONL/CSV (any columns via a header map). Rejected lines come with numbers and reasons; bad values are kept and flagged.",
        meta = crate::tasks::task_support()
    )]
    async fn ingest_logs(
        &self,
        Parameters(args): Parameters<IngestLogsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let format = match args.log_format() {
            Ok(f) => f,
            Err(e) => return Ok(agent_fail(e).into()),
        };
        let columns = match args.column_map() {
            Ok(c) => c,
            Err(e) => return Ok(agent_fail(e).into()),
        };
        let path = match self.state.workspace.resolve(&args.path) {
            Ok(p) => p,
            Err(e) => return Ok(bad_field("path", e).into()),
        };
        if let Err(e) = datasets::validate_name(&args.dataset) {
            return Ok(bad_field("dataset", e).into());
        }
        let call = LongCall::new("ingest_logs", &ctx, false);
        let params = json!({"path": args.path, "format": format.name(), "dataset": args.dataset, "columns": columns});
        let run = match self.begin_call_run(RunKind::Ingest, params, &call) {
            Ok(r) => r,
            Err(refused) => return Ok(refused.into()),
        };
        let store = self.state.store.clone();
        let prices = self.state.prices.clone();
        let name = args.dataset.clone();
        self.answer_blocking(
            run,
            &call,
            move |sink, cancel| {
                let req = IngestRequest {
                    path: &path,
                    format,
                    dataset: &name,
                    columns,
                };
                ingest::ingest(&store, &prices, &req, sink, cancel)
            },
            |run_id, outcome| match outcome {
                Ok(report) => render_ingest(run_id, &report),
                Err(e) => agent_fail(e),
            },
        )
        .await
    }

    /// List the workload datasets.
    #[tool(
        description = "List the workload datasets (synthetic and ingested) with their source, size and creation time."
    )]
    async fn list_datasets(
        &self,
        Parameters(_args): Parameters<ListDatasetsArgs>,
    ) -> Result<CallToolResult, McpError> {
        let all = datasets::list(&self.state.store).map_err(internal)?;
        let text = if all.is_empty() {
            "No datasets yet: create one with ingest_logs or generate_synthetic_data.".to_string()
        } else {
            all.iter()
                .map(|d| {
                    format!(
                        "- {} ({}, {} records, {})",
                        d.name, d.source, d.record_count, d.created_at
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(ok(text, &json!({"datasets": all})))
    }

    /// Summarize one dataset.
    #[tool(
        description = "Summarize a workload dataset: size, time range, spend by provider and model, latency percentiles."
    )]
    async fn describe_dataset(
        &self,
        Parameters(args): Parameters<DescribeDatasetArgs>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        let store = self.state.store.clone();
        let name = args.dataset.clone();
        let outcome =
            tokio::task::spawn_blocking(move || agent_data::describe_dataset(&store, &name, &ct))
                .await
                .map_err(internal)?;
        match outcome {
            Ok(d) => {
                let o = &d.overview;
                let mut text = format!(
                    "Dataset {} ({}): {} records, {} model calls, spend ${:.2}, {} to {}.",
                    d.name,
                    d.source,
                    o.records,
                    o.model_calls,
                    o.spend_usd,
                    o.first.as_deref().unwrap_or("-"),
                    o.last.as_deref().unwrap_or("-")
                );
                if let Some(line) = apex_agents::report::accounting(o) {
                    text.push_str(&format!("\n  {line}"));
                }
                for r in &d.by_model.rows {
                    text.push_str(&format!(
                        "\n  {}/{}: {} calls, ${:.2} ({}%)",
                        r.provider.as_deref().unwrap_or(""),
                        r.key,
                        r.calls,
                        r.spend_usd,
                        r.share_pct
                    ));
                }
                if let Some(l) = d
                    .latency
                    .iter()
                    .find(|p| p.scope == "all" && p.metric == "latency_ms")
                {
                    text.push_str(&format!(
                        "\n  latency ms p50 {} p95 {} p99 {}",
                        l.p50, l.p95, l.p99
                    ));
                }
                if let Some(q) = d.ingest["quality"].as_object().filter(|q| !q.is_empty()) {
                    let flags: Vec<String> = q.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    text.push_str(&format!(
                        "\n  data quality (records kept and flagged): {}",
                        flags.join(", ")
                    ));
                }
                if let Some(n) = d.ingest["aggregated"].as_u64().filter(|n| *n > 0) {
                    text.push_str(&format!(
                        "\n  {n} records are aggregated usage buckets for {} calls: per-call figures (duplicate prompts, latency) cannot come from them",
                        d.ingest["calls"]
                    ));
                }
                Ok(ok(text, &d))
            }
            Err(e) => Ok(agent_fail(e)),
        }
    }

    /// Run one read-only SELECT over the datasets.
    #[tool(
        description = "Run one read-only SELECT over the workload data (table workload_records: every span; view model_calls: the model calls that reports count, rollup spans left out; table datasets), with bounded rows and time. Anything but a single SELECT is refused."
    )]
    async fn query_data(
        &self,
        Parameters(args): Parameters<QueryDataArgs>,
    ) -> Result<CallToolResult, McpError> {
        let store = self.state.store.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            agent_data::query_data(&store, &args.sql, args.limit, args.timeout_ms)
        })
        .await
        .map_err(internal)?;
        match outcome {
            Ok(r) => {
                let mut text = r.columns.join("\t");
                for row in r.rows.iter().take(50) {
                    text.push('\n');
                    text.push_str(
                        &row.iter()
                            .map(|v| match v {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join("\t"),
                    );
                }
                text.push_str(&format!(
                    "\n({} row(s){}{}, {} ms)",
                    r.rows.len(),
                    if r.rows.len() > 50 {
                        ", first 50 shown; all in structuredContent"
                    } else {
                        ""
                    },
                    if r.truncated {
                        ", truncated at the limit"
                    } else {
                        ""
                    },
                    r.elapsed_ms
                ));
                Ok(ok(text, &r))
            }
            Err(e) => Ok(agent_fail(e)),
        }
    }
}

/// The datasets as resources.
pub fn dataset_resources(state: &AppState) -> Vec<Resource> {
    datasets::list(&state.store)
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            Resource::new(format!("apex://datasets/{}", d.name), d.name.clone())
                .with_description(format!("{} dataset, {} records", d.source, d.record_count))
                .with_mime_type("application/json")
        })
        .collect()
}

/// The URI template of a dataset's summary.
pub fn dataset_template() -> ResourceTemplate {
    ResourceTemplate::new("apex://datasets/{name}", "dataset")
        .with_description("A workload dataset's summary: size, time range, spend by model and provider, latency percentiles")
        .with_mime_type("application/json")
}

/// Read `apex://datasets/{name}`.
pub async fn read_dataset(
    state: &AppState,
    uri: &str,
    name: &str,
) -> Result<ReadResourceResult, McpError> {
    let store = state.store.clone();
    let name = name.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        agent_data::describe_dataset(&store, &name, &CancellationToken::new())
    })
    .await
    .map_err(internal)?;
    match outcome {
        Ok(d) => reply::json(uri, &d),
        Err(AgentError::UnknownDataset { .. }) | Err(AgentError::Store(_)) => {
            let names = dataset_names(&state.store).unwrap_or_default();
            Err(McpError::resource_not_found(
                format!(
                    "no dataset at `{uri}`; datasets: {}",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
                None,
            ))
        }
        Err(e) => Err(internal(e)),
    }
}
