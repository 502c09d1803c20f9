//! The RM's web server: Hadoop YARN's REST API under `/ws/v1/cluster/`, the
//! web UI under `/cluster` (server-rendered HTML, no JavaScript, nothing
//! fetched from elsewhere), finished applications' UI from their event logs
//! under `/cluster/app/{id}/history/`, and Prometheus metrics at `/metrics`.
//!
//! HTTPS with the cluster's certificate by default; plain HTTP only on a
//! loopback address (the configuration refuses anything else).

mod history;
mod pages;
pub mod rest;
pub mod tls;

use crate::config::RmConfig;
use crate::service::Rm;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::protocol::ApplicationReport;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use tls::is_loopback;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    #[error("web-address {addr}: cannot listen: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("web server TLS: {0}")]
    Tls(String),
}

/// How the RM's web server is reached, for links and tracking URLs.
#[derive(Debug, Clone)]
pub struct Links {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// `scheme://host:port`, no trailing slash.
    pub base: String,
    /// Where finished applications' event logs are (`history-dir`).
    pub history_dir: Option<PathBuf>,
}

impl Links {
    /// The event log of `app` in the history dir, when it is there.
    pub fn event_log(&self, app: &str) -> Option<PathBuf> {
        let p = self.history_dir.as_ref()?.join(format!("{app}.jsonl"));
        p.is_file().then_some(p)
    }

    /// What a finished application's tracking URL becomes: the RM's history
    /// view of its UI when its event log is here, else its RM page.
    pub fn finished_tracking_url(&self, app: &str) -> String {
        if self.event_log(app).is_some() {
            format!("{}/cluster/app/{app}/history/", self.base)
        } else {
            format!("{}/cluster/app/{app}", self.base)
        }
    }

    /// A report as clients see it: a finished application's tracking URL
    /// points to the RM (its AM's server is gone).
    pub fn public_report(&self, mut r: ApplicationReport) -> ApplicationReport {
        if r.state.is_terminal() {
            r.tracking_url = self.finished_tracking_url(&r.id.to_string());
        }
        r
    }
}

/// A bound, not yet serving, web listener.
pub(crate) enum Bound {
    Plain(tokio::net::TcpListener),
    Tls(tls::TlsListener),
}

/// Binds the web address (when one is configured) and works out its links.
pub(crate) async fn bind(config: &RmConfig) -> Result<Option<(Bound, Links)>, WebError> {
    if config.web_address.is_empty() {
        return Ok(None);
    }
    let bind_err = |source| WebError::Bind {
        addr: config.web_address.clone(),
        source,
    };
    let tcp = tokio::net::TcpListener::bind(&config.web_address)
        .await
        .map_err(bind_err)?;
    let local = tcp.local_addr().map_err(bind_err)?;
    let (bound, scheme) = if config.web_tls {
        let cfg =
            tls::server_config(&config.ca, &config.cert, &config.key).map_err(WebError::Tls)?;
        let l = tls::TlsListener::new(tcp, cfg).map_err(bind_err)?;
        (Bound::Tls(l), "https")
    } else {
        (Bound::Plain(tcp), "http")
    };
    let links = Links {
        scheme,
        base: format!("{scheme}://{}", advertised(local)),
        history_dir: (!config.history_dir.as_os_str().is_empty())
            .then(|| config.history_dir.clone()),
    };
    tracing::info!(address = %local, url = %links.base, "web server listening");
    Ok(Some((bound, links)))
}

/// `host:port` others reach `local` at: the host name when bound to every interface.
fn advertised(local: SocketAddr) -> String {
    let host = if local.ip().is_unspecified() {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    } else if local.is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    format!("{host}:{}", local.port())
}

/// What every handler reads: the RM and how it is reached.
pub(crate) struct Web {
    pub rm: Arc<Rm>,
    pub links: Links,
}

impl Web {
    pub(crate) fn snapshot(&self) -> rest::Snapshot {
        let now = crate::service::read_clocks();
        let links = &self.links;
        self.rm.with_state(|s| rest::Snapshot {
            cluster_ts: s.cluster_ts(),
            started_ms: self.rm.started_ms(),
            now_ms: now.wall_ms,
            apps: s
                .list(&[], now)
                .into_iter()
                .map(|r| links.public_report(r))
                .collect(),
            elapsed_ms: s.elapsed(now),
            nodes: s.node_reports(),
            pending: s.pending_asks(),
            max_allocation: s.limits().max_allocation,
        })
    }
}

async fn metrics(axum::extract::State(w): axum::extract::State<Arc<Web>>) -> Response {
    let now = crate::service::read_clocks();
    let body = w.rm.with_state(|s| w.rm.metrics().render(s, now));
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
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
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .with_state(web)
}

/// Serves `bound` until the task is aborted.
pub(crate) fn spawn(bound: Bound, web: Arc<Web>) -> tokio::task::JoinHandle<()> {
    let app = router(web);
    tokio::spawn(async move {
        let r = match bound {
            Bound::Plain(l) => {
                axum::serve(l, app.into_make_service_with_connect_info::<tls::Peer>()).await
            }
            Bound::Tls(l) => {
                axum::serve(l, app.into_make_service_with_connect_info::<tls::Peer>()).await
            }
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "web server stopped");
        }
    })
}
