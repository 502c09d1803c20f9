//! `spindle sls`: the scheduler load simulator. It runs the RM's real scheduling core (the
//! daemon's [`resourcemanager::state::RmState`] and schedulers, configured from the
//! daemon's own `resourcemanager.toml`) against simulated node managers and application
//! masters in simulated time, as fast as the CPU allows, and reports allocations per CPU
//! second, ask-to-allocation latency, per-queue use against guarantees and preemptions.
//! [`wire`] runs the same simulated NMs and AMs against the real daemon over QUIC.

pub mod am;
pub mod config;
pub mod error;
pub mod html;
pub mod sim;
pub mod spark;
pub mod stats;
pub mod synth;
pub mod trace;
pub mod wire;
pub mod workload;

pub use config::{ClusterSpec, RmSettings};
pub use error::SlsError;
pub use sim::{Engine, SimConfig};
pub use stats::Summary;
pub use synth::Synthetic;

use std::path::PathBuf;

/// Where the applications come from.
#[derive(Debug, Clone)]
pub enum Workload {
    Trace(PathBuf),
    Synthetic(Synthetic),
}

/// One `spindle sls` run, validated by [`run`].
#[derive(Debug, Clone)]
pub struct Options {
    /// `None`: one node per host the trace names.
    pub nodes: Option<u32>,
    pub node: common::Resource,
    pub racks: u32,
    pub heartbeat_ms: u64,
    pub rm_config: Option<PathBuf>,
    pub workload: Workload,
    pub report: Option<PathBuf>,
}

impl Options {
    /// The scheduler issue's configuration: 10,000 nodes of 8192 MB / 8 vcores with 1 s
    /// heartbeats, 2,000 apps of 200 containers of 2-20 s (what the benches measure).
    pub fn issue_scale() -> Self {
        Self {
            nodes: Some(10_000),
            node: common::Resource::new(8192, 8),
            racks: 1,
            heartbeat_ms: 1000,
            rm_config: None,
            workload: Workload::Synthetic(Synthetic {
                apps: 2000,
                containers_per_app: 200,
                container_ms: (2000, 20_000),
                ..Synthetic::default()
            }),
            report: None,
        }
    }
}

/// The jobs and the cluster the options describe.
pub fn prepare(opts: &Options) -> Result<(Vec<workload::Job>, SimConfig), SlsError> {
    let jobs = match &opts.workload {
        Workload::Trace(p) => {
            let jobs = trace::read(p)?;
            for (n, j) in jobs.iter().enumerate() {
                if j.am_type == workload::AmType::Spark {
                    spark::check_conf(j).map_err(|reason| SlsError::trace(p, n + 1, reason))?;
                }
            }
            jobs
        }
        Workload::Synthetic(s) => {
            s.check()?;
            s.jobs()
        }
    };
    let cluster = match opts.nodes {
        Some(n) => ClusterSpec::uniform(n, opts.node, opts.racks, opts.heartbeat_ms),
        None => {
            let hosts = trace::hosts(&jobs);
            if hosts.is_empty() {
                return Err(SlsError::Option {
                    option: "nodes",
                    reason: "is needed: the workload names no hosts to build the cluster from"
                        .into(),
                });
            }
            ClusterSpec {
                hosts,
                node: opts.node,
                racks: opts.racks,
                heartbeat_ms: opts.heartbeat_ms,
            }
        }
    };
    cluster.check()?;
    let rm = RmSettings::load(opts.rm_config.as_deref())?;
    Ok((
        jobs,
        SimConfig {
            cluster,
            rm,
            sample_ms: 1000,
            record: false,
        },
    ))
}

/// Runs the simulation; writes the report when asked; returns the figures.
pub fn run(opts: &Options) -> Result<Summary, SlsError> {
    let (jobs, cfg) = prepare(opts)?;
    let mut engine = Engine::new(cfg, jobs)?;
    engine.run()?;
    let cpu = stats::cpu_seconds();
    let summary = Summary::new(&mut engine.stats, cpu);
    if let Some(path) = &opts.report {
        html::write(path, &summary, &engine.stats)?;
    }
    Ok(summary)
}
