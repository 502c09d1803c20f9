//! The AM's Prometheus metrics (`spindle_am_*`), moved by the same events as the UI.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
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
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("spindle_am")),
            executors: Family::default(),
            tasks: Family::default(),
            tasks_finished: Family::default(),
            executors_added: Counter::default(),
            executors_removed: Counter::default(),
            // 10 ms to ~80 s.
            scale_up: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
        };
        {
            let mut r = m.registry.lock().expect("registry");
            r.register(
                "executors",
                "Executors: the allocation target, running (registered), pending (target not yet running)",
                m.executors.clone(),
            );
            r.register(
                "tasks",
                "Tasks of active stages: pending (not started) and running",
                m.tasks.clone(),
            );
            r.register(
                "tasks_finished",
                "Finished tasks by outcome",
                m.tasks_finished.clone(),
            );
            r.register(
                "executors_added",
                "Executors that registered",
                m.executors_added.clone(),
            );
            r.register(
                "executors_removed",
                "Executors removed (idle timeout, lost, killed, end of application)",
                m.executors_removed.clone(),
            );
            r.register_with_unit(
                "scale_up_latency",
                "From a raise of the allocation target to an executor registering for it",
                Unit::Seconds,
                m.scale_up.clone(),
            );
        }
        m
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
