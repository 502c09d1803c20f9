//! The scheduler events the allocation manager listens to (the subset of Spark's
//! `SparkListener` events that `ExecutorAllocationManager` and `ExecutorMonitor` use).

use crate::ids::{ExecutorId, JobId, RddId, ShuffleId, StageId};

/// A stage attempt number (0 for the first attempt).
pub type StageAttemptId = u32;
/// A task's index within its stage.
pub type TaskIndex = i64;

/// One attempt of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StageAttempt {
    /// The stage id.
    pub stage_id: StageId,
    /// The attempt number (0 for the first attempt).
    pub stage_attempt_id: StageAttemptId,
}

impl StageAttempt {
    /// A stage attempt.
    pub fn new(stage_id: StageId, stage_attempt_id: StageAttemptId) -> Self {
        Self {
            stage_id,
            stage_attempt_id,
        }
    }
}

/// A stage as listed in a job-start event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStageInfo {
    /// The stage id.
    pub stage_id: StageId,
    /// The shuffle this stage writes, if it is a shuffle-map stage.
    pub shuffle_dep_id: Option<ShuffleId>,
}

/// The part of Spark's `TaskInfo` the allocation manager needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's index within its stage.
    pub index: TaskIndex,
    /// The executor running it.
    pub executor_id: ExecutorId,
    /// Whether this is a speculative copy.
    pub speculative: bool,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskEndReason {
    /// The task succeeded.
    Success,
    /// The task was killed on purpose (e.g. another attempt of it won).
    TaskKilled,
    /// Any other failure: the task will be resubmitted.
    Failed,
}

/// Where a cached block is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLevel {
    /// Held in memory.
    pub use_memory: bool,
    /// Held on disk.
    pub use_disk: bool,
}

impl StorageLevel {
    /// Not stored (the block was dropped).
    pub const NONE: Self = Self::new(false, false);
    /// In memory only.
    pub const MEMORY_ONLY: Self = Self::new(true, false);
    /// On disk only.
    pub const DISK_ONLY: Self = Self::new(false, true);
    /// In memory and on disk.
    pub const MEMORY_AND_DISK: Self = Self::new(true, true);

    pub const fn new(use_memory: bool, use_disk: bool) -> Self {
        Self {
            use_memory,
            use_disk,
        }
    }

    /// Whether the block is stored anywhere.
    pub fn is_valid(self) -> bool {
        self.use_memory || self.use_disk
    }
}

/// A scheduler event, as Spark's listener bus delivers it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ListenerEvent {
    /// A job started with these stages.
    JobStart {
        /// The job id.
        job_id: JobId,
        /// Its stages, with the shuffle each shuffle-map stage writes.
        stages: Vec<JobStageInfo>,
    },
    /// A job ended.
    JobEnd {
        /// The job id.
        job_id: JobId,
    },
    /// A stage attempt was submitted.
    StageSubmitted {
        /// The stage attempt.
        stage: StageAttempt,
        /// Its number of tasks.
        num_tasks: i64,
        /// One list of preferred hosts per task (empty when a task has no preference).
        task_locality_preferences: Vec<Vec<String>>,
    },
    /// A stage attempt completed (succeeded, failed or was aborted).
    StageCompleted {
        /// The stage attempt.
        stage: StageAttempt,
    },
    /// A task started.
    TaskStart {
        /// Its stage attempt.
        stage: StageAttempt,
        /// The task.
        task: TaskInfo,
    },
    /// A task ended.
    TaskEnd {
        /// Its stage attempt.
        stage: StageAttempt,
        /// The task.
        task: TaskInfo,
        /// How it ended.
        reason: TaskEndReason,
    },
    /// The scheduler wants a speculative copy of a task.
    SpeculativeTaskSubmitted {
        /// The stage attempt.
        stage: StageAttempt,
        /// The task index to speculate.
        task_index: TaskIndex,
    },
    /// A task set has a task that cannot be scheduled on any current executor.
    UnschedulableTaskSetAdded {
        /// The stage attempt.
        stage: StageAttempt,
    },
    /// That task set became schedulable again.
    UnschedulableTaskSetRemoved {
        /// The stage attempt.
        stage: StageAttempt,
    },
    /// An executor registered.
    ExecutorAdded {
        /// The executor.
        executor_id: ExecutorId,
    },
    /// An executor went away.
    ExecutorRemoved {
        /// The executor.
        executor_id: ExecutorId,
    },
    /// An RDD block was stored on, or dropped from, an executor.
    BlockUpdated {
        /// The executor holding the block.
        executor_id: ExecutorId,
        /// The RDD.
        rdd_id: RddId,
        /// The partition.
        split_index: i64,
        /// Where it is now stored (`StorageLevel::NONE` when dropped).
        storage_level: StorageLevel,
    },
    /// An RDD was unpersisted everywhere.
    UnpersistRdd {
        /// The RDD.
        rdd_id: RddId,
    },
    /// An executor stored shuffle data for a shuffle (a shuffle data block update).
    ShuffleBlockUpdated {
        /// The executor.
        executor_id: ExecutorId,
        /// The shuffle.
        shuffle_id: ShuffleId,
    },
    /// A shuffle was garbage-collected (the context cleaner removed it).
    ShuffleCleaned {
        /// The shuffle.
        shuffle_id: ShuffleId,
    },
}
