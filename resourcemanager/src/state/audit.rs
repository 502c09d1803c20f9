//! The core's own accounting, checked against itself: what chaos tests assert after every
//! step (and what a property test can call). Read-only.

use super::RmState;
use common::protocol::NodeState;
use common::{ContainerId, NodeId, Resource};
use std::collections::BTreeMap;

impl RmState {
    /// Every live container is held by one app and placed on one node that lists it;
    /// each node's use is the sum of its containers and within its capacity; the
    /// running total is the RUNNING nodes' capacity. The first broken rule, as text.
    pub fn audit(&self) -> Result<(), String> {
        let mut placed: BTreeMap<NodeId, (Resource, Vec<ContainerId>)> = BTreeMap::new();
        for (app_id, app) in &self.apps {
            for (c, live) in &app.containers {
                if c.app() != *app_id {
                    return Err(format!("{c} is held by {app_id}"));
                }
                let e = placed.entry(live.node.clone()).or_default();
                e.0 = e.0.add(&live.resource);
                e.1.push(*c);
            }
        }
        let mut total = Resource::ZERO;
        for (id, n) in &self.nodes {
            let (used, mut held) = placed.remove(id).unwrap_or_default();
            if n.state == NodeState::RUNNING {
                total = total.add(&n.capability);
                if !n.capability.fits(&n.used) {
                    return Err(format!("node {id} uses {} of {}", n.used, n.capability));
                }
            }
            if used != n.used {
                return Err(format!(
                    "node {id} counts {} used; its containers hold {used}",
                    n.used
                ));
            }
            held.sort();
            let listed: Vec<ContainerId> = n.containers.iter().copied().collect();
            if held != listed {
                return Err(format!(
                    "node {id} lists {listed:?}; apps place {held:?} there"
                ));
            }
        }
        if let Some((node, (_, cs))) = placed.into_iter().next() {
            return Err(format!("{cs:?} are placed on unknown node {node}"));
        }
        if total != self.running_total {
            return Err(format!(
                "running total {} but the RUNNING nodes have {total}",
                self.running_total
            ));
        }
        Ok(())
    }
}
