//! Writing the application's event log (format: [`am_core::eventlog`]): one JSON object
//! per line, flushed as it goes so a crashed app still leaves its log.

use am_core::eventlog::LogLine;
use std::io::Write;
use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;
    use am_core::eventlog::AppEvent;

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
        let back = history::log::read(&d.path().join("application_1_0001.jsonl")).unwrap();
        assert_eq!(back, vec![line]);
        let text = std::fs::read_to_string(d.path().join("application_1_0001.jsonl")).unwrap();
        assert!(text.contains("\"event\":\"ExecutorRemoved\""), "{text}");
    }
}
