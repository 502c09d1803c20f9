//! The running task's context (Spark's `TaskContext`): which attempt of which task this
//! is, and whether the driver asked for it to be killed (the loser of a speculative race).
//!
//! User functions read it with [`TaskContext::get`] while a task runs on an executor;
//! outside a task (on the driver, in tests) there is none. A long function should check
//! [`TaskContext::is_interrupted`] now and then and return early when it is set: the
//! executor then reports the task killed, as Spark's does, whatever it returned.

use common::protocol::TaskLaunch;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The kill request of one task attempt, shared by the executor (which sets it) and the
/// task's thread (which reads it).
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    killed: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl KillSwitch {
    /// The driver asked for the task to be killed, for `reason`.
    pub(crate) fn kill(&self, reason: String) {
        let mut r = self.reason.lock().expect("kill reason lock");
        r.get_or_insert(reason);
        self.killed.store(true, Ordering::Release);
    }

    /// Why it was killed, if it was.
    pub(crate) fn reason(&self) -> Option<String> {
        if !self.killed.load(Ordering::Acquire) {
            return None;
        }
        self.reason.lock().expect("kill reason lock").clone()
    }
}

/// What a task knows about itself (Spark's `TaskContext`).
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The task's ids as the driver sent them (without the stage's spec).
    ids: TaskLaunch,
    kill: Arc<KillSwitch>,
}

thread_local! {
    static CURRENT: RefCell<Option<TaskContext>> = const { RefCell::new(None) };
}

impl TaskContext {
    pub(crate) fn new(launch: &TaskLaunch, kill: Arc<KillSwitch>) -> Self {
        Self {
            ids: TaskLaunch {
                stage: None,
                ..*launch
            },
            kill,
        }
    }

    /// The context of the task running on this thread, if any.
    pub fn get() -> Option<Self> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Runs `f` as the task this context describes (its thread's [`Self::get`]).
    pub(crate) fn run<R>(self, f: impl FnOnce() -> R) -> R {
        struct Reset(Option<TaskContext>);
        impl Drop for Reset {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let _reset = Reset(CURRENT.with(|c| c.borrow_mut().replace(self)));
        f()
    }

    pub fn stage_id(&self) -> u32 {
        self.ids.stage_id
    }

    pub fn stage_attempt_number(&self) -> u32 {
        self.ids.stage_attempt
    }

    pub fn partition_id(&self) -> u32 {
        self.ids.partition
    }

    /// How many attempts of this task ran before this one (0 for the first; a
    /// speculative copy or a retry counts one more).
    pub fn attempt_number(&self) -> u32 {
        self.ids.attempt
    }

    /// The attempt's id, unique in the application (Spark's `taskAttemptId`).
    pub fn task_attempt_id(&self) -> u64 {
        self.ids.task_id
    }

    /// The driver asked for this attempt to be killed (another attempt of the task
    /// succeeded): stop working, the result will be ignored.
    pub fn is_interrupted(&self) -> bool {
        self.kill.killed.load(Ordering::Acquire)
    }

    /// Why the driver asked for this attempt to be killed (Spark's `getKillReason`).
    pub fn kill_reason(&self) -> Option<String> {
        self.kill.reason()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_sees_its_context_and_its_kill() {
        assert!(TaskContext::get().is_none());
        let kill = Arc::new(KillSwitch::default());
        let launch = TaskLaunch {
            task_id: 42,
            stage_id: 3,
            stage_attempt: 1,
            partition: 7,
            attempt: 2,
            stage: Some(vec![1, 2, 3]),
        };
        let ctx = TaskContext::new(&launch, kill.clone());
        let seen = ctx.run(|| {
            let c = TaskContext::get().expect("inside a task");
            assert!(!c.is_interrupted());
            kill.kill("another attempt succeeded".into());
            (
                c.stage_id(),
                c.stage_attempt_number(),
                c.partition_id(),
                c.attempt_number(),
                c.task_attempt_id(),
                c.is_interrupted(),
                c.kill_reason(),
            )
        });
        assert_eq!(
            seen,
            (
                3,
                1,
                7,
                2,
                42,
                true,
                Some("another attempt succeeded".into())
            )
        );
        assert!(TaskContext::get().is_none(), "reset after the task");
        kill.kill("a second reason".into());
        assert_eq!(kill.reason().as_deref(), Some("another attempt succeeded"));
    }
}
