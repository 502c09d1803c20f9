//! The standalone service's configuration (`/etc/spindle/shuffle-service.toml`).
//! Every key has a default; unknown keys are refused.

use common::configfile;
use common::tls::TlsFiles;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
            log_level: "info".into(),
        }
    }
}

/// A configuration error: one line naming the file, the key and the reason.
pub use common::configfile::ConfigError;

impl ShuffleServiceConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let c: Self = configfile::load(path)?;
        c.validate(path)?;
        Ok(c)
    }

    /// Parses `text` (the contents of `path`); every error is one line naming
    /// the file, the key and the reason.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        configfile::parse(path, text)
    }

    /// Every key with its default value, as the file would spell it.
    pub fn default_table() -> toml::Table {
        configfile::default_table::<Self>()
    }

    /// Keys whose values differ between two configurations.
    pub fn changed_keys(&self, other: &Self) -> Vec<String> {
        configfile::changed_keys(self, other)
    }

    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            reason,
        };
        match self.address.rsplit_once(':').map(|(_, p)| p.parse::<u16>()) {
            Some(Ok(p)) if p != 0 => {}
            _ => {
                return Err(bad(
                    "address",
                    format!("{:?} is not host:port with a fixed port", self.address),
                ))
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return Err(bad(
                "log-level",
                format!("{:?} is not a tracing filter: {e}", self.log_level),
            ));
        }
        for (key, p) in [
            ("nm-local-dir", &self.nm_local_dir),
            ("state-dir", &self.state_dir),
        ] {
            if !p.is_absolute() {
                return Err(bad(key, format!("{} is not an absolute path", p.display())));
            }
        }
        for (key, p) in [("ca", &self.ca), ("cert", &self.cert), ("key", &self.key)] {
            match std::fs::File::open(p).and_then(|f| f.metadata()) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(bad(key, format!("{} is not a regular file", p.display()))),
                Err(e) => return Err(bad(key, format!("{}: cannot read: {e}", p.display()))),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/conf/shuffle-service.toml");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The template's `# key = value` lines, uncommented.
    fn template_keys(text: &str) -> toml::Table {
        let body: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                })
            })
            .map(|l| format!("{l}\n"))
            .collect();
        body.parse().expect("template values are TOML")
    }

    #[test]
    fn template_lists_every_key_with_its_default() {
        let text = template();
        let parsed = ShuffleServiceConfig::parse(Path::new("template"), &text).unwrap();
        assert_eq!(parsed, ShuffleServiceConfig::default());
        let listed = template_keys(&text);
        let defaults = ShuffleServiceConfig::default_table();
        let names = |t: &toml::Table| t.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&listed), names(&defaults), "template keys drifted");
        assert_eq!(listed, defaults, "template defaults drifted");
        let lines: Vec<&str> = text.lines().collect();
        for key in defaults.keys() {
            let i = lines
                .iter()
                .position(|l| l.starts_with(&format!("# {key} = ")))
                .unwrap();
            assert!(
                i > 0 && lines[i - 1].starts_with("# ") && !lines[i - 1].contains(" = "),
                "{key} has no description above it"
            );
        }
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let p = Path::new("/etc/spindle/shuffle-service.toml");
        let e = ShuffleServiceConfig::parse(p, "address = \"a:1\"\nbogus = 1\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/spindle/shuffle-service.toml: key `bogus`: unknown key"),
            "{e}"
        );
        let e = ShuffleServiceConfig::parse(p, "state-dir = 3\n").unwrap_err();
        assert!(e.to_string().contains("key `state-dir` (line 1)"), "{e}");
        let c = ShuffleServiceConfig::parse(p, "address = \"0.0.0.0:0\"\n").unwrap();
        let e = c.validate(p).unwrap_err();
        assert!(e.to_string().contains("key `address`"), "{e}");
    }
}
