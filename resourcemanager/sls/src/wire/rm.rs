//! The RM process of a wire run: its certificates, start, readiness and CPU/RSS.

use super::*;

/// The CPU seconds (user + system) and peak RSS (MB) of process `pid`, from `/proc`.
pub(super) fn process_usage(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the command.
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    Some((ticks / hz, hwm_kb / 1024.0))
}

/// Raises this process's open-file limit to its hard limit (many connections' worth of
/// state is cheap; descriptors are not needed per connection, but certificates are read
/// and a started RM inherits the limit).
pub(super) fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit read and write the struct given.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// The certificates of the run: the CA's files and where the issued ones go.
pub(super) struct Certs {
    pub(super) dir: PathBuf,
    pub(super) ca: ClusterCa,
}

impl Certs {
    pub(super) fn issue(
        &self,
        name: &str,
        common_name: &str,
        sans: &[String],
    ) -> Result<TlsIdentity, SlsError> {
        let files: TlsFiles = self
            .ca
            .issue(&self.dir, name, common_name, sans)
            .map_err(|e| SlsError::wire(format!("issuing the certificate of {common_name}"), e))?;
        TlsIdentity::load(&files)
            .map_err(|e| SlsError::wire(format!("loading the certificate of {common_name}"), e))
    }
}

/// A started RM process, stopped when dropped.
pub(super) struct RmProcess {
    pub(super) child: std::process::Child,
}

impl Drop for RmProcess {
    fn drop(&mut self) {
        // SIGTERM first: the daemon saves its state and exits; then make sure.
        // SAFETY: signals our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn free_udp_port() -> Result<u16, SlsError> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0")
        .map_err(|e| SlsError::wire("finding a free port for the RM", e))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| SlsError::wire("finding a free port for the RM", e))
}

/// Writes the RM's config (the run's queues and limits, on loopback, no web server) and
/// starts it.
pub(super) fn start_rm(
    bin: &Path,
    dir: &Path,
    certs: &Path,
    opts_rm: &resourcemanager::RmConfig,
    heartbeat_ms: u64,
) -> Result<(RmProcess, String), SlsError> {
    let port = free_udp_port()?;
    let address = format!("127.0.0.1:{port}");
    let mut conf = opts_rm.clone();
    conf.address = address.clone();
    conf.state_dir = dir.join("rm-state");
    conf.ca = certs.join("ca.pem");
    conf.cert = certs.join("rm.pem");
    conf.key = certs.join("rm.key");
    conf.web_address = String::new();
    conf.heartbeat_interval = Duration::from_millis(heartbeat_ms);
    conf.etcd_endpoints.clear();
    conf.rm_addresses.clear();
    let text = toml::to_string(&conf).map_err(|e| SlsError::wire("writing the RM's config", e))?;
    let path = dir.join("resourcemanager.toml");
    std::fs::write(&path, text).map_err(|e| SlsError::file("write", &path, e))?;
    let log_path = dir.join("resourcemanager.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| SlsError::file("write", &log_path, e))?;
    let err = log
        .try_clone()
        .map_err(|e| SlsError::file("write", &log_path, e))?;
    let mut cmd = std::process::Command::new(bin);
    // SAFETY: prctl only sets a flag of the child between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        // A simulator killed before it could stop the RM takes it along.
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = cmd
        .arg("--config")
        .arg(&path)
        .stdout(log)
        .stderr(err)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| SlsError::wire(format!("starting {}", bin.display()), e))?;
    Ok((RmProcess { child }, address))
}

/// Waits until the RM answers a client call (or its process exits).
pub(super) async fn wait_ready(
    client: &RmClient,
    rm: &mut Option<RmProcess>,
    log: Option<&Path>,
) -> Result<(), SlsError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.queues().await {
            Ok(_) => return Ok(()),
            Err(e) => {
                if let Some(p) = rm.as_mut() {
                    if let Ok(Some(st)) = p.child.try_wait() {
                        let tail = log
                            .and_then(|l| std::fs::read_to_string(l).ok())
                            .map(|t| t.lines().rev().take(5).collect::<Vec<_>>().join(" | "))
                            .unwrap_or_default();
                        return Err(SlsError::wire(
                            "starting the RM",
                            format!("it exited ({st}): {tail}"),
                        ));
                    }
                }
                if Instant::now() > deadline {
                    return Err(SlsError::wire("waiting for the RM to answer", e));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
