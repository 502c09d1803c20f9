//! `/metrics` on each running daemon (the RM and an NM; the standalone shuffle service has
//! no web server, and the NM reports the shuffle it hosts), parsed with a real Prometheus
//! text-format parser (`prometheus-parse`), with the families every daemon shares
//! (`process_*`, `spindle_build_info`, TLS handshake failures) and each one's own: the NM's
//! capacity and use, container memory, memory-limit kills and completed containers; the
//! RM's heartbeat ages, lost nodes, failed AM attempts, and requests and errors by method.
//!
//! Needs `curl`.

use prometheus_parse::{Scrape, Value};
use spindle_tests::{eventually, Cluster};
use std::path::PathBuf;
use std::time::Duration;

/// GET `url` with curl, trusting `ca` (none: curl refuses the daemon's certificate, and the
/// daemon sees a failed handshake).
fn get(ca: Option<&PathBuf>, url: &str) -> (u16, String) {
    spindle_tests::curl(ca.map(PathBuf::as_path), &[], url)
}

fn scrape(ca: &PathBuf, url: &str) -> (Scrape, String) {
    let (code, body) = get(Some(ca), url);
    assert_eq!(code, 200, "{url}: {body}");
    let s = Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("{url} does not parse: {e}\n{body}"));
    (s, body)
}

/// The samples of `name` with `labels` among theirs.
fn values(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
        .collect()
}

/// The one sample of `name` with `labels`.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let v = values(s, name, labels);
    assert!(!v.is_empty(), "no {name}{labels:?}");
    v[0]
}

/// Every daemon's shared families.
fn assert_shared(s: &Scrape, body: &str, daemon: &str) {
    assert!(value(s, "process_cpu_seconds_total", &[]) >= 0.0);
    assert!(
        value(s, "process_resident_memory_bytes", &[]) > 1e6,
        "{body}"
    );
    assert!(value(s, "process_open_fds", &[]) > 3.0);
    assert!(value(s, "process_max_fds", &[]) > 3.0);
    let started = value(s, "process_start_time_seconds", &[]);
    let now = common::clock::wall_ms() as f64 / 1000.0;
    assert!(
        started > now - 600.0 && started <= now + 1.0,
        "{started} vs {now}"
    );
    assert_eq!(
        value(
            s,
            "spindle_build_info",
            &[("version", env!("CARGO_PKG_VERSION")), ("daemon", daemon)]
        ),
        1.0
    );
    assert_eq!(
        values(
            s,
            &format!("spindle_{daemon}_tls_handshake_failures_total"),
            &[]
        )
        .len(),
        2,
        "web and rpc: {body}"
    );
    assert!(
        body.contains("# TYPE process_cpu_seconds_total counter"),
        "{body}"
    );
}

#[test]
fn every_daemon_serves_the_new_families_in_prometheus_text() {
    let c = Cluster::up(1, &["--node-memory-mb", "4096", "--node-vcores", "4"]);
    let conf = c.client_conf();
    let ca = conf.ca.clone();
    let rm = format!("https://{}", conf.rm_web_address);

    // A handshake the RM's web refuses: curl without the cluster CA.
    let (code, _) = get(None, &format!("{rm}/metrics"));
    assert_eq!(code, 0, "curl must refuse the cluster's certificate");
    // A request the RM answers with an error: an application it never had (`app kill`
    // reads its report first, to tell an ended app from one to kill).
    let out = c.run(&["app", "kill", "application_1_9999"]);
    assert!(!out.status.success());

    // A container that lives long enough to be measured, then ends.
    let mut shell = c.spawn(&[
        "run-shell",
        "--num-containers",
        "1",
        "--container-memory",
        "256",
        "--",
        "sleep",
        "4",
    ]);
    let nodes: serde_json::Value =
        serde_json::from_str(&get(Some(&ca), &format!("{rm}/ws/v1/cluster/nodes")).1).unwrap();
    let nm = format!(
        "https://{}",
        nodes["nodes"]["node"][0]["nodeHTTPAddress"]
            .as_str()
            .unwrap()
    );
    let (running, body) = eventually(Duration::from_secs(30), "a container's memory", || {
        let (s, body) = scrape(&ca, &format!("{nm}/metrics"));
        let limits = values(
            &s,
            "spindle_nm_container_memory_bytes",
            &[("kind", "limit")],
        );
        limits.contains(&(256.0 * 1048576.0)).then_some((s, body))
    });
    assert_shared(&running, &body, "nm");
    assert_eq!(
        value(&running, "spindle_nm_memory_bytes", &[("kind", "capacity")]),
        4096.0 * 1048576.0
    );
    assert_eq!(
        value(&running, "spindle_nm_vcores", &[("kind", "capacity")]),
        4.0
    );
    // The run-shell AM (128 MB) and its container (256 MB) at least.
    assert!(
        value(
            &running,
            "spindle_nm_memory_bytes",
            &[("kind", "allocated")]
        ) >= 384.0 * 1048576.0
    );
    assert!(value(&running, "spindle_nm_vcores", &[("kind", "available")]) <= 2.0);
    assert!(
        values(
            &running,
            "spindle_nm_container_memory_bytes",
            &[("kind", "rss")]
        )
        .iter()
        .any(|v| *v > 0.0),
        "{body}"
    );
    assert_eq!(
        value(
            &running,
            "spindle_nm_containers_killed_over_memory_total",
            &[]
        ),
        0.0
    );

    let status = shell.wait().unwrap();
    assert!(status.success(), "run-shell failed");
    // Both containers ended: done counts them even once the app's are forgotten.
    let (nm_after, body) = eventually(Duration::from_secs(30), "containers done", || {
        let (s, body) = scrape(&ca, &format!("{nm}/metrics"));
        (value(&s, "spindle_nm_containers", &[("state", "done")]) >= 2.0).then_some((s, body))
    });
    assert_eq!(
        value(&nm_after, "spindle_nm_containers", &[("state", "running")]),
        0.0,
        "{body}"
    );
    assert!(values(&nm_after, "spindle_nm_container_memory_bytes", &[]).is_empty());

    let (s, body) = scrape(&ca, &format!("{rm}/metrics"));
    assert_shared(&s, &body, "rm");
    assert!(
        value(
            &s,
            "spindle_rm_tls_handshake_failures_total",
            &[("listener", "web")]
        ) >= 1.0,
        "{body}"
    );
    let ages = values(&s, "spindle_rm_node_heartbeat_age_seconds", &[]);
    assert_eq!(ages.len(), 1, "{body}");
    assert!(ages[0] < 10.0, "{ages:?}");
    assert_eq!(value(&s, "spindle_rm_nodes_lost_total", &[]), 0.0);
    assert_eq!(value(&s, "spindle_rm_am_attempts_failed_total", &[]), 0.0);
    for method in [
        "RegisterNode",
        "NodeHeartbeat",
        "Submit",
        "RegisterAm",
        "FinishAm",
    ] {
        assert!(
            value(&s, "spindle_rm_rpc_requests_total", &[("method", method)]) >= 1.0,
            "{method}: {body}"
        );
    }
    assert_eq!(
        value(
            &s,
            "spindle_rm_rpc_errors_total",
            &[("method", "GetApplication"), ("code", "UnknownApplication")]
        ),
        1.0,
        "{body}"
    );
    // The allocation latency's first bucket is 10 µs.
    let buckets = s
        .samples
        .iter()
        .find(|x| x.metric == "spindle_rm_allocation_latency_seconds")
        .map(|x| match &x.value {
            Value::Histogram(b) => b.iter().map(|c| c.less_than).collect::<Vec<_>>(),
            _ => vec![],
        })
        .expect("allocation latency");
    assert_eq!(buckets.first(), Some(&1e-5), "{buckets:?}");
}
