"""The Python API on a local master: every operation against plain Python.

Run: python3 -m unittest discover -s python/tests -v (with the package installed).
"""

import collections
import os
import tempfile
import unittest

from spindle import JobFailed, SparkContext, SparkSession


class LocalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spark = (
            SparkSession.builder.appName("py-local-tests").master("local[2]").getOrCreate()
        )
        cls.sc = cls.spark.sparkContext

    @classmethod
    def tearDownClass(cls):
        cls.spark.stop()

    def test_seed_job(self):
        rdd = self.sc.range(0, 100000)
        self.assertEqual(rdd.map(lambda x: x * x).count(), 100000)
        self.assertEqual(rdd.map(lambda x: x * x).sum(), sum(x * x for x in range(100000)))

    def test_range_forms(self):
        self.assertEqual(self.sc.range(5).collect(), [0, 1, 2, 3, 4])
        self.assertEqual(self.sc.range(10, 0, -3, 2).collect(), [10, 7, 4, 1])
        self.assertEqual(self.sc.parallelize(range(3, 9, 2), 3).collect(), [3, 5, 7])

    def test_narrow_chain_with_closures(self):
        offset = 7
        data = list(range(1000))
        got = (
            self.sc.parallelize(data, 4)
            .map(lambda x: x + offset)
            .filter(lambda x: x % 3 == 0)
            .flatMap(lambda x: [x, -x])
            .mapPartitions(lambda it: (x * 2 for x in it))
            .collect()
        )
        want = [y * 2 for x in data if (x + offset) % 3 == 0 for y in (x + offset, -(x + offset))]
        self.assertEqual(got, want)

    def test_actions(self):
        rdd = self.sc.parallelize(["b", "a", "c", "d"], 3)
        self.assertEqual(rdd.count(), 4)
        self.assertEqual(rdd.first(), "b")
        self.assertEqual(rdd.take(3), ["b", "a", "c"])
        self.assertEqual(rdd.reduce(lambda a, b: a + b), "bacd")
        self.assertEqual(self.sc.parallelize(range(10), 4).sum(), 45)
        self.assertEqual(rdd.getNumPartitions(), 3)
        with self.assertRaises(ValueError):
            self.sc.parallelize([], 2).reduce(lambda a, b: a)
        with self.assertRaises(ValueError):
            self.sc.parallelize([], 2).first()

    def test_more_operations(self):
        rdd = self.sc.parallelize([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], 3)
        self.assertEqual(sorted(rdd.distinct().collect()), [1, 2, 3, 4, 5, 6, 9])
        self.assertEqual(rdd.top(3), [9, 6, 5])
        self.assertEqual(rdd.max(), 9)
        self.assertEqual(rdd.min(), 1)
        self.assertAlmostEqual(rdd.mean(), sum([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]) / 11)
        self.assertEqual(rdd.fold(0, lambda a, b: a + b), 44)
        self.assertEqual(rdd.map(lambda x: (x % 2, x)).countByKey(), {0: 3, 1: 8})
        self.assertEqual(
            sorted(rdd.map(lambda x: (x % 3, x)).foldByKey(0, lambda a, b: a + b).collect()),
            [(0, 3 + 9 + 6 + 3), (1, 1 + 4 + 1), (2, 5 + 2 + 5 + 5)],
        )
        self.assertEqual(rdd.glom().map(len).collect(), [3, 4, 4])
        self.assertEqual(rdd.sortBy(lambda x: -x).take(2), [9, 6])
        self.assertEqual(
            self.sc.parallelize([("a", [1, 2]), ("b", [])], 2).flatMapValues(lambda v: v).collect(),
            [("a", 1), ("a", 2)],
        )
        self.assertTrue(self.sc.parallelize([], 2).isEmpty())

    def test_foreach_runs_on_every_element(self):
        with tempfile.TemporaryDirectory() as d:

            def touch(x):
                open(os.path.join(d, str(x)), "w").close()

            self.sc.parallelize(range(20), 3).foreach(touch)
            self.assertEqual(sorted(int(f) for f in os.listdir(d)), list(range(20)))

    def test_word_count(self):
        lines = ["the quick brown fox", "jumps over the lazy dog", "the end"] * 50
        got = dict(
            self.sc.parallelize(lines, 3)
            .flatMap(lambda line: line.split())
            .map(lambda w: (w, 1))
            .reduceByKey(lambda a, b: a + b)
            .collect()
        )
        self.assertEqual(got, dict(collections.Counter(w for l in lines for w in l.split())))

    def test_group_sort_join_repartition(self):
        pairs = [(i % 7, i) for i in range(200)]
        rdd = self.sc.parallelize(pairs, 4)
        grouped = {k: sorted(v) for k, v in rdd.groupByKey(3).collect()}
        want = collections.defaultdict(list)
        for k, v in pairs:
            want[k].append(v)
        self.assertEqual(grouped, {k: sorted(v) for k, v in want.items()})

        keys = [(x * 7919 % 1000, x) for x in range(1000)]
        asc = self.sc.parallelize(keys, 5).sortByKey(True, 4).collect()
        self.assertEqual([k for k, _ in asc], sorted(k for k, _ in keys))
        desc = self.sc.parallelize(keys, 5).sortByKey(False).keys().collect()
        self.assertEqual(desc, sorted((k for k, _ in keys), reverse=True))

        left = self.sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2)
        right = self.sc.parallelize([("a", "x"), ("c", "y"), ("a", "z")], 2)
        self.assertEqual(
            sorted(left.join(right).collect()),
            sorted([("a", (1, "x")), ("a", (1, "z")), ("a", (3, "x")), ("a", (3, "z"))]),
        )

        rep = self.sc.parallelize(range(100), 2).repartition(5)
        self.assertEqual(rep.getNumPartitions(), 5)
        self.assertEqual(sorted(rep.collect()), list(range(100)))

    def test_cache_and_unpersist(self):
        rdd = self.sc.parallelize(range(100), 4).map(lambda x: x + 1).cache()
        self.assertEqual(rdd.sum(), 5050)
        self.assertEqual(rdd.filter(lambda x: x % 2 == 0).count(), 50)
        rdd.unpersist()
        self.assertEqual(rdd.count(), 100)

    def test_text_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("a b\nc\n\nd e f\n")
        try:
            words = self.sc.textFile(f.name, 2).flatMap(lambda l: l.split()).collect()
            self.assertEqual(words, ["a", "b", "c", "d", "e", "f"])
        finally:
            os.unlink(f.name)

    def test_python_exception_fails_the_job_with_its_traceback(self):
        def boom(x):
            if x == 13:
                raise KeyError("thirteen")
            return x

        with self.assertRaises(JobFailed) as cm:
            self.sc.parallelize(range(20), 2).map(boom).count()
        msg = str(cm.exception)
        self.assertIn("Traceback (most recent call last)", msg)
        self.assertIn("KeyError: 'thirteen'", msg)
        self.assertIn("in boom", msg)
        # The context still works after a failed job.
        self.assertEqual(self.sc.parallelize(range(5), 2).count(), 5)

    def test_workers_are_reused_across_tasks(self):
        pids = set()
        for _ in range(5):
            pids.update(self.sc.range(0, 8, 1, 4).mapPartitions(lambda it: [os.getpid()]).collect())
        # A worker per concurrent task slot (2 threads), not one per task (20 tasks).
        self.assertLessEqual(len(pids), 2)
        self.assertNotIn(os.getpid(), pids)

    def test_session_api(self):
        self.assertIs(SparkSession.builder.getOrCreate(), self.spark)
        self.assertTrue(self.sc.applicationId.startswith("local-"))
        self.assertEqual(self.sc.appName, "py-local-tests")
        self.assertEqual(self.spark.conf.get("spark.master"), "local[2]")
        with self.assertRaises(ValueError):
            SparkContext(master="local[1]")


if __name__ == "__main__":
    unittest.main()
