//! `spindle sls --wire`: the same simulated node managers and application masters as
//! [`crate::sim`], against the real RM daemon over QUIC. Every simulated NM is a QUIC
//! connection of its own presenting its own node certificate (issued here by the cluster
//! CA, as the trust model requires); it registers and heartbeats with the real protocol
//! and reports its containers' ends. Applications are submitted through the real client
//! API with user certificates; the RM launches each AM container on a simulated node (one
//! shared `spindle-nm/1` server answers for every node), which starts the simulated AM
//! ([`SimAm`]) in this process: it registers its attempt with the AMRM token the RM put in
//! the launch, subscribes to its push stream and asks for containers with `Allocate`.
//! Task containers are not started over the wire: the AM hands them to their simulated
//! node, which reports them COMPLETE once their run time is over (as YARN's SLS does).
//!
//! Two ways to run:
//! - wall clock (the default): NMs heartbeat on their own timers, spread over the
//!   interval; the figures are end-to-end allocations per second and ask→allocation
//!   latency in wall time, and the RM process's CPU and peak RSS;
//! - lockstep ([`WireOptions::lockstep`]): simulated time, one heartbeat at a time in the
//!   order the in-process simulator uses, each followed by a quiet period, so a
//!   deterministic trace gives the allocations [`crate::sim::Engine`] gives (the test of
//!   "the simulator and the daemon share the scheduler code").

use crate::am::{AmOut, AmTimer, SimAm};
use crate::error::SlsError;
use crate::sim::{node_id, submission, Placed};
use crate::stats::quantile;
use crate::workload::{AmType, Job};
use crate::{prepare, Options};
use common::client::RmClient;
use common::launch::AMRM_TOKEN;
use common::protocol::{
    exit_status, AmEvent, ContainerState, ContainerStatus, FinalApplicationStatus, Isolation,
    NmRequest, NmResponse, NodeHeartbeatResponse, RmRequest, RmResponse, WireError, ALPN_NM,
    ALPN_RM,
};
use common::tls::{ClusterCa, TlsFiles, TlsIdentity};
use common::transport::{self, Incoming, Profile, Service, TransportError};
use common::{AppAttemptId, ApplicationId, ContainerId, NodeId, Resource};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

mod am_task;
mod drive;
mod rm;

use am_task::*;
use drive::*;
use rm::*;

/// Which RM the simulated cluster talks to.
#[derive(Debug, Clone)]
pub enum Daemon {
    /// Start the `resourcemanager` binary at this path on 127.0.0.1, in a temp dir with a
    /// cluster CA of its own; it is stopped at the end.
    Start { bin: PathBuf },
    /// An RM already running at `address` whose cluster CA (`ca.pem` and `ca.key`) is in
    /// `certs`; `pid`, when given, is read for its CPU time and peak RSS.
    Connect {
        address: String,
        certs: PathBuf,
        pid: Option<u32>,
    },
}

/// How a wire run goes, besides the cluster and workload of [`Options`].
#[derive(Debug, Clone)]
pub struct WireOptions {
    pub daemon: Daemon,
    /// Stop after this much wall time even if applications are still running.
    pub max_wall: Option<Duration>,
    /// Lockstep in simulated time, waiting this long without traffic after each step;
    /// `None`: wall clock.
    pub lockstep: Option<Duration>,
    /// Keep every allocation ([`WireSummary::placed`]), for tests.
    pub record: bool,
}

impl WireOptions {
    pub fn new(daemon: Daemon) -> Self {
        Self {
            daemon,
            max_wall: None,
            lockstep: None,
            record: false,
        }
    }
}

/// A run with no allocation and no application finishing for this long has stalled.
const STALL: Duration = Duration::from_secs(60);
/// Handshakes in flight at once while the nodes connect.
const CONNECTING: usize = 32;
/// Tries per node connection.
const CONNECT_TRIES: u32 = 5;
/// The node id of the shared server that starts AM containers (its certificate's name).
const NM_SERVER_NODE: &str = "sls-nm:8041";

/// The figures of a wire run, as printed.
#[derive(Debug, Clone, PartialEq)]
pub struct WireSummary {
    pub nodes: usize,
    pub apps: usize,
    pub apps_finished: usize,
    pub rm_address: String,
    pub rm_pid: Option<u32>,
    /// Task containers the AMs received, and AM containers the RM launched.
    pub allocations: u64,
    pub am_containers: u64,
    pub preempted: u64,
    pub wall_s: f64,
    /// The steady phase: from the last AM's registration to the last allocation.
    pub steady_s: f64,
    pub steady_allocations: u64,
    /// The RM's CPU (user + system) over the run and over the steady phase, and its
    /// peak RSS; `None` when its process is not known.
    pub rm_cpu_s: Option<f64>,
    pub rm_steady_cpu_s: Option<f64>,
    pub rm_peak_rss_mb: Option<f64>,
    /// This process's CPU (the simulated NMs and AMs).
    pub client_cpu_s: f64,
    pub latency_median_ms: u64,
    pub latency_p99_ms: u64,
    pub heartbeats: usize,
    pub heartbeat_median_ms: f64,
    pub heartbeat_p99_ms: f64,
    /// Every allocation (AM containers included) with the simulated time of the step
    /// that made it, when recorded (lockstep).
    pub placed: Vec<Placed>,
}

impl WireSummary {
    /// Allocations received at the AMs per wall second of the steady phase, whole.
    pub fn allocations_per_s(&self) -> u64 {
        (self.steady_allocations as f64 / self.steady_s.max(1e-3)) as u64
    }

    /// Allocations per RM CPU second in the steady phase, when the RM's CPU is known.
    pub fn allocations_per_rm_cpu_s(&self) -> Option<u64> {
        self.rm_steady_cpu_s
            .map(|c| (self.steady_allocations as f64 / c.max(1e-3)) as u64)
    }

    /// The printed summary; its last two lines are the contract (`allocations/s: N`,
    /// then the ask→allocation latency).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let pid = self.rm_pid.map_or("unknown".into(), |p| p.to_string());
        let _ = writeln!(
            s,
            "wire: {} node managers and {} applications over QUIC against the RM at {} (pid {pid})",
            self.nodes, self.apps, self.rm_address
        );
        let _ = writeln!(
            s,
            "ran {:.1} s wall: {} applications finished, {} containers allocated to AMs (and {} AM containers), {} preempted",
            self.wall_s, self.apps_finished, self.allocations, self.am_containers, self.preempted
        );
        let _ = writeln!(
            s,
            "steady phase (last AM registered to last allocation): {:.1} s wall, {} allocations",
            self.steady_s, self.steady_allocations
        );
        let _ = writeln!(
            s,
            "node heartbeats: {} (round trip median {:.3} ms, p99 {:.3} ms)",
            self.heartbeats, self.heartbeat_median_ms, self.heartbeat_p99_ms
        );
        match (self.rm_cpu_s, self.rm_steady_cpu_s) {
            (Some(all), Some(steady)) => {
                let _ = writeln!(
                    s,
                    "RM process cpu (user+system): {all:.2} s, {steady:.2} s in the steady phase"
                );
            }
            _ => {
                let _ = writeln!(s, "RM process cpu: unknown (no pid)");
            }
        }
        if let Some(rss) = self.rm_peak_rss_mb {
            let _ = writeln!(s, "RM process peak RSS: {rss:.1} MB");
        }
        let _ = writeln!(
            s,
            "simulator process cpu (user+system): {:.2} s",
            self.client_cpu_s
        );
        if let Some(per_cpu) = self.allocations_per_rm_cpu_s() {
            let _ = writeln!(s, "allocations per RM cpu second (steady phase): {per_cpu}");
        }
        let _ = writeln!(
            s,
            "allocations/s below: allocations received at the simulated AMs in the steady phase / its wall seconds"
        );
        let _ = writeln!(s, "allocations/s: {}", self.allocations_per_s());
        let _ = writeln!(
            s,
            "ask to allocation (wall clock): median {} ms, p99 {} ms",
            self.latency_median_ms, self.latency_p99_ms
        );
        s
    }
}

/// Wall milliseconds since the run began, or the simulated time of a lockstep run.
struct Clock {
    t0: Instant,
    simulated: Option<AtomicU64>,
}

impl Clock {
    fn now_ms(&self) -> u64 {
        match &self.simulated {
            Some(t) => t.load(Ordering::SeqCst),
            None => self.t0.elapsed().as_millis() as u64,
        }
    }

    fn wall_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }
}

/// One simulated node's containers.
#[derive(Default)]
struct NodeState {
    /// (ends at ms, container, resource); `u64::MAX`: until told (AM containers).
    running: Vec<(u64, ContainerId, Resource)>,
    /// Statuses for the next heartbeat.
    completed: Vec<ContainerStatus>,
}

fn status(c: ContainerId, exit: i32, resource: Resource) -> ContainerStatus {
    ContainerStatus {
        container_id: c,
        state: ContainerState::COMPLETE,
        exit_status: exit,
        diagnostics: String::new(),
        resource,
    }
}

impl NodeState {
    /// What the next heartbeat reports: containers that ended before `now` (at equal
    /// times a heartbeat goes first, as in the in-process simulator).
    fn take_report(&mut self, now: u64) -> Vec<ContainerStatus> {
        let mut out = std::mem::take(&mut self.completed);
        self.running.retain(|&(end, c, r)| {
            if end < now {
                out.push(status(c, exit_status::SUCCESS, r));
                false
            } else {
                true
            }
        });
        out
    }

    /// Stops `c` (the RM or the AM said so), to be reported with `exit`.
    fn stop(&mut self, c: ContainerId, exit: i32) {
        if let Some(i) = self.running.iter().position(|(_, id, _)| *id == c) {
            let (_, c, r) = self.running.swap_remove(i);
            self.completed.push(status(c, exit, r));
        }
    }
}

#[derive(Default)]
struct Stats {
    /// When (wall ms) each task container reached its AM.
    alloc_wall_ms: Vec<u64>,
    latencies_ms: Vec<u64>,
    /// When each AM registered (wall ms).
    registered_wall_ms: Vec<u64>,
    am_containers: u64,
    finished: usize,
    preempted: u64,
    heartbeat_us: Vec<u64>,
    placed: Vec<Placed>,
    /// The first failure that ends the run.
    failure: Option<SlsError>,
}

/// A request from the RM to start an AM container.
struct AmStart {
    container: ContainerId,
    node: usize,
    token: String,
}

/// What every task of the run shares.
struct Shared {
    clock: Clock,
    jobs: Vec<Job>,
    nodes: Vec<(NodeId, Mutex<NodeState>)>,
    node_index: HashMap<NodeId, usize>,
    /// Application → its job.
    apps: Mutex<HashMap<ApplicationId, usize>>,
    stats: Mutex<Stats>,
    record: bool,
    stop: AtomicBool,
    /// Lockstep: work not yet done (events read but not handled, calls in flight) and
    /// when anything last happened (wall ms).
    pending: AtomicI64,
    last_activity: AtomicU64,
    rm_address: String,
    rm_server_name: String,
    rm_addr: std::net::SocketAddr,
}

impl Shared {
    fn busy(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    fn idle(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
        self.touch();
    }

    fn touch(&self) {
        self.last_activity
            .store(self.clock.wall_ms(), Ordering::SeqCst);
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn node(&self, i: usize) -> std::sync::MutexGuard<'_, NodeState> {
        self.nodes[i].1.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, e: SlsError) {
        let mut s = self.stats();
        if s.failure.is_none() {
            s.failure = Some(e);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn place(&self, container: ContainerId, node: &NodeId) {
        if self.record {
            let t_ms = self.clock.now_ms();
            self.stats().placed.push(Placed {
                t_ms,
                container,
                node: node.clone(),
            });
        }
    }

    async fn connect(
        &self,
        cfg: quinn::ClientConfig,
        ep: &quinn::Endpoint,
    ) -> Result<quinn::Connection, TransportError> {
        let addr = &self.rm_address;
        ep.connect_with(cfg, self.rm_addr, &self.rm_server_name)
            .map_err(|e| TransportError::Connect {
                addr: addr.clone(),
                reason: e.to_string(),
            })?
            .await
            .map_err(|e| TransportError::Connect {
                addr: addr.clone(),
                reason: e.to_string(),
            })
    }
}

/// The shared `spindle-nm/1` server: the RM starts AM containers here, for any node.
struct NmServer {
    shared: Arc<Shared>,
    starts: mpsc::UnboundedSender<AmStart>,
}

impl Service for NmServer {
    type Req = NmRequest;
    type Resp = NmResponse;

    async fn handle(self: Arc<Self>, inc: Incoming<NmRequest>) {
        let resp = match &inc.req {
            NmRequest::StartContainer { token, launch } => {
                let id = &token.identifier;
                match (
                    self.shared.node_index.get(&id.node_id),
                    launch.secrets.get(AMRM_TOKEN),
                ) {
                    (Some(&node), Some(amrm)) => {
                        self.shared.busy();
                        self.shared.node(node).running.push((
                            u64::MAX,
                            id.container_id,
                            id.resource,
                        ));
                        self.shared.stats().am_containers += 1;
                        self.shared.place(id.container_id, &id.node_id);
                        let _ = self.starts.send(AmStart {
                            container: id.container_id,
                            node,
                            token: amrm.clone(),
                        });
                        NmResponse::Started { pid: 0 }
                    }
                    _ => NmResponse::Error(WireError::new(
                        common::protocol::ErrorCode::BadRequest,
                        format!(
                            "the simulator starts only AM containers of its own nodes ({} on {})",
                            id.container_id, id.node_id
                        ),
                    )),
                }
            }
            NmRequest::StopContainer { container_id, .. } => {
                if let Some(&n) = self
                    .shared
                    .node_index
                    .get(&container_node(&self.shared, *container_id))
                {
                    self.shared
                        .node(n)
                        .stop(*container_id, exit_status::KILLED_BY_APPMASTER);
                }
                NmResponse::Ok
            }
            other => NmResponse::Error(WireError::new(
                common::protocol::ErrorCode::BadRequest,
                format!("the simulator does not serve {}", other.kind()),
            )),
        };
        inc.reply(&resp).await;
    }
}

/// The node a container runs on, found by looking (stops are rare).
fn container_node(shared: &Shared, c: ContainerId) -> NodeId {
    for (id, st) in &shared.nodes {
        let st = st.lock().unwrap_or_else(|e| e.into_inner());
        if st.running.iter().any(|(_, x, _)| *x == c) {
            return id.clone();
        }
    }
    NodeId(String::new())
}

/// One simulated node manager: its connection and its registration.
struct Nm {
    i: usize,
    conn: quinn::Connection,
    keys_version: u64,
    capability: Resource,
    /// Where the RM starts this node's AM containers (the shared server).
    address: String,
}

impl Nm {
    async fn register(
        shared: &Shared,
        i: usize,
        conn: &quinn::Connection,
        capability: Resource,
        nm_address: &str,
    ) -> Result<u64, SlsError> {
        let id = shared.nodes[i].0.clone();
        let running: Vec<ContainerStatus> = shared
            .node(i)
            .running
            .iter()
            .map(|&(_, c, r)| ContainerStatus {
                container_id: c,
                state: ContainerState::RUNNING,
                exit_status: exit_status::INVALID,
                diagnostics: String::new(),
                resource: r,
            })
            .collect();
        let req = RmRequest::RegisterNode {
            node_id: id.clone(),
            address: nm_address.to_string(),
            http_address: String::new(),
            capability,
            running,
            apps: Vec::new(),
            isolation: Isolation::default(),
        };
        match transport::call::<_, RmResponse>(conn, &shared.rm_address, &req).await {
            Ok(RmResponse::NodeRegistered { token_keys, .. }) => Ok(token_keys.version()),
            Ok(other) => Err(SlsError::wire(
                format!("node {id} registering"),
                format!("unexpected answer {other:?}"),
            )),
            Err(e) => Err(SlsError::wire(format!("node {id} registering"), e)),
        }
    }

    /// One heartbeat: what ended goes up, kill orders come down.
    async fn heartbeat(&mut self, shared: &Shared) -> Result<(), SlsError> {
        let now = shared.clock.now_ms();
        let statuses = shared.node(self.i).take_report(now);
        let id = &shared.nodes[self.i].0;
        let req = RmRequest::NodeHeartbeat {
            node_id: id.clone(),
            statuses,
            token_keys_version: self.keys_version,
            health: None,
        };
        let started = Instant::now();
        let resp = transport::call::<_, RmResponse>(&self.conn, &shared.rm_address, &req).await;
        let took = started.elapsed().as_micros() as u64;
        match resp {
            Ok(RmResponse::Heartbeat(reply)) => {
                shared.stats().heartbeat_us.push(took);
                let NodeHeartbeatResponse {
                    kill,
                    finished_apps,
                    reregister,
                    token_keys,
                } = reply;
                if let Some(k) = token_keys {
                    self.keys_version = k.version();
                }
                {
                    let mut st = shared.node(self.i);
                    for (c, exit) in kill {
                        st.stop(c, exit);
                    }
                    if !finished_apps.is_empty() {
                        let ended: Vec<ContainerId> = st
                            .running
                            .iter()
                            .filter(|(_, c, _)| finished_apps.contains(&c.app()))
                            .map(|(_, c, _)| *c)
                            .collect();
                        for c in ended {
                            st.stop(c, exit_status::KILLED_AFTER_APP_COMPLETION);
                        }
                    }
                }
                if reregister {
                    self.keys_version =
                        Self::register(shared, self.i, &self.conn, self.capability, &self.address)
                            .await?;
                }
                Ok(())
            }
            Ok(other) => Err(SlsError::wire(
                format!("node {id}'s heartbeat"),
                format!("unexpected answer {other:?}"),
            )),
            Err(e) => Err(SlsError::wire(format!("node {id}'s heartbeat"), e)),
        }
    }
}

/// Runs `opts`'s cluster and workload against the daemon over QUIC.
pub async fn run(opts: &Options, wire: &WireOptions) -> Result<WireSummary, SlsError> {
    let (jobs, cfg) = prepare(opts)?;
    if wire.lockstep.is_some() {
        if let Some(j) = jobs.iter().find(|j| j.am_type == AmType::Spark) {
            return Err(SlsError::Option {
                option: "wire",
                reason: format!(
                    "lockstep runs mapreduce and stream jobs only; job {} is a spark job",
                    j.name
                ),
            });
        }
    }
    cfg.cluster.check_fits(&jobs)?;
    raise_nofile();
    let mut rm_config = cfg.rm.config.clone();
    if opts.rm_config.is_none() {
        // The default liveness (a keep-alive every 250 ms, dead after 1.5 s) is sized for a
        // small cluster's fast failure detection: at 1,000 nodes its keep-alives alone are
        // 8,000 packets a second each way, and a loaded machine missed the 1.5 s during
        // the nodes' registration. Sized to the heartbeat instead, unless a config says.
        let hb = Duration::from_millis(cfg.cluster.heartbeat_ms);
        rm_config.liveness = transport::Liveness {
            keep_alive: hb,
            idle_timeout: (hb * 5).clamp(Duration::from_millis(1500), Duration::from_secs(600)),
        };
    }
    rm_config.liveness.check().map_err(|(key, reason)| {
        SlsError::rm_config(Path::new("(wire defaults)"), format!("{key}: {reason}"))
    })?;
    // The simulated nodes and AMs keep their connections alive as the RM's config says
    // (a cluster's daemons share one liveness setting).
    transport::set_liveness(rm_config.liveness);
    let tmp = tempfile::Builder::new()
        .prefix("spindle-sls-wire-")
        .tempdir()
        .map_err(|e| SlsError::wire("making a temp dir", e))?;
    let certs_dir = tmp.path().join("certs");
    std::fs::create_dir_all(&certs_dir).map_err(|e| SlsError::file("write", &certs_dir, e))?;
    // The CA: the run's own (a started RM), or the cluster's (an RM already running).
    let (mut rm_process, rm_address, rm_pid) = match &wire.daemon {
        Daemon::Start { bin } => {
            let ca = ClusterCa::create(&certs_dir)
                .map_err(|e| SlsError::wire("making a cluster CA", e))?;
            ca.issue(
                &certs_dir,
                "rm",
                common::identity::RM_COMMON_NAME,
                &common::tls::local_sans(),
            )
            .map_err(|e| SlsError::wire("issuing the RM's certificate", e))?;
            let (p, addr) = start_rm(
                bin,
                tmp.path(),
                &certs_dir,
                &rm_config,
                cfg.cluster.heartbeat_ms,
            )?;
            let pid = p.child.id();
            (Some(p), addr, Some(pid))
        }
        Daemon::Connect {
            address,
            certs,
            pid,
        } => {
            let from = certs.join(common::tls::CA_CERT);
            let to = certs_dir.join(common::tls::CA_CERT);
            std::fs::copy(&from, &to).map_err(|e| SlsError::file("read", &from, e))?;
            (None, address.clone(), *pid)
        }
    };
    let ca_dir = match &wire.daemon {
        Daemon::Start { .. } => certs_dir.clone(),
        Daemon::Connect { certs, .. } => certs.clone(),
    };
    let certs = Certs {
        ca: ClusterCa::load(&ca_dir).map_err(|e| SlsError::wire("loading the cluster CA", e))?,
        dir: certs_dir.clone(),
    };
    // Users submit; containers (the AMs) present the container certificate, which
    // carries no rights of its own: the AMRM token does.
    let mut users: Vec<String> = jobs.iter().map(|j| j.user.clone()).collect();
    users.sort();
    users.dedup();
    let mut clients: HashMap<String, RmClient> = HashMap::new();
    for (k, u) in users.iter().enumerate() {
        let id = certs.issue(&format!("user{k}"), &format!("user:{u}"), &[])?;
        let c = RmClient::connect(&id, &rm_address)
            .map_err(|e| SlsError::wire(format!("connecting as user {u}"), e))?;
        clients.insert(u.clone(), c);
    }
    let clients = Arc::new(clients);
    let log = tmp.path().join("resourcemanager.log");
    if let Some(first) = users.first() {
        wait_ready(&clients[first], &mut rm_process, Some(&log)).await?;
    }
    let container_id = certs.issue("container", common::identity::CONTAINER_COMMON_NAME, &[])?;
    let nm_server_id = certs.issue(
        "nm-server",
        &common::tls::node_common_name(NM_SERVER_NODE),
        &common::tls::local_sans(),
    )?;
    let (rm_addr, rm_server_name) = transport::resolve(&rm_address)
        .await
        .map_err(|e| SlsError::wire("resolving the RM", e))?;

    let node_ids: Vec<NodeId> = cfg.cluster.hosts.iter().map(|h| node_id(h)).collect();
    let shared = Arc::new(Shared {
        clock: Clock {
            t0: Instant::now(),
            simulated: wire.lockstep.map(|_| AtomicU64::new(0)),
        },
        node_index: node_ids
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect(),
        nodes: node_ids
            .into_iter()
            .map(|n| (n, Mutex::new(NodeState::default())))
            .collect(),
        jobs,
        apps: Mutex::new(HashMap::new()),
        stats: Mutex::new(Stats::default()),
        record: wire.record,
        stop: AtomicBool::new(false),
        pending: AtomicI64::new(0),
        last_activity: AtomicU64::new(0),
        rm_address: rm_address.clone(),
        rm_server_name,
        rm_addr,
    });

    // The server the RM starts AM containers on.
    let (starts_tx, starts_rx) = mpsc::unbounded_channel();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("literal");
    let nm_endpoint = transport::server_endpoint(any, &nm_server_id, ALPN_NM, Profile::Control)
        .map_err(|e| SlsError::wire("starting the node managers' server", e))?;
    let nm_address = nm_endpoint
        .local_addr()
        .map_err(|e| SlsError::wire("starting the node managers' server", e))?
        .to_string();
    let nm_serve = tokio::spawn(transport::serve(
        nm_endpoint.clone(),
        Arc::new(NmServer {
            shared: shared.clone(),
            starts: starts_tx,
        }),
    ));

    // Every node: its certificate, its connection (all over one client socket), its
    // registration, in node order (the order the in-process simulator registers them).
    let endpoint = transport::client_endpoint(&container_id, ALPN_RM, Profile::Control)
        .map_err(|e| SlsError::wire("making the client endpoint", e))?;
    let capability = cfg.cluster.node;
    let register_now = wire.lockstep.is_none();
    let mut connects = tokio::task::JoinSet::new();
    let gate = Arc::new(Semaphore::new(CONNECTING));
    for (i, (id, _)) in shared.nodes.iter().enumerate() {
        let ident = certs.issue(
            &format!("node{i}"),
            &common::tls::node_common_name(&id.0),
            &[],
        )?;
        let cfg = transport::client_config(&ident, ALPN_RM, Profile::Control)
            .map_err(|e| SlsError::wire(format!("node {id}'s TLS"), e))?;
        let shared = shared.clone();
        let ep = endpoint.clone();
        let gate = gate.clone();
        let nm_address = nm_address.clone();
        connects.spawn(async move {
            let _permit = gate.acquire().await;
            // A loaded RM may let a handshake or a registration time out while a
            // thousand arrive: again, on a fresh connection.
            let mut tries = 0;
            loop {
                tries += 1;
                let attempt = async {
                    let conn = shared.connect(cfg.clone(), &ep).await.map_err(|e| {
                        SlsError::wire(format!("node {} connecting", shared.nodes[i].0), e)
                    })?;
                    // In lockstep the nodes register one by one afterwards, in order.
                    let keys = match register_now {
                        true => {
                            Some(Nm::register(&shared, i, &conn, capability, &nm_address).await?)
                        }
                        false => None,
                    };
                    Ok::<_, SlsError>((i, conn, keys))
                };
                match attempt.await {
                    Ok(done) => return Ok(done),
                    Err(e) if tries >= CONNECT_TRIES => return Err(e),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }
    let mut conns: Vec<Option<(quinn::Connection, Option<u64>)>> = vec![None; shared.nodes.len()];
    while let Some(r) = connects.join_next().await {
        let (i, c, keys) = r.map_err(|e| SlsError::wire("connecting the nodes", e))??;
        conns[i] = Some((c, keys));
    }
    let mut nms = Vec::with_capacity(conns.len());
    for (i, c) in conns.into_iter().enumerate() {
        let (conn, keys) = c.expect("every node connected");
        let keys_version = match keys {
            Some(k) => k,
            None => Nm::register(&shared, i, &conn, capability, &nm_address).await?,
        };
        nms.push(Nm {
            i,
            conn,
            keys_version,
            capability,
            address: nm_address.clone(),
        });
    }

    // AMs start when the RM launches their containers.
    let am_endpoint = endpoint.clone();
    let am_cfg = transport::client_config(&container_id, ALPN_RM, Profile::Control)
        .map_err(|e| SlsError::wire("the AMs' TLS", e))?;
    let ams = tokio::spawn(spawn_ams(shared.clone(), starts_rx, am_endpoint, am_cfg));

    // RM CPU over time, to cut out the steady phase afterwards.
    let samples: Arc<Mutex<Vec<(u64, f64)>>> = Arc::new(Mutex::new(Vec::new()));
    let sampler = rm_pid.map(|pid| {
        let samples = samples.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_millis(100));
            loop {
                t.tick().await;
                if let Some((cpu, _)) = process_usage(pid) {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((shared.clock.wall_ms(), cpu));
                }
            }
        })
    });

    let client_cpu0 = crate::stats::cpu_seconds();
    let wall0 = shared.clock.wall_ms();
    let outcome = match wire.lockstep {
        Some(quiet) => lockstep(&shared, nms, &clients, &cfg, quiet).await,
        None => wall_clock(&shared, nms, &clients, &cfg, wire.max_wall).await,
    };
    shared.stop.store(true, Ordering::SeqCst);
    let wall_s = (shared.clock.wall_ms() - wall0) as f64 / 1000.0;
    let client_cpu_s = crate::stats::cpu_seconds() - client_cpu0;
    let usage = rm_pid.and_then(process_usage);
    if let Some(s) = sampler {
        s.abort();
    }
    ams.abort();
    nm_serve.abort();
    endpoint.close(0u32.into(), b"done");
    nm_endpoint.close(0u32.into(), b"done");
    drop(rm_process.take());
    outcome?;
    if let Some(e) = shared.stats().failure.take() {
        return Err(e);
    }

    let mut st = std::mem::take(&mut *shared.stats());
    let steady_from = st.registered_wall_ms.iter().copied().max().unwrap_or(wall0);
    let steady_to = st
        .alloc_wall_ms
        .iter()
        .copied()
        .max()
        .unwrap_or(steady_from);
    let steady_allocations = st
        .alloc_wall_ms
        .iter()
        .filter(|&&t| t >= steady_from && t <= steady_to)
        .count() as u64;
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let cpu_at = |t: u64| -> Option<f64> {
        // The sample at or before t, and the one after it, interpolated.
        let after = samples.iter().position(|&(ts, _)| ts >= t)?;
        let (t1, c1) = samples[after];
        if after == 0 {
            return Some(c1);
        }
        let (t0, c0) = samples[after - 1];
        let f = if t1 > t0 {
            (t - t0) as f64 / (t1 - t0) as f64
        } else {
            1.0
        };
        Some(c0 + (c1 - c0) * f)
    };
    let rm_steady_cpu_s = match (
        cpu_at(steady_from),
        cpu_at(steady_to).or(usage.map(|u| u.0)),
    ) {
        (Some(a), Some(b)) => Some((b - a).max(0.0)),
        _ => None,
    };
    let hb50 = quantile(&mut st.heartbeat_us, 0.5) as f64 / 1000.0;
    let hb99 = quantile(&mut st.heartbeat_us, 0.99) as f64 / 1000.0;
    Ok(WireSummary {
        nodes: shared.nodes.len(),
        apps: shared.jobs.len(),
        apps_finished: st.finished,
        rm_address,
        rm_pid,
        allocations: st.alloc_wall_ms.len() as u64,
        am_containers: st.am_containers,
        preempted: st.preempted,
        wall_s,
        steady_s: steady_to.saturating_sub(steady_from) as f64 / 1000.0,
        steady_allocations,
        rm_cpu_s: usage.map(|u| u.0),
        rm_steady_cpu_s,
        rm_peak_rss_mb: usage.map(|u| u.1),
        client_cpu_s,
        latency_median_ms: quantile(&mut st.latencies_ms, 0.5),
        latency_p99_ms: quantile(&mut st.latencies_ms, 0.99),
        heartbeats: st.heartbeat_us.len(),
        heartbeat_median_ms: hb50,
        heartbeat_p99_ms: hb99,
        placed: st.placed,
    })
}
