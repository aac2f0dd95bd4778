//! OTLP traces, JSON and protobuf, carrying the OpenTelemetry GenAI semantic conventions.
//!
//! Sources of the field names:
//! - OTLP/JSON and OTLP/HTTP: the OTLP specification
//!   (<https://opentelemetry.io/docs/specs/otlp/>, the JSON file exporter
//!   <https://opentelemetry.io/docs/specs/otel/protocol/file-exporter/>); the messages are
//!   `opentelemetry-proto`'s `ExportTraceServiceRequest`.
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

use std::io::Read;
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Map, Value};

use super::convert::{JsonFields, keep};
use super::json::{self, Doc};
use super::{Collector, IngestError};

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
struct FlatSpan {
    /// The resource's attributes, then the span's (the span's win).
    attrs: Map<String, Value>,
    genai: bool,
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    start: Option<i64>,
    end: Option<i64>,
    error: bool,
}

/// A span's attributes over its resource's (the span's win), and whether its own make it
/// GenAI work.
fn span_attributes(
    resource: &Map<String, Value>,
    own: Map<String, Value>,
) -> (Map<String, Value>, bool) {
    let genai = is_genai(&own);
    let mut attrs = resource.clone();
    attrs.extend(own);
    (attrs, genai)
}

// ---------------------------------------------------------------- JSON

fn json_any(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return Value::Null;
    };
    if let Some(s) = o.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = o.get("intValue") {
        // int64 is a JSON string in OTLP/JSON
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
        return Value::Array(a.iter().map(json_any).collect());
    }
    Value::Null
}

fn json_attributes(v: Option<&Value>, into: &mut Map<String, Value>) {
    for kv in v.and_then(Value::as_array).into_iter().flatten() {
        if let (Some(k), Some(val)) = (kv.get("key").and_then(Value::as_str), kv.get("value")) {
            into.insert(k.to_string(), json_any(val));
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

fn json_span(resource: &Map<String, Value>, span: &Value) -> FlatSpan {
    let mut own = Map::new();
    json_attributes(span.get("attributes"), &mut own);
    let (attrs, genai) = span_attributes(resource, own);
    let id = |key: &str| {
        span.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let error = status_error(span.get("status"));
    FlatSpan {
        attrs,
        genai,
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
        let mut resource = Map::new();
        json_attributes(
            r.get("resource").and_then(|x| x.get("attributes")),
            &mut resource,
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

    use serde::{Deserialize, Deserializer};
    use serde_json::value::RawValue;
    use serde_json::{Map, Value};

    use super::{
        Collector, FlatSpan, IngestError, json_any, json_nanos, one_span, span_attributes,
    };

    /// A present field must hold a value of its type: `null` is not absent here.
    fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        T::deserialize(d).map(Some)
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
        #[serde(rename = "traceId", default, deserialize_with = "present", borrow)]
        trace_id: Option<Cow<'a, str>>,
        #[serde(rename = "spanId", default, deserialize_with = "present", borrow)]
        span_id: Option<Cow<'a, str>>,
        #[serde(rename = "parentSpanId", default, deserialize_with = "present", borrow)]
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
        #[serde(default, deserialize_with = "present", borrow)]
        attributes: Option<Vec<Attribute<'a>>>,
    }

    #[derive(Deserialize)]
    struct Attribute<'a> {
        #[serde(default, deserialize_with = "present", borrow)]
        key: Option<Cow<'a, str>>,
        /// `null` is a value here (an attribute whose value is null is kept, as null).
        #[serde(default, deserialize_with = "present", borrow)]
        value: Option<&'a RawValue>,
    }

    /// A raw value as a `Value` (it was valid JSON when the line was read).
    fn value(raw: &RawValue) -> Value {
        serde_json::from_str(raw.get()).unwrap_or(Value::Null)
    }

    fn attributes(kvs: Option<&[Attribute<'_>]>, into: &mut Map<String, Value>) {
        for kv in kvs.into_iter().flatten() {
            if let (Some(k), Some(v)) = (&kv.key, kv.value) {
                into.insert(k.to_string(), json_any(&value(v)));
            }
        }
    }

    fn span(resource: &Map<String, Value>, span: &Span<'_>) -> FlatSpan {
        let mut own = Map::new();
        attributes(span.attributes.as_deref(), &mut own);
        let (attrs, genai) = span_attributes(resource, own);
        let id =
            |v: &Option<Cow<'_, str>>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
        FlatSpan {
            attrs,
            genai,
            trace_id: id(&span.trace_id).unwrap_or_default(),
            span_id: id(&span.span_id).unwrap_or_default(),
            parent_span_id: id(&span.parent_span_id),
            start: json_nanos(span.start.map(value).as_ref()),
            end: json_nanos(span.end.map(value).as_ref()),
            error: super::status_error(span.status.map(value).as_ref()),
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
            let mut resource = Map::new();
            attributes(
                r.resource.as_ref().and_then(|x| x.attributes.as_deref()),
                &mut resource,
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
}

// ---------------------------------------------------------------- protobuf

fn proto_any(v: Option<&AnyValue>) -> Value {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Value::from(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|x| proto_any(Some(x))).collect())
        }
        _ => Value::Null,
    }
}

fn proto_attributes(kvs: &[KeyValue], into: &mut Map<String, Value>) {
    for kv in kvs {
        into.insert(kv.key.clone(), proto_any(kv.value.as_ref()));
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
    req: &ExportTraceServiceRequest,
    message: u64,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    let mut index = 0usize;
    for rs in &req.resource_spans {
        let mut resource = Map::new();
        if let Some(r) = &rs.resource {
            proto_attributes(&r.attributes, &mut resource);
        }
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                index += 1;
                let mut own = Map::new();
                proto_attributes(&span.attributes, &mut own);
                let (attrs, genai) = span_attributes(&resource, own);
                let flat = FlatSpan {
                    attrs,
                    genai,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    start: i64::try_from(span.start_time_unix_nano).ok(),
                    end: i64::try_from(span.end_time_unix_nano).ok(),
                    error: span.status.as_ref().is_some_and(|s| s.code == 2),
                };
                one_span(flat, message, index, c)?;
            }
        }
    }
    Ok(())
}

/// A protobuf file: one `ExportTraceServiceRequest` (what an OTLP/HTTP exporter posts), or
/// the Collector file exporter's proto format (each message preceded by its length as a
/// 4-byte big-endian integer). Rejections name the message's number as their line.
pub(crate) fn proto_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    let bytes = std::fs::read(path)
        .map_err(|e| IngestError::Io(format!("path: cannot read {}: {e}", path.display())))?;
    if let Some(messages) = length_prefixed(&bytes) {
        for (i, m) in messages.into_iter().enumerate() {
            match ExportTraceServiceRequest::decode(m) {
                Ok(req) => proto_request(&req, i as u64 + 1, c)?,
                Err(e) => c.reject(
                    i as u64 + 1,
                    None,
                    format!(
                        "message {} is not an OTLP ExportTraceServiceRequest: {e}",
                        i + 1
                    ),
                ),
            }
        }
        return Ok(());
    }
    match ExportTraceServiceRequest::decode(bytes.as_slice()) {
        Ok(req) => proto_request(&req, 1, c),
        Err(e) => Err(IngestError::Invalid(format!(
            "path: {} is not OTLP protobuf (an ExportTraceServiceRequest, or length-prefixed ones): {e}",
            path.display()
        ))),
    }
}

/// Split `bytes` into 4-byte-big-endian-length-prefixed messages, if it is exactly that.
fn length_prefixed(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if len == 0 || len > tail.len() {
            return None;
        }
        let (m, tail) = tail.split_at(len);
        out.push(m);
        rest = tail;
    }
    // A single request whose first bytes happen to read as a fitting length is possible but
    // needs the whole file to split exactly; require every piece to decode too.
    (!out.is_empty()
        && out
            .iter()
            .all(|m| ExportTraceServiceRequest::decode(*m).is_ok()))
    .then_some(out)
}

/// Parse one OTLP/HTTP body; a body that does not parse is `Invalid` with the reason.
pub(crate) fn body<E>(
    bytes: &[u8],
    encoding: OtlpEncoding,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    match encoding {
        OtlpEncoding::Protobuf => {
            let req = ExportTraceServiceRequest::decode(bytes).map_err(|e| {
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

fn is_genai(own: &Map<String, Value>) -> bool {
    own.keys()
        .any(|k| k.starts_with("gen_ai.") || k.starts_with("llm.") || k.starts_with("traceloop."))
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

/// `gen_ai.operation.name` as written by the conventions and by OpenLIT, or OpenLLMetry's
/// `llm.request.type` / `traceloop.span.kind`, as one of our operations.
fn operation(attrs: &Map<String, Value>) -> Option<String> {
    let text = |k: &str| {
        attrs
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    if let Some(op) = text("gen_ai.operation.name") {
        return Some(
            match op.as_str() {
                "agent" | "framework" | "execute_task" => "invoke_agent",
                "vectordb" | "retrieval" => "execute_tool",
                "completion" => "text_completion",
                "embedding" => "embeddings",
                other => other,
            }
            .to_string(),
        );
    }
    if let Some(kind) = text("llm.request.type") {
        return Some(
            match kind.as_str() {
                "completion" => "text_completion",
                "embedding" => "embeddings",
                other => other,
            }
            .to_string(),
        );
    }
    text("traceloop.span.kind").map(|k| {
        match k.as_str() {
            "tool" => "execute_tool",
            // workflow, task, agent: orchestration spans around model calls
            _ => "invoke_agent",
        }
        .to_string()
    })
}

/// Provider names as the conventions and the instrumentations write them, lower-cased, with
/// the catalog's names for the same companies.
fn provider(name: &str) -> String {
    let p = name.trim().to_ascii_lowercase();
    match p.as_str() {
        "gcp.gemini" | "gcp.vertex_ai" | "gcp.gen_ai" | "gemini" | "vertex_ai"
        | "google.ai.studio" | "vertexai" => "google".into(),
        "mistral_ai" | "mistralai" => "mistral".into(),
        _ => p,
    }
}

fn one_span<E>(
    span: FlatSpan,
    line: u64,
    index: usize,
    c: &mut Collector<'_, '_, E>,
) -> Result<(), IngestError<E>> {
    if !span.genai {
        c.parsed.skipped_spans += 1;
        c.skip("otlp spans without gen_ai attributes", 1);
        return Ok(());
    }
    match span_fields(span) {
        Ok(fields) => keep(c, line, Some(index), &JsonFields(&fields)),
        Err(e) => {
            c.reject(line, Some(index), e);
            Ok(())
        }
    }
}

/// Flatten one GenAI span into workload fields.
fn span_fields(span: FlatSpan) -> Result<Map<String, Value>, String> {
    let attrs = &span.attrs;
    let mut out = Map::new();
    for (field, keys) in ALIASES {
        if let Some(v) = keys
            .iter()
            .find_map(|k| attrs.get(*k).filter(|v| !v.is_null()))
        {
            out.insert(field.to_string(), v.clone());
        }
    }
    if let Some(p) = out.get("provider").and_then(Value::as_str) {
        let p = provider(p);
        out.insert("provider".into(), Value::from(p));
    }
    if let Some(op) = operation(attrs) {
        out.insert("operation".into(), Value::from(op));
    }
    if !out.contains_key("ttft_ms")
        && let Some(s) = attrs
            .get("gen_ai.server.time_to_first_token")
            .and_then(Value::as_f64)
    {
        out.insert("ttft_ms".into(), Value::from(s * 1000.0));
    }
    let finish = attrs
        .get("gen_ai.response.finish_reasons")
        .or_else(|| attrs.get("llm.response.finish_reason"));
    match finish {
        Some(Value::Array(reasons)) => {
            if let Some(first) = reasons.first() {
                out.insert("finish_reason".into(), first.clone());
            }
        }
        Some(Value::String(s)) => {
            out.insert("finish_reason".into(), Value::from(s.clone()));
        }
        _ => {}
    }
    if !span.trace_id.is_empty() {
        out.insert("trace_id".into(), Value::from(span.trace_id));
    }
    if !span.span_id.is_empty() {
        out.insert("span_id".into(), Value::from(span.span_id.clone()));
    }
    if let Some(p) = span.parent_span_id {
        out.insert("parent_span_id".into(), Value::from(p));
    }
    let start = span.start.ok_or("span: `startTimeUnixNano` is missing")?;
    let end = span.end.ok_or("span: `endTimeUnixNano` is missing")?;
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
    out.insert(
        "status".into(),
        Value::from(if span.error || out.contains_key("error_type") {
            "error"
        } else {
            "ok"
        }),
    );
    if !out.contains_key("event_id") && !span.span_id.is_empty() {
        out.insert("event_id".into(), Value::from(span.span_id));
    }
    Ok(out)
}
