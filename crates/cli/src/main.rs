//! `clearing`, the one binary: `dev` runs the whole system on a local chain, `serve` runs the x402 facilitator,
//! `migrate` brings a database to the current schema, `index` follows the chain into the ledger, `deploy` deploys the
//! contract suite to any RPC endpoint, `audit` checks settlement records and anchors against the chain with no
//! database, `pay` pays an x402 resource, `claim` pays an account its escrow balance through the relayer.
//!
//! Configuration comes from one TOML file (`--config`, default `clearing.toml`) with environment overrides;
//! see [`config`]. Logs go to stderr through `tracing` (warnings by default; `RUST_LOG=info` for more); human output to
//! stdout.

mod audit;
mod claim;
mod config;
mod deploy;
mod dev;
mod index;
mod migrate;
mod pay;
mod process;
mod serve;
mod shutdown;
mod system;
mod tools;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, ProcessEnv};

/// Clearing: an x402 escrow and settlement engine for USDC on Base.
#[derive(Debug, Parser)]
#[command(name = "clearing", version, about)]
struct Cli {
    /// The configuration file; missing means all defaults.
    #[arg(long, global = true, env = "CLEARING_CONFIG", default_value = "clearing.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole system on a local anvil: contracts, test USDC, a migrated database.
    Dev(dev::DevArgs),
    /// Apply the database migrations (creating the database if it is missing).
    Migrate(migrate::MigrateArgs),
    /// Deploy BatchSettler, Escrow, AnchorRegistry, BalanceVault and Subscriptions with the relayer key.
    Deploy(deploy::DeployArgs),
    /// Follow the chain into the ledger (or, with --rebuild, rebuild and compare every projection).
    Index(index::IndexArgs),
    /// Serve the x402 facilitator API (/verify, /supported, /health, /metrics, /openapi.json) and the audit
    /// record API (/audit/records/{seq}), with the indexer, sequencer and anchorer beside it.
    Serve(serve::ServeArgs),
    /// Check settlement records and anchors against the chain: `verify <record.json>`, `rebuild`.
    Audit(audit::AuditArgs),
    /// Request a URL and pay it if it answers 402 (x402 `exact`), with the key in CLEARING_PAYER_KEY.
    Pay(pay::PayArgs),
    /// Pay an account its whole escrow balance, to itself, through the running server's relayer.
    Claim(claim::ClaimArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    let config = Config::load(&cli.config, &ProcessEnv)?;
    match cli.command {
        Command::Dev(args) => dev::run(args, config).await,
        Command::Migrate(args) => migrate::run(args, config).await,
        Command::Deploy(args) => deploy::run(args, config, &cli.config).await,
        Command::Serve(args) => serve::run(args, config).await,
        Command::Audit(args) => audit::run(args, config).await,
        Command::Index(args) => index::run(args, config).await,
        Command::Pay(args) => pay::run(args).await,
        Command::Claim(args) => claim::run(args, config).await,
    }
}
