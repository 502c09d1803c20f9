//! Deployment contract, end to end: the daemons under a service manager's
//! eyes (NOTIFY_SOCKET, watchdog, SIGTERM, SIGHUP), the RM keeping its
//! applications across a restart, `deploy/install.sh` into a DESTDIR, and
//! configuration errors.

use common::client::{NmClient, RmClient};
use common::clientconf::ClientConf;
use common::protocol::{
    AppSubmission, ApplicationReport, LaunchSpec, NodeState, YarnApplicationState,
};
use common::tls::{TlsFiles, TlsIdentity};
use spindle_tests::{
    assert_contains, bin, bin_dir, eventually, output_within, pids_with_env, submission, text,
    JOB_LIMIT,
};
use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

fn q(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// The `ca`, `cert` and `key` lines of a daemon's config for certificate `name` in `certs`.
fn tls_lines(certs: &Path, name: &str) -> String {
    format!(
        "ca = {}\ncert = {}\nkey = {}\n",
        q(&certs.join("ca.pem")),
        q(&certs.join(format!("{name}.pem"))),
        q(&certs.join(format!("{name}.key")))
    )
}

/// Issues, with the CA in `certs`, the certificate of the NM at `addr` (its node id);
/// returns its name.
fn issue_nm_cert(certs: &Path, addr: &str) -> String {
    let cert = format!("nm-{}", addr.replace(':', "-"));
    common::tls::ClusterCa::load(certs)
        .unwrap()
        .issue(
            certs,
            &cert,
            &common::tls::node_common_name(addr),
            &common::tls::local_sans(),
        )
        .unwrap();
    cert
}

/// A cluster's files in a temp dir: certificates, daemon configs, client conf.
struct Site {
    dir: tempfile::TempDir,
    rm_addr: String,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spindle-deploy-")
            .tempdir()
            .unwrap();
        common::tls::init_cluster_certs(&dir.path().join("certs"), "tester", "127.0.0.1:0", &[])
            .unwrap();
        let rm_addr = format!("127.0.0.1:{}", free_udp_port());
        let s = Self { dir, rm_addr };
        ClientConf::new(s.rm_addr.clone(), TlsFiles::in_dir(&s.certs(), "user"))
            .write(&s.conf_dir())
            .unwrap();
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn certs(&self) -> PathBuf {
        self.path().join("certs")
    }

    fn conf_dir(&self) -> PathBuf {
        self.path().join("conf")
    }

    fn tls_lines(&self, name: &str) -> String {
        tls_lines(&self.certs(), name)
    }

    /// Writes `resourcemanager.toml` (fixed port, so a restart reuses it).
    fn rm_config(&self, extra: &str) -> PathBuf {
        let p = self.conf_dir().join("resourcemanager.toml");
        let text = format!(
            "address = \"{}\"\nweb-address = \"127.0.0.1:0\"\nstate-dir = {}\nheartbeat-interval = \"200ms\"\n{}{extra}",
            self.rm_addr,
            q(&self.path().join("rm")),
            self.tls_lines("node"),
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes `nodemanager.toml` on a free port, with a certificate for the node id the NM
    /// will have there (`node:127.0.0.1:PORT`).
    fn nm_config(&self, extra: &str) -> (PathBuf, String) {
        let addr = format!("127.0.0.1:{}", free_udp_port());
        let p = self.conf_dir().join("nodemanager.toml");
        let c = self.certs();
        let cert = issue_nm_cert(&c, &addr);
        let text = format!(
            "address = \"{addr}\"\nweb-address = \"127.0.0.1:0\"\nshuffle-service-address = \"127.0.0.1:0\"\nrm-address = \"{}\"\nlocal-dir = {}\nlog-dir = {}\n{}container-cert = {}\ncontainer-key = {}\nkill-grace = \"500ms\"\n{extra}",
            self.rm_addr,
            q(&self.path().join("nm").join("local")),
            q(&self.path().join("nm").join("logs")),
            self.tls_lines(&cert),
            q(&c.join("container.pem")),
            q(&c.join("container.key")),
        );
        std::fs::write(&p, text).unwrap();
        (p, addr)
    }

    fn identity(&self) -> TlsIdentity {
        TlsIdentity::load(&TlsFiles::in_dir(&self.certs(), "user")).unwrap()
    }

    /// Needs a tokio runtime (the QUIC endpoint).
    fn rm_client(&self) -> RmClient {
        RmClient::connect(&self.identity(), &self.rm_addr).unwrap()
    }

    fn spindle(&self) -> Command {
        let mut c = Command::new(bin("spindle"));
        c.env("SPINDLE_CONF_DIR", self.conf_dir());
        c
    }
}

/// A daemon process with its output in a log file; SIGKILLed on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &str, config: &Path, env: &[(&str, String)]) -> Self {
        let log = unique(config.with_file_name(format!("{name}.log")));
        let f = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin(name));
        cmd.arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .env("RUST_BACKTRACE", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: a plain signal to our own child.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM; asserts a clean exit within `bound` and returns how long it took.
    fn stop(&mut self, bound: Duration) -> Duration {
        let t0 = Instant::now();
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(bound);
        let took = t0.elapsed();
        assert!(
            status.is_some(),
            "{} did not exit within {bound:?} of SIGTERM; log:\n{}",
            self.log.display(),
            self.log_text()
        );
        assert!(
            status.unwrap().success(),
            "unclean exit {status:?}; log:\n{}",
            self.log_text()
        );
        took
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique(mut p: PathBuf) -> PathBuf {
    let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
    let mut i = 0;
    while p.exists() {
        i += 1;
        p.set_file_name(format!("{stem}-{i}.log"));
    }
    p
}

/// The service manager's side of NOTIFY_SOCKET: every datagram, timestamped.
struct NotifySocket {
    path: PathBuf,
    got: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl NotifySocket {
    fn bind(path: PathBuf) -> Self {
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            // Ends with the test process; a closed test drops nothing else.
            loop {
                if let Ok(n) = sock.recv(&mut buf) {
                    let at = Instant::now();
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    g.lock().unwrap().push((at, msg));
                }
                if Arc::strong_count(&g) == 1 {
                    return;
                }
            }
        });
        Self { path, got }
    }

    fn env(&self, watchdog_usec: u64) -> Vec<(&'static str, String)> {
        vec![
            ("NOTIFY_SOCKET", self.path.display().to_string()),
            ("WATCHDOG_USEC", watchdog_usec.to_string()),
        ]
    }

    /// Every `KEY=value` line with the time its datagram arrived.
    fn lines(&self) -> Vec<(Instant, String)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(t, m)| m.lines().map(|l| (*t, l.to_string())).collect::<Vec<_>>())
            .collect()
    }

    fn first(&self, line: &str) -> Option<Instant> {
        self.lines()
            .into_iter()
            .find(|(_, l)| l == line)
            .map(|(t, _)| t)
    }

    fn wait_for(&self, line: &str, timeout: Duration) -> Instant {
        eventually(timeout, &format!("{line} on the notify socket"), || {
            self.first(line)
        })
    }
}

fn pings_between(sock: &NotifySocket, from: Instant, to: Instant) -> Vec<Instant> {
    sock.lines()
        .into_iter()
        .filter(|(t, l)| l == "WATCHDOG=1" && *t >= from && *t <= to)
        .map(|(t, _)| t)
        .collect()
}

/// WATCHDOG=1 every WATCHDOG_USEC/2: 400 ms → a ping every 200 ms.
fn assert_watchdog_rate(name: &str, sock: &NotifySocket, ready: Instant) {
    let window = Duration::from_secs(2);
    std::thread::sleep(
        (ready + window + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    );
    let pings = pings_between(sock, ready, ready + window);
    assert!(
        (8..=12).contains(&pings.len()),
        "{name}: {} watchdog pings in {window:?}, expected about 10",
        pings.len()
    );
    let max_gap = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        max_gap < Duration::from_millis(400),
        "{name}: a watchdog gap of {max_gap:?} would have tripped a 400 ms WatchdogSec"
    );
}

/// An application whose AM just sleeps (it never registers: it holds its
/// container in ACCEPTED until killed), with the RM's default attempts.
fn sleeper(name: &str) -> AppSubmission {
    let launch = LaunchSpec {
        command: vec!["sleep".into(), "300".into()],
        ..Default::default()
    };
    submission(name, launch)
}

fn apps(site: &Site) -> Vec<ApplicationReport> {
    rt().block_on(async { site.rm_client().list(vec![]).await.unwrap() })
}

fn app(site: &Site, id: common::ApplicationId) -> ApplicationReport {
    rt().block_on(async { site.rm_client().report(id).await.unwrap() })
}

fn running_nodes(site: &Site) -> usize {
    rt().block_on(async {
        let rm = site.rm_client();
        match tokio::time::timeout(Duration::from_secs(3), rm.nodes()).await {
            Ok(Ok(n)) => n
                .iter()
                .filter(|n| n.state == NodeState::RUNNING && n.capability.memory_mb > 0)
                .count(),
            _ => 0,
        }
    })
}

// ------------------------------------------------------------------ notify

#[test]
fn ready_comes_only_once_listening_and_registered_and_the_watchdog_is_fed() {
    let site = Site::new();
    let rm_sock = NotifySocket::bind(site.path().join("rm.sock"));
    let nm_sock = NotifySocket::bind(site.path().join("nm.sock"));
    let rm_conf = site.rm_config("");
    let (nm_conf, nm_addr) = site.nm_config("");
    let rt = rt();

    // The NM first: it listens, but is not ready until the RM accepts it.
    let mut nm = Daemon::start("nodemanager", &nm_conf, &nm_sock.env(400_000));
    eventually(
        Duration::from_secs(20),
        "the NM's registering status",
        || {
            nm_sock
                .lines()
                .into_iter()
                .find(|(_, l)| l.starts_with("STATUS=") && l.contains("registering"))
        },
    );
    rt.block_on(async {
        let nmc = NmClient::new(&site.identity()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), nmc.warm(&nm_addr))
            .await
            .expect("the NM answers while registering")
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        nm_sock.first("READY=1"),
        None,
        "the NM said READY before the RM accepted it"
    );

    let mut rm = Daemon::start("resourcemanager", &rm_conf, &rm_sock.env(400_000));
    let rm_ready = rm_sock.wait_for("READY=1", Duration::from_secs(30));
    // At READY the port answers: the very first request succeeds at once.
    rt.block_on(async {
        let client = site.rm_client();
        tokio::time::timeout(Duration::from_millis(800), client.nodes())
            .await
            .expect("the RM answers as soon as it says READY")
            .unwrap();
    });
    let rm_lines = rm_sock.lines();
    let status_before = rm_lines
        .iter()
        .any(|(t, l)| l.starts_with("STATUS=") && *t <= rm_ready);
    assert!(status_before, "no STATUS= before READY: {rm_lines:?}");
    assert!(
        rm_lines
            .iter()
            .any(|(_, l)| l.starts_with("STATUS=listening on")),
        "{rm_lines:?}"
    );

    let nm_ready = nm_sock.wait_for("READY=1", Duration::from_secs(30));
    assert!(nm_ready > rm_ready);
    // At the NM's READY the RM already lists it.
    rt.block_on(async {
        let nodes = site.rm_client().nodes().await.unwrap();
        assert!(
            nodes
                .iter()
                .any(|n| n.address == nm_addr && n.state == NodeState::RUNNING),
            "{nodes:?}"
        );
    });
    assert!(nm_sock
        .lines()
        .iter()
        .any(|(_, l)| l.starts_with("STATUS=node ") && l.contains("registered")));

    assert_watchdog_rate("resourcemanager", &rm_sock, rm_ready);
    assert_watchdog_rate("nodemanager", &nm_sock, nm_ready);

    nm.stop(Duration::from_secs(10));
    rm.stop(Duration::from_secs(10));
    for sock in [&rm_sock, &nm_sock] {
        assert!(sock.first("STOPPING=1").is_some(), "{:?}", sock.lines());
    }
}

#[test]
fn sighup_reloads_the_log_level_and_names_keys_that_need_a_restart() {
    let site = Site::new();
    let sock = NotifySocket::bind(site.path().join("rm.sock"));
    let conf = site.rm_config("log-level = \"info\"\n");
    let mut rm = Daemon::start("resourcemanager", &conf, &sock.env(10_000_000));
    sock.wait_for("READY=1", Duration::from_secs(30));
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("log-level = \"info\"", "log-level = \"debug\"");
    std::fs::write(&conf, format!("{text}max-am-attempts = 5\n")).unwrap();
    rm.signal(libc::SIGHUP);
    eventually(Duration::from_secs(10), "the reload to be logged", || {
        let log = rm.log_text();
        (log.contains("log-level applied") && log.contains("need a restart")).then_some(())
    });
    let log = rm.log_text();
    let restart_line = log.lines().find(|l| l.contains("need a restart")).unwrap();
    assert!(restart_line.contains("max-am-attempts"), "{restart_line}");
    assert!(!restart_line.contains("log-level"), "{restart_line}");
    assert!(sock.first("RELOADING=1").is_some(), "{:?}", sock.lines());
    // Debug logging is on now: a submission's state write logs at debug.
    rt().block_on(async {
        let rm = site.rm_client();
        let id = rm.submit(sleeper("debug")).await.unwrap();
        rm.kill(id).await.unwrap();
    });
    eventually(Duration::from_secs(10), "a DEBUG line", || {
        rm.log_text().contains("DEBUG").then_some(())
    });
    // A broken file is refused and the daemon carries on.
    std::fs::write(&conf, "bogus = 1\n").unwrap();
    rm.signal(libc::SIGHUP);
    eventually(Duration::from_secs(10), "the refusal", || {
        rm.log_text().contains("reload refused").then_some(())
    });
    rt().block_on(async {
        let rm = site.rm_client();
        tokio::time::timeout(Duration::from_secs(5), rm.nodes())
            .await
            .expect("the RM still answers")
            .unwrap();
    });
    rm.stop(Duration::from_secs(10));
}

// ------------------------------------------------------------------ SIGTERM + recovery

fn comparable(mut a: Vec<ApplicationReport>) -> Vec<ApplicationReport> {
    a.sort_by_key(|r| r.id);
    // A finished app's tracking URL is the RM's web address, whose port the
    // test lets the kernel pick anew at each start: compare only its path.
    for r in &mut a {
        if let Some(i) = r.tracking_url.find("/proxy/") {
            r.tracking_url = r.tracking_url[i..].to_string();
        }
    }
    a
}

#[test]
fn sigterm_stops_loaded_daemons_and_the_rm_keeps_its_applications() {
    let site = Site::new();
    // Three AMs hold the one node: no AM share cap (YARN's 0.1 would queue two of them).
    let rm_conf = site.rm_config("maximum-am-resource-percent = 1.0\n");
    let (nm_conf, _) = site.nm_config("");
    let mut rm = Daemon::start("resourcemanager", &rm_conf, &[]);
    let mut nm = Daemon::start("nodemanager", &nm_conf, &[]);
    eventually(Duration::from_secs(30), "the node to register", || {
        (running_nodes(&site) == 1).then_some(())
    });

    // A finished app.
    let out = output_within(
        site.spindle()
            .args(["run-shell", "--num-containers", "1", "--", "true"]),
        JOB_LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out));
    // A killed app, and three apps holding containers on the NM.
    let (killed, loaded) = rt().block_on(async {
        let rm = site.rm_client();
        let killed = rm.submit(sleeper("to-kill")).await.unwrap();
        rm.kill(killed).await.unwrap();
        let mut loaded = Vec::new();
        for i in 0..3 {
            loaded.push(rm.submit(sleeper(&format!("load-{i}"))).await.unwrap());
        }
        (killed, loaded)
    });
    let running = loaded[0];
    eventually(
        Duration::from_secs(30),
        "the loaded apps' AM processes",
        || {
            loaded
                .iter()
                .all(|id| pids_with_env("APPLICATION_ID", &id.to_string()).len() == 1)
                .then_some(())
        },
    );

    // SIGTERM to the loaded NM: clean and prompt; containers stopped; final statuses reported.
    let took = nm.stop(Duration::from_secs(10));
    eprintln!("nodemanager stopped in {took:?}");
    for id in &loaded {
        assert!(
            pids_with_env("APPLICATION_ID", &id.to_string()).is_empty(),
            "{id}'s container outlived its NM"
        );
    }
    let r = app(&site, running);
    assert!(
        r.attempts[0]
            .diagnostics
            .contains("node manager shutting down"),
        "the NM's final statuses did not reach the RM: {r:?}"
    );
    // The node was drained: the next attempt is not placed on it.
    std::thread::sleep(Duration::from_millis(600));
    let r = app(&site, running);
    assert_eq!(r.state, YarnApplicationState::ACCEPTED, "{r:?}");
    assert_eq!(r.attempts.len(), 2, "{r:?}");
    assert_eq!(r.attempts[1].container, None, "{r:?}");

    // SIGTERM to the RM; the restarted RM lists the same applications.
    let before = comparable(apps(&site));
    assert_eq!(before.len(), 5);
    let took = rm.stop(Duration::from_secs(10));
    eprintln!("resourcemanager stopped in {took:?}");
    let mut rm = Daemon::start("resourcemanager", &rm_conf, &[]);
    let after = eventually(Duration::from_secs(30), "the restarted RM", || {
        rt().block_on(async {
            let rm = site.rm_client();
            tokio::time::timeout(Duration::from_secs(3), rm.list(vec![]))
                .await
                .ok()?
                .ok()
        })
    });
    assert_eq!(comparable(after), before);
    let k = app(&site, killed);
    assert_eq!(k.state, YarnApplicationState::KILLED);
    // New ids continue the sequence under the same cluster timestamp.
    let next = rt().block_on(async {
        let rm = site.rm_client();
        let id = rm.submit(sleeper("after-restart")).await.unwrap();
        rm.kill(id).await.unwrap();
        id
    });
    assert_eq!(next.cluster_ts, running.cluster_ts);
    assert_eq!(next.seq, 6);

    // Load the RM again (the NM back, the app's attempt 2 running), then restart it:
    // work-preserving, the attempt goes on and the NM brings its container back.
    let mut nm = Daemon::start("nodemanager", &nm_conf, &[]);
    eventually(Duration::from_secs(30), "attempt 2 running", || {
        let r = app(&site, running);
        (r.attempts.len() == 2 && r.running_containers == 1).then_some(())
    });
    eventually(Duration::from_secs(30), "attempt 2's AM process", || {
        (pids_with_env("APP_ATTEMPT_ID", &running.attempt(2).to_string()).len() == 1).then_some(())
    });
    let finished_before: Vec<_> = comparable(apps(&site))
        .into_iter()
        .filter(|a| a.state.is_terminal())
        .collect();
    rm.stop(Duration::from_secs(10));
    let mut rm = Daemon::start("resourcemanager", &rm_conf, &[]);
    let r = eventually(Duration::from_secs(30), "the restarted RM", || {
        rt().block_on(async {
            let rm = site.rm_client();
            tokio::time::timeout(Duration::from_secs(3), rm.report(running))
                .await
                .ok()?
                .ok()
        })
    });
    assert!(!r.state.is_terminal(), "{r:?}");
    assert_eq!(r.attempts.len(), 2, "{r:?}");
    let finished_after: Vec<_> = comparable(apps(&site))
        .into_iter()
        .filter(|a| a.state.is_terminal())
        .collect();
    assert_eq!(finished_after, finished_before);
    // The NM re-registers with the new RM, which takes attempt 2's container back.
    eventually(
        Duration::from_secs(30),
        "attempt 2's container back",
        || (app(&site, running).running_containers == 1).then_some(()),
    );
    assert_eq!(
        pids_with_env("APP_ATTEMPT_ID", &running.attempt(2).to_string()).len(),
        1,
        "attempt 2's AM runs on"
    );
    assert_eq!(app(&site, running).attempts.len(), 2);
    nm.stop(Duration::from_secs(10));
    rm.stop(Duration::from_secs(10));
}

// ------------------------------------------------------------------ install.sh

fn install_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/install.sh")
}

fn install(destdir: &Path, args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(install_sh())
        .arg("--build-dir")
        .arg(bin_dir())
        .args(args)
        .env("DESTDIR", destdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "install.sh failed: {}", text(&out));
    text(&out)
}

/// path → (kind, mode, mtime, content hash or link target) for the whole tree.
fn listing(root: &Path) -> BTreeMap<String, String> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let what = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.mode() & 0o7777)
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap().hash(&mut h);
                format!(
                    "file {:o} mtime {}.{} sum {:016x}",
                    m.mode() & 0o7777,
                    m.mtime(),
                    m.mtime_nsec(),
                    h.finish()
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

#[test]
fn install_into_a_destdir_twice_changes_nothing_the_second_time() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rm-host");

    // --dry-run changes nothing at all.
    let dry = install(&root, &["--dry-run", "--rm-address", "rm.example:8032"]);
    assert!(dry.contains("would: "), "{dry}");
    assert!(!root.exists(), "--dry-run created {}", root.display());

    let first = install(&root, &["--rm-address", "rm.example:8032"]);
    assert!(first.contains("change(s) made"), "{first}");
    let tree = listing(&root);
    let expected = [
        "usr/lib/spindle/bin/resourcemanager",
        "usr/lib/spindle/bin/nodemanager",
        "usr/lib/spindle/bin/spindle",
        "usr/bin/spindle-resourcemanager",
        "usr/bin/spindle-nodemanager",
        "usr/bin/spindle",
        "usr/share/doc/spindle/README.md",
        "etc/systemd/system/spindle-resourcemanager.service",
        "etc/systemd/system/spindle-nodemanager.service",
        "etc/systemd/system/spindle-shuffle-service.service",
        "etc/systemd/system/spindle.target",
        "etc/sysctl.d/90-spindle.conf",
        "etc/spindle/resourcemanager.toml",
        "etc/spindle/nodemanager.toml",
        "etc/spindle/shuffle-service.toml",
        "etc/spindle/spindle-client.toml",
        "etc/spindle/certs/ca.pem",
        "etc/spindle/certs/ca.key",
        "etc/spindle/certs/node.pem",
        "etc/spindle/certs/node.key",
        "etc/spindle/certs/container.pem",
        "etc/spindle/certs/container.key",
        "etc/spindle/certs/user.pem",
        "etc/spindle/certs/user.key",
        "var/lib/spindle/resourcemanager",
        "var/lib/spindle/nodemanager",
        "var/log/spindle/containers",
        "var/log/spindle/history",
        "etc/spindle/spindle-defaults.conf",
    ];
    for p in expected {
        assert!(tree.contains_key(p), "{p} missing from {tree:#?}");
    }
    assert_eq!(
        tree["usr/bin/spindle-resourcemanager"],
        "link -> ../lib/spindle/bin/resourcemanager"
    );
    assert!(tree["etc/spindle/certs/ca.key"].starts_with("file 600 "));
    assert!(tree["etc/spindle/certs"].starts_with("dir 750"));
    let nm_toml = std::fs::read_to_string(root.join("etc/spindle/nodemanager.toml")).unwrap();
    assert!(
        nm_toml.contains("\nrm-address = \"rm.example:8032\"\n"),
        "{nm_toml}"
    );
    // Work-preserving NM restart is on as installed.
    assert!(nm_toml.contains("\nrecovery = true\n"), "{nm_toml}");
    // Event logs go where the RM reads history from, a directory every container user
    // may write (sticky), and clients know the RM's web address.
    assert_eq!(tree["var/log/spindle/history"], "dir 1777");
    let rm_toml = std::fs::read_to_string(root.join("etc/spindle/resourcemanager.toml")).unwrap();
    assert!(
        rm_toml.contains("\nhistory-dir = \"/var/log/spindle/history\"\n"),
        "{rm_toml}"
    );
    let defaults = std::fs::read_to_string(root.join("etc/spindle/spindle-defaults.conf")).unwrap();
    assert_contains(
        &defaults,
        &[
            "spark.eventLog.enabled true",
            "spark.eventLog.dir /var/log/spindle/history",
        ],
    );
    let client = std::fs::read_to_string(root.join("etc/spindle/spindle-client.toml")).unwrap();
    assert!(
        client.contains("\nrm-web-address = \"rm.example:8088\"\n"),
        "{client}"
    );
    ClientConf::parse(&root.join("etc/spindle"), &client).unwrap();

    // The installed configs, pointed at the installed certificates, pass --check-config.
    let certs = root.join("etc/spindle/certs");
    let tls = |name: &str| format!("\n{}", tls_lines(&certs, name));
    for (daemon, extra) in [
        ("resourcemanager", tls("node")),
        (
            "nodemanager",
            format!(
                "{}container-cert = {}\ncontainer-key = {}\n",
                tls("node"),
                q(&certs.join("container.pem")),
                q(&certs.join("container.key"))
            ),
        ),
    ] {
        let installed = root.join(format!("etc/spindle/{daemon}.toml"));
        let check = tmp.path().join(format!("{daemon}.toml"));
        std::fs::write(
            &check,
            std::fs::read_to_string(&installed).unwrap() + &extra,
        )
        .unwrap();
        let out = Command::new(bin(daemon))
            .args(["--check-config", "--config"])
            .arg(&check)
            .output()
            .unwrap();
        assert!(out.status.success(), "{daemon}: {}", text(&out));
    }

    // Second run: nothing to do, and the tree is byte-for-byte (and mtime) the same.
    let second = install(&root, &["--rm-address", "rm.example:8032"]);
    assert!(second.contains("nothing to do"), "{second}");
    assert_eq!(listing(&root), tree);

    // Another host imports the CA: its own certificates, the same CA, no CA key.
    let nm_root = tmp.path().join("nm-host");
    let ca_dir = certs.display().to_string();
    install(&nm_root, &["--ca-dir", &ca_dir, "--san", "nm1.example"]);
    let nm_certs = nm_root.join("etc/spindle/certs");
    assert_eq!(
        std::fs::read(nm_certs.join("ca.pem")).unwrap(),
        std::fs::read(certs.join("ca.pem")).unwrap()
    );
    assert!(!nm_certs.join("ca.key").exists());
    assert_ne!(
        std::fs::read(nm_certs.join("node.pem")).unwrap(),
        std::fs::read(certs.join("node.pem")).unwrap()
    );
    TlsIdentity::load(&TlsFiles::in_dir(&nm_certs, "node")).unwrap();
    let nm_tree = listing(&nm_root);
    let again = install(&nm_root, &["--ca-dir", &ca_dir, "--san", "nm1.example"]);
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(listing(&nm_root), nm_tree);
}

// ------------------------------------------------------------------ config errors

/// Runs `daemon --config FILE [--check-config]`: expects a refusal on one
/// stderr line that names the file, the key and the reason.
fn refused(daemon: &str, file: &Path, check_only: bool, key: &str, reason: &str) {
    let mut cmd = Command::new(bin(daemon));
    cmd.arg("--config").arg(file);
    if check_only {
        cmd.arg("--check-config");
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{daemon} accepted {}",
        file.display()
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{daemon}: not one line: {stderr}");
    let line = lines[0];
    assert!(
        line.contains(&file.display().to_string()),
        "no file: {line}"
    );
    assert!(line.contains(&format!("key `{key}`")), "no key: {line}");
    assert!(line.contains(reason), "no reason {reason:?}: {line}");
}

#[test]
fn config_errors_are_one_line_naming_file_key_and_reason() {
    let site = Site::new();
    let dir = site.path();
    let rm_base = std::fs::read_to_string(site.rm_config("")).unwrap();
    let nm_base = std::fs::read_to_string(site.nm_config("").0).unwrap();
    let cases: [(&str, &str, String, &str, &str); 6] = [
        (
            "resourcemanager",
            "rm-unknown",
            format!("{rm_base}max-alocation-mb = 1024\n"),
            "max-alocation-mb",
            "unknown key",
        ),
        (
            "resourcemanager",
            "rm-type",
            format!("{rm_base}max-allocation-mb = \"lots\"\n"),
            "max-allocation-mb",
            "invalid type: string \"lots\", expected u64",
        ),
        (
            "resourcemanager",
            "rm-cert",
            rm_base.replace(
                &q(&site.certs().join("node.pem")),
                "\"/nonexistent/spindle/node.pem\"",
            ),
            "cert",
            "/nonexistent/spindle/node.pem: cannot read: No such file or directory",
        ),
        (
            "nodemanager",
            "nm-unknown",
            format!("{nm_base}vcore = 4\n"),
            "vcore",
            "unknown key",
        ),
        (
            "nodemanager",
            "nm-type",
            format!("{nm_base}pmem-check = \"yes\"\n"),
            "pmem-check",
            "invalid type: string \"yes\", expected a boolean",
        ),
        (
            "nodemanager",
            "nm-cert",
            nm_base.replace(
                &q(&site.certs().join("container.key")),
                "\"/nonexistent/spindle/container.key\"",
            ),
            "container-key",
            "/nonexistent/spindle/container.key: cannot read: No such file or directory",
        ),
    ];
    for (daemon, name, body, key, reason) in cases {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, body).unwrap();
        refused(daemon, &file, true, key, reason);
        refused(daemon, &file, false, key, reason);
    }
}

// ------------------------------------------------------------------ units

#[test]
fn units_are_notify_services_that_systemd_accepts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd");
    for name in [
        "spindle-resourcemanager",
        "spindle-nodemanager",
        "spindle-shuffle-service",
    ] {
        let unit = std::fs::read_to_string(dir.join(format!("{name}.service"))).unwrap();
        for line in [
            "Type=notify",
            "Restart=on-failure",
            "User=spindle",
            "WantedBy=spindle.target",
            "PartOf=spindle.target",
            "ExecReload=/bin/kill -HUP $MAINPID",
        ] {
            assert!(unit.lines().any(|l| l == line), "{name}: no {line}");
        }
        for key in [
            "WatchdogSec=",
            "StateDirectory=",
            "LogsDirectory=",
            "ConfigurationDirectory=",
            "TimeoutStopSec=",
        ] {
            assert!(unit.lines().any(|l| l.starts_with(key)), "{name}: no {key}");
        }
        // The binary install.sh links into /usr/bin, reading the installed config.
        let daemon = name.trim_start_matches("spindle-");
        let exec = format!("ExecStart=/usr/bin/{name} --config /etc/spindle/{daemon}.toml");
        assert!(unit.lines().any(|l| l == exec), "{name}: no {exec}");
    }
    let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("spindle.target"))
        .args(
            ["resourcemanager", "nodemanager", "shuffle-service"]
                .map(|d| dir.join(format!("spindle-{d}.service"))),
        )
        .output()
    else {
        eprintln!("systemd-analyze is not installed (apt-get install systemd): verify skipped");
        return;
    };
    // Only the binaries' absence on this machine may be reported.
    let problems: Vec<String> = text(&out)
        .lines()
        .filter(|l| !l.contains("is not executable") && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    assert!(problems.is_empty(), "systemd-analyze verify: {problems:#?}");
}

/// The deploy guide on loopback: install into a DESTDIR, start the RM and an NM from the
/// installed configuration (paths moved into the DESTDIR, ports made free), submit with
/// the installed client files, and the finished app's tracking URL serves its history.
#[test]
fn an_installed_cluster_has_history_pages_for_finished_apps() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("host");
    let rm_addr = format!("127.0.0.1:{}", free_udp_port());
    install(&root, &["--rm-address", &rm_addr]);
    let etc = root.join("etc/spindle");
    let certs = etc.join("certs");
    // What DESTDIR changes: absolute paths are under the root.
    let moved = |file: &str| {
        std::fs::read_to_string(etc.join(file))
            .unwrap()
            .replace("\"/var/", &format!("\"{}/var/", root.display()))
            .replace(" /var/", &format!(" {}/var/", root.display()))
    };
    let web_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tls = |name: &str| tls_lines(&certs, name);
    // An installed config with what this host sets appended, written beside the root.
    let conf = |file: &str, local: String| {
        let p = tmp.path().join(file);
        std::fs::write(&p, moved(file) + &local).unwrap();
        p
    };
    let rm_conf = conf(
        "resourcemanager.toml",
        format!(
            "address = \"{rm_addr}\"\nweb-address = \"127.0.0.1:{web_port}\"\nstate-dir = {}\nheartbeat-interval = \"200ms\"\n{}",
            q(&root.join("var/lib/spindle/resourcemanager")),
            tls("node")
        ),
    );
    let nm_addr = format!("127.0.0.1:{}", free_udp_port());
    let nm_cert = issue_nm_cert(&certs, &nm_addr);
    let nm_conf = conf(
        "nodemanager.toml",
        format!(
            "address = \"{nm_addr}\"\nweb-address = \"127.0.0.1:0\"\nshuffle-service-address = \"127.0.0.1:0\"\nlocal-dir = {}\nlog-dir = {}\n{}container-cert = {}\ncontainer-key = {}\nkill-grace = \"500ms\"\n",
            q(&root.join("var/lib/spindle/nodemanager")),
            q(&root.join("var/log/spindle/containers")),
            tls(&nm_cert),
            q(&certs.join("container.pem")),
            q(&certs.join("container.key")),
        ),
    );
    std::fs::write(
        etc.join("spindle-defaults.conf"),
        moved("spindle-defaults.conf"),
    )
    .unwrap();
    let mut rm = Daemon::start("resourcemanager", &rm_conf, &[]);
    let _nm = Daemon::start("nodemanager", &nm_conf, &[]);

    let out = output_within(
        Command::new(bin("spindle-submit"))
            .env("SPINDLE_CONF_DIR", &etc)
            .args(["--class", "SparkPi"])
            .arg(bin("appmaster"))
            .arg("4"),
        JOB_LIMIT,
    );
    let t = text(&out);
    assert!(
        out.status.success(),
        "{t}\nRM log:\n{}",
        std::fs::read_to_string(&rm.log).unwrap_or_default()
    );
    let url = t
        .lines()
        .find_map(|l| l.strip_prefix("tracking URL: "))
        .expect("a tracking URL")
        .trim()
        .to_string();
    assert!(url.contains("/proxy/application_"), "{url}");
    let app = url.trim_end_matches('/').rsplit('/').next().unwrap();
    assert!(
        root.join(format!("var/log/spindle/history/{app}.jsonl"))
            .is_file(),
        "no event log in the installed history directory"
    );
    let ca = certs.join("ca.pem");
    let get = |u: &str| spindle_tests::curl(Some(&ca), &["-L"], u);
    let (code, page) = get(&url);
    assert_eq!(code, 200, "{url}: {page}");
    assert_contains(&page, &["Jobs", "SparkPi"]);
    let (code, jobs) = get(&format!("{url}api/v1/applications/{app}/jobs"));
    assert_eq!(code, 200, "{jobs}");
    assert!(jobs.contains("\"SUCCEEDED\""), "{jobs}");
    rm.stop(Duration::from_secs(20));
}
