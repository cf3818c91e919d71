//! The renewal benchmark: how long, and how much gas, renewing many due subscriptions takes end to end.
//!
//! Anvil as a child (1 s blocks once set up), MockUSDC and the suite, a fresh database, the indexer, the facilitator's
//! batcher (relaying as account 0, the vault's operator) and the market's subscription engine in-process. `agents`
//! agents each deposit into the vault and subscribe to each of `plans` monthly plans through the market (the
//! operator's `operateMany` opens them, period 0 charged). Then the chain's clock moves a month on and one keeper
//! round queues every renewal; the row measures the time from that round's start until the indexer has seen every
//! period 1 charged (the keeper's queueing, the batcher's `chargeMany` batches, the blocks, the indexing), and the gas
//! of those `chargeMany` transactions from their receipts.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider, ext::AnvilApi},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::Context;
use clearing_chain::{
    DeployConfig,
    contracts::{BalanceVault, MockUSDC, Subscriptions},
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};
use clearing_facilitator::{Facilitator, FacilitatorConfig, SettleSetup};
use clearing_indexer::{Indexer, IndexerConfig, Targets};
use clearing_ledger::{
    Ledger,
    market::{
        NewParticipant, NewPlan, Participant, ParticipantId, ParticipantKind, PlanId, PlanInterval, Registration,
        ServiceId,
    },
};
use clearing_market::{Market, MarketConfig, X402Edge};
use clearing_testkit::{TOKEN_NAME, TOKEN_VERSION};
use clearing_x402::TokenDomain;

use crate::AnvilChild;

/// Anvil's account 0 (deployer, relayer, operator): a public dev key.
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Each plan's price per month to the provider, atomic units ($1; subscribers pay $1.05).
const PLAN_PRICE: u64 = 1_000_000;
/// Seconds in a plan's month.
const MONTH: u64 = 30 * 86_400;

/// What to run.
#[derive(Debug, Clone)]
pub struct RenewalOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// The PostgreSQL server the throwaway database is made on.
    pub database_url: String,
    /// Agents.
    pub agents: usize,
    /// Plans each agent subscribes to.
    pub plans: usize,
}

/// The figures.
#[derive(Debug, Clone)]
pub struct RenewalReport {
    /// Subscriptions renewed.
    pub subscriptions: u64,
    /// Seconds to open them all (subscribe calls until every period 0 is indexed).
    pub open_secs: f64,
    /// Seconds the keeper's round took to queue every renewal.
    pub queue_secs: f64,
    /// Seconds from the keeper's round until every renewal was indexed.
    pub renew_secs: f64,
    /// `chargeMany` transactions.
    pub transactions: u64,
    /// Their gas, summed.
    pub gas: u64,
}

/// Runs the benchmark; anvil and the database are removed whatever happens.
pub async fn run_renewals(options: RenewalOptions) -> anyhow::Result<RenewalReport> {
    let anvil = AnvilChild::start(&options.anvil).await?;
    let mut url = url::Url::parse(&options.database_url).context("DATABASE_URL is not a URL")?;
    url.set_path(&format!("clearing_renewal_bench_{}", std::process::id()));
    let database_url = url.to_string();
    let result = run_on(&options, &anvil, &database_url).await;
    if let Err(e) = Ledger::drop_database_if_exists(&database_url).await {
        eprintln!("dropping the bench database failed: {e}");
    }
    anvil.stop().await;
    result
}

async fn run_on(options: &RenewalOptions, anvil: &AnvilChild, database_url: &str) -> anyhow::Result<RenewalReport> {
    let key: PrivateKeySigner = ANVIL_KEY_0.parse()?;
    let relayer = key.address();
    let deployer = clearing_chain::connect_with_signer(&anvil.rpc_url, key.clone())?;
    let chain_id = deployer.get_chain_id().await?;
    let usdc = deploy_mock_usdc(&deployer, TOKEN_NAME).await?;
    let deployment = deploy_suite(&deployer, &DeployConfig::single_operator(relayer)).await?;
    let vault = deployment.balance_vault.context("the suite deploys a vault")?;
    let subscriptions = deployment.subscriptions.context("the suite deploys Subscriptions")?;

    // Each agent holds two months of every plan (the fee is 5%).
    let per_agent = U256::from(2 * (PLAN_PRICE + PLAN_PRICE / 20) * options.plans as u64);
    let mut agents = Vec::with_capacity(options.agents);
    for _ in 0..options.agents {
        let agent = PrivateKeySigner::random();
        deployer.anvil_set_balance(agent.address(), U256::from(10u64).pow(U256::from(18u64))).await?;
        mint_mock_usdc(&deployer, usdc, agent.address(), per_agent).await?;
        let as_agent = clearing_chain::connect_with_signer(&anvil.rpc_url, agent.clone())?;
        MockUSDC::new(usdc, &as_agent).approve(vault, per_agent).send().await?.get_receipt().await?;
        BalanceVault::new(vault, &as_agent).deposit(usdc, per_agent).send().await?.get_receipt().await?;
        agents.push(agent.address());
    }

    Ledger::create_database_if_missing(database_url).await?;
    let ledger = Ledger::connect(database_url, 10).await?;
    ledger.migrate().await?;
    let provider = clearing_chain::connect(&anvil.rpc_url)?;
    let targets = Targets {
        chain_id,
        start_block: deployment.start_block,
        batch_settler: deployment.batch_settler,
        escrow: deployment.escrow,
        anchor_registry: deployment.anchor_registry,
        balance_vault: Some(vault),
        subscriptions: Some(subscriptions),
        token: Some(usdc),
    };
    let indexer_config = IndexerConfig { confirmations: Some(0), poll_interval_ms: 100, ..IndexerConfig::default() };
    let indexer = Indexer::new(ledger.clone(), provider.clone(), targets, &indexer_config).await?;
    let indexing = tokio::spawn(async move { indexer.run(std::future::pending()).await });

    let config = FacilitatorConfig::default();
    let setup = SettleSetup {
        ledger: ledger.clone(),
        relayer: key,
        batch_settler: deployment.batch_settler,
        escrow: Some(deployment.escrow),
        vault: Some(vault),
        subscriptions: Some(subscriptions),
        assets: vec![usdc],
    };
    let facilitator = Facilitator::new(provider.clone(), vec![relayer], &config)
        .await?
        .with_settlement(provider.clone(), setup, &config)
        .await?;
    let market_config = MarketConfig { fee_recipient: Some(relayer), ..MarketConfig::default() };
    let settle = facilitator.settle_service().context("settling")?.clone();
    let domain = TokenDomain::new(chain_id, usdc, TOKEN_NAME, TOKEN_VERSION);
    let edge = X402Edge::new(facilitator.verifier.clone(), settle, domain, relayer);
    let market = Market::new(ledger.clone(), market_config, edge)?
        .with_escrow(deployment.escrow)
        .with_vault(vault)
        .with_subscriptions(subscriptions);
    anvil.interval_mining(1).await?;

    let (provider_participant, plans, agent_participants) = setup_market(&ledger, &agents, options.plans).await?;
    // Every deposit indexed before the first subscribe.
    let last = *agents.last().context("at least one agent")?;
    let account = clearing_ledger::market::BalanceAccount { chain_id, vault, token: usdc, account: last };
    wait_until(Duration::from_secs(120), async || Ok(ledger.balance(&account).await?.available == per_agent)).await?;

    let total = (options.agents * options.plans) as u64;
    let started = Instant::now();
    for agent in &agent_participants {
        for plan in &plans {
            clearing_market::subscriptions::subscribe(&market, plan, &provider_participant, agent)
                .await
                .map_err(|e| anyhow::anyhow!("subscribe: {e}"))?;
        }
    }
    wait_until(Duration::from_secs(600), async || Ok(ledger.periods_charged(chain_id, 0).await? == total))
        .await
        .context("not every subscription opened")?;
    let open_secs = started.elapsed().as_secs_f64();
    eprintln!("opened {total} subscriptions in {open_secs:.1} s");

    // A month on: every period 1 is due.
    let from_block = provider.get_block_number().await?;
    let due = ledger.chain_now(chain_id).await? + MONTH;
    provider.anvil_increase_time(MONTH).await?;
    provider.anvil_mine(Some(1), None).await?;
    wait_until(Duration::from_secs(60), async || Ok(ledger.chain_now(chain_id).await? >= due)).await?;

    let started = Instant::now();
    let queued = clearing_market::subscriptions::keep(&market).await as u64;
    let queue_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(queued == total, "the keeper queued {queued} of {total} renewals");
    wait_until(Duration::from_secs(600), async || Ok(ledger.periods_charged(chain_id, 1).await? == total))
        .await
        .context("not every subscription renewed")?;
    let renew_secs = started.elapsed().as_secs_f64();

    // The chargeMany transactions, from their closing events.
    let filter = Filter::new()
        .address(subscriptions)
        .event_signature(Subscriptions::ChargeBatchSettled::SIGNATURE_HASH)
        .from_block(from_block);
    let logs = provider.get_logs(&filter).await?;
    let mut gas = 0u64;
    let hashes: std::collections::BTreeSet<B256> = logs.iter().filter_map(|log| log.transaction_hash).collect();
    for hash in &hashes {
        let receipt = provider.get_transaction_receipt(*hash).await?.context("a mined chargeMany")?;
        gas += receipt.gas_used;
    }

    facilitator.shutdown().await;
    indexing.abort();
    ledger.close().await;
    Ok(RenewalReport {
        subscriptions: total,
        open_secs,
        queue_secs,
        renew_secs,
        transactions: hashes.len() as u64,
        gas,
    })
}

/// A provider with `plans` monthly plans, and each agent registered.
async fn setup_market(
    ledger: &Ledger,
    agents: &[Address],
    plans: usize,
) -> anyhow::Result<(Participant, Vec<clearing_ledger::market::Plan>, Vec<Participant>)> {
    let participant = |wallet, kind, byte: u32| NewParticipant {
        id: ParticipantId::random(),
        wallet,
        kind,
        name: format!("bench {byte}"),
        description: String::new(),
        webhook_url: None,
        capabilities: Vec::new(),
        api_key_hash: alloy::primitives::keccak256(byte.to_be_bytes()).0,
        api_key_prefix: format!("clr_bench{byte:06}"),
        webhook_secret: "whsec_YmVuY2g=".into(),
        registration_nonce: alloy::primitives::keccak256(byte.to_be_bytes()),
    };
    let registered = |registration| match registration {
        Registration::Created(p) | Registration::Existing(p) => p,
    };
    let provider = registered(
        ledger
            .register_participant(&participant(PrivateKeySigner::random().address(), ParticipantKind::Provider, 0))
            .await?,
    );
    let mut made = Vec::with_capacity(plans);
    for n in 0..plans {
        let plan = NewPlan {
            id: PlanId::random(),
            provider_id: provider.id,
            name: format!("Plan {n}"),
            description: String::new(),
            interval: PlanInterval::Monthly,
            price: U256::from(PLAN_PRICE),
            service_ids: vec![ServiceId::random()],
            max_requests: None,
        };
        made.push(ledger.create_plan(&plan).await?);
    }
    let mut participants = Vec::with_capacity(agents.len());
    for (n, agent) in agents.iter().enumerate() {
        let byte = u32::try_from(n + 1).unwrap_or(u32::MAX);
        participants
            .push(registered(ledger.register_participant(&participant(*agent, ParticipantKind::Agent, byte)).await?));
    }
    Ok((provider, made, participants))
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
