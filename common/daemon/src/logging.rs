//! Logging to stderr (the journal, under systemd) with a level filter that
//! SIGHUP can change.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Changes the running filter.
#[derive(Clone)]
pub struct LevelHandle(reload::Handle<EnvFilter, Registry>);

impl LevelHandle {
    /// Applies `level` (a tracing filter, checked by the configuration).
    pub fn set(&self, level: &str) -> Result<(), String> {
        self.0
            .reload(EnvFilter::new(level))
            .map_err(|e| e.to_string())
    }
}

/// Installs the process's subscriber at `level` (already validated);
/// colours only on a terminal.
pub fn init(level: &str) -> LevelHandle {
    let (filter, handle) = reload::Layer::new(EnvFilter::new(level));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    LevelHandle(handle)
}
