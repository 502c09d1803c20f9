//! Every wire message of every Spindle protocol, in one place.
//!
//! One ALPN per protocol, versioned. Each request travels on its own
//! bidirectional stream and gets exactly one response frame, except where a
//! variant says it is followed by raw bytes or opens a push stream.

use crate::ids::{AppAttemptId, ApplicationId, ContainerId, NodeId};
use crate::resource::Resource;
use crate::token::{ContainerToken, NodeTokenKeys};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use strum::{EnumCount, IntoStaticStr};

/// Resource manager: clients, node managers and application masters.
pub const ALPN_RM: &[u8] = b"spindle-rm/1";
/// Node manager: container management.
pub const ALPN_NM: &[u8] = b"spindle-nm/1";
/// Driver (in the AM): executors register, take tasks, report results.
pub const ALPN_DRIVER: &[u8] = b"spindle-driver/1";

/// Stable error codes: CLIs and tests match these, not message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    BadFrame,
    FrameTooLarge,
    BadRequest,
    /// The caller's certificate (its role) or token does not give the right the request
    /// needs; the message names the right.
    Unauthorized,
    UnknownApplication,
    UnknownAttempt,
    UnknownContainer,
    UnknownNode,
    UnknownFile,
    AskExceedsMaximum,
    InvalidToken,
    TokenExpired,
    WrongNode,
    DigestMismatch,
    InvalidState,
    Internal,
    /// A standby resource manager answered: the message names the active one
    /// ([`WireError::not_active`], [`WireError::active_address`]). Last, so the
    /// codes before it keep their wire numbers.
    NotActive,
}

/// A typed error as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

/// How a [`ErrorCode::NotActive`] message names the active RM: the address follows it,
/// to the end of the message.
const ACTIVE_IS: &str = "; the active one is at ";

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A standby's answer to every call, naming the active RM when it knows one. The
    /// address rides in the message (in a fixed form), so the wire type stays as it was.
    pub fn not_active(active: Option<&str>) -> Self {
        let message = match active {
            Some(a) => format!("this resource manager is a standby{ACTIVE_IS}{a}"),
            None => "this resource manager is a standby; no active one is known yet".into(),
        };
        Self::new(ErrorCode::NotActive, message)
    }

    /// The active RM a [`ErrorCode::NotActive`] error names.
    pub fn active_address(&self) -> Option<&str> {
        if self.code != ErrorCode::NotActive {
            return None;
        }
        let (_, a) = self.message.split_once(ACTIVE_IS)?;
        let a = a.trim();
        (!a.is_empty()).then_some(a)
    }
}

/// YARN's application states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum YarnApplicationState {
    NEW,
    NEW_SAVING,
    SUBMITTED,
    ACCEPTED,
    RUNNING,
    FINISHED,
    FAILED,
    KILLED,
}

impl YarnApplicationState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::FINISHED | Self::FAILED | Self::KILLED)
    }
}

impl fmt::Display for YarnApplicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::str::FromStr for YarnApplicationState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NEW" => Self::NEW,
            "NEW_SAVING" => Self::NEW_SAVING,
            "SUBMITTED" => Self::SUBMITTED,
            "ACCEPTED" => Self::ACCEPTED,
            "RUNNING" => Self::RUNNING,
            "FINISHED" => Self::FINISHED,
            "FAILED" => Self::FAILED,
            "KILLED" => Self::KILLED,
            other => return Err(format!("unknown application state {other:?}")),
        })
    }
}

/// YARN's final application statuses, as the AM reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum FinalApplicationStatus {
    UNDEFINED,
    SUCCEEDED,
    FAILED,
    KILLED,
}

impl fmt::Display for FinalApplicationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// YARN's public container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum ContainerState {
    NEW,
    RUNNING,
    COMPLETE,
}

/// YARN's `ContainerExitStatus` values; any other value is the process's own exit code.
pub mod exit_status {
    pub const SUCCESS: i32 = 0;
    pub const INVALID: i32 = -1000;
    pub const ABORTED: i32 = -100;
    pub const DISKS_FAILED: i32 = -101;
    pub const PREEMPTED: i32 = -102;
    pub const KILLED_EXCEEDED_VMEM: i32 = -103;
    pub const KILLED_EXCEEDED_PMEM: i32 = -104;
    pub const KILLED_BY_APPMASTER: i32 = -105;
    pub const KILLED_BY_RESOURCEMANAGER: i32 = -106;
    pub const KILLED_AFTER_APP_COMPLETION: i32 = -107;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    pub container_id: ContainerId,
    pub state: ContainerState,
    pub exit_status: i32,
    pub diagnostics: String,
    /// What the container was allocated (YARN's `ContainerStatus.capability`): a node
    /// re-registering with a restarted RM reports it, and the RM takes the container
    /// back with it.
    pub resource: Resource,
}

/// A file to place in a container's working directory, staged with the RM by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalResource {
    /// Name of the link in the working directory (no `/`, no `..`).
    pub name: String,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
    pub size: u64,
    pub executable: bool,
}

/// What to run in a container (YARN's ContainerLaunchContext).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// argv; `argv[0]` is looked up in the working directory first, then on PATH.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub local_resources: Vec<LocalResource>,
    /// Credentials (tokens, the app secret) by name. The NM writes each to a file only
    /// the container's user can read, never into the environment, where
    /// `/proc/PID/environ` would show it to others.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// An allocated container, as the RM hands it to an AM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: ContainerId,
    pub node_id: NodeId,
    /// The NM's QUIC address (`host:port`) for `spindle-nm/1`.
    pub node_address: String,
    pub resource: Resource,
    pub token: ContainerToken,
}

/// An AM's ask, with total-count semantics: it replaces the previous ask with the same `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAsk {
    /// The AM's name for this ask (e.g. "executors", "executors@host1").
    pub key: String,
    pub count: u32,
    pub resource: Resource,
    /// Preferred nodes (host names or node ids); empty means anywhere.
    pub nodes: Vec<String>,
    /// Whether the ask may be placed elsewhere when the preferred nodes are full.
    pub relax_locality: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum NodeState {
    NEW,
    RUNNING,
    UNHEALTHY,
    DECOMMISSIONED,
    LOST,
    SHUTDOWN,
    /// Being decommissioned gracefully (YARN's): it gets no new containers, and becomes
    /// DECOMMISSIONED once its containers (and the applications that ran containers on it)
    /// are done, or its decommission timeout passes. Last, so the states before it keep
    /// their wire numbers.
    DECOMMISSIONING,
}

impl NodeState {
    /// Every state, in wire order (for parsers and metrics).
    pub const ALL: [Self; 7] = [
        Self::NEW,
        Self::RUNNING,
        Self::UNHEALTHY,
        Self::DECOMMISSIONED,
        Self::LOST,
        Self::SHUTDOWN,
        Self::DECOMMISSIONING,
    ];
}

impl std::str::FromStr for NodeState {
    type Err = String;
    /// A state by its name, in any case (`running`, `DECOMMISSIONING`).
    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.trim().to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|st| st.to_string() == upper)
            .ok_or_else(|| {
                let names: Vec<String> = Self::ALL.iter().map(Self::to_string).collect();
                format!(
                    "invalid node state {s:?}; it should be one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How a node confines its containers' memory and CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IsolationMode {
    /// The resident memory of each container's process group is polled from `/proc`;
    /// no CPU control.
    #[default]
    RssPolling,
    /// A cgroup v1 group per container under the `memory` and `cpu` hierarchies.
    CgroupsV1,
    /// A cgroup v2 group per container on the unified hierarchy.
    CgroupsV2,
}

impl IsolationMode {
    /// `rss-polling`, `cgroups-v1` or `cgroups-v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RssPolling => "rss-polling",
            Self::CgroupsV1 => "cgroups-v1",
            Self::CgroupsV2 => "cgroups-v2",
        }
    }
}

impl fmt::Display for IsolationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a node isolates its containers, as it says when it registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Isolation {
    pub mode: IsolationMode,
    /// Containers run as their application's user (a local account, or `nobody`);
    /// false: as the node manager's own user.
    pub run_as_user: bool,
}

impl fmt::Display for Isolation {
    /// `cgroups-v1,as-user` (containers run as their users) or `cgroups-v1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode.as_str())?;
        if self.run_as_user {
            f.write_str(",as-user")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node_id: NodeId,
    pub address: String,
    pub http_address: String,
    pub state: NodeState,
    pub capability: Resource,
    pub used: Resource,
    pub num_containers: u32,
    /// Milliseconds since the epoch.
    pub last_health_update: u64,
    /// How the node isolates containers (what it said when it registered).
    pub isolation: Isolation,
    /// Why the node is UNHEALTHY (YARN's `healthReport`); empty when it is not.
    pub health_report: String,
    /// A DECOMMISSIONING node: its decommission timeout in seconds, as asked (YARN's
    /// `decommissioningTimeout`); `None` for every other state.
    #[serde(default)]
    pub decommissioning_timeout_s: Option<u64>,
}

/// A node's state changed in a way an AM should act on (YARN's `updatedNodes` in the
/// allocate response): pushed to the AMs with containers on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeUpdate {
    pub node_id: NodeId,
    pub state: NodeState,
    /// DECOMMISSIONING: milliseconds until what still runs there is killed; `None`: no
    /// timeout (it waits for its containers and applications).
    pub decommission_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationReport {
    pub id: ApplicationId,
    pub current_attempt: Option<AppAttemptId>,
    pub name: String,
    pub user: String,
    pub queue: String,
    pub app_type: String,
    pub state: YarnApplicationState,
    pub final_status: FinalApplicationStatus,
    pub diagnostics: String,
    pub tracking_url: String,
    pub am_host: String,
    pub am_container: Option<ContainerId>,
    pub am_node: Option<NodeId>,
    pub start_time: u64,
    pub finish_time: u64,
    pub progress: f32,
    pub memory_seconds: u64,
    pub vcore_seconds: u64,
    pub allocated: Resource,
    pub running_containers: u32,
    pub attempts: Vec<AttemptReport>,
    /// The leaf queue's full path (`root.a`); `queue` is its short name.
    pub queue_path: String,
    /// What preemption took back (YARN's preemptedResourceMB/VCores,
    /// numNonAMContainerPreempted, numAMContainerPreempted).
    pub preempted: PreemptedReport,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreemptedReport {
    pub memory_mb: u64,
    pub vcores: u64,
    pub non_am_containers: u32,
    pub am_containers: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptReport {
    pub id: AppAttemptId,
    pub container: Option<ContainerId>,
    pub node: Option<NodeId>,
    pub start_time: u64,
    pub finish_time: u64,
    pub diagnostics: String,
}

/// Who may view and who may modify (kill) an application besides its owner and the RM's
/// `admin-acl`: YARN's application ACLs (`VIEW_APP`, `MODIFY_APP`), filled by spindle-submit
/// as Spark on YARN fills them, from `spark.acls.enable`, `spark.ui.view.acls`,
/// `spark.modify.acls`, `spark.admin.acls` and their `.groups` forms. A `*` entry means
/// every user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppAcls {
    /// `spark.acls.enable`: only the owner, `view_users` and admins may see the application.
    /// Off (the default), every user may see it, as YARN shows every application while its
    /// ACLs are off. Modifying always needs the right.
    pub private: bool,
    pub view_users: Vec<String>,
    /// Kept as submitted; group membership is not resolved (yet): users decide.
    pub view_groups: Vec<String>,
    pub modify_users: Vec<String>,
    /// Kept as submitted; group membership is not resolved (yet): users decide.
    pub modify_groups: Vec<String>,
}

impl AppAcls {
    /// Does `list` name `user` (or everyone, `*`)?
    pub fn names(list: &[String], user: &str) -> bool {
        list.iter().any(|u| u == "*" || u == user)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSubmission {
    pub name: String,
    pub queue: String,
    /// The submitting user: the name in the client's `user:NAME` certificate, which the RM
    /// checks.
    pub user: String,
    pub app_type: String,
    pub am_resource: Resource,
    pub am_launch: LaunchSpec,
    /// Attempts allowed for the AM; `None` takes the RM's configured maximum.
    pub max_attempts: Option<u32>,
    /// Who else may view and modify the application.
    #[serde(default)]
    pub acls: AppAcls,
}

/// Requests on `spindle-rm/1`.
// One request is decoded per stream and handled once: the size of the largest
// variant (a submission) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumCount)]
pub enum RmRequest {
    // --- clients
    HasFile {
        sha256: String,
    },
    /// Stages a file. The RM answers [`RmResponse::SendFile`] when the stream is to
    /// carry exactly `size` raw bytes next (then `Ok`, or an error, once they are
    /// stored), or `HasFile(true)` when the content is staged already, perhaps by
    /// another upload of it that this one waited for (no bytes follow).
    UploadFile {
        sha256: String,
        size: u64,
    },
    Submit(AppSubmission),
    GetApplication {
        app: ApplicationId,
    },
    ListApplications {
        states: Vec<YarnApplicationState>,
    },
    Kill {
        app: ApplicationId,
    },
    ListNodes,
    /// A bearer token for the RM's web (`spindle token create`), valid for `ttl_ms`.
    CreateWebToken {
        ttl_ms: u64,
    },
    // --- node managers
    RegisterNode {
        node_id: NodeId,
        address: String,
        http_address: String,
        capability: Resource,
        /// Its containers after an NM or RM restart: those running, and those that
        /// completed since the last heartbeat the RM answered (reported once).
        running: Vec<ContainerStatus>,
        /// The apps it holds containers or directories of (YARN's running applications):
        /// the RM answers those that ended meanwhile, so that the node cleans them.
        apps: Vec<ApplicationId>,
        /// How it isolates containers (for `spindle node list` and REST).
        isolation: Isolation,
    },
    NodeHeartbeat {
        node_id: NodeId,
        statuses: Vec<ContainerStatus>,
        /// The version of the container-token keys the NM holds: the reply
        /// carries the keys when the RM's have changed since.
        token_keys_version: u64,
        /// Why the node is unhealthy (a local or log dir full or unwritable), or
        /// `None`: the RM places no container on an unhealthy node.
        health: Option<String>,
    },
    /// Answered with `FileFollows` and the raw bytes.
    FetchFile {
        sha256: String,
    },
    // --- application masters (token: the AMRM token from the AM's environment)
    RegisterAm {
        attempt: AppAttemptId,
        token: String,
        host: String,
        tracking_url: String,
    },
    /// Opens the push stream: the RM keeps writing `AmEvent` frames on it.
    SubscribeAm {
        attempt: AppAttemptId,
        token: String,
    },
    Allocate {
        attempt: AppAttemptId,
        token: String,
        asks: Vec<ResourceAsk>,
        releases: Vec<ContainerId>,
        progress: f32,
    },
    FinishAm {
        attempt: AppAttemptId,
        token: String,
        final_status: FinalApplicationStatus,
        diagnostics: String,
        tracking_url: String,
    },
    // --- clients (later additions)
    /// The scheduler's queues (`spindle queue list`).
    ListQueues,
    /// Decommissions a node gracefully (`spindle node decommission`; an admin's right,
    /// the RM's `admin-acl`): no new containers go there; after what runs there is done,
    /// or `timeout_ms` (`None`: the RM's `graceful-decommission-timeout`), it is
    /// DECOMMISSIONED and its NM is told to shut down. Again on a DECOMMISSIONING node:
    /// its timeout is replaced.
    DecommissionNode {
        node_id: NodeId,
        timeout_ms: Option<u64>,
    },
    /// Takes a DECOMMISSIONING node back into service (RUNNING, its containers kept), or
    /// lets a DECOMMISSIONED one register again (`spindle node recommission`; admins only).
    RecommissionNode {
        node_id: NodeId,
    },
    // --- node managers (later additions)
    /// The NM stops for good (YARN's UnRegisterNodeManager): the node is SHUTDOWN with
    /// this message, and what still ran there is completed for its applications. Sent by
    /// a stop without NM recovery, or after a decommission.
    UnregisterNode {
        node_id: NodeId,
        message: String,
    },
}

/// One queue of the scheduler and its state of the moment: REST, the UI, metrics and
/// `spindle queue list` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueReport {
    /// `root.a` and `a`; depth 0 is root.
    pub path: String,
    pub name: String,
    pub depth: u32,
    pub leaf: bool,
    /// Guaranteed and maximum share, percent of the parent, then of the cluster.
    pub capacity: f64,
    pub maximum_capacity: f64,
    pub absolute_capacity: f64,
    pub absolute_maximum_capacity: f64,
    /// What its containers hold, and what its applications wait for.
    pub used: Resource,
    pub pending: Resource,
    /// Share of its guarantee in use, in percent (YARN's usedCapacity).
    pub used_capacity: f64,
    /// Share of the cluster in use, in percent.
    pub absolute_used_capacity: f64,
    /// Its applications: all, running their AM, waiting for it.
    pub num_applications: u32,
    pub num_active_applications: u32,
    pub num_pending_applications: u32,
    pub num_containers: u32,
    /// AM containers' use and the limit on it.
    pub am_used: Resource,
    pub am_limit: Resource,
    /// Its settings, resolved.
    pub user_limit_factor: f64,
    pub minimum_user_limit_percent: f64,
    pub maximum_applications: u32,
    pub maximum_am_resource_percent: f64,
    /// `fifo` or `fair`; `RUNNING` or `STOPPED`.
    pub ordering_policy: String,
    pub state: String,
    /// What each user holds (leaves).
    pub users: Vec<(String, Resource)>,
}

impl RmRequest {
    /// The message's name (its variant's), for logs and refusals.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

/// Responses on `spindle-rm/1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RmResponse {
    Ok,
    Error(WireError),
    HasFile(bool),
    Submitted(ApplicationId),
    Application(Box<ApplicationReport>),
    Applications(Vec<ApplicationReport>),
    Nodes(Vec<NodeReport>),
    Queues(Vec<QueueReport>),
    /// A web bearer token and when it expires (ms since the epoch).
    WebToken {
        token: String,
        expiry_ms: u64,
    },
    NodeRegistered {
        cluster_ts: u64,
        heartbeat_interval_ms: u64,
        /// The keys that verify container tokens (never the AMRM keys).
        token_keys: NodeTokenKeys,
        /// The RM's wall clock at this registration: the NM refuses container
        /// tokens issued before it (their containers were given up when the node
        /// registered, and a restarted NM no longer knows which tokens it used).
        registered_ms: u64,
    },
    Heartbeat {
        /// Containers the NM must stop, with the exit status to report.
        kill: Vec<(ContainerId, i32)>,
        /// Apps that ended: the NM cleans their containers and directories.
        finished_apps: Vec<ApplicationId>,
        /// The RM does not know this node (e.g. after expiry): register again.
        reregister: bool,
        /// The container-token keys, when they changed since the version the
        /// heartbeat said the NM holds (a key was made or retired).
        token_keys: Option<NodeTokenKeys>,
    },
    FileFollows {
        size: u64,
    },
    AmRegistered {
        maximum: Resource,
        cluster_ts: u64,
    },
    /// Pushed on a `SubscribeAm` stream.
    AmEvent(AmEvent),
    /// The answer to `UploadFile` when this upload is the one to send the bytes.
    SendFile,
    /// The answer to a `RegisterNode` or `NodeHeartbeat` of a DECOMMISSIONED node (YARN's
    /// `NodeAction.SHUTDOWN`): the NM stops for good, stopping what still runs there.
    ShutdownNode {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AmEvent {
    Allocated(Vec<Container>),
    Completed(Vec<ContainerStatus>),
    NodesLost(Vec<NodeId>),
    /// The AMRM master key rolled: the AM presents this token from now on (the
    /// one it had is accepted for one more roll period).
    AmrmToken {
        token: String,
    },
    /// The RM will take these containers back (preemption) after its preemption
    /// wait, with exit status -102 (YARN's strict PreemptionContract): the AM should
    /// stop using them.
    Preempting(Vec<ContainerId>),
    /// The application was killed or its attempt is over: the AM must exit.
    Shutdown {
        reason: String,
    },
    /// Nodes the AM holds containers on changed state (YARN's `updatedNodes`): a
    /// DECOMMISSIONING node takes no new containers and what runs there should finish
    /// and go before its timeout.
    NodesUpdated(Vec<NodeUpdate>),
}

/// Requests on `spindle-nm/1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr)]
pub enum NmRequest {
    StartContainer {
        token: ContainerToken,
        launch: LaunchSpec,
    },
    StopContainer {
        container_id: ContainerId,
        /// A token for the container proves the caller owns it.
        token: ContainerToken,
    },
    /// Allowed with a container token of the container's application (`token`), with the
    /// certificate of a user who may view the application, or from the RM.
    GetContainerStatus {
        container_id: ContainerId,
        #[serde(default)]
        token: Option<ContainerToken>,
    },
    /// Reads part of a container's log file (`stdout`, `stderr`, ...), like `yarn logs`.
    /// Allowed as `GetContainerStatus`.
    ReadLog {
        container_id: ContainerId,
        file: String,
        offset: u64,
        max_bytes: u32,
        #[serde(default)]
        token: Option<ContainerToken>,
    },
}

impl NmRequest {
    /// The message's name (its variant's), for logs and refusals.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NmResponse {
    Ok,
    Error(WireError),
    Started {
        pid: u32,
    },
    Status(ContainerStatus),
    /// A chunk of a log file from the requested offset, and the file's size now.
    Log {
        data: Vec<u8>,
        size: u64,
    },
}

/// Lets generic client code pull the error out of any response enum.
pub trait WireResponse: Sized {
    fn from_error(e: WireError) -> Self;
    fn into_result(self) -> Result<Self, WireError>;
}

/// `WireResponse` for a response enum whose only error is its `Error(WireError)` variant.
macro_rules! error_variant_response {
    ($t:ty) => {
        impl WireResponse for $t {
            fn from_error(e: WireError) -> Self {
                Self::Error(e)
            }
            fn into_result(self) -> Result<Self, WireError> {
                match self {
                    Self::Error(e) => Err(e),
                    other => Ok(other),
                }
            }
        }
    };
}

error_variant_response!(RmResponse);

error_variant_response!(NmResponse);

/// A task as the driver pushes it to an executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskLaunch {
    pub task_id: u64,
    pub stage_id: u32,
    pub stage_attempt: u32,
    pub partition: u32,
    pub attempt: u32,
    /// The stage's encoded spec; sent with the first task of a stage an
    /// executor sees, then `None` (the executor keeps it).
    pub stage: Option<Vec<u8>>,
}

/// A task's end as an executor reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskResult {
    /// The encoded task output.
    Success(Vec<u8>),
    /// An executor-side failure outside the task itself.
    Failure(String),
    /// The task's own encoded error (which may say a fetch failed).
    Failed(Vec<u8>),
    /// The driver asked for the task to be killed (`KillTask`); the reason it gave.
    Killed(String),
}

/// Requests on `spindle-driver/1`; every one carries the per-application secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DriverRequest {
    /// Registers and opens the task stream: after `Ok` the driver keeps
    /// writing `Launch`/`KillTask`/`Shutdown` frames on this stream.
    RegisterExecutor {
        executor_id: String,
        secret: String,
        host: String,
        cores: u32,
        container_id: ContainerId,
        node_id: NodeId,
        /// Where this executor's shuffle output is served (the node's shuffle
        /// service, or the executor's own block server) and written.
        #[serde(default)]
        shuffle_server: String,
        #[serde(default)]
        shuffle_dir: String,
        /// Its log pages by name (`stdout`, `stderr`) on its node's web server (Spark's
        /// executor `logUrlMap`); empty when the node serves none.
        #[serde(default)]
        log_urls: BTreeMap<String, String>,
    },
    StatusUpdate {
        executor_id: String,
        secret: String,
        task_id: u64,
        result: TaskResult,
        /// Wall time the task ran on the executor, ms.
        run_ms: u64,
    },
    /// A [`DriverResponse::MigrateShuffle`] is done: `source`'s map outputs are now
    /// served at `result`'s place and held by the reporting executor (a peer that
    /// copied them, or `source` itself when they went to fallback storage); or it
    /// failed, and why.
    ShuffleMigrated {
        executor_id: String,
        secret: String,
        source: String,
        result: Result<MigratedTo, String>,
    },
    /// Client deploy mode: the application's thin AM (the launcher, in the
    /// AM container) reaches the driver in the user's program, presents the
    /// token the driver put in its launch, and hands over what only an AM
    /// container has (the app secret, the attempt). The driver answers
    /// `LauncherAccepted` and keeps the stream: it writes the `Rm*` frames
    /// (calls for the launcher to make to the RM) on it.
    LauncherRegister {
        token: String,
        app_secret: String,
        attempt: AppAttemptId,
        nm_host: String,
        /// When the RM allocated the AM container (wall clock, ms).
        allocated_wall_ms: u64,
    },
    /// Client deploy mode: the RM's news, relayed by the launcher.
    LauncherEvent { token: String, event: RelayedEvent },
}

/// What the launcher relays from the RM to a client-mode driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RelayedEvent {
    /// An event of the allocation stream.
    Rm(AmEvent),
    /// The launcher subscribed again after losing the RM (asks must be resent).
    Resynced,
    /// The launcher lost the RM for good.
    Closed,
}

/// Where a decommissioning executor's map outputs went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigratedTo {
    /// The block server that serves them now; empty: read from `dir` directly
    /// (fallback storage on a shared file system).
    pub server: String,
    /// The directory that holds their files.
    pub dir: String,
}

/// How a decommissioning executor's map outputs move (Spark's shuffle-block
/// migration); the executor that gets it does the work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShuffleMigration {
    /// You are the peer: copy these outputs from `source`, served at `server`, into
    /// your own shuffle dir and serve them from there.
    FetchFrom { source: String, server: String },
    /// You are decommissioning and no peer is left: have the node's shuffle service
    /// serve your shuffle dir from now on.
    ServeFromNodeService,
    /// You are decommissioning and no peer is left: copy these outputs to `dir`
    /// (`spark.storage.decommission.fallbackStorage.path`, shared by every host).
    CopyTo { dir: String },
}

/// One map output to migrate: the shuffle, the map, and its bytes per reduce
/// partition (zero-size blocks are not copied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrateOutput {
    pub shuffle_id: u32,
    pub map_id: u32,
    pub sizes: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DriverResponse {
    Ok,
    Error(WireError),
    Launch(TaskLaunch),
    /// The shuffle was released: delete its map output files.
    RemoveShuffle {
        shuffle_id: u32,
    },
    /// The executor should exit.
    Shutdown {
        reason: String,
    },
    /// Kill this running task (another attempt of it succeeded): it reports
    /// `TaskResult::Killed` once it stopped.
    KillTask {
        task_id: u64,
        reason: String,
    },
    /// Move a decommissioning executor's map outputs (see [`ShuffleMigration`]);
    /// answered with [`DriverRequest::ShuffleMigrated`].
    MigrateShuffle {
        how: ShuffleMigration,
        outputs: Vec<MigrateOutput>,
    },
    /// To a launcher: registration accepted; register with the RM with this
    /// tracking URL (the driver's UI).
    LauncherAccepted {
        tracking_url: String,
    },
    /// To a launcher: ask the RM for this many executor containers in all
    /// (replaces the last ask).
    RmAsk {
        count: u32,
        resource: Resource,
    },
    /// To a launcher: give this container back.
    RmRelease {
        container: ContainerId,
    },
    /// To a launcher: unregister with this final status and exit.
    RmFinish {
        status: FinalApplicationStatus,
        diagnostics: String,
        tracking_url: String,
    },
}

error_variant_response!(DriverResponse);

// ---------------------------------------------------------------------------
// Shuffle service (`spindle-shuffle/1`): executors register their shuffle
// dirs, reducers fetch blocks. Served by the NM's aux service, the standalone
// `shuffle-service` binary, or an executor itself (shuffle service off).

/// Shuffle service: executors register shuffle dirs, reducers fetch blocks.
pub const ALPN_SHUFFLE: &[u8] = b"spindle-shuffle/1";

/// Requests on `spindle-shuffle/1`.
///
/// Block ids travel as Spark's strings (`shuffle_<shuffleId>_<mapId>_<reduceId>`)
/// and are parsed strictly by the service, so a malformed or escaping id is
/// refused with a typed error naming it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShuffleRequest {
    /// An executor's shuffle dirs. The application must have been registered
    /// (`RegisterApp`, by the node manager) and the executor must present its
    /// secret, as every other request of the app does. Every dir must exist,
    /// lie inside the service's allowed roots and have the application id as a
    /// path component.
    RegisterExecutor {
        app_id: ApplicationId,
        executor_id: String,
        secret: String,
        dirs: Vec<String>,
    },
    /// Answered with `Blocks { sizes }` followed on the same stream by the
    /// blocks' raw bytes, in request order; or `BlockError` naming the first
    /// malformed or missing block; or `Error`.
    FetchBlocks {
        app_id: ApplicationId,
        secret: String,
        executor_id: String,
        blocks: Vec<String>,
    },
    /// Deletes the shuffle's files in every dir the app registered.
    RemoveShuffle {
        app_id: ApplicationId,
        secret: String,
        shuffle_id: u32,
    },
    /// The node manager registers an application's secret, taken from a
    /// container token it verified, before it starts the app's containers on
    /// this node. Again with the same secret: a no-op; with another: refused.
    /// `admin_token` is the service's admin token.
    RegisterApp {
        app_id: ApplicationId,
        secret: String,
        admin_token: String,
    },
    /// The node manager says the app ended: its shuffle files are deleted and
    /// the service forgets it. `admin_token` is the service's admin token.
    AppFinished {
        app_id: ApplicationId,
        admin_token: String,
    },
}

/// Responses on `spindle-shuffle/1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShuffleResponse {
    Ok,
    Error(WireError),
    /// One block of the request is malformed, escapes the app's dirs or is
    /// missing: nothing follows.
    BlockError {
        block: String,
        error: WireError,
    },
    /// Followed by `sizes.iter().sum()` raw bytes: each block in request order.
    Blocks {
        sizes: Vec<u64>,
    },
    /// Files deleted by `RemoveShuffle` or `AppFinished`.
    Removed {
        files: u64,
    },
}

impl WireResponse for ShuffleResponse {
    fn from_error(e: WireError) -> Self {
        Self::Error(e)
    }
    fn into_result(self) -> Result<Self, WireError> {
        match self {
            Self::Error(e) | Self::BlockError { error: e, .. } => Err(e),
            other => Ok(other),
        }
    }
}
