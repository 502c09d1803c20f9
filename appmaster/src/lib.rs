//! Spindle's Spark-like runtime: driver/AM, executors, the dynamic allocation manager.

pub mod allocation;
pub mod simulate;
