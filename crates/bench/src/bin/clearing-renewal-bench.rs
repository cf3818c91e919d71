//! `clearing-renewal-bench`: prints the wall time and gas of renewing many due subscriptions end to end (the keeper's
//! round, `chargeMany` batches on anvil with 1 s blocks, the indexer seeing every charge). Build it with
//! `--release`; `script/bench` runs it.

use std::path::PathBuf;

use clap::Parser;
use clearing_bench::{RenewalOptions, run_renewals};

/// Benchmarks subscription renewals: anvil as a child, the facilitator's batcher, the indexer and the market's
/// subscription engine in-process, a fresh database.
#[derive(Debug, Parser)]
#[command(name = "clearing-renewal-bench")]
struct Args {
    /// PostgreSQL to create the throwaway `clearing_renewal_bench_<pid>` database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// The anvil binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/.bin/anvil"))]
    anvil: PathBuf,
    /// Agents, each subscribing to every plan.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Plans.
    #[arg(long, default_value_t = 100)]
    plans: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options =
        RenewalOptions { anvil: args.anvil, database_url: args.database_url, agents: args.agents, plans: args.plans };
    let report = run_renewals(options).await?;
    println!(
        "| subscriptions | opened in (s) | keeper queued in (s) | all renewed after (s) | chargeMany txs | gas | gas per renewal |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
        report.subscriptions,
        report.open_secs,
        report.queue_secs,
        report.renew_secs,
        report.transactions,
        report.gas,
        report.gas / report.subscriptions.max(1)
    );
    Ok(())
}
