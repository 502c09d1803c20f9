//! The node manager's configuration (`/etc/spindle/nodemanager.toml`).
//! Every key has a default; unknown keys are refused.

use common::configfile;
use common::duration::human;
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
pub struct NmConfig {
    /// QUIC address for container management (`spindle-nm/1`).
    pub address: String,
    /// Host name this node advertises (node id `host:port`); empty: the bound IP,
    /// or the host name when bound to all interfaces.
    pub hostname: String,
    /// The resource manager's QUIC address (one RM).
    pub rm_address: String,
    /// Every RM of an HA pair (`["host:port", ...]`): the node talks to the active one
    /// and fails over. Empty: `rm-address`.
    pub rm_addresses: Vec<String>,
    /// `keep-alive-interval` and `idle-timeout`: how fast a dead peer is noticed.
    #[serde(flatten)]
    pub liveness: Liveness,
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
    /// The node is unhealthy (no containers are placed on it) while `local-dir` or
    /// `log-dir` is on a file system more than this full, or cannot be written.
    pub max_disk_utilization_percent: f64,
    /// How often those dirs are checked.
    #[serde(with = "human")]
    pub disk_check_interval: Duration,
    /// Host the shuffle service in this process (aux service); otherwise a
    /// standalone one at `shuffle-service-address` is used (none when empty).
    pub shuffle_service_enabled: bool,
    /// The shuffle service's QUIC address; port 0 picks a free port (aux mode).
    pub shuffle_service_address: String,
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
    /// Work-preserving restart (YARN's NM recovery): containers outlive the NM process,
    /// which records them in `local-dir/nm-recovery` and takes them back when it starts
    /// again; a SIGTERM stops the NM without stopping its containers. Off: containers
    /// die with the NM and a SIGTERM stops them.
    pub recovery: bool,
    /// With `recovery`, the program that runs each container and records its exit
    /// status; empty: this NM's own binary (`--container-launcher`).
    pub launcher: PathBuf,
    /// Containers in cgroups: `auto` (v2 when the unified hierarchy has the memory and
    /// cpu controllers, else v1 `memory` and `cpu`, else RSS polling), `v2` or `v1`
    /// (that one or refuse to start), `off` (RSS polling).
    pub cgroups: CgroupsSetting,
    /// The group under each hierarchy's root that holds this node's containers
    /// (`<hierarchy>/nm-<port>-<pid>/<container>`; YARN's `cgroups.hierarchy`).
    pub cgroup_hierarchy: String,
    /// Cap each container's CPU time at its share of the host's cores (CFS quota),
    /// besides weighting it by vcores.
    pub cpu_strict_quota: bool,
    /// When the NM runs as root, containers run as their app's user; a user with no
    /// local account runs as `nobody`, or, with this set, is refused.
    pub refuse_unknown_users: bool,
    /// Accounts below this uid (root, system accounts such as the daemons' own) never
    /// run containers: such a user counts as one with no account (YARN's `min.user.id`).
    pub min_user_id: u32,
    /// Cluster users whose containers run as a named local account instead of their
    /// own (Hadoop's `auth_to_local` idea, as a table): `{ spindle = "root" }`. The
    /// operator's choice, so `min-user-id` does not apply to the target; a target with
    /// no account here refuses the launch.
    pub user_map: BTreeMap<String, String>,
    /// Log level filter (tracing syntax).
    pub log_level: String,
    /// TCP address of the web server (Prometheus /metrics, container logs
    /// under /node/containerlogs); port 0 picks a free one; empty: none.
    pub web_address: String,
    /// Serve it over HTTPS with `cert`/`key`; false: plain HTTP, allowed
    /// only on a loopback address.
    pub web_tls: bool,
    /// Users who may read every container's status and logs over `spindle-nm/1`, besides
    /// each application's owner (and the RM, and holders of the app's container tokens);
    /// `*` is every user.
    pub admin_acl: Vec<String>,
    /// Whether anonymous clients may read `/` and `/metrics` (log pages always need a
    /// user who may view the app); unset: yes on a loopback `web-address`, no elsewhere.
    pub web_anonymous_read: daemon::https::AnonymousRead,
}

impl Default for NmConfig {
    fn default() -> Self {
        Self {
            address: "0.0.0.0:8041".into(),
            hostname: String::new(),
            rm_address: "localhost:8032".into(),
            rm_addresses: Vec::new(),
            liveness: Liveness::default(),
            memory_mb: 8192,
            vcores: 8,
            detect_resources: false,
            local_dir: "/var/lib/spindle/nodemanager".into(),
            log_dir: "/var/log/spindle/containers".into(),
            max_disk_utilization_percent: 90.0,
            disk_check_interval: Duration::from_secs(5),
            shuffle_service_enabled: true,
            shuffle_service_address: "0.0.0.0:7337".into(),
            ca: "/etc/spindle/certs/ca.pem".into(),
            cert: "/etc/spindle/certs/node.pem".into(),
            key: "/etc/spindle/certs/node.key".into(),
            container_cert: "/etc/spindle/certs/container.pem".into(),
            container_key: "/etc/spindle/certs/container.key".into(),
            pmem_check: true,
            monitor_interval: Duration::from_millis(250),
            kill_grace: Duration::from_millis(250),
            recovery: false,
            launcher: PathBuf::new(),
            cgroups: CgroupsSetting::Auto,
            cgroup_hierarchy: "spindle".into(),
            cpu_strict_quota: false,
            refuse_unknown_users: false,
            min_user_id: 1000,
            user_map: BTreeMap::new(),
            log_level: "info".into(),
            web_address: "0.0.0.0:8042".into(),
            web_tls: true,
            admin_acl: Vec::new(),
            web_anonymous_read: daemon::https::AnonymousRead::Auto,
        }
    }
}

pub use common::configfile::ConfigError;

/// The `cgroups` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupsSetting {
    /// The first of v2, v1 and RSS polling that works here.
    Auto,
    V2,
    V1,
    /// RSS polling.
    Off,
}

impl DaemonConfig for NmConfig {
    fn basics(&self) -> (&str, Liveness) {
        (&self.log_level, self.liveness)
    }

    fn check(&self) -> Result<(), Invalid> {
        let rms = self.rm_addresses.iter().map(|a| ("rm-addresses", a));
        for (key, v) in [("address", &self.address), ("rm-address", &self.rm_address)]
            .into_iter()
            .chain(rms)
        {
            if !v.contains(':') {
                return Err((key, format!("{v:?} is not host:port")));
            }
        }
        let shuffle = &self.shuffle_service_address;
        let standalone_off = !self.shuffle_service_enabled && shuffle.is_empty();
        if !standalone_off
            && shuffle
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return Err((
                "shuffle-service-address",
                format!("{shuffle:?} is not host:port"),
            ));
        }
        if !self.detect_resources && (self.memory_mb == 0 || self.vcores == 0) {
            return Err(("memory-mb", "memory-mb and vcores must be above 0".into()));
        }
        self.liveness.check()?;
        check_log_level(&self.log_level)?;
        check_admin_acl(&self.admin_acl)?;
        for (from, to) in &self.user_map {
            for name in [from, to] {
                common::identity::check_user_name(name)
                    .map_err(|e| ("user-map", format!("{from:?} = {to:?}: {e}")))?;
            }
        }
        check_web_address(&self.web_address, self.web_tls)?;
        let max = self.max_disk_utilization_percent;
        if !(max > 0.0 && max <= 100.0) {
            return Err((
                "max-disk-utilization-percent",
                format!("{max} is not a percentage above 0 and at most 100"),
            ));
        }
        if self.disk_check_interval.is_zero() {
            return Err(("disk-check-interval", "must be above 0".into()));
        }
        if self.monitor_interval.is_zero() {
            return Err(("monitor-interval", "must be above 0".into()));
        }
        let h = &self.cgroup_hierarchy;
        if h.is_empty() || h.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return Err((
                "cgroup-hierarchy",
                format!("{h:?} is not a relative path of plain names"),
            ));
        }
        check_tls_files(&self.tls_files())?;
        for (key, p) in [
            ("container-cert", &self.container_cert),
            ("container-key", &self.container_key),
        ] {
            configfile::readable_file(p).map_err(|reason| (key, reason))?;
        }
        Ok(())
    }
}

impl NmConfig {
    /// The RMs to talk to: `rm-addresses`, else `rm-address`.
    pub fn rms(&self) -> Vec<String> {
        common::failover::rm_list(&self.rm_address, &self.rm_addresses)
    }

    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles::new(&self.ca, &self.cert, &self.key)
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

#[cfg(test)]
mod tests {
    use super::*;
    use daemon::config::assert_config_basics;

    #[test]
    fn template_documents_every_key_and_errors_name_file_key_and_reason() {
        assert_config_basics::<NmConfig>(
            "nodemanager.toml",
            "/etc/spindle/nm.toml",
            "memory-mb",
            "kill-grace",
        );
    }
}
