//! The HTTP surface: status codes, limits, `/supported`, `/metrics`, `/openapi.json`.

use alloy::signers::local::PrivateKeySigner;
use clearing_facilitator::{
    FixedClock,
    http::{HttpConfig, RateLimit},
};
use serde_json::Value;

use crate::harness::{Harness, json_of, pay};

#[tokio::test]
async fn an_unparseable_body_is_a_400_that_names_the_problem() {
    let harness = Harness::new().await;

    for (body, needle) in [("{", "EOF"), ("{\"x402Version\": 3}", "x402Version"), ("[]", "")] {
        let response = harness.post("/verify", body).await;
        assert_eq!(response.status(), 400, "{body}");
        let json = json_of(response).await;
        assert_eq!(json["error"], "invalid_request");
        assert!(json["message"].as_str().unwrap().contains(needle), "{json}");
    }
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let harness = Harness::new().await;
    let response = harness.post("/verify", vec![b' '; 65 * 1024]).await;
    assert_eq!(response.status(), 413);
    assert_eq!(json_of(response).await["error"], "body_too_large");
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let config = HttpConfig { rate_limit_per_ip: RateLimit { per_second: 1, burst: 1 }, ..HttpConfig::default() };
    let harness = Harness::with(std::sync::Arc::new(FixedClock(0)), config).await;

    assert_eq!(harness.get("/health").await.status(), 200);
    let limited = harness.get("/health").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(json_of(limited).await["error"], "rate_limited");
}

#[tokio::test]
async fn supported_lists_the_chain_and_the_signer() {
    let harness = Harness::new().await;
    let json = json_of(harness.get("/supported").await).await;

    let kinds = json["kinds"].as_array().unwrap();
    assert!(
        kinds.iter().any(|k| k["x402Version"] == 2 && k["scheme"] == "exact" && k["network"] == "eip155:31337"),
        "{json}"
    );
    assert_eq!(json["extensions"], serde_json::json!([]));
    assert_eq!(json["signers"]["eip155:*"][0], harness.chain.address(0).to_checksum(None));
}

#[tokio::test]
async fn metrics_count_verify_outcomes_and_chain_reads() {
    let harness = Harness::new().await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 1_000).await;
    harness.verify(&pay(&payer, 1_000).body()).await;
    harness.verify(&pay(&payer, 2_000).body()).await;

    let response = harness.get("/metrics").await;
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("clearing_verify_total{outcome=\"valid\"} 1"), "{text}");
    assert!(text.contains("clearing_verify_total{outcome=\"invalid_exact_evm_insufficient_balance\"} 1"), "{text}");
    assert!(text.contains("clearing_chain_reads_total 2"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let harness = Harness::new().await;
    let json: Value = json_of(harness.get("/openapi.json").await).await;
    assert_eq!(json["openapi"], "3.1.0");
    for path in ["/verify", "/supported", "/health", "/metrics", "/openapi.json"] {
        assert!(json["paths"][path].is_object(), "{path} is not described");
        let method = if path == "/verify" { "post" } else { "get" };
        let status = harness.get(path).await.status();
        assert_ne!(status, 404, "{path} is described but not served");
        assert!(json["paths"][path][method].is_object(), "{path} {method}");
    }
}
