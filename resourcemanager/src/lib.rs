//! Spindle's resource manager: node registry and liveness, the FIFO scheduler,
//! application and attempt lifecycles, the AM service, the staging store and
//! the state store that keeps applications across restarts.

pub mod authz;
pub mod config;
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
use std::sync::Arc;

/// Starts the RM on the configured address, and its web server when one is
/// configured.
pub async fn start(config: &RmConfig) -> Result<RmHandle, RmError> {
    let (mut rm, web) = service::start(config, web::bind(config)).await?;
    if let Some((listener, links)) = web {
        let web = Arc::new(web::Web {
            tokens: rm.rm().tokens(),
            rm: rm.rm(),
            links,
            anonymous_read: config.web_anonymous_read.allowed(&config.web_address),
        });
        rm.attach(web::spawn(listener, web));
    }
    Ok(rm)
}
