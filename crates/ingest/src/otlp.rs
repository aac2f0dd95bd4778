//! OTLP traces, JSON and protobuf, carrying the OpenTelemetry GenAI semantic conventions.
//!
//! Sources of the field names:
//! - OTLP/JSON and OTLP/HTTP: the OTLP specification
//!   (<https://opentelemetry.io/docs/specs/otlp/>, the JSON file exporter
//!   <https://opentelemetry.io/docs/specs/otel/protocol/file-exporter/>); the messages are
//!   `ExportTraceServiceRequest`s; protobuf is read in place (`wire`).
//! - GenAI spans: <https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/> —
//!   `gen_ai.operation.name`, `gen_ai.provider.name` (older: `gen_ai.system`),
//!   `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens` /
//!   `gen_ai.usage.output_tokens` (older: `gen_ai.usage.prompt_tokens` /
//!   `gen_ai.usage.completion_tokens`), `gen_ai.response.finish_reasons`, `error.type`.
//! - OpenLLMetry (Traceloop), `opentelemetry-semantic-conventions-ai`'s `SpanAttributes`:
//!   `llm.request.type`, `llm.usage.total_tokens`, `gen_ai.usage.cache_read_input_tokens`,
//!   `gen_ai.usage.cache_creation_input_tokens`, `traceloop.span.kind`,
//!   `traceloop.workflow.name`, `traceloop.association.properties.*`.
//! - OpenLIT, `openlit.semcov.SemanticConvention`: `gen_ai.usage.cost` (USD),
//!   `gen_ai.server.time_to_first_token` (seconds), `gen_ai.application_name`,
//!   `gen_ai.environment`, operation names `agent`, `framework`, `execute_task`, `vectordb`.
//!
//! A span is GenAI work when one of its own attributes starts with `gen_ai.`, `llm.` or
//! `traceloop.`; other spans (HTTP, database...) are skipped and counted.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::LazyLock;

use prost::Message;

use ahash::AHashMap;
use serde_json::Value;

use super::convert::{Fields, keep, text_number, value_number, value_text};
use super::fast;
use super::json::{self, Doc};
use super::wire;
use super::{Collector, IngestError, ParseOptions, Parsed};
use arrow::array::RecordBatch;

/// How an OTLP/HTTP body is encoded (its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    /// `application/json`
    Json,
    /// `application/x-protobuf`
    Protobuf,
}

impl OtlpEncoding {
    /// From a `Content-Type` header value; the error names what is accepted.
    pub fn from_content_type(ct: &str) -> Result<Self, String> {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" => Ok(Self::Json),
            "application/x-protobuf" | "application/protobuf" => Ok(Self::Protobuf),
            other => Err(format!(
                "Content-Type `{other}` is not accepted; send application/x-protobuf or application/json (OTLP/HTTP)"
            )),
        }
    }
}

/// Decompress an OTLP/HTTP body by its `Content-Encoding` (none, `identity` or `gzip`),
/// refusing more than `max` decompressed bytes.
pub fn decode_body(body: &[u8], encoding: Option<&str>, max: usize) -> Result<Vec<u8>, String> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("the gzip body does not decompress: {e}"))?;
            if out.len() > max {
                return Err(format!(
                    "the body decompresses to more than {max} bytes; send smaller batches"
                ));
            }
            Ok(out)
        }
        Some(other) => Err(format!(
            "Content-Encoding `{other}` is not accepted; send gzip or no encoding"
        )),
    }
}

/// `google.rpc.Status`, the body OTLP/HTTP gives every 4xx and 5xx response.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The body of a successful OTLP/HTTP response (`ExportTraceServiceResponse`) in the
/// request's encoding, with `partial_success` when spans were rejected.
pub fn export_response(encoding: OtlpEncoding, rejected_spans: u64, message: &str) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    match encoding {
        OtlpEncoding::Protobuf => ExportTraceServiceResponse {
            partial_success: (rejected_spans > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected_spans as i64,
                error_message: message.to_string(),
            }),
        }
        .encode_to_vec(),
        OtlpEncoding::Json => {
            let body = if rejected_spans > 0 {
                serde_json::json!({"partialSuccess": {"rejectedSpans": rejected_spans.to_string(), "errorMessage": message}})
            } else {
                serde_json::json!({})
            };
            body.to_string().into_bytes()
        }
    }
}

/// The body of an OTLP/HTTP error response: a `google.rpc.Status` with `code` (a gRPC
/// code: 3 invalid argument, 8 resource exhausted, 13 internal...) and the reason.
pub fn error_status(encoding: OtlpEncoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        OtlpEncoding::Protobuf => RpcStatus {
            code,
            message: message.to_string(),
        }
        .encode_to_vec(),
        OtlpEncoding::Json => serde_json::json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

/// One span, flattened from either encoding.
struct FlatSpan<'a> {
    /// The attributes its workload fields are read from.
    attrs: Attrs<'a>,
    trace_id: Cow<'a, str>,
    span_id: Cow<'a, str>,
    parent_span_id: Option<Cow<'a, str>>,
    start: Option<i64>,
    end: Option<i64>,
    error: bool,
}

/// The attribute keys workload fields are read from ([`ALIASES`] and the few read on their
/// own), each with its place in [`Attrs`].
/// Keyed by bytes: a protobuf key is looked up before (and without) its UTF-8 check.
static SLOTS: LazyLock<AHashMap<&'static [u8], usize>> = LazyLock::new(|| {
    let mut slots = AHashMap::new();
    let keys = ALIASES.iter().flat_map(|(_, keys)| keys.iter());
    for key in keys
        .chain(&OPERATION_KEYS)
        .chain(&[TTFT_SECONDS])
        .chain(&FINISH_KEYS)
    {
        let next = slots.len();
        slots.entry(key.as_bytes()).or_insert(next);
    }
    slots
});

/// How many keys [`SLOTS`] holds (its test checks the two agree); at most 64, the bits of
/// [`Attrs`]' mask.
const SLOT_COUNT: usize = {
    let mut n = OPERATION_KEYS.len() + 1 + FINISH_KEYS.len();
    let mut i = 0;
    while i < ALIASES.len() {
        n += ALIASES[i].1.len();
        i += 1;
    }
    n
};
const _: () = assert!(SLOT_COUNT <= 64);

/// An attribute's value: text borrowed from the request where it could be read as it is
/// (a protobuf `string_value`, OTLP/JSON's `{"stringValue":"..."}` with nothing to
/// unescape), a JSON value otherwise.
/// It means what the JSON value holding that text would.
#[derive(Clone, Debug, PartialEq)]
enum Val<'a> {
    Text(&'a str),
    Json(Value),
    /// A protobuf `string_value` that is not UTF-8: the span that would read it is rejected
    /// ([`span_fields`]).
    NotUtf8,
}

impl Val<'_> {
    fn is_null(&self) -> bool {
        matches!(self, Val::Json(Value::Null))
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            Val::Json(v) => v.as_str(),
            Val::NotUtf8 => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Json(v) => v.as_f64(),
            Val::Text(_) | Val::NotUtf8 => None,
        }
    }
}

impl<'a> From<Cow<'a, str>> for Val<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Val::Text(s),
            Cow::Owned(s) => Val::Json(Value::String(s)),
        }
    }
}

impl From<Value> for Val<'_> {
    fn from(v: Value) -> Self {
        Val::Json(v)
    }
}

/// A span's attributes as a map of them all would hold them — the span's own over its
/// resource's, a later one over an earlier one — but only for the keys workload fields are
/// read from: the others are never copied (they were most of the cost of reading a span).
/// Whether the span's own attributes make it GenAI work is noted as they go by.
#[derive(Clone)]
struct Attrs<'a> {
    values: [Option<Val<'a>>; SLOT_COUNT],
    /// Which of `values` were set (a span copies only those of its resource's: a resource
    /// sets a few of the fifty-odd).
    set: u64,
    genai: bool,
}

impl<'a> Attrs<'a> {
    fn new() -> Self {
        Attrs {
            values: [const { None }; SLOT_COUNT],
            set: 0,
            genai: false,
        }
    }

    /// A span's attributes start as its resource's, and not yet GenAI.
    fn for_span(resource: &Attrs<'a>) -> Self {
        let mut attrs = Attrs::new();
        let mut set = resource.set;
        while set != 0 {
            let slot = set.trailing_zeros() as usize;
            set &= set - 1;
            attrs.values[slot].clone_from(&resource.values[slot]);
        }
        attrs.set = resource.set;
        attrs
    }

    /// A resource's attribute; `value` is only made for a key a field is read from.
    fn set(&mut self, key: &[u8], value: impl FnOnce() -> Val<'a>) {
        if let Some(&slot) = SLOTS.get(key) {
            self.values[slot] = Some(value());
            self.set |= 1 << slot;
        }
    }

    /// One of the span's own attributes.
    fn own(&mut self, key: &[u8], value: impl FnOnce() -> Val<'a>) {
        self.genai = self.genai || is_genai_key(key);
        self.set(key, value);
    }

    fn get(&self, key: &str) -> Option<&Val<'a>> {
        self.values.get(*SLOTS.get(key.as_bytes())?)?.as_ref()
    }

    fn take(&mut self, key: &str) -> Option<Val<'a>> {
        self.take_slot(*SLOTS.get(key.as_bytes())?)
    }

    fn take_slot(&mut self, slot: usize) -> Option<Val<'a>> {
        self.values.get_mut(slot)?.take()
    }
}

// ---------------------------------------------------------------- JSON

fn json_any(v: &Value) -> Value {
    match v.as_object() {
        Some(o) => any_of(|name| o.get(name).cloned()),
        None => Value::Null,
    }
}

/// An OTLP `AnyValue` from its fields by name: the first of `stringValue`, `intValue` (a
/// string in OTLP/JSON), `doubleValue`, `boolValue` and `arrayValue.values` present.
fn any_of(field: impl Fn(&str) -> Option<Value>) -> Value {
    if let Some(s) = field("stringValue") {
        return s;
    }
    if let Some(i) = field("intValue") {
        // int64 is a JSON string in OTLP/JSON
        return match i {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
            other => other,
        };
    }
    if let Some(d) = field("doubleValue") {
        return d;
    }
    if let Some(b) = field("boolValue") {
        return b;
    }
    if let Some(Value::Array(a)) =
        field("arrayValue").and_then(|mut a| a.get_mut("values").map(Value::take))
    {
        return Value::Array(a.iter().map(json_any).collect());
    }
    Value::Null
}

fn json_attributes(v: Option<&Value>, mut set: impl FnMut(&str, &Value)) {
    for kv in v.and_then(Value::as_array).into_iter().flatten() {
        if let (Some(k), Some(val)) = (kv.get("key").and_then(Value::as_str), kv.get("value")) {
            set(k, val);
        }
    }
}

fn json_nanos(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

fn json_span<'a>(resource: &Attrs<'a>, span: &Value) -> FlatSpan<'a> {
    let mut attrs = Attrs::for_span(resource);
    json_attributes(span.get("attributes"), |k, v| {
        attrs.own(k.as_bytes(), || json_any(v).into())
    });
    let id = |key: &str| {
        span.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| Cow::Owned(s.to_string()))
    };
    let error = status_error(span.get("status"));
    FlatSpan {
        attrs,
        trace_id: id("traceId").unwrap_or_default(),
        span_id: id("spanId").unwrap_or_default(),
        parent_span_id: id("parentSpanId"),
        start: json_nanos(span.get("startTimeUnixNano")),
        end: json_nanos(span.get("endTimeUnixNano")),
        error,
    }
}

/// Whether a span's `status` says it failed (`code` 2, `STATUS_CODE_ERROR`).
fn status_error(status: Option<&Value>) -> bool {
    match status.and_then(|s| s.get("code")) {
        Some(Value::Number(n)) => n.as_i64() == Some(2),
        Some(Value::String(s)) => s.eq_ignore_ascii_case("STATUS_CODE_ERROR") || s == "2",
        _ => false,
    }
}

/// Every span of one OTLP/JSON document (`{"resourceSpans": [...]}`), numbered from 1.
fn json_doc<E>(doc: &Value, line: u64, c: &mut Collector<'_, '_, E>) -> Result<(), IngestError<E>> {
    let Some(rs) = doc.get("resourceSpans").and_then(Value::as_array) else {
        c.reject(
            line,
            None,
            "not an OTLP/JSON document: `resourceSpans` is missing".into(),
        );
        return Ok(());
    };
    let mut index = 0usize;
    for r in rs {
        let mut resource = Attrs::new();
        json_attributes(
            r.get("resource").and_then(|x| x.get("attributes")),
            |k, v| resource.set(k.as_bytes(), || json_any(v).into()),
        );
        // `instrumentationLibrarySpans` is the pre-1.0 name of `scopeSpans`.
        let scopes = r
            .get("scopeSpans")
            .or_else(|| r.get("instrumentationLibrarySpans"));
        for scope in scopes.and_then(Value::as_array).into_iter().flatten() {
            for span in scope
                .get("spans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                index += 1;
                one_span(json_span(&resource, span), line, index, c)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn json_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    json::documents(path, c, |c, doc: &Doc<'_>| json_document(c, doc))
}

fn json_document<E>(c: &mut Collector<'_, '_, E>, doc: &Doc<'_>) -> Result<(), IngestError<E>> {
    match serde_json::from_str::<Value>(doc.raw.get()) {
        Ok(v) => json_doc(&v, doc.line(), c),
        Err(e) => {
            c.reject(doc.line(), None, format!("invalid JSON: {e}"));
            Ok(())
        }
    }
}

/// One line of OTLP/JSON lines (a file exporter's output, one request per line), as
/// [`json_file`] reads it; for the reader that runs on all cores. A line in the shape the
/// specification gives is read straight into borrowed structs ([`lines`]); anything else
/// (a null, a wrong type, a duplicate key, invalid JSON) goes the whole-value way, which
/// says why. The two agree on what they both read; the tests hold them to it.
pub(crate) fn json_line<E>(
    c: &mut Collector<'_, '_, E>,
    line: u64,
    text: &str,
) -> Result<(), IngestError<E>> {
    match serde_json::from_str::<lines::Request<'_>>(text) {
        Ok(lines::Request {
            resource_spans: Some(resources),
        }) => lines::request(&resources, line, c),
        _ => json::document_line(c, line, text, &mut json_document),
    }
}

/// OTLP/JSON read into structs that borrow from the line: the whole-value way builds a map
/// per object of the request and frees it again, which was most of the cost of reading an
/// export. Every field refuses wrong types and its structs refuse `null` and duplicate keys,
/// so that a line this way takes means what it means to [`json_doc`]; values it only passes
/// on (attribute values, times, status) are kept raw, `null` included, and read by the same
/// functions.
mod lines {
    use std::borrow::Cow;

    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;
    use serde_json::value::RawValue;

    use super::{
        Attrs, Collector, FlatSpan, IngestError, Val, any_of, json_any, json_nanos, one_span,
    };

    /// A present field must hold a value of its type: `null` is not absent here.
    fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        T::deserialize(d).map(Some)
    }

    /// A present string, borrowed from the line unless it has escapes: `Cow<str>`'s own
    /// `Deserialize` always copies (only a derived field's `borrow` borrows, and these go
    /// through `deserialize_with`), which was a copy of every attribute's key.
    fn present_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Cow<'de, str>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(s))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(s.to_owned()))
            }

            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(s))
            }
        }
        d.deserialize_str(Text).map(Some)
    }

    #[derive(Deserialize)]
    pub(super) struct Request<'a> {
        #[serde(
            rename = "resourceSpans",
            default,
            deserialize_with = "present",
            borrow
        )]
        pub(super) resource_spans: Option<Vec<ResourceSpans<'a>>>,
    }

    #[derive(Deserialize)]
    pub(super) struct ResourceSpans<'a> {
        #[serde(default, deserialize_with = "present", borrow)]
        resource: Option<Resource<'a>>,
        #[serde(rename = "scopeSpans", default, deserialize_with = "present", borrow)]
        scope_spans: Option<Vec<ScopeSpans<'a>>>,
        /// The pre-1.0 name of `scopeSpans`.
        #[serde(
            rename = "instrumentationLibrarySpans",
            default,
            deserialize_with = "present",
            borrow
        )]
        library_spans: Option<Vec<ScopeSpans<'a>>>,
    }

    #[derive(Deserialize)]
    struct Resource<'a> {
        #[serde(default, deserialize_with = "present", borrow)]
        attributes: Option<Vec<Attribute<'a>>>,
    }

    #[derive(Deserialize)]
    struct ScopeSpans<'a> {
        #[serde(default, deserialize_with = "present", borrow)]
        spans: Option<Vec<Span<'a>>>,
    }

    #[derive(Deserialize)]
    struct Span<'a> {
        #[serde(rename = "traceId", default, deserialize_with = "present_str", borrow)]
        trace_id: Option<Cow<'a, str>>,
        #[serde(rename = "spanId", default, deserialize_with = "present_str", borrow)]
        span_id: Option<Cow<'a, str>>,
        #[serde(
            rename = "parentSpanId",
            default,
            deserialize_with = "present_str",
            borrow
        )]
        parent_span_id: Option<Cow<'a, str>>,
        #[serde(
            rename = "startTimeUnixNano",
            default,
            deserialize_with = "present",
            borrow
        )]
        start: Option<&'a RawValue>,
        #[serde(
            rename = "endTimeUnixNano",
            default,
            deserialize_with = "present",
            borrow
        )]
        end: Option<&'a RawValue>,
        #[serde(default, deserialize_with = "present", borrow)]
        status: Option<&'a RawValue>,
        #[serde(default, deserialize_with = "present_attributes", borrow)]
        attributes: Option<Vec<Attribute<'a>>>,
    }

    /// A span's attributes, in a vector sized for a GenAI span's ~20 at once rather than
    /// grown four times (JSON gives no length up front).
    fn present_attributes<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<Attribute<'de>>>, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Vec<Attribute<'de>>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of attributes")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(24));
                while let Some(a) = seq.next_element()? {
                    all.push(a);
                }
                Ok(all)
            }
        }
        d.deserialize_seq(List).map(Some)
    }

    #[derive(Deserialize)]
    struct Attribute<'a> {
        #[serde(default, deserialize_with = "present_str", borrow)]
        key: Option<Cow<'a, str>>,
        /// `null` is a value here (an attribute whose value is null is kept, as null).
        #[serde(default, deserialize_with = "present", borrow)]
        value: Option<&'a RawValue>,
    }

    /// An attribute's `AnyValue`, its fields kept raw (`null` included).
    #[derive(Deserialize)]
    struct Any<'a> {
        #[serde(rename = "stringValue", default, deserialize_with = "present", borrow)]
        string: Option<&'a RawValue>,
        #[serde(rename = "intValue", default, deserialize_with = "present", borrow)]
        int: Option<&'a RawValue>,
        #[serde(rename = "doubleValue", default, deserialize_with = "present", borrow)]
        double: Option<&'a RawValue>,
        #[serde(rename = "boolValue", default, deserialize_with = "present", borrow)]
        boolean: Option<&'a RawValue>,
        #[serde(rename = "arrayValue", default, deserialize_with = "present", borrow)]
        array: Option<&'a RawValue>,
    }

    /// A raw value as a `Value` (it was valid JSON when the line was read).
    fn value(raw: &RawValue) -> Value {
        serde_json::from_str(raw.get()).unwrap_or(Value::Null)
    }

    /// An attribute's value as [`json_any`] reads it, without a map for the `AnyValue`
    /// object unless it is not one in the specification's shape (a duplicate field).
    fn any(raw: &RawValue) -> Val<'_> {
        if let Some(v) = exact(raw.get()) {
            return v;
        }
        match serde_json::from_str::<Any<'_>>(raw.get()) {
            Ok(a) => any_of(|name| {
                match name {
                    "stringValue" => a.string,
                    "intValue" => a.int,
                    "doubleValue" => a.double,
                    "boolValue" => a.boolean,
                    _ => a.array,
                }
                .map(value)
            })
            .into(),
            Err(_) => json_any(&value(raw)).into(),
        }
    }

    /// The two shapes exporters write nearly every attribute value in, `{"stringValue":"…"}`
    /// and `{"intValue":"…"}` with nothing to unescape, read as they are: the text was
    /// valid JSON, so the content between those quotes is the string. Anything else: None.
    fn exact(raw: &str) -> Option<Val<'_>> {
        let content = |prefix: &str| {
            raw.strip_prefix(prefix)?
                .strip_suffix("\"}")
                .filter(|s| memchr::memchr2(b'"', b'\\', s.as_bytes()).is_none())
        };
        if let Some(s) = content("{\"stringValue\":\"") {
            return Some(Val::Text(s));
        }
        // A list of plain strings (`gen_ai.response.finish_reasons`), as `json_any` reads it.
        if let Some(items) = raw
            .strip_prefix("{\"arrayValue\":{\"values\":[")
            .and_then(|r| r.strip_suffix("]}}"))
        {
            return strings(items).map(|all| Val::Json(Value::Array(all)));
        }
        // A number as the whole-value parse reads it (an integer stays one).
        if let Some(n) = raw
            .strip_prefix("{\"doubleValue\":")
            .and_then(|r| r.strip_suffix('}'))
            .filter(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            })
        {
            return serde_json::from_str::<Value>(n)
                .ok()
                .filter(Value::is_number)
                .map(Val::Json);
        }
        // int64 is a JSON string in OTLP/JSON; one that is not a number is null, as in
        // `any_of`.
        let i = content("{\"intValue\":\"")?;
        Some(
            i.parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::Null)
                .into(),
        )
    }

    /// `{"stringValue":"…"},{"stringValue":"…"}…` with nothing to unescape, as strings; None
    /// for anything else.
    fn strings(mut items: &str) -> Option<Vec<Value>> {
        let mut all = Vec::new();
        while !items.is_empty() {
            let rest = items.strip_prefix("{\"stringValue\":\"")?;
            let end = memchr::memchr2(b'"', b'\\', rest.as_bytes())?;
            let after = rest[end..].strip_prefix("\"}")?;
            all.push(Value::from(&rest[..end]));
            items = match after.strip_prefix(',') {
                Some(next) if !next.is_empty() => next,
                Some(_) => return None,
                None if after.is_empty() => after,
                None => return None,
            };
        }
        Some(all)
    }

    /// A time as [`json_nanos`] reads it; the exporters' `"1767225605075000000"` directly.
    fn nanos(raw: &RawValue) -> Option<i64> {
        match raw
            .get()
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
        {
            Some(digits) if !digits.contains('\\') => digits.parse().ok(),
            _ => json_nanos(Some(&value(raw))),
        }
    }

    /// A status as [`super::status_error`] reads it; the exporters' `{"code":N}` directly.
    fn status_error(raw: &RawValue) -> bool {
        match raw.get() {
            r#"{"code":2}"# => true,
            r#"{"code":0}"# | r#"{"code":1}"# | "{}" => false,
            _ => super::status_error(Some(&value(raw))),
        }
    }

    fn attributes<'a>(kvs: Option<&[Attribute<'a>]>, mut set: impl FnMut(&str, &'a RawValue)) {
        for kv in kvs.into_iter().flatten() {
            if let (Some(k), Some(v)) = (&kv.key, kv.value) {
                set(k, v);
            }
        }
    }

    fn span<'a>(resource: &Attrs<'a>, span: &Span<'a>) -> FlatSpan<'a> {
        let mut attrs = Attrs::for_span(resource);
        attributes(span.attributes.as_deref(), |k, v| {
            attrs.own(k.as_bytes(), || any(v))
        });
        let id = |v: &Option<Cow<'a, str>>| v.clone().filter(|s| !s.is_empty());
        FlatSpan {
            attrs,
            trace_id: id(&span.trace_id).unwrap_or_default(),
            span_id: id(&span.span_id).unwrap_or_default(),
            parent_span_id: id(&span.parent_span_id),
            start: span.start.and_then(nanos),
            end: span.end.and_then(nanos),
            error: span.status.is_some_and(status_error),
        }
    }

    /// Every span of one request, numbered from 1, as [`super::json_doc`] numbers them.
    pub(super) fn request<E>(
        resources: &[ResourceSpans<'_>],
        line: u64,
        c: &mut Collector<'_, '_, E>,
    ) -> Result<(), IngestError<E>> {
        let mut index = 0usize;
        for r in resources {
            let mut resource = Attrs::new();
            attributes(
                r.resource.as_ref().and_then(|x| x.attributes.as_deref()),
                |k, v| resource.set(k.as_bytes(), || any(v)),
            );
            let scopes = r.scope_spans.as_ref().or(r.library_spans.as_ref());
            for scope in scopes.into_iter().flatten() {
                for s in scope.spans.iter().flatten() {
                    index += 1;
                    one_span(span(&resource, s), line, index, c)?;
                }
            }
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn an_attribute_value_reads_as_the_whole_value_way_reads_it() {
            for raw in [
                r#"{"stringValue":"gpt-4o"}"#,
                r#"{"stringValue":""}"#,
                r#"{"stringValue":"caf\u00e9"}"#,
                r#"{"stringValue":"a\"b"}"#,
                r#"{"stringValue":"a","stringValue":"b"}"#,
                r#"{"stringValue":"a","intValue":"1"}"#,
                r#"{ "stringValue": "spaced" }"#,
                r#"{"stringValue":null,"intValue":"5"}"#,
                r#"{"stringValue":7}"#,
                r#"{"intValue":"1776"}"#,
                r#"{"intValue":"-3"}"#,
                r#"{"intValue":"+3"}"#,
                r#"{"intValue":"x"}"#,
                r#"{"intValue":""}"#,
                r#"{"intValue":"99999999999999999999"}"#,
                r#"{"intValue":12}"#,
                r#"{"doubleValue":0.5}"#,
                r#"{"doubleValue":255}"#,
                r#"{"doubleValue":-1.5e-7}"#,
                r#"{"doubleValue":0.00027045}"#,
                r#"{"doubleValue":1e400}"#,
                r#"{"doubleValue":"1.5"}"#,
                r#"{"boolValue":true}"#,
                r#"{"arrayValue":{"values":[{"stringValue":"stop"},{"intValue":"2"}]}}"#,
                r#"{"arrayValue":{"values":[{"stringValue":"stop"}]}}"#,
                r#"{"arrayValue":{"values":[{"stringValue":"stop"},{"stringValue":"length"}]}}"#,
                r#"{"arrayValue":{"values":[]}}"#,
                r#"{"arrayValue":{"values":[{"stringValue":"a\"b"}]}}"#,
                r#"{"arrayValue":{"values":[{"stringValue":""}]}}"#,
                r#"{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"}]}}"#,
                r#"{"arrayValue":{"values":[{"stringValue":"a"} , {"stringValue":"b"}]}}"#,
                r#"{"arrayValue":null}"#,
                r#"{}"#,
                r#"null"#,
                r#""text""#,
            ] {
                let raw: &RawValue = serde_json::from_str(raw).unwrap();
                let read = match any(raw) {
                    Val::Text(s) => Value::from(s),
                    Val::Json(v) => v,
                    Val::NotUtf8 => panic!("JSON text is UTF-8"),
                };
                assert_eq!(read, json_any(&value(raw)), "{raw}");
            }
            assert_eq!(
                exact(r#"{"stringValue":"gpt-4o"}"#),
                Some(Val::Text("gpt-4o"))
            );
            assert_eq!(
                exact(r#"{"intValue":"1776"}"#),
                Some(Val::Json(Value::from(1776)))
            );
            for raw in [
                r#""1767225605075000000""#,
                r#""17672256050750000001767225605075000000""#,
                r#""1767\u0032""#,
                r#""""#,
                r#""x""#,
                r#"1767225605075000000"#,
                r#"1.5e18"#,
                r#"null"#,
            ] {
                let raw: &RawValue = serde_json::from_str(raw).unwrap();
                assert_eq!(nanos(raw), json_nanos(Some(&value(raw))), "{raw}");
            }
            for raw in [
                r#"{"code":2}"#,
                r#"{"code":1}"#,
                r#"{"code":0}"#,
                r#"{}"#,
                r#"{"code":"STATUS_CODE_ERROR"}"#,
                r#"{"code":2,"message":"boom"}"#,
                r#"{ "code": 2 }"#,
                r#"null"#,
            ] {
                let raw: &RawValue = serde_json::from_str(raw).unwrap();
                assert_eq!(
                    status_error(raw),
                    super::super::status_error(Some(&value(raw))),
                    "{raw}"
                );
            }
            assert_eq!(exact(r#"{"stringValue":"a","intValue":"1"}"#), None);
        }
    }
}

// ---------------------------------------------------------------- protobuf

/// An attribute's value as JSON; None when text in it is not UTF-8.
fn proto_any(v: wire::Any<'_>) -> Option<Value> {
    Some(match v {
        wire::Any::String(s) => Value::from(std::str::from_utf8(s).ok()?),
        wire::Any::Bool(b) => Value::from(b),
        wire::Any::Int(i) => Value::from(i),
        wire::Any::Double(d) => Value::from(d),
        wire::Any::Array(a) => Value::Array(
            wire::Array(a)
                .into_iter()
                .map(|x| x.ok().and_then(proto_any))
                .collect::<Option<_>>()?,
        ),
        wire::Any::None => Value::Null,
    })
}

/// An attribute's value, its text borrowed from the request (checked to be UTF-8 here,
/// only for the keys a field is read from: a span that would read text that is not is
/// rejected, naming the attribute).
fn proto_val(v: wire::Any<'_>) -> Val<'_> {
    match v {
        wire::Any::String(s) => std::str::from_utf8(s).map_or(Val::NotUtf8, Val::Text),
        _ => proto_any(v).map_or(Val::NotUtf8, Val::Json),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn proto_request<E>(
    req: &wire::Request<'_>,
    message: u64,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    let mut index = 0usize;
    for r in &req.resources {
        let mut resource = Attrs::new();
        for kv in &req.attributes[r.attributes.clone()] {
            resource.set(kv.key, || proto_val(kv.value));
        }
        for span in &req.spans[r.spans.clone()] {
            index += 1;
            let mut attrs = Attrs::for_span(&resource);
            for kv in &req.attributes[span.attributes.clone()] {
                attrs.own(kv.key, || proto_val(kv.value));
            }
            let flat = FlatSpan {
                attrs,
                trace_id: Cow::Owned(hex(span.trace_id)),
                span_id: Cow::Owned(hex(span.span_id)),
                parent_span_id: (!span.parent_span_id.is_empty())
                    .then(|| Cow::Owned(hex(span.parent_span_id))),
                start: i64::try_from(span.start_time_unix_nano).ok(),
                end: i64::try_from(span.end_time_unix_nano).ok(),
                error: span.error,
            };
            one_span(flat, message, index, c)?;
        }
    }
    Ok(())
}

/// Why `path` could not be read.
fn cannot_read(path: &Path, e: std::io::Error) -> String {
    format!("path: cannot read {}: {e}", path.display())
}

/// A file in the Collector file exporter's proto format ([`Framed`]) read on all cores: its
/// messages streamed to the parsing threads, tallied into `parsed` and their prepared
/// batches handed to `write` in order. Ok(false), having read nothing, when the file is not
/// framed (one request: [`proto_file`] reads it).
pub(crate) fn framed_file<E: Send, B: Send>(
    path: &Path,
    opts: &ParseOptions<'_>,
    parsed: &mut Parsed,
    prepare: &(dyn Fn(RecordBatch) -> Result<B, E> + Sync),
    write: &mut dyn FnMut(B) -> Result<(), E>,
) -> Result<bool, IngestError<E>> {
    let Some(framed) = Framed::open(path).map_err(|e| IngestError::Io(cannot_read(path, e)))?
    else {
        return Ok(false);
    };
    let work =
        |c: &mut Collector<'_, '_, E>, (number, m): (u64, Vec<u8>)| proto_message(c, number, &m);
    let produce = move |send: &mut dyn FnMut((u64, Vec<u8>)) -> bool| {
        for message in framed {
            if !send(message.map_err(|e| cannot_read(path, e))?) {
                break;
            }
        }
        Ok(())
    };
    fast::on_all_cores(opts, parsed, produce, &work, prepare, write)?;
    Ok(true)
}

/// A protobuf file: one `ExportTraceServiceRequest` (what an OTLP/HTTP exporter posts), or
/// the Collector file exporter's proto format ([`Framed`]), here on one thread (the ingest
/// reads framed files on all cores: [`framed_file`]). Rejections name the message's number
/// as their line.
pub(crate) fn proto_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    let cannot = |e: std::io::Error| IngestError::Io(cannot_read(path, e));
    if let Some(framed) = Framed::open(path).map_err(cannot)? {
        for message in framed {
            let (number, m) = message.map_err(cannot)?;
            proto_message(c, number, &m)?;
        }
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(cannot)?;
    match wire::Request::read(&bytes) {
        Ok(req) => proto_request(&req, 1, c),
        Err(e) => Err(IngestError::Invalid(format!(
            "path: {} is not OTLP protobuf (an ExportTraceServiceRequest, or length-prefixed ones): {e}",
            path.display()
        ))),
    }
}

/// One message of a framed file, numbered from 1: its spans, or why it is not a request.
pub(crate) fn proto_message<E>(
    c: &mut Collector<'_, '_, E>,
    number: u64,
    message: &[u8],
) -> Result<(), IngestError<E>> {
    match wire::Request::read(message) {
        Ok(req) => proto_request(&req, number, c),
        Err(e) => {
            c.reject(
                number,
                None,
                format!("message {number} is not an OTLP ExportTraceServiceRequest: {e}"),
            );
            Ok(())
        }
    }
}

/// The messages of a file in the Collector file exporter's proto format (each preceded by
/// its length as a 4-byte big-endian integer), read one at a time (memory stays that of a
/// message, whatever the file's size), numbered from 1.
pub(crate) struct Framed {
    file: BufReader<File>,
    left: u64,
    number: u64,
}

impl Framed {
    /// The file's messages, if it is framed: the lengths tile it exactly (checked by seeking
    /// from length to length) and its first message is a request. A single request whose
    /// first bytes happen to read as a fitting length would need the whole file to split
    /// exactly and its first piece to decode; a later message that does not decode is
    /// rejected by its number, and the others are read.
    pub(crate) fn open(path: &Path) -> std::io::Result<Option<Framed>> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        let mut at = 0u64;
        let mut first = None;
        while at < size {
            let mut len = [0u8; 4];
            if size - at < 4 {
                return Ok(None);
            }
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut len)?;
            let len = u64::from(u32::from_be_bytes(len));
            if len == 0 || len > size - at - 4 {
                return Ok(None);
            }
            if first.is_none() {
                let mut m = vec![0u8; len as usize];
                file.read_exact(&mut m)?;
                first = Some(m);
            }
            at += 4 + len;
        }
        if first.is_none_or(|m| wire::Request::read(&m).is_err()) {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(0))?;
        Ok(Some(Framed {
            file: BufReader::with_capacity(1 << 20, file),
            left: size,
            number: 0,
        }))
    }
}

impl Iterator for Framed {
    type Item = std::io::Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let mut read = || {
            let mut len = [0u8; 4];
            self.file.read_exact(&mut len)?;
            let mut m = vec![0u8; u32::from_be_bytes(len) as usize];
            self.file.read_exact(&mut m)?;
            self.left = self.left.saturating_sub(4 + m.len() as u64);
            self.number += 1;
            Ok((self.number, m))
        };
        let item = read();
        if item.is_err() {
            // The file changed under the reader; it says so once and stops.
            self.left = 0;
        }
        Some(item)
    }
}

/// Parse one OTLP/HTTP body; a body that does not parse is `Invalid` with the reason.
pub(crate) fn body<E>(
    bytes: &[u8],
    encoding: OtlpEncoding,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    match encoding {
        OtlpEncoding::Protobuf => {
            let req = wire::Request::read(bytes).map_err(|e| {
                IngestError::Invalid(format!(
                    "the protobuf body is not an OTLP ExportTraceServiceRequest: {e}"
                ))
            })?;
            proto_request(&req, 1, c)
        }
        OtlpEncoding::Json => {
            // The request in the specification's shape, read without a map per object, as
            // the file reader does ([`json_line`]); anything else the whole-value way.
            if let Ok(lines::Request {
                resource_spans: Some(resources),
            }) = serde_json::from_slice::<lines::Request<'_>>(bytes)
            {
                return lines::request(&resources, 1, c);
            }
            let doc: Value = serde_json::from_slice(bytes)
                .map_err(|e| IngestError::Invalid(format!("the JSON body does not parse: {e}")))?;
            if doc.get("resourceSpans").is_none_or(|r| !r.is_array()) {
                return Err(IngestError::Invalid(
                    "the JSON body is not an OTLP ExportTraceServiceRequest: `resourceSpans` is missing"
                        .into(),
                ));
            }
            json_doc(&doc, 1, c)
        }
    }
}

// ---------------------------------------------------------------- GenAI attributes

/// Whether a span's own attribute makes it GenAI work.
fn is_genai_key(k: &[u8]) -> bool {
    k.starts_with(b"gen_ai.") || k.starts_with(b"llm.") || k.starts_with(b"traceloop.")
}

/// Attribute aliases -> workload field, first present wins (current convention first).
const ALIASES: &[(&str, &[&str])] = &[
    ("provider", &["gen_ai.provider.name", "gen_ai.system"]),
    ("model", &["gen_ai.response.model", "gen_ai.request.model"]),
    (
        "input_tokens",
        &[
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.usage.prompt_tokens",
        ],
    ),
    (
        "output_tokens",
        &[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.usage.completion_tokens",
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
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.reasoning_tokens",
            "apex.reasoning_tokens",
        ],
    ),
    ("error_type", &["error.type"]),
    (
        "tenant",
        &[
            "apex.tenant",
            "netra.tenant",
            "tenant.id",
            "traceloop.association.properties.tenant",
            "traceloop.association.properties.tenant_id",
            "tenant",
        ],
    ),
    (
        "feature",
        &[
            "apex.feature",
            "netra.feature",
            "app.feature",
            "traceloop.workflow.name",
            "gen_ai.application_name",
            "feature",
            "service.name",
        ],
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
            "gen_ai.usage.cost",
            "gen_ai.usage.cost_usd",
            "cost_usd",
        ],
    ),
    ("ttft_ms", &["apex.ttft_ms", "netra.ttft_ms", "ttft_ms"]),
    ("event_id", &["apex.event_id", "netra.event_id", "event_id"]),
];

/// Where a span's operation is read from, in order: see [`operation`].
const OPERATION_KEYS: [&str; 3] = [
    "gen_ai.operation.name",
    "llm.request.type",
    "traceloop.span.kind",
];

/// OpenLIT's time to the first token, in seconds.
const TTFT_SECONDS: &str = "gen_ai.server.time_to_first_token";

/// Where a span's finish reason is read from, in order (a list or one reason).
const FINISH_KEYS: [&str; 2] = [
    "gen_ai.response.finish_reasons",
    "llm.response.finish_reason",
];

/// `gen_ai.operation.name` as written by the conventions and by OpenLIT, or OpenLLMetry's
/// `llm.request.type` / `traceloop.span.kind`, as one of our operations.
fn operation<'a>(attrs: &Attrs<'a>) -> Option<Cow<'a, str>> {
    // Lower-cased, borrowed when it already is.
    let text = |k: &str| -> Option<Cow<'a, str>> {
        match attrs.get(k)? {
            Val::Text(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => Some(Cow::Borrowed(*s)),
            v => v.as_str().map(|s| Cow::Owned(s.to_ascii_lowercase())),
        }
    };
    let ours = |s: &'static str| Some(Cow::Borrowed(s));
    let [name, request_type, span_kind] = OPERATION_KEYS;
    if let Some(op) = text(name) {
        return match op.as_ref() {
            "agent" | "framework" | "execute_task" => ours("invoke_agent"),
            "vectordb" | "retrieval" => ours("execute_tool"),
            "completion" => ours("text_completion"),
            "embedding" => ours("embeddings"),
            _ => Some(op),
        };
    }
    if let Some(kind) = text(request_type) {
        return match kind.as_ref() {
            "completion" => ours("text_completion"),
            "embedding" => ours("embeddings"),
            _ => Some(kind),
        };
    }
    text(span_kind).map(|k| match k.as_ref() {
        "tool" => Cow::Borrowed("execute_tool"),
        // workflow, task, agent: orchestration spans around model calls
        _ => Cow::Borrowed("invoke_agent"),
    })
}

/// Provider names as the conventions and the instrumentations write them, lower-cased, with
/// the catalog's names for the same companies; None when `name` is already ours.
fn provider(name: &str) -> Option<String> {
    // Lower-cased and trimmed only when it is not already (a copy per span otherwise).
    let lowered;
    let p = if name.trim().len() == name.len() && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        name
    } else {
        lowered = name.trim().to_ascii_lowercase();
        &lowered
    };
    let ours = match p {
        "gcp.gemini" | "gcp.vertex_ai" | "gcp.gen_ai" | "gemini" | "vertex_ai"
        | "google.ai.studio" | "vertexai" => "google",
        "mistral_ai" | "mistralai" => "mistral",
        _ => p,
    };
    (ours != name).then(|| ours.to_string())
}

fn one_span<E>(
    span: FlatSpan,
    line: u64,
    index: usize,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    if !span.attrs.genai {
        c.parsed.skipped_spans += 1;
        c.skip("otlp spans without gen_ai attributes", 1);
        return Ok(());
    }
    match span_fields(span) {
        Ok(fields) => keep(c, line, Some(index), &fields),
        Err(e) => {
            c.reject(line, Some(index), e);
            Ok(())
        }
    }
}

/// The workload fields a span gives, by name, in the fast reader's slots ([`fast::slot`]),
/// and its start in UTC milliseconds (its `timestamp`).
struct SpanFields<'a>([Option<Val<'a>>; fast::SLOTS], Option<i64>);

impl<'a> SpanFields<'a> {
    fn insert(&mut self, name: &str, value: impl Into<Val<'a>>) {
        match fast::slot(name) {
            Some(i) => self.0[i] = Some(value.into()),
            None => debug_assert!(false, "`{name}` is not a workload field"),
        }
    }

    fn get(&self, name: &str) -> Option<&Val<'a>> {
        self.0[fast::slot(name)?].as_ref()
    }

    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl Fields for SpanFields<'_> {
    fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.get(name)? {
            Val::Text(s) => (!s.is_empty()).then_some(Cow::Borrowed(*s)),
            Val::Json(v) => value_text(Some(v)),
            // [`span_fields`] rejects a span with one.
            Val::NotUtf8 => None,
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        match self.get(name) {
            Some(Val::Text(s)) => text_number(name, s),
            Some(Val::Json(v)) => value_number(name, Some(v)),
            Some(Val::NotUtf8) => Err(format!("field `{name}`: its text is not UTF-8")),
            None => Ok(None),
        }
    }

    fn timestamp_ms(&self) -> Option<i64> {
        self.1
    }
}

/// Flatten one GenAI span into workload fields.
fn span_fields(span: FlatSpan<'_>) -> Result<SpanFields<'_>, String> {
    let FlatSpan {
        mut attrs,
        trace_id,
        span_id,
        parent_span_id,
        start,
        end,
        error,
    } = span;
    if let Some(slot) = attrs
        .values
        .iter()
        .position(|v| matches!(v, Some(Val::NotUtf8)))
    {
        let key = SLOTS.iter().find(|(_, s)| **s == slot).map(|(k, _)| *k);
        return Err(format!(
            "span: attribute `{}` is not UTF-8 text",
            String::from_utf8_lossy(key.unwrap_or_default())
        ));
    }
    let mut out = SpanFields([const { None }; fast::SLOTS], None);
    // Every key is read for one field only (SLOTS' test), so values are moved, not copied.
    // The aliases' keys have the first slots, in order.
    let mut slot = 0;
    for (field, keys) in ALIASES {
        let slots = slot..slot + keys.len();
        slot = slots.end;
        if let Some(v) = slots
            .into_iter()
            .find_map(|i| attrs.take_slot(i).filter(|v| !v.is_null()))
        {
            out.insert(field, v);
        }
    }
    if let Some(p) = out.get("provider").and_then(Val::as_str)
        && let Some(p) = provider(p)
    {
        out.insert("provider", Value::from(p));
    }
    if let Some(op) = operation(&attrs) {
        out.insert("operation", op);
    }
    if !out.contains_key("ttft_ms")
        && let Some(s) = attrs.get(TTFT_SECONDS).and_then(Val::as_f64)
    {
        out.insert("ttft_ms", Value::from(s * 1000.0));
    }
    let finish = FINISH_KEYS.iter().find_map(|k| attrs.take(k));
    match finish {
        Some(Val::Json(Value::Array(reasons))) => {
            if let Some(first) = reasons.into_iter().next() {
                out.insert("finish_reason", first);
            }
        }
        Some(Val::Json(Value::String(s))) => {
            out.insert("finish_reason", Value::from(s));
        }
        Some(Val::Text(s)) => {
            out.insert("finish_reason", Val::Text(s));
        }
        _ => {}
    }
    if !trace_id.is_empty() {
        out.insert("trace_id", trace_id);
    }
    if !span_id.is_empty() {
        out.insert("span_id", span_id.clone());
    }
    if let Some(p) = parent_span_id {
        out.insert("parent_span_id", p);
    }
    let start = start.ok_or("span: `startTimeUnixNano` is missing")?;
    let end = end.ok_or("span: `endTimeUnixNano` is missing")?;
    let ts = chrono::DateTime::from_timestamp(
        start.div_euclid(1_000_000_000),
        start.rem_euclid(1_000_000_000) as u32,
    )
    .ok_or("span: `startTimeUnixNano` is out of range")?;
    out.1 = Some(ts.timestamp_millis());
    if end < start {
        return Err("span: `endTimeUnixNano` is before `startTimeUnixNano`".into());
    }
    out.insert("latency_ms", Value::from((end - start) as f64 / 1e6));
    out.insert(
        "status",
        Val::Text(if error || out.contains_key("error_type") {
            "error"
        } else {
            "ok"
        }),
    );
    if !out.contains_key("event_id") && !span_id.is_empty() {
        out.insert("event_id", span_id);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_are_lower_cased_and_mapped_to_the_catalogs() {
        assert_eq!(provider("openai"), None);
        assert_eq!(provider("OpenAI"), Some("openai".into()));
        assert_eq!(provider(" openai "), Some("openai".into()));
        assert_eq!(provider("gcp.vertex_ai"), Some("google".into()));
        assert_eq!(provider("Mistral_AI"), Some("mistral".into()));
        assert_eq!(provider("mistral"), None);
    }

    #[test]
    fn every_attribute_key_is_read_for_one_field_only() {
        // `span_fields` moves values out of `Attrs`: a key read twice would be empty the
        // second time.
        let keys = ALIASES.iter().map(|(_, keys)| keys.len()).sum::<usize>()
            + OPERATION_KEYS.len()
            + 1
            + FINISH_KEYS.len();
        assert_eq!(SLOTS.len(), keys);
        assert_eq!(SLOT_COUNT, keys);
        // `span_fields` reads the aliases by slot: theirs are the first, in order.
        let aliases = ALIASES.iter().flat_map(|(_, keys)| keys.iter());
        for (i, key) in aliases.enumerate() {
            assert_eq!(SLOTS[key.as_bytes()], i, "{key}");
        }
    }
}
