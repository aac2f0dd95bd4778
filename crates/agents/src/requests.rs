//! The arguments of the agent and data requests, written once for both faces: each type
//! derives the MCP tool's input schema (schemars) and the CLI's flags (clap), and its doc
//! comments are both the schema's descriptions and the CLI's help.

use schemars::JsonSchema;
use serde::Deserialize;

use std::collections::BTreeMap;

use crate::ingest::Format;
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
    /// Log file inside the workspace.
    pub path: String,
    /// auto (default: by name and content), jsonl, csv, otlp-json, otlp-proto, parquet, litellm (spend logs), langfuse (observations), openai-usage or anthropic-usage (usage/cost reports).
    #[serde(default)]
    #[arg(long)]
    pub format: Option<String>,
    /// Name of the dataset to create or replace: letters, digits, '.', '_' or '-'.
    #[arg(long)]
    pub dataset: String,
    /// Header map for CSV/JSONL in another vocabulary: {"our_field": "their column"}, e.g. {"timestamp": "ts", "model": "llm"}.
    #[serde(default)]
    #[arg(long, value_name = "JSON", value_parser = parse_columns)]
    pub columns: Option<BTreeMap<String, String>>,
}

/// `--columns '{"timestamp": "ts"}'`: the header map as JSON.
fn parse_columns(text: &str) -> Result<BTreeMap<String, String>, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "`{text}` is not a JSON object of strings ({e}); e.g. --columns '{{\"timestamp\": \"ts\", \"model\": \"llm\"}}'"
        )
    })
}

impl IngestLogsArgs {
    /// The format these arguments name (`auto` when absent), or why it is not one.
    pub fn log_format(&self) -> Result<Format, AgentError> {
        Format::parse(self.format.as_deref().unwrap_or("auto")).map_err(AgentError::Invalid)
    }

    /// The header map (empty when absent), or why it is not one.
    pub fn column_map(&self) -> Result<BTreeMap<String, String>, AgentError> {
        let columns = self.columns.clone().unwrap_or_default();
        crate::ingest::check_columns(&columns).map_err(AgentError::Invalid)?;
        Ok(columns)
    }
}
