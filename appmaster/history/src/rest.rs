//! Spark's monitoring API (`/api/v1/applications/...`) over the folded state.

use crate::format::spark_date;
use crate::state::{ExecutorView, RddView, StageView, TaskView, UiState};
use am_core::eventlog::TaskMetrics;
use serde_json::{json, Value};
use std::collections::BTreeMap;

impl UiState {
    fn executor_json(&self, id: &str, e: &ExecutorView) -> Value {
        json!({
            "id": id,
            "hostPort": e.host,
            "isActive": e.remove_ms.is_none(),
            "rddBlocks": e.blocks.len(),
            "memoryUsed": 0,
            "diskUsed": 0,
            "totalCores": e.cores,
            "maxTasks": e.cores,
            "activeTasks": e.tasks.active,
            "failedTasks": e.tasks.failed,
            "completedTasks": e.tasks.completed,
            "totalTasks": e.tasks.total(),
            "totalDuration": e.task_ms,
            "totalInputBytes": e.io.input_bytes,
            "totalShuffleRead": e.io.shuffle_read_bytes(),
            "totalShuffleWrite": e.io.shuffle_write_bytes,
            "addTime": spark_date(e.add_ms),
            "removeTime": e.remove_ms.map(spark_date),
            "removeReason": e.remove_reason,
            "executorLogs": e.log_urls,
        })
    }

    fn driver_json(&self) -> Value {
        json!({
            "id": "driver",
            "hostPort": self.driver_host,
            "isActive": self.end_ms.is_none(),
            "rddBlocks": 0,
            "totalCores": 0,
            "maxTasks": 0,
            "activeTasks": 0,
            "failedTasks": 0,
            "completedTasks": 0,
            "totalTasks": 0,
            "totalDuration": 0,
            "addTime": spark_date(self.start_ms),
            "executorLogs": {},
        })
    }

    pub(crate) fn executors_api(&self, all: bool) -> Value {
        let mut out = vec![self.driver_json()];
        for (id, e) in self.sorted_executors() {
            if all || e.remove_ms.is_none() {
                out.push(self.executor_json(id, e));
            }
        }
        Value::Array(out)
    }

    fn application(&self) -> Value {
        let end = self.end_ms.unwrap_or(0);
        json!({
            "id": self.app_id,
            "name": self.app_name,
            "attempts": [{
                "attemptId": self.attempt,
                "startTime": spark_date(self.start_ms),
                "endTime": if end > 0 { spark_date(end) } else { "1969-12-31T23:59:59.999GMT".into() },
                "lastUpdated": spark_date(self.end_ms.unwrap_or(self.start_ms)),
                "duration": end.saturating_sub(self.start_ms),
                "sparkUser": self.user,
                "completed": self.end_ms.is_some(),
                "appSparkVersion": concat!("spindle-", env!("CARGO_PKG_VERSION")),
                "startTimeEpoch": self.start_ms,
                "endTimeEpoch": end,
                "lastUpdatedEpoch": self.end_ms.unwrap_or(self.start_ms),
            }],
        })
    }

    fn jobs_api(&self) -> Value {
        newest_first(&self.jobs, |id, j| {
            json!({
                "jobId": id,
                "name": j.description,
                "submissionTime": spark_date(j.submitted_ms),
                "completionTime": j.completed_ms.map(spark_date),
                "stageIds": j.stages,
                "status": j.status,
                "numTasks": j.num_tasks,
                "numActiveTasks": j.counts.active,
                "numCompletedTasks": j.counts.completed,
                "numSkippedTasks": 0,
                "numFailedTasks": j.counts.failed,
                "numKilledTasks": j.counts.killed,
                "numActiveStages": u32::from(j.completed_ms.is_none()),
                "numCompletedStages": u32::from(j.status == "SUCCEEDED"),
                "numFailedStages": u32::from(j.status == "FAILED"),
            })
        })
    }

    fn stage_json(id: u32, s: &StageView) -> Value {
        json!({
            "stageId": id,
            "attemptId": s.attempt,
            "status": s.status,
            "name": s.name,
            "numTasks": s.num_tasks,
            "numActiveTasks": s.counts.active,
            "numCompleteTasks": s.counts.completed,
            "numFailedTasks": s.counts.failed,
            "numKilledTasks": s.counts.killed,
            "executorRunTime": s.task_ms,
            "inputBytes": s.io.input_bytes,
            "inputRecords": s.io.input_records,
            "shuffleReadBytes": s.io.shuffle_read_bytes(),
            "shuffleWriteBytes": s.io.shuffle_write_bytes,
            "shuffleWriteRecords": s.io.shuffle_write_records,
            "memoryBytesSpilled": s.io.spill.memory_bytes_spilled,
            "diskBytesSpilled": s.io.spill.disk_bytes_spilled,
            "submissionTime": spark_date(s.submitted_ms),
            "completionTime": s.completed_ms.map(spark_date),
            "failureReason": s.failure,
        })
    }

    fn stages_api(&self) -> Value {
        newest_first(&self.stages, |id, s| Self::stage_json(*id, s))
    }

    /// Spark's `TaskData` of one task attempt (`speculative` marks a copy).
    fn task_json(task_id: u64, t: &TaskView) -> Value {
        json!({
            "taskId": task_id,
            "index": t.index,
            "attempt": t.attempt,
            "partitionId": t.index,
            "launchTime": spark_date(t.launch_ms),
            "duration": t.duration_ms,
            "executorId": t.executor,
            "host": t.host,
            "status": t.status,
            "taskLocality": "ANY",
            "speculative": t.speculative,
            "accumulatorUpdates": [],
            "errorMessage": t.error,
            "taskMetrics": t.metrics.as_ref().map(|m| task_metrics_json(t.duration_ms.unwrap_or(0), m)),
        })
    }

    /// `stages/{id}/{attempt}`: the stage (its latest attempt) with its attempt's tasks
    /// (Spark's `StageData` with details).
    fn stage_attempt_json(&self, id: u32, attempt: u32) -> Option<Value> {
        let s = self.stages.get(&id)?;
        let tasks: serde_json::Map<String, Value> = s
            .tasks
            .iter()
            .filter(|(_, t)| t.stage_attempt == attempt)
            .map(|(tid, t)| (tid.to_string(), Self::task_json(*tid, t)))
            .collect();
        if s.attempt != attempt && tasks.is_empty() {
            return None;
        }
        let mut v = Self::stage_json(id, s);
        v["attemptId"] = json!(attempt);
        v["tasks"] = Value::Object(tasks);
        Some(v)
    }

    /// `stages/{id}[/{attempt}[/taskList]]` below an application; `Err` is the 404 text.
    /// `taskList` takes Spark's `offset` (0) and `length` (20) from `query`, by task id.
    fn stage_api(&self, rest: &str, query: &str) -> Result<Value, String> {
        let mut parts = rest.split('/');
        let id: u32 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("no such stage: {rest}"))?;
        let s = self
            .stages
            .get(&id)
            .ok_or_else(|| format!("unknown stage: {id}"))?;
        let Some(attempt) = parts.next() else {
            let attempts: Vec<Value> = (0..=s.attempt)
                .rev()
                .filter_map(|a| self.stage_attempt_json(id, a))
                .collect();
            return Ok(Value::Array(attempts));
        };
        let attempt: u32 = attempt
            .parse()
            .map_err(|_| format!("no such stage attempt: {attempt}"))?;
        let v = self
            .stage_attempt_json(id, attempt)
            .ok_or_else(|| format!("unknown attempt {attempt} of stage {id}"))?;
        match parts.next() {
            None => Ok(v),
            Some("taskList") if parts.next().is_none() => {
                let param = |name: &str, default: usize| {
                    query
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .find(|(k, _)| *k == name)
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(default)
                };
                let (offset, length) = (param("offset", 0), param("length", 20));
                let tasks = s
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.stage_attempt == attempt)
                    .skip(offset)
                    .take(length)
                    .map(|(tid, t)| Self::task_json(*tid, t))
                    .collect();
                Ok(Value::Array(tasks))
            }
            Some("taskSummary") if parts.next().is_none() => {
                Ok(task_summary(s, attempt, &quantiles(query)?))
            }
            Some(other) => Err(format!("no such resource: {other}")),
        }
    }

    /// Spark's `ApplicationEnvironmentInfo`. Spindle runs no JVM: the runtime names
    /// Spindle's version, and the system properties are what the event log knows of the
    /// process (its user); Spark properties with secrets in their names are redacted as
    /// Spark's `spark.redaction.regex` does by default.
    pub(crate) fn environment_api(&self) -> Value {
        let spark: Vec<Value> = self
            .conf
            .iter()
            .map(|(k, v)| json!([k, redact(k, v)]))
            .collect();
        json!({
            "runtime": {
                "javaVersion": "",
                "javaHome": "",
                "scalaVersion": "",
                "spindleVersion": env!("CARGO_PKG_VERSION"),
            },
            "sparkProperties": spark,
            "hadoopProperties": [],
            "systemProperties": [["user.name", self.user]],
            "metricsProperties": [],
            "classpathEntries": [],
            "resourceProfiles": [{
                "id": 0,
                "executorResources": {
                    "cores": {"resourceName": "cores", "amount": self.executor_cores, "discoveryScript": "", "vendor": ""},
                    "memory": {"resourceName": "memory", "amount": self.executor_memory_mb, "discoveryScript": "", "vendor": ""},
                },
                "taskResources": {"cpus": {"resourceName": "cpus", "amount": 1.0}},
            }],
        })
    }

    /// Spark's `RDDStorageInfo` of one cached RDD; `details` adds its partitions and
    /// their distribution over executors. Spindle does not measure block sizes, so
    /// the memory and disk figures are 0.
    fn rdd_json(&self, id: u32, r: &RddView, details: bool) -> Value {
        let level = "Memory Deserialized 1x Replicated";
        let mut v = json!({
            "id": id,
            "name": format!("rdd {id}"),
            "numPartitions": r.num_partitions,
            "numCachedPartitions": r.partitions.len(),
            "storageLevel": level,
            "memoryUsed": 0,
            "diskUsed": 0,
        });
        if details {
            let holders = r.holders();
            v["dataDistribution"] = holders
                .into_iter()
                .map(|e| {
                    let address = self.executors.get(e).map(|x| x.host.as_str()).unwrap_or("");
                    json!({"address": address, "executorId": e, "memoryUsed": 0, "memoryRemaining": 0, "diskUsed": 0})
                })
                .collect();
            v["partitions"] = r
                .partitions
                .iter()
                .map(|(p, holders)| {
                    json!({
                        "blockName": format!("rdd_{id}_{p}"),
                        "storageLevel": level,
                        "memoryUsed": 0,
                        "diskUsed": 0,
                        "executors": holders,
                    })
                })
                .collect();
        }
        v
    }

    /// `storage/rdd[/{id}]`: the RDDs with cached partitions now.
    fn storage_api(&self, rest: &str) -> Result<Value, String> {
        if rest.is_empty() {
            return Ok(Value::Array(
                self.cached_rdds()
                    .map(|(id, r)| self.rdd_json(*id, r, false))
                    .collect(),
            ));
        }
        let id: u32 = rest.parse().map_err(|_| format!("no such RDD: {rest}"))?;
        self.cached_rdds()
            .find(|(i, _)| **i == id)
            .map(|(id, r)| self.rdd_json(*id, r, true))
            .ok_or_else(|| format!("unknown RDD: {id}"))
    }

    /// RDDs with at least one cached partition, by id.
    pub(crate) fn cached_rdds(&self) -> impl Iterator<Item = (&u32, &RddView)> {
        self.rdds.iter().filter(|(_, r)| !r.partitions.is_empty())
    }

    /// `api/v1/applications[/{id}[/executors|allexecutors|jobs|environment|storage/rdd[/{rdd}]
    /// |stages[/{stage}[/{attempt}[/taskList|taskSummary]]]]]` (without the leading slash;
    /// `path` may end with `?query`); `Err` is the 404 text.
    pub(crate) fn api(&self, path: &str) -> Result<Value, String> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let rest = path.trim_end_matches('/');
        if rest == "api/v1/applications" {
            return Ok(Value::Array(vec![self.application()]));
        }
        let Some(rest) = rest.strip_prefix("api/v1/applications/") else {
            return Err(format!("no such resource: /{path}"));
        };
        let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
        if id != self.app_id {
            return Err(format!("no such app: {id}"));
        }
        match what {
            "" => Ok(self.application()),
            "executors" => Ok(self.executors_api(false)),
            "allexecutors" => Ok(self.executors_api(true)),
            "jobs" => Ok(self.jobs_api()),
            "stages" => Ok(self.stages_api()),
            "environment" => Ok(self.environment_api()),
            "storage/rdd" => self.storage_api(""),
            other => {
                if let Some(stage) = other.strip_prefix("stages/") {
                    self.stage_api(stage, query)
                } else if let Some(rdd) = other.strip_prefix("storage/rdd/") {
                    self.storage_api(rdd)
                } else {
                    Err(format!("no such resource: {other}"))
                }
            }
        }
    }
}

/// Spark's default `spark.redaction.regex`: `(?i)secret|password|token|access[.]?key`.
fn redact(key: &str, value: &str) -> String {
    let k = key.to_ascii_lowercase();
    let secret = ["secret", "password", "token", "accesskey", "access.key"]
        .iter()
        .any(|w| k.contains(w));
    if secret {
        "*********(redacted)".into()
    } else {
        value.into()
    }
}

/// Spark's `TaskMetrics` of a task (the figures Spindle has: run time, input, shuffle
/// and spill; no JVM times).
fn task_metrics_json(run_ms: u64, m: &TaskMetrics) -> Value {
    json!({
        "executorRunTime": run_ms,
        "memoryBytesSpilled": m.spill.memory_bytes_spilled,
        "diskBytesSpilled": m.spill.disk_bytes_spilled,
        "inputMetrics": {"bytesRead": m.input_bytes, "recordsRead": m.input_records},
        "shuffleReadMetrics": {
            "remoteBlocksFetched": m.shuffle_remote_blocks,
            "localBlocksFetched": m.shuffle_local_blocks,
            "remoteBytesRead": m.shuffle_remote_bytes,
            "localBytesRead": m.shuffle_local_bytes,
        },
        "shuffleWriteMetrics": {
            "bytesWritten": m.shuffle_write_bytes,
            "recordsWritten": m.shuffle_write_records,
        },
    })
}

/// Spark's `quantiles` parameter of `taskSummary` (default `0.05,0.25,0.5,0.75,0.95`).
fn quantiles(query: &str) -> Result<Vec<f64>, String> {
    let Some((_, v)) = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "quantiles")
    else {
        return Ok(vec![0.05, 0.25, 0.5, 0.75, 0.95]);
    };
    v.split(',')
        .map(|q| match q.trim().parse::<f64>() {
            Ok(q) if (0.0..=1.0).contains(&q) => Ok(q),
            _ => Err(format!("bad quantile: {q}")),
        })
        .collect()
}

/// The values at `qs` of `values` as Spark picks them: sorted, the one at
/// `min(q * n, n - 1)` (all 0 when there are none).
pub(crate) fn pick_quantiles(mut values: Vec<u64>, qs: &[f64]) -> Vec<u64> {
    values.sort_unstable();
    let n = values.len();
    qs.iter()
        .map(|q| {
            if n == 0 {
                0
            } else {
                values[((q * n as f64) as usize).min(n - 1)]
            }
        })
        .collect()
}

/// Spark's `TaskMetricDistributions` over the successful tasks of a stage attempt.
fn task_summary(s: &StageView, attempt: u32, qs: &[f64]) -> Value {
    let done: Vec<(u64, TaskMetrics)> = s
        .tasks
        .values()
        .filter(|t| t.stage_attempt == attempt && t.status == "SUCCESS")
        .map(|t| {
            (
                t.duration_ms.unwrap_or(0),
                t.metrics.clone().unwrap_or_default(),
            )
        })
        .collect();
    let q =
        |f: &dyn Fn(&(u64, TaskMetrics)) -> u64| pick_quantiles(done.iter().map(f).collect(), qs);
    json!({
        "quantiles": qs,
        "duration": q(&|t| t.0),
        "executorRunTime": q(&|t| t.0),
        "memoryBytesSpilled": q(&|t| t.1.spill.memory_bytes_spilled),
        "diskBytesSpilled": q(&|t| t.1.spill.disk_bytes_spilled),
        "inputMetrics": {
            "bytesRead": q(&|t| t.1.input_bytes),
            "recordsRead": q(&|t| t.1.input_records),
        },
        "shuffleReadMetrics": {
            "readBytes": q(&|t| t.1.shuffle_read_bytes()),
            "remoteBlocksFetched": q(&|t| t.1.shuffle_remote_blocks),
            "localBlocksFetched": q(&|t| t.1.shuffle_local_blocks),
            "remoteBytesRead": q(&|t| t.1.shuffle_remote_bytes),
            "totalBlocksFetched": q(&|t| t.1.shuffle_local_blocks + t.1.shuffle_remote_blocks),
        },
        "shuffleWriteMetrics": {
            "writeBytes": q(&|t| t.1.shuffle_write_bytes),
            "writeRecords": q(&|t| t.1.shuffle_write_records),
        },
    })
}

/// A JSON array of `items` mapped by `f`, newest (highest id) first, as Spark lists them.
fn newest_first<K, V>(items: &BTreeMap<K, V>, f: impl Fn(&K, &V) -> Value) -> Value {
    Value::Array(items.iter().rev().map(|(k, v)| f(k, v)).collect())
}
