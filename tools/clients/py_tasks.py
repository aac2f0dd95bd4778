"""The long tools as MCP tasks through the official Python MCP SDK.

Usage: py_tasks.py --binary PATH --root DIR

mcp 2.3.0 ships no client for the Tasks extension (`io.modelcontextprotocol/tasks`), but its
client extension API (SEP-2133: `ClientExtension` + `ResultClaim`) lets a client declare it
and resolve `resultType: "task"` answers; `TasksExtension` below does that in a few lines:
it polls `tasks/get` until the task ends. Claims exist only on the 2026-07-28 wire, so the
check runs in `auto` mode, over stdio and HTTP.

For each long tool (reindex, generate_synthetic_data, ingest_logs, run_tests, run_agent) it
checks that a plain client gets an ordinary result, that the extension's client gets a task
that goes from `working` to `completed`, that the task's result carries the same fields as the
plain one, and that `apex://runs/{task id}` reads the task's run. Exits non-zero on the
first failed expectation.
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys
from typing import Any, Literal

from mcp import Client, StdioServerParameters, types
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp_types import Request, RequestParams, Result
from pydantic import Field, TypeAdapter

TASKS = "io.modelcontextprotocol/tasks"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class CreateTaskResult(Result):
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str
    status: str
    status_message: str | None = None
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class TaskParams(RequestParams):
    task_id: str


class GetTask(Request[TaskParams, Literal["tasks/get"]]):
    name_param = "taskId"  # the Mcp-Name header tasks/* carry over HTTP


class TasksExtension(ClientExtension):
    """Declares the Tasks extension and resolves a task into its final CallToolResult."""

    identifier = TASKS

    def __init__(self):
        self.seen: dict[str, list[str]] = {}

    def claims(self):
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=self.resolve)]

    async def resolve(self, created: CreateTaskResult, ctx: ClaimContext) -> types.CallToolResult:
        statuses = self.seen.setdefault(created.task_id, [created.status])
        while True:
            task = await ctx.session.send_request(
                GetTask(method="tasks/get", params=TaskParams(task_id=created.task_id)),
                TypeAdapter(dict[str, Any]),
            )
            statuses.append(task["status"])
            if task["status"] == "completed":
                return types.CallToolResult.model_validate(task["result"])
            if task["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"{ctx.tool_name}: task {created.task_id} {task['status']}: {task}")
            await asyncio.sleep(min(task.get("pollIntervalMs") or 200, 200) / 1000)


# The long tools, in an order where each finds what it needs (the smoke suite is written
# into apex.toml by run_all.sh, or by main below).
LONG = [
    ("reindex", {"full": True}),
    ("generate_synthetic_data", {"profile": "ecommerce", "count": 4000, "seed": 11, "format": "jsonl", "output": "out/py-tasks.jsonl"}),
    ("ingest_logs", {"path": "out/py-tasks.jsonl", "dataset": "py-tasks"}),
    ("run_tests", {"suite": "smoke"}),
    ("run_agent", {"dataset": "py-tasks", "request": "cut our LLM spend"}),
]


def keys(result):
    return sorted((result.structured_content or {}).keys())


async def check(server, label):
    plain = {}
    async with Client(server, mode="auto") as client:
        for name, args in LONG:
            r = await client.call_tool(name, args)
            if r.is_error:
                fail(f"{label}: plain {name} failed: {r.content}")
            plain[name] = r
    ext = TasksExtension()
    async with Client(server, mode="auto", extensions=[ext]) as client:
        for name, args in LONG:
            before = set(ext.seen)
            r = await client.call_tool(name, args)
            new = [t for t in ext.seen if t not in before]
            if len(new) != 1:
                fail(f"{label}: {name} answered no task (tasks seen: {list(ext.seen)})")
            task_id = new[0]
            statuses = ext.seen[task_id]
            if statuses[0] != "working" or statuses[-1] != "completed":
                fail(f"{label}: {name} task statuses {statuses}")
            if r.is_error:
                fail(f"{label}: {name} task result is an error: {r.content}")
            if keys(r) != keys(plain[name]):
                fail(f"{label}: {name}: task result fields {keys(r)} differ from the plain call's {keys(plain[name])}")
            run = await client.read_resource(f"apex://runs/{task_id}")
            body = run.contents[0].text
            run_id = re.search(r'"id":\s*"([^"]+)"', body).group(1)
            want = (r.structured_content or {}).get("run_id")
            if want is not None and want != run_id:
                fail(f"{label}: {name}: apex://runs/{task_id} is run {run_id}, the result names {want}")
            print(f"ok python-mcp tasks {label} {name}: task {task_id} -> run {run_id}, statuses {statuses[0]}..{statuses[-1]} ({len(statuses)} polls)")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--root", required=True)
    a = ap.parse_args()
    toml = os.path.join(a.root, "apex.toml")
    if not os.path.exists(toml):
        with open(toml, "w") as f:
            f.write('[tests.suites.smoke]\ncommand = ["sh", "-c", "exit 0"]\nformat = "plain"\n')
    env = {**os.environ, "RUST_LOG": "warn"}
    await check(StdioServerParameters(command=a.binary, args=["serve", "--root", a.root], env=env), "stdio")
    proc = subprocess.Popen([a.binary, "serve", "--root", a.root, "--http", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        url = None
        for line in proc.stderr:
            m = re.search(r"listening on (\S+)", line)
            if m:
                url = m.group(1)
                break
        if url is None:
            fail("HTTP server did not start")
        await check(url, "http")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
