//! Spark's event log: one JSON object per line, `"Event"` naming the listener event, as
//! Spark's `JsonProtocol` writes it (3.x and 4.x). Only the fields the replay needs are read;
//! unknown events (SQL, streaming, block updates, ...) are skipped.

use serde_json::{Map, Value};

use super::workload::{LogFormat, RawJob, RawLog, RawTask};
use super::WhatIfError;
use crate::ids::{JobId, StageId};

/// Reads Spark's JSON lines. A line that does not parse is an error, except the last one
/// (an application still running, or one that died mid-write), as Spark's own replay
/// tolerates.
pub(super) fn read(text: &str) -> Result<RawLog, WhatIfError> {
    let mut raw = RawLog {
        format: Some(LogFormat::Spark { version: None }),
        ..RawLog::default()
    };
    super::read_json_lines(text, |value| {
        let Some(obj) = value.as_object() else {
            return Err("is not a JSON object".to_owned());
        };
        let Some(event) = obj.get("Event").and_then(Value::as_str) else {
            return Err("has no \"Event\" field".to_owned());
        };
        raw.events += 1;
        apply(&mut raw, event, obj).map_err(|e| format!("{event}: {e}"))
    })?;
    Ok(raw)
}

/// Field access with errors that name the field.
struct F<'a>(&'a Map<String, Value>);

impl<'a> F<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn u64(&self, key: &str) -> Result<u64, String> {
        self.opt_u64(key)?
            .ok_or_else(|| format!("missing \"{key}\""))
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_i64().map(|i| i.max(0) as u64))
                .map(Some)
                .ok_or_else(|| format!("\"{key}\" should be a number")),
        }
    }

    fn u32(&self, key: &str) -> Result<u32, String> {
        u32::try_from(self.u64(key)?).map_err(|_| format!("\"{key}\" is out of range"))
    }

    fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    /// An id Spark writes as a string (executor ids), accepting a number too.
    fn id_string(&self, key: &str) -> Result<String, String> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!("missing \"{key}\"")),
        }
    }

    fn obj(&self, key: &str) -> Result<Self, String> {
        self.get(key)
            .and_then(Value::as_object)
            .map(F)
            .ok_or_else(|| format!("missing \"{key}\""))
    }

    fn stage_ids(&self, key: &str) -> Result<Option<Vec<StageId>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|i| u32::try_from(i).ok())
                        .map(StageId)
                        .ok_or_else(|| format!("\"{key}\" should list stage ids"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("\"{key}\" should list stage ids")),
        }
    }
}

fn apply(raw: &mut RawLog, event: &str, obj: &Map<String, Value>) -> Result<(), String> {
    let f = F(obj);
    match event {
        "SparkListenerLogStart" => {
            raw.format = Some(LogFormat::Spark {
                version: f.str("Spark Version").map(str::to_owned),
            });
        }
        "SparkListenerApplicationStart" => {
            let ts = f.u64("Timestamp")?;
            raw.saw(ts);
            raw.app_start_ms = Some(ts);
            raw.app_id = f.str("App ID").map(str::to_owned);
            raw.app_name = f.str("App Name").map(str::to_owned);
        }
        "SparkListenerApplicationEnd" => {
            let ts = f.u64("Timestamp")?;
            raw.saw(ts);
            raw.app_end_ms = Some(ts);
        }
        "SparkListenerEnvironmentUpdate" => {
            // An object in Spark 3.x and 4.x; older versions wrote [key, value] pairs.
            match f.get("Spark Properties") {
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        if let Some(v) = v.as_str() {
                            raw.conf.insert(k.clone(), v.to_owned());
                        }
                    }
                }
                Some(Value::Array(pairs)) => {
                    for p in pairs {
                        if let Some([Value::String(k), Value::String(v)]) =
                            p.as_array().map(Vec::as_slice)
                        {
                            raw.conf.insert(k.clone(), v.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        "SparkListenerExecutorAdded" => {
            let ts = f.u64("Timestamp")?;
            raw.saw(ts);
            let id = f.id_string("Executor ID")?;
            let info = f.obj("Executor Info")?;
            let e = raw.executors.entry(id).or_default();
            e.added_ms = ts;
            e.removed_ms = None;
            e.request_ms = info.opt_u64("Request Time")?.filter(|t| *t > 0);
            e.cores = info
                .opt_u64("Total Cores")?
                .and_then(|c| u32::try_from(c).ok());
        }
        "SparkListenerExecutorRemoved" => {
            let ts = f.u64("Timestamp")?;
            raw.saw(ts);
            let id = f.id_string("Executor ID")?;
            if let Some(e) = raw.executors.get_mut(&id) {
                e.removed_ms = Some(ts);
            }
        }
        "SparkListenerJobStart" => {
            let ts = f.u64("Submission Time")?;
            raw.saw(ts);
            let job = JobId(f.u32("Job ID")?);
            let mut stages = Vec::new();
            if let Some(infos) = f.get("Stage Infos").and_then(Value::as_array) {
                for info in infos {
                    let info = info
                        .as_object()
                        .map(F)
                        .ok_or("\"Stage Infos\" should list objects")?;
                    let id = StageId(info.u32("Stage ID")?);
                    stages.push(id);
                    let parents = info.stage_ids("Parent IDs")?;
                    let num_tasks = info.opt_u64("Number of Tasks")?.unwrap_or(0);
                    let s = raw.stage(id);
                    if s.parents.is_none() {
                        s.parents = parents;
                    }
                    if s.num_tasks == 0 {
                        s.num_tasks = u32::try_from(num_tasks).unwrap_or(u32::MAX);
                    }
                }
            } else if let Some(ids) = f.stage_ids("Stage IDs")? {
                stages = ids;
            }
            raw.jobs.insert(
                job,
                RawJob {
                    submit_ms: ts,
                    end_ms: None,
                    stages,
                },
            );
        }
        "SparkListenerJobEnd" => {
            let ts = f.u64("Completion Time")?;
            raw.saw(ts);
            let job = JobId(f.u32("Job ID")?);
            if let Some(j) = raw.jobs.get_mut(&job) {
                j.end_ms = Some(ts);
            }
        }
        "SparkListenerStageSubmitted" => {
            let info = f.obj("Stage Info")?;
            let id = StageId(info.u32("Stage ID")?);
            let submitted = info.opt_u64("Submission Time")?;
            if let Some(ts) = submitted {
                raw.saw(ts);
            }
            let parents = info.stage_ids("Parent IDs")?;
            let s = raw.stage(id);
            if s.parents.is_none() {
                s.parents = parents;
            }
            // A stage's first attempt's submission (a retry keeps it).
            s.submit_ms = match (s.submit_ms, submitted) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        "SparkListenerStageCompleted" => {
            let info = f.obj("Stage Info")?;
            let id = StageId(info.u32("Stage ID")?);
            let completed = info.opt_u64("Completion Time")?;
            let submitted = info.opt_u64("Submission Time")?;
            if let Some(ts) = completed {
                raw.saw(ts);
            }
            let s = raw.stage(id);
            s.complete_ms = match (s.complete_ms, completed) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if s.submit_ms.is_none() {
                s.submit_ms = submitted;
            }
        }
        "SparkListenerTaskEnd" => {
            let info = f.obj("Task Info")?;
            let finish = info.u64("Finish Time")?;
            raw.saw(finish);
            let stage = StageId(f.u32("Stage ID")?);
            let reason = f
                .get("Task End Reason")
                .and_then(Value::as_object)
                .map(F)
                .and_then(|r| r.str("Reason"))
                .unwrap_or("Success");
            let failed = info.get("Failed").and_then(Value::as_bool).unwrap_or(false);
            let killed = info.get("Killed").and_then(Value::as_bool).unwrap_or(false);
            let success = reason == "Success" && !failed && !killed;
            if f.str("Task Type") == Some("ShuffleMapTask") {
                raw.stage(stage).shuffle_map = true;
            }
            raw.tasks.push(RawTask {
                stage,
                index: info.u32("Index")?,
                executor: info.id_string("Executor ID")?,
                launch_ms: info.u64("Launch Time")?,
                finish_ms: finish,
                success,
            });
        }
        _ => {}
    }
    Ok(())
}
