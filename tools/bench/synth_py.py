"""Baseline for tools/bench/synth.sh: the same 23 workload-record fields as
`netra-apex synth`, generated with Python Faker or mimesis and written as JSON Lines, or
as Parquet with pyarrow (the same Arrow schema as netra-apex: UTC millisecond timestamps,
int64 token counts, snappy compression, row groups of ROW_GROUP records).

Usage: synth_py.py faker|mimesis COUNT OUTPUT [jsonl|parquet]
It mirrors the Rust generator's work per record (ids, timestamp, weighted choices,
log-normal token counts, cost from a price table), not its statistics.
"""
import json
import math
import random
import sys
import time
from datetime import datetime, timedelta, timezone

lib, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fmt = sys.argv[4] if len(sys.argv) > 4 else "jsonl"
if fmt not in ("jsonl", "parquet"):
    sys.exit("format must be jsonl or parquet")
ROW_GROUP = 131_072

MODELS = [("openai", "gpt-4o-mini", 0.15, 0.60, 0.40), ("openai", "gpt-4o", 2.5, 10.0, 0.20),
          ("anthropic", "claude-haiku-4-5", 1.0, 5.0, 0.15), ("google", "gemini-2.5-flash", 0.30, 2.5, 0.15),
          ("anthropic", "claude-sonnet-4-5", 3.0, 15.0, 0.10)]
WORKLOADS = ["simple_chat", "rag", "tool_use", "multi_turn_tool_use", "failed_request"]
TENANTS = ["shopfront-eu", "shopfront-us", "marketplace-apac", "outlet-store"]
FEATURES = ["product_search", "shopping_assistant", "order_tracking", "review_summaries", "returns"]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

if lib == "faker":
    from faker import Faker
    fake = Faker()
    Faker.seed(42)
    hex32 = lambda: fake.uuid4().replace("-", "")
    hex16 = lambda: fake.hexify("^^^^^^^^^^^^^^^^")
    pick = lambda xs: fake.random_element(xs)
    integer = lambda a, b: fake.pyint(a, b)
    uniform = lambda: fake.pyfloat(min_value=0, max_value=1)
    when = lambda: fake.date_time_between(START, START + timedelta(days=30), tzinfo=timezone.utc)
elif lib == "mimesis":
    from mimesis import Cryptographic, Datetime, Numeric, Choice
    crypto, dt, num, choice = Cryptographic(seed=42), Datetime(seed=42), Numeric(seed=42), Choice(seed=42)
    hex32 = lambda: crypto.uuid().replace("-", "")
    hex16 = lambda: crypto.token_hex(8)
    pick = lambda xs: choice(xs)
    integer = lambda a, b: num.integer_number(a, b)
    uniform = lambda: num.float_number(0.0, 1.0)
    when = lambda: START + timedelta(seconds=num.integer_number(0, 30 * 86400))
else:
    sys.exit("lib must be faker or mimesis")

rng = random.Random(42)


def records():
    for i in range(count):
        provider, model, pin, pout, _ = pick(MODELS)
        inp = max(1, round(math.exp(math.log(500) - 0.18 + 0.6 * rng.gauss(0, 1))))
        outp = max(1, round(math.exp(math.log(250) - 0.245 + 0.7 * rng.gauss(0, 1))))
        cached = round(inp * 0.6) if uniform() < 0.3 else 0
        error = uniform() < 0.02
        ttft = 300 + integer(0, 500)
        yield {
            "event_id": hex32(), "trace_id": hex32(), "span_id": hex16(), "parent_span_id": None,
            "timestamp": when(),
            "tenant": pick(TENANTS), "feature": pick(FEATURES), "workload_type": pick(WORKLOADS),
            "operation": "chat", "provider": provider, "model": model,
            "input_tokens": inp, "output_tokens": 0 if error else outp, "cache_read_tokens": cached,
            "cache_write_tokens": 0, "reasoning_tokens": 0,
            "latency_ms": round(ttft + outp * 12.5, 1), "ttft_ms": float(ttft),
            "status": "error" if error else "ok", "error_type": "rate_limit" if error else None,
            "finish_reason": None if error else "stop", "prompt_hash": hex16(),
            "cost_usd": 0.0 if error else round(((inp - cached) * pin + cached * pin / 10 + outp * pout) / 1e6, 10),
        }


t0 = time.time()
if fmt == "jsonl":
    with open(out, "w") as f:
        for rec in records():
            rec["timestamp"] = rec["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
            f.write(json.dumps(rec))
            f.write("\n")
else:
    import pyarrow as pa
    import pyarrow.parquet as pq
    s, i, f64 = pa.string(), pa.int64(), pa.float64()
    schema = pa.schema([
        ("event_id", s, False), ("trace_id", s, False), ("span_id", s, False), ("parent_span_id", s),
        ("timestamp", pa.timestamp("ms", tz="UTC"), False),
        ("tenant", s, False), ("feature", s, False), ("workload_type", s, False), ("operation", s, False),
        ("provider", s, False), ("model", s, False),
        ("input_tokens", i, False), ("output_tokens", i, False), ("cache_read_tokens", i, False),
        ("cache_write_tokens", i, False), ("reasoning_tokens", i, False),
        ("latency_ms", f64, False), ("ttft_ms", f64), ("status", s, False), ("error_type", s),
        ("finish_reason", s), ("prompt_hash", s), ("cost_usd", f64, False),
    ])
    names = schema.names
    with pq.ParquetWriter(out, schema, compression="snappy") as w:
        cols = {n: [] for n in names}
        for k, rec in enumerate(records(), 1):
            for n in names:
                cols[n].append(rec[n])
            if k % ROW_GROUP == 0 or k == count:
                w.write_table(pa.table(cols, schema=schema), row_group_size=ROW_GROUP)
                cols = {n: [] for n in names}
dt_s = time.time() - t0
print(f"{count} records in {dt_s:.2f}s: {count / dt_s:.0f} records/s", file=sys.stderr)
