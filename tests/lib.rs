//! Harness for Spindle's end-to-end tests: real daemons as separate processes
//! on ephemeral loopback ports, in a temp dir removed afterwards.

use am_core::eventlog::LogLine;
use common::client::RmClient;
use common::protocol::{AppSubmission, ApplicationReport, LaunchSpec};
use common::tls::TlsIdentity;
use common::{ApplicationId, Resource};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the workspace's built binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        p.display()
    );
    p
}

/// A local cluster started with `spindle cluster up`, stopped on drop.
pub struct Cluster {
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn up(nodes: u32, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spindle-e2e-")
            .tempdir()
            .expect("tempdir");
        let out = Command::new(bin("spindle"))
            .args(["cluster", "up", "--nodes", &nodes.to_string(), "--dir"])
            .arg(dir.path())
            .args(extra)
            .output()
            .expect("run spindle cluster up");
        assert!(
            out.status.success(),
            "cluster up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn conf_dir(&self) -> PathBuf {
        self.path().join("conf")
    }

    /// A `spindle` command pointed at this cluster.
    pub fn spindle(&self) -> Command {
        let mut c = Command::new(bin("spindle"));
        c.env("SPINDLE_CONF_DIR", self.conf_dir());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.spindle().args(args).output().expect("run spindle")
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.spindle()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn spindle")
    }

    pub fn pid(&self, daemon: &str) -> i32 {
        std::fs::read_to_string(self.path().join("pids").join(format!("{daemon}.pid")))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    /// `kill -9` of daemon `name` (`resourcemanager`, `nodemanager-N`); returns once it is gone.
    pub fn kill9(&self, name: &str) {
        let pid = self.pid(name);
        // SAFETY: a plain signal to a daemon of this test's cluster.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        eventually(Duration::from_secs(10), &format!("{name} to die"), || {
            gone(pid).then_some(())
        });
    }

    /// kill -9 of daemon `name`, then, half a second later, started again by hand.
    pub fn kill_and_restart(&self, name: &str) {
        self.kill9(name);
        std::thread::sleep(Duration::from_millis(500));
        self.restart(name);
    }

    /// Starts daemon `name` again by hand from its config file, as an operator would
    /// (`resourcemanager --config DIR/conf/resourcemanager.toml`), logging to its log and
    /// recording its pid where `spindle cluster down` finds it.
    pub fn restart(&self, name: &str) {
        let binary = name.split_once('-').map_or(name, |(b, _)| b);
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.path().join("logs").join(format!("{name}.log")))
            .expect("daemon log");
        let mut cmd = Command::new(bin(binary));
        cmd.arg("--config")
            .arg(self.conf_dir().join(format!("{name}.toml")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("start the daemon");
        std::fs::write(
            self.path().join("pids").join(format!("{name}.pid")),
            child.id().to_string(),
        )
        .expect("pid file");
        // Reaped when it ends (killed by the test or by `cluster down`).
        std::thread::spawn(move || child.wait());
    }

    /// Every container log file named `file` under every NM.
    pub fn container_logs(&self, file: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(self.path(), &mut |p| {
            if p.file_name().is_some_and(|n| n == file)
                && p.to_string_lossy().contains("/logs/application_")
            {
                out.push(p.to_path_buf());
            }
        });
        out.sort();
        out
    }

    pub fn client_conf(&self) -> common::clientconf::ClientConf {
        common::clientconf::ClientConf::load(&self.conf_dir()).expect("client conf")
    }

    /// The user the cluster's user certificate names (`user:NAME`): the one its clients
    /// submit and act as.
    pub fn user(&self) -> String {
        let conf = self.client_conf();
        let id = TlsIdentity::load(&conf.tls_files()).expect("identity");
        id.role().user().expect("a user certificate").to_string()
    }

    /// [`submission`] as this cluster's user.
    pub fn submission(&self, name: &str, am_launch: LaunchSpec) -> AppSubmission {
        AppSubmission {
            user: self.user(),
            ..submission(name, am_launch)
        }
    }

    /// An RM client with the cluster's user identity.
    pub fn rm_client(&self) -> RmClient {
        let conf = self.client_conf();
        let id = TlsIdentity::load(&conf.tls_files()).expect("identity");
        RmClient::connect_any(&id, &conf.rm_addresses()).expect("rm client")
    }

    /// The event log files in the cluster's history directory, sorted.
    pub fn event_log_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.path().join("history"))
            .expect("history dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
    }

    /// The first app's event log, parsed.
    pub fn event_log(&self) -> Vec<LogLine> {
        let files = self.event_log_files();
        let path = files.first().expect("event log");
        history::log::read(path).expect("read the event log")
    }

    /// Submits a static 2-executor app (Bursty, 2 jobs of 16 sleepy tasks) and waits until
    /// both executors run: its run and application id.
    pub fn run_static_two_executor_app(&self) -> (Running, String) {
        let app_args = sleepy_bursty(2, 16, 300, 1500);
        let run = self.submit_running(&class_args(
            &["--num-executors", "2", "--executor-cores", "1"],
            NO_CONF,
            "Bursty",
            &app_args,
        ));
        let app = eventually(Duration::from_secs(30), "the app id", || {
            run.word("application_")
        });
        self.wait_executors_added(2);
        (run, app)
    }

    /// Waits (30 s at most) until an app's event log shows `n` executors added.
    pub fn wait_executors_added(&self, n: usize) {
        eventually(Duration::from_secs(30), "the executors", || {
            self.event_log_files()
                .iter()
                .any(|f| {
                    std::fs::read_to_string(f)
                        .unwrap_or_default()
                        .matches("ExecutorAdded")
                        .count()
                        == n
                })
                .then_some(())
        });
    }

    /// The app `run` runs went on through `what` (a restart, a failover): `spindle-submit`
    /// exits 0 with it FINISHED, its event log shows exactly 2 executors added (nothing
    /// replaced), and it SUCCEEDED on its first attempt.
    pub fn assert_ran_through(&self, mut run: Running, app: &str, what: &str) {
        assert!(run.running(), "{what}: the app ended");
        let (status, out) = run.wait();
        assert!(status.success(), "{what}: spindle-submit failed:\n{out}");
        assert!(
            out.contains("FINISHED") || out.contains("SUCCEEDED"),
            "{out}"
        );
        let added = self
            .event_log()
            .into_iter()
            .filter(|l| matches!(l.event, am_core::eventlog::AppEvent::ExecutorAdded { .. }))
            .count();
        assert_eq!(added, 2, "{what}: executors were replaced");
        let report = self.run(&["app", "status", app]);
        let report = String::from_utf8_lossy(&report.stdout).into_owned();
        assert!(report.contains("SUCCEEDED"), "{report}");
        let second = format!(
            "appattempt_{}_000002",
            app.trim_start_matches("application_")
        );
        assert!(
            !report.contains(&second),
            "{what}: a second attempt ran\n{report}"
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(bin("spindle"))
            .args(["cluster", "down", "--dir"])
            .arg(self.dir.path())
            .output();
    }
}

/// The files under `dir` (all depths, not following links) that `keep` accepts.
pub fn files_under(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut |p| {
        if keep(p) {
            out.push(p.to_path_buf());
        }
    });
    out
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that `text` contains each of `needles` (with `text` as the message).
#[track_caller]
pub fn assert_contains(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "{n:?} missing in: {text}");
    }
}

/// Everything `out` printed, once asserted that it succeeded (with that text as the message).
pub fn success(out: &Output) -> String {
    let t = text(out);
    assert!(out.status.success(), "{t}");
    t
}

/// Everything `out` printed, once asserted that it failed (with that text as the message).
pub fn failure(out: &Output) -> String {
    let t = text(out);
    assert!(!out.status.success(), "{t}");
    t
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
/// How many map stages (attempts) an app's event log shows submitted: more than one
/// stage per shuffle means lost map output was recomputed.
pub fn map_stage_submissions(lines: &[LogLine]) -> usize {
    lines
        .iter()
        .filter(|l| {
            matches!(&l.event, am_core::eventlog::AppEvent::StageSubmitted { name, .. } if name.contains("map"))
        })
        .count()
}

/// The first element of the JSON array `list` that `pred` holds for (a stage, task or
/// executor of the Spark REST data); panics with `none` and the list when there is none.
pub fn find_in<'a>(
    list: &'a serde_json::Value,
    none: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> &'a serde_json::Value {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    items
        .iter()
        .find(|v| pred(v))
        .unwrap_or_else(|| panic!("{none}: {list}"))
}

/// The Spark monitoring API of the app an event log holds, as its UI (live or from
/// history) serves it: `path` below `api/v1/applications/<app>/`.
pub fn spark_api(ui: &history::UiState, path: &str) -> serde_json::Value {
    let path = format!("api/v1/applications/{}/{path}", ui.app_id());
    match ui.page("/", &path, 0) {
        history::Page::Json(v) => v,
        other => panic!("{path}: {other:?}"),
    }
}

/// How long one job a test submits may run: far above any test job's time, so a job that
/// never runs (no healthy node takes it) fails its test rather than stalling the suite.
pub const JOB_LIMIT: Duration = Duration::from_secs(300);

/// Runs `cmd` to completion, as [`Command::output`], but kills it and panics with what it
/// printed when it runs past `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    // Both pipes are drained as it runs: a chatty child never blocks on a full pipe.
    fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    }
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{cmd:?} still ran after {limit:?} and was killed; it printed:\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Cluster {
    /// `spindle-submit` pointed at this cluster.
    pub fn submit_cmd(&self) -> Command {
        let mut c = Command::new(bin("spindle-submit"));
        c.env("SPINDLE_CONF_DIR", self.conf_dir());
        c
    }

    /// Runs `spindle-submit --master spindle ARGS...` to completion.
    /// Killed, failing the test, past [`JOB_LIMIT`].
    pub fn submit<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = self.submit_cmd();
        cmd.args(["--master", "spindle"]).args(args);
        output_within(&mut cmd, JOB_LIMIT)
    }

    /// Runs `spindle-submit --master spindle ARGS...` to completion, asserts that it
    /// succeeded and returns everything it printed.
    pub fn submit_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        success(&self.submit(args))
    }

    /// Starts `spindle-submit --master spindle ARGS...` with its output piped.
    pub fn submit_spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Child {
        self.submit_cmd()
            .args(["--master", "spindle"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn spindle-submit")
    }

    /// Ids of applications the RM knows.
    pub fn app_ids(&self) -> Vec<String> {
        text(&self.run(&["app", "list"]))
            .split_whitespace()
            .filter(|w| w.starts_with("application_"))
            .map(str::to_string)
            .collect()
    }
}

/// Processes whose environment has `key=value` (e.g. an app's containers), not counting
/// containers' launchers.
pub fn pids_with_env(key: &str, value: &str) -> Vec<i32> {
    let needle = format!("{key}={value}");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes())
                && !gone(pid)
                && !is_launcher(pid)
            {
                out.push(pid);
            }
        }
    }
    out
}

/// Whether `pid` is a container's launcher (NM recovery), which carries its container's
/// environment but is not the container's process.
fn is_launcher(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"--container-launcher"))
}

/// Whether process `pid` has ended and let go of its files and ports. A zombie not yet
/// reaped counts as ended once it is the last of its threads: after a SIGKILL the
/// leader turns zombie while its other threads are still exiting, and those still hold
/// the sockets and the state store's lock a restarted daemon needs (a restart in that
/// window failed to bind in CI).
pub fn gone(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let running = status
        .lines()
        .any(|l| l.starts_with("State:") && !l.contains("zombie"));
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
    !running && threads <= 1
}

/// The pids of `app`'s executors.
pub fn executor_pids(app: &str) -> Vec<i32> {
    let executors = pids_with_env("SPINDLE_ROLE", "executor");
    let of_app = pids_with_env("SPINDLE_APP_ID", app);
    executors
        .into_iter()
        .filter(|p| of_app.contains(p))
        .collect()
}

/// The built examples directory (`target/<profile>/examples`).
pub fn example(name: &str) -> PathBuf {
    let p = bin_dir().join("examples").join(name);
    assert!(
        p.is_file(),
        "{} is missing: build it first (cargo build --workspace --examples)",
        p.display()
    );
    p
}

/// `--conf K=V` for each `K=V`.
pub fn confs<'a>(kvs: &[&'a str]) -> Vec<&'a str> {
    kvs.iter().flat_map(|kv| ["--conf", kv]).collect()
}

/// Dynamic allocation with shuffle tracking, then `more` (`K=V` each).
pub fn dynamic_with(more: &[&str]) -> Vec<String> {
    let mut conf = vec![
        "spark.dynamicAllocation.enabled=true".to_string(),
        "spark.dynamicAllocation.shuffleTracking.enabled=true".to_string(),
    ];
    conf.extend(more.iter().map(|kv| kv.to_string()));
    conf
}

/// Dynamic allocation with shuffle tracking between `min` and `max` executors, starting at
/// `initial`, releasing idle ones after `idle` (`spark.dynamicAllocation.*`, as `K=V`).
pub fn dynamic(min: u32, max: u32, initial: u32, idle: &str) -> Vec<String> {
    dynamic_with(&[
        &format!("spark.dynamicAllocation.minExecutors={min}"),
        &format!("spark.dynamicAllocation.maxExecutors={max}"),
        &format!("spark.dynamicAllocation.initialExecutors={initial}"),
        &format!("spark.dynamicAllocation.executorIdleTimeout={idle}"),
    ])
}

/// `conf` with one more `K=V` setting.
pub fn with(mut conf: Vec<String>, kv: &str) -> Vec<String> {
    conf.push(kv.to_string());
    conf
}

/// The appmaster binary, which runs the example classes.
pub fn appmaster() -> String {
    bin("appmaster").display().to_string()
}

/// `spindle-submit` arguments running `class` of the appmaster binary: `opts` (spindle-submit's
/// own options), a `--conf K=V` for each of `conf`, then `--class CLASS <appmaster> ARGS...`.
pub fn class_args<C: AsRef<str>, A: AsRef<str>>(
    opts: &[&str],
    conf: &[C],
    class: &str,
    args: &[A],
) -> Vec<String> {
    let mut all: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
    for kv in conf {
        all.extend(["--conf".to_string(), kv.as_ref().to_string()]);
    }
    all.extend(["--class".to_string(), class.to_string(), appmaster()]);
    all.extend(args.iter().map(|a| a.as_ref().to_string()));
    all
}

/// No `--conf` for [`class_args`].
pub const NO_CONF: &[&str] = &[];

/// Bursty's arguments: `jobs` jobs of `tasks` tasks of `task_ms` each, `gap_ms` apart.
pub fn bursty(jobs: u32, tasks: u32, task_ms: u64, gap_ms: u64) -> Vec<String> {
    [
        ("--jobs", u64::from(jobs)),
        ("--tasks", u64::from(tasks)),
        ("--task-ms", task_ms),
        ("--gap-ms", gap_ms),
    ]
    .into_iter()
    .flat_map(|(flag, v)| [flag.to_string(), v.to_string()])
    .collect()
}

/// [`bursty`] with sleeping tasks (`--work sleep`): their time is the wall clock's,
/// whatever else the machine does.
pub fn sleepy_bursty(jobs: u32, tasks: u32, task_ms: u64, gap_ms: u64) -> Vec<String> {
    let mut args = bursty(jobs, tasks, task_ms, gap_ms);
    args.extend(["--work".into(), "sleep".into()]);
    args
}

/// The next number of a xorshift64 sequence (deterministic test data).
#[inline]
pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A test application of 128 MB and 1 vcore for its AM in the default queue, with the RM's
/// default attempts.
pub fn submission(name: &str, am_launch: LaunchSpec) -> AppSubmission {
    AppSubmission {
        name: name.into(),
        queue: "default".into(),
        user: "tester".into(),
        app_type: "TEST".into(),
        am_resource: Resource::new(128, 1),
        am_launch,
        max_attempts: None,
        acls: Default::default(),
    }
}

/// Polls the RM every 50 ms until `id` is in a terminal state; its report then.
pub async fn wait_terminal(rm: &RmClient, id: ApplicationId) -> ApplicationReport {
    loop {
        let r = rm.report(id).await.expect("report");
        if r.state.is_terminal() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A process started by a test with its stdout collected as it runs.
pub struct Running {
    pub child: Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Spawns `cmd` with its stdout piped and read by a thread.
    pub fn spawn(mut cmd: Command) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the command");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let out = out.clone();
            let stdout = child.stdout.take().expect("piped");
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mut o = out.lock().expect("output lock");
                    o.push_str(&line);
                    o.push('\n');
                }
            })
        };
        Self {
            child,
            out,
            reader: Some(reader),
        }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        self.out.lock().expect("output lock").clone()
    }

    /// The first word of its output starting with `prefix` (an id, a URL), once printed.
    pub fn word(&self, prefix: &str) -> Option<String> {
        self.out.lock().expect("output lock").lines().find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with(prefix))
                .map(str::to_string)
        })
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the end; its status and everything it printed.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().expect("wait");
        if let Some(r) = self.reader.take() {
            r.join().expect("reader thread");
        }
        (status, self.output())
    }
}

impl Cluster {
    /// Starts `spindle-submit --master spindle ARGS...`, collecting its stdout.
    pub fn submit_running<S: AsRef<OsStr>>(&self, args: &[S]) -> Running {
        let mut cmd = self.submit_cmd();
        cmd.args(["--master", "spindle"]).args(args);
        Running::spawn(cmd)
    }
}

/// GET `url` (with curl's extra `args`) over HTTP(S), trusting `ca` (none: the server's
/// certificate is refused): the status (0 when there is none) and the body.
pub fn curl(ca: Option<&Path>, args: &[&str], url: &str) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-m", "10"]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    let out = cmd
        .args(args)
        .args(["-w", "\n%{http_code}", url])
        .output()
        .expect("run curl (apt-get install -y curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
