//! The resource manager daemon: ready once its QUIC endpoint (and web
//! server) answer; a graceful stop saves every application to the state
//! store. The daemon runtime does the rest.

use daemon::Daemon;
use resourcemanager::service::RmError;
use resourcemanager::{RmConfig, RmHandle};
use std::time::Duration;

struct ResourceManager;

impl Daemon for ResourceManager {
    const NAME: &'static str = "resourcemanager";
    const ABOUT: &'static str = "Spindle's resource manager";
    const STARTING: &'static str = "starting: opening the state store";
    const STOPPING: Option<&'static str> = Some("stopping: saving state");

    type Config = RmConfig;
    type Handle = RmHandle;
    type Error = RmError;

    /// Once this returns, the endpoint is bound and served: clients get answers.
    async fn start(config: &RmConfig) -> Result<RmHandle, RmError> {
        resourcemanager::start(config).await
    }

    /// The probe takes the state lock.
    fn status(rm: &RmHandle) -> impl Fn() -> String + Clone + Send + 'static {
        let monitor = rm.monitor();
        move || monitor.status_line()
    }

    /// Longest a SIGTERM shutdown may take.
    fn stop_bound(_: &RmConfig) -> Duration {
        Duration::from_secs(15)
    }

    async fn shutdown(rm: RmHandle) {
        rm.shutdown().await
    }

    /// Queues and preemption settings apply at once (YARN's refreshQueues).
    fn reload(
        rm: &RmHandle,
        running: &RmConfig,
        new: &RmConfig,
    ) -> Result<Vec<&'static str>, String> {
        rm.reload(running, new)
    }
}

fn main() -> anyhow::Result<()> {
    daemon::main::<ResourceManager>()
}
