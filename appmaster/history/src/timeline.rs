//! The executor timeline as SVG: the allocation target, running executors and running
//! tasks over time, then one bar per executor.

use crate::format::date;
use crate::state::UiState;
use common::html::escape;
use std::fmt::Write as _;

impl UiState {
    /// The executor timeline: counts over time on top (allocation target,
    /// running executors, running tasks), then one bar per executor that
    /// ever ran, from its registration to its removal (or now).
    pub fn timeline_svg(&self, end: u64) -> String {
        const W: f64 = 1000.0;
        const LEFT: f64 = 110.0;
        const RIGHT: f64 = 20.0;
        const CHART_TOP: f64 = 30.0;
        const CHART_H: f64 = 150.0;
        const ROW: f64 = 18.0;
        let start = self.start_ms;
        let span = end.saturating_sub(start).max(1) as f64;
        let x = |t: u64| LEFT + (t.saturating_sub(start) as f64 / span) * (W - LEFT - RIGHT);
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
        let y = |v: i64| CHART_TOP + CHART_H - (v.max(0) as f64 / ymax) * CHART_H;
        let rows_top = CHART_TOP + CHART_H + 40.0;
        let height = rows_top + ROW * execs.len().max(1) as f64 + 30.0;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"executor-timeline\" class=\"timeline\" \
             width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" font-family=\"sans-serif\" font-size=\"11\">\
             <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{height}\" fill=\"#fff\"/>"
        );
        // Axes and grid.
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{CHART_TOP}\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#999\"/>\
             <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{ymax}</text>\
             <text x=\"{tx}\" y=\"{b}\" text-anchor=\"end\">0</text>",
            b = CHART_TOP + CHART_H,
            r = W - RIGHT,
            tx = LEFT - 6.0,
            ty = CHART_TOP + 4.0,
        );
        let secs = span / 1000.0;
        let step = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
        ]
        .into_iter()
        .find(|st| secs / st <= 12.0)
        .unwrap_or(7200.0);
        let mut t = 0.0;
        while t <= secs + 1e-9 {
            let px = LEFT + (t / secs.max(1e-9)) * (W - LEFT - RIGHT);
            let _ = write!(
                s,
                "<line x1=\"{px:.1}\" y1=\"{CHART_TOP}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\" stroke=\"#eee\"/>\
                 <text x=\"{px:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\">{t}s</text>",
                bottom = height - 25.0,
                ly = height - 10.0,
            );
            t += step;
        }
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
        for (class, color, series, label) in [
            ("target", "#1f77b4", &target, "allocation target"),
            ("executors", "#2ca02c", &live, "running executors"),
            ("tasks", "#ff7f0e", &running, "running tasks"),
        ] {
            let d = step_path(series);
            if !d.is_empty() {
                let _ = write!(
                    s,
                    "<path class=\"{class}\" d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{label}</title></path>"
                );
            }
        }
        // Legend.
        for (i, (color, label)) in [
            ("#1f77b4", "allocation target"),
            ("#2ca02c", "running executors"),
            ("#ff7f0e", "running tasks"),
        ]
        .into_iter()
        .enumerate()
        {
            let lx = LEFT + 10.0 + 170.0 * i as f64;
            let _ = write!(
                s,
                "<rect x=\"{lx}\" y=\"8\" width=\"14\" height=\"4\" fill=\"{color}\"/>\
                 <text x=\"{}\" y=\"14\">{label}</text>",
                lx + 20.0
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
}
