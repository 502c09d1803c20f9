//! The client configuration directory (`$SPINDLE_CONF_DIR`): where the RM is
//! and which certificate to present. `spindle cluster up` writes one.

use crate::tls::TlsFiles;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CONF_DIR_ENV: &str = "SPINDLE_CONF_DIR";
pub const CLIENT_FILE: &str = "spindle-client.toml";
pub const DEFAULTS_FILE: &str = "spindle-defaults.conf";

/// `spindle-client.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientConf {
    /// The RM's QUIC address, `host:port` (one RM).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rm_address: String,
    /// Every RM of an HA pair, `["host:port", ...]`: clients talk to the active one
    /// and fail over. Set this or `rm-address`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rm_addresses: Vec<String>,
    /// The RM's web address, `host:port` (REST and UI).
    #[serde(default)]
    pub rm_web_address: String,
    /// The cluster CA certificate.
    pub ca: PathBuf,
    /// This client's certificate and key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate and key a client-mode driver (the Python API's
    /// `master("spindle")`) presents to its launcher and executors: a
    /// container certificate (it carries no rights) that answers to the names
    /// they reach the driver at. Optional: only client mode needs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_key: Option<PathBuf>,
    /// `keep-alive-interval` and `idle-timeout` (optional): how fast this client's
    /// connections notice a dead RM.
    #[serde(flatten)]
    pub liveness: crate::transport::Liveness,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientConfError {
    #[error("{CONF_DIR_ENV} is not set: start a cluster with `spindle cluster up --dir D` and `export {CONF_DIR_ENV}=D/conf`")]
    NotSet,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error(
        "{path}: neither `rm-address` nor `rm-addresses` is set: name the resource manager(s)"
    )]
    NoRm { path: PathBuf },
}

impl ClientConf {
    /// A client of the RM at `rm_address` (no web address) with the identity `tls`.
    pub fn new(rm_address: impl Into<String>, tls: TlsFiles) -> Self {
        Self {
            rm_address: rm_address.into(),
            rm_addresses: vec![],
            rm_web_address: String::new(),
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            driver_cert: None,
            driver_key: None,
            liveness: Default::default(),
        }
    }

    /// The RMs to talk to: `rm-addresses`, else `rm-address`.
    pub fn rm_addresses(&self) -> Vec<String> {
        crate::failover::rm_list(&self.rm_address, &self.rm_addresses)
    }

    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles::new(&self.ca, &self.cert, &self.key)
    }

    /// The client-mode driver's TLS files, if the conf names them.
    pub fn driver_tls_files(&self) -> Option<TlsFiles> {
        match (&self.driver_cert, &self.driver_key) {
            (Some(cert), Some(key)) => Some(TlsFiles::new(&self.ca, cert, key)),
            _ => None,
        }
    }

    /// Reads `dir/spindle-client.toml`; relative paths in it are relative to `dir`.
    pub fn load(dir: &Path) -> Result<Self, ClientConfError> {
        let path = dir.join(CLIENT_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ClientConfError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(dir, &text)
    }

    /// Parses and checks the text of `dir/spindle-client.toml`.
    pub fn parse(dir: &Path, text: &str) -> Result<Self, ClientConfError> {
        let path = dir.join(CLIENT_FILE);
        let mut c: Self = toml::from_str(text).map_err(|e| ClientConfError::Parse {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if c.rm_address.is_empty() && c.rm_addresses.iter().all(|a| a.trim().is_empty()) {
            return Err(ClientConfError::NoRm { path });
        }
        for p in [&mut c.ca, &mut c.cert, &mut c.key]
            .into_iter()
            .chain(c.driver_cert.as_mut())
            .chain(c.driver_key.as_mut())
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        c.liveness
            .check()
            .map_err(|(key, reason)| ClientConfError::Parse {
                path: path.clone(),
                reason: format!("key `{key}`: {reason}"),
            })?;
        Ok(c)
    }

    /// The conf dir named by `$SPINDLE_CONF_DIR`.
    pub fn dir_from_env() -> Result<PathBuf, ClientConfError> {
        std::env::var_os(CONF_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or(ClientConfError::NotSet)
    }

    pub fn from_env() -> Result<Self, ClientConfError> {
        Self::load(&Self::dir_from_env()?)
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(CLIENT_FILE), text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_relative_paths() {
        let d = tempfile::tempdir().unwrap();
        let c = ClientConf {
            rm_web_address: "127.0.0.1:2".into(),
            driver_cert: Some("container.pem".into()),
            driver_key: Some("/abs/container.key".into()),
            ..ClientConf::new(
                "127.0.0.1:1",
                TlsFiles::new(
                    Path::new("ca.pem"),
                    Path::new("/abs/user.pem"),
                    Path::new("user.key"),
                ),
            )
        };
        c.write(d.path()).unwrap();
        let back = ClientConf::load(d.path()).unwrap();
        assert_eq!(back.ca, d.path().join("ca.pem"));
        assert_eq!(back.cert, PathBuf::from("/abs/user.pem"));
        let driver = back.driver_tls_files().expect("driver files");
        assert_eq!(driver.cert, d.path().join("container.pem"));
        assert_eq!(driver.key, PathBuf::from("/abs/container.key"));
        assert!(ClientConf {
            driver_key: None,
            ..back
        }
        .driver_tls_files()
        .is_none());
    }

    #[test]
    fn rm_addresses_or_rm_address() {
        let d = tempfile::tempdir().unwrap();
        let tls = "ca='c'\ncert='c'\nkey='k'\n";
        std::fs::write(
            d.path().join(CLIENT_FILE),
            format!("rm-addresses=['a:1','b:2']\n{tls}"),
        )
        .unwrap();
        let c = ClientConf::load(d.path()).unwrap();
        assert_eq!(c.rm_addresses(), vec!["a:1", "b:2"]);
        std::fs::write(
            d.path().join(CLIENT_FILE),
            format!("rm-address='a:1'\n{tls}"),
        )
        .unwrap();
        assert_eq!(
            ClientConf::load(d.path()).unwrap().rm_addresses(),
            vec!["a:1"]
        );
        std::fs::write(d.path().join(CLIENT_FILE), tls).unwrap();
        let e = ClientConf::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("rm-addresses"), "{e}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(CLIENT_FILE),
            "rm-address='a:1'\nca='c'\ncert='c'\nkey='k'\nbogus=1\n",
        )
        .unwrap();
        let e = ClientConf::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn liveness_keys_are_optional_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let base = "rm-address='a:1'\nca='c'\ncert='c'\nkey='k'\n";
        std::fs::write(d.path().join(CLIENT_FILE), base).unwrap();
        let c = ClientConf::load(d.path()).unwrap();
        assert_eq!(c.liveness, crate::transport::Liveness::DEFAULT);
        std::fs::write(
            d.path().join(CLIENT_FILE),
            format!("{base}idle-timeout='3s'\nkeep-alive-interval='1s'\n"),
        )
        .unwrap();
        let c = ClientConf::load(d.path()).unwrap();
        assert_eq!(c.liveness.idle_timeout, std::time::Duration::from_secs(3));
        std::fs::write(
            d.path().join(CLIENT_FILE),
            format!("{base}idle-timeout='500ms'\n"),
        )
        .unwrap();
        let e = ClientConf::load(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("idle-timeout") && e.contains("keep-alive"),
            "{e}"
        );
    }
}
