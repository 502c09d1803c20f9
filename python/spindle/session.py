"""SparkSession and its builder (the RDD half of PySpark's entry point)."""

import threading

from .context import SparkConf, SparkContext


class _RuntimeConf:
    def __init__(self, sc):
        self._sc = sc

    def get(self, key, default=None):
        return self._sc.getConf().get(key, default)

    def set(self, key, value):
        raise ValueError(
            "Cannot modify the value of a Spark config after the session started: %s" % key
        )

    def getAll(self):
        return dict(self._sc.getConf().getAll())


class _Builder:
    _lock = threading.RLock()

    def __init__(self):
        self._options = {}

    def appName(self, name):
        return self.config("spark.app.name", name)

    def master(self, master):
        return self.config("spark.master", master)

    def config(self, key=None, value=None, conf=None, map=None):
        if conf is not None:
            for k, v in conf.getAll():
                self._options[k] = v
        if map is not None:
            for k, v in map.items():
                self._options[k] = str(v)
        if key is not None:
            self._options[key] = (
                ("true" if value else "false") if isinstance(value, bool) else str(value)
            )
        return self

    def enableHiveSupport(self):
        return self

    def getOrCreate(self):
        with self._lock:
            session = SparkSession._active
            if session is not None and not session._sc._stopped:
                return session
            conf = SparkConf()
            for k, v in self._options.items():
                conf.set(k, v)
            sc = SparkContext.getOrCreate(conf)
            return SparkSession(sc)


class _BuilderProperty:
    def __get__(self, instance, owner):
        return _Builder()


class SparkSession:
    """PySpark's SparkSession, for the RDD API: ``spark.sparkContext``."""

    builder = _BuilderProperty()
    Builder = _Builder
    _active = None

    def __init__(self, sparkContext):
        self._sc = sparkContext
        SparkSession._active = self

    @property
    def sparkContext(self):
        return self._sc

    @property
    def conf(self):
        return _RuntimeConf(self._sc)

    @property
    def version(self):
        return self._sc.version

    @classmethod
    def getActiveSession(cls):
        return cls._active

    def newSession(self):
        return self

    def stop(self):
        self._sc.stop()
        if SparkSession._active is self:
            SparkSession._active = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        from .context import _format_error

        self._sc.stop(_format_error(exc_type, exc, tb))
        if SparkSession._active is self:
            SparkSession._active = None
