//! HTTPS for the RM's web server: an axum [`Listener`] that completes the TLS
//! handshake (with the cluster's certificate) before handing a connection to
//! axum, and the [`Peer`] each request sees (its address, and whether it
//! presented a client certificate signed by the cluster CA).
//!
//! Client certificates are optional at the handshake, so browsers and
//! Prometheus read pages and metrics with only the CA; requests that change
//! something (`PUT .../state`) require one.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
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

/// Who sent a request.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The connection is TLS.
    pub tls: bool,
    /// The client presented a certificate the cluster CA signed.
    pub client_cert: bool,
}

impl Peer {
    /// May this peer change state (kill an application)? Over HTTPS only
    /// with a cluster certificate; plain HTTP is served on loopback only,
    /// where every local user is trusted (as YARN's simple authentication).
    pub fn may_modify(&self) -> bool {
        !self.tls || self.client_cert
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self {
            addr: *stream.remote_addr(),
            tls: false,
            client_cert: false,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Reads the cluster CA, the certificate and key into a rustls server
/// config for HTTP/1.1: TLS 1.2 or 1.3, client certificates optional but
/// verified against the CA when presented.
pub fn server_config(ca: &Path, cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
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
    for c in certs(ca)? {
        roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| e.to_string())?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
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
                            let client_cert = tls.get_ref().1.peer_certificates().is_some();
                            let peer = Peer {
                                addr,
                                tls: true,
                                client_cert,
                            };
                            let _ = tx.send((tls, peer)).await;
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
            client_cert: false,
        })
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
}
