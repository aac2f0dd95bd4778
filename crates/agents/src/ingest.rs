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

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use xxhash_rust::xxh3::xxh3_64;

use super::AgentError;
use super::analysis::exact::Exact;
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
    // The records become Arrow columns on the parsing threads, noted there for the totals;
    // parts are written in order.
    let mut noted = NoRollups::new(MAX_NOTED_IDS);
    let columns = |batch: RecordBatch| Ok::<_, AgentError>((Noted::of(&batch), batch));
    let mut parsed = apex_ingest::parse_file_with(path, format, &opts, columns, |(n, batch)| {
        if cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        writer.append(&batch)?;
        noted.add(n);
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
    let info = writer.commit("ingested", &params, &summary(&parsed, format.name()))?;
    // The dataset as the reports count it: rollup spans repeat their children's usage. When
    // the ids noted while writing prove there are none, the calls were counted as they were
    // written, and the proof is recorded for the reports; otherwise the engine looks them up.
    if let Some((model_calls, spend)) = noted.proven() {
        let none = datasets::Rollups {
            records: 0,
            spend_usd: 0.0,
        };
        if let Err(e) = datasets::record_rollups(store, &info, none, "ingest") {
            tracing::warn!(dataset, error = %e, "the ingest's rollup proof was not recorded");
        }
        let totals = super::analysis::Totals {
            model_calls,
            spend_usd: super::analysis::usd(spend),
            ..Default::default()
        };
        return Ok(finish(events, started, dataset, parsed, totals, None));
    }
    // The dataset is committed by now: a count that fails (e.g. the engine's memory budget)
    // must not turn a stored ingest into an error, so it falls back to what was read, and
    // says so.
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
    Ok(finish(
        events,
        started,
        dataset,
        parsed,
        totals,
        counting_error,
    ))
}

/// The report of an ingest whose dataset counts as `totals`, announced as finished.
fn finish(
    events: &dyn EventSink,
    started: Instant,
    dataset: &str,
    mut parsed: Parsed,
    totals: super::analysis::Totals,
    counting_error: Option<String>,
) -> IngestReport {
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
    report
}

/// Ids an ingest holds (8 bytes each) to prove its dataset has no rollup spans: enough for
/// ~14M records of a typical log (a model call's span id, a child's parent id). A larger
/// ingest has its rollups looked up by the engine after the commit, as any dataset
/// without a proof.
const MAX_NOTED_IDS: usize = 24 << 20;

/// What the parsing threads note of a batch: its model calls (the predicate of
/// `analysis::sql`, before rollups) and their spend, and hashes of the ids the rollup
/// look-up joins (`sql::rollup_candidates`): the span ids of the would-be model calls with
/// usage, and the parent ids of records with usage.
struct Noted {
    calls: u64,
    spend: Exact,
    spans: Vec<u64>,
    parents: Vec<u64>,
}

impl Noted {
    /// None when the batch is not in the stored schema (never, from the parser).
    fn of(batch: &RecordBatch) -> Option<Noted> {
        use super::analysis::sql::{has_usage, is_model_call};
        let mut n = Noted {
            calls: 0,
            spend: Exact::default(),
            spans: Vec::new(),
            parents: Vec::new(),
        };
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
        };
        let int = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<Int64Type>())
        };
        let cost = batch
            .column_by_name("cost_usd")
            .and_then(|c| c.as_primitive_opt::<Float64Type>())?;
        let (op, span, parent) = (
            text("operation")?,
            text("span_id")?,
            text("parent_span_id")?,
        );
        let (input, output, weight) = (int("input_tokens")?, int("output_tokens")?, int("weight")?);
        for i in 0..batch.num_rows() {
            let usage = has_usage(input.value(i), output.value(i), cost.value(i));
            if is_model_call(op.value(i), usage) {
                n.calls += weight.value(i).max(0) as u64;
                n.spend.add(cost.value(i));
                if usage {
                    n.spans.push(xxh3_64(span.value(i).as_bytes()));
                }
            }
            if usage && parent.is_valid(i) && !parent.value(i).is_empty() {
                n.parents.push(xxh3_64(parent.value(i).as_bytes()));
            }
        }
        Some(n)
    }
}

/// The batches' notes, in input order, up to a number of ids.
struct NoRollups {
    calls: u64,
    spend: Exact,
    spans: Vec<Vec<u64>>,
    parents: Vec<Vec<u64>>,
    held: usize,
    /// Most ids held; past it the proof is given up (the engine looks up instead).
    max: usize,
    given_up: bool,
}

impl NoRollups {
    fn new(max: usize) -> Self {
        Self {
            calls: 0,
            spend: Exact::default(),
            spans: Vec::new(),
            parents: Vec::new(),
            held: 0,
            max,
            given_up: false,
        }
    }

    /// Add a batch's notes (None: a batch that could not be noted; nothing is proven).
    fn add(&mut self, n: Option<Noted>) {
        let Some(n) = n else {
            self.give_up();
            return;
        };
        self.calls += n.calls;
        self.spend.merge(n.spend);
        if self.given_up {
            return;
        }
        self.held += n.spans.len() + n.parents.len();
        if self.held > self.max {
            self.give_up();
            return;
        }
        self.spans.push(n.spans);
        self.parents.push(n.parents);
    }

    fn give_up(&mut self) {
        self.given_up = true;
        self.spans = Vec::new();
        self.parents = Vec::new();
    }

    /// The model calls and their spend when no would-be model call with usage is the parent
    /// of a record with usage, which leaves no record a rollup: then no span-id hash is a
    /// parent-id hash (equal ids hash alike). None when that is not proven: a hash in both
    /// (a rollup, or two ids that share a hash), or too many ids to hold.
    fn proven(self) -> Option<(u64, f64)> {
        if self.given_up {
            return None;
        }
        let sorted = |chunks: Vec<Vec<u64>>| {
            let mut all: Vec<u64> = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
            for c in chunks {
                all.extend(c);
            }
            all.sort_unstable();
            all
        };
        let (spans, parents) = std::thread::scope(|s| {
            let spans = s.spawn(|| sorted(self.spans));
            let parents = sorted(self.parents);
            (spans.join(), parents)
        });
        let spans = spans.ok()?;
        let (mut i, mut j) = (0, 0);
        while i < spans.len() && j < parents.len() {
            match spans[i].cmp(&parents[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return None,
            }
        }
        Some((self.calls, self.spend.value()))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn noted(spans: &[u64], parents: &[u64]) -> Option<Noted> {
        Some(Noted {
            calls: 2,
            spend: std::iter::once(0.5).collect(),
            spans: spans.to_vec(),
            parents: parents.to_vec(),
        })
    }

    #[test]
    fn no_rollups_is_proven_only_by_disjoint_ids_within_the_budget() {
        let mut n = NoRollups::new(8);
        n.add(noted(&[5, 1], &[2]));
        n.add(noted(&[9], &[4, 3]));
        assert_eq!(n.proven(), Some((4, 1.0)));
        // A parent id that is a call's span id, in another batch: not proven.
        let mut n = NoRollups::new(8);
        n.add(noted(&[5, 1], &[2]));
        n.add(noted(&[9], &[1]));
        assert_eq!(n.proven(), None);
        // Past the budget, or a batch that could not be noted: not proven either.
        let mut n = NoRollups::new(4);
        n.add(noted(&[5, 1], &[2]));
        n.add(noted(&[9], &[4]));
        assert_eq!(n.proven(), None);
        let mut n = NoRollups::new(8);
        n.add(noted(&[5], &[2]));
        n.add(None);
        assert_eq!(n.proven(), None);
        assert_eq!(NoRollups::new(8).proven(), Some((0, 0.0)));
    }
}
