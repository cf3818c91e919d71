//! `clearing index`: follows the configured chain into the ledger until Ctrl-C; `--rebuild` instead rebuilds every
//! projection from chain data into a fresh schema and compares it with the live index (exit status 1 if they
//! differ). `serve` and `dev` run the same indexer beside the facilitator ([`spawn`]).

use anyhow::Context;
use clap::Args;
use clearing_indexer::{Indexer, IndexerConfig, Targets, rebuild};
use clearing_ledger::Ledger;
use tokio::task::JoinHandle;
use tracing::error;

use crate::{config::Config, serve::shutdown_signal};

/// Arguments of `clearing index`.
#[derive(Debug, Args)]
pub(crate) struct IndexArgs {
    /// Rebuild every projection from chain data into a fresh schema and compare it with the live index.
    #[arg(long)]
    rebuild: bool,
    /// The schema the rebuild writes to.
    #[arg(long, default_value = "clearing_rebuild")]
    schema: String,
    /// Keep the rebuild's schema for inspection instead of dropping it.
    #[arg(long)]
    keep_schema: bool,
}

/// What the configured deployment asks the indexer to follow.
pub(crate) fn targets(config: &Config) -> anyhow::Result<Targets> {
    let deployment = config.chain.deployment.context("no [chain.deployment]: run `clearing deploy --write`")?;
    Ok(Targets {
        chain_id: deployment.chain_id,
        start_block: config.indexer.start_block.unwrap_or(deployment.start_block),
        batch_settler: deployment.batch_settler,
        escrow: deployment.escrow,
        anchor_registry: deployment.anchor_registry,
        token: config.chain.usdc.as_ref().map(|t| t.address),
    })
}

/// Runs the indexer in the background (none when `[indexer] enabled = false`); it logs and stops on a failure that
/// needs an operator, which `/health` then reports.
pub(crate) async fn spawn(
    ledger: Ledger,
    rpc_url: &str,
    targets: Targets,
    config: &IndexerConfig,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if !config.enabled {
        return Ok(None);
    }
    let provider = clearing_chain::connect(rpc_url)?;
    let indexer = Indexer::new(ledger, provider, targets, config).await?;
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = indexer.run(std::future::pending()).await {
            error!(error = %e, "the indexer stopped");
        }
    })))
}

pub(crate) async fn run(args: IndexArgs, config: Config) -> anyhow::Result<()> {
    let targets = targets(&config)?;
    let ledger = Ledger::connect(&config.database.url, config.database.max_connections).await?;
    ledger.migrate().await?;
    let provider = clearing_chain::connect(&config.chain.rpc_url)?;
    if args.rebuild {
        let report = rebuild(&ledger, provider, targets, &config.indexer, &args.schema, args.keep_schema).await?;
        println!("rebuilt from chain data up to block {} (schema {})", report.block, args.schema);
        for table in &report.tables {
            let verdict = if table.equal() { "equal" } else { "DIFFERS" };
            println!(
                "  {:<24} live {:>9} rows  rebuilt {:>9} rows  {verdict}",
                table.live.table, table.live.rows, table.rebuilt.rows
            );
        }
        if !report.equal() {
            anyhow::bail!("the live projections differ from the rebuild");
        }
        println!("every projection equals its rebuild");
        return Ok(());
    }
    let indexer = Indexer::new(ledger, provider, targets.clone(), &config.indexer)
        .await
        .with_context(|| format!("reaching the chain at {}", config.chain.rpc_url))?;
    println!(
        "indexing chain {} from block {} ({} confirmations)",
        targets.chain_id,
        targets.start_block,
        indexer.confirmations()
    );
    indexer.run(shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}
