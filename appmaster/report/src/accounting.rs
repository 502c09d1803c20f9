//! Accounting from an event log: what one run held, used and waited for.
//!
//! Everything is computed from the log's events and their millisecond timestamps:
//!
//! - **wall time**: `ApplicationStart` → `ApplicationEnd` (the driver's life; the AM registers
//!   just before it writes `ApplicationStart`).
//! - **job time**: the sum over jobs of `JobStart` → `JobEnd`.
//! - **executor-seconds**: each executor from `ExecutorAdded` to its `ExecutorRemoved`, or to
//!   `ApplicationEnd` if it is still there then (executors stopped at the end are not logged as
//!   removed). **Idle executor-seconds**: the part of that during which the executor ran no
//!   task.
//! - **MB-seconds and vcore-seconds**, counted as YARN's "aggregate resource allocation" is:
//!   every container of the application, from its allocation to its release, times its size.
//!   Executor containers: `ContainerAllocated` → `ExecutorRemoved` of the executor started in
//!   it (or `ContainerReleased` for a container given back unused, or `ApplicationEnd`), at the
//!   executor container size of `ApplicationStart`; the AM container: `ApplicationStart` →
//!   `ApplicationEnd` at the driver container size. The RM counts from its allocation to the
//!   NM's report of the process's exit, so it sees a little more at both ends (the AM's
//!   start-up before `ApplicationStart`, the processes' exit after `ApplicationEnd`): tens of
//!   milliseconds per container, well under 1% of a run of seconds.
//! - **peak and mean executors**: the most registered at once, and executor-seconds over the
//!   window's length.
//! - **tasks**: task attempts started.
//! - **scale-up delay**: see [`ScaleUp`].
//!
//! Per job the same figures are taken over the job's window (`JobStart` → `JobEnd`); its
//! MB-seconds include the AM, which the application holds throughout.

use am_core::eventlog::{AppEvent, LogLine};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One executor's life.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorSpan {
    pub id: String,
    pub container: Option<String>,
    pub added: u64,
    /// `ExecutorRemoved`, or the end of the application.
    pub removed: u64,
    /// The `ExecutorRemoved` reason; `None` when it was still there at the end.
    pub reason: Option<String>,
    /// Task slots (cores / task cpus).
    pub slots: u32,
    /// When it ran at least one task: disjoint, sorted.
    pub busy: Vec<(u64, u64)>,
    /// Its first task's start.
    pub first_task: Option<u64>,
}

/// One container's allocation, as the RM counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpan {
    pub id: String,
    /// The executor started in it; `None` for a container given back unused.
    pub executor: Option<String>,
    pub allocated: u64,
    pub released: u64,
    pub memory_mb: u64,
    pub vcores: u32,
}

/// One scale-up: tasks were waiting with no free slot, and an executor added after that
/// moment ran its first task.
///
/// Precisely, walking the log in order and keeping, after each event, the pending tasks
/// (tasks of submitted, not yet completed stages that have neither succeeded nor are running)
/// and the free slots (the registered executors' slots not running a task):
///
/// - a **backlog starts** at the first event after which there are pending tasks and no free
///   slot (e.g. a stage submitted while every slot is busy, or the last free slot taken by a
///   new stage's task), or at a `TargetChanged` increase while tasks are pending, whichever
///   comes first; it lasts until no task is pending (then it ends without a scale-up) or until
///   the scale-up below;
/// - the **scale-up** is the first `TaskStart` of an executor whose `ExecutorAdded` comes
///   after the backlog's start in the log (so an executor that was already there, idle or
///   busy, never counts);
/// - **delay** = that `TaskStart` − the backlog's start. It includes the allocation manager's
///   backlog timeout (`schedulerBacklogTimeout`, or the sustained one for later steps of a
///   ramp): it is what a user waits. **start latency** = that `TaskStart` − the first target
///   increase within the backlog: what the cluster and the runtime take to act on a decision
///   (allocation, launch, registration, first task).
///
/// A backlog still pending after a scale-up starts a new one at that `TaskStart` (the next
/// step of a ramp). Under static allocation a scale-up is an executor that arrives after the
/// job started (e.g. one that waited for another application's containers).
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleUp {
    pub backlog_start: u64,
    /// The first `TargetChanged` increase within the backlog.
    pub target_raised: Option<u64>,
    pub executor: String,
    pub first_task: u64,
}

impl ScaleUp {
    pub fn delay_ms(&self) -> u64 {
        self.first_task.saturating_sub(self.backlog_start)
    }

    pub fn start_latency_ms(&self) -> Option<u64> {
        self.target_raised
            .map(|t| self.first_task.saturating_sub(t))
    }
}

/// What was held and used over a window of time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub wall_ms: u64,
    /// Executor-milliseconds.
    pub executor_ms: u64,
    /// Executor-milliseconds without a running task.
    pub idle_executor_ms: u64,
    /// MB × milliseconds (all containers, the AM's included).
    pub memory_mb_ms: u128,
    /// vcores × milliseconds.
    pub vcore_ms: u128,
    pub peak_executors: u32,
    /// Task attempts started.
    pub tasks: u32,
}

impl Usage {
    pub fn wall_s(&self) -> f64 {
        self.wall_ms as f64 / 1000.0
    }
    pub fn executor_s(&self) -> f64 {
        self.executor_ms as f64 / 1000.0
    }
    pub fn idle_executor_s(&self) -> f64 {
        self.idle_executor_ms as f64 / 1000.0
    }
    /// MB-seconds, rounded down as YARN reports them.
    pub fn mb_seconds(&self) -> u64 {
        (self.memory_mb_ms / 1000) as u64
    }
    /// vcore-seconds, rounded down as YARN reports them.
    pub fn vcore_seconds(&self) -> u64 {
        (self.vcore_ms / 1000) as u64
    }
    /// Mean executors registered over the window.
    pub fn mean_executors(&self) -> f64 {
        if self.wall_ms == 0 {
            0.0
        } else {
            self.executor_ms as f64 / self.wall_ms as f64
        }
    }
}

/// One job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobAccount {
    pub job: u32,
    pub start: u64,
    pub end: u64,
    pub succeeded: bool,
    /// Tasks the job asked for (`JobStart.num_tasks`).
    pub num_tasks: u32,
    /// Over `start..end`; `usage.tasks` counts the attempts of this job's stages.
    pub usage: Usage,
    /// Scale-ups whose backlog started during this job.
    pub scale_ups: Vec<ScaleUp>,
}

impl JobAccount {
    pub fn duration_ms(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// One application run.
#[derive(Debug, Clone, PartialEq)]
pub struct AppAccount {
    pub app_id: String,
    pub app_name: String,
    pub dynamic: bool,
    /// `spark.app.submitTime` (set by spindle-submit), when present.
    pub submit_time: Option<u64>,
    pub start: u64,
    pub end: u64,
    /// `None` when the log has no `ApplicationEnd` (the end is then its last event).
    pub final_status: Option<String>,
    pub executor_memory_mb: u64,
    pub executor_cores: u32,
    pub driver_memory_mb: u64,
    pub driver_vcores: u32,
    /// When the AM's container was allocated (the RM counts it from then).
    pub am_allocated: u64,
    /// Spark properties in effect.
    pub conf: BTreeMap<String, String>,
    /// Over the whole application.
    pub usage: Usage,
    pub jobs: Vec<JobAccount>,
    pub executors: Vec<ExecutorSpan>,
    pub containers: Vec<ContainerSpan>,
    pub scale_ups: Vec<ScaleUp>,
    /// Registered executors: (time, count from then on), starting at `start`.
    pub executor_series: Vec<(u64, u32)>,
    /// Running tasks: (time, count from then on), starting at `start`.
    pub task_series: Vec<(u64, u32)>,
    /// Every task attempt's start, in order.
    pub task_starts: Vec<u64>,
    pub first_task: Option<u64>,
}

impl AppAccount {
    /// Sum of the jobs' durations.
    pub fn job_ms(&self) -> u64 {
        self.jobs.iter().map(JobAccount::duration_ms).sum()
    }

    /// Submission → the AM running (`ApplicationStart`), when the submit time is known.
    pub fn queue_to_running_ms(&self) -> Option<u64> {
        self.submit_time.map(|s| self.start.saturating_sub(s))
    }

    /// Submission → the first task running on an executor, when both are known.
    pub fn queue_to_first_task_ms(&self) -> Option<u64> {
        self.submit_time
            .zip(self.first_task)
            .map(|(s, f)| f.saturating_sub(s))
    }

    /// Submission (or start) → end.
    pub fn turnaround_ms(&self) -> u64 {
        self.end
            .saturating_sub(self.submit_time.unwrap_or(self.start))
    }

    /// Median scale-up delay.
    pub fn median_scale_up_ms(&self) -> Option<u64> {
        median(self.scale_ups.iter().map(ScaleUp::delay_ms).collect())
    }

    /// Median start latency (target raised → first task on the new executor).
    pub fn median_start_latency_ms(&self) -> Option<u64> {
        median(
            self.scale_ups
                .iter()
                .filter_map(ScaleUp::start_latency_ms)
                .collect(),
        )
    }

    /// The same figures over any window (clipped to the application).
    pub fn usage_between(&self, from: u64, to: u64) -> Usage {
        usage(self, from.max(self.start), to.min(self.end), None)
    }
}

pub use am_core::allocation::manager::median;

/// An event log that cannot be accounted for.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the event log has no ApplicationStart event")]
    NoStart,
}

#[derive(Default)]
struct StageState {
    job: u32,
    num_tasks: u32,
    succeeded: BTreeSet<u32>,
    running: BTreeSet<u64>,
}

impl StageState {
    fn pending(&self) -> u32 {
        self.num_tasks
            .saturating_sub(self.succeeded.len() as u32 + self.running.len() as u32)
    }
}

struct LiveExecutor {
    span: usize,
    /// Position of its `ExecutorAdded` in the log.
    added_seq: usize,
    slots: u32,
    running: BTreeSet<u64>,
    busy_since: Option<u64>,
}

struct Episode {
    start: u64,
    /// Position in the log of the event that started it.
    start_seq: usize,
    target_raised: Option<u64>,
}

/// Accounts for one application's event log (as read by [`history::log::read`]).
pub fn account(lines: &[LogLine]) -> Result<AppAccount, AccountError> {
    let start_idx = lines
        .iter()
        .position(|l| matches!(l.event, AppEvent::ApplicationStart { .. }))
        .ok_or(AccountError::NoStart)?;
    let start_line = &lines[start_idx];
    let AppEvent::ApplicationStart {
        app_id,
        app_name,
        dynamic_allocation,
        executor_cores,
        executor_memory_mb,
        conf,
        driver_memory_mb,
        driver_vcores,
        am_allocated_ms,
        ..
    } = &start_line.event
    else {
        unreachable!("matched above")
    };
    let driver = if *driver_memory_mb == 0 {
        am_core::sparkconf::driver_container_of(conf)
    } else {
        common::Resource::new(*driver_memory_mb, (*driver_vcores).max(1))
    };
    let task_cpus: u32 = conf
        .get("spark.task.cpus")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut app = AppAccount {
        app_id: app_id.clone(),
        app_name: app_name.clone(),
        dynamic: *dynamic_allocation,
        submit_time: conf
            .get("spark.app.submitTime")
            .and_then(|v| v.trim().parse().ok()),
        start: start_line.ts,
        end: start_line.ts,
        final_status: None,
        executor_memory_mb: *executor_memory_mb,
        executor_cores: *executor_cores,
        driver_memory_mb: driver.memory_mb,
        driver_vcores: driver.vcores,
        am_allocated: if *am_allocated_ms > 0 && *am_allocated_ms <= start_line.ts {
            *am_allocated_ms
        } else {
            start_line.ts
        },
        conf: conf.clone(),
        usage: Usage::default(),
        jobs: Vec::new(),
        executors: Vec::new(),
        containers: Vec::new(),
        scale_ups: Vec::new(),
        executor_series: vec![(start_line.ts, 0)],
        task_series: vec![(start_line.ts, 0)],
        task_starts: Vec::new(),
        first_task: None,
    };

    let mut stages: HashMap<u32, StageState> = HashMap::new();
    let mut stage_job: HashMap<u32, u32> = HashMap::new();
    let mut job_tasks: HashMap<u32, u32> = HashMap::new();
    let mut live: HashMap<String, LiveExecutor> = HashMap::new();
    let mut open_containers: HashMap<String, usize> = HashMap::new();
    let mut container_of_executor: HashMap<String, String> = HashMap::new();
    let mut episode: Option<Episode> = None;
    let mut running_tasks: u32 = 0;
    let mut ended = false;
    let mut jobs_ended: BTreeSet<usize> = BTreeSet::new();
    let mut last_ts = start_line.ts;

    for (seq, line) in lines.iter().enumerate().skip(start_idx + 1) {
        let ts = line.ts.max(app.start);
        last_ts = last_ts.max(ts);
        match &line.event {
            AppEvent::ApplicationStart { .. } => {
                // Another attempt appended to the same log: account for this one only up to
                // here; the new attempt's events follow.
                continue;
            }
            AppEvent::ApplicationEnd { final_status, .. } => {
                app.final_status = Some(final_status.clone());
                app.end = ts;
                ended = true;
                break;
            }
            AppEvent::JobStart { job, num_tasks, .. } => {
                app.jobs.push(JobAccount {
                    job: *job,
                    start: ts,
                    end: ts,
                    succeeded: false,
                    num_tasks: *num_tasks,
                    usage: Usage::default(),
                    scale_ups: Vec::new(),
                });
            }
            AppEvent::JobEnd { job, succeeded, .. } => {
                if let Some(i) = app.jobs.iter().rposition(|j| j.job == *job) {
                    app.jobs[i].end = ts;
                    app.jobs[i].succeeded = *succeeded;
                    jobs_ended.insert(i);
                }
            }
            AppEvent::StageSubmitted {
                stage,
                job,
                num_tasks,
                ..
            } => {
                stage_job.insert(*stage, *job);
                stages.insert(
                    *stage,
                    StageState {
                        job: *job,
                        num_tasks: *num_tasks,
                        ..Default::default()
                    },
                );
            }
            AppEvent::StageCompleted { stage, .. } => {
                stages.remove(stage);
            }
            AppEvent::TaskStart { stage, task, .. } => {
                if let Some(s) = stages.get_mut(stage) {
                    s.running.insert(task.task_id);
                    *job_tasks.entry(s.job).or_default() += 1;
                } else if let Some(j) = stage_job.get(stage) {
                    *job_tasks.entry(*j).or_default() += 1;
                }
                app.usage.tasks += 1;
                app.task_starts.push(ts);
                app.first_task.get_or_insert(ts);
                running_tasks += 1;
                push_step(&mut app.task_series, ts, running_tasks);
                if let Some(e) = live.get_mut(&task.executor) {
                    e.running.insert(task.task_id);
                    e.busy_since.get_or_insert(ts);
                    let span = &mut app.executors[e.span];
                    let first = span.first_task.is_none();
                    if first {
                        span.first_task = Some(ts);
                    }
                    if let Some(ep) = &episode {
                        if first && e.added_seq > ep.start_seq {
                            app.scale_ups.push(ScaleUp {
                                backlog_start: ep.start,
                                target_raised: ep.target_raised,
                                executor: task.executor.clone(),
                                first_task: ts,
                            });
                            episode = None;
                        }
                    }
                }
            }
            AppEvent::TaskEnd {
                stage,
                task,
                reason,
                ..
            } => {
                if let Some(s) = stages.get_mut(stage) {
                    if s.running.remove(&task.task_id) && reason == "Success" {
                        s.succeeded.insert(task.index);
                    }
                }
                running_tasks = running_tasks.saturating_sub(1);
                push_step(&mut app.task_series, ts, running_tasks);
                if let Some(e) = live.get_mut(&task.executor) {
                    e.running.remove(&task.task_id);
                    if e.running.is_empty() {
                        if let Some(since) = e.busy_since.take() {
                            app.executors[e.span].busy.push((since, ts));
                        }
                    }
                }
            }
            AppEvent::ExecutorAdded {
                executor,
                cores,
                container,
                ..
            } => {
                app.executors.push(ExecutorSpan {
                    id: executor.clone(),
                    container: Some(container.clone()),
                    added: ts,
                    removed: ts,
                    reason: None,
                    slots: (cores / task_cpus).max(1),
                    busy: Vec::new(),
                    first_task: None,
                });
                container_of_executor.insert(executor.clone(), container.clone());
                live.insert(
                    executor.clone(),
                    LiveExecutor {
                        span: app.executors.len() - 1,
                        added_seq: seq,
                        slots: (cores / task_cpus).max(1),
                        running: BTreeSet::new(),
                        busy_since: None,
                    },
                );
                push_step(&mut app.executor_series, ts, live.len() as u32);
            }
            AppEvent::ExecutorRemoved { executor, reason } => {
                if let Some(e) = live.remove(executor) {
                    let span = &mut app.executors[e.span];
                    span.removed = ts;
                    span.reason = Some(reason.clone());
                    if let Some(since) = e.busy_since {
                        span.busy.push((since, ts));
                    }
                    push_step(&mut app.executor_series, ts, live.len() as u32);
                }
                // The container goes with its executor (whether or not it ever registered).
                let container = container_of_executor.get(executor).cloned().or_else(|| {
                    app.containers
                        .iter()
                        .find(|c| c.executor.as_deref() == Some(executor))
                        .map(|c| c.id.clone())
                });
                if let Some(c) = container {
                    if let Some(i) = open_containers.remove(&c) {
                        app.containers[i].released = ts;
                    }
                }
            }
            AppEvent::ContainerAllocated {
                container,
                executor,
                ..
            } => {
                if let Some(x) = executor {
                    container_of_executor.insert(x.clone(), container.clone());
                }
                app.containers.push(ContainerSpan {
                    id: container.clone(),
                    executor: executor.clone(),
                    allocated: ts,
                    released: ts,
                    memory_mb: *executor_memory_mb,
                    vcores: *executor_cores,
                });
                open_containers.insert(container.clone(), app.containers.len() - 1);
            }
            AppEvent::ContainerReleased { container, .. } => {
                if let Some(i) = open_containers.remove(container) {
                    app.containers[i].released = ts;
                }
            }
            AppEvent::TargetChanged { old, new } => {
                let pending: u32 = stages.values().map(StageState::pending).sum();
                if new > old && pending > 0 {
                    match &mut episode {
                        Some(ep) => {
                            ep.target_raised.get_or_insert(ts);
                        }
                        None => {
                            episode = Some(Episode {
                                start: ts,
                                start_seq: seq,
                                target_raised: Some(ts),
                            })
                        }
                    }
                }
            }
            _ => {}
        }
        // The backlog after this event.
        let pending: u32 = stages.values().map(StageState::pending).sum();
        if pending == 0 {
            episode = None;
        } else if episode.is_none() {
            let free: u32 = live
                .values()
                .map(|e| e.slots.saturating_sub(e.running.len() as u32))
                .sum();
            if free == 0 {
                episode = Some(Episode {
                    start: ts,
                    start_seq: seq,
                    target_raised: None,
                });
            }
        }
    }
    if !ended {
        app.end = last_ts;
    }

    // Close what is still open at the end.
    let end = app.end;
    for e in live.into_values() {
        let span = &mut app.executors[e.span];
        span.removed = end;
        if let Some(since) = e.busy_since {
            span.busy.push((since, end));
        }
    }
    for i in open_containers.into_values() {
        app.containers[i].released = end;
    }
    for (i, j) in app.jobs.iter_mut().enumerate() {
        if !jobs_ended.contains(&i) {
            // Still running at the end (a failed or killed application).
            j.end = end;
        }
    }
    for span in &mut app.executors {
        span.removed = span.removed.clamp(span.added, end);
        for b in &mut span.busy {
            b.1 = b.1.min(end);
        }
    }
    for c in &mut app.containers {
        c.released = c.released.clamp(c.allocated, end);
    }
    for s in [&mut app.executor_series, &mut app.task_series] {
        s.retain(|(t, _)| *t <= end);
    }

    // The whole application, from its AM container's allocation (as the RM counts it).
    app.usage = usage(
        &app,
        app.am_allocated.min(app.start),
        app.end,
        Some(app.usage.tasks),
    );
    let jobs: Vec<JobAccount> = app
        .jobs
        .iter()
        .map(|j| {
            let mut j = j.clone();
            j.usage = usage(&app, j.start, j.end, job_tasks.get(&j.job).copied());
            j.scale_ups = app
                .scale_ups
                .iter()
                .filter(|s| s.backlog_start >= j.start && s.backlog_start <= j.end)
                .cloned()
                .collect();
            j
        })
        .collect();
    app.jobs = jobs;
    Ok(app)
}

fn push_step(series: &mut Vec<(u64, u32)>, ts: u64, value: u32) {
    match series.last_mut() {
        Some(last) if last.0 == ts => last.1 = value,
        _ => series.push((ts, value)),
    }
}

fn overlap(a: (u64, u64), from: u64, to: u64) -> u64 {
    a.1.min(to).saturating_sub(a.0.max(from))
}

/// The figures over `from..to`; `tasks` as given, or counted from the series if `None`.
fn usage(app: &AppAccount, from: u64, to: u64, tasks: Option<u32>) -> Usage {
    let to = to.max(from);
    let mut u = Usage {
        wall_ms: to - from,
        ..Default::default()
    };
    for e in &app.executors {
        let held = overlap((e.added, e.removed), from, to);
        let busy: u64 = e.busy.iter().map(|b| overlap(*b, from, to)).sum();
        u.executor_ms += held;
        u.idle_executor_ms += held.saturating_sub(busy);
    }
    for c in &app.containers {
        let held = overlap((c.allocated, c.released), from, to) as u128;
        u.memory_mb_ms += held * u128::from(c.memory_mb);
        u.vcore_ms += held * u128::from(c.vcores);
    }
    let am = overlap((app.am_allocated.min(app.start), app.end), from, to) as u128;
    u.memory_mb_ms += am * u128::from(app.driver_memory_mb);
    u.vcore_ms += am * u128::from(app.driver_vcores);
    // Peak: the value in force at `from` and every change inside the window.
    let mut peak = 0;
    for (t, n) in &app.executor_series {
        if *t <= from {
            peak = *n;
        } else if *t < to {
            peak = peak.max(*n);
        }
    }
    u.peak_executors = peak;
    u.tasks = tasks.unwrap_or_else(|| {
        app.task_starts
            .iter()
            .filter(|t| **t >= from && **t < to)
            .count() as u32
    });
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_clips() {
        assert_eq!(overlap((0, 10), 5, 20), 5);
        assert_eq!(overlap((0, 10), 10, 20), 0);
        assert_eq!(overlap((30, 40), 10, 20), 0);
    }

    #[test]
    fn median_is_the_middle() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(vec![4, 1]), Some(2));
    }
}
