//! The workload a log describes: the raw records both readers produce, and what the replay
//! needs from them (delays relative to the events that triggered them, task durations, the
//! executor warm-up), plus what the log itself measured.

use std::collections::{BTreeMap, BTreeSet};

use super::WhatIfError;
use crate::ids::{JobId, StageId};

/// Spindle's executor start latency, in ms: what `--executor-start-ms` assumes by default.
///
/// Measured on a local cluster (README, "Allocation policies": on the seed job the second
/// executor's start is about 20 ms, about 10 ms for the NM to start the process and 9 ms for
/// its QUIC connection to the driver; under the eager policy on Bursty new executors ran a
/// task 15 to 47 ms after the target rose; `cargo bench -p spindle-tests --bench
/// cluster_latency` gives 0.42 ms to allocate and 3.17 ms to launch, median).
pub const SPINDLE_EXECUTOR_START_MS: u64 = 20;

/// Spindle's executor stop latency, in ms: the application master counts an executor as
/// removed the moment it decides to stop it (its event log's `ExecutorRemoved`), so 0.
pub const SPINDLE_EXECUTOR_STOP_MS: u64 = 0;

/// Which program wrote the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Spark's JSON lines, with the version its `SparkListenerLogStart` names.
    Spark { version: Option<String> },
    /// Spindle's event log ([`crate::eventlog`]).
    Spindle,
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spark { version: Some(v) } => write!(f, "Spark {v}"),
            Self::Spark { version: None } => f.write_str("Spark"),
            Self::Spindle => f.write_str("Spindle"),
        }
    }
}

// ------------------------------------------------------------------ raw records

/// What a reader extracts from a log (absolute ms timestamps).
#[derive(Debug, Clone, Default)]
pub(super) struct RawLog {
    pub(super) format: Option<LogFormat>,
    pub(super) app_id: Option<String>,
    pub(super) app_name: Option<String>,
    pub(super) app_start_ms: Option<u64>,
    pub(super) app_end_ms: Option<u64>,
    /// The earliest and latest timestamps seen.
    pub(super) first_ts: Option<u64>,
    pub(super) last_ts: u64,
    pub(super) events: usize,
    pub(super) conf: BTreeMap<String, String>,
    /// Cores per executor, if the log says (Spindle's application start).
    pub(super) executor_cores: Option<u32>,
    pub(super) jobs: BTreeMap<JobId, RawJob>,
    pub(super) stages: BTreeMap<StageId, RawStage>,
    pub(super) tasks: Vec<RawTask>,
    pub(super) executors: BTreeMap<String, RawExecutor>,
}

impl RawLog {
    /// Notes a timestamp (0: unknown) among the log's first and last.
    pub(super) fn saw(&mut self, ts: u64) {
        if ts == 0 {
            return;
        }
        self.first_ts = Some(self.first_ts.map_or(ts, |f| f.min(ts)));
        self.last_ts = self.last_ts.max(ts);
    }

    pub(super) fn stage(&mut self, id: StageId) -> &mut RawStage {
        self.stages.entry(id).or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct RawJob {
    pub(super) submit_ms: u64,
    pub(super) end_ms: Option<u64>,
    /// Every stage the job lists (skipped ones included).
    pub(super) stages: Vec<StageId>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct RawStage {
    /// Parent stages, when the log names them (Spark).
    pub(super) parents: Option<Vec<StageId>>,
    /// First submission (of any attempt).
    pub(super) submit_ms: Option<u64>,
    /// Last completion.
    pub(super) complete_ms: Option<u64>,
    pub(super) num_tasks: u32,
    /// Writes shuffle output (Spark: its tasks are `ShuffleMapTask`s).
    pub(super) shuffle_map: bool,
    /// The job that submitted it, when the log says (Spindle).
    pub(super) job: Option<JobId>,
}

#[derive(Debug, Clone)]
pub(super) struct RawTask {
    pub(super) stage: StageId,
    pub(super) index: u32,
    pub(super) executor: String,
    pub(super) launch_ms: u64,
    pub(super) finish_ms: u64,
    pub(super) success: bool,
}

#[derive(Debug, Clone, Default)]
pub(super) struct RawExecutor {
    pub(super) added_ms: u64,
    pub(super) removed_ms: Option<u64>,
    /// When it was asked for (Spark 3.4+'s `Request Time`; Spindle: the target rise it
    /// answered).
    pub(super) request_ms: Option<u64>,
    pub(super) cores: Option<u32>,
}

// ------------------------------------------------------------------ the workload

/// The event a job's (or the application end's) submission follows in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The application's start.
    AppStart,
    /// The start of the job at this position in [`Workload::jobs`].
    JobStart(usize),
    /// The end of the job at this position in [`Workload::jobs`].
    JobEnd(usize),
}

/// One stage as the replay runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub id: StageId,
    /// Parent stages the replay waits for (stages the log shows were submitted).
    pub parents: Vec<StageId>,
    /// From its job's submission or its last parent's completion, whichever is later, to
    /// its submission.
    pub delay_ms: u64,
    /// Task durations in index order, warm-up taken off.
    pub tasks: Vec<u64>,
    /// From its last task's end to its completion.
    pub complete_delay_ms: u64,
    /// Writes shuffle output (matters to shuffle tracking).
    pub shuffle_map: bool,
}

/// One job as the replay runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub anchor: Anchor,
    /// From its anchor to its submission.
    pub delay_ms: u64,
    /// Every stage the job lists (the allocation manager's shuffle tracking reads them),
    /// with whether it writes shuffle output.
    pub listed_stages: Vec<(StageId, bool)>,
    /// The stages this job runs, in submission order.
    pub stages: Vec<Stage>,
    /// From its last stage's completion (or its submission) to its end.
    pub end_delay_ms: u64,
}

/// What a log measured, relative to the application's start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    /// Executor-milliseconds: each executor from registration to removal, or to the
    /// application's end.
    pub executor_ms: u64,
    /// The jobs' durations added up.
    pub job_ms: u64,
    /// The application's start to its end.
    pub wall_ms: u64,
    pub peak_executors: u32,
    /// Registered executors over time: (ms, count from then on).
    pub executors_over_time: Vec<(u64, u32)>,
}

impl Measured {
    pub fn executor_s(&self) -> f64 {
        self.executor_ms as f64 / 1000.0
    }

    pub fn job_s(&self) -> f64 {
        self.job_ms as f64 / 1000.0
    }

    /// From executor spans (start, end) and job spans, ending at `wall_ms`.
    pub(super) fn from_spans(spans: &[(u64, u64)], jobs: &[(u64, u64)], wall_ms: u64) -> Self {
        let mut changes: BTreeMap<u64, i64> = BTreeMap::new();
        let mut executor_ms = 0;
        for &(start, end) in spans {
            let end = end.min(wall_ms);
            if end < start {
                continue;
            }
            executor_ms += end - start;
            *changes.entry(start).or_insert(0) += 1;
            *changes.entry(end).or_insert(0) -= 1;
        }
        let mut executors_over_time = vec![(0, 0)];
        let (mut live, mut peak) = (0i64, 0i64);
        for (t, d) in changes {
            live += d;
            peak = peak.max(live);
            executors_over_time.push((t, u32::try_from(live.max(0)).unwrap_or(0)));
        }
        Self {
            executor_ms,
            job_ms: jobs.iter().map(|(s, e)| e.saturating_sub(*s)).sum(),
            wall_ms,
            peak_executors: u32::try_from(peak).unwrap_or(0),
            executors_over_time,
        }
    }
}

/// One application's workload, read from its event log. Times are ms since its start.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub format: LogFormat,
    pub app_id: Option<String>,
    pub app_name: Option<String>,
    /// The properties the log records (Spark's `Spark Properties`, Spindle's `conf`).
    pub conf: BTreeMap<String, String>,
    /// Cores per executor in the log (`spark.executor.cores`, else what executors had).
    pub executor_cores: Option<u32>,
    /// Jobs in submission order.
    pub jobs: Vec<Job>,
    /// The application's end: after which event, and how long after.
    pub end_anchor: Anchor,
    pub end_delay_ms: u64,
    /// When the executors asked for at the start registered, in order.
    pub initial_arrivals_ms: Vec<u64>,
    /// The first task's extra time on a fresh executor (see the module docs).
    pub warmup_ms: u64,
    /// Executor start latencies the log shows (ask to registration), in registration order.
    pub start_latencies_ms: Vec<u64>,
    /// Executor stop latencies the log shows (the allocation manager's removal decision to
    /// the executor's removal, found by replaying the log through the allocation manager),
    /// for a dynamic-allocation run.
    pub stop_latencies_ms: Vec<u64>,
    /// What the log measured.
    pub measured: Measured,
    /// Tasks replayed.
    pub num_tasks: usize,
}

impl Workload {
    /// The median start latency the log shows, if any.
    pub fn median_start_latency_ms(&self) -> Option<u64> {
        median(&self.start_latencies_ms)
    }

    /// The median stop latency the log shows, if any.
    pub fn median_stop_latency_ms(&self) -> Option<u64> {
        median(&self.stop_latencies_ms)
    }

    /// Whether the log's own run used dynamic allocation.
    pub fn dynamic_allocation(&self) -> bool {
        self.conf
            .get("spark.dynamicAllocation.enabled")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    pub(super) fn from_raw(raw: RawLog) -> Result<Self, WhatIfError> {
        // Each (stage, index): its successful attempt, the earliest to finish.
        let mut best: BTreeMap<(StageId, u32), &RawTask> = BTreeMap::new();
        for t in raw.tasks.iter().filter(|t| t.success) {
            best.entry((t.stage, t.index))
                .and_modify(|b| {
                    if t.finish_ms < b.finish_ms {
                        *b = t;
                    }
                })
                .or_insert(t);
        }
        if best.is_empty() {
            return Err(WhatIfError::NoTasks { events: raw.events });
        }
        let start = raw
            .app_start_ms
            .or(raw.first_ts)
            .unwrap_or(0)
            .min(raw.first_ts.unwrap_or(u64::MAX));
        let rel = |t: u64| t.saturating_sub(start);
        // A log without an application end (a live or crashed application) ends with its
        // last event.
        let app_end = rel(raw.app_end_ms.unwrap_or(raw.last_ts));

        // Warm-up: each executor's first task against its stage's other tasks.
        let mut first_on: BTreeMap<&str, &RawTask> = BTreeMap::new();
        for t in best.values() {
            first_on
                .entry(t.executor.as_str())
                .and_modify(|f| {
                    if (t.launch_ms, t.stage, t.index) < (f.launch_ms, f.stage, f.index) {
                        *f = t;
                    }
                })
                .or_insert(t);
        }
        let firsts: BTreeSet<(StageId, u32)> =
            first_on.values().map(|t| (t.stage, t.index)).collect();
        let duration = |t: &RawTask| t.finish_ms.saturating_sub(t.launch_ms);
        // Per stage, the median of the tasks that were not an executor's first.
        let mut others: BTreeMap<StageId, Vec<u64>> = BTreeMap::new();
        for ((stage, index), t) in &best {
            if !firsts.contains(&(*stage, *index)) {
                others.entry(*stage).or_default().push(duration(t));
            }
        }
        let stage_median: BTreeMap<StageId, u64> = others
            .iter()
            .filter_map(|(s, d)| median(d).map(|m| (*s, m)))
            .collect();
        let excesses: Vec<u64> = firsts
            .iter()
            .filter_map(|key| {
                let m = stage_median.get(&key.0)?;
                Some(duration(best.get(key)?).saturating_sub(*m))
            })
            .collect();
        let warmup_ms = median(&excesses).unwrap_or(0);

        // Stages the log shows were submitted, with their tasks.
        let with_tasks: BTreeSet<StageId> = best.keys().map(|(s, _)| *s).collect();
        let submitted: BTreeSet<StageId> = raw
            .stages
            .iter()
            .filter(|(id, s)| s.submit_ms.is_some() || with_tasks.contains(id))
            .map(|(id, _)| *id)
            .chain(with_tasks.iter().copied())
            .collect();
        let mut stage_tasks: BTreeMap<StageId, Vec<u64>> = BTreeMap::new();
        let mut last_finish: BTreeMap<StageId, u64> = BTreeMap::new();
        let mut first_launch: BTreeMap<StageId, u64> = BTreeMap::new();
        for ((stage, index), t) in &best {
            let mut d = duration(t);
            if firsts.contains(&(*stage, *index)) {
                d = d.saturating_sub(warmup_ms);
            }
            stage_tasks.entry(*stage).or_default().push(d);
            let lf = last_finish.entry(*stage).or_insert(0);
            *lf = (*lf).max(t.finish_ms);
            let fl = first_launch.entry(*stage).or_insert(u64::MAX);
            *fl = (*fl).min(t.launch_ms);
        }
        let stage_submit = |id: StageId| -> u64 {
            raw.stages
                .get(&id)
                .and_then(|s| s.submit_ms)
                .or_else(|| first_launch.get(&id).copied())
                .unwrap_or(start)
        };
        let stage_complete = |id: StageId| -> u64 {
            raw.stages
                .get(&id)
                .and_then(|s| s.complete_ms)
                .or_else(|| last_finish.get(&id).copied())
                .unwrap_or_else(|| stage_submit(id))
        };

        // Jobs in submission order.
        let mut jobs: Vec<(JobId, &RawJob)> = raw.jobs.iter().map(|(id, j)| (*id, j)).collect();
        jobs.sort_by_key(|(id, j)| (j.submit_ms, *id));
        let job_end = |j: &RawJob, stages: &[StageId]| -> u64 {
            j.end_ms.unwrap_or_else(|| {
                stages
                    .iter()
                    .map(|s| stage_complete(*s))
                    .max()
                    .unwrap_or(j.submit_ms)
            })
        };
        // Each submitted stage belongs to one job: the one the log says, else the first
        // (in submission order) that lists it and was submitted by the time it was.
        let mut owner: BTreeMap<StageId, usize> = BTreeMap::new();
        for &id in &submitted {
            let said = raw
                .stages
                .get(&id)
                .and_then(|s| s.job)
                .and_then(|j| jobs.iter().position(|(jid, _)| *jid == j));
            let listed = || {
                jobs.iter()
                    .position(|(_, j)| j.stages.contains(&id) && j.submit_ms <= stage_submit(id))
                    .or_else(|| jobs.iter().position(|(_, j)| j.stages.contains(&id)))
                    .or_else(|| {
                        jobs.iter()
                            .rposition(|(_, j)| j.submit_ms <= stage_submit(id))
                    })
            };
            if let Some(pos) = said.or_else(listed) {
                owner.insert(id, pos);
            }
        }
        let mut job_stage_ids: Vec<Vec<StageId>> = vec![Vec::new(); jobs.len()];
        for (&id, &pos) in &owner {
            job_stage_ids[pos].push(id);
        }
        for ids in &mut job_stage_ids {
            ids.sort_by_key(|id| (stage_submit(*id), *id));
        }
        // Shuffle-map stages: their tasks say so, or another stage names them as a parent.
        let mut shuffle_map: BTreeSet<StageId> = raw
            .stages
            .iter()
            .filter(|(_, s)| s.shuffle_map)
            .map(|(id, _)| *id)
            .collect();
        let parents_of = |id: StageId, pos: usize| -> Vec<StageId> {
            match raw.stages.get(&id).and_then(|s| s.parents.clone()) {
                Some(p) => p.into_iter().filter(|p| submitted.contains(p)).collect(),
                // Spindle names no parents: the job's stages completed by its submission.
                None => job_stage_ids[pos]
                    .iter()
                    .copied()
                    .filter(|o| *o != id && stage_complete(*o) <= stage_submit(id))
                    .collect(),
            }
        };
        let mut all_parents: BTreeMap<StageId, Vec<StageId>> = BTreeMap::new();
        for (&id, &pos) in &owner {
            let p = parents_of(id, pos);
            shuffle_map.extend(p.iter().copied());
            all_parents.insert(id, p);
        }
        for s in raw.stages.values() {
            if let Some(p) = &s.parents {
                shuffle_map.extend(p.iter().copied());
            }
        }

        let mut out_jobs = Vec::with_capacity(jobs.len());
        let mut job_spans = Vec::with_capacity(jobs.len());
        for (pos, (id, j)) in jobs.iter().enumerate() {
            let ids = &job_stage_ids[pos];
            let end = job_end(j, ids);
            job_spans.push((rel(j.submit_ms), rel(end)));
            let (anchor, anchor_ms) = anchor_before(j.submit_ms, start, &jobs[..pos], |k| {
                let (_, kj) = jobs[k];
                job_end(kj, &job_stage_ids[k])
            });
            let stages = ids
                .iter()
                .map(|&sid| {
                    let parents = all_parents.get(&sid).cloned().unwrap_or_default();
                    let trigger = parents
                        .iter()
                        .map(|p| stage_complete(*p))
                        .chain(std::iter::once(j.submit_ms))
                        .max()
                        .unwrap_or(j.submit_ms);
                    let complete = stage_complete(sid);
                    let tasks = stage_tasks.get(&sid).cloned().unwrap_or_default();
                    let tail_from = last_finish
                        .get(&sid)
                        .copied()
                        .unwrap_or_else(|| stage_submit(sid));
                    Stage {
                        id: sid,
                        parents,
                        delay_ms: stage_submit(sid).saturating_sub(trigger),
                        tasks,
                        complete_delay_ms: complete.saturating_sub(tail_from),
                        shuffle_map: shuffle_map.contains(&sid),
                    }
                })
                .collect::<Vec<_>>();
            let last_stage = ids
                .iter()
                .map(|s| stage_complete(*s))
                .max()
                .unwrap_or(j.submit_ms)
                .max(j.submit_ms);
            out_jobs.push(Job {
                id: *id,
                anchor,
                delay_ms: j.submit_ms.saturating_sub(anchor_ms),
                listed_stages: j
                    .stages
                    .iter()
                    .map(|s| (*s, shuffle_map.contains(s)))
                    .collect(),
                stages,
                end_delay_ms: end.saturating_sub(last_stage),
            });
        }
        if out_jobs
            .iter()
            .all(|j| j.stages.iter().all(|s| s.tasks.is_empty()))
        {
            // Tasks, but no job to run them in (the log lost its job events).
            return Err(WhatIfError::NoTasks { events: raw.events });
        }
        let end_abs = start + app_end;
        let (end_anchor, end_anchor_ms) = anchor_before(end_abs, start, &jobs, |k| {
            let (_, kj) = jobs[k];
            job_end(kj, &job_stage_ids[k])
        });

        // Executors: spans, start latencies, the ones asked for at the start.
        let first_job = jobs.first().map_or(u64::MAX, |(_, j)| j.submit_ms);
        let first_job_end = jobs
            .first()
            .map_or(u64::MAX, |(_, j)| job_end(j, &job_stage_ids[0]));
        let mut execs: Vec<&RawExecutor> = raw.executors.values().collect();
        execs.sort_by_key(|e| e.added_ms);
        let spans: Vec<(u64, u64)> = execs
            .iter()
            .map(|e| (rel(e.added_ms), rel(e.removed_ms.unwrap_or(end_abs))))
            .collect();
        let start_latencies_ms = execs
            .iter()
            .filter_map(|e| e.request_ms.map(|r| e.added_ms.saturating_sub(r)))
            .collect();
        let initial_arrivals_ms = execs
            .iter()
            .filter(|e| match e.request_ms {
                Some(r) => r <= first_job,
                None => e.added_ms <= first_job_end,
            })
            .map(|e| rel(e.added_ms))
            .collect();
        let executor_cores = raw
            .conf
            .get("spark.executor.cores")
            .and_then(|v| v.trim().parse().ok())
            .or(raw.executor_cores)
            .or_else(|| execs.iter().find_map(|e| e.cores));

        Ok(Self {
            format: raw
                .format
                .clone()
                .unwrap_or(LogFormat::Spark { version: None }),
            app_id: raw.app_id.clone(),
            app_name: raw.app_name.clone(),
            conf: raw.conf.clone(),
            executor_cores,
            num_tasks: best.len(),
            jobs: out_jobs,
            end_anchor,
            end_delay_ms: end_abs.saturating_sub(end_anchor_ms),
            initial_arrivals_ms,
            warmup_ms,
            start_latencies_ms,
            stop_latencies_ms: super::measure::stop_latencies(&raw, &shuffle_map),
            measured: Measured::from_spans(&spans, &job_spans, app_end),
        })
    }
}

/// The latest event at or before `at` among the application's start and the starts and
/// ends of `earlier` jobs (positions 0..), ends winning ties; with its absolute time.
fn anchor_before<J>(
    at: u64,
    app_start: u64,
    earlier: &[(JobId, &J)],
    end_of: impl Fn(usize) -> u64,
) -> (Anchor, u64)
where
    J: SubmitTime,
{
    let mut best = (Anchor::AppStart, app_start);
    for (k, (_, j)) in earlier.iter().enumerate() {
        let s = j.submit_time();
        if s <= at && s >= best.1 {
            best = (Anchor::JobStart(k), s);
        }
    }
    for k in 0..earlier.len() {
        let e = end_of(k);
        if e <= at && e >= best.1 {
            best = (Anchor::JobEnd(k), e);
        }
    }
    best
}

pub(super) trait SubmitTime {
    fn submit_time(&self) -> u64;
}

impl SubmitTime for RawJob {
    fn submit_time(&self) -> u64 {
        self.submit_ms
    }
}

/// The median (the mean of the middle two for an even count), or `None` for no values.
pub(super) fn median(values: &[u64]) -> Option<u64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}
