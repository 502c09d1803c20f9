//! Spark's monitoring API (`/api/v1/applications/...`) over the folded state.

use crate::format::spark_date;
use crate::state::{ExecutorView, UiState};
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
                "numKilledTasks": 0,
                "numActiveStages": u32::from(j.completed_ms.is_none()),
                "numCompletedStages": u32::from(j.status == "SUCCEEDED"),
                "numFailedStages": u32::from(j.status == "FAILED"),
            })
        })
    }

    fn stages_api(&self) -> Value {
        newest_first(&self.stages, |id, s| {
            json!({
                "stageId": id,
                "attemptId": 0,
                "status": s.status,
                "name": s.name,
                "numTasks": s.num_tasks,
                "numActiveTasks": s.active,
                "numCompleteTasks": s.completed,
                "numFailedTasks": s.failed,
                "numKilledTasks": 0,
                "executorRunTime": s.task_ms,
                "submissionTime": spark_date(s.submitted_ms),
                "completionTime": s.completed_ms.map(spark_date),
                "failureReason": s.failure,
            })
        })
    }

    /// `api/v1/applications[/{id}[/executors|allexecutors|jobs|stages]]`
    /// (without the leading slash); `Err` is the 404 text.
    pub(crate) fn api(&self, path: &str) -> Result<Value, String> {
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
            other => Err(format!("no such resource: {other}")),
        }
    }
}

/// A JSON array of `items` mapped by `f`, newest (highest id) first, as Spark lists them.
fn newest_first<K, V>(items: &BTreeMap<K, V>, f: impl Fn(&K, &V) -> Value) -> Value {
    Value::Array(items.iter().rev().map(|(k, v)| f(k, v)).collect())
}
