//! An in-process job runner (Spark's `local[N]`): tasks run on threads of this
//! process against one block cache, and shuffle map output is kept in memory.
//! For tests and for running applications without a cluster.
//!
//! A job whose plan reads shuffles first runs the shuffle map stages whose
//! output is missing (parents first, see [super::stages]), then the result
//! stage. Map output stays until [JobRunner::release_shuffle], so later jobs
//! reuse it. A task that fails fails the job, except a fetch failure: the
//! lost map output is recomputed and the stage re-run (up to 4 attempts).

use super::exec::{run_task_with, BlockCache};
use super::memory::MemoryManager;
use super::stages;
use am_core::ids::{RddId, ShuffleId, StageId};
use am_core::plan::{
    Block, BlockFetch, BlocksWriter, FetchFailed, FetchFailure, JobError, JobRunner, JobSpec,
    MapLocation, MapOutputId, NewMapOutput, Plan, ShuffleDep, SpillMetrics, StageSpec, TaskEnv,
    TaskError, TaskOutput, TaskSpec,
};
use common::resource::ExecutorMemory;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the runner remembers of a job it ran (for tests and diagnostics).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalJob {
    /// The result stage (its last attempt).
    pub stage: u32,
    pub description: String,
    pub partitions: Vec<u32>,
    /// The tasks' outputs in the order of `partitions` (empty if the job failed).
    pub outputs: Vec<TaskOutput>,
    /// The shuffle map stages this job ran, in the order they ran.
    pub map_stages: Vec<LocalMapStage>,
}

/// A shuffle map stage run for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMapStage {
    pub stage: u32,
    pub shuffle_id: ShuffleId,
    /// The map tasks run (the missing map outputs).
    pub partitions: Vec<u32>,
    /// What its tasks spilled, summed.
    pub spill: SpillMetrics,
}

/// One map task's output.
struct MapOutput {
    /// Fetches share these (a fetched block is a reference to its bytes).
    blocks: Vec<Block>,
    sizes: Vec<u64>,
}

/// Runs jobs on up to `threads` threads of this process.
pub struct LocalRunner {
    threads: usize,
    parallelism: u32,
    cache: BlockCache,
    /// The tasks' execution memory (unbounded unless [LocalRunner::with_memory]).
    memory: Arc<MemoryManager>,
    next_stage: AtomicU32,
    jobs: Mutex<Vec<LocalJob>>,
    /// Map outputs by shuffle, then map id.
    shuffles: Mutex<HashMap<ShuffleId, BTreeMap<u32, MapOutput>>>,
    released: Mutex<Vec<ShuffleId>>,
    map_tasks: AtomicU64,
    /// Held while a job runs its map stages (jobs may share shuffles).
    scheduling: Mutex<()>,
}

impl fmt::Debug for LocalRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRunner")
            .field("threads", &self.threads)
            .field("parallelism", &self.parallelism)
            .field("cache", &self.cache)
            .field("live_shuffles", &self.live_shuffles())
            .field("map_tasks", &self.map_tasks_run())
            .finish_non_exhaustive()
    }
}

impl Default for LocalRunner {
    /// As many threads as the machine has cores (`local[*]`).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores)
    }
}

type Slot = Option<Result<TaskOutput, TaskError>>;

/// How many past jobs [LocalRunner::jobs] keeps.
const JOB_HISTORY: usize = 64;

/// Attempts of a stage whose tasks hit fetch failures (Spark's
/// `spark.stage.maxConsecutiveAttempts`).
const STAGE_ATTEMPTS: u32 = 4;

/// How a stage failed.
enum StageFailure {
    /// A task could not fetch a map output.
    Fetch {
        partition: u32,
        message: String,
        failed: Box<FetchFailed>,
    },
    /// Any other task failure (fails the job).
    Task { partition: u32, message: String },
}

impl StageFailure {
    fn into_job_error(self, stage: u32) -> JobError {
        let (partition, message) = match self {
            Self::Fetch {
                partition, message, ..
            } => (partition, message),
            Self::Task { partition, message } => (partition, message),
        };
        JobError::TaskFailed {
            stage: StageId(stage),
            partition,
            attempts: 1,
            message,
        }
    }
}

impl LocalRunner {
    /// `threads` worker threads; the default parallelism is `max(threads, 2)`.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        Self {
            threads,
            parallelism: threads.max(2) as u32,
            cache: BlockCache::default(),
            memory: Arc::new(MemoryManager::unbounded(None)),
            next_stage: AtomicU32::new(0),
            jobs: Mutex::default(),
            shuffles: Mutex::default(),
            released: Mutex::default(),
            map_tasks: AtomicU64::new(0),
            scheduling: Mutex::default(),
        }
    }

    /// Overrides the default parallelism reported to the context.
    pub fn with_default_parallelism(mut self, parallelism: u32) -> Self {
        self.parallelism = parallelism.max(1);
        self
    }

    /// Runs tasks within `settings` (an executor's memory, shared by the runner's
    /// threads as by an executor's cores), spilling under `spill_root`.
    pub fn with_memory(mut self, settings: ExecutorMemory, spill_root: PathBuf) -> Self {
        let storage = self.cache.storage_bytes();
        self.memory = Arc::new(MemoryManager::new(settings, spill_root, storage));
        self
    }

    /// The runner's execution memory.
    pub fn memory(&self) -> &Arc<MemoryManager> {
        &self.memory
    }

    /// The runner's executor memory.
    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }

    /// Frees the cached blocks of `rdd`.
    pub fn unpersist(&self, rdd: RddId) -> usize {
        self.cache.remove_rdd(rdd)
    }

    fn jobs_lock(&self) -> MutexGuard<'_, Vec<LocalJob>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shuffles_lock(&self) -> MutexGuard<'_, HashMap<ShuffleId, BTreeMap<u32, MapOutput>>> {
        self.shuffles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last jobs run (up to 64), oldest first.
    pub fn jobs(&self) -> Vec<LocalJob> {
        self.jobs_lock().clone()
    }

    /// The last job run, if any.
    pub fn last_job(&self) -> Option<LocalJob> {
        self.jobs_lock().last().cloned()
    }

    /// Shuffle map tasks run so far (all jobs).
    pub fn map_tasks_run(&self) -> u64 {
        self.map_tasks.load(Ordering::Relaxed)
    }

    /// Shuffles with map output in memory, sorted.
    pub fn live_shuffles(&self) -> Vec<ShuffleId> {
        let mut v: Vec<ShuffleId> = self.shuffles_lock().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Shuffles released so far, in order.
    pub fn released_shuffles(&self) -> Vec<ShuffleId> {
        self.released
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Bytes per reduce partition of each map output of a shuffle (by map id).
    pub fn map_output_sizes(&self, shuffle: ShuffleId) -> Option<BTreeMap<u32, Vec<u64>>> {
        self.shuffles_lock()
            .get(&shuffle)
            .map(|maps| maps.iter().map(|(m, o)| (*m, o.sizes.clone())).collect())
    }

    /// Forgets one map output, as if the executor holding it were lost; the
    /// next job that needs it re-runs that map task. Returns whether it existed.
    pub fn lose_map_output(&self, shuffle: ShuffleId, map_id: u32) -> bool {
        self.shuffles_lock()
            .get_mut(&shuffle)
            .is_some_and(|maps| maps.remove(&map_id).is_some())
    }

    fn new_stage(&self) -> u32 {
        self.next_stage.fetch_add(1, Ordering::Relaxed)
    }

    /// Map ids of `shuffle` in `0..maps` with no output.
    fn missing_maps(&self, shuffle: ShuffleId, maps: u32) -> Vec<u32> {
        let shuffles = self.shuffles_lock();
        let have = shuffles.get(&shuffle);
        (0..maps)
            .filter(|m| !have.is_some_and(|h| h.contains_key(m)))
            .collect()
    }

    fn locations(&self, shuffle: ShuffleId, maps: u32) -> Result<Vec<MapLocation>, JobError> {
        let shuffles = self.shuffles_lock();
        (0..maps)
            .map(|m| {
                let out = shuffles
                    .get(&shuffle)
                    .and_then(|s| s.get(&m))
                    .ok_or_else(|| {
                        JobError::Internal(format!("shuffle {shuffle} map {m} has no output"))
                    })?;
                Ok(MapLocation {
                    map_id: m,
                    executor: "local".into(),
                    host: "localhost".into(),
                    server: "local".into(),
                    dir: "local".into(),
                    sizes: out.sizes.clone(),
                })
            })
            .collect()
    }

    /// Makes sure the map outputs of every shuffle `plan` reads exist
    /// (running map stages as needed); returns the stage's `inputs`.
    fn prepare(
        &self,
        plan: &Plan,
        log: &mut Vec<LocalMapStage>,
    ) -> Result<BTreeMap<ShuffleId, Vec<MapLocation>>, JobError> {
        let mut inputs = BTreeMap::new();
        for dep in stages::shuffle_deps(plan) {
            let locations = self.ensure_shuffle(dep, log)?;
            inputs.insert(dep.write.shuffle_id, locations);
        }
        Ok(inputs)
    }

    fn ensure_shuffle(
        &self,
        dep: &ShuffleDep,
        log: &mut Vec<LocalMapStage>,
    ) -> Result<Vec<MapLocation>, JobError> {
        let shuffle = dep.write.shuffle_id;
        let maps = stages::map_tasks(dep);
        let mut attempt = 1;
        loop {
            let missing = self.missing_maps(shuffle, maps);
            if missing.is_empty() {
                return self.locations(shuffle, maps);
            }
            let inputs = self.prepare(&dep.parent, log)?;
            let stage_id = self.new_stage();
            let stage = Arc::new(stages::map_stage(dep, inputs));
            self.map_tasks
                .fetch_add(missing.len() as u64, Ordering::Relaxed);
            log.push(LocalMapStage {
                stage: stage_id,
                shuffle_id: shuffle,
                partitions: missing.clone(),
                spill: SpillMetrics::default(),
            });
            let at = log.len() - 1;
            match self.run_stage(stage, &missing) {
                Ok(outputs) => {
                    let spill = &mut log[at].spill;
                    for o in &outputs {
                        spill.add(&o.spill);
                    }
                    let still = self.missing_maps(shuffle, maps);
                    if !still.is_empty() {
                        return Err(JobError::Internal(format!(
                            "shuffle {shuffle}: map tasks {still:?} succeeded without writing output"
                        )));
                    }
                }
                Err(StageFailure::Fetch { failed, .. }) if attempt < STAGE_ATTEMPTS => {
                    self.lose_map_output(failed.shuffle_id, failed.map_id);
                    attempt += 1;
                }
                Err(e) => return Err(e.into_job_error(stage_id)),
            }
        }
    }

    /// Runs the stage's tasks for `parts`; their outputs in that order, or
    /// the failure of the first failed partition.
    fn run_stage(
        &self,
        stage: Arc<StageSpec>,
        parts: &[u32],
    ) -> Result<Vec<TaskOutput>, StageFailure> {
        let slots: Vec<Mutex<Slot>> = parts.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let workers = self.threads.min(parts.len());
        let work = || loop {
            if failed.load(Ordering::Relaxed) {
                return;
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&partition) = parts.get(i) else {
                return;
            };
            let task = TaskSpec {
                stage: stage.clone(),
                partition,
            };
            let r = run_task_with(&task, &self.cache, self, self.memory.local_task());
            if r.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        };
        if workers <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..workers {
                    s.spawn(work);
                }
            });
        }
        let mut outputs = Vec::with_capacity(parts.len());
        for (slot, &partition) in slots.into_iter().zip(parts) {
            match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(Ok(out)) => outputs.push(out),
                Some(Err(error)) => {
                    return Err(match error.fetch_failed {
                        Some(failed) => StageFailure::Fetch {
                            partition,
                            message: error.message,
                            failed: Box::new(failed),
                        },
                        None => StageFailure::Task {
                            partition,
                            message: error.message,
                        },
                    })
                }
                // Not run: another task failed first (reported above or below).
                None => {}
            }
        }
        if outputs.len() != parts.len() {
            return Err(StageFailure::Task {
                partition: parts.first().copied().unwrap_or(0),
                message: "the stage was aborted".into(),
            });
        }
        Ok(outputs)
    }

    /// The job's map stages (as needed) and result stage; returns the result
    /// stage's id with its outputs or error.
    fn run_stages(
        &self,
        job: &JobSpec,
        log: &mut Vec<LocalMapStage>,
    ) -> (u32, Result<Vec<TaskOutput>, JobError>) {
        let mut attempt = 1;
        loop {
            let inputs = {
                let _scheduling = self.scheduling.lock().unwrap_or_else(|e| e.into_inner());
                self.prepare(&job.stage.plan, log)
            };
            let stage_id = self.new_stage();
            let inputs = match inputs {
                Ok(i) => i,
                Err(e) => return (stage_id, Err(e)),
            };
            let stage = Arc::new(StageSpec {
                plan: job.stage.plan.clone(),
                action: job.stage.action.clone(),
                inputs,
            });
            match self.run_stage(stage, &job.partitions) {
                Ok(outputs) => return (stage_id, Ok(outputs)),
                Err(StageFailure::Fetch { failed, .. }) if attempt < STAGE_ATTEMPTS => {
                    self.lose_map_output(failed.shuffle_id, failed.map_id);
                    attempt += 1;
                }
                Err(e) => return (stage_id, Err(e.into_job_error(stage_id))),
            }
        }
    }
}

impl TaskEnv for LocalRunner {
    fn map_output_writer(&self, id: MapOutputId) -> NewMapOutput<'_> {
        Ok(Box::new(BlocksWriter::new(id.partitions, move |blocks| {
            let sizes = blocks.iter().map(|b| b.len() as u64).collect();
            let blocks = blocks.into_iter().map(Block::from).collect();
            let output = MapOutput { blocks, sizes };
            let mut shuffles = self.shuffles_lock();
            let maps = shuffles.entry(id.shuffle_id).or_default();
            maps.insert(id.map_id, output);
            Ok(())
        })))
    }

    fn fetch(&self, fetch: BlockFetch<'_>) -> Result<Vec<Block>, FetchFailure> {
        let (shuffle_id, reduce_id, locations) =
            (fetch.shuffle_id, fetch.reduce_id, fetch.locations);
        let shuffles = self.shuffles_lock();
        let maps = shuffles.get(&shuffle_id);
        locations
            .iter()
            .map(|loc| {
                let out = maps.and_then(|m| m.get(&loc.map_id)).ok_or_else(|| {
                    FetchFailure::new(
                        loc.map_id,
                        format!("map output {} of shuffle {shuffle_id} is gone", loc.map_id),
                    )
                })?;
                out.blocks.get(reduce_id as usize).cloned().ok_or_else(|| {
                    FetchFailure::new(
                        loc.map_id,
                        format!(
                            "map output {} of shuffle {shuffle_id} has no block {reduce_id}",
                            loc.map_id
                        ),
                    )
                })
            })
            .collect()
    }
}

impl JobRunner for LocalRunner {
    fn run_job(&self, job: JobSpec) -> Result<Vec<Vec<u8>>, JobError> {
        let mut map_stages = Vec::new();
        let (stage_id, outputs) = self.run_stages(&job, &mut map_stages);
        let results = outputs
            .as_ref()
            .map(|outs| outs.iter().map(|o| o.result.clone()).collect())
            .map_err(Clone::clone);
        let mut jobs = self.jobs_lock();
        if jobs.len() >= JOB_HISTORY {
            jobs.remove(0);
        }
        jobs.push(LocalJob {
            stage: stage_id,
            description: job.description,
            partitions: job.partitions,
            outputs: outputs.unwrap_or_default(),
            map_stages,
        });
        results
    }

    fn default_parallelism(&self) -> u32 {
        self.parallelism
    }

    fn unpersist(&self, rdd: RddId) {
        self.cache.remove_rdd(rdd);
    }

    fn release_shuffle(&self, shuffle: ShuffleId) {
        self.shuffles_lock().remove(&shuffle);
        self.released
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(shuffle);
    }
}
