//! The facilitator assembled: configuration in, an HTTP router out.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use alloy::{primitives::Address, providers::Provider};
use axum::Router;
use clearing_chain::ChainProvider;
use clearing_x402::{Network, SupportedKind, SupportedResponse, X402Version};
use serde::{Deserialize, Serialize};

use crate::{
    CoalescerConfig, InFlight, Metrics, ReadCoalescer, SystemClock, Verifier,
    http::{AppState, HttpConfig, router},
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
}

impl Default for FacilitatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4020)),
            http: HttpConfig::default(),
            reads: CoalescerConfig::default(),
        }
    }
}

/// A running facilitator's shared parts.
#[derive(Debug, Clone)]
pub struct Facilitator {
    /// The verifier.
    pub verifier: Verifier,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// Settlements in flight, counted against balances by verify.
    pub inflight: InFlight,
    /// What `/supported` advertises.
    pub supported: SupportedResponse,
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
        Ok(Self { verifier, metrics, inflight, supported: SupportedResponse::new(kinds, signers) })
    }

    /// The HTTP API.
    pub fn router(&self, config: &FacilitatorConfig) -> Router {
        router(AppState::new(self.verifier.clone(), self.metrics.clone(), self.supported.clone()), &config.http)
    }
}
