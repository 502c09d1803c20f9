//! An in-process job runner (Spark's `local[N]`): tasks run on threads of this
//! process against one block cache. For tests and for running applications
//! without a cluster. No retries: a failed task fails the job.

use super::exec::{run_task, BlockCache};
use crate::plan::{JobError, JobRunner, JobSpec, TaskOutput, TaskSpec};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the runner remembers of a job it ran (for tests and diagnostics).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalJob {
    pub stage: u32,
    pub description: String,
    pub partitions: Vec<u32>,
    /// The tasks' outputs in the order of `partitions` (empty if the job failed).
    pub outputs: Vec<TaskOutput>,
}

/// Runs jobs on up to `threads` threads of this process.
#[derive(Debug)]
pub struct LocalRunner {
    threads: usize,
    parallelism: u32,
    cache: BlockCache,
    next_stage: AtomicU32,
    jobs: Mutex<Vec<LocalJob>>,
}

impl Default for LocalRunner {
    /// As many threads as the machine has cores (`local[*]`).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores)
    }
}

type Slot = Option<Result<TaskOutput, String>>;

/// How many past jobs [LocalRunner::jobs] keeps.
const JOB_HISTORY: usize = 64;

impl LocalRunner {
    /// `threads` worker threads; the default parallelism is `max(threads, 2)`.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        Self {
            threads,
            parallelism: threads.max(2) as u32,
            cache: BlockCache::default(),
            next_stage: AtomicU32::new(0),
            jobs: Mutex::default(),
        }
    }

    /// Overrides the default parallelism reported to the context.
    pub fn with_default_parallelism(mut self, parallelism: u32) -> Self {
        self.parallelism = parallelism.max(1);
        self
    }

    /// The runner's executor memory.
    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }

    /// Frees the cached blocks of `rdd`.
    pub fn unpersist(&self, rdd: crate::plan::RddId) -> usize {
        self.cache.remove_rdd(rdd)
    }

    fn jobs_lock(&self) -> MutexGuard<'_, Vec<LocalJob>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last jobs run (up to 64), oldest first.
    pub fn jobs(&self) -> Vec<LocalJob> {
        self.jobs_lock().clone()
    }

    /// The last job run, if any.
    pub fn last_job(&self) -> Option<LocalJob> {
        self.jobs_lock().last().cloned()
    }
}

impl JobRunner for LocalRunner {
    fn run_job(&self, job: JobSpec) -> Result<Vec<Vec<u8>>, JobError> {
        let stage_id = self.next_stage.fetch_add(1, Ordering::Relaxed);
        let stage = Arc::new(job.stage);
        let parts = job.partitions;
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
            let r = run_task(&task, &self.cache).map_err(|e| e.message);
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
        let mut error = None;
        for (slot, &partition) in slots.into_iter().zip(&parts) {
            match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(Ok(out)) => outputs.push(out),
                Some(Err(message)) => {
                    error.get_or_insert(JobError::TaskFailed {
                        stage: stage_id,
                        partition,
                        attempts: 1,
                        message,
                    });
                }
                None => {}
            }
        }
        let results = match error {
            Some(e) => Err(e),
            None => Ok(outputs.iter().map(|o| o.result.clone()).collect()),
        };
        let mut jobs = self.jobs_lock();
        if jobs.len() >= JOB_HISTORY {
            jobs.remove(0);
        }
        jobs.push(LocalJob {
            stage: stage_id,
            description: job.description,
            partitions: parts,
            outputs: if results.is_ok() { outputs } else { Vec::new() },
        });
        results
    }

    fn default_parallelism(&self) -> u32 {
        self.parallelism
    }
}
