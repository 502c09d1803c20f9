//! The readers (Spark's lines, Spindle's lines, bad input) and the replay on small logs.

use serde_json::{json, Value};

use super::*;
use crate::allocation::AllocationConfig;
use crate::ids::{JobId, StageId};

const T0: u64 = 1_700_000_000_000;

fn lines(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| e.to_string() + "\n")
        .collect::<String>()
}

fn executor_added(t: u64, id: &str, request: Option<u64>) -> Value {
    let mut info = json!({"Host": "127.0.0.1", "Total Cores": 1, "Log Urls": {},
        "Attributes": {}, "Resources": {}, "Resource Profile Id": 0,
        "Registration Time": T0 + t});
    if let Some(r) = request {
        info["Request Time"] = json!(T0 + r);
    }
    json!({"Event": "SparkListenerExecutorAdded", "Timestamp": T0 + t, "Executor ID": id,
        "Executor Info": info})
}

fn stage_info(id: u32, tasks: u32, parents: &[u32]) -> Value {
    json!({"Stage ID": id, "Stage Attempt ID": 0, "Stage Name": format!("stage {id}"),
        "Number of Tasks": tasks, "RDD Info": [], "Parent IDs": parents, "Details": "",
        "Accumulables": [], "Resource Profile Id": 0})
}

fn stage_event(
    kind: &str,
    id: u32,
    tasks: u32,
    parents: &[u32],
    submit: u64,
    done: Option<u64>,
) -> Value {
    let mut info = stage_info(id, tasks, parents);
    info["Submission Time"] = json!(T0 + submit);
    if let Some(d) = done {
        info["Completion Time"] = json!(T0 + d);
    }
    json!({"Event": kind, "Stage Info": info, "Properties": {}})
}

fn task_end(stage: u32, index: u32, exec: &str, launch: u64, finish: u64, kind: &str) -> Value {
    json!({"Event": "SparkListenerTaskEnd", "Stage ID": stage, "Stage Attempt ID": 0,
        "Task Type": kind, "Task End Reason": {"Reason": "Success"},
        "Task Info": {"Task ID": stage * 100 + index, "Index": index, "Attempt": 0,
            "Partition ID": index, "Launch Time": T0 + launch, "Executor ID": exec,
            "Host": "127.0.0.1", "Locality": "PROCESS_LOCAL", "Speculative": false,
            "Getting Result Time": 0, "Finish Time": T0 + finish, "Failed": false,
            "Killed": false, "Accumulables": []},
        "Task Executor Metrics": {}, "Task Metrics": {"Executor Run Time": finish - launch}})
}

/// A Spark 4 log of a dynamic-allocation run: job 0 (one stage of 4 tasks), 10 s of
/// driver gap, then job 1 (a 2-task shuffle-map stage and a 1-task result stage).
fn spark_log() -> String {
    let mut ev = vec![
        json!({"Event": "SparkListenerLogStart", "Spark Version": "4.0.1"}),
        json!({"Event": "SparkListenerResourceProfileAdded", "Resource Profile Id": 0}),
        json!({"Event": "SparkListenerEnvironmentUpdate", "JVM Information": {},
            "Spark Properties": {"spark.executor.cores": "1",
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.shuffleTracking.enabled": "true",
                "spark.dynamicAllocation.maxExecutors": "2",
                "spark.dynamicAllocation.executorIdleTimeout": "3s"},
            "System Properties": {}, "Classpath Entries": {}}),
        json!({"Event": "SparkListenerApplicationStart", "App Name": "bursty",
            "App ID": "app-1", "Timestamp": T0, "User": "me"}),
        json!({"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": T0 + 1000,
            "Stage Infos": [stage_info(0, 4, &[])], "Stage IDs": [0], "Properties": {}}),
        stage_event("SparkListenerStageSubmitted", 0, 4, &[], 1010, None),
        executor_added(3000, "1", Some(2000)),
        json!({"Event": "SparkListenerTaskStart", "Stage ID": 0, "Stage Attempt ID": 0,
            "Task Info": {"Task ID": 0, "Index": 0, "Launch Time": T0 + 3010}}),
        // The first task on executor 1 pays 1 s of warm-up.
        task_end(0, 0, "1", 3010, 5010, "ResultTask"),
        executor_added(4000, "2", Some(3000)),
        task_end(0, 1, "2", 4010, 6010, "ResultTask"),
        task_end(0, 2, "1", 5010, 6010, "ResultTask"),
        task_end(0, 3, "2", 6010, 7010, "ResultTask"),
        stage_event("SparkListenerStageCompleted", 0, 4, &[], 1010, Some(7020)),
        json!({"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": T0 + 7030,
            "Job Result": {"Result": "JobSucceeded"}}),
        json!({"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd",
            "executionId": 0, "time": T0 + 7040}),
        json!({"Event": "SparkListenerExecutorRemoved", "Timestamp": T0 + 10_200,
            "Executor ID": "1", "Removed Reason": "Executor killed by driver."}),
        json!({"Event": "SparkListenerExecutorRemoved", "Timestamp": T0 + 11_000,
            "Executor ID": "2", "Removed Reason": "Executor killed by driver."}),
        json!({"Event": "SparkListenerJobStart", "Job ID": 1, "Submission Time": T0 + 17_030,
            "Stage Infos": [stage_info(1, 2, &[]), stage_info(2, 1, &[1])],
            "Stage IDs": [1, 2], "Properties": {}}),
        stage_event("SparkListenerStageSubmitted", 1, 2, &[], 17_040, None),
        executor_added(19_000, "3", Some(18_100)),
        task_end(1, 0, "3", 19_000, 20_000, "ShuffleMapTask"),
        task_end(1, 1, "3", 20_000, 21_000, "ShuffleMapTask"),
        stage_event(
            "SparkListenerStageCompleted",
            1,
            2,
            &[],
            17_040,
            Some(21_000),
        ),
        stage_event("SparkListenerStageSubmitted", 2, 1, &[1], 21_050, None),
        task_end(2, 0, "3", 21_050, 22_050, "ResultTask"),
        stage_event(
            "SparkListenerStageCompleted",
            2,
            1,
            &[1],
            21_050,
            Some(22_060),
        ),
        json!({"Event": "SparkListenerJobEnd", "Job ID": 1, "Completion Time": T0 + 22_070,
            "Job Result": {"Result": "JobSucceeded"}}),
        json!({"Event": "SparkListenerApplicationEnd", "Timestamp": T0 + 22_100}),
    ];
    // An event of a kind the reader does not know.
    ev.insert(
        5,
        json!({"Event": "SparkListenerBlockManagerAdded", "Timestamp": T0}),
    );
    lines(&ev)
}

#[test]
fn spark_lines_give_jobs_stages_tasks_and_gaps() {
    let w = parse(&spark_log()).unwrap();
    assert_eq!(
        w.format,
        LogFormat::Spark {
            version: Some("4.0.1".into())
        }
    );
    assert_eq!(w.app_id.as_deref(), Some("app-1"));
    assert_eq!(w.executor_cores, Some(1));
    assert!(w.dynamic_allocation());
    assert_eq!(w.num_tasks, 7);
    assert_eq!(w.jobs.len(), 2);
    let (j0, j1) = (&w.jobs[0], &w.jobs[1]);
    assert_eq!(
        (j0.id, j0.anchor, j0.delay_ms),
        (JobId(0), Anchor::AppStart, 1000)
    );
    // Job 1 follows job 0's end by the driver's 10 s.
    assert_eq!((j1.anchor, j1.delay_ms), (Anchor::JobEnd(0), 10_000));
    assert_eq!(j0.end_delay_ms, 10);
    assert_eq!(j0.stages[0].delay_ms, 10);
    assert_eq!(j0.stages[0].complete_delay_ms, 10);
    // Warm-up: executor 1's first task took 2 s against the stage's 1 s; executor 2's
    // first also took 2 s; executor 3's first (a map task) took 1 s like its stage-mate.
    assert_eq!(w.warmup_ms, 1000);
    assert_eq!(j0.stages[0].tasks, vec![1000, 1000, 1000, 1000]);
    assert_eq!(j1.stages.len(), 2);
    let (map, result) = (&j1.stages[0], &j1.stages[1]);
    assert!(map.shuffle_map && !result.shuffle_map);
    assert_eq!(result.parents, vec![StageId(1)]);
    assert_eq!(result.delay_ms, 50, "after its parent's completion");
    assert_eq!(
        j1.listed_stages,
        vec![(StageId(1), true), (StageId(2), false)]
    );
    assert_eq!((w.end_anchor, w.end_delay_ms), (Anchor::JobEnd(1), 30));
    // Request Time → Registration Time.
    assert_eq!(w.start_latencies_ms, vec![1000, 1000, 900]);
    assert_eq!(w.median_start_latency_ms(), Some(1000));
    // Executor 1 went idle at 6.01 s; the manager removes it at the first round 3 s later
    // (9.1 s), the log shows it gone at 10.2 s.
    assert_eq!(w.stop_latencies_ms.first(), Some(&1100));
    let m = &w.measured;
    assert_eq!(
        m.executor_ms,
        (10_200 - 3000) + (11_000 - 4000) + (22_100 - 19_000)
    );
    assert_eq!(m.job_ms, 6030 + 5040);
    assert_eq!((m.wall_ms, m.peak_executors), (22_100, 2));
    assert_eq!(
        m.executors_over_time,
        vec![
            (0, 0),
            (3000, 1),
            (4000, 2),
            (10_200, 1),
            (11_000, 0),
            (19_000, 1),
            (22_100, 0)
        ]
    );
}

#[test]
fn spark_properties_as_pairs_and_a_cut_last_line() {
    let mut text = spark_log().replace("\"Spark Properties\":{", "\"Old\":{");
    text.push_str("{\"Event\": \"SparkListenerTaskEnd\", \"Stage");
    // Older Spark wrote properties as [key, value] pairs.
    text = text.replacen(
        "\"JVM Information\":{}",
        "\"JVM Information\":{},\"Spark Properties\":[[\"spark.executor.cores\",\"4\"]]",
        1,
    );
    let w = parse(&text).unwrap();
    assert_eq!(w.executor_cores, Some(4));
    assert_eq!(w.num_tasks, 7, "the cut last line is skipped");
}

#[test]
fn a_bad_line_in_the_middle_is_named() {
    let mut l: Vec<String> = spark_log().lines().map(str::to_owned).collect();
    l[6] = "{\"Event\": \"SparkListenerJobStart\", oops".into();
    let err = parse(&l.join("\n")).unwrap_err();
    assert_eq!(err.code(), "whatif.bad_line");
    assert!(matches!(err, WhatIfError::BadLine { line: 7, .. }), "{err}");
    l[6] = json!({"Event": "SparkListenerJobStart", "Job ID": 0}).to_string();
    let err = parse(&l.join("\n")).unwrap_err();
    assert!(err.to_string().contains("Submission Time"), "{err}");
}

#[test]
fn bad_input_is_refused_with_its_reason() {
    assert_eq!(parse("").unwrap_err(), WhatIfError::Empty);
    assert_eq!(parse("\n  \n").unwrap_err(), WhatIfError::Empty);
    let err = parse("hello world\n").unwrap_err();
    assert!(
        matches!(err, WhatIfError::NotAnEventLog { line: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not an event log"), "{err}");
    let err = parse("\n[1, 2]\n").unwrap_err();
    assert!(
        matches!(err, WhatIfError::NotAnEventLog { line: 2, .. }),
        "{err}"
    );
    let err = parse("{\"name\": \"a dra case\", \"events\": []}\n").unwrap_err();
    assert_eq!(err.code(), "whatif.not_an_event_log");
    let err = parse_bytes(&[0x28, 0xB5, 0x2F, 0xFD, 0, 1, 2]).unwrap_err();
    assert!(
        matches!(err, WhatIfError::Compressed { codec: "zstd", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("spark.eventLog.compress=false"),
        "{err}"
    );
    let err = parse_bytes(b"LZ4Block\x00\x01").unwrap_err();
    assert!(
        matches!(err, WhatIfError::Compressed { codec: "lz4", .. }),
        "{err}"
    );
    let err = parse_bytes(&[b'{', 0xFF, 0xFE]).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
    // A real log with no task: an application that ran no job.
    let no_tasks = lines(&[
        json!({"Event": "SparkListenerLogStart", "Spark Version": "3.5.1"}),
        json!({"Event": "SparkListenerApplicationStart", "App Name": "idle",
            "App ID": "app-2", "Timestamp": T0, "User": "me"}),
        json!({"Event": "SparkListenerApplicationEnd", "Timestamp": T0 + 500}),
    ]);
    let err = parse(&no_tasks).unwrap_err();
    assert_eq!(err, WhatIfError::NoTasks { events: 3 });
    assert!(err.to_string().contains("no finished task"), "{err}");
}

#[test]
fn no_cut_or_missing_line_makes_the_reader_or_the_replay_panic() {
    let o = options(100);
    let policies = [
        Policy::Static { executors: 2 },
        dynamic("spark", 2, "1s"),
        dynamic("eager", 3, "1s"),
    ];
    let check = |text: String| {
        if let Ok(w) = parse(&text) {
            for p in &policies {
                let _ = replay(&w, p, &o);
            }
        }
    };
    for text in [spark_log(), spindle_log()] {
        let all: Vec<&str> = text.lines().collect();
        for n in 0..all.len() {
            // Every prefix, every prefix with its last line cut in half, every line left
            // out.
            check(all[..n].join("\n"));
            let half = &all[n][..all[n].len() / 2];
            check(all[..n].join("\n") + "\n" + half);
            let mut without = all.clone();
            without.remove(n);
            check(without.join("\n"));
        }
    }
}

fn spindle(ts: u64, event: Value) -> Value {
    let mut e = event;
    e["ts"] = json!(T0 + ts);
    e
}

/// A task of a Spindle log starting on executor 1.
fn spindle_task_start(ts: u64, stage: u32, task_id: u64, index: u32) -> Value {
    spindle(
        ts,
        json!({"event": "TaskStart", "stage": stage, "stage_attempt": 0,
        "task_id": task_id, "index": index, "attempt": 0, "executor": "1", "host": "h"}),
    )
}

/// A task of a Spindle log succeeding on executor 1.
fn spindle_task_end(ts: u64, stage: u32, task_id: u64, index: u32, duration_ms: u64) -> Value {
    spindle(
        ts,
        json!({"event": "TaskEnd", "stage": stage, "stage_attempt": 0,
        "task_id": task_id, "index": index, "attempt": 0, "executor": "1", "reason": "Success",
        "error": null, "duration_ms": duration_ms, "records": 1}),
    )
}

fn spindle_stage_completed(ts: u64, stage: u32) -> Value {
    spindle(
        ts,
        json!({"event": "StageCompleted", "stage": stage, "attempt": 0, "failure": null}),
    )
}

/// A Spindle log: job 0 with two stages (Spindle names no parents), the second
/// executor asked for by a target rise.
fn spindle_log() -> String {
    lines(&[
        spindle(
            0,
            json!({"event": "ApplicationStart", "app_id": "application_1_0001",
            "app_name": "Bursty", "attempt": "1", "user": "u", "dynamic_allocation": true,
            "executor_cores": 2, "executor_memory_mb": 1408,
            "conf": {"spark.dynamicAllocation.enabled": "true",
                     "spark.dynamicAllocation.shuffleTracking.enabled": "true"}}),
        ),
        spindle(0, json!({"event": "TargetChanged", "old": 0, "new": 1})),
        spindle(
            20,
            json!({"event": "ExecutorAdded", "executor": "1", "host": "h",
            "cores": 2, "container": "c1", "memory_mb": 1408}),
        ),
        spindle(
            100,
            json!({"event": "JobStart", "job": 0, "description": "count",
            "stages": [0, 1], "num_tasks": 3}),
        ),
        spindle(
            100,
            json!({"event": "StageSubmitted", "stage": 0, "attempt": 0, "job": 0,
            "name": "map", "num_tasks": 2}),
        ),
        spindle_task_start(100, 0, 0, 0),
        spindle_task_start(100, 0, 1, 1),
        spindle(1100, json!({"event": "TargetChanged", "old": 1, "new": 2})),
        spindle(
            1115,
            json!({"event": "ExecutorAdded", "executor": "2", "host": "h",
            "cores": 2, "container": "c2", "memory_mb": 1408}),
        ),
        spindle_task_end(600, 0, 0, 0, 500),
        spindle_task_end(700, 0, 1, 1, 600),
        spindle_stage_completed(700, 0),
        spindle(
            705,
            json!({"event": "StageSubmitted", "stage": 1, "attempt": 0, "job": 0,
            "name": "reduce", "num_tasks": 1}),
        ),
        // A line of a newer Spindle: skipped.
        spindle(
            705,
            json!({"event": "SpeculativeTaskSubmitted", "stage": 1, "index": 0}),
        ),
        spindle_task_start(705, 1, 2, 0),
        spindle_task_end(1005, 1, 2, 0, 300),
        spindle_stage_completed(1005, 1),
        spindle(
            1010,
            json!({"event": "JobEnd", "job": 0, "succeeded": true, "error": null}),
        ),
        spindle(
            1500,
            json!({"event": "ExecutorRemoved", "executor": "1",
            "reason": "idle timeout"}),
        ),
        spindle(
            2000,
            json!({"event": "ApplicationEnd", "final_status": "SUCCEEDED",
            "diagnostics": ""}),
        ),
    ])
}

#[test]
fn spindle_lines_give_the_same_workload_shape() {
    let w = parse(&spindle_log()).unwrap();
    assert_eq!(w.format, LogFormat::Spindle);
    assert_eq!(w.app_id.as_deref(), Some("application_1_0001"));
    assert_eq!(w.executor_cores, Some(2));
    assert_eq!(w.num_tasks, 3);
    let j = &w.jobs[0];
    assert_eq!(
        (j.anchor, j.delay_ms, j.end_delay_ms),
        (Anchor::AppStart, 100, 5)
    );
    assert_eq!(j.stages.len(), 2);
    // The reduce stage waits for the map stage, which writes shuffle output.
    assert_eq!(j.stages[1].parents, vec![StageId(0)]);
    assert_eq!(j.stages[1].delay_ms, 5);
    assert!(j.stages[0].shuffle_map && !j.stages[1].shuffle_map);
    assert_eq!(j.stages[0].tasks, vec![500, 600]);
    assert_eq!(j.stages[1].tasks, vec![300]);
    // Target rise → registration.
    assert_eq!(w.start_latencies_ms, vec![20, 15]);
    assert_eq!((w.end_anchor, w.end_delay_ms), (Anchor::JobEnd(0), 990));
    assert_eq!(w.measured.executor_ms, 1480 + 885);
    assert_eq!(w.measured.job_ms, 910);
}

#[test]
fn spindle_bad_lines() {
    let text = spindle_log();
    let mut l: Vec<&str> = text.lines().collect();
    l.insert(3, "{\"ts\": 5, ");
    let err = parse(&l.join("\n")).unwrap_err();
    assert!(matches!(err, WhatIfError::BadLine { line: 4, .. }), "{err}");
    l[3] = "{\"ts\": 5}";
    let err = parse(&l.join("\n")).unwrap_err();
    assert!(err.to_string().contains("\"event\""), "{err}");
}

// ------------------------------------------------------------------ the replay

fn options(start: u64) -> ReplayOptions {
    ReplayOptions {
        executor_cores: 1,
        task_cpus: 1,
        start_latency_ms: start,
        stop_latency_ms: 0,
        warmup_ms: 0,
    }
}

/// Two jobs of `tasks` tasks of 1 s, the second submitted `gap` ms after the first ends;
/// no executor before the first job.
fn bursts(tasks: usize, gap: u64) -> Workload {
    let stage = |id: u32| Stage {
        id: StageId(id),
        parents: Vec::new(),
        delay_ms: 0,
        tasks: vec![1000; tasks],
        complete_delay_ms: 0,
        shuffle_map: false,
    };
    let job = |id: u32, anchor, delay_ms| Job {
        id: JobId(id),
        anchor,
        delay_ms,
        listed_stages: vec![(StageId(id), false)],
        stages: vec![stage(id)],
        end_delay_ms: 0,
    };
    Workload {
        format: LogFormat::Spindle,
        app_id: None,
        app_name: None,
        conf: Default::default(),
        executor_cores: Some(1),
        jobs: vec![job(0, Anchor::AppStart, 0), job(1, Anchor::JobEnd(0), gap)],
        end_anchor: Anchor::JobEnd(1),
        end_delay_ms: 0,
        initial_arrivals_ms: Vec::new(),
        warmup_ms: 0,
        start_latencies_ms: Vec::new(),
        stop_latencies_ms: Vec::new(),
        measured: Measured::default(),
        num_tasks: 2 * tasks,
    }
}

fn dynamic(policy: &str, max: u32, idle: &str) -> Policy {
    let props = [
        ("spark.dynamicAllocation.enabled", "true"),
        ("spark.dynamicAllocation.shuffleTracking.enabled", "true"),
        ("spark.dynamicAllocation.maxExecutors", &max.to_string()),
        ("spark.dynamicAllocation.executorIdleTimeout", idle),
        ("spindle.dynamicAllocation.policy", policy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Policy::Dynamic(AllocationConfig::from_spark_conf(&props).unwrap())
}

#[test]
fn static_replay_holds_its_executors_from_start_to_end() {
    let w = bursts(4, 10_000);
    let p = replay(&w, &Policy::Static { executors: 2 }, &options(500)).unwrap();
    // Executors register at 0.5 s; each job is 2 rounds of 1 s on 2 executors.
    assert_eq!(p.job_spans, vec![(0, 2500), (12_500, 14_500)]);
    assert_eq!(p.figures.job_ms, 4500);
    assert_eq!(p.figures.wall_ms, 14_500);
    assert_eq!(p.figures.executor_ms, 2 * 14_000);
    assert_eq!(p.figures.peak_executors, 2);
    assert_eq!(p.policy, "static");
}

#[test]
fn spark_rules_wait_for_the_backlog_and_ramp() {
    let w = bursts(4, 10_000);
    let p = replay(&w, &dynamic("spark", 2, "2s"), &options(500)).unwrap();
    // Job 0: the backlog timer fires at 1 s (target 1), the executor registers at 1.5 s; the
    // sustained timer at 2 s raises the target to 2 (registered at 2.5 s). Tasks: 1.5–2.5,
    // 2.5–3.5 on the first; 2.5–3.5 on the second; the last 3.5–4.5.
    assert_eq!(p.job_spans[0], (0, 4500));
    // Idle 2 s after their last task, both go: the second job starts from none again.
    assert_eq!(p.job_spans[1], (14_500, 19_000));
    assert_eq!(p.figures.peak_executors, 2);
    // Executor 1: 1.5 → 6.5 (idle from 4.5), executor 2: 2.5 → 5.5 (idle from 3.5); in job
    // 1, 16 → 19 and 17 → 19 (the end).
    assert_eq!(p.figures.executor_ms, 5000 + 3000 + 3000 + 2000);
    assert_eq!(p.policy, "spark");
}

#[test]
fn eager_asks_for_everything_at_once_and_lets_go_fast() {
    let w = bursts(4, 10_000);
    let p = replay(&w, &dynamic("eager", 2, "60s"), &options(500)).unwrap();
    // Both asked at 0, both registered at 0.5 s: 2 rounds of 1 s.
    assert_eq!(p.job_spans, vec![(0, 2500), (12_500, 15_000)]);
    assert_eq!(p.figures.peak_executors, 2);
    // Idle timeout: 4 × the 500 ms start latency = 2 s, so both go at 4.5 s; in job 1 both
    // run 13 → 15 s, the end.
    assert_eq!(p.figures.executor_ms, 2 * 4000 + 2 * 2000);
    assert_eq!(p.policy, "eager");
}

#[test]
fn the_driver_gap_follows_the_previous_job_whatever_it_took() {
    let w = bursts(8, 5000);
    for n in [1, 2, 4] {
        let p = replay(&w, &Policy::Static { executors: n }, &options(0)).unwrap();
        let (first, second) = (p.job_spans[0], p.job_spans[1]);
        assert_eq!(second.0 - first.1, 5000, "{n} executors");
        assert_eq!(first.1 - first.0, 8000 / u64::from(n));
    }
}

#[test]
fn first_task_warm_up_is_paid_once_per_executor() {
    let w = bursts(4, 10_000);
    let mut o = options(0);
    o.warmup_ms = 300;
    let p = replay(&w, &Policy::Static { executors: 2 }, &o).unwrap();
    // Job 0: 1.3 s then 1 s on each executor; job 1 on the same, warm executors.
    assert_eq!(p.job_spans, vec![(0, 2300), (12_300, 14_300)]);
}

#[test]
fn replay_options_and_settings_are_checked() {
    let w = bursts(1, 0);
    let err = replay(&w, &Policy::Static { executors: 0 }, &options(0)).unwrap_err();
    assert!(err.to_string().contains("--num-executors"), "{err}");
    let mut o = options(0);
    o.task_cpus = 2;
    let err = replay(&w, &Policy::Static { executors: 1 }, &o).unwrap_err();
    assert_eq!(err.code(), "whatif.invalid_option");
    let request = Request {
        conf: vec![
            ("spark.dynamicAllocation.minExecutors".into(), "3".into()),
            ("spark.dynamicAllocation.maxExecutors".into(), "2".into()),
        ],
        ..Request::default()
    };
    let err = what_if(&w, &request).unwrap_err();
    assert_eq!(err.code(), "whatif.config");
    assert!(err.to_string().contains("minExecutors"), "{err}");
}

#[test]
fn a_request_runs_every_policy_with_the_logs_settings() {
    let w = parse(&spark_log()).unwrap();
    let outcome = what_if(
        &w,
        &Request {
            start_latency_ms: Some(1000),
            ..Request::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = outcome.runs.iter().map(|r| r.kind.name()).collect();
    assert_eq!(names, ["static", "spark", "eager"]);
    // The log's run held 2 executors at most: the static policy's default.
    assert_eq!(outcome.runs[0].allocation, "2 executors");
    // The log's own dynamic settings: max 2, idle 3 s.
    let spark = &outcome.runs[1].allocation;
    assert!(
        spark.contains("max 2") && spark.contains("idle 3 s"),
        "{spark}"
    );
    assert!(
        outcome.runs[2].allocation.contains("idle 4 s"),
        "{}",
        outcome.runs[2].allocation
    );
    for r in &outcome.runs {
        assert_eq!(r.prediction.job_spans.len(), 2, "{}", r.kind.name());
    }
}

/// Runs `f` on a thread and fails if it takes longer than `limit`: the guard against a
/// loop whose rounds grow with the span of the log.
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the reader or the replay ran for as long as the log spans")
}

#[test]
fn a_log_spanning_years_costs_rounds_per_event_not_per_tick() {
    // The fuzzer's find: one task ending 537 years after the app started (a forged or
    // corrupt timestamp). At a round per 100 ms that is 1.7e11 rounds; the reader and the
    // replay must skip the quiet ones.
    let forged = include_str!("../../../../fuzz/corpus/event_log/timeout-forged-task-end");
    within(std::time::Duration::from_secs(20), move || {
        parse(forged).unwrap();
    });
    // A task of 20 hours: the replay skips the rounds while it runs and still lets the
    // idle executor go on time after it.
    let mut w = bursts(1, 1000);
    w.jobs[0].stages[0].tasks = vec![20 * 3_600_000];
    let p = within(std::time::Duration::from_secs(20), move || {
        replay(&w, &dynamic("spark", 2, "2s"), &options(500)).unwrap()
    });
    assert_eq!(p.job_spans[0], (0, 1500 + 20 * 3_600_000));
}

#[test]
fn a_forged_target_costs_no_memory_per_executor_it_names() {
    // The fuzzer's find: a target raised from 0 to 1.7e12 executors. The reader kept one
    // ask per executor and ran out of memory; it is bounded now, and so is a drop.
    let forged = include_str!("../../../../fuzz/corpus/event_log/oom-forged-target");
    within(std::time::Duration::from_secs(20), move || {
        let _ = parse(forged);
    });
    let drop = concat!(
        r#"{"ts":1700000000000,"event":"TargetChanged","old":0,"new":3}"#,
        "\n",
        r#"{"ts":1700000000001,"event":"TargetChanged","old":1700000000000,"new":0}"#,
        "\n",
    );
    within(std::time::Duration::from_secs(20), move || {
        let _ = parse(drop);
    });
}
