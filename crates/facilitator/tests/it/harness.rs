//! A facilitator on a fresh anvil: MockUSDC at anvil's first CREATE address (the address the reference vectors
//! were signed for), payers with balances, and helpers to sign x402 payments.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, U256, address},
    signers::{SignerSync, local::PrivateKeySigner},
};
use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use clearing_chain::{ChainProvider, connect_with_signer, deploy_mock_usdc, mint_mock_usdc};
use clearing_facilitator::{
    Clock, CoalescerConfig, Facilitator, FacilitatorConfig, FixedClock, InFlight, Metrics, ReadCoalescer, SettleSetup,
    SystemClock, Verifier,
    http::{AppState, HttpConfig, router},
};
use clearing_x402::{ExactEvmAuthorization, Network, SupportedKind, SupportedResponse, TokenDomain, X402Version};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Where anvil's account 0 deploys its first contract; the chain-31337 vectors name it as the token.
pub(crate) const USDC: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
/// The time the reference client's vectors are valid at (their window is fixed).
pub(crate) const VECTOR_NOW: u64 = 1_795_246_000;

pub(crate) struct Harness {
    pub(crate) anvil: AnvilInstance,
    pub(crate) provider: ChainProvider,
    pub(crate) inflight: InFlight,
    pub(crate) verifier: Verifier,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) router: Router,
    /// The ledger the facilitator settles through ([`Harness::with_settlement`] only).
    pub(crate) ledger: Option<clearing_ledger::Ledger>,
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
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
        let anvil = match genesis {
            Some(timestamp) => Anvil::at(binary).args(["--timestamp", &timestamp.to_string()]).spawn(),
            None => Anvil::at(binary).spawn(),
        };
        let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
        let provider = connect_with_signer(&anvil.endpoint(), deployer).unwrap();
        let token = deploy_mock_usdc(&provider, "USDC").await.unwrap();
        assert_eq!(token, USDC, "MockUSDC must be anvil's first deployment");

        let metrics = Arc::new(Metrics::default());
        let inflight = InFlight::default();
        let reader = ReadCoalescer::spawn(provider.clone(), reads, metrics.clone());
        let verifier = Verifier::new(HashMap::from([(31337, reader)]), clock, inflight.clone());
        let kinds = [X402Version::V1, X402Version::V2]
            .into_iter()
            .filter_map(|version| SupportedKind::exact(version, Network::new(31337)))
            .collect();
        let supported = SupportedResponse::new(kinds, vec![anvil.addresses()[0]]);
        let router = router(AppState::new(verifier.clone(), metrics.clone(), supported), &http);
        Self { anvil, provider, inflight, verifier, metrics, router, ledger: None }
    }

    /// The whole facilitator as `clearing serve` assembles it, settling through the queue in `pool`.
    pub(crate) async fn with_settlement(pool: sqlx::PgPool) -> Self {
        Self::with_settlement_after(pool, async |_| {}).await
    }

    /// Like [`Harness::with_settlement`], with `prepare` run first by the token's owner (anvil account 0, which
    /// becomes the relayer: its nonces are the batcher's once the facilitator runs).
    pub(crate) async fn with_settlement_after(pool: sqlx::PgPool, prepare: impl AsyncFnOnce(&ChainProvider)) -> Self {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
        let anvil = Anvil::at(binary).spawn();
        let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
        let provider = connect_with_signer(&anvil.endpoint(), deployer.clone()).unwrap();
        let token = deploy_mock_usdc(&provider, "USDC").await.unwrap();
        assert_eq!(token, USDC, "MockUSDC must be anvil's first deployment");
        let deployment =
            clearing_chain::deploy_suite(&provider, &clearing_chain::DeployConfig::single_operator(deployer.address()))
                .await
                .unwrap();
        prepare(&provider).await;

        let config = FacilitatorConfig::default();
        let ledger = clearing_ledger::Ledger::from_pool(pool);
        let setup = SettleSetup {
            ledger: ledger.clone(),
            relayer: deployer.clone(),
            batch_settler: deployment.batch_settler,
            assets: vec![USDC],
        };
        let reader = clearing_chain::connect(&anvil.endpoint()).unwrap();
        let facilitator = Facilitator::new(reader.clone(), vec![deployer.address()], &config)
            .await
            .unwrap()
            .with_settlement(reader, setup, &config)
            .await
            .unwrap();
        let router = facilitator.router(&config);
        let (inflight, verifier, metrics) =
            (facilitator.inflight.clone(), facilitator.verifier.clone(), facilitator.metrics.clone());
        // The batcher's tasks outlive the handle; the test's runtime ends them.
        std::mem::forget(facilitator);
        // Account 0 is now the relayer, whose nonces the batcher owns: mint and read from account 1.
        let minter = PrivateKeySigner::from(anvil.keys()[1].clone());
        let provider = connect_with_signer(&anvil.endpoint(), minter).unwrap();
        Self { anvil, provider, inflight, verifier, metrics, router, ledger: Some(ledger) }
    }

    /// A facilitator whose clock, and its chain's, stand inside the reference vectors' window.
    pub(crate) async fn at_vector_time() -> Self {
        let clock = Arc::new(FixedClock(VECTOR_NOW));
        Self::on_chain_at(clock, HttpConfig::default(), CoalescerConfig::default(), Some(VECTOR_NOW)).await
    }

    pub(crate) async fn mint(&self, to: Address, amount: u64) {
        mint_mock_usdc(&self.provider, USDC, to, U256::from(amount)).await.unwrap();
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

/// A signed x402 v2 payment of `value` from `payer` to `pay_to` on chain 31337, valid for the requirements'
/// `maxTimeoutSeconds` (300), as the reference clients sign.
pub(crate) struct Payment {
    pub(crate) payer: PrivateKeySigner,
    pub(crate) pay_to: Address,
    pub(crate) value: u64,
    pub(crate) nonce: B256,
    pub(crate) valid_after: u64,
    pub(crate) valid_before: u64,
    pub(crate) asset: Address,
    pub(crate) chain_id: u64,
}

impl Payment {
    pub(crate) fn new(payer: &PrivateKeySigner, value: u64) -> Self {
        let now = SystemClock.now();
        Self {
            payer: payer.clone(),
            pay_to: Address::repeat_byte(0x7a),
            value,
            // 32 random bytes, from a fresh key.
            nonce: PrivateKeySigner::random().to_bytes(),
            valid_after: 0,
            valid_before: now + 300,
            asset: USDC,
            chain_id: 31337,
        }
    }

    fn signature(&self) -> String {
        let authorization = ExactEvmAuthorization {
            from: self.payer.address(),
            to: self.pay_to,
            value: U256::from(self.value),
            valid_after: U256::from(self.valid_after),
            valid_before: U256::from(self.valid_before),
            nonce: self.nonce,
        };
        let digest = TokenDomain::new(self.chain_id, self.asset, "USDC", "2").transfer_digest(&authorization);
        format!("0x{}", alloy::hex::encode(self.payer.sign_hash_sync(&digest).unwrap().as_bytes()))
    }

    /// The v2 request body with the requirements the payment was made for.
    pub(crate) fn v2_body(&self) -> Value {
        let requirements = self.requirements(self.value);
        self.v2_body_for(&requirements)
    }

    /// The exact requirements of this payment, asking for `amount`.
    pub(crate) fn requirements(&self, amount: u64) -> Value {
        json!({
            "scheme": "exact",
            "network": format!("eip155:{}", self.chain_id),
            "amount": amount.to_string(),
            "asset": self.asset.to_checksum(None),
            "payTo": self.pay_to.to_checksum(None),
            "maxTimeoutSeconds": 300,
            "extra": {"name": "USDC", "version": "2"}
        })
    }

    /// The v2 request body presenting this payment against `requirements`.
    pub(crate) fn v2_body_for(&self, requirements: &Value) -> Value {
        json!({
            "x402Version": 2,
            "paymentPayload": {
                "x402Version": 2,
                "accepted": self.requirements(self.value),
                "payload": {
                    "signature": self.signature(),
                    "authorization": {
                        "from": self.payer.address().to_checksum(None),
                        "to": self.pay_to.to_checksum(None),
                        "value": self.value.to_string(),
                        "validAfter": self.valid_after.to_string(),
                        "validBefore": self.valid_before.to_string(),
                        "nonce": self.nonce.to_string(),
                    }
                }
            },
            "paymentRequirements": requirements,
        })
    }
}

/// A migrated database of the test's own (`clearing_facilitator_<test>`, dropped first if a run left it), outside
/// `sqlx::test`'s shared master pool. The tests that run a whole facilitator leave its tasks to the runtime's end,
/// and under `sqlx::test` each such test kept some of that pool's 20 permits (every test pool borrows from it): six
/// of them starved the tests after them with `PoolTimedOut`.
pub(crate) async fn own_database(test: &str) -> sqlx::PgPool {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at a PostgreSQL server");
    let (base, _) = server.rsplit_once('/').expect("DATABASE_URL names a database");
    let url = format!("{base}/clearing_facilitator_{test}");
    clearing_ledger::Ledger::drop_database_if_exists(&url).await.unwrap();
    clearing_ledger::Ledger::create_database_if_missing(&url).await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(5).connect(&url).await.unwrap();
    clearing_ledger::MIGRATOR.run(&pool).await.unwrap();
    pool
}
