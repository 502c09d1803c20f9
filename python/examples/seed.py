# The seed notebook's code cells as a script: only the import line and
# .master(...) differ from PySpark's.
from spindle import SparkSession

spark = (
    SparkSession.builder.appName("dynamic-allocation-demo")
    .master("spindle")
    .config("spark.dynamicAllocation.enabled", "true")
    .config("spark.dynamicAllocation.minExecutors", "0")
    .config("spark.dynamicAllocation.maxExecutors", "5")
    .config("spark.dynamicAllocation.initialExecutors", "1")
    .config("spark.dynamicAllocation.executorIdleTimeout", "60s")
    .config("spark.dynamicAllocation.schedulerBacklogTimeout", "1s")
    .config("spark.dynamicAllocation.shuffleTracking.enabled", "true")
    .getOrCreate()
)

print(spark.sparkContext.uiWebUrl)

rdd = spark.sparkContext.range(0, 10000000)
count = rdd.map(lambda x: x * x).count()
print(f"Job Finished. Count: {count}")
