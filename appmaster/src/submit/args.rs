//! spark-submit's command line: options, then the application binary, then its arguments.
//!
//! Parsed by hand rather than with clap because spark-submit's grammar is positional: the
//! first argument that is not an option is the application, and everything after it belongs
//! to the application, even `--flags`.

use am_core::sparkconf::keys;
use std::collections::BTreeMap;
use std::path::PathBuf;

use thiserror::Error;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Submit the application and follow it.
    Submit,
    /// `--status ID`: print an application's report.
    Status(String),
    /// `--kill ID`: kill an application.
    Kill(String),
    /// `--help`
    Help,
    /// `--version`
    Version,
}

/// The parsed command line. Option values are kept as given; they are checked (naming the
/// Spark key they set) when the effective configuration is validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitArgs {
    /// The values of the [`PROPERTY_OPTIONS`] given, by the Spark property each sets (the
    /// last one given wins).
    pub properties: BTreeMap<&'static str, String>,
    /// `--conf KEY=VALUE`, in order.
    pub conf: Vec<(String, String)>,
    /// `--properties-file`
    pub properties_file: Option<PathBuf>,
    /// `--class`: the application's entry point (a built-in example of the stock binary).
    pub class: Option<String>,
    /// `--verbose`
    pub verbose: bool,
    /// `--status ID`
    pub status: Option<String>,
    /// `--kill ID`
    pub kill: Option<String>,
    /// `--help`
    pub help: bool,
    /// `--version`
    pub version: bool,
    /// `--py-files a.zip,b.py`: Python files for the driver's and executors' path.
    pub py_files: Vec<PathBuf>,
    /// The application binary, or a Python application's `.py` script.
    pub binary: Option<PathBuf>,
    /// The application's arguments (everything after the binary).
    pub app_args: Vec<String>,
}

/// A command line spindle-submit cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ArgError {
    /// An option spindle-submit does not know.
    #[error("unrecognized option '{0}' (see spindle-submit --help)")]
    UnknownOption(String),
    /// An option given without its value.
    #[error("option {0} needs a value")]
    MissingValue(String),
    /// `--conf` without `=`.
    #[error("--conf expects KEY=VALUE: Spark config without '=': {0}")]
    ConfWithoutEquals(String),
    /// `--conf =value`.
    #[error("--conf expects KEY=VALUE: empty key in '{0}'")]
    EmptyConfKey(String),
    /// `--num-executors 0` (spark-submit's rule; `spark.executor.instances=0` is allowed).
    #[error("--num-executors: Number of executors must be a positive number (got '{0}')")]
    NumExecutorsNotPositive(String),
    /// A master other than `spindle` / `spindle://HOST:PORT`.
    #[error("master must be 'spindle' or 'spindle://HOST:PORT' (got '{0}')")]
    BadMaster(String),
    /// `--deploy-mode client`.
    #[error(
        "client deploy mode is not supported: Spindle runs the driver inside the application \
         master (use --deploy-mode cluster)"
    )]
    ClientMode,
    /// A deploy mode other than client or cluster.
    #[error("Deploy mode must be either client or cluster (got '{0}')")]
    BadDeployMode(String),
    /// No application binary.
    #[error(
        "missing the application binary (usage: spindle-submit [options] <app binary> [app \
         arguments])"
    )]
    MissingBinary,
    /// Options that cannot be used together.
    #[error("{0}")]
    Conflict(String),
}

/// The usage text of `--help`.
pub const USAGE: &str = "\
Usage: spindle-submit [options] <app binary> [app arguments]
Usage: spindle-submit [options] [--py-files FILES] <app.py> [app arguments]
Usage: spindle-submit --kill APPLICATION_ID
Usage: spindle-submit --status APPLICATION_ID

Options:
  --master MASTER             spindle (the RM in $SPINDLE_CONF_DIR/spindle-client.toml, the
                              default) or spindle://HOST:PORT (another RM address; TLS files
                              still come from spindle-client.toml)
  --deploy-mode MODE          cluster (the only mode: the driver runs in the application master)
  --class NAME                the application's entry point (a built-in example of the stock
                              appmaster binary)
  --py-files FILES            comma-separated .py, .zip or .egg files for a Python application
                              (on the driver's and the executors' PYTHONPATH)
  --name NAME                 application name (spark.app.name; default: --class, else the
                              binary's file name)
  --queue QUEUE               queue (spark.yarn.queue, default \"default\")
  --num-executors N           executors to start (spark.executor.instances, default 2 without
                              dynamic allocation)
  --executor-cores N          cores per executor (spark.executor.cores, default 1)
  --executor-memory MEM       memory per executor, e.g. 512m, 2g (spark.executor.memory,
                              default 1g)
  --driver-memory MEM         driver memory (spark.driver.memory, default 1g)
  --driver-cores N            driver cores (spark.driver.cores, default 1)
  --conf, -c KEY=VALUE        any Spark property (repeatable)
  --properties-file FILE      extra properties (spark-defaults.conf format)
  --verbose, -v               print the effective properties; RUST_BACKTRACE=1 in the driver
  --status APPLICATION_ID     print an application's report
  --kill APPLICATION_ID       kill an application
  --help, -h                  this text
  --version                   spindle-submit's version

Properties, later wins: built-in < $SPINDLE_CONF_DIR/spindle-defaults.conf <
--properties-file < --conf < the dedicated options above.
";

/// spark-submit's dedicated options, each setting one Spark property (winning over
/// `--conf`, as in spark-submit). `--master` takes `spindle` or `spindle://HOST:PORT`.
pub const PROPERTY_OPTIONS: &[(&str, &str)] = &[
    ("--master", keys::MASTER),
    ("--deploy-mode", keys::DEPLOY_MODE),
    ("--name", keys::APP_NAME),
    ("--queue", keys::QUEUE),
    ("--num-executors", keys::EXECUTOR_INSTANCES),
    ("--executor-cores", keys::EXECUTOR_CORES),
    ("--executor-memory", keys::EXECUTOR_MEMORY),
    ("--driver-memory", keys::DRIVER_MEMORY),
    ("--driver-cores", keys::DRIVER_CORES),
];

/// Options that take a value (so the word after them is not the application binary).
pub const VALUED: &[&str] = &[
    "--master",
    "--deploy-mode",
    "--name",
    "--queue",
    "--num-executors",
    "--executor-cores",
    "--executor-memory",
    "--driver-memory",
    "--driver-cores",
    "--conf",
    "-c",
    "--properties-file",
    "--class",
    "--py-files",
    "--status",
    "--kill",
];

/// Parses spindle-submit's arguments (without the program name).
pub fn parse_args<I, S>(args: I) -> Result<SubmitArgs, ArgError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut out = SubmitArgs::default();
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        if !arg.starts_with('-') || arg == "-" {
            out.binary = Some(PathBuf::from(arg));
            out.app_args = it.by_ref().collect();
            break;
        }
        match arg.as_str() {
            "--verbose" | "-v" => {
                out.verbose = true;
                continue;
            }
            "--help" | "-h" => {
                out.help = true;
                continue;
            }
            "--version" => {
                out.version = true;
                continue;
            }
            _ => {}
        }
        // `--opt value` or `--opt=value`.
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if !VALUED.contains(&opt.as_str()) {
            return Err(ArgError::UnknownOption(arg));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .ok_or_else(|| ArgError::MissingValue(opt.clone()))?,
        };
        if let Some(&(_, key)) = PROPERTY_OPTIONS.iter().find(|(o, _)| *o == opt) {
            if key == keys::EXECUTOR_INSTANCES && !value.trim().parse::<i32>().is_ok_and(|n| n > 0)
            {
                return Err(ArgError::NumExecutorsNotPositive(value));
            }
            out.properties.insert(key, value);
            continue;
        }
        match opt.as_str() {
            "--conf" | "-c" => out.conf.push(parse_conf_pair(&value)?),
            "--properties-file" => out.properties_file = Some(PathBuf::from(value)),
            "--class" => out.class = Some(value),
            "--py-files" => out.py_files.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(PathBuf::from),
            ),
            "--status" => out.status = Some(value),
            "--kill" => out.kill = Some(value),
            _ => unreachable!("every valued option is handled"),
        }
    }
    Ok(out)
}

/// `KEY=VALUE` (split at the first `=`, as spark-submit does).
pub fn parse_conf_pair(pair: &str) -> Result<(String, String), ArgError> {
    let (k, v) = pair
        .split_once('=')
        .ok_or_else(|| ArgError::ConfWithoutEquals(pair.to_owned()))?;
    if k.trim().is_empty() {
        return Err(ArgError::EmptyConfKey(pair.to_owned()));
    }
    Ok((k.to_owned(), v.to_owned()))
}

impl SubmitArgs {
    /// What to do; refuses contradictory combinations.
    pub fn action(&self) -> Result<Action, ArgError> {
        if self.help {
            return Ok(Action::Help);
        }
        if self.version {
            return Ok(Action::Version);
        }
        match (&self.status, &self.kill) {
            (Some(_), Some(_)) => Err(ArgError::Conflict(
                "--status and --kill cannot be used together".into(),
            )),
            (Some(id), None) | (None, Some(id)) => {
                let flag = if self.status.is_some() {
                    "--status"
                } else {
                    "--kill"
                };
                if let Some(b) = &self.binary {
                    return Err(ArgError::Conflict(format!(
                        "{flag} takes no application binary (got '{}')",
                        b.display()
                    )));
                }
                Ok(if self.status.is_some() {
                    Action::Status(id.clone())
                } else {
                    Action::Kill(id.clone())
                })
            }
            (None, None) => {
                if self.binary.is_none() {
                    return Err(ArgError::MissingBinary);
                }
                Ok(Action::Submit)
            }
        }
    }

    /// The dedicated options as Spark properties (they win over `--conf`, as in spark-submit).
    pub fn flag_properties(&self) -> Vec<(&'static str, String)> {
        self.properties
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

/// The RM address a master names: `None` for `spindle` (take the one in
/// `spindle-client.toml`), `Some("HOST:PORT")` for `spindle://HOST:PORT`.
pub fn parse_master(master: &str) -> Result<Option<String>, ArgError> {
    let m = master.trim();
    if m == "spindle" {
        return Ok(None);
    }
    let bad = || ArgError::BadMaster(master.to_owned());
    let addr = m.strip_prefix("spindle://").ok_or_else(bad)?;
    let addr = addr.strip_suffix('/').unwrap_or(addr);
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || host.contains('/') || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(Some(addr.to_owned()))
}

/// Checks `spark.submit.deployMode`: only cluster mode runs on Spindle.
pub fn check_deploy_mode(mode: &str) -> Result<(), ArgError> {
    match mode.trim() {
        "cluster" => Ok(()),
        "client" => Err(ArgError::ClientMode),
        other => Err(ArgError::BadDeployMode(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<SubmitArgs, ArgError> {
        parse_args(args.iter().copied())
    }

    #[test]
    fn options_then_binary_then_app_args() {
        let a = parse(&[
            "--master",
            "spindle://rm:8032",
            "--deploy-mode=cluster",
            "--name",
            "wc",
            "--queue",
            "prod",
            "--num-executors",
            "5",
            "--executor-cores",
            "2",
            "--executor-memory",
            "2g",
            "--driver-memory",
            "512m",
            "--conf",
            "spark.a=1",
            "-c",
            "spark.b=x=y",
            "--conf=spark.c=",
            "--properties-file",
            "/tmp/p.conf",
            "--class",
            "WordCount",
            "-v",
            "./app",
            "--verbose",
            "input",
            "--conf",
            "spark.z=1",
        ])
        .unwrap();
        let given = |key| a.properties.get(key).map(String::as_str);
        assert_eq!(given(keys::MASTER), Some("spindle://rm:8032"));
        assert_eq!(given(keys::DEPLOY_MODE), Some("cluster"));
        assert_eq!(given(keys::APP_NAME), Some("wc"));
        assert_eq!(given(keys::QUEUE), Some("prod"));
        assert_eq!(given(keys::EXECUTOR_INSTANCES), Some("5"));
        assert_eq!(given(keys::EXECUTOR_CORES), Some("2"));
        assert_eq!(given(keys::EXECUTOR_MEMORY), Some("2g"));
        assert_eq!(given(keys::DRIVER_MEMORY), Some("512m"));
        assert_eq!(
            a.conf,
            vec![
                ("spark.a".into(), "1".into()),
                ("spark.b".into(), "x=y".into()),
                ("spark.c".into(), String::new()),
            ]
        );
        assert_eq!(a.properties_file, Some(PathBuf::from("/tmp/p.conf")));
        assert_eq!(a.class.as_deref(), Some("WordCount"));
        assert!(a.verbose);
        assert_eq!(a.binary, Some(PathBuf::from("./app")));
        // Everything after the binary is the application's, even options of ours.
        assert_eq!(
            a.app_args,
            vec!["--verbose", "input", "--conf", "spark.z=1"]
        );
        assert_eq!(a.action(), Ok(Action::Submit));
        let flags = a.flag_properties();
        assert!(flags.contains(&("spark.executor.instances", "5".into())));
        assert!(flags.contains(&("spark.yarn.queue", "prod".into())));
        assert!(flags.contains(&("spark.app.name", "wc".into())));
        assert!(flags.contains(&("spark.master", "spindle://rm:8032".into())));
    }

    #[test]
    fn binary_without_options_and_empty_app_args() {
        let a = parse(&["/bin/app"]).unwrap();
        assert_eq!(a.binary, Some(PathBuf::from("/bin/app")));
        assert!(a.app_args.is_empty());
        assert!(a.flag_properties().is_empty());
    }

    #[test]
    fn conf_needs_equals() {
        assert_eq!(
            parse(&["--conf", "spark.executor.memory", "app"]),
            Err(ArgError::ConfWithoutEquals("spark.executor.memory".into()))
        );
        assert!(parse(&["--conf", "spark.executor.memory", "app"])
            .unwrap_err()
            .to_string()
            .contains("without '='"));
        assert!(matches!(
            parse(&["--conf", "=1", "app"]),
            Err(ArgError::EmptyConfKey(_))
        ));
        assert_eq!(
            parse(&["--conf"]),
            Err(ArgError::MissingValue("--conf".into()))
        );
    }

    #[test]
    fn unknown_options_and_bad_values() {
        assert_eq!(
            parse(&["--jars", "x.jar", "app"]),
            Err(ArgError::UnknownOption("--jars".into()))
        );
        assert_eq!(
            parse(&["--bogus=1", "app"]),
            Err(ArgError::UnknownOption("--bogus=1".into()))
        );
        assert_eq!(
            parse(&["--num-executors", "0", "app"]),
            Err(ArgError::NumExecutorsNotPositive("0".into()))
        );
        assert!(parse(&["--num-executors", "x", "app"]).is_err());
        assert_eq!(
            parse(&["--executor-memory"]),
            Err(ArgError::MissingValue("--executor-memory".into()))
        );
    }

    #[test]
    fn actions() {
        assert_eq!(parse(&[]).unwrap().action(), Err(ArgError::MissingBinary));
        assert_eq!(
            parse(&["--status", "application_1_0001"]).unwrap().action(),
            Ok(Action::Status("application_1_0001".into()))
        );
        assert_eq!(
            parse(&["--kill=application_1_0001"]).unwrap().action(),
            Ok(Action::Kill("application_1_0001".into()))
        );
        assert!(matches!(
            parse(&["--kill", "a", "--status", "b"]).unwrap().action(),
            Err(ArgError::Conflict(_))
        ));
        assert!(matches!(
            parse(&["--kill", "a", "app"]).unwrap().action(),
            Err(ArgError::Conflict(_))
        ));
        assert_eq!(parse(&["-h"]).unwrap().action(), Ok(Action::Help));
        assert_eq!(parse(&["--version"]).unwrap().action(), Ok(Action::Version));
    }

    #[test]
    fn master_forms() {
        assert_eq!(parse_master("spindle"), Ok(None));
        assert_eq!(
            parse_master("spindle://127.0.0.1:8032"),
            Ok(Some("127.0.0.1:8032".into()))
        );
        assert_eq!(
            parse_master("spindle://rm.example.com:8032/"),
            Ok(Some("rm.example.com:8032".into()))
        );
        for bad in [
            "yarn",
            "local[*]",
            "spindle://",
            "spindle://host",
            "spindle://:8032",
            "spindle://host:port",
            "spindle://host:0",
            "spark://host:7077",
        ] {
            assert_eq!(
                parse_master(bad),
                Err(ArgError::BadMaster(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn deploy_modes() {
        assert_eq!(check_deploy_mode("cluster"), Ok(()));
        assert_eq!(check_deploy_mode("client"), Err(ArgError::ClientMode));
        assert!(ArgError::ClientMode.to_string().contains("not supported"));
        assert_eq!(
            check_deploy_mode("local"),
            Err(ArgError::BadDeployMode("local".into()))
        );
    }

    /// Every option the parser accepts has a line of help in `--help`'s text.
    #[test]
    fn every_option_has_help() {
        // The options' lines: "  --opt, -o VALUE   what it does", wrapped lines indented.
        let documented: Vec<(Vec<&str>, &str)> = USAGE
            .lines()
            .filter(|l| l.starts_with("  -"))
            .filter_map(|l| {
                let l = l.trim_start();
                let (spec, help) = l.split_once("  ")?;
                let opts = spec
                    .split([',', ' '])
                    .filter(|w| w.starts_with('-'))
                    .collect();
                Some((opts, help.trim()))
            })
            .collect();
        for (opt, _) in PROPERTY_OPTIONS {
            assert!(VALUED.contains(opt), "{opt} takes a value");
        }
        let flags = ["--verbose", "-v", "--help", "-h", "--version"];
        for opt in VALUED.iter().chain(flags.iter()) {
            // Accepted by the parser (a valued option with a value that passes).
            let args: Vec<&str> = if VALUED.contains(opt) {
                let value = match *opt {
                    "--conf" | "-c" => "k=v",
                    "--master" => "spindle",
                    "--deploy-mode" => "cluster",
                    _ => "1",
                };
                vec![opt, value, "app"]
            } else {
                vec![opt, "app"]
            };
            assert!(parse(&args).is_ok(), "{opt} is not accepted");
            let help = documented
                .iter()
                .find(|(opts, _)| opts.contains(opt))
                .map(|(_, h)| *h);
            assert!(
                help.is_some_and(|h| !h.is_empty()),
                "{opt} has no help line in USAGE"
            );
        }
    }
}
