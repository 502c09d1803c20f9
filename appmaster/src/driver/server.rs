//! `spindle-driver/1`: executors register (and keep a stream open on which the
//! driver pushes tasks) and report task results.

use super::msg::Msg;
use am_core::driver::Registration;
use am_core::ids::{ExecutorId, TaskId};
use common::protocol::{DriverRequest, DriverResponse, ErrorCode, RelayedEvent, WireError};
use common::transport::{self, Incoming, Service};
use common::AppAttemptId;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

pub(crate) struct DriverService {
    /// The app secret: known at start in cluster mode, from the launcher in
    /// client mode (executors come after it).
    secret: OnceLock<String>,
    tx: mpsc::UnboundedSender<Msg>,
    /// Client mode: the launcher's token and where its registration goes.
    launcher: Option<LauncherGate>,
}

/// What a client-mode driver expects of its launcher.
pub(crate) struct LauncherGate {
    pub(crate) token: String,
    /// The launcher's registration, once: its details and the channel the
    /// driver writes its RM calls to.
    pub(crate) hello: Mutex<Option<oneshot::Sender<LauncherHello>>>,
    /// The tracking URL the launcher registers with.
    pub(crate) tracking_url: OnceLock<String>,
}

/// A launcher's registration, as the client-mode driver gets it.
pub(crate) struct LauncherHello {
    pub(crate) app_secret: String,
    pub(crate) attempt: AppAttemptId,
    pub(crate) allocated_wall_ms: u64,
    pub(crate) push: mpsc::UnboundedSender<DriverResponse>,
}

/// Writes `first`, then what `frames` brings until a frame `is_last` says
/// ends the stream (or the peer is gone), and finishes the stream: the push
/// side of a registration (tasks to an executor, RM calls to a launcher).
async fn push_frames(
    send: &mut quinn::SendStream,
    peer: &str,
    first: DriverResponse,
    frames: &mut mpsc::UnboundedReceiver<DriverResponse>,
    is_last: impl Fn(&DriverResponse) -> bool,
) {
    if transport::write(send, peer, &first).await.is_ok() {
        while let Some(m) = frames.recv().await {
            if transport::write(send, peer, &m).await.is_err() || is_last(&m) {
                break;
            }
        }
    }
    let _ = send.finish();
}

/// Constant-time comparison: secrets and tokens are credentials.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && diff == 0
}

impl DriverService {
    pub(crate) fn new(secret: Option<String>, tx: mpsc::UnboundedSender<Msg>) -> Self {
        let cell = OnceLock::new();
        if let Some(s) = secret {
            let _ = cell.set(s);
        }
        Self {
            secret: cell,
            tx,
            launcher: None,
        }
    }

    /// Client mode: no secret until `gate`'s launcher registers.
    pub(crate) fn for_launcher(gate: LauncherGate, tx: mpsc::UnboundedSender<Msg>) -> Self {
        Self {
            secret: OnceLock::new(),
            tx,
            launcher: Some(gate),
        }
    }

    /// Client mode: the tracking URL the launcher registers with.
    pub(crate) fn set_tracking_url(&self, url: &str) {
        if let Some(g) = &self.launcher {
            let _ = g.tracking_url.set(url.to_owned());
        }
    }

    fn check(&self, secret: &str) -> Result<(), WireError> {
        match self.secret.get() {
            Some(s) if same_secret(secret, s) => Ok(()),
            _ => Err(WireError::new(
                ErrorCode::Unauthorized,
                "wrong application secret",
            )),
        }
    }

    fn check_launcher(&self, token: &str) -> Result<&LauncherGate, WireError> {
        match &self.launcher {
            Some(g) if same_secret(token, &g.token) => Ok(g),
            _ => Err(WireError::new(
                ErrorCode::Unauthorized,
                "not this driver's launcher (wrong token)",
            )),
        }
    }

    /// A launcher's registration: hands its details to the waiting driver and
    /// writes the driver's RM calls on the stream until the last.
    async fn launcher_registered(
        &self,
        mut inc: Incoming<DriverRequest>,
        gate: &LauncherGate,
        hello: LauncherHello,
        mut calls: mpsc::UnboundedReceiver<DriverResponse>,
    ) {
        let secret = hello.app_secret.clone();
        let waiting = gate.hello.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(waiting) = waiting else {
            let e = WireError::new(ErrorCode::InvalidState, "a launcher registered already");
            return inc.reply(&DriverResponse::Error(e)).await;
        };
        let _ = self.secret.set(secret);
        let _ = waiting.send(hello);
        let tracking_url = gate.tracking_url.get().cloned().unwrap_or_default();
        let accepted = DriverResponse::LauncherAccepted { tracking_url };
        push_frames(&mut inc.send, "launcher", accepted, &mut calls, |m| {
            matches!(m, DriverResponse::RmFinish { .. })
        })
        .await;
        // Until the launcher read the last frame and closed.
        let _ = inc.send.stopped().await;
    }
}

impl Service for DriverService {
    type Req = DriverRequest;
    type Resp = DriverResponse;

    async fn handle(self: Arc<Self>, mut inc: Incoming<DriverRequest>) {
        // Every request carries the application secret or the launcher's token:
        // check it first.
        let checked = match &inc.req {
            DriverRequest::RegisterExecutor { secret, .. }
            | DriverRequest::StatusUpdate { secret, .. }
            | DriverRequest::ShuffleMigrated { secret, .. } => self.check(secret),
            DriverRequest::LauncherRegister { token, .. }
            | DriverRequest::LauncherEvent { token, .. } => self.check_launcher(token).map(|_| ()),
        };
        if let Err(e) = checked {
            return inc.reply(&DriverResponse::Error(e)).await;
        }
        match inc.req.clone() {
            DriverRequest::LauncherRegister {
                token,
                app_secret,
                attempt,
                allocated_wall_ms,
                ..
            } => {
                let Ok(gate) = self.check_launcher(&token) else {
                    return;
                };
                let (push, calls) = mpsc::unbounded_channel();
                let hello = LauncherHello {
                    app_secret,
                    attempt,
                    allocated_wall_ms,
                    push,
                };
                self.launcher_registered(inc, gate, hello, calls).await;
            }
            DriverRequest::LauncherEvent { event, .. } => {
                let msg = match event {
                    RelayedEvent::Rm(ev) => Msg::Rm(ev),
                    RelayedEvent::Resynced => Msg::RmResynced,
                    RelayedEvent::Closed => Msg::RmClosed,
                };
                let _ = self.tx.send(msg);
                inc.reply(&DriverResponse::Ok).await;
            }
            DriverRequest::RegisterExecutor {
                executor_id,
                host,
                cores,
                shuffle_server,
                shuffle_dir,
                log_urls,
                ..
            } => {
                let (push, mut pushed) = mpsc::unbounded_channel();
                let (reply, answer) = oneshot::channel();
                let executor = ExecutorId::from(executor_id);
                let msg = Msg::Register {
                    executor: executor.clone(),
                    registration: Registration {
                        host,
                        cores,
                        shuffle_server,
                        shuffle_dir,
                        log_urls,
                    },
                    push,
                    reply,
                };
                if self.tx.send(msg).is_err() {
                    return;
                }
                match answer.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return inc
                            .reply(&DriverResponse::Error(WireError::new(
                                ErrorCode::BadRequest,
                                e,
                            )))
                            .await
                    }
                    Err(_) => return,
                }
                push_frames(
                    &mut inc.send,
                    "executor",
                    DriverResponse::Ok,
                    &mut pushed,
                    |m| matches!(m, DriverResponse::Shutdown { .. }),
                )
                .await;
                let _ = self.tx.send(Msg::Disconnected { executor });
            }
            DriverRequest::StatusUpdate {
                executor_id,
                task_id,
                result,
                ..
            } => {
                let _ = self.tx.send(Msg::Status {
                    executor: ExecutorId::from(executor_id),
                    task_id: TaskId(task_id),
                    result,
                });
                inc.reply(&DriverResponse::Ok).await;
            }
            DriverRequest::ShuffleMigrated {
                executor_id,
                source,
                result,
                ..
            } => {
                let _ = self.tx.send(Msg::ShuffleMigrated {
                    reporter: ExecutorId::from(executor_id),
                    source: ExecutorId::from(source),
                    result,
                });
                inc.reply(&DriverResponse::Ok).await;
            }
        }
    }
}
