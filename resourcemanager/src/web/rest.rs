//! Hadoop YARN's ResourceManager REST API (`/ws/v1/cluster/...`), JSON only,
//! in YARN's shapes and field names so YARN clients and scripts read it.
//!
//! The builders are pure functions of a [`Snapshot`] of the RM's state; the
//! handlers take the snapshot under the state lock and answer from it.

use super::auth::Viewer;
use super::{Links, Web};
use crate::metrics::RmEvent;
use crate::scheduler::{QueueView, SchedulerKind};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use common::protocol::{
    ApplicationReport, AttemptReport, FinalApplicationStatus, NodeReport, NodeState,
    YarnApplicationState as AppState,
};
use common::{ApplicationId, Resource};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use daemon::https::Peer;

/// What the REST answers are computed from: one consistent read of the state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub cluster_ts: u64,
    /// When the RM started (wall clock).
    pub started_ms: u64,
    /// Now, on the wall clock.
    pub now_ms: u64,
    pub apps: Vec<ApplicationReport>,
    /// How long each unfinished application has been running, on the
    /// monotonic clock ([`RmState::elapsed`](crate::state::RmState::elapsed)).
    pub elapsed_ms: BTreeMap<ApplicationId, u64>,
    pub nodes: Vec<NodeReport>,
    /// Containers asked for and not yet allocated, per application.
    pub pending: Vec<(ApplicationId, u32)>,
    pub max_allocation: Resource,
    pub scheduler: SchedulerKind,
    /// Every queue, depth first from root (FIFO: `default` alone).
    pub queues: Vec<QueueView>,
}

impl Snapshot {
    pub fn node(&self, id: &str) -> Option<&NodeReport> {
        self.nodes.iter().find(|n| n.node_id.0 == id)
    }

    /// Capacity and use of the RUNNING nodes: (total, allocated).
    pub fn capacity(&self) -> (Resource, Resource) {
        let mut total = Resource::ZERO;
        let mut used = Resource::ZERO;
        for n in &self.nodes {
            if n.state == NodeState::RUNNING {
                total = total.add(&n.capability);
            }
            used = used.add(&n.used);
        }
        (total, used)
    }

    /// An application's elapsed time: finish minus start once it has ended
    /// (as YARN), else how long it has been running on the monotonic clock, so
    /// a wall-clock step does not move it. An application the snapshot has no
    /// running time for (one built by hand) falls back to the wall clock.
    pub fn elapsed(&self, r: &ApplicationReport) -> u64 {
        if r.finish_time > 0 {
            return r.finish_time.saturating_sub(r.start_time);
        }
        self.elapsed_ms
            .get(&r.id)
            .copied()
            .unwrap_or_else(|| self.now_ms.saturating_sub(r.start_time))
    }

    fn count_apps(&self, f: impl Fn(AppState) -> bool) -> usize {
        self.apps.iter().filter(|a| f(a.state)).count()
    }

    fn count_nodes(&self, s: NodeState) -> usize {
        self.nodes.iter().filter(|n| n.state == s).count()
    }
}

// ---------------------------------------------------------------- errors

/// YARN's error body: `{"RemoteException":{"exception","message","javaClassName"}}`.
pub fn remote_exception(status: StatusCode, message: &str) -> Response {
    let (exception, class) = match status {
        StatusCode::NOT_FOUND => (
            "NotFoundException",
            "org.apache.hadoop.yarn.webapp.NotFoundException",
        ),
        StatusCode::BAD_REQUEST => (
            "BadRequestException",
            "org.apache.hadoop.yarn.webapp.BadRequestException",
        ),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => (
            "AuthorizationException",
            "org.apache.hadoop.security.authorize.AuthorizationException",
        ),
        _ => (
            "WebApplicationException",
            "javax.ws.rs.WebApplicationException",
        ),
    };
    (
        status,
        Json(json!({
            "RemoteException": {
                "exception": exception,
                "message": message,
                "javaClassName": class,
            }
        })),
    )
        .into_response()
}

/// An error answer: its status and message, sent as a `RemoteException`.
#[derive(Debug)]
pub struct RestError {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        remote_exception(self.status, &self.message)
    }
}

fn app_not_found(id: &str) -> RestError {
    RestError {
        status: StatusCode::NOT_FOUND,
        message: format!("java.lang.Exception: app with id: {id} not found"),
    }
}

/// Parses an application id as YARN does: malformed is a 400.
fn parse_app_id(id: &str) -> Result<ApplicationId, RestError> {
    id.parse().map_err(|_| RestError {
        status: StatusCode::BAD_REQUEST,
        message: format!("java.lang.IllegalArgumentException: Invalid ApplicationId: {id}"),
    })
}

// ---------------------------------------------------------------- builders

pub fn cluster_info(s: &Snapshot) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "clusterInfo": {
            "id": s.cluster_ts,
            "startedOn": s.started_ms,
            "state": "STARTED",
            "haState": "ACTIVE",
            "rmStateStoreName": "spindle.resourcemanager.StateStore",
            "resourceManagerVersion": version,
            "resourceManagerBuildVersion": format!("spindle {version}"),
            "resourceManagerVersionBuiltOn": "",
            "hadoopVersion": version,
            "hadoopBuildVersion": format!("spindle {version}"),
            "hadoopVersionBuiltOn": "",
            "haZooKeeperConnectionState": "ResourceManager HA is not enabled.",
        }
    })
}

pub fn cluster_metrics(s: &Snapshot) -> Value {
    let (total, used) = s.capacity();
    let avail = total.saturating_sub(&used);
    let pending: u64 = s.pending.iter().map(|(_, n)| *n as u64).sum();
    let containers: u64 = s.apps.iter().map(|a| a.running_containers as u64).sum();
    let active = s.count_nodes(NodeState::RUNNING);
    let lost = s.count_nodes(NodeState::LOST);
    let unhealthy = s.count_nodes(NodeState::UNHEALTHY);
    let decommissioned = s.count_nodes(NodeState::DECOMMISSIONED);
    let decommissioning = s.count_nodes(NodeState::DECOMMISSIONING);
    let shutdown = s.count_nodes(NodeState::SHUTDOWN);
    json!({
        "clusterMetrics": {
            "appsSubmitted": s.apps.len(),
            "appsCompleted": s.count_apps(|a| a == AppState::FINISHED),
            "appsPending": s.count_apps(|a| matches!(a, AppState::NEW | AppState::NEW_SAVING | AppState::SUBMITTED | AppState::ACCEPTED)),
            "appsRunning": s.count_apps(|a| a == AppState::RUNNING),
            "appsFailed": s.count_apps(|a| a == AppState::FAILED),
            "appsKilled": s.count_apps(|a| a == AppState::KILLED),
            "reservedMB": 0,
            "availableMB": avail.memory_mb,
            "allocatedMB": used.memory_mb,
            "totalMB": total.memory_mb,
            "reservedVirtualCores": 0,
            "availableVirtualCores": avail.vcores,
            "allocatedVirtualCores": used.vcores,
            "totalVirtualCores": total.vcores,
            "containersAllocated": containers,
            "containersReserved": 0,
            "containersPending": pending,
            "totalNodes": active + lost + unhealthy + decommissioning + decommissioned + shutdown,
            "activeNodes": active,
            "lostNodes": lost,
            "unhealthyNodes": unhealthy,
            "decommissioningNodes": decommissioning,
            "decommissionedNodes": decommissioned,
            "rebootedNodes": 0,
            "shutdownNodes": shutdown,
        }
    })
}

fn resource_json(r: &Resource) -> Value {
    json!({ "memory": r.memory_mb, "vCores": r.vcores })
}

/// One queue of YARN's `capacityScheduler` shape, with its children nested.
fn queue_json(qs: &[QueueView], i: usize) -> Value {
    let q = &qs[i];
    let children: Vec<Value> = (i + 1..qs.len())
        .take_while(|&j| qs[j].depth > q.depth)
        .filter(|&j| qs[j].depth == q.depth + 1)
        .map(|j| queue_json(qs, j))
        .collect();
    let mut v = json!({
        "queuePath": q.path,
        "queueName": q.name,
        "capacity": q.capacity,
        "usedCapacity": q.used_capacity,
        "maxCapacity": q.maximum_capacity,
        "absoluteCapacity": q.absolute_capacity,
        "absoluteMaxCapacity": q.absolute_maximum_capacity,
        "absoluteUsedCapacity": q.absolute_used_capacity,
        "numApplications": q.num_applications,
        "numContainers": q.num_containers,
        "resourcesUsed": resource_json(&q.used),
        "state": q.state,
        "hideReservationQueues": false,
    });
    let obj = v.as_object_mut().expect("an object");
    if q.leaf {
        obj.insert("type".into(), json!("capacitySchedulerLeafQueueInfo"));
        obj.insert(
            "numActiveApplications".into(),
            json!(q.num_active_applications),
        );
        obj.insert(
            "numPendingApplications".into(),
            json!(q.num_pending_applications),
        );
        obj.insert("maxApplications".into(), json!(q.maximum_applications));
        obj.insert(
            "maxApplicationsPerUser".into(),
            json!(q.maximum_applications),
        );
        obj.insert("userLimit".into(), json!(q.minimum_user_limit_percent));
        obj.insert("userLimitFactor".into(), json!(q.user_limit_factor));
        obj.insert(
            "maxAMLimitPercentage".into(),
            json!(q.maximum_am_resource_percent * 100.0),
        );
        obj.insert("AMResourceLimit".into(), resource_json(&q.am_limit));
        obj.insert("usedAMResource".into(), resource_json(&q.am_used));
        obj.insert("orderingPolicyInfo".into(), json!(q.ordering_policy));
        let users: Vec<Value> = q
            .users
            .iter()
            .map(|(u, r)| json!({ "username": u, "resourcesUsed": resource_json(r) }))
            .collect();
        obj.insert("users".into(), json!({ "user": users }));
    } else {
        obj.insert("queues".into(), json!({ "queue": children }));
    }
    v
}

pub fn scheduler(s: &Snapshot) -> Value {
    if s.scheduler == SchedulerKind::Capacity && !s.queues.is_empty() {
        let root = &s.queues[0];
        let children: Vec<Value> = (1..s.queues.len())
            .filter(|&j| s.queues[j].depth == 1)
            .map(|j| queue_json(&s.queues, j))
            .collect();
        return json!({
            "scheduler": {
                "schedulerInfo": {
                    "type": "capacityScheduler",
                    "capacity": 100.0,
                    "usedCapacity": root.used_capacity,
                    "maxCapacity": 100.0,
                    "queueName": "root",
                    "queuePath": "root",
                    "queues": { "queue": children },
                }
            }
        });
    }
    fifo_scheduler(s)
}

fn fifo_scheduler(s: &Snapshot) -> Value {
    let (total, used) = s.capacity();
    let avail = total.saturating_sub(&used);
    let used_capacity = if total.memory_mb == 0 {
        0.0
    } else {
        used.memory_mb as f64 / total.memory_mb as f64
    };
    let containers: u64 = s.apps.iter().map(|a| a.running_containers as u64).sum();
    json!({
        "scheduler": {
            "schedulerInfo": {
                "type": "fifoScheduler",
                "capacity": 1.0,
                "usedCapacity": used_capacity,
                "qstate": "RUNNING",
                "minQueueMemoryCapacity": 1,
                "maxQueueMemoryCapacity": s.max_allocation.memory_mb,
                "numNodes": s.count_nodes(NodeState::RUNNING),
                "usedNodeCapacity": used.memory_mb,
                "availNodeCapacity": avail.memory_mb,
                "totalNodeCapacity": total.memory_mb,
                "numContainers": containers,
            }
        }
    })
}

/// `scheme://nm-http/node/containerlogs/<container>/<user>` (YARN's link).
pub fn container_logs_link(
    links: &Links,
    node: Option<&NodeReport>,
    container: &str,
    user: &str,
) -> Option<String> {
    let http = node.map(|n| n.http_address.as_str()).unwrap_or("");
    (!http.is_empty()).then(|| {
        format!(
            "{}://{http}/node/containerlogs/{container}/{user}",
            links.scheme
        )
    })
}

pub fn app(s: &Snapshot, links: &Links, r: &ApplicationReport) -> Value {
    let (total, _) = s.capacity();
    let am_node = r.am_node().and_then(|n| s.node(&n.0));
    let elapsed = s.elapsed(r);
    let usage = if total.memory_mb == 0 {
        0.0
    } else {
        100.0 * r.allocated.memory_mb as f64 / total.memory_mb as f64
    };
    let tracking_ui = if r.tracking_url.is_empty() {
        "UNASSIGNED"
    } else if r.state.is_terminal() {
        "History"
    } else {
        "ApplicationMaster"
    };
    let launch = r.attempts.last().map_or(0, |a| a.start_time);
    let mut v = json!({
        "id": r.id.to_string(),
        "user": r.user,
        "name": r.name,
        "queue": r.queue,
        "state": r.state.to_string(),
        "finalStatus": r.final_status.to_string(),
        "progress": (f64::from(r.progress) * 100.0),
        "trackingUI": tracking_ui,
        "trackingUrl": r.tracking_url,
        "diagnostics": r.diagnostics,
        "clusterId": s.cluster_ts,
        "applicationType": r.app_type,
        "applicationTags": "",
        "priority": 0,
        "startedTime": r.start_time,
        "launchTime": launch,
        "finishedTime": r.finish_time,
        "elapsedTime": elapsed,
        "allocatedMB": r.allocated.memory_mb,
        "allocatedVCores": r.allocated.vcores,
        "reservedMB": 0,
        "reservedVCores": 0,
        "runningContainers": r.running_containers,
        "memorySeconds": r.memory_seconds,
        "vcoreSeconds": r.vcore_seconds,
        "queueUsagePercentage": usage,
        "clusterUsagePercentage": usage,
        "queuePath": r.queue_path,
        "preemptedResourceMB": r.preempted.memory_mb,
        "preemptedResourceVCores": r.preempted.vcores,
        "numNonAMContainerPreempted": r.preempted.non_am_containers,
        "numAMContainerPreempted": r.preempted.am_containers,
        "preemptedMemorySeconds": 0,
        "preemptedVcoreSeconds": 0,
        "logAggregationStatus": "DISABLED",
        "unmanagedApplication": false,
        "amNodeLabelExpression": "",
    });
    // As YARN: the AM fields appear once the AM container is placed.
    if let (Some(obj), Some(c)) = (v.as_object_mut(), r.am_container()) {
        if let Some(n) = am_node {
            obj.insert("amHostHttpAddress".into(), json!(n.http_address));
            obj.insert("masterNodeId".into(), json!(n.node_id.0));
        }
        if let Some(l) = container_logs_link(links, am_node, &c.to_string(), &r.user) {
            obj.insert("amContainerLogs".into(), json!(l));
        }
        if !r.am_host.is_empty() {
            obj.insert("amRPCAddress".into(), json!(r.am_host));
        }
    }
    v
}

fn attempt_state(r: &ApplicationReport, a: &AttemptReport, current: bool) -> &'static str {
    if !current {
        // An earlier attempt ended by failing (or by an RM restart).
        return "FAILED";
    }
    match r.state {
        AppState::FINISHED => "FINISHED",
        AppState::KILLED => "KILLED",
        AppState::FAILED => "FAILED",
        AppState::RUNNING => "RUNNING",
        _ if a.container.is_some() => "LAUNCHED",
        _ => "SCHEDULED",
    }
}

pub fn attempts(s: &Snapshot, links: &Links, r: &ApplicationReport) -> Value {
    let n = r.attempts.len();
    let list: Vec<Value> = r
        .attempts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let node = a.node.as_ref().and_then(|id| s.node(&id.0));
            let container = a.container.map(|c| c.to_string()).unwrap_or_default();
            json!({
                "id": a.id.attempt,
                "startTime": a.start_time,
                "finishedTime": a.finish_time,
                "containerId": container,
                "nodeHttpAddress": node.map(|n| n.http_address.clone()).unwrap_or_default(),
                "nodeId": a.node.as_ref().map(|n| n.0.clone()).unwrap_or_default(),
                "logsLink": container_logs_link(links, node, &container, &r.user).unwrap_or_default(),
                "blacklistedNodes": "",
                "nodesBlacklistedBySystem": "",
                "appAttemptId": a.id.to_string(),
                "appAttemptState": attempt_state(r, a, i + 1 == n),
                "diagnosticsInfo": a.diagnostics,
            })
        })
        .collect();
    json!({ "appAttempts": { "appAttempt": list } })
}

pub fn node(n: &NodeReport) -> Value {
    let avail = n.capability.saturating_sub(&n.used);
    let host = n
        .node_id
        .0
        .rsplit_once(':')
        .map_or(n.node_id.0.as_str(), |(h, _)| h);
    let res = |r: &Resource| json!({"memory": r.memory_mb, "vCores": r.vcores});
    json!({
        "rack": "/default-rack",
        "state": n.state.to_string(),
        "id": n.node_id.0,
        "nodeHostName": host,
        "nodeHTTPAddress": n.http_address,
        "lastHealthUpdate": n.last_health_update,
        "version": env!("CARGO_PKG_VERSION"),
        "healthReport": n.health_report,
        "numContainers": n.num_containers,
        "usedMemoryMB": n.used.memory_mb,
        "availMemoryMB": avail.memory_mb,
        "usedVirtualCores": n.used.vcores,
        "availableVirtualCores": avail.vcores,
        "usedResource": res(&n.used),
        "availableResource": res(&avail),
        "totalResource": res(&n.capability),
        "isolation": n.isolation.mode.as_str(),
        "containersRunAsUser": n.isolation.run_as_user,
        "decommissioningTimeout": n.decommissioning_timeout_s,
    })
}

pub fn nodes(s: &Snapshot, states: &[NodeState]) -> Value {
    let list: Vec<Value> = s
        .nodes
        .iter()
        .filter(|n| states.is_empty() || states.contains(&n.state))
        .map(node)
        .collect();
    if list.is_empty() {
        return json!({ "nodes": null });
    }
    json!({ "nodes": { "node": list } })
}

// ---------------------------------------------------------------- filters

/// The `/apps` query: `states` (comma-separated), `state` (deprecated),
/// `finalStatus`, `user`, `queue`, `applicationTypes`, `limit`,
/// `startedTimeBegin/End`, `finishedTimeBegin/End`.
#[derive(Debug, Default, PartialEq)]
pub struct AppFilter {
    pub states: Vec<AppState>,
    pub final_status: Option<FinalApplicationStatus>,
    pub user: Option<String>,
    pub queue: Option<String>,
    pub types: Vec<String>,
    pub limit: Option<usize>,
    pub started: (Option<u64>, Option<u64>),
    pub finished: (Option<u64>, Option<u64>),
}

fn bad_request(msg: String) -> RestError {
    RestError {
        status: StatusCode::BAD_REQUEST,
        message: format!("java.lang.Exception: {msg}"),
    }
}

pub fn parse_app_state(s: &str) -> Result<AppState, String> {
    s.trim().to_ascii_uppercase().parse().map_err(|_| {
        format!(
            "Invalid application-state {} specified. It should be one of NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED",
            s.trim()
        )
    })
}

impl AppFilter {
    pub fn parse(q: &HashMap<String, String>) -> Result<Self, RestError> {
        let mut f = Self::default();
        let mut states = Vec::new();
        if let Some(s) = q.get("state") {
            states.push(s.as_str());
        }
        if let Some(s) = q.get("states") {
            states.extend(s.split(',').filter(|s| !s.trim().is_empty()));
        }
        for s in states {
            f.states.push(parse_app_state(s).map_err(bad_request)?);
        }
        if let Some(s) = q.get("finalStatus") {
            f.final_status = Some(match s.trim().to_ascii_uppercase().as_str() {
                "UNDEFINED" => FinalApplicationStatus::UNDEFINED,
                "SUCCEEDED" => FinalApplicationStatus::SUCCEEDED,
                "FAILED" => FinalApplicationStatus::FAILED,
                "KILLED" => FinalApplicationStatus::KILLED,
                _ => {
                    return Err(bad_request(format!(
                        "Invalid final-status {s} specified. It should be one of UNDEFINED, SUCCEEDED, FAILED, KILLED"
                    )))
                }
            });
        }
        f.user = q.get("user").filter(|s| !s.is_empty()).cloned();
        f.queue = q.get("queue").filter(|s| !s.is_empty()).cloned();
        if let Some(t) = q.get("applicationTypes") {
            f.types = t
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect();
        }
        let num = |key: &str| -> Result<Option<u64>, RestError> {
            match q.get(key) {
                None => Ok(None),
                Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                    bad_request(format!("{key} must be a non-negative number, not {v:?}"))
                }),
            }
        };
        if let Some(l) = num("limit")? {
            if l == 0 {
                return Err(bad_request("limit value must be greater then 0".into()));
            }
            f.limit = Some(l as usize);
        }
        f.started = (num("startedTimeBegin")?, num("startedTimeEnd")?);
        f.finished = (num("finishedTimeBegin")?, num("finishedTimeEnd")?);
        Ok(f)
    }

    pub fn matches(&self, a: &ApplicationReport) -> bool {
        let within = |t: u64, (lo, hi): (Option<u64>, Option<u64>)| {
            lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi)
        };
        (self.states.is_empty() || self.states.contains(&a.state))
            && self.final_status.is_none_or(|f| f == a.final_status)
            && self.user.as_ref().is_none_or(|u| *u == a.user)
            && self
                .queue
                .as_ref()
                .is_none_or(|q| *q == a.queue || *q == a.queue_path)
            && (self.types.is_empty() || self.types.contains(&a.app_type.to_ascii_lowercase()))
            && within(a.start_time, self.started)
            && (self.finished == (None, None)
                || (a.finish_time > 0 && within(a.finish_time, self.finished)))
    }
}

pub fn apps(s: &Snapshot, links: &Links, f: &AppFilter) -> Value {
    let list: Vec<Value> = s
        .apps
        .iter()
        .filter(|a| f.matches(a))
        .take(f.limit.unwrap_or(usize::MAX))
        .map(|a| app(s, links, a))
        .collect();
    if list.is_empty() {
        return json!({ "apps": null });
    }
    json!({ "apps": { "app": list } })
}

// ---------------------------------------------------------------- handlers

type St = State<Arc<Web>>;

fn find<'a>(s: &'a Snapshot, id: &str) -> Result<&'a ApplicationReport, RestError> {
    let app_id = parse_app_id(id)?;
    s.apps
        .iter()
        .find(|a| a.id == app_id)
        .ok_or_else(|| app_not_found(id))
}

async fn info(State(w): St, Extension(viewer): Extension<Viewer>) -> Json<Value> {
    Json(cluster_info(&w.snapshot(&viewer)))
}

async fn metrics(State(w): St, Extension(viewer): Extension<Viewer>) -> Json<Value> {
    Json(cluster_metrics(&w.snapshot(&viewer)))
}

async fn sched(State(w): St, Extension(viewer): Extension<Viewer>) -> Json<Value> {
    Json(scheduler(&w.snapshot(&viewer)))
}

async fn list_apps(
    State(w): St,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match AppFilter::parse(&q) {
        Ok(f) => Json(apps(&w.snapshot(&viewer), &w.links, &f)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The JSON `view` makes of app `id` in the viewer's snapshot, or YARN's not-found.
fn app_view(
    w: &Web,
    viewer: &Viewer,
    id: &str,
    view: impl FnOnce(&Snapshot, &Links, &ApplicationReport) -> Value,
) -> Response {
    let s = w.snapshot(viewer);
    match find(&s, id) {
        Ok(r) => Json(view(&s, &w.links, r)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn one_app(
    State(w): St,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    app_view(&w, &viewer, &id, |s, l, r| json!({ "app": app(s, l, r) }))
}

async fn app_attempts(
    State(w): St,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    app_view(&w, &viewer, &id, attempts)
}

async fn get_state(
    State(w): St,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    app_view(
        &w,
        &viewer,
        &id,
        |_, _, r| json!({ "state": r.state.to_string() }),
    )
}

/// `PUT /ws/v1/cluster/apps/{id}/state` with `{"state":"KILLED"}`.
async fn put_state(
    State(w): St,
    Extension(viewer): Extension<Viewer>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    // Who asks: the user its client certificate (or bearer token) names; anyone else may
    // change nothing.
    let user = match (viewer.0.clone(), &peer.role) {
        (Some(user), _) => user,
        (None, Some(other)) => {
            return remote_exception(
                StatusCode::FORBIDDEN,
                &format!(
                    "changing an application's state needs a user certificate (user:NAME); this is {other}"
                ),
            )
        }
        (None, None) => {
            return remote_exception(
                StatusCode::UNAUTHORIZED,
                "Unable to obtain user name, user not authenticated: changing an application's state needs a user certificate (user:NAME) from the cluster CA, or a bearer token from `spindle token create`",
            )
        }
    };
    let target: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return bad_request(r#"the body must be a JSON object like {"state":"KILLED"}"#.into())
                .into_response()
        }
    };
    let wanted = target.get("state").and_then(Value::as_str).unwrap_or("");
    if !wanted.eq_ignore_ascii_case("KILLED") {
        return bad_request(format!(
            "Only 'KILLED' is allowed as a target state, not {wanted:?}"
        ))
        .into_response();
    }
    let snap = w.snapshot(&viewer);
    let r = match find(&snap, &id) {
        Ok(r) => r.clone(),
        Err(e) => return e.into_response(),
    };
    // The app's ACLs: its owner, its modify ACL or an admin (as the QUIC Kill).
    if let Err(e) = w.rm.with_state(|s| s.check_modify(r.id, &user, "kill")) {
        tracing::warn!(peer = %peer.addr, user, app_id = %r.id, reason = %e.message, "REST kill refused");
        return remote_exception(StatusCode::FORBIDDEN, &e.message);
    }
    if r.state.is_terminal() {
        return Json(json!({ "state": r.state.to_string() })).into_response();
    }
    match w.rm.kill_app(r.id, &user).await {
        Ok(()) => {
            RmEvent::ApplicationKilledOverRest {
                app_id: r.id,
                peer: peer.addr.to_string(),
            }
            .emit(w.rm.metrics(), std::time::Instant::now());
            let state = w
                .snapshot(&viewer)
                .apps
                .iter()
                .find(|a| a.id == r.id)
                .map_or(AppState::KILLED, |a| a.state);
            Json(json!({ "state": state.to_string() })).into_response()
        }
        Err(e) => remote_exception(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn list_nodes(
    State(w): St,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut states = Vec::new();
    if let Some(s) = q.get("states").or_else(|| q.get("state")) {
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            match part.parse::<NodeState>() {
                Ok(st) => states.push(st),
                Err(e) => return bad_request(e).into_response(),
            }
        }
    }
    Json(nodes(&w.snapshot(&viewer), &states)).into_response()
}

async fn one_node(
    State(w): St,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Response {
    let s = w.snapshot(&viewer);
    match s.node(&id) {
        Some(n) => Json(json!({ "node": node(n) })).into_response(),
        None => remote_exception(
            StatusCode::NOT_FOUND,
            &format!("java.lang.Exception: nodeId, {id}, is not found"),
        ),
    }
}

/// YARN's REST paths under `/ws/v1/cluster` (the bare path answers as `info`).
pub(crate) fn router() -> Router<Arc<Web>> {
    let paths = [
        ("", get(info)),
        ("/info", get(info)),
        ("/metrics", get(metrics)),
        ("/scheduler", get(sched)),
        ("/apps", get(list_apps)),
        ("/apps/{id}", get(one_app)),
        ("/apps/{id}/appattempts", get(app_attempts)),
        ("/apps/{id}/state", get(get_state).put(put_state)),
        ("/nodes", get(list_nodes)),
        ("/nodes/{id}", get(one_node)),
    ];
    paths.into_iter().fold(Router::new(), |r, (path, handler)| {
        r.route(&format!("/ws/v1/cluster{path}"), handler)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use common::protocol::AttemptReport;
    use common::NodeId;

    fn links() -> Links {
        Links {
            scheme: "https",
            base: "https://rm:8088".into(),
            history_dir: None,
        }
    }

    pub(crate) fn report(seq: u32, state: AppState) -> ApplicationReport {
        let id = ApplicationId {
            cluster_ts: 1700000000000,
            seq,
        };
        ApplicationReport {
            id,
            current_attempt: Some(id.attempt(1)),
            name: "Bursty".into(),
            user: "alice".into(),
            queue: "default".into(),
            app_type: "SPARK".into(),
            state,
            final_status: FinalApplicationStatus::UNDEFINED,
            diagnostics: String::new(),
            tracking_url: "http://h:1/".into(),
            am_host: "h".into(),
            start_time: 1000,
            finish_time: 0,
            progress: 0.5,
            memory_seconds: 10,
            vcore_seconds: 2,
            allocated: Resource::new(1024, 2),
            running_containers: 2,
            attempts: vec![AttemptReport {
                id: id.attempt(1),
                container: Some(id.attempt(1).container(1)),
                node: Some(NodeId("h:45454".into())),
                start_time: 1001,
                finish_time: 0,
                diagnostics: String::new(),
            }],
            queue_path: "root.default".into(),
            preempted: Default::default(),
        }
    }

    pub(crate) fn snapshot() -> Snapshot {
        Snapshot {
            cluster_ts: 1700000000000,
            started_ms: 1700000000001,
            now_ms: 5000,
            apps: vec![report(1, AppState::RUNNING), report(2, AppState::KILLED)],
            elapsed_ms: BTreeMap::new(),
            nodes: vec![NodeReport {
                node_id: NodeId("h:45454".into()),
                address: "h:45454".into(),
                http_address: "h:8042".into(),
                state: NodeState::RUNNING,
                capability: Resource::new(8192, 8),
                used: Resource::new(1024, 2),
                num_containers: 2,
                last_health_update: 4000,
                isolation: Default::default(),
                health_report: String::new(),
                decommissioning_timeout_s: None,
            }],
            pending: vec![],
            max_allocation: Resource::new(8192, 4),
            scheduler: SchedulerKind::Fifo,
            queues: Vec::new(),
        }
    }

    /// Every key of `v`, with its JSON type.
    fn shape(v: &Value) -> Vec<(String, &'static str)> {
        let mut out: Vec<_> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let t = match v {
                    Value::Null => "null",
                    Value::Bool(_) => "bool",
                    Value::Number(n) if n.is_f64() => "float",
                    Value::Number(_) => "int",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                (k.clone(), t)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn app_has_yarns_fields_and_types() {
        let s = snapshot();
        let v = app(&s, &links(), &s.apps[0]);
        let sh = shape(&v);
        for (k, t) in [
            ("id", "string"),
            ("user", "string"),
            ("name", "string"),
            ("queue", "string"),
            ("state", "string"),
            ("finalStatus", "string"),
            ("progress", "float"),
            ("trackingUI", "string"),
            ("trackingUrl", "string"),
            ("diagnostics", "string"),
            ("clusterId", "int"),
            ("applicationType", "string"),
            ("startedTime", "int"),
            ("finishedTime", "int"),
            ("elapsedTime", "int"),
            ("amContainerLogs", "string"),
            ("amHostHttpAddress", "string"),
            ("allocatedMB", "int"),
            ("allocatedVCores", "int"),
            ("runningContainers", "int"),
            ("memorySeconds", "int"),
            ("vcoreSeconds", "int"),
        ] {
            assert!(
                sh.contains(&(k.to_string(), t)),
                "{k}: {t} missing in {sh:?}"
            );
        }
        assert_eq!(v["progress"], 50.0);
        assert_eq!(v["elapsedTime"], 4000);
        assert_eq!(v["trackingUI"], "ApplicationMaster");
        assert_eq!(
            v["amContainerLogs"],
            "https://h:8042/node/containerlogs/container_1700000000000_0001_01_000001/alice"
        );
    }

    #[test]
    fn filters_and_empty_lists_follow_yarn() {
        let s = snapshot();
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let f = AppFilter::parse(&q(&[("states", "running,accepted")])).unwrap();
        let v = apps(&s, &links(), &f);
        assert_eq!(v["apps"]["app"].as_array().unwrap().len(), 1);
        let f = AppFilter::parse(&q(&[("user", "bob")])).unwrap();
        assert_eq!(apps(&s, &links(), &f), json!({"apps": null}));
        let f = AppFilter::parse(&q(&[("limit", "1")])).unwrap();
        assert_eq!(
            apps(&s, &links(), &f)["apps"]["app"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(AppFilter::parse(&q(&[("states", "BOGUS")])).is_err());
        assert_eq!(nodes(&s, &[NodeState::LOST]), json!({"nodes": null}));
        assert_eq!(
            nodes(&s, &[])["nodes"]["node"][0]["nodeHTTPAddress"],
            "h:8042"
        );
    }

    #[test]
    fn every_tracking_url_is_the_proxys() {
        let l = links();
        let id = |r: &ApplicationReport| r.id.to_string();
        let running = report(1, AppState::RUNNING);
        assert_eq!(
            l.public_report(running.clone()).tracking_url,
            format!("https://rm:8088/proxy/{}/", id(&running))
        );
        let done = report(2, AppState::FINISHED);
        assert_eq!(
            l.public_report(done.clone()).tracking_url,
            format!("https://rm:8088/proxy/{}/", id(&done))
        );
        // No AM yet: none, as YARN's UNASSIGNED.
        let mut waiting = report(3, AppState::ACCEPTED);
        waiting.tracking_url.clear();
        assert_eq!(l.public_report(waiting).tracking_url, "");
    }

    #[test]
    fn metrics_and_scheduler_shapes() {
        let s = snapshot();
        let m = &cluster_metrics(&s)["clusterMetrics"];
        assert_eq!(m["appsSubmitted"], 2);
        assert_eq!(m["appsRunning"], 1);
        assert_eq!(m["appsKilled"], 1);
        assert_eq!(m["totalMB"], 8192);
        assert_eq!(m["allocatedMB"], 1024);
        assert_eq!(m["availableMB"], 7168);
        assert_eq!(m["activeNodes"], 1);
        let sch = &scheduler(&s)["scheduler"]["schedulerInfo"];
        assert_eq!(sch["type"], "fifoScheduler");
        assert_eq!(sch["usedCapacity"], 0.125);
        let a = attempts(&s, &links(), &s.apps[0]);
        let a0 = &a["appAttempts"]["appAttempt"][0];
        assert_eq!(a0["id"], 1);
        assert_eq!(a0["appAttemptState"], "RUNNING");
        assert_eq!(a0["nodeHttpAddress"], "h:8042");
    }

    /// A DECOMMISSIONING node as YARN shows it: its state, its timeout in seconds, the
    /// cluster metrics' count; `states=` filters by it.
    #[test]
    fn decommissioning_and_shutdown_nodes_as_yarn_shows_them() {
        let mut s = snapshot();
        let mut d = s.nodes[0].clone();
        d.node_id = NodeId("h:2".into());
        d.state = NodeState::DECOMMISSIONING;
        d.decommissioning_timeout_s = Some(120);
        let mut off = s.nodes[0].clone();
        off.node_id = NodeId("h:3".into());
        off.state = NodeState::SHUTDOWN;
        off.health_report = "node manager shutting down".into();
        s.nodes.extend([d, off]);
        let all = nodes(&s, &[]);
        let list = all["nodes"]["node"].as_array().unwrap();
        assert_eq!(list[0]["decommissioningTimeout"], Value::Null);
        assert_eq!(list[1]["state"], "DECOMMISSIONING");
        assert_eq!(list[1]["decommissioningTimeout"], 120);
        assert_eq!(list[2]["state"], "SHUTDOWN");
        assert_eq!(list[2]["healthReport"], "node manager shutting down");
        let m = &cluster_metrics(&s)["clusterMetrics"];
        assert_eq!(m["decommissioningNodes"], 1);
        assert_eq!(m["shutdownNodes"], 1);
        assert_eq!(m["totalNodes"], 3);
        let st: NodeState = "decommissioning".parse().unwrap();
        let only = nodes(&s, &[st]);
        assert_eq!(only["nodes"]["node"].as_array().unwrap().len(), 1);
        let e = "GONE".parse::<NodeState>().unwrap_err();
        assert!(
            e.contains("DECOMMISSIONING") && e.contains("SHUTDOWN"),
            "{e}"
        );
    }

    #[test]
    fn capacity_scheduler_shape_nests_queues_as_yarn() {
        use crate::scheduler::{CapacityScheduler, QueueConf, QueueTree, Scheduler};
        let confs = [("a", 50.0), ("b", 50.0), ("b.x", 100.0)]
            .into_iter()
            .map(|(n, c)| {
                (
                    n.to_string(),
                    QueueConf {
                        capacity: Some(c),
                        ..QueueConf::default()
                    },
                )
            })
            .collect();
        let mut cs = CapacityScheduler::new(QueueTree::build(&confs, Default::default()).unwrap());
        let id = ApplicationId::new(1, 1);
        cs.admit(id, "a", "alice").unwrap();
        cs.allocated(id, Resource::new(2048, 1), true);
        let mut s = snapshot();
        s.scheduler = SchedulerKind::Capacity;
        s.queues = cs.queues(Resource::new(8192, 8), &[]);
        let info = &scheduler(&s)["scheduler"]["schedulerInfo"];
        assert_eq!(info["type"], "capacityScheduler");
        let qs = info["queues"]["queue"].as_array().unwrap();
        assert_eq!(qs.len(), 2);
        assert_eq!(
            (&qs[0]["queueName"], &qs[0]["capacity"]),
            (&json!("a"), &json!(50.0))
        );
        assert_eq!(qs[0]["usedCapacity"], 50.0);
        assert_eq!(qs[0]["resourcesUsed"]["memory"], 2048);
        assert_eq!(qs[0]["numApplications"], 1);
        assert_eq!(qs[1]["queuePath"], "root.b");
        let x = &qs[1]["queues"]["queue"][0];
        assert_eq!(
            (&x["queueName"], &x["absoluteCapacity"]),
            (&json!("x"), &json!(50.0))
        );
    }

    #[test]
    fn elapsed_time_runs_on_the_monotonic_clock() {
        let mut s = snapshot();
        // The RM's running time for the app, not the wall clock's now minus start.
        s.elapsed_ms.insert(s.apps[0].id, 1234);
        assert_eq!(app(&s, &links(), &s.apps[0])["elapsedTime"], 1234);
        // A finished app: finish minus start, as YARN.
        let mut done = report(3, AppState::FINISHED);
        done.finish_time = 3500;
        assert_eq!(app(&s, &links(), &done)["elapsedTime"], 2500);
    }
}
