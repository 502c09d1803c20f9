//! Accounting against hand-made event logs (`tests/fixtures/compare/`), every figure worked
//! out by hand below. Times are milliseconds after the logs' first event.
//!
//! `dynamic.jsonl` (1-core executors and the AM, all 1408 MB containers; submitted at -2000):
//!
//! | ms | event |
//! |---|---|
//! | 0 | ApplicationStart, target 0→1 |
//! | 100 | container 2 allocated for executor 1 |
//! | 300 | executor 1 added |
//! | 1000 | job 0 (3 tasks) submitted; task 0 on executor 1: no slot left, 2 tasks pending: backlog |
//! | 2000 | target 1→2 |
//! | 2010 | container 3 allocated for executor 2 |
//! | 2100 | executor 2 added, runs task 1: scale-up 1 (backlog 1000, target raised 2000) |
//! | 3000 | task 0 ends; task 2 on executor 1 (not a new executor) |
//! | 3100 | task 1 ends (executor 2 idle from here) |
//! | 4000 | task 2 ends; job 0 ends; target 2→0 |
//! | 7100 | executor 2 removed (idle timeout) |
//! | 9000 | executor 1 removed (idle timeout) |
//! | 10000 | job 1 (1 task) submitted with no executor: backlog |
//! | 11000 | target 0→1 |
//! | 11005 | container 4 allocated for executor 3 |
//! | 11010 | container 5 allocated, not needed: released at 11020 |
//! | 11200 | executor 3 added, runs task 3: scale-up 2 (backlog 10000, target raised 11000) |
//! | 11700 | task 3 ends, job 1 ends |
//! | 12000 | ApplicationEnd (executor 3 still there) |

use am_core::eventlog::AppEvent;
use history::log as eventlog;
use report::accounting::{account, AppAccount, JobAccount};
use std::path::PathBuf;

const BASE: u64 = 1_700_000_000_000;

fn fixture(name: &str) -> AppAccount {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name);
    account(&eventlog::read(&path).expect("fixture reads")).expect("fixture accounts")
}

/// A job's figures: (executor-ms, idle executor-ms, peak executors, tasks, MB-seconds,
/// scale-ups).
fn job_figures(j: &JobAccount) -> (u64, u64, u32, u32, u64, usize) {
    let u = &j.usage;
    (
        u.executor_ms,
        u.idle_executor_ms,
        u.peak_executors,
        u.tasks,
        u.mb_seconds(),
        j.scale_ups.len(),
    )
}

#[test]
fn dynamic_fixture_by_hand() {
    let a = fixture("dynamic.jsonl");
    assert_eq!(a.app_id, "application_1700000000000_0002");
    assert!(a.dynamic);
    assert_eq!(a.final_status.as_deref(), Some("SUCCEEDED"));
    assert_eq!((a.start, a.end), (BASE, BASE + 12_000));
    assert_eq!((a.driver_memory_mb, a.driver_vcores), (1408, 1));

    // Wall time: 0 → 12000.
    assert_eq!(a.usage.wall_ms, 12_000);
    // Job time: job 0 1000→4000 (3000) + job 1 10000→11700 (1700).
    assert_eq!(a.jobs.len(), 2);
    assert_eq!(a.jobs[0].duration_ms(), 3_000);
    assert_eq!(a.jobs[1].duration_ms(), 1_700);
    assert_eq!(a.job_ms(), 4_700);

    // Executor-seconds: executor 1 300→9000 (8700) + executor 2 2100→7100 (5000) +
    // executor 3 11200→12000, the end (800) = 14500 ms.
    assert_eq!(a.usage.executor_ms, 14_500);
    assert_eq!(a.executors.len(), 3);
    assert_eq!(a.executors[2].reason, None, "still there at the end");
    // Busy: executor 1 1000→3000 and 3000→4000 (3000), executor 2 2100→3100 (1000),
    // executor 3 11200→11700 (500) = 4500; idle = 14500 − 4500.
    assert_eq!(
        a.executors[0].busy,
        vec![(BASE + 1000, BASE + 3000), (BASE + 3000, BASE + 4000)]
    );
    assert_eq!(a.usage.idle_executor_ms, 10_000);

    // Containers, allocation → release: c2 100→9000 (8900), c3 2010→7100 (5090),
    // c4 11005→12000 (995), c5 11010→11020 (10) = 14995 ms; the AM 0→12000 = 12000 ms.
    let held: u64 = a.containers.iter().map(|c| c.released - c.allocated).sum();
    assert_eq!(held, 14_995);
    // MB·ms = (14995 + 12000) × 1408 = 38,008,960 → 38008 MB-seconds (rounded down, as
    // YARN); vcore·ms = 26995 → 26 vcore-seconds.
    assert_eq!(a.usage.memory_mb_ms, 38_008_960);
    assert_eq!(a.usage.mb_seconds(), 38_008);
    assert_eq!(a.usage.vcore_ms, 26_995);
    assert_eq!(a.usage.vcore_seconds(), 26);

    // Peak 2 (2100→3100... until 7100); mean = 14500 / 12000.
    assert_eq!(a.usage.peak_executors, 2);
    assert!((a.usage.mean_executors() - 14_500.0 / 12_000.0).abs() < 1e-9);
    assert_eq!(a.usage.tasks, 4);

    // Scale-ups: backlog 1000 → executor 2's first task 2100 (1100; 100 after the target
    // rose at 2000), and backlog 10000 → executor 3's first task 11200 (1200; 200 after
    // 11000). Executor 1's second task (3000) is not one: it was there before.
    let ups: Vec<(u64, Option<u64>, &str)> = a
        .scale_ups
        .iter()
        .map(|s| (s.delay_ms(), s.start_latency_ms(), s.executor.as_str()))
        .collect();
    assert_eq!(ups, vec![(1100, Some(100), "2"), (1200, Some(200), "3")]);
    assert_eq!(a.median_scale_up_ms(), Some(1150));
    assert_eq!(a.median_start_latency_ms(), Some(150));

    // Per job. Job 0, 1000→4000: executors 1 (3000) + 2 (2100→4000: 1900) = 4900 ms, busy
    // 3000 + 1000, idle 900; peak 2; 3 tasks; MB·ms: c2 3000 + c3 (2010→4000) 1990 + the
    // AM 3000 = 7990 × 1408 → 11249 MB-seconds.
    assert_eq!(job_figures(&a.jobs[0]), (4_900, 900, 2, 3, 11_249, 1));
    // Job 1, 10000→11700: executor 3 11200→11700 (500, all busy); peak 1; 1 task; MB·ms:
    // c4 695 + c5 10 + the AM 1700 = 2405 × 1408 → 3386 MB-seconds.
    assert_eq!(job_figures(&a.jobs[1]), (500, 0, 1, 1, 3_386, 1));

    // Queueing: submitted at −2000, running at 0, first task at 1000.
    assert_eq!(a.queue_to_running_ms(), Some(2_000));
    assert_eq!(a.queue_to_first_task_ms(), Some(3_000));
    assert_eq!(a.turnaround_ms(), 14_000);

    // The step series the charts draw.
    let rel = |s: &[(u64, u32)]| s.iter().map(|(t, n)| (t - BASE, *n)).collect::<Vec<_>>();
    assert_eq!(
        rel(&a.executor_series),
        vec![
            (0, 0),
            (300, 1),
            (2100, 2),
            (7100, 1),
            (9000, 0),
            (11200, 1)
        ]
    );
    assert_eq!(
        rel(&a.task_series),
        vec![
            (0, 0),
            (1000, 1),
            (2100, 2),
            (3000, 2),
            (3100, 1),
            (4000, 0),
            (11200, 1),
            (11700, 0)
        ]
    );
}

#[test]
fn static_fixture_by_hand() {
    // Two executors from 250 and 260 to the end at 11000; jobs 1000→3000 and 10000→10500.
    let a = fixture("static.jsonl");
    assert!(!a.dynamic);
    assert_eq!(a.usage.executor_ms, 10_750 + 10_740);
    assert_eq!(a.job_ms(), 2_000 + 500);
    // Busy: executor 1 1000→3000 and 10000→10500, executor 2 1000→2000.
    assert_eq!(a.usage.idle_executor_ms, 21_490 - 3_500);
    // c2 and c3 50→11000, the AM 0→11000: (10950 × 2 + 11000) × 1408 / 1000.
    assert_eq!(a.usage.mb_seconds(), (10_950 * 2 + 11_000) * 1408 / 1000);
    // Both executors were there before the first job: no scale-up.
    assert!(a.scale_ups.is_empty(), "{:?}", a.scale_ups);
    assert_eq!(a.usage.peak_executors, 2);
}

#[test]
fn a_log_without_an_end_is_accounted_to_its_last_event() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compare/dynamic.jsonl");
    let mut lines = eventlog::read(&path).unwrap();
    // Cut after job 0's end (4000): the running AM and executors are counted to there.
    let cut = lines
        .iter()
        .position(|l| matches!(l.event, AppEvent::JobEnd { job: 0, .. }))
        .unwrap();
    lines.truncate(cut + 1);
    let a = account(&lines).unwrap();
    assert_eq!(a.final_status, None);
    assert_eq!(a.end, BASE + 4000);
    // Executor 1 300→4000 + executor 2 2100→4000.
    assert_eq!(a.usage.executor_ms, 3_700 + 1_900);
}

#[test]
fn static_and_dynamic_runs_are_counted_the_same_way() {
    // `spindle compare` divides one side's figures by the other's: the same executors,
    // containers and tasks must count the same whether the log says static, Spark's
    // rules or eager (each executor from its registration to its removal or the end).
    for name in ["static.jsonl", "dynamic.jsonl"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/compare")
            .join(name);
        let lines = eventlog::read(&path).unwrap();
        let as_logged = account(&lines).unwrap();
        for (dynamic, policy) in [(false, None), (true, Some("spark")), (true, Some("eager"))] {
            let mut relabelled = lines.clone();
            for l in &mut relabelled {
                if let AppEvent::ApplicationStart {
                    dynamic_allocation,
                    conf,
                    ..
                } = &mut l.event
                {
                    *dynamic_allocation = dynamic;
                    conf.remove("spindle.dynamicAllocation.policy");
                    if let Some(p) = policy {
                        conf.insert("spindle.dynamicAllocation.policy".into(), p.into());
                    }
                }
            }
            let a = account(&relabelled).unwrap();
            assert_eq!(a.dynamic, dynamic);
            assert_eq!(a.usage, as_logged.usage, "{name} as {policy:?}");
            assert_eq!(a.job_ms(), as_logged.job_ms(), "{name} as {policy:?}");
        }
    }
}
