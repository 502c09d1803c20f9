//! Daemon configuration files: TOML whose every error is one line naming the
//! file, the key and the reason. Shared by the RM, the NM and the shuffle service.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML at all (the key may not be known yet).
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
    /// A value of the wrong type or format for its key.
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

/// Reads and parses `path` (validation is the caller's).
pub fn load<T: DeserializeOwned + Serialize + Default>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses `text` (the contents of `path`); unknown keys are refused, and a
/// type error names its key and line.
pub fn parse<T: DeserializeOwned + Serialize + Default>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
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
    let known = default_table::<T>();
    for (key, value) in &table {
        if !known.contains_key(key) {
            return Err(ConfigError::UnknownKey {
                path: p(),
                key: key.clone(),
                known: known.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        // One key at a time, so a type error names its key.
        let one = toml::Table::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = toml::Value::Table(one).try_into::<T>() {
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
pub fn default_table<T: Serialize + Default>() -> toml::Table {
    to_table(&T::default())
}

/// Keys whose values differ between two configurations.
pub fn changed_keys<T: Serialize>(a: &T, b: &T) -> Vec<String> {
    let (a, b) = (to_table(a), to_table(b));
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

fn to_table<T: Serialize>(c: &T) -> toml::Table {
    match toml::Value::try_from(c) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
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

/// Ok when `p` is a regular file this process can open for reading.
pub fn readable_file(p: &Path) -> Result<(), String> {
    match std::fs::File::open(p).and_then(|f| f.metadata()) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(format!("{} is not a regular file", p.display())),
        Err(e) => Err(format!("{}: cannot read: {e}", p.display())),
    }
}
