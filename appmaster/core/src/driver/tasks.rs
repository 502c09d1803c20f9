//! The task scheduler (Spark's `TaskSchedulerImpl` and its `TaskSetManager`s): the
//! running stages' pending tasks, offers of free slots (cached partitions on the
//! executors that hold them, with `spark.locality.wait`), task starts and ends,
//! retries up to `spark.task.maxFailures`, and speculative copies of slow tasks
//! (`spark.speculation`): the first attempt of a task to succeed wins, the others are
//! killed.

use super::effect::{Effect, Out, TaskDescription};
use super::speculation::{SpeculationConfig, SuccessfulTaskDurations, KILLED_BY_OTHER_ATTEMPT};
use crate::allocation::{ListenerEvent, StageAttempt, TaskEndReason, TaskInfo};
use crate::eventlog::{self, AppEvent, TaskMetrics};
use crate::ids::{ExecutorId, RddId, StageId, TaskId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// One stage attempt's tasks.
#[derive(Debug)]
struct TaskSet {
    attempt: u32,
    /// The encoded `StageSpec`, shipped once per executor.
    spec: Arc<Vec<u8>>,
    /// The RDD whose cached partitions the tasks would like to read.
    cached_rdd: Option<RddId>,
    partitions: Vec<u32>,
    /// Indices (into `partitions`) waiting for a slot.
    pending: VecDeque<usize>,
    failures: Vec<u32>,
    /// Attempts launched per index (Spark's `taskAttempts(index).size`): the number the
    /// next attempt gets.
    attempts: Vec<u32>,
    /// Attempts of each index running now (Spark's `copiesRunning`).
    copies_running: Vec<u32>,
    succeeded: Vec<bool>,
    finished: usize,
    submitted_ms: u64,
    /// Indices marked slow, waiting for a slot for their speculative copy (Spark's
    /// `speculatableTasks`).
    speculatable: BTreeSet<usize>,
    /// Durations of the tasks that succeeded (Spark's `successfulTaskDurations`).
    successful_durations: SuccessfulTaskDurations,
}

/// A task on an executor.
#[derive(Debug, Clone)]
pub(crate) struct RunningTask {
    pub(crate) id: TaskId,
    pub(crate) stage: StageId,
    pub(crate) stage_attempt: u32,
    /// Its index in the stage attempt's partitions.
    pub(crate) index: usize,
    pub(crate) partition: u32,
    pub(crate) attempt: u32,
    pub(crate) executor: ExecutorId,
    pub(crate) host: String,
    pub(crate) start_ms: u64,
    /// A speculative copy (Spark's `TaskInfo.speculative`).
    pub(crate) speculative: bool,
    /// Why it was asked to stop (another attempt of its task succeeded): whatever it
    /// reports, it ends as `TaskKilled` and its result is ignored.
    pub(crate) killed: Option<String>,
}

impl RunningTask {
    /// Records its end: `reason` is `Success`, `Failed`, `FetchFailed`, `ExecutorLost`
    /// or `TaskKilled` (never counted as a failure).
    pub(crate) fn end(
        &self,
        reason: &str,
        error: Option<String>,
        records: u64,
        now_ms: u64,
        out: &mut Out,
    ) {
        self.end_with(reason, error, records, None, now_ms, out);
    }

    /// [`Self::end`] with what the task read and wrote.
    pub(crate) fn end_with(
        &self,
        reason: &str,
        error: Option<String>,
        records: u64,
        metrics: Option<TaskMetrics>,
        now_ms: u64,
        out: &mut Out,
    ) {
        out.log(AppEvent::TaskEnd {
            stage: self.stage.get(),
            stage_attempt: self.stage_attempt,
            task: self.log_info(),
            reason: reason.to_string(),
            error,
            duration_ms: now_ms.saturating_sub(self.start_ms),
            records,
            metrics,
        });
        let end = match reason {
            "Success" => TaskEndReason::Success,
            "TaskKilled" | "Killed" => TaskEndReason::TaskKilled,
            _ => TaskEndReason::Failed,
        };
        out.post(ListenerEvent::TaskEnd {
            stage: StageAttempt::new(self.stage, self.stage_attempt),
            task: self.listener_info(),
            reason: end,
        });
    }

    /// The task as its event-log lines carry it.
    fn log_info(&self) -> eventlog::TaskInfo {
        eventlog::TaskInfo {
            task_id: self.id.get(),
            index: self.index as u32,
            attempt: self.attempt,
            executor: self.executor.to_string(),
            host: self.host.clone(),
            speculative: self.speculative,
        }
    }

    /// The task as the allocation manager's listener events carry it.
    fn listener_info(&self) -> TaskInfo {
        TaskInfo {
            index: self.index as i64,
            executor_id: self.executor.clone(),
            speculative: self.speculative,
        }
    }
}

/// What a task's failure leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The task belongs to an attempt that is no longer running: nothing to do.
    Stale,
    /// It goes back to the end of its stage's queue.
    Retry,
    /// It failed `attempts` times, the most allowed: its job fails.
    Abort { attempts: u32 },
}

#[derive(Debug)]
pub(crate) struct TaskScheduler {
    /// spark.locality.wait
    locality_wait_ms: u64,
    /// spark.task.maxFailures
    max_failures: u32,
    sets: BTreeMap<StageId, TaskSet>,
    running: HashMap<TaskId, RunningTask>,
    next_task: TaskId,
    /// Who holds each cached partition (executor and its host).
    cached: HashMap<(RddId, u32), BTreeMap<ExecutorId, String>>,
    /// The stage attempts whose spec each executor already has.
    spec_sent: HashMap<ExecutorId, HashSet<StageId>>,
}

/// The slot a task is offered: the executor, its host, and whether a speculative copy
/// must keep off the hosts its task already runs on (executors live on more than one
/// host).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer<'a> {
    pub(crate) executor: &'a ExecutorId,
    pub(crate) host: &'a str,
    pub(crate) spread_hosts: bool,
}

impl TaskScheduler {
    pub(crate) fn new(locality_wait_ms: u64, max_failures: u32) -> Self {
        Self {
            locality_wait_ms,
            max_failures,
            sets: BTreeMap::new(),
            running: HashMap::new(),
            next_task: TaskId(0),
            cached: HashMap::new(),
            spec_sent: HashMap::new(),
        }
    }

    /// Queues a stage attempt's tasks, one per partition.
    pub(crate) fn submit(
        &mut self,
        stage: StageId,
        attempt: u32,
        spec: Arc<Vec<u8>>,
        cached_rdd: Option<RddId>,
        partitions: Vec<u32>,
        now_ms: u64,
    ) {
        let n = partitions.len();
        self.sets.insert(
            stage,
            TaskSet {
                attempt,
                spec,
                cached_rdd,
                partitions,
                pending: (0..n).collect(),
                failures: vec![0; n],
                attempts: vec![0; n],
                copies_running: vec![0; n],
                succeeded: vec![false; n],
                finished: 0,
                submitted_ms: now_ms,
                speculatable: BTreeSet::new(),
                successful_durations: SuccessfulTaskDurations::default(),
            },
        );
    }

    /// Drops a stage's queue (it finished, failed or is being resubmitted); its running
    /// tasks' reports are then ignored.
    pub(crate) fn remove_task_set(&mut self, stage: StageId) {
        self.sets.remove(&stage);
    }

    /// Tasks waiting or running, all stages.
    pub(crate) fn outstanding(&self) -> usize {
        self.sets
            .values()
            .map(|s| s.partitions.len() - s.finished)
            .sum()
    }

    /// The hosts holding a cached partition, by executor id.
    pub(crate) fn preferred_hosts(&self, rdd: RddId, partition: u32) -> Vec<String> {
        self.cached
            .get(&(rdd, partition))
            .map(|h| h.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The executor holds cached partitions.
    pub(crate) fn holds_cache(&self, executor: &ExecutorId) -> bool {
        self.cached.values().any(|h| h.contains_key(executor))
    }

    /// A task stored a cached partition on this executor.
    pub(crate) fn block_cached(
        &mut self,
        rdd: RddId,
        partition: u32,
        executor: &ExecutorId,
        host: String,
    ) {
        self.cached
            .entry((rdd, partition))
            .or_default()
            .insert(executor.clone(), host);
    }

    fn preferred(&self, set: &TaskSet, index: usize) -> Option<&BTreeMap<ExecutorId, String>> {
        let rdd = set.cached_rdd?;
        self.cached
            .get(&(rdd, set.partitions[index]))
            .filter(|h| !h.is_empty())
    }

    /// The running attempts of task `index` of the stage attempt.
    fn attempts_running(
        &self,
        stage: StageId,
        stage_attempt: u32,
        index: usize,
    ) -> impl Iterator<Item = &RunningTask> {
        self.running.values().filter(move |t| {
            t.stage == stage && t.stage_attempt == stage_attempt && t.index == index
        })
    }

    /// Spark's `hasAttemptOnHost` for a speculative copy: an attempt of the task runs on
    /// this executor, or (when executors span hosts) on this host.
    fn has_attempt_on(&self, sid: StageId, set: &TaskSet, index: usize, offer: Offer<'_>) -> bool {
        self.attempts_running(sid, set.attempt, index)
            .any(|t| t.executor == *offer.executor || (offer.spread_hosts && t.host == offer.host))
    }

    /// Offers one free slot: launches the first task, oldest stage first, that prefers
    /// this executor, else one with no live preference or whose locality wait is over;
    /// failing those, a speculative copy of one of the stage's slow tasks that runs
    /// neither on this executor nor (when executors span hosts) on its host (Spark's
    /// `dequeueTask`: normal tasks first, then speculative ones). Returns whether a task
    /// was launched.
    pub(crate) fn resource_offer(&mut self, offer: Offer<'_>, now_ms: u64, out: &mut Out) -> bool {
        let executor = offer.executor;
        let mut found = None;
        for (sid, set) in &self.sets {
            let waited = now_ms.saturating_sub(set.submitted_ms) >= self.locality_wait_ms;
            let pick = set
                .pending
                .iter()
                .position(|&i| {
                    self.preferred(set, i)
                        .is_some_and(|p| p.contains_key(executor))
                })
                .or_else(|| {
                    set.pending
                        .iter()
                        .position(|&i| waited || self.preferred(set, i).is_none())
                });
            if let Some(pos) = pick {
                found = Some((*sid, Some(pos), set.pending[pos]));
                break;
            }
            let copy = set.speculatable.iter().copied().find(|&i| {
                !set.succeeded[i]
                    && set.copies_running[i] == 1
                    && !self.has_attempt_on(*sid, set, i, offer)
            });
            if let Some(index) = copy {
                found = Some((*sid, None, index));
                break;
            }
        }
        let Some((sid, pos, index)) = found else {
            return false;
        };
        let set = self.sets.get_mut(&sid).expect("offered from this set");
        let speculative = match pos {
            Some(pos) => {
                set.pending.remove(pos);
                false
            }
            None => {
                set.speculatable.remove(&index);
                true
            }
        };
        self.launch(sid, index, speculative, offer, now_ms, out);
        true
    }

    fn launch(
        &mut self,
        sid: StageId,
        index: usize,
        speculative: bool,
        offer: Offer<'_>,
        now_ms: u64,
        out: &mut Out,
    ) {
        let executor = offer.executor;
        let set = self.sets.get_mut(&sid).expect("offered from this set");
        let attempt = set.attempts[index];
        set.attempts[index] += 1;
        set.copies_running[index] += 1;
        let partition = set.partitions[index];
        let id = self.next_task;
        self.next_task = id.next();
        let first = self
            .spec_sent
            .entry(executor.clone())
            .or_default()
            .insert(sid);
        out.push(Effect::Launch {
            executor: executor.clone(),
            launch: TaskDescription {
                task_id: id,
                stage_id: sid,
                stage_attempt: set.attempt,
                partition,
                attempt,
                stage: first.then(|| set.spec.clone()),
            },
        });
        let task = RunningTask {
            id,
            stage: sid,
            stage_attempt: set.attempt,
            index,
            partition,
            attempt,
            executor: executor.clone(),
            host: offer.host.to_string(),
            start_ms: now_ms,
            speculative,
            killed: None,
        };
        out.log(AppEvent::TaskStart {
            stage: sid.get(),
            stage_attempt: set.attempt,
            task: task.log_info(),
        });
        out.post(ListenerEvent::TaskStart {
            stage: StageAttempt::new(sid, set.attempt),
            task: task.listener_info(),
        });
        self.running.insert(id, task);
    }

    /// Spark's `checkSpeculatableTasks`, over every running stage attempt of more than
    /// one task: once `max(floor(quantile × tasks), 1)` of its tasks succeeded, each
    /// task running alone for longer than `max(multiplier × median successful duration,
    /// minTaskRuntime)` is marked for a speculative copy (once), which is logged and
    /// posted to the allocation manager (`SpeculativeTaskSubmitted`). Returns whether
    /// any task was marked.
    pub(crate) fn check_speculatable_tasks(
        &mut self,
        conf: &SpeculationConfig,
        now_ms: u64,
        out: &mut Out,
    ) -> bool {
        let mut found = false;
        for (sid, set) in self.sets.iter_mut() {
            let n = set.partitions.len();
            if n <= 1 || set.finished == n {
                continue;
            }
            if set.successful_durations.len() < conf.min_finished_for_speculation(n) {
                continue;
            }
            let Some(median) = set.successful_durations.median() else {
                continue;
            };
            let threshold = conf.threshold_ms(median as f64);
            let mut slow: Vec<(TaskId, usize)> = self
                .running
                .values()
                .filter(|t| t.stage == *sid && t.stage_attempt == set.attempt)
                .filter(|t| now_ms.saturating_sub(t.start_ms) as f64 > threshold)
                .map(|t| (t.id, t.index))
                .collect();
            slow.sort_unstable();
            for (_, index) in slow {
                if set.succeeded[index]
                    || set.copies_running[index] != 1
                    || !set.speculatable.insert(index)
                {
                    continue;
                }
                found = true;
                out.log(AppEvent::SpeculativeTaskSubmitted {
                    stage: sid.get(),
                    stage_attempt: set.attempt,
                    index: index as u32,
                });
                out.post(ListenerEvent::SpeculativeTaskSubmitted {
                    stage: StageAttempt::new(*sid, set.attempt),
                    task_index: index as i64,
                });
            }
        }
        found
    }

    /// When (ms) each running task that could get a copy can first exceed its stage's
    /// speculation threshold, given what succeeded so far, earliest first; empty while no
    /// stage has reached its quantile or every candidate is marked or copied already.
    pub(crate) fn speculatable_due_ms(&self, conf: &SpeculationConfig) -> Vec<u64> {
        let mut due = Vec::new();
        for (sid, set) in &self.sets {
            let n = set.partitions.len();
            if n <= 1
                || set.finished == n
                || set.successful_durations.len() < conf.min_finished_for_speculation(n)
            {
                continue;
            }
            let Some(median) = set.successful_durations.median() else {
                continue;
            };
            // Runtime must exceed the threshold: the first whole millisecond above it.
            let after = conf.threshold_ms(median as f64).floor() as u64 + 1;
            due.extend(
                self.running
                    .values()
                    .filter(|t| {
                        t.stage == *sid
                            && t.stage_attempt == set.attempt
                            && !set.succeeded[t.index]
                            && set.copies_running[t.index] == 1
                            && !set.speculatable.contains(&t.index)
                    })
                    .map(|t| t.start_ms.saturating_add(after)),
            );
        }
        due.sort_unstable();
        due
    }

    /// Running attempts asked to stop (another attempt of their task succeeded) whose
    /// report has not come yet.
    pub(crate) fn being_killed(&self) -> usize {
        self.running.values().filter(|t| t.killed.is_some()).count()
    }

    /// The application ends: the attempts still being killed, oldest first, which will
    /// not report any more.
    pub(crate) fn drain_killed(&mut self) -> Vec<RunningTask> {
        let mut ids: Vec<TaskId> = self
            .running
            .values()
            .filter(|t| t.killed.is_some())
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.running.remove(&id))
            .collect()
    }

    /// The task's report arrived: it no longer runs. `None` if unknown, or if it is
    /// another executor's task (then it is left untouched).
    pub(crate) fn take(&mut self, task: TaskId, executor: &ExecutorId) -> Option<RunningTask> {
        if self.running.get(&task)?.executor != *executor {
            return None;
        }
        let t = self.running.remove(&task)?;
        self.copy_ended(&t);
        Some(t)
    }

    fn copy_ended(&mut self, t: &RunningTask) {
        if let Some(set) = self.sets.get_mut(&t.stage) {
            if set.attempt == t.stage_attempt {
                set.copies_running[t.index] = set.copies_running[t.index].saturating_sub(1);
            }
        }
    }

    /// Marks the task's partition done and kills the other attempts of the task still
    /// running (Spark: "another attempt succeeded"); false if its stage attempt is no
    /// longer running or the partition was already done.
    pub(crate) fn succeeded(&mut self, t: &RunningTask, now_ms: u64, out: &mut Out) -> bool {
        let Some(set) = self.sets.get_mut(&t.stage) else {
            return false;
        };
        if set.attempt != t.stage_attempt || set.succeeded[t.index] {
            return false;
        }
        set.succeeded[t.index] = true;
        set.finished += 1;
        set.speculatable.remove(&t.index);
        set.successful_durations
            .insert(now_ms.saturating_sub(t.start_ms));
        let mut others: Vec<TaskId> = self
            .attempts_running(t.stage, t.stage_attempt, t.index)
            .map(|o| o.id)
            .collect();
        others.sort_unstable();
        for id in others {
            let o = self.running.get_mut(&id).expect("listed");
            o.killed = Some(KILLED_BY_OTHER_ATTEMPT.to_string());
            out.push(Effect::KillTask {
                executor: o.executor.clone(),
                task_id: id,
                reason: KILLED_BY_OTHER_ATTEMPT.to_string(),
            });
        }
        true
    }

    /// Queues the task again unless it is done or another attempt of it runs (which then
    /// decides).
    fn requeue(&mut self, t: &RunningTask, front: bool) {
        let Some(set) = self.sets.get_mut(&t.stage) else {
            return;
        };
        if set.attempt != t.stage_attempt
            || set.succeeded[t.index]
            || set.copies_running[t.index] > 0
        {
            return;
        }
        if front {
            set.pending.push_front(t.index);
        } else {
            set.pending.push_back(t.index);
        }
    }

    /// A task ended killed without our asking (Spark's `TaskKilled`): not a failure,
    /// it runs again.
    pub(crate) fn killed(&mut self, t: &RunningTask) {
        self.requeue(t, false);
    }

    /// Counts a failure of the task: it is retried until it failed `maxFailures` times.
    pub(crate) fn failed(&mut self, t: &RunningTask) -> Failure {
        let Some(set) = self.sets.get_mut(&t.stage) else {
            return Failure::Stale;
        };
        if set.attempt != t.stage_attempt {
            return Failure::Stale;
        }
        set.failures[t.index] += 1;
        let attempts = set.failures[t.index];
        if attempts >= self.max_failures {
            Failure::Abort { attempts }
        } else {
            self.requeue(t, false);
            Failure::Retry
        }
    }

    /// The executor is gone: its running tasks go back to their stages (not counted as
    /// failures; not when another attempt of the task still runs, or when they had been
    /// killed) and are returned, oldest first; it holds no cached partition any more.
    pub(crate) fn executor_lost(&mut self, executor: &ExecutorId) -> Vec<RunningTask> {
        let mut ids: Vec<TaskId> = self
            .running
            .values()
            .filter(|t| t.executor == *executor)
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        let mut lost = Vec::with_capacity(ids.len());
        for id in ids {
            let t = self.running.remove(&id).expect("listed");
            self.copy_ended(&t);
            if t.killed.is_none() {
                self.requeue(&t, true);
            }
            lost.push(t);
        }
        for holders in self.cached.values_mut() {
            holders.remove(executor);
        }
        self.spec_sent.remove(executor);
        lost
    }

    /// A stage is resubmitted: every executor must get the new attempt's spec.
    pub(crate) fn forget_spec(&mut self, stage: StageId) {
        for sent in self.spec_sent.values_mut() {
            sent.remove(&stage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::effect::testing::launches;

    fn offer<'a>(executor: &'a ExecutorId, host: &'a str) -> Offer<'a> {
        Offer {
            executor,
            host,
            spread_hosts: false,
        }
    }

    fn scheduler_with_stage(parts: u32, cached: Option<RddId>) -> TaskScheduler {
        let mut s = TaskScheduler::new(3000, 2);
        s.submit(
            StageId(0),
            0,
            Arc::new(vec![1, 2, 3]),
            cached,
            (0..parts).collect(),
            0,
        );
        s
    }

    #[test]
    fn the_spec_goes_once_per_executor_and_ids_grow() {
        let mut s = scheduler_with_stage(3, None);
        let (a, b) = (ExecutorId::from("1"), ExecutorId::from("2"));
        let mut out = Out::default();
        assert!(s.resource_offer(offer(&a, "h"), 0, &mut out));
        assert!(s.resource_offer(offer(&a, "h"), 0, &mut out));
        assert!(s.resource_offer(offer(&b, "h"), 0, &mut out));
        assert!(
            !s.resource_offer(offer(&b, "h"), 0, &mut out),
            "nothing left"
        );
        let l = launches(&out.effects);
        assert_eq!(
            l.iter().map(|(_, t)| t.task_id).collect::<Vec<_>>(),
            [TaskId(0), TaskId(1), TaskId(2)]
        );
        assert!(l[0].1.stage.is_some());
        assert!(l[1].1.stage.is_none());
        assert!(l[2].1.stage.is_some());
        assert_eq!(out.listener.len(), 3);
        assert_eq!(s.outstanding(), 3);
    }

    #[test]
    fn cached_partitions_wait_for_their_executor_until_the_locality_wait() {
        let rdd = RddId(5);
        let mut s = scheduler_with_stage(2, Some(rdd));
        let (a, b) = (ExecutorId::from("1"), ExecutorId::from("2"));
        s.block_cached(rdd, 0, &a, "ha".into());
        s.block_cached(rdd, 1, &a, "ha".into());
        assert_eq!(s.preferred_hosts(rdd, 0), ["ha"]);
        assert!(s.holds_cache(&a));
        let mut out = Out::default();
        assert!(
            !s.resource_offer(offer(&b, "hb"), 1000, &mut out),
            "waits for 1"
        );
        assert!(s.resource_offer(offer(&a, "ha"), 1000, &mut out));
        assert!(
            s.resource_offer(offer(&b, "hb"), 3000, &mut out),
            "the wait is over"
        );
        // A lost holder is no preference any more.
        let mut s = scheduler_with_stage(1, Some(rdd));
        s.block_cached(rdd, 0, &a, "ha".into());
        assert!(s.executor_lost(&a).is_empty());
        assert!(!s.holds_cache(&a));
        assert!(s.resource_offer(offer(&b, "hb"), 0, &mut out));
    }

    #[test]
    fn failures_are_retried_then_abort() {
        let mut s = scheduler_with_stage(1, None);
        let a = ExecutorId::from("1");
        let mut out = Out::default();
        s.resource_offer(offer(&a, "h"), 0, &mut out);
        let t = s.take(TaskId(0), &a).unwrap();
        assert_eq!(s.failed(&t), Failure::Retry);
        assert!(s.resource_offer(offer(&a, "h"), 0, &mut out));
        let t = s.take(TaskId(1), &a).unwrap();
        assert_eq!(t.attempt, 1);
        assert_eq!(s.failed(&t), Failure::Abort { attempts: 2 });
        s.remove_task_set(StageId(0));
        assert_eq!(s.failed(&t), Failure::Stale);
    }

    #[test]
    fn a_lost_executors_tasks_go_back_first_in_line() {
        let mut s = scheduler_with_stage(3, None);
        let (a, b) = (ExecutorId::from("1"), ExecutorId::from("2"));
        let mut out = Out::default();
        s.resource_offer(offer(&a, "h"), 0, &mut out);
        s.resource_offer(offer(&a, "h"), 0, &mut out);
        assert!(s.take(TaskId(0), &b).is_none(), "not b's task");
        let lost = s.executor_lost(&a);
        assert_eq!(
            lost.iter().map(|t| t.id).collect::<Vec<_>>(),
            [TaskId(0), TaskId(1)]
        );
        assert!(s.take(TaskId(0), &a).is_none());
        let mut out = Out::default();
        s.resource_offer(offer(&b, "h"), 0, &mut out);
        let l = launches(&out.effects);
        assert_eq!(l[0].1.partition, 1, "re-queued in front of partition 2");
        assert!(l[0].1.stage.is_some());
    }

    /// Ten tasks launched on executors 0..9 (host "h"), nine succeeded at 200 ms; index 9
    /// (on executor 9) runs on.
    fn nine_of_ten_done() -> (TaskScheduler, Out) {
        let mut s = TaskScheduler::new(3000, 4);
        s.submit(StageId(0), 0, Arc::new(vec![]), None, (0..10).collect(), 0);
        let mut out = Out::default();
        let execs: Vec<ExecutorId> = (0..10).map(|i| ExecutorId::from(i.to_string())).collect();
        for e in &execs {
            assert!(s.resource_offer(offer(e, "h"), 0, &mut out));
        }
        for (i, e) in execs.iter().enumerate().take(9) {
            let t = s.take(TaskId(i as u64), e).unwrap();
            assert!(s.succeeded(&t, 200, &mut out));
        }
        (s, Out::default())
    }

    /// [`nine_of_ten_done`], then index 9's speculative copy launched on executor 0
    /// (returned) at 700 ms.
    fn copy_launched() -> (TaskScheduler, Out, ExecutorId) {
        let (mut s, mut out) = nine_of_ten_done();
        s.check_speculatable_tasks(&SpeculationConfig::default(), 700, &mut out);
        let free = ExecutorId::from("0");
        s.resource_offer(offer(&free, "h"), 700, &mut out);
        (s, out, free)
    }

    #[test]
    fn speculation_marks_slow_tasks_once_and_posts_them() {
        let conf = SpeculationConfig::default();
        let (mut s, mut out) = nine_of_ten_done();
        assert!(!s.check_speculatable_tasks(&conf, 600, &mut out));
        assert!(s.check_speculatable_tasks(&conf, 601, &mut out));
        assert!(
            !s.check_speculatable_tasks(&conf, 700, &mut out),
            "marked once"
        );
        assert_eq!(
            out.listener,
            [ListenerEvent::SpeculativeTaskSubmitted {
                stage: StageAttempt::new(StageId(0), 0),
                task_index: 9,
            }]
        );
    }

    #[test]
    fn a_copy_keeps_off_its_original_executor_and_host() {
        let conf = SpeculationConfig::default();
        let (mut s, mut out) = nine_of_ten_done();
        s.check_speculatable_tasks(&conf, 700, &mut out);
        let slow = ExecutorId::from("9");
        let free = ExecutorId::from("0");
        assert!(!s.resource_offer(offer(&slow, "h"), 700, &mut out));
        // Executors on several hosts: not on the original's host either.
        let same_host = Offer {
            executor: &free,
            host: "h",
            spread_hosts: true,
        };
        assert!(!s.resource_offer(same_host, 700, &mut out));
        let other_host = Offer {
            host: "h2",
            ..same_host
        };
        assert!(s.resource_offer(other_host, 700, &mut out));
        let (e, t) = launches(&out.effects).remove(0);
        assert_eq!((e, t.partition, t.attempt), (free.clone(), 9, 1));
        assert!(out.listener.iter().any(|ev| matches!(
            ev,
            ListenerEvent::TaskStart { task, .. } if task.speculative && task.index == 9
        )));
        // Both attempts run: no third one, however slow.
        assert!(!s.check_speculatable_tasks(&conf, 5_000, &mut out));
        assert!(!s.resource_offer(offer(&ExecutorId::from("1"), "h3"), 5_000, &mut out));
    }

    #[test]
    fn the_first_to_succeed_wins_and_the_other_is_marked_killed() {
        let (mut s, _, free) = copy_launched();
        let mut out = Out::default();
        let copy = s.take(TaskId(10), &free).unwrap();
        assert!(copy.speculative);
        assert!(s.succeeded(&copy, 900, &mut out));
        assert_eq!(
            out.effects,
            [Effect::KillTask {
                executor: ExecutorId::from("9"),
                task_id: TaskId(9),
                reason: KILLED_BY_OTHER_ATTEMPT.into(),
            }]
        );
        let loser = s.take(TaskId(9), &ExecutorId::from("9")).unwrap();
        assert_eq!(loser.killed.as_deref(), Some(KILLED_BY_OTHER_ATTEMPT));
        assert!(!s.succeeded(&loser, 950, &mut out), "already done");
        assert_eq!(s.outstanding(), 0);
    }

    #[test]
    fn a_failed_copy_does_not_requeue_while_the_original_runs() {
        let (mut s, mut out, free) = copy_launched();
        let copy = s.take(TaskId(10), &free).unwrap();
        assert_eq!(s.failed(&copy), Failure::Retry);
        assert!(
            !s.resource_offer(offer(&free, "h"), 800, &mut out),
            "the original still runs"
        );
        // The original fails too: now the task runs again (attempt 2).
        let orig = s.take(TaskId(9), &ExecutorId::from("9")).unwrap();
        assert_eq!(s.failed(&orig), Failure::Retry);
        let mut out = Out::default();
        assert!(s.resource_offer(offer(&free, "h"), 900, &mut out));
        assert_eq!(launches(&out.effects)[0].1.attempt, 2);
    }
}
