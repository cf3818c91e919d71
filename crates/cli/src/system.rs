//! The running system, assembled from one [`Config`] in this one place: the x402 facilitator (verify, and settle
//! through the durable queue and the batcher), the chain indexer (unless `[indexer] enabled = false`), the audit
//! trail (the sequencer, the anchorer when an anchorer key is configured, `GET /audit/records/{seq}`) and the
//! marketplace under `/v1` (unless `[market] enabled = false`; its paid routes settle through the facilitator's
//! queue), behind one HTTP API. `clearing serve` and `clearing dev` both run it; `clearing index` follows the same [`indexer_targets`].
//!
//! Adding a component (the marketplace next) takes its config section in [`Config`] (defined in its crate) and, here
//! only: build it in [`System::start`] (before anything starts, so a failure leaves nothing running), have `/health`
//! watch its tasks there, merge its routes in [`System::routes`], and stop it in [`System::stop`].

use std::time::Duration;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use anyhow::Context;
use clearing_audit::{Anchorer, AuditConfig, AuditService, RecordSources, Sequencer};
use clearing_chain::Deployment;
use clearing_facilitator::{Facilitator, FacilitatorConfig, SettleSetup, http};
use clearing_indexer::{Indexer, Targets};
use clearing_ledger::Ledger;
use clearing_market::{Background, Market, MarketConfig, X402Edge};
use clearing_webhooks::Dispatcher;
use clearing_x402::TokenDomain;
use tokio::{net::TcpListener, task::JoinHandle};
use tracing::{error, warn};

use crate::config::Config;

/// Every component of a running Clearing. Built by [`System::start`]; [`System::serve`] serves its API until told to
/// stop, then stops every component.
#[derive(Debug)]
pub(crate) struct System {
    ledger: Ledger,
    chain_id: u64,
    relayer: Address,
    facilitator: Facilitator,
    facilitator_config: FacilitatorConfig,
    /// `None` when `[indexer] enabled = false`.
    indexer: Option<JoinHandle<()>>,
    audit: AuditService,
    /// `None` when `[market] enabled = false`.
    market: Option<Market>,
    /// The market's reactor and keeper, with the market.
    background: Option<Background>,
    /// The webhook dispatcher, with the market.
    dispatcher: Option<Dispatcher>,
}

impl System {
    /// Connects to the database (migrating it) and the chain, and starts every component's background work. The
    /// HTTP API is not served until [`System::serve`].
    pub(crate) async fn start(config: &Config) -> anyhow::Result<Self> {
        let relayer: PrivateKeySigner = config
            .relayer
            .private_key
            .as_ref()
            .context("no relayer key: set CLEARING_RELAYER_KEY or [relayer] private_key")?
            .expose()
            .parse()
            .context("the relayer key is not a hex private key")?;
        let deployment = deployment(config)?;
        let usdc = config.chain.usdc.as_ref().context("no [chain.usdc]: name the token to settle in")?;
        let ledger = Ledger::connect(&config.database.url, config.database.max_connections).await?;
        ledger.migrate().await?;

        // Built before any starts: a failure here leaves nothing running.
        let (sequencer, anchorer) =
            audit_parts(&config.audit, &config.chain.rpc_url, &deployment, usdc.address, &ledger)?;
        let indexer = if config.indexer.enabled {
            let provider = clearing_chain::connect(&config.chain.rpc_url)?;
            Some(Indexer::new(ledger.clone(), provider, indexer_targets(config)?, &config.indexer).await?)
        } else {
            None
        };
        let provider = clearing_chain::connect(&config.chain.rpc_url)?;
        let escrow = escrow_operated_by(&provider, deployment.escrow, relayer.address()).await?;
        let vault = match deployment.balance_vault {
            Some(vault) => vault_operated_by(&provider, vault, relayer.address()).await?,
            None => None,
        };
        if let Some(vault) = vault.filter(|_| config.market.enabled) {
            check_withdrawal_delay(&provider, vault, &config.market).await?;
        }
        let market_pay_to = match config.market.enabled {
            true => Some(market_pay_to(&config.market, &provider, &deployment).await?),
            false => None,
        };
        if config.market.enabled && config.market.public_url.is_none() {
            // A webhook has no request to take a host from: its callback_url and links would be bare paths.
            warn!(
                "[market] public_url is not set: webhooks name their callback_url and job links as paths; set it to \
                 the API's public base URL"
            );
        }
        let setup = SettleSetup {
            ledger: ledger.clone(),
            relayer: relayer.clone(),
            batch_settler: deployment.batch_settler,
            escrow,
            vault,
            // The vault's charger, whose operator is the vault's: served when the vault is.
            subscriptions: vault.and(deployment.subscriptions),
            assets: vec![usdc.address],
        };
        // Last, since it starts the batcher: nothing after it fails.
        let facilitator = Facilitator::new(provider.clone(), vec![relayer.address()], &config.facilitator)
            .await
            .with_context(|| format!("reaching the chain at {}", config.chain.rpc_url))?
            .with_settlement(provider, setup, &config.facilitator)
            .await?;

        let audit = AuditService::start(sequencer, anchorer, config.audit.poll());
        let indexer = indexer.map(run_indexer);
        // `/health` reports each background task: the sequencer and, when it anchors, the anchorer (one task does
        // both), and the indexer.
        let facilitator = facilitator.watching("sequencer", [audit.task()]);
        let facilitator = if audit.anchors() { facilitator.watching("anchorer", [audit.task()]) } else { facilitator };
        let facilitator = match &indexer {
            Some(indexer) => facilitator.watching("indexer", [indexer.abort_handle()]),
            None => facilitator,
        };
        let (facilitator, market) = match market_pay_to {
            Some(pay_to) => {
                let settle = facilitator.settle_service().context("the facilitator settles")?.clone();
                let domain = TokenDomain::new(deployment.chain_id, usdc.address, &usdc.name, &usdc.version);
                let edge = X402Edge::new(facilitator.verifier.clone(), settle, domain, pay_to)
                    .with_public_url(config.market.public_url.clone());
                // Its settings were checked before anything started (`market_pay_to`): this cannot fail.
                let market = Market::new(ledger.clone(), config.market.clone(), edge)?;
                let market = match escrow {
                    Some(escrow) => market.with_escrow(escrow),
                    None => market,
                };
                let market = match vault {
                    Some(vault) => market.with_vault(vault),
                    None => market,
                };
                let market = match vault.and(deployment.subscriptions) {
                    Some(subscriptions) => market.with_subscriptions(subscriptions),
                    None => market,
                };
                (facilitator.documenting(clearing_market::openapi()), Some(market))
            }
            None => (facilitator, None),
        };
        // The market's reactor and keeper, and the webhook dispatcher: each claims its work in the database, so any
        // number of processes may run them.
        let background = market.as_ref().map(Background::start);
        if let Some(market) = &market {
            // Searches go to PostgreSQL until the index is built.
            let market = market.clone();
            tokio::spawn(async move {
                if let Err(error) = market.warm_catalog_index().await {
                    tracing::warn!(%error, "the catalog's search index was not built; searches use PostgreSQL");
                }
            });
        }
        let dispatcher = match &market {
            Some(_) => Some(Dispatcher::start(ledger.clone(), config.webhooks.clone())?),
            None => None,
        };
        let facilitator = match (&background, &dispatcher) {
            (Some(background), Some(dispatcher)) => facilitator
                .watching("market", background.task_handles())
                .watching("webhooks", dispatcher.task_handles()),
            _ => facilitator,
        };
        Ok(Self {
            ledger,
            chain_id: deployment.chain_id,
            relayer: relayer.address(),
            facilitator,
            facilitator_config: config.facilitator.clone(),
            indexer,
            audit,
            market,
            background,
            dispatcher,
        })
    }

    /// The account that sends the settlement batches.
    pub(crate) fn relayer(&self) -> Address {
        self.relayer
    }

    /// Serves the HTTP API on `listener` until `shutdown` resolves, then stops every component.
    pub(crate) async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.facilitator.router_with(&self.facilitator_config, self.routes());
        // The market's routes bring their own limits, fallback and error shape, so they join outside the
        // facilitator's layers.
        let router = match &self.market {
            Some(market) => router.merge(market.router()),
            None => router,
        };
        let served = http::serve_with(listener, router, &self.facilitator_config.http, shutdown).await;
        self.stop().await;
        Ok(served?)
    }

    /// The routes served beside the facilitator's, behind its limits: `GET /audit/records/{seq}`.
    fn routes(&self) -> axum::Router {
        clearing_audit::http::router(clearing_audit::http::AuditState::new(self.ledger.clone(), self.chain_id))
    }

    /// Stops every component: the facilitator's batcher finishes what it sent, the audit round under way completes.
    async fn stop(self) {
        if let Some(background) = self.background {
            background.shutdown().await;
        }
        if let Some(dispatcher) = self.dispatcher {
            dispatcher.shutdown().await;
        }
        self.facilitator.shutdown().await;
        self.audit.shutdown().await;
        if let Some(indexer) = self.indexer {
            indexer.abort();
        }
        // Closed before returning: `clearing dev` drops its database next, which would cut these connections.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.ledger.close()).await;
    }
}

/// Who the market's paid routes pay: `[market] fee_recipient`, else the Escrow's `feeRecipient` (so registration
/// fees and escrow fees reach one account). Checks the market's other settings too, before anything starts.
async fn market_pay_to(
    config: &MarketConfig,
    provider: &clearing_chain::ChainProvider,
    deployment: &Deployment,
) -> anyhow::Result<Address> {
    config.validate()?;
    if let Some(recipient) = config.fee_recipient {
        return Ok(recipient);
    }
    let escrow = clearing_chain::contracts::Escrow::new(deployment.escrow, provider);
    escrow.feeRecipient().call().await.with_context(|| {
        format!("reading the fee recipient of the Escrow at {} (or set [market] fee_recipient)", deployment.escrow)
    })
}

/// What the configured deployment asks the indexer to follow.
pub(crate) fn indexer_targets(config: &Config) -> anyhow::Result<Targets> {
    let deployment = deployment(config)?;
    Ok(Targets {
        chain_id: deployment.chain_id,
        start_block: config.indexer.start_block.unwrap_or(deployment.start_block),
        batch_settler: deployment.batch_settler,
        escrow: deployment.escrow,
        anchor_registry: deployment.anchor_registry,
        balance_vault: deployment.balance_vault,
        subscriptions: deployment.subscriptions,
        token: config.chain.usdc.as_ref().map(|t| t.address),
    })
}

/// `escrow` when `relayer` is its operator (the marketplace's escrow routes need the operator's key); `None`, with a
/// warning, otherwise: the facilitator then settles plain payments only.
async fn escrow_operated_by(
    provider: &clearing_chain::ChainProvider,
    escrow: Address,
    relayer: Address,
) -> anyhow::Result<Option<Address>> {
    let operator = clearing_chain::contracts::Escrow::new(escrow, provider)
        .operator()
        .call()
        .await
        .with_context(|| format!("reading the operator of the Escrow at {escrow}"))?;
    if operator == relayer {
        return Ok(Some(escrow));
    }
    warn!(%escrow, %operator, %relayer, "the relayer is not the escrow's operator: escrow purchases are off");
    Ok(None)
}

/// `vault` when `relayer` is its operator (deposits and debits need the operator's key); `None`, with a warning,
/// otherwise: the balance routes then answer 503.
async fn vault_operated_by(
    provider: &clearing_chain::ChainProvider,
    vault: Address,
    relayer: Address,
) -> anyhow::Result<Option<Address>> {
    let operator = clearing_chain::contracts::BalanceVault::new(vault, provider)
        .operator()
        .call()
        .await
        .with_context(|| format!("reading the operator of the BalanceVault at {vault}"))?;
    if operator == relayer {
        return Ok(Some(vault));
    }
    warn!(%vault, %operator, %relayer, "the relayer is not the vault's operator: prepaid balances are off");
    Ok(None)
}

/// Refuses to start when the vault's withdrawal delay is too short for the market's holds
/// ([`MarketConfig::check_withdrawal_delay`]): an agent could otherwise leave with money a delivered job was promised.
async fn check_withdrawal_delay(
    provider: &clearing_chain::ChainProvider,
    vault: Address,
    market: &MarketConfig,
) -> anyhow::Result<()> {
    let delay = clearing_chain::contracts::BalanceVault::new(vault, provider)
        .withdrawalDelay()
        .call()
        .await
        .with_context(|| format!("reading the withdrawal delay of the BalanceVault at {vault}"))?;
    market.check_withdrawal_delay(u64::try_from(delay).unwrap_or(u64::MAX)).map_err(anyhow::Error::msg)
}

fn deployment(config: &Config) -> anyhow::Result<Deployment> {
    config.chain.deployment.context("no [chain.deployment]: run `clearing deploy --write`")
}

/// Runs the indexer in the background; it logs and stops on a failure that needs an operator, which `/health` then
/// reports.
fn run_indexer(indexer: Indexer) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = indexer.run(std::future::pending()).await {
            error!(error = %e, "the indexer stopped");
        }
    })
}

/// The sequencer of `deployment`'s records and, when an anchorer key is configured, their anchorer.
fn audit_parts(
    config: &AuditConfig,
    rpc_url: &str,
    deployment: &Deployment,
    token: Address,
    ledger: &Ledger,
) -> anyhow::Result<(Sequencer, Option<Anchorer>)> {
    let sources = RecordSources {
        chain_id: deployment.chain_id,
        batch_settler: deployment.batch_settler,
        escrow: deployment.escrow,
        balance_vault: deployment.balance_vault,
        token,
    };
    let sequencer = Sequencer::new(ledger.clone(), sources, config.indexer.clone());
    let anchorer = match &config.anchorer_key {
        Some(key) => {
            let signer: PrivateKeySigner = key.expose().parse().context("the anchorer key is not a hex private key")?;
            let provider = clearing_chain::connect_with_signer(rpc_url, signer)?;
            let policy = config.anchor_policy();
            Some(Anchorer::new(ledger.clone(), provider, deployment.anchor_registry, deployment.chain_id, policy))
        }
        None => {
            warn!("no anchorer key ([audit] anchorer_key or CLEARING_ANCHORER_KEY): records are not anchored");
            None
        }
    };
    Ok((sequencer, anchorer))
}
