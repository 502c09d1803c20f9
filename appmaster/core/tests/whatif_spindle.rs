//! What-if against real Spindle event logs (`appmaster/tests/spindle-eventlogs/`, from a
//! `spindle demo` run): the static Bursty run's log, replayed under the dynamic run's
//! settings with its measured start latency, predicts the dynamic run.

mod common;

use am_core::whatif::{self, LogFormat, PolicyKind, Request};
use common::{dynamic_allocation_conf, error};

const DIR: &str = "spindle-eventlogs";

#[test]
fn the_static_log_predicts_the_dynamic_run() {
    let (static_log, dynamic_log) = common::bursty_logs(DIR, ".jsonl");
    assert_eq!(static_log.format, LogFormat::Spindle);
    assert_eq!(static_log.num_tasks, 64);
    // Spindle's executors start in tens of ms (target rise → registration).
    let start = dynamic_log.median_start_latency_ms().unwrap();
    assert!(start < 200, "{start}");
    // Nor does a Spindle executor run its first task any slower.
    assert!(static_log.warmup_ms < 50, "{}", static_log.warmup_ms);
    let conf = dynamic_allocation_conf(&dynamic_log);
    let outcome = whatif::what_if(
        &static_log,
        &Request {
            policies: vec![PolicyKind::Static, PolicyKind::Spark, PolicyKind::Eager],
            conf,
            start_latency_ms: Some(start),
            ..Request::default()
        },
    )
    .unwrap();
    let (m, p) = (&dynamic_log.measured, &outcome.runs[1].prediction.figures);
    println!(
        "start {start} ms: executor-seconds predicted {:.1}, measured {:.1}; job time predicted {:.1} s, measured {:.1} s",
        p.executor_s(),
        m.executor_s(),
        p.job_s(),
        m.job_s()
    );
    assert!(error(p.executor_s(), m.executor_s()).abs() <= 0.05);
    assert!(error(p.job_s(), m.job_s()).abs() <= 0.05);
    // The static log replayed as it ran reproduces itself; eager beats static on
    // executor-seconds at the same job time.
    let (s, e) = (
        &outcome.runs[0].prediction.figures,
        &outcome.runs[2].prediction.figures,
    );
    assert!(error(s.executor_s(), static_log.measured.executor_s()).abs() <= 0.02);
    assert!(e.executor_s() < 0.75 * s.executor_s());
    assert!(e.job_s() <= 1.02 * s.job_s());
}
