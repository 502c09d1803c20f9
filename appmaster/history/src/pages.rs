//! Server-rendered pages (jobs, stages, executors with Spark's columns); they need no
//! JavaScript, fetch nothing from elsewhere and refresh themselves while the app runs.

use crate::format::{bytes, date, duration};
use crate::rest::pick_quantiles;
use crate::state::{TaskCounts, UiState};
use common::html::{escape, nav};
use serde_json::Value;
use std::fmt::Write as _;

/// A page, an API answer, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    Html(String),
    Svg(String),
    Json(Value),
    Redirect(String),
    NotFound(String),
}

impl UiState {
    /// The page (or API answer) at `path` below `base` (`base` ends with a
    /// slash; `path` has none in front). `now_ms` ends a running app's bars.
    pub fn page(&self, base: &str, path: &str, now_ms: u64) -> Page {
        let end = self.end_ms.unwrap_or(now_ms.max(self.start_ms));
        match path {
            "" => Page::Redirect(format!("{base}jobs/")),
            "jobs" | "jobs/" => Page::Html(self.layout(base, "Jobs", &self.jobs_html(base, end))),
            p if p.starts_with("jobs/") => {
                let id = p["jobs/".len()..].trim_end_matches('/');
                match id.parse().ok().and_then(|id| self.job_html(base, id, end)) {
                    Some(body) => Page::Html(self.layout(base, "Jobs", &body)),
                    None => Page::NotFound(format!("no job {id}")),
                }
            }
            "storage" | "storage/" => {
                Page::Html(self.layout(base, "Storage", &self.storage_html()))
            }
            "environment" | "environment/" => {
                Page::Html(self.layout(base, "Environment", &self.environment_html()))
            }
            "stages" | "stages/" => {
                Page::Html(self.layout(base, "Stages", &self.stages_html(base, end)))
            }
            p if p.starts_with("stages/") => {
                let id = p["stages/".len()..].trim_end_matches('/');
                // `stages/{id}` or `stages/{id}/{attempt}` (the latest attempt's page
                // lists every attempt's tasks).
                let id = id.split('/').next().unwrap_or("");
                match id.parse().ok().and_then(|id| self.stage_html(id, end)) {
                    Some(body) => Page::Html(self.layout(base, "Stages", &body)),
                    None => Page::NotFound(format!("no stage {id}")),
                }
            }
            "executors" | "executors/" => {
                Page::Html(self.layout(base, "Executors", &self.executors_html(end)))
            }
            "timeline" | "timeline/" => {
                let lines = "the allocation target (dashed), running executors (solid) and \
                             running tasks (thin)";
                let body = format!(
                    "<p>Each bar is one executor's lifetime (green while it runs, grey after it \
                     was removed; hover for details). Above: {lines} over time, with each \
                     job's span as a band. <a href=\"{base}timeline.svg\">SVG</a></p>{}",
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
        let links = [
            ("jobs/", "Jobs"),
            ("stages/", "Stages"),
            ("storage/", "Storage"),
            ("environment/", "Environment"),
            ("executors/", "Executors"),
            ("timeline/", "Timeline"),
        ];
        let nav = nav(base, &links, title);
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
             <link rel=\"icon\" href=\"data:,\">\
             <title>{title} - {name}</title><style>{CSS}</style></head><body>\
             <header><span class=\"brand\">Spindle</span>{nav}\
             <span class=\"app\">{name} <small>{id} &middot; {user} &middot; {status}</small></span></header>\
             <main><h1>{title}</h1>{body}</main></body></html>\n",
            name = escape(&self.app_name),
            id = escape(&self.app_id),
            user = escape(&self.user),
        )
    }

    fn jobs_html(&self, base: &str, end: u64) -> String {
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
            escape(&self.user),
            duration(end.saturating_sub(self.start_ms)),
            self.jobs.len() - active,
        );
        h.push_str("<h2>Event timeline</h2>");
        h.push_str(&self.jobs_timeline_svg(base, end));
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
                "<tr class=\"job\"><td><a href=\"{base}jobs/{id}\">{id}</a></td><td class=\"wrap\">{}<br>{}</td>\
                 <td>{}</td><td>{}</td><td>{stages_done}/{}</td>\
                 <td>{}</td><td class=\"status {}\">{}</td></tr>",
                escape(&j.description),
                self.stage_links(base, &j.stages),
                date(j.submitted_ms),
                duration(j.completed_ms.unwrap_or(end).saturating_sub(j.submitted_ms)),
                j.stages.len(),
                progress(&j.counts, j.num_tasks),
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

    /// Links to a job's stages that have run (a skipped stage has no page).
    fn stage_links(&self, base: &str, stages: &[u32]) -> String {
        let links: Vec<String> = stages
            .iter()
            .filter(|s| self.stages.contains_key(s))
            .map(|s| format!("<a class=\"stage-link\" href=\"{base}stages/{s}\">stage {s}</a>"))
            .collect();
        format!("<small>{}</small>", links.join(" "))
    }

    /// One job: its summary and its stages (Spark's job page).
    fn job_html(&self, base: &str, id: u32, end: u64) -> Option<String> {
        let j = self.jobs.get(&id)?;
        let mut h = format!(
            "<ul class=\"summary\"><li><strong>Job:</strong> {id}</li>\
             <li><strong>Description:</strong> {}</li>\
             <li><strong>Status:</strong> <span class=\"status {}\">{}</span></li>\
             <li><strong>Submitted:</strong> {}</li>\
             <li><strong>Duration:</strong> {}</li>\
             <li><strong>Tasks:</strong> {}</li></ul><h2>Stages</h2>",
            escape(&j.description),
            j.status.to_ascii_lowercase(),
            j.status,
            date(j.submitted_ms),
            duration(j.completed_ms.unwrap_or(end).saturating_sub(j.submitted_ms)),
            progress(&j.counts, j.num_tasks),
        );
        h.push_str(&self.stages_table(base, end, |_, s| s.job == id));
        Some(h)
    }

    fn stages_html(&self, base: &str, end: u64) -> String {
        self.stages_table(base, end, |_, _| true)
    }

    /// The stages `keep` picks, newest first, with Spark's columns.
    fn stages_table(
        &self,
        base: &str,
        end: u64,
        keep: impl Fn(u32, &crate::state::StageView) -> bool,
    ) -> String {
        let mut h = String::from(
            "<table id=\"stages\"><thead><tr><th>Stage Id</th><th>Job Id</th><th>Description</th>\
             <th>Submitted</th><th>Duration</th><th>Tasks: Succeeded/Total</th><th>Failed Tasks</th>\
             <th>Task Time</th><th>Longest Task</th><th>Input</th><th>Shuffle Read</th>\
             <th>Shuffle Write</th><th>Status</th><th>Failure Reason</th></tr></thead><tbody>",
        );
        let mut any = false;
        for (id, s) in self.stages.iter().rev().filter(|(id, s)| keep(**id, s)) {
            any = true;
            let _ = write!(
                h,
                "<tr class=\"stage\"><td><a href=\"{base}stages/{id}\">{id}</a></td>\
                 <td><a href=\"{base}jobs/{job}\">{job}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"status {}\">{}</td><td class=\"wrap\">{}</td></tr>",
                escape(&s.name),
                date(s.submitted_ms),
                duration(s.completed_ms.unwrap_or(end).saturating_sub(s.submitted_ms)),
                progress(&s.counts, s.num_tasks),
                s.counts.failed,
                duration(s.task_ms),
                duration(s.max_task_ms),
                io_cell(s.io.input_bytes, s.io.input_records),
                bytes(s.io.shuffle_read_bytes()),
                io_cell(s.io.shuffle_write_bytes, s.io.shuffle_write_records),
                s.status.to_ascii_lowercase(),
                s.status,
                escape(s.failure.as_deref().unwrap_or("")),
                job = s.job,
            );
        }
        if !any {
            h.push_str("<tr><td colspan=\"14\">No stages yet.</td></tr>");
        }
        h.push_str("</tbody></table>");
        h
    }

    /// A stage's summary metrics (Spark's quantiles over its latest attempt's successful
    /// tasks) and its tasks, every attempt of every task: a speculative copy says so in
    /// its attempt column, as Spark's UI does ("1 (speculative)").
    fn stage_html(&self, id: u32, end: u64) -> Option<String> {
        let s = self.stages.get(&id)?;
        let speculative = s.tasks.values().filter(|t| t.speculative).count();
        let mut h = format!(
            "<ul class=\"summary\"><li><strong>Stage:</strong> {id} (attempt {})</li>\
             <li><strong>Job:</strong> {}</li>\
             <li><strong>Description:</strong> {}</li>\
             <li><strong>Tasks:</strong> {}</li>\
             <li><strong>Speculative tasks:</strong> <span id=\"speculative-tasks\">{speculative}</span></li>\
             <li><strong>Killed tasks:</strong> <span id=\"killed-tasks\">{}</span></li>\
             <li><strong>Shuffle read:</strong> {}</li>\
             <li><strong>Shuffle write:</strong> {}</li></ul>",
            s.attempt,
            s.job,
            escape(&s.name),
            progress(&s.counts, s.num_tasks),
            s.counts.killed,
            bytes(s.io.shuffle_read_bytes()),
            bytes(s.io.shuffle_write_bytes),
        );
        // Summary metrics, as Spark's stage page shows them.
        let done: Vec<_> = s
            .tasks
            .values()
            .filter(|t| t.stage_attempt == s.attempt && t.status == "SUCCESS")
            .collect();
        let qs = [0.0, 0.25, 0.5, 0.75, 1.0];
        let _ = write!(
            h,
            "<h2>Summary metrics for {} completed tasks</h2>\
             <table id=\"task-summary\"><thead><tr><th>Metric</th><th>Min</th><th>25th percentile</th>\
             <th>Median</th><th>75th percentile</th><th>Max</th></tr></thead><tbody>",
            done.len()
        );
        type Metric<'a> = (
            &'a str,
            fn(&crate::state::TaskView) -> u64,
            fn(u64) -> String,
        );
        let rows: [Metric; 5] = [
            ("Duration", |t| t.duration_ms.unwrap_or(0), duration),
            (
                "Input Size",
                |t| t.metrics.as_ref().map_or(0, |m| m.input_bytes),
                bytes,
            ),
            (
                "Shuffle Read Size",
                |t| t.metrics.as_ref().map_or(0, |m| m.shuffle_read_bytes()),
                bytes,
            ),
            (
                "Shuffle Write Size",
                |t| t.metrics.as_ref().map_or(0, |m| m.shuffle_write_bytes),
                bytes,
            ),
            (
                "Spill (Memory)",
                |t| {
                    t.metrics
                        .as_ref()
                        .map_or(0, |m| m.spill.memory_bytes_spilled)
                },
                bytes,
            ),
        ];
        for (name, get, fmt) in rows {
            let vals = pick_quantiles(done.iter().map(|t| get(t)).collect(), &qs);
            let _ = write!(h, "<tr><td>{name}</td>");
            for v in vals {
                let _ = write!(h, "<td>{}</td>", fmt(v));
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table><h2>Tasks</h2>");
        h.push_str(
            "<table id=\"tasks\"><thead><tr><th>Index</th><th>Task ID</th><th>Attempt</th>\
             <th>Status</th><th>Executor ID</th><th>Host</th><th>Launch Time</th><th>Duration</th>\
             <th>Input</th><th>Shuffle Read</th><th>Shuffle Write</th><th>Spill (Memory)</th>\
             <th>Spill (Disk)</th><th>Errors</th></tr></thead><tbody>",
        );
        let mut tasks: Vec<_> = s.tasks.iter().collect();
        tasks.sort_by_key(|(tid, t)| (t.stage_attempt, t.index, **tid));
        for (tid, t) in tasks {
            let attempt = if t.speculative {
                format!("{} (speculative)", t.attempt)
            } else {
                t.attempt.to_string()
            };
            let m = t.metrics.clone().unwrap_or_default();
            let shown = |v: u64| {
                if t.metrics.is_some() {
                    bytes(v)
                } else {
                    String::new()
                }
            };
            let _ = write!(
                h,
                "<tr class=\"task{}\"><td>{}</td><td>{tid}</td><td>{attempt}</td>\
                 <td class=\"status {}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"wrap\">{}</td></tr>",
                if t.speculative { " speculative" } else { "" },
                t.index,
                t.status.to_ascii_lowercase(),
                t.status,
                escape(&t.executor),
                escape(&t.host),
                date(t.launch_ms),
                duration(
                    t.duration_ms
                        .unwrap_or_else(|| end.saturating_sub(t.launch_ms))
                ),
                shown(m.input_bytes),
                shown(m.shuffle_read_bytes()),
                shown(m.shuffle_write_bytes),
                shown(m.spill.memory_bytes_spilled),
                shown(m.spill.disk_bytes_spilled),
                escape(t.error.as_deref().unwrap_or("")),
            );
        }
        if s.tasks.is_empty() {
            h.push_str("<tr><td colspan=\"14\">No tasks yet.</td></tr>");
        }
        h.push_str("</tbody></table>");
        Some(h)
    }

    /// The RDDs with cached partitions (Spark's Storage tab).
    fn storage_html(&self) -> String {
        let mut h = String::from(
            "<p>Cached RDDs and which executors hold their partitions. Spindle does not \
             measure cached block sizes.</p>\
             <table id=\"storage\"><thead><tr><th>ID</th><th>RDD Name</th><th>Storage Level</th>\
             <th>Cached Partitions</th><th>Fraction Cached</th><th>Executors</th></tr></thead><tbody>",
        );
        let mut any = false;
        for (id, r) in self.cached_rdds() {
            any = true;
            let cached = r.partitions.len();
            let holders = r.holders();
            let _ = write!(
                h,
                "<tr class=\"rdd\"><td>{id}</td><td>rdd {id}</td><td>Memory Deserialized 1x Replicated</td>\
                 <td>{cached}</td><td>{:.0}%</td><td class=\"wrap\">{}</td></tr>",
                100.0 * cached as f64 / f64::from(r.num_partitions.max(1)),
                escape(&holders.into_iter().collect::<Vec<_>>().join(", ")),
            );
        }
        if !any {
            h.push_str("<tr><td colspan=\"6\">No cached RDDs.</td></tr>");
        }
        h.push_str("</tbody></table>");
        h
    }

    /// The application's settings (Spark's Environment tab), from the same JSON as
    /// `/environment` in Spark's API.
    fn environment_html(&self) -> String {
        let env = self.environment_api();
        let mut h = String::new();
        let table = |h: &mut String, id: &str, title: &str, rows: Vec<(String, String)>| {
            let _ = write!(
                h,
                "<h2>{title}</h2><table id=\"{id}\"><thead><tr><th>Name</th><th>Value</th></tr></thead><tbody>"
            );
            for (k, v) in &rows {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"wrap\">{}</td></tr>",
                    escape(k),
                    escape(v)
                );
            }
            if rows.is_empty() {
                h.push_str("<tr><td colspan=\"2\">None.</td></tr>");
            }
            h.push_str("</tbody></table>");
        };
        let pairs = |v: &Value| -> Vec<(String, String)> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
                .collect()
        };
        let runtime = vec![
            (
                "Spindle version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            (
                "Dynamic allocation".to_string(),
                self.dynamic_allocation.to_string(),
            ),
            (
                "Executor cores".to_string(),
                self.executor_cores.to_string(),
            ),
            (
                "Executor container memory".to_string(),
                format!("{} MB", self.executor_memory_mb),
            ),
        ];
        table(&mut h, "runtime", "Runtime Information", runtime);
        table(
            &mut h,
            "spark-properties",
            "Spark Properties",
            pairs(&env["sparkProperties"]),
        );
        table(
            &mut h,
            "system-properties",
            "System Properties",
            pairs(&env["systemProperties"]),
        );
        h
    }

    fn executors_html(&self, end: u64) -> String {
        let active = self.active_executors();
        let dead = self.executors.len() - active;
        let mut h = format!(
            "<ul class=\"summary\"><li><strong>Active executors:</strong> <span id=\"active-executors\">{active}</span></li>\
             <li><strong>Dead executors:</strong> <span id=\"dead-executors\">{dead}</span></li>"
        );
        // The target and the task queue mean something only while the app runs.
        if self.end_ms.is_none() {
            let (pending_tasks, running_tasks) = self.task_counts();
            let target = self
                .current_target()
                .map_or_else(|| "-".to_string(), |t| t.to_string());
            let _ = write!(
                h,
                "<li><strong>Allocation target:</strong> <span id=\"target\">{target}</span></li>\
                 <li><strong>Running tasks:</strong> {running_tasks}</li>\
                 <li><strong>Pending tasks:</strong> {pending_tasks}</li>"
            );
        }
        h.push_str("</ul>");
        h.push_str(
            "<table id=\"executors\"><thead><tr><th>Executor ID</th><th>Address</th><th>Status</th>\
             <th>RDD Blocks</th><th>Cores</th><th>Active Tasks</th><th>Failed Tasks</th>\
             <th>Complete Tasks</th><th>Total Tasks</th><th>Task Time</th><th>Input</th>\
             <th>Shuffle Read</th><th>Shuffle Write</th><th>Logs</th><th>Add Time</th>\
             <th>Remove Time</th><th>Remove Reason</th><th>Container</th></tr></thead><tbody>",
        );
        let _ = write!(
            h,
            "<tr class=\"driver\"><td>driver</td><td>{}</td><td>{}</td><td>0</td><td>0</td><td>0</td>\
             <td>0</td><td>0</td><td>0</td><td>0 ms</td><td></td><td></td><td></td><td></td><td>{}</td>\
             <td></td><td></td><td></td></tr>",
            escape(&self.driver_host),
            if self.end_ms.is_none() { "Active" } else { "Dead" },
            date(self.start_ms),
        );
        for (id, e) in self.sorted_executors() {
            let alive = e.remove_ms.is_none();
            let logs: Vec<String> = e
                .log_urls
                .iter()
                .map(|(name, url)| {
                    format!(
                        "<a class=\"log\" href=\"{}\">{}</a>",
                        escape(url),
                        escape(name)
                    )
                })
                .collect();
            let _ = write!(
                h,
                "<tr class=\"executor-row {}\" data-executor=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"wrap\">{}</td><td>{}</td></tr>",
                if alive { "active" } else { "dead" },
                escape(id),
                escape(id),
                escape(&e.host),
                if alive { "Active" } else { "Dead" },
                e.blocks.len(),
                e.cores,
                e.tasks.active,
                e.tasks.failed,
                e.tasks.completed,
                e.tasks.total(),
                duration(e.task_ms),
                bytes(e.io.input_bytes),
                bytes(e.io.shuffle_read_bytes()),
                bytes(e.io.shuffle_write_bytes),
                logs.join(" "),
                date(e.add_ms),
                e.remove_ms.map(date).unwrap_or_default(),
                escape(e.remove_reason.as_deref().unwrap_or("")),
                escape(&e.container),
            );
        }
        h.push_str("</tbody></table><h2>Executor timeline</h2>");
        h.push_str(&self.timeline_svg(end));
        h
    }
}

/// `12.0 KiB / 40` (bytes and records), or just the bytes when no records are known.
fn io_cell(b: u64, records: u64) -> String {
    if records == 0 {
        bytes(b)
    } else {
        format!("{} / {records}", bytes(b))
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

/// A task progress bar: succeeded (and running) out of total, with the failed and
/// killed attempts said in words, as Spark's pages do.
fn progress(counts: &TaskCounts, total: u32) -> String {
    let TaskCounts {
        active,
        completed: done,
        failed,
        killed,
    } = *counts;
    let t = total.max(1) as f64;
    let ok = (100.0 * done.min(total) as f64 / t).min(100.0);
    let run = (100.0 * active as f64 / t).min(100.0 - ok);
    let mut notes = String::new();
    if failed > 0 {
        notes += &format!(" ({failed} failed)");
    }
    if killed > 0 {
        notes += &format!(" ({killed} killed)");
    }
    format!(
        "<div class=\"bar\"><div class=\"ok\" style=\"width:{ok:.1}%\"></div>\
         <div class=\"run\" style=\"left:{ok:.1}%;width:{run:.1}%\"></div>\
         <span>{done}/{total}{notes}</span></div>"
    )
}
