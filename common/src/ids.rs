//! Ids in YARN's formats, so logs and tools read the same as on YARN.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An id string that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind} id: {text:?}")]
pub struct IdParseError {
    pub kind: &'static str,
    pub text: String,
}

/// `application_<clusterTs>_<seq:04>`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ApplicationId {
    pub cluster_ts: u64,
    pub seq: u32,
}

/// `appattempt_<clusterTs>_<seq:04>_<attempt:06>`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppAttemptId {
    pub app: ApplicationId,
    pub attempt: u32,
}

/// `container_<clusterTs>_<seq:04>_<attempt:02>_<n:06>`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerId {
    pub attempt: AppAttemptId,
    pub n: u64,
}

/// A node manager's `host:port`, as YARN names nodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub String);

impl ApplicationId {
    pub fn new(cluster_ts: u64, seq: u32) -> Self {
        Self { cluster_ts, seq }
    }

    pub fn attempt(self, attempt: u32) -> AppAttemptId {
        AppAttemptId { app: self, attempt }
    }
}

impl AppAttemptId {
    pub fn container(self, n: u64) -> ContainerId {
        ContainerId { attempt: self, n }
    }
}

impl ContainerId {
    pub fn app(&self) -> ApplicationId {
        self.attempt.app
    }
}

impl fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "application_{}_{:04}", self.cluster_ts, self.seq)
    }
}

impl fmt::Display for AppAttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "appattempt_{}_{:04}_{:06}",
            self.app.cluster_ts, self.app.seq, self.attempt
        )
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.attempt;
        write!(
            f,
            "container_{}_{:04}_{:02}_{:06}",
            a.app.cluster_ts, a.app.seq, a.attempt, self.n
        )
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parts<'a>(
    kind: &'static str,
    text: &'a str,
    prefix: &str,
    n: usize,
) -> Result<Vec<u64>, IdParseError> {
    let err = || IdParseError {
        kind,
        text: text.to_string(),
    };
    let rest = text.strip_prefix(prefix).ok_or_else(err)?;
    let fields: Vec<&'a str> = rest.split('_').collect();
    if fields.len() != n {
        return Err(err());
    }
    fields
        .iter()
        .map(|f| {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            f.parse::<u64>().map_err(|_| err())
        })
        .collect()
}

fn small(kind: &'static str, text: &str, v: u64) -> Result<u32, IdParseError> {
    u32::try_from(v).map_err(|_| IdParseError {
        kind,
        text: text.to_string(),
    })
}

/// The application of an id's first two fields (cluster timestamp, sequence).
fn app_from(kind: &'static str, s: &str, p: &[u64]) -> Result<ApplicationId, IdParseError> {
    Ok(ApplicationId {
        cluster_ts: p[0],
        seq: small(kind, s, p[1])?,
    })
}

/// The attempt of an id's first three fields.
fn attempt_from(kind: &'static str, s: &str, p: &[u64]) -> Result<AppAttemptId, IdParseError> {
    Ok(AppAttemptId {
        app: app_from(kind, s, p)?,
        attempt: small(kind, s, p[2])?,
    })
}

impl FromStr for ApplicationId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        app_from(
            "application",
            s,
            &parts("application", s, "application_", 2)?,
        )
    }
}

impl FromStr for AppAttemptId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = "application attempt";
        attempt_from(kind, s, &parts(kind, s, "appattempt_", 3)?)
    }
}

impl FromStr for ContainerId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = parts("container", s, "container_", 4)?;
        Ok(Self {
            attempt: attempt_from("container", s, &p)?,
            n: p[3],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `id` prints as `text`, which parses back to it.
    fn assert_round_trips<T>(id: T, text: &str)
    where
        T: FromStr + fmt::Display + PartialEq + fmt::Debug,
        T::Err: fmt::Debug,
    {
        assert_eq!(id.to_string(), text);
        assert_eq!(text.parse::<T>().unwrap(), id);
    }

    #[test]
    fn formats_follow_yarn() {
        let app = ApplicationId::new(1700000000000, 7);
        assert_round_trips(app, "application_1700000000000_0007");
        let att = app.attempt(1);
        assert_round_trips(att, "appattempt_1700000000000_0007_000001");
        assert_round_trips(att.container(42), "container_1700000000000_0007_01_000042");
    }

    #[test]
    fn sequence_wider_than_padding_round_trips() {
        assert_round_trips(ApplicationId::new(1, 123456), "application_1_123456");
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "application_1",
            "application_x_0001",
            "app_1_0001",
            "application_1_0001_3",
            "application__0001",
            "application_1_+1",
        ] {
            assert!(bad.parse::<ApplicationId>().is_err(), "{bad}");
        }
        assert!("container_1_0001_01".parse::<ContainerId>().is_err());
    }
}
