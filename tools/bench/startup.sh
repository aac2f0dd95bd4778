#!/usr/bin/env bash
# Benchmark: time from process start to the first tools/list answer over stdio, on a
# workspace with an existing index (this repository, indexed first when the binary can).
# Usage: tools/bench/startup.sh [ROOT] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=${1:-$repo}
runs=${2:-30}
(cd "$repo" && cargo build --release --quiet)
bin="${CARGO_TARGET_DIR:-$repo/target}/release/netra-apex"
if "$bin" --help | grep -q '^  index'; then
  "$bin" --root "$root" index >/dev/null 2>&1 || true
fi
python3 "$here/startup.py" "$bin" "$root" "$runs"
