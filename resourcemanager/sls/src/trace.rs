//! YARN SLS's JSON trace: a file of concatenated JSON objects (often pretty-printed;
//! not JSON Lines, not an array), each a job with `am.type`, `job.start.ms`,
//! `job.queue.name`, `job.user` and `job.tasks`, each task with `container.start.ms`,
//! `container.end.ms`, `container.host` (`/rack/host`), `container.priority` and
//! `container.type`. SLS's optional `container.memory` / `container.vcores` size a task
//! (default: 1024 MB, 1 vcore, as SLS); a `spark` job may carry Spark properties under
//! `spark.conf`.

use crate::error::SlsError;
use crate::workload::{AmType, Job, Task};
use common::Resource;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize)]
struct SlsJob {
    #[serde(rename = "am.type", default = "mapreduce")]
    am_type: String,
    #[serde(rename = "job.start.ms")]
    start_ms: u64,
    #[serde(rename = "job.end.ms", default)]
    end_ms: Option<u64>,
    #[serde(rename = "job.queue.name", default = "default_queue")]
    queue: String,
    #[serde(rename = "job.user", default = "default_user")]
    user: String,
    #[serde(rename = "job.id", default)]
    id: Option<String>,
    #[serde(rename = "job.tasks", default)]
    tasks: Vec<SlsTask>,
    #[serde(rename = "spark.conf", default)]
    spark_conf: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct SlsTask {
    #[serde(rename = "container.start.ms")]
    start_ms: u64,
    #[serde(rename = "container.end.ms")]
    end_ms: u64,
    #[serde(rename = "container.host", default)]
    host: String,
    #[serde(rename = "container.priority", default = "default_priority")]
    priority: u32,
    #[serde(rename = "container.type", default = "default_type")]
    kind: String,
    #[serde(rename = "container.memory", default = "default_memory")]
    memory_mb: u64,
    #[serde(rename = "container.vcores", default = "default_vcores")]
    vcores: u32,
}

fn mapreduce() -> String {
    "mapreduce".into()
}
fn default_queue() -> String {
    "default".into()
}
fn default_user() -> String {
    "default".into()
}
fn default_priority() -> u32 {
    20
}
fn default_type() -> String {
    "map".into()
}
fn default_memory() -> u64 {
    1024
}
fn default_vcores() -> u32 {
    1
}

/// Reads a trace file.
pub fn read(path: &Path) -> Result<Vec<Job>, SlsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SlsError::file("read trace", path, e))?;
    parse(&text).map_err(|(job, reason)| SlsError::trace(path, job, reason))
}

/// The jobs of a trace's text, in submission order; an error names the job (from 1).
pub fn parse(text: &str) -> Result<Vec<Job>, (usize, String)> {
    let mut jobs = Vec::new();
    let stream = serde_json::Deserializer::from_str(text).into_iter::<SlsJob>();
    for (i, item) in stream.enumerate() {
        let n = i + 1;
        let job = item.map_err(|e| (n, e.to_string()))?;
        jobs.push(convert(job, n).map_err(|reason| (n, reason))?);
    }
    if jobs.is_empty() {
        return Err((0, "no jobs in the trace".into()));
    }
    // Stable: jobs submitted at the same time keep the trace's order.
    jobs.sort_by_key(|j| j.start_ms);
    Ok(jobs)
}

fn convert(j: SlsJob, n: usize) -> Result<Job, String> {
    let am_type = AmType::parse(&j.am_type).ok_or_else(|| {
        format!(
            "am.type {:?} is not one of mapreduce, stream, spark",
            j.am_type
        )
    })?;
    if let Some(end) = j.end_ms {
        if end < j.start_ms {
            return Err(format!(
                "job.end.ms {end} is before job.start.ms {}",
                j.start_ms
            ));
        }
    }
    if j.tasks.is_empty() {
        return Err("job.tasks is empty".into());
    }
    let tasks = j
        .tasks
        .into_iter()
        .enumerate()
        .map(|(t, task)| {
            if task.end_ms <= task.start_ms {
                return Err(format!(
                    "task {}: container.end.ms {} is not after container.start.ms {}",
                    t + 1,
                    task.end_ms,
                    task.start_ms
                ));
            }
            if task.memory_mb == 0 || task.vcores == 0 {
                return Err(format!(
                    "task {}: container.memory and container.vcores must be above 0",
                    t + 1
                ));
            }
            let reduce = match task.kind.as_str() {
                "map" => false,
                "reduce" => true,
                other => {
                    return Err(format!(
                        "task {}: container.type {other:?} is not map or reduce",
                        t + 1
                    ))
                }
            };
            // `/rack/host`: the host part is what nodes are known by.
            let host = task
                .host
                .rsplit('/')
                .next()
                .filter(|h| !h.is_empty())
                .map(str::to_string);
            Ok(Task {
                duration_ms: task.end_ms - task.start_ms,
                resource: Resource::new(task.memory_mb, task.vcores),
                host,
                priority: task.priority,
                reduce,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spark_conf = j
        .spark_conf
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect();
    Ok(Job {
        name: j.id.unwrap_or_else(|| format!("job{n}")),
        am_type,
        start_ms: j.start_ms,
        queue: j.queue,
        user: j.user,
        tasks,
        spark_conf,
    })
}

/// The hosts a trace's tasks name, for a cluster made from the trace.
pub fn hosts(jobs: &[Job]) -> Vec<String> {
    let mut hosts: Vec<String> = jobs
        .iter()
        .flat_map(|j| j.tasks.iter().filter_map(|t| t.host.clone()))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
{
  "am.type" : "mapreduce",
  "job.start.ms" : 0,
  "job.end.ms" : 95375,
  "job.queue.name" : "sls_queue_1",
  "job.id" : "job_1",
  "job.user" : "default",
  "job.tasks" : [ {
    "container.host" : "/default-rack/node1",
    "container.start.ms" : 6664,
    "container.end.ms" : 23707,
    "container.priority" : 20,
    "container.type" : "map"
  }, {
    "container.host" : "/default-rack/node3",
    "container.start.ms" : 30000,
    "container.end.ms" : 40000,
    "container.priority" : 10,
    "container.type" : "reduce"
  } ]
}
{"am.type":"stream","job.start.ms":500,"job.queue.name":"b","job.user":"u",
 "job.tasks":[{"container.start.ms":0,"container.end.ms":10,"container.memory":2048,"container.vcores":2}]}
"#;

    #[test]
    fn concatenated_pretty_printed_objects_are_jobs() {
        let jobs = parse(TWO).unwrap();
        assert_eq!(jobs.len(), 2);
        let j = &jobs[0];
        assert_eq!(
            (j.name.as_str(), j.am_type, j.queue.as_str()),
            ("job_1", AmType::MapReduce, "sls_queue_1")
        );
        assert_eq!(j.tasks[0].duration_ms, 23707 - 6664);
        assert_eq!(j.tasks[0].host.as_deref(), Some("node1"));
        assert!(!j.tasks[0].reduce && j.tasks[1].reduce);
        assert_eq!(jobs[1].tasks[0].resource, Resource::new(2048, 2));
        assert_eq!(jobs[1].start_ms, 500);
        assert_eq!(hosts(&jobs), vec!["node1", "node3"]);
    }

    #[test]
    fn a_bad_job_is_named_with_the_reason() {
        let bad = format!(r#"{TWO} {{"am.type":"pig","job.start.ms":1,"job.tasks":[]}}"#);
        let (n, why) = parse(&bad).unwrap_err();
        assert_eq!(n, 3);
        assert!(why.contains("pig"), "{why}");
        let (n, why) = parse(r#"{"job.start.ms": 1, "job.tasks": [{"container.start.ms": 5, "container.end.ms": 5}]}"#)
            .unwrap_err();
        assert_eq!(n, 1);
        assert!(why.contains("not after"), "{why}");
        let (n, why) = parse(r#"{"job.start.ms": 1} {"#).unwrap_err();
        assert_eq!(n, 1, "{why}");
        let (n, _) = parse("[1, 2]").unwrap_err();
        assert_eq!(n, 1, "an array is not a trace");
    }
}
