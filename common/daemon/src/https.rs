//! A daemon's web listener: HTTPS with the cluster's certificate (the TLS
//! handshake completes before axum sees a connection), or plain HTTP, which
//! the configuration allows on a loopback address only ([`check_web_address`]).
//! Each request sees its [`Peer`].

use crate::config::Invalid;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use common::identity::Role;
use common::tls::TlsFiles;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Client certificates at the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    /// Not asked for.
    None,
    /// Asked for but optional (browsers and Prometheus need only the CA);
    /// verified against the cluster CA when presented.
    Optional,
}

/// Who sent a request.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The connection is TLS.
    pub tls: bool,
    /// The role named by the client certificate the cluster CA signed; `None` when the
    /// client presented none (or the connection is plain HTTP): anonymous.
    pub role: Option<Role>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self {
            addr: *stream.remote_addr(),
            tls: false,
            role: None,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
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

/// `web-anonymous-read`: `true`, `false`, or `"auto"` (the default): yes on a loopback
/// `web-address` (only local users reach it), no elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AnonymousRead {
    Set(bool),
    #[default]
    #[serde(with = "auto")]
    Auto,
}

mod auto {
    pub(super) fn serialize<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("auto")
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let v = <String as serde::Deserialize>::deserialize(d)?;
        if v == "auto" {
            Ok(())
        } else {
            Err(serde::de::Error::custom(format!(
                "{v:?} is not true, false or \"auto\""
            )))
        }
    }
}

impl AnonymousRead {
    /// Whether anonymous clients may read the views of a web server on `web_address`.
    pub fn allowed(self, web_address: &str) -> bool {
        match self {
            Self::Set(b) => b,
            Self::Auto => is_loopback(web_address),
        }
    }
}

/// 401 for a request that needs an authenticated user and has none.
pub fn unauthenticated(what: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::UNAUTHORIZED,
        format!("{what} needs an authenticated user: a client certificate (user:NAME) from the cluster CA\n"),
    )
        .into_response()
}

/// Checks a `web-address` (empty: no web server) served with `tls` or not.
pub fn check_web_address(address: &str, tls: bool) -> Result<(), Invalid> {
    if address.is_empty() {
        return Ok(());
    }
    let port = address.rsplit_once(':').map(|(_, p)| p);
    if port.is_none_or(|p| p.parse::<u16>().is_err()) {
        return Err(("web-address", format!("{address:?} is not host:port")));
    }
    if !tls && !is_loopback(address) {
        return Err((
            "web-tls",
            format!(
                "plain HTTP (web-tls = false) is allowed only on a loopback web-address, not {address:?}; use HTTPS or bind 127.0.0.1"
            ),
        ));
    }
    Ok(())
}

/// Reads the cluster CA, the certificate and key into a rustls server
/// config for HTTP/1.1, TLS 1.3 only (as the cluster's QUIC).
pub fn server_config(
    files: &TlsFiles,
    client_certs: ClientCerts,
) -> Result<rustls::ServerConfig, String> {
    let provider = common::tls::provider();
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let certs = |p: &Path| -> Result<Vec<CertificateDer<'static>>, String> {
        let pem = read(p)?;
        let v: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
        let v = v.map_err(|e| format!("{}: {e}", p.display()))?;
        if v.is_empty() {
            return Err(format!("{}: no certificate", p.display()));
        }
        Ok(v)
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&files.ca)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", files.ca.display()))?;
    }
    let chain = certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?;
    let builder = match client_certs {
        ClientCerts::None => builder.with_no_client_auth(),
        ClientCerts::Optional => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A bound, not yet serving, web listener.
pub struct WebListener {
    local: SocketAddr,
    inner: Inner,
}

enum Inner {
    Plain(TcpListener),
    Tls(TlsListener),
}

impl WebListener {
    /// Binds `address`; with `tls`, connections come out of an HTTPS
    /// handshake with those files.
    pub async fn bind(
        address: &str,
        tls: Option<(&TlsFiles, ClientCerts)>,
    ) -> Result<Self, WebError> {
        let bind_err = |source| WebError::Bind {
            addr: address.to_string(),
            source,
        };
        let tcp = TcpListener::bind(address).await.map_err(bind_err)?;
        let local = tcp.local_addr().map_err(bind_err)?;
        let inner = match tls {
            Some((files, client_certs)) => {
                let cfg = server_config(files, client_certs).map_err(WebError::Tls)?;
                Inner::Tls(TlsListener::new(tcp, cfg).map_err(bind_err)?)
            }
            None => Inner::Plain(tcp),
        };
        Ok(Self { local, inner })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        match self.inner {
            Inner::Plain(_) => "http",
            Inner::Tls(_) => "https",
        }
    }

    /// `host:port` others reach it at: `host` when bound to every interface,
    /// else the bound IP (IPv6 in brackets).
    pub fn advertised(&self, host: &str) -> String {
        let host = if self.local.ip().is_unspecified() {
            host.to_string()
        } else {
            self.local.ip().to_string()
        };
        common::hostname::host_port(&host, self.local.port())
    }

    /// Serves `app` (each request can read its `ConnectInfo<Peer>`) until the
    /// task is aborted.
    pub fn serve(self, app: Router) -> tokio::task::JoinHandle<()> {
        let service = app.into_make_service_with_connect_info::<Peer>();
        tokio::spawn(async move {
            let r = match self.inner {
                Inner::Plain(l) => axum::serve(l, service).await,
                Inner::Tls(l) => axum::serve(l, service).await,
            };
            if let Err(e) = r {
                tracing::error!(error = %e, "web server stopped");
            }
        })
    }
}

/// A TCP listener whose connections come out TLS-established. Handshakes run
/// concurrently (a slow client does not hold up others) and failures are
/// dropped with a debug line.
pub struct TlsListener {
    local: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
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
                            // Verified against the cluster CA by the handshake.
                            let role = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|certs| certs.first())
                                .map(|c| Role::of_certificate(c));
                            let peer = Peer {
                                addr,
                                tls: true,
                                role,
                            };
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%addr, error = %e, "TLS handshake failed");
                            crate::metrics::tls_handshake_failed("web");
                        }
                        Err(_) => {
                            tracing::debug!(%addr, "TLS handshake timed out");
                            crate::metrics::tls_handshake_failed("web");
                        }
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

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task ended (only when aborted): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            addr: self.local,
            tls: true,
            role: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for a in ["127.0.0.1:8088", "localhost:1", "[::1]:80", "127.1.2.3:0"] {
            assert!(is_loopback(a), "{a}");
        }
        for a in ["0.0.0.0:8088", "10.0.0.1:1", "example.com:80", "[::]:80"] {
            assert!(!is_loopback(a), "{a}");
        }
    }

    #[test]
    fn web_addresses() {
        assert_eq!(check_web_address("", false), Ok(()));
        assert_eq!(check_web_address("0.0.0.0:8088", true), Ok(()));
        assert_eq!(check_web_address("127.0.0.1:8088", false), Ok(()));
        assert_eq!(
            check_web_address("127.0.0.1", true).unwrap_err().0,
            "web-address"
        );
        let (key, reason) = check_web_address("0.0.0.0:8088", false).unwrap_err();
        assert_eq!(key, "web-tls");
        assert!(reason.contains("loopback"), "{reason}");
    }

    #[tokio::test]
    async fn https_is_tls_1_3_only() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let d = tempfile::tempdir().unwrap();
        common::tls::init_cluster_certs(d.path(), "u", "h:1", &[]).unwrap();
        let files = TlsFiles::in_dir(d.path(), "rm");
        let listener = WebListener::bind("127.0.0.1:0", Some((&files, ClientCerts::Optional)))
            .await
            .unwrap();
        let addr = listener.local_addr();
        let _server =
            listener.serve(Router::new().route("/", axum::routing::get(|| async { "ok" })));
        let provider = common::tls::provider();
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(d.path().join("ca.pem")).unwrap();
        for c in CertificateDer::pem_slice_iter(&ca) {
            roots.add(c.unwrap()).unwrap();
        }
        let client = |version: &'static rustls::SupportedProtocolVersion| {
            let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(cfg))
        };
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        // TLS 1.2: the handshake fails.
        let tcp = TcpStream::connect(addr).await.unwrap();
        assert!(client(&rustls::version::TLS12)
            .connect(name.clone(), tcp)
            .await
            .is_err());
        // TLS 1.3: served.
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = client(&rustls::version::TLS13)
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        tls.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    }

    #[tokio::test]
    async fn advertised_address() {
        let l = WebListener::bind("127.0.0.1:0", None).await.unwrap();
        assert_eq!(l.scheme(), "http");
        let port = l.local_addr().port();
        assert_eq!(l.advertised("node1"), format!("127.0.0.1:{port}"));
        let l = WebListener::bind("0.0.0.0:0", None).await.unwrap();
        let port = l.local_addr().port();
        assert_eq!(l.advertised("node1"), format!("node1:{port}"));
        assert_eq!(l.advertised("::1"), format!("[::1]:{port}"));
    }
}
