//! The containers' async shell: drives the [`Lifecycle`] core with events and
//! the monotonic clock, and executes what it decides (localize, spawn the
//! process group, signal it, remove an app's directory, poke the heartbeat).
//!
//! One mutex guards the core; one timer task sleeps until the core's next
//! wake-up (re-armed whenever that moves) and feeds it [`Event::Tick`]. Nothing
//! here polls: a process exit is a task awaiting the child, and whoever waits
//! for containers to end watches the core's live count.

use crate::launch::{self, fail, Layout, NodeEnv};
use crate::lifecycle::{self, Action, Event, Lifecycle, MemorySample, PhaseCounts, Refusal};
use crate::localizer::Localizer;
use crate::metrics::NmEvent;
use common::clock::mono_ms;
use common::protocol::{ContainerState, ContainerStatus, ErrorCode, LaunchSpec, WireError};
use common::transport::Client;
use common::{ApplicationId, ContainerId, Resource};
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
}

impl ContainerManager {
    /// The manager and its timer task (which ends when the manager is dropped).
    pub fn new(
        layout: Layout,
        env: NodeEnv,
        rm_files: Arc<Client>,
        kill_grace: Duration,
        aux: Option<Arc<shuffle_service::NodeService>>,
    ) -> Result<Arc<Self>, common::staging::StoreError> {
        let localizer = Localizer::new(&layout.local_dir, rm_files)?;
        let me = Arc::new(Self {
            layout,
            env,
            localizer,
            core: Mutex::new(Lifecycle::new(kill_grace.as_millis() as u64)),
            rearm: Arc::new(Notify::new()),
            live: watch::Sender::new(0),
            aux,
            changed: Arc::new(Notify::new()),
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

    fn execute(&self, action: Action) {
        match action {
            Action::Signal { pid, signal, .. } => launch::signal_group(pid, signal),
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
        let localized = match launch::make_dirs(&self.layout, user, id) {
            Ok(work) => {
                self.localizer
                    .localize_into(&work, &launch.local_resources)
                    .await
            }
            Err(e) => Err(e),
        };
        let next = match localized {
            Ok(()) => self.handle(Event::Localized { id }),
            Err(e) => return Err(self.launch_failed(id, e, true)),
        };
        if !next.is_ok_and(|a| a.contains(&Action::Spawn { id })) {
            tracing::info!(container_id = %id, "container killed before it started");
            return Ok(0);
        }
        let child = match launch::spawn(&self.layout, &self.env, id, user, resource, &launch) {
            Ok(child) => child,
            Err(e) => return Err(self.launch_failed(id, e, false)),
        };
        let pid = child.id().unwrap_or(0);
        let _ = self.handle(Event::Spawned {
            id,
            pid: pid as i32,
        });
        tracing::info!(container_id = %id, pid, "container running");
        NmEvent::ContainerLaunched {
            took: requested.elapsed(),
        }
        .emit();
        let me = self.clone();
        tokio::spawn(async move {
            let mut child = child;
            let (status, diagnostics) = launch::exit_of(child.wait().await);
            let _ = me.handle(Event::Exited {
                id,
                status,
                diagnostics,
            });
        });
        Ok(pid)
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

    /// One memory-check round (blocking: reads `/proc`); the core kills
    /// containers over their allocation with -104.
    pub fn check_memory(self: &Arc<Self>) {
        let monitored = self.core().monitored();
        if monitored.is_empty() {
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

    /// How many containers are localizing, running and done here.
    pub fn phase_counts(&self) -> PhaseCounts {
        self.core().counts()
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
        let completed = sent
            .iter()
            .filter(|s| s.state == ContainerState::COMPLETE)
            .map(|s| s.container_id)
            .collect();
        let _ = self.handle(Event::Acknowledged { completed });
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
