//! The driver's decisions: jobs split into stages, tasks placed on executors, executor
//! containers asked for and released, map outputs tracked. The AM's shell feeds it
//! events and carries out the effects it returns.

pub mod config;
pub mod core;

pub use self::config::driver_config;
pub use self::core::{DriverConfig, DriverCore, Effect};
