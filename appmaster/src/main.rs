use clap::{Parser, Subcommand};

/// Spindle's application master (the driver in cluster mode), its executors,
/// the built-in examples, and tools.
#[derive(Parser)]
#[command(name = "appmaster", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay dynamic-allocation traces through the allocation manager (format: dra-cases.md).
    SimulateAllocation {
        /// A JSON-lines file of cases.
        #[arg(long)]
        cases: std::path::PathBuf,
    },
}

/// The built-in examples: `spindle-submit --class NAME appmaster ARGS...`.
fn builtin(sc: &appmaster::rdd::SparkContext) -> anyhow::Result<()> {
    // An unknown or missing class is an error that lists the known ones.
    let class = common::launch::DriverLaunch::from_env()
        .ok()
        .and_then(|d| d.class)
        .unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    appmaster::examples::run_example(&class, sc, &args)
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os(common::launch::ROLE).is_some() {
        appmaster::run_app(builtin);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::SimulateAllocation { cases } => {
            use anyhow::Context as _;
            use std::io::Write as _;
            let text = std::fs::read_to_string(&cases)
                .with_context(|| format!("reading cases from {}", cases.display()))?;
            let mut out = std::io::stdout().lock();
            for line in am_core::simulate::run_lines(&text) {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            Ok(())
        }
    }
}
