//! `clearing-market-bench`: prints the catalog's numbers (answers per second and latency of
//! `GET /v1/services/catalog` over 100,000 listed services, by query mix, with the answer cache on and off) measured
//! on a local anvil and PostgreSQL. Build it with `--release`.

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use clearing_bench::MarketOptions;

/// Benchmarks the catalog on loopback: anvil as a child, the market in-process, a fresh database.
#[derive(Debug, Parser)]
#[command(name = "clearing-market-bench")]
struct Args {
    /// PostgreSQL to create the throwaway `clearing_market_bench_<pid>` database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// The anvil binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/.bin/anvil"))]
    anvil: PathBuf,
    /// Services to list.
    #[arg(long, default_value_t = 100_000)]
    services: usize,
    /// Providers listing them.
    #[arg(long, default_value_t = 500)]
    providers: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Client threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds of measured load per mix.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured load before each.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// `[market] catalog_cache_ms` settings to run, comma-separated (0: no cache).
    #[arg(long, value_delimiter = ',', default_value = "1000,0")]
    cache_ms: Vec<u64>,
    /// Words in the listings' vocabulary: 234 makes every word a searched one (each in 10% to 90% of the listings,
    /// the worst case for ranking).
    #[arg(long, default_value_t = clearing_bench::VOCABULARY)]
    vocabulary: usize,
    /// Leave the database behind (its URL is printed), for `EXPLAIN ANALYZE` on the same listings.
    #[arg(long)]
    keep_database: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let options = MarketOptions {
        anvil: args.anvil,
        database_url: args.database_url,
        services: args.services,
        providers: args.providers,
        connections: args.connections,
        threads: args.threads,
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
        cache_ms: args.cache_ms,
        vocabulary: args.vocabulary,
        keep_database: args.keep_database,
    };
    let report = clearing_bench::run_market(options).await?;
    print!("{report}");
    Ok(())
}
