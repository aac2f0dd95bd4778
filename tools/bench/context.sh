#!/usr/bin/env bash
# Context benchmark: save and re-resolve a 200-item bundle (line ranges and symbols over this
# repository's src/), fresh and after every file shifted; redaction throughput.
# Usage: tools/bench/context.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
cargo run --release --quiet --example context_bench -- "$repo"
