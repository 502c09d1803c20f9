//! Spindle's resource manager: node registry and liveness, the FIFO scheduler,
//! application and attempt lifecycles, the AM service and the staging store.
//! Also home of the `spindle` admin CLI.

pub mod cli;
pub mod config;
pub mod service;
pub mod state;

pub use config::RmConfig;
pub use service::{start, RmHandle};
