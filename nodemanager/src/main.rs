use anyhow::Context;
use clap::Parser;
use nodemanager::NmConfig;
use std::path::PathBuf;

/// Spindle's node manager.
#[derive(Parser)]
#[command(name = "nodemanager", version)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, default_value = "/etc/spindle/nodemanager.toml")]
    config: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = match NmConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nodemanager: {e}");
            std::process::exit(2);
        }
    };
    if args.check_config {
        println!("{}: ok", args.config.display());
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let nm = match nodemanager::start(&config).await {
            Ok(nm) => nm,
            Err(e) => {
                eprintln!("nodemanager: {e}");
                std::process::exit(1);
            }
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        nm.shutdown().await;
        Ok(())
    })
}
