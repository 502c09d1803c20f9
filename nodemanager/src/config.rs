//! The node manager's configuration (`/etc/spindle/nodemanager.toml`).
//! Every key has a default; unknown keys are refused.

use common::duration::human;
use common::tls::TlsFiles;
use common::Resource;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct NmConfig {
    /// QUIC address for container management (`spindle-nm/1`).
    pub address: String,
    /// Host name this node advertises (node id `host:port`); empty: the bound IP,
    /// or the host name when bound to all interfaces.
    pub hostname: String,
    /// The resource manager's QUIC address.
    pub rm_address: String,
    /// Memory offered to containers, in MB (YARN's default: 8192, whatever the host has).
    pub memory_mb: u64,
    /// Virtual cores offered to containers (YARN's default: 8).
    pub vcores: u32,
    /// Take memory and cores from the host instead of `memory-mb`/`vcores`.
    pub detect_resources: bool,
    /// Working directories, localized files and shuffle data.
    pub local_dir: PathBuf,
    /// Container stdout/stderr, kept after the container exits.
    pub log_dir: PathBuf,
    /// Cluster CA certificate and this node's certificate and key.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Certificate and key handed to containers (their mutual-TLS identity).
    pub container_cert: PathBuf,
    pub container_key: PathBuf,
    /// Kill containers whose process tree's resident memory exceeds their allocation.
    pub pmem_check: bool,
    /// How often container memory is measured.
    #[serde(with = "human")]
    pub monitor_interval: Duration,
    /// Time between SIGTERM and SIGKILL when stopping a container.
    #[serde(with = "human")]
    pub kill_grace: Duration,
    /// Log level filter (tracing syntax).
    pub log_level: String,
}

impl Default for NmConfig {
    fn default() -> Self {
        Self {
            address: "0.0.0.0:8041".into(),
            hostname: String::new(),
            rm_address: "localhost:8032".into(),
            memory_mb: 8192,
            vcores: 8,
            detect_resources: false,
            local_dir: "/var/lib/spindle/nodemanager".into(),
            log_dir: "/var/log/spindle/containers".into(),
            ca: "/etc/spindle/certs/ca.pem".into(),
            cert: "/etc/spindle/certs/node.pem".into(),
            key: "/etc/spindle/certs/node.key".into(),
            container_cert: "/etc/spindle/certs/container.pem".into(),
            container_key: "/etc/spindle/certs/container.key".into(),
            pmem_check: true,
            monitor_interval: Duration::from_millis(250),
            kill_grace: Duration::from_millis(250),
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

impl NmConfig {
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
        for (key, v) in [("address", &self.address), ("rm-address", &self.rm_address)] {
            if !v.contains(':') {
                return Err(bad(key, format!("{v:?} is not host:port")));
            }
        }
        if !self.detect_resources && (self.memory_mb == 0 || self.vcores == 0) {
            return Err(bad(
                "memory-mb",
                "memory-mb and vcores must be above 0".into(),
            ));
        }
        if self.monitor_interval.is_zero() {
            return Err(bad("monitor-interval", "must be above 0".into()));
        }
        for (key, p) in [
            ("ca", &self.ca),
            ("cert", &self.cert),
            ("key", &self.key),
            ("container-cert", &self.container_cert),
            ("container-key", &self.container_key),
        ] {
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

    /// The capacity this node offers.
    pub fn capability(&self) -> Resource {
        if self.detect_resources {
            let mem_mb = std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|m| {
                    m.lines()
                        .find(|l| l.starts_with("MemTotal:"))
                        .and_then(|l| {
                            l.split_whitespace()
                                .nth(1)
                                .and_then(|v| v.parse::<u64>().ok())
                        })
                })
                .map(|kb| kb / 1024)
                .unwrap_or(self.memory_mb);
            let cores = std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(self.vcores);
            Resource::new(mem_mb, cores)
        } else {
            Resource::new(self.memory_mb, self.vcores)
        }
    }
}
