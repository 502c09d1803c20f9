//! The seed job through spindle-submit on a running 2-NM local cluster:
//! submit-to-result wall time (median of 5) and the peak RSS of the AM and of
//! an executor.
//!
//! `cargo build --release --workspace --bins && cargo bench -p spindle-tests --bench seed_job`

use spindle_tests::{bin, text, Cluster};
use std::time::Instant;

fn peak_kb(text: &str, who: &str) -> Option<u64> {
    text.lines()
        .filter(|l| l.starts_with(who) && l.contains("peak RSS:"))
        .filter_map(|l| {
            l.split("peak RSS:")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .max()
}

fn main() {
    let cluster = Cluster::up(2, &[]);
    let appmaster = bin("appmaster").display().to_string();
    // One warm-up run stages the binary with the RM and caches it on the NMs.
    let out = cluster.submit(&["--class", "SeedRangeSquareCount", &appmaster]);
    assert!(out.status.success(), "{}", text(&out));
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let out = cluster.submit(&["--class", "SeedRangeSquareCount", &appmaster]);
        let dt = t0.elapsed().as_secs_f64();
        let t = text(&out);
        assert!(
            out.status.success() && t.contains("1291890006563070912"),
            "{t}"
        );
        times.push(dt);
    }
    times.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let mut am_kb = 0;
    let mut exec_kb = 0;
    for log in cluster.container_logs("stderr") {
        let body = std::fs::read_to_string(&log).unwrap_or_default();
        am_kb = am_kb.max(peak_kb(&body, "driver").unwrap_or(0));
        exec_kb = exec_kb.max(peak_kb(&body, "executor").unwrap_or(0));
    }
    println!("seed job (range(0, 10M).map(x*x).count() + sum) on a 2-NM local cluster:");
    println!(
        "  submit-to-result wall time: median {:.3} s (min {:.3}, max {:.3}) over 5 runs  (target < 1 s; Spark 4 standalone ~17 s)",
        times[2], times[0], times[4]
    );
    println!(
        "  peak RSS: AM/driver {:.1} MB, executor {:.1} MB  (target < 30 MB per executor)",
        am_kb as f64 / 1024.0,
        exec_kb as f64 / 1024.0
    );
}
