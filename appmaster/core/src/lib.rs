//! The application master's pure core: what the driver decides, with no async runtime
//! and no I/O, so tests and the simulator can drive it with plain values and numbers
//! for the clock.
//!
//! - [`ids`]: the application's ids (jobs, stages, shuffles, RDDs, tasks, executors);
//! - [`plan`]: a partition's lineage as data, what travels from the driver to executors;
//! - [`driver`]: the driver's schedulers (jobs and stages, tasks, executors, map output);
//! - [`allocation`]: dynamic allocation with Spark's ExecutorAllocationManager semantics;
//! - [`sparkconf`]: Spark properties, their defaults and validation;
//! - [`eventlog`]: the event-log format;
//! - [`simulate`]: the allocation simulator over recorded traces;
//! - [`whatif`]: an application's event log (Spark's or Spindle's) replayed under other
//!   allocation policies.

pub mod allocation;
pub mod driver;
pub mod eventlog;
pub mod ids;
pub mod plan;
pub mod simulate;
pub mod sparkconf;
pub mod whatif;
