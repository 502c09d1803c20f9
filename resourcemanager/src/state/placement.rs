//! Placement: the scheduler ([`crate::scheduler`]) chooses which application gets the
//! next container; this puts it on a node, signs its token and tells whoever must
//! know. Nodes are found through an index of free memory, so a placement looks at the
//! roomiest nodes, not at every node. Preemption's clock tick is here too: it marks
//! containers the scheduler wants back, tells their AMs, and kills them after the wait.
//!
//! The lifecycle side ([`RmState`]'s nodes, applications and attempts) calls
//! [`RmState::schedule`] whenever capacity or asks change; a placement comes
//! back as [`Action`]s (an AM launch, containers pushed to an AM).

use super::{Action, App, Candidate, Demand, LiveContainer, Node, Now, RmState};
use crate::scheduler::Round;
use common::protocol::{
    exit_status, AmEvent, Container, NodeState, YarnApplicationState as AppState,
};
use common::token::ContainerTokenIdentifier;
use common::{AppAttemptId, ApplicationId, ContainerId, NodeId, Resource};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

impl RmState {
    fn index_key(id: &NodeId, n: &Node) -> (u64, Reverse<usize>, Reverse<NodeId>) {
        let free = n.capability.saturating_sub(&n.used);
        (
            free.memory_mb,
            Reverse(n.containers.len()),
            Reverse(id.clone()),
        )
    }

    /// Takes a node out of the free-capacity index (before its use changes).
    pub(super) fn unindex(&mut self, id: &NodeId) {
        if let Some(n) = self.nodes.get(id) {
            let free = n.capability.saturating_sub(&n.used);
            self.free_index
                .remove(id, free.memory_mb, n.containers.len());
        }
    }

    /// Puts a RUNNING node (back) into the free-capacity index.
    pub(super) fn index(&mut self, id: &NodeId) {
        if let Some(n) = self.nodes.get(id) {
            if n.state == NodeState::RUNNING {
                let free = n.capability.saturating_sub(&n.used);
                self.free_index
                    .insert(id, free.memory_mb, n.containers.len());
            }
        }
    }

    /// Gives container `c`'s room back to its node (one lookup of the node, moving it in
    /// the free index).
    pub(super) fn release_on(&mut self, node_id: &NodeId, c: &ContainerId, r: &Resource) {
        let Some(n) = self.nodes.get_mut(node_id) else {
            return;
        };
        let free = n.capability.saturating_sub(&n.used);
        self.free_index
            .remove(node_id, free.memory_mb, n.containers.len());
        n.used = n.used.saturating_sub(r);
        n.containers.remove(c);
        if n.state == NodeState::RUNNING {
            let free = n.capability.saturating_sub(&n.used);
            self.free_index
                .insert(node_id, free.memory_mb, n.containers.len());
        }
    }

    /// Places a container of `resource` on a node: preferred nodes first, else (when
    /// allowed) the node with the most free memory that fits.
    fn pick_node(&self, resource: &Resource, preferred: &[String], relax: bool) -> Option<NodeId> {
        let fits = |n: &Node| {
            n.state == NodeState::RUNNING && n.capability.saturating_sub(&n.used).fits(resource)
        };
        if !preferred.is_empty() {
            let mut candidates: BTreeSet<&NodeId> = BTreeSet::new();
            for p in preferred {
                if let Some((id, _)) = self.nodes.get_key_value(&NodeId(p.clone())) {
                    candidates.insert(id);
                }
                if let Some(ids) = self.hosts.get(p) {
                    candidates.extend(ids.iter());
                }
            }
            let best = candidates
                .into_iter()
                .filter_map(|id| self.nodes.get(id).map(|n| (id, n)))
                .filter(|(_, n)| fits(n))
                .max_by_key(|(id, n)| Self::index_key(id, n))
                .map(|(id, _)| id.clone());
            if best.is_some() || !relax {
                return best;
            }
        }
        // The roomiest first: stops at the first whose vcores also fit; once memory
        // does not fit, no later node's does.
        for (free_mb, id) in self.free_index.roomiest() {
            if free_mb < resource.memory_mb {
                return None;
            }
            if self.nodes.get(id).is_some_and(fits) {
                return Some(id.clone());
            }
        }
        None
    }

    fn allocate_on(
        &mut self,
        app_id: ApplicationId,
        node_id: &NodeId,
        resource: Resource,
        am: bool,
        now: Now,
    ) -> Container {
        // Wall clock on purpose: the token crosses hosts and the NM checks it
        // against its own wall clock, as YARN does; hosts share no monotonic clock.
        let expiry_ms = now.wall_ms + self.limits.token_expiry_ms;
        let node = self.nodes.get_mut(node_id).expect("picked node exists");
        let free = node.capability.saturating_sub(&node.used);
        self.free_index
            .remove(node_id, free.memory_mb, node.containers.len());
        let app = self.apps.get_mut(&app_id).expect("scheduled app exists");
        let attempt = app.current().expect("app has an attempt").id;
        let id = attempt.container(app.next_container);
        app.next_container += 1;
        node.used = node.used.add(&resource);
        node.containers.insert(id);
        app.containers.insert(
            id,
            LiveContainer {
                node: node_id.clone(),
                resource,
                am,
                allocated: now,
            },
        );
        self.scheduler.allocated(app_id, resource, am);
        let token = self.container_keys.sign(ContainerTokenIdentifier {
            container_id: id,
            app: app_id,
            node_id: node_id.clone(),
            resource,
            user: app.submission.user.clone(),
            issued_ms: now.wall_ms,
            expiry_ms,
            app_secret: app.secret.clone(),
        });
        let node_address = node.address.clone();
        if node.apps_ran.insert(app_id) {
            Self::prune_apps_ran(node, &self.apps);
        }
        if node.state == NodeState::RUNNING {
            let free = node.capability.saturating_sub(&node.used);
            self.free_index
                .insert(node_id, free.memory_mb, node.containers.len());
        }
        Container {
            id,
            node_id: node_id.clone(),
            node_address,
            resource,
            token,
        }
    }

    /// What `app` waits for now, if anything: its AM, or (registered) its next ask.
    fn demand_of(id: ApplicationId, app: &App) -> Option<Demand> {
        if !matches!(app.state, AppState::ACCEPTED | AppState::RUNNING) {
            return None;
        }
        let cur = app.current()?;
        let am = cur
            .am_container
            .is_none()
            .then_some(app.submission.am_resource);
        let ask = if cur.registered {
            app.asks.values().find(|a| a.count > 0).map(|a| a.resource)
        } else {
            None
        };
        let mut pending = am.unwrap_or(Resource::ZERO);
        if cur.registered {
            for a in app.asks.values() {
                pending = pending.add(&a.resource.times(a.count));
            }
        }
        (am.is_some() || ask.is_some()).then_some(Demand {
            app: id,
            am,
            ask,
            pending,
        })
    }

    /// What every live application waits for, computed afresh.
    fn fresh_demands(&self) -> Vec<Demand> {
        self.apps
            .iter()
            .filter_map(|(id, app)| Self::demand_of(*id, app))
            .collect()
    }

    /// Files `app`'s demand again after its asks, attempt or state changed.
    pub(super) fn refresh_demand(&mut self, id: ApplicationId) {
        let Some(d) = self.apps.get(&id).and_then(|a| Self::demand_of(id, a)) else {
            self.demands.remove(id);
            return;
        };
        if let Err(d) = self.demands.update(d) {
            let (group, user) = self.scheduler.group(id);
            self.demands.set(d, group, &user);
        }
    }

    /// Rebuilds the demands when apps came in unseen (recovery) or the scheduler changed.
    pub(super) fn sync_demands(&mut self) {
        if self.demands_apps == self.apps.len() {
            return;
        }
        self.rebuild_demands();
    }

    pub(super) fn rebuild_demands(&mut self) {
        self.demands.clear();
        let ids: Vec<ApplicationId> = self.apps.keys().copied().collect();
        for id in ids {
            self.refresh_demand(id);
        }
        self.demands_apps = self.apps.len();
    }

    /// Removes a finished app (it waits for nothing), keeping the demands in step.
    pub(super) fn forget_app(&mut self, id: ApplicationId) {
        let in_step = self.demands_apps == self.apps.len();
        if self.apps.remove(&id).is_some() {
            self.demands.remove(id);
            if in_step {
                self.demands_apps = self.apps.len();
            }
        }
    }

    /// What every live application waits for now, oldest first.
    pub(super) fn demands(&self) -> Vec<Demand> {
        if self.demands_apps == self.apps.len() {
            self.demands.to_vec()
        } else {
            self.fresh_demands()
        }
    }

    /// An app's diagnostics; while its queue's limits hold its AM back, why (YARN's
    /// diagnostics). Worked out when asked, not on every schedule round: thousands of
    /// waiting apps made the rounds format thousands of messages each.
    pub(super) fn diagnostics(&self, id: ApplicationId, app: &App) -> String {
        let waiting_am = Self::demand_of(id, app).and_then(|d| d.am);
        match waiting_am.and_then(|am| {
            self.scheduler
                .am_wait_reason(self.cluster_resource(), id, am)
        }) {
            Some(why) => format!("{}{why}", super::AM_WAIT_PREFIX),
            None => app.diagnostics.clone(),
        }
    }

    /// Whether nothing waiting could be placed anywhere: the roomiest node has less
    /// memory free than the smallest container anyone waits for.
    fn no_room(&self) -> bool {
        match (self.demands.smallest_mb(), self.free_index.max_free_mb()) {
            (Some(need), Some(free)) => free < need,
            _ => true,
        }
    }

    /// Gives containers while the scheduler picks someone and a node fits them.
    pub(super) fn schedule(&mut self, now: Now, actions: &mut Vec<Action>) {
        self.sync_demands();
        debug_assert_eq!(self.demands.to_vec(), self.fresh_demands());
        let cluster = self.cluster_resource();
        let mut skip: BTreeSet<ApplicationId> = BTreeSet::new();
        let mut allocated: BTreeMap<ApplicationId, Vec<Container>> = BTreeMap::new();
        loop {
            // Every pick would fail to find a node: skip the scan over the apps.
            if self.no_room() {
                break;
            }
            let round = Round {
                demands: &self.demands,
                skipped: &skip,
            };
            let Some(pick) = self.scheduler.pick_in(cluster, round) else {
                break;
            };
            let app_id = pick.app;
            if pick.am {
                let res = self.apps[&app_id].submission.am_resource;
                let Some(node) = self.pick_node(&res, &[], true) else {
                    skip.insert(app_id);
                    continue;
                };
                let container = self.allocate_on(app_id, &node, res, true, now);
                let app = self.apps.get_mut(&app_id).expect("exists");
                if app.diagnostics.starts_with(super::AM_WAIT_PREFIX) {
                    app.diagnostics.clear();
                }
                let attempt = app.current_mut().expect("exists");
                attempt.am_container = Some(container.id);
                attempt.am_node = Some(node);
                self.dirty.insert(app_id);
                let amrm_token = self.amrm_keys.token(attempt.id);
                actions.push(Action::LaunchAm {
                    container: Box::new(container),
                    submission: Box::new(app.submission.clone()),
                    amrm_token,
                    app_secret: app.secret.clone(),
                });
                // Its asks come after it registers.
                self.refresh_demand(app_id);
                continue;
            }
            let Some((key, ask)) = self.apps[&app_id]
                .asks
                .iter()
                .find(|(_, a)| a.count > 0)
                .map(|(k, a)| (k.clone(), a.clone()))
            else {
                skip.insert(app_id);
                continue;
            };
            let Some(node) = self.pick_node(&ask.resource, &ask.nodes, ask.relax_locality) else {
                skip.insert(app_id);
                continue;
            };
            let c = self.allocate_on(app_id, &node, ask.resource, false, now);
            allocated.entry(app_id).or_default().push(c);
            let app = self.apps.get_mut(&app_id).expect("exists");
            let a = app.asks.get_mut(&key).expect("exists");
            a.count -= 1;
            if a.count == 0 {
                app.asks.remove(&key);
            }
            // Its next ask (maybe of another size), or none.
            self.refresh_demand(app_id);
        }
        for (app_id, containers) in allocated {
            let attempt = self.apps[&app_id].current().expect("exists").id;
            actions.push(Action::PushAm {
                attempt,
                event: AmEvent::Allocated(containers),
            });
        }
    }

    /// What the RUNNING nodes can really hold of waiting containers: what is in use, plus
    /// the free room of nodes where `smallest` fits.
    fn usable(&self, smallest: Option<Resource>) -> Resource {
        self.nodes
            .values()
            .filter(|n| n.state == NodeState::RUNNING)
            .fold(Resource::ZERO, |acc, n| {
                let free = n.capability.saturating_sub(&n.used);
                let room = match smallest {
                    Some(r) if free.fits(&r) => free,
                    _ => Resource::ZERO,
                };
                acc.add(&n.used).add(&room)
            })
    }

    /// The preemption policy's tick (every 250 ms or less): containers the scheduler
    /// wants back are marked and their AMs told; marked ones still wanted after the
    /// wait are killed with -102 (PREEMPTED) and their room given out at once.
    pub fn preempt(&mut self, now: Now) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.preemption.enabled {
            return actions;
        }
        self.sync_demands();
        let cluster = self.cluster_resource();
        let demands = self.demands();
        // Free room counts only on nodes where the smallest waiting container fits.
        let smallest = demands
            .iter()
            .filter_map(|d| d.am.or(d.ask))
            .min_by_key(|r| (r.memory_mb, r.vcores));
        let usable = self.usable(smallest);
        if self.preempting.is_empty() && !self.scheduler.may_preempt(cluster, usable, &demands) {
            // Nothing marked and nothing to mark: no need to list every container.
            return actions;
        }
        let candidates: Vec<Candidate> = self
            .apps
            .iter()
            .filter(|(_, a)| !a.state.is_terminal())
            .flat_map(|(app_id, a)| {
                a.containers.iter().map(|(id, l)| Candidate {
                    id: *id,
                    app: *app_id,
                    resource: l.resource,
                    am: l.am,
                    allocated_ms: l.allocated.mono_ms,
                })
            })
            .collect();
        let wanted = self
            .scheduler
            .preemption_targets(cluster, usable, &demands, &candidates);
        // No longer wanted: spared.
        self.preempting.retain(|c, _| wanted.contains(c));
        let mut notices: BTreeMap<AppAttemptId, Vec<ContainerId>> = BTreeMap::new();
        for c in &wanted {
            if self.preempting.contains_key(c) {
                continue;
            }
            self.preempting
                .insert(*c, now.mono_ms + self.preemption.wait_ms);
            if let Some(cur) = self.apps.get(&c.app()).and_then(|a| a.current()) {
                if cur.registered {
                    notices.entry(cur.id).or_default().push(*c);
                }
            }
        }
        for (attempt, containers) in notices {
            tracing::info!(app_attempt_id = %attempt, containers = containers.len(), "containers marked for preemption");
            actions.push(Action::PushAm {
                attempt,
                event: AmEvent::Preempting(containers),
            });
        }
        let due: Vec<ContainerId> = self
            .preempting
            .iter()
            .filter(|(_, at)| **at <= now.mono_ms)
            .map(|(c, _)| *c)
            .collect();
        for c in &due {
            let Some(node) = self
                .apps
                .get(&c.app())
                .and_then(|a| a.containers.get(c))
                .map(|l| l.node.clone())
            else {
                self.preempting.remove(c);
                continue;
            };
            tracing::info!(container_id = %c, "container preempted");
            if let Some(n) = self.nodes.get_mut(&node) {
                n.to_kill.push((*c, exit_status::PREEMPTED));
            }
            self.complete_container(
                *c,
                exit_status::PREEMPTED,
                "Container preempted by scheduler".into(),
                now,
                &mut actions,
            );
        }
        if !due.is_empty() {
            self.schedule(now, &mut actions);
        }
        actions
    }
}
