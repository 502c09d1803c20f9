//! Graceful node decommission and NMs that stop for good, with real daemons: a node
//! holding a dynamic application's executors is decommissioned while the application
//! runs; its executors finish their tasks and go, none of it a failure, the application's
//! answers are right, and the node ends DECOMMISSIONED with its NM stopped. With
//! shuffle-block migration on, an executor leaving such a node first hands its map
//! output to a peer. An NM with recovery off that gets SIGTERM unregisters: the RM shows
//! it SHUTDOWN.

use am_core::eventlog::AppEvent;
use history::UiState;
use serde_json::Value;
use spindle_tests::{
    class_args, dynamic, eventually, gone, map_stage_submissions, sleepy_bursty, success, text,
    Cluster,
};
use std::time::Duration;

/// The RM's `/ws/v1/cluster/nodes` (YARN's shape), read as an anonymous client may on
/// loopback.
fn rest_nodes(c: &Cluster) -> Vec<Value> {
    let conf = c.client_conf();
    let url = format!("https://{}/ws/v1/cluster/nodes", conf.rm_web_address);
    let (_, body) = spindle_tests::curl(Some(&conf.ca), &["-m", "3"], &url);
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["nodes"]["node"].as_array().cloned().unwrap_or_default()
}

/// Node `id`'s state as REST shows it.
fn rest_state(c: &Cluster, id: &str) -> String {
    rest_nodes(c)
        .iter()
        .find(|n| n["id"] == id)
        .map(|n| n["state"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// Starts `daemon` (the NM of DECOMMISSIONED node `id`) again: it is told to shut down
/// and stops, and the node stays DECOMMISSIONED.
fn refused_again(c: &Cluster, daemon: &str, id: &str) {
    c.restart(daemon);
    let pid = c.pid(daemon);
    eventually(
        Duration::from_secs(30),
        "the refused node manager to stop",
        || gone(pid).then_some(()),
    );
    assert_eq!(rest_state(c, id), "DECOMMISSIONED");
}

/// Node `id`'s line in `spindle node list`.
fn listed(c: &Cluster, id: &str) -> String {
    let out = success(&c.run(&["node", "list"]));
    out.lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} not listed: {out}"))
        .to_string()
}

/// The node id of daemon `nodemanager-N` (its `address` in its config).
fn node_id(c: &Cluster, nm: &str) -> String {
    let toml = std::fs::read_to_string(c.conf_dir().join(format!("{nm}.toml"))).unwrap();
    toml.lines()
        .find_map(|l| l.strip_prefix("address = \""))
        .map(|a| a.trim_end_matches('"').to_string())
        .expect("address")
}

/// A node holding containers of `app` (its executors) that is not its AM's node.
fn executor_node(c: &Cluster, app: common::ApplicationId) -> Option<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_rt = rt.enter();
    let rm = c.rm_client();
    let am_node = rt.block_on(rm.report(app)).ok()?.am_node()?.0.clone();
    let nodes = rt.block_on(rm.nodes()).ok()?;
    nodes
        .into_iter()
        .find(|n| n.node_id.0 != am_node && n.num_containers >= 1)
        .map(|n| n.node_id.0)
}

/// The executors the event log `log` started on node `node`.
fn executors_on(log: &[am_core::eventlog::LogLine], node: &str) -> Vec<String> {
    log.iter()
        .filter_map(|l| match &l.event {
            AppEvent::ContainerAllocated {
                node: on,
                executor: Some(e),
                ..
            } if on == node => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The daemon whose node is `id`.
fn daemon_of(c: &Cluster, id: &str, nodes: u32) -> String {
    (1..=nodes)
        .map(|i| format!("nodemanager-{i}"))
        .find(|nm| node_id(c, nm) == id)
        .expect("a daemon of the node")
}

#[test]
fn decommissioning_a_node_with_executors_ends_decommissioned_without_failures() {
    let c = Cluster::up(3, &["--admin-acl", &whoami()]);
    assert_eq!(c.user(), whoami(), "the admin is the cluster's user");
    // Two jobs of 30 sleepy 1.5 s tasks, 4 s apart; up to 6 one-core executors, which
    // spread over the three nodes (the roomiest first).
    let conf = dynamic(0, 6, 6, "60s");
    let args = class_args(
        &["--executor-cores", "1"],
        &conf,
        "Bursty",
        &sleepy_bursty(2, 30, 1500, 4000),
    );
    let run = c.submit_running(&args);
    let app = eventually(Duration::from_secs(60), "the application id", || {
        run.word("application_")
    });
    let app_id: common::ApplicationId = app.parse().unwrap();
    let target = eventually(
        Duration::from_secs(60),
        "executors on a node without the AM",
        || executor_node(&c, app_id),
    );
    // Let its executors take tasks.
    std::thread::sleep(Duration::from_millis(1500));
    let out = success(&c.run(&["node", "decommission", &target, "--timeout", "2m"]));
    assert!(
        out.contains(&format!("Decommissioning node {target}")),
        "{out}"
    );
    assert!(listed(&c, &target).contains("DECOMMISSIONING"));
    assert_eq!(rest_state(&c, &target), "DECOMMISSIONING");
    let timeout = rest_nodes(&c)
        .into_iter()
        .find(|n| n["id"] == target.as_str())
        .map(|n| n["decommissioningTimeout"].clone());
    assert_eq!(timeout, Some(Value::from(120)));
    // A node the RM does not know is named as such.
    let refused = text(&c.run(&["node", "recommission", "nosuch:1"]));
    assert!(refused.contains("unknown node nosuch:1"), "{refused}");

    let (status, output) = run.wait();
    assert!(status.success(), "{output}");
    for job in 1..=2 {
        let line = format!("job {job} of 2: 30 tasks, answer 435 (expected 435)");
        assert!(output.contains(&line), "{line} missing: {output}");
    }

    // The node ends DECOMMISSIONED, and its NM shuts down.
    eventually(Duration::from_secs(30), "the node DECOMMISSIONED", || {
        (rest_state(&c, &target) == "DECOMMISSIONED").then_some(())
    });
    assert!(listed(&c, &target).contains("DECOMMISSIONED"));
    let daemon = daemon_of(&c, &target, 3);
    let pid = c.pid(&daemon);
    eventually(Duration::from_secs(30), "its node manager to stop", || {
        gone(pid).then_some(())
    });
    // Started again, its NM is told to shut down at once, until the node is
    // recommissioned; then it registers and is RUNNING.
    refused_again(&c, &daemon, &target);
    // The decommission outlives the RM (its state store keeps it): killed and started
    // again, the RM lists the node DECOMMISSIONED before its NM is back, and refuses it.
    c.kill9("resourcemanager");
    c.restart("resourcemanager");
    eventually(
        Duration::from_secs(30),
        "the restarted RM to list the node DECOMMISSIONED",
        || {
            let out = c.run(&["node", "list"]);
            let listed = text(&out);
            (out.status.success()
                && listed
                    .lines()
                    .any(|l| l.starts_with(target.as_str()) && l.contains("DECOMMISSIONED")))
            .then_some(())
        },
    );
    refused_again(&c, &daemon, &target);
    let out = success(&c.run(&["node", "recommission", &target]));
    assert!(
        out.contains(&format!("Recommissioned node {target}")),
        "{out}"
    );
    c.restart(&daemon);
    eventually(
        Duration::from_secs(30),
        "the recommissioned node RUNNING",
        || (rest_state(&c, &target) == "RUNNING").then_some(()),
    );

    // The event log: executors ran there and left as decommissioned; no task failed.
    let log = c.event_log();
    let there = executors_on(&log, &target);
    assert!(!there.is_empty(), "no executor ran on {target}");
    let mut removed = 0;
    for l in &log {
        match &l.event {
            AppEvent::TaskEnd { reason, task, .. } => assert_eq!(
                reason, "Success",
                "a task on {} did not succeed: {l:?}",
                task.executor
            ),
            AppEvent::ExecutorRemoved { executor, reason } if there.contains(executor) => {
                assert!(reason.contains("decommission"), "{executor}: {reason}");
                removed += 1;
            }
            _ => {}
        }
    }
    // Replacements came on the other nodes after the decommission.
    let after: Vec<&String> = log
        .iter()
        .skip_while(|l| {
            !matches!(&l.event, AppEvent::ExecutorRemoved { executor, .. } if there.contains(executor))
        })
        .filter_map(|l| match &l.event {
            AppEvent::ContainerAllocated {
                node,
                executor: Some(_),
                ..
            } => Some(node),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        there.len(),
        "each executor there left as decommissioned"
    );
    assert!(!after.is_empty(), "no replacement executor was started");
    assert!(after.iter().all(|n| **n != target), "{after:?}");
    // The application's Spark REST data (its UI, as the RM's history serves it): no
    // failed task in any stage, none against any executor.
    let ui = UiState::from_log(&log);
    let api = |p: &str| spindle_tests::spark_api(&ui, p);
    let stages = api("stages");
    assert_eq!(stages.as_array().map(Vec::len), Some(2), "{stages}");
    for st in stages.as_array().unwrap() {
        assert_eq!(st["numFailedTasks"], 0, "{st}");
        assert_eq!(st["numCompleteTasks"], 30, "{st}");
    }
    for e in api("allexecutors").as_array().unwrap() {
        assert_eq!(e["failedTasks"], 0, "{e}");
    }
}

/// With Spark's decommission and shuffle-block migration on (no shuffle service, no
/// tracking), the idle executor on a node decommissioned between two jobs over one
/// shuffle hands its map output to a peer on another node before it goes: the second
/// job re-runs no map task.
#[test]
fn a_decommissioned_nodes_executor_migrates_its_shuffle_output_before_it_goes() {
    let c = Cluster::up(3, &["--admin-acl", &whoami()]);
    let mut conf = dynamic(0, 3, 3, "60s");
    conf.extend(
        [
            "spark.dynamicAllocation.shuffleTracking.enabled=false",
            "spark.decommission.enabled=true",
            "spark.storage.decommission.enabled=true",
        ]
        .map(String::from),
    );
    // Job 1, then an 8 s pause (the decommission), then job 2 over the same shuffle.
    let app_args = [
        "--records",
        "200000",
        "--keys",
        "50",
        "--partitions",
        "6",
        "--pause-ms",
        "8000",
    ];
    let args = class_args(&["--executor-cores", "1"], &conf, "ShuffleReuse", &app_args);
    let run = c.submit_running(&args);
    let app: common::ApplicationId = eventually(Duration::from_secs(60), "the app id", || {
        run.word("application_")
    })
    .parse()
    .unwrap();
    eventually(Duration::from_secs(60), "job 1 to end", || {
        run.output().contains("pausing").then_some(())
    });
    let target = executor_node(&c, app).expect("a node with an executor and not the AM");
    success(&c.run(&["node", "decommission", &target]));
    let (status, output) = run.wait();
    assert!(status.success(), "{output}");
    assert!(
        output.contains("job 2: 50 keys, all counts right"),
        "{output}"
    );
    eventually(Duration::from_secs(30), "the node DECOMMISSIONED", || {
        (rest_state(&c, &target) == "DECOMMISSIONED").then_some(())
    });
    let log = c.event_log();
    assert_eq!(map_stage_submissions(&log), 1, "a map task re-ran");
    let there = executors_on(&log, &target);
    let reasons: Vec<&String> = log
        .iter()
        .filter_map(|l| match &l.event {
            AppEvent::ExecutorRemoved { executor, reason } if there.contains(executor) => {
                Some(reason)
            }
            _ => None,
        })
        .collect();
    assert!(!reasons.is_empty(), "no executor left {target}");
    for r in reasons {
        assert!(
            r.contains("its node is being decommissioned") && r.contains("migrated to executor"),
            "{r}"
        );
    }
}

#[test]
fn an_nm_stopping_for_good_shows_shutdown_and_one_with_recovery_stays_registered() {
    let c = Cluster::up(2, &[]);
    let nm = "nodemanager-2";
    let id = node_id(&c, nm);
    // Recovery on (a local cluster's default): SIGTERM leaves the node registered for the
    // next process.
    stop(&c, nm);
    assert_eq!(rest_state(&c, &id), "RUNNING");
    // Recovery off: started again, then SIGTERM: it unregisters.
    let conf = c.conf_dir().join(format!("{nm}.toml"));
    let toml = std::fs::read_to_string(&conf).unwrap();
    assert!(toml.contains("\nrecovery = true\n"), "{toml}");
    std::fs::write(
        &conf,
        toml.replace("\nrecovery = true\n", "\nrecovery = false\n"),
    )
    .unwrap();
    c.restart(nm);
    let log = c.path().join("logs").join(format!("{nm}.log"));
    eventually(Duration::from_secs(30), "the NM registered again", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.matches("registered with the resource manager").count() >= 2).then_some(())
    });
    stop(&c, nm);
    eventually(Duration::from_secs(10), "the node SHUTDOWN", || {
        (rest_state(&c, &id) == "SHUTDOWN").then_some(())
    });
    let line = listed(&c, &id);
    assert!(line.contains("SHUTDOWN"), "{line}");
    let out = success(&c.run(&["node", "list"]));
    assert!(
        out.contains(
            "Health-Report: node manager shutting down (stopped for good: NM recovery is off)"
        ),
        "{out}"
    );
    // Not registered again with no capacity, as before: it keeps what it offered.
    assert!(line.contains("/8192"), "{line}");
}

/// SIGTERM to daemon `nm`; returns once it exited.
fn stop(c: &Cluster, nm: &str) {
    let pid = c.pid(nm);
    // SAFETY: a plain signal to a daemon of this test's cluster.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    eventually(Duration::from_secs(30), &format!("{nm} to stop"), || {
        gone(pid).then_some(())
    });
}

/// The user this test runs as: `cluster up` names its user certificate after it.
fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "spindle".into())
}
