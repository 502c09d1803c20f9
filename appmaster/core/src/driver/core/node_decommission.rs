//! Executors on a node the RM decommissions (YARN's graceful decommission, met as Spark
//! meets it with executor decommission): they take no new task, the tasks they run
//! finish, then each goes as soon as it is idle; none of it counts as a task or executor
//! failure, and the ask is kept up so that replacements come elsewhere (the RM places
//! nothing more on a decommissioning node).

use super::DriverCore;
use crate::allocation::RemovalKind;
use crate::driver::effect::{Effect, Out};
use crate::ids::ExecutorId;
use common::NodeId;
use std::collections::BTreeSet;

impl DriverCore {
    /// The RM says `node` is being decommissioned (`timeout_ms`: how long until it kills
    /// what still runs there, if it said). Its executors get no new tasks; idle ones go
    /// now, busy ones when their tasks end ([`Self::executor_decommissioned`]).
    pub fn on_node_decommissioning(
        &mut self,
        node: &NodeId,
        timeout_ms: Option<u64>,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut out = Out::default();
        let leaving: Vec<ExecutorId> = self.executors.on_node_decommissioning(node);
        // The running tasks are left to finish within the timeout; none is moved.
        let _ = (leaving, timeout_ms);
        self.stop_decommissioned(now_ms, &mut out);
        self.offer(now_ms, &mut out);
        self.finish(out, now_ms)
    }

    /// Stops every decommissioning executor that runs no task (called whenever tasks end
    /// or are placed), and asks for what the target then lacks.
    pub(super) fn stop_decommissioned(&mut self, now_ms: u64, out: &mut Out) {
        let idle: BTreeSet<ExecutorId> = self.executors.drained().into_iter().collect();
        if idle.is_empty() {
            return;
        }
        for id in &idle {
            self.executor_decommissioned(id, &idle, out);
        }
        self.sync_ask(now_ms, out);
    }

    /// A decommissioning executor ran its last task: it goes as one the allocation
    /// manager decommissions, so with shuffle-block migration on its map outputs move to
    /// a peer (not one of `leaving`, nor another on a decommissioning node) or to fallback
    /// storage first; then it exits (its container ends as asked: no failure).
    fn executor_decommissioned(
        &mut self,
        id: &ExecutorId,
        leaving: &BTreeSet<ExecutorId>,
        out: &mut Out,
    ) {
        let reason = "Executor decommission: its node is being decommissioned".to_string();
        self.release_executor(id, reason, RemovalKind::Decommission, leaving, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{conf, ex, exited, job, ok_output, reg};
    use super::*;
    use crate::driver::effect::testing::{asks, launches, stops};
    use crate::driver::test_support::container;
    use crate::eventlog::AppEvent;
    use crate::ids::JobId;
    use common::protocol::exit_status;

    /// Two one-core executors: "1" in container 2 on h:1, "2" in container 3 on h:2.
    fn on_two_nodes() -> DriverCore {
        let mut d = DriverCore::new(conf(2)).unwrap();
        d.start(0);
        let mut c3 = container(3);
        c3.node_id = NodeId("h:2".into());
        d.on_allocated(vec![container(2), c3], 0);
        d.on_executor_registered(&ex("1"), reg("", ""), 0).unwrap();
        d.on_executor_registered(&ex("2"), reg("", ""), 0).unwrap();
        d
    }

    #[test]
    fn a_decommissioning_nodes_executor_finishes_its_task_then_goes_and_is_replaced() {
        let mut d = on_two_nodes();
        let fx = d.submit_job(JobId(0), job(4), 1);
        let first = launches(&fx);
        assert_eq!(first.len(), 2, "one task on each: {fx:?}");
        let fx = d.on_node_decommissioning(&NodeId("h:2".into()), Some(60_000), 2);
        assert!(stops(&fx).is_empty(), "busy: it finishes its task first");
        // Tasks end: executor 2 gets no new one and goes; 1 runs the rest.
        let mut all = Vec::new();
        for (e, t) in first {
            all.extend(d.on_status_update(&e, t.task_id, ok_output(), 3));
        }
        let stopped = stops(&all);
        assert_eq!(stopped.len(), 1, "{all:?}");
        assert_eq!(stopped[0].0, ex("2"));
        assert!(stopped[0].1.contains("decommission"), "{stopped:?}");
        assert!(launches(&all).iter().all(|(e, _)| *e == ex("1")), "{all:?}");
        assert_eq!(asks(&all), [1], "a replacement is asked for");
        // Its container ends as asked: no executor failure, and the job goes on.
        let mut fx = d.on_container_completed(&exited(3, exit_status::ABORTED), 4);
        let mut next = launches(&all);
        while !next.is_empty() {
            let mut more = Vec::new();
            for (e, t) in next {
                assert_eq!(e, ex("1"));
                more.extend(d.on_status_update(&e, t.task_id, ok_output(), 5));
            }
            next = launches(&more);
            fx.extend(more);
        }
        assert!(!fx.iter().any(|e| matches!(e, Effect::Abort { .. })));
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::Log(AppEvent::ExecutorRemoved { executor, reason })
                if executor == "2" && reason.contains("decommission")
        )));
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::JobDone { result: Ok(r), .. } if r.len() == 4)),
            "the job ends with its 4 partitions: {fx:?}"
        );
    }

    #[test]
    fn an_idle_executor_goes_at_once_and_one_killed_by_the_timeout_is_no_failure() {
        let mut d = on_two_nodes();
        d.on_node_decommissioning(&NodeId("h:2".into()), None, 1);
        let fx = d.on_node_decommissioning(&NodeId("h:1".into()), Some(1_000), 1);
        assert_eq!(stops(&fx).len(), 1, "idle: it goes now: {fx:?}");
        // Each a failure otherwise (max 3): four kills of decommissioning executors abort
        // nothing.
        let mut d = on_two_nodes();
        d.submit_job(JobId(0), job(2), 1);
        d.on_node_decommissioning(&NodeId("h:1".into()), Some(1_000), 2);
        d.on_node_decommissioning(&NodeId("h:2".into()), Some(1_000), 2);
        let mut fx = d.on_container_completed(&exited(2, exit_status::ABORTED), 3);
        fx.extend(d.on_container_completed(&exited(3, 137), 3));
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Abort { .. })),
            "{fx:?}"
        );
    }

    /// With shuffle-block migration on, an executor leaving its decommissioning node has
    /// its map outputs moved before it stops: no peer is left (both executors are on the
    /// node), so the node's shuffle service serves them.
    #[test]
    fn with_migration_on_its_map_outputs_move_before_it_stops() {
        use super::super::decommission::ShuffleMigrationConfig;
        use super::super::tests::{drain, shuffle_job, two_executors};
        use common::protocol::ShuffleMigration;
        let mut d = two_executors(false);
        d.conf.shuffle_migration = Some(ShuffleMigrationConfig::default());
        let fx = d.submit_job(JobId(0), shuffle_job(4, 2), 0);
        drain(&mut d, fx, 2);
        let fx = d.on_node_decommissioning(&NodeId("h:1".into()), None, 5);
        let moved: Vec<_> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::MigrateShuffle {
                    worker,
                    source,
                    how,
                    ..
                } => Some((worker.clone(), source.clone(), how.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(moved.len(), 2, "{fx:?}");
        for (worker, source, how) in moved {
            assert_eq!(worker, source, "no peer off the node");
            assert_eq!(how, ShuffleMigration::ServeFromNodeService);
        }
        assert!(stops(&fx).is_empty(), "they stop once migrated: {fx:?}");
    }
}
