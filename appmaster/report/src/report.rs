//! The comparison's text table and its self-contained HTML report (inline CSS and SVG, no
//! script, nothing fetched from the network).

use crate::accounting::AppAccount;
use crate::charts::{self, Bar, ChartError, Series, DYNAMIC_COLORS, EAGER_COLORS, STATIC_COLORS};
use crate::ideal::{self, Bursty, Ideal};
use am_core::allocation::{AllocationConfig, AllocationPolicy};
use am_core::sparkconf::SparkConf;
use common::html::escape;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Which side of a comparison a run is on: static allocation, dynamic allocation (under the
/// policy its properties name, Spark's rules by default), or dynamic allocation under
/// Spindle's eager policy as a third side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Static,
    Dynamic,
    Eager,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
            Self::Eager => "eager",
        }
    }

    /// The side as the subject of the headline sentence.
    fn subject(self) -> &'static str {
        match self {
            Self::Static => "Static allocation",
            Self::Dynamic => "Dynamic allocation",
            Self::Eager => "Dynamic allocation under the eager policy",
        }
    }

    /// This side's ratio to static, in words.
    fn ratio_words(self) -> &'static str {
        match self {
            Self::Static => "static/static",
            Self::Dynamic => "dynamic/static",
            Self::Eager => "eager/static",
        }
    }

    /// The column header of this side's ratio to static.
    fn ratio_header(self) -> &'static str {
        match self {
            Self::Static => "static/static",
            Self::Dynamic => "dyn/static",
            Self::Eager => "eager/static",
        }
    }

    fn colors(self) -> [(u8, u8, u8); 3] {
        match self {
            Self::Static => STATIC_COLORS,
            Self::Dynamic => DYNAMIC_COLORS,
            Self::Eager => EAGER_COLORS,
        }
    }
}

/// What the RM reported for an application (its aggregate resource allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmFigures {
    pub memory_seconds: u64,
    pub vcore_seconds: u64,
}

/// One application run in a comparison.
#[derive(Debug, Clone)]
pub struct Run {
    /// `static`, `dynamic`, `static #2`, ...
    pub label: String,
    pub mode: Mode,
    pub account: AppAccount,
    pub rm: Option<RmFigures>,
    pub log: Option<PathBuf>,
}

/// The ideal static and dynamic runs of a Bursty workload.
#[derive(Debug, Clone, Copy)]
pub struct IdealPair {
    pub workload: Bursty,
    pub static_run: Ideal,
    pub dynamic_run: Ideal,
    /// The dynamic run's policy (the ideal follows it).
    pub policy: AllocationPolicy,
}

impl IdealPair {
    /// The ideal for `workload`, with the static run's executor count and slots and the
    /// dynamic run's allocation settings (both taken from their logs' properties).
    pub fn for_runs(workload: Bursty, static_run: &AppAccount, dynamic: &AppAccount) -> Self {
        let task_cpus =
            |a: &AppAccount| -> u32 { SparkConf::from(a.conf.clone()).task_cpus().unwrap_or(1) };
        let slots = (static_run.executor_cores / task_cpus(static_run)).max(1);
        let executors = static_run
            .conf
            .get("spark.executor.instances")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(static_run.usage.peak_executors);
        let mut conf = dynamic.conf.clone();
        conf.entry("spark.executor.cores".into())
            .or_insert_with(|| dynamic.executor_cores.to_string());
        let alloc = AllocationConfig::from_spark_conf(&conf).unwrap_or_default();
        Self {
            workload,
            static_run: ideal::static_run(&workload, executors, slots),
            dynamic_run: ideal::dynamic_run(&workload, &alloc),
            policy: alloc.policy,
        }
    }

    /// Whose rules the ideal dynamic run follows, for the reader.
    pub fn rules(&self) -> &'static str {
        match self.policy {
            AllocationPolicy::Eager => "the eager policy",
            _ => "Spark's rules",
        }
    }

    pub fn executor_ratio(&self) -> f64 {
        ratio(
            self.dynamic_run.executor_ms as f64,
            self.static_run.executor_ms as f64,
        )
    }

    pub fn job_ratio(&self) -> f64 {
        ratio(
            self.dynamic_run.job_ms as f64,
            self.static_run.job_ms as f64,
        )
    }
}

/// Static runs against dynamic runs of one application (one of each, or one per tenant),
/// and optionally against eager-policy runs as a third side.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub title: String,
    /// What was run (the application and its arguments), for the reader.
    pub what: String,
    pub static_runs: Vec<Run>,
    pub dynamic_runs: Vec<Run>,
    /// Runs under `spindle.dynamicAllocation.policy=eager` (empty: a two-sided comparison).
    pub eager_runs: Vec<Run>,
    pub ideal: Option<IdealPair>,
    /// Notes printed under the table (e.g. how the cluster was sized).
    pub notes: Vec<String>,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// How far a ratio to static is from 1, in whole percent (`None` when there is no ratio).
fn percent_change(r: f64) -> Option<i64> {
    r.is_finite().then(|| ((r - 1.0) * 100.0).round() as i64)
}

/// "21% fewer executor-seconds" (`None` when there is no ratio).
fn executor_change(r: f64) -> Option<String> {
    Some(match percent_change(r)? {
        0 => "as many executor-seconds".to_string(),
        p if p < 0 => format!("{}% fewer executor-seconds", -p),
        p => format!("{p}% more executor-seconds"),
    })
}

/// "27% longer" (`None` when there is no ratio).
fn time_change(r: f64) -> Option<String> {
    Some(match percent_change(r)? {
        0 => "as long".to_string(),
        p if p < 0 => format!("{}% less time", -p),
        p => format!("{p}% longer"),
    })
}

/// One row of the side-by-side table: the metric, one value per side, each non-static side's
/// ratio to static, and the ideal static, ideal dynamic and ideal ratio (empty without one).
struct Row {
    name: String,
    values: Vec<String>,
    ratios: Vec<String>,
    ideal: [String; 3],
}

impl Comparison {
    pub fn tenants(&self) -> bool {
        self.sides().iter().any(|(_, runs)| runs.len() > 1)
    }

    /// The sides compared, in order: static, dynamic, then eager if there are eager runs.
    pub fn sides(&self) -> Vec<(Mode, &[Run])> {
        let mut sides = vec![
            (Mode::Static, self.static_runs.as_slice()),
            (Mode::Dynamic, self.dynamic_runs.as_slice()),
        ];
        if !self.eager_runs.is_empty() {
            sides.push((Mode::Eager, self.eager_runs.as_slice()));
        }
        sides
    }

    fn total(runs: &[Run], f: impl Fn(&AppAccount) -> f64) -> f64 {
        runs.iter().map(|r| f(&r.account)).sum()
    }

    fn side_runs(&self, mode: Mode) -> &[Run] {
        match mode {
            Mode::Static => &self.static_runs,
            Mode::Dynamic => &self.dynamic_runs,
            Mode::Eager => &self.eager_runs,
        }
    }

    /// Executor-seconds of one side over static's (all runs of each side).
    pub fn executor_ratio_of(&self, mode: Mode) -> f64 {
        ratio(
            Self::total(self.side_runs(mode), |a| a.usage.executor_s()),
            Self::total(&self.static_runs, |a| a.usage.executor_s()),
        )
    }

    /// Total job time of one side over static's (all runs of each side).
    pub fn job_ratio_of(&self, mode: Mode) -> f64 {
        ratio(
            Self::total(self.side_runs(mode), |a| secs(a.job_ms())),
            Self::total(&self.static_runs, |a| secs(a.job_ms())),
        )
    }

    /// Executor-seconds, dynamic over static (all runs of each side).
    pub fn executor_ratio(&self) -> f64 {
        self.executor_ratio_of(Mode::Dynamic)
    }

    /// Total job time, dynamic over static (all runs of each side).
    pub fn job_ratio(&self) -> f64 {
        self.job_ratio_of(Mode::Dynamic)
    }

    /// The lines scripts read (the last lines of `spindle compare`): with an eager side, its
    /// two ratios first; always the dynamic/static ones last.
    pub fn ratio_lines(&self) -> String {
        let mut out = String::new();
        if !self.eager_runs.is_empty() {
            let _ = write!(
                out,
                "executor-seconds ratio (eager/static): {:.2}\njob-time ratio (eager/static): {:.2}\n",
                self.executor_ratio_of(Mode::Eager),
                self.job_ratio_of(Mode::Eager)
            );
        }
        let _ = write!(
            out,
            "executor-seconds ratio (dynamic/static): {:.2}\njob-time ratio (dynamic/static): {:.2}\n",
            self.executor_ratio(),
            self.job_ratio()
        );
        out
    }

    /// The verdict in plain words, one sentence per non-static side, e.g. "Dynamic allocation
    /// used 21% fewer executor-seconds than static allocation, and its jobs took 27% longer."
    /// With a Bursty workload the ideal follows in the same words, so the reader need not know
    /// which way the ratios point.
    pub fn headline(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (mode, _) in self.sides().into_iter().skip(1) {
            let subject = mode.subject();
            let (es, jt) = (self.executor_ratio_of(mode), self.job_ratio_of(mode));
            let than = |c: String| {
                // "as many executor-seconds as", "21% fewer executor-seconds than".
                let word = if c.starts_with("as ") { "as" } else { "than" };
                format!("{c} {word} static allocation")
            };
            let mut s = match (executor_change(es), time_change(jt)) {
                (Some(e), Some(j)) => format!("{subject} used {}, and its jobs took {j}.", than(e)),
                (Some(e), None) => format!("{subject} used {}.", than(e)),
                (None, _) => format!("{subject}: no static figures to compare with."),
            };
            // The ideal is worked out for the dynamic run's policy: it sits beside that side.
            if let Some(i) = self.ideal.as_ref().filter(|_| mode == Mode::Dynamic) {
                if let (Some(e), Some(j)) = (
                    executor_change(i.executor_ratio()),
                    time_change(i.job_ratio()),
                ) {
                    let _ = write!(
                        s,
                        " The ideal under {} (no start-up cost): {e}, jobs taking {j}.",
                        i.rules()
                    );
                }
            }
            out.push(s);
        }
        out
    }

    /// What the ratios mean, under the headline: the figures it was worded from.
    pub fn ratio_gloss(&self) -> String {
        let mut parts = Vec::new();
        for (mode, _) in self.sides().into_iter().skip(1) {
            let mut p = format!(
                "{}: executor-seconds {:.2}, job time {:.2}",
                mode.ratio_words(),
                self.executor_ratio_of(mode),
                self.job_ratio_of(mode)
            );
            if let Some(i) = self.ideal.as_ref().filter(|_| mode == Mode::Dynamic) {
                let _ = write!(
                    p,
                    " (ideal {:.2} and {:.2})",
                    i.executor_ratio(),
                    i.job_ratio()
                );
            }
            parts.push(p);
        }
        format!(
            "Ratios to static: {}. Below 1 saves resources; above 1 costs time.",
            parts.join("; ")
        )
    }

    fn runs(&self) -> impl Iterator<Item = &Run> {
        self.static_runs
            .iter()
            .chain(self.dynamic_runs.iter())
            .chain(self.eager_runs.iter())
    }

    /// Rows of the side-by-side table.
    fn rows(&self) -> Vec<Row> {
        let sides = self.sides();
        let mut rows = Vec::new();
        let fmt = |v: f64, prec: usize| {
            if v.is_nan() {
                "-".to_string()
            } else {
                format!("{v:.prec$}")
            }
        };
        let mut row = |name: &str,
                       f: &dyn Fn(&[Run]) -> f64,
                       prec: usize,
                       with_ratio: bool,
                       ideal: Option<(f64, f64)>| {
            let values: Vec<f64> = sides.iter().map(|(_, runs)| f(runs)).collect();
            let ratios = values[1..]
                .iter()
                .map(|v| {
                    if with_ratio {
                        fmt(ratio(*v, values[0]), 2)
                    } else {
                        String::new()
                    }
                })
                .collect();
            let ideal = match ideal {
                Some((a, b)) => [fmt(a, prec), fmt(b, prec), fmt(ratio(b, a), 2)],
                None => Default::default(),
            };
            rows.push(Row {
                name: name.to_string(),
                values: values.iter().map(|v| fmt(*v, prec)).collect(),
                ratios,
                ideal,
            });
        };
        let ideal = self.ideal.as_ref();
        fn sum(runs: &[Run], f: impl Fn(&AppAccount) -> f64) -> f64 {
            runs.iter().map(|r| f(&r.account)).sum::<f64>()
        }
        fn max(runs: &[Run], f: impl Fn(&AppAccount) -> f64) -> f64 {
            runs.iter().map(|r| f(&r.account)).fold(0.0, f64::max)
        }
        row(
            "wall time (s)",
            &|r| max(r, |a| a.usage.wall_s()),
            2,
            true,
            ideal.map(|i| (secs(i.static_run.wall_ms), secs(i.dynamic_run.wall_ms))),
        );
        row(
            "job time (s)",
            &|r| sum(r, |a| secs(a.job_ms())),
            2,
            true,
            ideal.map(|i| (secs(i.static_run.job_ms), secs(i.dynamic_run.job_ms))),
        );
        row(
            "executor-seconds",
            &|r| sum(r, |a| a.usage.executor_s()),
            1,
            true,
            ideal.map(|i| (i.static_run.executor_s(), i.dynamic_run.executor_s())),
        );
        row(
            "idle executor-seconds",
            &|r| sum(r, |a| a.usage.idle_executor_s()),
            1,
            true,
            ideal.map(|i| {
                (
                    secs(i.static_run.idle_executor_ms),
                    secs(i.dynamic_run.idle_executor_ms),
                )
            }),
        );
        let with_rm = self.runs().all(|r| r.rm.is_some());
        fn rm(runs: &[Run], f: impl Fn(&RmFigures) -> u64) -> f64 {
            runs.iter()
                .filter_map(|r| r.rm.as_ref())
                .map(|x| f(x) as f64)
                .sum::<f64>()
        }
        // Each resource from the event logs, then the RM's own figure when every run has it.
        type Resource = (&'static str, fn(&AppAccount) -> f64, fn(&RmFigures) -> u64);
        let per_resource: [Resource; 2] = [
            (
                "MB-seconds",
                |a| a.usage.mb_seconds() as f64,
                |x| x.memory_seconds,
            ),
            (
                "vcore-seconds",
                |a| a.usage.vcore_seconds() as f64,
                |x| x.vcore_seconds,
            ),
        ];
        for (name, from_log, from_rm) in per_resource {
            row(
                &format!("{name} (event log)"),
                &|r| sum(r, from_log),
                0,
                true,
                None,
            );
            if with_rm {
                row(
                    &format!("{name} (RM report)"),
                    &|r| rm(r, from_rm),
                    0,
                    true,
                    None,
                );
            }
        }
        row(
            "peak executors",
            &|r| max(r, |a| f64::from(a.usage.peak_executors)),
            0,
            false,
            ideal.map(|i| {
                (
                    f64::from(i.static_run.peak_executors),
                    f64::from(i.dynamic_run.peak_executors),
                )
            }),
        );
        row(
            "mean executors",
            &|r| sum(r, |a| a.usage.mean_executors()),
            2,
            true,
            ideal.map(|i| {
                (
                    ratio(i.static_run.executor_ms as f64, i.static_run.wall_ms as f64),
                    ratio(
                        i.dynamic_run.executor_ms as f64,
                        i.dynamic_run.wall_ms as f64,
                    ),
                )
            }),
        );
        row(
            "tasks",
            &|r| sum(r, |a| f64::from(a.usage.tasks)),
            0,
            false,
            None,
        );
        fn med(runs: &[Run], f: impl Fn(&AppAccount) -> Option<u64>) -> f64 {
            let v: Vec<u64> = runs.iter().filter_map(|r| f(&r.account)).collect();
            super::accounting::median(v).map_or(f64::NAN, secs)
        }
        row(
            "scale-up delay, median (s)",
            &|r| med(r, |a| a.median_scale_up_ms()),
            3,
            false,
            None,
        );
        row(
            "executor start latency, median (s)",
            &|r| med(r, |a| a.median_start_latency_ms()),
            3,
            false,
            None,
        );
        rows
    }

    /// The table's header cells (the first one empty) and its rows, `with_ideal` or not.
    fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let sides = self.sides();
        let has_ideal = self.ideal.is_some();
        let mut header = vec![String::new()];
        header.extend(sides.iter().map(|(m, _)| m.name().to_string()));
        header.extend(sides[1..].iter().map(|(m, _)| m.ratio_header().to_string()));
        if has_ideal {
            header.extend([
                "ideal static".into(),
                "ideal dynamic".into(),
                "ideal ratio".into(),
            ]);
        }
        let rows = self
            .rows()
            .into_iter()
            .map(|r| {
                let mut cells = vec![r.name];
                cells.extend(r.values);
                cells.extend(r.ratios);
                if has_ideal {
                    cells.extend(r.ideal);
                }
                cells
            })
            .collect();
        (header, rows)
    }

    /// The side-by-side text table, the per-job table, the tenants' table, and notes (without
    /// the ratio lines).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== {}", self.title);
        if !self.what.is_empty() {
            let _ = writeln!(out, "   {}", self.what);
        }
        for r in self.runs() {
            let _ = writeln!(
                out,
                "   {:<11} {}  ({}{})",
                r.label,
                r.account.app_id,
                r.account
                    .final_status
                    .as_deref()
                    .unwrap_or("no end in the log"),
                r.log
                    .as_ref()
                    .map(|p| format!(", log {}", p.display()))
                    .unwrap_or_default()
            );
        }
        for h in self.headline() {
            let _ = writeln!(out, "{h}");
        }
        let _ = writeln!(out, "{}", self.ratio_gloss());
        let (header, rows) = self.table();
        let mut table: Vec<Vec<String>> = vec![header];
        table.extend(rows);
        out.push_str(&render_table(&table));
        if self.tenants() {
            out.push_str(&self.tenants_text());
        } else {
            out.push_str(&self.jobs_text());
        }
        if let Some(i) = &self.ideal {
            let w = i.workload;
            let _ = writeln!(
                out,
                "ideal ({}, zero start-up cost) for Bursty --jobs {} --tasks {} --task-ms {} --gap-ms {}: executor-seconds ratio {:.2}, job-time ratio {:.2}",
                i.rules(), w.jobs, w.tasks, w.task_ms, w.gap_ms,
                i.executor_ratio(),
                i.job_ratio()
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }

    /// The first run of each side (`None` if a side has none).
    fn first_runs(&self) -> Option<Vec<(Mode, &Run)>> {
        self.sides()
            .into_iter()
            .map(|(m, runs)| runs.first().map(|r| (m, r)))
            .collect()
    }

    /// The per-job table: per side, each job's time, executor-seconds, idle executor-seconds
    /// and peak, and for dynamic sides the job's first scale-up delay.
    fn job_rows(&self) -> Option<Vec<Vec<String>>> {
        let firsts = self.first_runs()?;
        let mut table = vec![vec!["job".to_string()]];
        for (m, _) in &firsts {
            table[0].extend([
                format!("{} s", m.name()),
                "exec-s".into(),
                "idle".into(),
                "peak".into(),
            ]);
            if *m != Mode::Static {
                table[0].push("scale-up s".into());
            }
        }
        for k in 0..most_jobs(&firsts) {
            let mut row = vec![k.to_string()];
            for (m, r) in &firsts {
                match r.account.jobs.get(k) {
                    Some(j) => row.extend([
                        format!("{:.2}", secs(j.duration_ms())),
                        format!("{:.1}", j.usage.executor_s()),
                        format!("{:.1}", j.usage.idle_executor_s()),
                        j.usage.peak_executors.to_string(),
                    ]),
                    None => row.extend(["-".to_string(), "-".into(), "-".into(), "-".into()]),
                }
                if *m != Mode::Static {
                    row.push(
                        r.account
                            .jobs
                            .get(k)
                            .and_then(|j| j.scale_ups.first())
                            .map_or("-".into(), |u| format!("{:.3}", secs(u.delay_ms()))),
                    );
                }
            }
            table.push(row);
        }
        Some(table)
    }

    fn jobs_text(&self) -> String {
        match self.job_rows() {
            Some(table) => format!("per job:\n{}", render_table(&table)),
            None => String::new(),
        }
    }

    fn tenant_rows(&self) -> Vec<Vec<String>> {
        let mut table = vec![vec![
            "run".to_string(),
            "application".into(),
            "queue→running s".into(),
            "queue→first task s".into(),
            "wall s".into(),
            "submit→end s".into(),
            "job time s".into(),
            "exec-s".into(),
        ]];
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{:.2}", secs(v)));
        for r in self.runs() {
            let a = &r.account;
            table.push(vec![
                r.label.clone(),
                a.app_id.clone(),
                opt(a.queue_to_running_ms()),
                opt(a.queue_to_first_task_ms()),
                format!("{:.2}", a.usage.wall_s()),
                format!("{:.2}", secs(a.turnaround_ms())),
                format!("{:.2}", secs(a.job_ms())),
                format!("{:.1}", a.usage.executor_s()),
            ]);
        }
        table
    }

    fn tenants_text(&self) -> String {
        format!(
            "per tenant:\n{}{}\n",
            render_table(&self.tenant_rows()),
            self.tenants_summary()
        )
    }

    /// The longest wait for a first task and the time until every tenant was done, per side.
    pub fn tenants_summary(&self) -> String {
        let side = |runs: &[Run]| {
            let wait = runs
                .iter()
                .filter_map(|r| r.account.queue_to_first_task_ms())
                .max()
                .map_or(f64::NAN, secs);
            (wait, secs(makespan_ms(runs)))
        };
        let figures: Vec<(Mode, (f64, f64))> = self
            .sides()
            .into_iter()
            .map(|(m, runs)| (m, side(runs)))
            .collect();
        let list = |pick: &dyn Fn(&(f64, f64)) -> f64| {
            figures
                .iter()
                .map(|(m, f)| format!("{} {:.2} s", m.name(), pick(f)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "longest wait for a first task: {}; all tenants done (first submission to last end): {}",
            list(&|f| f.0),
            list(&|f| f.1)
        )
    }

    fn series(&self, f: impl Fn(&AppAccount) -> &[(u64, u32)]) -> Vec<Series> {
        // Tenants share one clock (from the first submission of each side); single runs are
        // drawn from their own start.
        let origin = |runs: &[Run]| {
            runs.iter()
                .map(|r| {
                    r.account
                        .submit_time
                        .unwrap_or(r.account.start)
                        .min(r.account.start)
                })
                .min()
                .unwrap_or(0)
        };
        let mut out = Vec::new();
        for (mode, runs) in self.sides() {
            let colors = mode.colors();
            let t0 = origin(runs);
            for (i, r) in runs.iter().enumerate() {
                let a = &r.account;
                let zero = if self.tenants() { t0 } else { a.start };
                let mut steps: Vec<(f64, f64)> = f(a)
                    .iter()
                    .map(|(t, v)| (secs(t.saturating_sub(zero)), f64::from(*v)))
                    .collect();
                let end = secs(a.end.saturating_sub(zero));
                // The line rises from 0 and falls back to 0 where the run ends: a run that has
                // ended holds nothing, and its line must not run on at its last value.
                if let Some(&(t, v)) = steps.first() {
                    if v != 0.0 {
                        steps.insert(0, (t, 0.0));
                    }
                }
                if steps.last().is_some_and(|&(_, v)| v != 0.0) {
                    steps.push((end, 0.0));
                }
                out.push(Series {
                    name: r.label.clone(),
                    color: colors[i % colors.len()],
                    steps,
                    end,
                    // Static lines wider: drawn first, they stay visible under dynamic ones.
                    width: if r.mode == Mode::Static { 5 } else { 2 },
                    jobs: a
                        .jobs
                        .iter()
                        .map(|j| {
                            (
                                secs(j.start.saturating_sub(zero)),
                                secs(j.end.saturating_sub(zero)),
                            )
                        })
                        .collect(),
                });
            }
        }
        out
    }

    fn bars(&self, f: impl Fn(&AppAccount) -> f64) -> Vec<Bar> {
        let mut out = Vec::new();
        for (mode, runs) in self.sides() {
            let colors = mode.colors();
            for (i, r) in runs.iter().enumerate() {
                out.push(Bar {
                    name: r.label.clone(),
                    color: colors[i % colors.len()],
                    value: f(&r.account),
                });
            }
        }
        out
    }

    fn html_section(&self, id: usize) -> Result<String, ChartError> {
        let mut h = String::new();
        let _ = writeln!(
            h,
            "<section id=\"cmp-{id}\">\n<h2>{}</h2>",
            escape(&self.title)
        );
        if !self.what.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"what\"><code>{}</code></p>",
                escape(&self.what)
            );
        }
        let _ = writeln!(h, "<ul class=\"runs\">");
        for r in self.runs() {
            let _ = writeln!(
                h,
                "<li><b>{}</b>: {} ({}){}</li>",
                escape(&r.label),
                escape(&r.account.app_id),
                escape(
                    r.account
                        .final_status
                        .as_deref()
                        .unwrap_or("no end in the log")
                ),
                r.log
                    .as_ref()
                    .map(|p| format!(
                        ", event log <code>{}</code>",
                        escape(&p.display().to_string())
                    ))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(h, "</ul>");
        for line in self.headline() {
            let _ = writeln!(h, "<p class=\"headline\">{}</p>", escape(&line));
        }
        let _ = writeln!(h, "<p class=\"ratios\">{}</p>", escape(&self.ratio_gloss()));
        let (w, hgt) = (920, 300);
        let _ = writeln!(
            h,
            "<figure class=\"chart executors\">{}<figcaption>Executors registered over time, one line per run; under it, each run's jobs and the gaps between them.</figcaption></figure>",
            charts::step_chart("Executors", "executors", &self.series(|a| &a.executor_series), (w, hgt))?
        );
        let _ = writeln!(
            h,
            "<figure class=\"chart tasks\">{}<figcaption>Tasks running over time; under it, each run's jobs and the gaps between them.</figcaption></figure>",
            charts::step_chart("Running tasks", "tasks", &self.series(|a| &a.task_series), (w, hgt))?
        );
        let _ = writeln!(h, "<div class=\"bars\">");
        for (title, unit, f) in [
            (
                "executor-seconds",
                "s",
                (&|a: &AppAccount| a.usage.executor_s()) as &dyn Fn(&AppAccount) -> f64,
            ),
            ("idle executor-seconds", "s", &|a: &AppAccount| {
                a.usage.idle_executor_s()
            }),
            ("MB-seconds", "MB·s", &|a: &AppAccount| {
                a.usage.mb_seconds() as f64
            }),
        ] {
            let _ = writeln!(
                h,
                "<figure class=\"chart resources\">{}</figure>",
                charts::bar_chart(title, unit, &self.bars(f), (300, 260))?
            );
        }
        let _ = writeln!(h, "</div>");
        // The table.
        let (header, rows) = self.table();
        let mut head = String::new();
        for (i, c) in header.iter().enumerate() {
            // The ratio columns read in full in HTML ("dynamic/static").
            let c = if i > 0 && c == Mode::Dynamic.ratio_header() {
                Mode::Dynamic.ratio_words()
            } else {
                c.as_str()
            };
            let _ = write!(head, "<th>{}</th>", escape(c));
        }
        let _ = writeln!(
            h,
            "<table class=\"metrics\"><thead><tr>{head}</tr></thead><tbody>"
        );
        for r in rows {
            let _ = write!(h, "<tr><th>{}</th>", escape(&r[0]));
            for c in &r[1..] {
                let _ = write!(h, "<td>{}</td>", escape(c));
            }
            let _ = writeln!(h, "</tr>");
        }
        let _ = writeln!(h, "</tbody></table>");
        if self.tenants() {
            let rows = self.tenant_rows();
            let _ = writeln!(h, "<h3>Tenants</h3><table class=\"tenants\">");
            for (i, r) in rows.iter().enumerate() {
                let cell = if i == 0 { "th" } else { "td" };
                let _ = write!(h, "<tr>");
                for c in r {
                    let _ = write!(h, "<{cell}>{}</{cell}>", escape(c));
                }
                let _ = writeln!(h, "</tr>");
            }
            let _ = writeln!(h, "</table>\n<p>{}</p>", escape(&self.tenants_summary()));
        } else if let (Some(firsts), Some(table)) = (self.first_runs(), self.job_rows()) {
            // The terminal's per-job table, cell for cell, under one header per side.
            let _ = write!(
                h,
                "<h3>Per job</h3><table class=\"jobs\"><thead><tr><th rowspan=\"2\">job</th>"
            );
            for (m, _) in &firsts {
                let _ = write!(
                    h,
                    "<th colspan=\"{}\">{}</th>",
                    job_columns(*m).len(),
                    m.name()
                );
            }
            let _ = write!(h, "</tr>\n<tr>");
            for (m, _) in &firsts {
                for c in job_columns(*m) {
                    let _ = write!(h, "<th>{c}</th>");
                }
            }
            let _ = writeln!(h, "</tr></thead><tbody>");
            for r in &table[1..] {
                let _ = write!(h, "<tr>");
                for c in r {
                    let _ = write!(h, "<td>{}</td>", escape(c));
                }
                let _ = writeln!(h, "</tr>");
            }
            let _ = writeln!(h, "</tbody></table>");
        }
        for n in &self.notes {
            let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(n));
        }
        let _ = writeln!(h, "</section>");
        Ok(h)
    }
}

/// First submission (or start) to last end over `runs`.
pub fn makespan_ms(runs: &[Run]) -> u64 {
    let first = runs
        .iter()
        .map(|r| r.account.submit_time.unwrap_or(r.account.start))
        .min();
    let last = runs.iter().map(|r| r.account.end).max();
    match (first, last) {
        (Some(f), Some(l)) => l.saturating_sub(f),
        _ => 0,
    }
}

/// Left-aligned first column, right-aligned others, two spaces apart.
fn render_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The reports' stylesheet (the what-if report uses it too).
pub(crate) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:980px;color:#222;padding:0 12px}\
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}h3{font-size:1.05em}\
figure{margin:12px 0}figcaption{font-size:.85em;color:#666}.bars{display:flex;flex-wrap:wrap;gap:8px}.bars figure{margin:0}\
table{border-collapse:collapse;font-size:.9em;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #ccc}\
.jobs th{white-space:nowrap}.jobs th[colspan]{text-align:center}.note{color:#555;font-size:.9em}\
.headline{font-size:1.2em;font-weight:600;margin:12px 0 4px}.ratios{color:#444}code{background:#f4f4f4;padding:1px 4px;border-radius:3px}";

/// The whole report: every comparison, its charts and tables, in one HTML file.
pub fn html(title: &str, intro: &str, comparisons: &[Comparison]) -> Result<String, ChartError> {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>",
        escape(title),
        escape(title)
    );
    if !intro.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", escape(intro));
    }
    let _ = writeln!(h, "<p class=\"note\">Computed from the runs' event logs only. Executor-seconds: each executor from registration to removal; idle: held while running no task; MB- and vcore-seconds as YARN's aggregate resource allocation counts them (every container, the application master's included, from allocation to release). The ideal is the same workload under the dynamic run's allocation rules (Spark's, or the eager policy's) when nothing but the tasks takes time.</p>");
    for (i, c) in comparisons.iter().enumerate() {
        h.push_str(&c.html_section(i)?);
    }
    let _ = writeln!(h, "</body>\n</html>");
    Ok(h)
}

/// The per-job table's columns for one side, in full (the terminal abbreviates them).
fn job_columns(mode: Mode) -> &'static [&'static str] {
    const STATIC: &[&str] = &["time (s)", "executor-s", "idle", "peak executors"];
    const DYNAMIC: &[&str] = &[
        "time (s)",
        "executor-s",
        "idle",
        "peak executors",
        "first scale-up (s)",
    ];
    if mode == Mode::Static {
        STATIC
    } else {
        DYNAMIC
    }
}

/// The most jobs any side's first run had (the per-job tables' rows).
fn most_jobs(firsts: &[(Mode, &Run)]) -> usize {
    firsts
        .iter()
        .map(|(_, r)| r.account.jobs.len())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = render_table(&[
            vec!["".into(), "static".into()],
            vec!["wall".into(), "1.00".into()],
        ]);
        assert_eq!(t, "      static\nwall    1.00\n");
    }
}
