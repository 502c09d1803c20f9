//! The simulated cluster and the RM settings it runs under, validated.

use crate::error::SlsError;
use common::Resource;
use resourcemanager::state::{Limits, PreemptionConf};
use resourcemanager::RmConfig;
use std::path::Path;

/// The simulated node managers.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Host names, one node each (`HOST:8041`).
    pub hosts: Vec<String>,
    pub node: Resource,
    pub racks: u32,
    pub heartbeat_ms: u64,
}

impl ClusterSpec {
    /// `n` nodes named `node0`..; racks only name them (the RM has no rack locality).
    pub fn uniform(n: u32, node: Resource, racks: u32, heartbeat_ms: u64) -> Self {
        Self {
            hosts: (0..n).map(|i| format!("node{i}")).collect(),
            node,
            racks,
            heartbeat_ms,
        }
    }

    /// Refuses a workload with a container larger than a node.
    pub fn check_fits(&self, jobs: &[crate::workload::Job]) -> Result<(), SlsError> {
        for j in jobs {
            if let Some(t) = j.tasks.iter().find(|t| !self.node.fits(&t.resource)) {
                return Err(SlsError::Option {
                    option: "node-memory-mb",
                    reason: format!(
                        "job {}'s container of {} does not fit a node of {}",
                        j.name, t.resource, self.node
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn check(&self) -> Result<(), SlsError> {
        let bad = |option, reason: &str| SlsError::Option {
            option,
            reason: reason.into(),
        };
        if self.hosts.is_empty() {
            return Err(bad("nodes", "must be at least 1"));
        }
        if self.node.memory_mb == 0 {
            return Err(bad("node-memory-mb", "must be above 0"));
        }
        if self.node.vcores == 0 {
            return Err(bad("node-vcores", "must be above 0"));
        }
        if self.racks == 0 {
            return Err(bad("racks", "must be at least 1"));
        }
        if self.heartbeat_ms == 0 {
            return Err(bad("heartbeat-ms", "must be above 0"));
        }
        Ok(())
    }

    /// The rack of node `i` (nodes are spread over racks in turn).
    pub fn rack(&self, i: usize) -> String {
        format!("/rack{}", i as u32 % self.racks)
    }
}

/// The RM side: the daemon's own config type, so queues, preemption and limits are read
/// and checked exactly as the daemon does.
#[derive(Debug, Clone)]
pub struct RmSettings {
    pub config: RmConfig,
}

impl RmSettings {
    /// The defaults (capacity scheduler, `root.default`), or `resourcemanager.toml` at `path`.
    pub fn load(path: Option<&Path>) -> Result<Self, SlsError> {
        let config = match path {
            None => RmConfig::default(),
            Some(p) => common::configfile::load::<RmConfig>(p)
                .map_err(|e| SlsError::rm_config(p, e.to_string()))?,
        };
        let s = Self { config };
        // What the daemon would refuse at start (its TLS files do not matter here).
        let at = path.unwrap_or(Path::new("(defaults)"));
        s.config
            .build_scheduler()
            .map_err(|e| SlsError::rm_config(at, e.to_string()))?;
        Ok(s)
    }

    pub fn limits(&self) -> Limits {
        let c = &self.config;
        Limits {
            max_allocation: c.max_allocation(),
            max_am_attempts: c.max_am_attempts,
            nm_expiry_ms: c.nm_expiry.as_millis() as u64,
            token_expiry_ms: c.container_token_expiry.as_millis() as u64,
            key_roll_ms: c.token_key_roll_interval.as_millis() as u64,
        }
    }

    pub fn preemption(&self) -> PreemptionConf {
        self.config.preemption_conf()
    }

    pub fn preemption_interval_ms(&self) -> u64 {
        self.config.preemption_interval.as_millis().max(1) as u64
    }
}
