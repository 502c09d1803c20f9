"""The functions that run on the workers, as factories of closures.

Everything here is pickled by value (see ``spindle/__init__.py``), so a
worker needs only Python and cloudpickle, not this package. Each factory
returns ``f(partition_index, iterator) -> iterable``, the shape of every
function a Python RDD runs; the driver composes a narrow chain of them into
one function, so a partition goes through Python once.
"""

import bisect
import functools
import heapq
import itertools
import random
import sys


def portable_hash(x):
    """PySpark's hash of a key: stable across workers for numbers, strings
    (every worker runs with the same PYTHONHASHSEED) and tuples of them."""
    if x is None:
        return 0
    if isinstance(x, tuple):
        h = 0x345678
        for i in x:
            h ^= portable_hash(i)
            h *= 1000003
            h &= sys.maxsize
        h ^= len(x)
        if h == -1:
            h = -2
        return int(h)
    return hash(x)


def compose(first, then):
    return lambda s, it: then(s, first(s, it))


def identity():
    return lambda s, it: it


def map_fn(f):
    return lambda s, it: map(f, it)


def filter_fn(f):
    return lambda s, it: filter(f, it)


def flat_map_fn(f):
    return lambda s, it: itertools.chain.from_iterable(map(f, it))


def partitions_fn(f):
    return lambda s, it: f(it)


def map_values_fn(f):
    return lambda s, it: ((k, f(v)) for k, v in it)


def flat_map_values_fn(f):
    return lambda s, it: ((k, x) for k, v in it for x in f(v))


def count_fn():
    def run(s, it):
        # Drained in C-level chunks: a third faster than sum(1 for _ in it).
        it = iter(it)
        n = 0
        while True:
            chunk = list(itertools.islice(it, 65536))
            if not chunk:
                return [n]
            n += len(chunk)

    return run


def sum_fn():
    return lambda s, it: [sum(it)]


def reduce_fn(f):
    """A partition folded with ``f``: ``[]`` when it is empty, else ``[value]``."""

    def run(s, it):
        it = iter(it)
        for first in it:
            return [functools.reduce(f, it, first)]
        return []

    return run


def fold_fn(zero, f):
    def run(s, it):
        return [functools.reduce(f, it, zero)]

    return run


def take_fn(n):
    return lambda s, it: itertools.islice(it, n)


def foreach_fn(f):
    def run(s, it):
        for x in it:
            f(x)
        return []

    return run


def foreach_partition_fn(f):
    def run(s, it):
        f(it)
        return []

    return run


def glom_fn():
    return lambda s, it: [list(it)]


def key_by_fn(f):
    return lambda s, it: ((f(x), x) for x in it)


def hash_partition_fn(n, partition_func):
    """The map side of ``partitionBy``: ``(reduce partition, (k, v))`` pairs."""
    return lambda s, it: ((partition_func(kv[0]) % n, kv) for kv in it)


def round_robin_fn(n):
    """``repartition``'s map side: records dealt in turn from a per-partition start."""

    def run(s, it):
        start = portable_hash(s) % n
        return (((start + i) % n, x) for i, x in enumerate(it))

    return run


def combine_fn(create, merge_value):
    """Map-side combine: ``(k, combiner)`` per key of the partition."""

    def run(s, it):
        acc = {}
        for k, v in it:
            if k in acc:
                acc[k] = merge_value(acc[k], v)
            else:
                acc[k] = create(v)
        return acc.items()

    return run


def merge_combiners_fn(merge):
    """Reduce side: the combiners of each key merged."""
    return combine_fn(_same, merge)


def _same(c):
    return c


def group_fn():
    """``groupByKey``'s reduce side: ``(k, [values])`` (lists merged per key)."""

    def run(s, it):
        acc = {}
        for k, vs in it:
            got = acc.get(k)
            if got is None:
                acc[k] = vs
            else:
                got.extend(vs)
        return acc.items()

    return run


def singleton(v):
    return [v]


def append_to(vs, v):
    vs.append(v)
    return vs


def tag_fn(tag):
    """A join side's values tagged with the side."""
    return lambda s, it: ((k, (tag, v)) for k, v in it)


def join_fn():
    """The reduce side of an inner join of tagged values: ``(k, (v, w))``."""

    def run(s, it):
        acc = {}
        for k, (tag, v) in it:
            sides = acc.get(k)
            if sides is None:
                sides = acc[k] = ([], [])
            sides[tag].append(v)
        for k, (vs, ws) in acc.items():
            for v in vs:
                for w in ws:
                    yield (k, (v, w))

    return run


def distinct_fn():
    def run(s, it):
        seen = set()
        for x in it:
            if x not in seen:
                seen.add(x)
                yield x

    return run


def sample_keys_fn(size, seed):
    """``sortByKey``'s sketch: per partition, ``(count, reservoir of keys)``."""

    def run(s, it):
        rng = random.Random(seed + s)
        sample = []
        n = 0
        for kv in it:
            n += 1
            if len(sample) < size:
                sample.append(kv[0])
            else:
                j = rng.randrange(n)
                if j < size:
                    sample[j] = kv[0]
        return [(n, sample)]

    return run


def range_partition_fn(bounds, ascending, keyfunc):
    """``sortByKey``'s map side: key ranges split at ``bounds``."""
    last = len(bounds)

    def run(s, it):
        for kv in it:
            p = bisect.bisect_left(bounds, keyfunc(kv[0]))
            yield (p if ascending else last - p, kv)

    return run


def sort_fn(ascending, keyfunc):
    return lambda s, it: sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=not ascending)


def top_fn(n, key):
    return lambda s, it: [heapq.nlargest(n, it, key=key)]
