//! Node health (YARN's UNHEALTHY): a node whose disks are full or unwritable says so in
//! its heartbeats. It keeps its containers but gets no new ones, and its capacity
//! leaves the cluster's total until it is healthy again.

use super::{Action, Now, RmState};
use common::protocol::NodeState;
use common::NodeId;

impl RmState {
    /// A node that heartbeats: RUNNING, or UNHEALTHY or DECOMMISSIONING (alive, but given
    /// no containers).
    pub(super) fn live(state: NodeState) -> bool {
        matches!(
            state,
            NodeState::RUNNING | NodeState::UNHEALTHY | NodeState::DECOMMISSIONING
        )
    }

    /// Applies the health a live node's heartbeat reported (`None`: healthy).
    pub fn node_health(
        &mut self,
        node_id: &NodeId,
        health: Option<String>,
        now: Now,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(state) = self.nodes.get(node_id).map(|n| n.state) else {
            return actions;
        };
        match (state, health) {
            (NodeState::RUNNING, Some(why)) => {
                tracing::warn!(node_id = %node_id, reason = %why, "node UNHEALTHY: no new containers");
                self.unindex(node_id);
                let n = self.nodes.get_mut(node_id).expect("present");
                n.state = NodeState::UNHEALTHY;
                n.health_report = why;
                self.running_total = self.running_total.saturating_sub(&n.capability);
            }
            (NodeState::UNHEALTHY, None) => {
                tracing::info!(node_id = %node_id, "node healthy again: RUNNING");
                let n = self.nodes.get_mut(node_id).expect("present");
                n.state = NodeState::RUNNING;
                n.health_report.clear();
                self.running_total = self.running_total.add(&n.capability);
                self.index(node_id);
                self.schedule(now, &mut actions);
            }
            (NodeState::UNHEALTHY, Some(why)) => {
                self.nodes.get_mut(node_id).expect("present").health_report = why;
            }
            _ => {}
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{at, rm_state};
    use common::protocol::NodeState;
    use common::{NodeId, Resource};

    #[test]
    fn an_unhealthy_node_gets_no_containers_until_it_is_healthy_again() {
        let mut s = rm_state(1);
        let n = NodeId("h:1".into());
        s.register_node(
            n.clone(),
            "h:1".into(),
            String::new(),
            Resource::new(4096, 4),
            &[],
            at(0),
        );
        assert_eq!(s.cluster_resource(), Resource::new(4096, 4));
        s.node_health(&n, Some("local-dir /x is full".into()), at(1));
        let r = &s.node_reports()[0];
        assert_eq!(r.state, NodeState::UNHEALTHY);
        assert_eq!(r.health_report, "local-dir /x is full");
        assert_eq!(
            s.cluster_resource(),
            Resource::ZERO,
            "its capacity left the total"
        );
        // Still alive: heartbeats are taken, and it does not have to register again.
        assert!(s.node_heartbeat(&n, &[], at(2)).is_some());
        assert!(s.free_index.is_empty(), "nothing is placed on it");
        s.node_health(&n, None, at(3));
        assert_eq!(s.node_reports()[0].state, NodeState::RUNNING);
        assert!(s.node_reports()[0].health_report.is_empty());
        assert_eq!(s.cluster_resource(), Resource::new(4096, 4));
        assert_eq!(s.free_index.len(), 1);
    }
}
