# WordCount with lambdas; checks itself against a plain-Python count.
# spindle-submit --master spindle examples/wordcount.py FILE
import collections
import sys

from spindle import SparkSession

path = sys.argv[1]
with SparkSession.builder.appName("py-wordcount").getOrCreate() as spark:
    counts = (
        spark.sparkContext.textFile(path)
        .flatMap(lambda line: line.split())
        .map(lambda w: (w, 1))
        .reduceByKey(lambda a, b: a + b)
        .collect()
    )
    with open(path) as f:
        want = collections.Counter(w for line in f for w in line.split())
    assert dict(counts) == dict(want), "counts differ from plain Python"
    print(f"WordCount matches: {len(counts)} distinct words, {sum(want.values())} words")
