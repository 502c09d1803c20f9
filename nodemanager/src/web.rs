//! The NM's small web server: Prometheus `/metrics` and container logs at
//! YARN's paths (`/node/containerlogs/{container}/{user}[/{file}]`, which the
//! RM's REST API and UI link to as `amContainerLogs`/`logsLink`).
//!
//! HTTPS with the node's certificate by default; plain HTTP only on a
//! loopback address (the configuration refuses anything else).

use crate::containers::ContainerManager;
use crate::lifecycle::PhaseCounts;
use crate::metrics::metrics;
use axum::extract::ConnectInfo;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::html::escape;
use common::identity::Role;
use common::tls::TlsFiles;
use common::ContainerId;
use daemon::https::{unauthenticated, ClientCerts, Peer, WebListener};
use std::collections::HashMap;
use std::path::Path as FsPath;
use std::sync::Arc;

pub use daemon::https::WebError;

/// The running web server.
pub struct WebServer {
    /// Where it listens (`host:port` as the RM should advertise it).
    pub address: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Who may see what: anonymous reads of `/` and `/metrics`, and whether a role may view
/// a container's logs (the NM's app ACL: the owner, an admin, the RM).
pub struct Access {
    pub anonymous_read: bool,
    pub may_view: ViewCheck,
}

/// May this role view this container's application? `Err` says why not.
pub type ViewCheck = Box<dyn Fn(&Role, ContainerId) -> Result<(), String> + Send + Sync>;

struct WebState {
    containers: Arc<ContainerManager>,
    access: Access,
}

/// Starts the web server on `address` (`host` is this node's advertised
/// host name, used when binding every interface); with `tls` (CA,
/// certificate, key) over HTTPS, where a client certificate is optional and
/// names the user of log requests.
pub async fn start(
    address: &str,
    tls: Option<(&FsPath, &FsPath, &FsPath)>,
    host: &str,
    containers: Arc<ContainerManager>,
    access: Access,
) -> Result<WebServer, WebError> {
    let files = tls.map(|(ca, cert, key)| TlsFiles::new(ca, cert, key));
    let listener =
        WebListener::bind(address, files.as_ref().map(|f| (f, ClientCerts::Optional))).await?;
    let local = listener.local_addr();
    let advertised = listener.advertised(host);
    let task = listener.serve(router(Arc::new(WebState { containers, access })));
    tracing::info!(address = %local, advertised = %advertised, tls = tls.is_some(), "web server listening");
    Ok(WebServer {
        address: advertised,
        task,
    })
}

type St = State<Arc<WebState>>;

fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(prometheus))
        .route("/node/containerlogs/{container}/{user}", get(log_index))
        .route("/node/containerlogs/{container}/{user}/", get(log_index))
        .route(
            "/node/containerlogs/{container}/{user}/{file}",
            get(log_file),
        )
        .with_state(state)
}

/// Anonymous reads of the node's views are allowed only when configured so: the refusal,
/// if any.
fn refuse_read(w: &WebState, peer: &Peer, what: &str) -> Option<Response> {
    (peer.role.is_none() && !w.access.anonymous_read).then(|| unauthenticated(what))
}

/// The container whose logs `container` names, if `peer` may read them (only a user who
/// may view its application); else the refusal.
fn log_access(w: &WebState, peer: &Peer, container: &str) -> Result<ContainerId, Box<Response>> {
    let refusal = |r: Response| Err(Box::new(r));
    let Ok(id) = container.parse::<ContainerId>() else {
        return refusal(not_found(format!("{container} is not a container id")));
    };
    let Some(role) = &peer.role else {
        return refusal(unauthenticated(&format!("the logs of {id}")));
    };
    match (w.access.may_view)(role, id) {
        Ok(()) => Ok(id),
        Err(why) => refusal((StatusCode::FORBIDDEN, format!("{why}\n")).into_response()),
    }
}

async fn index(State(w): St, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    if let Some(r) = refuse_read(&w, &peer, "this page") {
        return r;
    }
    let c = &w.containers;
    let PhaseCounts {
        localizing,
        running,
        done,
    } = c.phase_counts();
    axum::response::Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">\
         <title>Spindle NodeManager</title></head><body><h1>Spindle NodeManager</h1>\
         <p>{running} container(s) running, {localizing} localizing, {done} done.</p>\
         <p><a href=\"/metrics\">/metrics</a></p></body></html>\n"
    ))
    .into_response()
}

async fn prometheus(State(w): St, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    if let Some(r) = refuse_read(&w, &peer, "/metrics") {
        return r;
    }
    // The containers' memory is read from /proc: off the async threads.
    let containers = w.containers.clone();
    let usage = tokio::task::spawn_blocking(move || containers.usage())
        .await
        .unwrap_or_default();
    daemon::metrics::response(metrics().render(w.containers.phase_counts(), &usage))
}

fn not_found(why: String) -> Response {
    (StatusCode::NOT_FOUND, format!("{why}\n")).into_response()
}

async fn log_index(
    State(w): St,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path((container, user)): Path<(String, String)>,
) -> Response {
    let id = match log_access(&w, &peer, &container) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let c = &w.containers;
    let mut items = String::new();
    for file in ["stdout", "stderr"] {
        if let Ok((_, size)) = c.read_log(id, file, 0, 0) {
            items.push_str(&format!(
                "<li><a href=\"/node/containerlogs/{container}/{user}/{file}\">{file}</a> ({size} bytes)</li>",
                user = escape(&user),
            ));
        }
    }
    if items.is_empty() {
        return not_found(format!("no logs for {container} on this node"));
    }
    axum::response::Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">\
         <title>Logs of {container}</title></head><body><h1>Logs of {container}</h1><ul>{items}</ul></body></html>\n"
    ))
    .into_response()
}

/// A log file; `?start=N` from byte N, negative from the end (YARN's
/// convention); at most 4 MiB per request.
async fn log_file(
    State(w): St,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Path((container, _user, file)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = match log_access(&w, &peer, &container) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let c = &w.containers;
    let start: i64 = q.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let size = match c.read_log(id, &file, 0, 0) {
        Ok((_, size)) => size,
        Err(e) => return not_found(e.message),
    };
    let offset = if start < 0 {
        size.saturating_sub(start.unsigned_abs())
    } else {
        start as u64
    };
    match c.read_log(id, &file, offset, 4 << 20) {
        Ok((data, _)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], data).into_response()
        }
        Err(e) => not_found(e.message),
    }
}
