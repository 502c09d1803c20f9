//! The standalone service's configuration (`/etc/spindle/shuffle-service.toml`).
//! Every key has a default; unknown keys are refused.

use common::tls::TlsFiles;
use common::transport::Liveness;
use daemon::config::{check_log_level, check_tls_files, DaemonConfig, Invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct ShuffleServiceConfig {
    /// QUIC address executors fetch blocks from (Spark's port 7337).
    pub address: String,
    /// The NM's local dir: registered shuffle dirs must lie inside it.
    pub nm_local_dir: PathBuf,
    /// Registered executors (`shuffle.redb`), kept across restarts.
    pub state_dir: PathBuf,
    /// Cluster CA certificate and this host's certificate and key.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `keep-alive-interval` and `idle-timeout`: how fast a dead peer is noticed.
    #[serde(flatten)]
    pub liveness: Liveness,
    /// Log level filter (tracing syntax).
    pub log_level: String,
}

impl Default for ShuffleServiceConfig {
    fn default() -> Self {
        Self {
            address: "0.0.0.0:7337".into(),
            nm_local_dir: "/var/lib/spindle/nodemanager".into(),
            state_dir: "/var/lib/spindle/shuffle-service".into(),
            ca: "/etc/spindle/certs/ca.pem".into(),
            cert: "/etc/spindle/certs/node.pem".into(),
            key: "/etc/spindle/certs/node.key".into(),
            liveness: Liveness::default(),
            log_level: "info".into(),
        }
    }
}

/// A configuration error: one line naming the file, the key and the reason.
pub use common::configfile::ConfigError;

impl DaemonConfig for ShuffleServiceConfig {
    fn basics(&self) -> (&str, Liveness) {
        (&self.log_level, self.liveness)
    }

    fn check(&self) -> Result<(), Invalid> {
        match self.address.rsplit_once(':').map(|(_, p)| p.parse::<u16>()) {
            Some(Ok(p)) if p != 0 => {}
            _ => {
                return Err((
                    "address",
                    format!("{:?} is not host:port with a fixed port", self.address),
                ))
            }
        }
        check_log_level(&self.log_level)?;
        self.liveness.check()?;
        for (key, p) in [
            ("nm-local-dir", &self.nm_local_dir),
            ("state-dir", &self.state_dir),
        ] {
            if !p.is_absolute() {
                return Err((key, format!("{} is not an absolute path", p.display())));
            }
        }
        check_tls_files(&self.tls_files())
    }
}

impl ShuffleServiceConfig {
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles::new(&self.ca, &self.cert, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daemon::config::{assert_refused, assert_template_documents};

    #[test]
    fn template_lists_every_key_with_its_default() {
        assert_template_documents::<ShuffleServiceConfig>("shuffle-service.toml");
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let p = "/etc/spindle/shuffle-service.toml";
        let refused = |text, expected| assert_refused::<ShuffleServiceConfig>(p, text, expected);
        refused(
            "address = \"a:1\"\nbogus = 1\n",
            "/etc/spindle/shuffle-service.toml: key `bogus`: unknown key",
        );
        refused("state-dir = 3\n", "key `state-dir` (line 1)");
        let c = ShuffleServiceConfig::parse(p.as_ref(), "address = \"0.0.0.0:0\"\n").unwrap();
        let e = c.validate(p.as_ref()).unwrap_err();
        assert!(e.to_string().contains("key `address`"), "{e}");
    }
}
