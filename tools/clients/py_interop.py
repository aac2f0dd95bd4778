"""Interop: real third-party readers load the files `netra-apex synth` writes.

Usage: py_interop.py --binary PATH [--root DIR] [--count N]

Generates one dataset (profile coding_assistant: chat, RAG and agentic traces) with the real
binary in a temp dir, as parquet, csv, jsonl (CLI) and otlp-json (CLI, and again over MCP
with the official Python SDK), then checks:

* DuckDB reads the parquet, CSV and JSONL files: row counts, token sums, spend by model and
  the error rate equal the generator's own summary (`--json`), the three files hold the
  same rows value for value (EXCEPT ALL both ways), and every parent_span_id names a span of
  the same trace.
* pyarrow reads the parquet file with the declared schema (UTC millisecond timestamps,
  int64 counts, nullable optional columns).
* Every line of the OTLP/JSON export parses with the official OpenTelemetry protobuf
  definitions (opentelemetry-proto) into ExportTraceServiceRequest with
  ignore_unknown_fields=False. OTLP/JSON writes trace and span ids as lower-case hex (32
  and 16 characters), not protobuf's base64 for bytes, so the ids are checked as hex on the
  raw JSON and converted to base64 before Parse, as OTLP receivers do; the parsed ids must
  be 16 and 8 bytes. Span names, kinds, status codes and gen_ai.* attributes follow the
  GenAI semantic conventions, parent links resolve within the trace, and the token and cost
  totals equal the other formats'.
* The MCP tool writes a byte-identical OTLP file for the same seed.

Exits non-zero on the first failed expectation. The root argument (passed by run_all.sh) is
not used: everything happens in a fresh temp dir.
"""

import argparse
import asyncio
import base64
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROFILE = "coding_assistant"
SEED = 20261129
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def close(a, b, rel=1e-9, abs_=1e-6):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def synth(binary, root, fmt, out, count):
    cmd = [binary, "--root", root, "synth", "--profile", PROFILE, "--count", str(count),
           "--seed", str(SEED), "--format", fmt, "--output", out, "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"synth {fmt} exited {p.returncode}: {p.stderr[-800:]}")
    result = json.loads(p.stdout)
    check(result["records"] == count, f"synth {fmt}: {result['records']} records, asked {count}")
    return result


# ------------------------------------------------------------------------------- DuckDB
def normalized(src):
    """A query over one file with every column in one comparable type."""
    return f"""
        SELECT event_id::VARCHAR AS event_id, trace_id::VARCHAR AS trace_id,
               span_id::VARCHAR AS span_id, parent_span_id::VARCHAR AS parent_span_id,
               epoch_ms(timestamp::TIMESTAMPTZ) AS ts_ms,
               tenant::VARCHAR AS tenant, feature::VARCHAR AS feature,
               workload_type::VARCHAR AS workload_type, operation::VARCHAR AS operation,
               provider::VARCHAR AS provider, model::VARCHAR AS model,
               input_tokens::BIGINT AS input_tokens, output_tokens::BIGINT AS output_tokens,
               cache_read_tokens::BIGINT AS cache_read_tokens,
               cache_write_tokens::BIGINT AS cache_write_tokens,
               reasoning_tokens::BIGINT AS reasoning_tokens,
               latency_ms::DOUBLE AS latency_ms, ttft_ms::DOUBLE AS ttft_ms,
               status::VARCHAR AS status, NULLIF(error_type::VARCHAR, '') AS error_type,
               NULLIF(finish_reason::VARCHAR, '') AS finish_reason,
               NULLIF(prompt_hash::VARCHAR, '') AS prompt_hash, cost_usd::DOUBLE AS cost_usd
        FROM {src}"""


def duckdb_checks(tmp, summary, count):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sources = {
        "parquet": f"read_parquet('{tmp}/out.parquet')",
        "csv": f"read_csv('{tmp}/out.csv', header = true, sample_size = -1)",
        "jsonl": f"read_json('{tmp}/out.jsonl', format = 'newline_delimited', sample_size = -1)",
    }
    for name, src in sources.items():
        con.execute(f"CREATE VIEW raw_{name} AS SELECT * FROM {src}")
        con.execute(f"CREATE VIEW {name} AS {normalized('raw_' + name)}")
    # The parquet file carries real types, not strings.
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE raw_parquet)").fetchall())
    check(types["timestamp"] == "TIMESTAMP WITH TIME ZONE", f"parquet timestamp type {types['timestamp']}")
    for col in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        check(types[col] == "BIGINT", f"parquet {col} type {types[col]}")
    check(types["cost_usd"] == "DOUBLE", f"parquet cost_usd type {types['cost_usd']}")
    # CSV and JSONL type inference lands on numbers and timestamps too.
    for name in ("csv", "jsonl"):
        t = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE raw_{name})").fetchall())
        check(t["input_tokens"] == "BIGINT", f"{name}: input_tokens inferred as {t['input_tokens']}")
        check(t["cost_usd"] == "DOUBLE", f"{name}: cost_usd inferred as {t['cost_usd']}")
        check(t["timestamp"].startswith("TIMESTAMP"), f"{name}: timestamp inferred as {t['timestamp']}")

    totals = {}
    for name in sources:
        row = con.execute(f"""
            SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                   sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_usd),
                   count(*) FILTER (WHERE parent_span_id IS NULL),
                   count(DISTINCT event_id), min(ts_ms), max(ts_ms)
            FROM {name}""").fetchone()
        totals[name] = row
        n, *_ = row
        check(n == count, f"duckdb {name}: {n} rows, expected {count}")
        check(row[8] == count, f"duckdb {name}: event_id not unique ({row[8]} distinct)")
        check(row[7] == summary["requests"], f"duckdb {name}: {row[7]} root spans, summary says {summary['requests']} requests")
        check(close(row[6], summary["spend_usd"]), f"duckdb {name}: cost sum {row[6]} != summary {summary['spend_usd']}")
        by_model = dict((m, (c, s)) for m, c, s in con.execute(
            f"SELECT model, count(*), sum(cost_usd) FROM {name} GROUP BY model").fetchall())
        for m in summary["by_model"]:
            got = by_model.get(m["model"], (0, 0.0))
            check(got[0] == m["records"], f"duckdb {name}: {m['model']} has {got[0]} rows, summary {m['records']}")
            check(close(got[1], m["cost_usd"]), f"duckdb {name}: {m['model']} cost {got[1]} != {m['cost_usd']}")
        errs = con.execute(f"""
            SELECT count(*) FILTER (WHERE status = 'error' AND error_type IS NOT NULL),
                   count(*) FILTER (WHERE status = 'error'),
                   count(*) FILTER (WHERE status = 'ok' AND error_type IS NOT NULL)
            FROM {name}""").fetchone()
        check(errs[0] == errs[1] and errs[2] == 0, f"duckdb {name}: status/error_type disagree {errs}")
    # Integer totals exactly; the cost sum up to floating-point summation order.
    exact = {k: v[:6] + v[7:] for k, v in totals.items()}
    check(exact["parquet"] == exact["csv"] == exact["jsonl"], f"duckdb totals differ: {totals}")
    check(close(totals["csv"][6], totals["parquet"][6]) and close(totals["jsonl"][6], totals["parquet"][6]),
          f"duckdb cost sums differ: {totals}")

    # Value for value, the three files are the same table.
    for a, b in (("parquet", "csv"), ("parquet", "jsonl"), ("csv", "parquet"), ("jsonl", "parquet")):
        diff = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})").fetchone()[0]
        if diff:
            sample = con.execute(f"SELECT * FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) LIMIT 2").fetchall()
            fail(f"duckdb: {diff} rows of {a} are not in {b}, e.g. {sample}")

    # Ids, trace links and token rules.
    bad_ids = con.execute(r"""
        SELECT count(*) FROM parquet
        WHERE NOT regexp_full_match(trace_id, '[0-9a-f]{32}')
           OR NOT regexp_full_match(span_id, '[0-9a-f]{16}')
           OR NOT regexp_full_match(event_id, '[0-9a-f]{32}')
           OR (parent_span_id IS NOT NULL AND NOT regexp_full_match(parent_span_id, '[0-9a-f]{16}'))
           OR trace_id = repeat('0', 32) OR span_id = repeat('0', 16)""").fetchone()[0]
    check(bad_ids == 0, f"duckdb: {bad_ids} rows with malformed ids")
    orphans = con.execute("""
        SELECT count(*) FROM parquet c
        WHERE c.parent_span_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM parquet p WHERE p.span_id = c.parent_span_id AND p.trace_id = c.trace_id)""").fetchone()[0]
    check(orphans == 0, f"duckdb: {orphans} spans whose parent is not in their trace")
    dup_spans = con.execute("SELECT count(*) - count(DISTINCT (trace_id, span_id)) FROM parquet").fetchone()[0]
    check(dup_spans == 0, f"duckdb: {dup_spans} duplicate (trace_id, span_id)")
    roots = con.execute("""
        SELECT count(*) FILTER (WHERE operation = 'invoke_agent' AND parent_span_id IS NOT NULL),
               -- a tool-use request is an invoke_agent trace, or (at most once per
               -- 2,048-record chunk, when drawn for the chunk's last slot) one chat call alone
               (SELECT count(*) FROM parquet r
                WHERE r.operation <> 'invoke_agent' AND r.parent_span_id IS NULL
                  AND r.workload_type IN ('tool_use', 'multi_turn_tool_use')
                  AND (r.operation <> 'chat' OR EXISTS (
                      SELECT 1 FROM parquet k WHERE k.trace_id = r.trace_id AND k.span_id <> r.span_id))),
               count(*) FILTER (WHERE operation <> 'chat' AND (input_tokens > 0 OR cost_usd > 0)),
               count(*) FILTER (WHERE cache_read_tokens + cache_write_tokens > input_tokens),
               count(*) FILTER (WHERE reasoning_tokens > output_tokens)
        FROM parquet""").fetchone()
    check(roots == (0, 0, 0, 0, 0), f"duckdb: trace shape / token rules violated {roots}")
    # Children start within their root's span.
    late = con.execute("""
        SELECT count(*) FROM parquet c JOIN parquet r
          ON r.span_id = c.parent_span_id AND r.trace_id = c.trace_id
        WHERE c.ts_ms < r.ts_ms OR c.ts_ms + c.latency_ms > r.ts_ms + r.latency_ms + 1""").fetchone()[0]
    check(late == 0, f"duckdb: {late} child spans outside their parent's time range")
    agentic = con.execute("SELECT count(DISTINCT trace_id) FROM parquet WHERE parent_span_id IS NOT NULL").fetchone()[0]
    print(f"ok duckdb {duckdb.__version__}: parquet, csv and jsonl each {count} rows, same values; "
          f"spend ${summary['spend_usd']:.4f} and per-model counts match the summary; "
          f"{agentic} agent traces, no orphan spans")
    return totals["parquet"]


# ------------------------------------------------------------------------------ pyarrow
def pyarrow_checks(tmp, count):
    f = pq.ParquetFile(f"{tmp}/out.parquet")
    check(f.metadata.num_rows == count, f"pyarrow: {f.metadata.num_rows} rows")
    schema = f.schema_arrow
    check(schema.field("timestamp").type == pa.timestamp("ms", tz="UTC"), f"pyarrow timestamp {schema.field('timestamp').type}")
    check(schema.field("input_tokens").type == pa.int64(), "pyarrow input_tokens not int64")
    check(schema.field("cost_usd").type == pa.float64(), "pyarrow cost_usd not float64")
    for col, nullable in (("parent_span_id", True), ("ttft_ms", True), ("error_type", True), ("event_id", False), ("model", False)):
        check(schema.field(col).nullable == nullable, f"pyarrow: {col} nullable={schema.field(col).nullable}")
    table = f.read()
    check(table.num_rows == count, "pyarrow: read row count")
    check(table.column("parent_span_id").null_count > 0, "pyarrow: no root spans")
    print(f"ok pyarrow {pa.__version__}: {count} rows in {f.metadata.num_row_groups} row groups, "
          f"created_by {f.metadata.created_by!r}, schema as declared")


# ------------------------------------------------------------------------- OpenTelemetry
def hex_ids_to_base64(span_json):
    """OTLP/JSON ids are hex; protobuf JSON bytes are base64. Check and convert one span."""
    for key, pattern, digits in (("traceId", HEX32, 32), ("spanId", HEX16, 16), ("parentSpanId", HEX16, 16)):
        v = span_json.get(key)
        if v is None:
            continue
        check(isinstance(v, str) and pattern.match(v), f"otlp: {key} {v!r} is not {digits}-digit lower-case hex")
        raw = bytes.fromhex(v)
        check(any(raw), f"otlp: {key} is all zeros")
        span_json[key] = base64.b64encode(raw).decode()


def attrs(span):
    out = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        v = getattr(kv.value, which)
        if which == "array_value":
            v = [getattr(x, x.WhichOneof("value")) for x in v.values]
        out[kv.key] = v
    return out


def otlp_checks(path, count, parquet_totals):
    spans = []
    requests = 0
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            doc = json.loads(line)
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        hex_ids_to_base64(s)
            req = ExportTraceServiceRequest()
            try:
                json_format.Parse(json.dumps(doc), req, ignore_unknown_fields=False)
            except json_format.ParseError as e:
                fail(f"otlp line {lineno}: not an ExportTraceServiceRequest: {e}")
            requests += 1
            for rs in req.resource_spans:
                res = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
                check(res.get("service.name"), f"otlp line {lineno}: resource without service.name")
                for ss in rs.scope_spans:
                    check(ss.scope.name, f"otlp line {lineno}: scope without a name")
                    spans.extend(ss.spans)
    check(len(spans) == count, f"otlp: {len(spans)} spans, expected {count}")

    by_id = {}
    for s in spans:
        check(len(s.trace_id) == 16 and len(s.span_id) == 8, "otlp: parsed ids are not 16/8 bytes")
        check(len(s.parent_span_id) in (0, 8), "otlp: parent_span_id is not 8 bytes")
        key = (s.trace_id, s.span_id)
        check(key not in by_id, f"otlp: duplicate span {s.span_id.hex()}")
        by_id[key] = s
    sums = Counter()
    ops = Counter()
    for s in spans:
        a = attrs(s)
        op = a.get("gen_ai.operation.name")
        ops[op] += 1
        check(op in ("chat", "execute_tool", "invoke_agent"), f"otlp: gen_ai.operation.name {op!r}")
        for k in ("gen_ai.provider.name", "gen_ai.request.model"):
            check(isinstance(a.get(k), str) and a[k], f"otlp: {op} span without {k}")
        check(s.end_time_unix_nano >= s.start_time_unix_nano > 0, "otlp: end before start")
        if op == "chat":
            check(s.kind == Span.SPAN_KIND_CLIENT, f"otlp: chat span kind {s.kind}")
            check(s.name == f"chat {a['gen_ai.request.model']}", f"otlp: chat span name {s.name!r}")
            for k in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
                check(isinstance(a.get(k), int), f"otlp: chat span {k} missing or not an int")
            sums["input"] += a["gen_ai.usage.input_tokens"]
            sums["output"] += a["gen_ai.usage.output_tokens"]
            sums["cache_read"] += a.get("gen_ai.usage.cache_read.input_tokens", 0)
            sums["cache_write"] += a.get("gen_ai.usage.cache_creation.input_tokens", 0)
            sums["reasoning"] += a.get("gen_ai.usage.reasoning.output_tokens", 0)
            if s.status.code != Status.STATUS_CODE_ERROR:
                fr = a.get("gen_ai.response.finish_reasons")
                check(isinstance(fr, list) and fr and fr[0] in ("stop", "length", "tool_calls"),
                      f"otlp: ok chat span finish_reasons {fr!r}")
        elif op == "execute_tool":
            check(s.kind == Span.SPAN_KIND_INTERNAL, f"otlp: tool span kind {s.kind}")
            check(s.name == f"execute_tool {a.get('gen_ai.tool.name')}", f"otlp: tool span name {s.name!r}")
            check(s.parent_span_id, "otlp: tool span without a parent")
        else:
            check(s.name == f"invoke_agent {a.get('gen_ai.agent.name')}", f"otlp: agent span name {s.name!r}")
            check(not s.parent_span_id, "otlp: invoke_agent span has a parent")
        if s.status.code == Status.STATUS_CODE_ERROR:
            check(a.get("error.type"), "otlp: error status without error.type")
        else:
            check(s.status.code == Status.STATUS_CODE_OK, f"otlp: status code {s.status.code}")
            check("error.type" not in a, "otlp: error.type on an ok span")
        sums["cost"] += a["netra.cost_usd"]
        if s.parent_span_id:
            parent = by_id.get((s.trace_id, s.parent_span_id))
            check(parent is not None, f"otlp: span {s.span_id.hex()} has no parent {s.parent_span_id.hex()} in trace {s.trace_id.hex()}")
            check(parent.start_time_unix_nano <= s.start_time_unix_nano
                  and s.end_time_unix_nano <= parent.end_time_unix_nano + 1_000_000,
                  f"otlp: span {s.span_id.hex()} outside its parent's time range")
    # The same totals as the parquet file (count, tokens..., cost).
    expected = parquet_totals
    got = (len(spans), sums["input"], sums["output"], sums["cache_read"], sums["cache_write"], sums["reasoning"])
    check(got == tuple(expected[:6]), f"otlp totals {got} != parquet {tuple(expected[:6])}")
    check(close(sums["cost"], expected[6]), f"otlp cost {sums['cost']} != parquet {expected[6]}")
    print(f"ok opentelemetry-proto: {requests} ExportTraceServiceRequests, {len(spans)} spans "
          f"({ops['chat']} chat, {ops['execute_tool']} execute_tool, {ops['invoke_agent']} invoke_agent), "
          f"hex ids, parents resolve, gen_ai.usage totals match parquet")


# --------------------------------------------------------------------------------- MCP
async def mcp_otlp(binary, root, count):
    from mcp import Client, StdioServerParameters
    server = StdioServerParameters(command=binary, args=["serve", "--root", root], env={**os.environ, "RUST_LOG": "warn"})
    async with Client(server) as client:
        result = await client.call_tool("generate_synthetic_data", {
            "profile": PROFILE, "count": count, "seed": SEED, "format": "otlp-json", "output": "mcp.otlp.jsonl"})
        text = " ".join(c.text for c in result.content if getattr(c, "text", None))
        if result.is_error:
            fail(f"mcp generate_synthetic_data failed: {text[:400]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--root", help="unused; a temp dir is used")
    ap.add_argument("--count", type=int, default=60000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="apex-interop-")
    try:
        results = {fmt: synth(a.binary, tmp, fmt, f"out.{ext}", a.count)
                   for fmt, ext in (("parquet", "parquet"), ("csv", "csv"), ("jsonl", "jsonl"), ("otlp-json", "otlp.jsonl"))}
        summary = results["parquet"]["summary"]
        for fmt, r in results.items():
            check(r["summary"] == summary, f"{fmt}: summary differs from parquet's")
        check(results["parquet"]["quality"]["passed"] is True, "quality report did not pass")
        totals = duckdb_checks(tmp, summary, a.count)
        pyarrow_checks(tmp, a.count)
        otlp_checks(f"{tmp}/out.otlp.jsonl", a.count, totals)
        asyncio.run(mcp_otlp(a.binary, tmp, a.count))
        with open(f"{tmp}/out.otlp.jsonl", "rb") as x, open(f"{tmp}/mcp.otlp.jsonl", "rb") as y:
            check(x.read() == y.read(), "MCP tool and CLI wrote different OTLP files for the same seed")
        print("ok mcp: generate_synthetic_data wrote the same OTLP bytes as the CLI")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
