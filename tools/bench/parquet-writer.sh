#!/usr/bin/env bash
# The Parquet writer's settings, measured (apex_datasets::schema::writer_properties): 1M
# ingested ecommerce records (seed 7) written again under each setting, single-threaded,
# median of 3, with the file's size. Usage: tools/bench/parquet-writer.sh [BINARY] [COUNT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/target/release/netra-apex}
n=${2:-1000000}
[ -x "$bin" ] || { echo "no binary at $bin; build with cargo build --release" >&2; exit 1; }
ws=$(mktemp -d)
trap 'rm -rf "$ws"' EXIT
"$bin" --root "$ws" synth --profile ecommerce --count "$n" --seed 7 --format jsonl --output w.jsonl >/dev/null
"$bin" --root "$ws" ingest "$ws/w.jsonl" --dataset w >/dev/null 2>&1
rm "$ws/w.jsonl"
echo "machine: $(nproc) cores; $(date -u +%FT%TZ)"
cd "$repo" && cargo run -q --release -p apex-datasets --example writer_settings -- "$ws/.netra-apex/datasets/dataset=w"
