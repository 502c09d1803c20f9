"""SparkContext and SparkConf."""

import atexit
import os
import sys
import threading
import traceback

from . import _native
from .rdd import BATCH, RDD

import pickle


class SparkConf:
    """Spark properties (strings), as PySpark's SparkConf."""

    def __init__(self, loadDefaults=True, _props=None):
        self._props = dict(_props or {})

    def set(self, key, value):
        self._props[str(key)] = _conf_value(value)
        return self

    def setIfMissing(self, key, value):
        self._props.setdefault(str(key), _conf_value(value))
        return self

    def setAll(self, pairs):
        for k, v in pairs:
            self.set(k, v)
        return self

    def setMaster(self, value):
        return self.set("spark.master", value)

    def setAppName(self, value):
        return self.set("spark.app.name", value)

    def get(self, key, defaultValue=None):
        return self._props.get(key, defaultValue)

    def contains(self, key):
        return key in self._props

    def getAll(self):
        return list(self._props.items())

    def __repr__(self):
        return "SparkConf(%r)" % self._props


def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _worker_python(props):
    """The workers' Python: spark.pyspark.python, $PYSPARK_PYTHON, else this
    interpreter (local master, client mode: the driver's host has it), or
    python3 in an AM container (cluster mode)."""
    in_am = os.environ.get("SPINDLE_ROLE") == "driver"
    return (
        props.get("spark.pyspark.python")
        or os.environ.get("PYSPARK_PYTHON")
        or ("python3" if in_am else sys.executable)
    )


class SparkContext:
    """The driver's handle on the application (PySpark's SparkContext)."""

    _active = None
    _lock = threading.RLock()

    def __init__(self, master=None, appName=None, conf=None, **_ignored):
        with SparkContext._lock:
            if SparkContext._active is not None:
                raise ValueError(
                    "Cannot run multiple SparkContexts at once; existing SparkContext(app=%s, master=%s)"
                    % (SparkContext._active.appName, SparkContext._active.master)
                )
            props = dict((conf or SparkConf())._props)
            if master:
                props["spark.master"] = master
            if appName:
                props["spark.app.name"] = appName
            # spindle-submit's master, when the script runs in an AM container.
            self.master = props.get("spark.master") or os.environ.get("SPINDLE_MASTER") or "local[*]"
            self.appName = props.get("spark.app.name", "pyspark-shell")
            props["spark.master"] = self.master
            props["spark.app.name"] = self.appName
            self.pythonExec = _worker_python(props)
            self._native = _native.Context(self.master, self.appName, props, self.pythonExec)
            self._conf = SparkConf(_props=self._native.conf() or props)
            self._stopped = False
            SparkContext._active = self
            _install_exit_hooks()

    @classmethod
    def getOrCreate(cls, conf=None):
        with cls._lock:
            if cls._active is None:
                cls(conf=conf)
            return cls._active

    # ---- properties -----------------------------------------------------------

    @property
    def applicationId(self):
        return self._native.app_id

    @property
    def uiWebUrl(self):
        return self._native.ui_web_url

    @property
    def defaultParallelism(self):
        return self._native.default_parallelism

    @property
    def defaultMinPartitions(self):
        return min(self.defaultParallelism, 2)

    @property
    def version(self):
        from . import __version__

        return __version__

    @property
    def startTime(self):
        return None

    def getConf(self):
        return SparkConf(_props=self._conf._props)

    def setJobDescription(self, value):
        self._native.set_job_description(value)

    def setLogLevel(self, logLevel):
        pass

    # ---- sources ----------------------------------------------------------------

    def range(self, start, end=None, step=1, numSlices=None):
        if end is None:
            start, end = 0, start
        return RDD(self, self._native.range(int(start), int(end), int(step), numSlices))

    def parallelize(self, c, numSlices=None):
        n = numSlices or self.defaultParallelism
        if isinstance(c, range):
            return RDD(self, self._native.range(c.start, c.stop, c.step, n))
        data = list(c)
        length = len(data)
        partitions = []
        for i in range(n):
            part = data[i * length // n : (i + 1) * length // n]
            partitions.append(
                [
                    pickle.dumps(part[j : j + BATCH], pickle.HIGHEST_PROTOCOL)
                    for j in range(0, len(part), BATCH)
                ]
            )
        return RDD(self, self._native.parallelize(partitions))

    def textFile(self, name, minPartitions=None, use_unicode=True):
        return RDD(self, self._native.text_file(os.path.abspath(name), minPartitions))

    def emptyRDD(self):
        return self.parallelize([], 1)

    # ---- lifecycle --------------------------------------------------------------

    def _set_call_site(self, action=None):
        self._native.set_call_site(_call_site(action))

    def stop(self, _error=None):
        with SparkContext._lock:
            if self._stopped:
                return 0
            self._stopped = True
            if SparkContext._active is self:
                SparkContext._active = None
            return self._native.stop(_error)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop(_format_error(exc_type, exc, tb))


def _call_site(action):
    """``action at file.py:line`` of the user's code that called it."""
    here = os.path.dirname(os.path.abspath(__file__))
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(here):
            site = "%s:%d" % (os.path.basename(frame.filename), frame.lineno)
            return "%s at %s" % (action, site) if action else site
    return action


def _format_error(exc_type, exc, tb):
    if exc_type is None:
        return None
    return "".join(traceback.format_exception(exc_type, exc, tb))


# The uncaught exception that ends the program, if one does: the application
# then ends FAILED with its traceback.
_uncaught = []
_hooks_installed = []


def _install_exit_hooks():
    if _hooks_installed:
        return
    _hooks_installed.append(True)
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        _uncaught.append(_format_error(exc_type, exc, tb))
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    atexit.register(_stop_at_exit)


def _stop_at_exit():
    sc = SparkContext._active
    if sc is not None:
        sc.stop(_uncaught[-1] if _uncaught else None)
