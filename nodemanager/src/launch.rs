//! Starting a container's process on this host: its directories, its
//! environment and its process group; signals to that group.

use crate::lifecycle::Signal;
use common::protocol::{exit_status, ErrorCode, LaunchSpec, WireError};
use common::{ApplicationId, ContainerId, Resource};
use std::path::{Path, PathBuf};

/// Where things go on this node.
#[derive(Debug, Clone)]
pub struct Layout {
    pub local_dir: PathBuf,
    pub log_dir: PathBuf,
}

impl Layout {
    /// `usercache/<user>/appcache/<app>`: the app's working directories (removed when it ends).
    pub fn app_dir(&self, user: &str, app: ApplicationId) -> PathBuf {
        self.local_dir
            .join("usercache")
            .join(user)
            .join("appcache")
            .join(app.to_string())
    }

    /// The container's working directory, inside its app's.
    pub fn work_dir(&self, user: &str, c: ContainerId) -> PathBuf {
        self.app_dir(user, c.app()).join(c.to_string())
    }

    /// The container's stdout and stderr (kept after the app ends).
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

/// Variables of the node manager's own environment that containers inherit.
const INHERITED: [&str; 6] = [
    "PATH",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "RUST_BACKTRACE",
    "RUST_LOG",
];

pub(crate) fn fail(code: ErrorCode, msg: impl Into<String>) -> WireError {
    WireError::new(code, msg)
}

pub(crate) fn io_error(what: &str, p: &Path, e: std::io::Error) -> WireError {
    fail(ErrorCode::Internal, format!("{what} {}: {e}", p.display()))
}

/// Makes the container's working and log directories; returns the working one.
pub fn make_dirs(layout: &Layout, user: &str, id: ContainerId) -> Result<PathBuf, WireError> {
    let work = layout.work_dir(user, id);
    let logs = layout.log_dir(id);
    std::fs::create_dir_all(&work).map_err(|e| io_error("creating", &work, e))?;
    std::fs::create_dir_all(&logs).map_err(|e| io_error("creating", &logs, e))?;
    Ok(work)
}

/// Starts the container's process as the leader of its own process group, with
/// its log files as stdout and stderr. It dies with the node manager.
pub fn spawn(
    layout: &Layout,
    env: &NodeEnv,
    id: ContainerId,
    user: &str,
    resource: Resource,
    launch: &LaunchSpec,
) -> Result<tokio::process::Child, WireError> {
    let work = layout.work_dir(user, id);
    let logs = layout.log_dir(id);
    let argv0 = &launch.command[0];
    let program = if !argv0.contains('/') && work.join(argv0).exists() {
        work.join(argv0)
    } else {
        PathBuf::from(argv0)
    };
    let stdout =
        std::fs::File::create(logs.join("stdout")).map_err(|e| io_error("creating", &logs, e))?;
    let stderr =
        std::fs::File::create(logs.join("stderr")).map_err(|e| io_error("creating", &logs, e))?;
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&launch.command[1..])
        .current_dir(&work)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(false);
    for k in INHERITED {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
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
        .env("LOCAL_DIRS", layout.app_dir(user, id.app()))
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
    cmd.spawn().map_err(|e| {
        fail(
            ErrorCode::BadRequest,
            format!("cannot run {}: {e}", program.display()),
        )
    })
}

/// The status and diagnostics of a process that ended (or whose wait failed).
pub fn exit_of(status: std::io::Result<std::process::ExitStatus>) -> (i32, String) {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => crate::lifecycle::process_exit(s.code(), s.signal()),
        Err(e) => (exit_status::INVALID, format!("wait failed: {e}")),
    }
}

/// Sends `signal` to process group `pgid`.
pub fn signal_group(pgid: i32, signal: Signal) {
    let sig = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    if pgid > 1 {
        // SAFETY: killpg only sends a signal; a stale group id yields ESRCH.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}
