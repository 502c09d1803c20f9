//! The node manager daemon: ready once listening and registered with the
//! resource manager; a graceful stop unregisters the node (SHUTDOWN) and stops
//! its containers, or with recovery leaves them running for the next process;
//! it also stops when the resource manager decommissioned the node. The daemon
//! runtime does the rest.

use daemon::Daemon;
use nodemanager::service::NmError;
use nodemanager::{NmConfig, NmHandle};
use std::time::Duration;

/// Longest a SIGTERM shutdown may take on top of `kill-grace` before the
/// process gives up waiting (the unit's TimeoutStopSec is longer).
const STOP_MARGIN: Duration = Duration::from_secs(15);

struct NodeManager;

impl Daemon for NodeManager {
    const NAME: &'static str = "nodemanager";
    const ABOUT: &'static str = "Spindle's node manager";
    const STOPPING: Option<&'static str> =
        Some("stopping: reporting completions, unregistering, stopping containers (with recovery: leaving them running)");

    type Config = NmConfig;
    type Handle = NmHandle;
    type Error = NmError;

    async fn start(config: &NmConfig) -> Result<NmHandle, NmError> {
        nodemanager::start(config).await
    }

    /// Ready means: listening, and the RM has accepted this node.
    async fn ready(nm: &mut NmHandle, config: &NmConfig) {
        daemon::notify::status(&format!(
            "listening on {}; registering with the resource manager at {}",
            nm.addr,
            config.rms().join(", ")
        ));
        nm.wait_registered().await
    }

    /// The probe takes the container table's lock.
    fn status(nm: &NmHandle) -> impl Fn() -> String + Clone + Send + 'static {
        let monitor = nm.monitor();
        move || monitor.status_line()
    }

    fn stop_bound(config: &NmConfig) -> Duration {
        config.kill_grace + STOP_MARGIN
    }

    /// The RM told the node to shut down: it was decommissioned.
    fn stop_requested(nm: &NmHandle) -> impl std::future::Future<Output = ()> + Send + 'static {
        nm.stop_requested()
    }

    async fn shutdown(nm: NmHandle) {
        nm.shutdown().await
    }
}

fn main() -> anyhow::Result<()> {
    // Started as a container's launcher (`recovery`), not as the daemon.
    if let Some(code) = nodemanager::launcher::main_if_launcher() {
        std::process::exit(code);
    }
    daemon::main::<NodeManager>()
}
