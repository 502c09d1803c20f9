//! `spindle what-if` as a user runs it: the real binary on the committed Spark 4 event logs
//! (`appmaster/tests/spark-eventlogs/`), a rolled copy of one, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SPINDLE: &str = env!("CARGO_BIN_EXE_spindle");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../appmaster/tests/spark-eventlogs")
        .join(name)
}

fn what_if(log: &Path, extra: &[&str], report: &Path) -> Output {
    Command::new(SPINDLE)
        .arg("what-if")
        .arg("--eventlog")
        .arg(log)
        .arg("--report")
        .arg(report)
        .args(extra)
        .output()
        .expect("spindle runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_stderr_says(o: &Output, expected: &str) {
    let err = stderr(o);
    assert!(err.contains(expected), "{err}");
}

/// The dynamic run's settings, as `--conf`s.
const DYNAMIC: &[&str] = &[
    "--conf",
    "spark.dynamicAllocation.minExecutors=0",
    "--conf",
    "spark.dynamicAllocation.maxExecutors=2",
    "--conf",
    "spark.dynamicAllocation.executorIdleTimeout=5s",
    "--conf",
    "spark.dynamicAllocation.schedulerBacklogTimeout=1s",
];

/// (policy, executor-seconds, job time) from the last lines.
fn policy_lines(out: &str) -> Vec<(String, f64, f64)> {
    out.lines()
        .filter_map(|l| {
            let (policy, rest) = l.split_once(": executor-seconds ")?;
            let (x, rest) = rest.split_once(", job time ")?;
            let y = rest.strip_suffix(" s")?;
            Some((policy.to_owned(), x.parse().ok()?, y.parse().ok()?))
        })
        .collect()
}

#[test]
fn prints_every_policy_and_writes_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.html");
    let o = what_if(&fixture("bursty-static"), DYNAMIC, &report);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    // The output ends with one line per policy, in this form.
    let last: Vec<&str> = out.lines().rev().take(3).collect();
    let lines = policy_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    let names: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(names, ["static", "spark", "eager"]);
    for l in &last {
        assert!(
            l.starts_with("static: ") || l.starts_with("spark: ") || l.starts_with("eager: "),
            "{l}"
        );
    }
    assert!(
        out.contains("measured in the log (static allocation)"),
        "{out}"
    );
    assert!(out.contains("Spark 4."), "{out}");
    assert!(
        out.contains(&format!("report: {}", report.display())),
        "{out}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    for series in ["measured", "static", "spark", "eager"] {
        assert!(
            html.contains(&format!("data-series=\"{series}\"")),
            "{series}"
        );
    }
    // On Spindle's cluster (the default: 20 ms starts), both dynamic policies cost less
    // than static, and eager no more job time than Spark's rules.
    let (s, spark, eager) = (&lines[0], &lines[1], &lines[2]);
    assert!(spark.1 < s.1 && eager.1 < s.1, "{lines:?}");
    assert!(eager.2 <= spark.2, "{lines:?}");
}

#[test]
fn a_rolled_log_reads_as_the_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("bursty-dynamic")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let rolled = dir.path().join("eventlog_v2_app-1");
    std::fs::create_dir(&rolled).unwrap();
    let third = lines.len() / 3;
    for (n, part) in [
        &lines[..third],
        &lines[third..2 * third],
        &lines[2 * third..],
    ]
    .iter()
    .enumerate()
    {
        // Part 10 sorts after part 2 by number, not by name.
        let number = [1, 2, 10][n];
        std::fs::write(
            rolled.join(format!("events_{number}_app-1")),
            part.join("\n") + "\n",
        )
        .unwrap();
    }
    std::fs::write(rolled.join("appstatus_app-1"), "").unwrap();
    let one = what_if(&fixture("bursty-dynamic"), &[], &dir.path().join("a.html"));
    let many = what_if(&rolled, &[], &dir.path().join("b.html"));
    assert!(many.status.success(), "{}", stderr(&many));
    assert_eq!(policy_lines(&stdout(&one)), policy_lines(&stdout(&many)));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = what_if(&empty, &[], &dir.path().join("c.html"));
    assert_stderr_says(&o, "not a rolled Spark event log");
}

#[test]
fn a_zstd_log_reads_as_the_plain_one() {
    // Spark's default codec when spark.eventLog.compress=true: `<app>.zstd`.
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(fixture("bursty-dynamic")).unwrap();
    let zstd = dir.path().join("app-1.zstd");
    std::fs::write(
        &zstd,
        ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest),
    )
    .unwrap();
    let one = what_if(&fixture("bursty-dynamic"), &[], &dir.path().join("a.html"));
    let z = what_if(&zstd, &[], &dir.path().join("b.html"));
    assert!(z.status.success(), "{}", stderr(&z));
    assert_eq!(policy_lines(&stdout(&one)), policy_lines(&stdout(&z)));
}

#[test]
fn bad_input_gets_an_error_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.html");
    let cases: Vec<(PathBuf, Vec<u8>, &str)> = vec![
        (dir.path().join("missing.json"), Vec::new(), "cannot read the event log"),
        (
            dir.path().join("notes.txt"),
            b"shopping list\nmilk\n".to_vec(),
            "not an event log: line 1",
        ),
        (
            dir.path().join("idle"),
            concat!(
                "{\"Event\":\"SparkListenerLogStart\",\"Spark Version\":\"4.0.0\"}\n",
                "{\"Event\":\"SparkListenerApplicationStart\",\"App Name\":\"a\",\"App ID\":\"app-1\",\"Timestamp\":1000,\"User\":\"u\"}\n",
                "{\"Event\":\"SparkListenerApplicationEnd\",\"Timestamp\":2000}\n"
            )
            .as_bytes()
            .to_vec(),
            "no finished task",
        ),
        (
            dir.path().join("app-1.zstd"),
            vec![0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3],
            "a zstd-compressed log that does not decompress",
        ),
        (
            dir.path().join("app-1.lz4"),
            b"LZ4Block\x00\x01".to_vec(),
            "compressed (lz4)",
        ),
    ];
    for (path, bytes, expected) in cases {
        if !bytes.is_empty() {
            std::fs::write(&path, bytes).unwrap();
        }
        let o = what_if(&path, &[], &report);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{}: {err}", path.display());
        assert!(err.contains(expected), "{}: {err}", path.display());
        assert!(
            err.contains(&path.display().to_string()),
            "names the file: {err}"
        );
    }
    let o = what_if(
        &fixture("bursty-static"),
        &["--policies", "greedy"],
        &report,
    );
    assert_stderr_says(&o, "unknown policy 'greedy'");
    let o = what_if(
        &fixture("bursty-static"),
        &[
            "--conf",
            "spark.dynamicAllocation.minExecutors=5",
            "--conf",
            "spark.dynamicAllocation.maxExecutors=2",
        ],
        &report,
    );
    assert_stderr_says(&o, "minExecutors");
}
