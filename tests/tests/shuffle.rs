//! Shuffles end to end: wide operations on a 2-NM cluster, through the
//! node's shuffle service or the executors' own block servers.

use am_core::eventlog::AppEvent;
use spindle_tests::{
    appmaster, class_args, dynamic, eventually, executor_pids, files_under, map_stage_submissions,
    xorshift, Cluster,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn shuffle_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir, |p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("shuffle_"))
    })
}

#[test]
fn word_count_through_the_shuffle_service_matches_a_plain_count() {
    let c = Cluster::up(2, &[]);
    // A text with a known answer.
    let mut x: u64 = 7;
    let mut text_in = String::new();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for line in 0..5000 {
        let mut words = Vec::new();
        for _ in 0..12 {
            let r = xorshift(&mut x);
            let w = match r % 10 {
                0..=4 => "alpha".to_string(),
                5..=6 => "beta".to_string(),
                _ => format!("w{}", r % 997),
            };
            *expected.entry(w.clone()).or_default() += 1;
            words.push(w);
        }
        text_in.push_str(&words.join(" "));
        if line % 7 == 0 {
            text_in.push_str("  ");
        }
        text_in.push('\n');
    }
    let input = c.path().join("words.txt");
    std::fs::write(&input, text_in).unwrap();
    let conf = ["spark.shuffle.service.enabled=true"];
    let t = c.submit_ok(&class_args(
        &[],
        &conf,
        "WordCount",
        &[input.to_str().unwrap()],
    ));
    for w in ["alpha", "beta"] {
        assert!(
            t.contains(&format!("{w}: {}", expected[w])),
            "{w} {}: {t}",
            expected[w]
        );
    }
    assert!(
        t.contains(&format!("distinct words: {}", expected.len())),
        "{t}"
    );
    assert!(
        t.contains(&format!("total words: {}", expected.values().sum::<u64>())),
        "{t}"
    );
    // After the app ends its shuffle files are gone from every node.
    eventually(Duration::from_secs(10), "shuffle files removed", || {
        shuffle_files(c.path()).is_empty().then_some(())
    });
}

#[test]
fn sort_is_sorted_and_complete() {
    let c = Cluster::up(2, &[]);
    let t = c.submit_ok(&["--class", "Sort", &appmaster(), "--records", "2000000"]);
    assert!(t.contains("sorted 2000000 records: ok"), "{t}");
}

/// Runs ShuffleReuse and kills one executor while the driver pauses after the
/// map stage. Returns the output and the event log.
fn kill_between_jobs(c: &Cluster, confs: &[&str]) -> (String, Vec<am_core::eventlog::LogLine>) {
    let app_args = ["--records", "200000", "--keys", "50", "--pause-ms", "4000"];
    let args = class_args(&["--num-executors", "2"], confs, "ShuffleReuse", &app_args);
    let run = c.submit_running(&args);
    eventually(Duration::from_secs(30), "the map stage", || {
        run.output().contains("map stage done").then_some(())
    });
    let app = c.app_ids().pop().unwrap();
    let executors = executor_pids(&app);
    assert_eq!(executors.len(), 2);
    // SAFETY: killing a process of this test's app.
    unsafe {
        libc::kill(executors[0], libc::SIGKILL);
    }
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("job 2: 50 keys, all counts right"), "{out}");
    (out, c.event_log())
}

#[test]
fn with_the_service_a_killed_executor_loses_no_map_output() {
    let c = Cluster::up(2, &[]);
    let (_, lines) = kill_between_jobs(&c, &["spark.shuffle.service.enabled=true"]);
    assert_eq!(map_stage_submissions(&lines), 1, "a map task re-ran");
}

#[test]
fn without_the_service_lost_map_output_is_recomputed() {
    let c = Cluster::up(2, &[]);
    let (_, lines) = kill_between_jobs(&c, &["spark.shuffle.service.enabled=false"]);
    assert!(
        map_stage_submissions(&lines) >= 2,
        "the lost map output was not recomputed"
    );
}

#[test]
fn shuffle_tracking_keeps_executors_while_the_shuffle_lives_and_releases_them_after() {
    let c = Cluster::up(2, &[]);
    let app_args = ["--pause-ms", "4000", "--after-release-ms", "4000"];
    let conf = dynamic(0, 2, 2, "1s");
    c.submit_ok(&class_args(
        &["--executor-cores", "1"],
        &conf,
        "ShuffleReuse",
        &app_args,
    ));
    let lines = c.event_log();
    let ts = |pred: &dyn Fn(&AppEvent) -> bool| lines.iter().find(|l| pred(&l.event)).map(|l| l.ts);
    let job1_end = ts(&|e| matches!(e, AppEvent::JobEnd { .. })).unwrap();
    let job2_start = lines
        .iter()
        .filter(|l| matches!(l.event, AppEvent::JobStart { .. }))
        .nth(1)
        .map(|l| l.ts)
        .unwrap();
    assert!(job2_start - job1_end >= 3500, "the pause is there");
    // Idle for 4 s with a 1 s idle timeout, but holding live shuffle data: kept.
    let removed_during_pause = lines
        .iter()
        .filter(|l| l.ts > job1_end && l.ts < job2_start)
        .any(|l| matches!(l.event, AppEvent::ExecutorRemoved { .. }));
    assert!(
        !removed_during_pause,
        "an executor holding live shuffle data was removed"
    );
    // After the release they go for idleness before the app ends.
    let idle_removals = lines
        .iter()
        .filter(|l| l.ts > job2_start)
        .filter(|l| matches!(&l.event, AppEvent::ExecutorRemoved { reason, .. } if reason.contains("idle")))
        .count();
    assert!(
        idle_removals >= 1,
        "no executor was released after the shuffle was"
    );
}
