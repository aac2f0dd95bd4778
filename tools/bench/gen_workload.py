"""Synthetic workload records for the agents benchmark (JSONL in the workload schema).

Usage: gen_workload.py COUNT OUT.jsonl [SEED]. Deterministic for a seed. Used by
tools/bench/agents.sh when the synth CLI is not available; realistic enough to exercise
every analysis: several providers and tiers, features and tenants, batch work, repeated
prompts, long output tails, billed failures, 30 days with one spiky day.
"""
import random
import sys

count = int(sys.argv[1])
out = sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)

# (provider, model, input $/M, output $/M)
MODELS = [
    ("openai", "gpt-4o", 2.5, 10.0), ("openai", "gpt-4o-mini", 0.15, 0.6),
    ("anthropic", "claude-sonnet-4-5", 3.0, 15.0), ("anthropic", "claude-haiku-4-5", 1.0, 5.0),
    ("google", "gemini-2.5-pro", 1.25, 10.0), ("google", "gemini-2.5-flash", 0.3, 2.5),
    ("openai", "gpt-5", 1.25, 10.0),
]
# feature -> (workload_type, model indexes, mean input, mean output)
FEATURES = {
    "support_chat": ("simple_chat", [0, 1, 3], 600, 150),
    "rag_answer": ("rag", [2, 4], 4000, 300),
    "code_review": ("agent", [2, 6], 8000, 800),
    "nightly_summaries": ("batch_summarization", [1, 5], 3000, 400),
    "classification": ("classification", [0, 5], 300, 5),
    "eval_runs": ("offline_eval", [6, 4], 2000, 500),
}
FEATURE_NAMES = list(FEATURES)
TENANTS = [f"tenant-{i:03d}" for i in range(200)]
START = 1767225600  # 2026-01-01T00:00:00Z
SPAN = 30 * 86400
import time

lines = []
with open(out, "w") as f:
    for i in range(count):
        fname = FEATURE_NAMES[min(int(rng.expovariate(0.6)), len(FEATURE_NAMES) - 1)]
        wtype, midx, mean_in, mean_out = FEATURES[fname]
        provider, model, pin, pout = MODELS[rng.choice(midx)]
        ts = START + int(SPAN * i / count)
        if 14 * 86400 <= ts - START < 15 * 86400 and rng.random() < 0.5:
            pin *= 3  # the spiky day: a runaway loop of expensive calls
        t = time.gmtime(ts)
        stamp = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, i % 1000)
        inp = max(1, int(rng.lognormvariate(0, 0.5) * mean_in))
        outp = max(1, int(rng.lognormvariate(0, 0.9) * mean_out))
        cache_read = int(inp * 0.6) if (provider == "openai" and fname == "rag_answer") else 0
        r = rng.random()
        status, err = ("ok", None)
        if r < 0.02:
            status, err = "error", "timeout"
        elif r < 0.03:
            status, err, outp = "error", "rate_limit", 0
        cost = ((inp - cache_read) * pin + cache_read * pin * 0.1 + outp * pout) / 1e6
        if err == "rate_limit":
            cost = 0.0
        ph = "dup-%d" % rng.randrange(2000) if rng.random() < 0.08 else "p-%d" % i
        lat = rng.lognormvariate(0, 0.6) * (200 + outp * 8)
        f.write('{"event_id":"e%d","trace_id":"t%d","span_id":"s%d","timestamp":"%s","tenant":"%s","feature":"%s","workload_type":"%s","operation":"chat","provider":"%s","model":"%s","input_tokens":%d,"output_tokens":%d,"cache_read_tokens":%d,"latency_ms":%.1f,"ttft_ms":%.1f,"status":"%s","error_type":%s,"finish_reason":"stop","prompt_hash":"%s","cost_usd":%.8f}\n' % (
            i, i // 3, i, stamp, rng.choice(TENANTS), fname, wtype, provider, model, inp, outp, cache_read,
            lat, lat * 0.2, status, '"%s"' % err if err else "null", ph, cost))
