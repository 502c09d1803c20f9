//! The application's event log format: one JSON object per line, millisecond
//! timestamps. The same events feed the AM's UI state, so the log and the UI agree.
//! (The runtime writes it; the history library reads it back.)

use serde::{Deserialize, Serialize};

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the epoch.
    pub ts: u64,
    #[serde(flatten)]
    pub event: AppEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
#[non_exhaustive]
pub enum AppEvent {
    ApplicationStart {
        app_id: String,
        app_name: String,
        attempt: String,
        user: String,
        dynamic_allocation: bool,
        executor_cores: u32,
        /// The executor container's memory (heap + overhead), MB.
        executor_memory_mb: u64,
        /// Spark properties in effect.
        conf: std::collections::BTreeMap<String, String>,
        /// The driver's (AM's) container memory (heap + overhead), MB; 0 in logs written
        /// before this field existed (accounting then derives it from `conf`).
        #[serde(default)]
        driver_memory_mb: u64,
        /// The driver's (AM's) container vcores; 0 in older logs.
        #[serde(default)]
        driver_vcores: u32,
        /// When the RM allocated the AM's container (ms since the epoch; 0
        /// when unknown): the AM container is held from then, not from this event.
        #[serde(default)]
        am_allocated_ms: u64,
    },
    ApplicationEnd {
        final_status: String,
        diagnostics: String,
    },
    JobStart {
        job: u32,
        description: String,
        stages: Vec<u32>,
        num_tasks: u32,
    },
    JobEnd {
        job: u32,
        succeeded: bool,
        error: Option<String>,
    },
    StageSubmitted {
        stage: u32,
        attempt: u32,
        job: u32,
        name: String,
        num_tasks: u32,
    },
    StageCompleted {
        stage: u32,
        attempt: u32,
        failure: Option<String>,
    },
    TaskStart {
        stage: u32,
        stage_attempt: u32,
        task_id: u64,
        index: u32,
        attempt: u32,
        executor: String,
        host: String,
        /// A speculative copy of a slow task (Spark's `TaskInfo.speculative`).
        #[serde(default)]
        speculative: bool,
    },
    TaskEnd {
        stage: u32,
        stage_attempt: u32,
        task_id: u64,
        index: u32,
        attempt: u32,
        executor: String,
        /// `Success`, `Failed`, `FetchFailed`, `ExecutorLost`, or `TaskKilled` (the
        /// loser of a speculative race; `error` says why; never a failure).
        reason: String,
        error: Option<String>,
        duration_ms: u64,
        records: u64,
        /// A speculative copy of a slow task (Spark's `TaskInfo.speculative`).
        #[serde(default)]
        speculative: bool,
    },
    /// A running task is slow: it will get a speculative copy (Spark's
    /// `SparkListenerSpeculativeTaskSubmitted`).
    SpeculativeTaskSubmitted {
        stage: u32,
        stage_attempt: u32,
        index: u32,
    },
    ExecutorAdded {
        executor: String,
        host: String,
        cores: u32,
        container: String,
        memory_mb: u64,
    },
    ExecutorRemoved {
        executor: String,
        reason: String,
    },
    /// The allocation manager's target (numExecutorsTarget) changed.
    TargetChanged {
        old: i64,
        new: i64,
    },
    /// The outstanding container ask sent to the RM (total-count semantics).
    ContainerRequested {
        outstanding: u32,
        memory_mb: u64,
        vcores: u32,
    },
    ContainerAllocated {
        container: String,
        node: String,
        executor: Option<String>,
    },
    ContainerReleased {
        container: String,
        reason: String,
    },
    BlockCached {
        executor: String,
        rdd: u32,
        partition: u32,
    },
}

/// A line of an event log that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{line}: {source}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub source: serde_json::Error,
}

/// Parses event-log text, one event a line (blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<LogLine>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| ParseError {
                line: i + 1,
                source,
            })
        })
        .collect()
}

/// Parses event-log text, skipping lines that do not parse (the one being written by a
/// live application, or events of a newer version).
pub fn parse_lenient(text: &str) -> Vec<LogLine> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
