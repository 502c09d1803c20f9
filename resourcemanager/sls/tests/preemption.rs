//! The committed two-queue trace replays with preemption on: queue b, idle while a
//! borrows the whole cluster, reaches its guarantee within the preemption wait of
//! asking for it.

use sls::{Engine, Options, Workload};
use std::path::PathBuf;

fn traces() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces")
}

#[test]
fn the_under_served_queue_reaches_its_guarantee_within_the_preemption_wait() {
    let opts = Options {
        nodes: Some(4),
        node: common::Resource::new(8192, 8),
        racks: 1,
        heartbeat_ms: 1000,
        rm_config: Some(traces().join("two-queues.toml")),
        workload: Workload::Trace(traces().join("two-queues.json")),
        report: None,
    };
    let (jobs, mut cfg) = sls::prepare(&opts).unwrap();
    let b_asks_at = jobs.iter().find(|j| j.queue == "b").unwrap().start_ms;
    let wait = cfg.rm.preemption().wait_ms;
    assert_eq!(wait, 5000);
    cfg.sample_ms = 100;
    let mut engine = Engine::new(cfg, jobs).unwrap();
    engine.run().unwrap();
    let b_use = |s: &sls::stats::QueueSample| {
        let q = s.queues.iter().find(|q| q.path == "root.b").unwrap();
        (q.used_pct, q.guarantee_pct)
    };
    // Before b asks, a holds nearly everything.
    let before = engine
        .stats
        .queue_samples
        .iter()
        .rfind(|s| s.t_ms < b_asks_at)
        .unwrap();
    let a = before.queues.iter().find(|q| q.path == "root.a").unwrap();
    assert!(a.used_pct > 90.0, "{a:?}");
    let reached = engine
        .stats
        .queue_samples
        .iter()
        .find(|s| {
            let (used, guarantee) = b_use(s);
            used + 1e-6 >= guarantee
        })
        .expect("b reaches its guarantee");
    // One preemption tick to mark, the wait, one tick to kill and give the room out.
    let limit = b_asks_at + wait + 2 * 250 + 100;
    assert!(
        reached.t_ms <= limit,
        "b reached its guarantee at {} ms, after the wait ({limit} ms)",
        reached.t_ms
    );
    assert!(
        reached.t_ms >= b_asks_at + wait,
        "not before the wait: {} ms",
        reached.t_ms
    );
    assert_eq!(engine.stats.preempted, 15, "a's excess over its half");
    assert_eq!(engine.stats.apps_finished, 2);
}
