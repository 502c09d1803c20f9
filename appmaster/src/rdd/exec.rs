//! Executor-side task execution: a partition's lineage run as a streaming,
//! type-erased iterator pipeline, and the executor's block cache.
//!
//! `run_task` builds the source stream (a `Range` slice, or a `Parallelize`
//! partition decoded one element at a time), then wraps it once per `Op` with
//! the registered code for that op (looked up by kind and name), and finally
//! drains it with the action. Nothing is materialized except at an
//! `Op::Cache` whose block is not cached yet (caching is materializing).
//!
//! Shuffles go through the task's [TaskEnv]: a `Source::Shuffled` fetches
//! this reduce partition's block of every map output of its dependencies, a
//! `spark.reducer.maxSizeInFlight` batch at a time, and reads them as its
//! `ShuffleRead` says; `Action::ShuffleWrite` partitions the stream into the
//! env's map output writer, one block per reduce partition (see
//! [super::shuffle] for the block format and the partitioners). Both sides
//! work within the task's execution memory and spill when over it (see
//! [super::memory] and [super::external]).

use super::erased::{erase, AnyBlock, AnyCombiner, AnyIter};
use super::memory::{MemoryManager, TaskMemory};
use super::registry::{self, Code, ElemOf, ElemType, Kind};
use super::shuffle::Fetched;
use am_core::ids::RddId;
use am_core::plan::{
    Action, Block as ShuffleBlock, BlockFetch, FetchFailed, FetchFailure, FuncRef, MapLocation,
    MapOutputId, MapOutputWriter, NewMapOutput, Op, ShuffleDep, ShuffleRead, ShuffleWrite, Source,
    TaskEnv, TaskError, TaskOutput, TaskSpec,
};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// A cached partition.
#[derive(Clone)]
struct Block {
    elem: &'static ElemType,
    data: AnyBlock,
    len: u64,
    /// Estimated bytes in memory.
    bytes: u64,
}

/// An executor's memory of cached partitions, keyed by (RDD, partition).
///
/// Blocks are kept until [BlockCache::remove_rdd] (there is no memory limit
/// or eviction); what they take (estimated) is storage memory, which execution
/// memory does without (see [super::memory]).
#[derive(Default)]
pub struct BlockCache {
    blocks: Mutex<HashMap<(RddId, u32), Block>>,
    /// The blocks' estimated bytes.
    bytes: Arc<AtomicU64>,
}

impl BlockCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<(RddId, u32), Block>> {
        self.blocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, rdd: RddId, partition: u32) -> Option<Block> {
        self.lock().get(&(rdd, partition)).cloned()
    }

    fn put(&self, rdd: RddId, partition: u32, block: Block) {
        self.bytes.fetch_add(block.bytes, Ordering::Relaxed);
        if let Some(old) = self.lock().insert((rdd, partition), block) {
            self.bytes.fetch_sub(old.bytes, Ordering::Relaxed);
        }
    }

    /// The cached blocks' estimated bytes, as a counter kept current (for the
    /// memory manager).
    pub fn storage_bytes(&self) -> Arc<AtomicU64> {
        self.bytes.clone()
    }

    /// Whether partition `partition` of `rdd` is cached here.
    pub fn contains(&self, rdd: RddId, partition: u32) -> bool {
        self.lock().contains_key(&(rdd, partition))
    }

    /// The cached blocks, sorted.
    pub fn blocks(&self) -> Vec<(RddId, u32)> {
        let mut v: Vec<_> = self.lock().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Number of elements in a cached block.
    pub fn block_len(&self, rdd: RddId, partition: u32) -> Option<u64> {
        self.lock().get(&(rdd, partition)).map(|b| b.len)
    }

    /// Drops every cached partition of `rdd` (`unpersist`); returns how many.
    pub fn remove_rdd(&self, rdd: RddId) -> usize {
        let mut blocks = self.lock();
        let before = blocks.len();
        blocks.retain(|(r, _), b| {
            let keep = *r != rdd;
            if !keep {
                self.bytes.fetch_sub(b.bytes, Ordering::Relaxed);
            }
            keep
        });
        before - blocks.len()
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.lock().clear();
        self.bytes.store(0, Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockCache")
            .field("blocks", &self.blocks())
            .finish()
    }
}

/// A stream of elements of a known (erased) type.
struct Stream {
    elem: &'static ElemType,
    iter: AnyIter,
}

/// A [TaskEnv] for executors that cannot shuffle: map output writes and
/// fetches fail (tasks of stages without shuffles never call them).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoShuffleEnv;

impl TaskEnv for NoShuffleEnv {
    fn map_output_writer(&self, id: MapOutputId) -> NewMapOutput<'_> {
        Err(format!(
            "this executor cannot write shuffle output (shuffle {})",
            id.shuffle_id
        ))
    }

    fn fetch(&self, fetch: BlockFetch<'_>) -> Result<Vec<ShuffleBlock>, FetchFailure> {
        match fetch.locations.first() {
            None => Ok(Vec::new()),
            Some(l) => Err(FetchFailure::new(
                l.map_id,
                "this executor cannot fetch shuffle blocks",
            )),
        }
    }
}

/// Why a task failed: a message, and the map output it could not fetch if
/// that is the reason.
struct Failure(TaskError);

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self(TaskError {
            message,
            fetch_failed: None,
        })
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

/// Runs one task: computes the partition's lineage and applies the action,
/// reading and writing shuffle data through `env`. User panics, unknown
/// functions and types, and fetch failures (with `fetch_failed` set) become
/// a `TaskError`; this never panics. Its memory is not limited (see
/// [run_task_with]).
pub fn run_task(
    task: &TaskSpec,
    cache: &BlockCache,
    env: &dyn TaskEnv,
) -> Result<TaskOutput, TaskError> {
    static UNBOUNDED: OnceLock<Arc<MemoryManager>> = OnceLock::new();
    let memory = UNBOUNDED.get_or_init(|| Arc::new(MemoryManager::unbounded(None)));
    run_task_with(task, cache, env, memory.local_task())
}

/// [run_task] within the execution memory `mem` (the task's share of its
/// executor's): shuffle writes and reduce-side operations spill to its directory
/// when over it; what they spilled is in the output's `spill`. The spill files go
/// when the task ends (with `mem`'s last reference).
pub fn run_task_with(
    task: &TaskSpec,
    cache: &BlockCache,
    env: &dyn TaskEnv,
    mem: Arc<TaskMemory>,
) -> Result<TaskOutput, TaskError> {
    let r = catch_unwind(AssertUnwindSafe(|| execute(task, cache, env, &mem)));
    match r {
        Ok(r) => r
            .map(|out| TaskOutput {
                spill: mem.metrics(),
                ..out
            })
            .map_err(|f| f.0),
        Err(payload) => Err(TaskError {
            fetch_failed: None,
            message: panic_message(payload.as_ref()),
        }),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a user function panicked (with a non-string payload)".to_string()
    }
}

fn execute(
    task: &TaskSpec,
    cache: &BlockCache,
    env: &dyn TaskEnv,
    mem: &Arc<TaskMemory>,
) -> Result<TaskOutput, Failure> {
    let plan = &task.stage.plan;
    let part = task.partition;
    let n = plan.num_partitions();
    if part >= n {
        return Err(format!("partition {part} does not exist (the RDD has {n} partitions)").into());
    }
    // Every function must be known before any work (or caching) happens.
    for (kind, f) in plan
        .ops
        .iter()
        .filter_map(op_fn)
        .chain(action_fn(&task.stage.action))
    {
        registry::lookup_fn(kind, &f.name)?;
    }
    let mut cached = Vec::new();

    // Start from the last cached point that holds this partition, if any.
    let resume = plan
        .ops
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, op)| match op {
            Op::Cache { rdd } => cache.get(*rdd, part).map(|b| (i, b)),
            _ => None,
        });
    let (mut stream, rest) = match resume {
        Some((i, block)) => (
            Stream {
                elem: block.elem,
                iter: (block.elem.read_block)(block.data)?,
            },
            &plan.ops[i + 1..],
        ),
        None => (source(task, env, mem)?, &plan.ops[..]),
    };

    for op in rest {
        stream = match op {
            Op::Map(f) => transform(Kind::Map, &f.name, &f.value, part, stream)?,
            Op::Filter(f) => transform(Kind::Filter, &f.name, &f.value, part, stream)?,
            Op::FlatMap(f) => transform(Kind::FlatMap, &f.name, &f.value, part, stream)?,
            Op::MapPartitions(f) => {
                transform(Kind::MapPartitions, &f.name, &f.value, part, stream)?
            }
            Op::Cache { rdd } => {
                let elem = stream.elem;
                let (data, len, bytes) = (elem.materialize)(stream.iter)?;
                cache.put(
                    *rdd,
                    part,
                    Block {
                        elem,
                        data: data.clone(),
                        len,
                        bytes,
                    },
                );
                cached.push((*rdd, part));
                Stream {
                    elem,
                    iter: (elem.read_block)(data)?,
                }
            }
        };
    }

    let (result, records) = match &task.stage.action {
        Action::Count => {
            let n = (stream.elem.count)(stream.iter)?;
            (postcard::to_stdvec(&n).map_err(|e| e.to_string())?, n)
        }
        Action::Collect => (stream.elem.encode)(stream.iter, None)?,
        Action::Take { n } => (stream.elem.encode)(stream.iter, Some(*n))?,
        Action::Reduce(f) => {
            let reg = resolve(Kind::Reduce, &f.name, stream.elem)?;
            match reg.code {
                Code::Reduce(run, _) => run(&f.value, stream.iter)?,
                _ => {
                    return Err(
                        format!("internal error: {} is not a reduce function", f.name).into(),
                    )
                }
            }
        }
        Action::Foreach(f) => {
            let reg = resolve(Kind::Foreach, &f.name, stream.elem)?;
            match reg.code {
                Code::Foreach(run) => (Vec::new(), run(&f.value, stream.iter)?),
                _ => {
                    return Err(
                        format!("internal error: {} is not a foreach function", f.name).into(),
                    )
                }
            }
        }
        Action::ShuffleWrite(w) => {
            let cannot = |e: String| {
                format!(
                    "cannot write the map output of shuffle {} map {part}: {e}",
                    w.shuffle_id
                )
            };
            let mut out = env
                .map_output_writer(MapOutputId {
                    shuffle_id: w.shuffle_id,
                    map_id: part,
                    partitions: w.partitioner.partitions(),
                })
                .map_err(cannot)?;
            let records = shuffle_write(w, part, stream, mem, out.as_mut())?;
            let sizes = out.commit().map_err(cannot)?;
            return Ok(TaskOutput {
                result: Vec::new(),
                records,
                cached,
                map_sizes: Some(sizes),
                ..TaskOutput::default()
            });
        }
    };
    Ok(TaskOutput {
        result,
        records,
        cached,
        ..TaskOutput::default()
    })
}

/// Partitions a stream of `(K, V)` (or, for `repartition`, of plain values)
/// into `out`, one block per reduce partition; returns the number of records.
fn shuffle_write(
    w: &ShuffleWrite,
    map_id: u32,
    stream: Stream,
    mem: &Arc<TaskMemory>,
    out: &mut dyn MapOutputWriter,
) -> Result<u64, String> {
    if let Some(pair) = registry::find_pair(&w.pair_type) {
        if !pair.elem.same_type(stream.elem) {
            return Err(format!(
                "shuffle {} writes {} but the elements are {}",
                w.shuffle_id,
                w.pair_type,
                (stream.elem.name)()
            ));
        }
        let combine = match &w.map_side_combine {
            Some(f) => Some(combiner(f, pair.value_elem)?),
            None => None,
        };
        return (pair.write)(stream.iter, &w.partitioner, map_id, combine, mem, out);
    }
    if let Some(elem) = registry::find_unit_pair(&w.pair_type) {
        if !elem.same_type(stream.elem) {
            return Err(format!(
                "shuffle {} writes {} but the elements are {}",
                w.shuffle_id,
                w.pair_type,
                (stream.elem.name)()
            ));
        }
        if w.map_side_combine.is_some() {
            return Err(format!(
                "shuffle {} has no keys to combine values by",
                w.shuffle_id
            ));
        }
        return (elem.write_values)(stream.iter, &w.partitioner, map_id, mem, out);
    }
    Err(registry::pair_not_registered(&w.pair_type))
}

/// A registered reduce function as a combiner of `value`s.
fn combiner(f: &FuncRef, value: &'static ElemType) -> Result<AnyCombiner, String> {
    let reg = resolve(Kind::Reduce, &f.name, value)?;
    match reg.code {
        Code::Reduce(_, combiner) => combiner(&f.value),
        _ => Err(format!(
            "internal error: {} is not a reduce function",
            f.name
        )),
    }
}

/// Fetches this reduce partition's block of every map output of one shuffle
/// dependency, a batch at a time (at most `max_bytes`, or one block), and hands
/// each batch on. A fetch failure stops the read and is kept, to fail the task
/// with `fetch_failed` set.
struct Fetcher<'a> {
    task: &'a TaskSpec,
    env: &'a dyn TaskEnv,
    dep: &'a ShuffleDep,
    locations: &'a [MapLocation],
    max_bytes: u64,
    failed: Option<Failure>,
}

impl<'a> Fetcher<'a> {
    fn new(
        task: &'a TaskSpec,
        env: &'a dyn TaskEnv,
        dep: &'a ShuffleDep,
        max_bytes: u64,
    ) -> Result<Self, Failure> {
        let shuffle_id = dep.write.shuffle_id;
        let locations = task.stage.inputs.get(&shuffle_id).ok_or_else(|| {
            format!(
                "internal error: the stage has no map output locations for shuffle {shuffle_id}"
            )
        })?;
        let maps = dep.parent.num_partitions() as usize;
        if locations.len() != maps {
            return Err(format!(
                "internal error: shuffle {shuffle_id} has {maps} map outputs but the stage lists {}",
                locations.len()
            )
            .into());
        }
        Ok(Self {
            task,
            env,
            dep,
            locations,
            max_bytes,
            failed: None,
        })
    }

    /// Fetches every block, handing each batch to `consume`.
    fn run(
        &mut self,
        consume: &mut dyn FnMut(Vec<ShuffleBlock>) -> Result<(), String>,
    ) -> Result<(), String> {
        let reduce = self.task.partition as usize;
        let mut start = 0;
        while start < self.locations.len() {
            let (mut end, mut bytes) = (start, 0u64);
            while let Some(loc) = self.locations.get(end) {
                let size = loc.sizes.get(reduce).copied().unwrap_or(1);
                if end > start && bytes + size > self.max_bytes {
                    break;
                }
                bytes += size;
                end += 1;
            }
            match self.fetch(&self.locations[start..end]) {
                Ok(blocks) => consume(blocks)?,
                Err(f) => {
                    let message = f.0.message.clone();
                    self.failed = Some(f);
                    return Err(message);
                }
            }
            start = end;
        }
        Ok(())
    }

    /// The reason a read through this fetcher failed with `message`.
    fn failure(&mut self, message: String) -> Failure {
        self.failed.take().unwrap_or_else(|| message.into())
    }

    fn fetch(&self, locations: &[MapLocation]) -> Result<Vec<ShuffleBlock>, Failure> {
        let shuffle_id = self.dep.write.shuffle_id;
        let partition = self.task.partition;
        let blocks = self
            .env
            .fetch(BlockFetch {
                shuffle_id,
                reduce_id: partition,
                locations,
            })
            .map_err(|FetchFailure { map_id, message }| {
                let loc = locations.iter().find(|l| l.map_id == map_id);
                Failure(TaskError {
                    message: format!(
                        "fetch failed: shuffle {shuffle_id} map {map_id} reduce {partition}{}: {message}",
                        loc.map(|l| format!(" (from executor {} at {})", l.executor, l.server))
                            .unwrap_or_default()
                    ),
                    fetch_failed: Some(FetchFailed {
                        shuffle_id,
                        map_id,
                        executor: loc.map(|l| l.executor.clone()).unwrap_or_default(),
                        server: loc.map(|l| l.server.clone()).unwrap_or_default(),
                    }),
                })
            })?;
        if blocks.len() != locations.len() {
            return Err(format!(
                "shuffle {shuffle_id}: fetched {} blocks for {} map outputs",
                blocks.len(),
                locations.len()
            )
            .into());
        }
        Ok(blocks)
    }
}

/// Runs `read` over the blocks `f` fetches; a fetch failure wins over the error it
/// caused.
fn read_through<T>(
    fetchers: &mut [Fetcher<'_>],
    read: impl FnOnce(Fetched<'_>) -> Result<T, String>,
) -> Result<T, Failure> {
    let r = read(&mut |consume| {
        for f in fetchers.iter_mut() {
            f.run(consume)?;
        }
        Ok(())
    });
    r.map_err(|e| {
        let failed = fetchers.iter_mut().find_map(|f| f.failed.take());
        failed.unwrap_or_else(|| e.into())
    })
}

/// The reduce side of a shuffle (two for a join).
fn shuffled(
    task: &TaskSpec,
    env: &dyn TaskEnv,
    deps: &[ShuffleDep],
    read: &ShuffleRead,
    num_partitions: u32,
    mem: &Arc<TaskMemory>,
) -> Result<Stream, Failure> {
    for d in deps {
        let n = d.write.partitioner.partitions();
        if n != num_partitions {
            return Err(format!(
                "shuffle {} is written for {n} reduce partitions but read as {num_partitions}",
                d.write.shuffle_id
            )
            .into());
        }
    }
    let in_flight = mem.max_bytes_in_flight();
    if let ShuffleRead::Join { result_type } = read {
        let [left, right] = deps else {
            return Err(format!("a join reads 2 shuffles, not {}", deps.len()).into());
        };
        let join = registry::lookup_join(result_type)?;
        for (dep, side) in [(left, join.left), (right, join.right)] {
            if dep.write.pair_type != (side.name)() {
                return Err(format!(
                    "join {result_type} reads {} but shuffle {} holds {}",
                    (side.name)(),
                    dep.write.shuffle_id,
                    dep.write.pair_type
                )
                .into());
            }
        }
        let mut l = Fetcher::new(task, env, left, in_flight)?;
        let mut r = Fetcher::new(task, env, right, in_flight)?;
        let joined = (join.join)(&mut |c| l.run(c), &mut |c| r.run(c), mem);
        let iter = joined.map_err(|e| match l.failed.take() {
            Some(f) => f,
            None => r.failure(e),
        })?;
        return Ok(Stream {
            elem: join.elem,
            iter,
        });
    }
    let Some(dep) = deps.first() else {
        return Err("a shuffle read needs a shuffle".into());
    };
    let name = &dep.write.pair_type;
    if let Some(other) = deps.iter().find(|d| d.write.pair_type != *name) {
        return Err(format!(
            "shuffles read together must hold one pair type: shuffle {} holds {name}, shuffle {} {}",
            dep.write.shuffle_id, other.write.shuffle_id, other.write.pair_type
        )
        .into());
    }
    if let Some(pair) = registry::find_pair(name) {
        let combine = match read {
            ShuffleRead::ReduceByKey(f) => Some(combiner(f, pair.value_elem)?),
            _ => None,
        };
        // Several shuffles of one pair type read together are their union: their
        // blocks are sequences of records, read one shuffle after another.
        let mut fetchers = deps
            .iter()
            .map(|d| Fetcher::new(task, env, d, in_flight))
            .collect::<Result<Vec<_>, _>>()?;
        let (elem, iter) = read_through(&mut fetchers, |fetched| {
            (pair.read)(fetched, read, combine, mem)
        })?;
        return Ok(Stream { elem, iter });
    }
    let [dep] = deps else {
        return Err(format!("this shuffle read takes 1 shuffle, not {}", deps.len()).into());
    };
    if let Some(elem) = registry::find_unit_pair(name) {
        if *read != ShuffleRead::Values {
            return Err(format!(
                "shuffle {} has no keys: it can only be read as values",
                dep.write.shuffle_id
            )
            .into());
        }
        let mut f = [Fetcher::new(task, env, dep, in_flight)?];
        let iter = read_through(&mut f, |fetched| (elem.read_values)(fetched, mem))?;
        return Ok(Stream { elem, iter });
    }
    Err(registry::pair_not_registered(name).into())
}

fn op_fn(op: &Op) -> Option<(Kind, &FuncRef)> {
    match op {
        Op::Map(f) => Some((Kind::Map, f)),
        Op::Filter(f) => Some((Kind::Filter, f)),
        Op::FlatMap(f) => Some((Kind::FlatMap, f)),
        Op::MapPartitions(f) => Some((Kind::MapPartitions, f)),
        Op::Cache { .. } => None,
    }
}

fn action_fn(action: &Action) -> Option<(Kind, &FuncRef)> {
    match action {
        Action::Reduce(f) => Some((Kind::Reduce, f)),
        Action::Foreach(f) => Some((Kind::Foreach, f)),
        Action::ShuffleWrite(w) => w.map_side_combine.as_ref().map(|f| (Kind::Reduce, f)),
        Action::Count | Action::Collect | Action::Take { .. } => None,
    }
}

/// Looks a function up and checks that it takes the stream's element type.
fn resolve(
    kind: Kind,
    name: &str,
    input: &'static ElemType,
) -> Result<&'static registry::Registration, String> {
    let reg = registry::lookup_fn(kind, name)?;
    if !reg.input.same_type(input) {
        return Err(format!(
            "{} function {name} takes {} but the elements are {}",
            kind.label(),
            (reg.input.name)(),
            (input.name)()
        ));
    }
    Ok(reg)
}

fn transform(
    kind: Kind,
    name: &str,
    value: &[u8],
    part: u32,
    stream: Stream,
) -> Result<Stream, String> {
    let reg = resolve(kind, name, stream.elem)?;
    match reg.code {
        Code::Transform(apply) => Ok(Stream {
            elem: reg.output,
            iter: apply(value, part, stream.iter)?,
        }),
        _ => Err(format!(
            "internal error: {name} is not a {} function",
            kind.label()
        )),
    }
}

fn source(task: &TaskSpec, env: &dyn TaskEnv, mem: &Arc<TaskMemory>) -> Result<Stream, Failure> {
    match &task.stage.plan.source {
        Source::Range {
            start,
            end,
            step,
            num_partitions,
        } => {
            let it = range_partition(*start, *end, *step, *num_partitions, task.partition)?;
            Ok(Stream {
                elem: ElemOf::<i64>::TYPE,
                iter: erase::<i64>(Box::new(it)),
            })
        }
        Source::Parallelize { type_name, .. } => {
            let elem = registry::lookup_type(type_name)?;
            let iter = (elem.parallel)(task.stage.clone(), task.partition as usize)?;
            Ok(Stream { elem, iter })
        }
        Source::Shuffled {
            deps,
            read,
            num_partitions,
        } => shuffled(task, env, deps, read, *num_partitions, mem),
    }
}

/// Number of elements of `range(start, end, step)` (Spark's rule; 0 when the
/// step goes away from `end`).
pub(crate) fn range_len(start: i64, end: i64, step: i64) -> u128 {
    if step == 0 {
        return 0;
    }
    let (span, step) = (end as i128 - start as i128, step as i128);
    if span == 0 || (span > 0) != (step > 0) {
        return 0;
    }
    let q = span / step;
    (if span % step == 0 { q } else { q + 1 }) as u128
}

/// The slice of `range(start, end, step)` that partition `i` of `n` holds:
/// elements `[i*len/n, (i+1)*len/n)`, as Spark's `SparkContext.range`.
pub(crate) fn range_partition(
    start: i64,
    end: i64,
    step: i64,
    n: u32,
    i: u32,
) -> Result<RangeIter, String> {
    if step == 0 {
        return Err("range step cannot be 0".into());
    }
    if i >= n {
        return Err(format!(
            "partition {i} does not exist (the range has {n} partitions)"
        ));
    }
    let len = range_len(start, end, step);
    let lo = len * i as u128 / n as u128;
    let hi = len * (i as u128 + 1) / n as u128;
    Ok(RangeIter {
        // Wrapping arithmetic is exact here: the result lies within [start, end).
        next: start.wrapping_add((lo as i64).wrapping_mul(step)),
        remaining: (hi - lo) as u64,
        step,
    })
}

/// A slice of a range.
pub(crate) struct RangeIter {
    next: i64,
    remaining: u64,
    step: i64,
}

impl Iterator for RangeIter {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        if self.remaining == 0 {
            return None;
        }
        let x = self.next;
        self.remaining -= 1;
        self.next = self.next.wrapping_add(self.step);
        Some(x)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match usize::try_from(self.remaining) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}
