//! The in-process simulation: the RM's real core ([`RmState`] and its scheduler, built from
//! the daemon's own config type) against simulated node managers and application masters,
//! in simulated time. One event queue orders node heartbeats, submissions, AM timers and
//! container ends; the core is called exactly as the daemon's shell calls it.

use crate::am::{AmOut, AmTimer, SimAm};
use crate::config::{ClusterSpec, RmSettings};
use crate::error::SlsError;
use crate::stats::{QueueSample, QueueUse, Stats};
use crate::workload::Job;
use common::protocol::{
    exit_status, AmEvent, AppSubmission, ContainerState, ContainerStatus, FinalApplicationStatus,
    LaunchSpec,
};
use common::{AppAttemptId, ApplicationId, ContainerId, NodeId, Resource};
use resourcemanager::state::{Action, Now, RmState};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

/// The cluster timestamp of simulated ids, and the wall clock's origin.
pub const EPOCH_MS: u64 = 1_700_000_000_000;
/// SLS's AM container.
pub const AM_RESOURCE: Resource = Resource {
    memory_mb: 1024,
    vcores: 1,
};
/// A run with nothing running and nothing allocated for this long has stalled.
const STALL_MS: u64 = 600_000;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Submit(u32),
    /// A container's task ended by itself on its node.
    ContainerDone(u32, ContainerId, Resource),
    AmTimer(u32, AmTimer),
    Preempt,
    Sample,
    KeyRoll,
}

/// What a simulated client submits for `job`.
pub fn submission(job: &Job) -> AppSubmission {
    AppSubmission {
        name: job.name.clone(),
        queue: job.queue.clone(),
        user: job.user.clone(),
        app_type: job.am_type.name().to_uppercase(),
        am_resource: AM_RESOURCE,
        am_launch: LaunchSpec {
            command: vec!["sls-am".into()],
            ..Default::default()
        },
        max_attempts: None,
        acls: Default::default(),
    }
}

/// The id a simulated node on `host` registers with.
pub fn node_id(host: &str) -> NodeId {
    NodeId(format!("{host}:8041"))
}

/// An allocation as the core made it, for comparing runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub t_ms: u64,
    pub container: ContainerId,
    pub node: NodeId,
}

struct AppSim {
    am: SimAm,
    attempt: Option<AppAttemptId>,
    token: String,
    submitted_ms: u64,
    done: bool,
}

struct NodeSim {
    id: NodeId,
    /// Statuses to report on its next heartbeat.
    completed: Vec<ContainerStatus>,
}

/// Settings of one run besides the workload.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub cluster: ClusterSpec,
    pub rm: RmSettings,
    /// Per-queue use is sampled this often (simulated ms).
    pub sample_ms: u64,
    /// Keep every allocation in order ([`Engine::placed`]), for tests.
    pub record: bool,
}

pub struct Engine {
    rm: RmState,
    cfg: SimConfig,
    now: u64,
    /// Events by time, each time's in the order they were queued. Far fewer distinct
    /// times than events (container ends fall on whole ms), so this beats a heap of
    /// every event, whose pops missed the cache.
    events: BTreeMap<u64, Vec<Ev>>,
    /// The earliest time's events, being handled (front first).
    current: (u64, VecDeque<Ev>),
    /// Node heartbeats, kept out of the heap (they are most events, and periodic):
    /// node `next_node`'s heartbeat of round `round` comes next.
    next_node: u32,
    round: u64,
    nodes: Vec<NodeSim>,
    node_index: HashMap<NodeId, u32>,
    jobs: Vec<Job>,
    apps: Vec<AppSim>,
    by_app: HashMap<ApplicationId, u32>,
    /// Task containers running on nodes; killed ones are dropped before they end.
    running: HashSet<ContainerId>,
    /// Apps whose asks changed since they last called allocate.
    touched: Vec<u32>,
    releases: HashMap<u32, Vec<ContainerId>>,
    last_progress: u64,
    pub stats: Stats,
    pub placed: Vec<Placed>,
}

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        wall_ms: EPOCH_MS + ms,
    }
}

impl Engine {
    pub fn new(cfg: SimConfig, jobs: Vec<Job>) -> Result<Self, SlsError> {
        cfg.cluster.check()?;
        let mut rm = RmState::new(EPOCH_MS, cfg.rm.limits(), at(0));
        let scheduler = cfg
            .rm
            .config
            .build_scheduler()
            .map_err(|e| SlsError::refused("the queues", e.to_string()))?;
        rm.set_scheduler(scheduler)
            .map_err(|reason| SlsError::refused("the scheduler", reason))?;
        rm.set_preemption(cfg.rm.preemption());
        cfg.cluster.check_fits(&jobs)?;
        let apps = jobs
            .iter()
            .map(|j| AppSim {
                am: SimAm::new(j),
                attempt: None,
                token: String::new(),
                submitted_ms: j.start_ms,
                done: false,
            })
            .collect();
        let mut e = Self {
            rm,
            now: 0,
            events: BTreeMap::new(),
            current: (0, VecDeque::new()),
            next_node: 0,
            round: 0,
            nodes: Vec::new(),
            node_index: HashMap::new(),
            apps,
            by_app: HashMap::new(),
            running: HashSet::new(),
            touched: Vec::new(),
            releases: HashMap::new(),
            last_progress: 0,
            stats: Stats::default(),
            placed: Vec::new(),
            jobs,
            cfg,
        };
        e.start_nodes();
        for i in 0..e.jobs.len() {
            e.push(e.jobs[i].start_ms, Ev::Submit(i as u32));
        }
        if e.cfg.rm.preemption().enabled {
            e.push(0, Ev::Preempt);
        }
        e.push(0, Ev::Sample);
        e.push(e.rm.next_key_roll_ms(), Ev::KeyRoll);
        Ok(e)
    }

    fn push(&mut self, t: u64, ev: Ev) {
        self.events.entry(t).or_default().push(ev);
    }

    /// The time of the next queued event.
    fn next_event_ms(&mut self) -> Option<u64> {
        if self.current.1.is_empty() {
            let (t, evs) = self.events.pop_first()?;
            self.current = (t, evs.into());
        }
        Some(self.current.0)
    }

    fn start_nodes(&mut self) {
        let c = self.cfg.cluster.clone();
        for (i, host) in c.hosts.iter().enumerate() {
            let id = node_id(host);
            let actions = self.rm.register_node(
                id.clone(),
                id.0.clone(),
                format!("{host}:8042"),
                c.node,
                &[],
                at(0),
            );
            self.node_index.insert(id.clone(), i as u32);
            self.nodes.push(NodeSim {
                id,
                completed: Vec::new(),
            });
            self.execute(actions);
        }
    }

    /// When the next node heartbeat is due: heartbeats are spread over the interval (as
    /// NMs started at different moments), node `i` at `i / n` of it in every round.
    fn next_heartbeat_ms(&self) -> u64 {
        let c = &self.cfg.cluster;
        let n = c.hosts.len() as u64;
        self.round * c.heartbeat_ms + self.next_node as u64 * c.heartbeat_ms / n
    }

    /// Runs until every application has finished.
    pub fn run(&mut self) -> Result<(), SlsError> {
        while self.stats.apps_finished < self.jobs.len() {
            let hb = self.next_heartbeat_ms();
            // At equal times a heartbeat goes first.
            if self.next_event_ms().is_none_or(|t| t > hb) {
                self.now = hb;
                let n = self.next_node;
                self.next_node += 1;
                if self.next_node as usize == self.nodes.len() {
                    self.next_node = 0;
                    self.round += 1;
                }
                self.heartbeat(n);
                self.flush()?;
            } else if let Some(ev) = self.current.1.pop_front() {
                self.now = self.current.0;
                self.step(ev)?;
            }
            if self.now.saturating_sub(self.last_progress) > STALL_MS && self.running.is_empty() {
                let waiting: Vec<&str> = self
                    .apps
                    .iter()
                    .zip(&self.jobs)
                    .filter(|(a, _)| !a.done)
                    .map(|(_, j)| j.name.as_str())
                    .take(5)
                    .collect();
                return Err(SlsError::refused(format!("applications {waiting:?} any container"), format!(
                        "nothing ran or was allocated for {} simulated seconds (do the queues' limits let them run?)",
                        STALL_MS / 1000
                    )));
            }
        }
        self.stats.end_ms = self.now;
        self.sample();
        Ok(())
    }

    fn step(&mut self, ev: Ev) -> Result<(), SlsError> {
        match ev {
            Ev::Submit(i) => self.submit(i)?,
            Ev::ContainerDone(n, c, resource) => {
                if self.running.remove(&c) {
                    self.nodes[n as usize].completed.push(ContainerStatus {
                        container_id: c,
                        state: ContainerState::COMPLETE,
                        exit_status: exit_status::SUCCESS,
                        diagnostics: String::new(),
                        resource,
                    });
                }
            }
            Ev::AmTimer(i, timer) => {
                if !self.apps[i as usize].done {
                    let mut out = AmOut::default();
                    let app = &mut self.apps[i as usize];
                    app.am
                        .timer(&self.jobs[i as usize], timer, self.now, &mut out);
                    self.apply(i, out);
                }
            }
            Ev::Preempt => {
                let actions = self.rm.preempt(at(self.now));
                self.execute(actions);
                let every = self.cfg.rm.preemption_interval_ms();
                self.push(self.now + every, Ev::Preempt);
            }
            Ev::Sample => {
                self.sample();
                self.push(self.now + self.cfg.sample_ms, Ev::Sample);
            }
            Ev::KeyRoll => {
                let actions = self.rm.roll_keys(at(self.now));
                self.execute(actions);
                let next = self.rm.next_key_roll_ms().max(self.now + 1);
                self.push(next, Ev::KeyRoll);
            }
        }
        self.flush()
    }

    fn heartbeat(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        let statuses = std::mem::take(&mut node.completed);
        let started = Instant::now();
        let outcome = self.rm.node_heartbeat(&node.id, &statuses, at(self.now));
        self.stats
            .heartbeat_ns
            .push(started.elapsed().as_nanos() as u64);
        if let Some(out) = outcome {
            for (c, _) in &out.kill {
                self.running.remove(c);
            }
            self.execute(out.actions);
        }
    }

    fn submit(&mut self, i: u32) -> Result<(), SlsError> {
        let job = &self.jobs[i as usize];
        let sub = submission(job);
        let (id, actions) = self.rm.submit(sub, at(self.now)).map_err(|e| {
            SlsError::refused(
                format!("job {} (queue {}, user {})", job.name, job.queue, job.user),
                e.to_string(),
            )
        })?;
        self.by_app.insert(id, i);
        self.apps[i as usize].submitted_ms = self.now;
        self.execute(actions);
        Ok(())
    }

    fn progress(&mut self) {
        self.last_progress = self.now;
    }

    /// Carries out what the core asked for, as the daemon's shell would.
    fn execute(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::LaunchAm {
                    container,
                    amrm_token,
                    ..
                } => {
                    let Some(&i) = self.by_app.get(&container.id.app()) else {
                        continue;
                    };
                    self.count(&container.id, &container.node_id);
                    let app = &mut self.apps[i as usize];
                    self.stats
                        .latencies_ms
                        .push(self.now.saturating_sub(app.submitted_ms));
                    let attempt = container.id.attempt;
                    // The AM starts at once and registers (the launch is not simulated).
                    if let Err(e) =
                        self.rm
                            .register_am(attempt, &amrm_token, "sls".into(), String::new())
                    {
                        eprintln!("sls: the RM refused {attempt}'s registration: {e}");
                        continue;
                    }
                    let app = &mut self.apps[i as usize];
                    app.attempt = Some(attempt);
                    app.token = amrm_token;
                    let mut out = AmOut::default();
                    app.am
                        .registered(&self.jobs[i as usize], self.now, &mut out);
                    self.apply(i, out);
                }
                Action::PushAm { attempt, event } => {
                    let Some(&i) = self.by_app.get(&attempt.app) else {
                        continue;
                    };
                    let mut out = AmOut::default();
                    match event {
                        AmEvent::Allocated(cs) => {
                            let got: Vec<(ContainerId, NodeId)> =
                                cs.into_iter().map(|c| (c.id, c.node_id)).collect();
                            for (c, n) in &got {
                                self.count(c, n);
                            }
                            let app = &mut self.apps[i as usize];
                            app.am
                                .allocated(&self.jobs[i as usize], &got, self.now, &mut out);
                        }
                        AmEvent::Completed(statuses) => {
                            let app = &mut self.apps[i as usize];
                            app.am
                                .completed(&self.jobs[i as usize], &statuses, self.now, &mut out);
                        }
                        AmEvent::AmrmToken { token } => self.apps[i as usize].token = token,
                        AmEvent::NodesLost(_)
                        | AmEvent::NodesUpdated(_)
                        | AmEvent::Preempting(_)
                        | AmEvent::Shutdown { .. } => {}
                    }
                    self.apply(i, out);
                }
                Action::CloseAm { .. } => {}
            }
        }
    }

    fn count(&mut self, c: &ContainerId, n: &NodeId) {
        self.stats.allocations += 1;
        self.progress();
        if self.cfg.record {
            self.placed.push(Placed {
                t_ms: self.now,
                container: *c,
                node: n.clone(),
            });
        }
    }

    /// Records what an AM decided; asks and releases go to the core in [`Self::flush`].
    fn apply(&mut self, i: u32, out: AmOut) {
        self.stats.latencies_ms.extend(out.latencies);
        self.stats.preempted += out.preempted as u64;
        for (c, node, ms, resource) in out.run {
            self.running.insert(c);
            let n = self.node_index[&node];
            self.push(self.now + ms, Ev::ContainerDone(n, c, resource));
        }
        for (t, timer) in out.timers {
            self.push(t, Ev::AmTimer(i, timer));
        }
        if !out.releases.is_empty() {
            self.releases.entry(i).or_default().extend(out.releases);
        }
        if out.finished {
            self.finish(i);
        } else {
            self.touched.push(i);
        }
    }

    fn finish(&mut self, i: u32) {
        self.progress();
        let app = &mut self.apps[i as usize];
        let Some(attempt) = app.attempt else { return };
        app.done = true;
        self.stats.apps_finished += 1;
        let job = &self.jobs[i as usize];
        self.stats.apps.push((
            job.name.clone(),
            job.queue.clone(),
            app.submitted_ms,
            self.now,
        ));
        let actions = self
            .rm
            .finish_am(
                attempt,
                &app.token.clone(),
                FinalApplicationStatus::SUCCEEDED,
                String::new(),
                String::new(),
                at(self.now),
            )
            .unwrap_or_default();
        self.execute(actions);
    }

    /// Sends the asks and releases AMs decided on, until nothing more changes.
    fn flush(&mut self) -> Result<(), SlsError> {
        while !self.touched.is_empty() {
            let mut touched = std::mem::take(&mut self.touched);
            touched.sort_unstable();
            touched.dedup();
            for i in touched {
                let app = &mut self.apps[i as usize];
                let Some(attempt) = app.attempt.filter(|_| !app.done) else {
                    continue;
                };
                let asks = app.am.ask_update(&self.jobs[i as usize], self.now);
                let releases = self.releases.remove(&i).unwrap_or_default();
                if asks.is_empty() && releases.is_empty() {
                    continue;
                }
                for c in &releases {
                    self.running.remove(c);
                }
                let token = app.token.clone();
                let actions = self
                    .rm
                    .allocate(attempt, &token, asks, releases, 0.5, at(self.now))
                    .map_err(|e| {
                        SlsError::refused(
                            format!("the asks of job {}", self.jobs[i as usize].name),
                            e.to_string(),
                        )
                    })?;
                self.execute(actions);
            }
        }
        Ok(())
    }

    fn sample(&mut self) {
        let queues = self
            .rm
            .queue_views()
            .into_iter()
            .filter(|q| q.leaf)
            .map(|q| QueueUse {
                path: q.path,
                used_pct: q.absolute_used_capacity,
                guarantee_pct: q.absolute_capacity,
            })
            .collect();
        self.stats.queue_samples.push(QueueSample {
            t_ms: self.now,
            queues,
        });
    }

    /// Simulated time now.
    pub fn now_ms(&self) -> u64 {
        self.now
    }
}
