//! The purchase benchmark: marketplace purchases funded per second on anvil with a block every second.
//!
//! Anvil as a child (300M gas blocks), MockUSDC and the suite deployed, `payers` fresh wallets funded in a few
//! transactions (one mint to account 0, then BatchSettler batches of account 0's signed transfers), a fresh database,
//! and the market as `clearing serve` assembles it (the facilitator settling through its queue and batcher, account 0
//! relaying and operating the escrow, the market merged beside it, its rate limits off: the load comes from one IP).
//! One provider lists a service of each tier measured. Then, per tier and connection count, `purchases` x402 v2
//! payments into the escrow are signed up front (by the product's client, as every test's are, round robin over the
//! payers) and sent as `POST /v1/services/{id}/purchase` with the payment in `PAYMENT-SIGNATURE`, each exactly once,
//! from N keep-alive connections.
//!
//! What a row measures: purchases answered 201 per second (first request to last answer) and their latency; from the
//! chain, the items of every escrow batch mined meanwhile (`FundBatchSettled` for jobs, `PayBatchSettled` for data_api
//! credits: how many each held and how many were funded), the batches' gas from their receipts, and funded per second:
//! jobs funded over the time from the first request to the moment the block holding the last funding was first seen
//! (the head is polled every 20 ms). Also the verify reads the facilitator made (`eth_call`s) and each process's CPU
//! (PostgreSQL's apart among the other processes).
//!
//! The signed payments are valid for the purchase price's 60 s (`maxTimeoutSeconds`, less verify's 6 s margin), so a
//! row must be answered within about 50 s of its signing: size `purchases` to the connections.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{B256, TxHash, U256},
    providers::Provider,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::Context;
use bytes::Bytes;
use clearing_chain::{
    ChainProvider, DeployConfig, Deployment,
    contracts::{BatchSettler, Escrow, MockUSDC},
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};
use clearing_facilitator::{
    Facilitator, FacilitatorConfig, SettleSetup,
    http::{self, RateLimit},
};
use clearing_ledger::{
    Ledger,
    market::{
        NewParticipant, NewService, ParticipantId, ParticipantKind, PricingModel, Registration, ServiceId,
        ServiceStatus, ServiceType,
    },
};
use clearing_market::{Market, MarketConfig, X402Edge};
use clearing_testkit::{TOKEN_NAME, TOKEN_VERSION, Terms, sign};
use clearing_x402::{DEFAULT_MAX_TIMEOUT_SECONDS, PAYMENT_SIGNATURE, TokenDomain, Usdc};

use crate::{
    AnvilChild,
    load::{self, Carry, Load, Plan},
    purchase_report::{PurchaseReport, PurchaseRow},
    run::CpuMark,
};

/// Anvil's account 0: deployer, relayer and the escrow's operator (a public dev key).
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Each service's price, atomic units (ten cents).
pub const PRICE: u64 = 100_000;
/// Given to each payer, atomic units (a thousand USDC): more than any run spends.
const PAYER_BALANCE: u64 = 1_000_000_000;
/// Payers funded per BatchSettler transaction.
const FUND_BATCH: usize = 200;
/// Gas limit per funding item: a first balance written plus the authorization's checks, with room.
const FUND_ITEM_GAS: u64 = 120_000;
/// Seconds between blocks while purchasing (as `anvil --block-time 1`).
const BLOCK_TIME_SECS: u64 = 1;
/// How often the block watcher asks for the head.
const WATCH_POLL: Duration = Duration::from_millis(20);
/// Blocks waited for after a row's last answer, so a funding answered late (or not at all) is still counted.
const SETTLING_BLOCKS: u64 = 2;
/// The purchase body: a brief that fits the services' input schema.
const BRIEF: &[u8] = br#"{"brief":{"text":"benchmark purchase"}}"#;

/// What to run.
#[derive(Debug, Clone)]
pub struct PurchaseOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// The PostgreSQL server the throwaway database is made on.
    pub database_url: String,
    /// Purchases per row.
    pub purchases: usize,
    /// The connection counts, a row each per tier.
    pub connections: Vec<usize>,
    /// The tiers bought, a row each per connection count.
    pub service_types: Vec<ServiceType>,
    /// Payer wallets the purchases cycle through.
    pub payers: usize,
    /// Client threads.
    pub threads: usize,
    /// The ledger's pool size (`[database] max_connections`; `clearing serve`'s default is 10).
    pub db_connections: u32,
    /// The facilitator's configuration (its settle knobs count here).
    pub facilitator: FacilitatorConfig,
    /// Leave the database behind (its URL is printed), to read the settlement pipeline's timestamps.
    pub keep_database: bool,
    /// The machine, for the report.
    pub machine: String,
}

/// Runs the benchmark; anvil and the database are removed whatever happens.
pub async fn run_purchases(options: PurchaseOptions) -> anyhow::Result<PurchaseReport> {
    let anvil = AnvilChild::start(&options.anvil).await?;
    let mut url = url::Url::parse(&options.database_url).context("DATABASE_URL is not a URL")?;
    url.set_path(&format!("clearing_purchase_bench_{}", std::process::id()));
    let database_url = url.to_string();
    let result = run_on(&options, &anvil, &database_url).await;
    if options.keep_database {
        eprintln!("the purchases stay in {database_url}");
    } else if let Err(e) = Ledger::drop_database_if_exists(&database_url).await {
        eprintln!("dropping the bench database failed: {e}");
    }
    anvil.stop().await;
    result
}

/// What every row runs against.
struct Bench<'a> {
    options: &'a PurchaseOptions,
    anvil: &'a AnvilChild,
    provider: ChainProvider,
    facilitator: &'a Facilitator,
    deployment: Deployment,
    domain: TokenDomain,
    payers: Vec<PrivateKeySigner>,
    address: SocketAddr,
}

async fn run_on(options: &PurchaseOptions, anvil: &AnvilChild, database_url: &str) -> anyhow::Result<PurchaseReport> {
    let key: PrivateKeySigner = ANVIL_KEY_0.parse()?;
    let relayer = key.address();
    let deployer = clearing_chain::connect_with_signer(&anvil.rpc_url, key.clone())?;
    let chain_id = deployer.get_chain_id().await?;
    let usdc = deploy_mock_usdc(&deployer, TOKEN_NAME).await?;
    let deployment = deploy_suite(&deployer, &DeployConfig::single_operator(relayer)).await?;
    let domain = TokenDomain::new(chain_id, usdc, TOKEN_NAME, TOKEN_VERSION);

    let started = Instant::now();
    let payers: Vec<PrivateKeySigner> = (0..options.payers.max(1)).map(|_| PrivateKeySigner::random()).collect();
    let transactions = fund_payers(&deployer, &key, &deployment, &domain, &payers).await?;
    eprintln!(
        "funded {} payers in {transactions} transactions, {:.1} s",
        payers.len(),
        started.elapsed().as_secs_f64()
    );

    Ledger::create_database_if_missing(database_url).await?;
    let ledger = Ledger::connect(database_url, options.db_connections).await?;
    ledger.migrate().await?;
    let mut config = options.facilitator.clone();
    config.http.rate_limit_per_ip = RateLimit { per_second: 0, burst: 0 };
    config.http.rate_limit_per_key = RateLimit { per_second: 0, burst: 0 };
    let provider = clearing_chain::connect(&anvil.rpc_url)?;
    let setup = SettleSetup {
        ledger: ledger.clone(),
        relayer: key,
        batch_settler: deployment.batch_settler,
        escrow: Some(deployment.escrow),
        vault: None,
        subscriptions: None,
        assets: vec![usdc],
    };
    let facilitator = Facilitator::new(provider.clone(), vec![relayer], &config)
        .await?
        .with_settlement(provider.clone(), setup, &config)
        .await?;
    let market_config = MarketConfig {
        fee_recipient: Some(relayer),
        rate_limit_per_ip: RateLimit { per_second: 0, burst: 0 },
        rate_limit_per_key: RateLimit { per_second: 0, burst: 0 },
        ..MarketConfig::default()
    };
    let settle = facilitator.settle_service().context("settling")?.clone();
    let edge = X402Edge::new(facilitator.verifier.clone(), settle, domain.clone(), relayer);
    let market = Market::new(ledger.clone(), market_config, edge)?.with_escrow(deployment.escrow);
    let services = list_services(&ledger, &options.service_types).await?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    // `/metrics` and the rest of the facilitator beside `/v1`, as `clearing serve` merges them.
    let router = facilitator.router(&config).merge(market.router());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve_with(listener, router, &config.http, async move {
        let _ = stopped.await;
    }));
    anvil.interval_mining(BLOCK_TIME_SECS).await?;

    let bench = Bench { options, anvil, provider, facilitator: &facilitator, deployment, domain, payers, address };
    let mut rows = Vec::new();
    let mut round = 0;
    for (service_type, service) in &services {
        for &connections in &options.connections {
            let row = bench.row(*service_type, *service, connections, round).await?;
            eprintln!(
                "{service_type} at {connections} connections: {:.0} answered/s, {:.0} funded/s",
                row.answered as f64 / row.elapsed.as_secs_f64(),
                row.funded_per_second()
            );
            rows.push(row);
            round += 1;
        }
    }

    let payers = bench.payers.len();
    drop(bench);
    let _ = stop.send(());
    server.await??;
    facilitator.shutdown().await;
    ledger.close().await;
    Ok(PurchaseReport {
        machine: options.machine.clone(),
        payers,
        funding_transactions: transactions,
        threads: options.threads,
        db_connections: options.db_connections,
        batch_size: config.settle.batch_size,
        max_wait_ms: config.settle.max_wait_ms,
        rows,
    })
}

impl Bench<'_> {
    /// One row: `purchases` of `service` from `connections` connections; `round` shifts the payers each starts at.
    async fn row(
        &self,
        service_type: ServiceType,
        service: ServiceId,
        connections: usize,
        round: usize,
    ) -> anyhow::Result<PurchaseRow> {
        let purchases = self.options.purchases.max(1);
        let signing = Instant::now();
        let payments = Arc::new(self.sign(purchases, round));
        let sign_secs = signing.elapsed().as_secs_f64();
        let load = Load {
            address: self.address,
            method: hyper::Method::POST,
            path: format!("/v1/services/{}/purchase", service.0),
            carry: Carry::Header { name: PAYMENT_SIGNATURE, body: Bytes::from_static(BRIEF) },
            connections,
            threads: self.options.threads,
            plan: Plan::EachOnce,
            expect: b"\"job_id\"",
            keep_answers: false,
        };
        let first_block = self.provider.get_block_number().await?;
        let metrics = &self.facilitator.metrics;
        let reads_before = metrics.chain_read_calls.load(Ordering::Relaxed);
        let watch = BlockWatch::start(self.provider.clone(), first_block);
        let cpu = CpuMark::now(self.anvil);
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || load::run(&load, payments)).await??;
        let cores = cpu.cores_since(self.anvil, &result);
        let postgres_cores = cpu.postgres_cores_since(result.elapsed);
        let read_calls = metrics.chain_read_calls.load(Ordering::Relaxed) - reads_before;
        let last_block = self.settle_down().await?;
        let seen = watch.stop().await;
        let batches = self.batches(service_type, first_block + 1, last_block).await?;
        let funded_at = batches
            .values()
            .filter(|b| b.funded > 0)
            .map(|b| b.block)
            .max()
            .and_then(|block| seen.iter().find(|(n, _)| *n >= block).map(|(_, at)| at.duration_since(started)));
        let [client_cores, server_cores, anvil_cores, other_cores] = cores;
        let mut blocks: Vec<u64> = batches.values().map(|b| b.block).collect();
        blocks.sort_unstable();
        blocks.dedup();
        Ok(PurchaseRow {
            service_type,
            connections,
            sent: purchases,
            sign_secs,
            answered: result.ok,
            failed: result.failed,
            elapsed: result.elapsed,
            p50_ms: result.latency_ms(0.50),
            p99_ms: result.latency_ms(0.99),
            max_ms: result.latency_ms(1.0),
            items: batches.values().map(|b| b.items).sum(),
            funded: batches.values().map(|b| b.funded).sum(),
            funded_at,
            batches: batches.len(),
            largest_batch: batches.values().map(|b| b.items).max().unwrap_or(0),
            blocks: blocks.len(),
            gas: batches.values().map(|b| b.gas).sum(),
            read_calls,
            client_cores,
            server_cores,
            anvil_cores,
            other_cores,
            postgres_cores,
            first_failure: result.first_failure.clone(),
        })
    }

    /// `count` payments of [`PRICE`] into the escrow, each from the next payer, signed now.
    fn sign(&self, count: usize, round: usize) -> Vec<Bytes> {
        let terms = Terms::new(self.domain.clone(), self.deployment.escrow, PRICE)
            .with_max_timeout(DEFAULT_MAX_TIMEOUT_SECONDS);
        let now = sign::now();
        let offset = round * count;
        (0..count)
            .map(|i| Bytes::from(terms.pay_at(&self.payers[(offset + i) % self.payers.len()], now).header.value))
            .collect()
    }

    /// Waits until [`SETTLING_BLOCKS`] more blocks are mined; the head then.
    async fn settle_down(&self) -> anyhow::Result<u64> {
        let until = self.provider.get_block_number().await? + SETTLING_BLOCKS;
        loop {
            let head = self.provider.get_block_number().await?;
            if head >= until {
                return Ok(head);
            }
            tokio::time::sleep(WATCH_POLL).await;
        }
    }

    /// The escrow batches of `service_type`'s route mined in `from..=to`, by transaction, with their gas.
    async fn batches(&self, service_type: ServiceType, from: u64, to: u64) -> anyhow::Result<BTreeMap<TxHash, Batch>> {
        let topic = match service_type {
            ServiceType::DataApi => Escrow::PayBatchSettled::SIGNATURE_HASH,
            ServiceType::AutomatedService | ServiceType::HumanService => Escrow::FundBatchSettled::SIGNATURE_HASH,
        };
        let filter = Filter::new().address(self.deployment.escrow).event_signature(topic).from_block(from).to_block(to);
        let mut batches = BTreeMap::new();
        for log in self.provider.get_logs(&filter).await? {
            let tx = log.transaction_hash.context("a mined log has its transaction")?;
            let block = log.block_number.context("a mined log has its block")?;
            let (items, funded) = if topic == Escrow::PayBatchSettled::SIGNATURE_HASH {
                let event = Escrow::PayBatchSettled::decode_log_data(log.data())?;
                (event.payments, event.paid)
            } else {
                let event = Escrow::FundBatchSettled::decode_log_data(log.data())?;
                (event.items, event.funded)
            };
            let receipt =
                self.provider.get_transaction_receipt(tx).await?.with_context(|| format!("no receipt for {tx}"))?;
            let count = |n: U256| u64::try_from(n).unwrap_or(u64::MAX);
            batches.insert(tx, Batch { block, items: count(items), funded: count(funded), gas: receipt.gas_used });
        }
        Ok(batches)
    }
}

/// One escrow batch transaction, from its closing event and its receipt.
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// The block that holds it.
    block: u64,
    /// Items it carried.
    items: u64,
    /// Of them, funded (jobs) or credited (data_api).
    funded: u64,
    /// Its `gasUsed`.
    gas: u64,
}

/// Polls the head while a row runs, keeping when each new block was first seen.
struct BlockWatch {
    seen: Arc<Mutex<Vec<(u64, Instant)>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl BlockWatch {
    fn start(provider: ChainProvider, from: u64) -> Self {
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (into, stopping) = (seen.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut last = from;
            while !stopping.load(Ordering::Relaxed) {
                if let Ok(head) = provider.get_block_number().await
                    && head > last
                {
                    into.lock().unwrap_or_else(|e| e.into_inner()).push((head, Instant::now()));
                    last = head;
                }
                tokio::time::sleep(WATCH_POLL).await;
            }
        });
        Self { seen, stop, task }
    }

    /// Stops polling; each new head with when it was first seen, oldest first.
    async fn stop(self) -> Vec<(u64, Instant)> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One provider, registered in the ledger, listing a fixed-price service of each of `types`.
async fn list_services(ledger: &Ledger, types: &[ServiceType]) -> anyhow::Result<Vec<(ServiceType, ServiceId)>> {
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet: PrivateKeySigner::random().address(),
        kind: ParticipantKind::Provider,
        name: "Benchmark provider".into(),
        description: String::new(),
        webhook_url: None,
        capabilities: Vec::new(),
        api_key_hash: B256::repeat_byte(0x11).0,
        api_key_prefix: "clr_bench000".into(),
        webhook_secret: "whsec_YmVuY2g=".into(),
        registration_nonce: B256::repeat_byte(0x22),
    };
    let provider = match ledger.register_participant(&new).await? {
        Registration::Created(p) | Registration::Existing(p) => p.id,
    };
    let mut services = Vec::new();
    for &service_type in types {
        let service = NewService {
            id: ServiceId::random(),
            provider_id: provider,
            name: format!("Benchmark {service_type}"),
            description: "bought by the purchase benchmark".into(),
            category: "benchmark".into(),
            tags: Vec::new(),
            price: Usdc::from_atomic(u128::from(PRICE)),
            pricing_model: PricingModel::Fixed,
            service_type,
            fulfillment_type: service_type.fulfillment(),
            input_schema: Some(serde_json::json!({
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "string"}}
            })),
            deliverable_schema: None,
            estimated_delivery: None,
            status: ServiceStatus::Active,
        };
        services.push((service_type, ledger.create_service(&service).await?.id));
    }
    Ok(services)
}

/// Gives every payer [`PAYER_BALANCE`] in a few transactions: one mint of the total to account 0, then BatchSettler
/// batches of [`FUND_BATCH`] of its signed transfers, sent at consecutive nonces before any receipt is awaited.
/// Checked by account 0's balance coming back to zero. Answers the transactions sent.
async fn fund_payers(
    deployer: &ChainProvider,
    key: &PrivateKeySigner,
    deployment: &Deployment,
    domain: &TokenDomain,
    payers: &[PrivateKeySigner],
) -> anyhow::Result<usize> {
    let token = domain.token();
    let total = U256::from(PAYER_BALANCE) * U256::from(payers.len());
    mint_mock_usdc(deployer, token, key.address(), total).await?;
    let settler = BatchSettler::new(deployment.batch_settler, deployer.clone());
    let fees = deployer.estimate_eip1559_fees().await?;
    let mut nonce = deployer.get_transaction_count(key.address()).pending().await?;
    let valid_before = sign::now() + 3_600;
    let mut sent = Vec::new();
    for chunk in payers.chunks(FUND_BATCH) {
        let transfers = chunk
            .iter()
            .map(|payer| {
                sign::transfer(key, domain, payer.address(), U256::from(PAYER_BALANCE), valid_before, sign::unique())
            })
            .collect();
        let pending = settler
            .settle(token, transfers)
            .nonce(nonce)
            .gas(FUND_ITEM_GAS * chunk.len() as u64 + 100_000)
            .max_fee_per_gas(fees.max_fee_per_gas)
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .send()
            .await?;
        sent.push(*pending.tx_hash());
        nonce += 1;
    }
    for tx in &sent {
        let receipt = loop {
            match deployer.get_transaction_receipt(*tx).await? {
                Some(receipt) => break receipt,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        anyhow::ensure!(receipt.status(), "funding batch {tx} reverted");
    }
    let left = MockUSDC::new(token, deployer.clone()).balanceOf(key.address()).call().await?;
    anyhow::ensure!(left.is_zero(), "{left} of the payers' funding was not transferred: a funding item failed");
    Ok(1 + sent.len())
}
