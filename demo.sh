#!/usr/bin/env bash
# The main job: builds Spindle, then `spindle demo` starts a local cluster (an RM and two
# NMs as processes), runs the seed job and a bursty workload under static and dynamic
# allocation (and two tenants at once), prints the comparison, writes the HTML report and
# stops the cluster (also on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --workspace --bins -q
exec target/release/spindle demo "$@"
