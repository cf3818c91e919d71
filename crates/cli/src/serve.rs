//! `clearing serve`: the x402 facilitator's HTTP API on the configured chain.

use std::net::SocketAddr;

use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use clap::Args;
use clearing_facilitator::{Facilitator, http};

use crate::config::Config;

/// Arguments of `clearing serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Listen address; default `[facilitator] listen` (127.0.0.1:4020).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub(crate) async fn run(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    let provider = clearing_chain::connect(&config.chain.rpc_url)?;
    let signers = match &config.relayer.private_key {
        Some(key) => {
            vec![key.expose().parse::<PrivateKeySigner>().context("the relayer key is not a hex key")?.address()]
        }
        None => Vec::new(),
    };
    let facilitator = Facilitator::new(provider, signers, &config.facilitator)
        .await
        .with_context(|| format!("reaching the chain at {}", config.chain.rpc_url))?;
    let listen = args.listen.unwrap_or(config.facilitator.listen);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    println!("facilitator listening on http://{}", listener.local_addr()?);
    http::serve(listener, facilitator.router(&config.facilitator), shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
