//! Everything spindle-submit decides before it talks to the cluster: the effective Spark
//! properties, their validation, the containers, and the AM's launch (the env contract with
//! the driver). Nothing here touches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::launch::DriverLaunch;
use common::protocol::{AppAcls, AppSubmission, LaunchSpec, LocalResource};
use common::{ApplicationId, Resource};
use thiserror::Error;

use super::args::{check_deploy_mode, parse_master, ArgError, SubmitArgs};
use am_core::sparkconf::{keys, SparkConf, SparkConfError};

/// The application type spindle-submit submits.
pub const APP_TYPE: &str = "SPARK";

/// Why a submission was refused before anything was sent.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A bad command line.
    #[error(transparent)]
    Args(#[from] ArgError),
    /// A bad property, or an unreadable properties file.
    #[error(transparent)]
    Conf(#[from] SparkConfError),
    /// The application binary is missing or not a file.
    #[error("application binary {path}: {reason}")]
    Binary {
        /// As given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The effective properties: built-in < `conf_dir/spindle-defaults.conf` <
/// `--properties-file` < `--conf` < dedicated flags. Returns the properties and the non-Spark
/// keys that were dropped (spark-submit warns about and ignores them).
pub fn effective_conf(
    args: &SubmitArgs,
    conf_dir: Option<&Path>,
) -> Result<(SparkConf, Vec<String>), SparkConfError> {
    let mut conf =
        super::defaults::load_layered(conf_dir, args.properties_file.as_deref(), &args.conf)?;
    for (k, v) in args.flag_properties() {
        conf.set(k, v);
    }
    let dropped = conf.retain_spark_keys();
    Ok((conf, dropped))
}

/// The RM address override named by the effective `spark.master`.
pub fn rm_address_override(conf: &SparkConf) -> Result<Option<String>, ArgError> {
    parse_master(conf.master())
}

/// The application's ACLs as Spark on YARN gives them to YARN: viewers are
/// `spark.admin.acls` and `spark.ui.view.acls`, modifiers `spark.admin.acls` and
/// `spark.modify.acls` (each with its `.groups` form; the owner is implied), and the
/// application is private to them when `spark.acls.enable` is set.
pub fn app_acls(conf: &SparkConf) -> Result<AppAcls, SparkConfError> {
    let list = |keys: &[&str]| {
        let mut out: Vec<String> = Vec::new();
        for k in keys {
            for name in conf.get(k).unwrap_or("").split(',').map(str::trim) {
                if !name.is_empty() && !out.iter().any(|o| o == name) {
                    out.push(name.to_owned());
                }
            }
        }
        out
    };
    Ok(AppAcls {
        private: conf.get_bool(keys::ACLS_ENABLE, false)?,
        view_users: list(&[keys::ADMIN_ACLS, keys::UI_VIEW_ACLS]),
        view_groups: list(&[keys::ADMIN_ACLS_GROUPS, keys::UI_VIEW_ACLS_GROUPS]),
        modify_users: list(&[keys::ADMIN_ACLS, keys::MODIFY_ACLS]),
        modify_groups: list(&[keys::ADMIN_ACLS_GROUPS, keys::MODIFY_ACLS_GROUPS]),
    })
}

/// A validated submission, ready to stage and send.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Every effective property (including `spark.app.name`).
    pub conf: SparkConf,
    /// `spindle://HOST:PORT`'s address, if the master names one.
    pub rm_address: Option<String>,
    /// The application binary as given.
    pub binary: PathBuf,
    /// Its file name: the name it is staged and launched under.
    pub binary_name: String,
    /// The application's arguments.
    pub app_args: Vec<String>,
    /// `--class`
    pub class: Option<String>,
    /// `--verbose`
    pub verbose: bool,
    /// The application name.
    pub name: String,
    /// The queue.
    pub queue: String,
    /// The driver's (AM's) container.
    pub driver: Resource,
    /// One executor's container.
    pub executor: Resource,
    /// Executors started at first (0 means the executor size check can be skipped).
    pub num_executors: u32,
    /// Whether dynamic allocation is on.
    pub dynamic_allocation: bool,
    /// `spark.yarn.maxAppAttempts`
    pub max_attempts: Option<u32>,
    /// `spark.yarn.submit.waitAppCompletion`
    pub wait: bool,
    /// Non-Spark properties that were ignored.
    pub ignored: Vec<String>,
    /// Who else may view and modify the application ([`app_acls`]).
    pub acls: AppAcls,
    /// A Python application (`app.py`): `binary` is then the runtime the
    /// executors run.
    pub python: Option<PythonApp>,
}

/// A Python application: its script runs with `python` in the AM container
/// (the driver inside, through the `spindle` package), and its executors run
/// the stock `appmaster` binary, which starts Python workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonApp {
    /// The script as given.
    pub script: PathBuf,
    /// Its file name: the name it is staged and run under.
    pub script_name: String,
    /// `--py-files`, with the names they are staged under.
    pub py_files: Vec<(PathBuf, String)>,
    /// The driver's Python: `spark.pyspark.driver.python`,
    /// `spark.pyspark.python`, `$PYSPARK_DRIVER_PYTHON`, `$PYSPARK_PYTHON`,
    /// else `python3`.
    pub python: String,
}

/// Spark's `spark.yarn.appMasterEnv.NAME`: a variable of the AM's (the
/// driver's, in cluster mode) environment.
pub const AM_ENV_PREFIX: &str = "spark.yarn.appMasterEnv.";

/// Adds the properties `PREFIX.NAME = value` to `env` as `NAME`; a
/// `PYTHONPATH` already there (from `--py-files`) is kept after the given one.
pub fn add_env_properties<'a>(
    env: &mut BTreeMap<String, String>,
    props: impl Iterator<Item = (&'a str, &'a str)>,
    prefix: &str,
) {
    for (k, v) in props {
        let Some(name) = k.strip_prefix(prefix).filter(|n| !n.is_empty()) else {
            continue;
        };
        let value = match env.get(name) {
            Some(old) if name == "PYTHONPATH" => format!("{v}:{old}"),
            _ => v.to_owned(),
        };
        env.insert(name.to_owned(), value);
    }
}

/// The runtime binary a Python application's executors run: `$SPINDLE_APPMASTER`,
/// else the `appmaster` beside this program.
fn runtime_binary() -> Result<PathBuf, PlanError> {
    if let Some(p) = std::env::var_os("SPINDLE_APPMASTER") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| PlanError::Binary {
        path: PathBuf::from("appmaster"),
        reason: format!("cannot find this program's directory: {e}"),
    })?;
    Ok(exe.with_file_name("appmaster"))
}

fn python_app(args: &SubmitArgs, script: &Path, conf: &SparkConf) -> Result<PythonApp, PlanError> {
    if let Some(class) = &args.class {
        return Err(ArgError::Conflict(format!(
            "--class {class} names an entry point of an app binary; a Python application \
             ({}) has none",
            script.display()
        ))
        .into());
    }
    let mut py_files = Vec::new();
    for f in &args.py_files {
        let name = binary_file_name(f)?;
        if py_files.iter().any(|(_, n)| *n == name) {
            return Err(ArgError::Conflict(format!("--py-files names {name} twice")).into());
        }
        py_files.push((f.clone(), name));
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let python = conf
        .get("spark.pyspark.driver.python")
        .or_else(|| conf.get("spark.pyspark.python"))
        .map(str::to_owned)
        .or_else(|| env("PYSPARK_DRIVER_PYTHON"))
        .or_else(|| env("PYSPARK_PYTHON"))
        .unwrap_or_else(|| "python3".into());
    Ok(PythonApp {
        script: script.to_path_buf(),
        script_name: binary_file_name(script)?,
        py_files,
        python,
    })
}

impl Plan {
    /// Where the driver writes its event log (`spark.eventLog.dir/<app>.jsonl`; a
    /// `file://` prefix is a local path), when `spark.eventLog.enabled`.
    pub fn event_log(&self, app: ApplicationId) -> Option<PathBuf> {
        if !self.conf.event_log_enabled().unwrap_or(false) {
            return None;
        }
        let dir = self.conf.event_log_dir();
        let dir = dir.strip_prefix("file://").unwrap_or(dir);
        Some(Path::new(dir).join(format!("{app}.jsonl")))
    }

    /// Builds and validates everything: the command line, the properties (every rule of
    /// [`SparkConf::validate`]), the master and deploy mode, and the binary's existence.
    pub fn prepare(args: &SubmitArgs, conf_dir: Option<&Path>) -> Result<Self, PlanError> {
        let given = args.binary.clone().ok_or(ArgError::MissingBinary)?;
        let (mut conf, ignored) = effective_conf(args, conf_dir)?;
        check_deploy_mode(conf.deploy_mode())?;
        let rm_address = rm_address_override(&conf)?;
        conf.validate()?;
        let python = if given.extension().is_some_and(|e| e == "py") {
            Some(python_app(args, &given, &conf)?)
        } else {
            if let Some(f) = args.py_files.first() {
                return Err(ArgError::Conflict(format!(
                    "--py-files {} is for a Python application (app.py), not {}",
                    f.display(),
                    given.display()
                ))
                .into());
            }
            None
        };
        let binary = match &python {
            Some(_) => runtime_binary()?,
            None => given,
        };
        let binary_name = binary_file_name(&binary)?;
        let name = match conf.app_name() {
            Some(n) if !n.trim().is_empty() => n.to_owned(),
            // spark-submit: the main class, else the primary resource's file name.
            _ => match &python {
                Some(p) => p.script_name.clone(),
                None => args.class.clone().unwrap_or_else(|| binary_name.clone()),
            },
        };
        conf.set(keys::APP_NAME, name.clone());
        Ok(Self {
            rm_address,
            binary,
            binary_name,
            app_args: args.app_args.clone(),
            class: args.class.clone(),
            verbose: args.verbose,
            name,
            queue: conf.queue().to_owned(),
            driver: conf.driver_container()?,
            executor: conf.executor_container()?,
            num_executors: conf.num_executors()?,
            dynamic_allocation: conf.dynamic_allocation_enabled()?,
            max_attempts: conf.max_app_attempts()?,
            wait: conf.wait_app_completion()?,
            acls: app_acls(&conf)?,
            ignored,
            conf,
            python,
        })
    }

    /// The driver's environment (the contract with the AM: [`DriverLaunch`]).
    pub fn driver_env(&self, staged: &LocalResource) -> BTreeMap<String, String> {
        self.driver_env_with(staged, &[])
    }

    /// [`Plan::driver_env`] with files the executors get too.
    fn driver_env_with(
        &self,
        staged: &LocalResource,
        files: &[LocalResource],
    ) -> BTreeMap<String, String> {
        let launch = DriverLaunch {
            class: self.class.clone(),
            app_name: self.name.clone(),
            binary: staged.clone(),
            spark_conf_json: self.conf.to_json(),
            files: files.to_vec(),
        };
        let mut env = BTreeMap::new();
        common::launch::extend(&mut env, launch.to_env());
        env.insert(
            common::launch::SUBMISSION_ID.into(),
            common::token::AppSecret::generate().as_str().to_string(),
        );
        if self.verbose {
            env.insert("RUST_BACKTRACE".into(), "1".into());
        }
        env
    }

    /// The submission for the RM, once the binary is staged as `staged`.
    pub fn submission(&self, staged: LocalResource, user: String) -> AppSubmission {
        self.submission_with(staged, Vec::new(), user)
    }

    /// [`Plan::submission`] of a Python application: `scripts` are the staged
    /// script, then the staged `--py-files`.
    pub fn submission_with(
        &self,
        staged: LocalResource,
        scripts: Vec<LocalResource>,
        user: String,
    ) -> AppSubmission {
        let (mut command, env, local_resources) = match (&self.python, scripts.split_first()) {
            (Some(p), Some((script, py_files))) => {
                let mut env = self.driver_env_with(&staged, py_files);
                if !py_files.is_empty() {
                    let mut path = vec![".".to_string()];
                    path.extend(
                        py_files
                            .iter()
                            .filter(|f| !f.name.ends_with(".py"))
                            .map(|f| f.name.clone()),
                    );
                    env.insert("PYTHONPATH".into(), path.join(":"));
                }
                let mut files = vec![staged];
                files.extend(scripts.iter().cloned());
                (vec![p.python.clone(), script.name.clone()], env, files)
            }
            _ => (
                vec![staged.name.clone()],
                self.driver_env(&staged),
                vec![staged],
            ),
        };
        command.extend(self.app_args.iter().cloned());
        let mut env = env;
        add_env_properties(&mut env, self.conf.iter(), AM_ENV_PREFIX);
        AppSubmission {
            name: self.name.clone(),
            queue: self.queue.clone(),
            user,
            app_type: APP_TYPE.into(),
            am_resource: self.driver,
            am_launch: LaunchSpec {
                command,
                env,
                local_resources,
                ..LaunchSpec::default()
            },
            max_attempts: self.max_attempts,
            acls: self.acls.clone(),
        }
    }

    /// What `--verbose` prints before submission.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str("Parsed arguments:\n");
        let rm = self
            .rm_address
            .clone()
            .unwrap_or_else(|| "(from spindle-client.toml)".into());
        for (k, v) in [
            ("master", self.conf.master().to_owned()),
            ("resource manager", rm),
            ("deployMode", self.conf.deploy_mode().to_owned()),
            ("name", self.name.clone()),
            ("queue", self.queue.clone()),
            ("class", self.class.clone().unwrap_or_else(|| "null".into())),
            ("binary", self.binary.display().to_string()),
            ("app arguments", format!("{:?}", self.app_args)),
            ("driver container", self.driver.to_string()),
            ("executor container", self.executor.to_string()),
            ("executors at start", self.num_executors.to_string()),
            ("dynamic allocation", self.dynamic_allocation.to_string()),
        ] {
            s.push_str(&format!("  {k:<20}{v}\n"));
        }
        s.push_str(
            "Spark properties used (built-in < spindle-defaults.conf < --properties-file < \
             --conf < options):\n",
        );
        for (k, v) in self.conf.iter() {
            s.push_str(&format!("  {k}={v}\n"));
        }
        s
    }
}

fn binary_file_name(path: &Path) -> Result<String, PlanError> {
    let err = |reason: &str| PlanError::Binary {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => err("no such file"),
        _ => err(&e.to_string()),
    })?;
    if !meta.is_file() {
        return Err(err("not a regular file"));
    }
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| err("the file name is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submit::args::parse_args;

    struct Fixture {
        dir: tempfile::TempDir,
        binary: PathBuf,
    }

    fn fixture(defaults: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("my-app");
        std::fs::write(&binary, b"#!/bin/sh\n").unwrap();
        if let Some(d) = defaults {
            std::fs::write(dir.path().join("spindle-defaults.conf"), d).unwrap();
        }
        Fixture { dir, binary }
    }

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    fn prepare(f: &Fixture, args: &[&str]) -> Result<Plan, PlanError> {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        all.push(f.binary.display().to_string());
        all.push("arg1".into());
        all.push("--flag".into());
        Plan::prepare(&parse_args(all).unwrap(), Some(f.dir.path()))
    }

    fn staged() -> LocalResource {
        LocalResource {
            name: "my-app".into(),
            sha256: "ab".repeat(32),
            size: 10,
            executable: true,
        }
    }

    #[test]
    fn defaults_and_env_contract() {
        let f = fixture(None);
        let p = prepare(&f, &[]).unwrap();
        assert_eq!(p.name, "my-app");
        assert_eq!(p.queue, "default");
        assert_eq!(p.driver, Resource::new(1408, 1));
        assert_eq!(p.executor, Resource::new(1408, 1));
        assert_eq!(p.num_executors, 2);
        assert_eq!(p.rm_address, None);
        assert_eq!(p.max_attempts, None);
        assert!(p.wait);
        let sub = p.submission(staged(), "alice".into());
        assert_eq!(sub.name, "my-app");
        assert_eq!(sub.user, "alice");
        assert_eq!(sub.app_type, "SPARK");
        assert_eq!(sub.am_resource, Resource::new(1408, 1));
        assert_eq!(sub.am_launch.command, vec!["my-app", "arg1", "--flag"]);
        assert_eq!(sub.am_launch.local_resources, vec![staged()]);
        assert_eq!(sub.acls, AppAcls::default());
        let env = &sub.am_launch.env;
        assert_eq!(env["SPINDLE_ROLE"], "driver");
        assert_eq!(env["SPINDLE_APP_NAME"], "my-app");
        assert_eq!(
            env["SPINDLE_APP_BINARY"],
            format!("my-app:{}:10", "ab".repeat(32))
        );
        assert!(!env.contains_key("SPINDLE_CLASS"));
        assert!(!env.contains_key("RUST_BACKTRACE"));
        let conf: BTreeMap<String, String> =
            serde_json::from_str(&env["SPINDLE_SPARK_CONF"]).unwrap();
        assert_eq!(conf["spark.app.name"], "my-app");
        assert_eq!(conf["spark.submit.deployMode"], "cluster");
        assert_eq!(conf["spark.master"], "spindle");
        // A random submission id, new for each submission (a repeat keeps its own).
        let id = &env[common::launch::SUBMISSION_ID];
        assert_eq!(id.len(), 64);
        let again = p.submission(staged(), "alice".into());
        assert_ne!(&again.am_launch.env[common::launch::SUBMISSION_ID], id);
        assert_eq!(env.len(), 5);
    }

    #[test]
    fn flags_class_verbose_and_master() {
        let f = fixture(None);
        let p = prepare(&f, &words("--class WordCount --verbose --master spindle://10.0.0.1:8032 --queue prod --conf spark.yarn.maxAppAttempts=1 --executor-memory 2g --executor-cores 2 --driver-memory 512m --num-executors 5"))
        .unwrap();
        // spark-submit names the app after the main class when there is no name.
        assert_eq!(p.name, "WordCount");
        assert_eq!(p.rm_address.as_deref(), Some("10.0.0.1:8032"));
        assert_eq!(p.queue, "prod");
        assert_eq!(p.max_attempts, Some(1));
        assert_eq!(p.executor, Resource::new(2048 + 384, 2));
        assert_eq!(p.driver, Resource::new(512 + 384, 1));
        assert_eq!(p.num_executors, 5);
        let env = p.driver_env(&staged());
        assert_eq!(env["SPINDLE_CLASS"], "WordCount");
        assert_eq!(env["RUST_BACKTRACE"], "1");
        let conf: BTreeMap<String, String> =
            serde_json::from_str(&env["SPINDLE_SPARK_CONF"]).unwrap();
        assert_eq!(conf["spark.executor.instances"], "5");
        assert_eq!(conf["spark.executor.memory"], "2g");
        assert_eq!(conf["spark.yarn.queue"], "prod");
        assert_eq!(conf["spark.master"], "spindle://10.0.0.1:8032");
        assert!(p.describe().contains("spark.executor.memory=2g"));
    }

    #[test]
    fn precedence_of_layers() {
        let f = fixture(Some(
            "spark.executor.memory 3g\nspark.executor.cores 3\nspark.app.name fromdefaults\n\
             spark.yarn.queue q1\nfoo.bar 1\n",
        ));
        let props = f.dir.path().join("extra.conf");
        std::fs::write(&props, "spark.executor.cores 4\nspark.yarn.queue q2\n").unwrap();
        let props = props.display().to_string();
        let p = prepare(&f, &["--properties-file", &props]).unwrap();
        assert_eq!(p.executor, Resource::new(3072 + 384, 4));
        assert_eq!(p.queue, "q2");
        assert_eq!(p.name, "fromdefaults");
        assert_eq!(p.ignored, vec!["foo.bar".to_owned()]);
        assert!(!p.conf.contains("foo.bar"));
        let argv = format!(
            "--properties-file {props} --conf spark.executor.cores=5 --conf spark.yarn.queue=q3 \
             --conf spark.app.name=fromconf"
        );
        let p = prepare(&f, &words(&argv)).unwrap();
        assert_eq!(p.executor.vcores, 5);
        assert_eq!(p.queue, "q3");
        assert_eq!(p.name, "fromconf");
        // The dedicated flags win over --conf, as in spark-submit.
        let argv = "--conf spark.executor.cores=5 --executor-cores 6 --conf spark.yarn.queue=q3 \
                    --queue q4 --name fromflag";
        let p = prepare(&f, &words(argv)).unwrap();
        assert_eq!(p.executor.vcores, 6);
        assert_eq!(p.queue, "q4");
        assert_eq!(p.name, "fromflag");
        // The master can come from a file too.
        let f = fixture(Some("spark.master spindle://rm:1\n"));
        assert_eq!(
            prepare(&f, &[]).unwrap().rm_address.as_deref(),
            Some("rm:1")
        );
    }

    #[test]
    fn refusals_before_submission() {
        let f = fixture(None);
        let e = prepare(&f, &["--conf", "spark.executor.memory=12x"]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spark.executor.memory: invalid size '12x'"),
            "{e}"
        );
        let e = prepare(&f, &["--executor-memory", "12x"]).unwrap_err();
        assert!(e.to_string().contains("spark.executor.memory"), "{e}");
        let e = prepare(&f, &words("--conf spark.dynamicAllocation.enabled=true --conf spark.dynamicAllocation.shuffleTracking.enabled=true --conf spark.dynamicAllocation.minExecutors=5 --conf spark.dynamicAllocation.maxExecutors=2"))
        .unwrap_err();
        assert!(e.to_string().contains("minExecutors"), "{e}");
        let e = prepare(&f, &["--conf", "spark.dynamicAllocation.enabled=true"]).unwrap_err();
        assert!(e.to_string().contains("shuffle"), "{e}");
        let e = prepare(&f, &["--deploy-mode", "client"]).unwrap_err();
        assert!(matches!(e, PlanError::Args(ArgError::ClientMode)));
        let e = prepare(&f, &["--conf", "spark.submit.deployMode=client"]).unwrap_err();
        assert!(matches!(e, PlanError::Args(ArgError::ClientMode)));
        let e = prepare(&f, &["--master", "yarn"]).unwrap_err();
        assert!(matches!(e, PlanError::Args(ArgError::BadMaster(_))));
        let e = prepare(
            &f,
            &["--executor-cores", "1", "--conf", "spark.task.cpus=2"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("spark.task.cpus"), "{e}");
        let e = prepare(&f, &["--properties-file", "/nonexistent/x.conf"]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.conf"), "{e}");
        let args = parse_args(["/nonexistent/app"]).unwrap();
        let e = Plan::prepare(&args, Some(f.dir.path())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "application binary /nonexistent/app: no such file"
        );
        let args = parse_args([f.dir.path().display().to_string()]).unwrap();
        let e = Plan::prepare(&args, Some(f.dir.path())).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }

    #[test]
    fn python_application_plan() {
        let f = fixture(None);
        let script = f.dir.path().join("job.py");
        let helper = f.dir.path().join("helpers.py");
        let zip = f.dir.path().join("lib.zip");
        for p in [&script, &helper, &zip] {
            std::fs::write(p, b"#").unwrap();
        }
        // The runtime the executors run: here, the fixture's binary.
        std::env::set_var("SPINDLE_APPMASTER", &f.binary);
        let argv = format!(
            "--conf spark.pyspark.python=/opt/py/bin/python3 \
             --conf spark.yarn.appMasterEnv.PYTHONPATH=/site --conf spark.yarn.appMasterEnv.X=1 \
             --py-files {},{} {} a1 --a2",
            helper.display(),
            zip.display(),
            script.display()
        );
        let args = parse_args(words(&argv)).unwrap();
        let p = Plan::prepare(&args, Some(f.dir.path())).unwrap();
        assert_eq!(p.name, "job.py");
        assert_eq!(p.binary, f.binary);
        let py = p.python.clone().expect("a Python application");
        assert_eq!(py.python, "/opt/py/bin/python3");
        assert_eq!(py.script_name, "job.py");
        let file = |name: &str| LocalResource {
            name: name.into(),
            sha256: "cd".repeat(32),
            size: 1,
            executable: false,
        };
        let scripts = vec![file("job.py"), file("helpers.py"), file("lib.zip")];
        let sub = p.submission_with(staged(), scripts.clone(), "alice".into());
        let launch = &sub.am_launch;
        assert_eq!(
            launch.command,
            vec!["/opt/py/bin/python3", "job.py", "a1", "--a2"]
        );
        assert_eq!(launch.local_resources[0], staged());
        assert_eq!(&launch.local_resources[1..], &scripts[..]);
        // --py-files on the driver's path, after spark.yarn.appMasterEnv's.
        assert_eq!(launch.env["PYTHONPATH"], "/site:.:lib.zip");
        assert_eq!(launch.env["X"], "1");
        // The executors get the --py-files too.
        let d = DriverLaunch::from_vars(&launch.env).unwrap();
        assert_eq!(d.files, scripts[1..].to_vec());

        let args = parse_args(words(&format!("--class Pi {}", script.display()))).unwrap();
        let e = Plan::prepare(&args, Some(f.dir.path())).unwrap_err();
        assert!(e.to_string().contains("has none"), "{e}");
        let args = parse_args(words(&format!(
            "--py-files {} {}",
            helper.display(),
            f.binary.display()
        )))
        .unwrap();
        let e = Plan::prepare(&args, Some(f.dir.path())).unwrap_err();
        assert!(e.to_string().contains("is for a Python application"), "{e}");
    }

    #[test]
    fn dynamic_allocation_plan() {
        let f = fixture(None);
        let p = prepare(&f, &words("--conf spark.dynamicAllocation.enabled=true --conf spark.shuffle.service.enabled=true --conf spark.dynamicAllocation.initialExecutors=3"))
        .unwrap();
        assert!(p.dynamic_allocation);
        assert_eq!(p.num_executors, 3);
    }

    #[test]
    fn acls_as_spark_on_yarn_gives_them() {
        let f = fixture(Some("spark.admin.acls ops\n"));
        let p = prepare(
            &f,
            &words("--conf spark.acls.enable=true --conf spark.ui.view.acls=bob,,carol --conf spark.modify.acls=carol,ops --conf spark.modify.acls.groups=eng --conf spark.admin.acls.groups=wheel"),
        )
        .unwrap();
        let sub = p.submission(staged(), "alice".into());
        assert_eq!(
            sub.acls,
            AppAcls {
                private: true,
                view_users: vec!["ops".into(), "bob".into(), "carol".into()],
                view_groups: vec!["wheel".into()],
                modify_users: vec!["ops".into(), "carol".into()],
                modify_groups: vec!["wheel".into(), "eng".into()],
            }
        );
        let e = prepare(&f, &words("--conf spark.acls.enable=maybe")).unwrap_err();
        assert!(e.to_string().contains("spark.acls.enable"), "{e}");
    }
}
