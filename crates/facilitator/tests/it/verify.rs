//! `/verify` against the chain, named after the conformance properties it pins.

use alloy::{
    primitives::{Address, Bytes, U256},
    signers::local::PrivateKeySigner,
};
use clearing_chain::contracts::MockUSDC;
use serde_json::{Value, json};

use crate::harness::{Harness, Payment, USDC};

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
    let payment = Payment::new(&payer, 5_000);
    let usdc = MockUSDC::new(USDC, &harness.provider);

    for _ in 0..3 {
        assert_eq!(harness.verify(&payment.v2_body()).await["isValid"], true);
    }
    assert_eq!(usdc.balanceOf(payer.address()).call().await.unwrap(), U256::from(5_000));
    assert!(!usdc.authorizationState(payer.address(), payment.nonce).call().await.unwrap());
}

#[tokio::test]
async fn an_underpayment_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = Payment::new(&payer, 999);

    let answer = harness.verify(&payment.v2_body_for(&payment.requirements(1_000))).await;

    assert_eq!(reason(&answer), "invalid_exact_evm_payload_authorization_value_mismatch");
    assert!(answer["invalidMessage"].as_str().unwrap().contains("999"), "{answer}");
}

#[tokio::test]
async fn a_nonce_replay_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = Payment::new(&payer, 1_000);
    let body = payment.v2_body();
    // Use the authorization on chain, as a settlement would.
    let authorization = &body["paymentPayload"]["payload"]["authorization"];
    let signature: Bytes = body["paymentPayload"]["payload"]["signature"].as_str().unwrap().parse().unwrap();
    MockUSDC::new(USDC, &harness.provider)
        .transferWithAuthorization_0(
            payer.address(),
            payment.pay_to,
            U256::from(1_000),
            U256::ZERO,
            authorization["validBefore"].as_str().unwrap().parse().unwrap(),
            payment.nonce,
            signature,
        )
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    harness.sync().await;

    assert_eq!(reason(&harness.verify(&body).await), "invalid_exact_evm_nonce_already_used");
}

#[tokio::test]
async fn in_flight_settlements_count_against_the_balance() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 1_500).await;
    let queued = Payment::new(&payer, 1_000);
    harness.inflight.add(31337, USDC, payer.address(), queued.nonce, U256::from(1_000));

    let second = Payment::new(&payer, 1_000);
    assert_eq!(reason(&harness.verify(&second.v2_body()).await), "invalid_exact_evm_insufficient_balance");
    // The queued payment itself is not counted twice.
    assert_eq!(harness.verify(&queued.v2_body()).await["isValid"], true);
}

#[tokio::test]
async fn an_unsupported_network_is_rejected_with_a_reason() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let mut payment = Payment::new(&payer, 1_000);
    payment.chain_id = 8453;

    let answer = harness.verify(&payment.v2_body()).await;

    assert_eq!(reason(&answer), "unsupported_network");
    assert!(answer["invalidMessage"].as_str().unwrap().contains("eip155:8453"), "{answer}");
}

#[tokio::test]
async fn an_asset_that_is_not_a_contract_is_rejected_with_a_reason() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let mut payment = Payment::new(&payer, 1_000);
    payment.asset = Address::repeat_byte(0xde);

    assert_eq!(reason(&harness.verify(&payment.v2_body()).await), "asset_not_deployed_contract");
}

#[tokio::test]
async fn asset_substitution_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    // Signed for one token, presented against requirements in another.
    let mut cheap = Payment::new(&payer, 1_000);
    cheap.asset = Address::repeat_byte(0xc4);
    let mut requirements = cheap.requirements(1_000);
    requirements["asset"] = json!(USDC.to_checksum(None));

    let answer = harness.verify(&cheap.v2_body_for(&requirements)).await;

    assert_eq!(answer["isValid"], false, "{answer}");
    assert_eq!(reason(&answer), "invalid_exact_evm_signature", "the digest is over the required asset");
}

#[tokio::test]
async fn network_substitution_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = Payment::new(&payer, 1_000);
    let mut body = payment.v2_body();
    body["paymentPayload"]["accepted"]["network"] = json!("eip155:84532");

    assert_eq!(reason(&harness.verify(&body).await), "invalid_exact_evm_network_mismatch");
}

#[tokio::test]
async fn an_expiring_authorization_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let mut payment = Payment::new(&payer, 1_000);
    payment.valid_before = harness_now() + 3;

    assert_eq!(
        reason(&harness.verify(&payment.v2_body()).await),
        "invalid_exact_evm_payload_authorization_valid_before"
    );
}

#[tokio::test]
async fn a_signature_by_someone_else_is_rejected() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = Payment::new(&PrivateKeySigner::random(), 1_000);
    let mut body = payment.v2_body();
    body["paymentPayload"]["payload"]["authorization"]["from"] = json!(payer.address().to_checksum(None));

    assert_eq!(reason(&harness.verify(&body).await), "invalid_exact_evm_signature");
}

#[tokio::test]
async fn a_malformed_payload_is_invalid() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    let payment = Payment::new(&payer, 1_000);
    let mut body = payment.v2_body();
    body["paymentPayload"]["payload"]["authorization"]["value"] = json!("ten");

    assert_eq!(reason(&harness.verify(&body).await), "invalid_payload");
}

fn harness_now() -> u64 {
    use clearing_facilitator::Clock;
    clearing_facilitator::SystemClock.now()
}
