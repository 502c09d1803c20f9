//! The shuffle service: serves executors' map output so executors can go
//! away without losing it (issue 6).
//!
//! - [`layout`]: Spark's sort-shuffle files (`shuffle_<s>_<m>_0.{data,index}`).
//! - [`block`]: block ids in Spark's string form, parsed strictly.
//! - [`server`]: the `spindle-shuffle/1` server: hosted by the NM
//!   ([`aux::NodeService`]), standalone (the `shuffle-service` binary), or in
//!   an executor serving its own blocks.
//! - [`client`]: [`ShuffleClient`] for executors: register, fetch, remove.

pub mod aux;
pub mod block;
pub mod client;
pub mod config;
pub mod layout;
mod registry;
pub mod server;

pub use aux::{admin_token_from_key, NodeService};
pub use block::{BlockId, BlockIdError};
pub use client::{FetchError, ShuffleClient};
pub use config::ShuffleServiceConfig;
pub use registry::{StoreError, STATE_FILE};
pub use server::{start, Handle, ServerConfig, ServerError};

/// The environment variable a node manager gives containers: the
/// `host:port` of the node's shuffle service.
pub const ENV_SHUFFLE_SERVICE: &str = "SPINDLE_SHUFFLE_SERVICE";
