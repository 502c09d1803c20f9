//! Scheduling decisions: which application gets a container, and on which
//! node. FIFO today: the oldest application gets everything it asks for
//! first, and a waiting AM blocks the applications behind it.
//!
//! The lifecycle side ([`RmState`]'s nodes, applications and attempts) calls
//! [`RmState::schedule`] whenever capacity or asks change; a placement comes
//! back as [`Action`]s (an AM launch, containers pushed to an AM).

use super::{Action, LiveContainer, Node, Now, RmState};
use common::protocol::{AmEvent, Container, NodeState, YarnApplicationState as AppState};
use common::token::ContainerTokenIdentifier;
use common::{ApplicationId, NodeId, Resource};

impl RmState {
    /// Places a container of `resource` on a node: preferred nodes first,
    /// else (when allowed) the node with the most free memory.
    fn pick_node(&self, resource: &Resource, preferred: &[String], relax: bool) -> Option<NodeId> {
        let fits = |n: &Node| {
            n.state == NodeState::RUNNING && n.capability.saturating_sub(&n.used).fits(resource)
        };
        let best = |candidates: &mut dyn Iterator<Item = (&NodeId, &Node)>| {
            candidates
                .filter(|(_, n)| fits(n))
                .max_by_key(|(id, n)| {
                    let free = n.capability.saturating_sub(&n.used);
                    (
                        free.memory_mb,
                        std::cmp::Reverse(n.containers.len()),
                        std::cmp::Reverse((*id).clone()),
                    )
                })
                .map(|(id, _)| id.clone())
        };
        if !preferred.is_empty() {
            let matches = |id: &NodeId, n: &Node| {
                preferred.iter().any(|p| {
                    p == &id.0 || id.0.split(':').next() == Some(p.as_str()) || n.address == *p
                })
            };
            let mut it = self.nodes.iter().filter(|(id, n)| matches(id, n));
            if let Some(n) = best(&mut it) {
                return Some(n);
            }
            if !relax {
                return None;
            }
        }
        best(&mut self.nodes.iter())
    }

    fn allocate_on(
        &mut self,
        app_id: ApplicationId,
        node_id: &NodeId,
        resource: Resource,
        now: Now,
    ) -> Container {
        // Wall clock on purpose: the token crosses hosts and the NM checks it
        // against its own wall clock, as YARN does; hosts share no monotonic clock.
        let expiry_ms = now.wall_ms + self.limits.token_expiry_ms;
        let node = self.nodes.get_mut(node_id).expect("picked node exists");
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
                allocated: now,
            },
        );
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
        Container {
            id,
            node_id: node_id.clone(),
            node_address: node.address.clone(),
            resource,
            token,
        }
    }

    /// FIFO: the oldest application gets everything it asks for first.
    pub(super) fn schedule(&mut self, now: Now, actions: &mut Vec<Action>) {
        let app_ids: Vec<ApplicationId> = self
            .apps
            .iter()
            .filter(|(_, a)| matches!(a.state, AppState::ACCEPTED | AppState::RUNNING))
            .map(|(id, _)| *id)
            .collect();
        for app_id in app_ids {
            let app = &self.apps[&app_id];
            let needs_am = app.current().is_some_and(|a| a.am_container.is_none());
            if needs_am {
                let res = app.submission.am_resource;
                let Some(node) = self.pick_node(&res, &[], true) else {
                    // FIFO: a waiting AM blocks the apps behind it.
                    return;
                };
                let container = self.allocate_on(app_id, &node, res, now);
                let app = self.apps.get_mut(&app_id).expect("exists");
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
                continue;
            }
            let registered = app.current().is_some_and(|a| a.registered);
            if !registered {
                continue;
            }
            let keys: Vec<String> = app.asks.keys().cloned().collect();
            let mut allocated = Vec::new();
            for key in keys {
                loop {
                    let ask = match self.apps[&app_id].asks.get(&key) {
                        Some(a) if a.count > 0 => a.clone(),
                        _ => break,
                    };
                    let Some(node) = self.pick_node(&ask.resource, &ask.nodes, ask.relax_locality)
                    else {
                        break;
                    };
                    allocated.push(self.allocate_on(app_id, &node, ask.resource, now));
                    let app = self.apps.get_mut(&app_id).expect("exists");
                    let a = app.asks.get_mut(&key).expect("exists");
                    a.count -= 1;
                    if a.count == 0 {
                        app.asks.remove(&key);
                    }
                }
            }
            if !allocated.is_empty() {
                let attempt = self.apps[&app_id].current().expect("exists").id;
                actions.push(Action::PushAm {
                    attempt,
                    event: AmEvent::Allocated(allocated),
                });
            }
        }
    }
}
