//! The life of a daemon process, the same for every Spindle daemon:
//!
//! 1. `--config FILE` (default `/etc/spindle/NAME.toml`) is loaded and
//!    validated; a bad file is one line on stderr and exit code 2;
//!    `--check-config` prints `FILE: ok` and exits.
//! 2. Logging starts at the file's `log-level`; SIGTERM, SIGINT and SIGHUP
//!    are caught; STATUS= says it is starting.
//! 3. The daemon starts (a failure is one line on stderr and exit code 1),
//!    then waits until it is ready (listening; the NM: registered) and says
//!    READY=1 with its status line. A watchdog task pings at half
//!    `WatchdogSec` and keeps STATUS= current.
//! 4. SIGHUP re-reads the file: a new `log-level` applies at once; other
//!    changed keys are named as needing a restart; a bad file is refused and
//!    the running configuration kept.
//! 5. SIGTERM or SIGINT, or the daemon asking to stop ([`Daemon::stop_requested`]; the
//!    NM when the RM decommissioned its node): STOPPING=1 and a graceful stop, bounded
//!    (past the bound: exit code 1).

use crate::config::DaemonConfig;
use crate::logging::{self, LevelHandle};
use crate::notify::{self, notify};
use anyhow::Context;
use clap::{value_parser, Arg, ArgAction};
use sd_notify::NotifyState;
use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// What is one daemon's own: its name, how it starts, when it is ready, its
/// status line and how it stops. [`main`] does the rest.
pub trait Daemon {
    /// The binary's name: its unit is `spindle-NAME`, its default
    /// configuration `/etc/spindle/NAME.toml`.
    const NAME: &'static str;
    /// What it is, for `--help`.
    const ABOUT: &'static str;
    /// STATUS= while starting.
    const STARTING: &'static str = "starting";
    /// STATUS= while stopping (besides STOPPING=1).
    const STOPPING: Option<&'static str> = None;

    type Config: DaemonConfig;
    /// The running daemon.
    type Handle;
    type Error: Display;

    fn start(config: &Self::Config) -> impl Future<Output = Result<Self::Handle, Self::Error>>;

    /// Resolves once the daemon may say READY=1; it may set STATUS= while it
    /// waits. By default it is ready once started.
    fn ready(_handle: &mut Self::Handle, _config: &Self::Config) -> impl Future<Output = ()> {
        async {}
    }

    /// The status line probe for STATUS= and the watchdog: it should take
    /// the daemon's main lock, so a wedged daemon stops feeding the watchdog.
    fn status(handle: &Self::Handle) -> impl Fn() -> String + Clone + Send + 'static;

    /// Longest a graceful stop may take (the unit's TimeoutStopSec is longer).
    fn stop_bound(config: &Self::Config) -> Duration;

    fn shutdown(handle: Self::Handle) -> impl Future<Output = ()>;

    /// Resolves when the daemon itself must stop (as on SIGTERM): by default, never.
    fn stop_requested(_handle: &Self::Handle) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }

    /// SIGHUP with a valid new file: applies what the daemon can change while it runs
    /// and returns those keys (they are then not named as needing a restart). An error
    /// refuses the whole reload: the running configuration stays, log level included.
    fn reload(
        _handle: &Self::Handle,
        _running: &Self::Config,
        _new: &Self::Config,
    ) -> Result<Vec<&'static str>, String> {
        Ok(Vec::new())
    }
}

/// Runs daemon `D` as a process's `main`.
pub fn main<D: Daemon>() -> anyhow::Result<()> {
    let (path, check_only) = args(D::NAME, D::ABOUT);
    let config = match D::Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", D::NAME);
            std::process::exit(2);
        }
    };
    if check_only {
        println!("{}: ok", path.display());
        return Ok(());
    }
    let level = logging::init(config.log_level());
    common::transport::set_liveness(config.liveness());
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run::<D>(path, config, level))
}

/// `--config FILE` and `--check-config`.
fn args(name: &'static str, about: &'static str) -> (PathBuf, bool) {
    let default: &'static str = Box::leak(format!("/etc/spindle/{name}.toml").into_boxed_str());
    let matches = clap::Command::new(name)
        .version(env!("CARGO_PKG_VERSION"))
        .about(about)
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("CONFIG")
                .value_parser(value_parser!(PathBuf))
                .default_value(default)
                .help("Configuration file (TOML)"),
        )
        .arg(
            Arg::new("check-config")
                .long("check-config")
                .action(ArgAction::SetTrue)
                .help("Validate the configuration and exit"),
        )
        .get_matches();
    let path = matches
        .get_one::<PathBuf>("config")
        .cloned()
        .unwrap_or_else(|| default.into());
    (path, matches.get_flag("check-config"))
}

async fn run<D: Daemon>(
    path: PathBuf,
    config: D::Config,
    level: LevelHandle,
) -> anyhow::Result<()> {
    let mut signals = Signals::install()?;
    notify::status(D::STARTING);
    let mut handle = match D::start(&config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{}: {e}", D::NAME);
            std::process::exit(1);
        }
    };
    let stop_bound = D::stop_bound(&config);
    let mut asked = std::pin::pin!(D::stop_requested(&handle));
    let ready = tokio::select! {
        biased;
        () = D::ready(&mut handle, &config) => true,
        () = signals.stop() => false,
        () = &mut asked => false,
    };
    if !ready {
        tracing::info!("stopped before ready");
        let _ = tokio::time::timeout(stop_bound, D::shutdown(handle)).await;
        return Ok(());
    }
    let probe = D::status(&handle);
    notify(&[NotifyState::Ready, NotifyState::Status(&probe())]);
    let pinger = tokio::spawn(notify::watchdog_loop(probe));
    let mut reload = Reload {
        unit: format!("spindle-{}", D::NAME),
        path,
        applied: config.log_level().to_string(),
        running: config,
        level,
    };
    loop {
        tokio::select! {
            ev = signals.next() => match ev {
                Event::Reload => reload.reload(|running, new| D::reload(&handle, running, new)),
                Event::Stop => break,
            },
            () = &mut asked => {
                tracing::info!("stopping by itself");
                break;
            }
        }
    }
    tracing::info!("shutting down");
    let mut states = vec![NotifyState::Stopping];
    states.extend(D::STOPPING.map(NotifyState::Status));
    notify(&states);
    let stopped = tokio::time::timeout(stop_bound, D::shutdown(handle)).await;
    pinger.abort();
    if stopped.is_err() {
        tracing::error!("shutdown did not finish within {stop_bound:?}");
        std::process::exit(1);
    }
    tracing::info!("stopped");
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Stop,
    Reload,
}

/// SIGTERM and SIGINT (stop) and SIGHUP (reload).
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing SIGHUP handler")?,
        })
    }

    /// The next SIGTERM or SIGINT (a SIGHUP meanwhile waits for [`Self::next`]).
    async fn stop(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    async fn next(&mut self) -> Event {
        tokio::select! {
            _ = self.term.recv() => Event::Stop,
            _ = self.int.recv() => Event::Stop,
            _ = self.hup.recv() => Event::Reload,
        }
    }
}

/// SIGHUP: what the running daemon was started with, and the log level in force.
struct Reload<C> {
    unit: String,
    path: PathBuf,
    running: C,
    applied: String,
    level: LevelHandle,
}

impl<C: DaemonConfig> Reload<C> {
    /// Re-reads the file; applies the log level, names what needs a restart.
    /// `live` applies the daemon's own live keys (see [`Daemon::reload`]).
    fn reload(&mut self, live: impl FnOnce(&C, &C) -> Result<Vec<&'static str>, String>) {
        let mut states = vec![NotifyState::Reloading];
        states.extend(NotifyState::monotonic_usec_now().ok());
        notify(&states);
        match C::load(&self.path) {
            Err(e) => tracing::error!("reload refused, keeping the running configuration: {e}"),
            Ok(new) => match live(&self.running, &new) {
                Err(e) => {
                    tracing::error!("reload refused, keeping the running configuration: {e}")
                }
                Ok(applied) => {
                    for key in &applied {
                        tracing::info!(key, "reloaded: applied");
                    }
                    self.apply(&new, &applied);
                }
            },
        }
        notify(&[NotifyState::Ready]);
    }

    fn apply(&mut self, new: &C, live: &[&'static str]) {
        let (level, mut restart) = plan(&self.running, &self.applied, new);
        restart.retain(|k| !live.contains(&k.as_str()));
        if level.is_none() && restart.is_empty() && live.is_empty() {
            tracing::info!(config = %self.path.display(), "reloaded: nothing changed");
        }
        self.set_level(level);
        if !restart.is_empty() {
            tracing::warn!(
                keys = %restart.join(", "),
                "changed keys need a restart to take effect (systemctl restart {})",
                self.unit
            );
        }
    }
}

impl<C: DaemonConfig> Reload<C> {
    fn set_level(&mut self, level: Option<&str>) {
        if let Some(to) = level {
            match self.level.set(to) {
                Ok(()) => {
                    tracing::info!(from = %self.applied, to = %to, "reloaded: log-level applied");
                    self.applied = to.to_string();
                }
                Err(e) => tracing::error!(error = %e, "cannot apply the new log-level"),
            }
        }
    }
}

/// What reloading `new` does to a daemon started with `running` and logging
/// at `applied`: the log level to apply (when it changed), and the other
/// changed keys, which need a restart.
fn plan<'a, C: DaemonConfig>(
    running: &C,
    applied: &str,
    new: &'a C,
) -> (Option<&'a str>, Vec<String>) {
    let restart = running
        .changed_keys(new)
        .into_iter()
        .filter(|k| k != "log-level")
        .collect();
    let level = Some(new.log_level()).filter(|l| *l != applied);
    (level, restart)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::Conf;

    #[test]
    fn reload_applies_the_log_level_and_names_other_changed_keys() {
        let started = Conf::default();
        let same = Conf::default();
        assert_eq!(plan(&started, "info", &same), (None, vec![]));
        let debug = Conf {
            log_level: "debug".into(),
            ..Conf::default()
        };
        assert_eq!(plan(&started, "info", &debug), (Some("debug"), vec![]));
        // Once applied, the same file again changes nothing.
        assert_eq!(plan(&started, "debug", &debug), (None, vec![]));
        // Back to the level it started with, and a key that needs a restart.
        let more = Conf {
            max_things: 9,
            ..Conf::default()
        };
        assert_eq!(
            plan(&started, "debug", &more),
            (Some("info"), vec!["max-things".to_string()])
        );
        // A key changed earlier still needs the restart at the next reload.
        assert_eq!(
            plan(&started, "info", &more),
            (None, vec!["max-things".to_string()])
        );
    }
}
