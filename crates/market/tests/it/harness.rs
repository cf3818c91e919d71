//! The market as `clearing serve` assembles it, served over real HTTP on a free loopback port: a fresh anvil with
//! the suite and MockUSDC ([`Chain`]), a database of the test's own ([`TestDatabase`]), the facilitator settling
//! through its queue and batcher (anvil account 0 relays), the audit route, and the market's `/v1` merged outside the
//! facilitator's layers, its OpenAPI fragment merged into the facilitator's document.

use std::net::SocketAddr;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use axum::Router;
use clearing_client::{Paid, Payer, Policy};
use clearing_facilitator::{Facilitator, FacilitatorConfig, SettleSetup, http::HttpConfig};
use clearing_ledger::market::{NewParticipant, Participant, ParticipantId, ParticipantKind, Registration};
use clearing_market::{ApiKey, Background, Market, MarketConfig, WebhookSecret, X402Edge};
use clearing_testkit::{Chain, DEPLOYER, TestDatabase};
use clearing_webhooks::Dispatcher;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use tokio::sync::oneshot;

/// Who the market's paid routes pay in these tests: an account of its own, so its balance counts only them.
pub(crate) const FEE_RECIPIENT: Address = Address::repeat_byte(0xfe);
/// USDC minted to a payer unless a test says otherwise: a dollar.
pub(crate) const DOLLAR: u64 = 1_000_000;

/// A running market and what it runs on; everything stops when dropped.
pub(crate) struct Env {
    pub(crate) chain: Chain,
    pub(crate) database: TestDatabase,
    pub(crate) market: Market,
    pub(crate) facilitator: Facilitator,
    /// The assembled router, for tests that walk it.
    pub(crate) router: Router,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    _stop: oneshot::Sender<()>,
    /// What [`Env::run_background`] started, kept alive with the environment.
    background: Vec<Box<dyn std::any::Any + Send>>,
}

/// An answer: its status, headers and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Env {
    /// The market with its defaults, but the catalog read afresh every time (tests see their own writes at once
    /// anyway; this keeps a test from passing on a cached answer).
    pub(crate) async fn start(name: &str) -> Self {
        Self::start_with(name, |_| {}).await
    }

    /// The market configured by `configure` (after the fee recipient and a cache of 0 are set).
    pub(crate) async fn start_with(name: &str, configure: impl FnOnce(&mut MarketConfig)) -> Self {
        let chain = Chain::start().await;
        let database = TestDatabase::create(name).await;
        let ledger = database.ledger();
        let config = FacilitatorConfig::default();
        let setup = SettleSetup {
            ledger: ledger.clone(),
            relayer: chain.key(DEPLOYER),
            batch_settler: chain.deployment.batch_settler,
            // Account 0 is the escrow's operator in testkit's deployment: the escrow routes run.
            escrow: Some(chain.deployment.escrow),
            vault: chain.deployment.balance_vault,
            subscriptions: chain.deployment.subscriptions,
            assets: vec![chain.token],
        };
        let reader = clearing_chain::connect(&chain.endpoint()).unwrap();
        let facilitator = Facilitator::new(reader.clone(), vec![chain.address(DEPLOYER)], &config)
            .await
            .unwrap()
            .with_settlement(reader, setup, &config)
            .await
            .unwrap();
        let mut market_config =
            MarketConfig { fee_recipient: Some(FEE_RECIPIENT), catalog_cache_ms: 0, ..MarketConfig::default() };
        configure(&mut market_config);
        let settle = facilitator.settle_service().unwrap().clone();
        let edge = X402Edge::new(facilitator.verifier.clone(), settle, chain.domain(), FEE_RECIPIENT);
        let market = Market::new(ledger.clone(), market_config, edge).unwrap().with_escrow(chain.deployment.escrow);
        let market = match chain.deployment.balance_vault {
            Some(vault) => market.with_vault(vault),
            None => market,
        };
        let market = match chain.deployment.subscriptions {
            Some(subscriptions) => market.with_subscriptions(subscriptions),
            None => market,
        };
        let facilitator = facilitator.documenting(clearing_market::openapi());
        let audit = clearing_audit::http::router(clearing_audit::http::AuditState::new(ledger, chain.chain_id));
        let router = facilitator.router_with(&config, audit).merge(market.router());

        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = clearing_facilitator::http::serve_with(listener, router.clone(), &HttpConfig::default(), async {
            let _ = stopped.await;
        });
        tokio::spawn(serving);
        Self {
            chain,
            database,
            market,
            facilitator,
            router,
            base,
            http: reqwest::Client::new(),
            _stop: stop,
            background: Vec::new(),
        }
    }

    /// Runs what drives jobs as `clearing serve` does: the indexer (every block confirmed at once), the market's
    /// reactor and keeper, and the webhook dispatcher (private addresses allowed: the receivers are on loopback).
    pub(crate) async fn run_background(&mut self) {
        let ledger = self.database.ledger();
        let config = clearing_indexer::IndexerConfig {
            confirmations: Some(0),
            poll_interval_ms: 50,
            ..clearing_indexer::IndexerConfig::default()
        };
        let indexer = self.chain.indexer_through(&self.chain.endpoint(), &ledger, &config).await;
        let indexing = tokio::spawn(async move {
            let _ = indexer.run(std::future::pending()).await;
        });
        let market = Background::start(&self.market);
        let webhooks = clearing_webhooks::WebhooksConfig {
            allow_private: true,
            poll_ms: 50,
            retry_schedule_ms: vec![100, 200, 400],
            ..clearing_webhooks::WebhooksConfig::default()
        };
        let dispatcher = Dispatcher::start(ledger, webhooks).unwrap();
        self.background.push(Box::new((indexing, market, dispatcher)));
    }

    /// A payer holding `balance` atomic units, which the verifier already sees.
    pub(crate) async fn payer(&self, balance: u64) -> (PrivateKeySigner, Payer) {
        let key = self.chain.payer(balance).await;
        self.facilitator.verifier.sync().await.unwrap();
        let payer = Payer::new(key.clone(), Policy::at_most(alloy::primitives::U256::from(DOLLAR)));
        (key, payer)
    }

    /// `POST /v1/register` with `body`, paid by `payer` when asked.
    pub(crate) async fn register(&self, payer: &Payer, body: Value) -> Paid {
        self.pay(payer, "/v1/register", &body, None).await
    }

    /// `POST path` with `body` (and `key`), paid by `payer` when asked.
    pub(crate) async fn pay(&self, payer: &Payer, path: &str, body: &Value, key: Option<&str>) -> Paid {
        let mut headers = vec!["Content-Type: application/json".to_owned()];
        if let Some(key) = key {
            headers.push(format!("X-API-Key: {key}"));
        }
        let headers = Payer::headers(headers.iter().map(String::as_str)).unwrap();
        let url = format!("{}{path}", self.base).parse().unwrap();
        payer.pay(Method::POST, url, headers, Some(body.to_string().into_bytes())).await.unwrap()
    }

    /// `method path`, with `key` in `X-API-Key` and `body` as JSON when given.
    pub(crate) async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        answer(request.send().await.unwrap()).await
    }

    pub(crate) async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        self.send(Method::GET, path, key, None).await
    }

    /// A participant made straight in the ledger, with its key: for tests of what comes after registration.
    pub(crate) async fn participant(&self, kind: ParticipantKind, name: &str) -> (Participant, String) {
        let key = ApiKey::generate().unwrap();
        let new = NewParticipant {
            id: ParticipantId::random(),
            wallet: PrivateKeySigner::random().address(),
            kind,
            name: name.to_owned(),
            description: String::new(),
            webhook_url: None,
            capabilities: Vec::new(),
            api_key_hash: key.hash(),
            api_key_prefix: key.prefix().to_owned(),
            webhook_secret: WebhookSecret::generate().unwrap().expose().to_owned(),
            registration_nonce: PrivateKeySigner::random().to_bytes(),
        };
        match self.market.ledger().register_participant(&new).await.unwrap() {
            Registration::Created(participant) => (participant, key.expose().to_owned()),
            Registration::Existing(_) => panic!("a random wallet registered twice"),
        }
    }
}

/// A response as an [`Answer`].
pub(crate) async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, headers, body }
}

/// A paid exchange's final body as JSON.
pub(crate) fn json(paid: &Paid) -> Value {
    serde_json::from_slice(&paid.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&paid.body)))
}

/// The error code of a `/v1` error body.
pub(crate) fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not a /v1 error: {body}"))
}
