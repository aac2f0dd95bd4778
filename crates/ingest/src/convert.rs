//! One input record in the workload vocabulary -> a [`WorkloadRow`] (its text borrowed from
//! the input where it can be) and the quality flags raised on it. Every format ends here: JSONL and CSV directly (through the header map),
//! the others after translating their fields into ours.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use arrow::array::RecordBatch;
use serde_json::{Map, Value};

use super::{Collector, IngestError, ParseOptions};
use apex_core::workload::{NON_MODEL_OPERATIONS, QualityFlag, WorkloadRow};

/// Field values of one input record, whatever the format.
pub(crate) trait Fields {
    /// The raw value of `name`, if present and not empty/null (borrowed where it can be).
    fn text(&self, name: &str) -> Option<Cow<'_, str>>;
    /// A number, or None when absent; Err names the field and the value.
    fn number(&self, name: &str) -> Result<Option<f64>, String>;
    /// The record's time in UTC milliseconds, where the input gives it as a number (an OTLP
    /// span's start): then `timestamp` is not read as text.
    fn timestamp_ms(&self) -> Option<i64> {
        None
    }
}

pub(crate) struct JsonFields<'a>(pub &'a Map<String, Value>);

impl Fields for JsonFields<'_> {
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        value_text(self.0.get(name))
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        value_number(name, self.0.get(name))
    }
}

/// [`Fields::text`] of a JSON value: absent for null and the empty string, a string's
/// text, any other value as JSON.
pub(crate) fn value_text(v: Option<&Value>) -> Option<Cow<'_, str>> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// [`Fields::number`] of field `name`'s JSON value: a number, or a string holding one.
pub(crate) fn value_number(name: &str, v: Option<&Value>) -> Result<Option<f64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => text_number(name, s),
        Some(other) => Err(format!("field `{name}`: expected a number, got {other}")),
    }
}

/// [`Fields::number`] of field `name`'s text: blank is absent.
pub(crate) fn text_number(name: &str, s: &str) -> Result<Option<f64>, String> {
    match s.trim() {
        "" => Ok(None),
        t => t
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("field `{name}`: `{s}` is not a number")),
    }
}

/// Where each of our fields is in a CSV row: its column (through the header map), by slot
/// ([`super::fast::slot`]), and the input's name for it, for messages.
pub(crate) struct CsvLayout {
    pub(crate) column: [Option<usize>; super::fast::SLOTS],
    pub(crate) theirs: Vec<String>,
}

impl CsvLayout {
    pub(crate) fn new(
        header: &BTreeMap<String, usize>,
        columns: &BTreeMap<String, String>,
    ) -> Self {
        let theirs: Vec<String> = super::fast::fields()
            .map(|ours| columns.get(ours).cloned().unwrap_or(ours.to_string()))
            .collect();
        let mut column = [None; super::fast::SLOTS];
        for (slot, name) in column.iter_mut().zip(&theirs) {
            *slot = header.get(name).copied();
        }
        Self { column, theirs }
    }

    /// An input's columns (`names`, in `what`: "the CSV header of x.csv") checked against the
    /// column map: every column the map names is there, and so is every required field's.
    pub(crate) fn check_columns(
        what: &str,
        names: &[&str],
        columns: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let unknown: Vec<String> = columns
            .iter()
            .filter(|(_, theirs)| !names.contains(&theirs.as_str()))
            .map(|(ours, theirs)| format!("`{theirs}` (for {ours})"))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "columns: {what} has no column {}; its columns are: {}",
                unknown.join(", "),
                names.join(", ")
            ));
        }
        let missing: Vec<&str> = REQUIRED_CSV
            .iter()
            .filter(|ours| {
                let theirs = columns.get(**ours).map_or(**ours, String::as_str);
                !names.contains(&theirs)
            })
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "path: {what} lacks the column(s) {}; required: {} (other workload columns are optional; \
                 name columns of another vocabulary with columns={{\"our_field\": \"their column\"}}); its columns are: {}",
                missing.join(", "),
                REQUIRED_CSV.join(", "),
                names.join(", ")
            ));
        }
        Ok(())
    }

    /// Field `name`'s text as a number; the error names the input's column and, for a mapped
    /// field, ours after it.
    pub(crate) fn number(
        &self,
        name: &str,
        text: Option<Cow<'_, str>>,
    ) -> Result<Option<f64>, String> {
        let Some(s) = text else {
            return Ok(None);
        };
        s.parse::<f64>().map(Some).map_err(|_| {
            let theirs = super::fast::slot(name).map_or(name, |i| self.theirs[i].as_str());
            let e = format!("field `{theirs}`: `{s}` is not a number");
            if theirs == name {
                e
            } else {
                format!("{e} (mapped to `{name}`)")
            }
        })
    }
}

/// One CSV row's fields by our names, looked up through its file's [`CsvLayout`].
struct CsvFields<'a> {
    layout: &'a CsvLayout,
    row: CsvRow<'a>,
}

/// One row of a [`CsvBatch`]: its fields are `text[start..ends[0]]`, `text[ends[0]..ends[1]]`...
#[derive(Clone, Copy)]
struct CsvRow<'a> {
    text: &'a str,
    start: usize,
    ends: &'a [usize],
}

impl<'a> CsvRow<'a> {
    fn get(&self, i: usize) -> Option<&'a str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { self.start } else { self.ends[i - 1] };
        self.text.get(start..end)
    }
}

impl Fields for CsvFields<'_> {
    #[inline]
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        let column = self.layout.column[super::fast::slot(name)?]?;
        let v = self.row.get(column)?.trim();
        (!v.is_empty()).then_some(Cow::Borrowed(v))
    }

    /// As [`Mapped`] says it: the input's column in the message and, for a mapped field,
    /// ours after it.
    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        self.layout.number(name, self.text(name))
    }
}

/// Our field names looked up under the input's names (`columns={"ours": "theirs"}`).
struct Mapped<'a> {
    inner: &'a dyn Fields,
    columns: &'a BTreeMap<String, String>,
}

impl Mapped<'_> {
    fn key<'k>(&'k self, name: &'k str) -> &'k str {
        self.columns.get(name).map(String::as_str).unwrap_or(name)
    }
}

impl Fields for Mapped<'_> {
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.inner.text(self.key(name))
    }

    fn timestamp_ms(&self) -> Option<i64> {
        (self.key("timestamp") == "timestamp")
            .then(|| self.inner.timestamp_ms())
            .flatten()
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        // Errors name our field and, when mapped, the input's column too.
        self.inner.number(self.key(name)).map_err(|e| {
            if self.key(name) == name {
                e
            } else {
                format!("{e} (mapped to `{name}`)")
            }
        })
    }
}

/// A token count as read: absent, a non-negative integer, or something else (kept as 0 and
/// flagged, with what was read).
enum Tokens {
    Missing,
    Valid(u64),
    Invalid(String),
}

fn tokens<F: Fields + ?Sized>(f: &F, name: &str) -> Tokens {
    match f.number(name) {
        Ok(None) => Tokens::Missing,
        Ok(Some(v)) if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 => Tokens::Valid(v as u64),
        Ok(Some(v)) => Tokens::Invalid(format!("{name} = {v}")),
        Err(_) => Tokens::Invalid(format!("{name} = `{}`", f.text(name).unwrap_or_default())),
    }
}

fn non_negative<F: Fields + ?Sized>(f: &F, name: &str) -> Result<Option<f64>, String> {
    match f.number(name)? {
        Some(v) if !(v >= 0.0 && v.is_finite()) => Err(format!(
            "field `{name}`: {v} is not accepted; use a non-negative number"
        )),
        other => Ok(other),
    }
}

/// Normalize an RFC 3339 time (or `YYYY-MM-DD HH:MM:SS[.fff]`, taken as UTC, as SQL
/// exports write it) to UTC with milliseconds.
pub fn normalize_timestamp(s: &str) -> Result<String, String> {
    timestamp_ms(s).map(apex_core::time::format_timestamp_ms)
}

/// The milliseconds since the epoch of a time [`normalize_timestamp`] accepts. A time already
/// in the stored form is read without chrono.
fn timestamp_ms(s: &str) -> Result<i64, String> {
    if let Some(ms) = apex_core::time::canonical_ms(s) {
        return Ok(ms);
    }
    let t = s.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").map(|n| n.and_utc())
        })
        .or_else(|_| {
            // Postgres `timestamptz` text: `2026-01-01 12:00:00.123+00`.
            chrono::DateTime::parse_from_str(&format!("{t}00"), "%Y-%m-%d %H:%M:%S%.f%#z")
                .map(|d| d.with_timezone(&chrono::Utc))
        });
    parsed.map(|d| d.timestamp_millis()).map_err(|_| {
        format!("field `timestamp`: `{s}` is not an RFC 3339 time (e.g. 2026-01-01T12:00:00Z)")
    })
}

fn normalize_status(s: &str) -> Option<&'static str> {
    // The stored words themselves, without a lowercased copy.
    match s {
        "ok" => return Some("ok"),
        "error" => return Some("error"),
        _ => {}
    }
    match s.trim().to_ascii_lowercase().as_str() {
        "ok" | "success" | "succeeded" | "completed" | "unset" | "status_code_ok"
        | "status_code_unset" | "default" | "debug" | "0" | "1" | "200" => Some("ok"),
        "error" | "err" | "failed" | "failure" | "fail" | "status_code_error" | "2" => {
            Some("error")
        }
        _ => None,
    }
}

/// A given cost disagrees with the catalog's price of the tokens when the larger is more
/// than ten times the smaller (amounts under a millionth of a dollar agree with anything).
fn disagrees(given: f64, expected: f64) -> bool {
    let (lo, hi) = if given < expected {
        (given, expected)
    } else {
        (expected, given)
    };
    hi > 1e-6 && hi > 10.0 * lo
}

/// A record converted: the row, the quality flags raised on it, the fields filled in.
pub(crate) struct Converted<'a> {
    pub row: WorkloadRow<'a>,
    pub flags: Vec<(QualityFlag, String)>,
    pub filled: Vec<&'static str>,
}

/// The event id of a record that has none: `<id_prefix>-<line>[-<span>]`.
fn default_id(opts: &ParseOptions<'_>, line: u64, span: Option<usize>) -> String {
    match span {
        Some(s) => format!("{}-{line}-{s}", opts.id_prefix),
        None => format!("{}-{line}", opts.id_prefix),
    }
}

/// Turn one input record, in our field names (see [`Mapped`] for inputs in another
/// vocabulary), into a workload record and the flags raised on it, filling what may be
/// filled. `line` and `span` make the event id of a record without one. Err is the reason
/// the record cannot be kept at all (no usable timestamp, no model on a model call...).
///
/// Generic over the fields, so that for the JSON-lines reader's ([`super::fast`]) each
/// lookup by a constant name compiles to its slot.
pub(crate) fn convert<'a, F: Fields + ?Sized>(
    f: &'a F,
    opts: &'a ParseOptions<'_>,
    line: u64,
    span: Option<usize>,
) -> Result<Converted<'a>, String> {
    let catalog = opts.catalog;
    let mut filled: Vec<&'static str> = Vec::new();
    let mut flags: Vec<(QualityFlag, String)> = Vec::new();
    let weight = match f.number("weight")? {
        None => 1,
        Some(w) if w >= 0.0 && w.fract() == 0.0 => w as u64,
        Some(w) => {
            return Err(format!(
                "field `weight`: {w} is not accepted; a weight counts calls (0 or more)"
            ));
        }
    };
    let aggregated = f.text("aggregated").is_some_and(|a| a == "true");
    let operation = match f.text("operation") {
        Some(o) => o,
        None => {
            filled.push("operation");
            Cow::Borrowed("chat")
        }
    };
    let model_call = !NON_MODEL_OPERATIONS.contains(&operation.as_ref());
    let ms = match f.timestamp_ms() {
        Some(ms) => ms,
        None => timestamp_ms(&f.text("timestamp").ok_or("field `timestamp` is missing")?)?,
    };
    let secs = ms.div_euclid(1000);
    let timestamp = || apex_core::time::format_timestamp_ms(ms);
    if secs > opts.now.timestamp() + super::FUTURE_SLACK_S {
        flags.push((
            QualityFlag::FutureTimestamp,
            format!("{} is after the time of ingest", timestamp()),
        ));
    }
    if secs < 1_420_070_400 {
        flags.push((
            QualityFlag::AncientTimestamp,
            format!("{} is before 2015-01-01", timestamp()),
        ));
    }
    let model = match f.text("model") {
        Some(m) => m,
        None if !model_call || aggregated => Cow::Borrowed(""),
        None => return Err("field `model` is missing".into()),
    };
    let price = catalog.get(&model);
    if price.is_none() && !model.is_empty() {
        flags.push((
            QualityFlag::UnknownModel,
            format!("model `{model}` is not in the price catalog"),
        ));
    }
    let provider = match f.text("provider") {
        Some(p) => p,
        None if model.is_empty() => Cow::Borrowed(""),
        None => {
            filled.push("provider");
            Cow::Borrowed(price.map_or("unknown", |p| p.provider.as_str()))
        }
    };
    // Token counts: a missing count is an error on a model call (not on a tool/agent span
    // or a bucket, which may carry none); one that is not a non-negative integer is kept as
    // 0 and flagged.
    let mut token_seen = false;
    let mut invalid: Vec<String> = Vec::new();
    let mut count = |name: &str, required: bool| -> Result<u64, String> {
        match tokens(f, name) {
            Tokens::Valid(v) => {
                token_seen = true;
                Ok(v)
            }
            Tokens::Invalid(what) => {
                token_seen = true;
                invalid.push(what);
                Ok(0)
            }
            Tokens::Missing if required && model_call && !aggregated => {
                Err(format!("field `{name}` is missing"))
            }
            Tokens::Missing => Ok(0),
        }
    };
    let input_tokens = count("input_tokens", true)?;
    let output_tokens = count("output_tokens", true)?;
    let cache_read_tokens = count("cache_read_tokens", false)?;
    let cache_write_tokens = count("cache_write_tokens", false)?;
    let reasoning_tokens = count("reasoning_tokens", false)?;
    if !invalid.is_empty() {
        flags.push((
            QualityFlag::InvalidTokens,
            format!(
                "{} (token counts are non-negative integers; stored as 0)",
                invalid.join(", ")
            ),
        ));
    }
    let latency_ms = match non_negative(f, "latency_ms")? {
        Some(l) => l,
        None if aggregated || !model_call => 0.0,
        None => return Err("field `latency_ms` is missing".into()),
    };
    let ttft_ms = non_negative(f, "ttft_ms")?;
    let error_type = f.text("error_type");
    let status = match f.text("status") {
        Some(s) => normalize_status(&s)
            .ok_or_else(|| format!("field `status`: `{s}` is not accepted; use ok or error"))?,
        None => {
            filled.push("status");
            if error_type.is_some() { "error" } else { "ok" }
        }
    };
    let priced = price.map(|p| {
        p.cost(
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
        )
    });
    let cost_usd = match non_negative(f, "cost_usd")? {
        Some(given) => {
            // A failed call that was not billed is not a disagreement: providers do not charge
            // for most failed requests, though the log still counts the prompt's tokens.
            let unbilled_failure = given == 0.0 && status == "error";
            if let Some(expected) = priced
                && token_seen
                && !unbilled_failure
                && disagrees(given, expected)
            {
                flags.push((
                    QualityFlag::CostMismatch,
                    format!(
                        "cost_usd {given} vs {expected:.6} for these tokens at the catalog's `{model}` prices"
                    ),
                ));
            }
            given
        }
        None if model.is_empty() => {
            if aggregated && input_tokens + output_tokens > 0 {
                flags.push((
                    QualityFlag::Unpriced,
                    "a usage bucket without a model cannot be priced (export it grouped by model); stored as 0".into(),
                ));
            }
            0.0
        }
        None => match priced {
            Some(p) => {
                filled.push("cost_usd");
                p
            }
            None => {
                flags.push((
                    QualityFlag::Unpriced,
                    format!("no cost given and model `{model}` has no catalog price; stored as 0"),
                ));
                0.0
            }
        },
    };
    let event_id = match f.text("event_id") {
        Some(e) => e,
        None => {
            filled.push("event_id");
            Cow::Owned(default_id(opts, line, span))
        }
    };
    let mut text_or = |name: &'static str, default: &Cow<'a, str>| match f.text(name) {
        Some(v) => v,
        None => {
            filled.push(name);
            default.clone()
        }
    };
    let unknown = Cow::Borrowed("unknown");
    let trace_id = text_or("trace_id", &event_id);
    let span_id = text_or("span_id", &event_id);
    let tenant = text_or("tenant", &unknown);
    let feature = text_or("feature", &unknown);
    let workload_type = text_or("workload_type", &unknown);
    let row = WorkloadRow {
        event_id,
        trace_id,
        span_id,
        parent_span_id: f.text("parent_span_id"),
        timestamp_ms: ms,
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
        status: Cow::Borrowed(status),
        error_type,
        finish_reason: f.text("finish_reason"),
        prompt_hash: f.text("prompt_hash"),
        cost_usd,
        weight,
        aggregated,
        quality_flags: None,
    };
    Ok(Converted { row, flags, filled })
}

/// Keep (or reject) one converted record.
pub(crate) fn collect<E>(
    c: &mut Collector<'_, '_, E>,
    line: u64,
    span: Option<usize>,
    converted: Result<Converted<'_>, String>,
) -> Result<(), IngestError<E>> {
    match converted {
        Ok(Converted { row, flags, filled }) => {
            for name in filled {
                c.fill(name);
            }
            c.accept(line, span, row, flags)
        }
        Err(e) => {
            c.reject(line, span, e);
            Ok(())
        }
    }
}

/// Convert (through the header map) and keep (or reject) one record of workload fields.
pub(crate) fn keep<E>(
    c: &mut Collector<'_, '_, E>,
    line: u64,
    span: Option<usize>,
    fields: &dyn Fields,
) -> Result<(), IngestError<E>> {
    let opts = c.opts;
    let mapped = Mapped {
        inner: fields,
        columns: &opts.columns,
    };
    collect(c, line, span, convert(&mapped, opts, line, span))
}

/// Keep (or reject) one JSON value of a JSONL (or JSON array) input in the workload schema.
pub(crate) fn json_record<E>(
    c: &mut Collector<'_, '_, E>,
    line: u64,
    span: Option<usize>,
    value: &Value,
) -> Result<(), IngestError<E>> {
    match value {
        Value::Object(map) => keep(c, line, span, &JsonFields(map)),
        _ => {
            c.reject(
                line,
                span,
                "expected a JSON object (one record per line)".into(),
            );
            Ok(())
        }
    }
}

/// Keep (or reject) one JSON line as the whole-value path reads it. The fast path
/// ([`super::fast`]) falls back to this for any line it does not read itself, so messages
/// are the same either way.
pub(crate) fn json_line<E>(
    c: &mut Collector<'_, '_, E>,
    line: u64,
    text: &str,
) -> Result<(), IngestError<E>> {
    let value = serde_json::from_str::<&serde_json::value::RawValue>(text)
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()));
    match value {
        Ok(value) => json_record(c, line, None, &value),
        Err(e) => {
            c.reject(line, None, format!("invalid JSON: {e}"));
            Ok(())
        }
    }
}

const REQUIRED_CSV: &[&str] = &[
    "timestamp",
    "model",
    "input_tokens",
    "output_tokens",
    "latency_ms",
];

/// Rows of a CSV file handed to a parsing thread at once.
const CSV_ROWS: usize = 4_096;

/// Rows of a CSV file as its reader found them, each with its line: the fields' text one
/// after another in one buffer, so a batch is a few allocations, not two per row.
#[derive(Default)]
struct CsvBatch {
    text: String,
    /// Where each field ends in `text`, row after row.
    ends: Vec<usize>,
    /// Per row: its line, and where it is.
    rows: Vec<(u64, CsvRowAt)>,
}

/// Where a row's text starts and which of the batch's field ends are its own, or why the
/// row could not be read.
type CsvRowAt = Result<(usize, std::ops::Range<usize>), String>;

impl CsvBatch {
    fn push(&mut self, line: u64, row: &csv::StringRecord) {
        let start = self.text.len();
        self.text.push_str(row.as_slice());
        let first = self.ends.len();
        self.ends.extend(
            (0..row.len())
                .filter_map(|i| row.range(i))
                .map(|r| start + r.end),
        );
        self.rows.push((line, Ok((start, first..self.ends.len()))));
    }
}

/// A CSV file in the workload schema, or in any other vocabulary through the header map.
/// The rows are read on one thread and converted, checked and prepared on all cores.
pub(crate) fn csv_file<E: Send, B: Send>(
    path: &Path,
    opts: &ParseOptions<'_>,
    parsed: &mut super::Parsed,
    prepare: &(dyn Fn(RecordBatch) -> Result<B, E> + Sync),
    write: &mut dyn FnMut(B) -> Result<(), E>,
) -> Result<(), IngestError<E>> {
    let file = File::open(path)
        .map_err(|e| IngestError::Io(format!("path: cannot open {}: {e}", path.display())))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let header: BTreeMap<String, usize> = rdr
        .headers()
        .map_err(|e| {
            IngestError::Invalid(format!(
                "path: {} has no readable CSV header: {e}",
                path.display()
            ))
        })?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().trim_start_matches('\u{feff}').to_string(), i))
        .collect();
    let columns = opts.columns.clone();
    let names: Vec<&str> = header.keys().map(String::as_str).collect();
    CsvLayout::check_columns(
        &format!("the CSV header of {}", path.display()),
        &names,
        &columns,
    )
    .map_err(IngestError::Invalid)?;
    let width = header.len();
    let produce = move |send: &mut dyn FnMut(CsvBatch) -> bool| {
        let mut batch = CsvBatch::default();
        let mut row = csv::StringRecord::new();
        loop {
            let line = rdr.position().line();
            match rdr.read_record(&mut row) {
                Ok(false) => break,
                Ok(true) => {
                    let line = row.position().map(|p| p.line()).unwrap_or(line);
                    batch.push(line, &row);
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(line);
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        send(batch);
                        return Err(format!(
                            "path: read error in {} after line {line}: {e}",
                            path.display()
                        ));
                    }
                    batch
                        .rows
                        .push((line, Err(format!("unreadable CSV row: {e}"))));
                }
            }
            if batch.rows.len() >= CSV_ROWS && !send(std::mem::take(&mut batch)) {
                return Ok(());
            }
        }
        if !batch.rows.is_empty() {
            send(batch);
        }
        Ok(())
    };
    let layout = &CsvLayout::new(&header, &columns);
    let work = |c: &mut Collector<'_, '_, E>, batch: CsvBatch| {
        for (line, row) in &batch.rows {
            match row {
                Ok((_, ends)) if ends.len() != width => c.reject(
                    *line,
                    None,
                    format!("the row has {} fields, the header {width}", ends.len()),
                ),
                Ok((start, ends)) => {
                    let row = CsvRow {
                        text: &batch.text,
                        start: *start,
                        ends: &batch.ends[ends.clone()],
                    };
                    let fields = CsvFields { layout, row };
                    let opts = c.opts;
                    collect(c, *line, None, convert(&fields, opts, *line, None))?
                }
                Err(reason) => c.reject(*line, None, reason.clone()),
            }
        }
        Ok(())
    };
    super::fast::on_all_cores(opts, parsed, produce, &work, prepare, write)
}
