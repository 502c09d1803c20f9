//! What-if on event logs: replay one application's jobs, stages and tasks under other
//! allocation policies and predict what each would have cost (`spindle what-if`).
//!
//! - [`parse`] reads an event log, Spark's own JSON lines (as Spark 3.x and 4.x write them
//!   with `spark.eventLog.compress=false`; a rolled log's files concatenated in order) or
//!   Spindle's ([`crate::eventlog`]), into a [`Workload`]: each job's stages and each task's
//!   duration, with the order and the gaps the driver imposed, plus what the log itself
//!   measured ([`Measured`]).
//! - [`replay()`] runs a workload through a simulated task scheduler and, for dynamic
//!   allocation, the same [`ExecutorAllocationManager`](crate::allocation::ExecutorAllocationManager)
//!   the application master runs (Spark's rules or the eager policy, from the same
//!   properties), and returns a [`Prediction`].
//!
//! The model, in one place:
//!
//! - **The driver.** Each job is submitted a fixed delay after the event that preceded it in
//!   the log (the application's start, or the latest job start or end before it): a job the
//!   driver submits 20 s after the previous one ended is submitted 20 s after that job ends
//!   in the replay, however long it takes there. The application ends the same way after
//!   its last job. A stage is submitted when its job is and its parent stages (Spark's
//!   `Parent IDs`; in Spindle's logs, the job's stages completed before it) have completed,
//!   plus the delay the log shows; a stage completes its delay after its last task, a job
//!   its delay after its last stage.
//! - **Tasks.** Each task's duration is its successful attempt's launch-to-finish time.
//!   The first task an executor runs is often slower (class loading, JIT, a Python
//!   worker's start): that *warm-up* is measured from the log (the median, over executors,
//!   of their first task's excess over the median of its stage's other tasks), taken off
//!   the tasks that paid it and added to the first task of each executor of the replay.
//!   The scheduler is FIFO over stages in submission order, one task per free slot
//!   (`executor cores / spark.task.cpus`), on the least busy executor.
//! - **Executors.** An executor asked for after the application started registers
//!   `start latency` later ([`ReplayOptions::start_latency_ms`]); the ones asked for at the
//!   start register when the log's first executors did (that time includes the driver's
//!   own start, which the log shows and no latency setting should replace). One removed by
//!   the allocation manager runs no more tasks and is gone `stop latency` later. Pending
//!   asks are cancelled when the target drops. Executor-seconds count each executor from
//!   registration to removal or the application's end, as the measured side does.

mod measure;
mod replay;
mod request;
mod spark;
mod spindle;
mod workload;

pub use replay::{replay, Policy, Prediction, ReplayOptions, TICK_MS};
pub use request::{what_if, Outcome, PolicyKind, Request, Run};
pub use workload::{
    Anchor, Job, LogFormat, Measured, Stage, Workload, SPINDLE_EXECUTOR_START_MS,
    SPINDLE_EXECUTOR_STOP_MS,
};

use crate::allocation::ConfigError;

/// Reads a log of JSON lines, handing each non-blank line's value to `each`; a reason
/// `each` gives back becomes a [`WhatIfError::BadLine`] naming the line. A line that is not
/// JSON is an error, except the last one (an application still running, or one that died
/// mid-write), which ends the log, as Spark's own replay tolerates.
fn read_json_lines(
    text: &str,
    mut each: impl FnMut(serde_json::Value) -> Result<(), String>,
) -> Result<(), WhatIfError> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let last = lines.len().saturating_sub(1);
    for (k, &(n, line)) in lines.iter().enumerate() {
        let parsed = match serde_json::from_str(line) {
            Ok(v) => each(v),
            Err(_) if k == last && k > 0 => break,
            Err(e) => Err(format!("is not JSON ({e})")),
        };
        parsed.map_err(|reason| WhatIfError::BadLine {
            line: n + 1,
            reason,
        })?;
    }
    Ok(())
}

/// Why an event log cannot be read, or a replay cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WhatIfError {
    /// The input is empty.
    #[error("the event log is empty")]
    Empty,
    /// Compressed with a codec this reader does not handle.
    #[error("the event log is compressed ({codec}); decompress it first (e.g. `{hint}`), or have Spark write it with spark.eventLog.compress=false")]
    Compressed {
        codec: &'static str,
        hint: &'static str,
    },
    /// Not an event log of Spark or Spindle.
    #[error("not an event log: line {line} {reason} (expected Spark's JSON lines with an \"Event\" field, or Spindle's with \"ts\" and \"event\")")]
    NotAnEventLog { line: usize, reason: String },
    /// A line in the middle of the log does not parse (only the last line of a log may be
    /// cut short).
    #[error("event log line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    /// The log has no finished task: nothing to replay.
    #[error("the event log has no finished task ({events} events read): nothing to replay")]
    NoTasks { events: usize },
    /// The dynamic allocation settings are refused (naming the Spark keys).
    #[error("dynamic allocation settings: {0}")]
    Config(#[from] ConfigError),
    /// A replay option is out of range.
    #[error("{option} {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    /// The replay made no progress for a simulated day (e.g. no executor ever came).
    #[error("the {policy} replay stalled at {at_ms} ms with {pending_tasks} task(s) waiting and no executor coming")]
    Stalled {
        policy: String,
        at_ms: u64,
        pending_tasks: usize,
    },
}

impl WhatIfError {
    /// A stable code per variant, for scripts and tests to match.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "whatif.empty",
            Self::Compressed { .. } => "whatif.compressed",
            Self::NotAnEventLog { .. } => "whatif.not_an_event_log",
            Self::BadLine { .. } => "whatif.bad_line",
            Self::NoTasks { .. } => "whatif.no_tasks",
            Self::Config(_) => "whatif.config",
            Self::InvalidOption { .. } => "whatif.invalid_option",
            Self::Stalled { .. } => "whatif.stalled",
        }
    }
}

/// Reads an event log's bytes (Spark's or Spindle's format, detected from the first line).
/// Refuses compressed logs by their magic bytes, naming the codec.
pub fn parse_bytes(bytes: &[u8]) -> Result<Workload, WhatIfError> {
    if let Some((codec, hint)) = compression(bytes) {
        return Err(WhatIfError::Compressed { codec, hint });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| WhatIfError::NotAnEventLog {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        reason: "is not UTF-8 text".to_owned(),
    })?;
    parse(text)
}

/// Reads an event log's text (Spark's or Spindle's format, detected from the first line).
pub fn parse(text: &str) -> Result<Workload, WhatIfError> {
    let Some((n, first)) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(WhatIfError::Empty);
    };
    let value: serde_json::Value =
        serde_json::from_str(first).map_err(|e| WhatIfError::NotAnEventLog {
            line: n + 1,
            reason: format!("is not JSON ({e})"),
        })?;
    let obj = value
        .as_object()
        .ok_or_else(|| WhatIfError::NotAnEventLog {
            line: n + 1,
            reason: "is not a JSON object".to_owned(),
        })?;
    let raw = if obj.get("Event").is_some_and(serde_json::Value::is_string) {
        spark::read(text)?
    } else if obj.get("event").is_some_and(serde_json::Value::is_string) && obj.contains_key("ts") {
        spindle::read(text)?
    } else {
        return Err(WhatIfError::NotAnEventLog {
            line: n + 1,
            reason: "has neither an \"Event\" field nor \"ts\" and \"event\"".to_owned(),
        });
    };
    Workload::from_raw(raw)
}

/// The codec of a compressed Spark event log, from its first bytes.
fn compression(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    const MAGICS: &[(&[u8], &str, &str)] = &[
        (&[0x28, 0xB5, 0x2F, 0xFD], "zstd", "zstd -d LOG"),
        (
            b"LZ4Block",
            "lz4",
            "Spark's lz4 block format: read it with Spark",
        ),
        (
            &[0xFF, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'],
            "snappy",
            "Spark's snappy stream: read it with Spark",
        ),
        (
            &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y'],
            "snappy",
            "Spark's snappy stream: read it with Spark",
        ),
        (b"ZV", "lzf", "Spark's lzf stream: read it with Spark"),
        (&[0x1F, 0x8B], "gzip", "gunzip LOG"),
    ];
    MAGICS
        .iter()
        .find(|(magic, _, _)| bytes.starts_with(magic))
        .map(|(_, codec, hint)| (*codec, *hint))
}

#[cfg(test)]
mod tests;
