//! `spindle compare`: the HTML report in headless Chromium (Debian's `chromium`), and
//! comparisons run on real 2-NM clusters (one tenant, and two tenants on a small cluster).

use spindle_tests::{bin, bursty, success, text, Cluster};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../appmaster/report/tests/fixtures/compare")
}

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "headless Chromium is needed to check the HTML report, and /usr/bin/chromium is \
         missing: install Debian's package (apt-get install -y chromium)"
    );
}

/// Runs headless Chromium on `page` with `args`; returns (stdout, stderr).
fn run_chromium(profile: &Path, args: &[&str], page: &Path) -> (String, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Messages the page wrote to its console (errors, failed loads, ...), as Chromium logs them.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Pixels of a PNG screenshot close to each color, counted by Chromium itself (a page that
/// draws the image on a canvas and reads it back).
fn color_counts(profile: &Path, png: &Path, colors: &[(&str, [u8; 3])]) -> serde_json::Value {
    let data = std::fs::read(png).expect("screenshot");
    let want: serde_json::Map<String, serde_json::Value> = colors
        .iter()
        .map(|(k, c)| ((*k).to_string(), serde_json::json!(c)))
        .collect();
    let page = png.with_extension("check.html");
    std::fs::write(
        &page,
        format!(
            r#"<!DOCTYPE html><html><body><pre id="out">pending</pre><canvas id="c"></canvas>
<script>
const want = {want};
const img = new Image();
img.onload = () => {{
  const c = document.getElementById('c'); c.width = img.width; c.height = img.height;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, img.width, img.height).data;
  const counts = {{}}; for (const k in want) counts[k] = 0;
  for (let i = 0; i < d.length; i += 4) for (const k in want) {{
    const w = want[k];
    if (Math.abs(d[i]-w[0]) <= 10 && Math.abs(d[i+1]-w[1]) <= 10 && Math.abs(d[i+2]-w[2]) <= 10) counts[k]++;
  }}
  document.getElementById('out').textContent = 'RESULT=' + JSON.stringify(counts) + '=END';
}};
img.src = "data:image/png;base64,{}";
</script></body></html>"#,
            base64(&data),
            want = serde_json::Value::Object(want),
        ),
    )
    .unwrap();
    let (dom, _) = run_chromium(
        profile,
        &["--virtual-time-budget=10000", "--dump-dom"],
        &page,
    );
    let json = dom
        .split("RESULT=")
        .nth(1)
        .and_then(|r| r.split("=END").next())
        .unwrap_or_else(|| panic!("the checker page gave no result: {dom}"));
    serde_json::from_str(json).expect("counts")
}

const STATIC_RGB: [u8; 3] = [0x1F, 0x77, 0xB4];
const DYNAMIC_RGB: [u8; 3] = [0xE6, 0x55, 0x0D];

/// A screenshot of `page` in a window of `size` (`W,H`) into `shot`; returns Chromium's stderr.
fn screenshot(profile: &Path, page: &Path, size: &str, shot: &Path) -> String {
    let args = [
        format!("--window-size={size}"),
        format!("--screenshot={}", shot.display()),
    ];
    let (_, stderr) = run_chromium(profile, &[&args[0], &args[1]], page);
    stderr
}

/// Pixels of the screenshot `shot` in each run's color (`static`, `dynamic`).
fn run_colors(profile: &Path, shot: &Path) -> serde_json::Value {
    color_counts(
        profile,
        shot,
        &[("static", STATIC_RGB), ("dynamic", DYNAMIC_RGB)],
    )
}

/// The inside of `<figure class="chart CLASS">` in `html`.
fn figure<'a>(html: &'a str, class: &str) -> Option<&'a str> {
    html.split(&format!("<figure class=\"chart {class}\">"))
        .nth(1)
        .and_then(|r| r.split("</figure>").next())
}

/// The `data-series` names of the polylines in `svg` with more than two points (plot lines,
/// not legend marks), and of all of them.
fn series_in(svg: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut lines, mut all) = (BTreeSet::new(), BTreeSet::new());
    for tag in svg.split("<polyline").skip(1) {
        let tag = &tag[..tag.find("/>").unwrap_or(tag.len())];
        let Some(name) = tag
            .split("data-series=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let points = tag
            .split("points=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map_or(0, |p| p.split_whitespace().count());
        all.insert(name.to_string());
        if points > 2 {
            lines.insert(name.to_string());
        }
    }
    (lines, all)
}

#[test]
fn report_renders_in_headless_chromium_with_one_series_per_run() {
    let chromium = chromium();
    assert!(chromium.is_file());
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let out = Command::new(bin("spindle"))
        .args(["compare", "--logs"])
        .arg(fixtures().join("static.jsonl"))
        .arg(fixtures().join("dynamic.jsonl"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let t = success(&out);
    // The fixtures' figures (worked out in appmaster/report/tests/accounting.rs): executor-seconds
    // 14.5 / 21.49, job time 4.7 / 2.5.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: Vec<&str> = stdout.lines().rev().take(3).collect();
    assert_eq!(
        last[1], "executor-seconds ratio (dynamic/static): 0.67",
        "{t}"
    );
    assert_eq!(last[0], "job-time ratio (dynamic/static): 1.88", "{t}");
    assert_eq!(last[2], format!("report: {}", report.display()), "{t}");
    // The verdict in words, in the terminal and in the report.
    let verdict = "Dynamic allocation used 33% fewer executor-seconds than static allocation, \
                   and its jobs took 88% longer.";
    assert!(stdout.contains(verdict), "{t}");

    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains(&format!("<p class=\"headline\">{verdict}</p>")),
        "{html}"
    );
    // Self-contained: nothing to fetch.
    for bad in ["<script", "<link", " src=", "url(", "https://", "@import"] {
        assert!(!html.contains(bad), "the report refers to {bad}");
    }
    assert_eq!(
        html.matches("http://").count(),
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        "only SVG namespaces may name a URL"
    );
    // The executors chart: one series per run.
    let fig = figure(&html, "executors").expect("executors chart");
    let (lines, all) = series_in(fig);
    let runs: BTreeSet<String> = ["static", "dynamic"].map(String::from).into();
    assert_eq!(lines, runs, "plot lines in the executors chart");
    assert_eq!(all, runs, "every tagged polyline belongs to a run");
    let tasks = figure(&html, "tasks").expect("tasks chart");
    assert_eq!(series_in(tasks).0, runs, "plot lines in the tasks chart");
    assert_eq!(
        html.matches("<figure class=\"chart resources\">").count(),
        3
    );

    // Opens in Chromium with no console message at all (no errors, no failed loads).
    let profile = dir.path().join("profile");
    let shot = dir.path().join("report.png");
    let stderr = screenshot(&profile, &report, "1000,1600", &shot);
    assert!(
        console_lines(&stderr).is_empty(),
        "console messages: {:?}",
        console_lines(&stderr)
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "screenshot"
    );
    let counts = run_colors(&profile, &shot);
    for run in ["static", "dynamic"] {
        assert!(counts[run].as_u64().unwrap() > 500, "{run}: {counts}");
    }

    // The executors chart alone, as the browser draws it: both runs' lines are there.
    let alone = dir.path().join("executors.html");
    std::fs::write(
        &alone,
        format!("<!DOCTYPE html><html><body style=\"margin:0\">{fig}</body></html>"),
    )
    .unwrap();
    let shot = dir.path().join("executors.png");
    let stderr = screenshot(&profile, &alone, "940,320", &shot);
    assert!(console_lines(&stderr).is_empty(), "{stderr}");
    let counts = run_colors(&profile, &shot);
    for run in ["static", "dynamic"] {
        assert!(
            counts[run].as_u64().unwrap() > 300,
            "{run}'s executor line is not in the screenshot: {counts}"
        );
    }
}

/// A table row of `spindle compare`'s output: the numbers after the row's name.
fn row(out: &str, name: &str) -> Vec<f64> {
    let line = out
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{out}"));
    line[name.len()..]
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn close(log: f64, rm: f64, rel: f64, abs: f64) -> bool {
    (log - rm).abs() <= (rm * rel).max(abs)
}

/// The event logs that compare's summary names, one a side (`..., log PATH)`).
fn logs_named(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split(", log ").nth(1))
        .map(|l| l.trim_end_matches(')').to_string())
        .collect()
}

/// `spindle compare` on `c` of Bursty (sleeping tasks) with `bursty` its job arguments: 2
/// executors of 1 core (dynamic: at most 2, idle after 1 s), `opts` before those, run in
/// `work`. It must succeed: its transcript for messages, and its stdout.
fn compare_bursty(c: &Cluster, opts: &[&str], bursty: &[String], work: &Path) -> (String, String) {
    let out = c
        .spindle()
        .current_dir(work)
        .args(["compare", "--no-progress"])
        .args(opts)
        .args(["--num-executors", "2", "--executor-cores", "1"])
        .args(["--conf", "spark.dynamicAllocation.maxExecutors=2"])
        .args(["--conf", "spark.dynamicAllocation.executorIdleTimeout=1s"])
        .args(["--class", "Bursty"])
        .arg(bin("appmaster"))
        .args(bursty)
        .args(["--work", "sleep"])
        .output()
        .unwrap();
    let t = success(&out);
    (t, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn compare_runs_both_sides_and_agrees_with_the_rm() {
    let c = Cluster::up(2, &[]);
    let work = tempfile::tempdir().unwrap();
    let (t, stdout) = compare_bursty(&c, &[], &bursty(2, 4, 200, 2500), work.path());
    let last: Vec<&str> = stdout.lines().rev().take(3).collect();
    let ratio = |line: &str, prefix: &str| -> f64 {
        let v = line
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}:\n{t}"));
        assert!(
            v.len() >= 4 && v.as_bytes()[v.len() - 3] == b'.',
            "two decimals: {v:?}"
        );
        v.parse().unwrap()
    };
    let es = ratio(last[1], "executor-seconds ratio (dynamic/static): ");
    let jt = ratio(last[0], "job-time ratio (dynamic/static): ");
    assert!(es > 0.0 && es < 1.2, "{t}");
    assert!(jt > 0.5, "{t}");
    let report = last[2].strip_prefix("report: ").expect("report line");
    assert!(report.ends_with(".html"), "{report}");
    assert!(Path::new(report).is_file(), "{report} is missing");
    let html = std::fs::read_to_string(report).unwrap();
    assert!(html.contains("data-series=\"static\"") && html.contains("data-series=\"dynamic\""));
    assert!(
        stdout.contains("ideal static"),
        "Bursty gets its ideal: {t}"
    );

    // The event logs' aggregate resource allocation agrees with the RM's, both runs: the RM
    // also counts the AM's start-up before its first event and the processes' exit after
    // the last, tens of milliseconds per container.
    let mb_log = row(&stdout, "MB-seconds (event log)");
    let mb_rm = row(&stdout, "MB-seconds (RM report)");
    let vc_log = row(&stdout, "vcore-seconds (event log)");
    let vc_rm = row(&stdout, "vcore-seconds (RM report)");
    for side in 0..2 {
        assert!(
            close(mb_log[side], mb_rm[side], 0.03, 1408.0),
            "MB-seconds: log {} vs RM {}\n{t}",
            mb_log[side],
            mb_rm[side]
        );
        assert!(
            close(vc_log[side], vc_rm[side], 0.03, 1.0),
            "vcore-seconds: log {} vs RM {}\n{t}",
            vc_log[side],
            vc_rm[side]
        );
    }
    // The logs are where the cluster keeps them, and compare can read them back.
    let logs = logs_named(&stdout);
    assert_eq!(logs.len(), 2, "{t}");
    let again = Command::new(bin("spindle"))
        .args(["compare", "--logs", &logs[0], &logs[1], "--report"])
        .arg(work.path().join("again.html"))
        .output()
        .unwrap();
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        again_out.ends_with(&format!("{}\n{}\n", last[1], last[0])),
        "the same logs give the same ratios:\n{again_out}"
    );
}

#[test]
fn two_tenants_queue_under_static_allocation_and_share_under_dynamic() {
    // Two NMs of 4096 MB: two 1408 MB containers each, four in all. One tenant's static share
    // (its AM and 2 executors) fits; two (6) do not.
    let c = Cluster::up(2, &["--node-memory-mb", "4096"]);
    let work = tempfile::tempdir().unwrap();
    let (t, stdout) = compare_bursty(&c, &["--tenants", "2"], &bursty(1, 8, 300, 0), work.path());
    assert!(
        stdout.contains("static shares need 6"),
        "the sizing note: {t}"
    );
    // Per tenant: queue→first task (the 4th number of the row: after "#k" and the app id,
    // the numbers are queue→running, queue→first task, wall, ...).
    let first_task = |label: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(label) && l.contains("application_"))
            .unwrap_or_else(|| panic!("no tenant row {label}:\n{t}"));
        let nums: Vec<f64> = line
            .split_whitespace()
            .skip(3)
            .filter_map(|w| w.parse().ok())
            .collect();
        nums[1]
    };
    let static_wait = first_task("static #1").max(first_task("static #2"));
    let dynamic_wait = first_task("dynamic #1").max(first_task("dynamic #2"));
    // Under static allocation one tenant waits for the other's whole run (8 tasks of 0.3 s on
    // 2 executors: at least 1.2 s); under dynamic allocation both get an executor at once.
    assert!(static_wait > 1.2, "static: {static_wait}\n{t}");
    assert!(
        dynamic_wait < static_wait,
        "dynamic {dynamic_wait} vs static {static_wait}\n{t}"
    );
}

#[test]
fn compare_eager_runs_a_third_side_under_the_eager_policy() {
    let c = Cluster::up(2, &[]);
    let work = tempfile::tempdir().unwrap();
    let (t, stdout) = compare_bursty(&c, &["--eager"], &bursty(2, 4, 200, 1500), work.path());
    // The scripts' two lines stay last; the eager side's two come before them.
    let last: Vec<&str> = stdout.lines().rev().take(5).collect();
    let expected = [
        "job-time ratio (dynamic/static): ",
        "executor-seconds ratio (dynamic/static): ",
        "job-time ratio (eager/static): ",
        "executor-seconds ratio (eager/static): ",
        "report: ",
    ];
    for (line, prefix) in last.iter().zip(expected) {
        assert!(line.starts_with(prefix), "{prefix:?} missing: {t}");
    }
    assert_eq!(last.len(), expected.len(), "{t}");
    // Three columns, two ratios; each side's run and its event log.
    let header = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("static") && l.contains("eager/static"))
        .unwrap_or_else(|| panic!("no three-sided header:\n{t}"));
    assert!(
        header.contains("dynamic") && header.contains("dyn/static"),
        "{header}"
    );
    assert_eq!(row(&stdout, "tasks"), vec![8.0, 8.0, 8.0], "{t}");
    let report = last[4].strip_prefix("report: ").unwrap();
    let html = std::fs::read_to_string(report).unwrap();
    for side in ["static", "dynamic", "eager"] {
        assert!(html.contains(&format!("data-series=\"{side}\"")), "{side}");
    }
    // The eager run asked for both executors when its first stage was submitted; the
    // dynamic one followed Spark's rules.
    let logs = logs_named(&stdout);
    assert_eq!(logs.len(), 3, "{t}");
    let conf_of = |path: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        first["conf"]["spindle.dynamicAllocation.policy"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(conf_of(&logs[0]), None, "static");
    assert_eq!(conf_of(&logs[1]).as_deref(), Some("spark"));
    assert_eq!(conf_of(&logs[2]).as_deref(), Some("eager"));
}
