//! The shuffle server on `spindle-shuffle/1`: one per node (hosted by the
//! NM, or the standalone binary), or one per executor when the service is
//! off (`spark.shuffle.service.enabled=false`).
//!
//! Blocks are streamed: the header frame carries every block's size, then
//! the raw bytes follow on the same stream, read from the files in large
//! chunks by a blocking thread and handed to quinn without copying.

use crate::block::BlockId;
use crate::layout::{self, MapOutput};
use crate::registry::{Registry, StoreError};
use bytes::Bytes;
use common::codec;
use common::protocol::{ErrorCode, ShuffleRequest, ShuffleResponse, WireError, ALPN_SHUFFLE};
use common::tls::TlsIdentity;
use common::transport::{self, Incoming, Profile, Service, TransportError};
use common::ApplicationId;
use std::collections::hash_map::{Entry, HashMap};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Bytes read from disk and handed to quinn at a time.
const CHUNK: usize = 1 << 20;
/// Idle read buffers kept for reuse (so at most this many MiB stay allocated).
const POOL_IDLE: usize = 32;
/// Chunks read ahead of the network.
const READ_AHEAD: usize = 4;
/// Dirs one executor may register.
const MAX_DIRS: usize = 64;
/// Longest dir path accepted.
const MAX_PATH: usize = 4096;
/// Stream reset code when a block cannot be read after its header was sent.
const RESET_READ_FAILED: u32 = 1;

/// How a shuffle server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `host:port` to bind; port 0 picks a free port (see [`Handle::addr`]).
    pub address: String,
    /// The TLS identity served (node certificate, or an executor's container certificate).
    pub identity: TlsIdentity,
    /// Registered dirs must lie inside one of these (the NM's local dir).
    pub allowed_roots: Vec<PathBuf>,
    /// Where `shuffle.redb` keeps registrations across restarts; `None`: in memory.
    pub state_dir: Option<PathBuf>,
    /// Token that `RegisterApp` and `AppFinished` must present; `None` refuses
    /// them over the wire (the in-process owner calls [`Handle::register_app`]
    /// and [`Handle::app_finished`]).
    pub admin_token: Option<String>,
}

impl ServerConfig {
    /// An in-memory server on `address` serving dirs under `allowed_roots`.
    pub fn new(
        address: impl Into<String>,
        identity: TlsIdentity,
        allowed_roots: Vec<PathBuf>,
    ) -> Self {
        Self {
            address: address.into(),
            identity,
            allowed_roots,
            state_dir: None,
            admin_token: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("allowed root {path}: {reason}")]
    Root { path: PathBuf, reason: String },
    #[error("{0}")]
    Config(String),
}

/// A running shuffle server.
pub struct Handle {
    addr: SocketAddr,
    endpoint: quinn::Endpoint,
    server: Arc<Server>,
    task: tokio::task::JoinHandle<()>,
}

impl Handle {
    /// The bound address (the real port when configured with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers an app's secret directly (the NM hosting the service does, from
    /// a container token it verified, before it starts the app's containers).
    /// Again with the same secret: a no-op; with another: refused.
    pub async fn register_app(&self, app: ApplicationId, secret: &str) -> Result<(), WireError> {
        self.server
            .clone()
            .register_app(app, secret.to_string())
            .await
    }

    /// Registers an executor's dirs directly (an executor serving its own
    /// blocks): the owner vouches for the app, whose secret this sets if it is
    /// not registered yet.
    pub async fn register_executor(
        &self,
        app: ApplicationId,
        executor_id: &str,
        secret: &str,
        dirs: &[impl AsRef<Path>],
    ) -> Result<(), WireError> {
        let dirs = dirs
            .iter()
            .map(|d| d.as_ref().display().to_string())
            .collect();
        self.register_app(app, secret).await?;
        self.server
            .clone()
            .register(app, executor_id.to_string(), secret.to_string(), dirs)
            .await
    }

    /// The app ended: deletes the shuffle files in every dir it registered
    /// and forgets it. Returns how many files went.
    pub async fn app_finished(&self, app: ApplicationId) -> Result<u64, WireError> {
        self.server.clone().app_finished(app).await
    }

    /// Deletes one shuffle's files in every dir the app registered.
    pub async fn remove_shuffle(
        &self,
        app: ApplicationId,
        shuffle_id: u32,
    ) -> Result<u64, WireError> {
        self.server.clone().remove_shuffle(app, shuffle_id).await
    }

    /// `listening on ADDR; N application(s), M executor(s) registered`.
    pub fn status_line(&self) -> String {
        let (apps, executors) = self.server.registry.counts();
        format!(
            "listening on {}; {apps} application(s), {executors} executor(s) registered",
            self.addr
        )
    }

    /// Stops serving, closes connections and the state store (bounded).
    pub async fn shutdown(&self) {
        self.task.abort();
        self.endpoint.close(0u32.into(), b"shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        self.server.registry.close();
    }
}

/// Starts a server. Must be called inside a tokio runtime.
pub async fn start(config: ServerConfig) -> Result<Handle, ServerError> {
    crate::tune_allocator();
    let roots = config
        .allowed_roots
        .iter()
        .map(|r| {
            std::path::absolute(r).map_err(|e| ServerError::Root {
                path: r.clone(),
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let registry = {
        let dir = config.state_dir.clone();
        tokio::task::spawn_blocking(move || Registry::open(dir.as_deref()))
            .await
            .map_err(|e| StoreError {
                path: config.state_dir.clone().unwrap_or_default(),
                reason: e.to_string(),
            })??
    };
    let (endpoint, addr) = transport::listen(
        &config.address,
        &config.identity,
        ALPN_SHUFFLE,
        Profile::Bulk,
    )
    .await?;
    let server = Arc::new(Server {
        registry,
        pool: BufferPool::new(),
        roots,
        admin_token: config.admin_token.filter(|t| !t.is_empty()),
    });
    let task = tokio::spawn(transport::serve(endpoint.clone(), server.clone()));
    tracing::info!(%addr, "shuffle service listening");
    Ok(Handle {
        addr,
        endpoint,
        server,
        task,
    })
}

struct Server {
    registry: Registry,
    pool: Arc<BufferPool>,
    /// Absolute; canonicalized at each registration (they may appear later).
    roots: Vec<PathBuf>,
    admin_token: Option<String>,
}

fn wire(code: ErrorCode, msg: impl Into<String>) -> WireError {
    WireError::new(code, msg)
}

fn joined<T>(r: Result<Result<T, WireError>, tokio::task::JoinError>) -> Result<T, WireError> {
    r.unwrap_or_else(|e| Err(wire(ErrorCode::Internal, format!("worker failed: {e}"))))
}

/// Whether `dir` still resolves to itself (it was canonical when registered):
/// a dir swapped for a symlink since is not read from or deleted in.
fn still_canonical(dir: &Path) -> bool {
    std::fs::canonicalize(dir).is_ok_and(|c| c == dir)
}

impl Server {
    /// Checks the dirs an executor registers: absolute, existing, inside an
    /// allowed root, and inside the app's own directories (a component of
    /// the resolved path is the application id, as in the NM's
    /// `usercache/<user>/appcache/<app>/...`).
    fn validate_dirs(
        &self,
        app: ApplicationId,
        dirs: &[String],
    ) -> Result<Vec<PathBuf>, WireError> {
        if dirs.is_empty() {
            return Err(wire(ErrorCode::BadRequest, "no shuffle dirs to register"));
        }
        if dirs.len() > MAX_DIRS {
            return Err(wire(
                ErrorCode::BadRequest,
                format!("{} dirs; at most {MAX_DIRS} per executor", dirs.len()),
            ));
        }
        let roots: Vec<PathBuf> = self
            .roots
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .collect();
        let app_name = app.to_string();
        let mut out = Vec::with_capacity(dirs.len());
        for d in dirs {
            if d.len() > MAX_PATH || d.contains('\0') {
                return Err(wire(
                    ErrorCode::BadRequest,
                    "a dir path is too long or holds NUL",
                ));
            }
            let p = Path::new(d);
            if !p.is_absolute() {
                return Err(wire(
                    ErrorCode::BadRequest,
                    format!("dir {d:?} is not an absolute path"),
                ));
            }
            let canonical = std::fs::canonicalize(p)
                .map_err(|e| wire(ErrorCode::BadRequest, format!("dir {d:?}: {e}")))?;
            if !canonical.is_dir() {
                return Err(wire(
                    ErrorCode::BadRequest,
                    format!("dir {d:?} is not a directory"),
                ));
            }
            if !roots.iter().any(|r| canonical.starts_with(r)) {
                return Err(wire(
                    ErrorCode::Unauthorized,
                    format!(
                        "dir {d:?} is outside this shuffle service's allowed roots ({})",
                        self.roots
                            .iter()
                            .map(|r| r.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !canonical
                .components()
                .any(|c| matches!(c, Component::Normal(n) if n == app_name.as_str()))
            {
                return Err(wire(
                    ErrorCode::Unauthorized,
                    format!("dir {d:?} is not inside {app_name}'s directories"),
                ));
            }
            out.push(canonical);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn register(
        self: Arc<Self>,
        app: ApplicationId,
        executor_id: String,
        secret: String,
        dirs: Vec<String>,
    ) -> Result<(), WireError> {
        if executor_id.is_empty() || executor_id.len() > 256 {
            return Err(wire(
                ErrorCode::BadRequest,
                "executor id must be 1 to 256 bytes",
            ));
        }
        // Refuse an unregistered app or a wrong secret before touching the file system.
        self.registry.authorize_registration(app, &secret)?;
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let dirs = me.validate_dirs(app, &dirs)?;
            me.registry.register(app, &executor_id, &secret, dirs)?;
            tracing::info!(app_id = %app, executor_id, "executor registered");
            Ok(())
        })
        .await;
        joined(r)
    }

    async fn register_app(
        self: Arc<Self>,
        app: ApplicationId,
        secret: String,
    ) -> Result<(), WireError> {
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            if me.registry.register_app(app, &secret)? {
                tracing::info!(app_id = %app, "application registered");
            }
            Ok(())
        })
        .await;
        joined(r)
    }

    async fn app_finished(self: Arc<Self>, app: ApplicationId) -> Result<u64, WireError> {
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut files = 0;
            for dir in me.registry.app_dirs(app) {
                if !still_canonical(&dir) {
                    // Gone already (the NM removed the app's directories) is fine.
                    if dir.symlink_metadata().is_ok() {
                        tracing::warn!(app_id = %app, dir = %dir.display(), "dir changed since registration; not cleaned");
                    }
                    continue;
                }
                match layout::remove_all_shuffles(&dir) {
                    Ok(n) => files += n,
                    Err(e) => tracing::warn!(app_id = %app, error = %e, "cleaning shuffle files"),
                }
            }
            let known = me.registry.forget(app)?;
            if known {
                tracing::info!(app_id = %app, files, "application finished: shuffle files removed");
            }
            Ok(files)
        })
        .await;
        joined(r)
    }

    async fn remove_shuffle(
        self: Arc<Self>,
        app: ApplicationId,
        shuffle_id: u32,
    ) -> Result<u64, WireError> {
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut files = 0;
            for dir in me.registry.app_dirs(app) {
                if !still_canonical(&dir) {
                    continue;
                }
                files += layout::remove_shuffle(&dir, shuffle_id)
                    .map_err(|e| wire(ErrorCode::Internal, e.to_string()))?;
            }
            tracing::debug!(app_id = %app, shuffle_id, files, "shuffle removed");
            Ok(files)
        })
        .await;
        joined(r)
    }

    async fn fetch(
        self: Arc<Self>,
        mut inc: Incoming<()>,
        app: ApplicationId,
        secret: String,
        executor_id: String,
        blocks: Vec<String>,
    ) {
        let dirs = match self.registry.executor_dirs(app, &secret, &executor_id) {
            Ok(d) => d,
            Err(e) => return inc.reply(&ShuffleResponse::Error(e)).await,
        };
        let mut ids = Vec::with_capacity(blocks.len());
        for b in &blocks {
            match b.parse::<BlockId>() {
                Ok(id) => ids.push(id),
                Err(e) => {
                    tracing::warn!(app_id = %app, remote = %inc.remote, error = %e, "block id refused");
                    return inc
                        .reply(&ShuffleResponse::BlockError {
                            block: b.clone(),
                            error: wire(ErrorCode::BadRequest, e.to_string()),
                        })
                        .await;
                }
            }
        }
        let exec = executor_id.clone();
        let plan = tokio::task::spawn_blocking(move || resolve(app, &exec, &dirs, &ids)).await;
        let plan = match plan {
            Ok(Ok(p)) => p,
            Ok(Err((i, error))) => {
                return inc
                    .reply(&ShuffleResponse::BlockError {
                        block: blocks[i].clone(),
                        error,
                    })
                    .await
            }
            Err(e) => {
                return inc
                    .reply(&ShuffleResponse::Error(wire(
                        ErrorCode::Internal,
                        e.to_string(),
                    )))
                    .await
            }
        };
        let header = ShuffleResponse::Blocks {
            sizes: plan.iter().map(|s| s.len).collect(),
        };
        if let Err(e) = codec::write_frame(&mut inc.send, &header).await {
            tracing::debug!(remote = %inc.remote, error = %e, "fetch header not delivered");
            return;
        }
        stream_blocks(&mut inc.send, plan, &blocks, inc.remote, self.pool.clone()).await;
        let _ = inc.send.finish();
    }

    /// Checks the admin token of a `what` (`RegisterApp`, `AppFinished`) request; a
    /// refusal is logged and is the answer.
    fn admin(
        &self,
        token: &str,
        what: &str,
        app_id: ApplicationId,
        remote: SocketAddr,
    ) -> Result<(), ShuffleResponse> {
        self.check_admin(token).map_err(|e| {
            tracing::warn!(app_id = %app_id, remote = %remote, "{what} refused: {}", e.message);
            ShuffleResponse::Error(e)
        })
    }

    fn check_admin(&self, token: &str) -> Result<(), WireError> {
        match &self.admin_token {
            None => Err(wire(
                ErrorCode::Unauthorized,
                "this shuffle service takes RegisterApp and AppFinished only from its node manager in-process",
            )),
            Some(t) if common::token::same_bytes(t.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err(wire(ErrorCode::Unauthorized, "wrong admin token")),
        }
    }
}

/// `e` as the answer to a refused `what`, logged.
fn refused(app_id: ApplicationId, remote: SocketAddr, what: &str, e: WireError) -> ShuffleResponse {
    tracing::warn!(app_id = %app_id, remote = %remote, error = %e, "{what} refused");
    ShuffleResponse::Error(e)
}

/// One block's bytes in an open data file.
struct Segment {
    file: Arc<std::fs::File>,
    offset: u64,
    len: u64,
}

/// A map output opened for one request; its blocks share the data file.
struct Opened {
    output: MapOutput,
    file: Arc<std::fs::File>,
}

/// Finds `id`'s map output in the first of `dirs` that has it.
fn open_map_output(dirs: &[&PathBuf], id: &BlockId) -> Result<Option<Opened>, WireError> {
    for dir in dirs {
        match MapOutput::open(dir, id.shuffle_id, id.map_id) {
            Ok(output) => {
                let file = output
                    .data
                    .try_clone()
                    .map_err(|e| wire(ErrorCode::Internal, format!("block {id}: {e}")))?;
                return Ok(Some(Opened {
                    output,
                    file: Arc::new(file),
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(wire(
                    ErrorCode::InvalidState,
                    format!("block {id}: unreadable map output: {e}"),
                ))
            }
        }
    }
    Ok(None)
}

/// Finds every block's file range; the error carries the index of the first
/// missing or unreadable block.
fn resolve(
    app: ApplicationId,
    executor_id: &str,
    dirs: &[PathBuf],
    ids: &[BlockId],
) -> Result<Vec<Segment>, (usize, WireError)> {
    let dirs: Vec<&PathBuf> = dirs.iter().filter(|d| still_canonical(d)).collect();
    let mut outputs: HashMap<(u32, u64), Opened> = HashMap::new();
    let mut plan = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let key = (id.shuffle_id, id.map_id);
        let opened = match outputs.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let Some(o) = open_map_output(&dirs, id).map_err(|e| (i, e))? else {
                    return Err((
                        i,
                        wire(
                            ErrorCode::UnknownFile,
                            format!(
                                "block {id} not found: no map output {} in the dirs executor {executor_id:?} of {app} registered",
                                layout::data_file_name(id.shuffle_id, id.map_id)
                            ),
                        ),
                    ));
                };
                v.insert(o)
            }
        };
        let Opened { output, file } = &*opened;
        let Some((offset, len)) = output.range(id.reduce_id) else {
            return Err((
                i,
                wire(
                    ErrorCode::UnknownFile,
                    format!(
                        "block {id} not found: map {} of shuffle {} has {} reduce partitions",
                        id.map_id,
                        id.shuffle_id,
                        output.num_partitions()
                    ),
                ),
            ));
        };
        plan.push(Segment {
            file: file.clone(),
            offset,
            len,
        });
    }
    Ok(plan)
}

/// Read buffers handed to quinn come back here when quinn has sent (and the
/// peer acknowledged) their bytes, so steady streaming reuses warm memory
/// instead of faulting in fresh pages for every chunk.
struct BufferPool {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            free: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .expect("pool lock")
            .pop()
            .unwrap_or_else(|| vec![0u8; CHUNK])
    }

    fn put(&self, buf: Vec<u8>) {
        let mut free = self.free.lock().expect("pool lock");
        if free.len() < POOL_IDLE {
            free.push(buf);
        }
    }
}

/// A filled pool buffer as quinn holds it; goes back to the pool on drop.
struct Chunk {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

/// Reads the segments in a blocking thread into pooled [`CHUNK`]-byte
/// buffers (small blocks share one) and writes them to `send` without copying.
async fn stream_blocks(
    send: &mut quinn::SendStream,
    plan: Vec<Segment>,
    blocks: &[String],
    remote: SocketAddr,
    pool: Arc<BufferPool>,
) {
    if plan.iter().all(|s| s.len == 0) {
        return;
    }
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, (usize, std::io::Error)>>(READ_AHEAD);
    let reader = tokio::task::spawn_blocking(move || {
        let mut cur: Option<(Vec<u8>, usize)> = None;
        let ship = |buf: Vec<u8>, len: usize| {
            let chunk = Chunk {
                buf,
                len,
                pool: pool.clone(),
            };
            tx.blocking_send(Ok(Bytes::from_owner(chunk))).is_ok()
        };
        for (i, seg) in plan.iter().enumerate() {
            let mut pos = seg.offset;
            let end = seg.offset + seg.len;
            while pos < end {
                let (buf, filled) = cur.get_or_insert_with(|| (pool.take(), 0));
                let n = (buf.len() - *filled).min((end - pos) as usize);
                if let Err(e) = seg.file.read_exact_at(&mut buf[*filled..*filled + n], pos) {
                    let _ = tx.blocking_send(Err((i, e)));
                    return;
                }
                *filled += n;
                pos += n as u64;
                if *filled == buf.len() {
                    let (buf, len) = cur.take().expect("just filled");
                    if !ship(buf, len) {
                        return;
                    }
                }
            }
        }
        if let Some((buf, len)) = cur.take() {
            ship(buf, len);
        }
    });
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Ok(bytes) => {
                if let Err(e) = send.write_chunk(bytes).await {
                    tracing::debug!(%remote, error = %e, "fetch stream closed by the reader");
                    break;
                }
            }
            Err((i, e)) => {
                tracing::warn!(%remote, block = %blocks[i], error = %e, "block unreadable after its header was sent");
                let _ = send.reset(RESET_READ_FAILED.into());
                break;
            }
        }
    }
    drop(rx);
    let _ = reader.await;
}

impl Service for Server {
    type Req = ShuffleRequest;
    type Resp = ShuffleResponse;

    async fn handle(self: Arc<Self>, inc: Incoming<ShuffleRequest>) {
        let Incoming {
            req,
            send,
            recv,
            remote,
            peer,
        } = inc;
        let inc = Incoming {
            req: (),
            send,
            recv,
            remote,
            peer,
        };
        let resp = match req {
            ShuffleRequest::FetchBlocks {
                app_id,
                secret,
                executor_id,
                blocks,
            } => return self.fetch(inc, app_id, secret, executor_id, blocks).await,
            ShuffleRequest::RegisterExecutor {
                app_id,
                executor_id,
                secret,
                dirs,
            } => match self
                .clone()
                .register(app_id, executor_id, secret, dirs)
                .await
            {
                Ok(()) => ShuffleResponse::Ok,
                Err(e) => refused(app_id, inc.remote, "registration", e),
            },
            ShuffleRequest::RemoveShuffle {
                app_id,
                secret,
                shuffle_id,
            } => match self.registry.authorize(app_id, &secret) {
                Err(e) => ShuffleResponse::Error(e),
                Ok(()) => match self.clone().remove_shuffle(app_id, shuffle_id).await {
                    Ok(files) => ShuffleResponse::Removed { files },
                    Err(e) => ShuffleResponse::Error(e),
                },
            },
            ShuffleRequest::RegisterApp {
                app_id,
                secret,
                admin_token,
            } => match self.admin(&admin_token, "RegisterApp", app_id, inc.remote) {
                Err(refusal) => refusal,
                Ok(()) => match self.clone().register_app(app_id, secret).await {
                    Ok(()) => ShuffleResponse::Ok,
                    Err(e) => refused(app_id, inc.remote, "application registration", e),
                },
            },
            ShuffleRequest::AppFinished {
                app_id,
                admin_token,
            } => match self.admin(&admin_token, "AppFinished", app_id, inc.remote) {
                Err(refusal) => refusal,
                Ok(()) => match self.clone().app_finished(app_id).await {
                    Ok(files) => ShuffleResponse::Removed { files },
                    Err(e) => ShuffleResponse::Error(e),
                },
            },
        };
        inc.reply(&resp).await;
    }
}
