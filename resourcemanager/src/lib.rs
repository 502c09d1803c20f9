//! Spindle's resource manager: node registry and liveness, the FIFO scheduler,
//! application and attempt lifecycles, the AM service, the staging store and
//! the state store that keeps applications across restarts.

pub mod authz;
pub mod config;
pub mod ha;
mod http1;
mod links;
pub mod metrics;
pub mod scheduler;
pub mod service;
pub mod state;
pub mod store;
#[cfg(test)]
mod testing;
pub mod web;
pub mod web_tokens;

pub use config::RmConfig;
pub use service::{RmHandle, RmMonitor};

use service::RmError;

/// Starts the RM on the configured address, and its web server when one is
/// configured. With `etcd-endpoints`, it starts as a standby of an HA pair and serves
/// once it wins the election.
pub async fn start(config: &RmConfig) -> Result<RmHandle, RmError> {
    if config.ha() {
        ha::start(config).await
    } else {
        service::start(config).await
    }
}
