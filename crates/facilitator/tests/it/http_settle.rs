//! `POST /settle` through the assembled facilitator: verify, the durable queue, the batcher, BatchSettler.

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use clearing_chain::contracts::MockUSDC;
use serde_json::Value;
use sqlx::PgPool;

use crate::harness::{Harness, USDC, json_of, pay};

async fn settle(harness: &Harness, body: &Value) -> Value {
    let response = harness.post("/settle", body.to_string()).await;
    assert_eq!(response.status(), 200);
    json_of(response).await
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_payload_settled_twice_succeeds_once_over_http(pool: PgPool) {
    let harness = Harness::with_settlement(pool).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 1_250);
    let body = payment.body();

    let first = settle(&harness, &body).await;
    assert_eq!(first["success"], true, "{first}");
    assert_eq!(first["payer"], payer.address().to_checksum(None));
    assert_eq!(first["network"], "eip155:31337");
    assert_eq!(first["amount"], "1250");
    let transaction = first["transaction"].as_str().unwrap().to_owned();

    let second = settle(&harness, &body).await;
    assert_eq!(second["success"], false, "{second}");
    assert_eq!(second["errorReason"], "invalid_exact_evm_nonce_already_used");
    assert_eq!(second["transaction"], transaction.as_str(), "the duplicate names the original transaction");

    let usdc = MockUSDC::new(USDC, &harness.chain.provider);
    assert_eq!(usdc.balanceOf(payer.address()).call().await.unwrap(), U256::from(5_000 - 1_250));
    assert_eq!(usdc.balanceOf(payment.offer.pay_to).call().await.unwrap(), U256::from(1_250));

    let metrics = String::from_utf8(
        axum::body::to_bytes(harness.get("/metrics").await.into_body(), usize::MAX).await.unwrap().to_vec(),
    )
    .unwrap();
    assert!(metrics.contains("clearing_settle_total{outcome=\"success\"} 1"), "{metrics}");
    assert!(metrics.contains("clearing_settle_total{outcome=\"invalid_exact_evm_nonce_already_used\"} 1"));
    assert!(metrics.contains("clearing_settle_batch_size_count 1"), "{metrics}");
    assert!(metrics.contains("clearing_settle_queue_depth 0"), "{metrics}");
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn an_invalid_payment_is_refused_before_anything_is_queued(pool: PgPool) {
    let harness = Harness::with_settlement(pool).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 500).await;

    let answer = settle(&harness, &pay(&payer, 1_000).body()).await;

    assert_eq!(answer["success"], false);
    assert_eq!(answer["errorReason"], "invalid_exact_evm_insufficient_balance");
    assert!(answer.get("transaction").is_none_or(|t| t == ""), "nothing was broadcast: {answer}");
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn concurrent_settles_of_one_authorization_pay_once_over_http(pool: PgPool) {
    let harness = Harness::with_settlement(pool).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let body = pay(&payer, 1_000).body();

    let answers = futures_join(&harness, &body, 6).await;

    let successes = answers.iter().filter(|a| a["success"] == true).count();
    assert_eq!(successes, 1, "{answers:?}");
    let transactions: std::collections::HashSet<_> = answers.iter().map(|a| a["transaction"].clone()).collect();
    assert_eq!(transactions.len(), 1, "every answer names the one transaction: {answers:?}");
    let usdc = MockUSDC::new(USDC, &harness.chain.provider);
    assert_eq!(usdc.balanceOf(payer.address()).call().await.unwrap(), U256::from(4_000));
}

async fn futures_join(harness: &Harness, body: &Value, n: usize) -> Vec<Value> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (router, body) = (harness.router.clone(), body.to_string());
        tasks.spawn(async move {
            use tower::ServiceExt;
            let mut request = axum::http::Request::post("/settle")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
            json_of(router.oneshot(request).await.unwrap()).await
        });
    }
    tasks.join_all().await
}

/// Someone who sees a marketplace purchase's payment in flight (payTo = the escrow) replays it to `/settle`: a plain
/// transfer would land the payer's money in the escrow with no job booked, so `/settle` refuses it and queues
/// nothing; the purchase's own booking is untouched.
#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_payment_to_the_escrow_is_refused_by_settle(pool: PgPool) {
    a_payment_to_a_reserved_contract_is_refused_by_settle(pool, |d| d.escrow).await;
}

/// The same for a balance deposit in flight (payTo = the balance vault): a plain transfer would leave the money in
/// the vault as surplus, credited to nobody.
#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_payment_to_the_balance_vault_is_refused_by_settle(pool: PgPool) {
    a_payment_to_a_reserved_contract_is_refused_by_settle(pool, |d| d.balance_vault.unwrap()).await;
}

async fn a_payment_to_a_reserved_contract_is_refused_by_settle(
    pool: PgPool,
    contract: fn(&clearing_chain::Deployment) -> alloy::primitives::Address,
) {
    let harness = Harness::with_settlement(pool).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let escrow = contract(&harness.chain.deployment);
    let payment = clearing_testkit::Terms::new(harness.chain.domain(), escrow, 1_000).pay(&payer);

    let answer = settle(&harness, &payment.body()).await;

    assert_eq!(answer["success"], false, "{answer}");
    assert_eq!(answer["errorReason"], "invalid_payment_requirements");
    let ledger = harness.ledger.as_ref().unwrap();
    let key = clearing_ledger::PaymentKey {
        chain_id: 31337,
        asset: USDC,
        payer: payer.address(),
        nonce: payment.authorization().nonce,
    };
    assert!(ledger.settlement(&key).await.unwrap().is_none(), "nothing was queued");
    let usdc = MockUSDC::new(USDC, &harness.chain.provider);
    assert_eq!(usdc.balanceOf(escrow).call().await.unwrap(), U256::ZERO);
}
