//! A facilitator on a fresh [`Chain`] (MockUSDC at anvil's first CREATE address, the address the reference vectors
//! were signed for), and the x402 payments its tests send.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use alloy::{
    primitives::{Address, address},
    signers::local::PrivateKeySigner,
};
use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use clearing_chain::ChainProvider;
use clearing_facilitator::{
    Clock, CoalescerConfig, Facilitator, FacilitatorConfig, FixedClock, InFlight, Metrics, ReadCoalescer, SettleSetup,
    SystemClock, Verifier,
    http::{AppState, HttpConfig, router},
};
use clearing_testkit::{Chain, ChainOptions, DEPLOYER, SignedPayment, TOKEN_NAME, TOKEN_VERSION, Terms};
use clearing_x402::{Network, SupportedKind, SupportedResponse, TokenDomain, X402Version};
use serde_json::Value;
use tower::ServiceExt;

/// Where anvil's account 0 deploys its first contract; the chain-31337 vectors name it as the token.
pub(crate) const USDC: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
/// The time the reference client's vectors are valid at (their window is fixed).
pub(crate) const VECTOR_NOW: u64 = 1_795_246_000;
/// The payee of the harness's payments.
pub(crate) const PAYEE: Address = Address::repeat_byte(0x7a);

pub(crate) struct Harness {
    pub(crate) chain: Chain,
    pub(crate) inflight: InFlight,
    pub(crate) verifier: Verifier,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) router: Router,
    /// The ledger the facilitator settles through ([`Harness::with_settlement`] only).
    pub(crate) ledger: Option<clearing_ledger::Ledger>,
    /// The settling facilitator, kept alive with the harness and dropped with it, so its pool's connections go back
    /// to sqlx::test's shared budget when the test ends (a leaked pool keeps them, and later tests time out).
    _facilitator: Option<clearing_facilitator::Facilitator>,
}

impl Harness {
    /// A facilitator for chain 31337 reading time from the system clock.
    pub(crate) async fn new() -> Self {
        Self::with(Arc::new(SystemClock), HttpConfig::default()).await
    }

    pub(crate) async fn with(clock: Arc<dyn Clock>, http: HttpConfig) -> Self {
        Self::with_reads(clock, http, CoalescerConfig::default()).await
    }

    /// A facilitator whose verify reads are coalesced and cached as `reads` says.
    pub(crate) async fn with_reads(clock: Arc<dyn Clock>, http: HttpConfig, reads: CoalescerConfig) -> Self {
        Self::on_chain_at(clock, http, reads, None).await
    }

    /// Like [`Harness::with_reads`], on a chain whose genesis block is stamped `genesis` (the token's clock, which
    /// verify's simulated transfer runs on) when given.
    async fn on_chain_at(
        clock: Arc<dyn Clock>,
        http: HttpConfig,
        reads: CoalescerConfig,
        genesis: Option<u64>,
    ) -> Self {
        let chain = Chain::start_with(ChainOptions { genesis_timestamp: genesis, ..ChainOptions::default() }).await;
        assert_eq!(chain.token, USDC, "MockUSDC must be anvil's first deployment");

        let metrics = Arc::new(Metrics::default());
        let inflight = InFlight::default();
        let reader = ReadCoalescer::spawn(chain.provider.clone(), reads, metrics.clone());
        let verifier = Verifier::new(HashMap::from([(31337, reader)]), clock, inflight.clone());
        let kinds = [X402Version::V1, X402Version::V2]
            .into_iter()
            .filter_map(|version| SupportedKind::exact(version, Network::new(31337)))
            .collect();
        let supported = SupportedResponse::new(kinds, vec![chain.address(DEPLOYER)]);
        let router = router(AppState::new(verifier.clone(), metrics.clone(), supported), &http);
        Self { chain, inflight, verifier, metrics, router, ledger: None, _facilitator: None }
    }

    /// The whole facilitator as `clearing serve` assembles it, settling through the queue in `pool`.
    pub(crate) async fn with_settlement(pool: sqlx::PgPool) -> Self {
        Self::with_settlement_after(pool, async |_| {}).await
    }

    /// Like [`Harness::with_settlement`], with `prepare` run first by the token's owner (anvil account 0, which
    /// becomes the relayer: its nonces are the batcher's once the facilitator runs).
    pub(crate) async fn with_settlement_after(pool: sqlx::PgPool, prepare: impl AsyncFnOnce(&ChainProvider)) -> Self {
        let chain = Chain::start().await;
        assert_eq!(chain.token, USDC, "MockUSDC must be anvil's first deployment");
        prepare(&chain.as_account(DEPLOYER)).await;

        let config = FacilitatorConfig::default();
        let ledger = clearing_ledger::Ledger::from_pool(pool);
        let setup = SettleSetup {
            ledger: ledger.clone(),
            relayer: chain.key(DEPLOYER),
            batch_settler: chain.deployment.batch_settler,
            // Account 0 is the escrow's operator too: the escrow routes run, and `/settle` refuses payTo = escrow.
            escrow: Some(chain.deployment.escrow),
            vault: chain.deployment.balance_vault,
            subscriptions: chain.deployment.subscriptions,
            assets: vec![USDC],
        };
        let reader = clearing_chain::connect(&chain.endpoint()).unwrap();
        let facilitator = Facilitator::new(reader.clone(), vec![chain.address(DEPLOYER)], &config)
            .await
            .unwrap()
            .with_settlement(reader, setup, &config)
            .await
            .unwrap();
        let router = facilitator.router(&config);
        let (inflight, verifier, metrics) =
            (facilitator.inflight.clone(), facilitator.verifier.clone(), facilitator.metrics.clone());
        // Account 0 is now the relayer, whose nonces the batcher owns: the chain mints from an account of its own.
        Self { chain, inflight, verifier, metrics, router, ledger: Some(ledger), _facilitator: Some(facilitator) }
    }

    /// A facilitator whose clock, and its chain's, stand inside the reference vectors' window.
    pub(crate) async fn at_vector_time() -> Self {
        let clock = Arc::new(FixedClock(VECTOR_NOW));
        Self::on_chain_at(clock, HttpConfig::default(), CoalescerConfig::default(), Some(VECTOR_NOW)).await
    }

    pub(crate) async fn mint(&self, to: Address, amount: u64) {
        self.chain.mint(to, amount).await;
        self.sync().await;
    }

    /// Waits until verify's chain answers reflect every block mined so far (they are read at the head its
    /// poller last saw, and reused until that moves).
    pub(crate) async fn sync(&self) {
        self.verifier.sync().await.unwrap();
    }

    /// Sends `body` to `path` as JSON from 127.0.0.1.
    pub(crate) async fn post(&self, path: &str, body: impl Into<Body>) -> Response<Body> {
        let mut request = Request::post(path).header("content-type", "application/json").body(body.into()).unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub(crate) async fn get(&self, path: &str) -> Response<Body> {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// POST /verify and its JSON answer; panics unless HTTP 200.
    pub(crate) async fn verify(&self, body: &Value) -> Value {
        let response = self.post("/verify", body.to_string()).await;
        let status = response.status();
        let json = json_of(response).await;
        assert_eq!(status, 200, "{json}");
        json
    }
}

pub(crate) async fn json_of(response: Response<Body>) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// What the harness's payments answer unless a test says otherwise: `value` of USDC on chain 31337 to [`PAYEE`],
/// within 300 seconds, as the reference clients' requirements ask.
pub(crate) fn terms(value: u64) -> Terms {
    Terms::new(TokenDomain::new(31337, USDC, TOKEN_NAME, TOKEN_VERSION), PAYEE, value)
}

/// `payer`'s payment of [`terms`]`(value)`, signed now by the product's client.
pub(crate) fn pay(payer: &PrivateKeySigner, value: u64) -> SignedPayment {
    terms(value).pay(payer)
}
