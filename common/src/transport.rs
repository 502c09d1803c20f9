//! QUIC endpoints, request/response calls and the serve loop.
//!
//! Tuning lives here and nowhere else: callers pick a [`Profile`].

use crate::codec::{self, FrameError};
use crate::identity::Role;
use crate::protocol::{ErrorCode, WireError, WireResponse};
use crate::tls::{TlsError, TlsIdentity};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::{debug, Instrument};

/// How a connection is tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Small messages; quinn's defaults with more concurrent streams and keep-alives.
    Control,
    /// Large transfers on loopback or a LAN: big datagrams and socket buffers
    /// (quinn is CPU-bound per packet here, so fewer, larger packets win).
    Bulk,
}

const BULK_MTU: u16 = 65_000;
const SOCKET_BUFFER: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot resolve {addr:?}: {reason}")]
    Resolve { addr: String, reason: String },
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("connection to {addr} lost: {reason}")]
    Connection { addr: String, reason: String },
    #[error("frame error talking to {addr}: {source}")]
    Frame { addr: String, source: FrameError },
    #[error("{addr} answered: {error}")]
    Remote { addr: String, error: WireError },
}

impl TransportError {
    /// The remote's error code, if the peer answered with a typed error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Remote { error, .. } => Some(error.code),
            _ => None,
        }
    }

    /// The remote's typed error, if the peer answered with one.
    pub fn remote(&self) -> Option<&WireError> {
        match self {
            Self::Remote { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn transport_config(profile: Profile) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(4096u32.into());
    t.max_concurrent_uni_streams(256u32.into());
    t.keep_alive_interval(Some(Duration::from_secs(4)));
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(20)).expect("idle timeout fits"),
    ));
    if profile == Profile::Bulk {
        t.initial_mtu(BULK_MTU);
        let mut mtud = quinn::MtuDiscoveryConfig::default();
        mtud.upper_bound(BULK_MTU);
        t.mtu_discovery_config(Some(mtud));
        // The initial window must hold at least one large datagram or the
        // handshake never sends.
        let mut cubic = quinn::congestion::CubicConfig::default();
        cubic.initial_window(16 * BULK_MTU as u64);
        t.congestion_controller_factory(Arc::new(cubic));
        // quinn 0.11 batches 10 segments per GSO send: above ~6.5 KB datagrams
        // that exceeds the kernel's 64 KiB limit.
        t.enable_segmentation_offload(false);
        t.stream_receive_window((16u32 << 20).into());
        t.receive_window((64u32 << 20).into());
        t.send_window(64 << 20);
    }
    t
}

fn endpoint_config(profile: Profile) -> quinn::EndpointConfig {
    let mut e = quinn::EndpointConfig::default();
    if profile == Profile::Bulk {
        e.max_udp_payload_size(BULK_MTU)
            .expect("payload size in range");
    }
    e
}

fn bind_socket(addr: SocketAddr, profile: Profile) -> Result<std::net::UdpSocket, TransportError> {
    let sock =
        std::net::UdpSocket::bind(addr).map_err(|source| TransportError::Bind { addr, source })?;
    if profile == Profile::Bulk {
        use std::os::fd::AsRawFd;
        let size = SOCKET_BUFFER as i32;
        for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
            // Best effort: the kernel clamps to its maximum without failing.
            set_sockopt(sock.as_raw_fd(), opt, size);
        }
    }
    Ok(sock)
}

fn set_sockopt(fd: i32, opt: i32, value: i32) {
    // SAFETY: fd is a live socket owned by the caller; value outlives the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &value as *const i32 as *const libc::c_void,
            size_of::<i32>() as libc::socklen_t,
        );
    }
}

/// A server endpoint: requires client certificates from the cluster CA.
pub fn server_endpoint(
    addr: SocketAddr,
    identity: &TlsIdentity,
    alpn: &[u8],
    profile: Profile,
) -> Result<quinn::Endpoint, TransportError> {
    let tls = identity.server_config(&[alpn])?;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport_config(profile)));
    endpoint(addr, profile, Some(cfg))
}

/// An endpoint on `addr` with the profile's socket and QUIC settings.
fn endpoint(
    addr: SocketAddr,
    profile: Profile,
    server: Option<quinn::ServerConfig>,
) -> Result<quinn::Endpoint, TransportError> {
    let sock = bind_socket(addr, profile)?;
    quinn::Endpoint::new(endpoint_config(profile), server, sock, runtime(addr)?)
        .map_err(|source| TransportError::Bind { addr, source })
}

fn runtime(addr: SocketAddr) -> Result<Arc<dyn quinn::Runtime>, TransportError> {
    quinn::default_runtime().ok_or_else(|| TransportError::Bind {
        addr,
        source: std::io::Error::other("QUIC endpoints must be created inside a tokio runtime"),
    })
}

/// A client endpoint presenting `identity`.
pub fn client_endpoint(
    identity: &TlsIdentity,
    alpn: &[u8],
    profile: Profile,
) -> Result<quinn::Endpoint, TransportError> {
    let tls = identity.client_config(&[alpn])?;
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport_config(profile)));
    let addr: SocketAddr = "0.0.0.0:0".parse().expect("literal");
    let mut ep = endpoint(addr, profile, None)?;
    ep.set_default_client_config(cfg);
    Ok(ep)
}

/// Splits `host:port`, resolving the host.
pub async fn resolve(addr: &str) -> Result<(SocketAddr, String), TransportError> {
    let err = |reason: String| TransportError::Resolve {
        addr: addr.to_string(),
        reason,
    };
    let (host, _) = addr
        .rsplit_once(':')
        .ok_or_else(|| err("expected host:port".into()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let sa = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| err(e.to_string()))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| err("no IPv4 address".into()))?;
    Ok((sa, host))
}

pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: &str,
) -> Result<quinn::Connection, TransportError> {
    let (sa, host) = resolve(addr).await?;
    let cerr = |reason: String| TransportError::Connect {
        addr: addr.to_string(),
        reason,
    };
    endpoint
        .connect(sa, &host)
        .map_err(|e| cerr(e.to_string()))?
        .await
        .map_err(|e| cerr(e.to_string()))
}

/// One request/response on a fresh bidirectional stream of `conn`.
pub async fn call<Req, Resp>(
    conn: &quinn::Connection,
    addr: &str,
    req: &Req,
) -> Result<Resp, TransportError>
where
    Req: Serialize,
    Resp: DeserializeOwned + WireResponse,
{
    let (mut send, mut recv) = open(conn, addr).await?;
    write(&mut send, addr, req).await?;
    let _ = send.finish();
    read_response(&mut recv, addr).await
}

pub async fn open(
    conn: &quinn::Connection,
    addr: &str,
) -> Result<(quinn::SendStream, quinn::RecvStream), TransportError> {
    conn.open_bi()
        .await
        .map_err(|e| TransportError::Connection {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

pub async fn write<T: Serialize>(
    send: &mut quinn::SendStream,
    addr: &str,
    msg: &T,
) -> Result<(), TransportError> {
    codec::write_frame(send, msg)
        .await
        .map_err(|source| TransportError::Frame {
            addr: addr.to_string(),
            source,
        })
}

/// Reads one response frame, turning a typed remote error into `Remote`.
pub async fn read_response<Resp>(
    recv: &mut quinn::RecvStream,
    addr: &str,
) -> Result<Resp, TransportError>
where
    Resp: DeserializeOwned + WireResponse,
{
    let resp: Resp = codec::read_frame(recv)
        .await
        .map_err(|source| TransportError::Frame {
            addr: addr.to_string(),
            source,
        })?;
    resp.into_result().map_err(|error| TransportError::Remote {
        addr: addr.to_string(),
        error,
    })
}

/// A client that keeps one connection to `addr` and reconnects once when it drops.
pub struct Client {
    endpoint: quinn::Endpoint,
    addr: String,
    conn: Mutex<Option<quinn::Connection>>,
}

impl Client {
    pub fn new(endpoint: quinn::Endpoint, addr: impl Into<String>) -> Self {
        Self {
            endpoint,
            addr: addr.into(),
            conn: Mutex::new(None),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// The live connection, connecting if there is none.
    pub async fn connection(&self) -> Result<quinn::Connection, TransportError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.close_reason().is_none() {
                return Ok(c.clone());
            }
        }
        let c = connect(&self.endpoint, &self.addr).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    pub async fn call<Req, Resp>(&self, req: &Req) -> Result<Resp, TransportError>
    where
        Req: Serialize,
        Resp: DeserializeOwned + WireResponse,
    {
        let conn = self.connection().await?;
        match call(&conn, &self.addr, req).await {
            Err(TransportError::Connection { .. }) => {
                // The connection died under us (peer restarted): one fresh try.
                *self.conn.lock().await = None;
                let conn = self.connection().await?;
                call(&conn, &self.addr, req).await
            }
            other => other,
        }
    }
}

/// One incoming request with the stream it came on; the service must reply.
pub struct Incoming<Req> {
    pub req: Req,
    pub send: quinn::SendStream,
    pub recv: quinn::RecvStream,
    pub remote: SocketAddr,
    /// Who the peer is: the role its (CA-verified) certificate names.
    pub peer: Arc<Role>,
}

impl<Req> Incoming<Req> {
    /// Writes the one response frame and finishes the stream.
    pub async fn reply<Resp: Serialize>(mut self, resp: &Resp) {
        if let Err(e) = codec::write_frame(&mut self.send, resp).await {
            debug!(remote = %self.remote, error = %e, "reply not delivered");
        }
        let _ = self.send.finish();
    }
}

/// The role the peer's certificate names ([`Role::Unknown`] if it presented none, which
/// the handshake does not allow).
pub fn peer_role(conn: &quinn::Connection) -> Role {
    conn.peer_identity()
        .and_then(|id| {
            id.downcast::<Vec<rustls_pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .and_then(|certs| certs.first().map(|c| Role::of_certificate(c)))
        .unwrap_or_else(|| Role::Unknown(String::new()))
}

/// A protocol server: handles one request at a time per stream.
pub trait Service: Send + Sync + 'static {
    type Req: DeserializeOwned + Send + 'static;
    type Resp: Serialize + WireResponse + Send + Sync + 'static;
    fn handle(self: Arc<Self>, incoming: Incoming<Self::Req>) -> impl Future<Output = ()> + Send;
}

/// Accepts connections until the endpoint is closed. A bad frame gets a typed
/// error on its own stream; the connection and everyone else carry on.
pub async fn serve<S: Service>(endpoint: quinn::Endpoint, service: Arc<S>) {
    while let Some(incoming) = endpoint.accept().await {
        let service = service.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    debug!(%remote, error = %e, "handshake failed");
                    return;
                }
            };
            let peer = Arc::new(peer_role(&conn));
            let span = tracing::debug_span!("conn", %remote, %peer);
            async move {
                loop {
                    let (send, mut recv) = match conn.accept_bi().await {
                        Ok(s) => s,
                        Err(_) => break,
                    };
                    let service = service.clone();
                    let peer = peer.clone();
                    tokio::spawn(async move {
                        match codec::read_frame::<_, S::Req>(&mut recv).await {
                            Ok(req) => {
                                service
                                    .handle(Incoming {
                                        req,
                                        send,
                                        recv,
                                        remote,
                                        peer,
                                    })
                                    .await
                            }
                            Err(FrameError::Closed) => {}
                            Err(e) => {
                                let code = match e {
                                    FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
                                    _ => ErrorCode::BadFrame,
                                };
                                debug!(%remote, error = %e, "bad frame");
                                // Stop reading the rest of an oversized frame.
                                let _ = recv.stop(0u32.into());
                                Incoming {
                                    req: (),
                                    send,
                                    recv,
                                    remote,
                                    peer,
                                }
                                .reply(&S::Resp::from_error(WireError::new(code, e.to_string())))
                                .await;
                            }
                        }
                    });
                }
            }
            .instrument(span)
            .await
        });
    }
}

/// Reads exactly `size` raw bytes that follow a header frame into `sink`.
pub async fn copy_exact<W>(
    recv: &mut quinn::RecvStream,
    size: u64,
    sink: &mut W,
) -> std::io::Result<u64>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut limited = recv.take(size);
    let n = tokio::io::copy(&mut limited, sink).await?;
    if n != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("stream ended after {n} of {size} bytes"),
        ));
    }
    Ok(n)
}
