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
        /// What a successful task read and wrote (Spark's `TaskMetrics`); absent for
        /// tasks that did not succeed and in logs written before it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<TaskMetrics>,
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
        /// Its log pages by name (`stdout`, `stderr`) on its node's web server, as
        /// Spark's `ExecutorInfo.logUrlMap`; empty when the node serves no pages.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        log_urls: std::collections::BTreeMap<String, String>,
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
        /// The RDD's partitions (0 in logs written before this field existed).
        #[serde(default)]
        num_partitions: u32,
    },
}

/// A successful task's I/O, in Spark's terms. Spindle computes the shuffle figures on
/// the driver from the map output sizes it tracks (the blocks a reduce task was given,
/// local when its own executor wrote them). Its
/// sources are in-memory (ranges, parallelized collections), which Spark counts as no
/// input. The spill figures are the executor's own (`TaskOutput::spill`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskMetrics {
    pub input_bytes: u64,
    pub input_records: u64,
    pub shuffle_local_blocks: u64,
    pub shuffle_remote_blocks: u64,
    pub shuffle_local_bytes: u64,
    pub shuffle_remote_bytes: u64,
    pub shuffle_write_bytes: u64,
    pub shuffle_write_records: u64,
    pub memory_bytes_spilled: u64,
    pub disk_bytes_spilled: u64,
}

impl TaskMetrics {
    /// Adds `other`'s figures to these (a stage's or an executor's sums over its tasks).
    pub fn add(&mut self, other: &Self) {
        self.input_bytes += other.input_bytes;
        self.input_records += other.input_records;
        self.shuffle_local_blocks += other.shuffle_local_blocks;
        self.shuffle_remote_blocks += other.shuffle_remote_blocks;
        self.shuffle_local_bytes += other.shuffle_local_bytes;
        self.shuffle_remote_bytes += other.shuffle_remote_bytes;
        self.shuffle_write_bytes += other.shuffle_write_bytes;
        self.shuffle_write_records += other.shuffle_write_records;
        self.memory_bytes_spilled += other.memory_bytes_spilled;
        self.disk_bytes_spilled += other.disk_bytes_spilled;
    }

    /// Bytes of shuffle data read, local and remote.
    pub fn shuffle_read_bytes(&self) -> u64 {
        self.shuffle_local_bytes + self.shuffle_remote_bytes
    }
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
