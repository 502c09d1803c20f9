//! The standalone service's configuration (`/etc/spindle/shuffle-service.toml`).
//! Every key has a default; unknown keys are refused.

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
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: key `{key}`: unknown key (known keys: {known})")]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("{path}: key `{key}` (line {line}): {reason}")]
    BadValue {
        path: PathBuf,
        key: String,
        line: usize,
        reason: String,
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

impl ShuffleServiceConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let c = Self::parse(path, &text)?;
        c.validate(path)?;
        Ok(c)
    }

    /// Parses `text` (the contents of `path`).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let p = || path.to_path_buf();
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .unwrap_or(1);
            ConfigError::Syntax {
                path: p(),
                line,
                reason: e.message().replace('\n', " "),
            }
        })?;
        let known = Self::default_table();
        for (key, value) in &table {
            if !known.contains_key(key) {
                return Err(ConfigError::UnknownKey {
                    path: p(),
                    key: key.clone(),
                    known: known.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            if let Err(e) = toml::Value::Table(one).try_into::<Self>() {
                return Err(ConfigError::BadValue {
                    path: p(),
                    key: key.clone(),
                    line: key_line(text, key),
                    reason: e.message().replace('\n', " "),
                });
            }
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: p(),
                reason: e.message().replace('\n', " "),
            })
    }

    /// Every key with its default value, as the file would spell it.
    pub fn default_table() -> toml::Table {
        match toml::Value::try_from(Self::default()) {
            Ok(toml::Value::Table(t)) => t,
            _ => unreachable!("the configuration serializes to a table"),
        }
    }

    /// Keys whose values differ between two configurations.
    pub fn changed_keys(&self, other: &Self) -> Vec<String> {
        let (a, b) = (Self::table(self), Self::table(other));
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn table(c: &Self) -> toml::Table {
        match toml::Value::try_from(c) {
            Ok(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        }
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

/// The line of `text` that sets `key` (1 when not found).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
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
