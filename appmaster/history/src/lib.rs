//! The application UI and its history, built from the same events as the event log:
//! Spark's monitoring API (`/api/v1/applications/...`), server-rendered pages
//! (jobs, stages, executors with Spark's columns), the executor timeline as
//! SVG (each executor's lifetime, the allocation target and running tasks
//! over time) and Prometheus metrics at `/metrics`.
//!
//! Pages need no JavaScript and fetch nothing from elsewhere; while the
//! application runs they refresh themselves. The RM serves the same pages
//! from a finished application's event log ([`UiState::from_log`] and
//! [`UiState::page`] with its own base path), so the tracking URL keeps
//! working after the AM is gone.

//!
//! - [`state`]: the events folded into what the UI shows;
//! - [`rest`], [`pages`], [`timeline`]: Spark's API, the pages, the SVG timeline;
//! - [`metrics`]: the AM's Prometheus metrics, moved by the same events;
//! - [`log`]: reading event logs back; [`server`]: the live AM's router.

pub mod format;
pub mod log;
pub mod metrics;
pub mod pages;
pub mod rest;
pub mod server;
pub mod state;
pub mod timeline;

pub use format::{date, duration, spark_date};
pub use metrics::AmMetrics;
pub use pages::Page;
pub use server::{router, Shared, PROXY_BASE_HEADER};
pub use state::UiState;

#[cfg(test)]
mod tests;
