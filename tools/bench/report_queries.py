"""Each figure query of a report timed in our engine and in DuckDB, side by side.

Usage: report_queries.py BINARY ROOT REPORT.json [EXTRA.sql ...]

REPORT.json is `netra-apex --root ROOT agent run --dataset NAME --json`'s output; its
`cost_analysis.figures_sql` are run through `query_data` over MCP (the real server, stdio,
best of two; `query_data` stops a query at 5 s), then in DuckDB (2 threads, best of two) over
ROOT's datasets with the view the report's own reproduction uses. EXTRA.sql files are timed
too. Run with tools/clients/.venv/bin/python (the `mcp` SDK and `duckdb`).
"""

import asyncio
import json
import sys
import time

import duckdb
from mcp import Client, StdioServerParameters


def main(binary, root, report_path, extra):
    report = json.load(open(report_path))
    qs = report["cost_analysis"]["figures_sql"] + [open(f).read() for f in extra]

    async def ours():
        out = []
        server = StdioServerParameters(command=binary, args=["--root", root, "serve"])
        async with Client(server) as c:
            for q in qs:
                best = None
                for _ in range(2):
                    t = time.time()
                    r = await c.call_tool("query_data", {"sql": q, "limit": 10})
                    d = time.time() - t
                    best = d if best is None else min(best, d)
                    if r.is_error:
                        print("error:", [x.text for x in r.content][0][:300])
                out.append(best)
        return out

    o = asyncio.run(ours())
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(
        f"CREATE VIEW workload_records AS SELECT * FROM read_parquet('{root}/.netra-apex/datasets/"
        "dataset=*/day=*/*.parquet', hive_partitioning = true, hive_types_autocast = false)"
    )
    for i, q in enumerate(qs):
        best = None
        for _ in range(2):
            t = time.time()
            con.execute(q).fetchall()
            d = time.time() - t
            best = d if best is None else min(best, d)
        print(f"q{i}: ours {o[i]:.2f} s  duckdb {best:.2f} s  ratio {o[i] / best:.2f}  ...{q[-120:]!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
