//! The allocation decisions (Spark's `ExecutorAllocationManager`), as a plain state machine.
//!
//! Feed it scheduler events with [`ExecutorAllocationManager::on_event`] and call
//! [`ExecutorAllocationManager::tick`] periodically (Spark runs it every 100 ms). Time is
//! always passed in, in milliseconds.
//!
//! The target grows while tasks are backlogged: once they have waited
//! `schedulerBacklogTimeout`, and again every `sustainedSchedulerBacklogTimeout` while the
//! backlog lasts, by 1, 2, 4, ... executors, capped by what pending and running tasks need
//! (times `executorAllocationRatio`) and by `maxExecutors`. It drops to what is needed (but not
//! below `minExecutors`) as soon as fewer executors are needed. Executors idle past their
//! timeout are removed, never below `minExecutors` nor the current target.
//!
//! Under the eager policy (`spindle.dynamicAllocation.policy=eager`) the target follows what
//! the pending and running tasks need, capped by `maxExecutors` and at least
//! `minExecutors`, after every event and every round: no backlog timer, no ramp. Executors
//! idle past the eager idle timeout (derived from the measured executor start latencies, see
//! [`AllocationConfig::eager_executor_idle_timeout_ms`]) are removed under the same floors
//! and with the same cached-block and shuffle-tracking rules as Spark's.

use std::collections::{BTreeMap, VecDeque};

use super::config::{AllocationConfig, AllocationPolicy, ConfigError};
use super::event::{ListenerEvent, StageAttempt, TaskEndReason, TaskIndex, TaskInfo};
use super::listener::{ExecutorAllocationListener, PlacementHints};
use super::monitor::{ExecutorMonitor, DEFAULT_RESOURCE_PROFILE_ID, UNKNOWN_RESOURCE_PROFILE_ID};
use crate::ids::ExecutorId;

/// How the removed executors should be taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RemovalKind {
    /// Kill them (the default).
    #[default]
    Kill,
    /// Decommission them gracefully (`spark.decommission.enabled`).
    Decommission,
}

/// What one periodic round decided; the caller carries it out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TickOutcome {
    /// The target changed from `.0` to `.1`: send the new total to the cluster manager.
    pub target_changed: Option<(i64, i64)>,
    /// Executors to remove now (idle past their timeout), sorted by id. After removing them,
    /// re-send the current target so the cluster manager does not lower it by itself.
    pub to_remove: Vec<ExecutorId>,
    /// Whether to kill or decommission `to_remove`.
    pub removal: RemovalKind,
}

impl TickOutcome {
    /// The round changed nothing: no new target and nothing to remove.
    pub fn is_quiet(&self) -> bool {
        self.target_changed.is_none() && self.to_remove.is_empty()
    }
}

/// The request to send to the cluster manager: Spark's `requestTotalExecutors` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorRequest {
    /// Total executors wanted (running plus pending).
    pub num_executors_target: i64,
    /// Pending tasks that have a locality preference.
    pub locality_aware_tasks: i64,
    /// Per host, how many pending tasks would like to run there.
    pub host_to_local_task_count: BTreeMap<String, i64>,
}

/// The eager idle timeout is derived from the median of this many most recent executor
/// start latencies.
pub const START_LATENCY_WINDOW: usize = 64;

/// Spark's `ExecutorAllocationManager` for the default resource profile (or, under
/// [`AllocationPolicy::Eager`], Spindle's eager rules).
#[derive(Debug, Clone)]
pub struct ExecutorAllocationManager {
    config: AllocationConfig,
    policy: AllocationPolicy,
    /// The most recent executor start latencies (asked → registered), in ms.
    executor_start_latencies_ms: VecDeque<u64>,
    min_num_executors: i64,
    max_num_executors: i64,
    initial_num_executors: i64,
    scheduler_backlog_timeout_ms: u64,
    sustained_scheduler_backlog_timeout_ms: u64,
    executor_allocation_ratio: f64,
    tasks_per_executor: i64,
    decommission_enabled: bool,
    /// Executors to add in the next round (1, 2, 4, ...).
    num_executors_to_add: i64,
    /// The executors wanted now, running and pending.
    num_executors_target: i64,
    /// When the backlog timer fires; `None` is Spark's `NOT_SET`.
    add_time: Option<u64>,
    /// True until a stage is submitted or an executor times out: the initial target is
    /// kept meanwhile.
    initializing: bool,
    num_locality_aware_tasks: i64,
    host_to_local_task_count: BTreeMap<String, i64>,
    listener: ExecutorAllocationListener,
    executor_monitor: ExecutorMonitor,
}

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl ExecutorAllocationManager {
    /// A manager in its starting state, or the reason Spark would refuse these settings.
    pub fn new(config: AllocationConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let initial = config.initial_num_executors();
        let mut executor_monitor = ExecutorMonitor::new(&config);
        if config.policy == AllocationPolicy::Eager {
            executor_monitor
                .set_executor_idle_timeout(Some(config.eager_executor_idle_timeout_ms(None)));
        }
        Ok(Self {
            policy: config.policy,
            executor_start_latencies_ms: VecDeque::new(),
            min_num_executors: config.min_executors,
            max_num_executors: config.max_executors,
            initial_num_executors: initial,
            scheduler_backlog_timeout_ms: ms(config.scheduler_backlog_timeout_ms),
            sustained_scheduler_backlog_timeout_ms: ms(
                config.sustained_scheduler_backlog_timeout_ms
            ),
            executor_allocation_ratio: config.executor_allocation_ratio,
            tasks_per_executor: config.tasks_per_executor(),
            decommission_enabled: config.decommission_enabled,
            num_executors_to_add: 1,
            num_executors_target: initial,
            add_time: None,
            initializing: true,
            num_locality_aware_tasks: 0,
            host_to_local_task_count: BTreeMap::new(),
            listener: ExecutorAllocationListener::default(),
            executor_monitor,
            config,
        })
    }

    /// The settings this manager runs with.
    pub fn config(&self) -> &AllocationConfig {
        &self.config
    }

    /// The rules this manager follows.
    pub fn policy(&self) -> AllocationPolicy {
        self.policy
    }

    /// An executor started: `latency_ms` from asking for it to its registration (what the
    /// application master measures). The eager policy's idle timeout follows the median of
    /// the last [`START_LATENCY_WINDOW`] of these.
    pub fn on_executor_start_latency(&mut self, latency_ms: u64) {
        if self.executor_start_latencies_ms.len() >= START_LATENCY_WINDOW {
            self.executor_start_latencies_ms.pop_front();
        }
        self.executor_start_latencies_ms.push_back(latency_ms);
        if self.policy == AllocationPolicy::Eager {
            let timeout = self
                .config
                .eager_executor_idle_timeout_ms(self.median_executor_start_latency_ms());
            self.executor_monitor
                .set_executor_idle_timeout(Some(timeout));
        }
    }

    /// The median of the recent executor start latencies (the mean of the middle two for an
    /// even count), or `None` before any was measured.
    pub fn median_executor_start_latency_ms(&self) -> Option<u64> {
        median(self.executor_start_latencies_ms.iter().copied().collect())
    }

    /// The idle timeout of an executor holding nothing, in ms (`None`: never): Spark's
    /// `executorIdleTimeout`, or the eager one.
    pub fn executor_idle_timeout_ms(&self) -> Option<u64> {
        self.executor_monitor.executor_idle_timeout_ms()
    }

    /// The executor target (Spark's `numExecutorsTarget`).
    pub fn num_executors_target(&self) -> i64 {
        self.num_executors_target
    }

    /// The next ramp-up step.
    pub fn num_executors_to_add(&self) -> i64 {
        self.num_executors_to_add
    }

    /// When the backlog timer fires, if it is set.
    pub fn add_time(&self) -> Option<u64> {
        self.add_time
    }

    /// Whether the manager still keeps its initial target (no stage submitted and no
    /// executor timed out yet).
    pub fn initializing(&self) -> bool {
        self.initializing
    }

    /// Tasks running in all stage attempts, including zombie ones.
    pub fn total_running_tasks(&self) -> i64 {
        self.listener.total_running_tasks()
    }

    /// Pending tasks with a locality preference (placement hint).
    pub fn locality_aware_tasks(&self) -> i64 {
        self.num_locality_aware_tasks
    }

    /// Per host, the pending tasks that would like to run there (placement hint).
    pub fn host_to_local_task_count(&self) -> &BTreeMap<String, i64> {
        &self.host_to_local_task_count
    }

    /// The executor monitor (per-executor idle state).
    pub fn executor_monitor(&self) -> &ExecutorMonitor {
        &self.executor_monitor
    }

    /// What to ask the cluster manager for right now.
    pub fn executor_request(&self) -> ExecutorRequest {
        ExecutorRequest {
            num_executors_target: self.num_executors_target,
            locality_aware_tasks: self.num_locality_aware_tasks,
            host_to_local_task_count: self.host_to_local_task_count.clone(),
        }
    }

    /// The executors all running and pending tasks could use at once, after the allocation
    /// ratio (Spark's `maxNumExecutorsNeededPerResourceProfile`).
    pub fn max_num_executors_needed(&self) -> i64 {
        let pending = self.listener.pending_tasks();
        let pending_speculative = self.listener.pending_speculative_tasks();
        let unschedulable_task_sets = self.listener.pending_unschedulable_task_sets();
        let running = self.listener.total_running_tasks_per_resource_profile();
        let num_running_or_pending_tasks = pending + pending_speculative + running;
        let tasks_per_executor = self.tasks_per_executor;
        let max_needed = (num_running_or_pending_tasks as f64 * self.executor_allocation_ratio
            / tasks_per_executor as f64)
            .ceil() as i64;
        let max_needed_with_speculation_locality_offset =
            if tasks_per_executor > 1 && max_needed == 1 && pending_speculative > 0 {
                // One more executor so a speculative copy can run away from its original.
                max_needed + 1
            } else {
                max_needed
            };
        if unschedulable_task_sets > 0 {
            let max_needed_for_unschedulables = (unschedulable_task_sets as f64
                * self.executor_allocation_ratio
                / tasks_per_executor as f64)
                .ceil() as i64;
            max_needed_with_speculation_locality_offset.max(
                self.executor_monitor
                    .executor_count_with_resource_profile(DEFAULT_RESOURCE_PROFILE_ID)
                    + max_needed_for_unschedulables,
            )
        } else {
            max_needed_with_speculation_locality_offset
        }
    }

    /// Handles one scheduler event. Under the eager policy the target follows at once.
    pub fn on_event(&mut self, event: &ListenerEvent, now_ms: u64) {
        self.on_listener_event(event, now_ms);
        if self.policy == AllocationPolicy::Eager {
            self.update_and_sync_num_executors_target(now_ms);
        }
    }

    fn on_listener_event(&mut self, event: &ListenerEvent, now_ms: u64) {
        match event {
            ListenerEvent::JobStart { job_id, stages } => {
                self.executor_monitor.on_job_start(*job_id, stages);
            }
            ListenerEvent::JobEnd { job_id } => self.executor_monitor.on_job_end(*job_id),
            ListenerEvent::StageSubmitted {
                stage,
                num_tasks,
                task_locality_preferences,
            } => self.on_stage_submitted(*stage, *num_tasks, task_locality_preferences, now_ms),
            ListenerEvent::StageCompleted { stage } => self.on_stage_completed(*stage),
            ListenerEvent::TaskStart { stage, task } => {
                self.on_task_start(*stage, task);
                self.executor_monitor
                    .on_task_start(task.executor_id.as_str(), now_ms);
            }
            ListenerEvent::TaskEnd {
                stage,
                task,
                reason,
            } => {
                self.on_task_end(*stage, task, *reason, now_ms);
                self.executor_monitor.on_task_end(
                    task.executor_id.as_str(),
                    stage.stage_id,
                    *reason == TaskEndReason::Success,
                    now_ms,
                );
            }
            ListenerEvent::SpeculativeTaskSubmitted { stage, task_index } => {
                self.on_speculative_task_submitted(*stage, *task_index, now_ms);
            }
            ListenerEvent::UnschedulableTaskSetAdded { stage } => {
                self.listener.unschedulable_task_sets.insert(*stage);
                self.on_scheduler_backlogged(now_ms);
            }
            ListenerEvent::UnschedulableTaskSetRemoved { stage } => {
                self.listener.unschedulable_task_sets.remove(stage);
                self.listener
                    .remove_stage_from_resource_profile_if_unused(*stage);
            }
            ListenerEvent::ExecutorAdded { executor_id } => {
                self.executor_monitor
                    .on_executor_added(executor_id.as_str(), now_ms);
            }
            ListenerEvent::ExecutorRemoved { executor_id } => {
                self.executor_monitor
                    .on_executor_removed(executor_id.as_str());
            }
            ListenerEvent::BlockUpdated {
                executor_id,
                rdd_id,
                split_index,
                storage_level,
            } => self.executor_monitor.on_block_updated(
                executor_id.as_str(),
                *rdd_id,
                *split_index,
                *storage_level,
            ),
            ListenerEvent::UnpersistRdd { rdd_id } => {
                self.executor_monitor.on_unpersist_rdd(*rdd_id)
            }
            ListenerEvent::ShuffleBlockUpdated {
                executor_id,
                shuffle_id,
            } => self
                .executor_monitor
                .on_shuffle_block_updated(executor_id.as_str(), *shuffle_id),
            ListenerEvent::ShuffleCleaned { shuffle_id } => {
                self.executor_monitor.on_shuffle_cleaned(*shuffle_id);
            }
        }
    }

    /// One round of the periodic schedule (Spark's `schedule`): update the target, then
    /// remove the executors that have timed out.
    pub fn tick(&mut self, now_ms: u64) -> TickOutcome {
        let executor_ids_to_be_removed = self.executor_monitor.timed_out_executors(now_ms);
        if !executor_ids_to_be_removed.is_empty() {
            self.initializing = false;
        }
        let old = self.num_executors_target;
        self.update_and_sync_num_executors_target(now_ms);
        let new = self.num_executors_target;
        let to_remove = if executor_ids_to_be_removed.is_empty() {
            Vec::new()
        } else {
            self.remove_executors_with_profiles(&executor_ids_to_be_removed)
        };
        TickOutcome {
            target_changed: (old != new).then_some((old, new)),
            to_remove,
            removal: self.removal_kind(),
        }
    }

    /// When a round may next act on its own, after a round at `now_ms` that changed
    /// nothing: the backlog timer or an executor's idle deadline, whichever is first.
    /// Until then, or until the next event, further rounds change nothing either (they
    /// see the same state), so a simulator may skip them; `None` means no timer is set.
    pub fn next_deadline_after(&self, now_ms: u64) -> Option<u64> {
        let backlog = self.add_time.filter(|t| *t > now_ms);
        let idle = self.executor_monitor.next_timeout_after(now_ms);
        backlog.into_iter().chain(idle).min()
    }

    /// How removed executors are taken away under these settings.
    pub fn removal_kind(&self) -> RemovalKind {
        if self.decommission_enabled {
            RemovalKind::Decommission
        } else {
            RemovalKind::Kill
        }
    }

    /// The target update of a round, without removals; returns the change in target
    /// (Spark's `updateAndSyncNumExecutorsTarget`).
    pub fn update_and_sync_num_executors_target(&mut self, now_ms: u64) -> i64 {
        if self.initializing {
            // Keep the initial target so the first job does not ramp up from nothing.
            return 0;
        }
        let max_needed = self.max_num_executors_needed();
        if self.policy == AllocationPolicy::Eager {
            return self.update_target_eagerly(max_needed);
        }
        let delta = if max_needed < self.num_executors_target {
            self.decrement_executors(max_needed)
        } else if self.add_time.is_some_and(|t| now_ms >= t) {
            self.add_executors(max_needed)
        } else {
            0
        };
        self.do_update_request(delta, now_ms)
    }

    /// One ramp-up step regardless of the backlog timer (Spark's `addExecutorsToTarget`
    /// followed by `doUpdateRequest`); returns the change in target.
    pub fn add_executors_round(&mut self, now_ms: u64) -> i64 {
        let max_needed = self.max_num_executors_needed();
        if self.policy == AllocationPolicy::Eager {
            // No ramp: one round asks for everything needed.
            return self.update_target_eagerly(max_needed);
        }
        let delta = self.add_executors(max_needed);
        self.do_update_request(delta, now_ms)
    }

    /// Asks to remove these executors, subject to the `minExecutors` and target floors;
    /// returns the ids accepted, which are then pending removal (or decommissioning).
    pub fn remove_executors(&mut self, executors: &[ExecutorId]) -> Vec<ExecutorId> {
        let with_profile: Vec<(ExecutorId, i32)> = executors
            .iter()
            .map(|id| (id.clone(), DEFAULT_RESOURCE_PROFILE_ID))
            .collect();
        self.remove_executors_with_profiles(&with_profile)
    }

    /// Tasks are waiting: start the backlog timer unless it runs already (the eager policy
    /// has no backlog timer).
    pub fn on_scheduler_backlogged(&mut self, now_ms: u64) {
        if self.add_time.is_none() && self.policy == AllocationPolicy::Spark {
            self.add_time = Some(now_ms.saturating_add(self.scheduler_backlog_timeout_ms));
        }
    }

    /// The scheduler queue drained: stop the backlog timer and restart the ramp at 1.
    pub fn on_scheduler_queue_empty(&mut self) {
        self.add_time = None;
        self.num_executors_to_add = 1;
    }

    /// Forgets the executors and restarts from the initial target, as Spark does when the
    /// cluster manager lost track of the application. The next round re-evaluates at once.
    pub fn reset(&mut self) {
        if self.policy == AllocationPolicy::Spark {
            self.add_time = Some(0);
        }
        self.num_executors_target = self.initial_num_executors;
        self.num_executors_to_add = 1;
        self.executor_monitor.reset();
    }

    /// The eager policy's target: what the pending and running tasks need, within
    /// [`minExecutors`, `maxExecutors`]; returns the change.
    fn update_target_eagerly(&mut self, max_needed: i64) -> i64 {
        let old = self.num_executors_target;
        self.num_executors_target = max_needed
            .min(self.max_num_executors)
            .max(self.min_num_executors);
        self.num_executors_target - old
    }

    fn decrement_executors(&mut self, max_needed: i64) -> i64 {
        let old = self.num_executors_target;
        self.num_executors_target = max_needed.max(self.min_num_executors);
        self.num_executors_to_add = 1;
        self.num_executors_target - old
    }

    fn add_executors(&mut self, max_num_executors_needed: i64) -> i64 {
        let old = self.num_executors_target;
        if old >= self.max_num_executors {
            self.num_executors_to_add = 1;
            return 0;
        }
        // Never ramp up from below the executors already registered.
        let registered = self
            .executor_monitor
            .executor_count_with_resource_profile(DEFAULT_RESOURCE_PROFILE_ID);
        let mut target = old.max(registered) + self.num_executors_to_add;
        target = target.min(max_num_executors_needed);
        target = target
            .min(self.max_num_executors)
            .max(self.min_num_executors);
        let delta = target - old;
        self.num_executors_target = target;
        if delta == 0 {
            self.num_executors_to_add = 1;
        }
        delta
    }

    /// Spark's `doUpdateRequest` for a single profile: after a successful increase, double
    /// the next step if this one was fully granted, and re-arm the timer with the sustained
    /// backlog timeout.
    fn do_update_request(&mut self, delta: i64, now_ms: u64) -> i64 {
        if delta > 0 {
            self.num_executors_to_add = if delta == self.num_executors_to_add {
                self.num_executors_to_add.saturating_mul(2)
            } else {
                1
            };
            self.add_time =
                Some(now_ms.saturating_add(self.sustained_scheduler_backlog_timeout_ms));
        }
        delta
    }

    fn remove_executors_with_profiles(
        &mut self,
        executors: &[(ExecutorId, i32)],
    ) -> Vec<ExecutorId> {
        let mut to_remove = Vec::new();
        let mut new_executor_total: Option<i64> = None;
        for (id, rp) in executors {
            if *rp == UNKNOWN_RESOURCE_PROFILE_ID {
                // Not registered yet: Spark does not remove such an executor.
                continue;
            }
            let monitor = &self.executor_monitor;
            let total = *new_executor_total.get_or_insert_with(|| {
                monitor.executor_count_with_resource_profile(*rp)
                    - monitor.pending_removal_count_per_resource_profile_id(*rp)
                    - monitor.decommissioning_per_resource_profile_id(*rp)
            });
            if total - 1 < self.min_num_executors || total - 1 < self.num_executors_target {
                continue;
            }
            to_remove.push(id.clone());
            new_executor_total = Some(total - 1);
        }
        if to_remove.is_empty() {
            return to_remove;
        }
        if self.decommission_enabled {
            self.executor_monitor.executors_decommissioned(&to_remove);
        } else {
            self.executor_monitor.executors_killed(&to_remove);
        }
        to_remove
    }

    fn update_executor_placement_hints(&mut self) {
        let PlacementHints {
            num_tasks_pending,
            host_to_local_task_count,
        } = self.listener.executor_placement_hints();
        self.num_locality_aware_tasks = num_tasks_pending;
        self.host_to_local_task_count = host_to_local_task_count;
    }

    fn on_stage_submitted(
        &mut self,
        sa: StageAttempt,
        num_tasks: i64,
        locality: &[Vec<String>],
        now_ms: u64,
    ) {
        self.initializing = false;
        self.listener
            .stage_attempt_to_num_tasks
            .insert(sa, num_tasks);
        self.on_scheduler_backlogged(now_ms);
        self.listener.resource_profile_stage_attempts.insert(sa);
        let mut hints = PlacementHints::default();
        for hosts in locality.iter().filter(|h| !h.is_empty()) {
            hints.num_tasks_pending += 1;
            for host in hosts {
                *hints
                    .host_to_local_task_count
                    .entry(host.clone())
                    .or_insert(0) += 1;
            }
        }
        self.listener
            .stage_attempt_to_executor_placement_hints
            .insert(sa, hints);
        self.update_executor_placement_hints();
    }

    fn on_stage_completed(&mut self, sa: StageAttempt) {
        let l = &mut self.listener;
        // Running tasks of the attempt keep counting until they end.
        l.stage_attempt_to_num_tasks.remove(&sa);
        l.stage_attempt_to_pending_speculative_tasks.remove(&sa);
        l.stage_attempt_to_task_indices.remove(&sa);
        l.stage_attempt_to_speculative_task_indices.remove(&sa);
        l.stage_attempt_to_executor_placement_hints.remove(&sa);
        l.remove_stage_from_resource_profile_if_unused(sa);
        self.update_executor_placement_hints();
        let l = &self.listener;
        if l.stage_attempt_to_num_tasks.is_empty()
            && l.stage_attempt_to_pending_speculative_tasks.is_empty()
            && l.stage_attempt_to_speculative_task_indices.is_empty()
        {
            self.on_scheduler_queue_empty();
        }
    }

    fn on_task_start(&mut self, sa: StageAttempt, task: &TaskInfo) {
        let l = &mut self.listener;
        *l.stage_attempt_to_num_running_task.entry(sa).or_insert(0) += 1;
        if task.speculative {
            l.stage_attempt_to_speculative_task_indices
                .entry(sa)
                .or_default()
                .insert(task.index);
            if let Some(pending) = l.stage_attempt_to_pending_speculative_tasks.get_mut(&sa) {
                pending.remove(&task.index);
            }
        } else {
            l.stage_attempt_to_task_indices
                .entry(sa)
                .or_default()
                .insert(task.index);
        }
        if !self.listener.has_pending_tasks() {
            self.on_scheduler_queue_empty();
        }
    }

    fn on_task_end(
        &mut self,
        sa: StageAttempt,
        task: &TaskInfo,
        reason: TaskEndReason,
        now_ms: u64,
    ) {
        let l = &mut self.listener;
        if let Some(running) = l.stage_attempt_to_num_running_task.get_mut(&sa) {
            *running -= 1;
            if *running == 0 {
                l.stage_attempt_to_num_running_task.remove(&sa);
                l.remove_stage_from_resource_profile_if_unused(sa);
            }
        }
        if task.speculative {
            if let Some(indices) = l.stage_attempt_to_speculative_task_indices.get_mut(&sa) {
                indices.remove(&task.index);
            }
        }
        match reason {
            TaskEndReason::Success => {
                // The original finished first: its pending speculative copy is not needed.
                if let Some(pending) = l.stage_attempt_to_pending_speculative_tasks.get_mut(&sa) {
                    pending.remove(&task.index);
                }
            }
            TaskEndReason::TaskKilled => {}
            TaskEndReason::Failed => {
                // The task will be resubmitted: make sure the backlog timer runs (SPARK-8366).
                if !self.listener.has_pending_tasks() {
                    self.on_scheduler_backlogged(now_ms);
                }
                if !task.speculative {
                    if let Some(indices) = self.listener.stage_attempt_to_task_indices.get_mut(&sa)
                    {
                        indices.remove(&task.index);
                    }
                }
            }
        }
    }

    fn on_speculative_task_submitted(&mut self, sa: StageAttempt, index: TaskIndex, now_ms: u64) {
        self.listener
            .stage_attempt_to_pending_speculative_tasks
            .entry(sa)
            .or_default()
            .insert(index);
        self.on_scheduler_backlogged(now_ms);
    }
}

/// The median (the mean of the two middle values for an even count, rounded down,
/// without overflow), or `None` for no values.
pub fn median(mut v: Vec<u64>) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        v[n / 2 - 1] / 2 + v[n / 2] / 2 + (v[n / 2 - 1] % 2 + v[n / 2] % 2) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::config::EAGER_MIN_IDLE_TIMEOUT_MS;
    use crate::allocation::event::{JobStageInfo, StorageLevel};
    use crate::ids::{JobId, RddId, ShuffleId, StageId};

    fn conf(min: i64, max: i64, initial: i64) -> AllocationConfig {
        AllocationConfig {
            min_executors: min,
            max_executors: max,
            initial_executors: Some(initial),
            scheduler_backlog_timeout_ms: 1000,
            sustained_scheduler_backlog_timeout_ms: 2000,
            executor_idle_timeout_ms: Some(3000),
            shuffle_service_enabled: true,
            ..AllocationConfig::default()
        }
    }

    /// `n` rounds of adding executors at time 0 (the ramp 1, 2, 4, ...).
    fn rounds(m: &mut ExecutorAllocationManager, n: usize) {
        for _ in 0..n {
            m.add_executors_round(0);
        }
    }

    /// A manager whose executors have `cores` cores.
    fn with_cores(cores: i64, min: i64, max: i64, initial: i64) -> ExecutorAllocationManager {
        configured(AllocationConfig {
            executor_cores: cores,
            ..conf(min, max, initial)
        })
    }

    fn configured(c: AllocationConfig) -> ExecutorAllocationManager {
        ExecutorAllocationManager::new(c).expect("valid settings")
    }

    fn manager(min: i64, max: i64, initial: i64) -> ExecutorAllocationManager {
        ExecutorAllocationManager::new(conf(min, max, initial)).unwrap()
    }

    fn sa(stage: u32) -> StageAttempt {
        StageAttempt::new(StageId(stage), 0)
    }

    fn submit(m: &mut ExecutorAllocationManager, stage: u32, tasks: i64, now: u64) {
        m.on_event(
            &ListenerEvent::StageSubmitted {
                stage: sa(stage),
                num_tasks: tasks,
                task_locality_preferences: Vec::new(),
            },
            now,
        );
    }

    fn task(index: i64, executor: &str, speculative: bool) -> TaskInfo {
        TaskInfo {
            index,
            executor_id: executor.into(),
            speculative,
        }
    }

    fn start(m: &mut ExecutorAllocationManager, stage: u32, index: i64, exec: &str, now: u64) {
        m.on_event(
            &ListenerEvent::TaskStart {
                stage: sa(stage),
                task: task(index, exec, false),
            },
            now,
        );
    }

    fn end(m: &mut ExecutorAllocationManager, stage: u32, index: i64, exec: &str, now: u64) {
        m.on_event(
            &ListenerEvent::TaskEnd {
                stage: sa(stage),
                task: task(index, exec, false),
                reason: TaskEndReason::Success,
            },
            now,
        );
    }

    fn add(m: &mut ExecutorAllocationManager, id: &str, now: u64) {
        m.on_event(
            &ListenerEvent::ExecutorAdded {
                executor_id: id.into(),
            },
            now,
        );
    }

    fn remove(m: &mut ExecutorAllocationManager, id: &str) {
        m.on_event(
            &ListenerEvent::ExecutorRemoved {
                executor_id: id.into(),
            },
            0,
        );
    }

    fn ids(v: &[&str]) -> Vec<ExecutorId> {
        v.iter().map(|s| ExecutorId::from(*s)).collect()
    }

    #[test]
    fn refuses_invalid_settings() {
        assert!(ExecutorAllocationManager::new(conf(2, 1, 1)).is_err());
        assert!(ExecutorAllocationManager::new(conf(-1, 5, 1)).is_err());
        assert!(ExecutorAllocationManager::new(conf(1, 1, 1)).is_ok());
    }

    #[test]
    fn starting_state() {
        let m = manager(1, 5, 1);
        assert_eq!(m.num_executors_target(), 1);
        assert_eq!(m.num_executors_to_add(), 1);
        assert_eq!(m.add_time(), None);
        assert!(m.initializing());
        assert!(m
            .executor_monitor()
            .executors_pending_to_remove()
            .is_empty());
        assert_eq!(m.max_num_executors_needed(), 0);
    }

    #[test]
    fn ramp_doubles_until_capped_by_max() {
        let mut m = manager(1, 10, 1);
        submit(&mut m, 0, 1000, 0);
        let mut deltas = Vec::new();
        let mut steps = Vec::new();
        for _ in 0..5 {
            deltas.push(m.add_executors_round(0));
            steps.push(m.num_executors_to_add());
        }
        assert_eq!(deltas, vec![1, 2, 4, 2, 0]);
        assert_eq!(steps, vec![2, 4, 8, 1, 1]);
        assert_eq!(m.num_executors_target(), 10);
    }

    #[test]
    fn ramp_one_two_four_eight_on_timer() {
        let mut m = manager(0, 100, 0);
        submit(&mut m, 0, 1000, 0);
        assert_eq!(m.add_time(), Some(1000));
        // Timer not expired yet.
        assert_eq!(m.tick(999).target_changed, None);
        let mut targets = Vec::new();
        for now in [1000, 3000, 5000, 7000] {
            let out = m.tick(now);
            targets.push(out.target_changed.unwrap().1);
            assert_eq!(m.add_time(), Some(now + 2000));
        }
        assert_eq!(targets, vec![1, 3, 7, 15]);
        // Between sustained timeouts nothing is added.
        assert_eq!(m.tick(8999).target_changed, None);
    }

    #[test]
    fn target_capped_by_needed_and_ratio() {
        let mut m = configured(AllocationConfig {
            executor_allocation_ratio: 0.5,
            ..conf(3, 15, 1)
        });
        assert_eq!(m.num_executors_target(), 3);
        submit(&mut m, 0, 20, 0);
        assert_eq!(m.max_num_executors_needed(), 10);
        rounds(&mut m, 6);
        assert_eq!(m.num_executors_target(), 10);

        let mut m = configured(AllocationConfig {
            executor_allocation_ratio: 1.0 / 3.0,
            executor_cores: 4,
            ..conf(3, 15, 1)
        });
        submit(&mut m, 0, 20, 0);
        rounds(&mut m, 6);
        // Needed is 2, raised to the minimum of 3.
        assert_eq!(m.num_executors_target(), 3);
    }

    #[test]
    fn target_never_below_min_nor_above_max() {
        let mut m = manager(2, 4, 3);
        submit(&mut m, 0, 100, 0);
        let mut now = 0;
        for _ in 0..10 {
            now += 1000;
            m.tick(now);
            assert!((2..=4).contains(&m.num_executors_target()));
        }
        assert_eq!(m.num_executors_target(), 4);
        m.on_event(&ListenerEvent::StageCompleted { stage: sa(0) }, now);
        m.tick(now + 1);
        assert_eq!(m.max_num_executors_needed(), 0);
        assert_eq!(m.num_executors_target(), 2);
    }

    #[test]
    fn initial_target_kept_until_first_stage() {
        let mut m = manager(2, 5, 3);
        m.tick(10_000);
        assert_eq!(m.num_executors_target(), 3);
        submit(&mut m, 1, 2, 10_000);
        m.tick(10_100);
        assert_eq!(m.num_executors_target(), 2);
    }

    #[test]
    fn initial_target_kept_until_executor_times_out() {
        let mut m = manager(2, 5, 3);
        for id in ["a", "b", "c"] {
            add(&mut m, id, 10_000);
        }
        m.tick(12_999);
        assert_eq!(m.num_executors_target(), 3);
        let out = m.tick(13_000);
        assert_eq!(out.target_changed, Some((3, 2)));
        // Three executors, target 2: only one may go.
        assert_eq!(out.to_remove, ids(&["a"]));
    }

    #[test]
    fn idle_removal_only_after_timeout() {
        let mut m = manager(0, 5, 0);
        add(&mut m, "1", 100);
        assert!(m.tick(3099).to_remove.is_empty());
        let out = m.tick(3100);
        assert_eq!(out.to_remove, ids(&["1"]));
        assert_eq!(out.removal, RemovalKind::Kill);
        assert!(m
            .executor_monitor()
            .executor("1")
            .unwrap()
            .pending_removal());
        // Already pending: not offered again.
        assert!(m.tick(10_000).to_remove.is_empty());
    }

    #[test]
    fn busy_executors_are_not_removed() {
        let mut m = manager(0, 5, 0);
        add(&mut m, "1", 0);
        add(&mut m, "2", 0);
        start(&mut m, 7, 0, "1", 0);
        assert_eq!(m.tick(5000).to_remove, ids(&["2"]));
        end(&mut m, 7, 0, "1", 5000);
        assert!(m.tick(7999).to_remove.is_empty());
        assert_eq!(m.tick(8000).to_remove, ids(&["1"]));
    }

    #[test]
    fn removal_honours_min_floor() {
        let mut m = manager(5, 10, 5);
        for i in 1..=10 {
            add(&mut m, &i.to_string(), 0);
        }
        for i in 1..=5 {
            assert_eq!(
                m.remove_executors(&ids(&[&i.to_string()])),
                ids(&[&i.to_string()])
            );
        }
        assert!(m.remove_executors(&ids(&["6"])).is_empty());
        // Removed executors count until they are gone.
        for i in 1..=5 {
            remove(&mut m, &i.to_string());
        }
        assert!(m
            .executor_monitor()
            .executors_pending_to_remove()
            .is_empty());
        assert!(m.remove_executors(&ids(&["7"])).is_empty());
    }

    #[test]
    fn removal_honours_target_floor() {
        let mut m = manager(0, 12, 0);
        submit(&mut m, 0, 8, 0);
        rounds(&mut m, 4);
        for i in 1..=8 {
            add(&mut m, &i.to_string(), 0);
            start(&mut m, 0, i, &i.to_string(), 0);
        }
        assert_eq!(m.num_executors_target(), 8);
        assert!(m.remove_executors(&ids(&["1"])).is_empty());
        for i in 1..=3 {
            end(&mut m, 0, i, &i.to_string(), 0);
        }
        assert_eq!(m.update_and_sync_num_executors_target(0), -3);
        assert_eq!(
            m.remove_executors(&ids(&["1", "2", "3", "4"])),
            ids(&["1", "2", "3"])
        );
    }

    #[test]
    fn decommission_instead_of_kill() {
        let mut m = configured(AllocationConfig {
            decommission_enabled: true,
            ..conf(1, 20, 1)
        });
        for id in ["executor-1", "executor-2", "executor-3"] {
            add(&mut m, id, 0);
        }
        let out = m.tick(3000);
        assert_eq!(out.removal, RemovalKind::Decommission);
        assert_eq!(out.to_remove, ids(&["executor-1", "executor-2"]));
        let mon = m.executor_monitor();
        assert!(mon.executors_pending_to_remove().is_empty());
        assert_eq!(mon.executors_decommissioning().len(), 2);
    }

    #[test]
    fn backlog_timer_start_and_cancel() {
        let mut m = manager(2, 10, 2);
        m.on_scheduler_backlogged(8888);
        assert_eq!(m.add_time(), Some(9888));
        m.on_scheduler_backlogged(8988);
        assert_eq!(m.add_time(), Some(9888));
        m.on_scheduler_queue_empty();
        assert_eq!(m.add_time(), None);
        m.on_scheduler_backlogged(10_188);
        assert_eq!(m.add_time(), Some(11_188));
    }

    #[test]
    fn all_tasks_started_cancels_timer() {
        let mut m = manager(1, 20, 1);
        submit(&mut m, 0, 3, 0);
        start(&mut m, 0, 1, "e", 0);
        start(&mut m, 0, 2, "e", 0);
        assert!(m.add_time().is_some());
        start(&mut m, 0, 0, "e", 0);
        assert_eq!(m.add_time(), None);
    }

    #[test]
    fn failed_task_counts_as_pending_again() {
        let mut m = manager(1, 5, 1);
        submit(&mut m, 0, 1, 0);
        start(&mut m, 0, 0, "e", 0);
        assert_eq!(m.add_time(), None);
        m.on_event(
            &ListenerEvent::TaskEnd {
                stage: sa(0),
                task: task(0, "e", false),
                reason: TaskEndReason::Failed,
            },
            500,
        );
        assert_eq!(m.max_num_executors_needed(), 1);
        assert_eq!(m.add_time(), Some(1500));
    }

    #[test]
    fn speculative_tasks_count_as_pending() {
        let mut m = with_cores(4, 0, 10, 0);
        submit(&mut m, 0, 2, 0);
        start(&mut m, 0, 0, "e", 0);
        start(&mut m, 0, 1, "e", 0);
        assert_eq!(m.max_num_executors_needed(), 1);
        m.on_event(
            &ListenerEvent::SpeculativeTaskSubmitted {
                stage: sa(0),
                task_index: 1,
            },
            0,
        );
        // One executor would do, but a speculative copy gets one of its own.
        assert_eq!(m.max_num_executors_needed(), 2);
        // The original finishing first drops the pending copy.
        end(&mut m, 0, 1, "e", 0);
        assert_eq!(m.max_num_executors_needed(), 1);
    }

    #[test]
    fn unschedulable_task_set_asks_for_more() {
        let mut m = with_cores(2, 0, 5, 0);
        submit(&mut m, 0, 2, 0);
        add(&mut m, "0", 0);
        start(&mut m, 0, 0, "0", 0);
        start(&mut m, 0, 1, "0", 0);
        assert_eq!(m.max_num_executors_needed(), 1);
        m.on_event(
            &ListenerEvent::UnschedulableTaskSetAdded { stage: sa(0) },
            0,
        );
        assert_eq!(m.max_num_executors_needed(), 2);
        m.on_event(
            &ListenerEvent::UnschedulableTaskSetRemoved { stage: sa(0) },
            0,
        );
        assert_eq!(m.max_num_executors_needed(), 1);
    }

    #[test]
    fn locality_hints() {
        let mut m = manager(2, 5, 3);
        let hosts = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        m.on_event(
            &ListenerEvent::StageSubmitted {
                stage: sa(1),
                num_tasks: 5,
                task_locality_preferences: vec![
                    hosts(&["host1", "host2", "host3"]),
                    hosts(&["host1", "host2", "host4"]),
                    hosts(&["host2", "host3", "host4"]),
                    vec![],
                    vec![],
                ],
            },
            0,
        );
        assert_eq!(m.locality_aware_tasks(), 3);
        let expected: BTreeMap<String, i64> =
            [("host1", 2), ("host2", 3), ("host3", 2), ("host4", 2)]
                .into_iter()
                .map(|(h, c)| (h.to_owned(), c))
                .collect();
        assert_eq!(m.host_to_local_task_count(), &expected);
        m.on_event(&ListenerEvent::StageCompleted { stage: sa(1) }, 0);
        assert_eq!(m.locality_aware_tasks(), 0);
        assert!(m.host_to_local_task_count().is_empty());
        assert_eq!(m.executor_request().num_executors_target, 3);
    }

    #[test]
    fn reset_restarts_from_initial() {
        let mut m = manager(1, 5, 1);
        submit(&mut m, 0, 10, 0);
        rounds(&mut m, 3);
        assert_eq!(m.num_executors_target(), 5);
        add(&mut m, "first", 0);
        m.reset();
        assert_eq!(m.num_executors_target(), 1);
        assert_eq!(m.num_executors_to_add(), 1);
        assert_eq!(m.executor_monitor().executor_count(), 0);
        assert_eq!(m.add_time(), Some(0));
    }

    /// Executor "1" ran a map task of shuffle 7 in a running job; "2" holds nothing. Under
    /// `policy`, "2" goes at `idle_release_ms`; "1" stays while the job runs, however long
    /// it is idle, and goes once the job ends and the shuffle tracking timeout passes.
    fn shuffle_tracking_case(policy: AllocationPolicy, idle_release_ms: u64) {
        let mut m = configured(AllocationConfig {
            policy,
            shuffle_service_enabled: false,
            shuffle_tracking_enabled: true,
            shuffle_tracking_timeout_ms: Some(10_000),
            ..conf(0, 5, 0)
        });
        m.on_event(
            &ListenerEvent::JobStart {
                job_id: JobId(1),
                stages: vec![
                    JobStageInfo {
                        stage_id: StageId(0),
                        shuffle_dep_id: Some(ShuffleId(7)),
                    },
                    JobStageInfo {
                        stage_id: StageId(1),
                        shuffle_dep_id: None,
                    },
                ],
            },
            0,
        );
        add(&mut m, "1", 0);
        add(&mut m, "2", 0);
        submit(&mut m, 0, 1, 0);
        start(&mut m, 0, 0, "1", 0);
        end(&mut m, 0, 0, "1", 100);
        m.on_event(&ListenerEvent::StageCompleted { stage: sa(0) }, 100);
        assert_eq!(m.tick(idle_release_ms).to_remove, ids(&["2"]));
        assert!(m.tick(1_000_000).to_remove.is_empty());
        m.on_event(&ListenerEvent::JobEnd { job_id: JobId(1) }, 1_000_000);
        // Released by the job: the shuffle tracking timeout counts from when it went idle.
        assert_eq!(m.tick(1_000_001).to_remove, ids(&["1"]));
    }

    #[test]
    fn shuffle_tracking_keeps_executors_with_live_shuffle() {
        shuffle_tracking_case(AllocationPolicy::Spark, 3000);
    }

    /// A small xorshift generator, so the randomized test needs no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// A random trace of scheduler and executor events: stages submitted, tasks started
    /// and ended, executors added and removed, stages (and with `jobs`, jobs) ending.
    struct Trace {
        rng: Rng,
        now: u64,
        max_gap: u64,
        /// Kinds of step: 0..=7 are events, the rest leave the step to the test.
        kinds: u64,
        /// Send JobStart and JobEnd around each stage (shuffle tracking needs them).
        jobs: bool,
        next_exec: u32,
        stage: u32,
        running: Vec<(u32, i64, ExecutorId)>,
        /// The last step sent an event (else it is the test's to take).
        acted: bool,
    }

    impl Trace {
        fn new(rng: Rng, max_gap: u64, kinds: u64, jobs: bool) -> Self {
            Self {
                rng,
                now: 0,
                max_gap,
                kinds,
                jobs,
                next_exec: 0,
                stage: 0,
                running: Vec::new(),
                acted: false,
            }
        }

        /// Moves time on and sends one random event, if the draw is one; returns now.
        fn step(&mut self, m: &mut ExecutorAllocationManager) -> u64 {
            self.now += self.rng.below(self.max_gap);
            let now = self.now;
            let rng = &mut self.rng;
            let live: Vec<ExecutorId> = m.executor_monitor().executors().keys().cloned().collect();
            self.acted = true;
            match rng.below(self.kinds) {
                0 => {
                    self.stage += 1;
                    let stage = self.stage;
                    if self.jobs {
                        m.on_event(
                            &ListenerEvent::JobStart {
                                job_id: JobId(stage),
                                stages: vec![JobStageInfo {
                                    stage_id: StageId(stage),
                                    shuffle_dep_id: Some(ShuffleId(stage)),
                                }],
                            },
                            now,
                        );
                    }
                    submit(m, stage, 1 + rng.below(30) as i64, now);
                }
                1 | 2 if !live.is_empty() && self.stage > 0 => {
                    let exec = live[rng.below(live.len() as u64) as usize].clone();
                    let index = rng.below(30) as i64;
                    start(m, self.stage, index, exec.as_str(), now);
                    self.running.push((self.stage, index, exec));
                }
                3 | 4 if !self.running.is_empty() => {
                    let (st, index, exec) = self
                        .running
                        .swap_remove(rng.below(self.running.len() as u64) as usize);
                    end(m, st, index, exec.as_str(), now);
                }
                5 => {
                    self.next_exec += 1;
                    add(m, &format!("e{}", self.next_exec), now);
                    m.on_executor_start_latency(rng.below(100));
                }
                6 if !live.is_empty() => {
                    remove(m, live[rng.below(live.len() as u64) as usize].as_str());
                }
                7 if self.stage > 0 => {
                    m.on_event(
                        &ListenerEvent::StageCompleted {
                            stage: sa(self.stage),
                        },
                        now,
                    );
                    if self.jobs {
                        let job_id = JobId(self.stage);
                        m.on_event(&ListenerEvent::JobEnd { job_id }, now);
                    }
                }
                _ => self.acted = false,
            }
            now
        }
    }

    /// A generator for `seed` and random (min, max, initial) executors.
    fn random_bounds(seed: u64) -> (Rng, i64, i64, i64) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let min = rng.below(3) as i64;
        let max = min + 1 + rng.below(8) as i64;
        let initial = min + rng.below((max - min + 1) as u64) as i64;
        (rng, min, max, initial)
    }

    #[test]
    fn invariants_hold_on_random_traces() {
        for seed in 1..300u64 {
            let (mut rng, min, max, initial) = random_bounds(seed);
            let idle_ms = 1000 * (1 + rng.below(5) as i64);
            let mut m = configured(AllocationConfig {
                executor_idle_timeout_ms: Some(idle_ms),
                executor_cores: 1 + rng.below(3) as i64,
                executor_allocation_ratio: [1.0, 0.5, 0.25][rng.below(3) as usize],
                shuffle_tracking_enabled: rng.below(2) == 0,
                shuffle_service_enabled: false,
                testing: true,
                ..conf(min, max, initial)
            });
            let mut trace = Trace::new(rng, 700, 10, true);
            for _ in 0..400 {
                let now = trace.step(&mut m);
                if trace.acted {
                    continue;
                }
                let timed_out: Vec<ExecutorId> = m
                    .executor_monitor()
                    .timed_out_executors(now)
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                let step_before = m.num_executors_to_add();
                let out = m.tick(now);
                let target = m.num_executors_target();
                assert!(
                    (min..=max).contains(&target),
                    "seed {seed}: target {target} outside [{min}, {max}]"
                );
                if let Some((old, new)) = out.target_changed {
                    if new > old {
                        // Each increase is one ramp step: the next one doubles if it
                        // was granted in full, else restarts at 1.
                        let after = m.num_executors_to_add();
                        assert!(
                            after == 1 || (new - old == step_before && after == 2 * step_before),
                            "seed {seed}: step {step_before} gave +{} then {after}",
                            new - old
                        );
                    }
                }
                let mon = m.executor_monitor();
                for id in &out.to_remove {
                    // Removed only once idle past the timeout.
                    assert!(timed_out.contains(id), "seed {seed}: {id} removed early");
                    let e = mon.executor(id.as_str()).unwrap();
                    assert!(e.idle_start().unwrap() + idle_ms as u64 <= now);
                    assert!(e.pending_removal());
                }
                if !out.to_remove.is_empty() {
                    let remaining = mon.executor_count() as i64
                        - mon.pending_removal_count()
                        - mon.decommissioning_count();
                    assert!(
                        remaining >= min && remaining >= target,
                        "seed {seed}: {remaining} left, min {min}, target {target}"
                    );
                }
            }
        }
    }

    #[test]
    fn cached_executor_uses_cached_timeout() {
        let mut m = configured(AllocationConfig {
            cached_executor_idle_timeout_ms: Some(10_000),
            ..conf(0, 5, 0)
        });
        add(&mut m, "1", 0);
        m.on_event(
            &ListenerEvent::BlockUpdated {
                executor_id: "1".into(),
                rdd_id: RddId(3),
                split_index: 0,
                storage_level: StorageLevel::MEMORY_ONLY,
            },
            0,
        );
        assert!(m.tick(9_999).to_remove.is_empty());
        assert_eq!(m.tick(10_000).to_remove, ids(&["1"]));
    }

    // ------------------------------------------------------------ the eager policy

    fn eager(min: i64, max: i64, initial: i64) -> ExecutorAllocationManager {
        configured(AllocationConfig {
            policy: AllocationPolicy::Eager,
            ..conf(min, max, initial)
        })
    }

    #[test]
    fn eager_asks_for_the_whole_backlog_the_moment_it_waits() {
        let mut m = eager(0, 10, 1);
        assert_eq!(m.policy(), AllocationPolicy::Eager);
        // Until a stage is submitted the initial target holds, as under Spark's rules.
        assert_eq!(m.tick(0).target_changed, None);
        assert_eq!(m.num_executors_target(), 1);
        submit(&mut m, 0, 8, 5);
        // No backlog timer, no ramp: all 8 at once, on the event itself.
        assert_eq!(m.num_executors_target(), 8);
        assert_eq!(m.add_time(), None);
        assert_eq!(m.num_executors_to_add(), 1);
        // Capped by maxExecutors.
        submit(&mut m, 1, 20, 6);
        assert_eq!(m.num_executors_target(), 10);
        assert_eq!(m.tick(7).target_changed, None);
    }

    #[test]
    fn eager_counts_slots_and_the_allocation_ratio() {
        let mut m = configured(AllocationConfig {
            policy: AllocationPolicy::Eager,
            executor_cores: 4,
            executor_allocation_ratio: 0.5,
            ..conf(0, 100, 0)
        });
        submit(&mut m, 0, 40, 0);
        // 40 tasks × 0.5 / 4 slots.
        assert_eq!(m.num_executors_target(), 5);
        assert_eq!(m.max_num_executors_needed(), 5);
    }

    #[test]
    fn eager_target_follows_the_tasks_down_to_min_executors() {
        let mut m = eager(2, 10, 0);
        submit(&mut m, 0, 6, 0);
        assert_eq!(m.num_executors_target(), 6);
        for i in 0..6 {
            add(&mut m, &format!("e{i}"), 10);
            start(&mut m, 0, i, &format!("e{i}"), 10);
        }
        assert_eq!(m.num_executors_target(), 6);
        for i in 0..3 {
            end(&mut m, 0, i, &format!("e{i}"), 20);
        }
        assert_eq!(m.num_executors_target(), 3);
        for i in 3..6 {
            end(&mut m, 0, i, &format!("e{i}"), 30);
        }
        m.on_event(&ListenerEvent::StageCompleted { stage: sa(0) }, 30);
        assert_eq!(m.num_executors_target(), 2, "never below minExecutors");
        // A failed task is pending again: asked for at once.
        submit(&mut m, 1, 3, 40);
        for i in 0..3 {
            start(&mut m, 1, i, "e0", 40);
        }
        m.on_event(
            &ListenerEvent::TaskEnd {
                stage: sa(1),
                task: task(0, "e0", false),
                reason: TaskEndReason::Failed,
            },
            50,
        );
        assert_eq!(m.num_executors_target(), 3);
        assert_eq!(m.add_time(), None);
    }

    #[test]
    fn eager_idle_timeout_follows_the_median_start_latency() {
        let mut m = eager(0, 10, 0);
        // Nothing measured yet: the minimum.
        assert_eq!(
            m.executor_idle_timeout_ms(),
            Some(EAGER_MIN_IDLE_TIMEOUT_MS)
        );
        add(&mut m, "a", 1000);
        assert_eq!(
            m.executor_monitor().executor("a").unwrap().deadline(),
            Some(1100)
        );
        // Fast starts keep the minimum: 4 × 20 ms is under 100 ms.
        for ms in [10, 20, 30] {
            m.on_executor_start_latency(ms);
        }
        assert_eq!(m.median_executor_start_latency_ms(), Some(20));
        assert_eq!(m.executor_idle_timeout_ms(), Some(100));
        // Slower ones raise it, and deadlines already running move with it.
        for ms in [400, 500, 600] {
            m.on_executor_start_latency(ms);
        }
        assert_eq!(m.median_executor_start_latency_ms(), Some(215));
        assert_eq!(m.executor_idle_timeout_ms(), Some(860));
        assert_eq!(
            m.executor_monitor().executor("a").unwrap().deadline(),
            Some(1860)
        );
        assert!(m.tick(1859).to_remove.is_empty());
        assert_eq!(m.tick(1860).to_remove, ids(&["a"]));
        // The median is over a window of the most recent ones.
        for _ in 0..START_LATENCY_WINDOW {
            m.on_executor_start_latency(50);
        }
        assert_eq!(m.median_executor_start_latency_ms(), Some(50));
        assert_eq!(m.executor_idle_timeout_ms(), Some(200));
    }

    #[test]
    fn eager_idle_timeout_can_be_set() {
        let mut m = configured(AllocationConfig {
            policy: AllocationPolicy::Eager,
            eager_idle_timeout_ms: Some(2500),
            ..conf(0, 10, 0)
        });
        m.on_executor_start_latency(5000);
        assert_eq!(m.executor_idle_timeout_ms(), Some(2500));
        add(&mut m, "a", 0);
        assert!(m.tick(2499).to_remove.is_empty());
        assert_eq!(m.tick(2500).to_remove, ids(&["a"]));
        // Spark's rules measure latencies too but keep executorIdleTimeout.
        let mut spark = manager(0, 10, 0);
        spark.on_executor_start_latency(5000);
        assert_eq!(spark.median_executor_start_latency_ms(), Some(5000));
        assert_eq!(spark.executor_idle_timeout_ms(), Some(3000));
    }

    #[test]
    fn eager_releases_idle_executors_but_keeps_min_and_the_target() {
        let mut m = eager(1, 10, 0);
        submit(&mut m, 0, 3, 0);
        for id in ["a", "b", "c"] {
            add(&mut m, id, 0);
        }
        start(&mut m, 0, 0, "a", 0);
        start(&mut m, 0, 1, "b", 0);
        start(&mut m, 0, 2, "c", 0);
        end(&mut m, 0, 0, "a", 500);
        // Two tasks left: the target drops to 2 and "a", idle, goes after the eager timeout.
        assert_eq!(m.num_executors_target(), 2);
        assert!(m.tick(599).to_remove.is_empty());
        assert_eq!(m.tick(600).to_remove, ids(&["a"]));
        end(&mut m, 0, 1, "b", 700);
        end(&mut m, 0, 2, "c", 700);
        m.on_event(&ListenerEvent::StageCompleted { stage: sa(0) }, 700);
        // Both idle; minExecutors keeps one of them.
        assert_eq!(m.tick(800).to_remove, ids(&["b"]));
        assert!(m.tick(10_000).to_remove.is_empty());
    }

    #[test]
    fn eager_never_releases_what_shuffle_tracking_keeps() {
        // "2" goes after the eager timeout, not Spark's 60 s.
        shuffle_tracking_case(AllocationPolicy::Eager, 200);
    }

    #[test]
    fn eager_add_round_and_reset_have_no_ramp_or_timer() {
        let mut m = eager(1, 5, 1);
        submit(&mut m, 0, 10, 0);
        assert_eq!(m.num_executors_target(), 5);
        assert_eq!(m.add_executors_round(0), 0);
        m.reset();
        assert_eq!(m.num_executors_target(), 1);
        assert_eq!(m.add_time(), None);
        m.on_scheduler_backlogged(10);
        assert_eq!(m.add_time(), None);
        // The next round asks for everything the tasks need again.
        assert_eq!(m.tick(100).target_changed, Some((1, 5)));
    }

    #[test]
    fn eager_invariants_hold_on_random_traces() {
        for seed in 1..200u64 {
            let (mut rng, min, max, initial) = random_bounds(seed);
            let mut m = configured(AllocationConfig {
                policy: AllocationPolicy::Eager,
                executor_cores: 1 + rng.below(3) as i64,
                executor_allocation_ratio: [1.0, 0.5][rng.below(2) as usize],
                ..conf(min, max, initial)
            });
            let mut trace = Trace::new(rng, 300, 9, false);
            for _ in 0..300 {
                let now = trace.step(&mut m);
                if !trace.acted {
                    let timeout = m.executor_idle_timeout_ms().unwrap();
                    assert!(timeout >= EAGER_MIN_IDLE_TIMEOUT_MS);
                    let out = m.tick(now);
                    let mon = m.executor_monitor();
                    for id in &out.to_remove {
                        let e = mon.executor(id.as_str()).unwrap();
                        assert!(
                            e.idle_start().unwrap() + timeout <= now,
                            "seed {seed}: {id} removed early"
                        );
                    }
                    if !out.to_remove.is_empty() {
                        let remaining = mon.executor_count() as i64
                            - mon.pending_removal_count()
                            - mon.decommissioning_count();
                        assert!(remaining >= min && remaining >= m.num_executors_target());
                    }
                }
                // After every step: exactly what the tasks need, within [min, max], at once.
                if !m.initializing() {
                    let want = m.max_num_executors_needed().clamp(min, max);
                    assert_eq!(m.num_executors_target(), want, "seed {seed}");
                }
                assert!((min..=max).contains(&m.num_executors_target()));
                assert_eq!(m.add_time(), None, "seed {seed}: no backlog timer");
            }
        }
    }
}
