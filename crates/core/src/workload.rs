//! The workload record: one model call (or tool/agent span), the shared schema of synthetic
//! and ingested datasets. Field names follow DESIGN.md ("Data") and map onto the
//! OpenTelemetry GenAI conventions (`gen_ai.usage.input_tokens`, `gen_ai.request.model`...).

use serde::{Deserialize, Serialize};

/// One record of a workload dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRecord {
    pub event_id: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// RFC 3339, UTC, milliseconds.
    pub timestamp: String,
    pub tenant: String,
    pub feature: String,
    pub workload_type: String,
    pub operation: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    #[serde(default)]
    pub reasoning_tokens: u64,
    pub latency_ms: f64,
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    pub status: String,
    #[serde(default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub prompt_hash: Option<String>,
    pub cost_usd: f64,
}

/// The column names, in storage and export order.
pub const COLUMNS: &[&str] = &[
    "event_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "timestamp",
    "tenant",
    "feature",
    "workload_type",
    "operation",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "latency_ms",
    "ttft_ms",
    "status",
    "error_type",
    "finish_reason",
    "prompt_hash",
    "cost_usd",
];
