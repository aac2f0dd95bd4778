#!/usr/bin/env bash
# Soak (loopback only, bounded in clients and time): N HTTP clients for S seconds against
# `serve --http` on a copy of this repo, each mixing search_code, context_save/get,
# index_status and list_datasets while subscribed to a bundle the others save; a generation
# (300k records) and an ingest (200k records) every two minutes, with progress. Every call
# has a deadline (30 s; 240 s for runs): a call past it is a hang and fails the soak.
# Reports errors, hangs, p50/p99 per tool, notifications, and the server's RSS every 30 s;
# fails on any error or hang, or RSS growing more than 10 % after warm-up (MAX_RSS_GROWTH).
# Usage: tools/bench/soak.sh [CLIENTS=50] [SECONDS=600]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
clients=${1:-50}
seconds=${2:-600}
cd "$repo"
cargo build --release --quiet --bin netra-apex --example soak
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="$target/release/netra-apex"

ws=$(mktemp -d)
cp -r src crates tests Cargo.toml README.md "$ws/"
log=$(mktemp)
# The ingest's input: 200k records of logs, written before the server starts.
"$bin" --root "$ws" synth --profile research --count 200000 --seed 11 --format jsonl \
    --output logs/soak.jsonl 2>/dev/null
"$bin" serve --root "$ws" --http 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$ws" "$log"' EXIT
url=
for _ in $(seq 100); do url=$(grep -o 'http://[^ ]*/mcp' "$log" | head -1 || true); [ -n "$url" ] && break; sleep 0.1; done
[ -n "$url" ] || { cat "$log"; exit 1; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Under `set -e` a failing soak would end the script here: keep its status, print the rest.
status=0
"$target/release/examples/soak" "$url" --ingest logs/soak.jsonl --clients "$clients" --seconds "$seconds" --pid "$pid" \
    --max-rss-growth "${MAX_RSS_GROWTH:-10}" || status=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -iE "panic|error" "$log" | head -20 || true
exit $status
