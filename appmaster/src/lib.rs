//! Spindle's Spark-like runtime: the AM's shell around the driver core, executors,
//! the RDD programming model, spindle-submit and the built-in examples. The decisions
//! live in `am_core` (pure); the UI in `history`.

pub mod driver;
pub mod eventlog;
pub mod examples;
pub mod executor;
pub mod logging;
mod memory;
pub mod rdd;
pub mod submit;

pub use driver::run_app;
