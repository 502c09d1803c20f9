//! Spindle's own event log ([`crate::eventlog`]): `{"ts": MS, "event": "...", ...}` lines.
//! Events this version does not know (a newer writer's) are skipped; a line that is not
//! JSON is an error, except the last one (the application may still be writing it).

use std::collections::{BTreeMap, VecDeque};

use super::workload::{LogFormat, RawExecutor, RawJob, RawLog, RawTask};
use super::WhatIfError;
use crate::eventlog::{AppEvent, LogLine};
use crate::ids::{JobId, StageId};

/// More executor asks outstanding than this are counted as this many: no cluster holds
/// that many executors for one application, and a log that says so is corrupt.
const MAX_OUTSTANDING_ASKS: i64 = 100_000;

pub(super) fn read(text: &str) -> Result<RawLog, WhatIfError> {
    let mut raw = RawLog {
        format: Some(LogFormat::Spindle),
        ..RawLog::default()
    };
    // Task launches by task id, and the target rises not yet answered by an executor.
    let mut launches: BTreeMap<u64, u64> = BTreeMap::new();
    let mut asks: VecDeque<u64> = VecDeque::new();
    super::read_json_lines(text, |value| {
        if value.get("event").and_then(|v| v.as_str()).is_none() {
            return Err("has no \"event\" field".to_owned());
        }
        raw.events += 1;
        // An event of a newer version, or one with fields this version does not know.
        if let Ok(LogLine { ts, event }) = serde_json::from_value::<LogLine>(value) {
            raw.saw(ts);
            apply(&mut raw, ts, event, &mut launches, &mut asks);
        }
        Ok(())
    })?;
    Ok(raw)
}

fn apply(
    raw: &mut RawLog,
    ts: u64,
    event: AppEvent,
    launches: &mut BTreeMap<u64, u64>,
    asks: &mut VecDeque<u64>,
) {
    match event {
        AppEvent::ApplicationStart {
            app_id,
            app_name,
            executor_cores,
            conf,
            ..
        } => {
            raw.app_start_ms = Some(ts);
            raw.app_id = Some(app_id);
            raw.app_name = Some(app_name);
            raw.executor_cores = Some(executor_cores);
            raw.conf = conf;
        }
        AppEvent::ApplicationEnd { .. } => raw.app_end_ms = Some(ts),
        AppEvent::JobStart { job, stages, .. } => {
            raw.jobs.insert(
                JobId(job),
                RawJob {
                    submit_ms: ts,
                    end_ms: None,
                    stages: stages.into_iter().map(StageId).collect(),
                },
            );
        }
        AppEvent::JobEnd { job, .. } => {
            if let Some(j) = raw.jobs.get_mut(&JobId(job)) {
                j.end_ms = Some(ts);
            }
        }
        AppEvent::StageSubmitted {
            stage,
            job,
            num_tasks,
            ..
        } => {
            let s = raw.stage(StageId(stage));
            s.submit_ms = Some(s.submit_ms.map_or(ts, |t| t.min(ts)));
            s.job = Some(JobId(job));
            s.num_tasks = num_tasks;
        }
        AppEvent::StageCompleted { stage, .. } => {
            let s = raw.stage(StageId(stage));
            s.complete_ms = Some(s.complete_ms.map_or(ts, |t| t.max(ts)));
        }
        AppEvent::TaskStart { task, .. } => {
            launches.insert(task.task_id, ts);
        }
        AppEvent::TaskEnd {
            stage,
            task,
            reason,
            duration_ms,
            ..
        } => {
            let launch = launches
                .remove(&task.task_id)
                .unwrap_or_else(|| ts.saturating_sub(duration_ms));
            raw.tasks.push(RawTask {
                stage: StageId(stage),
                index: task.index,
                executor: task.executor,
                launch_ms: launch,
                finish_ms: ts,
                success: reason == "Success",
            });
        }
        AppEvent::TargetChanged { old, new } => {
            // The application master asks for the difference at once; a drop cancels the
            // latest asks.
            // Bounded: a forged or corrupt target (the fuzzer's 1.7e12) must cost neither
            // memory nor time per executor it names.
            if new > old {
                let more = (new - old.max(0)).clamp(0, MAX_OUTSTANDING_ASKS);
                asks.extend(std::iter::repeat_n(ts, more as usize));
            } else {
                let fewer = (old - new.max(0)).clamp(0, asks.len() as i64);
                asks.truncate(asks.len() - fewer as usize);
            }
        }
        AppEvent::ExecutorAdded {
            executor, cores, ..
        } => {
            let request_ms = asks.pop_front();
            raw.executors.insert(
                executor,
                RawExecutor {
                    added_ms: ts,
                    removed_ms: None,
                    request_ms,
                    cores: Some(cores),
                },
            );
        }
        AppEvent::ExecutorRemoved { executor, .. } => {
            if let Some(e) = raw.executors.get_mut(&executor) {
                e.removed_ms = Some(ts);
            }
        }
        _ => {}
    }
}
