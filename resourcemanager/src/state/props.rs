//! Properties of the core with the capacity scheduler, over random clusters, queues and
//! applications: no node is ever over its capacity, no container is held twice, no queue
//! passes its maximum, no user passes the factor on its guarantee by more than one
//! container, and once preemption has had its rounds every queue with demand holds its
//! guarantee (or all it asks for).
//!
//! Containers are all one size (1024 MB, 1 vcore) and nodes multiples of it, so free room
//! never splits into unusable pieces: what the scheduler decides is what is measured.

use super::{Action, Now, PreemptionConf, RmState};
use crate::scheduler::{share, CapacityScheduler, QueueConf, QueueDefaults, QueueTree};
use crate::testing::{at, rm_state, submission};
use common::protocol::{ContainerState, ContainerStatus, ResourceAsk};
use common::{AppAttemptId, NodeId, Resource};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const UNIT: Resource = Resource {
    memory_mb: 1024,
    vcores: 1,
};

#[derive(Debug, Clone)]
struct Case {
    /// Each node's size in units.
    nodes: Vec<u64>,
    /// Each leaf's weight (capacities are weights over their sum) and extra maximum.
    queues: Vec<(u32, u32)>,
    user_limit_factor: f64,
    /// Each app: (queue, user, executors it asks for).
    apps: Vec<(usize, usize, u32)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(2u64..=8, 1..=4),
        prop::collection::vec((1u32..=5, 0u32..=100), 2..=3),
        prop::sample::select(vec![1.0, 2.0, 10.0]),
        prop::collection::vec((0usize..3, 0usize..3, 0u32..=12), 1..=6),
    )
        .prop_map(|(nodes, queues, ulf, apps)| {
            let n = queues.len();
            Case {
                nodes,
                queues,
                user_limit_factor: ulf,
                apps: apps.into_iter().map(|(q, u, e)| (q % n, u, e)).collect(),
            }
        })
}

/// Capacities that sum to exactly 100: the weights' shares, the rest on the last leaf.
fn capacities(weights: &[(u32, u32)]) -> Vec<(f64, f64)> {
    let total: u32 = weights.iter().map(|(w, _)| w).sum();
    let mut caps: Vec<f64> = weights
        .iter()
        .map(|(w, _)| (100 * w / total) as f64)
        .collect();
    let sum: f64 = caps.iter().sum();
    *caps.last_mut().expect("at least two") += 100.0 - sum;
    caps.iter()
        .zip(weights)
        .map(|(c, (_, extra))| (*c, (c + *extra as f64).min(100.0)))
        .collect()
}

struct Run {
    rm: RmState,
    /// Live attempts and their AMRM tokens.
    ams: BTreeMap<AppAttemptId, String>,
    /// Each app's (leaf path, user).
    owners: BTreeMap<common::ApplicationId, (String, String)>,
    limits: BTreeMap<String, (f64, f64)>,
    ulf: f64,
}

impl Run {
    fn new(c: &Case) -> Self {
        let mut rm = rm_state(1);
        let caps = capacities(&c.queues);
        let confs: BTreeMap<String, QueueConf> = caps
            .iter()
            .enumerate()
            .map(|(i, (cap, max))| {
                (
                    format!("q{i}"),
                    QueueConf {
                        capacity: Some(*cap),
                        maximum_capacity: Some(*max),
                        ..QueueConf::default()
                    },
                )
            })
            .collect();
        let defaults = QueueDefaults {
            maximum_am_resource_percent: 1.0,
            user_limit_factor: c.user_limit_factor,
            ..QueueDefaults::default()
        };
        let tree = QueueTree::build(&confs, defaults).expect("valid queues");
        let limits = tree
            .queues
            .iter()
            .map(|q| {
                (
                    q.name().to_string(),
                    (q.absolute.capacity, q.absolute.maximum_capacity),
                )
            })
            .collect();
        rm.set_scheduler(Box::new(CapacityScheduler::new(tree)))
            .expect("no apps yet");
        rm.set_preemption(PreemptionConf {
            enabled: true,
            wait_ms: 1000,
        });
        for (i, units) in c.nodes.iter().enumerate() {
            rm.register_node(
                NodeId(format!("n{i}:1")),
                format!("n{i}:1"),
                String::new(),
                Resource::new(units * UNIT.memory_mb, *units as u32),
                &[],
                at(0),
            );
        }
        Self {
            rm,
            ams: BTreeMap::new(),
            owners: BTreeMap::new(),
            limits,
            ulf: c.user_limit_factor,
        }
    }

    /// Carries out actions as AMs would: register when launched (asking for their
    /// executors right away).
    fn follow(
        &mut self,
        actions: Vec<Action>,
        asks: &BTreeMap<common::ApplicationId, u32>,
        now: Now,
    ) {
        let mut pending = actions;
        while let Some(a) = pending.pop() {
            if let Action::LaunchAm {
                container,
                amrm_token,
                ..
            } = a
            {
                let attempt = container.id.attempt;
                self.rm
                    .register_am(attempt, &amrm_token, "h".into(), String::new())
                    .expect("registers");
                self.ams.insert(attempt, amrm_token.clone());
                let n = asks.get(&attempt.app).copied().unwrap_or(0);
                let ask = ResourceAsk {
                    key: "executors".into(),
                    count: n,
                    resource: UNIT,
                    nodes: vec![],
                    relax_locality: true,
                };
                pending.extend(
                    self.rm
                        .allocate(attempt, &amrm_token, vec![ask], vec![], 0.0, now)
                        .expect("allocates"),
                );
            }
        }
    }

    /// Every node heartbeats: it stops what the RM told it to and reports those done
    /// (the attempt's other containers, when a preempted AM ended its attempt).
    fn heartbeats(&mut self, asks: &BTreeMap<common::ApplicationId, u32>, now: Now) {
        let nodes: Vec<NodeId> = self
            .rm
            .node_reports()
            .into_iter()
            .map(|n| n.node_id)
            .collect();
        for n in nodes {
            let Some(out) = self.rm.node_heartbeat(&n, &[], now) else {
                continue;
            };
            let done: Vec<ContainerStatus> = out
                .kill
                .iter()
                .map(|(c, exit)| ContainerStatus {
                    container_id: *c,
                    state: ContainerState::COMPLETE,
                    exit_status: *exit,
                    diagnostics: String::new(),
                    resource: Resource::ZERO,
                })
                .collect();
            let mut actions = out.actions;
            if let Some(more) = self.rm.node_heartbeat(&n, &done, now) {
                actions.extend(more.actions);
            }
            self.follow(actions, asks, now);
        }
    }

    /// The invariants that hold after every step.
    fn check(&self) -> Result<(), TestCaseError> {
        self.rm.audit().map_err(TestCaseError::fail)?;
        let cluster = self.rm.cluster_resource();
        let mut running = Resource::ZERO;
        for n in self.rm.node_reports() {
            prop_assert!(n.capability.fits(&n.used), "node over capacity: {n:?}");
            if n.state == common::protocol::NodeState::RUNNING {
                running = running.add(&n.capability);
            }
        }
        prop_assert_eq!(cluster, running, "the kept cluster total drifted");
        let mut seen = BTreeSet::new();
        let mut user_used: BTreeMap<(String, String), Resource> = BTreeMap::new();
        for (app, (leaf, user)) in &self.owners {
            for c in self.rm.live_containers(*app) {
                prop_assert!(seen.insert(c.id), "container {} held twice", c.id);
                let u = user_used
                    .entry((leaf.clone(), user.clone()))
                    .or_insert(Resource::ZERO);
                *u = u.add(&UNIT);
            }
        }
        let unit = share(&UNIT, &cluster);
        for q in self.rm.queue_views().iter().filter(|q| q.leaf) {
            let (_, max) = self.limits[&q.name];
            prop_assert!(
                share(&q.used, &cluster) <= max + 1e-9,
                "queue {} over its maximum: {:?}",
                q.path,
                q.used
            );
        }
        for ((leaf, user), used) in &user_used {
            let (cap, _) = self.limits[leaf];
            // YARN lets the container that crosses the limit through: one unit over at most.
            prop_assert!(
                share(used, &cluster) <= cap * self.ulf + unit + 1e-9,
                "user {user} in {leaf} holds {used:?}, over {} x its guarantee",
                self.ulf
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn capacity_scheduling_keeps_its_invariants_and_returns_guarantees(c in case()) {
        let mut run = Run::new(&c);
        let asks: BTreeMap<_, _> = c
            .apps
            .iter()
            .enumerate()
            .map(|(i, (_, _, n))| (common::ApplicationId::new(1, i as u32 + 1), *n))
            .collect();
        let mut t = 1;
        for (q, u, _) in &c.apps {
            let sub = common::protocol::AppSubmission {
                queue: format!("q{q}"),
                user: format!("user{u}"),
                am_resource: UNIT,
                ..submission()
            };
            let (id, actions) = run.rm.submit(sub, at(t)).expect("admitted");
            run.owners.insert(id, (format!("q{q}"), format!("user{u}")));
            run.follow(actions, &asks, at(t));
            run.check()?;
            t += 10;
        }
        // Preemption rounds, each past the wait: queues below their guarantee with demand
        // get it back.
        for _ in 0..30 {
            t += 1100;
            let actions = run.rm.preempt(at(t));
            run.follow(actions, &asks, at(t));
            run.heartbeats(&asks, at(t));
            run.check()?;
        }
        let cluster = run.rm.cluster_resource();
        let unit = share(&UNIT, &cluster);
        for q in run.rm.queue_views().iter().filter(|q| q.leaf) {
            let (cap, max) = run.limits[&q.name];
            let demand = share(&q.used.add(&q.pending), &cluster).min(max);
            prop_assert!(
                share(&q.used, &cluster) + unit + 1e-9 >= cap.min(demand) - unit,
                "queue {} holds {:?} (pending {:?}) below its guarantee {cap}",
                q.path, q.used, q.pending
            );
        }
    }
}
