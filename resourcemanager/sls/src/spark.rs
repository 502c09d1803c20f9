//! A simulated Spark application (`am.type` = `spark`): one job of one stage whose tasks are
//! the trace's, run on executors (containers of the tasks' size, `spark.executor.cores`
//! tasks at a time). With `spark.dynamicAllocation.enabled` (the default here) the executor
//! count is decided by the same allocation manager the real AM runs
//! ([`am_core::allocation::ExecutorAllocationManager`]), fed the listener events a driver
//! would send and ticked every 100 ms as Spark does; else it is `spark.executor.instances`.

use crate::am::{AmOut, AmTimer};
use crate::workload::Job;
use am_core::allocation::{
    AllocationConfig, ExecutorAllocationManager, JobStageInfo, ListenerEvent, StageAttempt,
    TaskEndReason, TaskInfo,
};
use am_core::ids::ExecutorId;
use common::protocol::ResourceAsk;
use common::{ContainerId, Resource};
use std::collections::{BTreeMap, VecDeque};

/// Spark's allocation round period.
const TICK_MS: u64 = 100;
/// Executors of a static app when `spark.executor.instances` is not set (Spark's default).
const DEFAULT_INSTANCES: i64 = 2;

#[derive(Debug)]
struct Executor {
    id: ExecutorId,
    /// Task indexes running on it.
    running: Vec<usize>,
}

#[derive(Debug)]
pub struct SparkAm {
    manager: Option<ExecutorAllocationManager>,
    static_target: i64,
    resource: Resource,
    slots: usize,
    pending: VecDeque<usize>,
    executors: BTreeMap<ContainerId, Executor>,
    /// When each outstanding executor was asked for, oldest first.
    asked: VecDeque<u64>,
    done: usize,
    total: usize,
    ended: bool,
}

fn stage() -> StageAttempt {
    StageAttempt::new(0.into(), 0)
}

impl SparkAm {
    /// The job's Spark settings; dynamic allocation unless turned off. A config Spark
    /// would refuse falls back to static allocation (the trace reader checks it first, see
    /// [`check_conf`]).
    pub fn new(job: &Job) -> Self {
        let conf = allocation_conf(job).ok();
        let slots = conf
            .as_ref()
            .map_or(1, |c| c.tasks_per_executor().max(1) as usize);
        let static_target = conf
            .as_ref()
            .and_then(|c| c.executor_instances)
            .unwrap_or(DEFAULT_INSTANCES);
        let manager = conf
            .filter(|c| c.enabled)
            .and_then(|c| ExecutorAllocationManager::new(c).ok());
        Self {
            manager,
            static_target,
            resource: job.tasks[0].resource,
            slots,
            pending: (0..job.tasks.len()).collect(),
            executors: BTreeMap::new(),
            asked: VecDeque::new(),
            done: 0,
            total: job.tasks.len(),
            ended: false,
        }
    }

    fn event(&mut self, e: ListenerEvent, now: u64) {
        if let Some(m) = &mut self.manager {
            m.on_event(&e, now);
        }
    }

    fn target(&self) -> i64 {
        self.manager
            .as_ref()
            .map_or(self.static_target, |m| m.num_executors_target())
    }

    pub fn start(&mut self, _job: &Job, now: u64, out: &mut AmOut) {
        self.event(
            ListenerEvent::JobStart {
                job_id: 0.into(),
                stages: vec![JobStageInfo {
                    stage_id: 0.into(),
                    shuffle_dep_id: None,
                }],
            },
            now,
        );
        self.event(
            ListenerEvent::StageSubmitted {
                stage: stage(),
                num_tasks: self.total as i64,
                task_locality_preferences: Vec::new(),
            },
            now,
        );
        if self.manager.is_some() {
            self.tick(now, out);
        }
    }

    fn tick(&mut self, now: u64, out: &mut AmOut) {
        let Some(m) = &mut self.manager else { return };
        let outcome = m.tick(now);
        let gone: Vec<ContainerId> = self
            .executors
            .iter()
            .filter(|(_, e)| outcome.to_remove.contains(&e.id))
            .map(|(c, _)| *c)
            .collect();
        for c in gone {
            if let Some(e) = self.executors.remove(&c) {
                self.event(ListenerEvent::ExecutorRemoved { executor_id: e.id }, now);
            }
            out.releases.push(c);
        }
        if !self.ended {
            out.timers.push((now + TICK_MS, AmTimer::Tick));
        }
    }

    /// The executors to ask for beyond those running, as one ask (when that changed).
    pub fn ask_update(&mut self, now: u64) -> Vec<ResourceAsk> {
        let want = (self.target() - self.executors.len() as i64).max(0) as usize;
        let want = if self.ended { 0 } else { want };
        if want == self.asked.len() {
            return Vec::new();
        }
        // Newly wanted executors are asked for now; fewer wanted drops the newest asks.
        while self.asked.len() < want {
            self.asked.push_back(now);
        }
        self.asked.truncate(want);
        vec![ResourceAsk {
            key: "executors".into(),
            count: want as u32,
            resource: self.resource,
            nodes: Vec::new(),
            relax_locality: true,
        }]
    }

    /// The RM gave executors.
    pub fn granted(&mut self, job: &Job, ids: &[ContainerId], now: u64, out: &mut AmOut) {
        for id in ids {
            let Some(asked) = self.asked.pop_front() else {
                out.releases.push(*id);
                continue;
            };
            out.latencies.push(now.saturating_sub(asked));
            let exec = ExecutorId::from(id.to_string());
            self.event(
                ListenerEvent::ExecutorAdded {
                    executor_id: exec.clone(),
                },
                now,
            );
            self.executors.insert(
                *id,
                Executor {
                    id: exec,
                    running: Vec::new(),
                },
            );
        }
        self.assign(job, now, out);
    }

    /// Pending tasks onto free executor slots.
    fn assign(&mut self, job: &Job, now: u64, out: &mut AmOut) {
        let mut starts = Vec::new();
        for (c, e) in &mut self.executors {
            while e.running.len() < self.slots {
                let Some(t) = self.pending.pop_front() else {
                    break;
                };
                e.running.push(t);
                starts.push((*c, e.id.clone(), t));
            }
        }
        for (c, exec, t) in starts {
            self.event(
                ListenerEvent::TaskStart {
                    stage: stage(),
                    task: TaskInfo {
                        index: t as i64,
                        executor_id: exec,
                        speculative: false,
                    },
                },
                now,
            );
            out.timers
                .push((now + job.tasks[t].duration_ms, AmTimer::TaskEnd(c, t)));
        }
    }

    fn task_end(&mut self, exec: ExecutorId, t: usize, reason: TaskEndReason, now: u64) {
        self.event(
            ListenerEvent::TaskEnd {
                stage: stage(),
                task: TaskInfo {
                    index: t as i64,
                    executor_id: exec,
                    speculative: false,
                },
                reason,
            },
            now,
        );
    }

    /// Executors ended (preempted, lost): their tasks run again elsewhere.
    pub fn executors_lost(&mut self, job: &Job, lost: &[ContainerId], now: u64, out: &mut AmOut) {
        for c in lost {
            let Some(e) = self.executors.remove(c) else {
                continue;
            };
            for &t in &e.running {
                self.task_end(e.id.clone(), t, TaskEndReason::Failed, now);
                self.pending.push_front(t);
            }
            self.event(ListenerEvent::ExecutorRemoved { executor_id: e.id }, now);
        }
        self.assign(job, now, out);
    }

    pub fn timer(&mut self, job: &Job, timer: AmTimer, now: u64, out: &mut AmOut) {
        match timer {
            AmTimer::Tick => self.tick(now, out),
            AmTimer::TaskEnd(c, t) => {
                let Some(e) = self.executors.get_mut(&c) else {
                    return; // the executor went first; the task runs again
                };
                let Some(pos) = e.running.iter().position(|&r| r == t) else {
                    return;
                };
                e.running.swap_remove(pos);
                let exec = e.id.clone();
                self.done += 1;
                self.task_end(exec, t, TaskEndReason::Success, now);
                if self.done == self.total {
                    self.ended = true;
                    self.event(ListenerEvent::StageCompleted { stage: stage() }, now);
                    self.event(ListenerEvent::JobEnd { job_id: 0.into() }, now);
                }
                self.assign(job, now, out);
            }
        }
    }

    pub fn done(&self) -> bool {
        self.done == self.total
    }

    pub fn tasks_done(&self) -> usize {
        self.done
    }
}

/// The job's allocation settings: its `spark.conf`, with dynamic allocation on and shuffle
/// tracking standing in for a shuffle service unless it says otherwise.
pub fn allocation_conf(job: &Job) -> Result<AllocationConfig, String> {
    let mut props = job.spark_conf.clone();
    props
        .entry("spark.dynamicAllocation.enabled".into())
        .or_insert_with(|| "true".into());
    if !props.contains_key("spark.shuffle.service.enabled") {
        props
            .entry("spark.dynamicAllocation.shuffleTracking.enabled".into())
            .or_insert_with(|| "true".into());
    }
    let conf = AllocationConfig::from_spark_conf(&props).map_err(|e| e.to_string())?;
    if conf.enabled {
        conf.validate().map_err(|e| e.to_string())?;
    }
    Ok(conf)
}

/// Refuses a `spark` job whose settings Spark would refuse, naming the key.
pub fn check_conf(job: &Job) -> Result<(), String> {
    allocation_conf(job).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{AmType, Task};

    fn job(tasks: usize, conf: &[(&str, &str)]) -> Job {
        Job {
            name: "s".into(),
            am_type: AmType::Spark,
            start_ms: 0,
            queue: "default".into(),
            user: "u".into(),
            tasks: vec![
                Task {
                    duration_ms: 1000,
                    resource: Resource::new(1024, 1),
                    host: None,
                    priority: 20,
                    reduce: false,
                };
                tasks
            ],
            spark_conf: conf
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn c(n: u64) -> ContainerId {
        common::ApplicationId::new(1, 1).attempt(1).container(n)
    }

    #[test]
    fn dynamic_allocation_ramps_up_one_two_four() {
        let j = job(100, &[("spark.dynamicAllocation.initialExecutors", "0")]);
        let mut am = SparkAm::new(&j);
        let mut out = AmOut::default();
        am.start(&j, 0, &mut out);
        let mut targets = Vec::new();
        for t in (100..=3100).step_by(100) {
            am.timer(&j, AmTimer::Tick, t, &mut out);
            targets.push(am.target());
        }
        // Spark's ramp: after the 1 s backlog timeout 1, then +2, then +4 each second.
        assert_eq!(targets[8], 0, "{targets:?}");
        assert_eq!(targets[9], 1, "{targets:?}");
        assert_eq!(targets[19], 3, "{targets:?}");
        assert_eq!(targets[29], 7, "{targets:?}");
        let asks = am.ask_update(3100);
        assert_eq!(asks[0].count, 7);
    }

    #[test]
    fn static_apps_ask_for_their_instances_and_finish() {
        let j = job(
            3,
            &[
                ("spark.dynamicAllocation.enabled", "false"),
                ("spark.executor.instances", "2"),
            ],
        );
        let mut am = SparkAm::new(&j);
        let mut out = AmOut::default();
        am.start(&j, 0, &mut out);
        assert_eq!(am.ask_update(0)[0].count, 2);
        am.granted(&j, &[c(2), c(3)], 10, &mut out);
        assert_eq!(out.latencies, vec![10, 10]);
        assert_eq!(out.timers.len(), 2);
        for (at, timer) in std::mem::take(&mut out.timers) {
            am.timer(&j, timer, at, &mut out);
        }
        for (at, timer) in std::mem::take(&mut out.timers) {
            am.timer(&j, timer, at, &mut out);
        }
        assert!(am.done());
    }

    #[test]
    fn settings_spark_refuses_are_named() {
        let j = job(
            1,
            &[
                ("spark.dynamicAllocation.minExecutors", "5"),
                ("spark.dynamicAllocation.maxExecutors", "2"),
            ],
        );
        let e = check_conf(&j).unwrap_err();
        assert!(e.contains("minExecutors"), "{e}");
    }
}
