//! `spindle cluster up|down`: a local cluster of real daemon processes on loopback.

use anyhow::Context;
use clap::Subcommand;
use common::clientconf::{ClientConf, DEFAULTS_FILE};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `spindle cluster up`'s options.
#[derive(clap::Args)]
pub(crate) struct UpArgs {
    /// Node managers to start.
    #[arg(long, default_value_t = 2)]
    nodes: u32,
    /// The cluster's directory: certificates, configs, logs, state and history (created if
    /// missing).
    #[arg(long)]
    dir: PathBuf,
    /// Memory each NM offers, MB.
    #[arg(long, default_value_t = 8192)]
    node_memory_mb: u64,
    /// Virtual cores each NM offers.
    #[arg(long, default_value_t = 8)]
    node_vcores: u32,
    /// Node liveness expiry (e.g. 10m, 3s).
    #[arg(long, default_value = "10m")]
    nm_expiry: String,
    /// Heartbeat interval (e.g. 1s, 200ms).
    #[arg(long, default_value = "1s")]
    heartbeat_interval: String,
    /// Users who may view and kill every application (the RM's `admin-acl`; repeatable
    /// or comma-separated).
    #[arg(long, value_delimiter = ',')]
    admin_acl: Vec<String>,
    /// Whether anonymous clients may read the RM's web views (default: yes, the web is
    /// on loopback).
    #[arg(long)]
    web_anonymous_read: Option<bool>,
    /// How often the RM replaces its token master keys (default 1d).
    #[arg(long)]
    token_key_roll_interval: Option<String>,
    /// How long container tokens stay valid (default 10m).
    #[arg(long)]
    container_token_expiry: Option<String>,
    /// Started as root, the NMs run each app as its user's account; by default the
    /// cluster's own user (the one its certificates name) maps to the account that
    /// ran `cluster up`, so your apps read your files. With this, that user's apps run
    /// as its own account, or `nobody` without one.
    #[arg(long)]
    no_owner_map: bool,
    /// A capacity-scheduler queue under root, as NAME=CAPACITY (percent; repeatable,
    /// e.g. `--queue a=50 --queue b=50`; they must sum to 100). Each may grow to the
    /// whole cluster (maximum-capacity 100) and one user may fill it
    /// (user-limit-factor 100/CAPACITY). Without: one queue, default.
    #[arg(long = "queue", value_name = "NAME=CAPACITY")]
    queues: Vec<String>,
    /// How long the RM waits between telling an AM its containers will be preempted
    /// and killing them (default 15s).
    #[arg(long)]
    preemption_wait: Option<String>,
    /// Turn preemption off.
    #[arg(long)]
    no_preemption: bool,
    /// The RM's scheduler: capacity (default, as YARN) or fifo.
    #[arg(long, value_parser = ["capacity", "fifo"])]
    scheduler: Option<String>,
    /// Write the certificates and the daemons' and client's configs in DIR, and start
    /// nothing (to start the daemons by hand, under a debugger, or in one test process).
    #[arg(long)]
    configs_only: bool,
    /// Start N resource managers as an HA group (N >= 2) that elect their active one
    /// through the etcd at --etcd and keep their state there; 1: a single RM (state in
    /// redb). The RMs' configs are `resourcemanager.toml`, `resourcemanager-2.toml`, ...
    #[arg(long, default_value_t = 1, value_name = "N")]
    rm_ha: u32,
    /// etcd's client URL(s) for --rm-ha, e.g. http://127.0.0.1:2379 (repeatable or
    /// comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "URL")]
    etcd: Vec<String>,
}

#[derive(Subcommand)]
pub(crate) enum ClusterCommand {
    /// Start an RM and N NMs in DIR; prints the `export SPINDLE_CONF_DIR=...` line.
    Up(Box<UpArgs>),
    /// Stop the cluster in DIR.
    Down {
        /// The cluster's directory (as given to `cluster up`).
        #[arg(long)]
        dir: PathBuf,
    },
}

pub(crate) async fn run(cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Up(args) => {
            let UpArgs {
                nodes,
                dir,
                node_memory_mb,
                node_vcores,
                nm_expiry,
                heartbeat_interval,
                admin_acl,
                web_anonymous_read,
                token_key_roll_interval,
                container_token_expiry,
                no_owner_map,
                queues,
                preemption_wait,
                no_preemption,
                scheduler,
                configs_only,
                rm_ha,
                etcd,
            } = *args;
            let mut rm_extra = Vec::new();
            for (key, value) in [
                ("token-key-roll-interval", token_key_roll_interval),
                ("container-token-expiry", container_token_expiry),
            ] {
                if let Some(v) = value {
                    common::duration::parse_duration(&v)
                        .map_err(|e| anyhow::anyhow!("--{key}: {e}"))?;
                    rm_extra.push(format!("{key} = \"{v}\"\n"));
                }
            }
            if let Some(w) = &preemption_wait {
                common::duration::parse_duration(w)
                    .map_err(|e| anyhow::anyhow!("--preemption-wait: {e}"))?;
                rm_extra.push(format!("preemption-wait = \"{w}\"\n"));
            }
            if let Some(kind) = &scheduler {
                if kind == "fifo" && !queues.is_empty() {
                    anyhow::bail!("--queue needs the capacity scheduler, not --scheduler fifo");
                }
                rm_extra.push(format!("scheduler = \"{kind}\"\n"));
            }
            if no_preemption {
                rm_extra.push("preemption = false\n".into());
            }
            // A local cluster is one person's: AMs may hold half of it (YARN's 0.1 would
            // leave room for one AM on a small cluster).
            rm_extra.push("maximum-am-resource-percent = 0.5\n".into());
            let rm_tables = queue_tables(&queues)?;
            let opts = UpOptions {
                web_anonymous_read,
                nodes,
                memory_mb: node_memory_mb,
                vcores: node_vcores,
                nm_expiry,
                heartbeat: heartbeat_interval,
                admin_acl,
                rm_extra: rm_extra.concat(),
                rm_tables,
                owner_map: !no_owner_map,
                configs_only,
                ha: rm_ha_options(rm_ha, etcd)?,
            };
            up(&dir, &opts).await
        }
        ClusterCommand::Down { dir } => down(&dir),
    }
}

/// Where certificates are: made by `certs init --dir DIR`, or DIR/certs.
fn certs_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.join(common::tls::CA_CERT).is_file() && dir.join("rm.pem").is_file() {
        return Ok(dir.to_path_buf());
    }
    let certs = dir.join("certs");
    if !certs.join(common::tls::CA_CERT).is_file() {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "spindle".into());
        common::tls::init_cluster_certs(&certs, &user, &common::tls::default_node_id(), &[])?;
    }
    Ok(certs)
}

fn free_udp_port() -> anyhow::Result<u16> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    Ok(s.local_addr()?.port())
}

fn free_tcp_port() -> anyhow::Result<u16> {
    let s = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(s.local_addr()?.port())
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn read_pids(dir: &Path) -> Vec<(String, i32)> {
    let Ok(rd) = std::fs::read_dir(dir.join("pids")) else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = std::fs::read_to_string(e.path())
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some((name, pid))
        })
        .collect()
}

/// As root, the NMs run containers as their apps' users (`nobody` for a user with no
/// account): those must reach their working dirs under `dir` (searchable, not listable,
/// by others) and write event logs into `history/` (world-writable with the sticky bit,
/// as Spark's shared event-log directory). Keys stay 0600.
fn open_to_containers(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o7777;
    if mode & 0o011 != 0o011 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o711))
            .with_context(|| format!("making {} searchable", dir.display()))?;
    }
    let history = dir.join("history");
    std::fs::set_permissions(&history, std::fs::Permissions::from_mode(0o1777))
        .with_context(|| format!("opening {} to containers", history.display()))?;
    Ok(())
}

/// The NM `user-map` line that runs the cluster user's apps as the account starting
/// the cluster: a local cluster has one operator, whose apps should read and write what
/// that operator can (a job's input made with `mktemp` is 0600). Other users' apps still
/// run as themselves or `nobody`. Empty unless root (only root NMs switch accounts).
fn owner_map_line(certs: &Path) -> anyhow::Result<String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Ok(String::new());
    }
    let files = common::tls::TlsFiles::in_dir(certs, "user");
    let role = common::tls::TlsIdentity::load(&files)?.role();
    let user = role
        .user()
        .with_context(|| format!("{}: not a user certificate ({role})", files.cert.display()))?;
    // uid 0 is root everywhere; only its name could differ, and root's is root.
    Ok(format!("user-map = {{ {user:?} = \"root\" }}\n"))
}

/// `[queues.NAME]` tables for `--queue NAME=CAPACITY`.
fn queue_tables(queues: &[String]) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut sum = 0.0;
    for q in queues {
        let (name, cap) = q
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--queue {q:?}: expected NAME=CAPACITY, e.g. a=50"))?;
        let cap: f64 = cap
            .parse()
            .ok()
            .filter(|c: &f64| *c > 0.0 && *c <= 100.0)
            .ok_or_else(|| {
                anyhow::anyhow!("--queue {q:?}: the capacity must be a percentage in (0, 100]")
            })?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            anyhow::bail!("--queue {q:?}: {name:?} is not a queue name (letters, digits, _ and -)");
        }
        sum += cap;
        out.push_str(&format!(
            "[queues.{name}]\ncapacity = {cap}\nmaximum-capacity = 100\nuser-limit-factor = {}\n",
            100.0 / cap
        ));
    }
    if !queues.is_empty() && (sum - 100.0).abs() > 1e-6 {
        anyhow::bail!("--queue: the capacities sum to {sum}, not 100");
    }
    Ok(out)
}

/// What `cluster up` starts.
struct UpOptions {
    nodes: u32,
    memory_mb: u64,
    vcores: u32,
    nm_expiry: String,
    heartbeat: String,
    admin_acl: Vec<String>,
    web_anonymous_read: Option<bool>,
    /// More RM config lines.
    rm_extra: String,
    /// RM config tables (after every plain key).
    rm_tables: String,
    /// Map the cluster's user to the account running `cluster up` (see `--no-owner-map`).
    owner_map: bool,
    /// Write everything, start nothing.
    configs_only: bool,
    /// `--rm-ha N --etcd URL`: the number of RMs and etcd's URLs (empty: one RM, redb).
    ha: (u32, Vec<String>),
}

/// Checks `--rm-ha N` and `--etcd URL`.
fn rm_ha_options(rm_ha: u32, etcd: Vec<String>) -> anyhow::Result<(u32, Vec<String>)> {
    if rm_ha == 0 {
        anyhow::bail!("--rm-ha must be at least 1");
    }
    if rm_ha == 1 && !etcd.is_empty() {
        anyhow::bail!("--etcd is for an HA group of resource managers: add --rm-ha 2");
    }
    if rm_ha > 1 && etcd.is_empty() {
        anyhow::bail!(
            "--rm-ha {rm_ha} needs --etcd URL (etcd's client URL, e.g. http://127.0.0.1:2379)"
        );
    }
    if let Some(bad) = etcd.iter().find(|u| !u.starts_with("http://")) {
        anyhow::bail!("--etcd {bad:?}: expected etcd's client URL, http://host:port");
    }
    Ok((rm_ha, etcd))
}

/// The pid-file and config name of the `i`th RM (from 1).
fn rm_name(i: u32) -> String {
    if i == 1 {
        "resourcemanager".into()
    } else {
        format!("resourcemanager-{i}")
    }
}

async fn up(dir: &Path, opts: &UpOptions) -> anyhow::Result<()> {
    let UpOptions {
        nodes,
        memory_mb,
        vcores,
        ref nm_expiry,
        ref heartbeat,
        ref admin_acl,
        web_anonymous_read,
        ref rm_extra,
        ref rm_tables,
        owner_map,
        configs_only,
        ha: (rm_count, ref etcd),
    } = *opts;
    for u in admin_acl.iter().filter(|u| *u != "*") {
        common::identity::check_user_name(u).map_err(|e| anyhow::anyhow!("--admin-acl: {e}"))?;
    }
    if nodes == 0 {
        anyhow::bail!("--nodes must be at least 1");
    }
    common::duration::parse_duration(nm_expiry).map_err(|e| anyhow::anyhow!("--nm-expiry: {e}"))?;
    common::duration::parse_duration(heartbeat)
        .map_err(|e| anyhow::anyhow!("--heartbeat-interval: {e}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::path::absolute(dir)?;
    if read_pids(&dir).iter().any(|(_, p)| pid_alive(*p)) {
        anyhow::bail!(
            "a cluster is already running in {}; stop it with `spindle cluster down --dir {}`",
            dir.display(),
            dir.display()
        );
    }
    let certs = certs_dir(&dir)?;
    let rm_bin = crate::sibling_binary("resourcemanager")?;
    let nm_bin = crate::sibling_binary("nodemanager")?;
    for d in ["pids", "logs", "conf", "history"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    open_to_containers(&dir)?;
    let mut rm_addrs = Vec::new();
    let mut rm_webs = Vec::new();
    for _ in 0..rm_count {
        rm_addrs.push(format!("127.0.0.1:{}", free_udp_port()?));
        rm_webs.push(format!("127.0.0.1:{}", free_tcp_port()?));
    }
    let (rm_addr, rm_web) = (rm_addrs[0].clone(), rm_webs[0].clone());
    let ha = rm_count > 1;
    let q = |p: &Path| format!("{:?}", p.display().to_string());
    for i in 1..=rm_count {
        let (addr, web) = (&rm_addrs[i as usize - 1], &rm_webs[i as usize - 1]);
        let mut rm_toml = format!(
            "address = \"{addr}\"\nweb-address = \"{web}\"\nhistory-dir = {}\nstate-dir = {}\nca = {}\ncert = {}\nkey = {}\nheartbeat-interval = \"{heartbeat}\"\nnm-expiry = \"{nm_expiry}\"\nmax-allocation-mb = {memory_mb}\nmax-allocation-vcores = {vcores}\nadmin-acl = {admin_acl:?}\n{rm_extra}",
            q(&dir.join("history")),
            // Shared by an HA group: the staged files and the web-token key (the
            // applications' state is in etcd).
            q(&dir.join("rm")),
            q(&certs.join("ca.pem")),
            q(&certs.join("rm.pem")),
            q(&certs.join("rm.key")),
        );
        if let Some(b) = web_anonymous_read {
            rm_toml.push_str(&format!("web-anonymous-read = {b}\n"));
        }
        if ha {
            // One prefix per cluster directory: clusters can share an etcd, and the
            // group finds its state again after `cluster down` and `up`.
            rm_toml.push_str(&format!(
                "etcd-endpoints = {etcd:?}\nrm-addresses = {rm_addrs:?}\nha-id = \"rm{i}\"\nha-prefix = {:?}\n",
                format!("/spindle/local{}", dir.display())
            ));
        }
        rm_toml.push_str(rm_tables);
        let name = rm_name(i);
        let rm_conf = dir.join("conf").join(format!("{name}.toml"));
        std::fs::write(&rm_conf, rm_toml)?;
        if !configs_only {
            spawn(&dir, &name, &rm_bin, &rm_conf)?;
        }
    }
    let nm_rms = if ha {
        format!("rm-addresses = {rm_addrs:?}\n")
    } else {
        String::new()
    };
    let ca = common::tls::ClusterCa::load(&certs)?;
    let user_map = if owner_map {
        owner_map_line(&certs)?
    } else {
        String::new()
    };
    for i in 1..=nodes {
        let port = free_udp_port()?;
        // Fixed, so that an NM started again (recovery) serves its shuffle data where
        // executors found it.
        let shuffle_port = free_udp_port()?;
        // Each NM is its node and nothing else: `node:127.0.0.1:PORT`.
        let node = ca.issue(
            &dir.join(format!("nm-{i}")),
            "node",
            &common::tls::node_common_name(&format!("127.0.0.1:{port}")),
            &common::tls::local_sans(),
        )?;
        let nm_toml = format!(
            "address = \"127.0.0.1:{port}\"\nweb-address = \"127.0.0.1:0\"\nrm-address = \"{rm_addr}\"\nmemory-mb = {memory_mb}\nvcores = {vcores}\nlocal-dir = {}\nlog-dir = {}\nca = {}\ncert = {}\nkey = {}\ncontainer-cert = {}\ncontainer-key = {}\nshuffle-service-address = \"127.0.0.1:{shuffle_port}\"\nrecovery = true\n{LOCAL_DISK_LIMIT}{nm_rms}{user_map}",
            q(&dir.join(format!("nm-{i}")).join("local")),
            q(&dir.join(format!("nm-{i}")).join("logs")),
            q(&certs.join("ca.pem")),
            q(&node.cert),
            q(&node.key),
            q(&certs.join("container.pem")),
            q(&certs.join("container.key")),
        );
        let conf = dir.join("conf").join(format!("nodemanager-{i}.toml"));
        std::fs::write(&conf, nm_toml)?;
        if !configs_only {
            spawn(&dir, &format!("nodemanager-{i}"), &nm_bin, &conf)?;
        }
    }
    let driver = common::tls::TlsFiles::in_dir(&certs, "container");
    let client = ClientConf {
        rm_addresses: if ha { rm_addrs.clone() } else { vec![] },
        rm_web_address: rm_web.clone(),
        // A client-mode driver serves its executors as containers do.
        driver_cert: Some(driver.cert),
        driver_key: Some(driver.key),
        ..ClientConf::new(
            if ha { String::new() } else { rm_addr.clone() },
            common::tls::TlsFiles::in_dir(&certs, "user"),
        )
    };
    let conf_dir = dir.join("conf");
    client.write(&conf_dir)?;
    let defaults = conf_dir.join(DEFAULTS_FILE);
    // An HA group: `spindle` alone, so that submissions use every address in the
    // client conf.
    let master = if ha {
        "spindle".to_string()
    } else {
        format!("spindle://{rm_addr}")
    };
    if !defaults.exists() {
        std::fs::write(
            &defaults,
            format!(
                "# Spark-style defaults for applications submitted to this cluster.\nspark.master {master}\nspark.eventLog.enabled true\nspark.eventLog.dir {}\n",
                dir.join("history").display()
            ),
        )?;
    }
    if configs_only {
        println!(
            "configs written in {}; start the daemons with --config {}/NAME.toml",
            conf_dir.display(),
            conf_dir.display()
        );
        return Ok(());
    }
    // Ready when every NM has registered.
    let identity = common::tls::TlsIdentity::load(&client.tls_files())?;
    let rm = common::client::RmClient::connect_any(&identity, &rm_addrs)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(n) = rm.nodes().await {
            let running = n
                .iter()
                .filter(|n| n.state == common::protocol::NodeState::RUNNING)
                .count();
            if running >= nodes as usize {
                break;
            }
        }
        for (name, pid) in read_pids(&dir) {
            if !pid_alive(pid) {
                let log = dir
                    .join("logs")
                    .join(format!("{}.log", name.trim_end_matches(".pid")));
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let last = tail.lines().last().unwrap_or("").to_string();
                let _ = down(&dir);
                anyhow::bail!(
                    "{} exited during start-up: {last} (log: {})",
                    name,
                    log.display()
                );
            }
        }
        if Instant::now() > deadline {
            let _ = down(&dir);
            anyhow::bail!(
                "the cluster did not come up within 30 s; see {}",
                dir.join("logs").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if ha {
        println!(
            "cluster up: {rm_count} resourcemanagers at {} (HA through etcd at {}; web UIs {}: the active one serves), {nodes} node manager(s); logs in {}",
            rm_addrs.join(", "),
            etcd.join(", "),
            rm_webs.join(", "),
            dir.join("logs").display()
        );
    } else {
        println!(
            "cluster up: resourcemanager at {rm_addr} (web UI https://{rm_web}/cluster), {nodes} node manager(s); logs in {}",
            dir.join("logs").display()
        );
    }
    println!("export SPINDLE_CONF_DIR={}", conf_dir.display());
    Ok(())
}

fn spawn(dir: &Path, name: &str, bin: &Path, conf: &Path) -> anyhow::Result<()> {
    let log = std::fs::File::create(dir.join("logs").join(format!("{name}.log")))?;
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("--config")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own session: the daemon outlives this command and a Ctrl-C in its terminal.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    std::fs::write(
        dir.join("pids").join(format!("{name}.pid")),
        child.id().to_string(),
    )?;
    Ok(())
}

/// A local cluster's dirs share a developer's disk, often fuller than a data node's:
/// its NMs turn unhealthy only when that disk is nearly full (YARN's 90% would stop a
/// laptop's cluster that still has gigabytes free).
const LOCAL_DISK_LIMIT: &str = "max-disk-utilization-percent = 99.0\n";

pub(crate) fn down(dir: &Path) -> anyhow::Result<()> {
    let pids = read_pids(dir);
    if pids.is_empty() {
        anyhow::bail!("no cluster in {} (no pid files)", dir.display());
    }
    // NMs first, so their containers are stopped while the RM still listens.
    let mut ordered = pids.clone();
    ordered.sort_by_key(|(n, _)| n.starts_with("resourcemanager"));
    for (_, pid) in &ordered {
        // SAFETY: plain signal to a process we started.
        unsafe {
            libc::kill(*pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while ordered.iter().any(|(_, p)| pid_alive(*p) && !is_zombie(*p)) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (name, pid) in &ordered {
        if pid_alive(*pid) && !is_zombie(*pid) {
            eprintln!("{name} (pid {pid}) did not stop within 10 s; killing it");
            // SAFETY: as above.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_file(dir.join("pids").join(name));
    }
    let left = stop_recovered_containers(dir);
    if left > 0 {
        println!("stopped {left} containers the node managers left running (recovery)");
    }
    println!("cluster in {} stopped", dir.display());
    Ok(())
}

/// The NMs of a local cluster keep their containers across their own restarts
/// (`recovery`), so a stopped NM leaves them running: `down` stops them by the records
/// the NMs keep (`nm-N/local/nm-recovery/*.json`: process group and start time, so that
/// a pid taken by another process since is left alone). Returns how many it stopped.
fn stop_recovered_containers(dir: &Path) -> usize {
    let records = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("nm-"))
        .flat_map(|e| std::fs::read_dir(e.path().join("local").join("nm-recovery")))
        .flatten()
        .flatten();
    let mut stopped = 0;
    for r in records {
        let Ok(v) =
            std::fs::read(r.path()).map(|b| serde_json::from_slice::<serde_json::Value>(&b))
        else {
            continue;
        };
        let Ok(v) = v else { continue };
        let (Some(pid), Some(ticks)) = (v["pid"].as_i64(), v["start_ticks"].as_u64()) else {
            continue;
        };
        let started = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()?
                    .split_whitespace()
                    .nth(19)?
                    .parse::<u64>()
                    .ok()
            });
        if v["exit"].is_null() && pid > 1 && started == Some(ticks) {
            // SAFETY: a signal to the process group the record names, checked above to be
            // the container's still.
            unsafe {
                libc::killpg(pid as i32, libc::SIGKILL);
            }
            stopped += 1;
        }
    }
    stopped
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
