//! The NM's Prometheus metrics (`spindle_nm_*`, served at `/metrics` on the
//! NM's web address).
//!
//! One registry per process ([`metrics`]): container launches, completions
//! and localization are counted where they happen (typed [`NmEvent`]s that
//! log and count at once); containers by state are read from the container
//! table at scrape time, with what the live containers hold against the node's capacity and
//! each running container's resident memory. The shuffle service the NM hosts reports its
//! fetches through [`NmMetrics::shuffle_fetch`] (or [`NmEvent::ShuffleFetch`]),
//! so its bytes and latency appear here too.

use crate::lifecycle::PhaseCounts;
use common::protocol::exit_status;
use common::{ContainerId, Resource};
use daemon::metrics::{Metrics, Registrar};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

type Labels = Vec<(&'static str, &'static str)>;
type OwnedLabels = Vec<(&'static str, String)>;

/// What the node's containers hold, read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct NodeUse {
    /// What the containers that have not ended were allocated.
    pub allocated: Resource,
    /// Each running container's memory.
    pub containers: Vec<ContainerMemory>,
}

/// One running container's memory: its limit (its allocation) and what its processes hold.
#[derive(Debug, Clone, Copy)]
pub struct ContainerMemory {
    pub id: ContainerId,
    pub limit_bytes: u64,
    pub rss_bytes: u64,
}

#[derive(Debug)]
pub struct NmMetrics {
    containers: Family<Labels, Gauge>,
    /// Containers that ended since the NM started: the `done` state. (The container table
    /// forgets a finished app's containers, so counting it would fall back to 0.)
    done: AtomicU64,
    /// The node's capability (what it offers the RM), set when the NM starts.
    capacity: Mutex<Option<Resource>>,
    memory: Family<Labels, Gauge>,
    vcores: Family<Labels, Gauge>,
    container_memory: Family<OwnedLabels, Gauge>,
    memory_kills: Counter,
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
                "Containers on this node by state: localizing and running now, done since the NM started",
            ),
            done: AtomicU64::new(0),
            capacity: Mutex::new(None),
            memory: r.add_with_unit(
                "memory",
                "The node's memory: capacity (what it offers), allocated (to containers that have not ended), available",
                Unit::Bytes,
            ),
            vcores: r.add(
                "vcores",
                "The node's virtual cores: capacity, allocated (to containers that have not ended), available",
            ),
            container_memory: r.add_with_unit(
                "container_memory",
                "Each running container's memory: rss (its processes' resident memory) and limit (its allocation)",
                Unit::Bytes,
            ),
            memory_kills: r.add(
                "containers_killed_over_memory",
                "Containers killed for using more memory than they were allocated (exit status -104, or -103 for virtual memory)",
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

    /// The node's capability, as it registers with the RM.
    pub fn set_capacity(&self, capacity: Resource) {
        *self.capacity.lock().expect("capacity") = Some(capacity);
    }

    /// Sets the container gauges from the container table's counts and the node's use, and
    /// renders every metric.
    pub fn render(&self, containers: PhaseCounts, usage: &NodeUse) -> String {
        self.registry.render(|| {
            let done = self.done.load(Ordering::Relaxed) as usize;
            for (state, n) in [
                ("localizing", containers.localizing),
                ("running", containers.running),
                // At least the table's (a recovered node knows of containers that ended
                // before it restarted).
                ("done", done.max(containers.done)),
            ] {
                self.containers
                    .get_or_create(&vec![("state", state)])
                    .set(n as i64);
            }
            let cap = self
                .capacity
                .lock()
                .expect("capacity")
                .unwrap_or(Resource::new(0, 0));
            let used = usage.allocated;
            for (kind, mb, vc) in [
                ("capacity", cap.memory_mb, u64::from(cap.vcores)),
                ("allocated", used.memory_mb, u64::from(used.vcores)),
                (
                    "available",
                    cap.memory_mb.saturating_sub(used.memory_mb),
                    u64::from(cap.vcores.saturating_sub(used.vcores)),
                ),
            ] {
                self.memory
                    .get_or_create(&vec![("kind", kind)])
                    .set((mb << 20) as i64);
                self.vcores
                    .get_or_create(&vec![("kind", kind)])
                    .set(vc as i64);
            }
            // Only the containers running now.
            self.container_memory.clear();
            for c in &usage.containers {
                for (kind, v) in [("rss", c.rss_bytes), ("limit", c.limit_bytes)] {
                    self.container_memory
                        .get_or_create(&vec![
                            ("container_id", c.id.to_string()),
                            ("kind", kind.to_string()),
                        ])
                        .set(v as i64);
                }
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
                m.done.fetch_add(1, Ordering::Relaxed);
                if exit == exit_status::KILLED_EXCEEDED_PMEM
                    || exit == exit_status::KILLED_EXCEEDED_VMEM
                {
                    m.memory_kills.inc();
                }
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
