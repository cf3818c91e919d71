//! The facilitator assembled: configuration in, an HTTP router out.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use alloy::{primitives::Address, providers::Provider, signers::local::PrivateKeySigner};
use axum::Router;
use clearing_chain::{ChainProvider, Relayer};
use clearing_ledger::Ledger;
use clearing_x402::{Network, SupportedKind, SupportedResponse, X402Version};
use serde::{Deserialize, Serialize};

use crate::{
    Batcher, CoalescerConfig, Health, InFlight, Metrics, ReadCoalescer, Result, SettleConfig, Settler, SystemClock,
    Verifier,
    http::{AppState, HttpConfig, SettleService, router_with},
};

/// `[facilitator]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FacilitatorConfig {
    /// Where the HTTP API listens. Default `127.0.0.1:4020`.
    pub listen: SocketAddr,
    /// Request limits.
    pub http: HttpConfig,
    /// How verify's chain reads are coalesced.
    pub reads: CoalescerConfig,
    /// How payments are queued, batched and relayed.
    pub settle: SettleConfig,
}

impl Default for FacilitatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4020)),
            http: HttpConfig::default(),
            reads: CoalescerConfig::default(),
            settle: SettleConfig::default(),
        }
    }
}

/// What settling needs: the ledger, the relayer key, the `BatchSettler` and the assets to relay.
#[derive(Debug, Clone)]
pub struct SettleSetup {
    /// The queue's database (migrated).
    pub ledger: Ledger,
    /// The key that signs and pays for batch transactions.
    pub relayer: PrivateKeySigner,
    /// The `BatchSettler` contract.
    pub batch_settler: Address,
    /// The `Escrow` whose operator the relayer is, for the marketplace's escrow routes; `None` relays plain
    /// settlements only.
    pub escrow: Option<Address>,
    /// The `BalanceVault` whose operator the relayer is, for the balance routes (deposits, debits); `None` sends
    /// none.
    pub vault: Option<Address>,
    /// The `Subscriptions` contract of that vault (same operator), for the subscription routes (charges, the
    /// operator's operations); `None` sends none.
    pub subscriptions: Option<Address>,
    /// The EIP-3009 tokens the batcher relays.
    pub assets: Vec<Address>,
}

/// A running facilitator's shared parts.
#[derive(Debug)]
pub struct Facilitator {
    /// The verifier.
    pub verifier: Verifier,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// Settlements in flight, counted against balances by verify.
    pub inflight: InFlight,
    /// What `/supported` advertises.
    pub supported: SupportedResponse,
    settle: Option<(SettleService, Batcher)>,
    health: Health,
    /// OpenAPI fragments of the routes served beside the facilitator's.
    openapi: Vec<serde_json::Value>,
}

impl Facilitator {
    /// A facilitator for `provider`'s chain, advertising `signers` (the relayer addresses).
    pub async fn new(
        provider: ChainProvider,
        signers: Vec<Address>,
        config: &FacilitatorConfig,
    ) -> clearing_chain::Result<Self> {
        let chain_id = provider.get_chain_id().await?;
        let metrics = Arc::new(Metrics::default());
        let inflight = InFlight::default();
        let reader = ReadCoalescer::spawn(provider, config.reads, metrics.clone());
        let verifier = Verifier::new(HashMap::from([(chain_id, reader)]), Arc::new(SystemClock), inflight.clone());
        let network = Network::new(chain_id);
        // v1 kinds under their v1 names (only chains the v1 clients know have one), v2 under CAIP-2.
        let kinds = [X402Version::V1, X402Version::V2]
            .into_iter()
            .filter_map(|version| SupportedKind::exact(version, network))
            .collect();
        Ok(Self {
            verifier,
            metrics,
            inflight,
            supported: SupportedResponse::new(kinds, signers),
            settle: None,
            health: Health::new(),
            openapi: Vec::new(),
        })
    }

    /// Starts settling: the settler answering `/settle` and the batcher relaying the queue through
    /// `BatchSettler` (it first finishes any batch a previous process left unresolved).
    pub async fn with_settlement(
        mut self,
        provider: ChainProvider,
        setup: SettleSetup,
        config: &FacilitatorConfig,
    ) -> Result<Self> {
        let relayer = Relayer::new(provider, setup.relayer, setup.batch_settler).await?;
        let relayer = match setup.escrow {
            Some(escrow) => relayer.with_escrow(escrow),
            None => relayer,
        };
        let relayer = match setup.vault {
            Some(vault) => relayer.with_vault(vault),
            None => relayer,
        };
        let relayer = match setup.subscriptions {
            Some(subscriptions) => relayer.with_subscriptions(subscriptions),
            None => relayer,
        };
        let settler = Settler::start(setup.ledger.clone(), config.settle.clone()).await?;
        let batcher = Batcher::start_with_metrics(
            setup.ledger.clone(),
            relayer,
            &setup.assets,
            config.settle.clone(),
            self.metrics.clone(),
        )
        .await?;
        self.health = self.health.with_database(setup.ledger.clone()).with_tasks("batcher", batcher.task_handles());
        let service = SettleService::new(settler, setup.ledger, self.inflight.clone(), setup.assets)
            .reserving(setup.escrow, setup.vault);
        self.settle = Some((service, batcher));
        Ok(self)
    }

    /// Also reports `tasks` (a background task started beside the facilitator: the indexer, the audit sequencer
    /// or anchorer) on `/health` as `name`, down once any of them has finished.
    #[must_use]
    pub fn watching(mut self, name: &'static str, tasks: impl IntoIterator<Item = tokio::task::AbortHandle>) -> Self {
        self.health = self.health.with_tasks(name, tasks);
        self
    }

    /// Settlement in this process, as `POST /settle` does it (once [`Facilitator::with_settlement`] started it): for
    /// a resource server beside the facilitator, such as the market, whose payments join the same queue and batches
    /// (and whose escrow purchases ride the escrow routes through [`SettleService::settle_routed`]).
    pub fn settle_service(&self) -> Option<&SettleService> {
        self.settle.as_ref().map(|(service, _)| service)
    }

    /// Also describes, in `GET /openapi.json`, the routes a component serves beside the facilitator: `extension` is
    /// an OpenAPI 3.1 fragment (`paths` and `components`) merged into the facilitator's document.
    #[must_use]
    pub fn documenting(mut self, extension: serde_json::Value) -> Self {
        self.openapi.push(extension);
        self
    }

    /// The HTTP API.
    pub fn router(&self, config: &FacilitatorConfig) -> Router {
        self.router_with(config, Router::new())
    }

    /// The HTTP API with `extra` routes (the audit routes) behind the same limits.
    pub fn router_with(&self, config: &FacilitatorConfig, extra: Router) -> Router {
        let state = AppState::new(self.verifier.clone(), self.metrics.clone(), self.supported.clone())
            .with_health(self.health.clone())
            .with_openapi(&self.openapi);
        let state = match &self.settle {
            Some((service, _)) => state.with_settle(service.clone()),
            None => state,
        };
        router_with(state, &config.http, extra)
    }

    /// Stops the batcher after its in-flight batches resolve.
    pub async fn shutdown(self) {
        if let Some((_, batcher)) = self.settle {
            batcher.shutdown().await;
        }
    }
}
