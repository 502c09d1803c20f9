//! What can stop a simulation: a bad option, or input the simulator cannot use (a trace,
//! an RM config, a file it cannot read or write, something the RM core refused).

use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlsError {
    /// A command-line option out of range, naming it.
    #[error("--{option}: {reason}")]
    Option {
        option: &'static str,
        reason: String,
    },
    /// `what` names the input and where (`trace t.json, job 3`, `RM config rm.toml`,
    /// `the RM refused job j1`); `reason` says why.
    #[error("{what}: {reason}")]
    Unusable { what: String, reason: String },
    #[error("report chart: {0}")]
    Chart(#[from] report::charts::ChartError),
    /// Wire mode: what the simulator was doing with the daemon (`starting the RM`,
    /// `node node3:8041 registering`) and why it failed.
    #[error("over the wire, {what}: {reason}")]
    Wire { what: String, reason: String },
}

impl SlsError {
    /// Job `job` (from 1) of trace `path` cannot be used.
    pub fn trace(path: &Path, job: usize, reason: impl Into<String>) -> Self {
        Self::unusable(format!("trace {}, job {job}", path.display()), reason)
    }

    /// The RM config at `path` cannot be used.
    pub fn rm_config(path: &Path, reason: impl Into<String>) -> Self {
        Self::unusable(format!("RM config {}", path.display()), reason)
    }

    /// `path` could not be read or written (`action`: "read trace", "write report").
    pub fn file(action: &str, path: &Path, e: std::io::Error) -> Self {
        Self::unusable(format!("cannot {action} {}", path.display()), e.to_string())
    }

    /// The RM core refused `what` the simulator did.
    pub fn refused(what: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Self::unusable(format!("the RM refused {what}"), reason)
    }

    /// Wire mode: `what` failed for `reason`.
    pub fn wire(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Wire {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    fn unusable(what: String, reason: impl Into<String>) -> Self {
        Self::Unusable {
            what,
            reason: reason.into(),
        }
    }
}
