//! Dynamic-allocation settings, read from Spark properties and validated the way Spark does.
//!
//! Spark reads most of these keys in whole seconds (`timeConf(TimeUnit.SECONDS)`); only
//! `spark.dynamicAllocation.shuffleTracking.timeout` is read in milliseconds. The struct keeps
//! every duration in milliseconds; [`AllocationConfig::from_spark_conf`] applies Spark's unit
//! conversion (so `"1500ms"` for a seconds key becomes 1000 ms, exactly as Spark truncates it).

use std::collections::BTreeMap;

use thiserror::Error;

/// The Spark property names this module understands.
pub mod keys {
    /// `spark.dynamicAllocation.enabled`
    pub const ENABLED: &str = "spark.dynamicAllocation.enabled";
    /// `spark.dynamicAllocation.testing` (relaxes the shuffle-service requirement, as in Spark).
    pub const TESTING: &str = "spark.dynamicAllocation.testing";
    /// `spark.dynamicAllocation.minExecutors`
    pub const MIN_EXECUTORS: &str = "spark.dynamicAllocation.minExecutors";
    /// `spark.dynamicAllocation.maxExecutors`
    pub const MAX_EXECUTORS: &str = "spark.dynamicAllocation.maxExecutors";
    /// `spark.dynamicAllocation.initialExecutors`
    pub const INITIAL_EXECUTORS: &str = "spark.dynamicAllocation.initialExecutors";
    /// `spark.executor.instances`
    pub const EXECUTOR_INSTANCES: &str = "spark.executor.instances";
    /// `spark.dynamicAllocation.executorIdleTimeout`
    pub const EXECUTOR_IDLE_TIMEOUT: &str = "spark.dynamicAllocation.executorIdleTimeout";
    /// `spark.dynamicAllocation.cachedExecutorIdleTimeout`
    pub const CACHED_EXECUTOR_IDLE_TIMEOUT: &str =
        "spark.dynamicAllocation.cachedExecutorIdleTimeout";
    /// `spark.dynamicAllocation.schedulerBacklogTimeout`
    pub const SCHEDULER_BACKLOG_TIMEOUT: &str = "spark.dynamicAllocation.schedulerBacklogTimeout";
    /// `spark.dynamicAllocation.sustainedSchedulerBacklogTimeout`
    pub const SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT: &str =
        "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout";
    /// `spark.dynamicAllocation.executorAllocationRatio`
    pub const EXECUTOR_ALLOCATION_RATIO: &str = "spark.dynamicAllocation.executorAllocationRatio";
    /// `spark.executor.cores`
    pub const EXECUTOR_CORES: &str = "spark.executor.cores";
    /// `spark.task.cpus`
    pub const TASK_CPUS: &str = "spark.task.cpus";
    /// `spark.shuffle.service.enabled`
    pub const SHUFFLE_SERVICE_ENABLED: &str = "spark.shuffle.service.enabled";
    /// `spark.dynamicAllocation.shuffleTracking.enabled`
    pub const SHUFFLE_TRACKING_ENABLED: &str = "spark.dynamicAllocation.shuffleTracking.enabled";
    /// `spark.dynamicAllocation.shuffleTracking.timeout`
    pub const SHUFFLE_TRACKING_TIMEOUT: &str = "spark.dynamicAllocation.shuffleTracking.timeout";
    /// `spark.shuffle.service.fetch.rdd.enabled`
    pub const SHUFFLE_SERVICE_FETCH_RDD_ENABLED: &str = "spark.shuffle.service.fetch.rdd.enabled";
    /// `spark.decommission.enabled`
    pub const DECOMMISSION_ENABLED: &str = "spark.decommission.enabled";
    /// `spark.storage.decommission.shuffleBlocks.enabled`
    pub const STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED: &str =
        "spark.storage.decommission.shuffleBlocks.enabled";
}

/// Spark's default for `spark.dynamicAllocation.maxExecutors` (`Int.MaxValue`).
pub const DEFAULT_MAX_EXECUTORS: i64 = i32::MAX as i64;
/// Spark's default for `spark.dynamicAllocation.cachedExecutorIdleTimeout`
/// (`Integer.MAX_VALUE` seconds), in milliseconds.
pub const DEFAULT_CACHED_EXECUTOR_IDLE_TIMEOUT_MS: i64 = i32::MAX as i64 * 1000;

/// Settings of the dynamic executor allocation manager (Spark's `spark.dynamicAllocation.*`
/// and the few other keys it depends on). Durations are milliseconds; `None` means infinite.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationConfig {
    /// `spark.dynamicAllocation.enabled` (default false). Not checked by [`Self::validate`].
    pub enabled: bool,
    /// `spark.dynamicAllocation.testing` (default false): like Spark's test mode, removes the
    /// requirement of a shuffle service or shuffle tracking.
    pub testing: bool,
    /// `spark.dynamicAllocation.minExecutors` (default 0).
    pub min_executors: i64,
    /// `spark.dynamicAllocation.maxExecutors` (default `Int.MaxValue`).
    pub max_executors: i64,
    /// `spark.dynamicAllocation.initialExecutors`; `None` falls back to `min_executors`.
    pub initial_executors: Option<i64>,
    /// `spark.executor.instances`, if set.
    pub executor_instances: Option<i64>,
    /// `spark.dynamicAllocation.executorIdleTimeout` (default 60 s).
    pub executor_idle_timeout_ms: Option<i64>,
    /// `spark.dynamicAllocation.cachedExecutorIdleTimeout` (default `Integer.MAX_VALUE` s).
    pub cached_executor_idle_timeout_ms: Option<i64>,
    /// `spark.dynamicAllocation.schedulerBacklogTimeout` (default 1 s).
    pub scheduler_backlog_timeout_ms: i64,
    /// `spark.dynamicAllocation.sustainedSchedulerBacklogTimeout` (defaults to the backlog timeout).
    pub sustained_scheduler_backlog_timeout_ms: i64,
    /// `spark.dynamicAllocation.executorAllocationRatio` (default 1.0).
    pub executor_allocation_ratio: f64,
    /// `spark.executor.cores` (default 1).
    pub executor_cores: i64,
    /// `spark.task.cpus` (default 1).
    pub task_cpus: i64,
    /// `spark.shuffle.service.enabled` (default false).
    pub shuffle_service_enabled: bool,
    /// `spark.dynamicAllocation.shuffleTracking.enabled` (default false here; see the crate docs).
    pub shuffle_tracking_enabled: bool,
    /// `spark.dynamicAllocation.shuffleTracking.timeout` (default infinite).
    pub shuffle_tracking_timeout_ms: Option<i64>,
    /// `spark.shuffle.service.fetch.rdd.enabled` (default false).
    pub shuffle_service_fetch_rdd_enabled: bool,
    /// `spark.decommission.enabled` (default false): idle executors are decommissioned
    /// instead of killed.
    pub decommission_enabled: bool,
    /// `spark.storage.decommission.shuffleBlocks.enabled` (default true).
    pub storage_decommission_shuffle_blocks_enabled: bool,
}

impl Default for AllocationConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            testing: false,
            min_executors: 0,
            max_executors: DEFAULT_MAX_EXECUTORS,
            initial_executors: None,
            executor_instances: None,
            executor_idle_timeout_ms: Some(60_000),
            cached_executor_idle_timeout_ms: Some(DEFAULT_CACHED_EXECUTOR_IDLE_TIMEOUT_MS),
            scheduler_backlog_timeout_ms: 1000,
            sustained_scheduler_backlog_timeout_ms: 1000,
            executor_allocation_ratio: 1.0,
            executor_cores: 1,
            task_cpus: 1,
            shuffle_service_enabled: false,
            shuffle_tracking_enabled: false,
            shuffle_tracking_timeout_ms: None,
            shuffle_service_fetch_rdd_enabled: false,
            decommission_enabled: false,
            storage_decommission_shuffle_blocks_enabled: true,
        }
    }
}

/// A setting Spark would refuse, or a property value it could not parse.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `minExecutors` or `maxExecutors` is negative.
    #[error(
        "spark.dynamicAllocation.minExecutors ({min}) and spark.dynamicAllocation.maxExecutors \
         ({max}) must be positive"
    )]
    NegativeExecutorBounds {
        /// The configured minimum.
        min: i64,
        /// The configured maximum.
        max: i64,
    },
    /// `maxExecutors` is 0.
    #[error("spark.dynamicAllocation.maxExecutors cannot be 0")]
    ZeroMaxExecutors,
    /// `minExecutors` is above `maxExecutors`.
    #[error(
        "spark.dynamicAllocation.minExecutors ({min}) must be less than or equal to \
         spark.dynamicAllocation.maxExecutors ({max})"
    )]
    MinExceedsMax {
        /// The configured minimum.
        min: i64,
        /// The configured maximum.
        max: i64,
    },
    /// A backlog timeout is under one second (Spark reads it in whole seconds and needs > 0).
    #[error("{key} must be > 0 seconds (got {value_ms} ms)")]
    BacklogTimeoutTooSmall {
        /// The offending Spark key.
        key: &'static str,
        /// The configured value in milliseconds.
        value_ms: i64,
    },
    /// A timeout is negative.
    #[error("{key} must be >= 0 (got {value_ms} ms)")]
    NegativeTimeout {
        /// The offending Spark key.
        key: &'static str,
        /// The configured value in milliseconds.
        value_ms: i64,
    },
    /// `executorAllocationRatio` is outside (0, 1].
    #[error(
        "spark.dynamicAllocation.executorAllocationRatio must be > 0 and <= 1.0 (got {ratio})"
    )]
    InvalidAllocationRatio {
        /// The configured ratio.
        ratio: f64,
    },
    /// `spark.task.cpus` is below 1.
    #[error("spark.task.cpus must be at least 1 (got {task_cpus})")]
    InvalidTaskCpus {
        /// The configured value.
        task_cpus: i64,
    },
    /// `spark.executor.cores` is below `spark.task.cpus`.
    #[error(
        "spark.executor.cores ({executor_cores}) must not be less than spark.task.cpus \
         ({task_cpus})"
    )]
    ExecutorCoresBelowTaskCpus {
        /// The configured executor cores.
        executor_cores: i64,
        /// The configured task cpus.
        task_cpus: i64,
    },
    /// Neither an external shuffle service nor shuffle tracking (nor shuffle-block
    /// decommissioning) keeps shuffle data safe when executors go away.
    #[error(
        "dynamic allocation requires spark.shuffle.service.enabled, \
         spark.dynamicAllocation.shuffleTracking.enabled, or spark.decommission.enabled with \
         spark.storage.decommission.shuffleBlocks.enabled"
    )]
    ShuffleServiceRequired,
    /// A property value could not be parsed.
    #[error("{key}: cannot parse {value:?}: {reason}")]
    InvalidValue {
        /// The property key.
        key: String,
        /// The raw value.
        value: String,
        /// Why it was refused.
        reason: String,
    },
}

impl ConfigError {
    /// A stable code for this error, for CLIs and tests to match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NegativeExecutorBounds { .. } => "DRA_NEGATIVE_BOUNDS",
            Self::ZeroMaxExecutors => "DRA_ZERO_MAX",
            Self::MinExceedsMax { .. } => "DRA_MIN_ABOVE_MAX",
            Self::BacklogTimeoutTooSmall { .. } => "DRA_BACKLOG_TIMEOUT",
            Self::NegativeTimeout { .. } => "DRA_NEGATIVE_TIMEOUT",
            Self::InvalidAllocationRatio { .. } => "DRA_RATIO",
            Self::InvalidTaskCpus { .. } => "DRA_TASK_CPUS",
            Self::ExecutorCoresBelowTaskCpus { .. } => "DRA_CORES_BELOW_TASK_CPUS",
            Self::ShuffleServiceRequired => "DRA_SHUFFLE_SERVICE_REQUIRED",
            Self::InvalidValue { .. } => "DRA_INVALID_VALUE",
        }
    }

    /// The Spark keys this error is about.
    pub fn keys(&self) -> Vec<String> {
        let fixed: &[&str] = match self {
            Self::NegativeExecutorBounds { .. } | Self::MinExceedsMax { .. } => {
                &[keys::MIN_EXECUTORS, keys::MAX_EXECUTORS]
            }
            Self::ZeroMaxExecutors => &[keys::MAX_EXECUTORS],
            Self::BacklogTimeoutTooSmall { key, .. } | Self::NegativeTimeout { key, .. } => {
                return vec![(*key).to_owned()];
            }
            Self::InvalidAllocationRatio { .. } => &[keys::EXECUTOR_ALLOCATION_RATIO],
            Self::InvalidTaskCpus { .. } => &[keys::TASK_CPUS],
            Self::ExecutorCoresBelowTaskCpus { .. } => &[keys::EXECUTOR_CORES, keys::TASK_CPUS],
            Self::ShuffleServiceRequired => &[
                keys::SHUFFLE_SERVICE_ENABLED,
                keys::SHUFFLE_TRACKING_ENABLED,
                keys::DECOMMISSION_ENABLED,
                keys::STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED,
            ],
            Self::InvalidValue { key, .. } => return vec![key.clone()],
        };
        fixed.iter().map(|k| (*k).to_owned()).collect()
    }
}

impl AllocationConfig {
    /// Reads the dynamic-allocation keys from Spark properties, with Spark's defaults for
    /// the keys that are absent. Only parses; call [`Self::validate`] to apply Spark's rules.
    pub fn from_spark_conf(props: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| props.get(key).map(String::as_str);
        let mut c = Self::default();
        if let Some(v) = get(keys::ENABLED) {
            c.enabled = parse_bool(keys::ENABLED, v)?;
        }
        if let Some(v) = get(keys::TESTING) {
            c.testing = parse_bool(keys::TESTING, v)?;
        }
        if let Some(v) = get(keys::MIN_EXECUTORS) {
            c.min_executors = parse_int(keys::MIN_EXECUTORS, v)?;
        }
        if let Some(v) = get(keys::MAX_EXECUTORS) {
            c.max_executors = parse_int(keys::MAX_EXECUTORS, v)?;
        }
        if let Some(v) = get(keys::INITIAL_EXECUTORS) {
            c.initial_executors = Some(parse_int(keys::INITIAL_EXECUTORS, v)?);
        }
        if let Some(v) = get(keys::EXECUTOR_INSTANCES) {
            c.executor_instances = Some(parse_int(keys::EXECUTOR_INSTANCES, v)?);
        }
        if let Some(v) = get(keys::EXECUTOR_IDLE_TIMEOUT) {
            c.executor_idle_timeout_ms = Some(parse_time_ms(
                keys::EXECUTOR_IDLE_TIMEOUT,
                v,
                TimeUnit::Seconds,
            )?);
        }
        if let Some(v) = get(keys::CACHED_EXECUTOR_IDLE_TIMEOUT) {
            c.cached_executor_idle_timeout_ms = Some(parse_time_ms(
                keys::CACHED_EXECUTOR_IDLE_TIMEOUT,
                v,
                TimeUnit::Seconds,
            )?);
        }
        if let Some(v) = get(keys::SCHEDULER_BACKLOG_TIMEOUT) {
            c.scheduler_backlog_timeout_ms =
                parse_time_ms(keys::SCHEDULER_BACKLOG_TIMEOUT, v, TimeUnit::Seconds)?;
        }
        c.sustained_scheduler_backlog_timeout_ms =
            match get(keys::SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT) {
                Some(v) => parse_time_ms(
                    keys::SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT,
                    v,
                    TimeUnit::Seconds,
                )?,
                None => c.scheduler_backlog_timeout_ms,
            };
        if let Some(v) = get(keys::EXECUTOR_ALLOCATION_RATIO) {
            c.executor_allocation_ratio = parse_double(keys::EXECUTOR_ALLOCATION_RATIO, v)?;
        }
        if let Some(v) = get(keys::EXECUTOR_CORES) {
            c.executor_cores = parse_int(keys::EXECUTOR_CORES, v)?;
        }
        if let Some(v) = get(keys::TASK_CPUS) {
            c.task_cpus = parse_int(keys::TASK_CPUS, v)?;
        }
        if let Some(v) = get(keys::SHUFFLE_SERVICE_ENABLED) {
            c.shuffle_service_enabled = parse_bool(keys::SHUFFLE_SERVICE_ENABLED, v)?;
        }
        if let Some(v) = get(keys::SHUFFLE_TRACKING_ENABLED) {
            c.shuffle_tracking_enabled = parse_bool(keys::SHUFFLE_TRACKING_ENABLED, v)?;
        }
        if let Some(v) = get(keys::SHUFFLE_TRACKING_TIMEOUT) {
            let ms = parse_time_ms(keys::SHUFFLE_TRACKING_TIMEOUT, v, TimeUnit::Milliseconds)?;
            // Spark's default is Long.MaxValue ms, which never expires.
            c.shuffle_tracking_timeout_ms = (ms != i64::MAX).then_some(ms);
        }
        if let Some(v) = get(keys::SHUFFLE_SERVICE_FETCH_RDD_ENABLED) {
            c.shuffle_service_fetch_rdd_enabled =
                parse_bool(keys::SHUFFLE_SERVICE_FETCH_RDD_ENABLED, v)?;
        }
        if let Some(v) = get(keys::DECOMMISSION_ENABLED) {
            c.decommission_enabled = parse_bool(keys::DECOMMISSION_ENABLED, v)?;
        }
        if let Some(v) = get(keys::STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED) {
            c.storage_decommission_shuffle_blocks_enabled =
                parse_bool(keys::STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED, v)?;
        }
        Ok(c)
    }

    /// Applies Spark's rules (ExecutorAllocationManager.validateSettings, the timeout
    /// `checkValue`s and the cores-per-task check) and returns the first violation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (min, max) = (self.min_executors, self.max_executors);
        if min < 0 || max < 0 {
            return Err(ConfigError::NegativeExecutorBounds { min, max });
        }
        if max == 0 {
            return Err(ConfigError::ZeroMaxExecutors);
        }
        if min > max {
            return Err(ConfigError::MinExceedsMax { min, max });
        }
        for (key, value_ms) in [
            (
                keys::SCHEDULER_BACKLOG_TIMEOUT,
                self.scheduler_backlog_timeout_ms,
            ),
            (
                keys::SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT,
                self.sustained_scheduler_backlog_timeout_ms,
            ),
        ] {
            if value_ms < 1000 {
                return Err(ConfigError::BacklogTimeoutTooSmall { key, value_ms });
            }
        }
        let shuffle_data_kept = self.shuffle_service_enabled
            || self.shuffle_tracking_enabled
            || (self.decommission_enabled && self.storage_decommission_shuffle_blocks_enabled);
        if !shuffle_data_kept && !self.testing {
            return Err(ConfigError::ShuffleServiceRequired);
        }
        let ratio = self.executor_allocation_ratio;
        if !(ratio > 0.0 && ratio <= 1.0) {
            return Err(ConfigError::InvalidAllocationRatio { ratio });
        }
        for (key, value) in [
            (keys::EXECUTOR_IDLE_TIMEOUT, self.executor_idle_timeout_ms),
            (
                keys::CACHED_EXECUTOR_IDLE_TIMEOUT,
                self.cached_executor_idle_timeout_ms,
            ),
            (
                keys::SHUFFLE_TRACKING_TIMEOUT,
                self.shuffle_tracking_timeout_ms,
            ),
        ] {
            if let Some(value_ms) = value.filter(|v| *v < 0) {
                return Err(ConfigError::NegativeTimeout { key, value_ms });
            }
        }
        if self.task_cpus < 1 {
            return Err(ConfigError::InvalidTaskCpus {
                task_cpus: self.task_cpus,
            });
        }
        if self.executor_cores < self.task_cpus {
            return Err(ConfigError::ExecutorCoresBelowTaskCpus {
                executor_cores: self.executor_cores,
                task_cpus: self.task_cpus,
            });
        }
        Ok(())
    }

    /// The starting target: the largest of `minExecutors`, `initialExecutors` and
    /// `spark.executor.instances` (Spark's `Utils.getDynamicAllocationInitialExecutors`).
    pub fn initial_num_executors(&self) -> i64 {
        let initial = self.initial_executors.unwrap_or(self.min_executors);
        self.min_executors
            .max(initial)
            .max(self.executor_instances.unwrap_or(0))
    }

    /// How many tasks one executor runs at once: `spark.executor.cores / spark.task.cpus`.
    pub fn tasks_per_executor(&self) -> i64 {
        if self.task_cpus <= 0 {
            return 1;
        }
        (self.executor_cores / self.task_cpus).max(1)
    }

    /// Whether executors' shuffle output is tracked (tracking on and no external service).
    pub fn shuffle_tracking_active(&self) -> bool {
        !self.shuffle_service_enabled && self.shuffle_tracking_enabled
    }

    /// Whether disk-persisted RDD blocks can be served by the external shuffle service.
    pub fn fetch_from_shuffle_service_enabled(&self) -> bool {
        self.shuffle_service_enabled && self.shuffle_service_fetch_rdd_enabled
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "should be boolean")),
    }
}

fn parse_int(key: &str, value: &str) -> Result<i64, ConfigError> {
    value
        .trim()
        .parse::<i32>()
        .map(i64::from)
        .map_err(|_| invalid(key, value, "should be an int"))
}

fn parse_double(key: &str, value: &str) -> Result<f64, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .map_err(|_| invalid(key, value, "should be a double"))
}

/// Units of Spark time strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeUnit {
    /// `us`
    Microseconds,
    /// `ms`
    Milliseconds,
    /// `s`
    Seconds,
    /// `m` or `min`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
}

impl TimeUnit {
    fn nanos(self) -> i128 {
        match self {
            Self::Microseconds => 1_000,
            Self::Milliseconds => 1_000_000,
            Self::Seconds => 1_000_000_000,
            Self::Minutes => 60_000_000_000,
            Self::Hours => 3_600_000_000_000,
            Self::Days => 86_400_000_000_000,
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "us" => Self::Microseconds,
            "ms" => Self::Milliseconds,
            "s" => Self::Seconds,
            "m" | "min" => Self::Minutes,
            "h" => Self::Hours,
            "d" => Self::Days,
            _ => return None,
        })
    }
}

/// Parses a Spark time string (`"3s"`, `"500ms"`, `"1min"`, `"2h"`, or a plain number in
/// `default_unit`) into `unit`, truncating toward zero and saturating as Java's
/// `TimeUnit.convert` does.
pub fn parse_time_string(value: &str, default_unit: TimeUnit) -> Result<i64, String> {
    let lower = value.trim().to_ascii_lowercase();
    let digits_start = usize::from(lower.starts_with('-'));
    let digits_end = lower[digits_start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(lower.len(), |i| i + digits_start);
    if digits_end == digits_start {
        return Err(format!("failed to parse time string {value:?}"));
    }
    let number: i64 = lower[..digits_end]
        .parse()
        .map_err(|_| format!("failed to parse time string {value:?}"))?;
    let suffix = &lower[digits_end..];
    let unit = if suffix.is_empty() {
        default_unit
    } else if suffix.bytes().all(|b| b.is_ascii_lowercase()) {
        TimeUnit::from_suffix(suffix).ok_or_else(|| format!("invalid suffix {suffix:?}"))?
    } else {
        return Err(format!("failed to parse time string {value:?}"));
    };
    let nanos = i128::from(number) * unit.nanos();
    let converted = nanos / default_unit.nanos();
    Ok(converted.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Parses a time property read by Spark in `spark_unit`, returned in milliseconds.
fn parse_time_ms(key: &str, value: &str, spark_unit: TimeUnit) -> Result<i64, ConfigError> {
    let in_unit = parse_time_string(value, spark_unit).map_err(|e| invalid(key, value, e))?;
    let ms = i128::from(in_unit) * spark_unit.nanos() / TimeUnit::Milliseconds.nanos();
    Ok(ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> AllocationConfig {
        AllocationConfig {
            shuffle_service_enabled: true,
            ..AllocationConfig::default()
        }
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_follow_spark() {
        let c = AllocationConfig::from_spark_conf(&BTreeMap::new()).unwrap();
        assert!(!c.enabled);
        assert_eq!(c.min_executors, 0);
        assert_eq!(c.max_executors, i64::from(i32::MAX));
        assert_eq!(c.initial_num_executors(), 0);
        assert_eq!(c.executor_allocation_ratio, 1.0);
        assert_eq!(c.scheduler_backlog_timeout_ms, 1000);
        assert_eq!(c.sustained_scheduler_backlog_timeout_ms, 1000);
        assert_eq!(c.executor_idle_timeout_ms, Some(60_000));
        assert_eq!(c.cached_executor_idle_timeout_ms, Some(2_147_483_647_000));
        assert!(!c.shuffle_tracking_enabled);
        assert_eq!(c.shuffle_tracking_timeout_ms, None);
        assert_eq!(c.tasks_per_executor(), 1);
    }

    #[test]
    fn parses_spark_properties() {
        let c = AllocationConfig::from_spark_conf(&props(&[
            (keys::ENABLED, "true"),
            (keys::MIN_EXECUTORS, "2"),
            (keys::MAX_EXECUTORS, " 8 "),
            (keys::INITIAL_EXECUTORS, "3"),
            (keys::EXECUTOR_INSTANCES, "5"),
            (keys::EXECUTOR_IDLE_TIMEOUT, "2min"),
            (keys::CACHED_EXECUTOR_IDLE_TIMEOUT, "1h"),
            (keys::SCHEDULER_BACKLOG_TIMEOUT, "3"),
            (keys::EXECUTOR_ALLOCATION_RATIO, "0.5"),
            (keys::EXECUTOR_CORES, "4"),
            (keys::TASK_CPUS, "2"),
            (keys::SHUFFLE_TRACKING_ENABLED, "TRUE"),
            (keys::SHUFFLE_TRACKING_TIMEOUT, "1500"),
        ]))
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.initial_num_executors(), 5);
        assert_eq!(c.executor_idle_timeout_ms, Some(120_000));
        assert_eq!(c.cached_executor_idle_timeout_ms, Some(3_600_000));
        // A plain number is in the key's own unit: seconds here...
        assert_eq!(c.scheduler_backlog_timeout_ms, 3000);
        // ...and the sustained timeout falls back to it.
        assert_eq!(c.sustained_scheduler_backlog_timeout_ms, 3000);
        // ...milliseconds for the shuffle tracking timeout.
        assert_eq!(c.shuffle_tracking_timeout_ms, Some(1500));
        assert_eq!(c.tasks_per_executor(), 2);
        assert!(c.shuffle_tracking_active());
        c.validate().unwrap();
    }

    #[test]
    fn seconds_keys_truncate_like_spark() {
        let c = AllocationConfig::from_spark_conf(&props(&[
            (keys::SCHEDULER_BACKLOG_TIMEOUT, "1500ms"),
            (keys::SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT, "500ms"),
            (keys::SHUFFLE_SERVICE_ENABLED, "true"),
        ]))
        .unwrap();
        assert_eq!(c.scheduler_backlog_timeout_ms, 1000);
        assert_eq!(c.sustained_scheduler_backlog_timeout_ms, 0);
        let err = c.validate().unwrap_err();
        assert!(err
            .to_string()
            .contains("spark.dynamicAllocation.sustainedSchedulerBacklogTimeout"));
    }

    #[test]
    fn time_strings() {
        use TimeUnit::*;
        assert_eq!(parse_time_string("3s", Milliseconds), Ok(3000));
        assert_eq!(parse_time_string("500ms", Seconds), Ok(0));
        assert_eq!(parse_time_string("1min", Seconds), Ok(60));
        assert_eq!(parse_time_string("1m", Seconds), Ok(60));
        assert_eq!(parse_time_string("2h", Seconds), Ok(7200));
        assert_eq!(parse_time_string("1d", Seconds), Ok(86_400));
        assert_eq!(parse_time_string("1500us", Milliseconds), Ok(1));
        assert_eq!(parse_time_string(" 7 ", Seconds), Ok(7));
        assert_eq!(parse_time_string("-3s", Seconds), Ok(-3));
        assert!(parse_time_string("3 s", Seconds).is_err());
        assert!(parse_time_string("3sec", Seconds).is_err());
        assert!(parse_time_string("", Seconds).is_err());
        assert!(parse_time_string("s", Seconds).is_err());
        assert_eq!(
            parse_time_string("9223372036854775807d", Milliseconds),
            Ok(i64::MAX)
        );
    }

    #[test]
    fn parse_errors_name_the_key() {
        let err =
            AllocationConfig::from_spark_conf(&props(&[(keys::MIN_EXECUTORS, "two")])).unwrap_err();
        assert_eq!(err.code(), "DRA_INVALID_VALUE");
        assert_eq!(err.keys(), vec![keys::MIN_EXECUTORS.to_owned()]);
        assert!(err.to_string().contains(keys::MIN_EXECUTORS));
        let err = AllocationConfig::from_spark_conf(&props(&[(keys::EXECUTOR_IDLE_TIMEOUT, "3x")]))
            .unwrap_err();
        assert!(err.to_string().contains(keys::EXECUTOR_IDLE_TIMEOUT));
    }

    #[test]
    fn min_max_boundaries() {
        let with = |min, max| AllocationConfig {
            min_executors: min,
            max_executors: max,
            ..base()
        };
        assert!(matches!(
            with(-1, 5).validate(),
            Err(ConfigError::NegativeExecutorBounds { .. })
        ));
        assert!(matches!(
            with(1, -1).validate(),
            Err(ConfigError::NegativeExecutorBounds { .. })
        ));
        assert_eq!(with(0, 0).validate(), Err(ConfigError::ZeroMaxExecutors));
        assert!(matches!(
            with(2, 1).validate(),
            Err(ConfigError::MinExceedsMax { min: 2, max: 1 })
        ));
        assert_eq!(with(1, 1).validate(), Ok(()));
        assert_eq!(with(1, 2).validate(), Ok(()));
        assert_eq!(with(0, 1).validate(), Ok(()));
        let err = with(2, 1).validate().unwrap_err();
        assert!(err.to_string().contains(keys::MIN_EXECUTORS));
        assert!(err.to_string().contains(keys::MAX_EXECUTORS));
        assert_eq!(err.keys().len(), 2);
    }

    #[test]
    fn initial_below_min_is_raised_not_refused() {
        let c = AllocationConfig {
            min_executors: 3,
            initial_executors: Some(1),
            ..base()
        };
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.initial_num_executors(), 3);
        let c = AllocationConfig {
            min_executors: 1,
            initial_executors: Some(2),
            executor_instances: Some(4),
            ..base()
        };
        assert_eq!(c.initial_num_executors(), 4);
    }

    #[test]
    fn backlog_timeout_boundaries() {
        for (backlog, sustained, ok) in [
            (1000, 1000, true),
            (999, 1000, false),
            (1000, 999, false),
            (0, 1000, false),
            (-1000, 1000, false),
        ] {
            let c = AllocationConfig {
                scheduler_backlog_timeout_ms: backlog,
                sustained_scheduler_backlog_timeout_ms: sustained,
                ..base()
            };
            assert_eq!(c.validate().is_ok(), ok, "{backlog} {sustained}");
        }
    }

    #[test]
    fn ratio_boundaries() {
        for (ratio, ok) in [
            (1.0, true),
            (0.0001, true),
            (0.0, false),
            (-0.5, false),
            (1.0001, false),
        ] {
            let c = AllocationConfig {
                executor_allocation_ratio: ratio,
                ..base()
            };
            assert_eq!(c.validate().is_ok(), ok, "{ratio}");
        }
        let err = AllocationConfig {
            executor_allocation_ratio: 2.0,
            ..base()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains(keys::EXECUTOR_ALLOCATION_RATIO));
    }

    #[test]
    fn timeout_boundaries() {
        let ok = AllocationConfig {
            executor_idle_timeout_ms: Some(0),
            cached_executor_idle_timeout_ms: Some(0),
            shuffle_tracking_timeout_ms: Some(0),
            ..base()
        };
        assert_eq!(ok.validate(), Ok(()));
        let idle = AllocationConfig {
            executor_idle_timeout_ms: Some(-1),
            ..base()
        };
        assert_eq!(
            idle.validate(),
            Err(ConfigError::NegativeTimeout {
                key: keys::EXECUTOR_IDLE_TIMEOUT,
                value_ms: -1
            })
        );
        let cached = AllocationConfig {
            cached_executor_idle_timeout_ms: Some(-1000),
            ..base()
        };
        assert!(cached
            .validate()
            .unwrap_err()
            .to_string()
            .contains(keys::CACHED_EXECUTOR_IDLE_TIMEOUT));
        let tracking = AllocationConfig {
            shuffle_tracking_timeout_ms: Some(-1),
            ..base()
        };
        assert!(tracking
            .validate()
            .unwrap_err()
            .to_string()
            .contains(keys::SHUFFLE_TRACKING_TIMEOUT));
    }

    #[test]
    fn cores_and_task_cpus() {
        let with = |cores, cpus| AllocationConfig {
            executor_cores: cores,
            task_cpus: cpus,
            ..base()
        };
        assert_eq!(with(2, 2).validate(), Ok(()));
        assert_eq!(with(3, 2).validate(), Ok(()));
        assert_eq!(with(3, 2).tasks_per_executor(), 1);
        let err = with(1, 2).validate().unwrap_err();
        assert_eq!(err.code(), "DRA_CORES_BELOW_TASK_CPUS");
        assert!(err.to_string().contains(keys::EXECUTOR_CORES));
        assert!(err.to_string().contains(keys::TASK_CPUS));
        assert!(matches!(
            with(1, 0).validate(),
            Err(ConfigError::InvalidTaskCpus { .. })
        ));
    }

    #[test]
    fn shuffle_data_must_be_safe_unless_testing() {
        let none = AllocationConfig::default();
        assert_eq!(none.validate(), Err(ConfigError::ShuffleServiceRequired));
        let tracking = AllocationConfig {
            shuffle_tracking_enabled: true,
            ..AllocationConfig::default()
        };
        assert_eq!(tracking.validate(), Ok(()));
        let decommission = AllocationConfig {
            decommission_enabled: true,
            ..AllocationConfig::default()
        };
        assert_eq!(decommission.validate(), Ok(()));
        let testing = AllocationConfig {
            testing: true,
            ..AllocationConfig::default()
        };
        assert_eq!(testing.validate(), Ok(()));
    }
}
