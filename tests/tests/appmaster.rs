//! The application master issue's contract, end to end: spindle-submit, the
//! driver in the AM container, executors in containers, on a 2-NM cluster.

use am_core::eventlog::AppEvent;
use spindle_tests::{
    appmaster, assert_contains, bursty, class_args, eventually, example, executor_pids, failure,
    pids_with_env, success, text, Cluster, NO_CONF,
};
use std::io::Read;
use std::time::{Duration, Instant};

#[test]
fn seed_job_counts_and_sums_right() {
    let c = Cluster::up(2, &[]);
    let t = c.submit_ok(&["--class", "SeedRangeSquareCount", &appmaster()]);
    assert_contains(&t, &["10000000", "1291890006563070912", "SUCCEEDED"]);
    // The driver's output comes before the final state.
    let (result, end) = (
        t.find("1291890006563070912").unwrap(),
        t.find("(state: FINISHED)").expect("the final state"),
    );
    assert!(result < end, "{t}");
    // The event log was written where the cluster's defaults say.
    let logs = c.event_log_files();
    assert_eq!(logs.len(), 1);
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    for ev in [
        "ApplicationStart",
        "JobStart",
        "TaskEnd",
        "ExecutorAdded",
        "ApplicationEnd",
    ] {
        assert!(log.contains(&format!("\"event\":\"{ev}\"")), "{ev} missing");
    }
    // The AM container, which unregistered and exited, ended with its own 0 (not the
    // -107 of a container stopped after its app ended).
    let app = c.app_ids().pop().expect("the app");
    let am = format!("container_{}_01_000001", &app["application_".len()..]);
    let line = eventually(Duration::from_secs(10), "the AM's completion", || {
        let all: String = std::fs::read_dir(c.path().join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect();
        all.lines()
            .find(|l| l.contains("container completed") && l.contains(&am))
            .map(str::to_string)
    });
    assert!(line.contains("exit_status=0"), "{line}");
}

#[test]
fn spark_pi_with_100_slices_is_close() {
    let c = Cluster::up(2, &[]);
    let t = c.submit_ok(&["--class", "SparkPi", &appmaster(), "100"]);
    let pi: f64 = t
        .lines()
        .find_map(|l| l.split("Pi is roughly ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no estimate in {t}"));
    assert!((pi - std::f64::consts::PI).abs() < 0.01, "{pi}");
}

#[test]
fn user_application_submitted_by_path() {
    let c = Cluster::up(2, &[]);
    let app = example("user_app");
    let t = c.submit_ok(&["--name", "my-app", app.to_str().unwrap()]);
    assert!(t.contains("SUCCEEDED"), "{t}");
}

#[test]
fn killed_executor_still_gives_the_right_answer() {
    let c = Cluster::up(2, &[]);
    let child = c.submit_spawn(&class_args(
        &["--num-executors", "2"],
        NO_CONF,
        "Bursty",
        &bursty(1, 8, 1500, 0),
    ));
    let app = eventually(Duration::from_secs(20), "the app", || c.app_ids().pop());
    // Both executors up and working, then one dies.
    let victims = eventually(Duration::from_secs(20), "executors", || {
        let pids = executor_pids(&app);
        (pids.len() == 2).then_some(pids)
    });
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: killing a process of this test's app.
    unsafe {
        libc::kill(victims[0], libc::SIGKILL);
    }
    let t = success(&child.wait_with_output().unwrap());
    assert!(t.contains("answer 28 (expected 28)"), "{t}");
}

#[test]
fn always_failing_task_fails_the_app_with_its_error() {
    let c = Cluster::up(1, &[]);
    let args = class_args(&[], NO_CONF, "FailingTask", &["--message", "kaboom-42"]);
    let t = failure(&c.submit(&args));
    assert_contains(&t, &["kaboom-42", "FAILED"]);
}

#[test]
fn kill_ends_the_app_and_its_containers() {
    let c = Cluster::up(2, &[]);
    let args = ["--jobs", "1", "--tasks", "2", "--task-ms", "60000"];
    let mut child = c.submit_spawn(&class_args(&[], NO_CONF, "Bursty", &args));
    let app = eventually(Duration::from_secs(20), "the app", || c.app_ids().pop());
    eventually(Duration::from_secs(20), "executors running", || {
        (pids_with_env("SPINDLE_APP_ID", &app).len() >= 2).then_some(())
    });
    let out = c.submit_cmd().args(["--kill", &app]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let start = Instant::now();
    let mut o = String::new();
    child.stdout.take().unwrap().read_to_string(&mut o).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{o}");
    assert!(o.contains("KILLED"), "{o}");
    eventually(Duration::from_secs(10), "containers gone", || {
        (pids_with_env("APPLICATION_ID", &app).is_empty()).then_some(())
    });
    assert!(start.elapsed() < Duration::from_secs(15));
    let status = text(&c.submit_cmd().args(["--status", &app]).output().unwrap());
    assert!(status.contains("KILLED"), "{status}");
    // Killing it again, with either tool, says it has ended.
    assert_contains(&text(&out), &[&format!("Killed application {app}")]);
    for again in [
        c.submit_cmd().args(["--kill", &app]).output().unwrap(),
        c.run(&["app", "kill", &app]),
    ] {
        assert!(again.status.success(), "{}", text(&again));
        let t = text(&again);
        assert_contains(&t, &["has already finished", "KILLED"]);
        assert!(!t.contains("Killed application"), "{t}");
    }
}

#[test]
fn bad_conf_is_refused_before_submission() {
    let c = Cluster::up(1, &[]);
    let conf = ["spark.executor.memory=lots"];
    let t = failure(&c.submit(&class_args(&[], &conf, "SeedRangeSquareCount", NO_CONF)));
    assert!(t.contains("spark.executor.memory"), "{t}");
    assert!(c.app_ids().is_empty(), "an app reached the RM");
    // An unknown class, checked against the binary's own list.
    let t = failure(&c.submit(&class_args(&[], NO_CONF, "NoSuch", NO_CONF)));
    assert_contains(
        &t,
        &["--class NoSuch", "no such class", "SparkPi", "Bursty"],
    );
    assert!(c.app_ids().is_empty(), "an app reached the RM");
    // What spindle-submit read.
    let listed = std::process::Command::new(appmaster())
        .arg("--list-classes")
        .output()
        .unwrap();
    assert!(
        text(&listed).lines().any(|l| l == "SparkPi"),
        "{}",
        text(&listed)
    );
}

#[test]
fn the_stock_appmaster_runs_an_example_in_process() {
    let out = std::process::Command::new(appmaster())
        .args(["--class", "SparkPi", "4"])
        .env_remove("SPINDLE_ROLE")
        .output()
        .unwrap();
    assert_contains(&success(&out), &["Pi is roughly 3.1"]);
    let out = std::process::Command::new(appmaster())
        .args(["--class", "NoSuch"])
        .output()
        .unwrap();
    assert_contains(&failure(&out), &["unknown example class \"NoSuch\""]);
}

#[test]
fn a_small_node_starts_the_app_after_the_registered_resources_wait_and_says_so() {
    // 4096 MB: the AM (1408 MB) and one default executor (1408 MB) fit, the second not.
    let c = Cluster::up(1, &["--node-memory-mb", "4096"]);
    let t = c.submit_ok(&[
        "--conf",
        "spark.dynamicAllocation.enabled=false",
        "--num-executors",
        "2",
        "--conf",
        "spark.scheduler.maxRegisteredResourcesWaitingTime=3s",
        "--class",
        "SparkPi",
        &appmaster(),
        "4",
    ]);
    assert_contains(
        &t,
        &[
            "waiting for 2 of 2 executors to register",
            "spark.scheduler.maxRegisteredResourcesWaitingTime",
            "starting the application with 1 executor(s) registered",
            "Pi is roughly",
        ],
    );
    let lines = c.event_log();
    let start = lines
        .iter()
        .find(|l| matches!(l.event, AppEvent::ApplicationStart { .. }))
        .expect("ApplicationStart")
        .ts;
    let first_task = lines
        .iter()
        .find(|l| matches!(l.event, AppEvent::TaskStart { .. }))
        .expect("a task")
        .ts;
    let waited = first_task - start;
    assert!(
        (2900..4000).contains(&waited),
        "the first task started {waited} ms after registration"
    );
}
