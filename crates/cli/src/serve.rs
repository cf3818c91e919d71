//! `clearing serve`: the running system ([`System`]: the x402 facilitator, the indexer beside it, the audit trail)
//! on the configured chain, until Ctrl-C or SIGTERM. Needs the relayer key, the deployment, the token and the
//! database.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use crate::{config::Config, shutdown, system::System};

/// Arguments of `clearing serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Listen address; default `[facilitator] listen` (127.0.0.1:4020).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub(crate) async fn run(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    let system = System::start(&config).await?;
    let listen = args.listen.unwrap_or(config.facilitator.listen);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    println!("facilitator listening on http://{} (relayer {})", listener.local_addr()?, system.relayer());
    system.serve(listener, shutdown::signal_received()).await?;
    println!("stopped");
    Ok(())
}
