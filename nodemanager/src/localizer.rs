//! Localization: a container's files come from the RM's staging store by
//! content hash into the node's file cache (`filecache/`), verified while they
//! stream in, and are linked into the container's working directory.

use crate::launch::{fail, io_error};
use crate::metrics::NmEvent;
use common::protocol::{ErrorCode, LocalResource, WireError};
use common::staging::ContentStore;
use common::transport::Client;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct Localizer {
    cache: ContentStore,
    rm_files: Arc<Client>,
    /// One fetch per content hash at a time.
    fetch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Localizer {
    /// The cache under `local_dir/filecache`, filled from the RM behind `rm_files`.
    pub fn new(
        local_dir: &Path,
        rm_files: Arc<Client>,
    ) -> Result<Self, common::staging::StoreError> {
        Ok(Self {
            cache: ContentStore::open(local_dir.join("filecache"))?,
            rm_files,
            fetch_locks: Mutex::new(HashMap::new()),
        })
    }

    /// Localizes each resource and links it into `work` under its name.
    pub async fn localize_into(
        &self,
        work: &Path,
        resources: &[LocalResource],
    ) -> Result<(), WireError> {
        for r in resources {
            let cached = self.localize(&r.sha256, r.size, r.executable).await?;
            let link = work.join(&r.name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&cached, &link)
                .map_err(|e| io_error("linking", &link, e))?;
        }
        Ok(())
    }

    async fn localize(
        &self,
        sha256: &str,
        size: u64,
        executable: bool,
    ) -> Result<PathBuf, WireError> {
        let lock = self
            .fetch_locks
            .lock()
            .expect("locks")
            .entry(sha256.to_string())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        let path = self
            .cache
            .path(sha256)
            .map_err(|e| fail(ErrorCode::BadRequest, e.to_string()))?;
        let hit = path.is_file();
        if !hit {
            self.fetch(sha256, size).await?;
        }
        NmEvent::Localized { hit, bytes: size }.emit();
        // Readable (and runnable) by containers whatever user they run as: the cache holds
        // what apps staged, never credentials (those travel as `LaunchSpec::secrets`).
        {
            use std::os::unix::fs::PermissionsExt;
            // Another launch may have asked for the same file executable: never take x away.
            let had = std::fs::metadata(&path).map_or(0, |m| m.permissions().mode() & 0o777);
            let mode = if executable { 0o755 } else { had | 0o644 };
            if mode != had {
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
            }
        }
        Ok(path)
    }

    async fn fetch(&self, sha256: &str, size: u64) -> Result<(), WireError> {
        use common::protocol::{RmRequest, RmResponse};
        use common::transport;
        let (conn, addr) = self
            .rm_files
            .connect_current()
            .await
            .map_err(|e| fail(ErrorCode::Internal, format!("localizing {sha256}: {e}")))?;
        let (mut send, mut recv) = transport::open(&conn, &addr)
            .await
            .map_err(|e| fail(ErrorCode::Internal, format!("localizing {sha256}: {e}")))?;
        let req = RmRequest::FetchFile {
            sha256: sha256.to_string(),
        };
        transport::write(&mut send, &addr, &req)
            .await
            .map_err(|e| fail(ErrorCode::Internal, e.to_string()))?;
        let _ = send.finish();
        let resp: RmResponse = transport::read_response(&mut recv, &addr)
            .await
            .map_err(|e| {
                // A standby RM: the next fetch goes to the active one.
                self.rm_files.failed(&addr, &e);
                fail(ErrorCode::UnknownFile, format!("localizing {sha256}: {e}"))
            })?;
        let RmResponse::FileFollows { size: got } = resp else {
            return Err(fail(ErrorCode::Internal, "unexpected answer to FetchFile"));
        };
        if got != size {
            return Err(fail(
                ErrorCode::DigestMismatch,
                format!(
                    "localizing {sha256}: the RM holds {got} bytes, the launch context says {size}"
                ),
            ));
        }
        self.cache.put(sha256, size, &mut recv).await.map_err(|e| {
            fail(
                ErrorCode::DigestMismatch,
                format!("localization of {sha256} failed verification: {e}"),
            )
        })?;
        Ok(())
    }
}
