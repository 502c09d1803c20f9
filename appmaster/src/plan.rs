//! What travels from the driver to executors: a partition's lineage as data.
//!
//! User functions never travel as code. A function is a serde value of a type
//! registered by name at compile time in the same binary (see `rdd::func`), so
//! driver and executor resolve the same code; its fields are its captured
//! arguments.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub type RddId = u32;
pub type JobId = u32;
pub type StageId = u32;

/// A registered function and its serialized value (its "captured" fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuncRef {
    /// The registered name (the type's path).
    pub name: String,
    /// postcard encoding of the function value.
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// `range(start, end, step)`, split into `num_partitions` contiguous slices (i64 elements).
    Range {
        start: i64,
        end: i64,
        step: i64,
        num_partitions: u32,
    },
    /// `parallelize(data)`: each partition is a postcard-encoded `Vec<T>`.
    Parallelize {
        /// `std::any::type_name::<T>()` of the elements.
        type_name: String,
        partitions: Vec<Vec<u8>>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Map(FuncRef),
    Filter(FuncRef),
    FlatMap(FuncRef),
    MapPartitions(FuncRef),
    /// Keep the partition computed up to here in the executor's block cache
    /// (`cache()`/`persist()`); later tasks read it instead of recomputing.
    Cache {
        rdd: RddId,
    },
}

/// A narrow lineage: a source and the operations applied to it, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub source: Source,
    pub ops: Vec<Op>,
}

impl Plan {
    pub fn num_partitions(&self) -> u32 {
        match &self.source {
            Source::Range { num_partitions, .. } => *num_partitions,
            Source::Parallelize { partitions, .. } => partitions.len() as u32,
        }
    }

    /// RDDs this plan caches (innermost first).
    pub fn cached_rdds(&self) -> Vec<RddId> {
        self.ops
            .iter()
            .filter_map(|o| match o {
                Op::Cache { rdd } => Some(*rdd),
                _ => None,
            })
            .collect()
    }
}

/// What a task computes from its partition and sends back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// u64 count.
    Count,
    /// postcard `Vec<T>` of the whole partition.
    Collect,
    /// postcard `Vec<T>` of at most `n` leading elements.
    Take { n: u64 },
    /// postcard `Option<T>`: the partition folded with a registered ReduceFn.
    Reduce(FuncRef),
    /// Runs a registered ForeachFn on every element; result is empty.
    Foreach(FuncRef),
}

/// One stage's worth of work, as shipped to executors (shared by its tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    pub plan: Plan,
    pub action: Action,
}

/// A task: a stage and the partition to compute.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub stage: Arc<StageSpec>,
    pub partition: u32,
}

/// What a task returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOutput {
    /// The action's encoded result for this partition.
    pub result: Vec<u8>,
    /// Elements produced by the plan before the action.
    pub records: u64,
    /// Cached blocks this task stored: (rdd, partition).
    pub cached: Vec<(RddId, u32)>,
}

/// A task that failed: the message is the user's error or panic text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    pub message: String,
}

/// A job as the user's code hands it to the scheduler.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub stage: StageSpec,
    /// Partitions to compute (all of them for most actions).
    pub partitions: Vec<u32>,
    /// Shown in the UI and event log, e.g. "count at SeedRangeSquareCount".
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    #[error("Job aborted due to stage failure: Task {partition} in stage {stage} failed {attempts} times, most recent failure: {message}")]
    TaskFailed {
        stage: StageId,
        partition: u32,
        attempts: u32,
        message: String,
    },
    #[error("job cancelled: {0}")]
    Cancelled(String),
}

/// Runs jobs: the cluster scheduler in the AM, or a local in-process runner in tests.
pub trait JobRunner: Send + Sync {
    /// Runs the job; returns each requested partition's `TaskOutput::result`, in
    /// the order of `job.partitions`.
    fn run_job(&self, job: JobSpec) -> Result<Vec<Vec<u8>>, JobError>;
    /// Spark's defaultParallelism: total executor cores, at least 2.
    fn default_parallelism(&self) -> u32;
}
