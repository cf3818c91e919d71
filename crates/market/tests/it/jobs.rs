//! Purchases and jobs end to end on anvil and PostgreSQL: a purchase paid by an x402 client into the escrow, the
//! job dispatched by the indexed funding, a signed `job_dispatch` checked with the Standard Webhooks reference
//! library (and the402's legacy header by an independent HMAC), the provider's completion, the release, the
//! earnings held → pending → settled through a gasless claim; a data_api purchase credited with the fee split on
//! chain; a failed job refunded; and the refusals that change nothing.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap};
use clearing_chain::contracts::{Escrow, MockUSDC};
use clearing_ledger::market::{NewParticipant, ParticipantId, ParticipantKind, Registration};
use clearing_market::{ApiKey, WebhookSecret};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use standardwebhooks::Webhook;

use crate::harness::{DOLLAR, Env, FEE_RECIPIENT, code, json as paid_json};

/// A webhook receiver on loopback that answers 200 and keeps every request.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    pub(crate) async fn start() -> (Self, String) {
        let receiver = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hooks", listener.local_addr().unwrap().port());
        let app = Router::new()
            .fallback(|State(r): State<Self>, headers: HeaderMap, body: Bytes| async move {
                r.requests.lock().unwrap().push((headers, body));
                "ok"
            })
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// The bodies received so far, as JSON, with their headers.
    pub(crate) fn events(&self) -> Vec<(HeaderMap, Bytes, Value)> {
        let requests = self.requests.lock().unwrap().clone();
        requests.into_iter().map(|(h, b)| (h, b.clone(), serde_json::from_slice(&b).unwrap())).collect()
    }

    pub(crate) async fn wait_for(&self, kind: &str) -> (HeaderMap, Bytes, Value) {
        for _ in 0..400 {
            if let Some(event) = self.events().into_iter().find(|(_, _, v)| v["type"] == kind) {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no {kind} webhook arrived; got {:?}",
            self.events().iter().map(|e| e.2["type"].clone()).collect::<Vec<_>>()
        );
    }
}

/// A provider registered straight in the ledger with a webhook URL and a secret the test knows.
pub(crate) async fn provider(env: &Env, webhook_url: &str) -> (ParticipantId, String, WebhookSecret, PrivateKeySigner) {
    let key = ApiKey::generate().unwrap();
    let secret = WebhookSecret::generate().unwrap();
    let wallet = PrivateKeySigner::random();
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet: wallet.address(),
        kind: ParticipantKind::Provider,
        name: "Provider".into(),
        description: String::new(),
        webhook_url: Some(webhook_url.to_owned()),
        capabilities: Vec::new(),
        api_key_hash: key.hash(),
        api_key_prefix: key.prefix().to_owned(),
        webhook_secret: secret.expose().to_owned(),
        registration_nonce: PrivateKeySigner::random().to_bytes(),
    };
    let Registration::Created(participant) = env.market.ledger().register_participant(&new).await.unwrap() else {
        panic!("a random wallet registered twice")
    };
    (participant.id, key.expose().to_owned(), secret, wallet)
}

pub(crate) async fn service(env: &Env, key: &str, service_type: &str, price: &str) -> String {
    let body = json!({
        "name": format!("{service_type} service"),
        "description": "does the thing",
        "category": "testing",
        "price": price,
        "service_type": service_type,
        "input_schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
    });
    let created = env.send(Method::POST, "/v1/services", Some(key), Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn job_status(env: &Env, id: &str, key: &str) -> Value {
    let answer = env.get(&format!("/v1/jobs/{id}"), Some(key)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

pub(crate) async fn wait_status(env: &Env, id: &str, key: &str, status: &str) -> Value {
    for _ in 0..400 {
        let job = job_status(env, id, key).await;
        if job["status"] == status {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never reached {status}: {}", job_status(env, id, key).await);
}

pub(crate) async fn earnings(env: &Env, key: &str) -> Value {
    let answer = env.get("/v1/provider/earnings", Some(key)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

fn legacy_signature(secret: &WebhookSecret, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[tokio::test]
async fn an_automated_service_is_bought_dispatched_completed_released_and_claimed() {
    let mut env = Env::start_with("jobs_automated", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
        c.claim_wait_ms = 20_000;
    })
    .await;
    env.run_background().await;
    let (hooks, url) = Receiver::start().await;
    let (_, key, secret, wallet) = provider(&env, &url).await;
    let service = service(&env, &key, "automated_service", "0.50").await;
    let (_, agent) = env.payer(DOLLAR).await;

    // One paid request: the stock flow of 402, payment, retry; the answer is the job.
    let path = format!("/v1/services/{service}/purchase");
    let paid = env.pay(&agent, &path, &json!({"brief": {"text": "summarise this"}}), None).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let job = paid_json(&paid);
    assert_eq!((job["price"].as_str(), job["provider_net"].as_str()), (Some("0.500000"), Some("0.475000")));
    assert!(job["escrow"]["funding_tx"].is_string(), "the answer names the funding transaction: {job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let escrow = env.chain.deployment.escrow;
    let usdc = MockUSDC::new(env.chain.token, &env.chain.provider);
    assert_eq!(usdc.balanceOf(escrow).call().await.unwrap(), U256::from(500_000u64), "the money is in the escrow");

    // Dispatched once the indexer has the funding; the provider hears of it, signed twice over.
    wait_status(&env, &id, &key, "dispatched").await;
    let (headers, body, dispatch) = hooks.wait_for("job_dispatch").await;
    assert_eq!(dispatch["job_id"], id.as_str());
    assert_eq!(dispatch["brief"]["text"], "summarise this");
    assert!(dispatch["callback_url"].as_str().unwrap().ends_with(&format!("/v1/jobs/{id}/update")));
    Webhook::new(secret.expose()).unwrap().verify(&body, &headers).expect("the Standard Webhooks library accepts it");
    let timestamp = headers["x-webhook-timestamp"].to_str().unwrap();
    assert_eq!(headers["x-webhook-signature"].to_str().unwrap(), legacy_signature(&secret, timestamp, &body));
    assert!(headers.get("x-api-key").is_none() && headers.get("x-platform-secret").is_none(), "no key is ever sent");
    let held = earnings(&env, &key).await;
    assert_eq!((held["held"].as_str(), held["pending"].as_str()), (Some("0.475000"), Some("0.000000")));

    // The provider delivers; with no review window the release follows at once, on chain.
    let update = json!({"status": "completed", "deliverables": {"summary": "done"}});
    let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/update"), Some(&key), Some(&update)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let again = env.send(Method::POST, &format!("/v1/jobs/{id}/update"), Some(&key), Some(&update)).await;
    assert_eq!((again.status, code(&again.body)), (StatusCode::CONFLICT, "transition_not_allowed"));
    let released = wait_status(&env, &id, &key, "verified").await;
    assert_eq!(released["deliverables"]["summary"], "done");
    hooks.wait_for("payment_released").await;
    let pending = earnings(&env, &key).await;
    assert_eq!((pending["held"].as_str(), pending["pending"].as_str()), (Some("0.000000"), Some("0.475000")));
    let escrow_contract = Escrow::new(escrow, &env.chain.provider);
    assert_eq!(escrow_contract.claimable(env.chain.token, FEE_RECIPIENT).call().await.unwrap(), U256::ZERO);
    let fee_recipient = escrow_contract.feeRecipient().call().await.unwrap();
    assert_eq!(escrow_contract.claimable(env.chain.token, fee_recipient).call().await.unwrap(), U256::from(25_000u64));

    // The claim: paid to the provider's own wallet by the relayer; the provider never needed gas.
    let claim = env.send(Method::POST, "/v1/provider/claim", Some(&key), None).await;
    assert_eq!(claim.status, StatusCode::OK, "{}", claim.body);
    assert_eq!(claim.body["status"], "claimed");
    assert_eq!(usdc.balanceOf(wallet.address()).call().await.unwrap(), U256::from(475_000u64));
    hooks.wait_for("earnings_claimed").await;
    let settled = earnings(&env, &key).await;
    assert_eq!((settled["pending"].as_str(), settled["settled"].as_str()), (Some("0.000000"), Some("0.475000")));
    let nothing = env.send(Method::POST, "/v1/provider/claim", Some(&key), None).await;
    assert_eq!((nothing.status, code(&nothing.body)), (StatusCode::CONFLICT, "transition_not_allowed"));
}

#[tokio::test]
async fn a_data_api_purchase_is_credited_at_once_with_the_fee_split_on_chain() {
    let mut env = Env::start_with("jobs_data_api", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (hooks, url) = Receiver::start().await;
    let (_, key, _, wallet) = provider(&env, &url).await;
    let service = service(&env, &key, "data_api", "0.01").await;
    let (_, agent) = env.payer(DOLLAR).await;

    let paid =
        env.pay(&agent, &format!("/v1/services/{service}/purchase"), &json!({"brief": {"text": "x"}}), None).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let id = paid_json(&paid)["job_id"].as_str().unwrap().to_owned();
    let job = wait_status(&env, &id, &key, "verified").await;
    assert_eq!(job["escrow"]["escrow_job_id"], Value::Null, "a data_api call books no escrow job");
    hooks.wait_for("payment_released").await;
    let escrow = Escrow::new(env.chain.deployment.escrow, &env.chain.provider);
    assert_eq!(escrow.claimable(env.chain.token, wallet.address()).call().await.unwrap(), U256::from(9_500u64));
    let fee_recipient = escrow.feeRecipient().call().await.unwrap();
    assert_eq!(escrow.claimable(env.chain.token, fee_recipient).call().await.unwrap(), U256::from(500u64));
    assert_eq!(earnings(&env, &key).await["pending"], "0.009500");
}

#[tokio::test]
async fn a_failed_job_is_refunded_to_its_payer() {
    let mut env = Env::start_with("jobs_failed", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (hooks, url) = Receiver::start().await;
    let (_, key, _, _) = provider(&env, &url).await;
    let service = service(&env, &key, "human_service", "0.80").await;
    let (payer_key, agent) = env.payer(DOLLAR).await;

    let paid =
        env.pay(&agent, &format!("/v1/services/{service}/purchase"), &json!({"brief": {"text": "x"}}), None).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let id = paid_json(&paid)["job_id"].as_str().unwrap().to_owned();
    wait_status(&env, &id, &key, "dispatched").await;
    let update = json!({"status": "failed", "note": "cannot do it"});
    let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/update"), Some(&key), Some(&update)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["status"], "failed", "the provider's word, until the refund is on chain");
    wait_status(&env, &id, &key, "refunded").await;
    hooks.wait_for("job_refunded").await;
    let escrow = Escrow::new(env.chain.deployment.escrow, &env.chain.provider);
    assert_eq!(escrow.claimable(env.chain.token, payer_key.address()).call().await.unwrap(), U256::from(800_000u64));
}

#[tokio::test]
async fn bad_purchases_and_updates_are_refused_and_change_nothing() {
    let mut env = Env::start_with("jobs_refusals", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (_, url) = Receiver::start().await;
    let (_, key, _, _) = provider(&env, &url).await;
    let (_, other_key, _, _) = provider(&env, &url).await;
    let service_id = service(&env, &key, "automated_service", "0.10").await;
    let (payer, agent) = env.payer(DOLLAR).await;

    let unknown =
        env.send(Method::POST, "/v1/services/00000000-0000-4000-8000-000000000000/purchase", None, None).await;
    assert_eq!((unknown.status, code(&unknown.body)), (StatusCode::NOT_FOUND, "service_not_found"));
    let bad_brief = json!({"brief": {"text": 7}});
    let refused = env.send(Method::POST, &format!("/v1/services/{service_id}/purchase"), None, Some(&bad_brief)).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "invalid_brief"));
    assert_eq!(refused.body["error"]["field"], "brief/text", "{}", refused.body);
    let quoted = json!({"name": "Q", "description": "d", "category": "c", "price": "1", "service_type": "human_service", "pricing_model": "quote_required"});
    let quoted = env.send(Method::POST, "/v1/services", Some(&key), Some(&quoted)).await;
    assert_eq!(quoted.status, StatusCode::CREATED, "{}", quoted.body);
    let quoted = quoted.body["id"].as_str().unwrap().to_owned();
    let refused = env.send(Method::POST, &format!("/v1/services/{quoted}/purchase"), None, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "quote_required"));
    let unpaid = env
        .send(
            Method::POST,
            &format!("/v1/services/{service_id}/purchase"),
            None,
            Some(&json!({"brief": {"text": "x"}})),
        )
        .await;
    assert_eq!(unpaid.status, StatusCode::PAYMENT_REQUIRED);
    let escrow = env.chain.deployment.escrow.to_string().to_lowercase();
    let required = unpaid.headers["payment-required"].to_str().unwrap();
    let required = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, required).unwrap();
    let required: Value = serde_json::from_slice(&required).unwrap();
    assert_eq!(
        required["accepts"][0]["payTo"].as_str().unwrap().to_lowercase(),
        escrow,
        "the requirement pays the escrow"
    );
    let usdc = MockUSDC::new(env.chain.token, &env.chain.provider);
    assert_eq!(usdc.balanceOf(payer.address()).call().await.unwrap(), U256::from(DOLLAR), "nothing was paid");

    let paid =
        env.pay(&agent, &format!("/v1/services/{service_id}/purchase"), &json!({"brief": {"text": "x"}}), None).await;
    let id = paid_json(&paid)["job_id"].as_str().unwrap().to_owned();
    let other = env.get(&format!("/v1/jobs/{id}"), Some(&other_key)).await;
    assert_eq!((other.status, code(&other.body)), (StatusCode::FORBIDDEN, "not_your_job"));
    let keyless = env.get(&format!("/v1/jobs/{id}"), None).await;
    assert_eq!(keyless.status, StatusCode::PAYMENT_REQUIRED, "no key: the payer's wallet pays to read");
    let wrong_key = env.get(&format!("/v1/jobs/{id}"), Some("clr_not-a-key")).await;
    assert_eq!((wrong_key.status, code(&wrong_key.body)), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
    let missing = env.get("/v1/jobs/not-a-job", Some(&key)).await;
    assert_eq!((missing.status, code(&missing.body)), (StatusCode::NOT_FOUND, "job_not_found"));
    wait_status(&env, &id, &key, "dispatched").await;
    let no_deliverables = json!({"status": "completed"});
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/update"), Some(&key), Some(&no_deliverables)).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "missing_field"));
    let short = json!({"reason": "too short", "signature": "0x00", "deadline": 1});
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&short)).await;
    assert_eq!((refused.status, refused.body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("reason")));
    let forged = json!({"signature": format!("0x{}", "11".repeat(65)), "deadline": clearing_testkit::now() + 600});
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/verify"), None, Some(&forged)).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "invalid_signature"));
    assert_eq!(job_status(&env, &id, &key).await["status"], "dispatched", "nothing changed");
}

#[tokio::test]
async fn a_human_service_is_released_early_by_the_payers_signature_or_by_the_keeper_after_its_window() {
    use alloy::{providers::ext::AnvilApi, signers::SignerSync};
    let mut env = Env::start_with("jobs_human", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
        c.keeper_interval_ms = 100;
    })
    .await;
    env.run_background().await;
    let (hooks, url) = Receiver::start().await;
    let (_, key, _, _) = provider(&env, &url).await;
    let service = service(&env, &key, "human_service", "0.30").await;
    let (payer, agent) = env.payer(DOLLAR).await;
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let paid =
            env.pay(&agent, &format!("/v1/services/{service}/purchase"), &json!({"brief": {"text": "x"}}), None).await;
        assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
        jobs.push(paid_json(&paid)["job_id"].as_str().unwrap().to_owned());
    }
    for id in &jobs {
        wait_status(&env, id, &key, "dispatched").await;
        let update = json!({"status": "completed", "deliverables": {"report": "r"}});
        let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/update"), Some(&key), Some(&update)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["status"], "completed", "the provider's word shows at once");
        for attempt in 0.. {
            let job = job_status(&env, id, &key).await;
            if job["escrow"]["chain_status"] == "completed" {
                assert_eq!(job["status"], "completed", "completed on chain, held for the review window");
                assert!(job["escrow"]["review_ends_at"].as_u64().unwrap() > clearing_testkit::now() + 47 * 3_600);
                break;
            }
            assert!(attempt < 400, "the completion never reached the chain: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    hooks.wait_for("job_completed").await;

    // The payer releases the first early: it signs the typed data the route hands out; the market relays it.
    let typed = env.get(&format!("/v1/jobs/{}/verify", jobs[0]), None).await;
    assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
    let data = &typed.body["typed_data"];
    let digest: alloy::primitives::B256 = data["digest"].as_str().unwrap().parse().unwrap();
    let signature = payer.sign_hash_sync(&digest).unwrap();
    let body = json!({
        "signature": format!("0x{}", alloy::hex::encode(signature.as_bytes())),
        "deadline": data["message"]["deadline"].as_str().unwrap().parse::<u64>().unwrap(),
    });
    let answer = env.send(Method::POST, &format!("/v1/jobs/{}/verify", jobs[0]), None, Some(&body)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // The signature is public once relayed (the step's calldata): whoever sends it gets the job's state, not its work.
    assert!(answer.body.get("deliverables").is_none(), "{}", answer.body);
    assert_eq!(answer.body["job_id"], jobs[0].as_str());
    wait_status(&env, &jobs[0], &key, "verified").await;
    assert_eq!(job_status(&env, &jobs[1], &key).await["status"], "completed", "the other waits for its window");

    // The second: nobody acts; 48 hours later (anvil's clock) the keeper releases it.
    env.chain.provider.anvil_increase_time(48 * 3_600 + 1).await.unwrap();
    env.chain.mine(1).await;
    wait_status(&env, &jobs[1], &key, "verified").await;
    assert_eq!(earnings(&env, &key).await["pending"], "0.570000", "two releases of 0.285000");
}

/// A purchase payment sent again is answered with its job only as the same purchase: with another brief (a payment
/// seen in flight and sent first, say), its signer is told the payment is spent instead of being handed a job it did
/// not ask for.
#[tokio::test]
async fn a_purchase_payment_repeated_with_another_brief_or_service_is_refused() {
    let env = Env::start("jobs_payment_repeat").await;
    let (_, key, _, _) = provider(&env, "https://hooks.example/provider").await;
    let first = service(&env, &key, "automated_service", "0.25").await;
    let second = service(&env, &key, "automated_service", "0.25").await;
    let (buyer, _) = env.payer(DOLLAR).await;
    let nonce = alloy::primitives::B256::from(PrivateKeySigner::random().to_bytes());
    let path = format!("/v1/services/{first}/purchase");
    let mine = json!({"brief": {"text": "translate my page"}});
    let paid = crate::products::signed_under(&env, &buyer, &path, &mine, nonce).await;

    let bought = crate::products::send_paid(&env, &path, &mine, &paid).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    let again = crate::products::send_paid(&env, &path, &mine, &paid).await;
    assert_eq!(
        (again.status, again.body["job_id"].clone()),
        (StatusCode::OK, bought.body["job_id"].clone()),
        "a retry"
    );

    let theirs = json!({"brief": {"text": "something else entirely"}});
    let rebriefed = crate::products::send_paid(&env, &path, &theirs, &paid).await;
    assert_eq!(
        (rebriefed.status, code(&rebriefed.body)),
        (StatusCode::CONFLICT, "payment_reused"),
        "{}",
        rebriefed.body
    );
    let elsewhere = format!("/v1/services/{second}/purchase");
    // Settled, its nonce is used on chain: anywhere else it no longer verifies.
    let moved = crate::products::send_paid(&env, &elsewhere, &mine, &paid).await;
    assert_eq!(moved.status, StatusCode::PAYMENT_REQUIRED, "{}", moved.body);
    assert_eq!(moved.body["error"], "invalid_exact_evm_nonce_already_used", "{}", moved.body);
    let job = env.get(&format!("/v1/jobs/{}", bought.body["job_id"].as_str().unwrap()), Some(&key)).await;
    assert_eq!(job.body["brief"], mine["brief"], "the job keeps the brief it was bought with");
}
