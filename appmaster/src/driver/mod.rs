//! The driver side of an application (it runs inside the AM container, as in
//! Spark's cluster deploy mode); the executor side ([`crate::executor`]) is the
//! same binary.
//!
//! `SPINDLE_ROLE` picks the side: `driver` (set by spindle-submit), `executor`
//! (set by the driver when it launches executors), or unset: run locally
//! in-process, like Spark's `local[*]` master.

mod am;
mod msg;
mod server;

use crate::rdd::SparkContext;
use common::protocol::LocalResource;
use std::collections::BTreeMap;

/// The user's entry point: `fn main() { appmaster::run_app(user_main) }`.
pub type UserMain = fn(&SparkContext) -> anyhow::Result<()>;

/// Runs this process as whatever `SPINDLE_ROLE` says and exits with its code.
pub fn run_app(main: UserMain) -> ! {
    let code = match std::env::var("SPINDLE_ROLE").as_deref() {
        Ok("executor") => runtime(crate::executor::run),
        Ok("driver") => runtime(|| driver(main)),
        Ok(other) => {
            eprintln!("SPINDLE_ROLE={other:?} is not driver or executor");
            2
        }
        Err(_) => local(main),
    };
    std::process::exit(code)
}

fn runtime<F, Fut>(f: F) -> i32
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<i32>>,
{
    if std::env::var_os("SPINDLE_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("SPINDLE_LOG"))
            .with_writer(std::io::stderr)
            .try_init();
    }
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

fn parse_binary(v: &str) -> anyhow::Result<LocalResource> {
    let mut it = v.rsplitn(3, ':');
    let (size, sha, name) = (it.next(), it.next(), it.next());
    match (name, sha, size) {
        (Some(name), Some(sha), Some(size)) => Ok(LocalResource {
            name: name.to_string(),
            sha256: sha.to_string(),
            size: size.parse()?,
            executable: true,
        }),
        _ => anyhow::bail!("SPINDLE_APP_BINARY={v:?} is not name:sha256:size"),
    }
}

async fn driver(main: UserMain) -> anyhow::Result<i32> {
    let env = common::client::AmEnv::from_env().map_err(anyhow::Error::msg)?;
    let conf: BTreeMap<String, String> = match std::env::var("SPINDLE_SPARK_CONF") {
        Ok(j) => {
            serde_json::from_str(&j).map_err(|e| anyhow::anyhow!("SPINDLE_SPARK_CONF: {e}"))?
        }
        Err(_) => BTreeMap::new(),
    };
    let binary = parse_binary(&std::env::var("SPINDLE_APP_BINARY").map_err(|_| {
        anyhow::anyhow!("SPINDLE_APP_BINARY is not set: submit with spindle-submit")
    })?)?;
    let app_name = std::env::var("SPINDLE_APP_NAME").unwrap_or_else(|_| binary.name.clone());
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
