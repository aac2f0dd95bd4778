#!/usr/bin/env bash
# Synthetic generation benchmark: netra-apex synth against Python Faker and mimesis
# producing the same 23 fields, side by side. Records/s and peak memory (max RSS from
# /usr/bin/time -v) for 1M and 10M records to jsonl and parquet.
#
#   tools/bench/synth.sh            # full run (Python baselines at 1M records)
#   PY_10M=1 tools/bench/synth.sh   # also time the Python baselines at 10M (slow)
#   PY_FULL=1 tools/bench/synth.sh  # time Faker at the full size too (it is ~500x slower)
#   THREADS=2 SIZES="1000000" tools/bench/synth.sh
#
# Builds the release binary, installs Faker and mimesis into tools/bench/.venv, writes
# outputs to a temp dir that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SIZES=${SIZES:-"1000000 10000000"}
THREADS=${THREADS:-$(nproc)}
PROFILE=${PROFILE:-ecommerce}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

cargo build --release --quiet
# A private copy: a shared target dir may be rebuilt from another branch while this runs.
cp "${CARGO_TARGET_DIR:-target}/release/netra-apex" "$OUT/netra-apex"
BIN=$OUT/netra-apex

VENV=tools/bench/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "faker>=30" "mimesis>=12"
fi
PY=$VENV/bin/python

measure() { # label count cmd... -> one table row
  local label=$1 count=$2; shift 2
  local log=$OUT/time.log
  /usr/bin/time -v "$@" 2>"$log" >/dev/null || { cat "$log"; return 1; }
  local wall rss cpu
  cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  printf "| %-30s | %10s | %8.2f s | %8.2f s | %12.0f | %7.1f MB |\n" "$label" "$count" "$wall" "$cpu" "$(echo "$count / $wall" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  echo "$label $count $wall $rss" >>"$OUT/results"
}

echo "netra-apex $($BIN --version | awk '{print $2}'), profile $PROFILE, $THREADS threads, $(nproc) cores, $(date -u +%F)"
echo
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| generator                      |    records |      wall |  CPU (u+s) | records/s    | peak RSS   |"
echo "|--------------------------------|------------|-----------|------------|--------------|------------|"
for n in $SIZES; do
  for fmt in jsonl parquet; do
    mkdir -p "$OUT/ws"
    measure "netra-apex $fmt" "$n" "$BIN" --root "$OUT/ws" synth --profile "$PROFILE" --count "$n" --seed 42 \
      --format "$fmt" --output "out.$fmt" --threads "$THREADS"
    rm -f "$OUT/ws/out.$fmt"
  done
  # The same to tmpfs: generation speed without the disk (this machine's disk writes ~140 MB/s).
  if [ -d /dev/shm ] && [ "${SHM:-1}" = 1 ]; then
    SHMDIR=$(mktemp -d -p /dev/shm)
    measure "netra-apex jsonl (tmpfs)" "$n" "$BIN" --root "$SHMDIR" synth --profile "$PROFILE" --count "$n" \
      --seed 42 --format jsonl --output out.jsonl --threads "$THREADS"
    rm -rf "$SHMDIR"
  fi
  if [ "$n" -le 1000000 ] || [ "${PY_10M:-0}" = 1 ]; then
    for lib in mimesis faker; do
      # Faker makes ~2,000 records/s here: time it on 100k records unless PY_FULL=1.
      m=$n
      if [ "$lib" = faker ] && [ "${PY_FULL:-0}" != 1 ] && [ "$n" -gt 100000 ]; then m=100000; fi
      measure "python $lib jsonl" "$m" "$PY" tools/bench/synth_py.py "$lib" "$m" "$OUT/py.jsonl"
      rm -f "$OUT/py.jsonl"
    done
  fi
done
echo
awk '
  $1=="netra-apex" && $2=="jsonl" && $3==1000000 { rust=$3/$4 }
  $1=="netra-apex" && $2=="jsonl" && $3=="(tmpfs)" && $4==1000000 { shm=$4/$5 }
  $1=="python" && $2=="mimesis" && $4==1000000 { mim=$4/$5 }
  $1=="python" && $2=="faker" { fak=$4/$5 }
  END { if (rust && mim) printf "jsonl at 1M: %.0fx mimesis, %.0fx Faker (to disk); %.0fx mimesis to tmpfs\n", rust/mim, rust/fak, shm/mim }
' "$OUT/results"
