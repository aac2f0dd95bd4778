"""The agents through the official Python MCP SDK, with and without the client's LLM.

Usage: py_agents.py --binary PATH --root DIR

For each protocol mode (`legacy` = 2025-11-25: the server sends sampling/createMessage
during the run; `auto` = 2026-07-28: the server answers InputRequiredResult and the SDK
retries with the sampled answers) it ingests a small workload, runs the supervisor with a
sampling callback and checks that the report's executive summary is the callback's text and
its narrator the callback's model, and that the figures are the deterministic ones. Then it
runs once without a sampling callback and checks the deterministic narrator wrote it.
Exits non-zero on the first failed expectation.
"""

import argparse
import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters, types

LLM_TEXT = "Spend is concentrated on a few models; caching and right-sizing are the quick wins."
LLM_MODEL = "py-sdk-test-llm"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def write_workload(root):
    """A tiny workload: 120 short gpt-4o calls (10 share a prompt) and 30 batch calls."""
    path = os.path.join(root, "py_agents_workload.jsonl")
    with open(path, "w") as f:
        for i in range(150):
            batch = i >= 120
            f.write(json.dumps({
                "timestamp": "2026-01-%02dT10:%02d:00Z" % (1 + i % 10, i % 60),
                "provider": "openai", "model": "gpt-4o-mini" if batch else "gpt-4o",
                "feature": "nightly_batch" if batch else "support", "tenant": "acme",
                "input_tokens": 400, "output_tokens": 80, "latency_ms": 350.0,
                "status": "ok", "prompt_hash": "same" if i < 10 else "p%d" % i,
            }) + "\n")
    return "py_agents_workload.jsonl"


def structured(result, label, what):
    text = " ".join(c.text for c in result.content if getattr(c, "text", None))
    if result.is_error:
        fail(f"{label}: {what} failed: {text[:400]}")
    return result.structured_content or {}


async def run(server, mode, rel, with_llm):
    label = f"{mode}/{'sampling' if with_llm else 'no-sampling'}"
    asked = []

    async def on_sample(context, params: types.CreateMessageRequestParams):
        prompt = " ".join(m.content.text for m in params.messages if getattr(m.content, "text", None))
        asked.append(prompt)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=LLM_TEXT), model=LLM_MODEL,
        )

    kwargs = {"sampling_callback": on_sample} if with_llm else {}
    async with Client(server, mode=mode, **kwargs) as client:
        dataset = f"py-{mode}"
        ing = structured(await client.call_tool("ingest_logs", {"path": rel, "dataset": dataset}), label, "ingest_logs")
        if ing.get("accepted") != 150 or ing.get("rejected") != 0:
            fail(f"{label}: ingest accepted {ing.get('accepted')} rejected {ing.get('rejected')}")
        progress = []

        async def on_progress(p, total, message):
            progress.append((p, total, message))

        out = structured(await client.call_tool(
            "run_agent", {"agent": "supervisor", "request": "cut our LLM spend", "dataset": dataset},
            progress_callback=on_progress), label, "run_agent")
        report = out.get("report") or {}
        spend = report.get("cost_analysis", {}).get("overview", {}).get("spend_usd")
        want_spend = round(120 * (400 * 2.5 + 80 * 10) / 1e6 + 30 * (400 * 0.15 + 80 * 0.6) / 1e6, 6)
        if spend is None or abs(spend - want_spend) > 1e-9:
            fail(f"{label}: spend {spend}, expected {want_spend} (priced from the catalog)")
        kinds = [r["kind"] for r in report.get("recommendations", [])]
        if "response_caching" not in kinds or "right_sizing" not in kinds:
            fail(f"{label}: expected response_caching and right_sizing, got {kinds}")
        if with_llm:
            if not asked or "Facts" not in asked[-1]:
                fail(f"{label}: the sampling callback was not asked for the summary")
            if report.get("narrator") != LLM_MODEL or report.get("executive_summary") != LLM_TEXT:
                fail(f"{label}: the LLM summary was not used: narrator={report.get('narrator')!r}")
        else:
            if report.get("narrator") != "deterministic":
                fail(f"{label}: narrator {report.get('narrator')!r}, expected deterministic")
            if "model calls cost" not in (report.get("executive_summary") or ""):
                fail(f"{label}: unexpected deterministic summary {report.get('executive_summary')!r}")
        names = [m.split(":")[0] for _, _, m in progress if m]
        if not names or names[0] != "agent_started" or names[-1] != "agent_completed" or "final_report" not in names:
            fail(f"{label}: progress events {names}")
        print(f"ok python-mcp agents {label}: narrator {report.get('narrator')}, {len(kinds)} recommendations, {len(progress)} progress notifications")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--root", required=True)
    a = ap.parse_args()
    rel = write_workload(a.root)
    server = StdioServerParameters(command=a.binary, args=["serve", "--root", a.root], env={**os.environ, "RUST_LOG": "warn"})
    for mode in ["legacy", "auto"]:
        await run(server, mode, rel, with_llm=True)
    await run(server, "auto", rel, with_llm=False)
    await run(server, "legacy", rel, with_llm=False)


if __name__ == "__main__":
    asyncio.run(main())
