//! The comparison report's words, tables and charts, from the hand-made fixtures
//! (`tests/fixtures/compare/`; their figures are worked out in `tests/accounting.rs`:
//! executor-seconds 21.49 static and 14.5 dynamic, job time 2.5 and 4.7).

use history::log as eventlog;
use report::accounting::{account, AppAccount};
use report::ideal::{Bursty, Ideal};
use report::report::{html, Comparison, IdealPair, Mode, Run};
use std::path::PathBuf;

/// `text` holds `needle`; else the failure shows both.
fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

fn fixture(name: &str) -> AppAccount {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name);
    account(&eventlog::read(&path).expect("fixture reads")).expect("fixture accounts")
}

fn run(label: &str, mode: Mode, file: &str) -> Run {
    Run {
        label: label.into(),
        mode,
        account: fixture(file),
        rm: None,
        log: None,
    }
}

fn comparison(ideal: Option<IdealPair>) -> Comparison {
    Comparison {
        title: "fixtures".into(),
        what: String::new(),
        static_runs: vec![run("static", Mode::Static, "static.jsonl")],
        dynamic_runs: vec![run("dynamic", Mode::Dynamic, "dynamic.jsonl")],
        eager_runs: Vec::new(),
        ideal,
        notes: Vec::new(),
    }
}

/// An ideal pair with made-up figures: dynamic 0.79 of static's executor-seconds at 1.25 of
/// its job time.
fn ideal() -> IdealPair {
    let ideal = |executor_ms, job_ms| Ideal {
        wall_ms: job_ms,
        job_ms,
        executor_ms,
        idle_executor_ms: 0,
        peak_executors: 2,
    };
    IdealPair {
        workload: Bursty {
            jobs: 2,
            tasks: 4,
            task_ms: 500,
            gap_ms: 1000,
        },
        static_run: ideal(100_000, 40_000),
        dynamic_run: ideal(79_000, 50_000),
        policy: Default::default(),
    }
}

#[test]
fn the_headline_says_what_was_found_in_words() {
    let c = comparison(None);
    assert_eq!(
        c.headline(),
        vec![
            "Dynamic allocation used 33% fewer executor-seconds than static allocation, and its \
             jobs took 88% longer."
                .to_string()
        ]
    );
    let gloss = c.ratio_gloss();
    assert_has(&gloss, "executor-seconds 0.67, job time 1.88");
    assert_has(&gloss, "Below 1 saves resources; above 1 costs time.");

    // The ideal beside it, in the same words.
    let c = comparison(Some(ideal()));
    let h = c.headline().join("\n");
    assert!(
        h.ends_with(
            "The ideal under Spark's rules (no start-up cost): 21% fewer executor-seconds, jobs \
             taking 25% longer."
        ),
        "{h}"
    );
    assert!(
        c.ratio_gloss().contains("(ideal 0.79 and 1.25)"),
        "{}",
        c.ratio_gloss()
    );

    // The terminal prints the headline above the table, and the ratio lines stay last.
    let text = c.text();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {text}"))
    };
    assert!(at("Dynamic allocation used 33% fewer") < at("wall time (s)"));
    assert!(c
        .ratio_lines()
        .ends_with("job-time ratio (dynamic/static): 1.88\n"));
}

#[test]
fn a_side_that_saves_nothing_says_so() {
    let mut c = comparison(None);
    // Dynamic against itself: the same figures both sides.
    c.static_runs = vec![run("static", Mode::Static, "dynamic.jsonl")];
    assert_eq!(
        c.headline(),
        vec![
            "Dynamic allocation used as many executor-seconds as static allocation, and its \
             jobs took as long."
                .to_string()
        ]
    );
    // And one that costs more and saves time.
    let mut c = comparison(None);
    std::mem::swap(
        &mut c.static_runs[0].account,
        &mut c.dynamic_runs[0].account,
    );
    let h = c.headline().join("\n");
    assert_has(&h, "used 48% more executor-seconds");
    assert_has(&h, "took 47% less time");
}

/// The cells of each `<tr>` of the first `<table class="CLASS">` in `page`.
fn table_rows(page: &str, class: &str) -> Vec<Vec<String>> {
    let t = page
        .split(&format!("<table class=\"{class}\">"))
        .nth(1)
        .and_then(|r| r.split("</table>").next())
        .unwrap_or_else(|| panic!("no {class} table"));
    t.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|c| c.split("</td>").next().unwrap_or("").to_string())
                .collect()
        })
        .filter(|r: &Vec<String>| !r.is_empty())
        .collect()
}

#[test]
fn the_html_has_the_headline_and_the_terminals_per_job_table() {
    let c = comparison(Some(ideal()));
    let page = html("report", "", std::slice::from_ref(&c)).unwrap();
    for h in c.headline() {
        let h = h.replace('\'', "&#39;");
        assert!(
            page.contains(&format!("<p class=\"headline\">{h}</p>")),
            "{h}"
        );
    }
    assert!(page.contains("Below 1 saves resources; above 1 costs time."));

    // The per-job table: the terminal's rows, cell for cell, peaks included.
    let text = c.text();
    let terminal: Vec<Vec<String>> = text
        .split("per job:\n")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with(|ch: char| ch.is_ascii_digit()))
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(terminal.len(), 2, "{text}");
    assert_eq!(table_rows(&page, "jobs"), terminal);
    let head = page
        .split("<table class=\"jobs\">")
        .nth(1)
        .and_then(|r| r.split("</thead>").next())
        .unwrap();
    assert_eq!(head.matches("<th>peak executors</th>").count(), 2, "{head}");
    assert_eq!(head.matches("<th>first scale-up (s)</th>").count(), 1);
}

#[test]
fn the_charts_are_readable_and_show_jobs_gaps_and_ends() {
    let c = comparison(None);
    let page = html("report", "", std::slice::from_ref(&c)).unwrap();
    // Every text on every chart at 13 px or more.
    let sizes: Vec<f64> = page
        .split("font-size=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().parse().unwrap())
        .collect();
    assert!(sizes.len() > 40, "{}", sizes.len());
    let smallest = sizes.iter().copied().fold(f64::MAX, f64::min);
    assert!(smallest >= 13.0, "text of {smallest} px");

    let executors = page
        .split("<figure class=\"chart executors\">")
        .nth(1)
        .and_then(|r| r.split("</figure>").next())
        .unwrap();
    // Bands: each run's jobs (both fixtures have two; static's second is too narrow for a
    // label) and one gap between them each.
    let labels = |t: &str| executors.matches(&format!(">\n{t}\n</text>")).count();
    assert_eq!(labels("job 0"), 2, "{executors}");
    assert_eq!(labels("job 1"), 1);
    assert_eq!(labels("gap"), 2);
    assert!(executors.contains("seconds since the start"));

    // Each run's line ends at 0 where the run ends: its last point is on the x axis, at the
    // run's end (static 11 s, dynamic 12 s after their starts).
    let last_points: Vec<(String, (f64, f64))> = executors
        .split("<polyline class=\"series\" data-series=\"")
        .skip(1)
        .filter_map(|p| {
            let name = p.split('"').next()?.to_string();
            let pts: Vec<(f64, f64)> = p
                .split("points=\"")
                .nth(1)?
                .split('"')
                .next()?
                .split_whitespace()
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            // Plot lines, not legend marks. SVG's y grows downwards: 0 is the line's largest y.
            let zero = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            let last = *pts.last().unwrap();
            assert_eq!(last.1, zero, "{name} ends above 0: {pts:?}");
            (pts.len() > 2).then_some((name, last))
        })
        .collect();
    assert_eq!(last_points.len(), 2, "{last_points:?}");
    let (s, d) = (last_points[0].1, last_points[1].1);
    // On the same axis, and dynamic's end right of static's.
    assert_eq!(s.1, d.1, "{last_points:?}");
    assert!(d.0 > s.0, "{last_points:?}");
}
