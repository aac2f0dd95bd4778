#!/usr/bin/env bash
# The MCP Inspector CLI (npm, pinned in package.json) against netra-apex over stdio:
# tools/list, then one tools/call. Usage: inspector.sh BINARY ROOT
set -euo pipefail
bin=$1 root=$2
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
insp() { timeout 120 npx --no-install mcp-inspector --cli "$bin" serve --root "$root" "$@"; }
tools=$(insp --method tools/list)
n=$(printf '%s' "$tools" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tools"]))')
[ "$n" -gt 0 ] || { echo "FAIL: inspector saw no tools" >&2; exit 1; }
names=$(printf '%s' "$tools" | python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)["tools"]))')
call() {
  out=$(insp --method tools/call --tool-name "$@")
  if printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(1 if r.get("isError") else 0)'; then
    echo "ok inspector: $n tools, called $1"
  else
    echo "FAIL: inspector call $1 returned an error: $out" >&2; exit 1
  fi
}
case " $names " in
  *" index_status "*) call index_status ;;
  *" list_workload_profiles "*) call list_workload_profiles ;;
  *" list_agents "*) call list_agents ;;
  *) first=${names%% *}; echo "FAIL: no known read-only tool to call among: $names" >&2; exit 1 ;;
esac
