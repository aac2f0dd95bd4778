"""Overhead of run_tests over calling the runner directly (raw JSON-RPC over stdio, stdlib
only). Usage: tests.py BINARY NAME:ROOT[:ARGS_JSON] ... [--runs N]

For each project: one warm-up run_tests call (builds, caches) that also tells the exact
command it runs; then N rounds alternating the bare command (same argv, cwd and env, minus
Netra Apex's pytest plugin) and a run_tests call to a server that is already up. Prints the
medians and the overhead in percent (target <= 10 %)."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

args = sys.argv[1:]
runs = 5
if "--runs" in args:
    i = args.index("--runs")
    runs = int(args[i + 1])
    del args[i : i + 2]
binary, projects = args[0], args[1:]


class Server:
    def __init__(self, root):
        self.data = tempfile.TemporaryDirectory()
        self.p = subprocess.Popen(
            [binary, "serve", "--root", root, "--data-dir", self.data.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "error"},
        )
        self.next_id = 1
        self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                    "clientInfo": {"name": "tests-bench", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write((json.dumps(msg) + "\n").encode())
        self.p.stdin.flush()

    def request(self, method, params):
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        for line in self.p.stdout:
            msg = json.loads(line)
            if msg.get("id") == rid:
                return msg
        raise RuntimeError("server closed")

    def run_tests(self, arguments):
        msg = self.request("tools/call", {"name": "run_tests", "arguments": arguments,
                                          "_meta": {"progressToken": 1}})
        return msg["result"]["structuredContent"]

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        self.data.cleanup()


def bare_env():
    return {**os.environ, "NO_COLOR": "1", "CARGO_TERM_COLOR": "never", "FORCE_COLOR": "0",
            "CI": "true"}


print(f"{'project':<14}{'bare median':>14}{'run_tests median':>19}{'overhead':>10}  tests")
for spec in projects:
    name, root, *rest = spec.split(":", 2)
    call_args = json.loads(rest[0]) if rest else {}
    call_args.setdefault("max_tokens", 500)
    server = Server(root)
    first = server.run_tests(call_args)
    command = first["command"]
    if first["framework"] == "pytest":
        # The bare runner does without Netra Apex's plugin: its cost counts as overhead.
        i = command.index("apex_pytest_plugin")
        command = command[: i - 1] + command[i + 1 :]
    cwd = os.path.join(root, first["path"])
    env = bare_env()
    bare, wrapped = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = server.run_tests(call_args)
        wrapped.append(time.perf_counter() - t0)
    server.close()
    b, w = statistics.median(bare), statistics.median(wrapped)
    c = out["counts"]
    total = c["passed"] + c["failed"] + c["skipped"] + c["errored"]
    print(f"{name:<14}{b * 1000:>11.0f} ms{w * 1000:>16.0f} ms{(w - b) / b * 100:>9.1f}%  "
          f"{total} ({' '.join(command[:3])} …)")
