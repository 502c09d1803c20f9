//! `spindle what-if` reads Spindle's own event logs (the comparison's hand-made fixtures,
//! `tests/fixtures/compare/`) and counts them as the comparison does.

use am_core::whatif::{self, LogFormat, Policy, PolicyKind, Request};
use history::log as eventlog;
use report::accounting::account;
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name)
}

#[test]
fn what_if_counts_spindle_logs_as_the_comparison_does() {
    for name in ["static.jsonl", "dynamic.jsonl"] {
        let p = path(name);
        let a = account(&eventlog::read(&p).unwrap()).unwrap();
        let w = whatif::parse_bytes(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(w.format, LogFormat::Spindle, "{name}");
        assert_eq!(w.measured.executor_ms, a.usage.executor_ms, "{name}");
        assert_eq!(w.measured.job_ms, a.job_ms(), "{name}");
        assert_eq!(w.measured.wall_ms, a.usage.wall_ms, "{name}");
        assert_eq!(w.measured.peak_executors, a.usage.peak_executors, "{name}");
        assert_eq!(w.jobs.len(), a.jobs.len(), "{name}");
    }
}

#[test]
fn the_dynamic_spindle_log_replays_under_its_own_settings() {
    let w = whatif::parse_bytes(&std::fs::read(path("dynamic.jsonl")).unwrap()).unwrap();
    assert!(w.dynamic_allocation());
    // The target rises each answered by a registration: 300 ms (0 → 300), 100 ms
    // (2000 → 2100) and 200 ms (11000 → 11200).
    assert_eq!(w.start_latencies_ms, vec![300, 100, 200]);
    let outcome = whatif::what_if(
        &w,
        &Request {
            policies: vec![PolicyKind::Spark],
            start_latency_ms: w.median_start_latency_ms(),
            warmup_ms: Some(w.warmup_ms),
            ..Request::default()
        },
    )
    .unwrap();
    let run = &outcome.runs[0];
    let Policy::Dynamic(c) = &run.policy else {
        panic!("{:?}", run.policy)
    };
    // The log's own settings: max 2, initial 1, idle 3 s.
    assert_eq!((c.max_executors, c.initial_num_executors()), (2, 1));
    assert_eq!(c.executor_idle_timeout_ms, Some(3000));
    // Replayed under its own settings, the jobs take what they took: job 0 1000 → 4000 (the
    // second executor asked at the 1 s backlog timeout, 2000, registered 200 ms later) and
    // job 1 10000 → 11700 (asked at 11000, registered at 11200), the same 6 s apart.
    let p = &run.prediction.figures;
    assert_eq!(
        run.prediction.job_spans,
        vec![(1000, 4000), (10_000, 11_700)]
    );
    assert_eq!(p.job_ms, w.measured.job_ms);
    // The log's executors stayed longer idle than its 3 s timeout (a hand-made log); the
    // replay removes them on time: executor 1 300 → 7000 (idle from 4000), executor 2
    // 2200 → 6200 (idle from 3200), executor 3 11200 → 12000 (the end).
    assert_eq!(p.executor_ms, 6700 + 4000 + 800);
}
