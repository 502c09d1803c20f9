//! Dynamic allocation end to end: the seed notebook's settings on a 2-NM
//! cluster grow and shrink Bursty's executors; static allocation holds its count.

use am_core::eventlog::{AppEvent, LogLine};
use spindle_tests::{bursty, class_args, dynamic, sleepy_bursty, with, Cluster, NO_CONF};
use std::time::Duration;

/// Active executor counts over time, from the event log, collapsed to changes.
fn series(lines: &[LogLine]) -> Vec<i64> {
    let mut n = 0i64;
    let mut out = vec![0];
    for l in lines {
        match &l.event {
            AppEvent::ExecutorAdded { .. } => n += 1,
            AppEvent::ExecutorRemoved { .. } => n -= 1,
            AppEvent::ApplicationEnd { .. } => break,
            _ => continue,
        }
        if out.last() != Some(&n) {
            out.push(n);
        }
    }
    out
}

fn rises_falls_rises(s: &[i64], peak: i64) -> bool {
    let Some(i) = s.iter().position(|&n| n == peak) else {
        return false;
    };
    let Some(j) = s[i..].iter().position(|&n| n == 0).map(|j| i + j) else {
        return false;
    };
    s[j..].iter().any(|&n| n > 0)
}

/// GET through curl, trusting the cluster CA `ca`: the JSON body, if it is JSON.
fn get_json(url: &str, ca: &std::path::Path) -> Option<serde_json::Value> {
    let (_, body) = spindle_tests::curl(Some(ca), &["-m", "2"], url);
    serde_json::from_str(&body).ok()
}

/// The allocation target after each change, in order.
fn targets(lines: &[LogLine]) -> Vec<i64> {
    lines
        .iter()
        .filter_map(|l| match &l.event {
            AppEvent::TargetChanged { new, .. } => Some(*new),
            _ => None,
        })
        .collect()
}

const BACKLOG_1S: &str = "spark.dynamicAllocation.schedulerBacklogTimeout=1s";
const EAGER: &str = "spindle.dynamicAllocation.policy=eager";

#[test]
fn bursty_grows_to_five_falls_to_zero_and_grows_again() {
    let c = Cluster::up(2, &[]);
    let app_args = sleepy_bursty(2, 40, 500, 9000);
    let conf = with(dynamic(0, 5, 1, "3s"), BACKLOG_1S);
    let args = class_args(&["--executor-cores", "1"], &conf, "Bursty", &app_args);
    // Watch the AM's /executors while it runs, as a user of the Spark UI would.
    let mut run = c.submit_running(&args);
    let ca = c.client_conf().ca;
    let mut seen = vec![];
    let mut all = None;
    loop {
        if !run.running() {
            break;
        }
        // The tracking URL: the RM's proxy to the AM's UI.
        if let Some(url) = run.word("https://") {
            let base = url.trim_end_matches('/');
            if let Some(apps) = get_json(&format!("{base}/api/v1/applications"), &ca) {
                let id = apps[0]["id"].as_str().unwrap_or_default().to_string();
                if let Some(ex) =
                    get_json(&format!("{base}/api/v1/applications/{id}/executors"), &ca)
                {
                    let n = ex
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|e| e["id"] != "driver" && e["isActive"] == true)
                        .count() as i64;
                    if seen.last() != Some(&n) {
                        seen.push(n);
                    }
                }
                if let Some(a) = get_json(
                    &format!("{base}/api/v1/applications/{id}/allexecutors"),
                    &ca,
                ) {
                    all = Some(a);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
    // Every job's answer is right (Bursty checks and prints it).
    assert_eq!(out.matches("answer 780 (expected 780)").count(), 2, "{out}");
    assert!(
        rises_falls_rises(&seen, 5),
        "REST /executors over time: {seen:?}"
    );
    let lines = c.event_log();
    let s = series(&lines);
    assert!(
        rises_falls_rises(&s, 5),
        "event log executors over time: {s:?}"
    );
    assert!(s.iter().all(|&n| n <= 5), "{s:?}");
    // Removals between the jobs are for idleness, and /allexecutors kept the history.
    let idle_removals = lines
        .iter()
        .filter(|l| matches!(&l.event, AppEvent::ExecutorRemoved { reason, .. } if reason == "idle timeout"))
        .count();
    assert!(idle_removals >= 5, "{idle_removals}");
    let all = all.expect("allexecutors was served");
    let removed = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["removeReason"] == "idle timeout")
        .count();
    assert!(removed >= 5, "{all}");
    // The target went up by the ramp 1, 2, 4 ... capped at max.
    let targets = targets(&lines);
    assert!(targets.windows(2).any(|w| w == [1, 2]), "{targets:?}");
    assert!(targets.windows(2).any(|w| w == [2, 4]), "{targets:?}");
    assert!(targets.windows(2).any(|w| w == [4, 5]), "{targets:?}");
    assert!(targets.iter().all(|&t| (0..=5).contains(&t)), "{targets:?}");
}

#[test]
fn static_allocation_holds_exactly_its_executors() {
    let c = Cluster::up(2, &[]);
    let opts = ["--num-executors", "3", "--executor-cores", "1"];
    c.submit_ok(&class_args(
        &opts,
        NO_CONF,
        "Bursty",
        &bursty(2, 6, 200, 2000),
    ));
    let lines = c.event_log();
    let s = series(&lines);
    assert_eq!(s, vec![0, 1, 2, 3], "executors over time: {s:?}");
    assert!(!lines
        .iter()
        .any(|l| matches!(l.event, AppEvent::TargetChanged { .. })));
}

#[test]
fn eager_policy_asks_at_once_and_releases_within_a_fraction_of_a_second() {
    let c = Cluster::up(2, &[]);
    let conf = with(dynamic(0, 4, 1, "60s"), EAGER);
    let app_args = sleepy_bursty(2, 12, 300, 1500);
    let out = c.submit_ok(&class_args(
        &["--executor-cores", "1"],
        &conf,
        "Bursty",
        &app_args,
    ));
    assert_eq!(out.matches("answer 66 (expected 66)").count(), 2, "{out}");
    let lines = c.event_log();
    // No backlog timer, no ramp: each job's stage raises the target to all it needs (4) in
    // the same step, and it falls to 0 when the job is done.
    let submitted: Vec<u64> = lines
        .iter()
        .filter(|l| matches!(l.event, AppEvent::StageSubmitted { .. }))
        .map(|l| l.ts)
        .collect();
    let raised: Vec<u64> = lines
        .iter()
        .filter(|l| matches!(l.event, AppEvent::TargetChanged { new: 4, .. }))
        .map(|l| l.ts)
        .collect();
    assert_eq!(submitted.len(), 2);
    assert_eq!(
        raised, submitted,
        "the target rises on the stage submission"
    );
    let targets = targets(&lines);
    assert!(
        targets.windows(2).all(|w| w[1] <= w[0] || w[1] == 4),
        "every rise goes straight to 4, no ramp: {targets:?}"
    );
    assert_eq!(targets.last(), Some(&0), "{targets:?}");
    // In the 1.5 s gap every executor goes (the 60 s executorIdleTimeout does not apply),
    // a fraction of a second after the first job's end.
    let s = series(&lines);
    assert!(rises_falls_rises(&s, 4), "executors over time: {s:?}");
    let first_end = lines
        .iter()
        .find(|l| matches!(l.event, AppEvent::JobEnd { .. }))
        .unwrap()
        .ts;
    let removals: Vec<u64> = lines
        .iter()
        .filter(|l| matches!(&l.event, AppEvent::ExecutorRemoved { reason, .. } if reason == "idle timeout"))
        .map(|l| l.ts)
        .collect();
    assert!(removals.len() >= 4, "{removals:?}");
    assert!(
        removals[..4].iter().all(|t| t - first_end < 1000),
        "released {:?} ms after the job",
        removals.iter().map(|t| t - first_end).collect::<Vec<_>>()
    );
}

#[test]
fn an_unknown_allocation_policy_is_refused_before_submission() {
    let c = Cluster::up(1, &[]);
    let conf = with(
        dynamic(0, 2, 1, "1s"),
        "spindle.dynamicAllocation.policy=greedy",
    );
    let out = c.submit(&class_args(
        &["--executor-cores", "1"],
        &conf,
        "SeedRangeSquareCount",
        &["1000"],
    ));
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("spindle.dynamicAllocation.policy") && text.contains("greedy"),
        "{text}"
    );
    assert!(c.app_ids().is_empty(), "nothing was submitted: {text}");
}
