//! Rate limits of `/v1`: per client IP on every request, per participant on authenticated ones; 429 with
//! `Retry-After` in the market's error shape.

use clearing_facilitator::http::RateLimit;
use clearing_ledger::market::ParticipantKind;
use reqwest::StatusCode;

use crate::harness::{Env, code};

#[tokio::test]
async fn a_client_ip_over_its_rate_is_told_when_to_come_back() {
    let env = Env::start_with("limits_ip", |c| c.rate_limit_per_ip = RateLimit { per_second: 1, burst: 3 }).await;
    for _ in 0..3 {
        assert_eq!(env.get("/v1/services/catalog", None).await.status, StatusCode::OK);
    }
    let limited = env.get("/v1/services/catalog", None).await;
    assert_eq!((limited.status, code(&limited.body)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let wait: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // The facilitator's routes are not the market's to limit.
    assert_eq!(env.get("/supported", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_over_its_rate_is_limited_while_others_are_not() {
    let env = Env::start_with("limits_key", |c| c.rate_limit_per_key = RateLimit { per_second: 1, burst: 2 }).await;
    let (me, key) = env.participant(ParticipantKind::Agent, "Busy").await;
    let (_, other) = env.participant(ParticipantKind::Agent, "Calm").await;
    let path = format!("/v1/participants/{}", me.id);
    for _ in 0..2 {
        assert_eq!(env.get(&path, Some(&key)).await.status, StatusCode::OK);
    }
    let limited = env.get(&path, Some(&key)).await;
    assert_eq!((limited.status, code(&limited.body)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(env.get(&path, Some(&other)).await.status, StatusCode::OK, "another key has its own budget");
    assert_eq!(env.get(&path, None).await.status, StatusCode::OK, "unauthenticated requests are the IP's");
    // A key that is no key buys no budget of its own: it is refused before any is charged.
    for _ in 0..5 {
        assert_eq!(env.get(&path, Some("clr_forged")).await.status, StatusCode::UNAUTHORIZED);
    }
}
