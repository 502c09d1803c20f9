//! The task scheduler (Spark's `TaskSchedulerImpl` and its `TaskSetManager`s): the
//! running stages' pending tasks, offers of free slots (cached partitions on the
//! executors that hold them, with `spark.locality.wait`), task starts and ends, and
//! retries up to `spark.task.maxFailures`.

use super::effect::{Effect, Out, TaskDescription};
use crate::allocation::{ListenerEvent, StageAttempt, TaskEndReason, TaskInfo};
use crate::eventlog::AppEvent;
use crate::ids::{ExecutorId, RddId, StageId, TaskId};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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
    succeeded: Vec<bool>,
    finished: usize,
    submitted_ms: u64,
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
    pub(crate) start_ms: u64,
}

impl RunningTask {
    /// Records its end: `reason` is `Success`, `Failed`, `FetchFailed`, `ExecutorLost`
    /// or `Killed`.
    pub(crate) fn end(
        &self,
        reason: &str,
        error: Option<String>,
        records: u64,
        now_ms: u64,
        out: &mut Out,
    ) {
        out.log(AppEvent::TaskEnd {
            stage: self.stage.get(),
            stage_attempt: self.stage_attempt,
            task_id: self.id.get(),
            index: self.index as u32,
            attempt: self.attempt,
            executor: self.executor.to_string(),
            reason: reason.to_string(),
            error,
            duration_ms: now_ms.saturating_sub(self.start_ms),
            records,
        });
        let end = match reason {
            "Success" => TaskEndReason::Success,
            "Killed" => TaskEndReason::TaskKilled,
            _ => TaskEndReason::Failed,
        };
        out.post(ListenerEvent::TaskEnd {
            stage: StageAttempt::new(self.stage, self.stage_attempt),
            task: TaskInfo {
                index: self.index as i64,
                executor_id: self.executor.clone(),
                speculative: false,
            },
            reason: end,
        });
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
                succeeded: vec![false; n],
                finished: 0,
                submitted_ms: now_ms,
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

    /// Offers one free slot of `executor`: launches the first task, oldest stage first,
    /// that prefers this executor, else one with no live preference or whose locality
    /// wait is over. Returns whether a task was launched.
    pub(crate) fn resource_offer(
        &mut self,
        executor: &ExecutorId,
        host: &str,
        now_ms: u64,
        out: &mut Out,
    ) -> bool {
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
                found = Some((*sid, pos));
                break;
            }
        }
        let Some((sid, pos)) = found else {
            return false;
        };
        self.launch(sid, pos, executor, host, now_ms, out);
        true
    }

    fn launch(
        &mut self,
        sid: StageId,
        pos: usize,
        executor: &ExecutorId,
        host: &str,
        now_ms: u64,
        out: &mut Out,
    ) {
        let set = self.sets.get_mut(&sid).expect("offered from this set");
        let index = set.pending.remove(pos).expect("position valid");
        let attempt = set.failures[index];
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
        out.log(AppEvent::TaskStart {
            stage: sid.get(),
            stage_attempt: set.attempt,
            task_id: id.get(),
            index: index as u32,
            attempt,
            executor: executor.to_string(),
            host: host.to_string(),
        });
        out.post(ListenerEvent::TaskStart {
            stage: StageAttempt::new(sid, set.attempt),
            task: TaskInfo {
                index: index as i64,
                executor_id: executor.clone(),
                speculative: false,
            },
        });
        self.running.insert(
            id,
            RunningTask {
                id,
                stage: sid,
                stage_attempt: set.attempt,
                index,
                partition,
                attempt,
                executor: executor.clone(),
                start_ms: now_ms,
            },
        );
    }

    /// The task's report arrived: it no longer runs. `None` if unknown, or if it is
    /// another executor's task (then it is left untouched).
    pub(crate) fn take(&mut self, task: TaskId, executor: &ExecutorId) -> Option<RunningTask> {
        if self.running.get(&task)?.executor != *executor {
            return None;
        }
        self.running.remove(&task)
    }

    /// Marks the task's partition done; false if its attempt is no longer running or
    /// the partition was already done.
    pub(crate) fn succeeded(&mut self, t: &RunningTask) -> bool {
        let Some(set) = self.sets.get_mut(&t.stage) else {
            return false;
        };
        if set.attempt != t.stage_attempt || set.succeeded[t.index] {
            return false;
        }
        set.succeeded[t.index] = true;
        set.finished += 1;
        true
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
            set.pending.push_back(t.index);
            Failure::Retry
        }
    }

    /// The executor is gone: its running tasks go back to their stages (not counted as
    /// failures) and are returned, oldest first; it holds no cached partition any more.
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
            if let Some(set) = self.sets.get_mut(&t.stage) {
                if set.attempt == t.stage_attempt && !set.succeeded[t.index] {
                    set.pending.push_front(t.index);
                }
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

    fn launches(out: &Out) -> Vec<(ExecutorId, TaskDescription)> {
        out.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Launch { executor, launch } => Some((executor.clone(), launch.clone())),
                _ => None,
            })
            .collect()
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
        assert!(s.resource_offer(&a, "h", 0, &mut out));
        assert!(s.resource_offer(&a, "h", 0, &mut out));
        assert!(s.resource_offer(&b, "h", 0, &mut out));
        assert!(!s.resource_offer(&b, "h", 0, &mut out), "nothing left");
        let l = launches(&out);
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
        assert!(!s.resource_offer(&b, "hb", 1000, &mut out), "waits for 1");
        assert!(s.resource_offer(&a, "ha", 1000, &mut out));
        assert!(
            s.resource_offer(&b, "hb", 3000, &mut out),
            "the wait is over"
        );
        // A lost holder is no preference any more.
        let mut s = scheduler_with_stage(1, Some(rdd));
        s.block_cached(rdd, 0, &a, "ha".into());
        assert!(s.executor_lost(&a).is_empty());
        assert!(!s.holds_cache(&a));
        assert!(s.resource_offer(&b, "hb", 0, &mut out));
    }

    #[test]
    fn failures_are_retried_then_abort() {
        let mut s = scheduler_with_stage(1, None);
        let a = ExecutorId::from("1");
        let mut out = Out::default();
        s.resource_offer(&a, "h", 0, &mut out);
        let t = s.take(TaskId(0), &a).unwrap();
        assert_eq!(s.failed(&t), Failure::Retry);
        assert!(s.resource_offer(&a, "h", 0, &mut out));
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
        s.resource_offer(&a, "h", 0, &mut out);
        s.resource_offer(&a, "h", 0, &mut out);
        assert!(s.take(TaskId(0), &b).is_none(), "not b's task");
        let lost = s.executor_lost(&a);
        assert_eq!(
            lost.iter().map(|t| t.id).collect::<Vec<_>>(),
            [TaskId(0), TaskId(1)]
        );
        assert!(s.take(TaskId(0), &a).is_none());
        let mut out = Out::default();
        s.resource_offer(&b, "h", 0, &mut out);
        let l = launches(&out);
        assert_eq!(l[0].1.partition, 1, "re-queued in front of partition 2");
        assert!(l[0].1.stage.is_some());
    }
}
