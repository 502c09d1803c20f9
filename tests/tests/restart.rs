//! Work-preserving restarts with real daemons: a static 2-executor app runs on through a
//! kill -9 and restart of the RM, then of the NM that hosts an executor (within the node
//! expiry). It SUCCEEDS with the right answer on its first attempt, its event log shows
//! exactly 2 executors added (nothing replaced), and `spindle-submit` exits 0.

use spindle_tests::Cluster;

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
fn survives(who: Option<&str>) {
    let c = Cluster::up(2, &[]);
    // Both executors run tasks of the first job.
    let (run, app) = c.run_static_two_executor_app();
    let name = who.map_or_else(|| nm_of_an_executor(&c, &app), str::to_string);
    c.kill_and_restart(&name);
    c.assert_ran_through(run, &app, &format!("{name} restart"));
}

#[test]
fn an_app_runs_on_through_a_kill_9_and_restart_of_the_rm() {
    survives(Some("resourcemanager"));
}

#[test]
fn an_app_runs_on_through_a_kill_9_and_restart_of_an_executors_node_manager() {
    survives(None);
}
