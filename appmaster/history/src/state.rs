//! The UI's state, folded from the application's events (live, or read back from an
//! event log).

use crate::metrics::{AmMetrics, Gauges};
use am_core::eventlog::{AppEvent, LogLine, TaskMetrics};
use am_core::sparkconf::SparkConf;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub(crate) struct ExecutorView {
    pub(crate) host: String,
    pub(crate) cores: u32,
    pub(crate) container: String,
    pub(crate) tasks: TaskCounts,
    pub(crate) task_ms: u64,
    pub(crate) add_ms: u64,
    pub(crate) remove_ms: Option<u64>,
    pub(crate) remove_reason: Option<String>,
    /// Its log pages (`stdout`, `stderr`) on its node's web server.
    pub(crate) log_urls: BTreeMap<String, String>,
    /// Cached partitions it holds: (rdd, partition).
    pub(crate) blocks: BTreeSet<(u32, u32)>,
    /// Shuffle bytes its finished tasks read and wrote, and input they read.
    pub(crate) io: TaskMetrics,
}

/// A cached RDD (Spark's `RDDStorageInfo`): which executor holds each cached partition.
#[derive(Debug, Clone, Default)]
pub(crate) struct RddView {
    pub(crate) num_partitions: u32,
    pub(crate) partitions: BTreeMap<u32, BTreeSet<String>>,
}

impl RddView {
    /// The executors that hold any of its partitions.
    pub(crate) fn holders(&self) -> BTreeSet<&str> {
        self.partitions
            .values()
            .flatten()
            .map(String::as_str)
            .collect()
    }
}

/// Task attempts by where they stand, as Spark's status listener counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TaskCounts {
    pub(crate) active: u32,
    pub(crate) completed: u32,
    pub(crate) failed: u32,
    /// Killed attempts (losers of speculative races): neither done nor failed.
    pub(crate) killed: u32,
}

impl TaskCounts {
    fn ended(&mut self, outcome: TaskOutcome) {
        self.active = self.active.saturating_sub(1);
        match outcome {
            TaskOutcome::Success => self.completed += 1,
            TaskOutcome::Failed => self.failed += 1,
            TaskOutcome::Killed => self.killed += 1,
        }
    }

    /// Every attempt that ran or runs, killed ones aside (Spark's `totalTasks`).
    pub(crate) fn total(&self) -> u32 {
        self.active + self.completed + self.failed
    }
}

/// How a task attempt ended, from its event's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskOutcome {
    Success,
    /// The loser of a speculative race: neither done nor failed.
    Killed,
    Failed,
}

impl TaskOutcome {
    fn from_reason(reason: &str) -> Self {
        match reason {
            "Success" => Self::Success,
            "TaskKilled" | "Killed" => Self::Killed,
            _ => Self::Failed,
        }
    }

    /// Its names: the task's status in Spark's REST API, and the `outcome` label of the
    /// AM's finished-tasks counter.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Success => ("SUCCESS", "success"),
            Self::Killed => ("KILLED", "killed"),
            Self::Failed => ("FAILED", "failed"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct JobView {
    pub(crate) description: String,
    pub(crate) stages: Vec<u32>,
    pub(crate) num_tasks: u32,
    pub(crate) counts: TaskCounts,
    pub(crate) submitted_ms: u64,
    pub(crate) completed_ms: Option<u64>,
    pub(crate) status: &'static str,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct StageView {
    pub(crate) job: u32,
    /// The latest attempt.
    pub(crate) attempt: u32,
    pub(crate) name: String,
    pub(crate) num_tasks: u32,
    pub(crate) counts: TaskCounts,
    /// Every task attempt of the stage (all its attempts), by task id.
    pub(crate) tasks: BTreeMap<u64, TaskView>,
    /// Sum and maximum of finished tasks' durations.
    pub(crate) task_ms: u64,
    pub(crate) max_task_ms: u64,
    pub(crate) submitted_ms: u64,
    pub(crate) completed_ms: Option<u64>,
    pub(crate) status: &'static str,
    pub(crate) failure: Option<String>,
    pub(crate) io: TaskMetrics,
}

/// One task attempt (what Spark's `TaskData` shows).
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskView {
    pub(crate) stage_attempt: u32,
    pub(crate) index: u32,
    pub(crate) attempt: u32,
    pub(crate) executor: String,
    pub(crate) host: String,
    pub(crate) launch_ms: u64,
    /// Set when it ended.
    pub(crate) duration_ms: Option<u64>,
    /// `RUNNING`, `SUCCESS`, `FAILED` or `KILLED`, as Spark's REST API says.
    pub(crate) status: &'static str,
    /// A speculative copy.
    pub(crate) speculative: bool,
    pub(crate) error: Option<String>,
    /// What it read and wrote, once it succeeded.
    pub(crate) metrics: Option<TaskMetrics>,
}

/// What the timeline draws besides executor lifetimes, and what the
/// scale-up latency is measured from.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// Running tasks after each change: (ts, count).
    pub(crate) running: Vec<(u64, u32)>,
    pub(crate) running_now: u32,
    /// Target raises not yet met by a new executor, oldest first.
    pub(crate) raises: VecDeque<u64>,
}

/// What the UI shows, folded from events.
#[derive(Debug, Default)]
pub struct UiState {
    pub(crate) app_id: String,
    pub(crate) app_name: String,
    pub(crate) user: String,
    pub(crate) attempt: String,
    pub(crate) start_ms: u64,
    pub(crate) end_ms: Option<u64>,
    pub(crate) driver_host: String,
    /// Spark properties in effect (the Environment tab).
    pub(crate) conf: BTreeMap<String, String>,
    pub(crate) dynamic_allocation: bool,
    pub(crate) executor_cores: u32,
    pub(crate) executor_memory_mb: u64,
    pub(crate) rdds: BTreeMap<u32, RddView>,
    pub(crate) executors: BTreeMap<String, ExecutorView>,
    pub(crate) jobs: BTreeMap<u32, JobView>,
    pub(crate) stages: BTreeMap<u32, StageView>,
    pub(crate) target: Vec<(u64, i64)>,
    pub(crate) timeline: Timeline,
    pub(crate) metrics: Option<Arc<AmMetrics>>,
}

impl UiState {
    pub fn new(driver_host: String) -> Self {
        Self {
            driver_host,
            ..Default::default()
        }
    }

    /// A UI whose events also move `metrics` (the live AM's).
    pub fn with_metrics(mut self, metrics: Arc<AmMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The UI of a (finished) application, from its event log.
    pub fn from_log(lines: &[LogLine]) -> Self {
        let mut s = Self::default();
        for l in lines {
            s.apply(l);
        }
        s
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn apply(&mut self, line: &LogLine) {
        let ts = line.ts;
        match &line.event {
            AppEvent::ApplicationStart {
                app_id,
                app_name,
                attempt,
                user,
                dynamic_allocation,
                conf,
                executor_cores,
                executor_memory_mb,
                ..
            } => {
                self.executor_cores = *executor_cores;
                self.executor_memory_mb = *executor_memory_mb;
                self.conf = conf.clone();
                self.dynamic_allocation = *dynamic_allocation;
                self.app_id = app_id.clone();
                self.app_name = app_name.clone();
                self.attempt = attempt.clone();
                self.user = user.clone();
                self.start_ms = ts;
                if !dynamic_allocation {
                    // Static allocation: the target is spark.executor.instances throughout.
                    let n = SparkConf::from(conf.clone()).static_executors();
                    self.target.push((ts, i64::from(n)));
                }
            }
            AppEvent::ApplicationEnd { .. } => {
                self.end_ms = Some(ts);
                // Executors still registered went with the application.
                for e in self.executors.values_mut() {
                    if e.remove_ms.is_none() {
                        e.remove_ms = Some(ts);
                        e.remove_reason = Some("application ended".into());
                        e.tasks.active = 0;
                    }
                    e.blocks.clear();
                }
                // So did every cached block.
                self.rdds.clear();
            }
            AppEvent::ExecutorAdded {
                executor,
                host,
                cores,
                container,
                log_urls,
                ..
            } => {
                self.executors.insert(
                    executor.clone(),
                    ExecutorView {
                        host: host.clone(),
                        cores: *cores,
                        container: container.clone(),
                        log_urls: log_urls.clone(),
                        add_ms: ts,
                        ..Default::default()
                    },
                );
                let raised = self.timeline.raises.pop_front();
                if let Some(m) = &self.metrics {
                    m.executors_added.inc();
                    if let Some(t) = raised {
                        m.scale_up.observe(ts.saturating_sub(t) as f64 / 1e3);
                    }
                }
            }
            AppEvent::ExecutorRemoved { executor, reason } => {
                if let Some(e) = self.executors.get_mut(executor) {
                    if e.remove_ms.is_none() {
                        e.remove_ms = Some(ts);
                        e.remove_reason = Some(reason.clone());
                        e.tasks.active = 0;
                        if let Some(m) = &self.metrics {
                            m.executors_removed.inc();
                        }
                    }
                    // Its cached blocks went with it.
                    for (rdd, part) in std::mem::take(&mut e.blocks) {
                        if let Some(r) = self.rdds.get_mut(&rdd) {
                            if let Some(holders) = r.partitions.get_mut(&part) {
                                holders.remove(executor);
                                if holders.is_empty() {
                                    r.partitions.remove(&part);
                                }
                            }
                        }
                    }
                }
            }
            AppEvent::BlockCached {
                executor,
                rdd,
                partition,
                num_partitions,
            } => {
                let r = self.rdds.entry(*rdd).or_default();
                r.num_partitions = r.num_partitions.max(*num_partitions).max(partition + 1);
                r.partitions
                    .entry(*partition)
                    .or_default()
                    .insert(executor.clone());
                if let Some(e) = self.executors.get_mut(executor) {
                    e.blocks.insert((*rdd, *partition));
                }
            }
            AppEvent::JobStart {
                job,
                description,
                stages,
                num_tasks,
            } => {
                self.jobs.insert(
                    *job,
                    JobView {
                        description: description.clone(),
                        stages: stages.clone(),
                        num_tasks: *num_tasks,
                        submitted_ms: ts,
                        status: "RUNNING",
                        ..Default::default()
                    },
                );
            }
            AppEvent::JobEnd { job, succeeded, .. } => {
                if let Some(j) = self.jobs.get_mut(job) {
                    j.status = if *succeeded { "SUCCEEDED" } else { "FAILED" };
                    j.completed_ms = Some(ts);
                    j.counts.active = 0;
                }
            }
            AppEvent::StageSubmitted {
                stage,
                attempt,
                job,
                name,
                num_tasks,
            } => {
                // A resubmitted stage keeps its earlier attempts' tasks.
                let tasks = self
                    .stages
                    .remove(stage)
                    .map(|s| s.tasks)
                    .unwrap_or_default();
                self.stages.insert(
                    *stage,
                    StageView {
                        job: *job,
                        attempt: *attempt,
                        name: name.clone(),
                        num_tasks: *num_tasks,
                        submitted_ms: ts,
                        status: "ACTIVE",
                        tasks,
                        ..Default::default()
                    },
                );
            }
            AppEvent::StageCompleted { stage, failure, .. } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    s.status = if failure.is_some() {
                        "FAILED"
                    } else {
                        "COMPLETE"
                    };
                    s.failure = failure.clone();
                    s.completed_ms = Some(ts);
                    s.counts.active = 0;
                }
            }
            AppEvent::TaskStart {
                stage,
                stage_attempt,
                task,
            } => {
                if let Some(e) = self.executors.get_mut(&task.executor) {
                    e.tasks.active += 1;
                }
                if let Some(s) = self.stages.get_mut(stage) {
                    s.tasks.insert(
                        task.task_id,
                        TaskView {
                            stage_attempt: *stage_attempt,
                            index: task.index,
                            attempt: task.attempt,
                            executor: task.executor.clone(),
                            host: task.host.clone(),
                            launch_ms: ts,
                            duration_ms: None,
                            status: "RUNNING",
                            speculative: task.speculative,
                            error: None,
                            metrics: None,
                        },
                    );
                    s.counts.active += 1;
                    if let Some(j) = self.jobs.get_mut(&s.job) {
                        j.counts.active += 1;
                    }
                }
                self.timeline.running_now += 1;
                self.push_running(ts);
            }
            AppEvent::TaskEnd {
                stage,
                task,
                reason,
                error,
                duration_ms,
                metrics,
                ..
            } => {
                let outcome = TaskOutcome::from_reason(reason);
                if let Some(e) = self.executors.get_mut(&task.executor) {
                    e.tasks.ended(outcome);
                    e.task_ms += duration_ms;
                    if let Some(m) = metrics {
                        e.io.add(m);
                    }
                }
                if let Some(s) = self.stages.get_mut(stage) {
                    if let Some(t) = s.tasks.get_mut(&task.task_id) {
                        t.duration_ms = Some(*duration_ms);
                        t.status = outcome.names().0;
                        t.error = error.clone();
                        t.metrics = metrics.clone();
                    }
                    if let Some(m) = metrics {
                        s.io.add(m);
                    }
                    s.counts.ended(outcome);
                    s.task_ms += duration_ms;
                    s.max_task_ms = s.max_task_ms.max(*duration_ms);
                    if let Some(j) = self.jobs.get_mut(&s.job) {
                        j.counts.ended(outcome);
                    }
                }
                self.timeline.running_now = self.timeline.running_now.saturating_sub(1);
                self.push_running(ts);
                if let Some(m) = &self.metrics {
                    m.tasks_finished
                        .get_or_create(&vec![("outcome", outcome.names().1)])
                        .inc();
                }
            }
            AppEvent::TargetChanged { old, new } => {
                self.target.push((ts, *new));
                let raises = &mut self.timeline.raises;
                if new > old {
                    let more = (new - old).min(10_000) as usize;
                    raises.extend(std::iter::repeat_n(ts, more));
                } else {
                    // A lower target withdraws the newest raises.
                    for _ in 0..(old - new) {
                        if raises.pop_back().is_none() {
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn push_running(&mut self, ts: u64) {
        let n = self.timeline.running_now;
        let r = &mut self.timeline.running;
        match r.last_mut() {
            Some(last) if last.0 == ts => last.1 = n,
            _ => r.push((ts, n)),
        }
    }

    /// The metrics' text with gauges from this state (empty without metrics).
    pub fn render_metrics(&self) -> String {
        let Some(m) = &self.metrics else {
            return String::new();
        };
        let running = self.active_executors() as i64;
        let (pending_tasks, running_tasks) = self.task_counts();
        m.render(Gauges {
            target: self.current_target().unwrap_or(running),
            running,
            pending_tasks,
            running_tasks,
        })
    }

    pub(crate) fn active_executors(&self) -> usize {
        self.executors
            .values()
            .filter(|e| e.remove_ms.is_none())
            .count()
    }

    pub(crate) fn current_target(&self) -> Option<i64> {
        self.target.last().map(|(_, t)| *t)
    }

    /// (pending, running) tasks of active stages.
    pub(crate) fn task_counts(&self) -> (u32, u32) {
        let mut pending = 0;
        let mut running = 0;
        for s in self.stages.values().filter(|s| s.status == "ACTIVE") {
            running += s.counts.active;
            pending += s
                .num_tasks
                .saturating_sub(s.counts.completed + s.counts.active);
        }
        (pending, running)
    }

    /// Executors by add time (then id, numerically).
    pub(crate) fn sorted_executors(&self) -> Vec<(&String, &ExecutorView)> {
        let mut v: Vec<_> = self.executors.iter().collect();
        v.sort_by_key(|(id, e)| {
            (
                e.add_ms,
                id.parse::<u64>().unwrap_or(u64::MAX),
                (*id).clone(),
            )
        });
        v
    }
}
