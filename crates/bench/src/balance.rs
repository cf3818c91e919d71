//! The balance benchmark: purchases paid from a prepaid balance (`X-BALANCE-AUTH`), answered from PostgreSQL.
//!
//! Anvil as a child (a block every second once set up), MockUSDC and the suite, a fresh database, the indexer and the
//! market as `clearing serve` assembles them (the facilitator's batcher relaying as account 0, the escrow's and the
//! vault's operator; rate limits off: the load comes from one IP). Anvil account 1 deposits into the vault with
//! `approve` + `deposit` and, once the indexer has confirmed it, is registered as an agent holding one balance
//! credential. Then `purchases` requests `POST /v1/services/{id}/purchase` of one `data_api` service with that
//! credential, each with its own brief (so each derives its own idempotency key: none is a repeat), each sent exactly
//! once from N keep-alive connections. By default every purchase spends the same agent's balance: the worst case,
//! since one agent's debits are decided one batch at a time (its `balance_accounts` row is locked by each). With
//! `agents` > 1, that many agents (anvil account 1 and random wallets given gas) each deposit and hold a credential,
//! and request `i` spends agent `i mod agents`'s.
//!
//! What a row measures: purchases answered 201 per second and their latency, where the machine's CPU went per
//! purchase during the load (client, market, anvil, PostgreSQL, the rest), then how long the batcher took to post
//! every accepted debit to the vault (`debitMany`, with 1 s blocks) once the load ended.

use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{B256, U256},
    providers::{Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use anyhow::Context;
use bytes::Bytes;
use clearing_chain::{
    DeployConfig,
    contracts::{BalanceVault, MockUSDC},
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};
use clearing_facilitator::{
    Facilitator, FacilitatorConfig, SettleSetup,
    http::{self, RateLimit},
};
use clearing_indexer::{Indexer, IndexerConfig, Targets};
use clearing_ledger::{
    Ledger,
    market::{
        BalanceAccount, CredentialId, NewCredential, NewParticipant, ParticipantId, ParticipantKind, PricingModel,
        Registration, ServiceId, ServiceStatus, ServiceType,
    },
};
use clearing_market::{BALANCE_AUTH_HEADER, Market, MarketConfig, X402Edge};
use clearing_testkit::{TOKEN_NAME, TOKEN_VERSION};
use clearing_x402::{TokenDomain, Usdc};
use sha2::{Digest, Sha256};

use crate::{
    AnvilChild,
    load::{self, Carry, Load, Plan},
    run::CpuMark,
};

/// Anvil's accounts 0 (deployer, relayer, operator) and 1 (the agent): public dev keys.
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ANVIL_KEY_1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// The service's price, atomic units (a tenth of a cent).
const PRICE: u64 = 1_000;
/// The agent's balance credential (a fixed benchmark token; only its hash is stored).
const CREDENTIAL: &str = "clb_benchmarkbenchmarkbenchmarkbenchmarkbench12";

/// What to run.
#[derive(Debug, Clone)]
pub struct BalanceOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// The PostgreSQL server the throwaway database is made on.
    pub database_url: String,
    /// Purchases per row.
    pub purchases: usize,
    /// The connection counts, a row each.
    pub connections: Vec<usize>,
    /// Client threads.
    pub threads: usize,
    /// The ledger's pool size (`[database] max_connections`; `clearing serve`'s default is 10).
    pub db_connections: u32,
    /// Agents the purchases are spread over (at least one).
    pub agents: usize,
    /// The market's balance debit writers.
    pub debit_writers: usize,
}

/// One row's figures.
#[derive(Debug, Clone)]
pub struct BalanceRow {
    /// Connections.
    pub connections: usize,
    /// Purchases answered 201.
    pub answered: u64,
    /// Purchases answered otherwise.
    pub failed: u64,
    /// Answered per second.
    pub per_second: f64,
    /// Latency quantiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
    /// Seconds from the last answer until no debit was pending (every one applied by the vault).
    pub drain_secs: f64,
    /// CPU time per answered purchase over the load, microseconds: the client threads, the rest of this process
    /// (market, batcher, indexer), anvil, PostgreSQL (every backend), and the rest of the machine.
    pub cpu_us: CpuPerPurchase,
    /// The first failure, if any.
    pub first_failure: Option<String>,
}

/// Where a purchase's CPU time went, microseconds each (see [`BalanceRow::cpu_us`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuPerPurchase {
    /// The load generator's threads.
    pub client: f64,
    /// The rest of this process: the market, the vault's batcher, the indexer.
    pub market: f64,
    /// Anvil (executing the `debitMany` batches, answering the indexer).
    pub anvil: f64,
    /// PostgreSQL's processes.
    pub postgres: f64,
    /// Everything else on the machine (the kernel's writeback among it).
    pub other: f64,
}

impl CpuPerPurchase {
    /// All of it.
    pub fn total(&self) -> f64 {
        self.client + self.market + self.anvil + self.postgres + self.other
    }
}

/// Runs the benchmark; anvil and the database are removed whatever happens.
pub async fn run_balances(options: BalanceOptions) -> anyhow::Result<Vec<BalanceRow>> {
    let anvil = AnvilChild::start(&options.anvil).await?;
    let mut url = url::Url::parse(&options.database_url).context("DATABASE_URL is not a URL")?;
    url.set_path(&format!("clearing_balance_bench_{}", std::process::id()));
    let database_url = url.to_string();
    let result = run_on(&options, &anvil, &database_url).await;
    if let Err(e) = Ledger::drop_database_if_exists(&database_url).await {
        eprintln!("dropping the bench database failed: {e}");
    }
    anvil.stop().await;
    result
}

async fn run_on(options: &BalanceOptions, anvil: &AnvilChild, database_url: &str) -> anyhow::Result<Vec<BalanceRow>> {
    let key: PrivateKeySigner = ANVIL_KEY_0.parse()?;
    let relayer = key.address();
    let deployer = clearing_chain::connect_with_signer(&anvil.rpc_url, key.clone())?;
    let chain_id = deployer.get_chain_id().await?;
    let usdc = deploy_mock_usdc(&deployer, TOKEN_NAME).await?;
    let deployment = deploy_suite(&deployer, &DeployConfig::single_operator(relayer)).await?;
    let vault = deployment.balance_vault.context("the suite deploys a vault")?;
    let domain = TokenDomain::new(chain_id, usdc, TOKEN_NAME, TOKEN_VERSION);

    // Each agent's deposit: enough for every row, whichever agents the purchases go to.
    let rows = options.connections.len().max(1) as u64;
    let deposit = U256::from(PRICE * options.purchases as u64 * rows);
    let mut agents: Vec<PrivateKeySigner> = vec![ANVIL_KEY_1.parse()?];
    agents.extend((1..options.agents).map(|_| PrivateKeySigner::random()));
    for agent in &agents {
        deployer.anvil_set_balance(agent.address(), U256::from(10u64).pow(U256::from(18u64))).await?;
        mint_mock_usdc(&deployer, usdc, agent.address(), deposit).await?;
        let as_agent = clearing_chain::connect_with_signer(&anvil.rpc_url, agent.clone())?;
        MockUSDC::new(usdc, &as_agent).approve(vault, deposit).send().await?.get_receipt().await?;
        BalanceVault::new(vault, &as_agent).deposit(usdc, deposit).send().await?.get_receipt().await?;
    }

    Ledger::create_database_if_missing(database_url).await?;
    let ledger = Ledger::connect(database_url, options.db_connections).await?;
    ledger.migrate().await?;
    let provider = clearing_chain::connect(&anvil.rpc_url)?;
    let targets = Targets {
        chain_id,
        start_block: deployment.start_block,
        batch_settler: deployment.batch_settler,
        escrow: deployment.escrow,
        anchor_registry: deployment.anchor_registry,
        balance_vault: Some(vault),
        subscriptions: None,
        token: Some(usdc),
    };
    let indexer_config = IndexerConfig { confirmations: Some(0), poll_interval_ms: 100, ..IndexerConfig::default() };
    let indexer = Indexer::new(ledger.clone(), provider.clone(), targets, &indexer_config).await?;
    let indexing = tokio::spawn(async move { indexer.run(std::future::pending()).await });

    let mut config = FacilitatorConfig::default();
    config.http.rate_limit_per_ip = RateLimit { per_second: 0, burst: 0 };
    config.http.rate_limit_per_key = RateLimit { per_second: 0, burst: 0 };
    let setup = SettleSetup {
        ledger: ledger.clone(),
        relayer: key,
        batch_settler: deployment.batch_settler,
        escrow: Some(deployment.escrow),
        vault: Some(vault),
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
    let edge = X402Edge::new(facilitator.verifier.clone(), settle, domain, relayer);
    let market = Market::new(ledger.clone(), market_config, edge)?
        .with_escrow(deployment.escrow)
        .with_vault(vault)
        .with_debit_writers(options.debit_writers);
    // Subscriptions on, as `clearing serve` runs them: each purchase first asks whether a subscription covers it
    // (none does here), one query before the debit.
    let market = match deployment.subscriptions {
        Some(subscriptions) => market.with_subscriptions(subscriptions),
        None => market,
    };
    let wallets: Vec<_> = agents.iter().map(PrivateKeySigner::address).collect();
    let (service, credentials) = setup_market(&ledger, &wallets).await?;

    let accounts: Vec<_> =
        wallets.iter().map(|&account| BalanceAccount { chain_id, vault, token: usdc, account }).collect();
    for account in &accounts {
        wait_until(Duration::from_secs(60), async || Ok(ledger.balance(account).await?.available == deposit))
            .await
            .context("the indexer never confirmed a deposit")?;
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let router = facilitator.router(&config).merge(market.router());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve_with(listener, router, &config.http, async move {
        let _ = stopped.await;
    }));
    anvil.interval_mining(1).await?;

    let mut results = Vec::new();
    for (round, &connections) in options.connections.iter().enumerate() {
        let row = row(options, address, service, &credentials, connections, round, &ledger, &accounts, anvil).await?;
        eprintln!(
            "{connections} connections: {:.0} answered/s, p50 {:.2} ms, p99 {:.2} ms; every debit applied {:.1} s \
             after the last answer",
            row.per_second, row.p50_ms, row.p99_ms, row.drain_secs
        );
        results.push(row);
    }

    let _ = stop.send(());
    server.await??;
    facilitator.shutdown().await;
    indexing.abort();
    ledger.close().await;
    Ok(results)
}

#[allow(clippy::too_many_arguments)]
async fn row(
    options: &BalanceOptions,
    address: SocketAddr,
    service: ServiceId,
    credentials: &[Bytes],
    connections: usize,
    round: usize,
    ledger: &Ledger,
    accounts: &[BalanceAccount],
    anvil: &AnvilChild,
) -> anyhow::Result<BalanceRow> {
    let bodies: Vec<Bytes> =
        (0..options.purchases).map(|i| Bytes::from(format!(r#"{{"brief":{{"text":"call {round}-{i}"}}}}"#))).collect();
    let load = Load {
        address,
        method: hyper::Method::POST,
        path: format!("/v1/services/{}/purchase", service.0),
        carry: Carry::BodyWithOneOf { name: BALANCE_AUTH_HEADER, values: std::sync::Arc::new(credentials.to_vec()) },
        connections,
        threads: options.threads,
        plan: Plan::EachOnce,
        expect: b"\"paid_by\"",
        keep_answers: false,
    };
    let bodies = std::sync::Arc::new(bodies);
    let cpu = CpuMark::now(anvil);
    let result = tokio::task::spawn_blocking(move || load::run(&load, bodies)).await??;
    let ended = Instant::now();
    let [client, market, anvil_cores, other] = cpu.cores_since(anvil, &result);
    let postgres = cpu.postgres_cores_since(result.elapsed);
    // Cores over the load, as microseconds per answered purchase.
    let per_purchase = |cores: f64| cores / result.per_second().max(f64::EPSILON) * 1e6;
    let cpu_us = CpuPerPurchase {
        client: per_purchase(client),
        market: per_purchase(market),
        anvil: per_purchase(anvil_cores),
        postgres: per_purchase(postgres),
        other: per_purchase((other - postgres).max(0.0)),
    };
    for account in accounts {
        wait_until(Duration::from_secs(300), async || Ok(ledger.balance(account).await?.pending_debits.is_zero()))
            .await
            .context("debits still pending after 300 s")?;
    }
    Ok(BalanceRow {
        connections,
        answered: result.ok,
        failed: result.failed,
        per_second: result.per_second(),
        p50_ms: result.latency_ms(0.50),
        p99_ms: result.latency_ms(0.99),
        max_ms: result.latency_ms(1.0),
        drain_secs: ended.elapsed().as_secs_f64(),
        cpu_us,
        first_failure: result.first_failure.clone(),
    })
}

/// A provider with one data_api service, and the agents registered, each with its benchmark credential (returned in
/// the agents' order).
async fn setup_market(
    ledger: &Ledger,
    agents: &[alloy::primitives::Address],
) -> anyhow::Result<(ServiceId, Vec<Bytes>)> {
    let participant = |wallet, kind, name: &str, byte: u8| NewParticipant {
        id: ParticipantId::random(),
        wallet,
        kind,
        name: name.into(),
        description: String::new(),
        webhook_url: None,
        capabilities: Vec::new(),
        api_key_hash: B256::repeat_byte(byte).0,
        api_key_prefix: format!("clr_bench{byte:03}"),
        webhook_secret: "whsec_YmVuY2g=".into(),
        registration_nonce: B256::repeat_byte(byte),
    };
    let registered = |registration| match registration {
        Registration::Created(p) | Registration::Existing(p) => p.id,
    };
    let provider_wallet = PrivateKeySigner::random().address();
    let provider = registered(
        ledger.register_participant(&participant(provider_wallet, ParticipantKind::Provider, "provider", 1)).await?,
    );
    let service = clearing_ledger::market::NewService {
        id: ServiceId::random(),
        provider_id: provider,
        name: "Benchmark data".into(),
        description: "bought from a balance by the balance benchmark".into(),
        category: "benchmark".into(),
        tags: Vec::new(),
        price: Usdc::from_atomic(u128::from(PRICE)),
        pricing_model: PricingModel::Fixed,
        service_type: ServiceType::DataApi,
        fulfillment_type: ServiceType::DataApi.fulfillment(),
        input_schema: Some(serde_json::json!({
            "type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}
        })),
        deliverable_schema: None,
        estimated_delivery: None,
        status: ServiceStatus::Active,
    };
    let service = ledger.create_service(&service).await?.id;
    let mut credentials = Vec::with_capacity(agents.len());
    for (i, &agent) in agents.iter().enumerate() {
        let byte = u8::try_from(i + 2).context("at most 250 agents")?;
        let agent_id =
            registered(ledger.register_participant(&participant(agent, ParticipantKind::Agent, "agent", byte)).await?);
        // The first agent's is the fixed token; the others' the same shape, numbered.
        let token = if i == 0 { CREDENTIAL.to_owned() } else { format!("clb_{:0>43}", format!("bench{i}")) };
        ledger
            .insert_credential(&NewCredential {
                id: CredentialId(uuid::Uuid::new_v4()),
                participant_id: agent_id,
                token_hash: Sha256::digest(token.as_bytes()).into(),
                name: "benchmark".into(),
                max_per_request: None,
                max_per_day: None,
                services: None,
                expires_at: None,
            })
            .await?;
        credentials.push(Bytes::from(token));
    }
    Ok((service, credentials))
}

/// Polls `done` every 50 ms until it holds, or fails after `limit`.
async fn wait_until(limit: Duration, mut done: impl AsyncFnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done().await? {
        if Instant::now() > deadline {
            anyhow::bail!("not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
