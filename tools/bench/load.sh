#!/usr/bin/env bash
# Load benchmark (loopback only, bounded): N concurrent HTTP clients for S seconds calling
# search_code, context_save and context_get against `serve --http` on a copy of this repo.
# Reports requests/s, p50/p99 latency per tool, errors, and server memory before/after.
# Usage: tools/bench/load.sh [CLIENTS=50] [SECONDS=60]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
clients=${1:-50}
seconds=${2:-60}
cd "$repo"
cargo build --release --quiet --bin netra-apex --example load
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="$target/release/netra-apex"

ws=$(mktemp -d)
cp -r src tests Cargo.toml README.md "$ws/"
log=$(mktemp)
"$bin" serve --root "$ws" --http 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$ws" "$log"' EXIT
url=
for _ in $(seq 100); do url=$(grep -o 'http://[^ ]*/mcp' "$log" | head -1 || true); [ -n "$url" ] && break; sleep 0.1; done
[ -n "$url" ] || { cat "$log"; exit 1; }
"$target/release/examples/load" "$url" --clients "$clients" --seconds "$seconds" --pid "$pid"
