//! Typed Spark configuration, shared by `spindle-submit` and the application master.
//!
//! A [`SparkConf`] is a map of Spark properties (`spark.*` keys, string values) with:
//!
//! - the spark-defaults.conf format ([`properties`]; spindle-submit reads the files and layers
//!   them: built-in defaults < `$SPINDLE_CONF_DIR/spindle-defaults.conf` < `--properties-file`
//!   < `--conf`, then its dedicated flags, as spark-submit does);
//! - one set of value parsers with Spark's semantics ([`values`]: sizes like `512m`/`2g`,
//!   ints, booleans, time strings), used by every reader, the allocation settings included;
//! - every key in one place ([`keys`]);
//! - typed accessors returning Spark's defaults for absent keys;
//! - [`SparkConf::validate`]: the checks Spark makes before it submits an application;
//! - the container sizes Spark on YARN asks for ([`SparkConf::executor_container`],
//!   [`SparkConf::driver_container`]).
//!
//! Every error names the key and the value it is about.

mod error;
pub mod keys;
pub mod properties;
pub mod values;

pub use error::SparkConfError;
pub use values::{
    parse_bool, parse_byte_string, parse_double, parse_int, parse_long, parse_memory_mb,
    parse_size, parse_time_ms, parse_time_string, ByteUnit, SizeError, TimeUnit,
};

use crate::allocation::{AllocationConfig, ConfigError};
use crate::driver::SpeculationConfig;
use common::resource::ExecutorMemory;
use common::Resource;
use error::{out_of_range, require};
use properties::parse_properties;
use std::collections::BTreeMap;
use std::path::Path;

/// Spark's default executor and driver memory (`1g`), in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 1024;
/// Spark's minimum memory overhead (`384m`), in MiB.
pub const DEFAULT_MIN_MEMORY_OVERHEAD_MB: u64 = 384;
/// The executor memory Spark keeps out of its unified region, in MiB.
pub const RESERVED_SYSTEM_MEMORY_MB: u64 = 300;
/// The least executor memory Spark accepts: 1.5 × the reserved memory, in MiB.
pub const MIN_SYSTEM_MEMORY_MB: u64 = RESERVED_SYSTEM_MEMORY_MB * 3 / 2;
/// Spark's default memory overhead factor.
pub const DEFAULT_MEMORY_OVERHEAD_FACTOR: f64 = 0.10;
/// Spark on YARN's executor count when `spark.executor.instances` is unset and dynamic
/// allocation is off.
pub const DEFAULT_NUM_EXECUTORS: u32 = 2;
/// Spark's default queue.
pub const DEFAULT_QUEUE: &str = "default";
/// Spark's default event log directory.
pub const DEFAULT_EVENT_LOG_DIR: &str = "/tmp/spark-events";
/// The deploy mode Spindle runs (the driver runs inside the application master).
pub const CLUSTER_DEPLOY_MODE: &str = "cluster";

/// Spark properties with Spark's defaults and validation rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparkConf {
    props: BTreeMap<String, String>,
}

/// The driver's (AM's) container under these Spark properties: driver memory + overhead MB,
/// `spark.driver.cores` vcores. Properties that do not parse count as Spark's defaults
/// (1g + 384m, 1 core): spindle-submit refuses such properties before submission anyway.
pub fn driver_container_of(conf: &BTreeMap<String, String>) -> Resource {
    SparkConf::from(conf.clone())
        .driver_container()
        .unwrap_or_else(|_| Resource::new(DEFAULT_MEMORY_MB + DEFAULT_MIN_MEMORY_OVERHEAD_MB, 1))
}

impl From<BTreeMap<String, String>> for SparkConf {
    fn from(props: BTreeMap<String, String>) -> Self {
        Self { props }
    }
}

impl From<SparkConf> for BTreeMap<String, String> {
    fn from(conf: SparkConf) -> Self {
        conf.props
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for SparkConf {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            props: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl SparkConf {
    /// An empty configuration (every accessor returns Spark's default).
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in layer, below every file: `spark.master=spindle` (the RM of
    /// `$SPINDLE_CONF_DIR/spindle-client.toml`) and `spark.submit.deployMode=cluster`.
    pub fn builtin_defaults() -> Self {
        [
            (keys::MASTER, "spindle"),
            (keys::DEPLOY_MODE, CLUSTER_DEPLOY_MODE),
        ]
        .into_iter()
        .collect()
    }

    /// Parses spark-defaults.conf-format text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, SparkConfError> {
        parse_properties(text)
            .map(Self::from)
            .map_err(|reason| SparkConfError::File {
                path: origin.to_path_buf(),
                reason,
            })
    }

    /// Sets every property of `later` (it wins over this one).
    pub fn merge(&mut self, later: &Self) -> &mut Self {
        for (k, v) in &later.props {
            self.props.insert(k.clone(), v.clone());
        }
        self
    }

    /// Sets a property.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// Sets a property unless it is already set.
    pub fn set_if_missing(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> &mut Self {
        self.props.entry(key.into()).or_insert_with(|| value.into());
        self
    }

    /// Removes a property, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.props.remove(key)
    }

    /// The raw value of a property.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// Whether a property is set.
    pub fn contains(&self, key: &str) -> bool {
        self.props.contains_key(key)
    }

    /// The properties, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many properties are set.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// The properties as a map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.props
    }

    /// Drops keys that are neither `spark.*` nor `spindle.*` (Spark ignores non-Spark
    /// properties with a warning) and returns them.
    pub fn retain_spark_keys(&mut self) -> Vec<String> {
        let dropped: Vec<String> = self
            .props
            .keys()
            .filter(|k| !(k.starts_with("spark.") || k.starts_with("spindle.")))
            .cloned()
            .collect();
        for k in &dropped {
            self.props.remove(k);
        }
        dropped
    }

    /// The properties as one JSON object of strings (the `SPINDLE_SPARK_CONF` form).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.props).expect("a map of strings serializes")
    }

    /// Reads the JSON object written by [`Self::to_json`]; `what` names its origin in errors.
    pub fn from_json(json: &str, what: &str) -> Result<Self, SparkConfError> {
        serde_json::from_str::<BTreeMap<String, String>>(json)
            .map(Self::from)
            .map_err(|e| SparkConfError::Json {
                what: what.to_owned(),
                reason: e.to_string(),
            })
    }

    // --- generic typed getters -------------------------------------------------------------

    /// A boolean property, or `default`.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, SparkConfError> {
        self.get(key).map_or(Ok(default), |v| parse_bool(key, v))
    }

    /// A 32-bit integer property, or `default`.
    pub fn get_int(&self, key: &str, default: i64) -> Result<i64, SparkConfError> {
        self.get(key).map_or(Ok(default), |v| parse_int(key, v))
    }

    /// A 32-bit integer property if set.
    pub fn get_opt_int(&self, key: &str) -> Result<Option<i64>, SparkConfError> {
        self.get(key).map(|v| parse_int(key, v)).transpose()
    }

    /// A count property if set: a 32-bit integer of at least `min` (`requirement` says so
    /// in the error).
    pub fn get_opt_count(
        &self,
        key: &str,
        min: i64,
        requirement: &str,
    ) -> Result<Option<u32>, SparkConfError> {
        match self.get_opt_int(key)? {
            None => Ok(None),
            Some(n) if n >= min => Ok(Some(n as u32)),
            Some(n) => Err(out_of_range(key, n, requirement)),
        }
    }

    /// A 64-bit integer property, or `default`.
    pub fn get_long(&self, key: &str, default: i64) -> Result<i64, SparkConfError> {
        self.get(key).map_or(Ok(default), |v| parse_long(key, v))
    }

    /// A floating-point property, or `default`.
    pub fn get_double(&self, key: &str, default: f64) -> Result<f64, SparkConfError> {
        self.get(key).map_or(Ok(default), |v| parse_double(key, v))
    }

    /// A size property in `unit` (a plain number is in `unit`), or `default` (in `unit`).
    pub fn get_size(&self, key: &str, unit: ByteUnit, default: u64) -> Result<u64, SparkConfError> {
        self.get(key)
            .map_or(Ok(default), |v| parse_size(key, v, unit))
    }

    /// A time property in milliseconds (a plain number is in `unit`), or `default_ms`.
    pub fn get_time_ms(
        &self,
        key: &str,
        unit: TimeUnit,
        default_ms: i64,
    ) -> Result<i64, SparkConfError> {
        self.get(key)
            .map_or(Ok(default_ms), |v| parse_time_ms(key, v, unit))
    }

    // --- Spark's settings -----------------------------------------------------------------

    /// `spark.app.name`, if set.
    pub fn app_name(&self) -> Option<&str> {
        self.get(keys::APP_NAME)
    }

    /// `spark.master` (default `spindle`).
    pub fn master(&self) -> &str {
        self.get(keys::MASTER).unwrap_or("spindle")
    }

    /// `spark.submit.deployMode` (default `cluster`: Spindle runs the driver in the AM).
    pub fn deploy_mode(&self) -> &str {
        self.get(keys::DEPLOY_MODE).unwrap_or(CLUSTER_DEPLOY_MODE)
    }

    /// `spark.yarn.queue` (default `default`).
    pub fn queue(&self) -> &str {
        self.get(keys::QUEUE).unwrap_or(DEFAULT_QUEUE)
    }

    /// `spark.yarn.maxAppAttempts`; `None` leaves it to the RM's `max-am-attempts`.
    pub fn max_app_attempts(&self) -> Result<Option<u32>, SparkConfError> {
        self.get_opt_count(keys::MAX_APP_ATTEMPTS, 1, "at least 1")
    }

    /// `spark.yarn.submit.waitAppCompletion` (default true).
    pub fn wait_app_completion(&self) -> Result<bool, SparkConfError> {
        self.get_bool(keys::WAIT_APP_COMPLETION, true)
    }

    /// `spark.executor.memory` in MiB (default 1g; a plain number is MiB).
    pub fn executor_memory_mb(&self) -> Result<u64, SparkConfError> {
        memory_mb(self, keys::EXECUTOR_MEMORY)
    }

    /// `spark.executor.memoryOverhead` in MiB; default
    /// max(`spark.executor.memoryOverheadFactor` (0.10) × executor memory,
    /// `spark.executor.minMemoryOverhead` (384m)).
    pub fn executor_memory_overhead_mb(&self) -> Result<u64, SparkConfError> {
        overhead_mb(
            self,
            self.executor_memory_mb()?,
            keys::EXECUTOR_MEMORY_OVERHEAD,
            keys::EXECUTOR_MEMORY_OVERHEAD_FACTOR,
            keys::EXECUTOR_MIN_MEMORY_OVERHEAD,
        )
    }

    /// What an executor's tasks work within (Spark's UnifiedMemoryManager): the unified
    /// region (`spark.executor.memory` − 300 MiB reserved) × `spark.memory.fraction`
    /// (default 0.6, in (0, 1]); executor memory must be at least 1.5 × the reserved
    /// 300 MiB, as Spark requires. Also `spark.shuffle.spill.numElementsForceSpillThreshold`
    /// (unset: never forced) and `spark.reducer.maxSizeInFlight` (48m).
    pub fn executor_memory_settings(&self) -> Result<ExecutorMemory, SparkConfError> {
        let mb = self.executor_memory_mb()?;
        if mb < MIN_SYSTEM_MEMORY_MB {
            return Err(out_of_range(
                keys::EXECUTOR_MEMORY,
                self.get(keys::EXECUTOR_MEMORY).unwrap_or_default(),
                "at least 450m (1.5 × the 300m Spark reserves)",
            ));
        }
        let fraction = self.get_double(keys::MEMORY_FRACTION, 0.6)?;
        require(
            fraction > 0.0 && fraction <= 1.0,
            keys::MEMORY_FRACTION,
            fraction,
            "in (0, 1]",
        )?;
        let usable = (mb - RESERVED_SYSTEM_MEMORY_MB) << 20;
        let force_key = keys::SHUFFLE_SPILL_FORCE_ELEMENTS;
        let force = self
            .get(force_key)
            .map(|v| parse_long(force_key, v))
            .transpose()?;
        if let Some(n) = force {
            require(n >= 1, force_key, n, "at least 1")?;
        }
        let in_flight = self.get_size(keys::REDUCER_MAX_SIZE_IN_FLIGHT, ByteUnit::MiB, 48)?;
        require(
            in_flight >= 1,
            keys::REDUCER_MAX_SIZE_IN_FLIGHT,
            in_flight,
            "at least 1m",
        )?;
        Ok(ExecutorMemory {
            unified_pool_bytes: (usable as f64 * fraction) as u64,
            force_spill_elements: force.map(|n| n as u64),
            max_bytes_in_flight: in_flight << 20,
        })
    }

    /// `spark.executor.cores` (default 1).
    pub fn executor_cores(&self) -> Result<u32, SparkConfError> {
        cores(self, keys::EXECUTOR_CORES)
    }

    /// `spark.executor.instances` as set (no default).
    pub fn executor_instances(&self) -> Result<Option<u32>, SparkConfError> {
        self.get_opt_count(keys::EXECUTOR_INSTANCES, 0, ">= 0")
    }

    /// How many executors the application starts with: under dynamic allocation the largest of
    /// minExecutors, initialExecutors and `spark.executor.instances`; otherwise
    /// `spark.executor.instances`, default 2 (Spark on YARN's default).
    pub fn num_executors(&self) -> Result<u32, SparkConfError> {
        if self.dynamic_allocation_enabled()? {
            let alloc = self.allocation_config()?;
            return Ok(alloc.initial_num_executors().clamp(0, i64::from(i32::MAX)) as u32);
        }
        Ok(self.executor_instances()?.unwrap_or(DEFAULT_NUM_EXECUTORS))
    }

    /// `spark.driver.memory` in MiB (default 1g; a plain number is MiB).
    pub fn driver_memory_mb(&self) -> Result<u64, SparkConfError> {
        memory_mb(self, keys::DRIVER_MEMORY)
    }

    /// `spark.driver.memoryOverhead` in MiB; default
    /// max(`spark.driver.memoryOverheadFactor` (0.10) × driver memory,
    /// `spark.driver.minMemoryOverhead` (384m)).
    pub fn driver_memory_overhead_mb(&self) -> Result<u64, SparkConfError> {
        overhead_mb(
            self,
            self.driver_memory_mb()?,
            keys::DRIVER_MEMORY_OVERHEAD,
            keys::DRIVER_MEMORY_OVERHEAD_FACTOR,
            keys::DRIVER_MIN_MEMORY_OVERHEAD,
        )
    }

    /// `spark.driver.cores` (default 1).
    pub fn driver_cores(&self) -> Result<u32, SparkConfError> {
        cores(self, keys::DRIVER_CORES)
    }

    /// `spark.task.cpus` (default 1, at least 1).
    pub fn task_cpus(&self) -> Result<u32, SparkConfError> {
        let n = self.get_int(keys::TASK_CPUS, 1)?;
        if n < 1 {
            return Err(out_of_range(keys::TASK_CPUS, n, "at least 1"));
        }
        Ok(n as u32)
    }

    /// `spark.task.maxFailures` (default 4, at least 1).
    pub fn task_max_failures(&self) -> Result<u32, SparkConfError> {
        let n = self.get_int(keys::TASK_MAX_FAILURES, 4)?;
        if n < 1 {
            return Err(out_of_range(
                keys::TASK_MAX_FAILURES,
                n,
                "at least 1 (the number of attempts of a task)",
            ));
        }
        Ok(n as u32)
    }

    /// `spark.executor.maxNumFailures` (older name `spark.yarn.max.executor.failures`); Spark
    /// on YARN's default: max(3, 2 × maxExecutors) under dynamic allocation, else
    /// max(3, 2 × `spark.executor.instances` if set, else 0); saturating at `Int.MaxValue`.
    pub fn executor_max_num_failures(&self) -> Result<u32, SparkConfError> {
        for key in [
            keys::EXECUTOR_MAX_NUM_FAILURES,
            keys::YARN_MAX_EXECUTOR_FAILURES,
        ] {
            if let Some(n) = self.get_opt_count(key, 1, "at least 1")? {
                return Ok(n);
            }
        }
        let effective: i64 = if self.dynamic_allocation_enabled()? {
            self.allocation_config()?.max_executors
        } else {
            self.executor_instances()?.map_or(0, i64::from)
        };
        let doubled = if effective > i64::from(i32::MAX) / 2 {
            i64::from(i32::MAX)
        } else {
            2 * effective
        };
        Ok(doubled.max(3) as u32)
    }

    /// `spark.default.parallelism` when set to a positive number (else the runner's).
    pub fn default_parallelism(&self) -> Option<u32> {
        self.get_opt_int(keys::DEFAULT_PARALLELISM)
            .ok()
            .flatten()
            .filter(|p| *p > 0)
            .map(|p| p as u32)
    }

    /// `take(n)`'s scan: `spark.rdd.limit.initialNumPartitions` (default 1, at least 1) and
    /// `spark.rdd.limit.scaleUpFactor` (default 4, at least 2); values that do not parse
    /// count as the defaults.
    pub fn take_scan(&self) -> (u32, u32) {
        let get = |key: &str, default: i64| self.get_int(key, default).unwrap_or(default);
        let initial = get(keys::RDD_LIMIT_INITIAL_NUM_PARTITIONS, 1).clamp(1, i64::from(u32::MAX));
        let scale_up = get(keys::RDD_LIMIT_SCALE_UP_FACTOR, 4).clamp(2, i64::from(u32::MAX));
        (initial as u32, scale_up as u32)
    }

    /// The executor count of a static-allocation run: `spark.executor.instances`, default 2
    /// (also when it does not parse).
    pub fn static_executors(&self) -> u32 {
        self.executor_instances()
            .ok()
            .flatten()
            .unwrap_or(DEFAULT_NUM_EXECUTORS)
    }

    /// `spark.dynamicAllocation.enabled` (default false).
    pub fn dynamic_allocation_enabled(&self) -> Result<bool, SparkConfError> {
        self.get_bool(keys::DYNAMIC_ALLOCATION_ENABLED, false)
    }

    /// `spark.shuffle.service.enabled` (default false).
    pub fn shuffle_service_enabled(&self) -> Result<bool, SparkConfError> {
        self.get_bool(keys::SHUFFLE_SERVICE_ENABLED, false)
    }

    /// Shuffle-block migration on decommission: on when `spark.decommission.enabled`,
    /// `spark.storage.decommission.enabled` and
    /// `spark.storage.decommission.shuffleBlocks.enabled` (default true) all are, and no
    /// shuffle service keeps map output anyway.
    pub fn shuffle_migration(
        &self,
    ) -> Result<Option<crate::driver::ShuffleMigrationConfig>, SparkConfError> {
        let on = self.get_bool(keys::DECOMMISSION_ENABLED, false)?
            && self.get_bool(keys::STORAGE_DECOMMISSION_ENABLED, false)?
            && self.get_bool(keys::STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED, true)?
            && !self.shuffle_service_enabled()?;
        Ok(on.then(|| crate::driver::ShuffleMigrationConfig {
            fallback_path: self
                .get(keys::STORAGE_DECOMMISSION_FALLBACK_STORAGE_PATH)
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty()),
        }))
    }

    /// `spark.eventLog.enabled` (default false).
    pub fn event_log_enabled(&self) -> Result<bool, SparkConfError> {
        self.get_bool(keys::EVENT_LOG_ENABLED, false)
    }

    /// `spark.eventLog.dir` (default `/tmp/spark-events`).
    pub fn event_log_dir(&self) -> &str {
        self.get(keys::EVENT_LOG_DIR)
            .unwrap_or(DEFAULT_EVENT_LOG_DIR)
    }

    /// `spark.speculation` (default false) and, when on, `spark.speculation.interval`
    /// (100ms, above 0), `.multiplier` (3, at least 0), `.quantile` (0.9, from 0 to 1) and
    /// `.minTaskRuntime` (100ms, at least 0): Spark 4's defaults. The settings are checked
    /// whether speculation is on or not.
    pub fn speculation_config(&self) -> Result<Option<SpeculationConfig>, SparkConfError> {
        use crate::driver::speculation as d;
        let interval = self.get_time_ms(
            keys::SPECULATION_INTERVAL,
            TimeUnit::Milliseconds,
            d::DEFAULT_INTERVAL_MS as i64,
        )?;
        require(
            interval >= 1,
            keys::SPECULATION_INTERVAL,
            self.get(keys::SPECULATION_INTERVAL).unwrap_or_default(),
            "above 0",
        )?;
        let multiplier = self.get_double(keys::SPECULATION_MULTIPLIER, d::DEFAULT_MULTIPLIER)?;
        require(
            multiplier.is_finite() && multiplier >= 0.0,
            keys::SPECULATION_MULTIPLIER,
            multiplier,
            "a number of at least 0",
        )?;
        let quantile = self.get_double(keys::SPECULATION_QUANTILE, d::DEFAULT_QUANTILE)?;
        require(
            (0.0..=1.0).contains(&quantile),
            keys::SPECULATION_QUANTILE,
            quantile,
            "between 0 and 1",
        )?;
        let min_runtime = self.get_time_ms(
            keys::SPECULATION_MIN_TASK_RUNTIME,
            TimeUnit::Milliseconds,
            d::DEFAULT_MIN_TASK_RUNTIME_MS as i64,
        )?;
        require(
            min_runtime >= 0,
            keys::SPECULATION_MIN_TASK_RUNTIME,
            min_runtime,
            "at least 0",
        )?;
        if !self.get_bool(keys::SPECULATION, false)? {
            return Ok(None);
        }
        Ok(Some(SpeculationConfig {
            interval_ms: interval as u64,
            multiplier,
            quantile,
            min_task_runtime_ms: min_runtime as u64,
        }))
    }

    /// The dynamic allocation settings (parsed only; [`Self::validate`] applies the rules).
    pub fn allocation_config(&self) -> Result<AllocationConfig, SparkConfError> {
        AllocationConfig::from_conf(self)
    }

    /// The container an executor asks for: memory + overhead MiB, `spark.executor.cores`.
    pub fn executor_container(&self) -> Result<Resource, SparkConfError> {
        self.container(
            self.executor_memory_mb()?,
            self.executor_memory_overhead_mb()?,
            keys::EXECUTOR_MEMORY_OVERHEAD,
            self.executor_cores()?,
        )
    }

    /// The container of the driver (the AM): memory + overhead MiB, `spark.driver.cores`.
    pub fn driver_container(&self) -> Result<Resource, SparkConfError> {
        self.container(
            self.driver_memory_mb()?,
            self.driver_memory_overhead_mb()?,
            keys::DRIVER_MEMORY_OVERHEAD,
            self.driver_cores()?,
        )
    }

    fn container(
        &self,
        memory_mb: u64,
        overhead_mb: u64,
        overhead_key: &str,
        cores: u32,
    ) -> Result<Resource, SparkConfError> {
        let total = memory_mb
            .checked_add(overhead_mb)
            .ok_or_else(|| out_of_range(overhead_key, overhead_mb, "a sane size"))?;
        Ok(Resource::new(total, cores))
    }

    /// What Spark checks before it submits an application; the first violation:
    /// sizes parse and memory is at least 1 MiB (executor memory 450 MiB, and the
    /// memory settings of [`Self::executor_memory_settings`] are in range); overhead factors are > 0; cores, task cpus and
    /// task max failures are >= 1; executor cores >= task cpus; `spark.executor.instances` >= 0;
    /// booleans parse; `spark.yarn.maxAppAttempts` >= 1; the `spark.speculation.*` settings
    /// parse and are in range; the queue is not empty; the dynamic
    /// allocation keys parse and, when it is enabled, satisfy Spark's rules (min <= max
    /// executors, ratio, timeouts) and the shuffle service or shuffle tracking is on.
    pub fn validate(&self) -> Result<(), SparkConfError> {
        self.executor_container()?;
        self.executor_memory_settings()?;
        self.driver_container()?;
        let cores = self.executor_cores()?;
        let task_cpus = self.task_cpus()?;
        if cores < task_cpus {
            return Err(SparkConfError::ExecutorCoresBelowTaskCpus {
                executor_cores: i64::from(cores),
                task_cpus: i64::from(task_cpus),
            });
        }
        self.executor_instances()?;
        self.task_max_failures()?;
        self.max_app_attempts()?;
        self.wait_app_completion()?;
        self.shuffle_service_enabled()?;
        self.event_log_enabled()?;
        self.speculation_config()?;
        if self.queue().trim().is_empty() {
            return Err(out_of_range(keys::QUEUE, self.queue(), "a queue name"));
        }
        let alloc = self.allocation_config()?;
        if self.dynamic_allocation_enabled()? {
            alloc.validate().map_err(allocation_error)?;
        }
        self.executor_max_num_failures()?;
        Ok(())
    }
}

fn allocation_error(e: ConfigError) -> SparkConfError {
    match e {
        ConfigError::ShuffleServiceRequired => SparkConfError::ShuffleServiceRequired,
        other => SparkConfError::DynamicAllocation(other),
    }
}

fn memory_mb(conf: &SparkConf, key: &str) -> Result<u64, SparkConfError> {
    let mb = conf.get_size(key, ByteUnit::MiB, DEFAULT_MEMORY_MB)?;
    if mb < 1 {
        return Err(out_of_range(
            key,
            conf.get(key).unwrap_or_default(),
            "a positive size of at least 1m",
        ));
    }
    Ok(mb)
}

fn overhead_mb(
    conf: &SparkConf,
    memory_mb: u64,
    overhead_key: &str,
    factor_key: &str,
    min_key: &str,
) -> Result<u64, SparkConfError> {
    let factor = conf.get_double(factor_key, DEFAULT_MEMORY_OVERHEAD_FACTOR)?;
    if factor <= 0.0 {
        return Err(out_of_range(factor_key, factor, "a number greater than 0"));
    }
    let min = conf.get_size(min_key, ByteUnit::MiB, DEFAULT_MIN_MEMORY_OVERHEAD_MB)?;
    if let Some(v) = conf.get(overhead_key) {
        return parse_memory_mb(overhead_key, v);
    }
    Ok(((factor * memory_mb as f64) as u64).max(min))
}

fn cores(conf: &SparkConf, key: &str) -> Result<u32, SparkConfError> {
    let n = conf.get_int(key, 1)?;
    if n < 1 {
        return Err(out_of_range(key, n, "a positive number (at least 1)"));
    }
    Ok(n as u32)
}

/// A conf of `pairs` (for the tests of this module and its children).
#[cfg(test)]
pub(crate) fn conf_of(pairs: &[(&str, &str)]) -> SparkConf {
    pairs.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_memory_follows_sparks_unified_manager() {
        let conf = |kv: &[(&str, &str)]| kv.iter().copied().collect::<SparkConf>();
        let m = conf(&[(keys::EXECUTOR_MEMORY, "512m")])
            .executor_memory_settings()
            .unwrap();
        assert_eq!(m.unified_pool_bytes, ((212u64 << 20) as f64 * 0.6) as u64);
        assert_eq!(m.force_spill_elements, None);
        assert_eq!(m.max_bytes_in_flight, 48 << 20);
        let m = conf(&[
            (keys::MEMORY_FRACTION, "0.5"),
            (keys::SHUFFLE_SPILL_FORCE_ELEMENTS, "1000"),
            (keys::REDUCER_MAX_SIZE_IN_FLIGHT, "8m"),
        ])
        .executor_memory_settings()
        .unwrap();
        assert_eq!(m.unified_pool_bytes, 362 << 20);
        assert_eq!(m.force_spill_elements, Some(1000));
        assert_eq!(m.max_bytes_in_flight, 8 << 20);
        for (kv, says) in [
            ((keys::EXECUTOR_MEMORY, "400m"), "at least 450m"),
            ((keys::MEMORY_FRACTION, "1.5"), "in (0, 1]"),
            ((keys::MEMORY_FRACTION, "0"), "in (0, 1]"),
            ((keys::SHUFFLE_SPILL_FORCE_ELEMENTS, "0"), "at least 1"),
            ((keys::SHUFFLE_SPILL_FORCE_ELEMENTS, "many"), "many"),
        ] {
            let e = conf(&[kv]).validate().unwrap_err().to_string();
            assert!(e.contains(kv.0) && e.contains(says), "{e}");
        }
    }
    use conf_of as conf;

    /// The error a conf of `pairs` is refused with.
    fn refused(pairs: &[(&str, &str)]) -> SparkConfError {
        conf(pairs).validate().unwrap_err()
    }

    #[test]
    fn json_round_trip_and_key_filter() {
        let mut c = conf(&[("spark.a", "1"), ("spindle.b", "x"), ("other", "y")]);
        assert_eq!(c.retain_spark_keys(), vec!["other".to_owned()]);
        let back = SparkConf::from_json(&c.to_json(), "test").unwrap();
        assert_eq!(back, c);
        assert!(SparkConf::from_json("[1]", "SPINDLE_SPARK_CONF")
            .unwrap_err()
            .to_string()
            .contains("SPINDLE_SPARK_CONF"));
    }

    #[test]
    fn defaults_follow_spark_on_yarn() {
        let c = SparkConf::new();
        assert_eq!(c.executor_memory_mb(), Ok(1024));
        assert_eq!(c.executor_memory_overhead_mb(), Ok(384));
        assert_eq!(c.executor_cores(), Ok(1));
        assert_eq!(c.executor_instances(), Ok(None));
        assert_eq!(c.num_executors(), Ok(2));
        assert_eq!(c.driver_memory_mb(), Ok(1024));
        assert_eq!(c.driver_memory_overhead_mb(), Ok(384));
        assert_eq!(c.driver_cores(), Ok(1));
        assert_eq!(c.task_cpus(), Ok(1));
        assert_eq!(c.task_max_failures(), Ok(4));
        assert_eq!(c.executor_max_num_failures(), Ok(3));
        assert_eq!(c.dynamic_allocation_enabled(), Ok(false));
        assert_eq!(c.shuffle_service_enabled(), Ok(false));
        assert_eq!(c.event_log_enabled(), Ok(false));
        assert_eq!(c.event_log_dir(), "/tmp/spark-events");
        assert_eq!(c.app_name(), None);
        assert_eq!(c.queue(), "default");
        assert_eq!(c.max_app_attempts(), Ok(None));
        assert_eq!(c.wait_app_completion(), Ok(true));
        assert_eq!(c.executor_container(), Ok(Resource::new(1408, 1)));
        assert_eq!(c.driver_container(), Ok(Resource::new(1408, 1)));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn speculation_follows_spark_4() {
        assert_eq!(SparkConf::new().speculation_config(), Ok(None));
        let on = conf(&[(keys::SPECULATION, "true")]);
        assert_eq!(
            on.speculation_config(),
            Ok(Some(SpeculationConfig {
                interval_ms: 100,
                multiplier: 3.0,
                quantile: 0.9,
                min_task_runtime_ms: 100,
            }))
        );
        let set = conf(&[
            (keys::SPECULATION, "true"),
            (keys::SPECULATION_INTERVAL, "1s"),
            (keys::SPECULATION_MULTIPLIER, "1.5"),
            (keys::SPECULATION_QUANTILE, "0.75"),
            (keys::SPECULATION_MIN_TASK_RUNTIME, "250"),
        ]);
        assert_eq!(
            set.speculation_config(),
            Ok(Some(SpeculationConfig {
                interval_ms: 1000,
                multiplier: 1.5,
                quantile: 0.75,
                min_task_runtime_ms: 250,
            }))
        );
        for (key, bad, says) in [
            (keys::SPECULATION, "yes", "invalid boolean"),
            (keys::SPECULATION_INTERVAL, "0ms", "above 0"),
            (keys::SPECULATION_MULTIPLIER, "-1", "at least 0"),
            (keys::SPECULATION_MULTIPLIER, "lots", "invalid number"),
            (keys::SPECULATION_QUANTILE, "1.5", "between 0 and 1"),
            (keys::SPECULATION_MIN_TASK_RUNTIME, "-5ms", "at least 0"),
        ] {
            let e = refused(&[(key, bad)]).to_string();
            assert!(e.contains(key) && e.contains(says), "{key}={bad}: {e}");
        }
    }

    #[test]
    fn memory_overhead_rule() {
        // 10% of 8g is above the 384m floor.
        let c = conf(&[(keys::EXECUTOR_MEMORY, "8g")]);
        assert_eq!(c.executor_memory_overhead_mb(), Ok(819));
        assert_eq!(c.executor_container(), Ok(Resource::new(8192 + 819, 1)));
        // A plain number is MiB.
        let c = conf(&[(keys::EXECUTOR_MEMORY, "512"), (keys::EXECUTOR_CORES, "2")]);
        assert_eq!(c.executor_container(), Ok(Resource::new(512 + 384, 2)));
        // Explicit overhead wins; factor and floor are configurable.
        let c = conf(&[(keys::EXECUTOR_MEMORY_OVERHEAD, "100m")]);
        assert_eq!(c.executor_memory_overhead_mb(), Ok(100));
        let c = conf(&[
            (keys::EXECUTOR_MEMORY, "4g"),
            (keys::EXECUTOR_MEMORY_OVERHEAD_FACTOR, "0.5"),
        ]);
        assert_eq!(c.executor_memory_overhead_mb(), Ok(2048));
        let c = conf(&[(keys::EXECUTOR_MIN_MEMORY_OVERHEAD, "64m")]);
        assert_eq!(c.executor_memory_overhead_mb(), Ok(102));
        assert!(refused(&[(keys::EXECUTOR_MEMORY_OVERHEAD_FACTOR, "0")])
            .to_string()
            .contains(keys::EXECUTOR_MEMORY_OVERHEAD_FACTOR));
        // The driver follows the same rule with its own keys.
        let c = conf(&[
            (keys::DRIVER_MEMORY, "10g"),
            (keys::DRIVER_CORES, "2"),
            (keys::EXECUTOR_MEMORY_OVERHEAD, "1m"),
        ]);
        assert_eq!(c.driver_container(), Ok(Resource::new(10240 + 1024, 2)));
        let c = conf(&[(keys::DRIVER_MEMORY_OVERHEAD, "200")]);
        assert_eq!(c.driver_container(), Ok(Resource::new(1024 + 200, 1)));
        assert!(refused(&[(keys::DRIVER_MEMORY_OVERHEAD, "2x")])
            .to_string()
            .contains(keys::DRIVER_MEMORY_OVERHEAD));
    }

    #[test]
    fn bad_sizes_are_refused() {
        let e = refused(&[(keys::EXECUTOR_MEMORY, "12x")]);
        assert!(e
            .to_string()
            .starts_with("spark.executor.memory: invalid size '12x'"));
        let e = refused(&[(keys::DRIVER_MEMORY, "0")]);
        assert_eq!(
            e.to_string(),
            "spark.driver.memory must be a positive size of at least 1m (got '0')"
        );
        let e = refused(&[(keys::EXECUTOR_MEMORY, "512k")]);
        assert!(e.to_string().contains(keys::EXECUTOR_MEMORY), "{e}");
    }

    #[test]
    fn cores_and_task_cpus() {
        let e = refused(&[(keys::EXECUTOR_CORES, "0")]);
        assert_eq!(e.keys(), vec![keys::EXECUTOR_CORES.to_owned()]);
        let e = refused(&[(keys::DRIVER_CORES, "-1")]);
        assert_eq!(e.keys(), vec![keys::DRIVER_CORES.to_owned()]);
        let e = refused(&[(keys::EXECUTOR_CORES, "x")]);
        assert_eq!(e.to_string(), "spark.executor.cores: invalid integer 'x'");
        let e = refused(&[(keys::TASK_CPUS, "0")]);
        assert_eq!(e.keys(), vec![keys::TASK_CPUS.to_owned()]);
        let e = refused(&[(keys::EXECUTOR_CORES, "1"), (keys::TASK_CPUS, "2")]);
        assert_eq!(
            e,
            SparkConfError::ExecutorCoresBelowTaskCpus {
                executor_cores: 1,
                task_cpus: 2
            }
        );
        assert!(e.to_string().contains("spark.executor.cores (1)"));
        assert!(e.to_string().contains("spark.task.cpus (2)"));
        assert_eq!(
            conf(&[(keys::EXECUTOR_CORES, "4"), (keys::TASK_CPUS, "2")]).validate(),
            Ok(())
        );
    }

    #[test]
    fn instances_failures_attempts_queue() {
        let c = conf(&[(keys::EXECUTOR_INSTANCES, "0")]);
        assert_eq!(c.num_executors(), Ok(0));
        assert_eq!(c.validate(), Ok(()));
        let c = conf(&[(keys::EXECUTOR_INSTANCES, "5")]);
        assert_eq!(c.num_executors(), Ok(5));
        assert_eq!(c.executor_max_num_failures(), Ok(10));
        let e = refused(&[(keys::EXECUTOR_INSTANCES, "-1")]);
        assert_eq!(e.keys(), vec![keys::EXECUTOR_INSTANCES.to_owned()]);
        let e = refused(&[(keys::TASK_MAX_FAILURES, "0")]);
        assert_eq!(e.keys(), vec![keys::TASK_MAX_FAILURES.to_owned()]);
        assert_eq!(
            conf(&[(keys::TASK_MAX_FAILURES, "8")]).task_max_failures(),
            Ok(8)
        );
        assert_eq!(
            conf(&[(keys::EXECUTOR_MAX_NUM_FAILURES, "7")]).executor_max_num_failures(),
            Ok(7)
        );
        assert_eq!(
            conf(&[(keys::YARN_MAX_EXECUTOR_FAILURES, "6")]).executor_max_num_failures(),
            Ok(6)
        );
        // Under dynamic allocation the default follows maxExecutors, saturating.
        let da = conf(&[
            (keys::DYNAMIC_ALLOCATION_ENABLED, "true"),
            (keys::SHUFFLE_TRACKING_ENABLED, "true"),
        ]);
        assert_eq!(da.executor_max_num_failures(), Ok(i32::MAX as u32));
        let da = conf(&[
            (keys::DYNAMIC_ALLOCATION_ENABLED, "true"),
            (keys::MAX_EXECUTORS, "10"),
        ]);
        assert_eq!(da.executor_max_num_failures(), Ok(20));
        assert_eq!(
            conf(&[(keys::MAX_APP_ATTEMPTS, "1")]).max_app_attempts(),
            Ok(Some(1))
        );
        let e = refused(&[(keys::MAX_APP_ATTEMPTS, "0")]);
        assert_eq!(e.keys(), vec![keys::MAX_APP_ATTEMPTS.to_owned()]);
        let e = refused(&[(keys::QUEUE, " ")]);
        assert_eq!(e.keys(), vec![keys::QUEUE.to_owned()]);
        assert_eq!(conf(&[(keys::QUEUE, "prod")]).queue(), "prod");
        let e = refused(&[(keys::EVENT_LOG_ENABLED, "on")]);
        assert_eq!(e.keys(), vec![keys::EVENT_LOG_ENABLED.to_owned()]);
        let c = conf(&[
            (keys::EVENT_LOG_ENABLED, "true"),
            (keys::EVENT_LOG_DIR, "/var/log/ev"),
        ]);
        assert_eq!(c.event_log_enabled(), Ok(true));
        assert_eq!(c.event_log_dir(), "/var/log/ev");
    }

    #[test]
    fn dynamic_allocation_rules() {
        let base = [
            (keys::DYNAMIC_ALLOCATION_ENABLED, "true"),
            (keys::SHUFFLE_SERVICE_ENABLED, "true"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut c = conf(&base);
            for (k, v) in extra {
                c.set(*k, *v);
            }
            c
        };
        let refused_with = |extra: &[(&str, &str)]| with(extra).validate().unwrap_err();
        assert_eq!(with(&[]).validate(), Ok(()));
        let e = refused_with(&[
            ("spark.dynamicAllocation.minExecutors", "5"),
            ("spark.dynamicAllocation.maxExecutors", "2"),
        ]);
        assert!(matches!(
            e,
            SparkConfError::DynamicAllocation(ConfigError::MinExceedsMax { min: 5, max: 2 })
        ));
        assert!(e
            .to_string()
            .contains("spark.dynamicAllocation.minExecutors"));
        assert!(e
            .to_string()
            .contains("spark.dynamicAllocation.maxExecutors"));
        let e = refused_with(&[("spark.dynamicAllocation.executorAllocationRatio", "2")]);
        assert!(e.to_string().contains("executorAllocationRatio"));
        let e = refused_with(&[("spark.dynamicAllocation.schedulerBacklogTimeout", "0s")]);
        assert!(e.to_string().contains("schedulerBacklogTimeout"));
        let e = refused_with(&[("spark.dynamicAllocation.executorIdleTimeout", "-1s")]);
        assert!(e.to_string().contains("executorIdleTimeout"));
        // Parse errors are typed and name the key.
        let e = refused_with(&[("spark.dynamicAllocation.minExecutors", "two")]);
        assert_eq!(
            e.to_string(),
            "spark.dynamicAllocation.minExecutors: invalid integer 'two'"
        );
        let e = refused_with(&[("spark.dynamicAllocation.executorIdleTimeout", "3x")]);
        assert!(matches!(e, SparkConfError::InvalidTime { .. }), "{e:?}");
        // Initial executors under dynamic allocation.
        let c = with(&[
            ("spark.dynamicAllocation.minExecutors", "1"),
            ("spark.dynamicAllocation.initialExecutors", "3"),
        ]);
        assert_eq!(c.num_executors(), Ok(3));
        assert_eq!(with(&[]).num_executors(), Ok(0));
        // The rules only apply when dynamic allocation is on.
        let off = conf(&[
            ("spark.dynamicAllocation.minExecutors", "5"),
            ("spark.dynamicAllocation.maxExecutors", "2"),
        ]);
        assert_eq!(off.validate(), Ok(()));
    }

    #[test]
    fn dynamic_allocation_needs_shuffle_service_or_tracking() {
        let c = conf(&[(keys::DYNAMIC_ALLOCATION_ENABLED, "true")]);
        let e = c.validate().unwrap_err();
        assert_eq!(e, SparkConfError::ShuffleServiceRequired);
        assert!(e
            .to_string()
            .starts_with("Dynamic allocation of executors requires the external shuffle service or shuffle tracking"));
        assert!(e.keys().contains(&keys::SHUFFLE_SERVICE_ENABLED.to_owned()));
        let c = conf(&[
            (keys::DYNAMIC_ALLOCATION_ENABLED, "true"),
            (keys::SHUFFLE_TRACKING_ENABLED, "true"),
        ]);
        assert_eq!(c.validate(), Ok(()));
        let e = refused(&[(keys::DYNAMIC_ALLOCATION_ENABLED, "maybe")]);
        assert_eq!(e.keys(), vec![keys::DYNAMIC_ALLOCATION_ENABLED.to_owned()]);
    }
}
