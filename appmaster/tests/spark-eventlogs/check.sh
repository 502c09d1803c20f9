#!/usr/bin/env bash
# The what-if check on one pair of logs of the same workload (make-fixtures.sh): predict
# the dynamic run from the static run's log, with the dynamic run's settings and the
# cluster's executor start and stop latencies measured from the dynamic log (the first-task
# warm-up comes from the static log itself), and compare with what the dynamic log measured.
#
#   check.sh [STATIC_LOG DYNAMIC_LOG]     (default: the committed fixtures)
#
# SPINDLE names the spindle binary (default: target/release/spindle, else target/debug).
# Prints the two commands it runs, then one table row per metric.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
static=${1:-$here/bursty-static}
dynamic=${2:-$here/bursty-dynamic}
root=$(cd "$here/../../.." && pwd)
SPINDLE=${SPINDLE:-$root/target/release/spindle}
[ -x "$SPINDLE" ] || SPINDLE=$root/target/debug/spindle
report=$(mktemp -d "${TMPDIR:-/tmp}/whatif-check.XXXX")

echo "\$ spindle what-if --eventlog $dynamic --policies spark" >&2
dyn=$("$SPINDLE" what-if --eventlog "$dynamic" --policies spark --report "$report/d.html")
sta=$("$SPINDLE" what-if --eventlog "$static" --policies static --report "$report/s.html")
flag() { sed -n "s/.*$2 \([0-9]*\).*/\1/p" <<<"$1" | head -1; }
start=$(flag "$dyn" --executor-start-ms)
stop=$(flag "$dyn" --executor-stop-ms)
warmup=$(flag "$sta" --executor-warmup-ms)
# The dynamic run's own spark.dynamicAllocation.* settings, from its log.
mapfile -t confs < <(python3 - "$dynamic" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("Event") == "SparkListenerEnvironmentUpdate":
        for k, v in sorted(e["Spark Properties"].items()):
            if k.startswith("spark.dynamicAllocation.") and k != "spark.dynamicAllocation.enabled":
                print(f"{k}={v}")
PY
)
args=()
for c in "${confs[@]}"; do args+=(--conf "$c"); done
echo "\$ spindle what-if --eventlog $static ${args[*]} --executor-start-ms $start --executor-stop-ms $stop --executor-warmup-ms $warmup" >&2
pred=$("$SPINDLE" what-if --eventlog "$static" "${args[@]}" --executor-start-ms "$start" \
  --executor-stop-ms "$stop" --executor-warmup-ms "$warmup" --report "$report/p.html")
measured=$(grep '^measured in the log' <<<"$dyn")
m_exec=$(sed -n 's/.*executor-seconds \([0-9.]*\),.*/\1/p' <<<"$measured")
m_job=$(sed -n 's/.*job time \([0-9.]*\) s.*/\1/p' <<<"$measured")
line=$(grep '^spark: ' <<<"$pred")
p_exec=$(sed -n 's/.*executor-seconds \([0-9.]*\),.*/\1/p' <<<"$line")
p_job=$(sed -n 's/.*job time \([0-9.]*\) s.*/\1/p' <<<"$line")
awk -v pe="$p_exec" -v me="$m_exec" -v pj="$p_job" -v mj="$m_job" \
  -v s="$start" -v st="$stop" -v w="$warmup" 'BEGIN {
  printf "start %s ms, stop %s ms, warm-up %s ms\n", s, st, w
  printf "| executor-seconds | %.1f | %.1f | %+.1f%% |\n", pe, me, 100 * (pe - me) / me
  printf "| job time (s) | %.1f | %.1f | %+.1f%% |\n", pj, mj, 100 * (pj - mj) / mj
}'
