//! FIFO: one queue, `default`; the oldest application gets everything it asks for
//! first, and an AM that fits nowhere blocks the applications behind it (YARN's
//! FifoScheduler).

use super::{Demand, Pick, QueueView, Round, Scheduler, SchedulerKind};
use common::protocol::{ErrorCode, WireError};
use common::{ApplicationId, ContainerId, Resource};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct FifoScheduler {
    /// Live apps and what they hold.
    apps: BTreeMap<ApplicationId, Resource>,
    am_used: Resource,
}

const QUEUE: &str = "default";

fn is_default(queue: &str) -> bool {
    matches!(queue, "" | "default" | "root.default")
}

impl Scheduler for FifoScheduler {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Fifo
    }

    fn admit(&mut self, app: ApplicationId, queue: &str, _user: &str) -> Result<String, WireError> {
        if !is_default(queue) {
            return Err(WireError::new(
                ErrorCode::BadRequest,
                format!("Application {app} submitted to unknown queue: {queue} (the FIFO scheduler has one queue, default)"),
            ));
        }
        self.apps.insert(app, Resource::ZERO);
        Ok(format!("root.{QUEUE}"))
    }

    fn readmit(&mut self, app: ApplicationId, _queue: &str, _user: &str) -> Result<String, String> {
        self.apps.insert(app, Resource::ZERO);
        Ok(format!("root.{QUEUE}"))
    }

    fn remove(&mut self, app: ApplicationId) {
        self.apps.remove(&app);
    }

    fn allocated(&mut self, app: ApplicationId, resource: Resource, am: bool) {
        if let Some(used) = self.apps.get_mut(&app) {
            *used = used.add(&resource);
            if am {
                self.am_used = self.am_used.add(&resource);
            }
        }
    }

    fn released(&mut self, app: ApplicationId, resource: Resource, am: bool) {
        if let Some(used) = self.apps.get_mut(&app) {
            *used = used.saturating_sub(&resource);
            if am {
                self.am_used = self.am_used.saturating_sub(&resource);
            }
        }
    }

    fn group(&self, _app: ApplicationId) -> (usize, String) {
        (0, String::new())
    }

    fn pick_in(&self, _cluster: Resource, round: Round<'_>) -> Option<Pick> {
        for d in round.demands.iter() {
            if round.skips(d.app) {
                if d.am.is_some() {
                    // A waiting AM blocks the apps behind it.
                    return None;
                }
                continue;
            }
            if d.am.is_some() {
                return Some(Pick {
                    app: d.app,
                    am: true,
                });
            }
            if d.ask.is_some() {
                return Some(Pick {
                    app: d.app,
                    am: false,
                });
            }
        }
        None
    }

    fn am_wait_reason(&self, _: Resource, _: ApplicationId, _: Resource) -> Option<String> {
        None
    }

    fn may_administer(&self, _app: ApplicationId, _user: &str) -> bool {
        false
    }

    fn queues(&self, cluster: Resource, demands: &[Demand]) -> Vec<QueueView> {
        let used = self.apps.values().fold(Resource::ZERO, |acc, r| acc.add(r));
        let pct = super::share(&used, &cluster) * 100.0;
        let pending = demands.iter().filter(|d| d.am.is_some()).count() as u32;
        vec![QueueView {
            path: format!("root.{QUEUE}"),
            name: QUEUE.into(),
            depth: 1,
            leaf: true,
            capacity: 100.0,
            maximum_capacity: 100.0,
            absolute_capacity: 100.0,
            absolute_maximum_capacity: 100.0,
            used,
            pending: demands
                .iter()
                .fold(Resource::ZERO, |acc, d| acc.add(&d.pending)),
            used_capacity: pct,
            absolute_used_capacity: pct,
            num_applications: self.apps.len() as u32,
            num_active_applications: self.apps.len() as u32 - pending.min(self.apps.len() as u32),
            num_pending_applications: pending,
            num_containers: 0,
            am_used: self.am_used,
            am_limit: cluster,
            user_limit_factor: 1.0,
            minimum_user_limit_percent: 100.0,
            maximum_applications: u32::MAX,
            maximum_am_resource_percent: 1.0,
            ordering_policy: "fifo".into(),
            state: "RUNNING".into(),
            users: Vec::new(),
        }]
    }

    fn preemption_targets(
        &self,
        _: Resource,
        _: Resource,
        _: &[Demand],
        _: &[super::preemption::Candidate],
    ) -> BTreeSet<ContainerId> {
        BTreeSet::new()
    }
}
