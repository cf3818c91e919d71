//! A forged `/settle` racing a genuine one for the same (payer, nonce) never takes the genuine payment's outcome.
//!
//! Each trial signs a genuine payment and two forgeries on its key: (a) the same terms with a broken signature;
//! (b) the forger's own payTo and value 1, carrying the genuine signature (valid for other terms, so for these
//! none). They race the genuine settle three ways: sent once the genuine payment is queued (it waits for its batch,
//! so the forgeries arrive while it is in flight), sent together with it, and sent after it settled. The genuine
//! caller must always be told `success`; a forgery must be refused for its own reason (the signature), with no
//! transaction, and never told `success`; the chain must show each genuine payment moved once and nothing reached
//! the forger.

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use axum::{body::Body, extract::ConnectInfo, http::Request};
use clearing_chain::contracts::MockUSDC;
use clearing_testkit::{SignedPayment, TestDatabase};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::harness::{Harness, PAYEE, USDC, json_of, pay};

/// Trials per round, raced concurrently.
const PER_ROUND: usize = 10;
/// Rounds of each kind of race.
const ROUNDS: usize = 3;
/// Minted to each payer, atomic units.
const PAYER_BALANCE: u64 = 1_000_000;

/// When the forgeries are sent, relative to the genuine settle.
#[derive(Debug, Clone, Copy)]
enum Race {
    /// As soon as the genuine payment is queued (it is then waiting for its batch).
    WhileQueued,
    /// At the same moment as the genuine settle.
    Together,
    /// After the genuine settle was answered.
    AfterSettled,
}

#[tokio::test]
async fn a_forged_settle_never_takes_a_genuine_payments_success() {
    let database = TestDatabase::create("a_forged_settle_never_takes_a_genuine_pa").await;
    let pool = database.pool();
    let harness = Harness::with_settlement(pool).await;
    let ledger = harness.ledger.clone().unwrap();
    let payers: Vec<PrivateKeySigner> = (0..3).map(|_| PrivateKeySigner::random()).collect();
    for payer in &payers {
        harness.mint(payer.address(), PAYER_BALANCE).await;
    }
    let forger = Address::repeat_byte(0xf0);

    let mut genuine_total = 0;
    let mut spent = vec![0; payers.len()];
    let mut trial = 0;
    for race in [Race::WhileQueued, Race::Together, Race::AfterSettled] {
        for _ in 0..ROUNDS {
            let payments: Vec<SignedPayment> = (0..PER_ROUND)
                .map(|_| {
                    trial += 1;
                    let (payer, value) = (trial % payers.len(), 1_000 + trial as u64);
                    spent[payer] += value;
                    genuine_total += value;
                    pay(&payers[payer], value)
                })
                .collect();
            let genuine: Vec<Value> = payments.iter().map(SignedPayment::body).collect();
            let forged: Vec<[Value; 2]> =
                genuine.iter().map(|body| [broken_signature(body), own_terms(body, forger)]).collect();

            let mut queued = ledger.listen_queued();
            let genuine_calls: Vec<_> = genuine.iter().map(|body| spawn_settle(&harness, body)).collect();
            let forged_calls = match race {
                Race::Together => forged.iter().flatten().map(|body| spawn_settle(&harness, body)).collect(),
                Race::WhileQueued => {
                    for _ in 0..PER_ROUND {
                        queued.recv().await.expect("the ledger announces each queued payment");
                    }
                    forged.iter().flatten().map(|body| spawn_settle(&harness, body)).collect()
                }
                Race::AfterSettled => Vec::new(),
            };
            let mut genuine_answers = Vec::new();
            for call in genuine_calls {
                genuine_answers.push(call.await.unwrap());
            }
            let mut forged_answers = Vec::new();
            for call in forged_calls {
                forged_answers.push(call.await.unwrap());
            }
            if let Race::AfterSettled = race {
                for body in forged.iter().flatten() {
                    forged_answers.push(spawn_settle(&harness, body).await.unwrap());
                }
            }

            for (answer, payment) in genuine_answers.iter().zip(&payments) {
                assert_eq!(answer["success"], true, "{race:?}: the genuine caller lost its outcome: {answer}");
                assert_eq!(answer["payer"], payment.payer().to_checksum(None), "{answer}");
                assert_eq!(answer["amount"], payment.offer.amount.to_string(), "{answer}");
            }
            for answer in &forged_answers {
                assert_eq!(answer["success"], false, "{race:?}: a forgery was told success: {answer}");
                assert_eq!(
                    answer["errorReason"], "invalid_exact_evm_signature",
                    "{race:?}: a forgery is refused for its own reason: {answer}"
                );
                assert!(
                    answer.get("transaction").is_none_or(|tx| tx == ""),
                    "{race:?}: a forgery is told no transaction: {answer}"
                );
            }
        }
    }

    // The genuine payments moved once each; nothing reached the forger.
    let usdc = MockUSDC::new(USDC, &harness.chain.provider);
    assert_eq!(usdc.balanceOf(PAYEE).call().await.unwrap(), U256::from(genuine_total));
    assert_eq!(usdc.balanceOf(forger).call().await.unwrap(), U256::ZERO);
    for (payer, spent) in payers.iter().zip(spent) {
        assert_eq!(usdc.balanceOf(payer.address()).call().await.unwrap(), U256::from(PAYER_BALANCE - spent));
    }
    // A genuine repeat still gets the outcome: its payment settled, in the transaction it was told.
    let repeat = pay(&payers[0], 7);
    let first = spawn_settle(&harness, &repeat.body()).await.unwrap();
    let again = spawn_settle(&harness, &repeat.body()).await.unwrap();
    assert_eq!(first["success"], true, "{first}");
    assert_eq!(again["errorReason"], "invalid_exact_evm_nonce_already_used", "{again}");
    assert_eq!(again["transaction"], first["transaction"], "{again}");
}

/// The genuine request with one byte of the signature's `s` flipped: the same terms, signed by nobody.
fn broken_signature(genuine: &Value) -> Value {
    let mut body = genuine.clone();
    let signature = body["paymentPayload"]["payload"]["signature"].as_str().unwrap().to_owned();
    let mut bytes = alloy::hex::decode(&signature).unwrap();
    bytes[40] ^= 0x01;
    body["paymentPayload"]["payload"]["signature"] = json!(format!("0x{}", alloy::hex::encode(bytes)));
    body
}

/// The genuine request redirected to `forger` for value 1, carrying the genuine signature (valid for the genuine
/// terms only), with requirements to match.
fn own_terms(genuine: &Value, forger: Address) -> Value {
    let mut body = genuine.clone();
    let forger = forger.to_checksum(None);
    for requirements in ["/paymentRequirements", "/paymentPayload/accepted"] {
        let requirements = body.pointer_mut(requirements).unwrap();
        requirements["payTo"] = json!(forger);
        requirements["amount"] = json!("1");
    }
    let authorization = &mut body["paymentPayload"]["payload"]["authorization"];
    authorization["to"] = json!(forger);
    authorization["value"] = json!("1");
    body
}

/// POSTs `body` to `/settle` on its own task; the task's output is the JSON answer (HTTP 200 asserted).
fn spawn_settle(harness: &Harness, body: &Value) -> tokio::task::JoinHandle<Value> {
    let (router, body) = (harness.router.clone(), body.to_string());
    tokio::spawn(async move {
        let mut request =
            Request::post("/settle").header("content-type", "application/json").body(Body::from(body)).unwrap();
        request.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        json_of(response).await
    })
}
