//! Spark's monitoring API (`/api/v1/applications/...`) over the folded state.

use crate::format::spark_date;
use crate::state::{ExecutorView, StageView, TaskView, UiState};
use serde_json::{json, Value};
use std::collections::BTreeMap;

impl UiState {
    fn executor_json(&self, id: &str, e: &ExecutorView) -> Value {
        json!({
            "id": id,
            "hostPort": e.host,
            "isActive": e.remove_ms.is_none(),
            "rddBlocks": 0,
            "totalCores": e.cores,
            "maxTasks": e.cores,
            "activeTasks": e.active,
            "failedTasks": e.failed,
            "completedTasks": e.completed,
            "totalTasks": e.active + e.failed + e.completed,
            "totalDuration": e.task_ms,
            "addTime": spark_date(e.add_ms),
            "removeTime": e.remove_ms.map(spark_date),
            "removeReason": e.remove_reason,
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
                "numActiveTasks": j.active,
                "numCompletedTasks": j.completed,
                "numSkippedTasks": 0,
                "numFailedTasks": j.failed,
                "numKilledTasks": j.killed,
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
            "numActiveTasks": s.active,
            "numCompleteTasks": s.completed,
            "numFailedTasks": s.failed,
            "numKilledTasks": s.killed,
            "executorRunTime": s.task_ms,
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
            Some(other) => Err(format!("no such resource: {other}")),
        }
    }

    /// `api/v1/applications[/{id}[/executors|allexecutors|jobs|stages[/{stage}[/{attempt}
    /// [/taskList]]]]]` (without the leading slash; `path` may end with `?query`); `Err`
    /// is the 404 text.
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
            other => match other.strip_prefix("stages/") {
                Some(stage) => self.stage_api(stage, query),
                None => Err(format!("no such resource: {other}")),
            },
        }
    }
}

/// A JSON array of `items` mapped by `f`, newest (highest id) first, as Spark lists them.
fn newest_first<K, V>(items: &BTreeMap<K, V>, f: impl Fn(&K, &V) -> Value) -> Value {
    Value::Array(items.iter().rev().map(|(k, v)| f(k, v)).collect())
}
