#!/usr/bin/env bash
# Makes the what-if fixtures: real Spark 4 event logs of one workload (bursty.py) run
# twice on Spark's standalone master and worker on loopback (local mode ignores dynamic
# allocation): once with static allocation, once with dynamic allocation.
#
#   make-fixtures.sh [OUT_DIR]        (default: this script's directory)
#
# Needs a JDK 17+ (`apt-get install -y openjdk-17-jre-headless`) and PySpark 4.x from
# PyPI; set PYTHON to a python whose `import pyspark` works (default: python3), e.g.
#   python3 -m venv /tmp/spark-venv && /tmp/spark-venv/bin/pip install 'pyspark>=4,<5'
#   PYTHON=/tmp/spark-venv/bin/python make-fixtures.sh
# Event logs are written uncompressed and unrolled, as the what-if reader expects, without
# the task metrics repeated as accumulables (Spark 4's includeTaskMetricsAccumulators=false)
# to keep them small.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-2} TASKS=${TASKS:-16} TASK_MS=${TASK_MS:-3000} GAP_MS=${GAP_MS:-20000}
SPARK_HOME=$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME PYSPARK_PYTHON=$PYTHON PYSPARK_DRIVER_PYTHON=$PYTHON
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=localhost
work=$(mktemp -d "${TMPDIR:-/tmp}/spark-fixtures.XXXX")
export SPARK_LOG_DIR=$work/logs SPARK_WORKER_DIR=$work/worker
mkdir -p "$work/events" "$SPARK_LOG_DIR" "$SPARK_WORKER_DIR"
MASTER_PORT=${MASTER_PORT:-17077}
master=spark://127.0.0.1:$MASTER_PORT
pids=()
# The daemons go on exit; so does the work directory (Spark's logs), unless KEEP=1.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] && echo "Spark's logs: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host 127.0.0.1 --port "$MASTER_PORT" --webui-port $((MASTER_PORT + 1000)) \
  >"$work/logs/master.out" 2>&1 &
pids+=($!)
# Worker capacity is configured, as YARN's is: 4 one-core executors fit.
"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
  --host 127.0.0.1 --cores 4 --memory 6g --webui-port $((MASTER_PORT + 1001)) "$master" \
  >"$work/logs/worker.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
  grep -q "Successfully registered with master" "$work/logs/worker.out" 2>/dev/null && break
  sleep 1
done

common=(--master "$master" --deploy-mode client
  --conf spark.eventLog.enabled=true --conf "spark.eventLog.dir=file://$work/events"
  --conf spark.eventLog.compress=false --conf spark.eventLog.rolling.enabled=false
  --conf spark.eventLog.includeTaskMetricsAccumulators=false
  --conf spark.executor.cores=1 --conf spark.executor.memory=1g
  --conf spark.ui.port=14040 --conf spark.ui.showConsoleProgress=false)

run() { # NAME CONF...
  local name=$1; shift
  local before; before=$(ls "$work/events")
  "$SPARK_HOME/bin/spark-submit" "${common[@]}" "$@" "$here/bursty.py" \
    "$JOBS" "$TASKS" "$TASK_MS" "$GAP_MS" >"$work/logs/$name.out" 2>&1
  local log; log=$(comm -13 <(echo "$before") <(ls "$work/events") | head -1)
  cp "$work/events/$log" "$out/$name"
  echo "$name: $log -> $out/$name ($(wc -c <"$out/$name") bytes)"
}

# The standalone master gives an application without dynamic allocation every core it can
# (`spark.cores.max`); with one-core executors that is the executor count.
run bursty-static --conf spark.executor.instances=2 --conf spark.cores.max=2 \
  --conf spark.dynamicAllocation.enabled=false
run bursty-dynamic --conf spark.dynamicAllocation.enabled=true \
  --conf spark.dynamicAllocation.shuffleTracking.enabled=true \
  --conf spark.dynamicAllocation.minExecutors=0 \
  --conf spark.dynamicAllocation.maxExecutors=2 \
  --conf spark.dynamicAllocation.executorIdleTimeout=5s \
  --conf spark.dynamicAllocation.schedulerBacklogTimeout=1s
