use anyhow::Context;
use clap::Parser;
use sd_notify::NotifyState;
use shuffle_service::{ServerConfig, ShuffleServiceConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Spindle's standalone shuffle service (by default the NM hosts it).
#[derive(Parser)]
#[command(name = "shuffle-service", version)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, default_value = "/etc/spindle/shuffle-service.toml")]
    config: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
}

/// Longest a SIGTERM shutdown may take (the unit's TimeoutStopSec is longer).
const STOP_BOUND: Duration = Duration::from_secs(10);

type FilterHandle = reload::Handle<EnvFilter, Registry>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = match ShuffleServiceConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shuffle-service: {e}");
            std::process::exit(2);
        }
    };
    if args.check_config {
        println!("{}: ok", args.config.display());
        return Ok(());
    }
    let filter = init_tracing(&config.log_level);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(args.config, config, filter))
}

fn init_tracing(level: &str) -> FilterHandle {
    // validate() already checked the filter.
    let (filter, handle) = reload::Layer::new(EnvFilter::new(level));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    handle
}

/// Tells the service manager (when there is one: `NOTIFY_SOCKET`).
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

async fn run(
    path: PathBuf,
    mut config: ShuffleServiceConfig,
    filter: FilterHandle,
) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    notify(&[NotifyState::Status("starting: opening the state store")]);
    let started = async {
        let identity = common::tls::TlsIdentity::load(&config.tls_files())?;
        let admin_token = shuffle_service::admin_token_from_key(&config.key)
            .with_context(|| format!("reading {}", config.key.display()))?;
        let handle = shuffle_service::start(ServerConfig {
            address: config.address.clone(),
            identity,
            allowed_roots: vec![config.nm_local_dir.clone()],
            state_dir: Some(config.state_dir.clone()),
            admin_token: Some(admin_token),
        })
        .await?;
        anyhow::Ok(handle)
    }
    .await;
    let handle = match started {
        Ok(h) => std::sync::Arc::new(h),
        Err(e) => {
            eprintln!("shuffle-service: {e:#}");
            std::process::exit(1);
        }
    };
    notify(&[
        NotifyState::Ready,
        NotifyState::Status(&handle.status_line()),
    ]);
    let h = handle.clone();
    let pinger = tokio::spawn(watchdog_loop(sd_notify::watchdog_enabled(), move || {
        h.status_line()
    }));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&path, &mut config, &filter),
        }
    }
    tracing::info!("shutting down");
    notify(&[NotifyState::Stopping]);
    pinger.abort();
    if tokio::time::timeout(STOP_BOUND, handle.shutdown())
        .await
        .is_err()
    {
        tracing::error!("shutdown did not finish within {STOP_BOUND:?}");
        std::process::exit(1);
    }
    tracing::info!("stopped");
    Ok(())
}

/// Pings the watchdog at half its interval (when systemd set one) and
/// updates STATUS= when it changes. `probe` takes the registry's lock, so a
/// wedged service stops pinging and systemd restarts it.
async fn watchdog_loop(
    watchdog: Option<Duration>,
    probe: impl Fn() -> String + Clone + Send + 'static,
) {
    let period = watchdog.map_or(Duration::from_secs(5), |w| {
        (w / 2).max(Duration::from_millis(10))
    });
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = String::new();
    loop {
        tick.tick().await;
        let Ok(status) = tokio::task::spawn_blocking(probe.clone()).await else {
            continue;
        };
        let mut states = Vec::new();
        if watchdog.is_some() {
            states.push(NotifyState::Watchdog);
        }
        if status != last {
            states.push(NotifyState::Status(&status));
        }
        if !states.is_empty() {
            notify(&states);
        }
        last = status;
    }
}

/// SIGHUP: re-reads the file; applies the log level, names what needs a restart.
fn reload(path: &Path, config: &mut ShuffleServiceConfig, filter: &FilterHandle) {
    let mut states = vec![NotifyState::Reloading];
    states.extend(NotifyState::monotonic_usec_now().ok());
    notify(&states);
    match ShuffleServiceConfig::load(path) {
        Err(e) => tracing::error!("reload refused, keeping the running configuration: {e}"),
        Ok(new) => {
            let changed = config.changed_keys(&new);
            if changed.is_empty() {
                tracing::info!(config = %path.display(), "reloaded: nothing changed");
            }
            if new.log_level != config.log_level {
                match filter.reload(EnvFilter::new(&new.log_level)) {
                    Ok(()) => {
                        tracing::info!(from = %config.log_level, to = %new.log_level, "reloaded: log-level applied");
                        config.log_level = new.log_level.clone();
                    }
                    Err(e) => tracing::error!(error = %e, "cannot apply the new log-level"),
                }
            }
            let restart: Vec<&str> = changed
                .iter()
                .map(String::as_str)
                .filter(|k| *k != "log-level")
                .collect();
            if !restart.is_empty() {
                tracing::warn!(
                    keys = %restart.join(", "),
                    "changed keys need a restart to take effect (systemctl restart spindle-shuffle-service)"
                );
            }
        }
    }
    notify(&[NotifyState::Ready]);
}
