//! The web side end to end, on a 2-NM local cluster: the RM's YARN REST API
//! checked field by field against YARN's shapes (and `PUT .../state` killing
//! a running app), `/metrics` on the RM, every NM and the AM parsed as
//! Prometheus text with counters moving, and the RM's and AM's pages driven
//! in headless Chromium while Bursty grows and shrinks its executors under
//! dynamic allocation. Screenshots go to `target/test-artifacts/web/`.
//!
//! Needs `curl` and Debian's `chromium` (`apt-get install -y chromium`).

use serde_json::Value;
use spindle_tests::{
    bin_dir, bursty, class_args, dynamic_with, eventually, find_in, Cluster, Running,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ HTTP

/// HTTP(S) through curl, trusting the cluster CA.
struct Http {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Http {
    fn new(c: &Cluster) -> Self {
        let conf = c.client_conf();
        Self {
            ca: conf.ca,
            cert: conf.cert,
            key: conf.key,
        }
    }

    fn curl(&self, args: &[&str], url: &str) -> (u16, String) {
        spindle_tests::curl(Some(&self.ca), args, url)
    }

    fn get(&self, url: &str) -> (u16, String) {
        self.curl(&[], url)
    }

    /// GET with the cluster's user certificate (the apps' owner).
    fn get_as_user(&self, url: &str) -> (u16, String) {
        let (cert, key) = (
            self.cert.display().to_string(),
            self.key.display().to_string(),
        );
        self.curl(&["--cert", &cert, "--key", &key], url)
    }

    fn json(&self, url: &str) -> Value {
        let (code, body) = self.get(url);
        assert_eq!(code, 200, "GET {url}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
    }

    fn put_json(&self, url: &str, body: &str, client_cert: bool) -> (u16, String) {
        let mut args = vec![
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ];
        let (cert, key) = (
            self.cert.to_string_lossy().into_owned(),
            self.key.to_string_lossy().into_owned(),
        );
        if client_cert {
            args.extend(["--cert", &cert, "--key", &key]);
        }
        self.curl(&args, url)
    }
}

fn rm_base(c: &Cluster) -> String {
    let web = c.client_conf().rm_web_address;
    assert!(!web.is_empty(), "cluster up wrote no rm-web-address");
    format!("https://{web}")
}

// ------------------------------------------------------------------ shapes

/// Asserts `v` has every `(key, type)`; types: s(tring), i(nteger), n(umber),
/// b(ool), o(bject), a(rray).
fn assert_shape(what: &str, v: &Value, fields: &[(&str, char)]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    for (k, t) in fields {
        let f = obj
            .get(*k)
            .unwrap_or_else(|| panic!("{what}: missing field {k}: {v}"));
        let ok = match t {
            's' => f.is_string(),
            'i' => f.is_i64() || f.is_u64(),
            'n' => f.is_number(),
            'b' => f.is_boolean(),
            'o' => f.is_object(),
            'a' => f.is_array(),
            _ => unreachable!(),
        };
        assert!(ok, "{what}: field {k} should be of type {t}: {f}");
    }
}

const APP_FIELDS: &[(&str, char)] = &[
    ("id", 's'),
    ("user", 's'),
    ("name", 's'),
    ("queue", 's'),
    ("state", 's'),
    ("finalStatus", 's'),
    ("progress", 'n'),
    ("trackingUI", 's'),
    ("trackingUrl", 's'),
    ("diagnostics", 's'),
    ("clusterId", 'i'),
    ("applicationType", 's'),
    ("applicationTags", 's'),
    ("priority", 'i'),
    ("startedTime", 'i'),
    ("launchTime", 'i'),
    ("finishedTime", 'i'),
    ("elapsedTime", 'i'),
    ("amContainerLogs", 's'),
    ("amHostHttpAddress", 's'),
    ("allocatedMB", 'i'),
    ("allocatedVCores", 'i'),
    ("reservedMB", 'i'),
    ("reservedVCores", 'i'),
    ("runningContainers", 'i'),
    ("memorySeconds", 'i'),
    ("vcoreSeconds", 'i'),
    ("queueUsagePercentage", 'n'),
    ("clusterUsagePercentage", 'n'),
    ("preemptedResourceMB", 'i'),
    ("preemptedResourceVCores", 'i'),
    ("numNonAMContainerPreempted", 'i'),
    ("numAMContainerPreempted", 'i'),
    ("logAggregationStatus", 's'),
    ("unmanagedApplication", 'b'),
];

const NODE_FIELDS: &[(&str, char)] = &[
    ("rack", 's'),
    ("state", 's'),
    ("id", 's'),
    ("nodeHostName", 's'),
    ("nodeHTTPAddress", 's'),
    ("lastHealthUpdate", 'i'),
    ("version", 's'),
    ("healthReport", 's'),
    ("numContainers", 'i'),
    ("usedMemoryMB", 'i'),
    ("availMemoryMB", 'i'),
    ("usedVirtualCores", 'i'),
    ("availableVirtualCores", 'i'),
];

fn assert_not_found(http: &Http, url: &str, message_has: &str) {
    let (code, body) = http.get(url);
    assert_eq!(code, 404, "{url}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let e = &v["RemoteException"];
    assert_eq!(e["exception"], "NotFoundException", "{body}");
    assert_eq!(
        e["javaClassName"], "org.apache.hadoop.yarn.webapp.NotFoundException",
        "{body}"
    );
    assert!(
        e["message"].as_str().unwrap().contains(message_has),
        "{body}"
    );
    assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(e.as_object().unwrap().len(), 3, "{body}");
}

// ------------------------------------------------------------------ metrics

/// Scrapes `url` and parses it as Prometheus text; every family has samples
/// and every sample line belongs to a declared family.
fn scrape(http: &Http, url: &str) -> prometheus_parse::Scrape {
    let (code, body) = http.get(url);
    assert_eq!(code, 200, "{url}: {body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let s = prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert!(!s.samples.is_empty(), "{url}: no samples in {body}");
    let families: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for l in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = l.split(['{', ' ']).next().unwrap();
        // Prometheus' standard process metrics keep their own names.
        assert!(
            name.starts_with("spindle_") || name.starts_with("process_"),
            "{url}: metric without the spindle_ prefix: {l}"
        );
        assert!(
            families.iter().any(|f| name == *f
                || name
                    .strip_prefix(f)
                    .is_some_and(|r| ["_bucket", "_sum", "_count"].contains(&r))),
            "{url}: sample of an undeclared family: {l}"
        );
    }
    s
}

/// A sample's value (a histogram's count); 0 when absent.
fn metric(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .find(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .unwrap_or(0.0)
}

/// Containers launched, summed over the NMs at `nms`.
fn nm_launched(http: &Http, nms: &[String]) -> f64 {
    nms.iter()
        .map(|n| {
            metric(
                &scrape(http, &format!("{n}/metrics")),
                "spindle_nm_containers_launched_total",
                &[],
            )
        })
        .sum()
}

fn nm_bases(http: &Http, rm: &str) -> Vec<String> {
    let nodes = http.json(&format!("{rm}/ws/v1/cluster/nodes"));
    nodes["nodes"]["node"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("https://{}", n["nodeHTTPAddress"].as_str().unwrap()))
        .collect()
}

// ------------------------------------------------------------------ apps

/// `spindle-submit` of Bursty with its stdout collected.
fn submit_bursty(c: &Cluster, conf: &[String], app_args: &[String]) -> Running {
    c.submit_running(&class_args(
        &["--executor-cores", "1"],
        conf,
        "Bursty",
        app_args,
    ))
}

/// Its application id, once printed.
fn app_id(run: &Running) -> String {
    eventually(Duration::from_secs(30), "the application id", || {
        run.word("application_")
    })
}

/// The app's REST record once it is RUNNING with a tracking URL.
fn wait_running(http: &Http, rm: &str, id: &str) -> Value {
    eventually(Duration::from_secs(60), "the app RUNNING", || {
        let (code, body) = http.get(&format!("{rm}/ws/v1/cluster/apps/{id}"));
        let v: Value = serde_json::from_str(&body).ok()?;
        (code == 200
            && v["app"]["state"] == "RUNNING"
            && v["app"]["trackingUrl"]
                .as_str()
                .is_some_and(|u| u.starts_with("http")))
        .then(|| v["app"].clone())
    })
}

// ------------------------------------------------------------------ tests

#[test]
fn rest_api_has_yarns_shapes_metrics_move_and_put_state_kills() {
    let c = Cluster::up(2, &[]);
    let http = Http::new(&c);
    let rm = rm_base(&c);

    // Cluster-wide resources.
    let info = http.json(&format!("{rm}/ws/v1/cluster/info"));
    assert_shape(
        "clusterInfo",
        &info["clusterInfo"],
        &[
            ("id", 'i'),
            ("startedOn", 'i'),
            ("state", 's'),
            ("haState", 's'),
            ("rmStateStoreName", 's'),
            ("resourceManagerVersion", 's'),
            ("resourceManagerBuildVersion", 's'),
            ("resourceManagerVersionBuiltOn", 's'),
            ("hadoopVersion", 's'),
            ("hadoopBuildVersion", 's'),
            ("hadoopVersionBuiltOn", 's'),
        ],
    );
    assert_eq!(info["clusterInfo"]["state"], "STARTED");
    assert_eq!(http.json(&format!("{rm}/ws/v1/cluster")), info);
    let metrics = http.json(&format!("{rm}/ws/v1/cluster/metrics"));
    let m = &metrics["clusterMetrics"];
    let metric_fields: Vec<(&str, char)> = [
        "appsSubmitted",
        "appsCompleted",
        "appsPending",
        "appsRunning",
        "appsFailed",
        "appsKilled",
        "reservedMB",
        "availableMB",
        "allocatedMB",
        "totalMB",
        "reservedVirtualCores",
        "availableVirtualCores",
        "allocatedVirtualCores",
        "totalVirtualCores",
        "containersAllocated",
        "containersReserved",
        "containersPending",
        "totalNodes",
        "activeNodes",
        "lostNodes",
        "unhealthyNodes",
        "decommissioningNodes",
        "decommissionedNodes",
        "rebootedNodes",
        "shutdownNodes",
    ]
    .into_iter()
    .map(|k| (k, 'i'))
    .collect();
    assert_shape("clusterMetrics", m, &metric_fields);
    assert_eq!(m["activeNodes"], 2);
    assert_eq!(m["totalMB"], 2 * 8192);
    assert_eq!(m["totalVirtualCores"], 16);
    assert_eq!(m["appsSubmitted"], 0);
    let sched = http.json(&format!("{rm}/ws/v1/cluster/scheduler"));
    assert_shape(
        "schedulerInfo",
        &sched["scheduler"]["schedulerInfo"],
        &[
            ("type", 's'),
            ("capacity", 'n'),
            ("usedCapacity", 'n'),
            ("maxCapacity", 'n'),
            ("queueName", 's'),
            ("queues", 'o'),
        ],
    );
    // The capacity scheduler is the default, as in YARN: unconfigured, root.default.
    assert_eq!(
        sched["scheduler"]["schedulerInfo"]["type"],
        "capacityScheduler"
    );
    let default = &sched["scheduler"]["schedulerInfo"]["queues"]["queue"][0];
    assert_shape(
        "leaf queue",
        default,
        &[
            ("queueName", 's'),
            ("queuePath", 's'),
            ("capacity", 'n'),
            ("usedCapacity", 'n'),
            ("absoluteCapacity", 'n'),
            ("absoluteMaxCapacity", 'n'),
            ("numApplications", 'i'),
            ("resourcesUsed", 'o'),
        ],
    );
    assert_eq!(default["queuePath"], "root.default");
    // No apps yet: YARN's `{"apps":null}`.
    assert_eq!(
        http.json(&format!("{rm}/ws/v1/cluster/apps")),
        serde_json::json!({ "apps": null })
    );
    let nodes = http.json(&format!("{rm}/ws/v1/cluster/nodes"));
    let list = nodes["nodes"]["node"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{nodes}");
    for n in list {
        assert_shape("node", n, NODE_FIELDS);
        assert_eq!(n["state"], "RUNNING");
        let id = n["id"].as_str().unwrap();
        let one = http.json(&format!("{rm}/ws/v1/cluster/nodes/{id}"));
        assert_eq!(&one["node"]["id"], &n["id"]);
        assert_shape("node", &one["node"], NODE_FIELDS);
    }
    assert_eq!(
        http.json(&format!("{rm}/ws/v1/cluster/nodes?states=LOST")),
        serde_json::json!({ "nodes": null })
    );
    assert_not_found(
        &http,
        &format!("{rm}/ws/v1/cluster/nodes/nosuch:1"),
        "nosuch:1",
    );
    let ts = info["clusterInfo"]["id"].as_u64().unwrap();
    let unknown = format!("application_{ts}_9999");
    assert_not_found(
        &http,
        &format!("{rm}/ws/v1/cluster/apps/{unknown}"),
        &format!("app with id: {unknown} not found"),
    );
    assert_not_found(
        &http,
        &format!("{rm}/ws/v1/cluster/apps/{unknown}/appattempts"),
        &unknown,
    );
    let (code, body) = http.get(&format!("{rm}/ws/v1/cluster/apps?states=BOGUS"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("BadRequestException"), "{body}");

    // Metrics before any work.
    let nms = nm_bases(&http, &rm);
    let rm_before = scrape(&http, &format!("{rm}/metrics"));
    assert_eq!(
        metric(&rm_before, "spindle_rm_nodes", &[("state", "RUNNING")]),
        2.0
    );
    let nm_launched_before = nm_launched(&http, &nms);

    // A long Bursty under dynamic allocation, killed over REST.
    let mut app = submit_bursty(
        &c,
        &dynamic_with(&["spark.dynamicAllocation.maxExecutors=2"]),
        &bursty(1000, 4, 200, 300),
    );
    let id = app_id(&app);
    let running = wait_running(&http, &rm, &id);
    assert_shape("app", &running, APP_FIELDS);
    assert_eq!(running["id"], id);
    assert_eq!(running["trackingUI"], "ApplicationMaster");
    assert_eq!(running["finalStatus"], "UNDEFINED");
    assert_eq!(running["finishedTime"], 0);
    assert_eq!(running["queue"], "default");
    assert!(running["clusterId"].as_u64() == Some(ts));
    assert!(running["amContainerLogs"]
        .as_str()
        .unwrap()
        .contains(&format!(
            "/node/containerlogs/container_{}_01_000001/",
            &id["application_".len()..]
        )));
    // The AM container's log link serves its stdout to its owner, and to no one anonymous.
    let stdout = format!("{}/stdout", running["amContainerLogs"].as_str().unwrap());
    assert_eq!(http.get_as_user(&stdout).0, 200);
    assert_eq!(http.get(&stdout).0, 401);
    // Filters: states, queue, user, limit.
    let user = running["user"].as_str().unwrap().to_string();
    for q in [
        "states=RUNNING".to_string(),
        "states=running,accepted".to_string(),
        "state=RUNNING".to_string(),
        "queue=default".to_string(),
        format!("user={user}"),
        "limit=1".to_string(),
    ] {
        let v = http.json(&format!("{rm}/ws/v1/cluster/apps?{q}"));
        let apps = v["apps"]["app"]
            .as_array()
            .unwrap_or_else(|| panic!("{q}: {v}"));
        assert_eq!(apps.len(), 1, "{q}: {v}");
        assert_shape("app", &apps[0], APP_FIELDS);
    }
    for q in ["states=FINISHED", "queue=other", "user=nobody-at-all"] {
        assert_eq!(
            http.json(&format!("{rm}/ws/v1/cluster/apps?{q}")),
            serde_json::json!({ "apps": null }),
            "{q}"
        );
    }
    let attempts = http.json(&format!("{rm}/ws/v1/cluster/apps/{id}/appattempts"));
    let list = attempts["appAttempts"]["appAttempt"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{attempts}");
    assert_shape(
        "appAttempt",
        &list[0],
        &[
            ("id", 'i'),
            ("startTime", 'i'),
            ("finishedTime", 'i'),
            ("containerId", 's'),
            ("nodeHttpAddress", 's'),
            ("nodeId", 's'),
            ("logsLink", 's'),
            ("blacklistedNodes", 's'),
            ("appAttemptId", 's'),
        ],
    );
    assert_eq!(list[0]["id"], 1);
    assert_eq!(
        http.json(&format!("{rm}/ws/v1/cluster/apps/{id}/state")),
        serde_json::json!({ "state": "RUNNING" })
    );
    let m = http.json(&format!("{rm}/ws/v1/cluster/metrics"));
    assert_eq!(m["clusterMetrics"]["appsRunning"], 1, "{m}");
    assert!(
        m["clusterMetrics"]["allocatedMB"].as_u64().unwrap() > 0,
        "{m}"
    );

    // The AM's metrics, at its tracking URL, once executors ran tasks.
    let am = running["trackingUrl"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    // The tracking URL is the RM's proxy; the AM's own server (its address from its
    // log) answers only below a token that only the proxy was given.
    assert_eq!(am, format!("{rm}/proxy/{id}"));
    let am_own = eventually(
        Duration::from_secs(10),
        "the AM's UI address in its log",
        || {
            c.container_logs("stderr").iter().find_map(|f| {
                let log = std::fs::read_to_string(f).ok()?;
                let line = log
                    .lines()
                    .find(|l| l.contains("application UI listening on "))?;
                let addr = line
                    .split("listening on ")
                    .nth(1)?
                    .split_whitespace()
                    .next()?;
                Some(format!("http://{addr}"))
            })
        },
    );
    for path in ["", "/metrics", "/api/v1/applications", "/jobs/"] {
        assert_eq!(
            http.get(&format!("{am_own}{path}")).0,
            403,
            "{am_own}{path}"
        );
    }
    assert!(
        !running.to_string().contains(&am_own),
        "the AM's address leaked: {running}"
    );
    let am_metrics = eventually(Duration::from_secs(30), "AM tasks finishing", || {
        let s = scrape(&http, &format!("{am}/metrics"));
        (metric(
            &s,
            "spindle_am_tasks_finished_total",
            &[("outcome", "success")],
        ) >= 4.0)
            .then_some(s)
    });
    assert!(metric(&am_metrics, "spindle_am_executors_added_total", &[]) >= 1.0);
    spark_api_has_sparks_shapes(&http, &am, &id, true);
    rm_pages_show_containers_and_log_links(&http, &rm, &id);
    assert!(metric(&am_metrics, "spindle_am_scale_up_latency_seconds", &[]) >= 1.0);
    for st in ["target", "running", "pending"] {
        assert!(
            am_metrics
                .samples
                .iter()
                .any(|x| x.metric == "spindle_am_executors" && x.labels.get("state") == Some(st)),
            "no spindle_am_executors{{state={st}}}"
        );
    }

    // PUT .../state: refused without a client certificate, kills with one.
    let state_url = format!("{rm}/ws/v1/cluster/apps/{id}/state");
    let (code, body) = http.put_json(&state_url, r#"{"state":"KILLED"}"#, false);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("AuthorizationException"), "{body}");
    let (code, body) = http.put_json(&state_url, r#"{"state":"RUNNING"}"#, true);
    assert_eq!(code, 400, "{body}");
    assert!(app.running(), "the app must still run");
    let (code, body) = http.put_json(&state_url, r#"{"state":"KILLED"}"#, true);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({ "state": "KILLED" })
    );
    let (status, out) = app.wait();
    assert!(!status.success(), "a killed app's submit must fail: {out}");
    let killed = http.json(&format!("{rm}/ws/v1/cluster/apps/{id}"));
    assert_shape("app", &killed["app"], APP_FIELDS);
    assert_eq!(killed["app"]["state"], "KILLED");
    assert_eq!(killed["app"]["finalStatus"], "KILLED");
    assert!(killed["app"]["finishedTime"].as_u64().unwrap() > 0);
    assert_eq!(killed["app"]["trackingUI"], "History");
    assert!(
        killed["app"]["trackingUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{rm}/proxy/{id}/")),
        "{killed}"
    );
    let m = http.json(&format!("{rm}/ws/v1/cluster/metrics"));
    assert_eq!(m["clusterMetrics"]["appsKilled"], 1, "{m}");
    assert_eq!(m["clusterMetrics"]["appsSubmitted"], 1, "{m}");
    let v = http.json(&format!("{rm}/ws/v1/cluster/apps?states=KILLED"));
    assert_eq!(v["apps"]["app"].as_array().unwrap().len(), 1);

    // Counters moved on every daemon.
    let rm_after = scrape(&http, &format!("{rm}/metrics"));
    assert_eq!(
        metric(&rm_after, "spindle_rm_applications_submitted_total", &[]),
        1.0
    );
    assert_eq!(
        metric(&rm_after, "spindle_rm_applications", &[("state", "KILLED")]),
        1.0
    );
    assert_eq!(
        metric(
            &rm_after,
            "spindle_rm_applications_killed_over_rest_total",
            &[]
        ),
        1.0
    );
    assert!(
        metric(&rm_after, "spindle_rm_containers_allocated_total", &[])
            > metric(&rm_before, "spindle_rm_containers_allocated_total", &[]) + 1.0
    );
    assert!(metric(&rm_after, "spindle_rm_allocation_latency_seconds", &[]) >= 1.0);
    let nm_launched_after = nm_launched(&http, &nms);
    assert!(
        nm_launched_after >= nm_launched_before + 2.0,
        "{nm_launched_before} -> {nm_launched_after}"
    );
}

/// Spark's monitoring API below `base` (the live AM or the history view): the
/// environment, a stage's task list and summary, the storage list, and executors with
/// log links (fetched from their NM while `live`).
fn spark_api_has_sparks_shapes(http: &Http, base: &str, id: &str, live: bool) {
    let api = format!("{base}/api/v1/applications/{id}");
    let env = http.json(&format!("{api}/environment"));
    assert_shape(
        "environment",
        &env,
        &[
            ("runtime", 'o'),
            ("sparkProperties", 'a'),
            ("hadoopProperties", 'a'),
            ("systemProperties", 'a'),
            ("classpathEntries", 'a'),
        ],
    );
    assert!(
        env["sparkProperties"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "spark.dynamicAllocation.enabled"),
        "{env}"
    );
    let stages = http.json(&format!("{api}/stages"));
    let stage = find_in(&stages, "no stage with finished tasks", |s| {
        s["numCompleteTasks"].as_u64() > Some(0)
    });
    let (sid, attempt) = (&stage["stageId"], &stage["attemptId"]);
    for f in ["shuffleReadBytes", "shuffleWriteBytes", "inputBytes"] {
        assert!(stage[f].is_u64(), "{f}: {stage}");
    }
    let tasks = http.json(&format!("{api}/stages/{sid}/{attempt}/taskList?length=3"));
    let tasks = tasks.as_array().unwrap();
    assert!(!tasks.is_empty() && tasks.len() <= 3);
    let done = tasks
        .iter()
        .find(|t| t["status"] == "SUCCESS")
        .expect("a successful task");
    assert_shape(
        "task",
        done,
        &[
            ("taskId", 'i'),
            ("index", 'i'),
            ("attempt", 'i'),
            ("launchTime", 's'),
            ("duration", 'i'),
            ("executorId", 's'),
            ("host", 's'),
            ("status", 's'),
            ("taskLocality", 's'),
            ("speculative", 'b'),
            ("taskMetrics", 'o'),
        ],
    );
    let m = &done["taskMetrics"];
    for path in [
        "/executorRunTime",
        "/shuffleReadMetrics/remoteBytesRead",
        "/shuffleWriteMetrics/bytesWritten",
        "/inputMetrics/bytesRead",
        "/memoryBytesSpilled",
        "/diskBytesSpilled",
    ] {
        assert!(m.pointer(path).is_some_and(Value::is_u64), "{path}: {m}");
    }
    let summary = http.json(&format!(
        "{api}/stages/{sid}/{attempt}/taskSummary?quantiles=0.5,1"
    ));
    assert_eq!(summary["quantiles"], serde_json::json!([0.5, 1.0]));
    assert_eq!(summary["executorRunTime"].as_array().unwrap().len(), 2);
    assert!(summary["shuffleReadMetrics"]["readBytes"].is_array());
    assert!(http.json(&format!("{api}/storage/rdd")).is_array());
    let execs = http.json(&format!("{api}/allexecutors"));
    let exec = find_in(&execs, "no executor", |e| e["id"] != "driver");
    let stdout = exec["executorLogs"]["stdout"]
        .as_str()
        .unwrap_or_else(|| panic!("no stdout link: {exec}"));
    assert!(
        stdout.contains("/node/containerlogs/container_"),
        "{stdout}"
    );
    assert!(exec["executorLogs"]["stderr"].is_string(), "{exec}");
    if live {
        let (code, body) = http.get_as_user(stdout);
        assert_eq!(code, 200, "GET {stdout}: {body}");
    }
}

/// The RM's app page lists the running app's executors with links to their logs, and
/// each node's page lists its containers; every page links the scheduler and the
/// per-state application pages.
fn rm_pages_show_containers_and_log_links(http: &Http, rm: &str, id: &str) {
    let (code, page) = http.get(&format!("{rm}/cluster/app/{id}"));
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("<td>executor</td>"),
        "an executor row: {page}"
    );
    let stdout = page
        .split("href=\"")
        .skip(1)
        .map(|h| &h[..h.find('"').unwrap()])
        .find(|h| h.contains("/node/containerlogs/") && h.ends_with("/stdout"))
        .unwrap_or_else(|| panic!("no stdout link: {page}"));
    let (code, _) = http.get_as_user(stdout);
    assert_eq!(code, 200, "GET {stdout}");
    for href in [
        "/cluster/scheduler",
        "/cluster/apps/RUNNING",
        "/cluster/apps/KILLED",
    ] {
        assert!(page.contains(&format!("href=\"{href}\"")), "{href}");
    }
    let node = page
        .split("href=\"/cluster/node/")
        .nth(1)
        .map(|h| &h[..h.find('"').unwrap()])
        .unwrap_or_else(|| panic!("no node link: {page}"));
    let (code, node_page) = http.get(&format!("{rm}/cluster/node/{node}"));
    assert_eq!(code, 200, "{node_page}");
    assert!(
        node_page.contains(&format!("href=\"/cluster/app/{id}\"")),
        "the node's containers name the app: {node_page}"
    );
    assert!(node_page.contains("class=\"container\""));
    let (code, _) = http.get(&format!("{rm}/cluster/node/nosuch:1"));
    assert_eq!(code, 404);
    let (code, sched) = http.get(&format!("{rm}/cluster/scheduler"));
    assert_eq!(code, 200);
    assert!(sched.contains("<tr class=\"queue\">"), "{sched}");
}

// ------------------------------------------------------------------ chromium

const CHROMIUM: &str = "/usr/bin/chromium";

fn artifacts() -> PathBuf {
    let d = bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(bin_dir)
        .join("test-artifacts")
        .join("web");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Headless Chromium, fresh profile each time; console lines are errors.
struct Browser {
    profiles: tempfile::TempDir,
    n: std::cell::Cell<u32>,
}

impl Browser {
    fn new() -> Self {
        assert!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: apt-get update && apt-get install -y chromium"
        );
        Self {
            profiles: tempfile::tempdir().unwrap(),
            n: std::cell::Cell::new(0),
        }
    }

    /// Runs Chromium on `url`: (stdout, stderr, console lines).
    fn run(&self, what: &[&str], url: &str) -> (String, String, Vec<String>) {
        self.n.set(self.n.get() + 1);
        let profile = self.profiles.path().join(self.n.get().to_string());
        let out = Command::new("timeout")
            .args(["90", CHROMIUM])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                // The RM's certificate is from the cluster CA, not a public one.
                "--ignore-certificate-errors",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(what)
            .arg(url)
            .output()
            .expect("run chromium");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let console: Vec<String> = stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .map(str::to_string)
            .collect();
        let _ = std::fs::remove_dir_all(&profile);
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
            console,
        )
    }

    /// The page's DOM after loading, or the console messages it caused.
    fn try_dom(&self, url: &str) -> Result<String, String> {
        let (dom, stderr, console) = self.run(&["--dump-dom"], url);
        if !console.is_empty() {
            return Err(format!("console messages on {url}: {console:#?}"));
        }
        if !dom.contains("</html>") {
            return Err(format!("no DOM for {url}: {stderr}"));
        }
        Ok(dom)
    }

    /// The page's DOM; no console messages allowed.
    fn dom(&self, url: &str) -> String {
        self.try_dom(url).unwrap_or_else(|e| panic!("{e}"))
    }

    fn screenshot(&self, url: &str, name: &str) {
        let file = artifacts().join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        let (_, stderr, console) = self.run(&[&format!("--screenshot={}", file.display())], url);
        assert!(
            console.is_empty(),
            "console messages on {url}: {console:#?}"
        );
        assert!(file.is_file(), "no screenshot of {url}: {stderr}");
    }
}

/// Jobs → a job → its stage → the task table, and the Environment and Storage tabs,
/// in Chromium (no console errors), with screenshots.
fn walk_spark_tabs(browser: &Browser, base: &str) {
    // The first link whose path has `/{what}/` followed by a number, made absolute.
    let origin_end = base.find("://").map_or(0, |i| i + 3);
    let origin = &base[..origin_end
        + base[origin_end..]
            .find('/')
            .unwrap_or(base.len() - origin_end)];
    let link = |dom: &str, what: &str| -> String {
        dom.split("href=\"")
            .skip(1)
            .map(|h| &h[..h.find('"').unwrap_or(0)])
            .find(|h| {
                h.split_once(&format!("/{what}/"))
                    .is_some_and(|(_, n)| n.starts_with(|c: char| c.is_ascii_digit()))
            })
            .map(|h| format!("{origin}{h}"))
            .unwrap_or_else(|| panic!("no link to {what}: {dom}"))
    };
    let jobs = browser.dom(&format!("{base}/jobs/"));
    assert!(jobs.contains("id=\"jobs-timeline\""), "jobs event timeline");
    let job_dom = browser.dom(&link(&jobs, "jobs"));
    let stage = link(&job_dom, "stages");
    let dom = browser.dom(&stage);
    assert!(
        dom.contains("id=\"task-summary\""),
        "summary quantiles: {dom}"
    );
    assert!(dom.contains("<table id=\"tasks\""), "task table");
    assert!(dom.contains("<th>Shuffle Read</th>"));
    browser.screenshot(&stage, "history-stage");
    let dom = browser.dom(&format!("{base}/environment/"));
    assert!(dom.contains("spark.dynamicAllocation.enabled"), "{dom}");
    browser.screenshot(&format!("{base}/environment/"), "history-environment");
    let dom = browser.dom(&format!("{base}/storage/"));
    assert!(dom.contains("<table id=\"storage\""));
    browser.screenshot(&format!("{base}/jobs/"), "history-jobs");
    browser.screenshot(&format!("{base}/timeline/"), "history-timeline");
}

/// The number in `<span id="ID">N</span>`.
fn span_number(dom: &str, id: &str) -> Option<i64> {
    let start = dom.find(&format!("id=\"{id}\">"))? + id.len() + 6;
    dom[start..].split('<').next()?.trim().parse().ok()
}

/// Executors that ever registered, from Spark's API (the driver excluded).
fn executors_ever(http: &Http, base: &str, id: &str) -> usize {
    let all = http.json(&format!("{base}/api/v1/applications/{id}/allexecutors"));
    all.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] != "driver")
        .count()
}

fn timeline_bars(svg: &str) -> usize {
    svg.matches("class=\"executor ").count()
}

#[test]
fn ui_pages_in_chromium_show_executors_rise_and_fall() {
    let browser = Browser::new();
    let c = Cluster::up(2, &[]);
    let http = Http::new(&c);
    let rm = rm_base(&c);
    // `/` redirects to the overview, which Chromium renders.
    let (code, _) = http.curl(&["-o", "/dev/null"], &format!("{rm}/"));
    assert!((300..400).contains(&code), "{code}");
    let dom = browser.dom(&format!("{rm}/"));
    assert!(dom.contains("Cluster overview"), "{dom}");

    let mut app = submit_bursty(
        &c,
        &dynamic_with(&[
            "spark.dynamicAllocation.maxExecutors=4",
            "spark.dynamicAllocation.executorIdleTimeout=2s",
        ]),
        // Tasks and gap long enough for a browser sampling about once a
        // second to see the bursts and the idle executors leave between them.
        &bursty(2, 16, 1000, 6000),
    );
    let id = app_id(&app);
    let running = wait_running(&http, &rm, &id);
    let am = running["trackingUrl"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    // The same page polled fast, as a second witness of the count's course.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, url) = (stop.clone(), format!("{am}/executors/"));
        let http = Http::new(&c);
        std::thread::spawn(move || {
            let mut series: Vec<i64> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (code, page) = http.get(&url);
                if code == 200 {
                    if let Some(n) = span_number(&page, "active-executors") {
                        if series.last() != Some(&n) {
                            series.push(n);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            series
        })
    };

    // Watch the AM's Executors page in Chromium while the app runs.
    let mut seen: Vec<i64> = Vec::new();
    let mut shots = 0;
    let started = Instant::now();
    let mut live_timeline_checked = false;
    while app.running() && started.elapsed() < Duration::from_secs(120) {
        let dom = match browser.try_dom(&format!("{am}/executors/")) {
            Ok(d) => d,
            // The AM exits with the app: a load may race with that.
            Err(_) if !app.running() => break,
            Err(e) => panic!("{e}"),
        };
        let n = span_number(&dom, "active-executors")
            .unwrap_or_else(|| panic!("no active-executors count: {dom}"));
        let rows = dom.matches("class=\"executor-row active\"").count() as i64;
        assert_eq!(rows, n, "active rows vs the count on the page");
        if seen.last() != Some(&n) {
            seen.push(n);
        }
        let peak_so_far = seen.iter().copied().max().unwrap_or(0);
        if n >= 2 && n == peak_so_far && shots == 0 {
            browser.screenshot(&format!("{am}/executors/"), "am-executors-busy");
            browser.screenshot(&format!("{am}/jobs/"), "am-jobs");
            shots += 1;
        }
        if !live_timeline_checked && n > 0 {
            // One bar per executor that ever ran, live (an executor may
            // register between the two reads: retry).
            for _ in 0..5 {
                let (code, svg) = http.get(&format!("{am}/timeline.svg"));
                if code != 200 {
                    break;
                }
                let ever = executors_ever(&http, &am, &id);
                if timeline_bars(&svg) == ever {
                    live_timeline_checked = true;
                    break;
                }
            }
        }
        if n == 0 && seen.iter().any(|&x| x > 0) && shots == 1 {
            browser.screenshot(&format!("{am}/executors/"), "am-executors-idle");
            browser.screenshot(&format!("{am}/timeline/"), "am-timeline-live");
            shots += 1;
        }
    }
    let (status, out) = app.wait();
    assert!(status.success(), "{out}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polled = poller.join().unwrap();
    // Polled: up to the maximum, down to none in the gap, up again.
    let top = polled.iter().position(|&n| n == 4);
    let zero = top.and_then(|t| polled[t..].iter().position(|&n| n == 0).map(|z| t + z));
    assert!(
        zero.is_some_and(|z| polled[z..].iter().any(|&n| n > 0)),
        "the Executors page (polled) did not rise to 4, fall to 0 and rise again: {polled:?}"
    );
    // In Chromium: 2+ executors, then none in the gap.
    let busy = seen.iter().position(|&n| n >= 2);
    assert!(
        busy.is_some_and(|b| seen[b..].contains(&0)),
        "the Executors page in Chromium did not rise to 2+ and fall to 0: {seen:?}"
    );
    assert!(
        live_timeline_checked,
        "the live timeline never matched allexecutors"
    );

    // After the end: the same tracking URL serves the RM's history view.
    let done = eventually(Duration::from_secs(30), "FINISHED", || {
        let v = http.json(&format!("{rm}/ws/v1/cluster/apps/{id}"));
        (v["app"]["state"] == "FINISHED").then(|| v["app"].clone())
    });
    let history = done["trackingUrl"].as_str().unwrap().to_string();
    assert_eq!(history, format!("{rm}/proxy/{id}/"));
    let h = history.trim_end_matches('/');
    let ever = executors_ever(&http, h, &id);
    assert!(ever >= 3, "{ever} executors over two bursts");
    let (code, svg) = http.get(&format!("{h}/timeline.svg"));
    assert_eq!(code, 200);
    assert_eq!(timeline_bars(&svg), ever, "one bar per executor: {svg}");
    assert!(svg.contains("class=\"target\"") && svg.contains("class=\"tasks\""));
    let dom = browser.dom(&format!("{h}/executors/"));
    assert_eq!(span_number(&dom, "active-executors"), Some(0), "all ended");
    assert_eq!(
        dom.matches("class=\"executor-row").count(),
        ever,
        "one row per executor"
    );
    assert_eq!(
        timeline_bars(&dom),
        ever,
        "the page's SVG: one bar per executor"
    );
    assert!(dom.contains("idle timeout"), "removal reasons shown");
    assert!(!dom.contains("Allocation target"), "nothing live-only");
    assert!(dom.contains(">stdout</a>"), "executor log links");
    browser.screenshot(&format!("{h}/executors/"), "history-executors");
    spark_api_has_sparks_shapes(&http, h, &id, false);
    walk_spark_tabs(&browser, h);
    let dom = browser.dom(&history);
    assert!(
        dom.contains("<table id=\"jobs\""),
        "the history redirects to jobs"
    );
    assert_eq!(dom.matches("<tr class=\"job\">").count(), 2);
    browser.screenshot(&format!("{h}/stages/"), "history-stages");

    // The RM's pages.
    let dom = browser.dom(&format!("{rm}/cluster/apps"));
    assert!(
        dom.contains(&format!("data-app=\"{id}\"")),
        "apps list shows the app"
    );
    browser.screenshot(&format!("{rm}/cluster/apps"), "rm-apps");
    let dom = browser.dom(&format!("{rm}/cluster/apps/FINISHED"));
    assert!(dom.contains(&format!("data-app=\"{id}\"")));
    let dom = browser.dom(&format!("{rm}/cluster/apps?state=RUNNING"));
    assert!(!dom.contains(&format!("data-app=\"{id}\"")), "filtered out");
    let dom = browser.dom(&format!("{rm}/cluster/app/{id}"));
    assert!(dom.contains("id=\"state\">FINISHED<"), "{dom}");
    assert!(dom.contains(&history), "links to the history view");
    assert!(dom.contains("MB-seconds"));
    browser.screenshot(&format!("{rm}/cluster/app/{id}"), "rm-app");
    let dom = browser.dom(&format!("{rm}/cluster/nodes"));
    assert_eq!(dom.matches("<tr class=\"node\">").count(), 2);
    browser.screenshot(&format!("{rm}/cluster/nodes"), "rm-nodes");
    browser.screenshot(&format!("{rm}/cluster"), "rm-cluster");
    for name in [
        "am-executors-busy",
        "history-executors",
        "rm-apps",
        "rm-app",
        "rm-nodes",
    ] {
        assert!(artifacts().join(format!("{name}.png")).is_file(), "{name}");
    }
}
