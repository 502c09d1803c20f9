//! Per-executor activity tracking (Spark's `ExecutorMonitor`): which executors are idle,
//! when each one times out, and which are already being removed.
//!
//! An idle executor times out after `executorIdleTimeout`; one holding cached blocks after
//! the larger of that and `cachedExecutorIdleTimeout`; one holding shuffle data (shuffle
//! tracking) after the larger of that and `shuffleTracking.timeout`, and never while that
//! shuffle is used by an active job. Deadlines are computed as Spark does, in nanoseconds of
//! a millisecond clock, so a deadline that overflows never expires.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::config::AllocationConfig;
use super::event::{JobStageInfo, StorageLevel};
use crate::ids::{ExecutorId, JobId, RddId, ShuffleId, StageId};

/// The resource profile every executor of this manager uses.
pub const DEFAULT_RESOURCE_PROFILE_ID: i32 = 0;
/// An executor seen (e.g. through a task) before it registered.
pub const UNKNOWN_RESOURCE_PROFILE_ID: i32 = -1;

const NANOS_PER_MS: i128 = 1_000_000;

/// A timeout in nanoseconds, saturating like Java's `TimeUnit.toNanos`; `None` is infinite.
fn timeout_nanos(ms: Option<u64>) -> i128 {
    ms.map_or(i128::from(i64::MAX), |ms| {
        (i128::from(ms) * NANOS_PER_MS).min(i128::from(i64::MAX))
    })
}

/// What the monitor knows about one executor (Spark's `ExecutorMonitor.Tracker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    resource_profile_id: i32,
    timeout_at: Option<u64>,
    pending_removal: bool,
    decommissioning: bool,
    has_active_shuffle: bool,
    idle_start: Option<u64>,
    running_tasks: i64,
    cached_blocks: BTreeMap<RddId, BTreeSet<i64>>,
    shuffle_ids: Option<BTreeSet<ShuffleId>>,
}

impl Tracker {
    fn new(resource_profile_id: i32, shuffle_tracking: bool) -> Self {
        Self {
            resource_profile_id,
            timeout_at: None,
            pending_removal: false,
            decommissioning: false,
            has_active_shuffle: false,
            idle_start: None,
            running_tasks: 0,
            cached_blocks: BTreeMap::new(),
            shuffle_ids: shuffle_tracking.then(BTreeSet::new),
        }
    }

    /// No task running and no shuffle data used by an active job.
    pub fn is_idle(&self) -> bool {
        self.idle_start.is_some() && !self.has_active_shuffle
    }

    /// When this executor times out if nothing changes; `None` while it runs tasks, holds
    /// shuffle data of an active job, or has no finite timeout.
    pub fn deadline(&self) -> Option<u64> {
        if self.has_active_shuffle {
            None
        } else {
            self.timeout_at
        }
    }

    /// Since when the executor has run no task (`None` while busy or before it registered).
    pub fn idle_start(&self) -> Option<u64> {
        self.idle_start
    }

    /// Tasks running on it.
    pub fn running_tasks(&self) -> i64 {
        self.running_tasks
    }

    /// The manager asked the cluster to kill it.
    pub fn pending_removal(&self) -> bool {
        self.pending_removal
    }

    /// The manager asked the cluster to decommission it.
    pub fn decommissioning(&self) -> bool {
        self.decommissioning
    }

    /// Holds shuffle data that an active job uses.
    pub fn has_active_shuffle(&self) -> bool {
        self.has_active_shuffle
    }

    /// Holds cached RDD blocks that count against removal.
    pub fn has_cached_blocks(&self) -> bool {
        !self.cached_blocks.is_empty()
    }

    /// The shuffles it holds data for (empty without shuffle tracking).
    pub fn shuffle_ids(&self) -> impl Iterator<Item = ShuffleId> + '_ {
        self.shuffle_ids.iter().flatten().copied()
    }

    /// Its resource profile ([`UNKNOWN_RESOURCE_PROFILE_ID`] until it registers).
    pub fn resource_profile_id(&self) -> i32 {
        self.resource_profile_id
    }

    fn holds_shuffles(&self) -> bool {
        self.shuffle_ids.as_ref().is_some_and(|s| !s.is_empty())
    }

    fn add_shuffle(&mut self, id: ShuffleId) {
        if let Some(ids) = self.shuffle_ids.as_mut() {
            if ids.insert(id) {
                self.has_active_shuffle = true;
            }
        }
    }
}

/// The timeouts a tracker's deadline is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    idle_ms: Option<u64>,
    storage_ms: Option<u64>,
    shuffle_ms: Option<u64>,
}

impl Timeouts {
    fn deadline(&self, tracker: &Tracker) -> Option<u64> {
        let idle_start = tracker.idle_start?;
        let cache = if tracker.cached_blocks.is_empty() {
            0
        } else {
            timeout_nanos(self.storage_ms)
        };
        let shuffle = if tracker.holds_shuffles() {
            timeout_nanos(self.shuffle_ms)
        } else {
            0
        };
        let timeout = cache.max(shuffle).max(timeout_nanos(self.idle_ms));
        let deadline = i128::from(idle_start) * NANOS_PER_MS + timeout;
        // Spark stores Long.MaxValue for "never" and replaces an overflowing deadline by it.
        if deadline >= i128::from(i64::MAX) {
            None
        } else {
            u64::try_from(deadline / NANOS_PER_MS).ok()
        }
    }

    fn update_timeout(&self, tracker: &mut Tracker) {
        tracker.timeout_at = self.deadline(tracker);
    }

    fn update_running_tasks(&self, tracker: &mut Tracker, delta: i64, now_ms: u64) {
        tracker.running_tasks = (tracker.running_tasks + delta).max(0);
        tracker.idle_start = (tracker.running_tasks == 0).then_some(now_ms);
        self.update_timeout(tracker);
    }

    fn remove_shuffle(&self, tracker: &mut Tracker, id: ShuffleId) {
        let emptied = match tracker.shuffle_ids.as_mut() {
            Some(ids) => ids.remove(&id) && ids.is_empty(),
            None => false,
        };
        if emptied {
            tracker.has_active_shuffle = false;
            if tracker.is_idle() {
                self.update_timeout(tracker);
            }
        }
    }

    fn update_active_shuffles(&self, tracker: &mut Tracker, active: &[ShuffleId]) {
        let had_active_shuffle = tracker.has_active_shuffle;
        tracker.has_active_shuffle = match tracker.shuffle_ids.as_ref() {
            Some(ids) => active.iter().any(|id| ids.contains(id)),
            None => false,
        };
        if had_active_shuffle && tracker.is_idle() {
            self.update_timeout(tracker);
        }
    }
}

/// Spark's `ExecutorMonitor`: tracks executors' activity, cached blocks and shuffle data,
/// and reports the ones whose idle timeout has passed.
#[derive(Debug, Clone)]
pub struct ExecutorMonitor {
    timeouts: Timeouts,
    fetch_from_shuffle_svc_enabled: bool,
    shuffle_tracking_enabled: bool,
    executors: BTreeMap<ExecutorId, Tracker>,
    /// Executors that went away; late events about them are ignored (Spark asks the
    /// scheduler backend whether an executor is still active).
    removed_executors: HashSet<ExecutorId>,
    shuffle_to_active_jobs: BTreeMap<ShuffleId, Vec<JobId>>,
    stage_to_shuffle_id: BTreeMap<StageId, ShuffleId>,
    job_to_stage_ids: BTreeMap<JobId, Vec<StageId>>,
}

fn non_negative(ms: Option<i64>) -> Option<u64> {
    ms.map(|v| u64::try_from(v).unwrap_or(0))
}

impl ExecutorMonitor {
    /// A monitor for these settings.
    pub fn new(config: &AllocationConfig) -> Self {
        Self {
            timeouts: Timeouts {
                idle_ms: non_negative(config.executor_idle_timeout_ms),
                storage_ms: non_negative(config.cached_executor_idle_timeout_ms),
                shuffle_ms: non_negative(config.shuffle_tracking_timeout_ms),
            },
            fetch_from_shuffle_svc_enabled: config.fetch_from_shuffle_service_enabled(),
            shuffle_tracking_enabled: config.shuffle_tracking_active(),
            executors: BTreeMap::new(),
            removed_executors: HashSet::new(),
            shuffle_to_active_jobs: BTreeMap::new(),
            stage_to_shuffle_id: BTreeMap::new(),
            job_to_stage_ids: BTreeMap::new(),
        }
    }

    /// The idle timeout of an executor holding nothing (`executorIdleTimeout`), in ms;
    /// `None` is infinite.
    pub fn executor_idle_timeout_ms(&self) -> Option<u64> {
        self.timeouts.idle_ms
    }

    /// Changes the idle timeout of executors holding nothing (the eager policy derives it
    /// from the measured start latency) and recomputes every executor's deadline.
    pub fn set_executor_idle_timeout(&mut self, idle_ms: Option<u64>) {
        if self.timeouts.idle_ms == idle_ms {
            return;
        }
        self.timeouts.idle_ms = idle_ms;
        let timeouts = self.timeouts;
        for exec in self.executors.values_mut() {
            timeouts.update_timeout(exec);
        }
    }

    /// Forgets every executor (what the manager does on reset).
    pub fn reset(&mut self) {
        self.executors.clear();
    }

    /// Whether events about this executor still count (it has not been removed).
    pub fn is_executor_active(&self, id: &str) -> bool {
        !self.removed_executors.contains(id)
    }

    /// All tracked executors, by id.
    pub fn executors(&self) -> &BTreeMap<ExecutorId, Tracker> {
        &self.executors
    }

    /// One executor's tracker.
    pub fn executor(&self, id: &str) -> Option<&Tracker> {
        self.executors.get(id)
    }

    /// Whether the executor is idle (`None` if unknown).
    pub fn is_executor_idle(&self, id: &str) -> Option<bool> {
        self.executors.get(id).map(Tracker::is_idle)
    }

    /// The executors timed out at `now_ms` and not yet being removed, with their resource
    /// profile, sorted by id.
    pub fn timed_out_executors(&self, now_ms: u64) -> Vec<(ExecutorId, i32)> {
        self.executors
            .iter()
            .filter(|(_, e)| !e.pending_removal && !e.has_active_shuffle && !e.decommissioning)
            .filter(|(_, e)| e.timeout_at.is_some_and(|d| d <= now_ms))
            .map(|(id, e)| (id.clone(), e.resource_profile_id))
            .collect()
    }

    /// The earliest idle deadline after `now_ms` of an executor not yet being removed.
    pub fn next_timeout_after(&self, now_ms: u64) -> Option<u64> {
        self.executors
            .values()
            .filter(|e| !e.pending_removal && !e.decommissioning)
            .filter_map(Tracker::deadline)
            .filter(|d| *d > now_ms)
            .min()
    }

    /// Marks these executors as being killed.
    pub fn executors_killed(&mut self, ids: &[ExecutorId]) {
        for id in ids {
            if let Some(e) = self.executors.get_mut(id) {
                e.pending_removal = true;
            }
        }
    }

    /// Marks these executors as being decommissioned.
    pub fn executors_decommissioned(&mut self, ids: &[ExecutorId]) {
        for id in ids {
            if let Some(e) = self.executors.get_mut(id) {
                e.decommissioning = true;
            }
        }
    }

    /// Number of tracked executors.
    pub fn executor_count(&self) -> usize {
        self.executors.len()
    }

    /// Number of tracked executors of a resource profile.
    pub fn executor_count_with_resource_profile(&self, id: i32) -> i64 {
        self.count(|e| e.resource_profile_id == id)
    }

    /// Number of executors being killed.
    pub fn pending_removal_count(&self) -> i64 {
        self.count(|e| e.pending_removal)
    }

    /// Number of executors of a resource profile being killed.
    pub fn pending_removal_count_per_resource_profile_id(&self, id: i32) -> i64 {
        self.count(|e| e.resource_profile_id == id && e.pending_removal)
    }

    /// Number of executors being decommissioned.
    pub fn decommissioning_count(&self) -> i64 {
        self.count(|e| e.decommissioning)
    }

    /// Number of executors of a resource profile being decommissioned.
    pub fn decommissioning_per_resource_profile_id(&self, id: i32) -> i64 {
        self.count(|e| e.resource_profile_id == id && e.decommissioning)
    }

    /// Ids of the executors being killed.
    pub fn executors_pending_to_remove(&self) -> BTreeSet<ExecutorId> {
        self.ids_where(|e| e.pending_removal)
    }

    /// Ids of the executors being decommissioned.
    pub fn executors_decommissioning(&self) -> BTreeSet<ExecutorId> {
        self.ids_where(|e| e.decommissioning)
    }

    fn count(&self, pred: impl Fn(&Tracker) -> bool) -> i64 {
        self.executors.values().filter(|e| pred(e)).count() as i64
    }

    fn ids_where(&self, pred: impl Fn(&Tracker) -> bool) -> BTreeSet<ExecutorId> {
        self.executors
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn ensure_executor_is_tracked(&mut self, id: &str, resource_profile_id: i32) -> &mut Tracker {
        let tracking = self.shuffle_tracking_enabled;
        let tracker = self
            .executors
            .entry(ExecutorId::from(id))
            .or_insert_with(|| Tracker::new(resource_profile_id, tracking));
        if tracker.resource_profile_id == UNKNOWN_RESOURCE_PROFILE_ID
            && resource_profile_id != UNKNOWN_RESOURCE_PROFILE_ID
        {
            tracker.resource_profile_id = resource_profile_id;
        }
        tracker
    }

    /// A job started: remember which of its stages write which shuffle, and re-activate
    /// executors holding a shuffle the job reuses.
    pub fn on_job_start(&mut self, job_id: JobId, stages: &[JobStageInfo]) {
        if !self.shuffle_tracking_enabled {
            return;
        }
        let shuffle_stages: Vec<(StageId, ShuffleId)> = stages
            .iter()
            .filter_map(|s| s.shuffle_dep_id.map(|sh| (s.stage_id, sh)))
            .collect();
        let mut update_executors = false;
        for &(_, shuffle) in &shuffle_stages {
            match self.shuffle_to_active_jobs.get_mut(&shuffle) {
                Some(jobs) => {
                    update_executors = true;
                    jobs.push(job_id);
                }
                None => {
                    self.shuffle_to_active_jobs.insert(shuffle, vec![job_id]);
                }
            }
        }
        if update_executors {
            let active: Vec<ShuffleId> = shuffle_stages.iter().map(|&(_, sh)| sh).collect();
            let timeouts = self.timeouts;
            for exec in self.executors.values_mut() {
                if !exec.has_active_shuffle {
                    timeouts.update_active_shuffles(exec, &active);
                }
            }
        }
        self.stage_to_shuffle_id
            .extend(shuffle_stages.iter().copied());
        self.job_to_stage_ids
            .insert(job_id, shuffle_stages.iter().map(|&(st, _)| st).collect());
    }

    /// A job ended: shuffles no other active job uses stop keeping executors busy.
    pub fn on_job_end(&mut self, job_id: JobId) {
        if !self.shuffle_tracking_enabled {
            return;
        }
        let mut update_executors = false;
        let mut active_shuffles = Vec::new();
        for (&shuffle, jobs) in self.shuffle_to_active_jobs.iter_mut() {
            if let Some(pos) = jobs.iter().position(|j| *j == job_id) {
                jobs.remove(pos);
            }
            if jobs.is_empty() {
                update_executors = true;
            } else {
                active_shuffles.push(shuffle);
            }
        }
        if update_executors {
            let timeouts = self.timeouts;
            for exec in self.executors.values_mut() {
                if exec.has_active_shuffle {
                    timeouts.update_active_shuffles(exec, &active_shuffles);
                }
            }
        }
        if let Some(stages) = self.job_to_stage_ids.remove(&job_id) {
            for stage in stages {
                self.stage_to_shuffle_id.remove(&stage);
            }
        }
    }

    /// A task started on an executor.
    pub fn on_task_start(&mut self, executor_id: &str, now_ms: u64) {
        if !self.is_executor_active(executor_id) {
            return;
        }
        let timeouts = self.timeouts;
        let exec = self.ensure_executor_is_tracked(executor_id, UNKNOWN_RESOURCE_PROFILE_ID);
        timeouts.update_running_tasks(exec, 1, now_ms);
    }

    /// A task ended on an executor; a successful task of a shuffle-map stage leaves that
    /// stage's shuffle data on the executor.
    pub fn on_task_end(
        &mut self,
        executor_id: &str,
        stage_id: StageId,
        success: bool,
        now_ms: u64,
    ) {
        let shuffle = if self.shuffle_tracking_enabled && success {
            self.stage_to_shuffle_id.get(&stage_id).copied()
        } else {
            None
        };
        let timeouts = self.timeouts;
        if let Some(exec) = self.executors.get_mut(executor_id) {
            if let Some(shuffle) = shuffle {
                exec.add_shuffle(shuffle);
            }
            timeouts.update_running_tasks(exec, -1, now_ms);
        }
    }

    /// An executor registered (it starts idle).
    pub fn on_executor_added(&mut self, executor_id: &str, now_ms: u64) {
        self.removed_executors.remove(executor_id);
        let timeouts = self.timeouts;
        let exec = self.ensure_executor_is_tracked(executor_id, DEFAULT_RESOURCE_PROFILE_ID);
        timeouts.update_running_tasks(exec, 0, now_ms);
    }

    /// An executor went away.
    pub fn on_executor_removed(&mut self, executor_id: &str) {
        self.removed_executors.insert(ExecutorId::from(executor_id));
        self.executors.remove(executor_id);
    }

    /// An RDD block was stored on or dropped from an executor.
    pub fn on_block_updated(
        &mut self,
        executor_id: &str,
        rdd_id: RddId,
        split_index: i64,
        level: StorageLevel,
    ) {
        if !self.is_executor_active(executor_id) {
            return;
        }
        let counts = level.is_valid() && (!self.fetch_from_shuffle_svc_enabled || !level.use_disk);
        let timeouts = self.timeouts;
        let exec = self.ensure_executor_is_tracked(executor_id, UNKNOWN_RESOURCE_PROFILE_ID);
        if counts {
            let had_cached_blocks = !exec.cached_blocks.is_empty();
            exec.cached_blocks
                .entry(rdd_id)
                .or_default()
                .insert(split_index);
            if !had_cached_blocks {
                timeouts.update_timeout(exec);
            }
        } else if let Some(blocks) = exec.cached_blocks.get_mut(&rdd_id) {
            blocks.remove(&split_index);
            if blocks.is_empty() {
                exec.cached_blocks.remove(&rdd_id);
                if exec.cached_blocks.is_empty() {
                    timeouts.update_timeout(exec);
                }
            }
        }
    }

    /// An RDD was unpersisted: its blocks no longer hold any executor.
    pub fn on_unpersist_rdd(&mut self, rdd_id: RddId) {
        let timeouts = self.timeouts;
        for exec in self.executors.values_mut() {
            exec.cached_blocks.remove(&rdd_id);
            if exec.cached_blocks.is_empty() {
                timeouts.update_timeout(exec);
            }
        }
    }

    /// An executor wrote shuffle data for a shuffle (a shuffle data block update).
    pub fn on_shuffle_block_updated(&mut self, executor_id: &str, shuffle_id: ShuffleId) {
        if !self.is_executor_active(executor_id) {
            return;
        }
        let tracking = self.shuffle_tracking_enabled;
        let exec = self.ensure_executor_is_tracked(executor_id, UNKNOWN_RESOURCE_PROFILE_ID);
        if tracking {
            exec.add_shuffle(shuffle_id);
        }
    }

    /// A shuffle was cleaned up: executors no longer hold its data.
    pub fn on_shuffle_cleaned(&mut self, shuffle_id: ShuffleId) {
        if !self.shuffle_tracking_enabled {
            return;
        }
        self.shuffle_to_active_jobs.remove(&shuffle_id);
        let timeouts = self.timeouts;
        for exec in self.executors.values_mut() {
            timeouts.remove_shuffle(exec, shuffle_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: u64 = 60_000;
    const STORAGE: u64 = 120_000;
    const SHUFFLE: u64 = 240_000;

    fn conf() -> AllocationConfig {
        AllocationConfig {
            executor_idle_timeout_ms: Some(IDLE as i64),
            cached_executor_idle_timeout_ms: Some(STORAGE as i64),
            shuffle_tracking_timeout_ms: Some(SHUFFLE as i64),
            shuffle_service_enabled: true,
            ..AllocationConfig::default()
        }
    }

    fn tracking_conf() -> AllocationConfig {
        AllocationConfig {
            shuffle_service_enabled: false,
            shuffle_tracking_enabled: true,
            ..conf()
        }
    }

    fn timed_out(m: &ExecutorMonitor, at: u64) -> Vec<ExecutorId> {
        m.timed_out_executors(at)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// Job 1 of these stages started, then executor "1" added and the task of stage 1 it
    /// ran ended (`success` or not), all at `at`.
    fn one_map_task(
        conf: &AllocationConfig,
        stages: &[JobStageInfo],
        success: bool,
        at: u64,
    ) -> ExecutorMonitor {
        let mut m = ExecutorMonitor::new(conf);
        m.on_job_start(JobId(1), stages);
        m.on_executor_added("1", at);
        m.on_task_start("1", at);
        m.on_task_end("1", StageId(1), success, at);
        m
    }

    fn stage(id: u32, shuffle: Option<u32>) -> JobStageInfo {
        JobStageInfo {
            stage_id: StageId(id),
            shuffle_dep_id: shuffle.map(ShuffleId),
        }
    }

    #[test]
    fn idle_removal_only_after_timeout() {
        let mut m = ExecutorMonitor::new(&conf());
        m.on_executor_added("1", 1000);
        assert_eq!(m.is_executor_idle("1"), Some(true));
        assert_eq!(m.executor("1").unwrap().deadline(), Some(1000 + IDLE));
        assert!(timed_out(&m, 1000 + IDLE - 1).is_empty());
        assert_eq!(timed_out(&m, 1000 + IDLE), vec!["1"]);
    }

    #[test]
    fn running_tasks_keep_executor_busy() {
        let mut m = ExecutorMonitor::new(&conf());
        m.on_executor_added("1", 0);
        m.on_task_start("1", 10);
        m.on_task_start("1", 20);
        m.on_task_end("1", StageId(1), true, 30);
        assert_eq!(m.is_executor_idle("1"), Some(false));
        assert_eq!(m.executor("1").unwrap().deadline(), None);
        assert!(timed_out(&m, u64::MAX / 2).is_empty());
        m.on_task_end("1", StageId(1), true, 40);
        assert_eq!(m.is_executor_idle("1"), Some(true));
        assert_eq!(timed_out(&m, 40 + IDLE), vec!["1"]);
    }

    #[test]
    fn cached_blocks_use_the_larger_timeout() {
        let mut m = ExecutorMonitor::new(&conf());
        m.on_executor_added("1", 0);
        m.on_block_updated("1", RddId(1), 0, StorageLevel::MEMORY_ONLY);
        assert!(timed_out(&m, IDLE).is_empty());
        assert_eq!(timed_out(&m, STORAGE), vec!["1"]);
        m.on_block_updated("1", RddId(1), 1, StorageLevel::MEMORY_ONLY);
        m.on_block_updated("1", RddId(1), 0, StorageLevel::NONE);
        assert!(timed_out(&m, IDLE).is_empty());
        m.on_unpersist_rdd(RddId(1));
        assert_eq!(timed_out(&m, IDLE), vec!["1"]);

        // A cached timeout shorter than the idle timeout does not shorten it.
        let mut short = ExecutorMonitor::new(&AllocationConfig {
            cached_executor_idle_timeout_ms: Some(1000),
            ..conf()
        });
        short.on_executor_added("1", 0);
        short.on_block_updated("1", RddId(1), 0, StorageLevel::MEMORY_ONLY);
        assert!(timed_out(&short, 1000).is_empty());
        assert_eq!(timed_out(&short, IDLE), vec!["1"]);
    }

    #[test]
    fn disk_blocks_served_by_shuffle_service_do_not_count() {
        let mut m = ExecutorMonitor::new(&AllocationConfig {
            shuffle_service_fetch_rdd_enabled: true,
            ..conf()
        });
        m.on_executor_added("1", 0);
        m.on_block_updated("1", RddId(1), 0, StorageLevel::DISK_ONLY);
        assert_eq!(timed_out(&m, IDLE), vec!["1"]);
        m.on_block_updated("1", RddId(1), 0, StorageLevel::MEMORY_ONLY);
        assert!(timed_out(&m, IDLE).is_empty());
        m.on_block_updated("1", RddId(1), 0, StorageLevel::MEMORY_AND_DISK);
        assert_eq!(timed_out(&m, IDLE), vec!["1"]);
    }

    #[test]
    fn shuffle_tracking_keeps_executor_until_released() {
        let mut m = one_map_task(
            &tracking_conf(),
            &[stage(1, Some(0)), stage(2, None)],
            true,
            0,
        );
        // The job still uses shuffle 0: the executor is busy, no deadline.
        assert_eq!(m.is_executor_idle("1"), Some(false));
        assert_eq!(m.executor("1").unwrap().deadline(), None);
        assert!(timed_out(&m, u64::MAX / 2).is_empty());
        m.on_job_end(JobId(1));
        // Idle, but holding shuffle data: the shuffle tracking timeout applies.
        assert_eq!(m.is_executor_idle("1"), Some(true));
        assert!(timed_out(&m, IDLE).is_empty());
        assert_eq!(timed_out(&m, SHUFFLE), vec!["1"]);
        m.on_shuffle_cleaned(ShuffleId(0));
        assert_eq!(timed_out(&m, IDLE), vec!["1"]);
    }

    #[test]
    fn failed_tasks_leave_no_shuffle() {
        let m = one_map_task(&tracking_conf(), &[stage(1, Some(0))], false, 0);
        assert_eq!(timed_out(&m, IDLE), vec!["1"]);
    }

    #[test]
    fn infinite_shuffle_timeout_never_expires() {
        let conf = AllocationConfig {
            shuffle_tracking_timeout_ms: None,
            ..tracking_conf()
        };
        let mut m = one_map_task(&conf, &[stage(1, Some(0))], true, 1000);
        m.on_job_end(JobId(1));
        assert_eq!(m.is_executor_idle("1"), Some(true));
        assert_eq!(m.executor("1").unwrap().deadline(), None);
        assert!(timed_out(&m, u64::MAX).is_empty());
    }

    #[test]
    fn pending_removal_and_decommissioning_are_not_timed_out() {
        let mut m = ExecutorMonitor::new(&conf());
        for id in ["1", "2", "3"] {
            m.on_executor_added(id, 0);
        }
        m.executors_killed(&["1".into()]);
        m.executors_decommissioned(&["2".into()]);
        assert_eq!(timed_out(&m, IDLE), vec!["3"]);
        assert_eq!(m.pending_removal_count(), 1);
        assert_eq!(m.decommissioning_count(), 1);
    }

    #[test]
    fn late_events_for_removed_executors_are_ignored() {
        let mut m = ExecutorMonitor::new(&conf());
        m.on_task_start("1", 0);
        assert_eq!(
            m.executor("1").unwrap().resource_profile_id(),
            UNKNOWN_RESOURCE_PROFILE_ID
        );
        m.on_executor_added("1", 0);
        assert_eq!(
            m.executor_count_with_resource_profile(DEFAULT_RESOURCE_PROFILE_ID),
            1
        );
        m.on_executor_removed("1");
        m.on_task_start("1", 5);
        m.on_block_updated("1", RddId(1), 1, StorageLevel::MEMORY_ONLY);
        assert_eq!(m.executor_count(), 0);
    }

    #[test]
    fn timed_out_executors_sorted_by_id() {
        let mut m = ExecutorMonitor::new(&conf());
        for id in ["3", "10", "2", "1"] {
            m.on_executor_added(id, 0);
        }
        assert_eq!(timed_out(&m, IDLE), vec!["1", "10", "2", "3"]);
    }
}
