//! Token keys and application secrets end to end, with real daemons: an app's
//! shuffle secret comes from the RM (through the NMs), never from whoever
//! registers first; the RM's master keys roll under a running app.

use common::protocol::ErrorCode;
use common::tls::{TlsFiles, TlsIdentity};
use common::ApplicationId;
use shuffle_service::{FetchError, ShuffleClient};
use spindle_tests::{bursty, class_args, dynamic, eventually, Cluster};
use std::path::PathBuf;
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
    let mut app_args = bursty(3, 8, 400, 4000);
    app_args.extend(["--work".into(), "sleep".into()]);
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
