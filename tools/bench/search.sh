#!/usr/bin/env bash
# Search benchmark (not a timed test) on the gigabyte corpus, side by side with ripgrep and
# Universal Ctags in the same run:
#   1. the corpus: tools/bench/search_corpus.sh fetches it (pinned crates, PyPI sdists and
#      npm packages) into /work/corpus/tree unless a directory is given;
#   2. a full build with a watcher running (crates/search/examples/search_bench.rs --phase
#      build, the library calls `netra-apex index --full` makes): text
#      searchable after, symbols after, a saved file's latency while the symbol pass runs,
#      peak RSS (/usr/bin/time), memory of the text and symbol passes apart (sampled);
#      then tree-sitter's own parse rate on the same files (--phase ceiling, a run of its own)
#      and the extraction's (--phase extract: the parse and our walk, nothing indexed);
#   3. queries (--phase query): search_code and find_symbol p50/p95 over identifiers sampled
#      from the corpus, `rg -n -w -F` on the same queries, a no-change re-index;
#   4. recall of find_symbol against ctags on sampled definitions (search_recall.py).
# Usage: tools/bench/search.sh [CORPUS] [QUERIES=60] [RECALL_SAMPLE=1000]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -n "${1:-}" ]; then
  corpus=$(cd "$1" && pwd)
else
  "$here/search_corpus.sh" /work/corpus
  corpus=/work/corpus/tree
fi
queries=${2:-60}
sample=${3:-1000}
out="$here/out/search"
data="$out/data"
mkdir -p "$out"
rm -rf "$data"

need() { command -v "$1" >/dev/null || { apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }; }; }
need rg ripgrep
need ctags universal-ctags
[ -x /usr/bin/time ] || need time time

cd "$repo"
cargo build --release --quiet -p apex-search --example search_bench
target="${CARGO_TARGET_DIR:-$repo/target}"
bench="$target/release/examples/search_bench"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load before: $(uptime | sed 's/.*load average: //')"
echo "corpus: $corpus ($(du -sh "$corpus" | cut -f1) on disk)"
# Warm the page cache so the build measures indexing, not the disk.
find "$corpus" -type f -size -1M -print0 | xargs -0 cat >/dev/null 2>&1 || true

echo "== build"
/usr/bin/time -v "$bench" --phase build --root "$corpus" --data-dir "$data" 2>"$out/build.time" | tee "$out/build.txt"
rss=$(grep 'Maximum resident set size' "$out/build.time" | grep -o '[0-9]*$')
cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.0f", s}' "$out/build.time")
echo "peak RSS while building: $((rss / 1024)) MB; $cpu CPU-seconds"
echo "load after the build: $(uptime | sed 's/.*load average: //')"

echo "== the ceiling: tree-sitter alone on the same files"
symbol_rate=$(sed -n 's/^symbols: .* = \([0-9.]*\) MB\/s.*/\1/p' "$out/build.txt")
"$bench" --phase ceiling --root "$corpus" --data-dir "$data" ${symbol_rate:+--symbol-rate "$symbol_rate"}
echo "== extraction alone (the parse and our walk, nothing indexed): the walk's share of the gap"
"$bench" --phase extract --root "$corpus" --data-dir "$data"

echo "== queries"
"$bench" --phase query --root "$corpus" --data-dir "$data" --queries "$queries" --rg "$(command -v rg)"

echo "== recall against Universal Ctags"
python3 "$here/search_recall.py" --root "$corpus" --data-dir "$data" --bench "$bench" \
  --sample "$sample" --misses "$out/recall_misses.tsv"
echo "load at the end: $(uptime | sed 's/.*load average: //')"
