//! The arguments of the agent and data requests, written once for both faces: each type
//! derives the MCP tool's input schema (schemars) and the CLI's flags (clap), and its doc
//! comments are both the schema's descriptions and the CLI's help.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::ingest::LogFormat;
use crate::pipeline::AgentRequest;
use crate::{AgentError, AgentKind};

/// The arguments of `run_agent` and of `netra-apex agent run`, written once.
#[derive(Debug, Clone, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RunAgentArgs {
    /// supervisor (the whole pipeline), triage, data, optimization, actions or reporting.
    #[serde(default = "default_agent")]
    #[arg(long, default_value = "supervisor")]
    pub agent: String,
    /// What the user wants, in their words, e.g. "cut our LLM spend without hurting quality".
    #[serde(default)]
    #[arg(long, default_value = "")]
    pub request: String,
    /// The workload dataset to analyse (see list_datasets); optional for supervisor and triage.
    #[serde(default)]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Answer at once with a run_id and run in the background (follow with get_agent_run).
    #[serde(default)]
    #[arg(skip)]
    pub background: bool,
}

fn default_agent() -> String {
    "supervisor".into()
}

impl RunAgentArgs {
    /// The request these arguments name, or which argument is wrong.
    pub fn to_request(&self) -> Result<AgentRequest, AgentError> {
        Ok(AgentRequest {
            agent: AgentKind::parse(&self.agent)?,
            request: self.request.clone(),
            dataset: self.dataset.clone().filter(|d| !d.trim().is_empty()),
        })
    }
}

/// The arguments of `ingest_logs` and of `netra-apex ingest`, written once.
#[derive(Debug, Clone, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct IngestLogsArgs {
    /// Log file inside the workspace: JSONL or CSV in the workload schema, or OTLP-JSON spans.
    pub path: String,
    /// auto (default: by extension and content), jsonl, csv or otlp-json.
    #[serde(default)]
    #[arg(long)]
    pub format: Option<String>,
    /// Name of the dataset to create or replace: letters, digits, '.', '_' or '-'.
    #[arg(long)]
    pub dataset: String,
}

impl IngestLogsArgs {
    /// The format these arguments name (`auto` when absent), or why it is not one.
    pub fn log_format(&self) -> Result<LogFormat, AgentError> {
        LogFormat::parse(self.format.as_deref().unwrap_or("auto"))
    }
}
