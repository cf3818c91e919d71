//! `clearing index`: follows the configured chain into the ledger until Ctrl-C; `--rebuild` instead rebuilds every
//! projection from chain data into a fresh schema and compares it with the live index (exit status 1 if they
//! differ). `serve` and `dev` run the same indexer beside the facilitator (see [`crate::system`]).

use anyhow::Context;
use clap::Args;
use clearing_indexer::{Indexer, rebuild};
use clearing_ledger::Ledger;

use crate::{config::Config, shutdown, system::indexer_targets};

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

pub(crate) async fn run(args: IndexArgs, config: Config) -> anyhow::Result<()> {
    let targets = indexer_targets(&config)?;
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
    indexer.run(shutdown::signal_received()).await?;
    println!("stopped");
    Ok(())
}
