//! Work-preserving restarts with real daemons: a static 2-executor app runs on through a
//! kill -9 and restart of the RM, then of the NM that hosts an executor (within the node
//! expiry). It SUCCEEDS with the right answer on its first attempt, its event log shows
//! exactly 2 executors added (nothing replaced), and `spindle-submit` exits 0.

use am_core::eventlog::AppEvent;
use spindle_tests::{class_args, eventually, sleepy_bursty, Cluster, NO_CONF};
use std::time::Duration;

/// The NM (`nodemanager-N`) that runs a container of `app` other than its AM.
fn nm_of_an_executor(c: &Cluster, app: &str) -> String {
    let seq = app.trim_start_matches("application_");
    for i in 1..=2 {
        let logs = c.path().join(format!("nm-{i}")).join("logs").join(app);
        let executors = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(&format!("container_{seq}_")) && !n.ends_with("_000001")
            })
            .count();
        if executors > 0 {
            return format!("nodemanager-{i}");
        }
    }
    panic!("no NM runs an executor of {app}");
}

/// Runs the app through one kill -9 and restart of `who` (`None`: the NM of an executor).
fn survives(who: Option<&str>, binary: &str) {
    let c = Cluster::up(2, &[]);
    let app_args = sleepy_bursty(2, 16, 300, 1500);
    let mut run = c.submit_running(&class_args(
        &["--num-executors", "2", "--executor-cores", "1"],
        NO_CONF,
        "Bursty",
        &app_args,
    ));
    let app = eventually(Duration::from_secs(30), "the app id", || {
        run.word("application_")
    });
    // Both executors run tasks of the first job.
    eventually(Duration::from_secs(30), "the executors", || {
        let added = c.event_log_files().iter().any(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .matches("ExecutorAdded")
                .count()
                == 2
        });
        added.then_some(())
    });
    let name = who.map_or_else(|| nm_of_an_executor(&c, &app), str::to_string);
    c.kill_and_restart(&name, binary);
    assert!(run.running(), "the app ended at the restart");
    let (status, out) = run.wait();
    assert!(
        status.success(),
        "{name} restart: spindle-submit failed:\n{out}"
    );
    assert!(
        out.contains("FINISHED") || out.contains("SUCCEEDED"),
        "{out}"
    );
    let events: Vec<AppEvent> = c.event_log().into_iter().map(|l| l.event).collect();
    let added = events
        .iter()
        .filter(|e| matches!(e, AppEvent::ExecutorAdded { .. }))
        .count();
    assert_eq!(added, 2, "{name} restart: executors were replaced");
    let report = c.run(&["app", "status", &app]);
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert!(
        !report.contains(&format!(
            "appattempt_{}_000002",
            app.trim_start_matches("application_")
        )),
        "{name} restart: a second attempt ran\n{report}"
    );
}

#[test]
fn an_app_runs_on_through_a_kill_9_and_restart_of_the_rm() {
    survives(Some("resourcemanager"), "resourcemanager");
}

#[test]
fn an_app_runs_on_through_a_kill_9_and_restart_of_an_executors_node_manager() {
    survives(None, "nodemanager");
}
