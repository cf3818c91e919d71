//! `clearing-purchase-bench`: prints the marketplace's purchase numbers (purchases answered per second and their
//! latency, jobs funded per second on chain, batches and gas per funded job, the same for data_api credits) measured
//! on a local anvil mining a block every second and PostgreSQL. Build it with `--release`; `script/bench` runs it.

use std::path::PathBuf;

use clap::Parser;
use clearing_bench::PurchaseOptions;
use clearing_facilitator::FacilitatorConfig;
use clearing_ledger::market::ServiceType;

/// Benchmarks marketplace purchases on loopback: anvil as a child, the market and facilitator in-process, a fresh
/// database.
#[derive(Debug, Parser)]
#[command(name = "clearing-purchase-bench")]
struct Args {
    /// PostgreSQL to create the throwaway `clearing_purchase_bench_<pid>` database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// The anvil binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/.bin/anvil"))]
    anvil: PathBuf,
    /// Purchases per row, each a new payment. They are signed before the row and valid for 60 s: a row must be
    /// answered within about 50 s.
    #[arg(long, default_value_t = 5_000)]
    purchases: usize,
    /// Connection counts, comma-separated: a row each per tier. Each purchase waits for its funding to be mined, so
    /// with 1 s blocks N connections cannot answer much more than N purchases a second.
    #[arg(long, value_delimiter = ',', default_value = "256,1000")]
    connections: Vec<usize>,
    /// Tiers to buy, comma-separated: automated_service and human_service are escrow jobs, data_api a credit.
    #[arg(long, value_delimiter = ',', default_value = "automated_service,data_api", value_parser = service_type)]
    service_types: Vec<ServiceType>,
    /// Payer wallets the purchases cycle through.
    #[arg(long, default_value_t = 1_000)]
    payers: usize,
    /// Client threads (they share the machine's cores with the server, anvil and PostgreSQL).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The ledger's pool size (`[database] max_connections`; `clearing serve`'s default is 10).
    #[arg(long, default_value_t = 10)]
    db_connections: u32,
    /// Most payments per batch transaction (`settle.batch_size`).
    #[arg(long)]
    batch_size: Option<u32>,
    /// Longest a queued payment waits for its batch, ms (`settle.max_wait_ms`).
    #[arg(long)]
    max_wait_ms: Option<u64>,
    /// Most batches in flight per asset and route (`settle.max_in_flight`).
    #[arg(long)]
    settle_max_in_flight: Option<u32>,
    /// Most verify read calls under way at once (`reads.max_in_flight`).
    #[arg(long)]
    reads_max_in_flight: Option<usize>,
    /// The verify reads' block number poll, ms (`reads.head_poll_ms`).
    #[arg(long)]
    head_poll_ms: Option<u64>,
    /// Leave the database behind (its URL is printed), to read the settlement pipeline's timestamps (queued,
    /// claimed, broadcast, mined) with psql.
    #[arg(long)]
    keep_database: bool,
}

fn service_type(text: &str) -> Result<ServiceType, String> {
    ServiceType::parse(text).ok_or_else(|| format!("{text:?} is not data_api, automated_service or human_service"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let mut facilitator = FacilitatorConfig::default();
    if let Some(batch_size) = args.batch_size {
        facilitator.settle.batch_size = batch_size;
    }
    if let Some(max_wait_ms) = args.max_wait_ms {
        facilitator.settle.max_wait_ms = max_wait_ms;
    }
    if let Some(max_in_flight) = args.settle_max_in_flight {
        facilitator.settle.max_in_flight = max_in_flight;
    }
    if let Some(max_in_flight) = args.reads_max_in_flight {
        facilitator.reads.max_in_flight = max_in_flight;
    }
    if let Some(head_poll_ms) = args.head_poll_ms {
        facilitator.reads.head_poll_ms = head_poll_ms;
    }
    let options = PurchaseOptions {
        anvil: args.anvil,
        database_url: args.database_url,
        purchases: args.purchases,
        connections: args.connections,
        service_types: args.service_types,
        payers: args.payers,
        threads: args.threads,
        db_connections: args.db_connections,
        facilitator,
        keep_database: args.keep_database,
        machine: clearing_bench::machine(),
    };
    let report = clearing_bench::run_purchases(options).await?;
    print!("{report}");
    Ok(())
}
