"""The seed job, Spindle against PySpark, in one run on one machine.

    python3 python/bench/seed_bench.py --pyspark-python VENV/bin/python [--runs 3]

Spindle: client mode (`$SPINDLE_CONF_DIR`), 2 executors of 1 core, static
allocation. PySpark: `local[2]`, run by the given interpreter (a virtual
environment with pyspark, so its package cannot shadow Spindle's). Each run
is a fresh process; "submit-to-result" is from spawning the process to the
result line, "job" the `count()` call alone.
"""

import argparse
import statistics
import subprocess
import sys
import time

APP = r"""
import sys, time
which = sys.argv[1]
if which == "pyspark":
    from pyspark.sql import SparkSession
    b = SparkSession.builder.master("local[2]")
else:
    from spindle import SparkSession
    b = (SparkSession.builder.master("spindle")
         .config("spark.executor.instances", "2")
         .config("spark.executor.cores", "1")
         .config("spark.dynamicAllocation.enabled", "false"))
spark = b.appName("seed-bench").getOrCreate()
rdd = spark.sparkContext.range(0, 10000000)
t = time.time()
count = rdd.map(lambda x: x * x).count()
job = time.time() - t
print(f"RESULT {count} {job:.3f}", flush=True)
spark.stop()
"""


def run(python, which):
    start = time.time()
    p = subprocess.Popen(
        [python, "-c", APP, which], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    result = None
    for line in p.stdout:
        if line.startswith("RESULT"):
            _, count, job = line.split()
            result = (int(count), float(job), time.time() - start)
    p.wait()
    if result is None or p.returncode != 0 or result[0] != 10000000:
        raise SystemExit(f"{which} failed (exit {p.returncode})")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyspark-python", required=True)
    ap.add_argument("--spindle-python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows = {}
    for which, python in (("spindle", args.spindle_python), ("pyspark", args.pyspark_python)):
        rows[which] = [run(python, which) for _ in range(args.runs)]
    print(f"{'':<10}{'job s (median)':>16}{'submit-to-result s (median)':>30}   runs")
    for which, rs in rows.items():
        jobs = [r[1] for r in rs]
        totals = [r[2] for r in rs]
        print(
            f"{which:<10}{statistics.median(jobs):>16.2f}{statistics.median(totals):>30.2f}   "
            + " ".join(f"{j:.2f}/{t:.2f}" for j, t in zip(jobs, totals))
        )


if __name__ == "__main__":
    main()
