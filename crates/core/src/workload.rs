//! The workload record: one model call (or tool/agent span), the shared schema of synthetic
//! and ingested datasets. Field names follow DESIGN.md ("Data") and map onto the
//! OpenTelemetry GenAI conventions (`gen_ai.usage.input_tokens`, `gen_ai.request.model`...).
//!
//! Besides the per-call fields, every stored record carries its accounting: how many calls it
//! stands for ([`WorkloadRecord::weight`], [`WorkloadRecord::aggregated`] for the usage
//! buckets of provider reports) and the data-quality flags ingest raised on it
//! ([`WorkloadRecord::quality_flags`], names from [`QualityFlag`]). Synthetic records are
//! always single clean calls.

use std::borrow::Cow;

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
    /// How many model calls this record stands for: 1 for one call or span; for an
    /// aggregated usage bucket, the bucket's request count, or 0 where the export does not
    /// give one (Anthropic's usage report).
    #[serde(default = "one")]
    pub weight: u64,
    /// An aggregated usage bucket of a provider report (OpenAI or Anthropic organization
    /// usage/cost), not one call: it has no per-call latency, trace, prompt hash or status,
    /// so figures that need them (duplicate prompts, latency percentiles, retries) cannot be
    /// computed from it.
    #[serde(default)]
    pub aggregated: bool,
    /// Data-quality flags raised at ingest, comma-separated [`QualityFlag`] names in
    /// declaration order; `None` when the record is clean. A flagged record is kept as read.
    #[serde(default)]
    pub quality_flags: Option<String>,
}

fn one() -> u64 {
    1
}

impl WorkloadRecord {
    /// Whether `flag` was raised on this record.
    pub fn has_flag(&self, flag: QualityFlag) -> bool {
        self.quality_flags
            .as_deref()
            .is_some_and(|f| f.split(',').any(|x| x == flag.name()))
    }
}

/// A workload record on its way into the stored columns
/// ([`crate::columns::RecordColumns`]): its text borrowed from wherever it was read (the
/// line of an ingested file, say) unless it had to be made, and its timestamp as UTC
/// milliseconds. Ingest builds one per input record and appends it to the columns at once,
/// so reading a record allocates nothing for its text.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadRow<'a> {
    pub event_id: Cow<'a, str>,
    pub trace_id: Cow<'a, str>,
    pub span_id: Cow<'a, str>,
    pub parent_span_id: Option<Cow<'a, str>>,
    /// Milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    pub tenant: Cow<'a, str>,
    pub feature: Cow<'a, str>,
    pub workload_type: Cow<'a, str>,
    pub operation: Cow<'a, str>,
    pub provider: Cow<'a, str>,
    pub model: Cow<'a, str>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub status: Cow<'a, str>,
    pub error_type: Option<Cow<'a, str>>,
    pub finish_reason: Option<Cow<'a, str>>,
    pub prompt_hash: Option<Cow<'a, str>>,
    pub cost_usd: f64,
    pub weight: u64,
    pub aggregated: bool,
    pub quality_flags: Option<Cow<'a, str>>,
}

impl WorkloadRecord {
    /// This record as a row, its text borrowed; None when its timestamp is not an RFC 3339
    /// time.
    pub fn row(&self) -> Option<WorkloadRow<'_>> {
        fn b(s: &str) -> Cow<'_, str> {
            Cow::Borrowed(s)
        }
        fn o(s: &Option<String>) -> Option<Cow<'_, str>> {
            s.as_deref().map(Cow::Borrowed)
        }
        Some(WorkloadRow {
            event_id: b(&self.event_id),
            trace_id: b(&self.trace_id),
            span_id: b(&self.span_id),
            parent_span_id: o(&self.parent_span_id),
            timestamp_ms: crate::time::parse_timestamp_ms(&self.timestamp)?,
            tenant: b(&self.tenant),
            feature: b(&self.feature),
            workload_type: b(&self.workload_type),
            operation: b(&self.operation),
            provider: b(&self.provider),
            model: b(&self.model),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            status: b(&self.status),
            error_type: o(&self.error_type),
            finish_reason: o(&self.finish_reason),
            prompt_hash: o(&self.prompt_hash),
            cost_usd: self.cost_usd,
            weight: self.weight,
            aggregated: self.aggregated,
            quality_flags: o(&self.quality_flags),
        })
    }
}

/// What ingest found wrong with a record it kept. The record is stored as read (a token
/// count that is not a non-negative integer is stored as 0) and flagged, never fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityFlag {
    /// A token count was negative, fractional or not a number (stored as 0).
    InvalidTokens,
    /// The given cost and the catalog's price of the tokens differ by more than 10x.
    CostMismatch,
    /// The timestamp is later than the time of ingest.
    FutureTimestamp,
    /// The timestamp is before 2015-01-01, earlier than any hosted LLM API.
    AncientTimestamp,
    /// The model is not in the price catalog.
    UnknownModel,
    /// No cost was given and none could be computed (unknown model): stored as 0.
    Unpriced,
}

impl QualityFlag {
    pub const ALL: [QualityFlag; 6] = [
        QualityFlag::InvalidTokens,
        QualityFlag::CostMismatch,
        QualityFlag::FutureTimestamp,
        QualityFlag::AncientTimestamp,
        QualityFlag::UnknownModel,
        QualityFlag::Unpriced,
    ];

    /// The flag's name as stored in `quality_flags`.
    pub fn name(self) -> &'static str {
        match self {
            QualityFlag::InvalidTokens => "invalid_tokens",
            QualityFlag::CostMismatch => "cost_mismatch",
            QualityFlag::FutureTimestamp => "future_timestamp",
            QualityFlag::AncientTimestamp => "ancient_timestamp",
            QualityFlag::UnknownModel => "unknown_model",
            QualityFlag::Unpriced => "unpriced",
        }
    }

    /// Join flags into the stored form (declaration order, no duplicates), None if empty.
    pub fn join(flags: &[QualityFlag]) -> Option<String> {
        let names: Vec<&str> = QualityFlag::ALL
            .iter()
            .filter(|f| flags.contains(f))
            .map(|f| f.name())
            .collect();
        (!names.is_empty()).then(|| names.join(","))
    }
}

/// Operations that are not model calls: tool and agent spans, whose model, tokens and cost
/// (if any) may be absent or be the sum of their children's.
pub const NON_MODEL_OPERATIONS: &[&str] = &["execute_tool", "invoke_agent", "create_agent"];

/// The per-call column names, in storage and export order (what synthetic output carries).
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

/// The accounting columns stored after [`COLUMNS`]: `weight` (integer), `aggregated`
/// (boolean) and `quality_flags` (text, null when clean). Synthetic output omits them; their
/// values there are always 1, false and null.
pub const ACCOUNTING_COLUMNS: &[&str] = &["weight", "aggregated", "quality_flags"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_join_in_one_order_and_old_json_reads_as_one_clean_call() {
        assert_eq!(
            QualityFlag::join(&[QualityFlag::Unpriced, QualityFlag::InvalidTokens]).as_deref(),
            Some("invalid_tokens,unpriced")
        );
        assert_eq!(QualityFlag::join(&[]), None);
        let old = r#"{"event_id":"e","trace_id":"t","span_id":"s","parent_span_id":null,
            "timestamp":"2026-01-01T00:00:00.000Z","tenant":"a","feature":"f","workload_type":"w",
            "operation":"chat","provider":"openai","model":"gpt-4o","input_tokens":1,
            "output_tokens":2,"latency_ms":3.0,"status":"ok","cost_usd":0.1}"#;
        let r: WorkloadRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.weight, r.aggregated, r.quality_flags), (1, false, None));
        let flagged = WorkloadRecord {
            quality_flags: Some("cost_mismatch,unknown_model".into()),
            ..r
        };
        assert!(flagged.has_flag(QualityFlag::UnknownModel));
        assert!(!flagged.has_flag(QualityFlag::Unpriced));
        for f in QualityFlag::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), f.name());
        }
    }
}
