//! Containers as OS processes: each one a process group with its own working
//! directory, environment and log files, localized by content hash, watched
//! for memory, and stopped with SIGTERM then SIGKILL.

use crate::metrics::NmEvent;
use common::protocol::{
    exit_status, ContainerState, ContainerStatus, ErrorCode, LaunchSpec, WireError,
};
use common::staging::ContentStore;
use common::transport::Client;
use common::{ApplicationId, ContainerId, Resource};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug)]
enum Phase {
    Localizing,
    Running { pgid: i32 },
    Done { exit: i32, diagnostics: String },
}

#[derive(Debug)]
struct Entry {
    resource: Resource,
    phase: Phase,
    /// Set when we decided to kill it: the status to report instead of the process's own.
    kill: Option<(i32, String)>,
    /// Reported COMPLETE to the RM and acknowledged.
    reported: bool,
}

/// Where things go on this node.
#[derive(Debug, Clone)]
pub struct Layout {
    pub local_dir: PathBuf,
    pub log_dir: PathBuf,
}

impl Layout {
    pub fn app_dir(&self, user: &str, app: ApplicationId) -> PathBuf {
        self.local_dir
            .join("usercache")
            .join(user)
            .join("appcache")
            .join(app.to_string())
    }

    pub fn log_dir(&self, c: ContainerId) -> PathBuf {
        self.log_dir.join(c.app().to_string()).join(c.to_string())
    }
}

/// The environment every container gets besides its own.
#[derive(Debug, Clone)]
pub struct NodeEnv {
    pub node_id: String,
    pub nm_host: String,
    pub nm_port: u16,
    pub ca: PathBuf,
    pub container_cert: PathBuf,
    pub container_key: PathBuf,
    /// `host:port` of this node's shuffle service, if there is one.
    pub shuffle_service: Option<String>,
}

pub struct ContainerManager {
    layout: Layout,
    env: NodeEnv,
    cache: ContentStore,
    rm_files: Arc<Client>,
    kill_grace: Duration,
    entries: Mutex<BTreeMap<ContainerId, Entry>>,
    users: Mutex<HashMap<ApplicationId, String>>,
    fetch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Poked when a container completes, so the NM heartbeats at once.
    pub changed: Arc<Notify>,
}

fn fail(code: ErrorCode, msg: impl Into<String>) -> WireError {
    WireError::new(code, msg)
}

impl ContainerManager {
    pub fn new(
        layout: Layout,
        env: NodeEnv,
        rm_files: Arc<Client>,
        kill_grace: Duration,
    ) -> Result<Self, common::staging::StoreError> {
        let cache = ContentStore::open(layout.local_dir.join("filecache"))?;
        Ok(Self {
            layout,
            env,
            cache,
            rm_files,
            kill_grace,
            entries: Mutex::new(BTreeMap::new()),
            users: Mutex::new(HashMap::new()),
            fetch_locks: Mutex::new(HashMap::new()),
            changed: Arc::new(Notify::new()),
        })
    }

    /// Localizes and starts a container whose token was already verified.
    pub async fn start(
        self: &Arc<Self>,
        id: ContainerId,
        user: &str,
        resource: Resource,
        launch: LaunchSpec,
    ) -> Result<u32, WireError> {
        let requested = std::time::Instant::now();
        if launch.command.is_empty() {
            return Err(fail(ErrorCode::BadRequest, "empty launch command"));
        }
        for r in &launch.local_resources {
            if r.name.is_empty() || r.name.contains('/') || r.name == "." || r.name == ".." {
                return Err(fail(
                    ErrorCode::BadRequest,
                    format!("local resource name {:?} must be a plain file name", r.name),
                ));
            }
        }
        {
            let mut entries = self.entries.lock().expect("entries");
            if entries.contains_key(&id) {
                return Err(fail(
                    ErrorCode::InvalidState,
                    format!("{id} was already started here"),
                ));
            }
            entries.insert(
                id,
                Entry {
                    resource,
                    phase: Phase::Localizing,
                    kill: None,
                    reported: false,
                },
            );
        }
        self.users
            .lock()
            .expect("users")
            .insert(id.app(), user.to_string());
        match self.launch(id, user, resource, &launch).await {
            Ok((pid, child)) => {
                NmEvent::ContainerLaunched {
                    took: requested.elapsed(),
                }
                .emit();
                let me = self.clone();
                tokio::spawn(async move { me.wait(id, child).await });
                Ok(pid)
            }
            Err(e) => {
                tracing::warn!(container_id = %id, error = %e.message, "container failed to start");
                NmEvent::ContainerLaunchFailed.emit();
                self.finish(id, exit_status::INVALID, e.message.clone());
                Err(e)
            }
        }
    }

    async fn launch(
        &self,
        id: ContainerId,
        user: &str,
        resource: Resource,
        launch: &LaunchSpec,
    ) -> Result<(u32, tokio::process::Child), WireError> {
        let work = self.layout.app_dir(user, id.app()).join(id.to_string());
        let logs = self.layout.log_dir(id);
        let io = |what: &str, p: &Path, e: std::io::Error| {
            fail(ErrorCode::Internal, format!("{what} {}: {e}", p.display()))
        };
        std::fs::create_dir_all(&work).map_err(|e| io("creating", &work, e))?;
        std::fs::create_dir_all(&logs).map_err(|e| io("creating", &logs, e))?;
        for r in &launch.local_resources {
            let cached = self.localize(&r.sha256, r.size, r.executable).await?;
            let link = work.join(&r.name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&cached, &link).map_err(|e| io("linking", &link, e))?;
        }
        let argv0 = &launch.command[0];
        let program = if !argv0.contains('/') && work.join(argv0).exists() {
            work.join(argv0)
        } else {
            PathBuf::from(argv0)
        };
        let stdout =
            std::fs::File::create(logs.join("stdout")).map_err(|e| io("creating", &logs, e))?;
        let stderr =
            std::fs::File::create(logs.join("stderr")).map_err(|e| io("creating", &logs, e))?;
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&launch.command[1..])
            .current_dir(&work)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(false);
        for k in [
            "PATH",
            "LANG",
            "LC_ALL",
            "TMPDIR",
            "RUST_BACKTRACE",
            "RUST_LOG",
        ] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        let env = &self.env;
        cmd.env("CONTAINER_ID", id.to_string())
            .env("APPLICATION_ID", id.app().to_string())
            .env("APP_ATTEMPT_ID", id.attempt.to_string())
            .env("NM_HOST", &env.nm_host)
            .env("NM_PORT", env.nm_port.to_string())
            .env("NM_ADDRESS", format!("{}:{}", env.nm_host, env.nm_port))
            .env("NODE_ID", &env.node_id)
            .env("USER", user)
            .env("HOME", &work)
            .env("PWD", &work)
            .env("LOG_DIRS", &logs)
            .env("LOCAL_DIRS", self.layout.app_dir(user, id.app()))
            .env("CONTAINER_MEMORY_MB", resource.memory_mb.to_string())
            .env("CONTAINER_VCORES", resource.vcores.to_string())
            .env("SPINDLE_TLS_CA", &env.ca)
            .env("SPINDLE_TLS_CERT", &env.container_cert)
            .env("SPINDLE_TLS_KEY", &env.container_key);
        if let Some(s) = &env.shuffle_service {
            cmd.env(shuffle_service::ENV_SHUFFLE_SERVICE, s);
        }
        cmd.envs(&launch.env);
        // SAFETY: prctl is async-signal-safe; it runs in the child before exec.
        // A container must not outlive a crashed NM that can no longer account for it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            fail(
                ErrorCode::BadRequest,
                format!("cannot run {}: {e}", program.display()),
            )
        })?;
        let pid = child.id().unwrap_or(0);
        let mut entries = self.entries.lock().expect("entries");
        let entry = entries.get_mut(&id).expect("inserted at start");
        entry.phase = Phase::Running { pgid: pid as i32 };
        let killed_meanwhile = entry.kill.is_some();
        drop(entries);
        if killed_meanwhile {
            signal_group(pid as i32, libc::SIGKILL);
        }
        tracing::info!(container_id = %id, pid, "container running");
        Ok((pid, child))
    }

    async fn localize(
        &self,
        sha256: &str,
        size: u64,
        executable: bool,
    ) -> Result<PathBuf, WireError> {
        let lock = self
            .fetch_locks
            .lock()
            .expect("locks")
            .entry(sha256.to_string())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        let path = self
            .cache
            .path(sha256)
            .map_err(|e| fail(ErrorCode::BadRequest, e.to_string()))?;
        let hit = path.is_file();
        if !hit {
            self.fetch(sha256, size).await?;
        }
        NmEvent::Localized { hit, bytes: size }.emit();
        if executable {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
        }
        Ok(path)
    }

    async fn fetch(&self, sha256: &str, size: u64) -> Result<(), WireError> {
        use common::protocol::{RmRequest, RmResponse};
        use common::transport;
        let conn = self
            .rm_files
            .connection()
            .await
            .map_err(|e| fail(ErrorCode::Internal, format!("localizing {sha256}: {e}")))?;
        let addr = self.rm_files.addr().to_string();
        let (mut send, mut recv) = transport::open(&conn, &addr)
            .await
            .map_err(|e| fail(ErrorCode::Internal, format!("localizing {sha256}: {e}")))?;
        let req = RmRequest::FetchFile {
            sha256: sha256.to_string(),
        };
        transport::write(&mut send, &addr, &req)
            .await
            .map_err(|e| fail(ErrorCode::Internal, e.to_string()))?;
        let _ = send.finish();
        let resp: RmResponse = transport::read_response(&mut recv, &addr)
            .await
            .map_err(|e| fail(ErrorCode::UnknownFile, format!("localizing {sha256}: {e}")))?;
        let RmResponse::FileFollows { size: got } = resp else {
            return Err(fail(ErrorCode::Internal, "unexpected answer to FetchFile"));
        };
        if got != size {
            return Err(fail(
                ErrorCode::DigestMismatch,
                format!(
                    "localizing {sha256}: the RM holds {got} bytes, the launch context says {size}"
                ),
            ));
        }
        self.cache.put(sha256, size, &mut recv).await.map_err(|e| {
            fail(
                ErrorCode::DigestMismatch,
                format!("localization of {sha256} failed verification: {e}"),
            )
        })?;
        Ok(())
    }

    async fn wait(self: Arc<Self>, id: ContainerId, mut child: tokio::process::Child) {
        let status = child.wait().await;
        let pgid = child.id().map(|p| p as i32);
        // Whatever the leader left behind in its group goes with it.
        if let Some(Phase::Running { pgid }) = self
            .entries
            .lock()
            .expect("entries")
            .get(&id)
            .map(|e| &e.phase)
        {
            signal_group(*pgid, libc::SIGKILL);
        }
        let _ = pgid;
        let (exit, diag) = match status {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                match (s.code(), s.signal()) {
                    (Some(c), _) => (c, String::new()),
                    (None, Some(sig)) => (128 + sig, format!("killed by signal {sig}")),
                    _ => (exit_status::INVALID, String::new()),
                }
            }
            Err(e) => (exit_status::INVALID, format!("wait failed: {e}")),
        };
        self.finish(id, exit, diag);
    }

    fn finish(&self, id: ContainerId, exit: i32, diagnostics: String) {
        let mut entries = self.entries.lock().expect("entries");
        if let Some(e) = entries.get_mut(&id) {
            let (exit, diagnostics) = match e.kill.take() {
                Some(k) => k,
                None => (exit, diagnostics),
            };
            tracing::info!(container_id = %id, exit_status = exit, "container completed");
            NmEvent::ContainerCompleted { exit }.emit();
            e.phase = Phase::Done { exit, diagnostics };
        }
        drop(entries);
        self.changed.notify_one();
    }

    /// How many containers are (localizing, running, done) here.
    pub fn phase_counts(&self) -> (usize, usize, usize) {
        let entries = self.entries.lock().expect("entries");
        let mut n = (0, 0, 0);
        for e in entries.values() {
            match e.phase {
                Phase::Localizing => n.0 += 1,
                Phase::Running { .. } => n.1 += 1,
                Phase::Done { .. } => n.2 += 1,
            }
        }
        n
    }

    /// Stops a container, reporting `exit` with `diagnostics` when it is gone.
    pub fn kill(&self, id: ContainerId, exit: i32, diagnostics: String) -> bool {
        let mut entries = self.entries.lock().expect("entries");
        let Some(e) = entries.get_mut(&id) else {
            return false;
        };
        if matches!(e.phase, Phase::Done { .. }) {
            return true;
        }
        if e.kill.is_none() {
            e.kill = Some((exit, diagnostics));
        }
        if let Phase::Running { pgid } = e.phase {
            signal_group(pgid, libc::SIGTERM);
            let grace = self.kill_grace;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                signal_group(pgid, libc::SIGKILL);
            });
        }
        true
    }

    pub fn status(&self, id: ContainerId) -> Option<ContainerStatus> {
        self.entries
            .lock()
            .expect("entries")
            .get(&id)
            .map(|e| status_of(id, e))
    }

    /// Statuses for the heartbeat: every live container and every completion not yet acknowledged.
    pub fn heartbeat_statuses(&self) -> Vec<ContainerStatus> {
        self.entries
            .lock()
            .expect("entries")
            .iter()
            .filter(|(_, e)| !e.reported)
            .map(|(id, e)| status_of(*id, e))
            .collect()
    }

    /// The RM has seen these statuses.
    pub fn acknowledge(&self, sent: &[ContainerStatus]) {
        let mut entries = self.entries.lock().expect("entries");
        for s in sent {
            if s.state == ContainerState::COMPLETE {
                if let Some(e) = entries.get_mut(&s.container_id) {
                    e.reported = true;
                }
            }
        }
    }

    /// Running containers' process groups and memory limits, for the monitor.
    pub fn running(&self) -> Vec<(ContainerId, i32, u64)> {
        self.entries
            .lock()
            .expect("entries")
            .iter()
            .filter_map(|(id, e)| match e.phase {
                Phase::Running { pgid } if e.kill.is_none() => {
                    Some((*id, pgid, e.resource.memory_mb << 20))
                }
                _ => None,
            })
            .collect()
    }

    /// One memory-check round: kills containers over their allocation with -104.
    pub fn check_memory(&self) {
        let running = self.running();
        if running.is_empty() {
            return;
        }
        let groups: Vec<i32> = running.iter().map(|(_, g, _)| *g).collect();
        let rss = crate::monitor::rss_by_group(&groups);
        for (id, pgid, limit) in running {
            let used = rss.get(&pgid).copied().unwrap_or(0);
            if used > limit {
                let diag = format!(
                    "Container [pid={pgid},containerID={id}] is running beyond physical memory limits. \
                     Current usage: {} MB of {} MB physical memory used. Killing container.",
                    used >> 20,
                    limit >> 20
                );
                tracing::warn!(container_id = %id, used_mb = used >> 20, limit_mb = limit >> 20, "memory limit exceeded");
                self.kill(id, exit_status::KILLED_EXCEEDED_PMEM, diag);
            }
        }
    }

    /// The app ended: stop its containers, then remove its directories (logs stay).
    pub async fn cleanup_app(self: &Arc<Self>, app: ApplicationId) {
        let ids: Vec<ContainerId> = self
            .entries
            .lock()
            .expect("entries")
            .keys()
            .filter(|c| c.app() == app)
            .copied()
            .collect();
        for id in &ids {
            self.kill(
                *id,
                exit_status::KILLED_AFTER_APP_COMPLETION,
                "Container killed on application completion".into(),
            );
        }
        // Give them the grace period and a little more to exit before removing their files.
        let deadline =
            tokio::time::Instant::now() + self.kill_grace * 4 + Duration::from_millis(500);
        loop {
            let live = {
                let entries = self.entries.lock().expect("entries");
                ids.iter().any(|id| {
                    entries
                        .get(id)
                        .is_some_and(|e| !matches!(e.phase, Phase::Done { .. }))
                })
            };
            if !live || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let user = self.users.lock().expect("users").remove(&app);
        if let Some(user) = user {
            let dir = self.layout.app_dir(&user, app);
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(app_id = %app, error = %e, "cleaning app directory");
                }
            }
        }
        // Forget reported containers of the app; unreported ones wait for the next heartbeat.
        self.entries
            .lock()
            .expect("entries")
            .retain(|id, e| id.app() != app || !e.reported);
        tracing::info!(app_id = %app, "application cleaned up");
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
        if file.is_empty() || file.contains('/') || file == "." || file == ".." {
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

    /// Kills everything (NM shutdown).
    pub fn kill_all(&self) {
        let ids: Vec<ContainerId> = self
            .entries
            .lock()
            .expect("entries")
            .keys()
            .copied()
            .collect();
        for id in ids {
            self.kill(
                id,
                exit_status::KILLED_BY_RESOURCEMANAGER,
                "node manager shutting down".into(),
            );
        }
    }
}

fn status_of(id: ContainerId, e: &Entry) -> ContainerStatus {
    let (state, exit, diag) = match &e.phase {
        Phase::Localizing => (ContainerState::NEW, exit_status::INVALID, String::new()),
        Phase::Running { .. } => (ContainerState::RUNNING, exit_status::INVALID, String::new()),
        Phase::Done { exit, diagnostics } => (ContainerState::COMPLETE, *exit, diagnostics.clone()),
    };
    ContainerStatus {
        container_id: id,
        state,
        exit_status: exit,
        diagnostics: diag,
    }
}

fn signal_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: killpg only sends a signal; a stale group id yields ESRCH.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}
