//! `clearing migrate`

use clap::Args;
use clearing_ledger::Ledger;

use crate::config::Config;

/// Arguments of `clearing migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// Fail instead of creating the database when it does not exist.
    #[arg(long)]
    no_create: bool,
}

pub(crate) async fn run(args: MigrateArgs, config: Config) -> anyhow::Result<()> {
    let url = &config.database.url;
    if !args.no_create && Ledger::create_database_if_missing(url).await? {
        println!("created the database");
    }
    let ledger = Ledger::connect(url, 2).await?;
    let before = ledger.schema_version().await.unwrap_or(0);
    ledger.migrate().await?;
    let after = ledger.schema_version().await?;
    ledger.close().await;
    if before == after {
        println!("schema up to date (version {after})");
    } else {
        println!("migrated schema from version {before} to {after}");
    }
    Ok(())
}
