//! The application's event log format: one JSON object per line, millisecond
//! timestamps. The same events feed the AM's UI state, so the log and the UI agree.
//! (The runtime writes it; the history library reads it back.)

use crate::plan::SpillMetrics;
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
    /// A task attempt began (Spark's `SparkListenerTaskStart`).
    TaskStart {
        stage: u32,
        stage_attempt: u32,
        #[serde(flatten)]
        task: TaskInfo,
    },
    /// A task attempt ended (Spark's `SparkListenerTaskEnd`).
    TaskEnd {
        stage: u32,
        stage_attempt: u32,
        #[serde(flatten)]
        task: TaskInfo,
        /// `Success`, `Failed`, `FetchFailed`, `ExecutorLost`, or `TaskKilled` (the
        /// loser of a speculative race; `error` says why; never a failure).
        reason: String,
        error: Option<String>,
        duration_ms: u64,
        records: u64,
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

/// One task attempt, as Spark's `TaskInfo` that both `SparkListenerTaskStart` and
/// `SparkListenerTaskEnd` carry; its fields are written inline in the event's line. As
/// in Spark, the stage and stage attempt are the event's, not the task's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub task_id: u64,
    /// Its index in the stage attempt's partitions.
    pub index: u32,
    pub attempt: u32,
    pub executor: String,
    /// The executor's host; empty in `TaskEnd` lines written before `TaskEnd` had it.
    #[serde(default)]
    pub host: String,
    /// A speculative copy of a slow task (Spark's `TaskInfo.speculative`); false in
    /// logs written before this field existed.
    #[serde(default)]
    pub speculative: bool,
}

/// A successful task's I/O, in Spark's terms. Spindle computes the shuffle figures on
/// the driver from the map output sizes it tracks (the blocks a reduce task was given,
/// local when its own executor wrote them). Its
/// sources are in-memory (ranges, parallelized collections), which Spark counts as no
/// input. The spill figures are the executor's own (`TaskOutput::spill`), written
/// inline as `spills`, `memory_bytes_spilled` and `disk_bytes_spilled` (`spills` is 0
/// in logs written before it was).
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
    #[serde(flatten)]
    pub spill: SpillMetrics,
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
        self.spill.add(&other.spill);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Task lines as logs were written before `TaskInfo` and `SpillMetrics` were
    /// factored out: a `TaskStart` and `TaskEnd` without `speculative` (from
    /// `appmaster/tests/spindle-eventlogs/bursty-static.jsonl`), and a `TaskStart` and a
    /// successful `TaskEnd` with `speculative` and metrics, but no `host` in `TaskEnd`
    /// and no `spills` in its metrics.
    const OLD_LINES: [&str; 4] = [
        r#"{"ts":1796432150848,"event":"TaskStart","stage":0,"stage_attempt":0,"task_id":0,"index":0,"attempt":0,"executor":"1","host":"127.0.0.1"}"#,
        r#"{"ts":1796432151349,"event":"TaskEnd","stage":0,"stage_attempt":0,"task_id":0,"index":0,"attempt":0,"executor":"1","reason":"Success","error":null,"duration_ms":501,"records":1}"#,
        r#"{"ts":1700000001000,"event":"TaskStart","stage":2,"stage_attempt":1,"task_id":17,"index":5,"attempt":1,"executor":"3","host":"node-b","speculative":true}"#,
        r#"{"ts":1700000002000,"event":"TaskEnd","stage":2,"stage_attempt":1,"task_id":17,"index":5,"attempt":1,"executor":"3","reason":"Success","error":null,"duration_ms":1000,"records":42,"speculative":true,"metrics":{"input_bytes":0,"input_records":0,"shuffle_local_blocks":1,"shuffle_remote_blocks":2,"shuffle_local_bytes":10,"shuffle_remote_bytes":20,"shuffle_write_bytes":30,"shuffle_write_records":4,"memory_bytes_spilled":100,"disk_bytes_spilled":40}}"#,
    ];

    fn keys(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn old_task_lines_parse() {
        let lines = parse(&OLD_LINES.join("\n")).expect("old lines parse");
        let task = |task_id, index, attempt, executor: &str, host: &str, speculative| TaskInfo {
            task_id,
            index,
            attempt,
            executor: executor.into(),
            host: host.into(),
            speculative,
        };
        let events: Vec<&AppEvent> = lines.iter().map(|l| &l.event).collect();
        assert_eq!(
            events[0],
            &AppEvent::TaskStart {
                stage: 0,
                stage_attempt: 0,
                task: task(0, 0, 0, "1", "127.0.0.1", false),
            }
        );
        assert_eq!(
            events[1],
            &AppEvent::TaskEnd {
                stage: 0,
                stage_attempt: 0,
                task: task(0, 0, 0, "1", "", false),
                reason: "Success".into(),
                error: None,
                duration_ms: 501,
                records: 1,
                metrics: None,
            }
        );
        assert_eq!(
            events[2],
            &AppEvent::TaskStart {
                stage: 2,
                stage_attempt: 1,
                task: task(17, 5, 1, "3", "node-b", true),
            }
        );
        let AppEvent::TaskEnd {
            task: end,
            metrics: Some(m),
            records: 42,
            ..
        } = events[3]
        else {
            panic!("{:?}", events[3]);
        };
        assert_eq!(end, &task(17, 5, 1, "3", "", true));
        let spill = SpillMetrics {
            spills: 0,
            memory_bytes_spilled: 100,
            disk_bytes_spilled: 40,
        };
        assert_eq!((m.spill, m.shuffle_read_bytes()), (spill, 30));
        assert_eq!(lines, parse_lenient(&OLD_LINES.join("\n")));
    }

    #[test]
    fn task_lines_round_trip_with_the_same_keys() {
        for old in OLD_LINES {
            let line: LogLine = serde_json::from_str(old).unwrap();
            let written = serde_json::to_string(&line).unwrap();
            assert!(
                written.starts_with(&old[..old.find(",\"stage\"").unwrap()]),
                "{written}"
            );
            assert_eq!(serde_json::from_str::<LogLine>(&written).unwrap(), line);
            let (old, new): (Value, Value) = (
                serde_json::from_str(old).unwrap(),
                serde_json::from_str(&written).unwrap(),
            );
            // The keys written are today's: every old one, and the ones old logs lacked
            // (`speculative`, then `host` in `TaskEnd` and `spills` in its metrics).
            let mut expected = keys(&old);
            for (key, added) in [("speculative", json!(false)), ("host", json!(""))] {
                if old.get(key).is_none() {
                    expected.push(key.into());
                    assert_eq!(new[key], added, "{written}");
                }
            }
            expected.sort();
            assert_eq!(keys(&new), expected, "{written}");
            if let Some(m) = old.get("metrics") {
                let mut expected = keys(m);
                expected.push("spills".into());
                expected.sort();
                assert_eq!(keys(&new["metrics"]), expected, "{written}");
            }
        }
        // A `TaskStart` as the previous code wrote it comes back byte for byte.
        let start: LogLine = serde_json::from_str(OLD_LINES[2]).unwrap();
        assert_eq!(serde_json::to_string(&start).unwrap(), OLD_LINES[2]);
    }
}
