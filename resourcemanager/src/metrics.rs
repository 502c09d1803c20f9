//! The RM's Prometheus metrics (`/metrics` on the web address).
//!
//! Gauges that describe the state (applications by state, nodes by state,
//! cluster and queue resources) are read from [`RmState`] at scrape time, so
//! they cannot drift from what the RM reports. Things that happen (an
//! application submitted, containers allocated and how long the ask waited)
//! are typed [`RmEvent`]s whose `emit` writes the tracing line and moves the
//! counters at once. Nodes lost and AM attempts failed are tallied by the core
//! ([`crate::state::Tallies`]) and their counters catch up at each scrape; requests and
//! errors are counted per method as the service answers them ([`RmMetrics::rpc`]).

use crate::state::{Now, RmState};
use common::protocol::{ErrorCode, NodeState, YarnApplicationState};
use common::{AppAttemptId, ApplicationId};
use daemon::metrics::{Metrics, Registrar};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Instant;

type Labels = Vec<(&'static str, String)>;

const APP_STATES: [YarnApplicationState; 8] = [
    YarnApplicationState::NEW,
    YarnApplicationState::NEW_SAVING,
    YarnApplicationState::SUBMITTED,
    YarnApplicationState::ACCEPTED,
    YarnApplicationState::RUNNING,
    YarnApplicationState::FINISHED,
    YarnApplicationState::FAILED,
    YarnApplicationState::KILLED,
];

const NODE_STATES: [NodeState; 6] = [
    NodeState::NEW,
    NodeState::RUNNING,
    NodeState::UNHEALTHY,
    NodeState::DECOMMISSIONED,
    NodeState::LOST,
    NodeState::SHUTDOWN,
];

pub struct RmMetrics {
    /// Every metric below, registered.
    registry: Metrics,
    apps: Family<Labels, Gauge>,
    nodes: Family<Labels, Gauge>,
    cluster_memory: Family<Labels, Gauge>,
    cluster_vcores: Family<Labels, Gauge>,
    queue_memory: Family<Labels, Gauge>,
    queue_vcores: Family<Labels, Gauge>,
    queue_apps: Family<Labels, Gauge>,
    queue_pending: Family<Labels, Gauge>,
    queue_guaranteed: Family<Labels, Gauge>,
    queue_preempted: Family<Labels, Gauge>,
    containers_running: Gauge,
    containers_pending: Gauge,
    apps_submitted: Counter,
    apps_killed_by_web: Counter,
    containers_allocated: Counter,
    allocation_latency: Histogram,
    heartbeat_age: Family<Labels, Gauge<f64, AtomicU64>>,
    nodes_lost: Counter,
    am_attempts_failed: Counter,
    rpc_requests: Family<Labels, Counter>,
    rpc_errors: Family<Labels, Counter>,
    /// Per attempt: since when it has had an unanswered container ask.
    asking_since: Mutex<HashMap<AppAttemptId, Instant>>,
}

impl Default for RmMetrics {
    fn default() -> Self {
        let mut r = Registrar::new("spindle_rm");
        Self {
            apps: r.add("applications", "Applications by YARN state"),
            nodes: r.add("nodes", "Node managers by state"),
            cluster_memory: r.add_with_unit(
                "cluster_memory",
                "Cluster memory: total (RUNNING nodes), allocated, available",
                Unit::Bytes,
            ),
            cluster_vcores: r.add(
                "cluster_vcores",
                "Cluster virtual cores: total (RUNNING nodes), allocated, available",
            ),
            queue_memory: r.add_with_unit(
                "queue_allocated_memory",
                "Memory held by the queue's containers",
                Unit::Bytes,
            ),
            queue_vcores: r.add(
                "queue_allocated_vcores",
                "Virtual cores held by the queue's containers",
            ),
            queue_apps: r.add("queue_applications", "The queue's applications by state"),
            queue_pending: r.add(
                "queue_pending_containers",
                "Containers the queue's applications ask for and have not got",
            ),
            queue_guaranteed: r.add_with_unit(
                "queue_guaranteed_memory",
                "Memory the queue is guaranteed (its absolute capacity of the RUNNING nodes)",
                Unit::Bytes,
            ),
            queue_preempted: r.add(
                "queue_preempted_containers",
                "Containers preempted from the queue's applications (AM and others)",
            ),
            containers_running: r.add(
                "containers_running",
                "Containers allocated and not yet completed",
            ),
            containers_pending: r.add(
                "containers_pending",
                "Containers asked for and not yet allocated",
            ),
            apps_submitted: r.add(
                "applications_submitted",
                "Applications submitted since the RM started",
            ),
            apps_killed_by_web: r.add(
                "applications_killed_over_rest",
                "Applications killed with PUT /ws/v1/cluster/apps/{id}/state",
            ),
            containers_allocated: r.add(
                "containers_allocated",
                "Containers allocated (AM and task containers)",
            ),
            allocation_latency: r.latency(
                "allocation_latency",
                "From an application master's container ask to the allocation on its push stream",
            ),
            heartbeat_age: r.add_with_unit(
                "node_heartbeat_age",
                "Time since each node's last heartbeat (nodes not LOST, decommissioned or shut down)",
                Unit::Seconds,
            ),
            nodes_lost: r.add(
                "nodes_lost",
                "Nodes declared LOST (silent for longer than the node expiry) since the RM started",
            ),
            am_attempts_failed: r.add(
                "am_attempts_failed",
                "Application master attempts that ended without unregistering (exited, lost, preempted)",
            ),
            rpc_requests: r.add(
                "rpc_requests",
                "Requests on the RM's QUIC protocol, by method",
            ),
            rpc_errors: r.add(
                "rpc_errors",
                "Requests on the RM's QUIC protocol answered with an error, by method and error code",
            ),
            asking_since: Mutex::new(HashMap::new()),
            registry: r.finish(),
        }
    }
}

impl RmMetrics {
    /// A request of `method` (its kind) was answered: with `error`'s code, or not.
    pub fn rpc(&self, method: &'static str, error: Option<ErrorCode>) {
        self.rpc_requests
            .get_or_create(&vec![("method", method.to_string())])
            .inc();
        if let Some(code) = error {
            self.rpc_errors
                .get_or_create(&vec![
                    ("method", method.to_string()),
                    ("code", format!("{code:?}")),
                ])
                .inc();
        }
    }

    /// Refreshes the state gauges from `state` and renders every metric.
    pub fn render(&self, state: &RmState, now: Now) -> String {
        self.registry.render(|| self.refresh(state, now))
    }

    fn refresh(&self, state: &RmState, now: Now) {
        let label = |k: &'static str, v: String| vec![(k, v)];
        let apps = state.list(&[], now);
        for s in APP_STATES {
            let n = apps.iter().filter(|a| a.state == s).count();
            self.apps
                .get_or_create(&label("state", s.to_string()))
                .set(n as i64);
        }
        let nodes = state.node_reports();
        for s in NODE_STATES {
            let n = nodes.iter().filter(|r| r.state == s).count();
            self.nodes
                .get_or_create(&label("state", s.to_string()))
                .set(n as i64);
        }
        let running: Vec<_> = nodes
            .iter()
            .filter(|n| n.state == NodeState::RUNNING)
            .collect();
        let total_mb: u64 = running.iter().map(|n| n.capability.memory_mb).sum();
        let used_mb: u64 = nodes.iter().map(|n| n.used.memory_mb).sum();
        let total_vc: u64 = running.iter().map(|n| n.capability.vcores as u64).sum();
        let used_vc: u64 = nodes.iter().map(|n| n.used.vcores as u64).sum();
        for (kind, mb, vc) in [
            ("total", total_mb, total_vc),
            ("allocated", used_mb, used_vc),
            (
                "available",
                total_mb.saturating_sub(used_mb),
                total_vc.saturating_sub(used_vc),
            ),
        ] {
            self.cluster_memory
                .get_or_create(&label("kind", kind.into()))
                .set((mb << 20) as i64);
            self.cluster_vcores
                .get_or_create(&label("kind", kind.into()))
                .set(vc as i64);
        }
        // Queues: every queue any application named ("default" at least).
        #[derive(Default)]
        struct Q {
            mb: u64,
            vc: u64,
            pending: u64,
            guaranteed_mb: u64,
            preempted: u64,
            states: BTreeMap<String, i64>,
        }
        let mut queues: BTreeMap<String, Q> = BTreeMap::new();
        // Every leaf the scheduler has, with its guarantee.
        for v in state.queue_views().into_iter().filter(|v| v.leaf) {
            queues.entry(v.name).or_default().guaranteed_mb =
                (total_mb as f64 * v.absolute_capacity / 100.0) as u64;
        }
        for a in &apps {
            let q = queues.entry(a.queue.clone()).or_default();
            q.preempted += (a.preempted.non_am_containers + a.preempted.am_containers) as u64;
            q.mb += a.allocated.memory_mb;
            q.vc += a.allocated.vcores as u64;
            *q.states.entry(a.state.to_string()).or_default() += 1;
        }
        let pending = state.pending_asks();
        for (app, n) in &pending {
            if let Some(a) = apps.iter().find(|a| a.id == *app) {
                queues.entry(a.queue.clone()).or_default().pending += *n as u64;
            }
        }
        self.queue_apps.clear();
        let per_queue = |q: &Q| {
            [
                (&self.queue_memory, (q.mb << 20) as i64),
                (&self.queue_vcores, q.vc as i64),
                (&self.queue_pending, q.pending as i64),
                (&self.queue_guaranteed, (q.guaranteed_mb << 20) as i64),
                (&self.queue_preempted, q.preempted as i64),
            ]
        };
        for (family, _) in per_queue(&Q::default()) {
            family.clear();
        }
        for (name, q) in &queues {
            for (family, v) in per_queue(q) {
                family.get_or_create(&label("queue", name.clone())).set(v);
            }
            for s in APP_STATES {
                let n = q.states.get(&s.to_string()).copied().unwrap_or(0);
                self.queue_apps
                    .get_or_create(&vec![("queue", name.clone()), ("state", s.to_string())])
                    .set(n);
            }
        }
        self.heartbeat_age.clear();
        for (node, age_ms) in state.heartbeat_ages(now) {
            self.heartbeat_age
                .get_or_create(&label("node", node.to_string()))
                .set(age_ms as f64 / 1000.0);
        }
        let tallies = state.tallies();
        catch_up(&self.nodes_lost, tallies.nodes_lost);
        catch_up(&self.am_attempts_failed, tallies.am_attempts_failed);
        let live: u32 = apps.iter().map(|a| a.running_containers).sum();
        self.containers_running.set(live as i64);
        self.containers_pending
            .set(pending.iter().map(|(_, n)| *n as i64).sum());
    }
}

/// Moves `counter` up to `total` (a tally kept elsewhere, which only grows).
fn catch_up(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// Something that happened in the RM: one tracing line and its metrics.
#[derive(Debug)]
#[non_exhaustive]
pub enum RmEvent {
    /// A client's submission was accepted and stored.
    ApplicationSubmitted { app_id: ApplicationId },
    /// An AM sent an allocate call asking for `containers` more (total-count semantics).
    ContainersAsked {
        attempt: AppAttemptId,
        containers: u32,
    },
    /// Containers were pushed to an AM (or an AM container was placed).
    ContainersAllocated {
        attempt: AppAttemptId,
        containers: usize,
        am: bool,
        /// The attempt still has asks outstanding after this allocation.
        still_asking: bool,
    },
    /// `PUT /ws/v1/cluster/apps/{id}/state` killed an application.
    ApplicationKilledOverRest { app_id: ApplicationId, peer: String },
}

impl RmEvent {
    /// Logs the event and updates the metrics; `now` is the service's clock.
    pub fn emit(self, m: &RmMetrics, now: Instant) {
        match self {
            Self::ApplicationSubmitted { app_id } => {
                tracing::debug!(app_id = %app_id, "application submitted (metrics)");
                m.apps_submitted.inc();
            }
            Self::ContainersAsked {
                attempt,
                containers,
            } => {
                let mut asking = m.asking_since.lock().expect("asking");
                if containers == 0 {
                    asking.remove(&attempt);
                } else {
                    asking.entry(attempt).or_insert(now);
                }
            }
            Self::ContainersAllocated {
                attempt,
                containers,
                am,
                still_asking,
            } => {
                m.containers_allocated.inc_by(containers as u64);
                if am {
                    return;
                }
                let since = {
                    let mut asking = m.asking_since.lock().expect("asking");
                    if still_asking {
                        asking.get(&attempt).copied()
                    } else {
                        asking.remove(&attempt)
                    }
                };
                let waited = since.map(|t| now.saturating_duration_since(t));
                if let Some(w) = waited {
                    for _ in 0..containers {
                        m.allocation_latency.observe(w.as_secs_f64());
                    }
                }
                tracing::debug!(
                    app_attempt_id = %attempt,
                    containers,
                    waited_ms = waited.map(|w| w.as_secs_f64() * 1e3),
                    "containers allocated"
                );
            }
            Self::ApplicationKilledOverRest { app_id, peer } => {
                tracing::info!(app_id = %app_id, %peer, "application killed over the REST API");
                m.apps_killed_by_web.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, rm_state, submission};
    use common::protocol::AppSubmission;
    use common::{NodeId, Resource};

    #[test]
    fn scrape_reads_the_state_and_events_move_counters() {
        let mut s = rm_state(1);
        s.register_node(
            NodeId("a:1".into()),
            "a:1".into(),
            "a:2".into(),
            Resource::new(2048, 4),
            &[],
            at(0),
        );
        let sub = AppSubmission {
            queue: "default".into(),
            ..submission()
        };
        let (app, _) = s.submit(sub, at(1)).unwrap();
        let m = RmMetrics::default();
        let t0 = Instant::now();
        RmEvent::ApplicationSubmitted { app_id: app }.emit(&m, t0);
        let attempt = app.attempt(1);
        RmEvent::ContainersAsked {
            attempt,
            containers: 2,
        }
        .emit(&m, t0);
        RmEvent::ContainersAllocated {
            attempt,
            containers: 2,
            am: false,
            still_asking: false,
        }
        .emit(&m, t0 + std::time::Duration::from_millis(3));
        let text = m.render(&s, at(2));
        for line in [
            "spindle_rm_applications{state=\"ACCEPTED\"} 1",
            "spindle_rm_nodes{state=\"RUNNING\"} 1",
            "spindle_rm_cluster_memory_bytes{kind=\"total\"} 2147483648",
            "spindle_rm_cluster_memory_bytes{kind=\"allocated\"} 536870912",
            "spindle_rm_queue_allocated_memory_bytes{queue=\"default\"} 536870912",
            "spindle_rm_queue_applications{queue=\"default\",state=\"ACCEPTED\"} 1",
            "spindle_rm_queue_guaranteed_memory_bytes{queue=\"default\"} 2147483648",
            "spindle_rm_queue_preempted_containers{queue=\"default\"} 0",
            "spindle_rm_containers_running 1",
            "spindle_rm_applications_submitted_total 1",
            "spindle_rm_containers_allocated_total 2",
            "spindle_rm_allocation_latency_seconds_count 2",
            "# TYPE spindle_rm_allocation_latency_seconds histogram",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
