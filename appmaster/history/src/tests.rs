//! Tests of the folded state, the API, the pages and the timeline.

use crate::*;
use am_core::eventlog::{AppEvent, LogLine};
use std::sync::Arc;

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
        // The fields both events have.
        macro_rules! task_event {
            ($event:ident { $($field:ident: $value:expr),* }) => {
                AppEvent::$event {
                    stage: 0,
                    stage_attempt: 0,
                    task_id: self.task_id,
                    index: self.index,
                    attempt: self.attempt,
                    executor: self.executor.into(),
                    speculative: self.speculative,
                    $($field: $value),*
                }
            };
        }
        if start {
            task_event!(TaskStart { host: "h".into() })
        } else {
            task_event!(TaskEnd {
                reason: reason.into(),
                error: (reason == "TaskKilled").then(|| "another attempt succeeded".into()),
                duration_ms: duration_ms,
                records: 1
            })
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
    let m = Arc::new(AmMetrics::new());
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
    assert!(
        text.contains("spindle_am_executors{state=\"target\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("spindle_am_executors{state=\"running\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("spindle_am_executors{state=\"pending\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("spindle_am_executors_added_total 3"),
        "{text}"
    );
    assert!(
        text.contains("spindle_am_executors_removed_total 1"),
        "{text}"
    );
    assert!(
        text.contains("spindle_am_tasks_finished_total{outcome=\"success\"} 1"),
        "{text}"
    );
    // Three raises met: 0.5 s, 0.6 s and 0.7 s.
    assert!(
        text.contains("spindle_am_scale_up_latency_seconds_count 3"),
        "{text}"
    );
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
    let m = Arc::new(AmMetrics::new());
    let mut s = UiState::new("h:1".into()).with_metrics(m);
    s.apply(&ev(1000, start()));
    s.apply(&ev(1000, added("1")));
    s.apply(&ev(1000, added("2")));
    s.apply(&ev(
        1100,
        AppEvent::JobStart {
            job: 0,
            description: "sum at Stragglers".into(),
            stages: vec![0],
            num_tasks: 2,
        },
    ));
    s.apply(&ev(
        1100,
        AppEvent::StageSubmitted {
            stage: 0,
            attempt: 0,
            job: 0,
            name: "sum at Stragglers".into(),
            num_tasks: 2,
        },
    ));
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
