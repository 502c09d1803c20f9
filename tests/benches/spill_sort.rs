//! Sorting more records than executor memory holds: Spindle's `Sort` on a 2-NM local
//! cluster (2 executors of 1 core and 512m, so the shuffle spills and merges) beside
//! GNU `sort -n -S 50% --parallel=2` on the same records written as text, both
//! measured in this run, in records per second.
//!
//! `cargo build --release --workspace --bins && cargo bench -p spindle-tests --bench spill_sort`
//! (`SPILL_SORT_RECORDS=N` for another size than 100,000,000; the text file needs
//! about 31 bytes a record in the temp dir).
//!
//! Spindle's figure is the sort's own time from the event log: from the start of
//! `sortByKey`'s sampling job to the end of the job that reads the sorted output
//! (which generates the records, shuffles them, sorts each partition and checks it);
//! the app's submit-to-exit time is printed too. GNU sort's is its run from the
//! text file (in the page cache) to the sorted file.

use am_core::eventlog::AppEvent;
use appmaster::examples::generated_records;
use spindle_tests::{class_args, eventually, Cluster};
use std::io::{BufWriter, Write};
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let n: u64 = std::env::var("SPILL_SORT_RECORDS")
        .ok()
        .map(|v| v.parse().expect("SPILL_SORT_RECORDS is a number"))
        .unwrap_or(100_000_000);
    // Sort's default: the default parallelism (2 one-core executors), at least one
    // partition per 8M records.
    let partitions = n.div_ceil(8_000_000).max(2) as u32;
    let cluster = Cluster::up(2, &[]);

    // Spindle.
    let records = n.to_string();
    let opts = [
        "--num-executors",
        "2",
        "--executor-cores",
        "1",
        "--executor-memory",
        "512m",
    ];
    let parts = partitions.to_string();
    let args = [
        "--records",
        records.as_str(),
        "--partitions",
        parts.as_str(),
    ];
    let t0 = Instant::now();
    let out = cluster.submit_ok(&class_args(&opts, &[] as &[&str], "Sort", &args));
    let app_s = t0.elapsed().as_secs_f64();
    assert!(out.contains(&format!("sorted {n} records: ok")), "{out}");
    let log = cluster.event_log();
    let mut jobs: Vec<(u64, u64)> = Vec::new();
    let (mut spilled_mem, mut spilled_disk, mut spills_tasks) = (0u64, 0u64, 0u64);
    let mut starts = std::collections::BTreeMap::new();
    for l in &log {
        match &l.event {
            AppEvent::JobStart { job, .. } => {
                starts.insert(*job, l.ts);
            }
            AppEvent::JobEnd { job, .. } => jobs.push((starts[job], l.ts)),
            AppEvent::TaskEnd {
                metrics: Some(m), ..
            } => {
                spilled_mem += m.spill.memory_bytes_spilled;
                spilled_disk += m.spill.disk_bytes_spilled;
                spills_tasks += u64::from(m.spill.disk_bytes_spilled > 0);
            }
            _ => {}
        }
    }
    // Jobs: the input's summary, sortByKey's sampling, the sorted output's summary.
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    let sort_s = (jobs[2].1 - jobs[1].0) as f64 / 1000.0;
    // Each executor says its peak RSS as it exits, which may be after the app ends.
    let peaks = eventually(Duration::from_secs(20), "the executors' peak RSS", || {
        let mut peaks = Vec::new();
        for f in cluster.container_logs("stderr") {
            let body = std::fs::read_to_string(f).unwrap_or_default();
            for l in body.lines().filter(|l| l.starts_with("executor")) {
                if let Some(kb) = l.split("peak RSS:").nth(1) {
                    peaks.push(
                        kb.trim()
                            .trim_end_matches("KB")
                            .trim()
                            .parse::<u64>()
                            .ok()?,
                    );
                }
            }
        }
        (peaks.len() >= 2).then_some(peaks)
    });
    let peak_kb = peaks.into_iter().max().unwrap_or(0);

    // GNU sort on the same records as text.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("records.txt");
    {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&input).unwrap());
        for (k, v) in generated_records(n, partitions) {
            writeln!(w, "{k} {v}").unwrap();
        }
        w.flush().unwrap();
    }
    let text_bytes = std::fs::metadata(&input).unwrap().len();
    let output = dir.path().join("sorted.txt");
    let t0 = Instant::now();
    let status = Command::new("sort")
        .args(["-n", "-S", "50%", "--parallel=2", "-o"])
        .arg(&output)
        .arg(&input)
        .env("LC_ALL", "C")
        .status()
        .expect("run GNU sort");
    let gnu_s = t0.elapsed().as_secs_f64();
    assert!(status.success());
    assert_eq!(std::fs::metadata(&output).unwrap().len(), text_bytes);

    let rate = |s: f64| n as f64 / s;
    println!("sorting {n} (u64, u64) records, measured in this run:");
    println!(
        "  spindle Sort (2 executors x 1 core, 512m, {partitions} partitions): {:.0} records/s ({sort_s:.1} s sampling + shuffle + sort + check; app {app_s:.1} s submit to exit)",
        rate(sort_s)
    );
    println!(
        "    spilled: {:.0} MB in memory, {:.0} MB on disk, by {spills_tasks} tasks; executor peak RSS {:.0} MB (container 896 MB)",
        spilled_mem as f64 / 1e6,
        spilled_disk as f64 / 1e6,
        peak_kb as f64 / 1024.0
    );
    println!(
        "  GNU sort -n -S 50% --parallel=2 on the records as text ({:.1} GB): {:.0} records/s ({gnu_s:.1} s)",
        text_bytes as f64 / 1e9,
        rate(gnu_s)
    );
    println!(
        "  ratio: {:.2} of GNU sort's rate (aim: at least 0.5)",
        gnu_s / sort_s
    );
}
