#!/usr/bin/env bash
# The test command: builds every binary (end-to-end tests start the real
# daemons), runs every test in the workspace, and closes with one summary line.
set -uo pipefail
cd "$(dirname "$0")"
cargo build --workspace --bins --examples -q || exit 1
# The Python package's native module (tests/tests/python.rs loads it).
cargo build -p spindle-python -q || exit 1
log=$(mktemp)
cargo test --workspace -q "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -o '[0-9]* passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -o '[0-9]* failed' "$log" | awk '{s+=$1} END {print s+0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
exit "$rc"
