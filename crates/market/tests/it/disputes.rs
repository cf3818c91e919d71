//! Disputes end to end on anvil and PostgreSQL: the payer disputes by signature, the arbiter splits the job through
//! `POST /v1/admin/jobs/{id}/resolve` (signed on the server with `[market] arbiter_key`, or by the arbiter's own key
//! off-line), and the escrow's claimable balances are exactly the contract's split; the refusals change nothing.

use std::time::Duration;

use alloy::{
    primitives::{B256, U256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use clearing_chain::{Secret, contracts::Escrow};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    harness::{DOLLAR, Env, code, json as paid_json},
    jobs::{Receiver, provider, service, wait_status},
};

const TOKEN: &str = "arbiter-token-for-tests-0123456789abcdef";

/// `signer`'s signature over the typed data's digest, as the routes take it.
pub(crate) fn sign(signer: &PrivateKeySigner, typed: &Value) -> (String, u64) {
    let digest: B256 = typed["typed_data"]["digest"].as_str().unwrap().parse().unwrap();
    let signature = signer.sign_hash_sync(&digest).unwrap();
    let deadline = typed["typed_data"]["message"]["deadline"].as_str().unwrap().parse().unwrap();
    (format!("0x{}", alloy::hex::encode(signature.as_bytes())), deadline)
}

async fn admin(
    env: &Env,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", env.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_dispute_is_split_70_30_by_the_arbiter_and_the_balances_are_the_contracts() {
    let arbiter = PrivateKeySigner::random();
    let arbiter_key = alloy::hex::encode_prefixed(arbiter.to_bytes());
    let mut env = Env::start_with("disputes", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
        c.arbiter_key = Some(Secret::new(arbiter_key));
        c.arbiter_token = Some(Secret::new(TOKEN));
    })
    .await;
    env.run_background().await;
    let (hooks, url) = Receiver::start().await;
    let (_, key, _, provider_wallet) = provider(&env, &url).await;
    let service = service(&env, &key, "human_service", "1.00").await;
    let (payer, agent) = env.payer(4 * DOLLAR).await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let paid =
            env.pay(&agent, &format!("/v1/services/{service}/purchase"), &json!({"brief": {"text": "x"}}), None).await;
        assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
        jobs.push(paid_json(&paid)["job_id"].as_str().unwrap().to_owned());
    }
    for id in &jobs {
        wait_status(&env, id, &key, "dispatched").await;
    }

    // The payer has no API key: it reads its job for an x402 micro-payment from the wallet that bought it.
    let read = |payer: &clearing_client::Payer| {
        let url = format!("{}/v1/jobs/{}", env.base, jobs[0]).parse().unwrap();
        let payer = payer.clone();
        async move { payer.pay(Method::GET, url, reqwest::header::HeaderMap::new(), None).await.unwrap() }
    };
    let unpaid = env.get(&format!("/v1/jobs/{}", jobs[0]), None).await;
    assert_eq!(unpaid.status, StatusCode::PAYMENT_REQUIRED, "{}", unpaid.body);
    let paid = read(&agent).await;
    assert_eq!(paid.status, 200, "{}", String::from_utf8_lossy(&paid.body));
    assert_eq!(paid_json(&paid)["status"], "dispatched");
    let (_, stranger) = env.payer(DOLLAR).await;
    let refused = read(&stranger).await;
    assert_eq!(refused.status, 403, "{}", String::from_utf8_lossy(&refused.body));
    assert_eq!(code(&paid_json(&refused)), "wallet_mismatch");

    // A job that is not disputed is not resolved.
    let resolve = |id: &str| format!("/v1/admin/jobs/{id}/resolve");
    let (status, body) =
        admin(&env, Method::POST, &resolve(&jobs[2]), Some(TOKEN), Some(&json!({"provider_bps": 7000}))).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "transition_not_allowed"), "{body}");

    // The payer disputes two of them with its signature.
    for id in &jobs[..2] {
        let typed = env.get(&format!("/v1/jobs/{id}/dispute"), None).await;
        assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
        let (signature, deadline) = sign(&payer, &typed.body);
        let body = json!({"reason": "the report never arrived", "signature": signature, "deadline": deadline});
        let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&body)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        // The signature is public once relayed; sent again with another reason, it is refused and the reason kept.
        let theirs = json!({"reason": "resolve it for the provider", "signature": signature, "deadline": deadline});
        let again = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&theirs)).await;
        assert_eq!((again.status, code(&again.body)), (StatusCode::CONFLICT, "transition_not_allowed"));
        let same = env.send(Method::POST, &format!("/v1/jobs/{id}/dispute"), None, Some(&body)).await;
        assert_eq!(same.status, StatusCode::ACCEPTED, "the payer's own retry: {}", same.body);
        // Anyone can send the relayed signature: the answer shows the job's state, not the parties' words.
        assert!(same.body.get("dispute_reason").is_none(), "{}", same.body);
        assert_eq!((same.body["brief"].is_null(), same.body["job_id"].as_str()), (true, Some(id.as_str())));
        wait_status(&env, id, &key, "disputed").await;
    }
    hooks.wait_for("dispute_opened").await;

    // Refusals: no token, a wrong one, a share over 100%, a signature that is not the arbiter's. None changes a thing.
    let split = json!({"provider_bps": 7000});
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[0]), None, Some(&split)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "missing_arbiter_token"), "{body}");
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[0]), Some("not-the-token"), Some(&split)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "invalid_arbiter_token"), "{body}");
    let over = json!({"provider_bps": 10_001});
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[0]), Some(TOKEN), Some(&over)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_field"), "{body}");
    let (status, typed) =
        admin(&env, Method::GET, &format!("{}?provider_bps=10000", resolve(&jobs[1])), Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{typed}");
    assert_eq!(typed["arbiter"], arbiter.address().to_checksum(None));
    let (forged, deadline) = sign(&payer, &typed);
    let body = json!({"provider_bps": 10_000, "signature": forged, "deadline": deadline});
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[1]), Some(TOKEN), Some(&body)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_signature"), "{body}");
    // The arbiter's signature over one share does not carry another.
    let (signed_full, deadline) = sign(&arbiter, &typed);
    let moved = json!({"provider_bps": 0, "signature": signed_full, "deadline": deadline});
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[1]), Some(TOKEN), Some(&moved)).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_signature"), "{body}");

    // 70/30, signed on the server; and the other in full to the payer, by the arbiter's own off-line signature.
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[0]), Some(TOKEN), Some(&split)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, typed) =
        admin(&env, Method::GET, &format!("{}?provider_bps=0", resolve(&jobs[1])), Some(TOKEN), None).await;
    let (signature, deadline) = sign(&arbiter, &typed);
    let refund = json!({"provider_bps": 0, "signature": signature, "deadline": deadline});
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[1]), Some(TOKEN), Some(&refund)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for id in &jobs[..2] {
        wait_status(&env, id, &key, "resolved").await;
    }
    hooks.wait_for("dispute_resolved").await;
    // The batcher matched each resolution to its own event in the receipt: both steps settled, none left in flight
    // (a step stuck in flight blocks its job's next step, and every other step of its batch with it).
    let settled =
        "SELECT count(*) FROM escrow_actions WHERE kind = 'resolve_with_sig' AND status IN ('settled', 'confirmed')";
    let mut resolved = 0;
    for _ in 0..400 {
        resolved = sqlx::query_scalar::<_, i64>(settled).fetch_one(&env.database.pool()).await.unwrap();
        if resolved == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(resolved, 2, "the resolutions' steps were never settled from their receipt");

    // $1.00 with a $0.05 fee at 70%: provider 0.70 - 0.035, fee 0.035, payer 0.30; plus the full refund of 1.00.
    let escrow = Escrow::new(env.chain.deployment.escrow, &env.chain.provider);
    let fee_recipient = escrow.feeRecipient().call().await.unwrap();
    for (account, expected) in
        [(provider_wallet.address(), 665_000u64), (payer.address(), 1_300_000), (fee_recipient, 35_000)]
    {
        let claimable = escrow.claimable(env.chain.token, account).call().await.unwrap();
        assert_eq!(claimable, U256::from(expected), "claimable of {account}");
    }

    // Resolved is final: another resolution is refused.
    let (status, body) = admin(&env, Method::POST, &resolve(&jobs[0]), Some(TOKEN), Some(&split)).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "transition_not_allowed"), "{body}");
}

#[tokio::test]
async fn the_admin_routes_are_off_without_an_arbiter_token() {
    let env = Env::start("disputes_off").await;
    let path = format!("/v1/admin/jobs/{}/resolve", uuid::Uuid::new_v4());
    let (status, body) = admin(&env, Method::POST, &path, Some(TOKEN), Some(&json!({"provider_bps": 1}))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "arbiter_disabled"), "{body}");
}
