//! A deposit someone front-ran: whoever sees an agent's x402 deposit in flight submits its authorization straight to
//! the token, so the USDC reaches the vault as surplus and the deposit itself fails. The keeper books it to the agent
//! from the chain's evidence of the transfer (`BalanceVault.depositManyTransferred`), once, with nobody's hand.

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use clearing_chain::contracts::{BalanceVault, MockUSDC};
use clearing_testkit::{DEPLOYER, MINTER};
use clearing_x402::{PaymentRequiredV2, decode_header, encode_header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    balances::{Agent, agent, balance, wait_balance},
    harness::{Answer, DOLLAR, Env, answer},
    jobs::{Receiver, provider, service},
};

/// The market with the keeper every 100 ms, and its background running.
async fn env(name: &str) -> Env {
    let mut env = Env::start_with(name, |config| config.keeper_interval_ms = 100).await;
    env.run_background().await;
    env
}

/// `POST /v1/balance/deposit` of `amount`, paid with `payment` (a `PAYMENT-SIGNATURE` header) if given.
async fn deposit(env: &Env, amount: &str, payment: Option<&str>) -> Answer {
    let mut request = env
        .http
        .post(format!("{}/v1/balance/deposit", env.base))
        .header("Content-Type", "application/json")
        .body(json!({"amount": amount}).to_string());
    if let Some(payment) = payment {
        request = request.header("PAYMENT-SIGNATURE", payment);
    }
    answer(request.send().await.unwrap()).await
}

/// `agent`'s signed deposit of `amount`: the header, and the authorization as the token takes it.
async fn signed_deposit(env: &Env, agent: &Agent, amount: &str) -> (String, clearing_chain::SettlePayment) {
    let asked = deposit(env, amount, None).await;
    assert_eq!(asked.status, StatusCode::PAYMENT_REQUIRED);
    let required: PaymentRequiredV2 = decode_header(asked.headers["payment-required"].as_bytes()).unwrap();
    let signed = clearing_testkit::pay(&agent.key, &clearing_client::PaymentRequired::V2(required));
    (encode_header(&signed.payload_v2()).unwrap(), signed.settle_payment())
}

/// The vault's view of `who` in the test token: its balance, and the vault's surplus.
async fn vault_state(env: &Env, who: Address) -> (U256, U256) {
    let vault = BalanceVault::new(env.chain.deployment.balance_vault.unwrap(), &env.chain.provider);
    (vault.balanceOf(env.chain.token, who).call().await.unwrap(), vault.surplus(env.chain.token).call().await.unwrap())
}

#[tokio::test]
async fn a_deposit_front_run_before_it_arrives_is_booked_to_its_payer_once() {
    let env = env("front_run_before").await;
    let agent = agent(&env, 20 * DOLLAR).await;
    let (header, authorization) = signed_deposit(&env, &agent, "5").await;
    let payer = authorization.from;
    // Someone else's money in the vault, unbooked: a plain transfer. It must stay surplus, not be credited.
    let stranger = MockUSDC::new(env.chain.token, env.chain.as_account(MINTER));
    let vault = env.chain.deployment.balance_vault.unwrap();
    stranger.mint(env.chain.address(MINTER), U256::from(7_000_000)).send().await.unwrap().get_receipt().await.unwrap();
    stranger.transfer(vault, U256::from(7_000_000)).send().await.unwrap().get_receipt().await.unwrap();

    // The payment is seen in flight and sent to the token first.
    env.chain.transfer_with_authorization(&authorization).await;
    let refused = deposit(&env, "5", Some(&header)).await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED, "{}", refused.body);
    // Sent again: noted once, booked once.
    assert_eq!(deposit(&env, "5", Some(&header)).await.status, StatusCode::PAYMENT_REQUIRED);

    wait_balance(&env, &agent.api_key, "available", "5.000000").await;
    let (credited, surplus) = vault_state(&env, payer).await;
    assert_eq!(credited, U256::from(5_000_000), "the agent is credited its own transfer");
    assert_eq!(surplus, U256::from(7_000_000), "the stranger's transfer stays surplus");
    let booked = BalanceVault::new(vault, &env.chain.provider);
    assert!(booked.isBooked(env.chain.token, payer, authorization.nonce).call().await.unwrap());

    // Rounds later, nothing more is booked.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(vault_state(&env, payer).await.0, U256::from(5_000_000), "booked once");
    assert_eq!(balance(&env, &agent.api_key).await["available"], "5.000000");
}

/// Sends `header`'s payment to `path` with `body` while automining is off, waits until the relayer's batch is in the
/// node's pool, then has a front-runner outbid it into the same block with the payment's own authorization, and
/// returns the answer.
pub(crate) async fn front_run_in_batch(
    env: &Env,
    path: &str,
    body: serde_json::Value,
    header: String,
    authorization: &clearing_chain::SettlePayment,
) -> Answer {
    front_run_in_batch_raced(env, (path, body), header, Some(authorization), None).await.0
}

/// `POST path` with `body`, paid with `header`, sent on a task of its own.
fn paid_request(env: &Env, path: &str, body: &serde_json::Value, header: &str) -> tokio::task::JoinHandle<Answer> {
    let request = env
        .http
        .post(format!("{}{path}", env.base))
        .header("Content-Type", "application/json")
        .header("PAYMENT-SIGNATURE", header)
        .body(body.to_string());
    tokio::spawn(async move { answer(request.send().await.unwrap()).await })
}

/// [`front_run_in_batch`] (no front-run without `authorization`), with `racer` (a path and body) sent the same
/// payment once the batch is in the pool and before it is mined, as whoever read the authorization there would;
/// returns both answers.
pub(crate) async fn front_run_in_batch_raced(
    env: &Env,
    (path, body): (&str, serde_json::Value),
    header: String,
    authorization: Option<&clearing_chain::SettlePayment>,
    racer: Option<(&str, serde_json::Value)>,
) -> (Answer, Option<Answer>) {
    let relayer = env.chain.address(DEPLOYER);
    env.chain.set_automine(false).await;
    let sent = paid_request(env, path, &body, &header);
    let mined = env.chain.provider.get_transaction_count(relayer).await.unwrap();
    for _ in 0..200 {
        if env.chain.provider.get_transaction_count(relayer).pending().await.unwrap() > mined {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(env.chain.provider.get_transaction_count(relayer).pending().await.unwrap() > mined, "no batch was sent");
    let raced = racer.map(|(path, body)| paid_request(env, path, &body, &header));
    if raced.is_some() {
        // Time for the racer to reach the queue while the batch waits: if it arrives later, it finds the nonce used,
        // which it must not profit from either.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let front_run = match authorization {
        Some(p) => {
            let usdc = MockUSDC::new(env.chain.token, env.chain.as_account(MINTER));
            let call = usdc.transferWithAuthorization_0(
                p.from,
                p.to,
                p.value,
                p.validAfter,
                p.validBefore,
                p.nonce,
                p.signature.clone(),
            );
            // Gas given, not estimated: an estimate at the pending block would run after the batch and fail.
            let call = call.gas(200_000).max_priority_fee_per_gas(50_000_000_000).max_fee_per_gas(100_000_000_000);
            Some(call.send().await.unwrap())
        }
        None => None,
    };
    env.chain.mine(1).await;
    env.chain.set_automine(true).await;
    if let Some(front_run) = front_run {
        assert!(front_run.get_receipt().await.unwrap().status(), "the front-run went first");
    }
    let raced = match raced {
        Some(raced) => Some(raced.await.unwrap()),
        None => None,
    };
    (sent.await.unwrap(), raced)
}

#[tokio::test]
async fn a_deposit_front_run_in_its_own_batch_is_booked_to_its_payer() {
    let env = env("front_run_in_batch").await;
    let agent = agent(&env, 20 * DOLLAR).await;
    let (header, authorization) = signed_deposit(&env, &agent, "3").await;
    let body = json!({"amount": "3"});
    let answered = front_run_in_batch(&env, "/v1/balance/deposit", body, header, &authorization).await;
    assert_eq!(answered.status, StatusCode::PAYMENT_REQUIRED, "the vault's own deposit failed: {}", answered.body);
    wait_balance(&env, &agent.api_key, "available", "3.000000").await;
    assert_eq!(vault_state(&env, authorization.from).await, (U256::from(3_000_000), U256::ZERO), "booked, no surplus");
}

/// Polls the token until `who` holds `amount` (up to a minute: a return is two batches and a keeper round apart,
/// and the whole suite may be running beside it); on a timeout, says where the recovery stands.
async fn wait_wallet(env: &Env, who: Address, amount: U256) {
    let started = std::time::Instant::now();
    for _ in 0..1_200 {
        if env.chain.balance(who).await == amount {
            eprintln!("{who} got its money back after {:?}", started.elapsed());
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let notes: Vec<(i64, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT id, action_id, claim_action_id FROM front_run_payments ORDER BY id")
            .fetch_all(&env.database.pool())
            .await
            .unwrap();
    let actions: Vec<(i64, String, String, Option<String>)> =
        sqlx::query_as("SELECT id, kind::text, status::text, failure_reason FROM escrow_actions ORDER BY id")
            .fetch_all(&env.database.pool())
            .await
            .unwrap();
    let settlements: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT route::text, status::text, failure_reason FROM settlements ORDER BY id")
            .fetch_all(&env.database.pool())
            .await
            .unwrap();
    panic!(
        "{who} holds {}, never {amount}; notes {notes:?}; actions {actions:?}; settlements {settlements:?}",
        env.chain.balance(who).await
    );
}

/// A purchase whose payment someone else moved into the escrow first bought nothing, is not answered as bought, and
/// its money goes back to the payer's wallet.
#[tokio::test]
async fn a_purchase_front_run_in_its_batch_is_refused_and_its_money_given_back() {
    let env = env("front_run_purchase").await;
    let (_, provider_key, _, _) = provider(&env, "https://example.com/hook").await;
    let service = service(&env, &provider_key, "human_service", "2.00").await;
    let agent = agent(&env, 20 * DOLLAR).await;
    let path = format!("/v1/services/{service}/purchase");
    let body = json!({"brief": {"text": "x"}});
    let asked = env.send(reqwest::Method::POST, &path, None, Some(&body)).await;
    assert_eq!(asked.status, StatusCode::PAYMENT_REQUIRED);
    let required: PaymentRequiredV2 = decode_header(asked.headers["payment-required"].as_bytes()).unwrap();
    let signed = clearing_testkit::pay(&agent.key, &clearing_client::PaymentRequired::V2(required));
    let header = encode_header(&signed.payload_v2()).unwrap();
    let payer = signed.settle_payment().from;
    let before = env.chain.balance(payer).await;
    let answered = front_run_in_batch(&env, &path, body, header, &signed.settle_payment()).await;
    assert_eq!(answered.status, StatusCode::PAYMENT_REQUIRED, "the escrow's funding failed: {}", answered.body);
    let settled: clearing_x402::SettleResponse =
        decode_header(answered.headers["payment-response"].as_bytes()).unwrap();
    assert!(!settled.success, "{settled:?}");
    assert_eq!(settled.error_reason, Some(clearing_x402::Reason::NonceAlreadyUsed));
    // With a transaction, that reason means "settled for an earlier call"; this payment moved nothing here.
    assert_eq!(settled.transaction, None, "{settled:?}");
    assert_eq!(env.chain.balance(payer).await, before - U256::from(2_000_000), "the front-runner moved it");
    wait_wallet(&env, payer, before).await;
    let escrow = clearing_chain::contracts::Escrow::new(env.chain.deployment.escrow, &env.chain.provider);
    assert_eq!(escrow.surplus(env.chain.token).call().await.unwrap(), U256::ZERO, "nothing left behind");
}

/// A job purchase whose payment was front-run before it arrived: refused, noted, and its money given back once.
#[tokio::test]
async fn a_purchase_front_run_before_it_arrives_is_given_back_once() {
    let env = env("front_run_purchase_before").await;
    let (_, provider_key, _, _) = provider(&env, "https://example.com/hook").await;
    let service = service(&env, &provider_key, "human_service", "1.50").await;
    let agent = agent(&env, 20 * DOLLAR).await;
    let path = format!("/v1/services/{service}/purchase");
    let body = json!({"brief": {"text": "x"}});
    let asked = env.send(reqwest::Method::POST, &path, None, Some(&body)).await;
    let required: PaymentRequiredV2 = decode_header(asked.headers["payment-required"].as_bytes()).unwrap();
    let signed = clearing_testkit::pay(&agent.key, &clearing_client::PaymentRequired::V2(required));
    let header = encode_header(&signed.payload_v2()).unwrap();
    let payer = signed.settle_payment().from;
    let before = env.chain.balance(payer).await;
    env.chain.transfer_with_authorization(&signed.settle_payment()).await;
    for _ in 0..2 {
        let mut request = env.http.post(format!("{}{path}", env.base)).header("Content-Type", "application/json");
        request = request.header("PAYMENT-SIGNATURE", header.clone()).body(body.to_string());
        let refused = answer(request.send().await.unwrap()).await;
        assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED, "{}", refused.body);
    }
    wait_wallet(&env, payer, before).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(env.chain.balance(payer).await, before, "given back once");
}

/// A payer that cancels its own authorization (its nonce used, nothing moved) and sends the payment anyway gets
/// nothing, though the escrow holds surplus of exactly that amount from someone else.
#[tokio::test]
async fn a_cancelled_authorization_takes_no_one_elses_surplus() {
    use alloy::{primitives::keccak256, signers::SignerSync, sol_types::SolValue};
    let env = env("front_run_cancelled").await;
    let (_, provider_key, _, _) = provider(&env, "https://example.com/hook").await;
    let service = service(&env, &provider_key, "human_service", "1.50").await;
    let agent = agent(&env, 20 * DOLLAR).await;
    let path = format!("/v1/services/{service}/purchase");
    let body = json!({"brief": {"text": "x"}});
    let asked = env.send(reqwest::Method::POST, &path, None, Some(&body)).await;
    let required: PaymentRequiredV2 = decode_header(asked.headers["payment-required"].as_bytes()).unwrap();
    let signed = clearing_testkit::pay(&agent.key, &clearing_client::PaymentRequired::V2(required));
    let authorization = signed.settle_payment();

    // Someone else's 1.50 sits in the escrow as surplus.
    let usdc = MockUSDC::new(env.chain.token, env.chain.as_account(MINTER));
    let escrow = env.chain.deployment.escrow;
    usdc.mint(env.chain.address(MINTER), U256::from(1_500_000)).send().await.unwrap().get_receipt().await.unwrap();
    usdc.transfer(escrow, U256::from(1_500_000)).send().await.unwrap().get_receipt().await.unwrap();
    // The payer cancels the authorization it signed (EIP-3009 CancelAuthorization), then sends the payment.
    let typehash = clearing_x402::CANCEL_AUTHORIZATION_TYPEHASH;
    let inner = keccak256((typehash, authorization.from, authorization.nonce).abi_encode());
    let digest = keccak256([&[0x19, 0x01][..], env.chain.domain().separator().as_slice(), inner.as_slice()].concat());
    let signature = agent.key.sign_hash_sync(&digest).unwrap().as_bytes().to_vec();
    let cancelled = usdc.cancelAuthorization_1(authorization.from, authorization.nonce, signature.into());
    assert!(cancelled.send().await.unwrap().get_receipt().await.unwrap().status());
    let before = env.chain.balance(authorization.from).await;
    let mut request = env.http.post(format!("{}{path}", env.base)).header("Content-Type", "application/json");
    request = request.header("PAYMENT-SIGNATURE", encode_header(&signed.payload_v2()).unwrap()).body(body.to_string());
    let refused = answer(request.send().await.unwrap()).await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED, "{}", refused.body);

    // Noted like any payment refused on a used nonce (so the pairing, not the note, is what refuses it).
    let mut noted = 0i64;
    for _ in 0..40 {
        noted = sqlx::query_scalar("SELECT count(*) FROM front_run_payments WHERE action_id IS NULL")
            .fetch_one(&env.database.pool())
            .await
            .unwrap();
        if noted == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(noted, 1, "noted");
    // Keeper rounds (every 100 ms) and blocks go by: the payer gets nothing, the surplus stays.
    for _ in 0..10 {
        env.chain.mine(1).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(env.chain.balance(authorization.from).await, before, "nothing given to the payer");
    let escrow = clearing_chain::contracts::Escrow::new(escrow, &env.chain.provider);
    assert_eq!(escrow.surplus(env.chain.token).call().await.unwrap(), U256::from(1_500_000), "the surplus stays");
    let escrow_claimable = escrow.claimable(env.chain.token, authorization.from).call().await.unwrap();
    assert_eq!(escrow_claimable, U256::ZERO, "nothing credited either");
}

/// A data_api purchase front-run in its batch: its money comes back, and the credit that gives it back is not read as
/// the purchase's, so its provider is never told it was paid and the job never reads as delivered.
#[tokio::test]
async fn a_returned_purchase_is_never_reported_paid() {
    let env = env("front_run_returned_not_paid").await;
    let (receiver, url) = Receiver::start().await;
    let (_, provider_key, _, _) = provider(&env, &url).await;
    let service = service(&env, &provider_key, "data_api", "0.75").await;
    let agent = agent(&env, 20 * DOLLAR).await;
    let path = format!("/v1/services/{service}/purchase");
    let body = json!({"brief": {"text": "x"}});
    let asked = env.send(reqwest::Method::POST, &path, None, Some(&body)).await;
    let required: PaymentRequiredV2 = decode_header(asked.headers["payment-required"].as_bytes()).unwrap();
    let signed = clearing_testkit::pay(&agent.key, &clearing_client::PaymentRequired::V2(required));
    let header = encode_header(&signed.payload_v2()).unwrap();
    let payer = signed.settle_payment().from;
    let before = env.chain.balance(payer).await;
    let answered = front_run_in_batch(&env, &path, body, header, &signed.settle_payment()).await;
    assert_eq!(answered.status, StatusCode::PAYMENT_REQUIRED, "{}", answered.body);
    wait_wallet(&env, payer, before).await;

    // The reactor (every 500 ms) has seen the return's credit by now; the job it was for reads as unpaid.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let kinds: Vec<Value> = receiver.events().iter().map(|e| e.2["type"].clone()).collect();
    assert!(!kinds.contains(&json!("payment_released")), "the provider was told it was paid: {kinds:?}");
    let job: Option<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM market_jobs WHERE payer = $1")
        .bind(payer.as_slice())
        .fetch_optional(&env.database.pool())
        .await
        .unwrap();
    if let Some(job) = job {
        let view = env.get(&format!("/v1/jobs/{job}"), Some(&agent.api_key)).await;
        assert_ne!(view.body["status"], "verified", "{}", view.body);
        assert_ne!(view.body["status"], "completed", "{}", view.body);
    }
}
