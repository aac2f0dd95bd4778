#!/usr/bin/env bash
# Search benchmark (not a timed test): build the index over real code, then query latency
# side by side with ripgrep.
#   corpus: the crate sources cargo unpacked under ~/.cargo/registry/src (default), or a
#           checkout given as the first argument.
# Reports: build time, MB/s, index size, peak RSS (/usr/bin/time -v), p50/p95 latency of
# search_code and find_symbol over >= 50 identifiers sampled from the corpus, and rg on the
# same queries.
# Usage: tools/bench/search.sh [CORPUS] [QUERIES=60]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
corpus=${1:-$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ | head -1)}
queries=${2:-60}
corpus=$(cd "$corpus" && pwd)
out="$here/out/search"
data="$out/data"
mkdir -p "$out"
rm -rf "$data"

if ! command -v rg >/dev/null; then
  echo "installing ripgrep (Debian package)" >&2
  (apt-get install -y ripgrep || (apt-get update && apt-get install -y ripgrep)) >/dev/null
fi
[ -x /usr/bin/time ] || { apt-get install -y time >/dev/null; }

cd "$repo"
cargo build --release --quiet --bin netra-apex --example search_bench
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="$target/release/netra-apex"
bench="$target/release/examples/search_bench"

echo "corpus: $corpus ($(du -sh "$corpus" | cut -f1) on disk, $(nproc) cores)"
# Warm the page cache so the build measures indexing, not the disk.
find "$corpus" -type f -size -1M -print0 | xargs -0 cat >/dev/null 2>&1 || true

/usr/bin/time -v "$bin" --root "$corpus" --data-dir "$data" index --full --json \
  >"$out/report.json" 2>"$out/build.log"
ms=$(grep -o '"duration_ms": [0-9]*' "$out/report.json" | grep -o '[0-9]*$')
text_ms=$(grep -o '"text_ms": [0-9]*' "$out/report.json" | grep -o '[0-9]*$')
sym_ms=$(grep -o '"symbols_ms": [0-9]*' "$out/report.json" | grep -o '[0-9]*$')
syms=$(grep -o '"symbols_indexed": [0-9]*' "$out/report.json" | grep -o '[0-9]*$')
cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$out/build.log")
bytes=$(grep -o '"bytes_indexed": [0-9]*' "$out/report.json" | grep -o '[0-9]*$')
rss=$(grep 'Maximum resident set size' "$out/build.log" | grep -o '[0-9]*$')
files=$(grep -o '"added": [0-9]*' "$out/report.json" | grep -o '[0-9]*$')
size=$(du -sb "$data/index" | cut -f1)
awk -v ms="$ms" -v b="$bytes" -v rss="$rss" -v f="$files" -v s="$size" -v tms="$text_ms" \
    -v sms="$sym_ms" -v syms="$syms" -v cpu="$cpu" 'BEGIN {
  printf "text searchable: %d files, %.0f MB of text in %.1f s = %.1f MB/s\n", f, b/1e6, tms/1000, (b/1e6)/(tms/1000);
  printf "symbols: %d extracted in %.1f s more\n", syms, sms/1000;
  printf "whole build: %.1f s = %.1f MB/s, %.0f CPU-seconds = %.1f MB per CPU-second\n", ms/1000, (b/1e6)/(ms/1000), cpu, (b/1e6)/cpu;
  printf "index size: %.0f MB (%.0f%% of the text)\n", s/1e6, 100*s/b;
  printf "peak RSS while indexing: %.0f MB\n", rss/1024 }'
"$bench" --root "$corpus" --data-dir "$data" --queries "$queries" --rg "$(command -v rg)"
