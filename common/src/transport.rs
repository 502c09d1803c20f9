//! QUIC endpoints, request/response calls and the serve loop.
//!
//! Tuning lives here and nowhere else: callers pick a [`Profile`].

use crate::codec::{self, FrameError};
pub use crate::failover::{Failover, Failure};
use crate::identity::Role;
use crate::protocol::{ErrorCode, WireError, WireResponse};
use crate::tls::{TlsError, TlsIdentity};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
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

/// How soon a silent peer counts as gone: the keys `keep-alive-interval` and
/// `idle-timeout` of the daemons' config files and `spindle-client.toml`.
///
/// A connection sends a keep-alive after `keep_alive` without sending anything, and
/// closes after `idle_timeout` without hearing anything (quinn's idle timeout, which
/// also bounds a connection attempt). QUIC over UDP gets no "connection refused", so
/// the idle timeout is what notices a dead peer: it is sized to the heartbeat (1 s by
/// default), not to a WAN. A peer that restarts is noticed at once instead, by the
/// stateless reset of [`server_endpoint`].
///
/// Config files hold it flattened: `keep-alive-interval = "250ms"`, `idle-timeout = "1500ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Liveness {
    /// A keep-alive goes out after this long without sending.
    #[serde(rename = "keep-alive-interval", with = "crate::duration::human")]
    pub keep_alive: Duration,
    /// A connection that hears nothing for this long is closed, and a connection
    /// attempt given up.
    #[serde(with = "crate::duration::human")]
    pub idle_timeout: Duration,
}

impl Liveness {
    pub const DEFAULT: Self = Self {
        keep_alive: Duration::from_millis(250),
        idle_timeout: Duration::from_millis(1500),
    };

    /// Checks the pair; the error names the key at fault (as the config files spell it).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let fmt = crate::duration::format_duration;
        if self.keep_alive.is_zero() {
            return Err(("keep-alive-interval", "must be above 0".into()));
        }
        // Loss of one or two keep-alives must not close a live connection.
        if self.idle_timeout < self.keep_alive * 3 {
            return Err((
                "idle-timeout",
                format!(
                    "{} is shorter than 3 keep-alive-intervals ({}): a live but quiet peer would be taken for dead",
                    fmt(self.idle_timeout),
                    fmt(self.keep_alive * 3)
                ),
            ));
        }
        if self.idle_timeout > Duration::from_secs(600) {
            return Err((
                "idle-timeout",
                format!("{} is above the 10m maximum", fmt(self.idle_timeout)),
            ));
        }
        Ok(())
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The process's liveness settings: one per process, as the endpoints are made in
/// many places and the transport's tuning is this module's alone.
static LIVENESS: RwLock<Liveness> = RwLock::new(Liveness::DEFAULT);

/// Sets the liveness of connections made from now on (a daemon does it once at start,
/// from its config file).
pub fn set_liveness(l: Liveness) {
    *LIVENESS.write().unwrap_or_else(|e| e.into_inner()) = l;
}

pub fn liveness() -> Liveness {
    *LIVENESS.read().unwrap_or_else(|e| e.into_inner())
}

const BULK_MTU: u16 = 65_000;
const SOCKET_BUFFER: usize = 4 << 20;
/// Bounds of [`bulk_window`]: a few large datagrams at least; at most what a
/// 4 MiB socket buffer (the one asked for) queues.
const MIN_BULK_WINDOW: usize = 4 * BULK_MTU as usize;
const MAX_BULK_WINDOW: usize = SOCKET_BUFFER;

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
    /// Nothing heard from the peer within the idle timeout: it is down or unreachable
    /// (a fresh connection would wait as long again).
    #[error("{addr} did not answer within {}: it is down or unreachable", crate::duration::format_duration(*.idle_timeout))]
    TimedOut {
        addr: String,
        idle_timeout: Duration,
    },
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

    /// Why a connection to `addr` ended: [`Self::TimedOut`] when the peer fell silent,
    /// else [`Self::Connection`] (closed or reset: the peer is up, a new one may work).
    pub fn lost(addr: &str, e: &quinn::ConnectionError) -> Self {
        match e {
            quinn::ConnectionError::TimedOut => Self::TimedOut {
                addr: addr.to_string(),
                idle_timeout: liveness().idle_timeout,
            },
            e => Self::Connection {
                addr: addr.to_string(),
                reason: e.to_string(),
            },
        }
    }
}

/// Whether an i/o error on a stream means its connection timed out (the peer fell silent).
pub fn timed_out(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<quinn::ReadError>())
        .is_some_and(|r| {
            matches!(
                r,
                quinn::ReadError::ConnectionLost(quinn::ConnectionError::TimedOut)
            )
        })
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<quinn::WriteError>())
            .is_some_and(|w| {
                matches!(
                    w,
                    quinn::WriteError::ConnectionLost(quinn::ConnectionError::TimedOut)
                )
            })
}

/// The receive buffer the kernel gave `sock`, in the bytes it charges datagrams
/// against (twice what was asked, within `net.core.rmem_max`).
fn receive_buffer(sock: &std::net::UdpSocket) -> usize {
    use std::os::fd::AsRawFd;
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: the socket is live; value and len outlive the call and match in size.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &mut value as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    };
    if r == 0 && value > 0 {
        value as usize
    } else {
        2 * SOCKET_BUFFER
    }
}

/// A Bulk connection's flow-control window (per connection and per stream) for an
/// endpoint whose socket queues `rcvbuf` bytes: half of it.
///
/// The window is what a sender may have in flight toward us, so it must fit in the
/// socket's queue: above that, a fast sender overflows it, the kernel drops whole
/// 64 KB datagrams, and cubic cuts its window at every loss. With a 64 MiB window
/// into a 4 MiB (8 MiB charged) buffer the `shuffle_fetch` bench lost 1.5% of its
/// packets and saw 55 congestion events per 4 GB; at 4 MiB none, and 10% more
/// throughput. Half, because the kernel charges each datagram its whole buffer.
fn bulk_window(rcvbuf: usize) -> u32 {
    (rcvbuf / 2).clamp(MIN_BULK_WINDOW, MAX_BULK_WINDOW) as u32
}

/// Says once per process when `net.core.rmem_max` holds the Bulk socket buffer
/// below what was asked: the window, and so throughput, shrinks with it.
fn warn_small_buffer(rcvbuf: usize) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if rcvbuf < 2 * SOCKET_BUFFER {
        ONCE.call_once(|| {
            tracing::warn!(
                granted = rcvbuf / 2,
                asked = SOCKET_BUFFER,
                "the kernel's net.core.rmem_max caps bulk transfers' UDP receive buffer; \
                 raise it to at least {SOCKET_BUFFER} for full shuffle throughput"
            )
        });
    }
}

fn transport_config(profile: Profile, rcvbuf: usize) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(4096u32.into());
    t.max_concurrent_uni_streams(256u32.into());
    let l = liveness();
    t.keep_alive_interval(Some(l.keep_alive));
    // `Liveness::check` caps it far below what QUIC can carry.
    t.max_idle_timeout(quinn::IdleTimeout::try_from(l.idle_timeout).ok());
    // Spindle runs on a LAN: quinn's 333 ms guess (a WAN's) would space the handshake's
    // retransmits a second apart, so a connection attempt made while the peer was down
    // would see it come back only after that long.
    t.initial_rtt(Duration::from_millis(50));
    if profile == Profile::Bulk {
        // From QUIC's 1200 bytes up to 65,000 by path MTU discovery: on loopback it
        // gets there within the first megabytes; on a LAN it stops at the path's
        // (1,452 on Ethernet) instead of sending datagrams the path must fragment or
        // drop (an initial MTU of 65,000 on a 1,500-byte link fetched at 0.28 GB/s,
        // discovery from 1,200 at 0.33, the bench in a namespace whose lo has MTU 1500).
        let mut mtud = quinn::MtuDiscoveryConfig::default();
        mtud.upper_bound(BULK_MTU);
        t.mtu_discovery_config(Some(mtud));
        // Sixteen of the largest datagrams: a new connection's first fetch does not
        // start from cubic's few-packet window, and the window still holds a whole
        // datagram once discovery has raised the MTU to 65,000.
        let mut cubic = quinn::congestion::CubicConfig::default();
        cubic.initial_window(16 * BULK_MTU as u64);
        t.congestion_controller_factory(Arc::new(cubic));
        // quinn 0.11 batches 10 segments per GSO send: above ~6.5 KB datagrams
        // that exceeds the kernel's 64 KiB limit.
        t.enable_segmentation_offload(false);
        let window = bulk_window(rcvbuf);
        t.stream_receive_window(window.into());
        t.receive_window(window.into());
        t.send_window(64 << 20);
    }
    t
}

fn endpoint_config(profile: Profile, reset_key: Option<[u8; 32]>) -> quinn::EndpointConfig {
    let mut e = quinn::EndpointConfig::default();
    if let Some(key) = reset_key {
        // The same key after a restart: a packet of a connection the previous process had
        // gets a stateless reset its peer accepts, so the peer reconnects at once instead
        // of waiting for its idle timeout. The default connection-id generator keys its
        // ids randomly per process and would drop such packets unanswered.
        e.reset_key(Arc::new(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &key,
        )));
        e.cid_generator(|| Box::new(RandomCids));
    }
    if profile == Profile::Bulk {
        e.max_udp_payload_size(BULK_MTU)
            .expect("payload size in range");
    }
    e
}

/// Random 8-byte connection ids that any restart of the endpoint will answer with a
/// stateless reset (quinn's `RandomConnectionIdGenerator`, which quinn does not export).
struct RandomCids;

const CID_LEN: usize = 8;

impl quinn::ConnectionIdGenerator for RandomCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        let rng = ring::rand::SystemRandom::new();
        let id: [u8; CID_LEN] = ring::rand::generate(&rng)
            .map(|r| r.expose())
            // SystemRandom fails only without a kernel RNG; a fixed id still works
            // (connections are told apart by address too), it is just linkable.
            .unwrap_or([0x5a; CID_LEN]);
        quinn::ConnectionId::new(&id)
    }

    fn cid_len(&self) -> usize {
        CID_LEN
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// A UDP socket on `addr` with the profile's buffers, and the receive buffer the
/// kernel granted ([`receive_buffer`]).
fn bind_socket(
    addr: SocketAddr,
    profile: Profile,
) -> Result<(std::net::UdpSocket, usize), TransportError> {
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
    let rcvbuf = receive_buffer(&sock);
    if profile == Profile::Bulk {
        warn_small_buffer(rcvbuf);
    }
    Ok((sock, rcvbuf))
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

/// A server endpoint on `address` (`host:port`, resolved; port 0 picks one), and the
/// address it is bound to.
pub async fn listen(
    address: &str,
    identity: &TlsIdentity,
    alpn: &[u8],
    profile: Profile,
) -> Result<(quinn::Endpoint, SocketAddr), TransportError> {
    let (bind, _) = resolve(address).await?;
    let endpoint = server_endpoint(bind, identity, alpn, profile)?;
    let addr = endpoint
        .local_addr()
        .map_err(|source| TransportError::Bind { addr: bind, source })?;
    Ok((endpoint, addr))
}

/// A server endpoint: requires client certificates from the cluster CA.
pub fn server_endpoint(
    addr: SocketAddr,
    identity: &TlsIdentity,
    alpn: &[u8],
    profile: Profile,
) -> Result<quinn::Endpoint, TransportError> {
    let (sock, rcvbuf) = bind_socket(addr, profile)?;
    let tls = identity.server_config(&[alpn])?;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport_config(profile, rcvbuf)));
    let reset_key = identity.derived_secret(b"spindle quic stateless reset key");
    endpoint(sock, addr, profile, Some(cfg), Some(reset_key))
}

/// An endpoint on `sock` (bound to `addr`) with the profile's QUIC settings.
fn endpoint(
    sock: std::net::UdpSocket,
    addr: SocketAddr,
    profile: Profile,
    server: Option<quinn::ServerConfig>,
    reset_key: Option<[u8; 32]>,
) -> Result<quinn::Endpoint, TransportError> {
    let config = endpoint_config(profile, reset_key);
    quinn::Endpoint::new(config, server, sock, runtime(addr)?)
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
    let addr: SocketAddr = "0.0.0.0:0".parse().expect("literal");
    let (sock, rcvbuf) = bind_socket(addr, profile)?;
    let cfg = client_config_for(identity, alpn, profile, rcvbuf)?;
    let mut ep = endpoint(sock, addr, profile, None, None)?;
    ep.set_default_client_config(cfg);
    Ok(ep)
}

/// The client side of a connection presenting `identity`, for
/// [`quinn::Endpoint::connect_with`]: one endpoint (one socket) can then carry the
/// connections of many identities (the scheduler load simulator's thousand nodes).
pub fn client_config(
    identity: &TlsIdentity,
    alpn: &[u8],
    profile: Profile,
) -> Result<quinn::ClientConfig, TransportError> {
    client_config_for(identity, alpn, profile, 2 * SOCKET_BUFFER)
}

/// [`client_config`] for an endpoint whose socket queues `rcvbuf` bytes.
fn client_config_for(
    identity: &TlsIdentity,
    alpn: &[u8],
    profile: Profile,
    rcvbuf: usize,
) -> Result<quinn::ClientConfig, TransportError> {
    let tls = identity.client_config(&[alpn])?;
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport_config(profile, rcvbuf)));
    Ok(cfg)
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
        .map_err(|e| match e {
            quinn::ConnectionError::TimedOut => TransportError::lost(addr, &e),
            e => cerr(e.to_string()),
        })
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
        .map_err(|e| TransportError::lost(addr, &e))
}

pub async fn write<T: Serialize>(
    send: &mut quinn::SendStream,
    addr: &str,
    msg: &T,
) -> Result<(), TransportError> {
    codec::write_frame(send, msg)
        .await
        .map_err(|source| frame_error(addr, source))
}

/// A frame error, or [`TransportError::TimedOut`] when the connection fell silent.
fn frame_error(addr: &str, source: FrameError) -> TransportError {
    match source {
        FrameError::Io(e) if timed_out(&e) => {
            TransportError::lost(addr, &quinn::ConnectionError::TimedOut)
        }
        source => TransportError::Frame {
            addr: addr.to_string(),
            source,
        },
    }
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
        .map_err(|source| frame_error(addr, source))?;
    resp.into_result().map_err(|error| TransportError::Remote {
        addr: addr.to_string(),
        error,
    })
}

/// A client that keeps one connection to one of its addresses. It reconnects once when
/// the connection drops; with several addresses (an RM HA pair) it fails over: to the
/// active RM a standby names, or to the next address when one cannot be reached
/// ([`Failover`] decides).
pub struct Client {
    endpoint: quinn::Endpoint,
    route: std::sync::Mutex<Failover>,
    /// The connection and the address it goes to.
    conn: Mutex<Option<(String, quinn::Connection)>>,
}

/// What a failed call means for failing over.
pub fn failure(e: &TransportError) -> Failure {
    match e {
        TransportError::Remote { error, .. } if error.code == ErrorCode::NotActive => {
            Failure::NotActive(error.active_address().map(str::to_owned))
        }
        TransportError::Connect { .. }
        | TransportError::TimedOut { .. }
        | TransportError::Resolve { .. } => Failure::Unreachable,
        TransportError::Connection { .. } => Failure::Lost,
        _ => Failure::Other,
    }
}

impl Client {
    pub fn new(endpoint: quinn::Endpoint, addr: impl Into<String>) -> Self {
        Self::with_addresses(endpoint, [addr.into()])
    }

    /// A client of several peers of which one serves (an RM HA pair); it starts with the
    /// first. `addrs` must not be empty.
    pub fn with_addresses(
        endpoint: quinn::Endpoint,
        addrs: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            endpoint,
            route: std::sync::Mutex::new(Failover::new(addrs)),
            conn: Mutex::new(None),
        }
    }

    fn route(&self) -> std::sync::MutexGuard<'_, Failover> {
        self.route.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The address in use now.
    pub fn addr(&self) -> String {
        self.route().current().to_string()
    }

    /// Every address this client knows.
    pub fn addresses(&self) -> Vec<String> {
        self.route().addrs().to_vec()
    }

    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// The live connection, connecting if there is none.
    pub async fn connection(&self) -> Result<quinn::Connection, TransportError> {
        self.connect_current().await.map(|(c, _)| c)
    }

    /// The live connection and its address, connecting if there is none; an address that
    /// cannot be reached sends it to the next one (when it has several).
    pub async fn connect_current(&self) -> Result<(quinn::Connection, String), TransportError> {
        let tries = self.route().max_tries();
        let mut tried = 0;
        loop {
            tried += 1;
            let addr = self.addr();
            let mut guard = self.conn.lock().await;
            if let Some((a, c)) = guard.as_ref() {
                if *a == addr && c.close_reason().is_none() {
                    return Ok((c.clone(), addr));
                }
            }
            match connect(&self.endpoint, &addr).await {
                Ok(c) => {
                    *guard = Some((addr.clone(), c.clone()));
                    return Ok((c, addr));
                }
                Err(e) => {
                    drop(guard);
                    if tried >= tries || !self.failed(&addr, &e) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Tells the client that a call it made to `addr` failed with `e`; it moves to
    /// another address when the error says so. Returns whether to try again now.
    pub fn failed(&self, addr: &str, e: &TransportError) -> bool {
        let f = failure(e);
        let again = self.route().on_failure(addr, &f);
        if again && matches!(f, Failure::NotActive(_)) {
            debug!(from = addr, to = %self.addr(), "failing over to the active peer");
        }
        again
    }

    pub async fn call<Req, Resp>(&self, req: &Req) -> Result<Resp, TransportError>
    where
        Req: Serialize,
        Resp: DeserializeOwned + WireResponse,
    {
        match crate::faults::decide(&self.addr()) {
            crate::faults::Fault::Pass => {}
            crate::faults::Fault::Delay(d) => tokio::time::sleep(d).await,
            crate::faults::Fault::Duplicate => {
                let _ = self.call_once::<Req, Resp>(req).await;
            }
            crate::faults::Fault::Drop | crate::faults::Fault::Partition => {
                return Err(TransportError::Connection {
                    addr: self.addr(),
                    reason: "cut off by fault injection".into(),
                })
            }
        }
        self.call_once(req).await
    }

    async fn call_once<Req, Resp>(&self, req: &Req) -> Result<Resp, TransportError>
    where
        Req: Serialize,
        Resp: DeserializeOwned + WireResponse,
    {
        let tries = self.route().max_tries();
        let mut tried = 0;
        loop {
            tried += 1;
            let (conn, addr) = self.connect_current().await?;
            match call(&conn, &addr, req).await {
                Err(e) if tried < tries && self.failed(&addr, &e) => {
                    if failure(&e) == Failure::Lost {
                        // The connection died under us (peer restarted): a fresh one.
                        *self.conn.lock().await = None;
                    }
                }
                other => return other,
            }
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

    /// A connection failed before its handshake completed (a certificate the cluster CA did
    /// not sign, none at all, a timeout): for the daemon's metrics.
    fn handshake_failed(&self) {}
}

/// Accepts connections until the endpoint is closed. A bad frame gets a typed
/// error on its own stream; the connection and everyone else carry on.
pub async fn serve<S: Service>(endpoint: quinn::Endpoint, service: Arc<S>) {
    // Every connection's task, and each one's requests, belong to this task: aborting
    // it (a daemon stopping) stops them all, and lets the endpoint's socket go.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => i,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Some(incoming) = incoming else { break };
        conns.spawn(serve_connection(incoming, service.clone()));
    }
    while conns.join_next().await.is_some() {}
}

async fn serve_connection<S: Service>(incoming: quinn::Incoming, service: Arc<S>) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            debug!(%remote, error = %e, "handshake failed");
            service.handshake_failed();
            return;
        }
    };
    let peer = Arc::new(peer_role(&conn));
    let span = tracing::debug_span!("conn", %remote, %peer);
    async move {
        let mut requests = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                a = conn.accept_bi() => a,
                Some(_) = requests.join_next(), if !requests.is_empty() => continue,
            };
            let Ok((send, recv)) = accepted else { break };
            requests.spawn(serve_request(
                service.clone(),
                send,
                recv,
                remote,
                peer.clone(),
            ));
        }
        // Requests already read finish (their effects must not be cut halfway).
        while requests.join_next().await.is_some() {}
    }
    .instrument(span)
    .await
}

async fn serve_request<S: Service>(
    service: Arc<S>,
    send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    remote: SocketAddr,
    peer: Arc<Role>,
) {
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

#[cfg(test)]
mod tests {
    #[test]
    fn bulk_window_is_half_the_socket_queue_within_bounds() {
        // What the kernel charges for the 4 MiB asked: the window is the 4 MiB asked.
        assert_eq!(bulk_window(8 << 20), 4 << 20);
        assert_eq!(bulk_window(2 << 20), 1 << 20);
        // A default net.core.rmem_max (208 KiB, 416 KiB charged) still queues the
        // least window, four large datagrams.
        assert_eq!(bulk_window(2 * 212_992), MIN_BULK_WINDOW as u32);
        assert_eq!(bulk_window(1), MIN_BULK_WINDOW as u32);
        assert_eq!(bulk_window(64 << 20), MAX_BULK_WINDOW as u32);
    }

    #[test]
    fn a_bulk_socket_reports_the_buffer_the_kernel_granted() {
        let (sock, rcvbuf) = bind_socket("127.0.0.1:0".parse().unwrap(), Profile::Bulk).unwrap();
        assert_eq!(rcvbuf, receive_buffer(&sock));
        let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(SOCKET_BUFFER);
        // Root may exceed rmem_max only with SO_RCVBUFFORCE, which this does not use.
        assert_eq!(receive_buffer(&sock), 2 * SOCKET_BUFFER.min(rmem_max));
    }

    use super::*;
    use crate::tls::{init_cluster_certs, TlsFiles};

    #[test]
    fn liveness_is_checked_naming_the_key() {
        assert!(Liveness::DEFAULT.check().is_ok());
        let l = |ka: u64, idle: u64| Liveness {
            keep_alive: Duration::from_millis(ka),
            idle_timeout: Duration::from_millis(idle),
        };
        assert_eq!(l(0, 1000).check().unwrap_err().0, "keep-alive-interval");
        let (key, why) = l(500, 1000).check().unwrap_err();
        assert_eq!(key, "idle-timeout");
        assert!(
            why.contains("shorter than 3 keep-alive-intervals (1500ms)"),
            "{why}"
        );
        assert!(l(1000, 601_000).check().unwrap_err().1.contains("10m"));
    }

    #[test]
    fn a_timed_out_connection_is_told_apart_from_a_reset_one() {
        let t = TransportError::lost("h:1", &quinn::ConnectionError::TimedOut);
        assert!(matches!(t, TransportError::TimedOut { .. }), "{t}");
        assert!(t.to_string().contains("did not answer within"), "{t}");
        let r = TransportError::lost("h:1", &quinn::ConnectionError::Reset);
        assert!(matches!(r, TransportError::Connection { .. }), "{r}");
    }

    /// A fresh cluster's RM (server) and user (client) identities; the dir holds the files.
    fn identities() -> (tempfile::TempDir, TlsIdentity, TlsIdentity) {
        let d = tempfile::tempdir().unwrap();
        init_cluster_certs(d.path(), "u", "127.0.0.1:1", &[]).unwrap();
        let server_id = TlsIdentity::load(&TlsFiles::in_dir(d.path(), "rm")).unwrap();
        let client_id = TlsIdentity::load(&TlsFiles::in_dir(d.path(), "user")).unwrap();
        (d, server_id, client_id)
    }

    /// A server restarted on the same address with the same identity resets the old
    /// connections at once: the client does not wait for its idle timeout.
    #[tokio::test]
    async fn a_restarted_server_resets_old_connections_at_once() {
        let (_certs, server_id, client_id) = identities();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // The first server lives in a runtime of its own, so that it can die as a killed
        // process does: at once, sending no CONNECTION_CLOSE.
        let doomed = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let first = {
            let _in = doomed.enter();
            server_endpoint(any, &server_id, b"t/1", Profile::Control).unwrap()
        };
        let addr = first.local_addr().unwrap();
        doomed.spawn(async move {
            let conn = first.accept().await.unwrap().await.unwrap();
            std::future::pending::<()>().await;
            drop((conn, first));
        });
        let client = client_endpoint(&client_id, b"t/1", Profile::Control).unwrap();
        let conn = connect(&client, &addr.to_string()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        doomed.shutdown_background();
        let mut second = None;
        for _ in 0..100 {
            match server_endpoint(addr, &server_id, b"t/1", Profile::Control) {
                Ok(ep) => {
                    second = Some(ep);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        let _second = second.expect("the address is free again");
        let started = std::time::Instant::now();
        // The client's next keep-alive on the old connection draws the reset.
        let reason = tokio::time::timeout(liveness().idle_timeout * 4, conn.closed())
            .await
            .expect("the connection ended");
        assert!(
            matches!(reason, quinn::ConnectionError::Reset),
            "ended by {reason:?} after {:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < liveness().idle_timeout,
            "{:?}",
            started.elapsed()
        );
    }

    /// A Bulk connection starts at QUIC's 1200-byte datagrams and discovers loopback's
    /// large MTU while it carries data (it does not assume it: a LAN's is 1,500).
    #[tokio::test]
    async fn a_bulk_connection_discovers_loopbacks_mtu() {
        let (_certs, server_id, client_id) = identities();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = server_endpoint(any, &server_id, b"t/1", Profile::Bulk).unwrap();
        let addr = server.local_addr().unwrap();
        let sender = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            let mut send = conn.open_uni().await.unwrap();
            send.write_all(&vec![7u8; 8 << 20]).await.unwrap();
            send.finish().unwrap();
            conn.closed().await;
        });
        let client = client_endpoint(&client_id, b"t/1", Profile::Bulk).unwrap();
        let conn = connect(&client, &addr.to_string()).await.unwrap();
        let first_mtu = conn.stats().path.current_mtu;
        let mut recv = conn.accept_uni().await.unwrap();
        let got = recv.read_to_end(16 << 20).await.unwrap();
        assert_eq!(got.len(), 8 << 20);
        assert_eq!(first_mtu, 1200);
        let lo_mtu: u32 = std::fs::read_to_string("/sys/class/net/lo/mtu")
            .ok()
            .and_then(|m| m.trim().parse().ok())
            .unwrap_or(65_536);
        if lo_mtu > u32::from(BULK_MTU) + 28 {
            // Each end probes on its own; the client's probes go out with its
            // acknowledgements of the 8 MiB.
            tokio::time::timeout(Duration::from_secs(5), async {
                while conn.stats().path.current_mtu < BULK_MTU {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("MTU stuck at {}", conn.stats().path.current_mtu));
        }
        conn.close(0u32.into(), b"done");
        sender.await.unwrap();
    }
}
