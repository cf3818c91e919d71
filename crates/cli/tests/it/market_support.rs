//! What the market's process-level tests ([`crate::market_processes`]) share: `clearing serve` as a child process
//! that is killed when dropped (also on a panic, which then prints the end of its log), a webhook receiver on
//! loopback that keeps every delivery, a provider and its service, purchases signed once by the Rust x402 client
//! and replayed byte for byte, and the Escrow's logs read back from the chain.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    process::Child,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap};
use clearing_chain::contracts::Escrow;
use clearing_client::{PaymentRequired, Policy, sign_payment};
use clearing_ledger::market::{NewParticipant, ParticipantId, ParticipantKind, Registration};
use clearing_market::{ApiKey, WebhookSecret};
use serde_json::{Value, json};

use crate::crash::{Setup, start_on};

/// The sections `clearing serve` needs to run the market briskly on a local chain: every block confirmed at once,
/// the reactor, keeper and webhook dispatcher polling often, loopback webhooks allowed, short webhook leases and
/// retries, and no per-key rate limit (the tests poll with the provider's key).
pub(crate) const MARKET_CONFIG: &str = "[indexer]\nconfirmations = 0\npoll_interval_ms = 50\n\n\
    [market]\nallow_private_webhooks = true\nreactor_interval_ms = 50\nkeeper_interval_ms = 100\n\
    catalog_cache_ms = 0\nrate_limit_per_key = { per_second = 0, burst = 0 }\n\n\
    [webhooks]\nallow_private = true\npoll_ms = 50\nlease_ms = 2000\ntimeout_ms = 1000\n\
    retry_schedule_ms = [100, 200, 400, 800, 1600, 3200]\n";

/// The request body of every purchase.
const BRIEF: &str = r#"{"brief": {"text": "summarise this"}}"#;

/// `clearing serve` as a child process, SIGKILLed when dropped.
pub(crate) struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    log: PathBuf,
}

impl Server {
    /// Starts `clearing serve --listen listen`, its log in the setup's directory as `<name>.log`.
    pub(crate) fn start(setup: &Setup, listen: SocketAddr, name: &str) -> Self {
        let log = setup.dir().join(format!("{name}.log"));
        let child = start_on(setup, listen, Some(&log));
        Self { child: Some(child), base: format!("http://{listen}"), log }
    }

    /// SIGKILL, and reaps the process.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
        }
    }

    /// Lines of its log that contain `needle`.
    pub(crate) fn log_lines(&self, needle: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|line| line.contains(needle)).map(str::to_owned).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let running = self.child.is_some();
        self.kill();
        if running && std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("--- the end of {} ---\n{tail}", self.log.display());
        }
    }
}

/// A webhook receiver on loopback: keeps every delivery's `webhook-id` and body as it arrives, and answers 200
/// after `delay`.
#[derive(Clone)]
pub(crate) struct Receiver {
    deliveries: Arc<Mutex<Vec<(String, Value)>>>,
    delay: Duration,
}

impl Receiver {
    /// Listening, with its URL.
    pub(crate) async fn start(delay: Duration) -> (Self, String) {
        let receiver = Self { deliveries: Arc::default(), delay };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hooks", listener.local_addr().unwrap().port());
        let app = Router::new()
            .fallback(|State(r): State<Self>, headers: HeaderMap, body: Bytes| async move {
                // Kept on arrival: a delivery whose sender dies before the answer still counts as received once.
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                r.deliveries.lock().unwrap().push((id, body));
                tokio::time::sleep(r.delay).await;
                "ok"
            })
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// How many times each `webhook-id` arrived.
    pub(crate) fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (id, _) in self.deliveries.lock().unwrap().iter() {
            *counts.entry(id.clone()).or_default() += 1;
        }
        counts
    }

    /// How many deliveries of events of `kind` arrived (repeats included).
    pub(crate) fn of_kind(&self, kind: &str) -> usize {
        self.deliveries.lock().unwrap().iter().filter(|(_, body)| body["type"] == kind).count()
    }
}

/// A provider made straight in the ledger, with its webhook at `url`: its id, API key and wallet.
pub(crate) async fn provider(setup: &Setup, url: &str) -> (ParticipantId, String, Address) {
    let key = ApiKey::generate().unwrap();
    let wallet = PrivateKeySigner::random().address();
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet,
        kind: ParticipantKind::Provider,
        name: "Provider".into(),
        description: String::new(),
        webhook_url: Some(url.to_owned()),
        capabilities: Vec::new(),
        api_key_hash: key.hash(),
        api_key_prefix: key.prefix().to_owned(),
        webhook_secret: WebhookSecret::generate().unwrap().expose().to_owned(),
        registration_nonce: PrivateKeySigner::random().to_bytes(),
    };
    let Registration::Created(participant) = setup.database.ledger().register_participant(&new).await.unwrap() else {
        panic!("a random wallet registered twice")
    };
    (participant.id, key.expose().to_owned(), wallet)
}

/// An `automated_service` at `price` listed by the provider whose key is `key`, through `server`; its id.
pub(crate) async fn automated_service(http: &reqwest::Client, server: &str, key: &str, price: &str) -> String {
    let body = json!({
        "name": "Summaries", "description": "summarises a text", "category": "testing", "price": price,
        "service_type": "automated_service",
        "input_schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
    });
    let (status, body) = request(http, reqwest::Method::POST, &format!("{server}/v1/services"), Some(key), &body)
        .await
        .expect("the server answers");
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// `method url` with a JSON body (and `X-API-Key: key`): the status and the JSON answer (`Null` if none).
pub(crate) async fn request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Result<(u16, Value)> {
    let mut request = http.request(method, url).header("Content-Type", "application/json").body(body.to_string());
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// One purchase's payment, signed once: every send of the purchase carries exactly these header bytes.
#[derive(Debug, Clone)]
pub(crate) struct Purchase {
    /// `/v1/services/{id}/purchase`.
    pub(crate) path: String,
    pub(crate) payer: Address,
    /// The EIP-3009 nonce, which the escrow job takes as its salt.
    pub(crate) nonce: B256,
    pub(crate) amount: U256,
    header: (&'static str, String),
}

/// Asks `server` for the price of `path` (the 402) and signs it as `agent` with the Rust x402 client, as
/// `clearing_client::Payer` does.
pub(crate) async fn sign_purchase(
    http: &reqwest::Client,
    server: &str,
    path: &str,
    agent: &PrivateKeySigner,
) -> Purchase {
    let response = http
        .post(format!("{server}{path}"))
        .header("Content-Type", "application/json")
        .body(BRIEF)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 402, "an unpaid purchase asks for payment");
    let required = response.headers().get("payment-required").map(|v| v.as_bytes().to_vec());
    let body = response.bytes().await.unwrap();
    let required = PaymentRequired::from_response(required.as_deref(), &body).unwrap();
    let offer = Policy::at_most(U256::from(10_000_000u64)).choose(&required).unwrap();
    let header =
        sign_payment(agent, &required, &offer, clearing_testkit::now(), PrivateKeySigner::random().to_bytes()).unwrap();
    Purchase {
        path: path.to_owned(),
        payer: agent.address(),
        nonce: header.authorization.nonce,
        amount: header.authorization.value,
        header: (header.name, header.value),
    }
}

impl Purchase {
    /// Sends the purchase with its payment to `server`: the status and the JSON answer; an error when the
    /// connection broke (a kill).
    pub(crate) async fn send(&self, http: &reqwest::Client, server: &str) -> reqwest::Result<(u16, Value)> {
        let response = http
            .post(format!("{server}{}", self.path))
            .header("Content-Type", "application/json")
            .header(self.header.0, &self.header.1)
            .body(BRIEF)
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
}

/// The Escrow's logs that matter here, from the chain.
#[derive(Debug, Default)]
pub(crate) struct EscrowLogs {
    /// `JobFunded` per (payer, salt): how many, and the job ids.
    pub(crate) funded: HashMap<(Address, B256), Vec<B256>>,
    /// `JobFunded` amounts, summed.
    pub(crate) funded_total: U256,
    /// `JobFundFailed` logs (an authorization carried again, or refused).
    pub(crate) fund_failed: usize,
    /// `JobReleased` per job id.
    pub(crate) released: HashMap<B256, usize>,
    /// `StepFailed` logs.
    pub(crate) steps_failed: usize,
}

/// Every log of the escrow since block 0.
pub(crate) async fn escrow_logs(setup: &Setup) -> EscrowLogs {
    let filter = Filter::new().address(setup.chain.deployment.escrow).from_block(0);
    let mut logs = EscrowLogs::default();
    for log in setup.chain.provider.get_logs(&filter).await.unwrap() {
        if let Ok(event) = Escrow::JobFunded::decode_log(&log.inner) {
            logs.funded.entry((event.payer, event.terms.salt)).or_default().push(event.jobId);
            logs.funded_total += event.terms.amount;
        } else if Escrow::JobFundFailed::decode_log(&log.inner).is_ok() {
            logs.fund_failed += 1;
        } else if let Ok(event) = Escrow::JobReleased::decode_log(&log.inner) {
            *logs.released.entry(event.jobId).or_default() += 1;
        } else if Escrow::StepFailed::decode_log(&log.inner).is_ok() {
            logs.steps_failed += 1;
        }
    }
    logs
}

/// Polls `check` every 50 ms until it gives a value; panics naming `what` after `within`.
pub(crate) async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
