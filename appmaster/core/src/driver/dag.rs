//! The DAG scheduler (Spark's `DAGScheduler`): jobs split into stages at shuffle
//! boundaries, stages waiting for the shuffles they read (and the map stages created to
//! compute them), stage completion, job results, and resubmission after fetch failures.
//! Ready stages go to the [`TaskScheduler`] as task sets.

use super::effect::{Effect, Out};
use super::map_output::MapOutputTracker;
use super::tasks::{RunningTask, TaskScheduler};
use crate::allocation::{JobStageInfo, ListenerEvent, StageAttempt};
use crate::eventlog::{AppEvent, TaskMetrics};
use crate::ids::{JobId, ShuffleId, StageId};
use crate::plan::{Action, FetchFailed, JobError, JobSpec, Plan, ShuffleDep, Source, StageSpec};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StageKind {
    /// Computes the job's action.
    Result,
    /// Writes a shuffle's map output.
    ShuffleMap(ShuffleId),
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

/// A stage whose tasks are with the task scheduler.
#[derive(Debug)]
struct RunningStage {
    job: JobId,
    kind: StageKind,
    attempt: u32,
    name: String,
    spec: Arc<StageSpec>,
    partitions: Vec<u32>,
    results: Vec<Option<Vec<u8>>>,
    finished: usize,
}

#[derive(Debug)]
struct Job {
    partitions: Vec<u32>,
    results: Vec<Option<Vec<u8>>>,
}

/// What the DAG scheduler works with besides its own state, for one step.
pub(crate) struct Ctx<'a> {
    pub(crate) outputs: &'a mut MapOutputTracker,
    pub(crate) tasks: &'a mut TaskScheduler,
    pub(crate) out: &'a mut Out,
    pub(crate) now_ms: u64,
}

fn direct_deps(plan: &Plan) -> &[ShuffleDep] {
    match &plan.source {
        Source::Shuffled { deps, .. } => deps,
        _ => &[],
    }
}

fn stage_attempt(stage: StageId, attempt: u32) -> StageAttempt {
    StageAttempt::new(stage, attempt)
}

#[derive(Debug)]
pub(crate) struct DagScheduler {
    /// spark.stage.maxConsecutiveAttempts
    max_stage_attempts: u32,
    /// spark.shuffle.service.enabled: map output outlives its executor.
    outputs_outlive_executors: bool,
    jobs: BTreeMap<JobId, Job>,
    waiting: BTreeMap<StageId, WaitingStage>,
    running: BTreeMap<StageId, RunningStage>,
    /// Every shuffle a job has read, by id (until released).
    deps: BTreeMap<ShuffleId, ShuffleDep>,
    /// The stage computing a shuffle's missing outputs, if any.
    map_stages: BTreeMap<ShuffleId, StageId>,
    next_stage: StageId,
}

impl DagScheduler {
    pub(crate) fn new(max_stage_attempts: u32, outputs_outlive_executors: bool) -> Self {
        Self {
            max_stage_attempts,
            outputs_outlive_executors,
            jobs: BTreeMap::new(),
            waiting: BTreeMap::new(),
            running: BTreeMap::new(),
            deps: BTreeMap::new(),
            map_stages: BTreeMap::new(),
            next_stage: StageId(0),
        }
    }

    fn new_stage(&mut self) -> StageId {
        let id = self.next_stage;
        self.next_stage = id.next();
        id
    }

    /// The stage attempt is the one running.
    pub(crate) fn is_current(&self, stage: StageId, attempt: u32) -> bool {
        self.running.get(&stage).map(|s| s.attempt) == Some(attempt)
    }

    /// The shuffle and map id a task of a running shuffle-map stage attempt writes.
    pub(crate) fn map_output_of(&self, t: &RunningTask) -> Option<(ShuffleId, u32)> {
        let stage = self.running.get(&t.stage)?;
        match stage.kind {
            StageKind::ShuffleMap(shuffle) if stage.attempt == t.stage_attempt => {
                Some((shuffle, stage.partitions[t.index]))
            }
            _ => None,
        }
    }

    /// What a task of a running stage attempt read from shuffles: the blocks of its
    /// partition in the map outputs it was given (Spark's `ShuffleReadMetrics`; zero-size
    /// blocks are not fetched, so not counted).
    pub(crate) fn shuffle_read_of(&self, t: &RunningTask, m: &mut TaskMetrics) {
        let Some(stage) = self.running.get(&t.stage) else {
            return;
        };
        if stage.attempt != t.stage_attempt {
            return;
        }
        for loc in stage.spec.inputs.values().flatten() {
            let size = loc.sizes.get(t.partition as usize).copied().unwrap_or(0);
            if size == 0 {
                continue;
            }
            if loc.executor == t.executor {
                m.shuffle_local_blocks += 1;
                m.shuffle_local_bytes += size;
            } else {
                m.shuffle_remote_blocks += 1;
                m.shuffle_remote_bytes += size;
            }
        }
    }

    /// The partitions of a running stage's RDDs (the cached ones among them: a stage's
    /// RDDs are narrow, so they all have its plan's partitions).
    pub(crate) fn partitions_of(&self, stage: StageId) -> Option<u32> {
        Some(self.running.get(&stage)?.spec.plan.num_partitions())
    }

    pub(crate) fn submit_job(&mut self, job: JobId, spec: JobSpec, cx: &mut Ctx<'_>) {
        let n = spec.partitions.len();
        self.register_deps(&spec.stage.plan, cx.outputs);
        let result_stage = self.new_stage();
        let reads: Vec<ShuffleId> = direct_deps(&spec.stage.plan)
            .iter()
            .map(|d| d.write.shuffle_id)
            .collect();
        self.jobs.insert(
            job,
            Job {
                partitions: spec.partitions.clone(),
                results: vec![None; n],
            },
        );
        if n == 0 {
            cx.out.log(AppEvent::JobStart {
                job: job.get(),
                description: spec.description.clone(),
                stages: vec![result_stage.get()],
                num_tasks: 0,
            });
            self.finish_job(job, Ok(vec![]), cx);
            return;
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
        let mut stages = Vec::new();
        self.plan_parents(result_stage, cx.outputs, &mut stages);
        stages.push(result_stage);
        stages.sort_unstable();
        let num_tasks: usize = stages
            .iter()
            .filter_map(|s| self.waiting.get(s))
            .map(|w| w.partitions.len())
            .sum();
        cx.out.log(AppEvent::JobStart {
            job: job.get(),
            description: spec.description.clone(),
            stages: stages.iter().map(|s| s.get()).collect(),
            num_tasks: num_tasks as u32,
        });
        let infos = stages
            .iter()
            .map(|s| JobStageInfo {
                stage_id: *s,
                shuffle_dep_id: match self.waiting.get(s).map(|w| w.kind) {
                    Some(StageKind::ShuffleMap(id)) => Some(id),
                    _ => None,
                },
            })
            .collect();
        cx.out.post(ListenerEvent::JobStart {
            job_id: job,
            stages: infos,
        });
        self.resubmit_ready(cx);
    }

    /// Records every shuffle a plan reads, transitively.
    fn register_deps(&mut self, plan: &Plan, outputs: &mut MapOutputTracker) {
        for dep in direct_deps(plan) {
            let id = dep.write.shuffle_id;
            self.deps.entry(id).or_insert_with(|| dep.clone());
            outputs.register_shuffle(id, dep.parent.num_partitions());
            self.register_deps(&dep.parent, outputs);
        }
    }

    /// The shuffle is no longer referenced.
    pub(crate) fn forget_shuffle(&mut self, shuffle: ShuffleId) {
        self.deps.remove(&shuffle);
        self.map_stages.remove(&shuffle);
    }

    /// Makes sure a map stage exists for every incomplete shuffle the waiting
    /// stage `sid` reads (and, recursively, for theirs).
    fn plan_parents(
        &mut self,
        sid: StageId,
        outputs: &MapOutputTracker,
        created: &mut Vec<StageId>,
    ) {
        let Some(w) = self.waiting.get(&sid) else {
            return;
        };
        let job = w.job;
        for shuffle in w.reads.clone() {
            let Some(dep) = self.deps.get(&shuffle) else {
                continue;
            };
            if outputs.is_complete(shuffle) || self.map_stages.contains_key(&shuffle) {
                continue;
            }
            let parent = (*dep.parent).clone();
            let action = Action::ShuffleWrite(dep.write.clone());
            let reads = direct_deps(&parent)
                .iter()
                .map(|d| d.write.shuffle_id)
                .collect();
            let map_stage = self.new_stage();
            let w = WaitingStage {
                job,
                kind: StageKind::ShuffleMap(shuffle),
                attempt: 0,
                name: format!("shuffle {shuffle} map"),
                action,
                partitions: outputs.missing(shuffle),
                plan: parent,
                reads,
            };
            self.map_stages.insert(shuffle, map_stage);
            self.waiting.insert(map_stage, w);
            created.push(map_stage);
            self.plan_parents(map_stage, outputs, created);
        }
    }

    /// Submits every waiting stage whose inputs are complete; re-plans parents whose
    /// outputs were lost. The caller then offers the new tasks to executors.
    pub(crate) fn resubmit_ready(&mut self, cx: &mut Ctx<'_>) {
        loop {
            let ready: Vec<StageId> = self
                .waiting
                .iter()
                .filter(|(_, w)| w.reads.iter().all(|s| cx.outputs.is_complete(*s)))
                .map(|(id, _)| *id)
                .collect();
            if ready.is_empty() {
                let waiting: Vec<StageId> = self.waiting.keys().copied().collect();
                let mut created = Vec::new();
                for sid in waiting {
                    self.plan_parents(sid, cx.outputs, &mut created);
                }
                if created.is_empty() {
                    break;
                }
                continue;
            }
            for sid in ready {
                let w = self.waiting.remove(&sid).expect("listed");
                self.submit_stage(sid, w, cx);
            }
        }
    }

    fn submit_stage(&mut self, sid: StageId, w: WaitingStage, cx: &mut Ctx<'_>) {
        let inputs = w
            .reads
            .iter()
            .map(|s| (*s, cx.outputs.locations(*s).unwrap_or_default()))
            .collect();
        let spec = StageSpec {
            plan: w.plan,
            action: w.action,
            inputs,
        };
        let n = w.partitions.len();
        cx.out.log(AppEvent::StageSubmitted {
            stage: sid.get(),
            attempt: w.attempt,
            job: w.job.get(),
            name: w.name.clone(),
            num_tasks: n as u32,
        });
        let cached_rdd = spec.plan.cached_rdds().first().copied();
        let prefs = w
            .partitions
            .iter()
            .map(|p| {
                cached_rdd
                    .map(|rdd| cx.tasks.preferred_hosts(rdd, *p))
                    .unwrap_or_default()
            })
            .collect();
        cx.out.post(ListenerEvent::StageSubmitted {
            stage: stage_attempt(sid, w.attempt),
            num_tasks: n as i64,
            task_locality_preferences: prefs,
        });
        let spec_bytes = Arc::new(postcard::to_stdvec(&spec).expect("stage spec encodes"));
        let stage = RunningStage {
            job: w.job,
            kind: w.kind,
            attempt: w.attempt,
            name: w.name,
            spec: Arc::new(spec),
            results: vec![None; n],
            finished: 0,
            partitions: w.partitions,
        };
        if n == 0 {
            // Nothing left to compute (e.g. every map output survived).
            self.stage_done(sid, stage, cx);
            return;
        }
        cx.tasks.submit(
            sid,
            stage.attempt,
            spec_bytes,
            cached_rdd,
            stage.partitions.clone(),
            cx.now_ms,
        );
        self.running.insert(sid, stage);
    }

    /// A task succeeded (its output's location is already tracked).
    pub(crate) fn task_succeeded(&mut self, t: &RunningTask, result: Vec<u8>, cx: &mut Ctx<'_>) {
        let Some(stage) = self.running.get_mut(&t.stage) else {
            return;
        };
        if stage.attempt != t.stage_attempt || stage.results[t.index].is_some() {
            return;
        }
        stage.results[t.index] = Some(result);
        stage.finished += 1;
        if stage.finished == stage.partitions.len() {
            let stage = self.running.remove(&t.stage).expect("present");
            cx.tasks.remove_task_set(t.stage);
            self.stage_done(t.stage, stage, cx);
        }
    }

    fn stage_done(&mut self, sid: StageId, stage: RunningStage, cx: &mut Ctx<'_>) {
        cx.out.log(AppEvent::StageCompleted {
            stage: sid.get(),
            attempt: stage.attempt,
            failure: None,
        });
        cx.out.post(ListenerEvent::StageCompleted {
            stage: stage_attempt(sid, stage.attempt),
        });
        match stage.kind {
            StageKind::ShuffleMap(shuffle) => {
                self.map_stages.remove(&shuffle);
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
                    self.finish_job(stage.job, Ok(results), cx);
                }
            }
        }
        self.resubmit_ready(cx);
    }

    /// A task of this stage failed too often: its job fails.
    pub(crate) fn task_set_failed(&mut self, stage: StageId, err: JobError, cx: &mut Ctx<'_>) {
        if let Some(job) = self.running.get(&stage).map(|s| s.job) {
            self.fail_job(job, err, cx);
        }
    }

    /// A reducer could not fetch a map output: that output is lost; the map
    /// task re-runs, then this stage (a new attempt) — Spark's behaviour.
    pub(crate) fn fetch_failed(
        &mut self,
        t: &RunningTask,
        ff: &FetchFailed,
        msg: String,
        cx: &mut Ctx<'_>,
    ) {
        let Some(stage) = self.running.remove(&t.stage) else {
            return;
        };
        cx.tasks.remove_task_set(t.stage);
        cx.out.log(AppEvent::StageCompleted {
            stage: t.stage.get(),
            attempt: stage.attempt,
            failure: Some(format!("FetchFailed: {msg}")),
        });
        cx.out.post(ListenerEvent::StageCompleted {
            stage: stage_attempt(t.stage, stage.attempt),
        });
        cx.outputs
            .handle_fetch_failure(ff, self.outputs_outlive_executors);
        if stage.attempt + 1 >= self.max_stage_attempts {
            if let StageKind::ShuffleMap(shuffle) = stage.kind {
                self.map_stages.remove(&shuffle);
            }
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
            self.fail_job(stage.job, err, cx);
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
            if cx.outputs.contains(shuffle) {
                self.map_stages.insert(shuffle, t.stage);
                remaining = cx.outputs.missing(shuffle);
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
        cx.tasks.forget_spec(t.stage);
        self.resubmit_ready(cx);
    }

    fn fail_job(&mut self, job: JobId, err: JobError, cx: &mut Ctx<'_>) {
        let (failed, others) = std::mem::take(&mut self.running)
            .into_iter()
            .partition::<BTreeMap<_, _>, _>(|(_, s)| s.job == job);
        self.running = others;
        for (sid, stage) in failed {
            cx.tasks.remove_task_set(sid);
            cx.out.log(AppEvent::StageCompleted {
                stage: sid.get(),
                attempt: stage.attempt,
                failure: Some(err.to_string()),
            });
            cx.out.post(ListenerEvent::StageCompleted {
                stage: stage_attempt(sid, stage.attempt),
            });
            if let StageKind::ShuffleMap(shuffle) = stage.kind {
                self.map_stages.remove(&shuffle);
            }
        }
        let (dropped, others) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition::<BTreeMap<_, _>, _>(|(_, w)| w.job == job);
        self.waiting = others;
        for w in dropped.values() {
            if let StageKind::ShuffleMap(shuffle) = w.kind {
                self.map_stages.remove(&shuffle);
            }
        }
        self.finish_job(job, Err(err), cx);
    }

    fn finish_job(&mut self, job: JobId, result: Result<Vec<Vec<u8>>, JobError>, cx: &mut Ctx<'_>) {
        self.jobs.remove(&job);
        let error = result.as_ref().err().map(|e| e.to_string());
        cx.out.log(AppEvent::JobEnd {
            job: job.get(),
            succeeded: error.is_none(),
            error,
        });
        cx.out.post(ListenerEvent::JobEnd { job_id: job });
        cx.out.push(Effect::JobDone { job, result });
    }
}
