//! The AM's Prometheus metrics (`spindle_am_*`), moved by the same events as the UI.

use daemon::metrics::{Metrics, Registrar};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// The gauges' values at a scrape.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// The allocation target (the running count when there is none).
    pub target: i64,
    /// Registered executors.
    pub running: i64,
    pub pending_tasks: u32,
    pub running_tasks: u32,
}

/// The AM's metrics (`spindle_am_*`). Counters move as events are applied;
/// gauges are read from the UI state when scraped.
#[derive(Debug)]
pub struct AmMetrics {
    metrics: Metrics,
    pub(crate) executors: Family<Vec<(&'static str, &'static str)>, Gauge>,
    pub(crate) tasks: Family<Vec<(&'static str, &'static str)>, Gauge>,
    pub(crate) tasks_finished: Family<Vec<(&'static str, &'static str)>, Counter>,
    pub(crate) executors_added: Counter,
    pub(crate) executors_removed: Counter,
    pub(crate) scale_up: Histogram,
}

impl Default for AmMetrics {
    fn default() -> Self {
        let mut r = Registrar::new("spindle_am");
        Self {
            executors: r.add(
                "executors",
                "Executors: the allocation target, running (registered), pending (target not yet running)",
            ),
            tasks: r.add(
                "tasks",
                "Tasks of active stages: pending (not started) and running",
            ),
            tasks_finished: r.add("tasks_finished", "Finished tasks by outcome"),
            executors_added: r.add("executors_added", "Executors that registered"),
            executors_removed: r.add(
                "executors_removed",
                "Executors removed (idle timeout, lost, killed, end of application)",
            ),
            // 10 ms to ~80 s.
            scale_up: r.seconds(
                "scale_up_latency",
                "From a raise of the allocation target to an executor registering for it",
                exponential_buckets(0.01, 2.0, 14),
            ),
            metrics: r.finish(),
        }
    }
}

impl AmMetrics {
    /// Sets the gauges from what the UI shows now and renders Prometheus text.
    pub fn render(&self, now: Gauges) -> String {
        let Gauges {
            target,
            running,
            pending_tasks: pending,
            running_tasks,
        } = now;
        self.metrics.render(|| {
            for (state, v) in [
                ("target", target),
                ("running", running),
                ("pending", (target - running).max(0)),
            ] {
                self.executors.get_or_create(&vec![("state", state)]).set(v);
            }
            self.tasks
                .get_or_create(&vec![("state", "pending")])
                .set(pending as i64);
            self.tasks
                .get_or_create(&vec![("state", "running")])
                .set(running_tasks as i64);
        })
    }
}
