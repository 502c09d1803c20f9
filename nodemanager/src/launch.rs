//! Starting a container's process on this host: its directories (owned by the account
//! it runs as), its credentials and TLS identity as private files, its environment, its
//! process group and cgroup, the switch to its user; signals to its process group.

use crate::cgroups::ContainerGroup;
use crate::lifecycle::Signal;
use crate::user::{Account, Credentials};
use common::launch::ContainerEnv;
use common::protocol::{exit_status, ErrorCode, LaunchSpec, WireError};
use common::tls::TlsFiles;
use common::NodeId;
use common::{ApplicationId, ContainerId, Resource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

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
    /// The NM's CA and the container identity, which each container gets a copy of.
    pub container_tls: TlsFiles,
    /// `host:port` of this node's shuffle service, if there is one.
    pub shuffle_service: Option<String>,
    /// Containers outlive the NM (`recovery`): each runs under this launcher
    /// ([`crate::launcher`]), without dying with its parent.
    pub launcher: Option<PathBuf>,
    /// The NM web server's base URL, set once it listens (it starts after the
    /// container manager, which it serves the logs of); containers link their logs to it.
    pub web_url: Arc<OnceLock<String>>,
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

/// Who owns a container's directories and files: the account it runs as (none: the
/// NM's own user), with the NM's group, through which the NM-hosted services read them.
#[derive(Debug, Clone, Copy)]
struct Owner(Option<(u32, u32)>);

impl Owner {
    fn of(run_as: Option<&Account>) -> Self {
        // SAFETY: getegid has no preconditions.
        let nm_gid = unsafe { libc::getegid() };
        Self(run_as.map(|a| (a.uid, nm_gid)))
    }

    /// Gives `p` to the owner with `mode`.
    fn own(self, p: &Path, mode: u32) -> Result<(), WireError> {
        use std::os::unix::fs::PermissionsExt;
        if let Some((uid, gid)) = self.0 {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .map_err(|e| io_error("giving away", p, e))?;
        }
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_error("setting the mode of", p, e))
    }

    /// Writes a file only the owner can read (0600).
    fn write_private(self, p: &Path, data: &[u8]) -> Result<(), WireError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(p);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
            .map_err(|e| io_error("creating", p, e))?;
        if let Some((uid, gid)) = self.0 {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
                .map_err(|e| io_error("giving away", p, e))?;
        }
        f.write_all(data).map_err(|e| io_error("writing", p, e))
    }
}

/// A container's directories and private files, ready for its process.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub work: PathBuf,
    /// Its copy of the container identity (the key readable by its user only).
    pub tls: TlsFiles,
    /// Its credentials, one file each ([`LaunchSpec::secrets`]).
    pub secrets_dir: PathBuf,
}

/// Where a container's credentials go, inside its working directory.
pub const SECRETS_DIR: &str = ".secrets";
/// Where its copy of the container identity goes.
pub const TLS_DIR: &str = ".tls";

/// Makes the node's directories usable by containers that run as other users: the local
/// and log dirs searchable (not listable) by them; the shuffle service's registrations
/// (app secrets) readable by the NM only. Warns when a parent of the local dir is not
/// searchable, since no container could reach its working directory then.
pub fn prepare_node(layout: &Layout, switching: bool) -> Result<(), WireError> {
    use std::os::unix::fs::PermissionsExt;
    let usercache = layout.local_dir.join("usercache");
    let filecache = layout.local_dir.join("filecache");
    for d in [&usercache, &filecache, &layout.log_dir] {
        std::fs::create_dir_all(d).map_err(|e| io_error("creating", d, e))?;
    }
    let registry = layout.local_dir.join("shuffle.redb");
    if registry.exists() {
        std::fs::set_permissions(&registry, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("setting the mode of", &registry, e))?;
    }
    if !switching {
        return Ok(());
    }
    for d in [&layout.local_dir, &usercache, &filecache, &layout.log_dir] {
        let mode = std::fs::metadata(d)
            .map_err(|e| io_error("reading", d, e))?
            .permissions()
            .mode();
        if mode & 0o011 != 0o011 {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode((mode | 0o711) & 0o7777))
                .map_err(|e| io_error("setting the mode of", d, e))?;
        }
    }
    let local = std::path::absolute(&layout.local_dir).unwrap_or(layout.local_dir.clone());
    for a in local.ancestors().skip(1) {
        let searchable = std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
        if !searchable {
            tracing::warn!(
                local_dir = %local.display(),
                ancestor = %a.display(),
                "containers run as their users, but others cannot search this parent of local-dir: their launches will fail"
            );
        }
    }
    Ok(())
}

/// Makes the container's directories (owned by the account it runs as: the app's and
/// its own 0750, its logs 0750), writes its credentials into `.secrets/` and its copy of
/// the container identity into `.tls/` (0600 files in 0700 directories).
pub fn prepare(
    layout: &Layout,
    env: &NodeEnv,
    user: &str,
    id: ContainerId,
    run_as: Option<&Account>,
    secrets: &BTreeMap<String, String>,
) -> Result<Prepared, WireError> {
    let owner = Owner::of(run_as);
    let work = layout.work_dir(user, id);
    let logs = layout.log_dir(id);
    std::fs::create_dir_all(&work).map_err(|e| io_error("creating", &work, e))?;
    std::fs::create_dir_all(&logs).map_err(|e| io_error("creating", &logs, e))?;
    let user_dir = layout.local_dir.join("usercache").join(user);
    let app_dir = layout.app_dir(user, id.app());
    for d in [&user_dir, &user_dir.join("appcache"), &app_dir, &work] {
        owner.own(d, 0o750)?;
    }
    for d in [&layout.log_dir.join(id.app().to_string()), &logs] {
        owner.own(d, 0o750)?;
    }
    let secrets_dir = work.join(SECRETS_DIR);
    private_dir(&secrets_dir, owner)?;
    for (name, value) in secrets {
        owner.write_private(&secrets_dir.join(name), value.as_bytes())?;
    }
    let tls_dir = work.join(TLS_DIR);
    private_dir(&tls_dir, owner)?;
    let tls = TlsFiles::in_dir(&tls_dir, "container");
    for (from, to) in [
        (&env.container_tls.ca, &tls.ca),
        (&env.container_tls.cert, &tls.cert),
        (&env.container_tls.key, &tls.key),
    ] {
        let data = std::fs::read(from).map_err(|e| io_error("reading", from, e))?;
        owner.write_private(to, &data)?;
    }
    Ok(Prepared {
        work,
        tls,
        secrets_dir,
    })
}

fn private_dir(d: &Path, owner: Owner) -> Result<(), WireError> {
    match std::fs::create_dir(d) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error("creating", d, e)),
    }
    owner.own(d, 0o700)
}

/// Starts the container's process as the leader of its own process group, with its log
/// files as stdout and stderr. Before it execs, the child joins its cgroup `group` (so
/// nothing it starts is outside it), then becomes `run_as`; it dies with the node manager.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    layout: &Layout,
    env: &NodeEnv,
    prepared: &Prepared,
    id: ContainerId,
    user: &str,
    resource: Resource,
    launch: &LaunchSpec,
    run_as: Option<&Account>,
    group: Option<&ContainerGroup>,
) -> Result<tokio::process::Child, WireError> {
    let work = &prepared.work;
    let logs = layout.log_dir(id);
    let owner = Owner::of(run_as);
    let argv0 = &launch.command[0];
    let program = if !argv0.contains('/') && work.join(argv0).exists() {
        work.join(argv0)
    } else {
        PathBuf::from(argv0)
    };
    let log_file = |name: &str| {
        let p = logs.join(name);
        let f = std::fs::File::create(&p).map_err(|e| io_error("creating", &p, e))?;
        owner.own(&p, 0o640)?;
        Ok::<_, WireError>(f)
    };
    let (stdout, stderr) = (log_file("stdout")?, log_file("stderr")?);
    let mut cmd = if let Some(launcher) = &env.launcher {
        // It runs the command and records how it ended.
        let mut c = tokio::process::Command::new(launcher);
        c.arg(crate::launcher::FLAG)
            .arg(work.join(crate::launcher::EXIT_FILE))
            .arg(&program);
        c
    } else {
        tokio::process::Command::new(&program)
    };
    let keep = env.launcher.is_some();
    cmd.args(&launch.command[1..])
        .current_dir(work)
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
    let container = ContainerEnv {
        container_id: id,
        nm_host: env.nm_host.clone(),
        nm_port: env.nm_port,
        node_id: NodeId(env.node_id.clone()),
        user: user.to_string(),
        work_dir: work.clone(),
        log_dir: logs.clone(),
        local_dir: layout.app_dir(user, id.app()),
        resource,
        tls: prepared.tls.clone(),
        shuffle_service: env.shuffle_service.clone(),
        secrets_dir: prepared.secrets_dir.clone(),
        nm_web_url: env.web_url.get().cloned(),
    };
    cmd.envs(container.to_env());
    cmd.envs(&launch.env);
    let procs = group.map(ContainerGroup::procs_files).unwrap_or_default();
    let creds = run_as.map(Credentials::of);
    let nm_pid = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the child before exec and makes only async-signal-safe
    // calls (open/write/close, setgroups/setgid/setuid, prctl, getppid) on data prepared
    // before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            crate::cgroups::join_in_child(&procs)?;
            if let Some(c) = &creds {
                c.assume()?;
            }
            // After the user switch, which clears it. Without recovery a container must
            // not outlive a crashed NM that can no longer account for it.
            if !keep {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            if libc::getppid() != nm_pid {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        let who = run_as.map_or(String::new(), |a| format!(" as {} (uid {})", a.name, a.uid));
        fail(
            ErrorCode::BadRequest,
            format!("cannot run {}{who}: {e}", program.display()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_containers_credentials_and_identity_are_private_files() {
        let d = tempfile::tempdir().unwrap();
        let certs = d.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        for (f, body) in [("ca.pem", "CA"), ("c.pem", "CERT"), ("c.key", "KEY")] {
            std::fs::write(certs.join(f), body).unwrap();
        }
        let layout = Layout {
            local_dir: d.path().join("local"),
            log_dir: d.path().join("logs"),
        };
        prepare_node(&layout, true).unwrap();
        let env = NodeEnv {
            node_id: "h:1".into(),
            nm_host: "h".into(),
            nm_port: 1,
            container_tls: TlsFiles {
                ca: certs.join("ca.pem"),
                cert: certs.join("c.pem"),
                key: certs.join("c.key"),
            },
            shuffle_service: None,
            launcher: None,
            web_url: Default::default(),
        };
        let id: ContainerId = "container_1_0001_01_000002".parse().unwrap();
        let mut secrets = BTreeMap::new();
        secrets.insert("app-secret".to_string(), "s3cr3t".to_string());
        let p = prepare(&layout, &env, "alice", id, None, &secrets).unwrap();
        assert_eq!(p.work, layout.work_dir("alice", id));
        assert_eq!(p.secrets_dir, p.work.join(".secrets"));
        let secret = p.secrets_dir.join("app-secret");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cr3t");
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(mode(&p.secrets_dir), 0o700);
        assert_eq!(std::fs::read_to_string(&p.tls.key).unwrap(), "KEY");
        assert_eq!(std::fs::read_to_string(&p.tls.cert).unwrap(), "CERT");
        assert_eq!(mode(&p.tls.key), 0o600);
        assert_eq!(mode(p.tls.key.parent().unwrap()), 0o700);
        // Other users can neither list nor enter an app's or a container's directories.
        for dir in [
            layout.local_dir.join("usercache/alice"),
            layout.app_dir("alice", id.app()),
            p.work.clone(),
            layout.log_dir(id),
        ] {
            assert_eq!(mode(&dir), 0o750, "{}", dir.display());
        }
        // The node's own directories are searchable by them, not listable.
        for dir in [&layout.local_dir, &layout.log_dir] {
            assert_eq!(mode(dir) & 0o011, 0o011, "{}", dir.display());
        }
        // Preparing again (a relaunch) rewrites the files.
        secrets.insert("app-secret".to_string(), "new".to_string());
        let p = prepare(&layout, &env, "alice", id, None, &secrets).unwrap();
        assert_eq!(
            std::fs::read_to_string(p.secrets_dir.join("app-secret")).unwrap(),
            "new"
        );
    }
}
