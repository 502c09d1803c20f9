//! Graceful node decommission (YARN's), and nodes that stop for good.
//!
//! `spindle node decommission NODE` makes a live node DECOMMISSIONING: it gets no new
//! containers and its capacity leaves the cluster's total; the AMs with containers there
//! are told ([`AmEvent::NodesUpdated`], YARN's `updatedNodes`) so that they move their
//! work off it. The node becomes DECOMMISSIONED once it runs no container and every
//! application that ran containers there has ended (their shuffle output may live on the
//! node's shuffle service until then, as YARN's `DecommissioningNodesWatcher` keeps such
//! nodes), or when its timeout passes, whatever still runs there then being killed. A
//! DECOMMISSIONED node's NM is told to shut down and may not register again until the
//! node is recommissioned (the exclude list's part). Recommissioning a DECOMMISSIONING
//! node puts it back in service with its containers.
//!
//! Decommissions outlive an RM restart (YARN keeps them in its exclude file): the state
//! store keeps a [`NodeRecord`] of every DECOMMISSIONING or DECOMMISSIONED node. A
//! restarted RM lists them, still refuses a DECOMMISSIONED node's NM, and goes on with
//! a DECOMMISSIONING one when its NM registers again, within the timeout asked before.
//!
//! An NM that stops for good (recovery off, or after its decommission) unregisters
//! ([`RmState::unregister_node`]): SHUTDOWN, with its message.

use super::{err, Action, App, Node, Now, RmState};
use common::protocol::{exit_status, AmEvent, ErrorCode, NodeState, NodeUpdate, WireError};
use common::{ApplicationId, ContainerId, NodeId, Resource};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A node's [`Node::apps_ran`] drops the applications that ended when it grows past this.
const APPS_RAN_PRUNE: usize = 64;

/// The default decommission timeout (YARN's
/// `yarn.resourcemanager.nodemanager-graceful-decommission-timeout-secs`, 3600).
pub const DEFAULT_DECOMMISSION_TIMEOUT_MS: u64 = 3_600_000;

/// A node being (or that was) decommissioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decommission {
    /// The timeout as asked, ms.
    timeout_ms: u64,
    /// When what still runs there is killed (monotonic ms).
    deadline_ms: u64,
    /// Applications that ran containers there: it waits for them to end.
    apps: BTreeSet<ApplicationId>,
}

/// A DECOMMISSIONING or DECOMMISSIONED node as the state store keeps it (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub node_id: NodeId,
    pub address: String,
    pub http_address: String,
    pub capability: Resource,
    /// DECOMMISSIONING or DECOMMISSIONED.
    pub state: NodeState,
    /// The timeout as asked, ms.
    pub timeout_ms: u64,
    /// When what still runs there is killed (wall clock, ms since the epoch).
    pub deadline_wall_ms: u64,
    /// Applications that ran containers there.
    pub apps: Vec<ApplicationId>,
}

/// The core's decommission bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decommissions {
    /// DECOMMISSIONING nodes (few, so each tick looks at them only).
    nodes: BTreeSet<NodeId>,
    default_timeout_ms: u64,
}

impl Default for Decommissions {
    fn default() -> Self {
        Self {
            nodes: BTreeSet::new(),
            default_timeout_ms: DEFAULT_DECOMMISSION_TIMEOUT_MS,
        }
    }
}

impl RmState {
    /// Records of the nodes whose decommission changed since the last call, and the
    /// nodes whose record goes (recommissioned) — what the state store writes.
    pub fn take_dirty_nodes(
        &mut self,
        now: impl FnOnce() -> Now,
    ) -> (Vec<NodeRecord>, Vec<NodeId>) {
        if self.nodes_dirty.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let now = now();
        let (mut records, mut gone) = (Vec::new(), Vec::new());
        for id in std::mem::take(&mut self.nodes_dirty) {
            match self.node_record(&id, now) {
                Some(r) => records.push(r),
                None => gone.push(id),
            }
        }
        (records, gone)
    }

    /// Every DECOMMISSIONING or DECOMMISSIONED node's record.
    pub fn export_nodes(&self, now: Now) -> Vec<NodeRecord> {
        self.nodes
            .keys()
            .filter_map(|id| self.node_record(id, now))
            .collect()
    }

    fn node_record(&self, id: &NodeId, now: Now) -> Option<NodeRecord> {
        let n = self.nodes.get(id)?;
        let d = n.decommission.as_ref().filter(|_| {
            matches!(
                n.state,
                NodeState::DECOMMISSIONING | NodeState::DECOMMISSIONED
            )
        })?;
        Some(NodeRecord {
            node_id: id.clone(),
            address: n.address.clone(),
            http_address: n.http_address.clone(),
            capability: n.capability,
            state: n.state,
            timeout_ms: d.timeout_ms,
            deadline_wall_ms: now
                .wall_ms
                .saturating_add(d.deadline_ms.saturating_sub(now.mono_ms)),
            apps: d.apps.iter().copied().collect(),
        })
    }

    /// Takes back the previous run's decommissions (call after [`RmState::recover`]):
    /// each node is listed in its state until its NM registers; a DECOMMISSIONING one
    /// keeps what is left of its timeout, on this process's monotonic clock.
    pub fn recover_nodes(&mut self, records: Vec<NodeRecord>, now: Now) {
        for r in records {
            if !matches!(
                r.state,
                NodeState::DECOMMISSIONING | NodeState::DECOMMISSIONED
            ) || self.nodes.contains_key(&r.node_id)
            {
                tracing::warn!(node_id = %r.node_id, state = %r.state, "stored node record ignored");
                continue;
            }
            let left_ms = r.deadline_wall_ms.saturating_sub(now.wall_ms);
            let mut node = self.new_node(r.address, r.http_address, r.capability, now);
            node.state = r.state;
            node.decommission = Some(Decommission {
                timeout_ms: r.timeout_ms,
                deadline_ms: now.mono_ms.saturating_add(left_ms),
                apps: r.apps.into_iter().collect(),
            });
            tracing::info!(node_id = %r.node_id, state = %r.state, left_ms, "recovered node decommission");
            self.index_host(&r.node_id, &node.address);
            if r.state == NodeState::DECOMMISSIONING {
                self.decom.nodes.insert(r.node_id.clone());
            }
            self.nodes.insert(r.node_id, node);
        }
    }

    /// Sets the timeout a decommission without its own gets (`graceful-decommission-timeout`).
    pub fn set_decommission_timeout(&mut self, ms: u64) {
        self.decom.default_timeout_ms = ms;
    }

    fn check_admin(&self, user: &str, what: &str) -> Result<(), WireError> {
        if self.is_admin(user) {
            return Ok(());
        }
        Err(err(
            ErrorCode::Unauthorized,
            format!("user {user} may not {what} nodes: only the RM's admin-acl may (admin-acl in resourcemanager.toml)"),
        ))
    }

    /// The node `name` names: a node id, or a host with exactly one node.
    fn resolve_node(&self, name: &str) -> Result<NodeId, WireError> {
        let id = NodeId(name.to_string());
        if self.nodes.contains_key(&id) {
            return Ok(id);
        }
        match self
            .hosts
            .get(name)
            .map(|ids| ids.iter().collect::<Vec<_>>())
        {
            Some(ids) if ids.len() == 1 => Ok(ids[0].clone()),
            Some(ids) if ids.len() > 1 => Err(err(
                ErrorCode::BadRequest,
                format!(
                    "host {name} has {} nodes ({}): name one by its node id",
                    ids.len(),
                    ids.iter()
                        .map(|i| i.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            _ => Err(err(
                ErrorCode::UnknownNode,
                format!("unknown node {name} (`spindle node list` shows the node ids)"),
            )),
        }
    }

    /// Decommissions node `name` for admin `user`, gracefully within `timeout_ms` (`None`:
    /// the default); returns the node's id and what must happen. A LOST or SHUTDOWN node
    /// is DECOMMISSIONED at once (nothing runs there); a DECOMMISSIONING one gets the new
    /// timeout, from now.
    pub fn decommission(
        &mut self,
        name: &str,
        timeout_ms: Option<u64>,
        user: &str,
        now: Now,
    ) -> Result<(NodeId, Vec<Action>), WireError> {
        self.check_admin(user, "decommission")?;
        let id = self.resolve_node(name)?;
        let timeout_ms = timeout_ms.unwrap_or(self.decom.default_timeout_ms);
        let mut actions = Vec::new();
        let node = self.nodes.get(&id).expect("resolved");
        let state = node.state;
        match state {
            NodeState::DECOMMISSIONED => {}
            NodeState::LOST | NodeState::SHUTDOWN | NodeState::NEW => {
                let n = self.nodes.get_mut(&id).expect("resolved");
                n.state = NodeState::DECOMMISSIONED;
                n.decommission = Some(Decommission {
                    timeout_ms,
                    deadline_ms: now.mono_ms,
                    apps: BTreeSet::new(),
                });
                tracing::info!(node_id = %id, user, "node DECOMMISSIONED (it was {state})");
                self.nodes_dirty.insert(id.clone());
            }
            _ => {
                let mut apps: BTreeSet<ApplicationId> =
                    node.containers.iter().map(ContainerId::app).collect();
                apps.extend(node.apps_ran.iter().copied());
                let capability = node.capability;
                if state == NodeState::RUNNING {
                    self.unindex(&id);
                    self.running_total = self.running_total.saturating_sub(&capability);
                }
                let n = self.nodes.get_mut(&id).expect("resolved");
                n.state = NodeState::DECOMMISSIONING;
                let d = n.decommission.get_or_insert_with(|| Decommission {
                    timeout_ms,
                    deadline_ms: 0,
                    apps: BTreeSet::new(),
                });
                d.timeout_ms = timeout_ms;
                d.deadline_ms = now.mono_ms.saturating_add(timeout_ms);
                d.apps.extend(apps);
                self.decom.nodes.insert(id.clone());
                self.nodes_dirty.insert(id.clone());
                tracing::info!(node_id = %id, user, timeout_ms, containers = n.containers.len(), "node DECOMMISSIONING: no new containers");
                self.tell_ams(&id, now, &mut actions);
                // It may be done already (nothing ran there).
                self.check_decommissioned(&id, now, &mut actions);
            }
        }
        Ok((id, actions))
    }

    /// Takes node `name` back into service for admin `user`: a DECOMMISSIONING node is
    /// RUNNING again (UNHEALTHY if it said so) with its containers; a DECOMMISSIONED one
    /// may register again (it stays listed as DECOMMISSIONED until its NM does).
    pub fn recommission(
        &mut self,
        name: &str,
        user: &str,
        now: Now,
    ) -> Result<(NodeId, Vec<Action>), WireError> {
        self.check_admin(user, "recommission")?;
        let id = self.resolve_node(name)?;
        let mut actions = Vec::new();
        let n = self.nodes.get_mut(&id).expect("resolved");
        match n.state {
            NodeState::DECOMMISSIONING => {
                n.decommission = None;
                self.decom.nodes.remove(&id);
                if n.health_report.is_empty() {
                    n.state = NodeState::RUNNING;
                    self.running_total = self.running_total.add(&n.capability);
                    self.index(&id);
                } else {
                    n.state = NodeState::UNHEALTHY;
                }
                tracing::info!(node_id = %id, user, "node recommissioned");
                self.nodes_dirty.insert(id.clone());
                self.tell_ams(&id, now, &mut actions);
                self.schedule(now, &mut actions);
            }
            NodeState::DECOMMISSIONED => {
                n.decommission = None;
                tracing::info!(node_id = %id, user, "decommissioned node may register again");
                self.nodes_dirty.insert(id.clone());
            }
            other => {
                return Err(err(
                    ErrorCode::InvalidState,
                    format!("node {id} is {other}, not DECOMMISSIONING or DECOMMISSIONED: nothing to recommission"),
                ))
            }
        }
        Ok((id, actions))
    }

    /// Why the NM of `node_id` must shut down rather than register or heartbeat (it was
    /// decommissioned), if it must.
    pub fn shutdown_reason(&self, node_id: &NodeId) -> Option<String> {
        let n = self.nodes.get(node_id)?;
        (n.state == NodeState::DECOMMISSIONED && n.decommission.is_some()).then(|| {
            format!("node {node_id} is DECOMMISSIONED: its node manager must shut down (`spindle node recommission {node_id}` lets it register again)")
        })
    }

    /// Ends the decommissions that are done or past their timeout (the service's tick).
    pub fn poll_decommissioning(&mut self, now: Now) -> Vec<Action> {
        let mut actions = Vec::new();
        let nodes: Vec<NodeId> = self.decom.nodes.iter().cloned().collect();
        for id in nodes {
            self.check_decommissioned(&id, now, &mut actions);
        }
        actions
    }

    /// A DECOMMISSIONING node that re-registered (its NM restarted) stays DECOMMISSIONING.
    pub(super) fn resume_decommission(&mut self, id: &NodeId, d: Decommission, now: Now) {
        let Some(n) = self.nodes.get_mut(id) else {
            return;
        };
        let was_running = n.state == NodeState::RUNNING;
        let mut d = d;
        d.apps.extend(n.containers.iter().map(ContainerId::app));
        n.decommission = Some(d);
        n.state = NodeState::DECOMMISSIONING;
        if was_running {
            let capability = n.capability;
            self.unindex(id);
            self.running_total = self.running_total.saturating_sub(&capability);
        }
        self.decom.nodes.insert(id.clone());
        let mut actions = Vec::new();
        self.check_decommissioned(id, now, &mut actions);
        debug_assert!(actions.is_empty() || self.nodes[id].containers.is_empty());
    }

    /// DECOMMISSIONED when nothing runs there and its applications have ended, or its
    /// timeout passed (what still runs there is then killed).
    fn check_decommissioned(&mut self, id: &NodeId, now: Now, actions: &mut Vec<Action>) {
        let Some(n) = self.nodes.get(id) else {
            self.decom.nodes.remove(id);
            return;
        };
        let Some(d) = n
            .decommission
            .as_ref()
            .filter(|_| n.state == NodeState::DECOMMISSIONING)
        else {
            self.decom.nodes.remove(id);
            return;
        };
        let apps_live = d
            .apps
            .iter()
            .any(|a| self.apps.get(a).is_some_and(|app| !app.state.is_terminal()));
        let timed_out = now.mono_ms >= d.deadline_ms;
        if !timed_out && (apps_live || !n.containers.is_empty()) {
            return;
        }
        let timeout_s = d.timeout_ms / 1000;
        let left: Vec<ContainerId> = n.containers.iter().copied().collect();
        if timed_out && (apps_live || !left.is_empty()) {
            tracing::warn!(node_id = %id, containers = left.len(), timeout_s, "decommission timeout passed: killing what still runs there");
        }
        let n = self.nodes.get_mut(id).expect("present");
        n.to_kill
            .extend(left.iter().map(|c| (*c, exit_status::ABORTED)));
        let why = format!("Container killed: node {id} was decommissioned and its decommission timeout of {timeout_s}s passed");
        self.abort_containers(left, &why, now, actions);
        self.decom.nodes.remove(id);
        self.nodes.get_mut(id).expect("present").state = NodeState::DECOMMISSIONED;
        self.nodes_dirty.insert(id.clone());
        tracing::info!(node_id = %id, "node DECOMMISSIONED");
    }

    /// Tells the AMs with containers on `id` its state (YARN's updated nodes).
    fn tell_ams(&self, id: &NodeId, now: Now, actions: &mut Vec<Action>) {
        let Some(n) = self.nodes.get(id) else {
            return;
        };
        let update = NodeUpdate {
            node_id: id.clone(),
            state: n.state,
            decommission_timeout_ms: n
                .decommission
                .as_ref()
                .map(|d| d.deadline_ms.saturating_sub(now.mono_ms)),
        };
        let apps: BTreeSet<ApplicationId> = n.containers.iter().map(ContainerId::app).collect();
        for app in apps.iter().filter_map(|a| self.apps.get(a)) {
            if let Some(a) = app
                .current()
                .filter(|a| a.registered && !app.state.is_terminal())
            {
                actions.push(Action::PushAm {
                    attempt: a.id,
                    event: AmEvent::NodesUpdated(vec![update.clone()]),
                });
            }
        }
    }

    /// The NM of `node_id` stops for good, saying `message`: the node is SHUTDOWN
    /// (DECOMMISSIONED when it was being decommissioned, or was), nothing more is placed
    /// there, and what still ran there is completed for its applications.
    pub fn unregister_node(&mut self, node_id: &NodeId, message: &str, now: Now) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(n) = self.nodes.get(node_id) else {
            return actions;
        };
        let state = n.state;
        if !Self::live(state) {
            return actions;
        }
        if state == NodeState::RUNNING {
            let capability = n.capability;
            self.unindex(node_id);
            self.running_total = self.running_total.saturating_sub(&capability);
        }
        self.decom.nodes.remove(node_id);
        let n = self.nodes.get_mut(node_id).expect("present");
        n.state = if state == NodeState::DECOMMISSIONING {
            NodeState::DECOMMISSIONED
        } else {
            NodeState::SHUTDOWN
        };
        n.health_report = message.to_string();
        tracing::info!(node_id = %node_id, state = %n.state, message, "node manager unregistered");
        if n.state == NodeState::DECOMMISSIONED {
            self.nodes_dirty.insert(node_id.clone());
        }
        let left = std::mem::take(&mut n.containers);
        let why = format!("Container released: node {node_id} shut down ({message})");
        self.abort_containers(left, &why, now, &mut actions);
        self.schedule(now, &mut actions);
        actions
    }

    /// Keeps a node's `apps_ran` small: past [`APPS_RAN_PRUNE`], the applications that
    /// ended go (a new one is rare next to containers, so this runs seldom).
    pub(super) fn prune_apps_ran(n: &mut Node, apps: &BTreeMap<ApplicationId, App>) {
        if n.apps_ran.len() > APPS_RAN_PRUNE {
            n.apps_ran
                .retain(|a| apps.get(a).is_some_and(|app| !app.state.is_terminal()));
        }
    }

    /// The node's decommission timeout as asked, in seconds, while DECOMMISSIONING.
    pub(super) fn decommissioning_timeout_s(n: &Node) -> Option<u64> {
        n.decommission
            .as_ref()
            .filter(|_| n.state == NodeState::DECOMMISSIONING)
            .map(|d| d.timeout_ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use crate::state::{Action, Now, RmState};
    use crate::testing::{at, rm_state, submission};
    use common::protocol::{
        exit_status, AmEvent, ContainerState, ContainerStatus, ErrorCode, NodeReport, NodeState,
        ResourceAsk,
    };
    use common::{AppAttemptId, ContainerId, NodeId, Resource};

    fn node(s: &mut RmState, name: &str) -> NodeId {
        let n = NodeId(name.into());
        s.register_node(
            n.clone(),
            name.into(),
            String::new(),
            Resource::new(4096, 4),
            &[],
            at(0),
        );
        n
    }

    /// Node `n`'s report, as REST and `spindle node list` show it.
    fn report_of(s: &RmState, n: &NodeId) -> NodeReport {
        let reports = s.node_reports();
        reports.into_iter().find(|r| r.node_id == *n).unwrap()
    }

    fn state_of(s: &RmState, n: &NodeId) -> NodeState {
        report_of(s, n).state
    }

    /// An RM whose admin is `root`, with nodes h:1 and h:2 and one registered app whose
    /// AM runs on h:1 and who holds `executors` containers of 1 GB (placed on h:2 first:
    /// the roomiest).
    fn cluster(executors: u32) -> Fixture {
        let mut s = rm_state(1);
        s.set_admin_acl(["root".to_string()]);
        let h1 = node(&mut s, "h:1");
        let (app, actions) = s.submit(submission(), at(1)).unwrap();
        let Some(Action::LaunchAm {
            container,
            amrm_token,
            ..
        }) = actions.first()
        else {
            panic!("{actions:?}")
        };
        assert_eq!(container.node_id, h1);
        node(&mut s, "h:2");
        let attempt = app.attempt(1);
        s.register_am(attempt, amrm_token, "h".into(), String::new())
            .unwrap();
        let ask = ResourceAsk {
            key: "executors".into(),
            count: executors,
            resource: Resource::new(1024, 1),
            nodes: vec![],
            relax_locality: true,
        };
        let token = amrm_token.clone();
        let actions = s
            .allocate(attempt, &token, vec![ask], vec![], 0.0, at(2))
            .unwrap();
        let placed: Vec<(ContainerId, NodeId)> = actions
            .iter()
            .flat_map(|a| match a {
                Action::PushAm {
                    event: AmEvent::Allocated(cs),
                    ..
                } => cs.iter().map(|c| (c.id, c.node_id.clone())).collect(),
                _ => vec![],
            })
            .collect();
        let h2 = NodeId("h:2".into());
        let on_h2 = on(&placed, &h2);
        Fixture {
            s,
            attempt,
            placed,
            h2,
            on_h2,
        }
    }

    /// [`cluster`] with node h:2 decommissioned by root at 10 ms.
    fn decommissioning(executors: u32, timeout_ms: Option<u64>) -> Fixture {
        let mut f = cluster(executors);
        f.s.decommission("h:2", timeout_ms, "root", at(10)).unwrap();
        f
    }

    /// What [`cluster`] made: the RM, the app's attempt, its executor containers by
    /// node, and node h:2 with the executors there.
    struct Fixture {
        s: RmState,
        attempt: AppAttemptId,
        placed: Vec<(ContainerId, NodeId)>,
        h2: NodeId,
        on_h2: Vec<ContainerId>,
    }

    /// Polls the decommissions at `now` and checks `node`'s state after.
    fn poll_then(s: &mut RmState, node: &NodeId, now: u64, want: NodeState) {
        s.poll_decommissioning(at(now));
        assert_eq!(state_of(s, node), want);
    }

    /// The containers of `placed` on `node`.
    fn on(placed: &[(ContainerId, NodeId)], node: &NodeId) -> Vec<ContainerId> {
        placed
            .iter()
            .filter(|(_, n)| n == node)
            .map(|(c, _)| *c)
            .collect()
    }

    fn updates(actions: &[Action]) -> Vec<(NodeId, NodeState, Option<u64>)> {
        actions
            .iter()
            .flat_map(|a| match a {
                Action::PushAm {
                    event: AmEvent::NodesUpdated(u),
                    ..
                } => u
                    .iter()
                    .map(|u| (u.node_id.clone(), u.state, u.decommission_timeout_ms))
                    .collect(),
                _ => vec![],
            })
            .collect()
    }

    /// An executor container's status as its NM reports it.
    fn status(c: ContainerId, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            container_id: c,
            state,
            exit_status: 0,
            diagnostics: String::new(),
            resource: Resource::new(1024, 1),
        }
    }

    fn complete(s: &mut RmState, n: &NodeId, c: ContainerId, now: u64) {
        let st = status(c, ContainerState::COMPLETE);
        s.node_heartbeat(n, &[st], at(now)).unwrap();
    }

    /// `node`'s NM registers again at `now`, with `containers` still running.
    fn re_register(s: &mut RmState, node: &NodeId, containers: &[ContainerId], now: Now) {
        let running: Vec<ContainerStatus> = containers
            .iter()
            .map(|c| status(*c, ContainerState::RUNNING))
            .collect();
        let capability = Resource::new(4096, 4);
        s.register_node(
            node.clone(),
            node.0.clone(),
            String::new(),
            capability,
            &running,
            now,
        );
    }

    /// A new RM that takes back what `old` saved at `saved` (its clocks), as after a
    /// restart at `now` (the new process's clocks).
    fn restarted(old: &mut RmState, saved: Now, now: Now) -> RmState {
        let (nodes, gone) = old.take_dirty_nodes(|| saved);
        assert!(gone.is_empty(), "{gone:?}");
        assert_eq!(nodes, old.export_nodes(saved));
        let mut s = rm_state(1);
        s.set_admin_acl(["root".to_string()]);
        s.recover(old.next_seq(), old.export_apps(), now);
        s.recover_nodes(nodes, now);
        s
    }

    #[test]
    fn a_decommissioning_node_stays_so_across_an_rm_restart_with_what_is_left_of_its_timeout() {
        let Fixture {
            mut s, h2, on_h2, ..
        } = decommissioning(2, Some(60_000));
        // Saved at 20 s; the new process's monotonic clock reads 5 at 20.01 s.
        let now = Now {
            mono_ms: 5,
            wall_ms: 20_010,
        };
        let mut s2 = restarted(&mut s, at(20_000), now);
        assert_eq!(state_of(&s2, &h2), NodeState::DECOMMISSIONING);
        // Listed under its host too, before its NM is back (h:1 has no record).
        assert_eq!(s2.resolve_node("h").unwrap(), h2);
        // Its NM registers again with its executors: they go on, and nothing new lands there.
        let back = Now {
            mono_ms: 6,
            wall_ms: 20_011,
        };
        re_register(&mut s2, &h2, &on_h2, back);
        assert_eq!(state_of(&s2, &h2), NodeState::DECOMMISSIONING);
        assert!(s2.shutdown_reason(&h2).is_none());
        assert!(!on_h2.is_empty());
        // 40 s were left of the minute: the timeout passes at 5 + 40_000 (not 60_010).
        poll_then(&mut s2, &h2, 40_004, NodeState::DECOMMISSIONING);
        poll_then(&mut s2, &h2, 40_005, NodeState::DECOMMISSIONED);
        let (records, _) = s2.take_dirty_nodes(|| at(40_006));
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].state, NodeState::DECOMMISSIONED);
        assert_eq!(s2.apps.len(), 1, "the app was recovered too");
    }

    #[test]
    fn a_decommissioned_node_is_refused_after_an_rm_restart_until_recommissioned() {
        let Fixture { mut s, h2, .. } = decommissioning(1, Some(1_000));
        poll_then(&mut s, &h2, 1_010, NodeState::DECOMMISSIONED);
        let mut s2 = restarted(&mut s, at(1_500), at(2_000));
        assert_eq!(state_of(&s2, &h2), NodeState::DECOMMISSIONED);
        assert!(
            s2.shutdown_reason(&h2).is_some(),
            "its NM is told to shut down"
        );
        // A node that never was decommissioned has no record, and is not listed.
        assert!(!s2.nodes.contains_key(&NodeId("h:1".into())));
        s2.recommission("h:2", "root", at(2_001)).unwrap();
        assert!(s2.shutdown_reason(&h2).is_none());
        let (records, gone) = s2.take_dirty_nodes(|| at(2_002));
        assert!(records.is_empty());
        assert_eq!(gone, vec![h2]);
    }

    #[test]
    fn a_decommissioning_node_that_falls_silent_is_decommissioned() {
        let Fixture { mut s, h2, .. } = decommissioning(2, None);
        s.take_dirty_nodes(|| at(10));
        s.node_heartbeat(&NodeId("h:1".into()), &[], at(5_000))
            .unwrap();
        s.expire_nodes(at(5_010));
        assert_eq!(state_of(&s, &h2), NodeState::DECOMMISSIONED);
        assert!(s.shutdown_reason(&h2).is_some());
        let (records, _) = s.take_dirty_nodes(|| at(5_011));
        assert_eq!(records[0].state, NodeState::DECOMMISSIONED);
    }

    #[test]
    fn running_to_decommissioning_to_decommissioned_once_its_containers_and_apps_are_done() {
        let Fixture {
            mut s,
            attempt,
            placed,
            h2,
            on_h2,
        } = cluster(2);
        assert!(!on_h2.is_empty(), "{placed:?}");
        let total = s.cluster_resource();
        let (id, actions) = s.decommission("h:2", Some(60_000), "root", at(10)).unwrap();
        assert_eq!(id, h2);
        assert_eq!(state_of(&s, &h2), NodeState::DECOMMISSIONING);
        assert_eq!(report_of(&s, &h2).decommissioning_timeout_s, Some(60));
        // The AM with containers there is told, with the time left.
        assert_eq!(
            updates(&actions),
            [(h2.clone(), NodeState::DECOMMISSIONING, Some(60_000))]
        );
        assert_eq!(
            s.cluster_resource(),
            total.saturating_sub(&Resource::new(4096, 4)),
            "its capacity left the total"
        );
        // Nothing new goes there: the app asks for more, they land on h:1 or nowhere.
        let token = s.amrm_keys.token(attempt);
        let ask = ResourceAsk {
            key: "executors".into(),
            count: 4,
            resource: Resource::new(1024, 1),
            nodes: vec!["h:2".into()],
            relax_locality: true,
        };
        let actions = s
            .allocate(attempt, &token, vec![ask], vec![], 0.0, at(11))
            .unwrap();
        for a in &actions {
            if let Action::PushAm {
                event: AmEvent::Allocated(cs),
                ..
            } = a
            {
                assert!(cs.iter().all(|c| c.node_id != h2), "{cs:?}");
            }
        }
        // Its containers finish: still DECOMMISSIONING while the app that ran there lives.
        for c in &on_h2 {
            complete(&mut s, &h2, *c, 20);
        }
        poll_then(&mut s, &h2, 21, NodeState::DECOMMISSIONING);
        assert_eq!(s.shutdown_reason(&h2), None);
        // The app ends: DECOMMISSIONED, and its NM is told to shut down.
        s.kill(attempt.app, "u", at(30)).unwrap();
        poll_then(&mut s, &h2, 31, NodeState::DECOMMISSIONED);
        assert!(s.shutdown_reason(&h2).unwrap().contains("DECOMMISSIONED"));
        // Its heartbeats and registrations are refused from now on.
        assert!(s.node_heartbeat(&h2, &[], at(32)).is_none());
        assert!(s.heartbeat_ages(at(33)).iter().all(|(n, _)| *n != h2));
    }

    /// Its containers ended before the decommission, but the app lives on (its shuffle
    /// output may be served from the node): the node waits for it, as YARN's does.
    #[test]
    fn it_waits_for_an_app_whose_containers_there_ended_before() {
        let Fixture {
            mut s,
            attempt,
            h2,
            on_h2,
            ..
        } = cluster(2);
        for c in on_h2 {
            complete(&mut s, &h2, c, 5);
        }
        assert_eq!(report_of(&s, &h2).num_containers, 0);
        s.decommission("h:2", Some(60_000), "root", at(10)).unwrap();
        poll_then(&mut s, &h2, 11, NodeState::DECOMMISSIONING);
        s.kill(attempt.app, "u", at(12)).unwrap();
        poll_then(&mut s, &h2, 13, NodeState::DECOMMISSIONED);
    }

    #[test]
    fn the_timeout_kills_what_still_runs_there_and_ends_the_decommission() {
        let Fixture {
            mut s, h2, on_h2, ..
        } = decommissioning(2, Some(5_000));
        assert!(s.poll_decommissioning(at(5_009)).is_empty());
        assert_eq!(state_of(&s, &h2), NodeState::DECOMMISSIONING);
        let actions = s.poll_decommissioning(at(5_010));
        assert_eq!(state_of(&s, &h2), NodeState::DECOMMISSIONED);
        // Its containers are completed for the AM, as killed by the timeout.
        let completed: Vec<(ContainerId, i32, String)> = actions
            .iter()
            .flat_map(|a| match a {
                Action::PushAm {
                    event: AmEvent::Completed(st),
                    ..
                } => st
                    .iter()
                    .map(|s| (s.container_id, s.exit_status, s.diagnostics.clone()))
                    .collect(),
                _ => vec![],
            })
            .collect();
        assert_eq!(completed.len(), on_h2.len(), "{completed:?}");
        for (c, exit, why) in completed {
            assert!(on_h2.contains(&c));
            assert_eq!(exit, exit_status::ABORTED);
            assert!(why.contains("decommission timeout of 5s passed"), "{why}");
        }
        let r = report_of(&s, &h2);
        assert_eq!((r.num_containers, r.used), (0, Resource::ZERO));
    }

    #[test]
    fn recommission_puts_a_decommissioning_node_back_with_its_containers() {
        let Fixture {
            mut s, h2, on_h2, ..
        } = cluster(2);
        let total = s.cluster_resource();
        s.decommission("h:2", None, "root", at(10)).unwrap();
        let (_, actions) = s.recommission("h:2", "root", at(11)).unwrap();
        assert_eq!(state_of(&s, &h2), NodeState::RUNNING);
        assert_eq!(s.cluster_resource(), total);
        assert_eq!(updates(&actions), [(h2.clone(), NodeState::RUNNING, None)]);
        let r = report_of(&s, &h2);
        let on_h2 = on_h2.len() as u32;
        assert_eq!(r.num_containers, on_h2, "its containers were kept");
        assert_eq!(r.decommissioning_timeout_s, None);
        // The default timeout (an hour) no longer applies.
        poll_then(&mut s, &h2, 4_000_000, NodeState::RUNNING);
        // Nothing to recommission on a RUNNING node.
        let e = s.recommission("h:2", "root", at(12)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidState);
    }

    #[test]
    fn a_decommissioned_node_registers_again_only_once_recommissioned() {
        let mut s = rm_state(1);
        s.set_admin_acl(["*".to_string()]);
        let h1 = node(&mut s, "h:1");
        // Nothing runs there: DECOMMISSIONED at once.
        s.decommission("h", Some(1_000), "anyone", at(1)).unwrap();
        assert_eq!(state_of(&s, &h1), NodeState::DECOMMISSIONED);
        assert!(s.shutdown_reason(&h1).is_some());
        s.recommission("h:1", "anyone", at(2)).unwrap();
        assert_eq!(s.shutdown_reason(&h1), None);
        assert_eq!(
            state_of(&s, &h1),
            NodeState::DECOMMISSIONED,
            "until it registers"
        );
        node(&mut s, "h:1");
        assert_eq!(state_of(&s, &h1), NodeState::RUNNING);
    }

    #[test]
    fn only_admins_decommission_and_unknown_nodes_are_named() {
        let Fixture { mut s, .. } = cluster(1);
        let e = s.decommission("h:2", None, "bob", at(5)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert_eq!(
            e.message,
            "user bob may not decommission nodes: only the RM's admin-acl may (admin-acl in resourcemanager.toml)"
        );
        let e = s.recommission("h:2", "bob", at(5)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        let e = s.decommission("h:9", None, "root", at(5)).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownNode);
        assert!(e.message.contains("unknown node h:9"), "{e}");
        // Two nodes on host h: the host alone is ambiguous.
        let e = s.decommission("h", None, "root", at(5)).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("h:1, h:2"), "{e}");
    }

    #[test]
    fn a_re_registering_decommissioning_node_stays_decommissioning() {
        let Fixture {
            mut s, h2, on_h2, ..
        } = decommissioning(2, Some(60_000));
        let total = s.cluster_resource();
        re_register(&mut s, &h2, &on_h2, at(20));
        assert_eq!(state_of(&s, &h2), NodeState::DECOMMISSIONING);
        assert_eq!(s.cluster_resource(), total);
        // The timeout still counts from the decommission.
        poll_then(&mut s, &h2, 60_010, NodeState::DECOMMISSIONED);
    }

    #[test]
    fn an_unregistering_node_is_shutdown_and_its_containers_complete() {
        let Fixture {
            mut s, h2, on_h2, ..
        } = cluster(3);
        let (on_h2, total) = (on_h2.len(), s.cluster_resource());
        let actions = s.unregister_node(&h2, "node manager stopped (SIGTERM)", at(10));
        let r = report_of(&s, &h2);
        assert_eq!(r.state, NodeState::SHUTDOWN);
        assert_eq!(r.health_report, "node manager stopped (SIGTERM)");
        assert_eq!(r.num_containers, 0);
        assert_eq!(
            s.cluster_resource(),
            total.saturating_sub(&Resource::new(4096, 4))
        );
        let completed: usize = actions
            .iter()
            .map(|a| match a {
                Action::PushAm {
                    event: AmEvent::Completed(st),
                    ..
                } => {
                    for c in st {
                        assert!(
                            c.diagnostics.contains("shut down (node manager stopped"),
                            "{c:?}"
                        );
                    }
                    st.len()
                }
                _ => 0,
            })
            .sum();
        assert_eq!(completed, on_h2);
        // Its heartbeats make it register again (a new NM process is RUNNING).
        assert!(s.node_heartbeat(&h2, &[], at(11)).is_none());
        assert_eq!(s.shutdown_reason(&h2), None);
        node(&mut s, "h:2");
        assert_eq!(state_of(&s, &h2), NodeState::RUNNING);
    }
}
