//! Digital products end to end on anvil and PostgreSQL: a provider uploads a file (multipart), anyone finds it by
//! full-text search, an agent buys it with one x402 payment credited on chain by `Escrow.payMany`, downloads it with
//! its API key and checks the SHA-256 the headers carry against the bytes, is refused a second purchase (409, nothing
//! charged) and a download past the limit (403); a deleted product leaves the catalog and stays downloadable by its
//! buyer; an unregistered buyer downloads by a micro-payment from the buying wallet; the sale is an `escrow_credit`
//! audit record whose anchored proof verifies against the chain. And the refusals: content of no allowed type or not
//! the type its name says, another provider's edit, an agent's upload, an oversize file (413, structured).

use std::time::Duration;

use alloy::{
    primitives::{Address, B256, U256, hex},
    signers::local::PrivateKeySigner,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use clearing_audit::{AnchorPolicy, RecordKind, RecordStatus, VerifyTarget, record_proof, verify_record};
use clearing_chain::contracts::{Escrow, MockUSDC};
use clearing_client::{Payer, PaymentHeader, PaymentRequired, Policy, sign_payment};
use clearing_ledger::PaymentKey;
use clearing_ledger::market::{NewParticipant, ParticipantId, ParticipantKind, Registration};
use clearing_market::{ApiKey, WebhookSecret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use clearing_x402::PAYMENT_REQUIRED;

use crate::harness::{Answer, DOLLAR, Env, answer, code, json as paid_json};

/// The market with products stored in a directory of the test's own.
pub(crate) async fn start(name: &str, max_product_bytes: Option<usize>) -> (Env, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let products = dir.path().join("products");
    let env = Env::start_with(name, |c| {
        c.product_dir = products;
        if let Some(max) = max_product_bytes {
            c.max_product_bytes = max;
        }
    })
    .await;
    (env, dir)
}

/// A participant of `kind` registered straight in the ledger for `wallet`, with its API key.
pub(crate) async fn registered(env: &Env, kind: ParticipantKind, wallet: Address) -> String {
    let key = ApiKey::generate().unwrap();
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet,
        kind,
        name: format!("{kind}"),
        description: String::new(),
        webhook_url: None,
        capabilities: Vec::new(),
        api_key_hash: key.hash(),
        api_key_prefix: key.prefix().to_owned(),
        webhook_secret: WebhookSecret::generate().unwrap().expose().to_owned(),
        registration_nonce: PrivateKeySigner::random().to_bytes(),
    };
    let Registration::Created(_) = env.market.ledger().register_participant(&new).await.unwrap() else {
        panic!("a random wallet registered twice")
    };
    key.expose().to_owned()
}

/// A multipart form: text `fields`, then the file part `(file name, bytes)`.
fn form(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "clearing-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some((file_name, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) async fn upload(env: &Env, key: &str, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Answer {
    let (content_type, body) = form(fields, file);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/products", env.base))
        .header("X-API-Key", key)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// `GET path` with `key`, the body as bytes.
pub(crate) async fn fetch(env: &Env, path: &str, key: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response =
        reqwest::Client::new().get(format!("{}{path}", env.base)).header("X-API-Key", key).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Checks a download's bytes against its digest headers and the uploaded file's digest.
pub(crate) fn check_digest(headers: &reqwest::header::HeaderMap, body: &[u8], uploaded: &[u8]) {
    let digest = sha256(body);
    assert_eq!(digest, sha256(uploaded), "the bytes are the uploaded file's");
    assert_eq!(headers["x-content-sha256"].to_str().unwrap(), hex::encode(digest));
    assert_eq!(headers["repr-digest"].to_str().unwrap(), format!("sha-256=:{}:", STANDARD.encode(digest)));
    assert_eq!(headers["content-length"].to_str().unwrap(), body.len().to_string());
}

pub(crate) fn csv(rows: usize) -> Vec<u8> {
    let mut text = String::from("city,population\n");
    for i in 0..rows {
        text.push_str(&format!("city{i},{}\n", i * 1_000));
    }
    text.into_bytes()
}

#[tokio::test]
async fn a_product_is_uploaded_found_bought_downloaded_and_audited() {
    let (env, _dir) = start("products_flow", None).await;
    let provider_wallet = PrivateKeySigner::random().address();
    let provider = registered(&env, ParticipantKind::Provider, provider_wallet).await;
    let file = csv(20_000);
    let fields = [
        ("name", "World cities dataset"),
        ("description", "Every city with its population, as CSV."),
        ("price", "0.20"),
        ("category", "Dataset"),
        ("tags", r#"["cities", "geography"]"#),
        ("download_limit", "2"),
    ];
    let created = upload(&env, &provider, &fields, Some(("cities.csv", &file))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let product = created.body.clone();
    let id = product["id"].as_str().unwrap().to_owned();
    assert_eq!(product["file"]["content_type"], "text/csv");
    assert_eq!(product["file"]["sha256"], hex::encode(sha256(&file)));
    assert_eq!(product["file"]["size"], file.len());
    assert_eq!((product["price"].as_str(), product["agent_price"].as_str()), (Some("0.200000"), Some("0.210000")));
    assert_eq!((product["category"].as_str(), product["download_limit"].as_u64()), (Some("dataset"), Some(2)));

    let found = env.get("/v1/products?q=city+populations", None).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["total"], 1, "stemmed full-text search finds it: {}", found.body);
    assert_eq!(found.body["products"][0]["id"], id.as_str());
    assert_eq!(env.get("/v1/products?q=spreadsheet", None).await.body["total"], 0);
    assert_eq!(env.get("/v1/products?category=dataset", None).await.body["total"], 1);
    assert_eq!(env.get(&format!("/v1/products/{id}"), None).await.body["name"], "World cities dataset");

    // Bought by a registered agent, paying through x402 into the escrow.
    let (agent_key, agent) = env.payer(DOLLAR).await;
    let agent_api = registered(&env, ParticipantKind::Agent, agent_key.address()).await;
    let unpaid = env.send(Method::POST, &format!("/v1/products/{id}/purchase"), None, None).await;
    assert_eq!(unpaid.status, StatusCode::PAYMENT_REQUIRED, "{}", unpaid.body);
    // The v2 requirement (anvil's chain has no v1 network name): the escrow is paid the agent price.
    let required: Value =
        serde_json::from_slice(&STANDARD.decode(unpaid.headers["payment-required"].as_bytes()).unwrap()).unwrap();
    let offer = &required["accepts"][0];
    assert_eq!(offer["payTo"].as_str().unwrap().parse::<Address>().unwrap(), env.chain.deployment.escrow, "{offer}");
    assert_eq!(offer["amount"], "210000", "{offer}");
    let paid = env.pay(&agent, &format!("/v1/products/{id}/purchase"), &json!({}), None).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&paid.body));
    let purchase = paid_json(&paid);
    assert_eq!((purchase["status"].as_str(), purchase["price"].as_str()), (Some("paid"), Some("0.210000")));
    assert_eq!(
        (purchase["provider_net"].as_str(), purchase["platform_fee"].as_str()),
        (Some("0.200000"), Some("0.010000"))
    );
    let nonce = paid.payment.as_ref().unwrap().authorization.nonce;
    let escrow = Escrow::new(env.chain.deployment.escrow, &env.chain.provider);
    assert_eq!(escrow.claimable(env.chain.token, provider_wallet).call().await.unwrap(), U256::from(200_000u64));
    let fee_recipient = escrow.feeRecipient().call().await.unwrap();
    assert_eq!(escrow.claimable(env.chain.token, fee_recipient).call().await.unwrap(), U256::from(10_000u64));
    let balance = env.chain.balance(agent_key.address()).await;
    assert_eq!(balance, U256::from(DOLLAR - 210_000));

    // Owned: refused before payment with the key, and after verification without it; nothing is charged.
    let again = env.send(Method::POST, &format!("/v1/products/{id}/purchase"), Some(&agent_api), None).await;
    assert_eq!((again.status, code(&again.body)), (StatusCode::CONFLICT, "already_owned"), "{}", again.body);
    let again = env.pay(&agent, &format!("/v1/products/{id}/purchase"), &json!({}), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(env.chain.balance(agent_key.address()).await, balance, "a refused purchase charges nothing");

    // Downloaded with the key; the digest is checked here, from the bytes.
    let (status, headers, body) = fetch(&env, &format!("/v1/products/{id}/download"), &agent_api).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    check_digest(&headers, &body, &file);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"].to_str().unwrap().contains("filename=\"cities.csv\""));
    assert_eq!(headers["x-downloads-remaining"], "1");
    let (provider_status, _, refused) = fetch(&env, &format!("/v1/products/{id}/download"), &provider).await;
    assert_eq!(provider_status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&refused));

    // Deleted: gone from the catalog and from purchase, still the buyer's.
    let deleted = env.send(Method::DELETE, &format!("/v1/products/{id}"), Some(&provider), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(env.get("/v1/products?q=cities", None).await.body["total"], 0);
    assert_eq!(env.get(&format!("/v1/products/{id}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(env.get(&format!("/v1/products/{id}"), Some(&agent_api)).await.body["deleted"], true);
    let gone = env.send(Method::POST, &format!("/v1/products/{id}/purchase"), None, None).await;
    assert_eq!((gone.status, code(&gone.body)), (StatusCode::NOT_FOUND, "product_not_found"));
    // The last download, asked for four times at once: exactly one gets it, the others are past the limit.
    let path = format!("/v1/products/{id}/download");
    let (a, b, c, d) = tokio::join!(
        fetch(&env, &path, &agent_api),
        fetch(&env, &path, &agent_api),
        fetch(&env, &path, &agent_api),
        fetch(&env, &path, &agent_api)
    );
    let mut served = 0;
    for (status, headers, body) in [a, b, c, d] {
        if status == StatusCode::OK {
            check_digest(&headers, &body, &file);
            served += 1;
        } else {
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "download_limit_reached"), "{body}");
        }
    }
    assert_eq!(served, 1, "one download was left");
    let mine = env.get("/v1/purchases", Some(&agent_api)).await;
    assert_eq!(mine.body["purchases"][0]["downloads"], 2, "{}", mine.body);
    assert_eq!(mine.body["purchases"][0]["downloads_remaining"], 0);

    // The sale is an escrow_credit record, anchored, and its proof verifies against the chain.
    env.chain.index(env.market.ledger(), 0).await;
    let earnings = env.get("/v1/provider/earnings", Some(&provider)).await;
    assert_eq!(earnings.body["pending"], "0.200000", "the sale is the provider's claimable income: {}", earnings.body);
    env.chain.sequencer(env.market.ledger()).run_once().await.unwrap();
    let policy = AnchorPolicy { every_records: 1, every: Duration::from_secs(60), max_records: 100 };
    env.chain.anchorer(env.market.ledger(), policy).run_once().await.unwrap().expect("anchored");
    let records = env.market.ledger().audit_records(env.chain.chain_id, 0, 1_000).await.unwrap();
    let stored = records.iter().find(|r| r.reference == nonce).expect("a record of the sale");
    let RecordStatus::Anchored(proof) =
        record_proof(env.market.ledger(), env.chain.chain_id, stored.seq).await.unwrap()
    else {
        panic!("the sale's record is not anchored")
    };
    assert_eq!(proof.record.kind, RecordKind::EscrowCredit);
    assert_eq!((proof.record.payer, proof.record.payee), (agent_key.address(), provider_wallet));
    assert_eq!((proof.record.payee_amount, proof.record.fee_amount), (U256::from(200_000u64), U256::from(10_000u64)));
    verify_record(&env.chain.provider, &proof, &VerifyTarget::deployment(&env.chain.deployment, env.chain.token))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unregistered_buyer_downloads_by_paying_from_the_buying_wallet() {
    let (env, _dir) = start("products_x402_download", None).await;
    let provider = registered(&env, ParticipantKind::Provider, PrivateKeySigner::random().address()).await;
    let file = br#"{"rates": {"EUR": 0.92, "GBP": 0.79}}"#.to_vec();
    let fields = [("name", "FX rates"), ("description", "Rates as JSON"), ("price", "0.05")];
    let created = upload(&env, &provider, &fields, Some(("rates.json", &file))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["file"]["content_type"], "application/json");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (_, buyer) = env.payer(DOLLAR).await;
    let (_, stranger) = env.payer(DOLLAR).await;
    let paid = env.pay(&buyer, &format!("/v1/products/{id}/purchase"), &json!({}), None).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&paid.body));

    let download = |payer: Payer| {
        let url = format!("{}/v1/products/{id}/download", env.base).parse().unwrap();
        async move { payer.pay(Method::GET, url, Payer::headers(std::iter::empty()).unwrap(), None).await.unwrap() }
    };
    let got = download(buyer.clone()).await;
    assert_eq!(got.status, StatusCode::OK, "{}", String::from_utf8_lossy(&got.body));
    assert!(got.payment.is_some(), "paid with a micro-payment");
    assert_eq!(sha256(&got.body), sha256(&file));
    assert_eq!(got.headers["x-content-sha256"].to_str().unwrap(), hex::encode(sha256(&file)));
    let refused = download(stranger).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "another wallet is refused before it is charged");
    assert_eq!(code(&serde_json::from_slice(&refused.body).unwrap()), "not_purchased");
}

/// Two payments for the last allowed download at once: one gets the file, the other is refused and not charged (the
/// download is counted before the payment is settled, and given back if it is not).
#[tokio::test]
async fn two_paid_downloads_racing_for_the_last_one_charge_only_the_one_served() {
    let (env, _dir) = start("products_download_race", None).await;
    let provider = registered(&env, ParticipantKind::Provider, PrivateKeySigner::random().address()).await;
    let fields = [("name", "FX rates"), ("description", "Rates as JSON"), ("price", "0.05"), ("download_limit", "1")];
    let created = upload(&env, &provider, &fields, Some(("rates.json", b"{\"EUR\": 0.92}"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (buyer_key, buyer) = env.payer(DOLLAR).await;
    let paid = env.pay(&buyer, &format!("/v1/products/{id}/purchase"), &json!({}), None).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&paid.body));
    let usdc = MockUSDC::new(env.chain.token, &env.chain.provider);
    let before = usdc.balanceOf(buyer_key.address()).call().await.unwrap();

    let download = |payer: Payer| {
        let url = format!("{}/v1/products/{id}/download", env.base).parse().unwrap();
        async move { payer.pay(Method::GET, url, Payer::headers(std::iter::empty()).unwrap(), None).await.unwrap() }
    };
    let (first, second) = tokio::join!(download(buyer.clone()), download(buyer.clone()));
    let (served, refused) = if first.status == StatusCode::OK { (first, second) } else { (second, first) };
    assert_eq!(served.status, StatusCode::OK, "{}", String::from_utf8_lossy(&served.body));
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&refused.body));
    assert_eq!(code(&serde_json::from_slice(&refused.body).unwrap()), "download_limit_reached");
    assert!(refused.payment.as_ref().is_none_or(|p| p.settlement.is_none()), "the refused download was not settled");
    let charged = served.payment.as_ref().expect("the served download was paid").authorization.value;
    let after = usdc.balanceOf(buyer_key.address()).call().await.unwrap();
    assert_eq!(before - after, charged, "one download paid for, not two");
}

#[tokio::test]
async fn uploads_are_checked_by_content_size_and_owner() {
    let (env, _dir) = start("products_refusals", Some(64 * 1024)).await;
    let provider = registered(&env, ParticipantKind::Provider, PrivateKeySigner::random().address()).await;
    let other = registered(&env, ParticipantKind::Provider, PrivateKeySigner::random().address()).await;
    let agent = registered(&env, ParticipantKind::Agent, PrivateKeySigner::random().address()).await;
    let fields = [("name", "Manual"), ("description", "The manual"), ("price", "1")];

    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0";
    let refused = upload(&env, &provider, &fields, Some(("manual.pdf", elf))).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "unsupported_file_type"));
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("application/x-elf"), "{}", refused.body);
    let html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>";
    let refused = upload(&env, &provider, &fields, Some(("manual.pdf", html))).await;
    assert_eq!(code(&refused.body), "unsupported_file_type");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("text/html"), "{}", refused.body);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let refused = upload(&env, &provider, &fields, Some(("manual.pdf", png))).await;
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("image/png"), "{}", refused.body);
    let missing = upload(&env, &provider, &fields, None).await;
    assert_eq!((code(&missing.body), missing.body["error"]["field"].as_str()), ("missing_field", Some("file")));
    let by_agent = upload(&env, &agent, &fields, Some(("manual.pdf", b"%PDF-1.7\n"))).await;
    assert_eq!((by_agent.status, code(&by_agent.body)), (StatusCode::FORBIDDEN, "providers_only"));
    let json = env.send(Method::POST, "/v1/products", Some(&provider), Some(&json!({"name": "x"}))).await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", json.body);

    // Over max_product_bytes: a 413 in the error shape, whichever limit the form meets first.
    let big = vec![b'a'; 200 * 1024];
    let too_big = upload(&env, &provider, &fields, Some(("big.txt", &big))).await;
    assert_eq!((too_big.status, code(&too_big.body)), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
    assert!(too_big.body["error"]["message"].as_str().unwrap().contains("65536"), "{}", too_big.body);
    // Other routes keep the small body limit.
    let large_json = json!({"name": "x".repeat(70 * 1024)});
    let capped = env.send(Method::POST, "/v1/services", Some(&provider), Some(&large_json)).await;
    assert_eq!(capped.status, StatusCode::PAYLOAD_TOO_LARGE);

    let created = upload(&env, &provider, &fields, Some(("manual.pdf", b"%PDF-1.7\nbody\n%%EOF\n"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let path = format!("/v1/products/{id}");
    let stolen = env.send(Method::PATCH, &path, Some(&other), Some(&json!({"price": "0.01"}))).await;
    assert_eq!((stolen.status, code(&stolen.body)), (StatusCode::FORBIDDEN, "not_owner"));
    let deleted = env.send(Method::DELETE, &path, Some(&other), None).await;
    assert_eq!(code(&deleted.body), "not_owner");
    let edited = env
        .send(
            Method::PATCH,
            &path,
            Some(&provider),
            Some(&json!({"price": "2", "download_limit": 3, "tags": ["docs"]})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!((edited.body["price"].as_str(), edited.body["download_limit"].as_u64()), (Some("2.000000"), Some(3)));
    assert_eq!(edited.body["file"], created.body["file"], "the file never changes");
    let file_edit = env.send(Method::PATCH, &path, Some(&provider), Some(&json!({"file": "x"}))).await;
    assert_eq!(code(&file_edit.body), "unknown_field");

    // The same bytes uploaded twice are stored once.
    let again = upload(&env, &other, &fields, Some(("copy.pdf", b"%PDF-1.7\nbody\n%%EOF\n"))).await;
    assert_eq!(again.body["file"]["sha256"], created.body["file"]["sha256"]);
}

/// The 402 `path` answers to `body`, paid by `signer` under `nonce` (a client may choose any nonce).
pub(crate) async fn signed_under(
    env: &Env,
    signer: &PrivateKeySigner,
    path: &str,
    body: &Value,
    nonce: B256,
) -> PaymentHeader {
    let asked = env
        .http
        .post(format!("{}{path}", env.base))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::PAYMENT_REQUIRED, "{path}");
    let header = asked.headers().get(PAYMENT_REQUIRED).cloned();
    let bytes = asked.bytes().await.unwrap();
    let required = PaymentRequired::from_response(header.as_ref().map(|h| h.as_bytes()), &bytes).unwrap();
    let offer = Policy::at_most(U256::from(10 * DOLLAR)).choose(&required).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    sign_payment(signer, &required, &offer, now, nonce).unwrap()
}

pub(crate) async fn send_paid(env: &Env, path: &str, body: &Value, paid: &PaymentHeader) -> Answer {
    let request = env
        .http
        .post(format!("{}{path}", env.base))
        .header("Content-Type", "application/json")
        .header(paid.name, &paid.value)
        .body(body.to_string());
    answer(request.send().await.unwrap()).await
}

/// A buyer signs two payments under one nonce: a registration (to the market) and a product purchase (its price to
/// the escrow). Only one can settle; when the registration's does, the product stays unpaid and unowned.
#[tokio::test]
async fn a_payment_sharing_another_payments_nonce_does_not_buy_the_product() {
    let (env, _dir) = start("products_shared_nonce", None).await;
    let provider = registered(&env, ParticipantKind::Provider, PrivateKeySigner::random().address()).await;
    let fields = [("name", "Atlas"), ("description", "Every map"), ("price", "5.00")];
    let created = upload(&env, &provider, &fields, Some(("atlas.json", b"{\"maps\": []}"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (buyer, _) = env.payer(10 * DOLLAR).await;
    let nonce = B256::from(PrivateKeySigner::random().to_bytes());
    let registration = json!({"type": "agent", "name": "Buyer"});
    let purchase_path = format!("/v1/products/{id}/purchase");
    let register = signed_under(&env, &buyer, "/v1/register", &registration, nonce).await;
    let purchase = signed_under(&env, &buyer, &purchase_path, &json!({}), nonce).await;

    // The registration's payment is queued first; the purchase arrives while it is on its way.
    let registering = {
        let (env, registration) = (&env, registration.clone());
        async move { send_paid(env, "/v1/register", &registration, &register).await }
    };
    let buying = async {
        let key = PaymentKey { chain_id: env.chain.chain_id, asset: env.chain.token, payer: buyer.address(), nonce };
        while env.market.ledger().settlement(&key).await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        send_paid(&env, &purchase_path, &json!({}), &purchase).await
    };
    let (registered, bought) = tokio::join!(registering, buying);
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    assert_eq!(bought.status, StatusCode::PAYMENT_REQUIRED, "{}", bought.body);

    let api_key = registered.body["api_key"].as_str().unwrap().to_owned();
    let (status, _, body) = fetch(&env, &format!("/v1/products/{id}/download"), &api_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&body));
    let purchases = env.get("/v1/purchases", Some(&api_key)).await;
    assert!(
        purchases.body["purchases"].as_array().unwrap().iter().all(|p| p["status"] != "paid"),
        "{}",
        purchases.body
    );
    let usdc = MockUSDC::new(env.chain.token, &env.chain.provider);
    assert_eq!(
        usdc.balanceOf(buyer.address()).call().await.unwrap(),
        U256::from(10 * DOLLAR - 10_000),
        "only the registration was paid"
    );
}
