//! Capacity queues on a real local cluster: a static app that fills the cluster from
//! queue `a` gives a container back (preemption, -102) to an app in queue `b`, both
//! succeed, and the queues show in `spindle queue list`, `app list --queue` and REST;
//! unknown and parent queues are refused by name.

use spindle_tests::*;
use std::time::{Duration, Instant};

fn appmaster() -> String {
    bin("appmaster").display().to_string()
}

/// Two 4096 MB nodes (four containers of 1408 MB) and two queues at 50% each.
fn two_queues(a: &str, b: &str, extra: &[&str]) -> Cluster {
    let (qa, qb) = (format!("{a}=50"), format!("{b}=50"));
    let mut args = vec!["--node-memory-mb", "4096", "--queue", &qa, "--queue", &qb];
    args.extend(extra);
    Cluster::up(2, &args)
}

/// `options`, then Bursty's arguments for one job of `tasks` sleeping tasks of `ms` each.
fn one_job(options: &str, am: &str, tasks: &str, ms: &str) -> Vec<String> {
    let job = format!(
        "{options} --class Bursty {am} --jobs 1 --tasks {tasks} --task-ms {ms} --gap-ms 0 --work sleep"
    );
    job.split_whitespace().map(String::from).collect()
}

/// A static app in queue a asking for 5 executors, running `tasks` one-second tasks;
/// returns once it holds the whole cluster (four 1408 MB containers).
fn hog_in_a(c: &Cluster, am: &str, tasks: &str) -> std::process::Child {
    let args = one_job(
        "--queue a --num-executors 5 --executor-cores 1",
        am,
        tasks,
        "1000",
    );
    let hog = c.submit_spawn(&args);
    eventually(Duration::from_secs(20), "the hog fills the cluster", || {
        let nodes = text(&c.run(&["node", "list"]));
        (nodes.matches("2816/4096").count() == 2).then_some(())
    });
    hog
}

/// SparkPi in queue b with one executor, run to its end; what it printed.
fn pi_in_b(c: &Cluster, am: &str, slices: &str) -> String {
    c.submit_ok(&[
        "--queue",
        "b",
        "--num-executors",
        "1",
        "--class",
        "SparkPi",
        am,
        slices,
    ])
}

/// The app id `spindle-submit` printed.
fn app_id(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("application_"))
        .expect("an application id")
        .to_string()
}

#[test]
fn an_app_in_a_starved_queue_gets_its_share_back_by_preemption() {
    let c = two_queues("a", "b", &["--preemption-wait", "1s"]);
    let am = appmaster();
    let hog = hog_in_a(&c, &am, "24");
    let t0 = Instant::now();
    let out = pi_in_b(&c, &am, "4");
    let took = t0.elapsed();
    assert!(out.contains("Pi is roughly"), "{out}");
    // Two preemption waits (its AM, then its executor) and the starts: well under the
    // hog's 24 s of work.
    assert!(took < Duration::from_secs(10), "queue b waited {took:?}");
    let hog_out = hog.wait_with_output().unwrap();
    let hog_text = format!(
        "{}{}",
        String::from_utf8_lossy(&hog_out.stdout),
        String::from_utf8_lossy(&hog_out.stderr)
    );
    assert!(hog_out.status.success(), "{hog_text}");
    assert!(hog_text.contains("(expected 276)"), "{hog_text}");
    assert!(hog_text.contains("answer 276"), "{hog_text}");
    let hog_id = app_id(&hog_text);
    let status = success(&c.run(&["app", "status", &hog_id]));
    assert_contains(&status, &["Queue : a"]);
    // Preempted containers are not failures, and the RM counts them.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_rt = rt.enter();
    let rm = c.rm_client();
    let report = rt.block_on(rm.report(hog_id.parse().unwrap())).unwrap();
    assert!(
        report.preempted.non_am_containers >= 1,
        "{:?}",
        report.preempted
    );
    assert_eq!(report.queue_path, "root.a");
    let list = success(&c.run(&["app", "list", "--queue", "b"]));
    assert!(
        list.contains("SparkPi") && !list.contains("Bursty"),
        "{list}"
    );
    let queues = success(&c.run(&["queue", "list"]));
    assert_contains(&queues, &["root.a", "root.b", "50.0%"]);
}

#[test]
fn unknown_and_parent_queues_are_refused_by_name_and_nothing_runs() {
    let c = Cluster::up(1, &["--queue", "a=100"]);
    let am = appmaster();
    for (queue, says) in [
        ("nosuchqueue", "unknown queue: nosuchqueue"),
        ("root", "parent queue"),
    ] {
        let out = c.submit(&["--queue", queue, "--class", "SparkPi", &am, "2"]);
        let t = failure(&out);
        assert!(t.contains(says), "{t}");
    }
    let list = success(&c.run(&["app", "list"]));
    assert!(list.contains("Total number of applications:0"), "{list}");
    // A bad --queue for cluster up names the problem.
    let d = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin("spindle"))
        .args([
            "cluster", "up", "--queue", "a=60", "--queue", "b=30", "--dir",
        ])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("sum to 90"), "{}", text(&out));
}

/// Rewrites the queue tables of the cluster's RM config and sends the RM SIGHUP.
fn refresh_queues(c: &Cluster, tables: &str) {
    let conf = c.conf_dir().join("resourcemanager.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    let keys = text.split("[queues.").next().unwrap().to_string();
    std::fs::write(&conf, format!("{keys}{tables}")).unwrap();
    // SAFETY: signalling the RM this test's cluster started.
    unsafe {
        libc::kill(c.pid("resourcemanager"), libc::SIGHUP);
    }
}

#[test]
fn sighup_refreshes_queues_and_refuses_a_bad_change_keeping_the_old_ones() {
    let c = Cluster::up(1, &["--queue", "a=100"]);
    refresh_queues(
        &c,
        "[queues.a]\ncapacity = 40\n[queues.b]\ncapacity = 60\nstate = \"STOPPED\"\n",
    );
    let listed = eventually(Duration::from_secs(10), "queue b after SIGHUP", || {
        let t = text(&c.run(&["queue", "list"]));
        t.contains("root.b").then_some(t)
    });
    assert_contains(&listed, &["root.a", "40.0%", "60.0%", "STOPPED"]);
    // The RM UI's scheduler page shows them as bars (anonymous reads are open on loopback).
    let web = c.client_conf().rm_web_address;
    let page = std::process::Command::new("curl")
        .args(["-sk", &format!("https://{web}/cluster/scheduler")])
        .output()
        .unwrap();
    assert_contains(
        &text(&page),
        &["Capacity Scheduler", "root.b", "class=\"bar\"", "STOPPED"],
    );
    // A STOPPED queue takes no new apps.
    let out = c.submit(&["--queue", "b", "--class", "SparkPi", &appmaster(), "2"]);
    assert!(failure(&out).contains("STOPPED"), "{}", text(&out));
    // Capacities that do not sum to 100: refused, the running queues stay.
    refresh_queues(&c, "[queues.a]\ncapacity = 40\n[queues.b]\ncapacity = 50\n");
    let log = c.path().join("logs/resourcemanager.log");
    eventually(Duration::from_secs(10), "the refusal in the RM log", || {
        let l = std::fs::read_to_string(&log).unwrap_or_default();
        l.contains("reload refused").then_some(())
    });
    let t = text(&c.run(&["queue", "list"]));
    assert_contains(&t, &["root.a", "root.b", "60.0%"]);
}

#[test]
fn compare_puts_each_tenant_in_its_own_queue() {
    let c = two_queues("t1", "t2", &[]);
    let am = appmaster();
    let args = one_job(
        "compare --no-progress --tenants 2 --queues --num-executors 1 --executor-cores 1 \
         --conf spark.dynamicAllocation.maxExecutors=1",
        &am,
        "4",
        "100",
    );
    let out = c.spindle().args(&args).output().unwrap();
    let t = success(&out);
    assert_contains(
        &t,
        &[
            "static #1 in t1",
            "dynamic #2 in t2",
            "executor-seconds ratio",
        ],
    );
    for q in ["t1", "t2"] {
        let list = success(&c.run(&["app", "list", "--queue", q]));
        assert!(
            list.contains("Total number of applications:2"),
            "{q}: {list}"
        );
    }
    // Without enough queues, the refusal says how to make them.
    let c1 = Cluster::up(1, &[]);
    let out = c1.run(&[
        "compare",
        "--tenants",
        "2",
        "--queues",
        "--class",
        "SparkPi",
        &am,
    ]);
    assert!(
        failure(&out).contains("--queue t1=50 --queue t2=50"),
        "{}",
        text(&out)
    );
}

/// An unmodified YARN REST client (PyPI's yarn-api-client, installed by `.ci/run`) reads
/// the scheduler and an app's queue.
#[test]
fn a_yarn_rest_client_reads_the_capacity_scheduler() {
    let c = two_queues("a", "b", &[]);
    let am = appmaster();
    c.submit_ok(&["--queue", "b", "--class", "SparkPi", &am, "2"]);
    let conf = c.client_conf();
    let script = r#"
import sys
from yarn_api_client.resource_manager import ResourceManager
rm = ResourceManager(service_endpoints=["https://" + sys.argv[1]], verify=sys.argv[2])
info = rm.cluster_scheduler().data["scheduler"]["schedulerInfo"]
queues = {q["queueName"]: q["capacity"] for q in info["queues"]["queue"]}
apps = rm.cluster_applications(queue="b").data["apps"]["app"]
print(info["type"], queues["a"], queues["b"], len(apps), apps[0]["queue"])
"#;
    // requests lets REQUESTS_CA_BUNDLE (set on some hosts) override the client's own
    // `verify`: point it at the cluster CA too.
    let out = std::process::Command::new("python3")
        .args(["-c", script, &conf.rm_web_address])
        .arg(&conf.ca)
        .env("REQUESTS_CA_BUNDLE", &conf.ca)
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .expect("python3");
    assert_eq!(
        text(&out).trim(),
        "capacityScheduler 50.0 50.0 1 b",
        "(pip install yarn-api-client if it is missing)"
    );
}

#[test]
fn without_preemption_the_starved_queue_waits_for_the_hog() {
    let c = two_queues("a", "b", &["--no-preemption"]);
    let am = appmaster();
    let hog = hog_in_a(&c, &am, "12");
    let out = pi_in_b(&c, &am, "2");
    let hog_out = hog.wait_with_output().unwrap();
    assert!(hog_out.status.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_rt = rt.enter();
    let rm = c.rm_client();
    let report = |out: &str| {
        rt.block_on(rm.report(app_id(out).parse().unwrap()))
            .unwrap()
    };
    let (hog, pi) = (
        report(&String::from_utf8_lossy(&hog_out.stdout)),
        report(&out),
    );
    assert!(
        pi.start_time > 0 && pi.finish_time >= hog.finish_time,
        "queue b's app ended at {} before the hog's end at {}",
        pi.finish_time,
        hog.finish_time
    );
    assert_eq!(
        hog.preempted.non_am_containers + hog.preempted.am_containers,
        0
    );
}
