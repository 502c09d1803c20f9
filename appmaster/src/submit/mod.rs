//! `spindle-submit`: spark-submit for Spindle.
//!
//! ```text
//! spindle-submit [options] <app binary> [app arguments]
//! spindle-submit --status APPLICATION_ID
//! spindle-submit --kill APPLICATION_ID
//! ```
//!
//! The command line, the properties (built-in < `$SPINDLE_CONF_DIR/spindle-defaults.conf` <
//! `--properties-file` < `--conf` < dedicated options) and Spark's validation rules are all
//! checked before anything is sent to the cluster. Then the binary is staged with the RM, the
//! application is submitted with the binary as its AM (the driver), and spindle-submit follows
//! it: state changes, the tracking URL, the driver's stdout, the final status. The exit code is
//! 0 only when the application FINISHED with final status SUCCEEDED; 130 on Ctrl-C (the
//! application keeps running).
//!
//! - [`args`]: the command line.
//! - [`plan`]: the effective properties, their validation, and the submission (the env
//!   contract with the driver).
//! - [`classes`]: `--class` against the binary's classes.
//! - [`cluster`]: the RM and NM conversations.

pub mod args;
pub mod classes;
pub mod cluster;
pub mod defaults;
pub mod plan;

use args::{parse_args, Action, SubmitArgs, USAGE};
use plan::{effective_conf, rm_address_override, Plan};

/// Exit code after Ctrl-C (the application keeps running).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs spindle-submit with the process's arguments; returns its exit code.
pub fn main() -> i32 {
    let mut argv = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => argv.push(s),
            Err(bad) => {
                eprintln!("spindle-submit: argument {bad:?} is not valid UTF-8");
                return 1;
            }
        }
    }
    crate::logging::init_from_env();
    run(argv)
}

/// Runs spindle-submit with `argv` (without the program name); returns its exit code.
pub fn run(argv: Vec<String>) -> i32 {
    match run_inner(argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spindle-submit: {e:#}");
            1
        }
    }
}

fn run_inner(argv: Vec<String>) -> anyhow::Result<i32> {
    let args = parse_args(argv)?;
    let conf_dir = common::clientconf::ClientConf::dir_from_env().ok();
    match args.action()? {
        Action::Help => {
            print!("{USAGE}");
            Ok(0)
        }
        Action::Version => {
            println!("spindle-submit {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Action::Status(id) => {
            let address = master_address(&args, conf_dir.as_deref())?;
            block_on(async move { cluster::status(address.as_deref(), &id).await })
        }
        Action::Kill(id) => {
            let address = master_address(&args, conf_dir.as_deref())?;
            block_on(async move { cluster::kill(address.as_deref(), &id).await })
        }
        Action::Submit => {
            // Everything is checked before the first byte goes to the cluster.
            let plan = Plan::prepare(&args, conf_dir.as_deref())?;
            if let Some(class) = &plan.class {
                classes::check(&plan.binary, class)?;
            }
            for key in &plan.ignored {
                eprintln!("spindle-submit: warning: ignoring non-Spark config property: {key}");
            }
            if plan.verbose {
                print!("{}", plan.describe());
            }
            block_on(cluster::submit(plan))
        }
    }
}

/// The RM address named by the effective `spark.master` (for `--status` / `--kill`).
fn master_address(
    args: &SubmitArgs,
    conf_dir: Option<&std::path::Path>,
) -> anyhow::Result<Option<String>> {
    let (conf, _) = effective_conf(args, conf_dir)?;
    Ok(rm_address_override(&conf)?)
}

/// Runs `fut` on a fresh runtime; Ctrl-C ends it with [`EXIT_INTERRUPTED`].
fn block_on(fut: impl std::future::Future<Output = anyhow::Result<i32>>) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let code = rt.block_on(async {
        tokio::select! {
            r = fut => r,
            _ = tokio::signal::ctrl_c() => {
                match cluster::SUBMITTED.get() {
                    Some(id) => eprintln!(
                        "spindle-submit: interrupted; application {id} keeps running \
                         (spindle-submit --kill {id} stops it)"
                    ),
                    None => eprintln!("spindle-submit: interrupted"),
                }
                Ok(EXIT_INTERRUPTED)
            }
        }
    });
    // Do not wait for lingering connections or blocking reads.
    rt.shutdown_background();
    code
}
