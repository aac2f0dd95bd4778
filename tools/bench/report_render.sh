#!/usr/bin/env bash
# Report rendering benchmark: what the charts and the HTML page add to an agent run.
# Usage: tools/bench/report_render.sh [BINARY] [RECORDS] [DAYS] [RUNS]
#   (defaults: target/release/netra-apex, 1000000 records, 90 days, 5 runs)
# One synthetic dataset, then RUNS times each: `agent run --json` (the report as before) and
# `agent run --out DIR` (the same report plus report.md, report.html and three SVG charts,
# written durably). Prints the median wall time and peak RSS of each, and their difference.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/target/release/netra-apex}
records=${2:-1000000}
days=${3:-90}
runs=${4:-5}
[ -x "$bin" ] || { echo "no binary at $bin; build with cargo build --release" >&2; exit 1; }
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" --root "$ws" synth --profile ecommerce --count "$records" --days "$days" --seed 7 \
  --dataset bench >/dev/null 2>&1
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # label, then the agent run arguments
  local label=$1; shift
  : >"$ws/times"; : >"$ws/rss"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$ws/t" "$bin" --root "$ws" agent run --dataset bench "$@" \
      >/dev/null 2>&1
    read -r secs kb <"$ws/t"
    echo "$secs" >>"$ws/times"; echo "$kb" >>"$ws/rss"
  done
  printf '%-28s median %6.2f s   peak RSS %5d MB\n' "$label" "$(median <"$ws/times")" \
    "$(( $(median <"$ws/rss") / 1024 ))"
  median <"$ws/times" >"$ws/$label.median"
}
measure "agent run --json" --json
measure "agent run --out (md+html+3 svg)" --out out
printf 'rendering and writing the page and charts: %+.2f s (median difference), %d records, %d days\n' \
  "$(echo "$(cat "$ws/agent run --out (md+html+3 svg).median") - $(cat "$ws/agent run --json.median")" | bc)" \
  "$records" "$days"
ls -l "$ws/out" "$ws/out/charts" | awk 'NF > 5 {print "  " $5 " bytes  " $NF}'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
