//! A simulated application master, sans-IO: it is told what the RM pushed (containers
//! allocated, completed) and when its own timers fire, and answers with what to do (asks,
//! releases, containers to run, unregistering). The same AM runs against the in-process
//! core ([`crate::sim`]) and against the daemon over QUIC ([`crate::wire`]).
//!
//! Asks are per key (one per priority, and per preferred host), as totals: the RM gives a
//! registered app's containers from its first key with anything left, so the AM hands an
//! allocated container to the task that waited longest under its first non-empty key.

use crate::spark::SparkAm;
use crate::workload::{AmType, Job, Task};
use common::protocol::{exit_status, ContainerStatus, ResourceAsk};
use common::{ContainerId, NodeId, Resource};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// One ask key's waiting tasks.
#[derive(Debug, Default)]
struct Key {
    /// (task index, when it was asked for).
    waiting: VecDeque<(usize, u64)>,
    /// The count the RM holds for the key (what was last sent, less what it gave).
    at_rm: u32,
}

/// What the AM wants done after an event.
#[derive(Debug, Default)]
pub struct AmOut {
    /// Containers to run a task in until it ends by itself: (container, node, run ms,
    /// its resource).
    pub run: Vec<(ContainerId, NodeId, u64, Resource)>,
    /// Ask → allocation latencies of the containers just given (simulated ms).
    pub latencies: Vec<u64>,
    /// Containers to give back.
    pub releases: Vec<ContainerId>,
    /// Timers to set: (at ms, what).
    pub timers: Vec<(u64, AmTimer)>,
    /// Containers it learned were preempted.
    pub preempted: u32,
    /// Every task is done: unregister.
    pub finished: bool,
}

/// An AM's own timers (Spark's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmTimer {
    /// The dynamic allocation manager's periodic round.
    Tick,
    /// A task (by index) running in this executor ends.
    TaskEnd(ContainerId, usize),
}

#[derive(Debug)]
pub struct SimAm {
    keys: BTreeMap<String, Key>,
    /// Container → the task it runs (container-per-task AMs).
    running: HashMap<ContainerId, usize>,
    done: usize,
    total: usize,
    /// MapReduce: reduces wait until every map is done.
    held_reduces: Vec<usize>,
    maps_left: usize,
    spark: Option<SparkAm>,
    finished: bool,
}

/// The ask key of a task: its priority (zero-padded, so keys sort by priority), its
/// size (one ask is one size) and its preferred host.
fn key_of(t: &Task) -> String {
    let r = &t.resource;
    let key = format!("p{:05}/{}x{}", t.priority, r.memory_mb, r.vcores);
    match &t.host {
        Some(h) => format!("{key}@{h}"),
        None => key,
    }
}

impl SimAm {
    pub fn new(job: &Job) -> Self {
        let spark = (job.am_type == AmType::Spark).then(|| SparkAm::new(job));
        Self {
            keys: BTreeMap::new(),
            running: HashMap::new(),
            done: 0,
            total: job.tasks.len(),
            held_reduces: Vec::new(),
            maps_left: 0,
            spark,
            finished: false,
        }
    }

    fn ask_for(&mut self, job: &Job, task: usize, now: u64) {
        self.keys
            .entry(key_of(&job.tasks[task]))
            .or_default()
            .waiting
            .push_back((task, now));
    }

    /// Registered: the first asks (every container, or the maps, or Spark's executors).
    pub fn registered(&mut self, job: &Job, now: u64, out: &mut AmOut) {
        if let Some(s) = &mut self.spark {
            s.start(job, now, out);
            return;
        }
        for (i, t) in job.tasks.iter().enumerate() {
            if job.am_type == AmType::MapReduce && t.reduce {
                self.held_reduces.push(i);
            } else {
                self.maps_left += 1;
                self.ask_for(job, i, now);
            }
        }
        if self.maps_left == 0 {
            self.release_reduces(job, now);
        }
    }

    fn release_reduces(&mut self, job: &Job, now: u64) {
        for i in std::mem::take(&mut self.held_reduces) {
            self.ask_for(job, i, now);
        }
    }

    /// The asks whose counts changed since last sent (a zero count withdraws a key).
    pub fn ask_update(&mut self, job: &Job, now: u64) -> Vec<ResourceAsk> {
        if let Some(s) = &mut self.spark {
            return s.ask_update(now);
        }
        let mut asks = Vec::new();
        for (key, k) in &mut self.keys {
            let want = k.waiting.len() as u32;
            if want == k.at_rm {
                continue;
            }
            k.at_rm = want;
            let Some(&(task, _)) = k.waiting.front() else {
                asks.push(ResourceAsk {
                    key: key.clone(),
                    count: 0,
                    resource: Resource::new(1, 1),
                    nodes: Vec::new(),
                    relax_locality: true,
                });
                continue;
            };
            let t = &job.tasks[task];
            asks.push(ResourceAsk {
                key: key.clone(),
                count: want,
                resource: t.resource,
                nodes: t.host.iter().cloned().collect(),
                relax_locality: true,
            });
        }
        self.keys
            .retain(|_, k| !k.waiting.is_empty() || k.at_rm > 0);
        asks
    }

    /// The RM gave containers.
    pub fn allocated(
        &mut self,
        job: &Job,
        containers: &[(ContainerId, NodeId)],
        now: u64,
        out: &mut AmOut,
    ) {
        if let Some(s) = &mut self.spark {
            let ids: Vec<ContainerId> = containers.iter().map(|(id, _)| *id).collect();
            s.granted(job, &ids, now, out);
            return;
        }
        for (id, node) in containers {
            let Some(k) = self.keys.values_mut().find(|k| k.at_rm > 0) else {
                // More than asked for (cannot happen while the counts agree): give it back.
                out.releases.push(*id);
                continue;
            };
            k.at_rm -= 1;
            let Some((task, asked)) = k.waiting.pop_front() else {
                out.releases.push(*id);
                continue;
            };
            out.latencies.push(now.saturating_sub(asked));
            self.running.insert(*id, task);
            let t = &job.tasks[task];
            out.run.push((*id, node.clone(), t.duration_ms, t.resource));
        }
    }

    /// Containers ended: done, or (preempted, lost) asked for again.
    pub fn completed(
        &mut self,
        job: &Job,
        statuses: &[ContainerStatus],
        now: u64,
        out: &mut AmOut,
    ) {
        for s in statuses {
            if s.exit_status == exit_status::PREEMPTED {
                out.preempted += 1;
            }
        }
        if let Some(sp) = &mut self.spark {
            let lost: Vec<ContainerId> = statuses.iter().map(|s| s.container_id).collect();
            sp.executors_lost(job, &lost, now, out);
            self.finish_if_done(out);
            return;
        }
        for s in statuses {
            let Some(task) = self.running.remove(&s.container_id) else {
                continue;
            };
            if s.exit_status == exit_status::SUCCESS {
                self.done += 1;
                if !job.tasks[task].reduce || job.am_type != AmType::MapReduce {
                    self.maps_left = self.maps_left.saturating_sub(1);
                    if self.maps_left == 0 {
                        self.release_reduces(job, now);
                    }
                }
            } else {
                self.ask_for(job, task, now);
            }
        }
        self.finish_if_done(out);
    }

    /// One of its timers fired.
    pub fn timer(&mut self, job: &Job, timer: AmTimer, now: u64, out: &mut AmOut) {
        if let Some(s) = &mut self.spark {
            s.timer(job, timer, now, out);
            self.finish_if_done(out);
        }
    }

    fn finish_if_done(&mut self, out: &mut AmOut) {
        let done = match &self.spark {
            Some(s) => s.done(),
            None => self.done == self.total,
        };
        if done && !self.finished {
            self.finished = true;
            out.finished = true;
        }
    }

    /// Tasks finished so far.
    pub fn tasks_done(&self) -> usize {
        match &self.spark {
            Some(s) => s.tasks_done(),
            None => self.done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(am_type: AmType, reduces: usize) -> Job {
        let task = |reduce| Task {
            duration_ms: 100,
            resource: Resource::new(1024, 1),
            host: None,
            priority: if reduce { 10 } else { 20 },
            reduce,
        };
        Job {
            name: "j".into(),
            am_type,
            start_ms: 0,
            queue: "default".into(),
            user: "u".into(),
            tasks: [vec![task(false); 2], vec![task(true); reduces]].concat(),
            spark_conf: Default::default(),
        }
    }

    fn container(n: u64) -> (ContainerId, NodeId) {
        (
            common::ApplicationId::new(1, 1).attempt(1).container(n),
            NodeId("n:1".into()),
        )
    }

    fn done(n: u64, exit: i32) -> ContainerStatus {
        ContainerStatus {
            container_id: container(n).0,
            state: common::protocol::ContainerState::COMPLETE,
            exit_status: exit,
            diagnostics: String::new(),
            resource: Resource::new(1024, 1),
        }
    }

    #[test]
    fn mapreduce_asks_reduces_after_the_maps_and_reasks_preempted_ones() {
        let j = job(AmType::MapReduce, 1);
        let mut am = SimAm::new(&j);
        let mut out = AmOut::default();
        am.registered(&j, 0, &mut out);
        let asks = am.ask_update(&j, 0);
        assert_eq!(asks.len(), 1);
        assert_eq!((asks[0].key.as_str(), asks[0].count), ("p00020/1024x1", 2));
        am.allocated(&j, &[container(2), container(3)], 50, &mut out);
        assert_eq!(out.latencies, vec![50, 50]);
        assert_eq!(out.run.len(), 2);
        // One map preempted: asked again; the reduce waits.
        am.completed(
            &j,
            &[done(2, 0), done(3, exit_status::PREEMPTED)],
            60,
            &mut out,
        );
        assert_eq!(out.preempted, 1);
        let asks = am.ask_update(&j, 0);
        assert_eq!((asks[0].key.as_str(), asks[0].count), ("p00020/1024x1", 1));
        am.allocated(&j, &[container(4)], 70, &mut out);
        am.completed(&j, &[done(4, 0)], 80, &mut out);
        let asks = am.ask_update(&j, 0);
        assert_eq!((asks[0].key.as_str(), asks[0].count), ("p00010/1024x1", 1));
        assert!(!out.finished);
        am.allocated(&j, &[container(5)], 90, &mut out);
        am.completed(&j, &[done(5, 0)], 95, &mut out);
        assert!(out.finished);
        assert_eq!(am.tasks_done(), 3);
    }
}
