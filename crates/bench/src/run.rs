//! One benchmark run: chain, database and facilitator up; verify loads; the settle load; everything torn down.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, TxHash, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use anyhow::Context;
use bytes::Bytes;
use clearing_chain::{DeployConfig, contracts::MockUSDC, deploy_mock_usdc, deploy_suite};
use clearing_facilitator::{
    Facilitator, FacilitatorConfig, SettleSetup,
    http::{self, RateLimit},
};
use clearing_ledger::Ledger;
use clearing_testkit::{TOKEN_NAME, TOKEN_VERSION, Terms};
use clearing_x402::TokenDomain;

use crate::{
    AnvilChild, Load, LoadResult, Plan, Report, SettleRow, VALIDITY_SECS, VerifyRow,
    load::{Carry, child_cpu_time, cpu_time_since, machine_busy_time, process_cpu_time, processes_cpu_time},
    repeated, signed_bodies,
};

/// Anvil's first default key: deploys, mints and relays.
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Minted to each payer, atomic units (one million USDC): no run can spend it.
const PAYER_BALANCE: u64 = 1_000_000_000_000;
/// Each verify payment, atomic units.
const VERIFY_VALUE: u64 = 1_000;
/// Each settle payment, atomic units.
const SETTLE_VALUE: u64 = 1;
/// Seconds between blocks while settling (as `anvil --block-time 1`).
const SETTLE_BLOCK_TIME_SECS: u64 = 1;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// A PostgreSQL URL; the run creates and drops its own database beside the one named.
    pub database_url: String,
    /// Payers, each minted a balance.
    pub payers: usize,
    /// Signed verify payments per payer.
    pub payments_per_payer: usize,
    /// Connection counts of the verify runs.
    pub connections: Vec<usize>,
    /// Each verify run's measured duration.
    pub duration: Duration,
    /// Unmeasured load before each verify run.
    pub warmup: Duration,
    /// How many times each verify payment is sent per cycle, in place ([`crate::repeated`]).
    pub verify_repeats: usize,
    /// Seconds between blocks during the verify runs (0: anvil mines only on transactions, so none).
    pub verify_block_time: u64,
    /// Client threads.
    pub client_threads: usize,
    /// Payments sent through `/settle` (0 skips settling).
    pub settle_payments: usize,
    /// Concurrent `/settle` connections.
    pub settle_connections: usize,
    /// The facilitator's configuration (the rate limits are turned off).
    pub facilitator: FacilitatorConfig,
    /// The machine, for the report.
    pub machine: String,
}

/// Runs the benchmark; anvil and the database are removed whatever happens.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let anvil = AnvilChild::start(&options.anvil).await?;
    let database_url = bench_database_url(&options.database_url)?;
    let result = run_on(&options, &anvil, &database_url).await;
    if let Err(e) = Ledger::drop_database_if_exists(&database_url).await {
        eprintln!("dropping the bench database failed: {e}");
    }
    anvil.stop().await;
    result
}

fn bench_database_url(base: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(base).with_context(|| "DATABASE_URL is not a URL")?;
    url.set_path(&format!("clearing_bench_{}", std::process::id()));
    Ok(url.to_string())
}

async fn run_on(options: &Options, anvil: &AnvilChild, database_url: &str) -> anyhow::Result<Report> {
    let key: PrivateKeySigner = ANVIL_KEY_0.parse()?;
    let relayer = key.address();
    let deployer = clearing_chain::connect_with_signer(&anvil.rpc_url, key.clone())?;
    let chain_id = deployer.get_chain_id().await?;
    let usdc = deploy_mock_usdc(&deployer, TOKEN_NAME).await?;
    let deployment = deploy_suite(&deployer, &DeployConfig::single_operator(relayer)).await?;

    let started = Instant::now();
    let payers: Vec<PrivateKeySigner> = (0..options.payers.max(1)).map(|_| PrivateKeySigner::random()).collect();
    mint_to_all(&deployer, usdc, relayer, &payers).await?;
    eprintln!("minted to {} payers in {:.1} s", payers.len(), started.elapsed().as_secs_f64());

    Ledger::create_database_if_missing(database_url).await?;
    let ledger = Ledger::connect(database_url, 16).await?;
    ledger.migrate().await?;

    let mut config = options.facilitator.clone();
    config.http.rate_limit_per_ip = RateLimit { per_second: 0, burst: 0 };
    config.http.rate_limit_per_key = RateLimit { per_second: 0, burst: 0 };
    let provider = clearing_chain::connect(&anvil.rpc_url)?;
    let setup = SettleSetup {
        ledger: ledger.clone(),
        relayer: key,
        batch_settler: deployment.batch_settler,
        escrow: None,
        vault: None,
        subscriptions: None,
        assets: vec![usdc],
    };
    let facilitator = Facilitator::new(provider.clone(), vec![relayer], &config)
        .await?
        .with_settlement(provider.clone(), setup, &config)
        .await?;
    let metrics = facilitator.metrics.clone();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let router = facilitator.router(&config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, router, async move {
        let _ = stopped.await;
    }));

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let domain = TokenDomain::new(chain_id, usdc, TOKEN_NAME, TOKEN_VERSION);
    // Verify refuses a validBefore further ahead than the requirements' timeout allows.
    let terms = |value| Terms::new(domain.clone(), Address::repeat_byte(0x7a), value).with_max_timeout(VALIDITY_SECS);
    let distinct = payers.len() * options.payments_per_payer.max(1);
    let verify_bodies =
        Arc::new(repeated(signed_bodies(&terms(VERIFY_VALUE), &payers, distinct, now), options.verify_repeats));
    if options.verify_block_time > 0 {
        anvil.interval_mining(options.verify_block_time).await?;
    }

    let mut verify = Vec::new();
    let mut first_failure = None;
    for &connections in &options.connections {
        let load = Load {
            address,
            method: hyper::Method::POST,
            path: "/verify".into(),
            carry: Carry::Body,
            connections,
            threads: options.client_threads,
            plan: Plan::For(options.warmup),
            expect: b"\"isValid\":true",
            keep_answers: false,
        };
        if !options.warmup.is_zero() {
            blocking_load(load.clone(), verify_bodies.clone()).await?;
        }
        let counters = || {
            [
                &metrics.chain_read_calls,
                &metrics.chain_reads,
                &metrics.chain_read_cache_hits,
                &metrics.chain_head_calls,
                &metrics.chain_log_scans,
                &metrics.chain_read_simulations_carried,
            ]
            .map(|counter| counter.load(Ordering::Relaxed))
        };
        let before = counters();
        let first_block = provider.get_block_number().await?;
        let (process_cpu, anvil_cpu) = (process_cpu_time(), anvil.pid().map(child_cpu_time).unwrap_or_default());
        let machine_cpu = machine_busy_time();
        let result = blocking_load(Load { plan: Plan::For(options.duration), ..load }, verify_bodies.clone()).await?;
        let wall = result.elapsed.as_secs_f64();
        let process_cpu = process_cpu_time().saturating_sub(process_cpu).as_secs_f64();
        let anvil_cpu = anvil.pid().map(child_cpu_time).unwrap_or_default().saturating_sub(anvil_cpu).as_secs_f64();
        let client_cpu = result.client_cpu.as_secs_f64();
        let machine_cpu = machine_busy_time().saturating_sub(machine_cpu).as_secs_f64();
        let after = counters();
        let [read_calls, reads, cache_hits, head_calls, log_scans, carried] =
            std::array::from_fn(|i| after[i] - before[i]);
        let blocks = provider.get_block_number().await?.saturating_sub(first_block);
        first_failure = first_failure.or(result.first_failure.clone());
        verify.push(VerifyRow {
            connections,
            ok: result.ok,
            failed: result.failed,
            elapsed: result.elapsed,
            p50_ms: result.latency_ms(0.50),
            p99_ms: result.latency_ms(0.99),
            max_ms: result.latency_ms(1.0),
            read_calls,
            reads,
            cache_hits,
            head_calls,
            log_scans,
            carried,
            blocks,
            client_cores: client_cpu / wall,
            server_cores: (process_cpu - client_cpu).max(0.0) / wall,
            anvil_cores: anvil_cpu / wall,
            other_cores: (machine_cpu - process_cpu - anvil_cpu).max(0.0) / wall,
        });
        eprintln!("verify at {connections} connections: {:.0}/s", result.per_second());
    }

    let settle = if options.settle_payments > 0 {
        anvil.interval_mining(SETTLE_BLOCK_TIME_SECS).await?;
        let bodies = Arc::new(signed_bodies(&terms(SETTLE_VALUE), &payers, options.settle_payments, now));
        let load = Load {
            address,
            method: hyper::Method::POST,
            path: "/settle".into(),
            carry: Carry::Body,
            connections: options.settle_connections,
            threads: options.client_threads,
            plan: Plan::EachOnce,
            expect: b"\"success\":true",
            keep_answers: true,
        };
        let cpu = CpuMark::now(anvil);
        let result = blocking_load(load, bodies).await?;
        let cores = cpu.cores_since(anvil, &result);
        Some(settle_row(&provider, options, &config, &result, cores).await?)
    } else {
        None
    };

    let _ = stop.send(());
    server.await??;
    facilitator.shutdown().await;
    ledger.close().await;
    Ok(Report {
        machine: options.machine.clone(),
        payers: payers.len(),
        verify_payments: distinct,
        verify_repeats: options.verify_repeats.max(1),
        verify_block_time: options.verify_block_time,
        client_threads: options.client_threads,
        max_wait_us: config.reads.max_wait_us,
        verify,
        settle,
        first_failure,
    })
}

/// Mints [`PAYER_BALANCE`] to every payer from `minter`: every mint is sent at consecutive nonces without
/// waiting for the one before, then every receipt is checked.
async fn mint_to_all(
    deployer: &clearing_chain::ChainProvider,
    usdc: Address,
    minter: Address,
    payers: &[PrivateKeySigner],
) -> anyhow::Result<()> {
    let token = MockUSDC::new(usdc, deployer.clone());
    let Some(first) = payers.first() else { return Ok(()) };
    // A first balance written costs the same for every fresh payer; twice the estimate leaves room.
    let gas = token.mint(first.address(), U256::from(PAYER_BALANCE)).estimate_gas().await? * 2;
    let fees = deployer.estimate_eip1559_fees().await?;
    let mut nonce = deployer.get_transaction_count(minter).pending().await?;
    let mut sent = Vec::with_capacity(payers.len());
    for payer in payers {
        let pending = token
            .mint(payer.address(), U256::from(PAYER_BALANCE))
            .nonce(nonce)
            .gas(gas)
            .max_fee_per_gas(fees.max_fee_per_gas)
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .send()
            .await?;
        sent.push(*pending.tx_hash());
        nonce += 1;
    }
    for tx in sent {
        let receipt = loop {
            match deployer.get_transaction_receipt(tx).await? {
                Some(receipt) => break receipt,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        anyhow::ensure!(receipt.status(), "mint {tx} reverted");
    }
    Ok(())
}

/// CPU times at the start of a load, to give each process's share of the cores over it.
pub(crate) struct CpuMark {
    process: Duration,
    anvil: Duration,
    machine: Duration,
    postgres: HashMap<u32, Duration>,
}

impl CpuMark {
    pub(crate) fn now(anvil: &AnvilChild) -> Self {
        Self {
            process: process_cpu_time(),
            anvil: anvil.pid().map(child_cpu_time).unwrap_or_default(),
            machine: machine_busy_time(),
            postgres: processes_cpu_time("postgres"),
        }
    }

    /// PostgreSQL's processes (every database's backends), in cores over `wall`: part of "other processes".
    pub(crate) fn postgres_cores_since(&self, wall: Duration) -> f64 {
        let spent = cpu_time_since(&self.postgres, &processes_cpu_time("postgres"));
        spent.as_secs_f64() / wall.as_secs_f64().max(f64::EPSILON)
    }

    /// Client, facilitator, anvil and other processes, in cores over the load's wall time.
    pub(crate) fn cores_since(&self, anvil: &AnvilChild, result: &LoadResult) -> [f64; 4] {
        let wall = result.elapsed.as_secs_f64().max(f64::EPSILON);
        let process = process_cpu_time().saturating_sub(self.process).as_secs_f64();
        let anvil = anvil.pid().map(child_cpu_time).unwrap_or_default().saturating_sub(self.anvil).as_secs_f64();
        let machine = machine_busy_time().saturating_sub(self.machine).as_secs_f64();
        let client = result.client_cpu.as_secs_f64();
        [client / wall, (process - client).max(0.0) / wall, anvil / wall, (machine - process - anvil).max(0.0) / wall]
    }
}

async fn blocking_load(load: Load, bodies: Arc<Vec<Bytes>>) -> anyhow::Result<LoadResult> {
    tokio::task::spawn_blocking(move || crate::load::run(&load, bodies)).await?
}

/// Gas per payment from the receipts of the batches named in the answers.
async fn settle_row(
    provider: &clearing_chain::ChainProvider,
    options: &Options,
    config: &FacilitatorConfig,
    result: &LoadResult,
    [client_cores, server_cores, anvil_cores, other_cores]: [f64; 4],
) -> anyhow::Result<SettleRow> {
    let mut per_batch: HashMap<TxHash, usize> = HashMap::new();
    for answer in &result.answers {
        let json: serde_json::Value = serde_json::from_slice(answer)?;
        if json["success"] == true
            && let Some(tx) = json["transaction"].as_str()
        {
            *per_batch.entry(tx.parse()?).or_default() += 1;
        }
    }
    let batch_size = config.settle.batch_size;
    let (mut gas, mut items, mut full_gas, mut full_items) = (0u64, 0usize, 0u64, 0usize);
    for (tx, count) in &per_batch {
        let receipt =
            provider.get_transaction_receipt(*tx).await?.with_context(|| format!("no receipt for batch {tx}"))?;
        gas += receipt.gas_used;
        items += count;
        if *count == batch_size as usize {
            full_gas += receipt.gas_used;
            full_items += count;
        }
    }
    Ok(SettleRow {
        connections: options.settle_connections,
        sent: options.settle_payments,
        settled: result.ok,
        elapsed: result.elapsed,
        p50_ms: result.latency_ms(0.50),
        p99_ms: result.latency_ms(0.99),
        batches: per_batch.len(),
        largest_batch: per_batch.values().copied().max().unwrap_or(0),
        gas_per_payment: gas as f64 / items.max(1) as f64,
        gas_per_payment_full: (full_items > 0).then(|| full_gas as f64 / full_items as f64),
        batch_size,
        client_cores,
        server_cores,
        anvil_cores,
        other_cores,
        first_failure: result.first_failure.clone(),
    })
}
