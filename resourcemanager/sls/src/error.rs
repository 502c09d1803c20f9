//! What can stop a simulation: bad options, a trace that cannot be used, an RM config
//! that cannot be used, a report that cannot be written.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlsError {
    /// A command-line option out of range, naming it.
    #[error("--{option}: {reason}")]
    Option {
        option: &'static str,
        reason: String,
    },
    #[error("cannot read trace {path}: {source}")]
    TraceRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A trace object that is not JSON or not an SLS job (counted from 1).
    #[error("trace {path}, job {job}: {reason}")]
    Trace {
        path: PathBuf,
        job: usize,
        reason: String,
    },
    #[error("RM config {path}: {reason}")]
    RmConfig { path: PathBuf, reason: String },
    /// The RM core refused something the simulator did (a submission over the queue's
    /// limits, an ask over the maximum allocation).
    #[error("the RM refused {what}: {reason}")]
    Refused { what: String, reason: String },
    #[error("cannot write report {path}: {source}")]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("report chart: {0}")]
    Chart(#[from] report::charts::ChartError),
    /// Wire mode could not set up or reach the daemon.
    #[error("wire mode: {0}")]
    Wire(String),
}
