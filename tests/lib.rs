//! Harness for Spindle's end-to-end tests: real daemons as separate processes
//! on ephemeral loopback ports, in a temp dir removed afterwards.

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
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(bin("spindle"))
            .args(["cluster", "down", "--dir"])
            .arg(self.dir.path())
            .output();
    }
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

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
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
    pub fn submit(&self, args: &[&str]) -> Output {
        self.submit_cmd()
            .args(["--master", "spindle"])
            .args(args)
            .output()
            .expect("run spindle-submit")
    }

    /// Starts `spindle-submit --master spindle ARGS...` with its output piped.
    pub fn submit_spawn(&self, args: &[&str]) -> Child {
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

/// Processes whose environment has `key=value` (e.g. an app's containers).
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
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| {
                        s.rsplit(')')
                            .next()
                            .is_some_and(|r| r.trim_start().starts_with('Z'))
                    })
                    .unwrap_or(true);
                if !zombie {
                    out.push(pid);
                }
            }
        }
    }
    out
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

/// Dynamic allocation with shuffle tracking between `min` and `max` executors, starting at
/// `initial`, releasing idle ones after `idle` (`spark.dynamicAllocation.*`, as `K=V`).
pub fn dynamic(min: u32, max: u32, initial: u32, idle: &str) -> Vec<String> {
    vec![
        "spark.dynamicAllocation.enabled=true".into(),
        "spark.dynamicAllocation.shuffleTracking.enabled=true".into(),
        format!("spark.dynamicAllocation.minExecutors={min}"),
        format!("spark.dynamicAllocation.maxExecutors={max}"),
        format!("spark.dynamicAllocation.initialExecutors={initial}"),
        format!("spark.dynamicAllocation.executorIdleTimeout={idle}"),
    ]
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
    pub fn submit_running<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Running {
        let mut cmd = self.submit_cmd();
        cmd.args(["--master", "spindle"]).args(args);
        Running::spawn(cmd)
    }
}
