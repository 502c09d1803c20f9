//! The driver's entry point: `SparkContext`.

use am_core::ids::{RddId, ShuffleId};
use am_core::plan::{JobError, JobRunner, JobSpec, Op, Plan, Source};
use am_core::sparkconf::SparkConf;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The driver's handle on the application: creates RDDs and runs their jobs
/// through a [JobRunner] (the cluster scheduler, or [super::LocalRunner]).
/// Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct SparkContext {
    inner: Arc<Inner>,
}

struct Inner {
    runner: Arc<dyn JobRunner>,
    conf: BTreeMap<String, String>,
    /// The same properties, read through the one Spark-conf layer.
    spark_conf: SparkConf,
    app_id: String,
    app_name: String,
    next_rdd: AtomicU32,
    next_shuffle: AtomicU32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    call_site: Option<String>,
    job_description: Option<String>,
    unpersisted: HashSet<RddId>,
    ui_web_url: Option<String>,
}

impl fmt::Debug for SparkContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SparkContext")
            .field("app_id", &self.inner.app_id)
            .field("app_name", &self.inner.app_name)
            .finish_non_exhaustive()
    }
}

impl SparkContext {
    pub fn new(
        runner: Arc<dyn JobRunner>,
        conf: BTreeMap<String, String>,
        app_id: String,
        app_name: String,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                runner,
                spark_conf: SparkConf::from(conf.clone()),
                conf,
                app_id,
                app_name,
                next_rdd: AtomicU32::new(0),
                next_shuffle: AtomicU32::new(0),
                state: Mutex::default(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    pub fn app_name(&self) -> &str {
        &self.inner.app_name
    }

    /// The application's Spark configuration.
    pub fn conf(&self) -> &BTreeMap<String, String> {
        &self.inner.conf
    }

    /// The properties as a [`SparkConf`] (typed getters with Spark's defaults).
    pub fn spark_conf(&self) -> &SparkConf {
        &self.inner.spark_conf
    }

    pub fn conf_get(&self, key: &str) -> Option<&str> {
        self.inner.conf.get(key).map(String::as_str)
    }

    /// Spark's `uiWebUrl`: where the application's UI is, if it has one.
    pub fn ui_web_url(&self) -> Option<String> {
        self.state().ui_web_url.clone()
    }

    /// Sets what [SparkContext::ui_web_url] says (the driver shell, once its UI listens).
    pub fn set_ui_web_url(&self, url: Option<&str>) {
        self.state().ui_web_url = url.map(str::to_string);
    }

    /// The runner jobs go to.
    pub fn runner(&self) -> &Arc<dyn JobRunner> {
        &self.inner.runner
    }

    /// Spark's `defaultParallelism`: `spark.default.parallelism` if set, else
    /// the runner's (total executor cores, at least 2).
    pub fn default_parallelism(&self) -> u32 {
        self.inner
            .spark_conf
            .default_parallelism()
            .unwrap_or_else(|| self.inner.runner.default_parallelism().max(1))
    }

    /// Names the code that runs the next jobs: their description becomes
    /// "`action` at `call_site`" instead of "`action` at file.rs:line".
    pub fn set_call_site(&self, call_site: Option<&str>) {
        self.state().call_site = call_site.map(str::to_string);
    }

    /// Spark's `setJobDescription`: the description of the next jobs, whatever
    /// their action (`None` to go back to "`action` at ...").
    pub fn set_job_description(&self, description: Option<&str>) {
        self.state().job_description = description.map(str::to_string);
    }

    pub(crate) fn describe(&self, action: &str, caller: &Location<'_>) -> String {
        let state = self.state();
        if let Some(d) = &state.job_description {
            return d.clone();
        }
        match &state.call_site {
            Some(site) => format!("{action} at {site}"),
            None => {
                let file = caller
                    .file()
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or(caller.file());
                format!("{action} at {file}:{}", caller.line())
            }
        }
    }

    pub(crate) fn new_rdd_id(&self) -> RddId {
        RddId(self.inner.next_rdd.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn new_shuffle_id(&self) -> ShuffleId {
        ShuffleId(self.inner.next_shuffle.fetch_add(1, Ordering::Relaxed))
    }

    /// The number of partitions of a shuffle's output when the user gives
    /// none (Spark's `defaultPartitioner`): `spark.default.parallelism` if
    /// set, else the largest number of partitions among the parents.
    ///
    /// # Panics
    /// If `n` is `Some(0)`.
    pub(crate) fn shuffle_partitions(&self, n: Option<u32>, parents: &[u32]) -> u32 {
        match n {
            Some(0) => panic!("Positive number of partitions required"),
            Some(n) => n,
            None => self
                .inner
                .spark_conf
                .default_parallelism()
                .or_else(|| parents.iter().copied().max())
                .unwrap_or_else(|| self.default_parallelism())
                .max(1),
        }
    }

    pub(crate) fn set_persisted(&self, rdd: RddId, persisted: bool) {
        let mut state = self.state();
        if persisted {
            state.unpersisted.remove(&rdd);
        } else {
            state.unpersisted.insert(rdd);
        }
    }

    /// A lineage without the `Cache` ops of unpersisted RDDs (including
    /// those in the parents of its shuffles).
    pub(crate) fn live_plan(&self, source: &Source, ops: &[Op]) -> Plan {
        let state = self.state();
        let mut plan = Plan {
            source: source.clone(),
            ops: ops.to_vec(),
        };
        if !state.unpersisted.is_empty() {
            drop_unpersisted(&mut plan, &state.unpersisted);
        }
        plan
    }

    /// Runs a job as it is (the typed actions on `Rdd` build these).
    pub fn run_job(&self, job: JobSpec) -> Result<Vec<Vec<u8>>, JobError> {
        self.inner.runner.run_job(job)
    }
}

fn drop_unpersisted(plan: &mut Plan, unpersisted: &HashSet<RddId>) {
    plan.ops
        .retain(|op| !matches!(op, Op::Cache { rdd } if unpersisted.contains(rdd)));
    if let Source::Shuffled { deps, .. } = &mut plan.source {
        for dep in deps {
            drop_unpersisted(&mut dep.parent, unpersisted);
        }
    }
}
