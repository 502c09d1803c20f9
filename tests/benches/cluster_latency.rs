//! Allocation and launch latency on a real 2-NM local cluster.
//!
//! `cargo build --release --workspace --bins && cargo bench -p spindle-tests --bench cluster_latency`
//!
//! The bench submits itself as the application master. The AM asks for one
//! container at a time, 200 times, and measures:
//! - allocation latency: the Allocate call sent to the container arriving on
//!   the AM's push stream;
//! - launch latency: the container arriving to the NM answering that its
//!   process is running.
//!
//! It prints `RESULT <json>` on its stdout (the AM container's log), which the
//! parent reads back and summarizes.

use common::client::{AmEnv, AmRmClient, NmClient};
use common::protocol::{
    AmEvent, AppSubmission, FinalApplicationStatus, LaunchSpec, ResourceAsk, YarnApplicationState,
};
use common::tls::TlsIdentity;
use common::Resource;
use spindle_tests::Cluster;
use std::time::{Duration, Instant};

const CONTAINERS: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if args.iter().any(|a| a == "am") {
        if let Err(e) = rt.block_on(am()) {
            eprintln!("bench AM failed: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    rt.block_on(parent());
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The same 200 allocations under each scheduler, one after the other in one run.
async fn parent() {
    for scheduler in ["capacity", "fifo"] {
        one_cluster(scheduler).await;
    }
}

async fn one_cluster(scheduler: &str) {
    let cluster = Cluster::up(2, &["--scheduler", scheduler]);
    let rm = cluster.rm_client();
    let me = std::env::current_exe().expect("current exe");
    let staged = rm.stage_file(&me, "bench-am", true).await.expect("stage");
    let app = rm
        .submit(AppSubmission {
            name: "cluster-latency-bench".into(),
            queue: "default".into(),
            user: cluster.user(),
            app_type: "BENCH".into(),
            am_resource: Resource::new(256, 1),
            am_launch: LaunchSpec {
                command: vec!["bench-am".into(), "am".into()],
                local_resources: vec![staged],
                ..Default::default()
            },
            max_attempts: Some(1),
            acls: Default::default(),
        })
        .await
        .expect("submit");
    let deadline = Instant::now() + Duration::from_secs(300);
    let report = loop {
        let r = rm.report(app).await.expect("report");
        if r.state.is_terminal() {
            break r;
        }
        assert!(Instant::now() < deadline, "bench app did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let am_log = cluster
        .container_logs("stdout")
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with("_000001/stdout"))
        .expect("AM log");
    let body = std::fs::read_to_string(&am_log).expect("AM log");
    assert!(
        report.state == YarnApplicationState::FINISHED,
        "bench AM failed: {} {}",
        report.diagnostics,
        body
    );
    let line = body
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("RESULT line");
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    let series = |k: &str| {
        let mut xs: Vec<f64> = v[k]
            .as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect();
        xs.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        xs
    };
    let alloc = series("allocation_ms");
    let launch = series("launch_ms");
    println!(
        "cluster latency over {} containers on a 2-NM local cluster, {scheduler} scheduler (real processes, QUIC + mTLS):",
        alloc.len()
    );
    println!(
        "  allocation (ask -> container at the AM):   median {:7.3} ms   p99 {:7.3} ms   (target: < 5 ms)",
        percentile(&alloc, 0.5),
        percentile(&alloc, 0.99)
    );
    println!(
        "  launch (allocated -> process running):     median {:7.3} ms   p99 {:7.3} ms   (target: < 50 ms median)",
        percentile(&launch, 0.5),
        percentile(&launch, 0.99)
    );
}

async fn am() -> anyhow::Result<()> {
    let env = AmEnv::from_env().map_err(anyhow::Error::msg)?;
    let identity = TlsIdentity::load(&env.tls)?;
    let rm = AmRmClient::new(&identity, &env.rm_addresses, env.attempt, env.token.clone())?;
    let nm = NmClient::new(&identity)?;
    rm.register(&env.nm_host, "").await?;
    let mut events = rm.subscribe().await?;
    let mut allocation_ms = Vec::with_capacity(CONTAINERS);
    let mut launch_ms = Vec::with_capacity(CONTAINERS);
    let ask = |count| ResourceAsk {
        key: "bench".into(),
        count,
        resource: Resource::new(128, 1),
        nodes: vec![],
        relax_locality: true,
    };
    for i in 0..CONTAINERS {
        let t0 = Instant::now();
        rm.allocate(vec![ask(1)], vec![], i as f32 / CONTAINERS as f32)
            .await?;
        let container = loop {
            match events.recv().await {
                Some(AmEvent::Allocated(mut cs)) => break cs.remove(0),
                Some(AmEvent::Shutdown { reason }) => anyhow::bail!("shut down: {reason}"),
                Some(_) => continue,
                None => anyhow::bail!("allocation stream closed"),
            }
        };
        let t1 = Instant::now();
        nm.start(
            &container,
            LaunchSpec {
                command: vec!["true".into()],
                ..Default::default()
            },
        )
        .await?;
        let t2 = Instant::now();
        allocation_ms.push((t1 - t0).as_secs_f64() * 1e3);
        launch_ms.push((t2 - t1).as_secs_f64() * 1e3);
    }
    println!(
        "RESULT {}",
        serde_json::json!({ "allocation_ms": allocation_ms, "launch_ms": launch_ms })
    );
    rm.finish(FinalApplicationStatus::SUCCEEDED, "bench done", "")
        .await?;
    Ok(())
}
