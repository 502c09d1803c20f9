//! `spindle token create`: a bearer token for the RM's web, for REST clients that cannot
//! present a client certificate (`curl -H "Authorization: Bearer $(spindle token create)"`).

use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Print a bearer token that acts as this certificate's user on the RM's web.
    Create {
        /// How long it is valid (e.g. 1h, 12h, 7d; at most 30d).
        #[arg(long, default_value = "12h")]
        ttl: String,
    },
}

pub(crate) async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { ttl } => {
            let ttl = common::duration::parse_duration(&ttl)
                .map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            let (rm, _) = crate::rm_client()?;
            let (token, _expiry) = rm.web_token(ttl.as_millis() as u64).await?;
            println!("{token}");
            Ok(())
        }
    }
}
