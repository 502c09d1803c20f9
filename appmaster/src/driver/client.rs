//! Client deploy mode: the driver runs in the user's program (the Python
//! API's `master("spindle")`, a notebook), and a thin AM on the cluster, the
//! launcher ([`super::launcher`]), holds the application with the RM for it.
//!
//! The driver reads the cluster configuration as spindle-submit does
//! (`$SPINDLE_CONF_DIR`: `spindle-client.toml`, `spindle-defaults.conf`),
//! starts its executors' service and UI, submits the launcher as the
//! application's AM with a one-time token, and waits for it to register.
//! From then on it is the same driver loop as in cluster mode: the RM's
//! allocation stream arrives through the launcher, asks and releases go back
//! through it, executors are launched by the driver through the NMs and
//! register with it directly.

use super::am::{self, ExecutorProgram, Finish, Held, Launch};
use super::rm_link::RmCall;
use super::server::{DriverService, LauncherGate, LauncherHello};
use crate::submit::cluster::Cluster;
use crate::submit::plan::{add_env_properties, app_acls, rm_address_override, AM_ENV_PREFIX};
use am_core::sparkconf::{keys, SparkConf};
use anyhow::Context as _;
use common::clientconf::ClientConf;
use common::launch::LauncherLaunch;
use common::protocol::{AppSubmission, DriverResponse, LaunchSpec};
use common::tls::TlsIdentity;
use common::Resource;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What a client-mode driver is started with.
pub struct ClientLaunch {
    /// The properties the program set (`spark.master`, `spark.app.name`,
    /// ...); they win over `spindle-defaults.conf`.
    pub conf: BTreeMap<String, String>,
    /// The command the AM container runs to become the launcher.
    pub launcher_command: Vec<String>,
    /// The command executor containers run.
    pub executor_command: Vec<String>,
}

/// How long the driver waits for its launcher to start and register
/// (Spark's `spark.yarn.am.waitTime`, 100 s).
const LAUNCHER_WAIT: Duration = Duration::from_secs(100);

/// Client-mode AM container: Spark's `spark.yarn.am.memory` (512m) and
/// `spark.yarn.am.cores` (1), with the same overhead rule as the driver's.
fn launcher_resource(conf: &SparkConf) -> anyhow::Result<Resource> {
    let mut am = SparkConf::new();
    am.set(
        keys::DRIVER_MEMORY,
        conf.get("spark.yarn.am.memory")
            .unwrap_or("512m")
            .to_owned(),
    );
    am.set(
        keys::DRIVER_CORES,
        conf.get("spark.yarn.am.cores").unwrap_or("1").to_owned(),
    );
    if let Some(o) = conf.get("spark.yarn.am.memoryOverhead") {
        am.set(keys::DRIVER_MEMORY_OVERHEAD, o.to_owned());
    }
    Ok(am.driver_container()?)
}

/// The name executors and the RM's proxy reach this host at:
/// `spark.driver.host`, else this host's name.
fn driver_host(conf: &SparkConf) -> String {
    if let Some(h) = conf.get("spark.driver.host").filter(|h| !h.is_empty()) {
        return h.to_owned();
    }
    common::hostname::this_host()
}

/// Runs a client-mode application around `main`; returns the exit code.
pub(crate) async fn run(launch: ClientLaunch, main: super::BoxedMain) -> anyhow::Result<i32> {
    let conf_dir = ClientConf::dir_from_env()?;
    let client = ClientConf::load(&conf_dir)?;
    let overrides: Vec<(String, String)> = launch.conf.into_iter().collect();
    let mut conf = crate::submit::defaults::load_layered(Some(&conf_dir), None, &overrides)?;
    conf.set(keys::DEPLOY_MODE, "client".to_owned());
    let _ = conf.retain_spark_keys();
    conf.validate()?;
    let rm_address = rm_address_override(&conf)?;
    let driver_files = client.driver_tls_files().with_context(|| {
        format!(
            "client mode needs the certificate the driver serves its executors with: \
             driver-cert and driver-key in {}/spindle-client.toml (`spindle cluster up` \
             writes them)",
            conf_dir.display()
        )
    })?;
    let driver_identity = TlsIdentity::load(&driver_files).with_context(|| {
        format!(
            "cannot load the driver certificate {}",
            driver_files.cert.display()
        )
    })?;
    let cluster = Cluster::connect_to(client, rm_address.as_deref())?;
    let user = cluster.user()?;

    let token = am::random_hex()?;
    let (hello_tx, hello_rx) = oneshot::channel::<LauncherHello>();
    let gate = LauncherGate {
        token: token.clone(),
        hello: Mutex::new(Some(hello_tx)),
        tracking_url: OnceLock::new(),
    };
    let host = driver_host(&conf);
    let listening = am::listen(&driver_identity, &host, |tx| {
        DriverService::for_launcher(gate, tx)
    })
    .await?;
    listening.service.set_tracking_url(&listening.tracking_url);

    let name = conf
        .app_name()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or("pyspark-shell")
        .to_owned();
    conf.set(keys::APP_NAME, name.clone());
    conf.set(keys::APP_SUBMIT_TIME, common::clock::wall_ms().to_string());
    let mut am_launch = LaunchSpec {
        command: launch.launcher_command,
        ..LaunchSpec::default()
    };
    LauncherLaunch {
        driver_address: listening.driver_addr.clone(),
        token,
    }
    .add_to(&mut am_launch);
    add_env_properties(&mut am_launch.env, conf.iter(), AM_ENV_PREFIX);
    let submission = AppSubmission {
        name: name.clone(),
        queue: conf.queue().to_owned(),
        user,
        app_type: crate::submit::plan::APP_TYPE.into(),
        am_resource: launcher_resource(&conf)?,
        am_launch,
        max_attempts: Some(1),
        acls: app_acls(&conf)?,
    };
    let rm = &cluster.rm;
    let id = cluster
        .patiently("submission", true, None, || rm.submit(submission.clone()))
        .await
        .context("cannot submit the application")?;
    eprintln!("spindle: submitted application {id} (client mode: the driver runs here)");
    let hello = match tokio::time::timeout(LAUNCHER_WAIT, hello_rx).await {
        Ok(Ok(h)) => h,
        _ => anyhow::bail!(
            "the application's AM (application {id}) did not reach this driver within {}s \
             (is {} reachable from the cluster's nodes? spark.driver.host names it)",
            LAUNCHER_WAIT.as_secs(),
            listening.driver_addr
        ),
    };

    // The driver's RM calls go to the launcher, in order.
    let (rm_tx, mut rm_rx) = mpsc::unbounded_channel::<RmCall>();
    let push = hello.push.clone();
    tokio::spawn(async move {
        while let Some(call) = rm_rx.recv().await {
            let frame = match call {
                RmCall::Ask(count, resource) => DriverResponse::RmAsk { count, resource },
                RmCall::Release(container) => DriverResponse::RmRelease { container },
            };
            if push.send(frame).is_err() {
                return;
            }
        }
    });
    let conf: BTreeMap<String, String> = conf.into();
    let config = am_core::driver::driver_config(&conf)?;
    let held = Held {
        attempt: hello.attempt,
        allocated_wall_ms: hello.allocated_wall_ms,
        secret: hello.app_secret,
        rm_tx,
        finish: Finish::Relayed(hello.push),
    };
    let launch = Launch {
        app_name: name,
        program: ExecutorProgram {
            command: launch.executor_command,
            resources: Vec::new(),
        },
        conf,
        files: Vec::new(),
    };
    am::drive(launch, held, listening, &driver_identity, config, main).await
}
