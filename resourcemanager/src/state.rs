//! The resource manager's core: nodes, applications, attempts and containers
//! as plain data with transition methods. Where containers go is decided in
//! `state/scheduler.rs`; what the state store keeps, and recovery from it, is
//! in `state/records.rs`.
//!
//! No I/O and no clock: every method takes a [`Now`] (both clocks, read once
//! by the shell), and what must happen in the outside world comes back as
//! [`Action`]s for the service to carry out.

use crate::scheduler::{self, preemption::Candidate, Demand, Demands, QueueView, Scheduler};
use common::identity::check_user_name;
use common::protocol::{
    exit_status, AmEvent, AppAcls, AppSubmission, ApplicationReport, AttemptReport, Container,
    ContainerState, ContainerStatus, ErrorCode, FinalApplicationStatus, Isolation, NodeReport,
    NodeState, PreemptedReport, ResourceAsk, WireError, YarnApplicationState as AppState,
};
use common::token::{
    AmrmTokenKeys, AppSecret, ContainerTokenKeys, KeyId, NodeTokenKeys, RollSchedule,
};
use common::{AppAttemptId, ApplicationId, ContainerId, NodeId, Resource};
use std::collections::{BTreeMap, BTreeSet};

mod acls;
mod audit;
mod decommission;
mod free_index;
mod health;
mod liveness;
mod placement;
#[cfg(test)]
mod props;
mod queues;
mod records;
mod retention;

pub use decommission::{NodeRecord, DEFAULT_DECOMMISSION_TIMEOUT_MS};
use free_index::FreeIndex;
pub use records::{AppRecord, KeysRecord, RESTART_DIAGNOSTICS};
pub use retention::MAX_COMPLETED_APPS;

/// The finished-apps log is not trimmed below this length (a trim looks at every node).
const FINISHED_TRIM_MIN: usize = 4096;

/// Starts an app's diagnostics while its queue's limits hold its AM back.
const AM_WAIT_PREFIX: &str = "[waiting for its AM] ";

/// What the core asks the service to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start the AM container on its node (YARN's AMLauncher).
    LaunchAm {
        container: Box<Container>,
        submission: Box<AppSubmission>,
        amrm_token: String,
        /// The application's secret, for the AM's launch.
        app_secret: AppSecret,
    },
    /// Deliver an event on the attempt's push stream.
    PushAm {
        attempt: AppAttemptId,
        event: AmEvent,
    },
    /// Close the attempt's push stream (the attempt is over).
    CloseAm { attempt: AppAttemptId },
}

/// What a heartbeat answers the node, and what else must happen.
#[derive(Debug)]
pub struct HeartbeatOutcome {
    /// Containers to stop, with the exit status to report.
    pub kill: Vec<(ContainerId, i32)>,
    /// Apps whose containers and directories the node must clean.
    pub finished_apps: Vec<ApplicationId>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_allocation: Resource,
    pub max_am_attempts: u32,
    pub nm_expiry_ms: u64,
    pub token_expiry_ms: u64,
    /// How often the container-token and AMRM-token master keys roll.
    pub key_roll_ms: u64,
}

impl Limits {
    /// How long before it signs a new container-token key is made and sent to
    /// NMs: 1.5 times the node expiry, as YARN's activation delay, so every NM
    /// still alive has heartbeated it in (a silent one is LOST and registers
    /// again, getting the keys then). At most half a roll period.
    pub fn key_activation_ms(&self) -> u64 {
        (self.nm_expiry_ms.saturating_mul(3) / 2).min(self.key_roll_ms / 2)
    }
}

/// One reading of both clocks, taken by the shell and passed to every
/// transition. The two are never mixed: `mono_ms` decides (node expiry) and
/// measures live durations (resource-seconds, a running application's elapsed
/// time), so a wall-clock step (NTP, `date -s`) changes neither; `wall_ms` only
/// stamps what people read or what is persisted (start and finish times, a
/// node's last health update) and what crosses hosts (container-token expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds (`common::clock::mono_ms`).
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch (`common::clock::wall_ms`).
    pub wall_ms: u64,
}

/// A running application's elapsed time, on the monotonic clock: `before_ms`
/// had passed when the monotonic clock read `mono_ms`.
#[derive(Debug, Clone, Copy)]
struct Age {
    mono_ms: u64,
    before_ms: u64,
}

impl Age {
    fn starting(now: Now) -> Self {
        Self {
            mono_ms: now.mono_ms,
            before_ms: 0,
        }
    }

    /// An application recovered from the store knows its start only as a
    /// wall-clock time: that is turned into a duration once, at recovery.
    fn recovered(start_wall_ms: u64, now: Now) -> Self {
        Self {
            mono_ms: now.mono_ms,
            before_ms: now.wall_ms.saturating_sub(start_wall_ms),
        }
    }

    fn at(&self, now: Now) -> u64 {
        self.before_ms + now.mono_ms.saturating_sub(self.mono_ms)
    }
}

#[derive(Debug)]
struct Node {
    address: String,
    http_address: String,
    capability: Resource,
    used: Resource,
    containers: BTreeSet<ContainerId>,
    state: NodeState,
    /// Its last registration or heartbeat: monotonic for expiry, wall clock
    /// for its report's last health update.
    last_heartbeat: Now,
    /// Containers the NM must stop on its next heartbeat, with the exit status to report.
    to_kill: Vec<(ContainerId, i32)>,
    /// How far into [`RmState::finished_log`] it has been told (an absolute position).
    finished_seen: usize,
    /// Apps only this node must clean besides the log's (they ended while it was away).
    finished_extra: Vec<ApplicationId>,
    /// How it isolates containers, as it said at registration.
    isolation: Isolation,
    /// Why it is UNHEALTHY, as its heartbeat said, or its NM's message when it
    /// unregistered (empty otherwise).
    health_report: String,
    /// Its decommission, while DECOMMISSIONING or DECOMMISSIONED (`state/decommission.rs`).
    decommission: Option<decommission::Decommission>,
    /// Live applications that ran containers here (some may have ended since): a
    /// decommission waits for them, as their shuffle output may be served from here.
    apps_ran: BTreeSet<ApplicationId>,
}

#[derive(Debug)]
struct LiveContainer {
    node: NodeId,
    resource: Resource,
    /// An attempt's AM container.
    am: bool,
    /// Monotonic for resource-seconds, wall clock for the UI.
    allocated: Now,
}

/// An application attempt; also its record in the state store (JSON, field names as
/// they have always been stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttemptRecord {
    pub(crate) id: AppAttemptId,
    pub(crate) am_container: Option<ContainerId>,
    pub(crate) am_node: Option<NodeId>,
    pub(crate) registered: bool,
    /// The AM unregistered: its container's exit is expected, not a failure.
    pub(crate) unregistered: bool,
    #[serde(rename = "start_ms")]
    pub(crate) start_wall_ms: u64,
    #[serde(rename = "finish_ms")]
    pub(crate) finish_wall_ms: u64,
    pub(crate) diagnostics: String,
    /// Ended by an RM restart: does not count towards the attempt limit.
    #[serde(default)]
    pub(crate) ended_by_restart: bool,
    /// Its AM container was preempted: does not count either (as YARN).
    #[serde(default)]
    pub(crate) preempted: bool,
}

use AttemptRecord as Attempt;

impl Attempt {
    /// A new attempt, started now, waiting for its AM container.
    fn new(id: AppAttemptId, start_wall_ms: u64) -> Self {
        Self {
            id,
            am_container: None,
            am_node: None,
            registered: false,
            unregistered: false,
            start_wall_ms,
            finish_wall_ms: 0,
            diagnostics: String::new(),
            ended_by_restart: false,
            preempted: false,
        }
    }
}

#[derive(Debug)]
struct App {
    submission: AppSubmission,
    /// Made at submission; in every container token of the app and the AM's launch.
    secret: AppSecret,
    state: AppState,
    final_status: FinalApplicationStatus,
    diagnostics: String,
    tracking_url: String,
    am_host: String,
    start_wall_ms: u64,
    finish_wall_ms: u64,
    /// Elapsed time while it runs (after it ends: finish minus start, as YARN).
    age: Age,
    progress: f32,
    attempts: Vec<Attempt>,
    max_attempts: u32,
    asks: BTreeMap<String, ResourceAsk>,
    containers: BTreeMap<ContainerId, LiveContainer>,
    /// MB·ms and vcore·ms of containers that have ended.
    memory_ms: u128,
    vcore_ms: u128,
    next_container: u64,
    /// The leaf queue it runs in (full path), once admitted.
    queue_path: String,
    /// What preemption took from it (YARN's app report fields).
    preempted: PreemptedReport,
}

/// Preemption settings (`preemption`, `preemption-wait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreemptionConf {
    pub enabled: bool,
    /// Between telling the AM and killing the container.
    pub wait_ms: u64,
}

impl Default for PreemptionConf {
    fn default() -> Self {
        Self {
            enabled: true,
            wait_ms: 15_000,
        }
    }
}

impl App {
    fn current(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    fn current_mut(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut()
    }
}

pub struct RmState {
    cluster_ts: u64,
    next_seq: u32,
    limits: Limits,
    /// Sign container tokens; NMs get them to verify ([`Self::node_keys`]).
    container_keys: ContainerTokenKeys,
    /// Sign AMRM tokens; they never leave the RM.
    amrm_keys: AmrmTokenKeys,
    nodes: BTreeMap<NodeId, Node>,
    apps: BTreeMap<ApplicationId, App>,
    /// Apps whose persisted fields changed since the last [`RmState::take_dirty`].
    dirty: BTreeSet<ApplicationId>,
    /// Users who may view and modify every application (`admin-acl`).
    admins: BTreeSet<String>,
    scheduler: Box<dyn Scheduler>,
    /// What every live application waits for, kept as apps change (see
    /// `state/placement.rs`); `demands_apps` is how many apps it has seen, so apps that
    /// arrive any other way (recovery) make it rebuild.
    demands: Demands,
    demands_apps: usize,
    /// RUNNING nodes by free memory (then fewest containers, then id).
    free_index: FreeIndex,
    /// Apps that ended, in order: every node is told on its next heartbeat to clean their
    /// containers and directories (one shared log and a position per node, since
    /// appending to every node's own list cost an app's end O(nodes)). Entries every
    /// live node has seen are dropped; `finished_base` is the first one's position.
    finished_log: Vec<ApplicationId>,
    finished_base: usize,
    /// The log's length at which it is next trimmed.
    finished_trim_at: usize,
    /// The RUNNING nodes' total capability, kept as nodes come and go (every schedule
    /// round reads it; summing the nodes there would cost a scan per heartbeat).
    running_total: Resource,
    /// Node ids by host name (and by address), for locality.
    hosts: BTreeMap<String, BTreeSet<NodeId>>,
    preemption: PreemptionConf,
    /// Containers chosen for preemption, with the monotonic time they are killed.
    preempting: BTreeMap<ContainerId, u64>,
    /// Until when (monotonic ms) re-registering nodes bring back the containers of a
    /// previous run ([`Self::recover`]); 0: not recovering.
    recovering_until_ms: u64,
    /// The master keys changed since the last [`RmState::take_dirty_keys`].
    keys_dirty: bool,
    /// Nodes whose decommission changed since the last [`RmState::take_dirty_nodes`].
    nodes_dirty: BTreeSet<NodeId>,
    /// Finished apps, oldest first, and how many are kept (see `retention`).
    completed: std::collections::VecDeque<ApplicationId>,
    max_completed: usize,
    /// Apps forgotten since the last [`RmState::take_removed`].
    removed: BTreeSet<ApplicationId>,
    /// What happened since this core started, for the metrics.
    tallies: Tallies,
    /// DECOMMISSIONING nodes and the default timeout (`state/decommission.rs`).
    decom: decommission::Decommissions,
}

/// Counts of things that happened since the core started (the metrics' counters follow
/// them at each scrape).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tallies {
    /// Nodes declared LOST (silent past the expiry).
    pub nodes_lost: u64,
    /// AM attempts that ended without unregistering (their container exited, was lost,
    /// preempted, or did not come back after a restart).
    pub am_attempts_failed: u64,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> WireError {
    WireError::new(code, msg)
}

impl RmState {
    /// A core whose first master keys sign from `now`.
    pub fn new(cluster_ts: u64, limits: Limits, now: Now) -> Self {
        let container_keys = ContainerTokenKeys::new(
            RollSchedule {
                period_ms: limits.key_roll_ms,
                activation_delay_ms: limits.key_activation_ms(),
            },
            now.mono_ms,
        );
        let amrm_keys = AmrmTokenKeys::new(limits.key_roll_ms, now.mono_ms);
        Self {
            cluster_ts,
            next_seq: 1,
            limits,
            container_keys,
            amrm_keys,
            nodes: BTreeMap::new(),
            apps: BTreeMap::new(),
            dirty: BTreeSet::new(),
            admins: BTreeSet::new(),
            scheduler: Box::new(scheduler::CapacityScheduler::new(
                scheduler::QueueTree::build(&BTreeMap::new(), Default::default())
                    .expect("the default queue tree is valid"),
            )),
            demands: Demands::default(),
            demands_apps: 0,
            free_index: FreeIndex::default(),
            finished_log: Vec::new(),
            finished_base: 0,
            finished_trim_at: FINISHED_TRIM_MIN,
            running_total: Resource::ZERO,
            hosts: BTreeMap::new(),
            preemption: PreemptionConf::default(),
            preempting: BTreeMap::new(),
            recovering_until_ms: 0,
            keys_dirty: true,
            nodes_dirty: BTreeSet::new(),
            completed: Default::default(),
            max_completed: MAX_COMPLETED_APPS,
            removed: BTreeSet::new(),
            tallies: Tallies::default(),
            decom: Default::default(),
        }
    }

    /// What happened since this core started.
    pub fn tallies(&self) -> Tallies {
        self.tallies
    }

    /// How long ago (ms) each node that is not LOST, DECOMMISSIONED or SHUT DOWN last
    /// heartbeated.
    pub fn heartbeat_ages(&self, now: Now) -> Vec<(NodeId, u64)> {
        self.nodes
            .iter()
            .filter(|(_, n)| Self::live(n.state))
            .map(|(id, n)| {
                (
                    id.clone(),
                    now.mono_ms.saturating_sub(n.last_heartbeat.mono_ms),
                )
            })
            .collect()
    }

    /// Sets the users who may view and modify every application (`admin-acl`).
    pub fn set_admin_acl(&mut self, admins: impl IntoIterator<Item = String>) {
        self.admins = admins.into_iter().collect();
    }

    pub fn cluster_ts(&self) -> u64 {
        self.cluster_ts
    }

    /// The keys NMs verify container tokens with: what `RegisterNode` answers.
    pub fn node_keys(&self) -> NodeTokenKeys {
        self.container_keys.for_nodes()
    }

    /// The keys again when they changed since the version a node holds.
    pub fn node_keys_update(&self, held_version: u64) -> Option<NodeTokenKeys> {
        (held_version != self.container_keys.version()).then(|| self.node_keys())
    }

    /// (container-token key signing now, AMRM key signing now).
    pub fn signing_keys(&self) -> (KeyId, KeyId) {
        (
            self.container_keys.signing_id(),
            self.amrm_keys.signing_id(),
        )
    }

    /// Rolls the master keys when their time has come (monotonic): a new
    /// container-token key is made `key_activation_ms` ahead and goes to NMs
    /// with their next heartbeat; when a new AMRM key signs, every live attempt's
    /// AM gets a token signed with it on its push stream.
    pub fn roll_keys(&mut self, now: Now) -> Vec<Action> {
        let mut actions = Vec::new();
        let c = self.container_keys.poll(now.mono_ms);
        let a = self.amrm_keys.poll(now.mono_ms);
        self.keys_dirty |= c.any() || a.any();
        if c.any() {
            tracing::info!(
                signing = self.container_keys.signing_id().0,
                accepted = ?self.container_keys.accepted_ids(),
                "container-token master keys rolled"
            );
        }
        if a.activated {
            tracing::info!(
                signing = self.amrm_keys.signing_id().0,
                "AMRM-token master key rolled"
            );
            for app in self.apps.values() {
                let Some(a) = app.current() else { continue };
                if app.state.is_terminal() || a.am_container.is_none() {
                    continue;
                }
                actions.push(Action::PushAm {
                    attempt: a.id,
                    event: AmEvent::AmrmToken {
                        token: self.amrm_keys.token(a.id),
                    },
                });
            }
        }
        actions
    }

    /// When [`Self::roll_keys`] next has something to do (monotonic ms).
    pub fn next_key_roll_ms(&self) -> u64 {
        self.container_keys
            .next_change_ms()
            .min(self.amrm_keys.next_change_ms())
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    // ---------------------------------------------------------------- nodes

    /// A node that just registered (RUNNING, nothing on it), told of no finished app yet.
    fn new_node(
        &self,
        address: String,
        http_address: String,
        capability: Resource,
        now: Now,
    ) -> Node {
        Node {
            address,
            http_address,
            capability,
            used: Resource::ZERO,
            containers: BTreeSet::new(),
            state: NodeState::RUNNING,
            last_heartbeat: now,
            to_kill: Vec::new(),
            finished_seen: self.finished_base + self.finished_log.len(),
            finished_extra: Vec::new(),
            isolation: Isolation::default(),
            health_report: String::new(),
            decommission: None,
            apps_ran: BTreeSet::new(),
        }
    }

    /// Files `node_id` under its host names (its id's and its address's), for commands
    /// that name a node by host.
    fn index_host(&mut self, node_id: &NodeId, address: &str) {
        for host in [node_id.0.as_str(), address] {
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            self.hosts
                .entry(host.to_string())
                .or_default()
                .insert(node_id.clone());
        }
    }

    pub fn register_node(
        &mut self,
        node_id: NodeId,
        address: String,
        http_address: String,
        capability: Resource,
        running: &[ContainerStatus],
        now: Now,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        // A re-registering node starts from what it reports; containers we
        // thought were there and it does not report are gone.
        self.unindex(&node_id);
        let mut decommission = None;
        if let Some(old) = self.nodes.remove(&node_id) {
            // Still being decommissioned after its NM restarted (a DECOMMISSIONED one is
            // refused before it gets here, `Self::shutdown_reason`).
            decommission = old
                .decommission
                .filter(|_| old.state == NodeState::DECOMMISSIONING);
            if old.state == NodeState::RUNNING {
                self.running_total = self.running_total.saturating_sub(&old.capability);
            }
            let reported: BTreeSet<_> = running.iter().map(|s| s.container_id).collect();
            for c in old.containers {
                if !reported.contains(&c) {
                    self.complete_container(
                        c,
                        exit_status::ABORTED,
                        "Container lost when its node re-registered".into(),
                        now,
                        &mut actions,
                    );
                }
            }
        }
        let mut node = self.new_node(address, http_address, capability, now);
        // Completions it reports are applied once the node is in place.
        let mut completed = Vec::new();
        let recovering = now.mono_ms < self.recovering_until_ms;
        for s in running {
            let app = s.container_id.app();
            match self.apps.get_mut(&app) {
                Some(a) if !a.state.is_terminal() => {
                    if let Some(live) = a.containers.get_mut(&s.container_id) {
                        if live.node != node_id {
                            // Placed elsewhere: a node never takes over another's container.
                            tracing::warn!(node_id = %node_id, container_id = %s.container_id, placed_on = %live.node, "registration reports another node's container: ignored");
                            continue;
                        }
                        node.used = node.used.add(&live.resource);
                        node.containers.insert(s.container_id);
                    } else if recovering
                        && a.current().map(|c| c.id) == Some(s.container_id.attempt)
                    {
                        // Work-preserving recovery (YARN's): a container of the current
                        // attempt, placed by the previous run, is taken back as it runs.
                        self.adopt(&mut node, &node_id, s, now);
                    } else if s.state != ContainerState::COMPLETE {
                        node.to_kill.push((s.container_id, exit_status::ABORTED));
                    }
                    if s.state == ContainerState::COMPLETE {
                        completed.push(s);
                    }
                }
                _ if s.state == ContainerState::COMPLETE => {}
                _ => node
                    .to_kill
                    .push((s.container_id, exit_status::KILLED_BY_RESOURCEMANAGER)),
            }
        }
        tracing::info!(node_id = %node_id, capability = %capability, "node registered");
        self.index_host(&node_id, &node.address);
        self.running_total = self.running_total.add(&node.capability);
        self.nodes.insert(node_id.clone(), node);
        self.index(&node_id);
        if let Some(d) = decommission {
            self.resume_decommission(&node_id, d, now);
        }
        for st in completed {
            self.completed_status(st, now, &mut actions);
        }
        self.schedule(now, &mut actions);
        actions
    }

    /// Of the apps a registering node holds, those that ended (or that this RM does not
    /// know) go to its next heartbeat's finished apps, so that it removes their
    /// directories: an app may have ended while the node was away.
    pub fn finished_among(&mut self, node_id: &NodeId, apps: &[ApplicationId]) {
        let (ended, live): (Vec<ApplicationId>, Vec<ApplicationId>) = apps
            .iter()
            .partition(|a| self.apps.get(a).is_none_or(|app| app.state.is_terminal()));
        if let Some(node) = self.nodes.get_mut(node_id) {
            // The live ones ran containers there (before an RM restart, perhaps).
            node.apps_ran.extend(live);
            for a in ended {
                if !node.finished_extra.contains(&a) {
                    node.finished_extra.push(a);
                }
            }
        }
    }

    /// The app a submission with the same user and submission id already made (it was
    /// sent again after its answer was lost), if any.
    fn submitted_before(&self, sub: &AppSubmission) -> Option<ApplicationId> {
        let key = common::launch::SUBMISSION_ID;
        let sid = sub.am_launch.env.get(key)?;
        self.apps.iter().rev().find_map(|(id, a)| {
            (a.submission.user == sub.user && a.submission.am_launch.env.get(key) == Some(sid))
                .then_some(*id)
        })
    }

    /// Takes back a container of the current attempt that a node reports after an RM
    /// restart, with the resource it reports (capped at the largest allocation, as a
    /// node is trusted with its own containers but not with more than any could get).
    /// Later container ids of the app come after it.
    fn adopt(&mut self, node: &mut Node, node_id: &NodeId, s: &ContainerStatus, now: Now) {
        let app_id = s.container_id.app();
        let Some(app) = self.apps.get_mut(&app_id) else {
            return;
        };
        let resource = Resource::new(
            s.resource
                .memory_mb
                .min(self.limits.max_allocation.memory_mb),
            s.resource.vcores.min(self.limits.max_allocation.vcores),
        );
        let am = app.current().and_then(|a| a.am_container) == Some(s.container_id);
        app.containers.insert(
            s.container_id,
            LiveContainer {
                node: node_id.clone(),
                resource,
                am,
                allocated: now,
            },
        );
        app.next_container = app.next_container.max(s.container_id.n + 1);
        self.scheduler.allocated(app_id, resource, am);
        node.used = node.used.add(&resource);
        node.containers.insert(s.container_id);
        node.apps_ran.insert(app_id);
        self.dirty.insert(app_id);
        tracing::info!(container_id = %s.container_id, node_id = %node_id, am, "container recovered");
    }

    /// A heartbeat: container statuses in, kill orders out.
    /// `None` means the node is unknown (or was declared lost) and must register again.
    pub fn node_heartbeat(
        &mut self,
        node_id: &NodeId,
        statuses: &[ContainerStatus],
        now: Now,
    ) -> Option<HeartbeatOutcome> {
        let node = match self.nodes.get_mut(node_id) {
            Some(n) if Self::live(n.state) => n,
            _ => return None,
        };
        node.last_heartbeat = now;
        let kill = std::mem::take(&mut node.to_kill);
        let from = node.finished_seen.saturating_sub(self.finished_base);
        let mut finished = std::mem::take(&mut node.finished_extra);
        let told = finished.len();
        for a in self.finished_log.get(from..).unwrap_or_default() {
            if !finished[..told].contains(a) {
                finished.push(*a);
            }
        }
        node.finished_seen = self.finished_base + self.finished_log.len();
        let mut actions = Vec::new();
        for s in statuses {
            if let Some(placed) = self.placed_elsewhere(node_id, s.container_id) {
                tracing::warn!(node_id = %node_id, container_id = %s.container_id, placed_on = %placed, "heartbeat reports another node's container: ignored");
                continue;
            }
            if s.state == ContainerState::COMPLETE {
                self.completed_status(s, now, &mut actions);
            }
        }
        self.schedule(now, &mut actions);
        Some(HeartbeatOutcome {
            kill,
            finished_apps: finished,
            actions,
        })
    }

    /// A node reported `s` COMPLETE.
    fn completed_status(&mut self, s: &ContainerStatus, now: Now, actions: &mut Vec<Action>) {
        let diagnostics = s.diagnostics.clone();
        self.complete_container(s.container_id, s.exit_status, diagnostics, now, actions);
    }

    /// The node a live container was placed on, when that is not `node_id`.
    fn placed_elsewhere(&self, node_id: &NodeId, c: ContainerId) -> Option<NodeId> {
        let live = self.apps.get(&c.app())?.containers.get(&c)?;
        (live.node != *node_id).then(|| live.node.clone())
    }

    /// A node may report (run, complete) only containers placed on it: a registration or
    /// heartbeat of `node_id` that reports a live container placed on another node is
    /// refused as a whole (the core ignores such statuses in any case).
    pub fn check_reported(
        &self,
        node_id: &NodeId,
        statuses: &[ContainerStatus],
    ) -> Result<(), WireError> {
        for s in statuses {
            if let Some(placed) = self.placed_elsewhere(node_id, s.container_id) {
                return Err(err(
                    ErrorCode::Unauthorized,
                    format!(
                        "node {node_id} reports container {}, which runs on node {placed}: a node reports only its own containers",
                        s.container_id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Records how a registered node isolates its containers (reported, not decided on).
    pub fn set_node_isolation(&mut self, node_id: &NodeId, isolation: Isolation) {
        if let Some(n) = self.nodes.get_mut(node_id) {
            n.isolation = isolation;
        }
    }

    pub fn node_reports(&self) -> Vec<NodeReport> {
        self.nodes
            .iter()
            .map(|(id, n)| NodeReport {
                node_id: id.clone(),
                address: n.address.clone(),
                http_address: n.http_address.clone(),
                state: n.state,
                capability: n.capability,
                used: n.used,
                num_containers: n.containers.len() as u32,
                last_health_update: n.last_heartbeat.wall_ms,
                isolation: n.isolation,
                health_report: n.health_report.clone(),
                decommissioning_timeout_s: Self::decommissioning_timeout_s(n),
            })
            .collect()
    }

    // ---------------------------------------------------------------- applications

    pub fn submit(
        &mut self,
        sub: AppSubmission,
        now: Now,
    ) -> Result<(ApplicationId, Vec<Action>), WireError> {
        self.check_resource(&sub.am_resource, "AM container")?;
        // Before anything is built from it: the name goes into node paths and OS users.
        check_user_name(&sub.user).map_err(|e| err(ErrorCode::BadRequest, e.to_string()))?;
        check_acls(&sub.acls)?;
        if sub.am_launch.command.is_empty() {
            return Err(err(ErrorCode::BadRequest, "the AM launch command is empty"));
        }
        if let Some(id) = self.submitted_before(&sub) {
            return Ok((id, vec![]));
        }
        let id = ApplicationId::new(self.cluster_ts, self.next_seq);
        self.next_seq += 1;
        let queue_path = self.scheduler.admit(id, &sub.queue, &sub.user)?;
        let max_attempts = sub
            .max_attempts
            .unwrap_or(self.limits.max_am_attempts)
            .clamp(1, self.limits.max_am_attempts);
        tracing::info!(app_id = %id, name = %sub.name, user = %sub.user, "application submitted");
        let mut app = App {
            submission: sub,
            secret: AppSecret::generate(),
            // NEW -> NEW_SAVING -> SUBMITTED -> ACCEPTED happen at once: no
            // state store to wait for, and the FIFO queue accepts everything.
            state: AppState::ACCEPTED,
            final_status: FinalApplicationStatus::UNDEFINED,
            diagnostics: String::new(),
            tracking_url: String::new(),
            am_host: String::new(),
            start_wall_ms: now.wall_ms,
            finish_wall_ms: 0,
            age: Age::starting(now),
            progress: 0.0,
            attempts: Vec::new(),
            max_attempts,
            asks: BTreeMap::new(),
            containers: BTreeMap::new(),
            memory_ms: 0,
            vcore_ms: 0,
            next_container: 1,
            queue_path,
            preempted: PreemptedReport::default(),
        };
        app.attempts.push(Attempt::new(id.attempt(1), now.wall_ms));
        self.sync_demands();
        self.apps.insert(id, app);
        self.demands_apps += 1;
        self.refresh_demand(id);
        self.dirty.insert(id);
        let mut actions = Vec::new();
        self.schedule(now, &mut actions);
        Ok((id, actions))
    }

    fn check_resource(&self, r: &Resource, what: &str) -> Result<(), WireError> {
        let max = self.limits.max_allocation;
        if r.memory_mb == 0 || r.vcores == 0 {
            return Err(err(
                ErrorCode::BadRequest,
                format!("{what} resource {r} must have memory and vcores above 0"),
            ));
        }
        if !max.fits(r) {
            return Err(err(
                ErrorCode::AskExceedsMaximum,
                format!(
                    "{what} ask {r} exceeds the maximum allocation {max} (max-allocation-mb={}, max-allocation-vcores={})",
                    max.memory_mb, max.vcores
                ),
            ));
        }
        Ok(())
    }

    /// Kills `app_id` for `user`, who needs the right to modify it ([`Self::check_modify`]).
    pub fn kill(
        &mut self,
        app_id: ApplicationId,
        user: &str,
        now: Now,
    ) -> Result<Vec<Action>, WireError> {
        self.check_modify(app_id, user, "kill")?;
        let app = self
            .apps
            .get_mut(&app_id)
            .ok_or_else(|| unknown_app(app_id))?;
        let mut actions = Vec::new();
        if app.state.is_terminal() {
            return Ok(actions);
        }
        tracing::info!(app_id = %app_id, user, "application killed by user");
        if let Some(a) = app.current() {
            actions.push(Action::PushAm {
                attempt: a.id,
                event: AmEvent::Shutdown {
                    reason: "application killed by user".into(),
                },
            });
        }
        self.end_app(
            app_id,
            AppState::KILLED,
            FinalApplicationStatus::KILLED,
            "Application killed by user.".into(),
            now,
            &mut actions,
        );
        Ok(actions)
    }

    fn end_app(
        &mut self,
        app_id: ApplicationId,
        state: AppState,
        final_status: FinalApplicationStatus,
        diagnostics: String,
        now: Now,
        actions: &mut Vec<Action>,
    ) {
        let Some(app) = self.apps.get_mut(&app_id) else {
            return;
        };
        self.dirty.insert(app_id);
        app.state = state;
        app.final_status = final_status;
        if !diagnostics.is_empty() {
            app.diagnostics = diagnostics;
        }
        app.finish_wall_ms = now.wall_ms;
        app.asks.clear();
        if state == AppState::FINISHED {
            app.progress = 1.0;
        }
        if let Some(a) = app.current_mut() {
            if a.finish_wall_ms == 0 {
                a.finish_wall_ms = now.wall_ms;
            }
            actions.push(Action::CloseAm { attempt: a.id });
        }
        tracing::info!(app_id = %app_id, state = %state, final_status = %final_status, "application ended");
        // Its containers stop counting now (they are being killed): a finished
        // app's aggregate allocation must not grow with containers that no
        // node reports again.
        let live = std::mem::take(&mut app.containers);
        for l in live.values() {
            let held = now.mono_ms.saturating_sub(l.allocated.mono_ms) as u128;
            app.memory_ms += held * l.resource.memory_mb as u128;
            app.vcore_ms += held * l.resource.vcores as u128;
        }
        for (c, l) in live {
            self.scheduler.released(app_id, l.resource, l.am);
            self.preempting.remove(&c);
            self.release_on(&l.node, &c, &l.resource);
        }
        self.scheduler.remove(app_id);
        self.refresh_demand(app_id);
        // Every node cleans the app's containers and directories on its next heartbeat.
        self.finished_log.push(app_id);
        if self.finished_log.len() >= self.finished_trim_at {
            self.trim_finished_log();
        }
        self.completed(app_id);
    }

    /// Drops the finished apps every live node has been told of.
    fn trim_finished_log(&mut self) {
        let end = self.finished_base + self.finished_log.len();
        let seen = self
            .nodes
            .values()
            .filter(|n| Self::live(n.state))
            .map(|n| n.finished_seen)
            .min()
            .unwrap_or(end);
        let drop = seen.saturating_sub(self.finished_base);
        self.finished_log.drain(..drop.min(self.finished_log.len()));
        self.finished_base += drop;
        self.finished_trim_at = FINISHED_TRIM_MIN.max(2 * self.finished_log.len());
    }

    pub fn report(&self, app_id: ApplicationId, now: Now) -> Result<ApplicationReport, WireError> {
        let app = self.apps.get(&app_id).ok_or_else(|| unknown_app(app_id))?;
        Ok(self.make_report(app_id, app, now))
    }

    pub fn list(&self, states: &[AppState], now: Now) -> Vec<ApplicationReport> {
        self.apps
            .iter()
            .filter(|(_, a)| states.is_empty() || states.contains(&a.state))
            .map(|(id, a)| self.make_report(*id, a, now))
            .collect()
    }

    fn make_report(&self, id: ApplicationId, app: &App, now: Now) -> ApplicationReport {
        let mut memory_ms = app.memory_ms;
        let mut vcore_ms = app.vcore_ms;
        let mut allocated = Resource::ZERO;
        for c in app.containers.values() {
            let held = now.mono_ms.saturating_sub(c.allocated.mono_ms) as u128;
            memory_ms += held * c.resource.memory_mb as u128;
            vcore_ms += held * c.resource.vcores as u128;
            allocated = allocated.add(&c.resource);
        }
        let cur = app.current();
        ApplicationReport {
            id,
            current_attempt: cur.map(|a| a.id),
            name: app.submission.name.clone(),
            user: app.submission.user.clone(),
            queue: match app.queue_path.rsplit('.').next() {
                Some(leaf) if !leaf.is_empty() => leaf.to_string(),
                _ => app.submission.queue.clone(),
            },
            queue_path: app.queue_path.clone(),
            preempted: app.preempted,
            app_type: app.submission.app_type.clone(),
            state: app.state,
            final_status: app.final_status,
            diagnostics: self.diagnostics(id, app),
            tracking_url: app.tracking_url.clone(),
            am_host: app.am_host.clone(),
            start_time: app.start_wall_ms,
            finish_time: app.finish_wall_ms,
            progress: app.progress,
            memory_seconds: (memory_ms / 1000) as u64,
            vcore_seconds: (vcore_ms / 1000) as u64,
            allocated,
            running_containers: app.containers.len() as u32,
            attempts: app
                .attempts
                .iter()
                .map(|a| AttemptReport {
                    id: a.id,
                    container: a.am_container,
                    node: a.am_node.clone(),
                    start_time: a.start_wall_ms,
                    finish_time: a.finish_wall_ms,
                    diagnostics: a.diagnostics.clone(),
                })
                .collect(),
        }
    }

    // ---------------------------------------------------------------- application masters

    fn live_attempt(&mut self, attempt: AppAttemptId, token: &str) -> Result<&mut App, WireError> {
        if let Err(e) = self.amrm_keys.verify(attempt, token) {
            return Err(err(ErrorCode::Unauthorized, e.to_string()));
        }
        let app = self
            .apps
            .get_mut(&attempt.app)
            .ok_or_else(|| unknown_app(attempt.app))?;
        if app.current().map(|a| a.id) != Some(attempt) {
            return Err(err(
                ErrorCode::UnknownAttempt,
                format!("{attempt} is not the current attempt of {}", attempt.app),
            ));
        }
        if app.state.is_terminal() {
            return Err(err(
                ErrorCode::InvalidState,
                format!("{} is already {}", attempt.app, app.state),
            ));
        }
        Ok(app)
    }

    pub fn register_am(
        &mut self,
        attempt: AppAttemptId,
        token: &str,
        host: String,
        tracking_url: String,
    ) -> Result<Resource, WireError> {
        let max = self.limits.max_allocation;
        let app = self.live_attempt(attempt, token)?;
        app.state = AppState::RUNNING;
        app.am_host = host;
        app.tracking_url = tracking_url;
        if let Some(a) = app.current_mut() {
            a.registered = true;
        }
        self.dirty.insert(attempt.app);
        self.refresh_demand(attempt.app);
        tracing::info!(app_attempt_id = %attempt, "application master registered");
        Ok(max)
    }

    /// Checks the token for a push-stream subscription.
    pub fn check_am(&mut self, attempt: AppAttemptId, token: &str) -> Result<(), WireError> {
        self.live_attempt(attempt, token).map(|_| ())
    }

    pub fn allocate(
        &mut self,
        attempt: AppAttemptId,
        token: &str,
        asks: Vec<ResourceAsk>,
        releases: Vec<ContainerId>,
        progress: f32,
        now: Now,
    ) -> Result<Vec<Action>, WireError> {
        for ask in &asks {
            self.check_resource(&ask.resource, &format!("container ask {:?}", ask.key))?;
        }
        let app = self.live_attempt(attempt, token)?;
        app.progress = progress.clamp(0.0, 1.0);
        for ask in asks {
            if ask.count == 0 {
                app.asks.remove(&ask.key);
            } else {
                app.asks.insert(ask.key.clone(), ask);
            }
        }
        let mut to_release = Vec::new();
        for c in releases {
            if c.app() != attempt.app {
                return Err(err(
                    ErrorCode::UnknownContainer,
                    format!("{c} does not belong to {}", attempt.app),
                ));
            }
            if let Some(live) = app.containers.get(&c) {
                to_release.push((c, live.node.clone()));
            }
        }
        let mut actions = Vec::new();
        for (c, node) in to_release {
            if let Some(n) = self.nodes.get_mut(&node) {
                n.to_kill.push((c, exit_status::ABORTED));
            }
            // As YARN does: a released container stops counting and frees its
            // node at once, whether or not it was ever started there.
            self.complete_container(
                c,
                exit_status::ABORTED,
                "Container released by the application".into(),
                now,
                &mut actions,
            );
        }
        self.refresh_demand(attempt.app);
        self.schedule(now, &mut actions);
        Ok(actions)
    }

    pub fn finish_am(
        &mut self,
        attempt: AppAttemptId,
        token: &str,
        final_status: FinalApplicationStatus,
        diagnostics: String,
        tracking_url: String,
        now: Now,
    ) -> Result<Vec<Action>, WireError> {
        // Repeated (its answer was lost to an RM restart): it stands, and is not an error.
        let done = self.apps.get(&attempt.app).is_some_and(|a| {
            a.state.is_terminal()
                && a.current()
                    .is_some_and(|c| c.id == attempt && c.unregistered)
        });
        if done && self.amrm_keys.verify(attempt, token).is_ok() {
            return Ok(vec![]);
        }
        let app = self.live_attempt(attempt, token)?;
        if !tracking_url.is_empty() {
            app.tracking_url = tracking_url;
        }
        if let Some(a) = app.current_mut() {
            a.unregistered = true;
        }
        let mut actions = Vec::new();
        let final_status = if final_status == FinalApplicationStatus::UNDEFINED {
            FinalApplicationStatus::SUCCEEDED
        } else {
            final_status
        };
        self.end_app(
            attempt.app,
            AppState::FINISHED,
            final_status,
            diagnostics,
            now,
            &mut actions,
        );
        Ok(actions)
    }

    // ---------------------------------------------------------------- containers

    /// Ends `containers` (their node is gone) as ABORTED, saying `why`.
    fn abort_containers(
        &mut self,
        containers: impl IntoIterator<Item = ContainerId>,
        why: &str,
        now: Now,
        actions: &mut Vec<Action>,
    ) {
        for c in containers {
            self.complete_container(c, exit_status::ABORTED, why.to_string(), now, actions);
        }
    }

    fn complete_container(
        &mut self,
        c: ContainerId,
        exit: i32,
        diagnostics: String,
        now: Now,
        actions: &mut Vec<Action>,
    ) {
        let app_id = c.app();
        let Some(app) = self.apps.get_mut(&app_id) else {
            return;
        };
        let Some(live) = app.containers.remove(&c) else {
            return;
        };
        self.dirty.insert(app_id);
        let held = now.mono_ms.saturating_sub(live.allocated.mono_ms) as u128;
        app.memory_ms += held * live.resource.memory_mb as u128;
        app.vcore_ms += held * live.resource.vcores as u128;
        self.scheduler.released(app_id, live.resource, live.am);
        self.preempting.remove(&c);
        if exit == exit_status::PREEMPTED {
            app.preempted.memory_mb += live.resource.memory_mb;
            app.preempted.vcores += live.resource.vcores as u64;
            if live.am {
                app.preempted.am_containers += 1;
            } else {
                app.preempted.non_am_containers += 1;
            }
        }
        self.release_on(&live.node, &c, &live.resource);
        let app = self.apps.get_mut(&app_id).expect("looked up above");
        let status = ContainerStatus {
            container_id: c,
            state: ContainerState::COMPLETE,
            exit_status: exit,
            diagnostics: diagnostics.clone(),
            resource: live.resource,
        };
        let Some(cur) = app.current() else {
            return;
        };
        let is_am = cur.am_container == Some(c);
        if !is_am {
            if !app.state.is_terminal() && cur.registered {
                actions.push(Action::PushAm {
                    attempt: cur.id,
                    event: AmEvent::Completed(vec![status]),
                });
            }
            return;
        }
        if app.state.is_terminal() || cur.unregistered {
            return;
        }
        self.am_attempt_ended(app_id, (exit, diagnostics), now, actions);
    }

    /// The current attempt's AM is gone without unregistering (its container exited,
    /// was lost, or never came back after an RM restart): a new attempt, or the app
    /// fails when it has had its attempts.
    /// `ended`: the AM container's exit status and diagnostics.
    fn am_attempt_ended(
        &mut self,
        app_id: ApplicationId,
        ended: (i32, String),
        now: Now,
        actions: &mut Vec<Action>,
    ) {
        let (exit, diagnostics) = ended;
        let Some(app) = self.apps.get_mut(&app_id) else {
            return;
        };
        let Some(cur) = app.current() else {
            return;
        };
        // The AM exited without unregistering: this attempt failed.
        let failed = cur.id;
        let diag = format!(
            "AM Container for {failed} exited with exitCode: {exit}. Diagnostics: {diagnostics}"
        );
        tracing::warn!(app_attempt_id = %failed, exit_status = exit, "AM attempt failed");
        self.tallies.am_attempts_failed += 1;
        if let Some(a) = app.current_mut() {
            a.finish_wall_ms = now.wall_ms;
            a.diagnostics = diag.clone();
            a.preempted = exit == exit_status::PREEMPTED;
        }
        let attempts = app
            .attempts
            .iter()
            .filter(|a| !a.ended_by_restart && !a.preempted)
            .count() as u32;
        let next_no = app.attempts.len() as u32 + 1;
        actions.push(Action::CloseAm { attempt: failed });
        // The attempt's other containers go with it.
        let others: Vec<(ContainerId, NodeId)> = app
            .containers
            .iter()
            .map(|(id, l)| (*id, l.node.clone()))
            .collect();
        app.asks.clear();
        if attempts < app.max_attempts {
            let next = app_id.attempt(next_no);
            app.state = AppState::ACCEPTED;
            app.tracking_url.clear();
            app.attempts.push(Attempt::new(next, now.wall_ms));
            for (id, node) in others {
                if let Some(n) = self.nodes.get_mut(&node) {
                    n.to_kill.push((id, exit_status::KILLED_BY_RESOURCEMANAGER));
                }
            }
            self.refresh_demand(app_id);
            self.schedule(now, actions);
        } else {
            let max = app.max_attempts;
            self.end_app(
                app_id,
                AppState::FAILED,
                FinalApplicationStatus::FAILED,
                format!("Application {app_id} failed {max} times due to {diag}. Failing the application."),
                now,
                actions,
            );
        }
    }

    /// The AM container could not be started: count it as a failed attempt.
    pub fn am_launch_failed(&mut self, c: ContainerId, reason: String, now: Now) -> Vec<Action> {
        let mut actions = Vec::new();
        self.complete_container(c, exit_status::INVALID, reason, now, &mut actions);
        actions
    }
}

/// A container an application holds, for the web UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveContainerView {
    pub id: ContainerId,
    pub node: NodeId,
    pub resource: Resource,
    /// When it was allocated (wall clock, for people to read).
    pub start_ms: u64,
    /// An attempt's AM container (the others are the app's workers: executors).
    pub am: bool,
}

impl LiveContainerView {
    fn of(id: ContainerId, c: &LiveContainer) -> Self {
        Self {
            id,
            node: c.node.clone(),
            resource: c.resource,
            start_ms: c.allocated.wall_ms,
            am: c.am,
        }
    }
}

impl RmState {
    /// Containers `app` holds now (its AM's included), oldest first.
    pub fn live_containers(&self, app: ApplicationId) -> Vec<LiveContainerView> {
        self.apps.get(&app).map_or_else(Vec::new, |a| {
            a.containers
                .iter()
                .map(|(id, c)| LiveContainerView::of(*id, c))
                .collect()
        })
    }

    /// Containers on `node` now, with their app's user (YARN's NM page lists them).
    pub fn node_containers(&self, node: &NodeId) -> Vec<(LiveContainerView, String)> {
        let Some(n) = self.nodes.get(node) else {
            return Vec::new();
        };
        n.containers
            .iter()
            .filter_map(|id| {
                let app = self.apps.get(&id.app())?;
                let c = app.containers.get(id)?;
                Some((LiveContainerView::of(*id, c), app.submission.user.clone()))
            })
            .collect()
    }

    /// Per unfinished application with outstanding asks: how many containers
    /// it asks for and has not got.
    pub fn pending_asks(&self) -> Vec<(ApplicationId, u32)> {
        self.apps
            .iter()
            .filter(|(_, a)| !a.state.is_terminal())
            .map(|(id, a)| (*id, a.asks.values().map(|k| k.count).sum::<u32>()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Per unfinished application: how long it has been running, in
    /// milliseconds on the monotonic clock (a wall-clock step does not move
    /// it). A finished application's elapsed time is its finish minus start.
    pub fn elapsed(&self, now: Now) -> BTreeMap<ApplicationId, u64> {
        self.apps
            .iter()
            .filter(|(_, a)| !a.state.is_terminal())
            .map(|(id, a)| (*id, a.age.at(now)))
            .collect()
    }
}

/// Every ACL entry is `*` or a usable user (or group) name.
fn check_acls(acls: &AppAcls) -> Result<(), WireError> {
    for (what, list) in [
        ("view ACL users", &acls.view_users),
        ("view ACL groups", &acls.view_groups),
        ("modify ACL users", &acls.modify_users),
        ("modify ACL groups", &acls.modify_groups),
    ] {
        for name in list.iter().filter(|n| *n != "*") {
            check_user_name(name).map_err(|e| {
                err(
                    ErrorCode::BadRequest,
                    format!("the application's {what}: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

fn unknown_app(app: ApplicationId) -> WireError {
    err(
        ErrorCode::UnknownApplication,
        format!("unknown application {app}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, rm_state, submission as sub};

    fn rm() -> RmState {
        rm_state(1000)
    }

    /// Submits `sub()` at `now` and registers its first attempt's AM: (the app, the attempt,
    /// the AM's container, its AM-RM token).
    /// An RM with one node of `mb` MB and an app submitted at 1 ms whose AM is placed:
    /// (the RM, the app, its AM container, its AMRM token).
    fn placed(mb: u64) -> (RmState, ApplicationId, Container, String) {
        let mut rm = rm();
        add_node(&mut rm, "a:1", mb, 0);
        let (app, actions) = rm.submit(sub(), at(1)).unwrap();
        let (am, token) = launched(&actions).expect("AM launched");
        (rm, app, am, token)
    }

    fn registered(rm: &mut RmState, now: Now) -> (ApplicationId, AppAttemptId, Container, String) {
        let (app, actions) = rm.submit(sub(), now).unwrap();
        let (am, token) = launched(&actions).expect("AM launched");
        let attempt = app.attempt(1);
        rm.register_am(attempt, &token, "h".into(), String::new())
            .unwrap();
        (app, attempt, am, token)
    }

    /// An ask for `count` containers of `mb` MB and 1 vcore, anywhere.
    fn ask(count: u32, mb: u64) -> ResourceAsk {
        ResourceAsk {
            key: "e".into(),
            count,
            resource: Resource::new(mb, 1),
            nodes: vec![],
            relax_locality: true,
        }
    }

    /// `attempt` unregisters as SUCCEEDED with `diagnostics` at `now`.
    fn succeed(rm: &mut RmState, attempt: AppAttemptId, token: &str, diagnostics: &str, now: Now) {
        rm.finish_am(
            attempt,
            token,
            FinalApplicationStatus::SUCCEEDED,
            diagnostics.into(),
            String::new(),
            now,
        )
        .unwrap();
    }

    fn add_node(rm: &mut RmState, name: &str, mb: u64, now: u64) -> Vec<Action> {
        add_node_at(rm, name, mb, at(now))
    }

    fn add_node_at(rm: &mut RmState, name: &str, mb: u64, now: Now) -> Vec<Action> {
        rm.register_node(
            NodeId(name.into()),
            name.into(),
            String::new(),
            Resource::new(mb, 8),
            &[],
            now,
        )
    }

    /// `rm1`'s next process, started at `now` (its monotonic clock anew): the store's
    /// keys and apps taken back.
    fn restarted(rm1: &RmState, now: Now) -> RmState {
        let mut rm2 = RmState::new(rm1.cluster_ts(), rm1.limits().clone(), now);
        rm2.set_scheduler(crate::testing::open_scheduler()).unwrap();
        rm2.restore_keys(&rm1.export_keys(now), now).unwrap();
        rm2.recover(rm1.next_seq(), rm1.export_apps(), now);
        rm2
    }

    /// The node of AM container `am` reports it exited with 1: what the core does.
    fn am_exits(rm: &mut RmState, am: &Container, now: Now) -> Vec<Action> {
        let exited = [completed(am.id, 1)];
        rm.node_heartbeat(&am.node_id, &exited, now)
            .unwrap()
            .actions
    }

    /// What a node reports of a container it runs.
    fn running(c: &Container) -> ContainerStatus {
        ContainerStatus {
            container_id: c.id,
            state: ContainerState::RUNNING,
            exit_status: exit_status::INVALID,
            diagnostics: String::new(),
            resource: c.resource,
        }
    }

    fn launched(actions: &[Action]) -> Option<(Container, String)> {
        actions.iter().find_map(|a| match a {
            Action::LaunchAm {
                container,
                amrm_token,
                ..
            } => Some(((**container).clone(), amrm_token.clone())),
            _ => None,
        })
    }

    fn allocated(actions: &[Action]) -> Vec<Container> {
        actions
            .iter()
            .flat_map(|a| match a {
                Action::PushAm {
                    event: AmEvent::Allocated(c),
                    ..
                } => c.clone(),
                _ => vec![],
            })
            .collect()
    }

    fn completed(c: ContainerId, exit: i32) -> ContainerStatus {
        ContainerStatus {
            container_id: c,
            state: ContainerState::COMPLETE,
            exit_status: exit,
            diagnostics: String::new(),
            resource: Resource::ZERO,
        }
    }

    #[test]
    fn ask_above_maximum_names_the_limit() {
        let mut rm = rm();
        let mut s = sub();
        s.am_resource = Resource::new(8192, 1);
        let e = rm.submit(s, at(0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::AskExceedsMaximum);
        assert!(e.message.contains("4096"), "{}", e.message);
    }

    #[test]
    fn am_then_asks_are_placed_and_nodes_never_overfill() {
        let mut rm = rm();
        add_node(&mut rm, "a:1", 2048, 0);
        add_node(&mut rm, "b:1", 2048, 0);
        let (app, attempt, am, token) = registered(&mut rm, at(1));
        assert_eq!(am.id, app.attempt(1).container(1));
        let actions = rm
            .allocate(attempt, &token, vec![ask(10, 1024)], vec![], 0.0, at(2))
            .unwrap();
        let got = allocated(&actions);
        // 4096 MB total, 512 for the AM: three 1 GB containers fit.
        assert_eq!(got.len(), 3);
        for n in rm.node_reports() {
            assert!(n.capability.fits(&n.used), "{n:?}");
        }
        // Freeing one lets the outstanding ask proceed at once.
        let actions = rm
            .node_heartbeat(&got[0].node_id, &[completed(got[0].id, 0)], at(3))
            .unwrap()
            .actions;
        let again = allocated(&actions);
        assert_eq!(again.len(), 1);
        assert!(again.iter().all(|c| !got.iter().any(|g| g.id == c.id)));
    }

    #[test]
    fn bad_amrm_token_is_refused() {
        let mut rm = rm();
        add_node(&mut rm, "a:1", 2048, 0);
        let (app, _) = rm.submit(sub(), at(1)).unwrap();
        let e = rm
            .register_am(app.attempt(1), "00", "h".into(), String::new())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
    }

    /// An RM whose keys roll every second; the next container-token key is made
    /// half a second ahead (1.5 times the 5 s node expiry, at most half a period).
    fn rolling_rm() -> RmState {
        let limits = Limits {
            key_roll_ms: 1000,
            ..rm().limits().clone()
        };
        assert_eq!(limits.key_activation_ms(), 500);
        RmState::new(1000, limits, at(0))
    }

    fn node_registered(rm: &RmState) -> common::protocol::RmResponse {
        common::protocol::RmResponse::NodeRegistered {
            cluster_ts: rm.cluster_ts(),
            heartbeat_interval_ms: 1000,
            token_keys: rm.node_keys(),
            registered_ms: 0,
        }
    }

    /// Whether `reply`, encoded as it goes on the wire, carries (a container-token key, an
    /// AMRM key).
    fn carries_keys(rm: &RmState, reply: &common::protocol::RmResponse) -> (bool, bool) {
        let wire = common::codec::encode(reply).unwrap();
        (
            rm.container_keys.appear_in(&wire),
            rm.amrm_keys.appear_in(&wire),
        )
    }

    #[test]
    fn node_replies_carry_the_container_keys_and_never_an_amrm_key() {
        let mut rm = rolling_rm();
        add_node(&mut rm, "a:1", 4096, 0);
        let (_, attempt, _, _) = registered(&mut rm, at(1));
        assert_eq!(carries_keys(&rm, &node_registered(&rm)), (true, false));
        let held = rm.node_keys().version();
        assert!(rm.node_keys_update(held).is_none());
        for t in [500, 1000, 1500, 2000, 2500, 3000] {
            rm.roll_keys(at(t));
            let reply =
                common::protocol::RmResponse::Heartbeat(common::protocol::NodeHeartbeatResponse {
                    token_keys: rm.node_keys_update(held),
                    ..Default::default()
                });
            assert_eq!(carries_keys(&rm, &reply), (true, false), "at {t}");
            assert_eq!(carries_keys(&rm, &node_registered(&rm)), (true, false));
        }
        // The AM's own token is signed with an AMRM key, which no node gets.
        rm.register_am(
            attempt,
            &rm.amrm_keys.token(attempt),
            "h".into(),
            String::new(),
        )
        .unwrap();
    }

    #[test]
    fn keys_roll_on_the_monotonic_clock_and_the_am_gets_a_new_amrm_token() {
        let mut rm = rolling_rm();
        add_node(&mut rm, "a:1", 4096, 0);
        let (_, attempt, am, token1) = registered(&mut rm, at(1));
        assert_eq!(am.token.key_id, KeyId(1));
        assert!(token1.starts_with("1."), "{token1}");
        assert_eq!(rm.signing_keys(), (KeyId(1), KeyId(1)));
        assert_eq!(rm.next_key_roll_ms(), 500);
        let held = rm.node_keys().version();
        // 500: the next container-token key goes to the nodes; nothing signs with it yet.
        assert!(rm.roll_keys(at(499)).is_empty());
        assert!(rm.node_keys_update(held).is_none());
        assert!(rm.roll_keys(at(500)).is_empty());
        let keys = rm.node_keys_update(held).expect("new keys for the nodes");
        assert_eq!(keys.ids(), [KeyId(1), KeyId(2)]);
        assert_eq!(rm.signing_keys(), (KeyId(1), KeyId(1)));
        // 1000: both roll; the AM gets a token of the new AMRM key on its stream.
        let actions = rm.roll_keys(at(1000));
        let token2 = match actions.as_slice() {
            [Action::PushAm {
                attempt: a,
                event: AmEvent::AmrmToken { token },
            }] if *a == attempt => token.clone(),
            other => panic!("expected one new AMRM token, got {other:?}"),
        };
        assert!(token2.starts_with("2."), "{token2}");
        assert_eq!(rm.signing_keys(), (KeyId(2), KeyId(2)));
        // The old token is still good for a period; new containers carry key 2.
        let got = allocated(
            &rm.allocate(attempt, &token1, vec![ask(1, 512)], vec![], 0.0, at(1001))
                .unwrap(),
        );
        assert_eq!(got[0].token.key_id, KeyId(2));
        rm.allocate(attempt, &token2, vec![], vec![], 0.0, at(1002))
            .unwrap();
        // 2000: the first keys go.
        rm.roll_keys(at(1500));
        assert_eq!(rm.node_keys().ids(), [KeyId(1), KeyId(2), KeyId(3)]);
        rm.roll_keys(at(2000));
        assert_eq!(rm.node_keys().ids(), [KeyId(2), KeyId(3)]);
        let e = rm
            .allocate(attempt, &token1, vec![], vec![], 0.0, at(2001))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("key 1"), "{}", e.message);
        rm.allocate(attempt, &token2, vec![], vec![], 0.0, at(2002))
            .unwrap();
        // A wall-clock step rolls nothing.
        let stepped = Now {
            mono_ms: 2100,
            wall_ms: 10 * 86_400_000,
        };
        assert!(rm.roll_keys(stepped).is_empty());
        assert_eq!(rm.signing_keys(), (KeyId(3), KeyId(3)));
    }

    /// (the secret in an `LaunchAm`'s container token, the one for the AM's launch) of
    /// `app`'s AM launch among `actions`.
    fn launch_secrets(actions: &[Action], app: ApplicationId) -> (AppSecret, AppSecret) {
        actions
            .iter()
            .find_map(|a| match a {
                Action::LaunchAm {
                    container,
                    app_secret,
                    ..
                } if container.id.app() == app => Some((
                    container.token.identifier.app_secret.clone(),
                    app_secret.clone(),
                )),
                _ => None,
            })
            .expect("AM launched")
    }

    #[test]
    fn each_app_has_its_own_secret_in_its_tokens_and_keeps_it_across_a_restart() {
        let mut rm1 = rm();
        add_node(&mut rm1, "a:1", 8192, 0);
        let (a, actions) = rm1.submit(sub(), at(1)).unwrap();
        let (secret, for_am) = launch_secrets(&actions, a);
        assert_eq!(secret, for_am);
        assert_eq!(secret.as_str().len(), 64);
        let (b, actions) = rm1.submit(sub(), at(2)).unwrap();
        assert_ne!(launch_secrets(&actions, b).0, secret);
        // Every container token of the app carries it; no report shows it.
        let (_, token) = launched(&actions).unwrap();
        rm1.register_am(b.attempt(1), &token, "h".into(), String::new())
            .unwrap();
        let got = allocated(
            &rm1.allocate(b.attempt(1), &token, vec![ask(2, 512)], vec![], 0.0, at(3))
                .unwrap(),
        );
        assert_eq!(got.len(), 2);
        let b_secret = launch_secrets(&actions, b).0;
        assert!(got
            .iter()
            .all(|c| c.token.identifier.app_secret == b_secret));
        for app in [a, b] {
            let report = serde_json::to_string(&rm1.report(app, at(3)).unwrap()).unwrap();
            assert!(!report.contains(secret.as_str()) && !report.contains(b_secret.as_str()));
        }
        // After a restart whose node never came back, the new attempt's tokens carry
        // the same secret.
        let mut rm2 = restarted(&rm1, at(100));
        rm2.expire_nodes(at(5100));
        let actions = add_node(&mut rm2, "a:1", 8192, 5100);
        assert_eq!(launch_secrets(&actions, a), (secret.clone(), secret));
        // A record kept before secrets were gets one, and is written again.
        let mut old = rm1.export_apps();
        for r in &mut old {
            r.secret = AppSecret::default();
        }
        let mut rm3 = RmState::new(rm1.cluster_ts(), rm1.limits().clone(), at(0));
        rm3.set_scheduler(crate::testing::open_scheduler()).unwrap();
        rm3.recover(rm1.next_seq(), old, at(100));
        let written = rm3.take_dirty();
        assert_eq!(written.len(), 2);
        assert!(written.iter().all(|r| r.secret.as_str().len() == 64));
    }

    #[test]
    fn am_exit_gets_second_attempt_then_fails() {
        let (mut rm, app, am1, _) = placed(2048);
        let actions = am_exits(&mut rm, &am1, at(2));
        let (am2, _) = launched(&actions).expect("second attempt launched");
        assert_eq!(am2.id.attempt, app.attempt(2));
        assert_eq!(rm.report(app, at(2)).unwrap().state, AppState::ACCEPTED);
        let actions = am_exits(&mut rm, &am2, at(3));
        assert!(launched(&actions).is_none());
        let r = rm.report(app, at(3)).unwrap();
        assert_eq!(r.state, AppState::FAILED);
        assert_eq!(r.final_status, FinalApplicationStatus::FAILED);
        assert!(
            r.diagnostics.contains("failed 2 times"),
            "{}",
            r.diagnostics
        );
        assert_eq!(r.attempts.len(), 2);
    }

    /// Two 1024 MB nodes: an app's AM on one, one worker on the other (at 2 ms).
    fn worker_beside_am() -> (RmState, ApplicationId, Container, Vec<Container>) {
        let mut rm = rm();
        add_node(&mut rm, "a:1", 1024, 0);
        add_node(&mut rm, "b:1", 1024, 0);
        let (app, attempt, am, token) = registered(&mut rm, at(1));
        let got = allocated(
            &rm.allocate(attempt, &token, vec![ask(1, 1024)], vec![], 0.0, at(2))
                .unwrap(),
        );
        (rm, app, am, got)
    }

    #[test]
    fn lost_node_reports_containers_to_the_am() {
        let (mut rm, _, am, got) = worker_beside_am();
        assert_eq!(got.len(), 1);
        assert_ne!(got[0].node_id, am.node_id);
        // Only the AM's node keeps heartbeating.
        rm.node_heartbeat(&am.node_id, &[], at(5000)).unwrap();
        assert_eq!(rm.cluster_resource(), Resource::new(2048, 16));
        let actions = rm.expire_nodes(at(6001));
        // A LOST node's capacity leaves the cluster total.
        assert_eq!(rm.cluster_resource(), Resource::new(1024, 8));
        let lost_status = actions.iter().any(|a| {
            matches!(a,
            Action::PushAm { event: AmEvent::Completed(s), .. }
            if s[0].container_id == got[0].id && s[0].exit_status == exit_status::ABORTED)
        });
        assert!(lost_status, "{actions:?}");
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::PushAm {
                event: AmEvent::NodesLost(_),
                ..
            }
        )));
        let lost = rm
            .node_reports()
            .into_iter()
            .find(|n| n.node_id == got[0].node_id)
            .unwrap();
        assert_eq!(lost.state, NodeState::LOST);
        assert!(rm.node_heartbeat(&got[0].node_id, &[], at(6002)).is_none());
    }

    /// Work-preserving recovery: a finished app comes back as it was; a running one
    /// keeps its attempt, its AMRM token still verifies, its containers come back with
    /// the node that runs them, and a completion the node kept while the RM was down
    /// reaches the AM once.
    #[test]
    fn recovery_keeps_finished_apps_and_running_attempts_with_their_containers() {
        let (mut rm1, done, _, token) = placed(8192);
        rm1.register_am(done.attempt(1), &token, "h".into(), "http://t".into())
            .unwrap();
        succeed(&mut rm1, done.attempt(1), &token, "ok", at(5));
        // Its AM exits after unregistering.
        let am1 = done.attempt(1).container(1);
        rm1.node_heartbeat(&NodeId("a:1".into()), &[completed(am1, 0)], at(6))
            .unwrap();
        let (app, attempt, am, token) = registered(&mut rm1, at(6));
        let got = allocated(
            &rm1.allocate(attempt, &token, vec![ask(2, 1000)], vec![], 0.5, at(7))
                .unwrap(),
        );
        assert_eq!(got.len(), 2);
        // Every change so far is dirty; the store would have written these.
        assert_eq!(rm1.take_dirty().len(), 2);
        assert!(rm1.take_dirty().is_empty());

        let mut rm2 = restarted(&rm1, at(100));
        assert_eq!(
            rm2.report(done, at(100)).unwrap(),
            rm1.report(done, at(100)).unwrap()
        );
        // Its AM, whose unregistration's answer the restart cut off, sends it again.
        let token1 = rm1.amrm_keys.token(done.attempt(1));
        let again = rm2.finish_am(
            done.attempt(1),
            &token1,
            FinalApplicationStatus::SUCCEEDED,
            String::new(),
            String::new(),
            at(100),
        );
        assert_eq!(again, Ok(vec![]));
        let r = rm2.report(app, at(100)).unwrap();
        assert_eq!(r.state, AppState::RUNNING);
        assert_eq!(r.attempts.len(), 1);
        // The AM goes on with the token it holds.
        rm2.allocate(attempt, &token, vec![], vec![], 0.5, at(101))
            .unwrap();
        // Its node comes back with the AM and one executor; the other ended meanwhile.
        let mut gone = completed(got[1].id, 0);
        gone.resource = got[1].resource;
        let actions = rm2.register_node(
            NodeId("a:1".into()),
            "a:1".into(),
            String::new(),
            Resource::new(8192, 8),
            &[running(&am), running(&got[0]), gone],
            at(102),
        );
        assert_eq!(live(&rm2, app), [am.id, got[0].id]);
        let node = &rm2.node_reports()[0];
        assert_eq!(node.used, Resource::new(512 + 1000, 2));
        let told: Vec<&ContainerStatus> = actions
            .iter()
            .flat_map(|a| match a {
                Action::PushAm {
                    event: AmEvent::Completed(s),
                    ..
                } => s.iter().collect(),
                _ => vec![],
            })
            .collect();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].container_id, got[1].id);
        // Nothing it reported is killed, and new containers take new ids.
        let hb = rm2
            .node_heartbeat(&NodeId("a:1".into()), &[], at(103))
            .unwrap();
        assert!(hb.kill.is_empty(), "{:?}", hb.kill);
        let more = allocated(
            &rm2.allocate(attempt, &token, vec![ask(1, 1000)], vec![], 0.5, at(104))
                .unwrap(),
        );
        assert!(more[0].id.n > got[1].id.n, "{:?}", more[0].id);
        // The recovery window ends without a new attempt.
        assert!(launched(&rm2.expire_nodes(at(5101))).is_none());
        assert_eq!(rm2.report(app, at(5101)).unwrap().attempts.len(), 1);
        // New ids continue the sequence with the original cluster timestamp.
        let (next, _) = rm2.submit(sub(), at(5102)).unwrap();
        assert_eq!(next.cluster_ts, done.cluster_ts);
        assert_eq!(next.seq, 3);
    }

    /// An attempt whose AM container no node reports within the node expiry after the
    /// restart gets a new attempt, not counted towards the limit: attempt 2 failing
    /// still leaves attempt 3.
    #[test]
    fn an_am_no_node_reports_after_a_restart_is_replaced_without_counting() {
        let (rm1, app, _, _) = placed(4096);
        let mut rm2 = restarted(&rm1, at(100));
        assert_eq!(rm2.report(app, at(100)).unwrap().attempts.len(), 1);
        add_node(&mut rm2, "b:1", 4096, 200);
        rm2.node_heartbeat(&NodeId("b:1".into()), &[], at(5000))
            .unwrap();
        let actions = rm2.expire_nodes(at(5100));
        let (am2, _) = launched(&actions).expect("attempt 2 launched");
        let r = rm2.report(app, at(5100)).unwrap();
        assert_eq!(r.attempts.len(), 2);
        assert!(
            r.attempts[0].diagnostics.contains(RESTART_DIAGNOSTICS),
            "{}",
            r.attempts[0].diagnostics
        );
        let actions = am_exits(&mut rm2, &am2, at(5103));
        let (am3, _) = launched(&actions).expect("attempt 3 launched");
        assert_eq!(am3.id.attempt, app.attempt(3));
    }

    /// A node that was away re-registers holding the directories of an app that ended
    /// meanwhile, of one still running and of one this RM never knew: it is told to
    /// clean the first and the last.
    #[test]
    fn a_registering_node_cleans_apps_that_ended_while_it_was_away() {
        let (mut rm, ended, _, _) = placed(8192);
        rm.kill(ended, "u", at(2)).unwrap();
        let (live, _) = rm.submit(sub(), at(3)).unwrap();
        let stranger = ApplicationId::new(7, 7);
        add_node(&mut rm, "b:1", 8192, 4);
        rm.finished_among(&NodeId("b:1".into()), &[ended, live, stranger]);
        let hb = rm
            .node_heartbeat(&NodeId("b:1".into()), &[], at(5))
            .unwrap();
        assert_eq!(hb.finished_apps, vec![ended, stranger]);
    }

    /// A submission sent again with its submission id gets the app the first made; one
    /// with another id, or another user's, is a new app.
    #[test]
    fn a_repeated_submission_gets_the_same_app() {
        let mut rm = rm();
        let mut s = sub();
        s.am_launch
            .env
            .insert(common::launch::SUBMISSION_ID.into(), "abc".into());
        let (first, _) = rm.submit(s.clone(), at(1)).unwrap();
        let (again, actions) = rm.submit(s.clone(), at(2)).unwrap();
        assert_eq!((again, actions.len()), (first, 0));
        let mut other = s.clone();
        other
            .am_launch
            .env
            .insert(common::launch::SUBMISSION_ID.into(), "abd".into());
        assert_ne!(rm.submit(other, at(3)).unwrap().0, first);
        s.user = "v".into();
        assert_ne!(rm.submit(s, at(4)).unwrap().0, first);
        assert_ne!(
            rm.submit(sub(), at(5)).unwrap().0,
            rm.submit(sub(), at(6)).unwrap().0
        );
    }

    #[test]
    fn kill_ends_app_and_tells_nodes() {
        let mut rm = rm();
        add_node(&mut rm, "a:1", 2048, 0);
        let (app, _) = rm.submit(sub(), at(1)).unwrap();
        rm.kill(app, "u", at(2)).unwrap();
        let r = rm.report(app, at(2)).unwrap();
        assert_eq!(r.state, AppState::KILLED);
        let hb = rm
            .node_heartbeat(&NodeId("a:1".into()), &[], at(3))
            .unwrap();
        assert_eq!(hb.finished_apps, vec![app]);
    }

    #[test]
    fn released_and_leftover_containers_stop_counting() {
        let mut rm = rm();
        add_node(&mut rm, "a:1", 4096, 0);
        let (app, attempt, _, token) = registered(&mut rm, at(0));
        let got = allocated(
            &rm.allocate(attempt, &token, vec![ask(2, 1000)], vec![], 0.0, at(0))
                .unwrap(),
        );
        assert_eq!(got.len(), 2);
        // Released at 1 s without ever starting: counted for 1 s only.
        rm.allocate(attempt, &token, vec![], vec![got[0].id], 0.0, at(1000))
            .unwrap();
        let used: u64 = rm.node_reports().iter().map(|n| n.used.memory_mb).sum();
        assert_eq!(used, 512 + 1000, "the released container's memory is free");
        succeed(&mut rm, attempt, &token, "", at(2000));
        let at_end = rm.report(app, at(2000)).unwrap().memory_seconds;
        // AM 512 MB x 2 s + 1000 MB x 1 s + 1000 MB x 2 s.
        assert_eq!(at_end, 1024 + 1000 + 2000);
        assert_eq!(
            rm.report(app, at(60_000)).unwrap().memory_seconds,
            at_end,
            "a finished app stops counting"
        );
    }

    /// The two clocks apart: `mono` on the monotonic clock, `wall` on the wall clock.
    fn clocks(mono: u64, wall: u64) -> Now {
        Now {
            mono_ms: mono,
            wall_ms: wall,
        }
    }

    const WALL: u64 = 1_700_000_000_000;
    const HOUR: u64 = 3_600_000;

    #[test]
    fn a_wall_clock_step_does_not_expire_nodes() {
        let mut rm = rm(); // nm-expiry 5 s
        add_node_at(&mut rm, "a:1", 2048, clocks(0, WALL));
        add_node_at(&mut rm, "b:1", 2048, clocks(0, WALL));
        let (_, _, am, _) = registered(&mut rm, clocks(0, WALL));
        let other = NodeId(if am.node_id.0 == "a:1" { "b:1" } else { "a:1" }.into());
        for n in [&am.node_id, &other] {
            rm.node_heartbeat(n, &[], clocks(3000, WALL + 3000))
                .unwrap();
        }
        // The wall clock is stepped three hours forward, then an hour back,
        // while 1.5 s pass: no node is lost, and nothing is reported lost.
        for now in [clocks(4000, WALL + 3 * HOUR), clocks(4500, WALL - HOUR)] {
            let actions = rm.expire_nodes(now);
            assert!(actions.is_empty(), "{actions:?}");
            assert!(
                rm.node_reports()
                    .iter()
                    .all(|n| n.state == NodeState::RUNNING),
                "{:?}",
                rm.node_reports()
            );
        }
        rm.node_heartbeat(&am.node_id, &[], clocks(4600, WALL + 3 * HOUR))
            .unwrap();
        // The last health update people read is the wall clock of the heartbeat.
        let reports = rm.node_reports();
        let am_node = reports.iter().find(|n| n.node_id == am.node_id).unwrap();
        assert_eq!(am_node.last_health_update, WALL + 3 * HOUR);
        // Conversely: past nm-expiry on the monotonic clock the silent node is
        // lost, even though the wall clock (stepped back) says little time passed.
        let actions = rm.expire_nodes(clocks(3000 + 5001, WALL + 3000));
        assert!(
            actions.iter().any(|a| matches!(a,
                Action::PushAm { event: AmEvent::NodesLost(lost), .. } if *lost == vec![other.clone()])),
            "{actions:?}"
        );
        for n in rm.node_reports() {
            let expected = if n.node_id == other {
                NodeState::LOST
            } else {
                NodeState::RUNNING
            };
            assert_eq!(n.state, expected, "{n:?}");
        }
    }

    #[test]
    fn accounting_does_not_jump_with_the_wall_clock() {
        let mut rm = rm();
        add_node_at(&mut rm, "a:1", 4096, clocks(0, WALL));
        let (app, attempt, _, token) = registered(&mut rm, clocks(0, WALL));
        assert_eq!(rm.live_containers(app)[0].start_ms, WALL);
        // 10 s pass while the wall clock is stepped a day forward: the AM's
        // 512 MB and 1 vcore count for 10 s, and the app has run for 10 s.
        let fwd = clocks(10_000, WALL + 24 * HOUR);
        let r = rm.report(app, fwd).unwrap();
        assert_eq!((r.memory_seconds, r.vcore_seconds), (512 * 10, 10));
        assert_eq!(
            r.start_time, WALL,
            "the start time people read is wall-clock"
        );
        assert_eq!(rm.elapsed(fwd)[&app], 10_000);
        // A day back: still counting forward.
        let back = clocks(20_000, WALL - 24 * HOUR);
        let r = rm.report(app, back).unwrap();
        assert_eq!((r.memory_seconds, r.vcore_seconds), (512 * 20, 20));
        assert_eq!(rm.elapsed(back)[&app], 20_000);
        // It ends 30 s in: 30 s counted; the finish time is the wall clock then.
        succeed(
            &mut rm,
            attempt,
            &token,
            "",
            clocks(30_000, WALL + 5 * HOUR),
        );
        let later = clocks(40_000, WALL);
        let r = rm.report(app, later).unwrap();
        assert_eq!((r.memory_seconds, r.vcore_seconds), (512 * 30, 30));
        assert_eq!(r.finish_time, WALL + 5 * HOUR);
        assert!(rm.elapsed(later).is_empty(), "only running apps age");
    }

    #[test]
    fn a_recovered_app_keeps_wall_times_and_ages_on_the_monotonic_clock() {
        let mut rm1 = rm();
        add_node_at(&mut rm1, "a:1", 4096, clocks(500, WALL));
        let (app, _) = rm1.submit(sub(), clocks(1000, WALL)).unwrap();
        // The next RM process starts a minute later; its monotonic clock starts again.
        let restart = clocks(7, WALL + 60_000);
        let rm2 = restarted(&rm1, restart);
        let now = clocks(1007, WALL + 60_000 + 3 * HOUR);
        let r = rm2.report(app, now).unwrap();
        assert_eq!(r.start_time, WALL);
        assert_eq!(r.attempts[0].start_time, WALL);
        // A minute before the restart (wall clock, read once), a second after it.
        assert_eq!(rm2.elapsed(now)[&app], 61_000);
    }

    /// The live containers of `app`, by id.
    fn live(rm: &RmState, app: ApplicationId) -> Vec<ContainerId> {
        rm.live_containers(app).iter().map(|c| c.id).collect()
    }

    #[test]
    fn a_node_cannot_complete_or_take_over_another_nodes_container() {
        let (mut rm, app, am, got) = worker_beside_am();
        let (mine, theirs) = (&got[0].node_id, &am.node_id);
        assert_ne!(mine, theirs, "one container on each node");
        // The other node reports the worker complete: refused, and ignored by the core.
        let forged = [completed(got[0].id, 0)];
        let e = rm.check_reported(theirs, &forged).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(
            e.message.contains(&format!("which runs on node {mine}")),
            "{e}"
        );
        let hb = rm.node_heartbeat(theirs, &forged, at(3)).unwrap();
        assert!(hb.actions.is_empty(), "{:?}", hb.actions);
        assert!(live(&rm, app).contains(&got[0].id));
        // Nor does re-registering with it as running move it.
        let running = [ContainerStatus {
            state: ContainerState::RUNNING,
            ..completed(got[0].id, 0)
        }];
        assert!(rm.check_reported(theirs, &running).is_err());
        rm.register_node(
            theirs.clone(),
            theirs.0.clone(),
            String::new(),
            Resource::new(1024, 8),
            &[ContainerStatus {
                state: ContainerState::RUNNING,
                ..completed(am.id, 0)
            }],
            at(4),
        );
        let reports = rm.node_reports();
        let used = |n: &NodeId| reports.iter().find(|r| r.node_id == *n).unwrap().used;
        assert_eq!(used(mine).memory_mb, 1024);
        assert_eq!(used(theirs).memory_mb, 512, "only the AM");
        // Its own node may complete it.
        rm.check_reported(mine, &forged).unwrap();
        rm.node_heartbeat(mine, &forged, at(5)).unwrap();
        assert_eq!(live(&rm, app), vec![am.id]);
    }

    #[test]
    fn only_the_owner_the_modify_acl_or_an_admin_may_kill() {
        let mut rm = rm();
        rm.set_admin_acl(["root".to_string()]);
        add_node(&mut rm, "a:1", 4096, 0);
        let submit = |rm: &mut RmState, acls: AppAcls| {
            let s = AppSubmission {
                user: "alice".into(),
                acls,
                ..sub()
            };
            rm.submit(s, at(1)).unwrap().0
        };
        let app = submit(&mut rm, AppAcls::default());
        let e = rm.kill(app, "bob", at(2)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert_eq!(
            e.message,
            format!("user bob may not kill application {app}: only its owner alice, its modify ACL (spark.modify.acls) and the RM's admin-acl may")
        );
        assert_eq!(rm.report(app, at(2)).unwrap().state, AppState::ACCEPTED);
        rm.kill(app, "alice", at(3)).unwrap();
        assert_eq!(rm.report(app, at(3)).unwrap().state, AppState::KILLED);
        // An admin, and a user of the modify ACL.
        let app = submit(&mut rm, AppAcls::default());
        rm.kill(app, "root", at(4)).unwrap();
        let acl = AppAcls {
            modify_users: vec!["carol".into()],
            ..AppAcls::default()
        };
        let app = submit(&mut rm, acl);
        assert!(rm.kill(app, "bob", at(5)).is_err());
        rm.kill(app, "carol", at(5)).unwrap();
        assert!(matches!(
            rm.kill(ApplicationId::new(1, 99), "alice", at(6)),
            Err(WireError {
                code: ErrorCode::UnknownApplication,
                ..
            })
        ));
    }

    #[test]
    fn a_private_app_is_seen_by_its_owner_its_view_acl_and_admins_only() {
        let mut rm = rm();
        rm.set_admin_acl(["root".to_string()]);
        let open = rm.submit(sub(), at(1)).unwrap().0;
        let private = AppSubmission {
            acls: AppAcls {
                private: true,
                view_users: vec!["carol".into()],
                ..AppAcls::default()
            },
            ..sub()
        };
        let private = rm.submit(private, at(1)).unwrap().0;
        let ids = |user| -> Vec<ApplicationId> {
            rm.list_for(&[], user, at(2)).iter().map(|r| r.id).collect()
        };
        assert_eq!(ids("bob"), vec![open], "ACLs off: every user sees it");
        for user in ["u", "carol", "root"] {
            assert_eq!(ids(user), vec![open, private], "{user}");
            rm.report_for(private, user, at(2)).unwrap();
        }
        let e = rm.report_for(private, "bob", at(2)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("private"), "{e}");
        // Viewing is not modifying; and one who may not view learns nothing more.
        assert!(rm.check_modify(private, "carol", "kill").is_err());
        let e = rm.check_modify(private, "bob", "kill").unwrap_err();
        assert!(e.message.contains("may not view"), "{e}");
    }

    #[test]
    fn unusable_user_and_acl_names_are_refused_at_submission() {
        let mut rm = rm();
        for bad in ["../etc", "a/b", "..", ""] {
            let s = AppSubmission {
                user: bad.into(),
                ..sub()
            };
            let e = rm.submit(s, at(1)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{bad}");
        }
        let s = AppSubmission {
            acls: AppAcls {
                modify_users: vec!["ok".into(), "no/pe".into()],
                ..AppAcls::default()
            },
            ..sub()
        };
        let e = rm.submit(s, at(1)).unwrap_err();
        assert!(e.message.contains("modify ACL users"), "{e}");
        let s = AppSubmission {
            acls: AppAcls {
                view_users: vec!["*".into()],
                ..AppAcls::default()
            },
            ..sub()
        };
        rm.submit(s, at(1)).unwrap();
    }
}
