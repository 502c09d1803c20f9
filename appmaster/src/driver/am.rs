//! The AM's async shell: one loop owns the [`DriverCore`] and carries out its
//! effects — RM asks, executor launches through NMs, task pushes, the event
//! log and the UI, and the start of the user's code when the core says so.
//!
//! The core decides on monotonic time ([`mono_ms`]); event-log lines are stamped with
//! the wall-clock time of the monotonic point they happened at ([`wall_of`]), so their
//! durations are exact even if the wall clock is stepped.

use super::msg::{JobReply, Msg};
use super::rm_link::{self, with_retries, RmCall};
use super::server::DriverService;
use crate::eventlog::EventLog;
use am_core::driver::{DriverConfig, DriverCore, Effect, TaskDescription};
use am_core::eventlog::{AppEvent, LogLine};
use am_core::ids::{ExecutorId, JobId, ShuffleId};
use am_core::plan::{JobError, JobRunner, JobSpec};
use am_core::sparkconf::SparkConf;
use common::client::{AmEnv, AmRmClient, NmClient};
use common::clock::{mono_ms, wall_of};
use common::launch::ExecutorLaunch;
use common::protocol::{
    AmEvent, Container, DriverResponse, FinalApplicationStatus, LaunchSpec, LocalResource,
    ShuffleMigration, TaskLaunch, ALPN_DRIVER,
};
use common::tls::TlsIdentity;
use common::transport::{self, Profile};
use history::{self as ui, UiState};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the driver was told at launch (the contract with spindle-submit).
pub(crate) struct Launch {
    pub app_name: String,
    /// What executors run.
    pub program: ExecutorProgram,
    pub conf: BTreeMap<String, String>,
    /// Files every executor gets beside the binary (a Python app's `--py-files`).
    pub files: Vec<LocalResource>,
}

/// An executor's command and the files it needs (the staged application
/// binary, in cluster mode).
#[derive(Debug, Clone)]
pub(crate) struct ExecutorProgram {
    pub command: Vec<String>,
    pub resources: Vec<LocalResource>,
}

impl ExecutorProgram {
    /// The staged binary, run as it is.
    pub(crate) fn binary(binary: LocalResource) -> Self {
        Self {
            command: vec![binary.name.clone()],
            resources: vec![binary],
        }
    }
}

/// The JobRunner the user's code talks to: hands jobs to the loop and waits.
pub(crate) struct ClusterRunner {
    tx: mpsc::UnboundedSender<Msg>,
    parallelism: Arc<AtomicU32>,
    next_job: AtomicU32,
}

impl JobRunner for ClusterRunner {
    fn run_job(&self, spec: JobSpec) -> Result<Vec<Vec<u8>>, JobError> {
        let _ = self.next_job.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Job { spec, reply })
            .map_err(|_| JobError::Cancelled("the driver is shutting down".into()))?;
        rx.blocking_recv()
            .map_err(|_| JobError::Cancelled("the driver is shutting down".into()))?
    }

    fn default_parallelism(&self) -> u32 {
        self.parallelism.load(Ordering::Relaxed)
    }

    fn release_shuffle(&self, shuffle: ShuffleId) {
        let _ = self.tx.send(Msg::ReleaseShuffle(shuffle));
    }
}

/// What the user's thread needs, kept until the core says to start it.
struct UserCode {
    main: super::BoxedMain,
    conf: BTreeMap<String, String>,
    app_id: String,
    app_name: String,
    /// The UI's direct address (with its token), for `sc.uiWebUrl`.
    ui_web_url: String,
}

struct Shell {
    core: DriverCore,
    log: EventLog,
    ui: ui::Shared,
    pushes: HashMap<ExecutorId, mpsc::UnboundedSender<DriverResponse>>,
    jobs: HashMap<JobId, JobReply>,
    next_job: JobId,
    rm_tx: mpsc::UnboundedSender<RmCall>,
    nm: Arc<NmClient>,
    tx: mpsc::UnboundedSender<Msg>,
    /// What every executor is launched with (its id set per launch).
    executor_launch: ExecutorLaunch,
    program: ExecutorProgram,
    /// [Launch::files].
    files: Vec<LocalResource>,
    /// Variables of every executor's environment: `spark.executorEnv.*` and
    /// the Python path of the files.
    executor_env: BTreeMap<String, String>,
    parallelism: Arc<AtomicU32>,
    abort: Option<String>,
    containers: HashMap<ExecutorId, Container>,
    /// The user's code, until it starts.
    user: Option<UserCode>,
}

impl Shell {
    /// Records an event that happened at monotonic time `at`.
    fn record(&mut self, event: AppEvent, at: u64) {
        let line = LogLine {
            ts: wall_of(at),
            event,
        };
        self.log.write(&line);
        self.ui.lock().expect("ui lock").apply(&line);
    }

    /// Carries out what the core decided at monotonic time `now`.
    fn run(&mut self, effects: Vec<Effect>, now: u64, executor_resource: common::Resource) {
        let mut start_user_code = false;
        for fx in effects {
            match fx {
                Effect::Launch { executor, launch } => {
                    if let Some(p) = self.pushes.get(&executor) {
                        let _ = p.send(DriverResponse::Launch(task_launch(launch)));
                    }
                }
                Effect::KillTask {
                    executor,
                    task_id,
                    reason,
                } => {
                    if let Some(p) = self.pushes.get(&executor) {
                        let _ = p.send(DriverResponse::KillTask {
                            task_id: task_id.get(),
                            reason,
                        });
                    }
                }
                Effect::JobDone { job, result } => {
                    if let Some(r) = self.jobs.remove(&job) {
                        let _ = r.send(result);
                    }
                }
                Effect::Log(ev) => self.record(ev, now),
                Effect::Ask { count } => {
                    let _ = self.rm_tx.send(RmCall::Ask(count, executor_resource));
                }
                Effect::Release { container } => {
                    let _ = self.rm_tx.send(RmCall::Release(container));
                }
                Effect::StartExecutor {
                    container,
                    executor,
                } => {
                    self.containers
                        .insert(executor.clone(), (*container).clone());
                    let launch = ExecutorLaunch {
                        executor_id: executor.to_string(),
                        ..self.executor_launch.clone()
                    };
                    let mut spec = LaunchSpec {
                        command: self.program.command.clone(),
                        local_resources: self.program.resources.clone(),
                        ..LaunchSpec::default()
                    };
                    spec.local_resources.extend(self.files.iter().cloned());
                    spec.env.extend(self.executor_env.clone());
                    // The app secret travels as a credential file, not a variable.
                    launch.add_to(&mut spec);
                    if let Ok(v) = std::env::var("RUST_BACKTRACE") {
                        spec.env.insert("RUST_BACKTRACE".into(), v);
                    }
                    let launch = spec;
                    let nm = self.nm.clone();
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = nm.start(&container, launch).await {
                            let _ = tx.send(Msg::LaunchFailed {
                                container: container.id,
                                reason: format!("cannot start executor {executor}: {e}"),
                            });
                        }
                    });
                }
                Effect::MigrateShuffle {
                    worker,
                    source,
                    how,
                    outputs,
                } => {
                    let bytes: u64 = outputs.iter().flat_map(|o| &o.sizes).sum();
                    let place = match &how {
                        ShuffleMigration::FetchFrom { .. } => format!("to executor {worker}"),
                        ShuffleMigration::ServeFromNodeService => {
                            "to its node's shuffle service".into()
                        }
                        ShuffleMigration::CopyTo { dir } => format!("to fallback storage {dir}"),
                    };
                    eprintln!(
                        "decommissioning executor {source}: migrating {} shuffle outputs \
                         ({bytes} bytes) {place}",
                        outputs.len()
                    );
                    let sent = self.pushes.get(&worker).is_some_and(|p| {
                        p.send(DriverResponse::MigrateShuffle { how, outputs })
                            .is_ok()
                    });
                    if !sent {
                        // The worker is going: the core hears it failed.
                        let _ = self.tx.send(Msg::ShuffleMigrated {
                            reporter: worker,
                            source,
                            result: Err("the executor to do it is not connected".into()),
                        });
                    }
                }
                Effect::StopExecutor { executor, reason } => {
                    match self.pushes.remove(&executor) {
                        Some(p) => {
                            let _ = p.send(DriverResponse::Shutdown { reason });
                        }
                        None => {
                            // Not registered yet: stop its container through the NM.
                            if let Some(c) = self.containers.get(&executor).cloned() {
                                let nm = self.nm.clone();
                                tokio::spawn(async move {
                                    let _ = nm.stop(&c).await;
                                });
                            }
                        }
                    }
                }
                Effect::RemoveShuffle { shuffle, servers } => {
                    // Executors delete the files of a shuffle they wrote when
                    // told; the node's shuffle service on app end at the latest.
                    for p in self.pushes.values() {
                        let _ = p.send(DriverResponse::RemoveShuffle {
                            shuffle_id: shuffle.get(),
                        });
                    }
                    let _ = servers;
                }
                Effect::Abort { reason } => {
                    self.abort.get_or_insert(reason.clone());
                    for (_, r) in self.jobs.drain() {
                        let _ = r.send(Err(JobError::Cancelled(reason.clone())));
                    }
                }
                Effect::StartUserCode => start_user_code = true,
            }
        }
        self.parallelism
            .store(self.core.default_parallelism(), Ordering::Relaxed);
        // After the parallelism is stored: the user's code reads it first thing.
        if start_user_code {
            self.start_user_code();
        }
    }

    /// Runs the user's main on its own thread; its end comes back as `Msg::UserDone`.
    fn start_user_code(&mut self) {
        let Some(user) = self.user.take() else {
            return;
        };
        let runner = Arc::new(ClusterRunner {
            tx: self.tx.clone(),
            parallelism: self.parallelism.clone(),
            next_job: AtomicU32::new(0),
        });
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let sc = crate::rdd::SparkContext::new(runner, user.conf, user.app_id, user.app_name);
            sc.set_ui_web_url(Some(&user.ui_web_url));
            let main = user.main;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| main(&sc)));
            let r = match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(p) => Err(format!(
                    "User application panicked: {}",
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".into())
                )),
            };
            let _ = tx.send(Msg::UserDone(r));
        });
    }
}

/// Spark's `spark.executorEnv.NAME`: a variable of every executor's environment.
const EXECUTOR_ENV_PREFIX: &str = "spark.executorEnv.";

/// The variables every executor gets: the Python path of the files, then
/// `spark.executorEnv.*` (a `PYTHONPATH` there goes first).
fn executor_env(launch: &Launch) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(path) = python_path(&launch.files) {
        env.insert("PYTHONPATH".to_string(), path);
    }
    let props = launch.conf.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    crate::submit::plan::add_env_properties(&mut env, props, EXECUTOR_ENV_PREFIX);
    env
}

/// The executors' `PYTHONPATH`: the Python files and archives among `files`
/// (localized into the container's working directory, where Python workers
/// start), as spark-submit's `--py-files` are put on the path.
/// A `.py` file is found through the directory, an archive as itself.
fn python_path(files: &[LocalResource]) -> Option<String> {
    let archives = files
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| n.ends_with(".zip") || n.ends_with(".egg"));
    let path: Vec<&str> = std::iter::once(".").chain(archives).collect();
    let any = files
        .iter()
        .any(|f| [".py", ".zip", ".egg"].iter().any(|e| f.name.ends_with(e)));
    any.then(|| path.join(":"))
}

/// The wire's form of a task (ids as plain numbers).
fn task_launch(t: TaskDescription) -> TaskLaunch {
    TaskLaunch {
        task_id: t.task_id.get(),
        stage_id: t.stage_id.get(),
        stage_attempt: t.stage_attempt,
        partition: t.partition,
        attempt: t.attempt,
        stage: t.stage.map(|b| b.as_ref().clone()),
    }
}

/// The driver's listening side: the executors' service (and a client-mode
/// launcher's) and the UI, both up before the RM hears of the application
/// so the tracking URL is live from the first report.
pub(crate) struct Listening {
    /// Where executors reach the driver.
    pub(crate) driver_addr: String,
    pub(crate) service: Arc<DriverService>,
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    pub(crate) rx: mpsc::UnboundedReceiver<Msg>,
    pub(crate) ui: ui::Shared,
    pub(crate) tracking_url: String,
}

/// Starts the driver's service and UI on `host` (the address executors and
/// the RM's proxy reach this process at).
pub(crate) async fn listen(
    identity: &TlsIdentity,
    host: &str,
    service: impl FnOnce(mpsc::UnboundedSender<Msg>) -> DriverService,
) -> anyhow::Result<Listening> {
    let driver_ep = transport::server_endpoint(
        "0.0.0.0:0".parse()?,
        identity,
        ALPN_DRIVER,
        Profile::Control,
    )?;
    let driver_addr = format!("{host}:{}", driver_ep.local_addr()?.port());
    let ui_token = random_hex()?;
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let service = Arc::new(service(tx.clone()));
    tokio::spawn(transport::serve(driver_ep.clone(), service.clone()));
    let ui: ui::Shared = Arc::new(Mutex::new(
        UiState::new(driver_addr.clone()).with_metrics(Arc::new(ui::AmMetrics::default())),
    ));
    // On the node's own address, not 0.0.0.0; only the tracking URL's token gets in.
    let http = tokio::net::TcpListener::bind((host, 0)).await?;
    let tracking_url = format!("http://{host}:{}/{ui_token}/", http.local_addr()?.port());
    // For the container's log, as Spark's "Bound SparkUI" line; without the token: the
    // RM's proxy is the way in.
    eprintln!(
        "appmaster: application UI listening on {} (reached through the RM's web proxy)",
        http.local_addr()?
    );
    {
        let router = ui::router(ui.clone(), &ui_token);
        tokio::spawn(async move {
            let _ = axum::serve(http, router).await;
        });
    }
    Ok(Listening {
        driver_addr,
        service,
        tx,
        rx,
        ui,
        tracking_url,
    })
}

/// Runs the AM and the user's main; returns the process exit code.
pub(crate) async fn run(
    launch: Launch,
    env: AmEnv,
    config: DriverConfig,
    main: super::BoxedMain,
) -> anyhow::Result<i32> {
    let (identity, rm) = rm_link::am_client(&env)?;
    // The RM made the secret at submission; NMs registered it with their shuffle services.
    let secret = env.app_secret.clone();
    let listening = listen(&identity, &env.nm_host, |tx| {
        DriverService::new(Some(secret.clone()), tx)
    })
    .await?;

    // Retried: the RM may be restarting while this AM starts.
    let url = listening.tracking_url.clone();
    with_retries("registration", || rm.register(&env.nm_host, &url)).await?;
    let events = with_retries("subscription", || rm.subscribe()).await?;
    tokio::spawn(rm_link::follow(rm.clone(), events, listening.tx.clone()));
    let (rm_tx, rm_rx) = mpsc::unbounded_channel::<RmCall>();
    tokio::spawn(rm_link::calls(rm.clone(), rm_rx));
    let held = Held {
        attempt: env.attempt,
        allocated_wall_ms: env.allocated_wall_ms,
        secret,
        rm_tx,
        finish: Finish::Direct(rm),
    };
    drive(launch, held, listening, &identity, config, main).await
}

/// How the application is held with the RM: by this process (cluster mode) or
/// by a launcher for it (client mode).
pub(crate) struct Held {
    pub(crate) attempt: common::AppAttemptId,
    pub(crate) allocated_wall_ms: u64,
    pub(crate) secret: String,
    /// The RM calls the driver makes (asks, releases).
    pub(crate) rm_tx: mpsc::UnboundedSender<RmCall>,
    pub(crate) finish: Finish,
}

/// Who unregisters the application at its end.
pub(crate) enum Finish {
    Direct(Arc<AmRmClient>),
    /// The launcher, told on its stream.
    Relayed(mpsc::UnboundedSender<DriverResponse>),
}

/// Runs the driver loop around the user's main once the application is
/// held; returns the exit code.
pub(crate) async fn drive(
    launch: Launch,
    held: Held,
    listening: Listening,
    identity: &TlsIdentity,
    config: DriverConfig,
    main: super::BoxedMain,
) -> anyhow::Result<i32> {
    let Listening {
        driver_addr,
        tx,
        mut rx,
        ui,
        tracking_url,
        ..
    } = listening;
    let Held {
        attempt,
        allocated_wall_ms,
        secret,
        rm_tx,
        finish,
    } = held;
    let app_id = attempt.app.to_string();
    let nm = Arc::new(NmClient::new(identity)?);
    let sc = SparkConf::from(launch.conf.clone());
    // driver_config() validated the properties, the event-log flag among them.
    let log = if sc.event_log_enabled().unwrap_or(false) {
        let dir = sc.event_log_dir();
        let dir = dir.strip_prefix("file://").unwrap_or(dir);
        match EventLog::create(std::path::Path::new(dir), &app_id) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("event log in {dir} unavailable: {e}");
                EventLog::disabled()
            }
        }
    } else {
        EventLog::disabled()
    };

    let executor_launch = ExecutorLaunch {
        driver_address: driver_addr.clone(),
        app_secret: secret.clone(),
        // Set per executor at launch.
        executor_id: String::new(),
        executor_cores: config.executor_cores,
        app_id: attempt.app,
        shuffle_service_enabled: config.shuffle_service,
        // driver_config() validated the memory settings too.
        memory: sc.executor_memory_settings()?,
    };
    let executor_resource = config.executor_resource;
    let parallelism = Arc::new(AtomicU32::new(2));
    let dynamic = config.dynamic.is_some();
    let mut shell = Shell {
        core: DriverCore::new(config.clone())?,
        log,
        ui,
        pushes: HashMap::new(),
        jobs: HashMap::new(),
        next_job: JobId(0),
        rm_tx,
        nm,
        tx: tx.clone(),
        executor_launch,
        program: launch.program.clone(),
        files: launch.files.clone(),
        executor_env: executor_env(&launch),
        parallelism: parallelism.clone(),
        abort: None,
        containers: HashMap::new(),
        user: Some(UserCode {
            main,
            conf: launch.conf.clone(),
            app_id: app_id.clone(),
            app_name: launch.app_name.clone(),
            ui_web_url: tracking_url.clone(),
        }),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "spindle".into());
    shell.record(
        AppEvent::ApplicationStart {
            app_id: app_id.clone(),
            app_name: launch.app_name.clone(),
            attempt: attempt.attempt.to_string(),
            user,
            dynamic_allocation: dynamic,
            executor_cores: config.executor_cores,
            executor_memory_mb: executor_resource.memory_mb,
            conf: launch.conf.clone(),
            driver_memory_mb: am_core::sparkconf::driver_container_of(&launch.conf).memory_mb,
            driver_vcores: am_core::sparkconf::driver_container_of(&launch.conf).vcores,
            am_allocated_ms: allocated_wall_ms,
        },
        mono_ms(),
    );
    if let Some(p) = shell.log.path() {
        println!("event log: {}", p.display());
    }
    // The core starts the user's code when most initial executors registered (Spark's
    // minRegisteredResourcesRatio and maxRegisteredResourcesWaitingTime), checked as
    // they register and on every tick.
    let now = mono_ms();
    let fx = shell.core.start(now);
    shell.run(fx, now, executor_resource);
    // Say what the start waits for: a cluster too small for the initial executors
    // otherwise looks hung for maxRegisteredResourcesWaitingTime.
    let waiting = shell.core.start_waits_for();
    if let Some(w) = waiting {
        println!(
            "waiting for {} of {} executors to register before the application starts              (spark.scheduler.minRegisteredResourcesRatio), at most {}              (spark.scheduler.maxRegisteredResourcesWaitingTime)",
            w.needed,
            w.expected,
            common::duration::format_duration(Duration::from_millis(w.max_wait_ms)),
        );
    }
    let mut announced_start = waiting.is_none();

    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // After the user's code ended: its result, and until when attempts being killed (the
    // losers of speculative races) may still report.
    let mut user_done: Option<(Result<(), String>, u64)> = None;
    let user_result: Result<(), String> = loop {
        if let Some((_, until)) = &user_done {
            if shell.core.tasks_being_killed() == 0 || mono_ms() >= *until {
                break user_done.take().expect("checked").0;
            }
        }
        let wait = |at: u64| Duration::from_millis(at.saturating_sub(mono_ms()));
        // Spark's speculation check, when a task can be due (at most once an interval).
        let speculation = shell.core.next_speculation_check_ms().map(wait);
        let grace = user_done.as_ref().map(|(_, until)| wait(*until));
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tick.tick() => {
                let now = mono_ms();
                let fx = shell.core.tick(now);
                shell.run(fx, now, executor_resource);
                if !announced_start && shell.core.start_waits_for().is_none() {
                    announced_start = true;
                    println!(
                        "starting the application with {} executor(s) registered",
                        shell.core.registered_executors()
                    );
                }
                continue;
            }
            _ = tokio::time::sleep(speculation.unwrap_or_default()), if speculation.is_some() => {
                let now = mono_ms();
                let fx = shell.core.check_speculatable_tasks(now);
                shell.run(fx, now, executor_resource);
                continue;
            }
            _ = tokio::time::sleep(grace.unwrap_or_default()), if grace.is_some() => continue,
        };
        let Some(msg) = msg else {
            break Err("driver channel closed".into());
        };
        let now = mono_ms();
        let fx = match msg {
            Msg::Rm(AmEvent::Allocated(cs)) => shell.core.on_allocated(cs, now),
            Msg::Rm(AmEvent::Completed(statuses)) => {
                let mut fx = Vec::new();
                for s in &statuses {
                    fx.extend(shell.core.on_container_completed(s, now));
                }
                fx
            }
            Msg::Rm(AmEvent::Preempting(cs)) => {
                tracing::info!(
                    containers = cs.len(),
                    "the resource manager will preempt containers"
                );
                shell.core.on_preemption_notice(&cs, now)
            }
            Msg::Rm(AmEvent::NodesUpdated(updates)) => nodes_updated(&mut shell.core, updates, now),
            // The client already presents the new token.
            Msg::Rm(AmEvent::NodesLost(_) | AmEvent::AmrmToken { .. }) => vec![],
            Msg::Rm(AmEvent::Shutdown { reason }) => {
                eprintln!("the resource manager ended this attempt: {reason}");
                let fx = shell.core.shutdown(now);
                shell.run(fx, now, executor_resource);
                shell.record(
                    AppEvent::ApplicationEnd {
                        final_status: "KILLED".into(),
                        diagnostics: reason,
                    },
                    now,
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(1);
            }
            Msg::RmResynced => shell.core.on_rm_resync(now),
            Msg::RmClosed => {
                eprintln!("the resource manager closed the allocation stream");
                let fx = shell.core.shutdown(now);
                shell.run(fx, now, executor_resource);
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(1);
            }
            Msg::Register {
                executor,
                registration,
                push,
                reply,
            } => match shell
                .core
                .on_executor_registered(&executor, registration, now)
            {
                Ok(fx) => {
                    shell.pushes.insert(executor, push);
                    let _ = reply.send(Ok(()));
                    fx
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    vec![]
                }
            },
            Msg::Status {
                executor,
                task_id,
                result,
            } => shell.core.on_status_update(&executor, task_id, result, now),
            Msg::Disconnected { executor } => {
                shell.pushes.remove(&executor);
                shell.core.on_executor_disconnected(&executor, now)
            }
            Msg::ShuffleMigrated {
                reporter,
                source,
                result,
            } => shell
                .core
                .on_shuffle_migrated(&reporter, &source, result, now),
            Msg::Job { spec, reply } => {
                if let Some(reason) = &shell.abort {
                    let _ = reply.send(Err(JobError::Cancelled(reason.clone())));
                    vec![]
                } else {
                    let job = shell.next_job;
                    shell.next_job = job.next();
                    shell.jobs.insert(job, reply);
                    shell.core.submit_job(job, spec, now)
                }
            }
            Msg::LaunchFailed { container, reason } => {
                tracing::warn!(%container, %reason, "executor launch failed");
                shell.core.on_launch_failed(container, reason, now)
            }
            Msg::UserDone(r) => {
                if shell.core.tasks_being_killed() == 0 {
                    break r;
                }
                // Let the killed attempts' executors say so (a few ms), within bounds.
                user_done = Some((r, now + KILLED_REPORT_GRACE_MS));
                vec![]
            }
            Msg::ReleaseShuffle(shuffle) => shell.core.release_shuffle(shuffle, now),
        };
        shell.run(fx, now, executor_resource);
    };

    let (status, diagnostics) = match (&user_result, &shell.abort) {
        (_, Some(reason)) => (FinalApplicationStatus::FAILED, reason.clone()),
        (Ok(()), None) => (FinalApplicationStatus::SUCCEEDED, String::new()),
        (Err(e), None) => (FinalApplicationStatus::FAILED, e.clone()),
    };
    if !diagnostics.is_empty() {
        eprintln!("application failed: {diagnostics}");
        println!("application failed: {diagnostics}");
    }
    let now = mono_ms();
    let fx = shell.core.shutdown(now);
    shell.run(fx, now, executor_resource);
    if let Some(dir) = config
        .shuffle_migration
        .as_ref()
        .and_then(|m| m.fallback_path.as_deref())
    {
        // What this app's executors left in fallback storage goes with the app, as
        // Spark's FallbackStorage cleans up after its application.
        let mine = std::path::Path::new(dir).join(&app_id);
        if let Err(e) = std::fs::remove_dir_all(&mine) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("cannot remove {}: {e}", mine.display());
            }
        }
    }
    shell.record(
        AppEvent::ApplicationEnd {
            final_status: status.to_string(),
            diagnostics: diagnostics.clone(),
        },
        now,
    );
    // The user's last output is in the log before the final state is: spindle-submit
    // prints what the log holds when it sees that state.
    {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }
    // Retried: the RM may be restarting as the app ends (an unregistration is safe to
    // repeat).
    match finish {
        Finish::Direct(rm) => {
            with_retries("unregistration", || {
                rm.finish(status, &diagnostics, &tracking_url)
            })
            .await?;
        }
        Finish::Relayed(launcher) => {
            let _ = launcher.send(DriverResponse::RmFinish {
                status,
                diagnostics: diagnostics.clone(),
                tracking_url: tracking_url.clone(),
            });
            // The launcher closes its stream once it unregistered.
            let _ = tokio::time::timeout(Duration::from_secs(30), launcher.closed()).await;
        }
    }
    eprintln!("{}", crate::memory::peak_rss_line("driver"));
    Ok(0)
}

/// How long the AM waits, once the user's code ended, for the attempts it asked to kill
/// to report, before it shuts down (then they are logged killed without their word).
const KILLED_REPORT_GRACE_MS: u64 = 250;

/// 128 random bits as hex: the app secret, the UI token.
pub(crate) fn random_hex() -> anyhow::Result<String> {
    let rng = ring::rand::SystemRandom::new();
    let b: [u8; 16] = ring::rand::generate(&rng)
        .map_err(|_| anyhow::anyhow!("no randomness"))?
        .expose();
    Ok(hex::encode(b))
}

/// Nodes the RM updated (YARN's updated nodes): the executors on a DECOMMISSIONING one
/// finish what they run and go.
fn nodes_updated(
    core: &mut DriverCore,
    updates: Vec<common::protocol::NodeUpdate>,
    now: u64,
) -> Vec<Effect> {
    let mut fx = Vec::new();
    for u in updates {
        if u.state != common::protocol::NodeState::DECOMMISSIONING {
            continue;
        }
        let timeout = u
            .decommission_timeout_ms
            .map_or_else(|| "no timeout".to_string(), |ms| format!("{ms} ms left"));
        eprintln!(
            "node {} is being decommissioned ({timeout}): its executors finish their tasks and go",
            u.node_id
        );
        fx.extend(core.on_node_decommissioning(&u.node_id, u.decommission_timeout_ms, now));
    }
    fx
}
