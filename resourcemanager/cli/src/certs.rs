use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum CertsCommand {
    /// Create a cluster CA and issue the RM's, a node's, a user's and the container
    /// certificate into DIR.
    Init {
        /// The directory the CA and the certificates go to (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// User name for the user certificate's subject (default: $USER, else spindle).
        #[arg(long)]
        user: Option<String>,
        /// The node id (HOST:PORT, as the NM registers) that node.pem names (default: this
        /// host's name and port 8041). Other hosts get theirs with `certs issue`.
        #[arg(long)]
        node: Option<String>,
        /// Extra host names or IPs the RM and node certificates answer to (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Replace an existing CA in DIR.
        #[arg(long)]
        force: bool,
    },
    /// Issue another certificate from the CA in DIR (e.g. for another host).
    Issue {
        /// The directory with the CA (from `certs init`); the certificate goes there too.
        #[arg(long)]
        dir: PathBuf,
        /// File name stem: writes NAME.pem and NAME.key.
        #[arg(long)]
        name: String,
        /// Subject common name: the role, `node:HOST:PORT` (a node manager, as the node id
        /// it registers), `user:NAME`, `rm` or `container`.
        #[arg(long)]
        common_name: String,
        /// Extra host names or IPs the certificate answers to (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
    },
}

pub(crate) fn run(cmd: CertsCommand) -> anyhow::Result<()> {
    match cmd {
        CertsCommand::Init {
            dir,
            user,
            node,
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
            common::identity::check_user_name(&user)?;
            let node = node.unwrap_or_else(common::tls::default_node_id);
            check_role(&common::tls::node_common_name(&node))?;
            common::tls::init_cluster_certs(&dir, &user, &node, &sans)?;
            println!("cluster CA and certificates written to {}", dir.display());
            println!(
                "  ca.pem ca.key  rm.pem rm.key  node.pem node.key (node:{node})  \
                 user.pem user.key (user:{user})  container.pem container.key"
            );
        }
        CertsCommand::Issue {
            dir,
            name,
            common_name,
            sans,
        } => {
            check_role(&common_name)?;
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

/// A certificate must name a role (see `common::identity`): anything else would get
/// nothing from any daemon, which is surely not what was meant.
fn check_role(common_name: &str) -> anyhow::Result<()> {
    match common::identity::Role::from_common_name(common_name) {
        common::identity::Role::Unknown(_) => anyhow::bail!(
            "--common-name {common_name:?} names no role: use node:HOST:PORT, user:NAME, rm or container"
        ),
        _ => Ok(()),
    }
}
