use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum CertsCommand {
    /// Create a cluster CA and issue node, user and container certificates into DIR.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// User name for the user certificate's subject (default: $USER).
        #[arg(long)]
        user: Option<String>,
        /// Extra host names or IPs the node certificate answers to (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Replace an existing CA in DIR.
        #[arg(long)]
        force: bool,
    },
    /// Issue another certificate from the CA in DIR (e.g. for another host).
    Issue {
        #[arg(long)]
        dir: PathBuf,
        /// File name stem: writes NAME.pem and NAME.key.
        #[arg(long)]
        name: String,
        /// Subject common name (e.g. "spindle-node" or "user:alice").
        #[arg(long)]
        common_name: String,
        #[arg(long = "san")]
        sans: Vec<String>,
    },
}

pub(crate) fn run(cmd: CertsCommand) -> anyhow::Result<()> {
    match cmd {
        CertsCommand::Init {
            dir,
            user,
            sans,
            force,
        } => {
            if dir.join(common::tls::CA_CERT).exists() && !force {
                anyhow::bail!(
                    "{} already holds a cluster CA; pass --force to replace it",
                    dir.display()
                );
            }
            let user = user
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "spindle".into());
            common::tls::init_cluster_certs(&dir, &user, &sans)?;
            println!("cluster CA and certificates written to {}", dir.display());
            println!("  ca.pem ca.key  node.pem node.key  user.pem user.key (user:{user})  container.pem container.key");
        }
        CertsCommand::Issue {
            dir,
            name,
            common_name,
            sans,
        } => {
            let ca = common::tls::ClusterCa::load(&dir)?;
            let files = ca.issue(&dir, &name, &common_name, &sans)?;
            println!(
                "issued {} and {}",
                files.cert.display(),
                files.key.display()
            );
        }
    }
    Ok(())
}
