//! The AM's Prometheus metrics (`spindle_am_*`), moved by the same events as the UI.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry, Unit};
use std::sync::Mutex;

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
    registry: Mutex<Registry>,
    pub(crate) executors: Family<Vec<(&'static str, &'static str)>, Gauge>,
    pub(crate) tasks: Family<Vec<(&'static str, &'static str)>, Gauge>,
    pub(crate) tasks_finished: Family<Vec<(&'static str, &'static str)>, Counter>,
    pub(crate) executors_added: Counter,
    pub(crate) executors_removed: Counter,
    pub(crate) scale_up: Histogram,
}

impl Default for AmMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AmMetrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("spindle_am");
        let executors = add(
            &mut r,
            "executors",
            "Executors: the allocation target, running (registered), pending (target not yet running)",
            Family::default(),
        );
        let tasks = add(
            &mut r,
            "tasks",
            "Tasks of active stages: pending (not started) and running",
            Family::default(),
        );
        let tasks_finished = add(
            &mut r,
            "tasks_finished",
            "Finished tasks by outcome",
            Family::default(),
        );
        let executors_added = add(
            &mut r,
            "executors_added",
            "Executors that registered",
            Counter::default(),
        );
        let executors_removed = add(
            &mut r,
            "executors_removed",
            "Executors removed (idle timeout, lost, killed, end of application)",
            Counter::default(),
        );
        // 10 ms to ~80 s.
        let scale_up = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        r.register_with_unit(
            "scale_up_latency",
            "From a raise of the allocation target to an executor registering for it",
            Unit::Seconds,
            scale_up.clone(),
        );
        Self {
            registry: Mutex::new(r),
            executors,
            tasks,
            tasks_finished,
            executors_added,
            executors_removed,
            scale_up,
        }
    }

    /// Sets the gauges from what the UI shows now and renders Prometheus text.
    pub fn render(&self, now: Gauges) -> String {
        let registry = self.registry.lock().expect("registry");
        let Gauges {
            target,
            running,
            pending_tasks: pending,
            running_tasks,
        } = now;
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
        let mut out = String::new();
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// Registers `metric` under `name` and hands it back.
fn add<M: Metric + Clone>(r: &mut Registry, name: &str, help: &str, metric: M) -> M {
    r.register(name, help, metric.clone());
    metric
}
