//! Shuffle-block migration on decommission (Spark's `spark.decommission.enabled` with
//! `spark.storage.decommission.shuffleBlocks.enabled`), end to end on a 2-NM cluster
//! with no shuffle service for the app: idle executors holding live shuffle output go
//! at once and their output moves, instead of shuffle tracking keeping them.

use am_core::eventlog::{AppEvent, LogLine};
use spindle_tests::{class_args, dynamic, dynamic_with, Cluster};
use std::time::Duration;

/// Dynamic allocation with decommissioning and shuffle-block migration instead of
/// shuffle tracking.
fn migrating(min: u32, more: &[&str]) -> Vec<String> {
    let mut conf = dynamic_with(&[
        &format!("spark.dynamicAllocation.minExecutors={min}"),
        "spark.dynamicAllocation.maxExecutors=2",
        "spark.dynamicAllocation.initialExecutors=2",
        "spark.dynamicAllocation.executorIdleTimeout=1s",
        "spark.dynamicAllocation.shuffleTracking.enabled=false",
        "spark.decommission.enabled=true",
        "spark.storage.decommission.enabled=true",
    ]);
    conf.extend(more.iter().map(|s| s.to_string()));
    conf
}

/// ShuffleReuse: job 1 leaves its map output on both executors, a pause, job 2
/// reads it again. Returns the driver's output and the event log.
fn reuse(c: &Cluster, conf: &[String], pause_ms: u32) -> (String, Vec<LogLine>) {
    let pause = pause_ms.to_string();
    let app_args = ["--records", "200000", "--keys", "50", "--pause-ms", &pause];
    let args = class_args(&["--executor-cores", "1"], conf, "ShuffleReuse", &app_args);
    let out = c.submit_ok(&args);
    assert!(out.contains("job 2: 50 keys, all counts right"), "{out}");
    let lines = c.event_log_files();
    let lines = history::log::read(lines.last().expect("an event log")).expect("event log");
    (out, lines)
}

fn map_stage_submissions(lines: &[LogLine]) -> usize {
    lines
        .iter()
        .filter(
            |l| matches!(&l.event, AppEvent::StageSubmitted { name, .. } if name.contains("map")),
        )
        .count()
}

fn removals(lines: &[LogLine]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| match &l.event {
            AppEvent::ExecutorRemoved { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn executor_seconds(lines: &[LogLine]) -> f64 {
    report::accounting::account(lines)
        .expect("account")
        .usage
        .executor_s()
}

#[test]
fn migrating_idle_executors_output_saves_executor_seconds_and_reruns_nothing() {
    let c = Cluster::up(2, &[]);
    let (_, tracked) = reuse(&c, &dynamic(0, 2, 2, "1s"), 6000);
    let (_, migrated) = reuse(&c, &migrating(0, &[]), 6000);
    // Both executors went idle together with minExecutors=0: no peer is left, so each
    // handed its output to its node's shuffle service, and job 2 re-ran no map task.
    assert_eq!(map_stage_submissions(&migrated), 1, "a map task re-ran");
    let reasons = removals(&migrated);
    let moved = reasons
        .iter()
        .filter(|r| r.contains("shuffle outputs migrated to the node's shuffle service"))
        .count();
    assert!(moved >= 2, "{reasons:?}");
    let (t, m) = (executor_seconds(&tracked), executor_seconds(&migrated));
    eprintln!(
        "executor-seconds: tracking {t:.2}, migration {m:.2} ({:.2})",
        m / t
    );
    assert!(m <= 0.7 * t, "migration {m:.2} s against tracking {t:.2} s");
}

#[test]
fn a_leaving_executor_hands_its_output_to_a_staying_peer() {
    let c = Cluster::up(2, &[]);
    // minExecutors=1: one executor stays, and the other's output moves to it.
    let (_, lines) = reuse(&c, &migrating(1, &[]), 3000);
    assert_eq!(map_stage_submissions(&lines), 1, "a map task re-ran");
    let reasons = removals(&lines);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("shuffle outputs migrated to executor")),
        "{reasons:?}"
    );
}

#[test]
fn fallback_storage_path_holds_the_output_and_goes_with_the_app() {
    let c = Cluster::up(2, &[]);
    let store = c.path().join("fallback");
    let path = format!(
        "spark.storage.decommission.fallbackStorage.path={}",
        store.display()
    );
    let (_, lines) = reuse(&c, &migrating(0, &[&path]), 4000);
    assert_eq!(map_stage_submissions(&lines), 1, "a map task re-ran");
    let reasons = removals(&lines);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("migrated to fallback storage")),
        "{reasons:?}"
    );
    let left: Vec<_> = std::fs::read_dir(&store)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the app's fallback files stayed: {left:?}");
}

/// The AM container's log `file` (`stdout`, `stderr`), if written yet.
fn am_log(c: &Cluster, app: &str, file: &str) -> String {
    let am = format!("{}_01_000001/", app.trim_start_matches("application_"));
    c.container_logs(file)
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&am))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// Polls every 2 ms (the test races the driver's clock) until `f` holds.
fn soon<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal(pids: &[i32], sig: i32) {
    for p in pids {
        // SAFETY: signals to processes of this test's app.
        unsafe {
            libc::kill(*p, sig);
        }
    }
}

#[test]
fn killing_the_peer_during_migration_loses_nothing_but_time() {
    let c = Cluster::up(2, &[]);
    let app_args = ["--records", "200000", "--keys", "50", "--pause-ms", "4000"];
    let args = class_args(
        &["--executor-cores", "1"],
        &migrating(1, &[]),
        "ShuffleReuse",
        &app_args,
    );
    let run = c.submit_running(&args);
    let app = soon("the app id", || run.word("application_"));
    soon("the map stage", || {
        am_log(&c, &app, "stdout")
            .contains("map stage done")
            .then_some(())
    });
    // Both executors are idle now; one goes after its 1 s idle timeout and the other
    // (minExecutors=1) is its peer. Freeze both first, well inside the 1.5 s the
    // driver gives a silent connection: the peer then gets the migration but cannot
    // act on it, and is killed with it in hand.
    let executors = spindle_tests::executor_pids(&app);
    assert_eq!(executors.len(), 2);
    signal(&executors, libc::SIGSTOP);
    let line = soon("a migration to a peer", || {
        am_log(&c, &app, "stderr")
            .lines()
            .find(|l| l.contains("shuffle outputs") && l.contains(" to executor "))
            .map(str::to_string)
    });
    let worker = line.rsplit(' ').next().unwrap().to_string();
    let peer = spindle_tests::pids_with_env("SPINDLE_EXECUTOR_ID", &worker);
    let peer: Vec<i32> = executors
        .iter()
        .copied()
        .filter(|p| peer.contains(p))
        .collect();
    assert_eq!(peer.len(), 1, "executor {worker}'s process");
    signal(&peer, libc::SIGKILL);
    signal(&executors, libc::SIGCONT);
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("job 2: 50 keys, all counts right"), "{out}");
    let files = c.event_log_files();
    let lines = history::log::read(files.last().expect("an event log")).expect("event log");
    let reasons = removals(&lines);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains(&format!("shuffle migration failed: peer {worker} was lost"))),
        "the migration did not fail with its peer: {reasons:?}"
    );
    // The output of both went (the leaving one's was not moved) and was recomputed.
    assert!(map_stage_submissions(&lines) >= 2, "nothing was recomputed");
}
