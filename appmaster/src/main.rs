use clap::{Parser, Subcommand};

/// Spindle's application master (the driver in cluster mode), its executors,
/// the built-in examples, and tools. `appmaster --class NAME [ARGS]` runs an example
/// in-process (like Spark's `local[*]`); `appmaster --list-classes` lists them.
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

/// The class and arguments of a local run (`appmaster --class NAME ARGS...`).
static LOCAL: std::sync::OnceLock<(String, Vec<String>)> = std::sync::OnceLock::new();

/// The built-in examples: `spindle-submit --class NAME appmaster ARGS...`, or run
/// in-process with `appmaster --class NAME ARGS...`.
fn builtin(sc: &appmaster::rdd::SparkContext) -> anyhow::Result<()> {
    if let Some((class, args)) = LOCAL.get() {
        return appmaster::examples::run_example(class, sc, args);
    }
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
    if appmaster::driver::is_list_classes() {
        let _ = std::hint::black_box(appmaster::driver::APP_BINARY_MARKER);
        for name in appmaster::examples::class_names() {
            println!("{name}");
        }
        return Ok(());
    }
    // Like spark-submit's `local[*]`: the example runs in this process.
    let mut args = std::env::args().skip(1);
    match args.next() {
        Some(flag) if flag == "--class" || flag.starts_with("--class=") => {
            let class = match flag.strip_prefix("--class=") {
                Some(c) => c.to_string(),
                None => args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--class needs a class name"))?,
            };
            LOCAL
                .set((class, args.collect()))
                .expect("set once, before the app runs");
            appmaster::run_app(builtin);
        }
        _ => {}
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
