//! `spindle what-if --eventlog LOG`: an application's event log (Spark's or Spindle's)
//! replayed under static allocation, Spark's dynamic allocation rules and Spindle's eager
//! policy; per policy the predicted executor-seconds, job time and peak executors, and an
//! HTML chart of executors over time. The parsing and the replay are
//! `am_core::whatif`; this reads the file, prints and writes the report.

use std::path::{Path, PathBuf};

use ::report::whatif::{self as page, Row};
use am_core::whatif::{self, Outcome, PolicyKind, Request, Workload};

const LONG_ABOUT: &str = "\
Predict what an application would have cost under other allocation policies, from its event
log: Spark's own (JSON lines as Spark 3.x and 4.x write them with spark.eventLog.enabled=true,
uncompressed or zstd-compressed; for a rolled log, its directory) or Spindle's
(<cluster dir>/history/<app>.jsonl).

Each job's stages and each task's duration are replayed, with the gaps the driver left between
jobs, through a simulated task scheduler and the application master's own allocation manager:
  static   --num-executors N held throughout
  spark    Spark's dynamic allocation rules, with the log's spark.dynamicAllocation.* and any
           --conf spark.dynamicAllocation.*
  eager    Spindle's eager policy (spindle.dynamicAllocation.policy=eager), same settings

The cluster is assumed to be Spindle's unless told otherwise: executors start in
--executor-start-ms (default 20, Spindle's measured start), stop at once (--executor-stop-ms 0)
and run their first task no slower than the others (--executor-warmup-ms 0). The log's own
cluster's figures are printed, to pass them back and predict that cluster.

The output ends with one line per policy:
  POLICY: executor-seconds X, job time Y s";

/// `spindle what-if`'s arguments.
#[derive(clap::Args)]
#[command(
    about = "Replay an event log (Spark's or Spindle's) under static, Spark-rules and eager allocation and predict each one's executor-seconds and job time",
    long_about = LONG_ABOUT
)]
pub(crate) struct WhatIfArgs {
    /// The event log: a file, or a rolled Spark log's directory (eventlog_v2_*).
    #[arg(long, value_name = "LOG")]
    eventlog: PathBuf,
    /// Executors of the static policy (default: the most the log's run held at once).
    #[arg(long, value_name = "N")]
    num_executors: Option<u32>,
    /// Cores per executor (default: the log's spark.executor.cores, else its executors').
    #[arg(long, value_name = "N")]
    executor_cores: Option<u32>,
    /// A property for the dynamic policies, over the log's own (repeatable):
    /// spark.dynamicAllocation.*, spark.task.cpus, spark.shuffle.service.enabled,
    /// spindle.dynamicAllocation.eager.idleTimeout.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
    /// Executor start latency to assume, ms (ask to registration; default 20, Spindle's).
    #[arg(long, value_name = "MS")]
    executor_start_ms: Option<u64>,
    /// Executor stop latency to assume, ms (removal decision to exit; default 0, Spindle's).
    #[arg(long, value_name = "MS")]
    executor_stop_ms: Option<u64>,
    /// Extra time of each executor's first task, ms (default 0).
    #[arg(long, value_name = "MS")]
    executor_warmup_ms: Option<u64>,
    /// The policies to replay, comma-separated (default: static,spark,eager).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    policies: Vec<String>,
    /// Where to write the HTML report (default: <temp dir>/spindle-reports/whatif-<log>.html).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// Why `spindle what-if` cannot answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum WhatIfCliError {
    #[error("cannot read the event log {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: a directory, but not a rolled Spark event log (no events_N_* files in it)", path.display())]
    NotRolled { path: PathBuf },
    #[error("{}: {error}", path.display())]
    Log {
        path: PathBuf,
        error: whatif::WhatIfError,
    },
    #[error("{}: a zstd-compressed log that does not decompress: {reason}", path.display())]
    Zstd { path: PathBuf, reason: String },
    #[error("--conf {arg}: expected KEY=VALUE")]
    BadConf { arg: String },
    #[error("--policies: unknown policy '{name}' (one of static, spark, eager)")]
    BadPolicy { name: String },
    #[error("{0}")]
    Chart(#[from] ::report::charts::ChartError),
    #[error("cannot write the report {}: {error}", path.display())]
    WriteReport {
        path: PathBuf,
        error: std::io::Error,
    },
}

pub(crate) fn run(args: WhatIfArgs) -> Result<i32, WhatIfCliError> {
    let request = request(&args)?;
    let bytes = read_log(&args.eventlog)?;
    let log_error = |error| WhatIfCliError::Log {
        path: args.eventlog.clone(),
        error,
    };
    let workload = whatif::parse_bytes(&bytes).map_err(log_error)?;
    let outcome = whatif::what_if(&workload, &request).map_err(log_error)?;
    let facts = facts(&args.eventlog, &workload, &outcome);
    let mut text = String::new();
    for f in &facts {
        text.push_str(f);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&table(&workload, &outcome));
    say(&text);
    let measured = Row {
        name: "measured".into(),
        allocation: "the log's own run".into(),
        figures: &workload.measured,
    };
    let rows: Vec<Row<'_>> = outcome
        .runs
        .iter()
        .map(|r| Row::prediction(&r.prediction, r.allocation.clone()))
        .collect();
    let title = format!(
        "what-if: {}",
        workload
            .app_name
            .as_deref()
            .or(workload.app_id.as_deref())
            .unwrap_or("application")
    );
    let html = page::html(&title, &facts, Some(&measured), &rows)?;
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| default_report(&args.eventlog));
    if let Some(dir) = report.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| WhatIfCliError::WriteReport {
            path: report.clone(),
            error,
        })?;
    }
    std::fs::write(&report, html).map_err(|error| WhatIfCliError::WriteReport {
        path: report.clone(),
        error,
    })?;
    let mut text = format!("report: {}\n", report.display());
    for r in &outcome.runs {
        text.push_str(&format!(
            "{}: executor-seconds {:.1}, job time {:.1} s\n",
            r.kind.name(),
            r.prediction.executor_s(),
            r.prediction.job_s()
        ));
    }
    say(&text);
    Ok(0)
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn say(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn request(args: &WhatIfArgs) -> Result<Request, WhatIfCliError> {
    let conf = args
        .conf
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| WhatIfCliError::BadConf { arg: a.clone() })
        })
        .collect::<Result<_, _>>()?;
    let policies = args
        .policies
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| PolicyKind::parse(p).ok_or_else(|| WhatIfCliError::BadPolicy { name: p.clone() }))
        .collect::<Result<_, _>>()?;
    Ok(Request {
        policies,
        num_executors: args.num_executors,
        executor_cores: args.executor_cores,
        conf,
        start_latency_ms: args.executor_start_ms,
        stop_latency_ms: args.executor_stop_ms,
        warmup_ms: args.executor_warmup_ms,
    })
}

/// The log's bytes: the file, or a rolled log's `events_N_*` files in order.
fn read_log(path: &Path) -> Result<Vec<u8>, WhatIfCliError> {
    let read = |p: &Path| {
        let bytes = std::fs::read(p).map_err(|error| WhatIfCliError::Read {
            path: p.to_path_buf(),
            error,
        })?;
        unzstd(p, bytes)
    };
    if !path.is_dir() {
        return read(path);
    }
    let entries = std::fs::read_dir(path).map_err(|error| WhatIfCliError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let mut parts: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix("events_")?
                .split('_')
                .next()?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    if parts.is_empty() {
        return Err(WhatIfCliError::NotRolled {
            path: path.to_path_buf(),
        });
    }
    parts.sort();
    let mut all = Vec::new();
    for (_, p) in parts {
        let bytes = read(&p)?;
        all.extend_from_slice(&bytes);
        if !all.ends_with(b"\n") {
            all.push(b'\n');
        }
    }
    Ok(all)
}

/// The magic number that starts a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Spark's default event-log codec is zstd (`spark.eventLog.compress=true`, a file named
/// `<app>.zstd`): decompressed here; any other bytes pass through.
fn unzstd(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, WhatIfCliError> {
    use std::io::Read as _;
    if !bytes.starts_with(&ZSTD_MAGIC) {
        return Ok(bytes);
    }
    let bad = |reason: String| WhatIfCliError::Zstd {
        path: path.to_path_buf(),
        reason,
    };
    // Frame by frame (a log may hold several, as `cat a.zstd b.zstd` does).
    let mut rest = &bytes[..];
    let mut out = Vec::with_capacity(bytes.len() * 8);
    while !rest.is_empty() {
        if !rest.starts_with(&ZSTD_MAGIC) {
            return Err(bad(format!(
                "{} bytes after the last frame are not a zstd frame",
                rest.len()
            )));
        }
        let mut frame =
            ruzstd::decoding::StreamingDecoder::new(&mut rest).map_err(|e| bad(e.to_string()))?;
        frame
            .read_to_end(&mut out)
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(out)
}

fn default_report(log: &Path) -> PathBuf {
    let stem = log
        .file_name()
        .map(|n| n.to_string_lossy().replace(['.', ' '], "_"))
        .unwrap_or_else(|| "log".to_owned());
    std::env::temp_dir()
        .join("spindle-reports")
        .join(format!("whatif-{stem}.html"))
}

fn ms(v: u64) -> String {
    format!("{v} ms")
}

/// The lines about the log and the assumptions, printed and put atop the report.
fn facts(path: &Path, w: &Workload, outcome: &Outcome) -> Vec<String> {
    let mut out = vec![format!(
        "event log: {} ({}, {}, {} job{}, {} tasks)",
        path.display(),
        w.format,
        w.app_id.as_deref().unwrap_or("no application id"),
        w.jobs.len(),
        if w.jobs.len() == 1 { "" } else { "s" },
        w.num_tasks
    )];
    let m = &w.measured;
    out.push(format!(
        "measured in the log ({} allocation): executor-seconds {:.1}, job time {:.1} s, peak executors {}, wall {:.1} s",
        if w.dynamic_allocation() { "dynamic" } else { "static" },
        m.executor_s(),
        m.job_s(),
        m.peak_executors,
        m.wall_ms as f64 / 1000.0
    ));
    let mut cluster = Vec::new();
    if let Some(s) = w.median_start_latency_ms() {
        cluster.push(format!(
            "executor start {} (median of {})",
            ms(s),
            w.start_latencies_ms.len()
        ));
    }
    if let Some(s) = w.median_stop_latency_ms() {
        cluster.push(format!(
            "stop {} (median of {})",
            ms(s),
            w.stop_latencies_ms.len()
        ));
    }
    cluster.push(format!("first-task warm-up {}", ms(w.warmup_ms)));
    let mut flags = Vec::new();
    if let Some(s) = w.median_start_latency_ms() {
        flags.push(format!("--executor-start-ms {s}"));
    }
    if let Some(s) = w.median_stop_latency_ms() {
        flags.push(format!("--executor-stop-ms {s}"));
    }
    flags.push(format!("--executor-warmup-ms {}", w.warmup_ms));
    out.push(format!(
        "the log's cluster: {} (to predict on it: {})",
        cluster.join(", "),
        flags.join(" ")
    ));
    let o = &outcome.options;
    out.push(format!(
        "assumed: executor start {}, stop {}, first-task warm-up {}, {} core{} per executor, {} per task",
        ms(o.start_latency_ms),
        ms(o.stop_latency_ms),
        ms(o.warmup_ms),
        o.executor_cores,
        if o.executor_cores == 1 { "" } else { "s" },
        o.task_cpus
    ));
    out
}

/// The per-policy table, with the log's own run first.
fn table(w: &Workload, outcome: &Outcome) -> String {
    let mut rows = vec![vec![
        "policy".to_owned(),
        "executor-seconds".to_owned(),
        "job time".to_owned(),
        "peak executors".to_owned(),
        "wall".to_owned(),
        "allocation".to_owned(),
    ]];
    let row = |name: &str, m: &whatif::Measured, allocation: &str| {
        vec![
            name.to_owned(),
            format!("{:.1}", m.executor_s()),
            format!("{:.1} s", m.job_s()),
            m.peak_executors.to_string(),
            format!("{:.1} s", m.wall_ms as f64 / 1000.0),
            allocation.to_owned(),
        ]
    };
    rows.push(row("measured", &w.measured, "the log's own run"));
    for r in &outcome.runs {
        rows.push(row(r.kind.name(), &r.prediction.figures, &r.allocation));
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            // Names and the allocation read left-aligned, numbers right-aligned.
            if c == 0 || c == r.len() - 1 {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
