//! This executor's part in shuffle-block migration (see the driver core's
//! `decommission` module): copying a leaving peer's map outputs into our own dir,
//! or, when we are the one leaving and no peer is left, handing ours to fallback
//! storage.

use super::ExecutorShuffle;
use common::protocol::{MigrateOutput, MigratedTo, ShuffleMigration};
use shuffle_service::{layout, BlockId};
use std::path::Path;

impl ExecutorShuffle {
    /// Carries out a migration; blocks (call it off the runtime's threads).
    pub(crate) fn migrate(
        &self,
        how: &ShuffleMigration,
        outputs: &[MigrateOutput],
    ) -> Result<MigratedTo, String> {
        match how {
            ShuffleMigration::FetchFrom { source, server } => {
                for o in outputs {
                    self.copy_from_peer(source, server, o)?;
                }
                Ok(MigratedTo {
                    server: self.server.clone(),
                    dir: self.dir.display().to_string(),
                })
            }
            ShuffleMigration::ServeFromNodeService => {
                let addr = self.node_service.as_deref().ok_or(
                    "this node runs no shuffle service and \
                     spark.storage.decommission.fallbackStorage.path is not set",
                )?;
                self.rt
                    .block_on(self.client.register(
                        addr,
                        self.app,
                        &self.executor,
                        &self.secret,
                        std::slice::from_ref(&self.dir),
                    ))
                    .map_err(|e| format!("registering with the node's shuffle service: {e}"))?;
                Ok(MigratedTo {
                    server: addr.to_string(),
                    dir: self.dir.display().to_string(),
                })
            }
            ShuffleMigration::CopyTo { dir } => {
                let to = Path::new(dir)
                    .join(self.app.to_string())
                    .join(&self.executor);
                std::fs::create_dir_all(&to)
                    .map_err(|e| format!("creating {}: {e}", to.display()))?;
                for o in outputs {
                    let map = u64::from(o.map_id);
                    for path in [layout::index_path, layout::data_path] {
                        copy_atomically(
                            &path(&self.dir, o.shuffle_id, map),
                            &path(&to, o.shuffle_id, map),
                        )?;
                    }
                }
                Ok(MigratedTo {
                    server: String::new(),
                    dir: to.display().to_string(),
                })
            }
        }
    }

    /// Fetches one map output's blocks from `source` and writes them as our own.
    fn copy_from_peer(&self, source: &str, server: &str, o: &MigrateOutput) -> Result<(), String> {
        let reduces: Vec<u32> = (0..o.sizes.len() as u32)
            .filter(|r| o.sizes[*r as usize] > 0)
            .collect();
        let ids: Vec<String> = reduces
            .iter()
            .map(|r| BlockId::new(o.shuffle_id, u64::from(o.map_id), *r).to_string())
            .collect();
        let what = format!("map output {}/{}", o.shuffle_id, o.map_id);
        let blocks = self
            .rt
            .block_on(
                self.client
                    .fetch(server, self.app, source, &self.secret, &ids),
            )
            .map_err(|e| format!("fetching {what} from executor {source}: {e}"))?;
        let writing = |e: std::io::Error| format!("writing {what}: {e}");
        let mut w = layout::MapOutputWriter::create(
            &self.dir,
            o.shuffle_id,
            u64::from(o.map_id),
            o.sizes.len() as u32,
        )
        .map_err(writing)?;
        for (r, b) in reduces.iter().zip(&blocks) {
            for chunk in b.chunks() {
                w.write_partition(*r, chunk).map_err(writing)?;
            }
        }
        let sizes = w.commit().map_err(writing)?;
        if sizes != o.sizes {
            return Err(format!(
                "{what} from executor {source} has other sizes than the driver knows"
            ));
        }
        Ok(())
    }
}

/// Copies `from` to `to` through a temporary name, so a reader never sees half a file.
fn copy_atomically(from: &Path, to: &Path) -> Result<(), String> {
    let tmp = to.with_extension("migrating");
    std::fs::copy(from, &tmp)
        .and_then(|_| std::fs::rename(&tmp, to))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("copying {} to {}: {e}", from.display(), to.display())
        })
}
