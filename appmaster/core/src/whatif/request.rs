//! What `spindle what-if` asks: which policies, with which settings and cluster
//! assumptions; and the policies' settings built from the log's properties and the user's.

use std::collections::BTreeMap;

use super::replay::{replay, Policy, Prediction, ReplayOptions};
use super::workload::{Workload, SPINDLE_EXECUTOR_START_MS, SPINDLE_EXECUTOR_STOP_MS};
use super::WhatIfError;
use crate::allocation::{AllocationConfig, AllocationPolicy};
use crate::sparkconf::keys;

/// A policy to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyKind {
    /// `--num-executors N` held throughout.
    Static,
    /// Spark's dynamic allocation rules.
    Spark,
    /// Spindle's eager policy.
    Eager,
}

impl PolicyKind {
    /// Every policy, in the order they are printed.
    pub const ALL: [Self; 3] = [Self::Static, Self::Spark, Self::Eager];

    pub fn name(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Spark => "spark",
            Self::Eager => "eager",
        }
    }

    /// `static`, `spark` or `eager`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s.trim())
    }
}

/// What to replay, and what to assume. `None` takes the default named on each field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The policies (default: all three).
    pub policies: Vec<PolicyKind>,
    /// Executors of the static policy (default: the most the log's run held at once, else
    /// `spark.executor.instances`, else 2).
    pub num_executors: Option<u32>,
    /// Cores per executor (default: the log's `spark.executor.cores`, else its executors',
    /// else 1).
    pub executor_cores: Option<u32>,
    /// Properties for the dynamic policies, over the log's own `spark.dynamicAllocation.*`
    /// (later wins): `spark.dynamicAllocation.*`, `spark.shuffle.service.enabled`,
    /// `spark.task.cpus`, `spindle.dynamicAllocation.eager.*`, `spark.executor.instances`.
    pub conf: Vec<(String, String)>,
    /// Executor start latency (default: Spindle's, [`SPINDLE_EXECUTOR_START_MS`]).
    pub start_latency_ms: Option<u64>,
    /// Executor stop latency (default: Spindle's, [`SPINDLE_EXECUTOR_STOP_MS`]).
    pub stop_latency_ms: Option<u64>,
    /// First-task warm-up on a fresh executor (default 0: Spindle's executors are native
    /// processes; a log's own is [`Workload::warmup_ms`]).
    pub warmup_ms: Option<u64>,
}

/// One policy's replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub kind: PolicyKind,
    pub policy: Policy,
    /// The policy's allocation settings in words.
    pub allocation: String,
    pub prediction: Prediction,
}

/// Every replay of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub options: ReplayOptions,
    pub runs: Vec<Run>,
}

/// Keys of the log's own properties the dynamic policies inherit (`spark.executor.instances`
/// is not among them: a static run's count is not an initial executor count).
fn inherited(key: &str) -> bool {
    key.starts_with("spark.dynamicAllocation.") || key == keys::SHUFFLE_SERVICE_ENABLED
}

/// Replays `workload` as `request` says.
pub fn what_if(workload: &Workload, request: &Request) -> Result<Outcome, WhatIfError> {
    let mut props: BTreeMap<String, String> = workload
        .conf
        .iter()
        .filter(|(k, _)| inherited(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &request.conf {
        props.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    let task_cpus = match props
        .get(keys::TASK_CPUS)
        .or_else(|| workload.conf.get(keys::TASK_CPUS))
    {
        None => 1,
        Some(v) => v.parse::<u32>().map_err(|_| WhatIfError::InvalidOption {
            option: "spark.task.cpus",
            reason: format!("should be a whole number, got '{v}'"),
        })?,
    };
    let options = ReplayOptions {
        executor_cores: request
            .executor_cores
            .or(workload.executor_cores)
            .unwrap_or(1),
        task_cpus,
        start_latency_ms: request
            .start_latency_ms
            .unwrap_or(SPINDLE_EXECUTOR_START_MS),
        stop_latency_ms: request.stop_latency_ms.unwrap_or(SPINDLE_EXECUTOR_STOP_MS),
        warmup_ms: request.warmup_ms.unwrap_or(0),
    };
    let policies = if request.policies.is_empty() {
        PolicyKind::ALL.to_vec()
    } else {
        request.policies.clone()
    };
    let mut runs = Vec::with_capacity(policies.len());
    for kind in policies {
        let (policy, allocation) = match kind {
            PolicyKind::Static => {
                let n = request
                    .num_executors
                    .or_else(|| Some(workload.measured.peak_executors).filter(|n| *n > 0))
                    .or_else(|| {
                        workload
                            .conf
                            .get(keys::EXECUTOR_INSTANCES)
                            .and_then(|v| v.trim().parse().ok())
                    })
                    .unwrap_or(2);
                (
                    Policy::Static { executors: n },
                    format!("{n} executor{}", if n == 1 { "" } else { "s" }),
                )
            }
            PolicyKind::Spark | PolicyKind::Eager => {
                let config = dynamic_config(&props, kind)?;
                let allocation = describe(&config, options.start_latency_ms);
                (Policy::Dynamic(config), allocation)
            }
        };
        let prediction = replay(workload, &policy, &options)?;
        runs.push(Run {
            kind,
            policy,
            allocation,
            prediction,
        });
    }
    Ok(Outcome { options, runs })
}

/// The dynamic policies' settings: `props` with dynamic allocation on, this policy, and
/// shuffle tracking on when neither it nor the external shuffle service is set (Spark
/// refuses dynamic allocation without one of them).
fn dynamic_config(
    props: &BTreeMap<String, String>,
    kind: PolicyKind,
) -> Result<AllocationConfig, WhatIfError> {
    let mut props = props.clone();
    props.insert(
        keys::DYNAMIC_ALLOCATION_ENABLED.to_owned(),
        "true".to_owned(),
    );
    let policy = if kind == PolicyKind::Eager {
        AllocationPolicy::Eager
    } else {
        AllocationPolicy::Spark
    };
    props.insert(
        keys::DYNAMIC_ALLOCATION_POLICY.to_owned(),
        policy.name().to_owned(),
    );
    if !props.contains_key(keys::SHUFFLE_TRACKING_ENABLED)
        && !props.contains_key(keys::SHUFFLE_SERVICE_ENABLED)
    {
        props.insert(keys::SHUFFLE_TRACKING_ENABLED.to_owned(), "true".to_owned());
    }
    let config = AllocationConfig::from_spark_conf(&props)?;
    config.validate()?;
    Ok(config)
}

fn secs(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// A dynamic policy's settings in words.
fn describe(c: &AllocationConfig, start_latency_ms: u64) -> String {
    let max = if c.max_executors >= crate::allocation::config::DEFAULT_MAX_EXECUTORS {
        "unbounded".to_owned()
    } else {
        c.max_executors.to_string()
    };
    let mut parts = vec![
        format!("min {}", c.min_executors),
        format!("max {max}"),
        format!("initial {}", c.initial_num_executors()),
    ];
    match c.policy {
        AllocationPolicy::Eager => parts.push(format!(
            "idle {}",
            secs(c.eager_executor_idle_timeout_ms(Some(start_latency_ms)) as i64)
        )),
        _ => {
            parts.push(match c.executor_idle_timeout_ms {
                Some(ms) => format!("idle {}", secs(ms)),
                None => "idle never".to_owned(),
            });
            parts.push(format!("backlog {}", secs(c.scheduler_backlog_timeout_ms)));
            if c.sustained_scheduler_backlog_timeout_ms != c.scheduler_backlog_timeout_ms {
                parts.push(format!(
                    "sustained {}",
                    secs(c.sustained_scheduler_backlog_timeout_ms)
                ));
            }
        }
    }
    if c.executor_allocation_ratio != 1.0 {
        parts.push(format!("ratio {}", c.executor_allocation_ratio));
    }
    if c.shuffle_tracking_enabled {
        parts.push("shuffle tracking".to_owned());
    }
    parts.join(", ")
}
