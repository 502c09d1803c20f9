//! What Spindle's daemons (resource manager, node manager, standalone
//! shuffle service) share around their own work:
//!
//! - [`main`]: the life of a daemon process as a service manager sees it
//!   (arguments, configuration, logging, signals, sd-notify readiness,
//!   STATUS= and the watchdog, SIGHUP reload, a bounded graceful stop), run
//!   for a [`Daemon`] that says only what is its own;
//! - [`DaemonConfig`]: the configuration file contract the runtime reloads,
//!   and [`config::assert_template_documents`] for the config-template drift tests;
//! - [`https`]: the web listener (HTTPS with the cluster's certificate, or
//!   plain HTTP on loopback only);
//! - [`metrics`]: Prometheus registration and the text encoding;

pub mod config;
pub mod https;
pub mod logging;
pub mod metrics;
pub mod notify;
mod runtime;

pub use config::DaemonConfig;
pub use runtime::{main, Daemon};
