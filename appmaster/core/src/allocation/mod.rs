//! Dynamic executor allocation, following Apache Spark's `ExecutorAllocationManager` and
//! `ExecutorMonitor`: a pure state machine with an injected millisecond clock.
//!
//! - [`config`]: the settings (`spark.dynamicAllocation.*` and friends), their defaults,
//!   parsing and Spark's validation rules.
//! - [`event`]: the scheduler events the manager listens to.
//! - [`monitor`]: per-executor idle tracking and timeouts.
//! - [`manager`]: the target, the ramp-up and the removal decisions.
//!
//! Two policies (`spindle.dynamicAllocation.policy`, [`AllocationPolicy`]): `spark`, the
//! default, follows Spark's rules exactly; `eager`, Spindle's own, sets the target to what
//! the tasks need the moment they wait and releases idle executors after a timeout derived
//! from the measured executor start latency (fed in with
//! [`ExecutorAllocationManager::on_executor_start_latency`]).
//!
//! Differences from Spark: a single (default) resource profile;
//! `spark.dynamicAllocation.shuffleTracking.enabled` defaults to false (Spark 3.x's
//! default); executors are considered active until an `ExecutorRemoved` event.

pub mod config;
pub mod event;
mod listener;
pub mod manager;
pub mod monitor;

pub use config::{AllocationConfig, AllocationPolicy, ConfigError};
pub use event::{JobStageInfo, ListenerEvent, StageAttempt, StorageLevel, TaskEndReason, TaskInfo};
pub use manager::{ExecutorAllocationManager, ExecutorRequest, RemovalKind, TickOutcome};
pub use monitor::{ExecutorMonitor, Tracker};
