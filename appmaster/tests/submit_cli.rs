//! spindle-submit refuses bad submissions before it talks to the cluster.
//!
//! Each case runs the real binary with `SPINDLE_CONF_DIR` naming a client configuration whose
//! RM address has nothing listening and whose certificates are real: a connection attempt
//! would hang until spindle-submit's connect timeout (10 s), so finishing within two seconds
//! proves no connection was tried.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SUBMIT: &str = env!("CARGO_BIN_EXE_spindle-submit");

struct Env {
    dir: tempfile::TempDir,
    app: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    common::tls::init_cluster_certs(dir.path(), "tester", &common::tls::default_node_id(), &[])
        .unwrap();
    std::fs::write(
        dir.path().join("spindle-client.toml"),
        "rm-address = \"127.0.0.1:9\"\nca = \"ca.pem\"\ncert = \"user.pem\"\nkey = \"user.key\"\n",
    )
    .unwrap();
    let app = dir.path().join("my-app");
    std::fs::write(&app, "#!/bin/sh\necho hello\n").unwrap();
    Env { dir, app }
}

fn run(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(SUBMIT)
        .args(args)
        .env("SPINDLE_CONF_DIR", dir)
        .env_remove("SPINDLE_LOG")
        .output()
        .expect("spindle-submit runs");
    (out, start.elapsed())
}

/// `--conf K=V` for each `K=V`.
fn confs<'a>(kvs: &[&'a str]) -> Vec<&'a str> {
    kvs.iter().flat_map(|kv| ["--conf", kv]).collect()
}

/// Asserts that `err` says each of `parts`.
#[track_caller]
fn assert_says(err: &str, parts: &[&str]) {
    for part in parts {
        assert!(err.contains(part), "{err}");
    }
}

/// Runs a submission expected to be refused up front; returns stderr.
fn refused(args: &[&str]) -> String {
    let e = env();
    let mut all: Vec<&str> = args.to_vec();
    let app = e.app.display().to_string();
    all.push(&app);
    all.push("app-arg");
    let (out, took) = run(e.dir.path(), &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        took < Duration::from_secs(2),
        "took {took:?}: it must fail before contacting the RM; stderr: {stderr}"
    );
    assert!(stderr.starts_with("spindle-submit: "), "{stderr}");
    assert!(!stdout.contains("Submitted application"), "{stdout}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");
    stderr
}

#[test]
fn bad_executor_memory_is_refused_naming_the_key() {
    let err = refused(&["--conf", "spark.executor.memory=12x"]);
    assert_says(&err, &["spark.executor.memory", "'12x'"]);
    let err = refused(&["--executor-memory", "lots"]);
    assert_says(&err, &["spark.executor.memory: invalid size 'lots'"]);
}

#[test]
fn min_above_max_executors_is_refused() {
    let err = refused(&confs(&[
        "spark.dynamicAllocation.enabled=true",
        "spark.shuffle.service.enabled=true",
        "spark.dynamicAllocation.minExecutors=5",
        "spark.dynamicAllocation.maxExecutors=2",
    ]));
    assert_says(
        &err,
        &[
            "spark.dynamicAllocation.minExecutors",
            "spark.dynamicAllocation.maxExecutors",
        ],
    );
}

#[test]
fn dynamic_allocation_without_shuffle_service_is_refused() {
    let err = refused(&["--conf", "spark.dynamicAllocation.enabled=true"]);
    let says = "Dynamic allocation of executors requires the external shuffle service";
    assert_says(&err, &[says]);
}

#[test]
fn client_deploy_mode_is_refused() {
    let err = refused(&["--deploy-mode", "client"]);
    assert_says(&err, &["client deploy mode is not supported"]);
}

#[test]
fn bad_command_lines_are_refused() {
    let cases: [(&[&str], &str); 5] = [
        (&["--conf", "spark.executor.memory"], "without '='"),
        (&["--jars", "x.jar"], "unrecognized option '--jars'"),
        (&["--master", "yarn"], "'yarn'"),
        (
            &["--executor-cores", "1", "--conf", "spark.task.cpus=2"],
            "spark.task.cpus",
        ),
        (
            &["--properties-file", "/nonexistent/props.conf"],
            "/nonexistent/props.conf",
        ),
    ];
    for (args, says) in cases {
        assert_says(&refused(args), &[says]);
    }
}

#[test]
fn bad_values_in_the_defaults_file_are_refused() {
    let e = env();
    std::fs::write(
        e.dir.path().join("spindle-defaults.conf"),
        "# cluster defaults\nspark.executor.cores   zero\n",
    )
    .unwrap();
    let (out, took) = run(e.dir.path(), &[e.app.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(took < Duration::from_secs(2));
    assert!(
        stderr.contains("spark.executor.cores: invalid integer 'zero'"),
        "{stderr}"
    );
}

#[test]
fn missing_binary_and_bad_ids() {
    let e = env();
    let (out, _) = run(e.dir.path(), &["/nonexistent/app"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/app: no such file"),
        "{stderr}"
    );
    let (out, _) = run(e.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing the application binary"));
    let (out, took) = run(e.dir.path(), &["--status", "not-an-id"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an application id"));
}

#[test]
fn help_and_version() {
    let e = env();
    let (out, _) = run(e.dir.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--num-executors"));
    let (out, _) = run(e.dir.path(), &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("spindle-submit "));
}
