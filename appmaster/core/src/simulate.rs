//! Replays recorded dynamic-allocation cases through the allocation manager
//! (`appmaster simulate-allocation --cases FILE.jsonl` reads the file and prints these lines); format in `dra-cases.md`.
//!
//! Each input line is one case (`name`, `conf`, `events`, ...). Each output line reports,
//! for that case, either why the settings were refused or the manager's state before any
//! event and after every event.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::allocation::config::AllocationConfig;
use crate::allocation::event::{
    JobStageInfo, ListenerEvent, StageAttempt, StorageLevel, TaskEndReason, TaskInfo,
};
use crate::allocation::manager::ExecutorAllocationManager;
use crate::ids::{ExecutorId, StageId};
use crate::sparkconf::keys;

/// Replays every case of a JSON-lines text; returns one output line per non-blank line.
pub fn run_lines(input: &str) -> Vec<String> {
    input
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let output = match serde_json::from_str::<Value>(line) {
                Ok(case) => run_case(&case),
                Err(e) => CaseOutput {
                    name: format!("line {}", n + 1),
                    error: Some(format!("invalid JSON: {e}")),
                    states: Vec::new(),
                },
            };
            serde_json::to_string(&output).unwrap_or_else(|e| {
                format!(
                    "{{\"name\":null,\"error\":\"cannot serialize output: {e}\",\"states\":[]}}"
                )
            })
        })
        .collect()
}

/// What the simulator reports for one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseOutput {
    /// The case's name.
    pub name: String,
    /// Why the settings were refused (naming the Spark keys), or `None`.
    pub error: Option<String>,
    /// The state before any event (`i` = -1) and after each event.
    pub states: Vec<StateSnapshot>,
}

/// The manager's state after one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateSnapshot {
    /// The event index (-1 before any event).
    pub i: i64,
    /// The clock, in ms.
    pub t: u64,
    /// The executor target.
    pub target: i64,
    /// Executors needed for pending and running tasks, after the ratio.
    pub max_needed: i64,
    /// The next ramp-up step.
    pub num_to_add: i64,
    /// When the backlog timer fires, if set.
    pub add_time: Option<u64>,
    /// Tasks running in all stages.
    pub running_tasks: i64,
    /// A probe event's result, else null.
    pub returned: Value,
    /// Pending tasks with a locality preference.
    pub locality_aware_tasks: i64,
    /// Per host, the pending tasks that would like it.
    pub host_to_local_task_count: BTreeMap<String, i64>,
    /// Every tracked executor.
    pub executors: BTreeMap<ExecutorId, ExecutorSnapshot>,
    /// The idle timeout of an executor holding nothing, in ms (null: never): Spark's
    /// `executorIdleTimeout`, or the eager policy's.
    pub idle_timeout: Option<u64>,
    /// The median of the executor start latencies fed in so far, in ms.
    pub median_start_latency: Option<u64>,
}

/// One executor's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutorSnapshot {
    /// Runs no task and holds no shuffle data of an active job.
    pub idle: bool,
    /// When it times out if nothing changes, or null.
    pub deadline: Option<u64>,
    /// Asked to be killed.
    pub pending_removal: bool,
    /// Asked to be decommissioned.
    pub decommissioning: bool,
}

/// One step of a case: a listener event, the clock, or a probe of one internal step.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Event(ListenerEvent),
    Tick,
    UpdateTarget,
    AddRound,
    RemoveRequest(Vec<ExecutorId>),
    Backlogged,
    QueueEmpty,
    Reset,
    /// An executor's measured start latency (asked → registered), in ms.
    StartLatency(u64),
    /// An event type this simulator does not know: recorded as a no-op.
    Ignored,
}

/// Replays one case (already parsed from JSON).
pub fn run_case(case: &Value) -> CaseOutput {
    let name = match case.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let refused = |error: String| CaseOutput {
        name: name.clone(),
        error: Some(error),
        states: Vec::new(),
    };
    let empty = Map::new();
    let conf = match case.get("conf") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return refused("conf: should be an object".to_owned()),
    };
    let config = match config_from_case(conf) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let mut manager = match ExecutorAllocationManager::new(config) {
        Ok(m) => m,
        Err(e) => return refused(format!("{e} [{}]", e.keys().join(", "))),
    };
    let events: &[Value] = match case.get("events") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(v)) => v,
        Some(_) => return refused("events: should be an array".to_owned()),
    };
    let mut steps = Vec::with_capacity(events.len());
    let mut now = 0u64;
    for (i, ev) in events.iter().enumerate() {
        match parse_step(ev) {
            Ok((t, step)) => {
                now = t.unwrap_or(now);
                steps.push((now, step));
            }
            Err(e) => return refused(format!("event {i}: {e}")),
        }
    }
    let mut states = Vec::with_capacity(steps.len() + 1);
    states.push(snapshot(&manager, -1, 0, Value::Null));
    for (i, (now, step)) in steps.into_iter().enumerate() {
        let returned = apply(&mut manager, step, now);
        states.push(snapshot(&manager, i as i64, now, returned));
    }
    CaseOutput {
        name,
        error: None,
        states,
    }
}

fn apply(m: &mut ExecutorAllocationManager, step: Step, now: u64) -> Value {
    match step {
        Step::Event(event) => {
            m.on_event(&event, now);
            Value::Null
        }
        Step::Tick => {
            m.tick(now);
            Value::Null
        }
        Step::UpdateTarget => Value::from(m.update_and_sync_num_executors_target(now)),
        Step::AddRound => Value::from(m.add_executors_round(now)),
        Step::RemoveRequest(ids) => Value::from(
            m.remove_executors(&ids)
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
        ),
        Step::Backlogged => {
            m.on_scheduler_backlogged(now);
            Value::Null
        }
        Step::QueueEmpty => {
            m.on_scheduler_queue_empty();
            Value::Null
        }
        Step::Reset => {
            m.reset();
            Value::Null
        }
        Step::StartLatency(ms) => {
            m.on_executor_start_latency(ms);
            Value::Null
        }
        Step::Ignored => Value::Null,
    }
}

fn snapshot(m: &ExecutorAllocationManager, i: i64, t: u64, returned: Value) -> StateSnapshot {
    StateSnapshot {
        i,
        t,
        target: m.num_executors_target(),
        max_needed: m.max_num_executors_needed(),
        num_to_add: m.num_executors_to_add(),
        add_time: m.add_time(),
        running_tasks: m.total_running_tasks(),
        returned,
        locality_aware_tasks: m.locality_aware_tasks(),
        host_to_local_task_count: m.host_to_local_task_count().clone(),
        executors: m
            .executor_monitor()
            .executors()
            .iter()
            .map(|(id, e)| {
                (
                    id.clone(),
                    ExecutorSnapshot {
                        idle: e.is_idle(),
                        deadline: e.deadline(),
                        pending_removal: e.pending_removal(),
                        decommissioning: e.decommissioning(),
                    },
                )
            })
            .collect(),
        idle_timeout: m.executor_idle_timeout_ms(),
        median_start_latency: m.median_executor_start_latency_ms(),
    }
}

/// Reads a case's `conf`. Durations are in ms; the ones Spark reads in seconds are
/// floored to whole seconds as Spark's conversion does (and a negative one stays negative so
/// it is refused). Keys that look like Spark or Spindle properties (`spark.*`, `spindle.*`,
/// e.g. `spindle.dynamicAllocation.policy`) are parsed first with Spark's parser; the case
/// keys then override them. Spark's test mode is
/// on (no shuffle service needed), as in the suites the cases come from.
fn config_from_case(conf: &Map<String, Value>) -> Result<AllocationConfig, String> {
    let spark_props: BTreeMap<String, String> = conf
        .iter()
        .filter(|(k, _)| k.starts_with("spark.") || k.starts_with("spindle."))
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    let mut c = AllocationConfig::from_spark_conf(&spark_props).map_err(|e| e.to_string())?;
    if !spark_props.contains_key(keys::TESTING) {
        c.testing = true;
    }
    let field = |key: &str| conf.get(key);
    if let Some(v) = field("minExecutors") {
        c.min_executors = int_or(v, "minExecutors", 0)?;
    }
    if let Some(v) = field("maxExecutors") {
        c.max_executors = int_or(v, "maxExecutors", i64::from(i32::MAX))?;
    }
    if let Some(v) = field("initialExecutors") {
        c.initial_executors = opt_int(v, "initialExecutors")?;
    }
    if let Some(v) = field("executorInstances") {
        c.executor_instances = opt_int(v, "executorInstances")?;
    }
    if let Some(v) = field("executorIdleTimeoutMs") {
        c.executor_idle_timeout_ms = opt_int(v, "executorIdleTimeoutMs")?.map(whole_seconds);
    }
    if let Some(v) = field("cachedExecutorIdleTimeoutMs") {
        c.cached_executor_idle_timeout_ms =
            opt_int(v, "cachedExecutorIdleTimeoutMs")?.map(whole_seconds);
    }
    if let Some(v) = field("schedulerBacklogTimeoutMs") {
        c.scheduler_backlog_timeout_ms =
            opt_int(v, "schedulerBacklogTimeoutMs")?.map_or(i64::MAX, whole_seconds);
        if field("sustainedSchedulerBacklogTimeoutMs").is_none()
            && !spark_props.contains_key(keys::SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT)
        {
            c.sustained_scheduler_backlog_timeout_ms = c.scheduler_backlog_timeout_ms;
        }
    }
    if let Some(v) = field("sustainedSchedulerBacklogTimeoutMs") {
        c.sustained_scheduler_backlog_timeout_ms =
            opt_int(v, "sustainedSchedulerBacklogTimeoutMs")?.map_or(i64::MAX, whole_seconds);
    }
    if let Some(v) = field("executorCores") {
        c.executor_cores = int_or(v, "executorCores", 1)?;
    }
    if let Some(v) = field("taskCpus") {
        c.task_cpus = int_or(v, "taskCpus", 1)?;
    }
    if let Some(v) = field("executorAllocationRatio") {
        c.executor_allocation_ratio = match v {
            Value::Null => 1.0,
            v => v
                .as_f64()
                .ok_or("executorAllocationRatio: should be a number")?,
        };
    }
    if let Some(v) = field("shuffleServiceEnabled") {
        c.shuffle_service_enabled = flag(v, "shuffleServiceEnabled")?;
    }
    if let Some(v) = field("shuffleTracking") {
        c.shuffle_tracking_enabled = flag(v, "shuffleTracking")?;
    }
    if let Some(v) = field("shuffleTrackingTimeoutMs") {
        c.shuffle_tracking_timeout_ms = opt_int(v, "shuffleTrackingTimeoutMs")?;
    }
    if let Some(v) = field("fetchRddFromShuffleService") {
        c.shuffle_service_fetch_rdd_enabled = flag(v, "fetchRddFromShuffleService")?;
    }
    if let Some(v) = field("decommissionEnabled") {
        c.decommission_enabled = flag(v, "decommissionEnabled")?;
    }
    Ok(c)
}

/// Spark reads these timeouts in whole seconds: 1500 ms is 1 s, -500 ms is refused.
fn whole_seconds(ms: i64) -> i64 {
    ms.div_euclid(1000).saturating_mul(1000)
}

fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
    })
}

fn int_or(v: &Value, key: &str, null: i64) -> Result<i64, String> {
    match v {
        Value::Null => Ok(null),
        v => as_int(v).ok_or_else(|| format!("{key}: should be an integer")),
    }
}

fn opt_int(v: &Value, key: &str) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        v => as_int(v)
            .map(Some)
            .ok_or_else(|| format!("{key}: should be an integer or null")),
    }
}

fn flag(v: &Value, key: &str) -> Result<bool, String> {
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(format!("{key}: should be a boolean")),
    }
}

/// Field access for one event object.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn int(&self, key: &str) -> Result<i64, String> {
        let v = self
            .obj
            .get(key)
            .ok_or_else(|| format!("missing {key:?}"))?;
        as_int(v).ok_or_else(|| format!("{key:?} should be an integer"))
    }

    /// A job, stage, shuffle or RDD id, or a stage attempt: a non-negative 32-bit integer.
    fn id<T: From<u32>>(&self, key: &str) -> Result<T, String> {
        let v = self.int(key)?;
        u32::try_from(v)
            .map(T::from)
            .map_err(|_| format!("{key:?} should be a non-negative 32-bit integer"))
    }

    fn opt_id<T: From<u32>>(&self, key: &str) -> Result<Option<T>, String> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.id(key).map(Some),
        }
    }

    fn int_or(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(_) => self.int(key),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("{key:?} should be a boolean")),
        }
    }

    fn string(&self, key: &str) -> Result<String, String> {
        match self.obj.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(format!("{key:?} should be a string")),
            None => Err(format!("missing {key:?}")),
        }
    }

    fn executor(&self, key: &str) -> Result<ExecutorId, String> {
        self.string(key).map(ExecutorId::from)
    }

    fn str_or<'b>(&'b self, key: &str, default: &'b str) -> &'b str {
        self.obj.get(key).and_then(Value::as_str).unwrap_or(default)
    }

    fn stage(&self) -> Result<StageAttempt, String> {
        let attempt = match self.obj.get("attempt") {
            None | Some(Value::Null) => 0,
            Some(_) => self.id("attempt")?,
        };
        Ok(StageAttempt::new(self.id("stage")?, attempt))
    }

    fn task(&self) -> Result<TaskInfo, String> {
        Ok(TaskInfo {
            index: self.int("task")?,
            executor_id: self.executor("executor")?,
            speculative: self.bool_or("speculative", false)?,
        })
    }

    fn executor_ids(&self, key: &str) -> Result<Vec<ExecutorId>, String> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(ExecutorId::from(s)),
                    Value::Number(n) => Ok(ExecutorId::from(n.to_string())),
                    _ => Err(format!("{key:?} should list executor ids")),
                })
                .collect(),
            Some(Value::String(s)) => Ok(vec![ExecutorId::from(s)]),
            Some(_) => Err(format!("{key:?} should list executor ids")),
        }
    }
}

fn parse_level(level: &str) -> StorageLevel {
    let level = level.to_ascii_lowercase();
    if level == "none" || level.is_empty() {
        return StorageLevel::NONE;
    }
    // Spark's OFF_HEAP level also sets useDisk.
    let off_heap = level.contains("off_heap");
    StorageLevel {
        use_memory: level.contains("memory") || off_heap,
        use_disk: level.contains("disk") || off_heap,
    }
}

fn parse_reason(reason: &str) -> TaskEndReason {
    let reason = reason.to_ascii_lowercase();
    if reason == "success" {
        TaskEndReason::Success
    } else if reason.contains("kill") {
        TaskEndReason::TaskKilled
    } else {
        TaskEndReason::Failed
    }
}

/// Each item of an optional JSON list (absent or null: none), parsed by `item`.
fn parse_list<T>(
    v: Option<&Value>,
    name: &str,
    item: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = v
        .as_array()
        .ok_or_else(|| format!("\"{name}\" should be a list"))?;
    items.iter().map(item).collect()
}

fn parse_locality(v: Option<&Value>) -> Result<Vec<Vec<String>>, String> {
    parse_list(v, "locality", |hosts| match hosts {
        Value::Null => Ok(Vec::new()),
        Value::Array(hosts) => hosts
            .iter()
            .map(|h| match h {
                Value::String(s) => Ok(s.clone()),
                Value::Object(o) => o
                    .get("host")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| "a location should name its host".to_owned()),
                _ => Err("hosts should be strings".to_owned()),
            })
            .collect(),
        Value::String(s) => Ok(vec![s.clone()]),
        _ => Err("\"locality\" should list hosts per task".to_owned()),
    })
}

fn parse_job_stages(v: Option<&Value>) -> Result<Vec<JobStageInfo>, String> {
    parse_list(v, "stages", |s| match s {
        Value::Object(obj) => {
            let f = Fields { obj };
            Ok(JobStageInfo {
                stage_id: f.id("stage")?,
                shuffle_dep_id: f.opt_id("shuffle")?,
            })
        }
        v => as_int(v)
            .and_then(|id| u32::try_from(id).ok())
            .map(|stage_id| JobStageInfo {
                stage_id: StageId(stage_id),
                shuffle_dep_id: None,
            })
            .ok_or_else(|| "a stage should be {\"stage\", \"shuffle\"}".to_owned()),
    })
}

/// Parses one event: its time (if given) and the step.
fn parse_step(ev: &Value) -> Result<(Option<u64>, Step), String> {
    let obj = ev.as_object().ok_or("should be an object")?;
    let f = Fields { obj };
    let t = match obj.get("t") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            as_int(v)
                .and_then(|t| u64::try_from(t).ok())
                .ok_or("\"t\" should be a non-negative integer")?,
        ),
    };
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or("missing \"type\"")?;
    let step = parse_kind(kind, &f).map_err(|e| format!("{kind}: {e}"))?;
    Ok((t, step))
}

/// Parses the body of one event of type `kind`.
fn parse_kind(kind: &str, f: &Fields<'_>) -> Result<Step, String> {
    let obj = f.obj;
    let event = |e| Ok(Step::Event(e));
    match kind {
        "tick" => Ok(Step::Tick),
        "update_target" => Ok(Step::UpdateTarget),
        "add_round" => Ok(Step::AddRound),
        "remove_request" => {
            let mut ids = f.executor_ids("executors")?;
            if ids.is_empty() && obj.contains_key("executor") {
                ids.push(f.executor("executor")?);
            }
            Ok(Step::RemoveRequest(ids))
        }
        "backlogged" => Ok(Step::Backlogged),
        "queue_empty" => Ok(Step::QueueEmpty),
        "reset" => Ok(Step::Reset),
        "executor_start_latency" => {
            let ms = f.int("ms")?;
            u64::try_from(ms)
                .map(Step::StartLatency)
                .map_err(|_| "\"ms\" should be a non-negative integer".to_owned())
        }
        "job_start" => event(ListenerEvent::JobStart {
            job_id: f.id("job")?,
            stages: parse_job_stages(obj.get("stages"))?,
        }),
        "job_end" => event(ListenerEvent::JobEnd {
            job_id: f.id("job")?,
        }),
        "stage_submitted" => event(ListenerEvent::StageSubmitted {
            stage: f.stage()?,
            num_tasks: f.int("tasks")?,
            task_locality_preferences: parse_locality(obj.get("locality"))?,
        }),
        "stage_completed" => event(ListenerEvent::StageCompleted { stage: f.stage()? }),
        "task_start" => event(ListenerEvent::TaskStart {
            stage: f.stage()?,
            task: f.task()?,
        }),
        "task_end" => event(ListenerEvent::TaskEnd {
            stage: f.stage()?,
            task: f.task()?,
            reason: parse_reason(f.str_or("reason", "success")),
        }),
        "speculative_task_submitted" => event(ListenerEvent::SpeculativeTaskSubmitted {
            stage: f.stage()?,
            task_index: f.int_or("task", -1)?,
        }),
        "unschedulable_taskset_added" | "unschedulable_task_set_added" => {
            event(ListenerEvent::UnschedulableTaskSetAdded { stage: f.stage()? })
        }
        "unschedulable_taskset_removed" | "unschedulable_task_set_removed" => {
            event(ListenerEvent::UnschedulableTaskSetRemoved { stage: f.stage()? })
        }
        "executor_added" => event(ListenerEvent::ExecutorAdded {
            executor_id: f.executor("executor")?,
        }),
        "executor_removed" => event(ListenerEvent::ExecutorRemoved {
            executor_id: f.executor("executor")?,
        }),
        "block_cached" | "block_updated" => event(ListenerEvent::BlockUpdated {
            executor_id: f.executor("executor")?,
            rdd_id: f.id("rdd")?,
            split_index: f.int_or("split", 0)?,
            storage_level: parse_level(f.str_or("level", "memory")),
        }),
        "block_uncached" => event(ListenerEvent::BlockUpdated {
            executor_id: f.executor("executor")?,
            rdd_id: f.id("rdd")?,
            split_index: f.int_or("split", 0)?,
            storage_level: StorageLevel::NONE,
        }),
        "rdd_unpersisted" => event(ListenerEvent::UnpersistRdd {
            rdd_id: f.id("rdd")?,
        }),
        "shuffle_written" => event(ListenerEvent::ShuffleBlockUpdated {
            executor_id: f.executor("executor")?,
            shuffle_id: f.id("shuffle")?,
        }),
        "shuffle_removed" => event(ListenerEvent::ShuffleCleaned {
            shuffle_id: f.id("shuffle")?,
        }),
        _ => Ok(Step::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(case: &str) -> Value {
        let lines = run_lines(&case.replace('\n', " "));
        assert_eq!(lines.len(), 1);
        serde_json::from_str(&lines[0]).unwrap()
    }

    #[test]
    fn refused_conf_names_the_keys() {
        let out =
            run(r#"{"name": "bad", "conf": {"minExecutors": 3, "maxExecutors": 2}, "events": []}"#);
        assert_eq!(out["name"], "bad");
        let err = out["error"].as_str().unwrap();
        assert!(
            err.contains("spark.dynamicAllocation.minExecutors"),
            "{err}"
        );
        assert!(
            err.contains("spark.dynamicAllocation.maxExecutors"),
            "{err}"
        );
        assert_eq!(out["states"], Value::Array(Vec::new()));
    }

    #[test]
    fn backlog_under_one_second_is_refused() {
        let out = run(r#"{"name": "b", "conf": {"schedulerBacklogTimeoutMs": 999}}"#);
        assert!(out["error"]
            .as_str()
            .unwrap()
            .contains("spark.dynamicAllocation.schedulerBacklogTimeout"));
        let out = run(r#"{"name": "b", "conf": {"executorIdleTimeoutMs": -1}}"#);
        assert!(out["error"]
            .as_str()
            .unwrap()
            .contains("spark.dynamicAllocation.executorIdleTimeout"));
    }

    #[test]
    fn states_before_and_after_every_event() {
        let out = run(
            r#"{"name": "s", "conf": {"minExecutors": 0, "maxExecutors": 4, "initialExecutors": 1,
            "executorIdleTimeoutMs": 3000, "schedulerBacklogTimeoutMs": 1000},
            "events": [
              {"t": 5, "type": "executor_added", "executor": "a"},
              {"t": 10, "type": "stage_submitted", "stage": 0, "tasks": 3,
               "locality": [["h1"], [], ["h1", "h2"]]},
              {"t": 10, "type": "task_start", "stage": 0, "task": 0, "executor": "a"},
              {"t": 1010, "type": "update_target"},
              {"t": 1010, "type": "remove_request", "executors": ["a"]},
              {"type": "add_round"}
            ]}"#,
        );
        assert_eq!(out["error"], Value::Null);
        let states = out["states"].as_array().unwrap();
        assert_eq!(states.len(), 7);
        assert_eq!(states[0]["i"], -1);
        assert_eq!(states[0]["target"], 1);
        assert_eq!(states[0]["add_time"], Value::Null);
        assert_eq!(states[1]["executors"]["a"]["deadline"], 3005);
        assert_eq!(states[1]["executors"]["a"]["idle"], true);
        assert_eq!(states[2]["add_time"], 1010);
        assert_eq!(states[2]["max_needed"], 3);
        assert_eq!(states[2]["locality_aware_tasks"], 2);
        assert_eq!(states[2]["host_to_local_task_count"]["h1"], 2);
        assert_eq!(states[3]["running_tasks"], 1);
        assert_eq!(states[3]["executors"]["a"]["deadline"], Value::Null);
        assert_eq!(states[4]["returned"], 1);
        assert_eq!(states[4]["target"], 2);
        assert_eq!(states[4]["num_to_add"], 2);
        assert_eq!(states[5]["returned"], Value::Array(Vec::new()));
        assert_eq!(states[6]["t"], 1010);
        assert_eq!(states[6]["returned"], 1);
        assert_eq!(states[6]["target"], 3);
    }

    #[test]
    fn seconds_keys_are_floored() {
        assert_eq!(whole_seconds(1500), 1000);
        assert_eq!(whole_seconds(999), 0);
        assert_eq!(whole_seconds(-500), -1000);
        let out = run(r#"{"name": "s", "conf": {"executorIdleTimeoutMs": 3500},
            "events": [{"t": 0, "type": "executor_added", "executor": "a"}]}"#);
        assert_eq!(out["states"][1]["executors"]["a"]["deadline"], 3000);
    }

    #[test]
    fn spark_properties_in_conf() {
        let out = run(
            r#"{"name": "p", "conf": {"spark.dynamicAllocation.minExecutors": "2",
            "spark.dynamicAllocation.maxExecutors": "1"}}"#,
        );
        assert!(out["error"].as_str().unwrap().contains("minExecutors"));
        let out = run(
            r#"{"name": "p", "conf": {"spark.dynamicAllocation.initialExecutors": "3",
            "spark.dynamicAllocation.executorIdleTimeout": "2s"},
            "events": [{"t": 1, "type": "executor_added", "executor": "x"}]}"#,
        );
        assert_eq!(out["states"][0]["target"], 3);
        assert_eq!(out["states"][1]["executors"]["x"]["deadline"], 2001);
    }

    #[test]
    fn the_policy_comes_from_the_conf() {
        let out = run(
            r#"{"name": "e", "conf": {"spindle.dynamicAllocation.policy": "eager",
            "maxExecutors": 4, "initialExecutors": 0, "executorIdleTimeoutMs": 60000},
            "events": [
              {"t": 0, "type": "stage_submitted", "stage": 0, "tasks": 6},
              {"t": 0, "type": "executor_added", "executor": "a"},
              {"t": 5, "type": "executor_start_latency", "executor": "a", "ms": 30}
            ]}"#,
        );
        assert_eq!(out["error"], Value::Null);
        let states = out["states"].as_array().unwrap();
        assert_eq!(states[1]["target"], 4);
        assert_eq!(states[1]["add_time"], Value::Null);
        assert_eq!(states[2]["idle_timeout"], 100);
        assert_eq!(states[2]["executors"]["a"]["deadline"], 100);
        assert_eq!(states[3]["median_start_latency"], 30);
        assert_eq!(states[3]["idle_timeout"], 120);
        assert_eq!(states[3]["executors"]["a"]["deadline"], 120);
        let out = run(r#"{"name": "e", "conf": {"spindle.dynamicAllocation.policy": "fast"}}"#);
        let err = out["error"].as_str().unwrap();
        assert!(
            err.contains("spindle.dynamicAllocation.policy") && err.contains("fast"),
            "{err}"
        );
    }

    #[test]
    fn bad_lines_are_reported() {
        let lines =
            run_lines("not json\n\n{\"name\": \"x\", \"events\": [{\"type\": \"task_start\"}]}\n");
        assert_eq!(lines.len(), 2);
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["name"], "line 1");
        let second: Value = serde_json::from_str(&lines[1]).unwrap();
        assert!(second["error"].as_str().unwrap().contains("task_start"));
    }
}
