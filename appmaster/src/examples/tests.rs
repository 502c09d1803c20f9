use super::*;
use crate::plan::JobError;
use crate::rdd::LocalRunner;
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

#[test]
fn seed_count_and_sum_of_squares() {
    let (runner, sc) = ctx();
    assert_eq!(
        seed::compute(&sc, 10_000_000).unwrap(),
        (10_000_000, 1_291_890_006_563_070_912)
    );
    let descriptions: Vec<String> = runner.jobs().into_iter().map(|j| j.description).collect();
    assert_eq!(descriptions.len(), 2);
    assert!(
        descriptions[0].starts_with("count at seed.rs:"),
        "{descriptions:?}"
    );
    assert!(
        descriptions[1].starts_with("sum at seed.rs:"),
        "{descriptions:?}"
    );
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
    let before = runner.jobs().len();
    let a = args(&[
        "--jobs",
        "2",
        "--tasks",
        "4",
        "--task-ms",
        "1",
        "--gap-ms=1",
    ]);
    run_example("Bursty", &sc, &a).unwrap();
    let jobs = runner.jobs();
    assert_eq!(jobs.len() - before, 2);
    assert!(jobs[before..]
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
    for (bad, named) in [
        (vec!["--jobz", "2"], "--jobz"),
        (vec!["--jobs", "x"], "--jobs"),
        (vec!["--tasks"], "--tasks"),
        (vec!["--tasks", "0"], "--tasks"),
        (vec!["--work", "nap"], "--work"),
        (vec!["--task-ms=-1"], "--task-ms"),
        (vec!["stray"], "stray"),
    ] {
        let e = run_example("Bursty", &sc, &args(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains(named), "{bad:?}: {e}");
    }
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
