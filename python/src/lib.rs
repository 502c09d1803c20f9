//! The native half of the `spindle` Python package: the driver's lineage
//! and jobs, in Rust, under the PySpark-shaped API of `spindle/*.py`.
//!
//! Python RDDs are lineages of the runtime's RDD engine (see
//! `appmaster::rdd::python`): a source (`range`, pickled batches,
//! text lines), Python functions as [PyPipe] ops, and Python shuffles as
//! `partition_by_index`. The Python layer composes the functions of a
//! narrow chain into one and pickles it (as PySpark's `PipelinedRDD`); this
//! module builds the plan, and the driver core (local or an AM's) runs it.

use am_core::plan::JobError;
use appmaster::driver::client::ClientLaunch;
use appmaster::driver::EmbeddedDriver;
use appmaster::rdd::{LocalRunner, PyPipe, Rdd, SparkContext};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

create_exception!(
    _native,
    JobFailed,
    PyRuntimeError,
    "A job failed: the message holds the failing task's error (a Python traceback for a Python exception)."
);

/// What the context runs jobs on.
enum Driver {
    /// `local[N]`: tasks on threads of this process, Python workers beside it.
    Local,
    /// Cluster mode (this process is the application's AM) or client mode
    /// (a launcher holds the application for this process).
    Embedded(EmbeddedDriver),
}

/// A Python lineage's records, by element type.
#[derive(Clone)]
enum Records {
    /// `sc.range`: numbers, before any Python function.
    I64(Rdd<i64>),
    /// `sc.textFile`: lines, before any Python function.
    Lines(Rdd<String>),
    /// Pickled Python lists of objects.
    Batches(Rdd<Vec<u8>>),
}

/// Runs `$body` with `$rdd` bound to the typed RDD of whichever kind.
macro_rules! with_rdd {
    ($records:expr, |$rdd:ident| $body:expr) => {
        match $records {
            Records::I64($rdd) => $body,
            Records::Lines($rdd) => $body,
            Records::Batches($rdd) => $body,
        }
    };
}

/// What every lineage of a context shares.
struct Shared {
    sc: SparkContext,
    /// The workers' Python (`spark.pyspark.python`).
    python: String,
}

fn job_error(e: JobError) -> PyErr {
    JobFailed::new_err(e.to_string())
}

/// The driver's handle on the application.
#[pyclass(module = "spindle._native", frozen)]
struct Context {
    shared: Arc<Shared>,
    driver: Mutex<Option<Driver>>,
}

/// Threads of a `local`, `local[N]` or `local[*]` master.
fn local_threads(master: &str) -> Option<usize> {
    if master == "local" {
        return Some(1);
    }
    let n = master.strip_prefix("local[")?.strip_suffix(']')?;
    if n == "*" {
        return Some(std::thread::available_parallelism().map_or(2, |n| n.get()));
    }
    n.parse().ok().filter(|n| *n > 0)
}

#[pymethods]
impl Context {
    /// Starts the application: in an AM container (cluster mode) as its
    /// driver whatever `master` says, else as `master` says.
    #[new]
    fn new(
        py: Python<'_>,
        master: &str,
        app_name: &str,
        conf: BTreeMap<String, String>,
        python: String,
    ) -> PyResult<Self> {
        let (sc, driver) = if EmbeddedDriver::in_am_container() {
            let conf = conf.clone();
            let d = py
                .allow_threads(move || EmbeddedDriver::start(conf))
                .map_err(|e| PyRuntimeError::new_err(format!("{e:#}")))?;
            (d.context().clone(), Driver::Embedded(d))
        } else if let Some(threads) = local_threads(master) {
            let runner = Arc::new(LocalRunner::new(threads));
            let app_id = format!("local-{}", common::clock::wall_ms());
            let sc = SparkContext::new(runner, conf, app_id, app_name.to_string());
            (sc, Driver::Local)
        } else if master == "spindle" || master.starts_with("spindle://") {
            // The launcher and the executors are this package's entry, run by
            // the workers' Python.
            let command = vec![
                python.clone(),
                "-c".to_string(),
                "import sys; from spindle import _native; sys.exit(_native.run_container())"
                    .to_string(),
            ];
            let launch = ClientLaunch {
                conf,
                launcher_command: command.clone(),
                executor_command: command,
            };
            let d = py
                .allow_threads(move || EmbeddedDriver::start_client(launch))
                .map_err(|e| PyRuntimeError::new_err(format!("{e:#}")))?;
            (d.context().clone(), Driver::Embedded(d))
        } else {
            return Err(PyValueError::new_err(format!(
                "Could not parse Master URL: '{master}' (expected local, local[N], local[*], \
                 spindle or spindle://HOST:PORT)"
            )));
        };
        Ok(Self {
            shared: Arc::new(Shared { sc, python }),
            driver: Mutex::new(Some(driver)),
        })
    }

    #[getter]
    fn app_id(&self) -> String {
        self.shared.sc.app_id().to_string()
    }

    #[getter]
    fn app_name(&self) -> String {
        self.shared.sc.app_name().to_string()
    }

    #[getter]
    fn ui_web_url(&self) -> Option<String> {
        self.shared.sc.ui_web_url()
    }

    #[getter]
    fn default_parallelism(&self) -> u32 {
        self.shared.sc.default_parallelism()
    }

    /// The application's properties as the driver has them.
    fn conf(&self) -> BTreeMap<String, String> {
        self.shared.sc.conf().clone()
    }

    /// Names the code of the next jobs ("count at app.py:12").
    #[pyo3(signature = (site=None))]
    fn set_call_site(&self, site: Option<&str>) {
        self.shared.sc.set_call_site(site);
    }

    #[pyo3(signature = (description=None))]
    fn set_job_description(&self, description: Option<&str>) {
        self.shared.sc.set_job_description(description);
    }

    #[pyo3(signature = (start, end, step, num_slices=None))]
    fn range(&self, start: i64, end: i64, step: i64, num_slices: Option<u32>) -> PyResult<Lineage> {
        if step == 0 {
            return Err(PyValueError::new_err("step cannot be 0"));
        }
        let n = self.partitions(num_slices)?;
        Ok(self.lineage(Records::I64(self.shared.sc.range_with(
            start,
            end,
            step,
            Some(n),
        ))))
    }

    /// A lineage of the given partitions, each a list of pickled batches.
    fn parallelize(&self, partitions: Vec<Vec<Vec<u8>>>) -> PyResult<Lineage> {
        if partitions.is_empty() {
            return Err(PyValueError::new_err(
                "Positive number of partitions required",
            ));
        }
        Ok(self.lineage(Records::Batches(
            self.shared.sc.parallelize_partitions(partitions),
        )))
    }

    #[pyo3(signature = (path, min_partitions=None))]
    fn text_file(&self, path: &str, min_partitions: Option<u32>) -> PyResult<Lineage> {
        let n = self.partitions(min_partitions)?;
        Ok(self.lineage(Records::Lines(self.shared.sc.text_file(path, Some(n)))))
    }

    /// Ends the application (`error`: why it failed). Returns the AM's exit
    /// code in cluster mode, 0 otherwise. Stopping twice does nothing.
    #[pyo3(signature = (error=None))]
    fn stop(&self, py: Python<'_>, error: Option<String>) -> i32 {
        let driver = self.driver.lock().unwrap_or_else(|e| e.into_inner()).take();
        match driver {
            Some(Driver::Embedded(d)) => {
                py.allow_threads(move || d.stop(error.map_or(Ok(()), Err)))
            }
            Some(Driver::Local) | None => {
                appmaster::rdd::python::stop_workers();
                0
            }
        }
    }
}

impl Context {
    fn lineage(&self, records: Records) -> Lineage {
        Lineage {
            shared: self.shared.clone(),
            records,
        }
    }

    fn partitions(&self, n: Option<u32>) -> PyResult<u32> {
        match n {
            Some(0) => Err(PyValueError::new_err(
                "Positive number of partitions required",
            )),
            Some(n) => Ok(n),
            None => Ok(self.shared.sc.default_parallelism()),
        }
    }
}

/// A lineage: what a Python RDD computes, short of its pending Python functions.
#[pyclass(module = "spindle._native", frozen)]
struct Lineage {
    shared: Arc<Shared>,
    records: Records,
}

impl Lineage {
    fn with(&self, records: Records) -> Self {
        Self {
            shared: self.shared.clone(),
            records,
        }
    }

    /// The map side of a Python shuffle: `func` gives (partition, record) pairs.
    fn pairs(&self, func: Vec<u8>, batch: u32) -> Rdd<(u64, Vec<u8>)> {
        let python = self.shared.python.clone();
        with_rdd!(&self.records, |r| r.map_partitions(PyPipe::<
            _,
            (u64, Vec<u8>),
        >::new(
            func, python, batch
        )))
    }
}

#[pymethods]
impl Lineage {
    #[getter]
    fn num_partitions(&self) -> u32 {
        with_rdd!(&self.records, |r| r.num_partitions())
    }

    /// `i64`, `lines` or `batches`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.records {
            Records::I64(_) => "i64",
            Records::Lines(_) => "lines",
            Records::Batches(_) => "batches",
        }
    }

    /// Whether this lineage ends in a cache.
    #[getter]
    fn cached(&self) -> bool {
        with_rdd!(&self.records, |r| r.cache_id().is_some())
    }

    /// `func(partition, iterator)` over every partition, in one Python pass.
    fn pipe(&self, func: Vec<u8>, batch: u32) -> Self {
        let python = self.shared.python.clone();
        let out = with_rdd!(&self.records, |r| r
            .map_partitions(PyPipe::<_, Vec<u8>>::new(func, python.clone(), batch)));
        self.with(Records::Batches(out))
    }

    /// A Python shuffle into `n` partitions: `func` turns this lineage's
    /// partitions into (partition, record) pairs; `others` are more
    /// lineages and their functions written into the same reduce side (a
    /// union across the shuffle). The result holds the records.
    #[pyo3(signature = (func, batch, n, others=Vec::new()))]
    fn shuffle(
        &self,
        func: Vec<u8>,
        batch: u32,
        n: u32,
        others: Vec<(PyRef<'_, Self>, Vec<u8>)>,
    ) -> PyResult<Self> {
        if n == 0 {
            return Err(PyValueError::new_err(
                "Positive number of partitions required",
            ));
        }
        let first = self.pairs(func, batch);
        let rest: Vec<Rdd<(u64, Vec<u8>)>> =
            others.into_iter().map(|(l, f)| l.pairs(f, batch)).collect();
        let refs: Vec<&Rdd<(u64, Vec<u8>)>> = rest.iter().collect();
        Ok(self.with(Records::Batches(first.union_by_index(&refs, n))))
    }

    fn cache(&self) -> Self {
        self.with(match &self.records {
            Records::I64(r) => Records::I64(r.cache()),
            Records::Lines(r) => Records::Lines(r.cache()),
            Records::Batches(r) => Records::Batches(r.cache()),
        })
    }

    fn unpersist(&self) {
        with_rdd!(&self.records, |r| {
            r.unpersist();
        })
    }

    /// Every record (pickled batches), in partition order.
    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let Records::Batches(r) = self.records.clone() else {
            return Err(PyValueError::new_err("collect needs a lineage of batches"));
        };
        let out = py.allow_threads(move || r.collect()).map_err(job_error)?;
        Ok(out.iter().map(|b| PyBytes::new(py, b)).collect())
    }

    /// The first `n` records, scanning partitions as Spark's `take`.
    fn take<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let Records::Batches(r) = self.records.clone() else {
            return Err(PyValueError::new_err("take needs a lineage of batches"));
        };
        let out = py.allow_threads(move || r.take(n)).map_err(job_error)?;
        Ok(out.iter().map(|b| PyBytes::new(py, b)).collect())
    }
}

/// Runs this process as the Spindle container `SPINDLE_ROLE` names (a
/// client-mode application's launcher or executor); returns its exit code.
#[pyfunction]
fn run_container(py: Python<'_>) -> i32 {
    py.allow_threads(appmaster::driver::run_container)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_container, m)?)?;
    m.add_class::<Context>()?;
    m.add_class::<Lineage>()?;
    m.add("JobFailed", m.py().get_type::<JobFailed>())?;
    Ok(())
}
