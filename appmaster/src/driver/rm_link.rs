//! The AM's link to the RM, kept across an RM restart or failover (YARN's AM resync):
//! calls go through one task, in order, and are retried with backoff until the RM
//! answers; when the push stream ends without the RM ending the attempt, the AM
//! subscribes again and tells the driver loop, which sends its outstanding ask again
//! (the restarted RM does not keep asks).

use super::msg::Msg;
use common::client::AmRmClient;
use common::protocol::{AmEvent, ErrorCode, ResourceAsk};
use common::transport::TransportError;
use common::{ContainerId, Resource};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// This AM container's TLS identity and its client of the RM.
pub(crate) fn am_client(
    env: &common::client::AmEnv,
) -> anyhow::Result<(common::tls::TlsIdentity, Arc<AmRmClient>)> {
    let identity = common::tls::TlsIdentity::load(&env.tls)?;
    let rm = AmRmClient::new(&identity, &env.rm_addresses, env.attempt, env.token.clone())?;
    Ok((identity, Arc::new(rm)))
}

/// A call to the RM.
pub(crate) enum RmCall {
    /// Executors still wanted (total-count semantics: replaces the last ask).
    Ask(u32, Resource),
    Release(ContainerId),
}

/// How long the AM keeps trying to reach an RM that went away (its restart, a failover)
/// before it gives up on the attempt.
const PATIENCE: Duration = Duration::from_secs(120);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Whether the RM's answer means the attempt is over, so that trying again cannot help.
fn attempt_over(e: &TransportError) -> bool {
    matches!(
        e.code(),
        Some(
            ErrorCode::UnknownAttempt
                | ErrorCode::UnknownApplication
                | ErrorCode::InvalidState
                | ErrorCode::Unauthorized
                | ErrorCode::InvalidToken
        )
    )
}

/// Calls `f` until it succeeds, the RM says the attempt is over, or [`PATIENCE`] runs
/// out, with doubling waits between tries.
pub(crate) async fn with_retries<T, F, Fut>(what: &str, mut f: F) -> Result<T, TransportError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TransportError>>,
{
    let give_up = Instant::now() + PATIENCE;
    let mut backoff = FIRST_BACKOFF;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt_over(&e) || Instant::now() >= give_up => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "{what} failed; the resource manager may be restarting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Runs the AM's calls to the RM in order; a failed call is retried (an ask that a
/// newer one replaced is not), so nothing asked or released is lost while the RM is
/// away.
pub(crate) async fn calls(rm: Arc<AmRmClient>, mut rx: mpsc::UnboundedReceiver<RmCall>) {
    while let Some(call) = rx.recv().await {
        let mut ask = None;
        let mut releases = Vec::new();
        let mut take = |call| match call {
            RmCall::Ask(count, resource) => {
                ask = Some(ResourceAsk {
                    key: "executors".into(),
                    count,
                    resource,
                    nodes: vec![],
                    relax_locality: true,
                })
            }
            RmCall::Release(c) => releases.push(c),
        };
        take(call);
        // What queued up meanwhile goes in the same call.
        while let Ok(more) = rx.try_recv() {
            take(more);
        }
        let r = with_retries("allocate call", || {
            rm.allocate(ask.iter().cloned().collect(), releases.clone(), 0.5)
        })
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "allocate call failed");
        }
    }
}

/// Forwards the RM's events to the driver loop; when the stream ends, subscribes again
/// (a restarted RM keeps the attempt) and sends [`Msg::RmResynced`], or, when the RM
/// ended the attempt or stays away, [`Msg::RmClosed`].
pub(crate) async fn follow(
    rm: Arc<AmRmClient>,
    mut events: mpsc::UnboundedReceiver<AmEvent>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    loop {
        while let Some(ev) = events.recv().await {
            let shutdown = matches!(ev, AmEvent::Shutdown { .. });
            if tx.send(Msg::Rm(ev)).is_err() || shutdown {
                return;
            }
        }
        tracing::warn!("the push stream from the resource manager ended; subscribing again");
        match with_retries("subscription", || rm.subscribe()).await {
            Ok(rx) => {
                tracing::info!("re-synced with the resource manager");
                events = rx;
                if tx.send(Msg::RmResynced).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to the resource manager again");
                let _ = tx.send(Msg::RmClosed);
                return;
            }
        }
    }
}
