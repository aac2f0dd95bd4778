//! Rendering compact records: JSON Lines, CSV, OTLP/JSON and Arrow batches (for Parquet files
//! and datasets, in `apex_datasets::schema::arrow_schema`). Hand-written byte encoders keep generation above a
//! million records per second; every number is written from integers, so all formats carry
//! exactly the same values.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::generator::{
    FINISH, OP_AGENT, OP_CHAT, OP_TOOL, OPERATIONS, Plan, Rec, write_timestamp,
};
use super::profile::WORKLOAD_KINDS;
use apex_core::workload::COLUMNS;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(buf: &mut Vec<u8>, v: u128, digits: usize) {
    for i in (0..digits).rev() {
        buf.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

fn hex_string(v: u128, digits: usize) -> String {
    let mut b = Vec::with_capacity(digits);
    hex(&mut b, v, digits);
    String::from_utf8(b).unwrap_or_default()
}

pub fn uint(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// `v / 10^decimals` in decimal, trailing zeros trimmed but one decimal kept.
fn fixed(buf: &mut Vec<u8>, v: u64, decimals: u32) {
    let p = 10u64.pow(decimals);
    uint(buf, v / p);
    buf.push(b'.');
    let mut frac = v % p;
    let mut digits = decimals;
    while digits > 1 && frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    let start = buf.len();
    uint(buf, frac);
    let written = (buf.len() - start) as u32;
    if written < digits {
        let pad = (digits - written) as usize;
        buf.splice(start..start, std::iter::repeat_n(b'0', pad));
    }
}

fn latency(v: u32) -> f64 {
    v as f64 / 10.0
}

fn cost(v: u64) -> f64 {
    v as f64 / 1e10
}

fn error_name<'a>(plan: &'a Plan, r: &Rec) -> Option<&'a str> {
    (r.error != 0).then(|| plan.error_names[r.error as usize - 1].as_str())
}

fn status(r: &Rec) -> &'static str {
    if r.error == 0 { "ok" } else { "error" }
}

/// One JSON object per line, fields in [`COLUMNS`] order.
pub fn jsonl(plan: &Plan, recs: &[Rec], buf: &mut Vec<u8>) {
    for r in recs {
        let m = &plan.models[r.model as usize];
        buf.extend_from_slice(b"{\"event_id\":\"");
        hex(buf, r.event_id, 32);
        buf.extend_from_slice(b"\",\"trace_id\":\"");
        hex(buf, r.trace_id, 32);
        buf.extend_from_slice(b"\",\"span_id\":\"");
        hex(buf, r.span_id as u128, 16);
        if r.parent_span_id == 0 {
            buf.extend_from_slice(b"\",\"parent_span_id\":null,\"timestamp\":\"");
        } else {
            buf.extend_from_slice(b"\",\"parent_span_id\":\"");
            hex(buf, r.parent_span_id as u128, 16);
            buf.extend_from_slice(b"\",\"timestamp\":\"");
        }
        write_timestamp(buf, r.ts_ms);
        buf.extend_from_slice(b"\",\"tenant\":\"");
        buf.extend_from_slice(plan.tenants[r.tenant as usize].as_bytes());
        buf.extend_from_slice(b"\",\"feature\":\"");
        buf.extend_from_slice(plan.features[r.feature as usize].as_bytes());
        buf.extend_from_slice(b"\",\"workload_type\":\"");
        buf.extend_from_slice(WORKLOAD_KINDS[r.workload as usize].as_bytes());
        buf.extend_from_slice(b"\",\"operation\":\"");
        buf.extend_from_slice(OPERATIONS[r.op as usize].as_bytes());
        buf.extend_from_slice(b"\",\"provider\":\"");
        buf.extend_from_slice(m.provider.as_bytes());
        buf.extend_from_slice(b"\",\"model\":\"");
        buf.extend_from_slice(m.name.as_bytes());
        buf.extend_from_slice(b"\",\"input_tokens\":");
        uint(buf, r.input as u64);
        buf.extend_from_slice(b",\"output_tokens\":");
        uint(buf, r.output as u64);
        buf.extend_from_slice(b",\"cache_read_tokens\":");
        uint(buf, r.cache_read as u64);
        buf.extend_from_slice(b",\"cache_write_tokens\":");
        uint(buf, r.cache_write as u64);
        buf.extend_from_slice(b",\"reasoning_tokens\":");
        uint(buf, r.reasoning as u64);
        buf.extend_from_slice(b",\"latency_ms\":");
        fixed(buf, r.latency_dms as u64, 1);
        buf.extend_from_slice(b",\"ttft_ms\":");
        if r.ttft_dms == u32::MAX {
            buf.extend_from_slice(b"null");
        } else {
            fixed(buf, r.ttft_dms as u64, 1);
        }
        buf.extend_from_slice(b",\"status\":\"");
        buf.extend_from_slice(status(r).as_bytes());
        match error_name(plan, r) {
            Some(e) => {
                buf.extend_from_slice(b"\",\"error_type\":\"");
                buf.extend_from_slice(e.as_bytes());
                buf.extend_from_slice(b"\",\"finish_reason\":");
            }
            None => buf.extend_from_slice(b"\",\"error_type\":null,\"finish_reason\":"),
        }
        if r.finish == 0 {
            buf.extend_from_slice(b"null");
        } else {
            buf.push(b'"');
            buf.extend_from_slice(FINISH[r.finish as usize].as_bytes());
            buf.push(b'"');
        }
        if r.prompt_hash == 0 {
            buf.extend_from_slice(b",\"prompt_hash\":null,\"cost_usd\":");
        } else {
            buf.extend_from_slice(b",\"prompt_hash\":\"");
            hex(buf, r.prompt_hash as u128, 16);
            buf.extend_from_slice(b"\",\"cost_usd\":");
        }
        fixed(buf, r.cost_e10, 10);
        buf.extend_from_slice(b"}\n");
    }
}

/// The CSV header line.
pub fn csv_header() -> Vec<u8> {
    let mut h = COLUMNS.join(",").into_bytes();
    h.push(b'\n');
    h
}

/// CSV rows in [`COLUMNS`] order; a missing value is an empty field. No value needs quoting
/// (names are validated to `[A-Za-z0-9._-]`).
pub fn csv(plan: &Plan, recs: &[Rec], buf: &mut Vec<u8>) {
    for r in recs {
        let m = &plan.models[r.model as usize];
        hex(buf, r.event_id, 32);
        buf.push(b',');
        hex(buf, r.trace_id, 32);
        buf.push(b',');
        hex(buf, r.span_id as u128, 16);
        buf.push(b',');
        if r.parent_span_id != 0 {
            hex(buf, r.parent_span_id as u128, 16);
        }
        buf.push(b',');
        write_timestamp(buf, r.ts_ms);
        for s in [
            plan.tenants[r.tenant as usize].as_str(),
            plan.features[r.feature as usize].as_str(),
            WORKLOAD_KINDS[r.workload as usize],
            OPERATIONS[r.op as usize],
            m.provider.as_str(),
            m.name.as_str(),
        ] {
            buf.push(b',');
            buf.extend_from_slice(s.as_bytes());
        }
        for v in [r.input, r.output, r.cache_read, r.cache_write, r.reasoning] {
            buf.push(b',');
            uint(buf, v as u64);
        }
        buf.push(b',');
        fixed(buf, r.latency_dms as u64, 1);
        buf.push(b',');
        if r.ttft_dms != u32::MAX {
            fixed(buf, r.ttft_dms as u64, 1);
        }
        buf.push(b',');
        buf.extend_from_slice(status(r).as_bytes());
        buf.push(b',');
        if let Some(e) = error_name(plan, r) {
            buf.extend_from_slice(e.as_bytes());
        }
        buf.push(b',');
        buf.extend_from_slice(FINISH[r.finish as usize].as_bytes());
        buf.push(b',');
        if r.prompt_hash != 0 {
            hex(buf, r.prompt_hash as u128, 16);
        }
        buf.push(b',');
        fixed(buf, r.cost_e10, 10);
        buf.push(b'\n');
    }
}

fn attr_str(buf: &mut Vec<u8>, first: &mut bool, key: &str, value: &str) {
    attr_open(buf, first, key);
    buf.extend_from_slice(b"{\"stringValue\":\"");
    buf.extend_from_slice(value.as_bytes());
    buf.extend_from_slice(b"\"}}");
}

fn attr_int(buf: &mut Vec<u8>, first: &mut bool, key: &str, value: u64) {
    attr_open(buf, first, key);
    buf.extend_from_slice(b"{\"intValue\":\"");
    uint(buf, value);
    buf.extend_from_slice(b"\"}}");
}

fn attr_open(buf: &mut Vec<u8>, first: &mut bool, key: &str) {
    if !*first {
        buf.push(b',');
    }
    *first = false;
    buf.extend_from_slice(b"{\"key\":\"");
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\",\"value\":");
}

/// The tool a tool span called (derived from its span id; the record schema has no column).
pub fn tool_name<'a>(plan: &'a Plan, r: &Rec) -> &'a str {
    &plan.tools[((r.span_id >> 7) % plan.tools.len() as u64) as usize]
}

/// One OTLP/JSON `ExportTraceServiceRequest` per call, on one line (the format of the
/// OpenTelemetry Collector's file exporter and `otlpjsonfile` receiver).
pub fn otlp(plan: &Plan, recs: &[Rec], buf: &mut Vec<u8>) {
    buf.extend_from_slice(
        b"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"netra-apex-synth\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"netra-apex.synth\",\"version\":\"",
    );
    buf.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    buf.extend_from_slice(b"\"},\"spans\":[");
    for (i, r) in recs.iter().enumerate() {
        let m = &plan.models[r.model as usize];
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"traceId\":\"");
        hex(buf, r.trace_id, 32);
        buf.extend_from_slice(b"\",\"spanId\":\"");
        hex(buf, r.span_id as u128, 16);
        if r.parent_span_id != 0 {
            buf.extend_from_slice(b"\",\"parentSpanId\":\"");
            hex(buf, r.parent_span_id as u128, 16);
        }
        buf.extend_from_slice(b"\",\"name\":\"");
        let feature = plan.features[r.feature as usize].as_str();
        match r.op {
            OP_CHAT => {
                buf.extend_from_slice(b"chat ");
                buf.extend_from_slice(m.name.as_bytes());
            }
            OP_TOOL => {
                buf.extend_from_slice(b"execute_tool ");
                buf.extend_from_slice(tool_name(plan, r).as_bytes());
            }
            _ => {
                buf.extend_from_slice(b"invoke_agent ");
                buf.extend_from_slice(feature.as_bytes());
                buf.extend_from_slice(b"-agent");
            }
        }
        buf.extend_from_slice(if r.op == OP_CHAT {
            b"\",\"kind\":3,\"startTimeUnixNano\":\""
        } else {
            b"\",\"kind\":1,\"startTimeUnixNano\":\""
        });
        let start_ns = r.ts_ms.max(0) as u64 * 1_000_000;
        uint(buf, start_ns);
        buf.extend_from_slice(b"\",\"endTimeUnixNano\":\"");
        uint(buf, start_ns + r.latency_dms as u64 * 100_000);
        buf.extend_from_slice(b"\",\"attributes\":[");
        let first = &mut true;
        attr_str(
            buf,
            first,
            "gen_ai.operation.name",
            OPERATIONS[r.op as usize],
        );
        attr_str(buf, first, "gen_ai.provider.name", &m.provider);
        attr_str(buf, first, "gen_ai.system", &m.provider);
        attr_str(buf, first, "gen_ai.request.model", &m.name);
        match r.op {
            OP_CHAT => {
                attr_str(buf, first, "gen_ai.response.model", &m.name);
                attr_int(buf, first, "gen_ai.usage.input_tokens", r.input as u64);
                attr_int(buf, first, "gen_ai.usage.output_tokens", r.output as u64);
                attr_int(
                    buf,
                    first,
                    "gen_ai.usage.cache_read.input_tokens",
                    r.cache_read as u64,
                );
                attr_int(
                    buf,
                    first,
                    "gen_ai.usage.cache_creation.input_tokens",
                    r.cache_write as u64,
                );
                attr_int(
                    buf,
                    first,
                    "gen_ai.usage.reasoning.output_tokens",
                    r.reasoning as u64,
                );
                if r.finish != 0 {
                    attr_open(buf, first, "gen_ai.response.finish_reasons");
                    buf.extend_from_slice(b"{\"arrayValue\":{\"values\":[{\"stringValue\":\"");
                    buf.extend_from_slice(FINISH[r.finish as usize].as_bytes());
                    buf.extend_from_slice(b"\"}]}}}");
                }
            }
            OP_TOOL => {
                attr_str(buf, first, "gen_ai.tool.name", tool_name(plan, r));
                attr_str(buf, first, "gen_ai.tool.type", "function");
            }
            OP_AGENT => {
                attr_open(buf, first, "gen_ai.agent.name");
                buf.extend_from_slice(b"{\"stringValue\":\"");
                buf.extend_from_slice(feature.as_bytes());
                buf.extend_from_slice(b"-agent\"}}");
            }
            _ => {}
        }
        if let Some(e) = error_name(plan, r) {
            attr_str(buf, first, "error.type", e);
        }
        attr_str(buf, first, "netra.tenant", &plan.tenants[r.tenant as usize]);
        attr_str(buf, first, "netra.feature", feature);
        attr_str(
            buf,
            first,
            "netra.workload_type",
            WORKLOAD_KINDS[r.workload as usize],
        );
        attr_open(buf, first, "netra.event_id");
        buf.extend_from_slice(b"{\"stringValue\":\"");
        hex(buf, r.event_id, 32);
        buf.extend_from_slice(b"\"}}");
        if r.prompt_hash != 0 {
            attr_open(buf, first, "netra.prompt_hash");
            buf.extend_from_slice(b"{\"stringValue\":\"");
            hex(buf, r.prompt_hash as u128, 16);
            buf.extend_from_slice(b"\"}}");
        }
        if r.ttft_dms != u32::MAX {
            attr_open(buf, first, "netra.ttft_ms");
            buf.extend_from_slice(b"{\"doubleValue\":");
            fixed(buf, r.ttft_dms as u64, 1);
            buf.push(b'}');
            buf.push(b'}');
        }
        attr_open(buf, first, "netra.cost_usd");
        buf.extend_from_slice(b"{\"doubleValue\":");
        fixed(buf, r.cost_e10, 10);
        buf.extend_from_slice(b"}}]");
        match error_name(plan, r) {
            Some(e) => {
                buf.extend_from_slice(b",\"status\":{\"code\":2,\"message\":\"");
                buf.extend_from_slice(e.as_bytes());
                buf.extend_from_slice(b"\"}}");
            }
            None => buf.extend_from_slice(b",\"status\":{\"code\":1}}"),
        }
    }
    buf.extend_from_slice(b"]}]}]}\n");
}

/// One Arrow batch of records in `schema`: the per-call columns
/// (`apex_datasets::schema::record_schema`), or for a dataset part all of them
/// (`apex_datasets::schema::arrow_schema`).
pub fn arrow_batch(
    plan: &Plan,
    recs: &[Rec],
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let strs = |f: &dyn Fn(&Rec) -> Option<String>| -> ArrayRef {
        Arc::new(recs.iter().map(f).collect::<StringArray>())
    };
    let ints = |f: &dyn Fn(&Rec) -> u32| -> ArrayRef {
        Arc::new(recs.iter().map(|r| f(r) as i64).collect::<Int64Array>())
    };
    let model = |r: &Rec| &plan.models[r.model as usize];
    let mut cols: Vec<ArrayRef> = vec![
        strs(&|r| Some(hex_string(r.event_id, 32))),
        strs(&|r| Some(hex_string(r.trace_id, 32))),
        strs(&|r| Some(hex_string(r.span_id as u128, 16))),
        strs(&|r| (r.parent_span_id != 0).then(|| hex_string(r.parent_span_id as u128, 16))),
        Arc::new(
            TimestampMillisecondArray::from(recs.iter().map(|r| r.ts_ms).collect::<Vec<i64>>())
                .with_timezone("UTC"),
        ),
        Arc::new(
            recs.iter()
                .map(|r| Some(plan.tenants[r.tenant as usize].as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| Some(plan.features[r.feature as usize].as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| Some(WORKLOAD_KINDS[r.workload as usize]))
                .collect::<StringArray>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| Some(OPERATIONS[r.op as usize]))
                .collect::<StringArray>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| Some(model(r).provider.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| Some(model(r).name.as_str()))
                .collect::<StringArray>(),
        ),
        ints(&|r| r.input),
        ints(&|r| r.output),
        ints(&|r| r.cache_read),
        ints(&|r| r.cache_write),
        ints(&|r| r.reasoning),
        Arc::new(
            recs.iter()
                .map(|r| latency(r.latency_dms))
                .collect::<Float64Array>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| (r.ttft_dms != u32::MAX).then(|| latency(r.ttft_dms)))
                .collect::<Float64Array>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| Some(status(r)))
                .collect::<StringArray>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| error_name(plan, r))
                .collect::<StringArray>(),
        ),
        Arc::new(
            recs.iter()
                .map(|r| (r.finish != 0).then(|| FINISH[r.finish as usize]))
                .collect::<StringArray>(),
        ),
        strs(&|r| (r.prompt_hash != 0).then(|| hex_string(r.prompt_hash as u128, 16))),
        Arc::new(
            recs.iter()
                .map(|r| cost(r.cost_e10))
                .collect::<Float64Array>(),
        ),
    ];
    if schema.fields().len() > cols.len() {
        // a dataset part: synthetic records are single clean calls
        cols.extend(apex_datasets::schema::clean_accounting(recs.len()));
    }
    RecordBatch::try_new(schema.clone(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_numbers_parse_to_the_stored_floats() {
        for (v, d, s) in [
            (0u64, 10, "0.0"),
            (12_345_000, 10, "0.0012345"),
            (10_000_000_000, 10, "1.0"),
            (1234, 1, "123.4"),
            (5, 10, "0.0000000005"),
            (20, 1, "2.0"),
        ] {
            let mut b = Vec::new();
            fixed(&mut b, v, d);
            let text = String::from_utf8(b).unwrap();
            assert_eq!(text, s);
            assert_eq!(
                text.parse::<f64>().unwrap(),
                v as f64 / 10f64.powi(d as i32)
            );
        }
    }
}
