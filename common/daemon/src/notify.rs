//! The service manager's side channel (`NOTIFY_SOCKET`): readiness, STATUS=,
//! reloading and stopping, and the watchdog. Without a service manager every
//! call is a no-op.

use sd_notify::NotifyState;
use std::time::Duration;

/// Tells the service manager (when there is one).
pub fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// STATUS=`line`.
pub fn status(line: &str) {
    notify(&[NotifyState::Status(line)]);
}

/// Pings the watchdog at half its interval (when the service manager set
/// one; else only STATUS= is kept up to date, every 5 s) and updates STATUS=
/// when it changes. `probe` should take the daemon's main lock, so a wedged
/// daemon stops pinging and the service manager restarts it. Runs until
/// aborted.
pub async fn watchdog_loop(probe: impl Fn() -> String + Clone + Send + 'static) {
    let watchdog = sd_notify::watchdog_enabled();
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
