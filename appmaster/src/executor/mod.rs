//! The executor process: registers with the driver, runs the tasks it is
//! pushed, keeps cached partitions, exits when told to or when the driver goes.

mod shuffle;

use crate::rdd::BlockCache;
use am_core::ids::ShuffleId;
use am_core::plan::{StageSpec, TaskSpec};
use common::protocol::{DriverRequest, DriverResponse, TaskLaunch, TaskResult, ALPN_DRIVER};
use common::tls::{TlsFiles, TlsIdentity};
use common::transport::{self, Profile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct ExecEnv {
    driver: String,
    secret: String,
    id: String,
    cores: u32,
    host: String,
    container: common::ContainerId,
    node: common::NodeId,
    tls: TlsFiles,
}

fn env() -> anyhow::Result<ExecEnv> {
    let var = |k: &str| {
        std::env::var(k)
            .map_err(|_| anyhow::anyhow!("{k} is not set: not running as a Spindle executor"))
    };
    Ok(ExecEnv {
        driver: var("SPINDLE_DRIVER_ADDRESS")?,
        secret: var("SPINDLE_APP_SECRET")?,
        id: var("SPINDLE_EXECUTOR_ID")?,
        cores: var("SPINDLE_EXECUTOR_CORES")?.parse()?,
        host: var("NM_HOST").unwrap_or_else(|_| "localhost".into()),
        container: var("CONTAINER_ID")?.parse()?,
        node: common::NodeId(var("NODE_ID").unwrap_or_default()),
        tls: TlsFiles {
            ca: var("SPINDLE_TLS_CA")?.into(),
            cert: var("SPINDLE_TLS_CERT")?.into(),
            key: var("SPINDLE_TLS_KEY")?.into(),
        },
    })
}

pub(crate) async fn run() -> anyhow::Result<i32> {
    let env = env()?;
    let identity = TlsIdentity::load(&env.tls)?;
    let app: common::ApplicationId = std::env::var("SPINDLE_APP_ID")
        .map_err(|_| anyhow::anyhow!("SPINDLE_APP_ID is not set"))?
        .parse()?;
    let use_service = std::env::var("SPINDLE_SHUFFLE_SERVICE_ENABLED").is_ok_and(|v| v == "true");
    let shuffle = Arc::new(
        shuffle::ExecutorShuffle::start(
            &identity,
            app,
            &env.id,
            &env.secret,
            &env.host,
            use_service,
        )
        .await?,
    );
    let ep = transport::client_endpoint(&identity, ALPN_DRIVER, Profile::Control)?;
    let conn = transport::connect(&ep, &env.driver).await?;
    let (mut send, mut recv) = transport::open(&conn, &env.driver).await?;
    let reg = DriverRequest::RegisterExecutor {
        executor_id: env.id.clone(),
        secret: env.secret.clone(),
        host: env.host.clone(),
        cores: env.cores,
        container_id: env.container,
        node_id: env.node.clone(),
        shuffle_server: shuffle.server.clone(),
        shuffle_dir: shuffle.dir().display().to_string(),
    };
    transport::write(&mut send, &env.driver, &reg).await?;
    let _: DriverResponse = transport::read_response(&mut recv, &env.driver).await?;
    let cache = Arc::new(BlockCache::default());
    let stages: Arc<Mutex<HashMap<u32, Arc<StageSpec>>>> = Arc::default();
    let env = Arc::new(env);
    loop {
        let msg: DriverResponse = match transport::read_response(&mut recv, &env.driver).await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("executor {}: lost the driver: {e}", env.id);
                return Ok(1);
            }
        };
        match msg {
            DriverResponse::Launch(launch) => {
                let spec = match stage_for(&stages, &launch) {
                    Ok(s) => s,
                    Err(e) => {
                        report(&conn, &env, launch.task_id, TaskResult::Failure(e), 0).await;
                        continue;
                    }
                };
                let (conn, env, cache, shuffle) =
                    (conn.clone(), env.clone(), cache.clone(), shuffle.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    let task = TaskSpec {
                        stage: spec,
                        partition: launch.partition,
                    };
                    let outcome = tokio::task::spawn_blocking(move || {
                        crate::rdd::run_task(&task, &cache, shuffle.as_ref())
                    })
                    .await;
                    let result = match outcome {
                        Ok(Ok(out)) => {
                            TaskResult::Success(postcard::to_stdvec(&out).expect("output encodes"))
                        }
                        Ok(Err(e)) => {
                            TaskResult::Failed(postcard::to_stdvec(&e).expect("error encodes"))
                        }
                        Err(e) => TaskResult::Failure(format!("task thread failed: {e}")),
                    };
                    report(
                        &conn,
                        &env,
                        launch.task_id,
                        result,
                        started.elapsed().as_millis() as u64,
                    )
                    .await;
                });
            }
            DriverResponse::Shutdown { reason } => {
                eprintln!("executor {} shutting down: {reason}", env.id);
                eprintln!(
                    "{}",
                    crate::memory::peak_rss_line(&format!("executor {}", env.id))
                );
                conn.close(0u32.into(), b"bye");
                return Ok(0);
            }
            DriverResponse::RemoveShuffle { shuffle_id } => {
                shuffle.remove_shuffle(ShuffleId(shuffle_id))
            }
            DriverResponse::Ok | DriverResponse::Error(_) => {}
        }
    }
}

fn stage_for(
    stages: &Mutex<HashMap<u32, Arc<StageSpec>>>,
    launch: &TaskLaunch,
) -> Result<Arc<StageSpec>, String> {
    let mut stages = stages.lock().expect("stages lock");
    if let Some(bytes) = &launch.stage {
        let spec: StageSpec =
            postcard::from_bytes(bytes).map_err(|e| format!("undecodable stage: {e}"))?;
        stages.insert(launch.stage_id, Arc::new(spec));
    }
    stages
        .get(&launch.stage_id)
        .cloned()
        .ok_or_else(|| format!("stage {} was never sent to this executor", launch.stage_id))
}

async fn report(
    conn: &quinn::Connection,
    env: &ExecEnv,
    task_id: u64,
    result: TaskResult,
    run_ms: u64,
) {
    let req = DriverRequest::StatusUpdate {
        executor_id: env.id.clone(),
        secret: env.secret.clone(),
        task_id,
        result,
        run_ms,
    };
    if let Err(e) = transport::call::<_, DriverResponse>(conn, &env.driver, &req).await {
        eprintln!("executor {}: cannot report task {task_id}: {e}", env.id);
    }
}
