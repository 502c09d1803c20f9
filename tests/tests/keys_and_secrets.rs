//! Token keys and application secrets end to end, with real daemons: an app's
//! shuffle secret comes from the RM (through the NMs), never from whoever
//! registers first; the RM's master keys roll under a running app; a node
//! manager starts a container once per token, and only with the keys it holds.

use common::clock::wall_ms;
use common::protocol::{
    ErrorCode, LaunchSpec, NmRequest, NmResponse, NodeHeartbeatResponse, RmRequest, RmResponse,
    WireError, ALPN_NM, ALPN_RM,
};
use common::tls::{init_cluster_certs, TlsFiles, TlsIdentity};
use common::token::{
    AppSecret, ContainerToken, ContainerTokenIdentifier, ContainerTokenKeys, KeyId, MasterKey,
    RollSchedule,
};
use common::transport::{self, Incoming, Profile, Service};
use common::{ApplicationId, Resource};
use shuffle_service::{FetchError, ShuffleClient};
use spindle_tests::{class_args, dynamic, eventually, sleepy_bursty, Cluster};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The address of NM `i`'s shuffle service (it binds a free port and logs it).
fn shuffle_service_of(c: &Cluster, i: u32) -> String {
    let log = c.path().join("logs").join(format!("nodemanager-{i}.log"));
    eventually(
        Duration::from_secs(10),
        "the shuffle service's address",
        || {
            let text = std::fs::read_to_string(&log).ok()?;
            text.lines()
                .filter(|l| l.contains("shuffle service listening"))
                .find_map(|l| l.split("addr=").nth(1))
                .map(|a| a.split_whitespace().next().unwrap_or(a).to_string())
        },
    )
}

/// A client holding what every container holds: the container certificate.
fn container_client(c: &Cluster) -> ShuffleClient {
    let id = TlsIdentity::load(&TlsFiles::in_dir(&c.path().join("certs"), "container"))
        .expect("container identity");
    ShuffleClient::new(&id).expect("shuffle client")
}

/// A dir an attacking container of app `own` can make on NM `i`: inside its own app
/// dir, with a component named as the victim (what the service checks dirs for).
fn claim_dir(c: &Cluster, i: u32, own: &str, victim: ApplicationId) -> PathBuf {
    let d = c
        .path()
        .join(format!("nm-{i}/local/usercache/mallory/appcache"))
        .join(own)
        .join(victim.to_string());
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[track_caller]
fn unauthorized(r: Result<(), FetchError>, what: &str) {
    match r {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{what}: {e}"),
        Ok(()) => panic!("{what}: accepted"),
    }
}

#[test]
fn another_app_cannot_register_a_victims_app_id_at_the_shuffle_service_first() {
    let c = Cluster::up(2, &[]);
    let services = [shuffle_service_of(&c, 1), shuffle_service_of(&c, 2)];
    // The attacker's own app runs first; the victim gets the next id.
    let out = c.run(&["run-shell", "--num-containers", "1", "--", "true"]);
    assert!(out.status.success(), "{}", spindle_tests::text(&out));
    let own = c.app_ids().pop().expect("the attacker's app");
    let first: ApplicationId = own.parse().unwrap();
    let victim = ApplicationId::new(first.cluster_ts, first.seq + 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_rt = rt.enter();
    let mallory = container_client(&c);
    // Before the victim exists: no node manager registered it, so no one can.
    for (i, s) in services.iter().enumerate() {
        let dir = claim_dir(&c, i as u32 + 1, &own, victim);
        let r = rt.block_on(mallory.register(s, victim, "1", "mallory", &[&dir]));
        unauthorized(r, &format!("claiming {victim} first at {s}"));
    }
    // The victim shuffles through the services; it pauses after its map stage.
    let args = class_args(
        &["--num-executors", "2"],
        &["spark.shuffle.service.enabled=true"],
        "ShuffleReuse",
        &["--records", "200000", "--keys", "50", "--pause-ms", "3000"],
    );
    let run = c.submit_running(&args);
    eventually(Duration::from_secs(30), "the victim's map stage", || {
        run.output().contains("map stage done").then_some(())
    });
    assert_eq!(
        c.app_ids().pop().as_deref(),
        Some(victim.to_string().as_str())
    );
    // Its executors registered: another secret is refused, for registering and fetching.
    for (i, s) in services.iter().enumerate() {
        let dir = claim_dir(&c, i as u32 + 1, &own, victim);
        let r = rt.block_on(mallory.register(s, victim, "evil", "mallory", &[&dir]));
        unauthorized(r, &format!("registering into {victim} at {s}"));
        let blocks = ["shuffle_0_0_0".to_string()];
        let r = rt.block_on(mallory.fetch(s, victim, "1", "mallory", &blocks));
        unauthorized(r.map(|_| ()), &format!("fetching {victim}'s blocks at {s}"));
    }
    // The victim's executors still register, write and fetch.
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("job 2: 50 keys, all counts right"), "{out}");
}

/// Occurrences of `needle` in daemon `name`'s log.
fn log_count(c: &Cluster, name: &str, needle: &str) -> usize {
    std::fs::read_to_string(c.path().join("logs").join(format!("{name}.log")))
        .unwrap_or_default()
        .matches(needle)
        .count()
}

#[test]
fn keys_roll_under_a_running_app_and_it_goes_on() {
    // Keys roll every 4 s; a new container-token key reaches the nodes 2 s ahead.
    let c = Cluster::up(
        2,
        &[
            "--nm-expiry",
            "2s",
            "--heartbeat-interval",
            "200ms",
            "--token-key-roll-interval",
            "4s",
            "--container-token-expiry",
            "4s",
        ],
    );
    // About 12 s: executors come and go, each started with a token of the key of
    // its time; the AM's first AMRM token is refused from 8 s on, so it must have
    // taken the ones pushed to it.
    let app_args = sleepy_bursty(3, 8, 400, 4000);
    let args = class_args(
        &["--executor-cores", "1"],
        &dynamic(0, 2, 1, "1s"),
        "Bursty",
        &app_args,
    );
    let mut run = c.submit_running(&args);
    // An AM whose calls are refused waits for executors forever: bound it.
    eventually(Duration::from_secs(90), "the app to end", || {
        (!run.running()).then_some(())
    });
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
    assert_eq!(out.matches("answer 28 (expected 28)").count(), 3, "{out}");
    let amrm_rolls = log_count(&c, "resourcemanager", "AMRM-token master key rolled");
    assert!(amrm_rolls >= 2, "{amrm_rolls} AMRM key rolls");
    for nm in ["nodemanager-1", "nodemanager-2"] {
        let rolls = log_count(&c, nm, "container-token keys rolled");
        assert!(rolls >= 3, "{nm}: {rolls} key updates");
        assert_eq!(log_count(&c, nm, "container token refused"), 0, "{nm}");
    }
}

/// A stand-in RM for one node manager: it answers registration and heartbeats
/// with the container-token keys the test rolls, and notes the version the NM
/// says it holds.
struct KeyServer {
    keys: Mutex<ContainerTokenKeys>,
    held: AtomicU64,
}

impl Service for KeyServer {
    type Req = RmRequest;
    type Resp = RmResponse;

    async fn handle(self: Arc<Self>, inc: Incoming<RmRequest>) {
        let resp = self.answer(&inc.req);
        inc.reply(&resp).await;
    }
}

impl KeyServer {
    fn answer(&self, req: &RmRequest) -> RmResponse {
        let keys = self.keys.lock().unwrap();
        match req {
            RmRequest::RegisterNode { .. } => RmResponse::NodeRegistered {
                cluster_ts: 1,
                heartbeat_interval_ms: 50,
                token_keys: keys.for_nodes(),
                registered_ms: 0,
            },
            RmRequest::NodeHeartbeat {
                token_keys_version, ..
            } => {
                self.held.store(*token_keys_version, Ordering::SeqCst);
                RmResponse::Heartbeat(NodeHeartbeatResponse {
                    token_keys: (*token_keys_version != keys.version()).then(|| keys.for_nodes()),
                    ..Default::default()
                })
            }
            other => RmResponse::Error(WireError::new(
                ErrorCode::BadRequest,
                format!("not served here: {other:?}"),
            )),
        }
    }

    /// Rolls the keys at monotonic `ms` (the schedule's own time line) and waits
    /// until the NM says, in a heartbeat, that it holds them.
    async fn roll(&self, ms: u64) {
        let version = {
            let mut keys = self.keys.lock().unwrap();
            keys.poll(ms);
            keys.version()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.held.load(Ordering::SeqCst) != version {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the NM did not take the keys"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_manager_starts_a_container_once_per_token_and_only_with_current_keys() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    init_cluster_certs(&certs, "test", "127.0.0.1:0", &[]).unwrap();
    let rm_identity = TlsIdentity::load(&TlsFiles::in_dir(&certs, "rm")).unwrap();
    let rm_endpoint = transport::server_endpoint(
        "127.0.0.1:0".parse().unwrap(),
        &rm_identity,
        ALPN_RM,
        Profile::Control,
    )
    .unwrap();
    let rm_address = rm_endpoint.local_addr().unwrap().to_string();
    // Keys roll every 1000 ms of the test's own time line, the next made 100 ms ahead.
    let rm = Arc::new(KeyServer {
        keys: Mutex::new(ContainerTokenKeys::new(
            RollSchedule {
                period_ms: 1000,
                activation_delay_ms: 100,
            },
            0,
        )),
        held: AtomicU64::new(0),
    });
    tokio::spawn(transport::serve(rm_endpoint, rm.clone()));
    let nm_dir = dir.path().join("nm");
    let config = nodemanager::NmConfig {
        address: "127.0.0.1:0".into(),
        rm_address,
        local_dir: nm_dir.join("local"),
        log_dir: nm_dir.join("logs"),
        ca: certs.join("ca.pem"),
        cert: certs.join("node.pem"),
        key: certs.join("node.key"),
        container_cert: certs.join("container.pem"),
        container_key: certs.join("container.key"),
        shuffle_service_address: "127.0.0.1:0".into(),
        web_address: String::new(),
        ..Default::default()
    };
    let mut nm = nodemanager::start(&config).await.unwrap();
    nm.wait_registered().await;
    let node = nm.node_id.clone();
    let app = ApplicationId::new(1, 1);
    let secret = AppSecret::generate();
    let ident = |n: u64| ContainerTokenIdentifier {
        container_id: app.attempt(1).container(n),
        app,
        node_id: node.clone(),
        resource: Resource::new(128, 1),
        user: "tester".into(),
        issued_ms: wall_ms(),
        expiry_ms: wall_ms() + 600_000,
        app_secret: secret.clone(),
    };
    let sign = |n: u64| rm.keys.lock().unwrap().sign(ident(n));
    // The AM's view: start containers with tokens.
    let am = TlsIdentity::load(&TlsFiles::in_dir(&certs, "container")).unwrap();
    let ep = transport::client_endpoint(&am, ALPN_NM, Profile::Control).unwrap();
    let nm_address = nm.addr.to_string();
    let conn = transport::connect(&ep, &nm_address).await.unwrap();
    let start = |token: ContainerToken| {
        let (conn, addr) = (conn.clone(), nm_address.clone());
        async move {
            let req = NmRequest::StartContainer {
                token,
                launch: LaunchSpec {
                    command: vec!["true".into()],
                    ..Default::default()
                },
            };
            transport::call::<_, NmResponse>(&conn, &addr, &req).await
        }
    };
    let refused = |r: Result<NmResponse, transport::TransportError>, needle: &str| {
        let e = r.expect_err("started");
        assert_eq!(e.code(), Some(ErrorCode::InvalidToken), "{e}");
        assert!(e.to_string().contains(needle), "{needle:?} not in: {e}");
    };

    // A token starts its container once.
    let first = sign(2);
    let kept_by_1 = sign(3);
    assert_eq!(first.key_id, KeyId(1));
    start(first.clone()).await.unwrap();
    refused(start(first).await, "already used");
    // Starting it registered the app's secret with the node's shuffle service:
    // its executors register with it, and no other secret is taken.
    let shuffle = ShuffleClient::new(&am).unwrap();
    let served = nm.shuffle_service.clone().expect("aux shuffle service");
    let exec_dir = config
        .local_dir
        .join("usercache/tester/appcache")
        .join(app.to_string())
        .join("blockmgr-1");
    std::fs::create_dir_all(&exec_dir).unwrap();
    let e = shuffle
        .register(&served, app, "1", "mallory", &[&exec_dir])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{e}");
    shuffle
        .register(&served, app, "1", secret.as_str(), &[&exec_dir])
        .await
        .unwrap();

    // Key 2 takes over: key 1 is the previous one, still accepted.
    rm.roll(900).await;
    rm.roll(1000).await;
    let by_2 = sign(4);
    assert_eq!(by_2.key_id, KeyId(2));
    start(by_2).await.unwrap();
    // Key 3 takes over: a token of key 1, older than the previous key, is refused.
    rm.roll(1900).await;
    rm.roll(2000).await;
    refused(
        start(kept_by_1).await,
        "key 1, which this node does not accept",
    );
    start(sign(5)).await.unwrap();
    // Forged under a key id the node holds.
    let forged = MasterKey::generate(KeyId(3)).sign_container(ident(6));
    refused(start(forged).await, "bad signature");
    nm.shutdown().await;
}
