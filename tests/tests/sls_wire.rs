//! `spindle sls --wire` (issue 16): the simulated NMs and AMs against the real RM daemon
//! over QUIC.
//!
//! - The simulator and the daemon share the scheduler code: one deterministic trace,
//!   replayed in simulated time in-process and in lockstep against the daemon (one
//!   heartbeat at a time, each followed by a quiet period), gives the same allocations —
//!   the same containers on the same nodes at the same simulated times, and so in the same
//!   order per application.
//! - A small wall-clock run of the CLI allocates and prints its contract lines.

use common::{ContainerId, NodeId, Resource};
use sls::wire::{Daemon, WireOptions};
use sls::{Engine, Options, Workload};
use spindle_tests::{bin, success};
use std::process::Command;
use std::time::Duration;

/// Two jobs on three nodes: a stream job of mixed sizes from t=0, and a MapReduce job
/// (maps, then reduces) submitted at 1.5 s, which waits for the AM share until the first
/// ends. Run times are whole seconds and a half, so no container ends at a heartbeat.
const TRACE: &str = r#"
{"am.type": "stream", "job.start.ms": 0, "job.queue.name": "default", "job.user": "alice",
 "job.id": "j1",
 "job.tasks": [
  {"container.start.ms": 0, "container.end.ms": 1500},
  {"container.start.ms": 0, "container.end.ms": 2500, "container.memory": 2048},
  {"container.start.ms": 0, "container.end.ms": 1500},
  {"container.start.ms": 0, "container.end.ms": 3500},
  {"container.start.ms": 0, "container.end.ms": 1500, "container.memory": 2048},
  {"container.start.ms": 0, "container.end.ms": 2500},
  {"container.start.ms": 0, "container.end.ms": 1500},
  {"container.start.ms": 0, "container.end.ms": 4500, "container.memory": 3072},
  {"container.start.ms": 0, "container.end.ms": 1500},
  {"container.start.ms": 0, "container.end.ms": 2500},
  {"container.start.ms": 0, "container.end.ms": 1500, "container.host": "/rack0/node2"},
  {"container.start.ms": 0, "container.end.ms": 2500, "container.host": "/rack0/node1"}
 ]}
{"am.type": "mapreduce", "job.start.ms": 1500, "job.queue.name": "default", "job.user": "bob",
 "job.id": "j2",
 "job.tasks": [
  {"container.start.ms": 0, "container.end.ms": 1500, "container.type": "map", "container.priority": 20},
  {"container.start.ms": 0, "container.end.ms": 2500, "container.type": "map", "container.priority": 20},
  {"container.start.ms": 0, "container.end.ms": 1500, "container.type": "map", "container.priority": 20},
  {"container.start.ms": 0, "container.end.ms": 1500, "container.type": "reduce", "container.priority": 10},
  {"container.start.ms": 0, "container.end.ms": 2500, "container.type": "reduce", "container.priority": 10}
 ]}
"#;

fn options(trace: &std::path::Path) -> Options {
    Options {
        nodes: Some(3),
        node: Resource::new(4096, 4),
        racks: 1,
        heartbeat_ms: 1000,
        rm_config: None,
        workload: Workload::Trace(trace.to_path_buf()),
        report: None,
    }
}

/// (simulated ms, container, node), in a canonical order: by time, then container id
/// (which the RM gives per application in allocation order).
fn canonical(placed: &[sls::sim::Placed]) -> Vec<(u64, ContainerId, NodeId)> {
    let mut v: Vec<_> = placed
        .iter()
        .map(|p| (p.t_ms, p.container, p.node.clone()))
        .collect();
    v.sort_by_key(|(t, c, _)| (*t, c.attempt.app.seq, c.n));
    v
}

/// What the allocations look like without the cluster timestamp in the ids (the
/// daemon's is its start time; the simulator's a fixed epoch).
fn shown(v: &[(u64, ContainerId, NodeId)]) -> Vec<String> {
    v.iter()
        .map(|(t, c, n)| format!("{t} app{} #{} on {n}", c.attempt.app.seq, c.n))
        .collect()
}

#[test]
fn the_daemon_over_the_wire_allocates_as_the_simulator_does() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.json");
    std::fs::write(&trace, TRACE).unwrap();
    let opts = options(&trace);

    let (jobs, mut cfg) = sls::prepare(&opts).unwrap();
    cfg.record = true;
    let mut engine = Engine::new(cfg, jobs).unwrap();
    engine.run().unwrap();
    let simulated = canonical(&engine.placed);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut wire = WireOptions::new(Daemon::Start {
        bin: bin("resourcemanager"),
    });
    wire.lockstep = Some(Duration::from_millis(60));
    wire.record = true;
    let started = std::time::Instant::now();
    let summary = rt.block_on(sls::wire::run(&opts, &wire)).unwrap();
    let over_the_wire = canonical(&summary.placed);
    assert_eq!(summary.apps_finished, 2, "{}", summary.text());
    // 2 AM containers and 17 task containers, at least (none is preempted or lost).
    assert_eq!(simulated.len(), 19, "{:#?}", shown(&simulated));
    assert_eq!(
        shown(&over_the_wire),
        shown(&simulated),
        "the daemon (left) and the simulator (right) differ"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_small_wire_run_allocates_and_prints_its_contract_lines() {
    let out = Command::new(bin("spindle"))
        .args([
            "sls",
            "--wire",
            "--nodes",
            "50",
            "--apps",
            "5",
            "--containers-per-app",
            "200",
            "--container-ms",
            "200-800",
            "--max-seconds",
            "25",
        ])
        .output()
        .unwrap();
    let text = success(&out);
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    assert!(n >= 3, "{text}");
    let allocs: u64 = lines[n - 2]
        .strip_prefix("allocations/s: ")
        .unwrap_or_else(|| panic!("no allocations/s line second to last:\n{text}"))
        .parse()
        .unwrap();
    assert!(allocs > 0, "{text}");
    assert!(
        lines[n - 1].starts_with("ask to allocation (wall clock): median "),
        "{text}"
    );
    assert!(
        lines[n - 3].contains("divided") || lines[n - 3].contains(" / its wall seconds"),
        "{text}"
    );
    assert!(text.contains("5 applications finished"), "{text}");
    assert!(text.contains("RM process peak RSS:"), "{text}");
}
