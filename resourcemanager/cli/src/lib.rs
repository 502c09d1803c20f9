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
