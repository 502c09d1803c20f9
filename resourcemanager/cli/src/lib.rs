//! `spindle`: the admin and ops CLI (certificates, a local cluster, nodes,
//! applications, the DistributedShell-like `run-shell`, compare, demo and what-if).

mod apps;
mod certs;
mod cluster;
mod compare;
mod demo;
mod shell;
mod sls;
mod token;
mod whatif;

use clap::{Parser, Subcommand};
use common::client::RmClient;
use common::clientconf::ClientConf;
use common::tls::TlsIdentity;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "spindle", version, about = "Spindle's admin CLI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cluster certificates.
    Certs {
        #[command(subcommand)]
        command: certs::CertsCommand,
    },
    /// A local cluster: one RM and N NMs as processes on loopback.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Nodes known to the RM.
    Node {
        #[command(subcommand)]
        command: apps::NodeCommand,
    },
    /// The scheduler's queues.
    Queue {
        #[command(subcommand)]
        command: apps::QueueCommand,
    },
    /// Applications.
    App {
        #[command(subcommand)]
        command: apps::AppCommand,
    },
    /// Bearer tokens for the RM's web (for REST clients without a client certificate).
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Run a command in N containers (like YARN's DistributedShell); exits with the failed count.
    RunShell(shell::RunShellArgs),
    /// The run-shell application master (started by the RM in a container).
    #[command(hide = true)]
    ShellAm(shell::ShellAmArgs),
    // Its help (short and long) is on `CompareArgs`.
    Compare(compare::CompareArgs),
    /// The demo: a local cluster, the seed job and a bursty workload under static and dynamic
    /// allocation, the comparison and its report.
    Demo(demo::DemoArgs),
    // Its help (short and long) is on `WhatIfArgs`.
    WhatIf(whatif::WhatIfArgs),
    // Its help is on `SlsArgs`.
    Sls(sls::SlsArgs),
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    appmaster::logging::init_from_env();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spindle: cannot start runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Certs { command } => certs::run(command).map(|_| 0),
            Command::Cluster { command } => cluster::run(command).await.map(|_| 0),
            Command::Node { command } => apps::node(command).await.map(|_| 0),
            Command::App { command } => apps::app(command).await.map(|_| 0),
            Command::Queue { command } => apps::queue(command).await.map(|_| 0),
            Command::Token { command } => token::run(command).await.map(|_| 0),
            Command::RunShell(args) => shell::run_shell(args).await,
            Command::ShellAm(args) => shell::shell_am(args).await,
            Command::Compare(args) => compare::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::WhatIf(args) => whatif::run(args).map_err(anyhow::Error::from),
            Command::Sls(args) => sls::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spindle: {e:#}");
            1
        }
    }
}

/// The RM client described by `$SPINDLE_CONF_DIR`.
pub(crate) fn rm_client() -> anyhow::Result<(RmClient, ClientConf)> {
    let conf = ClientConf::from_env()?;
    common::transport::set_liveness(conf.liveness);
    let identity = TlsIdentity::load(&conf.tls_files())?;
    Ok((
        RmClient::connect_any(&identity, &conf.rm_addresses())?,
        conf,
    ))
}

/// The user a client's certificate names (`user:NAME`): the RM takes client calls, and
/// submissions, only as that user.
pub(crate) fn client_user(conf: &ClientConf) -> anyhow::Result<String> {
    match TlsIdentity::load(&conf.tls_files())?.role() {
        common::identity::Role::User(name) => Ok(name),
        other => anyhow::bail!(
            "{} is not a user certificate (it names {other}): submitting needs one whose subject is user:NAME (`spindle certs issue --common-name user:NAME`)",
            conf.cert.display()
        ),
    }
}

pub(crate) fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no parent dir of {}", me.display()))?;
    let p = dir.join(name);
    if p.is_file() {
        return Ok(p);
    }
    // Under `cargo test` binaries sit one level up from deps/.
    if let Some(up) = dir.parent() {
        let p = up.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    anyhow::bail!("cannot find the {name} binary next to {}", me.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The options and subcommands without help text under `cmd`, as `spindle app list --x`.
    fn without_help(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                let name = arg
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .unwrap_or_else(|| arg.get_id().to_string());
                missing.push(format!("{path} {name}"));
            }
        }
        for sub in cmd.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                missing.push(path.clone());
            }
            without_help(sub, &path, missing);
        }
    }

    #[test]
    fn every_option_and_subcommand_has_help() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        without_help(&cmd, "spindle", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    /// `spindle compare -h` lists compare's options, and `--help` is one clap help: one usage
    /// block, naming both forms.
    #[test]
    fn compare_help_is_one_help_with_its_options() {
        let mut cmd = Cli::command();
        let compare = cmd.find_subcommand_mut("compare").expect("compare");
        let short = compare.render_help().to_string();
        let long = compare.render_long_help().to_string();
        for help in [&short, &long] {
            assert_eq!(help.matches("Usage:").count(), 1, "{help}");
            for opt in [
                "--num-executors",
                "--eager",
                "--tenants",
                "--queues",
                "--logs",
                "--report",
                "--no-progress",
            ] {
                assert!(help.contains(opt), "{opt} missing: {help}");
            }
        }
        assert!(long.contains("spindle compare --logs STATIC.jsonl DYNAMIC.jsonl"));
        assert!(long.contains("below 1 saves resources"), "{long}");
    }

    /// Compare's options parse before spindle-submit's, and after them (by hand).
    #[test]
    fn compare_options_parse_anywhere_before_the_binary() {
        let parse = |line: &str| {
            let cli = Cli::try_parse_from(line.split_whitespace()).expect(line);
            let Command::Compare(args) = cli.command else {
                panic!("not compare")
            };
            compare::take_own_for_test(args)
        };
        let (tenants, eager, rest) = parse(
            "spindle compare --tenants 2 --num-executors 3 --class Bursty --eager app --tenants 9",
        );
        assert_eq!((tenants, eager), (2, true));
        assert_eq!(
            rest,
            "--num-executors 3 --class Bursty app --tenants 9"
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        );
        assert!(Cli::try_parse_from(["spindle", "compare", "--tenants", "0", "app"]).is_err());
    }
}
