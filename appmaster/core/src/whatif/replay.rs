//! The replay: a workload's jobs through a simulated task scheduler and, for dynamic
//! allocation, the application master's own allocation manager, event by event on a
//! simulated clock (the manager's round every [`TICK_MS`], as Spark's and Spindle's run it).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::workload::{Anchor, Measured, Workload};
use super::WhatIfError;
use crate::allocation::{
    AllocationConfig, ExecutorAllocationManager, JobStageInfo, ListenerEvent, StageAttempt,
    TaskEndReason, TaskInfo,
};
use crate::ids::{ExecutorId, JobId, ShuffleId, StageId};

/// The allocation manager's round, in ms (Spark's `ExecutorAllocationManager` schedules
/// itself every 100 ms; Spindle's application master does the same).
pub const TICK_MS: u64 = 100;

/// A replay that makes no progress for this long (simulated) has stalled.
const STALL_MS: u64 = 24 * 3600 * 1000;

/// How executors are allocated in a replay.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Policy {
    /// This many executors, asked for at the start and held to the end.
    Static { executors: u32 },
    /// Dynamic allocation with these settings: Spark's rules or the eager policy, as
    /// `config.policy` says.
    Dynamic(AllocationConfig),
}

impl Policy {
    /// `static`, `spark` or `eager`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Static { .. } => "static",
            Self::Dynamic(c) => c.policy.name(),
        }
    }
}

/// What the replay assumes about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Cores per executor (`spark.executor.cores`).
    pub executor_cores: u32,
    /// Cores per task (`spark.task.cpus`).
    pub task_cpus: u32,
    /// From asking for an executor to its registration.
    pub start_latency_ms: u64,
    /// From removing an executor to its end (it runs no task meanwhile, but is held).
    pub stop_latency_ms: u64,
    /// Extra time of the first task on each executor.
    pub warmup_ms: u64,
}

/// One policy's predicted run.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// `static`, `spark` or `eager`.
    pub policy: String,
    /// The figures, counted as the measured side counts them.
    pub figures: Measured,
    /// Executors that registered.
    pub executors_started: u32,
    /// Each job's (submission, end), ms since the start, in the workload's order.
    pub job_spans: Vec<(u64, u64)>,
}

impl Prediction {
    pub fn executor_s(&self) -> f64 {
        self.figures.executor_s()
    }

    pub fn job_s(&self) -> f64 {
        self.figures.job_s()
    }
}

/// Replays `workload` under `policy`.
pub fn replay(
    workload: &Workload,
    policy: &Policy,
    options: &ReplayOptions,
) -> Result<Prediction, WhatIfError> {
    if options.executor_cores == 0 {
        return Err(WhatIfError::InvalidOption {
            option: "--executor-cores",
            reason: "must be at least 1".to_owned(),
        });
    }
    if options.task_cpus == 0 || options.task_cpus > options.executor_cores {
        return Err(WhatIfError::InvalidOption {
            option: "spark.task.cpus",
            reason: format!(
                "must be between 1 and the executor cores ({}), got {}",
                options.executor_cores, options.task_cpus
            ),
        });
    }
    let manager = match policy {
        Policy::Static { executors: 0 } => {
            return Err(WhatIfError::InvalidOption {
                option: "--num-executors",
                reason: "must be at least 1".to_owned(),
            })
        }
        Policy::Static { .. } => None,
        Policy::Dynamic(config) => {
            let mut config = config.clone();
            config.executor_cores = i64::from(options.executor_cores);
            config.task_cpus = i64::from(options.task_cpus);
            Some(ExecutorAllocationManager::new(config)?)
        }
    };
    Sim::new(workload, policy, options, manager).run()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    JobSubmit(usize),
    StageSubmit(usize),
    TaskEnd {
        exec: usize,
        stage: usize,
        index: usize,
    },
    StageComplete(usize),
    JobEnd(usize),
    ExecutorUp(usize),
    ExecutorGone(usize),
    Tick,
    AppEnd,
}

struct Exec {
    id: ExecutorId,
    requested_ms: u64,
    /// Asked for before the first job: it arrives when the log's first executors did.
    at_start: bool,
    arrived_ms: Option<u64>,
    gone_ms: Option<u64>,
    cancelled: bool,
    removing: bool,
    running: u32,
    fresh: bool,
}

impl Exec {
    fn usable(&self) -> bool {
        self.arrived_ms.is_some() && !self.removing && self.gone_ms.is_none()
    }

    fn starting(&self) -> bool {
        self.arrived_ms.is_none() && !self.cancelled
    }
}

struct SimStage {
    job: usize,
    id: StageId,
    parents: Vec<usize>,
    children: Vec<usize>,
    delay_ms: u64,
    complete_delay_ms: u64,
    tasks: Vec<u64>,
    next: usize,
    finished: usize,
    scheduled: bool,
    completed_ms: Option<u64>,
}

struct SimJob {
    id: JobId,
    stages: Vec<usize>,
    submitted_ms: Option<u64>,
    /// Its last stage completed: its end is on the way.
    ending: bool,
    ended_ms: Option<u64>,
    end_delay_ms: u64,
    listed: Vec<JobStageInfo>,
}

struct Sim<'a> {
    w: &'a Workload,
    policy: &'a Policy,
    o: &'a ReplayOptions,
    mgr: Option<ExecutorAllocationManager>,
    slots: u32,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    execs: Vec<Exec>,
    stages: Vec<SimStage>,
    jobs: Vec<SimJob>,
    /// Stages submitted and not yet fully launched, in submission order.
    runnable: Vec<usize>,
    /// Jobs (and the application's end, `None`) waiting on each job's start and end.
    after_start: Vec<Vec<Option<usize>>>,
    after_end: Vec<Vec<Option<usize>>>,
    /// Asks made before the first job was submitted (they take the log's first arrivals).
    start_asks: usize,
    any_job_submitted: bool,
    last_progress_ms: u64,
    ended_ms: Option<u64>,
}

impl<'a> Sim<'a> {
    fn new(
        w: &'a Workload,
        policy: &'a Policy,
        o: &'a ReplayOptions,
        mgr: Option<ExecutorAllocationManager>,
    ) -> Self {
        let mut stages = Vec::new();
        let mut jobs = Vec::new();
        let mut index_of: BTreeMap<StageId, usize> = BTreeMap::new();
        for (j, job) in w.jobs.iter().enumerate() {
            let mut ids = Vec::new();
            for s in &job.stages {
                let k = stages.len();
                index_of.entry(s.id).or_insert(k);
                ids.push(k);
                stages.push(SimStage {
                    job: j,
                    id: s.id,
                    parents: Vec::new(),
                    children: Vec::new(),
                    delay_ms: s.delay_ms,
                    complete_delay_ms: s.complete_delay_ms,
                    tasks: s.tasks.clone(),
                    next: 0,
                    finished: 0,
                    scheduled: false,
                    completed_ms: None,
                });
            }
            jobs.push(SimJob {
                id: job.id,
                stages: ids,
                submitted_ms: None,
                ending: false,
                ended_ms: None,
                end_delay_ms: job.end_delay_ms,
                listed: job
                    .listed_stages
                    .iter()
                    .map(|&(stage_id, shuffle)| JobStageInfo {
                        stage_id,
                        shuffle_dep_id: shuffle.then_some(ShuffleId(stage_id.0)),
                    })
                    .collect(),
            });
        }
        let mut k = 0;
        for job in &w.jobs {
            for s in &job.stages {
                let parents: Vec<usize> = s
                    .parents
                    .iter()
                    .filter_map(|p| index_of.get(p).copied())
                    .filter(|p| *p != k)
                    .collect();
                for &p in &parents {
                    stages[p].children.push(k);
                }
                stages[k].parents = parents;
                k += 1;
            }
        }
        let n = w.jobs.len();
        let mut after_start = vec![Vec::new(); n];
        let mut after_end = vec![Vec::new(); n];
        let anchored = w
            .jobs
            .iter()
            .enumerate()
            .map(|(j, job)| (Some(j), job.anchor))
            .chain(std::iter::once((None, w.end_anchor)));
        for (who, anchor) in anchored {
            match anchor {
                Anchor::AppStart => {}
                Anchor::JobStart(k) => after_start[k].push(who),
                Anchor::JobEnd(k) => after_end[k].push(who),
            }
        }
        Self {
            w,
            policy,
            o,
            mgr,
            slots: (o.executor_cores / o.task_cpus).max(1),
            heap: BinaryHeap::new(),
            seq: 0,
            execs: Vec::new(),
            stages,
            jobs,
            runnable: Vec::new(),
            after_start,
            after_end,
            start_asks: 0,
            any_job_submitted: false,
            last_progress_ms: 0,
            ended_ms: None,
        }
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, ev)));
    }

    fn post(&mut self, event: ListenerEvent, now: u64) {
        if let Some(m) = self.mgr.as_mut() {
            m.on_event(&event, now);
        }
    }

    fn trigger(&mut self, who: Option<usize>, now: u64) {
        match who {
            Some(j) => {
                let delay = self.w.jobs[j].delay_ms;
                self.at(now + delay, Ev::JobSubmit(j));
            }
            None => self.at(now + self.w.end_delay_ms, Ev::AppEnd),
        }
    }

    fn run(mut self) -> Result<Prediction, WhatIfError> {
        for (j, job) in self.w.jobs.iter().enumerate() {
            if job.anchor == Anchor::AppStart {
                self.at(job.delay_ms, Ev::JobSubmit(j));
            }
        }
        if self.w.end_anchor == Anchor::AppStart {
            self.at(self.w.end_delay_ms, Ev::AppEnd);
        }
        match self.policy {
            Policy::Static { executors } => {
                for _ in 0..*executors {
                    self.ask(0);
                }
            }
            Policy::Dynamic(_) => {
                self.sync(0);
                self.at(0, Ev::Tick);
            }
        }
        while let Some(Reverse((now, _, ev))) = self.heap.pop() {
            if now.saturating_sub(self.last_progress_ms) > STALL_MS {
                break;
            }
            self.handle(ev, now);
            if self.ended_ms.is_some() {
                break;
            }
            self.schedule(now);
            self.sync(now);
        }
        let Some(end) = self.ended_ms else {
            return Err(WhatIfError::Stalled {
                policy: self.policy.name().to_owned(),
                at_ms: self.last_progress_ms,
                pending_tasks: self.stages.iter().map(|s| s.tasks.len() - s.next).sum(),
            });
        };
        let spans: Vec<(u64, u64)> = self
            .execs
            .iter()
            .filter_map(|e| e.arrived_ms.map(|a| (a, e.gone_ms.unwrap_or(end).min(end))))
            .collect();
        let job_spans: Vec<(u64, u64)> = self
            .jobs
            .iter()
            .filter_map(|j| {
                j.submitted_ms
                    .map(|s| (s, j.ended_ms.unwrap_or(end).min(end)))
            })
            .collect();
        Ok(Prediction {
            policy: self.policy.name().to_owned(),
            figures: Measured::from_spans(&spans, &job_spans, end),
            executors_started: spans.len() as u32,
            job_spans,
        })
    }

    fn handle(&mut self, ev: Ev, now: u64) {
        match ev {
            Ev::JobSubmit(j) => {
                self.last_progress_ms = now;
                self.any_job_submitted = true;
                self.jobs[j].submitted_ms = Some(now);
                let event = ListenerEvent::JobStart {
                    job_id: self.jobs[j].id,
                    stages: self.jobs[j].listed.clone(),
                };
                self.post(event, now);
                for who in self.after_start[j].clone() {
                    self.trigger(who, now);
                }
                for s in self.jobs[j].stages.clone() {
                    self.maybe_submit_stage(s, now);
                }
                self.maybe_end_job(j, now);
            }
            Ev::StageSubmit(s) => {
                self.last_progress_ms = now;
                let stage = StageAttempt::new(self.stages[s].id, 0);
                let num_tasks = self.stages[s].tasks.len() as i64;
                self.post(
                    ListenerEvent::StageSubmitted {
                        stage,
                        num_tasks,
                        task_locality_preferences: Vec::new(),
                    },
                    now,
                );
                if num_tasks == 0 {
                    let delay = self.stages[s].complete_delay_ms;
                    self.at(now + delay, Ev::StageComplete(s));
                } else {
                    self.runnable.push(s);
                }
            }
            Ev::TaskEnd { exec, stage, index } => {
                self.last_progress_ms = now;
                self.execs[exec].running -= 1;
                self.stages[stage].finished += 1;
                let event = ListenerEvent::TaskEnd {
                    stage: StageAttempt::new(self.stages[stage].id, 0),
                    task: TaskInfo {
                        index: index as i64,
                        executor_id: self.execs[exec].id.clone(),
                        speculative: false,
                    },
                    reason: TaskEndReason::Success,
                };
                self.post(event, now);
                let st = &self.stages[stage];
                if st.finished == st.tasks.len() {
                    let delay = st.complete_delay_ms;
                    self.at(now + delay, Ev::StageComplete(stage));
                }
            }
            Ev::StageComplete(s) => {
                self.last_progress_ms = now;
                self.stages[s].completed_ms = Some(now);
                let stage = StageAttempt::new(self.stages[s].id, 0);
                self.post(ListenerEvent::StageCompleted { stage }, now);
                for c in self.stages[s].children.clone() {
                    self.maybe_submit_stage(c, now);
                }
                self.maybe_end_job(self.stages[s].job, now);
            }
            Ev::JobEnd(j) => {
                self.last_progress_ms = now;
                self.jobs[j].ended_ms = Some(now);
                let job_id = self.jobs[j].id;
                self.post(ListenerEvent::JobEnd { job_id }, now);
                for who in self.after_end[j].clone() {
                    self.trigger(who, now);
                }
            }
            Ev::ExecutorUp(e) => {
                if self.execs[e].cancelled {
                    return;
                }
                self.execs[e].arrived_ms = Some(now);
                // What the application master would measure: the log's first arrivals
                // include the driver's own start, so those count the assumed latency.
                let latency = if self.execs[e].at_start {
                    self.o.start_latency_ms
                } else {
                    now - self.execs[e].requested_ms
                };
                let executor_id = self.execs[e].id.clone();
                self.post(ListenerEvent::ExecutorAdded { executor_id }, now);
                if let Some(m) = self.mgr.as_mut() {
                    m.on_executor_start_latency(latency);
                }
            }
            Ev::ExecutorGone(e) => {
                self.execs[e].gone_ms = Some(now);
                let executor_id = self.execs[e].id.clone();
                self.post(ListenerEvent::ExecutorRemoved { executor_id }, now);
            }
            Ev::Tick => {
                if let Some(m) = self.mgr.as_mut() {
                    let outcome = m.tick(now);
                    let quiet = outcome.is_quiet();
                    let deadline = m.next_deadline_after(now);
                    for id in outcome.to_remove {
                        if let Some(e) = self.execs.iter().position(|e| e.id == id) {
                            self.execs[e].removing = true;
                            self.at(now + self.o.stop_latency_ms, Ev::ExecutorGone(e));
                        }
                    }
                    // A quiet round repeats until the next event or timer; skip to
                    // the round that sees it (a task of a forged log may last years).
                    let next_event = self.heap.peek().map(|Reverse((t, _, _))| *t);
                    let next = match next_event.into_iter().chain(deadline).min() {
                        Some(t) if quiet => super::measure::next_round(0, now, t),
                        _ => now + TICK_MS,
                    };
                    self.at(next, Ev::Tick);
                }
            }
            Ev::AppEnd => self.ended_ms = Some(now),
        }
    }

    /// Whether every one of these stages has completed.
    fn all_completed(&self, stages: &[usize]) -> bool {
        stages
            .iter()
            .all(|s| self.stages[*s].completed_ms.is_some())
    }

    fn maybe_submit_stage(&mut self, s: usize, now: u64) {
        let st = &self.stages[s];
        if st.scheduled || self.jobs[st.job].submitted_ms.is_none() {
            return;
        }
        if !self.all_completed(&st.parents) {
            return;
        }
        let delay = st.delay_ms;
        self.stages[s].scheduled = true;
        self.at(now + delay, Ev::StageSubmit(s));
    }

    fn maybe_end_job(&mut self, j: usize, now: u64) {
        let job = &self.jobs[j];
        if job.ending || !self.all_completed(&job.stages) {
            return;
        }
        let delay = job.end_delay_ms;
        self.jobs[j].ending = true;
        self.at(now + delay, Ev::JobEnd(j));
    }

    /// Launches waiting tasks on free slots: stages in submission order, tasks in index
    /// order, each on the least busy usable executor.
    fn schedule(&mut self, now: u64) {
        while let Some(&s) = self.runnable.first() {
            let st = &self.stages[s];
            if st.next >= st.tasks.len() {
                self.runnable.remove(0);
                continue;
            }
            let Some(e) = (0..self.execs.len())
                .filter(|e| self.execs[*e].usable() && self.execs[*e].running < self.slots)
                .min_by_key(|e| (self.execs[*e].running, *e))
            else {
                return;
            };
            let index = self.stages[s].next;
            self.stages[s].next += 1;
            let mut duration = self.stages[s].tasks[index];
            let exec = &mut self.execs[e];
            if exec.fresh {
                exec.fresh = false;
                duration += self.o.warmup_ms;
            }
            exec.running += 1;
            let event = ListenerEvent::TaskStart {
                stage: StageAttempt::new(self.stages[s].id, 0),
                task: TaskInfo {
                    index: index as i64,
                    executor_id: exec.id.clone(),
                    speculative: false,
                },
            };
            self.post(event, now);
            self.at(
                now + duration,
                Ev::TaskEnd {
                    exec: e,
                    stage: s,
                    index,
                },
            );
        }
    }

    /// Asks for one executor now.
    fn ask(&mut self, now: u64) {
        let arrives = if self.any_job_submitted {
            now + self.o.start_latency_ms
        } else {
            let k = self.start_asks;
            self.start_asks += 1;
            match (
                self.w.initial_arrivals_ms.get(k),
                self.w.initial_arrivals_ms.last(),
            ) {
                (Some(t), _) => (*t).max(now),
                (None, Some(last)) => (*last).max(now + self.o.start_latency_ms),
                (None, None) => now + self.o.start_latency_ms,
            }
        };
        let e = self.execs.len();
        self.execs.push(Exec {
            id: ExecutorId::from((e + 1).to_string()),
            requested_ms: now,
            at_start: !self.any_job_submitted,
            arrived_ms: None,
            gone_ms: None,
            cancelled: false,
            removing: false,
            running: 0,
            fresh: true,
        });
        self.at(arrives, Ev::ExecutorUp(e));
    }

    /// Brings the asks in line with the allocation manager's target: more asks when it is
    /// above the usable and starting executors, cancelled asks (latest first) when below.
    fn sync(&mut self, now: u64) {
        let Some(m) = self.mgr.as_ref() else {
            return;
        };
        let target = usize::try_from(m.num_executors_target()).unwrap_or(0);
        let usable = self.execs.iter().filter(|e| e.usable()).count();
        let starting: Vec<usize> = (0..self.execs.len())
            .filter(|e| self.execs[*e].starting())
            .collect();
        let have = usable + starting.len();
        if target > have {
            for _ in 0..target - have {
                self.ask(now);
            }
        } else if target < have {
            let keep = target.saturating_sub(usable);
            for &e in &starting[keep..] {
                self.execs[e].cancelled = true;
            }
        }
    }
}
