//! The driver's core: jobs and stages, the task scheduler, executor
//! containers and (under dynamic allocation) the allocation manager, as plain
//! data with transitions. No I/O and no clock: every call takes `now_ms` and
//! returns [`Effect`]s for the async shell to carry out.

use crate::allocation::{
    AllocationConfig, ExecutorAllocationManager, JobStageInfo, ListenerEvent, StageAttempt,
    StorageLevel, TaskEndReason, TaskInfo,
};
use crate::eventlog::AppEvent;
use crate::plan::{
    Action, FetchFailed, JobError, JobId, JobSpec, MapLocation, Plan, ShuffleDep, ShuffleId,
    Source, StageId, StageSpec, TaskError, TaskOutput,
};
use common::protocol::{Container, ContainerStatus, TaskLaunch, TaskResult};
use common::{ContainerId, Resource};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

pub type ExecutorId = String;

#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The executor container (memory with overhead, cores).
    pub executor_resource: Resource,
    pub executor_cores: u32,
    pub task_cpus: u32,
    /// spark.task.maxFailures
    pub max_task_failures: u32,
    /// spark.executor.maxNumFailures
    pub max_executor_failures: u32,
    /// spark.executor.instances, used when dynamic allocation is off.
    pub static_instances: u32,
    /// Dynamic allocation, when enabled.
    pub dynamic: Option<AllocationConfig>,
    /// How long a task waits for the executor holding its cached partition.
    pub locality_wait_ms: u64,
    /// spark.shuffle.service.enabled: map output outlives its executor.
    pub shuffle_service: bool,
    /// spark.stage.maxConsecutiveAttempts
    pub max_stage_attempts: u32,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Push a task to an executor.
    Launch {
        executor: ExecutorId,
        launch: TaskLaunch,
    },
    /// A job ended: wake the user's thread.
    JobDone {
        job: JobId,
        result: Result<Vec<Vec<u8>>, JobError>,
    },
    /// Record (event log, UI).
    Log(AppEvent),
    /// Set the outstanding container ask at the RM (total-count semantics).
    Ask { count: u32 },
    /// Start an executor in this container through its NM.
    StartExecutor {
        container: Box<Container>,
        executor: ExecutorId,
    },
    /// Give a container back to the RM.
    Release { container: ContainerId },
    /// Tell an executor to exit.
    StopExecutor {
        executor: ExecutorId,
        reason: String,
    },
    /// Too many failures: the application must end as FAILED.
    Abort { reason: String },
    /// A shuffle was released: delete its files where they are served.
    RemoveShuffle {
        shuffle: ShuffleId,
        servers: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContainerPhase {
    /// Allocated; the executor is starting and has not registered yet.
    Launching,
    Registered,
    /// We asked it to go (idle removal or shutdown).
    Stopping,
}

#[derive(Debug)]
struct ExecContainer {
    executor: ExecutorId,
    phase: ContainerPhase,
    stop_reason: Option<String>,
}

#[derive(Debug)]
struct Executor {
    host: String,
    shuffle_server: String,
    shuffle_dir: String,
    slots: u32,
    running: BTreeSet<u64>,
    stages_sent: HashSet<StageId>,
    container: ContainerId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StageKind {
    /// Computes the job's action.
    Result,
    /// Writes a shuffle's map output.
    ShuffleMap(ShuffleId),
}

/// A stage whose tasks are being scheduled.
#[derive(Debug)]
struct Stage {
    job: JobId,
    kind: StageKind,
    attempt: u32,
    name: String,
    spec: Arc<StageSpec>,
    spec_bytes: Arc<Vec<u8>>,
    partitions: Vec<u32>,
    pending: VecDeque<usize>,
    results: Vec<Option<Vec<u8>>>,
    failures: Vec<u32>,
    finished: usize,
    submitted_ms: u64,
}

/// A stage created for a job, waiting for the shuffles it reads.
#[derive(Debug)]
struct WaitingStage {
    job: JobId,
    kind: StageKind,
    attempt: u32,
    name: String,
    plan: Plan,
    action: Action,
    partitions: Vec<u32>,
    reads: Vec<ShuffleId>,
}

#[derive(Debug)]
struct Job {
    partitions: Vec<u32>,
    results: Vec<Option<Vec<u8>>>,
    stages: Vec<StageId>,
}

/// The map output tracker's view of one shuffle.
#[derive(Debug)]
struct ShuffleState {
    dep: ShuffleDep,
    outputs: Vec<Option<MapLocation>>,
    /// The stage computing its missing outputs, if any.
    computing: Option<StageId>,
}

impl ShuffleState {
    fn complete(&self) -> bool {
        self.outputs.iter().all(Option::is_some)
    }

    fn missing(&self) -> Vec<u32> {
        (0..self.outputs.len() as u32)
            .filter(|m| self.outputs[*m as usize].is_none())
            .collect()
    }
}

fn direct_deps(plan: &Plan) -> &[ShuffleDep] {
    match &plan.source {
        Source::Shuffled { deps, .. } => deps,
        _ => &[],
    }
}

#[derive(Debug)]
struct RunningTask {
    stage: StageId,
    stage_attempt: u32,
    index: usize,
    attempt: u32,
    executor: ExecutorId,
    start_ms: u64,
}

pub struct DriverCore {
    conf: DriverConfig,
    dra: Option<ExecutorAllocationManager>,
    stages: BTreeMap<StageId, Stage>,
    waiting: BTreeMap<StageId, WaitingStage>,
    jobs: BTreeMap<JobId, Job>,
    shuffles: BTreeMap<ShuffleId, ShuffleState>,
    next_stage: StageId,
    tasks: HashMap<u64, RunningTask>,
    next_task: u64,
    executors: BTreeMap<ExecutorId, Executor>,
    containers: BTreeMap<ContainerId, ExecContainer>,
    next_executor: u64,
    /// What the RM still owes us (our last ask minus what has arrived since).
    asked: u32,
    last_ask_sent: Option<u32>,
    cache_locs: HashMap<(u32, u32), BTreeSet<ExecutorId>>,
    executor_failures: u32,
    stopped: bool,
}

fn stage_attempt(stage: StageId, attempt: u32) -> StageAttempt {
    StageAttempt::new(i64::from(stage), i64::from(attempt))
}

impl DriverCore {
    pub fn new(conf: DriverConfig) -> Result<Self, crate::allocation::ConfigError> {
        let dra = match &conf.dynamic {
            Some(c) => Some(ExecutorAllocationManager::new(c.clone())?),
            None => None,
        };
        Ok(Self {
            conf,
            dra,
            stages: BTreeMap::new(),
            waiting: BTreeMap::new(),
            jobs: BTreeMap::new(),
            shuffles: BTreeMap::new(),
            next_stage: 0,
            tasks: HashMap::new(),
            next_task: 0,
            executors: BTreeMap::new(),
            containers: BTreeMap::new(),
            next_executor: 1,
            asked: 0,
            last_ask_sent: None,
            cache_locs: HashMap::new(),
            executor_failures: 0,
            stopped: false,
        })
    }

    /// The executor target: the allocation manager's, or the static count.
    pub fn target(&self) -> i64 {
        match &self.dra {
            Some(m) => m.num_executors_target(),
            None => i64::from(self.conf.static_instances),
        }
    }

    pub fn is_dynamic(&self) -> bool {
        self.dra.is_some()
    }

    /// Spark's defaultParallelism: total registered executor cores, at least 2.
    pub fn default_parallelism(&self) -> u32 {
        let cores: u32 = self
            .executors
            .values()
            .map(|e| e.slots * self.conf.task_cpus)
            .sum();
        cores.max(2)
    }

    pub fn registered_executors(&self) -> usize {
        self.executors.len()
    }

    /// Tasks waiting or running, all stages.
    pub fn outstanding_tasks(&self) -> usize {
        self.stages
            .values()
            .map(|s| s.partitions.len() - s.finished)
            .sum()
    }

    fn dra_event(&mut self, ev: ListenerEvent, now_ms: u64) {
        if let Some(m) = self.dra.as_mut() {
            m.on_event(&ev, now_ms);
        }
    }

    /// Start-up: ask for the initial executors.
    pub fn start(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Some(m) = self.dra.as_ref() {
            fx.push(Effect::Log(AppEvent::TargetChanged {
                old: 0,
                new: m.num_executors_target(),
            }));
        }
        self.sync_ask(&mut fx);
        let _ = now_ms;
        fx
    }

    // ------------------------------------------------------------ containers

    fn live_containers(&self) -> u32 {
        self.containers
            .values()
            .filter(|c| c.phase != ContainerPhase::Stopping)
            .count() as u32
    }

    fn sync_ask(&mut self, fx: &mut Vec<Effect>) {
        if self.stopped {
            return;
        }
        let target = self.target().max(0) as u32;
        let want = target.saturating_sub(self.live_containers());
        if self.last_ask_sent != Some(want) || want != self.asked {
            self.asked = want;
            self.last_ask_sent = Some(want);
            fx.push(Effect::Ask { count: want });
            fx.push(Effect::Log(AppEvent::ContainerRequested {
                outstanding: want,
                memory_mb: self.conf.executor_resource.memory_mb,
                vcores: self.conf.executor_resource.vcores,
            }));
        }
    }

    pub fn on_allocated(&mut self, containers: Vec<Container>, _now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        for c in containers {
            self.asked = self.asked.saturating_sub(1);
            let target = self.target().max(0) as u32;
            if self.stopped || self.live_containers() >= target {
                fx.push(Effect::Log(AppEvent::ContainerAllocated {
                    container: c.id.to_string(),
                    node: c.node_id.0.clone(),
                    executor: None,
                }));
                fx.push(Effect::Log(AppEvent::ContainerReleased {
                    container: c.id.to_string(),
                    reason: "not needed: the target was reached".into(),
                }));
                fx.push(Effect::Release { container: c.id });
                continue;
            }
            let executor = self.next_executor.to_string();
            self.next_executor += 1;
            fx.push(Effect::Log(AppEvent::ContainerAllocated {
                container: c.id.to_string(),
                node: c.node_id.0.clone(),
                executor: Some(executor.clone()),
            }));
            fx.push(Effect::StartExecutor {
                container: Box::new(c.clone()),
                executor: executor.clone(),
            });
            self.containers.insert(
                c.id,
                ExecContainer {
                    executor,
                    phase: ContainerPhase::Launching,
                    stop_reason: None,
                },
            );
        }
        // The RM decremented its count as it allocated; keep ours in step and
        // ask for replacements of anything we released.
        self.last_ask_sent = Some(self.asked);
        self.sync_ask(&mut fx);
        fx
    }

    /// The executor in this container could not be started.
    pub fn on_launch_failed(
        &mut self,
        container: ContainerId,
        reason: String,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut fx = vec![Effect::Release { container }];
        fx.extend(self.on_container_gone(container, -1, reason, now_ms));
        fx
    }

    pub fn on_container_completed(&mut self, status: &ContainerStatus, now_ms: u64) -> Vec<Effect> {
        let reason = if status.diagnostics.is_empty() {
            format!(
                "Container {} exited with exit status {}",
                status.container_id, status.exit_status
            )
        } else {
            format!(
                "Container {} exited with exit status {}: {}",
                status.container_id, status.exit_status, status.diagnostics
            )
        };
        self.on_container_gone(status.container_id, status.exit_status, reason, now_ms)
    }

    fn on_container_gone(
        &mut self,
        id: ContainerId,
        exit: i32,
        reason: String,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(c) = self.containers.remove(&id) else {
            return fx;
        };
        let requested = c.phase == ContainerPhase::Stopping;
        let why = c.stop_reason.clone().unwrap_or(reason);
        if self.executors.contains_key(&c.executor) {
            self.remove_executor(&c.executor, why, now_ms, &mut fx);
        } else if !requested {
            fx.push(Effect::Log(AppEvent::ExecutorRemoved {
                executor: c.executor.clone(),
                reason: format!("executor never registered: {why}"),
            }));
        }
        if !requested && exit != 0 && !self.stopped {
            self.executor_failures += 1;
            if self.executor_failures > self.conf.max_executor_failures {
                fx.push(Effect::Abort {
                    reason: format!(
                        "Max number of executor failures ({}) reached",
                        self.conf.max_executor_failures
                    ),
                });
            }
        }
        self.sync_ask(&mut fx);
        self.offer(now_ms, &mut fx);
        fx
    }

    /// The executor's connection to us dropped: it is gone, whatever the RM says later.
    pub fn on_executor_disconnected(&mut self, executor: &str, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.executors.contains_key(executor) {
            let requested = self
                .containers
                .values()
                .find(|c| c.executor == executor)
                .and_then(|c| c.stop_reason.clone());
            let reason = requested
                .unwrap_or_else(|| "executor lost: connection to the driver closed".into());
            self.remove_executor(executor, reason, now_ms, &mut fx);
            self.offer(now_ms, &mut fx);
        }
        fx
    }

    fn remove_executor(&mut self, id: &str, reason: String, now_ms: u64, fx: &mut Vec<Effect>) {
        let Some(exec) = self.executors.remove(id) else {
            return;
        };
        // Its running tasks go back to their stages (not counted as failures).
        for task_id in exec.running {
            if let Some(t) = self.tasks.remove(&task_id) {
                self.end_task_event(
                    task_id,
                    &t,
                    "ExecutorLost",
                    Some(reason.clone()),
                    0,
                    now_ms,
                    fx,
                );
                if let Some(stage) = self.stages.get_mut(&t.stage) {
                    if stage.results[t.index].is_none() {
                        stage.pending.push_front(t.index);
                    }
                }
            }
        }
        for holders in self.cache_locs.values_mut() {
            holders.remove(id);
        }
        if !self.conf.shuffle_service {
            // Its map output went with it: recompute what is still needed.
            for st in self.shuffles.values_mut() {
                for o in st.outputs.iter_mut() {
                    if o.as_ref().is_some_and(|l| l.executor == id) {
                        *o = None;
                    }
                }
            }
            self.advance(now_ms, fx);
        }
        fx.push(Effect::Log(AppEvent::ExecutorRemoved {
            executor: id.to_string(),
            reason,
        }));
        self.dra_event(
            ListenerEvent::ExecutorRemoved {
                executor_id: id.to_string(),
            },
            now_ms,
        );
    }

    pub fn on_executor_registered(
        &mut self,
        executor: &str,
        host: String,
        cores: u32,
        shuffle_server: String,
        shuffle_dir: String,
        now_ms: u64,
    ) -> Result<Vec<Effect>, String> {
        let Some((cid, c)) = self
            .containers
            .iter_mut()
            .find(|(_, c)| c.executor == executor)
        else {
            return Err(format!(
                "executor {executor} is not one this driver started"
            ));
        };
        if c.phase != ContainerPhase::Launching {
            return Err(format!("executor {executor} registered twice"));
        }
        c.phase = ContainerPhase::Registered;
        let cid = *cid;
        let mut fx = vec![Effect::Log(AppEvent::ExecutorAdded {
            executor: executor.to_string(),
            host: host.clone(),
            cores,
            container: cid.to_string(),
            memory_mb: self.conf.executor_resource.memory_mb,
        })];
        self.executors.insert(
            executor.to_string(),
            Executor {
                host,
                shuffle_server,
                shuffle_dir,
                slots: (cores / self.conf.task_cpus.max(1)).max(1),
                running: BTreeSet::new(),
                stages_sent: HashSet::new(),
                container: cid,
            },
        );
        self.dra_event(
            ListenerEvent::ExecutorAdded {
                executor_id: executor.to_string(),
            },
            now_ms,
        );
        self.offer(now_ms, &mut fx);
        Ok(fx)
    }

    // ------------------------------------------------------------ jobs

    pub fn submit_job(&mut self, job: JobId, spec: JobSpec, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        let n = spec.partitions.len();
        self.register_deps(&spec.stage.plan);
        let result_stage = self.next_stage;
        self.next_stage += 1;
        let reads: Vec<ShuffleId> = direct_deps(&spec.stage.plan)
            .iter()
            .map(|d| d.write.shuffle_id)
            .collect();
        self.jobs.insert(
            job,
            Job {
                partitions: spec.partitions.clone(),
                results: vec![None; n],
                stages: vec![result_stage],
            },
        );
        if n == 0 {
            fx.push(Effect::Log(AppEvent::JobStart {
                job,
                description: spec.description.clone(),
                stages: vec![result_stage],
                num_tasks: 0,
            }));
            self.finish_job(job, Ok(vec![]), now_ms, &mut fx);
            return fx;
        }
        self.waiting.insert(
            result_stage,
            WaitingStage {
                job,
                kind: StageKind::Result,
                attempt: 0,
                name: spec.description.clone(),
                plan: spec.stage.plan,
                action: spec.stage.action,
                partitions: spec.partitions,
                reads,
            },
        );
        // Create the map stages this job needs (missing shuffle outputs only).
        let mut created = Vec::new();
        self.plan_parents(result_stage, &mut created);
        let mut stages: Vec<StageId> = created.clone();
        stages.push(result_stage);
        stages.sort_unstable();
        if let Some(j) = self.jobs.get_mut(&job) {
            j.stages = stages.clone();
        }
        let num_tasks: usize = stages
            .iter()
            .filter_map(|s| self.waiting.get(s))
            .map(|w| w.partitions.len())
            .sum();
        fx.push(Effect::Log(AppEvent::JobStart {
            job,
            description: spec.description.clone(),
            stages: stages.clone(),
            num_tasks: num_tasks as u32,
        }));
        let infos = stages
            .iter()
            .map(|s| JobStageInfo {
                stage_id: i64::from(*s),
                shuffle_dep_id: match self.waiting.get(s).map(|w| w.kind) {
                    Some(StageKind::ShuffleMap(id)) => Some(i64::from(id)),
                    _ => None,
                },
            })
            .collect();
        self.dra_event(
            ListenerEvent::JobStart {
                job_id: i64::from(job),
                stages: infos,
            },
            now_ms,
        );
        self.advance(now_ms, &mut fx);
        fx
    }

    /// Records every shuffle a plan reads, transitively.
    fn register_deps(&mut self, plan: &Plan) {
        for dep in direct_deps(plan) {
            self.shuffles
                .entry(dep.write.shuffle_id)
                .or_insert_with(|| ShuffleState {
                    dep: dep.clone(),
                    outputs: vec![None; dep.parent.num_partitions() as usize],
                    computing: None,
                });
            self.register_deps(&dep.parent);
        }
    }

    /// Makes sure a map stage exists for every incomplete shuffle the waiting
    /// stage `sid` reads (and, recursively, for theirs).
    fn plan_parents(&mut self, sid: StageId, created: &mut Vec<StageId>) {
        let Some(w) = self.waiting.get(&sid) else {
            return;
        };
        let job = w.job;
        for shuffle in w.reads.clone() {
            let Some(st) = self.shuffles.get(&shuffle) else {
                continue;
            };
            if st.complete() || st.computing.is_some() {
                continue;
            }
            let map_stage = self.next_stage;
            self.next_stage += 1;
            let parent = (*st.dep.parent).clone();
            let reads = direct_deps(&parent)
                .iter()
                .map(|d| d.write.shuffle_id)
                .collect();
            let w = WaitingStage {
                job,
                kind: StageKind::ShuffleMap(shuffle),
                attempt: 0,
                name: format!("shuffle {shuffle} map"),
                action: Action::ShuffleWrite(st.dep.write.clone()),
                partitions: st.missing(),
                plan: parent,
                reads,
            };
            self.shuffles.get_mut(&shuffle).expect("present").computing = Some(map_stage);
            self.waiting.insert(map_stage, w);
            created.push(map_stage);
            self.plan_parents(map_stage, created);
        }
    }

    /// Submits every waiting stage whose inputs are complete; re-plans
    /// parents whose outputs were lost.
    fn advance(&mut self, now_ms: u64, fx: &mut Vec<Effect>) {
        loop {
            let ready: Vec<StageId> = self
                .waiting
                .iter()
                .filter(|(_, w)| {
                    w.reads
                        .iter()
                        .all(|s| self.shuffles.get(s).is_some_and(ShuffleState::complete))
                })
                .map(|(id, _)| *id)
                .collect();
            if ready.is_empty() {
                let waiting: Vec<StageId> = self.waiting.keys().copied().collect();
                let mut created = Vec::new();
                for sid in waiting {
                    self.plan_parents(sid, &mut created);
                }
                if created.is_empty() {
                    break;
                }
                continue;
            }
            for sid in ready {
                let w = self.waiting.remove(&sid).expect("listed");
                self.submit_stage(sid, w, now_ms, fx);
            }
        }
        self.offer(now_ms, fx);
    }

    fn submit_stage(&mut self, sid: StageId, w: WaitingStage, now_ms: u64, fx: &mut Vec<Effect>) {
        let inputs = w
            .reads
            .iter()
            .map(|s| {
                let locs = self.shuffles[s]
                    .outputs
                    .iter()
                    .map(|o| o.clone().expect("complete"))
                    .collect();
                (*s, locs)
            })
            .collect();
        let spec = StageSpec {
            plan: w.plan,
            action: w.action,
            inputs,
        };
        let n = w.partitions.len();
        fx.push(Effect::Log(AppEvent::StageSubmitted {
            stage: sid,
            attempt: w.attempt,
            job: w.job,
            name: w.name.clone(),
            num_tasks: n as u32,
        }));
        let cached = spec.plan.cached_rdds();
        let prefs = w
            .partitions
            .iter()
            .map(|p| {
                cached
                    .first()
                    .and_then(|rdd| self.cache_locs.get(&(*rdd, *p)))
                    .map(|execs| {
                        execs
                            .iter()
                            .filter_map(|e| self.executors.get(e).map(|x| x.host.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        self.dra_event(
            ListenerEvent::StageSubmitted {
                stage: stage_attempt(sid, w.attempt),
                num_tasks: n as i64,
                task_locality_preferences: prefs,
            },
            now_ms,
        );
        let spec_bytes = Arc::new(postcard::to_stdvec(&spec).expect("stage spec encodes"));
        self.stages.insert(
            sid,
            Stage {
                job: w.job,
                kind: w.kind,
                attempt: w.attempt,
                name: w.name,
                spec: Arc::new(spec),
                spec_bytes,
                pending: (0..n).collect(),
                results: vec![None; n],
                failures: vec![0; n],
                finished: 0,
                partitions: w.partitions,
                submitted_ms: now_ms,
            },
        );
        if n == 0 {
            // Nothing left to compute (e.g. every map output survived).
            let stage = self.stages.remove(&sid).expect("inserted");
            self.stage_done(sid, stage, now_ms, fx);
        }
    }

    /// The shuffle is no longer referenced: forget its outputs, delete its files.
    pub fn release_shuffle(&mut self, shuffle: ShuffleId, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Some(st) = self.shuffles.remove(&shuffle) {
            let mut servers: Vec<String> = st
                .outputs
                .iter()
                .flatten()
                .map(|l| l.server.clone())
                .filter(|s| !s.is_empty())
                .collect();
            servers.sort();
            servers.dedup();
            fx.push(Effect::RemoveShuffle { shuffle, servers });
            self.dra_event(
                ListenerEvent::ShuffleCleaned {
                    shuffle_id: i64::from(shuffle),
                },
                now_ms,
            );
        }
        fx
    }

    fn preferred(&self, stage: &Stage, index: usize) -> Option<&BTreeSet<ExecutorId>> {
        let rdd = *stage.spec.plan.cached_rdds().first()?;
        self.cache_locs
            .get(&(rdd, stage.partitions[index]))
            .filter(|s| s.iter().any(|e| self.executors.contains_key(e)))
    }

    fn schedulable(&self, id: &str) -> bool {
        self.containers
            .values()
            .any(|c| c.executor == id && c.phase == ContainerPhase::Registered)
    }

    /// Fills free executor slots, oldest stage first, cached partitions on
    /// the executors that hold them.
    fn offer(&mut self, now_ms: u64, fx: &mut Vec<Effect>) {
        if self.stopped {
            return;
        }
        loop {
            let mut launched = false;
            let free: Vec<ExecutorId> = self
                .executors
                .iter()
                .filter(|(id, e)| (e.running.len() as u32) < e.slots && self.schedulable(id))
                .map(|(id, _)| id.clone())
                .collect();
            for exec_id in free {
                let stage_ids: Vec<StageId> = self.stages.keys().copied().collect();
                'stages: for sid in stage_ids {
                    let stage = &self.stages[&sid];
                    let waited =
                        now_ms.saturating_sub(stage.submitted_ms) >= self.conf.locality_wait_ms;
                    // First a task that prefers this executor, then one with no
                    // live preference (or whose wait is over).
                    let mut pick = None;
                    for (pos, &idx) in stage.pending.iter().enumerate() {
                        if self
                            .preferred(stage, idx)
                            .is_some_and(|p| p.contains(&exec_id))
                        {
                            pick = Some(pos);
                            break;
                        }
                    }
                    if pick.is_none() {
                        pick = stage
                            .pending
                            .iter()
                            .position(|&idx| waited || self.preferred(stage, idx).is_none());
                    }
                    let Some(pos) = pick else { continue 'stages };
                    self.launch(sid, pos, &exec_id, now_ms, fx);
                    launched = true;
                    break 'stages;
                }
            }
            if !launched {
                break;
            }
        }
    }

    fn launch(
        &mut self,
        sid: StageId,
        pos: usize,
        exec_id: &str,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) {
        let stage = self.stages.get_mut(&sid).expect("stage exists");
        let stage_attempt_id = stage.attempt;
        let index = stage.pending.remove(pos).expect("position valid");
        let attempt = stage.failures[index];
        let partition = stage.partitions[index];
        let task_id = self.next_task;
        self.next_task += 1;
        let exec = self.executors.get_mut(exec_id).expect("executor exists");
        let first = exec.stages_sent.insert(sid);
        exec.running.insert(task_id);
        let host = exec.host.clone();
        fx.push(Effect::Launch {
            executor: exec_id.to_string(),
            launch: TaskLaunch {
                task_id,
                stage_id: sid,
                stage_attempt: stage_attempt_id,
                partition,
                attempt,
                stage: first.then(|| stage.spec_bytes.as_ref().clone()),
            },
        });
        fx.push(Effect::Log(AppEvent::TaskStart {
            stage: sid,
            stage_attempt: stage_attempt_id,
            task_id,
            index: index as u32,
            attempt,
            executor: exec_id.to_string(),
            host,
        }));
        self.tasks.insert(
            task_id,
            RunningTask {
                stage: sid,
                index,
                attempt,
                executor: exec_id.to_string(),
                start_ms: now_ms,
                stage_attempt: stage_attempt_id,
            },
        );
        self.dra_event(
            ListenerEvent::TaskStart {
                stage: stage_attempt(sid, stage_attempt_id),
                task: TaskInfo {
                    index: index as i64,
                    executor_id: exec_id.to_string(),
                    speculative: false,
                },
            },
            now_ms,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn end_task_event(
        &mut self,
        task_id: u64,
        t: &RunningTask,
        reason: &str,
        error: Option<String>,
        records: u64,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) {
        fx.push(Effect::Log(AppEvent::TaskEnd {
            stage: t.stage,
            stage_attempt: t.stage_attempt,
            task_id,
            index: t.index as u32,
            attempt: t.attempt,
            executor: t.executor.clone(),
            reason: reason.to_string(),
            error,
            duration_ms: now_ms.saturating_sub(t.start_ms),
            records,
        }));
        let end = match reason {
            "Success" => TaskEndReason::Success,
            "Killed" => TaskEndReason::TaskKilled,
            _ => TaskEndReason::Failed,
        };
        self.dra_event(
            ListenerEvent::TaskEnd {
                stage: stage_attempt(t.stage, t.stage_attempt),
                task: TaskInfo {
                    index: t.index as i64,
                    executor_id: t.executor.clone(),
                    speculative: false,
                },
                reason: end,
            },
            now_ms,
        );
    }

    pub fn on_status_update(
        &mut self,
        executor: &str,
        task_id: u64,
        result: TaskResult,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(t) = self.tasks.remove(&task_id) else {
            return fx;
        };
        if t.executor != executor {
            // Not this executor's task: put it back untouched.
            self.tasks.insert(task_id, t);
            return fx;
        }
        if let Some(e) = self.executors.get_mut(executor) {
            e.running.remove(&task_id);
        }
        match result {
            TaskResult::Success(bytes) => {
                let output: Result<TaskOutput, _> = postcard::from_bytes(&bytes);
                match output {
                    Ok(out) => {
                        self.end_task_event(
                            task_id,
                            &t,
                            "Success",
                            None,
                            out.records,
                            now_ms,
                            &mut fx,
                        );
                        for (rdd, part) in &out.cached {
                            self.cache_locs
                                .entry((*rdd, *part))
                                .or_default()
                                .insert(executor.to_string());
                            fx.push(Effect::Log(AppEvent::BlockCached {
                                executor: executor.to_string(),
                                rdd: *rdd,
                                partition: *part,
                            }));
                            self.dra_event(
                                ListenerEvent::BlockUpdated {
                                    executor_id: executor.to_string(),
                                    rdd_id: i64::from(*rdd),
                                    split_index: i64::from(*part),
                                    storage_level: StorageLevel::MEMORY_ONLY,
                                },
                                now_ms,
                            );
                        }
                        if let Some(sizes) = out.map_sizes {
                            self.record_map_output(&t, executor, sizes, now_ms);
                        }
                        self.task_succeeded(&t, out.result, now_ms, &mut fx);
                    }
                    Err(e) => {
                        let msg = format!("undecodable task result: {e}");
                        self.end_task_event(
                            task_id,
                            &t,
                            "Failed",
                            Some(msg.clone()),
                            0,
                            now_ms,
                            &mut fx,
                        );
                        self.task_failed(&t, msg, now_ms, &mut fx);
                    }
                }
            }
            TaskResult::Failure(msg) => {
                self.end_task_event(task_id, &t, "Failed", Some(msg.clone()), 0, now_ms, &mut fx);
                self.task_failed(&t, msg, now_ms, &mut fx);
            }
            TaskResult::Failed(bytes) => {
                let err: TaskError = postcard::from_bytes(&bytes).unwrap_or_else(|e| TaskError {
                    message: format!("undecodable task error: {e}"),
                    fetch_failed: None,
                });
                match err.fetch_failed {
                    Some(ff)
                        if self.stages.get(&t.stage).map(|s| s.attempt)
                            == Some(t.stage_attempt) =>
                    {
                        self.end_task_event(
                            task_id,
                            &t,
                            "FetchFailed",
                            Some(err.message.clone()),
                            0,
                            now_ms,
                            &mut fx,
                        );
                        self.fetch_failed(&t, ff, err.message, now_ms, &mut fx);
                    }
                    Some(_) => {
                        // A late report from an attempt already resubmitted.
                        self.end_task_event(
                            task_id,
                            &t,
                            "FetchFailed",
                            Some(err.message),
                            0,
                            now_ms,
                            &mut fx,
                        );
                    }
                    None => {
                        self.end_task_event(
                            task_id,
                            &t,
                            "Failed",
                            Some(err.message.clone()),
                            0,
                            now_ms,
                            &mut fx,
                        );
                        self.task_failed(&t, err.message, now_ms, &mut fx);
                    }
                }
            }
        }
        self.offer(now_ms, &mut fx);
        fx
    }

    fn record_map_output(&mut self, t: &RunningTask, executor: &str, sizes: Vec<u64>, now_ms: u64) {
        let Some(stage) = self.stages.get(&t.stage) else {
            return;
        };
        let StageKind::ShuffleMap(shuffle) = stage.kind else {
            return;
        };
        if stage.attempt != t.stage_attempt {
            return;
        }
        let map_id = stage.partitions[t.index];
        let Some(exec) = self.executors.get(executor) else {
            return;
        };
        let loc = MapLocation {
            map_id,
            executor: executor.to_string(),
            host: exec.host.clone(),
            server: exec.shuffle_server.clone(),
            dir: exec.shuffle_dir.clone(),
            sizes,
        };
        if let Some(st) = self.shuffles.get_mut(&shuffle) {
            if let Some(slot) = st.outputs.get_mut(map_id as usize) {
                *slot = Some(loc);
            }
        }
        self.dra_event(
            ListenerEvent::ShuffleBlockUpdated {
                executor_id: executor.to_string(),
                shuffle_id: i64::from(shuffle),
            },
            now_ms,
        );
    }

    fn task_succeeded(
        &mut self,
        t: &RunningTask,
        result: Vec<u8>,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) {
        let Some(stage) = self.stages.get_mut(&t.stage) else {
            return;
        };
        if stage.attempt != t.stage_attempt || stage.results[t.index].is_some() {
            return;
        }
        stage.results[t.index] = Some(result);
        stage.finished += 1;
        if stage.finished == stage.partitions.len() {
            let stage = self.stages.remove(&t.stage).expect("present");
            self.stage_done(t.stage, stage, now_ms, fx);
        }
    }

    fn stage_done(&mut self, sid: StageId, stage: Stage, now_ms: u64, fx: &mut Vec<Effect>) {
        fx.push(Effect::Log(AppEvent::StageCompleted {
            stage: sid,
            attempt: stage.attempt,
            failure: None,
        }));
        self.dra_event(
            ListenerEvent::StageCompleted {
                stage: stage_attempt(sid, stage.attempt),
            },
            now_ms,
        );
        match stage.kind {
            StageKind::ShuffleMap(shuffle) => {
                if let Some(st) = self.shuffles.get_mut(&shuffle) {
                    st.computing = None;
                }
            }
            StageKind::Result => {
                let Some(job) = self.jobs.get_mut(&stage.job) else {
                    return;
                };
                for (i, p) in stage.partitions.iter().enumerate() {
                    if let Some(slot) = job.partitions.iter().position(|q| q == p) {
                        job.results[slot] = stage.results[i].clone();
                    }
                }
                if job.results.iter().all(Option::is_some) {
                    let results = job
                        .results
                        .iter_mut()
                        .map(|r| r.take().expect("all present"))
                        .collect();
                    self.finish_job(stage.job, Ok(results), now_ms, fx);
                }
            }
        }
        self.advance(now_ms, fx);
    }

    fn task_failed(&mut self, t: &RunningTask, msg: String, now_ms: u64, fx: &mut Vec<Effect>) {
        let Some(stage) = self.stages.get_mut(&t.stage) else {
            return;
        };
        if stage.attempt != t.stage_attempt {
            return;
        }
        stage.failures[t.index] += 1;
        let failures = stage.failures[t.index];
        if failures >= self.conf.max_task_failures {
            let job = stage.job;
            let partition = stage.partitions[t.index];
            let err = JobError::TaskFailed {
                stage: t.stage,
                partition,
                attempts: failures,
                message: msg,
            };
            self.fail_job(job, err, now_ms, fx);
        } else {
            stage.pending.push_back(t.index);
        }
    }

    /// A reducer could not fetch a map output: that output is lost; the map
    /// task re-runs, then this stage (a new attempt) — Spark's behaviour.
    fn fetch_failed(
        &mut self,
        t: &RunningTask,
        ff: FetchFailed,
        msg: String,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) {
        let Some(stage) = self.stages.remove(&t.stage) else {
            return;
        };
        fx.push(Effect::Log(AppEvent::StageCompleted {
            stage: t.stage,
            attempt: stage.attempt,
            failure: Some(format!("FetchFailed: {msg}")),
        }));
        self.dra_event(
            ListenerEvent::StageCompleted {
                stage: stage_attempt(t.stage, stage.attempt),
            },
            now_ms,
        );
        for st in self.shuffles.values_mut() {
            for o in st.outputs.iter_mut() {
                let lost = o.as_ref().is_some_and(|l| {
                    (l.map_id == ff.map_id && st.dep.write.shuffle_id == ff.shuffle_id)
                        // The server is gone: so is everything it served.
                        || (!ff.server.is_empty() && l.server == ff.server)
                        || l.executor == ff.executor && !self.conf.shuffle_service
                });
                if lost {
                    *o = None;
                }
            }
        }
        if stage.attempt + 1 >= self.conf.max_stage_attempts {
            let err = JobError::TaskFailed {
                stage: t.stage,
                partition: stage.partitions[t.index],
                attempts: stage.attempt + 1,
                message: format!(
                    "stage {} failed {} times because of fetch failures; most recent: {msg}",
                    t.stage,
                    stage.attempt + 1
                ),
            };
            self.fail_job(stage.job, err, now_ms, fx);
            return;
        }
        // Keep what this attempt finished; resubmit the rest once its inputs are back.
        let mut remaining = Vec::new();
        for (i, p) in stage.partitions.iter().enumerate() {
            match (&stage.results[i], stage.kind) {
                (Some(r), StageKind::Result) => {
                    if let Some(job) = self.jobs.get_mut(&stage.job) {
                        if let Some(slot) = job.partitions.iter().position(|q| q == p) {
                            job.results[slot] = Some(r.clone());
                        }
                    }
                }
                (Some(_), StageKind::ShuffleMap(_)) => {}
                (None, _) => remaining.push(*p),
            }
        }
        if let StageKind::ShuffleMap(shuffle) = stage.kind {
            if let Some(st) = self.shuffles.get_mut(&shuffle) {
                st.computing = Some(t.stage);
                remaining = st.missing();
            }
        }
        let spec = Arc::try_unwrap(stage.spec).unwrap_or_else(|a| (*a).clone());
        let reads = spec.inputs.keys().copied().collect();
        self.waiting.insert(
            t.stage,
            WaitingStage {
                job: stage.job,
                kind: stage.kind,
                attempt: stage.attempt + 1,
                name: stage.name,
                plan: spec.plan,
                action: spec.action,
                partitions: remaining,
                reads,
            },
        );
        // Executors must get the new attempt's spec (new map locations).
        for e in self.executors.values_mut() {
            e.stages_sent.remove(&t.stage);
        }
        self.advance(now_ms, fx);
    }

    fn fail_job(&mut self, job: JobId, err: JobError, now_ms: u64, fx: &mut Vec<Effect>) {
        let stage_ids: Vec<StageId> = self
            .stages
            .iter()
            .filter(|(_, s)| s.job == job)
            .map(|(id, _)| *id)
            .collect();
        for sid in stage_ids {
            let stage = self.stages.remove(&sid).expect("listed");
            fx.push(Effect::Log(AppEvent::StageCompleted {
                stage: sid,
                attempt: stage.attempt,
                failure: Some(err.to_string()),
            }));
            self.dra_event(
                ListenerEvent::StageCompleted {
                    stage: stage_attempt(sid, stage.attempt),
                },
                now_ms,
            );
            if let StageKind::ShuffleMap(shuffle) = stage.kind {
                if let Some(st) = self.shuffles.get_mut(&shuffle) {
                    st.computing = None;
                }
            }
        }
        let waiting: Vec<StageId> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.job == job)
            .map(|(id, _)| *id)
            .collect();
        for sid in waiting {
            if let Some(w) = self.waiting.remove(&sid) {
                if let StageKind::ShuffleMap(shuffle) = w.kind {
                    if let Some(st) = self.shuffles.get_mut(&shuffle) {
                        st.computing = None;
                    }
                }
            }
        }
        self.finish_job(job, Err(err), now_ms, fx);
    }

    fn finish_job(
        &mut self,
        job: JobId,
        result: Result<Vec<Vec<u8>>, JobError>,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) {
        self.jobs.remove(&job);
        let error = result.as_ref().err().map(|e| e.to_string());
        fx.push(Effect::Log(AppEvent::JobEnd {
            job,
            succeeded: error.is_none(),
            error,
        }));
        self.dra_event(
            ListenerEvent::JobEnd {
                job_id: i64::from(job),
            },
            now_ms,
        );
        fx.push(Effect::JobDone { job, result });
    }

    // ------------------------------------------------------------ time

    /// The allocation manager's periodic schedule (Spark runs it every 100 ms).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.stopped {
            return fx;
        }
        let Some(m) = self.dra.as_mut() else {
            return fx;
        };
        let outcome = m.tick(now_ms);
        if let Some((old, new)) = outcome.target_changed {
            fx.push(Effect::Log(AppEvent::TargetChanged { old, new }));
        }
        for id in outcome.to_remove {
            let reason = self.removal_reason(&id);
            self.stop_executor(&id, reason, &mut fx);
        }
        self.sync_ask(&mut fx);
        self.offer(now_ms, &mut fx);
        fx
    }

    fn removal_reason(&self, id: &str) -> String {
        let cached = self.cache_locs.values().any(|h| h.contains(id));
        if cached {
            "cached idle timeout".into()
        } else {
            "idle timeout".into()
        }
    }

    fn stop_executor(&mut self, id: &str, reason: String, fx: &mut Vec<Effect>) {
        if let Some(c) = self.containers.values_mut().find(|c| c.executor == id) {
            if c.phase == ContainerPhase::Stopping {
                return;
            }
            c.phase = ContainerPhase::Stopping;
            c.stop_reason = Some(reason.clone());
            fx.push(Effect::StopExecutor {
                executor: id.to_string(),
                reason,
            });
        }
    }

    /// The app is ending: stop every executor, ask for nothing more.
    pub fn shutdown(&mut self) -> Vec<Effect> {
        let mut fx = vec![Effect::Ask { count: 0 }];
        let ids: Vec<ExecutorId> = self
            .containers
            .values()
            .map(|c| c.executor.clone())
            .collect();
        for id in ids {
            self.stop_executor(&id, "application finished".into(), &mut fx);
        }
        self.stopped = true;
        fx
    }

    /// Executors and their containers, for the UI.
    pub fn executor_container(&self, id: &str) -> Option<ContainerId> {
        self.executors.get(id).map(|e| e.container)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Plan, Source};
    use common::protocol::ContainerState;
    use common::token::{ContainerToken, ContainerTokenIdentifier};
    use common::{ApplicationId, NodeId};

    fn conf(instances: u32) -> DriverConfig {
        DriverConfig {
            executor_resource: Resource::new(1408, 1),
            executor_cores: 1,
            task_cpus: 1,
            max_task_failures: 4,
            max_executor_failures: 3,
            static_instances: instances,
            dynamic: None,
            locality_wait_ms: 3000,
            shuffle_service: false,
            max_stage_attempts: 4,
        }
    }

    fn container(n: u64) -> Container {
        let app = ApplicationId {
            cluster_ts: 1,
            seq: 1,
        };
        let id = app.attempt(1).container(n);
        Container {
            id,
            node_id: NodeId("h:1".into()),
            node_address: "h:1".into(),
            resource: Resource::new(1408, 1),
            token: ContainerToken {
                identifier: ContainerTokenIdentifier {
                    container_id: id,
                    app,
                    node_id: NodeId("h:1".into()),
                    resource: Resource::new(1408, 1),
                    user: "u".into(),
                    expiry_ms: 0,
                },
                mac: vec![],
            },
        }
    }

    fn job(parts: u32) -> JobSpec {
        JobSpec {
            stage: StageSpec {
                plan: Plan {
                    source: Source::Range {
                        start: 0,
                        end: 10,
                        step: 1,
                        num_partitions: parts,
                    },
                    ops: vec![],
                },
                action: Action::Count,
                inputs: Default::default(),
            },
            partitions: (0..parts).collect(),
            description: "count".into(),
        }
    }

    fn launches(fx: &[Effect]) -> Vec<(ExecutorId, TaskLaunch)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Launch { executor, launch } => Some((executor.clone(), launch.clone())),
                _ => None,
            })
            .collect()
    }

    fn ok_output() -> TaskResult {
        TaskResult::Success(postcard::to_stdvec(&TaskOutput::default()).unwrap())
    }

    #[test]
    fn static_allocation_asks_for_instances_and_runs_tasks() {
        let mut d = DriverCore::new(conf(2)).unwrap();
        let fx = d.start(0);
        assert!(fx.contains(&Effect::Ask { count: 2 }));
        let fx = d.on_allocated(vec![container(2), container(3)], 1);
        let starts = fx
            .iter()
            .filter(|e| matches!(e, Effect::StartExecutor { .. }))
            .count();
        assert_eq!(starts, 2);
        assert!(!fx
            .iter()
            .any(|e| matches!(e, Effect::Ask { count } if *count > 0)));
        d.on_executor_registered("1", "h".into(), 1, String::new(), String::new(), 2)
            .unwrap();
        d.on_executor_registered("2", "h".into(), 1, String::new(), String::new(), 2)
            .unwrap();
        let fx = d.submit_job(0, job(3), 3);
        let l = launches(&fx);
        assert_eq!(l.len(), 2, "one slot per executor");
        assert!(l.iter().all(|(_, t)| t.stage.is_some()));
        let fx = d.on_status_update(&l[0].0, l[0].1.task_id, ok_output(), 4);
        let l2 = launches(&fx);
        assert_eq!(l2.len(), 1);
        assert!(
            l2[0].1.stage.is_none(),
            "spec already sent to that executor"
        );
        d.on_status_update(&l[1].0, l[1].1.task_id, ok_output(), 5);
        let fx = d.on_status_update(&l2[0].0, l2[0].1.task_id, ok_output(), 6);
        assert!(fx
            .iter()
            .any(|e| matches!(e, Effect::JobDone { job: 0, result: Ok(r) } if r.len() == 3)));
    }

    #[test]
    fn failing_task_is_retried_then_fails_the_job() {
        let mut d = DriverCore::new(conf(1)).unwrap();
        d.start(0);
        d.on_allocated(vec![container(2)], 0);
        d.on_executor_registered("1", "h".into(), 1, String::new(), String::new(), 0)
            .unwrap();
        let mut fx = d.submit_job(0, job(1), 0);
        for attempt in 0..4 {
            let l = launches(&fx);
            assert_eq!(l.len(), 1);
            assert_eq!(l[0].1.attempt, attempt);
            fx = d.on_status_update("1", l[0].1.task_id, TaskResult::Failure("boom".into()), 1);
        }
        let err = fx
            .iter()
            .find_map(|e| match e {
                Effect::JobDone { result: Err(e), .. } => Some(e.to_string()),
                _ => None,
            })
            .expect("job failed");
        assert!(
            err.contains("failed 4 times") && err.contains("boom"),
            "{err}"
        );
    }

    #[test]
    fn lost_executor_requeues_tasks_and_asks_for_a_replacement() {
        let mut d = DriverCore::new(conf(2)).unwrap();
        d.start(0);
        d.on_allocated(vec![container(2), container(3)], 0);
        d.on_executor_registered("1", "h".into(), 1, String::new(), String::new(), 0)
            .unwrap();
        d.on_executor_registered("2", "h".into(), 1, String::new(), String::new(), 0)
            .unwrap();
        let l = launches(&d.submit_job(0, job(2), 0));
        let lost = l.iter().find(|(e, _)| e == "1").unwrap().1.task_id;
        let fx = d.on_executor_disconnected("1", 1);
        assert!(fx.iter().any(|e| matches!(e, Effect::Log(AppEvent::TaskEnd { reason, task_id, .. }) if reason == "ExecutorLost" && *task_id == lost)));
        let fx = d.on_container_completed(
            &ContainerStatus {
                container_id: container(2).id,
                state: ContainerState::COMPLETE,
                exit_status: 137,
                diagnostics: String::new(),
            },
            2,
        );
        assert!(fx.contains(&Effect::Ask { count: 1 }), "{fx:?}");
        // The other executor picks the re-queued task once it is free.
        let other = l.iter().find(|(e, _)| e == "2").unwrap().1.task_id;
        let fx = d.on_status_update("2", other, ok_output(), 3);
        assert_eq!(launches(&fx).len(), 1);
    }

    #[test]
    fn too_many_executor_failures_abort() {
        let mut c = conf(1);
        c.max_executor_failures = 1;
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        let mut aborted = false;
        for n in 2..5 {
            d.on_allocated(vec![container(n)], 0);
            let fx = d.on_container_completed(
                &ContainerStatus {
                    container_id: container(n).id,
                    state: ContainerState::COMPLETE,
                    exit_status: 1,
                    diagnostics: String::new(),
                },
                1,
            );
            aborted |= fx.iter().any(|e| matches!(e, Effect::Abort { .. }));
        }
        assert!(aborted);
    }

    fn shuffle_job(maps: u32, reduces: u32) -> JobSpec {
        use crate::plan::{Partitioner, ShuffleRead, ShuffleWrite};
        let parent = Plan {
            source: Source::Range {
                start: 0,
                end: 10,
                step: 1,
                num_partitions: maps,
            },
            ops: vec![],
        };
        JobSpec {
            stage: StageSpec {
                plan: Plan {
                    source: Source::Shuffled {
                        deps: vec![ShuffleDep {
                            write: ShuffleWrite {
                                shuffle_id: 7,
                                pair_type: "(i64, i64)".into(),
                                partitioner: Partitioner::Hash {
                                    partitions: reduces,
                                },
                                map_side_combine: None,
                            },
                            parent: Box::new(parent),
                        }],
                        read: ShuffleRead::Pairs,
                        num_partitions: reduces,
                    },
                    ops: vec![],
                },
                action: Action::Count,
                inputs: Default::default(),
            },
            partitions: (0..reduces).collect(),
            description: "count".into(),
        }
    }

    fn map_output(reduces: usize) -> TaskResult {
        TaskResult::Success(
            postcard::to_stdvec(&TaskOutput {
                map_sizes: Some(vec![1; reduces]),
                ..Default::default()
            })
            .unwrap(),
        )
    }

    fn two_executors(service: bool) -> DriverCore {
        let mut c = conf(2);
        c.shuffle_service = service;
        let mut d = DriverCore::new(c).unwrap();
        d.start(0);
        d.on_allocated(vec![container(2), container(3)], 0);
        d.on_executor_registered("1", "h".into(), 1, "svc1".into(), "/d1".into(), 0)
            .unwrap();
        d.on_executor_registered("2", "h".into(), 1, "svc2".into(), "/d2".into(), 0)
            .unwrap();
        d
    }

    /// Runs every launched task to success until no task is launched.
    fn drain(d: &mut DriverCore, mut fx: Vec<Effect>, reduces: usize) -> Vec<Effect> {
        let mut all = fx.clone();
        loop {
            let l = launches(&fx);
            if l.is_empty() {
                return all;
            }
            fx = Vec::new();
            for (e, t) in l {
                let spec: StageSpec = match &t.stage {
                    Some(b) => postcard::from_bytes(b).unwrap(),
                    None => StageSpec {
                        plan: shuffle_job(1, 1).stage.plan,
                        action: Action::Count,
                        inputs: Default::default(),
                    },
                };
                let r = if matches!(spec.action, Action::ShuffleWrite(_)) {
                    map_output(reduces)
                } else {
                    ok_output()
                };
                fx.extend(d.on_status_update(&e, t.task_id, r, 1));
            }
            all.extend(fx.clone());
        }
    }

    #[test]
    fn map_stage_runs_before_the_reduce_stage_and_is_reused() {
        let mut d = two_executors(false);
        let fx = d.submit_job(0, shuffle_job(3, 2), 0);
        // Only map tasks first.
        for (_, t) in launches(&fx) {
            let spec: StageSpec = postcard::from_bytes(t.stage.as_ref().unwrap()).unwrap();
            assert!(matches!(spec.action, Action::ShuffleWrite(_)));
        }
        let all = drain(&mut d, fx, 2);
        assert!(all
            .iter()
            .any(|e| matches!(e, Effect::JobDone { job: 0, result: Ok(r) } if r.len() == 2)));
        // The reduce stage got every map output's location.
        let reduce_spec = all
            .iter()
            .filter_map(|e| match e {
                Effect::Launch { launch, .. } => launch.stage.as_ref(),
                _ => None,
            })
            .map(|b| postcard::from_bytes::<StageSpec>(b).unwrap())
            .find(|s| !matches!(s.action, Action::ShuffleWrite(_)))
            .unwrap();
        assert_eq!(reduce_spec.inputs[&7].len(), 3);
        // A second job on the same shuffle skips the map stage.
        let fx = d.submit_job(1, shuffle_job(3, 2), 2);
        let l = launches(&fx);
        assert!(!l.is_empty());
        assert!(l.iter().all(|(_, t)| t.stage.is_some()));
        for (_, t) in &l {
            let spec: StageSpec = postcard::from_bytes(t.stage.as_ref().unwrap()).unwrap();
            assert!(
                !matches!(spec.action, Action::ShuffleWrite(_)),
                "map stage re-ran"
            );
        }
    }

    #[test]
    fn fetch_failure_reruns_the_lost_map_task_then_the_reduce_stage() {
        let mut d = two_executors(false);
        let fx = d.submit_job(0, shuffle_job(2, 1), 0);
        // Finish the map stage.
        let mut fx2 = Vec::new();
        for (e, t) in launches(&fx) {
            fx2.extend(d.on_status_update(&e, t.task_id, map_output(1), 1));
        }
        let (e, reduce) = launches(&fx2).remove(0);
        let err = TaskError {
            message: "cannot fetch".into(),
            fetch_failed: Some(FetchFailed {
                shuffle_id: 7,
                map_id: 0,
                executor: "1".into(),
                server: "svc1".into(),
            }),
        };
        let fx3 = d.on_status_update(
            &e,
            reduce.task_id,
            TaskResult::Failed(postcard::to_stdvec(&err).unwrap()),
            2,
        );
        // Only the lost map output is recomputed.
        let l = launches(&fx3);
        assert_eq!(l.len(), 1, "{fx3:?}");
        let spec: StageSpec = postcard::from_bytes(l[0].1.stage.as_ref().unwrap()).unwrap();
        assert!(matches!(spec.action, Action::ShuffleWrite(_)));
        assert_eq!(l[0].1.partition, 0);
        let all = drain(&mut d, fx3, 1);
        assert!(all.iter().any(|e| matches!(
            e,
            Effect::JobDone {
                job: 0,
                result: Ok(_)
            }
        )));
        assert!(all
            .iter()
            .any(|e| matches!(e, Effect::Log(AppEvent::StageSubmitted { attempt: 1, .. }))));
    }

    #[test]
    fn executor_loss_without_service_recomputes_its_map_output() {
        let mut d = two_executors(false);
        let fx = d.submit_job(0, shuffle_job(2, 1), 0);
        let l = launches(&fx);
        // Executor 1 finishes its map task, then dies before the reduce stage.
        let (e1, t1) = l.iter().find(|(e, _)| e == "1").unwrap().clone();
        d.on_status_update(&e1, t1.task_id, map_output(1), 1);
        d.on_executor_disconnected("1", 2);
        let (e2, t2) = l.iter().find(|(e, _)| e == "2").unwrap().clone();
        let fx = d.on_status_update(&e2, t2.task_id, map_output(1), 3);
        let l = launches(&fx);
        assert_eq!(l.len(), 1);
        let spec: StageSpec = postcard::from_bytes(l[0].1.stage.as_ref().unwrap()).unwrap();
        assert!(
            matches!(spec.action, Action::ShuffleWrite(_)),
            "lost map re-runs first"
        );
        assert_eq!(l[0].1.partition, t1.partition);
    }

    #[test]
    fn with_the_service_map_output_survives_its_executor() {
        let mut d = two_executors(true);
        let fx = d.submit_job(0, shuffle_job(2, 1), 0);
        let l = launches(&fx);
        let mut fx2 = Vec::new();
        for (e, t) in &l {
            fx2.extend(d.on_status_update(e, t.task_id, map_output(1), 1));
        }
        fx2.extend(d.on_executor_disconnected("1", 2));
        // The reduce task runs (again, if it was on the lost executor); no map task re-runs.
        let l = launches(&fx2);
        assert!(!l.is_empty());
        for (_, t) in &l {
            if let Some(b) = &t.stage {
                let spec: StageSpec = postcard::from_bytes(b).unwrap();
                assert!(
                    !matches!(spec.action, Action::ShuffleWrite(_)),
                    "no map re-run"
                );
            }
        }
        assert!(l.last().is_some_and(|(e, _)| e == "2"));
    }
}
