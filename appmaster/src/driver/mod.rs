//! The driver side of an application (it runs inside the AM container, as in
//! Spark's cluster deploy mode); the executor side ([`crate::executor`]) is the
//! same binary.
//!
//! `SPINDLE_ROLE` picks the side: `driver` (set by spindle-submit), `executor`
//! (set by the driver when it launches executors), or unset: run locally
//! in-process, like Spark's `local[*]` master.

mod am;
pub mod client;
mod launcher;
mod msg;
mod rm_link;
mod server;

use crate::rdd::SparkContext;
use am_core::sparkconf::SparkConf;
use common::client::AmEnv;
use common::launch::{DriverLaunch, Role};
use std::collections::BTreeMap;

/// The user's entry point: `fn main() { appmaster::run_app(user_main) }`.
pub type UserMain = fn(&SparkContext) -> anyhow::Result<()>;

/// A user's main as the AM runs it (a [UserMain], or an embedding program's
/// closure, see [EmbeddedDriver]).
pub(crate) type BoxedMain = Box<dyn FnOnce(&SparkContext) -> anyhow::Result<()> + Send>;

/// The flag that makes an app binary print its classes, one per line, and exit.
pub const LIST_CLASSES: &str = "--list-classes";

/// Bytes every binary built on this crate carries: spindle-submit looks for them before
/// it runs a binary with [`LIST_CLASSES`], so it never runs a program that is not a
/// Spindle app with an argument it may mistake.
pub const APP_BINARY_MARKER: &[u8] = b"spindle-app-binary:list-classes:1";

/// Runs this process as whatever `SPINDLE_ROLE` says and exits with its code.
pub fn run_app(main: UserMain) -> ! {
    if Role::from_env().ok().flatten().is_none() && is_list_classes() {
        // One main and no classes to choose from: any --class names it. (The marker
        // is kept in the binary by this use.)
        let _ = std::hint::black_box(APP_BINARY_MARKER);
        std::process::exit(0);
    }
    let code = match Role::from_env() {
        Ok(Some(Role::Executor)) => runtime(crate::executor::run),
        Ok(Some(Role::Launcher)) => runtime(launcher::run),
        Ok(Some(Role::Driver)) => runtime(|| driver(Box::new(main), BTreeMap::new())),
        Ok(None) => local(main),
        Err(e) => {
            eprintln!("{e}");
            2
        }
    };
    std::process::exit(code)
}

/// Whether the command line is just [`LIST_CLASSES`].
pub fn is_list_classes() -> bool {
    let mut args = std::env::args().skip(1);
    args.next().as_deref() == Some(LIST_CLASSES) && args.next().is_none()
}

fn runtime<F, Fut>(f: F) -> i32
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<i32>>,
{
    match run_on_runtime(f) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// Runs `f` on a fresh multi-threaded runtime.
fn run_on_runtime<F, Fut>(f: F) -> anyhow::Result<i32>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<i32>>,
{
    crate::logging::init_from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    rt.block_on(f())
}

/// Properties the driver program sets itself that cannot change once the
/// application was submitted (as Spark ignores them from code in cluster mode).
const FIXED_AT_SUBMISSION: &[&str] = &["spark.master", "spark.submit.deployMode", "spark.app.name"];

/// Runs the AM around `main`; `overrides` are properties the driver program
/// set itself, which win over the submitted ones (as a SparkConf set in code
/// wins over spark-submit's), except those [FIXED_AT_SUBMISSION].
async fn driver(main: BoxedMain, overrides: BTreeMap<String, String>) -> anyhow::Result<i32> {
    let env = AmEnv::from_env()?;
    let launch = DriverLaunch::from_env()?;
    let mut conf: BTreeMap<String, String> =
        SparkConf::from_json(&launch.spark_conf_json, "the driver's Spark properties")?.into();
    for (k, v) in overrides {
        if !FIXED_AT_SUBMISSION.contains(&k.as_str()) {
            conf.insert(k, v);
        }
    }
    let config = am_core::driver::driver_config(&conf)?;
    am::run(
        am::Launch {
            app_name: launch.app_name,
            program: am::ExecutorProgram::binary(launch.binary),
            conf,
            files: launch.files,
        },
        env,
        config,
        main,
    )
    .await
}

fn local(main: UserMain) -> i32 {
    let runner = std::sync::Arc::new(crate::rdd::LocalRunner::default());
    let sc = SparkContext::new(runner, BTreeMap::new(), "local".into(), "local".into());
    match main(&sc) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// A driver inside another program: the Python front end's `SparkSession`
/// in an AM container (cluster deploy mode), where the program, not this
/// crate, owns `main`. The AM runs on its own thread as `SPINDLE_ROLE=driver`
/// says; the program gets the [SparkContext] once the AM would start a
/// user's main, runs its jobs, and ends the application with [Self::stop].
pub struct EmbeddedDriver {
    sc: SparkContext,
    done: std::sync::mpsc::Sender<Result<(), String>>,
    am: std::thread::JoinHandle<anyhow::Result<i32>>,
}

impl std::fmt::Debug for EmbeddedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedDriver")
            .field("sc", &self.sc)
            .finish_non_exhaustive()
    }
}

impl EmbeddedDriver {
    /// Whether this process runs as an application's driver (in its AM container).
    pub fn in_am_container() -> bool {
        matches!(Role::from_env(), Ok(Some(Role::Driver)))
    }

    /// Client deploy mode: submits the application's launcher and runs the
    /// driver in this process (see [client]); returns once the application
    /// may run jobs.
    ///
    /// # Errors
    /// If the cluster configuration is missing or bad, the submission is
    /// refused, or the launcher does not come.
    pub fn start_client(launch: client::ClientLaunch) -> anyhow::Result<Self> {
        Self::start_with(move |main| run_on_runtime(move || client::run(launch, main)))
    }

    /// Registers the application master and waits until the application may
    /// run jobs (its initial executors registered, as for a [UserMain]).
    /// `conf`: the properties the program set (see [driver]'s overrides).
    ///
    /// # Errors
    /// If the AM cannot start (its environment, the RM, the event log).
    pub fn start(conf: BTreeMap<String, String>) -> anyhow::Result<Self> {
        Self::start_with(move |main| run_on_runtime(|| driver(main, conf)))
    }

    /// Runs `am` (with the program's main) on its own thread; returns once the
    /// main is started.
    fn start_with(
        am: impl FnOnce(BoxedMain) -> anyhow::Result<i32> + Send + 'static,
    ) -> anyhow::Result<Self> {
        let (sc_tx, sc_rx) = std::sync::mpsc::channel::<SparkContext>();
        let (done, done_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let main: BoxedMain = Box::new(move |sc| {
            let _ = sc_tx.send(sc.clone());
            match done_rx.recv() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::anyhow!(e)),
                Err(_) => Err(anyhow::anyhow!(
                    "the driver program ended without stopping its session"
                )),
            }
        });
        let am = std::thread::Builder::new()
            .name("spindle-am".into())
            .spawn(move || am(main))?;
        match sc_rx.recv() {
            Ok(sc) => Ok(Self { sc, done, am }),
            Err(_) => match am.join() {
                Ok(Err(e)) => Err(e),
                _ => anyhow::bail!("the application master stopped before the application started"),
            },
        }
    }

    pub fn context(&self) -> &SparkContext {
        &self.sc
    }

    /// Ends the application: SUCCEEDED for `Ok`, FAILED with the message
    /// as its diagnostics for `Err`. Returns the AM's exit code once it
    /// unregistered.
    pub fn stop(self, result: Result<(), String>) -> i32 {
        let _ = self.done.send(result);
        match self.am.join() {
            Ok(Ok(code)) => code,
            Ok(Err(e)) => {
                eprintln!("error: {e:#}");
                1
            }
            Err(_) => 1,
        }
    }
}

/// Runs this process as the container role `SPINDLE_ROLE` names (an
/// executor, or a client-mode launcher) and returns its exit code: the
/// entry of containers started by a program that embeds the runtime (the
/// Python package's, `python -c "...run_container()"`).
pub fn run_container() -> i32 {
    match Role::from_env() {
        Ok(Some(Role::Executor)) => runtime(crate::executor::run),
        Ok(Some(Role::Launcher)) => runtime(launcher::run),
        Ok(Some(Role::Driver)) => {
            eprintln!("a driver container runs the application's own program");
            2
        }
        Ok(None) => {
            eprintln!("not in a Spindle container (SPINDLE_ROLE is not set)");
            2
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}
