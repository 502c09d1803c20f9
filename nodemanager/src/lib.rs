//! Spindle's node manager: registers capacity with the RM, launches containers
//! after checking RM-signed tokens, as their users and in cgroups when it can,
//! localizes files by content hash, enforces memory limits and keeps container logs.
//!
//! - [`lifecycle`]: the containers' lifecycle as a pure state machine (events in,
//!   actions out, `now` passed in, next wake-up out); no I/O, no clock.
//! - [`containers`]: the thin async shell that drives it: one mutex around the
//!   core, one timer task, a task per process awaiting its exit.
//! - [`launch`] (directories owned by the container's user, credentials as private
//!   files, environment, process groups, signals), [`localizer`] (files by content hash).
//! - [`isolation`]: decided at start and reported to the RM: [`user`] (which account
//!   a container runs as), [`cgroups`] (memory limit, CPU weight, kill by group) or,
//!   where cgroups cannot be written, [`monitor`] (memory polled from `/proc`).
//! - [`recovery`] and [`launcher`]: with `recovery`, containers outlive the NM: each
//!   runs under a launcher that records its exit status, and is recorded on disk so
//!   that the next NM process takes it back.
//! - [`authz`]: who may send which request (tokens, roles), checked first;
//! - [`tokens`]: container tokens as plain data: the keys the RM sent, and the
//!   tokens already used (a token starts its container once).
//! - [`service`]: the QUIC server, the heartbeat to the RM and shutdown;
//!   [`web`] and [`metrics`]: `/metrics` and container logs over HTTP(S).

pub mod authz;
pub mod cgroups;
pub mod config;
pub mod containers;
pub mod disks;
pub mod isolation;
pub mod launch;
pub mod launcher;
pub mod lifecycle;
pub mod localizer;
pub mod metrics;
pub mod monitor;
pub mod recovery;
pub mod service;
pub mod tokens;
pub mod user;
pub mod web;

pub use config::NmConfig;
pub use service::{start, NmHandle, NmMonitor};
