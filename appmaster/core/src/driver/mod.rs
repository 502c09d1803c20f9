//! The driver's decisions: jobs split into stages, tasks placed on executors, executor
//! containers asked for and released, map outputs tracked. The AM's shell feeds it
//! events and carries out the effects it returns.
//!
//! One module per concern, as in Spark: `dag` (jobs and stages), `tasks` (task
//! sets, offers, retries, speculative copies), `executors` (containers, the ask, slots,
//! failures), `map_output` (shuffle outputs), `gate` (when the user's code starts),
//! `speculation` (when a slow task gets a copy); they share the [`Effect`] type, and
//! [`DriverCore`] composes them.

pub mod config;
pub mod core;
mod dag;
mod effect;
mod executors;
mod gate;
mod map_output;
pub mod speculation;
mod tasks;
#[cfg(test)]
mod test_support;

pub use self::config::driver_config;
pub use self::core::{DriverConfig, DriverCore, ShuffleMigrationConfig};
pub use self::effect::{Effect, TaskDescription};
pub use self::executors::Registration;
pub use self::gate::GateWait;
pub use self::speculation::SpeculationConfig;
