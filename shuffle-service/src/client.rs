//! The client executors use: register shuffle dirs, fetch blocks, remove a
//! shuffle. Bulk-tuned QUIC, connections cached per server address.

use crate::block::BlockId;
use common::codec::{self, FrameError};
use common::fetched::Block;
use common::protocol::{ErrorCode, ShuffleRequest, ShuffleResponse, WireError, ALPN_SHUFFLE};
use common::tls::TlsIdentity;
use common::transport::{self, Profile, TransportError};
use common::ApplicationId;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Parallel connections per server of [`ShuffleClient::new`]: quinn is
/// CPU-bound per connection, and two connections fetch about twice as fast
/// as one on loopback (the `shuffle_fetch` bench).
pub const DEFAULT_CONNECTIONS: usize = 2;

fn on(block: &Option<String>) -> String {
    match block {
        Some(b) => format!(" (fetching {b})"),
        None => String::new(),
    }
}

/// Every way a shuffle service call can fail; each names the server, and
/// fetch errors name the block.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The service refused or could not find this block (malformed or
    /// escaping id: `BadRequest`; missing: `UnknownFile`).
    #[error("shuffle service {server}: block {block}: {error}")]
    Block {
        server: String,
        block: String,
        error: WireError,
    },
    /// The service refused the request (wrong secret: `Unauthorized`,
    /// unregistered app or executor: `UnknownApplication`, ...).
    #[error("shuffle service {server}{}: {error}", on(.block))]
    Refused {
        server: String,
        block: Option<String>,
        error: WireError,
    },
    /// Could not reach the service, or the connection broke before an answer.
    #[error("shuffle service {server}{}: {source}", on(.block))]
    Transport {
        server: String,
        block: Option<String>,
        #[source]
        source: TransportError,
    },
    /// The stream broke while this block's bytes were arriving.
    #[error("shuffle service {server}: block {block}: {reason}")]
    Stream {
        server: String,
        block: String,
        reason: String,
    },
    #[error("shuffle service {server}: unexpected answer: {reason}")]
    Protocol { server: String, reason: String },
}

impl FetchError {
    pub fn server(&self) -> &str {
        match self {
            Self::Block { server, .. }
            | Self::Refused { server, .. }
            | Self::Transport { server, .. }
            | Self::Stream { server, .. }
            | Self::Protocol { server, .. } => server,
        }
    }

    /// The block the error is about (for fetches).
    pub fn block(&self) -> Option<&str> {
        match self {
            Self::Block { block, .. } | Self::Stream { block, .. } => Some(block),
            Self::Refused { block, .. } | Self::Transport { block, .. } => block.as_deref(),
            Self::Protocol { .. } => None,
        }
    }

    /// The service's error code, when it answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Block { error, .. } | Self::Refused { error, .. } => Some(error.code),
            Self::Transport { source, .. } => source.code(),
            _ => None,
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<quinn::Connection>>>;

struct Inner {
    /// One client endpoint (UDP socket) per parallel connection.
    endpoints: Vec<quinn::Endpoint>,
    conns: Mutex<HashMap<(String, usize), Slot>>,
}

/// A shuffle service client; cheap to clone, usable from any tokio task.
#[derive(Clone)]
pub struct ShuffleClient {
    inner: Arc<Inner>,
}

/// Whether an error means the cached connection is dead (worth one retry on a new one).
fn connection_lost(e: &FetchError) -> bool {
    matches!(
        e,
        FetchError::Transport {
            source: TransportError::Connection { .. },
            ..
        }
    )
}

fn lost(server: &str, block: Option<&String>, reason: impl ToString) -> FetchError {
    transport_error(
        server,
        block,
        TransportError::Connection {
            addr: server.to_string(),
            reason: reason.to_string(),
        },
    )
}

fn transport_error(server: &str, block: Option<&String>, source: TransportError) -> FetchError {
    FetchError::Transport {
        server: server.to_string(),
        block: block.cloned(),
        source,
    }
}

/// The connection ended: a silent server (timed out, not worth a new connection that
/// would wait as long again: the fetch fails at once) or a closed or reset one.
fn conn_error(server: &str, block: Option<&String>, e: &quinn::ConnectionError) -> FetchError {
    transport_error(server, block, TransportError::lost(server, e))
}

fn frame_error(server: &str, block: Option<&String>, e: FrameError) -> FetchError {
    match e {
        FrameError::Io(io) if transport::timed_out(&io) => {
            conn_error(server, block, &quinn::ConnectionError::TimedOut)
        }
        // The stream or connection died under us.
        FrameError::Io(_) | FrameError::Closed | FrameError::Truncated { .. } => {
            lost(server, block, e)
        }
        source => FetchError::Transport {
            server: server.to_string(),
            block: block.cloned(),
            source: TransportError::Frame {
                addr: server.to_string(),
                source,
            },
        },
    }
}

impl ShuffleClient {
    /// [`DEFAULT_CONNECTIONS`] connections per server.
    pub fn new(identity: &TlsIdentity) -> Result<Self, TransportError> {
        Self::with_connections(identity, DEFAULT_CONNECTIONS)
    }

    /// `connections` parallel connections per server (each on its own UDP
    /// socket); a fetch of several blocks is split across them.
    pub fn with_connections(
        identity: &TlsIdentity,
        connections: usize,
    ) -> Result<Self, TransportError> {
        crate::tune_allocator();
        let endpoints = (0..connections.max(1))
            .map(|_| transport::client_endpoint(identity, ALPN_SHUFFLE, Profile::Bulk))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                endpoints,
                conns: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn connections(&self) -> usize {
        self.inner.endpoints.len()
    }

    /// quinn's statistics of every live cached connection (MTU, losses, ...),
    /// by server address.
    pub fn connection_stats(&self) -> Vec<(String, quinn::ConnectionStats)> {
        let slots: Vec<(String, Slot)> = self
            .inner
            .conns
            .lock()
            .expect("connection cache")
            .iter()
            .map(|((server, _), slot)| (server.clone(), slot.clone()))
            .collect();
        slots
            .into_iter()
            .filter_map(|(server, slot)| {
                let guard = slot.try_lock().ok()?;
                let c = guard.as_ref()?;
                Some((server, c.stats()))
            })
            .collect()
    }

    fn slot(&self, server: &str, i: usize) -> Slot {
        self.inner
            .conns
            .lock()
            .expect("connection cache")
            .entry((server.to_string(), i))
            .or_default()
            .clone()
    }

    /// The cached live connection `i` to `server`, connecting if needed;
    /// `fresh` drops the cached one first.
    async fn connection(
        &self,
        server: &str,
        i: usize,
        fresh: bool,
    ) -> Result<quinn::Connection, TransportError> {
        let slot = self.slot(server, i);
        let mut guard = slot.lock().await;
        if fresh {
            *guard = None;
        }
        if let Some(c) = guard.as_ref() {
            if c.close_reason().is_none() {
                return Ok(c.clone());
            }
        }
        let c = transport::connect(&self.inner.endpoints[i], server).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// One request, one answer frame; retried once on a new connection when
    /// the cached one turns out dead.
    async fn call(
        &self,
        server: &str,
        req: &ShuffleRequest,
    ) -> Result<ShuffleResponse, FetchError> {
        let mut fresh = false;
        loop {
            let r = async {
                let conn = self
                    .connection(server, 0, fresh)
                    .await
                    .map_err(|source| transport_error(server, None, source))?;
                let (mut send, mut recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| conn_error(server, None, &e))?;
                codec::write_frame(&mut send, req)
                    .await
                    .map_err(|e| frame_error(server, None, e))?;
                let _ = send.finish();
                codec::read_frame::<_, ShuffleResponse>(&mut recv)
                    .await
                    .map_err(|e| frame_error(server, None, e))
            }
            .await;
            match r {
                Err(e) if !fresh && connection_lost(&e) => fresh = true,
                other => return other,
            }
        }
    }

    /// Registers an executor's shuffle dirs with the service at `server`
    /// (`host:port`), presenting the app's secret (its node manager registered
    /// the app there).
    pub async fn register(
        &self,
        server: &str,
        app: ApplicationId,
        executor_id: &str,
        secret: &str,
        dirs: &[impl AsRef<Path>],
    ) -> Result<(), FetchError> {
        let req = ShuffleRequest::RegisterExecutor {
            app_id: app,
            executor_id: executor_id.to_string(),
            secret: secret.to_string(),
            dirs: dirs
                .iter()
                .map(|d| d.as_ref().display().to_string())
                .collect(),
        };
        self.acknowledged(server, &req).await
    }

    /// Deletes shuffle `shuffle_id`'s files in every dir the app registered
    /// there; returns how many files went.
    pub async fn remove_shuffle(
        &self,
        server: &str,
        app: ApplicationId,
        secret: &str,
        shuffle_id: u32,
    ) -> Result<u64, FetchError> {
        let req = ShuffleRequest::RemoveShuffle {
            app_id: app,
            secret: secret.to_string(),
            shuffle_id,
        };
        self.removed(server, &req).await
    }

    /// Registers an app's secret with a (standalone) service; needs its admin
    /// token (the node manager does this).
    pub async fn register_app(
        &self,
        server: &str,
        app: ApplicationId,
        secret: &str,
        admin_token: &str,
    ) -> Result<(), FetchError> {
        let req = ShuffleRequest::RegisterApp {
            app_id: app,
            secret: secret.to_string(),
            admin_token: admin_token.to_string(),
        };
        self.acknowledged(server, &req).await
    }

    /// Tells a (standalone) service that the app ended; needs its admin token.
    pub async fn app_finished(
        &self,
        server: &str,
        app: ApplicationId,
        admin_token: &str,
    ) -> Result<u64, FetchError> {
        let req = ShuffleRequest::AppFinished {
            app_id: app,
            admin_token: admin_token.to_string(),
        };
        self.removed(server, &req).await
    }

    /// Sends a request answered with a plain `Ok`.
    async fn acknowledged(&self, server: &str, req: &ShuffleRequest) -> Result<(), FetchError> {
        match self.call(server, req).await? {
            ShuffleResponse::Ok => Ok(()),
            other => Err(unexpected(server, other)),
        }
    }

    /// Sends a request answered with how many files went.
    async fn removed(&self, server: &str, req: &ShuffleRequest) -> Result<u64, FetchError> {
        match self.call(server, req).await? {
            ShuffleResponse::Removed { files } => Ok(files),
            other => Err(unexpected(server, other)),
        }
    }

    /// [`fetch`](Self::fetch) with typed block ids.
    pub async fn fetch_ids(
        &self,
        server: &str,
        app: ApplicationId,
        executor_id: &str,
        secret: &str,
        blocks: &[BlockId],
    ) -> Result<Vec<Block>, FetchError> {
        let blocks: Vec<String> = blocks.iter().map(BlockId::to_string).collect();
        self.fetch(server, app, executor_id, secret, &blocks).await
    }

    /// Fetches blocks (`shuffle_<s>_<m>_<r>`) that executor `executor_id`
    /// wrote, from the service at `server`; returns their bytes in order, each
    /// block as the chunks quinn received (not copied into one buffer).
    /// With several connections the blocks are split across them.
    pub async fn fetch(
        &self,
        server: &str,
        app: ApplicationId,
        executor_id: &str,
        secret: &str,
        blocks: &[String],
    ) -> Result<Vec<Block>, FetchError> {
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.connections().min(blocks.len());
        // Dealt round-robin, so a run of large blocks is shared out. Each part runs
        // as a runtime task, even a lone one, so the blocks are assembled on the
        // runtime's workers beside quinn's drivers, not on the thread that awaits
        // (a `block_on` caller, like the executor's task threads). Awaited in place on
        // the bench's main thread it cost a third more CPU per byte (1.33 against 0.87
        // CPU-s/GB, `shuffle_fetch` with 1 connection), mostly page faults: glibc's
        // main arena gave each fetch's freed blocks back to the kernel.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let group: Vec<String> = blocks.iter().skip(i).step_by(n).cloned().collect();
            let (me, server, exec, secret) = (
                self.clone(),
                server.to_string(),
                executor_id.to_string(),
                secret.to_string(),
            );
            tasks.spawn(
                async move { (i, me.fetch_on(i, &server, app, &exec, &secret, group).await) },
            );
        }
        let mut parts: Vec<Option<Result<Vec<Block>, FetchError>>> = (0..n).map(|_| None).collect();
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok((i, r)) => parts[i] = Some(r),
                Err(e) => {
                    return Err(FetchError::Protocol {
                        server: server.to_string(),
                        reason: format!("fetch task failed: {e}"),
                    })
                }
            }
        }
        let mut groups = Vec::with_capacity(n);
        for p in parts.into_iter().flatten() {
            groups.push(p?.into_iter());
        }
        let mut out = Vec::with_capacity(blocks.len());
        for k in 0..blocks.len() {
            match groups[k % n].next() {
                Some(b) => out.push(b),
                None => {
                    return Err(FetchError::Protocol {
                        server: server.to_string(),
                        reason: "a fetch returned fewer blocks than asked".into(),
                    })
                }
            }
        }
        Ok(out)
    }

    async fn fetch_on(
        &self,
        i: usize,
        server: &str,
        app: ApplicationId,
        executor_id: &str,
        secret: &str,
        blocks: Vec<String>,
    ) -> Result<Vec<Block>, FetchError> {
        let first = blocks.first().cloned();
        let req = ShuffleRequest::FetchBlocks {
            app_id: app,
            secret: secret.to_string(),
            executor_id: executor_id.to_string(),
            blocks,
        };
        let mut fresh = false;
        let (sizes, mut recv) = loop {
            let r = async {
                let conn = self
                    .connection(server, i, fresh)
                    .await
                    .map_err(|source| transport_error(server, first.as_ref(), source))?;
                let (mut send, mut recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| conn_error(server, first.as_ref(), &e))?;
                codec::write_frame(&mut send, &req)
                    .await
                    .map_err(|e| frame_error(server, first.as_ref(), e))?;
                let _ = send.finish();
                let head = codec::read_frame::<_, ShuffleResponse>(&mut recv)
                    .await
                    .map_err(|e| frame_error(server, first.as_ref(), e))?;
                Ok::<_, FetchError>((head, recv))
            }
            .await;
            let (head, recv) = match r {
                Err(e) if !fresh && connection_lost(&e) => {
                    fresh = true;
                    continue;
                }
                other => other?,
            };
            match head {
                ShuffleResponse::Blocks { sizes } => break (sizes, recv),
                ShuffleResponse::BlockError { block, error } => {
                    return Err(FetchError::Block {
                        server: server.to_string(),
                        block,
                        error,
                    })
                }
                ShuffleResponse::Error(error) => {
                    return Err(FetchError::Refused {
                        server: server.to_string(),
                        block: first,
                        error,
                    })
                }
                other => return Err(unexpected(server, other)),
            }
        };
        let ShuffleRequest::FetchBlocks { blocks, .. } = req else {
            unreachable!("built above")
        };
        if sizes.len() != blocks.len() {
            return Err(FetchError::Protocol {
                server: server.to_string(),
                reason: format!("{} sizes for {} blocks", sizes.len(), blocks.len()),
            });
        }
        let mut out = Vec::with_capacity(blocks.len());
        for (block, size) in blocks.iter().zip(sizes) {
            let mut data = Block::new();
            while (data.len() as u64) < size {
                let want = (size - data.len() as u64).min(usize::MAX as u64) as usize;
                match recv.read_chunk(want, true).await {
                    // Kept as quinn's chunk, not copied: the copy was 12% of a fetch's CPU.
                    Ok(Some(chunk)) => data.push(chunk.bytes),
                    Ok(None) => {
                        return Err(FetchError::Stream {
                            server: server.to_string(),
                            block: block.clone(),
                            reason: format!("stream ended after {} of {size} bytes", data.len()),
                        })
                    }
                    Err(e) => {
                        return Err(FetchError::Stream {
                            server: server.to_string(),
                            block: block.clone(),
                            reason: format!("after {} of {size} bytes: {e}", data.len()),
                        })
                    }
                }
            }
            out.push(data);
        }
        Ok(out)
    }
}

fn unexpected(server: &str, resp: ShuffleResponse) -> FetchError {
    match resp {
        ShuffleResponse::Error(error) => FetchError::Refused {
            server: server.to_string(),
            block: None,
            error,
        },
        ShuffleResponse::BlockError { block, error } => FetchError::Block {
            server: server.to_string(),
            block,
            error,
        },
        other => FetchError::Protocol {
            server: server.to_string(),
            reason: format!("{other:?}"),
        },
    }
}
