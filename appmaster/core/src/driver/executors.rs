//! Executor bookkeeping (what Spark's `YarnAllocator` and the scheduler backend keep):
//! the containers asked for, allocated, launching, registered and stopping; the
//! outstanding ask at the RM with total-count semantics; each executor's free task
//! slots; executor failures and the abort they lead to.

use super::effect::{Effect, Out};
use crate::allocation::ListenerEvent;
use crate::eventlog::AppEvent;
use crate::ids::ExecutorId;
use common::protocol::Container;
use common::{ContainerId, Resource};
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Allocated; the executor is starting and has not registered yet.
    Launching,
    Registered,
    /// We asked it to go (idle removal or shutdown).
    Stopping,
}

#[derive(Debug)]
struct ExecContainer {
    executor: ExecutorId,
    phase: Phase,
    stop_reason: Option<String>,
    /// The RM said it will take this container back (preemption): no new tasks go
    /// there, as for a decommissioning executor.
    decommissioning: bool,
    /// When the ask this container answered was made (for the start latency).
    asked_at: Option<u64>,
}

/// What an executor says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub host: String,
    pub cores: u32,
    /// Where its map output is served (the node's shuffle service or its own server).
    pub shuffle_server: String,
    /// The directory its map output is written to.
    pub shuffle_dir: String,
    /// Its log pages by name (`stdout`, `stderr`), as Spark's `logUrlMap`.
    pub log_urls: BTreeMap<String, String>,
}

/// A registered executor.
#[derive(Debug, Clone)]
pub(crate) struct ExecutorInfo {
    pub(crate) host: String,
    /// Where its map output is served (the node's shuffle service or its own server).
    pub(crate) shuffle_server: String,
    pub(crate) shuffle_dir: String,
    pub(crate) container: ContainerId,
    /// Tasks it runs at once (cores / task cpus).
    slots: u32,
    free: u32,
}

/// A container that ended.
#[derive(Debug)]
pub(crate) struct Gone {
    pub(crate) executor: ExecutorId,
    /// We had asked it to stop.
    pub(crate) requested: bool,
    /// Why it went: the reason we stopped it for, else what the caller said.
    pub(crate) reason: String,
}

#[derive(Debug)]
pub(crate) struct ExecutorBook {
    /// The executor container (memory with overhead, cores).
    resource: Resource,
    task_cpus: u32,
    max_failures: u32,
    containers: BTreeMap<ContainerId, ExecContainer>,
    executors: BTreeMap<ExecutorId, ExecutorInfo>,
    next_executor: u64,
    /// What the RM still owes us (our last ask minus what has arrived since).
    asked: u32,
    /// When each container the RM still owes us was asked for, oldest first (as many as
    /// `asked`): a container that arrives answers the oldest ask, a lowered ask cancels the
    /// newest.
    ask_times: VecDeque<u64>,
    last_ask_sent: Option<u32>,
    failures: u32,
    stopped: bool,
}

impl ExecutorBook {
    pub(crate) fn new(resource: Resource, task_cpus: u32, max_failures: u32) -> Self {
        Self {
            resource,
            task_cpus,
            max_failures,
            containers: BTreeMap::new(),
            executors: BTreeMap::new(),
            next_executor: 1,
            asked: 0,
            ask_times: VecDeque::new(),
            last_ask_sent: None,
            failures: 0,
            stopped: false,
        }
    }

    /// The application is ending: nothing more is asked for or scheduled.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    pub(crate) fn registered(&self) -> usize {
        self.executors.len()
    }

    pub(crate) fn is_registered(&self, id: &ExecutorId) -> bool {
        self.executors.contains_key(id)
    }

    pub(crate) fn info(&self, id: &ExecutorId) -> Option<&ExecutorInfo> {
        self.executors.get(id)
    }

    /// Spark's defaultParallelism: total registered executor cores, at least 2.
    pub(crate) fn default_parallelism(&self) -> u32 {
        let cores: u32 = self
            .executors
            .values()
            .map(|e| e.slots * self.task_cpus)
            .sum();
        cores.max(2)
    }

    fn live_containers(&self) -> u32 {
        self.containers
            .values()
            .filter(|c| c.phase != Phase::Stopping)
            .count() as u32
    }

    /// The next [`Self::sync_ask`] sends the ask even when it did not change.
    pub(crate) fn forget_ask_sent(&mut self) {
        self.last_ask_sent = None;
    }

    /// Asks the RM for what `target` still lacks, if that changed.
    pub(crate) fn sync_ask(&mut self, target: u32, now_ms: u64, out: &mut Out) {
        if self.stopped {
            return;
        }
        let want = target.saturating_sub(self.live_containers());
        if self.last_ask_sent != Some(want) || want != self.asked {
            self.asked = want;
            let wanted = want as usize;
            self.ask_times.truncate(wanted);
            while self.ask_times.len() < wanted {
                self.ask_times.push_back(now_ms);
            }
            self.last_ask_sent = Some(want);
            out.push(Effect::Ask { count: want });
            out.log(AppEvent::ContainerRequested {
                outstanding: want,
                memory_mb: self.resource.memory_mb,
                vcores: self.resource.vcores,
            });
        }
    }

    /// Containers arrived: start executors in those the target needs, release the rest.
    pub(crate) fn on_allocated(
        &mut self,
        containers: Vec<Container>,
        target: u32,
        now_ms: u64,
        out: &mut Out,
    ) {
        for c in containers {
            self.asked = self.asked.saturating_sub(1);
            let asked_at = self.ask_times.pop_front();
            if self.stopped || self.live_containers() >= target {
                out.log(AppEvent::ContainerAllocated {
                    container: c.id.to_string(),
                    node: c.node_id.0.clone(),
                    executor: None,
                });
                out.log(AppEvent::ContainerReleased {
                    container: c.id.to_string(),
                    reason: "not needed: the target was reached".into(),
                });
                out.push(Effect::Release { container: c.id });
                continue;
            }
            let executor = ExecutorId::from(self.next_executor.to_string());
            self.next_executor += 1;
            out.log(AppEvent::ContainerAllocated {
                container: c.id.to_string(),
                node: c.node_id.0.clone(),
                executor: Some(executor.to_string()),
            });
            self.containers.insert(
                c.id,
                ExecContainer {
                    executor: executor.clone(),
                    phase: Phase::Launching,
                    stop_reason: None,
                    decommissioning: false,
                    asked_at,
                },
            );
            out.push(Effect::StartExecutor {
                container: Box::new(c),
                executor,
            });
        }
        // The RM decremented its count as it allocated; keep ours in step and
        // ask for replacements of anything we released.
        self.last_ask_sent = Some(self.asked);
        self.sync_ask(target, now_ms, out);
    }

    /// The executor started in its container has registered; returns its start latency
    /// (from the ask its container answered to now), when known.
    pub(crate) fn register(
        &mut self,
        executor: &ExecutorId,
        reg: Registration,
        now_ms: u64,
        out: &mut Out,
    ) -> Result<Option<u64>, String> {
        let Some((cid, c)) = self
            .containers
            .iter_mut()
            .find(|(_, c)| c.executor == *executor)
        else {
            return Err(format!(
                "executor {executor} is not one this driver started"
            ));
        };
        if c.phase != Phase::Launching {
            return Err(format!("executor {executor} registered twice"));
        }
        c.phase = Phase::Registered;
        let start_latency = c.asked_at.map(|t| now_ms.saturating_sub(t));
        let container = *cid;
        out.log(AppEvent::ExecutorAdded {
            executor: executor.to_string(),
            host: reg.host.clone(),
            cores: reg.cores,
            container: container.to_string(),
            memory_mb: self.resource.memory_mb,
            log_urls: reg.log_urls.clone(),
        });
        let slots = (reg.cores / self.task_cpus.max(1)).max(1);
        self.executors.insert(
            executor.clone(),
            ExecutorInfo {
                host: reg.host,
                shuffle_server: reg.shuffle_server,
                shuffle_dir: reg.shuffle_dir,
                container,
                slots,
                free: slots,
            },
        );
        out.post(ListenerEvent::ExecutorAdded {
            executor_id: executor.clone(),
        });
        Ok(start_latency)
    }

    /// Forgets a registered executor (its container may live on until the RM says).
    pub(crate) fn remove(&mut self, id: &ExecutorId) -> Option<ExecutorInfo> {
        self.executors.remove(id)
    }

    /// A container ended (or its executor could not be started).
    pub(crate) fn container_gone(&mut self, id: ContainerId, reason: String) -> Option<Gone> {
        let c = self.containers.remove(&id)?;
        Some(Gone {
            executor: c.executor,
            requested: c.phase == Phase::Stopping,
            reason: c.stop_reason.unwrap_or(reason),
        })
    }

    /// Counts a container that failed on its own; too many abort the application
    /// (`spark.executor.maxNumFailures`).
    /// A preempted container (-102) is not the application's fault, as in Spark on YARN.
    pub(crate) fn count_failure(&mut self, gone: &Gone, exit: i32, out: &mut Out) {
        if gone.requested
            || exit == 0
            || exit == common::protocol::exit_status::PREEMPTED
            || self.stopped
        {
            return;
        }
        self.failures += 1;
        if self.failures > self.max_failures {
            out.push(Effect::Abort {
                reason: format!(
                    "Max number of executor failures ({}) reached",
                    self.max_failures
                ),
            });
        }
    }

    /// Why we asked this executor to stop, if we did.
    pub(crate) fn stop_reason(&self, id: &ExecutorId) -> Option<String> {
        self.containers
            .values()
            .find(|c| c.executor == *id)
            .and_then(|c| c.stop_reason.clone())
    }

    /// Asks an executor to exit (once).
    pub(crate) fn stop(&mut self, id: &ExecutorId, reason: String, out: &mut Out) {
        if let Some(c) = self.containers.values_mut().find(|c| c.executor == *id) {
            if c.phase == Phase::Stopping {
                return;
            }
            c.phase = Phase::Stopping;
            c.stop_reason = Some(reason.clone());
            out.push(Effect::StopExecutor {
                executor: id.clone(),
                reason,
            });
        }
    }

    /// The app is ending: stop every executor, ask for nothing more.
    pub(crate) fn shutdown(&mut self, out: &mut Out) {
        out.push(Effect::Ask { count: 0 });
        let ids: Vec<ExecutorId> = self
            .containers
            .values()
            .map(|c| c.executor.clone())
            .collect();
        for id in ids {
            self.stop(&id, "application finished".into(), out);
        }
        self.stopped = true;
    }

    /// Registered executors that are not stopping and have a free slot, by id, with
    /// their host (Spark's worker offers).
    pub(crate) fn offers(&self) -> Vec<(ExecutorId, String)> {
        self.executors
            .iter()
            .filter(|(_, e)| {
                e.free > 0
                    && self
                        .containers
                        .get(&e.container)
                        .is_some_and(|c| c.phase == Phase::Registered && !c.decommissioning)
            })
            .map(|(id, e)| (id.clone(), e.host.clone()))
            .collect()
    }

    /// The registered executors live on more than one host (a speculative copy then keeps
    /// off its task's host, as Spark's does).
    pub(crate) fn spans_hosts(&self) -> bool {
        let mut hosts = self.executors.values().map(|e| e.host.as_str());
        let first = hosts.next();
        hosts.any(|h| Some(h) != first)
    }

    /// The RM will preempt these containers: their executors take no new tasks.
    /// Returns the executors affected.
    pub(crate) fn preempting(&mut self, ids: &[ContainerId]) -> Vec<ExecutorId> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(c) = self.containers.get_mut(id) {
                if !c.decommissioning {
                    c.decommissioning = true;
                    out.push(c.executor.clone());
                }
            }
        }
        out
    }

    /// The executor is being decommissioned: it takes no new tasks.
    pub(crate) fn decommission(&mut self, id: &ExecutorId) {
        if let Some(c) = self.containers.values_mut().find(|c| c.executor == *id) {
            c.decommissioning = true;
        }
    }

    /// A registered executor that stays (not stopping, not decommissioning) and that
    /// `eligible` accepts, to take a leaving executor's shuffle output: the lowest id.
    pub(crate) fn migration_peer(
        &self,
        eligible: impl Fn(&ExecutorId) -> bool,
    ) -> Option<ExecutorId> {
        self.executors
            .iter()
            .filter(|(id, e)| {
                eligible(id)
                    && self
                        .containers
                        .get(&e.container)
                        .is_some_and(|c| c.phase == Phase::Registered && !c.decommissioning)
            })
            .map(|(id, _)| id.clone())
            .next()
    }

    /// A task was launched on this executor.
    pub(crate) fn take_slot(&mut self, id: &ExecutorId) {
        if let Some(e) = self.executors.get_mut(id) {
            e.free = e.free.saturating_sub(1);
        }
    }

    /// A task of this executor ended.
    pub(crate) fn release_slot(&mut self, id: &ExecutorId) {
        if let Some(e) = self.executors.get_mut(id) {
            e.free = (e.free + 1).min(e.slots);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::effect::testing::asks;
    use crate::driver::test_support::container;

    fn reg(cores: u32) -> Registration {
        Registration {
            host: "h".into(),
            cores,
            shuffle_server: String::new(),
            shuffle_dir: String::new(),
            log_urls: Default::default(),
        }
    }

    #[test]
    fn the_ask_counts_what_the_target_still_lacks() {
        let mut b = ExecutorBook::new(Resource::new(1408, 2), 1, 3);
        let mut out = Out::default();
        b.sync_ask(3, 0, &mut out);
        assert_eq!(asks(&out.effects), [3]);
        // Unchanged: nothing sent again.
        b.sync_ask(3, 0, &mut out);
        assert_eq!(asks(&out.effects), [3]);
        // Two arrive: the RM's count went down with them, so ours does too (no new ask);
        // a third beyond the target is released.
        let mut out = Out::default();
        b.on_allocated(vec![container(2), container(3)], 3, 0, &mut out);
        assert!(asks(&out.effects).is_empty(), "{:?}", out.effects);
        let mut out = Out::default();
        b.on_allocated(vec![container(4), container(5)], 3, 0, &mut out);
        assert!(out.effects.contains(&Effect::Release {
            container: container(5).id
        }));
        assert!(asks(&out.effects).is_empty(), "{:?}", out.effects);
    }

    #[test]
    fn start_latency_runs_from_the_ask_a_container_answers() {
        let mut b = ExecutorBook::new(Resource::new(1408, 1), 1, 3);
        let mut out = Out::default();
        b.sync_ask(1, 100, &mut out);
        b.sync_ask(3, 150, &mut out);
        // Lowered: the newest ask is the one cancelled.
        b.sync_ask(2, 160, &mut out);
        b.on_allocated(vec![container(2)], 2, 170, &mut out);
        b.on_allocated(vec![container(3)], 2, 180, &mut out);
        let first = b.register(&ExecutorId::from("1"), reg(1), 190, &mut out);
        assert_eq!(first, Ok(Some(90)));
        let second = b.register(&ExecutorId::from("2"), reg(1), 200, &mut out);
        assert_eq!(second, Ok(Some(50)));
        // A container nobody asked for has no start latency.
        b.on_allocated(vec![container(4)], 3, 210, &mut out);
        let third = b.register(&ExecutorId::from("3"), reg(1), 220, &mut out);
        assert_eq!(third, Ok(None));
    }

    #[test]
    fn slots_follow_cores_and_task_cpus() {
        let mut b = ExecutorBook::new(Resource::new(1408, 4), 2, 3);
        let mut out = Out::default();
        b.on_allocated(vec![container(2)], 1, 0, &mut out);
        let id = ExecutorId::from("1");
        assert!(b.offers().is_empty(), "not registered yet");
        b.register(&id, reg(4), 0, &mut out).unwrap();
        assert_eq!(b.default_parallelism(), 4);
        b.take_slot(&id);
        assert_eq!(b.offers().len(), 1);
        b.take_slot(&id);
        assert!(b.offers().is_empty(), "two slots of two cpus each");
        b.release_slot(&id);
        assert_eq!(b.offers(), vec![(id.clone(), "h".to_string())]);
        assert!(b.register(&id, reg(4), 0, &mut out).is_err());
        b.stop(&id, "idle timeout".into(), &mut out);
        assert!(b.offers().is_empty(), "a stopping executor gets no task");
        assert_eq!(b.stop_reason(&id).as_deref(), Some("idle timeout"));
    }

    #[test]
    fn failures_beyond_the_maximum_abort() {
        let mut b = ExecutorBook::new(Resource::new(1408, 1), 1, 1);
        let mut out = Out::default();
        b.on_allocated(vec![container(2), container(3)], 2, 0, &mut out);
        for n in [2, 3] {
            let gone = b.container_gone(container(n).id, "exit 1".into()).unwrap();
            assert!(!gone.requested);
            b.count_failure(&gone, 1, &mut out);
        }
        let aborts = out
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::Abort { .. }))
            .count();
        assert_eq!(aborts, 1);
        assert!(b.container_gone(container(2).id, String::new()).is_none());
    }
}
