//! Organization usage and cost reports of OpenAI and Anthropic: time buckets of aggregated
//! usage, each result kept as one weighted record (`aggregated`, `weight` = the bucket's
//! request count, 0 where the report gives none). A bucket is not a call: it has no latency,
//! trace or prompt, so analyses that need those cannot use it.
//!
//! Sources of the field names:
//! - OpenAI: the Usage API `GET /v1/organization/usage/completions` (and `/embeddings`,
//!   `/moderations`) and the Costs API `GET /v1/organization/costs`
//!   (<https://platform.openai.com/docs/api-reference/usage>, and the cookbook "How to use
//!   the Usage API and Cost API"): pages `{"object": "page", "data": [bucket]}`, buckets
//!   `{"object": "bucket", "start_time", "end_time", "results": [...]}`, completions results
//!   `input_tokens` (cached included), `output_tokens`, `input_cached_tokens`,
//!   `num_model_requests`, `project_id`, `user_id`, `api_key_id`, `model`, `batch`; cost
//!   results `amount {value, currency}`, `line_item`, `project_id`.
//! - Anthropic: the Admin API `GET /v1/organizations/usage_report/messages` and
//!   `GET /v1/organizations/cost_report` (<https://docs.anthropic.com/en/api/admin-api>):
//!   buckets `{"starting_at", "ending_at", "results": [...]}`, usage results
//!   `uncached_input_tokens`, `cache_creation {ephemeral_1h_input_tokens,
//!   ephemeral_5m_input_tokens}`, `cache_read_input_tokens`, `output_tokens`, `model`,
//!   `service_tier`, `workspace_id`, `api_key_id`; cost results `amount` (a decimal string
//!   in cents), `currency`, `model`, `cost_type`, `token_type`, `description`,
//!   `service_tier`, `workspace_id`. The usage report gives no request count: weight 0.

use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::convert::{JsonFields, keep};
use super::json::{self, Doc, children, line_of};
use super::{Collector, IngestError};

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn unix_time(v: Option<&Value>) -> Option<String> {
    let secs = number(v)? as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// What [`results`] calls on each result: (line, index, bucket, result).
type EachResult<'f, E> = dyn FnMut(
        &mut Collector<'_, '_, E>,
        u64,
        usize,
        &Map<String, Value>,
        &Map<String, Value>,
    ) -> Result<(), IngestError<E>>
    + 'f;

/// Walk a report document: a page (`data`: buckets), a bucket, or a result on its own;
/// call `each(line, index, bucket_start, bucket_end, result)` per result.
fn results<E>(
    c: &mut Collector<'_, '_, E>,
    doc: &Doc<'_>,
    each: &mut EachResult<'_, E>,
) -> Result<(), IngestError<E>> {
    let buckets: Vec<&RawValue> = children(doc.raw, "data").unwrap_or_else(|| vec![doc.raw]);
    let mut index = 0usize;
    for bucket_raw in buckets {
        let bucket_line = line_of(doc.text, doc.base, bucket_raw);
        let bucket: Map<String, Value> = match serde_json::from_str(bucket_raw.get()) {
            Ok(b) => b,
            Err(e) => {
                c.reject(
                    bucket_line,
                    None,
                    format!("expected a report bucket object: {e}"),
                );
                continue;
            }
        };
        let items = children(bucket_raw, "results").or_else(|| children(bucket_raw, "result"));
        let Some(items) = items else {
            c.reject(
                bucket_line,
                None,
                "not a usage or cost report bucket: `results` is missing".into(),
            );
            continue;
        };
        for raw in items {
            index += 1;
            let line = line_of(doc.text, doc.base, raw);
            match serde_json::from_str::<Map<String, Value>>(raw.get()) {
                Ok(result) => each(c, line, index, &bucket, &result)?,
                Err(e) => c.reject(line, Some(index), format!("expected a result object: {e}")),
            }
        }
    }
    Ok(())
}

/// Batch prices for batch buckets (the catalog's `cost` is the interactive price).
fn batch_cost(
    c: &Collector<'_, '_, impl Sized>,
    model: &str,
    input: f64,
    cached: f64,
    output: f64,
) -> Option<f64> {
    let p = c.opts.catalog.get(model)?;
    let cached = cached.min(input);
    Some(((input - cached) * p.batch_input + cached * p.cache_read + output * p.batch_output) / 1e6)
}

/// A translated result, or why it is skipped (counted under that reason).
enum Skip {
    Keep(Map<String, Value>),
    Because(String),
}

fn openai_result(
    c: &mut Collector<'_, '_, impl Sized>,
    bucket: &Map<String, Value>,
    r: &Map<String, Value>,
) -> Result<Skip, String> {
    let kind = text(r.get("object")).unwrap_or_default();
    let mut out = Map::new();
    out.insert("aggregated".into(), Value::from("true"));
    out.insert("provider".into(), Value::from("openai"));
    let ts = unix_time(bucket.get("start_time"))
        .ok_or("bucket: `start_time` (Unix seconds) is missing")?;
    out.insert("timestamp".into(), Value::from(ts));
    if let Some(p) = text(r.get("project_id")) {
        out.insert("tenant".into(), Value::from(p));
    }
    if kind == "organization.costs.result" {
        let amount = r.get("amount").ok_or("cost result: `amount` is missing")?;
        let currency = text(amount.get("currency")).unwrap_or_else(|| "usd".into());
        if !currency.eq_ignore_ascii_case("usd") {
            return Err(format!(
                "cost result: currency `{currency}` is not accepted; costs are kept in USD"
            ));
        }
        let value = number(amount.get("value")).ok_or("cost result: `amount.value` is missing")?;
        out.insert("cost_usd".into(), Value::from(value));
        out.insert("weight".into(), Value::from(0));
        if let Some(item) = text(r.get("line_item")) {
            // "gpt-4o-2024-08-06, input": the model when the catalog knows it
            let head = item.split(',').next().unwrap_or("").trim().to_string();
            if c.opts.catalog.get(&head).is_some() {
                out.insert("model".into(), Value::from(head));
            }
            out.insert("feature".into(), Value::from(item));
        }
        return Ok(Skip::Keep(out));
    }
    let operation = match kind.as_str() {
        "organization.usage.completions.result" | "" => "chat",
        "organization.usage.embeddings.result" => "embeddings",
        other => return Ok(Skip::Because(format!("openai {other} (no token usage)"))),
    };
    out.insert("operation".into(), Value::from(operation));
    let requests = number(r.get("num_model_requests"))
        .ok_or("usage result: `num_model_requests` is missing")?;
    out.insert("weight".into(), Value::from(requests));
    for (field, key) in [
        ("model", "model"),
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_tokens", "input_cached_tokens"),
        ("feature", "api_key_id"),
    ] {
        if let Some(v) = r.get(key).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    if !out.contains_key("output_tokens") {
        out.insert("output_tokens".into(), Value::from(0));
    }
    if r.get("batch").and_then(Value::as_bool) == Some(true) {
        out.insert("workload_type".into(), Value::from("batch"));
        if let Some(model) = text(r.get("model")) {
            let n = |k: &str| number(r.get(k)).unwrap_or(0.0);
            if let Some(cost) = batch_cost(
                c,
                &model,
                n("input_tokens"),
                n("input_cached_tokens"),
                n("output_tokens"),
            ) {
                c.fill("cost_usd");
                out.insert("cost_usd".into(), Value::from(cost));
            }
        }
    }
    Ok(Skip::Keep(out))
}

fn anthropic_result(
    c: &mut Collector<'_, '_, impl Sized>,
    bucket: &Map<String, Value>,
    r: &Map<String, Value>,
) -> Result<Skip, String> {
    let mut out = Map::new();
    out.insert("aggregated".into(), Value::from("true"));
    out.insert("provider".into(), Value::from("anthropic"));
    out.insert("weight".into(), Value::from(0));
    let ts = text(bucket.get("starting_at")).ok_or("bucket: `starting_at` is missing")?;
    out.insert("timestamp".into(), Value::from(ts));
    if let Some(w) = text(r.get("workspace_id")) {
        out.insert("tenant".into(), Value::from(w));
    }
    if let Some(m) = text(r.get("model")) {
        out.insert("model".into(), Value::from(m));
    }
    let batch = text(r.get("service_tier")).as_deref() == Some("batch");
    if batch {
        out.insert("workload_type".into(), Value::from("batch"));
    }
    if let Some(amount) = r.get("amount") {
        let currency = text(r.get("currency")).unwrap_or_else(|| "USD".into());
        if !currency.eq_ignore_ascii_case("usd") {
            return Err(format!(
                "cost result: currency `{currency}` is not accepted; costs are kept in USD"
            ));
        }
        let cents = number(Some(amount)).ok_or_else(|| {
            format!("cost result: `amount` {amount} is not a decimal amount in cents")
        })?;
        out.insert("cost_usd".into(), Value::from(cents / 100.0));
        if let Some(d) = text(r.get("description")) {
            out.insert("feature".into(), Value::from(d));
        }
        return Ok(Skip::Keep(out));
    }
    let n = |k: &str| number(r.get(k));
    let uncached = n("uncached_input_tokens").ok_or(
        "usage result: `uncached_input_tokens` is missing (not an Anthropic usage report)",
    )?;
    let creation = r.get("cache_creation");
    let write = number(creation.and_then(|c| c.get("ephemeral_1h_input_tokens"))).unwrap_or(0.0)
        + number(creation.and_then(|c| c.get("ephemeral_5m_input_tokens"))).unwrap_or(0.0);
    let read = n("cache_read_input_tokens").unwrap_or(0.0);
    let output = n("output_tokens").unwrap_or(0.0);
    // Our input_tokens include the cached parts (see apex_core::pricing).
    out.insert("input_tokens".into(), Value::from(uncached + write + read));
    out.insert("cache_read_tokens".into(), Value::from(read));
    out.insert("cache_write_tokens".into(), Value::from(write));
    out.insert("output_tokens".into(), Value::from(output));
    if let Some(k) = text(r.get("api_key_id")) {
        out.insert("feature".into(), Value::from(k));
    }
    if batch
        && let Some(model) = text(r.get("model"))
        && let Some(cost) = batch_cost(c, &model, uncached + read, read, output)
    {
        // cache writes are not discounted in batch: price them at the cache-write rate
        let extra = c
            .opts
            .catalog
            .get(&model)
            .map(|p| write * p.cache_write / 1e6)
            .unwrap_or(0.0);
        c.fill("cost_usd");
        out.insert("cost_usd".into(), Value::from(cost + extra));
    }
    Ok(Skip::Keep(out))
}

type ResultFn<E> =
    fn(&mut Collector<'_, '_, E>, &Map<String, Value>, &Map<String, Value>) -> Result<Skip, String>;

fn report_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
    translate: ResultFn<E>,
) -> Result<(), IngestError<E>> {
    json::documents(path, c, |c, doc| {
        results(
            c,
            doc,
            &mut |c, line, index, bucket, result| match translate(c, bucket, result) {
                Ok(Skip::Keep(fields)) => keep(c, line, Some(index), &JsonFields(&fields)),
                Ok(Skip::Because(reason)) => {
                    c.skip(&reason, 1);
                    Ok(())
                }
                Err(e) => {
                    c.reject(line, Some(index), e);
                    Ok(())
                }
            },
        )
    })
}

pub(crate) fn openai_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    report_file(path, c, |c, b, r| openai_result(c, b, r))
}

pub(crate) fn anthropic_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    report_file(path, c, |c, b, r| anthropic_result(c, b, r))
}
