//! Spindle's resource manager: node registry and liveness, the FIFO scheduler,
//! application and attempt lifecycles, the AM service, the staging store and
//! the state store that keeps applications across restarts.

pub mod config;
pub mod metrics;
pub mod service;
pub mod state;
pub mod store;
pub mod web;

pub use config::RmConfig;
pub use service::{start, RmHandle, RmMonitor};
