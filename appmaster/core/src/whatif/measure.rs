//! Executor stop latency, measured from a dynamic-allocation run's own log: the log's events
//! are fed, at their times, to the allocation manager with the run's settings, which says
//! when it would have removed each executor; the log says when each one was gone. (Spark's
//! log records neither the kill request nor a removal decision.)

use std::collections::{BTreeMap, BTreeSet};

use super::workload::RawLog;
use crate::allocation::{
    AllocationConfig, ExecutorAllocationManager, JobStageInfo, ListenerEvent, StageAttempt,
    TaskEndReason, TaskInfo,
};
use crate::ids::{ExecutorId, ShuffleId, StageId};

/// Per executor the allocation manager removed and the log shows gone: from the manager's
/// decision to the removal, in ms (in the order of the decisions). Empty when the log's
/// run did not use dynamic allocation, or its settings do not parse.
pub(super) fn stop_latencies(raw: &RawLog, shuffle_map: &BTreeSet<StageId>) -> Vec<u64> {
    let dynamic = raw
        .conf
        .get("spark.dynamicAllocation.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !dynamic {
        return Vec::new();
    }
    let Ok(mut config) = AllocationConfig::from_spark_conf(&raw.conf) else {
        return Vec::new();
    };
    if config.validate().is_err() {
        // Spark accepted these settings; our defaults may differ (shuffle tracking).
        config.testing = true;
    }
    let Ok(mut manager) = ExecutorAllocationManager::new(config) else {
        return Vec::new();
    };
    let Some(start) = raw.app_start_ms.or(raw.first_ts) else {
        return Vec::new();
    };
    // (time, kind order, sequence) → event; ticks come after the events of their ms.
    let mut events: Vec<(u64, u64, ListenerEvent)> = Vec::new();
    let mut push = |t: u64, e: ListenerEvent| {
        let seq = events.len() as u64;
        events.push((t, seq, e));
    };
    for (id, e) in &raw.executors {
        push(
            e.added_ms,
            ListenerEvent::ExecutorAdded {
                executor_id: ExecutorId::from(id.as_str()),
            },
        );
        if let Some(r) = e.removed_ms {
            push(
                r,
                ListenerEvent::ExecutorRemoved {
                    executor_id: ExecutorId::from(id.as_str()),
                },
            );
        }
    }
    for (id, j) in &raw.jobs {
        push(
            j.submit_ms,
            ListenerEvent::JobStart {
                job_id: *id,
                stages: j
                    .stages
                    .iter()
                    .map(|s| JobStageInfo {
                        stage_id: *s,
                        shuffle_dep_id: shuffle_map.contains(s).then_some(ShuffleId(s.0)),
                    })
                    .collect(),
            },
        );
        if let Some(end) = j.end_ms {
            push(end, ListenerEvent::JobEnd { job_id: *id });
        }
    }
    let mut tasks_per_stage: BTreeMap<StageId, i64> = BTreeMap::new();
    for t in &raw.tasks {
        *tasks_per_stage.entry(t.stage).or_insert(0) += 1;
    }
    for (id, s) in &raw.stages {
        let stage = StageAttempt::new(*id, 0);
        if let Some(t) = s.submit_ms {
            let num_tasks = if s.num_tasks > 0 {
                i64::from(s.num_tasks)
            } else {
                tasks_per_stage.get(id).copied().unwrap_or(0)
            };
            push(
                t,
                ListenerEvent::StageSubmitted {
                    stage,
                    num_tasks,
                    task_locality_preferences: Vec::new(),
                },
            );
        }
        if let Some(t) = s.complete_ms {
            push(t, ListenerEvent::StageCompleted { stage });
        }
    }
    for t in &raw.tasks {
        let stage = StageAttempt::new(t.stage, 0);
        let task = TaskInfo {
            index: i64::from(t.index),
            executor_id: ExecutorId::from(t.executor.as_str()),
            speculative: false,
        };
        push(
            t.launch_ms,
            ListenerEvent::TaskStart {
                stage,
                task: task.clone(),
            },
        );
        push(
            t.finish_ms,
            ListenerEvent::TaskEnd {
                stage,
                task,
                reason: if t.success {
                    TaskEndReason::Success
                } else {
                    TaskEndReason::Failed
                },
            },
        );
    }
    events.sort_by_key(|(t, seq, _)| (*t, *seq));
    let end = raw.app_end_ms.unwrap_or(raw.last_ts);
    let mut decided: BTreeMap<ExecutorId, u64> = BTreeMap::new();
    let mut order = Vec::new();
    let mut next = events.into_iter().peekable();
    let mut tick = start;
    while tick <= end {
        while let Some((t, _, _)) = next.peek() {
            if *t > tick {
                break;
            }
            if let Some((t, _, e)) = next.next() {
                manager.on_event(&e, t);
            }
        }
        let outcome = manager.tick(tick);
        let quiet = outcome.is_quiet();
        for id in outcome.to_remove {
            decided.entry(id.clone()).or_insert_with(|| {
                order.push(id.clone());
                tick
            });
        }
        // A quiet round repeats until the next event or timer: skip to the round that
        // sees it, so a log spanning years (or a forged timestamp) costs no more rounds
        // than it has events.
        let next_event = next.peek().map(|(t, _, _)| *t);
        tick = match next_event
            .into_iter()
            .chain(manager.next_deadline_after(tick))
            .min()
        {
            Some(t) if quiet => next_round(start, tick, t),
            None if quiet => break,
            _ => tick + super::replay::TICK_MS,
        };
    }
    order
        .iter()
        .filter_map(|id| {
            let removed = raw.executors.get(id.as_str())?.removed_ms?;
            Some(removed.saturating_sub(decided[id]))
        })
        .collect()
}

/// The first round of the grid `start + k·TICK_MS` after `tick` at or after `t`.
pub(super) fn next_round(start: u64, tick: u64, t: u64) -> u64 {
    let step = super::replay::TICK_MS;
    let k = t.saturating_sub(start).div_ceil(step);
    start
        .saturating_add(k.saturating_mul(step))
        .max(tick + step)
}
