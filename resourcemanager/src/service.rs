//! The RM's async shell: QUIC in, [`RmState`] transitions, actions out.

use crate::authz;
use crate::config::RmConfig;
use crate::ha::{Active, Gate};
use crate::links::Links;
use crate::metrics::{RmEvent, RmMetrics};
use crate::state::{Action, Limits, Now, RmState};
use crate::store::{Backend, Changes, Persister, Recovered, StateStore, StoreError};
use crate::web_tokens::{self, WebTokens};
use common::clock::{mono_ms, wall_ms};
use common::launch::AmLaunch;
use common::protocol::ApplicationReport;
use common::protocol::{
    AmEvent, ErrorCode, NmRequest, NmResponse, NodeHeartbeatResponse, RmRequest, RmResponse,
    WireError, ALPN_NM, ALPN_RM,
};
use common::staging::{ContentStore, StoreError as StagingError};
use common::tls::TlsIdentity;
use common::transport::{self, Client, Incoming, Profile, Service};
use common::{AppAttemptId, ApplicationId};
use daemon::https::WebError;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RmError {
    #[error(transparent)]
    Tls(#[from] common::tls::TlsError),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error(transparent)]
    Store(#[from] common::staging::StoreError),
    #[error(transparent)]
    State(#[from] StoreError),
    #[error(transparent)]
    Web(#[from] WebError),
    #[error("queues: {0}")]
    Queues(crate::scheduler::QueueConfigError),
    #[error("high availability: {0}")]
    Ha(#[from] crate::ha::etcd::EtcdError),
    #[error("the web-token key in {dir}: {source}")]
    WebTokenKey {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Per attempt: the push channel to its AM. Events sent before the AM
/// subscribes wait in the channel.
struct AmChannel {
    tx: mpsc::UnboundedSender<AmEvent>,
    rx: Option<mpsc::UnboundedReceiver<AmEvent>>,
    /// Which subscription holds `rx`: a new one takes over from the last (an AM that
    /// lost its connection subscribes again before the RM notices the old one died).
    subscription: u64,
}

pub(crate) struct Rm {
    state: Mutex<RmState>,
    store: ContentStore,
    am_channels: Mutex<HashMap<AppAttemptId, AmChannel>>,
    nm_endpoint: quinn::Endpoint,
    nm_clients: Mutex<HashMap<String, Arc<Client>>>,
    advertised: String,
    /// Every RM of the HA pair (`rm-addresses`), for the AMs it launches; empty without.
    peers: Vec<String>,
    heartbeat_interval_ms: u64,
    persist: Persister,
    metrics: RmMetrics,
    /// How the web server is reached (None: no web server).
    web: Option<Links>,
    started_ms: u64,
    /// Signs and checks the web's bearer tokens.
    tokens: Arc<WebTokens>,
}

/// A running RM (active, or a standby of an HA pair); dropping it does not stop it,
/// `shutdown` does.
pub struct RmHandle {
    pub addr: SocketAddr,
    pub advertised: String,
    /// The web server's base URL (`https://host:port`), when it runs (a single RM; an
    /// HA RM starts its web server when it becomes active).
    pub web_url: Option<String>,
    endpoint: quinn::Endpoint,
    gate: Arc<Gate>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Longest the shutdown waits for the final state write and for clients to
/// hear that the RM closed.
const SHUTDOWN_STEP: Duration = Duration::from_secs(5);

impl RmHandle {
    pub(crate) fn new(
        bound: &Bound,
        gate: Arc<Gate>,
        web_url: Option<String>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) -> Self {
        Self {
            addr: bound.addr,
            advertised: bound.advertised.clone(),
            web_url,
            endpoint: bound.endpoint.clone(),
            gate,
            tasks,
        }
    }

    /// SIGHUP (YARN's `refreshQueues`): a changed scheduler, queues, AM share or
    /// preemption setting applies at once. Every live application must still have its
    /// queue (as a leaf), or the whole reload is refused and the old queues stay.
    /// A standby applies nothing (it reads its file again when restarted).
    pub fn reload(&self, running: &RmConfig, new: &RmConfig) -> Result<Vec<&'static str>, String> {
        let mut applied = Vec::new();
        let Some(rm) = self.gate.rm() else {
            return Ok(applied);
        };
        for (key, changed) in [
            ("scheduler", running.scheduler != new.scheduler),
            ("queues", running.queues != new.queues),
            (
                "maximum-am-resource-percent",
                running.maximum_am_resource_percent != new.maximum_am_resource_percent,
            ),
        ] {
            if changed {
                applied.push(key);
            }
        }
        let preemption_changed = running.preemption_conf() != new.preemption_conf();
        if applied.is_empty() && !preemption_changed {
            return Ok(applied);
        }
        let scheduler = if applied.is_empty() {
            None
        } else {
            Some(new.build_scheduler().map_err(|e| e.to_string())?)
        };
        rm.with_state(|s| {
            if let Some(scheduler) = scheduler {
                s.set_scheduler(scheduler)?;
            }
            s.set_preemption(new.preemption_conf());
            Ok::<_, String>(())
        })?;
        if running.preemption != new.preemption {
            applied.push("preemption");
        }
        if running.preemption_wait != new.preemption_wait {
            applied.push("preemption-wait");
        }
        tracing::info!(keys = %applied.join(", "), "queues refreshed");
        Ok(applied)
    }

    /// Stops accepting requests, saves every application to the state store
    /// and closes the endpoint; bounded by a few seconds per step. An active RM of an
    /// HA pair then gives up its lease, so that the standby takes over at once.
    pub async fn shutdown(self) {
        self.endpoint.close(0u32.into(), b"shutdown");
        for t in &self.tasks {
            t.abort();
        }
        if let Some(active) = self.gate.step_down(None) {
            let rm = active.rm.clone();
            // The full state, behind everything already queued.
            rm.with_state(|s| {
                let now = read_clocks();
                let (_, nodes_removed) = s.take_dirty_nodes(|| now);
                rm.persist.save(Changes {
                    next_seq: s.next_seq(),
                    apps: s.export_apps(),
                    removed: s.take_removed(),
                    keys: Some(Box::new(s.export_keys(now))),
                    nodes: s.export_nodes(now),
                    nodes_removed,
                });
            });
            if tokio::time::timeout(SHUTDOWN_STEP, rm.persist.barrier())
                .await
                .is_err()
            {
                tracing::error!("the state store did not finish writing within {SHUTDOWN_STEP:?}");
            } else {
                tracing::info!("state saved");
            }
            active.stop(SHUTDOWN_STEP).await;
        }
        let _ = tokio::time::timeout(SHUTDOWN_STEP, self.endpoint.wait_idle()).await;
    }

    /// Stops as a kill -9 would (for tests that run the RM in-process): no final save,
    /// nothing queued for the store is written, the endpoint closes at once.
    pub fn kill(self) {
        self.endpoint.close(0u32.into(), b"killed");
        for t in &self.tasks {
            t.abort();
        }
        if let Some(active) = self.gate.step_down(None) {
            // Its lease is left to lapse, as a dead process's would.
            active.kill();
        }
    }

    /// The core's accounting checked against itself ([`RmState::audit`]).
    pub fn audit(&self) -> Result<(), String> {
        self.inspect(RmState::audit)
    }

    /// Reads the core (for tests that run the RM in-process); panics on a standby.
    pub fn inspect<T>(&self, f: impl FnOnce(&RmState) -> T) -> T {
        let rm = self.gate.rm().expect("inspect needs the active RM");
        rm.with_state(|s| f(s))
    }

    /// A cloneable view for health checks and status lines.
    pub fn monitor(&self) -> RmMonitor {
        RmMonitor {
            gate: self.gate.clone(),
            advertised: self.advertised.clone(),
        }
    }

    /// Whether this RM serves now (always, without HA).
    pub fn is_active(&self) -> bool {
        self.gate.rm().is_some()
    }
}

/// Health and a one-line summary of a running RM (for the service manager).
#[derive(Clone)]
pub struct RmMonitor {
    gate: Arc<Gate>,
    advertised: String,
}

impl RmMonitor {
    /// Takes the state lock (so a wedged RM stops answering) and summarizes.
    pub fn status_line(&self) -> String {
        use common::protocol::{NodeState, YarnApplicationState as S};
        let Some(rm) = self.gate.rm() else {
            return match self.gate.leader() {
                Some(l) => format!("standby on {}; the active one is at {l}", self.advertised),
                None => format!("standby on {}; no active one yet", self.advertised),
            };
        };
        let (nodes, active) = rm.with_state(|s| {
            let nodes = s
                .node_reports()
                .iter()
                .filter(|n| n.state == NodeState::RUNNING)
                .count();
            (
                nodes,
                s.list(&[S::ACCEPTED, S::RUNNING], read_clocks()).len(),
            )
        });
        format!(
            "listening on {}; {nodes} node(s) running, {active} active application(s)",
            rm.advertised
        )
    }
}

/// Both clocks, read once for one transition of the core: monotonic for its
/// decisions and live durations, wall clock for the times it shows and stores.
pub(crate) fn read_clocks() -> Now {
    Now {
        mono_ms: mono_ms(),
        wall_ms: wall_ms(),
    }
}

/// The RM's QUIC endpoint, bound, and what every role of it shares.
#[derive(Clone)]
pub(crate) struct Bound {
    pub endpoint: quinn::Endpoint,
    pub addr: SocketAddr,
    pub advertised: String,
    nm_endpoint: quinn::Endpoint,
}

/// Binds the configured address.
pub(crate) async fn bind(config: &RmConfig) -> Result<Bound, RmError> {
    let identity = TlsIdentity::load(&config.tls_files())?;
    let (endpoint, addr) =
        transport::listen(&config.address, &identity, ALPN_RM, Profile::Control).await?;
    let advertised = common::hostname::advertised_address(addr, "");
    let nm_endpoint = transport::client_endpoint(&identity, ALPN_NM, Profile::Control)?;
    Ok(Bound {
        endpoint,
        addr,
        advertised,
        nm_endpoint,
    })
}

/// Starts a single RM (state in redb) on the configured address, with its web server
/// when one is configured.
pub(crate) async fn start(config: &RmConfig) -> Result<RmHandle, RmError> {
    let bound = bind(config).await?;
    let store = Backend::Redb(Arc::new(StateStore::open(&config.state_dir)?));
    let active = activate(config, &bound, store, None).await?;
    let web_url = active.web_url.clone();
    let gate = Arc::new(Gate::standby());
    gate.activate(active);
    tracing::info!(addr = %bound.addr, advertised = %bound.advertised, "resource manager listening");
    let serve = tokio::spawn(transport::serve(bound.endpoint.clone(), gate.clone()));
    Ok(RmHandle::new(&bound, gate, web_url, vec![serve]))
}

/// Makes this RM the serving one: opens the staging store, loads the state from
/// `backend` and recovers it (the work-preserving path), starts the writer, the
/// timers and the web server. `lease`: the HA lease it holds, given up when it stops.
pub(crate) async fn activate(
    config: &RmConfig,
    bound: &Bound,
    backend: Backend,
    lease: Option<(crate::ha::etcd::Etcd, i64)>,
) -> Result<Active, RmError> {
    let store = ContentStore::open(config.state_dir.join("staging"))?;
    let limits = Limits {
        max_allocation: config.max_allocation(),
        max_am_attempts: config.max_am_attempts,
        nm_expiry_ms: config.nm_expiry.as_millis() as u64,
        token_expiry_ms: config.container_token_expiry.as_millis() as u64,
        key_roll_ms: config.token_key_roll_interval.as_millis() as u64,
    };
    let (mut state, persist, writer) = open_state(config, limits, backend).await?;
    state.set_admin_acl(config.admin_acl.iter().cloned());
    state.set_decommission_timeout(config.graceful_decommission_timeout.as_millis() as u64);
    let web = crate::web::bind(config).await?;
    let rm = Arc::new(Rm {
        state: Mutex::new(state),
        store,
        am_channels: Mutex::new(HashMap::new()),
        nm_endpoint: bound.nm_endpoint.clone(),
        nm_clients: Mutex::new(HashMap::new()),
        advertised: bound.advertised.clone(),
        peers: config.rm_addresses.clone(),
        heartbeat_interval_ms: config.heartbeat_interval.as_millis() as u64,
        persist,
        metrics: RmMetrics::default(),
        web: web.as_ref().map(|(_, links)| links.clone()),
        started_ms: wall_ms(),
        tokens: Arc::new(WebTokens::open(&config.state_dir).map_err(|source| {
            RmError::WebTokenKey {
                dir: config.state_dir.clone(),
                source,
            }
        })?),
    });
    let expiry_every =
        (config.nm_expiry / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let preemption = {
        let rm = rm.clone();
        let every = config.preemption_interval;
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                t.tick().await;
                let actions = rm.with_state(|s| s.preempt(read_clocks()));
                rm.execute(actions);
            }
        })
    };
    let ticker = {
        let rm = rm.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(expiry_every);
            loop {
                t.tick().await;
                // Decided on the monotonic clock: a wall-clock step cannot expire nodes
                // or roll keys.
                let actions = rm.with_state(|s| {
                    let now = read_clocks();
                    let mut actions = s.expire_nodes(now);
                    actions.extend(s.poll_decommissioning(now));
                    actions.extend(s.roll_keys(now));
                    actions
                });
                rm.execute(actions);
            }
        })
    };
    let mut tasks = vec![ticker, preemption];
    let web_url = web.as_ref().map(|(_, links)| links.base.clone());
    if let Some((listener, links)) = web {
        let web = Arc::new(crate::web::Web {
            tokens: rm.tokens(),
            rm: rm.clone(),
            links,
            anonymous_read: config.web_anonymous_read.allowed(&config.web_address),
        });
        tasks.push(crate::web::spawn(listener, web));
    }
    Ok(Active {
        rm,
        writer,
        tasks,
        web_url,
        lease,
    })
}

/// Loads the previous run's state from `backend`, takes its applications back and
/// starts the writer.
async fn open_state(
    config: &RmConfig,
    limits: Limits,
    backend: Backend,
) -> Result<(RmState, Persister, tokio::task::JoinHandle<()>), RmError> {
    let recovered = backend.load().await?;
    let now = read_clocks();
    // The cluster timestamp is in every id, shown and kept across restarts: wall clock.
    let cluster_ts = recovered.as_ref().map_or(now.wall_ms, |r| r.cluster_ts);
    let mut state = RmState::new(cluster_ts, limits, now);
    // Before recovery: recovered applications go back into their queues.
    let scheduler = config.build_scheduler().map_err(RmError::Queues)?;
    state.set_scheduler(scheduler).map_err(|e| {
        RmError::Queues(crate::scheduler::QueueConfigError {
            queue: "root".into(),
            reason: e,
        })
    })?;
    state.set_preemption(config.preemption_conf());
    state.set_max_completed_apps(config.max_completed_applications);
    if let Some(Recovered { saved: r, .. }) = recovered {
        tracing::info!(
            apps = r.apps.len(),
            cluster_ts,
            next_seq = r.next_seq,
            store = %backend.describe(),
            "recovered resource manager state"
        );
        // The previous run's keys: the tokens its apps hold still verify.
        if let Some(keys) = &r.keys {
            state.restore_keys(keys, now).map_err(|e| {
                RmError::State(StoreError::Record {
                    path: backend.describe().into(),
                    key: "master-keys".into(),
                    reason: e.to_string(),
                })
            })?;
        }
        state.recover(r.next_seq, r.apps, now);
        state.recover_nodes(r.nodes, now);
    }
    // Before serving: the store has the cluster timestamp, the keys and the recovered
    // changes.
    let mut changes = changes_of(&mut state, || now).unwrap_or_default();
    changes.next_seq = state.next_seq();
    backend.save(cluster_ts, changes).await?;
    let (persist, writer) = Persister::spawn(backend, cluster_ts);
    Ok((state, persist, writer))
}

/// What `state` changed since the last call, for the store; `None`: nothing.
fn changes_of(state: &mut RmState, now: impl Fn() -> Now) -> Option<Changes> {
    let (nodes, nodes_removed) = state.take_dirty_nodes(&now);
    let changes = Changes {
        next_seq: state.next_seq(),
        apps: state.take_dirty(),
        removed: state.take_removed(),
        keys: state.take_dirty_keys(&now).map(Box::new),
        nodes,
        nodes_removed,
    };
    changes.any().then_some(changes)
}

impl Rm {
    /// Runs `f` on the state under its lock; what it changed goes to the store
    /// queue before the lock is released, so the queue keeps the change order.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut RmState) -> T) -> T {
        let mut state = self.state.lock().expect("state lock");
        let out = f(&mut state);
        if let Some(changes) = changes_of(&mut state, read_clocks) {
            self.persist.save(changes);
        }
        out
    }

    pub(crate) fn metrics(&self) -> &RmMetrics {
        &self.metrics
    }

    pub(crate) fn tokens(&self) -> Arc<WebTokens> {
        self.tokens.clone()
    }

    pub(crate) fn started_ms(&self) -> u64 {
        self.started_ms
    }

    /// A report as clients see it (a finished app's tracking URL points to the RM).
    fn public(&self, r: ApplicationReport) -> ApplicationReport {
        match &self.web {
            Some(links) => links.public_report(r),
            None => r,
        }
    }

    /// Kills `app` for `user`, who needs the right to modify it (no-op when it has
    /// ended), once the store has the change.
    pub(crate) async fn kill_app(
        self: &Arc<Self>,
        app: ApplicationId,
        user: &str,
    ) -> Result<(), WireError> {
        let actions = self.with_state(|s| s.kill(app, user, read_clocks()))?;
        self.persist.barrier().await;
        self.execute(actions);
        Ok(())
    }

    fn channel(&self, attempt: AppAttemptId) -> mpsc::UnboundedSender<AmEvent> {
        let mut chans = self.am_channels.lock().expect("channels lock");
        chans
            .entry(attempt)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                AmChannel {
                    tx,
                    rx: Some(rx),
                    subscription: 0,
                }
            })
            .tx
            .clone()
    }

    fn execute(self: &Arc<Self>, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::PushAm { attempt, event } => {
                    if let AmEvent::Allocated(cs) = &event {
                        let still_asking = self.with_state(|s| {
                            s.pending_asks().iter().any(|(a, _)| *a == attempt.app)
                        });
                        RmEvent::ContainersAllocated {
                            attempt,
                            containers: cs.len(),
                            am: false,
                            still_asking,
                        }
                        .emit(&self.metrics, Instant::now());
                    }
                    let _ = self.channel(attempt).send(event);
                }
                Action::CloseAm { attempt } => {
                    // Dropping the sender ends the AM's push stream once drained.
                    let mut chans = self.am_channels.lock().expect("channels lock");
                    if let Some(ch) = chans.get_mut(&attempt) {
                        let (tx, _) = mpsc::unbounded_channel();
                        ch.tx = tx;
                    }
                }
                Action::LaunchAm {
                    container,
                    submission,
                    amrm_token,
                    app_secret,
                } => {
                    RmEvent::ContainersAllocated {
                        attempt: container.id.attempt,
                        containers: 1,
                        am: true,
                        still_asking: false,
                    }
                    .emit(&self.metrics, Instant::now());
                    self.channel(container.id.attempt);
                    let rm = self.clone();
                    tokio::spawn(async move {
                        let mut launch = submission.am_launch.clone();
                        let am = AmLaunch {
                            rm_address: rm.advertised.clone(),
                            rm_addresses: rm.peers.clone(),
                            amrm_token,
                            // Wall clock: it crosses to the AM, whose event log stamps are
                            // wall-clock.
                            allocated_wall_ms: wall_ms(),
                            app_secret: app_secret.as_str().to_string(),
                        };
                        am.add_to(&mut launch);
                        let client = rm.nm_client(&container.node_address);
                        let req = NmRequest::StartContainer {
                            token: container.token.clone(),
                            launch,
                        };
                        let result = launch_patiently(&client, &req).await;
                        if let Err(e) = result {
                            tracing::warn!(container_id = %container.id, error = %e, "AM launch failed");
                            let actions = rm.with_state(|s| {
                                s.am_launch_failed(
                                    container.id,
                                    format!("AM launch failed: {e}"),
                                    read_clocks(),
                                )
                            });
                            rm.execute(actions);
                        }
                    });
                }
            }
        }
    }

    fn nm_client(&self, addr: &str) -> Arc<Client> {
        let mut clients = self.nm_clients.lock().expect("clients lock");
        clients
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(Client::new(self.nm_endpoint.clone(), addr)))
            .clone()
    }

    /// One upload per content: a second upload of a content being uploaded waits for
    /// the first, then is told the content is here (or, if the first failed, sends it).
    /// The bytes stream under QUIC flow control with no deadline but the transport's
    /// idle timeout; a failed or cut upload leaves no temp file.
    async fn upload(&self, inc: &mut Incoming<RmRequest>, sha256: &str, size: u64) -> RmResponse {
        let slot = match self.store.reserve(sha256).await {
            Ok(Some(slot)) => slot,
            Ok(None) => return RmResponse::HasFile(true),
            Err(e) => {
                return RmResponse::Error(WireError::new(ErrorCode::BadRequest, e.to_string()))
            }
        };
        if transport::write(&mut inc.send, "upload", &RmResponse::SendFile)
            .await
            .is_err()
        {
            return RmResponse::Error(WireError::new(ErrorCode::BadRequest, "uploader went away"));
        }
        match slot.put(size, &mut inc.recv).await {
            Ok(_) => {
                tracing::info!(sha256, size, "file staged");
                RmResponse::Ok
            }
            Err(e) => {
                let code = match e {
                    StagingError::Io { .. } => ErrorCode::Internal,
                    _ => ErrorCode::DigestMismatch,
                };
                tracing::warn!(sha256, error = %e, "upload failed");
                RmResponse::Error(WireError::new(code, e.to_string()))
            }
        }
    }

    async fn fetch(&self, mut inc: Incoming<RmRequest>, sha256: &str) {
        let file = match self.store.path(sha256) {
            Ok(p) => tokio::fs::File::open(p).await.ok(),
            Err(_) => None,
        };
        let Some(mut file) = file else {
            let e = WireError::new(ErrorCode::UnknownFile, format!("no staged file {sha256}"));
            return inc.reply(&RmResponse::Error(e)).await;
        };
        let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        if transport::write(&mut inc.send, "fetch", &RmResponse::FileFollows { size })
            .await
            .is_ok()
        {
            let _ = tokio::io::copy(&mut file, &mut inc.send).await;
        }
        let _ = inc.send.finish();
    }

    async fn subscribe(&self, mut inc: Incoming<RmRequest>, attempt: AppAttemptId, token: &str) {
        if let Err(e) = self.with_state(|s| s.check_am(attempt, token)) {
            if e.code == ErrorCode::Unauthorized {
                log_refusal(&inc, "SubscribeAm", &e);
            }
            return inc.reply(&RmResponse::Error(e)).await;
        }
        self.channel(attempt);
        let (subscription, mut rx) = {
            let mut chans = self.am_channels.lock().expect("channels lock");
            let ch = chans.get_mut(&attempt).expect("made above");
            ch.subscription += 1;
            let rx = ch.rx.take().unwrap_or_else(|| {
                // Another subscription holds the receiver: a new channel ends it.
                let (tx, rx) = mpsc::unbounded_channel();
                ch.tx = tx;
                rx
            });
            (ch.subscription, rx)
        };
        if transport::write(&mut inc.send, "am", &RmResponse::Ok)
            .await
            .is_err()
        {
            return;
        }
        // Until the attempt's stream is closed (`None`) or the AM is gone (its stream
        // stopped or its connection lost, noticed at once; or a failed write).
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = inc.send.stopped() => None,
            };
            let Some(ev) = ev else { break };
            if transport::write(&mut inc.send, "am", &RmResponse::AmEvent(ev))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = inc.send.finish();
        let mut chans = self.am_channels.lock().expect("channels lock");
        if let Some(ch) = chans.get_mut(&attempt) {
            if ch.subscription == subscription {
                if !rx.is_closed() {
                    // The AM went away (an RM-side view of a broken connection): what is
                    // queued waits for its next subscription.
                    ch.rx = Some(rx);
                } else {
                    chans.remove(&attempt);
                }
            }
        }
    }
}

/// How long the RM keeps trying to start an AM on a node it cannot reach: a node manager
/// restarting (work-preserving, within the node expiry) is back in a second or two.
const AM_LAUNCH_PATIENCE: Duration = Duration::from_secs(10);

/// Starts an AM container, trying a node it cannot reach again for up to
/// [`AM_LAUNCH_PATIENCE`]; a node's answer (a refusal) is final.
async fn launch_patiently(
    client: &Client,
    req: &NmRequest,
) -> Result<NmResponse, transport::TransportError> {
    let give_up = Instant::now() + AM_LAUNCH_PATIENCE;
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.call(req).await {
            Err(e) if e.code().is_none() && Instant::now() < give_up => {
                tracing::warn!(node = %client.addr(), error = %e, "AM launch: node unreachable; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            r => return r,
        }
    }
}

/// Logs a refusal (of the table, or past it: an app's ACL, another node's container, a bad
/// AMRM token) with who asked for what.
fn log_refusal<R>(inc: &Incoming<R>, kind: &str, e: &WireError) {
    tracing::warn!(peer = %inc.peer, remote = %inc.remote, request = kind, code = ?e.code, reason = %e.message, "request refused");
}

impl Service for Rm {
    type Req = RmRequest;
    type Resp = RmResponse;

    async fn handle(self: Arc<Self>, mut inc: Incoming<RmRequest>) {
        let method = inc.req.kind();
        // The authorization table, before anything else (`authz`).
        if let Err(e) = authz::authorize(&inc.peer, &inc.req) {
            log_refusal(&inc, method, &e);
            self.metrics.rpc(method, Some(e.code));
            return inc.reply(&RmResponse::Error(e)).await;
        }
        // Client calls are made as the certificate's user (the table allowed only users).
        let user = inc.peer.user().unwrap_or_default().to_string();
        let now = read_clocks();
        let req = inc.req.clone();
        let resp = match req {
            RmRequest::HasFile { sha256 } => RmResponse::HasFile(self.store.has(&sha256)),
            RmRequest::UploadFile { sha256, size } => self.upload(&mut inc, &sha256, size).await,
            // Streams: counted when they start, errors or not.
            RmRequest::FetchFile { sha256 } => {
                self.metrics.rpc(method, None);
                return self.fetch(inc, &sha256).await;
            }
            RmRequest::SubscribeAm { attempt, token } => {
                self.metrics.rpc(method, None);
                return self.subscribe(inc, attempt, &token).await;
            }
            RmRequest::Submit(mut sub) => {
                for r in &sub.am_launch.local_resources {
                    if !self.store.has(&r.sha256) {
                        let e = WireError::new(
                            ErrorCode::UnknownFile,
                            format!(
                                "local resource {:?} ({}) was not uploaded",
                                r.name, r.sha256
                            ),
                        );
                        self.metrics.rpc(method, Some(e.code));
                        return inc.reply(&RmResponse::Error(e)).await;
                    }
                }
                if sub.queue.is_empty() {
                    sub.queue = "default".into();
                }
                match self.with_state(|s| s.submit(sub, now)) {
                    Ok((id, actions)) => {
                        // YARN's NEW_SAVING: answer once the store has the app.
                        self.persist.barrier().await;
                        RmEvent::ApplicationSubmitted { app_id: id }
                            .emit(&self.metrics, Instant::now());
                        self.execute(actions);
                        RmResponse::Submitted(id)
                    }
                    Err(e) => RmResponse::Error(e),
                }
            }
            RmRequest::GetApplication { app } => {
                match self.with_state(|s| s.report_for(app, &user, now)) {
                    Ok(r) => RmResponse::Application(Box::new(self.public(r))),
                    Err(e) => RmResponse::Error(e),
                }
            }
            RmRequest::ListApplications { states } => {
                let list = self.with_state(|s| s.list_for(&states, &user, now));
                RmResponse::Applications(list.into_iter().map(|r| self.public(r)).collect())
            }
            RmRequest::Kill { app } => match self.kill_app(app, &user).await {
                Ok(()) => RmResponse::Ok,
                Err(e) => RmResponse::Error(e),
            },
            RmRequest::ListNodes => RmResponse::Nodes(self.with_state(|s| s.node_reports())),
            RmRequest::ListQueues => RmResponse::Queues(self.with_state(|s| s.queue_views())),
            RmRequest::CreateWebToken { ttl_ms } => {
                let expiry_ms = now.wall_ms + ttl_ms.clamp(1, web_tokens::MAX_TTL_MS);
                tracing::info!(user, expiry_ms, "web token issued");
                RmResponse::WebToken {
                    token: self.tokens.issue(&user, expiry_ms),
                    expiry_ms,
                }
            }
            RmRequest::RegisterNode {
                node_id,
                address,
                http_address,
                capability,
                running,
                apps,
                isolation,
            } => {
                // A DECOMMISSIONED node may not come back until it is recommissioned.
                if let Some(reason) = self.with_state(|s| s.shutdown_reason(&node_id)) {
                    tracing::warn!(node_id = %node_id, "registration of a decommissioned node refused: told to shut down");
                    self.metrics.rpc(method, None);
                    return inc.reply(&RmResponse::ShutdownNode { reason }).await;
                }
                let registered = self.with_state(|s| {
                    s.check_reported(&node_id, &running)?;
                    let id = node_id.clone();
                    let a =
                        s.register_node(node_id, address, http_address, capability, &running, now);
                    s.set_node_isolation(&id, isolation);
                    s.finished_among(&id, &apps);
                    Ok::<_, WireError>((a, s.cluster_ts(), s.node_keys()))
                });
                match registered {
                    Ok((actions, cluster_ts, token_keys)) => {
                        self.execute(actions);
                        RmResponse::NodeRegistered {
                            cluster_ts,
                            heartbeat_interval_ms: self.heartbeat_interval_ms,
                            token_keys,
                            registered_ms: now.wall_ms,
                        }
                    }
                    Err(e) => RmResponse::Error(e),
                }
            }
            RmRequest::NodeHeartbeat {
                node_id,
                statuses,
                token_keys_version,
                health,
            } => {
                match self.with_state(|s| {
                    s.check_reported(&node_id, &statuses)?;
                    // Health first: an unhealthy node gets nothing in this round.
                    let healed = s.node_health(&node_id, health, now);
                    let hb = s.node_heartbeat(&node_id, &statuses, now);
                    // Its decommission may end with what this heartbeat reported.
                    let mut decom = s.poll_decommissioning(now);
                    let shutdown = s.shutdown_reason(&node_id);
                    decom.extend(healed);
                    Ok((hb, decom, s.node_keys_update(token_keys_version), shutdown))
                }) {
                    Err(e) => RmResponse::Error(e),
                    Ok((hb, decom, _, Some(reason))) => {
                        self.execute(hb.map(|hb| hb.actions).unwrap_or_default());
                        self.execute(decom);
                        RmResponse::ShutdownNode { reason }
                    }
                    Ok((Some(hb), healed, token_keys, None)) => {
                        self.execute(hb.actions);
                        self.execute(healed);
                        RmResponse::Heartbeat(NodeHeartbeatResponse {
                            kill: hb.kill,
                            finished_apps: hb.finished_apps,
                            reregister: false,
                            token_keys,
                        })
                    }
                    // It registers again and gets the keys then.
                    Ok((None, _, _, None)) => RmResponse::Heartbeat(NodeHeartbeatResponse {
                        reregister: true,
                        ..Default::default()
                    }),
                }
            }
            RmRequest::UnregisterNode { node_id, message } => {
                let actions = self.with_state(|s| s.unregister_node(&node_id, &message, now));
                self.execute(actions);
                RmResponse::Ok
            }
            RmRequest::DecommissionNode {
                node_id,
                timeout_ms,
            } => match self.with_state(|s| s.decommission(&node_id.0, timeout_ms, &user, now)) {
                Ok((_, actions)) => {
                    self.execute(actions);
                    RmResponse::Ok
                }
                Err(e) => RmResponse::Error(e),
            },
            RmRequest::RecommissionNode { node_id } => {
                match self.with_state(|s| s.recommission(&node_id.0, &user, now)) {
                    Ok((_, actions)) => {
                        self.execute(actions);
                        RmResponse::Ok
                    }
                    Err(e) => RmResponse::Error(e),
                }
            }
            RmRequest::RegisterAm {
                attempt,
                token,
                host,
                tracking_url,
            } => match self.with_state(|s| {
                let max = s.register_am(attempt, &token, host, tracking_url)?;
                Ok::<_, WireError>((max, s.cluster_ts()))
            }) {
                Ok((maximum, cluster_ts)) => RmResponse::AmRegistered {
                    maximum,
                    cluster_ts,
                },
                Err(e) => RmResponse::Error(e),
            },
            RmRequest::Allocate {
                attempt,
                token,
                asks,
                releases,
                progress,
            } => match self.with_state(|s| {
                let asked = (!asks.is_empty()).then(|| asks.iter().map(|a| a.count).sum::<u32>());
                let r = s.allocate(attempt, &token, asks, releases, progress, now);
                if let (Ok(_), Some(containers)) = (&r, asked) {
                    RmEvent::ContainersAsked {
                        attempt,
                        containers,
                    }
                    .emit(&self.metrics, Instant::now());
                }
                r
            }) {
                Ok(actions) => {
                    self.execute(actions);
                    RmResponse::Ok
                }
                Err(e) => RmResponse::Error(e),
            },
            RmRequest::FinishAm {
                attempt,
                token,
                final_status,
                diagnostics,
                tracking_url,
            } => match self.with_state(|s| {
                s.finish_am(
                    attempt,
                    &token,
                    final_status,
                    diagnostics,
                    tracking_url,
                    now,
                )
            }) {
                Ok(actions) => {
                    // YARN's FINAL_SAVING: the AM exits only once this is stored.
                    self.persist.barrier().await;
                    self.execute(actions);
                    RmResponse::Ok
                }
                Err(e) => RmResponse::Error(e),
            },
        };
        if let RmResponse::Error(e) = &resp {
            if e.code == ErrorCode::Unauthorized {
                log_refusal(&inc, method, e);
            }
        }
        self.metrics.rpc(
            method,
            match &resp {
                RmResponse::Error(e) => Some(e.code),
                _ => None,
            },
        );
        inc.reply(&resp).await;
    }
}
