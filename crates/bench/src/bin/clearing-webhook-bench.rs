//! `clearing-webhook-bench`: prints webhook delivery's numbers (deliveries per second draining an outbox of 20,000
//! events over 1,000 endpoints, and event-to-delivery latency at a steady offered rate) for each dispatcher
//! concurrency asked for, measured against a receiver on loopback and a local PostgreSQL. Build it with `--release`.

use clap::Parser;
use clearing_bench::WebhookOptions;

/// Benchmarks the webhook dispatcher on loopback: a fresh database per concurrency, the receiver in-process.
#[derive(Debug, Parser)]
#[command(name = "clearing-webhook-bench")]
struct Args {
    /// PostgreSQL to create the throwaway `clearing_webhook_bench_<pid>_<concurrency>` databases on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Events in the outbox when the dispatcher starts.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Endpoints (participants) they go to.
    #[arg(long, default_value_t = 1_000)]
    endpoints: usize,
    /// Jobs (ordering keys) they are spread over, each job's events delivered in order.
    #[arg(long, default_value_t = 5_000)]
    jobs: usize,
    /// `[webhooks] concurrency` values to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    concurrency: Vec<usize>,
    /// The ledger's connection pool (`[database] max_connections`).
    #[arg(long, default_value_t = 10)]
    pool: u32,
    /// Concurrent enqueues while filling the outbox.
    #[arg(long, default_value_t = 10)]
    fill_tasks: usize,
    /// Events per second offered after the drain, each enqueued on its own; 0 skips the live phase.
    #[arg(long, default_value_t = 1_000)]
    live_rate: u32,
    /// Seconds of the live phase.
    #[arg(long, default_value_t = 10)]
    live_secs: u64,
    /// Milliseconds the receiver waits before answering each request (a remote receiver's round trip).
    #[arg(long, default_value_t = 0)]
    receiver_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let options = WebhookOptions {
        database_url: args.database_url,
        events: args.events,
        endpoints: args.endpoints,
        jobs: args.jobs,
        concurrency: args.concurrency,
        pool: args.pool,
        fill_tasks: args.fill_tasks,
        live_rate: args.live_rate,
        live_secs: args.live_secs,
        receiver_delay: std::time::Duration::from_millis(args.receiver_delay_ms),
    };
    let report = clearing_bench::run_webhooks(options).await?;
    print!("{report}");
    Ok(())
}
