//! The RM's web UI under YARN's paths: `/cluster` (overview),
//! `/cluster/apps` (filterable by state, `/cluster/apps/{STATE}`), `/cluster/app/{id}`,
//! `/cluster/nodes`, `/cluster/node/{id}` (a node's containers), `/cluster/scheduler`;
//! `/` redirects to `/cluster`. Pages fit a 1280 px window. Server-rendered HTML with
//! inline CSS, no JavaScript; live pages refresh themselves.

use super::auth::Viewer;
use super::rest::{self, Snapshot};
use super::Web;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use common::html::escape;
use common::protocol::{ApplicationReport, NodeState, YarnApplicationState as AppState};
use history::{date, duration};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;margin:0;color:#222}\
header{background:#1b5e20;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:baseline}\
header a{color:#c8e6c9;text-decoration:none}header a.active{color:#fff;font-weight:bold}\
.brand{font-weight:bold;margin-right:12px}main{padding:8px 16px}h1{font-size:20px}h2{font-size:16px}\
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
td{white-space:nowrap}td.wrap{white-space:normal;max-width:40em}td.name{white-space:normal;max-width:14em;overflow-wrap:anywhere}\
td small{color:#666}\
th{background:#f5f5f5}.filters a{margin-right:10px}.filters a.active{font-weight:bold}\
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{font-weight:bold}dd{margin:0}\
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:6px}\
.bar{position:relative;width:320px;height:16px;background:#eee;border:1px solid #ccc}.bar .max{position:absolute;top:0;bottom:0;left:0;background:#e3f2fd}.bar .used{position:absolute;top:3px;bottom:3px;left:0;background:#1565c0}.bar .over{background:#ef6c00}.bar .cap{position:absolute;top:-2px;bottom:-2px;width:2px;background:#2e7d32}.state.FAILED,.state.KILLED,.state.LOST{color:#c62828}.state.FINISHED,.state.RUNNING{color:#2e7d32}";

fn layout(title: &str, active: &str, refresh: bool, body: &str) -> Html<String> {
    let nav = common::html::nav(
        "",
        &[
            ("/cluster", "Cluster"),
            ("/cluster/apps", "Applications"),
            ("/cluster/apps/RUNNING", "Running"),
            ("/cluster/apps/FINISHED", "Finished"),
            ("/cluster/apps/FAILED", "Failed"),
            ("/cluster/apps/KILLED", "Killed"),
            ("/cluster/nodes", "Nodes"),
            ("/cluster/scheduler", "Scheduler"),
            ("/metrics", "Metrics"),
        ],
        active,
    );
    let refresh = if refresh {
        "<meta http-equiv=\"refresh\" content=\"3\">"
    } else {
        ""
    };
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <link rel=\"icon\" href=\"data:,\"><title>{t} - Spindle ResourceManager</title>\
         <style>{CSS}</style></head><body><header><span class=\"brand\">Spindle ResourceManager</span>{nav}</header>\
         <main><h1>{t}</h1>{body}</main></body></html>\n",
        t = escape(title),
    ))
}

/// A page that only says something (`status`, a title and a paragraph), reloading
/// itself every 3 s when `refresh` (for what will change soon).
pub(crate) fn notice(status: StatusCode, title: &str, why: &str, refresh: bool) -> Response {
    (
        status,
        layout(title, "", refresh, &format!("<p>{}</p>", escape(why))),
    )
        .into_response()
}

/// A 404 page naming what is missing.
pub(crate) fn not_found(why: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout("Not found", "", false, &format!("<p>{}</p>", escape(why))),
    )
        .into_response()
}

fn mb(v: u64) -> String {
    if v >= 1024 && v.is_multiple_of(1024) {
        format!("{} GB", v / 1024)
    } else {
        format!("{v} MB")
    }
}

fn metrics_table(s: &Snapshot) -> String {
    let m = rest::cluster_metrics(s);
    let m = &m["clusterMetrics"];
    let mut h = String::from("<table id=\"cluster-metrics\"><thead><tr>");
    let cols = [
        ("Apps Submitted", "appsSubmitted"),
        ("Apps Pending", "appsPending"),
        ("Apps Running", "appsRunning"),
        ("Apps Completed", "appsCompleted"),
        ("Apps Failed", "appsFailed"),
        ("Apps Killed", "appsKilled"),
        ("Containers Running", "containersAllocated"),
        ("Containers Pending", "containersPending"),
        ("Memory Used (MB)", "allocatedMB"),
        ("Memory Total (MB)", "totalMB"),
        ("VCores Used", "allocatedVirtualCores"),
        ("VCores Total", "totalVirtualCores"),
        ("Active Nodes", "activeNodes"),
        ("Lost Nodes", "lostNodes"),
        ("Unhealthy Nodes", "unhealthyNodes"),
        ("Decommissioning Nodes", "decommissioningNodes"),
        ("Decommissioned Nodes", "decommissionedNodes"),
        ("Shutdown Nodes", "shutdownNodes"),
    ];
    for (name, _) in cols {
        let _ = write!(h, "<th>{name}</th>");
    }
    h.push_str("</tr></thead><tbody><tr>");
    for (_, key) in cols {
        let _ = write!(h, "<td id=\"{key}\">{}</td>", m[key]);
    }
    h.push_str("</tr></tbody></table>");
    h
}

/// YARN's Tracking UI cell: `UNASSIGNED`, or a link to the AM's UI (History once the
/// app ended), with `attrs` on the link.
fn tracking_link(r: &ApplicationReport, attrs: &str) -> String {
    if r.tracking_url.is_empty() {
        return "UNASSIGNED".to_string();
    }
    let label = if r.state.is_terminal() {
        "History"
    } else {
        "ApplicationMaster"
    };
    format!("<a{attrs} href=\"{}\">{label}</a>", escape(&r.tracking_url))
}

fn apps_table(s: &Snapshot, apps: &[&ApplicationReport]) -> String {
    // YARN's columns, paired where they belong together (start and finish, state and
    // final status, the allocation), so that the table and its Tracking UI column fit
    // a 1280 px window.
    let mut h = String::from(
        "<table id=\"apps\"><thead><tr><th>ID</th><th>User</th><th>Name</th><th>Type</th>\
         <th>Queue</th><th>Started / Finished</th><th>State / FinalStatus</th>\
         <th>Containers</th><th>Allocated</th><th>Progress</th><th>Tracking UI</th></tr></thead><tbody>",
    );
    for a in apps {
        let id = a.id.to_string();
        let ui = tracking_link(a, "");
        let _ = write!(
            h,
            "<tr class=\"app\" data-app=\"{id}\"><td><a href=\"/cluster/app/{id}\">{id}</a></td><td>{}</td>\
             <td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}<br><small>{}</small></td>\
             <td><span class=\"state {st}\">{st}</span><br><small>{}</small></td>\
             <td>{}</td><td>{}<br><small>{} vcores</small></td><td>{:.0}%</td><td>{ui}</td></tr>",
            escape(&a.user),
            escape(&a.name),
            escape(&a.app_type),
            escape(&a.queue),
            date(a.start_time),
            if a.finish_time > 0 { date(a.finish_time) } else { "N/A".into() },
            a.final_status,
            a.running_containers,
            mb(a.allocated.memory_mb),
            a.allocated.vcores,
            a.progress * 100.0,
            st = a.state,
        );
    }
    if apps.is_empty() {
        h.push_str("<tr><td colspan=\"11\">No applications.</td></tr>");
    }
    h.push_str("</tbody></table>");
    let _ = s;
    h
}

async fn overview(State(w): State<Arc<Web>>, Extension(viewer): Extension<Viewer>) -> Html<String> {
    let s = w.snapshot(&viewer);
    let mut body = metrics_table(&s);
    let _ = write!(
        body,
        "<p>Cluster id {} &middot; ResourceManager started {} &middot; scheduler: FIFO \
         (maximum allocation {} MB, {} vcores)</p><h2>Applications</h2>",
        s.cluster_ts,
        date(s.started_ms),
        s.max_allocation.memory_mb,
        s.max_allocation.vcores,
    );
    let mut apps: Vec<&ApplicationReport> = s.apps.iter().collect();
    apps.sort_by_key(|a| std::cmp::Reverse(a.id));
    apps.truncate(50);
    body.push_str(&apps_table(&s, &apps));
    layout("Cluster overview", "Cluster", true, &body)
}

fn apps_page(w: &Web, viewer: &Viewer, state: Option<&str>) -> Response {
    let s = w.snapshot(viewer);
    let wanted: Vec<AppState> = match state {
        None | Some("") => vec![],
        Some(list) => {
            let mut v = Vec::new();
            for part in list.split(',').filter(|p| !p.trim().is_empty()) {
                match rest::parse_app_state(part) {
                    Ok(st) => v.push(st),
                    Err(e) => return not_found(&e),
                }
            }
            v
        }
    };
    let mut filters = String::from("<p class=\"filters\">Show: ");
    for (label, st) in [
        ("All", ""),
        ("NEW", "NEW"),
        ("SUBMITTED", "SUBMITTED"),
        ("ACCEPTED", "ACCEPTED"),
        ("RUNNING", "RUNNING"),
        ("FINISHED", "FINISHED"),
        ("FAILED", "FAILED"),
        ("KILLED", "KILLED"),
    ] {
        let on = state.unwrap_or("").eq_ignore_ascii_case(st);
        let class = if on { " class=\"active\"" } else { "" };
        let href = if st.is_empty() {
            "/cluster/apps".to_string()
        } else {
            format!("/cluster/apps/{st}")
        };
        let _ = write!(filters, "<a{class} href=\"{href}\">{label}</a>");
    }
    filters.push_str("</p>");
    let mut apps: Vec<&ApplicationReport> = s
        .apps
        .iter()
        .filter(|a| wanted.is_empty() || wanted.contains(&a.state))
        .collect();
    apps.sort_by_key(|a| std::cmp::Reverse(a.id));
    let title = match state {
        Some(st) if !st.is_empty() => format!("{} applications", st.to_ascii_uppercase()),
        _ => "All applications".to_string(),
    };
    let body = format!("{}{filters}{}", metrics_table(&s), apps_table(&s, &apps));
    // The nav's per-state link is the active one on its page.
    let active = match state.map(str::to_ascii_uppercase).as_deref() {
        Some("RUNNING") => "Running",
        Some("FINISHED") => "Finished",
        Some("FAILED") => "Failed",
        Some("KILLED") => "Killed",
        _ => "Applications",
    };
    layout(&title, active, true, &body).into_response()
}

async fn apps(
    State(w): State<Arc<Web>>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = q
        .get("states")
        .or_else(|| q.get("state"))
        .map(String::as_str);
    apps_page(&w, &viewer, st)
}

async fn apps_in_state(
    State(w): State<Arc<Web>>,
    Extension(viewer): Extension<Viewer>,
    Path(state): Path<String>,
) -> Response {
    apps_page(&w, &viewer, Some(&state))
}

async fn app(
    State(w): State<Arc<Web>>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    let Ok(app_id) = id.parse::<common::ApplicationId>() else {
        return not_found(&format!("{id} is not an application id"));
    };
    let s = w.snapshot(&viewer);
    let Some(r) = s.apps.iter().find(|a| a.id == app_id) else {
        return not_found(&format!("Application {id} not found"));
    };
    let containers = w.rm.with_state(|st| st.live_containers(app_id));
    let elapsed = s.elapsed(r);
    let mut tracking = tracking_link(r, " id=\"tracking-url\"");
    if !r.tracking_url.is_empty() {
        let _ = write!(tracking, " ({})", escape(&r.tracking_url));
    }
    let mut body = format!(
        "<dl id=\"app-info\"><dt>User</dt><dd>{}</dd><dt>Name</dt><dd>{}</dd>\
         <dt>Application Type</dt><dd>{}</dd><dt>Queue</dt><dd>{}</dd>\
         <dt>YarnApplicationState</dt><dd class=\"state {st}\" id=\"state\">{st}</dd>\
         <dt>FinalStatus Reported by AM</dt><dd id=\"final-status\">{}</dd>\
         <dt>Started</dt><dd>{}</dd><dt>Finished</dt><dd>{}</dd><dt>Elapsed</dt><dd>{}</dd>\
         <dt>Progress</dt><dd>{:.0}%</dd><dt>Tracking URL</dt><dd>{tracking}</dd>\
         <dt>Allocated resources</dt><dd>{} MB, {} vcores in {} container(s)</dd>\
         <dt>Aggregate resource allocation</dt><dd id=\"aggregate\">{} MB-seconds, {} vcore-seconds</dd>\
         <dt>Diagnostics</dt><dd><pre>{}</pre></dd></dl>",
        escape(&r.user),
        escape(&r.name),
        escape(&r.app_type),
        escape(&r.queue),
        r.final_status,
        date(r.start_time),
        if r.finish_time > 0 { date(r.finish_time) } else { "N/A".into() },
        duration(elapsed),
        r.progress * 100.0,
        r.allocated.memory_mb,
        r.allocated.vcores,
        r.running_containers,
        r.memory_seconds,
        r.vcore_seconds,
        escape(&r.diagnostics),
        st = r.state,
    );
    body.push_str(
        "<h2>Attempts</h2><table id=\"attempts\"><thead><tr><th>Attempt ID</th><th>Started</th>\
         <th>Finished</th><th>Node</th><th>AM Container</th><th>Logs</th><th>Diagnostics</th></tr></thead><tbody>",
    );
    let attempts = rest::attempts(&s, &w.links, r);
    for a in attempts["appAttempts"]["appAttempt"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let logs = a["logsLink"].as_str().unwrap_or("");
        let logs = if logs.is_empty() {
            String::new()
        } else {
            format!(
                "<a href=\"{l}/stdout\">stdout</a> <a href=\"{l}/stderr\">stderr</a>",
                l = escape(logs)
            )
        };
        let finished = a["finishedTime"].as_u64().unwrap_or(0);
        let _ = write!(
            body,
            "<tr class=\"attempt\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{logs}</td><td class=\"wrap\">{}</td></tr>",
            escape(a["appAttemptId"].as_str().unwrap_or("")),
            date(a["startTime"].as_u64().unwrap_or(0)),
            if finished > 0 { date(finished) } else { "N/A".into() },
            escape(a["nodeId"].as_str().unwrap_or("")),
            escape(a["containerId"].as_str().unwrap_or("")),
            escape(a["diagnosticsInfo"].as_str().unwrap_or("")),
        );
    }
    body.push_str("</tbody></table>");
    body.push_str(
        "<h2>Running containers</h2><table id=\"containers\"><thead><tr><th>Container</th><th>Kind</th>\
         <th>Node</th><th>Resource</th><th>Started</th><th>Logs</th></tr></thead><tbody>",
    );
    for c in &containers {
        let id = c.id.to_string();
        let _ = write!(
            body,
            "<tr class=\"container\"><td>{id}</td><td>{}</td><td>{}</td><td>{} MB, {} vcores</td><td>{}</td><td>{}</td></tr>",
            if c.am { "AM (driver)" } else { "executor" },
            node_link(&c.node.0),
            c.resource.memory_mb,
            c.resource.vcores,
            date(c.start_ms),
            log_links(&w, &s, &c.node.0, &id, &r.user),
        );
    }
    if containers.is_empty() {
        body.push_str("<tr><td colspan=\"6\">None.</td></tr>");
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        "<p>REST: <a href=\"/ws/v1/cluster/apps/{id}\">/ws/v1/cluster/apps/{id}</a>, \
         <a href=\"/ws/v1/cluster/apps/{id}/appattempts\">appattempts</a></p>"
    );
    layout(
        &format!("Application {id}"),
        "Applications",
        !r.state.is_terminal(),
        &body,
    )
    .into_response()
}

/// Links to a container's stdout and stderr on its NM's log pages (empty when the node
/// serves none).
fn log_links(w: &Web, s: &Snapshot, node: &str, container: &str, user: &str) -> String {
    rest::container_logs_link(&w.links, s.node(node), container, user)
        .map(|l| {
            format!(
                "<a class=\"log\" href=\"{l}/stdout\">stdout</a> <a class=\"log\" href=\"{l}/stderr\">stderr</a>",
                l = escape(&l)
            )
        })
        .unwrap_or_default()
}

/// A node's id, linked to its page.
fn node_link(node: &str) -> String {
    format!("<a href=\"/cluster/node/{n}\">{n}</a>", n = escape(node))
}

/// One node (YARN's NodeManager page, from what the RM knows): its report and the
/// containers on it, with their apps, resources and log links. A container of an app
/// the viewer may not see is left out.
async fn node(
    State(w): State<Arc<Web>>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    let s = w.snapshot(&viewer);
    let Some(n) = s.node(&id) else {
        return not_found(&format!("Node {id} not found"));
    };
    let containers =
        w.rm.with_state(|st| st.node_containers(&common::NodeId(id.clone())));
    let avail = n.capability.saturating_sub(&n.used);
    let http = if n.http_address.is_empty() {
        "none".to_string()
    } else {
        format!(
            "<a href=\"{}://{h}/\">{h}</a>",
            w.links.scheme,
            h = escape(&n.http_address)
        )
    };
    let mut body = format!(
        "<dl id=\"node-info\"><dt>Node</dt><dd>{}</dd><dt>State</dt><dd class=\"state {st}\" id=\"state\">{st}</dd>\
         <dt>Node HTTP address</dt><dd>{http}</dd><dt>Last health update</dt><dd>{}</dd>\
         <dt>Health report</dt><dd>{}</dd><dt>Isolation</dt><dd>{}</dd>\
         <dt>Capability</dt><dd>{}, {} vcores</dd><dt>Used</dt><dd id=\"used\">{}, {} vcores</dd>\
         <dt>Available</dt><dd>{}, {} vcores</dd></dl>",
        escape(&n.node_id.0),
        date(n.last_health_update),
        escape(&n.health_report),
        n.isolation,
        mb(n.capability.memory_mb),
        n.capability.vcores,
        mb(n.used.memory_mb),
        n.used.vcores,
        mb(avail.memory_mb),
        avail.vcores,
        st = n.state,
    );
    body.push_str(
        "<h2>Containers</h2><table id=\"containers\"><thead><tr><th>Container</th><th>Application</th>\
         <th>User</th><th>Kind</th><th>Resource</th><th>Started</th><th>Logs</th></tr></thead><tbody>",
    );
    let mut shown = 0;
    for (c, user) in &containers {
        let app = c.id.app();
        if !s.apps.iter().any(|a| a.id == app) {
            continue;
        }
        shown += 1;
        let cid = c.id.to_string();
        let _ = write!(
            body,
            "<tr class=\"container\"><td>{cid}</td><td><a href=\"/cluster/app/{app}\">{app}</a></td><td>{}</td>\
             <td>{}</td><td>{}, {} vcores</td><td>{}</td><td>{}</td></tr>",
            escape(user),
            if c.am { "AM" } else { "worker" },
            mb(c.resource.memory_mb),
            c.resource.vcores,
            date(c.start_ms),
            log_links(&w, &s, &id, &cid, user),
        );
    }
    if shown == 0 {
        body.push_str("<tr><td colspan=\"7\">None.</td></tr>");
    }
    let _ = write!(
        body,
        "</tbody></table><p>REST: <a href=\"/ws/v1/cluster/nodes/{n}\">/ws/v1/cluster/nodes/{n}</a></p>",
        n = escape(&id)
    );
    layout(&format!("Node {id}"), "Nodes", true, &body).into_response()
}

async fn nodes(State(w): State<Arc<Web>>, Extension(viewer): Extension<Viewer>) -> Html<String> {
    let s = w.snapshot(&viewer);
    let mut body = metrics_table(&s);
    body.push_str(
        "<table id=\"nodes\"><thead><tr><th>Node Address</th><th>Node HTTP Address</th><th>State</th>\
         <th>Last health-update</th><th>Containers</th><th>Mem Used</th><th>Mem Avail</th>\
         <th>VCores Used</th><th>VCores Avail</th></tr></thead><tbody>",
    );
    for n in &s.nodes {
        let avail = n.capability.saturating_sub(&n.used);
        let http = if n.http_address.is_empty() {
            String::new()
        } else {
            format!(
                "<a href=\"{}://{h}/\">{h}</a>",
                w.links.scheme,
                h = escape(&n.http_address)
            )
        };
        let _ = write!(
            body,
            "<tr class=\"node\"><td>{}</td><td>{http}</td><td class=\"state {st}\">{st}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            node_link(&n.node_id.0),
            date(n.last_health_update),
            n.num_containers,
            mb(n.used.memory_mb),
            mb(avail.memory_mb),
            n.used.vcores,
            avail.vcores,
            st = n.state,
        );
    }
    if s.nodes.is_empty() {
        body.push_str("<tr><td colspan=\"9\">No nodes have registered.</td></tr>");
    }
    body.push_str("</tbody></table>");
    let running = s
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::RUNNING)
        .count();
    let _ = write!(
        body,
        "<p>{running} of {} node(s) RUNNING.</p>",
        s.nodes.len()
    );
    layout("Nodes of the cluster", "Nodes", true, &body)
}

/// YARN's scheduler page: each queue's guarantee, maximum and use, as bars (shares
/// of the cluster), then its numbers.
async fn scheduler(
    State(w): State<Arc<Web>>,
    Extension(viewer): Extension<Viewer>,
) -> Html<String> {
    let s = w.snapshot(&viewer);
    let kind = match s.scheduler {
        crate::scheduler::SchedulerKind::Capacity => "Capacity Scheduler",
        crate::scheduler::SchedulerKind::Fifo => "FIFO Scheduler",
    };
    let mut body = metrics_table(&s);
    let _ = write!(
        body,
        "<p>{kind}. Bars are shares of the cluster: light blue up to the maximum capacity,          the green mark at the guarantee, the used share in blue (orange above the guarantee).</p>         <table id=\"queues\"><thead><tr><th>Queue</th><th>Use of the cluster</th><th>Capacity</th>         <th>Max</th><th>Used (of guarantee)</th><th>Used</th><th>Pending</th><th>Apps</th>         <th>Waiting for AM</th><th>AM used / limit</th><th>State</th></tr></thead><tbody>"
    );
    for q in &s.queues {
        let used = q.absolute_used_capacity.min(100.0);
        let over = if q.absolute_used_capacity > q.absolute_capacity + 1e-9 {
            " over"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<tr class=\"queue\"><td style=\"padding-left:{pad}px\">{path}</td><td><div class=\"bar\">             <div class=\"max\" style=\"width:{max:.1}%\"></div><div class=\"used{over}\" style=\"width:{used:.1}%\"></div>             <div class=\"cap\" style=\"left:{cap:.1}%\"></div></div></td>             <td>{c:.1}% ({cap:.1}% abs)</td><td>{m:.1}%</td><td>{uc:.1}%</td><td>{um} MB, {uv} vc</td>             <td>{pm} MB, {pv} vc</td><td>{apps}</td><td>{wait}</td><td>{am} / {aml} MB</td>             <td class=\"state {st}\">{st}</td></tr>",
            pad = 6 + 16 * q.depth,
            path = escape(&q.path),
            max = q.absolute_maximum_capacity,
            cap = q.absolute_capacity,
            c = q.capacity,
            m = q.maximum_capacity,
            uc = q.used_capacity,
            um = q.used.memory_mb,
            uv = q.used.vcores,
            pm = q.pending.memory_mb,
            pv = q.pending.vcores,
            apps = q.num_applications,
            wait = q.num_pending_applications,
            am = q.am_used.memory_mb,
            aml = q.am_limit.memory_mb,
            st = escape(&q.state),
        );
    }
    body.push_str(
        "</tbody></table><p><a href=\"/ws/v1/cluster/scheduler\">As JSON (YARN's REST)</a></p>",
    );
    layout("Scheduler", "Scheduler", true, &body)
}

pub(crate) fn router() -> Router<Arc<Web>> {
    let overview_at = ["/cluster", "/cluster/", "/cluster/cluster"];
    overview_at
        .into_iter()
        .fold(Router::new(), |r, path| r.route(path, get(overview)))
        .route("/", get(|| async { Redirect::to("/cluster") }))
        .route("/cluster/apps", get(apps))
        .route("/cluster/apps/{state}", get(apps_in_state))
        .route("/cluster/app/{id}", get(app))
        .route("/cluster/nodes", get(nodes))
        .route("/cluster/node/{id}", get(node))
        .route("/cluster/scheduler", get(scheduler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_links_the_scheduler_and_per_state_app_pages() {
        let Html(h) = layout("x", "Running", false, "");
        for href in [
            "/cluster/scheduler",
            "/cluster/apps/RUNNING",
            "/cluster/apps/FINISHED",
            "/cluster/apps/FAILED",
            "/cluster/apps/KILLED",
            "/cluster/nodes",
        ] {
            assert!(h.contains(&format!("href=\"{href}\"")), "{href}: {h}");
        }
        assert!(
            h.contains("<a class=\"active\" href=\"/cluster/apps/RUNNING\">"),
            "{h}"
        );
    }

    #[test]
    fn the_apps_table_is_narrow_and_keeps_its_tracking_ui() {
        let s = rest::tests::snapshot();
        let apps: Vec<&ApplicationReport> = s.apps.iter().collect();
        let h = apps_table(&s, &apps);
        let head = &h[..h.find("</thead>").unwrap()];
        assert_eq!(head.matches("<th>").count(), 11, "{head}");
        assert!(head.ends_with("<th>Tracking UI</th></tr>"), "{head}");
        // Every row has a cell per column, the last one the tracking link.
        assert_eq!(h.matches("<tr class=\"app\"").count(), 2);
        assert!(h.contains("<td class=\"name\">Bursty</td>"));
        assert!(
            h.contains(">ApplicationMaster</a></td></tr>") && h.contains(">History</a></td></tr>"),
            "{h}"
        );
    }

    #[test]
    fn node_links_go_to_the_node_page() {
        assert_eq!(
            node_link("h:45454"),
            "<a href=\"/cluster/node/h:45454\">h:45454</a>"
        );
    }
}
