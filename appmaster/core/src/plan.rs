//! What travels from the driver to executors: a partition's lineage as data.
//!
//! User functions never travel as code. A function is a serde value of a type
//! registered by name at compile time in the same binary (see `rdd::func`), so
//! driver and executor resolve the same code; its fields are its captured
//! arguments.

use crate::ids::{ExecutorId, RddId, ShuffleId, StageId};
pub use common::fetched::Block;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
    /// The reduce side of one shuffle (two for `join`): partition `p` reads
    /// block `p` of every map output of each dependency.
    Shuffled {
        deps: Vec<ShuffleDep>,
        read: ShuffleRead,
        num_partitions: u32,
    },
}

/// How map output is split into reduce partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Partitioner {
    /// By the hash of the encoded key (Spark's HashPartitioner).
    Hash { partitions: u32 },
    /// `sort_by_key`: Spark's RangePartitioner. `bounds` is a postcard `Vec<K>`
    /// of `partitions - 1` upper bounds found by sampling.
    Range {
        partitions: u32,
        bounds: Vec<u8>,
        ascending: bool,
    },
    /// `repartition`: records dealt round-robin from a per-map start.
    RoundRobin { partitions: u32 },
}

impl Partitioner {
    pub fn partitions(&self) -> u32 {
        match self {
            Self::Hash { partitions }
            | Self::Range { partitions, .. }
            | Self::RoundRobin { partitions } => *partitions,
        }
    }
}

/// The map side of a shuffle: what a map task writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShuffleWrite {
    pub shuffle_id: ShuffleId,
    /// `type_name::<(K, V)>()` of the records written (registered pair type).
    pub pair_type: String,
    pub partitioner: Partitioner,
    /// `reduce_by_key`'s map-side combine: a registered ReduceFn over V.
    pub map_side_combine: Option<FuncRef>,
}

/// A shuffle dependency: the parent lineage (run by a shuffle map stage) and how it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShuffleDep {
    pub write: ShuffleWrite,
    pub parent: Box<Plan>,
}

/// How the reduce side turns fetched records into elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShuffleRead {
    /// The (K, V) records as fetched (`partition_by`), or V alone for `repartition`.
    Pairs,
    Values,
    /// `reduce_by_key`: values folded per key with a registered ReduceFn.
    ReduceByKey(FuncRef),
    /// `group_by_key`: (K, Vec<V>).
    GroupByKey,
    /// `sort_by_key`: the partition's records sorted by key.
    SortByKey {
        ascending: bool,
    },
    /// `join` of deps[0] (K, V) and deps[1] (K, W): (K, (V, W)); `result_type`
    /// is `type_name::<(K, (V, W))>()`.
    Join {
        result_type: String,
    },
}

/// Where one map task's output can be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapLocation {
    pub map_id: u32,
    /// The executor that wrote it.
    pub executor: ExecutorId,
    pub host: String,
    /// The address serving its blocks: the node's shuffle service, or the
    /// executor's own block server when the service is off.
    pub server: String,
    /// The directory holding `shuffle_<s>_<m>_0.{data,index}` (for local reads).
    pub dir: String,
    /// Bytes per reduce partition (zero-size blocks are not fetched).
    pub sizes: Vec<u64>,
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
            Source::Shuffled { num_partitions, .. } => *num_partitions,
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
    /// A shuffle map task: partition and write the (K, V) records; result is
    /// empty and `TaskOutput::map_sizes` says how much went to each reducer.
    ShuffleWrite(ShuffleWrite),
}

/// One stage's worth of work, as shipped to executors (shared by its tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    pub plan: Plan,
    pub action: Action,
    /// For stages that read shuffles: every map output's location, by shuffle.
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<ShuffleId, Vec<MapLocation>>,
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
    /// A shuffle map task's bytes per reduce partition.
    #[serde(default)]
    pub map_sizes: Option<Vec<u64>>,
    /// What the task's memory-bounded operations spilled (Spark's task metrics).
    #[serde(default)]
    pub spill: SpillMetrics,
}

/// Spark's spill metrics of a task: `memory_bytes_spilled` is the estimated
/// in-memory size of what was spilled, `disk_bytes_spilled` the bytes written to
/// spill files; `spills` counts the spill files. A missing figure reads as 0: event
/// logs carry these inline in `TaskMetrics`, and older ones have no `spills`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpillMetrics {
    pub spills: u64,
    pub memory_bytes_spilled: u64,
    pub disk_bytes_spilled: u64,
}

impl SpillMetrics {
    /// Adds `other`'s figures to these.
    pub fn add(&mut self, other: &Self) {
        self.spills += other.spills;
        self.memory_bytes_spilled += other.memory_bytes_spilled;
        self.disk_bytes_spilled += other.disk_bytes_spilled;
    }
}

/// A task that failed: the message is the user's error or panic text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    pub message: String,
    /// Set when the task failed because a map output could not be fetched:
    /// the driver then re-runs that map task instead of counting a failure.
    #[serde(default)]
    pub fetch_failed: Option<FetchFailed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchFailed {
    pub shuffle_id: ShuffleId,
    pub map_id: u32,
    pub executor: ExecutorId,
    pub server: String,
}

/// One block to fetch: reduce partition `reduce` of map output `map` of `shuffle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    pub executor: ExecutorId,
    pub shuffle_id: ShuffleId,
    pub map_id: u32,
    pub reduce_id: u32,
}

/// Which map output a task writes: map task `map_id` of `shuffle_id`, for
/// `partitions` reduce partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOutputId {
    pub shuffle_id: ShuffleId,
    pub map_id: u32,
    pub partitions: u32,
}

/// A map output's writer, or why there is none.
pub type NewMapOutput<'a> = Result<Box<dyn MapOutputWriter + 'a>, String>;

/// Receives one map task's output, reduce partition by reduce partition in
/// ascending order (a partition may be written in several pieces; empty ones may
/// be skipped), so a map task never needs its whole output in memory. Dropping
/// it without `commit` discards what was written.
pub trait MapOutputWriter: Send {
    /// Appends `bytes` to reduce partition `reduce_id`.
    fn write_partition(&mut self, reduce_id: u32, bytes: &[u8]) -> Result<(), String>;
    /// Makes the output visible; returns the bytes per reduce partition.
    fn commit(self: Box<Self>) -> Result<Vec<u64>, String>;
}

/// What [BlocksWriter] does with the blocks on commit.
type BlocksDone<'a> = Box<dyn FnOnce(Vec<Vec<u8>>) -> Result<(), String> + Send + 'a>;

/// A [MapOutputWriter] that collects the blocks in memory and hands them to
/// `done` on commit (in-process runners and tests).
pub struct BlocksWriter<'a> {
    blocks: Vec<Vec<u8>>,
    done: BlocksDone<'a>,
}

impl<'a> BlocksWriter<'a> {
    pub fn new(
        partitions: u32,
        done: impl FnOnce(Vec<Vec<u8>>) -> Result<(), String> + Send + 'a,
    ) -> Self {
        Self {
            blocks: vec![Vec::new(); partitions as usize],
            done: Box::new(done),
        }
    }
}

impl MapOutputWriter for BlocksWriter<'_> {
    fn write_partition(&mut self, reduce_id: u32, bytes: &[u8]) -> Result<(), String> {
        let n = self.blocks.len();
        let block = self
            .blocks
            .get_mut(reduce_id as usize)
            .ok_or_else(|| format!("reduce partition {reduce_id} of {n} does not exist"))?;
        block.extend_from_slice(bytes);
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<Vec<u64>, String> {
        let sizes = self.blocks.iter().map(|b| b.len() as u64).collect();
        (self.done)(self.blocks)?;
        Ok(sizes)
    }
}

/// Block `reduce_id` of every map output in `locations`, in that order.
#[derive(Debug, Clone, Copy)]
pub struct BlockFetch<'a> {
    pub shuffle_id: ShuffleId,
    pub reduce_id: u32,
    pub locations: &'a [MapLocation],
}

/// The map output a fetch could not get, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchFailure {
    pub map_id: u32,
    pub message: String,
}

impl FetchFailure {
    pub fn new(map_id: u32, message: impl Into<String>) -> Self {
        Self {
            map_id,
            message: message.into(),
        }
    }
}

/// What a task may do besides computing: write map output, fetch blocks.
/// The executor implements it with files and the shuffle service; the local
/// runner in memory.
pub trait TaskEnv: Send + Sync {
    /// Where a map task writes its output.
    fn map_output_writer(&self, id: MapOutputId) -> NewMapOutput<'_>;
    /// Fetches the blocks (the env batches them per server). A failure names the map
    /// output that could not be fetched: the task then fails with
    /// `TaskError::fetch_failed` set for it.
    fn fetch(&self, fetch: BlockFetch<'_>) -> Result<Vec<Block>, FetchFailure>;
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
    #[error("internal error: {0}")]
    Internal(String),
}

/// Runs jobs: the cluster scheduler in the AM, or a local in-process runner in tests.
pub trait JobRunner: Send + Sync {
    /// Runs the job; returns each requested partition's `TaskOutput::result`, in
    /// the order of `job.partitions`.
    fn run_job(&self, job: JobSpec) -> Result<Vec<Vec<u8>>, JobError>;
    /// Spark's defaultParallelism: total executor cores, at least 2.
    fn default_parallelism(&self) -> u32;
    /// The RDD is no longer cached: executors may drop its blocks.
    fn unpersist(&self, _rdd: RddId) {}
    /// The shuffle is no longer referenced: its files may go.
    fn release_shuffle(&self, _shuffle: ShuffleId) {}
}
