//! `clearing-balance-bench`: prints purchases paid from a prepaid balance per second and their latency (one agent's
//! balance, or `--agents N`'s, one credential each, every purchase a new one), and how long the vault's `debitMany` batches took to apply
//! them on anvil with 1 s blocks. Build it with `--release`; `script/bench` runs it.

use std::path::PathBuf;

use clap::Parser;
use clearing_bench::{BalanceOptions, run_balances};

/// Benchmarks balance purchases on loopback: anvil as a child, the market, facilitator and indexer in-process, a fresh
/// database.
#[derive(Debug, Parser)]
#[command(name = "clearing-balance-bench")]
struct Args {
    /// PostgreSQL to create the throwaway `clearing_balance_bench_<pid>` database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// The anvil binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/.bin/anvil"))]
    anvil: PathBuf,
    /// Purchases per row.
    #[arg(long, default_value_t = 20_000)]
    purchases: usize,
    /// Connection counts, comma-separated: a row each.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    connections: Vec<usize>,
    /// Client threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The ledger's pool size (`clearing serve`'s default is 10).
    #[arg(long, default_value_t = 10)]
    db_connections: u32,
    /// Agents the purchases are spread over, each with its own balance and credential (request i spends agent
    /// i mod agents's); 1 is the worst case, every purchase on one agent's row.
    #[arg(long, default_value_t = 1)]
    agents: usize,
    /// The market's balance debit writers (`Market::with_debit_writers`; its default is 2).
    #[arg(long, default_value_t = 2)]
    debit_writers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let options = BalanceOptions {
        anvil: args.anvil,
        database_url: args.database_url,
        purchases: args.purchases,
        connections: args.connections,
        threads: args.threads,
        db_connections: args.db_connections,
        agents: args.agents.max(1),
        debit_writers: args.debit_writers,
    };
    let rows = run_balances(options).await?;
    println!(
        "| connections | answered | failed | answered/s | p50 ms | p99 ms | max ms | all applied after (s) | CPU µs per \
         purchase: client / market / anvil / PostgreSQL / other = total |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for row in &rows {
        let cpu = row.cpu_us;
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} / {:.0} / {:.0} / {:.0} / {:.0} = {:.0} |",
            row.connections,
            row.answered,
            row.failed,
            row.per_second,
            row.p50_ms,
            row.p99_ms,
            row.max_ms,
            row.drain_secs,
            cpu.client,
            cpu.market,
            cpu.anvil,
            cpu.postgres,
            cpu.other,
            cpu.total()
        );
        if let Some(failure) = &row.first_failure {
            println!("first failure: {failure}");
        }
    }
    Ok(())
}
