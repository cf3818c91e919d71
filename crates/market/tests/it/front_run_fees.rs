//! A payment to the market's own fee routes someone front-ran: whoever sees an agent's x402 payment in flight (the
//! relayer's batch in the mempool) submits its authorization straight to the token. The fee recipient is an account,
//! so that transfer is the whole payment: the request that queued it is served as paid, in the front-runner's
//! transaction, once. Nobody else is, though anyone can rebuild the payment from the chain: not a racer with the same
//! header, not a later request, not a payment front-run before it arrived; and a payment the token never carried to
//! the fee recipient as signed is never counted.

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use clearing_client::{PaymentRequired, sign_payment};
use clearing_testkit::SignedPayment;
use clearing_x402::{PaymentRequiredV2, SettleResponse, decode_header, encode_header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    front_runs::front_run_in_batch_raced,
    harness::{Answer, DOLLAR, Env, FEE_RECIPIENT, answer, json},
};

const REGISTER_PRICE: u64 = 10_000;
const ROTATE_PRICE: u64 = 2_000;

fn agent_body() -> Value {
    json!({"type": "agent", "name": "Front-run agent"})
}

/// The 402 `path` answers to `body` (with `key`), as the client reads it.
async fn required(env: &Env, path: &str, body: &Value, key: Option<&str>) -> PaymentRequired {
    let asked = env.send(Method::POST, path, key, Some(body)).await;
    assert_eq!(asked.status, StatusCode::PAYMENT_REQUIRED, "{}", asked.body);
    let required: PaymentRequiredV2 = decode_header(asked.headers["payment-required"].as_bytes()).unwrap();
    PaymentRequired::V2(required)
}

/// `signer`'s payment of what `required` asks, under `nonce`, to `pay_to` if given instead of the one asked.
fn signed(
    signer: &PrivateKeySigner,
    required: &PaymentRequired,
    nonce: B256,
    pay_to: Option<Address>,
) -> SignedPayment {
    let mut offer = required.offers().into_iter().next().unwrap().unwrap();
    if let Some(pay_to) = pay_to {
        offer.pay_to = pay_to;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = sign_payment(signer, required, &offer, now, nonce).unwrap();
    SignedPayment { required: required.clone(), offer, header }
}

/// `POST path` with `body`, paid with `payment`'s header (and `key`).
async fn post(env: &Env, path: &str, body: &Value, payment: &SignedPayment, key: Option<&str>) -> Answer {
    let mut request = env
        .http
        .post(format!("{}{path}", env.base))
        .header("Content-Type", "application/json")
        .header("PAYMENT-SIGNATURE", encode_header(&payment.payload_v2()).unwrap())
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    answer(request.send().await.unwrap()).await
}

fn settlement(answer: &Answer) -> SettleResponse {
    decode_header(answer.headers["payment-response"].as_bytes()).unwrap()
}

fn nonce() -> B256 {
    PrivateKeySigner::random().to_bytes()
}

#[tokio::test]
async fn a_registration_front_run_before_it_arrives_registers_nobody() {
    let env = Env::start("fee_front_run_register").await;
    let (key, _) = env.payer(DOLLAR).await;
    let asked = required(&env, "/v1/register", &agent_body(), None).await;
    let payment = signed(&key, &asked, nonce(), None);

    env.chain.transfer_with_authorization(&payment.settle_payment()).await;
    env.facilitator.verifier.sync().await.unwrap();
    // Whoever presents it now (the payer, or anyone who rebuilt it from the chain) cannot be told apart.
    let refused = post(&env, "/v1/register", &agent_body(), &payment, None).await;

    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED, "{}", refused.body);
    assert_eq!(refused.body["error"], "invalid_exact_evm_nonce_already_used", "{}", refused.body);
    let participants: i64 =
        sqlx::query_scalar("SELECT count(*) FROM market_participants").fetch_one(&env.database.pool()).await.unwrap();
    assert_eq!(participants, 0);
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM front_run_fee_payments")
        .fetch_one(&env.database.pool())
        .await
        .unwrap();
    assert_eq!(counted, 0);
    assert_eq!(env.chain.balance(FEE_RECIPIENT).await, U256::from(REGISTER_PRICE), "the front-run paid the fee");
}

#[tokio::test]
async fn a_key_rotation_front_run_in_its_own_batch_rotates_once_for_the_request_that_sent_it() {
    let env = Env::start("fee_front_run_rotate").await;
    let (key, payer) = env.payer(DOLLAR).await;
    let registered = env.register(&payer, agent_body()).await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let first_key = json(&registered)["api_key"].as_str().unwrap().to_owned();
    let profile = format!("/v1/participants/{}", json(&registered)["participant_id"].as_str().unwrap());
    let authenticates = |key: String| {
        let (env, profile) = (&env, &profile);
        async move { env.send(Method::PUT, profile, Some(&key), Some(&json!({"name": "x"}))).await.status }
    };
    let path = "/v1/participants/rotate-key";
    let asked = required(&env, path, &json!({}), Some(&first_key)).await;
    let payment = signed(&key, &asked, nonce(), None);
    let header = encode_header(&payment.payload_v2()).unwrap();

    // Whoever reads the authorization in the mempool sends the same payment too, with no key: it would rotate the
    // wallet's key and hand the new one to the sender.
    let racer = Some((path, json!({})));
    let (rotated, raced) =
        front_run_in_batch_raced(&env, (path, json!({})), header, Some(&payment.settle_payment()), racer).await;

    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let raced = raced.unwrap();
    assert_eq!(raced.status, StatusCode::PAYMENT_REQUIRED, "the racer gets nothing: {}", raced.body);
    assert!(raced.headers.contains_key("payment-response"), "the racer reached the settlement");
    assert!(raced.body.get("api_key").is_none(), "{}", raced.body);
    let second_key = rotated.body["api_key"].as_str().unwrap().to_owned();
    assert_ne!(second_key, first_key);
    let settled = settlement(&rotated);
    assert!(settled.success, "{settled:?}");
    assert_eq!(authenticates(first_key.clone()).await, StatusCode::UNAUTHORIZED, "the old key is dead");
    assert_eq!(authenticates(second_key.clone()).await, StatusCode::OK);
    assert_eq!(env.chain.balance(FEE_RECIPIENT).await, U256::from(REGISTER_PRICE + ROTATE_PRICE));

    // The same payment again rotates nothing: it paid for one rotation.
    let replay = post(&env, path, &json!({}), &payment, Some(&second_key)).await;
    assert_eq!(replay.status, StatusCode::PAYMENT_REQUIRED, "{}", replay.body);
    assert_eq!(authenticates(second_key.clone()).await, StatusCode::OK, "not rotated again");
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM front_run_fee_payments")
        .fetch_one(&env.database.pool())
        .await
        .unwrap();
    assert_eq!(counted, 1);
}

#[tokio::test]
async fn a_racer_sending_a_payment_in_flight_gets_nothing_when_it_settles() {
    let env = Env::start("fee_racer_settled").await;
    let (key, payer) = env.payer(DOLLAR).await;
    let registered = env.register(&payer, agent_body()).await;
    let first_key = json(&registered)["api_key"].as_str().unwrap().to_owned();
    let path = "/v1/participants/rotate-key";
    let asked = required(&env, path, &json!({}), Some(&first_key)).await;
    let payment = signed(&key, &asked, nonce(), None);
    let header = encode_header(&payment.payload_v2()).unwrap();

    // No front-run: the market's own batch carries the payment, while someone who read it in the mempool sends it
    // too. Whichever of the two asks first would be told `success`; only the request that queued it is served.
    let racer = Some((path, json!({})));
    let (rotated, raced) = front_run_in_batch_raced(&env, (path, json!({})), header, None, racer).await;

    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(settlement(&rotated).success);
    let raced = raced.unwrap();
    assert_eq!(raced.status, StatusCode::PAYMENT_REQUIRED, "the racer gets nothing: {}", raced.body);
    assert!(raced.headers.contains_key("payment-response"), "the racer reached the settlement");
    assert!(raced.body.get("api_key").is_none(), "{}", raced.body);
    assert_eq!(env.chain.balance(FEE_RECIPIENT).await, U256::from(REGISTER_PRICE + ROTATE_PRICE), "paid once");
}

#[tokio::test]
async fn a_nonce_the_token_spent_on_another_transfer_pays_no_fee() {
    let env = Env::start("fee_front_run_elsewhere").await;
    let (key, _) = env.payer(DOLLAR).await;
    let asked = required(&env, "/v1/register", &agent_body(), None).await;
    let shared = nonce();
    // Two authorizations under one nonce: the market queues the one to the fee recipient, and a front-runner has the
    // token carry the other, to someone else, first.
    let elsewhere = signed(&key, &asked, shared, Some(Address::repeat_byte(0x77)));
    let ours = signed(&key, &asked, shared, None);
    let header = encode_header(&ours.payload_v2()).unwrap();

    let (refused, _) =
        front_run_in_batch_raced(&env, ("/v1/register", agent_body()), header, Some(&elsewhere.settle_payment()), None)
            .await;

    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED, "{}", refused.body);
    assert!(refused.headers.contains_key("payment-response"), "the market's batch found the nonce used");
    assert_eq!(env.chain.balance(FEE_RECIPIENT).await, U256::ZERO);
    assert_eq!(env.chain.balance(Address::repeat_byte(0x77)).await, U256::from(REGISTER_PRICE));
    let participants: i64 =
        sqlx::query_scalar("SELECT count(*) FROM market_participants").fetch_one(&env.database.pool()).await.unwrap();
    assert_eq!(participants, 0, "nothing reached the fee recipient, so nobody registered");
}

#[tokio::test]
async fn a_payment_the_market_settled_itself_is_never_counted_again() {
    let env = Env::start("fee_own_settlement_replayed").await;
    let (key, payer) = env.payer(DOLLAR).await;
    let registered = env.register(&payer, agent_body()).await;
    let api_key = json(&registered)["api_key"].as_str().unwrap().to_owned();
    let path = "/v1/participants/rotate-key";
    let asked = required(&env, path, &json!({}), Some(&api_key)).await;
    let payment = signed(&key, &asked, nonce(), None);
    let rotated = post(&env, path, &json!({}), &payment, Some(&api_key)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let rotated_key = rotated.body["api_key"].as_str().unwrap().to_owned();

    // The token's logs show the payment carried, by the market's own batch: that buys no second rotation.
    let replay = post(&env, path, &json!({}), &payment, Some(&rotated_key)).await;

    assert_eq!(replay.status, StatusCode::PAYMENT_REQUIRED, "{}", replay.body);
    let profile = format!("/v1/participants/{}", json(&registered)["participant_id"].as_str().unwrap());
    let still = env.send(Method::PUT, &profile, Some(&rotated_key), Some(&json!({"name": "x"}))).await;
    assert_eq!(still.status, StatusCode::OK, "not rotated again");
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM front_run_fee_payments")
        .fetch_one(&env.database.pool())
        .await
        .unwrap();
    assert_eq!(counted, 0);
    assert_eq!(env.chain.balance(FEE_RECIPIENT).await, U256::from(REGISTER_PRICE + ROTATE_PRICE));
}
