//! The executor's side of shuffles: where map output is written, how blocks
//! are fetched, and who serves this executor's output (the node's shuffle
//! service, or its own block server when the service is off).

use am_core::ids::{ExecutorId, ShuffleId};
use am_core::plan::{
    Block, BlockFetch, FetchFailure, MapOutputId, MapOutputWriter, NewMapOutput, TaskEnv,
};
use common::launch::{ContainerEnv, ExecutorLaunch};
use common::tls::TlsIdentity;
use common::ApplicationId;
use shuffle_service::{layout, BlockId, ShuffleClient};
use std::collections::BTreeMap;
use std::path::PathBuf;

mod migrate;

pub(crate) struct ExecutorShuffle {
    app: ApplicationId,
    executor: String,
    secret: String,
    dir: PathBuf,
    /// Where our output is served.
    pub(crate) server: String,
    client: ShuffleClient,
    rt: tokio::runtime::Handle,
    /// Our own block server, when the node's service is not used.
    _own: Option<shuffle_service::Handle>,
    /// The node's shuffle service, if it runs one (fallback storage for migration).
    node_service: Option<String>,
}

impl ExecutorShuffle {
    /// Creates the shuffle dir and registers it where it will be served.
    pub(crate) async fn start(
        identity: &TlsIdentity,
        container: &ContainerEnv,
        launch: &ExecutorLaunch,
    ) -> anyhow::Result<Self> {
        let (app, executor, secret) = (launch.app_id, &launch.executor_id, &launch.app_secret);
        let host = &container.nm_host;
        let base = &container.local_dir;
        let dir = base.join(format!("blockmgr-{executor}"));
        std::fs::create_dir_all(&dir)?;
        let client = ShuffleClient::new(identity)?;
        let service = container.shuffle_service.clone();
        let (server, own) = match (launch.shuffle_service_enabled, service.clone()) {
            (true, Some(addr)) => {
                client
                    .register(&addr, app, executor, secret, std::slice::from_ref(&dir))
                    .await
                    .map_err(|e| anyhow::anyhow!("registering with the shuffle service: {e}"))?;
                (addr, None)
            }
            (true, None) => anyhow::bail!(
                "spark.shuffle.service.enabled=true but this node runs no shuffle service"
            ),
            (false, _) => {
                let cfg = shuffle_service::ServerConfig::new(
                    "0.0.0.0:0",
                    identity.clone(),
                    vec![dir.clone()],
                );
                let handle = shuffle_service::start(cfg).await?;
                handle
                    .register_executor(app, executor, secret, std::slice::from_ref(&dir))
                    .await
                    .map_err(|e| anyhow::anyhow!("registering with our own block server: {e}"))?;
                (format!("{host}:{}", handle.addr().port()), Some(handle))
            }
        };
        Ok(Self {
            app,
            executor: executor.to_string(),
            secret: secret.to_string(),
            dir,
            server,
            client,
            rt: tokio::runtime::Handle::current(),
            _own: own,
            node_service: service,
        })
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub(crate) fn remove_shuffle(&self, shuffle: ShuffleId) {
        if let Err(e) = layout::remove_shuffle(&self.dir, shuffle.get()) {
            tracing::warn!(%shuffle, error = %e, "removing shuffle files");
        }
    }
}

impl TaskEnv for ExecutorShuffle {
    fn map_output_writer(&self, id: MapOutputId) -> NewMapOutput<'_> {
        let (shuffle, map) = (id.shuffle_id.get(), u64::from(id.map_id));
        let w = layout::MapOutputWriter::create(&self.dir, shuffle, map, id.partitions)
            .map_err(|e| format!("in {}: {e}", self.dir.display()))?;
        Ok(Box::new(FileOutput(w)))
    }

    fn fetch(&self, fetch: BlockFetch<'_>) -> Result<Vec<Block>, FetchFailure> {
        let BlockFetch {
            shuffle_id,
            reduce_id,
            locations,
        } = fetch;
        let mut out: Vec<Option<Block>> = vec![None; locations.len()];
        // Many blocks per request: one request per (server, executor).
        let mut groups: BTreeMap<(String, ExecutorId), Vec<usize>> = BTreeMap::new();
        for (i, loc) in locations.iter().enumerate() {
            let size = loc.sizes.get(reduce_id as usize).copied().unwrap_or(1);
            if size == 0 {
                out[i] = Some(Block::new());
            } else if loc.server.is_empty() {
                // Fallback storage: a shared directory, read directly.
                let dir = std::path::Path::new(&loc.dir);
                let b = layout::read_block(dir, shuffle_id.get(), u64::from(loc.map_id), reduce_id)
                    .map_err(|e| {
                        FetchFailure::new(loc.map_id, format!("reading fallback storage: {e}"))
                    })?;
                out[i] = Some(b.into());
            } else if loc.executor == self.executor {
                // Our own output: read the file.
                let b = layout::read_block(
                    &self.dir,
                    shuffle_id.get(),
                    u64::from(loc.map_id),
                    reduce_id,
                )
                .map_err(|e| FetchFailure::new(loc.map_id, format!("reading local block: {e}")))?;
                out[i] = Some(b.into());
            } else {
                groups
                    .entry((loc.server.clone(), loc.executor.clone()))
                    .or_default()
                    .push(i);
            }
        }
        for ((server, executor), idx) in groups {
            let ids: Vec<String> = idx
                .iter()
                .map(|&i| {
                    BlockId::new(shuffle_id.get(), u64::from(locations[i].map_id), reduce_id)
                        .to_string()
                })
                .collect();
            let fetched = self
                .rt
                .block_on(self.client.fetch(
                    &server,
                    self.app,
                    executor.as_str(),
                    &self.secret,
                    &ids,
                ))
                .map_err(|e| {
                    // Blame the block the service named, else the group's first.
                    let map = e
                        .block()
                        .and_then(|b| b.parse::<BlockId>().ok())
                        .map(|b| b.map_id as u32)
                        .unwrap_or(locations[idx[0]].map_id);
                    FetchFailure::new(map, e.to_string())
                })?;
            for (i, b) in idx.into_iter().zip(fetched) {
                out[i] = Some(b);
            }
        }
        Ok(out.into_iter().map(|b| b.unwrap_or_default()).collect())
    }
}

/// A map output in Spark's sort-shuffle files (data and index, see
/// [shuffle_service::layout]).
struct FileOutput(layout::MapOutputWriter);

impl MapOutputWriter for FileOutput {
    fn write_partition(&mut self, reduce_id: u32, bytes: &[u8]) -> Result<(), String> {
        self.0
            .write_partition(reduce_id, bytes)
            .map_err(|e| e.to_string())
    }

    fn commit(self: Box<Self>) -> Result<Vec<u64>, String> {
        self.0.commit().map_err(|e| e.to_string())
    }
}
