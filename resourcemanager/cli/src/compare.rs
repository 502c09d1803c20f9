//! `spindle compare`: one application under static and under dynamic allocation, side by
//! side, from the runs' event logs.
//!
//! ```text
//! spindle compare [compare options] [spindle-submit options] <app binary> [app arguments]
//! spindle compare --logs STATIC.jsonl DYNAMIC.jsonl [--report FILE]
//! ```
//!
//! The application is run twice on the cluster of `$SPINDLE_CONF_DIR` through spindle-submit
//! (the binary next to this one): once with static allocation (`--num-executors N`), then once
//! with dynamic allocation (the seed notebook's settings, overridden by any
//! `--conf spark.dynamicAllocation.*`). Other spindle-submit options go to both runs; the
//! `spark.dynamicAllocation.*` and `spindle.dynamicAllocation.*` properties (the allocation
//! policy among them) only to the dynamic one. With `--eager`, a third run uses Spindle's eager
//! policy (and the dynamic one Spark's rules). With `--tenants K`, K copies run at once on each
//! side (static ones together, then dynamic ones), to show queueing.

use ::report::accounting::{self, AppAccount};
use ::report::ideal::Bursty;
use ::report::report::{self, Comparison, IdealPair, Mode, RmFigures, Run};
use am_core::eventlog::{AppEvent, LogLine};
use am_core::sparkconf::keys;
use anyhow::{bail, Context};
use appmaster::submit::args::{parse_args, SubmitArgs, PROPERTY_OPTIONS};
use appmaster::submit::cluster::{submit_and_follow, Cluster, Followed, Watcher};
use appmaster::submit::plan::Plan;
use common::client::RmClient;
use common::clientconf::ClientConf;
use common::ApplicationId;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ABOUT: &str = "Run an application under static and dynamic allocation (or read two event logs) and compare them: a table, and an HTML report with charts";

const USAGE: &str = "\
spindle compare [compare options] [spindle-submit options] <app binary> [app arguments]
       spindle compare --logs STATIC.jsonl DYNAMIC.jsonl [--report FILE]";

const LONG_ABOUT: &str = "\
Run an application under static and under dynamic allocation and compare them.

The application runs twice on the cluster of $SPINDLE_CONF_DIR through spindle-submit: first
with static allocation (--num-executors N; default: the dynamic run's maxExecutors), then with
dynamic allocation. The dynamic run gets the seed notebook's settings
(spark.dynamicAllocation.enabled=true, shuffleTracking.enabled=true, minExecutors=0,
maxExecutors=5, initialExecutors=1, executorIdleTimeout=60s, schedulerBacklogTimeout=1s),
each overridden by a --conf spark.dynamicAllocation.*=...; a --conf
spindle.dynamicAllocation.*=... (e.g. spindle.dynamicAllocation.policy=eager) also goes to the
dynamic run only. Other options (--executor-cores, --executor-memory, --conf for other keys,
--class, ...; see spindle-submit --help) go to both runs. Both write event logs, and
everything printed is computed from those logs.";

const AFTER_LONG_HELP: &str = "\
The output says what it found in words (e.g. \"Dynamic allocation used 21% fewer
executor-seconds than static allocation, and its jobs took 27% longer.\"), and ends with the
two lines
  executor-seconds ratio (dynamic/static): R
  job-time ratio (dynamic/static): R
after `report: FILE`. A ratio below 1 saves resources; above 1 costs time.";

/// `spindle compare`'s arguments. Its own options are declared here (for the help, and parsed
/// here when they come first); spindle-submit's options, the application binary and its
/// arguments are parsed by hand (spark-submit's grammar, where everything after the binary
/// belongs to the application), and compare's options among them are taken out there too.
#[derive(clap::Args)]
#[command(about = ABOUT, long_about = LONG_ABOUT, override_usage = USAGE, after_long_help = AFTER_LONG_HELP)]
pub(crate) struct CompareArgs {
    /// Executors of the static run (default: the dynamic run's maxExecutors).
    #[arg(long, value_name = "N")]
    num_executors: Option<u32>,
    /// A third run, under Spindle's eager policy.
    ///
    /// A third run, under spindle.dynamicAllocation.policy=eager (Spindle's own policy; the
    /// dynamic run then follows Spark's rules); two more ratio lines, eager/static, come
    /// before the dynamic/static ones.
    #[arg(long)]
    eager: bool,
    /// Run K copies at once on each side (1 to 8), to show queueing.
    ///
    /// Run K copies at once on each side and report each one's queueing delay and wall time
    /// (size the cluster so the K static shares do not fit, e.g. `spindle cluster up
    /// --node-memory-mb 4096`: 2 nodes x 2 containers of 1408 MB, while 2 tenants with 2
    /// executors need 6).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=8))]
    tenants: Option<u32>,
    /// With --tenants K: tenant k runs in the cluster's k-th leaf queue.
    ///
    /// With --tenants K: tenant k runs in the cluster's k-th leaf queue (they must be of equal
    /// capacity, e.g. `spindle cluster up --queue t1=50 --queue t2=50`); each run's label
    /// names its queue.
    #[arg(long)]
    queues: bool,
    /// Compare two existing event logs (static, dynamic) instead of running the application.
    #[arg(long, num_args = 2, value_names = ["STATIC", "DYNAMIC"])]
    logs: Option<Vec<PathBuf>>,
    /// Where to write the HTML report (default: <cluster dir>/reports/, else the temp dir).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    no_progress: bool,
    /// spindle-submit's options (see spindle-submit --help), then the application binary and
    /// its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

impl CompareArgs {
    /// The options clap parsed, as the start of the hand parse of the rest.
    fn own(&self) -> Own {
        Own {
            tenants: self.tenants.unwrap_or(1),
            queues: self.queues,
            eager: self.eager,
            logs: self
                .logs
                .as_ref()
                .and_then(|l| Some((l.first()?.clone(), l.get(1)?.clone()))),
            report: self.report.clone(),
            progress: !self.no_progress,
            // --num-executors is spindle-submit's option: it goes on with the rest.
            rest: self
                .num_executors
                .map(|n| vec!["--num-executors".to_string(), n.to_string()])
                .unwrap_or_default(),
        }
    }
}

/// The seed notebook's dynamic allocation settings (the dynamic run's defaults).
pub(crate) const SEED_DYNAMIC: &[(&str, &str)] = &[
    ("spark.dynamicAllocation.enabled", "true"),
    ("spark.dynamicAllocation.shuffleTracking.enabled", "true"),
    ("spark.dynamicAllocation.minExecutors", "0"),
    ("spark.dynamicAllocation.maxExecutors", "5"),
    ("spark.dynamicAllocation.initialExecutors", "1"),
    ("spark.dynamicAllocation.executorIdleTimeout", "60s"),
    ("spark.dynamicAllocation.schedulerBacklogTimeout", "1s"),
];

const DYNAMIC_PREFIX: &str = "spark.dynamicAllocation.";
/// Spindle's own dynamic allocation properties (the policy), also for the dynamic run only.
const SPINDLE_DYNAMIC_PREFIX: &str = "spindle.dynamicAllocation.";
/// The property that picks the allocation policy.
const POLICY: &str = "spindle.dynamicAllocation.policy";

fn is_dynamic_key(k: &str) -> bool {
    k.starts_with(DYNAMIC_PREFIX) || k.starts_with(SPINDLE_DYNAMIC_PREFIX)
}

/// What to compare, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// spindle-submit's options and the application, as given (without `--num-executors` and
    /// without the `spark.dynamicAllocation.*` confs, which are per side).
    pub submit: SubmitArgs,
    pub num_executors: Option<u32>,
    /// `spark.dynamicAllocation.*` and `spindle.dynamicAllocation.*` for the dynamic run: the
    /// seed settings, then the user's.
    pub dynamic_conf: Vec<(String, String)>,
    /// A third side: the dynamic settings under the eager policy (the dynamic side then
    /// follows Spark's rules).
    pub eager_side: bool,
    pub tenants: u32,
    /// With `--queues`: tenant k runs in the k-th of these leaf queues.
    pub tenant_queues: Vec<String>,
    /// The cluster's client configuration directory.
    pub conf_dir: PathBuf,
    pub progress: bool,
}

impl Spec {
    /// A spec for `argv` in spindle-submit's syntax (with `--num-executors` for the static
    /// side), on the cluster of `conf_dir`.
    pub(crate) fn new(argv: Vec<String>, conf_dir: PathBuf, tenants: u32) -> anyhow::Result<Self> {
        let mut submit = parse_args(argv).map_err(|e| anyhow::anyhow!("{e}"))?;
        if submit.help || submit.version || submit.status.is_some() || submit.kill.is_some() {
            bail!("--help, --version, --status and --kill are not compare options");
        }
        if submit.binary.is_none() {
            bail!("missing the application binary (usage: spindle compare [options] <app binary> [app arguments]; see spindle compare --help)");
        }
        let num_executors = submit
            .properties
            .remove(keys::EXECUTOR_INSTANCES)
            .map(|n| n.trim().parse::<u32>())
            .transpose()
            .context("--num-executors")?;
        let mut dynamic_conf: Vec<(String, String)> = SEED_DYNAMIC
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let mut both = Vec::new();
        for (k, v) in std::mem::take(&mut submit.conf) {
            if is_dynamic_key(&k) {
                match dynamic_conf.iter_mut().find(|(dk, _)| *dk == k) {
                    Some(slot) => slot.1 = v,
                    None => dynamic_conf.push((k, v)),
                }
            } else {
                both.push((k, v));
            }
        }
        submit.conf = both;
        // The dynamic run is dynamic whatever was said.
        if let Some(slot) = dynamic_conf
            .iter_mut()
            .find(|(k, _)| k == "spark.dynamicAllocation.enabled")
        {
            slot.1 = "true".into();
        }
        let spec = Self {
            submit,
            num_executors,
            dynamic_conf,
            eager_side: false,
            tenants: tenants.max(1),
            tenant_queues: Vec::new(),
            conf_dir,
            progress: true,
        };
        // Everything spindle-submit would refuse is refused before the first run.
        for mode in spec.modes() {
            spec.plan(mode)?;
        }
        Ok(spec)
    }

    /// Adds the eager side (and makes the dynamic side follow Spark's rules).
    pub(crate) fn with_eager_side(mut self) -> anyhow::Result<Self> {
        self.eager_side = true;
        self.plan(Mode::Eager)?;
        Ok(self)
    }

    /// The sides this spec runs, in order.
    pub(crate) fn modes(&self) -> Vec<Mode> {
        let mut modes = vec![Mode::Static, Mode::Dynamic];
        if self.eager_side {
            modes.push(Mode::Eager);
        }
        modes
    }

    fn max_executors(&self) -> u32 {
        self.dynamic_conf
            .iter()
            .rev()
            .find(|(k, _)| k == "spark.dynamicAllocation.maxExecutors")
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(5)
    }

    /// Executors of the static run.
    pub(crate) fn static_executors(&self) -> u32 {
        self.num_executors.unwrap_or_else(|| self.max_executors())
    }

    fn app_label(&self) -> String {
        let name = self.submit.properties.get(keys::APP_NAME).cloned();
        name.unwrap_or_else(|| {
            self.submit.class.clone().unwrap_or_else(|| {
                self.submit
                    .binary
                    .as_ref()
                    .and_then(|b| b.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
        })
    }

    /// spindle-submit's argument list for one side.
    pub(crate) fn argv(&self, mode: Mode, tenant: Option<u32>) -> Vec<String> {
        let s = &self.submit;
        let mut a: Vec<String> = Vec::new();
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                a.push(k.into());
                a.push(v.clone());
            }
        };
        for &(flag, key) in PROPERTY_OPTIONS {
            let given = s.properties.get(key).cloned();
            let value = match key {
                // Each side is named below; the executor count is the static side's.
                keys::APP_NAME | keys::EXECUTOR_INSTANCES => continue,
                keys::QUEUE => tenant
                    .and_then(|t| self.tenant_queues.get(t as usize - 1).cloned())
                    .or(given),
                _ => given,
            };
            opt(flag, &value);
        }
        opt("--class", &s.class);
        if let Some(p) = &s.properties_file {
            a.push("--properties-file".into());
            a.push(p.display().to_string());
        }
        let suffix = tenant_label(mode, tenant, &self.tenant_queues);
        a.push("--name".into());
        a.push(format!("{} ({suffix})", self.app_label()));
        let mut conf = |k: &str, v: &str| {
            a.push("--conf".into());
            a.push(format!("{k}={v}"));
        };
        for (k, v) in &s.conf {
            conf(k, v);
        }
        conf("spark.eventLog.enabled", "true");
        match mode {
            Mode::Static => {
                conf("spark.dynamicAllocation.enabled", "false");
            }
            Mode::Dynamic | Mode::Eager => {
                for (k, v) in &self.dynamic_conf {
                    conf(k, v);
                }
                match mode {
                    Mode::Eager => conf(POLICY, "eager"),
                    _ if self.eager_side => conf(POLICY, "spark"),
                    _ => {}
                }
            }
        }
        if mode == Mode::Static {
            a.push("--num-executors".into());
            a.push(self.static_executors().to_string());
        }
        if s.verbose {
            a.push("--verbose".into());
        }
        a.push(
            s.binary
                .as_ref()
                .map(|b| b.display().to_string())
                .unwrap_or_default(),
        );
        a.extend(s.app_args.iter().cloned());
        a
    }

    /// spindle-submit's plan for one side (validates it).
    pub(crate) fn plan(&self, mode: Mode) -> anyhow::Result<Plan> {
        let args = parse_args(self.argv(mode, None)).map_err(|e| anyhow::anyhow!("{e}"))?;
        Plan::prepare(&args, Some(&self.conf_dir))
            .map_err(|e| anyhow::anyhow!("the {} run: {e}", mode.name()))
    }

    /// The Bursty workload, when the application is the stock Bursty example.
    pub(crate) fn bursty(&self) -> Option<Bursty> {
        (self.submit.class.as_deref() == Some("Bursty"))
            .then(|| Bursty::from_args(&self.submit.app_args))
            .flatten()
    }

    /// `spindle-submit ARGS` as a reader would type it (for the report).
    pub(crate) fn describe(&self) -> String {
        let app: Vec<String> = std::iter::once(
            self.submit
                .binary
                .as_ref()
                .and_then(|b| b.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
        .chain(self.submit.app_args.iter().cloned())
        .collect();
        let mut s = String::new();
        if let Some(c) = &self.submit.class {
            s.push_str(&format!("--class {c} "));
        }
        s.push_str(&app.join(" "));
        let dynamic: Vec<String> = self
            .dynamic_conf
            .iter()
            .filter(|(k, _)| k != "spark.dynamicAllocation.enabled")
            .filter(|(k, _)| !(self.eager_side && k == POLICY))
            .map(|(k, v)| {
                let short = k
                    .strip_prefix(DYNAMIC_PREFIX)
                    .or_else(|| k.strip_prefix(SPINDLE_DYNAMIC_PREFIX))
                    .unwrap_or(k);
                format!("{short}={v}")
            })
            .collect();
        let sides = if self.eager_side {
            "dynamic (Spark's rules) and eager"
        } else {
            "dynamic"
        };
        format!(
            "{s}; static: {} executor(s){}; {sides}: {}",
            self.static_executors(),
            self.submit
                .properties
                .get(keys::EXECUTOR_CORES)
                .map(|c| format!(" of {c} core(s)"))
                .unwrap_or_default(),
            dynamic.join(", ")
        )
    }
}

/// What one run is doing (shared with the progress display).
#[derive(Debug, Default)]
struct Live {
    app: Option<ApplicationId>,
    state: String,
    job_line: String,
    output: Vec<String>,
}

/// The progress display: one spinner per run on a terminal, plain lines otherwise.
#[derive(Clone)]
pub(crate) struct Progress {
    multi: MultiProgress,
    tty: bool,
    enabled: bool,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let multi = if enabled && tty {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10))
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        };
        Self {
            multi,
            tty,
            enabled,
        }
    }

    fn bar(&self, label: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {prefix:<12} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A plain line (on stderr, above the spinners on a terminal).
    pub(crate) fn line(&self, text: &str) {
        if !self.enabled {
            return;
        }
        if self.tty {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

/// What the live event log says so far.
fn live_summary(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let (mut executors, mut running, mut done, mut jobs, mut target) =
        (0i64, 0i64, 0u64, 0u32, None);
    for l in text.lines() {
        let Ok(line) = serde_json::from_str::<LogLine>(l) else {
            continue;
        };
        match line.event {
            AppEvent::ExecutorAdded { .. } => executors += 1,
            AppEvent::ExecutorRemoved { .. } => executors -= 1,
            AppEvent::TaskStart { .. } => running += 1,
            AppEvent::TaskEnd { reason, .. } => {
                running -= 1;
                if reason == "Success" {
                    done += 1;
                }
            }
            AppEvent::JobStart { .. } => jobs += 1,
            AppEvent::TargetChanged { new, .. } => target = Some(new),
            _ => {}
        }
    }
    Some(format!(
        "executors {}{} · running {} · done {} · job {}",
        executors.max(0),
        target.map(|t| format!(" (target {t})")).unwrap_or_default(),
        running.max(0),
        done,
        jobs
    ))
}

/// Applications submitted and not yet seen ending (killed on Ctrl-C).
pub(crate) type Submitted = Arc<Mutex<Vec<String>>>;

/// Submits one run through the submit library and follows it to its end; returns the
/// application id and its event log.
async fn submit_one(
    conf_dir: &Path,
    argv: Vec<String>,
    label: String,
    progress: Progress,
    submitted: Submitted,
) -> anyhow::Result<(String, PathBuf)> {
    let args = parse_args(argv).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = Plan::prepare(&args, Some(conf_dir))
        .map_err(|e| anyhow::anyhow!("the {label} run: {e}"))?;
    let cluster = Cluster::connect_to(ClientConf::load(conf_dir)?, plan.rm_address.as_deref())?;
    let event_log_of = {
        let plan = plan.clone();
        move |app: ApplicationId| plan.event_log(app)
    };
    let live = Arc::new(Mutex::new(Live::default()));
    let bar = progress.bar(&label);
    let mut watcher = RunWatcher {
        live: live.clone(),
        progress: progress.clone(),
        label: label.clone(),
        submitted: submitted.clone(),
        partial: String::new(),
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let follow = submit_and_follow(&cluster, plan, &mut watcher);
    tokio::pin!(follow);
    let outcome = loop {
        tokio::select! {
            r = &mut follow => break r,
            _ = tick.tick() => {
                let (app, state, job) = {
                    let s = live.lock().expect("live lock");
                    (s.app, s.state.clone(), s.job_line.clone())
                };
                let summary = app
                    .and_then(&event_log_of)
                    .as_deref()
                    .and_then(live_summary)
                    .unwrap_or(job);
                bar.set_message(format!(
                    "{} {} {}",
                    app.map_or_else(|| "submitting".into(), |a| a.to_string()),
                    state,
                    summary
                ));
            }
        }
    };
    bar.finish_and_clear();
    let s = live.lock().expect("live lock");
    let tail = s
        .output
        .iter()
        .rev()
        .take(8)
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    if let Some(id) = s.app {
        submitted
            .lock()
            .expect("lock")
            .retain(|x| *x != id.to_string());
    }
    let outcome = outcome.with_context(|| format!("the {label} run"))?;
    let Some(outcome) = outcome else {
        bail!("the {label} run did not wait for its application (spark.yarn.submit.waitAppCompletion=false)");
    };
    if outcome.exit_code() != 0 {
        bail!(
            "the {label} run failed ({} ended {} with final status {}{}):\n  {tail}",
            outcome.id,
            outcome.state,
            outcome.final_status,
            if outcome.diagnostics.is_empty() {
                String::new()
            } else {
                format!(": {}", outcome.diagnostics)
            }
        );
    }
    let log = event_log_of(outcome.id).ok_or_else(|| {
        anyhow::anyhow!(
            "no event log for {} (spark.eventLog.enabled is not true)",
            outcome.id
        )
    })?;
    progress.line(&format!(
        "{label}: {} finished in {:.1} s",
        outcome.id,
        started.elapsed().as_secs_f64()
    ));
    Ok((outcome.id.to_string(), log))
}

/// What one run shows while it goes: its id, state, the driver's output lines.
struct RunWatcher {
    live: Arc<Mutex<Live>>,
    progress: Progress,
    label: String,
    submitted: Submitted,
    /// The driver's output after its last newline.
    partial: String,
}

impl Watcher for RunWatcher {
    fn seen(&mut self, what: Followed<'_>) {
        let mut s = self.live.lock().expect("live lock");
        match what {
            Followed::Submitted(id) => {
                s.app = Some(id);
                self.submitted.lock().expect("lock").push(id.to_string());
                self.progress
                    .line(&format!("{}: submitted {id}", self.label));
            }
            Followed::State(state) => s.state = state.to_string(),
            Followed::DriverOutput(data) => {
                self.partial.push_str(&String::from_utf8_lossy(data));
                while let Some(nl) = self.partial.find('\n') {
                    let line: String = self.partial.drain(..=nl).collect();
                    let line = line.trim_end().to_string();
                    if line.starts_with("job ") {
                        s.job_line = line.clone();
                    }
                    s.output.push(line);
                }
            }
            Followed::Finished(o) if !o.diagnostics.is_empty() => {
                s.output.push(format!("diagnostics: {}", o.diagnostics));
            }
            _ => {}
        }
    }
}

fn rm_for(conf_dir: &Path) -> anyhow::Result<RmClient> {
    let conf = ClientConf::load(conf_dir)?;
    let identity = common::tls::TlsIdentity::load(&conf.tls_files())?;
    Ok(RmClient::connect_any(&identity, &conf.rm_addresses())?)
}

/// The RM's aggregate resource allocation for `app`, once its containers are all gone (so
/// the figure is final); `None` if the RM cannot say within a few seconds.
async fn rm_figures(rm: &RmClient, app: &str) -> Option<RmFigures> {
    let id: ApplicationId = app.parse().ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = rm.report(id).await.ok()?;
        if r.state.is_terminal() && r.running_containers == 0 {
            return Some(RmFigures {
                memory_seconds: r.memory_seconds,
                vcore_seconds: r.vcore_seconds,
            });
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads and accounts for one event log.
pub(crate) fn load_run(path: &Path, label: &str, mode: Mode) -> anyhow::Result<Run> {
    let lines = history::log::read(path)
        .with_context(|| format!("reading the event log {}", path.display()))?;
    let account =
        accounting::account(&lines).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Run {
        label: label.to_string(),
        mode,
        account,
        rm: None,
        log: Some(path.to_path_buf()),
    })
}

/// `static #2`, or `static #2 in b` when tenants have their own queues.
fn tenant_label(mode: Mode, tenant: Option<u32>, queues: &[String]) -> String {
    match (tenant, tenant.and_then(|t| queues.get(t as usize - 1))) {
        (Some(t), Some(q)) => format!("{} #{t} in {q}", mode.name()),
        (Some(t), None) => format!("{} #{t}", mode.name()),
        (None, _) => mode.name().to_string(),
    }
}

/// `--queues`: the cluster's leaf queues, one per tenant, of equal capacity.
async fn tenant_queues(conf_dir: &Path, tenants: u32) -> anyhow::Result<Vec<String>> {
    let rm = rm_for(conf_dir)?;
    let leaves: Vec<_> = rm.queues().await?.into_iter().filter(|q| q.leaf).collect();
    let example = (1..=tenants)
        .map(|t| format!("--queue t{t}={}", 100 / tenants))
        .collect::<Vec<_>>()
        .join(" ");
    if leaves.len() < tenants as usize {
        bail!(
            "--queues puts each of the {tenants} tenants in its own queue, but the cluster has {} leaf queue(s) ({}); start one with e.g. `spindle cluster up {example}`",
            leaves.len(),
            leaves.iter().map(|q| q.path.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let chosen = &leaves[..tenants as usize];
    if chosen
        .iter()
        .any(|q| (q.absolute_capacity - chosen[0].absolute_capacity).abs() > 0.5)
    {
        bail!(
            "--queues wants queues of equal capacity; the first {tenants} leaves are {}",
            chosen
                .iter()
                .map(|q| format!("{} {:.1}%", q.path, q.absolute_capacity))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(chosen.iter().map(|q| q.name.clone()).collect())
}

/// Runs one side (K tenants at once, the k-th started k × 250 ms after the first).
pub(crate) async fn run_side(
    spec: &Spec,
    mode: Mode,
    progress: &Progress,
    submitted: &Submitted,
) -> anyhow::Result<Vec<Run>> {
    let mut tasks = Vec::new();
    for t in 1..=spec.tenants {
        let tenant = (spec.tenants > 1).then_some(t);
        let label = tenant_label(mode, tenant, &spec.tenant_queues);
        let argv = spec.argv(mode, tenant);
        let conf_dir = spec.conf_dir.clone();
        let progress = progress.clone();
        let submitted = submitted.clone();
        let delay = Duration::from_millis(250 * u64::from(t - 1));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let r = submit_one(&conf_dir, argv, label.clone(), progress, submitted).await;
            (label, r)
        }));
    }
    let rm = rm_for(&spec.conf_dir).ok();
    let mut runs = Vec::new();
    let mut first_err = None;
    for t in tasks {
        let (label, r) = t.await?;
        match r {
            Ok((app, log)) => {
                let mut run = load_run(&log, &label, mode)?;
                if let Some(rm) = &rm {
                    run.rm = rm_figures(rm, &app).await;
                }
                runs.push(run);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(runs),
    }
}

/// Waits until the cluster runs no container (a previous run's leftovers would skew the next).
async fn wait_cluster_idle(conf_dir: &Path) {
    let Ok(rm) = rm_for(conf_dir) else { return };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match rm.nodes().await {
            Ok(nodes) if nodes.iter().all(|n| n.num_containers == 0) => return,
            Err(_) => return,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Whether the cluster can hold every tenant's static share at once; a note if it can.
async fn tenant_sizing_note(spec: &Spec) -> Option<String> {
    let plan = spec.plan(Mode::Static).ok()?;
    let nodes = rm_for(&spec.conf_dir).ok()?.nodes().await.ok()?;
    let fit = |cap: &common::Resource, c: &common::Resource| -> u64 {
        if c.memory_mb == 0 || c.vcores == 0 {
            return 0;
        }
        (cap.memory_mb / c.memory_mb).min(u64::from(cap.vcores / c.vcores))
    };
    // Containers of the executor size the cluster holds (the AM is assumed the same size,
    // as it is by default: 1g + 384m, 1 core).
    let slots: u64 = nodes
        .iter()
        .filter(|n| n.state == common::protocol::NodeState::RUNNING)
        .map(|n| fit(&n.capability, &plan.executor))
        .sum();
    let share = 1 + u64::from(spec.static_executors());
    let need = share * u64::from(spec.tenants);
    let mem = plan.executor.memory_mb;
    if slots >= need {
        // Per node: enough for one static share over the nodes, not for all of them.
        let n = nodes.len().max(1) as u64;
        let per_node = share.div_ceil(n);
        let hint = if per_node * n < need {
            let mut node_mb = (per_node * mem).div_ceil(1024) * 1024;
            if node_mb >= (per_node + 1) * mem {
                node_mb = per_node * mem;
            }
            format!(
                "; start the cluster with `spindle cluster up --nodes {n} --node-memory-mb {node_mb}` ({per_node} containers of {mem} MB per node) to see the queueing"
            )
        } else {
            String::new()
        };
        Some(format!(
            "the cluster holds {slots} containers of {mem} MB, enough for all {} static shares ({share} each: the AM and {} executors), so static allocation makes no tenant wait here{hint}",
            spec.tenants,
            spec.static_executors(),
        ))
    } else {
        Some(format!(
            "the cluster holds {slots} containers of {mem} MB; the {} tenants' static shares need {need} ({share} each: the AM and {} executors), so under static allocation a later tenant waits for another's executors",
            spec.tenants,
            spec.static_executors(),
        ))
    }
}

/// Runs the static side, then the dynamic side, and compares them.
pub(crate) async fn compare(
    spec: &Spec,
    title: &str,
    progress: &Progress,
    submitted: &Submitted,
) -> anyhow::Result<Comparison> {
    let mut notes = Vec::new();
    if spec.tenants > 1 {
        if let Some(n) = tenant_sizing_note(spec).await {
            notes.push(n);
        }
    }
    wait_cluster_idle(&spec.conf_dir).await;
    let static_runs = run_side(spec, Mode::Static, progress, submitted).await?;
    wait_cluster_idle(&spec.conf_dir).await;
    let dynamic_runs = run_side(spec, Mode::Dynamic, progress, submitted).await?;
    let eager_runs = if spec.eager_side {
        wait_cluster_idle(&spec.conf_dir).await;
        run_side(spec, Mode::Eager, progress, submitted).await?
    } else {
        Vec::new()
    };
    let ideal = match (spec.tenants, spec.bursty()) {
        (1, Some(w)) => Some(IdealPair::for_runs(
            w,
            &static_runs[0].account,
            &dynamic_runs[0].account,
        )),
        _ => None,
    };
    for r in static_runs
        .iter()
        .chain(dynamic_runs.iter())
        .chain(eager_runs.iter())
    {
        if let Some(rm) = &r.rm {
            let log = r.account.usage.mb_seconds() as f64;
            let diff = (log - rm.memory_seconds as f64) / (rm.memory_seconds.max(1) as f64);
            if diff.abs() > 0.02 {
                notes.push(format!(
                    "{}: the event log's MB-seconds ({log:.0}) and the RM's ({}) differ by {:.1}%",
                    r.label,
                    rm.memory_seconds,
                    diff * 100.0
                ));
            }
        }
    }
    Ok(Comparison {
        title: title.to_string(),
        what: spec.describe(),
        static_runs,
        dynamic_runs,
        eager_runs,
        ideal,
        notes,
    })
}

/// Writes the HTML report; returns its absolute path.
pub(crate) fn write_report(
    path: &Path,
    title: &str,
    intro: &str,
    comparisons: &[Comparison],
) -> anyhow::Result<PathBuf> {
    let html = report::html(title, intro, comparisons)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, html).with_context(|| format!("writing {}", path.display()))?;
    Ok(std::path::absolute(path)?)
}

fn unix_secs() -> u64 {
    common::clock::wall_ms() / 1000
}

/// The default report path: `<cluster dir>/reports/` for a local cluster, else the temp dir.
fn default_report(conf_dir: Option<&Path>) -> PathBuf {
    let name = format!("compare-{}-{}.html", unix_secs(), std::process::id());
    match conf_dir
        .and_then(Path::parent)
        .filter(|p| p.join("history").is_dir())
    {
        Some(cluster) => cluster.join("reports").join(name),
        None => std::env::temp_dir().join("spindle-reports").join(name),
    }
}

/// Compare's own options, taken out of the command line before the application binary.
struct Own {
    tenants: u32,
    queues: bool,
    eager: bool,
    logs: Option<(PathBuf, PathBuf)>,
    report: Option<PathBuf>,
    progress: bool,
    rest: Vec<String>,
}

impl Default for Own {
    fn default() -> Self {
        Self {
            tenants: 1,
            queues: false,
            eager: false,
            logs: None,
            report: None,
            progress: true,
            rest: Vec::new(),
        }
    }
}

/// Takes compare's own options out of `argv` (those clap did not parse because they came
/// after a spindle-submit option), starting from `own`.
fn take_own(mut own: Own, argv: Vec<String>) -> anyhow::Result<Own> {
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let value = |it: &mut std::vec::IntoIter<String>| -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("option {flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--tenants" => {
                let v = value(&mut it)?;
                own.tenants = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=8).contains(n))
                    .ok_or_else(|| anyhow::anyhow!("--tenants: expected 1 to 8, got '{v}'"))?;
            }
            "--report" => own.report = Some(PathBuf::from(value(&mut it)?)),
            "--no-progress" => own.progress = false,
            "--eager" => own.eager = true,
            "--queues" => own.queues = true,
            "--logs" => {
                let s = value(&mut it)?;
                let d = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--logs takes two paths: STATIC DYNAMIC"))?;
                own.logs = Some((PathBuf::from(s), PathBuf::from(d)));
            }
            _ if !a.starts_with('-') || a == "-" => {
                // The application binary: it and everything after it belong to the app.
                own.rest.push(a);
                own.rest.extend(it.by_ref());
                break;
            }
            _ => {
                own.rest.push(a.clone());
                if inline.is_none() && appmaster::submit::args::VALUED.contains(&flag.as_str()) {
                    if let Some(v) = it.next() {
                        own.rest.push(v);
                    }
                }
            }
        }
    }
    Ok(own)
}

/// Compare's options from clap and from the rest of the line: (tenants, eager, what is left
/// for spindle-submit).
#[cfg(test)]
pub(crate) fn take_own_for_test(mut args: CompareArgs) -> (u32, bool, Vec<String>) {
    let rest = std::mem::take(&mut args.args);
    let own = take_own(args.own(), rest).expect("compare options");
    (own.tenants, own.eager, own.rest)
}

/// `spindle compare ...`; returns the exit code.
pub(crate) async fn run(mut args: CompareArgs) -> anyhow::Result<i32> {
    let own = take_own(args.own(), std::mem::take(&mut args.args))?;
    let progress = Progress::new(own.progress);
    let conf_dir = ClientConf::dir_from_env().ok();
    let (comparison, intro) = if let Some((s, d)) = &own.logs {
        if own.eager {
            bail!("--eager runs a third side; with --logs compare two existing logs");
        }
        if !own.rest.is_empty() {
            bail!(
                "--logs compares existing logs; it takes no application (got {:?})",
                own.rest
            );
        }
        let static_run = load_run(s, "static", Mode::Static)?;
        let dynamic_run = load_run(d, "dynamic", Mode::Dynamic)?;
        let ideal = infer_bursty(s)
            .map(|w| IdealPair::for_runs(w, &static_run.account, &dynamic_run.account));
        (
            Comparison {
                title: format!(
                    "{} vs {}",
                    static_run.account.app_id, dynamic_run.account.app_id
                ),
                what: String::new(),
                static_runs: vec![static_run],
                dynamic_runs: vec![dynamic_run],
                eager_runs: vec![],
                ideal,
                notes: vec![],
            },
            "Two runs compared from their event logs.".to_string(),
        )
    } else {
        let conf_dir = conf_dir.clone().ok_or_else(|| {
            anyhow::anyhow!("SPINDLE_CONF_DIR is not set: point it at the cluster's conf directory (printed by `spindle cluster up`), or compare existing logs with --logs")
        })?;
        let mut spec = Spec::new(own.rest.clone(), conf_dir, own.tenants)?;
        if own.eager {
            spec = spec.with_eager_side()?;
        }
        if own.queues {
            if own.tenants < 2 {
                bail!("--queues puts each tenant in its own queue: it needs --tenants K (2 to 8)");
            }
            spec.tenant_queues = tenant_queues(&spec.conf_dir, own.tenants).await?;
        }
        spec.progress = own.progress;
        let title = if spec.tenants > 1 {
            format!("{} tenants of {}", spec.tenants, spec.app_label())
        } else {
            spec.app_label()
        };
        let submitted: Submitted = Arc::default();
        let result = tokio::select! {
            r = compare(&spec, &title, &progress, &submitted) => r,
            _ = tokio::signal::ctrl_c() => {
                kill_all(&spec.conf_dir, &submitted).await;
                eprintln!("spindle compare: interrupted");
                return Ok(130);
            }
        };
        let intro = if spec.eager_side {
            "Static allocation against dynamic allocation under Spark's rules and under Spindle's eager policy, run one after the other on the same cluster."
        } else {
            "Static allocation against dynamic allocation, run one after the other on the same cluster."
        };
        (result?, intro.to_string())
    };
    print!("{}", comparison.text());
    let path = own
        .report
        .clone()
        .unwrap_or_else(|| default_report(conf_dir.as_deref()));
    let path = write_report(
        &path,
        "Spindle: static vs dynamic allocation",
        &intro,
        std::slice::from_ref(&comparison),
    )?;
    println!("report: {}", path.display());
    print!("{}", comparison.ratio_lines());
    Ok(0)
}

/// Kills the applications still running (after Ctrl-C).
pub(crate) async fn kill_all(conf_dir: &Path, submitted: &Submitted) {
    let ids: Vec<String> = submitted.lock().expect("lock").clone();
    if ids.is_empty() {
        return;
    }
    if let Ok(rm) = rm_for(conf_dir) {
        for id in ids {
            if let Ok(app) = id.parse::<ApplicationId>() {
                let _ = tokio::time::timeout(Duration::from_secs(3), rm.kill(app)).await;
                eprintln!("killed {id}");
            }
        }
    }
}

/// The Bursty workload a log's run looks like: its name says Bursty and every job is one
/// stage of the same number of tasks; task time and gap are the medians, to 10 ms.
fn infer_bursty(path: &Path) -> Option<Bursty> {
    let lines = history::log::read(path).ok()?;
    let acc: AppAccount = accounting::account(&lines).ok()?;
    if !acc.app_name.contains("Bursty") || acc.jobs.is_empty() {
        return None;
    }
    let tasks = acc.jobs[0].num_tasks;
    if acc.jobs.iter().any(|j| j.num_tasks != tasks) {
        return None;
    }
    let durations: Vec<u64> = lines
        .iter()
        .filter_map(|l| match &l.event {
            AppEvent::TaskEnd {
                duration_ms,
                reason,
                ..
            } if reason == "Success" => Some(*duration_ms),
            _ => None,
        })
        .collect();
    let gaps: Vec<u64> = acc
        .jobs
        .windows(2)
        .map(|w| w[1].start.saturating_sub(w[0].end))
        .collect();
    let round = |v: u64| (v + 5) / 10 * 10;
    Some(Bursty {
        jobs: acc.jobs.len() as u32,
        tasks,
        task_ms: round(accounting::median(durations)?),
        gap_ms: accounting::median(gaps).map_or(0, round),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn own_options_are_taken_out_before_the_binary() {
        let own = take_own(Own::default(), argv(
            "--num-executors 2 --tenants 2 --executor-cores 1 --conf a=b --report /tmp/r.html --class Bursty app --jobs 2 --tenants 9",
        ))
        .unwrap();
        assert_eq!(own.tenants, 2);
        assert_eq!(own.report, Some(PathBuf::from("/tmp/r.html")));
        assert_eq!(
            own.rest,
            argv("--num-executors 2 --executor-cores 1 --conf a=b --class Bursty app --jobs 2 --tenants 9")
        );
        let own = take_own(Own::default(), argv("--logs s.jsonl d.jsonl")).unwrap();
        assert_eq!(
            own.logs,
            Some((PathBuf::from("s.jsonl"), PathBuf::from("d.jsonl")))
        );
        assert!(take_own(Own::default(), argv("--tenants 0 app")).is_err());
    }
}
