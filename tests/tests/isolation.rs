//! Container isolation on a real local cluster: containers run as their users (two OS
//! users made here), credentials are files rather than variables, the kernel's memory
//! limit and the kill reach what a container started with `setsid`, CPU follows vcores,
//! and `refuse-unknown-users` refuses. Tests that need root or cgroups say so and skip.

use common::client::RmClient;
use common::protocol::{IsolationMode, LaunchSpec};
use common::tls::TlsIdentity;
use common::ApplicationId;
use spindle_tests::{
    assert_contains, bin, class_args, eventually, pids_with_env, submission, text, wait_terminal,
    Cluster,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether a test of containers running as their users must skip (not root); it says so.
fn skip_unless_root() -> bool {
    let skip = !is_root();
    if skip {
        eprintln!("skipped: containers run as their users only when the NM is root");
    }
    skip
}

/// Whether a test of cgroups must skip (the node polls RSS); it says so.
fn skip_without_cgroups(c: &Cluster) -> bool {
    let skip = mode(c) == IsolationMode::RssPolling;
    if skip {
        eprintln!("skipped: the node polls RSS (cgroups are not writable here)");
    }
    skip
}

/// The node's isolation mode, as it reported it.
fn mode(c: &Cluster) -> IsolationMode {
    rt().block_on(async { c.rm_client().nodes().await.unwrap()[0].isolation.mode })
}

/// An OS user made for one test, removed (with its group) on drop.
struct OsUser {
    name: String,
    uid: u32,
}

impl OsUser {
    fn create(tag: &str) -> Self {
        let name = format!("spt{tag}{}", std::process::id());
        let out = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin"])
            .args(["--user-group", &name])
            .output()
            .expect("run useradd");
        assert!(out.status.success(), "useradd {name}: {}", text(&out));
        let id = Command::new("id").args(["-u", &name]).output().unwrap();
        let uid = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
        Self { name, uid }
    }
}

impl Drop for OsUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// An RM client presenting a `user:NAME` certificate issued from the cluster's CA.
fn client_as(c: &Cluster, user: &str) -> RmClient {
    let conf = c.client_conf();
    let certs = conf.ca.parent().unwrap().to_path_buf();
    let out = c.run(&[
        "certs",
        "issue",
        "--dir",
        certs.to_str().unwrap(),
        "--name",
        user,
        "--common-name",
        &format!("user:{user}"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let files = common::tls::TlsFiles::new(
        &conf.ca,
        &certs.join(format!("{user}.pem")),
        &certs.join(format!("{user}.key")),
    );
    RmClient::connect(&TlsIdentity::load(&files).unwrap(), &conf.rm_address).unwrap()
}

/// Submits, as `user`, an app whose AM runs `sh -c script ARGS...` with `secrets`.
fn submit_sh(
    rt: &tokio::runtime::Runtime,
    rm: &RmClient,
    user: &str,
    script: &str,
    args: &[String],
    secrets: &[(&str, &str)],
) -> ApplicationId {
    let mut command = vec!["sh".to_string(), "-c".into(), script.into(), "sh".into()];
    command.extend(args.iter().cloned());
    let launch = LaunchSpec {
        command,
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..LaunchSpec::default()
    };
    let mut sub = submission(&format!("{user}-sh"), launch);
    sub.user = user.into();
    sub.max_attempts = Some(1);
    rt.block_on(rm.submit(sub)).expect("submit")
}

/// The working directory of `app`'s AM container on the cluster's only node.
fn am_work_dir(c: &Cluster, user: &str, app: ApplicationId) -> PathBuf {
    c.path()
        .join("nm-1/local/usercache")
        .join(user)
        .join("appcache")
        .join(app.to_string())
        .join(app.attempt(1).container(1).to_string())
}

fn am_stdout(c: &Cluster, app: ApplicationId) -> PathBuf {
    c.path()
        .join("nm-1/logs")
        .join(app.to_string())
        .join(app.attempt(1).container(1).to_string())
        .join("stdout")
}

/// The uid a process runs as.
fn uid_of(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn another_users_container_cannot_read_an_apps_dirs_secrets_or_shuffle_files() {
    if !is_root() {
        eprintln!("skipped: running containers as their users needs root");
        return;
    }
    let (alice, bob) = (OsUser::create("a"), OsUser::create("b"));
    let c = Cluster::up(1, &[]);
    let rt = rt();
    let _in_rt = rt.enter();
    let (as_alice, as_bob) = (client_as(&c, &alice.name), client_as(&c, &bob.name));

    // Bob's app: files in its working dir, shuffle output where executors write it, a
    // file in the app's dir, a credential; then it waits.
    let bob_note = format!("bob-note-{}", std::process::id());
    let b = submit_sh(
        &rt,
        &as_bob,
        &bob.name,
        "mkdir -p shuffle && echo map-output > shuffle/shuffle_0_0_0.data && \
         echo private > private.txt && echo app > \"$LOCAL_DIRS/app-file\" && \
         touch ready && exec sleep 60",
        &[],
        &[("note", &bob_note)],
    );
    let work = am_work_dir(&c, &bob.name, b);
    eventually(Duration::from_secs(20), "bob's app ready", || {
        work.join("ready").exists().then_some(())
    });
    let bob_pid = eventually(Duration::from_secs(5), "bob's AM process", || {
        pids_with_env("APPLICATION_ID", &b.to_string())
            .first()
            .copied()
    });
    assert_eq!(uid_of(bob_pid), bob.uid, "bob's container runs as bob");
    let app_dir = work.parent().unwrap().to_path_buf();
    let probes: Vec<PathBuf> = vec![
        work.join("private.txt"),
        work.join(".secrets/note"),
        work.join(".secrets/amrm-token"),
        work.join(".tls/container.key"),
        work.join("shuffle/shuffle_0_0_0.data"),
        app_dir.join("app-file"),
        am_stdout(&c, b),
        PathBuf::from(format!("/proc/{bob_pid}/environ")),
    ];
    for p in &probes {
        assert!(p.exists(), "{} should exist (as root)", p.display());
    }
    assert_eq!(
        std::fs::read_to_string(work.join(".secrets/note")).unwrap(),
        bob_note
    );
    // Credentials are files, not variables: not even root finds them in the environment.
    let environ = std::fs::read(format!("/proc/{bob_pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    for needle in [
        bob_note.as_str(),
        "SPINDLE_AMRM_TOKEN",
        "SPINDLE_APP_SECRET",
    ] {
        assert!(!environ.contains(needle), "{needle} in bob's environment");
    }

    // Alice's container tries to read each of them, and lists bob's directories.
    let mut args: Vec<String> = probes.iter().map(|p| p.display().to_string()).collect();
    args.extend([work.display().to_string(), app_dir.display().to_string()]);
    let alice_note = format!("alice-note-{}", std::process::id());
    let a = submit_sh(
        &rt,
        &as_alice,
        &alice.name,
        "echo \"OWN $(cat \"$SPINDLE_SECRETS_DIR/note\")\"; id -u; \
         for p in \"$@\"; do \
           if [ -d \"$p\" ]; then ls \"$p\" >/dev/null 2>&1 && echo \"LISTED $p\" || echo \"DENIED $p\"; \
           else cat \"$p\" >/dev/null 2>&1 && echo \"READ $p\" || echo \"DENIED $p\"; fi; \
         done; grep -l -s SPINDLE_AMRM_TOKEN /proc/[0-9]*/environ | sed 's/^/ENVIRON /'; true",
        &args,
        &[("note", &alice_note)],
    );
    rt.block_on(wait_terminal(&as_alice, a));
    let out = std::fs::read_to_string(am_stdout(&c, a)).unwrap();
    assert_contains(
        &out,
        &[&format!("OWN {alice_note}"), &alice.uid.to_string()],
    );
    for p in &args {
        assert!(
            out.contains(&format!("DENIED {p}\n")),
            "{p} not denied: {out}"
        );
    }
    assert!(!out.contains("READ ") && !out.contains("LISTED "), "{out}");
    assert!(!out.contains("ENVIRON "), "{out}");
    rt.block_on(as_bob.kill(b)).unwrap();
    rt.block_on(wait_terminal(&as_bob, b));
    drop(c);
}

#[test]
fn credentials_reach_executors_as_files_and_no_environment_holds_them() {
    let c = Cluster::up(1, &[]);
    let run = c.submit_running(&class_args(
        &["--num-executors", "1"],
        spindle_tests::NO_CONF,
        "Bursty",
        &spindle_tests::bursty(1, 4, 1500, 0),
    ));
    let app = eventually(Duration::from_secs(30), "the app's id", || {
        run.word("application_")
    });
    let executor = eventually(Duration::from_secs(30), "an executor", || {
        spindle_tests::executor_pids(&app).first().copied()
    });
    // The executor registered with the driver, so it read the app secret from its file.
    let secrets = PathBuf::from(
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{executor}/environ")).unwrap())
            .split('\0')
            .find_map(|kv| kv.strip_prefix("SPINDLE_SECRETS_DIR=").map(str::to_string))
            .expect("SPINDLE_SECRETS_DIR"),
    );
    let secret = secrets.join("app-secret");
    assert!(secret.is_file(), "{}", secret.display());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&secret).unwrap().mode() & 0o777, 0o600);
    // None of the app's processes (its AM and executors) has a credential variable.
    // (Only this app's: other clusters on the host are none of this test's business.)
    let processes = pids_with_env("APPLICATION_ID", &app);
    assert!(
        processes.len() >= 2,
        "the AM and an executor: {processes:?}"
    );
    for pid in processes {
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        for name in ["SPINDLE_APP_SECRET=", "SPINDLE_AMRM_TOKEN="] {
            assert!(
                !env.split(|b| *b == 0)
                    .any(|kv| kv.starts_with(name.as_bytes())),
                "{name} in the environment of {pid}"
            );
        }
    }
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
}

/// `spindle run-shell` arguments: `sh -c script` in one container of `size`
/// (`["--container-memory", "64"]`).
fn one_shell<'a>(size: [&'a str; 2], script: &'a str) -> [&'a str; 9] {
    let [flag, value] = size;
    [
        "run-shell",
        "--num-containers",
        "1",
        flag,
        value,
        "--",
        "sh",
        "-c",
        script,
    ]
}

/// Runs `script` in one 64 MB container, which must be killed with -104 for using more;
/// the command's output.
fn killed_over_64mb(c: &Cluster, script: &str) -> String {
    let out = c.run(&one_shell(["--container-memory", "64"], script));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert_contains(
        &t,
        &[
            "exit status -104",
            "running beyond physical memory limits",
            "MB of 64 MB physical memory used",
        ],
    );
    t
}

#[test]
fn a_container_that_calls_setsid_and_allocates_past_its_memory_is_killed_with_104() {
    let c = Cluster::up(1, &[]);
    if skip_without_cgroups(&c) {
        return;
    }
    // The hog and a marker sleep leave the container's process group and session;
    // the leader waits. Process-group polling would see neither.
    let marker = format!(
        "{}.{}",
        40 + std::process::id() % 50,
        std::process::id() % 997
    );
    let script = format!(
        "setsid sh -c 'head -c 400000000 /dev/zero | tail >/dev/null' & \
         setsid sleep {marker} & sleep 30"
    );
    let started = Instant::now();
    let t = killed_over_64mb(&c, &script);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "not killed: {t}"
    );
    // The kill took the whole cgroup: the escaped sleep is gone too.
    eventually(Duration::from_secs(5), "the setsid sleep killed", || {
        let alive = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
        });
        (!alive).then_some(())
    });
}

/// CPU seconds (user + system, in clock ticks) of the processes of `app`'s worker containers.
fn cpu_ticks(app: &str) -> u64 {
    pids_with_env("APPLICATION_ID", app)
        .into_iter()
        .filter(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let env = String::from_utf8_lossy(&env).into_owned();
            // Not the AM's container.
            env.split('\0')
                .any(|kv| kv.starts_with("CONTAINER_ID=") && !kv.ends_with("_000001"))
        })
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let f: Vec<u64> = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .skip(11)
                .take(2)
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .sum()
}

#[test]
fn cpu_follows_vcores_one_to_three() {
    let c = Cluster::up(1, &[]);
    if skip_without_cgroups(&c) {
        return;
    }
    // Four busy processes each, on a 2-core machine: both want more than they get.
    let busy = "for i in 1 2 3 4; do sh -c 'while :; do :; done' & done; sleep 25; kill 0";
    let shell = |vcores| c.spawn(&one_shell(["--container-vcores", vcores], busy));
    let (one, three) = (shell("1"), shell("3"));
    let apps = eventually(Duration::from_secs(30), "both apps' workers busy", || {
        let ids = c.app_ids();
        let busy: Vec<String> = ids
            .into_iter()
            .filter(|a| pids_with_env("APPLICATION_ID", a).len() >= 6)
            .collect();
        (busy.len() == 2).then_some(busy)
    });
    // Which app is which: the RM's report of each app's allocation.
    let rt = rt();
    let _in_rt = rt.enter();
    let rm = c.rm_client();
    let vcores = |a: &str| -> u32 {
        let id: ApplicationId = a.parse().unwrap();
        rt.block_on(rm.report(id)).unwrap().allocated.vcores
    };
    let (small, large) = if vcores(&apps[0]) < vcores(&apps[1]) {
        (&apps[0], &apps[1])
    } else {
        (&apps[1], &apps[0])
    };
    std::thread::sleep(Duration::from_millis(500));
    let before = (cpu_ticks(small), cpu_ticks(large));
    std::thread::sleep(Duration::from_secs(5));
    let after = (cpu_ticks(small), cpu_ticks(large));
    let (s, l) = (after.0 - before.0, after.1 - before.1);
    for a in &apps {
        let _ = c.run(&["app", "kill", a]);
    }
    for mut child in [one, three] {
        let _ = child.wait();
    }
    let ratio = l as f64 / s.max(1) as f64;
    eprintln!("cpu ticks over 5 s: 1 vcore {s}, 3 vcores {l}: ratio {ratio:.2}");
    assert!(s + l > 100, "hardly any CPU measured: {s} + {l}");
    assert!(
        (2.0..=4.5).contains(&ratio),
        "ratio {ratio:.2} ({s} vs {l} ticks)"
    );
}

#[test]
fn refuse_unknown_users_refuses_a_user_with_no_account_by_name() {
    if skip_unless_root() {
        return;
    }
    let c = Cluster::up(1, &[]);
    let mut nm = restart_nm(&c, "refuse-unknown-users = true");
    // The user is the client certificate's: one with no account on the node.
    let user = format!("nosuch{}", std::process::id());
    let rt = rt();
    let _in_rt = rt.enter();
    let rm = client_as(&c, &user);
    let app = submit_sh(&rt, &rm, &user, "true", &[], &[]);
    let report = rt.block_on(wait_terminal(&rm, app));
    let t = format!("{:?}: {}", report.state, report.diagnostics);
    assert!(t.starts_with("FAILED"), "{t}");
    assert_contains(
        &t,
        &[
            &format!("user \"{user}\" has no local account"),
            "refuse-unknown-users",
        ],
    );
    // `cluster down` stops the restarted NM by its pid file.
    drop(c);
    let _ = nm.wait();
}

/// The uid each worker container of a `run-shell` of `id -u` ran as.
fn worker_uids(c: &Cluster) -> Vec<String> {
    let out = c.run(&["run-shell", "--num-containers", "1", "--", "id", "-u"]);
    assert!(out.status.success(), "{}", text(&out));
    c.container_logs("stdout")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with("_000001/stdout"))
        .map(|p| std::fs::read_to_string(p).unwrap().trim().to_string())
        .collect()
}

#[test]
fn cluster_up_runs_its_own_users_apps_as_its_owner_unless_told_not_to() {
    if skip_unless_root() {
        return;
    }
    // The cluster's user (its certificates') has no account here: mapped to root, who
    // started the cluster, its apps read root's files; without the map, it is nobody.
    let c = Cluster::up(1, &[]);
    assert_eq!(worker_uids(&c), ["0"]);
    drop(c);
    let c = Cluster::up(1, &["--no-owner-map"]);
    let nobody = Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap();
    assert_eq!(worker_uids(&c), [nobody]);
}

#[test]
fn with_cgroups_off_the_node_polls_rss_and_still_kills_with_104() {
    let c = Cluster::up(1, &[]);
    let mut nm = restart_nm(&c, "cgroups = \"off\"");
    assert!(
        text(&c.run(&["node", "list"])).contains("rss-polling"),
        "the node says how it isolates"
    );
    let hog = "head -c 400000000 /dev/zero | tail >/dev/null; sleep 10";
    killed_over_64mb(&c, hog);
    drop(c);
    let _ = nm.wait();
}

/// Stops the cluster's only NM, adds `line` to its config and starts it again (its
/// pid file updated, so that `cluster down` stops it); returns once it has registered
/// again with its capacity.
fn restart_nm(c: &Cluster, line: &str) -> std::process::Child {
    let pid = c.pid("nodemanager-1");
    // SAFETY: signalling the daemon this test's cluster started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    eventually(Duration::from_secs(15), "the NM stopped", || {
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        });
        (!Path::new(&format!("/proc/{pid}")).exists() || zombie).then_some(())
    });
    let conf = c.conf_dir().join("nodemanager-1.toml");
    let mut toml = std::fs::read_to_string(&conf).unwrap();
    toml.push_str(line);
    toml.push('\n');
    std::fs::write(&conf, toml).unwrap();
    let log = std::fs::File::create(c.path().join("logs/nodemanager-1.log")).unwrap();
    let child = Command::new(bin("nodemanager"))
        .arg("--config")
        .arg(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    std::fs::write(
        c.path().join("pids/nodemanager-1.pid"),
        child.id().to_string(),
    )
    .unwrap();
    // A drained node offers 0 MB until it registers again.
    eventually(Duration::from_secs(15), "the NM registered again", || {
        text(&c.run(&["node", "list"]))
            .contains("/8192")
            .then_some(())
    });
    child
}
