#!/usr/bin/env bash
# Benchmark: the overhead of run_tests over calling the test runner directly, on the
# fixture projects (cargo; pytest, go and vitest where installed) and on this project's own
# suite. Usage: tools/bench/tests.sh [RUNS] [--no-self]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-5}
(cd "$repo" && cargo build --release --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy: a shared target dir may get another build of the binary meanwhile.
cp "${CARGO_TARGET_DIR:-$repo/target}/release/netra-apex" "$work/netra-apex"
bin="$work/netra-apex"
# The measured runs build into a target dir of their own, so that no other cargo holding a
# shared target's lock stalls them (the warm-up call builds everything first).
export CARGO_TARGET_DIR="${APEX_BENCH_TARGET:-$work/target}"
fixtures="$repo/tests/fixtures/testrun"
projects=()
cp -r "$fixtures/cargo" "$work/cargo"
projects+=("cargo:$work/cargo")
if command -v pytest >/dev/null || [ -n "${APEX_PYTEST:-}" ]; then
  cp -r "$fixtures/pytest" "$work/pytest"
  projects+=("pytest:$work/pytest")
else
  echo "pytest: skipped (not installed)"
fi
if command -v go >/dev/null; then
  cp -r "$fixtures/go" "$work/go"
  projects+=("go:$work/go")
else
  echo "go: skipped (not installed)"
fi
if [ -x "$fixtures/vitest/node_modules/.bin/vitest" ]; then
  projects+=("vitest:$fixtures/vitest")
else
  echo "vitest: skipped (run npm ci --prefix tests/fixtures/testrun/vitest)"
fi
if [ "${2:-}" != "--no-self" ]; then
  projects+=("netra-apex:$repo:{\"framework\": \"cargo\", \"timeout_s\": 1800}")
fi
python3 "$here/tests.py" "$bin" "${projects[@]}" --runs "$runs"
