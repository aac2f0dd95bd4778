#!/usr/bin/env bash
# Real third-party clients against the netra-apex binary: the Python MCP SDK (pinned 2.3.0)
# (py_session.py, then every other py_*.py: py_agents.py, py_interop.py with DuckDB, pyarrow
# and the OpenTelemetry protobuf definitions reading the synth formats, py_tasks.py with the
# Tasks extension declared through the SDK's client extension API)
# in both protocol modes over stdio and HTTP, and the MCP Inspector CLI (pinned 0.15.0).
# Installs what it needs into tools/clients/.venv and tools/clients/node_modules.
# Usage: tools/clients/run_all.sh [BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/target/release/netra-apex}
[ -x "$bin" ] || { echo "no binary at $bin; build with cargo build --release" >&2; exit 1; }

if [ ! -x "$here/.venv/bin/python" ]; then python3 -m venv "$here/.venv"; fi
"$here/.venv/bin/pip" install -q -r "$here/requirements.txt"
if [ ! -x "$here/node_modules/.bin/mcp-inspector" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# A small real workspace for the sessions: a copy of this project's own sources.
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
cp -r "$repo/src" "$repo/crates" "$repo/Cargo.toml" "$repo/README.md" "$ws/"
# A test suite the sessions can run in a moment (cargo test on this copy would build it all).
printf '[tests.suites.smoke]\ncommand = ["sh", "-c", "exit 0"]\nformat = "plain"\n' > "$ws/apex.toml"

failed=0
for transport in stdio http; do
  for mode in auto legacy; do
    "$here/.venv/bin/python" "$here/py_session.py" --binary "$bin" --root "$ws" --transport "$transport" --mode "$mode" || failed=1
  done
done
for extra in "$here"/py_*.py; do
  [ "$(basename "$extra")" = py_session.py ] && continue
  "$here/.venv/bin/python" "$extra" --binary "$bin" --root "$ws" || failed=1
done
"$here/inspector.sh" "$bin" "$ws" || failed=1
exit $failed
