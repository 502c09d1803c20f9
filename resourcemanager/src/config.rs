//! The resource manager's configuration (`/etc/spindle/resourcemanager.toml`).
//! Every key has a default; unknown keys are refused.

use crate::scheduler::{
    CapacityScheduler, FifoScheduler, QueueConf, QueueConfigError, QueueDefaults, QueueTree,
    Scheduler,
};
use crate::state::PreemptionConf;
use common::duration::{format_duration, human};
use common::tls::TlsFiles;
use common::transport::Liveness;
use common::Resource;
use daemon::config::{check_admin_acl, check_log_level, check_tls_files, DaemonConfig, Invalid};
use daemon::https::check_web_address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
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
    /// Finished applications kept (listed, and in the state store); the oldest beyond
    /// it are forgotten (yarn.resourcemanager.max-completed-applications).
    pub max_completed_applications: usize,
    /// How long a container token stays valid after allocation.
    #[serde(with = "human")]
    pub container_token_expiry: Duration,
    /// How often the master keys of container tokens and of AMRM tokens (one
    /// each) are replaced; tokens signed with the previous key stay valid for
    /// one more interval. At least `container-token-expiry`, and longer than
    /// 1.5 times `nm-expiry` (a new container-token key reaches every node that
    /// long before it signs).
    #[serde(with = "human")]
    pub token_key_roll_interval: Duration,
    /// Log level filter (tracing syntax), e.g. "info" or "resourcemanager=debug".
    pub log_level: String,
    /// TCP address of the web server (YARN REST API under /ws/v1/cluster,
    /// the web UI under /cluster, Prometheus /metrics); empty: no web server.
    pub web_address: String,
    /// Serve the web server over HTTPS with `cert`/`key` (the cluster's
    /// certificate); false: plain HTTP, allowed only on a loopback address.
    pub web_tls: bool,
    /// Where applications write their event logs (`spark.eventLog.dir`), as
    /// seen from the RM: the RM serves finished applications' UI from here.
    /// Empty: no history view.
    pub history_dir: PathBuf,
    /// Users who may view and modify (kill) every application, whatever its ACLs
    /// (YARN's yarn.admin.acl); `*` is every user. Empty: only each app's owner and the
    /// users its ACLs name.
    pub admin_acl: Vec<String>,
    /// Whether anonymous clients may read the web's views (`/cluster`, `/ws/v1/cluster/*`,
    /// `/metrics`; private apps stay hidden); unset: yes on a loopback `web-address`, no
    /// elsewhere.
    pub web_anonymous_read: daemon::https::AnonymousRead,
    /// `capacity` (YARN's CapacityScheduler: the queues below) or `fifo` (one queue,
    /// `default`, oldest application first).
    pub scheduler: SchedulerType,
    /// Take containers back from queues over their share when a queue below its
    /// guarantee waits (capacity scheduler only).
    pub preemption: bool,
    /// Between telling an AM which containers will be taken and killing them (-102).
    #[serde(with = "human")]
    pub preemption_wait: Duration,
    /// How often the preemption policy looks (at most 250 ms).
    #[serde(with = "human")]
    pub preemption_interval: Duration,
    /// How long a graceful decommission (`spindle node decommission` without `--timeout`)
    /// waits for a node's containers and applications before it kills what still runs
    /// there (YARN's nodemanager-graceful-decommission-timeout-secs).
    #[serde(with = "human")]
    pub graceful_decommission_timeout: Duration,
    /// Fraction of a queue's guarantee AM containers may use, for queues that do not
    /// set their own (YARN's maximum-am-resource-percent; 0.1 is 10%).
    pub maximum_am_resource_percent: f64,
    /// `keep-alive-interval` and `idle-timeout`: how fast a dead peer is noticed.
    #[serde(flatten)]
    pub liveness: Liveness,
    /// High availability: etcd's client URLs (`["http://host:2379", ...]`). Set, this RM
    /// is one of an HA pair: it campaigns for a lease in etcd, keeps the state there
    /// instead of `state-dir/rm-state.redb`, and answers NotActive while standing by.
    /// Empty: a single RM.
    pub etcd_endpoints: Vec<String>,
    /// This RM's name in the election (shown in etcd's leader key); empty: its address.
    pub ha_id: String,
    /// The leader lease's time to live: how long a dead active RM holds the cluster
    /// before a standby takes over (at least 2s, etcd's own minimum).
    #[serde(with = "human")]
    pub ha_lease_ttl: Duration,
    /// Where in etcd the pair keeps its leader key and state (one prefix per cluster).
    pub ha_prefix: String,
    /// Every RM of the HA pair as clients reach it (`["host:port", ...]`): handed to the
    /// application masters, which fail over between them. Empty without HA.
    pub rm_addresses: Vec<String>,
    /// The capacity scheduler's queues, by path below root (`a`, `a.x`) or full path
    /// (`root.a`): `capacity` (required, percent of the parent; siblings sum to 100),
    /// `maximum-capacity`, `user-limit-factor`, `minimum-user-limit-percent`,
    /// `maximum-applications`, `maximum-am-resource-percent`, `ordering-policy`,
    /// `acl-submit-applications`, `acl-administer-queue`, `state`. Empty: one queue,
    /// `root.default`, at 100%.
    pub queues: BTreeMap<String, QueueConf>,
}

/// The `scheduler` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerType {
    Capacity,
    Fifo,
}

impl Default for RmConfig {
    fn default() -> Self {
        Self {
            address: "0.0.0.0:8032".into(),
            state_dir: "/var/lib/spindle/resourcemanager".into(),
            ca: "/etc/spindle/certs/ca.pem".into(),
            cert: "/etc/spindle/certs/rm.pem".into(),
            key: "/etc/spindle/certs/rm.key".into(),
            heartbeat_interval: Duration::from_secs(1),
            nm_expiry: Duration::from_secs(600),
            max_allocation_mb: 8192,
            max_allocation_vcores: 4,
            max_am_attempts: 2,
            max_completed_applications: crate::state::MAX_COMPLETED_APPS,
            container_token_expiry: Duration::from_secs(600),
            token_key_roll_interval: Duration::from_secs(86_400),
            log_level: "info".into(),
            web_address: "0.0.0.0:8088".into(),
            web_tls: true,
            history_dir: PathBuf::new(),
            admin_acl: Vec::new(),
            web_anonymous_read: daemon::https::AnonymousRead::Auto,
            scheduler: SchedulerType::Capacity,
            preemption: true,
            preemption_wait: Duration::from_secs(15),
            preemption_interval: Duration::from_millis(250),
            graceful_decommission_timeout: Duration::from_millis(
                crate::state::DEFAULT_DECOMMISSION_TIMEOUT_MS,
            ),
            maximum_am_resource_percent: 0.1,
            liveness: Liveness::default(),
            etcd_endpoints: Vec::new(),
            ha_id: String::new(),
            ha_lease_ttl: Duration::from_secs(3),
            ha_prefix: "/spindle/rm".into(),
            rm_addresses: Vec::new(),
            queues: BTreeMap::new(),
        }
    }
}

pub use common::configfile::ConfigError;

impl DaemonConfig for RmConfig {
    fn basics(&self) -> (&str, Liveness) {
        (&self.log_level, self.liveness)
    }

    fn check(&self) -> Result<(), Invalid> {
        if !self.address.contains(':') {
            return Err(("address", format!("{:?} is not host:port", self.address)));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(("heartbeat-interval", "must be above 0".into()));
        }
        if self.nm_expiry <= self.heartbeat_interval {
            return Err(("nm-expiry", "must be longer than heartbeat-interval".into()));
        }
        self.liveness.check()?;
        if self.max_allocation_mb == 0 || self.max_allocation_vcores == 0 {
            return Err((
                "max-allocation-mb",
                "maximum allocation must be above 0".into(),
            ));
        }
        if self.max_completed_applications == 0 {
            return Err(("max-completed-applications", "must be at least 1".into()));
        }
        if self.max_am_attempts == 0 {
            return Err(("max-am-attempts", "must be at least 1".into()));
        }
        if self.token_key_roll_interval < self.container_token_expiry {
            return Err((
                "token-key-roll-interval",
                format!(
                    "{} is shorter than container-token-expiry ({}): tokens would outlive their key",
                    format_duration(self.token_key_roll_interval),
                    format_duration(self.container_token_expiry)
                ),
            ));
        }
        if self.token_key_roll_interval.as_millis() <= self.nm_expiry.as_millis() * 3 / 2 {
            return Err((
                "token-key-roll-interval",
                format!(
                    "{} must be longer than 1.5 times nm-expiry ({}): a new key is sent to nodes that long before it signs",
                    format_duration(self.token_key_roll_interval),
                    format_duration(self.nm_expiry)
                ),
            ));
        }
        check_log_level(&self.log_level)?;
        check_web_address(&self.web_address, self.web_tls)?;
        if self.state_dir.as_os_str().is_empty() {
            return Err(("state-dir", "must not be empty".into()));
        }
        check_admin_acl(&self.admin_acl)?;
        if self.preemption_interval.is_zero()
            || self.preemption_interval > Duration::from_millis(250)
        {
            return Err((
                "preemption-interval",
                format!(
                    "{} is not within (0, 250ms]",
                    format_duration(self.preemption_interval)
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.maximum_am_resource_percent) {
            return Err((
                "maximum-am-resource-percent",
                format!(
                    "{} is not a fraction within 0..1 (as YARN: 0.1 is 10%)",
                    self.maximum_am_resource_percent
                ),
            ));
        }
        if self.scheduler == SchedulerType::Fifo && !self.queues.is_empty() {
            return Err((
                "queues",
                "queues need scheduler = \"capacity\" (the FIFO scheduler has one queue, default)"
                    .into(),
            ));
        }
        self.queue_tree().map_err(|e| ("queues", e.to_string()))?;
        self.check_ha()?;
        check_tls_files(&self.tls_files())
    }
}

impl RmConfig {
    /// Whether this RM is one of an HA pair (state in etcd).
    pub fn ha(&self) -> bool {
        !self.etcd_endpoints.is_empty()
    }

    fn check_ha(&self) -> Result<(), Invalid> {
        if self.ha() {
            crate::ha::etcd::Etcd::new(&self.etcd_endpoints, Duration::from_secs(1))
                .map_err(|e| ("etcd-endpoints", e.to_string()))?;
        }
        if !(Duration::from_secs(2)..=Duration::from_secs(60)).contains(&self.ha_lease_ttl) {
            return Err((
                "ha-lease-ttl",
                format!(
                    "{} is not within 2s..60s",
                    format_duration(self.ha_lease_ttl)
                ),
            ));
        }
        if !self.ha_prefix.starts_with('/') || self.ha_prefix.trim_end_matches('/').is_empty() {
            return Err((
                "ha-prefix",
                format!(
                    "{:?} is not an etcd key prefix like /spindle/rm",
                    self.ha_prefix
                ),
            ));
        }
        if let Some(a) = self.rm_addresses.iter().find(|a| !a.contains(':')) {
            return Err(("rm-addresses", format!("{a:?} is not host:port")));
        }
        if !self.rm_addresses.is_empty() && !self.ha() {
            return Err((
                "rm-addresses",
                "names an HA pair, but etcd-endpoints is empty".into(),
            ));
        }
        Ok(())
    }

    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles::new(&self.ca, &self.cert, &self.key)
    }

    /// The checked queue tree.
    pub fn queue_tree(&self) -> Result<QueueTree, QueueConfigError> {
        QueueTree::build(
            &self.queues,
            QueueDefaults {
                maximum_am_resource_percent: self.maximum_am_resource_percent,
                ..QueueDefaults::default()
            },
        )
    }

    /// The scheduler this config asks for.
    pub fn build_scheduler(&self) -> Result<Box<dyn Scheduler>, QueueConfigError> {
        Ok(match self.scheduler {
            SchedulerType::Fifo => Box::new(FifoScheduler::default()),
            SchedulerType::Capacity => Box::new(CapacityScheduler::new(self.queue_tree()?)),
        })
    }

    pub fn preemption_conf(&self) -> PreemptionConf {
        PreemptionConf {
            enabled: self.preemption && self.scheduler == SchedulerType::Capacity,
            wait_ms: self.preemption_wait.as_millis() as u64,
        }
    }

    pub fn max_allocation(&self) -> Resource {
        Resource::new(self.max_allocation_mb, self.max_allocation_vcores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daemon::config::{assert_config_basics, assert_refused};
    use std::path::Path;

    #[test]
    fn template_documents_every_key_and_errors_name_file_key_and_reason() {
        assert_config_basics::<RmConfig>(
            "resourcemanager.toml",
            "/etc/spindle/rm.toml",
            "max-allocation-mb",
            "nm-expiry",
        );
        assert_refused::<RmConfig>(
            "/etc/spindle/rm.toml",
            "admin-acl = \"root\"\n",
            "key `admin-acl`",
        );
    }

    /// A default config whose TLS files exist (in the returned temp dir).
    fn with_tls_files() -> (tempfile::TempDir, RmConfig) {
        let d = tempfile::tempdir().unwrap();
        for f in ["ca.pem", "rm.pem", "rm.key"] {
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        let c = RmConfig {
            ca: d.path().join("ca.pem"),
            cert: d.path().join("rm.pem"),
            key: d.path().join("rm.key"),
            ..RmConfig::default()
        };
        (d, c)
    }

    #[test]
    fn admin_acl_takes_user_names() {
        let (_d, mut c) = with_tls_files();
        c.admin_acl = vec!["root".into(), "ops-1".into()];
        c.validate(Path::new("rm.toml")).unwrap();
        c.admin_acl.push("../x".into());
        let e = c.validate(Path::new("rm.toml")).unwrap_err().to_string();
        assert!(e.contains("key `admin-acl`") && e.contains("../x"), "{e}");
    }

    #[test]
    fn token_keys_outlast_their_tokens_and_reach_nodes_before_they_sign() {
        let check = |roll: u64, expiry: u64, nm_expiry: u64| {
            RmConfig {
                token_key_roll_interval: Duration::from_secs(roll),
                container_token_expiry: Duration::from_secs(expiry),
                nm_expiry: Duration::from_secs(nm_expiry),
                ..RmConfig::default()
            }
            .validate(Path::new("rm.toml"))
            .unwrap_err()
            .to_string()
        };
        let e = check(300, 600, 60);
        assert!(
            e.contains("key `token-key-roll-interval`") && e.contains("container-token-expiry"),
            "{e}"
        );
        let e = check(900, 600, 600);
        assert!(
            e.contains("key `token-key-roll-interval`") && e.contains("1.5 times nm-expiry"),
            "{e}"
        );
        // Valid: the error is now about something else (the certificate files).
        assert!(!check(901, 600, 600).contains("token-key-roll-interval"));
    }

    #[test]
    fn ha_keys_are_checked() {
        let (_d, mut c) = with_tls_files();
        c.validate(Path::new("rm.toml")).unwrap();
        assert!(!c.ha());
        c.etcd_endpoints = vec!["127.0.0.1:2379".into()];
        let e = c.validate(Path::new("rm.toml")).unwrap_err().to_string();
        assert!(
            e.contains("key `etcd-endpoints`") && e.contains("http://"),
            "{e}"
        );
        c.etcd_endpoints = vec!["http://127.0.0.1:2379".into()];
        c.rm_addresses = vec!["a:1".into(), "b:2".into()];
        c.validate(Path::new("rm.toml")).unwrap();
        assert!(c.ha());
        c.ha_lease_ttl = Duration::from_millis(500);
        let e = c.validate(Path::new("rm.toml")).unwrap_err().to_string();
        assert!(e.contains("key `ha-lease-ttl`"), "{e}");
        c.ha_lease_ttl = Duration::from_secs(3);
        c.ha_prefix = "spindle".into();
        let e = c.validate(Path::new("rm.toml")).unwrap_err().to_string();
        assert!(e.contains("key `ha-prefix`"), "{e}");
        c.ha_prefix = "/spindle/rm".into();
        c.etcd_endpoints.clear();
        let e = c.validate(Path::new("rm.toml")).unwrap_err().to_string();
        assert!(e.contains("key `rm-addresses`"), "{e}");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let (_d, mut c) = with_tls_files();
        c.web_tls = false;
        let e = c.validate(Path::new("rm.toml")).unwrap_err().to_string();
        assert!(e.contains("key `web-tls`") && e.contains("loopback"), "{e}");
        c.web_address = "127.0.0.1:8088".into();
        c.validate(Path::new("rm.toml")).unwrap();
        c.web_address = "127.0.0.1".into();
        let e = c.validate(Path::new("rm.toml")).unwrap_err().to_string();
        assert!(e.contains("key `web-address`"), "{e}");
        c.web_address = String::new();
        c.validate(Path::new("rm.toml")).unwrap();
    }
}
