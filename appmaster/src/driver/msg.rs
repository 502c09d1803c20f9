//! What reaches the driver loop: the RM's events, the executors' calls (through the
//! driver service), the user's jobs.

use am_core::driver::Registration;
use am_core::ids::{ExecutorId, ShuffleId, TaskId};
use am_core::plan::{JobError, JobSpec};
use common::protocol::{AmEvent, DriverResponse, MigratedTo, TaskResult};
use common::ContainerId;
use tokio::sync::{mpsc, oneshot};

/// Where a job's result goes: the user's thread waiting in `run_job`.
pub(crate) type JobReply = oneshot::Sender<Result<Vec<Vec<u8>>, JobError>>;

/// Messages into the driver loop.
pub(crate) enum Msg {
    Rm(AmEvent),
    /// The AM subscribed again after losing the RM (see `rm_link`).
    RmResynced,
    RmClosed,
    Register {
        executor: ExecutorId,
        registration: Registration,
        push: mpsc::UnboundedSender<DriverResponse>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Status {
        executor: ExecutorId,
        task_id: TaskId,
        result: TaskResult,
    },
    Disconnected {
        executor: ExecutorId,
    },
    /// `reporter` moved `source`'s map outputs (or could not).
    ShuffleMigrated {
        reporter: ExecutorId,
        source: ExecutorId,
        result: Result<MigratedTo, String>,
    },
    Job {
        spec: JobSpec,
        reply: JobReply,
    },
    LaunchFailed {
        container: ContainerId,
        reason: String,
    },
    UserDone(Result<(), String>),
    ReleaseShuffle(ShuffleId),
}
