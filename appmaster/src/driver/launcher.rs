//! Client deploy mode's thin AM (Spark's ExecutorLauncher): it runs in the
//! application's AM container, holds the application for a driver that runs
//! in the user's program, and relays between the two. It reaches the
//! driver (`LauncherRegister`, with the token the driver put in its launch),
//! registers with the RM with the driver's UI as the tracking URL, forwards
//! the RM's allocation stream to the driver (`LauncherEvent`), makes the
//! calls the driver writes back (asks, releases) and unregisters with the
//! final status the driver sends. A driver that goes away ends the
//! application FAILED, as a Spark client-mode AM does when its driver dies.

use super::msg::Msg;
use super::rm_link::{self, with_retries, RmCall};
use common::client::AmEnv;
use common::launch::LauncherLaunch;
use common::protocol::{
    DriverRequest, DriverResponse, FinalApplicationStatus, RelayedEvent, ALPN_DRIVER,
};
use common::transport::{self, Profile};
use tokio::sync::mpsc;

pub(crate) async fn run() -> anyhow::Result<i32> {
    let env = AmEnv::from_env()?;
    let launch = LauncherLaunch::from_env()?;
    let (identity, rm) = rm_link::am_client(&env)?;
    let driver = launch.driver_address.clone();
    let ep = transport::client_endpoint(&identity, ALPN_DRIVER, Profile::Control)?;
    let conn = transport::connect(&ep, &driver).await?;
    let (mut send, mut recv) = transport::open(&conn, &driver).await?;
    let hello = DriverRequest::LauncherRegister {
        token: launch.token.clone(),
        app_secret: env.app_secret.clone(),
        attempt: env.attempt,
        nm_host: env.nm_host.clone(),
        allocated_wall_ms: env.allocated_wall_ms,
    };
    transport::write(&mut send, &driver, &hello).await?;
    let tracking_url = match transport::read_response(&mut recv, &driver).await? {
        DriverResponse::LauncherAccepted { tracking_url } => tracking_url,
        DriverResponse::Error(e) => anyhow::bail!("the driver at {driver} refused this AM: {e}"),
        other => anyhow::bail!("the driver at {driver} answered {other:?}"),
    };
    eprintln!("launcher: holding the application for the driver at {driver}");
    let tracking_url = ui_relay(&env.nm_host, &tracking_url).await?;
    with_retries("registration", || rm.register(&env.nm_host, &tracking_url)).await?;
    let events = with_retries("subscription", || rm.subscribe()).await?;

    // The RM's news, in order, to the driver.
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    tokio::spawn(rm_link::follow(rm.clone(), events, tx));
    {
        let (conn, driver, token) = (conn.clone(), driver.clone(), launch.token.clone());
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let event = match msg {
                    Msg::Rm(ev) => RelayedEvent::Rm(ev),
                    Msg::RmResynced => RelayedEvent::Resynced,
                    Msg::RmClosed => RelayedEvent::Closed,
                    _ => continue,
                };
                let req = DriverRequest::LauncherEvent {
                    token: token.clone(),
                    event,
                };
                if let Err(e) = transport::call::<_, DriverResponse>(&conn, &driver, &req).await {
                    eprintln!("launcher: cannot reach the driver: {e}");
                    return;
                }
            }
        });
    }
    let (calls, calls_rx) = mpsc::unbounded_channel::<RmCall>();
    tokio::spawn(rm_link::calls(rm.clone(), calls_rx));

    // The driver's calls, until it says how the application ended.
    let (status, diagnostics, url) = loop {
        match transport::read_response::<DriverResponse>(&mut recv, &driver).await {
            Ok(DriverResponse::RmAsk { count, resource }) => {
                let _ = calls.send(RmCall::Ask(count, resource));
            }
            Ok(DriverResponse::RmRelease { container }) => {
                let _ = calls.send(RmCall::Release(container));
            }
            Ok(DriverResponse::RmFinish {
                status,
                diagnostics,
                tracking_url,
            }) => break (status, diagnostics, tracking_url),
            Ok(_) => {}
            Err(e) => {
                break (
                    FinalApplicationStatus::FAILED,
                    format!("the driver at {driver} went away: {e}"),
                    tracking_url.clone(),
                )
            }
        }
    };
    if !diagnostics.is_empty() {
        eprintln!("launcher: application ended: {diagnostics}");
    }
    with_retries("unregistration", || rm.finish(status, &diagnostics, &url)).await?;
    conn.close(0u32.into(), b"done");
    Ok(i32::from(status != FinalApplicationStatus::SUCCEEDED))
}

/// The RM's web proxy forwards only to the node it placed the AM on (a
/// container's word is not trusted elsewhere): the launcher relays the bytes
/// of connections to a port on its node to the driver's UI, and registers
/// that port with the UI's token path as the tracking URL.
async fn ui_relay(host: &str, driver_ui: &str) -> anyhow::Result<String> {
    let rest = driver_ui
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("the driver's UI is not at an http:// URL: {driver_ui}"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let listener = tokio::net::TcpListener::bind((host, 0)).await?;
    let url = format!("http://{host}:{}/{path}", listener.local_addr()?.port());
    let authority = authority.to_string();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = authority.clone();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    Ok(url)
}
