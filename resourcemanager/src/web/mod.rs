//! The RM's web server: Hadoop YARN's REST API under `/ws/v1/cluster/`, the
//! web UI under `/cluster` (server-rendered HTML, no JavaScript, nothing
//! fetched from elsewhere), finished applications' UI from their event logs
//! under `/cluster/app/{id}/history/`, every application's tracking URL under
//! `/proxy/{id}/` (the web proxy), and Prometheus metrics at `/metrics`.
//!
//! HTTPS with the cluster's certificate by default; plain HTTP only on a
//! loopback address (the configuration refuses anything else).

mod auth;
mod history;
mod pages;
mod proxy;
pub mod rest;

use crate::config::RmConfig;
use crate::service::Rm;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use daemon::https::{ClientCerts, WebError, WebListener};
use std::sync::Arc;

pub use crate::links::Links;

/// Binds the web address (when one is configured) and works out its links.
pub(crate) async fn bind(config: &RmConfig) -> Result<Option<(WebListener, Links)>, WebError> {
    if config.web_address.is_empty() {
        return Ok(None);
    }
    let files = config.tls_files();
    let tls = config.web_tls.then_some((&files, ClientCerts::Optional));
    let listener = WebListener::bind(&config.web_address, tls).await?;
    let scheme = listener.scheme();
    let links = Links {
        scheme,
        base: format!(
            "{scheme}://{}",
            listener.advertised(&common::hostname::this_host())
        ),
        history_dir: (!config.history_dir.as_os_str().is_empty())
            .then(|| config.history_dir.clone()),
    };
    tracing::info!(address = %listener.local_addr(), url = %links.base, "web server listening");
    Ok(Some((listener, links)))
}

/// What every handler reads: the RM and how it is reached.
pub(crate) struct Web {
    pub rm: Arc<Rm>,
    pub links: Links,
    /// Checks bearer tokens.
    pub tokens: Arc<crate::web_tokens::WebTokens>,
    /// Anonymous clients may read (`web-anonymous-read`).
    pub anonymous_read: bool,
}

impl Web {
    /// What `viewer` may see of the cluster: every node, the apps it may view.
    pub(crate) fn snapshot(&self, viewer: &auth::Viewer) -> rest::Snapshot {
        let now = crate::service::read_clocks();
        let links = &self.links;
        self.rm.with_state(|s| rest::Snapshot {
            cluster_ts: s.cluster_ts(),
            started_ms: self.rm.started_ms(),
            now_ms: now.wall_ms,
            apps: s
                .list_for(&[], viewer.name(), now)
                .into_iter()
                .map(|r| links.public_report(r))
                .collect(),
            elapsed_ms: s.elapsed(now),
            nodes: s.node_reports(),
            pending: s.pending_asks(),
            max_allocation: s.limits().max_allocation,
            scheduler: s.scheduler_kind(),
            queues: s.queue_views(),
        })
    }
}

async fn metrics(axum::extract::State(w): axum::extract::State<Arc<Web>>) -> Response {
    let now = crate::service::read_clocks();
    daemon::metrics::response(w.rm.with_state(|s| w.rm.metrics().render(s, now)))
}

async fn fallback(uri: Uri) -> Response {
    if uri.path().starts_with("/ws/") {
        return rest::remote_exception(
            StatusCode::NOT_FOUND,
            &format!("java.lang.Exception: no such resource {}", uri.path()),
        );
    }
    pages::not_found(&format!("No page at {}", uri.path()))
}

pub(crate) fn router(web: Arc<Web>) -> Router {
    Router::new()
        .merge(rest::router())
        .merge(pages::router())
        .merge(history::router())
        .merge(proxy::router())
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            auth::viewer,
        ))
        .with_state(web)
}

/// Serves `listener` until the task is aborted.
pub(crate) fn spawn(listener: WebListener, web: Arc<Web>) -> tokio::task::JoinHandle<()> {
    listener.serve(router(web))
}
