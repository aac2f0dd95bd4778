//! Ingest orchestration: detect the format, parse with `apex_ingest`, hand the records to
//! the dataset writer, report. Two ways in: a log file (`ingest_logs`, `netra-apex ingest`),
//! written atomically as a dataset with source `ingested`, replacing any of that name; and
//! an OTLP/HTTP request body (`POST /v1/traces`), appended to a dataset in one transaction.
//!
//! Parsing, the formats and the quality checks live in `apex_ingest`; SQL lives in
//! `apex_store`. This module resolves no paths (the caller passes one already checked
//! against the workspace) and knows nothing of MCP or HTTP.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::AgentError;
use apex_core::events::EventSink;
use apex_core::pricing::PriceCatalog;
use apex_datasets::{DatasetWrite, WhenBusy, WriteMode};
pub use apex_ingest::{
    FORMAT_NAMES, Format, OtlpEncoding, Parsed, Rejection, check_columns, error_status,
    export_response,
};
use apex_ingest::{IngestError, ParseOptions};
use apex_store::{Store, datasets};

/// A `records_ingested` progress event every this many records.
const PROGRESS_EVERY: u64 = 250_000;

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestRequest<'a> {
    /// The log file, already resolved inside the workspace.
    pub path: &'a Path,
    pub format: Format,
    /// The dataset to create or replace.
    pub dataset: &'a str,
    /// Our field -> the input's column (`columns={"our_field": "their column"}`).
    pub columns: BTreeMap<String, String>,
}

/// What an ingest did: the parse's tally (flattened) plus the dataset and the time taken.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestReport {
    pub dataset: String,
    /// The parse's tally; its `spend_usd` is the spend of the model calls (rollup spans left
    /// out), the figure describe_dataset, query_data's `model_calls` and the reports total.
    #[serde(flatten)]
    pub parsed: Parsed,
    pub model_calls: u64,
    /// Every cost the accepted records carry, rollups included.
    pub recorded_spend_usd: f64,
    /// Spans whose usage a child span in the same trace carries, and the spend they repeat.
    pub rollup_records: u64,
    pub rollup_spend_usd: f64,
    /// Why the model calls could not be counted after the (committed) write, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counting_error: Option<String>,
    pub elapsed_ms: u64,
}

impl From<IngestError<AgentError>> for AgentError {
    fn from(e: IngestError<AgentError>) -> Self {
        match e {
            IngestError::Invalid(m) => AgentError::Invalid(m),
            IngestError::Io(m) => AgentError::Io(m),
            IngestError::Write(e) => e,
        }
    }
}

/// The dataset summary stored with the catalog entry: what describe and the report read
/// back without scanning records.
fn summary(p: &Parsed, format: &str) -> Value {
    let quality: BTreeMap<&str, u64> = p
        .quality
        .iter()
        .map(|(k, v)| (k.as_str(), v.count))
        .collect();
    json!({"records": p.accepted, "recorded_spend_usd": super::analysis::usd(p.spend_usd), "first": p.first,
           "last": p.last, "rejected": p.rejected, "format": format, "calls": p.calls,
           "aggregated": p.aggregated, "flagged": p.flagged, "quality": quality,
           "skipped": p.skipped})
}

/// Ingest the log file of `req` as its dataset, replacing any dataset of that name only
/// when the whole file has been read.
pub fn ingest(
    store: &Store,
    catalog: &PriceCatalog,
    req: &IngestRequest<'_>,
    events: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<IngestReport, AgentError> {
    let (path, dataset) = (req.path, req.dataset);
    datasets::validate_name(dataset)?;
    apex_ingest::check_columns(&req.columns).map_err(AgentError::Invalid)?;
    let started = Instant::now();
    if !path.is_file() {
        return Err(AgentError::Io(format!(
            "path: {} is not a readable file",
            path.display()
        )));
    }
    let format = match req.format {
        Format::Auto => apex_ingest::detect(path).map_err(AgentError::Invalid)?,
        f => f,
    };
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    events.emit(
        "ingest_started",
        json!({"dataset": dataset, "format": format.name(), "path": path.display().to_string(), "bytes": bytes,
               "message": format!("reading {} ({} bytes) as {}", path.display(), bytes, format.name())}),
    );
    let mut opts = ParseOptions::new(catalog, dataset);
    opts.columns = req.columns.clone();
    // Parsing hands batches to the dataset writer; nothing is visible until the commit, so
    // a cancelled, failed or killed ingest leaves the dataset as it was.
    let mut writer = DatasetWrite::begin(store, dataset, WriteMode::Replace, WhenBusy::Refuse)?;
    let mut next_event = PROGRESS_EVERY;
    // The records become Arrow columns on the parsing threads; parts are written in order.
    let columns = Ok::<_, AgentError>;
    let mut parsed = apex_ingest::parse_file_with(path, format, &opts, columns, |batch| {
        if cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        writer.append(&batch)?;
        let done = writer.records();
        if done >= next_event {
            next_event = done / PROGRESS_EVERY * PROGRESS_EVERY + PROGRESS_EVERY;
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            events.emit(
                "records_ingested",
                json!({"dataset": dataset, "accepted": done, "records_per_sec": rate.round(),
                       "message": format!("{done} records read")}),
            );
        }
        Ok(())
    })?;
    parsed.spend_usd = super::analysis::usd(parsed.spend_usd);
    let mut params = json!({"path": path.display().to_string(), "format": format.name()});
    if !req.columns.is_empty() {
        params["columns"] = json!(req.columns);
    }
    writer.commit("ingested", &params, &summary(&parsed, format.name()))?;
    // The dataset as the reports count it: rollup spans repeat their children's usage. The
    // dataset is committed by now: a count that fails (e.g. the engine's memory budget) must
    // not turn a stored ingest into an error, so it falls back to what was read, and says so.
    let (totals, counting_error) = match super::analysis::totals(store, dataset) {
        Ok(t) => (t, None),
        Err(e) => (
            super::analysis::Totals {
                model_calls: parsed.calls,
                spend_usd: parsed.spend_usd,
                ..Default::default()
            },
            Some(format!(
                "the dataset is stored, but its model calls could not be counted ({e}); the figures above are every record read, rollup spans not told apart"
            )),
        ),
    };
    let recorded_spend_usd = parsed.spend_usd;
    parsed.spend_usd = totals.spend_usd;
    let report = IngestReport {
        dataset: dataset.to_string(),
        parsed,
        model_calls: totals.model_calls,
        recorded_spend_usd,
        rollup_records: totals.rollup_records,
        rollup_spend_usd: totals.rollup_spend_usd,
        counting_error,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let p = &report.parsed;
    events.emit(
        "ingest_finished",
        json!({"dataset": report.dataset, "accepted": p.accepted, "rejected": p.rejected, "flagged": p.flagged,
               "spend_usd": p.spend_usd, "elapsed_ms": report.elapsed_ms,
               "message": format!("dataset {}: {} accepted ({} flagged), {} rejected", report.dataset, p.accepted, p.flagged, p.rejected)}),
    );
    Ok(report)
}

// ---------------------------------------------------------------- OTLP/HTTP

/// The dataset spans go to when the request names none.
pub const DEFAULT_OTLP_DATASET: &str = "otlp";

/// Why an OTLP/HTTP request was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// 400: the body (or the dataset name) is not acceptable; nothing was stored.
    #[error("{0}")]
    BadRequest(String),
    /// 415: an encoding or content type the receiver does not speak.
    #[error("{0}")]
    Unsupported(String),
    /// 413: the body decompresses to more than the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 503/500: the store failed; nothing of this request was stored.
    #[error(transparent)]
    Store(#[from] apex_store::StoreError),
    /// 500: the dataset files could not be written; nothing of this request was stored.
    #[error("{0}")]
    Write(String),
}

/// What one OTLP/HTTP request added.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Received {
    pub dataset: String,
    #[serde(flatten)]
    pub parsed: Parsed,
    /// The dataset's record count after this request.
    pub dataset_records: u64,
}

/// One OTLP/HTTP trace export request.
#[derive(Debug, Clone, Copy)]
pub struct OtlpRequest<'a> {
    pub body: &'a [u8],
    /// The body's encoding, from its `Content-Type` ([`OtlpEncoding::from_content_type`]).
    pub encoding: OtlpEncoding,
    /// The `Content-Encoding` header, if any.
    pub content_encoding: Option<&'a str>,
    /// The dataset named by the request, or None for [`DEFAULT_OTLP_DATASET`].
    pub dataset: Option<&'a str>,
    /// The most bytes the body may decompress to.
    pub max_decoded: usize,
}

/// Append the GenAI spans of one OTLP/HTTP request to its dataset, in one transaction: a
/// body that does not parse is refused whole (nothing stored, nothing already stored
/// touched); spans that cannot be kept are counted as rejected, with their reasons.
pub fn receive_otlp(
    store: &Store,
    catalog: &PriceCatalog,
    req: &OtlpRequest<'_>,
) -> Result<Received, ReceiveError> {
    let dataset = req.dataset.unwrap_or(DEFAULT_OTLP_DATASET);
    datasets::validate_name(dataset).map_err(|e| ReceiveError::BadRequest(e.to_string()))?;
    let encoding = req.encoding;
    let body =
        apex_ingest::decode_body(req.body, req.content_encoding, req.max_decoded).map_err(|e| {
            if e.contains("more than") {
                ReceiveError::TooLarge(e)
            } else if e.contains("not accepted") {
                ReceiveError::Unsupported(e)
            } else {
                ReceiveError::BadRequest(e)
            }
        })?;
    let id_prefix = format!("{dataset}-{}", apex_core::events::now_ts());
    let opts = ParseOptions::new(catalog, &id_prefix);
    let mut batches = Vec::new();
    let mut parsed =
        apex_ingest::parse_otlp_body(&body, encoding, &opts, |batch| -> Result<(), ()> {
            batches.push(batch);
            Ok(())
        })
        .map_err(|e| match e {
            IngestError::Invalid(m) | IngestError::Io(m) => ReceiveError::BadRequest(m),
            IngestError::Write(()) => ReceiveError::BadRequest("the body could not be read".into()),
        })?;
    parsed.spend_usd = super::analysis::usd(parsed.spend_usd);
    let params = json!({"format": "otlp-http"});
    // Concurrent requests to one dataset take turns on its write lock; each appends its
    // parts and commits them at once, so a request is stored whole or not at all.
    let mut writer = DatasetWrite::begin(store, dataset, WriteMode::Append, WhenBusy::Wait)
        .map_err(receive_error)?;
    for batch in &batches {
        writer.append(batch).map_err(receive_error)?;
    }
    // read under the write lock: no other request can commit between this and ours
    let before = datasets::get(store, dataset)?;
    let summary = merge_summary(before.as_ref().map(|b| &b.summary), &parsed);
    let info = writer
        .commit("otlp-http", &params, &summary)
        .map_err(receive_error)?;
    Ok(Received {
        dataset: dataset.to_string(),
        parsed,
        dataset_records: info.record_count,
    })
}

/// A dataset write error as the receiver's: the store's own, or a refused record (400).
fn receive_error(e: apex_datasets::DatasetError) -> ReceiveError {
    match e {
        apex_datasets::DatasetError::Store(e) => ReceiveError::Store(e),
        apex_datasets::DatasetError::Invalid(m) => ReceiveError::BadRequest(m),
        other => ReceiveError::Write(other.to_string()),
    }
}

/// A received dataset's summary after one more request: counts and spend add up, the time
/// range widens.
fn merge_summary(before: Option<&Value>, p: &Parsed) -> Value {
    let mut s = summary(p, "otlp-http");
    let Some(b) = before else {
        return s;
    };
    for key in ["records", "rejected", "calls", "aggregated", "flagged"] {
        s[key] = json!(s[key].as_u64().unwrap_or(0) + b[key].as_u64().unwrap_or(0));
    }
    s["recorded_spend_usd"] = json!(super::analysis::usd(
        s["recorded_spend_usd"].as_f64().unwrap_or(0.0)
            + b["recorded_spend_usd"].as_f64().unwrap_or(0.0)
    ));
    for (key, pick_new) in [("first", true), ("last", false)] {
        let (old, new) = (b[key].as_str(), s[key].as_str());
        let keep = match (old, new) {
            (Some(o), Some(n)) => Some(if (n < o) == pick_new { n } else { o }),
            (o, n) => o.or(n),
        };
        s[key] = json!(keep);
    }
    for map in ["quality", "skipped"] {
        let mut merged: BTreeMap<String, u64> =
            serde_json::from_value(b[map].clone()).unwrap_or_default();
        let new: BTreeMap<String, u64> = serde_json::from_value(s[map].clone()).unwrap_or_default();
        for (k, v) in new {
            *merged.entry(k).or_default() += v;
        }
        s[map] = json!(merged);
    }
    s
}
