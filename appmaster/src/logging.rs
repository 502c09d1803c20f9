//! Logs of the client tools and the driver/executor processes: off unless `SPINDLE_LOG`
//! holds a tracing filter (e.g. `SPINDLE_LOG=debug`), then on stderr.

/// The variable holding the filter.
pub const LOG_ENV: &str = "SPINDLE_LOG";

/// Starts logging to stderr when [`LOG_ENV`] is set (once per process; later calls do
/// nothing).
pub fn init_from_env() {
    if std::env::var_os(LOG_ENV).is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env(LOG_ENV))
            .with_writer(std::io::stderr)
            .try_init();
    }
}
