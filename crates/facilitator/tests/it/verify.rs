//! `/verify` against the chain, named after the conformance properties it pins.

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use clearing_chain::contracts::MockUSDC;
use clearing_testkit::{TOKEN_NAME, TOKEN_VERSION, Terms};
use clearing_x402::TokenDomain;
use serde_json::{Value, json};

use crate::harness::{Harness, USDC, pay, terms};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/eip3009-x402.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("tests/vectors/eip3009-x402.json")).unwrap()
}

/// The reference v2 client's payment on chain 31337, as a facilitator request.
fn reference_v2_payment() -> (Value, Address) {
    let vectors = vectors();
    let vector = vectors["x402v2"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["paymentRequired"]["accepts"][0]["network"] == "eip155:31337")
        .expect("a chain-31337 x402v2 vector")
        .clone();
    let body = json!({
        "x402Version": 2,
        "paymentPayload": vector["paymentPayload"],
        "paymentRequirements": vector["paymentRequired"]["accepts"][0],
    });
    (body, vector["payer"].as_str().unwrap().parse().unwrap())
}

fn reason(answer: &Value) -> &str {
    assert_eq!(answer["isValid"], false, "{answer}");
    answer["invalidReason"].as_str().unwrap_or_else(|| panic!("no invalidReason in {answer}"))
}

#[tokio::test]
async fn the_reference_v2_client_payment_verifies_on_chain() {
    let harness = Harness::at_vector_time().await;
    let (body, payer) = reference_v2_payment();

    let unfunded = harness.verify(&body).await;
    assert_eq!(reason(&unfunded), "invalid_exact_evm_insufficient_balance");
    assert_eq!(unfunded["payer"], payer.to_checksum(None));

    harness.mint(payer, 10_000).await;
    let answer = harness.verify(&body).await;
    assert_eq!(answer, json!({"isValid": true, "payer": payer.to_checksum(None)}));
}

#[tokio::test]
async fn verify_commits_nothing() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 5_000);
    let usdc = MockUSDC::new(USDC, &harness.chain.provider);

    for _ in 0..3 {
        assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    }
    assert_eq!(usdc.balanceOf(payer.address()).call().await.unwrap(), U256::from(5_000));
    assert!(!usdc.authorizationState(payer.address(), payment.nonce()).call().await.unwrap());
}

#[tokio::test]
async fn an_underpayment_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 999);

    let answer = harness.verify(&payment.body_against(terms(1_000).requirements())).await;

    assert_eq!(reason(&answer), "invalid_exact_evm_payload_authorization_value_mismatch");
    assert!(answer["invalidMessage"].as_str().unwrap().contains("999"), "{answer}");
}

#[tokio::test]
async fn a_nonce_replay_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 1_000);
    let body = payment.body();
    // Use the authorization on chain, as a settlement would.
    harness.chain.transfer_with_authorization(&payment.settle_payment()).await;
    harness.sync().await;

    assert_eq!(reason(&harness.verify(&body).await), "invalid_exact_evm_nonce_already_used");
}

#[tokio::test]
async fn in_flight_settlements_count_against_the_balance() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 1_500).await;
    let queued = pay(&payer, 1_000);
    harness.inflight.add(31337, USDC, payer.address(), queued.nonce(), U256::from(1_000));

    let second = pay(&payer, 1_000);
    assert_eq!(reason(&harness.verify(&second.body()).await), "invalid_exact_evm_insufficient_balance");
    // The queued payment itself is not counted twice.
    assert_eq!(harness.verify(&queued.body()).await["isValid"], true);
}

#[tokio::test]
async fn an_unsupported_network_is_rejected_with_a_reason() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let domain = TokenDomain::new(8453, USDC, TOKEN_NAME, TOKEN_VERSION);
    let payment = Terms { domain, ..terms(1_000) }.pay(&payer);

    let answer = harness.verify(&payment.body()).await;

    assert_eq!(reason(&answer), "unsupported_network");
    assert!(answer["invalidMessage"].as_str().unwrap().contains("eip155:8453"), "{answer}");
}

#[tokio::test]
async fn an_asset_that_is_not_a_contract_is_rejected_with_a_reason() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let domain = TokenDomain::new(31337, Address::repeat_byte(0xde), TOKEN_NAME, TOKEN_VERSION);
    let payment = Terms { domain, ..terms(1_000) }.pay(&payer);

    assert_eq!(reason(&harness.verify(&payment.body()).await), "asset_not_deployed_contract");
}

#[tokio::test]
async fn asset_substitution_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    // Signed for one token, presented against requirements in another.
    let domain = TokenDomain::new(31337, Address::repeat_byte(0xc4), TOKEN_NAME, TOKEN_VERSION);
    let cheap = Terms { domain, ..terms(1_000) }.pay(&payer);
    let requirements = terms(1_000).requirements();
    assert_eq!(requirements.asset, USDC.to_checksum(None));

    let answer = harness.verify(&cheap.body_against(requirements)).await;

    assert_eq!(answer["isValid"], false, "{answer}");
    assert_eq!(reason(&answer), "invalid_exact_evm_signature", "the digest is over the required asset");
}

#[tokio::test]
async fn network_substitution_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 1_000);
    let mut body = payment.body();
    body["paymentPayload"]["accepted"]["network"] = json!("eip155:84532");

    assert_eq!(reason(&harness.verify(&body).await), "invalid_exact_evm_network_mismatch");
}

#[tokio::test]
async fn an_expiring_authorization_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = terms(1_000).pay_until(&payer, harness_now() + 3);

    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_payload_authorization_valid_before");
}

#[tokio::test]
async fn a_signature_by_someone_else_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&PrivateKeySigner::random(), 1_000);
    let mut body = payment.body();
    body["paymentPayload"]["payload"]["authorization"]["from"] = json!(payer.address().to_checksum(None));

    assert_eq!(reason(&harness.verify(&body).await), "invalid_exact_evm_signature");
}

#[tokio::test]
async fn a_malformed_payload_is_invalid() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let payment = pay(&payer, 1_000);
    let mut body = payment.body();
    body["paymentPayload"]["payload"]["authorization"]["value"] = json!("ten");

    assert_eq!(reason(&harness.verify(&body).await), "invalid_payload");
}

fn harness_now() -> u64 {
    use clearing_facilitator::Clock;
    clearing_facilitator::SystemClock.now()
}
