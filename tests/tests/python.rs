//! The Python front end end to end: the `spindle` package (its Python files
//! and the native module the workspace build makes, `lib_native.so`) on a
//! local master, and Python applications submitted with `spindle-submit` to a
//! real local cluster (cluster mode: the driver in the AM container, Python
//! workers on the executors).
//!
//! Needs python3 with cloudpickle (`python3 -m pip install cloudpickle`);
//! the tests install cloudpickle if it is missing and skip, saying why, only
//! when there is no python3 or it cannot be installed.

use am_core::eventlog::AppEvent;
use spindle_tests::{assert_contains, bin_dir, text, Cluster};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The repository's `python/` directory.
fn python_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("python")
}

fn python3_works(args: &[&str]) -> bool {
    Command::new("python3")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether python3 with cloudpickle is there (installing cloudpickle if it
/// can); prints why not.
fn python_ready() -> bool {
    if !python3_works(&["--version"]) {
        eprintln!("SKIPPED: no python3 on PATH (the Python front end needs it)");
        return false;
    }
    let probe = ["-c", "import cloudpickle"];
    if python3_works(&probe) {
        return true;
    }
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "-q", "--break-system-packages"])
        .arg("cloudpickle")
        .status();
    if python3_works(&probe) {
        return true;
    }
    eprintln!("SKIPPED: cloudpickle cannot be installed for python3 (pip install cloudpickle)");
    false
}

/// The `spindle` package assembled in `dir` from the source tree and the
/// built native module; the directory to put on `PYTHONPATH`.
fn package(dir: &Path) -> PathBuf {
    let native = bin_dir().join("lib_native.so");
    assert!(
        native.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        native.display()
    );
    let pkg = dir.join("spindle");
    std::fs::create_dir_all(&pkg).expect("package dir");
    for entry in std::fs::read_dir(python_src().join("spindle")).expect("python/spindle") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "py") {
            std::fs::copy(&p, pkg.join(p.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::copy(&native, pkg.join("_native.abi3.so")).expect("copy the native module");
    dir.to_path_buf()
}

fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("spindle-py-")
        .tempdir()
        .expect("tempdir")
}

/// A temp dir holding the assembled package, and the package's path; `None`
/// (the test is skipped, saying why) without python3 and cloudpickle.
fn setup() -> Option<(tempfile::TempDir, PathBuf)> {
    if !python_ready() {
        return None;
    }
    let dir = temp();
    let pkg = package(dir.path());
    Some((dir, pkg))
}

#[test]
fn python_api_on_a_local_master() {
    let Some((_dir, path)) = setup() else {
        return;
    };
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(python_src().join("tests"))
        .env("PYTHONPATH", &path)
        .output()
        .expect("run python3");
    let all = text(&out);
    assert!(out.status.success(), "the Python tests failed:\n{all}");
    assert_contains(&all, &["OK"]);
}

/// `--conf`s that put the assembled package on the driver's path.
fn on_path(pkg: &Path) -> Vec<String> {
    vec![
        "--conf".into(),
        format!("spark.yarn.appMasterEnv.PYTHONPATH={}", pkg.display()),
    ]
}

#[test]
fn seed_script_in_cluster_mode_scales_executors() {
    let Some((_dir, pkg)) = setup() else {
        return;
    };
    let cluster = Cluster::up(2, &[]);
    let mut args = on_path(&pkg);
    args.extend([
        "--conf".into(),
        "spark.eventLog.enabled=true".into(),
        python_src().join("examples/seed.py").display().to_string(),
    ]);
    let out = cluster.submit(&args);
    let all = text(&out);
    assert!(out.status.success(), "the seed script failed:\n{all}");
    assert_contains(&all, &["Job Finished. Count: 10000000", "http://"]);
    // The builder's dynamic allocation settings took effect in the AM.
    let log = cluster.event_log();
    let start = log
        .iter()
        .find_map(|l| match &l.event {
            AppEvent::ApplicationStart {
                dynamic_allocation,
                conf,
                ..
            } => Some((*dynamic_allocation, conf.clone())),
            _ => None,
        })
        .expect("application start");
    assert!(start.0, "dynamic allocation is on: {:?}", start.1);
    assert_eq!(
        start.1["spark.dynamicAllocation.executorIdleTimeout"],
        "60s"
    );
    let added = log
        .iter()
        .filter(|l| matches!(l.event, AppEvent::ExecutorAdded { .. }))
        .count();
    assert!(added >= 1, "executors ran the job: {added}");
}

#[test]
fn python_word_count_and_failures_in_cluster_mode() {
    let Some((dir, pkg)) = setup() else {
        return;
    };
    let words = dir.path().join("words.txt");
    let mut body = String::new();
    for i in 0..3000u32 {
        body.push_str(&format!("w{} the w{} and\n", i % 97, i % 13));
    }
    std::fs::write(&words, body).expect("write words");
    // A module shipped with --py-files, used by the driver and inside lambdas.
    let helper = dir.path().join("wchelp.py");
    std::fs::write(&helper, "def norm(w):\n    return w.strip().lower()\n").expect("helper");
    let app = dir.path().join("wc.py");
    std::fs::write(
        &app,
        "import sys, collections, wchelp\n\
         from spindle import SparkSession\n\
         spark = SparkSession.builder.appName('wc').getOrCreate()\n\
         sc = spark.sparkContext\n\
         got = dict(sc.textFile(sys.argv[1], 3).flatMap(lambda l: l.split())\n\
             .map(lambda w: (wchelp.norm(w), 1)).reduceByKey(lambda a, b: a + b).collect())\n\
         want = collections.Counter(w for l in open(sys.argv[1]) for w in l.split())\n\
         assert got == dict(want), (len(got), len(want))\n\
         print('WordCount matches', len(got))\n\
         spark.stop()\n",
    )
    .expect("app");
    let cluster = Cluster::up(2, &[]);
    let mut args = on_path(&pkg);
    args.extend([
        "--py-files".into(),
        helper.display().to_string(),
        app.display().to_string(),
        words.display().to_string(),
    ]);
    let out = cluster.submit(&args);
    let all = text(&out);
    assert!(out.status.success(), "the word count failed:\n{all}");
    assert_contains(&all, &["WordCount matches 99"]);

    // A Python exception on an executor: the driver gets its traceback, the
    // application fails and spindle-submit exits non-zero.
    let bad = dir.path().join("bad.py");
    std::fs::write(
        &bad,
        "from spindle import SparkSession\n\
         sc = SparkSession.builder.getOrCreate().sparkContext\n\
         def explode(x):\n    return 1 // (x - 5)\n\
         sc.parallelize(range(10), 2).map(explode).collect()\n",
    )
    .expect("bad app");
    let mut args = on_path(&pkg);
    args.extend([
        "--conf".into(),
        "spark.task.maxFailures=1".into(),
        bad.display().to_string(),
    ]);
    let out = cluster.submit(&args);
    let all = text(&out);
    assert!(!out.status.success(), "the failing app succeeded:\n{all}");
    assert_contains(
        &all,
        &[
            "FAILED",
            "Traceback (most recent call last)",
            "in explode",
            "ZeroDivisionError",
        ],
    );
}

/// Active executors (without the driver's row) in a Spark executors list.
fn executors_in(body: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(v.as_array()?.len().saturating_sub(1))
}

#[test]
fn client_mode_driver_scales_executors_up_and_down() {
    let Some((dir, pkg)) = setup() else {
        return;
    };
    let release = dir.path().join("release");
    let script = dir.path().join("client.py");
    std::fs::write(
        &script,
        format!(
            "import os, sys, time\n\
             from spindle import SparkSession\n\
             spark = (SparkSession.builder.appName('py-client').master('spindle')\n\
                 .config('spark.dynamicAllocation.enabled', 'true')\n\
                 .config('spark.dynamicAllocation.minExecutors', '0')\n\
                 .config('spark.dynamicAllocation.maxExecutors', '4')\n\
                 .config('spark.dynamicAllocation.initialExecutors', '1')\n\
                 .config('spark.dynamicAllocation.executorIdleTimeout', '2s')\n\
                 .config('spark.dynamicAllocation.schedulerBacklogTimeout', '1s')\n\
                 .config('spark.dynamicAllocation.shuffleTracking.enabled', 'true')\n\
                 .config('spark.executor.cores', '1')\n\
                 .getOrCreate())\n\
             sc = spark.sparkContext\n\
             print('UI', sc.uiWebUrl, sc.applicationId, flush=True)\n\
             n = sc.parallelize(range(12), 12).map(lambda x: (time.sleep(0.8), x * x)[1]).count()\n\
             print('JOB DONE', n, flush=True)\n\
             deadline = time.time() + 60\n\
             while not os.path.exists({release:?}) and time.time() < deadline: time.sleep(0.1)\n\
             print(f'Job Finished. Count: {{n}}', flush=True)\n",
            release = release.display().to_string(),
        ),
    )
    .expect("script");
    let cluster = Cluster::up(2, &[]);
    // The package on the containers' path, from the cluster's defaults (the
    // scripts stay as a user writes them).
    let defaults = cluster.conf_dir().join("spindle-defaults.conf");
    let mut props = std::fs::read_to_string(&defaults).expect("defaults");
    for key in [
        "spark.yarn.appMasterEnv.PYTHONPATH",
        "spark.executorEnv.PYTHONPATH",
    ] {
        props.push_str(&format!("{key} {}\n", pkg.display()));
    }
    std::fs::write(&defaults, props).expect("write defaults");

    // The seed notebook's cells as a script, unchanged: master("spindle").
    let out = Command::new("python3")
        .arg(python_src().join("examples/seed.py"))
        .env("PYTHONPATH", &pkg)
        .env("SPINDLE_CONF_DIR", cluster.conf_dir())
        .output()
        .expect("run the seed script");
    let all = text(&out);
    assert!(
        out.status.success(),
        "the seed script failed in client mode:\n{all}"
    );
    assert_contains(&all, &["Job Finished. Count: 10000000", "http://"]);

    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .env("PYTHONPATH", &pkg)
        .env("SPINDLE_CONF_DIR", cluster.conf_dir());
    let mut run = spindle_tests::Running::spawn(cmd);
    let ui = spindle_tests::eventually(Duration::from_secs(60), "the driver's UI", || {
        assert!(run.running(), "the script ended early:\n{}", run.output());
        run.word("http://")
    });
    let app = run.word("application_").expect("application id");
    let executors = format!("{ui}api/v1/applications/{app}/executors");
    let mut most = 0;
    while !run.output().contains("JOB DONE") {
        assert!(run.running(), "the script ended early:\n{}", run.output());
        if let Some(n) = executors_in(&spindle_tests::curl(None, &[], &executors).1) {
            most = most.max(n);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        most > 1,
        "executors rose above 1 during the job (at most {most})"
    );
    // Idle for the 2 s timeout: released, as the driver's REST API shows, also
    // through the RM's proxy.
    spindle_tests::eventually(Duration::from_secs(30), "executors back to 0", || {
        let n = executors_in(&spindle_tests::curl(None, &[], &executors).1)?;
        (n == 0).then_some(())
    });
    let conf = cluster.client_conf();
    let proxied = format!(
        "https://{}/proxy/{app}/api/v1/applications/{app}/executors",
        conf.rm_web_address
    );
    let (cert, key) = (
        conf.cert.display().to_string(),
        conf.key.display().to_string(),
    );
    let (code, body) = spindle_tests::curl(
        Some(&conf.ca),
        &["-L", "--cert", &cert, "--key", &key],
        &proxied,
    );
    assert_eq!(code, 200, "{proxied}: {body}");
    assert_eq!(executors_in(&body), Some(0), "{body}");
    std::fs::write(&release, b"").expect("release the script");
    let (status, out) = run.wait();
    assert!(status.success(), "the client-mode script failed:\n{out}");
    assert_contains(&out, &["Job Finished. Count: 12"]);
    let log = cluster.event_log();
    assert!(log.iter().any(|l| matches!(
        &l.event,
        AppEvent::ApplicationEnd { final_status, .. } if final_status == "SUCCEEDED"
    )));
}
