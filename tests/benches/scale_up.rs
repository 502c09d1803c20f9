//! Dynamic allocation scale-up latency: from the allocation manager raising
//! its target to the new executor's first task, over 50 scale-ups.
//!
//! `cargo build --release --workspace --bins && cargo bench -p spindle-tests --bench scale_up`

use am_core::eventlog::AppEvent;
use history::log as eventlog;
use spindle_tests::{bin, confs, dynamic, text, Cluster};
use std::collections::HashMap;

fn main() {
    let cluster = Cluster::up(2, &[]);
    let appmaster = bin("appmaster").display().to_string();
    // 10 bursts of 5 executors each: min 0, max 5, idle timeout 1 s, gaps of 2.5 s.
    let mut conf = dynamic(0, 5, 0, "1s");
    conf.push("spark.dynamicAllocation.schedulerBacklogTimeout=1s".into());
    let conf: Vec<&str> = conf.iter().map(String::as_str).collect();
    let mut args = vec!["--executor-cores", "1"];
    args.extend(confs(&conf));
    args.extend([
        "--class", "Bursty", &appmaster, "--jobs", "10", "--tasks", "30",
    ]);
    args.extend(["--task-ms", "400", "--gap-ms", "2500", "--work", "sleep"]);
    let out = cluster.submit(&args);
    assert!(out.status.success(), "{}", text(&out));
    let log = std::fs::read_dir(cluster.path().join("history"))
        .expect("history dir")
        .flatten()
        .next()
        .expect("an event log")
        .path();
    let lines = eventlog::read(&log).expect("event log");
    // For each executor: the last target increase before its container was
    // allocated, and its first task.
    let mut last_raise = None;
    let mut raised_at: HashMap<String, u64> = HashMap::new();
    let mut first_task: HashMap<String, u64> = HashMap::new();
    for l in &lines {
        match &l.event {
            AppEvent::TargetChanged { old, new } if new > old => last_raise = Some(l.ts),
            AppEvent::ContainerAllocated {
                executor: Some(e), ..
            } => {
                if let Some(t) = last_raise {
                    raised_at.insert(e.clone(), t);
                }
            }
            AppEvent::TaskStart { task, .. } => {
                first_task.entry(task.executor.clone()).or_insert(l.ts);
            }
            _ => {}
        }
    }
    let mut lat: Vec<f64> = raised_at
        .iter()
        .filter_map(|(e, t0)| first_task.get(e).map(|t1| t1.saturating_sub(*t0) as f64))
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    assert!(!lat.is_empty(), "no scale-ups observed");
    let p = |q: f64| lat[(((lat.len() - 1) as f64) * q).round() as usize];
    println!(
        "dynamic allocation scale-up (target raised -> new executor's first task), {} scale-ups:",
        lat.len()
    );
    println!(
        "  median {:.0} ms   p99 {:.0} ms   max {:.0} ms   (target < 50 ms median; Spark 4 standalone ~4 s)",
        p(0.5),
        p(0.99),
        lat[lat.len() - 1]
    );
}
