//! How this node isolates its containers, decided once at start: the account each
//! one runs as ([`crate::user`]) and its cgroup ([`crate::cgroups`]), or RSS polling of
//! process groups ([`crate::monitor`]) where cgroups cannot be written. The NM logs the
//! outcome and reports it to the RM (`spindle node list`, REST `nodes`).

use crate::cgroups::{self, Cgroups, Want};
use crate::config::{CgroupsSetting, NmConfig};
use crate::user::{UserPolicy, Users};
use common::protocol::{self, IsolationMode};
use common::Resource;

pub struct Isolation {
    pub users: Users,
    /// `None`: RSS polling.
    pub cgroups: Option<Cgroups>,
}

impl Isolation {
    /// Sets up what `config` asks for on a node listening on `port` and offering
    /// `capability`. Fails only when `cgroups = "v1"` or `"v2"` cannot be had.
    pub fn setup(config: &NmConfig, port: u16, capability: Resource) -> Result<Self, String> {
        let users = Users::new(UserPolicy {
            refuse_unknown: config.refuse_unknown_users,
            min_uid: config.min_user_id,
        })
        .mapping(config.user_map.clone());
        let want = match config.cgroups {
            CgroupsSetting::Off => None,
            CgroupsSetting::Auto => Some(Want::Auto),
            CgroupsSetting::V1 => Some(Want::V1),
            CgroupsSetting::V2 => Some(Want::V2),
        };
        let policy = cgroups::Policy {
            enforce_memory: config.pmem_check,
            strict_cpu: config.cpu_strict_quota,
            node_vcores: capability.vcores,
            host_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        };
        let cgroups = match want {
            None => None,
            Some(w) => match Cgroups::setup(w, &config.cgroup_hierarchy, port, policy) {
                Ok(c) => Some(c),
                Err(why) if w == Want::Auto => {
                    tracing::info!(reason = %why, "cgroups not usable here: memory is enforced by polling process groups' resident memory");
                    None
                }
                Err(why) => return Err(format!("cgroups = {:?}: {why}", config.cgroups)),
            },
        };
        Ok(Self { users, cgroups })
    }

    /// What the node reports to the RM.
    pub fn report(&self) -> protocol::Isolation {
        protocol::Isolation {
            mode: self
                .cgroups
                .as_ref()
                .map_or(IsolationMode::RssPolling, Cgroups::mode),
            run_as_user: self.users.switching(),
        }
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let mode = self.report().mode;
        let place = self
            .cgroups
            .as_ref()
            .map(|c| {
                let dirs: Vec<String> = c
                    .nm_dirs()
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                format!(" in {}", dirs.join(" and "))
            })
            .unwrap_or_default();
        let who = if self.users.switching() {
            "containers run as their application's user"
        } else {
            "containers run as the node manager's user (it is not root)"
        };
        format!("{mode}{place}; {who}")
    }
}
