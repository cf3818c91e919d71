//! Deliveries verify with code that is not ours: the Standard Webhooks reference library for `webhook-signature`,
//! and an HMAC computed here for the402's `X-Webhook-Signature`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clearing_testkit::TestDatabase;
use clearing_webhooks::Dispatcher;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use standardwebhooks::Webhook;

use crate::support::{Receiver, config, enqueue, participant};

/// Every header a delivery may carry: nothing else (no API key, no platform secret, no cookie).
const ALLOWED_HEADERS: [&str; 10] = [
    "host",
    "accept",
    "content-type",
    "content-length",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-webhook-timestamp",
    "x-webhook-signature",
];

#[tokio::test]
async fn both_signatures_verify_with_independent_code() {
    let db = TestDatabase::create("webhooks_signatures").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    let (participant, secret) = participant(&ledger, &receiver.url("/hooks")).await;
    let id = enqueue(&ledger, participant, Some("job-1"), 7).await;
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    let request = receiver.wait_for(1, Duration::from_secs(10)).await.remove(0);
    dispatcher.shutdown().await;

    assert_eq!(request.id(), id.to_string());
    assert_eq!(request.header("content-type"), "application/json");
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, serde_json::json!({ "type": "job.updated", "job_id": "job-1", "n": 7 }));
    for name in request.headers.keys() {
        assert!(ALLOWED_HEADERS.contains(&name.as_str()), "unexpected header {name}");
    }

    // Standard Webhooks, verified by the spec's reference library (which also checks the timestamp is recent).
    let reference = Webhook::new(secret.expose()).unwrap();
    reference.verify(&request.body, &request.headers).expect("the reference library rejected our signature");
    let mut tampered = request.body.to_vec();
    tampered[1] ^= 1;
    assert!(reference.verify(&tampered, &request.headers).is_err(), "a changed body still verified");
    let other = Webhook::new(clearing_webhooks::generate_secret().expose()).unwrap();
    assert!(other.verify(&request.body, &request.headers).is_err(), "another secret verified");

    // the402: sha256=<hex HMAC-SHA256(the whole secret string, "{timestamp}.{body}")>.
    let timestamp = request.header("x-webhook-timestamp");
    assert_eq!(timestamp, request.header("webhook-timestamp"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(timestamp.parse().unwrap()) < 60);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(request.header("x-webhook-signature"), format!("sha256={expected}"));
}
