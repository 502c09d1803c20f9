//! What-if against real Spark 4 event logs (`appmaster/tests/spark-eventlogs/`, made by
//! `make-fixtures.sh` there): one workload run on Spark's standalone master and worker with
//! static allocation, then with dynamic allocation. Replaying the static run's log under
//! the dynamic run's settings, with the cluster's figures measured from the logs, predicts
//! the dynamic run's executor-seconds and job time within 15%.

mod common;

use am_core::whatif::{self, Anchor, PolicyKind, Request};
use common::{dynamic_allocation_conf, error};

const DIR: &str = "spark-eventlogs";

#[test]
fn the_static_log_predicts_the_dynamic_run_within_15_percent() {
    let (static_log, dynamic_log) = common::bursty_logs(DIR, "");
    assert!(matches!(
        static_log.format,
        whatif::LogFormat::Spark { version: Some(ref v) } if v.starts_with('4')
    ));
    // The same workload: the same jobs and tasks.
    assert_eq!(static_log.jobs.len(), dynamic_log.jobs.len());
    assert_eq!(static_log.num_tasks, dynamic_log.num_tasks);

    // The dynamic run's settings, and its cluster's start and stop latencies, from its log;
    // the first-task warm-up from the static log itself.
    let conf = dynamic_allocation_conf(&dynamic_log);
    let start = dynamic_log.median_start_latency_ms().expect("Request Time");
    let stop = dynamic_log
        .median_stop_latency_ms()
        .expect("removed executors");
    let request = Request {
        policies: vec![PolicyKind::Static, PolicyKind::Spark],
        conf,
        start_latency_ms: Some(start),
        stop_latency_ms: Some(stop),
        warmup_ms: Some(static_log.warmup_ms),
        ..Request::default()
    };
    let outcome = whatif::what_if(&static_log, &request).unwrap();
    let (static_run, spark_run) = (&outcome.runs[0], &outcome.runs[1]);
    let measured = &dynamic_log.measured;
    let predicted = &spark_run.prediction.figures;
    let exec_err = error(predicted.executor_s(), measured.executor_s());
    let job_err = error(predicted.job_s(), measured.job_s());
    println!(
        "start {start} ms, stop {stop} ms, warm-up {} ms\n\
         executor-seconds: predicted {:.1}, measured {:.1} ({:+.1}%)\n\
         job time: predicted {:.1} s, measured {:.1} s ({:+.1}%)",
        static_log.warmup_ms,
        predicted.executor_s(),
        measured.executor_s(),
        exec_err * 100.0,
        predicted.job_s(),
        measured.job_s(),
        job_err * 100.0
    );
    assert!(
        exec_err.abs() <= 0.15,
        "executor-seconds off by {exec_err:+.3}"
    );
    assert!(job_err.abs() <= 0.15, "job time off by {job_err:+.3}");
    assert_eq!(predicted.peak_executors, measured.peak_executors);

    // Sanity: the static log replayed as it ran reproduces itself.
    let same = &static_run.prediction.figures;
    let own = &static_log.measured;
    assert!(error(same.executor_s(), own.executor_s()).abs() <= 0.05);
    assert!(error(same.job_s(), own.job_s()).abs() <= 0.05);
}

#[test]
fn the_logs_show_the_clusters_figures() {
    let dynamic_log = common::fixture(DIR, "bursty-dynamic");
    // Spark 4 writes each executor's Request Time: every one has a start latency.
    assert_eq!(
        dynamic_log.start_latencies_ms.len(),
        dynamic_log.measured.peak_executors as usize * 2
    );
    // Both executors of the first burst were removed by the allocation manager before the
    // second burst, and the log shows when they were gone.
    assert_eq!(dynamic_log.stop_latencies_ms.len(), 2);
    // The last burst has a shuffle: Spark's adaptive execution ran its map stage as a job of
    // its own, and the result job (which lists the map stage again, skipped) follows that
    // job's end by a few ms.
    let n = dynamic_log.jobs.len();
    let (map_job, last) = (&dynamic_log.jobs[n - 2], &dynamic_log.jobs[n - 1]);
    assert!(map_job.stages[0].shuffle_map);
    assert_eq!(last.listed_stages.len(), 2);
    assert_eq!(last.stages.len(), 1);
    assert_eq!(last.anchor, Anchor::JobEnd(n - 2));
    assert!(last.delay_ms < 1000, "{}", last.delay_ms);
}
