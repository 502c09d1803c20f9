"""The fixtures' workload: bursts of sleep tasks with a gap (Spindle's `Bursty`).

    bursty.py JOBS TASKS TASK_MS GAP_MS

Each burst runs TASKS tasks of TASK_MS ms each, one row per task, sleeping in the JVM
(Spark SQL's `reflect` calling `Thread.sleep`: no Python worker on the executors, whose
start-up would dominate short tasks). The last burst adds a shuffle: its map tasks sleep,
then 4 reduce tasks sleep TASK_MS per group they hold (4 groups hashed to 4
partitions: some hold two, some none), so the log has a stage that depends on another
(and, with adaptive query execution, a job the driver submits when the previous one ends).
The driver sleeps GAP_MS between one burst's end and the next one's start.
"""

import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def sleep_expr(ms, column):
    # `least(column, 0)` is 0 here, but the optimizer cannot fold it into a constant.
    return f"reflect('java.lang.Thread', 'sleep', cast({ms} + least({column}, 0) as bigint))"


def main():
    jobs, tasks, task_ms, gap_ms = (int(a) for a in sys.argv[1:5])
    spark = (
        SparkSession.builder.appName("bursty")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "false")
        .getOrCreate()
    )
    for j in range(jobs):
        if j > 0:
            time.sleep(gap_ms / 1000.0)
        rows = spark.range(0, tasks, 1, tasks)
        if j < jobs - 1:
            rows.selectExpr(sleep_expr(task_ms, "id") + " as r").write.format("noop").mode(
                "overwrite"
            ).save()
        else:
            groups = rows.selectExpr("id % 4 as k", sleep_expr(task_ms, "id") + " as r")
            # Aggregating `r` keeps the map side's sleep (an unused column would be pruned).
            groups = groups.groupBy("k").agg(F.sum(F.length("r")).alias("n"))
            groups.selectExpr("k", sleep_expr(task_ms, "n") + " as r").collect()
        print(f"burst {j} done", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
