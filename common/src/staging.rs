//! A content-addressed file store: files live under their sha256, written
//! atomically and verified, so a reader never sees a partial or wrong file.

use ring::digest;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

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

#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
}

impl ContentStore {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
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
        let tmp = self.dir.join(format!(".{sha256}.{n}.tmp"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let result = async {
            let mut f = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
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
            Ok(dest.clone())
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
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
        let d = tempfile::tempdir().unwrap();
        let s = ContentStore::open(d.path()).unwrap();
        let data = b"hello world".to_vec();
        let sha = sha256_bytes(&data);
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
}
