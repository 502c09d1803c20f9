//! Issue 16's two modes of `spindle sls`, side by side:
//!
//! - in-process: the RM's scheduling core in simulated time at the issue's scale (10,000
//!   nodes of 8192 MB / 8 vcores, 1 s heartbeats, 2,000 apps of 200 containers of 2-20 s):
//!   allocations per CPU second and the p99 of one heartbeat's handling;
//! - over the wire: the real RM daemon with 1,000 simulated NMs (1 s heartbeats, each its
//!   own QUIC connection and node certificate) and 50 AMs of short containers: allocations
//!   received at the AMs per wall second of the steady phase, per RM CPU second, the RM's
//!   CPU and peak RSS, and ask→allocation latency. Twice: nodes of 8192 MB / 8 vcores
//!   (whose ceiling is 8 containers per node per heartbeat, 8,000/s: a node reports a
//!   container's end only with its next heartbeat) and of 16384 MB / 16 vcores (16,000/s).
//!
//! `cargo build --release -p spindle-resourcemanager && cargo bench -p spindle-tests --bench sls`
//! (`SLS_WIRE_CONTAINERS`, default 4000 per app, sets the wire runs' length).

use common::Resource;
use sls::wire::{Daemon, WireOptions, WireSummary};
use sls::{Options, Synthetic, Workload};
use spindle_tests::bin;

fn wire(node: Resource, containers_per_app: u32) -> WireSummary {
    let opts = Options {
        nodes: Some(1000),
        node,
        racks: 1,
        heartbeat_ms: 1000,
        rm_config: None,
        workload: Workload::Synthetic(Synthetic {
            apps: 50,
            containers_per_app,
            container_ms: (200, 800),
            ..Synthetic::default()
        }),
        report: None,
    };
    let mut w = WireOptions::new(Daemon::Start {
        bin: bin("resourcemanager"),
    });
    w.max_wall = Some(std::time::Duration::from_secs(120));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    match rt.block_on(sls::wire::run(&opts, &w)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sls bench, wire mode: {e}");
            std::process::exit(1);
        }
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());
    let simulated = sls::run(&Options::issue_scale()).unwrap_or_else(|e| {
        eprintln!("sls bench, simulated mode: {e}");
        std::process::exit(1);
    });
    let per_app = std::env::var("SLS_WIRE_CONTAINERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let small = wire(Resource::new(8192, 8), per_app / 2);
    let large = wire(Resource::new(16384, 16), per_app);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    println!();
    row("", "in-process", "wire 8 GB nodes", "wire 16 GB nodes");
    // (figure, in-process, a wire run's) for both wire runs.
    let figures: [(&str, String, WireFigure); 11] = [
        ("nodes", "10000".into(), |w| w.nodes.to_string()),
        (
            "containers allocated",
            simulated.allocations.to_string(),
            |w| w.allocations.to_string(),
        ),
        (
            "allocations/s (sim: per CPU s; wire: wall)",
            simulated.allocations_per_s().to_string(),
            |w| w.allocations_per_s().to_string(),
        ),
        (
            "allocations per RM CPU second",
            simulated.allocations_per_s().to_string(),
            |w| opt(w.allocations_per_rm_cpu_s().map(|v| v as f64), 0),
        ),
        ("steady phase, wall s", "-".into(), |w| {
            format!("{:.1}", w.steady_s)
        }),
        (
            "RM CPU s, whole run (sim: the simulator)",
            format!("{:.2}", simulated.cpu_s),
            |w| opt(w.rm_cpu_s, 2),
        ),
        ("RM peak RSS, MB", "-".into(), |w| opt(w.rm_peak_rss_mb, 1)),
        ("simulator CPU s", "-".into(), |w| {
            format!("{:.2}", w.client_cpu_s)
        }),
        (
            "ask to allocation median, ms (sim: sim time)",
            simulated.latency_median_ms.to_string(),
            |w| w.latency_median_ms.to_string(),
        ),
        (
            "ask to allocation p99, ms",
            simulated.latency_p99_ms.to_string(),
            |w| w.latency_p99_ms.to_string(),
        ),
        (
            "heartbeat p99, ms (sim: core; wire: RTT)",
            format!("{:.3}", simulated.heartbeat_p99_ms),
            |w| format!("{:.3}", w.heartbeat_p99_ms),
        ),
    ];
    for (label, sim, wire) in figures {
        row(label, sim, wire(&small), wire(&large));
    }
    println!("load average at end: {}", load.trim());
}

/// A wire run's figure, as printed.
type WireFigure = fn(&WireSummary) -> String;

/// One line of the side-by-side table.
fn row(
    label: &str,
    a: impl std::fmt::Display,
    b: impl std::fmt::Display,
    c: impl std::fmt::Display,
) {
    println!("{label:<44} {a:>16} {b:>16} {c:>16}");
}
