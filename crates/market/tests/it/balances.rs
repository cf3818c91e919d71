//! Prepaid balances end to end on anvil and PostgreSQL: an x402 deposit into the vault, a hundred data_api calls paid
//! from the balance with one credential and no signature, the debits applied on chain in vault batches and agreeing
//! with the ledger to the unit, a retried purchase paying once, the credential's refusals, a short balance falling
//! through to x402, and the agent's exit from its own wallet after the delay.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use clearing_audit::{AnchorPolicy, Record, RecordKind, RecordStatus, VerifyTarget, record_proof, verify_record};
use clearing_chain::contracts::{BalanceVault, MockUSDC};
use clearing_ledger::market::{CredentialId, NewCredential};
use clearing_market::{BALANCE_AUTH_HEADER, BALANCE_REFUSED_HEADER, IDEMPOTENCY_KEY_HEADER};
use clearing_x402::{PaymentRequiredV2, decode_header, encode_header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    harness::{Answer, DOLLAR, Env, answer, code, json as paid_json},
    jobs::{Receiver, provider, service},
};

/// A registered agent: its key and its API key.
pub(crate) struct Agent {
    pub(crate) key: PrivateKeySigner,
    pub(crate) api_key: String,
}

pub(crate) async fn agent(env: &Env, usdc: u64) -> Agent {
    let (key, payer) = env.payer(usdc).await;
    let paid = env.register(&payer, json!({"type": "agent", "name": "Balance agent"})).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let api_key = paid_json(&paid)["api_key"].as_str().unwrap().to_owned();
    Agent { key, api_key }
}

pub(crate) async fn credential(env: &Env, api_key: &str, body: Value) -> String {
    let made = env.send(Method::POST, "/v1/balance/credentials", Some(api_key), Some(&body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert!(made.body["token"].as_str().unwrap().starts_with("clb_"));
    made.body["token"].as_str().unwrap().to_owned()
}

/// `POST /v1/services/{service}/purchase` paid from a balance.
pub(crate) async fn buy(env: &Env, service: &str, credential: &str, idempotency_key: Option<&str>) -> Answer {
    let mut request = env
        .http
        .post(format!("{}/v1/services/{service}/purchase", env.base))
        .header(BALANCE_AUTH_HEADER, credential)
        .header("Content-Type", "application/json")
        .body(json!({"brief": {"text": "x"}}).to_string());
    if let Some(key) = idempotency_key {
        request = request.header(IDEMPOTENCY_KEY_HEADER, key);
    }
    answer(request.send().await.unwrap()).await
}

pub(crate) async fn balance(env: &Env, api_key: &str) -> Value {
    let answer = env.get("/v1/balance", Some(api_key)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// Polls `GET /v1/balance` until `field` reads `value`.
pub(crate) async fn wait_balance(env: &Env, api_key: &str, field: &str, value: &str) -> Value {
    for _ in 0..400 {
        let body = balance(env, api_key).await;
        if body[field] == value {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{field} never read {value}: {}", balance(env, api_key).await);
}

/// Gives `who` gas money and sends `data` to `to` from it.
pub(crate) async fn send_from(env: &Env, who: &PrivateKeySigner, to: Address, data: Bytes) {
    env.chain.provider.anvil_set_balance(who.address(), U256::from(10u64).pow(U256::from(18u64))).await.unwrap();
    let sender = clearing_chain::connect_with_signer(&env.chain.endpoint(), who.clone()).unwrap();
    let request = TransactionRequest::default().with_to(to).with_input(data);
    let receipt = sender.send_transaction(request).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status(), "the transaction to {to} reverted");
}

pub(crate) fn call_data(call: &Value) -> Bytes {
    call["data"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_agent_deposits_buys_a_hundred_calls_from_its_balance_and_withdraws_the_rest() {
    let mut env = Env::start_with("balances_flow", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (_, url) = Receiver::start().await;
    let (_, provider_key, _, provider_wallet) = provider(&env, &url).await;
    let data = service(&env, &provider_key, "data_api", "0.005").await;
    let human = service(&env, &provider_key, "human_service", "0.005").await;
    let agent = agent(&env, 3 * DOLLAR).await;
    let vault_address = env.chain.deployment.balance_vault.unwrap();

    // The deposit: an ordinary x402 payment of the amount the agent names, into the vault. The same signed payment
    // sent again (a lost answer) is answered with the same deposit, and credited once.
    deposit(&env, &agent, "1.00").await;
    let vault = BalanceVault::new(vault_address, &env.chain.provider);
    assert_eq!(vault.balanceOf(env.chain.token, agent.key.address()).call().await.unwrap(), U256::from(DOLLAR));

    // One credential, a hundred purchases, no signature.
    let token = credential(
        &env,
        &agent.api_key,
        json!({"name": "crawler", "max_per_request": "0.01", "max_per_day": "0.60", "services": [data]}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..100 {
        let bought = buy(&env, &data, &token, Some(&format!("call-{i}"))).await;
        assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
        assert_eq!(bought.body["paid_by"], "balance");
        assert!(bought.headers.get("payment-response").is_none(), "no x402 settlement");
        ids.push(bought.body["id"].as_str().unwrap().to_owned());
    }
    // A retry with a key already used pays nothing more and answers the same purchase.
    let again = buy(&env, &data, &token, Some("call-7")).await;
    assert_eq!((again.status, again.body["id"].as_str().unwrap()), (StatusCode::OK, ids[7].as_str()));
    let now = balance(&env, &agent.api_key).await;
    assert_eq!((now["available"].as_str(), now["spent"].as_str()), (Some("0.500000"), Some("0.500000")));

    // The refusals, each naming its reason, none spending anything.
    let over_cap = credential(&env, &agent.api_key, json!({"name": "tiny", "max_per_request": "0.001"})).await;
    let refused = buy(&env, &data, &over_cap, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::FORBIDDEN, "balance_credential_cap"));
    let daily = credential(&env, &agent.api_key, json!({"name": "daily", "max_per_day": "0.005"})).await;
    assert_eq!(buy(&env, &data, &daily, Some("d-1")).await.status, StatusCode::CREATED);
    let refused = buy(&env, &data, &daily, Some("d-2")).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::FORBIDDEN, "balance_credential_cap"));
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("daily cap"), "{}", refused.body);
    let scoped = credential(&env, &agent.api_key, json!({"name": "scoped", "services": [Uuid::new_v4()]})).await;
    let refused = buy(&env, &data, &scoped, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::FORBIDDEN, "balance_credential_scope"));
    let refused = buy(&env, &data, &agent.api_key, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::UNAUTHORIZED, "invalid_balance_credential"));
    let refused = buy(&env, &human, &token, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "balance_not_accepted"));
    // Expired: the API refuses to make one in the past, so it is stored straight in the ledger.
    let expired_token = format!("clb_{}", "A".repeat(43));
    let owner = balance_owner(&env, &agent.api_key).await;
    env.market
        .ledger()
        .insert_credential(&NewCredential {
            id: CredentialId(Uuid::new_v4()),
            participant_id: owner,
            token_hash: Sha256::digest(expired_token.as_bytes()).into(),
            name: "expired".into(),
            max_per_request: None,
            max_per_day: None,
            services: None,
            expires_at: Some(1),
        })
        .await
        .unwrap();
    let refused = buy(&env, &data, &expired_token, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::UNAUTHORIZED, "balance_credential_expired"));
    assert_eq!(balance(&env, &agent.api_key).await["spent"], "0.505000", "101 accepted purchases, no more");

    // A short balance falls through to x402's 402, saying why.
    let poor = self::agent(&env, DOLLAR).await;
    let poor_token = credential(&env, &poor.api_key, json!({"name": "poor"})).await;
    let short = buy(&env, &data, &poor_token, None).await;
    assert_eq!(short.status, StatusCode::PAYMENT_REQUIRED, "{}", short.body);
    assert_eq!(short.headers[BALANCE_REFUSED_HEADER], "insufficient_balance");
    assert!(short.headers.contains_key("payment-required"), "an x402 client can pay it instead");
    // The x402 client pays it, sending the credential again beside its payment; the answer is lost, the balance is
    // topped up, and the client retries the same request: the payment's job, not a second purchase from the balance.
    let required: PaymentRequiredV2 = decode_header(short.headers["payment-required"].as_bytes()).unwrap();
    let required = clearing_client::PaymentRequired::V2(required);
    let signed = encode_header(&clearing_testkit::pay(&poor.key, &required).payload_v2()).unwrap();
    let paid_purchase = || {
        let request = env
            .http
            .post(format!("{}/v1/services/{data}/purchase", env.base))
            .header(BALANCE_AUTH_HEADER, &poor_token)
            .header("PAYMENT-SIGNATURE", &signed)
            .header("Content-Type", "application/json")
            .body(json!({"brief": {"text": "x"}}).to_string());
        async move { answer(request.send().await.unwrap()).await }
    };
    let paid = paid_purchase().await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    deposit(&env, &poor, "0.10").await;
    let retried = paid_purchase().await;
    assert!(paid.body["job_id"].is_string(), "{}", paid.body);
    assert_eq!((retried.status, &retried.body["job_id"]), (StatusCode::OK, &paid.body["job_id"]), "{}", retried.body);
    assert_ne!(retried.body["paid_by"], "balance");
    assert_eq!(balance(&env, &poor.api_key).await["spent"], "0.000000", "the balance paid nothing");
    // Revoked behind this process's back (by another process, say): the copy kept since the purchase above is live,
    // and the debit's batch refuses it (else this would fall through to the 402 again).
    let poor_owner = balance_owner(&env, &poor.api_key).await;
    let poor_credential = env.market.ledger().credentials(poor_owner).await.unwrap()[0].id;
    assert!(env.market.ledger().revoke_credential(poor_owner, poor_credential).await.unwrap());
    let revoked = buy(&env, &data, &poor_token, None).await;
    assert_eq!((revoked.status, code(&revoked.body)), (StatusCode::UNAUTHORIZED, "balance_credential_revoked"));
    // And once refused it is refused before any debit.
    let revoked = buy(&env, &data, &poor_token, None).await;
    assert_eq!((revoked.status, code(&revoked.body)), (StatusCode::UNAUTHORIZED, "balance_credential_revoked"));

    // The debits reach the chain in vault batches, and the chain agrees with the ledger to the unit.
    let fee_recipient = vault.feeRecipient().call().await.unwrap();
    wait_balance(&env, &agent.api_key, "pending_debits", "0.000000").await;
    let on_chain = vault.balanceOf(env.chain.token, agent.key.address()).call().await.unwrap();
    assert_eq!(on_chain, U256::from(DOLLAR - 101 * 5_000));
    // 101 debits of 5,000: the provider nets 4,750 of each, the fee recipient 250.
    assert_eq!(
        vault.claimable(env.chain.token, provider_wallet.address()).call().await.unwrap(),
        U256::from(479_750u64)
    );
    assert_eq!(vault.claimable(env.chain.token, fee_recipient).call().await.unwrap(), U256::from(25_250u64));
    let now = balance(&env, &agent.api_key).await;
    assert_eq!(now["available"], "0.495000");
    // Every debit is a settlement record of the audit trail, anchored and checkable against the chain.
    // The batcher marks a debit applied from its receipt; the indexer confirms its log a moment later.
    let ledger = env.database.ledger();
    let mut debits: Vec<Record> = Vec::new();
    for _ in 0..400 {
        env.chain.sequencer(&ledger).run_once().await.unwrap();
        let records = ledger.audit_records(env.chain.chain_id, 0, u64::MAX >> 2).await.unwrap();
        debits = records.iter().map(Record::from).filter(|r| r.kind == RecordKind::BalanceDebit).collect();
        if debits.len() >= 101 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(debits.len(), 101);
    let policy = AnchorPolicy { every_records: 1, every: Duration::from_secs(60), max_records: 10_000 };
    env.chain.anchorer(&ledger, policy).run_once().await.unwrap().expect("anchored");
    assert!(debits.iter().all(|r| r.payer == agent.key.address() && r.payee == provider_wallet.address()));
    assert!(debits.iter().all(|r| (r.payee_amount, r.fee_amount) == (U256::from(4_750u64), U256::from(250u64))));
    let RecordStatus::Anchored(proof) = record_proof(&ledger, env.chain.chain_id, debits[42].seq).await.unwrap() else {
        panic!("record {} is not anchored", debits[42].seq);
    };
    verify_record(&env.chain.provider, &proof, &VerifyTarget::deployment(&env.chain.deployment, env.chain.token))
        .await
        .unwrap();

    let history = env.get("/v1/balance/history?limit=200", Some(&agent.api_key)).await;
    let entries = history.body["entries"].as_array().unwrap();
    assert_eq!(entries.iter().filter(|e| e["kind"] == "debit" && e["status"] == "applied").count(), 101);
    assert_eq!(entries.iter().filter(|e| e["kind"] == "deposited").count(), 1);

    // The exit, from the agent's own wallet: request, wait the delay, withdraw.
    let exit = env.get("/v1/balance/withdrawal", Some(&agent.api_key)).await.body;
    send_from(&env, &agent.key, vault_address, call_data(&exit["request"])).await;
    wait_balance(&env, &agent.api_key, "available", "0.495000").await;
    for _ in 0..400 {
        if !balance(&env, &agent.api_key).await["withdrawal_pending"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While the request stands no debit is accepted: the purchase falls through to x402.
    let locked = buy(&env, &data, &token, Some("after-request")).await;
    assert_eq!(locked.status, StatusCode::PAYMENT_REQUIRED, "{}", locked.body);
    assert_eq!(locked.headers[BALANCE_REFUSED_HEADER], "withdrawal_pending");
    env.chain.provider.anvil_increase_time(86_400 + 1).await.unwrap();
    env.chain.mine(1).await;
    let before =
        MockUSDC::new(env.chain.token, &env.chain.provider).balanceOf(agent.key.address()).call().await.unwrap();
    send_from(&env, &agent.key, vault_address, call_data(&exit["withdraw"])).await;
    let after =
        MockUSDC::new(env.chain.token, &env.chain.provider).balanceOf(agent.key.address()).call().await.unwrap();
    assert_eq!(after - before, U256::from(495_000u64), "the undebited balance, to the unit");
    let closed = wait_balance(&env, &agent.api_key, "withdrawn", "0.495000").await;
    assert_eq!((closed["available"].as_str(), closed["withdrawal_pending"].is_null()), (Some("0.000000"), true));
}

/// Deposits `amount` (USDC, decimal) into `agent`'s balance with an x402 payment, sends the same payment again (a
/// lost answer: the same deposit, credited once), and waits until the balance is available.
pub(crate) async fn deposit(env: &Env, agent: &Agent, amount: &str) {
    let vault_address = env.chain.deployment.balance_vault.unwrap();
    let body = json!({"amount": amount}).to_string();
    let deposit = |payment: Option<String>| {
        let mut request = env
            .http
            .post(format!("{}/v1/balance/deposit", env.base))
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(payment) = payment {
            request = request.header("PAYMENT-SIGNATURE", payment);
        }
        async move { answer(request.send().await.unwrap()).await }
    };
    let available = balance(env, &agent.api_key).await["available"].as_str().unwrap().to_owned();
    let asked = deposit(None).await;
    assert_eq!(asked.status, StatusCode::PAYMENT_REQUIRED);
    let required: PaymentRequiredV2 = decode_header(asked.headers["payment-required"].as_bytes()).unwrap();
    assert_eq!(required.accepts[0].pay_to.parse::<Address>().unwrap(), vault_address, "payTo is the vault");
    let required = clearing_client::PaymentRequired::V2(required);
    let signed = encode_header(&clearing_testkit::pay(&agent.key, &required).payload_v2()).unwrap();
    let first = deposit(Some(signed.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = deposit(Some(signed)).await;
    assert!(again.status.is_success(), "{}", again.body);
    assert_eq!(again.body["deposit"]["tx_hash"], first.body["deposit"]["tx_hash"]);
    let expected = usdc_sum(&available, amount);
    wait_balance(env, &agent.api_key, "available", &expected).await;
}

/// `a + b`, decimal USDC strings, as the API prints amounts (six decimals).
fn usdc_sum(a: &str, b: &str) -> String {
    let atomic = |s: &str| -> u64 {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        whole.parse::<u64>().unwrap() * 1_000_000 + format!("{fraction:0<6}").parse::<u64>().unwrap()
    };
    let sum = atomic(a) + atomic(b);
    format!("{}.{:06}", sum / 1_000_000, sum % 1_000_000)
}

/// The participant behind `api_key`.
async fn balance_owner(env: &Env, api_key: &str) -> clearing_ledger::market::ParticipantId {
    let hash: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
    env.market.ledger().participant_by_key_hash(&hash).await.unwrap().unwrap().id
}
