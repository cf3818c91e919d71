//! Products bought from a prepaid balance, end to end on anvil and PostgreSQL: the debit and the purchase written
//! together, owned and downloadable at once, a retry answered with the same purchase, a second purchase (with another
//! key, or raced from eight requests at once) refused 409 with nothing debited, the refusals of a credential with a
//! service list and of a short balance (falling through to x402), and the debit applied on chain by the vault with the
//! provider and the fee recipient credited to the unit, as a `balance_debit` audit record that verifies.

use std::time::Duration;

use alloy::primitives::U256;
use clearing_audit::{AnchorPolicy, Record, RecordKind, RecordStatus, VerifyTarget, record_proof, verify_record};
use clearing_chain::contracts::BalanceVault;
use clearing_ledger::market::ParticipantKind;
use clearing_market::{BALANCE_AUTH_HEADER, BALANCE_REFUSED_HEADER, IDEMPOTENCY_KEY_HEADER};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::{
    balances::{agent, balance, credential, deposit, wait_balance},
    harness::{Answer, DOLLAR, Env, answer, code},
    products::{check_digest, csv, fetch, registered, upload},
};

/// `POST /v1/products/{product}/purchase` paid from a balance.
async fn buy(env: &Env, product: &str, credential: &str, idempotency_key: Option<&str>) -> Answer {
    let mut request =
        env.http.post(format!("{}/v1/products/{product}/purchase", env.base)).header(BALANCE_AUTH_HEADER, credential);
    if let Some(key) = idempotency_key {
        request = request.header(IDEMPOTENCY_KEY_HEADER, key);
    }
    answer(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_product_is_bought_from_the_balance_once_and_settled_by_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let products = dir.path().join("products");
    let mut env = Env::start_with("product_balance", |c| c.product_dir = products).await;
    env.run_background().await;
    let provider_wallet = alloy::signers::local::PrivateKeySigner::random().address();
    let provider = registered(&env, ParticipantKind::Provider, provider_wallet).await;
    let file = csv(500);
    let fields = [("name", "Port codes"), ("description", "Every port code, as CSV."), ("price", "0.20")];
    let created = upload(&env, &provider, &fields, Some(("ports.csv", &file))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let fields = [("name", "Airport codes"), ("description", "Every airport code, as CSV."), ("price", "0.30")];
    let second = upload(&env, &provider, &fields, Some(("airports.csv", &file))).await;
    let second = second.body["id"].as_str().unwrap().to_owned();

    let agent = agent(&env, 3 * DOLLAR).await;
    deposit(&env, &agent, "1.00").await;
    let token = credential(&env, &agent.api_key, json!({"name": "shopper", "max_per_request": "0.40"})).await;

    // Bought: the agent price (0.20 + 5%) held against the balance at once, owned at once, no x402 settlement.
    let bought = buy(&env, &id, &token, Some("ports-1")).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    assert_eq!((bought.body["paid_by"].as_str(), bought.body["status"].as_str()), (Some("balance"), Some("paid")));
    assert_eq!(
        (bought.body["price"].as_str(), bought.body["provider_net"].as_str()),
        (Some("0.210000"), Some("0.200000"))
    );
    assert!(bought.headers.get("payment-response").is_none(), "no x402 settlement");
    let purchase_id = bought.body["purchase_id"].as_str().unwrap().to_owned();
    let debit_id = bought.body["debit_id"].as_str().unwrap().to_owned();
    let (status, headers, body) = fetch(&env, &format!("/v1/products/{id}/download"), &agent.api_key).await;
    assert_eq!(status, StatusCode::OK, "downloadable at once: {}", String::from_utf8_lossy(&body));
    check_digest(&headers, &body, &file);
    assert_eq!(balance(&env, &agent.api_key).await["spent"], "0.210000");

    // A retry of the key answers the same purchase; another key is refused as owned; neither debits anything.
    let again = buy(&env, &id, &token, Some("ports-1")).await;
    assert_eq!((again.status, again.body["purchase_id"].as_str()), (StatusCode::OK, Some(purchase_id.as_str())));
    let owned = buy(&env, &id, &token, Some("ports-2")).await;
    assert_eq!((owned.status, code(&owned.body)), (StatusCode::CONFLICT, "already_owned"), "{}", owned.body);
    let owned = buy(&env, &id, &token, None).await;
    assert_eq!((owned.status, code(&owned.body)), (StatusCode::CONFLICT, "already_owned"), "{}", owned.body);
    // The key that bought one product cannot buy another.
    let reused = buy(&env, &second, &token, Some("ports-1")).await;
    assert_eq!(
        (reused.status, code(&reused.body)),
        (StatusCode::CONFLICT, "idempotency_key_reused"),
        "{}",
        reused.body
    );
    assert_eq!(balance(&env, &agent.api_key).await["spent"], "0.210000", "refusals debit nothing");

    // Raced: eight requests with eight keys for the second product; exactly one buys it, one debit is taken.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (http, base, second, token) = (env.http.clone(), env.base.clone(), second.clone(), token.clone());
        racers.spawn(async move {
            let request = http
                .post(format!("{base}/v1/products/{second}/purchase"))
                .header(BALANCE_AUTH_HEADER, token)
                .header(IDEMPOTENCY_KEY_HEADER, format!("race-{i}"));
            answer(request.send().await.unwrap()).await
        });
    }
    let answers = racers.join_all().await;
    let created = answers.iter().filter(|a| a.status == StatusCode::CREATED).count();
    let conflicts = answers.iter().filter(|a| a.status == StatusCode::CONFLICT).count();
    assert_eq!((created, conflicts), (1, 7), "{:?}", answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>());
    assert_eq!(balance(&env, &agent.api_key).await["spent"], "0.525000", "0.21 + 0.315");

    // The refusals: a credential with a service list buys no products; over the cap per request; a short balance
    // falls through to x402's 402.
    let scoped = credential(&env, &agent.api_key, json!({"name": "scoped", "services": [Uuid::new_v4()]})).await;
    let third = upload(
        &env,
        &provider,
        &[("name", "Rail codes"), ("description", "Rail."), ("price", "0.50")],
        Some(("rail.csv", &file)),
    )
    .await;
    let third = third.body["id"].as_str().unwrap().to_owned();
    let refused = buy(&env, &third, &scoped, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::FORBIDDEN, "balance_credential_scope"));
    let refused = buy(&env, &third, &token, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::FORBIDDEN, "balance_credential_cap"));
    let open = credential(&env, &agent.api_key, json!({"name": "open"})).await;
    let short = buy(&env, &third, &open, None).await;
    assert_eq!(short.status, StatusCode::PAYMENT_REQUIRED, "0.525 of 0.475 left: {}", short.body);
    assert_eq!(short.headers[BALANCE_REFUSED_HEADER], "insufficient_balance");
    assert!(short.headers.contains_key("payment-required"), "an x402 client can pay it instead");

    // The vault applies both debits: the provider nets the listed prices, the fee recipient the fees, to the unit.
    wait_balance(&env, &agent.api_key, "pending_debits", "0.000000").await;
    let vault = BalanceVault::new(env.chain.deployment.balance_vault.unwrap(), &env.chain.provider);
    assert_eq!(vault.balanceOf(env.chain.token, agent.key.address()).call().await.unwrap(), U256::from(475_000u64));
    assert_eq!(vault.claimable(env.chain.token, provider_wallet).call().await.unwrap(), U256::from(500_000u64));
    let fee_recipient = vault.feeRecipient().call().await.unwrap();
    assert_eq!(vault.claimable(env.chain.token, fee_recipient).call().await.unwrap(), U256::from(25_000u64));
    let history = env.get("/v1/balance/history", Some(&agent.api_key)).await;
    let entry = history.body["entries"].as_array().unwrap().iter().find(|e| e["id"] == debit_id.as_str()).cloned();
    let entry = entry.unwrap_or_else(|| panic!("debit {debit_id} in {}", history.body));
    assert_eq!((entry["product_id"].as_str(), entry["status"].as_str()), (Some(id.as_str()), Some("applied")));
    let purchases = env.get("/v1/purchases", Some(&agent.api_key)).await;
    assert_eq!(purchases.body["purchases"].as_array().unwrap().len(), 2, "{}", purchases.body);

    // Each sale is a balance debit record of the audit trail, anchored and checkable against the chain.
    let ledger = env.database.ledger();
    let mut records: Vec<Record> = Vec::new();
    for _ in 0..400 {
        env.chain.sequencer(&ledger).run_once().await.unwrap();
        let all = ledger.audit_records(env.chain.chain_id, 0, u64::MAX >> 2).await.unwrap();
        records = all.iter().map(Record::from).filter(|r| r.kind == RecordKind::BalanceDebit).collect();
        if records.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.payer == agent.key.address() && r.payee == provider_wallet));
    let policy = AnchorPolicy { every_records: 1, every: Duration::from_secs(60), max_records: 10_000 };
    env.chain.anchorer(&ledger, policy).run_once().await.unwrap().expect("anchored");
    let RecordStatus::Anchored(proof) = record_proof(&ledger, env.chain.chain_id, records[0].seq).await.unwrap() else {
        panic!("record {} is not anchored", records[0].seq);
    };
    verify_record(&env.chain.provider, &proof, &VerifyTarget::deployment(&env.chain.deployment, env.chain.token))
        .await
        .unwrap();
}

/// A purchase the vault refused leaves the product unowned. Retried without an `Idempotency-Key`, the request buys
/// again instead of answering the refused purchase for the rest of the derived key's window, and a retry of that
/// answers the new purchase: it buys at most once more.
#[tokio::test]
async fn a_refused_purchase_retried_without_a_key_buys_again_once() {
    let dir = tempfile::tempdir().unwrap();
    let products = dir.path().join("products");
    let mut env = Env::start_with("product_balance_refused", |c| c.product_dir = products).await;
    env.run_background().await;
    let provider =
        registered(&env, ParticipantKind::Provider, alloy::signers::local::PrivateKeySigner::random().address()).await;
    let fields = [("name", "Port codes"), ("description", "Every port code, as CSV."), ("price", "0.20")];
    let created = upload(&env, &provider, &fields, Some(("ports.csv", &csv(100)))).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let agent = agent(&env, 3 * DOLLAR).await;
    deposit(&env, &agent, "1.00").await;
    let token = credential(&env, &agent.api_key, json!({"name": "shopper"})).await;

    let first = buy(&env, &id, &token, None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let first_id = first.body["purchase_id"].as_str().unwrap().to_owned();
    wait_balance(&env, &agent.api_key, "pending_debits", "0.000000").await;
    // As if the vault had refused the debit (the agent's withdrawal unlocked before it was posted).
    sqlx::query(
        "UPDATE escrow_actions SET status = 'failed', failure_reason = 'unexpected_settle_error'
         WHERE id = (SELECT action_id FROM balance_debits WHERE id = $1::uuid)",
    )
    .bind(first.body["debit_id"].as_str().unwrap())
    .execute(&env.database.pool())
    .await
    .unwrap();
    assert_eq!(balance(&env, &agent.api_key).await["spent"], "0.000000", "the refused amount is back");

    let again = buy(&env, &id, &token, None).await;
    assert_eq!(again.status, StatusCode::CREATED, "bought again, not the refused purchase: {}", again.body);
    let second_id = again.body["purchase_id"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id);
    let retried = buy(&env, &id, &token, None).await;
    assert_eq!(
        (retried.status, retried.body["purchase_id"].as_str()),
        (StatusCode::OK, Some(second_id.as_str())),
        "{}",
        retried.body
    );
    assert_eq!(balance(&env, &agent.api_key).await["spent"], "0.210000", "one more purchase, not two");
}
