//! The simulator drives the daemon's own core: a deterministic trace replayed by the
//! simulator gives the same allocations, in the same order, as the same requests made
//! directly to an `RmState` built the way the daemon builds it (from `RmConfig`).

use common::protocol::{AmEvent, ResourceAsk};
use common::{ContainerId, NodeId, Resource};
use resourcemanager::state::{Action, Now, RmState};
use sls::sim::{node_id, submission, EPOCH_MS};
use sls::{Engine, RmSettings, SimConfig};

const TRACE: &str = r#"
{"am.type": "stream", "job.start.ms": 0, "job.queue.name": "default", "job.user": "u",
 "job.id": "j1",
 "job.tasks": [
  {"container.start.ms": 0, "container.end.ms": 60000},
  {"container.start.ms": 0, "container.end.ms": 60000},
  {"container.start.ms": 0, "container.end.ms": 60000, "container.memory": 2048},
  {"container.start.ms": 0, "container.end.ms": 60000},
  {"container.start.ms": 0, "container.end.ms": 60000, "container.memory": 2048},
  {"container.start.ms": 0, "container.end.ms": 60000}
 ]}
"#;

fn at0() -> Now {
    Now {
        mono_ms: 0,
        wall_ms: EPOCH_MS,
    }
}

/// (container, node) of every container in `actions`, in order.
fn placed(actions: &[Action]) -> Vec<(ContainerId, NodeId)> {
    actions
        .iter()
        .flat_map(|a| match a {
            Action::LaunchAm { container, .. } => vec![(container.id, container.node_id.clone())],
            Action::PushAm {
                event: AmEvent::Allocated(cs),
                ..
            } => cs.iter().map(|c| (c.id, c.node_id.clone())).collect(),
            _ => vec![],
        })
        .collect()
}

#[test]
fn the_simulator_and_direct_calls_get_the_same_allocations_in_order() {
    let jobs = sls::trace::parse(TRACE).unwrap();
    let hosts = ["node0", "node1", "node2"];
    let node = Resource::new(4096, 4);
    let rm = RmSettings::load(None).unwrap();
    let cfg = SimConfig {
        cluster: sls::ClusterSpec {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            node,
            racks: 1,
            heartbeat_ms: 1000,
        },
        rm: rm.clone(),
        sample_ms: 1000,
        record: true,
    };
    let mut engine = Engine::new(cfg, jobs.clone()).unwrap();
    engine.run().unwrap();
    let simulated: Vec<(ContainerId, NodeId)> = engine
        .placed
        .iter()
        .map(|p| (p.container, p.node.clone()))
        .collect();

    // The same requests, made directly as the daemon's shell would make them.
    let mut core = RmState::new(EPOCH_MS, rm.limits(), at0());
    core.set_scheduler(rm.config.build_scheduler().unwrap())
        .unwrap();
    core.set_preemption(rm.preemption());
    for h in hosts {
        let id = node_id(h);
        core.register_node(
            id.clone(),
            id.0.clone(),
            format!("{h}:8042"),
            node,
            &[],
            at0(),
        );
    }
    let (_, actions) = core.submit(submission(&jobs[0]), at0()).unwrap();
    let mut direct = placed(&actions);
    let (token, attempt) = actions
        .iter()
        .find_map(|a| match a {
            Action::LaunchAm {
                container,
                amrm_token,
                ..
            } => Some((amrm_token.clone(), container.id.attempt)),
            _ => None,
        })
        .expect("the AM is placed");
    core.register_am(attempt, &token, "sls".into(), String::new())
        .unwrap();
    // Both sizes under one priority: the simulated AM asks per priority and size.
    let mut asks = Vec::new();
    for mb in [1024, 2048] {
        let count = jobs[0]
            .tasks
            .iter()
            .filter(|t| t.resource.memory_mb == mb)
            .count() as u32;
        asks.push(ResourceAsk {
            key: format!("p00020/{mb}x1"),
            count,
            resource: Resource::new(mb, 1),
            nodes: vec![],
            relax_locality: true,
        });
    }
    let actions = core
        .allocate(attempt, &token, asks, vec![], 0.5, at0())
        .unwrap();
    direct.extend(placed(&actions));
    assert_eq!(simulated.len(), 7, "{simulated:?}");
    assert_eq!(simulated, direct);
}
