//! The payer's signed release and dispute need no key, so the signature is checked before anything is queued or
//! recorded: junk bytes claiming to be a wallet's, an oversized signature, and a payer with code whose ERC-1271
//! answer decides (EIP-7702 / smart wallets, here anvil code set on the payer's address).

use alloy::{
    primitives::{Address, Bytes, bytes},
    providers::ext::AnvilApi,
};
use clearing_ledger::{EscrowAction, StepKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    disputes::sign,
    harness::{DOLLAR, Env, code, json as paid_json},
    jobs::{Receiver, provider, service, wait_status},
};

/// Runtime code answering every call with the ERC-1271 magic value `0x1626ba7e`: a wallet that accepts anything.
const ACCEPTS_ALL: Bytes = bytes!("631626ba7e60e01b60005260206000f3");
/// Runtime code answering every call with `0xffffffff`: a wallet that refuses everything.
const REFUSES_ALL: Bytes = bytes!("63ffffffff60e01b60005260206000f3");

/// A market running its background, a human_service job bought by a fresh payer and dispatched: the environment,
/// the provider's key, the payer's key and the job id.
async fn dispatched_job(name: &str) -> (Env, String, alloy::signers::local::PrivateKeySigner, String) {
    let mut env = Env::start_with(name, |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (_, url) = Receiver::start().await;
    let (_, key, _, _) = provider(&env, &url).await;
    let service = service(&env, &key, "human_service", "0.50").await;
    let (payer, agent) = env.payer(DOLLAR).await;
    let paid =
        env.pay(&agent, &format!("/v1/services/{service}/purchase"), &json!({"brief": {"text": "x"}}), None).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let id = paid_json(&paid)["job_id"].as_str().unwrap().to_owned();
    wait_status(&env, &id, &key, "dispatched").await;
    (env, key, payer, id)
}

/// The job's signed steps in the ledger (any status).
async fn signed_steps(env: &Env, id: &str) -> Vec<EscrowAction> {
    let job = env.market.ledger().job(id.parse().unwrap()).await.unwrap().unwrap();
    let (job_id, _) = job.new.escrow_job.as_ref().unwrap();
    let actions = env.market.ledger().job_actions(job.new.chain_id, job.new.escrow, *job_id).await.unwrap();
    actions
        .into_iter()
        .filter(|a| {
            matches!(&a.action.action, clearing_ledger::Action::Step { kind, .. }
                if matches!(kind, StepKind::ReleaseWithSig | StepKind::DisputeWithSig))
        })
        .collect()
}

async fn dispute_reason(env: &Env, id: &str) -> Option<String> {
    env.market.ledger().job(id.parse().unwrap()).await.unwrap().unwrap().dispute_reason
}

/// The payer's own dispute of `id`, signed over the typed data the route hands out.
async fn genuine_dispute(env: &Env, payer: &alloy::signers::local::PrivateKeySigner, id: &str, reason: &str) -> Value {
    let typed = env.get(&format!("/v1/jobs/{id}/dispute"), None).await;
    assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
    let (signature, deadline) = sign(payer, &typed.body);
    json!({"reason": reason, "signature": signature, "deadline": deadline})
}

fn junk(length: usize) -> String {
    format!("0x{}", "ab".repeat(length))
}

#[tokio::test]
async fn junk_bytes_cannot_open_a_dispute_and_the_payers_own_dispute_still_goes_through() {
    let (env, key, payer, id) = dispatched_job("sig_junk").await;
    let deadline = clearing_testkit::now() + 600;

    // The provider (who knows the id from its webhook) posts 66 junk bytes as "a wallet's signature" with its reason.
    let forged = json!({"reason": "the provider's own version of events", "signature": junk(66), "deadline": deadline});
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&forged)).await;
    assert_eq!(
        (refused.status, code(&refused.body)),
        (StatusCode::BAD_REQUEST, "invalid_signature"),
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["field"], "signature");
    assert_eq!(dispute_reason(&env, &id).await, None, "the forger's reason is not recorded");
    assert!(signed_steps(&env, &id).await.is_empty(), "nothing is queued");

    // The payer's genuine dispute is queued, reaches the chain, and its reason is the one kept.
    let body = genuine_dispute(&env, &payer, &id, "the report never arrived").await;
    let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&body)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // Another signature while that dispute is live (or applied) is a 409, and changes no reason.
    let later = clearing_testkit::now() + 1_200;
    let typed = env.get(&format!("/v1/jobs/{id}/dispute?deadline={later}"), None).await;
    let (signature, deadline) = sign(&payer, &typed.body);
    let again = json!({"reason": "a second, different reason", "signature": signature, "deadline": deadline});
    let conflict = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&again)).await;
    assert_eq!((conflict.status, code(&conflict.body)), (StatusCode::CONFLICT, "transition_not_allowed"));
    wait_status(&env, &id, &key, "disputed").await;
    assert_eq!(dispute_reason(&env, &id).await.as_deref(), Some("the report never arrived"));
    assert_eq!(signed_steps(&env, &id).await.len(), 1, "one dispute step");
}

#[tokio::test]
async fn once_every_dispute_sent_has_failed_a_new_signed_dispute_brings_its_own_reason() {
    let (env, key, payer, id) = dispatched_job("sig_redispute").await;
    // The chain's clock runs 15 minutes ahead of ours: a dispute valid for 10 minutes by our clock is refused on
    // chain as expired (the escrow checks `block.timestamp`).
    env.chain.provider.anvil_increase_time(900).await.unwrap();
    env.chain.provider.anvil_mine(Some(1), None).await.unwrap();
    let soon = clearing_testkit::now() + 600;
    let typed = env.get(&format!("/v1/jobs/{id}/dispute?deadline={soon}"), None).await;
    assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
    let (signature, deadline) = sign(&payer, &typed.body);
    let first = json!({"reason": "the first reason, sent too late", "signature": signature, "deadline": deadline});
    let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&first)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let failed = loop {
        let steps = signed_steps(&env, &id).await;
        if steps.iter().any(|step| step.status.is_final()) {
            break steps;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, clearing_ledger::SettlementStatus::Failed, "{:?}", failed[0]);
    assert_eq!(dispute_reason(&env, &id).await.as_deref(), Some("the first reason, sent too late"));

    // Every dispute sent has failed: the payer's new one, valid by the chain's clock too, brings its own reason.
    let later = clearing_testkit::now() + 3_600;
    let typed = env.get(&format!("/v1/jobs/{id}/dispute?deadline={later}"), None).await;
    let (signature, deadline) = sign(&payer, &typed.body);
    let second = json!({"reason": "the second reason, in time", "signature": signature, "deadline": deadline});
    let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&second)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(dispute_reason(&env, &id).await.as_deref(), Some("the second reason, in time"));
    wait_status(&env, &id, &key, "disputed").await;
    // While that one is live or applied, a third reason is refused and the second stays.
    let third = json!({"reason": "a third reason", "signature": signature, "deadline": deadline});
    let conflict = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&third)).await;
    assert_eq!((conflict.status, code(&conflict.body)), (StatusCode::CONFLICT, "transition_not_allowed"));
    assert_eq!(dispute_reason(&env, &id).await.as_deref(), Some("the second reason, in time"));
}

#[tokio::test]
async fn an_oversized_signature_is_refused_and_nothing_is_queued() {
    let (env, key, _, id) = dispatched_job("sig_oversized").await;
    let deadline = clearing_testkit::now() + 600;
    let huge = junk(20_000);
    let dispute = json!({"reason": "a reason long enough", "signature": huge, "deadline": deadline});
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&dispute)).await;
    assert_eq!(
        (refused.status, code(&refused.body)),
        (StatusCode::BAD_REQUEST, "invalid_signature"),
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["field"], "signature");
    let release = json!({"signature": huge, "deadline": deadline});
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/verify"), None, Some(&release)).await;
    assert_eq!(
        (refused.status, code(&refused.body)),
        (StatusCode::BAD_REQUEST, "invalid_signature"),
        "{}",
        refused.body
    );
    assert!(signed_steps(&env, &id).await.is_empty(), "nothing is queued");
    assert_eq!(dispute_reason(&env, &id).await, None);
    assert_eq!(crate::jobs::job_status(&env, &id, &key).await["status"], "dispatched", "nothing changed");
}

#[tokio::test]
async fn a_payer_with_code_disputes_by_its_wallets_erc1271_answer() {
    let (env, key, payer, id) = dispatched_job("sig_wallet").await;
    let set_code = |code: Bytes| {
        let (provider, address): (_, Address) = (env.chain.provider.clone(), payer.address());
        async move {
            provider.anvil_set_code(address, code).await.unwrap();
        }
    };
    let deadline = clearing_testkit::now() + 600;
    let wallet_signature = json!({"reason": "the wallet says so", "signature": junk(100), "deadline": deadline});

    // The payer's address has code (EIP-7702-style) that refuses: neither the wallet bytes nor even the payer's own
    // ECDSA signature counts, as the escrow and the x402 verifier judge it.
    set_code(REFUSES_ALL).await;
    env.chain.mine(1).await;
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&wallet_signature)).await;
    assert_eq!(
        (refused.status, code(&refused.body)),
        (StatusCode::BAD_REQUEST, "invalid_signature"),
        "{}",
        refused.body
    );
    let ecdsa = genuine_dispute(&env, &payer, &id, "the payer's key, but the wallet decides").await;
    let refused = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&ecdsa)).await;
    assert_eq!(
        (refused.status, code(&refused.body)),
        (StatusCode::BAD_REQUEST, "invalid_signature"),
        "{}",
        refused.body
    );
    assert!(signed_steps(&env, &id).await.is_empty(), "nothing is queued");

    // Code that answers the ERC-1271 magic value: the wallet's bytes are queued, and the escrow agrees on chain.
    set_code(ACCEPTS_ALL).await;
    env.chain.mine(1).await;
    let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&wallet_signature)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    // A retry of the very same request is answered as the first (while the step is live; after, the job is disputed).
    let repeat = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&wallet_signature)).await;
    assert!(
        repeat.status == StatusCode::ACCEPTED || code(&repeat.body) == "transition_not_allowed",
        "{} {}",
        repeat.status,
        repeat.body
    );
    wait_status(&env, &id, &key, "disputed").await;
    assert_eq!(dispute_reason(&env, &id).await.as_deref(), Some("the wallet says so"));
    assert_eq!(signed_steps(&env, &id).await.len(), 1, "one dispute step");
}
