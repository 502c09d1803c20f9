//! Disk health: a node whose local or log dir is (over its limit) full marks itself
//! UNHEALTHY and says why; the RM places nothing there, `spindle node list` and REST
//! show the reason, and the node is RUNNING again once the dir is fine.

use spindle_tests::{class_args, eventually, text, Cluster, NO_CONF};
use std::time::Duration;

/// Rewrites `nodemanager-1.toml` with `extra` keys and restarts that NM with it.
fn restart_nm1_with(c: &Cluster, extra: &str) {
    let conf = c.conf_dir().join("nodemanager-1.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("max-disk-utilization-percent") && !l.starts_with("disk-check-interval")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    // Top-level keys go before any table.
    std::fs::write(&conf, format!("{extra}\n{kept}")).unwrap();
    c.kill9("nodemanager-1");
    c.restart("nodemanager-1");
}

/// `spindle node list`'s output once it shows `want`.
fn node_list_showing(c: &Cluster, want: &[&str]) -> String {
    eventually(
        Duration::from_secs(30),
        &format!("node list showing {want:?}"),
        || {
            let t = text(&c.run(&["node", "list"]));
            want.iter().all(|w| t.contains(w)).then_some(t)
        },
    )
}

#[test]
fn a_node_over_its_disk_limit_is_unhealthy_gets_no_containers_and_says_why() {
    let c = Cluster::up(2, &[]);
    // Any real file system is more than 0.001% used: node 1's dirs count as full.
    restart_nm1_with(
        &c,
        "max-disk-utilization-percent = 0.001\ndisk-check-interval = \"200ms\"",
    );
    let t = node_list_showing(
        &c,
        &[
            "UNHEALTHY",
            "Health-Report:",
            "is full",
            "max-disk-utilization-percent = 0.001",
        ],
    );
    assert_eq!(t.matches("RUNNING").count(), 1, "{t}");
    assert!(t.contains("local-dir"), "{t}");
    // An app runs, all on the healthy node.
    let out = c.submit_ok(&class_args(
        &["--num-executors", "2"],
        NO_CONF,
        "SparkPi",
        &["4"],
    ));
    assert!(out.contains("Pi is roughly"), "{out}");
    let logs = c.container_logs("stdout");
    assert!(!logs.is_empty());
    let nm1 = c.path().join("nm-1");
    assert!(
        logs.iter().all(|p| !p.starts_with(&nm1)),
        "a container ran on the unhealthy node: {logs:?}"
    );
    // Healthy again: RUNNING, no report.
    restart_nm1_with(&c, "max-disk-utilization-percent = 100.0");
    eventually(Duration::from_secs(30), "both nodes RUNNING", || {
        let t = text(&c.run(&["node", "list"]));
        (t.matches("RUNNING").count() == 2 && !t.contains("Health-Report")).then_some(())
    });
}
