//! Per-call exports of LLM gateways and tracing tools: LiteLLM spend logs and Langfuse
//! observations, translated into workload fields.
//!
//! Sources of the field names:
//! - LiteLLM: the `LiteLLM_SpendLogs` model of the proxy's `schema.prisma`
//!   (<https://github.com/BerriAI/litellm/blob/main/schema.prisma>), which is what
//!   `/spend/logs` returns and what a database export of the table holds: `request_id`,
//!   `call_type`, `spend`, `prompt_tokens`, `completion_tokens`, `startTime`, `endTime`,
//!   `request_duration_ms`, `completionStartTime`, `model`, `model_group`,
//!   `custom_llm_provider`, `user`, `metadata`, `request_tags`, `team_id`,
//!   `organization_id`, `end_user`, `session_id`, `status`.
//! - Langfuse: the public API's `Observation` / `ObservationsView`
//!   (<https://api.reference.langfuse.com/>, as in the JS SDK's `ApiObservation`): `id`,
//!   `traceId`, `type`, `name`, `startTime`, `endTime`, `completionStartTime`, `model`,
//!   `usageDetails` (`input`, `output` and detail keys such as `input_cached_tokens`,
//!   `cache_read_input_tokens`), `costDetails` (`total`), `calculatedTotalCost`, `level`,
//!   `statusMessage`, `parentObservationId`, older `usage` {`input`, `output`}.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use super::convert::{JsonFields, keep};
use super::json;
use super::{Collector, IngestError};

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON object given as an object or as JSON text (a CSV export's `metadata` column).
fn object(v: Option<&Value>) -> Option<Map<String, Value>> {
    match v? {
        Value::Object(m) => Some(m.clone()),
        Value::String(s) => serde_json::from_str(s).ok(),
        _ => None,
    }
}

fn millis_between(start: &str, end: &str) -> Option<f64> {
    let s = super::convert::normalize_timestamp(start).ok()?;
    let e = super::convert::normalize_timestamp(end).ok()?;
    let s = chrono::DateTime::parse_from_rfc3339(&s).ok()?;
    let e = chrono::DateTime::parse_from_rfc3339(&e).ok()?;
    let ms = (e - s).num_milliseconds();
    (ms >= 0).then_some(ms as f64)
}

/// Copy `from` (an input value) into `out[field]` when present.
fn put(out: &mut Map<String, Value>, field: &str, from: Option<&Value>) {
    if let Some(v) = from.filter(|v| !v.is_null() && v.as_str() != Some("")) {
        out.insert(field.into(), v.clone());
    }
}

// ---------------------------------------------------------------- LiteLLM

fn litellm_operation(call_type: &str) -> &'static str {
    let t = call_type.trim().to_ascii_lowercase();
    let t = t
        .strip_prefix('a')
        .filter(|rest| {
            // `acompletion`, `aembedding`...: the async twins
            [
                "completion",
                "embedding",
                "text_completion",
                "image_generation",
                "responses",
                "transcription",
                "speech",
                "rerank",
            ]
            .iter()
            .any(|k| rest.starts_with(k))
        })
        .unwrap_or(&t)
        .to_string();
    match t.as_str() {
        "embedding" | "embeddings" => "embeddings",
        "text_completion" => "text_completion",
        "image_generation" => "image_generation",
        "transcription" | "speech" => "audio",
        "rerank" => "rerank",
        _ => "chat",
    }
}

fn litellm_fields(row: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    put(&mut out, "event_id", row.get("request_id"));
    put(&mut out, "timestamp", row.get("startTime"));
    let model = text(row.get("model")).or_else(|| text(row.get("model_group")));
    if let Some(m) = model {
        out.insert("model".into(), Value::from(m));
    }
    put(&mut out, "provider", row.get("custom_llm_provider"));
    put(&mut out, "input_tokens", row.get("prompt_tokens"));
    put(&mut out, "output_tokens", row.get("completion_tokens"));
    put(&mut out, "cost_usd", row.get("spend"));
    let start = text(row.get("startTime"));
    let end = text(row.get("endTime"));
    let latency = number(row.get("request_duration_ms")).or_else(|| match (&start, &end) {
        (Some(s), Some(e)) => millis_between(s, e),
        _ => None,
    });
    if let Some(l) = latency {
        out.insert("latency_ms".into(), Value::from(l));
    }
    // LiteLLM sets completionStartTime to endTime when the call did not stream.
    if let (Some(s), Some(first), Some(e)) = (&start, text(row.get("completionStartTime")), &end)
        && &first != e
        && let Some(ttft) = millis_between(s, &first)
    {
        out.insert("ttft_ms".into(), Value::from(ttft));
    }
    if let Some(ct) = text(row.get("call_type")) {
        out.insert("operation".into(), Value::from(litellm_operation(&ct)));
    }
    let tenant = ["team_id", "organization_id", "end_user", "user"]
        .iter()
        .find_map(|k| text(row.get(*k)));
    if let Some(t) = tenant {
        out.insert("tenant".into(), Value::from(t));
    }
    let tags: Vec<String> = match row.get("request_tags") {
        Some(Value::Array(a)) => a.iter().filter_map(|t| text(Some(t))).collect(),
        Some(Value::String(s)) => serde_json::from_str::<Vec<String>>(s).unwrap_or_default(),
        _ => Vec::new(),
    };
    if let Some(first) = tags.first() {
        out.insert("feature".into(), Value::from(first.clone()));
    }
    put(&mut out, "trace_id", row.get("session_id"));
    if let Some(status) = text(row.get("status")) {
        out.insert("status".into(), Value::from(status));
    }
    if let Some(meta) = object(row.get("metadata")) {
        if let Some(usage) = meta.get("usage_object").and_then(Value::as_object) {
            let cached = usage
                .get("prompt_tokens_details")
                .and_then(|d| d.get("cached_tokens"))
                .or_else(|| usage.get("cache_read_input_tokens"));
            put(&mut out, "cache_read_tokens", cached);
            put(
                &mut out,
                "cache_write_tokens",
                usage.get("cache_creation_input_tokens"),
            );
            put(
                &mut out,
                "reasoning_tokens",
                usage
                    .get("completion_tokens_details")
                    .and_then(|d| d.get("reasoning_tokens")),
            );
        }
        if let Some(err) = meta
            .get("error_information")
            .and_then(|e| e.get("error_class"))
        {
            put(&mut out, "error_type", Some(err));
        }
        if !out.contains_key("feature") {
            put(&mut out, "feature", meta.get("user_api_key_alias"));
        }
    }
    out
}

/// LiteLLM spend logs: JSON lines, a JSON array (`/spend/logs`), an API page with `data`
/// (`/spend/logs/v2`), or a CSV export of the table.
pub(crate) fn litellm_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    if looks_like_csv(path)? {
        return csv_rows(path, c, |c, line, row| {
            keep(c, line, None, &JsonFields(&litellm_fields(row)))
        });
    }
    json::records_file(path, c, true, |c, line, span, v| match v {
        Value::Object(row) => keep(c, line, span, &JsonFields(&litellm_fields(row))),
        _ => {
            c.reject(line, span, "expected a LiteLLM spend log object".into());
            Ok(())
        }
    })
}

fn looks_like_csv<E>(path: &Path) -> Result<bool, IngestError<E>> {
    let mut head = [0u8; 512];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| IngestError::Io(format!("path: cannot read {}: {e}", path.display())))?;
    let first = head[..n].iter().find(|b| !b.is_ascii_whitespace()).copied();
    Ok(!matches!(first, Some(b'{') | Some(b'[')))
}

/// Each CSV row as a JSON object of strings keyed by the header, with its line.
fn csv_rows<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
    mut each: impl FnMut(
        &mut Collector<'_, '_, E>,
        u64,
        &Map<String, Value>,
    ) -> Result<(), IngestError<E>>,
) -> Result<(), IngestError<E>> {
    let file = File::open(path)
        .map_err(|e| IngestError::Io(format!("path: cannot open {}: {e}", path.display())))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| {
            IngestError::Invalid(format!(
                "path: {} has no readable CSV header: {e}",
                path.display()
            ))
        })?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut row = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut row) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = row.position().map(|p| p.line()).unwrap_or(line);
                if row.len() != header.len() {
                    c.reject(
                        line,
                        None,
                        format!(
                            "the row has {} fields, the header {}",
                            row.len(),
                            header.len()
                        ),
                    );
                    continue;
                }
                let map: Map<String, Value> = header
                    .iter()
                    .zip(row.iter())
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(k, v)| (k.clone(), Value::from(v.trim())))
                    .collect();
                each(c, line, &map)?;
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(IngestError::Io(format!(
                        "path: read error in {} after line {line}: {e}",
                        path.display()
                    )));
                }
                c.reject(line, None, format!("unreadable CSV row: {e}"));
            }
        }
    }
}

// ---------------------------------------------------------------- Langfuse

/// What a Langfuse observation type is to us; None: not model or agent work (skipped).
fn langfuse_operation(kind: &str, has_usage: bool) -> Option<&'static str> {
    match kind.to_ascii_uppercase().as_str() {
        "GENERATION" => Some("chat"),
        "EMBEDDING" => Some("embeddings"),
        "AGENT" => Some("invoke_agent"),
        "TOOL" | "RETRIEVER" => Some("execute_tool"),
        _ if has_usage => Some("chat"),
        _ => None,
    }
}

/// Sum the usage-detail keys that belong to `base` (`input`, `output`): the base key and
/// its detail keys, which Langfuse counts separately (`input_cached_tokens`,
/// `cache_read_input_tokens`, `output_reasoning_tokens`...).
fn usage_sum(details: &Map<String, Value>, base: &str) -> Option<f64> {
    let mut total = None::<f64>;
    for (k, v) in details {
        let belongs = k == base
            || k.starts_with(&format!("{base}_"))
            || (base == "input" && k.starts_with("cache_") && k.ends_with("input_tokens"));
        if belongs && let Some(n) = number(Some(v)) {
            *total.get_or_insert(0.0) += n;
        }
    }
    total
}

fn langfuse_fields(o: &Map<String, Value>) -> Option<Map<String, Value>> {
    let details = object(o.get("usageDetails")).filter(|d| !d.is_empty());
    let legacy = object(o.get("usage"));
    let has_usage = details.is_some()
        || legacy
            .as_ref()
            .is_some_and(|u| number(u.get("input")).is_some_and(|n| n > 0.0));
    let kind = text(o.get("type")).unwrap_or_default();
    let operation = langfuse_operation(&kind, has_usage)?;
    let mut out = Map::new();
    out.insert("operation".into(), Value::from(operation));
    put(&mut out, "event_id", o.get("id"));
    put(&mut out, "span_id", o.get("id"));
    put(&mut out, "trace_id", o.get("traceId"));
    put(&mut out, "parent_span_id", o.get("parentObservationId"));
    put(&mut out, "timestamp", o.get("startTime"));
    put(&mut out, "model", o.get("model"));
    put(&mut out, "feature", o.get("name"));
    let start = text(o.get("startTime"));
    let latency = match (&start, text(o.get("endTime"))) {
        (Some(s), Some(e)) => millis_between(s, &e),
        _ => None,
    }
    .or_else(|| number(o.get("latency")).map(|s| s * 1000.0));
    if let Some(l) = latency {
        out.insert("latency_ms".into(), Value::from(l));
    }
    let ttft = match (&start, text(o.get("completionStartTime"))) {
        (Some(s), Some(first)) => millis_between(s, &first),
        _ => None,
    }
    .or_else(|| number(o.get("timeToFirstToken")).map(|s| s * 1000.0));
    if let Some(t) = ttft {
        out.insert("ttft_ms".into(), Value::from(t));
    }
    if let Some(d) = &details {
        if let Some(n) = usage_sum(d, "input") {
            out.insert("input_tokens".into(), Value::from(n));
        }
        if let Some(n) = usage_sum(d, "output") {
            out.insert("output_tokens".into(), Value::from(n));
        }
        let first = |keys: &[&str]| keys.iter().find_map(|k| d.get(*k).cloned());
        if let Some(v) = first(&[
            "input_cached_tokens",
            "cache_read_input_tokens",
            "input_cache_read",
        ]) {
            out.insert("cache_read_tokens".into(), v);
        }
        if let Some(v) = first(&["cache_creation_input_tokens", "input_cache_creation"]) {
            out.insert("cache_write_tokens".into(), v);
        }
        if let Some(v) = first(&["output_reasoning_tokens", "output_reasoning"]) {
            out.insert("reasoning_tokens".into(), v);
        }
    } else if let Some(u) = &legacy {
        put(&mut out, "input_tokens", u.get("input"));
        put(&mut out, "output_tokens", u.get("output"));
    }
    let cost = object(o.get("costDetails"))
        .and_then(|d| d.get("total").cloned())
        .or_else(|| o.get("calculatedTotalCost").cloned())
        .or_else(|| o.get("totalCost").cloned());
    put(&mut out, "cost_usd", cost.as_ref());
    let error = text(o.get("level")).is_some_and(|l| l.eq_ignore_ascii_case("ERROR"));
    out.insert(
        "status".into(),
        Value::from(if error { "error" } else { "ok" }),
    );
    if error {
        put(&mut out, "error_type", o.get("statusMessage"));
    }
    Some(out)
}

/// Langfuse observations: a JSON export (array or JSON lines) or API pages with `data`.
pub(crate) fn langfuse_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    json::records_file(path, c, true, |c, line, span, v| {
        let Value::Object(o) = v else {
            c.reject(line, span, "expected a Langfuse observation object".into());
            return Ok(());
        };
        match langfuse_fields(o) {
            Some(fields) => keep(c, line, span, &JsonFields(&fields)),
            None => {
                let kind = text(o.get("type")).unwrap_or_else(|| "untyped".into());
                *skipped.entry(kind).or_default() += 1;
                Ok(())
            }
        }
    })?;
    for (kind, n) in skipped {
        c.skip(&format!("langfuse {kind} observations (no model usage)"), n);
    }
    Ok(())
}
