//! The application's event log: one JSON object per line, millisecond
//! timestamps, flushed as it goes so a crashed app still leaves its log.
//! The same events feed the AM's UI state, so the log and the UI agree.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    },
    TaskEnd {
        stage: u32,
        stage_attempt: u32,
        task_id: u64,
        index: u32,
        attempt: u32,
        executor: String,
        /// `Success`, `Failed`, `ExecutorLost`, or `Killed`.
        reason: String,
        error: Option<String>,
        duration_ms: u64,
        records: u64,
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

/// Appends events to `<dir>/<app_id>.jsonl`.
pub struct EventLog {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl EventLog {
    pub fn create(dir: &Path, app_id: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{app_id}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    /// A log that writes nowhere (`spark.eventLog.enabled=false`).
    pub fn disabled() -> Self {
        Self {
            path: PathBuf::new(),
            file: None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|_| self.path.as_path())
    }

    pub fn write(&mut self, line: &LogLine) {
        if let Some(f) = self.file.as_mut() {
            let mut text = serde_json::to_string(line).expect("events serialize");
            text.push('\n');
            // One write per line: a crash loses at most the line being written.
            if let Err(e) = f.write_all(text.as_bytes()) {
                tracing::warn!(error = %e, path = %self.path.display(), "event log write failed; disabling it");
                self.file = None;
            }
        }
    }
}

/// Reads an event log back.
pub fn read(path: &Path) -> std::io::Result<Vec<LogLine>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}:{}: {e}", path.display(), i + 1),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_are_flushed_per_event() {
        let d = tempfile::tempdir().unwrap();
        let mut log = EventLog::create(d.path(), "application_1_0001").unwrap();
        let line = LogLine {
            ts: 5,
            event: AppEvent::ExecutorRemoved {
                executor: "1".into(),
                reason: "idle timeout".into(),
            },
        };
        log.write(&line);
        // Readable before the log is closed.
        let back = read(&d.path().join("application_1_0001.jsonl")).unwrap();
        assert_eq!(back, vec![line]);
        let text = std::fs::read_to_string(d.path().join("application_1_0001.jsonl")).unwrap();
        assert!(text.contains("\"event\":\"ExecutorRemoved\""), "{text}");
    }
}
