//! `spindle sls`: flags in, [`sls::Options`] out, the summary printed.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Scheduler load simulation: the RM's real scheduler against simulated node managers and
/// application masters in simulated time (YARN SLS traces or a synthetic workload).
#[derive(Args, Debug)]
pub(crate) struct SlsArgs {
    /// Simulated nodes (default: one per host the trace names; with --wire and the
    /// synthetic workload, 1000).
    #[arg(long)]
    nodes: Option<u32>,
    /// Memory each simulated node offers, MB.
    #[arg(long, default_value_t = 8192)]
    node_memory_mb: u64,
    /// Virtual cores each simulated node offers.
    #[arg(long, default_value_t = 8)]
    node_vcores: u32,
    /// Racks the simulated nodes are spread over (for locality).
    #[arg(long, default_value_t = 1)]
    racks: u32,
    /// Node heartbeat interval, ms.
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
    /// The RM's config (resourcemanager.toml): scheduler, queues, preemption, limits.
    #[arg(long, value_name = "FILE")]
    rm_config: Option<PathBuf>,
    /// A YARN SLS JSON trace (concatenated job objects); else the synthetic workload.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["apps", "arrival_rate"])]
    trace: Option<PathBuf>,
    /// Synthetic: applications (default 100; with --wire, 50).
    #[arg(long)]
    apps: Option<u32>,
    /// Synthetic: containers per application.
    #[arg(long, default_value_t = 10)]
    containers_per_app: u32,
    /// Synthetic: container run time, uniform in LOW-HIGH ms.
    #[arg(long, default_value = "1000-10000", value_parser = sls::synth::parse_range)]
    container_ms: (u64, u64),
    /// Synthetic: memory per container, MB.
    #[arg(long, default_value_t = 1024)]
    container_mb: u64,
    /// Synthetic: virtual cores per container.
    #[arg(long, default_value_t = 1)]
    container_vcores: u32,
    /// Synthetic: applications per second (Poisson); default: all at t=0.
    #[arg(long)]
    arrival_rate: Option<f64>,
    /// Synthetic: queues the applications go to in turn (repeatable).
    #[arg(long = "queue", default_value = "default")]
    queues: Vec<String>,
    /// Synthetic: the seed of the durations and arrivals.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write an HTML report with the charts.
    #[arg(long, value_name = "FILE", conflicts_with = "wire")]
    report: Option<PathBuf>,
    /// Over the wire: the real RM daemon on loopback (started in a temp dir, or the one at
    /// --rm-address) with the simulated NMs and AMs in this process over QUIC, one
    /// connection and node certificate per NM; wall-clock figures.
    #[arg(long)]
    wire: bool,
    /// --wire: the resourcemanager binary to start (default: the one beside spindle).
    #[arg(
        long,
        value_name = "FILE",
        requires = "wire",
        conflicts_with = "rm_address"
    )]
    rm_bin: Option<PathBuf>,
    /// --wire: use the RM running at HOST:PORT instead of starting one; its cluster CA
    /// (ca.pem, ca.key) is in --certs.
    #[arg(long, value_name = "HOST:PORT", requires_all = ["wire", "certs"])]
    rm_address: Option<String>,
    /// --wire with --rm-address: the certificates directory holding the cluster CA.
    #[arg(long, value_name = "DIR", requires = "rm_address")]
    certs: Option<PathBuf>,
    /// --wire with --rm-address: the RM's process id, to report its CPU and peak RSS.
    #[arg(long, requires = "rm_address")]
    rm_pid: Option<u32>,
    /// --wire: stop after this many wall seconds even if applications still run.
    #[arg(long, requires = "wire")]
    max_seconds: Option<u64>,
}

pub(crate) async fn run(args: SlsArgs) -> anyhow::Result<i32> {
    let synthetic = args.trace.is_none();
    let workload = match args.trace {
        Some(p) => sls::Workload::Trace(p),
        None => sls::Workload::Synthetic(sls::Synthetic {
            apps: args.apps.unwrap_or(if args.wire { 50 } else { 100 }),
            containers_per_app: args.containers_per_app,
            container_ms: args.container_ms,
            container: common::Resource::new(args.container_mb, args.container_vcores),
            arrival_rate: args.arrival_rate,
            queues: args.queues,
            seed: args.seed,
        }),
    };
    let nodes = match args.nodes {
        None if args.wire && synthetic => Some(1000),
        n => n,
    };
    let opts = sls::Options {
        nodes,
        node: common::Resource::new(args.node_memory_mb, args.node_vcores),
        racks: args.racks,
        heartbeat_ms: args.heartbeat_ms,
        rm_config: args.rm_config,
        workload,
        report: args.report,
    };
    if args.wire {
        let daemon = match (args.rm_address, args.certs) {
            (Some(address), Some(certs)) => sls::wire::Daemon::Connect {
                address,
                certs,
                pid: args.rm_pid,
            },
            _ => sls::wire::Daemon::Start {
                bin: match args.rm_bin {
                    Some(b) => b,
                    None => crate::sibling_binary("resourcemanager")?,
                },
            },
        };
        let mut wire = sls::wire::WireOptions::new(daemon);
        wire.max_wall = args.max_seconds.map(Duration::from_secs);
        let summary = sls::wire::run(&opts, &wire).await?;
        print!("{}", summary.text());
        return Ok(0);
    }
    let summary = sls::run(&opts)?;
    print!("{}", summary.text());
    Ok(0)
}
