//! Trust boundaries end to end (issue 13): a certificate is a role, checked on every
//! call, and an application's ACLs decide who may kill it. Real RM and NM processes on
//! loopback; each test is one hole that was open before, probed with a raw client that
//! presents a chosen certificate.

use common::identity::Role;
use common::protocol::{
    AppSubmission, ContainerState, ContainerStatus, ErrorCode, FinalApplicationStatus, LaunchSpec,
    NmRequest, NmResponse, NodeState, RmRequest, RmResponse, ALPN_NM, ALPN_RM,
};
use common::tls::{ClusterCa, TlsFiles, TlsIdentity};
use common::transport::{self, Profile, TransportError};
use common::{ApplicationId, ContainerId, NodeId, Resource};
use spindle_tests::{class_args, failure, success, Cluster};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// A cluster of `nodes` NMs whose RM admin is carol, with certificates for alice (a
/// plain user) and carol.
fn carol_admins(nodes: u32) -> (Cluster, Certs, TlsFiles, TlsFiles) {
    let c = Cluster::up(nodes, &["--admin-acl", "carol"]);
    let certs = Certs::of(&c);
    let alice = certs.issue("alice", "user:alice");
    let carol = certs.issue("carol", "user:carol");
    (c, certs, alice, carol)
}

/// The certificates of a cluster started by `spindle cluster up`.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn of(c: &Cluster) -> Self {
        Self {
            dir: c.path().join("certs"),
        }
    }

    /// `NAME.pem`/`NAME.key` in the certificates directory (`user`, `container`, ...).
    fn named(&self, name: &str) -> TlsFiles {
        TlsFiles::in_dir(&self.dir, name)
    }

    /// Issues a certificate for `common_name` (e.g. `user:alice`) as `NAME.pem`.
    fn issue(&self, name: &str, common_name: &str) -> TlsFiles {
        ClusterCa::load(&self.dir)
            .unwrap()
            .issue(&self.dir, name, common_name, &[])
            .unwrap();
        self.named(name)
    }

    /// The certificate of the NM whose node id is `node`, as `cluster up` issued it.
    fn node(&self, c: &Cluster, node: &NodeId) -> TlsFiles {
        (1..=8)
            .map(|i| c.path().join(format!("nm-{i}")))
            .map(|d| {
                TlsFiles::new(
                    &self.dir.join("ca.pem"),
                    &d.join("node.pem"),
                    &d.join("node.key"),
                )
            })
            .find(|f| {
                f.cert.is_file() && TlsIdentity::load(f).unwrap().role() == Role::Node(node.clone())
            })
            .unwrap_or_else(|| panic!("no certificate of node {node}"))
    }
}

type Reply<T> = Result<T, TransportError>;

/// A connection to `addr` over `alpn` presenting `files`.
async fn connect(files: &TlsFiles, alpn: &[u8], addr: &str) -> Reply<quinn::Connection> {
    let id = TlsIdentity::load(files).unwrap();
    let ep = transport::client_endpoint(&id, alpn, Profile::Control).unwrap();
    transport::connect(&ep, addr).await
}

/// One `spindle-rm/1` request presenting `files`.
async fn rm_call(files: &TlsFiles, addr: &str, req: &RmRequest) -> Reply<RmResponse> {
    transport::call(&connect(files, ALPN_RM, addr).await?, addr, req).await
}

/// One `spindle-rm/1` request presenting `files`, which the RM must refuse as
/// `Unauthorized`: its message.
async fn rm_refused(files: &TlsFiles, addr: &str, req: &RmRequest) -> String {
    refused(rm_call(files, addr, req).await, ErrorCode::Unauthorized)
}

/// One `spindle-nm/1` request presenting `files`.
async fn nm_call(files: &TlsFiles, addr: &str, req: &NmRequest) -> Reply<NmResponse> {
    transport::call(&connect(files, ALPN_NM, addr).await?, addr, req).await
}

/// Asserts `r` is the typed refusal `code`; its message.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: Reply<T>, code: ErrorCode) -> String {
    match r {
        Err(e) if e.code() == Some(code) => e.remote().unwrap().message.clone(),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

/// An application whose AM prints a line and sleeps (it never registers: it holds its
/// container in ACCEPTED until killed), as the cluster's user.
fn sleeper(c: &Cluster, name: &str) -> AppSubmission {
    let launch = LaunchSpec {
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("echo {name}-is-up; exec sleep 300"),
        ],
        ..Default::default()
    };
    AppSubmission {
        max_attempts: Some(1),
        ..c.submission(name, launch)
    }
}

/// Submits a sleeper as the cluster's user and waits for its AM container: (app, AM
/// container, its node).
async fn running_sleeper(c: &Cluster, name: &str) -> (ApplicationId, ContainerId, NodeId) {
    let rm = c.rm_client();
    let app = rm.submit(sleeper(c, name)).await.unwrap();
    for _ in 0..400 {
        let r = rm.report(app).await.unwrap();
        if let (Some(am), Some(node)) = (r.am_container(), r.am_node()) {
            return (app, am, node.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{app} got no AM container");
}

/// Its state, and the containers it holds, as the RM reports them.
async fn still_running(c: &Cluster, app: ApplicationId) {
    let r = c.rm_client().report(app).await.unwrap();
    assert!(
        !r.state.is_terminal(),
        "{app} is {}: {}",
        r.state,
        r.diagnostics
    );
    assert_eq!(r.running_containers, 1, "{r:?}");
    assert_eq!(r.attempts.len(), 1, "{r:?}");
}

/// One request of each kind on `spindle-rm/1`, about `node` and `app`.
fn every_rm_request(c: &Cluster, node: &NodeId, app: ApplicationId) -> Vec<RmRequest> {
    let attempt = app.attempt(1);
    vec![
        RmRequest::HasFile {
            sha256: "0".repeat(64),
        },
        RmRequest::UploadFile {
            sha256: "0".repeat(64),
            size: 0,
        },
        RmRequest::Submit(sleeper(c, "sneaky")),
        RmRequest::GetApplication { app },
        RmRequest::ListApplications { states: vec![] },
        RmRequest::Kill { app },
        RmRequest::ListNodes,
        registration(node, "127.0.0.1:9", vec![]),
        RmRequest::NodeHeartbeat {
            node_id: node.clone(),
            statuses: vec![],
            token_keys_version: 0,
            health: None,
        },
        RmRequest::FetchFile {
            sha256: "0".repeat(64),
        },
        RmRequest::RegisterAm {
            attempt,
            token: "00".into(),
            host: "h".into(),
            tracking_url: String::new(),
        },
        RmRequest::SubscribeAm {
            attempt,
            token: "00".into(),
        },
        RmRequest::Allocate {
            attempt,
            token: "00".into(),
            asks: vec![],
            releases: vec![],
            progress: 0.0,
        },
        RmRequest::FinishAm {
            attempt,
            token: "00".into(),
            final_status: FinalApplicationStatus::FAILED,
            diagnostics: "forged".into(),
            tracking_url: String::new(),
        },
        RmRequest::DecommissionNode {
            node_id: node.clone(),
            timeout_ms: Some(1),
        },
        RmRequest::RecommissionNode {
            node_id: node.clone(),
        },
        RmRequest::UnregisterNode {
            node_id: node.clone(),
            message: "forged".into(),
        },
    ]
}

/// `node` registering from `address`, with a large capacity and `running` containers.
fn registration(node: &NodeId, address: &str, running: Vec<ContainerStatus>) -> RmRequest {
    RmRequest::RegisterNode {
        node_id: node.clone(),
        address: address.into(),
        http_address: String::new(),
        capability: Resource::new(1 << 20, 64),
        running,
        apps: vec![],
        isolation: Default::default(),
    }
}

#[test]
fn the_container_certificate_alone_gets_nothing_from_the_rm() {
    let c = Cluster::up(2, &[]);
    let certs = Certs::of(&c);
    let addr = c.client_conf().rm_address;
    let container = certs.named("container");
    rt().block_on(async {
        let (app, _, node) = running_sleeper(&c, "victim").await;
        // RegisterNode, as a real node: refused, and no key comes back.
        let reg = &every_rm_request(&c, &node, app)[7];
        let m = rm_refused(&container, &addr, reg).await;
        assert_eq!(
            m,
            format!("RegisterNode needs the certificate of node {node}; this is a container")
        );
        // Every request is refused: no reply carries anything, let alone a key.
        for req in every_rm_request(&c, &node, app) {
            let r = rm_call(&container, &addr, &req).await;
            assert_eq!(
                r.as_ref().err().and_then(|e| e.code()),
                Some(ErrorCode::Unauthorized),
                "{}: {r:?}",
                req.kind()
            );
        }
        let list = RmRequest::ListApplications { states: vec![] };
        let m = rm_refused(&container, &addr, &list).await;
        assert!(m.contains("needs a user certificate"), "{m}");
        rm_refused(&container, &addr, &RmRequest::Kill { app }).await;
        still_running(&c, app).await;
        let nodes = c.rm_client().nodes().await.unwrap();
        assert!(
            nodes.iter().all(|n| n.address != "127.0.0.1:9"),
            "{nodes:?}"
        );
    });
    // The RM says who asked for what.
    let log = std::fs::read_to_string(c.path().join("logs/resourcemanager.log")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("request refused")
            && l.contains("RegisterNode")
            && l.contains("a container")),
        "{log}"
    );
}

#[test]
fn a_user_certificate_cannot_register_a_node_or_kill_another_users_app() {
    let c = Cluster::up(1, &[]);
    let certs = Certs::of(&c);
    let addr = c.client_conf().rm_address;
    let alice = certs.issue("alice", "user:alice");
    let owner = c.user();
    let app = rt().block_on(async {
        let (app, _, node) = running_sleeper(&c, "owned").await;
        let reg = &every_rm_request(&c, &node, app)[7];
        let m = refused(rm_call(&alice, &addr, reg).await, ErrorCode::Unauthorized);
        assert_eq!(m, format!("RegisterNode needs the certificate of node {node}; this is user alice"));
        let m = refused(rm_call(&alice, &addr, &RmRequest::Kill { app }).await, ErrorCode::Unauthorized);
        assert_eq!(
            m,
            format!("user alice may not kill application {app}: only its owner {owner}, its modify ACL (spark.modify.acls) and the RM's admin-acl may")
        );
        still_running(&c, app).await;
        // Alice still sees it (its ACLs are off, as YARN lists every app).
        let r = rm_call(&alice, &addr, &RmRequest::GetApplication { app }).await.unwrap();
        assert!(matches!(r, RmResponse::Application(_)), "{r:?}");
        app
    });
    // `spindle app kill` as alice says so and fails.
    let conf = client_conf_as(&c, "alice", &alice);
    let out = c
        .spindle()
        .env("SPINDLE_CONF_DIR", &conf)
        .args(["app", "kill", &app.to_string()])
        .output()
        .unwrap();
    let t = failure(&out);
    assert!(
        t.contains(&format!("refused to kill {app}: user alice may not kill")),
        "{t}"
    );
    rt().block_on(still_running(&c, app));
    // Its owner may.
    success(&c.run(&["app", "kill", &app.to_string()]));
    let r = rt()
        .block_on(async { c.rm_client().report(app).await })
        .unwrap();
    assert_eq!(r.state.to_string(), "KILLED");
}

/// A client conf dir like the cluster's, presenting `files`.
fn client_conf_as(c: &Cluster, name: &str, files: &TlsFiles) -> PathBuf {
    let dir = c.path().join(format!("conf-{name}"));
    let mut conf = c.client_conf();
    conf.cert = files.cert.clone();
    conf.key = files.key.clone();
    conf.write(&dir).unwrap();
    dir
}

#[test]
fn a_node_cannot_complete_another_nodes_container_or_take_its_id() {
    let c = Cluster::up(2, &["--heartbeat-interval", "200ms"]);
    let certs = Certs::of(&c);
    let addr = c.client_conf().rm_address;
    rt().block_on(async {
        let (app, am, a) = running_sleeper(&c, "placed").await;
        let nodes = c.rm_client().nodes().await.unwrap();
        let b = nodes.iter().map(|n| n.node_id.clone()).find(|n| *n != a).unwrap();
        let a_address = nodes.iter().find(|n| n.node_id == a).unwrap().address.clone();
        let b_cert = certs.node(&c, &b);
        let done = ContainerStatus {
            container_id: am,
            state: ContainerState::COMPLETE,
            exit_status: 0,
            diagnostics: "forged".into(),
            resource: Resource::new(512, 1),
        };
        // B, as itself, reports A's container complete: refused.
        let hb = RmRequest::NodeHeartbeat {
            node_id: b.clone(),
            statuses: vec![done.clone()],
            token_keys_version: 0,
            health: None,
        };
        let m = refused(rm_call(&b_cert, &addr, &hb).await, ErrorCode::Unauthorized);
        assert_eq!(
            m,
            format!("node {b} reports container {am}, which runs on node {a}: a node reports only its own containers")
        );
        // B posing as A: refused by the table.
        let hb = RmRequest::NodeHeartbeat {
            node_id: a.clone(),
            statuses: vec![done],
            token_keys_version: 0,
            health: None,
        };
        let m = refused(rm_call(&b_cert, &addr, &hb).await, ErrorCode::Unauthorized);
        assert_eq!(m, format!("NodeHeartbeat needs the certificate of node {a}; this is node {b}"));
        // Nor can B re-register A's node id (with its own address), or claim A's container.
        let reg = registration(&a, "127.0.0.1:9", vec![]);
        let m = refused(rm_call(&b_cert, &addr, &reg).await, ErrorCode::Unauthorized);
        assert_eq!(m, format!("RegisterNode needs the certificate of node {a}; this is node {b}"));
        let b_address = nodes.iter().find(|n| n.node_id == b).unwrap().address.clone();
        let running = vec![ContainerStatus {
            container_id: am,
            state: ContainerState::RUNNING,
            exit_status: 0,
            diagnostics: String::new(),
            resource: Resource::new(512, 1),
        }];
        let claim = registration(&b, &b_address, running);
        refused(rm_call(&b_cert, &addr, &claim).await, ErrorCode::Unauthorized);
        // A few heartbeats later: the container still runs on A, which keeps its address.
        tokio::time::sleep(Duration::from_millis(600)).await;
        still_running(&c, app).await;
        let r = c.rm_client().report(app).await.unwrap();
        assert_eq!(r.am_node(), Some(&a));
        let nodes = c.rm_client().nodes().await.unwrap();
        let a_now = nodes.iter().find(|n| n.node_id == a).unwrap();
        assert_eq!(a_now.address, a_address);
        assert_eq!(a_now.num_containers, 1);
        assert_eq!(a_now.state.to_string(), "RUNNING");
    });
}

#[test]
fn a_submission_is_made_as_the_certificates_user_with_a_usable_name() {
    let c = Cluster::up(1, &[]);
    let certs = Certs::of(&c);
    let addr = c.client_conf().rm_address;
    let me = c.user();
    let user = certs.named("user");
    rt().block_on(async {
        let as_user = |name: &str| {
            RmRequest::Submit(AppSubmission {
                user: name.into(),
                ..sleeper(&c, "x")
            })
        };
        let m = rm_refused(&user, &addr, &as_user("mallory")).await;
        assert_eq!(
            m,
            format!(
                "Submit as user mallory needs the certificate of user mallory; this is user {me}"
            )
        );
        for bad in ["../../etc", "a/b", "..", "/root"] {
            let m = refused(
                rm_call(&user, &addr, &as_user(bad)).await,
                ErrorCode::BadRequest,
            );
            assert!(m.contains("is not valid"), "{bad}: {m}");
        }
        assert!(
            c.rm_client().list(vec![]).await.unwrap().is_empty(),
            "nothing was submitted"
        );
        // Its own name is fine.
        let r = rm_call(&user, &addr, &as_user(&me)).await.unwrap();
        assert!(matches!(r, RmResponse::Submitted(_)), "{r:?}");
    });
}

/// `curl` of a PUT to the app's state, presenting `cert` (or nothing).
fn put_state(c: &Cluster, app: ApplicationId, cert: Option<&TlsFiles>) -> (u16, String) {
    let files = cert.map(|f| (f.cert.display().to_string(), f.key.display().to_string()));
    let mut args = match &files {
        Some((cert, key)) => vec!["--cert", cert, "--key", key],
        None => vec![],
    };
    args.extend([
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"state":"KILLED"}"#,
    ]);
    rm_web(c, &format!("/ws/v1/cluster/apps/{app}/state"), &args)
}

/// Decommissioning is an admin's (`admin-acl`); a node unregisters only itself.
#[test]
fn only_admins_decommission_and_a_node_unregisters_only_itself() {
    let (c, certs, alice, carol) = carol_admins(2);
    let addr = c.client_conf().rm_address;
    rt().block_on(async {
        let nodes = c.rm_client().nodes().await.unwrap();
        let (one, two) = (nodes[0].node_id.clone(), nodes[1].node_id.clone());
        let decommission = RmRequest::DecommissionNode {
            node_id: one.clone(),
            timeout_ms: None,
        };
        let m = rm_refused(&alice, &addr, &decommission).await;
        assert_eq!(
            m,
            "user alice may not decommission nodes: only the RM's admin-acl may (admin-acl in resourcemanager.toml)"
        );
        // Node two's certificate may neither decommission nor unregister node one.
        let node_two = certs.node(&c, &two);
        let m = rm_refused(&node_two, &addr, &decommission).await;
        assert!(m.contains("needs a user certificate"), "{m}");
        let unregister = RmRequest::UnregisterNode {
            node_id: one.clone(),
            message: "forged".into(),
        };
        let m = rm_refused(&node_two, &addr, &unregister).await;
        assert_eq!(
            m,
            format!("UnregisterNode needs the certificate of node {one}; this is node {two}")
        );
        let state = |n: &NodeId, nodes: &[common::protocol::NodeReport]| {
            nodes.iter().find(|r| r.node_id == *n).unwrap().state
        };
        let nodes = c.rm_client().nodes().await.unwrap();
        assert_eq!(state(&one, &nodes), NodeState::RUNNING);
        // The admin may.
        rm_call(&carol, &addr, &decommission).await.unwrap();
        let nodes = c.rm_client().nodes().await.unwrap();
        assert_ne!(state(&one, &nodes), NodeState::RUNNING);
    });
}

#[test]
fn rest_kill_needs_the_owners_or_an_admins_user_certificate() {
    let (c, certs, alice, carol) = carol_admins(1);
    let (first, second) = rt().block_on(async {
        let (a, ..) = running_sleeper(&c, "first").await;
        let (b, ..) = running_sleeper(&c, "second").await;
        (a, b)
    });
    let (code, body) = put_state(&c, first, None);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("AuthorizationException"), "{body}");
    let (code, body) = put_state(&c, first, Some(&certs.named("container")));
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("needs a user certificate") && body.contains("a container"),
        "{body}"
    );
    let (code, body) = put_state(&c, first, Some(&alice));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("user alice may not kill"), "{body}");
    rt().block_on(still_running(&c, first));
    // The owner, then an admin.
    let (code, body) = put_state(&c, first, Some(&certs.named("user")));
    assert_eq!((code, body.as_str()), (200, r#"{"state":"KILLED"}"#));
    let (code, body) = put_state(&c, second, Some(&carol));
    assert_eq!((code, body.as_str()), (200, r#"{"state":"KILLED"}"#));
    for app in [first, second] {
        let r = rt()
            .block_on(async { c.rm_client().report(app).await })
            .unwrap();
        assert_eq!(r.state.to_string(), "KILLED");
    }
}

#[test]
fn container_logs_need_the_owner_or_a_token_of_the_app() {
    let c = Cluster::up(2, &[]);
    let certs = Certs::of(&c);
    let alice = certs.issue("alice", "user:alice");
    rt().block_on(async {
        let (app, am, node) = running_sleeper(&c, "logged").await;
        let nodes = c.rm_client().nodes().await.unwrap();
        let nm = nodes
            .iter()
            .find(|n| n.node_id == node)
            .unwrap()
            .address
            .clone();
        let other = nodes
            .iter()
            .find(|n| n.node_id != node)
            .unwrap()
            .node_id
            .clone();
        let read = NmRequest::ReadLog {
            container_id: am,
            file: "stdout".into(),
            offset: 0,
            max_bytes: 1 << 16,
            token: None,
        };
        let status = NmRequest::GetContainerStatus {
            container_id: am,
            token: None,
        };
        // The owner reads the AM's stdout once it has written it.
        let user = certs.named("user");
        let mut got = String::new();
        for _ in 0..200 {
            if let Ok(NmResponse::Log { data, .. }) = nm_call(&user, &nm, &read).await {
                got = String::from_utf8_lossy(&data).into_owned();
                if got.contains("logged-is-up") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(got.contains("logged-is-up"), "{got:?}");
        let r = nm_call(&user, &nm, &status).await.unwrap();
        assert!(
            matches!(r, NmResponse::Status(ref s) if s.container_id == am),
            "{r:?}"
        );
        // Anyone else without a token of the app: refused, naming who may.
        let other_node = certs.node(&c, &other);
        for (who, files) in [
            ("a container", certs.named("container")),
            ("user alice", alice.clone()),
            (&*format!("node {other}"), other_node),
        ] {
            for req in [&read, &status] {
                let m = refused(nm_call(&files, &nm, req).await, ErrorCode::Unauthorized);
                assert!(
                    m.contains(&format!("needs a container token of {app}")),
                    "{m}"
                );
                assert!(m.ends_with(&format!("this is {who}")), "{m}");
            }
        }
        still_running(&c, app).await;
    });
    let nm_log: String = ["nodemanager-1", "nodemanager-2"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(c.path().join(format!("logs/{n}.log"))).unwrap_or_default()
        })
        .collect();
    // One line says both: the refusal names the request it refused.
    assert!(
        nm_log
            .lines()
            .any(|l| l.contains("request refused") && l.contains("ReadLog")),
        "{nm_log}"
    );
}

#[test]
fn spindle_submit_runs_as_the_certificates_user_and_tails_the_driver() {
    let c = Cluster::up(1, &[]);
    let acls = ["spark.acls.enable=true", "spark.modify.acls=carol"];
    let t = c.submit_ok(&class_args(&[], &acls, "SparkPi", &["4"]));
    // The driver's stdout, read from its NM with the user certificate.
    assert!(t.contains("Pi is roughly"), "{t}");
    let list = rt()
        .block_on(async { c.rm_client().list(vec![]).await })
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].user, c.user());
    // Private to its owner (carol may modify it, which is not viewing): alice sees nothing.
    let alice = Certs::of(&c).issue("alice", "user:alice");
    let conf = client_conf_as(&c, "alice", &alice);
    let out = c
        .spindle()
        .env("SPINDLE_CONF_DIR", &conf)
        .args(["app", "list"])
        .output()
        .unwrap();
    let t = success(&out);
    assert!(t.contains("Total number of applications:0"), "{t}");
}

/// `curl` of the RM's web `path` with `args` (method, credentials) added; (code, body).
fn rm_web(c: &Cluster, path: &str, args: &[&str]) -> (u16, String) {
    let url = format!("https://{}{path}", c.client_conf().rm_web_address);
    let out = Command::new("curl")
        .args(["-sS", "-m", "10", "--cacert"])
        .arg(c.path().join("certs/ca.pem"))
        .args(args)
        .args(["-w", "\n%{http_code}", &url])
        .output()
        .expect("run curl");
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn the_web_needs_a_user_unless_anonymous_reads_are_allowed_and_takes_bearer_tokens() {
    let c = Cluster::up(1, &["--web-anonymous-read", "false"]);
    let certs = Certs::of(&c);
    let user = certs.named("user");
    let (cert, key) = (
        user.cert.display().to_string(),
        user.key.display().to_string(),
    );
    let app = rt().block_on(async { running_sleeper(&c, "web").await.0 });
    // Anonymous: nothing to read.
    for path in ["/ws/v1/cluster/apps", "/cluster", "/metrics"] {
        let (code, body) = rm_web(&c, path, &[]);
        assert_eq!(code, 401, "{path}: {body}");
    }
    // A user certificate reads.
    let (code, body) = rm_web(&c, "/ws/v1/cluster/apps", &["--cert", &cert, "--key", &key]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&app.to_string()), "{body}");
    // So does that user's bearer token; a forged one is refused.
    let out = c.run(&["token", "create", "--ttl", "1h"]);
    let token = success(&out).trim().to_string();
    assert!(token.starts_with("spindle1."), "{token}");
    let bearer = format!("Authorization: Bearer {token}");
    let (code, body) = rm_web(&c, "/ws/v1/cluster/apps", &["-H", &bearer]);
    assert_eq!(code, 200, "{body}");
    // The last hex digit of the signature changed.
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("Authorization: Bearer {}{last}", &token[..token.len() - 1]);
    let (code, body) = rm_web(&c, "/ws/v1/cluster/apps", &["-H", &forged]);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("signature"), "{body}");
    // The owner's token kills the app over REST.
    let url = format!(
        "https://{}/ws/v1/cluster/apps/{app}/state",
        c.client_conf().rm_web_address
    );
    let out = Command::new("curl")
        .args(["-sS", "-m", "10", "--cacert"])
        .arg(c.path().join("certs/ca.pem"))
        .args([
            "-H",
            &bearer,
            "-H",
            "Content-Type: application/json",
            "-X",
            "PUT",
        ])
        .args(["-d", r#"{"state":"KILLED"}"#, "-w", "\n%{http_code}", &url])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(t.ends_with("200"), "{t}");
}

#[test]
fn anonymous_readers_do_not_see_private_apps() {
    // The local cluster's web is on loopback: anonymous reads are on by default.
    let c = Cluster::up(1, &[]);
    let certs = Certs::of(&c);
    let user = certs.named("user");
    let (cert, key) = (
        user.cert.display().to_string(),
        user.key.display().to_string(),
    );
    let (open, private) = rt().block_on(async {
        let open = running_sleeper(&c, "open").await.0;
        let mut sub = sleeper(&c, "private");
        sub.acls.private = true;
        let private = c.rm_client().submit(sub).await.unwrap();
        (open, private)
    });
    let (code, body) = rm_web(&c, "/ws/v1/cluster/apps", &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&open.to_string()), "{body}");
    assert!(!body.contains(&private.to_string()), "{body}");
    let (code, body) = rm_web(&c, "/ws/v1/cluster/apps", &["--cert", &cert, "--key", &key]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&private.to_string()), "{body}");
}
