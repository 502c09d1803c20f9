//! The `spindle what-if` report: one self-contained HTML page with the executors over time
//! under each replayed policy (and as the log measured them), bars of executor-seconds and
//! job time, and the table. Same charts and style as the comparison report.

use std::fmt::Write as _;

use am_core::whatif::{Measured, Prediction};
use common::html::escape;

use crate::charts::{self, Bar, ChartError, Series};

/// The color of a policy's line: static in blue, Spark's rules in orange, eager in green,
/// as in the comparison report.
pub fn policy_color(policy: &str) -> (u8, u8, u8) {
    match policy {
        "static" => charts::STATIC_COLORS[0],
        "spark" => charts::DYNAMIC_COLORS[0],
        "eager" => charts::EAGER_COLORS[0],
        _ => MEASURED_COLOR,
    }
}

/// The log's own run, in grey.
pub const MEASURED_COLOR: (u8, u8, u8) = (0x77, 0x77, 0x77);

/// One row of the report: a policy's prediction, or the log's own run.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// `static`, `spark`, `eager`, or the log's run (`measured`).
    pub name: String,
    /// How executors were allocated, in words.
    pub allocation: String,
    pub figures: &'a Measured,
}

impl<'a> Row<'a> {
    pub fn prediction(p: &'a Prediction, allocation: String) -> Self {
        Self {
            name: p.policy.clone(),
            allocation,
            figures: &p.figures,
        }
    }
}

/// The page. `facts` are lines about the log and the assumptions, shown above the charts;
/// `measured` is the log's own run (drawn in grey), `rows` the predictions.
pub fn html(
    title: &str,
    facts: &[String],
    measured: Option<&Row<'_>>,
    rows: &[Row<'_>],
) -> Result<String, ChartError> {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>",
        escape(title),
        crate::report::STYLE,
        escape(title)
    );
    let _ = writeln!(h, "<ul class=\"facts\">");
    for f in facts {
        let _ = writeln!(h, "<li>{}</li>", escape(f));
    }
    let _ = writeln!(h, "</ul>");
    let _ = writeln!(
        h,
        "<p class=\"note\">Each policy replays the log's jobs, stages and task durations, with the gaps the driver left between them, through a simulated task scheduler and the application master's own allocation manager. Executor-seconds: each executor from registration to removal or the application's end; job time: the jobs' durations added up.</p>"
    );
    let all: Vec<&Row<'_>> = measured.into_iter().chain(rows.iter()).collect();
    let series: Vec<Series> = all
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            name: r.name.clone(),
            color: policy_color(&r.name),
            steps: r
                .figures
                .executors_over_time
                .iter()
                .map(|&(t, n)| (t as f64 / 1000.0, f64::from(n)))
                .collect(),
            end: r.figures.wall_ms as f64 / 1000.0,
            // Wider lines first, so lines that coincide stay visible.
            width: (all.len() - i) as u32 + 1,
            // The policies replay the same jobs at different times: no bands.
            jobs: Vec::new(),
        })
        .collect();
    let _ = writeln!(
        h,
        "<figure class=\"chart executors\">{}<figcaption>Executors registered over time, one line per policy{}.</figcaption></figure>",
        charts::step_chart("Executors", "executors", &series, (920, 300))?,
        if measured.is_some() {
            " (grey: as the log measured them)"
        } else {
            ""
        }
    );
    let _ = writeln!(h, "<div class=\"bars\">");
    let bars = |f: &dyn Fn(&Measured) -> f64| -> Vec<Bar> {
        all.iter()
            .map(|r| Bar {
                name: r.name.clone(),
                color: policy_color(&r.name),
                value: f(r.figures),
            })
            .collect()
    };
    for (title, unit, f) in [
        (
            "executor-seconds",
            "s",
            (&|m: &Measured| m.executor_s()) as &dyn Fn(&Measured) -> f64,
        ),
        ("job time", "s", &|m: &Measured| m.job_s()),
        ("peak executors", "executors", &|m: &Measured| {
            f64::from(m.peak_executors)
        }),
    ] {
        let _ = writeln!(
            h,
            "<figure class=\"chart resources\">{}</figure>",
            charts::bar_chart(title, unit, &bars(f), (300, 260))?
        );
    }
    let _ = writeln!(h, "</div>");
    let _ = writeln!(
        h,
        "<table class=\"metrics\"><thead><tr><th>policy</th><th>allocation</th><th>executor-seconds</th><th>job time (s)</th><th>peak executors</th><th>wall (s)</th></tr></thead><tbody>"
    );
    for r in &all {
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{:.1}</td></tr>",
            escape(&r.name),
            escape(&r.allocation),
            r.figures.executor_s(),
            r.figures.job_s(),
            r.figures.peak_executors,
            r.figures.wall_ms as f64 / 1000.0
        );
    }
    let _ = writeln!(h, "</tbody></table>\n</body>\n</html>");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_series_and_one_row_per_policy() {
        let m = |n: u32| Measured {
            executor_ms: 1000 * u64::from(n),
            job_ms: 2000,
            wall_ms: 3000,
            peak_executors: n,
            executors_over_time: vec![(0, 0), (100, n), (3000, 0)],
        };
        let (a, b, c) = (m(2), m(1), m(3));
        let rows = [
            Row {
                name: "static".into(),
                allocation: "2 executors".into(),
                figures: &a,
            },
            Row {
                name: "spark".into(),
                allocation: "max 2".into(),
                figures: &b,
            },
        ];
        let measured = Row {
            name: "measured".into(),
            allocation: "the log's run".into(),
            figures: &c,
        };
        let page = html("what-if", &["a <fact>".into()], Some(&measured), &rows).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("a &lt;fact&gt;"));
        for name in ["static", "spark", "measured"] {
            assert_eq!(
                page.matches(&format!("data-series=\"{name}\"")).count(),
                2,
                "{name}"
            );
            assert!(page.contains(&format!("<tr><th>{name}</th>")), "{name}");
        }
    }
}
