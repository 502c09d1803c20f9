"""Spindle's PySpark-shaped API: SparkSession, SparkContext and RDDs whose
functions (lambdas and closures too) run in Python workers on Spindle's
executors.

    from spindle import SparkSession
    spark = SparkSession.builder.appName("app").master("local[2]").getOrCreate()
    sc = spark.sparkContext
    print(sc.range(0, 1000).map(lambda x: x * x).count())
"""

import cloudpickle as _cloudpickle

from . import _funcs
from ._native import JobFailed
from .context import SparkConf, SparkContext
from .rdd import RDD
from .session import SparkSession

# The workers need only Python and cloudpickle: the package's own helpers
# travel by value.
_cloudpickle.register_pickle_by_value(_funcs)

try:
    from importlib.metadata import version as _version

    __version__ = _version("spindle")
except Exception:  # not installed as a distribution (e.g. from a source tree)
    __version__ = "0.1.0"

__all__ = ["JobFailed", "RDD", "SparkConf", "SparkContext", "SparkSession"]
