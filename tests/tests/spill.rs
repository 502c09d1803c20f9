//! Shuffles bigger than executor memory, end to end: Sort, WordCount and GroupByKey
//! on a 2-NM cluster with 512m executors whose execution memory is made small
//! (`spark.memory.fraction`) or whose spills are forced
//! (`spark.shuffle.spill.numElementsForceSpillThreshold`). Each gets the right answer
//! under the NM's memory limit, its event log shows the spills on both sides of the
//! shuffle (and the Spark REST data and stage page built from it), and no spill file
//! outlives the app, also after an executor is killed with -9 mid-spill.

use am_core::eventlog::{AppEvent, LogLine, TaskMetrics};
use history::{Page, UiState};
use spindle_tests::{
    class_args, eventually, executor_pids, files_under, find_in, Cluster, Running,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An executor's container: 512 MiB + Spark's 384 MiB minimum overhead.
const CONTAINER_LIMIT: u64 = (512 + 384) << 20;

/// Spill files (`spill-N` in a task's `task-*` directory) under `dir`.
fn spill_files(dir: &Path) -> Vec<PathBuf> {
    let named = |p: Option<&Path>, prefix: &str| {
        p.and_then(Path::file_name)
            .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
    };
    files_under(dir, |p| {
        named(Some(p), "spill-") && named(p.parent(), "task-")
    })
}

/// Samples the resident memory of the app's executors as the NM's monitor measures
/// it (per process group) until stopped; the largest seen.
struct RssWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<u64>>,
    thread: std::thread::JoinHandle<()>,
}

impl RssWatch {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let groups: Vec<i32> = spindle_tests::pids_with_env("SPINDLE_ROLE", "executor")
                    .into_iter()
                    // SAFETY: getpgid only reads the process table.
                    .map(|pid| unsafe { libc::getpgid(pid) })
                    .filter(|g| *g > 0)
                    .collect();
                let rss = nodemanager::monitor::rss_by_group(&groups);
                let most = rss.values().copied().max().unwrap_or(0);
                let mut peak = p.lock().unwrap();
                *peak = (*peak).max(most);
                drop(peak);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { stop, peak, thread }
    }

    fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let peak = *self.peak.lock().unwrap();
        peak
    }
}

/// The successful tasks' metrics in the app's event log, with whether the task
/// wrote map output.
fn task_metrics(log: &[LogLine]) -> Vec<(bool, TaskMetrics)> {
    log.iter()
        .filter_map(|l| match &l.event {
            AppEvent::TaskEnd {
                metrics: Some(m), ..
            } => Some((m.shuffle_write_bytes > 0, m.clone())),
            _ => None,
        })
        .collect()
}

/// Which side of the shuffle must spill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Map,
    Reduce,
}

/// Runs `args` with 512m executors and checks what every run must show (spills on
/// `sides`); returns the output.
fn run_spilling(c: &Cluster, conf: &[&str], class: &str, args: &[&str], sides: &[Side]) -> String {
    let opts = ["--num-executors", "2", "--executor-memory", "512m"];
    let watch = RssWatch::start();
    let out = c.submit_ok(&class_args(&opts, conf, class, args));
    let peak = watch.peak();
    let file = c.event_log_files().pop().expect("an event log");
    let log = history::log::read(&file).unwrap();
    spilled_within_limits(c, class, peak, &log, sides);
    out
}

/// The app's executors stayed under their containers' limit (`peak`) and spilled on
/// `sides`, as its event log, Spark REST data and stage page say; no spill file is
/// left.
fn spilled_within_limits(c: &Cluster, class: &str, peak: u64, log: &[LogLine], sides: &[Side]) {
    // No executor went for its memory.
    for l in log {
        if let AppEvent::ExecutorRemoved { reason, .. } = &l.event {
            assert!(
                !reason.contains("-104") && !reason.to_lowercase().contains("memory"),
                "{class}: {reason}"
            );
        }
    }
    assert!(peak > 0, "{class}: no executor was measured");
    assert!(
        peak < CONTAINER_LIMIT,
        "{class}: an executor peaked at {} MiB, over its {} MiB container",
        peak >> 20,
        CONTAINER_LIMIT >> 20
    );
    eprintln!("{class}: peak executor RSS {} MiB", peak >> 20);
    // Spills on the map side and on the reduce side.
    let metrics = task_metrics(log);
    for side in sides {
        let spilled: u64 = metrics
            .iter()
            .filter(|(map, _)| *map == (*side == Side::Map))
            .map(|(_, t)| t.spill.disk_bytes_spilled.min(t.spill.memory_bytes_spilled))
            .sum();
        assert!(
            spilled > 0,
            "{class}: no {side:?} task spilled: {metrics:?}"
        );
    }
    // The Spark REST stage data and the stage page, from the event log.
    let ui = UiState::from_log(log);
    let api = format!("api/v1/applications/{}", ui.app_id());
    let Page::Json(stages) = ui.page("/", &format!("{api}/stages"), 0) else {
        panic!("{class}: no stage list");
    };
    let spilling = find_in(&stages, &format!("{class}: no stage shows spills"), |s| {
        s["diskBytesSpilled"].as_u64() > Some(0)
    });
    assert!(
        spilling["memoryBytesSpilled"].as_u64() > Some(0),
        "{spilling}"
    );
    let (sid, attempt) = (&spilling["stageId"], &spilling["attemptId"]);
    let Page::Json(tasks) = ui.page("/", &format!("{api}/stages/{sid}/{attempt}/taskList"), 0)
    else {
        panic!("{class}: no task list");
    };
    find_in(&tasks, &format!("{class}: no task shows spills"), |t| {
        t["taskMetrics"]["diskBytesSpilled"].as_u64() > Some(0)
    });
    let Page::Html(page) = ui.page("/", &format!("stages/{sid}"), 0) else {
        panic!("{class}: no stage page");
    };
    assert!(page.contains("Spill (Disk)"), "{page}");
    // The app ended: no spill file is left on any node.
    eventually(Duration::from_secs(10), "spill files removed", || {
        spill_files(c.path()).is_empty().then_some(())
    });
}

#[test]
fn sort_word_count_and_group_by_key_spill_within_small_executors() {
    let c = Cluster::up(2, &[]);
    // 212 MiB × 0.02: about 4 MiB of execution memory for 1.5M records a task.
    let small = ["spark.memory.fraction=0.02"];
    let both = [Side::Map, Side::Reduce];
    let out = run_spilling(&c, &small, "Sort", &["--records", "3000000"], &both);
    assert!(out.contains("sorted 3000000 records: ok"), "{out}");

    // About a thousand distinct words fit anyway: the map side's spills are forced
    // (its reduce side reads a thousand combined records or so: nothing to spill).
    let forced = ["spark.shuffle.spill.numElementsForceSpillThreshold=200000"];
    let args = ["--generate", "2000000"];
    let out = run_spilling(&c, &forced, "WordCount", &args, &[Side::Map]);
    for want in [
        "alpha: 100000",
        "beta: 60000",
        "gamma: 40000",
        "total words: 2000000",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }

    let args = ["--records", "2000000", "--keys", "40000"];
    let out = run_spilling(&c, &small, "GroupByKey", &args, &both);
    assert!(
        out.contains("grouped 2000000 records in 40000 keys: ok"),
        "{out}"
    );
}

#[test]
fn spill_files_of_an_executor_killed_mid_spill_go_with_the_app() {
    let c = Cluster::up(2, &[]);
    let conf = ["spark.memory.fraction=0.02"];
    let opts = ["--num-executors", "2", "--executor-memory", "512m"];
    let watch = RssWatch::start();
    let run: Running =
        c.submit_running(&class_args(&opts, &conf, "Sort", &["--records", "3000000"]));
    let app = eventually(Duration::from_secs(60), "the app id", || {
        run.word("application_")
    });
    // Wait for a spill on disk, then kill its executor with -9.
    let victim = eventually(Duration::from_secs(120), "a spill file", || {
        spill_files(c.path()).into_iter().next()
    });
    let executors = executor_pids(&app);
    assert!(!executors.is_empty());
    let owner = victim
        .ancestors()
        .find_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            name.strip_prefix("spill-").map(str::to_string)
        })
        .expect("the spill dir names its executor");
    let pid = executors
        .iter()
        .copied()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|kv| kv == format!("SPINDLE_EXECUTOR_ID={owner}").as_bytes())
            })
        })
        .unwrap_or(executors[0]);
    // SAFETY: killing a process of this test's app.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let (status, out) = run.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("sorted 3000000 records: ok"), "{out}");
    // The killed executor's spill files outlived it, not the app (the NM removes
    // the app's directories).
    let peak = watch.peak();
    let file = c.event_log_files().pop().unwrap();
    let log = history::log::read(&file).unwrap();
    let removed: Vec<&str> = log
        .iter()
        .filter_map(|l| match &l.event {
            AppEvent::ExecutorRemoved { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(!removed.is_empty(), "the kill was noticed");
    eventually(Duration::from_secs(10), "spill files removed", || {
        spill_files(c.path()).is_empty().then_some(())
    });
    assert!(peak < CONTAINER_LIMIT, "peak {} MiB", peak >> 20);
}
