//! `clearing-index-bench`: prints the indexer's numbers (ingestion in events per second from a pre-generated
//! backlog on anvil, peak memory, time to recover from a reorg) measured on a local anvil and PostgreSQL. Build it
//! with `--release`; `script/bench` runs it.

use std::path::PathBuf;

use clap::Parser;
use clearing_bench::IndexOptions;
use clearing_indexer::IndexerConfig;

/// Benchmarks the indexer on loopback: anvil as a child, the indexer in-process, a fresh database.
#[derive(Debug, Parser)]
#[command(name = "clearing-index-bench")]
struct Args {
    /// PostgreSQL to create the throwaway `clearing_index_bench_<pid>` database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// The anvil binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/.bin/anvil"))]
    anvil: PathBuf,
    /// Events to pre-generate, at least.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// `PaymentSettled` events per settlement block.
    #[arg(long, default_value_t = 1_000)]
    payments_per_block: usize,
    /// Escrow jobs per escrow block (3 events each, and a `Claimed`).
    #[arg(long, default_value_t = 25)]
    jobs_per_block: usize,
    /// Blocks replaced by the reorg.
    #[arg(long, default_value_t = 64)]
    reorg_depth: u64,
    /// Skip the rebuild from chain data that checks the projections after the reorg.
    #[arg(long)]
    no_verify: bool,
    /// The indexer's `initial_range` (default: the indexer's).
    #[arg(long)]
    initial_range: Option<u64>,
    /// The indexer's `max_range`.
    #[arg(long)]
    max_range: Option<u64>,
    /// The indexer's `max_logs_per_range`.
    #[arg(long)]
    max_logs_per_range: Option<usize>,
    /// The indexer's `fetch_concurrency`.
    #[arg(long)]
    fetch_concurrency: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let mut config = IndexerConfig::default();
    config.initial_range = args.initial_range.unwrap_or(config.initial_range);
    config.max_range = args.max_range.unwrap_or(config.max_range);
    config.max_logs_per_range = args.max_logs_per_range.unwrap_or(config.max_logs_per_range);
    config.fetch_concurrency = args.fetch_concurrency.unwrap_or(config.fetch_concurrency);
    let options = IndexOptions {
        anvil: args.anvil,
        database_url: args.database_url,
        events: args.events,
        payments_per_block: args.payments_per_block,
        jobs_per_block: args.jobs_per_block,
        reorg_depth: args.reorg_depth,
        verify: !args.no_verify,
        config,
        machine: clearing_bench::machine(),
    };
    let report = clearing_bench::run_index(options).await?;
    print!("{report}");
    Ok(())
}
