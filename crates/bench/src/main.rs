//! `clearing-bench`: prints the facilitator's numbers (verify throughput and latency, RPC calls per verify,
//! settled payments per second, gas per payment) measured on a local anvil and PostgreSQL. Build it with
//! `--release`; `script/bench` runs it.

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use clearing_bench::Options;
use clearing_facilitator::FacilitatorConfig;

/// Benchmarks the facilitator on loopback: anvil as a child, the facilitator in-process, a fresh database.
#[derive(Debug, Parser)]
#[command(name = "clearing-bench")]
struct Args {
    /// PostgreSQL to create the throwaway `clearing_bench_<pid>` database on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// The anvil binary.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/.bin/anvil"))]
    anvil: PathBuf,
    /// Verify connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    connections: Vec<usize>,
    /// Skips the verify runs (only settle is measured).
    #[arg(long)]
    skip_verify: bool,
    /// Seconds of measured load per connection count.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured load before each.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Payers, each minted a balance.
    #[arg(long, default_value_t = 1_000)]
    payers: usize,
    /// Distinct signed verify payments per payer.
    #[arg(long, default_value_t = 4)]
    payments_per_payer: usize,
    /// How many times each verify payment is sent, in place: 2 models a resource server's verify followed by
    /// settle's own verify of the same payment.
    #[arg(long, default_value_t = 1)]
    verify_repeats: usize,
    /// Seconds between blocks during the verify runs (Base: 2); 0 mines none (anvil mines only on transactions).
    #[arg(long, default_value_t = 2)]
    verify_block_time: u64,
    /// The facilitator's block number poll, ms (`reads.head_poll_ms`; 0 turns the answer cache off).
    #[arg(long)]
    head_poll_ms: Option<u64>,
    /// Client threads (they share the machine's cores with the facilitator and anvil).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Payments sent through `/settle`; 0 skips settling.
    #[arg(long, default_value_t = 10_000)]
    settle_payments: usize,
    /// Concurrent `/settle` connections. Each waits for its payment's receipt, so with 1 s blocks N connections
    /// can settle at most N payments a second.
    #[arg(long, default_value_t = 2_000)]
    settle_connections: usize,
    /// The verify coalescer's window, µs (the facilitator's `reads.max_wait_us`).
    #[arg(long)]
    max_wait_us: Option<u64>,
    /// Most verify read calls under way at once (the facilitator's `reads.max_in_flight`).
    #[arg(long)]
    reads_max_in_flight: Option<usize>,
    /// Most batches in flight per asset (the facilitator's `settle.max_in_flight`).
    #[arg(long)]
    settle_max_in_flight: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let mut facilitator = FacilitatorConfig::default();
    if let Some(max_wait_us) = args.max_wait_us {
        facilitator.reads.max_wait_us = max_wait_us;
    }
    if let Some(head_poll_ms) = args.head_poll_ms {
        facilitator.reads.head_poll_ms = head_poll_ms;
    }
    if let Some(max_in_flight) = args.reads_max_in_flight {
        facilitator.reads.max_in_flight = max_in_flight;
    }
    if let Some(max_in_flight) = args.settle_max_in_flight {
        facilitator.settle.max_in_flight = max_in_flight;
    }
    let options = Options {
        anvil: args.anvil,
        database_url: args.database_url,
        payers: args.payers,
        payments_per_payer: args.payments_per_payer,
        connections: if args.skip_verify { Vec::new() } else { args.connections },
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
        verify_repeats: args.verify_repeats,
        verify_block_time: args.verify_block_time,
        client_threads: args.client_threads,
        settle_payments: args.settle_payments,
        settle_connections: args.settle_connections,
        facilitator,
        machine: clearing_bench::machine(),
    };
    let report = clearing_bench::run(options).await?;
    print!("{report}");
    Ok(())
}
