//! The resource manager's configuration (`/etc/spindle/resourcemanager.toml`).
//! Every key has a default; unknown keys are refused.

use common::duration::human;
use common::tls::TlsFiles;
use common::Resource;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct RmConfig {
    /// QUIC address for clients, node managers and application masters.
    pub address: String,
    /// Where staged application files live (content-addressed by sha256).
    pub state_dir: PathBuf,
    /// Cluster CA certificate.
    pub ca: PathBuf,
    /// The RM's certificate and key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// How often node managers heartbeat.
    #[serde(with = "human")]
    pub heartbeat_interval: Duration,
    /// A node silent for this long is LOST (YARN's nm.liveness-monitor.expiry-interval-ms).
    #[serde(with = "human")]
    pub nm_expiry: Duration,
    /// Largest container an application may ask for.
    pub max_allocation_mb: u64,
    pub max_allocation_vcores: u32,
    /// AM attempts before an application FAILS (yarn.resourcemanager.am.max-attempts).
    pub max_am_attempts: u32,
    /// How long a container token stays valid after allocation.
    #[serde(with = "human")]
    pub container_token_expiry: Duration,
    /// Log level filter (tracing syntax), e.g. "info" or "resourcemanager=debug".
    pub log_level: String,
}

impl Default for RmConfig {
    fn default() -> Self {
        Self {
            address: "0.0.0.0:8032".into(),
            state_dir: "/var/lib/spindle/resourcemanager".into(),
            ca: "/etc/spindle/certs/ca.pem".into(),
            cert: "/etc/spindle/certs/node.pem".into(),
            key: "/etc/spindle/certs/node.key".into(),
            heartbeat_interval: Duration::from_secs(1),
            nm_expiry: Duration::from_secs(600),
            max_allocation_mb: 8192,
            max_allocation_vcores: 4,
            max_am_attempts: 2,
            container_token_expiry: Duration::from_secs(600),
            log_level: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: key `{key}`: {reason}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        reason: String,
    },
}

impl RmConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let c: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string().replace('\n', " "),
        })?;
        c.validate(path)?;
        Ok(c)
    }

    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            reason,
        };
        if !self.address.contains(':') {
            return Err(bad(
                "address",
                format!("{:?} is not host:port", self.address),
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(bad("heartbeat-interval", "must be above 0".into()));
        }
        if self.nm_expiry <= self.heartbeat_interval {
            return Err(bad(
                "nm-expiry",
                "must be longer than heartbeat-interval".into(),
            ));
        }
        if self.max_allocation_mb == 0 || self.max_allocation_vcores == 0 {
            return Err(bad(
                "max-allocation-mb",
                "maximum allocation must be above 0".into(),
            ));
        }
        if self.max_am_attempts == 0 {
            return Err(bad("max-am-attempts", "must be at least 1".into()));
        }
        for (key, p) in [("ca", &self.ca), ("cert", &self.cert), ("key", &self.key)] {
            if !p.is_file() {
                return Err(bad(key, format!("{} is not a readable file", p.display())));
            }
        }
        Ok(())
    }

    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    pub fn max_allocation(&self) -> Resource {
        Resource::new(self.max_allocation_mb, self.max_allocation_vcores)
    }
}
