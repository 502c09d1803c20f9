//! The HTML report: the figures, per-queue use over time against each queue's guarantee,
//! and running applications over time (charts from `spindle-report`).

use crate::error::SlsError;
use crate::stats::{Stats, Summary};
use report::charts::{step_chart, Series, DYNAMIC_COLORS, EAGER_COLORS, STATIC_COLORS};
use std::fmt::Write as _;
use std::path::Path;

/// Queue `i`'s colors: its use in a strong shade, its guarantee in a light one of the
/// same hue.
fn colors(i: usize) -> ((u8, u8, u8), (u8, u8, u8)) {
    let family = [STATIC_COLORS, DYNAMIC_COLORS, EAGER_COLORS][i % 3];
    (family[0], family[1])
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The report's HTML.
pub fn render(summary: &Summary, stats: &Stats) -> Result<String, SlsError> {
    let end = stats.end_ms as f64 / 1000.0;
    let mut series = Vec::new();
    let paths: Vec<String> = stats
        .queue_samples
        .first()
        .map(|s| s.queues.iter().map(|q| q.path.clone()).collect())
        .unwrap_or_default();
    for (i, path) in paths.iter().enumerate() {
        let used: Vec<(f64, f64)> = stats
            .queue_samples
            .iter()
            .filter_map(|s| {
                s.queues
                    .get(i)
                    .map(|q| (s.t_ms as f64 / 1000.0, q.used_pct))
            })
            .collect();
        let guarantee = stats
            .queue_samples
            .first()
            .and_then(|s| s.queues.get(i))
            .map_or(0.0, |q| q.guarantee_pct);
        series.push(Series {
            name: format!("{path} used"),
            color: colors(i).0,
            steps: used,
            end,
            width: 2,
            jobs: Vec::new(),
        });
        series.push(Series {
            name: format!("{path} guarantee"),
            color: colors(i).1,
            steps: vec![(0.0, guarantee)],
            end,
            width: 1,
            jobs: Vec::new(),
        });
    }
    let queues = step_chart(
        "Queue use against guarantee",
        "% of the cluster",
        &series,
        (900, 420),
    )?;
    // Running applications over time, from their submit and finish times.
    let mut changes: Vec<(u64, i64)> = stats
        .apps
        .iter()
        .flat_map(|(_, _, s, f)| [(*s, 1), (*f, -1)])
        .collect();
    changes.sort();
    let mut running = 0i64;
    let steps: Vec<(f64, f64)> = changes
        .iter()
        .map(|(t, d)| {
            running += d;
            (*t as f64 / 1000.0, running as f64)
        })
        .collect();
    let apps = step_chart(
        "Applications running",
        "applications",
        &[Series {
            name: "running".into(),
            color: colors(0).0,
            steps,
            end,
            width: 2,
            jobs: Vec::new(),
        }],
        (900, 300),
    )?;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>spindle sls</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 10px;text-align:left}}</style>\
         </head><body><h1>Scheduler load simulation</h1><table>"
    );
    let rows = [
        ("simulated time", format!("{:.1} s", summary.sim_s)),
        ("applications finished", summary.apps_finished.to_string()),
        ("containers allocated", summary.allocations.to_string()),
        ("CPU (user+system)", format!("{:.2} s", summary.cpu_s)),
        (
            "allocations per CPU second",
            summary.allocations_per_s().to_string(),
        ),
        (
            "ask to allocation (simulated)",
            format!(
                "median {} ms, p99 {} ms",
                summary.latency_median_ms, summary.latency_p99_ms
            ),
        ),
        (
            "heartbeat handling",
            format!(
                "median {:.3} ms, p99 {:.3} ms over {} heartbeats",
                summary.heartbeat_median_ms, summary.heartbeat_p99_ms, summary.heartbeats
            ),
        ),
        ("containers preempted", summary.preempted.to_string()),
    ];
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    h.push_str("</table><h2>Queues</h2><table><tr><th>queue</th><th>guarantee</th><th>mean use</th><th>peak use</th></tr>");
    for (path, g, mean, peak) in &summary.queues {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{g:.1}%</td><td>{mean:.1}%</td><td>{peak:.1}%</td></tr>",
            escape(path)
        );
    }
    let _ = write!(h, "</table>{queues}{apps}</body></html>");
    Ok(h)
}

pub fn write(path: &Path, summary: &Summary, stats: &Stats) -> Result<(), SlsError> {
    let html = render(summary, stats)?;
    std::fs::write(path, html).map_err(|e| SlsError::file("write report", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{QueueSample, QueueUse};

    #[test]
    fn the_report_has_each_queues_use_and_guarantee_and_the_figures() {
        let sample = |t_ms, a, b| QueueSample {
            t_ms,
            queues: vec![
                QueueUse {
                    path: "root.a".into(),
                    used_pct: a,
                    guarantee_pct: 50.0,
                },
                QueueUse {
                    path: "root.b".into(),
                    used_pct: b,
                    guarantee_pct: 50.0,
                },
            ],
        };
        let mut stats = Stats {
            allocations: 10,
            queue_samples: vec![sample(0, 90.0, 0.0), sample(1000, 50.0, 50.0)],
            apps: vec![("x".into(), "a".into(), 0, 1000)],
            end_ms: 1000,
            ..Stats::default()
        };
        let summary = Summary::new(&mut stats, 0.5);
        let html = render(&summary, &stats).unwrap();
        for series in [
            "root.a used",
            "root.a guarantee",
            "root.b used",
            "root.b guarantee",
        ] {
            assert!(
                html.contains(&format!("data-series=\"{series}\"")),
                "{series}"
            );
        }
        assert!(html.contains("<td>20</td>"), "allocations per CPU second");
        assert!(html.contains("<td>root.b</td><td>50.0%</td><td>25.0%</td><td>50.0%</td>"));
    }
}
