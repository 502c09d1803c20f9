"""RDD: PySpark's RDD API over Spindle's lineage.

An RDD is a lineage of the native layer (a source, pickled Python
functions, shuffles) plus the Python functions still pending on it: a
chain of narrow operations is composed into one function (as PySpark's
PipelinedRDD) and becomes one op when an action, a shuffle or a cache
needs it.
"""

import pickle

import cloudpickle

from . import _funcs

# Objects per pickled batch (PySpark's BatchedSerializer default).
BATCH = 1024


def _loads_all(batches):
    out = []
    for b in batches:
        out.extend(pickle.loads(b))
    return out


class RDD:
    def __init__(self, ctx, lineage, func=None):
        self.ctx = ctx
        self._lineage = lineage
        self._func = func
        self.is_cached = False

    def __repr__(self):
        return "RDD[%d partitions]" % self.getNumPartitions()

    @property
    def context(self):
        return self.ctx

    def getNumPartitions(self):
        return self._lineage.num_partitions

    # ---- narrow transformations ----------------------------------------------

    def mapPartitionsWithIndex(self, f, preservesPartitioning=False):
        if self._func is None:
            return RDD(self.ctx, self._lineage, f)
        return RDD(self.ctx, self._lineage, _funcs.compose(self._func, f))

    def mapPartitions(self, f, preservesPartitioning=False):
        return self.mapPartitionsWithIndex(_funcs.partitions_fn(f))

    def map(self, f, preservesPartitioning=False):
        return self.mapPartitionsWithIndex(_funcs.map_fn(f))

    def filter(self, f):
        return self.mapPartitionsWithIndex(_funcs.filter_fn(f))

    def flatMap(self, f, preservesPartitioning=False):
        return self.mapPartitionsWithIndex(_funcs.flat_map_fn(f))

    def mapValues(self, f):
        return self.mapPartitionsWithIndex(_funcs.map_values_fn(f))

    def flatMapValues(self, f):
        return self.mapPartitionsWithIndex(_funcs.flat_map_values_fn(f))

    def keys(self):
        return self.map(lambda kv: kv[0])

    def values(self):
        return self.map(lambda kv: kv[1])

    def keyBy(self, f):
        return self.mapPartitionsWithIndex(_funcs.key_by_fn(f))

    def glom(self):
        return self.mapPartitionsWithIndex(_funcs.glom_fn())

    # ---- the lineage ----------------------------------------------------------

    def _batches(self):
        """The native lineage of pickled batches this RDD computes."""
        if self._func is None and self._lineage.kind == "batches":
            return self._lineage
        func = self._func if self._func is not None else _funcs.identity()
        return self._lineage.pipe(cloudpickle.dumps(func), BATCH)

    def _shuffle_side(self, func):
        """This RDD's lineage and the pickled map-side function of a shuffle."""
        if self._func is not None:
            func = _funcs.compose(self._func, func)
        return self._lineage, cloudpickle.dumps(func)

    def cache(self):
        self._lineage = self._batches().cache()
        self._func = None
        self.is_cached = True
        return self

    def persist(self, storageLevel=None):
        return self.cache()

    def unpersist(self, blocking=False):
        if self.is_cached:
            self._lineage.unpersist()
            self.is_cached = False
        return self

    # ---- wide transformations -------------------------------------------------

    def _default_partitions(self, *others):
        conf = self.ctx._native.conf()
        if "spark.default.parallelism" in conf:
            return int(conf["spark.default.parallelism"])
        return max(r.getNumPartitions() for r in (self,) + others)

    def _exchange(self, map_side, n, others=()):
        """A shuffle into ``n`` partitions: ``map_side`` gives ``(partition,
        record)`` pairs; ``others`` are ``(rdd, map_side)`` written alongside."""
        lineage, func = self._shuffle_side(map_side)
        rest = [r._shuffle_side(f) for r, f in others]
        self.ctx._set_call_site()
        return RDD(self.ctx, lineage.shuffle(func, BATCH, n, rest))

    def partitionBy(self, numPartitions=None, partitionFunc=_funcs.portable_hash):
        n = numPartitions or self._default_partitions()
        return self._exchange(_funcs.hash_partition_fn(n, partitionFunc), n)

    def combineByKey(
        self,
        createCombiner,
        mergeValue,
        mergeCombiners,
        numPartitions=None,
        partitionFunc=_funcs.portable_hash,
    ):
        n = numPartitions or self._default_partitions()
        local = _funcs.compose(
            _funcs.combine_fn(createCombiner, mergeValue),
            _funcs.hash_partition_fn(n, partitionFunc),
        )
        shuffled = self._exchange(local, n)
        return shuffled.mapPartitionsWithIndex(_funcs.merge_combiners_fn(mergeCombiners))

    def reduceByKey(self, func, numPartitions=None, partitionFunc=_funcs.portable_hash):
        return self.combineByKey(lambda v: v, func, func, numPartitions, partitionFunc)

    def foldByKey(self, zeroValue, func, numPartitions=None, partitionFunc=_funcs.portable_hash):
        return self.combineByKey(
            lambda v: func(zeroValue, v), func, func, numPartitions, partitionFunc
        )

    def groupByKey(self, numPartitions=None, partitionFunc=_funcs.portable_hash):
        n = numPartitions or self._default_partitions()
        local = _funcs.compose(
            _funcs.combine_fn(_funcs.singleton, _funcs.append_to),
            _funcs.hash_partition_fn(n, partitionFunc),
        )
        return self._exchange(local, n).mapPartitionsWithIndex(_funcs.group_fn())

    def countByKey(self):
        return dict(self.mapValues(lambda v: 1).reduceByKey(lambda a, b: a + b).collect())

    def distinct(self, numPartitions=None):
        n = numPartitions or self._default_partitions()
        local = _funcs.compose(
            _funcs.distinct_fn(),
            _funcs.compose(_funcs.key_by_fn(lambda x: x), _funcs.hash_partition_fn(n, _funcs.portable_hash)),
        )
        return self._exchange(local, n).values().mapPartitionsWithIndex(_funcs.distinct_fn())

    def repartition(self, numPartitions):
        if numPartitions <= 0:
            raise ValueError("Number of partitions must be positive.")
        return self._exchange(_funcs.round_robin_fn(numPartitions), numPartitions)

    def coalesce(self, numPartitions, shuffle=False):
        return self.repartition(numPartitions)

    def sortByKey(self, ascending=True, numPartitions=None, keyfunc=lambda x: x):
        n = numPartitions or self._default_partitions()
        if n > 1:
            # Spark's RangePartitioner sketch: up to 20 keys per output
            # partition overall, 3x oversampled, weighed by partition size.
            parts = max(self.getNumPartitions(), 1)
            per_partition = int(-(-3 * min(20.0 * n, 1e6) // parts))
            sketch = self.mapPartitionsWithIndex(
                _funcs.sample_keys_fn(per_partition, 0x5EED)
            )._collect("sortByKey")
            weighted = []
            for count, sample in sketch:
                if sample:
                    w = count / len(sample)
                    weighted.extend((keyfunc(k), w) for k in sample)
            bounds = _determine_bounds(weighted, n)
        else:
            bounds = []
        n = len(bounds) + 1
        shuffled = self._exchange(_funcs.range_partition_fn(bounds, ascending, keyfunc), n)
        return shuffled.mapPartitionsWithIndex(_funcs.sort_fn(ascending, keyfunc))

    def sortBy(self, keyfunc, ascending=True, numPartitions=None):
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def join(self, other, numPartitions=None):
        n = numPartitions or self._default_partitions(other)
        hashing = _funcs.hash_partition_fn(n, _funcs.portable_hash)
        left = _funcs.compose(_funcs.tag_fn(0), hashing)
        right = _funcs.compose(_funcs.tag_fn(1), hashing)
        shuffled = self._exchange(left, n, [(other, right)])
        return shuffled.mapPartitionsWithIndex(_funcs.join_fn())

    # ---- actions ----------------------------------------------------------------

    def _collect(self, action):
        self.ctx._set_call_site(action)
        return _loads_all(self._batches().collect())

    def collect(self):
        return self._collect("collect")

    def count(self):
        return sum(self.mapPartitionsWithIndex(_funcs.count_fn())._collect("count"))

    def sum(self):
        return sum(self.mapPartitionsWithIndex(_funcs.sum_fn())._collect("sum"))

    def reduce(self, f):
        parts = self.mapPartitionsWithIndex(_funcs.reduce_fn(f))._collect("reduce")
        if not parts:
            raise ValueError("Can not reduce() empty RDD")
        acc = parts[0]
        for x in parts[1:]:
            acc = f(acc, x)
        return acc

    def fold(self, zeroValue, op):
        parts = self.mapPartitionsWithIndex(_funcs.fold_fn(zeroValue, op))._collect("fold")
        acc = zeroValue
        for x in parts:
            acc = op(acc, x)
        return acc

    def max(self, key=None):
        return self.reduce(lambda a, b: max(a, b, key=key) if key else max(a, b))

    def min(self, key=None):
        return self.reduce(lambda a, b: min(a, b, key=key) if key else min(a, b))

    def mean(self):
        n, s = self.map(lambda x: (1, x)).fold((0, 0), lambda a, b: (a[0] + b[0], a[1] + b[1]))
        return s / n if n else float("nan")

    def take(self, num):
        if num <= 0:
            return []
        # One record per batch, so the native take's count is the objects'.
        self.ctx._set_call_site("take")
        func = _funcs.take_fn(num)
        if self._func is not None:
            func = _funcs.compose(self._func, func)
        lineage = self._lineage.pipe(cloudpickle.dumps(func), 1)
        return _loads_all(lineage.take(num))[:num]

    def first(self):
        got = self.take(1)
        if not got:
            raise ValueError("RDD is empty")
        return got[0]

    def top(self, num, key=None):
        parts = self.mapPartitionsWithIndex(_funcs.top_fn(num, key))._collect("top")
        import heapq

        return heapq.nlargest(num, (x for p in parts for x in p), key=key)

    def foreach(self, f):
        self.mapPartitionsWithIndex(_funcs.foreach_fn(f))._collect("foreach")

    def foreachPartition(self, f):
        self.mapPartitionsWithIndex(_funcs.foreach_partition_fn(f))._collect("foreachPartition")

    def collectAsMap(self):
        return dict(self.collect())

    def isEmpty(self):
        return len(self.take(1)) == 0


def _determine_bounds(weighted, partitions):
    """Spark's RangePartitioner.determineBounds: ``partitions - 1`` keys that
    split the weighted sample evenly (fewer if keys repeat)."""
    ordered = sorted(weighted, key=lambda kw: kw[0])
    total = sum(w for _, w in ordered)
    step = total / partitions
    bounds = []
    cum = 0.0
    target = step
    previous = None
    for key, weight in ordered:
        cum += weight
        if cum >= target:
            if previous is None or key > previous:
                bounds.append(key)
                target += step
                previous = key
                if len(bounds) == partitions - 1:
                    break
    return bounds
