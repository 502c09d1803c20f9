//! Typed Spark configuration, shared by `spindle-submit` and the application master.
//!
//! A [`SparkConf`] is a map of Spark properties (`spark.*` keys, string values) with:
//!
//! - loading of spark-defaults.conf-format files (`java.util.Properties` syntax, values
//!   trimmed, as Spark reads them) and layering, later layers winning:
//!   built-in defaults < `$SPINDLE_CONF_DIR/spindle-defaults.conf` < `--properties-file` <
//!   `--conf` (spindle-submit then applies its dedicated flags on top, as spark-submit does);
//! - parsers with Spark's semantics (sizes like `512m`/`2g`, ints, booleans, time strings);
//! - typed accessors returning Spark's defaults for absent keys;
//! - [`SparkConf::validate`]: the checks Spark makes before it submits an application;
//! - the container sizes Spark on YARN asks for ([`SparkConf::executor_container`],
//!   [`SparkConf::driver_container`]).
//!
//! Every error names the key and the value it is about.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::Resource;
use thiserror::Error;

use crate::allocation::config::{parse_time_string, TimeUnit};
use crate::allocation::{AllocationConfig, ConfigError};

/// Spark property names read by this module.
pub mod keys {
    /// `spark.master`
    pub const MASTER: &str = "spark.master";
    /// `spark.submit.deployMode`
    pub const DEPLOY_MODE: &str = "spark.submit.deployMode";
    /// `spark.app.name`
    pub const APP_NAME: &str = "spark.app.name";
    /// `spark.app.submitTime` (milliseconds since the epoch, set by spindle-submit)
    pub const APP_SUBMIT_TIME: &str = "spark.app.submitTime";
    /// `spark.yarn.queue`
    pub const QUEUE: &str = "spark.yarn.queue";
    /// `spark.yarn.maxAppAttempts`
    pub const MAX_APP_ATTEMPTS: &str = "spark.yarn.maxAppAttempts";
    /// `spark.yarn.submit.waitAppCompletion`
    pub const WAIT_APP_COMPLETION: &str = "spark.yarn.submit.waitAppCompletion";
    /// `spark.executor.memory`
    pub const EXECUTOR_MEMORY: &str = "spark.executor.memory";
    /// `spark.executor.memoryOverhead`
    pub const EXECUTOR_MEMORY_OVERHEAD: &str = "spark.executor.memoryOverhead";
    /// `spark.executor.memoryOverheadFactor`
    pub const EXECUTOR_MEMORY_OVERHEAD_FACTOR: &str = "spark.executor.memoryOverheadFactor";
    /// `spark.executor.minMemoryOverhead`
    pub const EXECUTOR_MIN_MEMORY_OVERHEAD: &str = "spark.executor.minMemoryOverhead";
    /// `spark.executor.cores`
    pub const EXECUTOR_CORES: &str = "spark.executor.cores";
    /// `spark.executor.instances`
    pub const EXECUTOR_INSTANCES: &str = "spark.executor.instances";
    /// `spark.executor.maxNumFailures`
    pub const EXECUTOR_MAX_NUM_FAILURES: &str = "spark.executor.maxNumFailures";
    /// `spark.yarn.max.executor.failures` (the older name of `spark.executor.maxNumFailures`)
    pub const YARN_MAX_EXECUTOR_FAILURES: &str = "spark.yarn.max.executor.failures";
    /// `spark.driver.memory`
    pub const DRIVER_MEMORY: &str = "spark.driver.memory";
    /// `spark.driver.memoryOverhead`
    pub const DRIVER_MEMORY_OVERHEAD: &str = "spark.driver.memoryOverhead";
    /// `spark.driver.memoryOverheadFactor`
    pub const DRIVER_MEMORY_OVERHEAD_FACTOR: &str = "spark.driver.memoryOverheadFactor";
    /// `spark.driver.minMemoryOverhead`
    pub const DRIVER_MIN_MEMORY_OVERHEAD: &str = "spark.driver.minMemoryOverhead";
    /// `spark.driver.cores`
    pub const DRIVER_CORES: &str = "spark.driver.cores";
    /// `spark.task.cpus`
    pub const TASK_CPUS: &str = "spark.task.cpus";
    /// `spark.task.maxFailures`
    pub const TASK_MAX_FAILURES: &str = "spark.task.maxFailures";
    /// `spark.dynamicAllocation.enabled`
    pub const DYNAMIC_ALLOCATION_ENABLED: &str = "spark.dynamicAllocation.enabled";
    /// `spark.dynamicAllocation.maxExecutors`
    pub const DYNAMIC_ALLOCATION_MAX_EXECUTORS: &str = "spark.dynamicAllocation.maxExecutors";
    /// `spark.dynamicAllocation.shuffleTracking.enabled`
    pub const SHUFFLE_TRACKING_ENABLED: &str = "spark.dynamicAllocation.shuffleTracking.enabled";
    /// `spark.shuffle.service.enabled`
    pub const SHUFFLE_SERVICE_ENABLED: &str = "spark.shuffle.service.enabled";
    /// `spark.eventLog.enabled`
    pub const EVENT_LOG_ENABLED: &str = "spark.eventLog.enabled";
    /// `spark.eventLog.dir`
    pub const EVENT_LOG_DIR: &str = "spark.eventLog.dir";
}

/// Spark's default executor and driver memory (`1g`), in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 1024;
/// Spark's minimum memory overhead (`384m`), in MiB.
pub const DEFAULT_MIN_MEMORY_OVERHEAD_MB: u64 = 384;
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
/// The environment variable through which spindle-submit hands the properties to the driver.
pub const SPARK_CONF_ENV: &str = "SPINDLE_SPARK_CONF";

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

fn out_of_range(key: &str, value: impl ToString, requirement: &str) -> SparkConfError {
    SparkConfError::OutOfRange {
        key: key.to_owned(),
        value: value.to_string(),
        requirement: requirement.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsers

/// Units of Spark size strings (binary multiples, as Spark's `ByteUnit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ByteUnit {
    /// `b`
    Byte,
    /// `k`, `kb`
    KiB,
    /// `m`, `mb`
    MiB,
    /// `g`, `gb`
    GiB,
    /// `t`, `tb`
    TiB,
    /// `p`, `pb`
    PiB,
}

impl ByteUnit {
    fn shift(self) -> u32 {
        match self {
            Self::Byte => 0,
            Self::KiB => 10,
            Self::MiB => 20,
            Self::GiB => 30,
            Self::TiB => 40,
            Self::PiB => 50,
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "b" => Self::Byte,
            "k" | "kb" => Self::KiB,
            "m" | "mb" => Self::MiB,
            "g" | "gb" => Self::GiB,
            "t" | "tb" => Self::TiB,
            "p" | "pb" => Self::PiB,
            _ => return None,
        })
    }
}

/// Why a size string was refused (see [`parse_byte_string`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeError {
    /// Not a number with an optional unit.
    Malformed,
    /// `1.5g`: Spark refuses fractions.
    Fractional,
    /// An unknown unit suffix.
    BadSuffix(String),
    /// The value does not fit in 64 bits.
    Overflow,
}

impl SizeError {
    fn detail(&self) -> String {
        match self {
            Self::Malformed | Self::BadSuffix(_) => String::new(),
            Self::Fractional => ": fractional values are not supported".into(),
            Self::Overflow => ": too large".into(),
        }
    }
}

/// Parses a Spark size string (`"512m"`, `"2g"`, `"2048k"`, `"1t"`; units b, k, m, g, t, p,
/// optionally followed by `b`, case-insensitive; a plain number is in `unit`) and returns it in
/// `unit`, truncating as Spark's `JavaUtils.byteStringAs` does (`"2047k"` in MiB is 1).
pub fn parse_byte_string(value: &str, unit: ByteUnit) -> Result<u64, SizeError> {
    let lower = value.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    if digits_end == 0 {
        return Err(SizeError::Malformed);
    }
    let rest = &lower[digits_end..];
    if let Some(frac) = rest.strip_prefix('.') {
        let frac_digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let suffix = &frac[frac_digits..];
        if frac_digits > 0 && suffix.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(SizeError::Fractional);
        }
        return Err(SizeError::Malformed);
    }
    if !rest.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(SizeError::Malformed);
    }
    let number: u64 = lower[..digits_end]
        .parse()
        .map_err(|_| SizeError::Overflow)?;
    let from = if rest.is_empty() {
        unit
    } else {
        ByteUnit::from_suffix(rest).ok_or_else(|| SizeError::BadSuffix(rest.to_owned()))?
    };
    let (fs, ts) = (from.shift(), unit.shift());
    if fs >= ts {
        number
            .checked_mul(1u64 << (fs - ts))
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or(SizeError::Overflow)
    } else {
        Ok(number >> (ts - fs))
    }
}

/// Parses a size property (see [`parse_byte_string`]) with an error naming the key.
pub fn parse_size(key: &str, value: &str, unit: ByteUnit) -> Result<u64, SparkConfError> {
    parse_byte_string(value, unit).map_err(|e| SparkConfError::InvalidSize {
        key: key.to_owned(),
        value: value.to_owned(),
        detail: e.detail(),
    })
}

/// Parses a memory property the way Spark's `bytesConf(ByteUnit.MiB)` does: a plain number is
/// MiB; the result is MiB.
pub fn parse_memory_mb(key: &str, value: &str) -> Result<u64, SparkConfError> {
    parse_size(key, value, ByteUnit::MiB)
}

/// Parses a Spark `int` property (32-bit, surrounding whitespace ignored).
pub fn parse_int(key: &str, value: &str) -> Result<i64, SparkConfError> {
    value
        .trim()
        .parse::<i32>()
        .map(i64::from)
        .map_err(|_| SparkConfError::InvalidInt {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses a Spark `long` property.
pub fn parse_long(key: &str, value: &str) -> Result<i64, SparkConfError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| SparkConfError::InvalidInt {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses a Spark `double` property (finite values only).
pub fn parse_double(key: &str, value: &str) -> Result<f64, SparkConfError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| SparkConfError::InvalidNumber {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses a Spark boolean: `true` or `false`, case-insensitive.
pub fn parse_bool(key: &str, value: &str) -> Result<bool, SparkConfError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SparkConfError::InvalidBool {
            key: key.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// Parses a Spark time string (`60s`, `500ms`, `2min`, `1h`; a plain number is in `unit`),
/// returned in milliseconds; Spark's truncation to `unit` applies (`1500ms` read in seconds is
/// 1000 ms). Uses the allocation configuration's parser.
pub fn parse_time_ms(key: &str, value: &str, unit: TimeUnit) -> Result<i64, SparkConfError> {
    let invalid = || SparkConfError::InvalidTime {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    let in_unit = parse_time_string(value, unit).map_err(|_| invalid())?;
    let ms_per_unit: i128 = match unit {
        TimeUnit::Microseconds => return Ok(in_unit / 1000),
        TimeUnit::Milliseconds => 1,
        TimeUnit::Seconds => 1_000,
        TimeUnit::Minutes => 60_000,
        TimeUnit::Hours => 3_600_000,
        TimeUnit::Days => 86_400_000,
    };
    let ms = i128::from(in_unit) * ms_per_unit;
    Ok(ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Parses the text of a spark-defaults.conf-format file: `java.util.Properties` syntax (the
/// key ends at the first unescaped `=`, `:` or whitespace; `#` and `!` start comment lines; a
/// trailing `\` continues the line; `\t`, `\n`, `\uXXXX` escapes), values trimmed as Spark
/// does. Later occurrences of a key win.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, String> {
    fn is_ws(c: char) -> bool {
        matches!(c, ' ' | '\t' | '\x0c')
    }
    fn odd_trailing_backslashes(s: &str) -> bool {
        s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
    }
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let first = raw.trim_start_matches(is_ws);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut cur = first;
        loop {
            if odd_trailing_backslashes(cur) {
                logical.push_str(&cur[..cur.len() - 1]);
                match lines.next() {
                    Some((_, next)) => cur = next.trim_start_matches(is_ws),
                    None => break,
                }
            } else {
                logical.push_str(cur);
                break;
            }
        }
        let chars: Vec<char> = logical.chars().collect();
        let mut key_end = chars.len();
        let mut value_start = chars.len();
        let mut has_sep = false;
        let mut escaped = false;
        for (i, &c) in chars.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '=' || c == ':' {
                key_end = i;
                value_start = i + 1;
                has_sep = true;
                break;
            } else if is_ws(c) {
                key_end = i;
                value_start = i + 1;
                break;
            }
        }
        while value_start < chars.len() {
            let c = chars[value_start];
            if !is_ws(c) {
                if !has_sep && (c == '=' || c == ':') {
                    has_sep = true;
                } else {
                    break;
                }
            }
            value_start += 1;
        }
        let key = unescape(&chars[..key_end]).map_err(|e| format!("line {line_no}: {e}"))?;
        let value = unescape(&chars[value_start..]).map_err(|e| format!("line {line_no}: {e}"))?;
        out.insert(key, value.trim().to_owned());
    }
    Ok(out)
}

/// `java.util.Properties.loadConvert`.
fn unescape(chars: &[char]) -> Result<String, String> {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    let mut pending_high: Option<u32> = None;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else { break };
        i += 1;
        match e {
            'u' => {
                let hex: String = chars.get(i..i + 4).unwrap_or_default().iter().collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| "malformed \\uxxxx encoding".to_owned())?;
                i += 4;
                if (0xD800..0xDC00).contains(&code) {
                    pending_high = Some(code);
                    continue;
                }
                let code = match pending_high.take() {
                    Some(high) if (0xDC00..0xE000).contains(&code) => {
                        0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
                    }
                    _ => code,
                };
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            other => out.push(other),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// SparkConf

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

    /// Loads a spark-defaults.conf-format file.
    pub fn load_file(path: &Path) -> Result<Self, SparkConfError> {
        let text = std::fs::read_to_string(path).map_err(|e| SparkConfError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// `conf_dir/spindle-defaults.conf`.
    pub fn defaults_file(conf_dir: &Path) -> PathBuf {
        conf_dir.join(common::clientconf::DEFAULTS_FILE)
    }

    /// The layers in precedence order, later winning: [`Self::builtin_defaults`] <
    /// `conf_dir/spindle-defaults.conf` (skipped when `conf_dir` is `None` or the file does not
    /// exist) < `properties_file` (must exist) < `overrides` (`--conf`, in order).
    pub fn load_layered(
        conf_dir: Option<&Path>,
        properties_file: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, SparkConfError> {
        let mut conf = Self::builtin_defaults();
        if let Some(dir) = conf_dir {
            let path = Self::defaults_file(dir);
            if path.exists() {
                conf.merge(&Self::load_file(&path)?);
            }
        }
        if let Some(path) = properties_file {
            conf.merge(&Self::load_file(path)?);
        }
        for (k, v) in overrides {
            conf.set(k.clone(), v.clone());
        }
        Ok(conf)
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

    /// The properties spindle-submit handed to this driver in `$SPINDLE_SPARK_CONF` (empty if
    /// unset).
    pub fn from_env() -> Result<Self, SparkConfError> {
        match std::env::var(SPARK_CONF_ENV) {
            Ok(json) => Self::from_json(&json, SPARK_CONF_ENV),
            Err(_) => Ok(Self::new()),
        }
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
        match self.get_opt_int(keys::MAX_APP_ATTEMPTS)? {
            None => Ok(None),
            Some(n) if n >= 1 => Ok(Some(n as u32)),
            Some(n) => Err(out_of_range(keys::MAX_APP_ATTEMPTS, n, "at least 1")),
        }
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

    /// `spark.executor.cores` (default 1).
    pub fn executor_cores(&self) -> Result<u32, SparkConfError> {
        cores(self, keys::EXECUTOR_CORES)
    }

    /// `spark.executor.instances` as set (no default).
    pub fn executor_instances(&self) -> Result<Option<u32>, SparkConfError> {
        match self.get_opt_int(keys::EXECUTOR_INSTANCES)? {
            None => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n as u32)),
            Some(n) => Err(out_of_range(keys::EXECUTOR_INSTANCES, n, ">= 0")),
        }
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
            if let Some(n) = self.get_opt_int(key)? {
                if n < 1 {
                    return Err(out_of_range(key, n, "at least 1"));
                }
                return Ok(n as u32);
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

    /// `spark.dynamicAllocation.enabled` (default false).
    pub fn dynamic_allocation_enabled(&self) -> Result<bool, SparkConfError> {
        self.get_bool(keys::DYNAMIC_ALLOCATION_ENABLED, false)
    }

    /// `spark.shuffle.service.enabled` (default false).
    pub fn shuffle_service_enabled(&self) -> Result<bool, SparkConfError> {
        self.get_bool(keys::SHUFFLE_SERVICE_ENABLED, false)
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

    /// The dynamic allocation settings (parsed only; [`Self::validate`] applies the rules).
    pub fn allocation_config(&self) -> Result<AllocationConfig, SparkConfError> {
        AllocationConfig::from_spark_conf(&self.props).map_err(allocation_error)
    }

    /// The container an executor asks for: memory + overhead MiB, `spark.executor.cores`.
    pub fn executor_container(&self) -> Result<Resource, SparkConfError> {
        let mem = self.executor_memory_mb()?;
        let overhead = self.executor_memory_overhead_mb()?;
        let total = mem
            .checked_add(overhead)
            .ok_or_else(|| out_of_range(keys::EXECUTOR_MEMORY_OVERHEAD, overhead, "a sane size"))?;
        Ok(Resource::new(total, self.executor_cores()?))
    }

    /// The container of the driver (the AM): memory + overhead MiB, `spark.driver.cores`.
    pub fn driver_container(&self) -> Result<Resource, SparkConfError> {
        let mem = self.driver_memory_mb()?;
        let overhead = self.driver_memory_overhead_mb()?;
        let total = mem
            .checked_add(overhead)
            .ok_or_else(|| out_of_range(keys::DRIVER_MEMORY_OVERHEAD, overhead, "a sane size"))?;
        Ok(Resource::new(total, self.driver_cores()?))
    }

    /// What Spark checks before it submits an application; the first violation:
    /// sizes parse and memory is at least 1 MiB; overhead factors are > 0; cores, task cpus and
    /// task max failures are >= 1; executor cores >= task cpus; `spark.executor.instances` >= 0;
    /// booleans parse; `spark.yarn.maxAppAttempts` >= 1; the queue is not empty; the dynamic
    /// allocation keys parse and, when it is enabled, satisfy Spark's rules (min <= max
    /// executors, ratio, timeouts) and the shuffle service or shuffle tracking is on.
    pub fn validate(&self) -> Result<(), SparkConfError> {
        self.executor_container()?;
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
    use crate::allocation::config::keys as da;
    match e {
        ConfigError::ShuffleServiceRequired => SparkConfError::ShuffleServiceRequired,
        ConfigError::InvalidValue { key, value, .. } => match key.as_str() {
            da::ENABLED
            | da::TESTING
            | da::SHUFFLE_SERVICE_ENABLED
            | da::SHUFFLE_TRACKING_ENABLED
            | da::SHUFFLE_SERVICE_FETCH_RDD_ENABLED
            | da::DECOMMISSION_ENABLED
            | da::STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED => {
                SparkConfError::InvalidBool { key, value }
            }
            da::MIN_EXECUTORS
            | da::MAX_EXECUTORS
            | da::INITIAL_EXECUTORS
            | da::EXECUTOR_INSTANCES
            | da::EXECUTOR_CORES
            | da::TASK_CPUS => SparkConfError::InvalidInt { key, value },
            da::EXECUTOR_ALLOCATION_RATIO => SparkConfError::InvalidNumber { key, value },
            _ => SparkConfError::InvalidTime { key, value },
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        pairs.iter().copied().collect()
    }

    #[test]
    fn sizes_follow_spark() {
        use ByteUnit::*;
        assert_eq!(parse_byte_string("1g", MiB), Ok(1024));
        assert_eq!(parse_byte_string("512m", MiB), Ok(512));
        assert_eq!(parse_byte_string("512", MiB), Ok(512));
        assert_eq!(parse_byte_string("2048k", MiB), Ok(2));
        assert_eq!(parse_byte_string("2047k", MiB), Ok(1));
        assert_eq!(parse_byte_string(" 2G ", MiB), Ok(2048));
        assert_eq!(parse_byte_string("1gb", MiB), Ok(1024));
        assert_eq!(parse_byte_string("1MB", MiB), Ok(1));
        assert_eq!(parse_byte_string("1t", MiB), Ok(1 << 20));
        assert_eq!(parse_byte_string("1p", MiB), Ok(1 << 30));
        assert_eq!(parse_byte_string("1048576b", MiB), Ok(1));
        assert_eq!(parse_byte_string("1k", Byte), Ok(1024));
        assert_eq!(parse_byte_string("100", Byte), Ok(100));
        assert_eq!(
            parse_byte_string("12x", MiB),
            Err(SizeError::BadSuffix("x".into()))
        );
        assert_eq!(parse_byte_string("1.5g", MiB), Err(SizeError::Fractional));
        assert_eq!(parse_byte_string("g", MiB), Err(SizeError::Malformed));
        assert_eq!(parse_byte_string("", MiB), Err(SizeError::Malformed));
        assert_eq!(parse_byte_string("-1g", MiB), Err(SizeError::Malformed));
        assert_eq!(parse_byte_string("1 g", MiB), Err(SizeError::Malformed));
        assert_eq!(
            parse_byte_string("9999999999p", MiB),
            Err(SizeError::Overflow)
        );
        assert_eq!(
            parse_byte_string("99999999999999999999999", MiB),
            Err(SizeError::Overflow)
        );
    }

    #[test]
    fn size_errors_name_key_and_value() {
        let e = parse_memory_mb(keys::EXECUTOR_MEMORY, "12x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "spark.executor.memory: invalid size '12x' (e.g. 512m, 2g)"
        );
        let e = parse_memory_mb(keys::EXECUTOR_MEMORY, "lots").unwrap_err();
        assert_eq!(
            e.to_string(),
            "spark.executor.memory: invalid size 'lots' (e.g. 512m, 2g)"
        );
        let e = parse_memory_mb(keys::DRIVER_MEMORY, "1.5g").unwrap_err();
        assert!(e.to_string().contains("fractional"), "{e}");
        assert_eq!(e.keys(), vec![keys::DRIVER_MEMORY.to_owned()]);
    }

    #[test]
    fn ints_bools_doubles_times() {
        assert_eq!(parse_int("k", " 42 "), Ok(42));
        assert_eq!(parse_int("k", "-3"), Ok(-3));
        assert!(parse_int("k", "3000000000").is_err());
        assert_eq!(
            parse_int("spark.executor.cores", "two")
                .unwrap_err()
                .to_string(),
            "spark.executor.cores: invalid integer 'two'"
        );
        assert_eq!(parse_long("k", "3000000000"), Ok(3_000_000_000));
        assert_eq!(parse_bool("k", "TRUE"), Ok(true));
        assert_eq!(parse_bool("k", " false"), Ok(false));
        assert_eq!(
            parse_bool("spark.shuffle.service.enabled", "yes")
                .unwrap_err()
                .to_string(),
            "spark.shuffle.service.enabled: invalid boolean 'yes' (true or false)"
        );
        assert_eq!(parse_double("k", "0.25"), Ok(0.25));
        assert!(parse_double("k", "NaN").is_err());
        assert!(parse_double("k", "x").is_err());
        assert_eq!(parse_time_ms("k", "60s", TimeUnit::Seconds), Ok(60_000));
        assert_eq!(parse_time_ms("k", "60", TimeUnit::Seconds), Ok(60_000));
        assert_eq!(parse_time_ms("k", "1500ms", TimeUnit::Seconds), Ok(1000));
        assert_eq!(parse_time_ms("k", "1500", TimeUnit::Milliseconds), Ok(1500));
        assert_eq!(
            parse_time_ms("k", "2min", TimeUnit::Milliseconds),
            Ok(120_000)
        );
        assert_eq!(
            parse_time_ms("spark.network.timeout", "soon", TimeUnit::Seconds)
                .unwrap_err()
                .to_string(),
            "spark.network.timeout: invalid time 'soon' (e.g. 60s, 500ms, 2min)"
        );
        let c = conf(&[("spark.x", "3s")]);
        assert_eq!(c.get_time_ms("spark.x", TimeUnit::Seconds, 7), Ok(3000));
        assert_eq!(c.get_time_ms("spark.y", TimeUnit::Seconds, 7), Ok(7));
    }

    #[test]
    fn properties_file_format() {
        let text = "\
# a comment
   ! another comment

spark.executor.memory   2g
spark.executor.cores=4
spark.app.name : my app  \n\
spark.yarn.queue\tprod
spark.a.b = x=y
spark.empty
spark.cont = one, \\
    two
spark.esc\\ aped = tab\\there \\u0041
  spark.indented 1
spark.executor.cores 5
";
        let p = parse_properties(text).unwrap();
        assert_eq!(p["spark.executor.memory"], "2g");
        assert_eq!(p["spark.executor.cores"], "5", "later wins");
        assert_eq!(p["spark.app.name"], "my app");
        assert_eq!(p["spark.yarn.queue"], "prod");
        assert_eq!(p["spark.a.b"], "x=y");
        assert_eq!(p["spark.empty"], "");
        assert_eq!(p["spark.cont"], "one, two");
        assert_eq!(p["spark.esc aped"], "tab\there A");
        assert_eq!(p["spark.indented"], "1");
        assert!(!p.keys().any(|k| k.contains("comment")));
        assert_eq!(p.len(), 9);
        assert!(parse_properties("spark.x \\u00zz").is_err());
        // CRLF files.
        let p = parse_properties("spark.a 1\r\nspark.b=2\r\n").unwrap();
        assert_eq!(p["spark.a"], "1");
        assert_eq!(p["spark.b"], "2");
    }

    #[test]
    fn layers_later_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            SparkConf::defaults_file(dir.path()),
            "spark.executor.memory 2g\nspark.executor.cores 2\nspark.yarn.queue fromdefaults\n\
             spark.master spindle://defaults:1\n",
        )
        .unwrap();
        let props = dir.path().join("my.conf");
        std::fs::write(&props, "spark.executor.cores=3\nspark.task.cpus 1\n").unwrap();
        let c = SparkConf::load_layered(
            Some(dir.path()),
            Some(&props),
            &[("spark.task.cpus".into(), "3".into())],
        )
        .unwrap();
        assert_eq!(c.get("spark.executor.memory"), Some("2g"));
        assert_eq!(c.get("spark.executor.cores"), Some("3"));
        assert_eq!(c.get("spark.task.cpus"), Some("3"));
        assert_eq!(c.queue(), "fromdefaults");
        assert_eq!(c.master(), "spindle://defaults:1");
        assert_eq!(c.deploy_mode(), "cluster");
        // No defaults file, no properties file: just the built-in layer.
        let empty = tempfile::tempdir().unwrap();
        let c = SparkConf::load_layered(Some(empty.path()), None, &[]).unwrap();
        assert_eq!(c, SparkConf::builtin_defaults());
        // A named properties file must exist.
        let e = SparkConf::load_layered(None, Some(&empty.path().join("nope")), &[]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
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
        let c = conf(&[(keys::EXECUTOR_MEMORY_OVERHEAD_FACTOR, "0")]);
        assert!(c
            .validate()
            .unwrap_err()
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
        let c = conf(&[(keys::DRIVER_MEMORY_OVERHEAD, "2x")]);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains(keys::DRIVER_MEMORY_OVERHEAD));
    }

    #[test]
    fn bad_sizes_are_refused() {
        let e = conf(&[(keys::EXECUTOR_MEMORY, "12x")])
            .validate()
            .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("spark.executor.memory: invalid size '12x'"));
        let e = conf(&[(keys::DRIVER_MEMORY, "0")]).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "spark.driver.memory must be a positive size of at least 1m (got '0')"
        );
        let e = conf(&[(keys::EXECUTOR_MEMORY, "512k")])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains(keys::EXECUTOR_MEMORY), "{e}");
    }

    #[test]
    fn cores_and_task_cpus() {
        let e = conf(&[(keys::EXECUTOR_CORES, "0")]).validate().unwrap_err();
        assert_eq!(e.keys(), vec![keys::EXECUTOR_CORES.to_owned()]);
        let e = conf(&[(keys::DRIVER_CORES, "-1")]).validate().unwrap_err();
        assert_eq!(e.keys(), vec![keys::DRIVER_CORES.to_owned()]);
        let e = conf(&[(keys::EXECUTOR_CORES, "x")]).validate().unwrap_err();
        assert_eq!(e.to_string(), "spark.executor.cores: invalid integer 'x'");
        let e = conf(&[(keys::TASK_CPUS, "0")]).validate().unwrap_err();
        assert_eq!(e.keys(), vec![keys::TASK_CPUS.to_owned()]);
        let e = conf(&[(keys::EXECUTOR_CORES, "1"), (keys::TASK_CPUS, "2")])
            .validate()
            .unwrap_err();
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
        let e = conf(&[(keys::EXECUTOR_INSTANCES, "-1")])
            .validate()
            .unwrap_err();
        assert_eq!(e.keys(), vec![keys::EXECUTOR_INSTANCES.to_owned()]);
        let e = conf(&[(keys::TASK_MAX_FAILURES, "0")])
            .validate()
            .unwrap_err();
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
            (keys::DYNAMIC_ALLOCATION_MAX_EXECUTORS, "10"),
        ]);
        assert_eq!(da.executor_max_num_failures(), Ok(20));
        assert_eq!(
            conf(&[(keys::MAX_APP_ATTEMPTS, "1")]).max_app_attempts(),
            Ok(Some(1))
        );
        let e = conf(&[(keys::MAX_APP_ATTEMPTS, "0")])
            .validate()
            .unwrap_err();
        assert_eq!(e.keys(), vec![keys::MAX_APP_ATTEMPTS.to_owned()]);
        let e = conf(&[(keys::QUEUE, " ")]).validate().unwrap_err();
        assert_eq!(e.keys(), vec![keys::QUEUE.to_owned()]);
        assert_eq!(conf(&[(keys::QUEUE, "prod")]).queue(), "prod");
        let e = conf(&[(keys::EVENT_LOG_ENABLED, "on")])
            .validate()
            .unwrap_err();
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
        assert_eq!(with(&[]).validate(), Ok(()));
        let e = with(&[
            ("spark.dynamicAllocation.minExecutors", "5"),
            ("spark.dynamicAllocation.maxExecutors", "2"),
        ])
        .validate()
        .unwrap_err();
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
        let e = with(&[("spark.dynamicAllocation.executorAllocationRatio", "2")])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("executorAllocationRatio"));
        let e = with(&[("spark.dynamicAllocation.schedulerBacklogTimeout", "0s")])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("schedulerBacklogTimeout"));
        let e = with(&[("spark.dynamicAllocation.executorIdleTimeout", "-1s")])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("executorIdleTimeout"));
        // Parse errors are typed and name the key.
        let e = with(&[("spark.dynamicAllocation.minExecutors", "two")])
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "spark.dynamicAllocation.minExecutors: invalid integer 'two'"
        );
        let e = with(&[("spark.dynamicAllocation.executorIdleTimeout", "3x")])
            .validate()
            .unwrap_err();
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
        let e = conf(&[(keys::DYNAMIC_ALLOCATION_ENABLED, "maybe")])
            .validate()
            .unwrap_err();
        assert_eq!(e.keys(), vec![keys::DYNAMIC_ALLOCATION_ENABLED.to_owned()]);
    }
}
