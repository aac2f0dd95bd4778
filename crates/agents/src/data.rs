//! The data tools' library side: describing a dataset (size, time range, spend by model and
//! provider, latency percentiles) and running a client's read-only SELECT with bounded rows
//! and time on the columnar engine. Ingest lives in `ingest`; the figures' SQL in
//! `analysis::sql`.

use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::analysis::{self, Breakdown, Dimension, Overview, Percentiles};
use super::{AgentError, require_dataset};
use apex_datasets::{Engine, QueryError, QueryLimits, QueryResult};
use apex_store::Store;
use apex_store::datasets::DatasetInfo;

/// Rows returned by `query_data` when the caller names no limit.
pub const DEFAULT_ROWS: usize = 100;
/// The most rows `query_data` returns.
pub const MAX_ROWS: usize = 10_000;
/// Time a query may run when the caller names no limit.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// The longest a query may run.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

/// A dataset's summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetDescription {
    pub name: String,
    pub source: String,
    pub created_at: String,
    pub record_count: u64,
    pub params: serde_json::Value,
    /// What the write that made the dataset counted: rejected lines, quality flags by name
    /// (`quality`), aggregated buckets and the calls they stand for, skipped items.
    pub ingest: serde_json::Value,
    pub overview: Overview,
    pub by_provider: Breakdown,
    pub by_model: Breakdown,
    pub latency: Vec<Percentiles>,
    /// Parts left out as unreadable, by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Describe dataset `name`; an unknown name lists the datasets that exist.
pub fn describe_dataset(
    store: &Store,
    name: &str,
    cancel: &CancellationToken,
) -> Result<DatasetDescription, AgentError> {
    let info: DatasetInfo = require_dataset(store, name)?;
    let stats = analysis::collect(store, name, false, cancel)?;
    let a = analysis::cost_analysis(&stats);
    let take = |d: Dimension| {
        a.breakdown(d).cloned().ok_or_else(|| {
            AgentError::Invalid(format!("internal: breakdown by {} missing", d.name()))
        })
    };
    Ok(DatasetDescription {
        name: info.name,
        source: info.source,
        created_at: info.created_at,
        record_count: info.record_count,
        params: info.params,
        ingest: info.summary,
        by_provider: take(Dimension::Provider)?,
        by_model: take(Dimension::Model)?,
        latency: a
            .percentiles
            .iter()
            .filter(|p| p.metric == "latency_ms" || p.metric == "ttft_ms")
            .cloned()
            .collect(),
        overview: a.overview,
        warnings: a.warnings,
    })
}

/// The view of every dataset's model calls (rollup spans left out), whose sums agree with
/// `describe_dataset` and the reports to the cent.
pub const MODEL_CALLS_VIEW: &str = "model_calls";

/// Run one read-only SELECT over the datasets (tables `workload_records` and `datasets`,
/// the view `model_calls`, and one view per dataset under its name).
/// `limit` defaults to [`DEFAULT_ROWS`] (at most [`MAX_ROWS`]), `timeout_ms` to
/// [`DEFAULT_TIMEOUT_MS`] (at most [`MAX_TIMEOUT_MS`]).
pub fn query_data(
    store: &Store,
    sql: &str,
    limit: Option<usize>,
    timeout_ms: Option<u64>,
) -> Result<QueryResult, AgentError> {
    let max_rows = match limit {
        None => DEFAULT_ROWS,
        Some(n) if (1..=MAX_ROWS).contains(&n) => n,
        Some(n) => {
            return Err(AgentError::Invalid(format!(
                "limit: {n} is not accepted; use 1 to {MAX_ROWS}"
            )));
        }
    };
    let timeout = match timeout_ms {
        None => DEFAULT_TIMEOUT_MS,
        Some(t) if (1..=MAX_TIMEOUT_MS).contains(&t) => t,
        Some(t) => {
            return Err(AgentError::Invalid(format!(
                "timeout_ms: {t} is not accepted; use 1 to {MAX_TIMEOUT_MS}"
            )));
        }
    };
    apex_datasets::engine::guard_select(sql).map_err(|e| AgentError::Invalid(e.to_string()))?;
    super::convert_pending(store, None)?;
    let engine = Engine::open(store, None)?;
    engine.create_view(MODEL_CALLS_VIEW, &analysis::sql::model_calls_view())?;
    engine
        .query(
            sql,
            QueryLimits {
                max_rows,
                timeout: Duration::from_millis(timeout),
            },
        )
        .map_err(|e| match e {
            QueryError::Dataset(d) => AgentError::Dataset(d),
            other => AgentError::Invalid(other.to_string()),
        })
}
