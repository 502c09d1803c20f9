//! Chaos on a cluster in one process: the RM and the NMs run as tasks of this test on
//! loopback ports (configs from `spindle cluster up --configs-only`), real applications
//! run in their containers, and a seeded schedule (reproducible: `CHAOS_SEED=N`) delays,
//! drops, duplicates and cuts the daemons' calls (`common::faults`) and kills -9 and
//! restarts the RM and the NMs while the apps run. Checked after every step: the RM's
//! accounting ([`RmHandle::audit`]: no container held twice or on two nodes, each node's
//! use the sum of its containers and within its capacity). At the end: every app
//! SUCCEEDED with the right answer, and no container is left, at the RM or on a node.

use common::faults::{self, Fault, FaultPlan};
use common::protocol::YarnApplicationState as AppState;
use daemon::config::DaemonConfig;
use nodemanager::{NmConfig, NmHandle};
use resourcemanager::{RmConfig, RmHandle};
use spindle_tests::{bin, class_args, text, xorshift, Running, NO_CONF};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Faults by the address called, each with its chance in 100.
#[derive(Default)]
struct Plan {
    rng: Mutex<u64>,
    rules: Mutex<BTreeMap<String, (Fault, u64)>>,
}

impl FaultPlan for Plan {
    fn on_call(&self, to: &str) -> Fault {
        let Some((fault, chance)) = self.rules.lock().unwrap().get(to).copied() else {
            return Fault::Pass;
        };
        let roll = xorshift(&mut self.rng.lock().unwrap()) % 100;
        if roll < chance {
            fault
        } else {
            Fault::Pass
        }
    }
}

/// The cluster: its directory (configs, certificates, state), the RM and the NMs.
struct InProcess {
    dir: tempfile::TempDir,
    rm_conf: RmConfig,
    rm: Option<RmHandle>,
    nm_confs: Vec<NmConfig>,
    nms: Vec<Option<NmHandle>>,
}

/// Starts a daemon, trying again while the ports and files of the one before it are
/// still being let go.
async fn retrying<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut start: impl FnMut() -> F,
) -> T {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match start().await {
            Ok(h) => return h,
            Err(e) if Instant::now() < until => {
                eprintln!("{what} not up yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{what} did not start: {e}"),
        }
    }
}

impl InProcess {
    async fn up(nodes: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spindle-chaos-")
            .tempdir()
            .unwrap();
        let out = Command::new(bin("spindle"))
            .args(["cluster", "up", "--configs-only", "--nm-expiry", "10s"])
            .args([
                "--heartbeat-interval",
                "200ms",
                "--nodes",
                &nodes.to_string(),
            ])
            .arg("--dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let conf = |name: &str| dir.path().join("conf").join(format!("{name}.toml"));
        let rm_conf = RmConfig::load(&conf("resourcemanager")).unwrap();
        let nm_confs: Vec<NmConfig> = (1..=nodes)
            .map(|i| {
                let mut c = NmConfig::load(&conf(&format!("nodemanager-{i}"))).unwrap();
                // Containers run under the NM binary's launcher, not this test's.
                c.launcher = bin("nodemanager");
                c
            })
            .collect();
        let mut me = Self {
            dir,
            rm_conf,
            rm: None,
            nms: nm_confs.iter().map(|_| None).collect(),
            nm_confs,
        };
        me.start_rm().await;
        for i in 0..me.nm_confs.len() {
            me.start_nm(i).await;
        }
        me
    }

    async fn start_rm(&mut self) {
        let conf = self.rm_conf.clone();
        self.rm = Some(retrying("the RM", || resourcemanager::start(&conf)).await);
    }

    async fn start_nm(&mut self, i: usize) {
        let conf = self.nm_confs[i].clone();
        self.nms[i] = Some(retrying("an NM", || nodemanager::start(&conf)).await);
    }

    fn rm_address(&self) -> String {
        self.rm_conf.address.clone()
    }

    fn nm_address(&self, i: usize) -> String {
        self.nm_confs[i].address.clone()
    }

    async fn restart_rm(&mut self) {
        if let Some(rm) = self.rm.take() {
            rm.kill();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.start_rm().await;
    }

    async fn restart_nm(&mut self, i: usize) {
        if let Some(nm) = self.nms[i].take() {
            nm.kill().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.start_nm(i).await;
    }

    fn audit(&self, step: &str) {
        if let Some(rm) = &self.rm {
            if let Err(e) = rm.audit() {
                panic!("after {step}: the RM's accounting is broken: {e}");
            }
        }
    }

    fn submit(&self, args: &[String]) -> Running {
        let mut cmd = Command::new(bin("spindle-submit"));
        cmd.env("SPINDLE_CONF_DIR", self.dir.path().join("conf"))
            .args(["--master", "spindle"])
            .args(args);
        Running::spawn(cmd)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The apps of the workload: Bursty (2 static executors, 2 jobs) and SparkPi, with the
/// line each prints when right.
fn workload() -> Vec<(Vec<String>, &'static str)> {
    let bursty = class_args(
        &["--num-executors", "2", "--executor-cores", "1"],
        NO_CONF,
        "Bursty",
        &[
            "--jobs",
            "2",
            "--tasks",
            "8",
            "--task-ms",
            "150",
            "--gap-ms",
            "500",
            "--work",
            "sleep",
        ],
    );
    let pi = class_args(
        &["--num-executors", "2", "--executor-cores", "1"],
        NO_CONF,
        "SparkPi",
        &["2"],
    );
    vec![
        (bursty.clone(), " of 2: "),
        (pi.clone(), "Pi is roughly 3.1"),
        (bursty, " of 2: "),
        (pi, "Pi is roughly 3.1"),
    ]
}

/// Files under the NMs' app caches: what the apps leave behind.
fn app_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in 1..=2 {
        let users = root.join(format!("nm-{i}")).join("local").join("usercache");
        for u in std::fs::read_dir(users).into_iter().flatten().flatten() {
            for a in std::fs::read_dir(u.path().join("appcache"))
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(a.path());
            }
        }
    }
    out
}

async fn chaos(seed: u64) {
    let mut c = InProcess::up(2).await;
    let plan = Arc::new(Plan {
        rng: Mutex::new(seed.max(1)),
        ..Default::default()
    });
    faults::install(plan.clone());
    let apps: Vec<(Running, &str)> = workload()
        .into_iter()
        .map(|(args, answer)| (c.submit(&args), answer))
        .collect();
    // The workload is submitted before the chaos starts (the chaos is for running apps).
    let until = Instant::now() + Duration::from_secs(60);
    while apps.iter().any(|(r, _)| r.word("application_").is_none()) {
        assert!(
            Instant::now() < until,
            "seed {seed}: the apps were not submitted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rng = seed.max(1) ^ 0x9e37_79b9;
    let mut log = Vec::new();
    for step in 0..10 {
        plan.rules.lock().unwrap().clear();
        let nm = (xorshift(&mut rng) % 2) as usize;
        let what = match xorshift(&mut rng) % 7 {
            0 => {
                let d = Duration::from_millis(20 + xorshift(&mut rng) % 200);
                plan.rules
                    .lock()
                    .unwrap()
                    .insert(c.rm_address(), (Fault::Delay(d), 50));
                format!("delay calls to the RM by {d:?}")
            }
            1 => {
                plan.rules
                    .lock()
                    .unwrap()
                    .insert(c.rm_address(), (Fault::Drop, 30));
                "drop 30% of calls to the RM".to_string()
            }
            2 => {
                plan.rules
                    .lock()
                    .unwrap()
                    .insert(c.rm_address(), (Fault::Duplicate, 50));
                "send half the calls to the RM twice".to_string()
            }
            3 => {
                plan.rules
                    .lock()
                    .unwrap()
                    .insert(c.nm_address(nm), (Fault::Partition, 100));
                format!("cut NM {nm} off from the RM")
            }
            4 => {
                c.restart_rm().await;
                "kill -9 and restart the RM".to_string()
            }
            5 => {
                c.restart_nm(nm).await;
                format!("kill -9 and restart NM {nm}")
            }
            _ => "nothing".to_string(),
        };
        eprintln!("chaos seed {seed} step {step}: {what}");
        log.push(format!("step {step}: {what}"));
        tokio::time::sleep(Duration::from_millis(700)).await;
        c.audit(&log.join("; "));
    }
    plan.rules.lock().unwrap().clear();
    faults::clear();
    let steps = log.join("\n");
    for (run, answer) in apps {
        let (status, out) = tokio::task::spawn_blocking(move || run.wait())
            .await
            .unwrap();
        assert!(
            status.success() && out.contains(answer),
            "seed {seed}: an app failed after\n{steps}\n--- its output:\n{out}"
        );
    }
    c.audit("the apps' end");
    // Nothing leaks: no live container at the RM, every app's directory cleaned.
    let rm = c.rm.as_ref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live: u32 = rm.inspect(|s| s.node_reports().iter().map(|n| n.num_containers).sum());
        let dirs = app_dirs(c.path());
        if live == 0 && dirs.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: {live} containers live and {dirs:?} left after\n{steps}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = resourcemanager::state::Now {
        mono_ms: 0,
        wall_ms: 0,
    };
    let finished = rm
        .inspect(|s| s.list(&[], now))
        .into_iter()
        .filter(|r| r.state != AppState::FINISHED)
        .count();
    assert_eq!(finished, 0, "seed {seed}: apps not FINISHED after\n{steps}");
    for nm in c.nms.iter_mut().filter_map(Option::take) {
        nm.kill().await;
    }
    if let Some(rm) = c.rm.take() {
        rm.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apps_succeed_and_the_accounting_holds_through_seeded_chaos() {
    let seeds: Vec<u64> = match std::env::var("CHAOS_SEED") {
        Ok(s) => vec![s.parse().expect("CHAOS_SEED is a number")],
        Err(_) => vec![1, 2, 3, 4],
    };
    for seed in seeds {
        eprintln!("chaos seed {seed}");
        chaos(seed).await;
    }
}
