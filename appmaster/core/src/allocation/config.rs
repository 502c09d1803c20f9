//! Dynamic-allocation settings, read from Spark properties and validated the way Spark does.
//!
//! Spark reads most of these keys in whole seconds (`timeConf(TimeUnit.SECONDS)`); only
//! `spark.dynamicAllocation.shuffleTracking.timeout` is read in milliseconds. The struct keeps
//! every duration in milliseconds; [`AllocationConfig::from_conf`] reads them through the one
//! Spark-conf layer and applies Spark's unit conversion (so `"1500ms"` for a seconds key becomes 1000 ms, exactly as Spark truncates it).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::sparkconf::keys;
use crate::sparkconf::{SparkConf, SparkConfError, TimeUnit};

/// Spark's default for `spark.dynamicAllocation.maxExecutors` (`Int.MaxValue`).
pub const DEFAULT_MAX_EXECUTORS: i64 = i32::MAX as i64;
/// Spark's default for `spark.dynamicAllocation.cachedExecutorIdleTimeout`
/// (`Integer.MAX_VALUE` seconds), in milliseconds.
pub const DEFAULT_CACHED_EXECUTOR_IDLE_TIMEOUT_MS: i64 = i32::MAX as i64 * 1000;

/// The eager policy's idle timeout is this many times the median measured executor start
/// latency...
pub const EAGER_IDLE_TIMEOUT_FACTOR: u64 = 4;
/// ...and never less than this many milliseconds (also the timeout until a start latency has
/// been measured).
pub const EAGER_MIN_IDLE_TIMEOUT_MS: u64 = 100;

/// Which rules decide the executor target and idle removals
/// (`spindle.dynamicAllocation.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AllocationPolicy {
    /// Apache Spark's `ExecutorAllocationManager` rules, exactly (the default): backlog timers,
    /// the 1, 2, 4, ... ramp, `executorIdleTimeout`.
    #[default]
    Spark,
    /// Spindle's own, for executors that start in milliseconds: the target is what the
    /// pending and running tasks need (capped by `maxExecutors`) the moment it changes, with
    /// no backlog timer and no ramp; an idle executor goes after
    /// [`EAGER_IDLE_TIMEOUT_FACTOR`] times the median measured start latency (at least
    /// [`EAGER_MIN_IDLE_TIMEOUT_MS`]; `spindle.dynamicAllocation.eager.idleTimeout`
    /// overrides), keeping `minExecutors` and whatever shuffle tracking keeps.
    Eager,
}

impl AllocationPolicy {
    /// Every policy, in the order they are documented.
    pub const ALL: [Self; 2] = [Self::Spark, Self::Eager];

    /// The property value naming this policy.
    pub fn name(self) -> &'static str {
        match self {
            Self::Spark => "spark",
            Self::Eager => "eager",
        }
    }

    /// The policy a property value names (case and surrounding spaces ignored).
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(v))
    }
}

impl std::fmt::Display for AllocationPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
    /// `spindle.dynamicAllocation.policy` (default [`AllocationPolicy::Spark`]).
    pub policy: AllocationPolicy,
    /// `spindle.dynamicAllocation.eager.idleTimeout`: the eager policy's idle timeout;
    /// `None` derives it from the measured start latency
    /// ([`Self::eager_executor_idle_timeout_ms`]).
    pub eager_idle_timeout_ms: Option<i64>,
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
            policy: AllocationPolicy::Spark,
            eager_idle_timeout_ms: None,
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
        Self::from_conf(&SparkConf::from(props.clone())).map_err(|e| {
            let key = e.keys().into_iter().next().unwrap_or_default();
            let value = props.get(&key).cloned().unwrap_or_default();
            let reason = match e {
                SparkConfError::InvalidBool { .. } => "should be boolean".to_owned(),
                SparkConfError::InvalidInt { .. } => "should be an int".to_owned(),
                SparkConfError::InvalidNumber { .. } => "should be a double".to_owned(),
                SparkConfError::OutOfRange { requirement, .. } => {
                    format!("should be {requirement}")
                }
                _ => "not a time string (e.g. 60s, 500ms, 2min)".to_owned(),
            };
            ConfigError::InvalidValue { key, value, reason }
        })
    }

    /// Reads the dynamic-allocation keys through the one Spark-conf layer (its parsers and
    /// errors), with Spark's defaults for absent keys. Spark reads the timeouts in whole
    /// seconds, the shuffle tracking timeout in milliseconds.
    pub fn from_conf(conf: &SparkConf) -> Result<Self, SparkConfError> {
        let d = Self::default();
        let secs = |key: &str, default: Option<i64>| -> Result<Option<i64>, SparkConfError> {
            match conf.get(key) {
                Some(_) => Ok(Some(conf.get_time_ms(key, TimeUnit::Seconds, 0)?)),
                None => Ok(default),
            }
        };
        let scheduler_backlog_timeout_ms = conf.get_time_ms(
            keys::SCHEDULER_BACKLOG_TIMEOUT,
            TimeUnit::Seconds,
            d.scheduler_backlog_timeout_ms,
        )?;
        Ok(Self {
            enabled: conf.get_bool(keys::DYNAMIC_ALLOCATION_ENABLED, d.enabled)?,
            testing: conf.get_bool(keys::TESTING, d.testing)?,
            min_executors: conf.get_int(keys::MIN_EXECUTORS, d.min_executors)?,
            max_executors: conf.get_int(keys::MAX_EXECUTORS, d.max_executors)?,
            initial_executors: conf.get_opt_int(keys::INITIAL_EXECUTORS)?,
            executor_instances: conf.get_opt_int(keys::EXECUTOR_INSTANCES)?,
            executor_idle_timeout_ms: secs(
                keys::EXECUTOR_IDLE_TIMEOUT,
                d.executor_idle_timeout_ms,
            )?,
            cached_executor_idle_timeout_ms: secs(
                keys::CACHED_EXECUTOR_IDLE_TIMEOUT,
                d.cached_executor_idle_timeout_ms,
            )?,
            scheduler_backlog_timeout_ms,
            sustained_scheduler_backlog_timeout_ms: conf.get_time_ms(
                keys::SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT,
                TimeUnit::Seconds,
                scheduler_backlog_timeout_ms,
            )?,
            executor_allocation_ratio: conf
                .get_double(keys::EXECUTOR_ALLOCATION_RATIO, d.executor_allocation_ratio)?,
            executor_cores: conf.get_int(keys::EXECUTOR_CORES, d.executor_cores)?,
            task_cpus: conf.get_int(keys::TASK_CPUS, d.task_cpus)?,
            shuffle_service_enabled: conf
                .get_bool(keys::SHUFFLE_SERVICE_ENABLED, d.shuffle_service_enabled)?,
            shuffle_tracking_enabled: conf
                .get_bool(keys::SHUFFLE_TRACKING_ENABLED, d.shuffle_tracking_enabled)?,
            // Spark's default is Long.MaxValue ms, which never expires.
            shuffle_tracking_timeout_ms: match conf.get(keys::SHUFFLE_TRACKING_TIMEOUT) {
                Some(_) => Some(conf.get_time_ms(
                    keys::SHUFFLE_TRACKING_TIMEOUT,
                    TimeUnit::Milliseconds,
                    0,
                )?)
                .filter(|ms| *ms != i64::MAX),
                None => d.shuffle_tracking_timeout_ms,
            },
            shuffle_service_fetch_rdd_enabled: conf.get_bool(
                keys::SHUFFLE_SERVICE_FETCH_RDD_ENABLED,
                d.shuffle_service_fetch_rdd_enabled,
            )?,
            decommission_enabled: conf
                .get_bool(keys::DECOMMISSION_ENABLED, d.decommission_enabled)?,
            storage_decommission_shuffle_blocks_enabled: conf.get_bool(
                keys::STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED,
                d.storage_decommission_shuffle_blocks_enabled,
            )?,
            policy: match conf.get(keys::DYNAMIC_ALLOCATION_POLICY) {
                None => d.policy,
                Some(v) => {
                    AllocationPolicy::parse(v).ok_or_else(|| SparkConfError::OutOfRange {
                        key: keys::DYNAMIC_ALLOCATION_POLICY.to_owned(),
                        value: v.to_owned(),
                        requirement: "one of spark, eager".to_owned(),
                    })?
                }
            },
            // Spindle's own key: a plain number is milliseconds.
            eager_idle_timeout_ms: match conf.get(keys::EAGER_IDLE_TIMEOUT) {
                Some(_) => {
                    Some(conf.get_time_ms(keys::EAGER_IDLE_TIMEOUT, TimeUnit::Milliseconds, 0)?)
                }
                None => d.eager_idle_timeout_ms,
            },
        })
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
            (keys::EAGER_IDLE_TIMEOUT, self.eager_idle_timeout_ms),
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

    /// The eager policy's executor idle timeout, given the median measured executor start
    /// latency (`None` before any was measured): `spindle.dynamicAllocation.eager.idleTimeout`
    /// if set, else [`EAGER_IDLE_TIMEOUT_FACTOR`] times the median, at least
    /// [`EAGER_MIN_IDLE_TIMEOUT_MS`]. Holding an idle executor for about what a new one costs
    /// to start bounds both the idle time paid and the restarts paid by a few start latencies.
    pub fn eager_executor_idle_timeout_ms(&self, median_start_latency_ms: Option<u64>) -> u64 {
        if let Some(ms) = self.eager_idle_timeout_ms {
            return u64::try_from(ms).unwrap_or(0);
        }
        median_start_latency_ms
            .map_or(0, |m| m.saturating_mul(EAGER_IDLE_TIMEOUT_FACTOR))
            .max(EAGER_MIN_IDLE_TIMEOUT_MS)
    }

    /// Whether disk-persisted RDD blocks can be served by the external shuffle service.
    pub fn fetch_from_shuffle_service_enabled(&self) -> bool {
        self.shuffle_service_enabled && self.shuffle_service_fetch_rdd_enabled
    }
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

    /// What `c` is refused with, as text.
    fn refusal(c: &AllocationConfig) -> String {
        c.validate().unwrap_err().to_string()
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
            (keys::DYNAMIC_ALLOCATION_ENABLED, "true"),
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
        assert!(refusal(&cached).contains(keys::CACHED_EXECUTOR_IDLE_TIMEOUT));
        let tracking = AllocationConfig {
            shuffle_tracking_timeout_ms: Some(-1),
            ..base()
        };
        assert!(refusal(&tracking).contains(keys::SHUFFLE_TRACKING_TIMEOUT));
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

    #[test]
    fn policy_defaults_to_spark_and_parses_eager() {
        let c = AllocationConfig::from_spark_conf(&BTreeMap::new()).unwrap();
        assert_eq!(c.policy, AllocationPolicy::Spark);
        assert_eq!(c.eager_idle_timeout_ms, None);
        for (value, policy) in [
            ("spark", AllocationPolicy::Spark),
            ("eager", AllocationPolicy::Eager),
            (" Eager ", AllocationPolicy::Eager),
        ] {
            let c = AllocationConfig::from_spark_conf(&props(&[(
                keys::DYNAMIC_ALLOCATION_POLICY,
                value,
            )]))
            .unwrap();
            assert_eq!(c.policy, policy, "{value:?}");
        }
        assert_eq!(AllocationPolicy::Eager.to_string(), "eager");
    }

    #[test]
    fn unknown_policy_names_the_key_and_the_value() {
        let err = AllocationConfig::from_spark_conf(&props(&[(
            keys::DYNAMIC_ALLOCATION_POLICY,
            "greedy",
        )]))
        .unwrap_err();
        assert_eq!(err.code(), "DRA_INVALID_VALUE");
        assert_eq!(err.keys(), vec![keys::DYNAMIC_ALLOCATION_POLICY.to_owned()]);
        let text = err.to_string();
        assert!(text.contains("spindle.dynamicAllocation.policy"), "{text}");
        assert!(text.contains("greedy"), "{text}");
        assert!(text.contains("spark, eager"), "{text}");
        // Through the one Spark-conf layer (what spindle-submit checks) too.
        let conf: SparkConf = [(keys::DYNAMIC_ALLOCATION_POLICY, "greedy")]
            .into_iter()
            .collect();
        let err = conf.validate().unwrap_err().to_string();
        assert!(
            err.contains("spindle.dynamicAllocation.policy") && err.contains("greedy"),
            "{err}"
        );
    }

    #[test]
    fn eager_idle_timeout_is_derived_or_set() {
        let c = AllocationConfig::default();
        assert_eq!(
            c.eager_executor_idle_timeout_ms(None),
            EAGER_MIN_IDLE_TIMEOUT_MS
        );
        assert_eq!(c.eager_executor_idle_timeout_ms(Some(10)), 100);
        assert_eq!(c.eager_executor_idle_timeout_ms(Some(25)), 100);
        assert_eq!(c.eager_executor_idle_timeout_ms(Some(26)), 104);
        assert_eq!(
            c.eager_executor_idle_timeout_ms(Some(2000)),
            2000 * EAGER_IDLE_TIMEOUT_FACTOR
        );
        // Set: a time string, a plain number in milliseconds; it wins over the measurement.
        for (value, ms) in [("250ms", 250), ("2s", 2000), ("40", 40)] {
            let c = AllocationConfig::from_spark_conf(&props(&[(keys::EAGER_IDLE_TIMEOUT, value)]))
                .unwrap();
            assert_eq!(c.eager_idle_timeout_ms, Some(ms));
            assert_eq!(c.eager_executor_idle_timeout_ms(Some(5000)), ms as u64);
        }
        let err = AllocationConfig::from_spark_conf(&props(&[(keys::EAGER_IDLE_TIMEOUT, "soon")]))
            .unwrap_err();
        assert!(err.to_string().contains(keys::EAGER_IDLE_TIMEOUT));
        let negative = AllocationConfig {
            eager_idle_timeout_ms: Some(-5),
            ..base()
        };
        assert!(refusal(&negative).contains(keys::EAGER_IDLE_TIMEOUT));
    }
}
