//! Speculative execution's settings and arithmetic (Spark's `spark.speculation.*` and the
//! parts of its `TaskSetManager` that decide when a task is slow enough for a copy).
//!
//! The task scheduler (`super::tasks`) keeps each task set's successful durations and
//! running attempts; this module says, for a stage of `n` tasks, how many must have
//! succeeded before speculation starts and how long a running task may take before it
//! gets a copy.

/// Spark 4's speculation settings. Speculation is on when the driver holds one of these
/// (`spark.speculation=true`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeculationConfig {
    /// `spark.speculation.interval`: how often running tasks are checked (Spark's
    /// speculation thread), ms.
    pub interval_ms: u64,
    /// `spark.speculation.multiplier`: how many times slower than the median successful
    /// task a task must be to get a copy.
    pub multiplier: f64,
    /// `spark.speculation.quantile`: the share of a stage's tasks that must have succeeded
    /// before any of its tasks is speculated.
    pub quantile: f64,
    /// `spark.speculation.minTaskRuntime`: no task younger than this gets a copy, ms.
    pub min_task_runtime_ms: u64,
}

/// `spark.speculation.interval`'s default (Spark 4), ms.
pub const DEFAULT_INTERVAL_MS: u64 = 100;
/// `spark.speculation.multiplier`'s default (Spark 4; 1.5 before 4.0).
pub const DEFAULT_MULTIPLIER: f64 = 3.0;
/// `spark.speculation.quantile`'s default (Spark 4; 0.75 before 4.0).
pub const DEFAULT_QUANTILE: f64 = 0.9;
/// `spark.speculation.minTaskRuntime`'s default, ms.
pub const DEFAULT_MIN_TASK_RUNTIME_MS: u64 = 100;

/// Why the loser of a speculative race is killed (Spark's kill reason).
pub const KILLED_BY_OTHER_ATTEMPT: &str = "another attempt succeeded";

impl Default for SpeculationConfig {
    fn default() -> Self {
        Self {
            interval_ms: DEFAULT_INTERVAL_MS,
            multiplier: DEFAULT_MULTIPLIER,
            quantile: DEFAULT_QUANTILE,
            min_task_runtime_ms: DEFAULT_MIN_TASK_RUNTIME_MS,
        }
    }
}

impl SpeculationConfig {
    /// Spark's `minFinishedForSpeculation`: `max(floor(quantile × num_tasks), 1)`
    /// successful tasks before a stage of `num_tasks` tasks is checked.
    pub fn min_finished_for_speculation(&self, num_tasks: usize) -> usize {
        ((self.quantile * num_tasks as f64).floor() as usize).max(1)
    }

    /// The runtime a task must exceed to get a copy: `max(multiplier × median,
    /// minTaskRuntime)`, ms.
    pub fn threshold_ms(&self, median_ms: f64) -> f64 {
        (self.multiplier * median_ms).max(self.min_task_runtime_ms as f64)
    }
}

/// A stage attempt's successful task durations (Spark's `successfulTaskDurations`, a
/// `PercentileHeap` at 0.5), kept sorted.
#[derive(Debug, Default, Clone)]
pub(crate) struct SuccessfulTaskDurations {
    sorted: Vec<u64>,
}

impl SuccessfulTaskDurations {
    pub(crate) fn insert(&mut self, ms: u64) {
        let at = self.sorted.partition_point(|&d| d <= ms);
        self.sorted.insert(at, ms);
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The median as Spark's `PercentileHeap.percentile()` takes it: the element at
    /// `floor(n × 0.5)` of the sorted durations (the upper median when `n` is even).
    pub(crate) fn median(&self) -> Option<u64> {
        self.sorted.get(self.sorted.len() / 2).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_4_defaults() {
        let c = SpeculationConfig::default();
        assert_eq!(c.interval_ms, 100);
        assert_eq!(c.multiplier, 3.0);
        assert_eq!(c.quantile, 0.9);
        assert_eq!(c.min_task_runtime_ms, 100);
    }

    #[test]
    fn quantile_of_the_stage_must_succeed_first() {
        let c = SpeculationConfig::default();
        assert_eq!(c.min_finished_for_speculation(40), 36);
        assert_eq!(c.min_finished_for_speculation(10), 9);
        assert_eq!(c.min_finished_for_speculation(1), 1, "at least one");
        let c = SpeculationConfig {
            quantile: 0.75,
            ..c
        };
        assert_eq!(c.min_finished_for_speculation(10), 7, "floor(7.5)");
    }

    #[test]
    fn threshold_is_multiplier_times_median_at_least_min_runtime() {
        let c = SpeculationConfig::default();
        assert_eq!(c.threshold_ms(200.0), 600.0);
        assert_eq!(c.threshold_ms(20.0), 100.0, "minTaskRuntime");
    }

    #[test]
    fn median_is_the_upper_middle_as_in_sparks_percentile_heap() {
        let mut d = SuccessfulTaskDurations::default();
        assert_eq!(d.median(), None);
        d.insert(300);
        assert_eq!(d.median(), Some(300));
        d.insert(100);
        assert_eq!(d.median(), Some(300), "sorted[2 / 2] of [100, 300]");
        d.insert(200);
        assert_eq!(d.median(), Some(200));
        d.insert(200);
        assert_eq!(d.len(), 4);
        assert_eq!(d.median(), Some(200));
    }
}
