"""A scripted session of the official Python MCP SDK against netra-apex.

Usage: py_session.py --binary PATH --root DIR --transport stdio|http --mode auto|legacy

`auto` negotiates 2026-07-28 (stateless), `legacy` uses the 2025-11-25 handshake. The
session lists tools, prompts and resource templates, calls a tool with a progress callback
(expecting progress notifications when the tool streams them), calls each long tool (this
client does not declare the Tasks extension: ordinary results with progress, never a task),
calls a tool with a bad argument (expecting isError naming the field) and an unknown tool
(expecting an error). Exits non-zero on the first failed expectation.
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys

from mcp import Client, StdioServerParameters

# Tools to exercise, in order of preference: (name, good args, streams progress).
CALLS = [
    ("reindex", {}, True),
    ("generate_synthetic_data", {"profile": "ecommerce", "count": 20000, "seed": 7, "format": "jsonl", "output": "out/py.jsonl"}, True),
    ("search_code", {"query": "main"}, False),
    ("list_workload_profiles", {}, False),
    ("list_agents", {}, False),
]


# The long tools, in an order where each finds what it needs; the smoke suite is in the
# workspace's apex.toml (written by run_all.sh, or by main below).
LONG = [
    ("reindex", {}),
    ("generate_synthetic_data", {"profile": "ecommerce", "count": 4000, "seed": 3, "format": "jsonl", "output": "out/py-long.jsonl"}),
    ("ingest_logs", {"path": "out/py-long.jsonl", "dataset": "py-long"}),
    ("run_tests", {"suite": "smoke"}),
    ("run_agent", {"dataset": "py-long", "request": "cut our LLM spend"}),
]


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


async def session(server, mode, label):
    progress = []

    async def on_progress(p, total, message):
        progress.append((p, total, message))

    async with Client(server, mode=mode) as client:
        tools = (await client.list_tools()).tools
        names = [t.name for t in tools]
        if not names:
            fail(f"{label}: no tools listed")
        for t in tools:
            if not t.description or len(t.description) >= 300:
                fail(f"{label}: tool {t.name} description missing or too long")
        prompts = (await client.list_prompts()).prompts
        if "explain_code" not in [p.name for p in prompts]:
            fail(f"{label}: prompt explain_code missing")
        templates = (await client.list_resource_templates()).resource_templates
        if not any(t.uri_template == "apex://runs/{id}/events" for t in templates):
            fail(f"{label}: resource template apex://runs/{{id}}/events missing")

        called = None
        for name, args, streams in CALLS:
            if name not in names:
                continue
            result = await client.call_tool(name, args, progress_callback=on_progress)
            text = " ".join(c.text for c in result.content if getattr(c, "text", None))
            if result.is_error:
                fail(f"{label}: {name} failed: {text[:300]}")
            if streams:
                if not progress:
                    fail(f"{label}: {name} sent no progress notifications")
                values = [p for p, _, _ in progress]
                if values != sorted(values) or len(set(values)) != len(values):
                    fail(f"{label}: progress not strictly increasing: {values}")
            called = name
            break
        if called is None:
            fail(f"{label}: none of {[c[0] for c in CALLS]} is listed")

        # Every long tool answers an ordinary result, streaming progress, to a client that
        # did not declare the Tasks extension.
        for name, args in LONG:
            seen = []

            async def on_long_progress(p, total, message):
                seen.append(p)

            result = await client.call_tool(name, args, progress_callback=on_long_progress)
            text = " ".join(c.text for c in result.content if getattr(c, "text", None))
            if result.is_error:
                fail(f"{label}: {name} failed: {text[:300]}")
            if getattr(result, "result_type", "complete") not in (None, "complete"):
                fail(f"{label}: {name} answered {result.result_type!r} to a client without tasks")
            if not (result.structured_content or {}).get("run_id") and name != "run_tests":
                fail(f"{label}: {name} names no run: {result.structured_content}")
            if not seen or seen != sorted(set(seen)):
                fail(f"{label}: {name} progress {seen}")

        # A bad argument: the wrong type for a field.
        bad_tool = next((t for t in tools if (t.input_schema.get("required") or [])), None)
        if bad_tool is not None:
            field = bad_tool.input_schema["required"][0]
            result = await client.call_tool(bad_tool.name, {field: {"not": "valid"}})
            text = " ".join(c.text for c in result.content if getattr(c, "text", None))
            if not result.is_error or field not in text:
                fail(f"{label}: bad `{field}` for {bad_tool.name} should be isError naming it, got {text[:200]}")

        try:
            result = await client.call_tool("no_such_tool", {})
            if not result.is_error:
                fail(f"{label}: unknown tool was accepted")
        except Exception as e:  # a JSON-RPC error is the expected outcome
            if "not found" not in str(e).lower():
                fail(f"{label}: unknown tool gave an unexpected error: {e}")

        print(f"ok python-mcp {label}: {len(names)} tools, called {called}, {len(progress)} progress notifications; {len(LONG)} long tools answered without a task")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--transport", choices=["stdio", "http"], required=True)
    ap.add_argument("--mode", choices=["auto", "legacy"], required=True)
    a = ap.parse_args()
    label = f"{a.transport}/{a.mode}"
    toml = os.path.join(a.root, "apex.toml")
    if not os.path.exists(toml):
        with open(toml, "w") as f:
            f.write('[tests.suites.smoke]\ncommand = ["sh", "-c", "exit 0"]\nformat = "plain"\n')
    if a.transport == "stdio":
        server = StdioServerParameters(command=a.binary, args=["serve", "--root", a.root], env={**os.environ, "RUST_LOG": "warn"})
        await session(server, a.mode, label)
        return
    proc = subprocess.Popen([a.binary, "serve", "--root", a.root, "--http", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "RUST_LOG": "warn"})
    try:
        url = None
        for line in proc.stderr:
            m = re.search(r"listening on (\S+)", line)
            if m:
                url = m.group(1)
                break
        if url is None:
            fail("HTTP server did not start")
        await session(url, a.mode, label)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
