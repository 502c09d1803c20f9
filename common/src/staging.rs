//! A content-addressed file store: files live under their sha256, written
//! atomically and verified, so a reader never sees a partial or wrong file.
//!
//! Uploads of one content are coalesced ([`ContentStore::reserve`]): one writes it,
//! the others wait for it. A partial upload's temp file goes as soon as the upload
//! fails or is dropped, and one a crash left is removed when the store opens.

use ring::digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Temp files are `.<sha256>.<random>.tmp` in the store's directory.
const TMP_SUFFIX: &str = ".tmp";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{0:?} is not a sha256 digest (64 lower-case hex digits)")]
    BadDigest(String),
    #[error("content digest {actual} does not match the expected {expected}")]
    Mismatch { expected: String, actual: String },
    #[error("content was {actual} bytes, expected {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn valid_digest(d: &str) -> bool {
    d.len() == 64
        && d.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Per content digest, the lock its one uploader holds.
type InFlight = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
    in_flight: InFlight,
}

/// The right to upload one content: the other uploads of it wait until it is dropped.
pub struct Reservation {
    store: ContentStore,
    sha256: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Reservation {
    /// [`ContentStore::put`] under this reservation.
    pub async fn put<R: AsyncRead + Unpin>(
        &self,
        size: u64,
        src: &mut R,
    ) -> Result<PathBuf, StoreError> {
        self.store.put(&self.sha256, size, src).await
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self
            .store
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Ours and the map's: nobody waits, the entry can go.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.sha256);
        }
    }
}

/// Removes a temp file unless disarmed: a failed, cancelled or dropped upload leaves
/// nothing behind.
struct TmpFile(Option<PathBuf>);

impl Drop for TmpFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl ContentStore {
    /// Opens (creating) the store; temp files of uploads a crash cut short are removed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let io = |source| StoreError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        for e in std::fs::read_dir(&dir).map_err(io)?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(TMP_SUFFIX) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Self {
            dir,
            in_flight: InFlight::default(),
        })
    }

    /// Waits for an upload of `sha256` in flight here to end; then `None` when the
    /// content is in the store, or the reservation to upload it (later callers wait
    /// for that one in turn).
    pub async fn reserve(&self, sha256: &str) -> Result<Option<Reservation>, StoreError> {
        self.path(sha256)?;
        let lock = self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(sha256.to_string())
            .or_default()
            .clone();
        let guard = lock.clone().lock_owned().await;
        let r = Reservation {
            store: self.clone(),
            sha256: sha256.to_string(),
            lock,
            guard: Some(guard),
        };
        Ok((!self.has(sha256)).then_some(r))
    }

    pub fn path(&self, sha256: &str) -> Result<PathBuf, StoreError> {
        if !valid_digest(sha256) {
            return Err(StoreError::BadDigest(sha256.to_string()));
        }
        Ok(self.dir.join(sha256))
    }

    pub fn has(&self, sha256: &str) -> bool {
        self.path(sha256).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Streams exactly `size` bytes from `src` into the store under `sha256`,
    /// verifying the digest before the file becomes visible.
    pub async fn put<R: AsyncRead + Unpin>(
        &self,
        sha256: &str,
        size: u64,
        src: &mut R,
    ) -> Result<PathBuf, StoreError> {
        let dest = self.path(sha256)?;
        let n: u64 = rand_suffix();
        let tmp = self.dir.join(format!(".{sha256}.{n}{TMP_SUFFIX}"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let mut f = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
        let mut cleanup = TmpFile(Some(tmp.clone()));
        let mut ctx = digest::Context::new(&digest::SHA256);
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        let mut limited = src.take(size);
        loop {
            let k = limited.read(&mut buf).await.map_err(io(&tmp))?;
            if k == 0 {
                break;
            }
            ctx.update(&buf[..k]);
            f.write_all(&buf[..k]).await.map_err(io(&tmp))?;
            total += k as u64;
        }
        if total != size {
            return Err(StoreError::Size {
                expected: size,
                actual: total,
            });
        }
        let actual = hex::encode(ctx.finish());
        if actual != sha256 {
            return Err(StoreError::Mismatch {
                expected: sha256.to_string(),
                actual,
            });
        }
        f.sync_all().await.map_err(io(&tmp))?;
        drop(f);
        tokio::fs::rename(&tmp, &dest).await.map_err(io(&dest))?;
        cleanup.0 = None;
        Ok(dest)
    }
}

fn rand_suffix() -> u64 {
    let rng = ring::rand::SystemRandom::new();
    let b: [u8; 8] = ring::rand::generate(&rng)
        .map(|r| r.expose())
        .unwrap_or([7; 8]);
    u64::from_le_bytes(b)
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(ctx.finish()), total))
}

pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_verifies_digest_and_size() {
        let data = b"hello world".to_vec();
        let (d, s, sha) = store_for(&data);
        s.put(&sha, data.len() as u64, &mut &data[..])
            .await
            .unwrap();
        assert!(s.has(&sha));
        let wrong = sha256_bytes(b"other");
        let e = s
            .put(&wrong, data.len() as u64, &mut &data[..])
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Mismatch { .. }));
        assert!(!s.has(&wrong));
        let e = s.put(&sha, 100, &mut &data[..]).await.unwrap_err();
        assert!(matches!(e, StoreError::Size { .. }));
        assert!(matches!(
            s.path("../etc/passwd"),
            Err(StoreError::BadDigest(_))
        ));
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    /// Names of the files in `dir`, sorted.
    fn files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// An empty store in a temp dir, and `data`'s digest.
    fn store_for(data: &[u8]) -> (tempfile::TempDir, ContentStore, String) {
        let d = tempfile::tempdir().unwrap();
        let s = ContentStore::open(d.path()).unwrap();
        (d, s, sha256_bytes(data))
    }

    #[tokio::test]
    async fn concurrent_uploads_of_one_content_are_coalesced() {
        let data = vec![42u8; 100_000];
        let (d, s, sha) = store_for(&data);
        // The first holds its reservation while 20 others ask.
        let first = s.reserve(&sha).await.unwrap().expect("the first uploads");
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let (s, sha) = (s.clone(), sha.clone());
                tokio::spawn(async move { s.reserve(&sha).await.unwrap().is_some() })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "others wait");
        first.put(data.len() as u64, &mut &data[..]).await.unwrap();
        drop(first);
        for w in waiters {
            assert!(
                !w.await.unwrap(),
                "the content is there: nobody uploads again"
            );
        }
        assert_eq!(files(d.path()), vec![sha.clone()]);
        assert!(s.in_flight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_upload_hands_over_to_a_waiter_and_leaves_no_temp_file() {
        let data = b"content".to_vec();
        let (d, s, sha) = store_for(&data);
        let first = s.reserve(&sha).await.unwrap().unwrap();
        let next = {
            let (s, sha) = (s.clone(), sha.clone());
            tokio::spawn(async move { s.reserve(&sha).await.unwrap() })
        };
        // Truncated: a size error, and the temp file goes.
        assert!(first.put(100, &mut &data[..]).await.is_err());
        drop(first);
        let next = next.await.unwrap().expect("the waiter uploads instead");
        assert!(files(d.path()).is_empty());
        // A cancelled upload (its future dropped mid-stream) leaves nothing either.
        let (mut tx, mut rx) = tokio::io::duplex(64);
        tx.write_all(b"cont").await.unwrap();
        let put = next.put(data.len() as u64, &mut rx);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), put)
                .await
                .is_err(),
            "waits for the rest"
        );
        assert!(files(d.path()).is_empty(), "{:?}", files(d.path()));
        drop(tx);
    }

    #[test]
    fn temp_files_a_crash_left_are_removed_at_open() {
        let d = tempfile::tempdir().unwrap();
        let sha = sha256_bytes(b"x");
        std::fs::write(d.path().join(format!(".{sha}.123.tmp")), b"partial").unwrap();
        std::fs::write(d.path().join(&sha), b"x").unwrap();
        let s = ContentStore::open(d.path()).unwrap();
        assert_eq!(files(d.path()), vec![sha.clone()]);
        assert!(s.has(&sha));
    }
}
