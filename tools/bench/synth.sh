#!/usr/bin/env bash
# Synthetic generation benchmark: netra-apex synth against Python Faker and mimesis
# producing the same 23 fields (jsonl; and mimesis + pyarrow for parquet), side by side in
# one run. For 1M and 10M records to jsonl and
# to parquet: wall time, CPU, records/s and peak memory (max RSS from /usr/bin/time -v), each
# the median of RUNS runs (peak RSS: the largest of the runs); then the ratios to the Python
# generators and the issue's targets (>= 1,000,000 records/s to jsonl on 2 cores, <= 64 MB,
# >= 25x mimesis).
#
#   tools/bench/synth.sh                 # full run: RUNS=3, Python baselines at 1M
#   RUNS=5 tools/bench/synth.sh          # more runs per row
#   PY_10M=1 tools/bench/synth.sh        # also time the Python baselines at 10M (slow)
#   PY_FULL=1 tools/bench/synth.sh       # time Faker at the full size too (it is ~200x slower)
#   THREADS=2 SIZES="1000000" tools/bench/synth.sh
#   SHM=0 tools/bench/synth.sh           # skip the tmpfs (no disk) jsonl rows
#
# Builds the release binary, installs Faker, mimesis and pyarrow into tools/bench/.venv, writes
# outputs to a temp dir that is removed at the end. Run it on a quiet machine: the load
# average at the start is printed with the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZES=${SIZES:-"1000000 10000000"}
THREADS=${THREADS:-$(nproc)}
PROFILE=${PROFILE:-ecommerce}
RUNS=${RUNS:-3}
OUT=$(mktemp -d)
SHMDIR=""
trap 'rm -rf "$OUT" ${SHMDIR:+"$SHMDIR"}' EXIT

cargo build --release --quiet
# A private copy: a shared target dir may be rebuilt from another branch while this runs.
cp "${CARGO_TARGET_DIR:-target}/release/netra-apex" "$OUT/netra-apex"
BIN=$OUT/netra-apex

VENV=tools/bench/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "faker==40.*" "mimesis==22.*"
fi
# pyarrow writes the Python parquet baseline (added after the venv first existed: check it).
"$VENV/bin/python" -c 'import pyarrow' 2>/dev/null || "$VENV/bin/pip" install --quiet "pyarrow>=17"
PY=$VENV/bin/python

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure KEY LABEL COUNT CLEANUP CMD... -> one table row (medians of RUNS runs), and a line
# "KEY COUNT WALL RSS_KB" in $OUT/results for the summary. CLEANUP is removed after each run.
measure() {
  local key=$1 label=$2 count=$3 cleanup=$4; shift 4
  local log=$OUT/time.log walls=() cpus=() rsss=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v "$@" 2>"$log" >/dev/null || { cat "$log"; return 1; }
    rm -rf "$cleanup"
    cpus+=("$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$log")")
    walls+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')")
    rsss+=("$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")")
  done
  local wall cpu rss
  wall=$(printf '%s\n' "${walls[@]}" | median)
  cpu=$(printf '%s\n' "${cpus[@]}" | median)
  rss=$(printf '%s\n' "${rsss[@]}" | sort -g | tail -1)
  printf "| %-28s | %10s | %8.2f s | %8.2f s | %12.0f | %7.1f MB | %s |\n" "$label" "$count" "$wall" "$cpu" \
    "$(echo "$count / $wall" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$(printf '%s ' "${walls[@]}")"
  echo "$key $count $wall $rss" >>"$OUT/results"
}

echo "netra-apex $($BIN --version | awk '{print $2}'), profile $PROFILE, $THREADS threads, $(nproc) cores, $(date -u +%F), median of $RUNS runs"
echo
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| generator                    |    records |    wall   | CPU (u+s)  | records/s    | peak RSS   | walls (s) |"
echo "|------------------------------|------------|-----------|------------|--------------|------------|-----------|"
mkdir -p "$OUT/ws"
for n in $SIZES; do
  for fmt in jsonl parquet; do
    measure "rust-$fmt" "netra-apex $fmt" "$n" "$OUT/ws/out.$fmt" \
      "$BIN" --root "$OUT/ws" synth --profile "$PROFILE" --count "$n" --seed 42 \
      --format "$fmt" --output "out.$fmt" --threads "$THREADS"
  done
  # The same to tmpfs: generation speed without the disk (this machine's disk writes ~140 MB/s).
  if [ -d /dev/shm ] && [ "${SHM:-1}" = 1 ]; then
    SHMDIR=$(mktemp -d -p /dev/shm)
    measure "rust-jsonl-tmpfs" "netra-apex jsonl (tmpfs)" "$n" "$SHMDIR/out.jsonl" \
      "$BIN" --root "$SHMDIR" synth --profile "$PROFILE" --count "$n" \
      --seed 42 --format jsonl --output out.jsonl --threads "$THREADS"
    rm -rf "$SHMDIR"; SHMDIR=""
  fi
  if [ "$n" -le 1000000 ] || [ "${PY_10M:-0}" = 1 ]; then
    for lib in mimesis faker; do
      # Faker makes a few thousand records/s: time it on 100k records unless PY_FULL=1.
      m=$n
      if [ "$lib" = faker ] && [ "${PY_FULL:-0}" != 1 ] && [ "$n" -gt 100000 ]; then m=100000; fi
      measure "py-$lib" "python $lib jsonl" "$m" "$OUT/py.jsonl" "$PY" tools/bench/synth_py.py "$lib" "$m" "$OUT/py.jsonl"
    done
    # The same fields to parquet: mimesis generating, pyarrow writing (snappy, same schema).
    measure "py-mimesis-parquet" "python mimesis parquet" "$n" "$OUT/py.parquet" \
      "$PY" tools/bench/synth_py.py mimesis "$n" "$OUT/py.parquet" parquet
  fi
done
echo
# Ratios and targets from the medians (records/s = count / median wall).
awk -v threads="$THREADS" '
  { rate[$1 " " $2] = $2 / $3; rss[$1 " " $2] = $4 / 1024; any[$1] = $2 / $3 }
  END {
    r = rate["rust-jsonl 1000000"]; s = rate["rust-jsonl-tmpfs 1000000"]
    m = any["py-mimesis"]; f = any["py-faker"]
    if (r && m) printf "jsonl at 1M records: %.0fx mimesis, %.0fx Faker (to disk)", r / m, r / f
    if (s && m) printf "; %.0fx mimesis to tmpfs", s / m
    print ""
    p = rate["rust-parquet 1000000"]; mp = any["py-mimesis-parquet"]
    if (p && mp) printf "parquet at 1M records: %.0fx mimesis + pyarrow\n", p / mp
    best = (r > s ? r : s)
    if (best) printf "target >= 1,000,000 records/s to jsonl (%s threads): %.0f records/s (%s)\n", threads, best, (best >= 1e6 ? "met" : "NOT met")
    if (best && m) printf "target >= 25x mimesis: %.0fx (%s)\n", best / m, (best / m >= 25 ? "met" : "NOT met")
    peak = 0
    for (k in rss) if (k ~ /^rust-/ && rss[k] > peak) peak = rss[k]
    if (peak) printf "target peak memory <= 64 MB (all netra-apex rows): %.1f MB (%s)\n", peak, (peak <= 64 ? "met" : "NOT met")
  }
' "$OUT/results"
