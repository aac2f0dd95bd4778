//! Each format's fixture (tests/fixtures/ingest/, made by make_fixtures.py from the formats'
//! public documentation) read in full: counts, spend and the fields that matter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use apex_core::pricing::PriceCatalog;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/ingest")
        .join(name)
}

fn read(name: &str, format: Format) -> (Parsed, Vec<WorkloadRecord>) {
    read_with(name, format, BTreeMap::new())
}

fn read_with(
    name: &str,
    format: Format,
    columns: BTreeMap<String, String>,
) -> (Parsed, Vec<WorkloadRecord>) {
    let mut opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    opts.columns = columns;
    parse_all(&fixture(name), format, &opts)
}

/// Every record of the file at `path` as `parse_file` hands them over, with its tally.
fn parse_all(
    path: &Path,
    format: Format,
    opts: &ParseOptions<'_>,
) -> (Parsed, Vec<WorkloadRecord>) {
    let mut records = Vec::new();
    let parsed = parse_file(path, format, opts, |b| -> Result<(), ()> {
        records.extend_from_slice(b);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    (parsed, records)
}

fn price(model: &str, input: u64, output: u64, cache_read: u64, cache_write: u64) -> f64 {
    PriceCatalog::builtin()
        .cost(model, input, output, cache_read, cache_write)
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn every_fixture_is_detected_as_its_format() {
    for (name, format) in [
        ("otlp-genai.json", Format::OtlpJson),
        ("otlp-genai.pb", Format::OtlpProto),
        ("litellm-spend-logs.json", Format::Litellm),
        ("litellm-spend-logs.csv", Format::Litellm),
        ("langfuse-observations.json", Format::Langfuse),
        ("openai-usage-completions.json", Format::OpenaiUsage),
        ("openai-costs.json", Format::OpenaiUsage),
        ("anthropic-usage-messages.json", Format::AnthropicUsage),
        ("anthropic-cost-report.json", Format::AnthropicUsage),
        ("custom-export.csv", Format::Csv),
        ("quality.jsonl", Format::Jsonl),
    ] {
        assert_eq!(detect(&fixture(name)), Ok(format), "{name}");
    }
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(detect(&empty), Ok(Format::Jsonl));
    let odd = dir.path().join("notes.txt");
    std::fs::write(&odd, "hello\n").unwrap();
    assert!(detect(&odd).unwrap_err().contains("pass one of"));
}

fn otlp_expectations(p: &Parsed, recs: &[WorkloadRecord]) {
    assert_eq!(
        (p.accepted, p.rejected, p.skipped_spans),
        (6, 1, 1),
        "{:?}",
        p.rejections
    );
    assert_eq!((p.rejections[0].line, p.rejections[0].span), (1, Some(8)));
    assert!(p.rejections[0].reason.contains("`model` is missing"));
    let by_span = |id: &str| recs.iter().find(|r| r.span_id == id).unwrap();
    // OpenLLMetry: older usage names, cached tokens, the workflow as feature.
    let a = by_span("0000000000000a02");
    assert_eq!(
        (a.provider.as_str(), a.model.as_str(), a.operation.as_str()),
        ("openai", "gpt-4o-2024-08-06", "chat")
    );
    assert_eq!(
        (a.input_tokens, a.output_tokens, a.cache_read_tokens),
        (1200, 300, 1000)
    );
    assert_eq!(
        (a.tenant.as_str(), a.feature.as_str()),
        ("acme", "answer_ticket")
    );
    assert_eq!(a.parent_span_id.as_deref(), Some("0000000000000a01"));
    assert_eq!(a.trace_id, "a1".repeat(16));
    assert!(close(a.cost_usd, price("gpt-4o", 1200, 300, 1000, 0)));
    assert_eq!(by_span("0000000000000a01").operation, "invoke_agent");
    // Current conventions.
    let b = by_span("0000000000000b01");
    assert_eq!(
        (b.provider.as_str(), b.input_tokens, b.output_tokens),
        ("anthropic", 2000, 500)
    );
    assert_eq!(b.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(b.latency_ms, 2400.0);
    // OpenLIT: its own cost and time to first token.
    let c = by_span("0000000000000b02");
    assert_eq!((c.cost_usd, c.ttft_ms), (0.00123, Some(350.0)));
    assert_eq!(c.feature, "research-agent");
    assert_eq!(by_span("0000000000000b04").operation, "invoke_agent");
    // Older names, failed.
    let d = by_span("0000000000000b05");
    assert_eq!(
        (d.status.as_str(), d.error_type.as_deref(), d.input_tokens),
        ("error", Some("timeout"), 100)
    );
    let spend = price("gpt-4o", 1200, 300, 1000, 0)
        + price("claude-sonnet-4-5", 2000, 500, 0, 0)
        + 0.00123
        + price("gpt-4o-mini", 100, 0, 0, 0);
    assert!(close(p.spend_usd, spend), "{} vs {spend}", p.spend_usd);
    assert_eq!(p.flagged, 0, "{:?}", p.quality);
}

#[test]
fn otlp_json_and_protobuf_give_the_same_records() {
    let (pj, json) = read("otlp-genai.json", Format::Auto);
    otlp_expectations(&pj, &json);
    let (pp, proto) = read("otlp-genai.pb", Format::Auto);
    assert_eq!(pp.format, Format::OtlpProto);
    otlp_expectations(&pp, &proto);
    assert_eq!(json, proto);
}

#[test]
fn a_framed_protobuf_file_is_read_on_all_cores_as_on_one_and_a_bad_message_is_rejected() {
    // The Collector file exporter's proto format: each request preceded by its length (4
    // bytes, big-endian). Many messages across the parsing threads, one not a request.
    let request = std::fs::read(fixture("otlp-genai.pb")).unwrap();
    let (single, single_records) = read("otlp-genai.pb", Format::OtlpProto);
    let bad: &[u8] = &[0xff, 0xff, 0xff];
    let mut file = Vec::new();
    for i in 0..40 {
        let m = if i == 7 { bad } else { request.as_slice() };
        file.extend_from_slice(&(m.len() as u32).to_be_bytes());
        file.extend_from_slice(m);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.pb");
    std::fs::write(&path, &file).unwrap();
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let (parallel, all) = parse_all(&path, Format::Auto, &opts);
    assert_eq!(parallel.format, Format::OtlpProto);
    assert_eq!(parallel.accepted, 39 * single.accepted);
    assert_eq!(parallel.rejected, 39 * single.rejected + 1);
    assert!(
        parallel.rejections.iter().any(|r| r.line == 8
            && r.reason
                .contains("message 8 is not an OTLP ExportTraceServiceRequest")),
        "{:?}",
        parallel.rejections
    );
    assert_eq!(&all[..single_records.len()], single_records.as_slice());
    same_as_one_thread(&opts, parallel, &all, |c| otlp::proto_file(&path, c));
}

/// What a reader on all cores made of a file (`parallel`, its records `all`) is what the
/// one-thread reader `serial` makes of it: the same tally (spend to the last bits aside: it
/// is summed per chunk) and the same records in the same order. The one-thread tally.
fn same_as_one_thread(
    opts: &ParseOptions<'_>,
    parallel: Parsed,
    all: &[WorkloadRecord],
    serial: impl FnOnce(&mut Collector<'_, '_, ()>) -> Result<(), IngestError<()>>,
) -> Parsed {
    let mut one = Vec::new();
    let mut write = |b: RecordBatch| -> Result<(), ()> {
        one.extend(batch_to_records(&b).unwrap());
        Ok(())
    };
    let mut c = Collector::new(opts, parallel.format, &mut write);
    serial(&mut c).unwrap();
    let serial = c.finish().unwrap();
    assert!((parallel.spend_usd - serial.spend_usd).abs() < 1e-9 * serial.spend_usd.max(1.0));
    assert_eq!(
        Parsed {
            spend_usd: serial.spend_usd,
            ..parallel
        },
        serial
    );
    assert_eq!(all, one.as_slice());
    serial
}

#[test]
fn otlp_json_lines_of_megabytes_are_lines_and_read_on_all_cores_as_on_one() {
    // An OTLP file exporter (and `synth --format otlp-json`) writes one request per line,
    // megabytes each: the first line must be read to its end to see it is JSON lines.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("otlp-genai.json")).unwrap())
            .unwrap();
    let one = doc["resourceSpans"].as_array().unwrap().clone();
    let mut big = doc.clone();
    let copies = (2 << 20) / serde_json::to_string(&one).unwrap().len() + 1;
    big["resourceSpans"] = serde_json::Value::Array(
        one.iter()
            .cycle()
            .take(one.len() * copies)
            .cloned()
            .collect(),
    );
    let line = serde_json::to_string(&big).unwrap();
    assert!(line.len() > 2 << 20, "{}", line.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    std::fs::write(&path, format!("{line}\n{line}\n")).unwrap();
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let (small, _) = read("otlp-genai.json", Format::OtlpJson);
    for format in [Format::Auto, Format::OtlpJson] {
        let p = parse_file(&path, format, &opts, |_| -> Result<(), ()> { Ok(()) }).unwrap();
        assert_eq!(p.format, Format::OtlpJson);
        assert_eq!(p.accepted, 2 * copies as u64 * small.accepted);
        assert_eq!(p.rejected, 2 * copies as u64 * small.rejected);
    }

    // Read on all cores, chunk by chunk, it is what the one-thread reader makes of it: the
    // same records in the same order, the same rejections with their lines and spans.
    let small_line = serde_json::to_string(&doc).unwrap();
    // Lines the typed reader hands back to the whole-value one (nulls where structs go,
    // duplicate keys, wrong types) and lines it reads (nulls where values go, the old
    // `instrumentationLibrarySpans`, numbers for times): the same either way.
    let odd = [
        r##"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeSpans":[{"spans":[{"traceId":"t1","spanId":"s1","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","status":null,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":5}},{"key":"gen_ai.response.finish_reasons","value":null},{"key":"x","value":{"stringValue":"v\u00e9"}}]}]}]}]}"##,
        r##"{"resourceSpans":[{"scopeSpans":null,"instrumentationLibrarySpans":[{"spans":[{"traceId":"t1","spanId":"s1","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","status":null,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":5}},{"key":"gen_ai.response.finish_reasons","value":null},{"key":"x","value":{"stringValue":"v\u00e9"}}]}]}]}]}"##,
        r##"{"resourceSpans":[{"instrumentationLibrarySpans":[{"spans":[{"traceId":"t1","spanId":"s1","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","status":null,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":5}},{"key":"gen_ai.response.finish_reasons","value":null},{"key":"x","value":{"stringValue":"v\u00e9"}}]}]}]}]}"##,
        r##"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeSpans":[{"spans":[{"traceId":"t1","spanId":"s1","spanId":"s2","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","status":null,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":5}},{"key":"gen_ai.response.finish_reasons","value":null},{"key":"x","value":{"stringValue":"v\u00e9"}}]}]}]}]}"##,
        r##"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeSpans":[{"spans":[{"traceId":5,"spanId":"s1","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","status":null,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":5}},{"key":"gen_ai.response.finish_reasons","value":null},{"key":"x","value":{"stringValue":"v\u00e9"}}]}]}]}]}"##,
        r##"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeSpans":[{"spans":[{"traceId":"t1","spanId":"s1","startTimeUnixNano":1767225605075000000,"endTimeUnixNano":"1767225606103300000","status":{"code":2},"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":5}},{"key":"gen_ai.response.finish_reasons","value":null},{"key":"x","value":{"stringValue":"v\u00e9"}}]}]}]}]}"##,
        r##"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeSpans":[{"spans":[{"traceId":"t1","spanId":"s1","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","status":null,"attributes":[{"key":null,"value":{"stringValue":"k"}},{"key":"only"},{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":5}},{"key":"gen_ai.response.finish_reasons","value":null},{"key":"x","value":{"stringValue":"v\u00e9"}}]}]}]}]}"##,
        r##"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"n1","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","attributes":[{"key":"gen_ai.operation.name","value":null}]}]}]}]}"##,
        r##"{"resourceSpans":null}"##,
        OVERRIDING_SPAN,
        r##"{"resourceSpans":[{"resource":null,"scopeSpans":[{"spans":null}]}]}"##,
    ];
    let mixed = [
        &line,
        &small_line,
        "{not json",
        "",
        &small_line,
        &line,
        "  ",
    ]
    .into_iter()
    .chain(odd)
    .map(|l| format!("{l}\n"))
    .collect::<Vec<_>>();
    std::fs::write(&path, mixed.concat().repeat(3)).unwrap();
    let (parallel, all) = parse_all(&path, Format::OtlpJson, &opts);
    let serial = same_as_one_thread(&opts, parallel, &all, |c| otlp::json_file(&path, c));
    assert!(serial.rejected > 3 * (2 * copies as u64 * small.rejected + 2 * small.rejected));
    assert!(serial.accepted > 3 * (2 * copies as u64 * small.accepted + 2 * small.accepted));
}

/// A span whose attributes override each other: the resource's `apex.tenant` overridden by
/// the span's own `null` (the next alias is read), a key given twice (the later wins), a
/// model only on the resource, escapes, and `AnyValue`s out of the specification's shape.
const OVERRIDING_SPAN: &str = r##"{"resourceSpans":[{"resource":{"attributes":[{"key":"apex.tenant","value":{"stringValue":"from-resource"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":"7"}}]},"scopeSpans":[{"spans":[{"traceId":"t1","spanId":"s1","startTimeUnixNano":"1767225605075000000","endTimeUnixNano":"1767225606103300000","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"apex.tenant","value":null},{"key":"netra.tenant","value":{"stringValue":"from-span"}},{"key":"netra.workload\u005ftype","value":{"stringValue":"r\u0061g"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"20"}},{"key":"netra.feature","value":{"stringValue":"first","stringValue":"second"}},{"key":"gen_ai.usage.reasoning.output_tokens","value":{"stringValue":null,"intValue":"5"}},{"key":"gen_ai.usage.reasoning_tokens","value":{"intValue":"3","boolValue":true}},{"key":"gen_ai.usage.cache_read.input_tokens","value":{"doubleValue":4.0}},{"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"length"},{"stringValue":"stop"}]}}}]}]}]}]}"##;

#[test]
fn a_span_reads_its_attributes_as_a_map_of_them_would_hold_them() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    // Alone (one document: the whole-value reader), as lines (the typed reader on all
    // cores) and as an OTLP/HTTP body: one record, the same.
    let doc = dir.path().join("doc.json");
    std::fs::write(&doc, OVERRIDING_SPAN).unwrap();
    let lines = dir.path().join("lines.json");
    std::fs::write(&lines, format!("{OVERRIDING_SPAN}\n{OVERRIDING_SPAN}\n")).unwrap();
    let mut seen = Vec::new();
    for path in [&doc, &lines] {
        let (p, records) = parse_all(path, Format::OtlpJson, &opts);
        assert_eq!(p.rejected, 0, "{:?}", p.rejections);
        seen.extend(records);
    }
    let mut body = Vec::new();
    parse_otlp_body(
        OVERRIDING_SPAN.as_bytes(),
        OtlpEncoding::Json,
        &opts,
        |b| -> Result<(), ()> {
            body.extend(batch_to_records(&b).unwrap());
            Ok(())
        },
    )
    .unwrap();
    seen.extend(body);
    assert_eq!(seen.len(), 4);
    for r in &seen {
        assert_eq!(r.tenant, "from-span");
        assert_eq!(r.model, "gpt-4o");
        assert_eq!(r.input_tokens, 20);
        assert_eq!(r.output_tokens, 7);
        assert_eq!(r.feature, "second");
        // escapes in a key and in a value
        assert_eq!(r.workload_type, "rag");
        // `stringValue: null` is the value (null), so the next alias is read; a value with
        // two fields is the first of them in `AnyValue`'s order.
        assert_eq!(r.reasoning_tokens, 3);
        assert_eq!(r.cache_read_tokens, 4);
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        assert_eq!(r.status, "ok");
    }
    assert!(seen.iter().all(|r| r == &seen[0]));
}

#[test]
fn an_otlp_json_body_reads_as_the_same_document_in_a_file() {
    // The receiver reads a body in the specification's shape into borrowed structs; the file
    // reader reads this pretty-printed document as a whole value. Same records, same tally.
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let (from_file, file_records) = read("otlp-genai.json", Format::OtlpJson);
    let body = std::fs::read(fixture("otlp-genai.json")).unwrap();
    let mut records = Vec::new();
    let from_body = parse_otlp_body(&body, OtlpEncoding::Json, &opts, |b| -> Result<(), ()> {
        records.extend(batch_to_records(&b).unwrap());
        Ok(())
    })
    .unwrap();
    assert_eq!(records, file_records);
    assert_eq!(from_body.rejections, from_file.rejections);
    assert_eq!(
        (
            from_body.accepted,
            from_body.rejected,
            from_body.skipped_spans
        ),
        (
            from_file.accepted,
            from_file.rejected,
            from_file.skipped_spans
        )
    );
    // Not in the shape (a null where spans go): the whole-value way, which reads no spans.
    let odd = br#"{"resourceSpans":[{"scopeSpans":null}]}"#;
    let p = parse_otlp_body(odd, OtlpEncoding::Json, &opts, |_| -> Result<(), ()> {
        Ok(())
    })
    .unwrap();
    assert_eq!((p.accepted, p.rejected), (0, 0));
    let e = parse_otlp_body(
        br#"{"resourceSpans":null}"#,
        OtlpEncoding::Json,
        &opts,
        |_| -> Result<(), ()> { Ok(()) },
    )
    .unwrap_err();
    assert!(
        matches!(&e, IngestError::Invalid(m) if m.contains("resourceSpans")),
        "{e:?}"
    );
}

#[test]
fn a_protobuf_body_that_does_not_parse_is_refused_whole() {
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let mut written = 0usize;
    let e = parse_otlp_body(
        b"\x0a\xff\xff\xff",
        OtlpEncoding::Protobuf,
        &opts,
        |b| -> Result<(), ()> {
            written += b.num_rows();
            Ok(())
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, IngestError::Invalid(m) if m.contains("ExportTraceServiceRequest")),
        "{e:?}"
    );
    assert_eq!(written, 0);
    let body = std::fs::read(fixture("otlp-genai.pb")).unwrap();
    let good = parse_otlp_body(
        &body,
        OtlpEncoding::Protobuf,
        &opts,
        |_| -> Result<(), ()> { Ok(()) },
    )
    .unwrap();
    assert_eq!(good.accepted, 6);
    // A value a field is read from that is not UTF-8 (the last span's model): that span is
    // rejected, naming the attribute; the others are kept.
    let model = b"gpt-4o-mini";
    let at = body.windows(model.len()).rposition(|w| w == model).unwrap();
    let mut bad = body.clone();
    bad[at] = 0xff;
    let p = parse_otlp_body(&bad, OtlpEncoding::Protobuf, &opts, |_| -> Result<(), ()> {
        Ok(())
    })
    .unwrap();
    let rejected = |p: &Parsed, reason: &str| {
        p.rejections
            .iter()
            .any(|r| r.span == Some(7) && r.reason == reason)
    };
    assert_eq!((p.accepted, p.rejected), (5, good.rejected + 1));
    assert!(
        rejected(
            &p,
            "span: attribute `gen_ai.request.model` is not UTF-8 text"
        ),
        "{:?}",
        p.rejections
    );
    // An attribute key that is not UTF-8 is a key no field is read from (the span has no
    // model then); the request is read all the same.
    let key = b"gen_ai.request.model";
    let at = body.windows(key.len()).rposition(|w| w == key).unwrap();
    let mut bad = body.clone();
    bad[at + 1] = 0xff;
    let p = parse_otlp_body(&bad, OtlpEncoding::Protobuf, &opts, |_| -> Result<(), ()> {
        Ok(())
    })
    .unwrap();
    assert_eq!((p.accepted, p.rejected), (5, good.rejected + 1));
    assert!(
        rejected(&p, "field `model` is missing"),
        "{:?}",
        p.rejections
    );
    // gzip, as exporters send it, and a bomb refused by its decompressed size
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &body).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(decode_body(&gz, Some("gzip"), 1 << 20).unwrap(), body);
    assert!(
        decode_body(&gz, Some("gzip"), 100)
            .unwrap_err()
            .contains("more than 100")
    );
    assert!(
        decode_body(&body, Some("br"), 1 << 20)
            .unwrap_err()
            .contains("not accepted")
    );
}

#[test]
fn litellm_spend_logs_json_and_csv() {
    let (p, recs) = read("litellm-spend-logs.json", Format::Auto);
    assert_eq!((p.accepted, p.rejected), (4, 0), "{:?}", p.rejections);
    assert!(
        close(p.spend_usd, 0.0125 + 0.021 + 0.0 + 0.00002),
        "{}",
        p.spend_usd
    );
    let first = &recs[0];
    assert_eq!(
        (
            first.event_id.as_str(),
            first.tenant.as_str(),
            first.feature.as_str(),
            first.latency_ms,
            first.ttft_ms
        ),
        (
            "chatcmpl-9f1c0b2a",
            "team-support",
            "support",
            1800.0,
            Some(400.0)
        )
    );
    // Not streamed (completionStartTime = endTime): no time to first token.
    assert_eq!(
        (recs[1].provider.as_str(), recs[1].ttft_ms),
        ("anthropic", None)
    );
    assert_eq!(
        (recs[2].status.as_str(), recs[2].error_type.as_deref()),
        ("error", Some("RateLimitError"))
    );
    assert_eq!(recs[3].operation, "embeddings");
    assert_eq!(p.flagged, 0, "{:?}", p.quality);
    let (p, recs) = read("litellm-spend-logs.csv", Format::Auto);
    assert_eq!((p.accepted, p.rejected), (2, 0), "{:?}", p.rejections);
    assert!(close(p.spend_usd, 0.0335));
    assert_eq!(recs[0].feature, "support");
}

#[test]
fn langfuse_observations() {
    let (p, recs) = read("langfuse-observations.json", Format::Auto);
    assert_eq!((p.accepted, p.rejected), (3, 0), "{:?}", p.rejections);
    assert_eq!(p.skipped.values().sum::<u64>(), 2, "{:?}", p.skipped);
    assert!(close(p.spend_usd, 0.00375 + 0.00165 + 0.0000075));
    // Langfuse counts cached input apart from `input`; ours includes it.
    assert_eq!(
        (recs[0].input_tokens, recs[0].cache_read_tokens),
        (1000, 200)
    );
    assert_eq!(
        (recs[1].input_tokens, recs[1].cache_read_tokens),
        (2000, 1500)
    );
    assert_eq!(
        (
            recs[0].latency_ms,
            recs[0].ttft_ms,
            recs[0].trace_id.as_str()
        ),
        (2500.0, Some(600.0), "trace-1")
    );
    assert_eq!(
        (recs[2].status.as_str(), recs[2].error_type.as_deref()),
        ("error", Some("context_length_exceeded"))
    );
    // Costs agree with the catalog's for these tokens: nothing flagged.
    assert_eq!(p.flagged, 0, "{:?}", p.quality);
}

#[test]
fn openai_usage_buckets_are_weighted_records() {
    let (p, recs) = read("openai-usage-completions.json", Format::Auto);
    assert_eq!((p.accepted, p.rejected), (3, 0), "{:?}", p.rejections);
    assert_eq!((p.aggregated, p.calls), (3, 740));
    assert_eq!(p.skipped.values().sum::<u64>(), 1, "the images result");
    assert!(recs.iter().all(|r| r.aggregated));
    assert_eq!(
        recs.iter().map(|r| r.weight).collect::<Vec<_>>(),
        vec![40, 200, 500]
    );
    assert_eq!(recs[0].timestamp, "2025-11-01T00:00:00.000Z");
    assert_eq!(
        (recs[0].tenant.as_str(), recs[0].cache_read_tokens),
        ("proj_support", 20000)
    );
    let mini = PriceCatalog::builtin().get("gpt-4o-mini").unwrap();
    let batch = (1_000_000.0 * mini.batch_input + 100_000.0 * mini.batch_output) / 1e6;
    let spend = price("gpt-4o", 100_000, 10_000, 20_000, 0)
        + price("gpt-4o-mini", 500_000, 50_000, 0, 0)
        + batch;
    assert!(close(p.spend_usd, spend), "{} vs {spend}", p.spend_usd);
    assert_eq!(recs[2].workload_type, "batch");

    let (p, recs) = read("openai-costs.json", Format::Auto);
    assert_eq!((p.accepted, p.aggregated, p.calls), (3, 3, 0));
    assert!(close(p.spend_usd, 0.60));
    assert_eq!(recs[0].model, "gpt-4o-2024-08-06");
    assert_eq!(recs[2].model, "");
}

#[test]
fn anthropic_usage_and_cost_reports() {
    let (p, recs) = read("anthropic-usage-messages.json", Format::Auto);
    assert_eq!(
        (p.accepted, p.rejected, p.calls),
        (3, 0, 0),
        "{:?}",
        p.rejections
    );
    // input = uncached + cache reads + cache writes (both lifetimes)
    assert_eq!(
        (
            recs[0].input_tokens,
            recs[0].cache_read_tokens,
            recs[0].cache_write_tokens
        ),
        (3200, 200, 1500)
    );
    let haiku = PriceCatalog::builtin().get("claude-haiku-4-5").unwrap();
    let batch = (100_000.0 * haiku.batch_input + 20_000.0 * haiku.batch_output) / 1e6;
    let spend = price("claude-sonnet-4-5", 3200, 500, 200, 1500)
        + batch
        + price("claude-haiku-4-5", 10_000, 2000, 0, 0);
    assert!(close(p.spend_usd, spend), "{} vs {spend}", p.spend_usd);
    assert_eq!(recs[2].tenant, "unknown");

    let (p, recs) = read("anthropic-cost-report.json", Format::Auto);
    assert_eq!((p.accepted, p.calls), (3, 0));
    assert!(
        close(p.spend_usd, 1.2378912 + 2.505 + 1.0),
        "{}",
        p.spend_usd
    );
    assert_eq!(recs[2].feature, "Web Search");
}

#[test]
fn a_csv_file_read_on_all_cores_keeps_its_order_and_its_line_numbers() {
    // Many batches of rows; a quoted field with line ends inside (the lines after it move
    // on), rows of the wrong width and a row that is not UTF-8: every record in file order,
    // every rejection with its own line, in order.
    let mut bytes =
        b"event_id,timestamp,model,input_tokens,output_tokens,latency_ms,prompt_hash\n".to_vec();
    let mut line = 1u64;
    let mut expected_rejections = Vec::new();
    let mut kept = Vec::new();
    for i in 0..20_000u64 {
        line += 1;
        if i % 997 == 5 {
            bytes.extend_from_slice(
                format!("e{i},2026-01-01T00:00:05.000Z,gpt-4o-mini,1\n").as_bytes(),
            );
            expected_rejections.push((line, "fields".to_string()));
        } else if i == 12_345 {
            bytes
                .extend_from_slice(b"e12345,2026-01-01T00:00:05.000Z,gpt-4o-mini,1,1,1,\xff\xfe\n");
            expected_rejections.push((line, "unreadable".to_string()));
        } else if i % 4_001 == 7 {
            bytes.extend_from_slice(
                format!("e{i},2026-01-01T00:00:05.000Z,gpt-4o-mini,1,1,1,\"two\nlines\"\n")
                    .as_bytes(),
            );
            kept.push(format!("e{i}"));
            line += 1;
        } else {
            bytes.extend_from_slice(
                format!("e{i},2026-01-01T00:00:05.000Z,gpt-4o-mini,1,1,1,h{i}\n").as_bytes(),
            );
            kept.push(format!("e{i}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.csv");
    std::fs::write(&path, &bytes).unwrap();
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let (p, records) = parse_all(&path, Format::Csv, &opts);
    let ids: Vec<&str> = records.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids, kept);
    assert_eq!(p.accepted, kept.len() as u64);
    assert_eq!(p.rejected, expected_rejections.len() as u64);
    let got: Vec<(u64, &str)> = p
        .rejections
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(got.len(), expected_rejections.len());
    for ((line, reason), (want_line, want)) in got.iter().zip(&expected_rejections) {
        assert_eq!(line, want_line, "{reason}");
        assert!(reason.contains(want.as_str()), "line {line}: {reason}");
    }
    assert_eq!(
        records
            .iter()
            .filter(|r| r.prompt_hash.as_deref() == Some("two\nlines"))
            .count(),
        5
    );
}

#[test]
fn csv_in_another_vocabulary_through_a_header_map() {
    let columns: BTreeMap<String, String> = [
        ("timestamp", "ts"),
        ("model", "llm_model"),
        ("provider", "vendor"),
        ("input_tokens", "tokens_in"),
        ("output_tokens", "tokens_out"),
        ("latency_ms", "elapsed_ms"),
        ("cost_usd", "usd"),
        ("tenant", "team"),
        ("feature", "app"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let (p, recs) = read_with("custom-export.csv", Format::Auto, columns.clone());
    assert_eq!((p.accepted, p.rejected), (3, 0), "{:?}", p.rejections);
    assert!(close(
        p.spend_usd,
        0.0045 + 0.0025 + price("gpt-4o-mini", 10_000, 1000, 0, 0)
    ));
    assert_eq!(p.filled.get("cost_usd"), Some(&1));
    assert_eq!(
        (recs[1].tenant.as_str(), recs[1].feature.as_str()),
        ("acme", "triage")
    );
    // A value that is not a number is rejected naming the input's column and ours.
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("odd.csv");
    std::fs::write(
        &odd,
        "ts,llm_model,vendor,tokens_in,tokens_out,elapsed_ms,usd,team,app\n\
         2026-01-01T00:00:00Z,gpt-4o,,1,2,slow,,,\n\
         2026-01-01T00:00:01Z,gpt-4o,,1,2, 3.5 ,,,\n",
    )
    .unwrap();
    let mut opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    opts.columns = columns.clone();
    let (p, recs) = parse_all(&odd, Format::Csv, &opts);
    assert_eq!((p.accepted, p.rejected), (1, 1));
    assert_eq!(
        p.rejections[0].reason,
        "field `elapsed_ms`: `slow` is not a number (mapped to `latency_ms`)"
    );
    assert_eq!(
        (recs[0].latency_ms, recs[0].provider.as_str()),
        (3.5, "openai")
    );
    // Without the map the header lacks our columns; a map naming a missing column says so.
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let e = parse_file(
        &fixture("custom-export.csv"),
        Format::Csv,
        &opts,
        |_| -> Result<(), ()> { Ok(()) },
    )
    .unwrap_err();
    assert!(
        matches!(&e, IngestError::Invalid(m) if m.contains("lacks the column") && m.contains("columns=")),
        "{e:?}"
    );
    let mut bad = columns;
    bad.insert("tenant".into(), "department".into());
    let mut opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    opts.columns = bad;
    let e = parse_file(
        &fixture("custom-export.csv"),
        Format::Csv,
        &opts,
        |_| -> Result<(), ()> { Ok(()) },
    )
    .unwrap_err();
    assert!(
        matches!(&e, IngestError::Invalid(m) if m.contains("`department` (for tenant)")),
        "{e:?}"
    );
    let mut unknown = BTreeMap::new();
    unknown.insert("price".to_string(), "usd".to_string());
    assert!(
        check_columns(&unknown)
            .unwrap_err()
            .contains("not a workload field")
    );
}

#[test]
fn bad_values_are_kept_flagged_and_counted_never_fixed_or_dropped() {
    let (p, recs) = read("quality.jsonl", Format::Auto);
    assert_eq!(
        (p.accepted, p.rejected, p.flagged),
        (8, 2, 7),
        "{:?}",
        p.rejections
    );
    assert_eq!(
        p.rejections.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![9, 10]
    );
    assert!(p.rejections[1].reason.contains("`timestamp` is missing"));
    let count = |f: QualityFlag| p.quality.get(f.name()).map(|c| c.count).unwrap_or(0);
    assert_eq!(count(QualityFlag::InvalidTokens), 2);
    assert_eq!(count(QualityFlag::CostMismatch), 1);
    assert_eq!(count(QualityFlag::FutureTimestamp), 1);
    assert_eq!(count(QualityFlag::AncientTimestamp), 1);
    assert_eq!(count(QualityFlag::UnknownModel), 2);
    assert_eq!(count(QualityFlag::Unpriced), 1);
    let lines = |f: QualityFlag| -> Vec<u64> {
        p.quality[f.name()]
            .examples
            .iter()
            .map(|e| e.line)
            .collect()
    };
    assert_eq!(lines(QualityFlag::InvalidTokens), vec![2, 3]);
    assert_eq!(lines(QualityFlag::CostMismatch), vec![4]);
    assert!(
        p.quality["invalid_tokens"].examples[0]
            .detail
            .contains("-5")
    );
    let by = |id: &str| recs.iter().find(|r| r.event_id == id).unwrap();
    assert_eq!(by("q1").quality_flags, None);
    assert_eq!(
        (by("q2").input_tokens, by("q2").quality_flags.as_deref()),
        (0, Some("invalid_tokens"))
    );
    assert_eq!(by("q4").cost_usd, 0.5, "the given cost is kept as read");
    assert_eq!(by("q5").timestamp, "2030-01-01T00:00:00.000Z");
    assert_eq!(
        (by("q7").cost_usd, by("q7").quality_flags.as_deref()),
        (0.0, Some("unknown_model,unpriced"))
    );
    assert!(close(
        p.spend_usd,
        0.00021 * 3.0 + price("gpt-4o-mini", 0, 100, 0, 0) + 0.001 + 0.5 + 0.01
    ));
}

#[test]
fn format_names_parse_and_unknown_ones_list_the_choices() {
    for name in FORMAT_NAMES.split(", ") {
        assert_eq!(Format::parse(name).unwrap().name(), name);
    }
    let e = Format::parse("xml").unwrap_err();
    assert!(
        e.contains("otlp-proto") && e.contains("anthropic-usage"),
        "{e}"
    );
}

/// Read a JSON-lines file through the whole-value path (the reference the fast reader is
/// held to).
fn read_whole_value(
    path: &std::path::Path,
    opts: &ParseOptions<'_>,
) -> (Parsed, Vec<WorkloadRecord>) {
    let mut records = Vec::new();
    let mut write = |b: RecordBatch| -> Result<(), ()> {
        records.extend(batch_to_records(&b).unwrap());
        Ok(())
    };
    let mut c = Collector::new(opts, Format::Jsonl, &mut write);
    json::records_file(path, &mut c, false, convert::json_record).unwrap();
    let parsed = c.finish().unwrap();
    (parsed, records)
}

#[test]
fn the_fast_jsonl_reader_agrees_with_the_whole_value_path_line_for_line() {
    // Every shape a line can take, repeated past several chunks, with a line longer than a
    // chunk in the middle: kept, flagged, filled, rejected (and why) must all be the same.
    let odd = [
        r#"{"timestamp":"2026-01-01T00:00:05.075Z","tenant":"a","feature":"f","model":"gpt-4o-mini","provider":"openai","input_tokens":1000,"output_tokens":100,"latency_ms":500.5,"ttft_ms":null,"status":"ok","cost_usd":0.00021,"event_id":"e1","unknown":{"nested":[1,2]}}"#,
        r#"{"timestamp":"2026-01-01 00:00:05","model":"gpt-4o-mini","input_tokens":"12","output_tokens":"lots","latency_ms":"7"}"#,
        r#"{"timestamp":"2026-01-01T00:00:05+02:00","model":"claude-x","input_tokens":-5,"output_tokens":1.5,"latency_ms":1,"cost_usd":"0.5","status":"FAILED","error_type":"timeout"}"#,
        r#"{"timestamp":"2026-02-30T00:00:05.000Z","model":"gpt-4o-mini","input_tokens":1,"output_tokens":1,"latency_ms":1}"#,
        r#"{"timestamp":"2036-01-01T00:00:05.000Z","model":"gpt-4o-mini","input_tokens":1,"output_tokens":1,"latency_ms":1,"event_id":12345,"tenant":true,"feature":{"a":1},"weight":3,"aggregated":true}"#,
        r#"{"timestamp":"2014-01-01T00:00:05.000Z","model":"gpt-4o-mini","input_tokens":1e3,"output_tokens":18446744073709551615,"latency_ms":-1}"#,
        r#"{"timestamp":"2026-01-01T00:00:05.000Z","model":"gpt-4o-mini","input_tokens":1,"output_tokens":1,"latency_ms":[1]}"#,
        r#"{"timestamp":"2026-01-01T00:00:05.000Z","model":"gpt-\u00e9o","tenant":"t\"q\\","input_tokens":1,"output_tokens":1,"latency_ms":1,"model":"gpt-4o"}"#,
        r#"{"operation":"execute_tool","timestamp":"2026-01-01T00:00:05.000Z"}"#,
        r#"{"timestamp":"2026-01-01T00:00:05.000Z","model":"gpt-4o-mini","input_tokens":1,"output_tokens":1,"latency_ms":1,"weight":-1}"#,
        r#"{"timestamp":"2026-01-01T00:00:05.000Z","model":"gpt-4o-mini"} trailing"#,
        r#"{"timestamp": "2026-01-01T00:00:05.000Z", "model": "gpt-4o-mini", "#,
        r#"[1, 2, 3]"#,
        r#"42"#,
        r#"   "#,
        "",
        "{\"timestamp\":\"2026-01-01T00:00:05.000Z\",\"model\":\"gpt-4o-mini\",\"input_tokens\":1,\"output_tokens\":1,\"latency_ms\":1}\r",
    ];
    let mut text = String::new();
    for i in 0..9_000 {
        text.push_str(odd[i % odd.len()]);
        text.push('\n');
        if i == 4_000 {
            let long = "x".repeat(3 << 20);
            text.push_str(&format!(
                "{{\"timestamp\":\"2026-01-01T00:00:05.000Z\",\"model\":\"gpt-4o-mini\",\"input_tokens\":1,\"output_tokens\":1,\"latency_ms\":1,\"prompt_hash\":\"{long}\"}}\n"
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.jsonl");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"{\"timestamp\":\"\xff\"}\n");
    bytes.extend_from_slice(odd[0].as_bytes()); // the last line without a line end
    std::fs::write(&path, &bytes).unwrap();

    for columns in [
        BTreeMap::new(),
        BTreeMap::from([
            ("tenant".to_string(), "feature".to_string()),
            ("feature".to_string(), "feature".to_string()),
            ("output_tokens".to_string(), "input_tokens".to_string()),
        ]),
    ] {
        let mut opts = ParseOptions::new(PriceCatalog::builtin(), "t");
        opts.columns = columns.clone();
        let (fast_parsed, fast) = parse_all(&path, Format::Jsonl, &opts);
        let (whole_parsed, whole) = read_whole_value(&path, &opts);
        // The chunks' spends are added up chunk by chunk: the same to the last bits' rounding.
        let (fast_spend, whole_spend) = (fast_parsed.spend_usd, whole_parsed.spend_usd);
        assert!(
            (fast_spend - whole_spend).abs() <= 1e-9 * whole_spend.abs().max(1.0),
            "{fast_spend} vs {whole_spend}"
        );
        let fast_parsed = Parsed {
            spend_usd: whole_spend,
            ..fast_parsed
        };
        assert_eq!(fast_parsed, whole_parsed, "columns {columns:?}");
        assert_eq!(fast.len(), whole.len());
        for (a, b) in fast.iter().zip(&whole) {
            assert_eq!(a, b, "columns {columns:?}");
        }
        assert!(
            fast_parsed.accepted > 3_000 && fast_parsed.rejected > 3_000,
            "{} accepted, {} rejected",
            fast_parsed.accepted,
            fast_parsed.rejected
        );
        assert_eq!(
            fast_parsed.last.as_deref(),
            Some("2036-01-01T00:00:05.000Z")
        );
    }
}

#[test]
fn a_write_error_stops_the_fast_reader_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.jsonl");
    let line = r#"{"timestamp":"2026-01-01T00:00:05.000Z","model":"gpt-4o-mini","input_tokens":1,"output_tokens":1,"latency_ms":1}"#;
    std::fs::write(&path, format!("{line}\n").repeat(50_000)).unwrap();
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let mut batches = 0;
    let got = parse_file(&path, Format::Jsonl, &opts, |_| {
        batches += 1;
        if batches == 3 {
            Err("stop here")
        } else {
            Ok(())
        }
    });
    assert!(matches!(got, Err(IngestError::Write("stop here"))));
    assert_eq!(batches, 3);
}

#[test]
fn a_failed_call_that_was_not_billed_is_not_a_cost_mismatch() {
    // synth's failed calls carry their prompt's tokens and cost 0, as providers bill them:
    // 3 % of its records were flagged cost_mismatch for that. A successful call at 0 still is.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("failed.jsonl");
    let line = |status: &str, cost: f64| {
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:05.000Z","model":"gpt-4o","input_tokens":5000,"output_tokens":0,"latency_ms":30,"status":"{status}","cost_usd":{cost}}}"#
        )
    };
    let text = [line("error", 0.0), line("ok", 0.0), line("error", 5.0)].join("\n");
    std::fs::write(&path, text).unwrap();
    let opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    let (p, recs) = parse_all(&path, Format::Jsonl, &opts);
    assert_eq!(p.accepted, 3);
    assert_eq!(
        p.quality["cost_mismatch"]
            .examples
            .iter()
            .map(|e| e.line)
            .collect::<Vec<_>>(),
        vec![2, 3],
        "an unbilled failure (line 1) is not flagged; a free success and an overbilled failure are"
    );
    assert_eq!(recs[0].quality_flags, None);
}

/// A Parquet file as a warehouse exports one: its own column names, tz-aware timestamps in
/// microseconds, 32-bit token counts, a decimal cost, a dictionary-encoded model and a null.
fn warehouse_parquet(path: &Path) {
    use arrow::array::{
        ArrayRef, Decimal128Array, DictionaryArray, Int32Array, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::Int8Type;
    use std::sync::Arc;
    let ts = TimestampMicrosecondArray::from(vec![
        1_767_225_600_000_000,
        1_767_225_601_500_000,
        1_767_225_602_000_000,
    ])
    .with_timezone("+00:00");
    let model: DictionaryArray<Int8Type> = vec![Some("gpt-4o"), Some("gpt-4o-mini"), None]
        .into_iter()
        .collect();
    let usd = Decimal128Array::from(vec![Some(45_000), None, Some(1)])
        .with_precision_and_scale(12, 7)
        .unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("ts", Arc::new(ts)),
        ("llm_model", Arc::new(model)),
        (
            "tokens_in",
            Arc::new(Int32Array::from(vec![1000, 10_000, 5])),
        ),
        ("tokens_out", Arc::new(Int32Array::from(vec![200, 1000, 5]))),
        ("elapsed_ms", Arc::new(Int32Array::from(vec![900, 1500, 7]))),
        ("usd", Arc::new(usd)),
        (
            "team",
            Arc::new(StringArray::from(vec!["acme", "acme", "beta"])),
        ),
        ("unused", Arc::new(StringArray::from(vec!["x", "y", "z"]))),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_in_another_vocabulary_through_the_column_map() {
    let dir = tempfile::tempdir().unwrap();
    // No `.parquet` in the name: told by its magic bytes.
    let path = dir.path().join("export.bin");
    warehouse_parquet(&path);
    assert_eq!(detect(&path).unwrap(), Format::Parquet);
    let columns: BTreeMap<String, String> = [
        ("timestamp", "ts"),
        ("model", "llm_model"),
        ("input_tokens", "tokens_in"),
        ("output_tokens", "tokens_out"),
        ("latency_ms", "elapsed_ms"),
        ("cost_usd", "usd"),
        ("tenant", "team"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let mut opts = ParseOptions::new(PriceCatalog::builtin(), "t");
    opts.columns = columns.clone();
    let (p, recs) = parse_all(&path, Format::Auto, &opts);
    // The third row has no model: rejected by its row number.
    assert_eq!((p.accepted, p.rejected), (2, 1), "{:?}", p.rejections);
    assert_eq!(p.rejections[0].line, 3, "{:?}", p.rejections);
    assert!(
        p.rejections[0].reason.contains("model"),
        "{:?}",
        p.rejections
    );
    assert_eq!(
        (recs[0].timestamp.as_str(), recs[1].timestamp.as_str()),
        ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.500Z")
    );
    assert_eq!(
        (
            recs[0].model.as_str(),
            recs[0].provider.as_str(),
            recs[0].tenant.as_str()
        ),
        ("gpt-4o", "openai", "acme")
    );
    assert_eq!(
        (
            recs[1].input_tokens,
            recs[1].output_tokens,
            recs[1].latency_ms
        ),
        (10_000, 1000, 1500.0)
    );
    // The decimal cost as given; the missing one filled from the price catalog.
    assert!(close(recs[0].cost_usd, 0.0045), "{}", recs[0].cost_usd);
    assert!(close(
        recs[1].cost_usd,
        price("gpt-4o-mini", 10_000, 1000, 0, 0)
    ));
    assert_eq!(p.filled.get("cost_usd"), Some(&1));

    // Without the map, the required columns are missing, and the file's columns are named.
    let plain = ParseOptions::new(PriceCatalog::builtin(), "t");
    let e = parse_file(&path, Format::Parquet, &plain, |_| -> Result<(), ()> {
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(&e, IngestError::Invalid(m) if m.contains("lacks the column") && m.contains("tokens_in")),
        "{e:?}"
    );
    // A file named .parquet that is not one says so.
    let fake = dir.path().join("fake.parquet");
    std::fs::write(&fake, "timestamp,model\n").unwrap();
    assert_eq!(detect(&fake).unwrap(), Format::Parquet);
    let e = parse_file(&fake, Format::Auto, &opts, |_| -> Result<(), ()> { Ok(()) }).unwrap_err();
    assert!(
        matches!(&e, IngestError::Invalid(m) if m.contains("is not a readable Parquet file")),
        "{e:?}"
    );
}
