//! The lifecycle of the containers on this node, as a pure state machine.
//!
//! Plain data and transition functions: no tokio, no processes, no file system and
//! no clock. The shell ([`crate::containers`]) feeds [`Event`]s with the current
//! monotonic time in milliseconds (`now`), executes the [`Action`]s that come back
//! (localize, spawn, signal a process group, remove an app's directory, poke the
//! heartbeat) and calls [`Lifecycle::handle`] with [`Event::Tick`] at
//! [`Lifecycle::next_wakeup`]. Tests drive it with numbers as the clock.
//!
//! A container's phases follow YARN's `ContainerState` where they fit:
//!
//! ```text
//!  LaunchRequested        Localized             Spawned
//! ───────────────▶ LOCALIZING ───────▶ LOCALIZED ───────▶ RUNNING ──Exited──▶ EXITED_WITH_SUCCESS
//!                      │                   │                 │                 EXITED_WITH_FAILURE
//!                      │ Kill              │ Kill            │ Kill (SIGTERM)        │ Acknowledged
//!                      ▼                   ▼                 ▼                       ▼
//!                   KILLING (no process) ──────────────▶ KILLING ─SIGKILL at     DONE
//!                      │ Localized: never spawned        kill + kill-grace; Exited ▶ EXITED_…
//!                      ▼
//!                   EXITED_WITH_FAILURE (the kill's status)
//! ```
//!
//! A kill decides the status that is reported (its exit status and diagnostics
//! replace the process's own); the first kill wins. An app that finished has its
//! containers killed, and its directory removed once they are all gone, or at a
//! bound if one will not die; logs are never touched here.

use common::protocol::{exit_status, ContainerState, ContainerStatus, LaunchSpec};
use common::{ApplicationId, ContainerId, Resource};
use std::collections::BTreeMap;

/// Diagnostics of a container the RM asked this node to stop.
pub const KILLED_BY_RESOURCEMANAGER: &str = "Container killed by the ResourceManager";
/// Diagnostics of a container its AM stopped.
pub const KILLED_BY_APPMASTER: &str = "Container killed by the ApplicationMaster";
/// Diagnostics of a container still there when its app finished.
pub const KILLED_ON_APP_COMPLETION: &str = "Container killed on application completion";
/// Diagnostics of the containers stopped because this node manager stops.
pub const KILLED_ON_SHUTDOWN: &str = "node manager shutting down";

/// After an app finishes, its directory is removed at the latest this many
/// `kill-grace` periods (plus [`CLEANUP_MARGIN_MS`]) later, even if a container
/// of it has not exited yet.
pub const CLEANUP_GRACE_PERIODS: u64 = 4;
/// See [`CLEANUP_GRACE_PERIODS`].
pub const CLEANUP_MARGIN_MS: u64 = 500;

/// A container's final status, as the RM receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// YARN's exit status: 0, -100..-110 decided by a daemon, else the process's own.
    pub status: i32,
    pub diagnostics: String,
}

impl Exit {
    pub fn new(status: i32, diagnostics: impl Into<String>) -> Self {
        Self {
            status,
            diagnostics: diagnostics.into(),
        }
    }
}

/// Where a container is in its life (YARN's `ContainerState` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Its files are being localized (and its directories made).
    Localizing,
    /// Localized; its process is being spawned.
    Localized,
    /// Its process group `pid` runs.
    Running { pid: i32 },
    /// Being stopped. `pid` once there is a process; `sigkill_at` while a
    /// SIGKILL is still due (monotonic ms).
    Killing {
        pid: Option<i32>,
        sigkill_at: Option<u64>,
    },
    /// Its process exited with 0; the RM has not acknowledged it yet.
    ExitedWithSuccess,
    /// It ended with a failure status (its own, or a kill's); not yet acknowledged.
    ExitedWithFailure(Exit),
    /// The RM has acknowledged its final status.
    Done(Exit),
}

impl Phase {
    /// Still to end (not exited).
    pub fn is_live(&self) -> bool {
        !matches!(
            self,
            Self::ExitedWithSuccess | Self::ExitedWithFailure(_) | Self::Done(_)
        )
    }

    /// The final status, once it ended.
    pub fn exit(&self) -> Option<Exit> {
        match self {
            Self::ExitedWithSuccess => Some(Exit {
                status: exit_status::SUCCESS,
                diagnostics: String::new(),
            }),
            Self::ExitedWithFailure(e) | Self::Done(e) => Some(e.clone()),
            _ => None,
        }
    }
}

/// A signal to a container's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

/// One measurement of a running container's resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySample {
    pub id: ContainerId,
    /// The process group that was measured.
    pub pid: i32,
    pub rss_bytes: u64,
}

/// A container the memory monitor should measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Monitored {
    pub id: ContainerId,
    pub pid: i32,
    pub limit_bytes: u64,
}

/// Containers here by phase, as the NM's page and `/metrics` show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseCounts {
    /// Localizing or being spawned (public state NEW).
    pub localizing: usize,
    /// With a process (public state RUNNING), being killed included.
    pub running: usize,
    /// Ended (public state COMPLETE), acknowledged or not.
    pub done: usize,
}

/// What happened, as the shell tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A start request whose token checked out.
    LaunchRequested {
        id: ContainerId,
        user: String,
        resource: Resource,
    },
    /// A container that a previous run of this NM started (`recovery`): its process
    /// group `pid` still runs, or (`pid` none) it ended with `exit` while the NM was
    /// away or before the RM acknowledged it.
    Recovered {
        id: ContainerId,
        user: String,
        resource: Resource,
        pid: Option<i32>,
        exit: Exit,
    },
    /// A previous run left `app`'s directory, under `user`, on this node.
    AppDirFound { app: ApplicationId, user: String },
    /// Its directories exist and its files are linked in.
    Localized { id: ContainerId },
    /// Localization failed (the text is reported as diagnostics).
    LocalizationFailed {
        id: ContainerId,
        diagnostics: String,
    },
    /// Its process group leader runs with this pid.
    Spawned { id: ContainerId, pid: i32 },
    /// Its process could not be started.
    SpawnFailed {
        id: ContainerId,
        diagnostics: String,
    },
    /// Its process exited (status from [`process_exit`]).
    Exited {
        id: ContainerId,
        status: i32,
        diagnostics: String,
    },
    /// Stop it, reporting `status` and `diagnostics`.
    Kill {
        id: ContainerId,
        status: i32,
        diagnostics: String,
    },
    /// One round of the memory monitor.
    MemorySampled { samples: Vec<MemorySample> },
    /// The kernel's OOM killer killed a process in the container's cgroup (which
    /// peaked at `peak_bytes`): the container goes, with -104.
    OomKilled { id: ContainerId, peak_bytes: u64 },
    /// The RM has seen these containers' final statuses.
    Acknowledged { completed: Vec<ContainerId> },
    /// The RM says the app finished: stop its containers, then clean it up.
    AppFinished { app: ApplicationId },
    /// The node manager stops: refuse new containers, stop every one.
    Shutdown,
    /// The timer fired (at the `now` passed along).
    Tick,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make the container's directories and localize its files, then report
    /// [`Event::Localized`] or [`Event::LocalizationFailed`].
    Localize { id: ContainerId },
    /// Start its process group, then report [`Event::Spawned`] or [`Event::SpawnFailed`].
    Spawn { id: ContainerId },
    /// Send `signal` to process group `pid`.
    Signal {
        id: ContainerId,
        pid: i32,
        signal: Signal,
    },
    /// It went over its memory (by the monitor's sample, or the kernel's OOM kill in
    /// its cgroup): log it (the kill follows in the same batch).
    OverMemory {
        id: ContainerId,
        pid: i32,
        used_bytes: u64,
        limit_bytes: u64,
    },
    /// It ended with `status`: log and count it.
    Completed { id: ContainerId, status: i32 },
    /// Heartbeat now: a final status is waiting to be reported.
    Heartbeat,
    /// Remove `usercache/<user>/appcache/<app>` (logs stay).
    RemoveAppDir { app: ApplicationId, user: String },
    /// The app's cleanup is over (after any [`Action::RemoveAppDir`] of it): tell
    /// the aux services. `live` containers of it had still not exited.
    AppCleanedUp { app: ApplicationId, live: usize },
}

/// A request the core turns down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("{container_id} was already started here")]
    AlreadyStarted { container_id: ContainerId },
    #[error("{container_id} is not on this node")]
    UnknownContainer { container_id: ContainerId },
    #[error("the node manager is shutting down")]
    ShuttingDown,
}

/// A launch request that is malformed, whoever sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadLaunch {
    #[error("empty launch command")]
    EmptyCommand,
    #[error("local resource name {name:?} must be a plain file name")]
    ResourceName { name: String },
    #[error("credential name {name:?} must be a plain file name")]
    SecretName { name: String },
}

/// Checks what a launch asks before anything is done for it.
pub fn validate_launch(launch: &LaunchSpec) -> Result<(), BadLaunch> {
    if launch.command.is_empty() {
        return Err(BadLaunch::EmptyCommand);
    }
    for r in &launch.local_resources {
        if !is_plain_file_name(&r.name) {
            return Err(BadLaunch::ResourceName {
                name: r.name.clone(),
            });
        }
    }
    if let Some(name) = launch.secrets.keys().find(|n| !is_plain_file_name(n)) {
        return Err(BadLaunch::SecretName { name: name.clone() });
    }
    Ok(())
}

/// A name that stays inside its directory: not empty, no `/`, not `.` or `..`.
pub fn is_plain_file_name(name: &str) -> bool {
    !(name.is_empty() || name.contains('/') || name == "." || name == "..")
}

/// The status and diagnostics of a process that ended with exit `code` or by `signal`.
pub fn process_exit(code: Option<i32>, signal: Option<i32>) -> (i32, String) {
    match (code, signal) {
        (Some(c), _) => (c, String::new()),
        (None, Some(sig)) => (128 + sig, format!("killed by signal {sig}")),
        _ => (exit_status::INVALID, String::new()),
    }
}

/// The diagnostics of a container killed for its memory (YARN's text).
/// Things due at a time (monotonic ms): finished apps' cleanup bounds, AM containers'
/// exit deadlines.
#[derive(Debug, Clone)]
struct Deadlines<K>(BTreeMap<K, u64>);

impl<K: Copy + Ord> Deadlines<K> {
    fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Sets `k`'s time unless it has one.
    fn set_once(&mut self, k: K, at: u64) {
        self.0.entry(k).or_insert(at);
    }

    fn get(&self, k: &K) -> Option<u64> {
        self.0.get(k).copied()
    }

    fn remove(&mut self, k: &K) {
        self.0.remove(k);
    }

    /// The keys whose time has come by `now`.
    fn due(&self, now: u64) -> Vec<K> {
        self.0
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| *k)
            .collect()
    }

    fn earliest(&self) -> Option<u64> {
        self.0.values().copied().min()
    }
}

/// How a container stopped because its app ended is reported (YARN's -107).
fn app_completion() -> Exit {
    Exit::new(
        exit_status::KILLED_AFTER_APP_COMPLETION,
        KILLED_ON_APP_COMPLETION,
    )
}

/// The number of an attempt's first container: its AM (YARN's `_000001`).
const AM_CONTAINER_N: u64 = 1;

pub fn over_memory_diagnostics(id: ContainerId, pid: i32, used: u64, limit: u64) -> String {
    format!(
        "Container [pid={pid},containerID={id}] is running beyond physical memory limits. \
         Current usage: {} MB of {} MB physical memory used. Killing container.",
        used >> 20,
        limit >> 20
    )
}

#[derive(Debug, Clone)]
struct Container {
    resource: Resource,
    phase: Phase,
    /// Set by the first kill: the status to report instead of the process's own.
    kill: Option<Exit>,
}

/// Every container on this node, and the apps being cleaned up.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    kill_grace_ms: u64,
    containers: BTreeMap<ContainerId, Container>,
    /// The user each app's containers run as (its directory is under that user).
    users: BTreeMap<ApplicationId, String>,
    /// Finished apps waiting for their containers to go, with the bound (monotonic ms).
    cleanups: Deadlines<ApplicationId>,
    /// AM containers of finished apps, given until then (monotonic ms) to exit on their
    /// own: an AM unregisters and then exits, and the app's end reaches this node in
    /// between, so killing it at once would turn its success into -107 (YARN's RM waits
    /// for the AM container in FINISHING likewise).
    am_exits: Deadlines<ContainerId>,
    shutting_down: bool,
}

impl Lifecycle {
    /// `kill_grace_ms`: time between SIGTERM and SIGKILL.
    pub fn new(kill_grace_ms: u64) -> Self {
        Self {
            kill_grace_ms,
            containers: BTreeMap::new(),
            users: BTreeMap::new(),
            cleanups: Deadlines::new(),
            am_exits: Deadlines::new(),
            shutting_down: false,
        }
    }

    /// The apps whose directories are here.
    pub fn apps(&self) -> Vec<ApplicationId> {
        self.users.keys().copied().collect()
    }

    /// A new container of `user`'s app, in `phase`; refused when `id` is here already.
    fn add(
        &mut self,
        id: ContainerId,
        user: String,
        resource: Resource,
        phase: Phase,
    ) -> Result<(), Refusal> {
        if self.containers.contains_key(&id) {
            return Err(Refusal::AlreadyStarted { container_id: id });
        }
        let kill = None;
        self.containers.insert(
            id,
            Container {
                resource,
                phase,
                kill,
            },
        );
        self.users.insert(id.app(), user);
        Ok(())
    }

    /// Feeds one event at monotonic time `now` (ms); returns what to do, in order.
    pub fn handle(&mut self, event: Event, now: u64) -> Result<Vec<Action>, Refusal> {
        let mut out = Vec::new();
        match event {
            Event::LaunchRequested { id, user, resource } => {
                if self.shutting_down {
                    return Err(Refusal::ShuttingDown);
                }
                self.add(id, user, resource, Phase::Localizing)?;
                out.push(Action::Localize { id });
            }
            Event::Recovered {
                id,
                user,
                resource,
                pid,
                exit,
            } => {
                self.add(id, user, resource, Phase::Localized)?;
                match pid {
                    Some(pid) => self.set_phase(id, Phase::Running { pid }),
                    None => self.finish(id, exit, now, &mut out),
                }
            }
            Event::AppDirFound { app, user } => {
                self.users.entry(app).or_insert(user);
            }
            Event::Localized { id } => match self.phase(id) {
                Some(Phase::Localizing) => {
                    self.set_phase(id, Phase::Localized);
                    out.push(Action::Spawn { id });
                }
                // Killed while localizing: it never runs.
                Some(Phase::Killing { pid: None, .. }) => self.finish(
                    id,
                    Exit::new(exit_status::INVALID, String::new()),
                    now,
                    &mut out,
                ),
                _ => {}
            },
            Event::LocalizationFailed { id, diagnostics }
            | Event::SpawnFailed { id, diagnostics } => {
                if let Some(
                    Phase::Localizing | Phase::Localized | Phase::Killing { pid: None, .. },
                ) = self.phase(id)
                {
                    self.finish(
                        id,
                        Exit::new(exit_status::INVALID, diagnostics),
                        now,
                        &mut out,
                    );
                }
            }
            Event::Spawned { id, pid } => match self.phase(id) {
                Some(Phase::Localized) => self.set_phase(id, Phase::Running { pid }),
                // Killed while it was being spawned: no grace, it has not started working.
                Some(Phase::Killing { pid: None, .. }) => {
                    self.set_phase(
                        id,
                        Phase::Killing {
                            pid: Some(pid),
                            sigkill_at: None,
                        },
                    );
                    out.push(Action::Signal {
                        id,
                        pid,
                        signal: Signal::Kill,
                    });
                }
                _ => {}
            },
            Event::Exited {
                id,
                status,
                diagnostics,
            } => {
                if let Some(Phase::Running { pid } | Phase::Killing { pid: Some(pid), .. }) =
                    self.phase(id)
                {
                    // Whatever the leader left behind in its group goes with it.
                    out.push(Action::Signal {
                        id,
                        pid: *pid,
                        signal: Signal::Kill,
                    });
                    self.finish(id, Exit::new(status, diagnostics), now, &mut out);
                }
            }
            Event::Kill {
                id,
                status,
                diagnostics,
            } => {
                if !self.containers.contains_key(&id) {
                    return Err(Refusal::UnknownContainer { container_id: id });
                }
                self.kill(id, Exit::new(status, diagnostics), now, &mut out);
            }
            Event::MemorySampled { samples } => {
                for s in samples {
                    let Some(c) = self.containers.get(&s.id) else {
                        continue;
                    };
                    let limit = c.resource.memory_mb << 20;
                    if c.phase == (Phase::Running { pid: s.pid }) && s.rss_bytes > limit {
                        out.push(Action::OverMemory {
                            id: s.id,
                            pid: s.pid,
                            used_bytes: s.rss_bytes,
                            limit_bytes: limit,
                        });
                        let diagnostics = over_memory_diagnostics(s.id, s.pid, s.rss_bytes, limit);
                        self.kill(
                            s.id,
                            Exit::new(exit_status::KILLED_EXCEEDED_PMEM, diagnostics),
                            now,
                            &mut out,
                        );
                    }
                }
            }
            Event::OomKilled { id, peak_bytes } => {
                if let Some(c) = self.containers.get(&id) {
                    if let Phase::Running { pid } = c.phase {
                        let limit = c.resource.memory_mb << 20;
                        out.push(Action::OverMemory {
                            id,
                            pid,
                            used_bytes: peak_bytes,
                            limit_bytes: limit,
                        });
                        let diagnostics = over_memory_diagnostics(id, pid, peak_bytes, limit);
                        self.kill(
                            id,
                            Exit::new(exit_status::KILLED_EXCEEDED_PMEM, diagnostics),
                            now,
                            &mut out,
                        );
                    }
                }
            }
            Event::Acknowledged { completed } => {
                for id in completed {
                    if let Some(c) = self.containers.get_mut(&id) {
                        if let (false, Some(exit)) = (c.phase.is_live(), c.phase.exit()) {
                            c.phase = Phase::Done(exit);
                        }
                    }
                }
            }
            Event::AppFinished { app } => {
                let ids: Vec<ContainerId> = self.ids_of(app).collect();
                for id in ids {
                    let running = self
                        .containers
                        .get(&id)
                        .is_some_and(|c| matches!(c.phase, Phase::Running { .. }));
                    if id.n == AM_CONTAINER_N && running {
                        self.am_exits.set_once(id, now + self.kill_grace_ms);
                        continue;
                    }
                    self.kill(id, app_completion(), now, &mut out);
                }
                let bound = now + self.kill_grace_ms * CLEANUP_GRACE_PERIODS + CLEANUP_MARGIN_MS;
                self.cleanups.set_once(app, bound);
                self.try_cleanup(app, now, &mut out);
            }
            Event::Shutdown => {
                self.shutting_down = true;
                let ids: Vec<ContainerId> = self.containers.keys().copied().collect();
                for id in ids {
                    self.kill(
                        id,
                        Exit::new(exit_status::KILLED_BY_RESOURCEMANAGER, KILLED_ON_SHUTDOWN),
                        now,
                        &mut out,
                    );
                }
            }
            Event::Tick => {
                for id in self.am_exits.due(now) {
                    self.am_exits.remove(&id);
                    self.kill(id, app_completion(), now, &mut out);
                }
                for (id, c) in &mut self.containers {
                    if let Phase::Killing {
                        pid: Some(pid),
                        sigkill_at,
                    } = &mut c.phase
                    {
                        if sigkill_at.is_some_and(|t| t <= now) {
                            *sigkill_at = None;
                            out.push(Action::Signal {
                                id: *id,
                                pid: *pid,
                                signal: Signal::Kill,
                            });
                        }
                    }
                }
                for app in self.cleanups.due(now) {
                    self.try_cleanup(app, now, &mut out);
                }
            }
        }
        Ok(out)
    }

    /// When [`Event::Tick`] is next due (monotonic ms), if anything waits for time.
    pub fn next_wakeup(&self) -> Option<u64> {
        let kills = self.containers.values().filter_map(|c| match c.phase {
            Phase::Killing { sigkill_at, .. } => sigkill_at,
            _ => None,
        });
        kills
            .chain(self.cleanups.earliest())
            .chain(self.am_exits.earliest())
            .min()
    }

    /// A container's phase, if it is known here.
    pub fn phase(&self, id: ContainerId) -> Option<&Phase> {
        self.containers.get(&id).map(|c| &c.phase)
    }

    /// Whether the RM has acknowledged `id`'s final status (or it is gone from here).
    pub fn acknowledged(&self, id: ContainerId) -> bool {
        matches!(self.phase(id), Some(Phase::Done(_)) | None)
    }

    /// Its public status, if it is known here.
    pub fn status(&self, id: ContainerId) -> Option<ContainerStatus> {
        self.containers.get(&id).map(|c| status_of(id, c))
    }

    /// What a heartbeat reports: every live container and every final status
    /// the RM has not acknowledged.
    pub fn unacknowledged(&self) -> Vec<ContainerStatus> {
        self.containers
            .iter()
            .filter(|(_, c)| !matches!(c.phase, Phase::Done(_)))
            .map(|(id, c)| status_of(*id, c))
            .collect()
    }

    /// Containers that have not ended yet.
    pub fn live(&self) -> usize {
        self.containers
            .values()
            .filter(|c| c.phase.is_live())
            .count()
    }

    /// What the containers that have not ended hold (the node's allocated resources).
    pub fn allocated(&self) -> Resource {
        self.containers.values().filter(|c| c.phase.is_live()).fold(
            Resource::new(0, 0),
            |sum, c| {
                Resource::new(
                    sum.memory_mb + c.resource.memory_mb,
                    sum.vcores + c.resource.vcores,
                )
            },
        )
    }

    pub fn counts(&self) -> PhaseCounts {
        let mut n = PhaseCounts::default();
        for c in self.containers.values() {
            match c.phase {
                Phase::Localizing | Phase::Localized | Phase::Killing { pid: None, .. } => {
                    n.localizing += 1
                }
                Phase::Running { .. } | Phase::Killing { pid: Some(_), .. } => n.running += 1,
                _ => n.done += 1,
            }
        }
        n
    }

    /// Running containers not being stopped, with their memory limits.
    pub fn monitored(&self) -> Vec<Monitored> {
        self.containers
            .iter()
            .filter_map(|(id, c)| match c.phase {
                Phase::Running { pid } => Some(Monitored {
                    id: *id,
                    pid,
                    limit_bytes: c.resource.memory_mb << 20,
                }),
                _ => None,
            })
            .collect()
    }

    /// True once [`Event::Shutdown`] was handled.
    pub fn shutting_down(&self) -> bool {
        self.shutting_down
    }

    fn ids_of(&self, app: ApplicationId) -> impl Iterator<Item = ContainerId> + '_ {
        self.containers
            .keys()
            .filter(move |c| c.app() == app)
            .copied()
    }

    fn set_phase(&mut self, id: ContainerId, phase: Phase) {
        if let Some(c) = self.containers.get_mut(&id) {
            c.phase = phase;
        }
    }

    fn kill(&mut self, id: ContainerId, exit: Exit, now: u64, out: &mut Vec<Action>) {
        let grace = self.kill_grace_ms;
        let Some(c) = self.containers.get_mut(&id) else {
            return;
        };
        match c.phase {
            // Ended already, or being stopped: the first kill's status stands.
            Phase::ExitedWithSuccess
            | Phase::ExitedWithFailure(_)
            | Phase::Done(_)
            | Phase::Killing { .. } => return,
            Phase::Localizing | Phase::Localized => {
                c.phase = Phase::Killing {
                    pid: None,
                    sigkill_at: None,
                }
            }
            Phase::Running { pid } => {
                c.phase = Phase::Killing {
                    pid: Some(pid),
                    sigkill_at: Some(now + grace),
                };
                out.push(Action::Signal {
                    id,
                    pid,
                    signal: Signal::Term,
                });
            }
        }
        c.kill = Some(exit);
    }

    /// It ended with the kill's status if it was killed, else with its own.
    fn finish(&mut self, id: ContainerId, exit: Exit, now: u64, out: &mut Vec<Action>) {
        let Some(c) = self.containers.get_mut(&id) else {
            return;
        };
        self.am_exits.remove(&id);
        let exit = c.kill.take().unwrap_or(exit);
        let status = exit.status;
        c.phase = if status == exit_status::SUCCESS {
            Phase::ExitedWithSuccess
        } else {
            Phase::ExitedWithFailure(exit)
        };
        out.push(Action::Completed { id, status });
        out.push(Action::Heartbeat);
        if self.cleanups.get(&id.app()).is_some() {
            self.try_cleanup(id.app(), now, out);
        }
    }

    /// Cleans up a finished app once its containers are gone, or at its bound.
    fn try_cleanup(&mut self, app: ApplicationId, now: u64, out: &mut Vec<Action>) {
        let Some(bound) = self.cleanups.get(&app) else {
            return;
        };
        let live = self
            .containers
            .iter()
            .filter(|(id, c)| id.app() == app && c.phase.is_live())
            .count();
        if live > 0 && now < bound {
            return;
        }
        self.cleanups.remove(&app);
        if let Some(user) = self.users.remove(&app) {
            out.push(Action::RemoveAppDir { app, user });
        }
        // Acknowledged containers are forgotten; the others wait for the next heartbeat.
        self.containers
            .retain(|id, c| id.app() != app || !matches!(c.phase, Phase::Done(_)));
        out.push(Action::AppCleanedUp { app, live });
    }
}

fn status_of(id: ContainerId, c: &Container) -> ContainerStatus {
    let (state, exit) = match &c.phase {
        Phase::Localizing | Phase::Localized | Phase::Killing { pid: None, .. } => {
            (ContainerState::NEW, None)
        }
        Phase::Running { .. } | Phase::Killing { pid: Some(_), .. } => {
            (ContainerState::RUNNING, None)
        }
        p => (ContainerState::COMPLETE, p.exit()),
    };
    let (exit_status, diagnostics) = match exit {
        Some(e) => (e.status, e.diagnostics),
        None => (exit_status::INVALID, String::new()),
    };
    ContainerStatus {
        container_id: id,
        state,
        exit_status,
        diagnostics,
        resource: c.resource,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::AppAttemptId;

    const GRACE: u64 = 250;

    fn app(seq: u32) -> ApplicationId {
        ApplicationId {
            cluster_ts: 1_700_000_000_000,
            seq,
        }
    }

    fn cid(app_seq: u32, n: u64) -> ContainerId {
        ContainerId {
            attempt: AppAttemptId {
                app: app(app_seq),
                attempt: 1,
            },
            n,
        }
    }

    fn mb(memory_mb: u64) -> Resource {
        Resource {
            memory_mb,
            vcores: 1,
        }
    }

    /// A request to launch `id` for `user` with `memory_mb` MB.
    fn launch(id: ContainerId, user: &str, memory_mb: u64) -> Event {
        Event::LaunchRequested {
            id,
            user: user.into(),
            resource: mb(memory_mb),
        }
    }

    fn ok(core: &mut Lifecycle, event: Event, now: u64) -> Vec<Action> {
        core.handle(event, now).expect("accepted")
    }

    /// Launches `id` with 64 MB and runs it as process group `pid` at `now`.
    fn running(core: &mut Lifecycle, id: ContainerId, pid: i32, now: u64) {
        assert_eq!(
            ok(core, launch(id, "alice", 64), now),
            vec![Action::Localize { id }]
        );
        assert_eq!(
            ok(core, Event::Localized { id }, now),
            vec![Action::Spawn { id }]
        );
        assert_eq!(ok(core, Event::Spawned { id, pid }, now), vec![]);
        assert_eq!(core.phase(id), Some(&Phase::Running { pid }));
    }

    /// A core with each of `containers` (id, pid) running since 0.
    fn core_running(containers: &[(ContainerId, i32)]) -> Lifecycle {
        let mut core = Lifecycle::new(GRACE);
        for &(id, pid) in containers {
            running(&mut core, id, pid, 0);
        }
        core
    }

    fn kill(id: ContainerId, status: i32, diagnostics: &str) -> Event {
        Event::Kill {
            id,
            status,
            diagnostics: diagnostics.into(),
        }
    }

    fn exited(id: ContainerId, status: i32) -> Event {
        Event::Exited {
            id,
            status,
            diagnostics: String::new(),
        }
    }

    fn signal(id: ContainerId, pid: i32, signal: Signal) -> Action {
        Action::Signal { id, pid, signal }
    }

    fn completed(id: ContainerId, status: i32) -> Vec<Action> {
        vec![Action::Completed { id, status }, Action::Heartbeat]
    }

    fn reported(core: &Lifecycle, id: ContainerId) -> (ContainerState, i32, String) {
        let s = core.status(id).expect("known");
        (s.state, s.exit_status, s.diagnostics)
    }

    /// What `id` (process group 100, 64 MB allowed) using `used_bytes` leads to: it is
    /// reported over its limit and stopped.
    fn over_memory(id: ContainerId, used_bytes: u64) -> Vec<Action> {
        vec![
            Action::OverMemory {
                id,
                pid: 100,
                used_bytes,
                limit_bytes: 64 << 20,
            },
            signal(id, 100, Signal::Term),
        ]
    }

    /// Asserts `id` (process group 100) completed with -104 and YARN's diagnostics
    /// for `used_mb` of its 64 MB.
    fn assert_killed_over_memory(core: &Lifecycle, id: ContainerId, used_mb: u64) {
        let (state, status, diagnostics) = reported(core, id);
        assert_eq!((state, status), (ContainerState::COMPLETE, -104));
        assert_eq!(
            diagnostics,
            format!(
                "Container [pid=100,containerID={id}] is running beyond physical memory limits. \
                 Current usage: {used_mb} MB of 64 MB physical memory used. Killing container."
            )
        );
    }

    #[test]
    fn kill_sends_sigterm_then_sigkill_exactly_at_kill_plus_grace() {
        let c = cid(1, 1);
        let mut core = core_running(&[(c, 100)]);
        assert_eq!(core.next_wakeup(), None);
        let out = ok(
            &mut core,
            kill(c, exit_status::KILLED_BY_APPMASTER, KILLED_BY_APPMASTER),
            1_000,
        );
        assert_eq!(out, vec![signal(c, 100, Signal::Term)]);
        assert_eq!(core.next_wakeup(), Some(1_000 + GRACE));
        // Still reported RUNNING while it is being stopped.
        assert_eq!(reported(&core, c).0, ContainerState::RUNNING);
        // Not a millisecond early.
        assert_eq!(ok(&mut core, Event::Tick, 1_000 + GRACE - 1), vec![]);
        assert_eq!(
            ok(&mut core, Event::Tick, 1_000 + GRACE),
            vec![signal(c, 100, Signal::Kill)]
        );
        // Once only.
        assert_eq!(core.next_wakeup(), None);
        assert_eq!(ok(&mut core, Event::Tick, 5_000), vec![]);
        // A second kill changes nothing: the first one's status stands, no new signals.
        assert_eq!(ok(&mut core, kill(c, -106, "later"), 1_300), vec![]);
        let mut out = ok(&mut core, exited(c, 137), 1_310);
        assert_eq!(
            out.remove(0),
            signal(c, 100, Signal::Kill),
            "leftovers of the group"
        );
        assert_eq!(out, completed(c, exit_status::KILLED_BY_APPMASTER));
        assert_eq!(
            reported(&core, c),
            (
                ContainerState::COMPLETE,
                exit_status::KILLED_BY_APPMASTER,
                KILLED_BY_APPMASTER.to_string()
            )
        );
    }

    #[test]
    fn no_escalation_when_it_exits_within_the_grace() {
        let c = cid(1, 1);
        let mut core = core_running(&[(c, 100)]);
        ok(&mut core, kill(c, -105, KILLED_BY_APPMASTER), 1_000);
        let out = ok(&mut core, exited(c, 143), 1_100);
        // The group's leftovers go with the leader at its exit; no timer stays.
        assert_eq!(out[0], signal(c, 100, Signal::Kill));
        assert_eq!(core.next_wakeup(), None);
        assert_eq!(ok(&mut core, Event::Tick, 1_000 + GRACE), vec![]);
        assert_eq!(core.live(), 0);
    }

    #[test]
    fn a_process_that_ends_by_itself_reports_its_own_status() {
        let (a, b) = (cid(1, 1), cid(1, 2));
        let mut core = core_running(&[(a, 100), (b, 200)]);
        let out = ok(&mut core, exited(a, 0), 10);
        assert_eq!(out[1..], completed(a, 0));
        assert_eq!(core.phase(a), Some(&Phase::ExitedWithSuccess));
        let (status, diagnostics) = process_exit(None, Some(9));
        assert_eq!((status, diagnostics.as_str()), (137, "killed by signal 9"));
        ok(
            &mut core,
            Event::Exited {
                id: b,
                status,
                diagnostics,
            },
            20,
        );
        assert_eq!(
            reported(&core, b),
            (ContainerState::COMPLETE, 137, "killed by signal 9".into())
        );
        assert_eq!(process_exit(Some(3), None), (3, String::new()));
        assert_eq!(process_exit(None, None).0, exit_status::INVALID);
    }

    /// After an NM restart: a container still running is watched and killed as any
    /// other; one that ended while the NM was away is reported (and heartbeated) at once;
    /// one id cannot be recovered twice.
    #[test]
    fn recovered_containers_run_on_or_report_how_they_ended() {
        let (a, b) = (cid(1, 1), cid(1, 2));
        let mut core = Lifecycle::new(GRACE);
        let recovered = |id, pid, exit: Exit| Event::Recovered {
            id,
            user: "alice".into(),
            resource: Resource::new(64, 1),
            pid,
            exit,
        };
        let unknown = Exit::new(exit_status::INVALID, "");
        assert_eq!(
            ok(&mut core, recovered(a, Some(100), unknown.clone()), 0),
            vec![]
        );
        assert_eq!(reported(&core, a).0, ContainerState::RUNNING);
        let gone = Exit::new(3, "while the node manager was away");
        assert_eq!(ok(&mut core, recovered(b, None, gone), 0), completed(b, 3));
        assert_eq!(
            reported(&core, b),
            (
                ContainerState::COMPLETE,
                3,
                "while the node manager was away".into()
            )
        );
        assert_eq!(
            core.handle(recovered(a, Some(100), unknown), 0),
            Err(Refusal::AlreadyStarted { container_id: a })
        );
        // Its record goes once the RM has its status.
        assert!(!core.acknowledged(b));
        ok(&mut core, Event::Acknowledged { completed: vec![b] }, 1);
        assert!(core.acknowledged(b));
        assert_eq!(
            ok(&mut core, kill(a, -105, KILLED_BY_APPMASTER), 10),
            vec![signal(a, 100, Signal::Term)]
        );
    }

    /// An app directory a previous run left goes when the RM says its app ended.
    #[test]
    fn a_found_app_directory_is_removed_when_its_app_ends() {
        let app = cid(5, 1).app();
        let mut core = Lifecycle::new(GRACE);
        ok(
            &mut core,
            Event::AppDirFound {
                app,
                user: "alice".into(),
            },
            0,
        );
        assert_eq!(core.apps(), vec![app]);
        let out = ok(&mut core, Event::AppFinished { app }, 10);
        assert_eq!(
            out,
            vec![
                Action::RemoveAppDir {
                    app,
                    user: "alice".into()
                },
                Action::AppCleanedUp { app, live: 0 }
            ]
        );
        assert!(core.apps().is_empty());
    }

    #[test]
    fn a_finished_apps_am_may_exit_on_its_own_before_it_is_stopped() {
        let (am, ex) = (cid(1, 1), cid(1, 2));
        let mut core = core_running(&[(am, 100), (ex, 200)]);
        // The executor is stopped at once; the AM, which unregistered and is exiting,
        // is left a grace period.
        let out = ok(&mut core, Event::AppFinished { app: app(1) }, 1_000);
        assert_eq!(out, vec![signal(ex, 200, Signal::Term)]);
        assert_eq!(core.next_wakeup(), Some(1_000 + GRACE));
        let out = ok(&mut core, exited(am, 0), 1_100);
        assert!(out.contains(&completed(am, 0)[0]), "{out:?}");
        assert_eq!(reported(&core, am).1, 0, "its own success");
        // One that does not exit in time is stopped, with the app-completion status.
        let mut core = core_running(&[(am, 100)]);
        ok(&mut core, Event::AppFinished { app: app(1) }, 1_000);
        assert_eq!(ok(&mut core, Event::Tick, 1_000 + GRACE - 1), vec![]);
        assert_eq!(
            ok(&mut core, Event::Tick, 1_000 + GRACE),
            vec![signal(am, 100, Signal::Term)]
        );
        let out = ok(&mut core, exited(am, 143), 1_000 + GRACE + 5);
        assert!(out.contains(&completed(am, -107)[0]), "{out:?}");
    }

    #[test]
    fn app_directory_is_removed_only_once_its_containers_are_gone() {
        // Not AM containers (number 1): those are given time to exit first.
        let (a1, a2, b1) = (cid(1, 3), cid(1, 2), cid(2, 3));
        let mut core = core_running(&[(a1, 100), (a2, 200), (b1, 300)]);
        ok(&mut core, exited(a2, 0), 500);
        let out = ok(&mut core, Event::AppFinished { app: app(1) }, 2_000);
        assert_eq!(out, vec![signal(a1, 100, Signal::Term)]);
        assert_eq!(
            reported(&core, a1).0,
            ContainerState::RUNNING,
            "killed, not yet gone"
        );
        // Nothing is removed while a1 lives, SIGKILL included.
        assert_eq!(
            ok(&mut core, Event::Tick, 2_000 + GRACE),
            vec![signal(a1, 100, Signal::Kill)]
        );
        let out = ok(&mut core, exited(a1, 137), 2_300);
        assert_eq!(
            out,
            vec![
                signal(a1, 100, Signal::Kill),
                Action::Completed {
                    id: a1,
                    status: exit_status::KILLED_AFTER_APP_COMPLETION
                },
                Action::Heartbeat,
                Action::RemoveAppDir {
                    app: app(1),
                    user: "alice".into()
                },
                Action::AppCleanedUp {
                    app: app(1),
                    live: 0
                },
            ]
        );
        assert_eq!(
            reported(&core, a1).2,
            KILLED_ON_APP_COMPLETION,
            "reported with YARN's text"
        );
        // The other app is untouched; no timer is left for app 1.
        assert_eq!(core.phase(b1), Some(&Phase::Running { pid: 300 }));
        assert_eq!(core.next_wakeup(), None);
        assert_eq!(ok(&mut core, Event::Tick, 10_000), vec![]);
    }

    #[test]
    fn app_directory_is_removed_at_the_bound_if_a_container_will_not_die() {
        let a1 = cid(1, 2);
        let mut core = core_running(&[(a1, 100)]);
        ok(&mut core, Event::AppFinished { app: app(1) }, 2_000);
        let bound = 2_000 + CLEANUP_GRACE_PERIODS * GRACE + CLEANUP_MARGIN_MS;
        assert_eq!(core.next_wakeup(), Some(2_000 + GRACE));
        ok(&mut core, Event::Tick, 2_000 + GRACE);
        assert_eq!(core.next_wakeup(), Some(bound));
        assert_eq!(ok(&mut core, Event::Tick, bound - 1), vec![]);
        assert_eq!(
            ok(&mut core, Event::Tick, bound),
            vec![
                Action::RemoveAppDir {
                    app: app(1),
                    user: "alice".into()
                },
                Action::AppCleanedUp {
                    app: app(1),
                    live: 1
                },
            ]
        );
        assert_eq!(core.next_wakeup(), None);
        // It is still reported, and its kill's status when it finally goes.
        let out = ok(&mut core, exited(a1, 137), bound + 10);
        assert_eq!(out[1..], completed(a1, -107));
    }

    #[test]
    fn an_app_without_containers_here_is_cleaned_up_at_once() {
        let mut core = Lifecycle::new(GRACE);
        assert_eq!(
            ok(&mut core, Event::AppFinished { app: app(7) }, 0),
            vec![Action::AppCleanedUp {
                app: app(7),
                live: 0
            }]
        );
        assert_eq!(core.next_wakeup(), None);
    }

    #[test]
    fn acknowledged_statuses_leave_the_heartbeat_and_go_with_their_app() {
        let (a1, a2, a3) = (cid(1, 1), cid(1, 2), cid(1, 3));
        let mut core = core_running(&[(a1, 100), (a2, 200), (a3, 300)]);
        ok(&mut core, exited(a1, 0), 10);
        ok(&mut core, exited(a2, 1), 10);
        assert_eq!(core.unacknowledged().len(), 3);
        // Only completions are acknowledged; a1's was seen, a2's not yet.
        ok(
            &mut core,
            Event::Acknowledged {
                completed: vec![a1, a3],
            },
            20,
        );
        let left: Vec<_> = core
            .unacknowledged()
            .into_iter()
            .map(|s| s.container_id)
            .collect();
        assert_eq!(left, vec![a2, a3]);
        assert_eq!(
            core.phase(a1),
            Some(&Phase::Done(Exit {
                status: 0,
                diagnostics: String::new()
            }))
        );
        ok(&mut core, exited(a3, 0), 30);
        let out = ok(&mut core, Event::AppFinished { app: app(1) }, 40);
        assert!(
            out.contains(&Action::AppCleanedUp {
                app: app(1),
                live: 0
            }),
            "{out:?}"
        );
        // The acknowledged one is forgotten; the others wait for the next heartbeat.
        assert_eq!(core.status(a1), None);
        assert_eq!(
            reported(&core, a2),
            (ContainerState::COMPLETE, 1, String::new())
        );
        assert_eq!(core.unacknowledged().len(), 2);
    }

    #[test]
    fn over_memory_is_killed_with_104_and_yarns_diagnostics() {
        let c = cid(1, 1);
        let mut core = core_running(&[(c, 100)]);
        let limit = 64 << 20;
        assert_eq!(
            core.monitored(),
            vec![Monitored {
                id: c,
                pid: 100,
                limit_bytes: limit
            }]
        );
        let sample = |pid, rss_bytes| Event::MemorySampled {
            samples: vec![MemorySample {
                id: c,
                pid,
                rss_bytes,
            }],
        };
        // At the limit is fine; a sample of another process group is stale.
        assert_eq!(ok(&mut core, sample(100, limit), 250), vec![]);
        assert_eq!(ok(&mut core, sample(999, 10 * limit), 250), vec![]);
        let used = 70 << 20;
        assert_eq!(ok(&mut core, sample(100, used), 500), over_memory(c, used));
        // Not measured (nor killed) again while it is being stopped.
        assert!(core.monitored().is_empty());
        assert_eq!(ok(&mut core, sample(100, used), 750), vec![]);
        ok(&mut core, exited(c, 143), 760);
        assert_killed_over_memory(&core, c, 70);
    }

    #[test]
    fn an_oom_kill_in_its_cgroup_completes_it_with_104_and_used_vs_allowed() {
        let (c, d) = (cid(1, 1), cid(1, 2));
        let mut core = core_running(&[(c, 100), (d, 200)]);
        let limit = 64 << 20;
        let oom = |id| Event::OomKilled {
            id,
            peak_bytes: limit,
        };
        // A setsid child was killed, the leader lives on: the container is stopped.
        assert_eq!(ok(&mut core, oom(c), 300), over_memory(c, limit));
        // Counted once: a later reading of the same kill changes nothing.
        assert_eq!(ok(&mut core, oom(c), 400), vec![]);
        ok(&mut core, exited(c, 143), 410);
        assert_killed_over_memory(&core, c, 64);
        // A container already being stopped keeps its first kill's status.
        ok(&mut core, kill(d, -105, KILLED_BY_APPMASTER), 500);
        assert_eq!(ok(&mut core, oom(d), 510), vec![]);
        ok(&mut core, exited(d, 137), 520);
        assert_eq!(reported(&core, d).1, -105);
        // Unknown or ended containers: nothing.
        assert_eq!(ok(&mut core, oom(cid(9, 9)), 600), vec![]);
        assert_eq!(ok(&mut core, oom(c), 600), vec![]);
    }

    #[test]
    fn a_container_killed_while_localizing_never_runs() {
        let mut core = Lifecycle::new(GRACE);
        let c = cid(1, 1);
        ok(&mut core, launch(c, "alice", 64), 0);
        // No process yet: nothing to signal, no timer.
        assert_eq!(ok(&mut core, kill(c, -105, KILLED_BY_APPMASTER), 5), vec![]);
        assert_eq!(core.next_wakeup(), None);
        assert_eq!(reported(&core, c).0, ContainerState::NEW);
        assert_eq!(core.counts().localizing, 1);
        // Localization ends: no Spawn, it is complete with the kill's status.
        assert_eq!(
            ok(&mut core, Event::Localized { id: c }, 9),
            completed(c, -105)
        );
        assert_eq!(
            reported(&core, c),
            (ContainerState::COMPLETE, -105, KILLED_BY_APPMASTER.into())
        );
    }

    #[test]
    fn a_container_killed_while_its_localization_fails_reports_the_kill() {
        let mut core = Lifecycle::new(GRACE);
        let (c, d) = (cid(1, 1), cid(1, 2));
        for id in [c, d] {
            ok(&mut core, launch(id, "alice", 64), 0);
        }
        let failed = |id| Event::LocalizationFailed {
            id,
            diagnostics: "localizing ab12: no such file".into(),
        };
        assert_eq!(
            ok(&mut core, failed(c), 3),
            completed(c, exit_status::INVALID)
        );
        assert_eq!(
            reported(&core, c).2,
            "localizing ab12: no such file",
            "the failure is the diagnostics"
        );
        ok(&mut core, kill(d, -106, KILLED_BY_RESOURCEMANAGER), 4);
        ok(&mut core, failed(d), 5);
        assert_eq!(reported(&core, d).1, -106);
    }

    #[test]
    fn a_container_killed_while_being_spawned_gets_sigkill_at_once() {
        let mut core = Lifecycle::new(GRACE);
        let c = cid(1, 1);
        ok(&mut core, launch(c, "alice", 64), 0);
        ok(&mut core, Event::Localized { id: c }, 1);
        assert_eq!(ok(&mut core, kill(c, -105, KILLED_BY_APPMASTER), 2), vec![]);
        assert_eq!(
            ok(&mut core, Event::Spawned { id: c, pid: 100 }, 3),
            vec![signal(c, 100, Signal::Kill)]
        );
        assert_eq!(core.next_wakeup(), None);
        ok(&mut core, exited(c, 137), 4);
        assert_eq!(reported(&core, c).1, -105);
    }

    #[test]
    fn a_second_start_of_the_same_container_is_refused() {
        let c = cid(1, 1);
        let mut core = core_running(&[(c, 100)]);
        let again = launch(c, "mallory", 1);
        let e = core.handle(again, 5).unwrap_err();
        assert_eq!(e, Refusal::AlreadyStarted { container_id: c });
        assert_eq!(e.to_string(), format!("{c} was already started here"));
        assert_eq!(core.phase(c), Some(&Phase::Running { pid: 100 }));
        // Even once it ended.
        ok(&mut core, exited(c, 0), 6);
        let again = launch(c, "alice", 64);
        assert!(core.handle(again, 7).is_err());
    }

    #[test]
    fn kill_of_an_unknown_container_is_refused_and_of_an_ended_one_is_a_no_op() {
        let mut core = Lifecycle::new(GRACE);
        let c = cid(1, 1);
        assert_eq!(
            core.handle(kill(c, -105, ""), 0),
            Err(Refusal::UnknownContainer { container_id: c })
        );
        running(&mut core, c, 100, 0);
        ok(&mut core, exited(c, 0), 1);
        assert_eq!(ok(&mut core, kill(c, -105, ""), 2), vec![]);
        assert_eq!(reported(&core, c).1, 0);
    }

    #[test]
    fn shutdown_stops_every_container_and_refuses_new_ones() {
        let (a, b, l, e) = (cid(1, 1), cid(2, 1), cid(2, 2), cid(3, 1));
        let mut core = core_running(&[(a, 100), (b, 200), (e, 400)]);
        ok(&mut core, exited(e, 0), 5);
        ok(&mut core, launch(l, "bob", 64), 6);
        assert_eq!(core.live(), 3);
        let out = ok(&mut core, Event::Shutdown, 1_000);
        assert_eq!(
            out,
            vec![signal(a, 100, Signal::Term), signal(b, 200, Signal::Term)]
        );
        assert!(core.shutting_down());
        assert_eq!(
            core.handle(launch(cid(4, 1), "bob", 64), 1_001),
            Err(Refusal::ShuttingDown)
        );
        assert_eq!(
            ok(&mut core, Event::Tick, 1_000 + GRACE),
            vec![signal(a, 100, Signal::Kill), signal(b, 200, Signal::Kill)]
        );
        ok(&mut core, exited(a, 137), 1_260);
        ok(&mut core, exited(b, 137), 1_261);
        ok(&mut core, Event::Localized { id: l }, 1_262);
        assert_eq!(core.live(), 0);
        for id in [a, b, l] {
            assert_eq!(
                reported(&core, id),
                (
                    ContainerState::COMPLETE,
                    exit_status::KILLED_BY_RESOURCEMANAGER,
                    KILLED_ON_SHUTDOWN.into()
                )
            );
        }
        assert_eq!(reported(&core, e).1, 0, "an ended one keeps its status");
    }

    #[test]
    fn validation_names_the_problem() {
        let mut launch = LaunchSpec::default();
        assert_eq!(validate_launch(&launch), Err(BadLaunch::EmptyCommand));
        assert_eq!(BadLaunch::EmptyCommand.to_string(), "empty launch command");
        launch.command = vec!["true".into()];
        assert_eq!(validate_launch(&launch), Ok(()));
        launch
            .local_resources
            .push(common::protocol::LocalResource {
                name: "../x".into(),
                sha256: String::new(),
                size: 0,
                executable: false,
            });
        let e = validate_launch(&launch).unwrap_err();
        assert_eq!(
            e.to_string(),
            "local resource name \"../x\" must be a plain file name"
        );
        launch.local_resources.clear();
        launch
            .secrets
            .insert("../../etc/cron.d/x".into(), "v".into());
        let e = validate_launch(&launch).unwrap_err();
        assert_eq!(
            e.to_string(),
            "credential name \"../../etc/cron.d/x\" must be a plain file name"
        );
    }

    /// A small deterministic generator (xorshift), so the invariant test needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Random event sequences against invariants: SIGKILL from the timer never
    /// before kill + grace and at most once per kill; each container completes once;
    /// a killed container reports its first kill's status; an app's directory
    /// goes only when its containers are gone or at its bound; the core's wake-up
    /// is never in the past; `live` matches the phases. OOM kills from the cgroups
    /// are among the events.
    #[test]
    fn invariants_hold_on_random_event_sequences() {
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut core = Lifecycle::new(rng.below(400));
            let mut now = 0u64;
            let ids: Vec<ContainerId> = (0..6).map(|i| cid(1 + (i % 2) as u32, i)).collect();
            let mut killed_at: BTreeMap<ContainerId, (u64, i32)> = BTreeMap::new();
            let mut escalated: BTreeMap<ContainerId, u64> = BTreeMap::new();
            let mut completions: BTreeMap<ContainerId, usize> = BTreeMap::new();
            let mut app_finished_at: BTreeMap<ApplicationId, u64> = BTreeMap::new();
            let mut next_pid = 100;
            for _ in 0..120 {
                now += rng.below(200);
                // Often land just before or right on the core's wake-up.
                if let Some(at) = core.next_wakeup() {
                    match rng.below(3) {
                        0 => now = now.max(at),
                        1 => now = now.max(at.saturating_sub(1)),
                        _ => {}
                    }
                }
                let id = ids[rng.below(ids.len() as u64) as usize];
                let event = match rng.below(11) {
                    0 | 1 => launch(id, "u", 64),
                    2 => Event::Localized { id },
                    3 => {
                        next_pid += 1;
                        Event::Spawned { id, pid: next_pid }
                    }
                    4 => exited(id, rng.below(3) as i32),
                    5 => kill(id, -100 - rng.below(8) as i32, "k"),
                    6 => Event::MemorySampled {
                        samples: core
                            .monitored()
                            .into_iter()
                            .map(|m| MemorySample {
                                id: m.id,
                                pid: m.pid,
                                rss_bytes: rng.below(2 * m.limit_bytes),
                            })
                            .collect(),
                    },
                    7 => Event::AppFinished { app: id.app() },
                    8 => Event::Acknowledged {
                        completed: vec![id],
                    },
                    9 if rng.below(10) == 0 => Event::Shutdown,
                    10 if rng.below(2) == 0 => Event::OomKilled {
                        id,
                        peak_bytes: 64 << 20,
                    },
                    _ => Event::Tick,
                };
                let is_tick = event == Event::Tick;
                let starts_cleanup = match &event {
                    Event::AppFinished { app } => core.cleanups.get(app).is_none().then_some(*app),
                    _ => None,
                };
                // Which containers a kill may reach, before it is handled.
                let before: BTreeMap<ContainerId, Phase> = ids
                    .iter()
                    .filter_map(|c| core.phase(*c).map(|p| (*c, p.clone())))
                    .collect();
                let Ok(out) = core.handle(event, now) else {
                    continue;
                };
                if let Some(app) = starts_cleanup {
                    app_finished_at.insert(app, now);
                }
                for (c, p) in &before {
                    let killing_now = matches!(core.phase(*c), Some(Phase::Killing { .. }));
                    if killing_now && !matches!(p, Phase::Killing { .. }) {
                        let status = core.containers[c].kill.as_ref().unwrap().status;
                        killed_at.insert(*c, (now, status));
                    }
                }
                for a in &out {
                    match a {
                        Action::Signal {
                            id,
                            signal: Signal::Kill,
                            ..
                        } if is_tick => {
                            let (at, _) = killed_at[id];
                            assert!(now >= at + core.kill_grace_ms, "seed {seed}: early SIGKILL");
                            assert!(escalated.insert(*id, now).is_none(), "seed {seed}: twice");
                        }
                        Action::Completed { id, status } => {
                            *completions.entry(*id).or_default() += 1;
                            assert_eq!(completions[id], 1, "seed {seed}: completed twice");
                            if let Some((_, s)) = killed_at.get(id) {
                                assert_eq!(status, s, "seed {seed}: the first kill's status");
                            }
                        }
                        Action::RemoveAppDir { app, .. } => {
                            let live = ids
                                .iter()
                                .filter(|c| c.app() == *app)
                                .filter(|c| core.phase(**c).is_some_and(Phase::is_live))
                                .count();
                            let bound = app_finished_at[app]
                                + core.kill_grace_ms * CLEANUP_GRACE_PERIODS
                                + CLEANUP_MARGIN_MS;
                            assert!(live == 0 || now >= bound, "seed {seed}: removed too soon");
                        }
                        _ => {}
                    }
                }
                for c in &ids {
                    if !before.contains_key(c) && core.phase(*c).is_some() {
                        // A container launched again after it was forgotten starts afresh.
                        killed_at.remove(c);
                        escalated.remove(c);
                        completions.remove(c);
                    }
                }
                if let (Some(at), true) = (core.next_wakeup(), is_tick) {
                    assert!(at > now, "seed {seed}: a tick left a wake-up due");
                }
                let live = core
                    .containers
                    .values()
                    .filter(|c| c.phase.is_live())
                    .count();
                assert_eq!(core.live(), live);
                let n = core.counts();
                assert_eq!(n.localizing + n.running + n.done, core.containers.len());
            }
        }
    }
}
