//! Analysis agents over workload datasets: ingesting logs, describing and querying datasets,
//! and the agent pipeline (triage -> data -> optimization -> actions -> reporting) that
//! writes a cost-optimization report with savings priced from the model price catalog.
//!
//! Every number is computed deterministically from the dataset and the catalog; a
//! [`narrator::Narrator`] (the client's LLM through MCP sampling, or the deterministic one)
//! only writes prose. This module knows nothing of MCP: it takes plain arguments, reports
//! through `&dyn EventSink` and stops when its `CancellationToken` is cancelled.

pub mod analysis;
pub mod charts;
pub mod data;
pub mod ingest;
pub mod narrator;
pub mod optimize;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod requests;
pub mod triage;

use serde::Serialize;

use apex_store::StoreError;

pub use pipeline::{AgentRequest, run_agent};
pub use report::Report;

/// The agents a client can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    Supervisor,
    Triage,
    Data,
    Optimization,
    Actions,
    Reporting,
}

impl AgentKind {
    pub const ALL: [AgentKind; 6] = [
        AgentKind::Supervisor,
        AgentKind::Triage,
        AgentKind::Data,
        AgentKind::Optimization,
        AgentKind::Actions,
        AgentKind::Reporting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Supervisor => "supervisor",
            AgentKind::Triage => "triage",
            AgentKind::Data => "data",
            AgentKind::Optimization => "optimization",
            AgentKind::Actions => "actions",
            AgentKind::Reporting => "reporting",
        }
    }

    /// Parse an agent name; the error lists the agents that exist.
    pub fn parse(name: &str) -> Result<Self, AgentError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name.trim())
            .ok_or_else(|| AgentError::UnknownAgent {
                name: name.to_string(),
                available: Self::ALL.iter().map(|a| a.name().to_string()).collect(),
            })
    }

    fn description(self) -> &'static str {
        match self {
            AgentKind::Supervisor => {
                "Runs the whole pipeline the data allows: triage, then data, optimization, actions and reporting with enough data; triage, data, reporting with partial data; triage and reporting (which data to collect) with none."
            }
            AgentKind::Triage => {
                "Classifies the request (cost_optimization, performance, model_selection, workload_analysis, synthetic_data, general) and judges whether the dataset suffices."
            }
            AgentKind::Data => {
                "Spend by provider, model, feature, tenant and day; token and latency percentiles; failures and their cost; daily-spend anomalies; repeated prompts."
            }
            AgentKind::Optimization => {
                "Priced recommendations from the catalog: right-sizing, prompt caching, batch API, response caching, output caps, retry waste. Runs data first."
            }
            AgentKind::Actions => {
                "Orders the recommendations into a plan with effort and cumulative savings. Runs data and optimization first."
            }
            AgentKind::Reporting => {
                "Writes the markdown report and its JSON (summary, breakdown, recommendations, plan, confidence). Runs data, optimization and actions first."
            }
        }
    }

    /// The stages this agent runs, in order (the supervisor's depend on the data).
    pub fn stages(self) -> &'static [Stage] {
        match self {
            AgentKind::Supervisor => &[
                Stage::Triage,
                Stage::Data,
                Stage::Optimization,
                Stage::Actions,
                Stage::Reporting,
            ],
            AgentKind::Triage => &[Stage::Triage],
            AgentKind::Data => &[Stage::Data],
            AgentKind::Optimization => &[Stage::Data, Stage::Optimization],
            AgentKind::Actions => &[Stage::Data, Stage::Optimization, Stage::Actions],
            AgentKind::Reporting => &[
                Stage::Data,
                Stage::Optimization,
                Stage::Actions,
                Stage::Reporting,
            ],
        }
    }
}

/// One step of a pipeline; each is one tool call in the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Triage,
    Data,
    Optimization,
    Actions,
    Reporting,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Triage => "triage",
            Stage::Data => "data",
            Stage::Optimization => "optimization",
            Stage::Actions => "actions",
            Stage::Reporting => "reporting",
        }
    }
}

/// An agent as `list_agents` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgentInfo {
    pub name: String,
    pub description: String,
    /// Parameter name -> what it is and whether it is required.
    pub inputs: Vec<AgentInput>,
    pub stages: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgentInput {
    pub name: String,
    pub required: bool,
    pub description: String,
}

/// Every agent with its inputs.
pub fn list_agents() -> Vec<AgentInfo> {
    AgentKind::ALL
        .iter()
        .map(|a| {
            let needs_dataset = *a != AgentKind::Triage && *a != AgentKind::Supervisor;
            AgentInfo {
                name: a.name().into(),
                description: a.description().into(),
                inputs: vec![
                    AgentInput {
                        name: "request".into(),
                        required: false,
                        description: "what the user wants, in their words".into(),
                    },
                    AgentInput {
                        name: "dataset".into(),
                        required: needs_dataset,
                        description: if needs_dataset {
                            "the workload dataset to analyse".into()
                        } else {
                            "the workload dataset to analyse; without one the report says which data to collect".into()
                        },
                    },
                ],
                stages: a.stages().iter().map(|s| s.name().to_string()).collect(),
            }
        })
        .collect()
}

/// Why an agent run, an ingest or a data query failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent: `{name}` is not an agent; available: {}", available.join(", "))]
    UnknownAgent {
        name: String,
        available: Vec<String>,
    },
    #[error("dataset: `{name}` does not exist; available: {}", if available.is_empty() { "none (create one with ingest_logs or generate_synthetic_data)".to_string() } else { available.join(", ") })]
    UnknownDataset {
        name: String,
        available: Vec<String>,
    },
    #[error("dataset: agent `{agent}` needs a dataset to analyse; pass `dataset` (one of: {})", if available.is_empty() { "none yet — create one with ingest_logs or generate_synthetic_data".to_string() } else { available.join(", ") })]
    DatasetRequired {
        agent: String,
        available: Vec<String>,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("the run was cancelled")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Dataset(#[from] apex_datasets::DatasetError),
    #[error("{0}")]
    Io(String),
}

impl AgentError {
    /// Whether retrying the same call could succeed.
    pub fn recoverable(&self) -> bool {
        matches!(self, AgentError::Cancelled | AgentError::Store(_))
    }
}

/// The query engine over datasets `names` for the analyses' own queries (text columns as
/// views, [`apex_datasets::engine::Text::Views`]), converting any still in the old SQLite
/// layout first (the first open of such a dataset after an upgrade).
pub fn open_engine(
    store: &apex_store::Store,
    names: &[&str],
) -> Result<apex_datasets::Engine, AgentError> {
    convert_pending(store, Some(names))?;
    Ok(apex_datasets::Engine::open_for_analysis(store, names)?)
}

/// Convert datasets of the old SQLite layout (all, or those of `only`), logging progress.
pub fn convert_pending(
    store: &apex_store::Store,
    only: Option<&[&str]>,
) -> Result<Vec<apex_datasets::migrate::Converted>, AgentError> {
    let mut done = Vec::new();
    for name in apex_datasets::migrate::pending(store)? {
        if only.is_some_and(|o| !o.contains(&name.as_str())) {
            continue;
        }
        let mut last = std::time::Instant::now();
        let converted = apex_datasets::migrate::migrate_one(store, &name, &mut |n, at, of| {
            if last.elapsed().as_secs() >= 2 {
                tracing::info!(dataset = n, done = at, total = of, "converting to Parquet");
                last = std::time::Instant::now();
            }
        })?;
        if let Some(c) = converted {
            tracing::info!(
                dataset = c.name,
                records = c.records,
                parts = c.parts,
                elapsed_ms = c.elapsed_ms,
                "converted a dataset from the old SQLite layout to Parquet"
            );
            done.push(c);
        }
    }
    Ok(done)
}

/// Resolve a dataset name to its registered info, or list what exists.
pub fn require_dataset(
    store: &apex_store::Store,
    name: &str,
) -> Result<apex_store::datasets::DatasetInfo, AgentError> {
    apex_store::datasets::validate_name(name)?;
    match apex_store::datasets::get(store, name)? {
        Some(d) => Ok(d),
        None => Err(AgentError::UnknownDataset {
            name: name.to_string(),
            available: dataset_names(store)?,
        }),
    }
}

/// The names of every registered dataset.
pub fn dataset_names(store: &apex_store::Store) -> Result<Vec<String>, AgentError> {
    Ok(apex_store::datasets::list(store)?
        .into_iter()
        .map(|d| d.name)
        .collect())
}

impl apex_core::run::RunOutput for Report {
    fn run_result(&self) -> serde_json::Value {
        pipeline::run_result(self)
    }
}

impl apex_core::run::RunOutput for ingest::IngestReport {
    fn run_result(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl apex_core::run::RunFailure for AgentError {
    fn is_cancelled(&self) -> bool {
        matches!(self, AgentError::Cancelled)
    }
}

#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod tests;
