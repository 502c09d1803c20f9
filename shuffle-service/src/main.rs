//! The standalone shuffle service daemon: the shuffle server on its own
//! address, with its registrations kept in a state dir and the NM's admin
//! token from the node key. The daemon runtime does the rest.

use anyhow::Context;
use daemon::Daemon;
use shuffle_service::{Handle, ServerConfig, ShuffleServiceConfig};
use std::sync::Arc;
use std::time::Duration;

struct ShuffleService;

impl Daemon for ShuffleService {
    const NAME: &'static str = "shuffle-service";
    const ABOUT: &'static str = "Spindle's standalone shuffle service (by default the NM hosts it)";
    const STARTING: &'static str = "starting: opening the state store";

    type Config = ShuffleServiceConfig;
    type Handle = Arc<Handle>;
    /// The whole chain of causes, on one line.
    type Error = String;

    async fn start(config: &ShuffleServiceConfig) -> Result<Arc<Handle>, String> {
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
            anyhow::Ok(Arc::new(handle))
        };
        started.await.map_err(|e| format!("{e:#}"))
    }

    /// The probe takes the registry's lock.
    fn status(handle: &Arc<Handle>) -> impl Fn() -> String + Clone + Send + 'static {
        let handle = handle.clone();
        move || handle.status_line()
    }

    fn stop_bound(_: &ShuffleServiceConfig) -> Duration {
        Duration::from_secs(10)
    }

    async fn shutdown(handle: Arc<Handle>) {
        handle.shutdown().await
    }
}

fn main() -> anyhow::Result<()> {
    daemon::main::<ShuffleService>()
}
