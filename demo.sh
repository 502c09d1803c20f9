#!/usr/bin/env bash
# The main job: builds Spindle, starts a local cluster, runs work on it, stops it.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --workspace --bins -q
B=$PWD/target/release
D=$(mktemp -d "${TMPDIR:-/tmp}/spindle-demo.XXXX")
trap '"$B/spindle" cluster down --dir "$D" >/dev/null 2>&1 || true' EXIT INT TERM
"$B/spindle" cluster up --nodes 2 --dir "$D"
export SPINDLE_CONF_DIR="$D/conf"
"$B/spindle" node list
"$B/spindle" run-shell --num-containers 4 -- sh -c 'echo hello from $CONTAINER_ID on $NM_HOST:$NM_PORT'
"$B/spindle" app list
echo "container logs: $(find "$D" -path '*logs/application_*' -name stdout | wc -l) stdout files under $D"
