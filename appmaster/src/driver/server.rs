//! `spindle-driver/1`: executors register (and keep a stream open on which the
//! driver pushes tasks) and report task results.

use super::msg::Msg;
use am_core::driver::Registration;
use am_core::ids::{ExecutorId, TaskId};
use common::protocol::{DriverRequest, DriverResponse, ErrorCode, WireError};
use common::transport::{self, Incoming, Service};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub(crate) struct DriverService {
    secret: String,
    tx: mpsc::UnboundedSender<Msg>,
}

impl DriverService {
    pub(crate) fn new(secret: String, tx: mpsc::UnboundedSender<Msg>) -> Self {
        Self { secret, tx }
    }

    fn check(&self, secret: &str) -> Result<(), WireError> {
        // Constant-time comparison: the secret is the executors' credential.
        let (a, b) = (secret.as_bytes(), self.secret.as_bytes());
        let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        if a.len() == b.len() && diff == 0 {
            Ok(())
        } else {
            Err(WireError::new(
                ErrorCode::Unauthorized,
                "wrong application secret",
            ))
        }
    }
}

impl Service for DriverService {
    type Req = DriverRequest;
    type Resp = DriverResponse;

    async fn handle(self: Arc<Self>, mut inc: Incoming<DriverRequest>) {
        // Every request carries the application secret: check it first.
        let (DriverRequest::RegisterExecutor { secret, .. }
        | DriverRequest::StatusUpdate { secret, .. }
        | DriverRequest::ShuffleMigrated { secret, .. }) = &inc.req;
        if let Err(e) = self.check(secret) {
            return inc.reply(&DriverResponse::Error(e)).await;
        }
        match inc.req.clone() {
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
                if transport::write(&mut inc.send, "executor", &DriverResponse::Ok)
                    .await
                    .is_ok()
                {
                    while let Some(m) = pushed.recv().await {
                        let last = matches!(m, DriverResponse::Shutdown { .. });
                        if transport::write(&mut inc.send, "executor", &m)
                            .await
                            .is_err()
                            || last
                        {
                            break;
                        }
                    }
                }
                let _ = inc.send.finish();
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
