//! What a Spark property can be refused for.

use super::keys;
use crate::allocation::ConfigError;
use std::path::PathBuf;
use thiserror::Error;

/// A Spark property Spark would refuse, or a configuration file that cannot be read.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SparkConfError {
    /// A size (`512m`, `2g`, ...) that does not parse.
    #[error("{key}: invalid size '{value}'{detail} (e.g. 512m, 2g)")]
    InvalidSize {
        /// The property key.
        key: String,
        /// The raw value.
        value: String,
        /// Extra explanation (empty, or starting with `": "`).
        detail: String,
    },
    /// An integer that does not parse (Spark's `int` properties are 32-bit).
    #[error("{key}: invalid integer '{value}'")]
    InvalidInt {
        /// The property key.
        key: String,
        /// The raw value.
        value: String,
    },
    /// A number that does not parse.
    #[error("{key}: invalid number '{value}'")]
    InvalidNumber {
        /// The property key.
        key: String,
        /// The raw value.
        value: String,
    },
    /// A boolean other than `true` / `false`.
    #[error("{key}: invalid boolean '{value}' (true or false)")]
    InvalidBool {
        /// The property key.
        key: String,
        /// The raw value.
        value: String,
    },
    /// A time string that does not parse.
    #[error("{key}: invalid time '{value}' (e.g. 60s, 500ms, 2min)")]
    InvalidTime {
        /// The property key.
        key: String,
        /// The raw value.
        value: String,
    },
    /// A value that parses but is out of its allowed range.
    #[error("{key} must be {requirement} (got '{value}')")]
    OutOfRange {
        /// The property key.
        key: String,
        /// The raw value.
        value: String,
        /// What Spark requires, e.g. "at least 1".
        requirement: String,
    },
    /// `spark.executor.cores` is below `spark.task.cpus`.
    #[error(
        "spark.executor.cores ({executor_cores}) must be >= spark.task.cpus ({task_cpus}): the \
         number of cores per executor has to be >= the number of cpus per task"
    )]
    ExecutorCoresBelowTaskCpus {
        /// The configured executor cores.
        executor_cores: i64,
        /// The configured task cpus.
        task_cpus: i64,
    },
    /// Dynamic allocation without a way to keep shuffle data when executors go away.
    #[error(
        "Dynamic allocation of executors requires the external shuffle service or shuffle \
         tracking: set spark.shuffle.service.enabled=true or \
         spark.dynamicAllocation.shuffleTracking.enabled=true (or spark.decommission.enabled \
         with spark.storage.decommission.shuffleBlocks.enabled)"
    )]
    ShuffleServiceRequired,
    /// A dynamic allocation setting Spark refuses (min > max executors, bad ratio, ...).
    #[error("{0}")]
    DynamicAllocation(ConfigError),
    /// A properties file that cannot be read or parsed.
    #[error("cannot read properties file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `SPINDLE_SPARK_CONF` (or another JSON form of the properties) is not a JSON object of
    /// strings.
    #[error("{what}: not a JSON object of string properties: {reason}")]
    Json {
        /// Where the JSON came from.
        what: String,
        /// The parser's complaint.
        reason: String,
    },
}

impl SparkConfError {
    /// The Spark keys this error is about (empty for file errors).
    pub fn keys(&self) -> Vec<String> {
        match self {
            Self::InvalidSize { key, .. }
            | Self::InvalidInt { key, .. }
            | Self::InvalidNumber { key, .. }
            | Self::InvalidBool { key, .. }
            | Self::InvalidTime { key, .. }
            | Self::OutOfRange { key, .. } => vec![key.clone()],
            Self::ExecutorCoresBelowTaskCpus { .. } => {
                vec![keys::EXECUTOR_CORES.into(), keys::TASK_CPUS.into()]
            }
            Self::ShuffleServiceRequired => ConfigError::ShuffleServiceRequired.keys(),
            Self::DynamicAllocation(e) => e.keys(),
            Self::File { .. } | Self::Json { .. } => vec![],
        }
    }
}

pub(crate) fn out_of_range(key: &str, value: impl ToString, requirement: &str) -> SparkConfError {
    SparkConfError::OutOfRange {
        key: key.to_owned(),
        value: value.to_string(),
        requirement: requirement.to_owned(),
    }
}

/// `Ok` when the setting meets its requirement, else [`out_of_range`].
pub(crate) fn require(
    ok: bool,
    key: &str,
    value: impl ToString,
    requirement: &str,
) -> Result<(), SparkConfError> {
    if ok {
        Ok(())
    } else {
        Err(out_of_range(key, value, requirement))
    }
}
