#!/usr/bin/env bash
# Datasets and agents benchmark, DuckDB side by side in the same run.
# Usage: tools/bench/agents.sh [BINARY] [COUNTS...]   (default counts: 1000000 10000000)
#
# Per count (ecommerce, seed 7):
#   synth    the dataset written by `synth --format dataset` (Parquet parts), and its size
#            against synth's own single Parquet file of the same records
#   ingest   `netra-apex ingest` of the JSONL export (records/s, peak RSS) against DuckDB's
#            read_json_auto into a table, 2 threads
#   csv      (counts up to FORMATS_MAX, default 1000000) the same records as CSV, against
#            DuckDB's read_csv_auto; otlp: as OTLP/JSON lines (DuckDB has no OTLP reader: the
#            ratio column is against our own JSONL ingest, which the issue's target is)
#   Input files are flushed to disk (sync) before each ingest: a file still being written
#   back slowed the ingest that read it by up to 40 %.
#   report   `agent run` (the full supervisor report; wall time, peak RSS) against DuckDB
#            running the grouped queries the report's figures come from
#            (cost_analysis.figures_sql), 2 threads, over the same Parquet files
# Needs python3 with duckdb: tools/bench/.venv (python3 -m venv tools/bench/.venv &&
# tools/bench/.venv/bin/pip install duckdb==2.0.1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/target/release/netra-apex}
shift || true
counts=("${@:-1000000 10000000}")
py=${PYTHON:-$here/.venv/bin/python}
[ -x "$bin" ] || { echo "no binary at $bin; build with cargo build --release" >&2; exit 1; }
"$py" -c 'import duckdb' 2>/dev/null || { echo "no duckdb for $py; see the header" >&2; exit 1; }
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
now() { date +%s.%N; }
rss() { echo "$(cat "$1") / 1024" | bc; }
# Seconds of `netra-apex ingest FILE --dataset NAME` (its peak RSS left in $ws/rss).
apex_ingest() {
  local t0
  t0=$(now)
  /usr/bin/time -f '%M' -o "$ws/rss" "$bin" --root "$ws" ingest "$1" --dataset "$2" >/dev/null 2>&1
  echo "$(now) - $t0" | bc
}
# Seconds DuckDB takes to load FILE into a table with READER (read_json_auto...), 2 threads.
duck_load() {
  "$py" - "$1" "$2" <<'EOF'
import sys, time, duckdb
con = duckdb.connect(); con.execute("SET threads = 2")
t = time.time()
con.execute(f"CREATE TABLE w AS SELECT * FROM {sys.argv[1]}('{sys.argv[2]}')")
print(f"{time.time() - t:.2f}")
EOF
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
printf '%-9s %-7s %9s %10s %8s %9s %9s %8s\n' records step apex_s duckdb_s ratio apex_rss rate size_mb
for n in ${counts[@]}; do
  d=$ws/.netra-apex
  # synth: the dataset, and synth's single Parquet file for the size comparison
  t0=$(now)
  "$bin" --root "$ws" synth --profile ecommerce --count "$n" --seed 7 --format dataset --dataset "bench$n" >/dev/null
  t1=$(now)
  "$bin" --root "$ws" synth --profile ecommerce --count "$n" --seed 7 --format parquet --output "s$n.parquet" >/dev/null
  "$bin" --root "$ws" synth --profile ecommerce --count "$n" --seed 7 --format jsonl --output "w$n.jsonl" >/dev/null
  ds_mb=$(du -sm "$d/datasets/dataset=bench$n" | cut -f1)
  pq_mb=$(du -sm "$ws/s$n.parquet" | cut -f1)
  printf '%-9s %-7s %9.2f %10s %8s %9s %9s %8s  (synth parquet file %s MB: %s x)\n' "$n" synth "$(echo "$t1 - $t0" | bc)" - - - - "$ds_mb" \
    "$pq_mb" "$(echo "scale=2; $ds_mb / $pq_mb" | bc)"

  # ingest: JSONL into a dataset, against DuckDB's read_json_auto
  sync
  apex=$(apex_ingest "w$n.jsonl" "in$n")
  duck=$(duck_load read_json_auto "$ws/w$n.jsonl")
  printf '%-9s %-7s %9.2f %10.2f %8.2f %9s %9.0f\n' "$n" ingest "$apex" "$duck" "$(echo "scale=2; $apex / $duck" | bc)" \
    "$(rss "$ws/rss")" "$(echo "$n / $apex" | bc)"
  jsonl_s=$apex

  # the other export formats: CSV against DuckDB's read_csv_auto, OTLP/JSON against our JSONL
  if [ "$n" -le "${FORMATS_MAX:-1000000}" ]; then
    "$bin" --root "$ws" synth --profile ecommerce --count "$n" --seed 7 --format csv --output "w$n.csv" >/dev/null
    "$bin" --root "$ws" synth --profile ecommerce --count "$n" --seed 7 --format otlp-json --output "w$n.otlp.json" >/dev/null
    rm -f "$ws/w$n.jsonl"
    sync
    apex=$(apex_ingest "w$n.csv" "csv$n")
    duck=$(duck_load read_csv_auto "$ws/w$n.csv")
    printf '%-9s %-7s %9.2f %10.2f %8.2f %9s %9.0f\n' "$n" csv "$apex" "$duck" "$(echo "scale=2; $apex / $duck" | bc)" \
      "$(rss "$ws/rss")" "$(echo "$n / $apex" | bc)"
    rm -rf "$d/datasets/dataset=csv$n"
    apex=$(apex_ingest "w$n.otlp.json" "otlp$n")
    printf '%-9s %-7s %9.2f %10s %8.2f %9s %9.0f  (ratio: against our JSONL ingest of the same records)\n' "$n" otlp "$apex" - \
      "$(echo "scale=2; $apex / $jsonl_s" | bc)" "$(rss "$ws/rss")" "$(echo "$n / $apex" | bc)"
    rm -rf "$d/datasets/dataset=otlp$n" "$ws"/w*.csv "$ws"/w*.otlp.json
  fi

  # report: the supervisor report, against DuckDB running every query it cites
  t0=$(now)
  /usr/bin/time -f '%M' -o "$ws/rss" "$bin" --root "$ws" agent run --dataset "bench$n" --request "cut our LLM spend" --json >"$ws/report.json" 2>/dev/null
  t1=$(now)
  apex=$(echo "$t1 - $t0" | bc)
  duck=$("$py" - "$d/datasets" "$ws/report.json" <<'EOF'
import json, sys, time, duckdb
root, report = sys.argv[1], json.load(open(sys.argv[2]))
qs = report['cost_analysis']['figures_sql']
con = duckdb.connect(); con.execute("SET threads = 2")
con.execute(f"CREATE VIEW workload_records AS SELECT * FROM read_parquet('{root}/dataset=*/day=*/*.parquet', hive_partitioning = true, hive_types_autocast = false)")
t = time.time()
for q in qs: con.execute(q).fetchall()
print(f"{time.time() - t:.2f} {len(qs)}")
EOF
)
  spend=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['cost_analysis']['overview']['spend_usd'])" "$ws/report.json")
  printf '%-9s %-7s %9.2f %10.2f %8.2f %9s %9s %8s  (spend %s; DuckDB ran the same %s queries)\n' "$n" report "$apex" "${duck% *}" \
    "$(echo "scale=2; $apex / ${duck% *}" | bc)" "$(rss "$ws/rss")" - - "$spend" "${duck#* }"
  rm -rf "$ws"/w*.jsonl "$ws"/s*.parquet "$d"
done
