use super::*;
use crate::rdd::{LocalJob, LocalRunner};
use am_core::plan::JobError;
use std::sync::Arc;

fn ctx() -> (Arc<LocalRunner>, SparkContext) {
    let runner = Arc::new(LocalRunner::new(2));
    let sc = SparkContext::new(
        runner.clone(),
        BTreeMap::new(),
        "app-test".into(),
        "examples".into(),
    );
    (runner, sc)
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Runs `example` with these arguments; returns the jobs it ran.
/// The jobs `example` runs with `line` (its arguments, space-separated).
fn jobs_run(runner: &LocalRunner, sc: &SparkContext, example: &str, line: &str) -> Vec<LocalJob> {
    let before = runner.jobs().len();
    let a: Vec<&str> = line.split(' ').collect();
    run_example(example, sc, &args(&a)).unwrap();
    runner.jobs().split_off(before)
}

/// Each of these argument lists fails `example` with an error naming its second part.
fn rejects(sc: &SparkContext, example: &str, cases: &[(Vec<&str>, &str)]) {
    for (bad, named) in cases {
        let e = run_example(example, sc, &args(bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains(named), "{bad:?}: {e}");
    }
}

#[test]
fn seed_count_and_sum_of_squares() {
    let (runner, sc) = ctx();
    assert_eq!(
        seed::compute(&sc, 10_000_000).unwrap(),
        (10_000_000, 1_291_890_006_563_070_912)
    );
    let descriptions: Vec<String> = runner.jobs().into_iter().map(|j| j.description).collect();
    assert_eq!(descriptions.len(), 2);
    for (d, action) in descriptions.iter().zip(["count", "sum"]) {
        assert!(
            d.starts_with(&format!("{action} at seed.rs:")),
            "{descriptions:?}"
        );
    }
    assert_eq!(seed::compute(&sc, 4).unwrap(), (4, 14));
    run_example("SeedRangeSquareCount", &sc, &args(&["1000"])).unwrap();
    assert_eq!(
        runner.last_job().unwrap().description,
        "sum at SeedRangeSquareCount"
    );
    let e = run_example("SeedRangeSquareCount", &sc, &args(&["ten"])).unwrap_err();
    assert!(e.to_string().contains("\"ten\""), "{e}");
}

#[test]
fn spark_pi_is_close() {
    let (_runner, sc) = ctx();
    let pi = pi::estimate(&sc, 100).unwrap();
    assert!((pi - std::f64::consts::PI).abs() < 0.01, "{pi}");
    let pi2 = pi::estimate(&sc, 2).unwrap();
    assert!((pi2 - std::f64::consts::PI).abs() < 0.05, "{pi2}");
    run_example("org.apache.spark.examples.SparkPi", &sc, &[]).unwrap();
    assert!(run_example("SparkPi", &sc, &args(&["0"])).is_err());
}

#[test]
fn bursty_runs_and_checks_its_answers() {
    let (runner, sc) = ctx();
    let a = "--jobs 2 --tasks 4 --task-ms 1 --gap-ms=1";
    let jobs = jobs_run(&runner, &sc, "Bursty", a);
    assert_eq!(jobs.len(), 2);
    assert!(jobs
        .iter()
        .all(|j| j.partitions.len() == 4 && j.description == "sum at Bursty"));
    let a = args(&[
        "--jobs",
        "1",
        "--tasks",
        "3",
        "--task-ms",
        "2",
        "--gap-ms",
        "0",
        "--work",
        "cpu",
    ]);
    run_example("Bursty", &sc, &a).unwrap();
    rejects(
        &sc,
        "Bursty",
        &[
            (vec!["--jobz", "2"], "--jobz"),
            (vec!["--jobs", "x"], "--jobs"),
            (vec!["--tasks"], "--tasks"),
            (vec!["--tasks", "0"], "--tasks"),
            (vec!["--work", "nap"], "--work"),
            (vec!["--task-ms=-1"], "--task-ms"),
            (vec!["stray"], "stray"),
        ],
    );
}

#[test]
fn stragglers_are_slow_on_their_first_attempt_only() {
    assert_eq!(slow_tasks(40, 0.05), 2);
    assert_eq!(slow_tasks(10, 0.0), 0);
    assert_eq!(slow_tasks(3, 1.0), 3);
    let w = Straggle {
        ms: 200,
        slow_from: 38,
        slow_factor: 10,
        kind: WorkKind::Sleep,
    };
    assert_eq!(
        (w.work_ms(37, 0), w.work_ms(38, 0), w.work_ms(39, 1)),
        (200, 2000, 200)
    );
    let (runner, sc) = ctx();
    let a = "--tasks 6 --task-ms 1 --slow-fraction 0.5 --slow-factor=3 --work cpu";
    let jobs = jobs_run(&runner, &sc, "Stragglers", a);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].partitions.len(), 6);
    assert_eq!(jobs[0].description, "sum at Stragglers");
    rejects(
        &sc,
        "Stragglers",
        &[
            (vec!["--slow-fraction", "2"], "--slow-fraction"),
            (vec!["--slow-factor", "x"], "--slow-factor"),
            (vec!["--tasks", "0"], "--tasks"),
            (vec!["--work", "nap"], "--work"),
        ],
    );
}

#[test]
fn failing_task_fails_with_its_message() {
    let (_runner, sc) = ctx();
    let e = run_example("FailingTask", &sc, &[]).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("most recent failure: task failed on purpose"),
        "{msg}"
    );
    assert!(matches!(
        e.downcast_ref::<JobError>(),
        Some(JobError::TaskFailed { .. })
    ));
    let e = run_example("FailingTask", &sc, &args(&["--message", "no luck"])).unwrap_err();
    assert!(format!("{e:#}").contains("no luck"), "{e:#}");
    let e = run_example("FailingTask", &sc, &args(&["--msg", "x"])).unwrap_err();
    assert!(e.to_string().contains("--msg"), "{e}");
}

#[test]
fn word_length() {
    let (runner, sc) = ctx();
    let lines = vec!["a bb, ccc".to_string(), "Dddd a".to_string()];
    let (words, total, longest) = words::compute(&sc, lines).unwrap();
    assert_eq!((words, total, longest.as_deref()), (5, 11, Some("dddd")));
    // The second and third jobs read the cached words.
    let jobs = runner.jobs();
    let stored: usize = jobs
        .iter()
        .flat_map(|j| &j.outputs)
        .map(|o| o.cached.len())
        .sum();
    assert_eq!(stored, sc.default_parallelism() as usize);
    run_example("WordLength", &sc, &[]).unwrap();
}

#[test]
fn unknown_class_lists_the_known_ones() {
    let (_runner, sc) = ctx();
    let e = run_example("NoSuchApp", &sc, &[]).unwrap_err().to_string();
    assert!(e.contains("NoSuchApp"), "{e}");
    for (name, _, _) in EXAMPLES {
        assert!(e.contains(name), "{e}");
    }
    let e = run_example("", &sc, &[]).unwrap_err().to_string();
    assert!(e.contains("SparkPi"), "{e}");
}

#[test]
fn splitmix_is_uniform_enough() {
    let mut r = SplitMix64::new(1);
    let n = 100_000;
    let mean = (0..n).map(|_| r.next_f64()).sum::<f64>() / n as f64;
    assert!((mean - 0.5).abs() < 0.01, "{mean}");
    assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
}

#[test]
fn word_count_matches_a_single_threaded_count() {
    let (runner, sc) = ctx();
    let n = 200_000;
    let text = wordcount::generated_text(n);
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for line in &text {
        for w in line.split(' ') {
            *want.entry(w.to_string()).or_default() += 1;
        }
    }
    assert_eq!(want["alpha"], 10_000);
    assert_eq!(want["beta"], 6_000);
    assert_eq!(want["gamma"], 4_000);
    let maps_before = runner.map_tasks_run();
    let got = wordcount::count_words(&wordcount::generated_rdd(&sc, n), 20).unwrap();
    let all: Vec<(String, u64)> = want.clone().into_iter().collect();
    assert_eq!(got.top, wordcount::top_words(all, 20));
    assert_eq!(got.top[0], ("alpha".to_string(), 10_000));
    assert_eq!(got.distinct, want.len() as u64);
    assert_eq!(got.total, n);
    // One map stage for the three jobs.
    assert_eq!(
        runner.map_tasks_run() - maps_before,
        u64::from(sc.default_parallelism())
    );
    // A text file gives the same counts as the same text generated.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("words.txt");
    std::fs::write(&path, text.join("\n")).unwrap();
    let lines = sc.text_file(path.to_str().unwrap(), Some(3));
    assert_eq!(wordcount::count_words(&lines, 20).unwrap(), got);
    run_example("WordCount", &sc, &args(&[path.to_str().unwrap()])).unwrap();
    run_example("WordCount", &sc, &args(&["--generate", "1000"])).unwrap();
    assert_eq!(
        runner.last_job().unwrap().description,
        "collect at WordCount"
    );
    for bad in [
        vec![],
        vec!["--generate"],
        vec!["--generate", "x"],
        vec!["a", "b"],
    ] {
        assert!(
            run_example("WordCount", &sc, &args(&bad)).is_err(),
            "{bad:?}"
        );
    }
    let e = run_example("WordCount", &sc, &args(&["/nonexistent/words.txt"])).unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/words.txt"), "{e:#}");
}

#[test]
fn word_count_of_a_million_generated_words() {
    let (_runner, sc) = ctx();
    let got = wordcount::count_words(&wordcount::generated_rdd(&sc, 1_000_000), 20).unwrap();
    assert_eq!(got.top[0], ("alpha".to_string(), 50_000));
    assert_eq!(got.top[1], ("beta".to_string(), 30_000));
    assert_eq!(got.top[2], ("gamma".to_string(), 20_000));
    assert_eq!(got.total, 1_000_000);
}

#[test]
fn sort_is_sorted_and_complete() {
    let (runner, sc) = ctx();
    let r = sort::sort_and_check(&sc, 200_000, 4).unwrap();
    assert_eq!(
        r,
        sort::SortCheck {
            records: 200_000,
            partitions: 4
        }
    );
    // The sorted output, collected: sorted, and the same records.
    let input = sort::records(&sc, 20_000, 3);
    let mut want = input.collect().unwrap();
    assert_eq!(generated_records(20_000, 3).collect::<Vec<_>>(), want);
    let got = input.sort_by_key(true, Some(5)).unwrap().collect().unwrap();
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    want.sort();
    let mut got_sorted = got;
    got_sorted.sort();
    assert_eq!(got_sorted, want);
    run_example(
        "Sort",
        &sc,
        &args(&["--records", "5000", "--partitions", "3"]),
    )
    .unwrap();
    assert!(runner.last_job().unwrap().description.ends_with("at Sort"));
    run_example("Sort", &sc, &args(&["--records=0"])).unwrap();
    assert!(run_example("Sort", &sc, &args(&["--partitions", "0"])).is_err());
    assert!(run_example("Sort", &sc, &args(&["--rows", "5"])).is_err());
}

#[test]
fn group_by_key_checks_every_group() {
    let (runner, sc) = ctx();
    run_example(
        "GroupByKey",
        &sc,
        &args(&["--records", "100000", "--keys", "3000", "--partitions", "3"]),
    )
    .unwrap();
    assert!(runner
        .last_job()
        .unwrap()
        .description
        .ends_with("at GroupByKey"));
    // Fewer records than keys: one value a group.
    run_example("GroupByKey", &sc, &args(&["--records=10", "--keys=100"])).unwrap();
    rejects(
        &sc,
        "GroupByKey",
        &[
            (vec!["--keys", "0"], "--keys"),
            (vec!["--partitions", "0"], "--partitions"),
            (vec!["--rows", "5"], "--rows"),
        ],
    );
    // What the check catches.
    let good = GroupStats {
        groups: 3,
        values: 10,
        value_sum: 45,
        largest: 4,
        ..Default::default()
    };
    assert!(group::check(10, 3, &[good]).is_ok());
    for (bad, says) in [
        (GroupStats { values: 9, ..good }, "9 values"),
        (GroupStats { groups: 2, ..good }, "2 groups"),
        (
            GroupStats {
                misfiled: 1,
                ..good
            },
            "wrong key",
        ),
        (
            GroupStats {
                value_sum: 44,
                ..good
            },
            "checksums",
        ),
        (GroupStats { largest: 5, ..good }, "largest"),
    ] {
        let e = group::check(10, 3, &[bad]).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}

#[test]
fn sort_check_catches_bad_output() {
    let part = |partition, count, min, max, sorted| PartStats {
        partition,
        count,
        min: Some(min),
        max: Some(max),
        key_sum: count,
        pair_sum: count,
        sorted,
    };
    let input = [part(0, 3, 0, 9, false), part(1, 2, 0, 9, false)];
    assert!(sort::check(&input, &[part(0, 2, 1, 4, true), part(1, 3, 4, 9, true)]).is_ok());
    let e = sort::check(&input, &[part(0, 2, 1, 5, true), part(1, 3, 4, 9, true)]).unwrap_err();
    assert!(
        e.to_string().contains("below the end of partition 0"),
        "{e}"
    );
    let e = sort::check(&input, &[part(0, 2, 1, 4, false), part(1, 3, 4, 9, true)]).unwrap_err();
    assert!(e.to_string().contains("not sorted"), "{e}");
    let e = sort::check(&input, &[part(0, 2, 1, 4, true)]).unwrap_err();
    assert!(e.to_string().contains("2 records"), "{e}");
    let mut other = part(1, 3, 4, 9, true);
    other.pair_sum += 1;
    let e = sort::check(&input, &[part(0, 2, 1, 4, true), other]).unwrap_err();
    assert!(e.to_string().contains("checksums"), "{e}");
}

/// The acceptance size (slow in debug builds: run with
/// `cargo test --release -- --ignored sort_ten_million`).
#[test]
#[ignore]
fn sort_ten_million_records() {
    let (_runner, sc) = ctx();
    run_example("Sort", &sc, &args(&["--records", "10000000"])).unwrap();
    run_example("WordCount", &sc, &args(&["--generate", "1000000"])).unwrap();
}
