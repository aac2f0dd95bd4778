//! Ingesting workload logs: JSONL or CSV in the workload schema (`apex_core::workload`), or
//! OTLP-JSON spans carrying `gen_ai.*` attributes (OpenTelemetry GenAI conventions), written
//! atomically as a dataset with source `ingested`.
//!
//! Every rejected line is reported with its number and reason, every default filled in is
//! counted, and missing costs come from the price catalog. It resolves no paths (the caller
//! passes one already checked against the workspace) and knows nothing of MCP.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::AgentError;
use apex_core::events::EventSink;
use apex_core::pricing::PriceCatalog;
use apex_core::workload::WorkloadRecord;
use apex_store::analytics::NON_MODEL_OPERATIONS;
use apex_store::{Store, datasets};

/// Rejections listed one by one; beyond this they are counted only.
pub const MAX_LISTED_REJECTIONS: usize = 1_000;
const BATCH: usize = 5_000;

/// The accepted log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Auto,
    Jsonl,
    Csv,
    OtlpJson,
}

impl LogFormat {
    pub fn parse(s: &str) -> Result<Self, AgentError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "jsonl" | "ndjson" | "json" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "otlp-json" | "otlp" | "otlp_json" => Ok(Self::OtlpJson),
            other => Err(AgentError::Invalid(format!(
                "format: `{other}` is not accepted; use auto, jsonl, csv or otlp-json"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::OtlpJson => "otlp-json",
        }
    }
}

/// One rejected line (or span).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejection {
    pub line: u64,
    /// The span's index within the line's OTLP document, for OTLP input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<usize>,
    pub reason: String,
}

/// What an ingest did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestReport {
    pub dataset: String,
    pub format: LogFormat,
    pub accepted: u64,
    pub rejected: u64,
    /// The first [`MAX_LISTED_REJECTIONS`] rejections.
    pub rejections: Vec<Rejection>,
    /// Rejections counted but not listed.
    pub rejections_not_listed: u64,
    /// OTLP spans without any `gen_ai.*` attribute (not model or agent work), skipped.
    pub skipped_spans: u64,
    /// Field -> how many records had it filled in (cost from the catalog, defaults).
    pub filled: BTreeMap<String, u64>,
    pub spend_usd: f64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub elapsed_ms: u64,
}

struct Sink<'a> {
    catalog: &'a PriceCatalog,
    dataset: String,
    records: Vec<WorkloadRecord>,
    report: IngestReport,
}

impl Sink<'_> {
    fn reject(&mut self, line: u64, span: Option<usize>, reason: String) {
        self.report.rejected += 1;
        if self.report.rejections.len() < MAX_LISTED_REJECTIONS {
            self.report
                .rejections
                .push(Rejection { line, span, reason });
        } else {
            self.report.rejections_not_listed += 1;
        }
    }

    fn fill(&mut self, field: &str) {
        *self.report.filled.entry(field.to_string()).or_default() += 1;
    }

    fn accept(&mut self, r: WorkloadRecord) {
        self.report.accepted += 1;
        self.report.spend_usd += r.cost_usd;
        if self
            .report
            .first
            .as_deref()
            .is_none_or(|f| r.timestamp.as_str() < f)
        {
            self.report.first = Some(r.timestamp.clone());
        }
        if self
            .report
            .last
            .as_deref()
            .is_none_or(|l| r.timestamp.as_str() > l)
        {
            self.report.last = Some(r.timestamp.clone());
        }
        self.records.push(r);
    }
}

/// Field values of one input record, whatever the format.
trait Fields {
    /// The raw value of `name`, if present and not empty/null.
    fn text(&self, name: &str) -> Option<String>;
    fn number(&self, name: &str) -> Result<Option<f64>, String>;
}

struct JsonFields<'a>(&'a Map<String, Value>);

impl Fields for JsonFields<'_> {
    fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("field `{name}`: `{s}` is not a number")),
            Some(other) => Err(format!("field `{name}`: expected a number, got {other}")),
        }
    }
}

struct CsvFields<'a> {
    header: &'a BTreeMap<String, usize>,
    row: &'a csv::StringRecord,
}

impl Fields for CsvFields<'_> {
    fn text(&self, name: &str) -> Option<String> {
        let v = self.row.get(*self.header.get(name)?)?.trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        match self.text(name) {
            None => Ok(None),
            Some(s) => s
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("field `{name}`: `{s}` is not a number")),
        }
    }
}

fn count(f: &dyn Fields, name: &str) -> Result<Option<u64>, String> {
    match f.number(name)? {
        None => Ok(None),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 => Ok(Some(v as u64)),
        Some(v) => Err(format!(
            "field `{name}`: {v} is not accepted; token counts are non-negative integers"
        )),
    }
}

fn non_negative(f: &dyn Fields, name: &str) -> Result<Option<f64>, String> {
    match f.number(name)? {
        Some(v) if !(v >= 0.0 && v.is_finite()) => Err(format!(
            "field `{name}`: {v} is not accepted; use a non-negative number"
        )),
        other => Ok(other),
    }
}

/// Normalize an RFC 3339 time to UTC with milliseconds.
pub fn normalize_timestamp(s: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .map_err(|_| {
            format!("field `timestamp`: `{s}` is not an RFC 3339 time (e.g. 2026-01-01T12:00:00Z)")
        })
}

fn normalize_status(s: &str) -> Option<&'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "ok" | "success" | "succeeded" | "completed" | "unset" | "status_code_ok"
        | "status_code_unset" | "0" | "1" | "200" => Some("ok"),
        "error" | "err" | "failed" | "failure" | "fail" | "status_code_error" | "2" => {
            Some("error")
        }
        _ => None,
    }
}

/// Turn one input record into a workload record, filling what may be filled.
fn convert(f: &dyn Fields, line: u64, sink: &mut Sink<'_>) -> Result<WorkloadRecord, String> {
    let mut filled: Vec<&str> = Vec::new();
    let operation = match f.text("operation") {
        Some(o) => o,
        None => {
            filled.push("operation");
            "chat".into()
        }
    };
    let model_call = !NON_MODEL_OPERATIONS.contains(&operation.as_str());
    let timestamp =
        normalize_timestamp(&f.text("timestamp").ok_or("field `timestamp` is missing")?)?;
    let model = match f.text("model") {
        Some(m) => m,
        None if !model_call => String::new(),
        None => return Err("field `model` is missing".into()),
    };
    let price = sink.catalog.get(&model);
    let provider = match f.text("provider") {
        Some(p) => p,
        None if !model_call => String::new(),
        None => match price {
            Some(p) => {
                filled.push("provider");
                p.provider.clone()
            }
            None => {
                return Err(format!(
                    "field `provider` is missing and model `{model}` is not in the price catalog"
                ));
            }
        },
    };
    let tokens = |name: &str| -> Result<u64, String> {
        match count(f, name)? {
            Some(v) => Ok(v),
            None if !model_call => Ok(0),
            None => Err(format!("field `{name}` is missing")),
        }
    };
    let input_tokens = tokens("input_tokens")?;
    let output_tokens = tokens("output_tokens")?;
    let cache_read_tokens = count(f, "cache_read_tokens")?.unwrap_or(0);
    let cache_write_tokens = count(f, "cache_write_tokens")?.unwrap_or(0);
    let reasoning_tokens = count(f, "reasoning_tokens")?.unwrap_or(0);
    let latency_ms = non_negative(f, "latency_ms")?.ok_or("field `latency_ms` is missing")?;
    let ttft_ms = non_negative(f, "ttft_ms")?;
    let error_type = f.text("error_type");
    let status = match f.text("status") {
        Some(s) => normalize_status(&s)
            .ok_or_else(|| format!("field `status`: `{s}` is not accepted; use ok or error"))?
            .to_string(),
        None => {
            filled.push("status");
            if error_type.is_some() { "error" } else { "ok" }.to_string()
        }
    };
    let cost_usd = match non_negative(f, "cost_usd")? {
        Some(c) => c,
        None if !model_call => 0.0,
        None => match price {
            Some(p) => {
                filled.push("cost_usd");
                p.cost(
                    input_tokens,
                    output_tokens,
                    cache_read_tokens,
                    cache_write_tokens,
                )
            }
            None => {
                return Err(format!(
                    "field `cost_usd` is missing and model `{model}` is not in the price catalog to price it"
                ));
            }
        },
    };
    let event_id = match f.text("event_id") {
        Some(e) => e,
        None => {
            filled.push("event_id");
            format!("{}-{line}", sink.dataset)
        }
    };
    let mut text_or = |name: &'static str, default: &str| match f.text(name) {
        Some(v) => v,
        None => {
            filled.push(name);
            default.to_string()
        }
    };
    let trace_id = text_or("trace_id", &event_id);
    let span_id = text_or("span_id", &event_id);
    let tenant = text_or("tenant", "unknown");
    let feature = text_or("feature", "unknown");
    let workload_type = text_or("workload_type", "unknown");
    let record = WorkloadRecord {
        event_id,
        trace_id,
        span_id,
        parent_span_id: f.text("parent_span_id"),
        timestamp,
        tenant,
        feature,
        workload_type,
        operation,
        provider,
        model,
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        reasoning_tokens,
        latency_ms,
        ttft_ms,
        status,
        error_type,
        finish_reason: f.text("finish_reason"),
        prompt_hash: f.text("prompt_hash"),
        cost_usd,
    };
    for name in filled {
        sink.fill(name);
    }
    Ok(record)
}

// ---------------------------------------------------------------- OTLP

fn any_value(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return Value::Null;
    };
    if let Some(s) = o.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = o.get("intValue") {
        // int64 is a JSON string in OTLP-JSON
        return match i {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
            other => other.clone(),
        };
    }
    if let Some(d) = o.get("doubleValue") {
        return d.clone();
    }
    if let Some(b) = o.get("boolValue") {
        return b.clone();
    }
    if let Some(a) = o
        .get("arrayValue")
        .and_then(|a| a.get("values"))
        .and_then(Value::as_array)
    {
        return Value::Array(a.iter().map(any_value).collect());
    }
    Value::Null
}

fn attributes(v: Option<&Value>, into: &mut Map<String, Value>) {
    for kv in v.and_then(Value::as_array).into_iter().flatten() {
        if let (Some(k), Some(val)) = (kv.get("key").and_then(Value::as_str), kv.get("value")) {
            into.insert(k.to_string(), any_value(val));
        }
    }
}

/// Attribute aliases -> workload field, first present wins.
const OTLP_FIELDS: &[(&str, &[&str])] = &[
    ("operation", &["gen_ai.operation.name"]),
    ("provider", &["gen_ai.provider.name", "gen_ai.system"]),
    ("model", &["gen_ai.response.model", "gen_ai.request.model"]),
    (
        "input_tokens",
        &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
    ),
    (
        "output_tokens",
        &[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ],
    ),
    (
        "cache_read_tokens",
        &[
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "apex.cache_read_tokens",
        ],
    ),
    (
        "cache_write_tokens",
        &[
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
            "apex.cache_write_tokens",
        ],
    ),
    (
        "reasoning_tokens",
        &[
            "gen_ai.usage.reasoning_tokens",
            "gen_ai.usage.reasoning.output_tokens",
            "apex.reasoning_tokens",
        ],
    ),
    ("error_type", &["error.type"]),
    (
        "tenant",
        &["apex.tenant", "netra.tenant", "tenant.id", "tenant"],
    ),
    (
        "feature",
        &["apex.feature", "netra.feature", "app.feature", "feature"],
    ),
    (
        "workload_type",
        &["apex.workload_type", "netra.workload_type", "workload_type"],
    ),
    (
        "prompt_hash",
        &[
            "apex.prompt_hash",
            "netra.prompt_hash",
            "gen_ai.prompt.hash",
            "prompt_hash",
        ],
    ),
    (
        "cost_usd",
        &[
            "apex.cost_usd",
            "netra.cost_usd",
            "gen_ai.usage.cost_usd",
            "cost_usd",
        ],
    ),
    ("ttft_ms", &["apex.ttft_ms", "netra.ttft_ms", "ttft_ms"]),
    ("event_id", &["apex.event_id", "netra.event_id", "event_id"]),
];

fn nanos(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

/// Flatten one OTLP span (with its resource's attributes) into workload fields.
fn span_fields(
    resource: &Map<String, Value>,
    span: &Value,
) -> Result<Option<Map<String, Value>>, String> {
    let mut attrs = resource.clone();
    attributes(span.get("attributes"), &mut attrs);
    if !attrs.keys().any(|k| k.starts_with("gen_ai.")) {
        return Ok(None);
    }
    let mut out = Map::new();
    for (field, keys) in OTLP_FIELDS {
        if let Some(v) = keys
            .iter()
            .find_map(|k| attrs.get(*k).filter(|v| !v.is_null()))
        {
            out.insert(field.to_string(), v.clone());
        }
    }
    if let Some(Value::Array(reasons)) = attrs.get("gen_ai.response.finish_reasons")
        && let Some(first) = reasons.first()
    {
        out.insert("finish_reason".into(), first.clone());
    }
    for (field, key) in [
        ("trace_id", "traceId"),
        ("span_id", "spanId"),
        ("parent_span_id", "parentSpanId"),
    ] {
        if let Some(v) = span
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            out.insert(field.into(), Value::from(v));
        }
    }
    let start =
        nanos(span.get("startTimeUnixNano")).ok_or("span: `startTimeUnixNano` is missing")?;
    let end = nanos(span.get("endTimeUnixNano")).ok_or("span: `endTimeUnixNano` is missing")?;
    let ts = chrono::DateTime::from_timestamp(
        start.div_euclid(1_000_000_000),
        start.rem_euclid(1_000_000_000) as u32,
    )
    .ok_or("span: `startTimeUnixNano` is out of range")?;
    out.insert(
        "timestamp".into(),
        Value::from(ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    if end < start {
        return Err("span: `endTimeUnixNano` is before `startTimeUnixNano`".into());
    }
    out.insert("latency_ms".into(), Value::from((end - start) as f64 / 1e6));
    let code = span.get("status").and_then(|s| s.get("code"));
    let error = match code {
        Some(Value::Number(n)) => n.as_i64() == Some(2),
        Some(Value::String(s)) => s.eq_ignore_ascii_case("STATUS_CODE_ERROR") || s == "2",
        _ => false,
    };
    out.insert(
        "status".into(),
        Value::from(if error || out.contains_key("error_type") {
            "error"
        } else {
            "ok"
        }),
    );
    if !out.contains_key("event_id")
        && let Some(id) = out.get("span_id").cloned()
    {
        out.insert("event_id".into(), id);
    }
    Ok(Some(out))
}

fn ingest_otlp_doc(doc: &Value, line: u64, sink: &mut Sink<'_>) {
    let Some(rs) = doc.get("resourceSpans").and_then(Value::as_array) else {
        sink.reject(
            line,
            None,
            "not an OTLP-JSON document: `resourceSpans` is missing".into(),
        );
        return;
    };
    let mut index = 0usize;
    for r in rs {
        let mut resource = Map::new();
        attributes(
            r.get("resource").and_then(|x| x.get("attributes")),
            &mut resource,
        );
        for scope in r
            .get("scopeSpans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for span in scope
                .get("spans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                index += 1;
                match span_fields(&resource, span) {
                    Ok(None) => sink.report.skipped_spans += 1,
                    Ok(Some(fields)) => match convert(&JsonFields(&fields), line, sink) {
                        Ok(rec) => sink.accept(rec),
                        Err(e) => sink.reject(line, Some(index), e),
                    },
                    Err(e) => sink.reject(line, Some(index), e),
                }
            }
        }
    }
}

// ---------------------------------------------------------------- the drivers

fn detect(path: &Path) -> Result<LogFormat, AgentError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "csv" {
        return Ok(LogFormat::Csv);
    }
    let mut head = vec![0u8; 8192];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| AgentError::Io(format!("path: cannot read {}: {e}", path.display())))?;
    let head = String::from_utf8_lossy(&head[..n]);
    if head.contains("\"resourceSpans\"") {
        Ok(LogFormat::OtlpJson)
    } else if head.trim_start().starts_with('{')
        || ext == "jsonl"
        || ext == "ndjson"
        || ext == "json"
    {
        Ok(LogFormat::Jsonl)
    } else {
        Err(AgentError::Invalid(format!(
            "format: cannot tell the format of {} from its name or first bytes; pass format = jsonl, csv or otlp-json",
            path.display()
        )))
    }
}

/// Call `each(line_number, text)` on every line; invalid UTF-8 lines are rejected.
fn for_each_line(
    path: &Path,
    sink: &mut Sink<'_>,
    cancel: &CancellationToken,
    mut each: impl FnMut(u64, &str, &mut Sink<'_>),
    mut flush: impl FnMut(&mut Sink<'_>) -> Result<(), AgentError>,
) -> Result<(), AgentError> {
    let file = File::open(path)
        .map_err(|e| AgentError::Io(format!("path: cannot open {}: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| {
            AgentError::Io(format!(
                "path: read error in {} after line {line}: {e}",
                path.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        line += 1;
        match std::str::from_utf8(&buf) {
            Ok(text) => {
                let text = text.trim_end_matches(['\n', '\r']);
                if !text.trim().is_empty() {
                    each(line, text, sink);
                }
            }
            Err(_) => sink.reject(line, None, "the line is not valid UTF-8".into()),
        }
        if sink.records.len() >= BATCH {
            if cancel.is_cancelled() {
                return Err(AgentError::Cancelled);
            }
            flush(sink)?;
        }
    }
    flush(sink)
}

fn jsonl_line(line: u64, text: &str, sink: &mut Sink<'_>) {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => match convert(&JsonFields(&map), line, sink) {
            Ok(r) => sink.accept(r),
            Err(e) => sink.reject(line, None, e),
        },
        Ok(_) => sink.reject(
            line,
            None,
            "expected a JSON object (one record per line)".into(),
        ),
        Err(e) => sink.reject(line, None, format!("invalid JSON: {e}")),
    }
}

const REQUIRED_CSV: &[&str] = &[
    "timestamp",
    "model",
    "input_tokens",
    "output_tokens",
    "latency_ms",
];

fn ingest_csv(
    path: &Path,
    sink: &mut Sink<'_>,
    cancel: &CancellationToken,
    mut flush: impl FnMut(&mut Sink<'_>) -> Result<(), AgentError>,
) -> Result<(), AgentError> {
    let file = File::open(path)
        .map_err(|e| AgentError::Io(format!("path: cannot open {}: {e}", path.display())))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let header: BTreeMap<String, usize> = rdr
        .headers()
        .map_err(|e| {
            AgentError::Invalid(format!(
                "path: {} has no readable CSV header: {e}",
                path.display()
            ))
        })?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_string(), i))
        .collect();
    let missing: Vec<&str> = REQUIRED_CSV
        .iter()
        .copied()
        .filter(|c| !header.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(AgentError::Invalid(format!(
            "path: the CSV header of {} lacks the column(s) {}; required: {} (other workload columns are optional)",
            path.display(),
            missing.join(", "),
            REQUIRED_CSV.join(", ")
        )));
    }
    let width = header.len();
    let mut row = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                let line = row.position().map(|p| p.line()).unwrap_or(line);
                if row.len() != width {
                    sink.reject(
                        line,
                        None,
                        format!("the row has {} fields, the header {width}", row.len()),
                    );
                } else {
                    match convert(
                        &CsvFields {
                            header: &header,
                            row: &row,
                        },
                        line,
                        sink,
                    ) {
                        Ok(r) => sink.accept(r),
                        Err(e) => sink.reject(line, None, e),
                    }
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                sink.reject(line, None, format!("unreadable CSV row: {e}"));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(AgentError::Io(format!(
                        "path: read error in {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        if sink.records.len() >= BATCH {
            if cancel.is_cancelled() {
                return Err(AgentError::Cancelled);
            }
            flush(sink)?;
        }
    }
    flush(sink)
}

/// Ingest the log file at `path` (already resolved inside the workspace) as dataset
/// `dataset`, replacing any dataset of that name only when the whole file has been read.
pub fn ingest(
    store: &Store,
    catalog: &PriceCatalog,
    path: &Path,
    format: LogFormat,
    dataset: &str,
    events: &dyn EventSink,
    cancel: &CancellationToken,
) -> Result<IngestReport, AgentError> {
    datasets::validate_name(dataset)?;
    let started = Instant::now();
    if !path.is_file() {
        return Err(AgentError::Io(format!(
            "path: {} is not a readable file",
            path.display()
        )));
    }
    let format = match format {
        LogFormat::Auto => detect(path)?,
        f => f,
    };
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    events.emit(
        "ingest_started",
        json!({"dataset": dataset, "format": format.name(), "path": path.display().to_string(), "bytes": bytes,
               "message": format!("reading {} ({} bytes) as {}", path.display(), bytes, format.name())}),
    );
    let mut sink = Sink {
        catalog,
        dataset: dataset.to_string(),
        records: Vec::with_capacity(BATCH),
        report: IngestReport {
            dataset: dataset.to_string(),
            format,
            accepted: 0,
            rejected: 0,
            rejections: Vec::new(),
            rejections_not_listed: 0,
            skipped_spans: 0,
            filled: BTreeMap::new(),
            spend_usd: 0.0,
            first: None,
            last: None,
            elapsed_ms: 0,
        },
    };
    let outcome = store.write(|conn| {
        let mut writer = datasets::begin_write(conn, dataset)?;
        let mut failure: Option<AgentError> = None;
        {
            let flush = |s: &mut Sink<'_>| -> Result<(), AgentError> {
                writer.append(&s.records).map_err(|e| store.explain(e))?;
                s.records.clear();
                // No event here: this runs inside the store's write transaction, and events
                // are stored through the same store.
                Ok(())
            };
            let res = match format {
                LogFormat::Csv => ingest_csv(path, &mut sink, cancel, flush),
                LogFormat::OtlpJson => ingest_otlp(path, &mut sink, cancel, flush),
                _ => for_each_line(path, &mut sink, cancel, jsonl_line, flush),
            };
            if let Err(e) = res {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            return Ok(Err(e)); // the writer is dropped: rolled back
        }
        sink.report.spend_usd = super::analysis::usd(sink.report.spend_usd);
        let r = &sink.report;
        let summary = json!({"records": r.accepted, "spend_usd": r.spend_usd, "first": r.first, "last": r.last,
                             "rejected": r.rejected, "format": format.name()});
        let params = json!({"path": path.display().to_string(), "format": format.name()});
        writer.commit(dataset, "ingested", &params, &summary)?;
        Ok(Ok(()))
    });
    if !matches!(outcome, Ok(Ok(()))) {
        // The rolled-back transaction's pages stay in the write-ahead log: give them back.
        store.reclaim_space();
    }
    outcome??;
    sink.report.elapsed_ms = started.elapsed().as_millis() as u64;
    let r = &sink.report;
    events.emit(
        "ingest_finished",
        json!({"dataset": r.dataset, "accepted": r.accepted, "rejected": r.rejected, "spend_usd": r.spend_usd,
               "elapsed_ms": r.elapsed_ms,
               "message": format!("dataset {}: {} accepted, {} rejected", r.dataset, r.accepted, r.rejected)}),
    );
    Ok(sink.report)
}

fn ingest_otlp(
    path: &Path,
    sink: &mut Sink<'_>,
    cancel: &CancellationToken,
    mut flush: impl FnMut(&mut Sink<'_>) -> Result<(), AgentError>,
) -> Result<(), AgentError> {
    // One document per line (the OTLP file exporter), or one pretty-printed document.
    let first_line = {
        let file = File::open(path)
            .map_err(|e| AgentError::Io(format!("path: cannot open {}: {e}", path.display())))?;
        let mut l = String::new();
        let _ = BufReader::new(file).read_line(&mut l);
        l
    };
    if serde_json::from_str::<Value>(first_line.trim()).is_ok() {
        return for_each_line(
            path,
            sink,
            cancel,
            |line, text, sink| match serde_json::from_str::<Value>(text) {
                Ok(doc) => ingest_otlp_doc(&doc, line, sink),
                Err(e) => sink.reject(line, None, format!("invalid JSON: {e}")),
            },
            flush,
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| AgentError::Io(format!("path: cannot read {}: {e}", path.display())))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(doc) => ingest_otlp_doc(&doc, 1, sink),
        Err(e) => sink.reject(e.line() as u64, None, format!("invalid JSON: {e}")),
    }
    flush(sink)
}
