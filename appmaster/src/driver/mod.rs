//! The driver side of an application (it runs inside the AM container, as in
//! Spark's cluster deploy mode); the executor side ([`crate::executor`]) is the
//! same binary.
//!
//! `SPINDLE_ROLE` picks the side: `driver` (set by spindle-submit), `executor`
//! (set by the driver when it launches executors), or unset: run locally
//! in-process, like Spark's `local[*]` master.

mod am;
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
        Ok(Some(Role::Driver)) => runtime(|| driver(main)),
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
    crate::logging::init_from_env();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(f()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn driver(main: UserMain) -> anyhow::Result<i32> {
    let env = AmEnv::from_env()?;
    let launch = DriverLaunch::from_env()?;
    let conf: BTreeMap<String, String> =
        SparkConf::from_json(&launch.spark_conf_json, "the driver's Spark properties")?.into();
    let (binary, app_name) = (launch.binary, launch.app_name);
    let config = am_core::driver::driver_config(&conf)?;
    am::run(
        am::Launch {
            env,
            app_name,
            binary,
            conf,
        },
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
