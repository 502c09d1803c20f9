//! The shuffle service: serves executors' map output so executors can go
//! away without losing it (issue 6).
//!
//! - [`layout`]: Spark's sort-shuffle files (`shuffle_<s>_<m>_0.{data,index}`).
//! - [`block`]: block ids in Spark's string form, parsed strictly.
//! - [`server`]: the `spindle-shuffle/1` server: hosted by the NM
//!   ([`aux::NodeService`]), standalone (the `shuffle-service` binary), or in
//!   an executor serving its own blocks.
//! - [`client`]: [`ShuffleClient`] for executors: register, fetch, remove;
//!   fetched blocks come as [`Block`]s, lists of the chunks quinn received.

pub mod aux;
pub mod block;
pub mod client;
pub mod config;
pub mod layout;
mod registry;
pub mod server;

pub use aux::{admin_token_from_key, NodeService};
pub use block::{BlockId, BlockIdError};
pub use client::{FetchError, ShuffleClient, DEFAULT_CONNECTIONS};
pub use common::fetched::Block;
pub use config::ShuffleServiceConfig;
pub use registry::{StoreError, STATE_FILE};
pub use server::{start, Handle, ServerConfig, ServerError};

/// Tunes glibc's allocator for streaming, once per process; the server and
/// the client call it when they start.
///
/// quinn copies every received datagram into a fresh ~64 KiB buffer, which
/// fetched blocks hold until they are read; with glibc's defaults the freed
/// memory is trimmed back to the kernel and faulted in again page by page,
/// which costs more CPU than QUIC's crypto and halves fetch throughput
/// (measured with the `shuffle_fetch` bench). Raising the trim threshold (64 MiB), the top pad
/// (16 MiB) and the mmap threshold (32 MiB) keeps that memory in the process.
/// Skipped when `GLIBC_TUNABLES` already sets malloc parameters.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
                return;
            }
            // SAFETY: mallopt only changes the allocator's parameters.
            unsafe {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
                libc::mallopt(libc::M_TOP_PAD, 16 << 20);
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            }
        });
    }
}
