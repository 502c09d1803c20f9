//! Spindle's node manager: registers capacity with the RM, launches containers
//! as process groups after checking RM-signed tokens, localizes files by
//! content hash, enforces memory limits and keeps container logs.

pub mod config;
pub mod containers;
pub mod launch;
pub mod lifecycle;
pub mod localizer;
pub mod metrics;
pub mod monitor;
pub mod service;
pub mod web;

pub use config::NmConfig;
pub use service::{start, NmHandle, NmMonitor};
