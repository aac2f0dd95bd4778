#!/usr/bin/env bash
# Agents benchmark: a full supervisor report on 1M and 10M synthetic workload records.
# Usage: tools/bench/agents.sh [BINARY] [COUNTS...]   (default counts: 1000000 10000000)
# Records come from the synth CLI when the binary has it, else tools/bench/gen_workload.py.
# Prints, per count: generation, ingest and report wall time, and the report's peak RSS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/target/release/netra-apex}
shift || true
counts=("${@:-1000000 10000000}")
[ -x "$bin" ] || { echo "no binary at $bin; build with cargo build --release" >&2; exit 1; }
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
now() { date +%s.%N; }
printf '%-10s %-10s %10s %10s %10s %10s %12s\n' records source gen_s ingest_s report_s rss_mb spend_usd
for n in ${counts[@]}; do
  src=python
  t0=$(now)
  if "$bin" synth --help >/dev/null 2>&1 && "$bin" --root "$ws" synth --profile ecommerce --count "$n" --seed 7 --format sqlite --dataset "bench$n" >/dev/null 2>&1; then
    src=synth; t1=$(now); t2=$t1
  else
    python3 "$here/gen_workload.py" "$n" "$ws/w.jsonl" 7
    t1=$(now)
    "$bin" --root "$ws" ingest w.jsonl --dataset "bench$n" >/dev/null
    t2=$(now)
    rm -f "$ws/w.jsonl"
  fi
  /usr/bin/time -f '%M' -o "$ws/rss" "$bin" --root "$ws" agent run --dataset "bench$n" --request "cut our LLM spend" --json >"$ws/report.json" 2>/dev/null
  t3=$(now)
  spend=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['cost_analysis']['overview']['spend_usd'])" "$ws/report.json")
  recs=$(python3 -c "import json,sys; print(','.join(r['kind'] for r in json.load(open(sys.argv[1]))['recommendations']))" "$ws/report.json")
  printf '%-10s %-10s %10.2f %10.2f %10.2f %10.0f %12s  %s\n' "$n" "$src" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" \
    "$(echo "$t3 - $t2" | bc)" "$(echo "$(cat "$ws/rss") / 1024" | bc)" "$spend" "$recs"
  rm -f "$ws/.netra-apex/apex.db"*
done
