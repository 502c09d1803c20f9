//! Issue 17's two timed checks on a 2-NM local cluster, as distributions (one run says
//! little on a shared machine):
//!
//! - the seed job (`SeedRangeSquareCount 400000000`) under `spindle compare`, static 2
//!   executors against eager with `maxExecutors=2`: per run the executor-seconds and
//!   job-time ratios (goals: at most 1.00 and 1.05);
//! - Stragglers (`--tasks 40 --task-ms 200 --slow-fraction 0.05 --slow-factor 10 --work
//!   sleep`, 4 one-core executors) without and with `spark.speculation=true`, alternating:
//!   per pair the spindle-submit wall-time and job-time ratios (goal: at most 0.70) and
//!   the answers.
//!
//! `cargo build --release --workspace --bins && cargo bench -p spindle-tests --bench issue17`
//! (`SEED_RUNS`, default 10, and `STRAGGLER_PAIRS`, default 6, set the counts).

use spindle_tests::{appmaster, success, Cluster};
use std::time::Instant;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The number after `prefix` on the line that starts with it.
fn figure(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
}

/// min, median, max, and how many are at most `goal`.
fn summary(what: &str, mut values: Vec<f64>, goal: f64) {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let within = values.iter().filter(|v| **v <= goal + 1e-9).count();
    println!(
        "  {what}: min {:.3}, median {median:.3}, max {:.3}; at most {goal:.2} in {within} of {n}",
        values[0],
        values[n - 1]
    );
}

fn seed_job(cluster: &Cluster, runs: usize) {
    let am = appmaster();
    let (mut exec, mut job) = (Vec::new(), Vec::new());
    println!(
        "seed job, static 2 executors vs eager (maxExecutors=2), {runs} runs of spindle compare:"
    );
    for i in 1..=runs {
        let out = success(&cluster.run(&[
            "compare",
            "--no-progress",
            "--num-executors",
            "2",
            "--executor-cores",
            "1",
            "--conf",
            "spark.dynamicAllocation.maxExecutors=2",
            "--conf",
            "spindle.dynamicAllocation.policy=eager",
            "--class",
            "SeedRangeSquareCount",
            &am,
            "400000000",
        ]));
        let e = figure(&out, "executor-seconds ratio (dynamic/static):");
        let j = figure(&out, "job-time ratio (dynamic/static):");
        println!("  run {i}: executor-seconds {e:.2}, job time {j:.2}");
        exec.push(e);
        job.push(j);
    }
    summary("executor-seconds, eager/static", exec, 1.00);
    summary("job time, eager/static", job, 1.05);
}

/// One Stragglers run: (spindle-submit wall time s, the job's own time s, its answer line).
fn stragglers(cluster: &Cluster, speculation: bool) -> (f64, f64, String) {
    let am = appmaster();
    let mut args = vec!["--num-executors", "4", "--executor-cores", "1"];
    if speculation {
        args.extend(["--conf", "spark.speculation=true"]);
    }
    args.extend([
        "--class",
        "Stragglers",
        &am,
        "--tasks",
        "40",
        "--task-ms",
        "200",
        "--slow-fraction",
        "0.05",
        "--slow-factor",
        "10",
        "--work",
        "sleep",
    ]);
    let t0 = Instant::now();
    let out = cluster.submit_ok(&args);
    let wall = t0.elapsed().as_secs_f64();
    let line = out
        .lines()
        .find(|l| l.starts_with("stragglers:"))
        .unwrap_or_else(|| panic!("no answer in:\n{out}"))
        .to_string();
    // "... answer A (expected E) in MS ms"
    let ms: f64 = line
        .rsplit(" in ")
        .next()
        .and_then(|t| t.trim_end_matches(" ms").parse().ok())
        .unwrap_or_else(|| panic!("no job time in {line:?}"));
    (wall, ms / 1000.0, line)
}

fn speculation(cluster: &Cluster, pairs: usize) {
    let (mut wall, mut job) = (Vec::new(), Vec::new());
    println!("Stragglers, 4 executors, speculation off then on, {pairs} pairs:");
    for i in 1..=pairs {
        let (w0, j0, a0) = stragglers(cluster, false);
        let (w1, j1, a1) = stragglers(cluster, true);
        let answer = |l: &str| l.split(" in ").next().map(str::to_string);
        assert_eq!(answer(&a0), answer(&a1), "the same answer");
        println!(
            "  pair {i}: wall {w0:.3} s vs {w1:.3} s ({:.3}), job {j0:.3} s vs {j1:.3} s ({:.3})",
            w1 / w0,
            j1 / j0
        );
        wall.push(w1 / w0);
        job.push(j1 / j0);
    }
    summary("spindle-submit wall time, on/off", wall, 0.70);
    summary("job time, on/off", job, 0.70);
}

fn main() {
    let cluster = Cluster::up(2, &[]);
    // One warm-up run stages the binary with the RM and caches it on the NMs.
    stragglers(&cluster, false);
    seed_job(&cluster, count("SEED_RUNS", 10));
    speculation(&cluster, count("STRAGGLER_PAIRS", 6));
}
