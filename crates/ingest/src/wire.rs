//! An OTLP `ExportTraceServiceRequest` read in place: the protobuf wire format walked over
//! the request's bytes for the fields the ingest uses (ids, times, status, attributes),
//! every key, value and id a slice of the request. prost decodes into messages that own
//! their text (`opentelemetry-proto`'s: a `String` per attribute key and value, ~40
//! allocations a span; or `Bytes` slices: an atomic reference count per key and value and
//! a `Vec` per span), which was most of a protobuf ingest's CPU; a borrowed decode is not
//! something prost offers.
//!
//! The whole request is checked as it is read, before any span is handed on: a request
//! that is not well-formed protobuf, or whose fields have the wrong wire types, is refused
//! whole, as a decoder refuses it. Fields the ingest does not use (span names, events,
//! links, scopes, unknown fields) are skipped by their wire type. Text is not checked to be
//! UTF-8 here: the reader checks what it reads.
//!
//! The schema: `opentelemetry/proto/collector/trace/v1/trace_service.proto`,
//! `trace/v1/trace.proto`, `common/v1/common.proto`, `resource/v1/resource.proto`.

use std::ops::Range;

/// One value of a field, by wire type.
#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// The fields of one message, in order.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn of(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(if self.buf.len() < 10 {
            "truncated: a varint runs past the end of its message".into()
        } else {
            "invalid varint (more than 10 bytes)".into()
        })
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > self.buf.len() {
            return Err("truncated: a field runs past the end of its message".into());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field's number and value; None at the end of the message.
    fn next(&mut self) -> Result<Option<(u32, Field<'a>)>, String> {
        loop {
            if self.buf.is_empty() {
                return Ok(None);
            }
            let key = self.varint()?;
            let number = u32::try_from(key >> 3)
                .ok()
                .filter(|&n| n > 0 && n < 1 << 29)
                .ok_or_else(|| format!("invalid field number {}", key >> 3))?;
            let field = match key & 7 {
                0 => Field::Varint(self.varint()?),
                1 => Field::Fixed64(u64::from_le_bytes(
                    self.take(8)?.try_into().unwrap_or_default(),
                )),
                2 => {
                    let len = self.varint()?;
                    Field::Bytes(self.take(len)?)
                }
                // a group: skipped, on to the next field
                3 => {
                    self.skip_group(number)?;
                    continue;
                }
                5 => {
                    self.take(4)?;
                    Field::Fixed32
                }
                t => return Err(format!("invalid wire type {t} (field {number})")),
            };
            return Ok(Some((number, field)));
        }
    }

    /// Past a (deprecated) group to its end, groups in it included (at most [`DEPTH`]
    /// open at once: deeper is refused, not followed).
    fn skip_group(&mut self, number: u32) -> Result<(), String> {
        let mut open = vec![u64::from(number)];
        while let Some(&innermost) = open.last() {
            if self.buf.is_empty() {
                return Err(format!("truncated: group {innermost} has no end"));
            }
            let key = self.varint()?;
            match key & 7 {
                0 => {
                    self.varint()?;
                }
                1 => {
                    self.take(8)?;
                }
                2 => {
                    let len = self.varint()?;
                    self.take(len)?;
                }
                3 if open.len() < DEPTH => open.push(key >> 3),
                3 => return Err(format!("groups nest deeper than {DEPTH}")),
                4 if key >> 3 == innermost => {
                    open.pop();
                }
                5 => {
                    self.take(4)?;
                }
                t => return Err(format!("invalid wire type {t} in group {innermost}")),
            }
        }
        Ok(())
    }
}

/// A field of a known number with the wrong wire type.
fn wrong(message: &str, number: u32, field: Field<'_>) -> String {
    format!("{message}.{number}: wrong wire type ({field:?})")
}

/// An attribute value (`AnyValue`): the last of its `oneof` present wins; `kvlist_value`
/// and `bytes_value` read as no value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Any<'a> {
    None,
    /// A `string` in the schema, not yet checked to be UTF-8.
    String(&'a [u8]),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// An `ArrayValue` message (its values checked as the request was read).
    Array(&'a [u8]),
}

/// How deep arrays may nest in a value (prost's limit for messages): a request of nested
/// arrays is refused instead of overflowing the stack.
const DEPTH: usize = 100;

impl<'a> Any<'a> {
    fn read(buf: &'a [u8]) -> Result<Any<'a>, String> {
        Self::read_within(buf, DEPTH)
    }

    fn read_within(buf: &'a [u8], depth: usize) -> Result<Any<'a>, String> {
        let Some(depth) = depth.checked_sub(1) else {
            return Err(format!("an attribute's arrays nest deeper than {DEPTH}"));
        };
        let mut value = Any::None;
        let mut fields = Fields::of(buf);
        while let Some((number, field)) = fields.next()? {
            value = match (number, field) {
                (1, Field::Bytes(s)) => Any::String(s),
                (2, Field::Varint(v)) => Any::Bool(v != 0),
                (3, Field::Varint(v)) => Any::Int(v as i64),
                (4, Field::Fixed64(v)) => Any::Double(f64::from_bits(v)),
                (5, Field::Bytes(a)) => {
                    for v in Values(Fields::of(a), depth) {
                        v?;
                    }
                    Any::Array(a)
                }
                (6 | 7, Field::Bytes(_)) => Any::None,
                (1..=7, f) => return Err(wrong("AnyValue", number, f)),
                _ => value,
            };
        }
        Ok(value)
    }
}

/// The values of an `ArrayValue` message.
pub(crate) struct Array<'a>(pub(crate) &'a [u8]);

impl<'a> IntoIterator for Array<'a> {
    type Item = Result<Any<'a>, String>;
    type IntoIter = Values<'a>;

    fn into_iter(self) -> Values<'a> {
        Values(Fields::of(self.0), DEPTH)
    }
}

/// The values of an `ArrayValue`, in order (nesting at most `.1` deeper).
pub(crate) struct Values<'a>(Fields<'a>, usize);

impl<'a> Iterator for Values<'a> {
    type Item = Result<Any<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.0.next() {
                Err(e) => return Some(Err(e)),
                Ok(None) => return None,
                Ok(Some((1, Field::Bytes(v)))) => return Some(Any::read_within(v, self.1)),
                Ok(Some((1, f))) => return Some(Err(wrong("ArrayValue", 1, f))),
                Ok(Some(_)) => {}
            }
        }
    }
}

/// One attribute (`KeyValue`): its key (a `string`, not yet checked to be UTF-8) and value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attribute<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: Any<'a>,
}

impl<'a> Attribute<'a> {
    fn read(buf: &'a [u8]) -> Result<Attribute<'a>, String> {
        let mut a = Attribute {
            key: &[],
            value: Any::None,
        };
        let mut fields = Fields::of(buf);
        while let Some((number, field)) = fields.next()? {
            match (number, field) {
                (1, Field::Bytes(k)) => a.key = k,
                (2, Field::Bytes(v)) => a.value = Any::read(v)?,
                (1 | 2, f) => return Err(wrong("KeyValue", number, f)),
                _ => {}
            }
        }
        Ok(a)
    }
}

/// One span, as the ingest reads it.
#[derive(Debug, Clone)]
pub(crate) struct Span<'a> {
    pub(crate) trace_id: &'a [u8],
    pub(crate) span_id: &'a [u8],
    pub(crate) parent_span_id: &'a [u8],
    pub(crate) start_time_unix_nano: u64,
    pub(crate) end_time_unix_nano: u64,
    /// `status.code` is `STATUS_CODE_ERROR` (2).
    pub(crate) error: bool,
    /// Its attributes in [`Request::attributes`].
    pub(crate) attributes: Range<usize>,
}

/// The spans of one `ResourceSpans`, and its resource's attributes.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    /// In [`Request::attributes`].
    pub(crate) attributes: Range<usize>,
    /// In [`Request::spans`].
    pub(crate) spans: Range<usize>,
}

/// A request read in place: its resources in order, each with its spans.
#[derive(Debug, Default)]
pub(crate) struct Request<'a> {
    pub(crate) resources: Vec<Resource>,
    pub(crate) spans: Vec<Span<'a>>,
    pub(crate) attributes: Vec<Attribute<'a>>,
}

impl<'a> Request<'a> {
    /// Read a whole request; the error says why it is not one.
    pub(crate) fn read(buf: &'a [u8]) -> Result<Request<'a>, String> {
        let mut req = Request::default();
        let mut fields = Fields::of(buf);
        while let Some((number, field)) = fields.next()? {
            match (number, field) {
                (1, Field::Bytes(rs)) => req.resource_spans(rs)?,
                (1, f) => return Err(wrong("ExportTraceServiceRequest", 1, f)),
                _ => {}
            }
        }
        Ok(req)
    }

    /// One `ResourceSpans`: its resource's attributes first (wherever the resource is), then
    /// its spans.
    fn resource_spans(&mut self, buf: &'a [u8]) -> Result<(), String> {
        let first = self.attributes.len();
        let mut fields = Fields::of(buf);
        while let Some((number, field)) = fields.next()? {
            match (number, field) {
                (1, Field::Bytes(resource)) => {
                    let mut fields = Fields::of(resource);
                    while let Some((number, field)) = fields.next()? {
                        match (number, field) {
                            (1, Field::Bytes(kv)) => self.attributes.push(Attribute::read(kv)?),
                            (1, f) => return Err(wrong("Resource", 1, f)),
                            _ => {}
                        }
                    }
                }
                (2, Field::Bytes(_)) => {}
                (1 | 2, f) => return Err(wrong("ResourceSpans", number, f)),
                _ => {}
            }
        }
        let attributes = first..self.attributes.len();
        let spans = self.spans.len();
        let mut fields = Fields::of(buf);
        while let Some((number, field)) = fields.next()? {
            if let (2, Field::Bytes(scope)) = (number, field) {
                let mut fields = Fields::of(scope);
                while let Some((number, field)) = fields.next()? {
                    match (number, field) {
                        (2, Field::Bytes(span)) => self.span(span)?,
                        (1, Field::Bytes(_)) => {}
                        (1 | 2, f) => return Err(wrong("ScopeSpans", number, f)),
                        _ => {}
                    }
                }
            }
        }
        self.resources.push(Resource {
            attributes,
            spans: spans..self.spans.len(),
        });
        Ok(())
    }

    fn span(&mut self, buf: &'a [u8]) -> Result<(), String> {
        let first = self.attributes.len();
        let mut span = Span {
            trace_id: &[],
            span_id: &[],
            parent_span_id: &[],
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            error: false,
            attributes: 0..0,
        };
        let mut fields = Fields::of(buf);
        while let Some((number, field)) = fields.next()? {
            match (number, field) {
                (1, Field::Bytes(id)) => span.trace_id = id,
                (2, Field::Bytes(id)) => span.span_id = id,
                (4, Field::Bytes(id)) => span.parent_span_id = id,
                (7, Field::Fixed64(t)) => span.start_time_unix_nano = t,
                (8, Field::Fixed64(t)) => span.end_time_unix_nano = t,
                (9, Field::Bytes(kv)) => self.attributes.push(Attribute::read(kv)?),
                (15, Field::Bytes(status)) => {
                    span.error = false;
                    let mut fields = Fields::of(status);
                    while let Some((number, field)) = fields.next()? {
                        match (number, field) {
                            (3, Field::Varint(code)) => span.error = code as i32 == 2,
                            (2, Field::Bytes(_)) => {}
                            (2 | 3, f) => return Err(wrong("Status", number, f)),
                            _ => {}
                        }
                    }
                }
                (1 | 2 | 4 | 7 | 8 | 9 | 15, f) => return Err(wrong("Span", number, f)),
                _ => {}
            }
        }
        span.attributes = first..self.attributes.len();
        self.spans.push(span);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use opentelemetry_proto::tonic::trace::v1::{
        ResourceSpans, ScopeSpans, Span as ProtoSpan, Status,
    };
    use prost::Message;

    fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    /// Every field the reader takes, as prost encodes it, reads back; what it skips is
    /// skipped; a truncated request and a wrong wire type are refused.
    #[test]
    fn a_request_reads_as_prost_wrote_it() {
        use any_value::Value as V;
        let span = |i: u8, status: i32| ProtoSpan {
            trace_id: vec![i; 16],
            span_id: vec![i + 1; 8],
            parent_span_id: if i == 0 { vec![] } else { vec![9; 8] },
            name: "chat gpt-4o".into(),
            start_time_unix_nano: 1_000 + u64::from(i),
            end_time_unix_nano: 2_000 + u64::from(i),
            attributes: vec![
                kv("gen_ai.request.model", V::StringValue("gpt-4o".into())),
                kv("n", V::IntValue(-3)),
                kv("x", V::DoubleValue(0.5)),
                kv("b", V::BoolValue(true)),
                kv(
                    "gen_ai.response.finish_reasons",
                    V::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(V::StringValue("stop".into())),
                        }],
                    }),
                ),
                kv("raw", V::BytesValue(vec![1, 2])),
            ],
            status: Some(Status {
                message: "bad".into(),
                code: status,
            }),
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(ProtoResource {
                    attributes: vec![kv("service.name", V::StringValue("shop".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(0, 0), span(1, 2)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = req.encode_to_vec();
        let read = Request::read(&bytes).unwrap();
        assert_eq!(read.resources.len(), 1);
        let r = &read.resources[0];
        let attrs = &read.attributes[r.attributes.clone()];
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].key, b"service.name");
        assert_eq!(attrs[0].value, Any::String(b"shop"));
        assert_eq!(r.spans, 0..2);
        for (i, s) in read.spans.iter().enumerate() {
            let i = i as u8;
            assert_eq!(s.trace_id, [i; 16]);
            assert_eq!(s.span_id, [i + 1; 8]);
            assert_eq!(s.parent_span_id.is_empty(), i == 0);
            assert_eq!(s.start_time_unix_nano, 1_000 + u64::from(i));
            assert_eq!(s.end_time_unix_nano, 2_000 + u64::from(i));
            assert_eq!(s.error, i == 1);
            let a = &read.attributes[s.attributes.clone()];
            let values: Vec<Any> = a.iter().map(|a| a.value).collect();
            assert_eq!(
                values[..4],
                [
                    Any::String(b"gpt-4o"),
                    Any::Int(-3),
                    Any::Double(0.5),
                    Any::Bool(true)
                ]
            );
            let Any::Array(items) = values[4] else {
                panic!("{:?}", values[4]);
            };
            let items: Vec<Any> = Array(items).into_iter().map(Result::unwrap).collect();
            assert_eq!(items, [Any::String(b"stop")]);
            assert_eq!(values[5], Any::None);
        }
        // cut anywhere inside: refused
        for cut in [1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(Request::read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // a span's start time as a varint instead of fixed64: refused
        let mut wrong_type = Vec::new();
        let span = [0x38u8, 0x05]; // field 7, wire type 0
        let scope = [&[0x12u8, span.len() as u8][..], &span].concat();
        let rs = [&[0x12u8, scope.len() as u8][..], &scope].concat();
        wrong_type.extend_from_slice(&[0x0a, rs.len() as u8]);
        wrong_type.extend_from_slice(&rs);
        let e = Request::read(&wrong_type).unwrap_err();
        assert!(e.contains("Span.7"), "{e}");
        assert!(Request::read(&[0xff, 0xff, 0xff]).is_err());
        // arrays in arrays past prost's depth: refused (deeper, the stack would overflow)
        let mut any = vec![0x0a, 0x00]; // AnyValue { string_value: "" }
        for _ in 0..150 {
            // ArrayValue { values: [any] } inside AnyValue { array_value }
            let mut array = vec![0x0a];
            prost::encoding::encode_varint(any.len() as u64, &mut array);
            array.extend_from_slice(&any);
            any = vec![0x2a];
            prost::encoding::encode_varint(array.len() as u64, &mut any);
            any.extend_from_slice(&array);
        }
        let e = Any::read(&any).unwrap_err();
        assert!(e.contains("deeper than 100"), "{e}");
        // an unknown field as groups in groups: skipped when they close, refused past the
        // depth
        let groups = |n: usize| [vec![0x7bu8; n], vec![0x7cu8; n]].concat(); // field 15
        assert_eq!(Request::read(&groups(100)).unwrap().spans.len(), 0);
        let e = Request::read(&groups(1_000_000)).unwrap_err();
        assert!(e.contains("deeper than 100"), "{e}");
        assert!(
            Request::read(&[0x7b, 0x7b, 0x7c]).is_err(),
            "an unclosed group"
        );
        assert_eq!(Request::read(&[]).unwrap().spans.len(), 0);
    }
}
