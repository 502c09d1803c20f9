//! The executor process: registers with the driver, runs the tasks it is
//! pushed, keeps cached partitions, exits when told to or when the driver goes.

mod shuffle;

use crate::rdd::{BlockCache, KillSwitch, MemoryManager, TaskContext};
use am_core::ids::ShuffleId;
use am_core::plan::{StageSpec, TaskSpec};
use common::launch::{ContainerEnv, ExecutorLaunch};
use common::protocol::{
    DriverRequest, DriverResponse, ShuffleMigration, TaskLaunch, TaskResult, ALPN_DRIVER,
};
use common::tls::TlsIdentity;
use common::transport::{self, Profile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub(crate) async fn run() -> anyhow::Result<i32> {
    let container = ContainerEnv::from_env()?;
    let exec = ExecutorLaunch::from_env()?;
    let identity = TlsIdentity::load(&container.tls)?;
    let shuffle = Arc::new(shuffle::ExecutorShuffle::start(&identity, &container, &exec).await?);
    let ep = transport::client_endpoint(&identity, ALPN_DRIVER, Profile::Control)?;
    let conn = transport::connect(&ep, &exec.driver_address).await?;
    let (mut send, mut recv) = transport::open(&conn, &exec.driver_address).await?;
    let reg = DriverRequest::RegisterExecutor {
        executor_id: exec.executor_id.clone(),
        secret: exec.app_secret.clone(),
        host: container.nm_host.clone(),
        cores: exec.executor_cores,
        container_id: container.container_id,
        node_id: container.node_id.clone(),
        shuffle_server: shuffle.server.clone(),
        shuffle_dir: shuffle.dir().display().to_string(),
        log_urls: container.log_urls(&["stdout", "stderr"]),
    };
    transport::write(&mut send, &exec.driver_address, &reg).await?;
    let _: DriverResponse = transport::read_response(&mut recv, &exec.driver_address).await?;
    let cache = Arc::new(BlockCache::default());
    // Spill files go in the app's directory on this node: the NM removes it when the
    // app ends, also after a kill -9 of this process.
    let memory = Arc::new(MemoryManager::new(
        exec.memory,
        container
            .local_dir
            .join(format!("spill-{}", exec.executor_id)),
        cache.storage_bytes(),
    ));
    let stages: Arc<Mutex<HashMap<u32, Arc<StageSpec>>>> = Arc::default();
    // The running tasks' kill switches, by task id.
    let kills: Arc<Mutex<HashMap<u64, Arc<KillSwitch>>>> = Arc::default();
    let exec = Arc::new(exec);
    loop {
        let msg: DriverResponse =
            match transport::read_response(&mut recv, &exec.driver_address).await {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("executor {}: lost the driver: {e}", exec.executor_id);
                    return Ok(1);
                }
            };
        match msg {
            DriverResponse::Launch(launch) => {
                let spec = match stage_for(&stages, &launch) {
                    Ok(s) => s,
                    Err(e) => {
                        report(&conn, &exec, launch.task_id, TaskResult::Failure(e), 0).await;
                        continue;
                    }
                };
                let (conn, exec, cache, shuffle) =
                    (conn.clone(), exec.clone(), cache.clone(), shuffle.clone());
                let mem = memory.task(launch.task_id);
                let kill = Arc::new(KillSwitch::default());
                kills
                    .lock()
                    .expect("kills lock")
                    .insert(launch.task_id, kill.clone());
                let kills = kills.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let task = TaskSpec {
                        stage: spec,
                        partition: launch.partition,
                    };
                    let ctx = TaskContext::new(&launch, kill.clone());
                    let outcome = tokio::task::spawn_blocking(move || {
                        ctx.run(|| crate::rdd::run_task_with(&task, &cache, shuffle.as_ref(), mem))
                    })
                    .await;
                    kills.lock().expect("kills lock").remove(&launch.task_id);
                    let result = match outcome {
                        // Asked to stop: killed, whatever it returned (as Spark's executor
                        // reports a task whose kill reason is set).
                        _ if kill.reason().is_some() => {
                            TaskResult::Killed(kill.reason().unwrap_or_default())
                        }
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
                        &exec,
                        launch.task_id,
                        result,
                        started.elapsed().as_millis() as u64,
                    )
                    .await;
                });
            }
            DriverResponse::Shutdown { reason } => {
                eprintln!("executor {} shutting down: {reason}", exec.executor_id);
                crate::rdd::python::stop_workers();
                eprintln!(
                    "{}",
                    crate::memory::peak_rss_line(&format!("executor {}", exec.executor_id))
                );
                conn.close(0u32.into(), b"bye");
                return Ok(0);
            }
            DriverResponse::RemoveShuffle { shuffle_id } => {
                shuffle.remove_shuffle(ShuffleId(shuffle_id))
            }
            DriverResponse::KillTask { task_id, reason } => {
                // A task already reported has no switch any more: nothing to kill.
                if let Some(k) = kills.lock().expect("kills lock").get(&task_id) {
                    k.kill(reason);
                }
            }
            DriverResponse::MigrateShuffle { how, outputs } => {
                let (conn, exec, shuffle) = (conn.clone(), exec.clone(), shuffle.clone());
                tokio::spawn(async move {
                    let source = match &how {
                        ShuffleMigration::FetchFrom { source, .. } => source.clone(),
                        _ => exec.executor_id.clone(),
                    };
                    let result =
                        tokio::task::spawn_blocking(move || shuffle.migrate(&how, &outputs))
                            .await
                            .unwrap_or_else(|e| Err(format!("migration thread failed: {e}")));
                    let req = DriverRequest::ShuffleMigrated {
                        executor_id: exec.executor_id.clone(),
                        secret: exec.app_secret.clone(),
                        source,
                        result,
                    };
                    if let Err(e) =
                        transport::call::<_, DriverResponse>(&conn, &exec.driver_address, &req)
                            .await
                    {
                        eprintln!(
                            "executor {}: cannot report a shuffle migration: {e}",
                            exec.executor_id
                        );
                    }
                });
            }
            // The launcher's frames are not an executor's.
            DriverResponse::Ok
            | DriverResponse::Error(_)
            | DriverResponse::LauncherAccepted { .. }
            | DriverResponse::RmAsk { .. }
            | DriverResponse::RmRelease { .. }
            | DriverResponse::RmFinish { .. } => {}
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
    exec: &ExecutorLaunch,
    task_id: u64,
    result: TaskResult,
    run_ms: u64,
) {
    let req = DriverRequest::StatusUpdate {
        executor_id: exec.executor_id.clone(),
        secret: exec.app_secret.clone(),
        task_id,
        result,
        run_ms,
    };
    if let Err(e) = transport::call::<_, DriverResponse>(conn, &exec.driver_address, &req).await {
        eprintln!(
            "executor {}: cannot report task {task_id}: {e}",
            exec.executor_id
        );
    }
}
