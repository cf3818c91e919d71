//! `POST /v1/register` and `POST /v1/participants/rotate-key`, paid by `clearing-client` through the facilitator on
//! anvil: the payer becomes the participant, credentials are shown once and stored hashed, a wallet registers once,
//! a rotation kills the old key at once and only the registering wallet may pay for it.

use alloy::primitives::U256;
use clearing_client::{PaymentRequired, Policy, sign_payment};
use clearing_testkit::TOKEN_NAME;
use clearing_x402::{PAYMENT_REQUIRED, PaymentRequiredV2, SettleResponse, decode_header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{DOLLAR, Env, FEE_RECIPIENT, code, json};

const REGISTER_PRICE: u64 = 10_000;
const ROTATE_PRICE: u64 = 2_000;

fn provider_body() -> Value {
    json!({
        "type": "provider",
        "name": "Acme SEO",
        "description": "Audits, fast.",
        "webhook_url": "https://hooks.acme.example/clearing",
        "capabilities": ["seo", "audit"]
    })
}

#[tokio::test]
async fn a_wallet_registers_by_paying_and_gets_its_key_once() {
    let env = Env::start("register_pays_once").await;
    let (key, payer) = env.payer(DOLLAR).await;

    let paid = env.register(&payer, provider_body()).await;

    assert_eq!(paid.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&paid.body));
    let body = json(&paid);
    let payment = paid.payment.as_ref().expect("the route asked for payment");
    let settlement = payment.settlement.as_ref().expect("PAYMENT-RESPONSE");
    assert!(settlement.success, "{settlement:?}");
    assert_eq!(settlement.payer, Some(key.address()));
    assert!(settlement.transaction.is_some());
    assert_eq!(payment.offer.pay_to, FEE_RECIPIENT);
    assert_eq!(payment.offer.amount, U256::from(REGISTER_PRICE));
    // The payer is the participant's wallet; the body named none.
    assert_eq!(body["wallet"], key.address().to_checksum(None));
    assert_eq!(
        (body["type"].as_str(), body["name"].as_str(), body["created"].as_bool()),
        (Some("provider"), Some("Acme SEO"), Some(true))
    );
    assert_eq!(body["capabilities"], json!(["seo", "audit"]));
    let api_key = body["api_key"].as_str().unwrap();
    let secret = body["webhook_secret"].as_str().unwrap();
    assert!(api_key.starts_with("clr_") && api_key.len() == 47, "{api_key}");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(body["api_key_prefix"], &api_key[..12]);
    // The money moved once, to the fee recipient.
    assert_eq!(env.chain.balance(FEE_RECIPIENT).await, U256::from(REGISTER_PRICE));
    assert_eq!(env.chain.balance(key.address()).await, U256::from(DOLLAR - REGISTER_PRICE));

    // Stored: the key's SHA-256, never the key; the payment's nonce.
    let row: (Vec<u8>, Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT api_key_hash, wallet, registration_nonce, webhook_secret FROM market_participants WHERE id = $1::uuid",
    )
    .bind(body["participant_id"].as_str().unwrap())
    .fetch_one(&env.database.pool())
    .await
    .unwrap();
    assert_eq!(row.0, Sha256::digest(api_key.as_bytes()).to_vec());
    assert_eq!(row.1, key.address().to_vec());
    assert_eq!(row.2, payment.authorization.nonce.to_vec());
    assert_eq!(row.3, secret);
    let dump: String = sqlx::query_scalar("SELECT row_to_json(p)::text FROM market_participants p")
        .fetch_one(&env.database.pool())
        .await
        .unwrap();
    assert!(!dump.contains(&api_key[12..]), "the key is stored nowhere: {dump}");

    // The key authenticates: its owner sees the private fields, anyone else the public profile.
    let id = body["participant_id"].as_str().unwrap();
    let mine = env.get(&format!("/v1/participants/{id}"), Some(api_key)).await;
    assert_eq!(mine.status, 200, "{:?}", mine.body);
    assert_eq!(mine.body["webhook_url"], "https://hooks.acme.example/clearing");
    assert_eq!(mine.body["api_key_prefix"], &api_key[..12]);
    let public = env.get(&format!("/v1/participants/{id}"), None).await;
    assert_eq!(public.status, 200);
    assert!(public.body.get("webhook_url").is_none() && public.body.get("api_key_prefix").is_none(), "{}", public.body);
    assert_eq!(public.body["name"], "Acme SEO");

    // A leaked signing secret is replaced with the key, free: the profile and the endpoint sign with the new one.
    let path = "/v1/participants/rotate-webhook-secret";
    assert_eq!(env.send(Method::POST, path, None, None).await.status, StatusCode::UNAUTHORIZED);
    let rotated = env.send(Method::POST, path, Some(api_key), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let fresh = rotated.body["webhook_secret"].as_str().unwrap();
    assert!(fresh.starts_with("whsec_") && fresh != secret, "{fresh}");
    let stored: (String, String) = sqlx::query_as(
        "SELECT p.webhook_secret, w.secret FROM market_participants p
         JOIN webhook_endpoints w ON w.participant_id = p.id WHERE p.id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&env.database.pool())
    .await
    .unwrap();
    assert_eq!((stored.0.as_str(), stored.1.as_str()), (fresh, fresh));
}

#[tokio::test]
async fn registering_again_answers_the_participant_and_charges_nothing() {
    let env = Env::start("register_again").await;
    let (key, payer) = env.payer(DOLLAR).await;
    let first = json(&env.register(&payer, provider_body()).await);
    let api_key = first["api_key"].as_str().unwrap().to_owned();

    let again = env.register(&payer, json!({"type": "agent", "name": "Someone else"})).await;

    assert_eq!(again.status, StatusCode::OK);
    let body = json(&again);
    assert_eq!(body["participant_id"], first["participant_id"]);
    assert_eq!(body["created"], false);
    assert_eq!((body["type"].as_str(), body["name"].as_str()), (Some("provider"), Some("Acme SEO")), "untouched");
    assert!(body.get("api_key").is_none() && body.get("webhook_secret").is_none(), "{body}");
    assert!(body["message"].as_str().unwrap().contains("rotate-key"), "{body}");
    assert!(again.payment.as_ref().unwrap().settlement.is_none(), "nothing was settled");
    assert_eq!(env.chain.balance(key.address()).await, U256::from(DOLLAR - REGISTER_PRICE), "charged once");
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM market_participants").fetch_one(&env.database.pool()).await.unwrap();
    assert_eq!(count, 1);
    let id = first["participant_id"].as_str().unwrap();
    assert_eq!(env.get(&format!("/v1/participants/{id}"), Some(&api_key)).await.status, 200, "the key still works");
}

#[tokio::test]
async fn unpaid_the_route_answers_x402s_402_in_both_versions() {
    let env = Env::start("register_unpaid").await;

    let answer = env.send(Method::POST, "/v1/register", None, Some(&provider_body())).await;

    assert_eq!(answer.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.body["x402Version"], 1);
    assert!(answer.body["error"].as_str().unwrap().contains("PAYMENT-SIGNATURE"), "{}", answer.body);
    // Chain 31337 has no x402 v1 name, so only v2 is offered.
    assert_eq!(answer.body["accepts"], json!([]));
    let v2: PaymentRequiredV2 = decode_header(answer.headers[PAYMENT_REQUIRED].as_bytes()).unwrap();
    let offer = &v2.accepts[0];
    assert_eq!((offer.scheme.as_str(), offer.network.as_str()), ("exact", "eip155:31337"));
    assert_eq!(offer.amount, REGISTER_PRICE.to_string());
    assert_eq!(offer.pay_to, FEE_RECIPIENT.to_checksum(None));
    assert_eq!(offer.asset, env.chain.token.to_checksum(None));
    assert_eq!(offer.extra, Some(json!({"name": TOKEN_NAME, "version": "2"})));
    assert!(v2.resource.url.ends_with("/v1/register"), "{}", v2.resource.url);

    // A payment header that is no payment is named in the 402.
    let garbled = reqwest::Client::new()
        .post(format!("{}/v1/register", env.base))
        .header("Content-Type", "application/json")
        .header("PAYMENT-SIGNATURE", "not base64!")
        .body(provider_body().to_string())
        .send()
        .await
        .unwrap();
    let garbled = crate::harness::answer(garbled).await;
    assert_eq!(garbled.status, StatusCode::PAYMENT_REQUIRED);
    assert!(garbled.body["error"].as_str().unwrap().contains("invalid PAYMENT-SIGNATURE header"), "{}", garbled.body);
}

#[tokio::test]
async fn a_bad_body_is_refused_before_any_payment_is_asked() {
    let env = Env::start("register_bad_body").await;
    let (key, payer) = env.payer(DOLLAR).await;
    for (body, status, want_code, field) in [
        (json!({"name": "x"}), 400, "missing_field", Some("type")),
        (json!({"type": "robot", "name": "x"}), 400, "invalid_field", Some("type")),
        (json!({"type": "agent", "name": ""}), 400, "invalid_field", Some("name")),
        (json!({"type": "agent", "name": "n".repeat(101)}), 400, "invalid_field", Some("name")),
        (
            json!({"type": "agent", "name": "x", "description": "d".repeat(5001)}),
            400,
            "invalid_field",
            Some("description"),
        ),
        (json!({"type": "agent", "name": "x", "wallet": "0x00"}), 400, "unknown_field", Some("wallet")),
        (
            json!({"type": "agent", "name": "x", "webhook_url": "ftp://x.example"}),
            400,
            "invalid_field",
            Some("webhook_url"),
        ),
        (
            json!({"type": "agent", "name": "x", "webhook_url": "http://127.0.0.1:9/h"}),
            400,
            "private_webhook_url",
            Some("webhook_url"),
        ),
        (
            json!({"type": "agent", "name": "x", "webhook_url": "http://169.254.169.254/"}),
            400,
            "private_webhook_url",
            Some("webhook_url"),
        ),
        (json!({"type": "agent", "name": "x", "capabilities": [""]}), 400, "invalid_field", Some("capabilities[0]")),
        (json!({"type": "agent", "name": "x", "capabilities": "seo"}), 400, "invalid_field", Some("capabilities")),
    ] {
        let paid = env.register(&payer, body.clone()).await;
        assert_eq!(paid.status.as_u16(), status, "{body}: {}", String::from_utf8_lossy(&paid.body));
        assert!(paid.payment.is_none(), "{body}: no payment was asked");
        let answer = json(&paid);
        assert_eq!(code(&answer), want_code, "{body}: {answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{body}: {answer}");
    }
    assert_eq!(env.chain.balance(key.address()).await, U256::from(DOLLAR), "nothing was charged");

    // Not JSON at all, or not sent as JSON.
    let text =
        reqwest::Client::new().post(format!("{}/v1/register", env.base)).body("type=agent").send().await.unwrap();
    assert_eq!(text.status(), 415);
    let broken = env.send(Method::POST, "/v1/register", None, None).await;
    assert_eq!((broken.status.as_u16(), code(&broken.body)), (400, "missing_field"), "an empty body is {{}}");
}

#[tokio::test]
async fn dev_may_take_webhooks_on_this_machine() {
    let env = Env::start_with("register_private_webhooks", |c| c.allow_private_webhooks = true).await;
    let (_, payer) = env.payer(DOLLAR).await;
    let paid = env
        .register(&payer, json!({"type": "provider", "name": "Local", "webhook_url": "http://127.0.0.1:9000/hook"}))
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&paid.body));
}

#[tokio::test]
async fn a_rotation_kills_the_old_key_at_once_and_only_the_wallet_may_pay_for_it() {
    let env = Env::start("rotate_key").await;
    let (owner_key, owner) = env.payer(DOLLAR).await;
    let registered = json(&env.register(&owner, provider_body()).await);
    let id = registered["participant_id"].as_str().unwrap().to_owned();
    let old_key = registered["api_key"].as_str().unwrap().to_owned();
    let (stranger_key, stranger) = env.payer(DOLLAR).await;

    // Another wallet, naming the participant or presenting its key: 403, nothing settled.
    let by_id = env.pay(&stranger, "/v1/participants/rotate-key", &json!({"participant_id": id}), None).await;
    assert_eq!(by_id.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&json(&by_id)), "wallet_mismatch");
    let by_key = env.pay(&stranger, "/v1/participants/rotate-key", &json!({}), Some(&old_key)).await;
    assert_eq!((by_key.status, code(&json(&by_key))), (StatusCode::FORBIDDEN, "wallet_mismatch"));
    // A wallet with no participant of its own.
    let unregistered = env.pay(&stranger, "/v1/participants/rotate-key", &json!({}), None).await;
    assert_eq!((unregistered.status, code(&json(&unregistered))), (StatusCode::FORBIDDEN, "not_registered"));
    assert_eq!(env.chain.balance(stranger_key.address()).await, U256::from(DOLLAR), "refusals cost nothing");

    let rotated = env.pay(&owner, "/v1/participants/rotate-key", &json!({}), None).await;

    assert_eq!(rotated.status, StatusCode::OK, "{}", String::from_utf8_lossy(&rotated.body));
    let settlement: &SettleResponse = rotated.payment.as_ref().unwrap().settlement.as_ref().unwrap();
    assert!(settlement.success);
    let body = json(&rotated);
    let new_key = body["api_key"].as_str().unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(body["participant_id"], id.as_str());
    assert!(body["key_rotated_at"].is_string());
    let path = format!("/v1/participants/{id}");
    let old = env.get(&path, Some(&old_key)).await;
    assert_eq!((old.status, code(&old.body)), (StatusCode::UNAUTHORIZED, "invalid_api_key"), "the old key is dead");
    let put = env.send(Method::PUT, &path, Some(&old_key), Some(&json!({"name": "x"}))).await;
    assert_eq!(put.status, StatusCode::UNAUTHORIZED);
    let new = env.get(&path, Some(new_key)).await;
    assert_eq!(new.status, 200);
    assert_eq!(new.body["api_key_prefix"], &new_key[..12]);
    assert_eq!(
        env.chain.balance(owner_key.address()).await,
        U256::from(DOLLAR - REGISTER_PRICE - ROTATE_PRICE),
        "registration and one rotation"
    );
    assert_eq!(env.chain.balance(FEE_RECIPIENT).await, U256::from(REGISTER_PRICE + ROTATE_PRICE));
}

#[tokio::test]
async fn a_profile_changes_only_by_its_owners_key() {
    let env = Env::start("profile_update").await;
    let (me, key) = env.participant(clearing_ledger::market::ParticipantKind::Provider, "Mine").await;
    let (_, other_key) = env.participant(clearing_ledger::market::ParticipantKind::Agent, "Other").await;
    let path = format!("/v1/participants/{}", me.id);

    let theirs = env.send(Method::PUT, &path, Some(&other_key), Some(&json!({"name": "Hijacked"}))).await;
    assert_eq!((theirs.status, code(&theirs.body)), (StatusCode::FORBIDDEN, "not_your_profile"));
    let none = env.send(Method::PUT, &path, None, Some(&json!({"name": "x"}))).await;
    assert_eq!((none.status, code(&none.body)), (StatusCode::UNAUTHORIZED, "missing_api_key"));
    let forged = env.send(Method::PUT, &path, Some("clr_notakey"), Some(&json!({"name": "x"}))).await;
    assert_eq!((forged.status, code(&forged.body)), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
    let kind = env.send(Method::PUT, &path, Some(&key), Some(&json!({"type": "agent"}))).await;
    assert_eq!(
        (kind.status, code(&kind.body), kind.body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "unknown_field", Some("type"))
    );

    let set = json!({"name": "Renamed", "webhook_url": "https://h.example/x", "capabilities": ["a", "A", "b"]});
    let changed = env.send(Method::PUT, &path, Some(&key), Some(&set)).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["name"], "Renamed");
    assert_eq!(changed.body["capabilities"], json!(["a", "b"]), "duplicates dropped");
    assert_eq!(changed.body["webhook_url"], "https://h.example/x");
    let cleared = env.send(Method::PUT, &path, Some(&key), Some(&json!({"webhook_url": null}))).await;
    assert_eq!(cleared.status, 200);
    assert_eq!((cleared.body["webhook_url"].clone(), cleared.body["name"].as_str()), (Value::Null, Some("Renamed")));

    let missing = env.get("/v1/participants/6f1c2a9e-0000-4000-8000-000000000000", None).await;
    assert_eq!((missing.status, code(&missing.body)), (StatusCode::NOT_FOUND, "participant_not_found"));
    let garbage = env.get("/v1/participants/bob", None).await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
}

/// A payment the owner signed to download a product (`job_read_price`, to the same payee), presented by someone who saw
/// it in flight to rotate the owner's key: refused, since a rotation is priced apart, and the key stays the owner's.
#[tokio::test]
async fn a_payment_signed_for_a_download_does_not_rotate_the_key() {
    let (env, _dir) = crate::products::start("rotate_key_read_payment", None).await;
    let (owner_key, owner) = env.payer(DOLLAR).await;
    let registered = json(&env.register(&owner, provider_body()).await);
    let key = registered["api_key"].as_str().unwrap().to_owned();
    let fields = [("name", "Atlas"), ("description", "Every map"), ("price", "1")];
    let uploaded = crate::products::upload(&env, &key, &fields, Some(("atlas.json", b"{}"))).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    let download = format!("{}/v1/products/{}/download", env.base, uploaded.body["id"].as_str().unwrap());

    let asked = env.http.get(&download).send().await.unwrap();
    assert_eq!(asked.status(), StatusCode::PAYMENT_REQUIRED);
    let header = asked.headers().get(PAYMENT_REQUIRED).cloned();
    let required =
        PaymentRequired::from_response(header.as_ref().map(|h| h.as_bytes()), &asked.bytes().await.unwrap()).unwrap();
    let offer = Policy::at_most(U256::from(DOLLAR)).choose(&required).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let nonce = alloy::primitives::B256::from(alloy::signers::local::PrivateKeySigner::random().to_bytes());
    let read_payment = sign_payment(&owner_key, &required, &offer, now, nonce).unwrap();

    let taken = env
        .http
        .post(format!("{}/v1/participants/rotate-key", env.base))
        .header("Content-Type", "application/json")
        .header(read_payment.name, &read_payment.value)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::PAYMENT_REQUIRED, "{}", taken.text().await.unwrap());
    let path = format!("/v1/participants/{}", registered["participant_id"].as_str().unwrap());
    assert_eq!(env.get(&path, Some(&key)).await.status, StatusCode::OK, "the owner's key still works");
}
