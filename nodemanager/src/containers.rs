//! The containers' async shell: drives the [`Lifecycle`] core with events and
//! the monotonic clock, and executes what it decides (localize, spawn the
//! process group, signal it, remove an app's directory, poke the heartbeat).
//!
//! One mutex guards the core; one timer task sleeps until the core's next
//! wake-up (re-armed whenever that moves) and feeds it [`Event::Tick`]. Nothing
//! here polls: a process exit is a task awaiting the child, and whoever waits
//! for containers to end watches the core's live count.

use crate::cgroups::ContainerGroup;
use crate::isolation::Isolation;
use crate::launch::{self, fail, Layout, NodeEnv};
use crate::lifecycle::{self, Action, Event, Exit, Lifecycle, MemorySample, PhaseCounts, Refusal};
use crate::localizer::Localizer;
use crate::metrics::NmEvent;
use crate::recovery::{self, ContainerRecord, RecoveryStore};
use common::clock::mono_ms;
use common::protocol::{
    exit_status, ContainerState, ContainerStatus, ErrorCode, LaunchSpec, WireError,
};
use common::transport::Client;
use common::{ApplicationId, ContainerId, Resource};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

pub struct ContainerManager {
    layout: Layout,
    env: NodeEnv,
    localizer: Localizer,
    core: Mutex<Lifecycle>,
    /// Wakes the timer task when the core's next wake-up may have moved.
    rearm: Arc<Notify>,
    /// How many containers have not ended (the core's count, after each event).
    live: watch::Sender<usize>,
    /// Told when a finished app has been cleaned up.
    aux: Option<Arc<shuffle_service::NodeService>>,
    /// Poked when a container completes, so the NM heartbeats at once.
    pub changed: Arc<Notify>,
    /// Who containers run as, and their cgroups (none: RSS polling).
    isolation: Isolation,
    /// The cgroup of each container that has one, until it is done.
    groups: Mutex<HashMap<ContainerId, Arc<ContainerGroup>>>,
    /// Where containers are recorded to outlive this process (`recovery`).
    records: Option<RecoveryStore>,
}

impl ContainerManager {
    /// The manager and its timer task (which ends when the manager is dropped).
    pub fn new(
        layout: Layout,
        env: NodeEnv,
        rm_files: Arc<Client>,
        kill_grace: Duration,
        aux: Option<Arc<shuffle_service::NodeService>>,
        isolation: Isolation,
    ) -> Result<Arc<Self>, common::staging::StoreError> {
        let localizer = Localizer::new(&layout.local_dir, rm_files)?;
        let records = if env.launcher.is_some() {
            Some(RecoveryStore::open(&layout.local_dir).map_err(|e| {
                common::staging::StoreError::Io {
                    path: layout.local_dir.join(recovery::DIR),
                    source: e,
                }
            })?)
        } else {
            None
        };
        if let Err(e) = launch::prepare_node(&layout, isolation.users.switching()) {
            tracing::warn!(error = %e.message, "preparing the node's directories");
        }
        let me = Arc::new(Self {
            layout,
            env,
            localizer,
            core: Mutex::new(Lifecycle::new(kill_grace.as_millis() as u64)),
            rearm: Arc::new(Notify::new()),
            live: watch::Sender::new(0),
            aux,
            changed: Arc::new(Notify::new()),
            isolation,
            groups: Mutex::new(HashMap::new()),
            records,
        });
        tokio::spawn(timer(Arc::downgrade(&me), me.rearm.clone()));
        Ok(me)
    }

    fn core(&self) -> MutexGuard<'_, Lifecycle> {
        self.core.lock().expect("container lifecycle")
    }

    /// Feeds one event to the core now, executes the quick actions (signals,
    /// metrics, heartbeat poke) under the lock so they keep their order, starts
    /// the slow ones (directory removal, aux hooks) in a task, and returns the
    /// ones that belong to the caller (localize, spawn).
    fn handle(self: &Arc<Self>, event: Event) -> Result<Vec<Action>, Refusal> {
        let mut core = self.core();
        let before = core.next_wakeup();
        let actions = core.handle(event, mono_ms())?;
        let mut mine = Vec::new();
        let mut slow = Vec::new();
        for a in actions {
            match a {
                Action::Localize { .. } | Action::Spawn { .. } => mine.push(a),
                Action::RemoveAppDir { .. } | Action::AppCleanedUp { .. } => slow.push(a),
                a => self.execute(a),
            }
        }
        if core.next_wakeup() != before {
            self.rearm.notify_one();
        }
        let live = core.live();
        drop(core);
        self.live
            .send_if_modified(|n| std::mem::replace(n, live) != live);
        if !slow.is_empty() {
            let me = self.clone();
            tokio::spawn(async move {
                for a in slow {
                    me.execute_slow(a).await;
                }
            });
        }
        Ok(mine)
    }

    fn group(&self, id: ContainerId) -> Option<Arc<ContainerGroup>> {
        self.groups.lock().expect("groups").get(&id).cloned()
    }

    fn execute(&self, action: Action) {
        match action {
            // By cgroup where there is one: nothing the container started escapes.
            Action::Signal { id, pid, signal } => match self.group(id) {
                Some(g) => match signal {
                    lifecycle::Signal::Term => g.signal(libc::SIGTERM),
                    lifecycle::Signal::Kill => g.kill(),
                },
                None => launch::signal_group(pid, signal),
            },
            Action::OverMemory {
                id,
                used_bytes,
                limit_bytes,
                ..
            } => {
                tracing::warn!(container_id = %id, used_mb = used_bytes >> 20, limit_mb = limit_bytes >> 20, "memory limit exceeded")
            }
            Action::Completed { id, status } => {
                tracing::info!(container_id = %id, exit_status = status, "container completed");
                NmEvent::ContainerCompleted { exit: status }.emit();
                if let Some(g) = self.groups.lock().expect("groups").remove(&id) {
                    // Whatever is left in it is killed, then the group goes.
                    tokio::task::spawn_blocking(move || g.remove(CGROUP_REMOVAL_BOUND));
                }
            }
            Action::Heartbeat => self.changed.notify_one(),
            other => tracing::error!(action = ?other, "action not executed"),
        }
    }

    async fn execute_slow(&self, action: Action) {
        match action {
            Action::RemoveAppDir { app, user } => {
                let dir = self.layout.app_dir(&user, app);
                if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(app_id = %app, error = %e, "cleaning app directory");
                    }
                }
            }
            Action::AppCleanedUp { app, live } => {
                if live > 0 {
                    tracing::warn!(app_id = %app, live, "containers of a finished app still running at its cleanup");
                }
                tracing::info!(app_id = %app, "application cleaned up");
                if let Some(aux) = &self.aux {
                    aux.app_finished(app).await;
                }
            }
            other => self.execute(other),
        }
    }

    /// Localizes and starts a container whose token was already verified.
    /// Returns its pid, or 0 when it was killed before it could start.
    pub async fn start(
        self: &Arc<Self>,
        id: ContainerId,
        user: &str,
        resource: Resource,
        launch: LaunchSpec,
    ) -> Result<u32, WireError> {
        // Measures the launch latency for its histogram (sub-millisecond); decides nothing.
        let requested = Instant::now();
        lifecycle::validate_launch(&launch)
            .map_err(|e| fail(ErrorCode::BadRequest, e.to_string()))?;
        self.handle(Event::LaunchRequested {
            id,
            user: user.to_string(),
            resource,
        })
        .map_err(|e| self.refused(e))?;
        let run_as = match self.isolation.users.resolve(user) {
            Ok(a) => a,
            Err(e) => {
                let e = fail(
                    ErrorCode::Unauthorized,
                    format!("{e} (node {})", self.env.node_id),
                );
                return Err(self.launch_failed(id, e, true));
            }
        };
        let prepared = launch::prepare(
            &self.layout,
            &self.env,
            user,
            id,
            run_as.as_ref(),
            &launch.secrets,
        );
        let localized = match &prepared {
            Ok(p) => {
                self.localizer
                    .localize_into(&p.work, &launch.local_resources)
                    .await
            }
            Err(e) => Err(e.clone()),
        };
        let next = match (localized, prepared) {
            (Ok(()), Ok(p)) => self.handle(Event::Localized { id }).map(|a| (a, p)),
            (Err(e), _) | (_, Err(e)) => return Err(self.launch_failed(id, e, true)),
        };
        let prepared = match next {
            Ok((a, p)) if a.contains(&Action::Spawn { id }) => p,
            _ => {
                tracing::info!(container_id = %id, "container killed before it started");
                return Ok(0);
            }
        };
        let group = match &self.isolation.cgroups {
            Some(cg) => match cg.create(id, resource) {
                Ok(g) => Some(Arc::new(g)),
                Err(e) => {
                    let e = fail(
                        ErrorCode::Internal,
                        format!("creating the cgroup of {id}: {e}"),
                    );
                    return Err(self.launch_failed(id, e, false));
                }
            },
            None => None,
        };
        if let Some(g) = &group {
            self.groups.lock().expect("groups").insert(id, g.clone());
        }
        let spawned = launch::spawn(
            &self.layout,
            &self.env,
            &prepared,
            id,
            user,
            resource,
            &launch,
            run_as.as_ref(),
            group.as_deref(),
        );
        let child = match spawned {
            Ok(child) => child,
            Err(e) => return Err(self.launch_failed(id, e, false)),
        };
        let pid = child.id().unwrap_or(0);
        let _ = self.handle(Event::Spawned {
            id,
            pid: pid as i32,
        });
        if let Some(records) = &self.records {
            let record = ContainerRecord {
                id,
                user: user.to_string(),
                resource,
                pid: pid as i32,
                start_ticks: recovery::start_ticks(pid as i32).unwrap_or(0),
                exit_file: prepared.work.join(crate::launcher::EXIT_FILE),
                exit: None,
            };
            if let Err(e) = records.save(&record) {
                tracing::warn!(container_id = %id, error = %e, "cannot record the container for recovery");
            }
        }
        tracing::info!(container_id = %id, pid, "container running");
        NmEvent::ContainerLaunched {
            took: requested.elapsed(),
        }
        .emit();
        let me = self.clone();
        tokio::spawn(async move {
            let mut child = child;
            let (status, diagnostics) = launch::exit_of(child.wait().await);
            // An OOM kill in its cgroup decides its status (-104) before its exit does.
            me.check_oom(id);
            let _ = me.handle(Event::Exited {
                id,
                status,
                diagnostics,
            });
            me.record_exit(id);
        });
        Ok(pid)
    }

    /// Keeps a completed container's final status in its record until the RM has it.
    fn record_exit(&self, id: ContainerId) {
        let Some(records) = &self.records else {
            return;
        };
        let (Some(mut r), Some(st)) = (records.get(id), self.status(id)) else {
            return;
        };
        if st.state == ContainerState::COMPLETE {
            r.exit = Some((st.exit_status, st.diagnostics));
            if let Err(e) = records.save(&r) {
                tracing::warn!(container_id = %id, error = %e, "cannot record the container's exit");
            }
        }
        // The RM may have acknowledged the status while it was being written (the
        // heartbeat runs beside this): then the record just written goes too.
        if self.core().acknowledged(id) {
            records.remove(id);
        }
    }

    /// The apps whose directories this node holds (found at start, or made since).
    pub fn apps(&self) -> Vec<ApplicationId> {
        self.core().apps()
    }

    /// Tells the core about the app directories a previous run left
    /// (`usercache/<user>/appcache/<app>`): the RM says which of those apps ended while
    /// this node was away, and their directories go.
    pub fn find_app_dirs(self: &Arc<Self>) {
        let users = std::fs::read_dir(self.layout.local_dir.join("usercache"));
        for user in users.into_iter().flatten().flatten() {
            let user_name = user.file_name().to_string_lossy().into_owned();
            let apps = std::fs::read_dir(user.path().join("appcache"));
            for a in apps.into_iter().flatten().flatten() {
                if let Ok(app) = a.file_name().to_string_lossy().parse::<ApplicationId>() {
                    let _ = self.handle(Event::AppDirFound {
                        app,
                        user: user_name.clone(),
                    });
                }
            }
        }
    }

    /// Takes back the containers a previous run of this NM recorded (`recovery`): those
    /// still running are watched as if started here; those that ended meanwhile report
    /// the status their launcher wrote. Returns each app's user, for the owners table.
    pub fn recover(self: &Arc<Self>) -> Vec<(ApplicationId, String)> {
        let Some(records) = &self.records else {
            return vec![];
        };
        let mut owners = Vec::new();
        for r in records.load() {
            owners.push((r.id.app(), r.user.clone()));
            let alive = r.exit.is_none() && recovery::is_alive(r.pid, r.start_ticks);
            let exit = match &r.exit {
                Some((status, diagnostics)) => Exit::new(*status, diagnostics.clone()),
                None if alive => Exit::new(exit_status::INVALID, ""),
                None => exit_from_file(&r),
            };
            let event = Event::Recovered {
                id: r.id,
                user: r.user.clone(),
                resource: r.resource,
                pid: alive.then_some(r.pid),
                exit,
            };
            if let Err(e) = self.handle(event) {
                tracing::warn!(container_id = %r.id, error = %e, "container not recovered");
                continue;
            }
            tracing::info!(container_id = %r.id, pid = r.pid, alive, "container recovered");
            if alive {
                let me = self.clone();
                tokio::spawn(async move {
                    recovery::wait_gone(r.pid, r.start_ticks).await;
                    let exit = exit_from_file(&r);
                    let _ = me.handle(Event::Exited {
                        id: r.id,
                        status: exit.status,
                        diagnostics: exit.diagnostics,
                    });
                    me.record_exit(r.id);
                });
            } else {
                self.record_exit(r.id);
            }
        }
        owners
    }

    fn launch_failed(
        self: &Arc<Self>,
        id: ContainerId,
        e: WireError,
        localizing: bool,
    ) -> WireError {
        tracing::warn!(container_id = %id, error = %e.message, "container failed to start");
        NmEvent::ContainerLaunchFailed.emit();
        let diagnostics = e.message.clone();
        let _ = self.handle(if localizing {
            Event::LocalizationFailed { id, diagnostics }
        } else {
            Event::SpawnFailed { id, diagnostics }
        });
        e
    }

    fn refused(&self, e: Refusal) -> WireError {
        match e {
            Refusal::UnknownContainer { .. } => fail(ErrorCode::UnknownContainer, e.to_string()),
            Refusal::ShuttingDown => fail(
                ErrorCode::InvalidState,
                format!("node manager {} is shutting down", self.env.node_id),
            ),
            _ => fail(ErrorCode::InvalidState, e.to_string()),
        }
    }

    /// Stops a container, reporting `exit` with `diagnostics` when it is gone;
    /// false if it is not on this node.
    pub fn kill(self: &Arc<Self>, id: ContainerId, exit: i32, diagnostics: String) -> bool {
        self.handle(Event::Kill {
            id,
            status: exit,
            diagnostics,
        })
        .is_ok()
    }

    /// The app ended: its containers are stopped, then its directories removed
    /// (logs stay) and the aux services told, as the core decides.
    pub fn app_finished(self: &Arc<Self>, app: ApplicationId) {
        let _ = self.handle(Event::AppFinished { app });
    }

    /// Refuses new containers and stops every one (NM shutdown).
    pub fn kill_all(self: &Arc<Self>) {
        let _ = self.handle(Event::Shutdown);
    }

    /// Waits until every container has ended, or `deadline`; returns how many have not.
    pub async fn wait_all_ended(&self, deadline: tokio::time::Instant) -> usize {
        let mut live = self.live.subscribe();
        let _ = tokio::time::timeout_at(deadline, live.wait_for(|n| *n == 0)).await;
        self.core().live()
    }

    /// Tells the core when the kernel's OOM killer struck in the container's cgroup.
    fn check_oom(self: &Arc<Self>, id: ContainerId) {
        let Some(g) = self.group(id) else {
            return;
        };
        let oom = g.oom();
        if oom.kills > 0 {
            let peak_bytes = if oom.peak_bytes > 0 {
                oom.peak_bytes
            } else {
                g.limit_bytes()
            };
            let _ = self.handle(Event::OomKilled { id, peak_bytes });
        }
    }

    /// One memory-check round (blocking: reads `/proc` or the cgroups); the core kills
    /// containers over their allocation with -104. In cgroup mode the kernel enforces
    /// the limit: this reads its OOM-kill counters, so that a container whose process was
    /// killed (one that called setsid included) is stopped as a whole.
    pub fn check_memory(self: &Arc<Self>) {
        let monitored = self.core().monitored();
        if monitored.is_empty() {
            return;
        }
        if self.isolation.cgroups.is_some() {
            for m in monitored {
                self.check_oom(m.id);
            }
            return;
        }
        let groups: Vec<i32> = monitored.iter().map(|m| m.pid).collect();
        let rss = crate::monitor::rss_by_group(&groups);
        let samples = monitored
            .iter()
            .map(|m| MemorySample {
                id: m.id,
                pid: m.pid,
                rss_bytes: rss.get(&m.pid).copied().unwrap_or(0),
            })
            .collect();
        let _ = self.handle(Event::MemorySampled { samples });
    }

    /// How this node isolates containers (reported to the RM).
    pub fn isolation(&self) -> common::protocol::Isolation {
        self.isolation.report()
    }

    /// Removes the node's cgroups once its containers are gone (at shutdown; blocking,
    /// bounded).
    pub fn release_cgroups(&self) {
        let left: Vec<Arc<ContainerGroup>> = self
            .groups
            .lock()
            .expect("groups")
            .drain()
            .map(|(_, g)| g)
            .collect();
        for g in left {
            g.remove(CGROUP_REMOVAL_BOUND);
        }
        if let Some(cg) = &self.isolation.cgroups {
            cg.remove_all();
        }
    }

    /// How many containers are localizing, running and done here.
    pub fn phase_counts(&self) -> PhaseCounts {
        self.core().counts()
    }

    /// What the node holds for its containers and each running container's memory, for
    /// the metrics (blocking: reads `/proc`).
    pub fn usage(&self) -> crate::metrics::NodeUse {
        let (allocated, monitored) = {
            let core = self.core();
            (core.allocated(), core.monitored())
        };
        let groups: Vec<i32> = monitored.iter().map(|m| m.pid).collect();
        let rss = crate::monitor::rss_by_group(&groups);
        crate::metrics::NodeUse {
            allocated,
            containers: monitored
                .iter()
                .map(|m| crate::metrics::ContainerMemory {
                    id: m.id,
                    limit_bytes: m.limit_bytes,
                    rss_bytes: rss.get(&m.pid).copied().unwrap_or(0),
                })
                .collect(),
        }
    }

    /// How many containers have not ended (takes the core's lock).
    pub fn live(&self) -> usize {
        self.core().live()
    }

    pub fn status(&self, id: ContainerId) -> Option<ContainerStatus> {
        self.core().status(id)
    }

    /// Statuses for the heartbeat: every live container and every completion not yet acknowledged.
    pub fn heartbeat_statuses(&self) -> Vec<ContainerStatus> {
        self.core().unacknowledged()
    }

    /// The RM has seen these statuses.
    pub fn acknowledge(self: &Arc<Self>, sent: &[ContainerStatus]) {
        let completed: Vec<ContainerId> = sent
            .iter()
            .filter(|s| s.state == ContainerState::COMPLETE)
            .map(|s| s.container_id)
            .collect();
        // The core first: a record written meanwhile sees the acknowledgement, or is
        // removed here after it was written.
        let ids = completed.clone();
        let _ = self.handle(Event::Acknowledged { completed });
        if let Some(records) = &self.records {
            for id in ids {
                records.remove(id);
            }
        }
    }

    /// A chunk of a container's log file; logs outlive the container.
    pub fn read_log(
        &self,
        id: ContainerId,
        file: &str,
        offset: u64,
        max_bytes: u32,
    ) -> Result<(Vec<u8>, u64), WireError> {
        use std::io::{Read, Seek, SeekFrom};
        if !lifecycle::is_plain_file_name(file) {
            return Err(fail(
                ErrorCode::BadRequest,
                format!("log file name {file:?} must be a plain file name"),
            ));
        }
        let path = self.layout.log_dir(id).join(file);
        let mut f = std::fs::File::open(&path).map_err(|_| {
            fail(
                ErrorCode::UnknownContainer,
                format!("no log {file} for {id} on this node"),
            )
        })?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut data = Vec::new();
        if offset < size {
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| fail(ErrorCode::Internal, e.to_string()))?;
            f.take(u64::from(max_bytes.min(4 << 20)))
                .read_to_end(&mut data)
                .map_err(|e| fail(ErrorCode::Internal, e.to_string()))?;
        }
        Ok((data, size))
    }
}

/// How long a container's cgroup removal keeps killing what is left in it.
/// How a recorded container that ended while the NM was away ended: what its launcher
/// wrote, or, when it wrote nothing (it was killed too), an unknown status.
fn exit_from_file(r: &ContainerRecord) -> Exit {
    match crate::launcher::read_exit(&r.exit_file) {
        Some((code, signal)) => {
            let (status, diagnostics) = lifecycle::process_exit(code, signal);
            Exit::new(status, diagnostics)
        }
        None => Exit::new(
            exit_status::ABORTED,
            "the container ended while its node manager was down, and left no exit status",
        ),
    }
}

const CGROUP_REMOVAL_BOUND: Duration = Duration::from_secs(5);

impl Drop for ContainerManager {
    fn drop(&mut self) {
        // Lets the timer task see that the manager is gone.
        self.rearm.notify_one();
    }
}

/// Sleeps until the core's next wake-up and feeds it a tick; re-armed by `rearm`.
async fn timer(manager: Weak<ContainerManager>, rearm: Arc<Notify>) {
    loop {
        let next = match manager.upgrade() {
            Some(m) => m.core().next_wakeup(),
            None => return,
        };
        match next {
            Some(at) => {
                let wait = Duration::from_millis(at.saturating_sub(mono_ms()));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {
                        match manager.upgrade() {
                            Some(m) => { let _ = m.handle(Event::Tick); }
                            None => return,
                        }
                    }
                    _ = rearm.notified() => {}
                }
            }
            None => rearm.notified().await,
        }
    }
}
