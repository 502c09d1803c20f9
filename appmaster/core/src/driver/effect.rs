//! What the driver's schedulers ask the shell to do: one effect type for all of them,
//! and the buffer a step fills.

use crate::allocation::ListenerEvent;
use crate::eventlog::AppEvent;
use crate::ids::{ExecutorId, JobId, ShuffleId, StageId, TaskId};
use crate::plan::JobError;
use common::protocol::Container;
use common::ContainerId;
use std::sync::Arc;

/// A task for one executor (Spark's `TaskDescription`). The shell turns it into the
/// wire's `TaskLaunch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescription {
    pub task_id: TaskId,
    pub stage_id: StageId,
    pub stage_attempt: u32,
    pub partition: u32,
    /// This task's attempt (0 first, then one more per failure).
    pub attempt: u32,
    /// The stage's encoded `StageSpec`: with the first task of a stage attempt an
    /// executor gets, then `None` (the executor keeps it).
    pub stage: Option<Arc<Vec<u8>>>,
}

/// What the shell must do.
///
/// Effects come out of a call in the order they must be carried out. A `Log` carries no
/// time: it happened at the `now` the call was given (monotonic), which the shell turns
/// into the wall-clock stamp people read.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Push a task to an executor.
    Launch {
        executor: ExecutorId,
        launch: TaskDescription,
    },
    /// A job ended: wake the user's thread.
    JobDone {
        job: JobId,
        result: Result<Vec<Vec<u8>>, JobError>,
    },
    /// Record (event log, UI).
    Log(AppEvent),
    /// Set the outstanding container ask at the RM (total-count semantics).
    Ask { count: u32 },
    /// Start an executor in this container through its NM.
    StartExecutor {
        container: Box<Container>,
        executor: ExecutorId,
    },
    /// Give a container back to the RM.
    Release { container: ContainerId },
    /// Kill a running task attempt (Spark's `killTask`): another attempt of its task
    /// succeeded. The executor still reports it; it then ends as `TaskKilled`.
    KillTask {
        executor: ExecutorId,
        task_id: TaskId,
        reason: String,
    },
    /// Send `worker` a shuffle migration: `source`'s map outputs `outputs` move as `how`
    /// says; `worker` answers with where they went (or why not).
    MigrateShuffle {
        worker: ExecutorId,
        source: ExecutorId,
        how: common::protocol::ShuffleMigration,
        outputs: Vec<common::protocol::MigrateOutput>,
    },
    /// Tell an executor to exit.
    StopExecutor {
        executor: ExecutorId,
        reason: String,
    },
    /// Too many failures: the application must end as FAILED.
    Abort { reason: String },
    /// A shuffle was released: delete its files where they are served.
    RemoveShuffle {
        shuffle: ShuffleId,
        servers: Vec<String>,
    },
    /// Enough executors registered (or the wait is over): run the user's code. Emitted
    /// once per application.
    StartUserCode,
}

/// What one step of the driver produced: the effects for the shell, in order, and the
/// scheduler events the allocation manager listens to (Spark's listener bus), which the
/// core delivers when the step ends.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub(crate) effects: Vec<Effect>,
    pub(crate) listener: Vec<ListenerEvent>,
}

impl Out {
    pub(crate) fn push(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// Records an event-log line.
    pub(crate) fn log(&mut self, event: AppEvent) {
        self.effects.push(Effect::Log(event));
    }

    /// Posts a scheduler event to the allocation manager.
    pub(crate) fn post(&mut self, event: ListenerEvent) {
        self.listener.push(event);
    }
}

/// What the driver's tests look for in a step's effects.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Effect, ExecutorId, TaskDescription};

    /// The tasks launched, with their executors.
    pub(crate) fn launches(effects: &[Effect]) -> Vec<(ExecutorId, TaskDescription)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Launch { executor, launch } => Some((executor.clone(), launch.clone())),
                _ => None,
            })
            .collect()
    }

    /// The container asks sent.
    pub(crate) fn asks(effects: &[Effect]) -> Vec<u32> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Ask { count } => Some(*count),
                _ => None,
            })
            .collect()
    }
}
