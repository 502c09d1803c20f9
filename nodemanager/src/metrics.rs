//! The NM's Prometheus metrics (`spindle_nm_*`, served at `/metrics` on the
//! NM's web address).
//!
//! One registry per process ([`metrics`]): container launches, completions
//! and localization are counted where they happen (typed [`NmEvent`]s that
//! log and count at once); containers by state are read from the container
//! table at scrape time. The shuffle service the NM hosts reports its
//! fetches through [`NmMetrics::shuffle_fetch`] (or [`NmEvent::ShuffleFetch`]),
//! so its bytes and latency appear here too.

use crate::lifecycle::PhaseCounts;
use daemon::metrics::{Metrics, Registrar};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use std::sync::OnceLock;
use std::time::Duration;

type Labels = Vec<(&'static str, &'static str)>;

#[derive(Debug)]
pub struct NmMetrics {
    containers: Family<Labels, Gauge>,
    launched: Counter,
    launch_failed: Counter,
    completed: Family<Labels, Counter>,
    launch_latency: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
    localized_bytes: Counter,
    shuffle_bytes: Counter,
    shuffle_fetches: Counter,
    shuffle_fetch_latency: Histogram,
    registry: Metrics,
}

/// This process's NM metrics.
pub fn metrics() -> &'static NmMetrics {
    static M: OnceLock<NmMetrics> = OnceLock::new();
    M.get_or_init(NmMetrics::new)
}

impl NmMetrics {
    fn new() -> Self {
        let mut r = Registrar::new("spindle_nm");
        Self {
            containers: r.add(
                "containers",
                "Containers on this node by state (localizing, running, done)",
            ),
            launched: r.add("containers_launched", "Container processes started"),
            launch_failed: r.add(
                "containers_launch_failed",
                "Containers that could not be started (localization or exec failed)",
            ),
            completed: r.add(
                "containers_completed",
                "Containers that ended, by outcome (success, failed, killed)",
            ),
            launch_latency: r.latency(
                "container_launch_latency",
                "From a start request to the container's process running (localization included)",
            ),
            cache_hits: r.add(
                "localization_cache_hits",
                "Localized files found in the node's file cache",
            ),
            cache_misses: r.add(
                "localization_cache_misses",
                "Localized files fetched from the resource manager",
            ),
            localized_bytes: r.add_with_unit(
                "localized",
                "Bytes fetched into the file cache",
                Unit::Bytes,
            ),
            shuffle_bytes: r.add_with_unit(
                "shuffle_served",
                "Shuffle block bytes served by this node's shuffle service",
                Unit::Bytes,
            ),
            shuffle_fetches: r.add(
                "shuffle_fetches",
                "Shuffle fetch requests served by this node's shuffle service",
            ),
            shuffle_fetch_latency: r.latency(
                "shuffle_fetch_latency",
                "Time to serve one shuffle fetch request",
            ),
            registry: r.finish(),
        }
    }

    /// The shuffle service served one fetch of `bytes` in `took`.
    pub fn shuffle_fetch(&self, bytes: u64, took: Duration) {
        self.shuffle_fetches.inc();
        self.shuffle_bytes.inc_by(bytes);
        self.shuffle_fetch_latency.observe(took.as_secs_f64());
    }

    /// Sets the container gauges from the container table's counts and renders every
    /// metric.
    pub fn render(&self, containers: PhaseCounts) -> String {
        self.registry.render(|| {
            for (state, n) in [
                ("localizing", containers.localizing),
                ("running", containers.running),
                ("done", containers.done),
            ] {
                self.containers
                    .get_or_create(&vec![("state", state)])
                    .set(n as i64);
            }
        })
    }
}

/// Something that happened on the NM: its metrics move as it is emitted.
/// (The tracing lines for these are written where they happen.)
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum NmEvent {
    /// A container's process started `took` after its start request.
    ContainerLaunched { took: Duration },
    /// A container could not be started.
    ContainerLaunchFailed,
    /// A container ended with `exit` (YARN's exit statuses: 0 success,
    /// -100..-110 decided by the RM/AM/NM, otherwise the process's own).
    ContainerCompleted { exit: i32 },
    /// A file to localize was in the cache (`hit`) or was fetched (`bytes`).
    Localized { hit: bool, bytes: u64 },
    /// The shuffle service served a fetch.
    ShuffleFetch { bytes: u64, took: Duration },
}

impl NmEvent {
    pub fn emit(self) {
        let m = metrics();
        match self {
            Self::ContainerLaunched { took } => {
                m.launched.inc();
                m.launch_latency.observe(took.as_secs_f64());
            }
            Self::ContainerLaunchFailed => {
                m.launch_failed.inc();
            }
            Self::ContainerCompleted { exit } => {
                let outcome = match exit {
                    0 => "success",
                    -110..=-100 | 137 | 143 => "killed",
                    _ => "failed",
                };
                m.completed.get_or_create(&vec![("outcome", outcome)]).inc();
            }
            Self::Localized { hit, bytes } => {
                if hit {
                    m.cache_hits.inc();
                } else {
                    m.cache_misses.inc();
                    m.localized_bytes.inc_by(bytes);
                }
            }
            Self::ShuffleFetch { bytes, took } => m.shuffle_fetch(bytes, took),
        }
    }
}
