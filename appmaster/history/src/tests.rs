//! Tests of the folded state, the API, the pages and the timeline.

use crate::*;
use am_core::eventlog::{AppEvent, LogLine, TaskInfo, TaskMetrics};
use serde_json::{json, Value};
use std::sync::Arc;

/// `text` holds `needle`; else the failure shows both.
fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

fn ev(ts: u64, event: AppEvent) -> LogLine {
    LogLine { ts, event }
}

fn start() -> AppEvent {
    AppEvent::ApplicationStart {
        app_id: "application_1_0001".into(),
        app_name: "Bursty".into(),
        attempt: "1".into(),
        user: "u".into(),
        dynamic_allocation: true,
        executor_cores: 1,
        executor_memory_mb: 1024,
        conf: Default::default(),
        driver_memory_mb: 0,
        driver_vcores: 0,
        am_allocated_ms: 0,
    }
}

fn added(id: &str) -> AppEvent {
    AppEvent::ExecutorAdded {
        executor: id.into(),
        host: "h".into(),
        cores: 1,
        container: format!("container_1_0001_01_00000{id}"),
        memory_mb: 1,
        log_urls: ["stdout", "stderr"]
            .into_iter()
            .map(|f| {
                (
                    f.to_string(),
                    format!(
                        "https://nm:8042/node/containerlogs/container_1_0001_01_00000{id}/u/{f}"
                    ),
                )
            })
            .collect(),
    }
}

/// One attempt of a task of stage 0.
struct Attempt<'a> {
    task_id: u64,
    index: u32,
    attempt: u32,
    executor: &'a str,
    speculative: bool,
}

impl Attempt<'_> {
    fn start(&self) -> AppEvent {
        self.event(true, "", 0)
    }

    /// Its end for `reason`, after `duration_ms`.
    fn end(&self, reason: &str, duration_ms: u64) -> AppEvent {
        self.event(false, reason, duration_ms)
    }

    fn event(&self, start: bool, reason: &str, duration_ms: u64) -> AppEvent {
        let task = TaskInfo {
            task_id: self.task_id,
            index: self.index,
            attempt: self.attempt,
            executor: self.executor.into(),
            host: "h".into(),
            speculative: self.speculative,
        };
        if start {
            AppEvent::TaskStart {
                stage: 0,
                stage_attempt: 0,
                task,
            }
        } else {
            AppEvent::TaskEnd {
                stage: 0,
                stage_attempt: 0,
                task,
                reason: reason.into(),
                error: (reason == "TaskKilled").then(|| "another attempt succeeded".into()),
                duration_ms,
                records: 1,
                metrics: (reason == "Success").then(|| TaskMetrics {
                    shuffle_local_bytes: 100 * self.task_id,
                    shuffle_local_blocks: 1,
                    shuffle_remote_bytes: 1000,
                    shuffle_remote_blocks: 2,
                    shuffle_write_bytes: 10,
                    shuffle_write_records: 1,
                    ..Default::default()
                }),
            }
        }
    }
}

/// Task `task_id` (its index too), first attempt, of stage 0, on `executor`: its start, or
/// its success after 300 ms.
fn task(start: bool, executor: &str, task_id: u64) -> AppEvent {
    let a = Attempt {
        task_id,
        index: task_id as u32,
        attempt: 0,
        executor,
        speculative: false,
    };
    if start {
        a.start()
    } else {
        a.end("Success", 300)
    }
}

#[test]
fn dates_match_spark_format() {
    for (ms, want) in [
        (0, "1970-01-01T00:00:00.000GMT"),
        (1_795_738_732_499, "2026-11-27T00:18:52.499GMT"),
        (951_782_400_000, "2000-02-29T00:00:00.000GMT"),
    ] {
        assert_eq!(spark_date(ms), want);
    }
    assert_eq!(date(1_795_738_732_499), "2026-11-27 00:18:52");
    assert_eq!(duration(4200), "4.2 s");
}

#[test]
fn executors_come_and_go() {
    let mut s = UiState::new("h:1".into());
    s.apply(&ev(1, added("1")));
    assert_eq!(s.executors_api(false).as_array().unwrap().len(), 2);
    s.apply(&ev(
        2,
        AppEvent::ExecutorRemoved {
            executor: "1".into(),
            reason: "idle timeout".into(),
        },
    ));
    assert_eq!(s.executors_api(false).as_array().unwrap().len(), 1);
    let all = s.executors_api(true);
    assert_eq!(all[1]["removeReason"], "idle timeout");
    assert_eq!(all[1]["isActive"], false);
}

#[test]
fn timeline_has_one_bar_per_executor_and_metrics_move() {
    let m = Arc::new(AmMetrics::default());
    let mut s = UiState::new("h:1".into()).with_metrics(m.clone());
    s.apply(&ev(1000, start()));
    s.apply(&ev(1000, AppEvent::TargetChanged { old: 0, new: 1 }));
    s.apply(&ev(1500, added("1")));
    s.apply(&ev(2000, AppEvent::TargetChanged { old: 1, new: 3 }));
    s.apply(&ev(2600, added("2")));
    s.apply(&ev(2700, added("3")));
    s.apply(&ev(2800, task(true, "2", 1)));
    s.apply(&ev(3100, task(false, "2", 1)));
    s.apply(&ev(
        6000,
        AppEvent::ExecutorRemoved {
            executor: "2".into(),
            reason: "idle timeout".into(),
        },
    ));
    let svg = s.timeline_svg(7000);
    assert_eq!(svg.matches("class=\"executor ").count(), 3, "{svg}");
    assert_eq!(svg.matches("class=\"executor removed\"").count(), 1);
    assert!(svg.contains("class=\"target\""));
    assert!(svg.contains("class=\"tasks\""));
    // The SVG is well-formed enough for an XML reader: balanced tags.
    assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());

    let text = s.render_metrics();
    assert_has(&text, "spindle_am_executors{state=\"target\"} 3");
    assert_has(&text, "spindle_am_executors{state=\"running\"} 2");
    assert_has(&text, "spindle_am_executors{state=\"pending\"} 1");
    assert_has(&text, "spindle_am_executors_added_total 3");
    assert_has(&text, "spindle_am_executors_removed_total 1");
    assert_has(
        &text,
        "spindle_am_tasks_finished_total{outcome=\"success\"} 1",
    );
    // Three raises met: 0.5 s, 0.6 s and 0.7 s.
    assert_has(&text, "spindle_am_scale_up_latency_seconds_count 3");
    let sum: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("spindle_am_scale_up_latency_seconds_sum "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((sum - 1.8).abs() < 1e-9, "{sum}");
}

#[test]
fn pages_link_below_their_base_and_refresh_while_running() {
    let mut s = UiState::new("h:1".into());
    s.apply(&ev(1000, start()));
    s.apply(&ev(1500, added("1")));
    let base = "/cluster/app/application_1_0001/history/";
    let Page::Html(h) = s.page(base, "executors/", 2000) else {
        panic!("not html")
    };
    assert!(h.contains(&format!("href=\"{base}jobs/\"")), "{h}");
    assert!(h.contains("http-equiv=\"refresh\""));
    assert!(h.contains("<span id=\"active-executors\">1</span>"));
    assert!(!h.contains("<script"));
    assert_eq!(s.page(base, "", 0), Page::Redirect(format!("{base}jobs/")));
    s.apply(&ev(
        3000,
        AppEvent::ApplicationEnd {
            final_status: "SUCCEEDED".into(),
            diagnostics: String::new(),
        },
    ));
    let Page::Html(h) = s.page("/", "jobs/", 9000) else {
        panic!("not html")
    };
    assert!(!h.contains("http-equiv=\"refresh\""));
    assert!(matches!(
        s.page(
            "/",
            "api/v1/applications/application_1_0001/allexecutors",
            0
        ),
        Page::Json(_)
    ));
    assert!(matches!(
        s.page("/", "api/v1/applications/nope/jobs", 0),
        Page::NotFound(_)
    ));
    assert!(matches!(s.page("/", "nope", 0), Page::NotFound(_)));
}

#[test]
fn speculative_attempts_are_marked_and_their_losers_killed_not_failed() {
    let m = Arc::new(AmMetrics::default());
    let mut s = UiState::new("h:1".into()).with_metrics(m);
    s.apply(&ev(1000, start()));
    s.apply(&ev(1000, added("1")));
    s.apply(&ev(1000, added("2")));
    start_job(&mut s, 1100, "sum at Stragglers", "sum at Stragglers", 2);
    let at = |task_id, index, attempt, executor, speculative| Attempt {
        task_id,
        index,
        attempt,
        executor,
        speculative,
    };
    s.apply(&ev(1100, at(0, 0, 0, "1", false).start()));
    s.apply(&ev(1100, at(1, 1, 0, "2", false).start()));
    s.apply(&ev(1300, at(1, 1, 0, "2", false).end("Success", 100)));
    s.apply(&ev(
        1800,
        AppEvent::SpeculativeTaskSubmitted {
            stage: 0,
            stage_attempt: 0,
            index: 0,
        },
    ));
    s.apply(&ev(1800, at(2, 0, 1, "2", true).start()));
    s.apply(&ev(2000, at(2, 0, 1, "2", true).end("Success", 100)));
    s.apply(&ev(2010, at(0, 0, 0, "1", false).end("TaskKilled", 100)));

    let api = |p: &str| match s.page(
        "/",
        &format!("api/v1/applications/application_1_0001/{p}"),
        0,
    ) {
        Page::Json(v) => v,
        other => panic!("{p}: {other:?}"),
    };
    let tasks = api("stages/0/0/taskList");
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    let copy = tasks.iter().find(|t| t["taskId"] == 2).unwrap();
    assert_eq!(copy["speculative"], true);
    assert_eq!(copy["attempt"], 1);
    assert_eq!(copy["status"], "SUCCESS");
    let loser = tasks.iter().find(|t| t["taskId"] == 0).unwrap();
    assert_eq!(loser["speculative"], false);
    assert_eq!(loser["status"], "KILLED");
    assert_eq!(loser["errorMessage"], "another attempt succeeded");
    assert_eq!(
        api("stages/0/0/taskList?offset=1&length=1")
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let stage = &api("stages")[0];
    assert_eq!(
        (
            &stage["numCompleteTasks"],
            &stage["numFailedTasks"],
            &stage["numKilledTasks"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(0),
            &serde_json::json!(1)
        )
    );
    let detail = api("stages/0");
    assert_eq!(detail[0]["tasks"]["2"]["speculative"], true);
    assert_eq!(api("jobs")[0]["numKilledTasks"], 1);
    assert_eq!(api("jobs")[0]["numFailedTasks"], 0);
    assert_eq!(api("allexecutors")[1]["failedTasks"], 0);
    assert!(matches!(
        s.page(
            "/",
            "api/v1/applications/application_1_0001/stages/0/9/taskList",
            0
        ),
        Page::NotFound(_)
    ));

    let Page::Html(h) = s.page("/", "stages/0", 3000) else {
        panic!("not html")
    };
    assert!(h.contains("<td>1 (speculative)</td>"), "{h}");
    assert!(h.contains("<span id=\"speculative-tasks\">1</span>"), "{h}");
    assert!(h.contains("<span id=\"killed-tasks\">1</span>"), "{h}");
    let Page::Html(h) = s.page("/", "stages/", 3000) else {
        panic!("not html")
    };
    assert!(h.contains("2/2 (1 killed)"), "{h}");
    assert!(h.contains("href=\"/stages/0\""), "{h}");
    assert!(s
        .render_metrics()
        .contains("spindle_am_tasks_finished_total{outcome=\"killed\"} 1"));
}

fn html(p: Page) -> String {
    match p {
        Page::Html(h) => h,
        other => panic!("not html: {other:?}"),
    }
}

fn json_of(s: &UiState, path: &str) -> Value {
    match s.page(
        "/",
        &format!("api/v1/applications/application_1_0001/{path}"),
        9000,
    ) {
        Page::Json(v) => v,
        other => panic!("{path}: {other:?}"),
    }
}

/// Job 0 (`description`) starts at `at` with its one stage, stage 0 (`stage_name`).
fn start_job(s: &mut UiState, at: u64, description: &str, stage_name: &str, num_tasks: u32) {
    s.apply(&ev(
        at,
        AppEvent::JobStart {
            job: 0,
            description: description.into(),
            stages: vec![0],
            num_tasks,
        },
    ));
    s.apply(&ev(
        at,
        AppEvent::StageSubmitted {
            stage: 0,
            attempt: 0,
            job: 0,
            name: stage_name.into(),
            num_tasks,
        },
    ));
}

/// An app with one stage of four tasks on two executors, a cached partition, ended or not.
fn finished_app(end: bool) -> UiState {
    let mut s = UiState::new("h:1".into());
    let mut st = start();
    if let AppEvent::ApplicationStart { conf, .. } = &mut st {
        conf.insert("spark.executor.memory".into(), "1g".into());
        conf.insert("spark.authenticate.secret".into(), "hunter2".into());
    }
    s.apply(&ev(1000, st));
    s.apply(&ev(1000, AppEvent::TargetChanged { old: 0, new: 2 }));
    s.apply(&ev(1100, added("1")));
    s.apply(&ev(1200, added("2")));
    start_job(&mut s, 1300, "count at Bursty", "count", 4);
    for id in 1..=4 {
        let exec = if id % 2 == 0 { "2" } else { "1" };
        s.apply(&ev(1400, task(true, exec, id)));
        s.apply(&ev(1400 + 100 * id, task(false, exec, id)));
    }
    s.apply(&ev(
        1900,
        AppEvent::BlockCached {
            executor: "1".into(),
            rdd: 3,
            partition: 0,
            num_partitions: 4,
        },
    ));
    s.apply(&ev(
        1900,
        AppEvent::StageCompleted {
            stage: 0,
            attempt: 0,
            failure: None,
        },
    ));
    s.apply(&ev(
        1900,
        AppEvent::JobEnd {
            job: 0,
            succeeded: true,
            error: None,
        },
    ));
    if end {
        s.apply(&ev(
            3000,
            AppEvent::ApplicationEnd {
                final_status: "SUCCEEDED".into(),
                diagnostics: String::new(),
            },
        ));
    }
    s
}

#[test]
fn environment_has_spark_shape_and_redacts_secrets() {
    let s = finished_app(true);
    let env = json_of(&s, "environment");
    for key in [
        "runtime",
        "sparkProperties",
        "hadoopProperties",
        "systemProperties",
        "classpathEntries",
        "resourceProfiles",
    ] {
        assert!(env.get(key).is_some(), "{key} missing: {env}");
    }
    let props = env["sparkProperties"].as_array().unwrap();
    assert!(
        props.contains(&json!(["spark.executor.memory", "1g"])),
        "{env}"
    );
    assert!(props.contains(&json!(["spark.authenticate.secret", "*********(redacted)"])));
    assert_eq!(env["systemProperties"][0], json!(["user.name", "u"]));
    let h = html(s.page("/", "environment/", 9000));
    assert_has(&h, "spark.executor.memory");
    assert!(!h.contains("hunter2"), "{h}");
}

#[test]
fn task_list_and_summary_have_spark_fields() {
    let s = finished_app(true);
    let tasks = json_of(&s, "stages/0/0/taskList?offset=1&length=2");
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    let t = &tasks[0];
    for key in [
        "taskId",
        "index",
        "attempt",
        "launchTime",
        "duration",
        "executorId",
        "host",
        "status",
        "taskLocality",
        "speculative",
        "taskMetrics",
    ] {
        assert!(t.get(key).is_some(), "{key} missing: {t}");
    }
    assert_eq!(t["taskId"], 2);
    let m = &t["taskMetrics"];
    assert_eq!(m["executorRunTime"], 300);
    assert_eq!(m["shuffleReadMetrics"]["localBytesRead"], 200);
    assert_eq!(m["shuffleReadMetrics"]["remoteBytesRead"], 1000);
    assert_eq!(m["shuffleReadMetrics"]["remoteBlocksFetched"], 2);
    assert_eq!(m["shuffleWriteMetrics"]["bytesWritten"], 10);
    assert_eq!(m["inputMetrics"]["bytesRead"], 0);
    assert_eq!(m["memoryBytesSpilled"], 0);
    assert_eq!(m["diskBytesSpilled"], 0);

    let sum = json_of(&s, "stages/0/0/taskSummary?quantiles=0,0.5,1");
    assert_eq!(sum["quantiles"], json!([0.0, 0.5, 1.0]));
    assert_eq!(sum["executorRunTime"], json!([300, 300, 300]));
    // Local bytes are 100 × task id: 100..400, plus 1000 remote.
    assert_eq!(
        sum["shuffleReadMetrics"]["readBytes"],
        json!([1100, 1300, 1400])
    );
    assert_eq!(
        sum["shuffleWriteMetrics"]["writeBytes"],
        json!([10, 10, 10])
    );
    let default = json_of(&s, "stages/0/0/taskSummary");
    assert_eq!(default["quantiles"].as_array().unwrap().len(), 5);
    assert!(matches!(
        s.page(
            "/",
            "api/v1/applications/application_1_0001/stages/0/0/taskSummary?quantiles=2",
            0
        ),
        Page::NotFound(_)
    ));
    // The stage's totals, as Spark's StageData names them.
    let stage = json_of(&s, "stages/0/0");
    assert_eq!(stage["shuffleReadBytes"], 4 * 1000 + 1000);
    assert_eq!(stage["shuffleWriteBytes"], 40);
}

#[test]
fn stage_page_has_quantiles_and_metric_columns_and_jobs_link_to_it() {
    let s = finished_app(true);
    let h = html(s.page("/", "stages/0", 9000));
    assert!(h.contains("id=\"task-summary\""), "{h}");
    assert!(h.contains("Summary metrics for 4 completed tasks"));
    for col in [
        "Shuffle Read",
        "Shuffle Write",
        "Input",
        "Spill (Memory)",
        "Spill (Disk)",
    ] {
        assert!(h.contains(&format!("<th>{col}</th>")), "{col}");
    }
    assert_eq!(h.matches("<tr class=\"task").count(), 4);
    let jobs = html(s.page("/", "jobs/", 9000));
    assert!(jobs.contains("href=\"/stages/0\""), "{jobs}");
    assert!(jobs.contains("href=\"/jobs/0\""));
    assert!(jobs.contains("id=\"jobs-timeline\""));
    assert_eq!(jobs.matches("class=\"job-span\"").count(), 1);
    let job = html(s.page("/", "jobs/0", 9000));
    assert!(job.contains("href=\"/stages/0\""), "{job}");
    assert!(matches!(s.page("/", "jobs/7", 9000), Page::NotFound(_)));
    let stages = html(s.page("/", "stages/", 9000));
    assert!(stages.contains("<th>Shuffle Read</th>"));
    assert!(stages.contains("4.9 KiB"), "{stages}");
}

#[test]
fn executors_link_their_logs_and_storage_lists_cached_rdds() {
    let s = finished_app(true);
    let execs = json_of(&s, "allexecutors");
    let e1 = execs
        .as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == "1"))
        .expect("executor 1");
    assert_eq!(
        e1["executorLogs"]["stdout"],
        "https://nm:8042/node/containerlogs/container_1_0001_01_000001/u/stdout"
    );
    assert_eq!(e1["rddBlocks"], 0, "blocks went with the app's end");
    assert!(e1["totalShuffleRead"].as_u64().unwrap() > 0);
    let h = html(s.page("/", "executors/", 9000));
    assert!(h.contains("/u/stderr\">stderr</a>"), "{h}");

    // While running, the cached block is on executor 1.
    let live = finished_app(false);
    let rdds = json_of(&live, "storage/rdd");
    assert_eq!(rdds.as_array().unwrap().len(), 1);
    let r = &rdds[0];
    assert_eq!(r["id"], 3);
    assert_eq!(r["numPartitions"], 4);
    assert_eq!(r["numCachedPartitions"], 1);
    assert!(r.get("storageLevel").is_some() && r.get("memoryUsed").is_some());
    let one = json_of(&live, "storage/rdd/3");
    assert_eq!(one["partitions"][0]["blockName"], "rdd_3_0");
    assert_eq!(one["partitions"][0]["executors"], json!(["1"]));
    assert_eq!(one["dataDistribution"][0]["executorId"], "1");
    let h = html(live.page("/", "storage/", 9000));
    assert_eq!(h.matches("<tr class=\"rdd\">").count(), 1, "{h}");
    assert_eq!(json_of(&live, "allexecutors")[1]["rddBlocks"], 1);
    // After the app ended, nothing is cached.
    assert_eq!(json_of(&s, "storage/rdd"), json!([]));
}

#[test]
fn history_shows_nothing_live_only() {
    let live = html(finished_app(false).page("/", "executors/", 9000));
    assert!(live.contains("Allocation target") && live.contains("http-equiv=\"refresh\""));
    let done = finished_app(true);
    for page in [
        "executors/",
        "jobs/",
        "stages/0",
        "storage/",
        "environment/",
        "timeline/",
    ] {
        let h = html(done.page("/", page, 9000));
        assert!(!h.contains("Allocation target"), "{page}");
        assert!(!h.contains("Pending tasks"), "{page}");
        assert!(!h.contains("http-equiv=\"refresh\""), "{page}");
    }
}

#[test]
fn executor_timeline_lines_are_distinct_with_job_bands_and_axis_labels() {
    let s = finished_app(true);
    let svg = s.timeline_svg(3000);
    // The target and executors are equal here: different dash and width keep both visible.
    assert!(svg.contains("class=\"target\"") && svg.contains("stroke-dasharray"));
    let width = |class: &str| {
        let at = svg.find(&format!("class=\"{class}\"")).unwrap();
        let rest = &svg[at..];
        let w = rest.find("stroke-width=\"").unwrap() + "stroke-width=\"".len();
        rest[w..w + rest[w..].find('"').unwrap()]
            .parse::<f64>()
            .unwrap()
    };
    assert!(width("executors") > width("target") && width("target") > width("tasks"));
    assert_eq!(svg.matches("class=\"job-band\"").count(), 1);
    assert!(svg.contains("executors / tasks"));
    assert!(svg.contains("seconds since the application started"));
}
