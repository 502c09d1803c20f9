//! Dead and restarted peers are noticed in about a second, not after quinn's old 20 s
//! idle timeout: a killed and restarted RM has its nodes back within 3 s, and a reducer
//! fetching from a killed executor (no shuffle service) fails over within 2 s, after
//! which only the map outputs that executor held are computed again.

use am_core::eventlog::{AppEvent, LogLine};
use spindle_tests::{class_args, eventually, pids_with_env, text, Cluster};
use std::time::{Duration, Instant};

fn kill9(pid: i32) {
    // SAFETY: a plain signal to a process this test's cluster started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// `spindle node list` shows `n` nodes, all RUNNING.
fn nodes_running(c: &Cluster, n: usize) -> bool {
    let out = c.run(&["node", "list"]);
    let t = text(&out);
    out.status.success() && t.matches("RUNNING").count() == n
}

/// Kills the RM, waits `down` with it dead, restarts it; the time from the restart until
/// `spindle node list` shows both nodes RUNNING again.
fn rm_outage(c: &Cluster, down: Duration) -> Duration {
    c.kill9("resourcemanager");
    std::thread::sleep(down);
    let restarted = Instant::now();
    c.restart("resourcemanager");
    eventually(
        Duration::from_secs(30),
        "both nodes RUNNING after the RM restart",
        || nodes_running(c, 2).then_some(()),
    );
    restarted.elapsed()
}

#[test]
fn nodes_are_running_again_within_3s_of_an_rm_restart() {
    let c = Cluster::up(2, &[]);
    eventually(Duration::from_secs(30), "both nodes RUNNING", || {
        nodes_running(&c, 2).then_some(())
    });
    // Back at once: the NMs' connections are still open and get a stateless reset.
    let quick = rm_outage(&c, Duration::ZERO);
    // Down for longer than the idle timeout: the NMs are retrying connection attempts.
    let slow = rm_outage(&c, Duration::from_millis(2500));
    eprintln!(
        "nodes RUNNING after an RM restart: {quick:?} (at once), {slow:?} (after 2.5 s down)"
    );
    for (what, t) in [("at once", quick), ("after 2.5 s down", slow)] {
        assert!(
            t < Duration::from_secs(3),
            "nodes took {t:?} to be RUNNING after the RM restarted ({what})"
        );
    }
}

/// The live event log of the cluster's only app (lines being written are skipped).
fn live_log(c: &Cluster) -> Vec<LogLine> {
    let Ok(rd) = std::fs::read_dir(c.path().join("history")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| history::log::read_lenient(&e.path()).ok())
        .next()
        .unwrap_or_default()
}

fn is_map_stage(name: &str) -> bool {
    name.contains("map")
}

/// Stage id → name, of every stage submitted.
fn stage_names(log: &[LogLine]) -> std::collections::BTreeMap<u32, String> {
    log.iter()
        .filter_map(|l| match &l.event {
            AppEvent::StageSubmitted { stage, name, .. } => Some((*stage, name.clone())),
            _ => None,
        })
        .collect()
}

fn executor_pid(app: &str, executor: &str) -> Option<i32> {
    let of_app = pids_with_env("SPINDLE_APP_ID", app);
    pids_with_env("SPINDLE_EXECUTOR_ID", executor)
        .into_iter()
        .find(|p| of_app.contains(p))
}

#[test]
fn a_fetch_from_a_killed_executor_fails_within_2s_and_only_its_maps_rerun() {
    let c = Cluster::up(2, &[]);
    let conf = ["spark.shuffle.service.enabled=false"];
    let args = class_args(
        &["--num-executors", "2"],
        &conf,
        "Sort",
        &["--records", "2000000", "--partitions", "64"],
    );
    let run = c.submit_running(&args);
    // Mid-reduce: the map stage is done and a few reduce tasks have finished.
    let (app, killed, held) = eventually(Duration::from_secs(120), "the reduce stage", || {
        let app = run.word("application_")?;
        let log = live_log(&c);
        let names = stage_names(&log);
        let mut held = std::collections::BTreeMap::<String, u32>::new();
        let mut reduces_done = 0;
        for l in &log {
            if let AppEvent::TaskEnd {
                stage,
                reason,
                task,
                ..
            } = &l.event
            {
                if reason != "Success" {
                    continue;
                }
                match names.get(stage) {
                    Some(n) if is_map_stage(n) => {
                        *held.entry(task.executor.clone()).or_default() += 1
                    }
                    Some(_) if !held.is_empty() => reduces_done += 1,
                    _ => {}
                }
            }
        }
        if reduces_done < 2 {
            return None;
        }
        // The executor holding most map outputs.
        let (killed, n) = held.into_iter().max_by_key(|(_, n)| *n)?;
        Some((app, killed, n))
    });
    let pid = executor_pid(&app, &killed).expect("the executor's process");
    kill9(pid);
    let killed_ms = common::clock::wall_ms();
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("sorted 2000000 records: ok"), "{out}");

    let log = c.event_log();
    let names = stage_names(&log);
    let first_fetch_failure = log
        .iter()
        .find(|l| matches!(&l.event, AppEvent::TaskEnd { reason, .. } if reason == "FetchFailed"))
        .map(|l| l.ts)
        .expect("a fetch failure");
    let latency = first_fetch_failure.saturating_sub(killed_ms);
    // Map tasks run again: those of a map stage's later attempts, and those started
    // after the first attempt completed (a new stage computing the missing outputs).
    let reruns = log
        .iter()
        .filter(|l| l.ts >= killed_ms)
        .filter(|l| {
            matches!(&l.event, AppEvent::TaskStart { stage, .. }
                if names.get(stage).is_some_and(|n| is_map_stage(n)))
        })
        .count();
    eprintln!(
        "fetch failure {latency} ms after the kill; {reruns} map tasks re-ran, the killed executor held {held}"
    );
    assert!(
        latency <= 2000,
        "the first fetch failure came {latency} ms after the executor was killed"
    );
    assert_eq!(
        reruns as u32, held,
        "map tasks re-run after the kill vs. map outputs the killed executor held"
    );
}
