//! Spindle's Spark-like runtime: driver/AM, executors, the dynamic allocation
//! manager, the RDD programming model, and spindle-submit.

pub mod allocation;
pub mod compare;
pub mod driver;
pub mod eventlog;
pub mod examples;
pub mod plan;
pub mod rdd;
pub mod simulate;
pub mod sparkconf;
pub mod submit;

pub use driver::run_app;
