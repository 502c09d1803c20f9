//! Speculative execution end to end (`spark.speculation=true`, Spark 4's defaults): on a
//! 2-NM cluster, Stragglers' last task is slow on its first attempt only; a copy on
//! another executor wins, the original is killed by its executor and counts as no
//! failure, and the event log, the UI's REST data and the answer say so.

use am_core::eventlog::{AppEvent, LogLine};
use history::UiState;
use spindle_tests::{class_args, Cluster};

/// Stragglers of 12 tasks of 100 ms on 4 one-core executors; the last task takes 3 s on
/// its first attempt.
fn stragglers(c: &Cluster, conf: &[&str]) -> (String, Vec<LogLine>) {
    let args = [
        "--tasks",
        "12",
        "--task-ms",
        "100",
        "--slow-fraction",
        "0.05",
        "--slow-factor",
        "30",
        "--work",
        "sleep",
    ];
    let out = c.submit_ok(&class_args(
        &["--num-executors", "4", "--executor-cores", "1"],
        conf,
        "Stragglers",
        &args,
    ));
    (out, c.event_log())
}

/// What `pick` takes from the events of attempt `attempt` of task 11, the slow one.
fn of_task_11<T>(events: &[&AppEvent], attempt: u32, pick: impl Fn(&AppEvent) -> Option<T>) -> T {
    events
        .iter()
        .filter(|e| match e {
            AppEvent::TaskStart { task, .. } | AppEvent::TaskEnd { task, .. } => {
                task.index == 11 && task.attempt == attempt
            }
            _ => false,
        })
        .find_map(|e| pick(e))
        .unwrap_or_else(|| panic!("nothing of attempt {attempt} of task 11: {events:#?}"))
}

/// How attempt `attempt` of task 11 ended: its reason, error and duration.
fn end_of_task_11(events: &[&AppEvent], attempt: u32) -> (String, Option<String>, u64) {
    of_task_11(events, attempt, |e| match e {
        AppEvent::TaskEnd {
            reason,
            error,
            duration_ms,
            ..
        } => Some((reason.clone(), error.clone(), *duration_ms)),
        _ => None,
    })
}

#[test]
fn the_copy_wins_and_the_killed_original_is_no_failure() {
    let c = Cluster::up(2, &[]);
    // One failure of a task would fail the job: the killed original must not count.
    let (out, lines) = stragglers(&c, &["spark.speculation=true", "spark.task.maxFailures=1"]);
    assert!(out.contains("answer 66 (expected 66)"), "{out}");
    let events: Vec<&AppEvent> = lines.iter().map(|l| &l.event).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AppEvent::SpeculativeTaskSubmitted { index: 11, .. })),
        "{events:#?}"
    );
    // The original (attempt 0) and the copy (attempt 1, speculative) on another executor.
    let start = |attempt: u32| {
        of_task_11(&events, attempt, |e| match e {
            AppEvent::TaskStart { task, .. } => Some((task.executor.clone(), task.speculative)),
            _ => None,
        })
    };
    let (original_exec, original_speculative) = start(0);
    let (copy_exec, copy_speculative) = start(1);
    assert!(!original_speculative && copy_speculative);
    assert_ne!(original_exec, copy_exec);
    let end = |attempt: u32| end_of_task_11(&events, attempt);
    // The first to finish wins: the copy.
    assert_eq!(end(1).0, "Success");
    // The original was killed by its executor, long before its 3 s were up: the reason is
    // the one the executor's report carried, not the driver's note at shutdown.
    let (reason, error, ms) = end(0);
    assert_eq!(reason, "TaskKilled");
    assert_eq!(error.as_deref(), Some("another attempt succeeded"));
    assert!(ms < 2_000, "the original ran {ms} ms");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, AppEvent::TaskEnd { reason, .. } if reason != "Success" && reason != "TaskKilled")),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        AppEvent::JobEnd {
            succeeded: true,
            ..
        }
    )));

    // The UI's Spark REST data marks the copy and counts the kill, not a failure.
    let ui = UiState::from_log(&lines);
    let api = |p: &str| spindle_tests::spark_api(&ui, p);
    let tasks = api("stages/0/0/taskList?length=100");
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 13, "12 tasks and one copy");
    let copies: Vec<_> = tasks.iter().filter(|t| t["speculative"] == true).collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        (&copies[0]["index"], &copies[0]["status"]),
        (&serde_json::json!(11), &serde_json::json!("SUCCESS"))
    );
    let stage = &api("stages")[0];
    assert_eq!(stage["numFailedTasks"], 0);
    assert_eq!(stage["numKilledTasks"], 1);
    assert_eq!(stage["numCompleteTasks"], 12);
    for e in api("allexecutors").as_array().unwrap() {
        assert_eq!(e["failedTasks"], 0, "{e}");
    }
}

#[test]
fn without_speculation_the_straggler_runs_its_course() {
    let c = Cluster::up(2, &[]);
    let (out, lines) = stragglers(&c, &[]);
    assert!(out.contains("answer 66 (expected 66)"), "{out}");
    let events: Vec<&AppEvent> = lines.iter().map(|l| &l.event).collect();
    assert!(!events.iter().any(|e| match e {
        AppEvent::SpeculativeTaskSubmitted { .. } => true,
        AppEvent::TaskStart { task, .. } => task.speculative,
        _ => false,
    }));
    // The only attempt of the slow task ran its 3 s and succeeded.
    let (reason, _, slow) = end_of_task_11(&events, 0);
    assert_eq!(reason, "Success");
    assert!(slow >= 3_000, "{slow} ms");
}
