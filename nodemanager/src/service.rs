//! The NM's async shell: the container-management server, the heartbeat loop
//! to the RM and the memory monitor.

use crate::authz::{self, Gate};
use crate::config::NmConfig;
use crate::containers::ContainerManager;
use crate::launch::{Layout, NodeEnv};
use crate::lifecycle::{KILLED_BY_APPMASTER, KILLED_BY_RESOURCEMANAGER, KILLED_ON_SHUTDOWN};
use crate::tokens::{NodeTokens, Refused};
use common::clock::wall_ms;
use common::identity::Role;
use common::protocol::{
    ContainerState, ErrorCode, NmRequest, NmResponse, RmRequest, RmResponse, WireError, ALPN_NM,
    ALPN_RM,
};
use common::tls::TlsIdentity;
use common::token::{ContainerToken, TokenError};
use common::transport::{self, Client, Incoming, Profile, Service};
use common::{ApplicationId, NodeId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NmError {
    #[error(transparent)]
    Tls(#[from] common::tls::TlsError),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error(transparent)]
    Store(#[from] common::staging::StoreError),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    #[error("container isolation: {0}")]
    Isolation(String),
    #[error("shuffle service (shuffle-service-address {address}): {source}")]
    Shuffle {
        address: String,
        source: shuffle_service::ServerError,
    },
}

struct Nm {
    node_id: NodeId,
    /// The container-token keys the RM sent, and the tokens already used.
    tokens: Mutex<NodeTokens>,
    /// Each application's user, from the container tokens its containers started with
    /// (kept after the app ends, for its logs; the oldest go beyond [`MAX_OWNERS`]).
    owners: RwLock<BTreeMap<ApplicationId, String>>,
    /// `admin-acl`: users who may read every container's status and logs.
    admins: Vec<String>,
    containers: Arc<ContainerManager>,
    /// Set on shutdown: new containers are refused.
    stopping: AtomicBool,
    /// The node's shuffle service (hosted here, or standalone beside us).
    shuffle: Option<Arc<shuffle_service::NodeService>>,
    /// Whether local-dir and log-dir are usable (sent with each heartbeat).
    disks: crate::disks::DiskHealth,
    /// Set when the RM tells this node to shut down (it was decommissioned), with its
    /// reason: the process stops for good ([`NmHandle::stop_requested`]).
    told_to_stop: watch::Sender<Option<String>>,
}

pub struct NmHandle {
    pub addr: SocketAddr,
    pub node_id: NodeId,
    /// `host:port` of the node's shuffle service (what containers get).
    pub shuffle_service: Option<String>,
    endpoint: quinn::Endpoint,
    registered: watch::Receiver<bool>,
    containers: Arc<ContainerManager>,
    nm: Arc<Nm>,
    rm: Arc<Client>,
    kill_grace: Duration,
    /// Containers outlive this process: a stop leaves them running.
    recovery: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Applications whose owner an NM remembers (ids sort oldest first).
const MAX_OWNERS: usize = 100_000;

/// Longest one shutdown call to the RM may take (it may be down).
const RM_CALL_BOUND: Duration = Duration::from_secs(3);
/// How long stopped containers get to be reaped after their SIGKILL.
const REAP_MARGIN: Duration = Duration::from_secs(5);

impl NmHandle {
    /// Resolves once the RM has accepted this node.
    pub async fn wait_registered(&mut self) {
        let _ = self.registered.wait_for(|r| *r).await;
    }

    /// The node's shuffle service (hosted here, or standalone beside us).
    pub fn shuffle_service_node(&self) -> Option<Arc<shuffle_service::NodeService>> {
        self.nm.shuffle.clone()
    }

    /// A cloneable view for health checks and status lines.
    pub fn monitor(&self) -> NmMonitor {
        NmMonitor {
            containers: self.containers.clone(),
            node_id: self.node_id.clone(),
        }
    }

    /// Resolves when the RM has told this node to shut down (it was decommissioned): the
    /// daemon then stops as on SIGTERM, for good.
    pub fn stop_requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut told = self.nm.told_to_stop.subscribe();
        async move {
            let _ = told.wait_for(Option::is_some).await;
        }
    }

    /// Graceful stop, bounded by `kill-grace` plus a few seconds per step. With
    /// `recovery` (and not told to stop by the RM): reports what completed and leaves the
    /// containers running for the next process. Otherwise the node stops for good: it
    /// refuses new containers, reports what completed, unregisters (the RM shows it
    /// SHUTDOWN with a message, places nothing more here and completes what still ran
    /// here for its applications), stops every container (SIGTERM, then SIGKILL after
    /// `kill-grace`), then closes the endpoint.
    pub async fn shutdown(self) {
        self.nm.stopping.store(true, Ordering::SeqCst);
        for t in &self.tasks {
            t.abort();
        }
        let registered = *self.registered.borrow();
        let told = self.nm.told_to_stop.borrow().clone();
        if self.recovery && told.is_none() {
            // A restart is expected: the containers run on, and the node stays registered
            // (the next process takes both back within the RM's node expiry).
            if registered {
                self.final_heartbeat().await;
            }
            self.endpoint.close(0u32.into(), b"restarting");
            if let Some(s) = &self.nm.shuffle {
                s.shutdown().await;
            }
            tracing::info!(
                containers = self.containers.live(),
                "node manager stopped; its containers run on (recovery)"
            );
            return;
        }
        match told {
            // Decommissioned: the RM has settled this node's containers already.
            Some(reason) => {
                tracing::info!(%reason, "stopping for good: told by the resource manager")
            }
            None if registered => {
                // Flush completions first: they keep their own exit statuses.
                self.final_heartbeat().await;
                self.unregister(&format!(
                    "{KILLED_ON_SHUTDOWN} (stopped for good: NM recovery is off)"
                ))
                .await;
            }
            None => {}
        }
        self.containers.kill_all();
        let deadline = tokio::time::Instant::now() + self.kill_grace + REAP_MARGIN;
        let live = self.containers.wait_all_ended(deadline).await;
        if live > 0 {
            tracing::warn!(live, "containers still running at shutdown");
        }
        let containers = self.containers.clone();
        let _ = tokio::task::spawn_blocking(move || containers.release_cgroups()).await;
        self.endpoint.close(0u32.into(), b"shutdown");
        let _ = tokio::time::timeout(RM_CALL_BOUND, self.endpoint.wait_idle()).await;
        if let Some(s) = &self.nm.shuffle {
            s.shutdown().await;
        }
        tracing::info!("node manager stopped");
    }

    /// Stops as a kill -9 would (for tests that run the NM in-process): nothing is
    /// reported or stopped; its containers run on; its ports are let go.
    pub async fn kill(self) {
        self.endpoint.close(0u32.into(), b"killed");
        for t in &self.tasks {
            t.abort();
        }
        if let Some(s) = &self.nm.shuffle {
            s.shutdown().await;
        }
    }

    /// Tells the RM this node stops for good (YARN's unRegisterNodeManager); bounded.
    async fn unregister(&self, message: &str) {
        let req = RmRequest::UnregisterNode {
            node_id: self.node_id.clone(),
            message: message.to_string(),
        };
        match tokio::time::timeout(RM_CALL_BOUND, self.rm.call::<_, RmResponse>(&req)).await {
            Ok(Ok(_)) => tracing::info!(
                message,
                "unregistered: the resource manager shows this node SHUTDOWN"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot unregister from the resource manager"),
            Err(_) => {
                tracing::warn!("the resource manager did not answer the unregistration in time")
            }
        }
    }

    /// One heartbeat with every unreported status; bounded.
    async fn final_heartbeat(&self) {
        let statuses = self.containers.heartbeat_statuses();
        let req = RmRequest::NodeHeartbeat {
            node_id: self.node_id.clone(),
            statuses: crate::disks::annotate(&statuses, self.nm.disks.get().as_deref()),
            token_keys_version: self.nm.tokens().version(),
            health: self.nm.disks.get(),
        };
        match tokio::time::timeout(RM_CALL_BOUND, self.rm.call::<_, RmResponse>(&req)).await {
            Ok(Ok(RmResponse::Heartbeat(_))) => {
                self.containers.acknowledge(&statuses);
                let done = statuses
                    .iter()
                    .filter(|s| s.state == ContainerState::COMPLETE)
                    .count();
                tracing::info!(completed = done, "final statuses reported");
            }
            Ok(Ok(other)) => tracing::warn!(?other, "unexpected heartbeat answer"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot report final statuses"),
            Err(_) => {
                tracing::warn!("the resource manager did not answer the final heartbeat in time")
            }
        }
    }
}

/// Health and a one-line summary of a running NM (for the service manager).
#[derive(Clone)]
pub struct NmMonitor {
    containers: Arc<ContainerManager>,
    node_id: NodeId,
}

impl NmMonitor {
    /// Takes the container table's lock (so a wedged NM stops answering) and summarizes.
    pub fn status_line(&self) -> String {
        let running = self.containers.live();
        format!(
            "node {} registered; {running} container(s) running",
            self.node_id
        )
    }
}

pub async fn start(config: &NmConfig) -> Result<NmHandle, NmError> {
    let identity = TlsIdentity::load(&config.tls_files())?;
    let (endpoint, addr) =
        transport::listen(&config.address, &identity, ALPN_NM, Profile::Control).await?;
    let host = common::hostname::advertised(addr, &config.hostname);
    let node_id = NodeId(format!("{host}:{}", addr.port()));
    let rm_endpoint = transport::client_endpoint(&identity, ALPN_RM, Profile::Control)?;
    let rm = Arc::new(Client::with_addresses(rm_endpoint, config.rms()));
    let bulk_endpoint = transport::client_endpoint(&identity, ALPN_RM, Profile::Bulk)?;
    let rm_files = Arc::new(Client::with_addresses(bulk_endpoint, config.rms()));
    let layout = Layout {
        local_dir: config.local_dir.clone(),
        log_dir: config.log_dir.clone(),
    };
    let shuffle = start_shuffle_service(config, &identity).await?;
    let shuffle_address = shuffle
        .as_ref()
        .map(|s| common::hostname::host_port(&host, s.port()));
    let web_url: Arc<std::sync::OnceLock<String>> = Arc::default();
    let env = NodeEnv {
        web_url: web_url.clone(),
        shuffle_service: shuffle_address.clone(),
        node_id: node_id.0.clone(),
        nm_host: host.clone(),
        nm_port: addr.port(),
        container_tls: common::tls::TlsFiles {
            ca: abs(&config.ca),
            cert: abs(&config.container_cert),
            key: abs(&config.container_key),
        },
        // The NM's own binary as the kernel has it (whatever its path's permissions).
        launcher: config.recovery.then(|| {
            if config.launcher.as_os_str().is_empty() {
                std::path::PathBuf::from("/proc/self/exe")
            } else {
                abs(&config.launcher)
            }
        }),
    };
    let isolation = crate::isolation::Isolation::setup(config, addr.port(), config.capability())
        .map_err(NmError::Isolation)?;
    tracing::info!(isolation = %isolation.report(), "container isolation: {}", isolation.describe());
    let containers = ContainerManager::new(
        layout,
        env,
        rm_files,
        config.kill_grace,
        shuffle.clone(),
        isolation,
    )?;
    let nm = Arc::new(Nm {
        node_id: node_id.clone(),
        tokens: Mutex::new(NodeTokens::default()),
        owners: RwLock::new(BTreeMap::new()),
        admins: config.admin_acl.clone(),
        containers: containers.clone(),
        stopping: AtomicBool::new(false),
        shuffle,
        disks: crate::disks::DiskHealth::default(),
        told_to_stop: watch::channel(None).0,
    });
    // A previous run's containers and app directories, before the RM hears from this node.
    for (app, user) in containers.recover() {
        nm.owners.write().expect("owners lock").insert(app, user);
    }
    containers.find_app_dirs();
    tracing::info!(%addr, node_id = %node_id, "node manager listening");
    let serve = tokio::spawn(transport::serve(endpoint.clone(), nm.clone()));
    let (reg_tx, registered) = watch::channel(false);
    let web = if config.web_address.is_empty() {
        None
    } else {
        let tls = config.web_tls.then_some((
            config.ca.as_path(),
            config.cert.as_path(),
            config.key.as_path(),
        ));
        let gate = nm.clone();
        let access = crate::web::Access {
            anonymous_read: config.web_anonymous_read.allowed(&config.web_address),
            may_view: Box::new(move |role, id| {
                authz::may_view(role, "the log page", id, None, gate.as_ref())
                    .map_err(|e| e.message)
            }),
        };
        Some(crate::web::start(&config.web_address, tls, &host, containers.clone(), access).await?)
    };
    let http_address = web.as_ref().map(|w| w.address.clone()).unwrap_or_default();
    if !http_address.is_empty() {
        let scheme = if config.web_tls { "https" } else { "http" };
        let _ = web_url.set(format!("{scheme}://{http_address}"));
    }
    let capability = config.capability();
    crate::metrics::metrics().set_capacity(capability);
    let address = common::hostname::host_port(&host, addr.port());
    let heartbeat = tokio::spawn(heartbeat_loop(
        nm.clone(),
        rm.clone(),
        address,
        http_address,
        capability,
        reg_tx,
    ));
    let checker = crate::disks::DiskChecker::new(
        &config.local_dir,
        &config.log_dir,
        config.max_disk_utilization_percent,
    );
    let disk_checker = nm.disks.spawn_checker(checker, config.disk_check_interval);
    let mut tasks = vec![serve, heartbeat, disk_checker];
    tasks.extend(web.map(|w| w.task));
    if config.pmem_check {
        let every = config.monitor_interval;
        let c = containers.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            loop {
                t.tick().await;
                let c = c.clone();
                let _ = tokio::task::spawn_blocking(move || c.check_memory()).await;
            }
        }));
    }
    Ok(NmHandle {
        addr,
        node_id,
        shuffle_service: shuffle_address,
        endpoint,
        registered,
        containers,
        nm,
        rm,
        kill_grace: config.kill_grace,
        recovery: config.recovery,
        tasks,
    })
}

/// The aux shuffle service (default), a standalone one beside this NM, or none.
async fn start_shuffle_service(
    config: &NmConfig,
    identity: &TlsIdentity,
) -> Result<Option<Arc<shuffle_service::NodeService>>, NmError> {
    let address = &config.shuffle_service_address;
    let err = |source| NmError::Shuffle {
        address: address.clone(),
        source,
    };
    let service = if config.shuffle_service_enabled {
        std::fs::create_dir_all(&config.local_dir).map_err(|e| {
            err(shuffle_service::ServerError::Config(format!(
                "creating {}: {e}",
                config.local_dir.display()
            )))
        })?;
        let s =
            shuffle_service::NodeService::start_in_process(address, identity, &config.local_dir)
                .await
                .map_err(err)?;
        tracing::info!(
            port = s.port(),
            "shuffle service hosted in the node manager"
        );
        s
    } else if address.is_empty() {
        return Ok(None);
    } else {
        shuffle_service::NodeService::standalone(address, identity, &config.key).map_err(err)?
    };
    Ok(Some(Arc::new(service)))
}

fn abs(p: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

async fn register(
    nm: &Nm,
    rm: &Client,
    address: &str,
    http_address: &str,
    capability: common::Resource,
) -> Result<u64, transport::TransportError> {
    // Running containers and completions not yet acknowledged: a restarted RM takes
    // the former back and tells their AMs of the latter, once.
    let statuses = nm.containers.heartbeat_statuses();
    let resp: RmResponse = rm
        .call(&RmRequest::RegisterNode {
            node_id: nm.node_id.clone(),
            address: address.to_string(),
            http_address: http_address.to_string(),
            capability,
            running: statuses.clone(),
            apps: nm.containers.apps(),
            isolation: nm.containers.isolation(),
        })
        .await?;
    match resp {
        RmResponse::ShutdownNode { reason } => {
            nm.told_to_stop(&reason);
            Err(transport::TransportError::Remote {
                addr: rm.addr(),
                error: WireError::new(ErrorCode::InvalidState, reason),
            })
        }
        RmResponse::NodeRegistered {
            heartbeat_interval_ms,
            token_keys,
            registered_ms,
            ..
        } => {
            tracing::info!(keys = ?token_keys.ids(), "container-token keys received");
            nm.tokens().registered(token_keys, registered_ms);
            nm.containers.acknowledge(&statuses);
            tracing::info!(node_id = %nm.node_id, rm = %rm.addr(), "registered with the resource manager");
            Ok(heartbeat_interval_ms)
        }
        other => Err(transport::TransportError::Remote {
            addr: rm.addr(),
            error: WireError::new(ErrorCode::Internal, format!("unexpected answer {other:?}")),
        }),
    }
}

/// Wait before the next try after a failed registration or heartbeat.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(200);

async fn heartbeat_loop(
    nm: Arc<Nm>,
    rm: Arc<Client>,
    address: String,
    http_address: String,
    capability: common::Resource,
    registered: watch::Sender<bool>,
) {
    let changed = nm.containers.changed.clone();
    'register: loop {
        let interval = loop {
            match register(&nm, &rm, &address, &http_address, capability).await {
                Ok(ms) => break Duration::from_millis(ms.max(10)),
                // Decommissioned: the process stops (`NmHandle::stop_requested`).
                Err(_) if nm.told_to_stop.borrow().is_some() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot register with the resource manager; retrying");
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                }
            }
        };
        let _ = registered.send(true);
        loop {
            let statuses = nm.containers.heartbeat_statuses();
            let req = RmRequest::NodeHeartbeat {
                node_id: nm.node_id.clone(),
                statuses: crate::disks::annotate(&statuses, nm.disks.get().as_deref()),
                token_keys_version: nm.tokens().version(),
                health: nm.disks.get(),
            };
            match rm.call::<_, RmResponse>(&req).await {
                Ok(RmResponse::Heartbeat(reply)) => {
                    if let Some(keys) = reply.token_keys {
                        tracing::info!(keys = ?keys.ids(), "container-token keys rolled");
                        nm.tokens().update(keys);
                    }
                    nm.containers.acknowledge(&statuses);
                    for (c, exit) in reply.kill {
                        nm.containers
                            .kill(c, exit, KILLED_BY_RESOURCEMANAGER.into());
                    }
                    for app in reply.finished_apps {
                        // Stops its containers; its directory goes (and the shuffle
                        // service is told) once they are gone.
                        nm.containers.app_finished(app);
                    }
                    if reply.reregister {
                        tracing::warn!("the resource manager asked this node to register again");
                        continue 'register;
                    }
                }
                Ok(RmResponse::ShutdownNode { reason }) => {
                    nm.told_to_stop(&reason);
                    return;
                }
                Ok(other) => tracing::warn!(?other, "unexpected heartbeat answer"),
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat failed");
                    // The connection is gone (a reset RM, or one silent past the idle
                    // timeout, which the failed call already waited for): try a new one
                    // soon rather than a whole interval later.
                    tokio::time::sleep(interval.min(RETRY_AFTER_FAILURE)).await;
                    continue;
                }
            }
            // Out-of-band heartbeat as soon as a container completes.
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = changed.notified() => {}
            }
        }
    }
}

/// A refused container token as it goes back on the wire.
fn refusal(e: Refused) -> WireError {
    let code = match &e {
        Refused::NotRegistered => ErrorCode::InvalidState,
        Refused::Token(TokenError::Expired { .. }) => ErrorCode::TokenExpired,
        Refused::Token(TokenError::WrongNode { .. }) => ErrorCode::WrongNode,
        Refused::Token(_) => ErrorCode::InvalidToken,
    };
    tracing::warn!(error = %e, "container token refused");
    WireError::new(code, e.to_string())
}

impl Nm {
    /// The RM told this node to shut down (it was decommissioned).
    fn told_to_stop(&self, reason: &str) {
        tracing::warn!(%reason, "the resource manager told this node to shut down");
        self.told_to_stop.send_replace(Some(reason.to_string()));
    }

    /// The token state. Tokens are checked on the wall clock: their expiry is
    /// stamped by the RM and crosses hosts, where no monotonic clock is shared
    /// (as in YARN).
    fn tokens(&self) -> MutexGuard<'_, NodeTokens> {
        self.tokens.lock().expect("tokens lock")
    }

    /// Checks a token (for stopping its container: an expired one will do).
    fn check_token(&self, token: &ContainerToken, allow_expired: bool) -> Result<(), WireError> {
        self.tokens()
            .check(token, &self.node_id, wall_ms(), allow_expired)
            .map_err(refusal)
    }

    /// Checks a token for starting its container, which it may do once.
    fn admit(&self, token: &ContainerToken) -> Result<(), WireError> {
        self.tokens()
            .admit(token, &self.node_id, wall_ms())
            .map_err(refusal)
    }

    /// Registers the app's secret, which the RM vouches for in the token just
    /// admitted, with the node's shuffle service, so that the app's executors
    /// (and only they) can register there. A failure is logged: containers that
    /// do not use the service still start.
    async fn register_with_shuffle_service(&self, token: &ContainerToken) {
        let (Some(shuffle), id) = (&self.shuffle, &token.identifier) else {
            return;
        };
        if let Err(e) = shuffle.register_app(id.app, id.app_secret.as_str()).await {
            tracing::warn!(app_id = %id.app, error = %e, "cannot register the application with the shuffle service");
        }
    }
}

impl Gate for Nm {
    fn verify(&self, token: &ContainerToken, allow_expired: bool) -> Result<(), WireError> {
        self.check_token(token, allow_expired)
    }

    fn owner(&self, app: ApplicationId) -> Option<String> {
        self.owners.read().expect("owners lock").get(&app).cloned()
    }

    fn is_admin(&self, user: &str) -> bool {
        self.admins.iter().any(|a| a == user || a == "*")
    }
}

/// Logs a refused request with who asked for what.
fn log_refusal(peer: &Role, remote: SocketAddr, kind: &str, e: &WireError) {
    tracing::warn!(peer = %peer, %remote, request = kind, code = ?e.code, reason = %e.message, "request refused");
}

impl Service for Nm {
    type Req = NmRequest;
    type Resp = NmResponse;

    fn handshake_failed(&self) {
        daemon::metrics::tls_handshake_failed("rpc");
    }

    async fn handle(self: Arc<Self>, inc: Incoming<NmRequest>) {
        // The authorization table, before anything else (`authz`): tokens and roles.
        if let Err(e) = authz::authorize(&inc.peer, &inc.req, self.as_ref()) {
            log_refusal(&inc.peer, inc.remote, inc.req.kind(), &e);
            return inc.reply(&NmResponse::Error(e)).await;
        }
        let resp = match &inc.req {
            NmRequest::StartContainer { .. } if self.stopping.load(Ordering::SeqCst) => {
                NmResponse::Error(WireError::new(
                    ErrorCode::InvalidState,
                    format!("node manager {} is shutting down", self.node_id),
                ))
            }
            // The table verified the token; a start may use it only once.
            NmRequest::StartContainer { token, launch } => 'start: {
                if let Err(e) = self.admit(token) {
                    break 'start NmResponse::Error(e);
                }
                self.register_with_shuffle_service(token).await;
                let id = &token.identifier;
                {
                    let mut owners = self.owners.write().expect("owners lock");
                    owners.insert(id.app, id.user.clone());
                    if owners.len() > MAX_OWNERS {
                        owners.pop_first();
                    }
                }
                match self
                    .containers
                    .start(id.container_id, &id.user, id.resource, launch.clone())
                    .await
                {
                    Ok(pid) => NmResponse::Started { pid },
                    Err(e) => NmResponse::Error(e),
                }
            }
            NmRequest::StopContainer { container_id, .. } => {
                if self.containers.kill(
                    *container_id,
                    common::protocol::exit_status::KILLED_BY_APPMASTER,
                    KILLED_BY_APPMASTER.into(),
                ) {
                    NmResponse::Ok
                } else {
                    NmResponse::Error(WireError::new(
                        ErrorCode::UnknownContainer,
                        format!("{container_id} is not on this node"),
                    ))
                }
            }
            NmRequest::ReadLog {
                container_id,
                file,
                offset,
                max_bytes,
                ..
            } => match self
                .containers
                .read_log(*container_id, file, *offset, *max_bytes)
            {
                Ok((data, size)) => NmResponse::Log { data, size },
                Err(e) => NmResponse::Error(e),
            },
            NmRequest::GetContainerStatus { container_id, .. } => {
                match self.containers.status(*container_id) {
                    Some(s) => NmResponse::Status(s),
                    None => NmResponse::Error(WireError::new(
                        ErrorCode::UnknownContainer,
                        format!("{container_id} is not on this node"),
                    )),
                }
            }
        };
        inc.reply(&resp).await;
    }
}
