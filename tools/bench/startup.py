"""Time from process start to the first tools/list answer over stdio (raw JSON-RPC, stdlib
only). Usage: startup.py BINARY ROOT [RUNS]. Prints median, p95, min and max in ms."""

import json
import statistics
import subprocess
import sys
import time

binary, root = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 30
init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "startup-bench", "version": "1"}}}
msgs = [init, {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
payload = "".join(json.dumps(m) + "\n" for m in msgs).encode()

times = []
for _ in range(runs + 1):
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve", "--root", root], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env={"RUST_LOG": "error", "PATH": "/usr/bin:/bin"})
    p.stdin.write(payload)
    p.stdin.flush()
    tools = None
    for line in p.stdout:
        msg = json.loads(line)
        if msg.get("id") == 2:
            tools = len(msg["result"]["tools"])
            break
    elapsed = (time.perf_counter() - t0) * 1000
    p.stdin.close()
    p.wait(timeout=10)
    times.append(elapsed)
times = times[1:]  # the first run warms the page cache
times.sort()
p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
print(f"startup to first tools/list ({tools} tools), {runs} runs: "
      f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
      f"min {times[0]:.1f} ms, max {times[-1]:.1f} ms (target <= 100 ms)")
