//! The NM's small web server: Prometheus `/metrics` and container logs at
//! YARN's paths (`/node/containerlogs/{container}/{user}[/{file}]`, which the
//! RM's REST API and UI link to as `amContainerLogs`/`logsLink`).
//!
//! HTTPS with the node's certificate by default; plain HTTP only on a
//! loopback address (the configuration refuses anything else).

use crate::containers::ContainerManager;
use crate::lifecycle::PhaseCounts;
use crate::metrics::{metrics, CONTENT_TYPE};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::ContainerId;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

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

/// Is `address` (`host:port`) on the loopback interface?
pub fn is_loopback(address: &str) -> bool {
    let host = match address.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => address,
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The running web server.
pub struct WebServer {
    /// Where it listens (`host:port` as the RM should advertise it).
    pub address: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the web server on `address` (`host` is this node's advertised
/// host name, used when binding every interface).
pub async fn start(
    address: &str,
    tls: Option<(&FsPath, &FsPath, &FsPath)>,
    host: &str,
    containers: Arc<ContainerManager>,
) -> Result<WebServer, WebError> {
    let bind_err = |source| WebError::Bind {
        addr: address.to_string(),
        source,
    };
    let tcp = TcpListener::bind(address).await.map_err(bind_err)?;
    let local = tcp.local_addr().map_err(bind_err)?;
    let shown_host = if local.ip().is_unspecified() {
        host.to_string()
    } else {
        local.ip().to_string()
    };
    let advertised = if shown_host.contains(':') {
        format!("[{shown_host}]:{}", local.port())
    } else {
        format!("{shown_host}:{}", local.port())
    };
    let app = router(containers);
    let task = match tls {
        Some((ca, cert, key)) => {
            let cfg = server_config(ca, cert, key).map_err(WebError::Tls)?;
            let listener = TlsListener::new(tcp, cfg).map_err(bind_err)?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "web server stopped");
                }
            })
        }
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(tcp, app).await {
                tracing::error!(error = %e, "web server stopped");
            }
        }),
    };
    tracing::info!(address = %local, advertised = %advertised, tls = tls.is_some(), "web server listening");
    Ok(WebServer {
        address: advertised,
        task,
    })
}

type St = State<Arc<ContainerManager>>;

fn router(containers: Arc<ContainerManager>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(prometheus))
        .route("/node/containerlogs/{container}/{user}", get(log_index))
        .route("/node/containerlogs/{container}/{user}/", get(log_index))
        .route(
            "/node/containerlogs/{container}/{user}/{file}",
            get(log_file),
        )
        .with_state(containers)
}

async fn index(State(c): St) -> impl IntoResponse {
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
}

async fn prometheus(State(c): St) -> Response {
    let body = metrics().render(c.phase_counts());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn not_found(why: String) -> Response {
    (StatusCode::NOT_FOUND, format!("{why}\n")).into_response()
}

async fn log_index(State(c): St, Path((container, user)): Path<(String, String)>) -> Response {
    let Ok(id) = container.parse::<ContainerId>() else {
        return not_found(format!("{container} is not a container id"));
    };
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
    State(c): St,
    Path((container, _user, file)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Ok(id) = container.parse::<ContainerId>() else {
        return not_found(format!("{container} is not a container id"));
    };
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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The node's certificate for HTTPS (TLS 1.2 or 1.3, no client certificate needed).
fn server_config(ca: &FsPath, cert: &FsPath, key: &FsPath) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let read = |p: &FsPath| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let pem = read(cert)?;
    let chain: Result<Vec<CertificateDer<'static>>, _> =
        CertificateDer::pem_slice_iter(&pem).collect();
    let chain = chain.map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    // The CA must be readable too (the same files serve the QUIC side).
    read(ca)?;
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Longest a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections come out TLS-established; handshakes
/// run concurrently and failures are dropped with a debug line.
struct TlsListener {
    local: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, "web accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { local, rx, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1:8042"));
        assert!(is_loopback("localhost:0"));
        assert!(!is_loopback("0.0.0.0:8042"));
    }
}
