//! The AM's monitoring API in Spark's shapes (`/api/v1/applications/...`),
//! built from the same events as the event log.

use crate::eventlog::{AppEvent, LogLine};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
struct ExecutorView {
    host: String,
    cores: u32,
    active: u32,
    completed: u32,
    failed: u32,
    add_ms: u64,
    remove_ms: Option<u64>,
    remove_reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct JobView {
    description: String,
    stages: Vec<u32>,
    num_tasks: u32,
    active: u32,
    completed: u32,
    failed: u32,
    submitted_ms: u64,
    completed_ms: Option<u64>,
    status: &'static str,
}

#[derive(Debug, Clone, Default)]
struct StageView {
    job: u32,
    name: String,
    num_tasks: u32,
    active: u32,
    completed: u32,
    failed: u32,
    submitted_ms: u64,
    completed_ms: Option<u64>,
    status: &'static str,
    failure: Option<String>,
}

/// What the UI shows, folded from events.
#[derive(Debug, Default)]
pub struct UiState {
    app_id: String,
    app_name: String,
    user: String,
    attempt: String,
    start_ms: u64,
    end_ms: Option<u64>,
    driver_host: String,
    executors: BTreeMap<String, ExecutorView>,
    jobs: BTreeMap<u32, JobView>,
    stages: BTreeMap<u32, StageView>,
    target: Vec<(u64, i64)>,
}

impl UiState {
    pub fn new(driver_host: String) -> Self {
        Self {
            driver_host,
            ..Default::default()
        }
    }

    pub fn apply(&mut self, line: &LogLine) {
        let ts = line.ts;
        match &line.event {
            AppEvent::ApplicationStart {
                app_id,
                app_name,
                attempt,
                user,
                ..
            } => {
                self.app_id = app_id.clone();
                self.app_name = app_name.clone();
                self.attempt = attempt.clone();
                self.user = user.clone();
                self.start_ms = ts;
            }
            AppEvent::ApplicationEnd { .. } => self.end_ms = Some(ts),
            AppEvent::ExecutorAdded {
                executor,
                host,
                cores,
                ..
            } => {
                self.executors.insert(
                    executor.clone(),
                    ExecutorView {
                        host: host.clone(),
                        cores: *cores,
                        add_ms: ts,
                        ..Default::default()
                    },
                );
            }
            AppEvent::ExecutorRemoved { executor, reason } => {
                if let Some(e) = self.executors.get_mut(executor) {
                    if e.remove_ms.is_none() {
                        e.remove_ms = Some(ts);
                        e.remove_reason = Some(reason.clone());
                        e.active = 0;
                    }
                }
            }
            AppEvent::JobStart {
                job,
                description,
                stages,
                num_tasks,
            } => {
                self.jobs.insert(
                    *job,
                    JobView {
                        description: description.clone(),
                        stages: stages.clone(),
                        num_tasks: *num_tasks,
                        submitted_ms: ts,
                        status: "RUNNING",
                        ..Default::default()
                    },
                );
            }
            AppEvent::JobEnd { job, succeeded, .. } => {
                if let Some(j) = self.jobs.get_mut(job) {
                    j.status = if *succeeded { "SUCCEEDED" } else { "FAILED" };
                    j.completed_ms = Some(ts);
                    j.active = 0;
                }
            }
            AppEvent::StageSubmitted {
                stage,
                job,
                name,
                num_tasks,
                ..
            } => {
                self.stages.insert(
                    *stage,
                    StageView {
                        job: *job,
                        name: name.clone(),
                        num_tasks: *num_tasks,
                        submitted_ms: ts,
                        status: "ACTIVE",
                        ..Default::default()
                    },
                );
            }
            AppEvent::StageCompleted { stage, failure, .. } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    s.status = if failure.is_some() {
                        "FAILED"
                    } else {
                        "COMPLETE"
                    };
                    s.failure = failure.clone();
                    s.completed_ms = Some(ts);
                    s.active = 0;
                }
            }
            AppEvent::TaskStart {
                stage, executor, ..
            } => {
                if let Some(e) = self.executors.get_mut(executor) {
                    e.active += 1;
                }
                if let Some(s) = self.stages.get_mut(stage) {
                    s.active += 1;
                    if let Some(j) = self.jobs.get_mut(&s.job) {
                        j.active += 1;
                    }
                }
            }
            AppEvent::TaskEnd {
                stage,
                executor,
                reason,
                ..
            } => {
                let ok = reason == "Success";
                if let Some(e) = self.executors.get_mut(executor) {
                    e.active = e.active.saturating_sub(1);
                    if ok {
                        e.completed += 1;
                    } else {
                        e.failed += 1;
                    }
                }
                if let Some(s) = self.stages.get_mut(stage) {
                    s.active = s.active.saturating_sub(1);
                    if ok {
                        s.completed += 1;
                    } else {
                        s.failed += 1;
                    }
                    if let Some(j) = self.jobs.get_mut(&s.job) {
                        j.active = j.active.saturating_sub(1);
                        if ok {
                            j.completed += 1;
                        } else {
                            j.failed += 1;
                        }
                    }
                }
            }
            AppEvent::TargetChanged { new, .. } => self.target.push((ts, *new)),
            _ => {}
        }
    }

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
            "addTime": spark_date(self.start_ms),
        })
    }

    fn executors(&self, all: bool) -> Value {
        let mut out = vec![self.driver_json()];
        for (id, e) in &self.executors {
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

    fn jobs(&self) -> Value {
        Value::Array(
            self.jobs
                .iter()
                .rev()
                .map(|(id, j)| {
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
                .collect(),
        )
    }

    fn stages(&self) -> Value {
        Value::Array(
            self.stages
                .iter()
                .rev()
                .map(|(id, s)| {
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
                        "submissionTime": spark_date(s.submitted_ms),
                        "completionTime": s.completed_ms.map(spark_date),
                        "failureReason": s.failure,
                    })
                })
                .collect(),
        )
    }
}

/// Spark's REST date format: `2026-11-27T00:05:16.123GMT`.
pub fn spark_date(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}GMT",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub type Shared = Arc<Mutex<UiState>>;

fn not_found(what: String) -> Response {
    (StatusCode::NOT_FOUND, format!("no such {what}\n")).into_response()
}

fn with_app(ui: &Shared, id: &str, f: impl FnOnce(&UiState) -> Value) -> Response {
    let s = ui.lock().expect("ui lock");
    if s.app_id != id {
        return not_found(format!("app: {id}"));
    }
    Json(f(&s)).into_response()
}

pub fn router(ui: Shared) -> Router {
    Router::new()
        .route(
            "/",
            get(|State(ui): State<Shared>| async move {
                let s = ui.lock().expect("ui lock");
                let active = s
                    .executors
                    .values()
                    .filter(|e| e.remove_ms.is_none())
                    .count();
                axum::response::Html(format!(
                    "<!doctype html><title>{0}</title><h1>{0} ({1})</h1><p>{2} active executors. \
                     API: <a href=\"/api/v1/applications\">/api/v1/applications</a></p>",
                    s.app_name, s.app_id, active
                ))
            }),
        )
        .route(
            "/api/v1/applications",
            get(|State(ui): State<Shared>| async move {
                let s = ui.lock().expect("ui lock");
                Json(Value::Array(vec![s.application()]))
            }),
        )
        .route(
            "/api/v1/applications/{id}",
            get(
                |State(ui): State<Shared>, Path(id): Path<String>| async move {
                    with_app(&ui, &id, UiState::application)
                },
            ),
        )
        .route(
            "/api/v1/applications/{id}/executors",
            get(
                |State(ui): State<Shared>, Path(id): Path<String>| async move {
                    with_app(&ui, &id, |s| s.executors(false))
                },
            ),
        )
        .route(
            "/api/v1/applications/{id}/allexecutors",
            get(
                |State(ui): State<Shared>, Path(id): Path<String>| async move {
                    with_app(&ui, &id, |s| s.executors(true))
                },
            ),
        )
        .route(
            "/api/v1/applications/{id}/jobs",
            get(
                |State(ui): State<Shared>, Path(id): Path<String>| async move {
                    with_app(&ui, &id, UiState::jobs)
                },
            ),
        )
        .route(
            "/api/v1/applications/{id}/stages",
            get(
                |State(ui): State<Shared>, Path(id): Path<String>| async move {
                    with_app(&ui, &id, UiState::stages)
                },
            ),
        )
        .with_state(ui)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_spark_format() {
        assert_eq!(spark_date(0), "1970-01-01T00:00:00.000GMT");
        assert_eq!(spark_date(1_795_738_732_499), "2026-11-27T00:18:52.499GMT");
        assert_eq!(spark_date(951_782_400_000), "2000-02-29T00:00:00.000GMT");
    }

    #[test]
    fn executors_come_and_go() {
        let mut s = UiState::new("h:1".into());
        let ev = |ts, event| LogLine { ts, event };
        s.apply(&ev(
            1,
            AppEvent::ExecutorAdded {
                executor: "1".into(),
                host: "h".into(),
                cores: 1,
                container: "c".into(),
                memory_mb: 1,
            },
        ));
        assert_eq!(s.executors(false).as_array().unwrap().len(), 2);
        s.apply(&ev(
            2,
            AppEvent::ExecutorRemoved {
                executor: "1".into(),
                reason: "idle timeout".into(),
            },
        ));
        assert_eq!(s.executors(false).as_array().unwrap().len(), 1);
        let all = s.executors(true);
        assert_eq!(all[1]["removeReason"], "idle timeout");
        assert_eq!(all[1]["isActive"], false);
    }
}
