//! Hostile text: a NUL (which PostgreSQL's text and JSONB refuse) or an out-of-range number anywhere a client writes
//! is a 400 naming its field, never a 500 after part of the request was done.

use clearing_ledger::market::ParticipantKind;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Answer, Env, code};

fn refused(answer: &Answer, field: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.body["error"]["field"], field, "{}", answer.body);
    assert!(!code(&answer.body).is_empty());
}

#[tokio::test]
async fn a_nul_or_an_impossible_number_is_a_400_naming_its_field() {
    let env = Env::start("hostile_text").await;
    let (_, agent) = env.participant(ParticipantKind::Agent, "Agent").await;
    let (_, provider) = env.participant(ParticipantKind::Provider, "Provider").await;

    let catalog = env.get("/v1/services/catalog?category=a%00b", None).await;
    assert_eq!((catalog.status, code(&catalog.body)), (StatusCode::BAD_REQUEST, "invalid_query"), "{}", catalog.body);

    let post = |path: &str, key: &str, body: Value| {
        let (env, path, key) = (&env, path.to_owned(), key.to_owned());
        async move { env.send(Method::POST, &path, Some(&key), Some(&body)).await }
    };
    refused(&post("/v1/balance/credentials", &agent, json!({"name": "a\u{0}"})).await, "name");
    refused(
        &post("/v1/balance/credentials", &agent, json!({"name": "far", "expires_at": i64::MAX})).await,
        "expires_at",
    );
    let plan = json!({"name": "p\u{0}", "interval": "monthly", "price": "1", "service_ids": [Uuid::new_v4()]});
    refused(&post("/v1/plans", &provider, plan).await, "name");
    let plan = json!({"name": "p", "description": "d\u{0}", "interval": "monthly", "price": "1",
                      "service_ids": [Uuid::new_v4()]});
    refused(&post("/v1/plans", &provider, plan).await, "description");

    let service = json!({"name": "Echo", "description": "echoes", "category": "testing", "price": "0.01",
                         "service_type": "automated_service"});
    let created = env.send(Method::POST, "/v1/services", Some(&provider), Some(&service)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let purchase = format!("/v1/services/{}/purchase", created.body["id"].as_str().unwrap());
    refused(&post(&purchase, &agent, json!({"brief": {"text": "a\u{0}"}})).await, "brief");

    let dispute = json!({"reason": "it was bad\u{0} work", "signature": "0x00", "deadline": 1});
    refused(&post(&format!("/v1/jobs/{}/dispute", Uuid::new_v4()), &agent, dispute).await, "reason");
    let blank = json!({"reason": "          ", "signature": "0x00", "deadline": 1});
    refused(&post(&format!("/v1/jobs/{}/dispute", Uuid::new_v4()), &agent, blank).await, "reason");
}
