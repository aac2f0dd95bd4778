#!/usr/bin/env bash
# Run every cargo-fuzz target under fuzz/ for a bounded time; fail on a crash.
#
#   tools/fuzz/run.sh                 # each target FUZZ_SECONDS (default 60) seconds
#   FUZZ_SECONDS=300 tools/fuzz/run.sh jsonrpc_framing
#   FUZZ_SANITIZER=address tools/fuzz/run.sh   # default: none (much faster to build)
#   FUZZ_DEV=1 tools/fuzz/run.sh      # unoptimized build: minutes instead of most of an hour
#
# cargo-fuzz needs nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1 allows them.
# New inputs found go to a scratch copy of the corpus, so the committed seed corpus under
# fuzz/corpus/<target>/ stays small; a crash leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
profile=()
[ -n "${FUZZ_DEV:-}" ] && profile=(--dev)
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

# One build for all targets.
cargo fuzz build --fuzz-dir fuzz "${profile[@]}" -s "$sanitizer"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
    echo "=== fuzz $t for ${seconds}s"
    if ! cargo fuzz run --fuzz-dir fuzz "${profile[@]}" -s "$sanitizer" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" 2>&1 | tail -n 25; then
        echo "!!! $t: crash or failure; inputs in fuzz/artifacts/$t/"
        status=1
    fi
done
exit $status
