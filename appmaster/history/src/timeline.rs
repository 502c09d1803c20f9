//! The executor timeline as SVG: the allocation target, running executors and running
//! tasks over time, then one bar per executor.

use crate::format::date;
use crate::state::UiState;
use common::html::escape;
use std::fmt::Write as _;

/// The timelines' width and margins, px.
const W: f64 = 1000.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 20.0;

/// A timeline's time scale, from the app's start to `end`.
struct TimeAxis {
    start: u64,
    span_ms: f64,
}

impl TimeAxis {
    fn new(start: u64, end: u64) -> Self {
        Self {
            start,
            span_ms: end.saturating_sub(start).max(1) as f64,
        }
    }

    /// Where time `t` is drawn.
    fn x(&self, t: u64) -> f64 {
        LEFT + (t.saturating_sub(self.start) as f64 / self.span_ms) * (W - LEFT - RIGHT)
    }

    /// The seconds it spans and a tick step giving at most 12 ticks.
    fn ticks(&self) -> (f64, f64) {
        let secs = self.span_ms / 1000.0;
        let step = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
        ]
        .into_iter()
        .find(|st| secs / st <= 12.0)
        .unwrap_or(7200.0);
        (secs, step)
    }
}

impl UiState {
    /// The executor timeline: counts over time on top (allocation target,
    /// running executors, running tasks), then one bar per executor that
    /// ever ran, from its registration to its removal (or now).
    pub fn timeline_svg(&self, end: u64) -> String {
        const CHART_TOP: f64 = 30.0;
        const CHART_H: f64 = 150.0;
        const ROW: f64 = 18.0;
        let start = self.start_ms;
        let axis = TimeAxis::new(start, end);
        let x = |t: u64| axis.x(t);
        let execs = self.sorted_executors();
        // Running executors over time, from add/remove times.
        let mut changes: Vec<(u64, i64)> = Vec::new();
        for (_, e) in &execs {
            changes.push((e.add_ms, 1));
            if let Some(r) = e.remove_ms {
                changes.push((r, -1));
            }
        }
        changes.sort();
        let mut live = vec![(start, 0)];
        let mut n = 0i64;
        for (t, d) in changes {
            n += d;
            match live.last_mut() {
                Some((lt, ln)) if *lt == t => *ln = n,
                _ => live.push((t, n)),
            }
        }
        let target: Vec<(u64, i64)> = self.target.clone();
        let running: Vec<(u64, i64)> = std::iter::once((start, 0))
            .chain(
                self.timeline
                    .running
                    .iter()
                    .map(|(t, n)| (*t, i64::from(*n))),
            )
            .collect();
        let ymax = target
            .iter()
            .chain(&live)
            .chain(&running)
            .map(|(_, v)| *v)
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        // Headroom above the highest count, so a line at the top is not drawn on the frame.
        let ymax = ymax + (ymax / 10.0).ceil();
        let y = |v: i64| CHART_TOP + CHART_H - (v.max(0) as f64 / ymax) * CHART_H;
        let rows_top = CHART_TOP + CHART_H + 40.0;
        let height = rows_top + ROW * execs.len().max(1) as f64 + 46.0;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"executor-timeline\" class=\"timeline\" \
             width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" font-family=\"sans-serif\" font-size=\"12\">\
             <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{height}\" fill=\"#fff\"/>"
        );
        // Job spans as bands behind the lines, so a change in the counts can be read
        // against the job that caused it.
        for (i, (id, j)) in self.jobs.iter().enumerate() {
            let x0 = x(j.submitted_ms);
            let x1 = x(j.completed_ms.unwrap_or(end)).max(x0 + 1.0);
            let fill = if i % 2 == 0 { "#e3f2fd" } else { "#ede7f6" };
            let _ = write!(
                s,
                "<rect class=\"job-band\" data-job=\"{id}\" x=\"{x0:.1}\" y=\"{CHART_TOP}\" width=\"{:.1}\" \
                 height=\"{CHART_H}\" fill=\"{fill}\"><title>job {id}: {}</title></rect>",
                x1 - x0,
                escape(&j.description),
            );
            if x1 - x0 >= 30.0 {
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#5c6bc0\" font-size=\"11\">job {id}</text>",
                    x0 + 3.0,
                    CHART_TOP + 12.0
                );
            }
        }
        // Axes, ticks and labels.
        let b = CHART_TOP + CHART_H;
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{CHART_TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#999\"/>\
             <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\
             <text class=\"axis-label\" x=\"{lx}\" y=\"{ly}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {lx} {ly})\">executors / tasks</text>",
            r = W - RIGHT,
            lx = LEFT - 48.0,
            ly = CHART_TOP + CHART_H / 2.0,
        );
        let ytop = ymax as i64;
        let mut ticks = vec![0, ytop / 2, ytop];
        ticks.dedup();
        for v in ticks {
            let py = y(v);
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{py:.1}\" x2=\"{LEFT}\" y2=\"{py:.1}\" stroke=\"#999\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
                LEFT - 4.0,
                LEFT - 7.0,
                py + 4.0
            );
        }
        let (secs, step) = axis.ticks();
        let mut t = 0.0;
        while t <= secs + 1e-9 {
            let px = LEFT + (t / secs.max(1e-9)) * (W - LEFT - RIGHT);
            let _ = write!(
                s,
                "<line x1=\"{px:.1}\" y1=\"{CHART_TOP}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\" stroke=\"#eee\"/>\
                 <text x=\"{px:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\">{t}s</text>",
                bottom = height - 40.0,
                ly = height - 24.0,
            );
            t += step;
        }
        let _ = write!(
            s,
            "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
             seconds since the application started</text>",
            LEFT + (W - LEFT - RIGHT) / 2.0,
            height - 6.0
        );
        // Step lines.
        let step_path = |series: &[(u64, i64)]| -> String {
            let mut d = String::new();
            let mut last: Option<i64> = None;
            for (t, v) in series {
                let px = x(*t);
                match last {
                    None => {
                        let _ = write!(d, "M{px:.1},{:.1}", y(*v));
                    }
                    Some(_) => {
                        let _ = write!(d, " H{px:.1} V{:.1}", y(*v));
                    }
                }
                last = Some(*v);
            }
            if last.is_some() {
                let _ = write!(d, " H{:.1}", x(end));
            }
            d
        };
        // Distinct styles, so equal lines stay visible: the executors as a wide pale
        // band, the target dashed on top of it, the tasks thin and dark.
        let styles = [
            (
                "executors",
                "#66bb6a",
                &live,
                "running executors",
                "stroke-width=\"6\" stroke-opacity=\"0.6\"",
            ),
            (
                "target",
                "#1565c0",
                &target,
                "allocation target",
                "stroke-width=\"2\" stroke-dasharray=\"7 4\"",
            ),
            (
                "tasks",
                "#e65100",
                &running,
                "running tasks",
                "stroke-width=\"1.5\"",
            ),
        ];
        for (class, color, series, label, style) in &styles {
            let d = step_path(series);
            if !d.is_empty() {
                let _ = write!(
                    s,
                    "<path class=\"{class}\" d=\"{d}\" fill=\"none\" stroke=\"{color}\" {style}><title>{label}</title></path>"
                );
            }
        }
        // Legend, each entry drawn in its line's style.
        for (i, (_, color, _, label, style)) in styles.iter().enumerate() {
            let lx = LEFT + 10.0 + 170.0 * i as f64;
            let _ = write!(
                s,
                "<line x1=\"{lx}\" y1=\"12\" x2=\"{:.1}\" y2=\"12\" stroke=\"{color}\" {style}/>\
                 <text x=\"{:.1}\" y=\"16\">{label}</text>",
                lx + 24.0,
                lx + 30.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"8\" y=\"{:.1}\" font-weight=\"bold\">Executors</text>",
            rows_top - 8.0
        );
        // One bar per executor.
        for (i, (id, e)) in execs.iter().enumerate() {
            let top = rows_top + ROW * i as f64;
            let x0 = x(e.add_ms);
            let x1 = x(e.remove_ms.unwrap_or(end)).max(x0 + 2.0);
            let (state, fill) = if e.remove_ms.is_none() {
                ("active", "#2ca02c")
            } else {
                ("removed", "#9e9e9e")
            };
            let title = format!(
                "executor {id} on {}: added {}{}",
                e.host,
                date(e.add_ms),
                match (&e.remove_ms, &e.remove_reason) {
                    (Some(r), reason) => format!(
                        ", removed {} ({})",
                        date(*r),
                        reason.as_deref().unwrap_or("")
                    ),
                    _ => ", running".to_string(),
                }
            );
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">executor {}</text>\
                 <rect class=\"executor {state}\" data-executor=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" \
                 width=\"{:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{fill}\"><title>{}</title></rect>",
                LEFT - 6.0,
                top + ROW - 5.0,
                escape(id),
                escape(id),
                top + 2.0,
                x1 - x0,
                ROW - 4.0,
                escape(&title),
            );
        }
        if execs.is_empty() {
            let _ = write!(
                s,
                "<text x=\"{LEFT}\" y=\"{:.1}\">No executors yet.</text>",
                rows_top + 12.0
            );
        }
        s.push_str("</svg>");
        s
    }

    /// Spark's jobs event timeline: executors added and removed (markers on the top row),
    /// then one bar per job from its submission to its end, coloured by its status and
    /// linked to its page.
    pub fn jobs_timeline_svg(&self, base: &str, end: u64) -> String {
        const ROW: f64 = 20.0;
        let start = self.start_ms;
        let axis = TimeAxis::new(start, end);
        let x = |t: u64| axis.x(t);
        let jobs_top = 10.0 + ROW + 10.0;
        let height = jobs_top + ROW * self.jobs.len().max(1) as f64 + 40.0;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"jobs-timeline\" class=\"timeline\" \
             width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" font-family=\"sans-serif\" font-size=\"12\">\
             <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{height}\" fill=\"#fff\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">executors</text>",
            LEFT - 6.0,
            10.0 + ROW - 6.0,
        );
        for (id, e) in self.sorted_executors() {
            let mut marks = vec![(e.add_ms, "added", "#2e7d32")];
            if let (Some(r), Some(why)) = (e.remove_ms, &e.remove_reason) {
                if why != "application ended" {
                    marks.push((r, "removed", "#c62828"));
                }
            }
            for (t, what, color) in marks {
                let _ = write!(
                    s,
                    "<circle class=\"executor-{what}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\">\
                     <title>executor {} {what} {}</title></circle>",
                    x(t),
                    10.0 + ROW / 2.0,
                    escape(id),
                    date(t),
                );
            }
        }
        for (i, (id, j)) in self.jobs.iter().enumerate() {
            let top = jobs_top + ROW * i as f64;
            let x0 = x(j.submitted_ms);
            let x1 = x(j.completed_ms.unwrap_or(end)).max(x0 + 2.0);
            let fill = match j.status {
                "SUCCEEDED" => "#81c784",
                "FAILED" => "#e57373",
                _ => "#64b5f6",
            };
            let _ = write!(
                s,
                "<a href=\"{base}jobs/{id}\"><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">job {id}</text>\
                 <rect class=\"job-span\" data-job=\"{id}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" \
                 height=\"{:.1}\" rx=\"2\" fill=\"{fill}\"><title>job {id} ({}): {}, {}</title></rect></a>",
                LEFT - 6.0,
                top + ROW - 6.0,
                top + 2.0,
                x1 - x0,
                ROW - 4.0,
                j.status,
                escape(&j.description),
                crate::format::duration(j.completed_ms.unwrap_or(end).saturating_sub(j.submitted_ms)),
            );
        }
        if self.jobs.is_empty() {
            let _ = write!(
                s,
                "<text x=\"{LEFT}\" y=\"{:.1}\">No jobs yet.</text>",
                jobs_top + 14.0
            );
        }
        let bottom = height - 30.0;
        let (secs, step) = axis.ticks();
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#999\"/>",
            W - RIGHT
        );
        let mut t = 0.0;
        while t <= secs + 1e-9 {
            let px = LEFT + (t / secs.max(1e-9)) * (W - LEFT - RIGHT);
            let _ = write!(
                s,
                "<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t}s</text>",
                bottom + 16.0
            );
            t += step;
        }
        s.push_str("</svg>");
        s
    }
}
