//! The AM's application UI, built from the same events as the event log:
//! Spark's monitoring API (`/api/v1/applications/...`), server-rendered pages
//! (jobs, stages, executors with Spark's columns), the executor timeline as
//! SVG (each executor's lifetime, the allocation target and running tasks
//! over time) and Prometheus metrics at `/metrics`.
//!
//! Pages need no JavaScript and fetch nothing from elsewhere; while the
//! application runs they refresh themselves. The RM serves the same pages
//! from a finished application's event log ([`UiState::from_log`] and
//! [`UiState::page`] with its own base path), so the tracking URL keeps
//! working after the AM is gone.

use crate::eventlog::{AppEvent, LogLine};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
struct ExecutorView {
    host: String,
    cores: u32,
    container: String,
    active: u32,
    completed: u32,
    failed: u32,
    task_ms: u64,
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
    /// Sum and maximum of finished tasks' durations.
    task_ms: u64,
    max_task_ms: u64,
    submitted_ms: u64,
    completed_ms: Option<u64>,
    status: &'static str,
    failure: Option<String>,
}

/// What the timeline draws besides executor lifetimes, and what the
/// scale-up latency is measured from.
#[derive(Debug, Default)]
struct Timeline {
    /// Running tasks after each change: (ts, count).
    running: Vec<(u64, u32)>,
    running_now: u32,
    /// Target raises not yet met by a new executor, oldest first.
    raises: VecDeque<u64>,
}

/// The AM's metrics (`spindle_am_*`). Counters move as events are applied;
/// gauges are read from the UI state when scraped.
#[derive(Debug)]
pub struct AmMetrics {
    registry: Mutex<Registry>,
    executors: Family<Vec<(&'static str, &'static str)>, Gauge>,
    tasks: Family<Vec<(&'static str, &'static str)>, Gauge>,
    tasks_finished: Family<Vec<(&'static str, &'static str)>, Counter>,
    executors_added: Counter,
    executors_removed: Counter,
    scale_up: Histogram,
}

impl Default for AmMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AmMetrics {
    pub fn new() -> Self {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("spindle_am")),
            executors: Family::default(),
            tasks: Family::default(),
            tasks_finished: Family::default(),
            executors_added: Counter::default(),
            executors_removed: Counter::default(),
            // 10 ms to ~80 s.
            scale_up: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
        };
        {
            let mut r = m.registry.lock().expect("registry");
            r.register(
                "executors",
                "Executors: the allocation target, running (registered), pending (target not yet running)",
                m.executors.clone(),
            );
            r.register(
                "tasks",
                "Tasks of active stages: pending (not started) and running",
                m.tasks.clone(),
            );
            r.register(
                "tasks_finished",
                "Finished tasks by outcome",
                m.tasks_finished.clone(),
            );
            r.register(
                "executors_added",
                "Executors that registered",
                m.executors_added.clone(),
            );
            r.register(
                "executors_removed",
                "Executors removed (idle timeout, lost, killed, end of application)",
                m.executors_removed.clone(),
            );
            r.register_with_unit(
                "scale_up_latency",
                "From a raise of the allocation target to an executor registering for it",
                Unit::Seconds,
                m.scale_up.clone(),
            );
        }
        m
    }

    /// Sets the gauges from `s` and renders Prometheus text.
    pub fn render(&self, s: &UiState) -> String {
        let registry = self.registry.lock().expect("registry");
        let running = s.active_executors() as i64;
        let target = s.current_target().unwrap_or(running);
        for (state, v) in [
            ("target", target),
            ("running", running),
            ("pending", (target - running).max(0)),
        ] {
            self.executors.get_or_create(&vec![("state", state)]).set(v);
        }
        let (pending, running_tasks) = s.task_counts();
        self.tasks
            .get_or_create(&vec![("state", "pending")])
            .set(pending as i64);
        self.tasks
            .get_or_create(&vec![("state", "running")])
            .set(running_tasks as i64);
        let mut out = String::new();
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
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
    timeline: Timeline,
    metrics: Option<Arc<AmMetrics>>,
}

impl UiState {
    pub fn new(driver_host: String) -> Self {
        Self {
            driver_host,
            ..Default::default()
        }
    }

    /// A UI whose events also move `metrics` (the live AM's).
    pub fn with_metrics(mut self, metrics: Arc<AmMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The UI of a (finished) application, from its event log.
    pub fn from_log(lines: &[LogLine]) -> Self {
        let mut s = Self::default();
        for l in lines {
            s.apply(l);
        }
        s
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn apply(&mut self, line: &LogLine) {
        let ts = line.ts;
        match &line.event {
            AppEvent::ApplicationStart {
                app_id,
                app_name,
                attempt,
                user,
                dynamic_allocation,
                conf,
                ..
            } => {
                self.app_id = app_id.clone();
                self.app_name = app_name.clone();
                self.attempt = attempt.clone();
                self.user = user.clone();
                self.start_ms = ts;
                if !dynamic_allocation {
                    // Static allocation: the target is spark.executor.instances throughout.
                    let n = conf
                        .get("spark.executor.instances")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(2);
                    self.target.push((ts, n));
                }
            }
            AppEvent::ApplicationEnd { .. } => {
                self.end_ms = Some(ts);
                // Executors still registered went with the application.
                for e in self.executors.values_mut() {
                    if e.remove_ms.is_none() {
                        e.remove_ms = Some(ts);
                        e.remove_reason = Some("application ended".into());
                        e.active = 0;
                    }
                }
            }
            AppEvent::ExecutorAdded {
                executor,
                host,
                cores,
                container,
                ..
            } => {
                self.executors.insert(
                    executor.clone(),
                    ExecutorView {
                        host: host.clone(),
                        cores: *cores,
                        container: container.clone(),
                        add_ms: ts,
                        ..Default::default()
                    },
                );
                let raised = self.timeline.raises.pop_front();
                if let Some(m) = &self.metrics {
                    m.executors_added.inc();
                    if let Some(t) = raised {
                        m.scale_up.observe(ts.saturating_sub(t) as f64 / 1e3);
                    }
                }
            }
            AppEvent::ExecutorRemoved { executor, reason } => {
                if let Some(e) = self.executors.get_mut(executor) {
                    if e.remove_ms.is_none() {
                        e.remove_ms = Some(ts);
                        e.remove_reason = Some(reason.clone());
                        e.active = 0;
                        if let Some(m) = &self.metrics {
                            m.executors_removed.inc();
                        }
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
                self.timeline.running_now += 1;
                self.push_running(ts);
            }
            AppEvent::TaskEnd {
                stage,
                executor,
                reason,
                duration_ms,
                ..
            } => {
                let ok = reason == "Success";
                if let Some(e) = self.executors.get_mut(executor) {
                    e.active = e.active.saturating_sub(1);
                    e.task_ms += duration_ms;
                    if ok {
                        e.completed += 1;
                    } else {
                        e.failed += 1;
                    }
                }
                if let Some(s) = self.stages.get_mut(stage) {
                    s.active = s.active.saturating_sub(1);
                    s.task_ms += duration_ms;
                    s.max_task_ms = s.max_task_ms.max(*duration_ms);
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
                self.timeline.running_now = self.timeline.running_now.saturating_sub(1);
                self.push_running(ts);
                if let Some(m) = &self.metrics {
                    let outcome = if ok { "success" } else { "failed" };
                    m.tasks_finished
                        .get_or_create(&vec![("outcome", outcome)])
                        .inc();
                }
            }
            AppEvent::TargetChanged { old, new } => {
                self.target.push((ts, *new));
                let raises = &mut self.timeline.raises;
                if new > old {
                    let more = (new - old).min(10_000) as usize;
                    raises.extend(std::iter::repeat_n(ts, more));
                } else {
                    // A lower target withdraws the newest raises.
                    for _ in 0..(old - new) {
                        if raises.pop_back().is_none() {
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn push_running(&mut self, ts: u64) {
        let n = self.timeline.running_now;
        let r = &mut self.timeline.running;
        match r.last_mut() {
            Some(last) if last.0 == ts => last.1 = n,
            _ => r.push((ts, n)),
        }
    }

    fn active_executors(&self) -> usize {
        self.executors
            .values()
            .filter(|e| e.remove_ms.is_none())
            .count()
    }

    fn current_target(&self) -> Option<i64> {
        self.target.last().map(|(_, t)| *t)
    }

    /// (pending, running) tasks of active stages.
    fn task_counts(&self) -> (u32, u32) {
        let mut pending = 0;
        let mut running = 0;
        for s in self.stages.values().filter(|s| s.status == "ACTIVE") {
            running += s.active;
            pending += s.num_tasks.saturating_sub(s.completed + s.active);
        }
        (pending, running)
    }

    // ------------------------------------------------------------ Spark's API

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

    fn executors_api(&self, all: bool) -> Value {
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

    fn stages_api(&self) -> Value {
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
                        "executorRunTime": s.task_ms,
                        "submissionTime": spark_date(s.submitted_ms),
                        "completionTime": s.completed_ms.map(spark_date),
                        "failureReason": s.failure,
                    })
                })
                .collect(),
        )
    }

    /// `api/v1/applications[/{id}[/executors|allexecutors|jobs|stages]]`
    /// (without the leading slash); `Err` is the 404 text.
    fn api(&self, path: &str) -> Result<Value, String> {
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

    // ------------------------------------------------------------ pages

    /// Executors by add time (then id, numerically).
    fn sorted_executors(&self) -> Vec<(&String, &ExecutorView)> {
        let mut v: Vec<_> = self.executors.iter().collect();
        v.sort_by_key(|(id, e)| {
            (
                e.add_ms,
                id.parse::<u64>().unwrap_or(u64::MAX),
                (*id).clone(),
            )
        });
        v
    }

    /// The page (or API answer) at `path` below `base` (`base` ends with a
    /// slash; `path` has none in front). `now_ms` ends a running app's bars.
    pub fn page(&self, base: &str, path: &str, now_ms: u64) -> Page {
        let end = self.end_ms.unwrap_or(now_ms.max(self.start_ms));
        match path {
            "" => Page::Redirect(format!("{base}jobs/")),
            "jobs" | "jobs/" => Page::Html(self.layout(base, "Jobs", &self.jobs_html(end))),
            "stages" | "stages/" => Page::Html(self.layout(base, "Stages", &self.stages_html(end))),
            "executors" | "executors/" => {
                Page::Html(self.layout(base, "Executors", &self.executors_html(end)))
            }
            "timeline" | "timeline/" => {
                let body = format!(
                    "<p>Each bar is one executor's lifetime (green while it runs, grey after it \
                     was removed; hover for details). Above: the allocation target, running \
                     executors and running tasks over time. <a href=\"{base}timeline.svg\">SVG</a></p>{}",
                    self.timeline_svg(end)
                );
                Page::Html(self.layout(base, "Timeline", &body))
            }
            "timeline.svg" => Page::Svg(self.timeline_svg(end)),
            p if p.starts_with("api/") => match self.api(p) {
                Ok(v) => Page::Json(v),
                Err(e) => Page::NotFound(e),
            },
            p => Page::NotFound(format!("no page /{p}")),
        }
    }

    fn layout(&self, base: &str, title: &str, body: &str) -> String {
        let refresh = if self.end_ms.is_none() {
            "<meta http-equiv=\"refresh\" content=\"2\">"
        } else {
            ""
        };
        let status = match self.end_ms {
            None => "RUNNING".to_string(),
            Some(t) => format!("finished {}", date(t)),
        };
        let mut nav = String::new();
        for (href, name) in [
            ("jobs/", "Jobs"),
            ("stages/", "Stages"),
            ("executors/", "Executors"),
            ("timeline/", "Timeline"),
        ] {
            let class = if name == title {
                " class=\"active\""
            } else {
                ""
            };
            let _ = write!(nav, "<a{class} href=\"{base}{href}\">{name}</a>");
        }
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
             <link rel=\"icon\" href=\"data:,\">\
             <title>{title} - {name}</title><style>{CSS}</style></head><body>\
             <header><span class=\"brand\">Spindle</span>{nav}\
             <span class=\"app\">{name} <small>{id} &middot; {user} &middot; {status}</small></span></header>\
             <main><h1>{title}</h1>{body}</main></body></html>\n",
            name = esc(&self.app_name),
            id = esc(&self.app_id),
            user = esc(&self.user),
        )
    }

    fn jobs_html(&self, end: u64) -> String {
        let mut h = String::new();
        let active = self
            .jobs
            .values()
            .filter(|j| j.completed_ms.is_none())
            .count();
        let _ = write!(
            h,
            "<ul class=\"summary\"><li><strong>User:</strong> {}</li>\
             <li><strong>Total uptime:</strong> {}</li>\
             <li><strong>Active jobs:</strong> <span id=\"active-jobs\">{active}</span></li>\
             <li><strong>Completed jobs:</strong> {}</li></ul>",
            esc(&self.user),
            duration(end.saturating_sub(self.start_ms)),
            self.jobs.len() - active,
        );
        h.push_str(
            "<table id=\"jobs\"><thead><tr><th>Job Id</th><th>Description</th><th>Submitted</th>\
             <th>Duration</th><th>Stages: Succeeded/Total</th><th>Tasks (for all stages): Succeeded/Total</th>\
             <th>Status</th></tr></thead><tbody>",
        );
        for (id, j) in self.jobs.iter().rev() {
            let stages_done = j
                .stages
                .iter()
                .filter(|s| self.stages.get(s).is_some_and(|s| s.status == "COMPLETE"))
                .count();
            let _ = write!(
                h,
                "<tr class=\"job\"><td>{id}</td><td class=\"wrap\">{}</td><td>{}</td><td>{}</td><td>{stages_done}/{}</td>\
                 <td>{}</td><td class=\"status {}\">{}</td></tr>",
                esc(&j.description),
                date(j.submitted_ms),
                duration(j.completed_ms.unwrap_or(end).saturating_sub(j.submitted_ms)),
                j.stages.len(),
                progress(j.completed, j.active, j.failed, j.num_tasks),
                j.status.to_ascii_lowercase(),
                j.status,
            );
        }
        if self.jobs.is_empty() {
            h.push_str("<tr><td colspan=\"7\">No jobs yet.</td></tr>");
        }
        h.push_str("</tbody></table>");
        h
    }

    fn stages_html(&self, end: u64) -> String {
        let mut h = String::from(
            "<table id=\"stages\"><thead><tr><th>Stage Id</th><th>Job Id</th><th>Description</th>\
             <th>Submitted</th><th>Duration</th><th>Tasks: Succeeded/Total</th><th>Failed Tasks</th>\
             <th>Task Time</th><th>Longest Task</th><th>Status</th><th>Failure Reason</th></tr></thead><tbody>",
        );
        for (id, s) in self.stages.iter().rev() {
            let _ = write!(
                h,
                "<tr class=\"stage\"><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td class=\"status {}\">{}</td><td class=\"wrap\">{}</td></tr>",
                s.job,
                esc(&s.name),
                date(s.submitted_ms),
                duration(s.completed_ms.unwrap_or(end).saturating_sub(s.submitted_ms)),
                progress(s.completed, s.active, s.failed, s.num_tasks),
                s.failed,
                duration(s.task_ms),
                duration(s.max_task_ms),
                s.status.to_ascii_lowercase(),
                s.status,
                esc(s.failure.as_deref().unwrap_or("")),
            );
        }
        if self.stages.is_empty() {
            h.push_str("<tr><td colspan=\"11\">No stages yet.</td></tr>");
        }
        h.push_str("</tbody></table>");
        h
    }

    fn executors_html(&self, end: u64) -> String {
        let active = self.active_executors();
        let dead = self.executors.len() - active;
        let (pending_tasks, running_tasks) = self.task_counts();
        let target = self
            .current_target()
            .map_or_else(|| "-".to_string(), |t| t.to_string());
        let mut h = format!(
            "<ul class=\"summary\"><li><strong>Active executors:</strong> <span id=\"active-executors\">{active}</span></li>\
             <li><strong>Dead executors:</strong> <span id=\"dead-executors\">{dead}</span></li>\
             <li><strong>Allocation target:</strong> <span id=\"target\">{target}</span></li>\
             <li><strong>Running tasks:</strong> {running_tasks}</li>\
             <li><strong>Pending tasks:</strong> {pending_tasks}</li></ul>"
        );
        h.push_str(
            "<table id=\"executors\"><thead><tr><th>Executor ID</th><th>Address</th><th>Status</th>\
             <th>RDD Blocks</th><th>Cores</th><th>Active Tasks</th><th>Failed Tasks</th>\
             <th>Complete Tasks</th><th>Total Tasks</th><th>Task Time</th><th>Add Time</th>\
             <th>Remove Time</th><th>Remove Reason</th><th>Container</th></tr></thead><tbody>",
        );
        let _ = write!(
            h,
            "<tr class=\"driver\"><td>driver</td><td>{}</td><td>{}</td><td>0</td><td>0</td><td>0</td>\
             <td>0</td><td>0</td><td>0</td><td>0 ms</td><td>{}</td><td></td><td></td><td></td></tr>",
            esc(&self.driver_host),
            if self.end_ms.is_none() { "Active" } else { "Dead" },
            date(self.start_ms),
        );
        for (id, e) in self.sorted_executors() {
            let alive = e.remove_ms.is_none();
            let _ = write!(
                h,
                "<tr class=\"executor-row {}\" data-executor=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>0</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"wrap\">{}</td><td>{}</td></tr>",
                if alive { "active" } else { "dead" },
                esc(id),
                esc(id),
                esc(&e.host),
                if alive { "Active" } else { "Dead" },
                e.cores,
                e.active,
                e.failed,
                e.completed,
                e.active + e.failed + e.completed,
                duration(e.task_ms),
                date(e.add_ms),
                e.remove_ms.map(date).unwrap_or_default(),
                esc(e.remove_reason.as_deref().unwrap_or("")),
                esc(&e.container),
            );
        }
        h.push_str("</tbody></table><h2>Executor timeline</h2>");
        h.push_str(&self.timeline_svg(end));
        h
    }

    /// The executor timeline: counts over time on top (allocation target,
    /// running executors, running tasks), then one bar per executor that
    /// ever ran, from its registration to its removal (or now).
    pub fn timeline_svg(&self, end: u64) -> String {
        const W: f64 = 1000.0;
        const LEFT: f64 = 110.0;
        const RIGHT: f64 = 20.0;
        const CHART_TOP: f64 = 30.0;
        const CHART_H: f64 = 150.0;
        const ROW: f64 = 18.0;
        let start = self.start_ms;
        let span = end.saturating_sub(start).max(1) as f64;
        let x = |t: u64| LEFT + (t.saturating_sub(start) as f64 / span) * (W - LEFT - RIGHT);
        let execs = self.sorted_executors();
        // Running executors over time, from add/remove times.
        let mut changes: Vec<(u64, i64)> = Vec::new();
        for (_, e) in &execs {
            changes.push((e.add_ms, 1));
            if let Some(r) = e.remove_ms {
                changes.push((r, -1));
            }
        }
        changes.sort();
        let mut live = vec![(start, 0)];
        let mut n = 0i64;
        for (t, d) in changes {
            n += d;
            match live.last_mut() {
                Some((lt, ln)) if *lt == t => *ln = n,
                _ => live.push((t, n)),
            }
        }
        let target: Vec<(u64, i64)> = self.target.clone();
        let running: Vec<(u64, i64)> = std::iter::once((start, 0))
            .chain(
                self.timeline
                    .running
                    .iter()
                    .map(|(t, n)| (*t, i64::from(*n))),
            )
            .collect();
        let ymax = target
            .iter()
            .chain(&live)
            .chain(&running)
            .map(|(_, v)| *v)
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let y = |v: i64| CHART_TOP + CHART_H - (v.max(0) as f64 / ymax) * CHART_H;
        let rows_top = CHART_TOP + CHART_H + 40.0;
        let height = rows_top + ROW * execs.len().max(1) as f64 + 30.0;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"executor-timeline\" class=\"timeline\" \
             width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" font-family=\"sans-serif\" font-size=\"11\">\
             <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{height}\" fill=\"#fff\"/>"
        );
        // Axes and grid.
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{CHART_TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#999\"/>\
             <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{ymax}</text>\
             <text x=\"{tx}\" y=\"{b}\" text-anchor=\"end\">0</text>",
            b = CHART_TOP + CHART_H,
            r = W - RIGHT,
            tx = LEFT - 6.0,
            ty = CHART_TOP + 4.0,
        );
        let secs = span / 1000.0;
        let step = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
        ]
        .into_iter()
        .find(|st| secs / st <= 12.0)
        .unwrap_or(7200.0);
        let mut t = 0.0;
        while t <= secs + 1e-9 {
            let px = LEFT + (t / secs.max(1e-9)) * (W - LEFT - RIGHT);
            let _ = write!(
                s,
                "<line x1=\"{px:.1}\" y1=\"{CHART_TOP}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\" stroke=\"#eee\"/>\
                 <text x=\"{px:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\">{t}s</text>",
                bottom = height - 25.0,
                ly = height - 10.0,
            );
            t += step;
        }
        // Step lines.
        let step_path = |series: &[(u64, i64)]| -> String {
            let mut d = String::new();
            let mut last: Option<i64> = None;
            for (t, v) in series {
                let px = x(*t);
                match last {
                    None => {
                        let _ = write!(d, "M{px:.1},{:.1}", y(*v));
                    }
                    Some(_) => {
                        let _ = write!(d, " H{px:.1} V{:.1}", y(*v));
                    }
                }
                last = Some(*v);
            }
            if last.is_some() {
                let _ = write!(d, " H{:.1}", x(end));
            }
            d
        };
        for (class, color, series, label) in [
            ("target", "#1f77b4", &target, "allocation target"),
            ("executors", "#2ca02c", &live, "running executors"),
            ("tasks", "#ff7f0e", &running, "running tasks"),
        ] {
            let d = step_path(series);
            if !d.is_empty() {
                let _ = write!(
                    s,
                    "<path class=\"{class}\" d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{label}</title></path>"
                );
            }
        }
        // Legend.
        for (i, (color, label)) in [
            ("#1f77b4", "allocation target"),
            ("#2ca02c", "running executors"),
            ("#ff7f0e", "running tasks"),
        ]
        .into_iter()
        .enumerate()
        {
            let lx = LEFT + 10.0 + 170.0 * i as f64;
            let _ = write!(
                s,
                "<rect x=\"{lx}\" y=\"8\" width=\"14\" height=\"4\" fill=\"{color}\"/>\
                 <text x=\"{}\" y=\"14\">{label}</text>",
                lx + 20.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"8\" y=\"{:.1}\" font-weight=\"bold\">Executors</text>",
            rows_top - 8.0
        );
        // One bar per executor.
        for (i, (id, e)) in execs.iter().enumerate() {
            let top = rows_top + ROW * i as f64;
            let x0 = x(e.add_ms);
            let x1 = x(e.remove_ms.unwrap_or(end)).max(x0 + 2.0);
            let (state, fill) = if e.remove_ms.is_none() {
                ("active", "#2ca02c")
            } else {
                ("removed", "#9e9e9e")
            };
            let title = format!(
                "executor {id} on {}: added {}{}",
                e.host,
                date(e.add_ms),
                match (&e.remove_ms, &e.remove_reason) {
                    (Some(r), reason) => format!(
                        ", removed {} ({})",
                        date(*r),
                        reason.as_deref().unwrap_or("")
                    ),
                    _ => ", running".to_string(),
                }
            );
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">executor {}</text>\
                 <rect class=\"executor {state}\" data-executor=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" \
                 width=\"{:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{fill}\"><title>{}</title></rect>",
                LEFT - 6.0,
                top + ROW - 5.0,
                esc(id),
                esc(id),
                top + 2.0,
                x1 - x0,
                ROW - 4.0,
                esc(&title),
            );
        }
        if execs.is_empty() {
            let _ = write!(
                s,
                "<text x=\"{LEFT}\" y=\"{:.1}\">No executors yet.</text>",
                rows_top + 12.0
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// A page, an API answer, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    Html(String),
    Svg(String),
    Json(Value),
    Redirect(String),
    NotFound(String),
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        match self {
            Self::Html(h) => axum::response::Html(h).into_response(),
            Self::Svg(s) => ([(header::CONTENT_TYPE, "image/svg+xml")], s).into_response(),
            Self::Json(v) => axum::Json(v).into_response(),
            Self::Redirect(to) => axum::response::Redirect::to(&to).into_response(),
            Self::NotFound(why) => (StatusCode::NOT_FOUND, format!("{why}\n")).into_response(),
        }
    }
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;margin:0;color:#222}\
header{background:#37474f;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:baseline}\
header a{color:#cfd8dc;text-decoration:none}header a.active{color:#fff;font-weight:bold}\
.brand{font-weight:bold;margin-right:12px}.app{margin-left:auto}.app small{color:#cfd8dc}\
main{padding:8px 16px}h1{font-size:20px}table{border-collapse:collapse;margin:8px 0 16px}\
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;white-space:nowrap}th{background:#f5f5f5}\
td.wrap{white-space:normal;max-width:40em}\
tr.dead td{color:#888}.summary{list-style:none;padding:0;display:flex;gap:24px;flex-wrap:wrap}\
.bar{position:relative;width:160px;height:16px;background:#eee;border:1px solid #ccc}\
.bar .ok{position:absolute;left:0;top:0;bottom:0;background:#5cb85c}\
.bar .run{position:absolute;top:0;bottom:0;background:#5bc0de}\
.bar span{position:absolute;width:100%;text-align:center;font-size:11px;line-height:16px}\
.status.failed{color:#c62828}.status.succeeded,.status.complete{color:#2e7d32}svg.timeline{border:1px solid #ddd}";

/// A task progress bar: succeeded (and running) out of total.
fn progress(done: u32, running: u32, failed: u32, total: u32) -> String {
    let t = total.max(1) as f64;
    let ok = (100.0 * done.min(total) as f64 / t).min(100.0);
    let run = (100.0 * running as f64 / t).min(100.0 - ok);
    let failed = if failed > 0 {
        format!(" ({failed} failed)")
    } else {
        String::new()
    };
    format!(
        "<div class=\"bar\"><div class=\"ok\" style=\"width:{ok:.1}%\"></div>\
         <div class=\"run\" style=\"left:{ok:.1}%;width:{run:.1}%\"></div>\
         <span>{done}/{total}{failed}</span></div>"
    )
}

/// Escapes text for HTML and XML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-11-27 00:18:52` (UTC), for pages.
pub fn date(ms: u64) -> String {
    let d = spark_date(ms);
    format!("{} {}", &d[..10], &d[11..19])
}

/// `850 ms`, `4.2 s`, `3.5 min`, `1.2 h`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1e3),
        60_000..3_600_000 => format!("{:.1} min", ms as f64 / 60e3),
        _ => format!("{:.1} h", ms as f64 / 3_600e3),
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

/// The AM's HTTP server: the pages at the root, `/metrics`, Spark's API.
pub fn router(ui: Shared) -> Router {
    let metrics_ui = ui.clone();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let ui = metrics_ui.clone();
                async move {
                    let s = ui.lock().expect("ui lock");
                    let body = match &s.metrics {
                        Some(m) => m.render(&s),
                        None => String::new(),
                    };
                    (
                        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
                        body,
                    )
                }
            }),
        )
        .fallback(move |uri: Uri| {
            let ui = ui.clone();
            async move {
                let s = ui.lock().expect("ui lock");
                let path = uri.path().trim_start_matches('/');
                s.page("/", path, common::clock::wall_ms())
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: u64, event: AppEvent) -> LogLine {
        LogLine { ts, event }
    }

    fn start() -> AppEvent {
        AppEvent::ApplicationStart {
            app_id: "application_1_0001".into(),
            app_name: "Bursty".into(),
            attempt: "1".into(),
            user: "u".into(),
            dynamic_allocation: true,
            executor_cores: 1,
            executor_memory_mb: 1024,
            conf: Default::default(),
            driver_memory_mb: 0,
            driver_vcores: 0,
            am_allocated_ms: 0,
        }
    }

    fn added(id: &str) -> AppEvent {
        AppEvent::ExecutorAdded {
            executor: id.into(),
            host: "h".into(),
            cores: 1,
            container: format!("container_1_0001_01_00000{id}"),
            memory_mb: 1,
        }
    }

    fn task(start: bool, executor: &str, task_id: u64) -> AppEvent {
        if start {
            AppEvent::TaskStart {
                stage: 0,
                stage_attempt: 0,
                task_id,
                index: task_id as u32,
                attempt: 0,
                executor: executor.into(),
                host: "h".into(),
            }
        } else {
            AppEvent::TaskEnd {
                stage: 0,
                stage_attempt: 0,
                task_id,
                index: task_id as u32,
                attempt: 0,
                executor: executor.into(),
                reason: "Success".into(),
                error: None,
                duration_ms: 300,
                records: 1,
            }
        }
    }

    #[test]
    fn dates_match_spark_format() {
        assert_eq!(spark_date(0), "1970-01-01T00:00:00.000GMT");
        assert_eq!(spark_date(1_795_738_732_499), "2026-11-27T00:18:52.499GMT");
        assert_eq!(spark_date(951_782_400_000), "2000-02-29T00:00:00.000GMT");
        assert_eq!(date(1_795_738_732_499), "2026-11-27 00:18:52");
        assert_eq!(duration(4200), "4.2 s");
    }

    #[test]
    fn executors_come_and_go() {
        let mut s = UiState::new("h:1".into());
        s.apply(&ev(1, added("1")));
        assert_eq!(s.executors_api(false).as_array().unwrap().len(), 2);
        s.apply(&ev(
            2,
            AppEvent::ExecutorRemoved {
                executor: "1".into(),
                reason: "idle timeout".into(),
            },
        ));
        assert_eq!(s.executors_api(false).as_array().unwrap().len(), 1);
        let all = s.executors_api(true);
        assert_eq!(all[1]["removeReason"], "idle timeout");
        assert_eq!(all[1]["isActive"], false);
    }

    #[test]
    fn timeline_has_one_bar_per_executor_and_metrics_move() {
        let m = Arc::new(AmMetrics::new());
        let mut s = UiState::new("h:1".into()).with_metrics(m.clone());
        s.apply(&ev(1000, start()));
        s.apply(&ev(1000, AppEvent::TargetChanged { old: 0, new: 1 }));
        s.apply(&ev(1500, added("1")));
        s.apply(&ev(2000, AppEvent::TargetChanged { old: 1, new: 3 }));
        s.apply(&ev(2600, added("2")));
        s.apply(&ev(2700, added("3")));
        s.apply(&ev(2800, task(true, "2", 1)));
        s.apply(&ev(3100, task(false, "2", 1)));
        s.apply(&ev(
            6000,
            AppEvent::ExecutorRemoved {
                executor: "2".into(),
                reason: "idle timeout".into(),
            },
        ));
        let svg = s.timeline_svg(7000);
        assert_eq!(svg.matches("class=\"executor ").count(), 3, "{svg}");
        assert_eq!(svg.matches("class=\"executor removed\"").count(), 1);
        assert!(svg.contains("class=\"target\""));
        assert!(svg.contains("class=\"tasks\""));
        // The SVG is well-formed enough for an XML reader: balanced tags.
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());

        let text = m.render(&s);
        assert!(
            text.contains("spindle_am_executors{state=\"target\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("spindle_am_executors{state=\"running\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("spindle_am_executors{state=\"pending\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("spindle_am_executors_added_total 3"),
            "{text}"
        );
        assert!(
            text.contains("spindle_am_executors_removed_total 1"),
            "{text}"
        );
        assert!(
            text.contains("spindle_am_tasks_finished_total{outcome=\"success\"} 1"),
            "{text}"
        );
        // Three raises met: 0.5 s, 0.6 s and 0.7 s.
        assert!(
            text.contains("spindle_am_scale_up_latency_seconds_count 3"),
            "{text}"
        );
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("spindle_am_scale_up_latency_seconds_sum "))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!((sum - 1.8).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn pages_link_below_their_base_and_refresh_while_running() {
        let mut s = UiState::new("h:1".into());
        s.apply(&ev(1000, start()));
        s.apply(&ev(1500, added("1")));
        let base = "/cluster/app/application_1_0001/history/";
        let Page::Html(h) = s.page(base, "executors/", 2000) else {
            panic!("not html")
        };
        assert!(h.contains(&format!("href=\"{base}jobs/\"")), "{h}");
        assert!(h.contains("http-equiv=\"refresh\""));
        assert!(h.contains("<span id=\"active-executors\">1</span>"));
        assert!(!h.contains("<script"));
        assert_eq!(s.page(base, "", 0), Page::Redirect(format!("{base}jobs/")));
        s.apply(&ev(
            3000,
            AppEvent::ApplicationEnd {
                final_status: "SUCCEEDED".into(),
                diagnostics: String::new(),
            },
        ));
        let Page::Html(h) = s.page("/", "jobs/", 9000) else {
            panic!("not html")
        };
        assert!(!h.contains("http-equiv=\"refresh\""));
        assert!(matches!(
            s.page(
                "/",
                "api/v1/applications/application_1_0001/allexecutors",
                0
            ),
            Page::Json(_)
        ));
        assert!(matches!(
            s.page("/", "api/v1/applications/nope/jobs", 0),
            Page::NotFound(_)
        ));
        assert!(matches!(s.page("/", "nope", 0), Page::NotFound(_)));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
