//! `spindle demo`: the README's main command. Starts a local cluster (an RM and two NMs as
//! real processes, in a new directory), runs the seed job and the Bursty workload under
//! static allocation, dynamic allocation under Spark's rules and dynamic allocation under
//! Spindle's eager policy (`spindle.dynamicAllocation.policy=eager`), then two Bursty tenants
//! at once the same three ways, prints the comparisons, writes one HTML report with all of
//! them, and stops the cluster: at the end, on an error, and on Ctrl-C.
//!
//! The cluster is sized for the two-tenant part: each NM offers 4096 MB, so it holds two
//! containers of 1408 MB (1g + 384m overhead, the executors' and the AM's size) and the
//! cluster four: one tenant's static share (its AM and 2 executors) fits, two do not.

use crate::compare::{self, Progress, Spec, Submitted};
use ::report::report::Comparison;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    /// Directory for the cluster, the event logs and the report (default: a new temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the cluster's files (certificates, daemon and container logs) afterwards.
    #[arg(long)]
    keep: bool,
    /// No progress display.
    #[arg(long)]
    no_progress: bool,
}

/// Each NM's memory: two 1408 MB containers per node (see the module docs).
const NODE_MEMORY_MB: u64 = 4096;
const NODES: u32 = 2;

/// `spindle compare`'s arguments for Bursty: the seed's dynamic settings with `idle` as the
/// executor idle timeout, 2 jobs of `tasks` tasks of `task_ms`, `gap_ms` apart.
fn bursty(appmaster: &str, idle: &str, tasks: u32, task_ms: u32, gap_ms: u32) -> String {
    format!(
        "--num-executors 2 --executor-cores 1 \
         --conf spark.dynamicAllocation.minExecutors=0 \
         --conf spark.dynamicAllocation.maxExecutors=2 \
         --conf spark.dynamicAllocation.initialExecutors=1 \
         --conf spark.dynamicAllocation.executorIdleTimeout={idle} \
         --conf spark.dynamicAllocation.schedulerBacklogTimeout=1s \
         --class Bursty {appmaster} --jobs 2 --tasks {tasks} --task-ms {task_ms} \
         --gap-ms {gap_ms} --work sleep"
    )
}

/// The comparisons the demo runs: (title, spindle compare's arguments, tenants). Each runs
/// three sides: static, dynamic under Spark's rules, eager.
fn workloads(appmaster: &str) -> Vec<(&'static str, String, u32)> {
    vec![
        (
            "The seed job (SeedRangeSquareCount 400000000)",
            format!(
                "--num-executors 2 --executor-cores 1 \
                 --conf spark.dynamicAllocation.maxExecutors=2 \
                 --class SeedRangeSquareCount {appmaster} 400000000"
            ),
            1,
        ),
        (
            "Bursty: 2 jobs of 32 quarter-second tasks, 5 s apart",
            bursty(appmaster, "3s", 32, 250, 5000),
            1,
        ),
        (
            "Two Bursty tenants at once on a cluster of four containers",
            bursty(appmaster, "2s", 16, 250, 4000),
            2,
        ),
    ]
}

fn unix_secs() -> u64 {
    common::clock::wall_ms() / 1000
}

async fn cluster_up(dir: &Path) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let out = tokio::process::Command::new(&me)
        .args(["cluster", "up", "--nodes", &NODES.to_string(), "--dir"])
        .arg(dir)
        .args(["--node-memory-mb", &NODE_MEMORY_MB.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} cluster up", me.display()))?;
    if !out.status.success() {
        bail!(
            "cluster up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Stops the cluster and removes its files but the event logs (unless `keep`).
fn teardown(cluster: &Path, keep: bool) {
    if cluster.join("pids").is_dir() {
        if let Err(e) = crate::cluster::down(cluster) {
            eprintln!("spindle demo: stopping the cluster: {e:#}");
        }
    }
    if keep {
        return;
    }
    if let Ok(rd) = std::fs::read_dir(cluster) {
        for e in rd.flatten() {
            if e.file_name() == "history" {
                continue;
            }
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

async fn demo(
    cluster: &Path,
    progress: &Progress,
    submitted: &Submitted,
) -> anyhow::Result<Vec<Comparison>> {
    let appmaster = crate::sibling_binary("appmaster")?;
    let t = Instant::now();
    cluster_up(cluster).await?;
    println!(
        "cluster up in {:.1} s: a resourcemanager and {NODES} nodemanagers (processes), {NODE_MEMORY_MB} MB each: room for {} containers of 1408 MB",
        t.elapsed().as_secs_f64(),
        NODES as u64 * (NODE_MEMORY_MB / 1408)
    );
    let conf_dir = cluster.join("conf");
    let mut done = Vec::new();
    let all = workloads(&appmaster.display().to_string());
    let n = all.len();
    for (i, (title, args, tenants)) in all.into_iter().enumerate() {
        let argv: Vec<String> = args.split_whitespace().map(String::from).collect();
        let spec = Spec::new(argv, conf_dir.clone(), tenants)?.with_eager_side()?;
        println!(
            "\n[{}/{n}] {title}: static, then dynamic (Spark's rules), then eager",
            i + 1
        );
        let c = compare::compare(&spec, title, progress, submitted).await?;
        print!("{}", c.text());
        print!("{}", c.ratio_lines());
        done.push(c);
    }
    Ok(done)
}

/// `spindle demo`; returns the exit code.
pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "spindle-demo-{}-{}",
            unix_secs(),
            std::process::id()
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::path::absolute(&dir)?;
    let cluster = dir.join("cluster");
    if cluster.join("pids").is_dir() {
        bail!(
            "{} already holds a cluster; pick another --dir",
            cluster.display()
        );
    }
    println!(
        "Spindle demo: static vs dynamic executor allocation (Spark's rules, and Spindle's eager policy) on a local cluster in {}",
        dir.display()
    );
    let progress = Progress::new(!args.no_progress);
    let submitted: Submitted = Default::default();
    let outcome = tokio::select! {
        r = demo(&cluster, &progress, &submitted) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let code = match outcome {
        None => {
            eprintln!("\nspindle demo: interrupted; stopping the cluster");
            compare::kill_all(&cluster.join("conf"), &submitted).await;
            130
        }
        Some(Err(e)) => {
            eprintln!("spindle demo: {e:#}");
            1
        }
        Some(Ok(comparisons)) => {
            let path = compare::write_report(
                &dir.join("report.html"),
                "Spindle demo: static vs dynamic allocation",
                "The seed job, a bursty workload and two bursty tenants, each run under static allocation, under dynamic allocation with Spark's rules, and under dynamic allocation with Spindle's eager policy (spindle.dynamicAllocation.policy=eager: executors asked for the moment tasks wait, released after a few start latencies idle), on a local cluster of one resource manager and two node managers.",
                &comparisons,
            )?;
            println!("\nevent logs: {}", cluster.join("history").display());
            println!("report: {}", path.display());
            0
        }
    };
    let keep = args.keep;
    let c = cluster.clone();
    let _ = tokio::task::spawn_blocking(move || teardown(&c, keep)).await;
    if code == 0 {
        println!(
            "demo finished in {:.0} s; the cluster is stopped",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(code)
}
