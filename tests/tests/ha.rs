//! RM high availability with real daemons and a real etcd on loopback: a 2-RM group
//! (`spindle cluster up --rm-ha 2 --etcd URL`) runs a static 2-executor app; the
//! active RM is killed with -9 mid-app. The standby becomes active within 5 s, and the
//! app SUCCEEDS on its first attempt with exactly 2 executors added.
//!
//! Needs Debian's `etcd-server` (`/usr/bin/etcd`; `.ci/run` installs it): without it
//! the test says so and passes.

use common::protocol::{ErrorCode, RmRequest, RmResponse, ALPN_RM};
use common::tls::TlsIdentity;
use common::transport::{self, Profile, TransportError};
use spindle_tests::{eventually, Cluster};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ETCD: &str = "/usr/bin/etcd";
const ACTIVE_LINE: &str = "active: serving as the resource manager";

/// A single-member etcd on loopback ports, in its own temp dir; killed on drop.
struct Etcd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for etcd");
        let (client, peer) = (free_tcp_port(), free_tcp_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let child = Command::new(ETCD)
            .args(["--name", "test", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("test={peer_url}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        let e = Self {
            child,
            url,
            _dir: dir,
        };
        eventually(Duration::from_secs(20), "etcd to answer", || {
            std::net::TcpStream::connect(("127.0.0.1", client))
                .ok()
                .map(|_| ())
        });
        e
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_of(c: &Cluster, name: &str) -> String {
    std::fs::read_to_string(c.path().join("logs").join(format!("{name}.log"))).unwrap_or_default()
}

/// Which RM (`resourcemanager`, `resourcemanager-2`) has said it became active, and how
/// often.
fn activations(c: &Cluster, name: &str) -> usize {
    log_of(c, name).matches(ACTIVE_LINE).count()
}

/// The QUIC address in an RM's config.
fn address_of(c: &Cluster, name: &str) -> String {
    let conf = std::fs::read_to_string(c.conf_dir().join(format!("{name}.toml"))).unwrap();
    let line = conf.lines().find(|l| l.starts_with("address = ")).unwrap();
    line.trim_start_matches("address = ")
        .trim_matches('"')
        .to_string()
}

/// What the RM at `addr` answers to a node list, on a plain connection (no failover).
fn ask(c: &Cluster, addr: &str) -> Result<RmResponse, TransportError> {
    let conf = c.client_conf();
    let id = TlsIdentity::load(&conf.tls_files()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let endpoint = transport::client_endpoint(&id, ALPN_RM, Profile::Control)?;
        let conn = transport::connect(&endpoint, addr).await?;
        transport::call(&conn, addr, &RmRequest::ListNodes).await
    })
}

fn kill_9(pid: i32) {
    // SAFETY: a signal to a daemon this test's cluster started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

#[test]
fn the_standby_takes_over_within_5_s_and_the_app_succeeds_on_its_first_attempt() {
    if !Path::new(ETCD).exists() {
        eprintln!("SKIPPED: {ETCD} is missing (apt-get install etcd-server)");
        return;
    }
    let etcd = Etcd::start();
    let c = Cluster::up(2, &["--rm-ha", "2", "--etcd", &etcd.url]);
    let rms = ["resourcemanager", "resourcemanager-2"];
    let active = eventually(Duration::from_secs(10), "an active RM", || {
        rms.into_iter().find(|n| activations(&c, n) == 1)
    });
    let standby = rms.into_iter().find(|n| *n != active).unwrap();
    assert_eq!(activations(&c, standby), 0, "two active RMs");
    assert!(
        log_of(&c, standby).contains("standby"),
        "{}",
        log_of(&c, standby)
    );

    // The standby answers every call with the typed NotActive, naming the active RM.
    let e = ask(&c, &address_of(&c, standby)).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotActive), "{e}");
    let named = e
        .remote()
        .and_then(|w| w.active_address())
        .map(str::to_owned);
    assert_eq!(named, Some(address_of(&c, active)), "{e}");
    assert!(matches!(
        ask(&c, &address_of(&c, active)),
        Ok(RmResponse::Nodes(_))
    ));

    let (run, app) = c.run_static_two_executor_app();

    let killed = Instant::now();
    kill_9(c.pid(active));
    eventually(
        Duration::from_secs(5),
        "the standby to become active",
        || (activations(&c, standby) == 1).then_some(()),
    );
    let took = killed.elapsed();
    // Seen by a client: `spindle node list` through the client conf (both addresses)
    // answers with both nodes RUNNING again.
    eventually(
        Duration::from_secs(15),
        "nodes back on the new active",
        || {
            let out = c.run(&["node", "list"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            (out.status.success() && text.matches("RUNNING").count() >= 2).then_some(())
        },
    );
    let serving = killed.elapsed();
    eprintln!(
        "failover: {active} killed; {standby} active after {} ms, both nodes RUNNING on it after {} ms",
        took.as_millis(),
        serving.as_millis()
    );
    assert!(took < Duration::from_secs(5), "failover took {took:?}");

    c.assert_ran_through(run, &app, "failover");
    // The new active recovered the app from etcd: it names the old one nowhere as active.
    assert!(
        log_of(&c, standby).contains("recovered resource manager state"),
        "{}",
        log_of(&c, standby)
    );
}
