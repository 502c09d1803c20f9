//! spindle-submit's conversations with the cluster: submit and follow an application (its
//! reports and its driver's stdout), `--status`, `--kill`.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use common::client::{NmClient, RmClient};
use common::clientconf::ClientConf;
use common::identity::Role;
use common::protocol::{
    ApplicationReport, ErrorCode, FinalApplicationStatus, NodeReport, NodeState,
    YarnApplicationState,
};
use common::tls::TlsIdentity;
use common::transport::TransportError;
use common::{ApplicationId, ContainerId, NodeId, Resource};

use super::plan::Plan;
use am_core::sparkconf::keys;

/// How often the application report is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long spindle-submit waits for the RM to answer its first request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long spindle-submit keeps trying an RM it cannot reach before it starts following
/// the application (a restart or failover takes seconds).
pub const RM_PATIENCE: Duration = Duration::from_secs(30);
/// How long the RM may stay unreachable while an application is being followed.
pub const REPORT_OUTAGE_LIMIT: Duration = Duration::from_secs(60);
/// How long one read of the driver's log may take.
const LOG_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after a failed log read before the next one.
const LOG_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The application submitted by this process, for the Ctrl-C message.
pub static SUBMITTED: std::sync::OnceLock<ApplicationId> = std::sync::OnceLock::new();

/// A connection to the RM described by `$SPINDLE_CONF_DIR/spindle-client.toml`.
pub struct Cluster {
    /// The RM's client service.
    pub rm: RmClient,
    /// This user's TLS identity (also used for NMs' log service).
    pub identity: TlsIdentity,
    /// The RM's address.
    pub address: String,
}

impl Cluster {
    /// Reads the client configuration and prepares the RM client; `address` (from
    /// `--master spindle://HOST:PORT`) overrides the RM address, not the TLS files.
    pub fn connect(address: Option<&str>) -> anyhow::Result<Self> {
        Self::connect_to(ClientConf::from_env()?, address)
    }

    /// As [`Self::connect`], with a client configuration read by the caller.
    pub fn connect_to(conf: ClientConf, address: Option<&str>) -> anyhow::Result<Self> {
        common::transport::set_liveness(conf.liveness);
        let identity = TlsIdentity::load(&conf.tls_files()).with_context(|| {
            format!(
                "cannot load the TLS identity named in spindle-client.toml (ca {}, cert {})",
                conf.ca.display(),
                conf.cert.display()
            )
        })?;
        // `--master` names one RM; the conf may name an HA pair.
        let addresses = address.map_or_else(|| conf.rm_addresses(), |a| vec![a.to_owned()]);
        let address = addresses.join(", ");
        let rm = RmClient::connect_any(&identity, &addresses).with_context(|| {
            format!("cannot set up a client of the resource manager at {address}")
        })?;
        Ok(Self {
            rm,
            identity,
            address,
        })
    }

    /// The user applications are submitted as: the one this client's certificate names
    /// (`user:NAME`), since the RM accepts submissions only as that user.
    pub fn user(&self) -> anyhow::Result<String> {
        match self.identity.role() {
            Role::User(name) => Ok(name),
            other => bail!(
                "the certificate in spindle-client.toml is not a user certificate (it names {other}): submitting needs one whose subject is user:NAME (`spindle certs issue --common-name user:NAME`)"
            ),
        }
    }

    /// Runs an RM request that is safe to repeat, each try bounded by [`CONNECT_TIMEOUT`];
    /// tried again while the RM is away (see [`Self::patiently`]).
    pub async fn call<T, F, Fut>(&self, what: &str, f: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        self.patiently(what, true, Some(CONNECT_TIMEOUT), f).await
    }

    /// Runs a transfer (staging a file) with no deadline: however long a busy RM takes,
    /// the stream is paced by QUIC flow control, and a dead RM is noticed by the
    /// transport's idle timeout. Staging is by content, so it is tried again too.
    pub async fn transfer<T, F, Fut>(&self, what: &str, f: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        self.patiently(what, true, None, f).await
    }

    /// Runs `f` until the RM answers, for up to [`RM_PATIENCE`] while it cannot be reached
    /// (it restarts, or fails over); a request that is not `repeatable` is
    /// tried again only when it never left. Errors say the RM could not be reached when
    /// that is what happened.
    pub async fn patiently<T, F, Fut>(
        &self,
        what: &str,
        repeatable: bool,
        deadline: Option<Duration>,
        mut f: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        let give_up = Instant::now() + RM_PATIENCE;
        let mut backoff = Duration::from_millis(100);
        let mut told = false;
        loop {
            let r = match deadline {
                Some(d) => tokio::time::timeout(d, f()).await.unwrap_or_else(|_| {
                    Err(TransportError::TimedOut {
                        addr: self.address.clone(),
                        idle_timeout: d,
                    })
                }),
                None => f().await,
            };
            let again = match &r {
                Err(TransportError::Connect { .. } | TransportError::Resolve { .. }) => true,
                Err(
                    TransportError::Connection { .. }
                    | TransportError::TimedOut { .. }
                    | TransportError::Frame { .. },
                ) => repeatable,
                _ => false,
            };
            if !again || Instant::now() >= give_up {
                return self.answer(what, r);
            }
            if !told {
                if let Err(e) = &r {
                    eprintln!(
                        "spindle-submit: the resource manager at {} did not answer ({what}: {e}); trying again for up to {}s",
                        self.address,
                        RM_PATIENCE.as_secs()
                    );
                }
                told = true;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    fn answer<T>(&self, what: &str, r: Result<T, TransportError>) -> anyhow::Result<T> {
        match r {
            Err(
                e @ (TransportError::Connect { .. }
                | TransportError::Resolve { .. }
                | TransportError::TimedOut { .. }),
            ) => Err(anyhow!(
                "cannot reach the resource manager at {} ({what}): {e}",
                self.address
            )),
            Err(e) => Err(anyhow::Error::new(e).context(format!("{what} failed"))),
            Ok(v) => Ok(v),
        }
    }
}

fn parse_app_id(flag: &str, id: &str) -> anyhow::Result<ApplicationId> {
    id.trim().parse().map_err(|e| {
        anyhow!("{flag}: '{id}' is not an application id (application_<clusterTs>_<seq>): {e}")
    })
}

fn unknown_app(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<TransportError>()
            .and_then(TransportError::code)
            == Some(ErrorCode::UnknownApplication)
    })
}

/// The RM's refusal (`Unauthorized`) and its message, which names the missing right.
fn refusal(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|c| {
        c.downcast_ref::<TransportError>()
            .and_then(TransportError::remote)
            .filter(|w| w.code == ErrorCode::Unauthorized)
            .map(|w| w.message.clone())
    })
}

fn remote_code(e: &anyhow::Error) -> Option<ErrorCode> {
    e.chain().find_map(|c| {
        c.downcast_ref::<TransportError>()
            .and_then(TransportError::code)
    })
}

/// `--status ID`: prints the report; exit code 0, or an error (unknown id, RM unreachable).
pub async fn status(address: Option<&str>, id: &str) -> anyhow::Result<i32> {
    let app = parse_app_id("--status", id)?;
    let cluster = Cluster::connect(address)?;
    let r = match cluster
        .call("application report", || cluster.rm.report(app))
        .await
    {
        Err(e) if unknown_app(&e) => bail!("unknown application {app}"),
        other => other?,
    };
    print!("{}", format_status(&r));
    Ok(0)
}

/// The text of `--status`.
pub fn format_status(r: &ApplicationReport) -> String {
    let or_na = |s: &str| {
        if s.is_empty() {
            "N/A".to_owned()
        } else {
            s.to_owned()
        }
    };
    let mut s = format!("Application report for {}\n", r.id);
    for (k, v) in [
        ("name", r.name.clone()),
        ("user", r.user.clone()),
        ("queue", r.queue.clone()),
        ("application type", r.app_type.clone()),
        ("state", r.state.to_string()),
        ("final status", r.final_status.to_string()),
        ("tracking URL", or_na(&r.tracking_url)),
        ("ApplicationMaster host", or_na(&r.am_host)),
        (
            "current attempt",
            r.current_attempt
                .map_or_else(|| "N/A".to_owned(), |a| a.to_string()),
        ),
        ("start time", r.start_time.to_string()),
        ("finish time", r.finish_time.to_string()),
        ("progress", format!("{:.0}%", r.progress * 100.0)),
        ("running containers", r.running_containers.to_string()),
        (
            "aggregate resource allocation",
            format!(
                "{} MB-seconds, {} vcore-seconds",
                r.memory_seconds, r.vcore_seconds
            ),
        ),
        ("diagnostics", or_na(&r.diagnostics)),
    ] {
        s.push_str(&format!("\t {k}: {v}\n"));
    }
    s
}

/// `--kill ID`.
pub async fn kill(address: Option<&str>, id: &str) -> anyhow::Result<i32> {
    let app = parse_app_id("--kill", id)?;
    let cluster = Cluster::connect(address)?;
    // As YARN's `application -kill`: an ended app is not killed again.
    match cluster.call("report", || cluster.rm.report(app)).await {
        Err(e) if unknown_app(&e) => bail!("unknown application {app}"),
        Ok(r) if r.state.is_terminal() => {
            println!(
                "Application {app} has already finished: {} (final status {})",
                r.state, r.final_status
            );
            return Ok(0);
        }
        other => {
            other?;
        }
    }
    match cluster.call("kill", || cluster.rm.kill(app)).await {
        Err(e) if unknown_app(&e) => bail!("unknown application {app}"),
        Err(e) if refusal(&e).is_some() => bail!(
            "the resource manager refused to kill {app}: {}",
            refusal(&e).unwrap_or_default()
        ),
        other => other?,
    }
    println!("Killed application {app}");
    Ok(0)
}

/// Refuses a driver or executor container that fits on no RUNNING node (when the RM knows
/// of running nodes at all). The RM's `max-allocation-*` limits are checked by the RM: at
/// submission for the driver, at the AM's first ask for executors.
pub fn check_fits(plan: &Plan, nodes: &[NodeReport]) -> anyhow::Result<()> {
    let running: Vec<&NodeReport> = nodes
        .iter()
        .filter(|n| n.state == NodeState::RUNNING)
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    let fits = |r: &Resource| running.iter().any(|n| n.capability.fits(r));
    let largest = || {
        let mem = running.iter().map(|n| n.capability.memory_mb).max();
        let cores = running.iter().map(|n| n.capability.vcores).max();
        format!(
            "the largest node offers {} MB and {} vcores",
            mem.unwrap_or(0),
            cores.unwrap_or(0)
        )
    };
    let conf = &plan.conf;
    if !fits(&plan.driver) {
        bail!(
            "the driver container {} ({}={}m + {}={}m, {}={}) does not fit on any node: {}",
            plan.driver,
            keys::DRIVER_MEMORY,
            conf.driver_memory_mb()?,
            keys::DRIVER_MEMORY_OVERHEAD,
            conf.driver_memory_overhead_mb()?,
            keys::DRIVER_CORES,
            plan.driver.vcores,
            largest()
        );
    }
    if (plan.dynamic_allocation || plan.num_executors > 0) && !fits(&plan.executor) {
        bail!(
            "the executor container {} ({}={}m + {}={}m, {}={}) does not fit on any node: {}",
            plan.executor,
            keys::EXECUTOR_MEMORY,
            conf.executor_memory_mb()?,
            keys::EXECUTOR_MEMORY_OVERHEAD,
            conf.executor_memory_overhead_mb()?,
            keys::EXECUTOR_CORES,
            plan.executor.vcores,
            largest()
        );
    }
    Ok(())
}

/// What following an application reports as it happens: spindle-submit prints it
/// ([`Console`]); `spindle compare` shows it as progress.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Followed<'a> {
    /// The RM accepted the application.
    Submitted(ApplicationId),
    /// Its state changed.
    State(YarnApplicationState),
    /// A (new) tracking URL.
    TrackingUrl(&'a str),
    /// An attempt ended and another began.
    NewAttempt {
        old: common::AppAttemptId,
        new: common::AppAttemptId,
    },
    /// New output of the driver (its stdout, as written).
    DriverOutput(&'a [u8]),
    /// `spark.yarn.submit.waitAppCompletion=false`: submitted, not followed further.
    NotWaiting,
    /// The application ended.
    Finished(&'a Outcome),
}

/// Receives what [`submit_and_follow`] sees.
pub trait Watcher: Send {
    fn seen(&mut self, what: Followed<'_>);
}

/// spindle-submit's watcher: prints every change on stdout, as spark-submit does.
pub struct Console;

impl Watcher for Console {
    fn seen(&mut self, what: Followed<'_>) {
        let mut out = std::io::stdout().lock();
        let _ = match what {
            Followed::Submitted(id) => {
                let _ = SUBMITTED.set(id);
                writeln!(out, "Submitted application {id}")
            }
            Followed::State(state) => match SUBMITTED.get() {
                Some(id) => writeln!(out, "Application report for {id} (state: {state})"),
                None => writeln!(out, "Application report (state: {state})"),
            },
            Followed::TrackingUrl(url) => writeln!(out, "tracking URL: {url}"),
            Followed::NewAttempt { old, new } => writeln!(
                out,
                "Application {} attempt {old} ended; new attempt {new}",
                new.app
            ),
            Followed::DriverOutput(data) => out.write_all(data),
            Followed::NotWaiting => match SUBMITTED.get() {
                Some(id) => writeln!(
                    out,
                    "spark.yarn.submit.waitAppCompletion=false: not waiting for {id}"
                ),
                None => Ok(()),
            },
            Followed::Finished(o) => {
                let _ = writeln!(out, "final status: {}", o.final_status);
                if o.diagnostics.is_empty() {
                    Ok(())
                } else {
                    writeln!(out, "diagnostics: {}", o.diagnostics)
                }
            }
        };
        let _ = out.flush();
    }
}

/// How a followed application ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: ApplicationId,
    pub state: YarnApplicationState,
    pub final_status: FinalApplicationStatus,
    pub diagnostics: String,
}

impl Outcome {
    /// 0 for FINISHED + SUCCEEDED, else 1 (with a line on stderr).
    pub fn exit_code(&self) -> i32 {
        exit_code(self.state, self.final_status, self.id)
    }
}

/// Submits `plan` and, unless `spark.yarn.submit.waitAppCompletion=false`, follows the
/// application to its end; returns the exit code (0 only for FINISHED + SUCCEEDED).
pub async fn submit(plan: Plan) -> anyhow::Result<i32> {
    let cluster = Cluster::connect(plan.rm_address.as_deref())?;
    Ok(submit_and_follow(&cluster, plan, &mut Console)
        .await?
        .map_or(0, |o| o.exit_code()))
}

/// Stages the binary, submits `plan` and follows the application, telling `watcher` what
/// happens; the outcome, or `None` when `spark.yarn.submit.waitAppCompletion=false`.
pub async fn submit_and_follow(
    cluster: &Cluster,
    plan: Plan,
    watcher: &mut dyn Watcher,
) -> anyhow::Result<Option<Outcome>> {
    let rm = &cluster.rm;
    let (nodes, staged) = tokio::join!(
        cluster.call("listing nodes", || rm.nodes()),
        cluster.transfer("staging the application binary", || {
            rm.stage_file(&plan.binary, &plan.binary_name, true)
        }),
    );
    let nodes = nodes?;
    check_fits(&plan, &nodes)?;
    let staged = staged.with_context(|| format!("staging {}", plan.binary.display()))?;
    // A Python application's script and --py-files.
    let mut scripts = Vec::new();
    if let Some(py) = &plan.python {
        let files = std::iter::once((&py.script, &py.script_name))
            .chain(py.py_files.iter().map(|(p, n)| (p, n)));
        for (path, name) in files {
            let r = cluster
                .transfer("staging the application's Python files", || {
                    rm.stage_file(path, name, false)
                })
                .await
                .with_context(|| format!("staging {}", path.display()))?;
            scripts.push(r);
        }
    }
    let user = cluster.user()?;
    let mut plan = plan;
    let submit_time = common::clock::wall_ms();
    plan.conf
        .set(keys::APP_SUBMIT_TIME, submit_time.to_string());
    let submission = plan.submission_with(staged, scripts, user);
    // Safe to repeat: the RM answers a repeat (same submission id) with the app the first
    // one made.
    let id = match cluster
        .patiently("submission", true, Some(CONNECT_TIMEOUT), || {
            rm.submit(submission.clone())
        })
        .await
    {
        Ok(id) => id,
        Err(e) if remote_code(&e) == Some(ErrorCode::AskExceedsMaximum) => bail!(
            "the resource manager refused the driver container {} ({}, {}, {}): {}",
            plan.driver,
            keys::DRIVER_MEMORY,
            keys::DRIVER_MEMORY_OVERHEAD,
            keys::DRIVER_CORES,
            e.root_cause()
        ),
        Err(e) if refusal(&e).is_some() => bail!(
            "the resource manager refused the submission: {}",
            refusal(&e).unwrap_or_default()
        ),
        Err(e) => return Err(e.context("cannot submit the application")),
    };
    watcher.seen(Followed::Submitted(id));
    let mut follower = Follower::new(cluster, id, nodes, plan.wait, watcher)?;
    follower.run().await
}

/// Where the driver's stdout is being read from.
struct LogTail {
    container: ContainerId,
    node_address: String,
    offset: u64,
    retry_at: Option<Instant>,
}

/// Follows one application: reports, tracking URL, the AM's stdout.
struct Follower<'a> {
    cluster: &'a Cluster,
    watcher: &'a mut dyn Watcher,
    id: ApplicationId,
    nm: NmClient,
    node_addresses: HashMap<NodeId, String>,
    wait: bool,
    last_state: Option<YarnApplicationState>,
    last_url: String,
    last_attempt: Option<common::AppAttemptId>,
    tail: Option<LogTail>,
}

impl<'a> Follower<'a> {
    fn new(
        cluster: &'a Cluster,
        id: ApplicationId,
        nodes: Vec<NodeReport>,
        wait: bool,
        watcher: &'a mut dyn Watcher,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            cluster,
            watcher,
            id,
            nm: NmClient::new(&cluster.identity).context("cannot set up a node manager client")?,
            node_addresses: nodes.into_iter().map(|n| (n.node_id, n.address)).collect(),
            wait,
            last_state: None,
            last_url: String::new(),
            last_attempt: None,
            tail: None,
        })
    }

    async fn run(&mut self) -> anyhow::Result<Option<Outcome>> {
        let mut outage_since: Option<Instant> = None;
        loop {
            let report = match self.cluster.rm.report(self.id).await {
                Ok(r) => {
                    outage_since = None;
                    r
                }
                Err(e) if e.code() == Some(ErrorCode::UnknownApplication) => {
                    bail!(
                        "the resource manager no longer knows application {}",
                        self.id
                    )
                }
                Err(e) => {
                    let since = *outage_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > REPORT_OUTAGE_LIMIT {
                        return Err(anyhow::Error::new(e).context(format!(
                            "lost the resource manager at {} while following {}",
                            self.cluster.address, self.id
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            };
            self.observe(&report).await;
            if report.state.is_terminal() {
                return Ok(Some(self.finish(&report).await));
            }
            if !self.wait {
                self.watcher.seen(Followed::NotWaiting);
                return Ok(None);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Prints what changed in `r` and the driver's new output.
    async fn observe(&mut self, r: &ApplicationReport) {
        // The final state is printed by `finish`, after the driver's last output.
        if self.last_state != Some(r.state) && !r.state.is_terminal() {
            self.watcher.seen(Followed::State(r.state));
            self.last_state = Some(r.state);
        }
        if !r.tracking_url.is_empty() && r.tracking_url != self.last_url {
            self.watcher.seen(Followed::TrackingUrl(&r.tracking_url));
            self.last_url = r.tracking_url.clone();
        }
        if r.current_attempt.is_some() && r.current_attempt != self.last_attempt {
            if let (Some(old), Some(new)) = (self.last_attempt, r.current_attempt) {
                self.watcher.seen(Followed::NewAttempt { old, new });
            }
            self.last_attempt = r.current_attempt;
        }
        let am = r
            .current()
            .or(r.attempts.last())
            .and_then(|a| a.container.zip(a.node.clone()));
        if let Some((container, node)) = am {
            if self.tail.as_ref().map(|t| t.container) != Some(container) {
                if let Some(mut old) = self.tail.take() {
                    self.drain(&mut old).await;
                }
                if let Some(address) = self.node_address(&node).await {
                    self.tail = Some(LogTail {
                        container,
                        node_address: address,
                        offset: 0,
                        retry_at: None,
                    });
                }
            }
        }
        if let Some(mut tail) = self.tail.take() {
            self.pump(&mut tail, 4).await;
            self.tail = Some(tail);
        }
    }

    async fn node_address(&mut self, node: &NodeId) -> Option<String> {
        if let Some(a) = self.node_addresses.get(node) {
            return Some(a.clone());
        }
        if let Ok(Ok(nodes)) = tokio::time::timeout(LOG_READ_TIMEOUT, self.cluster.rm.nodes()).await
        {
            self.node_addresses = nodes.into_iter().map(|n| (n.node_id, n.address)).collect();
        }
        self.node_addresses.get(node).cloned()
    }

    /// Reads up to `max_reads` chunks of new output and prints them; returns whether the end
    /// of the file was reached without error.
    async fn pump(&mut self, tail: &mut LogTail, max_reads: usize) -> bool {
        if tail.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        for _ in 0..max_reads {
            let read = tokio::time::timeout(
                LOG_READ_TIMEOUT,
                self.nm
                    .read_log(&tail.node_address, tail.container, "stdout", tail.offset),
            )
            .await;
            match read {
                Ok(Ok((data, size))) => {
                    tail.retry_at = None;
                    if !data.is_empty() {
                        self.watcher.seen(Followed::DriverOutput(&data));
                        tail.offset += data.len() as u64;
                    }
                    if data.is_empty() || tail.offset >= size {
                        return true;
                    }
                }
                Ok(Err(e)) => {
                    tracing::debug!(container = %tail.container, error = %e, "reading the driver's stdout");
                    // An NM that answers (e.g. the container is not started yet) is asked
                    // again at the next poll; an unreachable one after a pause.
                    if e.code().is_none() {
                        tail.retry_at = Some(Instant::now() + LOG_RETRY_PAUSE);
                    }
                    return false;
                }
                Err(_) => {
                    tail.retry_at = Some(Instant::now() + LOG_RETRY_PAUSE);
                    return false;
                }
            }
        }
        false
    }

    /// Reads everything left in a log (the container has ended or is being left).
    async fn drain(&mut self, tail: &mut LogTail) {
        tail.retry_at = None;
        let _ = self.pump(tail, 1024).await;
    }

    async fn finish(&mut self, r: &ApplicationReport) -> Outcome {
        if let Some(mut tail) = self.tail.take() {
            self.drain(&mut tail).await;
            // The AM unregisters just before it exits: pick up anything written after that.
            tokio::time::sleep(POLL_INTERVAL).await;
            self.drain(&mut tail).await;
        }
        if self.last_state != Some(r.state) {
            self.watcher.seen(Followed::State(r.state));
            self.last_state = Some(r.state);
        }
        let outcome = Outcome {
            id: self.id,
            state: r.state,
            final_status: r.final_status,
            diagnostics: r.diagnostics.clone(),
        };
        self.watcher.seen(Followed::Finished(&outcome));
        outcome
    }
}

/// 0 for FINISHED + SUCCEEDED, else 1 (with a line on stderr).
pub fn exit_code(
    state: YarnApplicationState,
    final_status: FinalApplicationStatus,
    id: ApplicationId,
) -> i32 {
    if state == YarnApplicationState::FINISHED && final_status == FinalApplicationStatus::SUCCEEDED
    {
        0
    } else {
        eprintln!(
            "spindle-submit: application {id} finished with state {state} and final status \
             {final_status}"
        );
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use am_core::sparkconf::SparkConf;
    use std::path::PathBuf;

    fn plan(driver: Resource, executor: Resource, num_executors: u32) -> Plan {
        Plan {
            conf: SparkConf::new(),
            rm_address: None,
            binary: PathBuf::from("/bin/app"),
            binary_name: "app".into(),
            app_args: vec![],
            class: None,
            verbose: false,
            name: "app".into(),
            queue: "default".into(),
            driver,
            executor,
            num_executors,
            dynamic_allocation: false,
            max_attempts: None,
            wait: true,
            ignored: vec![],
            acls: Default::default(),
            python: None,
        }
    }

    fn node(mem: u64, cores: u32, state: NodeState) -> NodeReport {
        NodeReport {
            node_id: NodeId(format!("n{mem}:{cores}")),
            address: "127.0.0.1:1".into(),
            http_address: String::new(),
            state,
            capability: Resource::new(mem, cores),
            used: Resource::ZERO,
            num_containers: 0,
            last_health_update: 0,
            isolation: Default::default(),
            health_report: String::new(),
            decommissioning_timeout_s: None,
        }
    }

    #[test]
    fn containers_must_fit_a_running_node() {
        let small = Resource::new(1408, 1);
        let big = Resource::new(9011, 1);
        let nodes = vec![
            node(8192, 8, NodeState::RUNNING),
            node(16384, 8, NodeState::LOST),
        ];
        assert!(check_fits(&plan(small, small, 2), &nodes).is_ok());
        let e = check_fits(&plan(small, big, 2), &nodes)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("executor container <memory:9011, vCores:1>"),
            "{e}"
        );
        assert!(e.contains("spark.executor.memory"), "{e}");
        assert!(e.contains("8192 MB"), "{e}");
        let e = check_fits(&plan(big, small, 2), &nodes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("driver container"), "{e}");
        let e = check_fits(&plan(small, Resource::new(1408, 9), 2), &nodes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("spark.executor.cores=9"), "{e}");
        // No executors, no executor check; no running nodes, no check at all.
        assert!(check_fits(&plan(small, big, 0), &nodes).is_ok());
        assert!(check_fits(&plan(big, big, 2), &[node(16, 1, NodeState::NEW)]).is_ok());
    }

    #[test]
    fn exit_codes() {
        let id: ApplicationId = "application_1_0001".parse().unwrap();
        use FinalApplicationStatus as F;
        use YarnApplicationState as S;
        assert_eq!(exit_code(S::FINISHED, F::SUCCEEDED, id), 0);
        assert_eq!(exit_code(S::FINISHED, F::FAILED, id), 1);
        assert_eq!(exit_code(S::FAILED, F::FAILED, id), 1);
        assert_eq!(exit_code(S::KILLED, F::KILLED, id), 1);
    }

    #[test]
    fn app_ids_are_checked_before_connecting() {
        let e = parse_app_id("--status", "app_1").unwrap_err().to_string();
        assert!(
            e.starts_with("--status: 'app_1' is not an application id"),
            "{e}"
        );
        assert!(parse_app_id("--kill", "application_1700000000000_0001").is_ok());
    }
}
