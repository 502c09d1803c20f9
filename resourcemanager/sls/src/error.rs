//! What can stop a simulation: bad options, a trace or RM config that cannot be used, a
//! file that cannot be read or written, the RM core refusing what a simulated app did.

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
    /// A file that cannot be read or written (`action`: "read trace", "write report").
    #[error("cannot {action} {path}: {source}")]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Input that cannot be used; `at` names where (`trace t.json, job 3`, `RM config
    /// rm.toml`).
    #[error("{at}: {reason}")]
    Input { at: String, reason: String },
    /// The RM core refused something the simulator did (a submission over the queue's
    /// limits, an ask over the maximum allocation).
    #[error("the RM refused {what}: {reason}")]
    Refused { what: String, reason: String },
    #[error("report chart: {0}")]
    Chart(#[from] report::charts::ChartError),
}

impl SlsError {
    /// Job `job` (from 1) of trace `path` cannot be used.
    pub fn trace(path: &std::path::Path, job: usize, reason: impl Into<String>) -> Self {
        Self::Input {
            at: format!("trace {}, job {job}", path.display()),
            reason: reason.into(),
        }
    }

    /// The RM config at `path` cannot be used.
    pub fn rm_config(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Input {
            at: format!("RM config {}", path.display()),
            reason: reason.into(),
        }
    }
}
