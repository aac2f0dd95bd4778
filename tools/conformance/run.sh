#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, on Node 22 from the
# npm package node@22) against `netra-apex serve --http`. Scenarios that need the suite's
# own fixture tools, resources or prompts are listed with their reasons in
# expected-failures.yml; any other failure, or a listed scenario that starts passing, fails.
# Usage: tools/conformance/run.sh BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
cd "$here"
[ -x node_modules/.bin/node ] || npm ci --no-audit --no-fund --loglevel=error
ws=$(mktemp -d)
log=$(mktemp)
"$bin" serve --root "$ws" --http 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$ws" "$log"' EXIT
url=
for _ in $(seq 100); do
  url=$(grep -o 'http://[^ ]*/mcp' "$log" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: server did not start"; cat "$log"; exit 1; }
./node_modules/.bin/node node_modules/@modelcontextprotocol/conformance/dist/index.js \
  server --url "$url" --expected-failures expected-failures.yml
