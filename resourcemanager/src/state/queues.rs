//! The scheduler in the core: replacing it (config, reload), preemption settings,
//! and the queue views for REST, the UI and `spindle queue list`.

use super::{scheduler, PreemptionConf, QueueView, RmState, Scheduler};
use common::Resource;

impl RmState {
    /// Replaces the scheduler (config, SIGHUP reload): every live application is
    /// re-admitted to its queue and its containers counted again. Refused, leaving the
    /// old one, when a live application's queue is not in the new one.
    pub fn set_scheduler(&mut self, mut new: Box<dyn Scheduler>) -> Result<(), String> {
        for (id, app) in self.apps.iter().filter(|(_, a)| !a.state.is_terminal()) {
            let queue = if app.queue_path.is_empty() {
                &app.submission.queue
            } else {
                &app.queue_path
            };
            new.readmit(*id, queue, &app.submission.user)
                .map_err(|e| format!("application {id} runs in queue {queue}: {e}"))?;
            for c in app.containers.values() {
                new.allocated(*id, c.resource, c.am);
            }
        }
        self.scheduler = new;
        // Apps are filed by the new scheduler's groups.
        self.rebuild_demands();
        Ok(())
    }

    pub fn set_preemption(&mut self, conf: PreemptionConf) {
        self.preemption = conf;
        if !conf.enabled {
            self.preempting.clear();
        }
    }

    pub fn scheduler_kind(&self) -> scheduler::SchedulerKind {
        self.scheduler.kind()
    }

    /// Every queue's state of the moment.
    pub fn queue_views(&self) -> Vec<QueueView> {
        self.scheduler
            .queues(self.cluster_resource(), &self.demands())
    }

    /// The RUNNING nodes' total capability.
    pub fn cluster_resource(&self) -> Resource {
        self.running_total
    }
}
