//! Node liveness: a node silent for longer than the node expiry is LOST (its containers
//! end for their applications, whose AMs are told), and the wait for nodes to bring back
//! their containers after an RM restart ends.

use super::{Action, Now, RmState, RESTART_DIAGNOSTICS};
use common::protocol::{exit_status, AmEvent, NodeState};
use common::{ApplicationId, NodeId};

impl RmState {
    /// Ends recovery when its wait is over (15 s, or the node expiry): an attempt whose AM container no
    /// node reported by then lost its AM while the RM was down (its node is gone). A
    /// new attempt replaces it, not counted as a failure.
    fn expire_recovery(&mut self, now: Now, actions: &mut Vec<Action>) {
        if self.recovering_until_ms == 0 || now.mono_ms < self.recovering_until_ms {
            return;
        }
        self.recovering_until_ms = 0;
        let lost: Vec<ApplicationId> = self
            .apps
            .iter()
            .filter(|(_, a)| {
                !a.state.is_terminal()
                    && a.current().is_some_and(|c| {
                        !c.unregistered
                            && c.am_container
                                .is_some_and(|am| !a.containers.contains_key(&am))
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            tracing::warn!(app_id = %id, "no node reported the AM container after the restart");
            if let Some(a) = self.apps.get_mut(&id).and_then(|a| a.current_mut()) {
                a.ended_by_restart = true;
            }
            self.dirty.insert(id);
            let ended = (exit_status::ABORTED, RESTART_DIAGNOSTICS.to_string());
            self.am_attempt_ended(id, ended, now, actions);
        }
    }

    /// Declares LOST every node silent for longer than the expiry, and ends recovery
    /// when its time is up.
    pub fn expire_nodes(&mut self, now: Now) -> Vec<Action> {
        let expired: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                Self::live(n.state)
                    && now.mono_ms.saturating_sub(n.last_heartbeat.mono_ms)
                        > self.limits.nm_expiry_ms
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut actions = Vec::new();
        self.expire_recovery(now, &mut actions);
        for id in &expired {
            tracing::warn!(node_id = %id, "node expired: LOST");
            self.unindex(id);
            let node = self.nodes.get_mut(id).expect("listed above");
            if node.state == NodeState::RUNNING {
                self.running_total = self.running_total.saturating_sub(&node.capability);
            }
            // A node being decommissioned that falls silent runs nothing any more: its
            // decommission is over (YARN would refuse its NM later, by the exclude list).
            node.state = if node.state == NodeState::DECOMMISSIONING {
                self.nodes_dirty.insert(id.clone());
                NodeState::DECOMMISSIONED
            } else {
                NodeState::LOST
            };
            self.tallies.nodes_lost += 1;
            let containers = std::mem::take(&mut node.containers);
            let why = format!("Container released on a *lost* node {id}");
            self.abort_containers(containers, &why, now, &mut actions);
        }
        if !expired.is_empty() {
            for app in self.apps.values() {
                if let Some(a) = app.current() {
                    if a.registered && !app.state.is_terminal() {
                        actions.push(Action::PushAm {
                            attempt: a.id,
                            event: AmEvent::NodesLost(expired.clone()),
                        });
                    }
                }
            }
            self.schedule(now, &mut actions);
        }
        actions
    }
}
