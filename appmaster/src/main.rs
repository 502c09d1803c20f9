use clap::{Parser, Subcommand};

/// Spindle's application master (the driver in cluster mode) and its tools.
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::SimulateAllocation { cases } => appmaster::simulate::run_file(&cases),
    }
}
