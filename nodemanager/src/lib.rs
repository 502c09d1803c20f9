//! Spindle's node manager: registers capacity with the RM, launches containers
//! as process groups after checking RM-signed tokens, localizes files by
//! content hash, enforces memory limits and keeps container logs.
//!
//! - [`lifecycle`]: the containers' lifecycle as a pure state machine (events in,
//!   actions out, `now` passed in, next wake-up out); no I/O, no clock.
//! - [`containers`]: the thin async shell that drives it: one mutex around the
//!   core, one timer task, a task per process awaiting its exit.
//! - [`launch`] (directories, environment, process groups, signals),
//!   [`localizer`] (files by content hash), [`monitor`] (memory from `/proc`).
//! - [`authz`]: who may send which request (tokens, roles), checked first;
//! - [`tokens`]: container tokens as plain data: the keys the RM sent, and the
//!   tokens already used (a token starts its container once).
//! - [`service`]: the QUIC server, the heartbeat to the RM and shutdown;
//!   [`web`] and [`metrics`]: `/metrics` and container logs over HTTP(S).

pub mod authz;
pub mod config;
pub mod containers;
pub mod launch;
pub mod lifecycle;
pub mod localizer;
pub mod metrics;
pub mod monitor;
pub mod service;
pub mod tokens;
pub mod web;

pub use config::NmConfig;
pub use service::{start, NmHandle, NmMonitor};
