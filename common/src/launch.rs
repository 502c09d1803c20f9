//! Launch environments, typed. A container's environment is the contract between whoever
//! launches it and what runs in it; each contract is a struct here, written with `to_env`
//! and read back with `from_vars`/`from_env`, so every variable name lives in one place:
//!
//! - [`ContainerEnv`]: what the NM gives every container (YARN's names; the TLS files and
//!   the node's shuffle service are Spindle's);
//! - [`AmLaunch`]: what the RM adds for an application master;
//! - [`DriverLaunch`]: what spindle-submit gives the driver (the AM of a Spark-like app);
//! - [`ExecutorLaunch`]: what the driver gives each executor.
//!
//! Credentials (the AMRM token, the app secret) are not variables: a launcher puts them in
//! [`LaunchSpec::secrets`], the NM writes each to a file only the container's user can read
//! (in the directory [`ContainerEnv::secrets_dir`] names), and the readers take them from
//! there ([`Secrets`]), so no `/proc/PID/environ` shows them.

use crate::ids::{AppAttemptId, ApplicationId, ContainerId, NodeId};
use crate::protocol::{LaunchSpec, LocalResource};
use crate::resource::Resource;
use crate::tls::TlsFiles;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

/// A launch variable that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    #[error("{name} is not set: not running {within}")]
    Missing {
        name: &'static str,
        /// Where the variable would have come from, e.g. "in a Spindle container".
        within: &'static str,
    },
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("credential {name:?} is missing: not running {within}")]
    MissingSecret {
        name: &'static str,
        within: &'static str,
    },
}

/// Reads variables by name: the process environment, or a map in tests.
pub trait Vars {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process's own environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Vars for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Reads credentials by name: the files the NM wrote, or a map in tests.
pub trait Secrets {
    fn secret(&self, name: &str) -> Option<String>;
}

/// The container's credential files: one file per name in the directory
/// `SPINDLE_SECRETS_DIR` names (only the container's user can read them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsDir(pub PathBuf);

impl SecretsDir {
    /// The directory the NM named in this process's environment.
    pub fn from_env() -> Result<Self, EnvError> {
        required(&ProcessEnv, SECRETS_DIR, IN_CONTAINER).map(|d| Self(d.into()))
    }
}

impl Secrets for SecretsDir {
    fn secret(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(name)).ok()
    }
}

impl Secrets for BTreeMap<String, String> {
    fn secret(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

fn secret(
    secrets: &dyn Secrets,
    name: &'static str,
    within: &'static str,
) -> Result<String, EnvError> {
    secrets
        .secret(name)
        .ok_or(EnvError::MissingSecret { name, within })
}

fn required(vars: &dyn Vars, name: &'static str, within: &'static str) -> Result<String, EnvError> {
    vars.var(name).ok_or(EnvError::Missing { name, within })
}

fn parsed<T: FromStr>(
    vars: &dyn Vars,
    name: &'static str,
    within: &'static str,
) -> Result<T, EnvError>
where
    T::Err: std::fmt::Display,
{
    let value = required(vars, name, within)?;
    value.parse().map_err(|e: T::Err| EnvError::Invalid {
        name,
        reason: e.to_string(),
        value,
    })
}

pub use crate::resource::ExecutorMemory;

const IN_CONTAINER: &str = "in a Spindle container";
const IN_AM: &str = "as a Spindle application master";
const AS_DRIVER: &str = "as a driver: submit with spindle-submit";
const AS_EXECUTOR: &str = "as a Spindle executor";

const CONTAINER_ID: &str = "CONTAINER_ID";
const APPLICATION_ID: &str = "APPLICATION_ID";
const APP_ATTEMPT_ID: &str = "APP_ATTEMPT_ID";
const NM_HOST: &str = "NM_HOST";
const NM_PORT: &str = "NM_PORT";
const NM_ADDRESS: &str = "NM_ADDRESS";
/// The NM web server's base URL (`https://host:port`), for links to a container's logs
/// (YARN gives `NM_HTTP_PORT`; the scheme is the NM's to say). Unset without one.
const NM_WEB_URL: &str = "SPINDLE_NM_WEB_URL";
const NODE_ID: &str = "NODE_ID";
const USER: &str = "USER";
const HOME: &str = "HOME";
const PWD: &str = "PWD";
const LOG_DIRS: &str = "LOG_DIRS";
const LOCAL_DIRS: &str = "LOCAL_DIRS";
const CONTAINER_MEMORY_MB: &str = "CONTAINER_MEMORY_MB";
const CONTAINER_VCORES: &str = "CONTAINER_VCORES";
const TLS_CA: &str = "SPINDLE_TLS_CA";
const TLS_CERT: &str = "SPINDLE_TLS_CERT";
const TLS_KEY: &str = "SPINDLE_TLS_KEY";
const SHUFFLE_SERVICE: &str = "SPINDLE_SHUFFLE_SERVICE";
/// The directory of the container's credential files (see [`Secrets`]).
pub const SECRETS_DIR: &str = "SPINDLE_SECRETS_DIR";
const RM_ADDRESS: &str = "SPINDLE_RM_ADDRESS";
/// Every RM of an HA pair, comma-separated (unset without HA).
const RM_ADDRESSES: &str = "SPINDLE_RM_ADDRESSES";
/// The AMRM token's name among an AM's credentials ([`LaunchSpec::secrets`]).
pub const AMRM_TOKEN: &str = "amrm-token";
const AM_ALLOCATED_MS: &str = "SPINDLE_AM_ALLOCATED_MS";
/// Which side of a Spark-like application a process runs (`driver` or `executor`); unset:
/// run locally, in-process.
pub const ROLE: &str = "SPINDLE_ROLE";
/// A submission's own id, in its AM's environment (random, set by `spindle-submit`): a
/// submission sent again (its answer was lost to an RM restart) gets the app the first
/// one made, not a second app.
pub const SUBMISSION_ID: &str = "SPINDLE_SUBMISSION_ID";
const CLASS: &str = "SPINDLE_CLASS";
const APP_NAME: &str = "SPINDLE_APP_NAME";
const APP_BINARY: &str = "SPINDLE_APP_BINARY";
const SPARK_CONF: &str = "SPINDLE_SPARK_CONF";
const APP_FILES: &str = "SPINDLE_APP_FILES";
const DRIVER_ADDRESS: &str = "SPINDLE_DRIVER_ADDRESS";
/// The app secret's name among a container's credentials ([`LaunchSpec::secrets`]).
pub const APP_SECRET: &str = "app-secret";
const EXECUTOR_ID: &str = "SPINDLE_EXECUTOR_ID";
const EXECUTOR_CORES: &str = "SPINDLE_EXECUTOR_CORES";
const APP_ID: &str = "SPINDLE_APP_ID";
const SHUFFLE_SERVICE_ENABLED: &str = "SPINDLE_SHUFFLE_SERVICE_ENABLED";
const MEMORY_POOL_BYTES: &str = "SPINDLE_MEMORY_POOL_BYTES";
const FORCE_SPILL_ELEMENTS: &str = "SPINDLE_FORCE_SPILL_ELEMENTS";
const MAX_BYTES_IN_FLIGHT: &str = "SPINDLE_MAX_BYTES_IN_FLIGHT";

/// What every container gets from the NM that starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEnv {
    pub container_id: ContainerId,
    pub nm_host: String,
    pub nm_port: u16,
    pub node_id: NodeId,
    pub user: String,
    /// The working directory (also `HOME` and `PWD`).
    pub work_dir: PathBuf,
    /// Where its stdout and stderr go.
    pub log_dir: PathBuf,
    /// The app's directory on this node (shuffle files, spills).
    pub local_dir: PathBuf,
    pub resource: Resource,
    /// The identity containers present: it carries no rights by itself.
    pub tls: TlsFiles,
    /// `host:port` of this node's shuffle service, if it has one.
    pub shuffle_service: Option<String>,
    /// Where the NM wrote the container's credentials ([`LaunchSpec::secrets`]), one
    /// file each, readable only by the container's user.
    pub secrets_dir: PathBuf,
    /// The NM web server's base URL (`https://host:port`), if it has one.
    pub nm_web_url: Option<String>,
}

impl ContainerEnv {
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let path = |p: &PathBuf| p.display().to_string();
        let mut env = vec![
            (CONTAINER_ID, self.container_id.to_string()),
            (APPLICATION_ID, self.container_id.app().to_string()),
            (APP_ATTEMPT_ID, self.container_id.attempt.to_string()),
            (NM_HOST, self.nm_host.clone()),
            (NM_PORT, self.nm_port.to_string()),
            (NM_ADDRESS, format!("{}:{}", self.nm_host, self.nm_port)),
            (NODE_ID, self.node_id.0.clone()),
            (USER, self.user.clone()),
            (HOME, path(&self.work_dir)),
            (PWD, path(&self.work_dir)),
            (LOG_DIRS, path(&self.log_dir)),
            (LOCAL_DIRS, path(&self.local_dir)),
            (CONTAINER_MEMORY_MB, self.resource.memory_mb.to_string()),
            (CONTAINER_VCORES, self.resource.vcores.to_string()),
            (TLS_CA, path(&self.tls.ca)),
            (TLS_CERT, path(&self.tls.cert)),
            (TLS_KEY, path(&self.tls.key)),
            (SECRETS_DIR, path(&self.secrets_dir)),
        ];
        if let Some(s) = &self.shuffle_service {
            env.push((SHUFFLE_SERVICE, s.clone()));
        }
        if let Some(u) = &self.nm_web_url {
            env.push((NM_WEB_URL, u.clone()));
        }
        env
    }

    /// Links to this container's log files on its node's web server (YARN's
    /// `/node/containerlogs/{container}/{user}/{file}`), by file name: what Spark on
    /// YARN gives as an executor's `logUrlMap`. Empty without a node web server.
    pub fn log_urls(&self, files: &[&str]) -> BTreeMap<String, String> {
        let Some(base) = &self.nm_web_url else {
            return Default::default();
        };
        files
            .iter()
            .map(|f| {
                (
                    (*f).to_string(),
                    format!(
                        "{}/node/containerlogs/{}/{}/{f}",
                        base.trim_end_matches('/'),
                        self.container_id,
                        self.user
                    ),
                )
            })
            .collect()
    }

    pub fn from_vars(vars: &dyn Vars) -> Result<Self, EnvError> {
        let w = IN_CONTAINER;
        let work_dir: PathBuf = required(vars, PWD, w)?.into();
        Ok(Self {
            container_id: parsed(vars, CONTAINER_ID, w)?,
            nm_host: vars.var(NM_HOST).unwrap_or_else(|| "localhost".into()),
            nm_port: parsed(vars, NM_PORT, w)?,
            node_id: NodeId(vars.var(NODE_ID).unwrap_or_default()),
            user: vars.var(USER).unwrap_or_default(),
            log_dir: required(vars, LOG_DIRS, w)?.into(),
            local_dir: required(vars, LOCAL_DIRS, w)?.into(),
            resource: Resource::new(
                parsed(vars, CONTAINER_MEMORY_MB, w)?,
                parsed(vars, CONTAINER_VCORES, w)?,
            ),
            tls: TlsFiles {
                ca: required(vars, TLS_CA, w)?.into(),
                cert: required(vars, TLS_CERT, w)?.into(),
                key: required(vars, TLS_KEY, w)?.into(),
            },
            shuffle_service: vars.var(SHUFFLE_SERVICE),
            nm_web_url: vars.var(NM_WEB_URL).filter(|u| !u.is_empty()),
            secrets_dir: required(vars, SECRETS_DIR, w)?.into(),
            work_dir,
        })
    }

    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_vars(&ProcessEnv)
    }

    /// The attempt this container belongs to.
    pub fn attempt(&self) -> AppAttemptId {
        self.container_id.attempt
    }
}

/// What the RM adds to an application master's launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmLaunch {
    /// The RM's address for the AM protocol (the one that launched the AM).
    pub rm_address: String,
    /// With RM high availability, every RM of the pair (the AM fails over between
    /// them); empty without.
    pub rm_addresses: Vec<String>,
    /// The attempt's AMRM token (every AM call presents it): a credential, not a variable.
    pub amrm_token: String,
    /// When the RM allocated the AM's container (wall clock, ms since the epoch): the
    /// AM's event log counts the container from then.
    pub allocated_wall_ms: u64,
    /// The application's secret, made by the RM at submission: the AM gives it to its
    /// executors, and NMs register it with their shuffle service. A credential: it goes in
    /// [`LaunchSpec::secrets`](crate::protocol::LaunchSpec::secrets) (see [`Self::secrets`]).
    pub app_secret: String,
}

impl AmLaunch {
    /// The variables (the token is not among them: see [`Self::add_to`]).
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            (RM_ADDRESS, self.rm_address.clone()),
            (AM_ALLOCATED_MS, self.allocated_wall_ms.to_string()),
        ];
        if !self.rm_addresses.is_empty() {
            env.push((RM_ADDRESSES, self.rm_addresses.join(",")));
        }
        env
    }

    /// The addresses to try, the launching RM first.
    pub fn addresses(&self) -> Vec<String> {
        let mut all = vec![self.rm_address.clone()];
        all.extend(
            self.rm_addresses
                .iter()
                .filter(|a| **a != self.rm_address)
                .cloned(),
        );
        all
    }

    /// The credentials, by name.
    pub fn secrets(&self) -> Vec<(&'static str, String)> {
        vec![
            (AMRM_TOKEN, self.amrm_token.clone()),
            (APP_SECRET, self.app_secret.clone()),
        ]
    }

    /// Adds the variables and the credentials to an AM's launch.
    pub fn add_to(&self, launch: &mut LaunchSpec) {
        extend(&mut launch.env, self.to_env());
        extend(&mut launch.secrets, self.secrets());
    }

    pub fn from_vars(vars: &dyn Vars, secrets: &dyn Secrets) -> Result<Self, EnvError> {
        Ok(Self {
            rm_address: required(vars, RM_ADDRESS, IN_AM)?,
            rm_addresses: vars
                .var(RM_ADDRESSES)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            amrm_token: secret(secrets, AMRM_TOKEN, IN_AM)?,
            // Optional: a hand-made launch may not say.
            allocated_wall_ms: vars
                .var(AM_ALLOCATED_MS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            app_secret: secret(secrets, APP_SECRET, IN_AM)?,
        })
    }
}

/// What spindle-submit gives the driver (runs as the application master).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverLaunch {
    /// `--class`, when given (a built-in example of the stock binary).
    pub class: Option<String>,
    pub app_name: String,
    /// The staged application binary (executors are launched from it too).
    pub binary: LocalResource,
    /// Every effective Spark property, as one JSON object of strings.
    pub spark_conf_json: String,
    /// Staged files every executor gets too, beside the binary (a Python
    /// application's `--py-files`).
    pub files: Vec<LocalResource>,
}

/// `name:sha256:size`, a staged file's form in a variable.
fn resource_value(r: &LocalResource) -> String {
    format!("{}:{}:{}", r.name, r.sha256, r.size)
}

fn parse_resource(
    name: &'static str,
    value: &str,
    executable: bool,
) -> Result<LocalResource, EnvError> {
    let mut it = value.rsplitn(3, ':');
    let (size, sha256, file) = (it.next(), it.next(), it.next());
    match (file, sha256, size.map(str::parse::<u64>)) {
        (Some(file), Some(sha256), Some(Ok(size))) => Ok(LocalResource {
            name: file.to_string(),
            sha256: sha256.to_string(),
            size,
            executable,
        }),
        _ => Err(EnvError::Invalid {
            name,
            value: value.to_string(),
            reason: "not name:sha256:size".into(),
        }),
    }
}

impl DriverLaunch {
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let b = &self.binary;
        let mut env = vec![
            (ROLE, "driver".to_string()),
            (APP_NAME, self.app_name.clone()),
            (APP_BINARY, resource_value(b)),
            (SPARK_CONF, self.spark_conf_json.clone()),
        ];
        if let Some(c) = &self.class {
            env.push((CLASS, c.clone()));
        }
        if !self.files.is_empty() {
            let files: Vec<String> = self.files.iter().map(resource_value).collect();
            env.push((APP_FILES, files.join(",")));
        }
        env
    }

    pub fn from_vars(vars: &dyn Vars) -> Result<Self, EnvError> {
        let value = required(vars, APP_BINARY, AS_DRIVER)?;
        let binary = parse_resource(APP_BINARY, &value, true)?;
        let files = vars
            .var(APP_FILES)
            .unwrap_or_default()
            .split(',')
            .filter(|f| !f.is_empty())
            .map(|f| parse_resource(APP_FILES, f, false))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            files,
            class: vars.var(CLASS),
            app_name: vars.var(APP_NAME).unwrap_or_else(|| binary.name.clone()),
            spark_conf_json: vars.var(SPARK_CONF).unwrap_or_else(|| "{}".into()),
            binary,
        })
    }

    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_vars(&ProcessEnv)
    }
}

/// What the driver gives each executor it launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorLaunch {
    /// Where the driver's executor service listens.
    pub driver_address: String,
    /// The app's secret: executors present it to the driver and the shuffle service.
    pub app_secret: String,
    pub executor_id: String,
    pub executor_cores: u32,
    pub app_id: ApplicationId,
    /// `spark.shuffle.service.enabled`: map output is served by the node's service.
    pub shuffle_service_enabled: bool,
    /// The memory its tasks' shuffles and aggregations work within.
    pub memory: ExecutorMemory,
}

impl ExecutorLaunch {
    /// The variables (the app secret is not among them: see [`Self::add_to`]).
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            (ROLE, "executor".to_string()),
            (DRIVER_ADDRESS, self.driver_address.clone()),
            (EXECUTOR_ID, self.executor_id.clone()),
            (EXECUTOR_CORES, self.executor_cores.to_string()),
            (APP_ID, self.app_id.to_string()),
            (
                SHUFFLE_SERVICE_ENABLED,
                self.shuffle_service_enabled.to_string(),
            ),
            (
                MEMORY_POOL_BYTES,
                self.memory.unified_pool_bytes.to_string(),
            ),
            (
                MAX_BYTES_IN_FLIGHT,
                self.memory.max_bytes_in_flight.to_string(),
            ),
        ];
        if let Some(n) = self.memory.force_spill_elements {
            env.push((FORCE_SPILL_ELEMENTS, n.to_string()));
        }
        env
    }

    /// The credentials, by name.
    pub fn secrets(&self) -> Vec<(&'static str, String)> {
        vec![(APP_SECRET, self.app_secret.clone())]
    }

    /// Adds the variables and the credentials to an executor's launch.
    pub fn add_to(&self, launch: &mut LaunchSpec) {
        extend(&mut launch.env, self.to_env());
        extend(&mut launch.secrets, self.secrets());
    }

    pub fn from_vars(vars: &dyn Vars, secrets: &dyn Secrets) -> Result<Self, EnvError> {
        let w = AS_EXECUTOR;
        Ok(Self {
            driver_address: required(vars, DRIVER_ADDRESS, w)?,
            app_secret: secret(secrets, APP_SECRET, w)?,
            executor_id: required(vars, EXECUTOR_ID, w)?,
            executor_cores: parsed(vars, EXECUTOR_CORES, w)?,
            app_id: parsed(vars, APP_ID, w)?,
            shuffle_service_enabled: vars.var(SHUFFLE_SERVICE_ENABLED).as_deref() == Some("true"),
            memory: ExecutorMemory {
                unified_pool_bytes: parsed(vars, MEMORY_POOL_BYTES, w)?,
                force_spill_elements: match vars.var(FORCE_SPILL_ELEMENTS) {
                    Some(_) => Some(parsed(vars, FORCE_SPILL_ELEMENTS, w)?),
                    None => None,
                },
                max_bytes_in_flight: parsed(vars, MAX_BYTES_IN_FLIGHT, w)?,
            },
        })
    }

    /// From this process's environment and the credential files the NM wrote.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_vars(&ProcessEnv, &SecretsDir::from_env()?)
    }
}

/// The side of a Spark-like application this process runs, from [`ROLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Driver,
    Executor,
    /// Client deploy mode's thin AM (Spark's ExecutorLauncher): holds the
    /// application for a driver that runs elsewhere ([`LauncherLaunch`]).
    Launcher,
}

impl Role {
    /// `None` when unset (run locally); an error for any other value.
    pub fn from_env() -> Result<Option<Self>, EnvError> {
        match std::env::var(ROLE).ok().as_deref() {
            None => Ok(None),
            Some("driver") => Ok(Some(Self::Driver)),
            Some("executor") => Ok(Some(Self::Executor)),
            Some("launcher") => Ok(Some(Self::Launcher)),
            Some(other) => Err(EnvError::Invalid {
                name: ROLE,
                value: other.to_string(),
                reason: "not driver, executor or launcher".into(),
            }),
        }
    }
}

/// What a client-mode driver gives its launcher (the application's AM):
/// where the driver is and the token that proves the launcher is the one
/// it submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LauncherLaunch {
    pub driver_address: String,
    pub token: String,
}

/// The launcher token's credential file.
pub const LAUNCHER_TOKEN: &str = "launcher-token";

impl LauncherLaunch {
    /// Adds the variables and the token (as a credential file) to the AM's launch.
    pub fn add_to(&self, launch: &mut LaunchSpec) {
        extend(
            &mut launch.env,
            vec![
                (ROLE, "launcher".to_string()),
                (DRIVER_ADDRESS, self.driver_address.clone()),
            ],
        );
        extend(
            &mut launch.secrets,
            vec![(LAUNCHER_TOKEN, self.token.clone())],
        );
    }

    pub fn from_vars(vars: &dyn Vars, secrets: &dyn Secrets) -> Result<Self, EnvError> {
        const AS_LAUNCHER: &str = "as a client-mode launcher";
        Ok(Self {
            driver_address: required(vars, DRIVER_ADDRESS, AS_LAUNCHER)?,
            token: secret(secrets, LAUNCHER_TOKEN, AS_LAUNCHER)?,
        })
    }

    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_vars(&ProcessEnv, &SecretsDir::from_env()?)
    }
}

/// Adds `env` to a launch context's variables.
pub fn extend(vars: &mut BTreeMap<String, String>, env: Vec<(&'static str, String)>) {
    vars.extend(env.into_iter().map(|(k, v)| (k.to_string(), v)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(env: Vec<(&'static str, String)>) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        extend(&mut m, env);
        m
    }

    #[test]
    fn every_launch_environment_round_trips() {
        let container_id: ContainerId = "container_1_0001_01_000002".parse().unwrap();
        let c = ContainerEnv {
            container_id,
            nm_host: "h".into(),
            nm_port: 8041,
            node_id: NodeId("h:8041".into()),
            user: "alice".into(),
            work_dir: "/l/usercache/alice/appcache/a/c".into(),
            log_dir: "/logs/a/c".into(),
            local_dir: "/l/usercache/alice/appcache/a".into(),
            resource: Resource::new(1408, 1),
            tls: TlsFiles::new("ca".as_ref(), "c.pem".as_ref(), "c.key".as_ref()),
            shuffle_service: Some("h:7337".into()),
            secrets_dir: "/l/usercache/alice/appcache/a/c/.secrets".into(),
            nm_web_url: Some("https://h:8042".into()),
        };
        let vars = map(c.to_env());
        assert_eq!(vars["NM_ADDRESS"], "h:8041");
        assert_eq!(
            c.log_urls(&["stdout"])["stdout"],
            "https://h:8042/node/containerlogs/container_1_0001_01_000002/alice/stdout"
        );
        assert_eq!(vars["APPLICATION_ID"], "application_1_0001");
        assert_eq!(ContainerEnv::from_vars(&vars).unwrap(), c);
        assert_eq!(c.attempt().to_string(), "appattempt_1_0001_000001");

        let am = AmLaunch {
            rm_address: "rm:8032".into(),
            rm_addresses: vec![],
            amrm_token: "t".into(),
            allocated_wall_ms: 5,
            app_secret: "s".into(),
        };
        let mut spec = LaunchSpec::default();
        am.add_to(&mut spec);
        assert_eq!(AmLaunch::from_vars(&spec.env, &spec.secrets).unwrap(), am);
        assert_eq!(am.addresses(), vec!["rm:8032".to_string()]);
        let ha = AmLaunch {
            rm_address: "rm2:8032".into(),
            rm_addresses: vec!["rm1:8032".into(), "rm2:8032".into()],
            ..am.clone()
        };
        let mut spec = LaunchSpec::default();
        ha.add_to(&mut spec);
        let back = AmLaunch::from_vars(&spec.env, &spec.secrets).unwrap();
        assert_eq!(back, ha);
        assert_eq!(back.addresses(), vec!["rm2:8032", "rm1:8032"]);
        assert_eq!(spec.secrets[AMRM_TOKEN], "t");
        assert_eq!(spec.secrets[APP_SECRET], "s");
        assert!(
            !spec.env.values().any(|v| v == "t" || v == "s"),
            "the token is no variable: {:?}",
            spec.env
        );

        let d = DriverLaunch {
            class: Some("SparkPi".into()),
            app_name: "pi".into(),
            binary: LocalResource {
                name: "appmaster".into(),
                sha256: "ab".repeat(32),
                size: 7,
                executable: true,
            },
            spark_conf_json: "{\"spark.a\":\"1\"}".into(),
            files: Vec::new(),
        };
        let vars = map(d.to_env());
        assert_eq!(vars[ROLE], "driver");
        assert!(!vars.contains_key(APP_FILES));
        assert_eq!(DriverLaunch::from_vars(&vars).unwrap(), d);
        let with_files = DriverLaunch {
            files: vec![
                LocalResource {
                    name: "lib.zip".into(),
                    sha256: "cd".repeat(32),
                    size: 9,
                    executable: false,
                },
                LocalResource {
                    name: "util.py".into(),
                    sha256: "ef".repeat(32),
                    size: 3,
                    executable: false,
                },
            ],
            ..d.clone()
        };
        let vars = map(with_files.to_env());
        assert_eq!(DriverLaunch::from_vars(&vars).unwrap(), with_files);

        let l = LauncherLaunch {
            driver_address: "client:7077".into(),
            token: "tok".into(),
        };
        let mut spec = LaunchSpec::default();
        l.add_to(&mut spec);
        assert_eq!(spec.env[ROLE], "launcher");
        assert!(
            !spec.env.values().any(|v| v == "tok"),
            "the token is no variable"
        );
        assert_eq!(
            LauncherLaunch::from_vars(&spec.env, &spec.secrets).unwrap(),
            l
        );

        let e = ExecutorLaunch {
            driver_address: "h:1".into(),
            app_secret: "s".into(),
            executor_id: "3".into(),
            executor_cores: 2,
            app_id: container_id.app(),
            shuffle_service_enabled: true,
            memory: ExecutorMemory {
                unified_pool_bytes: 127 << 20,
                force_spill_elements: Some(1000),
                max_bytes_in_flight: 48 << 20,
            },
        };
        let mut spec = LaunchSpec::default();
        e.add_to(&mut spec);
        assert_eq!(spec.env[ROLE], "executor");
        assert_eq!(spec.secrets[APP_SECRET], "s");
        assert!(!spec.env.values().any(|v| v == "s"), "{:?}", spec.env);
        assert_eq!(
            ExecutorLaunch::from_vars(&spec.env, &spec.secrets).unwrap(),
            e
        );
    }

    #[test]
    fn secrets_are_read_from_their_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(APP_SECRET), "s3cr3t").unwrap();
        let dir = SecretsDir(d.path().to_path_buf());
        assert_eq!(dir.secret(APP_SECRET).as_deref(), Some("s3cr3t"));
        assert_eq!(dir.secret(AMRM_TOKEN), None);
    }

    #[test]
    fn missing_and_bad_variables_are_named() {
        let empty = BTreeMap::new();
        let e = ExecutorLaunch::from_vars(&empty, &empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SPINDLE_DRIVER_ADDRESS is not set: not running as a Spindle executor"
        );
        let vars = map(vec![(RM_ADDRESS, "rm:1".into())]);
        let e = AmLaunch::from_vars(&vars, &empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "credential \"amrm-token\" is missing: not running as a Spindle application master"
        );
        let mut vars = BTreeMap::new();
        vars.insert(APP_BINARY.to_string(), "nonsense".to_string());
        let e = DriverLaunch::from_vars(&vars).unwrap_err();
        assert!(e.to_string().contains("SPINDLE_APP_BINARY"), "{e}");
        assert!(e.to_string().contains("name:sha256:size"), "{e}");
    }
}
