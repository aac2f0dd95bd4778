//! The log formats people export today, read into workload records
//! ([`apex_core::workload::WorkloadRecord`]): JSONL or CSV in the workload schema (with a
//! header map for anything else), OTLP traces as JSON or protobuf with the GenAI semantic
//! conventions (current and older names, OpenLLMetry and OpenLIT variants), LiteLLM spend
//! logs, Langfuse observations, and the OpenAI and Anthropic organization usage and cost
//! reports (aggregated buckets, carried as weighted records).
//!
//! It owns parsing and the checks on what was read: every rejected line is kept with its
//! number and reason, every default filled in is counted, and bad values that can be kept (a
//! negative token count, a cost 10x off the catalog price, a timestamp in the future or
//! before 2015, an unknown model) are kept and flagged ([`QualityFlag`]), never fixed or
//! dropped. It stores nothing: records go out in batches through the caller's `write`
//! closure (or, with [`parse_file_with`], through a `prepare` step that runs on the parsing
//! threads, then `write` in input order), and the tally ([`Parsed`]) comes back at the end.
//! Each format's module names the public documentation its field names come from.

mod convert;
mod detect;
mod fast;
mod json;
mod otlp;
mod parquet;
mod providers;
mod usage;
mod wire;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use serde::Serialize;

use apex_core::columns::{RecordColumns, batch_to_records};
use apex_core::pricing::PriceCatalog;
use apex_core::time::format_timestamp_ms;
use apex_core::workload::{COLUMNS, QualityFlag, WorkloadRecord, WorkloadRow};

pub use detect::detect;
pub use otlp::{OtlpEncoding, decode_body, error_status, export_response};

/// Rejections listed one by one; beyond this they are counted only.
pub const MAX_LISTED_REJECTIONS: usize = 1_000;
/// Examples kept per quality flag; beyond this they are counted only.
pub const MAX_FLAG_EXAMPLES: usize = 20;
/// Records handed to `write` at once.
pub const BATCH: usize = 5_000;

/// The accepted log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Auto,
    Jsonl,
    Csv,
    OtlpJson,
    OtlpProto,
    Parquet,
    Litellm,
    Langfuse,
    OpenaiUsage,
    AnthropicUsage,
}

/// Every format name `format=` accepts, for messages and descriptions.
pub const FORMAT_NAMES: &str = "auto, jsonl, csv, otlp-json, otlp-proto, parquet, litellm, langfuse, openai-usage, anthropic-usage";

impl Format {
    /// Parse a `format=` value; the error names what is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Self::Auto,
            "jsonl" | "ndjson" | "json" => Self::Jsonl,
            "csv" => Self::Csv,
            "otlp-json" | "otlp" | "otlp_json" => Self::OtlpJson,
            "otlp-proto" | "otlp-protobuf" | "otlp_proto" | "protobuf" => Self::OtlpProto,
            "parquet" => Self::Parquet,
            "litellm" | "litellm-spend-logs" => Self::Litellm,
            "langfuse" | "langfuse-observations" => Self::Langfuse,
            "openai-usage" | "openai-costs" | "openai" => Self::OpenaiUsage,
            "anthropic-usage" | "anthropic-costs" | "anthropic" => Self::AnthropicUsage,
            other => {
                return Err(format!(
                    "format: `{other}` is not accepted; use one of {FORMAT_NAMES}"
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::OtlpJson => "otlp-json",
            Self::OtlpProto => "otlp-proto",
            Self::Parquet => "parquet",
            Self::Litellm => "litellm",
            Self::Langfuse => "langfuse",
            Self::OpenaiUsage => "openai-usage",
            Self::AnthropicUsage => "anthropic-usage",
        }
    }
}

/// How to read the input.
#[derive(Debug, Clone)]
pub struct ParseOptions<'a> {
    pub catalog: &'a PriceCatalog,
    /// Our field -> the input's column (CSV header or JSON key), for inputs in another
    /// vocabulary. Checked by [`check_columns`].
    pub columns: BTreeMap<String, String>,
    /// Event ids filled in are `<id_prefix>-<line>` (the dataset name, usually).
    pub id_prefix: String,
    /// Timestamps after this (plus [`FUTURE_SLACK_S`]) are flagged `future_timestamp`.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Clock skew tolerated before a timestamp counts as in the future, in seconds.
pub const FUTURE_SLACK_S: i64 = 300;

impl<'a> ParseOptions<'a> {
    pub fn new(catalog: &'a PriceCatalog, id_prefix: &str) -> Self {
        Self {
            catalog,
            columns: BTreeMap::new(),
            id_prefix: id_prefix.to_string(),
            now: chrono::Utc::now(),
        }
    }
}

/// The workload fields a header map may name (`columns={"our_field": "their column"}`):
/// the per-call columns of the schema, and `weight`.
fn mappable_fields() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().copied().chain(["weight"])
}

/// Check a header map: every key must be a workload field and every value non-empty.
pub fn check_columns(columns: &BTreeMap<String, String>) -> Result<(), String> {
    for (ours, theirs) in columns {
        if !mappable_fields().any(|f| f == ours) {
            return Err(format!(
                "columns: `{ours}` is not a workload field; map any of {}",
                mappable_fields().collect::<Vec<_>>().join(", ")
            ));
        }
        if theirs.trim().is_empty() {
            return Err(format!(
                "columns: `{ours}` maps to an empty column name; give the input's column or key"
            ));
        }
    }
    Ok(())
}

/// One rejected line (or span, or bucket result).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejection {
    /// The line of the input (for protobuf input: the message's number, from 1).
    pub line: u64,
    /// The item's number within the line's document (an OTLP span, a bucket result), from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<usize>,
    pub reason: String,
}

/// Where a quality flag was raised.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlagExample {
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<usize>,
    pub detail: String,
}

/// How often one quality flag was raised, with the first places.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FlagCount {
    pub count: u64,
    pub examples: Vec<FlagExample>,
}

/// What a parse read: counts, rejections, quality flags, spend.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Parsed {
    pub format: Format,
    /// Records kept (flagged ones included).
    pub accepted: u64,
    pub rejected: u64,
    /// The first [`MAX_LISTED_REJECTIONS`] rejections.
    pub rejections: Vec<Rejection>,
    /// Rejections counted but not listed.
    pub rejections_not_listed: u64,
    /// OTLP spans without GenAI attributes (not model or agent work), skipped and counted.
    pub skipped_spans: u64,
    /// Everything skipped as not model or agent work, by what it was (OTLP spans included).
    pub skipped: BTreeMap<String, u64>,
    /// Field -> how many records had it filled in (cost from the catalog, defaults).
    pub filled: BTreeMap<String, u64>,
    /// Records kept with at least one quality flag.
    pub flagged: u64,
    /// Flag name -> how many records carry it, with the first places.
    pub quality: BTreeMap<String, FlagCount>,
    /// Aggregated usage buckets among the accepted records.
    pub aggregated: u64,
    /// Model calls the accepted records stand for (the sum of their weights).
    pub calls: u64,
    pub spend_usd: f64,
    pub first: Option<String>,
    pub last: Option<String>,
}

impl Parsed {
    fn new(format: Format) -> Self {
        Self {
            format,
            accepted: 0,
            rejected: 0,
            rejections: Vec::new(),
            rejections_not_listed: 0,
            skipped_spans: 0,
            skipped: BTreeMap::new(),
            filled: BTreeMap::new(),
            flagged: 0,
            quality: BTreeMap::new(),
            aggregated: 0,
            calls: 0,
            spend_usd: 0.0,
            first: None,
            last: None,
        }
    }

    /// Add the tally of the input that follows this one (the next chunk of a file read in
    /// parallel): counts add up, listed rejections and flag examples stay the first ones in
    /// input order, `first`/`last` widen. Spend is a sum in another order than one record
    /// after another: equal to the last bits' rounding.
    fn absorb(&mut self, later: Parsed) {
        self.accepted += later.accepted;
        self.rejected += later.rejected;
        let room = MAX_LISTED_REJECTIONS.saturating_sub(self.rejections.len());
        let listed = later.rejections.len();
        self.rejections
            .extend(later.rejections.into_iter().take(room));
        self.rejections_not_listed +=
            later.rejections_not_listed + listed.saturating_sub(room) as u64;
        self.skipped_spans += later.skipped_spans;
        for (what, n) in later.skipped {
            *self.skipped.entry(what).or_default() += n;
        }
        for (field, n) in later.filled {
            *self.filled.entry(field).or_default() += n;
        }
        self.flagged += later.flagged;
        for (flag, count) in later.quality {
            let entry = self.quality.entry(flag).or_default();
            entry.count += count.count;
            let room = MAX_FLAG_EXAMPLES.saturating_sub(entry.examples.len());
            entry.examples.extend(count.examples.into_iter().take(room));
        }
        self.aggregated += later.aggregated;
        self.calls += later.calls;
        self.spend_usd += later.spend_usd;
        if let Some(f) = later.first
            && self.first.as_ref().is_none_or(|mine| f < *mine)
        {
            self.first = Some(f);
        }
        if let Some(l) = later.last
            && self.last.as_ref().is_none_or(|mine| l > *mine)
        {
            self.last = Some(l);
        }
    }
}

/// Why a parse stopped before the end of its input.
#[derive(Debug)]
pub enum IngestError<E> {
    /// The input cannot be read as the format at all (no header, not protobuf, a header map
    /// naming columns it lacks). The message starts with the argument at fault.
    Invalid(String),
    /// The input could not be read.
    Io(String),
    /// The caller's `write` failed (or asked to stop); its error, as given.
    Write(E),
}

impl<E: std::fmt::Display> std::fmt::Display for IngestError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(m) | Self::Io(m) => f.write_str(m),
            Self::Write(e) => e.fmt(f),
        }
    }
}

/// The parse in progress: options, the batch being filled (Arrow columns, each record
/// appended as it is read), the tally, the caller's writer.
pub(crate) struct Collector<'o, 'w, E> {
    pub(crate) opts: &'o ParseOptions<'o>,
    columns: RecordColumns,
    pub(crate) parsed: Parsed,
    /// Fields filled in and how often, in the order first filled (a handful of names).
    filled: Vec<(&'static str, u64)>,
    /// The earliest and latest timestamp accepted, in milliseconds.
    span_ms: Option<(i64, i64)>,
    write: &'w mut dyn FnMut(RecordBatch) -> Result<(), E>,
}

impl<'o, 'w, E> Collector<'o, 'w, E> {
    fn new(
        opts: &'o ParseOptions<'o>,
        format: Format,
        write: &'w mut dyn FnMut(RecordBatch) -> Result<(), E>,
    ) -> Self {
        Self {
            opts,
            columns: RecordColumns::with_capacity(BATCH),
            parsed: Parsed::new(format),
            filled: Vec::new(),
            span_ms: None,
            write,
        }
    }

    pub(crate) fn reject(&mut self, line: u64, span: Option<usize>, reason: String) {
        let p = &mut self.parsed;
        p.rejected += 1;
        if p.rejections.len() < MAX_LISTED_REJECTIONS {
            p.rejections.push(Rejection { line, span, reason });
        } else {
            p.rejections_not_listed += 1;
        }
    }

    /// Count `n` items skipped as not model or agent work.
    pub(crate) fn skip(&mut self, what: &str, n: u64) {
        *self.parsed.skipped.entry(what.to_string()).or_default() += n;
    }

    pub(crate) fn fill(&mut self, field: &'static str) {
        match self.filled.iter_mut().find(|(f, _)| *f == field) {
            Some((_, n)) => *n += 1,
            None => self.filled.push((field, 1)),
        }
    }

    /// Keep a record (with the flags raised on it): tallied, then appended to the batch's
    /// columns; a full batch goes to the writer.
    pub(crate) fn accept(
        &mut self,
        line: u64,
        span: Option<usize>,
        mut r: WorkloadRow<'_>,
        flags: Vec<(QualityFlag, String)>,
    ) -> Result<(), IngestError<E>> {
        let p = &mut self.parsed;
        if !flags.is_empty() {
            p.flagged += 1;
            let only: Vec<QualityFlag> = flags.iter().map(|(f, _)| *f).collect();
            r.quality_flags = QualityFlag::join(&only).map(Cow::Owned);
            for (flag, detail) in flags {
                let entry = p.quality.entry(flag.name().to_string()).or_default();
                entry.count += 1;
                if entry.examples.len() < MAX_FLAG_EXAMPLES {
                    entry.examples.push(FlagExample { line, span, detail });
                }
            }
        }
        p.accepted += 1;
        p.calls += r.weight;
        if r.aggregated {
            p.aggregated += 1;
        }
        p.spend_usd += r.cost_usd;
        let ms = r.timestamp_ms;
        self.span_ms = Some(
            self.span_ms
                .map_or((ms, ms), |(lo, hi)| (lo.min(ms), hi.max(ms))),
        );
        self.columns.push(&r);
        if self.columns.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<(), IngestError<E>> {
        if !self.columns.is_empty() {
            let batch = self
                .columns
                .take()
                .map_err(|e| IngestError::Io(format!("internal: a batch of records: {e}")))?;
            (self.write)(batch).map_err(IngestError::Write)?;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Parsed, IngestError<E>> {
        self.flush()?;
        let mut parsed = self.parsed;
        for (field, n) in self.filled {
            *parsed.filled.entry(field.to_string()).or_default() += n;
        }
        if let Some((lo, hi)) = self.span_ms {
            parsed.first = Some(format_timestamp_ms(lo));
            parsed.last = Some(format_timestamp_ms(hi));
        }
        Ok(parsed)
    }
}

/// Parse the file at `path` (already resolved and checked by the caller) as `format`
/// ([`Format::Auto`]: detected from its name and first bytes), handing records to `write`
/// in batches of up to [`BATCH`]. A `write` error stops the parse and comes back as
/// [`IngestError::Write`].
pub fn parse_file<E: Send>(
    path: &Path,
    format: Format,
    opts: &ParseOptions<'_>,
    mut write: impl FnMut(&[WorkloadRecord]) -> Result<(), E>,
) -> Result<Parsed, IngestError<E>> {
    let records = |batch: RecordBatch| batch_to_records(&batch).map_err(Internal::Batch);
    let parsed = parse_file_with(path, format, opts, records, |records| {
        write(&records).map_err(Internal::Write)
    });
    parsed.map_err(|e| match e {
        IngestError::Write(Internal::Write(e)) => IngestError::Write(e),
        IngestError::Write(Internal::Batch(m)) => {
            IngestError::Io(format!("internal: a batch of records: {m}"))
        }
        IngestError::Invalid(m) => IngestError::Invalid(m),
        IngestError::Io(m) => IngestError::Io(m),
    })
}

/// The caller's error, or a batch that did not read back as records (never, in our schema).
enum Internal<E> {
    Write(E),
    Batch(String),
}

/// [`parse_file`], with the records as Arrow batches in the stored schema
/// ([`apex_core::columns::arrow_schema`]), each turned into what the caller stores by
/// `prepare` first. Where the format is read on several threads (JSON lines, CSV, framed
/// OTLP protobuf), the batches are built and `prepare` runs on them, and `write` gets the
/// prepared batches in input order on the caller's. An error from either stops the parse
/// and comes back as [`IngestError::Write`].
pub fn parse_file_with<E: Send, B: Send>(
    path: &Path,
    format: Format,
    opts: &ParseOptions<'_>,
    prepare: impl Fn(RecordBatch) -> Result<B, E> + Sync,
    mut write: impl FnMut(B) -> Result<(), E>,
) -> Result<Parsed, IngestError<E>> {
    check_columns(&opts.columns).map_err(IngestError::Invalid)?;
    let format = match format {
        Format::Auto => detect(path).map_err(IngestError::Invalid)?,
        f => f,
    };
    // Read on every core: JSON lines (workload records, and OTLP requests one per line), CSV
    // and framed OTLP protobuf; the other formats are read on this thread.
    let mut parsed = Parsed::new(format);
    match format {
        Format::Csv => {
            convert::csv_file(path, opts, &mut parsed, &prepare, &mut write)?;
            return Ok(parsed);
        }
        Format::Parquet => {
            parquet::parquet_file(path, opts, &mut parsed, &prepare, &mut write)?;
            return Ok(parsed);
        }
        Format::Jsonl if json::is_jsonl(path)? => {
            fast::jsonl_file(path, opts, &mut parsed, &prepare, &mut write)?;
            return Ok(parsed);
        }
        Format::OtlpJson if json::is_jsonl(path)? => {
            let each = &otlp::json_line;
            fast::lines_file(path, opts, &mut parsed, each, &prepare, &mut write)?;
            return Ok(parsed);
        }
        Format::OtlpProto if otlp::framed_file(path, opts, &mut parsed, &prepare, &mut write)? => {
            return Ok(parsed);
        }
        _ => {}
    }
    let mut serial = |records| write(prepare(records)?);
    let mut c = Collector::new(opts, format, &mut serial);
    match format {
        Format::Jsonl => json::records_file(path, &mut c, false, convert::json_record)?,
        Format::OtlpJson => otlp::json_file(path, &mut c)?,
        Format::OtlpProto => otlp::proto_file(path, &mut c)?,
        Format::Litellm => providers::litellm_file(path, &mut c)?,
        Format::Langfuse => providers::langfuse_file(path, &mut c)?,
        Format::OpenaiUsage => usage::openai_file(path, &mut c)?,
        Format::AnthropicUsage => usage::anthropic_file(path, &mut c)?,
        Format::Csv | Format::Parquet | Format::Auto => {
            return Err(IngestError::Invalid(format!(
                "internal: format {} was not read",
                format.name()
            )));
        }
    }
    c.finish()
}

/// Parse one OTLP/HTTP request body (already decompressed, see [`decode_body`]) of an
/// `ExportTraceServiceRequest`, handing its records to `write` as Arrow batches in the
/// stored schema. A body that does not parse at all is [`IngestError::Invalid`] with the
/// reason, and nothing was handed to `write`.
pub fn parse_otlp_body<E>(
    body: &[u8],
    encoding: OtlpEncoding,
    opts: &ParseOptions<'_>,
    mut write: impl FnMut(RecordBatch) -> Result<(), E>,
) -> Result<Parsed, IngestError<E>> {
    let format = match encoding {
        OtlpEncoding::Json => Format::OtlpJson,
        OtlpEncoding::Protobuf => Format::OtlpProto,
    };
    let mut c = Collector::new(opts, format, &mut write);
    otlp::body(body, encoding, &mut c)?;
    c.finish()
}
