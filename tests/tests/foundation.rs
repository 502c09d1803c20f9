//! The foundation's contract, end to end: real RM and NM processes on loopback.

use common::client::RmClient;
use common::protocol::{
    exit_status, AppSubmission, ApplicationReport, ErrorCode, LaunchSpec, NmRequest, NmResponse,
    RmRequest, RmResponse, YarnApplicationState, ALPN_NM, ALPN_RM,
};
use common::tls::{TlsFiles, TlsIdentity};
use common::token::{AppSecret, ContainerTokenIdentifier, KeyId, MasterKey};
use common::transport::{self, Profile};
use common::{NodeId, Resource};
use spindle_tests::{assert_contains, eventually, failure, text, wait_terminal, Cluster};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// `spindle run-shell` of `n` containers running `command`, with `opts` before the `--`.
fn run_shell(c: &Cluster, n: u32, opts: &[&str], command: &[&str]) -> Output {
    let n = n.to_string();
    let mut args = vec!["run-shell", "--num-containers", &n];
    args.extend(opts);
    args.push("--");
    args.extend(command);
    c.run(&args)
}

/// The container whose log `log` is (its directory's name).
fn container_of(log: &Path) -> String {
    let dir = log.parent().unwrap().file_name().unwrap();
    dir.to_string_lossy().into_owned()
}

/// Submits an application whose AM runs `launch` and waits for its end.
async fn run_app(
    c: &Cluster,
    rm: &RmClient,
    name: &str,
    launch: LaunchSpec,
    max_attempts: Option<u32>,
) -> ApplicationReport {
    let sub = AppSubmission {
        max_attempts,
        ..c.submission(name, launch)
    };
    let id = rm.submit(sub).await.unwrap();
    wait_terminal(rm, id).await
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn run_shell_four_containers_over_two_nodes() {
    let c = Cluster::up(2, &[]);
    let out = c.run(&["node", "list"]);
    assert_eq!(text(&out).matches("RUNNING").count(), 2, "{}", text(&out));
    let out = run_shell(&c, 4, &[], &["sh", "-c", "echo hello-from-$CONTAINER_ID"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("0 of 4 containers failed"),
        "{}",
        text(&out)
    );
    // Every worker's stdout is in its container log, and both nodes ran some.
    let logs: Vec<_> = c
        .container_logs("stdout")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with("_000001/stdout"))
        .collect();
    assert_eq!(logs.len(), 4, "{logs:?}");
    for l in &logs {
        let body = std::fs::read_to_string(l).unwrap();
        assert_eq!(body.trim(), format!("hello-from-{}", container_of(l)));
    }
    assert!(logs.iter().any(|p| p.to_string_lossy().contains("/nm-1/")));
    assert!(logs.iter().any(|p| p.to_string_lossy().contains("/nm-2/")));
    let list = text(&c.run(&["app", "list"]));
    assert_contains(&list, &["FINISHED", "SUCCEEDED"]);
    // It says where the output went.
    assert_contains(
        &text(&out),
        &[
            "Logs: each container's stdout and stderr are on its node",
            "/node/containerlogs/<container id>/",
            "_01_000001/",
        ],
    );
}

#[test]
fn failed_containers_set_the_exit_code() {
    let c = Cluster::up(1, &[]);
    let out = run_shell(&c, 3, &[], &["sh", "-c", "exit 7"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("exit status 7"), "{t}");
}

#[test]
fn container_over_its_memory_is_killed_with_104() {
    let c = Cluster::up(1, &[]);
    // `tail` keeps the whole newline-free input in memory: 400 MB against 64 MB.
    let hog = "head -c 400000000 /dev/zero | tail >/dev/null; sleep 10";
    let out = run_shell(&c, 1, &["--container-memory", "64"], &["sh", "-c", hog]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "exit status {}",
            exit_status::KILLED_EXCEEDED_PMEM
        )),
        "{t}"
    );
    assert_contains(
        &t,
        &[
            "running beyond physical memory limits",
            "of 64 MB physical memory used",
        ],
    );
}

#[test]
fn forged_and_tampered_container_tokens_are_refused() {
    let c = Cluster::up(2, &[]);
    rt().block_on(async {
        let rm = c.rm_client();
        let nodes = rm.nodes().await.unwrap();
        let conf = c.client_conf();
        let id = TlsIdentity::load(&conf.tls_files()).unwrap();
        let ep = transport::client_endpoint(&id, ALPN_NM, Profile::Control).unwrap();
        let node = &nodes[0];
        let conn = transport::connect(&ep, &node.address).await.unwrap();
        let app = common::ApplicationId::new(1, 1);
        let ident = |node_id: &NodeId, expiry_ms| ContainerTokenIdentifier {
            container_id: app.attempt(1).container(1),
            app,
            node_id: node_id.clone(),
            resource: Resource::new(128, 1),
            user: "mallory".into(),
            issued_ms: 0,
            expiry_ms,
            app_secret: AppSecret::new("mallory's"),
        };
        let launch = LaunchSpec {
            command: vec!["touch".into(), "/tmp/spindle-forged-ran".into()],
            ..Default::default()
        };
        // Signed with a key that is not the RM's (under the id of the RM's first key).
        let forged = MasterKey::generate(KeyId(1)).sign_container(ident(&node.node_id, u64::MAX));
        let r: Result<NmResponse, _> = transport::call(
            &conn,
            &node.address,
            &NmRequest::StartContainer {
                token: forged,
                launch: launch.clone(),
            },
        )
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidToken), "{e}");
        assert!(e.to_string().contains("bad signature"), "{e}");
        // A signed token whose identifier was changed afterwards.
        let mut tampered =
            MasterKey::generate(KeyId(1)).sign_container(ident(&node.node_id, u64::MAX));
        tampered.identifier.resource.memory_mb = 1;
        let r: Result<NmResponse, _> = transport::call(
            &conn,
            &node.address,
            &NmRequest::StartContainer {
                token: tampered,
                launch,
            },
        )
        .await;
        assert_eq!(r.unwrap_err().code(), Some(ErrorCode::InvalidToken));
        assert!(!Path::new("/tmp/spindle-forged-ran").exists());
    });
}

#[test]
fn client_with_certificate_from_another_ca_is_refused() {
    let c = Cluster::up(1, &[]);
    let other = tempfile::tempdir().unwrap();
    common::tls::init_cluster_certs(other.path(), "eve", "127.0.0.1:0", &[]).unwrap();
    let id = TlsIdentity::load(&TlsFiles::in_dir(other.path(), "user")).unwrap();
    let conf = c.client_conf();
    rt().block_on(async {
        let rm = RmClient::connect(&id, &conf.rm_address).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(10), rm.nodes())
            .await
            .expect("refusal is prompt")
            .unwrap_err();
        assert!(
            matches!(e, transport::TransportError::Connect { .. }),
            "{e}"
        );
        // The real client still works.
        assert_eq!(c.rm_client().nodes().await.unwrap().len(), 1);
    });
    // And the CLI says so too.
    let bad_conf = other.path().join("conf");
    common::clientconf::ClientConf::new(
        conf.rm_address.clone(),
        TlsFiles::in_dir(other.path(), "user"),
    )
    .write(&bad_conf)
    .unwrap();
    let out = std::process::Command::new(spindle_tests::bin("spindle"))
        .env("SPINDLE_CONF_DIR", &bad_conf)
        .args(["node", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("cannot connect"), "{}", text(&out));
}

#[test]
fn garbage_and_oversized_frames_get_errors_and_the_rm_keeps_serving() {
    let c = Cluster::up(1, &[]);
    let conf = c.client_conf();
    let id = TlsIdentity::load(&conf.tls_files()).unwrap();
    rt().block_on(async {
        let ep = transport::client_endpoint(&id, ALPN_RM, Profile::Control).unwrap();
        let conn = transport::connect(&ep, &conf.rm_address).await.unwrap();
        let exchange = |bytes: Vec<u8>| {
            let conn = conn.clone();
            async move {
                let (mut send, mut recv) = conn.open_bi().await.unwrap();
                send.write_all(&bytes).await.unwrap();
                let _ = send.finish();
                common::codec::read_frame::<_, RmResponse>(&mut recv)
                    .await
                    .unwrap()
            }
        };
        let garbage = vec![0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff];
        match exchange(garbage).await {
            RmResponse::Error(e) => assert_eq!(e.code, ErrorCode::BadFrame, "{e}"),
            other => panic!("{other:?}"),
        }
        let mut huge = (512u32 << 20).to_be_bytes().to_vec();
        huge.extend_from_slice(&[0; 1024]);
        match exchange(huge).await {
            RmResponse::Error(e) => {
                assert_eq!(e.code, ErrorCode::FrameTooLarge, "{e}");
                assert!(e.message.contains("exceeds"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        match exchange(vec![0, 0, 0, 200, 1, 2, 3]).await {
            RmResponse::Error(e) => assert_eq!(e.code, ErrorCode::BadFrame, "{e}"),
            other => panic!("{other:?}"),
        }
        // The same connection and a fresh client are both still served.
        let ok: RmResponse = transport::call(&conn, &conf.rm_address, &RmRequest::ListNodes)
            .await
            .unwrap();
        assert!(matches!(ok, RmResponse::Nodes(n) if n.len() == 1));
        assert_eq!(c.rm_client().nodes().await.unwrap().len(), 1);
    });
}

#[test]
fn am_that_exits_early_gets_a_second_attempt_then_fails() {
    let c = Cluster::up(1, &[]);
    rt().block_on(async {
        let launch = LaunchSpec {
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo attempt $APP_ATTEMPT_ID; exit 3".into(),
            ],
            ..Default::default()
        };
        let report = run_app(&c, &c.rm_client(), "early-exit", launch, None).await;
        assert_eq!(report.state, YarnApplicationState::FAILED);
        assert_eq!(report.attempts.len(), 2, "{report:?}");
        assert!(
            report.diagnostics.contains("failed 2 times"),
            "{}",
            report.diagnostics
        );
        assert!(
            report.diagnostics.contains("exitCode: 3"),
            "{}",
            report.diagnostics
        );
    });
    // Each attempt ran and logged.
    let logs = c.container_logs("stdout");
    let all: String = logs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_contains(&all, &["_000001", "_000002"]);
}

#[test]
fn ask_over_the_maximum_names_the_limit() {
    let c = Cluster::up(1, &["--node-memory-mb", "2048"]);
    let t = failure(&run_shell(&c, 1, &["--am-memory", "4096"], &["true"]));
    assert_contains(&t, &["AskExceedsMaximum", "max-allocation-mb=2048"]);
}

#[test]
fn corrupted_staged_file_fails_localization_with_a_diagnostic() {
    let c = Cluster::up(1, &[]);
    rt().block_on(async {
        let rm = c.rm_client();
        let f = c.path().join("payload.sh");
        std::fs::write(&f, "#!/bin/sh\necho payload\n").unwrap();
        let res = rm.stage_file(&f, "payload.sh", true).await.unwrap();
        // Corrupt the RM's copy behind its back (same size, different bytes).
        let staged = c.path().join("rm").join("staging").join(&res.sha256);
        std::fs::write(&staged, "#!/bin/sh\necho PAYLOAD\n").unwrap();
        let launch = LaunchSpec {
            command: vec!["./payload.sh".into()],
            local_resources: vec![res],
            ..Default::default()
        };
        let report = run_app(&c, &rm, "corrupt", launch, Some(1)).await;
        assert_eq!(report.state, YarnApplicationState::FAILED);
        assert!(
            report.diagnostics.contains("failed verification"),
            "{}",
            report.diagnostics
        );
    });
}

#[test]
fn killed_node_becomes_lost_and_its_container_is_reported_to_the_am() {
    let c = Cluster::up(2, &["--nm-expiry", "2s", "--heartbeat-interval", "200ms"]);
    let mut client = c.spawn(&["run-shell", "--num-containers", "2", "--", "sleep", "60"]);
    // Wait for the AM and both workers to run, then find a node without the AM.
    let am_log = eventually(Duration::from_secs(20), "AM log", || {
        c.container_logs("stdout")
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with("_000001/stdout"))
    });
    eventually(Duration::from_secs(20), "two workers started", || {
        let body = std::fs::read_to_string(&am_log).unwrap_or_default();
        (body.matches(" started on ").count() == 2).then_some(())
    });
    let am_node = if am_log.to_string_lossy().contains("/nm-1/") {
        1
    } else {
        2
    };
    let victim = 3 - am_node;
    let worker_on_victim = eventually(Duration::from_secs(5), "worker on the other node", || {
        c.container_logs("stdout")
            .into_iter()
            .find(|p| p.to_string_lossy().contains(&format!("/nm-{victim}/")))
    });
    let container = container_of(&worker_on_victim);
    // SAFETY: killing a daemon this test started.
    unsafe {
        libc::kill(c.pid(&format!("nodemanager-{victim}")), libc::SIGKILL);
    }
    eventually(Duration::from_secs(15), "node LOST", || {
        text(&c.run(&["node", "list"]))
            .contains("LOST")
            .then_some(())
    });
    let line = eventually(
        Duration::from_secs(10),
        "AM told of the lost container",
        || {
            std::fs::read_to_string(&am_log)
                .unwrap_or_default()
                .lines()
                .find(|l| l.contains(&container) && l.contains("completed"))
                .map(str::to_string)
        },
    );
    assert!(
        line.contains(&format!("exit status {}", exit_status::ABORTED)),
        "{line}"
    );
    assert!(line.contains("lost"), "{line}");
    // Kill the app; the client reports it and exits non-zero.
    let app = c.app_ids().into_iter().next().unwrap();
    assert!(c.run(&["app", "kill", &app]).status.success());
    let out = client.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("KILLED"), "{}", text(&out));
    client = c.spawn(&["app", "status", &app]);
    let status = text(&client.wait_with_output().unwrap());
    assert!(status.contains("State : KILLED"), "{status}");
}
