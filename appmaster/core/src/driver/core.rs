//! The driver's core: jobs and stages, the task scheduler, executor containers and
//! (under dynamic allocation) the allocation manager, as plain data with transitions. No
//! I/O and no clock: every call takes `now_ms` (monotonic) and returns [`Effect`]s for the
//! async shell to carry out.
//!
//! [`DriverCore`] composes one part per concern, as Spark does: the DAG scheduler
//! (`super::dag`), the task scheduler (`super::tasks`), executor bookkeeping
//! (`super::executors`) and the map-output tracker (`super::map_output`), plus the
//! start gate (`super::gate`) and the allocation manager, which hears the scheduler
//! events the parts post when each call ends.

use super::dag::{Ctx, DagScheduler};
use super::effect::{Effect, Out};
use super::executors::{ExecutorBook, Registration};
use super::gate::StartGate;
use super::map_output::MapOutputTracker;
use super::speculation::SpeculationConfig;
use super::tasks::{Failure, Offer, RunningTask, TaskScheduler};
use crate::allocation::{AllocationConfig, ExecutorAllocationManager, ListenerEvent, StorageLevel};
use crate::eventlog::{AppEvent, TaskMetrics};
use crate::ids::{ExecutorId, JobId, ShuffleId, TaskId};
use crate::plan::{JobError, JobSpec, MapLocation, TaskError, TaskOutput};
use common::protocol::{Container, ContainerStatus, TaskResult};
use common::{ContainerId, Resource};
use std::collections::{BTreeMap, BTreeSet};

mod decommission;
pub use decommission::ShuffleMigrationConfig;

mod node_decommission;

#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The executor container (memory with overhead, cores).
    pub executor_resource: Resource,
    pub executor_cores: u32,
    pub task_cpus: u32,
    /// spark.task.maxFailures
    pub max_task_failures: u32,
    /// spark.executor.maxNumFailures
    pub max_executor_failures: u32,
    /// spark.executor.instances, used when dynamic allocation is off.
    pub static_instances: u32,
    /// Dynamic allocation, when enabled.
    pub dynamic: Option<AllocationConfig>,
    /// How long a task waits for the executor holding its cached partition.
    pub locality_wait_ms: u64,
    /// spark.shuffle.service.enabled: map output outlives its executor.
    pub shuffle_service: bool,
    /// Shuffle-block migration when executors are decommissioned (see
    /// [`ShuffleMigrationConfig`]); `None`: their map output goes with them.
    pub shuffle_migration: Option<ShuffleMigrationConfig>,
    /// spark.stage.maxConsecutiveAttempts
    pub max_stage_attempts: u32,
    /// spark.scheduler.minRegisteredResourcesRatio (0.8, as on YARN): the share of the
    /// initial executors that must register before the user's code starts.
    pub min_registered_ratio: f64,
    /// spark.scheduler.maxRegisteredResourcesWaitingTime (30 s): how long the user's
    /// code waits for them at most.
    pub max_registered_wait_ms: u64,
    /// spark.speculation.*, when spark.speculation is on.
    pub speculation: Option<SpeculationConfig>,
}

pub struct DriverCore {
    conf: DriverConfig,
    dra: Option<ExecutorAllocationManager>,
    dag: DagScheduler,
    tasks: TaskScheduler,
    executors: ExecutorBook,
    map_outputs: MapOutputTracker,
    gate: StartGate,
    /// When the speculation check last ran.
    last_speculation_check_ms: Option<u64>,
    /// Executors a reducer could not fetch from (no shuffle service), with when they may
    /// be offered tasks again: see [`FETCH_SUSPECT_MS`].
    suspects: BTreeMap<ExecutorId, u64>,
    /// Decommissioning executors whose map outputs are moving, by executor.
    migrations: BTreeMap<ExecutorId, decommission::Migration>,
}

/// How long an executor a fetch failed from gets no task. Most likely it is dead, and the
/// driver learns so within the transport's idle timeout (1.5 s by default) or sooner
/// from its NM; a map output re-run on it meanwhile would be lost again and re-run once
/// more. If it is alive after all, it gets tasks again after this.
pub const FETCH_SUSPECT_MS: u64 = 3_000;

impl DriverCore {
    pub fn new(conf: DriverConfig) -> Result<Self, crate::allocation::ConfigError> {
        let dra = match &conf.dynamic {
            Some(c) => Some(ExecutorAllocationManager::new(c.clone())?),
            None => None,
        };
        Ok(Self {
            dra,
            dag: DagScheduler::new(conf.max_stage_attempts, conf.shuffle_service),
            tasks: TaskScheduler::new(conf.locality_wait_ms, conf.max_task_failures),
            executors: ExecutorBook::new(
                conf.executor_resource,
                conf.task_cpus,
                conf.max_executor_failures,
            ),
            map_outputs: MapOutputTracker::default(),
            gate: StartGate::new(conf.min_registered_ratio, conf.max_registered_wait_ms),
            last_speculation_check_ms: None,
            suspects: BTreeMap::new(),
            migrations: BTreeMap::new(),
            conf,
        })
    }

    /// The executor target: the allocation manager's, or the static count.
    pub fn target(&self) -> i64 {
        match &self.dra {
            Some(m) => m.num_executors_target(),
            None => i64::from(self.conf.static_instances),
        }
    }

    fn target_count(&self) -> u32 {
        u32::try_from(self.target().max(0)).unwrap_or(u32::MAX)
    }

    pub fn is_dynamic(&self) -> bool {
        self.dra.is_some()
    }

    /// Spark's defaultParallelism: total registered executor cores, at least 2.
    pub fn default_parallelism(&self) -> u32 {
        self.executors.default_parallelism()
    }

    pub fn registered_executors(&self) -> usize {
        self.executors.registered()
    }

    /// Tasks waiting or running, all stages.
    pub fn outstanding_tasks(&self) -> usize {
        self.tasks.outstanding()
    }

    /// `spark.speculation.interval`, when speculation is on.
    pub fn speculation_interval_ms(&self) -> Option<u64> {
        self.conf.speculation.map(|c| c.interval_ms)
    }

    /// When the shell should next call [`Self::check_speculatable_tasks`], never sooner than
    /// `spark.speculation.interval` after the last check; `None`: no check can find
    /// anything now (the answer changes only after another call into the core).
    ///
    /// Spark runs the check on a timer every interval, at whatever phase it has, so a task
    /// is copied within one interval of crossing its stage's threshold (known once the
    /// stage's quantile succeeded). This picks the phase: the check runs when the first
    /// running task crosses its threshold, or, when other tasks cross theirs within one
    /// interval of it, when the last of those does. A wave's stragglers cross within a few
    /// ms of each other: checked at the first one's moment, the others would wait a whole
    /// interval for the next check, and the stage with them; checked together, each copy
    /// still starts within one interval of its task's crossing, as under Spark's timer.
    pub fn next_speculation_check_ms(&self) -> Option<u64> {
        let conf = self.conf.speculation?;
        if self.executors.stopped() {
            return None;
        }
        let due = self.tasks.speculatable_due_ms(&conf);
        let first = *due.first()?;
        let together = due
            .iter()
            .copied()
            .take_while(|d| *d < first.saturating_add(conf.interval_ms))
            .last()
            .unwrap_or(first);
        let earliest = self
            .last_speculation_check_ms
            .map_or(0, |t| t.saturating_add(conf.interval_ms));
        Some(together.max(earliest))
    }

    /// The executor's container, for the UI.
    pub fn executor_container(&self, id: &ExecutorId) -> Option<ContainerId> {
        self.executors.info(id).map(|e| e.container)
    }

    /// Ends a step: the allocation manager hears what the step posted, in order. A target
    /// that changed on those events (the eager policy follows the tasks at once) is logged
    /// and asked for now, not at the next round.
    fn finish(&mut self, mut out: Out, now_ms: u64) -> Vec<Effect> {
        if let Some(m) = self.dra.as_mut() {
            let old = m.num_executors_target();
            for ev in &out.listener {
                m.on_event(ev, now_ms);
            }
            let new = m.num_executors_target();
            if new != old {
                out.log(AppEvent::TargetChanged { old, new });
                self.sync_ask(now_ms, &mut out);
            }
        }
        out.effects
    }

    fn dag_step<R>(
        &mut self,
        out: &mut Out,
        now_ms: u64,
        f: impl FnOnce(&mut DagScheduler, &mut Ctx<'_>) -> R,
    ) -> R {
        let mut cx = Ctx {
            outputs: &mut self.map_outputs,
            tasks: &mut self.tasks,
            out,
            now_ms,
        };
        f(&mut self.dag, &mut cx)
    }

    /// Start-up: ask for the initial executors; start the user's code at once if none
    /// need to register first.
    pub fn start(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        if let Some(m) = self.dra.as_ref() {
            out.log(AppEvent::TargetChanged {
                old: 0,
                new: m.num_executors_target(),
            });
        }
        self.sync_ask(now_ms, &mut out);
        let expected = self.target_count();
        if self.gate.arm(expected, self.executors.registered(), now_ms) {
            out.push(Effect::StartUserCode);
        }
        self.finish(out, now_ms)
    }

    /// What the start gate waits for before the user's code runs (`None` once it ran).
    pub fn start_waits_for(&self) -> Option<super::GateWait> {
        self.gate.waiting_for()
    }

    fn check_gate(&mut self, now_ms: u64, out: &mut Out) {
        if !self.executors.stopped() && self.gate.check(self.executors.registered(), now_ms) {
            out.push(Effect::StartUserCode);
        }
    }

    // ------------------------------------------------------------ executors

    fn sync_ask(&mut self, now_ms: u64, out: &mut Out) {
        let target = self.target_count();
        self.executors.sync_ask(target, now_ms, out);
    }

    /// The AM subscribed again after losing the RM (its restart or failover; YARN's AM
    /// resync): the RM may have lost the outstanding ask, so it is sent again, as it
    /// stands now.
    pub fn on_rm_resync(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        if !self.executors.stopped() {
            self.executors.forget_ask_sent();
            self.sync_ask(now_ms, &mut out);
        }
        self.finish(out, now_ms)
    }

    pub fn on_allocated(&mut self, containers: Vec<Container>, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        let target = self.target_count();
        self.executors
            .on_allocated(containers, target, now_ms, &mut out);
        self.finish(out, now_ms)
    }

    /// The executor in this container could not be started.
    pub fn on_launch_failed(
        &mut self,
        container: ContainerId,
        reason: String,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut out = Out::default();
        out.push(Effect::Release { container });
        self.on_container_gone(container, -1, reason, now_ms, &mut out);
        self.finish(out, now_ms)
    }

    /// The RM will preempt these containers after its wait: their executors get no
    /// new tasks (Spark treats a preemption notice as a decommission); what runs there
    /// may still finish.
    pub fn on_preemption_notice(&mut self, containers: &[ContainerId], now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        let _decommissioning = self.executors.preempting(containers);
        self.offer(now_ms, &mut out);
        self.finish(out, now_ms)
    }

    pub fn on_container_completed(&mut self, status: &ContainerStatus, now_ms: u64) -> Vec<Effect> {
        let reason = if status.diagnostics.is_empty() {
            format!(
                "Container {} exited with exit status {}",
                status.container_id, status.exit_status
            )
        } else {
            format!(
                "Container {} exited with exit status {}: {}",
                status.container_id, status.exit_status, status.diagnostics
            )
        };
        let mut out = Out::default();
        self.on_container_gone(
            status.container_id,
            status.exit_status,
            reason,
            now_ms,
            &mut out,
        );
        self.finish(out, now_ms)
    }

    fn on_container_gone(
        &mut self,
        id: ContainerId,
        exit: i32,
        reason: String,
        now_ms: u64,
        out: &mut Out,
    ) {
        let Some(gone) = self.executors.container_gone(id, reason) else {
            return;
        };
        if self.executors.is_registered(&gone.executor) {
            self.remove_executor(&gone.executor, gone.reason.clone(), now_ms, out);
        } else if !gone.requested {
            out.log(AppEvent::ExecutorRemoved {
                executor: gone.executor.to_string(),
                reason: format!("executor never registered: {}", gone.reason),
            });
        }
        self.executors.count_failure(&gone, exit, out);
        self.sync_ask(now_ms, out);
        self.offer(now_ms, out);
    }

    /// The executor's connection to us dropped: it is gone, whatever the RM says later.
    pub fn on_executor_disconnected(&mut self, executor: &ExecutorId, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        if self.executors.is_registered(executor) {
            let reason = self
                .executors
                .stop_reason(executor)
                .unwrap_or_else(|| "executor lost: connection to the driver closed".into());
            self.remove_executor(executor, reason, now_ms, &mut out);
            self.offer(now_ms, &mut out);
        }
        self.finish(out, now_ms)
    }

    fn remove_executor(&mut self, id: &ExecutorId, reason: String, now_ms: u64, out: &mut Out) {
        let Some(info) = self.executors.remove(id) else {
            return;
        };
        self.suspects.remove(id);
        self.migrations_lost(id, out);
        // Its running tasks go back to their stages (not counted as failures).
        for t in self.tasks.executor_lost(id) {
            t.end("ExecutorLost", Some(reason.clone()), 0, now_ms, out);
        }
        if !self.conf.shuffle_service {
            // The map output it served itself went with it (what it migrated did not):
            // recompute what is still needed.
            self.map_outputs.remove_served_by(id, &info.shuffle_server);
            self.dag_step(out, now_ms, |dag, cx| dag.resubmit_ready(cx));
        }
        out.log(AppEvent::ExecutorRemoved {
            executor: id.to_string(),
            reason,
        });
        out.post(ListenerEvent::ExecutorRemoved {
            executor_id: id.clone(),
        });
    }

    pub fn on_executor_registered(
        &mut self,
        executor: &ExecutorId,
        registration: Registration,
        now_ms: u64,
    ) -> Result<Vec<Effect>, String> {
        let mut out = Out::default();
        let start_latency = self
            .executors
            .register(executor, registration, now_ms, &mut out)?;
        if let (Some(m), Some(ms)) = (self.dra.as_mut(), start_latency) {
            m.on_executor_start_latency(ms);
        }
        self.check_gate(now_ms, &mut out);
        self.offer(now_ms, &mut out);
        Ok(self.finish(out, now_ms))
    }

    // ------------------------------------------------------------ jobs

    pub fn submit_job(&mut self, job: JobId, spec: JobSpec, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        self.dag_step(&mut out, now_ms, |dag, cx| dag.submit_job(job, spec, cx));
        self.offer(now_ms, &mut out);
        self.finish(out, now_ms)
    }

    /// The shuffle is no longer referenced: forget its outputs, delete its files.
    pub fn release_shuffle(&mut self, shuffle: ShuffleId, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        if let Some(servers) = self.map_outputs.unregister_shuffle(shuffle) {
            self.dag.forget_shuffle(shuffle);
            out.push(Effect::RemoveShuffle { shuffle, servers });
            out.post(ListenerEvent::ShuffleCleaned {
                shuffle_id: shuffle,
            });
        }
        self.finish(out, now_ms)
    }

    /// Fills free executor slots, one task per executor per round, oldest stage first.
    fn offer(&mut self, now_ms: u64, out: &mut Out) {
        if self.executors.stopped() {
            return;
        }
        // Decommissioning executors that ran their last task go (`node_decommission`).
        self.stop_decommissioned(now_ms, out);
        let spread_hosts = self.executors.spans_hosts();
        self.suspects.retain(|_, until| now_ms < *until);
        loop {
            let mut launched = false;
            let offers = self.executors.offers();
            for (executor, host) in offers
                .into_iter()
                .filter(|(e, _)| !self.suspects.contains_key(e))
            {
                let offer = Offer {
                    executor: &executor,
                    host: &host,
                    spread_hosts,
                };
                if self.tasks.resource_offer(offer, now_ms, out) {
                    self.executors.take_slot(&executor);
                    launched = true;
                }
            }
            if !launched {
                break;
            }
        }
    }

    pub fn on_status_update(
        &mut self,
        executor: &ExecutorId,
        task_id: TaskId,
        result: TaskResult,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut out = Out::default();
        let Some(t) = self.tasks.take(task_id, executor) else {
            return out.effects;
        };
        self.executors.release_slot(executor);
        if let Some(reason) = t.killed.clone() {
            // The loser of a speculative race: whatever it reports, it was killed (Spark's
            // "TaskKilled"), its result is ignored and it is no failure.
            t.end("TaskKilled", Some(reason), 0, now_ms, &mut out);
            self.offer(now_ms, &mut out);
            return self.finish(out, now_ms);
        }
        match result {
            TaskResult::Killed(reason) => {
                // Killed without our asking: not a failure, it runs again.
                t.end("TaskKilled", Some(reason), 0, now_ms, &mut out);
                self.tasks.killed(&t);
            }
            TaskResult::Success(bytes) => match postcard::from_bytes::<TaskOutput>(&bytes) {
                Ok(output) => {
                    let metrics = self.task_metrics(&t, &output);
                    t.end_with(
                        "Success",
                        None,
                        output.records,
                        Some(metrics),
                        now_ms,
                        &mut out,
                    );
                    self.task_output(&t, output, now_ms, &mut out);
                }
                Err(e) => {
                    let msg = format!("undecodable task result: {e}");
                    t.end("Failed", Some(msg.clone()), 0, now_ms, &mut out);
                    self.task_failed(&t, msg, now_ms, &mut out);
                }
            },
            TaskResult::Failure(msg) => {
                t.end("Failed", Some(msg.clone()), 0, now_ms, &mut out);
                self.task_failed(&t, msg, now_ms, &mut out);
            }
            TaskResult::Failed(bytes) => {
                let err: TaskError = postcard::from_bytes(&bytes).unwrap_or_else(|e| TaskError {
                    message: format!("undecodable task error: {e}"),
                    fetch_failed: None,
                });
                match err.fetch_failed {
                    Some(ff) if self.dag.is_current(t.stage, t.stage_attempt) => {
                        if !self.conf.shuffle_service && ff.executor != *executor {
                            self.suspects
                                .insert(ff.executor.clone(), now_ms + FETCH_SUSPECT_MS);
                        }
                        t.end(
                            "FetchFailed",
                            Some(err.message.clone()),
                            0,
                            now_ms,
                            &mut out,
                        );
                        self.dag_step(&mut out, now_ms, |dag, cx| {
                            dag.fetch_failed(&t, &ff, err.message, cx)
                        });
                    }
                    // A late report from an attempt already resubmitted.
                    Some(_) => t.end("FetchFailed", Some(err.message), 0, now_ms, &mut out),
                    None => {
                        t.end("Failed", Some(err.message.clone()), 0, now_ms, &mut out);
                        self.task_failed(&t, err.message, now_ms, &mut out);
                    }
                }
            }
        }
        self.offer(now_ms, &mut out);
        self.finish(out, now_ms)
    }

    /// What a successful task read and wrote, from what the driver knows: the map
    /// outputs it was given and the sizes of the one it wrote; and what the task
    /// says it spilled.
    fn task_metrics(&self, t: &RunningTask, output: &TaskOutput) -> TaskMetrics {
        let mut m = TaskMetrics::default();
        self.dag.shuffle_read_of(t, &mut m);
        if let Some(sizes) = &output.map_sizes {
            m.shuffle_write_bytes = sizes.iter().sum();
            m.shuffle_write_records = output.records;
        }
        m.spill = output.spill;
        m
    }

    /// A task succeeded: note its cached blocks and map output, then its result.
    fn task_output(&mut self, t: &RunningTask, output: TaskOutput, now_ms: u64, out: &mut Out) {
        let executor = &t.executor;
        let info = self.executors.info(executor).cloned();
        let num_partitions = self.dag.partitions_of(t.stage).unwrap_or(0);
        for (rdd, part) in &output.cached {
            let host = info.as_ref().map(|e| e.host.clone()).unwrap_or_default();
            self.tasks.block_cached(*rdd, *part, executor, host);
            out.log(AppEvent::BlockCached {
                executor: executor.to_string(),
                rdd: rdd.get(),
                partition: *part,
                num_partitions,
            });
            out.post(ListenerEvent::BlockUpdated {
                executor_id: executor.clone(),
                rdd_id: *rdd,
                split_index: i64::from(*part),
                storage_level: StorageLevel::MEMORY_ONLY,
            });
        }
        if let (Some(sizes), Some((shuffle, map_id)), Some(info)) =
            (output.map_sizes, self.dag.map_output_of(t), info)
        {
            let loc = MapLocation {
                map_id,
                executor: executor.clone(),
                host: info.host,
                server: info.shuffle_server,
                dir: info.shuffle_dir,
                sizes,
            };
            self.map_outputs.register_map_output(shuffle, loc);
            out.post(ListenerEvent::ShuffleBlockUpdated {
                executor_id: executor.clone(),
                shuffle_id: shuffle,
            });
        }
        if self.tasks.succeeded(t, now_ms, out) {
            self.dag_step(out, now_ms, |dag, cx| {
                dag.task_succeeded(t, output.result, cx)
            });
        }
    }

    fn task_failed(&mut self, t: &RunningTask, msg: String, now_ms: u64, out: &mut Out) {
        if let Failure::Abort { attempts } = self.tasks.failed(t) {
            let err = JobError::TaskFailed {
                stage: t.stage,
                partition: t.partition,
                attempts,
                message: msg,
            };
            self.dag_step(out, now_ms, |dag, cx| dag.task_set_failed(t.stage, err, cx));
        }
    }

    // ------------------------------------------------------------ time

    /// The periodic schedule (the shell calls it every 100 ms, as Spark runs the
    /// allocation manager's): the start gate's deadline, the allocation manager's
    /// target and idle removals, and tasks whose locality wait is over.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        if self.executors.stopped() {
            return out.effects;
        }
        self.check_gate(now_ms, &mut out);
        if let Some(m) = self.dra.as_mut() {
            let outcome = m.tick(now_ms);
            if let Some((old, new)) = outcome.target_changed {
                out.log(AppEvent::TargetChanged { old, new });
            }
            let leaving: BTreeSet<ExecutorId> = outcome.to_remove.iter().cloned().collect();
            for id in &outcome.to_remove {
                let reason = if self.tasks.holds_cache(id) {
                    "cached idle timeout"
                } else {
                    "idle timeout"
                };
                self.release_executor(id, reason.into(), outcome.removal, &leaving, &mut out);
            }
            self.sync_ask(now_ms, &mut out);
        }
        self.offer(now_ms, &mut out);
        self.finish(out, now_ms)
    }

    /// Spark's speculation check (at most every `spark.speculation.interval`, see
    /// [`Self::next_speculation_check_ms`]): tasks much slower than their stage's
    /// successful ones are marked for a copy, and free slots are offered at once (Spark
    /// revives offers when it marks any).
    pub fn check_speculatable_tasks(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        let Some(conf) = self.conf.speculation else {
            return out.effects;
        };
        if self.executors.stopped() {
            return out.effects;
        }
        self.last_speculation_check_ms = Some(now_ms);
        if self.tasks.check_speculatable_tasks(&conf, now_ms, &mut out) {
            self.offer(now_ms, &mut out);
        }
        self.finish(out, now_ms)
    }

    /// Attempts asked to stop because another attempt of their task succeeded, whose
    /// executors have not reported them yet (the shell gives them a moment before it
    /// shuts down, so their end is the executor's word).
    pub fn tasks_being_killed(&self) -> usize {
        self.tasks.being_killed()
    }

    /// The app is ending: stop every executor, ask for nothing more. Attempts being
    /// killed that did not report end as `TaskKilled` now.
    pub fn shutdown(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut out = Out::default();
        for t in self.tasks.drain_killed() {
            let why = t.killed.as_deref().unwrap_or_default();
            let why = format!("{why} (not reported before the application ended)");
            t.end("TaskKilled", Some(why), 0, now_ms, &mut out);
        }
        self.executors.shutdown(&mut out);
        out.effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::effect::testing::{asks, launches};
    use crate::driver::effect::TaskDescription;
    use crate::driver::test_support::container;
    use crate::plan::{Action, FetchFailed, Plan, ShuffleDep, Source, SpillMetrics, StageSpec};
    use common::protocol::ContainerState;

    pub(super) fn conf(instances: u32) -> DriverConfig {
        DriverConfig {
            executor_resource: Resource::new(1408, 1),
            executor_cores: 1,
            task_cpus: 1,
            max_task_failures: 4,
            max_executor_failures: 3,
            static_instances: instances,
            dynamic: None,
            locality_wait_ms: 3000,
            shuffle_service: false,
            shuffle_migration: None,
            max_stage_attempts: 4,
            min_registered_ratio: 0.8,
            max_registered_wait_ms: 30_000,
            speculation: None,
        }
    }

    pub(super) fn ex(id: &str) -> ExecutorId {
        ExecutorId::from(id)
    }

    /// A one-core executor on host "h" serving its map output from `server`.
    pub(super) fn reg(server: &str, dir: &str) -> Registration {
        Registration {
            host: "h".into(),
            cores: 1,
            shuffle_server: server.into(),
            shuffle_dir: dir.into(),
            log_urls: Default::default(),
        }
    }

    pub(super) fn job(parts: u32) -> JobSpec {
        JobSpec {
            stage: StageSpec {
                plan: Plan {
                    source: Source::Range {
                        start: 0,
                        end: 10,
                        step: 1,
                        num_partitions: parts,
                    },
                    ops: vec![],
                },
                action: Action::Count,
                inputs: Default::default(),
            },
            partitions: (0..parts).collect(),
            description: "count".into(),
        }
    }

    /// What the RM reports when `container(n)` exited with `exit`.
    pub(super) fn exited(n: u64, exit: i32) -> ContainerStatus {
        let c = container(n);
        ContainerStatus {
            container_id: c.id,
            state: ContainerState::COMPLETE,
            exit_status: exit,
            diagnostics: String::new(),
            resource: c.resource,
        }
    }

    pub(super) fn ok_output() -> TaskResult {
        TaskResult::Success(postcard::to_stdvec(&TaskOutput::default()).unwrap())
    }

    /// After the RM came back, the AM sends what it still lacks again: the whole ask
    /// before any container came, the rest after one did, nothing once all came.
    #[test]
    fn a_resync_sends_the_outstanding_ask_again() {
        let mut d = DriverCore::new(conf(2)).unwrap();
        assert!(d.start(0).contains(&Effect::Ask { count: 2 }));
        assert!(!d.tick(1).iter().any(|e| matches!(e, Effect::Ask { .. })));
        assert!(d.on_rm_resync(2).contains(&Effect::Ask { count: 2 }));
        d.on_allocated(vec![container(2)], 3);
        assert!(d.on_rm_resync(4).contains(&Effect::Ask { count: 1 }));
        d.on_allocated(vec![container(3)], 5);
        assert!(d.on_rm_resync(6).contains(&Effect::Ask { count: 0 }));
    }

    #[test]
    fn static_allocation_asks_for_instances_and_runs_tasks() {
        let mut d = DriverCore::new(conf(2)).unwrap();
        let fx = d.start(0);
        assert!(fx.contains(&Effect::Ask { count: 2 }));
        let fx = d.on_allocated(vec![container(2), container(3)], 1);
        let starts = fx
            .iter()
            .filter(|e| matches!(e, Effect::StartExecutor { .. }))
            .count();
        assert_eq!(starts, 2);
        assert!(!fx
            .iter()
            .any(|e| matches!(e, Effect::Ask { count } if *count > 0)));
        d.on_executor_registered(&ex("1"), reg("", ""), 2).unwrap();
        d.on_executor_registered(&ex("2"), reg("", ""), 2).unwrap();
        let fx = d.submit_job(JobId(0), job(3), 3);
        let l = launches(&fx);
        assert_eq!(l.len(), 2, "one slot per executor");
        assert!(l.iter().all(|(_, t)| t.stage.is_some()));
        let fx = d.on_status_update(&l[0].0, l[0].1.task_id, ok_output(), 4);
        let l2 = launches(&fx);
        assert_eq!(l2.len(), 1);
        assert!(
            l2[0].1.stage.is_none(),
            "spec already sent to that executor"
        );
        d.on_status_update(&l[1].0, l[1].1.task_id, ok_output(), 5);
        let fx = d.on_status_update(&l2[0].0, l2[0].1.task_id, ok_output(), 6);
        assert!(fx.iter().any(
            |e| matches!(e, Effect::JobDone { job: JobId(0), result: Ok(r) } if r.len() == 3)
        ));
    }

    #[test]
    fn failing_task_is_retried_then_fails_the_job() {
        let mut d = DriverCore::new(conf(1)).unwrap();
        d.start(0);
        d.on_allocated(vec![container(2)], 0);
        d.on_executor_registered(&ex("1"), reg("", ""), 0).unwrap();
        let mut fx = d.submit_job(JobId(0), job(1), 0);
        for attempt in 0..4 {
            let l = launches(&fx);
            assert_eq!(l.len(), 1);
            assert_eq!(l[0].1.attempt, attempt);
            fx = d.on_status_update(
                &ex("1"),
                l[0].1.task_id,
                TaskResult::Failure("boom".into()),
                1,
            );
        }
        let err = fx
            .iter()
            .find_map(|e| match e {
                Effect::JobDone { result: Err(e), .. } => Some(e.to_string()),
                _ => None,
            })
            .expect("job failed");
        assert!(
            err.contains("failed 4 times") && err.contains("boom"),
            "{err}"
        );
    }

    #[test]
    fn lost_executor_requeues_tasks_and_asks_for_a_replacement() {
        let mut d = DriverCore::new(conf(2)).unwrap();
        d.start(0);
        d.on_allocated(vec![container(2), container(3)], 0);
        d.on_executor_registered(&ex("1"), reg("", ""), 0).unwrap();
        d.on_executor_registered(&ex("2"), reg("", ""), 0).unwrap();
        let l = launches(&d.submit_job(JobId(0), job(2), 0));
        let lost = l.iter().find(|(e, _)| e == "1").unwrap().1.task_id;
        let fx = d.on_executor_disconnected(&ex("1"), 1);
        assert!(fx.iter().any(|e| matches!(e, Effect::Log(AppEvent::TaskEnd { reason, task, .. }) if reason == "ExecutorLost" && task.task_id == lost.get())));
        let fx = d.on_container_completed(&exited(2, 137), 2);
        assert!(fx.contains(&Effect::Ask { count: 1 }), "{fx:?}");
        // The other executor picks the re-queued task once it is free.
        let other = l.iter().find(|(e, _)| e == "2").unwrap().1.task_id;
        let fx = d.on_status_update(&ex("2"), other, ok_output(), 3);
        assert_eq!(launches(&fx).len(), 1);
    }

    #[test]
    fn too_many_executor_failures_abort() {
        let mut c = conf(1);
        c.max_executor_failures = 1;
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        let mut aborted = false;
        for n in 2..5 {
            d.on_allocated(vec![container(n)], 0);
            let fx = d.on_container_completed(&exited(n, 1), 1);
            aborted |= fx.iter().any(|e| matches!(e, Effect::Abort { .. }));
        }
        assert!(aborted);
    }

    pub(super) fn shuffle_job(maps: u32, reduces: u32) -> JobSpec {
        use crate::plan::{Partitioner, ShuffleRead, ShuffleWrite};
        let parent = Plan {
            source: Source::Range {
                start: 0,
                end: 10,
                step: 1,
                num_partitions: maps,
            },
            ops: vec![],
        };
        JobSpec {
            stage: StageSpec {
                plan: Plan {
                    source: Source::Shuffled {
                        deps: vec![ShuffleDep {
                            write: ShuffleWrite {
                                shuffle_id: ShuffleId(7),
                                pair_type: "(i64, i64)".into(),
                                partitioner: Partitioner::Hash {
                                    partitions: reduces,
                                },
                                map_side_combine: None,
                            },
                            parent: Box::new(parent),
                        }],
                        read: ShuffleRead::Pairs,
                        num_partitions: reduces,
                    },
                    ops: vec![],
                },
                action: Action::Count,
                inputs: Default::default(),
            },
            partitions: (0..reduces).collect(),
            description: "count".into(),
        }
    }

    /// What each map task of [`map_output`] says it spilled.
    const MAP_SPILL: SpillMetrics = SpillMetrics {
        spills: 1,
        memory_bytes_spilled: 100,
        disk_bytes_spilled: 40,
    };

    fn map_output(reduces: usize) -> TaskResult {
        TaskResult::Success(
            postcard::to_stdvec(&TaskOutput {
                map_sizes: Some(vec![1; reduces]),
                spill: MAP_SPILL,
                ..Default::default()
            })
            .unwrap(),
        )
    }

    pub(super) fn two_executors(service: bool) -> DriverCore {
        let mut c = conf(2);
        c.shuffle_service = service;
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        d.on_allocated(vec![container(2), container(3)], 0);
        d.on_executor_registered(&ex("1"), reg("svc1", "/d1"), 0)
            .unwrap();
        d.on_executor_registered(&ex("2"), reg("svc2", "/d2"), 0)
            .unwrap();
        d
    }

    /// Runs every launched task to success until no task is launched.
    pub(super) fn drain(d: &mut DriverCore, mut fx: Vec<Effect>, reduces: usize) -> Vec<Effect> {
        let mut all = fx.clone();
        loop {
            let l = launches(&fx);
            if l.is_empty() {
                return all;
            }
            fx = Vec::new();
            for (e, t) in l {
                let spec: StageSpec = match &t.stage {
                    Some(b) => postcard::from_bytes(b).unwrap(),
                    None => StageSpec {
                        plan: shuffle_job(1, 1).stage.plan,
                        action: Action::Count,
                        inputs: Default::default(),
                    },
                };
                let r = if matches!(spec.action, Action::ShuffleWrite(_)) {
                    map_output(reduces)
                } else {
                    ok_output()
                };
                fx.extend(d.on_status_update(&e, t.task_id, r, 1));
            }
            all.extend(fx.clone());
        }
    }

    #[test]
    fn map_stage_runs_before_the_reduce_stage_and_is_reused() {
        let mut d = two_executors(false);
        let fx = d.submit_job(JobId(0), shuffle_job(3, 2), 0);
        // Only map tasks first.
        for (_, t) in launches(&fx) {
            let spec: StageSpec = postcard::from_bytes(t.stage.as_ref().unwrap()).unwrap();
            assert!(matches!(spec.action, Action::ShuffleWrite(_)));
        }
        let all = drain(&mut d, fx, 2);
        assert!(all.iter().any(
            |e| matches!(e, Effect::JobDone { job: JobId(0), result: Ok(r) } if r.len() == 2)
        ));
        // The reduce stage got every map output's location.
        let reduce_spec = all
            .iter()
            .filter_map(|e| match e {
                Effect::Launch { launch, .. } => launch.stage.as_ref(),
                _ => None,
            })
            .map(|b| postcard::from_bytes::<StageSpec>(b).unwrap())
            .find(|s| !matches!(s.action, Action::ShuffleWrite(_)))
            .unwrap();
        assert_eq!(reduce_spec.inputs[&ShuffleId(7)].len(), 3);
        // Task metrics: each map task wrote 1 byte per reduce partition; each reduce
        // task read one 1-byte block of each of the 3 map outputs, local or remote.
        let metrics: Vec<(bool, TaskMetrics)> = all
            .iter()
            .filter_map(|e| match e {
                Effect::Log(AppEvent::TaskEnd {
                    metrics: Some(m), ..
                }) => Some((m.shuffle_write_bytes > 0, m.clone())),
                _ => None,
            })
            .collect();
        let writers: Vec<_> = metrics.iter().filter(|(map, _)| *map).collect();
        let readers: Vec<_> = metrics
            .iter()
            .filter(|(_, m)| m.shuffle_read_bytes() > 0)
            .collect();
        assert_eq!(writers.len(), 3, "{metrics:?}");
        assert_eq!(readers.len(), 2, "{metrics:?}");
        for (_, m) in writers {
            assert_eq!(m.shuffle_write_bytes, 2);
            assert_eq!(m.shuffle_read_bytes(), 0);
            // What the executor said it spilled.
            assert_eq!(m.spill, MAP_SPILL);
        }
        for (_, m) in readers {
            assert_eq!(m.shuffle_read_bytes(), 3);
            assert_eq!(m.shuffle_local_blocks + m.shuffle_remote_blocks, 3);
        }
        // A second job on the same shuffle skips the map stage.
        let fx = d.submit_job(JobId(1), shuffle_job(3, 2), 2);
        let l = launches(&fx);
        assert!(!l.is_empty());
        assert!(l.iter().all(|(_, t)| t.stage.is_some()));
        for (_, t) in &l {
            let spec: StageSpec = postcard::from_bytes(t.stage.as_ref().unwrap()).unwrap();
            assert!(
                !matches!(spec.action, Action::ShuffleWrite(_)),
                "map stage re-ran"
            );
        }
    }

    #[test]
    fn fetch_failure_reruns_the_lost_map_task_then_the_reduce_stage() {
        let mut d = two_executors(false);
        let fx = d.submit_job(JobId(0), shuffle_job(2, 1), 0);
        // Finish the map stage.
        let mut fx2 = Vec::new();
        for (e, t) in launches(&fx) {
            fx2.extend(d.on_status_update(&e, t.task_id, map_output(1), 1));
        }
        let (e, reduce) = launches(&fx2).remove(0);
        let err = TaskError {
            message: "cannot fetch".into(),
            fetch_failed: Some(FetchFailed {
                shuffle_id: ShuffleId(7),
                map_id: 0,
                executor: "1".into(),
                server: "svc1".into(),
            }),
        };
        let fx3 = d.on_status_update(
            &e,
            reduce.task_id,
            TaskResult::Failed(postcard::to_stdvec(&err).unwrap()),
            2,
        );
        // Only the lost map output is recomputed.
        let l = launches(&fx3);
        assert_eq!(l.len(), 1, "{fx3:?}");
        let spec: StageSpec = postcard::from_bytes(l[0].1.stage.as_ref().unwrap()).unwrap();
        assert!(matches!(spec.action, Action::ShuffleWrite(_)));
        assert_eq!(l[0].1.partition, 0);
        let all = drain(&mut d, fx3, 1);
        assert!(all.iter().any(|e| matches!(
            e,
            Effect::JobDone {
                job: JobId(0),
                result: Ok(_)
            }
        )));
        assert!(all
            .iter()
            .any(|e| matches!(e, Effect::Log(AppEvent::StageSubmitted { attempt: 1, .. }))));
    }

    #[test]
    fn the_executor_a_fetch_failed_from_gets_no_task_until_its_fate_is_known() {
        let mut d = two_executors(false);
        let mut fx = d.submit_job(JobId(0), shuffle_job(4, 2), 0);
        // Run the map stage, noting where each map output is.
        let mut on_1 = Vec::new();
        let mut reduces = Vec::new();
        let map_stage = launches(&fx)[0].1.stage_id;
        while !launches(&fx).is_empty() {
            let mut next = Vec::new();
            for (e, t) in launches(&fx) {
                if t.stage_id == map_stage {
                    if e == "1" {
                        on_1.push(t.partition);
                    }
                    next.extend(d.on_status_update(&e, t.task_id, map_output(2), 1));
                } else {
                    reduces.push((e, t));
                }
            }
            fx = next;
        }
        assert_eq!(reduces.len(), 2, "{reduces:?}");
        // Executor 1's reducer finishes (it is idle now); 2's cannot fetch from 1.
        let (e1, r1) = reduces.iter().find(|(e, _)| e == "1").unwrap().clone();
        d.on_status_update(&e1, r1.task_id, ok_output(), 2);
        let (e2, r2) = reduces.iter().find(|(e, _)| e == "2").unwrap().clone();
        let err = TaskError {
            message: "cannot fetch: timed out".into(),
            fetch_failed: Some(FetchFailed {
                shuffle_id: ShuffleId(7),
                map_id: on_1[0],
                executor: "1".into(),
                server: "svc1".into(),
            }),
        };
        let failed = TaskResult::Failed(postcard::to_stdvec(&err).unwrap());
        let l = launches(&d.on_status_update(&e2, r2.task_id, failed, 3));
        // Only its lost outputs re-run, and not on it.
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].0, "2");
        assert!(on_1.contains(&l[0].1.partition));
        assert!(launches(&d.tick(3 + FETCH_SUSPECT_MS - 1)).is_empty());
        // Alive after all: it gets the other lost map.
        let l = launches(&d.tick(3 + FETCH_SUSPECT_MS));
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].0, "1");
        assert_eq!(on_1.len(), 2);
    }

    #[test]
    fn executor_loss_without_service_recomputes_its_map_output() {
        let mut d = two_executors(false);
        let fx = d.submit_job(JobId(0), shuffle_job(2, 1), 0);
        let l = launches(&fx);
        // Executor 1 finishes its map task, then dies before the reduce stage.
        let (e1, t1) = l.iter().find(|(e, _)| e == "1").unwrap().clone();
        d.on_status_update(&e1, t1.task_id, map_output(1), 1);
        d.on_executor_disconnected(&ex("1"), 2);
        let (e2, t2) = l.iter().find(|(e, _)| e == "2").unwrap().clone();
        let fx = d.on_status_update(&e2, t2.task_id, map_output(1), 3);
        let l = launches(&fx);
        assert_eq!(l.len(), 1);
        let spec: StageSpec = postcard::from_bytes(l[0].1.stage.as_ref().unwrap()).unwrap();
        assert!(
            matches!(spec.action, Action::ShuffleWrite(_)),
            "lost map re-runs first"
        );
        assert_eq!(l[0].1.partition, t1.partition);
    }

    #[test]
    fn with_the_service_map_output_survives_its_executor() {
        let mut d = two_executors(true);
        let fx = d.submit_job(JobId(0), shuffle_job(2, 1), 0);
        let l = launches(&fx);
        let mut fx2 = Vec::new();
        for (e, t) in &l {
            fx2.extend(d.on_status_update(e, t.task_id, map_output(1), 1));
        }
        fx2.extend(d.on_executor_disconnected(&ex("1"), 2));
        // The reduce task runs (again, if it was on the lost executor); no map task re-runs.
        let l = launches(&fx2);
        assert!(!l.is_empty());
        for (_, t) in &l {
            if let Some(b) = &t.stage {
                let spec: StageSpec = postcard::from_bytes(b).unwrap();
                assert!(
                    !matches!(spec.action, Action::ShuffleWrite(_)),
                    "no map re-run"
                );
            }
        }
        assert!(l.last().is_some_and(|(e, _)| e == "2"));
    }

    /// Dynamic allocation from 0 executors (`initial` at the start) to `max`, with the
    /// shuffle service.
    fn dynamic(initial: i64, max: i64) -> AllocationConfig {
        AllocationConfig {
            min_executors: 0,
            initial_executors: Some(initial),
            max_executors: max,
            shuffle_service_enabled: true,
            ..AllocationConfig::default()
        }
    }

    fn starts(fx: &[Effect]) -> usize {
        fx.iter()
            .filter(|e| matches!(e, Effect::StartUserCode))
            .count()
    }

    /// Registers executor `id` (its container arrived before), one core on host "h".
    fn register(d: &mut DriverCore, id: u64, now: u64) -> Vec<Effect> {
        d.on_executor_registered(&ex(&id.to_string()), reg("", ""), now)
            .unwrap()
    }

    /// Allocates containers for executors `first..=last` (executor n runs in container
    /// n + 1) and registers them.
    fn register_all(d: &mut DriverCore, first: u64, last: u64, now: u64) -> Vec<Effect> {
        let mut fx = d.on_allocated((first + 1..=last + 1).map(container).collect(), now);
        for i in first..=last {
            fx.extend(register(d, i, now));
        }
        fx
    }

    #[test]
    fn user_code_starts_once_80_percent_registered() {
        let mut d = DriverCore::new(conf(5)).unwrap();
        assert_eq!(starts(&d.start(1_000)), 0);
        let mut fx = d.on_allocated((2..7).map(container).collect(), 1_100);
        for (i, now) in [(1, 1_200), (2, 1_300), (3, 1_400)] {
            fx.extend(register(&mut d, i, now));
            fx.extend(d.tick(now));
        }
        assert_eq!(starts(&fx), 0, "3 of 5 is not enough");
        assert_eq!(starts(&register(&mut d, 4, 1_500)), 1, "4 of 5 is 80%");
        let mut later = register(&mut d, 5, 1_600);
        later.extend(d.tick(40_000));
        assert_eq!(starts(&later), 0, "never twice");
    }

    #[test]
    fn user_code_starts_at_the_deadline_with_fewer() {
        let mut d = DriverCore::new(conf(4)).unwrap();
        assert_eq!(starts(&d.start(500)), 0);
        let fx = register_all(&mut d, 1, 1, 600);
        assert_eq!(starts(&fx), 0);
        assert_eq!(starts(&d.tick(30_499)), 0);
        assert_eq!(starts(&d.tick(30_500)), 1, "30 s after the start");
        assert_eq!(starts(&d.tick(30_600)), 0);
        assert_eq!(starts(&register_all(&mut d, 2, 4, 30_700)), 0);
    }

    #[test]
    fn user_code_starts_at_once_when_nothing_is_wanted() {
        let mut d = DriverCore::new(conf(0)).unwrap();
        let fx = d.start(0);
        assert_eq!(starts(&fx), 1);
        assert_eq!(starts(&d.tick(100)), 0);
        assert_eq!(starts(&d.tick(60_000)), 0);
        // Under dynamic allocation the initial target decides.
        let mut c = conf(3);
        c.dynamic = Some(dynamic(0, 5));
        let mut d = DriverCore::new(c).unwrap();
        assert_eq!(d.target(), 0);
        assert_eq!(starts(&d.start(0)), 1);
        assert_eq!(starts(&d.tick(100)), 0);
    }

    #[test]
    fn the_start_gate_follows_its_settings() {
        let mut c = conf(4);
        c.min_registered_ratio = 0.5;
        c.max_registered_wait_ms = 5_000;
        let mut d = DriverCore::new(c.clone()).unwrap();
        d.start(0);
        assert_eq!(starts(&register_all(&mut d, 1, 2, 10)), 1, "2 of 4 is 50%");
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        assert_eq!(starts(&d.tick(4_999)), 0);
        assert_eq!(starts(&d.tick(5_000)), 1);
        // After shutdown the user's code never starts.
        let mut d = DriverCore::new(conf(4)).unwrap();
        d.start(0);
        d.shutdown(0);
        assert_eq!(starts(&d.tick(60_000)), 0);
    }

    #[test]
    fn task_durations_run_on_the_clock_the_core_is_given() {
        let mut d = DriverCore::new(conf(1)).unwrap();
        d.start(1_000);
        register_all(&mut d, 1, 1, 1_000);
        let l = launches(&d.submit_job(JobId(0), job(1), 2_000));
        let fx = d.on_status_update(&l[0].0, l[0].1.task_id, ok_output(), 2_750);
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Log(AppEvent::TaskEnd { duration_ms: 750, reason, .. }) if reason == "Success"
        )));
    }

    #[test]
    fn eager_asks_when_tasks_wait_and_learns_the_start_latency() {
        let mut c = conf(0);
        c.dynamic = Some(AllocationConfig {
            policy: crate::allocation::AllocationPolicy::Eager,
            ..dynamic(1, 4)
        });
        let mut d = DriverCore::new(c).unwrap();
        assert_eq!(asks(&d.start(0)), [1]);
        register_all(&mut d, 1, 1, 30);
        // The job's tasks wait with one slot: the rest is asked for in the same step, not
        // at the next round.
        let fx = d.submit_job(JobId(0), job(3), 100);
        assert_eq!(launches(&fx).len(), 1);
        assert_eq!(asks(&fx), [2]);
        assert!(fx
            .iter()
            .any(|e| matches!(e, Effect::Log(AppEvent::TargetChanged { old: 1, new: 3 }))));
        // Asked at 0 and registered at 30; asked at 100 and registered at 160 and 180.
        d.on_allocated(vec![container(3), container(4)], 150);
        register(&mut d, 2, 160);
        register(&mut d, 3, 180);
        let m = d.dra.as_ref().unwrap();
        assert_eq!(m.median_executor_start_latency_ms(), Some(60));
        assert_eq!(m.executor_idle_timeout_ms(), Some(240));
    }

    // ------------------------------------------------------------ speculation

    /// `n` one-core executors registered at 0, speculation on with Spark 4's defaults.
    fn speculating(n: u32) -> DriverCore {
        let mut c = conf(n);
        c.speculation = Some(SpeculationConfig::default());
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        register_all(&mut d, 1, u64::from(n), 0);
        d
    }

    fn logged(fx: &[Effect], f: impl Fn(&AppEvent) -> bool) -> usize {
        fx.iter()
            .filter(|e| matches!(e, Effect::Log(ev) if f(ev)))
            .count()
    }

    fn kills(fx: &[Effect]) -> Vec<(ExecutorId, TaskId)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::KillTask {
                    executor, task_id, ..
                } => Some((executor.clone(), *task_id)),
                _ => None,
            })
            .collect()
    }

    fn job_ok(fx: &[Effect]) -> bool {
        fx.iter()
            .any(|e| matches!(e, Effect::JobDone { result: Ok(_), .. }))
    }

    /// A job of 10 tasks on 10 executors, the first `done` of them succeeded in 200 ms;
    /// the rest still run. Returns the 10 launches.
    fn ten_launched(d: &mut DriverCore, done: usize) -> Vec<(ExecutorId, TaskDescription)> {
        let l = launches(&d.submit_job(JobId(0), job(10), 0));
        assert_eq!(l.len(), 10);
        for (e, t) in &l[..done] {
            d.on_status_update(e, t.task_id, ok_output(), 200);
        }
        l
    }

    /// [`ten_launched`] with nine done: the task of index 9 (on executor 10) still runs.
    /// Returns it.
    fn nine_done(d: &mut DriverCore) -> (ExecutorId, TaskDescription) {
        ten_launched(d, 9).remove(9)
    }

    #[test]
    fn a_slow_task_gets_one_copy_once_the_quantile_succeeded() {
        let mut d = speculating(10);
        ten_launched(&mut d, 8);
        // 8 of 10 succeeded: below floor(0.9 × 10) = 9, however slow the others are.
        assert!(d.check_speculatable_tasks(5_000).is_empty());
        let mut d = speculating(10);
        let (slow_exec, _) = nine_done(&mut d);
        // Median 200 ms: a copy after 3 × 200 = 600 ms of runtime, not at 600 itself.
        assert!(d.check_speculatable_tasks(600).is_empty());
        let fx = d.check_speculatable_tasks(601);
        assert_eq!(
            logged(&fx, |e| matches!(
                e,
                AppEvent::SpeculativeTaskSubmitted {
                    stage: 0,
                    index: 9,
                    ..
                }
            )),
            1
        );
        // The copy: attempt 1 of partition 9, on another executor, marked speculative.
        let copy = launches(&fx);
        assert_eq!(copy.len(), 1, "{fx:?}");
        assert_ne!(copy[0].0, slow_exec);
        assert_eq!((copy[0].1.partition, copy[0].1.attempt), (9, 1));
        assert_eq!(
            logged(&fx, |e| matches!(
                e,
                AppEvent::TaskStart { task, .. }
                    if task.index == 9 && task.attempt == 1 && task.speculative
            )),
            1
        );
        // Only one copy, however long both run.
        assert!(d.check_speculatable_tasks(5_000).is_empty());
    }

    #[test]
    fn the_copy_wins_and_the_original_is_killed_not_failed() {
        let mut c = conf(10);
        c.speculation = Some(SpeculationConfig::default());
        // One failure would fail the job: the killed loser must not count as one.
        c.max_task_failures = 1;
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        register_all(&mut d, 1, 10, 0);
        let (slow_exec, slow) = nine_done(&mut d);
        let (copy_exec, copy) = launches(&d.check_speculatable_tasks(700)).remove(0);
        let fx = d.on_status_update(&copy_exec, copy.task_id, ok_output(), 900);
        assert!(job_ok(&fx), "the first attempt to finish wins");
        assert_eq!(kills(&fx), [(slow_exec.clone(), slow.task_id)]);
        // The loser stops and says so (or fails, or even succeeds): it was killed.
        for result in [
            TaskResult::Killed("another attempt succeeded".into()),
            TaskResult::Failure("interrupted".into()),
            ok_output(),
        ] {
            let mut d2 = DriverCore::new({
                let mut c = conf(10);
                c.speculation = Some(SpeculationConfig::default());
                c.max_task_failures = 1;
                c
            })
            .unwrap();
            d2.start(0);
            register_all(&mut d2, 1, 10, 0);
            let (se, st) = nine_done(&mut d2);
            let (ce, ct) = launches(&d2.check_speculatable_tasks(700)).remove(0);
            d2.on_status_update(&ce, ct.task_id, ok_output(), 900);
            let fx = d2.on_status_update(&se, st.task_id, result, 950);
            assert_eq!(
                logged(&fx, |e| matches!(
                    e,
                    AppEvent::TaskEnd { task, reason, error: Some(why), .. }
                        if (task.index, task.attempt, task.speculative) == (9, 0, false)
                            && reason == "TaskKilled" && why == "another attempt succeeded"
                )),
                1,
                "{fx:?}"
            );
            assert!(!fx.iter().any(|e| matches!(
                e,
                Effect::Abort { .. } | Effect::JobDone { .. } | Effect::Launch { .. }
            )));
        }
        // Its slot is free again.
        let fx = d.on_status_update(&slow_exec, slow.task_id, ok_output(), 950);
        let l = launches(&d.submit_job(JobId(1), job(10), 1_000));
        assert_eq!(l.len(), 10, "{fx:?}");
    }

    #[test]
    fn the_original_wins_and_the_copy_is_killed() {
        let mut d = speculating(10);
        let (slow_exec, slow) = nine_done(&mut d);
        let (copy_exec, copy) = launches(&d.check_speculatable_tasks(700)).remove(0);
        let fx = d.on_status_update(&slow_exec, slow.task_id, ok_output(), 800);
        assert!(job_ok(&fx));
        assert_eq!(kills(&fx), [(copy_exec.clone(), copy.task_id)]);
        let fx = d.on_status_update(
            &copy_exec,
            copy.task_id,
            TaskResult::Killed("another attempt succeeded".into()),
            810,
        );
        assert_eq!(
            logged(&fx, |e| matches!(
                e,
                AppEvent::TaskEnd { task, reason, .. }
                    if task.attempt == 1 && task.speculative && reason == "TaskKilled"
            )),
            1
        );
        assert!(!fx.iter().any(|e| matches!(e, Effect::JobDone { .. })));
    }

    #[test]
    fn a_copy_never_runs_beside_its_original() {
        // One executor so far: the slow task's copy has nowhere to go.
        let mut c = conf(2);
        c.speculation = Some(SpeculationConfig::default());
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        d.on_allocated(vec![container(2)], 0);
        register(&mut d, 1, 0);
        let l = launches(&d.submit_job(JobId(0), job(2), 0));
        let fx = d.on_status_update(&l[0].0, l[0].1.task_id, ok_output(), 200);
        let slow = launches(&fx).remove(0).1;
        let fx = d.check_speculatable_tasks(2_000);
        assert_eq!(
            logged(&fx, |e| matches!(
                e,
                AppEvent::SpeculativeTaskSubmitted { .. }
            )),
            1
        );
        assert!(launches(&fx).is_empty(), "not on the executor it runs on");
        // A second executor takes it.
        let mut fx = d.on_allocated(vec![container(3)], 2_100);
        fx.extend(
            d.on_executor_registered(
                &ex("2"),
                Registration {
                    host: "other".into(),
                    ..reg("", "")
                },
                2_100,
            )
            .unwrap(),
        );
        let copy = launches(&fx);
        assert_eq!(copy.len(), 1);
        assert_eq!(
            (copy[0].0.clone(), copy[0].1.partition),
            (ex("2"), slow.partition)
        );
    }

    #[test]
    fn a_lost_original_leaves_the_task_to_its_copy() {
        let mut d = speculating(10);
        let (slow_exec, _) = nine_done(&mut d);
        let (copy_exec, copy) = launches(&d.check_speculatable_tasks(700)).remove(0);
        let fx = d.on_executor_disconnected(&slow_exec, 750);
        assert!(
            launches(&fx).is_empty(),
            "the copy still runs: no third attempt"
        );
        let fx = d.on_status_update(&copy_exec, copy.task_id, ok_output(), 900);
        assert!(job_ok(&fx));
        assert!(kills(&fx).is_empty());
    }

    #[test]
    fn pending_speculative_tasks_raise_the_allocation_target() {
        let mut c = conf(0);
        c.speculation = Some(SpeculationConfig::default());
        c.dynamic = Some(AllocationConfig {
            scheduler_backlog_timeout_ms: 1_000,
            ..dynamic(1, 4)
        });
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        register_all(&mut d, 1, 1, 0);
        let l = launches(&d.submit_job(JobId(0), job(2), 0));
        d.on_status_update(&l[0].0, l[0].1.task_id, ok_output(), 200);
        // One task runs on the one executor: one is enough.
        assert_eq!(d.dra.as_ref().unwrap().max_num_executors_needed(), 1);
        d.tick(2_000);
        assert_eq!(d.target(), 1);
        // Its copy waits for an executor of its own: it counts as a pending task (Spark's
        // SparkListenerSpeculativeTaskSubmitted), and after the backlog timeout the
        // target grows for it.
        d.check_speculatable_tasks(2_000);
        assert_eq!(d.dra.as_ref().unwrap().max_num_executors_needed(), 2);
        let fx = d.tick(3_000);
        assert_eq!(d.target(), 2);
        assert!(fx.contains(&Effect::Ask { count: 1 }), "{fx:?}");
        // The copy starts on the new executor: running, no longer pending.
        let mut fx = d.on_allocated(vec![container(3)], 3_010);
        fx.extend(register(&mut d, 2, 3_020));
        assert_eq!(launches(&fx).len(), 1);
        assert_eq!(d.dra.as_ref().unwrap().max_num_executors_needed(), 2);
    }

    #[test]
    fn the_check_is_due_when_a_task_can_cross_its_threshold_at_most_once_an_interval() {
        let mut d = speculating(10);
        let l = ten_launched(&mut d, 8);
        assert_eq!(d.next_speculation_check_ms(), None, "below the quantile");
        d.on_status_update(&l[8].0, l[8].1.task_id, ok_output(), 200);
        // Task 9 started at 0; median 200, threshold 600: due at 601.
        assert_eq!(d.next_speculation_check_ms(), Some(601));
        assert!(d.check_speculatable_tasks(550).is_empty());
        assert_eq!(
            d.next_speculation_check_ms(),
            Some(650),
            "one interval after 550"
        );
        assert_eq!(launches(&d.check_speculatable_tasks(650)).len(), 1);
        assert_eq!(d.next_speculation_check_ms(), None, "both attempts run");
    }

    /// A job of 20 tasks on 10 executors: the first wave succeeds in 200 ms (tasks 8 and
    /// 9 at 200 + `late`, at most 400), the second wave's first eight at 400. 18 of 20
    /// succeeded (the quantile), median 200 ms, threshold 600 ms; the tasks of index 18
    /// and 19 still run, started at 200 + `late[0]` and 200 + `late[1]`, so due 601 ms
    /// later.
    fn two_stragglers(late: [u64; 2]) -> DriverCore {
        let mut d = speculating(10);
        let first = launches(&d.submit_job(JobId(0), job(20), 0));
        let mut second = Vec::new();
        for (i, (e, t)) in first.iter().enumerate() {
            let at = 200 + if i >= 8 { late[i - 8] } else { 0 };
            second.extend(launches(&d.on_status_update(e, t.task_id, ok_output(), at)));
        }
        assert_eq!(second.len(), 10);
        for (e, t) in &second[..8] {
            d.on_status_update(e, t.task_id, ok_output(), 400);
        }
        d
    }

    #[test]
    fn tasks_crossing_their_threshold_within_an_interval_are_checked_together() {
        // Due at 804 and 811: one check at 811 copies both, where a check at 804 would
        // leave the second for the next one, at 904 at the earliest.
        let mut d = two_stragglers([3, 10]);
        assert_eq!(d.next_speculation_check_ms(), Some(811));
        let copies = launches(&d.check_speculatable_tasks(811));
        let mut copied: Vec<u32> = copies.iter().map(|(_, t)| t.partition).collect();
        copied.sort_unstable();
        assert_eq!(copied, vec![18, 19]);
        assert_eq!(d.next_speculation_check_ms(), None, "both copied");
    }

    #[test]
    fn tasks_crossing_an_interval_apart_are_checked_each_in_time() {
        // Due at 804 and 1001: the first is not kept waiting for the second.
        let mut d = two_stragglers([3, 200]);
        assert_eq!(d.next_speculation_check_ms(), Some(804));
        let copies = launches(&d.check_speculatable_tasks(804));
        assert_eq!(copies.len(), 1);
        assert_eq!(copies[0].1.partition, 18);
        assert_eq!(d.next_speculation_check_ms(), Some(1001));
        assert_eq!(launches(&d.check_speculatable_tasks(1001)).len(), 1);
    }

    #[test]
    fn killed_attempts_that_never_report_end_killed_at_shutdown() {
        let mut d = speculating(10);
        let (slow_exec, slow) = nine_done(&mut d);
        let (copy_exec, copy) = launches(&d.check_speculatable_tasks(700)).remove(0);
        d.on_status_update(&copy_exec, copy.task_id, ok_output(), 900);
        assert_eq!(d.tasks_being_killed(), 1);
        let fx = d.shutdown(910);
        assert_eq!(
            logged(&fx, |e| matches!(
                e,
                AppEvent::TaskEnd { task, reason, .. }
                    if task.task_id == slow.task_id.get() && reason == "TaskKilled"
            )),
            1
        );
        assert_eq!(d.tasks_being_killed(), 0);
        // A report after that is ignored.
        assert!(d
            .on_status_update(&slow_exec, slow.task_id, ok_output(), 920)
            .is_empty());
    }

    #[test]
    fn speculation_is_off_by_default() {
        let mut d = DriverCore::new(conf(10)).unwrap();
        d.start(0);
        register_all(&mut d, 1, 10, 0);
        nine_done(&mut d);
        assert!(d.check_speculatable_tasks(60_000).is_empty());
        assert_eq!(d.speculation_interval_ms(), None);
    }
}
